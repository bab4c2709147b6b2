/*
 * model/encoder.c — the pretrained speech-embedding CNN in C.
 *
 * The ONNX graph is a chain: Reshape, then 20 Conv (batch norm folded in),
 * each but the last followed by LeakyRelu(0.2) and Max(x, -0.4), with five
 * MaxPools in between, then Reshape. We read that chain from the file,
 * check every node (so another model is refused with a reason), and run it
 * with our own kernels.
 *
 * Layout: channels last, [T][F][C] per sequence, so one time step is one
 * contiguous block. Appending time steps (streaming) is then a memcpy, and
 * a convolution becomes one sgemm over an im2col matrix whose rows are the
 * output positions (t, f) and whose columns are the (dt, df, c) patch:
 *
 *   out[T'*F'][Co] = col[T'*F'][kt*kf*Ci] @ W[kt*kf*Ci][Co]
 *
 * Time convolutions are unpadded and the time pooling totals 8, so the
 * network is fully convolutional in time: one embedding per 8 frames once
 * 76 frames are in. The streaming engine keeps, per layer, the input frames
 * the next output still needs (kt-1 for a conv, T mod 2 for a pool) and
 * computes only new columns; whole-utterance mode is the same engine fed in
 * slices (so memory does not grow with the file), and batch-of-windows mode
 * runs the same layer kernels on N independent 76-frame sequences.
 */
#include "es_internal.h"
#include "onnx.h"
#include "conv.h"

#include "blas.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 32
#define SLICE 256          /* max frames entering the network per step */
#define MAX_PARTS 8        /* parts a call is cut into (es_cpu_threads' limit) */

typedef struct {
    int is_pool;
    int ci, co;            /* channels in / out */
    int fin, fout;         /* frequency bins in / out */
    int kt, kf, pf;        /* conv kernel (time, freq) and freq padding */
    int pt, pq;            /* pool kernel = stride (time, freq) */
    int act;               /* LeakyReLU + clamp follow */
    float *w;              /* [kt*kf*ci][co] (rearranged from [co][ci][kt][kf]) */
    float *b;              /* [co], zeros when the conv has no bias */
    char wname[96], bname[96];   /* ONNX initializer names ("" bias: none) */
} layer;

struct es_encoder {
    int nl;
    layer l[MAX_LAYERS];
    float alpha, floor_v;  /* LeakyReLU slope, the Max constant */
    int in_frames, in_bins, out_dim;
};

/* ------------------------------------------------------------ kernels */

/* Bias, LeakyReLU and the floor in one pass over a conv's output
 * [rows][co]. Written without branches (leaky(v) = max(v, a*v) for
 * 0 <= a <= 1, checked at load) so it vectorises: as `v < 0 ? v*a : v` it
 * stayed scalar and took half of the encoder's time. The portable build
 * targets baseline x86-64 (SSE2); target_clones adds AVX2 and AVX-512
 * versions chosen at load time by the CPU. Not under the sanitizers:
 * their instrumentation runs before the ifunc resolvers can (a ThreadSanitizer
 * build crashed at load in one). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
#define ES_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ES_CLONES
#endif

ES_CLONES
static void epilogue(float *out, size_t rows, int co, const float *b, int act, float a, float fl)
{
    if (act) {
        for (size_t r = 0; r < rows; r++) {
            float *o = out + r * (size_t)co;
            for (int c = 0; c < co; c++) {
                float v = o[c] + b[c];
                float av = a * v;
                v = v > av ? v : av;
                o[c] = v < fl ? fl : v;
            }
        }
    } else {
        for (size_t r = 0; r < rows; r++) {
            float *o = out + r * (size_t)co;
            for (int c = 0; c < co; c++) o[c] += b[c];
        }
    }
}

/* conv forward over N sequences of T frames each, for output rows
 * [r0, r1) of the N*T'*fout rows (all of them in the usual case; a part
 * when threads share one window).
 * in:  [N][T][fin][ci]   out: [N][T-kt+1][fout][co]   col: scratch, [rows][K] */
static void conv_rows(const es_encoder *e, const layer *L, const float *in, int T, float *out, float *col,
                      size_t r0, size_t r1)
{
    int To = T - L->kt + 1;
    if (To <= 0 || r0 >= r1) return;
    int K = L->kt * L->kf * L->ci;
    float *c = col + r0 * (size_t)K;
    for (size_t r = r0; r < r1; r++) {
        size_t n = r / ((size_t)To * L->fout);
        int t = (int)(r / (size_t)L->fout % (size_t)To), f = (int)(r % (size_t)L->fout);
        for (int a = 0; a < L->kt; a++)
            for (int b = 0; b < L->kf; b++) {
                int fi = f + b - L->pf;
                if (fi < 0 || fi >= L->fin) {
                    memset(c, 0, (size_t)L->ci * sizeof(float));
                } else {
                    const float *src = in + ((n * (size_t)T + (size_t)(t + a)) * L->fin + fi) * L->ci;
                    if (L->ci == 1) *c = *src;   /* first layer: a call per value would dominate */
                    else memcpy(c, src, (size_t)L->ci * sizeof(float));
                }
                c += L->ci;
            }
    }
    es_sgemm(CblasNoTrans, CblasNoTrans, (int)(r1 - r0), L->co, K, 1.0f, col + r0 * (size_t)K, K, L->w, L->co, 0.0f,
             out + r0 * (size_t)L->co, L->co);
    epilogue(out + r0 * (size_t)L->co, r1 - r0, L->co, L->b, L->act, e->alpha, e->floor_v);
}

static size_t layer_rows(const layer *L, int N, int T);

static void conv_forward(const es_encoder *e, const layer *L, const float *in, int N, int T, float *out, float *col)
{
    conv_rows(e, L, in, T, out, col, 0, layer_rows(L, N, T));
}

/* max-pool, output rows [r0, r1): in [N][T][fin][c] -> out [N][T/pt][fin/pq][c] (floor) */
ES_CLONES
static void pool_rows(const layer *L, const float *in, int T, float *out, size_t r0, size_t r1)
{
    int To = T / L->pt, C = L->ci;
    if (To <= 0) return;
    for (size_t r = r0; r < r1; r++) {
        size_t n = r / ((size_t)To * L->fout);
        int t = (int)(r / (size_t)L->fout % (size_t)To), f = (int)(r % (size_t)L->fout);
        float *o = out + r * (size_t)C;
        for (int c = 0; c < C; c++) o[c] = -INFINITY;
        for (int a = 0; a < L->pt; a++)
            for (int b = 0; b < L->pq; b++) {
                const float *p = in + ((n * (size_t)T + (size_t)(L->pt * t + a)) * L->fin + L->pq * f + b) * C;
                for (int c = 0; c < C; c++) o[c] = p[c] > o[c] ? p[c] : o[c];
            }
    }
}

static void pool_forward(const layer *L, const float *in, int N, int T, float *out)
{
    pool_rows(L, in, T, out, 0, layer_rows(L, N, T));
}

static int layer_out_frames(const layer *L, int T)
{
    if (L->is_pool) return T / L->pt;
    return T >= L->kt ? T - L->kt + 1 : 0;
}

/* output rows (positions t, f over all sequences) of a layer */
static size_t layer_rows(const layer *L, int N, int T)
{
    return (size_t)N * (size_t)layer_out_frames(L, T) * (size_t)L->fout;
}

/* ------------------------------------------------------------ loading */

static const es_node *find_consumer(const es_graph *g, const char *value, size_t from)
{
    for (size_t i = from; i < g->nnodes; i++)
        for (size_t j = 0; j < g->nodes[i].nin; j++)
            if (!strcmp(g->nodes[i].in[j], value)) return &g->nodes[i];
    return NULL;
}

static int ints_are(const es_attr *a, const int64_t *v, size_t n)
{
    if (!a) return 0;
    if (a->nints != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (a->ints[i] != v[i]) return 0;
    return 1;
}

static es_status bad(es_error *err, const char *name, const char *why, const char *node)
{
    return es_fail(err, ES_ERR_MODEL, "%s: not the expected speech-embedding model: %s%s%s%s", name, why,
                   node ? " (node '" : "", node ? node : "", node ? "')" : "");
}

static es_status build(es_encoder *e, const es_onnx *model, es_error *err)
{
    const es_graph *g = es_onnx_graph(model);
    const char *name = es_onnx_name(model);
    if (g->ninputs < 1 || g->noutputs != 1) return bad(err, name, "needs one input and one output", NULL);
    /* the input may be listed among initializers in old exporters; take the first non-initializer */
    const es_value_info *in = NULL;
    for (size_t i = 0; i < g->ninputs && !in; i++)
        if (!es_graph_init(g, g->inputs[i].name)) in = &g->inputs[i];
    if (!in || in->ndim != 4 || in->dims[1] != ES_EMB_WINDOW || in->dims[2] != ES_MEL_BINS || in->dims[3] != 1)
        return bad(err, name, "input is not [N, 76, 32, 1]", NULL);
    const es_value_info *out = &g->outputs[0];
    if (out->ndim != 4 || out->dims[1] != 1 || out->dims[2] != 1 || out->dims[3] != ES_EMB_DIM)
        return bad(err, name, "output is not [N, 1, 1, 96]", NULL);

    const char *cur = in->name;
    const es_node *n = find_consumer(g, cur, 0);
    if (!n || strcmp(n->op, "Reshape") || n->nout != 1) return bad(err, name, "does not start with Reshape", NULL);
    const es_tensor *shape = n->nin == 2 ? es_graph_init(g, n->in[1]) : NULL;
    if (!shape || !shape->i || shape->count != 4 || shape->i[1] != 1 || shape->i[2] != ES_EMB_WINDOW ||
        shape->i[3] != ES_MEL_BINS)
        return bad(err, name, "first Reshape is not to [N, 1, 76, 32]", n->name);
    cur = n->out[0];

    int C = 1, F = ES_MEL_BINS, T = ES_EMB_WINDOW;
    e->alpha = -1;
    e->floor_v = NAN;
    int nconv = 0;
    for (;;) {
        n = find_consumer(g, cur, 0);
        if (!n) break;
        if (n->nout != 1) return bad(err, name, "unexpected node", n->name);
        if (!strcmp(n->op, "Conv")) {
            if (e->nl >= MAX_LAYERS) return bad(err, name, "too many layers", n->name);
            if (n->nin < 2) return bad(err, name, "Conv without weights", n->name);
            const es_tensor *w = es_graph_init(g, n->in[1]);
            const es_tensor *b = n->nin > 2 ? es_graph_init(g, n->in[2]) : NULL;
            if (!w || !w->f || w->ndim != 4 || w->dims[1] != C || (n->nin > 2 && (!b || !b->f || b->count != (size_t)w->dims[0])))
                return bad(err, name, "Conv weights have an unexpected shape", n->name);
            int kt = (int)w->dims[2], kf = (int)w->dims[3], co = (int)w->dims[0];
            const int64_t ones[2] = {1, 1};
            if (es_attr_int(n, "group", 1) != 1 || (es_node_attr(n, "strides") && !ints_are(es_node_attr(n, "strides"), ones, 2)) ||
                (es_node_attr(n, "dilations") && !ints_are(es_node_attr(n, "dilations"), ones, 2)))
                return bad(err, name, "Conv with strides, dilations or groups", n->name);
            const es_attr *auto_pad = es_node_attr(n, "auto_pad");
            if (auto_pad && auto_pad->s && strcmp(auto_pad->s, "NOTSET"))
                return bad(err, name, "Conv with auto_pad", n->name);
            int pf = 0;
            const es_attr *pads = es_node_attr(n, "pads");
            if (pads) {
                if (pads->nints != 4 || pads->ints[0] != 0 || pads->ints[2] != 0 || pads->ints[1] != pads->ints[3] ||
                    pads->ints[1] < 0 || pads->ints[1] >= kf)
                    return bad(err, name, "Conv pads time or pads unevenly (the encoder must be causal-free in time)", n->name);
                pf = (int)pads->ints[1];
            }
            if (kt < 1 || kf < 1 || co < 1 || co > 4096 || kt > 16 || kf > 16)
                return bad(err, name, "Conv kernel out of range", n->name);
            layer *L = &e->l[e->nl++];
            memset(L, 0, sizeof *L);
            L->ci = C; L->co = co; L->kt = kt; L->kf = kf; L->pf = pf;
            L->fin = F;
            L->fout = F + 2 * pf - kf + 1;
            if (L->fout < 1) return bad(err, name, "Conv leaves no frequency bins", n->name);
            size_t K = (size_t)kt * kf * C;
            L->w = malloc(K * co * sizeof(float));
            L->b = calloc((size_t)co, sizeof(float));
            if (!L->w || !L->b) return es_fail(err, ES_ERR_NOMEM, "out of memory");
            for (int o = 0; o < co; o++)
                for (int ci = 0; ci < C; ci++)
                    for (int a = 0; a < kt; a++)
                        for (int bb = 0; bb < kf; bb++)
                            L->w[(((size_t)a * kf + bb) * C + ci) * co + o] = w->f[(((size_t)o * C + ci) * kt + a) * kf + bb];
            if (b) memcpy(L->b, b->f, (size_t)co * sizeof(float));
            snprintf(L->wname, sizeof L->wname, "%s", n->in[1]);
            if (b) snprintf(L->bname, sizeof L->bname, "%s", n->in[2]);
            C = co; F = L->fout; T = T - kt + 1;
            nconv++;
        } else if (!strcmp(n->op, "LeakyRelu")) {
            if (!e->nl || e->l[e->nl - 1].is_pool || e->l[e->nl - 1].act) return bad(err, name, "LeakyRelu out of place", n->name);
            float a = es_attr_float(n, "alpha", 0.01f);
            if (!(a >= 0.0f && a <= 1.0f)) return bad(err, name, "LeakyRelu slope outside [0, 1]", n->name);
            if (e->alpha >= 0 && a != e->alpha) return bad(err, name, "LeakyRelu slopes differ", n->name);
            e->alpha = a;
            /* must be followed by Max with the shared floor constant */
            const es_node *mx = find_consumer(g, n->out[0], 0);
            if (!mx || strcmp(mx->op, "Max") || mx->nin != 2 || mx->nout != 1)
                return bad(err, name, "LeakyRelu not followed by Max", n->name);
            const char *cn = !strcmp(mx->in[0], n->out[0]) ? mx->in[1] : mx->in[0];
            const es_tensor *ct = es_graph_init(g, cn);
            if (!ct || !ct->f || ct->count != 1) return bad(err, name, "Max is not against one constant", mx->name);
            if (!isnan(e->floor_v) && ct->f[0] != e->floor_v) return bad(err, name, "Max constants differ", mx->name);
            e->floor_v = ct->f[0];
            e->l[e->nl - 1].act = 1;
            cur = mx->out[0];
            continue;
        } else if (!strcmp(n->op, "MaxPool")) {
            const es_attr *k = es_node_attr(n, "kernel_shape"), *s = es_node_attr(n, "strides"), *p = es_node_attr(n, "pads");
            if (!k || k->nints != 2 || !s || !ints_are(s, k->ints, 2) || k->ints[0] < 1 || k->ints[0] > 2 ||
                k->ints[1] < 1 || k->ints[1] > 2)
                return bad(err, name, "MaxPool must have stride equal to a kernel of 1 or 2", n->name);
            const int64_t z[4] = {0, 0, 0, 0};
            if (p && !ints_are(p, z, 4)) return bad(err, name, "MaxPool with padding", n->name);
            if (es_attr_int(n, "ceil_mode", 0)) return bad(err, name, "MaxPool with ceil_mode", n->name);
            if (e->nl >= MAX_LAYERS) return bad(err, name, "too many layers", n->name);
            layer *L = &e->l[e->nl++];
            memset(L, 0, sizeof *L);
            L->is_pool = 1;
            L->ci = L->co = C;
            L->pt = (int)k->ints[0]; L->pq = (int)k->ints[1];
            L->fin = F; L->fout = F / L->pq;
            L->kt = L->pt;
            F = L->fout; T = T / L->pt;
        } else if (!strcmp(n->op, "Reshape")) {
            break;
        } else {
            return bad(err, name, "unsupported operator", n->op);
        }
        cur = n->out[0];
    }
    if (!n || strcmp(n->op, "Reshape") || strcmp(n->out[0], out->name))
        return bad(err, name, "does not end with Reshape to the output", NULL);
    if (nconv != 20 || T != 1 || F != 1 || C != ES_EMB_DIM || e->alpha < 0 || isnan(e->floor_v))
        return bad(err, name, "layer chain does not reduce 76x32 to one 96-d vector", NULL);
    /* Fully convolutional in time needs the time pooling to total 8. */
    int tp = 1;
    for (int i = 0; i < e->nl; i++) if (e->l[i].is_pool) tp *= e->l[i].pt;
    if (tp != ES_EMB_STEP) return bad(err, name, "time pooling does not total 8", NULL);
    e->in_frames = ES_EMB_WINDOW;
    e->in_bins = ES_MEL_BINS;
    e->out_dim = C;
    return ES_OK;
}

void es_encoder_free(es_encoder *e)
{
    if (!e) return;
    for (int i = 0; i < e->nl; i++) { free(e->l[i].w); free(e->l[i].b); }
    free(e);
}

es_encoder *es_encoder_create(const es_onnx *model, es_error *err)
{
    if (!model) { es_fail(err, ES_ERR_ARG, "es_encoder_create: no model"); return NULL; }
    if (es_blas_ready(err)) return NULL;   /* its products could not run */
    es_encoder *e = calloc(1, sizeof *e);
    if (!e) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    if (build(e, model, err) != ES_OK) { es_encoder_free(e); return NULL; }
    return e;
}

size_t es_encoder_count(size_t frames)
{
    return frames < ES_EMB_WINDOW ? 0 : (frames - ES_EMB_WINDOW) / ES_EMB_STEP + 1;
}

/* Scratch sizes for running N sequences of T frames through the network. */
static void scratch_sizes(const es_encoder *e, int N, int T, size_t *act, size_t *col)
{
    *act = (size_t)N * T * e->in_bins;
    *col = 0;
    for (int i = 0; i < e->nl; i++) {
        const layer *L = &e->l[i];
        int To = layer_out_frames(L, T);
        size_t a = (size_t)N * (To > 0 ? To : 0) * L->fout * L->co;
        if (a > *act) *act = a;
        if (!L->is_pool) {
            size_t c = (size_t)N * (To > 0 ? To : 0) * L->fout * L->kt * L->kf * L->ci;
            if (c > *col) *col = c;
        }
        T = To;
    }
}

/* ------------------------------------------------------- (a) windows */

#define WIN_BATCH 4   /* windows per pass: keeps im2col buffers in cache */

/* Windows [w0, w1) on the calling thread, with scratch of its own. */
static es_status windows_range(es_encoder *e, const float *mel, size_t w0, size_t w1, float *out)
{
    size_t nwin = w1 - w0;
    int B = nwin < WIN_BATCH ? (int)nwin : WIN_BATCH;
    size_t act, colsz;
    scratch_sizes(e, B, ES_EMB_WINDOW, &act, &colsz);
    float *x = malloc(act * sizeof(float)), *y = malloc(act * sizeof(float)), *col = malloc((colsz + 1) * sizeof(float));
    if (!x || !y || !col) { free(x); free(y); free(col); return ES_ERR_NOMEM; }
    for (size_t w = w0; w < w1; w += (size_t)B) {
        int nb = (w1 - w) < (size_t)B ? (int)(w1 - w) : B;
        memcpy(x, mel + w * ES_EMB_WINDOW * ES_MEL_BINS, (size_t)nb * ES_EMB_WINDOW * ES_MEL_BINS * sizeof(float));
        int T = ES_EMB_WINDOW;
        for (int i = 0; i < e->nl; i++) {
            const layer *L = &e->l[i];
            if (L->is_pool) pool_forward(L, x, nb, T, y);
            else conv_forward(e, L, x, nb, T, y, col);
            T = layer_out_frames(L, T);
            float *tmp = x; x = y; y = tmp;
        }
        memcpy(out + w * ES_EMB_DIM, x, (size_t)nb * ES_EMB_DIM * sizeof(float));
    }
    free(x); free(y); free(col);
    return ES_OK;
}

typedef struct {
    es_encoder *e;
    const float *mel;
    float *out;
    size_t n;          /* windows (a) or embeddings (b) in all */
    size_t frames;     /* (b): frames of the utterance */
    size_t unit;       /* parts start on multiples of unit */
    int parts;
    es_status st[MAX_PARTS];
} par_job;

/* Part i of j->parts: [lo, hi), cut on multiples of j->unit */
static void part_bounds(const par_job *j, int i, size_t *lo, size_t *hi)
{
    size_t units = (j->n + j->unit - 1) / j->unit;
    *lo = j->unit * (units * (size_t)i / (size_t)j->parts);
    *hi = j->unit * (units * (size_t)(i + 1) / (size_t)j->parts);
    if (*hi > j->n) *hi = j->n;
}

static void windows_part(void *p, int i)
{
    par_job *j = p;
    size_t lo, hi;
    part_bounds(j, i, &lo, &hi);
    j->st[i] = lo < hi ? windows_range(j->e, j->mel, lo, hi, j->out) : ES_OK;
}

/* How many parts n units of work are cut into: a power of two (so that
 * 1, 2, 4 or 8 threads share them evenly) of at least min_per_part units
 * each, at most MAX_PARTS, and a function of n alone. When the cut
 * followed es_threads(), the same clip embedded at -t 1 and -t 2 differed
 * in the last bits on some CPUs (es_parallel_parts says why). */
static int parts_for(size_t n, size_t min_per_part)
{
    int p = 1;
    while (p < MAX_PARTS && n / (size_t)(2 * p) >= min_per_part) p *= 2;
    return p;
}

/* One window on two threads: every layer's output rows are split between
 * them, with a barrier between layers. Only worth it when there are fewer
 * windows than threads (the streaming reference's batch of one). */
typedef struct {
    es_encoder *e;
    const float *mel;
    float *out, *x, *y, *col;
    atomic_int arrived;   /* spinning barrier: layers take microseconds, */
    atomic_int phase;     /* far less than a futex sleep and wake-up */
} split_job;

static void spin_barrier(split_job *j, int *phase)
{
    int next = *phase + 1;
    if (atomic_fetch_add(&j->arrived, 1) == 1) {   /* the second to arrive */
        atomic_store(&j->arrived, 0);
        atomic_store(&j->phase, next);
    } else {
        /* spin briefly, then give the CPU away: with fewer free cores than
         * threads, pure spinning would starve the thread we wait for */
        for (unsigned k = 0; atomic_load(&j->phase) != next; k++)
            if (k > 2000) sched_yield();
    }
    *phase = next;
}

static void split_part(split_job *j, int tid)
{
    const es_encoder *e = j->e;
    const float *in = j->mel;
    float *a = j->x, *b = j->y;
    int T = ES_EMB_WINDOW, phase = 0;
    for (int i = 0; i < e->nl; i++) {
        const layer *L = &e->l[i];
        size_t rows = layer_rows(L, 1, T), r0 = rows * (size_t)tid / 2, r1 = rows * (size_t)(tid + 1) / 2;
        if (L->is_pool) pool_rows(L, in, T, a, r0, r1);
        else conv_rows(e, L, in, T, a, j->col, r0, r1);
        spin_barrier(j, &phase);
        T = layer_out_frames(L, T);
        in = a;
        float *t = a; a = b; b = t;
    }
    if (tid == 0) memcpy(j->out, in, ES_EMB_DIM * sizeof(float));
}

static void *split_thread(void *p)
{
    split_part(p, 1);
    return NULL;
}

/* returns 0 if the second thread could not be had (the caller then runs
 * the window alone) */
static int window_split(es_encoder *e, const float *mel, float *out, es_status *st)
{
    size_t act, colsz;
    scratch_sizes(e, 1, ES_EMB_WINDOW, &act, &colsz);
    split_job j = {e, mel, out, malloc(act * sizeof(float)), malloc(act * sizeof(float)),
                   malloc((colsz + 1) * sizeof(float)), 0, 0};
    int ok = 0;
    *st = ES_OK;
    if (!j.x || !j.y || !j.col) {
        *st = ES_ERR_NOMEM;
        ok = 1;
    } else {
        pthread_t th;
        if (pthread_create(&th, NULL, split_thread, &j) == 0) {
            split_part(&j, 0);
            pthread_join(th, NULL);
            ok = 1;
        }
    }
    free(j.x); free(j.y); free(j.col);
    return ok;
}

es_status es_encoder_windows(es_encoder *e, const float *mel, size_t nwin, float *out, es_error *err)
{
    if (!e || (!mel && nwin) || (!out && nwin)) return es_fail(err, ES_ERR_ARG, "es_encoder_windows: invalid arguments");
    if (!nwin) return ES_OK;
    /* One window on two threads rounds as one thread does only on some
     * CPUs (es_parallel_parts says why): the last bits may follow the
     * thread count here, and only here. Cutting it in two on one thread
     * as well would pack every layer's weights twice, for the one case
     * that needs speed per call (a window at a time). */
    if (nwin == 1 && es_threads() >= 2) {
        es_status st;
        if (window_split(e, mel, out, &st))
            return st ? es_fail(err, st, "es_encoder_windows: %s", es_status_str(st)) : ES_OK;
    }
    /* Independent windows split across threads, each running the whole
     * chain: no synchronisation between layers. */
    size_t batches = (nwin + WIN_BATCH - 1) / WIN_BATCH;
    par_job j = {e, mel, out, nwin, 0, WIN_BATCH, parts_for(batches, 1), {0}};
    es_parallel_parts(j.parts, windows_part, &j);
    for (int i = 0; i < j.parts; i++)
        if (j.st[i]) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    return ES_OK;
}

/* ------------------------------------------------------- (c) streaming */

struct es_encoder_stream {
    es_encoder *e;
    float *buf[MAX_LAYERS + 1];   /* input buffer of each layer: [frames][fin][ci] */
    int have[MAX_LAYERS + 1];     /* frames currently held */
    float *col;
    int slice;                    /* most frames entering per step */
};

void es_encoder_stream_free(es_encoder_stream *s)
{
    if (!s) return;
    for (int i = 0; i <= MAX_LAYERS; i++) free(s->buf[i]);
    free(s->col);
    free(s);
}

void es_encoder_stream_reset(es_encoder_stream *s)
{
    if (s) memset(s->have, 0, sizeof s->have);
}

/* Buffers for steps of at most `slice` frames: a short clip needs far less
 * than a long stream, and allocating (and faulting in) the full size per
 * clip cost a third of the CPU time of embedding a dataset. */
static es_encoder_stream *stream_create(es_encoder *e, int slice, es_error *err)
{
    if (!e) { es_fail(err, ES_ERR_ARG, "es_encoder_stream_create: no encoder"); return NULL; }
    es_encoder_stream *s = calloc(1, sizeof *s);
    if (!s) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    s->e = e;
    s->slice = slice < 1 ? 1 : slice > SLICE ? SLICE : slice;
    /* Layer i never holds more than slice + its carry frames; carries are < 8. */
    int T = s->slice + ES_EMB_WINDOW;
    size_t colmax = 0;
    for (int i = 0; i <= e->nl; i++) {
        int fin = i < e->nl ? e->l[i].fin : 1;
        int ci = i < e->nl ? e->l[i].ci : e->out_dim;
        s->buf[i] = malloc((size_t)T * fin * ci * sizeof(float));
        if (!s->buf[i]) { es_encoder_stream_free(s); es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
        if (i < e->nl && !e->l[i].is_pool) {
            size_t c = (size_t)T * e->l[i].fout * e->l[i].kt * e->l[i].kf * e->l[i].ci;
            if (c > colmax) colmax = c;
        }
    }
    s->col = malloc((colmax + 1) * sizeof(float));
    if (!s->col) { es_encoder_stream_free(s); es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    return s;
}

es_encoder_stream *es_encoder_stream_create(es_encoder *e, es_error *err)
{
    return stream_create(e, SLICE, err);
}

/* Push at most s->slice frames through every layer. */
static size_t stream_step(es_encoder_stream *s, const float *mel, int frames, float *out)
{
    es_encoder *e = s->e;
    size_t fsz0 = (size_t)e->in_bins;
    memcpy(s->buf[0] + (size_t)s->have[0] * fsz0, mel, (size_t)frames * fsz0 * sizeof(float));
    s->have[0] += frames;
    for (int i = 0; i < e->nl; i++) {
        const layer *L = &e->l[i];
        int T = s->have[i];
        int To = layer_out_frames(L, T);
        size_t ofs = (size_t)L->fout * L->co;
        if (To > 0) {
            float *dst = s->buf[i + 1] + (size_t)s->have[i + 1] * ofs;
            if (L->is_pool) pool_forward(L, s->buf[i], 1, T, dst);
            else conv_forward(e, L, s->buf[i], 1, T, dst, s->col);
            s->have[i + 1] += To;
        }
        /* keep the frames the next output still needs */
        int consumed = L->is_pool ? To * L->pt : To;
        int keep = T - consumed;
        size_t ifs = (size_t)L->fin * L->ci;
        if (consumed > 0 && keep > 0)
            memmove(s->buf[i], s->buf[i] + (size_t)consumed * ifs, (size_t)keep * ifs * sizeof(float));
        s->have[i] = keep;
    }
    int n = s->have[e->nl];
    if (n > 0 && out) memcpy(out, s->buf[e->nl], (size_t)n * e->out_dim * sizeof(float));
    s->have[e->nl] = 0;
    return (size_t)n;
}

es_status es_encoder_stream_push(es_encoder_stream *s, const float *mel, size_t frames, float *out, size_t *n_out,
                                 es_error *err)
{
    if (n_out) *n_out = 0;
    if (!s || (!mel && frames) || (!out && frames) || !n_out) return es_fail(err, ES_ERR_ARG, "es_encoder_stream_push: invalid arguments");
    while (frames > 0) {
        int k = frames > (size_t)s->slice ? s->slice : (int)frames;
        *n_out += stream_step(s, mel, k, out + *n_out * ES_EMB_DIM);
        mel += (size_t)k * ES_MEL_BINS;
        frames -= (size_t)k;
    }
    return ES_OK;
}

/* --------------------------------------------------- (b) whole utterance */

/* Embeddings [lo, hi) of an utterance need frames [8*lo, 8*(hi-1)+76).
 * A segment that starts on a multiple of 8 frames keeps every pooling
 * aligned as in one pass, so the segments' results are the same numbers up
 * to rounding: a frame's row of a convolution's matrix product lands at
 * another place among the rows sgemm blocks, which may sum it in another
 * order. Measured on an hour of speech split two ways: 60 of 46,248
 * embeddings, all next to a segment's start, moved by at most 3e-5. The
 * streaming detector's block size moves its scores the same way. */
static void full_part(void *p, int i)
{
    par_job *j = p;
    size_t lo, hi;
    part_bounds(j, i, &lo, &hi);
    j->st[i] = ES_OK;
    if (lo >= hi) return;
    size_t f0 = lo * ES_EMB_STEP, f1 = (hi - 1) * ES_EMB_STEP + ES_EMB_WINDOW, n;
    es_encoder_stream *s = stream_create(j->e, (int)(f1 - f0 < SLICE ? f1 - f0 : SLICE), NULL);
    if (!s) { j->st[i] = ES_ERR_NOMEM; return; }
    j->st[i] = es_encoder_stream_push(s, j->mel + f0 * ES_MEL_BINS, f1 - f0, j->out + lo * ES_EMB_DIM, &n, NULL);
    if (!j->st[i] && n != hi - lo) j->st[i] = ES_ERR_ARG;
    es_encoder_stream_free(s);
}

es_status es_encoder_full(es_encoder *e, const float *mel, size_t frames, float *out, es_error *err)
{
    if (!e || (!mel && frames)) return es_fail(err, ES_ERR_ARG, "es_encoder_full: invalid arguments");
    size_t n = es_encoder_count(frames);
    if (n == 0) return ES_OK;
    if (!out) return es_fail(err, ES_ERR_ARG, "es_encoder_full: invalid arguments");
    /* Each part re-computes 68 frames of context: 1.6% more work for two
     * parts of 256 embeddings (20 s), which one thread also pays. */
    par_job j = {e, mel, out, n, frames, 1, parts_for(n, 256), {0}};
    es_parallel_parts(j.parts, full_part, &j);
    for (int i = 0; i < j.parts; i++)
        if (j.st[i]) return es_fail(err, j.st[i], "es_encoder_full: %s", es_status_str(j.st[i]));
    return ES_OK;
}

/* ------------------------------------------- the encoder as a stack */

int es_encoder_nconv(const es_encoder *e)
{
    int n = 0;
    for (int i = 0; i < e->nl; i++) n += !e->l[i].is_pool;
    return n;
}

/* index in e->l of the first of the last K convolutions, or -1 */
static int tail_start(const es_encoder *e, int K)
{
    int nc = es_encoder_nconv(e);
    if (K < 1 || K > nc) return -1;
    for (int i = 0, c = 0; i < e->nl; i++)
        if (!e->l[i].is_pool && c++ == nc - K) return i;
    return -1;
}

int es_encoder_tail_frames(const es_encoder *e, int K, int frames, size_t *per_frame)
{
    int s = tail_start(e, K);
    if (s < 0) return 0;
    for (int i = 0; i < s; i++) frames = layer_out_frames(&e->l[i], frames);
    if (per_frame) *per_frame = (size_t)e->l[s].fin * e->l[s].ci;
    return frames;
}

es_cnn *es_encoder_tail(const es_encoder *e, int K, int T, es_error *err)
{
    int s = tail_start(e, K);
    if (s < 0) { es_fail(err, ES_ERR_ARG, "fine-tuning: K = %d, the encoder has %d convolutions", K, es_encoder_nconv(e)); return NULL; }
    es_cnn_layer d[MAX_LAYERS];
    int n = 0;
    for (int i = s; i < e->nl; i++, n++) {
        const layer *L = &e->l[i];
        memset(&d[n], 0, sizeof d[n]);
        if (L->is_pool) {
            d[n].pool = 1; d[n].qt = L->pt; d[n].qf = L->pq;
        } else {
            d[n].co = L->co; d[n].kt = L->kt; d[n].kf = L->kf; d[n].pf = L->pf; d[n].act = L->act;
            snprintf(d[n].wname, sizeof d[n].wname, "%s", L->wname);
            snprintf(d[n].bname, sizeof d[n].bname, "%s", L->bname);
            d[n].nobias = !L->bname[0];
        }
    }
    es_cnn *c = es_cnn_create(d, n, T, e->l[s].fin, e->l[s].ci, e->alpha, e->floor_v, err);
    if (!c) return NULL;
    for (int i = s; i < e->nl; i++) {
        const layer *L = &e->l[i];
        if (L->is_pool) continue;
        size_t nw, nb;
        float *w = es_cnn_weight(c, i - s, &nw), *b = es_cnn_bias(c, i - s, &nb);
        memcpy(w, L->w, nw * sizeof(float));
        memcpy(b, L->b, nb * sizeof(float));
    }
    return c;
}

es_status es_encoder_head_part(es_encoder *e, int K, const float *mel, int frames, float *out, es_error *err)
{
    int s = tail_start(e, K);
    if (s < 0 || !mel || !out || frames < 1) return es_fail(err, ES_ERR_ARG, "es_encoder_head_part: invalid arguments");
    size_t per;
    int To = es_encoder_tail_frames(e, K, frames, &per);
    if (To < 1) return es_fail(err, ES_ERR_ARG, "es_encoder_head_part: %d frames are too few", frames);
    if (s == 0) { memcpy(out, mel, (size_t)frames * per * sizeof(float)); return ES_OK; }
    size_t act = (size_t)frames * e->in_bins, colsz = 0;
    int T = frames;
    for (int i = 0; i < s; i++) {
        const layer *L = &e->l[i];
        int t = layer_out_frames(L, T);
        size_t a = (size_t)t * L->fout * L->co;
        if (a > act) act = a;
        if (!L->is_pool && (size_t)t * L->fout * L->kt * L->kf * L->ci > colsz) colsz = (size_t)t * L->fout * L->kt * L->kf * L->ci;
        T = t;
    }
    float *x = malloc(act * sizeof(float)), *y = malloc(act * sizeof(float)), *col = malloc((colsz + 1) * sizeof(float));
    if (!x || !y || !col) { free(x); free(y); free(col); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    memcpy(x, mel, (size_t)frames * e->in_bins * sizeof(float));
    T = frames;
    for (int i = 0; i < s; i++) {
        const layer *L = &e->l[i];
        if (L->is_pool) pool_forward(L, x, 1, T, y);
        else conv_forward(e, L, x, 1, T, y, col);
        T = layer_out_frames(L, T);
        float *t = x; x = y; y = t;
    }
    memcpy(out, x, (size_t)T * per * sizeof(float));
    free(x); free(y); free(col);
    return ES_OK;
}

int es_encoder_head_span(const es_encoder *e, int K, int *stride, int *width, int *channels)
{
    int s = tail_start(e, K), st = 1, w = 1;
    if (s < 0) return -1;
    for (int i = 0; i < s; i++) {
        const layer *L = &e->l[i];
        if (L->is_pool) { w += (L->pt - 1) * st; st *= L->pt; }
        else w += (L->kt - 1) * st;
    }
    if (stride) *stride = st;
    if (width) *width = w;
    if (channels) *channels = e->l[s].ci;
    return 0;
}

const char *es_encoder_conv_name(const es_encoder *e, int i, int bias)
{
    for (int k = 0, c = 0; k < e->nl; k++)
        if (!e->l[k].is_pool && c++ == i) return bias ? e->l[k].bname : e->l[k].wname;
    return NULL;
}

es_status es_encoder_override(es_encoder *e, const char *name, const float *data, const int *shape, int ndim,
                              es_error *err)
{
    if (!e || !name || !data || !shape) return es_fail(err, ES_ERR_ARG, "es_encoder_override: invalid arguments");
    for (int k = 0; k < e->nl; k++) {
        layer *L = &e->l[k];
        if (L->is_pool) continue;
        if (!strcmp(L->wname, name)) {
            if (ndim != 4 || shape[0] != L->co || shape[1] != L->ci || shape[2] != L->kt || shape[3] != L->kf)
                return es_fail(err, ES_ERR_MODEL, "encoder tensor '%s' must be [%d, %d, %d, %d]", name, L->co, L->ci, L->kt, L->kf);
            for (int o = 0; o < L->co; o++)
                for (int ci = 0; ci < L->ci; ci++)
                    for (int a = 0; a < L->kt; a++)
                        for (int b = 0; b < L->kf; b++)
                            L->w[(((size_t)a * L->kf + b) * L->ci + ci) * L->co + o] =
                                data[(((size_t)o * L->ci + ci) * L->kt + a) * L->kf + b];
            return ES_OK;
        }
        if (L->bname[0] && !strcmp(L->bname, name)) {
            if (ndim != 1 || shape[0] != L->co)
                return es_fail(err, ES_ERR_MODEL, "encoder tensor '%s' must be [%d]", name, L->co);
            memcpy(L->b, data, (size_t)L->co * sizeof(float));
            return ES_OK;
        }
    }
    return es_fail(err, ES_ERR_MODEL, "'%s' is not a convolution tensor of the encoder", name);
}
