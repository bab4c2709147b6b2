/*
 * audio/augment.c — background noise, gain, time shift, speed perturbation
 * and SpecAugment masks, and the recipes that combine them (augment.h).
 */
#include "augment.h"

#include <kissfft/kiss_fftr.h>
#include <math.h>
#include <samplerate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ noise */

const char *es_noise_color_name(es_noise_color c)
{
    switch (c) {
    case ES_NOISE_WHITE: return "white";
    case ES_NOISE_PINK: return "pink";
    case ES_NOISE_BROWN: return "brown";
    }
    return "?";
}

/* Below this the 1/f shapes are held flat: an unbounded 1/f^2 would put
 * nearly all the power in the lowest bin (a slow drift, not a hiss). */
#define NOISE_FLOOR_HZ 20.0

es_status es_noise_generate(float *out, size_t n, es_noise_color color, es_rng *rng, es_error *err)
{
    if ((!out && n) || !rng || (color != ES_NOISE_WHITE && color != ES_NOISE_PINK && color != ES_NOISE_BROWN))
        return es_fail(err, ES_ERR_ARG, "es_noise_generate: invalid arguments");
    if (n == 0) return ES_OK;
    if (n > ((size_t)1 << 30)) return es_fail(err, ES_ERR_ARG, "es_noise_generate: %zu samples is too long", n);
    size_t nfft = 2;
    while (nfft < n) nfft *= 2;
    size_t nb = nfft / 2 + 1;
    kiss_fft_cpx *spec = malloc(nb * sizeof *spec);
    float *time = malloc(nfft * sizeof(float));
    kiss_fftr_cfg cfg = kiss_fftr_alloc((int)nfft, 1, NULL, NULL);
    if (!spec || !time || !cfg) {
        free(spec); free(time); kiss_fftr_free(cfg);
        return es_fail(err, ES_ERR_NOMEM, "out of memory");
    }
    /* a complex Gaussian per bin with variance S(f): the inverse transform
     * is a stationary Gaussian process with power spectral density S */
    for (size_t k = 0; k < nb; k++) {
        double f = (double)k * ES_SAMPLE_RATE / (double)nfft;
        double fe = f < NOISE_FLOOR_HZ ? NOISE_FLOOR_HZ : f;
        double s = color == ES_NOISE_WHITE ? 1.0 : color == ES_NOISE_PINK ? 1.0 / fe : 1.0 / (fe * fe);
        double a = sqrt(s);
        float re = es_rng_normal(rng), im = es_rng_normal(rng);   /* always two draws per bin */
        if (k == 0) { spec[k].r = 0; spec[k].i = 0; continue; }   /* no DC */
        spec[k].r = (float)(a * re);
        spec[k].i = (k == nb - 1) ? 0.0f : (float)(a * im);         /* Nyquist is real */
    }
    kiss_fftri(cfg, spec, time);
    double mean = 0, ms = 0;
    for (size_t i = 0; i < n; i++) mean += time[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) { double v = time[i] - mean; ms += v * v; }
    double g = ms > 0 ? 1.0 / sqrt(ms / (double)n) : 0.0;
    for (size_t i = 0; i < n; i++) out[i] = (float)((time[i] - mean) * g);
    free(spec);
    free(time);
    kiss_fftr_free(cfg);
    return ES_OK;
}

double es_aug_power(const float *x, size_t n)
{
    if (!x || n == 0) return 0.0;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s / (double)n;
}

/* x += g * noise[(offset + i) % noise_n] with g set for snr_db. */
static es_status add_noise_at(float *x, size_t n, const float *noise, size_t noise_n, size_t offset, double snr_db,
                              double signal_power, es_error *err)
{
    if ((!x && n) || (!noise && noise_n) || !isfinite(snr_db))
        return es_fail(err, ES_ERR_ARG, "es_aug_add_noise: invalid arguments");
    if (n == 0 || noise_n == 0) return ES_OK;
    double ps = signal_power > 0 ? signal_power : es_aug_power(x, n);
    /* the power of exactly the noise samples that will be added */
    double pn = 0;
    for (size_t i = 0, j = offset % noise_n; i < n; i++, j = j + 1 == noise_n ? 0 : j + 1)
        pn += (double)noise[j] * noise[j];
    pn /= (double)n;
    if (!(ps > 0) || !(pn > 0)) return ES_OK;
    double g = sqrt(ps / (pn * pow(10.0, snr_db / 10.0)));
    for (size_t i = 0, j = offset % noise_n; i < n; i++, j = j + 1 == noise_n ? 0 : j + 1)
        x[i] = (float)(x[i] + g * noise[j]);
    return ES_OK;
}

es_status es_aug_add_noise(float *x, size_t n, const float *noise, size_t noise_n, double snr_db,
                           double signal_power, es_rng *rng, es_error *err)
{
    size_t offset = rng && noise_n ? (size_t)es_rng_below(rng, noise_n) : 0;
    return add_noise_at(x, n, noise, noise_n, offset, snr_db, signal_power, err);
}

/* ------------------------------------------------------------ gain, shift, speed */

void es_aug_gain(float *x, size_t n, double gain_db)
{
    float g = (float)pow(10.0, gain_db / 20.0);
    for (size_t i = 0; i < n; i++) x[i] *= g;
}

void es_aug_shift(float *x, size_t n, long shift)
{
    if (!x || n == 0 || shift == 0) return;
    size_t s = (size_t)(shift < 0 ? -shift : shift);
    if (s >= n) { memset(x, 0, n * sizeof(float)); return; }
    if (shift > 0) {
        memmove(x + s, x, (n - s) * sizeof(float));
        memset(x, 0, s * sizeof(float));
    } else {
        memmove(x, x + s, (n - s) * sizeof(float));
        memset(x + n - s, 0, s * sizeof(float));
    }
}

es_status es_aug_speed(const float *x, size_t n, double factor, float **out, size_t *out_n, es_error *err)
{
    if (out) *out = NULL;
    if (out_n) *out_n = 0;
    if ((!x && n) || !out || !out_n || !(factor >= 0.5 && factor <= 2.0))
        return es_fail(err, ES_ERR_ARG, "es_aug_speed: invalid arguments (factor must be in [0.5, 2])");
    if (n > ((size_t)1 << 30)) return es_fail(err, ES_ERR_ARG, "es_aug_speed: %zu samples is too long", n);
    size_t cap = (size_t)ceil((double)n / factor) + 64;
    float *y = malloc(cap * sizeof(float));
    if (!y) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    if (n == 0) { *out = y; return ES_OK; }
    if (factor == 1.0) {
        memcpy(y, x, n * sizeof(float));
        *out = y;
        *out_n = n;
        return ES_OK;
    }
    /* SINC_FASTEST: a windowed-sinc converter (about 97 dB, 80% of the
     * band) is plenty for augmentation and several times cheaper than the
     * best-quality converter used for decoding. src_simple compensates the
     * filter's delay, so the output is aligned with the input. */
    SRC_DATA d;
    memset(&d, 0, sizeof d);
    d.data_in = x;
    d.data_out = y;
    d.input_frames = (long)n;
    d.output_frames = (long)cap;
    d.src_ratio = 1.0 / factor;
    d.end_of_input = 1;
    int e = src_simple(&d, SRC_SINC_FASTEST, 1);
    if (e) {
        free(y);
        return es_fail(err, ES_ERR_ARG, "speed perturbation by %g failed: %s", factor, src_strerror(e));
    }
    *out = y;
    *out_n = (size_t)d.output_frames_gen;
    return ES_OK;
}

/* ------------------------------------------------------------ SpecAugment */

void es_specaugment(float *mel, size_t T, int bins, int n_freq, int max_f, int n_time, int max_t,
                    const float *fill, es_rng *rng)
{
    if (!mel || T == 0 || bins <= 0 || !rng) return;
    float v;
    if (fill) v = *fill;
    else {
        double s = 0;
        for (size_t i = 0; i < T * (size_t)bins; i++) s += mel[i];
        v = (float)(s / ((double)T * bins));
    }
    for (int m = 0; m < n_freq && max_f > 0; m++) {
        int w = 1 + (int)es_rng_below(rng, (uint64_t)max_f);
        if (w > bins) w = bins;
        int f0 = (int)es_rng_below(rng, (uint64_t)(bins - w + 1));
        for (size_t t = 0; t < T; t++)
            for (int f = f0; f < f0 + w; f++) mel[t * (size_t)bins + (size_t)f] = v;
    }
    for (int m = 0; m < n_time && max_t > 0; m++) {
        size_t w = 1 + (size_t)es_rng_below(rng, (uint64_t)max_t);
        if (w > T) w = T;
        size_t t0 = (size_t)es_rng_below(rng, (uint64_t)(T - w + 1));
        for (size_t t = t0; t < t0 + w; t++)
            for (int f = 0; f < bins; f++) mel[t * (size_t)bins + (size_t)f] = v;
    }
}

/* ------------------------------------------------------------ recipes */

void es_aug_ranges_default(es_aug_ranges *r)
{
    memset(r, 0, sizeof *r);
    r->p_noise = 0.8;
    r->snr_lo = 5;
    r->snr_hi = 20;
    r->p_colored = 0.25;
    r->p_gain = 0.8;
    r->gain_lo = -6;
    r->gain_hi = 6;
    r->p_shift = 0.8;
    r->shift_max = ES_SAMPLE_RATE / 10;
    r->p_speed = 0.8;
    r->speed_lo = 0.9;
    r->speed_hi = 1.1;
    r->p_spec = 0;
    r->freq_masks = 2;
    r->freq_width = 4;
    r->time_masks = 2;
    r->time_width = 8;
}

static int prob_ok(double p) { return p >= 0 && p <= 1; }

es_status es_aug_ranges_check(const es_aug_ranges *r, es_error *err)
{
    if (!r) return es_fail(err, ES_ERR_ARG, "es_aug_ranges_check: no ranges");
#define CHECK(cond, what) if (!(cond)) return es_fail(err, ES_ERR_ARG, "augmentation: %s", what)
    CHECK(prob_ok(r->p_noise) && prob_ok(r->p_colored) && prob_ok(r->p_gain) && prob_ok(r->p_shift) &&
          prob_ok(r->p_speed) && prob_ok(r->p_spec), "probabilities must be from 0 to 1");
    CHECK(r->snr_lo >= -30 && r->snr_lo <= r->snr_hi && r->snr_hi <= 100, "SNR range must be lo:hi within -30..100 dB");
    CHECK(r->gain_lo >= -60 && r->gain_lo <= r->gain_hi && r->gain_hi <= 60, "gain range must be lo:hi within -60..60 dB");
    CHECK(r->speed_lo >= 0.5 && r->speed_lo <= r->speed_hi && r->speed_hi <= 2, "speed range must be lo:hi within 0.5..2");
    CHECK(r->shift_max >= 0 && r->shift_max <= 10L * ES_SAMPLE_RATE, "shift must be from 0 to 10 s");
    CHECK(r->freq_masks >= 0 && r->freq_masks <= 1000 && r->freq_width >= 0 && r->freq_width <= 1000 &&
          r->time_masks >= 0 && r->time_masks <= 1000 && r->time_width >= 0 && r->time_width <= 1000,
          "SpecAugment mask counts and widths must be from 0 to 1000");
#undef CHECK
    return ES_OK;
}

void es_aug_recipe_none(es_aug_recipe *r)
{
    memset(r, 0, sizeof *r);
    r->speed = 1.0;
    r->noise = ES_AUG_NOISE_NONE;
}

/* values go through the precision es_aug_recipe_str prints */
static double round_to(double v, double scale) { return round(v * scale) / scale; }

void es_aug_draw(const es_aug_ranges *g, size_t n_clips, es_rng *rng, es_aug_recipe *r)
{
    es_aug_recipe_none(r);
    /* every draw is taken whether or not it is used: a fixed count per recipe */
    double u_speed = es_rng_uniform(rng), v_speed = es_rng_uniform(rng);
    double u_shift = es_rng_uniform(rng), v_shift = es_rng_uniform(rng);
    double u_gain = es_rng_uniform(rng), v_gain = es_rng_uniform(rng);
    double u_noise = es_rng_uniform(rng), u_col = es_rng_uniform(rng), v_snr = es_rng_uniform(rng);
    uint64_t clip = es_rng_next(rng), pos = es_rng_next(rng), color = es_rng_next(rng), nseed = es_rng_next(rng);
    double u_spec = es_rng_uniform(rng);
    uint64_t sseed = es_rng_next(rng);
    if (u_speed < g->p_speed) r->speed = round_to(g->speed_lo + (g->speed_hi - g->speed_lo) * v_speed, 1e4);
    if (u_shift < g->p_shift && g->shift_max > 0) {
        long span = 2 * g->shift_max + 1;
        long k = (long)(v_shift * (double)span);
        if (k >= span) k = span - 1;
        r->shift = k - g->shift_max;
    }
    if (u_gain < g->p_gain) r->gain_db = round_to(g->gain_lo + (g->gain_hi - g->gain_lo) * v_gain, 1e2);
    if (u_noise < g->p_noise) {
        r->snr_db = round_to(g->snr_lo + (g->snr_hi - g->snr_lo) * v_snr, 1e2);
        if (n_clips > 0 && u_col >= g->p_colored) {
            r->noise = ES_AUG_NOISE_CLIP;
            r->noise_clip = (size_t)(clip % n_clips);
            r->noise_pos = pos >> 1;   /* kept below 2^63 so it prints as a plain integer anywhere */
        } else {
            r->noise = ES_AUG_NOISE_COLORED;
            r->color = (es_noise_color)(color % 3);
            r->noise_seed = nseed >> 1;
        }
    }
    if (u_spec < g->p_spec && (g->freq_masks > 0 || g->time_masks > 0)) {
        r->spec = 1;
        r->freq_masks = g->freq_masks;
        r->freq_width = g->freq_width;
        r->time_masks = g->time_masks;
        r->time_width = g->time_width;
        r->spec_seed = sseed >> 1;
    }
}

int es_aug_recipe_str(const es_aug_recipe *r, char *buf, size_t size)
{
    char noise[96] = "none";
    if (r->noise == ES_AUG_NOISE_CLIP)
        snprintf(noise, sizeof noise, "clip:%zu@%llu", r->noise_clip, (unsigned long long)r->noise_pos);
    else if (r->noise == ES_AUG_NOISE_COLORED)
        snprintf(noise, sizeof noise, "%s#%llu", es_noise_color_name(r->color), (unsigned long long)r->noise_seed);
    char spec[96] = "none";
    if (r->spec)
        snprintf(spec, sizeof spec, "%dx%d,%dx%d#%llu", r->freq_masks, r->freq_width, r->time_masks, r->time_width,
                 (unsigned long long)r->spec_seed);
    /* a cache key: the same in every locale (es_c_locale_push) */
    locale_t was = es_c_locale_push();
    int k = snprintf(buf, size, "speed=%.4f shift=%ld gain=%.2f noise=%s snr=%.2f spec=%s", r->speed, r->shift,
                     r->gain_db, noise, r->noise != ES_AUG_NOISE_NONE ? r->snr_db : 0.0, spec);
    es_c_locale_pop(was);
    return k < 0 || (size_t)k >= size ? -1 : k;
}

es_status es_aug_apply(const es_aug_recipe *r, const float *x, size_t n, size_t pad_to, const es_aug_clip *clips,
                       size_t n_clips, float **out, size_t *out_n, es_error *err)
{
    if (out) *out = NULL;
    if (out_n) *out_n = 0;
    if (!r || (!x && n) || !out || !out_n || (n_clips && !clips))
        return es_fail(err, ES_ERR_ARG, "es_aug_apply: invalid arguments");
    if (r->noise == ES_AUG_NOISE_CLIP && (r->noise_clip >= n_clips || !clips[r->noise_clip].x || !clips[r->noise_clip].n))
        return es_fail(err, ES_ERR_ARG, "es_aug_apply: the recipe names noise clip %zu of %zu (or it is empty)",
                       r->noise_clip, n_clips);
    if (pad_to > ((size_t)1 << 30)) return es_fail(err, ES_ERR_ARG, "es_aug_apply: padding too long");
    /* 1. speed */
    float *y = NULL;
    size_t ny = 0;
    es_status s = es_aug_speed(x, n, r->speed, &y, &ny, err);
    if (s) return s;
    /* 4 (before padding, so the power below is the clip's). gain */
    if (r->gain_db != 0) es_aug_gain(y, ny, r->gain_db);
    double ps = es_aug_power(y, ny);
    /* 2. centre in the window, exactly as es_embed_audio's pad_to does */
    size_t total = ny > pad_to ? ny : pad_to, lead = (total - ny) / 2;
    float *z = calloc(total + 1, sizeof(float));
    if (!z) { free(y); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    if (ny) memcpy(z + lead, y, ny * sizeof(float));
    free(y);
    /* 3. shift inside the window */
    es_aug_shift(z, total, r->shift);
    /* 5. noise over the whole window */
    if (r->noise == ES_AUG_NOISE_CLIP) {
        const es_aug_clip *c = &clips[r->noise_clip];
        s = add_noise_at(z, total, c->x, c->n, (size_t)(r->noise_pos % c->n), r->snr_db, ps, err);
    } else if (r->noise == ES_AUG_NOISE_COLORED && total) {
        float *nz = malloc(total * sizeof(float));
        es_rng nr;
        es_rng_seed(&nr, r->noise_seed);
        if (!nz) s = es_fail(err, ES_ERR_NOMEM, "out of memory");
        else if (!(s = es_noise_generate(nz, total, r->color, &nr, err)))
            s = add_noise_at(z, total, nz, total, 0, r->snr_db, ps, err);
        free(nz);
    }
    if (s) { free(z); return s; }
    /* 6. a 16-bit recording */
    for (size_t i = 0; i < total; i++) {
        float v = roundf(z[i]);
        z[i] = v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : v;
    }
    *out = z;
    *out_n = total;
    return ES_OK;
}

void es_aug_apply_mel(const es_aug_recipe *r, float *mel, size_t T, int bins)
{
    if (!r || !r->spec) return;
    es_rng rng;
    es_rng_seed(&rng, r->spec_seed);
    es_specaugment(mel, T, bins, r->freq_masks, r->freq_width, r->time_masks, r->time_width, NULL, &rng);
}
