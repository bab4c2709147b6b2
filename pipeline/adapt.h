/*
 * pipeline/adapt.h — speaker adaptation of a trained keyword head
 * (internal; `earshot adapt` and the benchmark use it).
 *
 * A model trained by `earshot train` stores a rehearsal buffer: up to
 * ES_REHEARSAL_PER_CLASS training windows per label (tensors
 * "rehearsal.x" [R][W*96] and "rehearsal.y" [R], labels as floats), picked
 * with the training seed. Adaptation fine-tunes the head on a few takes of
 * one speaker with one of five ways to keep what it knew:
 *   naive      plain fine-tuning (forgets; the baseline)
 *   l2sp       + lambda/2 * sum (theta - theta0)^2   (L2-SP, Li et al. 2018)
 *   ewc        + lambda/2 * sum F_i (theta - theta0)^2, F the diagonal
 *              empirical Fisher of the original model on the rehearsal
 *              buffer, scaled to mean 1 (Kirkpatrick et al. 2017)
 *   rehearsal  every batch also holds as many rehearsal windows as
 *              speaker takes (Robins 1995; "experience replay")
 *   ewc+rehearsal  both: the EWC penalty and the mixed batches
 */
#ifndef ES_ADAPT_H
#define ES_ADAPT_H

#include "es_internal.h"
#include "../model/nn.h"
#include "../model/safetensors.h"
#include "dataset.h"

/* 32 windows per label (1 MB for 11 labels of 8 embeddings): with
 * ewc+rehearsal at k = 3 (bench/es_adapt_bench, seed 1) a buffer of 8
 * forgot 0.80 points of retention, 16 0.49, 32 0.31, at the same target */
#define ES_REHEARSAL_PER_CLASS 32
/* What a model must reject (its _unknown_ class, or a wake-word model's
 * other) keeps up to ES_REHEARSAL_OTHER rows, and the long-form other
 * talk it was trained on (train --negatives) ES_REHEARSAL_TALK windows
 * more. With 32 and none, adapting the README's mixed model to one voice
 * (3 takes of each word, ewc+rehearsal) took its events on held-out real
 * talk (bench/false_accepts.sh's FSDD speakers) from 50 / 19 / 1 to 122
 * / 71 / 27 at thresholds 0.5 / 0.7 / 0.9; with all its 104 _unknown_
 * rows 57 / 25 / 4. Trained with --negatives: 5 / 2 / 1 before adapting,
 * 31 / 13 / 4 after, 13 / 8 / 0 with 64 talk windows, 4 / 1 / 0 with 128,
 * 5 / 1 / 0 with 256. */
#define ES_REHEARSAL_OTHER 128
#define ES_REHEARSAL_TALK 128
/* chosen on FSDD with bench/es_adapt_bench --ks 3 --draws 3 (lambda 0.01,
 * 0.03, 0.1, 0.3, 1): the smallest retention loss at nearly the same gain */
#define ES_ADAPT_LAMBDA_L2SP 0.03f
#define ES_ADAPT_LAMBDA_EWC 0.3f
#define ES_ADAPT_LAMBDA_EWC_REHEARSAL 0.3f   /* as ewc's (lambda 0.1: more target, more forgetting) */
#define ES_REHEARSAL_X "rehearsal.x"
#define ES_REHEARSAL_Y "rehearsal.y"
/* [labels][96]: each label's mean embedding over its training clips, which
 * es_selfadapt measures a voice's offset against. Named under rehearsal.
 * so that older earshots, which pass rehearsal.* through, still load and
 * adapt such a model. */
#define ES_CLASS_MEANS "rehearsal.means"

/* train.c internals adapt.c builds on */
es_mlp *es_classifier_mlp(es_classifier *c);
const es_st *es_classifier_st(const es_classifier *c);
const float *es_classifier_class_means(const es_classifier *c);   /* ES_CLASS_MEANS or NULL */
/* the centre `window` embeddings of every item: x [n][window*96] (cached) */
es_status es_train_embed(es_engine *e, const char *cache_dir, const es_dataset *d, double pad_to, es_embed_mode mode,
                         size_t window,
                         float **x, es_progress_fn progress, void *user, es_error *err);
/* the input of the encoder's last K convolutions for the centre `window`
 * of every item (the frames es_train_embed's embeddings come from):
 * x [n][row], row = es_cnn_in_size(es_encoder_tail(...)); not cached */
es_status es_train_prep_tail(es_engine *e, const es_dataset *d, double pad_to, es_embed_mode mode, size_t window, int K,
                             size_t row, float **x, es_error *err);
/* up to per_class rows of each class (of class `other`, if >= 0, up to
 * other_per_class), seeded; idx must hold n; returns the count */
size_t es_rehearsal_pick(const int *y, size_t n, int K, int per_class, int other, int other_per_class, uint64_t seed,
                         size_t *idx);

/* anchor penalty: loss = lam/2 * sum_i f_i (p_i - a_i)^2 over n
 * parameters (f NULL = all 1; returned in double);
 * backward: g_i += lam * f_i * (p_i - a_i)   (accumulates, as nn.h) */
double es_anchor_forward(const float *p, const float *a, const float *f, size_t n, float lam);
void es_anchor_backward(float *g, const float *p, const float *a, const float *f, size_t n, float lam);

/* Diagonal empirical Fisher of m at its current parameters: fisher[np] =
 * mean over the n rows of (d loss_row / d theta)^2, then scaled to mean 1
 * (all zero stays zero). Evaluation mode (no dropout). */
es_status es_fisher_diag(es_mlp *m, const float *x, const int *y, size_t n, float *fisher, es_error *err);

/* The speaker's takes as training windows, more than one per take: the
 * centre `window` embeddings (as es_train_embed takes them) of each clip
 * delayed by v*80/shifts ms against the encoder's 80 ms grid, v = 0 ..
 * shifts-1 (genuinely different embeddings of the same audio, as
 * pipeline/feat.c makes them), then, when speed > 0, of the clip played
 * at 1-speed and 1+speed (pitch and tempo together), then, when
 * frontend_copy, of the clip through the other front end (the model's
 * front-end copy, which its predictions average in); each of those at
 * `positions` (odd) window positions a whole embedding apart around its
 * centre. Through the embedding cache. x [V][n][window*96], V =
 * (shifts + (speed > 0 ? 2 : 0) + !!frontend_copy) * positions in *nvar;
 * variant (positions-1)/2 is es_train_embed's. */
#define ES_ADAPT_MAX_SHIFTS 16
es_status es_adapt_embed_takes(es_engine *e, const char *cache_dir, const char *const *paths, size_t n, double pad_to,
                               es_embed_mode mode, size_t window, int shifts, int positions, double speed,
                               int frontend_copy, float **x, size_t *nvar, es_progress_fn progress, void *user,
                               es_error *err);

typedef struct {
    es_adapt_method method;
    int steps;            /* optimiser steps */
    int batch;            /* speaker takes per batch (capped at what there is) */
    float lr;
    float lambda;         /* penalty strength for l2sp / ewc */
    uint64_t seed;
    float net_lr;         /* es_adapt_net: the encoder layers' learning rate */
    float net_lambda;     /* and their L2-SP strength (any method but naive) */
    int params;           /* which head parameters learn: ES_ADAPT_PARAMS_* */
} es_adapt_cfg;
#define ES_ADAPT_PARAMS_ALL 0
#define ES_ADAPT_PARAMS_OUTPUT 1   /* the output layer only */
#define ES_ADAPT_PARAMS_BIAS 2     /* biases only (LayerNorm's too) */

/* Speaker normalisation folded into the head's first layer: with z the
 * pooled features of a row, the head then computes W (a.z + c) + b =
 * (W diag a) z + (W c + b), where c = mu_buf - a.mu_spk moves the mean of
 * the speaker's rows x[n] onto the mean of the buffer's rows rx[nr] (only
 * those of the labels in y), and a = sd_buf / sd_spk (clamped to
 * [0.5, 2]) when scale is set, else 1. The same change applies to every
 * input, the speaker's or anyone else's. */
es_status es_adapt_normalise(es_mlp *m, const float *x, const int *y, size_t n, const float *rx, const int *ry, size_t nr,
                             int scale, es_error *err);

/* Fine-tune m in place on x[n] (the speaker's takes, labels y) from its
 * current parameters (theta0). rx/ry[nr] is the rehearsal buffer (needed
 * by ewc and rehearsal). On error m is unchanged. */
es_status es_adapt_mlp(es_mlp *m, const float *x, const int *y, size_t n, const float *rx, const int *ry, size_t nr,
                       const es_adapt_cfg *cfg, es_error *err);

/* The same with the encoder's last layers under the head: x[n] are their
 * inputs (es_train_prep_tail), net (es_encoder_tail) is trained with the
 * head at cfg->net_lr, held to its starting weights by an L2-SP penalty
 * (net_lambda) for every method but naive. The buffer rx (embeddings of
 * the pretrained encoder) only estimates the head's Fisher for ewc;
 * rehearsal is refused. On error m and net are unchanged. */
struct es_cnn;
es_status es_adapt_net(es_mlp *m, struct es_cnn *net, const float *x, const int *y, size_t n, const float *rx,
                       const int *ry, size_t nr, const es_adapt_cfg *cfg, es_error *err);

#endif
