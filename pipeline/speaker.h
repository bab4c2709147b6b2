/*
 * pipeline/speaker.h — speaker representation and scoring internals
 * (the public API is in earshot.h; see speaker.c for what and why).
 */
#ifndef ES_SPEAKER_H
#define ES_SPEAKER_H

#include "es_internal.h"

/* layout of the representation (ES_SPK_DIM floats) */
#define ES_SPK_ALPHA 0.25   /* correlation shrinkage, chosen on FSDD (es_speaker_bench --explore) */
#define ES_SPK_THRESHOLD 0.35 /* cosine: the EER point on FSDD at 5 takes, open set (es_speaker_bench) */
#define ES_SPK_BETA 3.0      /* weight of a background covariance (es_speaker_bench --fsdd-background) */
#define ES_SPK_THRESHOLD_BG 0.28  /* the EER point with a background, open set, 5 takes */
#define ES_SPK_THRESHOLD_LONE 0.49  /* one speaker enrolled alone with a background of other
                                       speakers (es_speaker_bench --disjoint) */
#define ES_SPK_MEL 0        /* 32 log-mel means, 32 stds */
#define ES_SPK_SPEC 64      /* 64 band log-power means, 64 stds */
#define ES_SPK_PITCH 192    /* log2 F0 mean, std, mean peak, pitched fraction */

/* The WCCN scoring model fitted to enrolled takes X[N][ES_SPK_DIM] of S
 * speakers (spk[N] in [0, S), each speaker with at least one take). */
typedef struct {
    int S;
    float *mu;       /* [D] mean of all takes */
    double *L;       /* [D][D] lower Cholesky factor of the shrunk Sw */
    float *cent;     /* [S][D] mapped, unit-length centroids */
    const unsigned char *use;   /* [D] 1 = dimension used (NULL: all) */
} es_spk_model;

/* alpha: shrinkage of within-speaker correlations toward 0, in [0, 1].
 * use[ES_SPK_DIM] (NULL = all) selects dimensions, for experiments. */
/* prior[D][D] (NULL = none): a background within-speaker covariance
 * added with weight beta to the one of the enrolled takes. Vectors are
 * centred on the mean of the takes when there are two speakers or more;
 * with one, on centre[D] (the background's mean: the mean of one
 * speaker's takes is its own centroid, which would map to zero), and one
 * speaker without a centre is refused. */
es_status es_spk_fit(es_spk_model *m, const float *X, const int *spk, size_t N, int S, double alpha,
                     const float *prior, const float *centre, double beta, const unsigned char *use, es_error *err);
/* The pooled within-speaker covariance cov[D][D] (full, symmetric) of
 * takes X[N] of S speakers (N - S >= 1). */
es_status es_spk_within_cov(const float *X, const int *spk, size_t N, int S, float *cov, es_error *err);
void es_spk_model_free(es_spk_model *m);
/* cosine scores[S] of one raw vector against every speaker */
void es_spk_score(const es_spk_model *m, const float *x, float *scores);

#endif
