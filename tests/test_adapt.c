/* Speaker adaptation internals: finite-difference checks of the anchor
 * penalty (L2-SP, and EWC with per-parameter weights) and of the diagonal
 * Fisher, and the behaviour of es_adapt_mlp (it fits the new takes, an
 * anchor holds the weights, seeds reproduce, refusals leave the model
 * unchanged). No models or data needed. */
#include "test_util.h"
#include "../pipeline/adapt.h"
#include "../model/conv.h"

#include <math.h>
#include <string.h>

static void test_anchor_gradient(void **state)
{
    (void)state;
    enum { N = 17 };
    float p[N], a[N], f[N], g[N];
    uint32_t r = 5;
    for (int i = 0; i < N; i++) { p[i] = test_rand(&r) - 0.5f; a[i] = test_rand(&r) - 0.5f; f[i] = 2 * test_rand(&r); }
    for (int wf = 0; wf < 2; wf++) {
        const float *fw = wf ? f : NULL;
        float lam = 0.37f;
        for (int i = 0; i < N; i++) g[i] = 0.25f;   /* backward accumulates */
        es_anchor_backward(g, p, a, fw, N, lam);
        for (int i = 0; i < N; i++) {
            float h = 1e-2f, keep = p[i];
            p[i] = keep + h;
            double up = es_anchor_forward(p, a, fw, N, lam);
            p[i] = keep - h;
            double dn = es_anchor_forward(p, a, fw, N, lam);
            p[i] = keep;
            double fd = (up - dn) / (2 * h);
            assert_true(fabs((g[i] - 0.25) - fd) < 1e-4 * (1 + fabs(fd)));
        }
        assert_true(es_anchor_forward(a, a, fw, N, lam) == 0);
    }
}

static es_mlp *small_mlp(int hidden, uint64_t seed)
{
    es_mlp_cfg c = {.window = 2, .dim = 3, .pool = ES_POOL_MEAN, .n_hidden = hidden > 0, .hidden = {hidden},
                    .dropout = 0, .n_classes = 3};
    es_error e = {0};
    es_mlp *m = es_mlp_create(&c, seed, &e);
    assert_non_null(m);
    return m;
}

static double loss_of(es_mlp *m, const float *x, const int *y, int B)
{
    es_error e = {0};
    double l;
    assert_non_null(es_mlp_forward(m, x, B, 0, NULL, &e));
    assert_int_equal(es_mlp_loss(m, y, NULL, &l, &e), ES_OK);
    return l;
}

/* the gradient adapt uses (cross-entropy + anchor) against finite
 * differences of the total objective */
static void test_adapt_objective_gradient(void **state)
{
    (void)state;
    es_mlp *m = small_mlp(4, 3);
    size_t np;
    float *p = es_mlp_params(m, &np), *g = es_mlp_grads(m, NULL);
    float *a = malloc(np * sizeof(float)), *f = malloc(np * sizeof(float));
    uint32_t r = 9;
    for (size_t i = 0; i < np; i++) { a[i] = p[i] + 0.3f * (test_rand(&r) - 0.5f); f[i] = test_rand(&r); }
    float x[4 * 6];
    int y[4] = {0, 1, 2, 1};
    for (int i = 0; i < 24; i++) x[i] = 2 * test_rand(&r) - 1;
    float lam = 0.8f;
    es_error e = {0};
    es_mlp_zero_grad(m);
    loss_of(m, x, y, 4);
    assert_int_equal(es_mlp_backward(m, NULL, &e), ES_OK);
    es_anchor_backward(g, p, a, f, np, lam);
    float *ga = malloc(np * sizeof(float));
    memcpy(ga, g, np * sizeof(float));
    double worst = 0;
    for (size_t i = 0; i < np; i++) {
        float keep = p[i], h = 1e-3f;
        p[i] = keep + h;
        double up = loss_of(m, x, y, 4) + es_anchor_forward(p, a, f, np, lam);
        p[i] = keep - h;
        double dn = loss_of(m, x, y, 4) + es_anchor_forward(p, a, f, np, lam);
        p[i] = keep;
        double fd = (up - dn) / (2 * h), d = fabs(fd - ga[i]) / (1e-3 + fabs(fd));
        if (d > worst) worst = d;
    }
    printf("adapt objective: worst relative gradient error %.2e over %zu parameters\n", worst, np);
    assert_true(worst < 2e-2);
    free(a); free(f); free(ga);
    es_mlp_free(m);
}

/* the Fisher diagonal: mean over rows of squared per-row gradients
 * (finite differences), scaled to mean 1 */
static void test_fisher(void **state)
{
    (void)state;
    es_mlp *m = small_mlp(0, 4);
    size_t np;
    float *p = es_mlp_params(m, &np);
    enum { R = 5 };
    float x[R * 6];
    int y[R] = {0, 1, 2, 0, 2};
    uint32_t r = 13;
    for (int i = 0; i < R * 6; i++) x[i] = 2 * test_rand(&r) - 1;
    float *fi = malloc(np * sizeof(float));
    double *fd = calloc(np, sizeof(double)), mean = 0;
    es_error e = {0};
    assert_int_equal(es_fisher_diag(m, x, y, R, fi, &e), ES_OK);
    for (size_t i = 0; i < np; i++) {
        for (int row = 0; row < R; row++) {
            float keep = p[i], h = 1e-3f;
            p[i] = keep + h;
            double up = loss_of(m, x + row * 6, y + row, 1);
            p[i] = keep - h;
            double dn = loss_of(m, x + row * 6, y + row, 1);
            p[i] = keep;
            double d = (up - dn) / (2 * h);
            fd[i] += d * d / R;
        }
        mean += fd[i] / (double)np;
    }
    for (size_t i = 0; i < np; i++) assert_true(fabs(fi[i] - fd[i] / mean) < 2e-2 * (1 + fd[i] / mean));
    free(fi); free(fd);
    es_mlp_free(m);
}

/* toy data: class = argmax of the first three inputs' mean over time */
static void toy(float *x, int *y, int n, uint32_t *r, float shift)
{
    for (int i = 0; i < n; i++) {
        y[i] = i % 3;
        for (int t = 0; t < 2; t++)
            for (int d = 0; d < 3; d++) x[i * 6 + t * 3 + d] = (d == y[i] ? 1.5f : 0) + shift + (test_rand(r) - 0.5f);
    }
}

static void test_adapt_behaviour(void **state)
{
    (void)state;
    uint32_t r = 21;
    float xo[60 * 6], xn[9 * 6];
    int yo[60], yn[9];
    toy(xo, yo, 60, &r, 0);
    toy(xn, yn, 9, &r, -1.2f);   /* the "new speaker": shifted inputs */
    es_mlp *base = small_mlp(8, 1);
    es_error e = {0};
    es_train_cfg tc = es_train_defaults();
    tc.epochs = 200;
    assert_int_equal(es_train(base, xo, yo, 60, NULL, NULL, 0, &tc, NULL, NULL, NULL, &e), ES_OK);
    size_t np;
    const float *p0 = es_mlp_params(base, &np);
    double before = loss_of(base, xn, yn, 9);
    es_adapt_method ms[] = {ES_ADAPT_NAIVE, ES_ADAPT_L2SP, ES_ADAPT_EWC, ES_ADAPT_REHEARSAL};
    double dist[4];
    for (int k = 0; k < 4; k++) {
        es_mlp *m = small_mlp(8, 1), *m2 = small_mlp(8, 1);
        memcpy(es_mlp_params(m, NULL), p0, np * sizeof(float));
        memcpy(es_mlp_params(m2, NULL), p0, np * sizeof(float));
        es_adapt_cfg c = {.method = ms[k], .steps = 200, .batch = 9, .lr = 1e-2f, .lambda = 1.0f, .seed = 5};
        assert_int_equal(es_adapt_mlp(m, xn, yn, 9, xo, yo, 24, &c, &e), ES_OK);
        assert_int_equal(es_adapt_mlp(m2, xn, yn, 9, xo, yo, 24, &c, &e), ES_OK);
        assert_memory_equal(es_mlp_params(m, NULL), es_mlp_params(m2, NULL), np * sizeof(float));   /* seeded */
        double after = loss_of(m, xn, yn, 9);
        printf("%s: loss on the new takes %.3f -> %.3f\n", es_adapt_method_name(ms[k]), before, after);
        assert_true(after < before);
        dist[k] = 0;
        const float *p = es_mlp_params(m, NULL);
        for (size_t i = 0; i < np; i++) dist[k] += (p[i] - p0[i]) * (p[i] - p0[i]);
        es_mlp_free(m);
        es_mlp_free(m2);
    }
    printf("squared distance from the base: naive %.3f, l2sp %.3f, ewc %.3f\n", dist[0], dist[1], dist[2]);
    assert_true(dist[1] < dist[0]);   /* the anchor holds the weights */
    assert_true(dist[2] < dist[0]);
    /* refusals leave the model unchanged */
    es_mlp *m = small_mlp(8, 1);
    memcpy(es_mlp_params(m, NULL), p0, np * sizeof(float));
    es_adapt_cfg c = {.method = ES_ADAPT_REHEARSAL, .steps = 10, .batch = 4, .lr = 1e-2f, .lambda = 0, .seed = 1};
    assert_int_equal(es_adapt_mlp(m, xn, yn, 9, NULL, NULL, 0, &c, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "rehearsal buffer"));
    c.method = ES_ADAPT_NAIVE;
    c.lr = 1e30f;   /* diverges */
    assert_int_not_equal(es_adapt_mlp(m, xn, yn, 9, NULL, NULL, 0, &c, &e), ES_OK);
    assert_memory_equal(es_mlp_params(m, NULL), p0, np * sizeof(float));
    es_mlp_free(m);
    es_mlp_free(base);
    /* rehearsal picking: at most per_class of each, seeded */
    size_t idx[60], idx2[60];
    size_t nr = es_rehearsal_pick(yo, 60, 3, 4, -1, 0, 9, idx), nr2 = es_rehearsal_pick(yo, 60, 3, 4, -1, 0, 9, idx2);
    assert_int_equal(nr, 12);
    assert_int_equal(nr2, 12);
    assert_memory_equal(idx, idx2, nr * sizeof(size_t));
    int cnt[3] = {0};
    for (size_t i = 0; i < nr; i++) cnt[yo[idx[i]]]++;
    assert_int_equal(cnt[0], 4);
    assert_int_equal(cnt[1], 4);
    assert_int_equal(cnt[2], 4);
    /* the class to reject keeps more: a superset of its 4, the others as before */
    int cnt2[3] = {0}, n1 = 0;
    size_t nr3 = es_rehearsal_pick(yo, 60, 3, 4, 1, 9, 9, idx2);
    for (size_t i = 0; i < nr3; i++) cnt2[yo[idx2[i]]]++;
    for (size_t i = 0; i < 60; i++) n1 += yo[i] == 1;
    assert_int_equal(cnt2[0], 4);
    assert_int_equal(cnt2[1], n1 < 9 ? n1 : 9);
    assert_int_equal(cnt2[2], 4);
    for (size_t i = 0; i < nr; i++) {
        int found = 0;
        for (size_t j = 0; j < nr3; j++) found |= idx2[j] == idx[i];
        assert_true(found);
    }
}

/* ewc+rehearsal (the EWC penalty and rehearsal rows in every batch), and the
 * parameter subsets: what is frozen does not move, what learns does */
static void test_adapt_mix_and_subsets(void **state)
{
    (void)state;
    uint32_t r = 33;
    float xo[60 * 6], xn[9 * 6];
    int yo[60], yn[9];
    toy(xo, yo, 60, &r, 0);
    toy(xn, yn, 9, &r, -1.2f);
    es_mlp *base = small_mlp(8, 2);
    es_error e = {0};
    es_train_cfg tc = es_train_defaults();
    tc.epochs = 200;
    assert_int_equal(es_train(base, xo, yo, 60, NULL, NULL, 0, &tc, NULL, NULL, NULL, &e), ES_OK);
    size_t np;
    const float *p0 = es_mlp_params(base, &np);
    double before = loss_of(base, xn, yn, 9), old_before = loss_of(base, xo, yo, 60);
    /* ewc with the buffer mixed in: still fits the new takes, keeps the old
     * data at least as well as ewc alone, and needs the buffer */
    double old_after[2];
    for (int mix = 0; mix < 2; mix++) {
        es_mlp *m = small_mlp(8, 2);
        memcpy(es_mlp_params(m, NULL), p0, np * sizeof(float));
        es_adapt_cfg c = {.method = mix ? ES_ADAPT_EWC_REHEARSAL : ES_ADAPT_EWC, .steps = 200, .batch = 9, .lr = 1e-2f,
                          .lambda = 0.1f, .seed = 5};
        assert_int_equal(es_adapt_mlp(m, xn, yn, 9, xo, yo, 60, &c, &e), ES_OK);
        assert_true(loss_of(m, xn, yn, 9) < before);
        old_after[mix] = loss_of(m, xo, yo, 60);
        es_mlp_free(m);
    }
    printf("old data loss %.3f: ewc %.3f, ewc + rehearsal rows %.3f\n", old_before, old_after[0], old_after[1]);
    assert_true(old_after[1] <= old_after[0]);
    es_mlp *m = small_mlp(8, 2);
    memcpy(es_mlp_params(m, NULL), p0, np * sizeof(float));
    es_adapt_cfg c = {.method = ES_ADAPT_EWC_REHEARSAL, .steps = 50, .batch = 9, .lr = 1e-2f, .seed = 5};
    assert_int_equal(es_adapt_mlp(m, xn, yn, 9, NULL, NULL, 0, &c, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "rehearsal buffer"));
    c.params = 3;
    assert_int_equal(es_adapt_mlp(m, xn, yn, 9, xo, yo, 60, &c, &e), ES_ERR_ARG);
    assert_memory_equal(es_mlp_params(m, NULL), p0, np * sizeof(float));
    es_mlp_free(m);
    for (int sub = ES_ADAPT_PARAMS_OUTPUT; sub <= ES_ADAPT_PARAMS_BIAS; sub++) {
        m = small_mlp(8, 2);
        memcpy(es_mlp_params(m, NULL), p0, np * sizeof(float));
        es_adapt_cfg cs = {.method = ES_ADAPT_NAIVE, .steps = 100, .batch = 9, .lr = 1e-2f, .seed = 5, .params = sub};
        assert_int_equal(es_adapt_mlp(m, xn, yn, 9, NULL, NULL, 0, &cs, &e), ES_OK);
        assert_true(loss_of(m, xn, yn, 9) < before);
        const float *p = es_mlp_params(m, NULL);
        int moved = 0;
        for (int i = 0; i < es_mlp_ntensors(m); i++) {
            const es_param_info *pi = es_mlp_tensor(m, i);
            size_t ln = strlen(pi->name);
            int learns = sub == ES_ADAPT_PARAMS_OUTPUT ? !strncmp(pi->name, "head.1.", 7) : !strcmp(pi->name + ln - 4, "bias");
            int diff = memcmp(p + pi->offset, p0 + pi->offset, pi->count * sizeof(float)) != 0;
            if (!learns) assert_false(diff);
            moved += diff;
        }
        assert_true(moved > 0);
        es_mlp_free(m);
    }
    es_mlp_free(base);
}

/* the speaker normalisation folded into the first layer: for a linear
 * head the logits are affine in the pooled features, so after folding the
 * mean logits of the speaker's rows equal the base head's mean logits on
 * the buffer's rows of the labels the speaker gave (rows of other labels,
 * far away here, must not count) */
static void test_adapt_normalise(void **state)
{
    (void)state;
    es_mlp_cfg cfg = {.window = 2, .dim = 3, .pool = ES_POOL_MEANSTD, .n_hidden = 0, .dropout = 0, .n_classes = 3};
    es_error e = {0};
    uint32_t r = 77;
    float xs[8 * 6], xb[12 * 6];
    int ys[8], yb[12];
    for (int i = 0; i < 8; i++) {
        ys[i] = i % 2;   /* labels 0 and 1 only */
        for (int j = 0; j < 6; j++) xs[i * 6 + j] = 0.7f + 1.5f * test_rand(&r);
    }
    for (int i = 0; i < 12; i++) {
        yb[i] = i % 3;
        for (int j = 0; j < 6; j++) xb[i * 6 + j] = (yb[i] == 2 ? 9.0f : 0) + test_rand(&r) - 0.5f;
    }
    for (int scale = 0; scale < 2; scale++) {
        es_mlp *m = es_mlp_create(&cfg, 4, &e);
        assert_non_null(m);
        double want[3] = {0}, got[3] = {0};
        const float *lg = es_mlp_forward(m, xb, 12, 0, NULL, &e);
        assert_non_null(lg);
        for (int i = 0; i < 12; i++)
            if (yb[i] != 2)
                for (int k = 0; k < 3; k++) want[k] += lg[i * 3 + k] / 8.0;
        assert_int_equal(es_adapt_normalise(m, xs, ys, 8, xb, yb, 12, scale, &e), ES_OK);
        lg = es_mlp_forward(m, xs, 8, 0, NULL, &e);
        assert_non_null(lg);
        for (int i = 0; i < 8; i++)
            for (int k = 0; k < 3; k++) got[k] += lg[i * 3 + k] / 8.0;
        for (int k = 0; k < 3; k++) assert_true(fabs(got[k] - want[k]) < 1e-4 * (1 + fabs(want[k])));
        es_mlp_free(m);
    }
    es_mlp *m = es_mlp_create(&cfg, 4, &e);
    size_t np;
    float *p = es_mlp_params(m, &np), *keep = malloc(np * sizeof(float));
    memcpy(keep, p, np * sizeof(float));
    assert_int_equal(es_adapt_normalise(m, xs, ys, 1, xb, yb, 12, 0, &e), ES_ERR_ARG);   /* one row: no statistics */
    assert_memory_equal(p, keep, np * sizeof(float));
    free(keep);
    es_mlp_free(m);
}

/* --finetune: a small stack under the head (inputs [4][3][2] -> a 3x1
 * convolution -> [2][3][3], the head sees 2 steps of 9) */
static es_cnn *small_net(uint64_t seed)
{
    es_cnn_layer L[1] = {{.co = 3, .kt = 3, .kf = 1, .act = 1}};
    es_error e = {0};
    es_cnn *net = es_cnn_create(L, 1, 4, 3, 2, 0.2f, -0.4f, &e);
    assert_non_null(net);
    es_cnn_init_random(net, seed);
    return net;
}

static es_mlp *net_head(uint64_t seed)
{
    es_mlp_cfg c = {.window = 2, .dim = 9, .pool = ES_POOL_MEANMAX, .n_hidden = 1, .hidden = {5}, .dropout = 0, .n_classes = 3};
    es_error e = {0};
    es_mlp *m = es_mlp_create(&c, seed, &e);
    assert_non_null(m);
    return m;
}

static double net_loss(es_mlp *m, es_cnn *net, const float *x, const int *y, int B)
{
    es_error e = {0};
    const float *h = es_cnn_forward(net, x, B, &e);
    assert_non_null(h);
    return loss_of(m, h, y, B);
}

/* the joint gradient es_adapt_net steps along (cross-entropy through the
 * layers and the head, EWC on the head, L2-SP on the layers) against
 * finite differences of the whole objective, for the layers' parameters */
static void test_adapt_net_gradient(void **state)
{
    (void)state;
    es_cnn *net = small_net(4);
    es_mlp *m = net_head(2);
    size_t nq, np;
    float *q = es_cnn_params(net, &nq), *qg = es_cnn_grads(net, NULL);
    float *p = es_mlp_params(m, &np), *g = es_mlp_grads(m, NULL);
    float *q0 = malloc(nq * sizeof(float)), *a = malloc(np * sizeof(float)), *f = malloc(np * sizeof(float));
    uint32_t r = 17;
    for (size_t i = 0; i < nq; i++) q0[i] = q[i] + 0.2f * (test_rand(&r) - 0.5f);
    for (size_t i = 0; i < np; i++) { a[i] = p[i] + 0.2f * (test_rand(&r) - 0.5f); f[i] = test_rand(&r); }
    enum { B = 5 };
    float x[B * 24], dh[B * 18];
    int y[B] = {0, 2, 1, 1, 0};
    for (int i = 0; i < B * 24; i++) x[i] = 2 * test_rand(&r) - 1;
    float lam = 0.6f, lq = 0.9f;
    es_error e = {0};
    es_mlp_zero_grad(m);
    es_cnn_zero_grad(net);
    net_loss(m, net, x, y, B);
    assert_int_equal(es_mlp_backward(m, dh, &e), ES_OK);
    assert_int_equal(es_cnn_backward(net, dh, NULL, &e), ES_OK);
    es_anchor_backward(g, p, a, f, np, lam);
    es_anchor_backward(qg, q, q0, NULL, nq, lq);
    float *gq = malloc(nq * sizeof(float));
    memcpy(gq, qg, nq * sizeof(float));
    double worst = 0;
    for (size_t i = 0; i < nq; i++) {
        float keep = q[i], h = 1e-3f;
        q[i] = keep + h;
        double up = net_loss(m, net, x, y, B) + es_anchor_forward(q, q0, NULL, nq, lq);
        q[i] = keep - h;
        double dn = net_loss(m, net, x, y, B) + es_anchor_forward(q, q0, NULL, nq, lq);
        q[i] = keep;
        double fd = (up - dn) / (2 * h), d = fabs(fd - gq[i]) / (1e-3 + fabs(fd));
        if (d > worst) worst = d;
    }
    printf("adapt objective, encoder layers: worst relative gradient error %.2e over %zu parameters\n", worst, nq);
    assert_true(worst < 2e-2);
    free(q0); free(a); free(f); free(gq);
    es_mlp_free(m);
    es_cnn_free(net);
}

/* es_adapt_net fits the takes, its L2-SP holds the layers, it is seeded,
 * and refusals leave head and layers unchanged */
static void test_adapt_net_behaviour(void **state)
{
    (void)state;
    enum { N = 12, R = 30 };
    uint32_t r = 33;
    float x[N * 24], xr[R * 18];
    int y[N], yr[R];
    for (int i = 0; i < N; i++) {
        y[i] = i % 3;
        for (int k = 0; k < 24; k++) x[i * 24 + k] = (k % 3 == y[i] ? 1.0f : 0) + (test_rand(&r) - 0.5f);
    }
    for (int i = 0; i < R; i++) { yr[i] = i % 3; for (int k = 0; k < 18; k++) xr[i * 18 + k] = test_rand(&r) - 0.5f; }
    es_cnn *n0 = small_net(8);
    es_mlp *m0 = net_head(3);
    size_t nq, np;
    const float *q0 = es_cnn_params(n0, &nq), *p0 = es_mlp_params(m0, &np);
    double before = net_loss(m0, n0, x, y, N);
    double moved[2];
    for (int k = 0; k < 2; k++) {
        es_cnn *net = small_net(8), *net2 = small_net(8);
        es_mlp *m = net_head(3), *m2 = net_head(3);
        es_adapt_cfg c = {.method = ES_ADAPT_EWC, .steps = 150, .batch = 6, .lr = 1e-2f, .lambda = 0.1f, .seed = 2,
                          .net_lr = 1e-2f, .net_lambda = k ? 30.0f : 0.0f};
        es_error e = {0};
        assert_int_equal(es_adapt_net(m, net, x, y, N, xr, yr, R, &c, &e), ES_OK);
        assert_int_equal(es_adapt_net(m2, net2, x, y, N, xr, yr, R, &c, &e), ES_OK);
        assert_memory_equal(es_cnn_params(net, NULL), es_cnn_params(net2, NULL), nq * sizeof(float));   /* seeded */
        assert_memory_equal(es_mlp_params(m, NULL), es_mlp_params(m2, NULL), np * sizeof(float));
        double after = net_loss(m, net, x, y, N);
        const float *q = es_cnn_params(net, NULL);
        moved[k] = 0;
        for (size_t i = 0; i < nq; i++) moved[k] += (q[i] - q0[i]) * (q[i] - q0[i]);
        printf("layers' L2-SP %g: loss on the takes %.3f -> %.3f, layers moved %.4f\n", c.net_lambda, before, after, moved[k]);
        assert_true(after < before);
        assert_true(moved[k] > 0);
        es_cnn_free(net); es_cnn_free(net2); es_mlp_free(m); es_mlp_free(m2);
    }
    assert_true(moved[1] < 0.5 * moved[0]);   /* the penalty holds the layers */
    /* refusals: rehearsal (the buffer is the pretrained encoder's
     * embeddings), a divergence; nothing changes */
    es_cnn *net = small_net(8);
    es_mlp *m = net_head(3);
    es_error e = {0};
    es_adapt_cfg c = {.method = ES_ADAPT_REHEARSAL, .steps = 5, .batch = 4, .lr = 1e-2f, .lambda = 0, .seed = 1,
                      .net_lr = 1e-2f, .net_lambda = 0};
    assert_int_equal(es_adapt_net(m, net, x, y, N, xr, yr, R, &c, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "rehearsal"));
    c.method = ES_ADAPT_NAIVE;
    c.lr = c.net_lr = 1e30f;   /* diverges */
    assert_int_not_equal(es_adapt_net(m, net, x, y, N, xr, yr, R, &c, &e), ES_OK);
    assert_memory_equal(es_cnn_params(net, NULL), q0, nq * sizeof(float));
    assert_memory_equal(es_mlp_params(m, NULL), p0, np * sizeof(float));
    es_cnn_free(net); es_mlp_free(m);
    es_cnn_free(n0); es_mlp_free(m0);
}

/* es_adapt_method_parse: names both ways; a NULL output is refused with
 * ES_ERR_ARG (it was written through), a NULL name named as such */
static void test_method_parse(void **state)
{
    (void)state;
    es_error e = {0};
    es_adapt_method m = ES_ADAPT_NAIVE;
    assert_int_equal(es_adapt_method_parse("ewc+rehearsal", &m, &e), ES_OK);
    assert_int_equal(m, ES_ADAPT_EWC_REHEARSAL);
    assert_string_equal(es_adapt_method_name(m), "ewc+rehearsal");
    assert_int_equal(es_adapt_method_parse("EWC", &m, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "'EWC'"));
    assert_int_equal(es_adapt_method_parse("ewc", NULL, &e), ES_ERR_ARG);
    assert_int_equal(es_adapt_method_parse(NULL, &m, &e), ES_ERR_ARG);
    assert_int_equal(m, ES_ADAPT_EWC_REHEARSAL);   /* untouched on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_parse),
        cmocka_unit_test(test_anchor_gradient),
        cmocka_unit_test(test_adapt_objective_gradient),
        cmocka_unit_test(test_fisher),
        cmocka_unit_test(test_adapt_behaviour),
        cmocka_unit_test(test_adapt_mix_and_subsets),
        cmocka_unit_test(test_adapt_normalise),
        cmocka_unit_test(test_adapt_net_gradient),
        cmocka_unit_test(test_adapt_net_behaviour),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
