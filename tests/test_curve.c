/* The learning curve's classifier over pooled features (pipeline/feat.c):
 * the cosine class-mean prototypes, the trained head, test-time averaging
 * over offsets, z-scoring and the ensemble, on small synthetic vectors
 * whose answers are known. (No new backward pass: the head is es_mlp,
 * whose gradients test_nn checks.) The end-to-end curve is test_curve.sh. */
#include "test_util.h"
#include "../pipeline/feat.h"

#include <math.h>
#include <string.h>

enum { K = 3, P = 6, PER = 4, N = K * PER };

/* N items, PER per class, class c near the unit vector e_c (+ noise),
 * labels in a fake dataset (es_feat_fit reads items[].label and nlabels) */
static es_item items[N];
static char *labels[K] = {"a", "b", "c"};
static es_dataset ds = {.labels = labels, .nlabels = K, .items = items, .nitems = N};

static void make(float *x, size_t S, unsigned seed)
{
    srand(seed);
    for (size_t s = 0; s < S; s++)
        for (int i = 0; i < N; i++) {
            items[i].label = i % K;
            for (int k = 0; k < P; k++) {
                float noise = ((float)rand() / (float)RAND_MAX - 0.5f) * 0.3f;
                x[(s * N + (size_t)i) * P + (size_t)k] = (k == i % K ? 1.0f : 0.0f) + noise;
            }
        }
}

static es_train_opts opts(void)
{
    es_train_opts o;
    es_train_opts_default(&o);
    o.hidden = 0;
    o.dropout = 0;
    o.min_steps = 300;
    o.lr = 1e-2f;   /* a few hundred steps reach a separable fit */
    return o;
}

static void test_prototypes(void **state)
{
    (void)state;
    float x[2 * N * P];
    make(x, 2, 1);
    es_feat *f = es_feat_from_rows(x, 2, N, P, NULL);
    assert_non_null(f);
    assert_int_equal(es_feat_dim(f), P);
    assert_int_equal(es_feat_shifts(f), 2);
    assert_memory_equal(es_feat_row(f, 1, 5), x + (N + 5) * P, P * sizeof(float));
    es_train_opts o = opts();
    o.proto = 1;   /* prototypes only: no head is trained */
    size_t train[K] = {0, 1, 2}, test[N - K];
    for (int i = K; i < N; i++) test[i - K] = (size_t)i;
    es_feat_model *m = NULL;
    assert_int_equal(es_feat_fit(f, train, K, &ds, &o, 1, &m, NULL), ES_OK);
    int pred[N - K];
    float probs[(N - K) * K];
    assert_int_equal(es_feat_predict(m, f, test, N - K, pred, probs, NULL), ES_OK);
    for (int i = 0; i < N - K; i++) {
        assert_int_equal(pred[i], items[test[i]].label);
        float sum = 0;
        for (int c = 0; c < K; c++) sum += probs[i * K + c];
        assert_float_equal(sum, 1.0f, 1e-5f);
    }
    /* the probabilities are the mean over the two offsets of
     * softmax(T * cos(x, unit class mean)), class means over both offsets */
    float mu[K][P] = {{0}};
    for (int s = 0; s < 2; s++)
        for (int c = 0; c < K; c++)
            for (int k = 0; k < P; k++) mu[c][k] += x[(s * N + c) * P + k];
    for (int c = 0; c < K; c++) {
        double q = 0;
        for (int k = 0; k < P; k++) q += mu[c][k] * mu[c][k];
        for (int k = 0; k < P; k++) mu[c][k] /= (float)sqrt(q);
    }
    size_t item = test[4];
    double want[K] = {0};
    for (int s = 0; s < 2; s++) {
        const float *r = x + (s * N + item) * P;
        double q = 0, z[K], zs = 0;
        for (int k = 0; k < P; k++) q += r[k] * r[k];
        for (int c = 0; c < K; c++) {
            double d = 0;
            for (int k = 0; k < P; k++) d += r[k] * mu[c][k];
            z[c] = exp(10.0 * d / sqrt(q));
            zs += z[c];
        }
        for (int c = 0; c < K; c++) want[c] += z[c] / zs / 2;
    }
    for (int c = 0; c < K; c++) assert_float_equal(probs[4 * K + c], (float)want[c], 1e-4f);
    es_feat_model_free(m);
    es_feat_free(f);
}

static void test_head_and_ensemble(void **state)
{
    (void)state;
    float x[N * P];
    make(x, 1, 2);
    es_feat *f = es_feat_from_rows(x, 1, N, P, NULL);
    size_t train[2 * K] = {0, 1, 2, 3, 4, 5}, test[N - 2 * K];
    for (int i = 2 * K; i < N; i++) test[i - 2 * K] = (size_t)i;
    for (int ens = 1; ens <= 2; ens++)
        for (int hidden = 0; hidden <= 16; hidden += 16) {
            es_train_opts o = opts();
            o.ensemble = ens;
            o.hidden = hidden;
            es_feat_model *m = NULL;
            es_error e = {0};
            if (es_feat_fit(f, train, 2 * K, &ds, &o, 3, &m, &e)) fail_msg("%s", e.msg);
            int pred[N - 2 * K];
            assert_int_equal(es_feat_predict(m, f, test, N - 2 * K, pred, NULL, NULL), ES_OK);
            for (int i = 0; i < N - 2 * K; i++) assert_int_equal(pred[i], items[test[i]].label);
            es_feat_model_free(m);
        }
    /* a mix of head and prototypes is a valid distribution too */
    es_train_opts o = opts();
    o.proto = 0.5f;
    es_feat_model *m = NULL;
    assert_int_equal(es_feat_fit(f, train, 2 * K, &ds, &o, 3, &m, NULL), ES_OK);
    int pred[N - 2 * K];
    float probs[(N - 2 * K) * K];
    assert_int_equal(es_feat_predict(m, f, test, N - 2 * K, pred, probs, NULL), ES_OK);
    for (int i = 0; i < N - 2 * K; i++) {
        float sum = probs[i * K] + probs[i * K + 1] + probs[i * K + 2];
        assert_float_equal(sum, 1.0f, 1e-5f);
        assert_int_equal(pred[i], items[test[i]].label);
    }
    es_feat_model_free(m);
    /* bad settings are refused, not crashed on */
    o = opts();
    o.ensemble = 99;
    assert_int_equal(es_feat_fit(f, train, 2 * K, &ds, &o, 3, &m, NULL), ES_ERR_ARG);
    o = opts();
    assert_int_equal(es_feat_fit(f, train, 0, &ds, &o, 3, &m, NULL), ES_ERR_ARG);
    es_feat_free(f);
}

/* z-scoring learns per-dimension statistics from the training rows, so
 * rescaling and offsetting one dimension of every vector changes nothing */
static void test_zscore_invariance(void **state)
{
    (void)state;
    float x[N * P], y[N * P];
    make(x, 1, 4);
    memcpy(y, x, sizeof x);
    for (int i = 0; i < N; i++) y[i * P + 4] = y[i * P + 4] * 100.0f + 1000.0f;
    size_t train[2 * K] = {0, 1, 2, 3, 4, 5}, test[N];
    for (int i = 0; i < N; i++) test[i] = (size_t)i;
    float pa[N * K], pb[N * K];
    int pred[N];
    for (int pass = 0; pass < 2; pass++) {
        es_feat *f = es_feat_from_rows(pass ? y : x, 1, N, P, NULL);
        es_train_opts o = opts();
        o.norm = "z";
        o.proto = 1;
        es_feat_model *m = NULL;
        assert_int_equal(es_feat_fit(f, train, 2 * K, &ds, &o, 5, &m, NULL), ES_OK);
        assert_int_equal(es_feat_predict(m, f, test, N, pred, pass ? pb : pa, NULL), ES_OK);
        es_feat_model_free(m);
        es_feat_free(f);
    }
    /* the sd floor (1e-2 added to the variance) makes it near, not exact */
    for (int i = 0; i < N * K; i++) assert_float_equal(pa[i], pb[i], 2e-2f);
}

/* --shifts auto (es_shifts_auto): a run whose largest label has more than
 * ES_SHIFTS_AUTO_MAX_CLIPS clips trains and predicts on offset 0 alone,
 * one with fewer on every offset. Offset 0 here carries each item's class
 * vector and offset 1 the next class's, so every offset counts where the
 * two disagree and only offset 0 where the rule drops the other. */
enum {
    PER2 = ES_SHIFTS_AUTO_MAX_CLIPS + 1, N2 = K * PER2,         /* the offsets' and speed copies' limit + 1 */
    PER3 = ES_FRONTEND_COPY_AUTO_MAX_CLIPS + 1, N3 = K * PER3   /* the front-end copy's */
};
static es_item items2[N3];
static es_dataset ds2 = {.labels = labels, .nlabels = K, .items = items2, .nitems = N2},
                  ds3 = {.labels = labels, .nlabels = K, .items = items2, .nitems = N3};

/* x[2][n][P]: variant 0 of item i is its class's one-hot vector plus
 * noise, variant 1 the next class's; items2 labelled in turn. */
static void two_variants(float *x, int n, unsigned seed)
{
    srand(seed);
    for (size_t s = 0; s < 2; s++)
        for (int i = 0; i < n; i++) {
            items2[i].label = i % K;
            for (int k = 0; k < P; k++) {
                float noise = ((float)rand() / (float)RAND_MAX - 0.5f) * 0.3f;
                x[(s * (size_t)n + (size_t)i) * P + (size_t)k] = (k == (i + (int)s) % K ? 1.0f : 0.0f) + noise;
            }
        }
}

static void test_auto_shifts(void **state)
{
    (void)state;
    static float x[2 * N2 * P];
    two_variants(x, N2, 6);
    es_feat *f = es_feat_from_rows(x, 2, N2, P, NULL);
    assert_non_null(f);
    es_feat_set_auto_shifts(f, 1);   /* 2 offsets x 1 position */
    size_t idx[N2], test[K];
    for (int i = 0; i < N2; i++) idx[i] = (size_t)i;
    for (int c = 0; c < K; c++) test[c] = (size_t)c;
    double pcorrect[2];
    for (int many = 0; many < 2; many++) {
        es_train_opts o = opts();
        o.augment = 0;
        o.shifts = -1;
        /* PER2 - 1 = 50 clips per label keeps both offsets, PER2 = 51 only offset 0 */
        size_t n = many ? (size_t)N2 : (size_t)N2 - K;
        es_feat_model *m = NULL;
        es_error e = {0};
        if (es_feat_fit(f, idx, n, &ds2, &o, 7, &m, &e)) fail_msg("%s", e.msg);
        int pred[K];
        float probs[K * K];
        assert_int_equal(es_feat_predict(m, f, test, K, pred, probs, NULL), ES_OK);
        pcorrect[many] = 0;
        for (int c = 0; c < K; c++) {
            assert_int_equal(pred[c], c);
            pcorrect[many] += probs[c * K + c] / K;
        }
        es_feat_model_free(m);
    }
    print_message("  p(correct): both offsets %.3f, offset 0 alone %.3f\n", pcorrect[0], pcorrect[1]);
    /* offset 0 alone: nothing contradicts it (0.74 here; the short,
     * weight-decayed fit is not saturated); both: the second offset pulls
     * half the probability toward another class (0.42) */
    assert_true(pcorrect[1] > 0.6);
    assert_true(pcorrect[0] < 0.5);
    es_feat_free(f);
}

/* Copies of a clip: training rows always. A perturbed copy (speed_perturb
 * / warp_perturb) is averaged in prediction with perturb_test, the other
 * front end's copy (frontend_copy) always: a clip's probabilities are then
 * the mean of its own variants' and each copy's, the copy weighted like
 * the clip (here the clip has 2 offsets and 1 copy: 1/4, 1/4 and 1/2);
 * else the copies are not looked at. Checked against the same model's
 * predictions on the rows alone. */
static void test_perturb_test(void **state)
{
    (void)state;
    float x[3 * N * P];
    make(x, 3, 8);
    size_t train[2 * K] = {0, 1, 2, 3, 4, 5}, test[N - 2 * K];
    for (int i = 0; i < N - 2 * K; i++) test[i] = (size_t)(2 * K + i);
    /* case 0, 1: a perturbed copy without and with perturb_test; case 2:
     * an always-averaged copy (the other front end's) without it */
    for (int cs = 0; cs < 3; cs++) {
        int pt = cs == 1, avg = cs >= 1;
        es_feat *f = es_feat_from_rows(x, 3, N, P, NULL);
        assert_non_null(f);
        es_feat_set_auto_shifts(f, 1);   /* variants are offsets of 1 position */
        es_feat_set_copies(f, cs == 2, cs < 2);   /* the last is a copy: 2 offsets + 1 copy */
        es_train_opts o = opts();
        o.augment = 0;
        o.shifts = -1;                   /* 2 clips per label keep every offset */
        o.perturb_test = pt;
        es_feat_model *m = NULL;
        assert_int_equal(es_feat_fit(f, train, 2 * K, &ds, &o, 9, &m, NULL), ES_OK);
        enum { NT = N - 2 * K };
        int pred[NT];
        float probs[NT * K], ps[3][NT * K];
        assert_int_equal(es_feat_predict(m, f, test, NT, pred, probs, NULL), ES_OK);
        for (int s = 0; s < 3; s++) {
            es_feat *g = es_feat_from_rows(x + (size_t)s * N * P, 1, N, P, NULL);
            assert_int_equal(es_feat_predict(m, g, test, NT, pred, ps[s], NULL), ES_OK);
            es_feat_free(g);
        }
        for (int i = 0; i < NT * K; i++) {
            float want = avg ? 0.25f * ps[0][i] + 0.25f * ps[1][i] + 0.5f * ps[2][i] : 0.5f * ps[0][i] + 0.5f * ps[1][i];
            assert_float_equal(probs[i], want, 1e-5f);
        }
        /* and the copy is not the clip: the weights are visible */
        int differ = 0;
        for (int i = 0; i < NT * K; i++) differ |= fabsf(ps[2][i] - ps[0][i]) > 1e-4f;
        assert_true(differ);
        es_feat_model_free(m);
        es_feat_free(f);
    }
}

/* --frontend-copy auto / --speed-perturb auto (es_frontend_copy_auto,
 * es_speed_perturb_auto): the copies are kept, in training and in
 * prediction, while no label has more than ES_FRONTEND_COPY_AUTO_MAX_CLIPS
 * clips (the front-end copy) or ES_COPIES_AUTO_MAX_CLIPS (the speed
 * copies), and dropped above; explicit copies stay. The clip (variant 0) carries
 * each item's class vector and its copy (variant 1) the next class's, so a
 * kept copy pulls probability away from the right class and a dropped one
 * does not. The speed copy is averaged in prediction without perturb_test:
 * auto averages it. */
static void test_auto_copies(void **state)
{
    (void)state;
    static float x[2 * N3 * P];
    static size_t idx[N3];
    size_t test[K];
    for (int i = 0; i < N3; i++) idx[i] = (size_t)i;
    for (int c = 0; c < K; c++) test[c] = (size_t)c;
    /* kind 0: the other front end's copy, 1: a speed copy; auto 0 / 1 */
    for (int kind = 0; kind < 2; kind++)
        for (int aut = 0; aut < 2; aut++)
            for (int many = 0; many < 2; many++) {
                /* the kind's limit + 1 clips per label, or the limit */
                int per = kind == 0 ? PER3 : PER2, nn = K * per;
                two_variants(x, nn, 11);
                es_feat *f = es_feat_from_rows(x, 2, (size_t)nn, P, NULL);
                assert_non_null(f);
                es_feat_set_auto_shifts(f, 1);
                es_feat_set_copies(f, kind == 0, kind == 1);   /* 1 offset + 1 copy */
                if (aut) es_feat_set_auto_copies(f, kind == 0, kind == 1);
                es_train_opts o = opts();
                o.augment = 0;
                o.shifts = -1;
                o.perturb_test = kind == 1 && !aut;   /* explicit speed copies averaged in as asked */
                size_t n = many ? (size_t)nn : (size_t)nn - K;
                es_feat_model *m = NULL;
                es_error e = {0};
                if (es_feat_fit(f, idx, n, kind == 0 ? &ds3 : &ds2, &o, 7, &m, &e)) fail_msg("%s", e.msg);
                int pred[K];
                float probs[K * K];
                assert_int_equal(es_feat_predict(m, f, test, K, pred, probs, NULL), ES_OK);
                double pc = 0;
                for (int c = 0; c < K; c++) pc += probs[c * K + c] / K;
                print_message("  %s copy, %s, %d clips per label: p(correct) %.3f\n", kind ? "speed" : "front-end",
                              aut ? "auto" : "explicit", many ? per : per - 1, pc);
                /* dropped only by auto above the limit (0.80 with the clip
                 * alone; 0.49 with the contradicting copy, weighted like it) */
                if (aut && many) {
                    assert_true(pc > 0.7);
                    for (int c = 0; c < K; c++) assert_int_equal(pred[c], c);
                } else {
                    assert_true(pc < 0.55);
                }
                es_feat_model_free(m);
                es_feat_free(f);
            }
    /* the limits the sizes above straddle */
    assert_true(ES_COPIES_AUTO_MAX_CLIPS == PER2 - 1 && ES_FRONTEND_COPY_AUTO_MAX_CLIPS == PER3 - 1);
}

/* es_wilson_interval against values worked out by hand from the formula
 * (and matching statsmodels' proportion_confint(method="wilson")). */
/* a NULL result is refused with ES_ERR_ARG (it was cleared through the
 * NULL pointer before the arguments were checked) */
static void test_curve_needs_result(void **state)
{
    (void)state;
    es_curve_opts o;
    es_curve_opts_default(&o);
    es_error e = {0};
    assert_int_equal(es_learning_curve(NULL, &o, NULL, NULL, NULL, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "es_learning_curve"));
}

/* a NULL entry among the explicit splits is refused before any work (it
 * was read as a string, a crash, once the dataset was scanned) */
static void test_curve_null_split(void **state)
{
    (void)state;
    es_error e = {0};
    es_engine *eng = es_engine_create(NULL, &e);
    if (!eng) skip();   /* the pretrained models are not fetched */
    es_curve_opts o;
    es_curve_opts_default(&o);
    const char *splits[] = {"a,b", NULL};
    o.train.data_dir = "/proc/no_such_dataset";
    o.test_speakers = splits;
    o.n_test_speakers = 2;
    es_curve_result r;
    assert_int_equal(es_learning_curve(eng, &o, &r, NULL, NULL, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "test_speakers[1]"));
    es_curve_result_free(&r);
    es_engine_free(eng);
}

/* Every shared setting out of range is refused by es_train_head and by the
 * learning curve before any work, naming the field: a library caller's
 * epochs 0, negative validation share or NaN used to train without a word;
 * in the curve a window of 0 was reported as "training example 0: value 0
 * is not finite", a negative one became a size near 2^64 to allocate, and
 * mixup 5 or smoothing 2 (negative targets) trained without a word.
 * The data folder does not exist, so a refusal for any other reason would
 * be an I/O error, which the defaults give (the control). */
static void test_train_settings(void **state)
{
    (void)state;
    es_error e = {0};
    es_engine *eng = es_engine_create(NULL, &e);
    if (!eng) skip();   /* the pretrained models are not fetched */
    static const struct { const char *field; int which; double v; } bad[] = {
        {"val_fraction", 0, -0.1}, {"val_fraction", 0, NAN}, {"val_fraction", 0, 0.95}, {"pad_to", 1, -1},
        {"hidden", 2, -1},         {"dropout", 3, 1.5},      {"epochs", 4, 0},          {"epochs", 4, -1},
        {"batch", 5, 0},           {"patience", 6, -1},      {"min_steps", 7, -1},      {"lr", 8, 0},
        {"lr", 8, NAN},            {"weight_decay", 9, -1},  {"shots", 10, -1},         {"augment", 11, -5},
        {"aug_p", 12, 2},          {"aug_snr", 13, 50},      {"aug_gain", 14, 99},      {"aug_speed", 15, 0.1},
        {"aug_shift_ms", 16, -1},  {"target_fa", 17, -1},    {"target_fa", 17, NAN},    {"silence", 18, 7},
        {"specaugment", 19, 2},    {"scratch", 20, 3},       {"perturb_test", 21, 7},   {"window", 22, 0},
        {"window", 22, -1},        {"window", 22, 257},      {"mixup", 23, 5},          {"label_smoothing", 24, 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        es_curve_opts co;
        es_curve_opts_default(&co);
        es_train_opts *o = &co.train;
        o->data_dir = "/proc/no_such_dataset";
        double v = bad[i].v;
        switch (bad[i].which) {
        case 0: o->val_fraction = v; break;
        case 1: o->pad_to = v; break;
        case 2: o->hidden = (int)v; break;
        case 3: o->dropout = (float)v; break;
        case 4: o->epochs = (int)v; break;
        case 5: o->batch = (int)v; break;
        case 6: o->patience = (int)v; break;
        case 7: o->min_steps = (int)v; break;
        case 8: o->lr = (float)v; break;
        case 9: o->weight_decay = (float)v; break;
        case 10: o->shots = (int)v; break;
        case 11: o->augment = (int)v; break;
        case 12: o->aug_p = v; break;
        case 13: o->aug_snr[0] = v; break;       /* above the top of the range */
        case 14: o->aug_gain[1] = v; break;
        case 15: o->aug_speed[0] = v; break;
        case 16: o->aug_shift_ms = v; break;
        case 17: o->target_fa = v; break;
        case 18: o->silence = (int)v; break;
        case 19: o->specaugment = (int)v; break;
        case 20: o->scratch = (int)v; break;
        case 21: o->perturb_test = (int)v; break;
        case 22: o->window = (int)v; break;
        case 23: o->mixup = (float)v; break;
        case 24: o->label_smoothing = (float)v; break;
        }
        es_train_result tr;
        memset(&e, 0, sizeof e);
        if (es_train_head(eng, o, "/proc/no_such_dataset/m.safetensors", &tr, NULL, NULL, &e) != ES_ERR_ARG ||
            !strstr(e.msg, bad[i].field))
            fail_msg("es_train_head, %s = %g: status %d, '%s'", bad[i].field, v, (int)e.status, e.msg);
        es_curve_result r;
        memset(&e, 0, sizeof e);
        if (es_learning_curve(eng, &co, &r, NULL, NULL, &e) != ES_ERR_ARG || !strstr(e.msg, bad[i].field))
            fail_msg("es_learning_curve, %s = %g: status %d, '%s'", bad[i].field, v, (int)e.status, e.msg);
        es_curve_result_free(&r);
    }
    /* the control: the defaults get as far as the missing folder */
    es_train_opts o;
    es_train_opts_default(&o);
    o.data_dir = "/proc/no_such_dataset";
    es_train_result tr;
    assert_int_equal(es_train_head(eng, &o, "/proc/no_such_dataset/m.safetensors", &tr, NULL, NULL, &e), ES_ERR_IO);
    es_engine_free(eng);
}

static void test_wilson(void **state)
{
    (void)state;
    static const struct { size_t k, n; double lo, hi; } cases[] = {
        {0, 10, 0.0, 0.2775},   {5, 10, 0.2366, 0.7634}, {10, 10, 0.7225, 1.0},
        {4, 4, 0.5101, 1.0},    {950, 1000, 0.9347, 0.9619}, {2856, 3000, 0.9438, 0.9591},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double lo, hi, p = (double)cases[i].k / (double)cases[i].n;
        es_wilson_interval(cases[i].k, cases[i].n, &lo, &hi);
        assert_true(fabs(lo - cases[i].lo) < 6e-5 && fabs(hi - cases[i].hi) < 6e-5);
        assert_true(lo <= p && p <= hi);
    }
    /* a rare event: 1 in a million, [1.765e-7, 5.665e-6] (relative check) */
    double lo, hi;
    es_wilson_interval(1, 1000000, &lo, &hi);
    assert_true(fabs(lo / 1.7653e-7 - 1) < 1e-3 && fabs(hi / 5.6649e-6 - 1) < 1e-3);
    /* the ends are exact, not off by rounding */
    es_wilson_interval(0, 7, &lo, &hi);
    assert_true(lo == 0.0);
    es_wilson_interval(7, 7, &lo, &hi);
    assert_true(hi == 1.0);
    /* nothing counted, or a count above the trials: no interval */
    es_wilson_interval(0, 0, &lo, &hi);
    assert_true(isnan(lo) && isnan(hi));
    es_wilson_interval(3, 2, &lo, &hi);
    assert_true(isnan(lo) && isnan(hi));
    /* narrower with more trials at the same proportion */
    double lo2, hi2;
    es_wilson_interval(9, 10, &lo, &hi);
    es_wilson_interval(900, 1000, &lo2, &hi2);
    assert_true(hi2 - lo2 < (hi - lo) / 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curve_needs_result),
        cmocka_unit_test(test_curve_null_split),
        cmocka_unit_test(test_train_settings),
        cmocka_unit_test(test_wilson),
        cmocka_unit_test(test_prototypes),
        cmocka_unit_test(test_perturb_test),
        cmocka_unit_test(test_head_and_ensemble),
        cmocka_unit_test(test_zscore_invariance),
        cmocka_unit_test(test_auto_shifts),
        cmocka_unit_test(test_auto_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
