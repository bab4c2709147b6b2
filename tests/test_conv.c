/* The convolutional layers (model/conv.c): finite-difference checks of
 * every backward pass (conv2d with and without padding, max-pool, the
 * encoder's activation, and a whole es_cnn chain), forward results against
 * a direct (no im2col) convolution, on random shapes including odd sizes.
 *
 * Gradient checks: the loss is L = sum(r * out) for fixed random r,
 * accumulated in double from the float forward; numeric gradients are
 * central differences. The error of an element is
 *   |analytic - numeric| / max(|analytic|, |numeric|, 1e-2 * max|numeric|)
 * (max over the tensor), and must be below TOL = 1e-2. conv2d is linear in
 * x, w and b, so a large step (0.05) gives exact differences up to float
 * rounding; around the kinks of max-pool and the activation a step can
 * switch a branch, so there the step is small (1e-3), the inputs are drawn
 * away from the kinks, and an element whose one-sided slopes disagree is
 * skipped (counted, and at most a few percent may be). The whole chain,
 * through the float forward, is checked at two steps (1e-3 and 3e-3) and
 * each element against the estimate nearer its analytic value, of the
 * steps without a kink: the float rounding of the loss over the small
 * step is large next to the smallest input gradients (0.11 of them with
 * OpenBLAS's Prescott kernel, against a limit of 0.1), the large step
 * crosses more kinks, and a wrong gradient matches neither. */
#include "test_util.h"
#include "../model/conv.h"

#include <math.h>
#include <string.h>

#define TOL 1e-2
#define CHAIN_TOL 1e-1

static float urand(es_rng *r, float lo, float hi) { return lo + (hi - lo) * es_rng_uniform(r); }
static void fill(float *a, size_t n, es_rng *r, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) a[i] = urand(r, lo, hi);
}

typedef double (*loss_fn)(void *ctx);

/* max element error as defined at the top; *skipped counts kinks */
static double g_norm_rel;   /* ||a - n|| / ||n|| of the last fd_check, over the compared elements */

static double fd_check(loss_fn f, void *ctx, float *p, const float *ana, size_t n, float h, int steps, int *skipped)
{
    double *num = calloc(n, sizeof(double));
    char *skip = calloc(n, 1);
    assert_non_null(num);
    assert_non_null(skip);
    double f0 = f(ctx), nmax = 0;
    *skipped = 0;
    for (size_t i = 0; i < n; i++) {
        num[i] = test_fd_slope(f, ctx, &p[i], h, steps, 1, f0, ana[i]);
        skip[i] = isnan(num[i]);
        if (skip[i]) { (*skipped)++; continue; }
        nmax = fmax(nmax, fabs(num[i]));
    }
    double worst = 0, dn = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip[i]) continue;
        double d = fabs((double)ana[i] - num[i]);
        dn += d * d;
        nn += num[i] * num[i];
        double den = fmax(fmax(fabs((double)ana[i]), fabs(num[i])), 1e-2 * nmax);
        if (den > 0 && d / den > worst) worst = d / den;
        if (getenv("CONV_DEBUG") && den > 0 && d / den > 1e-2) print_message("    [%zu] ana %.5e num %.5e\n", i, ana[i], num[i]);
    }
    g_norm_rel = nn > 0 ? sqrt(dn / nn) : sqrt(dn);
    free(num);
    free(skip);
    return worst;
}

static double dot(const float *a, const float *r, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * r[i];
    return s;
}

/* ------------------------------------------------------------ conv2d */

typedef struct {
    es_conv_shape s;
    float *x, *w, *b, *y, *col, *r;
    size_t ny;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    es_conv2d_forward(c->y, c->col, c->x, c->w, c->b, &c->s);
    return dot(c->y, c->r, c->ny);
}

/* y computed directly from the definition, in double */
static void conv_direct(double *y, const conv_ctx *c)
{
    const es_conv_shape *s = &c->s;
    int To = es_conv2d_out_t(s), Fo = es_conv2d_out_f(s);
    for (int n = 0; n < s->N; n++)
        for (int t = 0; t < To; t++)
            for (int f = 0; f < Fo; f++)
                for (int o = 0; o < s->co; o++) {
                    double acc = c->b ? c->b[o] : 0;
                    for (int a = 0; a < s->kt; a++)
                        for (int b = 0; b < s->kf; b++) {
                            int ti = t + a - s->pt, fi = f + b - s->pf;
                            if (ti < 0 || ti >= s->T || fi < 0 || fi >= s->F) continue;
                            for (int k = 0; k < s->ci; k++)
                                acc += (double)c->x[(((size_t)n * s->T + ti) * s->F + fi) * s->ci + k] *
                                       c->w[(((size_t)a * s->kf + b) * s->ci + k) * s->co + o];
                        }
                    y[(((size_t)n * To + t) * Fo + f) * s->co + o] = acc;
                }
}

static void check_conv(es_conv_shape s, uint64_t seed)
{
    es_rng rng;
    es_rng_seed(&rng, seed);
    conv_ctx c = {.s = s};
    size_t nx = (size_t)s.N * s.T * s.F * s.ci, nw = (size_t)s.kt * s.kf * s.ci * s.co;
    c.ny = (size_t)s.N * es_conv2d_out_t(&s) * es_conv2d_out_f(&s) * s.co;
    c.x = malloc(nx * sizeof(float)); c.w = malloc(nw * sizeof(float)); c.b = malloc((size_t)s.co * sizeof(float));
    c.y = malloc(c.ny * sizeof(float)); c.r = malloc(c.ny * sizeof(float));
    c.col = malloc(es_conv2d_col_size(&s) * sizeof(float));
    float *dx = malloc(nx * sizeof(float)), *dw = calloc(nw, sizeof(float)), *db = calloc((size_t)s.co, sizeof(float));
    double *yd = malloc(c.ny * sizeof(double));
    assert_true(c.x && c.w && c.b && c.y && c.r && c.col && dx && dw && db && yd);
    fill(c.x, nx, &rng, -1, 1); fill(c.w, nw, &rng, -1, 1); fill(c.b, (size_t)s.co, &rng, -1, 1);
    fill(c.r, c.ny, &rng, -1, 1);

    /* forward against the definition */
    conv_loss(&c);
    conv_direct(yd, &c);
    double fe = 0;
    for (size_t i = 0; i < c.ny; i++) fe = fmax(fe, fabs(c.y[i] - yd[i]) / (1 + fabs(yd[i])));
    assert_true(fe < 1e-5);

    /* backward with dy = r; run twice so dw/db must accumulate */
    es_conv2d_backward(dx, dw, db, c.col, c.r, c.x, c.w, &s);
    es_conv2d_backward(dx, dw, db, c.col, c.r, c.x, c.w, &s);
    for (size_t i = 0; i < nw; i++) dw[i] *= 0.5f;
    for (int i = 0; i < s.co; i++) db[i] *= 0.5f;
    int sk;
    double ex = fd_check(conv_loss, &c, c.x, dx, nx, 0.05f, 1, &sk);
    double ew = fd_check(conv_loss, &c, c.w, dw, nw, 0.05f, 1, &sk);
    double eb = fd_check(conv_loss, &c, c.b, db, (size_t)s.co, 0.05f, 1, &sk);
    print_message("  conv N%d T%d F%d ci%d co%d k%dx%d pad %d,%d: forward %.1e, grad x %.1e w %.1e b %.1e\n", s.N, s.T,
                  s.F, s.ci, s.co, s.kt, s.kf, s.pt, s.pf, fe, ex, ew, eb);
    assert_true(ex < TOL);
    assert_true(ew < TOL);
    assert_true(eb < TOL);
    /* dx = NULL computes only the parameter gradients */
    float *dw2 = calloc(nw, sizeof(float));
    es_conv2d_backward(NULL, dw2, NULL, c.col, c.r, c.x, c.w, &s);
    for (size_t i = 0; i < nw; i++) assert_true(fabsf(dw2[i] - dw[i]) <= 1e-4f * (1 + fabsf(dw[i])));
    free(dw2);
    free(c.x); free(c.w); free(c.b); free(c.y); free(c.r); free(c.col); free(dx); free(dw); free(db); free(yd);
}

static void test_conv_grad(void **state)
{
    (void)state;
    /* the encoder's two kinds (3x1 unpadded in time, 1x3 padded in
     * frequency), a square padded kernel, odd sizes, one channel in */
    check_conv((es_conv_shape){2, 7, 5, 3, 4, 3, 1, 0, 0}, 1);
    check_conv((es_conv_shape){2, 5, 7, 4, 3, 1, 3, 0, 1}, 2);
    check_conv((es_conv_shape){3, 9, 6, 1, 5, 3, 3, 1, 1}, 3);
    check_conv((es_conv_shape){1, 4, 3, 5, 2, 2, 3, 2, 2}, 4);
    es_rng r;
    es_rng_seed(&r, 99);
    for (int i = 0; i < 4; i++) {
        es_conv_shape s;
        s.N = 1 + (int)es_rng_below(&r, 3); s.kt = 1 + (int)es_rng_below(&r, 3); s.kf = 1 + (int)es_rng_below(&r, 3);
        s.pt = (int)es_rng_below(&r, (uint64_t)s.kt); s.pf = (int)es_rng_below(&r, (uint64_t)s.kf);
        s.T = s.kt + (int)es_rng_below(&r, 6); s.F = s.kf + (int)es_rng_below(&r, 6);
        s.ci = 1 + (int)es_rng_below(&r, 5); s.co = 1 + (int)es_rng_below(&r, 5);
        check_conv(s, 10 + (uint64_t)i);
    }
}

/* ------------------------------------------------------------ max-pool */

typedef struct {
    int N, T, F, C, qt, qf;
    float *x, *y, *r;
    int *arg;
    size_t ny;
} pool_ctx;

static double pool_loss(void *p)
{
    pool_ctx *c = p;
    es_maxpool_forward(c->y, c->arg, c->x, c->N, c->T, c->F, c->C, c->qt, c->qf);
    return dot(c->y, c->r, c->ny);
}

static void check_pool(int N, int T, int F, int C, int qt, int qf, uint64_t seed)
{
    es_rng rng;
    es_rng_seed(&rng, seed);
    pool_ctx c = {N, T, F, C, qt, qf, NULL, NULL, NULL, NULL, 0};
    size_t nx = (size_t)N * T * F * C;
    c.ny = (size_t)N * (T / qt) * (F / qf) * C;
    c.x = malloc(nx * sizeof(float)); c.y = malloc(c.ny * sizeof(float)); c.r = malloc(c.ny * sizeof(float));
    c.arg = malloc(c.ny * sizeof(int));
    float *dx = malloc(nx * sizeof(float));
    /* a shuffled grid of well-separated values: no ties within a step */
    for (size_t i = 0; i < nx; i++) c.x[i] = 0.01f * (float)i;
    for (size_t i = nx; i > 1; i--) {
        size_t j = (size_t)es_rng_below(&rng, i);
        float t = c.x[i - 1]; c.x[i - 1] = c.x[j]; c.x[j] = t;
    }
    fill(c.r, c.ny, &rng, -1, 1);
    pool_loss(&c);
    /* the forward is the max of each block */
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T / qt; t++)
            for (int f = 0; f < F / qf; f++)
                for (int k = 0; k < C; k++) {
                    float m = -INFINITY;
                    for (int a = 0; a < qt; a++)
                        for (int b = 0; b < qf; b++)
                            m = fmaxf(m, c.x[(((size_t)n * T + t * qt + a) * F + f * qf + b) * C + k]);
                    assert_true(c.y[(((size_t)n * (T / qt) + t) * (F / qf) + f) * C + k] == m);
                }
    es_maxpool_backward(dx, c.r, c.arg, nx, c.ny);
    int sk;
    double e = fd_check(pool_loss, &c, c.x, dx, nx, 1e-3f, 1, &sk);
    print_message("  maxpool N%d T%d F%d C%d %dx%d: grad %.1e (%d kinks skipped)\n", N, T, F, C, qt, qf, e, sk);
    assert_true(e < TOL);
    assert_true(sk == 0);
    free(c.x); free(c.y); free(c.r); free(c.arg); free(dx);
}

static void test_pool_grad(void **state)
{
    (void)state;
    check_pool(2, 6, 4, 3, 2, 2, 1);
    check_pool(1, 7, 5, 2, 2, 2, 2);   /* odd: the last row and column are dropped */
    check_pool(3, 5, 9, 4, 1, 2, 3);
    check_pool(2, 9, 3, 1, 2, 1, 4);
}

/* ------------------------------------------------------------ activation */

typedef struct {
    float *x, *y, *r;
    size_t n;
    float a, fl;
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    es_act_forward(c->y, c->x, c->n, c->a, c->fl);
    return dot(c->y, c->r, c->n);
}

static void test_act_grad(void **state)
{
    (void)state;
    es_rng rng;
    es_rng_seed(&rng, 5);
    act_ctx c = {NULL, NULL, NULL, 301, 0.2f, -0.4f};
    c.x = malloc(c.n * sizeof(float)); c.y = malloc(c.n * sizeof(float)); c.r = malloc(c.n * sizeof(float));
    float *dx = malloc(c.n * sizeof(float));
    /* the three branches: x > 0, -2 < x < 0 (slope 0.2), x < -2 (floor);
     * drawn away from the kinks at 0 and -2 */
    for (size_t i = 0; i < c.n; i++) {
        int k = (int)(i % 3);
        c.x[i] = k == 0 ? urand(&rng, 0.05f, 3) : k == 1 ? urand(&rng, -1.95f, -0.05f) : urand(&rng, -5, -2.05f);
    }
    fill(c.r, c.n, &rng, -1, 1);
    act_loss(&c);
    for (size_t i = 0; i < c.n; i++) {
        float v = c.x[i], want = v > 0 ? v : (0.2f * v < -0.4f ? -0.4f : 0.2f * v);
        assert_true(fabsf(c.y[i] - want) < 1e-6f);
    }
    es_act_backward(dx, c.r, c.x, c.n, c.a, c.fl);
    int sk;
    double e = fd_check(act_loss, &c, c.x, dx, c.n, 1e-3f, 1, &sk);
    print_message("  activation: grad %.1e (%d kinks skipped)\n", e, sk);
    assert_true(e < TOL);
    assert_true(sk == 0);
    /* in place (dx aliases dy) gives the same */
    float *g = malloc(c.n * sizeof(float));
    memcpy(g, c.r, c.n * sizeof(float));
    es_act_backward(g, g, c.x, c.n, c.a, c.fl);
    assert_memory_equal(g, dx, c.n * sizeof(float));
    free(g);
    free(c.x); free(c.y); free(c.r); free(dx);
}

/* ------------------------------------------------------------ a chain */

typedef struct {
    es_cnn *net;
    float *x, *r;
    int B;
} cnn_ctx;

static double cnn_loss(void *p)
{
    cnn_ctx *c = p;
    const float *y = es_cnn_forward(c->net, c->x, c->B, NULL);
    assert_non_null(y);
    return dot(y, c->r, (size_t)c->B * es_cnn_out_size(c->net));
}

/* conv(3x3 pad 1)+act, pool 2x2, conv 3x1 + act, conv 1x3 pad 1 + act,
 * pool 1x2, conv 3x1 (no activation): every kind the encoder and the
 * scratch baseline use, on an odd-sized input */
static void test_cnn_grad(void **state)
{
    (void)state;
    es_cnn_layer L[6] = {
        {.co = 4, .kt = 3, .kf = 3, .pt = 1, .pf = 1, .act = 1},
        {.pool = 1, .qt = 2, .qf = 2},
        {.co = 5, .kt = 3, .kf = 1, .act = 1},
        {.co = 3, .kt = 1, .kf = 3, .pf = 1, .act = 1},
        {.pool = 1, .qt = 1, .qf = 2},
        {.co = 3, .kt = 3, .kf = 1},
    };
    es_error err = {0};
    es_cnn *net = es_cnn_create(L, 6, 13, 9, 2, 0.2f, -0.4f, &err);
    assert_non_null(net);
    int To, Fo, Co;
    es_cnn_out_shape(net, &To, &Fo, &Co);
    assert_int_equal(To, 2);   /* 13 -> 6 -> 4 -> 4 -> 4 -> 2 */
    assert_int_equal(Fo, 2);   /* 9 -> 4 -> 4 -> 4 -> 2 -> 2 */
    assert_int_equal(Co, 3);
    es_cnn_init_random(net, 7);
    cnn_ctx c = {net, NULL, NULL, 3};
    size_t nin = (size_t)c.B * es_cnn_in_size(net), nout = (size_t)c.B * es_cnn_out_size(net), np;
    c.x = malloc(nin * sizeof(float));
    c.r = malloc(nout * sizeof(float));
    float *dx = malloc(nin * sizeof(float));
    es_rng rng;
    es_rng_seed(&rng, 8);
    fill(c.x, nin, &rng, -2, 2);
    fill(c.r, nout, &rng, -1, 1);
    float *p = es_cnn_params(net, &np), *g = es_cnn_grads(net, NULL);
    es_cnn_zero_grad(net);
    cnn_loss(&c);
    assert_int_equal(es_cnn_backward(net, c.r, dx, &err), ES_OK);
    float *ga = malloc(np * sizeof(float));
    memcpy(ga, g, np * sizeof(float));
    int skp, skx;
    double ep = fd_check(cnn_loss, &c, p, ga, np, 1e-3f, 2, &skp), np_rel = g_norm_rel;
    double ex = fd_check(cnn_loss, &c, c.x, dx, nin, 1e-3f, 2, &skx), nx_rel = g_norm_rel;
    print_message("  cnn chain: grad params %.1e (norm %.1e; %d of %zu skipped), input %.1e (norm %.1e; %d of %zu skipped)\n",
                  ep, np_rel, skp, np, ex, nx_rel, skx, nin);
    /* A weight moves many outputs, so a step can flip one of many pooled
     * maxima and change the slope by less than the kink detector sees:
     * and float rounding of the loss (about 1e-7 of it, over a step of 2e-3)
     * is large next to the smallest input gradients: elements are allowed
     * CHAIN_TOL, the whole gradient TOL norm-wise. The
     * layers themselves are checked strictly above; a wiring mistake here
     * would give errors of order 1. */
    assert_true(ep < CHAIN_TOL);
    assert_true(ex < CHAIN_TOL);
    assert_true(np_rel < TOL);
    assert_true(nx_rel < TOL);
    assert_true(skp < (int)np / 10 + 1);
    assert_true(skx < (int)nin / 10 + 1);
    /* the gradients accumulate over two backward passes */
    cnn_loss(&c);
    assert_int_equal(es_cnn_backward(net, c.r, NULL, &err), ES_OK);
    for (size_t i = 0; i < np; i++) assert_true(fabsf(g[i] - 2 * ga[i]) <= 1e-4f * (1 + fabsf(ga[i])));
    free(ga); free(c.x); free(c.r); free(dx);
    es_cnn_free(net);
}

/* A batch split into parts (replicas sharing the parameters, their
 * gradients added in order) gives what one thread gives, bit for bit:
 * the cut depends on the batch size, never on the thread count. */
static void test_cnn_threads(void **state)
{
    (void)state;
    es_cnn_layer L[4] = {
        {.co = 4, .kt = 3, .kf = 3, .pt = 1, .pf = 1, .act = 1},
        {.pool = 1, .qt = 2, .qf = 2},
        {.co = 6, .kt = 3, .kf = 1, .act = 1},
        {.co = 3, .kt = 1, .kf = 3, .pf = 1},
    };
    es_error err = {0};
    es_cnn *net = es_cnn_create(L, 4, 11, 8, 1, 0.2f, -0.4f, &err);
    assert_non_null(net);
    es_cnn_init_random(net, 3);
    const int B = 19;   /* not a multiple of the parts */
    size_t nin = (size_t)B * es_cnn_in_size(net), nout = (size_t)B * es_cnn_out_size(net), np;
    float *x = malloc(nin * sizeof(float)), *dy = malloc(nout * sizeof(float));
    float *y[2], *dx[2], *g[2];
    es_rng rng;
    es_rng_seed(&rng, 4);
    fill(x, nin, &rng, -2, 2);
    fill(dy, nout, &rng, -1, 1);
    es_cnn_params(net, &np);
    for (int t = 0; t < 2; t++) {
        es_set_threads(t ? 4 : 1);
        y[t] = malloc(nout * sizeof(float)); dx[t] = malloc(nin * sizeof(float)); g[t] = malloc(np * sizeof(float));
        es_cnn_zero_grad(net);
        const float *o = es_cnn_forward(net, x, B, &err);
        assert_non_null(o);
        memcpy(y[t], o, nout * sizeof(float));
        assert_int_equal(es_cnn_backward(net, dy, dx[t], &err), ES_OK);
        memcpy(g[t], es_cnn_grads(net, NULL), np * sizeof(float));
    }
    es_set_threads(0);
    double ey = 0, ex = 0, eg = 0, gmax = 0;
    for (size_t i = 0; i < np; i++) gmax = fmax(gmax, fabs(g[0][i]));
    for (size_t i = 0; i < nout; i++) ey = fmax(ey, fabs(y[0][i] - y[1][i]));
    for (size_t i = 0; i < nin; i++) ex = fmax(ex, fabs(dx[0][i] - dx[1][i]));
    for (size_t i = 0; i < np; i++) eg = fmax(eg, fabs(g[0][i] - g[1][i]) / gmax);
    print_message("  one thread vs four: output %.1e, input gradient %.1e, parameter gradients %.1e (of the largest)\n",
                  ey, ex, eg);
    assert_true(ey < 1e-5);
    assert_true(ex < 1e-5);
    assert_true(eg < 1e-5);
    /* and the same bits: the batch is cut by its size, not by the thread
     * count, so --finetune trains the same weights with -t 1 and -t 4 */
    assert_memory_equal(y[0], y[1], nout * sizeof(float));
    assert_memory_equal(dx[0], dx[1], nin * sizeof(float));
    assert_memory_equal(g[0], g[1], np * sizeof(float));
    /* three threads for four parts: one thread runs two of them */
    es_set_threads(3);
    es_cnn_zero_grad(net);
    assert_non_null(es_cnn_forward(net, x, B, &err));
    assert_int_equal(es_cnn_backward(net, dy, dx[1], &err), ES_OK);
    es_set_threads(0);
    assert_memory_equal(dx[0], dx[1], nin * sizeof(float));
    assert_memory_equal(g[0], es_cnn_grads(net, NULL), np * sizeof(float));
    for (int t = 0; t < 2; t++) { free(y[t]); free(dx[t]); free(g[t]); }
    free(x); free(dy);
    es_cnn_free(net);
}

static void test_cnn_bad(void **state)
{
    (void)state;
    es_error err = {0};
    es_cnn_layer L[1] = {{.co = 2, .kt = 5, .kf = 1}};
    assert_null(es_cnn_create(L, 1, 3, 4, 1, 0.2f, -0.4f, &err));   /* kernel longer than the input */
    assert_int_equal(err.status, ES_ERR_ARG);
    assert_null(es_cnn_create(L, 0, 3, 4, 1, 0.2f, -0.4f, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_grad),
        cmocka_unit_test(test_pool_grad),
        cmocka_unit_test(test_act_grad),
        cmocka_unit_test(test_cnn_grad),
        cmocka_unit_test(test_cnn_threads),
        cmocka_unit_test(test_cnn_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
