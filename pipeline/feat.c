/*
 * pipeline/feat.c — pooled clip features at several sub-step offsets, and
 * the head (+ optional class-mean prototypes) trained over them. See feat.h.
 */
#include "feat.h"
#include "classifier.h"
#include "../model/nn.h"
#include "cache.h"
#include "train_aug.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHIFTS 16
#define MAX_ENSEMBLE 16

struct es_feat {
    size_t n, P, S;       /* items, pooled size, variants */
    double pad;           /* clips are centred in this many seconds: pad_to,
                             or what the window positions need */
    size_t S_test;        /* the first S_test variants are the clip itself
                             (offsets x positions); the rest are copies of
                             it (Q positions each), training rows all: */
    size_t S_avg;         /* up to S_avg, copies always averaged in
                             prediction (the other front end's copy); the
                             perturbed ones after it (speed up to S_speed,
                             then frequency warp) only with perturb_test */
    size_t S_speed;
    int auto_fe, auto_speed; /* built for --frontend-copy / --speed-perturb
                             auto: each run keeps those copies or drops
                             them (es_frontend_copy_auto,
                             es_speed_perturb_auto) */
    float *x;             /* [S][n][P]; variant s = offset s / Q, position s % Q */
    size_t Q;             /* window positions per offset */
    int auto_shifts;      /* built for --shifts auto: each run keeps every
                             offset or only the first (es_shifts_auto) */
    int A;                /* augmented variants per item (0 = none) */
    float *aug;           /* [n][A][P], pooled like x */
    unsigned char *has_aug; /* [n]: the item's variants are in aug */
};

struct es_feat_model {
    es_mlp *mlp[MAX_ENSEMBLE];
    int nmlp;
    size_t P, K;
    float *mu, *sd;       /* z-scoring [P], NULL when off */
    float *proto;         /* [K][P] unit class means, NULL when off */
    float proto_w, proto_t;
    int zl2;              /* unit length again after z-scoring */
    int one_shift;        /* --shifts auto came to 1: offset 0's rows only */
    int fe, speed;        /* the front-end and speed copies are used (auto resolved) */
    int avg_speed, avg_warp;  /* the perturbed copies averaged in prediction */
};

/* Variant s of f is used in training by model m: with one_shift only
 * offset 0's positions of the clip itself; the copies (unshifted) unless
 * auto dropped them */
static int use_variant(const es_feat *f, const es_feat_model *m, size_t s)
{
    if (s < f->S_test) return !m->one_shift || s < f->Q;
    if (s < f->S_avg) return m->fe;
    if (s < f->S_speed) return m->speed;
    return 1;
}

/* and averaged in its prediction */
static int avg_variant(const es_feat *f, const es_feat_model *m, size_t s)
{
    if (s < f->S_test) return !m->one_shift || s < f->Q;
    if (s < f->S_avg) return m->fe;
    if (s < f->S_speed) return m->speed && m->avg_speed;
    return m->avg_warp;
}

es_feat *es_feat_from_rows(const float *x, size_t S, size_t n, size_t P, es_error *err)
{
    es_feat *f = calloc(1, sizeof *f);
    if (f) f->x = malloc((S * n * P + 1) * sizeof(float));
    if (!f || !f->x) { es_feat_free(f); es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    memcpy(f->x, x, S * n * P * sizeof(float));
    f->n = n; f->P = P; f->S = f->S_test = f->S_avg = f->S_speed = f->Q = S;
    return f;
}

void es_feat_set_auto_shifts(es_feat *f, size_t Q)
{
    if (!f || !Q || f->S_test % Q) return;
    f->Q = Q;
    f->auto_shifts = 1;
}

void es_feat_free(es_feat *f)
{
    if (!f) return;
    free(f->aug);
    free(f->has_aug);
    free(f->x);
    free(f);
}

void es_feat_set_copies(es_feat *f, size_t always, size_t perturbed)
{
    if (!f || (always + perturbed) * f->Q >= f->S) return;
    f->S_test = f->S - (always + perturbed) * f->Q;
    f->S_avg = f->S_test + always * f->Q;
    f->S_speed = f->S;
}

void es_feat_set_auto_copies(es_feat *f, int fe, int speed)
{
    if (!f) return;
    f->auto_fe = fe;
    f->auto_speed = speed;
}

size_t es_feat_dim(const es_feat *f) { return f->P; }
size_t es_feat_shifts(const es_feat *f) { return f->S; }
const float *es_feat_row(const es_feat *f, size_t s, size_t i) { return f->x + (s * f->n + i) * f->P; }

static void l2_rows(float *x, size_t n, size_t P)
{
    for (size_t i = 0; i < n; i++) {
        float *r = x + i * P;
        double q = 0;
        for (size_t k = 0; k < P; k++) q += (double)r[k] * r[k];
        float inv = (float)(1.0 / sqrt(q + 1e-12));
        for (size_t k = 0; k < P; k++) r[k] *= inv;
    }
}

static int norm_kind(const char *s)
{
    if (!s || !strcmp(s, "none")) return 0;
    if (!strcmp(s, "l2")) return 1;
    if (!strcmp(s, "z")) return 2;
    if (!strcmp(s, "zl2")) return 3;
    return -1;
}


typedef struct {
    void (*fn)(void *user, size_t done, size_t total, size_t hits);
    void *user;
    size_t off, total;   /* the pass's clips before this chunk; all of them */
    size_t hits0, hits;  /* the pass's cache hits before this chunk; so far */
} feat_prog;

static void feat_progress(void *user, size_t done, size_t total, size_t hits)
{
    (void)total;
    feat_prog *p = user;
    p->hits = p->hits0 + hits;
    if (p->fn) p->fn(p->user, p->off + done, p->total, p->hits);
}

es_status es_feat_build(es_engine *e, const es_dataset *d, const es_train_opts *o,
                        void (*progress)(void *user, size_t done, size_t total, size_t hits), void *user, es_feat **out,
                        es_error *err)
{
    *out = NULL;
    /* auto: built with every offset the rule may ask for; es_feat_fit
     * keeps them or only the first, per run */
    int NS = o->shifts > 0 ? o->shifts : o->shifts < 0 ? ES_SHIFTS_AUTO : 1, Q = o->positions > 0 ? o->positions : 1;
    int S = NS * Q;
    /* the copies: the other front end's (1), speeds (2), warps (2) */
    /* auto: built with them, es_feat_fit keeps or drops them per run */
    double spd = o->speed_perturb < 0 ? ES_SPEED_PERTURB_AUTO : o->speed_perturb;
    int NFE = o->frontend_copy ? 1 : 0, NSPEED = spd > 0 ? 2 : 0;
    int NSP = NFE + NSPEED + (o->warp_perturb > 0 ? 2 : 0);
    if (o->speed_perturb != -1 && !(o->speed_perturb >= 0 && o->speed_perturb <= 0.5))
        return es_fail(err, ES_ERR_ARG, "speed perturbation must be from 0 to 0.5 (or -1, auto)");
    if (o->frontend_copy < -1 || o->frontend_copy > 1)
        return es_fail(err, ES_ERR_ARG, "frontend_copy must be 0, 1 or -1 (auto)");
    if (!(o->warp_perturb >= 0 && o->warp_perturb <= 0.3))
        return es_fail(err, ES_ERR_ARG, "frequency warp perturbation must be from 0 to 0.3");
    if (NS > MAX_SHIFTS) return es_fail(err, ES_ERR_ARG, "shifts must be from 1 to %d", MAX_SHIFTS);
    if (Q > 15) return es_fail(err, ES_ERR_ARG, "positions must be from 1 to 15");
    if (norm_kind(o->norm) < 0) return es_fail(err, ES_ERR_ARG, "unknown normalisation '%s' (none, l2, z or zl2)", o->norm);
    es_pool pool;
    es_status st = es_pool_parse(o->pooling ? o->pooling : "meanmax", &pool, err);
    if (st) return st;
    size_t W = (size_t)o->window, n = d->nitems, P = (size_t)es_pool_dim(pool, (int)W, ES_EMB_DIM);
    es_cache *cache = es_cache_open(o->cache_dir, e, err);
    if (!cache) return err ? err->status : ES_ERR_IO;
    es_cache_set_mode(cache, o->frontend);   /* the features the trained head reads */
    /* The clips go through the encoder es_train_embed_chunk() at a time
     * (512, as in es_train_head), each keeping only its pooled vectors:
     * every clip's whole embedding sequence (9.6 KB for 2 s) and window
     * (3 KB) held at once were 12.6 KB a clip. The passes run in the
     * order they did (every clip of a pass, then the next), and a failure
     * is reported as one call over every clip did: the pass's first
     * failing file with how many more failed, else the clip with too few
     * embeddings at the first position of a pass that has one (lowest
     * clip at that position). */
    es_feat *f = calloc(1, sizeof *f);
    size_t chunk = es_train_embed_chunk(0);
    if (chunk > n) chunk = n;
    const char **paths = malloc((chunk + 1) * sizeof(char *));
    float **embs = calloc(chunk + 1, sizeof(float *));
    size_t *counts = calloc(chunk + 1, sizeof(size_t)), *off = calloc(n + 1, sizeof(size_t));
    es_status *fst = calloc(chunk + 1, sizeof(es_status));
    float *win = malloc((chunk * W * ES_EMB_DIM + 1) * sizeof(float));
    int *arg = malloc((chunk * P + 1) * sizeof(int));
    if (f) f->x = malloc(((size_t)(S + NSP * Q) * n * P + 1) * sizeof(float));
    /* as es_train pads them (the speed and warp copies are the same length) */
    double pad = o->pad_to, need = es_pad_needed(W, Q, o->frontend, NFE);
    if (need > pad) pad = need;
    if (f) f->pad = pad;
    if (!f || !f->x || !paths || !embs || !counts || !off || !fst || !win || !arg) {
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        goto out;
    }
    f->n = n; f->P = P; f->S = (size_t)(S + NSP * Q); f->S_test = (size_t)S; f->S_avg = (size_t)(S + NFE * Q);
    f->S_speed = f->S_avg + (size_t)(NSPEED * Q);
    f->Q = (size_t)Q;
    f->auto_shifts = o->shifts < 0;
    f->auto_fe = o->frontend_copy < 0;
    f->auto_speed = o->speed_perturb < 0;
    feat_prog fp = {progress, user, 0, n, 0, 0};
    int nk = norm_kind(o->norm);
    for (int s0 = 0; s0 < S + NSP * Q; s0 += Q) {
        /* a pass: offsets spread evenly over one 80 ms step; window
         * positions (s = s0 + q) step by whole embeddings around the
         * centre; then the perturbed copies (unshifted, every position):
         * speed 1 -+ x, then the front end's frequency axis warped by
         * 1 -+ y */
        int sp = s0 >= S, sh = sp ? 0 : s0 / Q, c = sp ? (s0 - S) / Q : -1;
        int shift = sh * ES_CHUNK / NS, other = sp && c < NFE;
        double speed = 1.0, warp = 0;
        es_embed_mode mode = o->frontend;
        if (other) mode = o->frontend == ES_EMBED_STREAM ? ES_EMBED_WHOLE : ES_EMBED_STREAM;
        else if (sp && c < NFE + NSPEED) speed = c == NFE ? 1.0 - spd : 1.0 + spd;
        else if (sp) warp = c == NFE + NSPEED ? 1.0 - o->warp_perturb : 1.0 + o->warp_perturb;
        es_cache_set_warp(cache, warp);
        es_cache_set_mode(cache, mode);
        size_t failed = 0;
        es_error first = {0}, bad = {0};
        int bad_q = Q;   /* the position of bad: the lowest wins, then the lowest clip */
        fp.hits0 = 0;
        for (size_t c0 = 0; c0 < n; c0 += chunk) {
            size_t b = n - c0 < chunk ? n - c0 : chunk;
            for (size_t j = 0; j < b; j++) paths[j] = d->items[c0 + j].path;
            es_error ce = {0};
            fp.off = c0;
            es_status cs = es_cache_embed_many_var(cache, paths, b, pad, shift, speed, embs, counts, fst, feat_progress, &fp,
                                                   &ce);
            fp.hits0 = fp.hits;
            if (cs) {
                size_t k = 0;
                for (size_t j = 0; j < b; j++) k += fst[j] != ES_OK;
                if (!k) k = 1;
                if (!failed) {
                    first = ce;
                    if (!first.status) first.status = cs;
                    (void)es_cache_more_cut(first.msg, "files");
                }
                failed += k;
            }
            for (int q = 0; !failed && q < Q; q++) {
                int s = s0 + q, qq = q - (Q - 1) / 2;
                for (size_t j = 0; j < b; j++) {
                    size_t i = c0 + j;
                    /* every offset takes its window where the unshifted one does;
                     * a speed-perturbed copy has its own length, so its own centre */
                    if (q == 0 && (s0 == 0 || sp)) off[i] = es_centre_offset(counts[j], W, mode == ES_EMBED_STREAM);
                    long o0 = (long)off[i] + qq;
                    if (o0 < 0 || counts[j] < (size_t)o0 + W) {
                        if (q < bad_q)
                            es_fail(&bad, ES_ERR_ARG,
                                    "%s: %zu embeddings, too few for %d positions of a window of %zu (pad_to %.2f s is too short)",
                                    paths[j], counts[j], Q, W, pad);
                        if (q < bad_q) bad_q = q;
                        break;
                    }
                    memcpy(win + j * W * ES_EMB_DIM, embs[j] + (size_t)o0 * ES_EMB_DIM, W * ES_EMB_DIM * sizeof(float));
                }
                if (bad.status) break;
                float *dst = f->x + ((size_t)s * n + c0) * P;
                es_pool_forward(dst, pool == ES_POOL_FLAT ? NULL : arg, win, pool, (int)b, (int)W, ES_EMB_DIM);
                if (nk == 1) l2_rows(dst, b, P);
            }
            for (size_t j = 0; j < b; j++) { free(embs[j]); embs[j] = NULL; }
        }
        if (failed) { st = es_cache_more_fail(err, first.status, first.msg, failed, "files"); goto out; }
        if (bad.status) { st = es_fail(err, bad.status, "%s", bad.msg); goto out; }
    }
out:
    for (size_t i = 0; embs && i < chunk; i++) free(embs[i]);
    free(embs); free(counts); free(off); free(fst); free(paths); free(win); free(arg);
    es_cache_close(cache);
    if (st) { es_feat_free(f); return st; }
    *out = f;
    return ES_OK;
}

void es_feat_model_free(es_feat_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->nmlp; i++) es_mlp_free(m->mlp[i]);
    free(m->mu); free(m->sd); free(m->proto);
    free(m);
}

/* x[n][P] in place: z-score with the model's statistics, then (zl2) unit length */
static void apply_z(const es_feat_model *m, float *x, size_t n)
{
    if (!m->mu) return;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < m->P; k++) x[i * m->P + k] = (x[i * m->P + k] - m->mu[k]) / m->sd[k];
    if (m->zl2) l2_rows(x, n, m->P);
}

es_status es_feat_add_aug(es_feat *f, es_engine *e, const es_dataset *d, const size_t *items, size_t m, const es_train_opts *o,
                          int A, es_error *err)
{
    if (m == 0 || A <= 0) return ES_OK;
    if (f->A && f->A != A) return es_fail(err, ES_ERR_ARG, "es_feat_add_aug: %d variants, not %d", A, f->A);
    es_pool pool;
    es_status st = es_pool_parse(o->pooling ? o->pooling : "meanmax", &pool, err);
    if (st) return st;
    size_t W = (size_t)o->window, P = f->P, rows = m * (size_t)A;
    if (!f->aug) {
        f->aug = malloc((f->n * (size_t)A * P + 1) * sizeof(float));
        f->has_aug = calloc(f->n + 1, 1);
        if (!f->aug || !f->has_aug) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        f->A = A;
    }
    const char **paths = malloc((m + 1) * sizeof(char *));
    float *win = NULL, *pooled = malloc((rows * P + 1) * sizeof(float));
    int *arg = malloc((rows * P + 1) * sizeof(int));
    if (!paths || !pooled || !arg) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < m; i++) paths[i] = d->items[items[i]].path;
    /* the recipes of es_train_extend, seeded by the options' seed: a clip's
     * variants are the ones `earshot train --seed` caches for it */
    es_aug_ranges g;
    es_aug_ranges_from_opts(o, &g);
    if ((st = es_aug_embed(e, o->cache_dir, paths, m, A, &g, (const char *const *)d->noise, d->nnoise, o->seed, f->pad,
                           o->frontend, W, NULL, &win, NULL, NULL, NULL, err)))
        goto out;
    es_pool_forward(pooled, pool == ES_POOL_FLAT ? NULL : arg, win, pool, (int)rows, (int)W, ES_EMB_DIM);
    if (norm_kind(o->norm) == 1) l2_rows(pooled, rows, P);
    for (size_t i = 0; i < m; i++) {
        memcpy(f->aug + items[i] * (size_t)A * P, pooled + i * (size_t)A * P, (size_t)A * P * sizeof(float));
        f->has_aug[items[i]] = 1;
    }
out:
    free(paths); free(win); free(pooled); free(arg);
    return st;
}

es_status es_feat_fit(const es_feat *f, const size_t *idx, size_t n, const es_dataset *d, const es_train_opts *o,
                      uint64_t seed, es_feat_model **out, es_error *err)
{
    *out = NULL;
    size_t P = f->P, S = f->S, K = d->nlabels;
    int nk = norm_kind(o->norm);
    /* augmented variants as es_train_head adds them (es_aug_auto): rows of
     * their own, repeated as often as a clip has variants of its own */
    size_t per_label = 0, *cnt = calloc(K + 1, sizeof(size_t));
    if (!cnt) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t c = ++cnt[d->items[idx[i]].label];
        if (c > per_label) per_label = c;
    }
    free(cnt);
    /* features given as rows (es_feat_from_rows) have no audio to augment */
    size_t A = f->aug ? (size_t)es_aug_auto(o->augment, per_label) : 0;
    for (size_t i = 0; A && i < n; i++)
        if (!f->has_aug || f->A != (int)A || !f->has_aug[idx[i]])
            return es_fail(err, ES_ERR_ARG, "es_feat_fit: the augmented variants of a training clip were not made");
    /* --shifts auto: as es_train_head decides it, from the most clips of a label */
    int ens = o->ensemble > 0 ? o->ensemble : 1;
    if (ens > MAX_ENSEMBLE) return es_fail(err, ES_ERR_ARG, "ensemble must be from 1 to %d", MAX_ENSEMBLE);
    if (n == 0) return es_fail(err, ES_ERR_ARG, "no training clips");
    es_feat_model *m = calloc(1, sizeof *m);
    if (!m) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    m->P = P;
    m->K = K;
    m->one_shift = f->auto_shifts && es_shifts_auto(-1, per_label) == 1;
    /* the copies likewise (es_frontend_copy_auto, es_speed_perturb_auto);
     * auto speed copies are averaged in as with perturb_test */
    m->fe = !f->auto_fe || es_frontend_copy_auto(-1, per_label);
    m->speed = !f->auto_speed || es_speed_perturb_auto(-1, per_label) > 0;
    m->avg_speed = o->perturb_test || f->auto_speed;
    m->avg_warp = o->perturb_test;
    size_t SU = 0;
    for (size_t s = 0; s < S; s++) SU += (size_t)use_variant(f, m, s);
    size_t rows = n * SU * (1 + A);
    float *x = malloc((rows * P + 1) * sizeof(float));
    int *y = malloc((rows + 1) * sizeof(int));
    es_status st = ES_OK;
    if (!x || !y) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto fail; }
    m->proto_w = o->proto;
    m->proto_t = o->proto_temp > 0 ? o->proto_temp : 10.0f;
    for (size_t s = 0, u = 0; s < S; s++) {
        if (!use_variant(f, m, s)) continue;
        for (size_t i = 0; i < n; i++) {
            memcpy(x + (u * n + i) * P, es_feat_row(f, s, idx[i]), P * sizeof(float));
            y[u * n + i] = d->items[idx[i]].label;
            for (size_t a = 0; a < A; a++) {
                size_t r = SU * n + (u * n + i) * A + a;
                memcpy(x + r * P, f->aug + (idx[i] * A + a) * P, P * sizeof(float));
                y[r] = d->items[idx[i]].label;
            }
        }
        u++;
    }
    if (nk >= 2) {
        m->mu = calloc(P, sizeof(float));
        m->sd = calloc(P, sizeof(float));
        if (!m->mu || !m->sd) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto fail; }
        for (size_t k = 0; k < P; k++) {
            double s1 = 0, s2 = 0;
            for (size_t i = 0; i < rows; i++) { double v = x[i * P + k]; s1 += v; s2 += v * v; }
            double mu = s1 / (double)rows, var = s2 / (double)rows - mu * mu;
            m->mu[k] = (float)mu;
            /* a floor keeps near-constant dimensions (one clip per label)
             * from being blown up into noise */
            m->sd[k] = (float)sqrt((var > 0 ? var : 0) + 1e-2);
        }
        m->zl2 = nk == 3;
        apply_z(m, x, rows);
    }
    if (m->proto_w > 0) {
        m->proto = calloc(K * P, sizeof(float));
        if (!m->proto) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto fail; }
        for (size_t i = 0; i < rows; i++)
            for (size_t k = 0; k < P; k++) m->proto[(size_t)y[i] * P + k] += x[i * P + k];
        l2_rows(m->proto, K, P);
    }
    if (m->proto_w < 1) {
        es_mlp_cfg cfg = {0};
        cfg.window = 1;
        cfg.dim = (int)P;
        cfg.pool = ES_POOL_FLAT;
        cfg.n_hidden = o->hidden > 0 ? 1 : 0;
        cfg.hidden[0] = o->hidden;
        cfg.dropout = o->dropout;
        cfg.n_classes = (int)K;
        es_train_cfg tc = es_train_defaults();
        /* the step budget counts epochs over clips, not over their
         * variants: the offsets make each clip's examples richer, not the
         * training longer; at least min_steps steps */
        long b = o->batch > 0 ? o->batch : 64;
        long steps = (long)o->epochs * (long)((n * (1 + A) + (size_t)b - 1) / (size_t)b);
        if (steps < o->min_steps) steps = o->min_steps;
        long per_epoch = (long)((rows + (size_t)b - 1) / (size_t)b);
        tc.epochs = (int)((steps + per_epoch - 1) / per_epoch);
        if (tc.epochs < 1) tc.epochs = 1;
        tc.batch = o->batch;
        tc.lr = o->lr;
        tc.weight_decay = o->weight_decay;
        tc.label_smoothing = o->label_smoothing;
        tc.mixup = o->mixup;
        tc.patience = 0;
        const char *bal = o->balance ? o->balance : "auto";
        tc.balance = !strcmp(bal, "none") ? ES_BALANCE_NONE : !strcmp(bal, "sample") ? ES_BALANCE_SAMPLE
                   : !strcmp(bal, "weight") ? ES_BALANCE_WEIGHT : ES_BALANCE_AUTO;
        for (int k = 0; k < ens; k++) {
            tc.seed = seed + (uint64_t)k * 7919;
            if (!(m->mlp[k] = es_mlp_create(&cfg, tc.seed, err))) { st = err ? err->status : ES_ERR_NOMEM; goto fail; }
            m->nmlp = k + 1;
            if ((st = es_train(m->mlp[k], x, y, rows, NULL, NULL, 0, &tc, NULL, NULL, NULL, err))) goto fail;
        }
    }
    free(x); free(y);
    *out = m;
    return ES_OK;
fail:
    free(x); free(y);
    es_feat_model_free(m);
    return st;
}

es_status es_feat_predict(es_feat_model *m, const es_feat *f, const size_t *idx, size_t n, int *pred, float *probs,
                          es_error *err)
{
    /* the clip's own variants (offsets x positions), the other front end's
     * copy and, with perturb_test, each perturbed copy's positions are
     * averaged with equal weight per group: the clip counts as much as each
     * copy of it */
    size_t P = m->P, K = m->K, S = f->S, SU = 0, groups = 1;
    for (size_t s = 0; s < f->S_test; s++) SU += (size_t)avg_variant(f, m, s);
    for (size_t s = f->S_test; s < S; s += f->Q) groups += (size_t)avg_variant(f, m, s);
    float *x = malloc((n * P + 1) * sizeof(float)), *p = malloc((n * K + 1) * sizeof(float));
    float *acc = calloc(n * K + 1, sizeof(float));
    es_status st = ES_OK;
    if (!x || !p || !acc) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t s = 0; s < S; s++) {
        if (!avg_variant(f, m, s)) continue;
        for (size_t i = 0; i < n; i++) memcpy(x + i * P, es_feat_row(f, s, idx[i]), P * sizeof(float));
        apply_z(m, x, n);
        float vw = 1.0f / (float)(s < f->S_test ? SU : f->Q) / (float)groups;
        float hw = (m->proto ? 1.0f - m->proto_w : 1.0f) * vw;
        for (int k = 0; k < m->nmlp; k++) {
            if ((st = es_mlp_predict(m->mlp[k], x, n, p, err))) goto out;
            for (size_t i = 0; i < n * K; i++) acc[i] += hw * p[i] / (float)m->nmlp;
        }
        if (m->proto) {
            for (size_t i = 0; i < n; i++) {
                const float *r = x + i * P;
                double q = 0;
                for (size_t k = 0; k < P; k++) q += (double)r[k] * r[k];
                double inv = 1.0 / sqrt(q + 1e-12), zmax = -1e30;
                double z[256];
                size_t KK = K < 256 ? K : 256;
                for (size_t c = 0; c < KK; c++) {
                    double dot = 0;
                    for (size_t k = 0; k < P; k++) dot += (double)r[k] * m->proto[c * P + k];
                    z[c] = m->proto_t * dot * inv;
                    zmax = z[c] > zmax ? z[c] : zmax;
                }
                double sum = 0;
                for (size_t c = 0; c < KK; c++) { z[c] = exp(z[c] - zmax); sum += z[c]; }
                for (size_t c = 0; c < KK; c++) acc[i * K + c] += vw * m->proto_w * (float)(z[c] / sum);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t c = 1; c < K; c++) if (acc[i * K + c] > acc[i * K + best]) best = c;
        pred[i] = (int)best;
        if (probs) for (size_t c = 0; c < K; c++) probs[i * K + c] = acc[i * K + c];
    }
out:
    free(x); free(p); free(acc);
    return st;
}
