/*
 * model/nn.c — layers, the classifier head, AdamW and the training loop for
 * heads over pretrained embeddings (see nn.h for the shapes and the
 * accumulate/overwrite conventions of the backward passes).
 *
 * Written in the manner of llm.c: each layer's forward and backward side by
 * side, plain loops except where a matrix product is worth an sgemm, all
 * parameters in one buffer. Training is single-threaded on purpose: the
 * heads are small (a 1536 -> 128 -> 128 -> K MLP has 215 k parameters), so
 * one core's sgemm does an epoch over a few thousand windows in tens of
 * milliseconds, and a threaded reduction would make the bits of a run
 * depend on the thread count.
 */
#include "nn.h"
#include "conv.h"
#include "es_internal.h"

#include "blas.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------ random numbers */

/* es_rng lives in model/rng.c and es_rng.h. */

/* ------------------------------------------------------------ linear */

/* y[B][out] = x[B][in] . w[out][in]^T + b[out] */
void es_linear_forward(float *y, const float *x, const float *w, const float *b, int B, int in, int out)
{
    for (int r = 0; r < B; r++) memcpy(y + (size_t)r * out, b, (size_t)out * sizeof(float));
    es_sgemm(CblasNoTrans, CblasTrans, B, out, in, 1.0f, x, in, w, in, 1.0f, y, out);
}

/* dx[B][in] = dy[B][out] . w[out][in]      (overwritten; skipped if NULL)
 * dw[out][in] += dy^T[out][B] . x[B][in]
 * db[out] += sum over B of dy */
void es_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        int B, int in, int out)
{
    if (dx) es_sgemm(CblasNoTrans, CblasNoTrans, B, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
    es_sgemm(CblasTrans, CblasNoTrans, out, in, B, 1.0f, dy, out, x, in, 1.0f, dw, in);
    for (int r = 0; r < B; r++) {
        const float *d = dy + (size_t)r * out;
        for (int o = 0; o < out; o++) db[o] += d[o];
    }
}

/* ------------------------------------------------------------ layernorm */

/* y[B][C] = (x - mean) * rstd * g + b; saves mean[B], rstd[B] */
void es_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g, const float *b,
                          int B, int C)
{
    for (int r = 0; r < B; r++) {
        const float *xr = x + (size_t)r * C;
        float *yr = y + (size_t)r * C;
        float m = 0;
        for (int i = 0; i < C; i++) m += xr[i];
        m /= (float)C;
        float v = 0;
        for (int i = 0; i < C; i++) {
            float d = xr[i] - m;
            v += d * d;
        }
        v /= (float)C;   /* biased, as PyTorch's LayerNorm */
        float s = 1.0f / sqrtf(v + ES_LN_EPS);
        for (int i = 0; i < C; i++) yr[i] = (xr[i] - m) * s * g[i] + b[i];
        mean[r] = m;
        rstd[r] = s;
    }
}

/* With n = (x - mean) * rstd and dn = dy * g:
 *   dx = rstd * (dn - mean(dn) - n * mean(dn * n))   (overwritten)
 *   dg += sum over B of dy * n,  db += sum over B of dy */
void es_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x, const float *mean,
                           const float *rstd, const float *g, int B, int C)
{
    for (int r = 0; r < B; r++) {
        const float *xr = x + (size_t)r * C, *dyr = dy + (size_t)r * C;
        float *dxr = dx + (size_t)r * C;
        float m = mean[r], s = rstd[r];
        float dn_mean = 0, dnn_mean = 0;
        for (int i = 0; i < C; i++) {
            float nrm = (xr[i] - m) * s;
            float dn = dyr[i] * g[i];
            dn_mean += dn;
            dnn_mean += dn * nrm;
        }
        dn_mean /= (float)C;
        dnn_mean /= (float)C;
        for (int i = 0; i < C; i++) {
            float nrm = (xr[i] - m) * s;
            float dn = dyr[i] * g[i];
            dg[i] += dyr[i] * nrm;
            db[i] += dyr[i];
            dxr[i] = (dn - dn_mean - nrm * dnn_mean) * s;
        }
    }
}

/* ------------------------------------------------------------ relu, dropout */

/* y[n] = max(x, 0); a NaN passes through (as in PyTorch), so a diverged
 * run shows in the loss instead of being silently zeroed */
void es_relu_forward(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

/* dx[n] = x > 0 ? dy : 0 (the subgradient 0 at 0, as PyTorch) */
void es_relu_backward(float *dx, const float *dy, const float *x, size_t n)
{
    /* both loads unconditional, so the select vectorises */
    for (size_t i = 0; i < n; i++) {
        float g = dy[i];
        dx[i] = x[i] > 0.0f ? g : 0.0f;
    }
}

/* mask[n]: 0 with probability p, else 1/(1-p). Each 64-bit draw gives two
 * 32-bit uniforms (p is then resolved to 2^-32, plenty for dropout): mask
 * generation was half of a linear head's training time one draw apiece. */
void es_dropout_mask(float *mask, size_t n, float p, es_rng *rng)
{
    float keep = 1.0f / (1.0f - p);
    uint32_t thr = (uint32_t)((double)p * 4294967296.0);
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        uint64_t u = es_rng_next(rng);
        mask[i] = (uint32_t)u < thr ? 0.0f : keep;
        mask[i + 1] = (uint32_t)(u >> 32) < thr ? 0.0f : keep;
    }
    if (i < n) mask[i] = (uint32_t)es_rng_next(rng) < thr ? 0.0f : keep;
}

/* y[n] = x * mask */
void es_dropout_forward(float *y, const float *x, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] * mask[i];
}

/* dx[n] = dy * mask */
void es_dropout_backward(float *dx, const float *dy, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * mask[i];
}

/* ------------------------------------------------------------ pooling */

static const char *const POOL_NAMES[] = {"flat", "mean", "max", "meanmax", "meanstd"};

int es_pool_dim(es_pool p, int W, int D)
{
    switch (p) {
    case ES_POOL_FLAT: return W * D;
    case ES_POOL_MEAN: case ES_POOL_MAX: return D;
    case ES_POOL_MEANMAX: case ES_POOL_MEANSTD: return 2 * D;
    }
    return 0;
}

const char *es_pool_name(es_pool p)
{
    return (unsigned)p < sizeof POOL_NAMES / sizeof POOL_NAMES[0] ? POOL_NAMES[p] : "?";
}

es_status es_pool_parse(const char *s, es_pool *p, es_error *err)
{
    for (unsigned i = 0; s && i < sizeof POOL_NAMES / sizeof POOL_NAMES[0]; i++)
        if (!strcmp(s, POOL_NAMES[i])) {
            *p = (es_pool)i;
            return ES_OK;
        }
    return es_fail(err, ES_ERR_ARG, "unknown pooling '%s' (flat, mean, max, meanmax or meanstd)", s ? s : "");
}

/* running max and argmax over one more time step; branch-free and with
 * restrict so it vectorises (with a branch per value the max took a
 * quarter of a pooled head's training time) */
static void max_step(float *restrict mx, int *restrict ab, const float *restrict xt, int D, int t)
{
    for (int d = 0; d < D; d++) {
        float v = xt[d], m = mx[d];
        int a = ab[d], gt = v > m;
        mx[d] = gt ? v : m;
        ab[d] = a + gt * (t - a);     /* gcc 12 will not if-convert `gt ? t : a` here */
    }
}

/* x[B][W][D] -> y[B][P] (see nn.h for P and the layout of y);
 * arg[B][D] = time step of the max (MAX, MEANMAX) */
void es_pool_forward(float *y, int *arg, const float *x, es_pool p, int B, int W, int D)
{
    int P = es_pool_dim(p, W, D);
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * W * D;
        float *yb = y + (size_t)b * P;
        if (p == ES_POOL_FLAT) {
            memcpy(yb, xb, (size_t)W * D * sizeof(float));
            continue;
        }
        if (p != ES_POOL_MAX) {            /* the mean goes first */
            for (int d = 0; d < D; d++) yb[d] = 0;
            for (int t = 0; t < W; t++)
                for (int d = 0; d < D; d++) yb[d] += xb[(size_t)t * D + d];
            for (int d = 0; d < D; d++) yb[d] /= (float)W;
        }
        if (p == ES_POOL_MAX || p == ES_POOL_MEANMAX) {
            float *mx = p == ES_POOL_MAX ? yb : yb + D;
            int *ab = arg + (size_t)b * D;
            for (int d = 0; d < D; d++) { mx[d] = xb[d]; ab[d] = 0; }
            for (int t = 1; t < W; t++) max_step(mx, ab, xb + (size_t)t * D, D, t);
        }
        if (p == ES_POOL_MEANSTD) {
            float *sd = yb + D;
            for (int d = 0; d < D; d++) sd[d] = 0;
            for (int t = 0; t < W; t++)
                for (int d = 0; d < D; d++) {
                    float e = xb[(size_t)t * D + d] - yb[d];
                    sd[d] += e * e;
                }
            for (int d = 0; d < D; d++) sd[d] = sqrtf(sd[d] / (float)W + ES_POOL_EPS);
        }
    }
}

/* dy[B][P] -> dx[B][W][D] (overwritten):
 *   mean: dy/W to every step;  max: dy to the argmax step;
 *   std:  d std / d x_t = (x_t - mean) / (W * std)  (the mean's own
 *         dependence on x_t cancels, since sum_t (x_t - mean) = 0) */
void es_pool_backward(float *dx, const float *dy, const float *x, const float *y, const int *arg, es_pool p,
                      int B, int W, int D)
{
    int P = es_pool_dim(p, W, D);
    for (int b = 0; b < B; b++) {
        const float *dyb = dy + (size_t)b * P;
        float *dxb = dx + (size_t)b * W * D;
        if (p == ES_POOL_FLAT) {
            memcpy(dxb, dyb, (size_t)W * D * sizeof(float));
            continue;
        }
        if (p == ES_POOL_MAX) {
            memset(dxb, 0, (size_t)W * D * sizeof(float));
        } else {
            for (int t = 0; t < W; t++)
                for (int d = 0; d < D; d++) dxb[(size_t)t * D + d] = dyb[d] / (float)W;
        }
        if (p == ES_POOL_MAX || p == ES_POOL_MEANMAX) {
            const float *dmx = p == ES_POOL_MAX ? dyb : dyb + D;
            const int *ab = arg + (size_t)b * D;
            for (int d = 0; d < D; d++) dxb[(size_t)ab[d] * D + d] += dmx[d];
        }
        if (p == ES_POOL_MEANSTD) {
            const float *xb = x + (size_t)b * W * D, *yb = y + (size_t)b * P;
            for (int t = 0; t < W; t++)
                for (int d = 0; d < D; d++)
                    dxb[(size_t)t * D + d] += dyb[D + d] * (xb[(size_t)t * D + d] - yb[d]) / ((float)W * yb[D + d]);
        }
    }
}

/* ------------------------------------------------------------ softmax cross-entropy */

/* probs[K] = softmax(z[K]); returns log(sum exp(z - max)) and the max, so
 * the loss is lse - (z_y - max) without ever taking log of a tiny prob */
static double softmax_row(float *probs, const float *z, int K, float *zmax)
{
    float mx = z[0];
    for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
    double s = 0;
    for (int k = 0; k < K; k++) {
        probs[k] = expf(z[k] - mx);
        s += probs[k];
    }
    float inv = (float)(1.0 / s);
    for (int k = 0; k < K; k++) probs[k] *= inv;
    *zmax = mx;
    return log(s);
}

/* logits[B][K], y[B], cw[K] -> probs[B][K], losses[B]; returns
 * sum cw[y] * loss / sum cw[y] */
double es_softmax_ce_forward(float *probs, float *losses, const float *logits, const int *y, const float *cw,
                             int B, int K)
{
    double num = 0, den = 0;
    for (int b = 0; b < B; b++) {
        float mx;
        const float *z = logits + (size_t)b * K;
        double lse = softmax_row(probs + (size_t)b * K, z, K, &mx);
        double l = lse - ((double)z[y[b]] - mx);
        if (losses) losses[b] = (float)l;
        double w = cw ? cw[y[b]] : 1.0;
        num += w * l;
        den += w;
    }
    return den > 0 ? num / den : 0.0;
}

/* dlogits[B][K] = cw[y_b] / sum cw[y] * (probs - onehot(y_b)) */
/* Label smoothing eps: the target is (1-eps) one-hot + eps/K, so the
 * loss becomes (1-eps) CE + eps * mean_k(-log p_k) and its gradient, on
 * top of es_softmax_ce_backward's, gains s_b * eps * (onehot - 1/K) per
 * row (s_b the row's share, as there). */
void es_label_smooth_backward(float *dlogits, const int *y, const float *cw, int B, int K, float eps)
{
    double den = 0;
    for (int b = 0; b < B; b++) den += cw ? cw[y[b]] : 1.0;
    for (int b = 0; b < B; b++) {
        float s = den > 0 ? (float)((cw ? cw[y[b]] : 1.0) / den) : 0.0f;
        float *d = dlogits + (size_t)b * K;
        for (int k = 0; k < K; k++) d[k] += s * eps * ((k == y[b] ? 1.0f : 0.0f) - 1.0f / (float)K);
    }
}

/* Mixup: a row that is lam x its own input + (1-lam) x a partner's has the
 * target lam onehot(y) + (1-lam) onehot(y2), so the loss is lam CE(y) +
 * (1-lam) CE(y2) and the gradient gains s_b (1-lam) (onehot(y) -
 * onehot(y2)) on top of es_softmax_ce_backward's for y. */
void es_mix_backward(float *dlogits, const int *y, const int *y2, const float *cw, int B, int K, float lam)
{
    double den = 0;
    for (int b = 0; b < B; b++) den += cw ? cw[y[b]] : 1.0;
    for (int b = 0; b < B; b++) {
        float s = den > 0 ? (float)((cw ? cw[y[b]] : 1.0) / den) : 0.0f;
        dlogits[(size_t)b * K + y[b]] += s * (1 - lam);
        dlogits[(size_t)b * K + y2[b]] -= s * (1 - lam);
    }
}

void es_softmax_ce_backward(float *dlogits, const float *probs, const int *y, const float *cw, int B, int K)
{
    double den = 0;
    for (int b = 0; b < B; b++) den += cw ? cw[y[b]] : 1.0;
    for (int b = 0; b < B; b++) {
        float s = den > 0 ? (float)((cw ? cw[y[b]] : 1.0) / den) : 0.0f;
        const float *p = probs + (size_t)b * K;
        float *d = dlogits + (size_t)b * K;
        for (int k = 0; k < K; k++) d[k] = s * (p[k] - (k == y[b] ? 1.0f : 0.0f));
    }
}

/* ------------------------------------------------------------ the head */

#define MAX_LIN (ES_MLP_MAX_HIDDEN + 1)
#define MAX_TENSORS (4 * ES_MLP_MAX_HIDDEN + 2)
/* Limits that keep every size in an int (cblas takes ints) and refuse a
 * configuration that would ask for gigabytes. */
#define MAX_IN_DIM (1 << 22)
#define MAX_WIDTH (1 << 16)
#define MAX_PARAMS ((size_t)1 << 28)

typedef struct {
    float *w, *b, *g, *beta;          /* parameters (g, beta: hidden blocks) */
    float *dw, *db, *dg, *dbeta;      /* their gradients */
    /* activations of the last forward, cap rows each */
    float *mask, *xd;                 /* dropout on this layer's input */
    float *z;                         /* linear output [B][out] */
    float *ln, *mean, *rstd, *h;      /* hidden blocks: LayerNorm, ReLU */
    const float *xin;                 /* what the linear read */
    int dropped;                      /* dropout was applied to the input */
} layer;

struct es_mlp {
    es_mlp_cfg cfg;
    int in_dim, P, nl;                /* W*D, pooled size, linear layers */
    int dims[MAX_LIN + 1];            /* dims[i] -> dims[i+1] is linear i */
    int drop_in[MAX_LIN];             /* dropout sits on linear i's input */
    float p_drop;                     /* in effect (es_train may override) */
    float smooth;                     /* label smoothing in effect (es_train sets it) */
    const int *mix_y;                 /* mixup: each row's partner label, or NULL */
    float mix_lam;                    /* and the row's own share */
    float *params, *grads;
    uint8_t *decay;
    size_t nparams;
    es_param_info tensors[MAX_TENSORS];
    int ntensors;
    layer L[MAX_LIN];
    /* activation arena for up to cap rows */
    int cap, B, have_loss, has_cw;
    float *arena;
    int *arg, *y;
    const float *x;                   /* the last forward's input (not owned) */
    float *pooled, *probs, *losses, *g0, *g1, *cw;
};

static void add_tensor(es_mlp *m, const char *name, int d0, int d1, int decay)
{
    es_param_info *t = &m->tensors[m->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = m->nparams;
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->count = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    t->decay = decay;
    m->nparams += t->count;
}

es_mlp *es_mlp_create(const es_mlp_cfg *cfg, uint64_t seed, es_error *err)
{
    if (!cfg) { es_fail(err, ES_ERR_ARG, "es_mlp_create: no configuration"); return NULL; }
    const es_mlp_cfg *c = cfg;
    if (c->window < 1 || c->dim < 1 || c->window > MAX_IN_DIM / c->dim) {
        es_fail(err, ES_ERR_ARG, "head: window %d x dim %d is out of range", c->window, c->dim);
        return NULL;
    }
    if (es_pool_dim(c->pool, c->window, c->dim) == 0) {
        es_fail(err, ES_ERR_ARG, "head: unknown pooling %d", (int)c->pool);
        return NULL;
    }
    if (c->n_hidden < 0 || c->n_hidden > ES_MLP_MAX_HIDDEN) {
        es_fail(err, ES_ERR_ARG, "head: %d hidden layers (0 to %d supported)", c->n_hidden, ES_MLP_MAX_HIDDEN);
        return NULL;
    }
    for (int i = 0; i < c->n_hidden; i++)
        if (c->hidden[i] < 1 || c->hidden[i] > MAX_WIDTH) {
            es_fail(err, ES_ERR_ARG, "head: hidden width %d is out of range (1 to %d)", c->hidden[i], MAX_WIDTH);
            return NULL;
        }
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) {
        es_fail(err, ES_ERR_ARG, "head: dropout %g is not in [0, 1)", (double)c->dropout);
        return NULL;
    }
    if (c->n_classes < 2 || c->n_classes > MAX_WIDTH) {
        es_fail(err, ES_ERR_ARG, "head: %d classes (2 to %d supported)", c->n_classes, MAX_WIDTH);
        return NULL;
    }
    if (es_blas_ready(err)) return NULL;   /* its products could not run */
    es_mlp *m = calloc(1, sizeof *m);
    if (!m) { es_fail(err, ES_ERR_NOMEM, "head: out of memory"); return NULL; }
    m->cfg = *c;
    m->in_dim = c->window * c->dim;
    m->P = es_pool_dim(c->pool, c->window, c->dim);
    m->nl = c->n_hidden + 1;
    m->p_drop = c->dropout;
    m->dims[0] = m->P;
    for (int i = 0; i < c->n_hidden; i++) m->dims[i + 1] = c->hidden[i];
    m->dims[m->nl] = c->n_classes;
    for (int i = 0; i < m->nl; i++) m->drop_in[i] = i > 0 || c->n_hidden == 0;

    size_t total = 0;
    for (int i = 0; i < m->nl; i++) total += (size_t)m->dims[i] * m->dims[i + 1] + 3 * (size_t)m->dims[i + 1];
    if (total > MAX_PARAMS) {
        es_fail(err, ES_ERR_ARG, "head: %zu parameters is too many", total);
        free(m);
        return NULL;
    }
    char name[32];
    for (int i = 0; i < m->nl; i++) {
        int hid = i < c->n_hidden;
        snprintf(name, sizeof name, "head.%d.weight", i);
        add_tensor(m, name, m->dims[i + 1], m->dims[i], 1);
        snprintf(name, sizeof name, "head.%d.bias", i);
        add_tensor(m, name, m->dims[i + 1], 0, 0);
        if (hid) {
            snprintf(name, sizeof name, "head.%d.ln.weight", i);
            add_tensor(m, name, m->dims[i + 1], 0, 0);
            snprintf(name, sizeof name, "head.%d.ln.bias", i);
            add_tensor(m, name, m->dims[i + 1], 0, 0);
        }
    }
    m->params = malloc(m->nparams * sizeof(float));
    m->grads = calloc(m->nparams, sizeof(float));
    m->decay = malloc(m->nparams);
    if (!m->params || !m->grads || !m->decay) {
        es_mlp_free(m);
        es_fail(err, ES_ERR_NOMEM, "head: out of memory for %zu parameters", total);
        return NULL;
    }
    for (int t = 0; t < m->ntensors; t++)
        memset(m->decay + m->tensors[t].offset, m->tensors[t].decay, m->tensors[t].count);

    /* point the layers into the buffers, in tensor order */
    int t = 0;
    for (int i = 0; i < m->nl; i++) {
        layer *L = &m->L[i];
        size_t o;
        o = m->tensors[t++].offset; L->w = m->params + o; L->dw = m->grads + o;
        o = m->tensors[t++].offset; L->b = m->params + o; L->db = m->grads + o;
        if (i < c->n_hidden) {
            o = m->tensors[t++].offset; L->g = m->params + o; L->dg = m->grads + o;
            o = m->tensors[t++].offset; L->beta = m->params + o; L->dbeta = m->grads + o;
        }
    }

    /* PyTorch's nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5))
     * gives bound = gain * sqrt(3 / fan_in) = sqrt(1/3) * sqrt(3 / fan_in)
     * = 1 / sqrt(fan_in); the bias uses the same bound. */
    es_rng r;
    es_rng_seed(&r, seed);
    for (int i = 0; i < m->nl; i++) {
        layer *L = &m->L[i];
        int in = m->dims[i], out = m->dims[i + 1];
        float bound = 1.0f / sqrtf((float)in);
        for (size_t k = 0; k < (size_t)in * out; k++) L->w[k] = (2.0f * es_rng_uniform(&r) - 1.0f) * bound;
        for (int k = 0; k < out; k++) L->b[k] = (2.0f * es_rng_uniform(&r) - 1.0f) * bound;
        if (L->g)
            for (int k = 0; k < out; k++) { L->g[k] = 1.0f; L->beta[k] = 0.0f; }
    }
    return m;
}

void es_mlp_free(es_mlp *m)
{
    if (!m) return;
    free(m->params);
    free(m->grads);
    free(m->decay);
    free(m->arena);
    free(m->arg);
    free(m->y);
    free(m);
}

const es_mlp_cfg *es_mlp_config(const es_mlp *m) { return &m->cfg; }
int es_mlp_in_dim(const es_mlp *m) { return m->in_dim; }
float *es_mlp_params(es_mlp *m, size_t *n) { if (n) *n = m->nparams; return m->params; }
float *es_mlp_grads(es_mlp *m, size_t *n) { if (n) *n = m->nparams; return m->grads; }
const uint8_t *es_mlp_decay_mask(const es_mlp *m) { return m->decay; }
int es_mlp_ntensors(const es_mlp *m) { return m->ntensors; }
void es_mlp_zero_grad(es_mlp *m) { memset(m->grads, 0, m->nparams * sizeof(float)); }

const es_param_info *es_mlp_tensor(const es_mlp *m, int i)
{
    return i >= 0 && i < m->ntensors ? &m->tensors[i] : NULL;
}

const es_param_info *es_mlp_find(const es_mlp *m, const char *name)
{
    for (int i = 0; name && i < m->ntensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

/* Carve the activation buffers for `cap` rows out of one arena. Called
 * with base == NULL it only counts. */
static size_t carve(es_mlp *m, float *base, size_t cap)
{
    size_t off = 0;
#define TAKE(p, cnt) do { if (base) (p) = base + off; off += (cnt); } while (0)
    int maxd = 0;
    for (int i = 0; i <= m->nl; i++) maxd = m->dims[i] > maxd ? m->dims[i] : maxd;
    if (m->cfg.pool != ES_POOL_FLAT) TAKE(m->pooled, cap * m->P);
    TAKE(m->probs, cap * m->cfg.n_classes);
    TAKE(m->losses, cap);
    TAKE(m->cw, (size_t)m->cfg.n_classes);
    TAKE(m->g0, cap * maxd);
    TAKE(m->g1, cap * maxd);
    for (int i = 0; i < m->nl; i++) {
        layer *L = &m->L[i];
        size_t in = (size_t)m->dims[i], out = (size_t)m->dims[i + 1];
        if (m->drop_in[i]) { TAKE(L->mask, cap * in); TAKE(L->xd, cap * in); }
        TAKE(L->z, cap * out);
        if (i < m->cfg.n_hidden) {
            TAKE(L->ln, cap * out);
            TAKE(L->h, cap * out);
            TAKE(L->mean, cap);
            TAKE(L->rstd, cap);
        }
    }
#undef TAKE
    return off;
}

static es_status ensure_cap(es_mlp *m, int B, es_error *err)
{
    if (B <= m->cap) return ES_OK;
    free(m->arena);
    free(m->arg);
    free(m->y);
    m->cap = 0;
    m->arena = malloc(carve(m, NULL, (size_t)B) * sizeof(float));
    m->arg = malloc((size_t)B * m->cfg.dim * sizeof(int));
    m->y = malloc((size_t)B * sizeof(int));
    if (!m->arena || !m->arg || !m->y) return es_fail(err, ES_ERR_NOMEM, "head: out of memory for a batch of %d", B);
    carve(m, m->arena, (size_t)B);
    m->cap = B;
    return ES_OK;
}

/* x[B][W*D] -> logits[B][K]; see the diagram in nn.h */
const float *es_mlp_forward(es_mlp *m, const float *x, int B, int train, es_rng *rng, es_error *err)
{
    m->have_loss = 0;
    if (!x || B < 1 || (train && m->p_drop > 0 && !rng)) {
        es_fail(err, ES_ERR_ARG, "es_mlp_forward: invalid arguments");
        return NULL;
    }
    if (ensure_cap(m, B, err)) return NULL;
    const es_mlp_cfg *c = &m->cfg;
    /* flat pooling is the identity: read x in place rather than copy it */
    const float *cur = x;
    if (c->pool != ES_POOL_FLAT) {
        es_pool_forward(m->pooled, m->arg, x, c->pool, B, c->window, c->dim);
        cur = m->pooled;
    }
    m->x = x;
    for (int i = 0; i < m->nl; i++) {
        layer *L = &m->L[i];
        int in = m->dims[i], out = m->dims[i + 1];
        size_t nin = (size_t)B * in, nout = (size_t)B * out;
        L->dropped = m->drop_in[i] && train && m->p_drop > 0;
        if (L->dropped) {
            es_dropout_mask(L->mask, nin, m->p_drop, rng);
            es_dropout_forward(L->xd, cur, L->mask, nin);
            cur = L->xd;
        }
        L->xin = cur;
        es_linear_forward(L->z, cur, L->w, L->b, B, in, out);
        if (i < c->n_hidden) {
            es_layernorm_forward(L->ln, L->mean, L->rstd, L->z, L->g, L->beta, B, out);
            es_relu_forward(L->h, L->ln, nout);
            cur = L->h;
        }
    }
    m->B = B;
    return m->L[m->nl - 1].z;
}

es_status es_mlp_loss(es_mlp *m, const int *y, const float *cw, double *loss, es_error *err)
{
    if (!m->B || !y) return es_fail(err, ES_ERR_ARG, "es_mlp_loss: no forward pass or no labels");
    int K = m->cfg.n_classes;
    for (int b = 0; b < m->B; b++)
        if (y[b] < 0 || y[b] >= K) return es_fail(err, ES_ERR_ARG, "label %d of row %d is not in [0, %d)", y[b], b, K);
    memcpy(m->y, y, (size_t)m->B * sizeof(int));
    m->has_cw = cw != NULL;
    if (cw) memcpy(m->cw, cw, (size_t)K * sizeof(float));
    double l = es_softmax_ce_forward(m->probs, m->losses, m->L[m->nl - 1].z, m->y, cw, m->B, K);
    if (loss) *loss = l;
    m->have_loss = 1;
    return ES_OK;
}

es_status es_mlp_backward(es_mlp *m, float *dx, es_error *err)
{
    if (!m->have_loss) return es_fail(err, ES_ERR_ARG, "es_mlp_backward: call es_mlp_forward and es_mlp_loss first");
    const es_mlp_cfg *c = &m->cfg;
    int B = m->B;
    /* two buffers, never used in place: gcc's vector loops check for
     * overlap and fall back to scalar code when dx == dy */
    float *d = m->g0, *o = m->g1, *t;
    es_softmax_ce_backward(d, m->probs, m->y, m->has_cw ? m->cw : NULL, B, c->n_classes);
    if (m->smooth > 0) es_label_smooth_backward(d, m->y, m->has_cw ? m->cw : NULL, B, c->n_classes, m->smooth);
    if (m->mix_y) es_mix_backward(d, m->y, m->mix_y, m->has_cw ? m->cw : NULL, B, c->n_classes, m->mix_lam);
    for (int i = m->nl - 1; i >= 0; i--) {
        layer *L = &m->L[i];
        int in = m->dims[i], out = m->dims[i + 1];
        if (i < c->n_hidden) {         /* d is d h_i: back through ReLU and LayerNorm to d z_i */
            es_relu_backward(o, d, L->ln, (size_t)B * out);
            es_layernorm_backward(d, L->dg, L->dbeta, o, L->z, L->mean, L->rstd, L->g, B, out);
        }
        int need = i > 0 || dx;        /* frozen inputs need no gradient */
        es_linear_backward(need ? o : NULL, L->dw, L->db, d, L->xin, L->w, B, in, out);
        if (!need) break;
        if (L->dropped) {
            es_dropout_backward(d, o, L->mask, (size_t)B * in);
        } else {
            t = d; d = o; o = t;
        }
    }
    if (dx) es_pool_backward(dx, d, m->x, m->pooled, m->arg, c->pool, B, c->window, c->dim);
    return ES_OK;
}

es_status es_mlp_predict(es_mlp *m, const float *x, size_t n, float *probs, es_error *err)
{
    if ((!x || !probs) && n) return es_fail(err, ES_ERR_ARG, "es_mlp_predict: invalid arguments");
    int K = m->cfg.n_classes;
    const size_t chunk = 256;
    for (size_t s = 0; s < n; s += chunk) {
        int B = (int)(n - s < chunk ? n - s : chunk);
        const float *z = es_mlp_forward(m, x + s * m->in_dim, B, 0, NULL, err);
        if (!z) return err ? err->status : ES_ERR_NOMEM;
        float mx;
        for (int b = 0; b < B; b++) softmax_row(probs + (s + b) * K, z + (size_t)b * K, K, &mx);
    }
    return ES_OK;
}

/* ------------------------------------------------------------ AdamW */

es_status es_adamw_init(es_adamw *o, size_t n, es_error *err)
{
    memset(o, 0, sizeof *o);
    o->m = calloc(n ? n : 1, sizeof(float));
    o->v = calloc(n ? n : 1, sizeof(float));
    if (!o->m || !o->v) {
        es_adamw_free(o);
        return es_fail(err, ES_ERR_NOMEM, "optimiser: out of memory");
    }
    o->n = n;
    return ES_OK;
}

void es_adamw_free(es_adamw *o)
{
    if (!o) return;
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

/* The update of one run of parameters that share the decay setting.
 * Written with SSE2 (every x86-64 has it) because gcc will not vectorise a
 * loop calling sqrtf while sqrtf may set errno, and this loop was 40% of an
 * MLP's training time. The vector and scalar paths do the same IEEE
 * operations in the same order (sqrtps is correctly rounded like sqrtss),
 * so the bits do not depend on which path an element takes. */
static void adamw_run(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                      float shrink, float b1, float b2, float step, float rbc2, float eps)
{
    size_t i = 0;
    float c1 = 1.0f - b1, c2 = 1.0f - b2;
#ifdef __SSE2__
    const __m128 vs = _mm_set1_ps(shrink), vb1 = _mm_set1_ps(b1), vc1 = _mm_set1_ps(c1), vb2 = _mm_set1_ps(b2),
                 vc2 = _mm_set1_ps(c2), vst = _mm_set1_ps(step), vbc = _mm_set1_ps(rbc2), ve = _mm_set1_ps(eps);
    for (; i + 4 <= n; i += 4) {
        __m128 P = _mm_mul_ps(_mm_loadu_ps(p + i), vs), G = _mm_loadu_ps(g + i);
        __m128 M = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(vc1, G));
        __m128 V = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(vc2, G), G));
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(V), vbc), ve);
        _mm_storeu_ps(p + i, _mm_sub_ps(P, _mm_div_ps(_mm_mul_ps(vst, M), den)));
        _mm_storeu_ps(m + i, M);
        _mm_storeu_ps(v + i, V);
    }
#endif
    for (; i < n; i++) {
        p[i] *= shrink;
        m[i] = b1 * m[i] + c1 * g[i];
        v[i] = b2 * v[i] + c2 * g[i] * g[i];
        p[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
    }
}

void es_adamw_step(es_adamw *o, float *p, const float *g, const uint8_t *decay, const es_adamw_hp *hp)
{
    o->t++;
    double bc1 = 1.0 - pow(hp->beta1, (double)o->t), bc2 = 1.0 - pow(hp->beta2, (double)o->t);
    float step = (float)(hp->lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
    float shrink = 1.0f - hp->lr * hp->weight_decay;
    /* runs of equal decay flags (whole tensors, in a head) */
    for (size_t i = 0, j; i < o->n; i = j) {
        int d = !decay || decay[i] != 0;
        j = o->n;
        if (decay)
            for (j = i + 1; j < o->n && (decay[j] != 0) == d; j++) {}
        adamw_run(p + i, g + i, o->m + i, o->v + i, j - i, d ? shrink : 1.0f, hp->beta1, hp->beta2, step, rbc2,
                  hp->eps);
    }
}

float es_lr_at(es_lr_kind kind, float base, long t, long total, long warmup)
{
    if (warmup > 0 && t < warmup) return base * (float)(t + 1) / (float)warmup;
    if (kind == ES_LR_CONSTANT || total <= 0) return base;
    double prog = total > warmup ? (double)(t - warmup) / (double)(total - warmup) : 1.0;
    if (prog > 1) prog = 1;
    return (float)(base * 0.5 * (1.0 + cos(3.141592653589793 * prog)));
}

/* ------------------------------------------------------------ training */

static const char *const BALANCE_NAMES[] = {"none", "sample", "weight", "auto"};

const char *es_balance_name(es_balance b)
{
    return (unsigned)b < sizeof BALANCE_NAMES / sizeof BALANCE_NAMES[0] ? BALANCE_NAMES[b] : "?";
}

int es_balance_parse(const char *s)
{
    if (!s) return ES_BALANCE_AUTO;
    for (size_t i = 0; i < sizeof BALANCE_NAMES / sizeof BALANCE_NAMES[0]; i++)
        if (!strcmp(s, BALANCE_NAMES[i])) return (int)i;
    return -1;
}

es_train_cfg es_train_defaults(void)
{
    es_train_cfg c = {
        .epochs = 100, .batch = 64, .lr = 1e-3f, .weight_decay = 1e-2f,
        .beta1 = 0.9f, .beta2 = 0.999f, .adam_eps = 1e-8f, .dropout = -1.0f,
        .schedule = ES_LR_COSINE, .warmup = 0.05f, .seed = 0,
        .balance = ES_BALANCE_AUTO, .monitor = ES_MONITOR_LOSS, .patience = 15,
    };
    return c;
}

typedef struct {
    double loss, acc, bal_acc;
} metrics;

/* Evaluation-mode pass over x[n] in chunks: loss weighted by cw (NULL =
 * plain mean), accuracy, balanced accuracy (mean recall over the classes
 * present). hit/cnt: K-sized scratch. */
static es_status evaluate(es_mlp *m, es_cnn *net, const float *x, const int *y, size_t n, const float *cw, int chunk,
                          size_t *hit, size_t *cnt, metrics *out, es_error *err)
{
    size_t dim = net ? es_cnn_in_size(net) : (size_t)m->in_dim;
    int K = m->cfg.n_classes;
    memset(hit, 0, (size_t)K * sizeof *hit);
    memset(cnt, 0, (size_t)K * sizeof *cnt);
    double num = 0, den = 0;
    size_t ok = 0;
    for (size_t s = 0; s < n; s += (size_t)chunk) {
        int B = (int)(n - s < (size_t)chunk ? n - s : (size_t)chunk);
        const float *h = x + s * dim;
        if (net && !(h = es_cnn_forward(net, h, B, err))) return err ? err->status : ES_ERR_NOMEM;
        const float *z = es_mlp_forward(m, h, B, 0, NULL, err);
        if (!z) return err ? err->status : ES_ERR_NOMEM;
        es_softmax_ce_forward(m->probs, m->losses, z, y + s, NULL, B, K);
        for (int b = 0; b < B; b++) {
            int lab = y[s + b];
            double w = cw ? cw[lab] : 1.0;
            num += w * m->losses[b];
            den += w;
            const float *p = m->probs + (size_t)b * K;
            int best = 0;
            for (int k = 1; k < K; k++) best = p[k] > p[best] ? k : best;
            cnt[lab]++;
            if (best == lab) { hit[lab]++; ok++; }
        }
    }
    double rsum = 0;
    int present = 0;
    for (int k = 0; k < K; k++)
        if (cnt[k]) { rsum += (double)hit[k] / (double)cnt[k]; present++; }
    out->loss = den > 0 ? num / den : 0;
    out->acc = (double)ok / (double)n;
    out->bal_acc = present ? rsum / present : 0;
    return ES_OK;
}

static void shuffle(size_t *a, size_t n, es_rng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)es_rng_below(r, i);
        size_t t = a[i - 1]; a[i - 1] = a[j]; a[j] = t;
    }
}

/* example i of x[n][dim], or rows[i] when rows is given */
static const float *example(const float *x, const float *const *rows, size_t i, size_t dim)
{
    return rows ? rows[i] : x + i * dim;
}

static es_status check_data(const float *x, const float *const *rows, const int *y, size_t n, size_t dim, int K,
                            const char *what, es_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= K)
            return es_fail(err, ES_ERR_ARG, "%s example %zu: label %d is not in [0, %d)", what, i, y[i], K);
        const float *r = example(x, rows, i, dim);
        for (size_t j = 0; j < dim; j++)
            if (!isfinite(r[j])) return es_fail(err, ES_ERR_ARG, "%s example %zu: value %zu is not finite", what, i, j);
    }
    return ES_OK;
}

es_status es_train(es_mlp *m, const float *x, const int *y, size_t n, const float *xv, const int *yv, size_t nv,
                   const es_train_cfg *cfg, es_train_report *rep,
                   void (*progress)(void *user, int epoch, float train_loss, float val_loss, float val_acc),
                   void *user, es_error *err)
{
    return es_train_net(m, NULL, 0, x, y, n, xv, yv, nv, cfg, rep, progress, user, err);
}

static es_status train_net(es_mlp *m, es_cnn *net, float net_lr, const float *x, const float *const *rows, const int *y,
                           size_t n, const float *xv, const int *yv, size_t nv, const es_train_cfg *cfg,
                           es_train_report *rep,
                           void (*progress)(void *user, int epoch, float train_loss, float val_loss, float val_acc),
                           void *user, es_error *err);

es_status es_train_net(es_mlp *m, es_cnn *net, float net_lr, const float *x, const int *y, size_t n, const float *xv,
                       const int *yv, size_t nv, const es_train_cfg *cfg, es_train_report *rep,
                       void (*progress)(void *user, int epoch, float train_loss, float val_loss, float val_acc),
                       void *user, es_error *err)
{
    if (!x) return es_fail(err, ES_ERR_ARG, "train: no training examples");
    return train_net(m, net, net_lr, x, NULL, y, n, xv, yv, nv, cfg, rep, progress, user, err);
}

es_status es_train_net_rows(es_mlp *m, es_cnn *net, float net_lr, const float *const *rows, const int *y, size_t n,
                            const float *xv, const int *yv, size_t nv, const es_train_cfg *cfg, es_train_report *rep,
                            void (*progress)(void *user, int epoch, float train_loss, float val_loss, float val_acc),
                            void *user, es_error *err)
{
    if (!rows) return es_fail(err, ES_ERR_ARG, "train: no training examples");
    for (size_t i = 0; i < n; i++)
        if (!rows[i]) return es_fail(err, ES_ERR_ARG, "train: training example %zu has no data", i);
    return train_net(m, net, net_lr, NULL, rows, y, n, xv, yv, nv, cfg, rep, progress, user, err);
}

static es_status train_net(es_mlp *m, es_cnn *net, float net_lr, const float *x, const float *const *rows, const int *y,
                           size_t n, const float *xv, const int *yv, size_t nv, const es_train_cfg *cfg,
                           es_train_report *rep,
                           void (*progress)(void *user, int epoch, float train_loss, float val_loss, float val_acc),
                           void *user, es_error *err)
{
    /* fixes OpenBLAS at one thread (es_internal.h), so sgemm sums in one order */
    es_threads();
    if (!m || !y || !cfg || n == 0) return es_fail(err, ES_ERR_ARG, "train: no training examples");
    const es_train_cfg *c = cfg;
    if (c->epochs < 1 || c->batch < 1 || !(c->lr > 0 && isfinite(c->lr)) ||
        !(c->weight_decay >= 0 && c->lr * c->weight_decay < 1) || !(c->beta1 >= 0 && c->beta1 < 1) ||
        !(c->beta2 >= 0 && c->beta2 < 1) || !(c->adam_eps > 0) || !(c->dropout < 1) ||
        !(c->warmup >= 0 && c->warmup < 1) || c->patience < 0 || (unsigned)c->schedule > ES_LR_CONSTANT ||
        (unsigned)c->balance > ES_BALANCE_AUTO || (unsigned)c->monitor > ES_MONITOR_BAL_ACC)
        return es_fail(err, ES_ERR_ARG, "train: invalid training settings");
    if (net && (!(net_lr > 0 && isfinite(net_lr) && net_lr * c->weight_decay < 1) ||
                es_cnn_out_size(net) != (size_t)m->in_dim))
        return es_fail(err, ES_ERR_ARG, "train: the network's learning rate or output size does not fit the head");
    if (!xv || !yv) nv = 0;
    int K = m->cfg.n_classes;
    size_t dim = net ? es_cnn_in_size(net) : (size_t)m->in_dim;
    es_status st = check_data(x, rows, y, n, dim, K, "training", err);
    if (!st && nv) st = check_data(xv, NULL, yv, nv, dim, K, "validation", err);
    if (st) return st;

    int batch = (size_t)c->batch > n ? (int)n : c->batch;
    /* a network keeps every layer's activations per example: evaluate in
     * batches, not in the head's larger chunks */
    int chunk = net ? batch : batch > 256 ? batch : 256;
    size_t np = m->nparams, nq = 0;
    float *q = net ? es_cnn_params(net, &nq) : NULL, *qg = net ? es_cnn_grads(net, NULL) : NULL;
    float *qbest = malloc((nq + 1) * sizeof(float)), *qorig = malloc((nq + 1) * sizeof(float));
    float *dh = net ? malloc((size_t)batch * m->in_dim * sizeof(float)) : NULL;
    es_adamw qopt = {0};
    size_t *cnt = calloc((size_t)K, sizeof *cnt), *hit = calloc((size_t)K, sizeof *hit);
    size_t *vcnt = calloc((size_t)K, sizeof *vcnt);
    size_t *cstart = calloc((size_t)K + 1, sizeof *cstart), *cpos = calloc((size_t)K, sizeof *cpos);
    size_t *order = malloc(n * sizeof *order), *byclass = malloc(n * sizeof *byclass);
    int *present = malloc((size_t)K * sizeof *present), *by = malloc((size_t)batch * sizeof *by);
    float *cw = malloc((size_t)K * sizeof *cw), *cwv = malloc((size_t)K * sizeof *cwv);
    float *bx = malloc((size_t)batch * dim * sizeof *bx);
    int *mix_y = malloc(((size_t)batch + 1) * sizeof *mix_y);
    float *best = malloc(np * sizeof *best), *orig = malloc(np * sizeof *orig);
    es_adamw opt = {0};
    float saved_drop = m->p_drop;
    int saved = 0;
    if (!cnt || !hit || !vcnt || !cstart || !cpos || !order || !byclass || !present || !by || !cw || !cwv || !bx || !mix_y || !best ||
        !orig || !qbest || !qorig || (net && !dh)) {
        st = es_fail(err, ES_ERR_NOMEM, "train: out of memory");
        goto done;
    }
    if ((st = es_adamw_init(&opt, np, err))) goto done;
    if (net && (st = es_adamw_init(&qopt, nq, err))) goto done;
    if ((st = ensure_cap(m, chunk, err))) goto done;
    memcpy(orig, m->params, np * sizeof(float));
    memcpy(best, m->params, np * sizeof(float));
    if (net) { memcpy(qorig, q, nq * sizeof(float)); memcpy(qbest, q, nq * sizeof(float)); }
    saved = 1;

    /* class counts, the examples of each class (for balanced sampling), and
     * the balancing actually used */
    for (size_t i = 0; i < n; i++) cnt[y[i]]++;
    for (int k = 0; k < K; k++) cstart[k + 1] = cstart[k] + cnt[k];
    for (size_t i = 0; i < n; i++) byclass[cstart[y[i]] + cpos[y[i]]++] = i;
    memset(cpos, 0, (size_t)K * sizeof *cpos);
    int np_cls = 0;
    size_t cmin = n, cmax = 0;
    for (int k = 0; k < K; k++)
        if (cnt[k]) {
            present[np_cls++] = k;
            cmin = cnt[k] < cmin ? cnt[k] : cmin;
            cmax = cnt[k] > cmax ? cnt[k] : cmax;
        }
    es_balance bal = c->balance;
    if (bal == ES_BALANCE_AUTO) bal = (double)cmax >= 1.5 * (double)cmin ? ES_BALANCE_WEIGHT : ES_BALANCE_NONE;
    for (int k = 0; k < K; k++) cw[k] = cnt[k] ? (float)((double)n / ((double)np_cls * (double)cnt[k])) : 0.0f;
    if (nv) {
        /* each validation class weighs the same when balancing, so the loss
         * that early stopping watches does not favour the majority class */
        memset(hit, 0, (size_t)K * sizeof *hit);
        for (size_t i = 0; i < nv; i++) hit[yv[i]]++;
        for (int k = 0; k < K; k++) cwv[k] = hit[k] ? 1.0f / (float)hit[k] : 0.0f;
    }
    const float *cw_train = bal == ES_BALANCE_WEIGHT ? cw : NULL;
    const float *cw_val = bal != ES_BALANCE_NONE ? cwv : NULL;
    m->p_drop = c->dropout >= 0 ? c->dropout : m->cfg.dropout;
    m->smooth = c->label_smoothing > 0 && c->label_smoothing < 1 ? c->label_smoothing : 0;

    es_rng rng;
    es_rng_seed(&rng, c->seed);
    long spe = (long)((n + (size_t)batch - 1) / (size_t)batch);
    long total = spe * c->epochs, step = 0;
    long warm = (long)(c->warmup * (double)total + 0.5);
    es_adamw_hp hp = {c->lr, c->beta1, c->beta2, c->adam_eps, c->weight_decay}, qhp = hp;
    es_train_report r = {.balance = bal, .val_loss = NAN, .val_acc = NAN, .val_bal_acc = NAN};
    double best_m = 0, best_l = 0;
    int since = 0;

    for (int ep = 1; ep <= c->epochs; ep++) {
        if (bal == ES_BALANCE_SAMPLE) {
            /* a class uniformly, then that class's next example; each class
             * walks through fresh permutations of its examples */
            for (size_t j = 0; j < n; j++) {
                int k = present[es_rng_below(&rng, (uint64_t)np_cls)];
                size_t *lst = byclass + cstart[k];
                if (cpos[k] == 0) shuffle(lst, cnt[k], &rng);
                order[j] = lst[cpos[k]];
                cpos[k] = (cpos[k] + 1) % cnt[k];
            }
        } else {
            for (size_t j = 0; j < n; j++) order[j] = j;
            shuffle(order, n, &rng);
        }
        double lsum = 0;
        for (size_t s = 0; s < n; s += (size_t)batch, step++) {
            int B = (int)(n - s < (size_t)batch ? n - s : (size_t)batch);
            for (int b = 0; b < B; b++) {
                memcpy(bx + (size_t)b * dim, example(x, rows, order[s + b], dim), dim * sizeof(float));
                by[b] = y[order[s + b]];
            }
            if (c->mixup > 0 && B > 1) {
                /* mixup: row b takes in (1-lam) of row B-1-b (the batch is
                 * shuffled, so that is a random partner), lam from
                 * [1 - mixup, 1] per batch; the targets mix alike */
                float lam = 1.0f - c->mixup * (float)es_rng_uniform(&rng);
                for (int b = 0; b < B; b++) {
                    const float *o = example(x, rows, order[s + (size_t)(B - 1 - b)], dim);
                    float *r = bx + (size_t)b * dim;
                    for (size_t k = 0; k < dim; k++) r[k] = lam * r[k] + (1 - lam) * o[k];
                    mix_y[b] = y[order[s + (size_t)(B - 1 - b)]];
                }
                m->mix_y = mix_y;
                m->mix_lam = lam;
            } else {
                m->mix_y = NULL;
            }
            double loss;
            es_mlp_zero_grad(m);
            const float *hx = bx;
            if (net) {
                es_cnn_zero_grad(net);
                if (!(hx = es_cnn_forward(net, bx, B, err))) { st = err ? err->status : ES_ERR_NOMEM; goto done; }
            }
            if (!es_mlp_forward(m, hx, B, 1, &rng, err) || (st = es_mlp_loss(m, by, cw_train, &loss, err)) ||
                (st = es_mlp_backward(m, dh, err)) || (net && (st = es_cnn_backward(net, dh, NULL, err)))) {
                if (!st) st = err ? err->status : ES_ERR_NOMEM;
                goto done;
            }
            lsum += loss * B;
            hp.lr = es_lr_at(c->schedule, c->lr, step, total, warm);
            es_adamw_step(&opt, m->params, m->grads, m->decay, &hp);
            if (net) {
                qhp.lr = es_lr_at(c->schedule, net_lr, step, total, warm);
                es_adamw_step(&qopt, q, qg, es_cnn_decay_mask(net), &qhp);
            }
        }
        float tl = (float)(lsum / (double)n);
        metrics v = {NAN, NAN, NAN};
        if (nv && (st = evaluate(m, net, xv, yv, nv, cw_val, chunk, hit, vcnt, &v, err))) goto done;
        int finite = isfinite(tl) && (!nv || isfinite(v.loss));
        for (size_t i = 0; i < np && finite; i++) finite = isfinite(m->params[i]);
        for (size_t i = 0; i < nq && finite; i++) finite = isfinite(q[i]);
        if (!finite) {
            st = es_fail(err, ES_ERR_ARG,
                         "training diverged at epoch %d (loss or parameters not finite); try a lower learning rate", ep);
            goto done;
        }
        r.epochs_run = ep;
        int better;
        if (!nv) {
            better = 1;                /* keep the last */
        } else {
            double met = c->monitor == ES_MONITOR_LOSS ? -v.loss : c->monitor == ES_MONITOR_ACC ? v.acc : v.bal_acc;
            better = r.best_epoch == 0 || met > best_m || (met == best_m && v.loss < best_l);
            if (better) { best_m = met; best_l = v.loss; }
        }
        if (better) {
            r.best_epoch = ep;
            r.train_loss = tl;
            r.val_loss = (float)v.loss;
            r.val_acc = (float)v.acc;
            r.val_bal_acc = (float)v.bal_acc;
            if (nv) memcpy(best, m->params, np * sizeof(float));
            if (nv && net) memcpy(qbest, q, nq * sizeof(float));
            since = 0;
        } else {
            since++;
        }
        if (progress) progress(user, ep, tl, (float)v.loss, (float)v.acc);
        if (nv && c->patience && since >= c->patience && ep < c->epochs) {
            r.stopped_early = 1;
            break;
        }
    }
    if (nv) memcpy(m->params, best, np * sizeof(float));
    if (nv && net) memcpy(q, qbest, nq * sizeof(float));
    r.steps = step;
    if (rep) *rep = r;

done:
    if (st && saved) memcpy(m->params, orig, np * sizeof(float));
    if (st && saved && net) memcpy(q, qorig, nq * sizeof(float));
    es_adamw_free(&qopt);
    free(qbest); free(qorig); free(dh);
    m->p_drop = saved_drop;
    m->smooth = 0;
    m->mix_y = NULL;
    free(mix_y);
    m->have_loss = 0;
    es_adamw_free(&opt);
    free(cnt); free(hit); free(vcnt); free(cstart); free(cpos); free(order); free(byclass);
    free(present); free(by); free(cw); free(cwv); free(bx); free(best); free(orig);
    return st;
}
