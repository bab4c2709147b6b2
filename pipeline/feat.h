/*
 * pipeline/feat.h — pooled clip features and the classifier over them
 * (internal), shared by the learning curve.
 *
 * A clip becomes, for each of `shifts` sub-step time offsets (the audio
 * delayed by k*80/shifts ms against the encoder's 80 ms grid, so each
 * offset gives genuinely different embeddings), its centre window of
 * embeddings pooled over time into one vector, optionally normalised.
 * Training takes every offset of a training clip as an example; prediction
 * averages the class probabilities over the offsets of a clip. Perturbed
 * copies of every clip (speed_perturb: tempo and pitch; warp_perturb: the
 * log-mel's frequency axis, es_mel_warp) are more training examples, and
 * with perturb_test also averaged in prediction, each copy weighted like
 * the clip's own variants together.
 *
 * The classifier is the trained head (linear or MLP, es_mlp over the
 * pooled vector), optionally mixed with a nearest-class-mean classifier
 * (cosine similarity to each label's mean training vector, softmax at a
 * temperature), which is strong when there are one or two clips per label.
 */
#ifndef ES_FEAT_H
#define ES_FEAT_H

#include "es_internal.h"
#include "dataset.h"

#include <stdint.h>

typedef struct es_feat es_feat;
typedef struct es_feat_model es_feat_model;

/* Embed every item of d (through the embedding cache, o->cache_dir) at
 * o->shifts offsets, take the centre o->window embeddings, pool them
 * (o->pooling) and normalise (o->norm). progress: cache-style callback. */
es_status es_feat_build(es_engine *e, const es_dataset *d, const es_train_opts *o,
                        void (*progress)(void *user, size_t done, size_t total, size_t hits), void *user, es_feat **out,
                        es_error *err);
void es_feat_free(es_feat *f);
/* Features given directly, x [S][n][P] (copied): for tests and callers
 * with vectors of their own. */
es_feat *es_feat_from_rows(const float *x, size_t S, size_t n, size_t P, es_error *err);
/* Mark f's S variants as offsets x Q positions built for --shifts auto
 * (variant s = offset s / Q, position s % Q), as es_feat_build does with
 * shifts = -1: es_feat_fit then keeps every offset or offset 0 alone by
 * es_shifts_auto. For tests of that rule on known vectors. */
void es_feat_set_auto_shifts(es_feat *f, size_t Q);
/* Mark the last (always + perturbed) x Q variants of f (Q as set by
 * es_feat_set_auto_shifts, else 1) as copies of the clip, as es_feat_build
 * makes them: training rows all; the first `always` are averaged in
 * prediction (as the other front end's copy, frontend_copy), the other
 * `perturbed` only with perturb_test (as speed_perturb / warp_perturb
 * make them). For tests. */
void es_feat_set_copies(es_feat *f, size_t always, size_t perturbed);
/* Mark those copies as built for auto (as es_feat_build does with
 * frontend_copy = -1, speed_perturb = -1): fe the `always` ones, speed the
 * `perturbed` ones; es_feat_fit then keeps or drops them by the rule of
 * es_frontend_copy_auto / es_speed_perturb_auto, and averages the speed
 * copies it keeps in prediction. For tests of that rule. */
void es_feat_set_auto_copies(es_feat *f, int fe, int speed);
size_t es_feat_dim(const es_feat *f);      /* P: floats per pooled vector */
size_t es_feat_shifts(const es_feat *f);
/* The pooled vector of item i at offset s. */
const float *es_feat_row(const es_feat *f, size_t s, size_t i);

/* The pooled windows of A augmented variants (es_aug_embed, the recipes
 * and seed of o, as es_train_head makes them) of items[m], for
 * es_feat_fit to train on when es_aug_auto(o->augment, clips per label)
 * asks for A variants (features that never had any added, as from
 * es_feat_from_rows, train without). */
es_status es_feat_add_aug(es_feat *f, es_engine *e, const es_dataset *d, const size_t *items, size_t m, const es_train_opts *o,
                          int A, es_error *err);

/* Train the classifier on items idx[n] (labels from d) with the head
 * settings of o (hidden, dropout, lr, weight decay, epochs, min_steps,
 * batch, balance, proto) and this seed; no validation. */
es_status es_feat_fit(const es_feat *f, const size_t *idx, size_t n, const es_dataset *d, const es_train_opts *o,
                      uint64_t seed, es_feat_model **out, es_error *err);
/* Predicted label per item (averaged over offsets); probs [n][K] may be NULL. */
es_status es_feat_predict(es_feat_model *m, const es_feat *f, const size_t *idx, size_t n, int *pred, float *probs,
                          es_error *err);
void es_feat_model_free(es_feat_model *m);

/* The from-scratch baseline (pipeline/train.c), for the learning curve:
 * its log-mel input windows for every item of d (x [nitems][*row]), and
 * one training of the CNN + head on items idx[n] that predicts items
 * tidx[nt] (pred[nt]), with the head settings of o and no validation. */
es_status es_scratch_prep(es_engine *e, const es_dataset *d, const es_train_opts *o, float **x, size_t *row,
                          es_error *err);
es_status es_scratch_fit_predict(const float *x, size_t row, const es_dataset *d, const size_t *idx, size_t n,
                                 const size_t *tidx, size_t nt, const es_train_opts *o, uint64_t seed, int *pred,
                                 es_error *err);

#endif
