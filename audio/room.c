/*
 * audio/room.c — room impulse responses, FFT convolution and a telephone
 * band. See room.h.
 */
#include "room.h"

#include <kissfft/kiss_fftr.h>
#include <math.h>
#include <samplerate.h>
#include <stdlib.h>
#include <string.h>

es_status es_rir_generate(double rt60, double drr_db, double predelay, es_rng *rng, float **h, size_t *n,
                          es_error *err)
{
    if (!rng || !h || !n) return es_fail(err, ES_ERR_ARG, "es_rir_generate: invalid arguments");
    *h = NULL;
    *n = 0;
    if (!(rt60 >= 0.05 && rt60 <= 3.0)) return es_fail(err, ES_ERR_ARG, "room: RT60 %.3f s is outside 0.05..3 s", rt60);
    if (!(drr_db >= -20 && drr_db <= 30)) return es_fail(err, ES_ERR_ARG, "room: DRR %.1f dB is outside -20..30 dB", drr_db);
    if (!(predelay >= 0 && predelay <= 0.1)) return es_fail(err, ES_ERR_ARG, "room: pre-delay %.3f s is outside 0..0.1 s", predelay);
    size_t d = (size_t)lround(predelay * ES_SAMPLE_RATE);
    size_t tail = (size_t)lround(rt60 * ES_SAMPLE_RATE);
    size_t len = d + 1 + tail;
    float *r = calloc(len, sizeof *r);
    if (!r) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    /* amplitude envelope exp(-k t): energy falls 60 dB (amplitude 1e-3) at t = rt60 */
    double k = 3.0 * log(10.0) / rt60, e = 0;
    for (size_t i = 0; i < tail; i++) {
        double t = (double)(i + 1) / ES_SAMPLE_RATE;
        double v = es_rng_normal(rng) * exp(-k * t);
        r[d + 1 + i] = (float)v;
        e += v * v;
    }
    /* direct energy is 1: scale the tail to energy 10^(-drr/10) */
    double g = e > 0 ? sqrt(pow(10.0, -drr_db / 10.0) / e) : 0;
    for (size_t i = 0; i < tail; i++) r[d + 1 + i] = (float)(r[d + 1 + i] * g);
    r[d] = 1.0f;
    *h = r;
    *n = len;
    return ES_OK;
}

double es_rir_rt60(const float *h, size_t n, int rate)
{
    if (!h || n < 2 || rate <= 0) return NAN;
    double *edc = malloc(n * sizeof *edc);
    if (!edc) return NAN;
    double acc = 0;
    for (size_t i = n; i-- > 0;) { acc += (double)h[i] * h[i]; edc[i] = acc; }
    if (!(acc > 0)) { free(edc); return NAN; }
    /* least squares of dB against time over the -5..-25 dB part */
    double sx = 0, sy = 0, sxx = 0, sxy = 0, cnt = 0;
    int reached = 0;
    for (size_t i = 0; i < n; i++) {
        double db = 10.0 * log10(edc[i] / acc);
        if (db < -25.0) { reached = 1; break; }
        if (db > -5.0) continue;
        double t = (double)i / rate;
        sx += t; sy += db; sxx += t * t; sxy += t * db; cnt++;
    }
    free(edc);
    if (!reached || cnt < 2) return NAN;
    double slope = (cnt * sxy - sx * sy) / (cnt * sxx - sx * sx);
    return slope < 0 ? -60.0 / slope : NAN;
}

es_status es_convolve(const float *x, size_t n, const float *h, size_t m, float *y, es_error *err)
{
    if (!x || !h || !y || !n || !m) return es_fail(err, ES_ERR_ARG, "es_convolve: invalid arguments");
    size_t len = n + m - 1;
    if (len > (size_t)1 << 28) return es_fail(err, ES_ERR_ARG, "convolution: inputs too long (%zu samples)", len);
    int nfft = kiss_fftr_next_fast_size_real((int)len);
    size_t nb = (size_t)nfft / 2 + 1;
    kiss_fftr_cfg fwd = kiss_fftr_alloc(nfft, 0, NULL, NULL), inv = kiss_fftr_alloc(nfft, 1, NULL, NULL);
    float *a = calloc((size_t)nfft, sizeof *a), *b = calloc((size_t)nfft, sizeof *b);
    kiss_fft_cpx *A = malloc(nb * sizeof *A), *B = malloc(nb * sizeof *B);
    es_status st = ES_OK;
    if (!fwd || !inv || !a || !b || !A || !B) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    memcpy(a, x, n * sizeof *a);
    memcpy(b, h, m * sizeof *b);
    kiss_fftr(fwd, a, A);
    kiss_fftr(fwd, b, B);
    for (size_t k = 0; k < nb; k++) {
        float re = A[k].r * B[k].r - A[k].i * B[k].i, im = A[k].r * B[k].i + A[k].i * B[k].r;
        A[k].r = re;
        A[k].i = im;
    }
    kiss_fftri(inv, A, a);
    /* kiss's inverse is unnormalised */
    for (size_t i = 0; i < len; i++) y[i] = a[i] / (float)nfft;
out:
    kiss_fftr_free(fwd);
    kiss_fftr_free(inv);
    free(a); free(b); free(A); free(B);
    return st;
}

static float peak(const float *x, size_t n)
{
    float p = 0;
    for (size_t i = 0; i < n; i++) p = fabsf(x[i]) > p ? fabsf(x[i]) : p;
    return p;
}

es_status es_reverb(const float *x, size_t n, const float *h, size_t m, size_t max_tail, float **out, size_t *out_n,
                    es_error *err)
{
    if (!out || !out_n) return es_fail(err, ES_ERR_ARG, "es_reverb: invalid arguments");
    *out = NULL;
    *out_n = 0;
    if (!x || !h || !n || !m) return es_fail(err, ES_ERR_ARG, "es_reverb: invalid arguments");
    float *y = malloc((n + m - 1) * sizeof *y);
    if (!y) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_status st = es_convolve(x, n, h, m, y, err);
    if (st) { free(y); return st; }
    size_t keep = n + (m - 1 < max_tail ? m - 1 : max_tail);
    float px = peak(x, n), py = peak(y, keep);
    if (py > 0)
        for (size_t i = 0; i < keep; i++) y[i] *= px / py;
    *out = y;
    *out_n = keep;
    return ES_OK;
}

/* ------------------------------------------------------------ telephone */

typedef struct { double b0, b1, b2, a1, a2, z1, z2; } biquad;

/* RBJ cookbook high-pass (hp = 1) or low-pass at f0 Hz, quality q, rate fs */
static biquad biquad_make(int hp, double f0, double q, double fs)
{
    double w = 2 * M_PI * f0 / fs, c = cos(w), al = sin(w) / (2 * q), a0 = 1 + al;
    biquad f = {0};
    f.b1 = (hp ? -(1 + c) : (1 - c)) / a0;
    f.b0 = f.b2 = (hp ? (1 + c) / 2 : (1 - c) / 2) / a0;
    f.a1 = -2 * c / a0;
    f.a2 = (1 - al) / a0;
    return f;
}

static void biquad_run(biquad *f, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {   /* transposed direct form II */
        double in = x[i], y = f->b0 * in + f->z1;
        f->z1 = f->b1 * in - f->a1 * y + f->z2;
        f->z2 = f->b2 * in - f->a2 * y;
        x[i] = (float)y;
    }
}

static es_status resample_by(const float *x, size_t n, double ratio, float *y, size_t cap, size_t *got, es_error *err)
{
    SRC_DATA d = {0};
    d.data_in = x;
    d.input_frames = (long)n;
    d.data_out = y;
    d.output_frames = (long)cap;
    d.src_ratio = ratio;
    int r = src_simple(&d, SRC_SINC_FASTEST, 1);
    if (r) return es_fail(err, ES_ERR_ARG, "band-limit: libsamplerate: %s", src_strerror(r));
    *got = (size_t)d.output_frames_gen;
    return ES_OK;
}

es_status es_bandlimit(const float *x, size_t n, int telephone, float **out, es_error *err)
{
    if (!x || !out || !n) return es_fail(err, ES_ERR_ARG, "es_bandlimit: invalid arguments");
    *out = NULL;
    if (n > (size_t)1 << 30) return es_fail(err, ES_ERR_ARG, "band-limit: input too long");
    size_t cap8 = n / 2 + 64, n8 = 0, n16 = 0;
    float *lo = malloc(cap8 * sizeof *lo), *y = calloc(n + 64, sizeof *y);
    es_status st;
    if (!lo || !y) { free(lo); free(y); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    if ((st = resample_by(x, n, 0.5, lo, cap8, &n8, err))) goto fail;
    /* 4th-order Butterworth = two biquads with Q 0.5412 and 1.3066 */
    static const double q[2] = {0.54119610, 1.30656296};
    for (int s = 0; telephone && s < 2; s++) {
        biquad hp = biquad_make(1, 300, q[s], 8000), lp = biquad_make(0, 3400, q[s], 8000);
        biquad_run(&hp, lo, n8);
        biquad_run(&lp, lo, n8);
    }
    if ((st = resample_by(lo, n8, 2.0, y, n + 64, &n16, err))) goto fail;
    free(lo);
    /* back to the input's length (the round trip may differ by a sample) */
    if (n16 < n) memset(y + n16, 0, (n - n16) * sizeof *y);
    *out = y;
    return ES_OK;
fail:
    free(lo);
    free(y);
    return st;
}
