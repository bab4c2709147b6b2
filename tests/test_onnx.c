/* ONNX reader: hand-built protobuf messages (every wire type and both
 * packed and unpacked repeated fields), hostile inputs, SHA-256 vectors,
 * and the real models when they are present. */
#include "test_util.h"
#include "../model/onnx.h"

#include <stdlib.h>
#include <string.h>

/* ---- a tiny protobuf writer for building test messages ---- */
typedef struct { unsigned char b[8192]; size_t n; } pb;

static void varint(pb *p, uint64_t v)
{
    do {
        unsigned char c = v & 0x7f;
        v >>= 7;
        p->b[p->n++] = c | (v ? 0x80 : 0);
    } while (v);
}
static void tag(pb *p, int field, int wt) { varint(p, (uint64_t)field << 3 | (uint64_t)wt); }
static void bytes(pb *p, int field, const void *d, size_t n)
{
    tag(p, field, 2);
    varint(p, n);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}
static void str(pb *p, int field, const char *s) { bytes(p, field, s, strlen(s)); }
static void sub(pb *p, int field, const pb *s) { bytes(p, field, s->b, s->n); }
static void f32(pb *p, int field, float f) { tag(p, field, 5); memcpy(p->b + p->n, &f, 4); p->n += 4; }

/* A model: one Gemm node with attributes, a raw float initializer, a typed
 * float initializer, a packed int64 initializer and an input [1, 3]. */
static void build_model(pb *m, int packed_dims)
{
    pb g = {0}, node = {0}, attr = {0}, t1 = {0}, t2 = {0}, t3 = {0}, vi = {0}, type = {0}, tt = {0}, shape = {0}, d1 = {0}, d2 = {0};
    str(&node, 1, "x"); str(&node, 1, "w"); str(&node, 2, "y"); str(&node, 3, "gemm0"); str(&node, 4, "Gemm");
    str(&attr, 1, "alpha"); f32(&attr, 2, 0.5f); tag(&attr, 20, 0); varint(&attr, 1);
    sub(&node, 5, &attr);
    memset(&attr, 0, sizeof attr);
    str(&attr, 1, "perm"); tag(&attr, 8, 0); varint(&attr, 2); tag(&attr, 8, 0); varint(&attr, 0);
    sub(&node, 5, &attr);
    /* raw float initializer w: [3, 2] */
    if (packed_dims) { pb dims = {0}; varint(&dims, 3); varint(&dims, 2); sub(&t1, 1, &dims); }
    else { tag(&t1, 1, 0); varint(&t1, 3); tag(&t1, 1, 0); varint(&t1, 2); }
    tag(&t1, 2, 0); varint(&t1, ES_DT_FLOAT);
    str(&t1, 8, "w");
    float raw[6] = {1, 2, 3, 4, 5, 6};
    bytes(&t1, 9, raw, sizeof raw);
    /* typed float initializer b: [2] */
    tag(&t2, 1, 0); varint(&t2, 2); tag(&t2, 2, 0); varint(&t2, ES_DT_FLOAT); str(&t2, 8, "b");
    f32(&t2, 4, -1.5f); f32(&t2, 4, 2.25f);
    /* int64 packed: [3] */
    tag(&t3, 1, 0); varint(&t3, 3); tag(&t3, 2, 0); varint(&t3, ES_DT_INT64); str(&t3, 8, "shape");
    { pb v = {0}; varint(&v, 7); varint(&v, (uint64_t)-1); varint(&v, 300); sub(&t3, 7, &v); }
    /* input x: float [1, 3] */
    tag(&d1, 1, 0); varint(&d1, 1);
    str(&d2, 2, "batch");
    sub(&shape, 1, &d1); sub(&shape, 1, &d2);
    tag(&tt, 1, 0); varint(&tt, 1); sub(&tt, 2, &shape);
    sub(&type, 1, &tt);
    str(&vi, 1, "x"); sub(&vi, 2, &type);
    sub(&g, 1, &node); str(&g, 2, "g"); sub(&g, 5, &t1); sub(&g, 5, &t2); sub(&g, 5, &t3); sub(&g, 11, &vi);
    memset(&vi, 0, sizeof vi); str(&vi, 1, "y"); sub(&g, 12, &vi);
    m->n = 0;
    tag(m, 1, 0); varint(m, 7);
    str(m, 2, "unknown producer field is skipped");
    tag(m, 99, 1); for (int i = 0; i < 8; i++) m->b[m->n++] = 0;   /* unknown fixed64 */
    sub(m, 7, &g);
    { pb op = {0}; str(&op, 1, ""); tag(&op, 2, 0); varint(&op, 13); sub(m, 8, &op); }
}

static void test_parse_fields(void **state)
{
    (void)state;
    for (int packed = 0; packed < 2; packed++) {
        pb m;
        build_model(&m, packed);
        es_error e = {0};
        es_onnx *o = es_onnx_parse(m.b, m.n, "t.onnx", &e);
        assert_non_null(o);
        assert_int_equal(es_onnx_opset(o), 13);
        const es_graph *g = es_onnx_graph(o);
        assert_string_equal(g->name, "g");
        assert_int_equal(g->nnodes, 1);
        const es_node *n = &g->nodes[0];
        assert_string_equal(n->op, "Gemm");
        assert_int_equal(n->nin, 2);
        assert_string_equal(n->in[1], "w");
        assert_float_equal(es_attr_float(n, "alpha", 0), 0.5f, 0);
        const es_attr *perm = es_node_attr(n, "perm");
        assert_non_null(perm);
        assert_int_equal(perm->nints, 2);
        assert_int_equal(perm->ints[0], 2);
        assert_int_equal(es_attr_int(n, "missing", 42), 42);
        const es_tensor *w = es_graph_init(g, "w");
        assert_non_null(w);
        assert_int_equal(w->ndim, 2);
        assert_int_equal(w->dims[0], 3);
        assert_int_equal(w->count, 6);
        assert_float_equal(w->f[5], 6.0f, 0);
        const es_tensor *b = es_graph_init(g, "b");
        assert_float_equal(b->f[1], 2.25f, 0);
        const es_tensor *s = es_graph_init(g, "shape");
        assert_int_equal(s->i[1], -1);
        assert_int_equal(s->i[2], 300);
        assert_int_equal(g->ninputs, 1);
        assert_int_equal(g->inputs[0].ndim, 2);
        assert_int_equal(g->inputs[0].dims[0], 1);
        assert_int_equal(g->inputs[0].dims[1], -1);   /* symbolic */
        es_onnx_free(o);
    }
}

static void expect_refused(const unsigned char *b, size_t n, const char *needle)
{
    es_error e = {0};
    es_onnx *o = es_onnx_parse(b, n, "bad.onnx", &e);
    assert_null(o);
    assert_non_null(strstr(e.msg, "bad.onnx"));
    if (needle && !strstr(e.msg, needle)) fail_msg("message '%s' lacks '%s'", e.msg, needle);
}

static void test_hostile(void **state)
{
    (void)state;
    pb m;
    build_model(&m, 1);
    /* every truncation is refused or parsed, never a crash; most are refused */
    int refused = 0;
    for (size_t k = 0; k < m.n; k++) {
        es_onnx *o = es_onnx_parse(m.b, k, "trunc.onnx", NULL);
        if (!o) refused++;
        es_onnx_free(o);
    }
    assert_true(refused > (int)m.n / 2);
    expect_refused((const unsigned char *)"", 0, "empty");
    const unsigned char overlong[] = {0x3a, 0xff, 0xff, 0xff, 0x0f};   /* graph of 4 GB in 5 bytes */
    expect_refused(overlong, sizeof overlong, "malformed");
    const unsigned char group[] = {0x0b};   /* wire type 3 (start group) */
    expect_refused(group, sizeof group, "malformed");
    const unsigned char badvarint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_refused(badvarint, sizeof badvarint, "malformed");
    const unsigned char nograph[] = {0x08, 0x07};
    expect_refused(nograph, sizeof nograph, "no graph");
    /* IR version out of range */
    pb v = m;
    v.b[1] = 99;
    expect_refused(v.b, v.n, "IR version");

    /* sub-graphs nested beyond the limit: If -> then_branch -> If -> ... */
    pb inner = {0};
    str(&inner, 2, "leaf");
    for (int d = 0; d < 10; d++) {
        pb attr = {0}, node = {0}, g = {0};
        str(&attr, 1, "then_branch");
        sub(&attr, 6, &inner);
        str(&node, 4, "If");
        sub(&node, 5, &attr);
        sub(&g, 1, &node);
        inner = g;
    }
    pb deep = {0};
    tag(&deep, 1, 0); varint(&deep, 7);
    sub(&deep, 7, &inner);
    expect_refused(deep.b, deep.n, "nested");

    /* a tensor whose data does not match its shape */
    pb t = {0}, g = {0}, mm = {0};
    tag(&t, 1, 0); varint(&t, 4); tag(&t, 2, 0); varint(&t, ES_DT_FLOAT); str(&t, 8, "w");
    float raw[3] = {0};
    bytes(&t, 9, raw, sizeof raw);
    sub(&g, 5, &t);
    tag(&mm, 1, 0); varint(&mm, 7); sub(&mm, 7, &g);
    expect_refused(mm.b, mm.n, "needs 16");

    /* data kept in an external file is refused */
    pb t2 = {0}, g2 = {0}, m2 = {0};
    str(&t2, 8, "ext"); tag(&t2, 14, 0); varint(&t2, 1);
    sub(&g2, 5, &t2);
    tag(&m2, 1, 0); varint(&m2, 7); sub(&m2, 7, &g2);
    expect_refused(m2.b, m2.n, "external");

    /* a huge claimed shape with no data */
    pb t3 = {0}, g3 = {0}, m3 = {0};
    tag(&t3, 1, 0); varint(&t3, 1u << 30); tag(&t3, 1, 0); varint(&t3, 1u << 30);
    tag(&t3, 2, 0); varint(&t3, ES_DT_FLOAT); str(&t3, 8, "huge");
    sub(&g3, 5, &t3);
    tag(&m3, 1, 0); varint(&m3, 7); sub(&m3, 7, &g3);
    expect_refused(m3.b, m3.n, NULL);
}

static void test_load_errors(void **state)
{
    (void)state;
    es_error e = {0};
    assert_null(es_onnx_load("/nonexistent/x.onnx", &e));
    assert_non_null(strstr(e.msg, "/nonexistent/x.onnx"));
    assert_null(es_onnx_load("/tmp", &e));
    assert_non_null(strstr(e.msg, "directory"));
    /* a NULL path is the caller's mistake, as for es_audio_load: it was
     * handed to stat() and reported as "(null): cannot open: Bad address" */
    assert_null(es_onnx_load(NULL, &e));
    assert_int_equal(e.status, ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "path is NULL"));
}

static void hex(const unsigned char *d, char *out)
{
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256(void **state)
{
    (void)state;
    unsigned char d[32];
    char h[65];
    es_sha256((const unsigned char *)"", 0, d);
    hex(d, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    es_sha256((const unsigned char *)"abc", 3, d);
    hex(d, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *s448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    es_sha256((const unsigned char *)s448, strlen(s448), d);
    hex(d, h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* piece by piece (the cache hashes files a megabyte at a time): a
     * million 'a' (FIPS 180-2's third vector) fed in pieces of every size
     * from 0 to 130 bytes, so pieces end at each offset of a block */
    size_t n = 1000000;
    unsigned char *m = malloc(n);
    assert_non_null(m);
    memset(m, 'a', n);
    es_sha256_ctx c;
    es_sha256_init(&c);
    for (size_t i = 0, k = 0; i < n; k = (k + 1) % 131) {
        size_t len = k < n - i ? k : n - i;
        es_sha256_update(&c, m + i, len);
        i += len;
    }
    es_sha256_final(&c, d);
    hex(d, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    es_sha256(m, n, d);
    hex(d, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* 55, 56 and 64 bytes: the padding's edge cases, one-shot == pieces */
    static const size_t edge[] = {55, 56, 63, 64, 65, 119, 120};
    for (size_t j = 0; j < sizeof edge / sizeof edge[0]; j++) {
        unsigned char d1[32];
        es_sha256(m, edge[j], d1);
        es_sha256_init(&c);
        es_sha256_update(&c, m, 1);
        es_sha256_update(&c, NULL, 0);
        es_sha256_update(&c, m + 1, edge[j] - 1);
        es_sha256_final(&c, d);
        assert_memory_equal(d, d1, 32);
    }
    free(m);
}

static void test_real_models(void **state)
{
    (void)state;
    static const struct { const char *name, *sha; } M[] = {
        {"embedding_model", "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f"},
        {"melspectrogram", "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f"},
        {"hey_jarvis", "94a13cfe60075b132f6a472e7e462e8123ee70861bc3fb58434a73712ee0d2cb"},
        {"timer", "371e44535470a29248b3b8f1bbbbaf2525c86417fd8f75c67fcf02ae0b9626df"},
    };
    for (size_t i = 0; i < sizeof M / sizeof M[0]; i++) {
        es_onnx *o = test_model(M[i].name);
        assert_non_null(o);
        char h[65];
        hex(es_onnx_sha256(o), h);
        assert_string_equal(h, M[i].sha);
        es_onnx_free(o);
    }
    es_onnx *o = test_model("embedding_model");
    const es_graph *g = es_onnx_graph(o);
    int convs = 0;
    for (size_t i = 0; i < g->nnodes; i++) convs += !strcmp(g->nodes[i].op, "Conv");
    assert_int_equal(convs, 20);
    assert_int_equal(g->inputs[0].dims[1], 76);
    es_onnx_free(o);
    /* hey_jarvis carries its verifier in an If sub-graph */
    o = test_model("hey_jarvis");
    g = es_onnx_graph(o);
    const es_attr *then = es_node_attr(&g->nodes[g->nnodes - 1], "then_branch");
    assert_non_null(then);
    assert_non_null(then->g);
    assert_true(then->g->nnodes > 10);
    es_onnx_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields), cmocka_unit_test(test_hostile), cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_sha256),
    };
    int rc = cmocka_run_group_tests_name("onnx reader", tests, NULL, NULL);
    test_require_models();
    const struct CMUnitTest real[] = { cmocka_unit_test(test_real_models) };
    return rc | cmocka_run_group_tests_name("onnx real models", real, NULL, NULL);
}
