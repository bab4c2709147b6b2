/*
 * model/head.c — openWakeWord-format classifier heads, evaluated from their
 * ONNX graph.
 *
 * The heads are small MLPs exported from PyTorch: Flatten, Gemm, Relu,
 * LayerNorm decomposed into ReduceMean/Sub/Pow/Add/Sqrt/Div/Mul/Add, a
 * Sigmoid or Softmax, and in hey_jarvis an If that runs a second
 * "verifier" MLP when the first score is >= 0.5. Rather than pattern-match
 * each head, we interpret the graph: each value gets a slot, node inputs
 * are resolved to slots once at load (sub-graphs see the outer scope), and
 * a dry run on zeros checks that every op and shape is supported, so a bad
 * head is refused at load, not in the middle of a stream.
 */
#include "es_internal.h"
#include "onnx.h"

#include "blas.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VMAX_DIMS 4
/* Elements in any value a head computes, and in any one dimension. The
 * pretrained heads' largest value has about 2000; the bound keeps a hostile
 * graph from asking for gigabytes (or overflowing a size) in its dry run. */
#define MAX_VALUES ((size_t)1 << 24)

typedef struct {
    const char *name;
    int ndim;
    int64_t dims[VMAX_DIMS];
    size_t count;
    float *d;
    size_t cap;
    int owned;      /* d was malloc'd by us (not an initializer) */
    int is_const;
} val;

typedef struct gplan gplan;

typedef struct {
    const es_node *n;
    val **in;
    val *out;
    gplan *then_g, *else_g;   /* for If */
    int op;
} step;

struct gplan {
    const es_graph *g;
    val *vals; size_t nvals;
    step *steps; size_t nsteps;
    val *result;              /* the graph's (single) output */
};

enum { OP_FLATTEN, OP_GEMM, OP_RELU, OP_SIGMOID, OP_SOFTMAX, OP_REDUCEMEAN, OP_SUB, OP_ADD, OP_MUL, OP_DIV,
       OP_POW, OP_SQRT, OP_CONSTANT, OP_GE, OP_CAST, OP_IF, OP_IDENTITY };

static const struct { const char *name; int op; } OPS[] = {
    {"Flatten", OP_FLATTEN}, {"Gemm", OP_GEMM}, {"Relu", OP_RELU}, {"Sigmoid", OP_SIGMOID},
    {"Softmax", OP_SOFTMAX}, {"ReduceMean", OP_REDUCEMEAN}, {"Sub", OP_SUB}, {"Add", OP_ADD},
    {"Mul", OP_MUL}, {"Div", OP_DIV}, {"Pow", OP_POW}, {"Sqrt", OP_SQRT}, {"Constant", OP_CONSTANT},
    {"GreaterOrEqual", OP_GE}, {"Cast", OP_CAST}, {"If", OP_IF}, {"Identity", OP_IDENTITY}};

struct es_head {
    char name[128];
    char **labels;
    gplan *root;
    val *input;
    size_t window, classes;
};

static void plan_free(gplan *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->nsteps; i++) {
        free(p->steps[i].in);
        plan_free(p->steps[i].then_g);
        plan_free(p->steps[i].else_g);
    }
    for (size_t i = 0; i < p->nvals; i++) if (p->vals[i].owned) free(p->vals[i].d);
    free(p->vals);
    free(p->steps);
    free(p);
}

typedef struct scope { gplan *p; struct scope *up; } scope;

static val *lookup(scope *s, const char *name)
{
    for (; s; s = s->up)
        for (size_t i = 0; i < s->p->nvals; i++)
            if (!strcmp(s->p->vals[i].name, name)) return &s->p->vals[i];
    return NULL;
}

static es_status tensor_val(val *v, const es_tensor *t, const char *model, es_error *err)
{
    if (t->ndim > VMAX_DIMS) return es_fail(err, ES_ERR_MODEL, "%s: constant '%s' has too many dimensions", model, t->name);
    v->ndim = t->ndim;
    for (int k = 0; k < t->ndim; k++) v->dims[k] = t->dims[k];
    v->count = t->count;
    v->is_const = 1;
    if (t->f) { v->d = t->f; return ES_OK; }
    if (t->i) {   /* integer constants (shapes, axes): widen to float */
        v->d = malloc((t->count + 1) * sizeof(float));
        if (!v->d) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        v->owned = 1;
        for (size_t k = 0; k < t->count; k++) v->d[k] = (float)t->i[k];
        return ES_OK;
    }
    return es_fail(err, ES_ERR_MODEL, "%s: constant '%s' has an unsupported data type", model, t->name);
}

static gplan *plan_build(const es_graph *g, scope *up, const char *model, es_error *err)
{
    gplan *p = calloc(1, sizeof *p);
    if (!p) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    p->g = g;
    size_t nv = g->ninits + g->ninputs;
    for (size_t i = 0; i < g->nnodes; i++) nv += g->nodes[i].nout;
    p->vals = calloc(nv + 1, sizeof(val));
    p->steps = calloc(g->nnodes + 1, sizeof(step));
    if (!p->vals || !p->steps) { plan_free(p); es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    scope me = { p, up };
    for (size_t i = 0; i < g->ninits; i++) {
        val *v = &p->vals[p->nvals++];
        v->name = g->inits[i].name;
        if (tensor_val(v, &g->inits[i], model, err)) { plan_free(p); return NULL; }
    }
    for (size_t i = 0; i < g->ninputs; i++) {
        if (es_graph_init(g, g->inputs[i].name)) continue;
        p->vals[p->nvals++].name = g->inputs[i].name;
    }
    for (size_t i = 0; i < g->nnodes; i++) {
        const es_node *n = &g->nodes[i];
        step *s = &p->steps[p->nsteps++];
        s->n = n;
        s->op = -1;
        for (size_t k = 0; k < sizeof OPS / sizeof OPS[0]; k++)
            if (!strcmp(n->op, OPS[k].name)) s->op = OPS[k].op;
        if (s->op < 0 || (n->domain[0] && strcmp(n->domain, "ai.onnx"))) {
            es_fail(err, ES_ERR_MODEL, "%s: operator '%s' is not supported in a head (node '%s')", model, n->op, n->name);
            plan_free(p);
            return NULL;
        }
        if (n->nout != 1) {
            es_fail(err, ES_ERR_MODEL, "%s: node '%s' has %zu outputs (one expected)", model, n->name, n->nout);
            plan_free(p);
            return NULL;
        }
        s->in = calloc(n->nin + 1, sizeof(val *));
        if (!s->in) { plan_free(p); es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
        for (size_t k = 0; k < n->nin; k++) {
            if (!n->in[k][0]) continue;   /* optional input left out */
            s->in[k] = lookup(&me, n->in[k]);
            if (!s->in[k]) {
                es_fail(err, ES_ERR_MODEL, "%s: node '%s' reads '%s', which nothing defines before it", model, n->name, n->in[k]);
                plan_free(p);
                return NULL;
            }
        }
        s->out = &p->vals[p->nvals++];
        s->out->name = n->out[0];
        if (s->op == OP_CONSTANT) {
            const es_attr *a = es_node_attr(n, "value");
            if (!a || !a->t || tensor_val(s->out, a->t, model, err)) {
                if (!a || !a->t) es_fail(err, ES_ERR_MODEL, "%s: Constant '%s' has no tensor value", model, n->name);
                plan_free(p);
                return NULL;
            }
        }
        if (s->op == OP_IF) {
            const es_attr *t = es_node_attr(n, "then_branch"), *e = es_node_attr(n, "else_branch");
            if (!t || !t->g || !e || !e->g || n->nin != 1) {
                es_fail(err, ES_ERR_MODEL, "%s: If '%s' lacks its branches", model, n->name);
                plan_free(p);
                return NULL;
            }
            if (!(s->then_g = plan_build(t->g, &me, model, err)) || !(s->else_g = plan_build(e->g, &me, model, err))) {
                plan_free(p);
                return NULL;
            }
        }
    }
    if (g->noutputs != 1 || !(p->result = lookup(&me, g->outputs[0].name))) {
        es_fail(err, ES_ERR_MODEL, "%s: a head graph must have exactly one output", model);
        plan_free(p);
        return NULL;
    }
    return p;
}

/* ------------------------------------------------------------ execution */

static es_status ensure(const char *model, val *v, int ndim, const int64_t *dims, es_error *err)
{
    size_t count = 1;
    for (int k = 0; k < ndim; k++) {
        /* Checked one dimension at a time: a zero must not hide a huge one. */
        if (dims[k] < 0 || (size_t)dims[k] > MAX_VALUES || (dims[k] > 0 && count > MAX_VALUES / (size_t)dims[k]))
            return es_fail(err, ES_ERR_MODEL, "%s: head graph computes a value of unsupported size", model);
        count *= (size_t)dims[k];
    }
    if (v->is_const) return es_fail(err, ES_ERR_MODEL, "%s: head graph writes to a constant", model);
    if (count > v->cap) {
        float *nd = realloc(v->owned ? v->d : NULL, (count + 1) * sizeof(float));
        if (!nd) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        v->d = nd;
        v->owned = 1;
        v->cap = count;
    }
    v->ndim = ndim;
    for (int k = 0; k < ndim; k++) v->dims[k] = dims[k];
    v->count = count;
    return ES_OK;
}

static es_status shape_err(const char *model, const es_node *n, es_error *err)
{
    return es_fail(err, ES_ERR_MODEL, "%s: node '%s' (%s) gets inputs of shapes it does not support", model, n->name, n->op);
}

/* numpy-style broadcasting for two operands of up to 4 dims */
static es_status binary(const char *model, const es_node *n, int op, const val *a, const val *b, val *o, es_error *err)
{
    if (!a || !b || !a->d || !b->d) return shape_err(model, n, err);
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t da[VMAX_DIMS], db[VMAX_DIMS], dout[VMAX_DIMS];
    for (int k = 0; k < nd; k++) {
        int ia = k - (nd - a->ndim), ib = k - (nd - b->ndim);
        da[k] = ia >= 0 ? a->dims[ia] : 1;
        db[k] = ib >= 0 ? b->dims[ib] : 1;
        if (da[k] != db[k] && da[k] != 1 && db[k] != 1) return shape_err(model, n, err);
        dout[k] = da[k] > db[k] ? da[k] : db[k];
    }
    es_status s = ensure(model, o, nd, dout, err);
    if (s) return s;
    size_t idx[VMAX_DIMS] = {0};
    for (size_t i = 0; i < o->count; i++) {
        size_t ia = 0, ib = 0;
        for (int k = 0; k < nd; k++) {
            ia = ia * (size_t)da[k] + (da[k] == 1 ? 0 : idx[k]);
            ib = ib * (size_t)db[k] + (db[k] == 1 ? 0 : idx[k]);
        }
        float x = a->d[ia], y = b->d[ib], r;
        switch (op) {
        case OP_ADD: r = x + y; break;
        case OP_SUB: r = x - y; break;
        case OP_MUL: r = x * y; break;
        case OP_DIV: r = x / y; break;
        case OP_POW: r = y == 2.0f ? x * x : powf(x, y); break;
        default: r = x >= y ? 1.0f : 0.0f; break;   /* OP_GE */
        }
        o->d[i] = r;
        for (int k = nd - 1; k >= 0; k--) {
            if (++idx[k] < (size_t)dout[k]) break;
            idx[k] = 0;
        }
    }
    return ES_OK;
}

static es_status run_plan(gplan *p, const char *model, es_error *err);

static es_status run_step(step *s, const char *model, es_error *err)
{
    const es_node *n = s->n;
    val *a = s->in[0], *b = n->nin > 1 ? s->in[1] : NULL, *o = s->out;
    es_status st;
    if (s->op != OP_CONSTANT && s->op != OP_IF && (!a || !a->d)) return shape_err(model, n, err);
    switch (s->op) {
    case OP_CONSTANT:
        return ES_OK;
    case OP_IDENTITY:
    case OP_CAST: {
        int64_t to = es_attr_int(n, "to", 1);
        if (s->op == OP_CAST && to != ES_DT_FLOAT && to != ES_DT_BOOL) return shape_err(model, n, err);
        if ((st = ensure(model, o, a->ndim, a->dims, err))) return st;
        for (size_t i = 0; i < a->count; i++)
            o->d[i] = (s->op == OP_CAST && to == ES_DT_BOOL) ? (a->d[i] != 0.0f) : a->d[i];
        return ES_OK;
    }
    case OP_FLATTEN: {
        int64_t axis = es_attr_int(n, "axis", 1);
        if (axis < 0) axis += a->ndim;
        /* An empty input may have huge other dimensions whose product overflows. */
        if (axis < 0 || axis > a->ndim || a->count == 0) return shape_err(model, n, err);
        int64_t d[2] = {1, 1};
        for (int k = 0; k < a->ndim; k++) d[k < axis ? 0 : 1] *= a->dims[k];
        if ((st = ensure(model, o, 2, d, err))) return st;
        memcpy(o->d, a->d, a->count * sizeof(float));
        return ES_OK;
    }
    case OP_GEMM: {
        val *c = n->nin > 2 ? s->in[2] : NULL;
        int ta = (int)es_attr_int(n, "transA", 0), tb = (int)es_attr_int(n, "transB", 0);
        float alpha = es_attr_float(n, "alpha", 1.0f), beta = es_attr_float(n, "beta", 1.0f);
        if (!b || !b->d || a->ndim != 2 || b->ndim != 2) return shape_err(model, n, err);
        int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
        int64_t Kb = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
        /* Empty operands are refused: they would give sgemm a leading
         * dimension of 0, which OpenBLAS reports by printing. */
        if (K != Kb || M < 1 || N < 1 || K < 1 || (size_t)K > MAX_VALUES) return shape_err(model, n, err);
        int64_t d[2] = {M, N};
        if ((st = ensure(model, o, 2, d, err))) return st;
        /* C broadcasts to [M, N]: accept [N], [1, N], [M, N], scalar */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                float cv = 0;
                if (c && c->d) {
                    if (c->count == 1) cv = c->d[0];
                    else if (c->count == (size_t)N) cv = c->d[j];
                    else if (c->count == (size_t)(M * N)) cv = c->d[i * N + j];
                    else return shape_err(model, n, err);
                }
                o->d[i * N + j] = beta * cv;
            }
        es_sgemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, a->d,
                 (int)a->dims[1], b->d, (int)b->dims[1], 1.0f, o->d, (int)N);
        return ES_OK;
    }
    case OP_RELU: case OP_SIGMOID: case OP_SQRT:
        if ((st = ensure(model, o, a->ndim, a->dims, err))) return st;
        for (size_t i = 0; i < a->count; i++) {
            float x = a->d[i];
            o->d[i] = s->op == OP_RELU ? (x > 0 ? x : 0) : s->op == OP_SQRT ? sqrtf(x) : 1.0f / (1.0f + expf(-x));
        }
        return ES_OK;
    case OP_SOFTMAX: {
        int64_t axis = es_attr_int(n, "axis", -1);
        if (axis < 0) axis += a->ndim;
        /* heads use the last axis, which must exist and be non-empty */
        if (a->ndim < 1 || axis != a->ndim - 1 || a->dims[a->ndim - 1] < 1) return shape_err(model, n, err);
        if ((st = ensure(model, o, a->ndim, a->dims, err))) return st;
        size_t L = (size_t)a->dims[a->ndim - 1];
        for (size_t r = 0; r < a->count / L; r++) {
            const float *x = a->d + r * L;
            float *y = o->d + r * L, mx = -INFINITY, sum = 0;
            for (size_t i = 0; i < L; i++) mx = x[i] > mx ? x[i] : mx;
            for (size_t i = 0; i < L; i++) sum += (y[i] = expf(x[i] - mx));
            for (size_t i = 0; i < L; i++) y[i] /= sum;
        }
        return ES_OK;
    }
    case OP_REDUCEMEAN: {
        const es_attr *ax = es_node_attr(n, "axes");
        if (!ax || ax->nints != 1 || es_attr_int(n, "keepdims", 1) != 1) return shape_err(model, n, err);
        int64_t axis = ax->ints[0] < 0 ? ax->ints[0] + a->ndim : ax->ints[0];
        if (a->ndim < 1 || axis != a->ndim - 1 || a->dims[a->ndim - 1] < 1) return shape_err(model, n, err);
        int64_t d[VMAX_DIMS];
        memcpy(d, a->dims, sizeof d);
        d[a->ndim - 1] = 1;
        if ((st = ensure(model, o, a->ndim, d, err))) return st;
        size_t L = (size_t)a->dims[a->ndim - 1];
        for (size_t r = 0; r < a->count / L; r++) {
            float sum = 0;
            for (size_t i = 0; i < L; i++) sum += a->d[r * L + i];
            o->d[r] = sum / (float)L;
        }
        return ES_OK;
    }
    case OP_SUB: case OP_ADD: case OP_MUL: case OP_DIV: case OP_POW: case OP_GE:
        return binary(model, n, s->op, a, b, o, err);
    case OP_IF: {
        if (!a || !a->d || a->count != 1) return shape_err(model, n, err);
        gplan *br = a->d[0] != 0.0f ? s->then_g : s->else_g;
        if ((st = run_plan(br, model, err))) return st;
        val *r = br->result;
        /* A branch may name an unfed input of its own, or the If's output. */
        if (!r->d || r == o) return shape_err(model, n, err);
        if ((st = ensure(model, o, r->ndim, r->dims, err))) return st;
        memcpy(o->d, r->d, r->count * sizeof(float));
        return ES_OK;
    }
    }
    return shape_err(model, n, err);
}

static es_status run_plan(gplan *p, const char *model, es_error *err)
{
    for (size_t i = 0; i < p->nsteps; i++) {
        es_status s = run_step(&p->steps[i], model, err);
        if (s) return s;
    }
    return ES_OK;
}

/* ------------------------------------------------------------ public */

/* openWakeWord names a multi-class head's output with a JSON object of
 * class index -> label, e.g. {"1": "1_minute_timer", ...}. */
static int set_labels(es_head *h, const char *outname)
{
    h->labels = calloc(h->classes, sizeof(char *));
    if (!h->labels) return -1;
    cJSON *j = h->classes > 1 ? cJSON_Parse(outname) : NULL;
    for (size_t i = 0; i < h->classes; i++) {
        char buf[192];
        if (h->classes == 1) {
            snprintf(buf, sizeof buf, "%s", h->name);
        } else if (j && cJSON_IsObject(j)) {
            char key[32];
            snprintf(key, sizeof key, "%zu", i);
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
            if (!cJSON_IsString(v)) continue;   /* background class: no label */
            snprintf(buf, sizeof buf, "%s", v->valuestring);
        } else {
            snprintf(buf, sizeof buf, "%s:%zu", h->name, i);
        }
        if (!(h->labels[i] = strdup(buf))) { cJSON_Delete(j); return -1; }
    }
    cJSON_Delete(j);
    return 0;
}

const char *es_head_label(const es_head *h, size_t i)
{
    return h && i < h->classes ? h->labels[i] : NULL;
}

void es_head_free(es_head *h)
{
    if (!h) return;
    plan_free(h->root);
    if (h->labels)
        for (size_t i = 0; i < h->classes; i++) free(h->labels[i]);
    free(h->labels);
    free(h);
}

es_head *es_head_create(const es_onnx *model, const char *name, es_error *err)
{
    if (!model) { es_fail(err, ES_ERR_ARG, "es_head_create: no model"); return NULL; }
    const es_graph *g = es_onnx_graph(model);
    const char *mname = es_onnx_name(model);
    const es_value_info *in = NULL;
    for (size_t i = 0; i < g->ninputs; i++)
        if (!es_graph_init(g, g->inputs[i].name)) {
            if (in) { es_fail(err, ES_ERR_MODEL, "%s: a head must have one input", mname); return NULL; }
            in = &g->inputs[i];
        }
    if (!in || in->ndim != 3 || in->dims[2] != ES_EMB_DIM || in->dims[1] < 1 || in->dims[1] > 1024) {
        es_fail(err, ES_ERR_MODEL, "%s: not a wake-word head: input must be [1, window, 96] embeddings", mname);
        return NULL;
    }
    if (es_blas_ready(err)) return NULL;   /* its products could not run */
    es_head *h = calloc(1, sizeof *h);
    if (!h) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    h->window = (size_t)in->dims[1];
    if (!name) {
        /* default name: file name without directory, version and extension */
        const char *base = strrchr(mname, '/');
        base = base ? base + 1 : mname;
        snprintf(h->name, sizeof h->name, "%s", base);
        char *dot = strstr(h->name, ".onnx");
        if (dot) *dot = 0;
        char *ver = strstr(h->name, "_v0.");
        if (ver) *ver = 0;
    } else {
        snprintf(h->name, sizeof h->name, "%s", name);
    }
    h->root = plan_build(g, NULL, mname, err);
    if (!h->root) { es_head_free(h); return NULL; }
    for (size_t i = 0; i < h->root->nvals; i++)
        if (!strcmp(h->root->vals[i].name, in->name)) h->input = &h->root->vals[i];
    int64_t d[3] = {1, (int64_t)h->window, ES_EMB_DIM};
    if (!h->input || ensure(mname, h->input, 3, d, err)) { es_head_free(h); return NULL; }
    /* dry run: proves every op and shape works before any real audio */
    memset(h->input->d, 0, h->input->count * sizeof(float));
    if (run_plan(h->root, mname, err)) { es_head_free(h); return NULL; }
    val *r = h->root->result;
    if (r->ndim != 2 || r->dims[0] != 1 || r->dims[1] < 1) {
        es_fail(err, ES_ERR_MODEL, "%s: a head's output must be [1, classes]", mname);
        es_head_free(h);
        return NULL;
    }
    h->classes = (size_t)r->dims[1];
    if (set_labels(h, g->outputs[0].name)) {
        es_fail(err, ES_ERR_NOMEM, "out of memory");
        es_head_free(h);
        return NULL;
    }
    return h;
}

/* NULL-safe, as the header promises of every handle's getters */
const char *es_head_name(const es_head *h) { return h ? h->name : NULL; }
size_t es_head_window(const es_head *h) { return h ? h->window : 0; }
size_t es_head_classes(const es_head *h) { return h ? h->classes : 0; }

es_status es_head_run(es_head *h, const float *emb, float *scores, es_error *err)
{
    if (!h || !emb || !scores) return es_fail(err, ES_ERR_ARG, "es_head_run: invalid arguments");
    memcpy(h->input->d, emb, h->window * ES_EMB_DIM * sizeof(float));
    es_status s = run_plan(h->root, h->name, err);
    if (s) return s;
    val *r = h->root->result;
    if (r->count != h->classes) return es_fail(err, ES_ERR_MODEL, "%s: output size changed between runs", h->name);
    memcpy(scores, r->d, h->classes * sizeof(float));
    return ES_OK;
}
