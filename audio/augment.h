/*
 * audio/augment.h — data augmentation for training (internal).
 *
 * Audio is 16 kHz mono float in int16 scale (about +-32768), what
 * es_audio_load gives and the front end expects. Log-mel frames are
 * [T][bins] as es_embed_audio returns them (32 bins, already x/10 + 2).
 * Nothing here knows about models or files: callers decode the audio and
 * noise clips, and every random choice comes from a caller-provided,
 * seeded es_rng, so a seed reproduces the same augmented data.
 *
 * Two levels:
 *  - primitives: es_aug_add_noise, es_noise_generate, es_aug_gain,
 *    es_aug_shift, es_aug_speed, es_specaugment — each does one thing,
 *    exactly (the unit tests measure them);
 *  - recipes: es_aug_draw draws one es_aug_recipe (which transforms to
 *    apply, with which values) from es_aug_ranges; es_aug_apply runs it on
 *    a clip and es_aug_apply_mel runs its SpecAugment part on a log-mel. A
 *    recipe holds every value it needs (seeds included), so applying it
 *    twice gives the same samples, and es_aug_recipe_str names it uniquely
 *    (e.g. for a cache key).
 *
 * Typical use (one augmented variant of a clip):
 *
 *     es_rng rng; es_rng_seed(&rng, seed);
 *     es_aug_ranges rg; es_aug_ranges_default(&rg);
 *     es_aug_recipe r;  es_aug_draw(&rg, n_noise_clips, &rng, &r);
 *     float *y; size_t ny;
 *     es_aug_apply(&r, x, n, 32000, noise_clips, n_noise_clips, &y, &ny, &err);
 *     ... es_embed_audio(y, ny) -> mel, then es_aug_apply_mel(&r, mel, T) ...
 */
#ifndef ES_AUGMENT_H
#define ES_AUGMENT_H

#include "es_internal.h"
#include "es_rng.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ primitives */

typedef enum { ES_NOISE_WHITE = 0, ES_NOISE_PINK, ES_NOISE_BROWN } es_noise_color;
const char *es_noise_color_name(es_noise_color c);   /* "white", "pink", "brown" */

/* Coloured Gaussian noise out[n], zero mean, RMS 1: power spectral density
 * flat (white), proportional to 1/f (pink, -3 dB per octave) or 1/f^2
 * (brown, -6 dB per octave) from 20 Hz up to 8 kHz (flat below 20 Hz, so
 * the noise does not drift). Shaped in the frequency domain over the next
 * power of two >= n (KissFFT), so the slope is exact, not a filter's
 * approximation. Draws from rng. */
es_status es_noise_generate(float *out, size_t n, es_noise_color color, es_rng *rng, es_error *err);

/* Add noise to x[n] in place at snr_db = 10 log10(P_signal / P_noise):
 *   x += g * noise[(offset + i) % noise_n]
 * where the noise is looped when shorter than x, offset is drawn from rng
 * (uniform in [0, noise_n)), and g makes the mean square of the added noise
 * exactly P_signal / 10^(snr_db/10). P_signal is signal_power when > 0,
 * else the mean square of x itself; pass the clip's own power when x is a
 * clip already padded with silence, so the SNR refers to the speech. A
 * silent x (power 0) or silent noise is left unchanged (no SNR is
 * defined). rng may be NULL: offset 0. */
es_status es_aug_add_noise(float *x, size_t n, const float *noise, size_t noise_n, double snr_db,
                           double signal_power, es_rng *rng, es_error *err);

/* Mean square of x[n] (0 for n == 0), in double. */
double es_aug_power(const float *x, size_t n);

/* x *= 10^(gain_db/20), in place. No clipping: see es_aug_apply. */
void es_aug_gain(float *x, size_t n, double gain_db);

/* Shift x[n] in place by `shift` samples, keeping its length: positive
 * moves the audio later (zeros enter at the start), negative earlier
 * (zeros enter at the end). |shift| >= n leaves zeros. */
void es_aug_shift(float *x, size_t n, long shift);

/* Speed perturbation: play x[n] `factor` times faster by resampling it
 * (libsamplerate, SINC_FASTEST), so duration divides by factor and every
 * frequency multiplies by it (tempo and pitch together, like a change of
 * vocal-tract length; 0.9..1.1 is the usual range). *out (malloc'd) gets
 * about n / factor samples. factor must be in [0.5, 2]. */
es_status es_aug_speed(const float *x, size_t n, double factor, float **out, size_t *out_n, es_error *err);

/* SpecAugment masks on a log-mel mel[T][bins], in place: n_freq bands of
 * width uniform in [1, max_f] bins (each at a uniform start) and n_time
 * bands of width uniform in [1, max_t] frames are set to *fill, or to the
 * mel's own mean over all T*bins values when fill is NULL (the mean is
 * taken before any mask). Widths are clipped to the size (a band never
 * leaves the array); bands may overlap. n_freq / n_time of 0, or max of 0,
 * mask nothing in that direction. Draws from rng. */
void es_specaugment(float *mel, size_t T, int bins, int n_freq, int max_f, int n_time, int max_t,
                    const float *fill, es_rng *rng);

/* ------------------------------------------------------------ recipes */

/* Where each transform's values are drawn from, and how often it applies
 * (p_* in [0, 1]). Ranges are inclusive, lo <= hi. */
typedef struct {
    double p_noise, snr_lo, snr_hi;        /* dB */
    double p_colored;   /* with noise clips given: share of noise that is
                           generated coloured noise instead (without clips,
                           all noise is generated) */
    double p_gain, gain_lo, gain_hi;       /* dB */
    double p_shift; long shift_max;        /* samples, uniform in [-max, max] */
    double p_speed, speed_lo, speed_hi;    /* factor, see es_aug_speed */
    double p_spec;                         /* SpecAugment on the log-mel */
    int freq_masks, freq_width, time_masks, time_width;
} es_aug_ranges;

/* Noise 0.8 at 5..20 dB SNR (colored share 0.25), gain 0.8 at -6..+6 dB,
 * shift 0.8 up to 100 ms, speed 0.8 at 0.9..1.1, SpecAugment off (p 0)
 * with 2 frequency masks of <= 4 bins and 2 time masks of <= 8 frames
 * when turned on. */
void es_aug_ranges_default(es_aug_ranges *r);
/* Ranges within bounds (p in [0,1], lo <= hi, SNR in [-30, 100] dB, gain in
 * [-60, 60] dB, speed in [0.5, 2], shift_max in [0, 10 s], mask counts and
 * widths in [0, 1000]); else ES_ERR_ARG naming the field. */
es_status es_aug_ranges_check(const es_aug_ranges *r, es_error *err);

typedef enum { ES_AUG_NOISE_NONE = 0, ES_AUG_NOISE_CLIP, ES_AUG_NOISE_COLORED } es_aug_noise_kind;

/* One augmentation: everything es_aug_apply needs, no randomness left. */
typedef struct {
    double speed;              /* 1 = unchanged */
    long shift;                /* samples (see es_aug_shift) */
    double gain_db;            /* 0 = unchanged */
    es_aug_noise_kind noise;
    size_t noise_clip;         /* ES_AUG_NOISE_CLIP: index into the clips */
    uint64_t noise_pos;        /* start in the clip: noise_pos % clip length */
    es_noise_color color;      /* ES_AUG_NOISE_COLORED */
    uint64_t noise_seed;       /* ES_AUG_NOISE_COLORED: the noise's own seed */
    double snr_db;
    int spec;                  /* apply SpecAugment in es_aug_apply_mel */
    int freq_masks, freq_width, time_masks, time_width;
    uint64_t spec_seed;
} es_aug_recipe;

/* The identity: nothing applied. */
void es_aug_recipe_none(es_aug_recipe *r);

/* Draw a recipe: each transform independently with its probability, its
 * value uniform in its range. n_clips = noise clips the caller will pass
 * to es_aug_apply (0: noise is always generated). Always takes the same
 * number of draws from rng, whatever is chosen, so recipe k of a sequence
 * does not depend on the ranges of the others. */
void es_aug_draw(const es_aug_ranges *ranges, size_t n_clips, es_rng *rng, es_aug_recipe *r);

/* A canonical one-line description, e.g.
 *   "speed=1.0432 shift=-311 gain=-2.51 noise=clip:1@12345 snr=7.93 spec=2x4,2x8#5678"
 * with every value printed to a fixed precision that is also what
 * es_aug_apply uses (values are rounded through this form by es_aug_draw),
 * so equal strings mean equal outputs. Returns r's length or -1 if it did
 * not fit. */
int es_aug_recipe_str(const es_aug_recipe *r, char *buf, size_t size);

/* A noise clip for es_aug_apply (16 kHz, int16 scale). */
typedef struct {
    const float *x;
    size_t n;
} es_aug_clip;

/* Apply a recipe to a clip x[n] -> *out[*out_n] (malloc'd), in this order:
 *   1. speed (changes the length);
 *   2. centre in pad_to silence (pad_to = 0 or <= the length: no padding),
 *      the same centring es_embed_audio's pad_to does, so the result can be
 *      embedded with pad_to and is not padded again;
 *   3. shift inside that window (so the shift moves the word within the
 *      padding rather than cutting it);
 *   4. gain;
 *   5. noise over the whole window (like a real background, it does not
 *      stop at the word's edges) at snr_db relative to the power of the
 *      clip after speed and gain;
 *   6. round to whole int16 values and clip to [-32768, 32767], as a
 *      16-bit recording would be.
 * clips[n_clips] must be what the recipe was drawn for (a CLIP recipe with
 * noise_clip >= n_clips, or an empty clip, is ES_ERR_ARG). */
es_status es_aug_apply(const es_aug_recipe *r, const float *x, size_t n, size_t pad_to, const es_aug_clip *clips,
                       size_t n_clips, float **out, size_t *out_n, es_error *err);

/* The recipe's SpecAugment masks on mel[T][bins] (nothing if r->spec is
 * 0), filled with the mel's mean, drawn from r->spec_seed. */
void es_aug_apply_mel(const es_aug_recipe *r, float *mel, size_t T, int bins);

#endif
