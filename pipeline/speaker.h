/*
 * pipeline/speaker.h — speaker representation and scoring internals
 * (the public API is in earshot.h; see speaker.c for what and why).
 */
#ifndef ES_SPEAKER_H
#define ES_SPEAKER_H

#include "es_internal.h"
#include <stdint.h>

/* layout of one pooled vector (ES_SPK_VEC floats) */
#define ES_SPK_ALPHA 0.25   /* correlation shrinkage, chosen on FSDD (es_speaker_bench --explore) */
#define ES_SPK_BETA 0.3      /* weight of a background covariance (es_speaker_bench --background) */
/* Default thresholds on the score: the equal-error points measured on
 * FSDD (es_speaker_bench --draws 10; bench/README.md), open set (3 of the
 * 6 speakers enrolled) when several speakers are enrolled; the background
 * is `--background synth`'s (es_speaker_bench --synth 64). The score's
 * scale moves with what the projection is fitted from: with or without a
 * background, one speaker or several, and the number of takes each has
 * (a lone speaker's point is 0.20 at 5 takes, 0.71 at 50; a fixed 0.20
 * let impostors through a 50-take profile). So each case has its row,
 * by takes per speaker (ES_SPK_THRESHOLD_K), interpolated in log(takes). */
#define ES_SPK_THRESHOLD_NK 6
#define ES_SPK_THRESHOLD_K {1, 3, 5, 10, 20, 50}
#define ES_SPK_THRESHOLD {0.00, 0.23, 0.43, 0.62, 0.73, 0.78}          /* no background */
#define ES_SPK_THRESHOLD_BG {0.45, 0.68, 0.75, 0.80, 0.84, 0.86}       /* with a background */
#define ES_SPK_THRESHOLD_LONE {0.00, 0.06, 0.20, 0.42, 0.60, 0.71}     /* one speaker, no background (--single) */
#define ES_SPK_THRESHOLD_LONE_BG {0.43, 0.66, 0.71, 0.77, 0.81, 0.84}  /* one speaker, a background (--single --synth 64) */
#define ES_SPK_MEL 0        /* 32 log-mel means, 32 stds */
#define ES_SPK_SPEC 64      /* 64 band log-power means, 64 stds */
#define ES_SPK_PITCH 192    /* log2 F0 mean, std, mean peak, pitched fraction */
#define ES_SPK_ENC 196      /* encoder activations, mean and std per channel: */
#define ES_SPK_ENC_DEPTHS 2 /* after the first 2 and the first 4 convolutions */
#define ES_SPK_ENC_C1 24    /*   24 channels (means, then stds) */
#define ES_SPK_ENC_C2 48    /*   then 48 */

/* The scoring model fitted to enrolled takes. */
typedef struct {
    int S;
    float *mu;       /* [D] mean of all vectors */
    double *L;       /* [D][D] lower Cholesky factor of the shrunk Sw */
    float *cent;     /* [S][D] whitened centroids of the whole takes */
    int dims;        /* dimensions used */
    const unsigned char *use;   /* [D] 1 = dimension used (NULL: all) */
} es_spk_model;

/* X[N][nvec][ES_SPK_VEC]: N takes of nvec vectors each (the whole take's
 * first, then its sub-windows), of S speakers (spk[N] in [0, S), each
 * speaker with at least one take). Sw is the scatter of all vectors
 * around their speaker's mean; the centroids are the whole takes' means.
 * alpha: shrinkage of within-speaker correlations toward 0, in [0, 1].
 * prior[D][D] (NULL = none): a background within-speaker covariance
 * added with weight beta. use[ES_SPK_VEC] (NULL = all) selects
 * dimensions, for experiments. */
es_status es_spk_fit(es_spk_model *m, const float *X, const int *spk, size_t N, int nvec, int S, double alpha,
                     const float *prior, double beta, const unsigned char *use, es_error *err);
/* The pooled within-speaker covariance cov[D][D] (full, symmetric) of
 * vectors X[N][ES_SPK_VEC] of S speakers (N - S >= 1). */
es_status es_spk_within_cov(const float *X, const int *spk, size_t N, int S, float *cov, es_error *err);
void es_spk_model_free(es_spk_model *m);
/* z[D] = L^-1 (x - mu): a vector in the whitened space */
void es_spk_whiten(const es_spk_model *m, const float *x, double *z);
/* scores[S] in (0, 1] of one whole-clip vector x[ES_SPK_VEC] against
 * every speaker */
void es_spk_score(const es_spk_model *m, const float *x, float *scores);

/* speaker_synth.c: the takes of `voices` synthetic voices (the
 * background of es_speakers_background_synth): *feats[*n][ES_SPK_DIM],
 * *spk[*n] in [0, voices), both malloc'd. */
es_status es_spk_synth_voices(es_engine *e, int voices, int takes, uint64_t seed, float **feats, int **spk, size_t *n,
                              es_progress_fn progress, void *user, es_error *err);
/* bass (250 Hz) and treble (3 kHz) first-order shelves, in dB, in place */
void es_spk_shelves(float *x, size_t n, double bass_db, double treble_db);

#endif
