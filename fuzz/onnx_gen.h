/*
 * fuzz/onnx_gen.h — a tiny ONNX (protobuf) writer for test inputs: small
 * wake-word heads built from scratch, valid ones and deliberately hostile
 * ones. Shared by fuzz/gen_onnx_seeds.c (seed corpus: a few hundred bytes
 * each, where libFuzzer mutates far faster than on the 1 MB pretrained
 * models) and tests/test_fuzz_regress.c (the hostile cases as regression
 * tests). Test-only code: it aborts on out-of-memory.
 *
 * Field numbers as in model/onnx.c's comment (onnx.proto).
 */
#ifndef ES_ONNX_GEN_H
#define ES_ONNX_GEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *p;
    size_t n, cap;
} pb;

static void pb_put(pb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) abort();
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void pb_varint(pb *b, uint64_t v)
{
    unsigned char c[10];
    size_t k = 0;
    do {
        c[k] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) c[k] |= 0x80;
        k++;
    } while (v);
    pb_put(b, c, k);
}

static void pb_tag(pb *b, int field, int wt) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wt); }
static void pb_int(pb *b, int field, int64_t v) { pb_tag(b, field, 0); pb_varint(b, (uint64_t)v); }

static void pb_bytes(pb *b, int field, const void *d, size_t n)
{
    pb_tag(b, field, 2);
    pb_varint(b, n);
    pb_put(b, d, n);
}

static void pb_str(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

/* Embed `sub` as field `field` and free it. */
static void pb_msg(pb *b, int field, pb *sub)
{
    pb_bytes(b, field, sub->p, sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

static void pb_f32(pb *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    unsigned char c[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
    pb_put(b, c, 4);
}

/* TensorProto: float32 raw data, values v[i] (or 0.01*i when v is NULL). */
static void gen_tensor(pb *out, int field, const char *name, const int64_t *dims, int nd, const float *v)
{
    pb t = {0}, raw = {0};
    size_t count = 1;
    for (int i = 0; i < nd; i++) {
        pb_int(&t, 1, dims[i]);
        count *= (size_t)dims[i];
    }
    pb_int(&t, 2, 1);  /* FLOAT */
    pb_str(&t, 8, name);
    for (size_t i = 0; i < count; i++) pb_f32(&raw, v ? v[i] : 0.01f * (float)(i % 97) - 0.3f);
    pb_bytes(&t, 9, raw.p, raw.n);
    free(raw.p);
    pb_msg(out, field, &t);
}

/* ValueInfoProto with a float tensor type of the given shape. */
static void gen_value(pb *g, int field, const char *name, const int64_t *dims, int nd)
{
    pb vi = {0}, type = {0}, tt = {0}, shape = {0};
    for (int i = 0; i < nd; i++) {
        pb dim = {0};
        pb_int(&dim, 1, dims[i]);
        pb_msg(&shape, 1, &dim);
    }
    pb_int(&tt, 1, 1);
    pb_msg(&tt, 2, &shape);
    pb_msg(&type, 1, &tt);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(g, field, &vi);
}

/* A node with up to 3 inputs ("" = absent) and one output; attributes are
 * appended by the caller to the returned builder before gen_node_end. */
static pb gen_node(const char *op, const char *in0, const char *in1, const char *in2, const char *out)
{
    pb n = {0};
    const char *in[3] = {in0, in1, in2};
    for (int i = 0; i < 3; i++)
        if (in[i]) pb_str(&n, 1, in[i]);
    if (out) pb_str(&n, 2, out);
    pb_str(&n, 3, out ? out : op);
    pb_str(&n, 4, op);
    return n;
}

static void gen_node_end(pb *g, pb *n) { pb_msg(g, 1, n); }

static void gen_attr_int(pb *n, const char *name, int64_t v)
{
    pb a = {0};
    pb_str(&a, 1, name);
    pb_int(&a, 3, v);
    pb_int(&a, 20, 2);
    pb_msg(n, 5, &a);
}

static void gen_attr_ints(pb *n, const char *name, const int64_t *v, int k)
{
    pb a = {0};
    pb_str(&a, 1, name);
    for (int i = 0; i < k; i++) pb_int(&a, 8, v[i]);
    pb_int(&a, 20, 7);
    pb_msg(n, 5, &a);
}

static void gen_attr_tensor(pb *n, const char *name, const int64_t *dims, int nd, const float *v)
{
    pb a = {0};
    pb_str(&a, 1, name);
    gen_tensor(&a, 5, "value", dims, nd, v);
    pb_int(&a, 20, 4);
    pb_msg(n, 5, &a);
}

/* `g` (a finished GraphProto) as a graph attribute. */
static void gen_attr_graph(pb *n, const char *name, pb *g)
{
    pb a = {0};
    pb_str(&a, 1, name);
    pb_msg(&a, 6, g);
    pb_int(&a, 20, 5);
    pb_msg(n, 5, &a);
}

/* ModelProto around a finished GraphProto; returns the bytes (malloc'd). */
static unsigned char *gen_model(pb *graph, size_t *len)
{
    pb m = {0}, op = {0};
    pb_int(&m, 1, 8);           /* ir_version */
    pb_str(&m, 2, "earshot-gen");
    pb_msg(&m, 7, graph);
    pb_int(&op, 2, 13);
    pb_msg(&m, 8, &op);
    *len = m.n;
    return m.p;
}

/* ------------------------------------------------------------ models */

/* Head cases. The first few are valid heads (seeds); the rest are hostile
 * shapes that es_head_create must refuse cleanly. */
enum {
    GEN_HEAD_MLP,         /* Flatten, Gemm, Sigmoid: [1,W,96] -> [1,1] */
    GEN_HEAD_LAYERNORM,   /* + decomposed LayerNorm, Relu, Softmax over 3 classes */
    GEN_HEAD_IF,          /* hey_jarvis-like: score >= 0.5 ? verifier : score */
    GEN_HEAD_VALID_COUNT,
    GEN_BAD_REDUCEMEAN_SCALAR = GEN_HEAD_VALID_COUNT,  /* ReduceMean(axes=[-1]) of a 0-d constant */
    GEN_BAD_SOFTMAX_SCALAR,   /* Softmax(axis=-1) of a 0-d constant */
    GEN_BAD_SOFTMAX_EMPTY,    /* Softmax of a [1, 0] tensor: rows of length 0 */
    GEN_BAD_REDUCEMEAN_EMPTY, /* ReduceMean of a [1, 0] tensor */
    GEN_BAD_IF_SELF,          /* If whose branch returns the If's own output */
    GEN_BAD_BROADCAST_HUGE,   /* Add of [65536,1] and [1,65536]: 2^32 floats */
    GEN_BAD_FLATTEN_OVERFLOW, /* Flatten of [0, 2^40, 2^40]: dims overflow */
    GEN_BAD_GEMM_EMPTY,       /* Gemm with K = 0 (leading dimensions 0) */
    GEN_BAD_IF_INPUT,         /* If whose branch returns its own (unfed) graph input */
    GEN_CASES
};

static const char *const gen_case_name[GEN_CASES] = {
    "head-mlp", "head-layernorm", "head-if", "bad-reducemean-scalar", "bad-softmax-scalar",
    "bad-softmax-empty", "bad-reducemean-empty", "bad-if-self", "bad-broadcast-huge",
    "bad-flatten-overflow", "bad-gemm-empty", "bad-if-input"};

/* [1, window, 96] input "x", then Flatten -> "flat" [1, window*96]. */
static void gen_head_input(pb *g, int64_t window)
{
    const int64_t in[3] = {1, window, 96};
    gen_value(g, 11, "x", in, 3);
    pb n = gen_node("Flatten", "x", NULL, NULL, "flat");
    gen_attr_int(&n, "axis", 1);
    gen_node_end(g, &n);
}

/* Gemm(flat, W[k][window*96]^T) + b -> `out` [1, k] */
static void gen_head_gemm(pb *g, int64_t window, int64_t k, const char *in, const char *wname, const char *out)
{
    char bname[64];
    snprintf(bname, sizeof bname, "%s.bias", wname);
    const int64_t wd[2] = {k, window * 96}, bd[1] = {k};
    gen_tensor(g, 5, wname, wd, 2, NULL);
    gen_tensor(g, 5, bname, bd, 1, NULL);
    pb n = gen_node("Gemm", in, wname, bname, out);
    gen_attr_int(&n, "transB", 1);
    gen_node_end(g, &n);
}

static unsigned char *gen_case(int which, size_t *len)
{
    pb g = {0};
    pb_str(&g, 2, gen_case_name[which]);
    const int64_t out2[2] = {1, 1};
    const int64_t scalar[1] = {0};
    const float two = 2.0f, half = 0.5f, eps = 1e-5f;
    pb n;
    switch (which) {
    case GEN_HEAD_MLP:
        gen_head_input(&g, 2);
        gen_head_gemm(&g, 2, 1, "flat", "w1", "logit");
        n = gen_node("Sigmoid", "logit", NULL, NULL, "score");
        gen_node_end(&g, &n);
        gen_value(&g, 12, "score", out2, 2);
        break;
    case GEN_HEAD_LAYERNORM: {
        const int64_t axes[1] = {-1}, h[2] = {1, 3};
        gen_head_input(&g, 1);
        gen_head_gemm(&g, 1, 3, "flat", "w1", "h");
        n = gen_node("ReduceMean", "h", NULL, NULL, "mean");
        gen_attr_ints(&n, "axes", axes, 1);
        gen_node_end(&g, &n);
        n = gen_node("Sub", "h", "mean", NULL, "d");
        gen_node_end(&g, &n);
        n = gen_node("Constant", NULL, NULL, NULL, "two");
        gen_attr_tensor(&n, "value", scalar, 0, &two);
        gen_node_end(&g, &n);
        n = gen_node("Pow", "d", "two", NULL, "d2");
        gen_node_end(&g, &n);
        n = gen_node("ReduceMean", "d2", NULL, NULL, "var");
        gen_attr_ints(&n, "axes", axes, 1);
        gen_node_end(&g, &n);
        n = gen_node("Constant", NULL, NULL, NULL, "eps");
        gen_attr_tensor(&n, "value", scalar, 0, &eps);
        gen_node_end(&g, &n);
        n = gen_node("Add", "var", "eps", NULL, "ve");
        gen_node_end(&g, &n);
        n = gen_node("Sqrt", "ve", NULL, NULL, "sd");
        gen_node_end(&g, &n);
        n = gen_node("Div", "d", "sd", NULL, "norm");
        gen_node_end(&g, &n);
        n = gen_node("Relu", "norm", NULL, NULL, "r");
        gen_node_end(&g, &n);
        n = gen_node("Softmax", "r", NULL, NULL, "{\"1\": \"one\", \"2\": \"two\"}");
        gen_attr_int(&n, "axis", -1);
        gen_node_end(&g, &n);
        gen_value(&g, 12, "{\"1\": \"one\", \"2\": \"two\"}", h, 2);
        break;
    }
    case GEN_HEAD_IF:
    case GEN_BAD_IF_SELF:
    case GEN_BAD_IF_INPUT: {
        gen_head_input(&g, 1);
        gen_head_gemm(&g, 1, 1, "flat", "w1", "logit");
        n = gen_node("Sigmoid", "logit", NULL, NULL, "p1");
        gen_node_end(&g, &n);
        n = gen_node("Constant", NULL, NULL, NULL, "half");
        gen_attr_tensor(&n, "value", scalar, 0, &half);
        gen_node_end(&g, &n);
        n = gen_node("GreaterOrEqual", "p1", "half", NULL, "ge");
        gen_node_end(&g, &n);
        n = gen_node("Cast", "ge", NULL, NULL, "cond");
        gen_attr_int(&n, "to", 9);
        gen_node_end(&g, &n);
        /* then: a second MLP on the outer "flat"; else: the first score */
        pb then_g = {0}, else_g = {0};
        pb_str(&then_g, 2, "then");
        gen_head_gemm(&then_g, 1, 1, "flat", "w2", "logit2");
        n = gen_node("Sigmoid", "logit2", NULL, NULL, "p2");
        gen_node_end(&then_g, &n);
        gen_value(&then_g, 12, which == GEN_BAD_IF_SELF ? "score" : "p2", out2, 2);
        pb_str(&else_g, 2, "else");
        n = gen_node("Identity", "p1", NULL, NULL, "p1b");
        gen_node_end(&else_g, &n);
        if (which == GEN_BAD_IF_INPUT) gen_value(&else_g, 11, "unfed", out2, 2);
        gen_value(&else_g, 12, which == GEN_BAD_IF_SELF ? "score" : which == GEN_BAD_IF_INPUT ? "unfed" : "p1b",
                  out2, 2);
        n = gen_node("If", "cond", NULL, NULL, "score");
        gen_attr_graph(&n, "then_branch", &then_g);
        gen_attr_graph(&n, "else_branch", &else_g);
        gen_node_end(&g, &n);
        gen_value(&g, 12, "score", out2, 2);
        break;
    }
    case GEN_BAD_REDUCEMEAN_SCALAR:
    case GEN_BAD_SOFTMAX_SCALAR:
    case GEN_BAD_SOFTMAX_EMPTY:
    case GEN_BAD_REDUCEMEAN_EMPTY: {
        const int64_t axes[1] = {-1}, empty[2] = {1, 0};
        int is_scalar = which == GEN_BAD_REDUCEMEAN_SCALAR || which == GEN_BAD_SOFTMAX_SCALAR;
        int is_mean = which == GEN_BAD_REDUCEMEAN_SCALAR || which == GEN_BAD_REDUCEMEAN_EMPTY;
        gen_head_input(&g, 1);
        if (is_scalar) gen_tensor(&g, 5, "c", scalar, 0, &two);
        else gen_tensor(&g, 5, "c", empty, 2, NULL);
        n = gen_node(is_mean ? "ReduceMean" : "Softmax", "c", NULL, NULL, "y");
        if (is_mean) gen_attr_ints(&n, "axes", axes, 1);
        else gen_attr_int(&n, "axis", -1);
        gen_node_end(&g, &n);
        gen_head_gemm(&g, 1, 1, "flat", "w1", "score");
        gen_value(&g, 12, "score", out2, 2);
        break;
    }
    case GEN_BAD_BROADCAST_HUGE: {
        const int64_t a[2] = {65536, 1}, b[2] = {1, 65536};
        gen_head_input(&g, 1);
        gen_tensor(&g, 5, "a", a, 2, NULL);
        gen_tensor(&g, 5, "b", b, 2, NULL);
        n = gen_node("Add", "a", "b", NULL, "ab");
        gen_node_end(&g, &n);
        gen_head_gemm(&g, 1, 1, "flat", "w1", "score");
        gen_value(&g, 12, "score", out2, 2);
        break;
    }
    case GEN_BAD_FLATTEN_OVERFLOW: {
        const int64_t d[3] = {0, (int64_t)1 << 40, (int64_t)1 << 40};
        gen_head_input(&g, 1);
        gen_tensor(&g, 5, "z", d, 3, NULL);
        n = gen_node("Flatten", "z", NULL, NULL, "zf");
        gen_attr_int(&n, "axis", 1);
        gen_node_end(&g, &n);
        gen_head_gemm(&g, 1, 1, "flat", "w1", "score");
        gen_value(&g, 12, "score", out2, 2);
        break;
    }
    case GEN_BAD_GEMM_EMPTY: {
        const int64_t a[2] = {1, 0}, b[2] = {0, 1};
        gen_head_input(&g, 1);
        gen_tensor(&g, 5, "ea", a, 2, NULL);
        gen_tensor(&g, 5, "eb", b, 2, NULL);
        n = gen_node("Gemm", "ea", "eb", NULL, "score");
        gen_node_end(&g, &n);
        gen_value(&g, 12, "score", out2, 2);
        break;
    }
    }
    return gen_model(&g, len);
}

#endif
