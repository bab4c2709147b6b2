/*
 * Unit tests for audio/decode.c: file decoding through libsndfile, raw PCM
 * streams, downmixing, resampling to 16 kHz and the error paths.
 *
 * Every input is generated here with libsndfile itself into a fresh temp
 * directory, so the tests need nothing on disk and leave nothing behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "earshot.h"
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static char g_dir[256];

/* ------------------------------------------------------------ helpers */

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/es_test_audio_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "mkdtemp(%s): %s\n", g_dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    rm_tree(g_dir);
    return 0;
}

static SNDFILE *open_w(const char *path, int format, int rate, int ch)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    info.samplerate = rate;
    info.channels = ch;
    info.format = format;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) fail_msg("cannot create %s: %s", path, sf_strerror(NULL));
    return sf;
}

/* Write interleaved shorts / ints / floats exactly as given. */
static void write_short(const char *path, int format, int rate, int ch, const short *x, size_t frames)
{
    SNDFILE *sf = open_w(path, format, rate, ch);
    assert_int_equal(sf_writef_short(sf, x, (sf_count_t)frames), (sf_count_t)frames);
    assert_int_equal(sf_close(sf), 0);
}

static void write_int(const char *path, int format, int rate, int ch, const int *x, size_t frames)
{
    SNDFILE *sf = open_w(path, format, rate, ch);
    assert_int_equal(sf_writef_int(sf, x, (sf_count_t)frames), (sf_count_t)frames);
    assert_int_equal(sf_close(sf), 0);
}

static void write_float(const char *path, int format, int rate, int ch, const float *x, size_t frames)
{
    SNDFILE *sf = open_w(path, format, rate, ch);
    /* Integer and compressed formats would otherwise clip at write time
     * only where asked; we never write out-of-range values to them. */
    assert_int_equal(sf_writef_float(sf, x, (sf_count_t)frames), (sf_count_t)frames);
    assert_int_equal(sf_close(sf), 0);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Deterministic pseudo-random int16 values (xorshift). */
static uint32_t g_rng = 12345u;
static int16_t rnd16(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return (int16_t)(g_rng & 0xffff);
}

/* Options that keep the resampler's fractions (NULL rounds: the defaults). */
static const es_load_opts RAW = {0};

static es_audio load_ok(const char *path, const es_load_opts *opts)
{
    es_audio a;
    es_error err = {0};
    es_status s = es_audio_load(path, opts, &a, &err);
    if (s != ES_OK) fail_msg("es_audio_load(%s) failed: %s", path, err.msg);
    assert_non_null(a.samples);
    assert_true(a.n > 0);
    return a;
}

/* Loading must fail and say which file. */
static void load_fails(const char *path)
{
    es_audio a;
    es_error err = {0};
    es_status s = es_audio_load(path, &RAW, &a, &err);
    if (s == ES_OK) fail_msg("es_audio_load(%s) unexpectedly succeeded (%zu samples)", path, a.n);
    assert_int_equal(err.status, s);
    if (!strstr(err.msg, path)) fail_msg("message does not name the file: \"%s\"", err.msg);
    assert_null(a.samples);
    assert_int_equal(a.n, 0);
    print_message("    %s\n", err.msg);
    es_audio_free(&a);
}

/* -------------------------------------------------- bit-exact decoding */

static void test_s16_16k_roundtrip(void **state)
{
    (void)state;
    enum { N = 20000 };
    short *v = malloc(N * sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < N; i++) v[i] = rnd16();
    v[0] = -32768; v[1] = 32767; v[2] = 0; v[3] = 1; v[4] = -1;
    const char *p = tpath("s16_16k.wav");
    write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, v, N);

    es_audio a = load_ok(p, &RAW);
    assert_int_equal(a.n, N);
    assert_int_equal(a.src_rate, 16000);
    assert_int_equal(a.src_channels, 1);
    for (int i = 0; i < N; i++)
        if (a.samples[i] != (float)v[i]) fail_msg("sample %d: %g != %d", i, a.samples[i], v[i]);
    es_audio_free(&a);
    assert_null(a.samples);

    /* Lossless FLAC gives the same integers. */
    p = tpath("s16_16k.flac");
    write_short(p, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, v, N);
    a = load_ok(p, &RAW);
    assert_int_equal(a.n, N);
    for (int i = 0; i < N; i++)
        if (a.samples[i] != (float)v[i]) fail_msg("flac sample %d: %g != %d", i, a.samples[i], v[i]);
    es_audio_free(&a);
    free(v);
}

static void test_s24_within_lsb(void **state)
{
    (void)state;
    enum { N = 5000 };
    int *v = malloc(N * sizeof *v);
    int32_t *v24 = malloc(N * sizeof *v24);
    assert_non_null(v);
    assert_non_null(v24);
    for (int i = 0; i < N; i++) {
        int32_t x = (int32_t)(((uint32_t)rnd16() << 8) | (uint32_t)(rnd16() & 0xff));
        x = (int32_t)((uint32_t)x << 8) >> 8;  /* sign-extend 24 bits */
        v24[i] = x;
        v[i] = (int)((uint32_t)x << 8);         /* libsndfile ints are left-justified */
    }
    v24[0] = -8388608; v[0] = INT32_MIN;
    v24[1] = 8388607;  v[1] = (int)(8388607u << 8);
    const char *p = tpath("s24.wav");
    write_int(p, SF_FORMAT_WAV | SF_FORMAT_PCM_24, 16000, 1, v, N);
    es_audio a = load_ok(p, &RAW);
    assert_int_equal(a.n, N);
    /* One 24-bit LSB is 1/256 in int16 scale. */
    for (int i = 0; i < N; i++) {
        double want = v24[i] / 256.0;
        if (fabs(a.samples[i] - want) > 1.0 / 256)
            fail_msg("24-bit sample %d: %.6f != %.6f", i, a.samples[i], want);
    }
    es_audio_free(&a);

    /* 32-bit ints: float keeps 24 bits, so far inside one int16 LSB. */
    for (int i = 0; i < N; i++) v[i] = (int)((uint32_t)rnd16() << 16 | (uint16_t)rnd16());
    p = tpath("s32.wav");
    write_int(p, SF_FORMAT_WAV | SF_FORMAT_PCM_32, 16000, 1, v, N);
    a = load_ok(p, &RAW);
    assert_int_equal(a.n, N);
    for (int i = 0; i < N; i++) {
        double want = v[i] / 65536.0;
        if (fabs(a.samples[i] - want) > 0.01)
            fail_msg("32-bit sample %d: %.6f != %.6f", i, a.samples[i], want);
    }
    es_audio_free(&a);
    free(v);
    free(v24);
}

static void test_float_and_u8(void **state)
{
    (void)state;
    enum { N = 4000 };
    float *f = malloc(N * sizeof *f);
    assert_non_null(f);
    for (int i = 0; i < N; i++) f[i] = rnd16() / 32768.0f + rnd16() / (32768.0f * 65536.0f);
    f[0] = 1.5f;   /* float files are not clipped: the value is the content */
    f[1] = -2.0f;
    f[2] = 1e-7f;
    const char *p = tpath("float.wav");
    write_float(p, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, f, N);
    es_audio a = load_ok(p, &RAW);
    assert_int_equal(a.n, N);
    for (int i = 0; i < N; i++)
        if (a.samples[i] != f[i] * 32768.0f) fail_msg("float sample %d: %g != %g", i, a.samples[i], f[i] * 32768.0f);
    es_audio_free(&a);

    /* Unsigned 8-bit WAV: v8 - 128 maps to (v8 - 128) * 256 in int16 scale. */
    short *s = malloc(256 * sizeof *s);
    assert_non_null(s);
    for (int i = 0; i < 256; i++) s[i] = (short)((i - 128) * 256);
    p = tpath("u8.wav");
    write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 16000, 1, s, 256);
    a = load_ok(p, &RAW);
    assert_int_equal(a.n, 256);
    for (int i = 0; i < 256; i++)
        if (a.samples[i] != (float)s[i]) fail_msg("u8 sample %d: %g != %d", i, a.samples[i], s[i]);
    es_audio_free(&a);
    free(s);
    free(f);
}

/* ------------------------------------------------------------ downmix */

static void test_downmix(void **state)
{
    (void)state;
    enum { N = 3000 };
    /* Stereo with R = -L cancels exactly at 16 kHz... */
    short *st = malloc(2 * N * sizeof *st);
    assert_non_null(st);
    for (int i = 0; i < N; i++) {
        short x = rnd16();
        if (x == -32768) x = 0;
        st[2 * i] = x;
        st[2 * i + 1] = (short)-x;
    }
    const char *p = tpath("stereo_16k.wav");
    write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 2, st, N);
    es_audio a = load_ok(p, &RAW);
    assert_int_equal(a.n, N);
    assert_int_equal(a.src_channels, 2);
    for (int i = 0; i < N; i++)
        if (a.samples[i] != 0.0f) fail_msg("stereo sample %d: %g != 0", i, a.samples[i]);
    es_audio_free(&a);

    /* ...and to ~0 through the resampler at 44.1 kHz. */
    p = tpath("stereo_44k.wav");
    write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, st, N);
    a = load_ok(p, &RAW);
    assert_int_equal(a.src_rate, 44100);
    for (size_t i = 0; i < a.n; i++)
        if (fabsf(a.samples[i]) > 1e-3f) fail_msg("stereo 44k sample %zu: %g", i, a.samples[i]);
    es_audio_free(&a);
    free(st);

    /* Six channels of constants 1000..6000 average to 3500. */
    short *six = malloc(6 * N * sizeof *six);
    assert_non_null(six);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < 6; c++) six[6 * i + c] = (short)((c + 1) * 1000);
    p = tpath("six.wav");
    write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 6, six, N);
    a = load_ok(p, &RAW);
    assert_int_equal(a.n, N);
    assert_int_equal(a.src_channels, 6);
    for (int i = 0; i < N; i++)
        if (a.samples[i] != 3500.0f) fail_msg("6ch sample %d: %g != 3500", i, a.samples[i]);
    es_audio_free(&a);
    free(six);
}

/* --------------------------------------------------------- resampling */

/* Check x (16 kHz) is a sine of `freq` Hz and amplitude `amp` starting at
 * phase 0: length, RMS, zero crossings and agreement with the reference.
 * The first and last 20 ms are skipped (filter edges). */
static void check_sine(const float *x, size_t n, size_t n_src, int rate, double freq, double amp,
                       double tol_rel)
{
    double want_n = (double)n_src * 16000.0 / rate;
    if (fabs((double)n - want_n) > 2.0)
        fail_msg("%d Hz: %zu samples, expected %.2f +- 2", rate, n, want_n);
    size_t lo = 320, hi = n - 320;
    double ss = 0, sr = 0, sxr = 0, maxerr = 0;
    size_t zc = 0;
    for (size_t i = lo; i < hi; i++) {
        double r = amp * sin(2 * M_PI * freq * (double)i / 16000.0);
        ss += (double)x[i] * x[i];
        sr += r * r;
        sxr += x[i] * r;
        double e = fabs(x[i] - r);
        if (e > maxerr) maxerr = e;
        if (i > lo && (x[i - 1] < 0) != (x[i] < 0)) zc++;
    }
    double rms = sqrt(ss / (double)(hi - lo));
    double corr = sxr / sqrt(ss * sr);
    double want_zc = 2.0 * freq * (double)(hi - lo - 1) / 16000.0;
    print_message("    %5d Hz: n=%zu (exp %.2f) rms=%.2f (exp %.2f) corr=%.6f zc=%zu (exp %.1f) maxerr=%.2f\n",
                  rate, n, want_n, rms, amp / sqrt(2.0), corr, zc, want_zc, maxerr);
    assert_true(fabs(rms / (amp / sqrt(2.0)) - 1.0) < tol_rel);
    assert_true(fabs((double)zc - want_zc) <= 2.0);
    assert_true(corr > 1.0 - tol_rel);
}

static void test_resample_sine_files(void **state)
{
    (void)state;
    static const int rates[] = {8000, 22050, 44100, 48000};
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        int rate = rates[k];
        size_t n = (size_t)rate + 123;  /* not a whole number of 16 kHz periods */
        short *v = malloc(n * sizeof *v);
        assert_non_null(v);
        for (size_t i = 0; i < n; i++) v[i] = (short)lrint(10000.0 * sin(2 * M_PI * 1000.0 * (double)i / rate));
        char name[64];
        snprintf(name, sizeof name, "sine_%d.wav", rate);
        const char *p = tpath(name);
        write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, rate, 1, v, n);
        es_audio a = load_ok(p, &RAW);
        assert_int_equal(a.src_rate, rate);
        check_sine(a.samples, a.n, n, rate, 1000.0, 10000.0, 0.01);
        es_audio_free(&a);
        free(v);
    }
}

/* Lossy Ogg Vorbis, stereo 48 kHz: only the broad shape survives. */
static void test_ogg_vorbis(void **state)
{
    (void)state;
    int rate = 48000;
    size_t n = 48000;
    float *v = malloc(2 * n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[2 * i] = v[2 * i + 1] = (float)(0.3 * sin(2 * M_PI * 1000.0 * (double)i / rate));
    const char *p = tpath("sine.ogg");
    write_float(p, SF_FORMAT_OGG | SF_FORMAT_VORBIS, rate, 2, v, n);
    es_audio a = load_ok(p, &RAW);
    assert_int_equal(a.src_rate, rate);
    assert_int_equal(a.src_channels, 2);
    check_sine(a.samples, a.n, n, rate, 1000.0, 0.3 * 32768, 0.05);
    es_audio_free(&a);
    free(v);
}

static void test_resample_api(void **state)
{
    (void)state;
    float x[1000];
    for (int i = 0; i < 1000; i++) x[i] = (float)rnd16();
    float *y = NULL;
    size_t yn = 0;
    es_error err = {0};

    /* 16 kHz copies exactly. */
    assert_int_equal(es_audio_resample(x, 1000, 16000, &y, &yn, &err), ES_OK);
    assert_int_equal(yn, 1000);
    assert_ptr_not_equal(y, x);
    assert_memory_equal(y, x, sizeof x);
    free(y);

    /* 16 kHz -> 16 kHz from a long sine at 11025 Hz and 96 kHz. */
    static const int rates[] = {11025, 96000};
    for (int k = 0; k < 2; k++) {
        size_t n = (size_t)rates[k] * 2 + 7;
        float *s = malloc(n * sizeof *s);
        assert_non_null(s);
        for (size_t i = 0; i < n; i++) s[i] = (float)(5000.0 * sin(2 * M_PI * 440.0 * (double)i / rates[k]));
        assert_int_equal(es_audio_resample(s, n, rates[k], &y, &yn, &err), ES_OK);
        check_sine(y, yn, n, rates[k], 440.0, 5000.0, 0.01);
        free(y);
        free(s);
    }

    /* Empty input is not an error: nothing in, nothing out. */
    y = (float *)1;
    assert_int_equal(es_audio_resample(x, 0, 44100, &y, &yn, &err), ES_OK);
    assert_null(y);
    assert_int_equal(yn, 0);

    /* Bad arguments. */
    assert_int_equal(es_audio_resample(x, 1000, 999, &y, &yn, &err), ES_ERR_ARG);
    assert_non_null(strstr(err.msg, "999"));
    assert_int_equal(es_audio_resample(x, 1000, 400000, &y, &yn, NULL), ES_ERR_ARG);
    assert_int_equal(es_audio_resample(NULL, 10, 16000, &y, &yn, &err), ES_ERR_ARG);
    assert_int_equal(es_audio_resample(x, 10, 16000, NULL, &yn, &err), ES_ERR_ARG);
}

/* ------------------------------------------------------ quantize option */

static void test_quantize(void **state)
{
    (void)state;
    /* Float file in int16 scale with fractions, ties and out-of-range values. */
    static const float in[] = {1.4f, 1.6f, -1.6f, 2.5f, 3.5f, -0.5f, 40000.0f, -40000.0f, 32767.4f, -32768.0f};
    static const float want[] = {1, 2, -2, 2, 4, -0.0f, 32767, -32768, 32767, -32768};
    enum { N = sizeof in / sizeof in[0] };
    float f[N];
    for (int i = 0; i < N; i++) f[i] = in[i] / 32768.0f;
    const char *p = tpath("quant.wav");
    write_float(p, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, f, N);

    es_audio a = load_ok(p, &RAW);
    for (int i = 0; i < N; i++) assert_true(a.samples[i] == in[i]);  /* untouched without the option */
    es_audio_free(&a);

    es_load_opts o = {.quantize_int16 = 1};
    a = load_ok(p, &o);
    assert_int_equal(a.n, N);
    for (int i = 0; i < N; i++)
        if (a.samples[i] != want[i]) fail_msg("quantized %d: %g -> %g, want %g", i, in[i], a.samples[i], want[i]);
    es_audio_free(&a);

    /* NULL options are the defaults, es_load_opts_default: rounded, as
     * every path inside earshot loads audio */
    es_load_opts d;
    es_load_opts_default(&d);
    assert_int_equal(d.quantize_int16, 1);
    a = load_ok(p, NULL);
    for (int i = 0; i < N; i++) assert_true(a.samples[i] == want[i]);
    es_audio_free(&a);

    /* After resampling, every value is whole and in range. */
    size_t n = 22050;
    float *s = malloc(n * sizeof *s);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) s[i] = (float)(1.2 * sin(2 * M_PI * 300.0 * (double)i / 22050));  /* clips */
    p = tpath("quant_22k.wav");
    write_float(p, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 1, s, n);
    a = load_ok(p, &o);
    float mx = 0;
    for (size_t i = 0; i < a.n; i++) {
        assert_true(a.samples[i] == floorf(a.samples[i]));
        assert_true(a.samples[i] >= -32768.0f && a.samples[i] <= 32767.0f);
        if (fabsf(a.samples[i]) > mx) mx = fabsf(a.samples[i]);
    }
    assert_true(mx >= 32767.0f);  /* the clipping really happened */
    es_audio_free(&a);
    free(s);
}

/* ---------------------------------------------------------- bad input */

static void test_bad_files(void **state)
{
    (void)state;
    short v[1000];
    for (int i = 0; i < 1000; i++) v[i] = (short)i;
    const char *good = tpath("good.wav");
    write_short(good, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, v, 1000);
    size_t glen;
    unsigned char *gb = test_read_file(good, &glen);

    load_fails(tpath("does_not_exist.wav"));

    const char *dir = tpath("a_directory.wav");
    assert_int_equal(mkdir(dir, 0700), 0);
    load_fails(dir);

    const char *p = tpath("empty.wav");
    write_bytes(p, "", 0);
    load_fails(p);

    p = tpath("trunc_header.wav");
    write_bytes(p, gb, 20);
    load_fails(p);

    p = tpath("text.wav");
    const char *txt = "This is not audio, just some text.\nSecond line.\n";
    write_bytes(p, txt, strlen(txt));
    load_fails(p);

    p = tpath("zero_frames.wav");
    write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, v, 0);
    load_fails(p);
    {
        es_audio a;
        es_error err = {0};
        es_audio_load(p, &RAW, &a, &err);
        assert_non_null(strstr(err.msg, "contains no audio samples"));
    }

    /* A header plus half a sample: no whole frame. */
    p = tpath("half_sample.wav");
    write_bytes(p, gb, 45);
    load_fails(p);

    /* Sample rate outside 1000..384000 Hz. */
    p = tpath("rate_500.wav");
    write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 500, 1, v, 100);
    load_fails(p);
    {
        es_audio a;
        es_error err = {0};
        es_audio_load(p, &RAW, &a, &err);
        assert_non_null(strstr(err.msg, "sample rate"));
    }

    /* Unreadable. As root open() succeeds regardless of mode, so the
     * assertion is only meaningful (and only made) when it really fails. */
    p = tpath("unreadable.wav");
    write_bytes(p, gb, glen);
    assert_int_equal(chmod(p, 0), 0);
    FILE *f = fopen(p, "rb");
    if (f) {
        fclose(f);
        print_message("    note: %s is still readable (running as root?); permission check skipped\n", p);
    } else {
        load_fails(p);
    }
    chmod(p, 0600);

    /* NULL arguments. */
    es_audio a;
    es_error err = {0};
    assert_int_equal(es_audio_load(NULL, NULL, &a, &err), ES_ERR_ARG);
    assert_int_equal(es_audio_load(good, NULL, NULL, &err), ES_ERR_ARG);
    assert_int_equal(es_audio_load(tpath("nope.wav"), NULL, &a, NULL), ES_ERR_IO);  /* err may be NULL */
    es_audio_free(NULL);
    free(gb);
}

/* Warnings the library passed on, for the tests to read. */
static char g_warn[8][1100];
static int g_nwarn;

static void warn_collect(void *user, const char *msg)
{
    (void)user;
    if (g_nwarn < 8) snprintf(g_warn[g_nwarn], sizeof g_warn[0], "%s", msg);
    g_nwarn++;
}

/* Load `path` (which must decode to `n` samples) and return the number of
 * warnings it gave; the first is in g_warn[0]. */
static int load_warnings(const char *path, size_t n)
{
    g_nwarn = 0;
    es_audio a = load_ok(path, &RAW);
    assert_int_equal(a.n, n);
    es_audio_free(&a);
    return g_nwarn;
}

static void put32(unsigned char *p, uint32_t v, int be)
{
    for (int i = 0; i < 4; i++) p[be ? 3 - i : i] = (unsigned char)(v >> (8 * i));
}

/* A WAV whose data chunk is cut off: libsndfile quietly gives the samples
 * that are there (its frame count trimmed), so earshot checks the chunk
 * sizes itself and warns, naming the file and both lengths. Sizes that
 * mean "length unknown" (a streamed WAV) and chunks after the data are not
 * truncation. */
static void test_truncated_data(void **state)
{
    (void)state;
    es_set_warning_handler(warn_collect, NULL);
    short v[1000];
    for (int i = 0; i < 1000; i++) v[i] = (short)(i * 7);
    const char *good = tpath("full.wav");
    write_short(good, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, v, 1000);
    assert_int_equal(load_warnings(good, 1000), 0);
    size_t glen;
    unsigned char *gb = test_read_file(good, &glen);
    assert_int_equal(glen, 44 + 2000);
    assert_memory_equal(gb + 36, "data", 4);

    const char *p = tpath("cut.wav");
    write_bytes(p, gb, 44 + 2 * 100 + 1);  /* 100 samples and a stray byte */
    g_nwarn = 0;
    es_audio a = load_ok(p, &RAW);
    assert_int_equal(a.n, 100);
    for (int i = 0; i < 100; i++) assert_true(a.samples[i] == (float)v[i]);
    es_audio_free(&a);
    assert_int_equal(g_nwarn, 1);
    assert_non_null(strstr(g_warn[0], p));
    /* 2000 bytes promised, 201 there: 0.0622 s against 0.00625 s */
    assert_non_null(strstr(g_warn[0], "truncated: its header promises 0.06 s of audio, the file holds 0.01 s"));
    /* said once, however often the file is opened (a probe, then a load) */
    assert_int_equal(load_warnings(p, 100), 0);
    es_error err = {0};
    es_reader *r = es_reader_open(p, &RAW, &err);
    assert_non_null(r);
    es_reader_close(r);
    assert_int_equal(g_nwarn, 0);

    /* a header and nothing of its data: an error, and the warning says why */
    const char *empty = tpath("cut0.wav");
    write_bytes(empty, gb, 44);
    g_nwarn = 0;
    load_fails(empty);
    assert_int_equal(g_nwarn, 1);
    assert_non_null(strstr(g_warn[0], "promises 2000 bytes of audio, the file holds 0"));

    /* "length unknown": 0xffffffff and a pipe writer's 0x7ffffff8 */
    const uint32_t unknown[] = {0xffffffffu, 0x7ffffff8u};
    for (int k = 0; k < 2; k++) {
        put32(gb + 40, unknown[k], 0);
        const char *u = tpath(k ? "pipe.wav" : "stream.wav");
        write_bytes(u, gb, glen);
        assert_int_equal(load_warnings(u, 1000), 0);
    }
    put32(gb + 40, 2000, 0);

    /* a LIST chunk after the data: whole, not cut */
    unsigned char *lb = malloc(glen + 16);
    assert_non_null(lb);
    memcpy(lb, gb, glen);
    memcpy(lb + glen, "LIST\x08\x00\x00\x00INFOabcd", 16);
    put32(lb + 4, (uint32_t)(glen + 16 - 8), 0);
    const char *l = tpath("list.wav");
    write_bytes(l, lb, glen + 16);
    assert_int_equal(load_warnings(l, 1000), 0);
    free(lb);
    free(gb);

    /* AIFF (big-endian chunks, the data in SSND) and RF64 (the size in ds64) */
    const struct { const char *name; int format; } other[] = {
        {"full.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16},
        {"full.rf64", SF_FORMAT_RF64 | SF_FORMAT_PCM_16},
    };
    for (int k = 0; k < 2; k++) {
        const char *f = tpath(other[k].name);
        write_short(f, other[k].format, 16000, 1, v, 1000);
        assert_int_equal(load_warnings(f, 1000), 0);
        size_t len;
        unsigned char *b = test_read_file(f, &len);
        char name[64];
        snprintf(name, sizeof name, "cut-%s", other[k].name);
        const char *c = tpath(name);
        write_bytes(c, b, len - 1000);   /* 500 of the 1000 samples */
        assert_int_equal(load_warnings(c, 500), 1);
        assert_non_null(strstr(g_warn[0], c));
        assert_non_null(strstr(g_warn[0], "promises 0.06 s of audio, the file holds 0.03 s"));
        free(b);
    }

    /* a cut Ogg Vorbis file: libsndfile reads nothing of it, so it is
     * refused, and the message says what it probably is */
    static float tone[160000];   /* 10 s: a cut 1 s file fails at the open instead */
    for (int i = 0; i < 160000; i++) tone[i] = 0.3f * sinf((float)i * 0.1f);
    const char *og = tpath("full.ogg");
    write_float(og, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 16000, 1, tone, 160000);
    size_t olen;
    unsigned char *ob = test_read_file(og, &olen);
    const char *oc = tpath("cut.ogg");
    write_bytes(oc, ob, olen / 3);
    es_audio oa;
    assert_int_equal(es_audio_load(oc, &RAW, &oa, &err), ES_ERR_FORMAT);
    assert_non_null(strstr(err.msg, oc));
    assert_non_null(strstr(err.msg, "cut short or damaged?"));
    free(ob);
    es_set_warning_handler(NULL, NULL);
}

/* ---------------------------------------------------------------- raw */

static es_status load_raw_buf(const void *buf, size_t len, int rate, int ch, es_pcm_format fmt,
                              const es_load_opts *o, es_audio *a, es_error *err)
{
    /* fmemopen refuses size 0 on some libcs; an empty stream is /dev/null. */
    FILE *f = len ? fmemopen((void *)buf, len, "rb") : fopen("/dev/null", "rb");
    assert_non_null(f);
    es_status s = es_audio_load_raw(f, "-", rate, ch, fmt, o, a, err);
    fclose(f);
    return s;
}

static void test_raw_s16(void **state)
{
    (void)state;
    enum { N = 5000 };
    unsigned char buf[2 * N];
    int16_t v[N];
    for (int i = 0; i < N; i++) {
        v[i] = rnd16();
        buf[2 * i] = (unsigned char)((uint16_t)v[i] & 0xff);
        buf[2 * i + 1] = (unsigned char)((uint16_t)v[i] >> 8);
    }
    es_audio a;
    es_error err = {0};
    assert_int_equal(load_raw_buf(buf, sizeof buf, 16000, 1, ES_PCM_S16, &RAW, &a, &err), ES_OK);
    assert_int_equal(a.n, N);
    assert_int_equal(a.src_rate, 16000);
    for (int i = 0; i < N; i++) assert_true(a.samples[i] == (float)v[i]);
    es_audio_free(&a);

    /* As stereo the same bytes are 2500 frames of averaged pairs. */
    assert_int_equal(load_raw_buf(buf, sizeof buf, 16000, 2, ES_PCM_S16, &RAW, &a, &err), ES_OK);
    assert_int_equal(a.n, N / 2);
    assert_int_equal(a.src_channels, 2);
    for (int i = 0; i < N / 2; i++) assert_true(a.samples[i] == (float)((v[2 * i] + v[2 * i + 1]) / 2.0));
    es_audio_free(&a);

    /* At 8 kHz it is resampled: twice as many samples. */
    assert_int_equal(load_raw_buf(buf, sizeof buf, 8000, 1, ES_PCM_S16, &RAW, &a, &err), ES_OK);
    assert_true(a.n >= 2 * N - 2 && a.n <= 2 * N + 2);
    es_audio_free(&a);

    /* Odd trailing byte. */
    assert_int_equal(load_raw_buf(buf, 2 * 100 + 1, 16000, 1, ES_PCM_S16, &RAW, &a, &err), ES_ERR_FORMAT);
    print_message("    %s\n", err.msg);
    assert_non_null(strstr(err.msg, "-: truncated: 1 trailing bytes"));
    assert_null(a.samples);
    /* 3 bytes of s16 stereo: one short of a frame. */
    assert_int_equal(load_raw_buf(buf, 3, 16000, 2, ES_PCM_S16, &RAW, &a, &err), ES_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "3 trailing bytes"));

    /* Empty stream. */
    assert_int_equal(load_raw_buf(buf, 0, 16000, 1, ES_PCM_S16, &RAW, &a, &err), ES_ERR_FORMAT);
    print_message("    %s\n", err.msg);
    assert_non_null(strstr(err.msg, "-: "));
    assert_null(a.samples);

    /* Bad arguments. */
    assert_int_equal(load_raw_buf(buf, 10, 100, 1, ES_PCM_S16, &RAW, &a, &err), ES_ERR_ARG);
    assert_int_equal(load_raw_buf(buf, 10, 16000, 0, ES_PCM_S16, &RAW, &a, &err), ES_ERR_ARG);
    assert_int_equal(load_raw_buf(buf, 10, 16000, 1, (es_pcm_format)99, &RAW, &a, &err), ES_ERR_ARG);
    assert_int_equal(es_audio_load_raw(NULL, "x", 16000, 1, ES_PCM_S16, NULL, &a, &err), ES_ERR_ARG);
}

/* ------------------------------------------------- a stream: WAV or raw */

static es_status load_stream_buf(const void *buf, size_t len, int rate, int ch, es_pcm_format fmt, es_audio *a,
                                 es_error *err, int *was_wav)
{
    FILE *f = len ? fmemopen((void *)buf, len, "rb") : fopen("/dev/null", "rb");
    assert_non_null(f);
    es_error tmp = {0};
    es_reader *r = es_reader_open_stream(f, "(stdin)", rate, ch, fmt, &RAW, was_wav, err ? err : &tmp);
    es_status s = r ? ES_OK : (err ? err->status : tmp.status);
    es_reader_close(r);
    if (s) { fclose(f); return s; }
    rewind(f);
    s = es_audio_load_stream(f, "(stdin)", rate, ch, fmt, &RAW, a, err);
    fclose(f);
    return s;
}

static void same_audio(const es_audio *a, const es_audio *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->src_rate, b->src_rate);
    assert_int_equal(a->src_channels, b->src_channels);
    assert_memory_equal(a->samples, b->samples, a->n * sizeof(float));
}

/* bytes with `ins` (len m) put in at `at` */
static unsigned char *spliced(const unsigned char *b, size_t n, size_t at, const void *ins, size_t m)
{
    unsigned char *o = malloc(n + m);
    assert_non_null(o);
    memcpy(o, b, at);
    memcpy(o + at, ins, m);
    memcpy(o + at + m, b + at, n - at);
    return o;
}

/* es_reader_open_stream / es_audio_load_stream, what `earshot detect -`
 * reads: a WAV on stdin (ffmpeg -f wav -, sox -t wav -) gives exactly the
 * samples of the same file opened by name, whatever its encoding, chunks
 * and declared sizes; raw PCM is es_audio_load_raw's, however short; the
 * start of another container is refused by name. Before, a WAV piped in
 * was read as raw s16 at 16 kHz: its header played as samples and, at
 * 44.1 kHz stereo, noise with exit status 0. */
static void test_wav_stream(void **state)
{
    (void)state;
    enum { N = 3000 };
    static short v[2 * N];
    static float fl[2 * N];
    for (int i = 0; i < 2 * N; i++) {
        v[i] = rnd16();
        fl[i] = (float)v[i] / 40000.0f;
    }
    static const struct { int format, rate, ch, floats; const char *what; } kinds[] = {
        {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 0, "s16 16 kHz mono"},
        {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 0, "s16 44.1 kHz stereo"},
        {SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 8000, 1, 0, "u8 8 kHz"},
        {SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 2, 0, "s24 48 kHz stereo"},
        {SF_FORMAT_WAV | SF_FORMAT_PCM_32, 16000, 1, 0, "s32"},
        {SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 2, 1, "float 22.05 kHz stereo"},
        {SF_FORMAT_WAV | SF_FORMAT_DOUBLE, 16000, 1, 1, "double"},
        {SF_FORMAT_WAVEX | SF_FORMAT_PCM_16, 16000, 2, 0, "WAVE_FORMAT_EXTENSIBLE s16"},
        {SF_FORMAT_WAVEX | SF_FORMAT_FLOAT, 32000, 1, 1, "WAVE_FORMAT_EXTENSIBLE float"},
        {SF_FORMAT_RF64 | SF_FORMAT_PCM_16, 16000, 1, 0, "RF64"},
    };
    es_error err = {0};
    es_set_warning_handler(warn_collect, NULL);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const char *path = tpath("stream.wav");
        size_t frames = N;
        if (kinds[k].floats) write_float(path, kinds[k].format, kinds[k].rate, kinds[k].ch, fl, frames);
        else write_short(path, kinds[k].format, kinds[k].rate, kinds[k].ch, v, frames);
        es_audio ref, a;
        assert_int_equal(es_audio_load(path, &RAW, &ref, &err), ES_OK);
        size_t n;
        unsigned char *b = test_read_file(path, &n);
        int wav = -1;
        g_nwarn = 0;
        assert_int_equal(load_stream_buf(b, n, 16000, 1, ES_PCM_S16, &a, &err, &wav), ES_OK);
        assert_int_equal(wav, 1);
        same_audio(&a, &ref);
        es_audio_free(&a);
        assert_int_equal(g_nwarn, 0);
        /* the data chunk and its size */
        size_t at = 12;
        while (at + 8 <= n && memcmp(b + at, "data", 4)) at += 8 + (b[at + 4] | b[at + 5] << 8 | (size_t)b[at + 6] << 16 | (size_t)b[at + 7] << 24);
        assert_true(at + 8 <= n);
        /* a pipe's header does not know the length: ffmpeg writes 0xFFFFFFFF */
        if (memcmp(b, "RF64", 4)) {
            unsigned char *u = malloc(n);
            memcpy(u, b, n);
            put32(u + 4, 0xFFFFFFFFu, 0);
            put32(u + at + 4, 0xFFFFFFFFu, 0);
            assert_int_equal(load_stream_buf(u, n, 16000, 1, ES_PCM_S16, &a, &err, NULL), ES_OK);
            same_audio(&a, &ref);
            es_audio_free(&a);
            free(u);
        }
        /* a chunk of odd size (padded) before the data, and one after it
         * that is not audio */
        static const unsigned char list[] = "LIST\x05\0\0\0INFOx\0";
        unsigned char *c1 = spliced(b, n, at, list, sizeof list - 1);
        unsigned char *c2 = spliced(c1, n + sizeof list - 1, n + sizeof list - 1, list, sizeof list - 1);
        assert_int_equal(load_stream_buf(c2, n + 2 * (sizeof list - 1), 16000, 1, ES_PCM_S16, &a, &err, NULL), ES_OK);
        same_audio(&a, &ref);
        es_audio_free(&a);
        assert_int_equal(g_nwarn, 0);
        free(c1); free(c2);
        es_audio_free(&ref);
        free(b);
        print_message("    %s: same samples as the file\n", kinds[k].what);
    }

    /* cut short of what the header declares: what is there, with a warning */
    const char *path = tpath("stream.wav");
    write_short(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, v, N);
    size_t n;
    unsigned char *b = test_read_file(path, &n);
    assert_int_equal(n, 44 + 2 * N);
    es_audio a;
    g_nwarn = 0;
    assert_int_equal(load_stream_buf(b, 44 + 2 * 1000, 16000, 1, ES_PCM_S16, &a, &err, NULL), ES_OK);
    assert_int_equal(a.n, 1000);
    for (int i = 0; i < 1000; i++) assert_true(a.samples[i] == (float)v[i]);
    es_audio_free(&a);
    assert_true(g_nwarn >= 1);
    print_message("    %s\n", g_warn[0]);
    assert_non_null(strstr(g_warn[0], "(stdin): truncated: its WAV header promises 6000 bytes of audio, the stream held 2000"));
    es_set_warning_handler(NULL, NULL);

    /* broken headers: refused, naming the stream and the reason */
    static const struct { size_t cut; const char *msg; } cuts[] = {
        {16, "ends before its fmt chunk"}, {30, "ends inside its fmt chunk"}, {40, "ends before its data chunk"},
    };
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(load_stream_buf(b, cuts[k].cut, 16000, 1, ES_PCM_S16, &a, &err, NULL), ES_ERR_FORMAT);
        print_message("    %s\n", err.msg);
        assert_non_null(strstr(err.msg, "(stdin): "));
        assert_non_null(strstr(err.msg, cuts[k].msg));
    }
    unsigned char *m = malloc(n);
    memcpy(m, b, n);
    m[20] = 2;   /* ADPCM */
    assert_int_equal(load_stream_buf(m, n, 16000, 1, ES_PCM_S16, &a, &err, NULL), ES_ERR_FORMAT);
    print_message("    %s\n", err.msg);
    assert_non_null(strstr(err.msg, "encoding 2"));
    memcpy(m, b, n);
    memcpy(m + 12, "data", 4);   /* data before fmt */
    assert_int_equal(load_stream_buf(m, n, 16000, 1, ES_PCM_S16, &a, &err, NULL), ES_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "data chunk comes before its fmt chunk"));
    memcpy(m, b, n);
    put32(m + 24, 100, 0);   /* 100 Hz */
    assert_int_equal(load_stream_buf(m, n, 16000, 1, ES_PCM_S16, &a, &err, NULL), ES_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "unsupported sample rate 100 Hz"));
    free(m);

    /* other containers: named, never played as samples */
    static const char *kinds2[][2] = {{"fLaC\0\0\0\x22xxxxxxxx", "FLAC"}, {"OggS\0\x02xxxxxxxxxx", "Ogg"},
                                      {"ID3\x04xxxxxxxxxxxx", "MP3"}, {"FORM\0\0\0\0AIFFxxxx", "AIFF"}};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(load_stream_buf(kinds2[k][0], 16, 16000, 1, ES_PCM_S16, &a, &err, NULL), ES_ERR_FORMAT);
        assert_non_null(strstr(err.msg, kinds2[k][1]));
    }
    print_message("    %s\n", err.msg);

    /* raw: the same as es_audio_load_raw, from 2 bytes up (the bytes the
     * stream's start was looked at by are its first samples) */
    for (size_t len = 2; len <= 2 * N; len = len < 64 ? len + 2 : len * 3) {
        es_audio r;
        int wav = -1;
        assert_int_equal(load_raw_buf(b + 44, len, 16000, 2 * (len % 4 == 0) + (len % 4 != 0), ES_PCM_S16, &RAW, &r, &err), ES_OK);
        assert_int_equal(load_stream_buf(b + 44, len, 16000, 2 * (len % 4 == 0) + (len % 4 != 0), ES_PCM_S16, &a, &err, &wav), ES_OK);
        assert_int_equal(wav, 0);
        same_audio(&a, &r);
        es_audio_free(&a);
        es_audio_free(&r);
    }
    assert_int_equal(load_stream_buf(b, 0, 16000, 1, ES_PCM_S16, &a, &err, NULL), ES_ERR_FORMAT);
    free(b);
}

/* NaN and infinite samples are no sound: a float file holding them (a
 * buggy writer, a divide by zero upstream) read as those values gave NaN
 * to callers that keep floats raw, and through the resampler one NaN
 * spoilt the whole filter span around it (quantising then zeroed it all,
 * silently). Each is read as 0 before anything else touches it, so the
 * rest of the file is what it would be with a 0 written there, and the
 * first one is reported once, with the file's name and its time. */
/* es_audio_write_wav: int16 rounding and clipping on the way out, and a
 * length a WAV header cannot hold (its data size is 32 bits) refused before
 * a byte is read or a file is made, rather than written with a size that
 * wraps and a reader that sees a few seconds of a day's audio. */
static void test_write_wav(void **state)
{
    (void)state;
    const float x[] = {0.4f, -0.6f, 1000.5f, 40000.0f, -40000.0f, NAN, 32767.0f, -32768.0f};
    const float want[] = {0, -1, 1001, 32767, -32768, 0, 32767, -32768};
    const char *p = tpath("written.wav");
    es_error e = {0};
    assert_int_equal(es_audio_write_wav(p, x, 8, &e), ES_OK);
    es_audio a = load_ok(p, &RAW);
    assert_int_equal(a.n, 8);
    for (int i = 0; i < 8; i++)
        if (a.samples[i] != want[i]) fail_msg("sample %d: %g != %g", i, a.samples[i], want[i]);
    es_audio_free(&a);

    /* x is 8 samples long: a read past them would be ASan's to report */
    const char *big = tpath("too_long.wav");
    size_t too_many = ((size_t)UINT32_MAX - 36) / 2 + 1;
    assert_int_equal(es_audio_write_wav(big, x, too_many, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, big));
    assert_non_null(strstr(e.msg, "4 GB"));
    assert_int_equal(access(big, F_OK), -1);
    DIR *d = opendir(g_dir);   /* nor a temporary beside it */
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d));)
        if (strstr(de->d_name, "too_long")) fail_msg("left behind: %s", de->d_name);
    closedir(d);
}

static void test_nonfinite_samples(void **state)
{
    (void)state;
    enum { N = 16000 };
    float *f = malloc(N * sizeof *f), *z = malloc(N * sizeof *z);
    assert_non_null(f);
    assert_non_null(z);
    for (int i = 0; i < N; i++) f[i] = z[i] = 0.25f * sinf((float)i * 0.05f);
    f[8000] = NAN;
    f[9000] = INFINITY;
    f[9001] = -INFINITY;
    z[8000] = z[9000] = z[9001] = 0.0f;
    es_set_warning_handler(warn_collect, NULL);
    for (int rate = 8000; rate <= 16000; rate += 8000) {
        char name[64];
        snprintf(name, sizeof name, "nonfinite%d.wav", rate);
        char p[4200];
        snprintf(p, sizeof p, "%s", tpath(name));
        write_float(p, SF_FORMAT_WAV | SF_FORMAT_FLOAT, rate, 1, f, N);
        char zp[4200];
        snprintf(zp, sizeof zp, "%s", tpath("zeros.wav"));
        write_float(zp, SF_FORMAT_WAV | SF_FORMAT_FLOAT, rate, 1, z, N);
        for (int q = 0; q < 2; q++) {
            es_load_opts o = {0};
            o.quantize_int16 = q;
            g_nwarn = 0;
            es_audio a = load_ok(p, &o);
            /* said once: a message given before is not repeated (es_warn) */
            assert_int_equal(g_nwarn, q == 0);
            if (q == 0) {
                char at[32];
                snprintf(at, sizeof at, "first at %.2f s", 8000.0 / rate);
                if (!strstr(g_warn[0], name) || !strstr(g_warn[0], "NaN or infinite") || !strstr(g_warn[0], at))
                    fail_msg("the warning names the file, the kind and the time: %s", g_warn[0]);
            }
            g_nwarn = 0;
            es_audio b = load_ok(zp, &o);
            assert_int_equal(g_nwarn, 0);
            assert_int_equal(a.n, b.n);
            for (size_t i = 0; i < a.n; i++)
                if (!(a.samples[i] == b.samples[i]))
                    fail_msg("%d Hz, quantise %d: sample %zu is %g, with 0 in place of NaN/inf %g", rate, q, i,
                             a.samples[i], b.samples[i]);
            es_audio_free(&a);
            es_audio_free(&b);
        }
    }
    /* raw f32 on a stream: the same */
    unsigned char raw[4 * 4];
    const float rv[4] = {0.5f, NAN, -INFINITY, -0.5f};
    memcpy(raw, rv, sizeof raw);  /* little-endian host, as the other raw tests assume */
    es_audio a;
    es_error err = {0};
    g_nwarn = 0;
    assert_int_equal(load_raw_buf(raw, sizeof raw, 16000, 1, ES_PCM_F32, &RAW, &a, &err), ES_OK);
    assert_int_equal(a.n, 4);
    assert_true(a.samples[0] == 16384.0f && a.samples[1] == 0.0f && a.samples[2] == 0.0f && a.samples[3] == -16384.0f);
    assert_int_equal(g_nwarn, 1);
    es_audio_free(&a);
    es_set_warning_handler(NULL, NULL);
    free(f);
    free(z);
}

static void test_raw_formats(void **state)
{
    (void)state;
    /* f32: [-1, 1] like libsndfile's floats, so x32768. */
    static const float f[] = {0.0f, 0.5f, -0.5f, 1.0f, -1.0f, 1.0f / 32768, 0.123456f, 1.25f};
    enum { NF = sizeof f / sizeof f[0] };
    unsigned char b[NF * 8];
    for (int i = 0; i < NF; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        for (int k = 0; k < 4; k++) b[4 * i + k] = (unsigned char)(u >> (8 * k));
    }
    es_audio a;
    es_error err = {0};
    assert_int_equal(load_raw_buf(b, NF * 4, 16000, 1, ES_PCM_F32, &RAW, &a, &err), ES_OK);
    assert_int_equal(a.n, NF);
    for (int i = 0; i < NF; i++) assert_true(a.samples[i] == f[i] * 32768.0f);
    es_audio_free(&a);

    /* f64 */
    for (int i = 0; i < NF; i++) {
        double d = f[i];
        uint64_t u;
        memcpy(&u, &d, 8);
        for (int k = 0; k < 8; k++) b[8 * i + k] = (unsigned char)(u >> (8 * k));
    }
    assert_int_equal(load_raw_buf(b, NF * 8, 16000, 1, ES_PCM_F64, &RAW, &a, &err), ES_OK);
    assert_int_equal(a.n, NF);
    for (int i = 0; i < NF; i++) assert_true(a.samples[i] == f[i] * 32768.0f);
    es_audio_free(&a);

    /* s24 packed: 0x800000 (min), 0x7fffff (max), 0x000100 (1.0 in int16 scale), 0xffffff (-1/256). */
    static const unsigned char s24[] = {0x00, 0x00, 0x80, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff};
    assert_int_equal(load_raw_buf(s24, sizeof s24, 16000, 1, ES_PCM_S24, &RAW, &a, &err), ES_OK);
    assert_int_equal(a.n, 4);
    assert_true(a.samples[0] == -32768.0f);
    assert_true(fabsf(a.samples[1] - 8388607.0f / 256) < 1e-3f);
    assert_true(a.samples[2] == 1.0f);
    assert_true(a.samples[3] == -1.0f / 256);
    es_audio_free(&a);

    /* s32: INT32_MIN, 65536 (1.0), -65536 */
    static const unsigned char s32[] = {0, 0, 0, 0x80, 0, 0, 1, 0, 0, 0, 0xff, 0xff};
    assert_int_equal(load_raw_buf(s32, sizeof s32, 16000, 1, ES_PCM_S32, &RAW, &a, &err), ES_OK);
    assert_int_equal(a.n, 3);
    assert_true(a.samples[0] == -32768.0f);
    assert_true(a.samples[1] == 1.0f);
    assert_true(a.samples[2] == -1.0f);
    es_audio_free(&a);

    /* s8 and u8 */
    static const unsigned char s8[] = {0x80, 0x7f, 0x00, 0xff};
    assert_int_equal(load_raw_buf(s8, sizeof s8, 16000, 1, ES_PCM_S8, &RAW, &a, &err), ES_OK);
    assert_true(a.samples[0] == -32768.0f && a.samples[1] == 127 * 256.0f &&
                a.samples[2] == 0.0f && a.samples[3] == -256.0f);
    es_audio_free(&a);
    assert_int_equal(load_raw_buf(s8, sizeof s8, 16000, 1, ES_PCM_U8, &RAW, &a, &err), ES_OK);
    assert_true(a.samples[0] == 0.0f && a.samples[1] == -256.0f &&
                a.samples[2] == -32768.0f && a.samples[3] == 127 * 256.0f);
    es_audio_free(&a);

    /* f32 with a partial frame: 4 floats + 2 bytes in stereo = 2 frames + 2 bytes. */
    assert_int_equal(load_raw_buf(b, 18, 16000, 2, ES_PCM_F32, &RAW, &a, &err), ES_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "2 trailing bytes"));

    /* quantize on raw input */
    static const float q[] = {1.4f / 32768, 2.5f / 32768, -1.6f / 32768};
    for (int i = 0; i < 3; i++) {
        uint32_t u;
        memcpy(&u, &q[i], 4);
        for (int k = 0; k < 4; k++) b[4 * i + k] = (unsigned char)(u >> (8 * k));
    }
    es_load_opts o = {.quantize_int16 = 1};
    assert_int_equal(load_raw_buf(b, 12, 16000, 1, ES_PCM_F32, &o, &a, &err), ES_OK);
    assert_true(a.samples[0] == 1.0f && a.samples[1] == 2.0f && a.samples[2] == -2.0f);
    es_audio_free(&a);
}

/* A stream longer than one internal read block, fed through a pipe-like
 * FILE (tmpfile), in a frame size that does not divide the block. */
static void test_raw_long_stream(void **state)
{
    (void)state;
    size_t n = 100003;  /* frames of s24 stereo: 6 bytes each */
    FILE *f = tmpfile();
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        int32_t l = (int32_t)((i * 2654435761u) & 0xffffff) - 0x800000, r = -l;
        if (l == -0x800000) r = 0, l = 0;
        unsigned char fr[6];
        for (int k = 0; k < 3; k++) {
            fr[k] = (unsigned char)((uint32_t)l >> (8 * k));
            fr[3 + k] = (unsigned char)((uint32_t)r >> (8 * k));
        }
        assert_int_equal(fwrite(fr, 1, 6, f), 6);
    }
    rewind(f);
    es_audio a;
    es_error err = {0};
    assert_int_equal(es_audio_load_raw(f, "pipe", 16000, 2, ES_PCM_S24, &RAW, &a, &err), ES_OK);
    fclose(f);
    assert_int_equal(a.n, n);
    for (size_t i = 0; i < n; i++)
        if (a.samples[i] != 0.0f) fail_msg("frame %zu: %g", i, a.samples[i]);
    es_audio_free(&a);
}

static void test_pcm_format_parse(void **state)
{
    (void)state;
    static const struct { const char *s; es_pcm_format f; } ok[] = {
        {"s16", ES_PCM_S16}, {"s16le", ES_PCM_S16}, {"s8", ES_PCM_S8}, {"u8", ES_PCM_U8},
        {"s24", ES_PCM_S24}, {"s32", ES_PCM_S32}, {"f32", ES_PCM_F32}, {"float", ES_PCM_F32},
        {"f64", ES_PCM_F64}, {"double", ES_PCM_F64},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        es_pcm_format f = (es_pcm_format)-1;
        assert_int_equal(es_pcm_format_parse(ok[i].s, &f), ES_OK);
        assert_int_equal(f, ok[i].f);
    }
    es_pcm_format f;
    assert_int_equal(es_pcm_format_parse("s12", &f), ES_ERR_ARG);
    assert_int_equal(es_pcm_format_parse("", &f), ES_ERR_ARG);
    assert_int_equal(es_pcm_format_parse("S16", &f), ES_ERR_ARG);
    assert_int_equal(es_pcm_format_parse(NULL, &f), ES_ERR_ARG);
    assert_int_equal(es_pcm_format_parse("s16", NULL), ES_ERR_ARG);
}

/* ------------------------------------------------------------- reader */

/* Read everything through a reader in blocks of `block` samples. */
static float *read_all(es_reader *r, size_t block, size_t *n)
{
    float *buf = malloc(block * sizeof(float));
    size_t cap = 1 << 16, len = 0;
    float *all = malloc(cap * sizeof(float));
    assert_non_null(buf);
    assert_non_null(all);
    es_error err = {0};
    for (;;) {
        size_t got = 12345;
        es_status s = es_reader_read(r, buf, block, &got, &err);
        if (s != ES_OK) fail_msg("es_reader_read (block %zu) failed: %s", block, err.msg);
        assert_true(got <= block);
        if (!got) break;
        if (len + got > cap) {
            while (len + got > cap) cap *= 2;
            all = realloc(all, cap * sizeof(float));
            assert_non_null(all);
        }
        memcpy(all + len, buf, got * sizeof(float));
        len += got;
    }
    /* The end stays the end. */
    size_t got = 1;
    assert_int_equal(es_reader_read(r, buf, block, &got, &err), ES_OK);
    assert_int_equal(got, 0);
    free(buf);
    *n = len;
    return all;
}

/* The reader gives exactly es_audio_load's samples for every block size. */
static void reader_matches_load(const char *path, const es_load_opts *opts, int rate, int ch, size_t src_frames)
{
    es_audio ref = load_ok(path, opts);
    static const size_t blocks[] = {1, 100, 4096, 1000000};
    for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
        es_error err = {0};
        es_reader *r = es_reader_open(path, opts, &err);
        if (!r) fail_msg("es_reader_open(%s): %s", path, err.msg);
        assert_int_equal(es_reader_rate(r), rate);
        assert_int_equal(es_reader_channels(r), ch);
        assert_true(fabs(es_reader_duration(r) - (double)src_frames / rate) < 1e-9);
        size_t n;
        float *x = read_all(r, blocks[k], &n);
        es_reader_close(r);
        assert_int_equal(n, ref.n);
        float maxdiff = 0;
        for (size_t i = 0; i < n; i++) {
            float d = fabsf(x[i] - ref.samples[i]);
            if (d > maxdiff || d != d) maxdiff = d != d ? INFINITY : d;
        }
        print_message("    %s, block %7zu: %zu samples, max |diff| %g\n", strrchr(path, '/') + 1, blocks[k], n,
                      maxdiff);
        assert_true(maxdiff == 0.0f);
        free(x);
    }
    es_audio_free(&ref);
}

static void test_reader_equals_load(void **state)
{
    (void)state;
    /* 44.1 kHz stereo: resampled, length not a multiple of any block size. */
    size_t n44 = 3 * 44100 + 301;
    short *st = malloc(2 * n44 * sizeof *st);
    assert_non_null(st);
    for (size_t i = 0; i < n44; i++) {
        double t = (double)i / 44100;
        st[2 * i] = (short)lrint(8000 * sin(2 * M_PI * 440 * t) + (rnd16() >> 4));
        st[2 * i + 1] = (short)lrint(6000 * sin(2 * M_PI * 1234 * t) + (rnd16() >> 4));
    }
    const char *p44 = tpath("reader_44k_stereo.wav");
    write_short(p44, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, st, n44);
    reader_matches_load(p44, &RAW, 44100, 2, n44);
    es_load_opts q = {.quantize_int16 = 1};
    reader_matches_load(p44, &q, 44100, 2, n44);
    free(st);

    /* 16 kHz mono FLAC: passed through untouched. */
    size_t n16 = 50001;
    short *m = malloc(n16 * sizeof *m);
    assert_non_null(m);
    for (size_t i = 0; i < n16; i++) m[i] = rnd16();
    const char *p16 = tpath("reader_16k.flac");
    write_short(p16, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, m, n16);
    reader_matches_load(p16, &RAW, 16000, 1, n16);
    free(m);
}

/* Raw PCM through the reader equals es_audio_load_raw, resampled or not. */
static void test_reader_raw(void **state)
{
    (void)state;
    size_t frames = 30011;
    unsigned char *b = malloc(frames * 4);
    assert_non_null(b);
    for (size_t i = 0; i < frames * 2; i++) {
        int16_t v = rnd16();
        b[2 * i] = (unsigned char)((uint16_t)v & 0xff);
        b[2 * i + 1] = (unsigned char)((uint16_t)v >> 8);
    }
    static const int rates[] = {16000, 48000};
    for (int k = 0; k < 2; k++) {
        FILE *f = fmemopen(b, frames * 4, "rb");
        assert_non_null(f);
        es_audio ref;
        es_error err = {0};
        assert_int_equal(es_audio_load_raw(f, "raw", rates[k], 2, ES_PCM_S16, &RAW, &ref, &err), ES_OK);
        fclose(f);
        static const size_t blocks[] = {1, 100, 4096, 1000000};
        for (size_t j = 0; j < 4; j++) {
            f = fmemopen(b, frames * 4, "rb");
            assert_non_null(f);
            es_reader *r = es_reader_open_raw(f, "raw", rates[k], 2, ES_PCM_S16, &RAW, &err);
            assert_non_null(r);
            assert_int_equal(es_reader_rate(r), rates[k]);
            assert_int_equal(es_reader_channels(r), 2);
            assert_true(es_reader_duration(r) < 0);  /* a stream has no header */
            size_t n;
            float *x = read_all(r, blocks[j], &n);
            es_reader_close(r);
            fclose(f);
            assert_int_equal(n, ref.n);
            assert_memory_equal(x, ref.samples, n * sizeof(float));
            free(x);
        }
        es_audio_free(&ref);
    }
    free(b);
}

/* Open must fail, or else the first read; either way the message names the
 * file and contains `want` (if given). */
static void reader_fails(const char *path, const char *want)
{
    es_error err = {0};
    es_reader *r = es_reader_open(path, &RAW, &err);
    es_status s = r ? ES_OK : err.status;
    if (r) {
        float buf[256];
        size_t got = 99;
        s = es_reader_read(r, buf, 256, &got, &err);
        assert_int_equal(got, 0);
        if (s != ES_OK) {
            /* An error sticks: the next read repeats it. */
            es_error again = {0};
            assert_int_equal(es_reader_read(r, buf, 256, &got, &again), s);
            assert_string_equal(again.msg, err.msg);
        }
        es_reader_close(r);
    }
    if (s == ES_OK) fail_msg("reading %s unexpectedly succeeded", path);
    assert_int_equal(err.status, s);
    if (!strstr(err.msg, path)) fail_msg("message does not name the file: \"%s\"", err.msg);
    if (want && !strstr(err.msg, want)) fail_msg("message lacks \"%s\": \"%s\"", want, err.msg);
    print_message("    %s\n", err.msg);
}

static void test_reader_bad_inputs(void **state)
{
    (void)state;
    short v[1000];
    for (int i = 0; i < 1000; i++) v[i] = (short)i;
    char good[512];  /* tpath's buffers are reused: keep a copy */
    snprintf(good, sizeof good, "%s", tpath("rgood.wav"));
    write_short(good, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, v, 1000);
    size_t glen;
    unsigned char *gb = test_read_file(good, &glen);

    reader_fails(tpath("r_does_not_exist.wav"), "cannot open");
    const char *dir = tpath("r_directory.wav");
    assert_int_equal(mkdir(dir, 0700), 0);
    reader_fails(dir, "directory");
    const char *p = tpath("r_empty.wav");
    write_bytes(p, "", 0);
    reader_fails(p, "empty");
    p = tpath("r_trunc_header.wav");
    write_bytes(p, gb, 20);
    reader_fails(p, NULL);
    p = tpath("r_text.wav");
    write_bytes(p, "not audio at all\n", 17);
    reader_fails(p, "not a readable audio file");
    /* No samples: the open succeeds, the first read says so. */
    p = tpath("r_zero_frames.wav");
    write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, v, 0);
    reader_fails(p, "contains no audio samples");
    p = tpath("r_zero_frames_44k.wav");
    write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, v, 0);
    reader_fails(p, "contains no audio samples");
    p = tpath("r_rate_500.wav");
    write_short(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 500, 1, v, 100);
    reader_fails(p, "sample rate");

    /* Raw: a partial frame at the end, an empty stream, bad arguments. */
    es_error err = {0};
    FILE *f = fmemopen(gb, 45, "rb");
    assert_non_null(f);
    es_reader *r = es_reader_open_raw(f, "pipe:0", 16000, 2, ES_PCM_S16, &RAW, &err);
    assert_non_null(r);
    float buf[64];
    size_t got = 0, total = 0;
    es_status s;
    while ((s = es_reader_read(r, buf, 64, &got, &err)) == ES_OK && got) total += got;
    assert_int_equal(s, ES_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "pipe:0: truncated: 1 trailing bytes"));
    es_reader_close(r);
    fclose(f);
    f = fopen("/dev/null", "rb");
    assert_non_null(f);
    r = es_reader_open_raw(f, "pipe:1", 16000, 1, ES_PCM_S16, &RAW, &err);
    assert_non_null(r);
    assert_int_equal(es_reader_read(r, buf, 64, &got, &err), ES_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "pipe:1: contains no audio samples"));
    es_reader_close(r);
    assert_null(es_reader_open_raw(f, "pipe:2", 100, 1, ES_PCM_S16, &RAW, &err));
    assert_non_null(strstr(err.msg, "pipe:2"));
    assert_null(es_reader_open_raw(f, "pipe:3", 16000, 0, ES_PCM_S16, &RAW, &err));
    assert_null(es_reader_open_raw(f, "pipe:4", 16000, 1, (es_pcm_format)99, NULL, &err));
    assert_null(es_reader_open_raw(NULL, "pipe:5", 16000, 1, ES_PCM_S16, NULL, &err));
    fclose(f);

    /* NULL and zero-sized reads are refused; close accepts NULL. */
    assert_null(es_reader_open(NULL, NULL, &err));
    assert_int_equal(err.status, ES_ERR_ARG);
    r = es_reader_open(good, NULL, NULL);
    assert_non_null(r);
    assert_int_equal(es_reader_read(r, buf, 0, &got, &err), ES_ERR_ARG);
    assert_int_equal(es_reader_read(r, NULL, 10, &got, &err), ES_ERR_ARG);
    assert_int_equal(es_reader_read(NULL, buf, 10, &got, &err), ES_ERR_ARG);
    assert_int_equal(es_reader_read(r, buf, 64, &got, NULL), ES_OK);  /* err may be NULL */
    assert_int_equal(got, 64);
    es_reader_close(r);
    es_reader_close(NULL);
    (void)total;
    free(gb);
}

/* ------------------------------------------------------------ samples */

/* The bundled clips (samples/make_samples.sh) decode as documented, and the
 * stereo 44.1 kHz FLAC copy comes back as the 16 kHz mono original. */
static void test_bundled_samples(void **state)
{
    (void)state;
    const char *src = getenv("EARSHOT_SRC");
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/samples", src && *src ? src : ".");
    snprintf(p, sizeof p, "%s/hey_jarvis.wav", dir);
    if (access(p, R_OK) != 0) {
        print_message("    %s not found (set EARSHOT_SRC to the source tree); skipped\n", p);
        skip();
    }
    static const char *names[] = {"hey_jarvis", "alexa", "hey_mycroft", "weather", "no_wake_word"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s.wav", dir, names[i]);
        es_audio a = load_ok(p, &RAW);
        assert_int_equal(a.src_rate, 16000);
        assert_int_equal(a.src_channels, 1);
        assert_true(a.n > 16000 && a.n < 16000 * 5);
        /* int16 values, 1.0 s of digital silence first */
        for (size_t k = 0; k < a.n; k++) assert_true(a.samples[k] == floorf(a.samples[k]));
        for (size_t k = 0; k < 16000; k++) assert_true(a.samples[k] == 0.0f);
        es_audio_free(&a);
    }
    snprintf(p, sizeof p, "%s/hey_jarvis.wav", dir);
    es_audio ref = load_ok(p, &RAW);
    snprintf(p, sizeof p, "%s/hey_jarvis_stereo_44k.flac", dir);
    es_audio a = load_ok(p, &RAW);
    assert_int_equal(a.src_rate, 44100);
    assert_int_equal(a.src_channels, 2);
    assert_true(a.n + 2 >= ref.n && a.n <= ref.n + 2);
    size_t n = a.n < ref.n ? a.n : ref.n;
    double se = 0, ss = 0;
    for (size_t k = 0; k < n; k++) {
        double d = (double)a.samples[k] - ref.samples[k];
        se += d * d;
        ss += (double)ref.samples[k] * ref.samples[k];
    }
    double snr = 10 * log10(ss / (se > 0 ? se : 1e-30));
    print_message("    44.1 kHz stereo FLAC vs 16 kHz WAV: %zu vs %zu samples, SNR %.1f dB\n", a.n, ref.n, snr);
    assert_true(snr > 40.0);
    es_audio_free(&a);
    es_audio_free(&ref);
}

/* The capture calls under the header's convention: a NULL pointer is
 * refused with ES_ERR_ARG, never written through. es_capture_read and
 * es_capture_flush stored *got before looking at their arguments, and
 * es_capture_device_info and es_capture_find wrote the device they found
 * through a NULL output; es_capture_stop said ES_OK to a NULL stream. The
 * devices come from a virtual ALSA microphone reading /dev/zero (as in
 * tests/test_listen.sh), set up before PortAudio first reads ALSA's
 * configuration. */
static void test_capture_null_args(void **state)
{
    (void)state;
    es_error e = {0};
    float buf[64];
    size_t got = 7;
    assert_int_equal(es_capture_read(NULL, buf, 10, NULL, 0, &e), ES_ERR_ARG);
    assert_int_equal(es_capture_read(NULL, buf, 10, &got, 0, &e), ES_ERR_ARG);
    assert_int_equal(got, 0);
    assert_int_equal(es_capture_flush(NULL, buf, 10, NULL, &e), ES_ERR_ARG);
    assert_int_equal(es_capture_stop(NULL, &e), ES_ERR_ARG);
    es_capture_stats(NULL, NULL);
    assert_null(es_capture_name(NULL));

    FILE *f = fopen(tpath("asound.conf"), "w");
    assert_non_null(f);
    fprintf(f, "pcm.earshot_mic {\n  type file\n  slave.pcm { type null }\n  file \"/dev/null\"\n"
               "  infile \"/dev/zero\"\n  format \"raw\"\n}\npcm.!default \"earshot_mic\"\n");
    fclose(f);
    setenv("ALSA_CONFIG_PATH", tpath("asound.conf"), 1);
    if (es_capture_init(&e) != ES_OK) { print_message("    no PortAudio: %s\n", e.msg); skip(); }
    /* by name: where PortAudio has other host APIs (JACK, PulseAudio) the
     * default input may be a real microphone */
    int idx = -1;
    if (es_capture_find("earshot_mic", &idx, &e) != ES_OK) {
        es_capture_terminate();
        print_message("    no virtual input device (ALSA's file plugin missing?): %s\n", e.msg);
        skip();
    }
    es_capture_device dev;
    assert_int_equal(es_capture_device_info((size_t)idx, &dev, &e), ES_OK);
    assert_int_equal(es_capture_device_info((size_t)idx, NULL, &e), ES_ERR_ARG);
    assert_int_equal(es_capture_find(NULL, NULL, &e), ES_ERR_ARG);
    char spec[16];
    snprintf(spec, sizeof spec, "%d", idx);
    assert_int_equal(es_capture_find(spec, NULL, &e), ES_ERR_ARG);
    es_capture_opts o;
    es_capture_opts_default(&o);
    o.device = "earshot_mic";
    o.rate = 16000;
    es_capture *c = es_capture_open(&o, &e);
    if (c) {
        /* room for nothing: refused, as es_capture_read refuses it, since
         * *got = 0 would say the stream has ended */
        got = 7;
        assert_int_equal(es_capture_flush(c, buf, 0, &got, &e), ES_ERR_ARG);
        assert_int_equal(got, 0);
        es_capture_stats(c, NULL);
        assert_int_equal(es_capture_stop(c, &e), ES_OK);   /* never started: nothing to stop */
        /* a read before es_capture_start, or after es_capture_stop once
         * the ring is empty, waits for audio that cannot come: with no
         * time limit it never returned */
        assert_int_equal(es_capture_read(c, buf, 64, &got, 300, &e), ES_ERR_ARG);
        assert_non_null(strstr(e.msg, "not started"));
        assert_int_equal(es_capture_read(c, buf, 64, &got, -1, &e), ES_ERR_ARG);
        assert_int_equal(es_capture_start(c, &e), ES_OK);
        assert_int_equal(es_capture_read(c, buf, 64, &got, -1, &e), ES_OK);
        assert_true(got > 0);
        assert_int_equal(es_capture_stop(c, &e), ES_OK);
        while (es_capture_flush(c, buf, 64, &got, &e) == ES_OK && got) {}
        assert_int_equal(es_capture_read(c, buf, 64, &got, -1, &e), ES_ERR_ARG);
        assert_int_equal(got, 0);
        es_capture_close(c);
    } else {
        print_message("    cannot open the virtual device (%s); its flush is not checked\n", e.msg);
    }
    es_capture_terminate();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s16_16k_roundtrip),
        cmocka_unit_test(test_s24_within_lsb),
        cmocka_unit_test(test_float_and_u8),
        cmocka_unit_test(test_nonfinite_samples),
        cmocka_unit_test(test_write_wav),
        cmocka_unit_test(test_downmix),
        cmocka_unit_test(test_resample_sine_files),
        cmocka_unit_test(test_ogg_vorbis),
        cmocka_unit_test(test_resample_api),
        cmocka_unit_test(test_quantize),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_truncated_data),
        cmocka_unit_test(test_raw_s16),
        cmocka_unit_test(test_wav_stream),
        cmocka_unit_test(test_raw_formats),
        cmocka_unit_test(test_raw_long_stream),
        cmocka_unit_test(test_pcm_format_parse),
        cmocka_unit_test(test_reader_equals_load),
        cmocka_unit_test(test_reader_raw),
        cmocka_unit_test(test_reader_bad_inputs),
        cmocka_unit_test(test_bundled_samples),
        cmocka_unit_test(test_capture_null_args),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
