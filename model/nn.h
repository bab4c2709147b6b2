/*
 * model/nn.h — the training core for classifier heads over embeddings
 * (internal; the pipeline's `train` and the model-file code use it).
 *
 * Layers are forward/backward pairs on batches, row-major, shapes in the
 * comments ([B][C] = B rows of C floats). Conventions shared by every
 * backward:
 *   - gradients of parameters ACCUMULATE (+=), so a caller zeroes them once
 *     per step and several contributions add up;
 *   - the gradient of the input is OVERWRITTEN (=), and is skipped when the
 *     pointer is NULL (the first layer over frozen embeddings needs none).
 *
 * A head (es_mlp) is
 *   [B][W][D] -> pool -> [B][P]
 *     -> { Linear -> LayerNorm -> ReLU -> Dropout } x n_hidden
 *     -> (Dropout, linear heads only) -> Linear -> [B][K] logits
 * trained with softmax cross-entropy. All its parameters live in one float
 * buffer and all their gradients in another (as in llm.c), so saving,
 * copying the best epoch and the optimiser are plain loops over arrays.
 *
 * Determinism: every random choice (initialisation, shuffling, balanced
 * sampling, dropout masks) comes from one es_rng, and nothing sums across
 * threads, so a seed reproduces a run bit for bit on the same machine.
 */
#ifndef ES_NN_H
#define ES_NN_H

#include "earshot.h"
#include "es_rng.h"
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ random numbers */

/* es_rng (xoshiro256**, seeded through splitmix64) is declared in es_rng.h,
 * shared with audio/ (augmentation). */

/* ------------------------------------------------------------ layers */

/* linear: y[B][out] = x[B][in] . w[out][in]^T + b[out]   (PyTorch's layout)
 * backward: dx[B][in] = dy[B][out] . w;  dw += dy^T . x;  db += sum_B dy */
void es_linear_forward(float *y, const float *x, const float *w, const float *b, int B, int in, int out);
void es_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        int B, int in, int out);

/* layer norm over the last dimension, PyTorch semantics (biased variance,
 * eps 1e-5 inside the square root):
 *   y[B][C] = (x - mean) * rstd * g[C] + b[C]
 * forward saves mean[B] and rstd[B] for the backward. */
#define ES_LN_EPS 1e-5f
void es_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g, const float *b,
                          int B, int C);
void es_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x, const float *mean,
                           const float *rstd, const float *g, int B, int C);

/* relu: y[n] = max(x, 0); dx = dy where x > 0, else 0 (dx may alias dy) */
void es_relu_forward(float *y, const float *x, size_t n);
void es_relu_backward(float *dx, const float *dy, const float *x, size_t n);

/* dropout, inverted: the mask holds 0 (dropped, probability p) or 1/(1-p),
 * so evaluation needs no rescaling. y[n] = x * mask; dx = dy * mask (dx may
 * alias dy). The mask is drawn separately so tests can fix it. */
void es_dropout_mask(float *mask, size_t n, float p, es_rng *rng);
void es_dropout_forward(float *y, const float *x, const float *mask, size_t n);
void es_dropout_backward(float *dx, const float *dy, const float *mask, size_t n);

/* temporal pooling of a window x[B][W][D] into features y[B][P]:
 *   FLAT     P = W*D  the window as is (what openWakeWord's heads read)
 *   MEAN     P = D    mean over time
 *   MAX      P = D    max over time; arg[B][D] records the time step
 *   MEANMAX  P = 2D   [mean | max]; arg as for MAX
 *   MEANSTD  P = 2D   [mean | std], std = sqrt(biased var + ES_POOL_EPS)
 * (the eps keeps std differentiable for a constant window).
 * backward: dx[B][W][D] from dy[B][P]; MAX sends each gradient to the first
 * argmax; MEANSTD reads mean and std back from y. arg may be NULL for the
 * kinds without a max. */
typedef enum { ES_POOL_FLAT, ES_POOL_MEAN, ES_POOL_MAX, ES_POOL_MEANMAX, ES_POOL_MEANSTD } es_pool;
#define ES_POOL_EPS 1e-5f
int es_pool_dim(es_pool p, int W, int D);      /* P, or 0 for an unknown kind */
const char *es_pool_name(es_pool p);            /* "flat", "mean", "max", "meanmax", "meanstd" */
es_status es_pool_parse(const char *s, es_pool *p, es_error *err);
void es_pool_forward(float *y, int *arg, const float *x, es_pool p, int B, int W, int D);
void es_pool_backward(float *dx, const float *dy, const float *x, const float *y, const int *arg, es_pool p,
                      int B, int W, int D);

/* softmax cross-entropy with per-class weights cw[K] (NULL = all 1), using
 * PyTorch's weighted mean: loss = sum_b cw[y_b] * l_b / sum_b cw[y_b],
 * l_b = -log softmax(logits_b)[y_b]. forward writes probs[B][K] and, if
 * non-NULL, the unweighted per-row losses[B]; returns the loss (0 when the
 * weights of the batch sum to 0), in double because it is summed in double
 * (a float result would round away the small differences that the
 * finite-difference checks measure). backward: dlogits[B][K] =
 * cw[y_b] / sum cw * (probs - onehot(y_b)). Labels must be in [0, K). */
double es_softmax_ce_forward(float *probs, float *losses, const float *logits, const int *y, const float *cw,
                             int B, int K);
/* Adds label smoothing eps's part of the gradient to dlogits from
 * es_softmax_ce_backward (same rows, labels and class weights). */
void es_label_smooth_backward(float *dlogits, const int *y, const float *cw, int B, int K, float eps);
/* Adds mixup's part of the gradient (rows of share lam of label y and
 * 1-lam of label y2) to dlogits from es_softmax_ce_backward for y. */
void es_mix_backward(float *dlogits, const int *y, const int *y2, const float *cw, int B, int K, float lam);
void es_softmax_ce_backward(float *dlogits, const float *probs, const int *y, const float *cw, int B, int K);

/* ------------------------------------------------------------ the head */

#define ES_MLP_MAX_HIDDEN 2

typedef struct {
    int window;        /* W: embeddings per input, e.g. 16 */
    int dim;           /* D: floats per embedding, ES_EMB_DIM */
    es_pool pool;
    int n_hidden;      /* 0 = linear softmax head; 1 or 2 hidden blocks */
    int hidden[ES_MLP_MAX_HIDDEN];  /* width of each hidden block */
    float dropout;     /* p in [0, 1): after each hidden ReLU, or on the pooled
                          features of a linear head */
    int n_classes;     /* K >= 2 */
} es_mlp_cfg;

/* One named tensor of the parameter buffer. Names and shapes follow
 * PyTorch (Linear weight [out][in]), so a safetensors file of them reads
 * naturally from Python. With L = n_hidden, in order:
 *   for i in 0..L-1:  head.<i>.weight [H_i][in_i]   head.<i>.bias [H_i]
 *                     head.<i>.ln.weight [H_i]      head.<i>.ln.bias [H_i]
 *   output:           head.<L>.weight [K][in_L]     head.<L>.bias [K]
 * where in_0 = P (the pooled size) and in_i = H_{i-1}. A linear head is just
 * head.0.weight [K][P] and head.0.bias [K]. */
typedef struct {
    char name[32];
    size_t offset;     /* in floats, into es_mlp_params (and es_mlp_grads) */
    size_t count;
    int ndim;
    int shape[2];
    int decay;         /* 1 for Linear weights: AdamW decays only these */
} es_param_info;

typedef struct es_mlp es_mlp;

/* Initialise like PyTorch's defaults: Linear weights kaiming-uniform with
 * a = sqrt(5), i.e. U(+-1/sqrt(in)), biases U(+-1/sqrt(in)), LayerNorm
 * weight 1 and bias 0; the draws come from es_rng seeded with `seed`. */
es_mlp *es_mlp_create(const es_mlp_cfg *cfg, uint64_t seed, es_error *err);
void es_mlp_free(es_mlp *m);
const es_mlp_cfg *es_mlp_config(const es_mlp *m);
int es_mlp_in_dim(const es_mlp *m);            /* W*D */
float *es_mlp_params(es_mlp *m, size_t *n);    /* the parameter buffer (n floats) */
float *es_mlp_grads(es_mlp *m, size_t *n);     /* the gradient buffer, same layout */
const uint8_t *es_mlp_decay_mask(const es_mlp *m);  /* [n]: 1 where weight decay applies */
int es_mlp_ntensors(const es_mlp *m);
const es_param_info *es_mlp_tensor(const es_mlp *m, int i);     /* NULL out of range */
const es_param_info *es_mlp_find(const es_mlp *m, const char *name);
void es_mlp_zero_grad(es_mlp *m);

/* Forward a batch x[B][W*D]. train != 0 turns dropout on, drawing the masks
 * from rng (which may then not be NULL). Keeps the activations for
 * es_mlp_loss / es_mlp_backward, and a pointer to x: x must stay unchanged
 * until the backward (flat pooling reads it in place instead of copying).
 * Returns the logits [B][K], owned by m and valid until the next forward;
 * NULL on error. Not thread-safe on one m. */
const float *es_mlp_forward(es_mlp *m, const float *x, int B, int train, es_rng *rng, es_error *err);
/* Softmax cross-entropy of the last forward against y[B] (class weights
 * cw[K], NULL = unweighted); *loss may be NULL. */
es_status es_mlp_loss(es_mlp *m, const int *y, const float *cw, double *loss, es_error *err);
/* Backward from the last es_mlp_loss: ACCUMULATES into es_mlp_grads; if dx
 * is non-NULL it receives d loss / d x [B][W*D] (for fine-tuning the
 * encoder under the head). */
es_status es_mlp_backward(es_mlp *m, float *dx, es_error *err);
/* Class probabilities probs[n][K] for x[n][W*D], evaluation mode. */
es_status es_mlp_predict(es_mlp *m, const float *x, size_t n, float *probs, es_error *err);

/* ------------------------------------------------------------ optimiser */

/* AdamW as in PyTorch (torch.optim.AdamW): p -= lr*wd*p (decoupled, only
 * where the mask says so), then the bias-corrected Adam step
 * p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps) (the division by
 * sqrt(1-b2^t) is done as a multiplication by its inverse, so the last bit
 * may differ from PyTorch). */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} es_adamw_hp;
typedef struct {
    float *m, *v;
    size_t n;
    long t;            /* steps taken */
} es_adamw;
es_status es_adamw_init(es_adamw *o, size_t n, es_error *err);
void es_adamw_free(es_adamw *o);
/* decay[n] (NULL = decay everything) */
void es_adamw_step(es_adamw *o, float *p, const float *g, const uint8_t *decay, const es_adamw_hp *hp);

typedef enum { ES_LR_COSINE, ES_LR_CONSTANT } es_lr_kind;
/* Learning rate for step t (0-based) of `total`: linear warm-up from
 * base/warmup to base over the first `warmup` steps, then constant or a
 * half cosine from base down to 0 at step `total`. */
float es_lr_at(es_lr_kind kind, float base, long t, long total, long warmup);

/* ------------------------------------------------------------ training */

typedef enum {
    ES_BALANCE_NONE,     /* plain shuffled epochs, unweighted loss */
    ES_BALANCE_SAMPLE,   /* each draw picks a class uniformly, then the next
                            example of that class (shuffled, cycled) */
    ES_BALANCE_WEIGHT,   /* loss weight n/(K'*n_c) per class (sklearn's
                            "balanced"; K' = classes present) */
    ES_BALANCE_AUTO      /* WEIGHT when the largest class has >= 1.5x the
                            examples of the smallest, else NONE */
} es_balance;
const char *es_balance_name(es_balance b);     /* "none", "sample", "weight", "auto" */
/* The balance a name means (NULL: auto, the default), or -1 for none of them. */
int es_balance_parse(const char *s);

typedef enum {
    ES_MONITOR_LOSS,     /* validation loss, lower is better */
    ES_MONITOR_ACC,      /* validation accuracy; ties go to the lower loss */
    ES_MONITOR_BAL_ACC   /* mean per-class recall; ties go to the lower loss */
} es_monitor;

typedef struct {
    int epochs;          /* at most this many passes over the data */
    int batch;
    float lr;            /* peak learning rate */
    float weight_decay;  /* AdamW, on Linear weights only */
    float beta1, beta2, adam_eps;
    float dropout;       /* < 0: the model's own p */
    es_lr_kind schedule;
    float warmup;        /* fraction of all steps spent warming up, [0, 1) */
    uint64_t seed;       /* shuffling, sampling and dropout */
    es_balance balance;
    es_monitor monitor;
    int patience;        /* stop after this many epochs without improvement
                            (0 = run all epochs; the best is kept either way) */
    float label_smoothing; /* training targets (1-e) one-hot + e/K (0 = off) */
    float mixup;         /* > 0: each batch's rows mixed with a partner's,
                            partner share uniform in [0, mixup] (<= 0.5) */
} es_train_cfg;

/* epochs 100, batch 64, lr 1e-3, weight decay 1e-2, Adam (0.9, 0.999,
 * 1e-8), dropout from the model, cosine with 5% warm-up, seed 0, balance
 * AUTO, monitor LOSS, patience 15. */
es_train_cfg es_train_defaults(void);

typedef struct {
    es_balance balance;  /* what was applied (AUTO resolved) */
    int epochs_run;
    int best_epoch;      /* 1-based epoch whose parameters the model holds */
    int stopped_early;
    long steps;          /* optimiser steps taken */
    /* at best_epoch; the val_* are NaN without a validation set.
     * train_loss: the mean over the epoch's batches, as trained (dropout on,
     * class weights if any). With balancing on, val_loss weights each
     * validation class equally (so it agrees with balanced accuracy), else
     * it is the plain mean. */
    float train_loss, val_loss, val_acc, val_bal_acc;
} es_train_report;

/* Train m from its current parameters on x[n][W*D] with labels y[n] in
 * [0, K); validation xv[nv], yv[nv] (nv = 0 or xv = NULL: none). With a
 * validation set, the epoch with the best monitored metric is kept (its
 * parameters are restored at the end) and patience stops early; without
 * one, all epochs run and the last is kept. progress (may be NULL) is called
 * after every epoch (epoch 1-based; val_acc is the plain accuracy; val_loss
 * and val_acc are NaN without validation). On error the parameters are as they were before the call. */
es_status es_train(es_mlp *m, const float *x, const int *y, size_t n, const float *xv, const int *yv, size_t nv,
                   const es_train_cfg *cfg, es_train_report *rep,
                   void (*progress)(void *user, int epoch, float train_loss, float val_loss, float val_acc),
                   void *user, es_error *err);

/* The same training with a convolutional network under the head (model/
 * conv.h): x[n] and xv[nv] are the network's inputs (es_cnn_in_size floats
 * each), the head reads its outputs (es_cnn_out_size must equal the head's
 * W*D). The network's parameters are trained by a second AdamW with the
 * same schedule, betas and weight decay (on its conv weights) but peak
 * learning rate net_lr; the best epoch keeps both parameter sets, and on
 * error both are as before the call. net NULL: es_train. */
struct es_cnn;
es_status es_train_net(es_mlp *m, struct es_cnn *net, float net_lr, const float *x, const int *y, size_t n,
                       const float *xv, const int *yv, size_t nv, const es_train_cfg *cfg, es_train_report *rep,
                       void (*progress)(void *user, int epoch, float train_loss, float val_loss, float val_acc),
                       void *user, es_error *err);
/* The same with example i at rows[i] (dim floats each) rather than in
 * one array: a caller whose examples share their data (overlapping
 * windows of one embedding sequence, rows repeated for every variant)
 * keeps one copy of it. The same rows give the same training, bit for
 * bit, however they are laid out. */
es_status es_train_net_rows(es_mlp *m, struct es_cnn *net, float net_lr, const float *const *rows, const int *y, size_t n,
                            const float *xv, const int *yv, size_t nv, const es_train_cfg *cfg, es_train_report *rep,
                            void (*progress)(void *user, int epoch, float train_loss, float val_loss, float val_acc),
                            void *user, es_error *err);

#endif
