/* safetensors reader/writer: round trips, the exact bytes of a tiny file
 * (8-byte alignment, offsets), files written by hand as Python's
 * safetensors writes them, refusal of every truncation and of each kind of
 * malformed header, and atomic writes. */
#include "test_util.h"
#include "../model/safetensors.h"
#include "es_internal.h"

#include <dirent.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return test_tmpdir(dir, sizeof dir, "st");
}

static int teardown(void **state)
{
    (void)state;
    return test_rmtree(dir);
}

static void path_in_dir(char *p, size_t n, const char *name) { snprintf(p, n, "%s/%s", dir, name); }

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
}

/* A file from a header text and data bytes; pad: spaces up to 8-byte
 * alignment of the data, as writers do. data NULL = zeros. */
static unsigned char *mk(const char *json, int pad, const void *data, size_t dlen, size_t *len)
{
    size_t jl = strlen(json), hl = pad ? (jl + 7) / 8 * 8 : jl;
    unsigned char *b = malloc(8 + hl + dlen + 1);
    assert_non_null(b);
    put_u64(b, hl);
    memcpy(b + 8, json, jl);
    memset(b + 8 + jl, ' ', hl - jl);
    if (data) memcpy(b + 8 + hl, data, dlen);
    else memset(b + 8 + hl, 0, dlen);
    *len = 8 + hl + dlen;
    return b;
}

static int count_files(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ------------------------------------------------------------ round trip */

static void test_roundtrip(void **state)
{
    (void)state;
    float scalar = -0.0f, v1[5], m2[3 * 4], t4[2 * 1 * 3 * 2];
    for (int i = 0; i < 5; i++) v1[i] = (float)i - 2.5f;
    v1[1] = NAN;
    v1[2] = -INFINITY;
    v1[3] = 1e-45f;   /* the smallest subnormal */
    uint32_t s = 7;
    for (int i = 0; i < 12; i++) m2[i] = test_rand(&s) * 2 - 1;
    for (int i = 0; i < 12; i++) t4[i] = (float)i * 1e30f;
    const es_st_tensor t[] = {
        {"encoder.scale", 0, {0}, &scalar},
        {"head/bias", 1, {5}, v1},
        {"head/weight", 2, {3, 4}, m2},
        {"conv", 4, {2, 1, 3, 2}, t4},
        {"empty", 2, {0, 3}, NULL},
        {"\xc3\xa9t\xc3\xa9 \"quoted\"\n", 1, {1}, &scalar},
        {"", 1, {2}, m2},
    };
    const size_t n = sizeof t / sizeof t[0];
    const char *keys[] = {"labels", "window", "card \"json\""};
    const char *vals[] = {"[\"lights on\",\"pause\",\"kaffee\"]", "16", "{\"sha256\": \"70d1\\u00e9\"}\t\xe2\x82\xac"};
    char path[128];
    path_in_dir(path, sizeof path, "rt.safetensors");
    es_error e = {0};
    assert_int_equal(es_st_write(path, t, n, keys, vals, 3, &e), ES_OK);

    es_st *st = es_st_load(path, &e);
    if (!st) fail_msg("%s", e.msg);
    assert_int_equal(es_st_count(st), n);
    for (size_t i = 0; i < n; i++) {
        const es_st_tensor *r = es_st_at(st, i);
        assert_non_null(r);
        assert_string_equal(r->name, t[i].name);
        assert_int_equal(r->ndim, t[i].ndim);
        size_t cnt = 1;
        for (int d = 0; d < r->ndim; d++) {
            assert_int_equal(r->shape[d], t[i].shape[d]);
            cnt *= (size_t)r->shape[d];
        }
        assert_non_null(r->data);
        for (size_t k = 0; k < cnt; k++) assert_int_equal(bits(r->data[k]), bits(t[i].data[k]));
        assert_ptr_equal(es_st_get(st, t[i].name), r);
    }
    assert_null(es_st_at(st, n));
    assert_null(es_st_get(st, "missing"));
    assert_null(es_st_get(st, "head"));
    assert_int_equal(es_st_meta_count(st), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(es_st_meta_key(st, i), keys[i]);
        assert_string_equal(es_st_meta(st, keys[i]), vals[i]);
    }
    assert_null(es_st_meta_key(st, 3));
    assert_null(es_st_meta(st, "missing"));
    es_st_free(st);

    /* The data starts on an 8-byte boundary. */
    size_t len;
    unsigned char *b = test_read_file(path, &len);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = hl << 8 | b[k];
    assert_int_equal(hl % 8, 0);
    assert_int_equal(len, 8 + hl + 4 * (1 + 5 + 12 + 12 + 0 + 1 + 2));
    free(b);

    /* No tensors, no metadata: "{}" padded to 8 bytes. */
    assert_int_equal(es_st_write(path, NULL, 0, NULL, NULL, 0, &e), ES_OK);
    b = test_read_file(path, &len);
    assert_int_equal(len, 16);
    assert_memory_equal(b, "\x08\0\0\0\0\0\0\0{}      ", 16);
    free(b);
    st = es_st_load(path, &e);
    assert_non_null(st);
    assert_int_equal(es_st_count(st), 0);
    assert_int_equal(es_st_meta_count(st), 0);
    assert_null(es_st_get(st, ""));
    es_st_free(st);

    /* A bigger tensor: a 1000 x 96 embedding matrix. */
    float *big = malloc(1000 * 96 * sizeof *big);
    assert_non_null(big);
    for (int i = 0; i < 1000 * 96; i++) big[i] = test_rand(&s);
    es_st_tensor bt = {"emb", 2, {1000, 96}, big};
    assert_int_equal(es_st_write(path, &bt, 1, NULL, NULL, 0, &e), ES_OK);
    st = es_st_load(path, &e);
    assert_non_null(st);
    assert_memory_equal(es_st_get(st, "emb")->data, big, 1000 * 96 * sizeof *big);
    es_st_free(st);
    free(big);
}

/* ---------------------------------------------------------- exact bytes */

static void test_layout(void **state)
{
    (void)state;
    const float w[2] = {1.0f, -2.0f}, b = 0.5f;
    const es_st_tensor t[] = {{"w", 1, {2}, w}, {"b", 0, {0}, &b}};
    const char *k[] = {"k"}, *v[] = {"v"};
    char path[128];
    path_in_dir(path, sizeof path, "tiny.safetensors");
    assert_int_equal(es_st_write(path, t, 2, k, v, 1, NULL), ES_OK);
    /* Metadata first, then the tensors in the given order (not sorted),
     * laid out back to back from offset 0; 132 bytes of JSON padded with
     * 4 spaces to 136, so the data starts at 8 + 136 = 144 = 18 * 8. */
    static const char json[] = "{\"__metadata__\":{\"k\":\"v\"},"
                               "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                               "\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]}}";
    assert_int_equal(strlen(json), 132);
    static const unsigned char expect[] =
        "\x88\0\0\0\0\0\0\0"
        "{\"__metadata__\":{\"k\":\"v\"},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]}}    "
        "\x00\x00\x80\x3f" "\x00\x00\x00\xc0"   /* 1.0, -2.0 */
        "\x00\x00\x00\x3f";                     /* 0.5 */
    size_t len;
    unsigned char *got = test_read_file(path, &len);
    assert_int_equal(len, sizeof expect - 1);
    assert_int_equal(len, 8 + 136 + 12);
    assert_memory_equal(got, expect, len);
    free(got);

    /* {"__metadata__":{"k":"v"}} is 26 bytes: padded with 6 spaces to 32. */
    assert_int_equal(es_st_write(path, NULL, 0, k, v, 1, NULL), ES_OK);
    got = test_read_file(path, &len);
    assert_int_equal(len, 8 + 32);
    assert_memory_equal(got, "\x20\0\0\0\0\0\0\0{\"__metadata__\":{\"k\":\"v\"}}      ", 40);
    free(got);
    /* An already aligned header (32 bytes of JSON) gets no padding. */
    const char *v7[] = {"vvvvvvv"};
    assert_int_equal(es_st_write(path, NULL, 0, k, v7, 1, NULL), ES_OK);
    got = test_read_file(path, &len);
    assert_int_equal(len, 8 + 32);
    assert_memory_equal(got, "\x20\0\0\0\0\0\0\0{\"__metadata__\":{\"k\":\"vvvvvvv\"}}", 40);
    free(got);
    /* Large integers are written in full, never as 9.007e+15. */
    const es_st_tensor z[] = {{"z", 3, {INT64_C(9007199254740991), 0, 1000000000000000}, NULL}};
    assert_int_equal(es_st_write(path, z, 1, NULL, NULL, 0, NULL), ES_OK);
    got = test_read_file(path, &len);
    static const char zj[] = "{\"z\":{\"dtype\":\"F32\",\"shape\":[9007199254740991,0,1000000000000000],"
                             "\"data_offsets\":[0,0]}}";
    assert_int_equal(len, 8 + (sizeof zj - 1 + 7) / 8 * 8);
    assert_memory_equal(got + 8, zj, sizeof zj - 1);
    es_st *st = es_st_load(path, NULL);
    assert_non_null(st);
    assert_int_equal(es_st_at(st, 0)->shape[0], INT64_C(9007199254740991));
    assert_int_equal(es_st_at(st, 0)->shape[2], INT64_C(1000000000000000));
    es_st_free(st);
    free(got);
}

/* ------------------------------------------------- files written by hand */

static void le64d(unsigned char *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    put_u64(p, u);
}

static void test_python_style(void **state)
{
    (void)state;
    /* As Python's safetensors.numpy.save_file writes
     * {"weight": float32 (2, 3), "bias": float32 (3,)} with metadata
     * {"format": "np"}: tensors ordered by name, offsets from 0, the JSON
     * padded with spaces to an 8-byte boundary. */
    static const char json[] =
        "{\"__metadata__\":{\"format\":\"np\"},"
        "\"bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
        "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[12,36]}}";
    static const unsigned char data[36] = {
        0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x40,   /* 1 2 3 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0xbf,   /* 0 0.5 -1 */
        0x00, 0x00, 0x20, 0x41, 0x00, 0x00, 0x80, 0x7f, 0x00, 0x00, 0xc0, 0x7f,   /* 10 inf nan */
    };
    size_t len;
    unsigned char *b = mk(json, 1, data, sizeof data, &len);
    assert_int_equal((len - sizeof data) % 8, 0);
    char path[128];
    path_in_dir(path, sizeof path, "py.safetensors");
    write_bytes(path, b, len);
    free(b);
    es_error e = {0};
    es_st *st = es_st_load(path, &e);
    if (!st) fail_msg("%s", e.msg);
    assert_int_equal(es_st_count(st), 2);
    assert_string_equal(es_st_meta(st, "format"), "np");
    const es_st_tensor *bias = es_st_get(st, "bias"), *w = es_st_get(st, "weight");
    assert_non_null(bias);
    assert_non_null(w);
    assert_int_equal(bias->ndim, 1);
    assert_int_equal(bias->shape[0], 3);
    assert_true(bias->data[0] == 1.0f && bias->data[1] == 2.0f && bias->data[2] == 3.0f);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 3);
    assert_true(w->data[0] == 0.0f && w->data[1] == 0.5f && w->data[2] == -1.0f && w->data[3] == 10.0f);
    assert_true(isinf(w->data[4]) && w->data[4] > 0 && isnan(w->data[5]));
    es_st_free(st);

    /* Other dtypes, converted to float. JSON keys in name order, the data
     * in the reference writer's order (largest dtype first), so the order
     * of es_st_at (by offset) differs from the JSON's. */
    static const char json2[] =
        "{\"a_f16\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[28,36]},"
        "\"b_bf16\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[24,28]},"
        "\"c_f32\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[16,24]},"
        "\"d_f64\":{\"dtype\":\"F64\",\"shape\":[1,1,2],\"data_offsets\":[0,16]},"
        "\"e_empty\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[36,36]}}";
    unsigned char d2[36];
    le64d(d2, 1.5);
    le64d(d2 + 8, -1e300);
    memcpy(d2 + 16, "\x00\x00\x80\x3f\x00\x00\x80\xbf", 8);    /* 1, -1 */
    memcpy(d2 + 24, "\xc0\x3f\x40\xc0", 4);                    /* bf16 1.5, -3 */
    memcpy(d2 + 28, "\x00\x3c\x01\x00\x00\xfc\xff\x7b", 8);    /* f16 1, 2^-24, -inf, 65504 */
    b = mk(json2, 0, d2, sizeof d2, &len);   /* unpadded: the data is unaligned */
    st = es_st_parse(b, len, "mixed", &e);
    free(b);
    if (!st) fail_msg("%s", e.msg);
    assert_int_equal(es_st_count(st), 5);
    const char *order[] = {"d_f64", "c_f32", "b_bf16", "a_f16", "e_empty"};
    for (size_t i = 0; i < 5; i++) assert_string_equal(es_st_at(st, i)->name, order[i]);
    const es_st_tensor *t = es_st_get(st, "d_f64");
    assert_int_equal(t->ndim, 3);
    assert_true(t->data[0] == 1.5f && isinf(t->data[1]) && t->data[1] < 0);
    t = es_st_get(st, "c_f32");
    assert_true(t->data[0] == 1.0f && t->data[1] == -1.0f);
    t = es_st_get(st, "b_bf16");
    assert_true(t->data[0] == 1.5f && t->data[1] == -3.0f);
    t = es_st_get(st, "a_f16");
    assert_true(t->data[0] == 1.0f && t->data[1] == 0x1p-24f && isinf(t->data[2]) && t->data[2] < 0 &&
                t->data[3] == 65504.0f);
    t = es_st_get(st, "e_empty");
    assert_int_equal(t->shape[0], 0);
    assert_non_null(t->data);
    assert_int_equal(es_st_meta_count(st), 0);
    es_st_free(st);

    /* Accepted variants: null metadata, unknown fields, other trailing
     * whitespace, a 255-byte name, zero-size tensors sharing an offset. */
    char name255[256], json3[1024];
    memset(name255, 'n', 255);
    name255[255] = 0;
    snprintf(json3, sizeof json3,
             "{\"__metadata__\":null,\"%s\":{\"data_offsets\":[0,4],\"shape\":[1],\"dtype\":\"F32\",\"x\":[{}]},"
             "\"z1\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
             "\"z2\":{\"dtype\":\"BF16\",\"shape\":[3,0],\"data_offsets\":[4,4]}} \n\t\r",
             name255);
    b = mk(json3, 1, "\x00\x00\x80\x3f", 4, &len);
    st = es_st_parse(b, len, "variants", &e);
    free(b);
    if (!st) fail_msg("%s", e.msg);
    assert_int_equal(es_st_count(st), 3);
    assert_int_equal(es_st_meta_count(st), 0);
    assert_true(es_st_get(st, name255)->data[0] == 1.0f);
    assert_string_equal(es_st_at(st, 1)->name, "z1");
    es_st_free(st);
}

/* ------------------------------------------------------------ refusals */

/* The bytes must be refused with `st`, naming the file and saying `what`. */
static void expect_bad(const unsigned char *b, size_t len, es_status st, const char *what)
{
    es_error e = {0};
    unsigned char *c = malloc(len ? len : 1);   /* exact size: overruns show */
    assert_non_null(c);
    memcpy(c, b, len);
    es_st *s = es_st_parse(c, len, "bad.safetensors", &e);
    free(c);
    if (s) fail_msg("accepted; expected: %s", what);
    if (e.status != st || !strstr(e.msg, "bad.safetensors") || !strstr(e.msg, what))
        fail_msg("expected status %d and '%s', got %d: %s", st, what, e.status, e.msg);
    if (!strstr(e.msg, "bad.safetensors: not a valid safetensors file: ") && !strstr(e.msg, "bad.safetensors: tensor '"))
        fail_msg("message not in the expected form: %s", e.msg);
    print_message("    %s\n", e.msg);
}

static void expect_bad_json(const char *json, size_t dlen, es_status st, const char *what)
{
    size_t len;
    unsigned char *b = mk(json, 1, NULL, dlen, &len);
    expect_bad(b, len, st, what);
    free(b);
}

static void test_truncations(void **state)
{
    (void)state;
    const float w[6] = {1, 2, 3, 4, 5, 6}, b = 7;
    const es_st_tensor t[] = {{"w", 2, {2, 3}, w}, {"b", 0, {0}, &b}, {"e", 1, {0}, NULL}};
    const char *k[] = {"a", "b"}, *v[] = {"x", "yz"};
    char path[128], bad[128];
    path_in_dir(path, sizeof path, "good.safetensors");
    path_in_dir(bad, sizeof bad, "bad.safetensors");
    assert_int_equal(es_st_write(path, t, 3, k, v, 2, NULL), ES_OK);
    size_t len;
    unsigned char *g = test_read_file(path, &len);
    es_error e = {0};
    es_st *s = es_st_parse(g, len, "good", &e);
    assert_non_null(s);
    es_st_free(s);
    for (size_t n = 0; n < len; n++) {
        unsigned char *c = malloc(n ? n : 1);
        assert_non_null(c);
        memcpy(c, g, n);
        s = es_st_parse(c, n, "bad.safetensors", &e);
        free(c);
        if (s) fail_msg("truncation to %zu of %zu bytes accepted", n, len);
        assert_int_equal(e.status, ES_ERR_FORMAT);
        assert_true(strstr(e.msg, "bad.safetensors: not a valid safetensors file: ") ||
                    strstr(e.msg, "bad.safetensors: tensor '"));
        /* the same through a file */
        write_bytes(bad, g, n);
        assert_null(es_st_load(bad, &e));
        assert_non_null(strstr(e.msg, bad));
    }
    /* One byte too many is refused too. */
    unsigned char *c = malloc(len + 1);
    memcpy(c, g, len);
    c[len] = 0;
    expect_bad(c, len + 1, ES_ERR_FORMAT, "1 bytes after the last tensor");
    free(c);
    free(g);
}

static void test_header_length(void **state)
{
    (void)state;
    unsigned char b[32];
    memset(b, 0, sizeof b);
    expect_bad(b, 0, ES_ERR_FORMAT, "too short");
    expect_bad(b, 7, ES_ERR_FORMAT, "too short");
    expect_bad(b, 8, ES_ERR_FORMAT, "does not start with '{'");   /* N = 0 */
    put_u64(b, 100000001);
    expect_bad(b, 32, ES_ERR_FORMAT, "over the 100000000-byte limit");
    put_u64(b, UINT64_MAX);
    expect_bad(b, 32, ES_ERR_FORMAT, "over the 100000000-byte limit");
    put_u64(b, 25);
    memcpy(b + 8, "{}", 2);
    expect_bad(b, 32, ES_ERR_FORMAT, "header length 25 runs past the end of the file (32 bytes)");
    /* a header length that leaves part of the JSON in the "data" */
    size_t len;
    unsigned char *f = mk("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 0, NULL, 4, &len);
    put_u64(f, 10);
    expect_bad(f, len, ES_ERR_FORMAT, "not valid JSON");
    free(f);
    es_error e = {0};
    assert_null(es_st_parse(NULL, 0, NULL, &e));
    assert_non_null(strstr(e.msg, "<memory>: not a valid safetensors file"));
}

static void test_bad_json(void **state)
{
    (void)state;
    const es_status F = ES_ERR_FORMAT;
    expect_bad_json("[]", 0, F, "does not start with '{'");
    expect_bad_json(" {}", 0, F, "does not start with '{'");
    expect_bad_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4, F, "not valid JSON");
    expect_bad_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, F, "not valid JSON");
    expect_bad_json("{\"a\" {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, F, "not valid JSON");
    expect_bad_json("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4, F, "not valid JSON");
    expect_bad_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, F, "not valid JSON");
    expect_bad_json("{}{}", 0, F, "not valid JSON");
    expect_bad_json("{\"a\":tru}", 0, F, "not valid JSON");
    expect_bad_json("{\"a\":\"\\x\"}", 0, F, "not valid JSON");
    expect_bad_json("{\"a\\ud800\":1}", 0, F, "not valid JSON");   /* lone surrogate escape */
    expect_bad_json("{\"a\":\"\x01\"}", 0, F, "control character inside a string");
    expect_bad_json("{\"a\":\"\t\"}", 0, F, "control character inside a string");
    expect_bad_json("{\x0b}", 0, F, "control character (byte 1");
    expect_bad_json("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, F, "NUL character");
    expect_bad_json("{\"\xff\":{}}", 0, F, "not valid UTF-8 (byte 2");
    expect_bad_json("{\"\xed\xa0\x80\":{}}", 0, F, "not valid UTF-8");   /* a UTF-8 surrogate */
    expect_bad_json("{\"\xc0\xaf\":{}}", 0, F, "not valid UTF-8");       /* overlong '/' */
    expect_bad_json("{\"\xe2\x82\":{}}", 0, F, "not valid UTF-8");       /* cut short */
    /* nesting deeper than cJSON's limit */
    size_t depth = 5000;
    char *deep = malloc(depth * 2 + 32);
    assert_non_null(deep);
    strcpy(deep, "{\"__metadata__\":");
    size_t p = strlen(deep);
    memset(deep + p, '[', depth);
    memset(deep + p + depth, ']', depth);
    strcpy(deep + p + 2 * depth, "}");
    expect_bad_json(deep, 0, F, "not valid JSON");
    free(deep);

    /* Every single-byte corruption of a valid header: refused or, if
     * still valid, a well-formed result; never a crash. */
    const float w[2] = {1, 2};
    const es_st_tensor t[] = {{"w", 1, {2}, w}};
    const char *k[] = {"k"}, *v[] = {"v"};
    char path[128];
    path_in_dir(path, sizeof path, "c.safetensors");
    assert_int_equal(es_st_write(path, t, 1, k, v, 1, NULL), ES_OK);
    size_t len;
    unsigned char *g = test_read_file(path, &len);
    size_t accepted = 0, runs = 0;
    for (size_t i = 8; i < len - 8; i++) {
        static const unsigned char subs[] = {0, ' ', '"', '{', '}', '[', ']', ',', ':', '0', '9', '-', '\\', 0x80, 0xff};
        for (size_t k2 = 0; k2 < sizeof subs; k2++) {
            if (subs[k2] == g[i]) continue;
            unsigned char *c = malloc(len);
            memcpy(c, g, len);
            c[i] = subs[k2];
            es_error e = {0};
            es_st *s = es_st_parse(c, len, "corrupt", &e);
            if (s) {
                accepted++;
                for (size_t j = 0; j < es_st_count(s); j++) assert_non_null(es_st_at(s, j)->data);
            } else {
                assert_non_null(strstr(e.msg, "corrupt: "));
            }
            es_st_free(s);
            free(c);
            runs++;
        }
    }
    print_message("    %zu header corruptions, %zu still valid\n", runs, accepted);
    free(g);
}

static void test_bad_entries(void **state)
{
    (void)state;
    const es_status F = ES_ERR_FORMAT, U = ES_ERR_UNSUPPORTED;
#define T(fields) "{\"a\":{" fields "}}"
    expect_bad_json("{\"a\":[1]}", 0, F, "tensor 'a': not an object");
    expect_bad_json("{\"a\":\"F32\"}", 0, F, "tensor 'a': not an object");
    expect_bad_json(T("\"shape\":[1],\"data_offsets\":[0,4]"), 4, F, "tensor 'a': no dtype");
    expect_bad_json(T("\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]"), 4, F, "tensor 'a': dtype is not a string");
    expect_bad_json(T("\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]"), 8, U,
                    "tensor 'a': dtype 'I64' is not supported (earshot reads F32, F16, BF16 and F64)");
    expect_bad_json(T("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4, U, "dtype 'f32' is not supported");
    expect_bad_json(T("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 4, F, "tensor 'a': no shape");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]"), 4, F, "shape is not an array");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]"), 4, F, "shape is not an array");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4, F, "shape[0] is not a non-negative");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]"), 4, F, "shape[1] is not");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]"), 4, F, "shape[0] is not");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]"), 4, F, "shape[0] is not");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]"), 4, F, "shape[0] is not");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[9007199254740992,0],\"data_offsets\":[0,0]"), 0, F,
                    "shape[0] is not a non-negative integer below 2^53");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]"), 4, U,
                    "tensor 'a': 5 dimensions; earshot supports at most 4");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,0]"), 0, F,
                    "tensor 'a': the number of bytes of its shape overflows");
    expect_bad_json(T("\"dtype\":\"F64\",\"shape\":[9007199254740991,1024],\"data_offsets\":[0,0]"), 0, F,
                    "overflows");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1]"), 4, F, "tensor 'a': no data_offsets");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]"), 4, F, "not an array of two integers");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]"), 4, F, "not an array of two");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0,4\""), 4, F, "not an array of two");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"0\":4}"), 4, F, "not an array of two");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]"), 4, F, "not non-negative integers");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]"), 4, F, "not non-negative integers");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e300]"), 4, F, "not non-negative integers");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]"), 8, F,
                    "tensor 'a': data_offsets [8, 4] end before they begin");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 4, F,
                    "tensor 'a': data_offsets [0, 8] run past the end of the data (4 bytes)");
    expect_bad_json(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), 4, F,
                    "tensor 'a': F32 shape of 2 elements needs 8 bytes, but data_offsets [0, 4] hold 4");
    expect_bad_json(T("\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,4]"), 4, F, "needs 2 bytes");
    expect_bad_json(T("\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4, F,
                    "tensor 'a': field 'dtype' appears twice");
#undef T
    /* names */
    char name[300], json[600];
    memset(name, 'n', 256);
    name[256] = 0;
    snprintf(json, sizeof json, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", name);
    expect_bad_json(json, 4, F, "name is 256 bytes, longer than the 255 allowed");
    expect_bad_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, F, "tensor 'a': appears twice");
    /* metadata */
    expect_bad_json("{\"__metadata__\":{},\"__metadata__\":{}}", 0, F, "__metadata__ appears twice");
    expect_bad_json("{\"__metadata__\":[]}", 0, F, "__metadata__ is not an object");
    expect_bad_json("{\"__metadata__\":\"x\"}", 0, F, "__metadata__ is not an object");
    expect_bad_json("{\"__metadata__\":{\"k\":1}}", 0, F, "__metadata__ value of 'k' is not a string");
    expect_bad_json("{\"__metadata__\":{\"a\":\"b\",\"k\":null}}", 0, F, "__metadata__ value of 'k' is not a string");
    expect_bad_json("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, F, "value of 'k' is not a string");
    expect_bad_json("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, F, "__metadata__ key 'k' appears twice");
}

static void test_bad_layout(void **state)
{
    (void)state;
    const es_status F = ES_ERR_FORMAT;
#define E(n, sh, b, e) "\"" n "\":{\"dtype\":\"F32\",\"shape\":[" sh "],\"data_offsets\":[" #b "," #e "]}"
    expect_bad_json("{" E("a", "2", 0, 8) "," E("b", "2", 4, 12) "}", 12, F,
                    "tensors 'a' [0, 8) and 'b' [4, 12) overlap");
    expect_bad_json("{" E("a", "2", 0, 8) "," E("b", "2", 0, 8) "}", 8, F, "overlap");
    expect_bad_json("{" E("a", "2", 0, 8) "," E("z", "0", 4, 4) "}", 8, F, "tensors 'a' [0, 8) and 'z' [4, 4) overlap");
    expect_bad_json("{" E("b", "1", 8, 12) "," E("a", "1", 0, 4) "}", 12, F,
                    "gap of 4 bytes between tensors 'a' (ends at 4) and 'b' (starts at 8)");
    expect_bad_json("{" E("a", "1", 4, 8) "}", 8, F, "gap: the first tensor, 'a', starts at byte 4, not 0");
    expect_bad_json("{" E("a", "1", 0, 4) "}", 8, F, "4 bytes after the last tensor ('a', ends at 4) belong to no tensor");
    expect_bad_json("{}", 4, F, "4 bytes of data but no tensors");
    expect_bad_json("{\"__metadata__\":{\"k\":\"v\"}}", 8, F, "8 bytes of data but no tensors");
#undef E
}

static void test_load_errors(void **state)
{
    (void)state;
    es_error e = {0};
    char path[128];
    path_in_dir(path, sizeof path, "nope.safetensors");
    assert_null(es_st_load(path, &e));
    assert_int_equal(e.status, ES_ERR_IO);
    assert_non_null(strstr(e.msg, "nope.safetensors"));
    assert_null(es_st_load(dir, &e));
    assert_int_equal(e.status, ES_ERR_IO);
    assert_non_null(strstr(e.msg, "directory"));
    assert_null(es_st_load(NULL, &e));
    assert_int_equal(e.status, ES_ERR_ARG);
    /* NULL handles */
    es_st_free(NULL);
    assert_int_equal(es_st_count(NULL), 0);
    assert_null(es_st_at(NULL, 0));
    assert_null(es_st_get(NULL, "a"));
    assert_null(es_st_meta(NULL, "a"));
    assert_int_equal(es_st_meta_count(NULL), 0);
    assert_null(es_st_meta_key(NULL, 0));
}

/* ----------------------------------------------------------- writing */

static void expect_write_refused(const es_st_tensor *t, size_t n, const char *const *k, const char *const *v,
                                 size_t nm, const char *what)
{
    char path[128];
    path_in_dir(path, sizeof path, "refused.safetensors");
    es_error e = {0};
    int before = count_files();
    assert_int_equal(es_st_write(path, t, n, k, v, nm, &e), ES_ERR_ARG);
    if (!strstr(e.msg, what)) fail_msg("expected '%s', got: %s", what, e.msg);
    assert_int_equal(count_files(), before);
    print_message("    %s\n", e.msg);
}

static void test_write_refusals(void **state)
{
    (void)state;
    float x[4] = {0};
    char name[300];
    memset(name, 'n', 256);
    name[256] = 0;
    const es_st_tensor dup[] = {{"a", 1, {1}, x}, {"b", 1, {1}, x}, {"a", 1, {1}, x}};
    expect_write_refused(dup, 3, NULL, NULL, 0, "tensor 'a': name given twice");
    expect_write_refused((es_st_tensor[]){{name, 1, {1}, x}}, 1, NULL, NULL, 0, "longer than the 255 allowed");
    expect_write_refused((es_st_tensor[]){{"\xff", 1, {1}, x}}, 1, NULL, NULL, 0, "not valid UTF-8");
    expect_write_refused((es_st_tensor[]){{"__metadata__", 1, {1}, x}}, 1, NULL, NULL, 0, "reserved");
    expect_write_refused((es_st_tensor[]){{NULL, 1, {1}, x}}, 1, NULL, NULL, 0, "has no name");
    expect_write_refused((es_st_tensor[]){{"a", 5, {1}, x}}, 1, NULL, NULL, 0, "5 dimensions");
    expect_write_refused((es_st_tensor[]){{"a", -1, {1}, x}}, 1, NULL, NULL, 0, "-1 dimensions");
    expect_write_refused((es_st_tensor[]){{"a", 2, {2, -1}, x}}, 1, NULL, NULL, 0, "dimension 1 is -1");
    expect_write_refused((es_st_tensor[]){{"a", 1, {2}, NULL}}, 1, NULL, NULL, 0, "tensor 'a': no data");
    expect_write_refused((es_st_tensor[]){{"a", 2, {INT64_C(1) << 53, 0}, NULL}}, 1, NULL, NULL, 0,
                         "dimension 0 is 9007199254740992");
    expect_write_refused((es_st_tensor[]){{"a", 3, {INT64_C(1) << 40, INT64_C(1) << 40, 0}, NULL}}, 1, NULL, NULL, 0,
                         "too large");
    const char *k2[] = {"k", "k"}, *v2[] = {"1", "2"};
    expect_write_refused(NULL, 0, k2, v2, 2, "metadata key 'k' given twice");
    const char *k1[] = {"k"}, *vn[] = {NULL}, *vb[] = {"\xc0\x80"};
    expect_write_refused(NULL, 0, k1, vn, 1, "metadata entry 0 is NULL");
    expect_write_refused(NULL, 0, k1, vb, 1, "not valid UTF-8");
    expect_write_refused(NULL, 1, NULL, NULL, 0, "invalid arguments");
    es_error e = {0};
    assert_int_equal(es_st_write(NULL, NULL, 0, NULL, NULL, 0, &e), ES_ERR_ARG);
}

static void test_atomic(void **state)
{
    (void)state;
    float a[3] = {1, 2, 3}, b[2] = {4, 5};
    es_st_tensor ta = {"a", 1, {3}, a}, tb = {"b", 1, {2}, b};
    es_error e = {0};
    int before = count_files();

    /* A missing directory: refused, nothing left anywhere. */
    char path[400];
    snprintf(path, sizeof path, "%s/missing_dir/x.safetensors", dir);
    assert_int_equal(es_st_write(path, &ta, 1, NULL, NULL, 0, &e), ES_ERR_IO);
    assert_non_null(strstr(e.msg, "x.safetensors"));
    assert_int_equal(count_files(), before);

    /* Over an existing file: a refused write leaves it as it was ... */
    path_in_dir(path, sizeof path, "model.safetensors");
    assert_int_equal(es_st_write(path, &ta, 1, NULL, NULL, 0, &e), ES_OK);
    size_t la, l2;
    unsigned char *ba = test_read_file(path, &la), *b2;
    const es_st_tensor dup[2] = {tb, tb};
    assert_int_equal(es_st_write(path, dup, 2, NULL, NULL, 0, &e), ES_ERR_ARG);
    b2 = test_read_file(path, &l2);
    assert_int_equal(l2, la);
    assert_memory_equal(b2, ba, la);
    free(b2);
    /* ... a successful one replaces it, leaving no temporary file. */
    assert_int_equal(es_st_write(path, &tb, 1, NULL, NULL, 0, &e), ES_OK);
    es_st *s = es_st_load(path, &e);
    assert_non_null(s);
    assert_null(es_st_get(s, "a"));
    assert_non_null(es_st_get(s, "b"));
    es_st_free(s);
    assert_int_equal(count_files(), before + 1);
    free(ba);

    /* A write that fails on I/O over an existing file: a 250-byte name
     * exists, but its temporary name would be over NAME_MAX. */
    char longname[251];
    memset(longname, 'L', 250);
    longname[250] = 0;
    path_in_dir(path, sizeof path, longname);
    write_bytes(path, "old", 3);
    assert_int_equal(es_st_write(path, &tb, 1, NULL, NULL, 0, &e), ES_ERR_IO);
    print_message("    %.40s...: %s\n", e.msg, strstr(e.msg, ": ") ? strrchr(e.msg, ':') + 2 : e.msg);
    b2 = test_read_file(path, &l2);
    assert_int_equal(l2, 3);
    assert_memory_equal(b2, "old", 3);
    free(b2);
    assert_int_equal(count_files(), before + 2);
    unlink(path);

    /* The old file's permissions survive the rename; a symbolic link is
     * written through, not replaced; a folder is refused. */
    path_in_dir(path, sizeof path, "model.safetensors");
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(es_st_write(path, &ta, 1, NULL, NULL, 0, &e), ES_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char link[400];
    path_in_dir(link, sizeof link, "link.safetensors");
    assert_int_equal(symlink("model.safetensors", link), 0);
    assert_int_equal(es_st_write(link, &tb, 1, NULL, NULL, 0, &e), ES_OK);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    s = es_st_load(path, &e);
    assert_non_null(s);
    assert_non_null(es_st_get(s, "b"));
    es_st_free(s);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    unlink(link);
    /* a loop of links is refused and stays as it was (it was replaced by
     * a regular file) */
    char loop2[400];
    path_in_dir(loop2, sizeof loop2, "loop2.safetensors");
    assert_int_equal(symlink("loop2.safetensors", link), 0);
    assert_int_equal(symlink("link.safetensors", loop2), 0);
    assert_int_equal(es_st_write(link, &tb, 1, NULL, NULL, 0, &e), ES_ERR_IO);
    assert_non_null(strstr(e.msg, "a loop of symbolic links"));
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    unlink(link);
    unlink(loop2);
    assert_int_equal(es_st_write(dir, &tb, 1, NULL, NULL, 0, &e), ES_ERR_IO);
    assert_non_null(strstr(e.msg, "is a directory"));
    assert_int_equal(count_files(), before + 1);

    /* A kill between create and rename: the signal handler's cleanup
     * unlinks the temporary file of a write under way, and only that. */
    es_atomic at;
    assert_int_equal(es_atomic_begin(&at, path, &e), ES_OK);
    write_bytes(at.tmp, "half", 4);
    assert_int_equal(count_files(), before + 2);
    es_atomic_cleanup_signal();
    assert_int_equal(access(at.tmp, F_OK), -1);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(count_files(), before + 1);
    es_atomic_abort(&at);
    /* a finished write is no longer registered */
    assert_int_equal(es_st_write(path, &ta, 1, NULL, NULL, 0, &e), ES_OK);
    es_atomic_cleanup_signal();
    assert_int_equal(access(path, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),     cmocka_unit_test(test_layout),
        cmocka_unit_test(test_python_style),  cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_header_length), cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_entries),   cmocka_unit_test(test_bad_layout),
        cmocka_unit_test(test_load_errors),   cmocka_unit_test(test_write_refusals),
        cmocka_unit_test(test_atomic),
    };
    return cmocka_run_group_tests_name("safetensors", tests, setup, teardown);
}
