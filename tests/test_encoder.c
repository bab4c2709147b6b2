/* Encoder: the three modes (windows, whole utterance, streaming in any
 * chunking) agree to 1e-4; counts; refusal of other models. */
#include "test_util.h"

#include <math.h>
#include <string.h>

static es_onnx *model;
static es_encoder *enc;

static int setup(void **state)
{
    (void)state;
    model = test_model("embedding_model");
    es_error e = {0};
    enc = es_encoder_create(model, &e);
    if (!enc) fprintf(stderr, "%s\n", e.msg);
    return enc ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    es_encoder_free(enc);
    es_onnx_free(model);
    return 0;
}

static float maxdiff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static void test_count(void **state)
{
    (void)state;
    assert_int_equal(es_encoder_count(75), 0);
    assert_int_equal(es_encoder_count(76), 1);
    assert_int_equal(es_encoder_count(83), 1);
    assert_int_equal(es_encoder_count(84), 2);
    assert_int_equal(es_encoder_count(1000), 116);
}

static void test_modes_agree(void **state)
{
    (void)state;
    enum { FR = 700 };
    size_t n = es_encoder_count(FR);
    float *mel = malloc(FR * 32 * sizeof(float));
    uint32_t s = 3;
    /* values in the range the front end produces (about -8 .. 8) */
    for (int i = 0; i < FR * 32; i++) mel[i] = (test_rand(&s) - 0.5f) * 6.0f + 1.0f * sinf((float)i / 300.0f);
    float *win = malloc(n * 76 * 32 * sizeof(float));
    for (size_t i = 0; i < n; i++) memcpy(win + i * 76 * 32, mel + i * 8 * 32, 76 * 32 * sizeof(float));
    float *a = malloc(n * 96 * sizeof(float)), *b = malloc(n * 96 * sizeof(float)), *c = malloc((n + 2) * 96 * sizeof(float));
    assert_int_equal(es_encoder_windows(enc, win, n, a, NULL), ES_OK);
    assert_int_equal(es_encoder_full(enc, mel, FR, b, NULL), ES_OK);
    assert_true(maxdiff(a, b, n * 96) <= 1e-4f);
    /* embeddings are not trivially equal to each other */
    assert_true(maxdiff(a, a + 96, 96) > 1e-3f);
    static const size_t chunks[] = {1, 3, 8, 77, 256, 300, FR};
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        es_encoder_stream *st = es_encoder_stream_create(enc, NULL);
        size_t got = 0, g;
        for (size_t p = 0; p < FR; p += chunks[k]) {
            size_t m = FR - p < chunks[k] ? FR - p : chunks[k];
            assert_int_equal(es_encoder_stream_push(st, mel + p * 32, m, c + got * 96, &g, NULL), ES_OK);
            got += g;
        }
        assert_int_equal(got, n);
        float d = maxdiff(a, c, n * 96);
        if (d > 1e-4f) fail_msg("stream chunk %zu differs by %g", chunks[k], d);
        /* reset starts a fresh utterance */
        es_encoder_stream_reset(st);
        assert_int_equal(es_encoder_stream_push(st, mel, 76, c, &g, NULL), ES_OK);
        assert_int_equal(g, 1);
        assert_true(maxdiff(a, c, 96) <= 1e-4f);
        es_encoder_stream_free(st);
    }
    free(mel); free(win); free(a); free(b); free(c);
}

static void test_batch_sizes(void **state)
{
    (void)state;
    /* the same window gives the same vector alone or inside a batch of 37 */
    enum { B = 37 };
    float *win = malloc(B * 76 * 32 * sizeof(float)), one[96], *all = malloc(B * 96 * sizeof(float));
    uint32_t s = 11;
    for (int i = 0; i < B * 76 * 32; i++) win[i] = (test_rand(&s) - 0.5f) * 8.0f;
    assert_int_equal(es_encoder_windows(enc, win, B, all, NULL), ES_OK);
    for (int w = 0; w < B; w += 9) {
        assert_int_equal(es_encoder_windows(enc, win + w * 76 * 32, 1, one, NULL), ES_OK);
        assert_true(maxdiff(one, all + w * 96, 96) <= 1e-4f);
    }
    free(win); free(all);
}

static void test_short_and_bad(void **state)
{
    (void)state;
    float mel[75 * 32] = {0}, out[96];
    assert_int_equal(es_encoder_full(enc, mel, 75, out, NULL), ES_OK);   /* too short: nothing */
    es_error e = {0};
    assert_int_not_equal(es_encoder_windows(NULL, mel, 1, out, &e), ES_OK);
    const char *others[] = {"melspectrogram", "alexa"};
    for (int i = 0; i < 2; i++) {
        es_onnx *m = test_model(others[i]);
        assert_null(es_encoder_create(m, &e));
        assert_int_equal(e.status, ES_ERR_MODEL);
        es_onnx_free(m);
    }
}

int main(void)
{
    test_require_models();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count), cmocka_unit_test(test_modes_agree), cmocka_unit_test(test_batch_sizes),
        cmocka_unit_test(test_short_and_bad),
    };
    return cmocka_run_group_tests_name("encoder", tests, setup, teardown);
}
