/*
 * Regression test for the fuzz targets, without libFuzzer: runs the very
 * entry points in fuzz/ (included here under other names) over inputs this
 * test makes itself — truncations and single-byte corruptions of a real
 * head model, of the front-end and encoder models, of WAV/FLAC files and
 * of .npy files — so the normal suite walks the parsers' error paths on
 * every build. Run it under valgrind or -Db_sanitize=address,undefined to
 * catch what a plain build would not notice; the entry points themselves
 * abort() on a broken invariant (e.g. the block reader disagreeing with
 * es_audio_load, or a .npy that does not survive a round trip).
 *
 * Skips (exit 77) when the pretrained models are absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "earshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The three fuzz entry points, renamed so they can share one program. */
#define LLVMFuzzerInitialize fuzz_onnx_init
#define LLVMFuzzerTestOneInput fuzz_onnx_one
#include "../fuzz/fuzz_onnx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_audio_one
#include "../fuzz/fuzz_audio.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_npy_one
#include "../fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "../fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_manifest_one
#include "../fuzz/fuzz_manifest.c"
#undef LLVMFuzzerTestOneInput
#include "../fuzz/onnx_gen.h"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    assert_non_null(b);
    size_t r;
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
    }
    fclose(f);
    *len = n;
    return b;
}

static unsigned char *model_bytes(const char *name, size_t *len)
{
    char path[4200];
    if (es_models_path(NULL, name, path, sizeof path, NULL) != ES_OK) return NULL;
    return slurp(path, len);
}

typedef int (*entry_fn)(const uint8_t *, size_t);

/* Every prefix up to `fine` bytes, then `coarse` evenly spaced ones. Each
 * prefix is copied to its own allocation so reading past its end is a
 * real overrun for valgrind or ASan. */
static size_t run_truncations(entry_fn fn, const unsigned char *b, size_t len, size_t fine, size_t coarse)
{
    size_t runs = 0;
    for (size_t n = 0; n <= len; n++) {
        if (n > fine) {
            size_t step = (len - fine) / coarse + 1;
            if ((n - fine) % step && n != len) continue;
        }
        unsigned char *c = malloc(n ? n : 1);
        assert_non_null(c);
        memcpy(c, b, n);
        fn(c, n);
        free(c);
        runs++;
    }
    return runs;
}

/* Every byte in [from, to), replaced in turn by the first `nv` of: its
 * low bit flipped (lengths and varints off by one), its high bit flipped
 * (varint continuation), 0x00 and 0xff. */
static size_t run_corruptions(entry_fn fn, const unsigned char *b, size_t len, size_t from, size_t to, int nv)
{
    unsigned char *c = malloc(len);
    assert_non_null(c);
    memcpy(c, b, len);
    size_t runs = 0;
    if (to > len) to = len;
    for (size_t i = from; i < to; i++) {
        const unsigned char v[4] = {(unsigned char)(b[i] ^ 0x01), (unsigned char)(b[i] ^ 0x80), 0x00, 0xff};
        for (int k = 0; k < nv && k < 4; k++) {
            if (v[k] == b[i] || (k >= 2 && (v[k] == v[0] || v[k] == v[1]))) continue;
            c[i] = v[k];
            fn(c, len);
            runs++;
        }
        c[i] = b[i];
    }
    free(c);
    return runs;
}

/* ---------------------------------------------------------------- onnx */

static void test_onnx_head(void **state)
{
    (void)state;
    /* The smallest pretrained head keeps this fast; alexa if it is absent. */
    const char *name = "hey_rhasspy";
    size_t len;
    unsigned char *b = model_bytes(name, &len);
    if (!b) b = model_bytes(name = "alexa", &len);
    assert_non_null(b);
    /* The intact model parses, builds a head and runs. */
    fuzz_onnx_one(b, len);
    size_t t = run_truncations(fuzz_onnx_one, b, len, 2048, 512);
    /* The first bytes hold the header and the first nodes, the last ones
     * the declared input and output shapes. */
    size_t c = run_corruptions(fuzz_onnx_one, b, len, 0, 512, 4);
    c += run_corruptions(fuzz_onnx_one, b, len, len > 512 ? len - 512 : 0, len, 4);
    print_message("    %s head (%zu bytes): %zu truncations, %zu corruptions\n", name, len, t, c);
    free(b);
}

static void test_onnx_frontend_encoder(void **state)
{
    (void)state;
    static const char *names[] = {"melspectrogram", "embedding_model", "hey_jarvis", "timer"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t len;
        unsigned char *b = model_bytes(names[i], &len);
        if (!b) {
            print_message("    %s: not found; skipped\n", names[i]);
            continue;
        }
        fuzz_onnx_one(b, len);
        /* Fewer cases: each run of a big model costs milliseconds. */
        size_t t = run_truncations(fuzz_onnx_one, b, len, 48, 24);
        size_t c = run_corruptions(fuzz_onnx_one, b, len, 0, 48, 1);
        c += run_corruptions(fuzz_onnx_one, b, len, len > 48 ? len - 48 : 0, len, 1);
        print_message("    %s (%zu bytes): %zu truncations, %zu corruptions\n", names[i], len, t, c);
        free(b);
    }
}

/* Small generated heads (fuzz/onnx_gen.h): the valid ones build and run,
 * every hostile one is refused with a message naming the model; then every
 * truncation and byte corruption of the valid ones. */
static void test_onnx_generated(void **state)
{
    (void)state;
    size_t t = 0, c = 0;
    for (int i = 0; i < GEN_CASES; i++) {
        size_t len;
        unsigned char *b = gen_case(i, &len);
        fuzz_onnx_one(b, len);
        es_error err = {0};
        es_onnx *m = es_onnx_parse(b, len, gen_case_name[i], &err);
        if (!m) fail_msg("%s: %s", gen_case_name[i], err.msg);
        es_head *h = es_head_create(m, NULL, &err);
        if (i < GEN_HEAD_VALID_COUNT) {
            if (!h) fail_msg("%s: refused: %s", gen_case_name[i], err.msg);
            float emb[2 * ES_EMB_DIM] = {0}, scores[3];
            assert_true(es_head_window(h) <= 2 && es_head_classes(h) <= 3);
            assert_int_equal(es_head_run(h, emb, scores, &err), ES_OK);
            for (size_t k = 0; k < es_head_classes(h); k++) assert_true(scores[k] >= 0.0f && scores[k] <= 1.0f);
            t += run_truncations(fuzz_onnx_one, b, len, len, 1);
            c += run_corruptions(fuzz_onnx_one, b, len, 0, len, 4);
        } else {
            if (h) fail_msg("%s: hostile head accepted", gen_case_name[i]);
            if (!strstr(err.msg, gen_case_name[i])) fail_msg("message does not name the model: %s", err.msg);
            print_message("    %s\n", err.msg);
        }
        es_head_free(h);
        es_onnx_free(m);
        free(b);
    }
    print_message("    generated heads: %zu truncations, %zu corruptions\n", t, c);
}

static unsigned char *find_bytes(unsigned char *b, size_t len, const void *pat, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(b + i, pat, n)) return b + i;
    return NULL;
}

/* One-byte edits of the pretrained front end and encoder that once crashed
 * (found by reading the builders while fuzzing): the builders must refuse
 * them. Located by content, so they survive re-exported models. */
static void test_onnx_known_bad(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = model_bytes("melspectrogram", &len);
    if (b) {
        /* data_type 1 (float) -> 6 (int32) and 8 (string) on the real DFT
         * kernel: es_mel_create read the window from a NULL float array. */
        static const char pat[] = "\x10\x01\x42\x17" "0.stft.conv_real.weight";
        unsigned char *p = find_bytes(b, len, pat, sizeof pat - 1);
        assert_non_null(p);
        static const unsigned char types[] = {6, 8};
        for (int k = 0; k < 2; k++) {
            p[1] = types[k];
            fuzz_onnx_one(b, len);
            es_error err = {0};
            es_onnx *m = es_onnx_parse(b, len, "mel-edit", &err);
            assert_non_null(m);
            assert_null(es_mel_create(m, &err));
            assert_non_null(strstr(err.msg, "mel-edit"));
            print_message("    %s\n", err.msg);
            es_onnx_free(m);
        }
        free(b);
    }
    b = model_bytes("embedding_model", &len);
    if (b) {
        /* The first Reshape's output field renamed to its name field: the
         * encoder builder followed a NULL output name. */
        static const char pat[] = "\x12\x18" "model/conv2d/Conv2D__6:0";
        unsigned char *p = find_bytes(b, len, pat, sizeof pat - 1);
        assert_non_null(p);
        p[0] = 0x1a;
        fuzz_onnx_one(b, len);
        es_error err = {0};
        es_onnx *m = es_onnx_parse(b, len, "encoder-edit", &err);
        assert_non_null(m);
        assert_null(es_encoder_create(m, &err));
        assert_non_null(strstr(err.msg, "encoder-edit"));
        print_message("    %s\n", err.msg);
        es_onnx_free(m);
        free(b);
    }
}

/* --------------------------------------------------------------- audio */

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, unsigned long v)
{
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k));
}

/* A canonical 44-byte-header PCM WAV of `frames` frames. */
static unsigned char *make_wav(unsigned rate, unsigned ch, unsigned bits, size_t frames, size_t *len)
{
    size_t bpf = ch * (bits / 8), data = frames * bpf;
    unsigned char *w = malloc(44 + data);
    assert_non_null(w);
    memcpy(w, "RIFF", 4);
    put32(w + 4, 36 + data);
    memcpy(w + 8, "WAVEfmt ", 8);
    put32(w + 16, 16);
    put16(w + 20, 1);
    put16(w + 22, ch);
    put32(w + 24, rate);
    put32(w + 28, rate * bpf);
    put16(w + 32, (unsigned)bpf);
    put16(w + 34, bits);
    memcpy(w + 36, "data", 4);
    put32(w + 40, data);
    uint32_t s = 99;
    for (size_t i = 0; i < data; i++) {
        s = s * 1664525u + 1013904223u;
        w[44 + i] = (unsigned char)(s >> 24);
    }
    *len = 44 + data;
    return w;
}

static void test_audio_inputs(void **state)
{
    (void)state;
    size_t len, t = 0, c = 0;
    /* 16 kHz mono: every truncation, every header byte corrupted. */
    unsigned char *w = make_wav(16000, 1, 16, 300, &len);
    fuzz_audio_one(w, len);
    t += run_truncations(fuzz_audio_one, w, len, len, 1);
    c += run_corruptions(fuzz_audio_one, w, len, 0, 44, 4);
    free(w);
    /* 44.1 kHz stereo 24-bit goes through the resampler. */
    w = make_wav(44100, 2, 24, 2000, &len);
    t += run_truncations(fuzz_audio_one, w, len, 160, 24);
    c += run_corruptions(fuzz_audio_one, w, len, 0, 44, 2);
    free(w);
    /* The start of the bundled FLAC (44.1 kHz stereo), when the source tree
     * is known: STREAMINFO and the first frames; short, so each run is fast. */
    const char *src = getenv("EARSHOT_SRC");
    char p[4200];
    snprintf(p, sizeof p, "%s/samples/hey_jarvis_stereo_44k.flac", src && *src ? src : ".");
    unsigned char *fl = slurp(p, &len);
    if (fl) {
        if (len > 4096) len = 4096;
        t += run_truncations(fuzz_audio_one, fl, len, 96, 16);
        c += run_corruptions(fuzz_audio_one, fl, len, 0, 42, 2);
        free(fl);
    } else {
        print_message("    %s not found (set EARSHOT_SRC); FLAC cases skipped\n", p);
    }
    /* Raw PCM: every format/channel/rate byte over a short odd-length tail. */
    unsigned char raw[98];
    for (size_t i = 1; i < sizeof raw; i++) raw[i] = (unsigned char)(i * 37);
    for (int k = 0; k < 256; k++) {
        raw[0] = (unsigned char)k;
        fuzz_audio_one(raw, sizeof raw);
        fuzz_audio_one(raw, 1 + (size_t)(k % 13));
    }
    print_message("    audio: %zu truncations, %zu corruptions, 512 raw streams\n", t, c);
}

/* ----------------------------------------------------------------- npy */

static void test_npy_inputs(void **state)
{
    (void)state;
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i * 0.5f - 2.0f;
    const size_t shape[2] = {3, 4};
    const char *d = getenv("TMPDIR");
    char p[4200];
    snprintf(p, sizeof p, "%s/es_fuzz_regress_%ld.npy", d && *d ? d : "/tmp", (long)getpid());
    es_error err = {0};
    assert_int_equal(es_npy_write(p, x, shape, 2, &err), ES_OK);
    size_t len;
    unsigned char *b = slurp(p, &len);
    unlink(p);
    assert_non_null(b);
    fuzz_npy_one(b, len);
    size_t t = run_truncations(fuzz_npy_one, b, len, len, 1);
    size_t c = run_corruptions(fuzz_npy_one, b, len, 0, len, 4);
    print_message("    npy (%zu bytes): %zu truncations, %zu corruptions\n", len, t, c);
    free(b);
}

/* --------------------------------------------------------- safetensors */

static void test_safetensors_inputs(void **state)
{
    (void)state;
    /* A small model file: metadata, a 2-d, a 0-d and a zero-size tensor. */
    float w[6], b = 0.25f;
    for (int i = 0; i < 6; i++) w[i] = (float)i * 0.5f - 1.0f;
    const es_st_tensor t[] = {{"head.weight", 2, {2, 3}, w}, {"head.bias", 0, {0}, &b}, {"none", 1, {0}, NULL}};
    const char *keys[] = {"labels", "window"}, *vals[] = {"[\"on\",\"off\"]", "16"};
    const char *d = getenv("TMPDIR");
    char p[4200];
    snprintf(p, sizeof p, "%s/es_fuzz_regress_%ld.safetensors", d && *d ? d : "/tmp", (long)getpid());
    es_error err = {0};
    assert_int_equal(es_st_write(p, t, 3, keys, vals, 2, &err), ES_OK);
    size_t len;
    unsigned char *bytes = slurp(p, &len);
    unlink(p);
    assert_non_null(bytes);
    fuzz_safetensors_one(bytes, len);
    size_t tr = run_truncations(fuzz_safetensors_one, bytes, len, len, 1);
    size_t c = run_corruptions(fuzz_safetensors_one, bytes, len, 0, len, 4);
    print_message("    safetensors (%zu bytes): %zu truncations, %zu corruptions\n", len, tr, c);
    free(bytes);
}

/* --------------------------------------------------------- manifest */

static void test_manifest_inputs(void **state)
{
    (void)state;
    static const char m[] = "# list\r\n\r\n  a.wav  \r\n\tsub/b.flac\n#x\n@other.txt\nbad\0nul\nlast";
    const unsigned char *b = (const unsigned char *)m;
    size_t len = sizeof m - 1;
    fuzz_manifest_one(b, len);
    size_t t = run_truncations(fuzz_manifest_one, b, len, len, 1);
    size_t c = run_corruptions(fuzz_manifest_one, b, len, 0, len, 4);
    /* 1000 lines: the callback stops the parse there */
    char *big = malloc(3 * 1200);
    assert_non_null(big);
    for (int i = 0; i < 1200; i++) memcpy(big + 3 * i, "x \n", 3);
    fuzz_manifest_one((const unsigned char *)big, 3 * 1200);
    free(big);
    print_message("    manifest (%zu bytes): %zu truncations, %zu corruptions\n", len, t, c);
}

int main(void)
{
    char path[4200];
    es_error e = {0};
    if (es_models_path(NULL, "alexa", path, sizeof path, &e) != ES_OK) {
        printf("SKIP: pretrained models not found (run scripts/fetch-models.sh or set EARSHOT_MODELS): %s\n", e.msg);
        return 77;
    }
    int argc = 0;
    char **argv = NULL;
    fuzz_onnx_init(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onnx_head),
        cmocka_unit_test(test_onnx_frontend_encoder),
        cmocka_unit_test(test_onnx_generated),
        cmocka_unit_test(test_onnx_known_bad),
        cmocka_unit_test(test_audio_inputs),
        cmocka_unit_test(test_npy_inputs),
        cmocka_unit_test(test_safetensors_inputs),
        cmocka_unit_test(test_manifest_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
