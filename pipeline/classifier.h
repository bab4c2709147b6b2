/*
 * pipeline/classifier.h — what the engine needs to know of a trained
 * classifier (internal).
 *
 * A fine-tuned model carries the tensors of its last K encoder
 * convolutions under their ONNX initializer names; an engine made for it
 * runs the encoder with those tensors instead of the pretrained ones. Its
 * "encoder identity" (the SHA-256 of the file's encoder hash and every
 * override tensor's name, shape and bytes) keys the embedding cache, so
 * embeddings of a fine-tuned encoder never mix with the pretrained ones.
 */
#ifndef ES_CLASSIFIER_H
#define ES_CLASSIFIER_H

#include "es_internal.h"
#include "../model/safetensors.h"
#include "../model/nn.h"

size_t es_classifier_encoder_tensor_count(const es_classifier *c);
const es_st_tensor *es_classifier_encoder_tensor(const es_classifier *c, size_t i);
/* 64 hex digits; the card's encoder_sha256 when nothing is overridden */
const char *es_classifier_encoder_id(const es_classifier *c);

/* The ensemble: heads trained with different seeds whose probabilities
 * are averaged (architecture.ensemble; 1 for older model files). Head 0 is
 * es_classifier_mlp. */
int es_classifier_heads(const es_classifier *c);
es_mlp *es_classifier_head(es_classifier *c, int k);
/* The test-time variants the model card names (architecture.shifts and
 * .positions, 1 = none): es_classifier_predict_audio and es_eval average
 * over shifts x positions windows of a clip. A streaming caller sees one
 * window per step and cannot make sub-step offsets. */
int es_classifier_shifts(const es_classifier *c);
int es_classifier_positions(const es_classifier *c);
/* The speeds of the clip's speed-perturbed copies that are averaged in too
 * (architecture.speeds; 0 = none, older files and the default); speeds
 * (may be NULL) receives them, at most 4. */
int es_classifier_speeds(const es_classifier *c, double *speeds);
/* 1 when a copy of the clip through the other front end (whole-clip
 * log-mel for a stream model) is averaged in too (architecture.frontend_copy). */
int es_classifier_frontend_copy(const es_classifier *c);
/* The name head k's tensor `name` has in a model file: head 0 keeps the
 * bare name, head k > 0 has "heads.<k>.<name>". */
void es_classifier_head_tensor_name(char *dst, size_t cap, int k, const char *name);
/* The least padding (seconds) with which every clip holds `positions`
 * windows of `window` embeddings around its centre, in front end `mode`
 * and, with other_too, the other one too: train and the model loader
 * centre clips in at least this much silence. */
double es_pad_needed(size_t window, int positions, es_embed_mode mode, int other_too);
/* The settings of es_train_opts that es_train_head and es_learning_curve
 * share, checked before any work: ES_ERR_ARG naming the first out of
 * range and its value. */
es_status es_train_opts_check(const es_train_opts *o, es_error *err);
/* probs [n][classes] for x [n][window*96]: the mean of the heads. */
es_status es_classifier_predict_rows(es_classifier *c, const float *x, size_t n, float *probs, es_error *err);

#endif
