/*
 * model/conv.c — conv2d / max-pool / the encoder's activation, forward and
 * backward, and es_cnn, a trainable chain of them (see conv.h).
 *
 * Channels last, [N][T][F][C]. A convolution is im2col + one sgemm, as in
 * the encoder: the rows of col are the output positions (n, t, f), its
 * columns the patch (dt, df, c), so
 *   forward   y[rows][co]      = col[rows][K] . w[K][co]
 *   backward  dw[K][co]       += col^T . dy
 *             dcol[rows][K]    = dy . w^T,  then scattered back (col2im)
 * with K = kt*kf*ci.
 */
#include "conv.h"
#include "es_internal.h"

#include "blas.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ conv2d */

int es_conv2d_out_t(const es_conv_shape *s) { return s->T + 2 * s->pt - s->kt + 1; }
int es_conv2d_out_f(const es_conv_shape *s) { return s->F + 2 * s->pf - s->kf + 1; }

size_t es_conv2d_col_size(const es_conv_shape *s)
{
    int To = es_conv2d_out_t(s), Fo = es_conv2d_out_f(s);
    if (To < 1 || Fo < 1) return 1;
    return (size_t)s->N * To * Fo * s->kt * s->kf * s->ci;
}

/* col[rows][K] from x, zeros where the patch reaches into the padding */
static void im2col(float *col, const float *x, const es_conv_shape *s)
{
    int To = es_conv2d_out_t(s), Fo = es_conv2d_out_f(s);
    size_t ci = (size_t)s->ci;
    float *c = col;
    for (int n = 0; n < s->N; n++)
        for (int t = 0; t < To; t++)
            for (int f = 0; f < Fo; f++)
                for (int a = 0; a < s->kt; a++) {
                    int ti = t + a - s->pt;
                    for (int b = 0; b < s->kf; b++, c += ci) {
                        int fi = f + b - s->pf;
                        /* one channel (a first layer): a call per value would dominate */
                        if (ti < 0 || ti >= s->T || fi < 0 || fi >= s->F) {
                            if (ci == 1) *c = 0.0f;
                            else memset(c, 0, ci * sizeof(float));
                        } else {
                            const float *src = x + (((size_t)n * s->T + ti) * s->F + fi) * ci;
                            if (ci == 1) *c = *src;
                            else memcpy(c, src, ci * sizeof(float));
                        }
                    }
                }
}

/* dx += the patches of dcol added back where they came from */
static void col2im(float *dx, const float *dcol, const es_conv_shape *s)
{
    int To = es_conv2d_out_t(s), Fo = es_conv2d_out_f(s);
    size_t ci = (size_t)s->ci;
    const float *c = dcol;
    for (int n = 0; n < s->N; n++)
        for (int t = 0; t < To; t++)
            for (int f = 0; f < Fo; f++)
                for (int a = 0; a < s->kt; a++) {
                    int ti = t + a - s->pt;
                    for (int b = 0; b < s->kf; b++, c += ci) {
                        int fi = f + b - s->pf;
                        if (ti < 0 || ti >= s->T || fi < 0 || fi >= s->F) continue;
                        float *d = dx + (((size_t)n * s->T + ti) * s->F + fi) * ci;
                        for (size_t k = 0; k < ci; k++) d[k] += c[k];
                    }
                }
}

void es_conv2d_forward(float *y, float *col, const float *x, const float *w, const float *b, const es_conv_shape *s)
{
    int To = es_conv2d_out_t(s), Fo = es_conv2d_out_f(s);
    if (To < 1 || Fo < 1 || s->N < 1) return;
    int rows = s->N * To * Fo, K = s->kt * s->kf * s->ci;
    im2col(col, x, s);
    es_sgemm(CblasNoTrans, CblasNoTrans, rows, s->co, K, 1.0f, col, K, w, s->co, 0.0f, y, s->co);
    if (b)
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < s->co; o++) y[(size_t)r * s->co + o] += b[o];
}

void es_conv2d_backward(float *dx, float *dw, float *db, float *col, const float *dy, const float *x, const float *w,
                        const es_conv_shape *s)
{
    int To = es_conv2d_out_t(s), Fo = es_conv2d_out_f(s);
    size_t nx = (size_t)s->N * s->T * s->F * s->ci;
    if (To < 1 || Fo < 1 || s->N < 1) {
        if (dx) memset(dx, 0, nx * sizeof(float));
        return;
    }
    int rows = s->N * To * Fo, K = s->kt * s->kf * s->ci;
    if (db)
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < s->co; o++) db[o] += dy[(size_t)r * s->co + o];
    if (dw) {
        im2col(col, x, s);
        es_sgemm(CblasTrans, CblasNoTrans, K, s->co, rows, 1.0f, col, K, dy, s->co, 1.0f, dw, s->co);
    }
    if (dx) {
        /* col is free again: it takes dcol */
        es_sgemm(CblasNoTrans, CblasTrans, rows, K, s->co, 1.0f, dy, s->co, w, s->co, 0.0f, col, K);
        memset(dx, 0, nx * sizeof(float));
        col2im(dx, col, s);
    }
}

/* ------------------------------------------------------------ max-pool */

void es_maxpool_forward(float *y, int *arg, const float *x, int N, int T, int F, int C, int qt, int qf)
{
    int To = T / qt, Fo = F / qf;
    size_t i = 0;
    for (int n = 0; n < N; n++)
        for (int t = 0; t < To; t++)
            for (int f = 0; f < Fo; f++)
                for (int c = 0; c < C; c++, i++) {
                    int best = -1;
                    float bv = 0;
                    for (int a = 0; a < qt; a++)
                        for (int b = 0; b < qf; b++) {
                            int idx = (int)((((size_t)n * T + (size_t)(t * qt + a)) * F + (size_t)(f * qf + b)) * C + c);
                            if (best < 0 || x[idx] > bv) { best = idx; bv = x[idx]; }
                        }
                    y[i] = bv;
                    arg[i] = best;
                }
}

void es_maxpool_backward(float *dx, const float *dy, const int *arg, size_t nx, size_t ny)
{
    memset(dx, 0, nx * sizeof(float));
    for (size_t i = 0; i < ny; i++) dx[arg[i]] += dy[i];
}

/* ------------------------------------------------------------ activation */

void es_act_forward(float *y, const float *x, size_t n, float a, float fl)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i], av = a * v;
        v = v > av ? v : av;
        y[i] = v < fl ? fl : v;
    }
}

void es_act_backward(float *dx, const float *dy, const float *x, size_t n, float a, float fl)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i], av = a * v;
        float l = v > av ? v : av;
        dx[i] = l < fl ? 0.0f : dy[i] * (v > 0 ? 1.0f : a);
    }
}

/* ------------------------------------------------------------ es_cnn */

#define CNN_MAX_PARTS 8
#define CNN_MIN_PART 4     /* examples per part below which splitting does not pay */

typedef struct {
    es_cnn_layer d;
    int T, F, C;           /* input shape per example */
    int To, Fo, Co;        /* output shape */
    size_t w_off, b_off, nw, nb;
    float *pre;            /* conv output before the activation [cap][out] */
    float *out;            /* layer output [cap][out] */
    int *arg;              /* pool argmax [cap][out] */
} cnn_layer;

struct es_cnn {
    int n;
    cnn_layer L[ES_CNN_MAX_LAYERS];
    float alpha, fl;
    size_t in_size, nparams;
    float *params, *grads;
    uint8_t *decay;
    int cap, B;
    const float *x;
    float *col, *g0, *g1;  /* im2col scratch; two gradient buffers */
    size_t colmax, actmax;
    /* A batch is split into parts: each part runs on a replica that
     * shares the parameters but has its own activations and gradients;
     * the parts' gradients are then added in part order. The cut depends
     * on the batch size only (cnn_parts), and threads share out whole
     * parts, so a run gives the same bits with any thread count. */
    int shared;            /* params belong to another es_cnn (a replica) */
    es_cnn *rep[CNN_MAX_PARTS];
    int parts;             /* of the last forward; 0 = ran here */
    float *yout;           /* the gathered output of a split forward */
    int ycap;
};

static size_t out_size(const cnn_layer *L) { return (size_t)L->To * L->Fo * L->Co; }

es_cnn *es_cnn_create(const es_cnn_layer *layers, int n, int T, int F, int C, float alpha, float fl, es_error *err)
{
    if (!layers || n < 1 || n > ES_CNN_MAX_LAYERS || T < 1 || F < 1 || C < 1) {
        es_fail(err, ES_ERR_ARG, "cnn: invalid layer list or input shape");
        return NULL;
    }
    if (es_blas_ready(err)) return NULL;   /* its products could not run */
    es_cnn *c = calloc(1, sizeof *c);
    if (!c) { es_fail(err, ES_ERR_NOMEM, "cnn: out of memory"); return NULL; }
    c->n = n;
    c->alpha = alpha;
    c->fl = fl;
    c->in_size = (size_t)T * F * C;
    for (int i = 0; i < n; i++) {
        cnn_layer *L = &c->L[i];
        L->d = layers[i];
        L->T = T; L->F = F; L->C = C;
        if (L->d.pool) {
            if (L->d.qt < 1 || L->d.qf < 1) goto bad;
            L->To = T / L->d.qt; L->Fo = F / L->d.qf; L->Co = C;
        } else {
            if (L->d.co < 1 || L->d.kt < 1 || L->d.kf < 1 || L->d.pt < 0 || L->d.pf < 0) goto bad;
            es_conv_shape s = {1, T, F, C, L->d.co, L->d.kt, L->d.kf, L->d.pt, L->d.pf};
            L->To = es_conv2d_out_t(&s); L->Fo = es_conv2d_out_f(&s); L->Co = L->d.co;
            L->nw = (size_t)L->d.kt * L->d.kf * C * L->d.co;
            L->nb = (size_t)L->d.co;
            L->w_off = c->nparams; c->nparams += L->nw;
            L->b_off = c->nparams; c->nparams += L->nb;
            size_t col = es_conv2d_col_size(&s);
            if (col > c->colmax) c->colmax = col;
        }
        if (L->To < 1 || L->Fo < 1) goto bad;
        T = L->To; F = L->Fo; C = L->Co;
        if (out_size(L) > c->actmax) c->actmax = out_size(L);
    }
    if (c->in_size > c->actmax) c->actmax = c->in_size;
    c->params = calloc(c->nparams + 1, sizeof(float));
    c->grads = calloc(c->nparams + 1, sizeof(float));
    c->decay = calloc(c->nparams + 1, 1);
    if (!c->params || !c->grads || !c->decay) { es_cnn_free(c); es_fail(err, ES_ERR_NOMEM, "cnn: out of memory"); return NULL; }
    for (int i = 0; i < n; i++)
        if (!c->L[i].d.pool) memset(c->decay + c->L[i].w_off, 1, c->L[i].nw);
    return c;
bad:
    free(c);
    es_fail(err, ES_ERR_ARG, "cnn: layer shapes leave no output");
    return NULL;
}

static void free_acts(es_cnn *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->L[i].pre); free(c->L[i].out); free(c->L[i].arg);
        c->L[i].pre = c->L[i].out = NULL;
        c->L[i].arg = NULL;
    }
    free(c->col); free(c->g0); free(c->g1);
    c->col = c->g0 = c->g1 = NULL;
    c->cap = 0;
}

void es_cnn_free(es_cnn *c)
{
    if (!c) return;
    free_acts(c);
    for (int i = 0; i < CNN_MAX_PARTS; i++) es_cnn_free(c->rep[i]);
    if (!c->shared) free(c->params);
    free(c->grads); free(c->decay); free(c->yout);
    free(c);
}

int es_cnn_nlayers(const es_cnn *c) { return c->n; }
const es_cnn_layer *es_cnn_layer_at(const es_cnn *c, int i) { return i >= 0 && i < c->n ? &c->L[i].d : NULL; }
size_t es_cnn_in_size(const es_cnn *c) { return c->in_size; }
void es_cnn_in_shape(const es_cnn *c, int *T, int *F, int *C)
{
    if (T) *T = c->L[0].T;
    if (F) *F = c->L[0].F;
    if (C) *C = c->L[0].C;
}
void es_cnn_out_shape(const es_cnn *c, int *T, int *F, int *C)
{
    const cnn_layer *L = &c->L[c->n - 1];
    if (T) *T = L->To;
    if (F) *F = L->Fo;
    if (C) *C = L->Co;
}
size_t es_cnn_out_size(const es_cnn *c) { return out_size(&c->L[c->n - 1]); }
float *es_cnn_params(es_cnn *c, size_t *n) { if (n) *n = c->nparams; return c->params; }
float *es_cnn_grads(es_cnn *c, size_t *n) { if (n) *n = c->nparams; return c->grads; }
const uint8_t *es_cnn_decay_mask(const es_cnn *c) { return c->decay; }
void es_cnn_zero_grad(es_cnn *c) { memset(c->grads, 0, c->nparams * sizeof(float)); }

float *es_cnn_weight(es_cnn *c, int i, size_t *n)
{
    if (i < 0 || i >= c->n || c->L[i].d.pool) return NULL;
    if (n) *n = c->L[i].nw;
    return c->params + c->L[i].w_off;
}

float *es_cnn_bias(es_cnn *c, int i, size_t *n)
{
    if (i < 0 || i >= c->n || c->L[i].d.pool) return NULL;
    if (n) *n = c->L[i].nb;
    return c->params + c->L[i].b_off;
}

void es_cnn_init_random(es_cnn *c, uint64_t seed)
{
    es_rng r;
    es_rng_seed(&r, seed);
    for (int i = 0; i < c->n; i++) {
        cnn_layer *L = &c->L[i];
        if (L->d.pool) continue;
        float bound = 1.0f / sqrtf((float)(L->d.kt * L->d.kf * L->C));
        for (size_t k = 0; k < L->nw; k++) c->params[L->w_off + k] = (2.0f * es_rng_uniform(&r) - 1.0f) * bound;
        for (size_t k = 0; k < L->nb; k++)
            c->params[L->b_off + k] = L->d.nobias ? 0.0f : (2.0f * es_rng_uniform(&r) - 1.0f) * bound;
    }
}

static es_status ensure(es_cnn *c, int B, es_error *err)
{
    if (B <= c->cap) return ES_OK;
    free_acts(c);
    int ok = 1;
    for (int i = 0; i < c->n && ok; i++) {
        cnn_layer *L = &c->L[i];
        size_t o = (size_t)B * out_size(L);
        ok = (L->out = malloc(o * sizeof(float))) != NULL;
        if (ok && L->d.pool) ok = (L->arg = malloc(o * sizeof(int))) != NULL;
        if (ok && !L->d.pool && L->d.act) ok = (L->pre = malloc(o * sizeof(float))) != NULL;
    }
    if (ok) {
        ok = (c->col = malloc(c->colmax * (size_t)B * sizeof(float))) && (c->g0 = malloc(c->actmax * (size_t)B * sizeof(float))) &&
             (c->g1 = malloc(c->actmax * (size_t)B * sizeof(float)));
    }
    if (!ok) { free_acts(c); return es_fail(err, ES_ERR_NOMEM, "cnn: out of memory for a batch of %d", B); }
    c->cap = B;
    return ES_OK;
}

static const float *run_forward(es_cnn *c, const float *x, int B, es_error *err)
{
    if (!c || !x || B < 1) { es_fail(err, ES_ERR_ARG, "cnn: invalid forward arguments"); return NULL; }
    if (ensure(c, B, err)) return NULL;
    c->x = x;
    c->B = B;
    const float *in = x;
    for (int i = 0; i < c->n; i++) {
        cnn_layer *L = &c->L[i];
        if (L->d.pool) {
            es_maxpool_forward(L->out, L->arg, in, B, L->T, L->F, L->C, L->d.qt, L->d.qf);
        } else {
            es_conv_shape s = {B, L->T, L->F, L->C, L->d.co, L->d.kt, L->d.kf, L->d.pt, L->d.pf};
            float *dst = L->d.act ? L->pre : L->out;
            es_conv2d_forward(dst, c->col, in, c->params + L->w_off, L->d.nobias ? NULL : c->params + L->b_off, &s);
            if (L->d.act) es_act_forward(L->out, L->pre, (size_t)B * out_size(L), c->alpha, c->fl);
        }
        in = L->out;
    }
    return in;
}

static es_status run_backward(es_cnn *c, const float *dy, float *dx, es_error *err)
{
    if (!c || !dy || !c->B) return es_fail(err, ES_ERR_ARG, "cnn: backward without a forward");
    int B = c->B;
    const float *g = dy;   /* gradient of layer i's output: the caller's dy, g0 or g1 */
    for (int i = c->n - 1; i >= 0; i--) {
        cnn_layer *L = &c->L[i];
        const float *in = i ? c->L[i - 1].out : c->x;
        size_t nin = (size_t)B * L->T * L->F * L->C, nout = (size_t)B * out_size(L);
        int ours = g == c->g0 || g == c->g1;
        const float *gy = g;
        if (!L->d.pool && L->d.act) {
            /* through the activation, in place when the buffer is ours */
            float *t = ours ? (float *)g : c->g1;
            es_act_backward(t, g, L->pre, nout, c->alpha, c->fl);
            gy = t;
        }
        /* the input gradient goes to the other scratch buffer, or to dx */
        float *dst = i == 0 ? dx : (gy == c->g0 ? c->g1 : c->g0);
        if (L->d.pool) {
            if (dst) es_maxpool_backward(dst, gy, L->arg, nin, nout);
        } else {
            es_conv_shape s = {B, L->T, L->F, L->C, L->d.co, L->d.kt, L->d.kf, L->d.pt, L->d.pf};
            es_conv2d_backward(dst, c->grads + L->w_off, L->d.nobias ? NULL : c->grads + L->b_off, c->col, gy, in,
                               c->params + L->w_off, &s);
        }
        g = dst;
    }
    return ES_OK;
}

/* ------------------------------------------------ batches on threads */

static es_cnn *replica(es_cnn *c, es_error *err)
{
    es_cnn_layer d[ES_CNN_MAX_LAYERS];
    for (int i = 0; i < c->n; i++) d[i] = c->L[i].d;
    es_cnn *r = es_cnn_create(d, c->n, c->L[0].T, c->L[0].F, c->L[0].C, c->alpha, c->fl, err);
    if (!r) return NULL;
    free(r->params);
    r->params = c->params;
    r->shared = 1;
    return r;
}

typedef struct {
    es_cnn *c;
    const float *x, *dy;
    float *dx;
    int B, P, backward;
    es_status st[CNN_MAX_PARTS];
} split_job;

/* How many parts a batch of B is cut into: a function of B alone. Float
 * addition is not associative, so the parts' gradients summed in part
 * order give different bits for a different cut; when the cut followed
 * es_threads(), `earshot train --finetune K -t 1` and `-t 2` (or two
 * machines with different CPU counts) trained different weights from the
 * same seed. With the cut fixed, one thread runs the parts one after the
 * other and gets what eight threads get. */
static int cnn_parts(int B)
{
    int P = B / CNN_MIN_PART;
    return P > CNN_MAX_PARTS ? CNN_MAX_PARTS : P < 1 ? 1 : P;
}

static void split_part(void *p, int i)
{
    split_job *j = p;
    es_cnn *c = j->c, *r = c->rep[i];
    int b0 = j->B * i / j->P, b1 = j->B * (i + 1) / j->P;
    size_t in = c->in_size, out = out_size(&c->L[c->n - 1]);
    if (!j->backward) {
        const float *y = run_forward(r, j->x + (size_t)b0 * in, b1 - b0, NULL);
        if (y) memcpy(c->yout + (size_t)b0 * out, y, (size_t)(b1 - b0) * out * sizeof(float));
        j->st[i] = y ? ES_OK : ES_ERR_NOMEM;
    } else {
        memset(r->grads, 0, c->nparams * sizeof(float));
        j->st[i] = run_backward(r, j->dy + (size_t)b0 * out, j->dx ? j->dx + (size_t)b0 * in : NULL, NULL);
    }
}

static void run_parts(split_job *j)
{
    es_parallel_parts(j->P, split_part, j);
}

const float *es_cnn_forward(es_cnn *c, const float *x, int B, es_error *err)
{
    if (!c || !x || B < 1) { es_fail(err, ES_ERR_ARG, "cnn: invalid forward arguments"); return NULL; }
    (void)es_threads();   /* settles OpenBLAS at one thread before any product */
    int P = cnn_parts(B);
    c->parts = 0;
    if (P <= 1) return run_forward(c, x, B, err);
    for (int i = 0; i < P; i++)
        if (!c->rep[i] && !(c->rep[i] = replica(c, err))) return NULL;
    size_t out = out_size(&c->L[c->n - 1]);
    if (B > c->ycap) {
        free(c->yout);
        c->ycap = 0;
        if (!(c->yout = malloc((size_t)B * out * sizeof(float)))) { es_fail(err, ES_ERR_NOMEM, "cnn: out of memory"); return NULL; }
        c->ycap = B;
    }
    split_job j = {c, x, NULL, NULL, B, P, 0, {0}};
    run_parts(&j);
    for (int i = 0; i < P; i++)
        if (j.st[i]) { es_fail(err, ES_ERR_NOMEM, "cnn: out of memory for a batch of %d", B); return NULL; }
    c->parts = P;
    c->B = B;
    c->x = x;
    return c->yout;
}

es_status es_cnn_backward(es_cnn *c, const float *dy, float *dx, es_error *err)
{
    if (!c || !dy || !c->B) return es_fail(err, ES_ERR_ARG, "cnn: backward without a forward");
    if (!c->parts) return run_backward(c, dy, dx, err);
    split_job j = {c, NULL, dy, dx, c->B, c->parts, 1, {0}};
    run_parts(&j);
    for (int i = 0; i < c->parts; i++)
        if (j.st[i]) return es_fail(err, j.st[i], "cnn: backward failed");
    for (int i = 0; i < c->parts; i++) {
        const float *g = c->rep[i]->grads;
        for (size_t k = 0; k < c->nparams; k++) c->grads[k] += g[k];
    }
    return ES_OK;
}
