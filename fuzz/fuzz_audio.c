/*
 * fuzz/fuzz_audio.c — libFuzzer target for audio input: the bytes as a file
 * through es_audio_load (libsndfile picks the format from the content), the
 * same file through es_reader in small blocks, which must give exactly the
 * same samples (a differential check, not just "no crash"), and the bytes
 * after the first as raw PCM through es_audio_load_raw, with the first
 * byte choosing format, channels and rate, and all the bytes as a stream
 * through es_audio_load_stream (stdin's reader: a WAV header parsed from
 * a pipe, or raw PCM, which must then give es_audio_load_raw's samples).
 *
 * es_audio_load takes a path, so the bytes go to a temp file (one per
 * process, rewritten each run, removed at exit): exercising the real entry
 * point, descriptor handling included, matters more than speed here.
 *
 * Build and run with scripts/fuzz.sh audio SECONDS.
 */
#include "earshot.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char audio_path[4096];

static void audio_cleanup(void)
{
    if (audio_path[0]) unlink(audio_path);
}

static int audio_write(const uint8_t *data, size_t size)
{
    if (!audio_path[0]) {
        const char *d = getenv("TMPDIR");
        snprintf(audio_path, sizeof audio_path, "%s/es_fuzz_audio_XXXXXX", d && *d ? d : "/tmp");
        int fd = mkstemp(audio_path);
        if (fd < 0) {
            audio_path[0] = 0;
            return -1;
        }
        close(fd);
        atexit(audio_cleanup);
    }
    FILE *f = fopen(audio_path, "wb");
    if (!f) return -1;
    int ok = size == 0 || fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

/* The reader, in blocks of `block` samples, must reproduce `ref` exactly. */
static void audio_check_reader(const es_audio *ref, const es_load_opts *o, size_t block)
{
    es_error err = {0};
    es_reader *r = es_reader_open(audio_path, o, &err);
    if (!r) abort();   /* es_audio_load opened the same file */
    float *buf = malloc(block * sizeof(float));
    if (!buf) abort();
    size_t pos = 0, got;
    for (;;) {
        if (es_reader_read(r, buf, block, &got, &err) != ES_OK) abort();
        if (!got) break;
        if (got > block || pos + got > ref->n || memcmp(buf, ref->samples + pos, got * sizeof(float))) abort();
        pos += got;
    }
    if (pos != ref->n || es_reader_rate(r) != ref->src_rate || es_reader_channels(r) != ref->src_channels) abort();
    free(buf);
    es_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    es_load_opts o = {.quantize_int16 = size > 0 && (data[size - 1] & 1)};
    es_error err = {0};
    if (audio_write(data, size) == 0) {
        es_audio a;
        if (es_audio_load(audio_path, &o, &a, &err) == ES_OK) {
            if (!a.samples || !a.n) abort();
            audio_check_reader(&a, &o, 1 + (size_t)(size > 1 ? data[1] : 0) * 37);
        } else if (a.samples || a.n || !strstr(err.msg, audio_path)) {
            abort();   /* a failure leaves nothing behind and names the file */
        }
        es_audio_free(&a);
    }

    /* Raw PCM: byte 0 = format (3 bits), channels - 1 (2 bits), rate (3 bits). */
    if (size < 2) return 0;
    static const int rates[8] = {16000, 8000, 11025, 22050, 44100, 48000, 96000, 384000};
    static const es_pcm_format fmts[8] = {ES_PCM_S16, ES_PCM_S8, ES_PCM_U8, ES_PCM_S24,
                                          ES_PCM_S32, ES_PCM_F32, ES_PCM_F64, ES_PCM_S16};
    es_pcm_format fmt = fmts[data[0] & 7];
    int ch = 1 + ((data[0] >> 3) & 3);
    int rate = rates[data[0] >> 5];
    /* The raw path is simple; long inputs would only spend time resampling. */
    size_t n = size - 1 < 32768 ? size - 1 : 32768;
    FILE *f = fmemopen((void *)(data + 1), n, "rb");
    if (!f) return 0;
    es_audio a;
    if (es_audio_load_raw(f, "fuzz-raw", rate, ch, fmt, &o, &a, &err) == ES_OK) {
        if (!a.samples || !a.n) abort();
    } else if (a.samples || a.n || !strstr(err.msg, "fuzz-raw")) {
        abort();
    }
    fclose(f);

    /* The same bytes with byte 0 as a stream: a WAV header, another
     * container (refused), or raw PCM that must be exactly the raw path's. */
    n = size < 65536 ? size : 65536;
    if (!(f = fmemopen((void *)data, n, "rb"))) { es_audio_free(&a); return 0; }
    es_audio s;
    int was_wav = -1;
    es_reader *r = es_reader_open_stream(f, "fuzz-stream", rate, ch, fmt, &o, &was_wav, &err);
    es_reader_close(r);
    if (!r && (was_wav != 0 || !strstr(err.msg, "fuzz-stream"))) abort();
    rewind(f);
    if (es_audio_load_stream(f, "fuzz-stream", rate, ch, fmt, &o, &s, &err) == ES_OK) {
        if (!s.samples || !s.n || !r) abort();
        if (!was_wav) {
            /* raw: compare with the raw path over the same n bytes */
            es_audio_free(&a);
            FILE *g = fmemopen((void *)data, n, "rb");
            if (!g) abort();
            if (es_audio_load_raw(g, "fuzz-raw", rate, ch, fmt, &o, &a, &err) != ES_OK) abort();
            fclose(g);
            if (a.n != s.n || memcmp(a.samples, s.samples, s.n * sizeof(float))) abort();
        }
    } else if (s.samples || s.n || !strstr(err.msg, "fuzz-stream")) {
        abort();
    }
    es_audio_free(&s);
    es_audio_free(&a);
    fclose(f);
    return 0;
}
