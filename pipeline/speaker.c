/*
 * pipeline/speaker.c — who is speaking: a per-clip speaker representation,
 * speaker profiles (enroll, save, load) and scoring (identify, verify).
 *
 * Representation (es_speaker_features; ES_SPK_DIM floats per clip): one
 * vector of pooled statistics (ES_SPK_VEC = 340 floats) for the whole
 * clip, then one for each of 8 fixed sub-windows of it (SEG_WIN: halves,
 * 70%, 80% and 85% stretches at fixed places). A vector pools, over the
 * voiced frames of its span (the louder 70% of the 10 ms frames, never
 * more than 50 dB below the loudest),
 *   [0, 64)    the log-mel front end: mean and std of the 32 bins
 *   [64, 192)  the log power spectrum at 62.5 Hz resolution up to 4 kHz
 *              (64 bands of two 31.25 Hz FFT bins): mean and std. The
 *              32 mel bins are too coarse for the fine spectral shape a
 *              voice and its microphone leave; 4 kHz keeps the bands
 *              meaningful for telephone-band (8 kHz) recordings
 *   [192, 196) pitch: mean and std of log2 F0 over pitched frames
 *              (normalised autocorrelation peak >= 0.5, 50-400 Hz), the
 *              mean peak height and the pitched fraction of voiced frames
 *   [196, 244) the pretrained encoder's activations at the input of its
 *              3rd convolution (after a 3x3 and a 1x3 one: 24 channels x
 *              32 bins, one frame per mel frame): mean and std of each
 *              channel over the voiced frames and all bins (profile v3)
 *   [244, 340) the same at the input of its 5th convolution (after the
 *              3x1 one, the 2x2 pool and a 1x3 one: 48 channels x 16 bins,
 *              one frame per 2 mel frames)
 * An activation frame counts as voiced when the mel frame at the centre
 * of what it sees (es_encoder_head_span) is. Why these layers: the
 * encoder's final embedding describes the word, not the voice (measured
 * with profile v1: its pooled statistics alone identified 0.39 of clips,
 * and adding them to the rest lowered 0.86 to 0.82), but the first layers
 * are generic spectro-temporal filters trained on a large speech corpus.
 * Measured on FSDD (es_speaker_bench, 5 enrollment takes, 10 draws, no
 * background), each depth's 2C statistics alone: after 2 convolutions
 * 0.922, 4: 0.920, 6: 0.879, 8: 0.805, 10: 0.752, 12: 0.675, 14: 0.545,
 * 16: 0.466: speaker information fades with depth. Added to the 196
 * statistics above (0.938): depth 2 0.961, depth 4 0.965, both 0.968;
 * adding depth 6 or 8 too, or 2 or 4 frequency bands per channel instead
 * of one pool over all bins, gave no more (0.956-0.968). At 20 draws on
 * other draws (seed 2), k = 3 / 5: 0.891 / 0.939 without them, 0.932 /
 * 0.964 with both depths. The log-mel and the encoder come from the
 * pretrained models, so profiles record both hashes.
 *
 * Projection: within-speaker covariance normalisation (WCCN) estimated
 * from the enrolled takes themselves, whole clips AND sub-windows. Sw, the
 * pooled covariance of every vector around its speaker's mean, is shrunk
 * (correlations toward 0, a small floor under each variance) and factored
 * Sw = L L^T; vectors are mapped through L^-1. Directions in which one
 * speaker's takes vary (the word said, the loudness) are shrunk;
 * directions in which they agree are stretched.
 *   Why the sub-windows: with k = 5 takes of 6 speakers, Sw has 24 degrees
 * of freedom for 196 dimensions, and what it must learn is how the
 * statistics of one voice move with the sounds said. Parts of a take say
 * different sounds with the same voice, microphone and room, so they show
 * exactly that variation, 9 vectors per take instead of 1.
 *
 * Score: the Euclidean distance d between the clip's whole-clip vector and
 * the speaker's centroid (the mean of its whole takes) in the whitened
 * space, reported as exp(-d^2 / (2 x dimensions)) in (0, 1]. The cosine
 * used before (profile version 1) throws away how far a clip lies from the
 * mean of the enrolled takes, which tells speakers apart. A distance also
 * needs no reference, so one speaker can be enrolled alone.
 *
 * Measured on FSDD, 6 speakers, 5 enrolled takes each, no background
 * (es_speaker_bench --draws 10; bench/README.md has every k), with the
 * 196 statistics of profile v2: identification 0.881 (version 1: cosine,
 * whole takes only); 0.888 with random sub-windows and the cosine (5
 * draws); 0.902 with the distance and whole takes only (5 draws); 0.938
 * with both; 0.968 with the encoder activations (v3). A synthetic
 * background (es_speakers_background_synth, speaker_synth.c: 64 voices of
 * earshot's own synthesis) added to Sw with weight 0.3 brings v3 to
 * 0.973, and helps most at 1-3 takes and for a lone speaker. The score
 * separates better than it is calibrated: its scale follows the variation
 * the enrolled takes show (README). Tried and left out (bench/README.md):
 * frame-level GMM-UBM with MAP-adapted means on MFCCs (0.67: 2 s of
 * speech per speaker is too little), sub-windows of the background's
 * clips too (worse), scores normalised over the other enrolled speakers
 * (closed-set EER 0.036, but an impostor never enrolled then scores like
 * a target), dividing d^2 by a leave-one-take-out genuine distance (no
 * steadier thresholds).
 *
 * Why no projection shipped with earshot: nothing may be fetched or
 * committed as a data blob, synthetic voices are far from real ones (what
 * separates espeak-ng voices is not what separates people), and the
 * user's own microphone is part of what the projection must learn. The
 * projection is recomputed from the stored takes (their raw vectors are in
 * the profile), so adding a speaker improves it for all; what synthetic
 * voices can teach (how a voice moves with the words said) comes in as
 * the background, made on the user's machine by `--background synth`.
 */
#include "es_internal.h"
#include "../model/safetensors.h"
#include "speaker.h"
#include "dataset.h"
#include "../model/conv.h"
#include <pthread.h>
#include <stdatomic.h>

#include <cjson/cJSON.h>
#include <kissfft/kiss_fftr.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#define NFFT ES_MEL_WIN
#define HOP ES_MEL_HOP
#define NBANDS 64
#define BAND_BINS 2          /* 31.25 Hz bins per band: 64 x 62.5 Hz = 4 kHz */
#define LAG_MIN 40           /* 400 Hz */
#define LAG_MAX 320          /* 50 Hz */
#define PITCH_MIN_R 0.5f
#define VOICED_KEEP 0.7      /* the louder 70% of the frames */
#define VOICED_RANGE_DB 50.0 /* ... and never more than this below the loudest */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* mean and std of column j over the selected rows; std = sqrt(var + 1e-6) */
static void pool_rows(const float *x, size_t rows, int cols, const unsigned char *sel, float *mean, float *sd)
{
    for (int j = 0; j < cols; j++) {
        double s = 0, s2 = 0;
        size_t k = 0;
        for (size_t r = 0; r < rows; r++) {
            if (sel && !sel[r]) continue;
            double v = x[r * (size_t)cols + (size_t)j];
            s += v; s2 += v * v; k++;
        }
        double m = k ? s / (double)k : 0, var = k ? s2 / (double)k - m * m : 0;
        mean[j] = (float)m;
        sd[j] = (float)sqrt((var > 0 ? var : 0) + 1e-6);
    }
}

/* Normalised autocorrelation pitch of one frame: 0 if unpitched, else the
 * lag in samples; *peak receives the best correlation. The smallest lag
 * within 0.9 of the best avoids picking a multiple of the period. */
static float frame_pitch(const float *f, float *peak)
{
    static const int n = NFFT;
    float r[LAG_MAX + 1];
    float best = 0;
    double e0 = 0;
    for (int t = 0; t < n; t++) e0 += (double)f[t] * f[t];
    *peak = 0;
    if (e0 <= 0) return 0;
    for (int lag = LAG_MIN; lag <= LAG_MAX; lag++) {
        double s = 0, ea = 0, eb = 0;
        for (int t = 0; t + lag < n; t++) {
            s += (double)f[t] * f[t + lag];
            ea += (double)f[t] * f[t];
            eb += (double)f[t + lag] * f[t + lag];
        }
        r[lag] = (ea > 0 && eb > 0) ? (float)(s / sqrt(ea * eb)) : 0;
        if (r[lag] > best) best = r[lag];
    }
    *peak = best;
    if (best < PITCH_MIN_R) return 0;
    for (int lag = LAG_MIN + 1; lag < LAG_MAX; lag++)
        if (r[lag] >= 0.9f * best && r[lag] >= r[lag - 1] && r[lag] >= r[lag + 1]) {
            /* parabolic refinement of the peak */
            float a = r[lag - 1], b = r[lag], c = r[lag + 1], den = a - 2 * b + c;
            float d = den < 0 ? 0.5f * (a - c) / den : 0;
            return (float)lag + (d > -1 && d < 1 ? d : 0);
        }
    return 0;
}

/* Sub-windows of a take, as (start, length) fractions of its frames: they
 * say different parts of the word, so their spread around the take's
 * speaker is the word-to-word variation the projection must learn to
 * ignore, measured on the user's own voice and microphone (see the header
 * comment). Fixed, so a take's representation does not depend on a seed. */
static const double SEG_WIN[ES_SPK_SEGS][2] = {{0, .5}, {.25, .5}, {.5, .5}, {0, .7},
                                               {.3, .7}, {0, .85}, {.15, .85}, {.1, .8}};

typedef struct {
    const float *x;       /* the audio, n samples */
    size_t n, frames;
    const float *mel;     /* [frames][32] */
    const float *spec;    /* [frames][NBANDS] band log powers */
    const float *energy;  /* [frames] dB */
    float *lag, *peak;    /* [frames] pitch, computed when first needed (lag < 0: not yet) */
    unsigned char *sel;   /* [frames] scratch */
    float *sorted;        /* [frames] scratch */
    /* encoder activations (see enc_depth): act[d][T[d]][per[d]], frame t
     * centred on mel frame stride[d]*t + centre[d] - ENC_PAD */
    const float *act[ES_SPK_ENC_DEPTHS];
    int T[ES_SPK_ENC_DEPTHS], per[ES_SPK_ENC_DEPTHS], C[ES_SPK_ENC_DEPTHS], stride[ES_SPK_ENC_DEPTHS], centre[ES_SPK_ENC_DEPTHS];
    double *acc;          /* [2 * ES_SPK_ENC_C2] scratch */
} spk_frames;

/* The encoder's activations pooled: the input of convolution 2 (after
 * conv 0, 3x3 and conv 1, 1x3: 24 channels x 32 bins, one frame per mel
 * frame) and of convolution 4 (after conv 2, 3x1, the 2x2 pool and conv
 * 3, 1x3: 48 channels x 16 bins, one frame per 2 mel frames). */
static const int ENC_DEPTH[ES_SPK_ENC_DEPTHS] = {2, 4};
static const int ENC_OFF[ES_SPK_ENC_DEPTHS] = {ES_SPK_ENC, ES_SPK_ENC + 2 * ES_SPK_ENC_C1};
/* mel frames of silence added on both sides before the encoder, so the
 * clip's first and last frames are the centre of an activation frame too;
 * even, so the 2x2 pool pairs the same frames as with any other even pad */
#define ENC_PAD 8

/* The ES_SPK_VEC pooled statistics of frames [a, b) (b - a >= 1) */
static void pool_window(spk_frames *fr, size_t a, size_t b, float *feat)
{
    size_t nf = b - a;
    /* voiced frames: the louder 70%, within 50 dB of the loudest */
    memcpy(fr->sorted, fr->energy + a, nf * sizeof(float));
    qsort(fr->sorted, nf, sizeof(float), cmp_float);
    float thr = fr->sorted[(size_t)((1.0 - VOICED_KEEP) * (double)nf)];
    float top = fr->sorted[nf - 1];
    if (thr < top - (float)VOICED_RANGE_DB) thr = top - (float)VOICED_RANGE_DB;
    size_t nsel = 0;
    for (size_t f = 0; f < nf; f++) nsel += fr->sel[f] = fr->energy[a + f] >= thr;
    pool_rows(fr->mel + a * ES_MEL_BINS, nf, ES_MEL_BINS, fr->sel, feat + ES_SPK_MEL, feat + ES_SPK_MEL + ES_MEL_BINS);
    pool_rows(fr->spec + a * NBANDS, nf, NBANDS, fr->sel, feat + ES_SPK_SPEC, feat + ES_SPK_SPEC + NBANDS);
    /* pitch over the voiced frames */
    double ls = 0, ls2 = 0, rs = 0;
    size_t np = 0;
    for (size_t f = a; f < b; f++) {
        if (!fr->sel[f - a] || f * HOP + NFFT > fr->n) continue;
        if (fr->lag[f] < 0) fr->lag[f] = frame_pitch(fr->x + f * HOP, &fr->peak[f]);
        rs += fr->peak[f];
        if (fr->lag[f] > 0) {
            double l = log2((double)ES_SAMPLE_RATE / fr->lag[f] / 100.0);
            ls += l; ls2 += l * l; np++;
        }
    }
    float *p = feat + ES_SPK_PITCH;
    double lm = np ? ls / (double)np : 0, lv = np ? ls2 / (double)np - lm * lm : 0;
    p[0] = (float)lm;
    p[1] = (float)sqrt((lv > 0 ? lv : 0) + 1e-4);
    p[2] = (float)(nsel ? rs / (double)nsel : 0);
    p[3] = (float)(nsel ? (double)np / (double)nsel : 0);
    /* encoder activations: mean and std of each channel over the voiced
     * frames (those whose centre is voiced) and every frequency bin */
    for (int d = 0; d < ES_SPK_ENC_DEPTHS; d++) {
        int C = fr->C[d];
        double *s1 = fr->acc, *s2 = fr->acc + C;
        memset(fr->acc, 0, 2 * (size_t)C * sizeof(double));
        size_t cnt = 0;
        for (int t = 0; t < fr->T[d]; t++) {
            long c = (long)fr->stride[d] * t + fr->centre[d] - ENC_PAD;
            if (c < (long)a || c >= (long)b || !fr->sel[c - (long)a]) continue;
            const float *r = fr->act[d] + (size_t)t * (size_t)fr->per[d];
            for (int i = 0; i < fr->per[d]; i++) { double v = r[i]; s1[i % C] += v; s2[i % C] += v * v; }
            cnt += (size_t)(fr->per[d] / C);
        }
        float *o = feat + ENC_OFF[d];
        for (int ch = 0; ch < C; ch++) {
            double m = cnt ? s1[ch] / (double)cnt : 0, v = cnt ? s2[ch] / (double)cnt - m * m : 0;
            o[ch] = (float)m;
            o[C + ch] = (float)sqrt((v > 0 ? v : 0) + 1e-6);
        }
    }
}

static es_status features_one(es_engine *e, const float *x, size_t n, float *feat, es_error *err);

/* A take longer than this is pooled a segment at a time: the activations
 * it pools take about 2 MB a second of audio (a 14-minute file took 1.7
 * GB), and a take this long is many words anyway. */
#define SEG_MAX_S 60.0
#define SEG_S 30.0

es_status es_speaker_features(es_engine *e, const float *x, size_t n, float *feat, es_error *err)
{
    if (!e || !x || !feat) return es_fail(err, ES_ERR_ARG, "es_speaker_features: invalid arguments");
    if ((double)n <= SEG_MAX_S * ES_SAMPLE_RATE) return features_one(e, x, n, feat, err);
    /* equal segments of about SEG_S seconds, their representations
     * averaged: the means and spreads of a typical half minute of it */
    size_t k = (size_t)ceil((double)n / (SEG_S * ES_SAMPLE_RATE)), len = n / k;
    float *one = malloc(ES_SPK_DIM * sizeof(float));
    double *sum = calloc(ES_SPK_DIM, sizeof(double));
    es_status st = one && sum ? ES_OK : es_fail(err, ES_ERR_NOMEM, "out of memory");
    size_t used = 0;
    for (size_t i = 0; i < k && !st; i++) {
        const float *xi = x + i * len;
        size_t ni = i + 1 < k ? len : n - i * len;
        /* a silent stretch of a long recording is left out, not an error:
         * only a recording silent throughout has no voice */
        if (!(es_audio_peak_dbfs(xi, ni) >= ES_SILENT_DBFS) && (used || i + 1 < k)) continue;
        st = features_one(e, xi, ni, one, err);
        for (int j = 0; j < ES_SPK_DIM && !st; j++) sum[j] += one[j];
        used += !st;
    }
    for (int j = 0; j < ES_SPK_DIM && !st; j++) feat[j] = (float)(sum[j] / (double)used);
    free(one);
    free(sum);
    return st;
}

static es_status features_one(es_engine *e, const float *x, size_t n, float *feat, es_error *err)
{
    size_t frames = es_mel_frames(n);
    if (n < NFFT + 2 * HOP || frames < 3)
        /* in samples: rounded to ms, 800-831 samples read as "0.050 s; at least 0.05 s" */
        return es_fail(err, ES_ERR_ARG, "audio too short for a speaker representation (%zu samples; at least %d, %.3f s)",
                       n, NFFT + 2 * HOP, (double)(NFFT + 2 * HOP) / ES_SAMPLE_RATE);
    /* A silent take is not a voice: pooled, its "voiced" frames are the
     * floor, and enrolled it drew every other clip's score up (impostors
     * and silence were then accepted). */
    double level = es_audio_peak_dbfs(x, n);
    if (!(level >= ES_SILENT_DBFS)) {
        char lv[32] = "-inf";
        if (isfinite(level)) snprintf(lv, sizeof lv, "%.0f", level);
        return es_fail(err, ES_ERR_ARG, "no speech: silent (loudest 10 ms at %s dBFS; speech is above %.0f)", lv,
                       ES_SILENT_DBFS);
    }
    es_status st = ES_OK;
    float *mel_all = NULL, *padded = NULL, *spec = NULL, *energy = NULL, *sorted = NULL, *win = NULL, *lag = NULL, *peak = NULL;
    const float *mel = NULL;
    float *act[ES_SPK_ENC_DEPTHS] = {NULL};
    double acc[2 * ES_SPK_ENC_C2];
    spk_frames fr;
    memset(&fr, 0, sizeof fr);
    unsigned char *sel = NULL;
    kiss_fftr_cfg fft = NULL;
    size_t mel_frames = 0;
    /* the log-mel of the clip with ENC_PAD frames of silence on both
     * sides: its frames ENC_PAD.. are exactly the clip's own (the padding
     * is whole hops of zeros and the top-dB clamp follows the loudest
     * frame), the padding is for the encoder */
    padded = calloc(n + 2 * (size_t)ENC_PAD * HOP, sizeof(float));
    if (!padded) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    memcpy(padded + (size_t)ENC_PAD * HOP, x, n * sizeof(float));
    if ((st = es_embed_audio(e, padded, n + 2 * (size_t)ENC_PAD * HOP, NULL, &mel_all, &mel_frames, NULL, NULL, err))) goto out;
    if (mel_frames < 2 * ENC_PAD + 3) { st = es_fail(err, ES_ERR_ARG, "audio too short for a speaker representation"); goto out; }
    mel = mel_all + (size_t)ENC_PAD * ES_MEL_BINS;
    if (mel_frames - 2 * ENC_PAD < frames) frames = mel_frames - 2 * ENC_PAD;   /* the same count; the smaller is safe either way */
    if (frames < 3) { st = es_fail(err, ES_ERR_ARG, "audio too short for a speaker representation"); goto out; }
    es_encoder *enc = es_engine_encoder(e);
    for (int d = 0; d < ES_SPK_ENC_DEPTHS; d++) {
        int K = es_encoder_nconv(enc) - ENC_DEPTH[d], width, C;
        size_t per = 0;
        int T = es_encoder_tail_frames(enc, K, (int)mel_frames, &per);
        if (es_encoder_head_span(enc, K, &fr.stride[d], &width, &C) || C != (d ? ES_SPK_ENC_C2 : ES_SPK_ENC_C1) || T < 1)
            { st = es_fail(err, ES_ERR_MODEL, "speaker representation: the encoder's layer %d is not what it expects", ENC_DEPTH[d]); goto out; }
        if (!(act[d] = malloc((size_t)T * per * sizeof(float)))) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
        if ((st = es_encoder_head_part(enc, K, mel_all, (int)mel_frames, act[d], err))) goto out;
        fr.act[d] = act[d]; fr.T[d] = T; fr.per[d] = (int)per; fr.C[d] = C; fr.centre[d] = (width - 1) / 2;
    }
    spec = malloc(frames * NBANDS * sizeof(float));
    energy = malloc(frames * sizeof(float));
    sorted = malloc(frames * sizeof(float));
    lag = malloc(frames * sizeof(float));
    peak = calloc(frames, sizeof(float));
    sel = calloc(frames, 1);
    win = malloc(NFFT * sizeof(float));
    fft = kiss_fftr_alloc(NFFT, 0, NULL, NULL);
    if (!spec || !energy || !sorted || !lag || !peak || !sel || !win || !fft) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (int i = 0; i < NFFT; i++) win[i] = 0.5f - 0.5f * cosf(2.0f * (float)M_PI * (float)i / NFFT);

    /* per-frame band log powers (dB/10, so values are of order 1) and energy */
    for (size_t f = 0; f < frames; f++) {
        float buf[NFFT];
        kiss_fft_cpx X[NFFT / 2 + 1];
        const float *s = x + f * HOP;
        for (int i = 0; i < NFFT; i++) buf[i] = (f * HOP + (size_t)i < n ? s[i] : 0) * win[i];
        kiss_fftr(fft, buf, X);
        double tot = 0;
        for (int k = 0; k <= NFFT / 2; k++) tot += (double)X[k].r * X[k].r + (double)X[k].i * X[k].i;
        energy[f] = (float)(10.0 * log10(tot + 1e-3));
        for (int b = 0; b < NBANDS; b++) {
            double p = 0;
            for (int k = 1 + b * BAND_BINS; k < 1 + (b + 1) * BAND_BINS; k++)
                p += (double)X[k].r * X[k].r + (double)X[k].i * X[k].i;
            spec[f * NBANDS + (size_t)b] = (float)log10(p + 1.0);
        }
        lag[f] = -1;
    }
    fr.x = x; fr.n = n; fr.frames = frames; fr.mel = mel; fr.spec = spec; fr.energy = energy;
    fr.lag = lag; fr.peak = peak; fr.sel = sel; fr.sorted = sorted; fr.acc = acc;
    /* the whole take, then its sub-windows */
    pool_window(&fr, 0, frames, feat);
    for (int w = 0; w < ES_SPK_SEGS; w++) {
        size_t len = (size_t)(SEG_WIN[w][1] * (double)frames + 0.5), a = (size_t)(SEG_WIN[w][0] * (double)frames);
        if (len < 8) len = frames < 8 ? frames : 8;
        if (a + len > frames) a = frames - len;
        pool_window(&fr, a, a + len, feat + (size_t)(w + 1) * ES_SPK_VEC);
    }
    for (int i = 0; i < ES_SPK_DIM; i++)
        if (!isfinite(feat[i])) { st = es_fail(err, ES_ERR_ARG, "speaker representation is not finite"); goto out; }
out:
    free(mel_all); free(padded); free(spec); free(energy); free(sorted); free(sel); free(win); free(lag); free(peak);
    for (int d = 0; d < ES_SPK_ENC_DEPTHS; d++) free(act[d]);
    kiss_fftr_free(fft);
    return st;
}

/* ------------------------------------------------------------ scoring */

void es_spk_model_free(es_spk_model *m)
{
    if (!m) return;
    free(m->mu);
    free(m->L);
    free(m->cent);
    memset(m, 0, sizeof *m);
}

/* z = L^-1 (x - mu) over the used dimensions (forward substitution) */
void es_spk_whiten(const es_spk_model *m, const float *x, double *z)
{
    const int D = ES_SPK_VEC;
    for (int i = 0; i < D; i++) {
        if (m->use && !m->use[i]) { z[i] = 0; continue; }
        double s = (double)x[i] - m->mu[i];
        for (int j = 0; j < i; j++) s -= m->L[(size_t)i * D + j] * z[j];
        z[i] = s / m->L[(size_t)i * D + i];
    }
}

es_status es_spk_fit(es_spk_model *m, const float *X, const int *spk, size_t N, int nvec, int S, double alpha,
                     const float *prior, double beta, const unsigned char *use, es_error *err)
{
    const int D = ES_SPK_VEC;
    memset(m, 0, sizeof *m);
    if (!X || !spk || N == 0 || nvec < 1 || S < 1 || !(alpha >= 0 && alpha <= 1))
        return es_fail(err, ES_ERR_ARG, "es_spk_fit: invalid arguments");
    const size_t V = N * (size_t)nvec;   /* vectors: nvec per take, the whole take's first */
    m->S = S;
    m->use = use;
    m->mu = calloc(D, sizeof(float));
    m->L = calloc((size_t)D * D, sizeof(double));
    m->cent = calloc((size_t)S * D, sizeof(float));
    double *c = calloc((size_t)S * D, sizeof(double)), *c0 = calloc((size_t)S * D, sizeof(double));
    double *cov = calloc((size_t)D * D, sizeof(double)), *dev = malloc(D * sizeof(double)), *z = malloc(D * sizeof(double));
    size_t *cnt = calloc((size_t)S, sizeof(size_t)), *cnt0 = calloc((size_t)S, sizeof(size_t));
    es_status st = ES_OK;
    if (!m->mu || !m->L || !m->cent || !c || !c0 || !cov || !dev || !z || !cnt || !cnt0) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    double *mu = dev;   /* reused below */
    memset(mu, 0, D * sizeof(double));
    for (size_t v = 0; v < V; v++) {
        int k = spk[v / (size_t)nvec];
        if (k < 0 || k >= S) { st = es_fail(err, ES_ERR_ARG, "es_spk_fit: speaker index out of range"); goto out; }
        cnt[k]++;
        if (v % (size_t)nvec == 0) cnt0[k]++;
        for (int d = 0; d < D; d++) {
            double x = X[v * D + d];
            c[(size_t)k * D + d] += x;
            mu[d] += x;
            if (v % (size_t)nvec == 0) c0[(size_t)k * D + d] += x;
        }
    }
    for (int k = 0; k < S; k++) {
        if (!cnt[k]) { st = es_fail(err, ES_ERR_ARG, "es_spk_fit: a speaker has no takes"); goto out; }
        for (int d = 0; d < D; d++) { c[(size_t)k * D + d] /= (double)cnt[k]; c0[(size_t)k * D + d] /= (double)cnt0[k]; }
    }
    for (int d = 0; d < D; d++) m->mu[d] = (float)(mu[d] / (double)V);
    /* Sw: scatter of all vectors around their speaker's mean, V - S
     * degrees of freedom. With one vector per speaker there is none: fall
     * back to the scatter around the mean of all (speakers differ more
     * than takes, so this under-weights nothing it should not); with a
     * single vector, to the identity. */
    size_t dof = V - (size_t)S;
    int around_mean = dof == 0;
    if (around_mean) dof = V - 1;
    for (size_t v = 0; v < V && dof > 0; v++) {
        int k = spk[v / (size_t)nvec];
        for (int d = 0; d < D; d++) dev[d] = X[v * D + d] - (around_mean ? m->mu[d] : c[(size_t)k * D + d]);
        for (int i = 0; i < D; i++)
            for (int j = 0; j <= i; j++) cov[(size_t)i * D + j] += dev[i] * dev[j];
    }
    double vmean = 0;
    for (int i = 0; i < D; i++) {
        for (int j = 0; j <= i; j++) {
            cov[(size_t)i * D + j] = dof ? cov[(size_t)i * D + j] / (double)dof : (prior ? 0 : i == j);
            if (prior) cov[(size_t)i * D + j] += beta * prior[(size_t)i * D + j];
        }
        vmean += cov[(size_t)i * D + i];
    }
    vmean /= D;
    /* variances get a floor (a dimension constant over the takes must not
     * dominate); correlations shrink toward 0 by alpha */
    for (int i = 0; i < D; i++) cov[(size_t)i * D + i] += 1e-3 * vmean + 1e-8;
    for (int i = 0; i < D; i++)
        for (int j = 0; j < i; j++) cov[(size_t)i * D + j] *= 1 - alpha;
    /* Cholesky (the lower triangle is all that was filled) */
    m->dims = 0;
    for (int i = 0; i < D; i++) {
        if (use && !use[i]) { m->L[(size_t)i * D + i] = 1; continue; }
        m->dims++;
        for (int j = 0; j <= i; j++) {
            if (use && !use[j]) continue;
            double s = cov[(size_t)i * D + j];
            for (int k = 0; k < j; k++) s -= m->L[(size_t)i * D + k] * m->L[(size_t)j * D + k];
            if (i == j) {
                if (!(s > 0)) { st = es_fail(err, ES_ERR_ARG, "speaker model: covariance not positive definite"); goto out; }
                m->L[(size_t)i * D + i] = sqrt(s);
            } else {
                m->L[(size_t)i * D + j] = s / m->L[(size_t)j * D + j];
            }
        }
    }
    /* centroids: the mean of the whole takes (what is scored is a whole
     * clip), in the whitened space */
    for (int k = 0; k < S; k++) {
        float cf[ES_SPK_VEC];
        for (int d = 0; d < D; d++) cf[d] = (float)c0[(size_t)k * D + d];
        es_spk_whiten(m, cf, z);
        for (int d = 0; d < D; d++) m->cent[(size_t)k * D + d] = (float)z[d];
    }
out:
    free(c); free(c0); free(cov); free(dev); free(z); free(cnt); free(cnt0);
    if (st) es_spk_model_free(m);
    return st;
}

es_status es_spk_within_cov(const float *X, const int *spk, size_t N, int S, float *cov, es_error *err)
{
    const int D = ES_SPK_VEC;
    if (!X || !spk || S < 1 || N <= (size_t)S) return es_fail(err, ES_ERR_ARG, "within-speaker covariance: too few takes");
    double *c = calloc((size_t)S * D, sizeof(double)), *acc = calloc((size_t)D * D, sizeof(double));
    size_t *cnt = calloc((size_t)S, sizeof(size_t));
    double dev[ES_SPK_VEC];
    if (!c || !acc || !cnt) { free(c); free(acc); free(cnt); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    for (size_t n = 0; n < N; n++) {
        cnt[spk[n]]++;
        for (int d = 0; d < D; d++) c[(size_t)spk[n] * D + d] += X[n * D + d];
    }
    for (int k = 0; k < S; k++)
        for (int d = 0; d < D; d++) c[(size_t)k * D + d] /= (double)(cnt[k] ? cnt[k] : 1);
    for (size_t n = 0; n < N; n++) {
        for (int d = 0; d < D; d++) dev[d] = X[n * D + d] - c[(size_t)spk[n] * D + d];
        for (int i = 0; i < D; i++)
            for (int j = 0; j <= i; j++) acc[(size_t)i * D + j] += dev[i] * dev[j];
    }
    for (int i = 0; i < D; i++)
        for (int j = 0; j <= i; j++)
            cov[(size_t)i * D + j] = cov[(size_t)j * D + i] = (float)(acc[(size_t)i * D + j] / (double)(N - (size_t)S));
    free(c); free(acc); free(cnt);
    return ES_OK;
}

void es_spk_score(const es_spk_model *m, const float *x, float *scores)
{
    const int D = ES_SPK_VEC;
    double z[ES_SPK_VEC];
    es_spk_whiten(m, x, z);
    /* Euclidean distance to the centroid in the whitened space, as a
     * similarity in (0, 1]: exp(-d^2 / 2 per used dimension). The cosine
     * (the representation until profile version 1) ignores how far a clip
     * lies from the mean of the enrolled takes, which told speakers apart
     * (FSDD, 5 takes: 0.89 with the cosine, 0.94 with the distance) */
    for (int k = 0; k < m->S; k++) {
        double d2 = 0;
        for (int d = 0; d < D; d++) { double t = z[d] - m->cent[(size_t)k * D + d]; d2 += t * t; }
        scores[k] = (float)exp(-d2 / (2.0 * (m->dims ? m->dims : 1)));
    }
}

/* ------------------------------------------------------------ profiles */

/* Any change to what the numbers mean must change this string: a profile
 * whose representation differs is refused rather than misread. */
#define REPRESENTATION \
    "{\"dim\":340,\"blocks\":[\"logmel mean/std 32+32\",\"band log-power mean/std 64+64 (62.5 Hz to 4 kHz)\"," \
    "\"pitch log2F0 mean/std, peak, pitched fraction\",\"encoder input of conv 2, mean/std per channel over voiced " \
    "frames and bins 24+24\",\"encoder input of conv 4, the same 48+48\"],\"encoder_pad\":8,\"voiced\":\"louder 70% of 10 ms frames, within 50 dB of the " \
    "loudest\",\"take\":\"whole clip + 8 sub-windows (start,length as fractions) 0,.5 .25,.5 .5,.5 0,.7 .3,.7 0,.85 " \
    ".15,.85 .1,.8\",\"projection\":\"WCCN fitted on all vectors of the enrolled takes plus 0.3 x the background " \
    "covariance if any, correlation shrinkage 0.25\",\"score\":\"exp(-d^2/2 per dimension), d the whitened distance " \
    "to the mean of the whole takes\"}"

struct es_speakers {
    char enc_sha[65], mel_sha[65];
    char **names;
    size_t S;
    float *X;        /* [N][ES_SPK_DIM] raw takes (whole clip, then sub-windows) */
    int *spk;        /* [N] */
    size_t N;
    double threshold;   /* NAN: automatic (see es_speakers_threshold) */
    float *bg;       /* [D][D] background within-speaker covariance, or NULL */
    char *bg_desc;
    es_spk_model m;
    atomic_int fitted;   /* m is whole (see ensure_fit) */
};

void es_speakers_free(es_speakers *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->S; i++) free(s->names[i]);
    free(s->names);
    free(s->X);
    free(s->spk);
    free(s->bg);
    free(s->bg_desc);
    es_spk_model_free(&s->m);
    free(s);
}

es_speakers *es_speakers_new(es_engine *e, es_error *err)
{
    if (!e) { es_fail(err, ES_ERR_ARG, "es_speakers_new: no engine"); return NULL; }
    es_speakers *s = calloc(1, sizeof *s);
    if (!s) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    snprintf(s->enc_sha, sizeof s->enc_sha, "%s", es_engine_encoder_sha256(e));
    snprintf(s->mel_sha, sizeof s->mel_sha, "%s", es_engine_mel_sha256(e));
    s->threshold = NAN;
    return s;
}

size_t es_speakers_count(const es_speakers *s) { return s ? s->S : 0; }
const char *es_speakers_name(const es_speakers *s, size_t i) { return s && i < s->S ? s->names[i] : NULL; }
const char *es_speakers_encoder_sha256(const es_speakers *s) { return s ? s->enc_sha : NULL; }
/* Unless set, the equal-error points measured on FSDD (speaker.h): the
 * right one depends on what the scores are measured from, so it follows
 * the profile as speakers and takes are added. */
double es_speakers_threshold(const es_speakers *s)
{
    if (!s) return NAN;
    if (!isnan(s->threshold)) return s->threshold;
    static const double K[ES_SPK_THRESHOLD_NK] = ES_SPK_THRESHOLD_K, T[4][ES_SPK_THRESHOLD_NK] = {
        ES_SPK_THRESHOLD, ES_SPK_THRESHOLD_BG, ES_SPK_THRESHOLD_LONE, ES_SPK_THRESHOLD_LONE_BG};
    const double *t = T[(s->S == 1 ? 2 : 0) + (s->bg != NULL)];
    double k = s->S ? (double)s->N / (double)s->S : K[2];   /* takes per speaker */
    if (k <= K[0]) return t[0];
    for (int i = 1; i < ES_SPK_THRESHOLD_NK; i++)
        if (k <= K[i]) {
            double a = (log(k) - log(K[i - 1])) / (log(K[i]) - log(K[i - 1]));
            return t[i - 1] + a * (t[i] - t[i - 1]);
        }
    return t[ES_SPK_THRESHOLD_NK - 1];
}

int es_speakers_threshold_is_set(const es_speakers *s) { return s && !isnan(s->threshold); }

size_t es_speakers_takes(const es_speakers *s, size_t i)
{
    size_t c = 0;
    for (size_t n = 0; s && n < s->N; n++) c += (size_t)s->spk[n] == i;
    return c;
}

es_status es_speakers_set_threshold(es_speakers *s, double t, es_error *err)
{
    if (!s) return es_fail(err, ES_ERR_ARG, "es_speakers_set_threshold: no profile");
    if (!(isnan(t) || (t >= 0 && t <= 1))) return es_fail(err, ES_ERR_ARG, "threshold must be a score from 0 to 1");
    s->threshold = t;   /* NAN: automatic again */
    return ES_OK;
}

es_status es_speakers_remove(es_speakers *s, const char *name, es_error *err)
{
    if (!s || !name) return es_fail(err, ES_ERR_ARG, "es_speakers_remove: invalid arguments");
    size_t k = es_speakers_find(s, name);
    if (k == s->S) return es_fail(err, ES_ERR_ARG, "speaker '%s' is not enrolled", name);
    size_t j = 0;
    for (size_t i = 0; i < s->N; i++) {
        if ((size_t)s->spk[i] == k) continue;
        memmove(s->X + j * ES_SPK_DIM, s->X + i * ES_SPK_DIM, ES_SPK_DIM * sizeof(float));
        s->spk[j++] = s->spk[i] - ((size_t)s->spk[i] > k);
    }
    s->N = j;
    free(s->names[k]);
    memmove(s->names + k, s->names + k + 1, (s->S - k - 1) * sizeof(char *));
    s->S--;
    es_spk_model_free(&s->m);
    s->fitted = 0;
    return ES_OK;
}

static int valid_name(const char *n)
{
    size_t len = strlen(n);
    if (!len || len > 200) return 0;
    for (const unsigned char *p = (const unsigned char *)n; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

size_t es_speakers_find(const es_speakers *s, const char *name)
{
    if (!s) return 0;
    if (!name) return s->S;   /* not found */
    size_t k = 0;
    while (k < s->S && strcmp(s->names[k], name)) k++;
    return k;
}

/* New names are held to more than what a profile may hold (a file of an
 * earlier version keeps loading): each rule stops an output that would
 * otherwise be ambiguous. */
es_status es_speaker_name_check(const char *name, es_error *err)
{
    if (!name) return es_fail(err, ES_ERR_ARG, "es_speaker_name_check: no name");
    if (!valid_name(name)) return es_fail(err, ES_ERR_ARG, "speaker name '%s' must be 1-200 characters without control characters", name);
    if (!es_utf8_valid(name)) return es_fail(err, ES_ERR_ARG, "speaker name is not valid UTF-8 text");
    if (isspace((unsigned char)name[0]) || isspace((unsigned char)name[strlen(name) - 1]))
        return es_fail(err, ES_ERR_ARG, "speaker name '%s' begins or ends with a space: it would print like another name", name);
    if (!es_ascii_casecmp(name, "unknown"))
        return es_fail(err, ES_ERR_ARG, "speaker name '%s' is what identify prints for no enrolled speaker; choose another", name);
    if (strchr(name, '='))
        return es_fail(err, ES_ERR_ARG, "speaker name '%s' holds '=', which identify --all prints between a name and its score", name);
    return ES_OK;
}

es_status es_speakers_enroll(es_speakers *s, const char *name, const float *feats, size_t n, int replace, es_error *err)
{
    if (!s || !name || (!feats && n)) return es_fail(err, ES_ERR_ARG, "es_speakers_enroll: invalid arguments");
    es_status nst = es_speaker_name_check(name, err);
    if (nst) return nst;
    if (n == 0) return es_fail(err, ES_ERR_ARG, "speaker '%s': no takes to enroll", name);
    for (size_t i = 0; i < n * ES_SPK_DIM; i++)
        if (!isfinite(feats[i])) return es_fail(err, ES_ERR_ARG, "speaker '%s': a take's representation is not finite", name);
    size_t k = es_speakers_find(s, name);
    /* A take enrolled twice (the same folder given again) would count its
     * voice twice and shrink the spread the projection learns. The
     * representation is a deterministic function of the audio, so equal
     * vectors are the same recording: skipped for this speaker, refused for
     * another. */
    unsigned char *dup = calloc(n + 1, 1);
    if (!dup) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    size_t nnew = 0;
    for (size_t t = 0; t < n; t++) {
        const float *f = feats + t * ES_SPK_DIM;
        for (size_t i = 0; i < s->N && !dup[t]; i++) {
            if (memcmp(s->X + i * ES_SPK_DIM, f, ES_SPK_DIM * sizeof(float))) continue;
            if ((size_t)s->spk[i] != k) {
                es_status bad = es_fail(err, ES_ERR_ARG, "take %zu of '%s' is already enrolled as speaker '%s'", t + 1, name,
                                        s->names[s->spk[i]]);
                free(dup);
                return bad;
            }
            dup[t] = !replace;   /* replaced takes go, so it comes back */
        }
        for (size_t u = 0; u < t && !dup[t]; u++)
            dup[t] = !dup[u] && !memcmp(feats + u * ES_SPK_DIM, f, ES_SPK_DIM * sizeof(float));
        nnew += !dup[t];
    }
    /* build the new arrays first, so a failure leaves s as it was */
    size_t keep = 0;
    for (size_t i = 0; i < s->N; i++) keep += !(replace && (size_t)s->spk[i] == k);
    size_t N2 = keep + nnew;
    float *X = malloc(N2 * ES_SPK_DIM * sizeof(float));
    int *spk = malloc(N2 * sizeof(int));
    char **names = k == s->S ? realloc(s->names, (s->S + 1) * sizeof(char *)) : s->names;
    char *nm = k == s->S ? strdup(name) : NULL;
    if (names) s->names = names;
    if (!X || !spk || !names || (k == s->S && !nm)) {
        free(X); free(spk); free(nm); free(dup);
        return es_fail(err, ES_ERR_NOMEM, "out of memory");
    }
    size_t j = 0;
    for (size_t i = 0; i < s->N; i++) {
        if (replace && (size_t)s->spk[i] == k) continue;
        memcpy(X + j * ES_SPK_DIM, s->X + i * ES_SPK_DIM, ES_SPK_DIM * sizeof(float));
        spk[j++] = s->spk[i];
    }
    for (size_t t = 0; t < n; t++) {
        if (dup[t]) continue;
        memcpy(X + j * ES_SPK_DIM, feats + t * ES_SPK_DIM, ES_SPK_DIM * sizeof(float));
        spk[j++] = (int)k;
    }
    free(dup);
    if (k == s->S) s->names[s->S++] = nm;
    free(s->X); free(s->spk);
    s->X = X; s->spk = spk; s->N = N2;
    es_spk_model_free(&s->m);
    s->fitted = 0;
    return ES_OK;
}

const char *es_speakers_background(const es_speakers *s) { return s && s->bg ? s->bg_desc : NULL; }

es_status es_speakers_set_background(es_speakers *s, const float *feats, const int *spk, size_t n, int nspk,
                                     const char *desc, int keep_threshold, es_error *err)
{
    if (!s || !feats || !spk || nspk < 1) return es_fail(err, ES_ERR_ARG, "es_speakers_set_background: invalid arguments");
    for (size_t i = 0; i < n; i++)
        if (spk[i] < 0 || spk[i] >= nspk) return es_fail(err, ES_ERR_ARG, "background: speaker index out of range");
    for (size_t i = 0; i < n * ES_SPK_DIM; i++)
        if (!isfinite(feats[i])) return es_fail(err, ES_ERR_ARG, "background: a take's representation is not finite");
    /* the whole-clip vectors only: sub-windows of the background's clips
     * made the projection worse (bench/README.md) */
    float *cov = malloc((size_t)ES_SPK_VEC * ES_SPK_VEC * sizeof(float)), *whole = malloc((n + 1) * ES_SPK_VEC * sizeof(float));
    char *d = strdup(desc ? desc : "");
    if (!cov || !d || !whole) { free(cov); free(d); free(whole); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < n; i++) memcpy(whole + i * ES_SPK_VEC, feats + i * ES_SPK_DIM, ES_SPK_VEC * sizeof(float));
    es_status st = es_spk_within_cov(whole, spk, n, nspk, cov, err);
    free(whole);
    if (st) { free(cov); free(d); return st; }
    free(s->bg); free(s->bg_desc);
    s->bg = cov;
    s->bg_desc = d;
    if (!keep_threshold) s->threshold = NAN;   /* back to automatic */
    es_spk_model_free(&s->m);
    s->fitted = 0;
    return ES_OK;
}

/* The projection is fitted on the first score after the set changed.
 * Several threads may score against one set (transcribe's workers, a
 * program's detector threads naming speakers), so the first scores can
 * come at once: two fits into one model tore it (each run scored
 * differently) and leaked the loser's arrays. One lock for every set, as a
 * fit is rare; `fitted` is stored after the model is whole, so the scores
 * after it pass without the lock. Changing a set while it is scored is
 * not supported (the header says so). */
static pthread_mutex_t fit_lock = PTHREAD_MUTEX_INITIALIZER;

static es_status ensure_fit(es_speakers *s, es_error *err)
{
    if (atomic_load_explicit(&s->fitted, memory_order_acquire)) return ES_OK;
    if (!s->S) return es_fail(err, ES_ERR_ARG, "no speakers enrolled");
    pthread_mutex_lock(&fit_lock);
    es_status st = ES_OK;
    if (!atomic_load_explicit(&s->fitted, memory_order_relaxed)) {
        st = es_spk_fit(&s->m, s->X, s->spk, s->N, ES_SPK_SEGS + 1, (int)s->S, ES_SPK_ALPHA, s->bg, ES_SPK_BETA, NULL,
                        err);
        if (!st) atomic_store_explicit(&s->fitted, 1, memory_order_release);
    }
    pthread_mutex_unlock(&fit_lock);
    return st;
}

es_status es_speakers_score(es_speakers *s, const float *feat, float *scores, int *best, float *best_score, es_error *err)
{
    if (!s || !feat) return es_fail(err, ES_ERR_ARG, "es_speakers_score: invalid arguments");
    es_status st = ensure_fit(s, err);
    if (st) return st;
    float *sc = scores ? scores : malloc(s->S * sizeof(float));
    if (!sc) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_spk_score(&s->m, feat, sc);
    size_t b = 0;
    for (size_t k = 1; k < s->S; k++) if (sc[k] > sc[b]) b = k;
    if (best) *best = sc[b] >= es_speakers_threshold(s) ? (int)b : -1;
    if (best_score) *best_score = sc[b];
    if (!scores) free(sc);
    return ES_OK;
}

es_status es_speaker_identify(es_speakers *s, es_engine *e, const float *x, size_t n, int *best, float *score, es_error *err)
{
    if (!s || !e) return es_fail(err, ES_ERR_ARG, "es_speaker_identify: invalid arguments");
    es_status chk = es_engine_check_made_with(e, "speaker profiles", s->enc_sha, s->mel_sha, NULL, err);
    if (chk) return chk;
    float f[ES_SPK_DIM];
    es_status st = es_speaker_features(e, x, n, f, err);
    if (st) return st;
    return es_speakers_score(s, f, NULL, best, score, err);
}

es_status es_speaker_verify(es_speakers *s, es_engine *e, const char *name, const float *x, size_t n, float *score,
                            int *accept, es_error *err)
{
    if (!s || !e || !name || !score || !accept) return es_fail(err, ES_ERR_ARG, "es_speaker_verify: invalid arguments");
    size_t k = es_speakers_find(s, name);
    if (k == s->S) return es_fail(err, ES_ERR_ARG, "speaker '%s' is not enrolled", name);
    es_status chk = es_engine_check_made_with(e, "speaker profiles", s->enc_sha, s->mel_sha, NULL, err);
    if (chk) return chk;
    float f[ES_SPK_DIM];
    es_status st = es_speaker_features(e, x, n, f, err);
    if (st) return st;
    float *sc = malloc(s->S * sizeof(float));
    if (!sc) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    if (!(st = es_speakers_score(s, f, sc, NULL, NULL, err))) {
        *score = sc[k];
        *accept = sc[k] >= es_speakers_threshold(s);
    }
    free(sc);
    return st;
}

es_status es_speakers_save(const es_speakers *s, const char *path, es_error *err)
{
    if (!s || !path) return es_fail(err, ES_ERR_ARG, "es_speakers_save: invalid arguments");
    if (!s->S) return es_fail(err, ES_ERR_ARG, "%s: no speakers to save", path);
    float *y = malloc(s->N * sizeof(float));
    cJSON *names = cJSON_CreateArray();
    char *jn = NULL;
    es_status st = ES_OK;
    if (!y || !names) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < s->N; i++) y[i] = (float)s->spk[i];
    for (size_t k = 0; k < s->S; k++) cJSON_AddItemToArray(names, cJSON_CreateString(s->names[k]));
    if (!(jn = cJSON_PrintUnformatted(names))) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    char ver[16], thr[32];
    snprintf(ver, sizeof ver, "%d", ES_SPK_VERSION);
    if (isnan(s->threshold)) snprintf(thr, sizeof thr, "auto");
    else {
        /* "0.500000" in every locale (es_c_locale_push): the reader's strtod
         * runs in the C locale too */
        locale_t was = es_c_locale_push();
        snprintf(thr, sizeof thr, "%.6f", s->threshold);
        es_c_locale_pop(was);
    }
    const char *keys[] = {"earshot.format", "earshot.profile_version", "earshot.version", "earshot.commit", "encoder_sha256",
                          "melspectrogram_sha256", "representation", "speakers", "threshold", "background"};
    const char *vals[] = {ES_SPK_FORMAT, ver, ES_VERSION, es_version_commit(), s->enc_sha, s->mel_sha, REPRESENTATION, jn, thr, s->bg_desc};
    es_st_tensor t[3] = {{.name = "takes", .ndim = 3, .shape = {(int64_t)s->N, ES_SPK_SEGS + 1, ES_SPK_VEC}, .data = s->X},
                         {.name = "speaker", .ndim = 1, .shape = {(int64_t)s->N}, .data = y},
                         {.name = "background", .ndim = 2, .shape = {ES_SPK_VEC, ES_SPK_VEC}, .data = s->bg}};
    size_t nmeta = sizeof keys / sizeof keys[0] - (s->bg ? 0 : 1);
    st = es_st_write(path, t, s->bg ? 3 : 2, keys, vals, nmeta, err);
out:
    free(y);
    free(jn);
    cJSON_Delete(names);
    return st;
}

static es_speakers *parse_fail(es_speakers *s, cJSON *j, es_error *err, const char *name, const char *why)
{
    es_fail(err, ES_ERR_FORMAT, "%s: not a valid speaker profile file: %s", name, why);
    cJSON_Delete(j);
    es_speakers_free(s);
    return NULL;
}

static int is_hex64(const char *h)
{
    if (!h || strlen(h) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) return 0;
    return 1;
}

es_speakers *es_speakers_parse(const unsigned char *buf, size_t len, const char *name, es_engine *e, es_error *err)
{
    if (!name) name = "speaker profiles";
    es_st *st = es_st_parse(buf, len, name, err);
    if (!st) return NULL;
    es_speakers *s = calloc(1, sizeof *s);
    cJSON *j = NULL;
    if (!s) { es_st_free(st); es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    const char *fmt = es_st_meta(st, "earshot.format"), *ver = es_st_meta(st, "earshot.profile_version");
    const char *enc = es_st_meta(st, "encoder_sha256"), *mel = es_st_meta(st, "melspectrogram_sha256");
    const char *rep = es_st_meta(st, "representation"), *thr = es_st_meta(st, "threshold");
    const char *why = NULL;
    /* each number its own end pointer: one shared end let a good threshold
     * hide a version like "3abc", and "" parsed as the number 0 */
    char *vend = NULL, *tend = NULL;
    long v = ver ? strtol(ver, &vend, 10) : 0;
    int t_auto = thr && !strcmp(thr, "auto");
    /* the file's "0.500000" in the C locale: under a program's de_DE strtod
     * stopped at the '.' and every profile was refused */
    locale_t was = es_c_locale_push();
    double t = thr && !t_auto ? strtod(thr, &tend) : NAN;
    es_c_locale_pop(was);
    if (!fmt || strcmp(fmt, ES_SPK_FORMAT)) why = "no earshot.format \"" ES_SPK_FORMAT "\" in its metadata";
    else if (!ver || vend == ver || *vend || v < 1) why = "earshot.profile_version missing or not a positive integer";
    else if (!is_hex64(enc) || !is_hex64(mel)) why = "encoder_sha256 / melspectrogram_sha256 missing or malformed";
    else if (!thr || (!t_auto && (tend == thr || *tend || !(t >= 0 && t <= 1))))
        why = "threshold missing, not \"auto\" and not a number from 0 to 1";
    if (why) { es_st_free(st); return parse_fail(s, j, err, name, why); }
    if (v > ES_SPK_VERSION) {
        es_st_free(st);
        es_speakers_free(s);
        es_fail(err, ES_ERR_UNSUPPORTED, "%s: speaker profile version %ld is newer than this earshot reads (%d); upgrade earshot",
                name, v, ES_SPK_VERSION);
        return NULL;
    }
    if (v < ES_SPK_VERSION) {
        es_st_free(st);
        es_speakers_free(s);
        es_fail(err, ES_ERR_MODEL, "%s: speaker profile version %ld was made by an older earshot with another speaker "
                "representation; enroll the speakers again", name, v);
        return NULL;
    }
    if (!rep || strcmp(rep, REPRESENTATION)) {
        es_st_free(st);
        es_speakers_free(s);
        es_fail(err, ES_ERR_MODEL, "%s: made with another speaker representation; enroll the speakers again", name);
        return NULL;
    }
    if (e && es_engine_check_made_with(e, name, enc, mel, "enroll the speakers again", err)) {
        es_st_free(st);
        es_speakers_free(s);
        return NULL;
    }
    memcpy(s->enc_sha, enc, 65);
    memcpy(s->mel_sha, mel, 65);
    s->threshold = t;
    j = cJSON_Parse(es_st_meta(st, "speakers") ? es_st_meta(st, "speakers") : "");
    const es_st_tensor *tx = es_st_get(st, "takes"), *ty = es_st_get(st, "speaker");
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) < 1) why = "speakers missing or empty";
    else if (!tx || tx->ndim != 3 || tx->shape[1] != ES_SPK_SEGS + 1 || tx->shape[2] != ES_SPK_VEC || tx->shape[0] < 1)
        why = "tensor 'takes' missing or not [N][9][340]";
    else if (!ty || ty->ndim != 1 || ty->shape[0] != tx->shape[0]) why = "tensor 'speaker' missing or not [N]";
    const es_st_tensor *tb = es_st_get(st, "background");
    if (!why && es_st_count(st) != (tb ? 3u : 2u)) why = "tensors other than 'takes', 'speaker' and 'background'";
    if (!why && tb && (tb->ndim != 2 || tb->shape[0] != ES_SPK_VEC || tb->shape[1] != ES_SPK_VEC || !es_st_meta(st, "background")))
        why = "tensor 'background' is not [340][340] or has no description";
    if (why) { es_st_free(st); return parse_fail(s, j, err, name, why); }
    size_t S = (size_t)cJSON_GetArraySize(j), N = (size_t)tx->shape[0];
    s->names = calloc(S, sizeof(char *));
    s->X = malloc(N * ES_SPK_DIM * sizeof(float));
    s->spk = malloc(N * sizeof(int));
    if (!s->names || !s->X || !s->spk) { es_st_free(st); cJSON_Delete(j); es_speakers_free(s); es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    for (size_t k = 0; k < S; k++) {
        const cJSON *it = cJSON_GetArrayItem(j, (int)k);
        if (!cJSON_IsString(it) || !valid_name(it->valuestring)) { why = "a speaker name is not valid text"; break; }
        for (size_t q = 0; q < k && !why; q++) if (!strcmp(s->names[q], it->valuestring)) why = "a speaker name appears twice";
        if (why) break;
        if (!(s->names[k] = strdup(it->valuestring))) { why = "out of memory"; break; }
        s->S = k + 1;
    }
    if (!why) {
        memcpy(s->X, tx->data, N * ES_SPK_DIM * sizeof(float));
        for (size_t i = 0; i < N * ES_SPK_DIM && !why; i++) if (!isfinite(s->X[i])) why = "a take's value is not finite";
        for (size_t i = 0; i < N && !why; i++) {
            float f = ty->data[i];
            if (!(f >= 0 && f < (float)S) || f != (float)(int)f) why = "a take's speaker index is out of range";
            else s->spk[i] = (int)f;
        }
        s->N = N;
        for (size_t k = 0; k < S && !why; k++) if (!es_speakers_takes(s, k)) why = "a speaker has no takes";
    }
    if (!why && tb) {
        /* a covariance: finite, symmetric, non-negative variances */
        const int D = ES_SPK_VEC;
        for (int i = 0; i < D && !why; i++)
            for (int j = 0; j < D && !why; j++) {
                float v = tb->data[i * D + j];
                if (!isfinite(v) || v != tb->data[j * D + i] || (i == j && !(v >= 0)))
                    why = "tensor 'background' is not a covariance (finite, symmetric, variances >= 0)";
            }
        if (!why) {
            s->bg = malloc((size_t)D * D * sizeof(float));
            s->bg_desc = strdup(es_st_meta(st, "background"));
            if (!s->bg || !s->bg_desc) why = "out of memory";
            else memcpy(s->bg, tb->data, (size_t)D * D * sizeof(float));
        }
    }
    es_st_free(st);
    if (why) return parse_fail(s, j, err, name, why);
    cJSON_Delete(j);
    return s;
}

es_speakers *es_speakers_load(const char *path, es_engine *e, es_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    if (!path) { es_fail(err, ES_ERR_ARG, "es_speakers_load: no path"); return NULL; }
    if (es_read_file(path, &buf, &len, err)) return NULL;
    es_speakers *s = es_speakers_parse(buf, len, path, e, err);
    free(buf);
    return s;
}

/* ------------------------------------------------------------ background from a folder */

typedef struct {
    es_engine *e;
    const es_dataset *d;
    float *F;
    es_status *st;
    char (*msg)[512];
    es_progress_fn progress;
    void *user;
    size_t done;
    pthread_mutex_t lock;
} bg_job;

static void bg_one(void *ctx, int i)
{
    bg_job *j = ctx;
    es_load_opts lo = {.quantize_int16 = 1};
    es_audio a = {0};
    es_error err = {0};
    const char *path = j->d->items[i].path;
    j->st[i] = es_audio_load(path, &lo, &a, &err);
    if (!j->st[i]) {
        j->st[i] = es_speaker_features(j->e, a.samples, a.n, j->F + (size_t)i * ES_SPK_DIM, &err);
        if (j->st[i]) snprintf(j->msg[i], sizeof j->msg[i], "%.200s: %.300s", path, err.msg);
    } else {
        snprintf(j->msg[i], sizeof j->msg[i], "%.500s", err.msg);
    }
    es_audio_free(&a);
    pthread_mutex_lock(&j->lock);
    j->done++;
    if (j->progress) j->progress(j->user, "background", j->done, j->d->nitems);
    pthread_mutex_unlock(&j->lock);
}

es_status es_speakers_background_from_dir(es_speakers *s, es_engine *e, const char *dir, const char *pattern,
                                          int keep_threshold, es_progress_fn progress, void *user, es_error *err)
{
    if (!s || !e || !dir) return es_fail(err, ES_ERR_ARG, "es_speakers_background_from_dir: invalid arguments");
    es_dataset *d = NULL;
    size_t skipped = 0;
    /* any number of labels: they are speakers (folders) or words, and two
     * speakers saying one word make a background; the count of speakers
     * is checked below, in the words of a background */
    es_status st = es_dataset_scan_test(dir, pattern, &d, &skipped, err);
    if (st) return st;
    size_t n = d->nitems;
    float *F = malloc((n + 1) * ES_SPK_DIM * sizeof(float));
    es_status *sts = calloc(n + 1, sizeof *sts);
    char (*msg)[512] = calloc(n + 1, sizeof *msg);
    int *spk = malloc((n + 1) * sizeof(int));
    char **names = calloc(n + 1, sizeof(char *));
    int S = 0;
    if (!F || !sts || !msg || !spk || !names) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    /* speakers: {speaker} when the pattern names one, else the folder */
    for (size_t i = 0; i < n; i++) {
        const char *who = pattern ? d->items[i].speaker : d->labels[d->items[i].label];
        if (!who || !*who) { st = es_fail(err, ES_ERR_ARG, "%s: the pattern names no {speaker} for %s", dir, d->items[i].path); goto out; }
        int k = 0;
        while (k < S && strcmp(names[k], who)) k++;
        if (k == S) names[S++] = (char *)who;
        spk[i] = k;
    }
    if (S < 2 || n <= (size_t)S)
        { st = es_fail(err, ES_ERR_ARG, "%s: a background needs several takes of at least two speakers (%d speakers, %zu clips)", dir, S, n); goto out; }
    bg_job j = {e, d, F, sts, msg, progress, user, 0, PTHREAD_MUTEX_INITIALIZER};
    es_parallel_for((int)n, bg_one, &j);
    pthread_mutex_destroy(&j.lock);
    for (size_t i = 0; i < n; i++)
        if (sts[i]) { st = es_fail(err, sts[i], "%s", msg[i]); goto out; }
    char desc[1024];
    locale_t was = es_c_locale_push();   /* JSON numbers: "beta":0.5, never 0,5 */
    snprintf(desc, sizeof desc, "{\"source\":\"%s\",\"clips\":%zu,\"speakers\":%d,\"beta\":%g}", dir, n, S, ES_SPK_BETA);
    es_c_locale_pop(was);
    /* the folder name may hold characters JSON must escape: build it properly */
    cJSON *jd = cJSON_CreateObject();
    cJSON_AddStringToObject(jd, "source", dir);
    cJSON_AddNumberToObject(jd, "clips", (double)n);
    cJSON_AddNumberToObject(jd, "speakers", S);
    cJSON_AddNumberToObject(jd, "beta", ES_SPK_BETA);
    char *js = es_utf8_fix(cJSON_PrintUnformatted(jd));   /* the file must be UTF-8; the folder need not be */
    cJSON_Delete(jd);
    st = es_speakers_set_background(s, F, spk, n, S, js ? js : desc, keep_threshold, err);
    free(js);
out:
    free(F); free(sts); free(msg); free(spk); free(names);
    es_dataset_free(d);
    return st;
}
