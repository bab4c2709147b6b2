/*
 * bench/es_adapt_bench.c — the speaker-adaptation protocol of issue 5 on
 * FSDD (6 speakers x 10 digits x 50 takes).
 *
 *   es_adapt_bench FSDD_DIR [--speakers N] [--methods LIST] [--ks LIST]
 *                  [--lambda-l2sp X] [--lambda-ewc X] [--steps N] [--lr X] [--seed N]
 *                  [--pooling P] [--hidden N (0 = linear head)]
 *                  [--shifts N] [--speed X] [--positions N]   (adapt's variants
 *                  of each take; defaults those of `earshot adapt`)
 *
 * For each held-out speaker s (the first N in alphabetical order; all 6 by
 * default):
 *  - base model: the head `earshot train` makes by default (meanmax
 *    pooling, one hidden block of 128, dropout 0.1, AdamW, 100 epochs,
 *    seed 1) trained on takes 0-39 of the five other speakers (2,000
 *    clips), with its rehearsal buffer (8 windows per digit);
 *  - adaptation: k in {1, 3, 5} takes per digit of s, drawn at random
 *    (seeded) from its takes 0-9; --draws N repeats with N draws;
 *  - target: accuracy on takes 10-49 of s (400 clips, the same for every k);
 *  - retention: accuracy on takes 40-49 of the five others (500 clips,
 *    never trained on).
 * Embeddings come from the shared cache (clips centred in 2 s, the 16
 * centre embeddings), as `earshot train` computes them.
 */
#include "earshot.h"
#include "../model/nn.h"
#include "../pipeline/adapt.h"
#include "../pipeline/cache.h"
#include "../model/conv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SPK[6] = {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"};
enum { NS = 6, ND = 10, NT = 50, NF = NS * ND * NT, W = 16, IN = W * ES_EMB_DIM };
#define IDX(s, d, t) (((s) * ND + (d)) * NT + (t))

/* --finetune: the inputs of the encoder's last K convolutions [NF][TROW]
 * and, per adapted model, those layers */
static float *XT;
static size_t TROW;

static double accuracy_net(es_mlp *m, es_cnn *net, const float *X, const int *rows, size_t n);

static double accuracy(es_mlp *m, const float *X, const int *rows, size_t n)
{
    return accuracy_net(m, NULL, X, rows, n);
}

static double accuracy_net(es_mlp *m, es_cnn *net, const float *X, const int *rows, size_t n)
{
    float *p = malloc(n * ND * sizeof(float)), *x = calloc(n * IN + 1, sizeof(float));
    if (!p || !x) exit(1);
    es_error err;
    if (net) {
        /* the adapted layers' embeddings, a batch at a time */
        float *b = malloc(32 * TROW * sizeof(float));
        for (size_t i0 = 0; i0 < n; i0 += 32) {
            size_t nb = n - i0 < 32 ? n - i0 : 32;
            for (size_t i = 0; i < nb; i++) memcpy(b + i * TROW, XT + (size_t)rows[i0 + i] * TROW, TROW * sizeof(float));
            const float *h = es_cnn_forward(net, b, (int)nb, &err);
            if (!h) { fprintf(stderr, "%s\n", err.msg); exit(1); }
            memcpy(x + i0 * IN, h, nb * IN * sizeof(float));
        }
        free(b);
    } else
        for (size_t i = 0; i < n; i++) memcpy(x + i * IN, X + (size_t)rows[i] * IN, IN * sizeof(float));
    if (es_mlp_predict(m, x, n, p, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        int b = 0;
        for (int k = 1; k < ND; k++) if (p[i * ND + k] > p[i * ND + b]) b = k;
        ok += b == (rows[i] / NT) % ND;
    }
    free(p); free(x);
    return (double)ok / (double)n;
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: %s FSDD_DIR [options]\n", argv[0]); return 2; }
    const char *dir = argv[1], *methods = "naive,l2sp,ewc,rehearsal", *kl = "1,3,5";
    es_adapt_opts dflt;
    es_adapt_opts_default(&dflt);   /* the settings `earshot adapt` uses */
    int nspk = NS, steps = dflt.steps, seed = 1, hidden = 128, draws = 1, shifts = dflt.shifts, positions = 1, finetune = 0;
    float enc_lr = 3e-4f, enc_lambda = 0.03f;
    const char *tail_cache = NULL;
    double speed = dflt.speed;
    es_pool pool = ES_POOL_MEANMAX;
    float lam_l2 = ES_ADAPT_LAMBDA_L2SP, lam_ewc = ES_ADAPT_LAMBDA_EWC, lr = dflt.lr;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--speakers")) nspk = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--methods")) methods = argv[i + 1];
        else if (!strcmp(argv[i], "--ks")) kl = argv[i + 1];
        else if (!strcmp(argv[i], "--lambda-l2sp")) lam_l2 = (float)atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--lambda-ewc")) lam_ewc = (float)atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--lr")) lr = (float)atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hidden")) hidden = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--draws")) draws = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--shifts")) shifts = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--speed")) speed = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--positions")) positions = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--finetune")) finetune = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--encoder-lr")) enc_lr = (float)atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--encoder-lambda")) enc_lambda = (float)atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--tail-cache")) tail_cache = argv[i + 1];
        else if (!strcmp(argv[i], "--pooling")) { if (es_pool_parse(argv[i + 1], &pool, NULL)) return 2; }
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    es_error err = {0};
    es_engine *e = es_engine_create(NULL, &err);
    if (!e) { fprintf(stderr, "%s\n", err.msg); return 1; }
    es_cache *cache = es_cache_open(NULL, e, &err);
    if (!cache) { fprintf(stderr, "%s\n", err.msg); return 1; }
    char **paths = malloc(NF * sizeof(char *));
    float **embs = calloc(NF, sizeof(float *));
    size_t *counts = calloc(NF, sizeof(size_t));
    for (int s = 0; s < NS; s++)
        for (int d = 0; d < ND; d++)
            for (int t = 0; t < NT; t++) {
                char p[4096];
                snprintf(p, sizeof p, "%s/%d_%s_%d.wav", dir, d, SPK[s], t);
                paths[IDX(s, d, t)] = strdup(p);
            }
    if (es_cache_embed_many(cache, (const char *const *)paths, NF, 2.0, embs, counts, NULL, NULL, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    float *X = malloc((size_t)NF * IN * sizeof(float));
    for (int i = 0; i < NF; i++) {
        size_t off = (counts[i] - W) / 2;
        memcpy(X + (size_t)i * IN, embs[i] + off * ES_EMB_DIM, IN * sizeof(float));
        free(embs[i]);
    }
    es_cache_close(cache);
    /* the candidate adaptation takes (0-9 of every speaker) at every
     * variant adapt makes of a take: XA [V][NS*ND*10][IN] */
    const char **apaths = malloc(NS * ND * 10 * sizeof(char *));
    for (int s = 0; s < NS; s++)
        for (int d = 0; d < ND; d++)
            for (int t = 0; t < 10; t++) apaths[(s * ND + d) * 10 + t] = paths[IDX(s, d, t)];
    float *XA = NULL;
    size_t V = 0;
    if (es_adapt_embed_takes(e, NULL, apaths, NS * ND * 10, 2.0, ES_EMBED_WHOLE, W, shifts, positions, speed, &XA, &V, NULL, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    free(apaths);
    if (finetune) {
        /* the encoder's last K convolutions are adapted too: their inputs
         * for every clip (computed once, optionally kept in a .npy), and
         * the takes without variants (those are cached embeddings only) */
        int fw = ES_EMB_STEP * (W - 1) + ES_EMB_WINDOW;
        es_cnn *t0 = es_encoder_tail(es_engine_encoder(e), finetune, es_encoder_tail_frames(es_engine_encoder(e), finetune, fw, NULL), &err);
        if (!t0) { fprintf(stderr, "%s\n", err.msg); return 1; }
        TROW = es_cnn_in_size(t0);
        size_t shape[8];
        int nd = 0;
        if (!tail_cache || es_npy_read(tail_cache, &XT, shape, &nd, NULL) || nd != 2 || shape[0] != NF || shape[1] != TROW) {
            es_item *items = calloc(NF, sizeof *items);
            for (int i = 0; i < NF; i++) { items[i].path = paths[i]; items[i].speaker = ""; }
            es_dataset ds = {.items = items, .nitems = NF};
            if (es_train_prep_tail(e, &ds, 2.0, ES_EMBED_WHOLE, W, finetune, TROW, &XT, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            free(items);
            size_t sh[2] = {NF, TROW};
            if (tail_cache && es_npy_write(tail_cache, XT, sh, 2, &err)) fprintf(stderr, "%s\n", err.msg);
        }
        /* the layers reproduce the cached embeddings */
        double md = 0;
        const float *h = es_cnn_forward(t0, XT, 4, &err);
        for (size_t i = 0; h && i < 4 * IN; i++) md = fmax(md, fabs(h[i] - X[i]));
        fprintf(stderr, "finetune %d: %zu floats per clip, max |tail - cached embedding| %.2g\n", finetune, TROW, md);
        es_cnn_free(t0);
        V = 1;
        shifts = 1; speed = 0; positions = 1;
    }

    int nm = 0;
    es_adapt_method meth[8];
    char mcopy[256];
    snprintf(mcopy, sizeof mcopy, "%s", methods);
    for (char *tok = strtok(mcopy, ","); tok && nm < 8; tok = strtok(NULL, ","))
        if (es_adapt_method_parse(tok, &meth[nm++], &err)) { fprintf(stderr, "%s\n", err.msg); return 2; }
    int ks[8], nk = 0;
    snprintf(mcopy, sizeof mcopy, "%s", kl);
    for (char *tok = strtok(mcopy, ","); tok && nk < 8; tok = strtok(NULL, ",")) ks[nk++] = atoi(tok);

    double sum_t[8][8] = {{0}}, min_t[8][8], sum_r[8][8] = {{0}}, max_drop[8][8] = {{0}};
    double spk_t[8][8] = {{0}}, spk_d[8][8] = {{0}};   /* one speaker's means over the draws */
    double base_t = 0, base_tmin = 1, base_r = 0;
    for (int a = 0; a < 8; a++) for (int b = 0; b < 8; b++) min_t[a][b] = 1;
    printf("| speaker | k | method | draw | target | retention |\n|---|---|---|---|---|---|\n");
    for (int s = 0; s < nspk; s++) {
        /* base model on takes 0-39 of the others */
        int *tr = malloc(NF * sizeof(int)), *yt = malloc(NF * sizeof(int)), ntr = 0;
        int tgt[ND * 40], ret[5 * ND * 10], ntg = 0, nre = 0;
        for (int o = 0; o < NS; o++)
            for (int d = 0; d < ND; d++)
                for (int t = 0; t < NT; t++) {
                    if (o == s) { if (t >= 10) tgt[ntg++] = IDX(o, d, t); }
                    else if (t < 40) { tr[ntr] = IDX(o, d, t); yt[ntr++] = d; }
                    else ret[nre++] = IDX(o, d, t);
                }
        float *xt = malloc((size_t)ntr * IN * sizeof(float));
        for (int i = 0; i < ntr; i++) memcpy(xt + (size_t)i * IN, X + (size_t)tr[i] * IN, IN * sizeof(float));
        es_mlp_cfg mc = {.window = W, .dim = ES_EMB_DIM, .pool = pool, .n_hidden = hidden > 0, .hidden = {hidden},
                         .dropout = 0.1f, .n_classes = ND};
        es_mlp *base = es_mlp_create(&mc, (uint64_t)seed, &err);
        es_train_cfg tc = es_train_defaults();
        tc.seed = (uint64_t)seed;
        es_train_report rep;
        if (!base || es_train(base, xt, yt, (size_t)ntr, NULL, NULL, 0, &tc, &rep, NULL, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        size_t *ridx = malloc((size_t)ntr * sizeof(size_t));
        size_t nr = es_rehearsal_pick(yt, (size_t)ntr, ND, ES_REHEARSAL_PER_CLASS, (uint64_t)seed, ridx);
        float *rx = malloc(nr * IN * sizeof(float));
        int *ry = malloc(nr * sizeof(int));
        for (size_t i = 0; i < nr; i++) { memcpy(rx + i * IN, xt + ridx[i] * IN, IN * sizeof(float)); ry[i] = yt[ridx[i]]; }
        double bt = accuracy(base, X, tgt, (size_t)ntg), br = accuracy(base, X, ret, (size_t)nre);
        base_t += bt / nspk; base_r += br / nspk;
        if (bt < base_tmin) base_tmin = bt;
        printf("| %s | 0 | (base) | | %.4f | %.4f |\n", SPK[s], bt, br);
        size_t np;
        const float *p0 = es_mlp_params(base, &np);
        es_rng rng;
        es_rng_seed(&rng, (uint64_t)seed * 7919u + (uint64_t)s);
        for (int ki = 0; ki < nk; ki++)
        for (int dr = 0; dr < draws; dr++) {
            int k = ks[ki], n = 0;
            /* each (speaker, k, draw) has its own takes, whatever else runs */
            es_rng_seed(&rng, (uint64_t)seed * 7919u + (uint64_t)s * 131u + (uint64_t)k * 17u + (uint64_t)dr);
            float *xa = malloc(V * ND * k * IN * sizeof(float));
            int *ya = malloc(V * ND * k * sizeof(int)), *arow = malloc(V * ND * k * sizeof(int));
            for (int d = 0; d < ND; d++) {
                int perm[10];
                for (int i = 0; i < 10; i++) perm[i] = i;
                for (int i = 10; i > 1; i--) { int j = (int)es_rng_below(&rng, (uint64_t)i); int t = perm[i - 1]; perm[i - 1] = perm[j]; perm[j] = t; }
                for (int i = 0; i < k; i++)
                    for (size_t v = 0; v < V; v++) {
                        memcpy(xa + (size_t)n * IN, XA + (v * NS * ND * 10 + (size_t)(s * ND + d) * 10 + perm[i]) * IN,
                               IN * sizeof(float));
                        arow[n] = IDX(s, d, perm[i]);
                        ya[n++] = d;
                    }
            }
            for (int mi = 0; mi < nm; mi++) {
                /* es_classifier_load builds the head without dropout, so
                 * `earshot adapt` fine-tunes without it: the same here
                 * (measured: dropout 0.1 or 0.3 during adaptation forgot
                 * slightly more) */
                es_mlp_cfg mca = mc;
                mca.dropout = 0;
                es_mlp *m = es_mlp_create(&mca, 0, &err);
                memcpy(es_mlp_params(m, NULL), p0, np * sizeof(float));
                es_adapt_cfg ac = {.method = meth[mi], .steps = steps, .batch = dflt.batch, .lr = lr,
                                   .lambda = meth[mi] == ES_ADAPT_EWC ? lam_ewc : lam_l2, .seed = (uint64_t)seed,
                                   .net_lr = enc_lr, .net_lambda = enc_lambda};
                es_cnn *net = NULL;
                if (finetune) {
                    int fw = ES_EMB_STEP * (W - 1) + ES_EMB_WINDOW;
                    net = es_encoder_tail(es_engine_encoder(e), finetune, es_encoder_tail_frames(es_engine_encoder(e), finetune, fw, NULL), &err);
                    float *xt2 = malloc((size_t)n * TROW * sizeof(float));
                    for (int i = 0; i < n; i++) memcpy(xt2 + (size_t)i * TROW, XT + (size_t)arow[i] * TROW, TROW * sizeof(float));
                    if (!net || es_adapt_net(m, net, xt2, ya, (size_t)n, rx, ry, nr, &ac, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
                    free(xt2);
                } else if (es_adapt_mlp(m, xa, ya, (size_t)n, rx, ry, nr, &ac, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
                double at = accuracy_net(m, net, X, tgt, (size_t)ntg), ar = accuracy_net(m, net, X, ret, (size_t)nre);
                es_cnn_free(net);
                printf("| %s | %d | %s | %d | %.4f | %.4f |\n", SPK[s], k, es_adapt_method_name(meth[mi]), dr + 1, at, ar);
                fflush(stdout);
                sum_t[ki][mi] += at / nspk / draws;
                sum_r[ki][mi] += (ar - br) / nspk / draws;
                spk_t[ki][mi] += at / draws;
                spk_d[ki][mi] += (br - ar) / draws;
                es_mlp_free(m);
            }
            free(xa); free(ya); free(arow);
            if (dr == draws - 1)
                for (int mi = 0; mi < nm; mi++) {
                    /* worst speaker = lowest mean over the draws */
                    if (spk_t[ki][mi] < min_t[ki][mi]) min_t[ki][mi] = spk_t[ki][mi];
                    if (spk_d[ki][mi] > max_drop[ki][mi]) max_drop[ki][mi] = spk_d[ki][mi];
                    spk_t[ki][mi] = spk_d[ki][mi] = 0;
                }
        }
        es_mlp_free(base);
        free(tr); free(yt); free(xt); free(ridx); free(rx); free(ry);
    }
    printf("\nsummary over %d held-out speakers x %d draws of the adaptation takes (steps %d, lr %g, lambda l2sp %g, ewc %g,"
           " %d shifts, %d positions, speed %g)\n", nspk, draws, steps, lr, lam_l2, lam_ewc, shifts, positions, speed);
    printf("| k | method | target mean | target worst | retention change (points) | worst speaker's retention drop |\n|---|---|---|---|---|---|\n");
    printf("| 0 | (base) | %.4f | %.4f | (retention %.4f) | |\n", base_t, base_tmin, base_r);
    for (int ki = 0; ki < nk; ki++)
        for (int mi = 0; mi < nm; mi++)
            printf("| %d | %s | %.4f | %.4f | %+.2f | %.2f |\n", ks[ki], es_adapt_method_name(meth[mi]), sum_t[ki][mi],
                   min_t[ki][mi], 100 * sum_r[ki][mi], 100 * max_drop[ki][mi]);
    free(XA);
    es_engine_free(e);
    return 0;
}
