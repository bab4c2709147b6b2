/* es_selfadapt: the offset is sum_i (x_i - m_{c_i}) / (n + prior) over the
 * decisions observed; word classes only (not _unknown_, _silence_, a label
 * with no mean, or a wake-word model's other class); apply subtracts it;
 * reset forgets. Models without class means are refused, and class means
 * of the wrong shape or with a stray NaN or infinity make the model file
 * itself refused. The models are
 * written here (a linear head over 2 embeddings), so no data is needed. */
#include "test_util.h"
#include "../pipeline/adapt.h"
#include "../pipeline/classifier.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#define D ES_EMB_DIM
static char dir[] = "/tmp/es_selfadapt_XXXXXX";

/* a model file of `K` labels, a linear head over 2 embeddings, and class
 * means [means_rows][96] when means != NULL */
static void write_model(const char *path, const char *labels_json, int K, const float *means, int means_rows,
                        const char *wake)
{
    es_mlp_cfg cfg = {.window = 2, .dim = D, .pool = ES_POOL_MEAN, .n_hidden = 0, .n_classes = K};
    es_error e = {0};
    es_mlp *m = es_mlp_create(&cfg, 1, &e);
    assert_non_null(m);
    float *p = es_mlp_params(m, NULL);
    es_st_tensor t[8];
    char names[8][96];
    int n = 0;
    for (int i = 0; i < es_mlp_ntensors(m); i++, n++) {
        const es_param_info *pi = es_mlp_tensor(m, i);
        es_classifier_head_tensor_name(names[n], sizeof names[n], 0, pi->name);
        t[n] = (es_st_tensor){.name = names[n], .ndim = pi->ndim, .data = p + pi->offset};
        for (int k = 0; k < pi->ndim; k++) t[n].shape[k] = pi->shape[k];
    }
    if (means) t[n++] = (es_st_tensor){.name = ES_CLASS_MEANS, .ndim = 2, .shape = {means_rows, D}, .data = (float *)means};
    const char *keys[] = {"earshot.format", "labels", "architecture", "encoder_sha256", "mode", "wake_word", "thresholds"};
    char thr[128];
    snprintf(thr, sizeof thr, "{\"%s\": 0.5}", wake ? wake : "x");
    const char *vals[] = {"earshot-head-1", labels_json,
                          "{\"window\": 2, \"dim\": 96, \"pooling\": \"mean\", \"hidden\": [], \"pad_to\": 2.0}",
                          "0123456789012345678901234567890123456789012345678901234567890123", "wake-word", wake, thr};
    assert_int_equal(es_st_write(path, t, (size_t)n, keys, vals, wake ? 7 : 4, &e), ES_OK);
    es_mlp_free(m);
}

static void fill(float *x, size_t n, float v) { for (size_t i = 0; i < n; i++) x[i] = v; }

static void test_offset_arithmetic(void **state)
{
    (void)state;
    float means[4 * D];
    fill(means, D, 1);                 /* a */
    fill(means + D, D, -1);            /* b */
    fill(means + 2 * D, D, 0);         /* _unknown_ */
    fill(means + 3 * D, D, NAN);       /* _silence_: no clip */
    char path[64];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    write_model(path, "[\"a\", \"b\", \"_unknown_\", \"_silence_\"]", 4, means, 4, NULL);
    es_error e = {0};
    es_classifier *c = es_classifier_load(path, &e);
    assert_non_null(c);
    es_selfadapt *a = es_selfadapt_create(c, 2, &e);
    assert_non_null(a);
    assert_int_equal(es_selfadapt_count(a), 0);
    float w[2 * D], x[2 * D];
    fill(x, 2 * D, 5);
    es_selfadapt_apply(a, x, 2);                       /* nothing learnt: unchanged */
    for (int j = 0; j < 2 * D; j++) assert_true(x[j] == 5);
    /* a: rows 1.5 and 2.5, mean 2, one above a's mean: 1 / (1 + 2) */
    fill(w, D, 1.5f);
    fill(w + D, D, 2.5f);
    es_selfadapt_observe(a, w, 2, 0);
    assert_int_equal(es_selfadapt_count(a), 1);
    for (int j = 0; j < D; j++) assert_true(fabsf(es_selfadapt_offset(a)[j] - 1.0f / 3) < 1e-6f);
    /* b at 0, one above b's mean -1: (1 + 1) / (2 + 2) */
    fill(w, 2 * D, 0);
    es_selfadapt_observe(a, w, 2, 1);
    for (int j = 0; j < D; j++) assert_true(fabsf(es_selfadapt_offset(a)[j] - 0.5f) < 1e-6f);
    /* not observed: _unknown_, _silence_ (no mean), a label out of range */
    fill(w, 2 * D, 9);
    es_selfadapt_observe(a, w, 2, 2);
    es_selfadapt_observe(a, w, 2, 3);
    es_selfadapt_observe(a, w, 2, 4);
    assert_int_equal(es_selfadapt_count(a), 2);
    for (int j = 0; j < D; j++) assert_true(fabsf(es_selfadapt_offset(a)[j] - 0.5f) < 1e-6f);
    fill(x, 2 * D, 5);
    es_selfadapt_apply(a, x, 2);
    for (int j = 0; j < 2 * D; j++) assert_true(fabsf(x[j] - 4.5f) < 1e-6f);
    /* one dimension apart: the offset is per dimension */
    fill(w, 2 * D, 1);
    w[7] = w[D + 7] = 3;
    es_selfadapt_observe(a, w, 2, 0);
    assert_true(fabsf(es_selfadapt_offset(a)[0] - 2.0f / 5) < 1e-6f);
    assert_true(fabsf(es_selfadapt_offset(a)[7] - 4.0f / 5) < 1e-6f);
    es_selfadapt_reset(a);
    assert_int_equal(es_selfadapt_count(a), 0);
    for (int j = 0; j < D; j++) assert_true(es_selfadapt_offset(a)[j] == 0);
    es_selfadapt_free(a);
    /* prior 0: one observation is the whole offset; a negative prior is the default (2) */
    a = es_selfadapt_create(c, 0, &e);
    fill(w, 2 * D, -0.25f);
    es_selfadapt_observe(a, w, 2, 1);
    for (int j = 0; j < D; j++) assert_true(fabsf(es_selfadapt_offset(a)[j] - 0.75f) < 1e-6f);
    es_selfadapt_free(a);
    a = es_selfadapt_create(c, -1, &e);
    es_selfadapt_observe(a, w, 2, 1);
    for (int j = 0; j < D; j++) assert_true(fabsf(es_selfadapt_offset(a)[j] - 0.25f) < 1e-6f);
    es_selfadapt_free(a);
    es_classifier_free(c);
    /* NULLs are harmless */
    es_selfadapt_free(NULL);
    es_selfadapt_reset(NULL);
    es_selfadapt_apply(NULL, x, 2);
    es_selfadapt_observe(NULL, w, 2, 0);
    assert_int_equal(es_selfadapt_count(NULL), 0);
    assert_null(es_selfadapt_create(NULL, 2, &e));
    assert_int_equal(e.status, ES_ERR_ARG);
}

static void test_wake_word_observes_the_wake_word_only(void **state)
{
    (void)state;
    float means[2 * D];
    fill(means, 2 * D, 0);
    char path[64];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    write_model(path, "[\"hey\", \"other\"]", 2, means, 2, "hey");
    es_error e = {0};
    es_classifier *c = es_classifier_load(path, &e);
    assert_non_null(c);
    assert_int_equal(es_classifier_wake(c), 0);
    es_selfadapt *a = es_selfadapt_create(c, 0, &e);
    assert_non_null(a);
    float w[2 * D];
    fill(w, 2 * D, 1);
    es_selfadapt_observe(a, w, 2, 1);
    assert_int_equal(es_selfadapt_count(a), 0);
    es_selfadapt_observe(a, w, 2, 0);
    assert_int_equal(es_selfadapt_count(a), 1);
    assert_true(fabsf(es_selfadapt_offset(a)[5] - 1) < 1e-6f);
    es_selfadapt_free(a);
    es_classifier_free(c);
}

static void test_refusals(void **state)
{
    (void)state;
    char path[64];
    es_error e = {0};
    /* no class means (an older model): refused, saying what to do */
    snprintf(path, sizeof path, "%s/old.safetensors", dir);
    write_model(path, "[\"a\", \"b\"]", 2, NULL, 0, NULL);
    es_classifier *c = es_classifier_load(path, &e);
    assert_non_null(c);
    assert_null(es_selfadapt_create(c, 2, &e));
    assert_int_equal(e.status, ES_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "train it again"));
    es_classifier_free(c);
    /* means of the wrong shape: the file is refused, named */
    float means[3 * D];
    fill(means, 3 * D, 0);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    write_model(path, "[\"a\", \"b\"]", 2, means, 3, NULL);
    assert_null(es_classifier_load(path, &e));
    assert_int_equal(e.status, ES_ERR_MODEL);
    assert_non_null(strstr(e.msg, "bad.safetensors"));
    assert_non_null(strstr(e.msg, ES_CLASS_MEANS));
    /* a row with one NaN or infinity among finite values: refused too (a
     * whole row of NaN is a label without clips, and is fine) */
    for (int bad = 0; bad < 2; bad++) {
        fill(means, 2 * D, 0.5f);
        means[D + 40] = bad ? INFINITY : NAN;
        write_model(path, "[\"a\", \"b\"]", 2, means, 2, NULL);
        assert_null(es_classifier_load(path, &e));
        assert_int_equal(e.status, ES_ERR_MODEL);
        assert_non_null(strstr(e.msg, "neither all finite nor all NaN"));
    }
    fill(means + D, D, NAN);
    write_model(path, "[\"a\", \"b\"]", 2, means, 2, NULL);
    es_classifier *ok = es_classifier_load(path, &e);
    assert_non_null(ok);
    es_classifier_free(ok);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offset_arithmetic),
        cmocka_unit_test(test_wake_word_observes_the_wake_word_only),
        cmocka_unit_test(test_refusals),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) r = r ? r : 1;
    return r;
}
