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

size_t es_classifier_encoder_tensor_count(const es_classifier *c);
const es_st_tensor *es_classifier_encoder_tensor(const es_classifier *c, size_t i);
/* 64 hex digits; the card's encoder_sha256 when nothing is overridden */
const char *es_classifier_encoder_id(const es_classifier *c);

#endif
