/*
 * model/conv.h — convolutional layers with their backward passes, and a
 * small trainable stack of them (internal).
 *
 * Layout: channels last, a batch of N sequences, [N][T][F][C] (time x
 * frequency x channels), the layout model/encoder.c runs the pretrained
 * encoder in. Conventions as in nn.h: parameter gradients ACCUMULATE (+=),
 * the input gradient is OVERWRITTEN (=) and skipped when its pointer is NULL.
 *
 * Two users: fine-tuning (the last K convolutions of the pretrained encoder
 * become an es_cnn whose weights start from the ONNX file) and the
 * from-scratch baseline (a small es_cnn on the log-mel, random weights).
 */
#ifndef ES_CONV_H
#define ES_CONV_H

#include "earshot.h"
#include "nn.h"
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ layers */

/* conv2d, stride 1, zero padding pt (time) and pf (frequency) on both sides:
 *   x[N][T][F][ci] -> y[N][To][Fo][co],  To = T + 2pt - kt + 1, Fo = F + 2pf - kf + 1
 *   w[kt*kf*ci][co] (row index (dt*kf + df)*ci + c), b[co] (NULL: no bias)
 * computed as im2col + one sgemm: y[rows][co] = col[rows][kt*kf*ci] . w,
 * rows = N*To*Fo. col is caller scratch of es_conv2d_col_size floats.
 * backward: dw += col^T . dy;  db += sum_rows dy;  dx = col2im(dy . w^T)
 * (col is rebuilt from x, so the forward need not keep it). */
typedef struct {
    int N, T, F, ci, co, kt, kf, pt, pf;
} es_conv_shape;
int es_conv2d_out_t(const es_conv_shape *s);
int es_conv2d_out_f(const es_conv_shape *s);
size_t es_conv2d_col_size(const es_conv_shape *s);
void es_conv2d_forward(float *y, float *col, const float *x, const float *w, const float *b, const es_conv_shape *s);
void es_conv2d_backward(float *dx, float *dw, float *db, float *col, const float *dy, const float *x, const float *w,
                        const es_conv_shape *s);

/* max-pool with kernel = stride (qt, qf), no padding, floor:
 *   x[N][T][F][C] -> y[N][T/qt][F/qf][C]
 * forward records in arg[N*To*Fo*C] the index into x of each maximum (the
 * first on ties); backward: dx = 0, then dx[arg[i]] += dy[i]. */
void es_maxpool_forward(float *y, int *arg, const float *x, int N, int T, int F, int C, int qt, int qf);
void es_maxpool_backward(float *dx, const float *dy, const int *arg, size_t nx, size_t ny);

/* the encoder's activation: y = max(leaky(x), fl), leaky(x) = max(x, a*x)
 * for 0 <= a <= 1 (LeakyReLU(a) then Max with the constant fl).
 * backward: dx = dy * (leaky(x) < fl ? 0 : x > 0 ? 1 : a)  (dx may alias dy) */
void es_act_forward(float *y, const float *x, size_t n, float a, float fl);
void es_act_backward(float *dx, const float *dy, const float *x, size_t n, float a, float fl);

/* ------------------------------------------------------------ a stack */

typedef struct {
    int pool;              /* 0: conv (+ activation if act), 1: max-pool */
    int co, kt, kf, pt, pf, act;   /* conv */
    int nobias;            /* conv without a bias: its bias stays 0 and untrained */
    int qt, qf;            /* pool */
    char wname[96], bname[96];     /* conv tensor names in a model file */
} es_cnn_layer;

#define ES_CNN_MAX_LAYERS 32

typedef struct es_cnn es_cnn;

/* A chain of layers on inputs [B][T][F][C]; weights zero until set or
 * initialised. alpha/fl: the activation constants. */
es_cnn *es_cnn_create(const es_cnn_layer *layers, int n, int T, int F, int C, float alpha, float fl, es_error *err);
void es_cnn_free(es_cnn *c);
int es_cnn_nlayers(const es_cnn *c);
const es_cnn_layer *es_cnn_layer_at(const es_cnn *c, int i);
size_t es_cnn_in_size(const es_cnn *c);       /* T*F*C floats per example */
void es_cnn_in_shape(const es_cnn *c, int *T, int *F, int *C);
/* output per example: [To][Fo][Co]; the head sees W = To, D = Fo*Co */
void es_cnn_out_shape(const es_cnn *c, int *T, int *F, int *C);
size_t es_cnn_out_size(const es_cnn *c);
float *es_cnn_params(es_cnn *c, size_t *n);
float *es_cnn_grads(es_cnn *c, size_t *n);
const uint8_t *es_cnn_decay_mask(const es_cnn *c);   /* 1 on conv weights, 0 on biases */
void es_cnn_zero_grad(es_cnn *c);
/* conv i's weight [kt*kf*ci][co] and bias [co] inside the parameter buffer */
float *es_cnn_weight(es_cnn *c, int layer, size_t *n);
float *es_cnn_bias(es_cnn *c, int layer, size_t *n);
/* Kaiming-uniform (PyTorch's default for Conv2d: U(+-1/sqrt(fan_in)) for
 * weights and biases) from an es_rng seeded with seed. */
void es_cnn_init_random(es_cnn *c, uint64_t seed);
/* forward x[B][in] -> returns y[B][out] (owned by c, valid until the next
 * forward); keeps activations for the backward (and a pointer to x, which
 * must stay unchanged until then). NULL on out of memory. */
const float *es_cnn_forward(es_cnn *c, const float *x, int B, es_error *err);
/* from dy[B][out] of the last forward: ACCUMULATES the parameter gradients;
 * dx[B][in] (may be NULL) receives d loss / d x. */
es_status es_cnn_backward(es_cnn *c, const float *dy, float *dx, es_error *err);

/* ------------------------------------------- the encoder as a stack */

/* Implemented in encoder.c: the pretrained encoder's convolutions viewed as
 * es_cnn layers, so fine-tuning can train the last K of them. */
int es_encoder_nconv(const es_encoder *e);    /* 20 */
/* The layers from the first of the last K convolutions (the pools after it
 * included) to the end, with the pretrained weights, for inputs of T frames
 * at that point; also the shape of that input (*F, *C). K in [1, nconv]. */
es_cnn *es_encoder_tail(const es_encoder *e, int K, int T, es_error *err);
/* Frames at the input of the last K convolutions for `frames` mel frames,
 * and the floats per frame there. */
int es_encoder_tail_frames(const es_encoder *e, int K, int frames, size_t *per_frame);
/* Run everything before the last K convolutions on one sequence:
 * mel[frames][32] -> out[es_encoder_tail_frames(...)][per_frame]. */
es_status es_encoder_head_part(es_encoder *e, int K, const float *mel, int frames, float *out, es_error *err);
/* Where the frames es_encoder_head_part returns for K come from: frame t
 * of its output sees mel frames [stride*t, stride*t + width) (time
 * convolutions are unpadded, pools floor), and each frame is [F][C] with
 * *channels = C (frequency bins x channels = per_frame). Returns 0, or -1
 * for a K out of range. */
int es_encoder_head_span(const es_encoder *e, int K, int *stride, int *width, int *channels);
/* Replace a convolution's tensor, named by its ONNX initializer, with data
 * in the ONNX layout (weights [co][ci][kt][kf], bias [co]); the shape must
 * match. */
es_status es_encoder_override(es_encoder *e, const char *name, const float *data, const int *shape, int ndim,
                              es_error *err);
/* ONNX names of conv i's weight and bias ("" if it has none). */
const char *es_encoder_conv_name(const es_encoder *e, int i, int bias);

#endif
