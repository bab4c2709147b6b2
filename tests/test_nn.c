/* The training core (model/nn.c): finite-difference checks of every
 * backward pass, layer by layer and through whole heads; AdamW and the
 * learning-rate schedule; training on small synthetic tasks (balanced and
 * imbalanced), early stopping, determinism, and refusal of bad input.
 *
 * Gradient checks. Layers: central differences on the float code with eps
 * 1e-3 and a scalar loss L = sum(r * out) for fixed random r (or the
 * cross-entropy itself), accumulated in double. Whole heads: the same
 * through the float forward, and central differences (step 1e-5) of an
 * independent double-precision forward (see "the whole head"). The error of
 * an element is
 *   |analytic - numeric| / max(|analytic|, |numeric|, 1e-2 * max|numeric|)
 * (max over the tensor): relative, except that elements whose gradient is
 * tiny next to the rest of the tensor are compared on the tensor's scale,
 * because rounding in the loss is absolute, not relative to each element.
 * Each check prints that maximum and the norm-wise ||a - n|| / ||n||. */
#include "test_util.h"
#include "../model/nn.h"

#include <math.h>
#include <string.h>

#define EPS 1e-3f
#define TOL 1e-2

static float urand(es_rng *r, float lo, float hi) { return lo + (hi - lo) * es_rng_uniform(r); }

static void fill(float *a, size_t n, es_rng *r, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) a[i] = urand(r, lo, hi);
}

/* ------------------------------------------------------------ the checker */

typedef double (*loss_fn)(void *ctx);

typedef struct {
    double max_rel;    /* element-wise error as defined at the top */
    double norm_rel;   /* ||a - n|| / ||n|| */
    int n, skipped;
} fd_result;

/* Compare analytic gradients with numeric ones (skip[i]: not comparable). */
static fd_result compare(const double *num, const char *skip, const float *ana, size_t n)
{
    fd_result r = {0, 0, (int)n, 0};
    double nmax = 0, dn = 0, nn = 0;
    for (size_t i = 0; i < n; i++)
        if (!skip[i]) nmax = fmax(nmax, fabs(num[i]));
        else r.skipped++;
    for (size_t i = 0; i < n; i++) {
        if (skip[i]) continue;
        double d = fabs((double)ana[i] - num[i]);
        double den = fmax(fmax(fabs((double)ana[i]), fabs(num[i])), 1e-2 * nmax);
        if (den > 0 && d / den > r.max_rel) {
            r.max_rel = d / den;
            if (getenv("NN_DEBUG")) print_message("      [%zu] analytic %.6e numeric %.6e (tensor max %.3e)\n", i, ana[i], num[i], nmax);
        }
        dn += d * d;
        nn += num[i] * num[i];
    }
    r.norm_rel = nn > 0 ? sqrt(dn / nn) : sqrt(dn);
    return r;
}

/* Where the one-sided slopes disagree, a ReLU or a max switched inside the
 * step: there the central difference does not estimate the derivative at
 * the point, so the element is skipped (and counted). Away from kinks the
 * slopes differ by about f'' * h, far below this threshold. */
static int at_kink(double fp, double f0, double fm, double h)
{
    double dp = (fp - f0) / h, dm = (f0 - fm) / h;
    return fabs(dp - dm) > 0.05 * fmax(fabs(dp), fabs(dm)) + 1e-3;
}

/* Numeric gradient of f with respect to the float array p[0..n), central
 * differences with step EPS, compared with ana[]. kinks (the whole heads
 * through their float forward): also a step of 3 EPS, steps with a kink
 * inside left out and an element with a kink at both skipped
 * (test_fd_slope). With one step, the rounding of the float forward was
 * 0.125 of the smallest input gradients with OpenBLAS's Prescott, Nehalem
 * and Sandybridge kernels (0.05 with Haswell's), against a limit of 0.1. */
static fd_result fd_check(loss_fn f, void *ctx, float *p, const float *ana, size_t n, int kinks)
{
    double *num = malloc(n * sizeof *num);
    char *skip = calloc(n, 1);
    double f0 = kinks ? f(ctx) : 0;
    for (size_t i = 0; i < n; i++) {
        num[i] = test_fd_slope(f, ctx, &p[i], EPS, kinks ? 2 : 1, kinks, f0, ana[i]);
        skip[i] = isnan(num[i]);
    }
    fd_result r = compare(num, skip, ana, n);
    free(num);
    free(skip);
    return r;
}

/* The same on a double array with step 1e-5, for a loss computed in double:
 * rounding then contributes ~1e-16 / 1e-5 and truncation ~1e-10, so the
 * comparison measures the float analytic gradient itself. */
#define EPS_D 1e-5
static fd_result fd_check_d(loss_fn f, void *ctx, double *p, const float *ana, size_t n)
{
    double *num = malloc(n * sizeof *num);
    char *skip = calloc(n, 1);
    double f0 = f(ctx);
    for (size_t i = 0; i < n; i++) {
        double keep = p[i];
        p[i] = keep + EPS_D;
        double fp = f(ctx);
        p[i] = keep - EPS_D;
        double fm = f(ctx);
        p[i] = keep;
        num[i] = (fp - fm) / (2 * EPS_D);
        if (at_kink(fp, f0, fm, EPS_D)) skip[i] = 1;
    }
    fd_result r = compare(num, skip, ana, n);
    free(num);
    free(skip);
    return r;
}

static double g_worst = 0, g_worst_f = 0;

static void report_line(const char *what, fd_result r)
{
    print_message("    %-44s max rel err %.2e  norm rel err %.2e  (%d elements%s", what, r.max_rel, r.norm_rel, r.n,
                  r.skipped ? "" : ")\n");
    if (r.skipped) print_message(", %d skipped at kinks)\n", r.skipped);
    assert_true(r.skipped * 20 <= r.n);   /* kinks are rare, not the rule */
}

/* the element-wise check, for numeric gradients that are accurate enough */
static void report(const char *what, fd_result r)
{
    report_line(what, r);
    g_worst = fmax(g_worst, r.max_rel);
    assert_true(r.max_rel < TOL);
}

/* sum r * y in double */
static double dot(const float *r, const float *y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * y[i];
    return s;
}

/* ------------------------------------------------------------ layers */

enum { LB = 3, LIN = 5, LOUT = 4 };

typedef struct {
    float x[LB * LIN], w[LOUT * LIN], b[LOUT], y[LB * LOUT], r[LB * LOUT];
} lin_ctx;

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    es_linear_forward(c->y, c->x, c->w, c->b, LB, LIN, LOUT);
    return dot(c->r, c->y, LB * LOUT);
}

static void test_linear_grad(void **state)
{
    (void)state;
    es_rng g;
    es_rng_seed(&g, 1);
    lin_ctx c;
    fill(c.x, LB * LIN, &g, -1, 1);
    fill(c.w, LOUT * LIN, &g, -1, 1);
    fill(c.b, LOUT, &g, -1, 1);
    fill(c.r, LB * LOUT, &g, -1, 1);
    /* the forward against a direct loop */
    lin_loss(&c);
    for (int i = 0; i < LB; i++)
        for (int o = 0; o < LOUT; o++) {
            double s = c.b[o];
            for (int k = 0; k < LIN; k++) s += (double)c.x[i * LIN + k] * c.w[o * LIN + k];
            assert_float_equal(c.y[i * LOUT + o], s, 1e-5);
        }
    float dx[LB * LIN], dw[LOUT * LIN] = {0}, db[LOUT] = {0};
    es_linear_backward(dx, dw, db, c.r, c.x, c.w, LB, LIN, LOUT);
    report("linear dx", fd_check(lin_loss, &c, c.x, dx, LB * LIN, 0));
    report("linear dW", fd_check(lin_loss, &c, c.w, dw, LOUT * LIN, 0));
    report("linear db", fd_check(lin_loss, &c, c.b, db, LOUT, 0));
    /* parameter gradients accumulate, dx is overwritten, NULL dx is skipped */
    float dw1 = dw[3], db1 = db[1], dx0 = dx[0];
    es_linear_backward(NULL, dw, db, c.r, c.x, c.w, LB, LIN, LOUT);
    es_linear_backward(dx, dw, db, c.r, c.x, c.w, LB, LIN, LOUT);
    assert_float_equal(dw[3], 3 * dw1, 1e-5);
    assert_float_equal(db[1], 3 * db1, 1e-5);
    assert_float_equal(dx[0], dx0, 0);
}

enum { NB = 3, NC = 7 };

typedef struct {
    float x[NB * NC], g[NC], b[NC], y[NB * NC], r[NB * NC], mean[NB], rstd[NB];
} ln_ctx;

static double ln_loss(void *p)
{
    ln_ctx *c = p;
    es_layernorm_forward(c->y, c->mean, c->rstd, c->x, c->g, c->b, NB, NC);
    return dot(c->r, c->y, NB * NC);
}

static void test_layernorm_grad(void **state)
{
    (void)state;
    es_rng g;
    es_rng_seed(&g, 2);
    ln_ctx c;
    fill(c.x, NB * NC, &g, -2, 2);
    for (int i = 0; i < NC; i++) c.x[NC + i] += 5;   /* an offset row: the mean matters */
    fill(c.g, NC, &g, 0.5f, 1.5f);
    fill(c.b, NC, &g, -0.5f, 0.5f);
    fill(c.r, NB * NC, &g, -1, 1);
    ln_loss(&c);
    /* the forward against the formula (biased variance, eps inside the root) */
    for (int i = 0; i < NB; i++) {
        double m = 0, v = 0;
        for (int k = 0; k < NC; k++) m += c.x[i * NC + k];
        m /= NC;
        for (int k = 0; k < NC; k++) v += (c.x[i * NC + k] - m) * (c.x[i * NC + k] - m);
        v /= NC;
        for (int k = 0; k < NC; k++)
            assert_float_equal(c.y[i * NC + k], (c.x[i * NC + k] - m) / sqrt(v + 1e-5) * c.g[k] + c.b[k], 1e-5);
    }
    float dx[NB * NC], dg[NC] = {0}, db[NC] = {0};
    es_layernorm_backward(dx, dg, db, c.r, c.x, c.mean, c.rstd, c.g, NB, NC);
    report("layernorm dx", fd_check(ln_loss, &c, c.x, dx, NB * NC, 0));
    report("layernorm dgamma", fd_check(ln_loss, &c, c.g, dg, NC, 0));
    report("layernorm dbeta", fd_check(ln_loss, &c, c.b, db, NC, 0));
}

enum { RN = 40 };

typedef struct {
    float x[RN], y[RN], r[RN], mask[RN];
} ew_ctx;

static double relu_loss(void *p)
{
    ew_ctx *c = p;
    es_relu_forward(c->y, c->x, RN);
    return dot(c->r, c->y, RN);
}

static double drop_loss(void *p)
{
    ew_ctx *c = p;
    es_dropout_forward(c->y, c->x, c->mask, RN);
    return dot(c->r, c->y, RN);
}

static void test_relu_dropout_grad(void **state)
{
    (void)state;
    es_rng g;
    es_rng_seed(&g, 3);
    ew_ctx c;
    /* away from the kink at 0, where no derivative exists */
    for (int i = 0; i < RN; i++) c.x[i] = (es_rng_uniform(&g) < 0.5f ? -1 : 1) * urand(&g, 0.05f, 2);
    fill(c.r, RN, &g, -1, 1);
    float dx[RN];
    es_relu_backward(dx, c.r, c.x, RN);
    report("relu dx", fd_check(relu_loss, &c, c.x, dx, RN, 0));
    /* in place, as the head uses it */
    memcpy(dx, c.r, sizeof dx);
    es_relu_backward(dx, dx, c.x, RN);
    for (int i = 0; i < RN; i++) assert_float_equal(dx[i], c.x[i] > 0 ? c.r[i] : 0, 0);

    fill(c.x, RN, &g, -2, 2);
    es_dropout_mask(c.mask, RN, 0.4f, &g);
    int dropped = 0;
    for (int i = 0; i < RN; i++) {
        assert_true(c.mask[i] == 0.0f || c.mask[i] == 1.0f / 0.6f);
        dropped += c.mask[i] == 0.0f;
    }
    assert_true(dropped > 0 && dropped < RN);
    es_dropout_backward(dx, c.r, c.mask, RN);
    report("dropout dx (fixed mask)", fd_check(drop_loss, &c, c.x, dx, RN, 0));

    /* the drop rate and the mean are right on a large mask */
    size_t n = 100000;
    float *mk = malloc(n * sizeof *mk);
    es_dropout_mask(mk, n, 0.3f, &g);
    double sum = 0;
    size_t z = 0;
    for (size_t i = 0; i < n; i++) { sum += mk[i]; z += mk[i] == 0; }
    assert_true(fabs((double)z / n - 0.3) < 0.01);
    assert_true(fabs(sum / n - 1.0) < 0.02);   /* inverted scaling keeps the expectation */
    free(mk);
}

enum { PB = 2, PW = 4, PD = 5 };

typedef struct {
    es_pool kind;
    float x[PB * PW * PD], y[PB * 2 * PW * PD], r[PB * PW * PD];
    int arg[PB * PD];
} pool_ctx;

static double pool_loss(void *p)
{
    pool_ctx *c = p;
    es_pool_forward(c->y, c->arg, c->x, c->kind, PB, PW, PD);
    return dot(c->r, c->y, (size_t)PB * es_pool_dim(c->kind, PW, PD));
}

static void test_pool_grad(void **state)
{
    (void)state;
    es_rng g;
    es_rng_seed(&g, 4);
    pool_ctx c;
    /* per (b, d), the W values are a shuffled ladder 0.3 apart plus small
     * noise: no two are within eps, so the max never switches */
    for (int b = 0; b < PB; b++)
        for (int d = 0; d < PD; d++) {
            int perm[PW];
            for (int t = 0; t < PW; t++) perm[t] = t;
            for (int t = PW - 1; t > 0; t--) {
                int j = (int)es_rng_below(&g, (uint64_t)t + 1), s = perm[t];
                perm[t] = perm[j];
                perm[j] = s;
            }
            for (int t = 0; t < PW; t++) c.x[(b * PW + t) * PD + d] = 0.3f * perm[t] - 0.5f + urand(&g, 0, 0.05f);
        }
    fill(c.r, PB * PW * PD, &g, -1, 1);
    for (int k = ES_POOL_FLAT; k <= ES_POOL_MEANSTD; k++) {
        c.kind = (es_pool)k;
        pool_loss(&c);
        /* the forward against direct formulas for one (b, d) */
        int P = es_pool_dim(c.kind, PW, PD), b = 1, d = 2;
        double mean = 0, mx = -1e9, var = 0;
        for (int t = 0; t < PW; t++) { mean += c.x[(b * PW + t) * PD + d]; mx = fmax(mx, c.x[(b * PW + t) * PD + d]); }
        mean /= PW;
        for (int t = 0; t < PW; t++) var += pow(c.x[(b * PW + t) * PD + d] - mean, 2) / PW;
        const float *yb = c.y + b * P;
        if (k == ES_POOL_FLAT) assert_float_equal(yb[3 * PD + d], c.x[(b * PW + 3) * PD + d], 0);
        if (k == ES_POOL_MEAN || k == ES_POOL_MEANMAX || k == ES_POOL_MEANSTD) assert_float_equal(yb[d], mean, 1e-6);
        if (k == ES_POOL_MAX) assert_float_equal(yb[d], mx, 0);
        if (k == ES_POOL_MEANMAX) assert_float_equal(yb[PD + d], mx, 0);
        if (k == ES_POOL_MEANSTD) assert_float_equal(yb[PD + d], sqrt(var + 1e-5), 1e-6);

        float dx[PB * PW * PD];
        es_pool_backward(dx, c.r, c.x, c.y, c.arg, c.kind, PB, PW, PD);
        char what[64];
        snprintf(what, sizeof what, "pool %s dx", es_pool_name(c.kind));
        report(what, fd_check(pool_loss, &c, c.x, dx, PB * PW * PD, 0));
    }
    /* names round trip; unknown names are refused */
    for (int k = ES_POOL_FLAT; k <= ES_POOL_MEANSTD; k++) {
        es_pool p;
        assert_int_equal(es_pool_parse(es_pool_name((es_pool)k), &p, NULL), ES_OK);
        assert_int_equal(p, k);
    }
    es_pool p;
    es_error e = {0};
    assert_int_equal(es_pool_parse("median", &p, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "median"));
}

enum { SB = 5, SK = 4 };

typedef struct {
    float z[SB * SK], probs[SB * SK], losses[SB];
    int y[SB];
    const float *cw;
} ce_ctx;

static double ce_loss(void *p)
{
    ce_ctx *c = p;
    return es_softmax_ce_forward(c->probs, c->losses, c->z, c->y, c->cw, SB, SK);
}

static const int MIX_Y2[SB] = {2, 1, 0, 3, 0};

/* the mixup loss, share 0.7, written out independently of the library */
static double mix_loss(void *p)
{
    ce_ctx *c = p;
    double num = 0, den = 0;
    for (int b = 0; b < SB; b++) {
        double mx = -1e30, s = 0;
        for (int k = 0; k < SK; k++) mx = fmax(mx, c->z[b * SK + k]);
        for (int k = 0; k < SK; k++) s += exp(c->z[b * SK + k] - mx);
        double lse = mx + log(s);
        double l = 0.7 * (lse - c->z[b * SK + c->y[b]]) + 0.3 * (lse - c->z[b * SK + MIX_Y2[b]]);
        double w = c->cw ? c->cw[c->y[b]] : 1;
        num += w * l;
        den += w;
    }
    return num / den;
}

/* the label-smoothed loss, eps 0.2, written out independently of the library */
static double ls_loss(void *p)
{
    ce_ctx *c = p;
    double num = 0, den = 0;
    for (int b = 0; b < SB; b++) {
        double mx = -1e30, s = 0;
        for (int k = 0; k < SK; k++) mx = fmax(mx, c->z[b * SK + k]);
        for (int k = 0; k < SK; k++) s += exp(c->z[b * SK + k] - mx);
        double lse = mx + log(s), uni = 0;
        for (int k = 0; k < SK; k++) uni += (lse - c->z[b * SK + k]) / SK;
        double l = 0.8 * (lse - c->z[b * SK + c->y[b]]) + 0.2 * uni, w = c->cw ? c->cw[c->y[b]] : 1;
        num += w * l;
        den += w;
    }
    return num / den;
}

static void test_softmax_ce_grad(void **state)
{
    (void)state;
    es_rng g;
    es_rng_seed(&g, 5);
    ce_ctx c;
    fill(c.z, SB * SK, &g, -3, 3);
    int ys[SB] = {0, 1, 3, 1, 2};
    memcpy(c.y, ys, sizeof ys);
    const float cw[SK] = {0.5f, 2.0f, 1.0f, 3.0f};
    for (int weighted = 0; weighted < 2; weighted++) {
        c.cw = weighted ? cw : NULL;
        double L = ce_loss(&c);
        /* PyTorch's weighted mean: sum w_y l / sum w_y */
        double num = 0, den = 0;
        for (int b = 0; b < SB; b++) {
            double s = 0;
            for (int k = 0; k < SK; k++) s += exp(c.z[b * SK + k]);
            double l = -log(exp(c.z[b * SK + c.y[b]]) / s), w = weighted ? cw[c.y[b]] : 1;
            assert_float_equal(c.losses[b], l, 1e-5);
            num += w * l;
            den += w;
        }
        assert_float_equal(L, num / den, 1e-5);
        float dz[SB * SK];
        es_softmax_ce_backward(dz, c.probs, c.y, c.cw, SB, SK);
        report(weighted ? "softmax-CE dlogits (class weights)" : "softmax-CE dlogits", fd_check(ce_loss, &c, c.z, dz, SB * SK, 0));
    }
    /* label smoothing eps: the loss (1-eps) CE + eps mean_k(-log p_k),
     * weighted as CE is; its gradient is CE's plus es_label_smooth_backward */
    for (int weighted = 0; weighted < 2; weighted++) {
        c.cw = weighted ? cw : NULL;
        float dz[SB * SK];
        ce_loss(&c);
        es_softmax_ce_backward(dz, c.probs, c.y, c.cw, SB, SK);
        es_label_smooth_backward(dz, c.y, c.cw, SB, SK, 0.2f);
        report(weighted ? "label-smoothed CE dlogits (class weights)" : "label-smoothed CE dlogits",
               fd_check(ls_loss, &c, c.z, dz, SB * SK, 0));
    }
    /* mixup with share 0.7: the loss 0.7 CE(y) + 0.3 CE(y2), weighted by
     * y's class weight; its gradient is CE's for y plus es_mix_backward */
    for (int weighted = 0; weighted < 2; weighted++) {
        c.cw = weighted ? cw : NULL;
        float dz[SB * SK];
        ce_loss(&c);
        es_softmax_ce_backward(dz, c.probs, c.y, c.cw, SB, SK);
        es_mix_backward(dz, c.y, MIX_Y2, c.cw, SB, SK, 0.7f);
        report(weighted ? "mixup CE dlogits (class weights)" : "mixup CE dlogits", fd_check(mix_loss, &c, c.z, dz, SB * SK, 0));
    }
    /* large logits stay finite */
    float z[2] = {1000.0f, -1000.0f}, pr[2], l;
    int y = 1;
    double L = es_softmax_ce_forward(pr, &l, z, &y, NULL, 1, 2);
    assert_true(isfinite(L) && fabs(L - 2000.0f) < 1e-2);
}

/* ------------------------------------------------------------ the whole head */

/* Two checks per configuration: finite differences through the library's
 * own float forward (the backward must be consistent with what runs; float
 * rounding inside the net limits these to ~1e-5 absolute, so only the
 * norm-wise error is held to 1e-2 there), and finite differences of an
 * independent double-precision forward written below from the documented
 * architecture, which first must agree with the float forward, and then
 * gives numeric gradients accurate enough for the element-wise 1e-2. */

enum { MB = 4, MW = 3, MD = 4, MK = 3 };

typedef struct {
    es_mlp *m;
    const es_mlp_cfg *cfg;
    float x[MB * MW * MD];
    int y[MB];
    float cw[MK];
    int train;
    /* the double reference */
    double *p;                      /* copy of the parameter buffer */
    double xd[MB * MW * MD];
    float *mask[ES_MLP_MAX_HIDDEN + 1];
    double logits[MB * MK];
} mlp_ctx;

static double mlp_loss(void *p)
{
    mlp_ctx *c = p;
    es_rng r;
    es_rng_seed(&r, 99);   /* the same dropout masks on every evaluation */
    assert_non_null(es_mlp_forward(c->m, c->x, MB, c->train, &r, NULL));
    double L;
    assert_int_equal(es_mlp_loss(c->m, c->y, c->cw, &L, NULL), ES_OK);
    return L;
}

static const double *ref_tensor(mlp_ctx *c, const char *fmt, int i)
{
    char name[32];
    snprintf(name, sizeof name, fmt, i);
    const es_param_info *t = es_mlp_find(c->m, name);
    assert_non_null(t);
    return c->p + t->offset;
}

/* pool -> {Linear -> LayerNorm -> ReLU -> Dropout} x L -> (Dropout if L = 0)
 * -> Linear -> weighted softmax-CE, all in double */
static double ref_loss(void *p)
{
    mlp_ctx *c = p;
    const es_mlp_cfg *cf = c->cfg;
    int W = cf->window, D = cf->dim, P = es_pool_dim(cf->pool, W, D), L = cf->n_hidden;
    double a[MB * 64], nx[MB * 64];
    for (int b = 0; b < MB; b++) {
        const double *xb = c->xd + b * W * D;
        double *o = a + b * P;
        for (int d = 0; d < D; d++) {
            double mean = 0, mx = xb[d], var = 0;
            for (int t = 0; t < W; t++) { mean += xb[t * D + d] / W; mx = fmax(mx, xb[t * D + d]); }
            for (int t = 0; t < W; t++) var += (xb[t * D + d] - mean) * (xb[t * D + d] - mean) / W;
            switch (cf->pool) {
            case ES_POOL_FLAT: for (int t = 0; t < W; t++) o[t * D + d] = xb[t * D + d]; break;
            case ES_POOL_MEAN: o[d] = mean; break;
            case ES_POOL_MAX: o[d] = mx; break;
            case ES_POOL_MEANMAX: o[d] = mean; o[D + d] = mx; break;
            case ES_POOL_MEANSTD: o[d] = mean; o[D + d] = sqrt(var + 1e-5); break;
            }
        }
    }
    int in = P;
    for (int i = 0; i <= L; i++) {
        int out = i < L ? cf->hidden[i] : cf->n_classes;
        if (c->mask[i])
            for (int k = 0; k < MB * in; k++) a[k] *= c->mask[i][k];
        const double *w = ref_tensor(c, "head.%d.weight", i), *bias = ref_tensor(c, "head.%d.bias", i);
        double *z = i < L ? nx : c->logits;
        for (int b = 0; b < MB; b++)
            for (int o = 0; o < out; o++) {
                double s = bias[o];
                for (int k = 0; k < in; k++) s += a[b * in + k] * w[o * in + k];
                z[b * out + o] = s;
            }
        if (i < L) {
            const double *g = ref_tensor(c, "head.%d.ln.weight", i), *be = ref_tensor(c, "head.%d.ln.bias", i);
            for (int b = 0; b < MB; b++) {
                double m = 0, v = 0;
                for (int o = 0; o < out; o++) m += z[b * out + o] / out;
                for (int o = 0; o < out; o++) v += (z[b * out + o] - m) * (z[b * out + o] - m) / out;
                for (int o = 0; o < out; o++)
                    a[b * out + o] = fmax(0, (z[b * out + o] - m) / sqrt(v + 1e-5) * g[o] + be[o]);
            }
        }
        in = out;
    }
    double num = 0, den = 0;
    for (int b = 0; b < MB; b++) {
        const double *z = c->logits + b * MK;
        double mx = z[0], s = 0;
        for (int k = 1; k < MK; k++) mx = fmax(mx, z[k]);
        for (int k = 0; k < MK; k++) s += exp(z[k] - mx);
        num += c->cw[c->y[b]] * (log(s) - (z[c->y[b]] - mx));
        den += c->cw[c->y[b]];
    }
    return num / den;
}

static void check_mlp(int n_hidden, es_pool pool, int train, uint64_t seed)
{
    es_mlp_cfg cfg = {.window = MW, .dim = MD, .pool = pool, .n_hidden = n_hidden, .hidden = {6, 5},
                      .dropout = 0.25f, .n_classes = MK};
    es_error e = {0};
    mlp_ctx c = {.train = train, .cw = {1.0f, 2.5f, 0.7f}, .cfg = &cfg};
    c.m = es_mlp_create(&cfg, seed, &e);
    if (!c.m) fail_msg("%s", e.msg);
    es_rng g;
    es_rng_seed(&g, seed + 1000);
    /* plain random inputs: where a ReLU or a max does switch inside the
     * numeric step, the check notices and skips that element */
    for (int i = 0; i < MB * MW * MD; i++) c.x[i] = urand(&g, -2, 2);
    for (int b = 0; b < MB; b++) c.y[b] = b % MK;
    size_t np;
    float *p = es_mlp_params(c.m, &np);
    /* LayerNorm's gamma = 1, beta = 0 would hide a swapped gradient: perturb */
    for (int t = 0; t < es_mlp_ntensors(c.m); t++) {
        const es_param_info *ti = es_mlp_tensor(c.m, t);
        if (strstr(ti->name, ".ln.")) fill(p + ti->offset, ti->count, &g, 0.5f, 1.5f);
    }
    double L = mlp_loss(&c);
    es_mlp_zero_grad(c.m);
    float dx[MB * MW * MD];
    assert_int_equal(es_mlp_backward(c.m, dx, NULL), ES_OK);
    float *ana = malloc(np * sizeof *ana);
    memcpy(ana, es_mlp_grads(c.m, NULL), np * sizeof *ana);

    char what[96], name[64];
    snprintf(name, sizeof name, "mlp %s %s%s", n_hidden ? (n_hidden == 1 ? "1x6" : "6,5") : "linear",
             es_pool_name(pool), train ? " +dropout" : "");
    fd_result r;
    snprintf(what, sizeof what, "%s params (float fwd)", name);
    report_line(what, r = fd_check(mlp_loss, &c, p, ana, np, 1));
    g_worst_f = fmax(g_worst_f, r.max_rel);
    assert_true(r.norm_rel < TOL && r.max_rel < 0.1);
    snprintf(what, sizeof what, "%s dx (float fwd)", name);
    report_line(what, r = fd_check(mlp_loss, &c, c.x, dx, MB * MW * MD, 1));
    g_worst_f = fmax(g_worst_f, r.max_rel);
    assert_true(r.norm_rel < TOL && r.max_rel < 0.1);

    /* the reference: same parameters and inputs, the masks the head drew
     * (one per Dropout, in layer order, from the rng seeded in mlp_loss) */
    c.p = malloc(np * sizeof *c.p);
    for (size_t i = 0; i < np; i++) c.p[i] = p[i];
    for (int i = 0; i < MB * MW * MD; i++) c.xd[i] = c.x[i];
    es_rng r99;
    es_rng_seed(&r99, 99);
    int dims[4] = {es_pool_dim(pool, MW, MD), 6, 5, 0};
    for (int i = 0; i <= n_hidden; i++)
        if (train && (i > 0 || n_hidden == 0)) {
            c.mask[i] = malloc((size_t)MB * dims[i] * sizeof(float));
            es_dropout_mask(c.mask[i], (size_t)MB * dims[i], cfg.dropout, &r99);
        }
    double Lr = ref_loss(&c);
    const float *z = es_mlp_forward(c.m, c.x, MB, train, (es_rng_seed(&r99, 99), &r99), NULL);
    for (int i = 0; i < MB * MK; i++) assert_float_equal(z[i], c.logits[i], 1e-5 * fmax(1, fabs(c.logits[i])));
    assert_float_equal(L, Lr, 1e-6 * fmax(1, fabs(Lr)));
    snprintf(what, sizeof what, "%s params (double ref)", name);
    report(what, fd_check_d(ref_loss, &c, c.p, ana, np));
    snprintf(what, sizeof what, "%s dx (double ref)", name);
    report(what, fd_check_d(ref_loss, &c, c.xd, dx, MB * MW * MD));
    for (int i = 0; i <= ES_MLP_MAX_HIDDEN; i++) free(c.mask[i]);
    free(c.p);
    free(ana);
    es_mlp_free(c.m);
}

static void test_mlp_grad(void **state)
{
    (void)state;
    uint64_t seed = 10;
    for (int k = ES_POOL_FLAT; k <= ES_POOL_MEANSTD; k++) {
        check_mlp(0, (es_pool)k, 0, seed++);
        check_mlp(2, (es_pool)k, 0, seed++);
        check_mlp(2, (es_pool)k, 1, seed++);
    }
    check_mlp(0, ES_POOL_FLAT, 1, seed++);
    check_mlp(1, ES_POOL_MEANMAX, 1, seed++);
}

static void test_mlp_layout(void **state)
{
    (void)state;
    es_mlp_cfg cfg = {.window = 16, .dim = 96, .pool = ES_POOL_FLAT, .n_hidden = 2, .hidden = {128, 64},
                      .dropout = 0.1f, .n_classes = 10};
    es_mlp *m = es_mlp_create(&cfg, 7, NULL);
    assert_non_null(m);
    static const struct { const char *name; int d0, d1; } want[] = {
        {"head.0.weight", 128, 1536}, {"head.0.bias", 128, 0}, {"head.0.ln.weight", 128, 0}, {"head.0.ln.bias", 128, 0},
        {"head.1.weight", 64, 128}, {"head.1.bias", 64, 0}, {"head.1.ln.weight", 64, 0}, {"head.1.ln.bias", 64, 0},
        {"head.2.weight", 10, 64}, {"head.2.bias", 10, 0}};
    assert_int_equal(es_mlp_ntensors(m), 10);
    size_t np, off = 0;
    float *p = es_mlp_params(m, &np);
    const uint8_t *dm = es_mlp_decay_mask(m);
    for (int i = 0; i < 10; i++) {
        const es_param_info *t = es_mlp_tensor(m, i);
        assert_string_equal(t->name, want[i].name);
        assert_int_equal(t->shape[0], want[i].d0);
        assert_int_equal(t->ndim, want[i].d1 ? 2 : 1);
        if (want[i].d1) assert_int_equal(t->shape[1], want[i].d1);
        assert_int_equal(t->offset, off);
        off += t->count;
        assert_ptr_equal(es_mlp_find(m, want[i].name), t);
        /* decay on Linear weights only */
        int w = !strstr(t->name, ".ln.") && strstr(t->name, ".weight") != NULL;
        assert_int_equal(t->decay, w);
        for (size_t k = 0; k < t->count; k++) assert_int_equal(dm[t->offset + k], w);
        /* init: U(+-1/sqrt(in)) for Linear, LayerNorm 1 and 0 */
        const float *v = p + t->offset;
        if (strstr(t->name, ".ln.weight")) { for (size_t k = 0; k < t->count; k++) assert_true(v[k] == 1.0f); }
        else if (strstr(t->name, ".ln.bias")) { for (size_t k = 0; k < t->count; k++) assert_true(v[k] == 0.0f); }
        else {
            int in = i < 4 ? 1536 : i < 8 ? 128 : 64;
            double bound = 1 / sqrt(in), mx = 0, s2 = 0;
            for (size_t k = 0; k < t->count; k++) { mx = fmax(mx, fabs(v[k])); s2 += (double)v[k] * v[k]; }
            assert_true(mx <= bound);
            if (t->count > 1000) assert_true(fabs(sqrt(s2 / t->count) - bound / sqrt(3)) < 0.02 * bound);
        }
    }
    assert_int_equal(off, np);
    assert_int_equal(np, 1536 * 128 + 3 * 128 + 128 * 64 + 3 * 64 + 64 * 10 + 10);
    assert_null(es_mlp_tensor(m, 10));
    assert_null(es_mlp_find(m, "head.3.weight"));
    /* predict gives probabilities, and the same ones batched or one by one */
    es_rng g;
    es_rng_seed(&g, 1);
    size_t n = 300;   /* more than one internal chunk */
    float *x = malloc(n * 1536 * sizeof *x), *pr = malloc(n * 10 * sizeof *pr), one[10];
    fill(x, n * 1536, &g, -2, 2);
    assert_int_equal(es_mlp_predict(m, x, n, pr, NULL), ES_OK);
    for (size_t i = 0; i < n; i += 37) {
        double s = 0;
        for (int k = 0; k < 10; k++) { assert_true(pr[i * 10 + k] >= 0); s += pr[i * 10 + k]; }
        assert_float_equal(s, 1, 1e-5);
        assert_int_equal(es_mlp_predict(m, x + i * 1536, 1, one, NULL), ES_OK);
        for (int k = 0; k < 10; k++) assert_float_equal(one[k], pr[i * 10 + k], 1e-5);
    }
    free(x);
    free(pr);
    es_mlp_free(m);

    /* configurations that are refused, with a reason */
    es_mlp_cfg bad[] = {
        {.window = 0, .dim = 96, .n_classes = 2},
        {.window = 16, .dim = 96, .pool = (es_pool)9, .n_classes = 2},
        {.window = 16, .dim = 96, .n_hidden = 3, .hidden = {8, 8}, .n_classes = 2},
        {.window = 16, .dim = 96, .n_hidden = 1, .hidden = {0}, .n_classes = 2},
        {.window = 16, .dim = 96, .dropout = 1.0f, .n_classes = 2},
        {.window = 16, .dim = 96, .n_classes = 1},
        {.window = 1 << 20, .dim = 1 << 20, .n_classes = 2},
        {.window = 4096, .dim = 1024, .n_hidden = 1, .hidden = {65536}, .n_classes = 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        es_error e = {0};
        assert_null(es_mlp_create(&bad[i], 1, &e));
        assert_int_not_equal(e.status, ES_OK);
        assert_true(strlen(e.msg) > 0);
    }
    es_mlp_free(NULL);
}

/* ------------------------------------------------------------ optimiser */

static void test_adamw(void **state)
{
    (void)state;
    enum { N = 6 };
    /* f = sum a_i (p_i - c_i)^2 / 2 with very different curvatures */
    const float a[N] = {0.01f, 0.1f, 1, 10, 100, 1000}, cc[N] = {3, -2, 0.5f, 1, -1, 2};
    float p[N] = {0}, gr[N];
    es_adamw o;
    assert_int_equal(es_adamw_init(&o, N, NULL), ES_OK);
    es_adamw_hp hp = {0.05f, 0.9f, 0.999f, 1e-8f, 0.0f};
    for (int t = 0; t < 3000; t++) {
        for (int i = 0; i < N; i++) gr[i] = a[i] * (p[i] - cc[i]);
        float before0 = p[0];
        hp.lr = es_lr_at(ES_LR_COSINE, 0.05f, t, 3000, 100);
        es_adamw_step(&o, p, gr, NULL, &hp);
        /* Adam's first step moves every coordinate by about lr, whatever the gradient's scale */
        if (t == 0) assert_float_equal(fabs(p[0] - before0), hp.lr, 1e-6);
    }
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(p[i] - cc[i]));
    print_message("    adam on a quadratic (curvatures 1e-2..1e3): max |p - p*| = %.2e after 3000 steps\n", worst);
    assert_true(worst < 1e-2);
    es_adamw_free(&o);

    /* decoupled decay with zero gradient: p *= (1 - lr*wd) each step, only where the mask says */
    float q[4] = {1, -2, 3, 4}, zero[4] = {0};
    const uint8_t mask[4] = {1, 1, 0, 1};
    assert_int_equal(es_adamw_init(&o, 4, NULL), ES_OK);
    es_adamw_hp hd = {0.01f, 0.9f, 0.999f, 1e-8f, 0.5f};
    for (int t = 0; t < 100; t++) es_adamw_step(&o, q, zero, mask, &hd);
    double f = pow(1 - 0.01 * 0.5, 100);
    assert_float_equal(q[0], f, 1e-5);
    assert_float_equal(q[1], -2 * f, 1e-5);
    assert_float_equal(q[2], 3, 0);        /* a "bias": untouched */
    assert_float_equal(q[3], 4 * f, 1e-5);
    es_adamw_free(&o);

    /* in a trained head: weights shrink with decay, biases and LayerNorm do not decay */
    es_mlp_cfg cfg = {.window = 2, .dim = 3, .pool = ES_POOL_FLAT, .n_hidden = 1, .hidden = {4}, .n_classes = 2};
    es_mlp *m = es_mlp_create(&cfg, 3, NULL);
    size_t np;
    float *pp = es_mlp_params(m, &np), *g0 = calloc(np, sizeof *g0), *init = malloc(np * sizeof *init);
    memcpy(init, pp, np * sizeof *init);
    assert_int_equal(es_adamw_init(&o, np, NULL), ES_OK);
    for (int t = 0; t < 50; t++) es_adamw_step(&o, pp, g0, es_mlp_decay_mask(m), &hd);
    for (int t = 0; t < es_mlp_ntensors(m); t++) {
        const es_param_info *ti = es_mlp_tensor(m, t);
        for (size_t k = 0; k < ti->count; k++) {
            float v = pp[ti->offset + k], v0 = init[ti->offset + k];
            if (ti->decay) assert_float_equal(v, v0 * pow(1 - 0.005, 50), 1e-6);
            else assert_true(v == v0);
        }
    }
    es_adamw_free(&o);
    free(g0);
    free(init);
    es_mlp_free(m);
}

static void test_lr_schedule(void **state)
{
    (void)state;
    long total = 1000, warm = 100;
    assert_float_equal(es_lr_at(ES_LR_COSINE, 1, 0, total, warm), 0.01, 1e-6);
    assert_float_equal(es_lr_at(ES_LR_COSINE, 1, 49, total, warm), 0.5, 1e-6);
    assert_float_equal(es_lr_at(ES_LR_COSINE, 1, 100, total, warm), 1, 1e-6);
    assert_float_equal(es_lr_at(ES_LR_COSINE, 1, 550, total, warm), 0.5, 1e-6);
    assert_true(es_lr_at(ES_LR_COSINE, 1, 999, total, warm) < 1e-4);
    float prev = 2;
    for (long t = 100; t < total; t++) {
        float l = es_lr_at(ES_LR_COSINE, 1, t, total, warm);
        assert_true(l <= prev && l >= 0);
        prev = l;
    }
    assert_float_equal(es_lr_at(ES_LR_CONSTANT, 0.3f, 500, total, warm), 0.3, 0);
    assert_float_equal(es_lr_at(ES_LR_CONSTANT, 0.3f, 9, total, warm), 0.03, 1e-7);
    assert_float_equal(es_lr_at(ES_LR_COSINE, 0.3f, 0, total, 0), 0.3, 1e-7);
}

static void test_rng(void **state)
{
    (void)state;
    es_rng a, b;
    es_rng_seed(&a, 42);
    es_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) assert_true(es_rng_next(&a) == es_rng_next(&b));
    es_rng_seed(&b, 43);
    assert_true(es_rng_next(&a) != es_rng_next(&b));
    /* the stream is fixed across machines: pin the first value of seed 0 */
    es_rng_seed(&a, 0);
    uint64_t first = es_rng_next(&a);
    print_message("    xoshiro256** seed 0, first output %016llx\n", (unsigned long long)first);
    assert_true(first == 0x99ec5f36cb75f2b4ull);
    double s = 0, s2 = 0, u = 0;
    int n = 200000, below[7] = {0};
    for (int i = 0; i < n; i++) {
        float x = es_rng_normal(&a), v = es_rng_uniform(&a);
        assert_true(v >= 0 && v < 1);
        s += x;
        s2 += x * x;
        u += v;
        below[es_rng_below(&a, 7)]++;
    }
    assert_true(fabs(s / n) < 0.01 && fabs(s2 / n - 1) < 0.02 && fabs(u / n - 0.5) < 0.01);
    for (int k = 0; k < 7; k++) assert_true(fabs(below[k] / (double)n - 1 / 7.0) < 0.005);
    assert_true(es_rng_below(&a, 0) == 0 && es_rng_below(&a, 1) == 0);
}

/* ------------------------------------------------------------ training */

#define TW 4
#define TD 96
#define TDIM (TW * TD)

typedef struct {
    float *x[3];       /* train, validation, held-out test */
    int *y[3];
    size_t n[3];
} dataset;

/* Gaussian clusters in the W x 96 window space: each class has a mean
 * embedding, N(0, sep^2) per value, repeated over the W steps (so pooling
 * over time keeps the information), and an example is that plus N(0, 1)
 * noise; counts[part][k] examples of class k in each part. Two class means
 * are about sep * sqrt(2 * 384) noise sigmas apart. */
static dataset make_data(int K, const int counts[3][4], float sep, uint64_t seed)
{
    es_rng g;
    es_rng_seed(&g, seed);
    float *mu = malloc((size_t)K * TDIM * sizeof *mu);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < TD; j++) {
            float v = sep * es_rng_normal(&g);
            for (int t = 0; t < TW; t++) mu[k * TDIM + t * TD + j] = v;
        }
    dataset d = {0};
    for (int part = 0; part < 3; part++) {
        const int *cn = counts[part];
        for (int k = 0; k < K; k++) d.n[part] += cn[k];
        float *x = d.x[part] = malloc((d.n[part] + 1) * TDIM * sizeof(float));
        int *y = d.y[part] = malloc((d.n[part] + 1) * sizeof(int));
        size_t i = 0;
        /* interleave the classes so nothing depends on the order */
        for (int r = 0, left = 1; left; r++) {
            left = 0;
            for (int k = 0; k < K; k++)
                if (r < cn[k]) {
                    left = 1;
                    for (int j = 0; j < TDIM; j++) x[i * TDIM + j] = mu[k * TDIM + j] + es_rng_normal(&g);
                    y[i++] = k;
                }
        }
    }
    free(mu);
    return d;
}

static void free_data(dataset *d)
{
    for (int i = 0; i < 3; i++) {
        free(d->x[i]);
        free(d->y[i]);
    }
}

typedef struct {
    int n;
    float loss[512], acc[512];
} trace;

static void record(void *u, int epoch, float tl, float vl, float va)
{
    trace *t = u;
    (void)tl;
    assert_int_equal(epoch, t->n + 1);
    t->loss[t->n] = vl;
    t->acc[t->n] = va;
    t->n++;
}

static es_mlp *head(int n_hidden, int H, es_pool pool, int K, uint64_t seed)
{
    es_mlp_cfg cfg = {.window = TW, .dim = TD, .pool = pool, .n_hidden = n_hidden, .hidden = {H, H},
                      .dropout = 0.1f, .n_classes = K};
    es_mlp *m = es_mlp_create(&cfg, seed, NULL);
    assert_non_null(m);
    return m;
}

/* balanced accuracy of m on (x, y) via es_mlp_predict */
static double bal_acc(es_mlp *m, const float *x, const int *y, size_t n, int K, double *acc)
{
    float *pr = malloc(n * K * sizeof *pr);
    assert_int_equal(es_mlp_predict(m, x, n, pr, NULL), ES_OK);
    int hit[8] = {0}, cnt[8] = {0}, ok = 0;
    for (size_t i = 0; i < n; i++) {
        int b = 0;
        for (int k = 1; k < K; k++) b = pr[i * K + k] > pr[i * K + b] ? k : b;
        cnt[y[i]]++;
        hit[y[i]] += b == y[i];
        ok += b == y[i];
    }
    free(pr);
    double s = 0;
    int p = 0;
    for (int k = 0; k < K; k++)
        if (cnt[k]) { s += (double)hit[k] / cnt[k]; p++; }
    if (acc) *acc = (double)ok / n;
    return s / p;
}

#define TRAIN(d, m, cfg, rep, cb, user, err) \
    es_train(m, (d).x[0], (d).y[0], (d).n[0], (d).x[1], (d).y[1], (d).n[1], cfg, rep, cb, user, err)

static void test_train_clusters(void **state)
{
    (void)state;
    /* 200 train / 100 validation / 1000 held out; means ~6.9 sigma apart */
    const int counts[3][4] = {{50, 50, 50, 50}, {25, 25, 25, 25}, {250, 250, 250, 250}};
    dataset d = make_data(4, counts, 0.25f, 11);
    static const struct { int nh, H; es_pool pool; const char *name; } heads[] = {
        {0, 0, ES_POOL_FLAT, "linear, flat"}, {2, 64, ES_POOL_FLAT, "mlp 2x64, flat"},
        {1, 64, ES_POOL_MEANSTD, "mlp 1x64, meanstd"}, {0, 0, ES_POOL_MEANMAX, "linear, meanmax"}};
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
        es_mlp *m = head(heads[h].nh, heads[h].H, heads[h].pool, 4, 5);
        es_train_cfg cfg = es_train_defaults();
        cfg.epochs = 60;
        cfg.batch = 32;
        cfg.seed = 5;
        es_train_report rep;
        trace tr = {0};
        es_error e = {0};
        if (TRAIN(d, m, &cfg, &rep, record, &tr, &e)) fail_msg("%s", e.msg);
        double acc, tacc;
        bal_acc(m, d.x[1], d.y[1], d.n[1], 4, &acc);
        bal_acc(m, d.x[2], d.y[2], d.n[2], 4, &tacc);
        print_message("    %-18s val acc %.3f (after epoch 1: %.2f)  held-out acc %.3f  val loss %.4f  best epoch %d of %d\n",
                      heads[h].name, acc, tr.acc[0], tacc, rep.val_loss, rep.best_epoch, rep.epochs_run);
        assert_true(acc >= 0.95);
        assert_true(tacc >= 0.9);
        assert_float_equal(acc, rep.val_acc, 1e-6);
        assert_int_equal(rep.balance, ES_BALANCE_NONE);   /* AUTO on balanced data */
        es_mlp_free(m);
    }
    free_data(&d);
}

static void test_train_imbalanced(void **state)
{
    (void)state;
    /* 90/10 in every part; means ~8.3 sigma apart, but only 20 minority
     * examples in 384 dimensions to find the direction from */
    const int counts[3][4] = {{180, 20}, {270, 30}, {900, 100}};
    dataset d = make_data(2, counts, 0.3f, 12);
    static const es_balance modes[] = {ES_BALANCE_NONE, ES_BALANCE_SAMPLE, ES_BALANCE_WEIGHT, ES_BALANCE_AUTO};
    for (int nh = 0; nh <= 2; nh += 2)
        for (int i = 0; i < 4; i++) {
            es_mlp *m = head(nh, 32, ES_POOL_FLAT, 2, 21);
            es_train_cfg cfg = es_train_defaults();
            cfg.epochs = 60;
            cfg.batch = 32;
            cfg.seed = 21;
            cfg.balance = modes[i];
            cfg.monitor = ES_MONITOR_BAL_ACC;
            es_train_report rep;
            es_error e = {0};
            if (TRAIN(d, m, &cfg, &rep, NULL, NULL, &e)) fail_msg("%s", e.msg);
            double acc, tacc, b = bal_acc(m, d.x[1], d.y[1], d.n[1], 2, &acc), tb = bal_acc(m, d.x[2], d.y[2], d.n[2], 2, &tacc);
            print_message("    %-6s balance %-6s -> %-6s val balanced acc %.3f (acc %.3f)  held-out %.3f (acc %.3f)  best epoch %d\n",
                          nh ? "mlp" : "linear", es_balance_name(modes[i]), es_balance_name(rep.balance), b, acc, tb,
                          tacc, rep.best_epoch);
            assert_float_equal(b, rep.val_bal_acc, 1e-6);
            if (modes[i] == ES_BALANCE_AUTO) assert_int_equal(rep.balance, ES_BALANCE_WEIGHT);
            else assert_int_equal(rep.balance, modes[i]);
            if (modes[i] != ES_BALANCE_NONE) assert_true(b >= 0.9 && tb >= 0.9);
            es_mlp_free(m);
        }
    free_data(&d);
}

static void test_early_stopping(void **state)
{
    (void)state;
    /* few noisy examples, an MLP without dropout and a constant rate: it
     * overfits, so the validation loss turns up and patience ends the run */
    const int counts[3][4] = {{8, 8, 8}, {40, 40, 40}, {0}};
    dataset d = make_data(3, counts, 0.1f, 13);
    for (int mon = 0; mon < 3; mon++) {
        es_mlp *m = head(2, 64, ES_POOL_FLAT, 3, 31);
        es_train_cfg cfg = es_train_defaults();
        cfg.epochs = 400;
        cfg.batch = 8;
        cfg.lr = 1e-3f;
        cfg.weight_decay = 0;
        cfg.dropout = 0;
        cfg.schedule = ES_LR_CONSTANT;
        cfg.warmup = 0;
        cfg.patience = 10;
        cfg.monitor = (es_monitor)mon;
        cfg.seed = 31;
        es_train_report rep;
        trace tr = {0};
        assert_int_equal(es_train(m, d.x[0], d.y[0], d.n[0], d.x[1], d.y[1], d.n[1], &cfg, &rep, record, &tr, NULL), ES_OK);
        /* the kept epoch is the best one seen by the monitored metric. The
         * trace holds floats and the library compares doubles, so two epochs
         * may tie here that did not tie there: compare values, not indices */
        int be = 0;
        for (int i = 1; i < tr.n; i++) {
            int better = mon == ES_MONITOR_LOSS ? tr.loss[i] < tr.loss[be]
                                                : tr.acc[i] > tr.acc[be] || (tr.acc[i] == tr.acc[be] && tr.loss[i] < tr.loss[be]);
            if (better) be = i;
        }
        assert_true(rep.stopped_early);
        assert_int_equal(tr.n, rep.epochs_run);
        assert_int_equal(rep.epochs_run, rep.best_epoch + cfg.patience);
        assert_true(rep.best_epoch > 1 && rep.best_epoch < rep.epochs_run);   /* a real choice */
        assert_true(rep.val_loss == tr.loss[rep.best_epoch - 1] && rep.val_acc == tr.acc[rep.best_epoch - 1]);
        if (mon == ES_MONITOR_LOSS) assert_true(rep.val_loss == tr.loss[be]);
        if (mon == ES_MONITOR_ACC) assert_true(rep.val_acc == tr.acc[be] && rep.val_loss == tr.loss[be]);
        /* and the model holds that epoch's parameters */
        double acc, b = bal_acc(m, d.x[1], d.y[1], d.n[1], 3, &acc);
        assert_float_equal(acc, rep.val_acc, 1e-6);
        assert_float_equal(b, rep.val_bal_acc, 1e-6);
        float *pr = malloc(d.n[1] * 3 * sizeof *pr);
        assert_int_equal(es_mlp_predict(m, d.x[1], d.n[1], pr, NULL), ES_OK);
        double l = 0;
        for (size_t i = 0; i < d.n[1]; i++) l -= log(pr[i * 3 + d.y[1][i]]);
        l /= d.n[1];
        assert_float_equal(l, rep.val_loss, 1e-4 * fmax(1, l));
        print_message("    monitor %-7s: best epoch %d (val loss %.4f, acc %.3f), stopped after %d; last val loss %.4f\n",
                      mon == 0 ? "loss" : mon == 1 ? "acc" : "bal_acc", rep.best_epoch, rep.val_loss, rep.val_acc,
                      rep.epochs_run, tr.loss[tr.n - 1]);
        if (mon == ES_MONITOR_LOSS) assert_true(tr.loss[tr.n - 1] > rep.val_loss);
        free(pr);
        es_mlp_free(m);
    }
    /* without validation: all epochs run and the last is kept */
    es_mlp *m = head(0, 0, ES_POOL_MEAN, 3, 1);
    es_train_cfg cfg = es_train_defaults();
    cfg.epochs = 7;
    es_train_report rep;
    trace tr = {0};
    assert_int_equal(es_train(m, d.x[0], d.y[0], d.n[0], NULL, NULL, 0, &cfg, &rep, record, &tr, NULL), ES_OK);
    assert_int_equal(rep.epochs_run, 7);
    assert_int_equal(rep.best_epoch, 7);
    assert_int_equal(tr.n, 7);
    assert_true(isnan(tr.loss[0]) && isnan(rep.val_loss));
    assert_int_equal(rep.steps, 7 * 1);   /* 24 examples, batch 64: one step per epoch */
    es_mlp_free(m);
    free_data(&d);
}

static void test_determinism(void **state)
{
    (void)state;
    const int counts[3][4] = {{30, 20, 10}, {10, 10, 10}, {0}};
    dataset d = make_data(3, counts, 0.1f, 14);
    for (int bal = ES_BALANCE_NONE; bal <= ES_BALANCE_WEIGHT; bal++) {
        float *runs[3];
        size_t np = 0;
        uint64_t seeds[3] = {77, 77, 78};
        for (int r = 0; r < 3; r++) {
            es_mlp *m = head(2, 32, ES_POOL_MEANMAX, 3, seeds[r]);
            es_train_cfg cfg = es_train_defaults();
            cfg.epochs = 15;
            cfg.batch = 16;
            cfg.seed = seeds[r];
            cfg.dropout = 0.3f;
            cfg.balance = (es_balance)bal;
            assert_int_equal(es_train(m, d.x[0], d.y[0], d.n[0], d.x[1], d.y[1], d.n[1], &cfg, NULL, NULL, NULL, NULL), ES_OK);
            float *p = es_mlp_params(m, &np);
            runs[r] = malloc(np * sizeof(float));
            memcpy(runs[r], p, np * sizeof(float));
            es_mlp_free(m);
        }
        assert_memory_equal(runs[0], runs[1], np * sizeof(float));
        assert_memory_not_equal(runs[0], runs[2], np * sizeof(float));
        /* a different training seed alone (same init) changes the result too */
        es_mlp *m = head(2, 32, ES_POOL_MEANMAX, 3, 77);
        es_train_cfg cfg = es_train_defaults();
        cfg.epochs = 15;
        cfg.batch = 16;
        cfg.seed = 1234;
        cfg.dropout = 0.3f;
        cfg.balance = (es_balance)bal;
        assert_int_equal(es_train(m, d.x[0], d.y[0], d.n[0], d.x[1], d.y[1], d.n[1], &cfg, NULL, NULL, NULL, NULL), ES_OK);
        assert_memory_not_equal(runs[0], es_mlp_params(m, NULL), np * sizeof(float));
        es_mlp_free(m);
        for (int r = 0; r < 3; r++) free(runs[r]);
    }
    free_data(&d);
}

static void test_bad_input(void **state)
{
    (void)state;
    const int counts[3][4] = {{5, 5}, {2, 2}, {0}};
    dataset d = make_data(2, counts, 0.1f, 15);
    es_mlp *m = head(1, 8, ES_POOL_FLAT, 2, 1);
    size_t np;
    float *p = es_mlp_params(m, &np), *before = malloc(np * sizeof *before);
    memcpy(before, p, np * sizeof *before);
    es_train_cfg cfg = es_train_defaults();
    cfg.epochs = 3;
    es_error e = {0};

    d.y[0][3] = 2;   /* out of range */
    assert_int_equal(es_train(m, d.x[0], d.y[0], d.n[0], NULL, NULL, 0, &cfg, NULL, NULL, NULL, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "example 3"));
    d.y[0][3] = -1;
    assert_int_equal(es_train(m, d.x[0], d.y[0], d.n[0], NULL, NULL, 0, &cfg, NULL, NULL, NULL, &e), ES_ERR_ARG);
    d.y[0][3] = 1;
    d.y[1][1] = 5;
    assert_int_equal(es_train(m, d.x[0], d.y[0], d.n[0], d.x[1], d.y[1], d.n[1], &cfg, NULL, NULL, NULL, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "validation"));
    d.y[1][1] = 0;
    d.x[0][7 * TDIM + 5] = NAN;
    assert_int_equal(es_train(m, d.x[0], d.y[0], d.n[0], NULL, NULL, 0, &cfg, NULL, NULL, NULL, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "not finite"));
    d.x[0][7 * TDIM + 5] = 0;
    assert_int_equal(es_train(m, d.x[0], d.y[0], 0, NULL, NULL, 0, &cfg, NULL, NULL, NULL, &e), ES_ERR_ARG);
    es_train_cfg bad[6];
    for (int i = 0; i < 6; i++) bad[i] = cfg;
    bad[0].epochs = 0;
    bad[1].batch = 0;
    bad[2].lr = -1;
    bad[3].warmup = 1;
    bad[4].beta2 = 1;
    bad[5].balance = (es_balance)17;
    for (int i = 0; i < 6; i++)
        assert_int_equal(es_train(m, d.x[0], d.y[0], d.n[0], NULL, NULL, 0, &bad[i], NULL, NULL, NULL, &e), ES_ERR_ARG);
    /* a learning rate that blows up: refused with a reason, parameters restored */
    for (size_t i = 0; i < d.n[0] * TDIM; i++) d.x[0][i] *= 1e18f;
    es_train_cfg wild = cfg;
    wild.lr = 1e30f;
    wild.weight_decay = 0;
    es_status st = es_train(m, d.x[0], d.y[0], d.n[0], NULL, NULL, 0, &wild, NULL, NULL, NULL, &e);
    print_message("    huge inputs and lr: %s\n", st ? e.msg : "trained (!)");
    assert_int_equal(st, ES_ERR_ARG);
    assert_memory_equal(p, before, np * sizeof *before);
    /* misuse of the step API */
    es_mlp *m2 = head(0, 0, ES_POOL_MEAN, 2, 1);
    assert_int_equal(es_mlp_backward(m2, NULL, &e), ES_ERR_ARG);
    assert_null(es_mlp_forward(m2, d.x[0], 0, 0, NULL, &e));
    es_mlp_cfg c2 = *es_mlp_config(m2);
    c2.dropout = 0.5f;
    es_mlp *m3 = es_mlp_create(&c2, 1, NULL);
    assert_null(es_mlp_forward(m3, d.x[0], 2, 1, NULL, &e));   /* dropout needs an rng */
    assert_non_null(es_mlp_forward(m3, d.x[0], 2, 0, NULL, &e));
    int ybad[2] = {0, 2};
    assert_int_equal(es_mlp_loss(m3, ybad, NULL, NULL, &e), ES_ERR_ARG);
    es_mlp_free(m2);
    es_mlp_free(m3);
    free(before);
    es_mlp_free(m);
    free_data(&d);
}

static int summary(void **state)
{
    (void)state;
    print_message("    worst element-wise relative gradient error: %.2e over the element-wise checks (tolerance %.0e), "
                  "%.2e through the float forward of whole heads (not held to it)\n", g_worst, TOL, g_worst_f);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_linear_grad),
        cmocka_unit_test(test_layernorm_grad),
        cmocka_unit_test(test_relu_dropout_grad),
        cmocka_unit_test(test_pool_grad),
        cmocka_unit_test(test_softmax_ce_grad),
        cmocka_unit_test(test_mlp_grad),
        cmocka_unit_test(test_mlp_layout),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_train_clusters),
        cmocka_unit_test(test_train_imbalanced),
        cmocka_unit_test(test_early_stopping),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests_name("nn", tests, NULL, summary);
}
