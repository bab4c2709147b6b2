/*
 * bench/es_speaker_bench.c — the speaker-identification protocol on FSDD.
 *
 *   es_speaker_bench FSDD_DIR [FEATURES.npy] [--draws N] [--explore]
 *
 * Computes the representation (es_speaker_features) of all 3,000 clips
 * (kept in FEATURES.npy when given, so a second run skips it), then for
 * k = 1, 3, 5, 10 enrollment takes per speaker and N random draws (seeded
 * es_rng): enroll k clips per speaker drawn at random among its 500 (any
 * digit), fit the projection on those 6k takes only, and test on every
 * other clip of the six speakers.
 *  - identification: accuracy of the closest speaker (closed set);
 *  - verification, closed: every test clip against every enrolled speaker
 *    (target when the same speaker); EER;
 *  - verification, open: only 3 speakers enrolled (a random half), trials
 *    of every test clip of all 6 against those 3, so half the impostors
 *    were never seen by the projection; EER.
 * Figures are means (and minima) over the draws.
 *
 * --fsdd-background: the background covariance is the within-speaker
 * covariance of takes 25-49 of the six speakers; enrollment and tests stay
 * within takes 0-24. --background DIR: from DIR/<voice>_*.wav instead
 * (the whole-clip vectors, weight --beta, default ES_SPK_BETA). --synth V:
 * from V synthetic voices of es_spk_synth_voices (--synth-takes, default
 * 20; --synth-seed, default 7), what `earshot enroll --background synth`
 * makes.
 * --disjoint: background of 3 speakers, 3-way identification among the
 * other 3 (all 20 splits). --single: verification with one speaker
 * enrolled from takes 0-24, without a background unless --background or
 * --fsdd-background is given.
 */
#include "earshot.h"
#include "../model/nn.h"
#include "../pipeline/speaker.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SPK[6] = {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"};
enum { NS = 6, ND = 10, NT = 50, NF = NS * ND * NT };

typedef struct {
    es_engine *e;
    const char *dir;
    float *F;
    int failed;
} job;

static void feat_one(void *ctx, int i)
{
    job *j = ctx;
    int s = i / (ND * NT), d = (i / NT) % ND, t = i % NT;
    char path[4096];
    snprintf(path, sizeof path, "%s/%d_%s_%d.wav", j->dir, d, SPK[s], t);
    es_load_opts lo = {.quantize_int16 = 1};
    es_audio a = {0};
    es_error err = {0};
    if (es_audio_load(path, &lo, &a, &err) || es_speaker_features(j->e, a.samples, a.n, j->F + (size_t)i * ES_SPK_DIM, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        j->failed = 1;
    }
    es_audio_free(&a);
}

static int cmpf(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* equal error rate from target and non-target scores */
static double eer(float *tg, size_t nt, float *im, size_t ni, double *thr)
{
    qsort(tg, nt, sizeof(float), cmpf);
    qsort(im, ni, sizeof(float), cmpf);
    /* sweep thresholds over the sorted target scores */
    double best = 1;
    size_t j = 0;
    for (size_t i = 0; i < nt; i++) {
        float th = tg[i];
        while (j < ni && im[j] < th) j++;
        double frr = (double)i / nt, far = (double)(ni - j) / ni;
        double d = fabs(frr - far), e = (frr + far) / 2;
        static double bd;
        if (i == 0 || d < bd) { bd = d; best = e; if (thr) *thr = th; }
    }
    return best;
}

static float *g_prior;
static double g_beta = ES_SPK_BETA;
static int g_split;   /* 1: background = takes 25-49 of the 6 speakers; enroll and test within takes 0-24 */

typedef struct { double id, eer_c, eer_o, id_min, thr_c, thr_o; } result;

static result run(const float *F, int k, int draws, double alpha, const unsigned char *use, uint64_t seed)
{
    result r = {0, 0, 0, 1, 0, 0};
    double th;
    es_rng rng;
    es_rng_seed(&rng, seed);
    float *X = malloc((size_t)NS * k * ES_SPK_DIM * sizeof(float));
    int *y = malloc((size_t)NS * k * sizeof(int));
    float *tg = malloc(NF * sizeof(float)), *im = malloc(NF * NS * sizeof(float));
    unsigned char *enr = malloc(NF);
    for (int dr = 0; dr < draws; dr++) {
        memset(enr, 0, NF);
        size_t n = 0;
        for (int s = 0; s < NS; s++) {
            int perm[ND * NT], np_ = 0;
            for (int i = 0; i < ND * NT; i++) if (!g_split || i % NT < 25) perm[np_++] = i;
            for (int i = np_; i > 1; i--) { int jj = (int)es_rng_below(&rng, (uint64_t)i); int t = perm[i - 1]; perm[i - 1] = perm[jj]; perm[jj] = t; }
            for (int i = 0; i < k; i++) {
                int f = s * ND * NT + perm[i];
                enr[f] = 1;
                memcpy(X + n * ES_SPK_DIM, F + (size_t)f * ES_SPK_DIM, ES_SPK_DIM * sizeof(float));
                y[n++] = s;
            }
        }
        es_spk_model m;
        es_error err;
        if (es_spk_fit(&m, X, y, n, ES_SPK_SEGS + 1, NS, alpha, g_prior, g_beta, use, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
        size_t ok = 0, tot = 0, nt = 0, ni = 0;
        for (int f = 0; f < NF; f++) {
            if (enr[f] || (g_split && f % NT >= 25)) continue;
            float sc[NS];
            es_spk_score(&m, F + (size_t)f * ES_SPK_DIM, sc);
            int b = 0;
            for (int s = 1; s < NS; s++) if (sc[s] > sc[b]) b = s;
            ok += b == f / (ND * NT);
            tot++;
            for (int s = 0; s < NS; s++) { if (s == f / (ND * NT)) tg[nt++] = sc[s]; else im[ni++] = sc[s]; }
        }
        es_spk_model_free(&m);
        double acc = (double)ok / tot;
        r.id += acc / draws;
        if (acc < r.id_min) r.id_min = acc;
        r.eer_c += eer(tg, nt, im, ni, &th) / draws;
        r.thr_c += th / draws;
        /* open set: enroll speakers 0..2 of a random permutation */
        int sp[NS];
        for (int i = 0; i < NS; i++) sp[i] = i;
        for (int i = NS; i > 1; i--) { int jj = (int)es_rng_below(&rng, (uint64_t)i); int t = sp[i - 1]; sp[i - 1] = sp[jj]; sp[jj] = t; }
        size_t n2 = 0;
        int map[NS];
        for (int i = 0; i < NS; i++) map[i] = -1;
        for (int i = 0; i < 3; i++) map[sp[i]] = i;
        float *X2 = malloc(n * ES_SPK_DIM * sizeof(float));
        int *y2 = malloc(n * sizeof(int));
        for (size_t i = 0; i < n; i++)
            if (map[y[i]] >= 0) { memcpy(X2 + n2 * ES_SPK_DIM, X + i * ES_SPK_DIM, ES_SPK_DIM * sizeof(float)); y2[n2++] = map[y[i]]; }
        if (es_spk_fit(&m, X2, y2, n2, ES_SPK_SEGS + 1, 3, alpha, g_prior, g_beta, use, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
        nt = ni = 0;
        for (int f = 0; f < NF; f++) {
            if (enr[f] || (g_split && f % NT >= 25)) continue;
            float sc[NS];
            es_spk_score(&m, F + (size_t)f * ES_SPK_DIM, sc);
            for (int s = 0; s < 3; s++) { if (map[f / (ND * NT)] == s) tg[nt++] = sc[s]; else im[ni++] = sc[s]; }
        }
        es_spk_model_free(&m);
        free(X2); free(y2);
        r.eer_o += eer(tg, nt, im, ni, &th) / draws;
        r.thr_o += th / draws;
    }
    free(X); free(y); free(tg); free(im); free(enr);
    return r;
}

/* the background covariance from DIR/<speaker>_<anything>.wav */
static int load_background(es_engine *e, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) { fprintf(stderr, "%s: cannot open\n", dir); return -1; }
    struct dirent *de;
    char **names = NULL, spk[1024][64];
    size_t n = 0, cap = 0;
    int S = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".wav")) continue;
        if (n == cap) names = realloc(names, (cap = cap ? 2 * cap : 256) * sizeof(char *));
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    float *X = malloc(n * ES_SPK_DIM * sizeof(float));
    int *y = malloc(n * sizeof(int));
    for (size_t i = 0; i < n; i++) {
        char p[4096], who[64];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        snprintf(who, sizeof who, "%s", names[i]);
        char *u = strchr(who, '_');
        if (u) *u = 0;
        int k = 0;
        while (k < S && strcmp(spk[k], who)) k++;
        if (k == S && S == 1024) { fprintf(stderr, "%s: more than 1024 voices\n", dir); return -1; }
        if (k == S) snprintf(spk[S++], 64, "%s", who);
        y[i] = k;
        es_load_opts lo = {.quantize_int16 = 1};
        es_audio a = {0};
        es_error err = {0};
        if (es_audio_load(p, &lo, &a, &err) || es_speaker_features(e, a.samples, a.n, X + i * ES_SPK_DIM, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return -1;
        }
        es_audio_free(&a);
        free(names[i]);
    }
    free(names);
    g_prior = malloc((size_t)ES_SPK_VEC * ES_SPK_VEC * sizeof(float));
    es_error err = {0};
    for (size_t i = 0; i < n; i++) memmove(X + i * ES_SPK_VEC, X + i * ES_SPK_DIM, ES_SPK_VEC * sizeof(float));
    if (es_spk_within_cov(X, y, n, S, g_prior, &err)) { fprintf(stderr, "%s\n", err.msg); return -1; }
    fprintf(stderr, "background: %zu clips of %d voices\n", n, S);
    free(X); free(y);
    return 0;
}

/* the background covariance from es_spk_synth_voices (what `earshot
 * enroll --background synth` uses) */
static int synth_background(es_engine *e, int voices, int takes, uint64_t seed)
{
    float *X = NULL;
    int *y = NULL;
    size_t n = 0;
    es_error err = {0};
    if (es_spk_synth_voices(e, voices, takes, seed, &X, &y, &n, NULL, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return -1; }
    for (size_t i = 0; i < n; i++) memmove(X + i * ES_SPK_VEC, X + i * ES_SPK_DIM, ES_SPK_VEC * sizeof(float));
    g_prior = malloc((size_t)ES_SPK_VEC * ES_SPK_VEC * sizeof(float));
    if (es_spk_within_cov(X, y, n, voices, g_prior, &err)) { fprintf(stderr, "%s\n", err.msg); return -1; }
    fprintf(stderr, "synthetic background: %zu clips of %d voices (seed %llu)\n", n, voices, (unsigned long long)seed);
    free(X); free(y);
    return 0;
}

/* Verification with one speaker enrolled (the usual case: "is this me?"):
 * for each speaker and draw, a profile holding only that speaker (k clips
 * from takes 0-24) and the background of takes 25-49; trials = every
 * other clip of takes 0-24 of all six speakers against it. EER pooled
 * over the 6 speakers of a draw, mean over draws. */
static void run_single(const float *F, int k, int draws)
{
    es_rng rng;
    es_rng_seed(&rng, 11);
    float *tg = malloc(NF * sizeof(float)), *im = malloc(NF * NS * sizeof(float)), *X = malloc((size_t)k * ES_SPK_DIM * sizeof(float));
    int *y = calloc((size_t)k, sizeof(int));
    unsigned char *enr = malloc(NF);
    double e_sum = 0, th_sum = 0;
    for (int dr = 0; dr < draws; dr++) {
        size_t nt = 0, ni = 0;
        for (int s = 0; s < NS; s++) {
            memset(enr, 0, NF);
            int perm[ND * NT], np_ = 0;
            for (int i = 0; i < ND * NT; i++) if (i % NT < 25) perm[np_++] = i;
            for (int i = np_; i > 1; i--) { int jj = (int)es_rng_below(&rng, (uint64_t)i); int t = perm[i - 1]; perm[i - 1] = perm[jj]; perm[jj] = t; }
            for (int i = 0; i < k; i++) {
                int f = s * ND * NT + perm[i];
                enr[f] = 1;
                memcpy(X + (size_t)i * ES_SPK_DIM, F + (size_t)f * ES_SPK_DIM, ES_SPK_DIM * sizeof(float));
            }
            es_spk_model m;
            es_error err;
            if (es_spk_fit(&m, X, y, (size_t)k, ES_SPK_SEGS + 1, 1, ES_SPK_ALPHA, g_prior, g_beta, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
            for (int f = 0; f < NF; f++) {
                if (enr[f] || f % NT >= 25) continue;
                float sc[1];
                es_spk_score(&m, F + (size_t)f * ES_SPK_DIM, sc);
                if (f / (ND * NT) == s) tg[nt++] = sc[0]; else im[ni++] = sc[0];
            }
            es_spk_model_free(&m);
        }
        double th;
        e_sum += eer(tg, nt, im, ni, &th) / draws;
        th_sum += th / draws;
    }
    printf("| %d | %.3f (%.2f) |\n", k, e_sum, th_sum);
    free(tg); free(im); free(X); free(y); free(enr);
}

/* Background from speakers that are never tested: for each of the 20
 * ways to split the 6 speakers into 3 + 3, the within-speaker covariance
 * of all takes of three of them, identification among the other three
 * (k takes enrolled, all their other takes tested); with and without the
 * background. */
static float *g_tg, *g_im;
static size_t g_nt, g_ni;

static void run_disjoint(const float *F, int k, double beta)
{
    g_tg = malloc((size_t)NF * 20 * sizeof(float));
    g_im = malloc((size_t)NF * 40 * sizeof(float));
    g_nt = g_ni = 0;
    double acc_bg = 0, acc_no = 0;
    int nsplit = 0;
    es_rng rng;
    es_rng_seed(&rng, 5);
    float *X = malloc((size_t)NF * ES_SPK_DIM * sizeof(float)), *cov = malloc((size_t)ES_SPK_VEC * ES_SPK_VEC * sizeof(float));
    int *y = malloc(NF * sizeof(int));
    unsigned char *enr = malloc(NF);
    for (int mask = 0; mask < 64; mask++) {
        if (__builtin_popcount((unsigned)mask) != 3) continue;
        int tg[3], nt = 0, n = 0, map[NS];
        for (int s = 0; s < NS; s++) { map[s] = -1; if (!(mask >> s & 1)) { map[s] = nt; tg[nt++] = s; } }
        for (int f = 0; f < NF; f++)
            if (mask >> (f / (ND * NT)) & 1) { memcpy(X + (size_t)n * ES_SPK_VEC, F + (size_t)f * ES_SPK_DIM, ES_SPK_VEC * sizeof(float)); y[n++] = f / (ND * NT); }
        /* relabel background speakers 0..2 */
        int bl[NS], nb = 0;
        for (int s = 0; s < NS; s++) bl[s] = (mask >> s & 1) ? nb++ : -1;
        for (int i = 0; i < n; i++) y[i] = bl[y[i]];
        es_error err;
        if (es_spk_within_cov(X, y, (size_t)n, 3, cov, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
        memset(enr, 0, NF);
        n = 0;
        for (int i = 0; i < 3; i++) {
            int perm[ND * NT];
            for (int j = 0; j < ND * NT; j++) perm[j] = j;
            for (int j = ND * NT; j > 1; j--) { int q = (int)es_rng_below(&rng, (uint64_t)j); int t = perm[j - 1]; perm[j - 1] = perm[q]; perm[q] = t; }
            for (int j = 0; j < k; j++) {
                int f = tg[i] * ND * NT + perm[j];
                enr[f] = 1;
                memcpy(X + (size_t)n * ES_SPK_DIM, F + (size_t)f * ES_SPK_DIM, ES_SPK_DIM * sizeof(float));
                y[n++] = i;
            }
        }
        /* verification with one target speaker enrolled alone, centred on
         * the background's mean: trials = every test clip of the 3 target
         * speakers */
        {
            for (int i = 0; i < 3; i++) {
                es_spk_model m;
                int y1[64] = {0};
                if (es_spk_fit(&m, X + (size_t)i * k * ES_SPK_DIM, y1, (size_t)k, ES_SPK_SEGS + 1, 1, ES_SPK_ALPHA, cov, beta, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
                for (int f = 0; f < NF; f++) {
                    int s = f / (ND * NT);
                    if (enr[f] || map[s] < 0) continue;
                    float sc;
                    es_spk_score(&m, F + (size_t)f * ES_SPK_DIM, &sc);
                    if (map[s] == i) g_tg[g_nt++] = sc; else g_im[g_ni++] = sc;
                }
                es_spk_model_free(&m);
            }
        }
        for (int with = 0; with < 2; with++) {
            es_spk_model m;
            if (es_spk_fit(&m, X, y, (size_t)n, ES_SPK_SEGS + 1, 3, ES_SPK_ALPHA, with ? cov : NULL, beta, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
            size_t ok = 0, tot = 0;
            for (int f = 0; f < NF; f++) {
                int s = f / (ND * NT);
                if (enr[f] || map[s] < 0) continue;
                float sc[3];
                es_spk_score(&m, F + (size_t)f * ES_SPK_DIM, sc);
                int b = 0;
                for (int q = 1; q < 3; q++) if (sc[q] > sc[b]) b = q;
                ok += b == map[s];
                tot++;
            }
            *(with ? &acc_bg : &acc_no) += (double)ok / (double)tot;
            es_spk_model_free(&m);
        }
        nsplit++;
    }
    double th, e1 = eer(g_tg, g_nt, g_im, g_ni, &th);
    printf("| %d | %.3f | %.3f | %.3f (%.2f) |\n", k, acc_no / nsplit, acc_bg / nsplit, e1, th);
    free(g_tg); free(g_im);
    free(X); free(cov); free(y); free(enr);
}

int main(int argc, char **argv)
{
    int help = argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
    if (argc < 2 || help || argv[1][0] == '-') {
        fprintf(help ? stdout : stderr, "usage: %s FSDD_DIR [FEATURES.npy] [--draws N] [--explore] [--background DIR | "
                "--fsdd-background | --disjoint] [--single] [--beta B] [--synth VOICES [--synth-takes N] [--synth-seed S]]\n",
                argv[0]);
        return help ? 0 : 2;
    }
    const char *dir = argv[1], *cache = NULL, *bg = NULL;
    int draws = 10, explore = 0, fsdd_bg = 0, synth_v = 0, synth_t = 20;
    uint64_t synth_seed = 7;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--draws") && i + 1 < argc) draws = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--explore")) explore = 1;
        else if (!strcmp(argv[i], "--fsdd-background")) { if (g_split == 3) fsdd_bg = 1; else g_split = 1; }
        else if (!strcmp(argv[i], "--disjoint")) g_split = 2;
        else if (!strcmp(argv[i], "--single")) { fsdd_bg = g_split == 1; g_split = 3; }
        else if (!strcmp(argv[i], "--background") && i + 1 < argc) bg = argv[++i];
        else if (!strcmp(argv[i], "--beta") && i + 1 < argc) g_beta = atof(argv[++i]);
        else if (!strcmp(argv[i], "--synth") && i + 1 < argc) synth_v = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--synth-takes") && i + 1 < argc) synth_t = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--synth-seed") && i + 1 < argc) synth_seed = strtoull(argv[++i], NULL, 10);
        else cache = argv[i];
    }
    float *F = NULL;
    size_t shape[8];
    int ndim;
    es_error err = {0};
    if (cache && es_npy_read(cache, &F, shape, &ndim, NULL) == ES_OK && ndim == 2 && shape[0] == NF && shape[1] == ES_SPK_DIM) {
        fprintf(stderr, "features from %s\n", cache);
    } else {
        free(F);
        es_engine *e = es_engine_create(NULL, &err);
        if (!e) { fprintf(stderr, "%s\n", err.msg); return 1; }
        F = malloc((size_t)NF * ES_SPK_DIM * sizeof(float));
        job j = {e, dir, F, 0};
        es_parallel_for(NF, feat_one, &j);
        es_engine_free(e);
        if (j.failed) return 1;
        size_t sh[2] = {NF, ES_SPK_DIM};
        if (cache && es_npy_write(cache, F, sh, 2, &err)) fprintf(stderr, "%s\n", err.msg);
    }
    if (bg || synth_v) {
        es_engine *e = es_engine_create(NULL, &err);
        if (!e || (bg ? load_background(e, bg) : synth_background(e, synth_v, synth_t, synth_seed))) return 1;
        es_engine_free(e);
    }
    if (g_split == 2) {
        printf("| k | 3-way identification, no background | background from the 3 other speakers | EER, one speaker enrolled alone, same background (threshold) |\n|---|---|---|---|\n");
        for (int k = 1; k <= 10; k += (k == 1 ? 2 : k == 3 ? 2 : 5)) run_disjoint(F, k, g_beta);
        return 0;
    }
    if (g_split == 1 || (g_split == 3 && fsdd_bg)) {
        float *X = malloc((size_t)NF * ES_SPK_VEC * sizeof(float));
        int *y = malloc(NF * sizeof(int)), n = 0;
        for (int f = 0; f < NF; f++)
            if (f % NT >= 25) { memcpy(X + (size_t)n * ES_SPK_VEC, F + (size_t)f * ES_SPK_DIM, ES_SPK_VEC * sizeof(float)); y[n++] = f / (ND * NT); }
        g_prior = malloc((size_t)ES_SPK_VEC * ES_SPK_VEC * sizeof(float));
        if (es_spk_within_cov(X, y, (size_t)n, NS, g_prior, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        free(X); free(y);
    }
    if (g_split == 3) {
        printf("| k | EER, one speaker enrolled, background %s (threshold) |\n|---|---|\n",
               fsdd_bg ? "takes 25-49 of the six" : bg ? bg : synth_v ? "synthetic voices (--synth)" : "none");
        /* 20 and 50 too: the score's scale grows with the takes, so the
         * equal-error threshold moves (the automatic one follows it) */
        int ks[] = {1, 3, 5, 10, 20, 50};
        for (int i = 0; i < 6; i++) run_single(F, ks[i], draws);
        return 0;
    }
    static const struct { const char *name; int lo, hi; } blk[] = {
        {"mel", 0, 64}, {"spec", 64, 192}, {"pitch", 192, 196}, {"enc2", 196, 244}, {"enc4", 244, 340}};
    unsigned char use[ES_SPK_VEC];
    if (explore) {
        /* which blocks, which shrinkage */
        for (int mask = 1; mask < 32; mask++) {
            memset(use, 0, sizeof use);
            char nm[64] = "";
            for (int b = 0; b < 5; b++)
                if (mask >> b & 1) {
                    for (int d = blk[b].lo; d < blk[b].hi; d++) use[d] = 1;
                    strcat(nm, blk[b].name); strcat(nm, "+");
                }
            static const double alphas[] = {0.02, 0.1, 0.25, 0.5};
            /* version 2's blocks, the encoder's alone, everything */
            if (mask != 7 && mask != 24 && mask != 31) continue;
            for (int ai = 0; ai < 4; ai++) { double a = alphas[ai];
                result r = run(F, 5, draws, a, use, 1);
                printf("%-22s alpha %.2f  k=5  id %.3f (min %.3f)  EER closed %.3f  open %.3f\n", nm, a, r.id, r.id_min, r.eer_c, r.eer_o);
                fflush(stdout);
            }
        }
        return 0;
    }
    printf("| k | identification (6 speakers) mean | min over draws | EER closed set (threshold) | EER open set (threshold) |\n|---|---|---|---|---|\n");
    int ks[] = {1, 3, 5, 10, 20, 50};
    for (int i = 0; i < 6; i++) {
        result r = run(F, ks[i], draws, ES_SPK_ALPHA, NULL, 1);
        printf("| %d | %.3f | %.3f | %.3f (%.2f) | %.3f (%.2f) |\n", ks[i], r.id, r.id_min, r.eer_c, r.thr_c, r.eer_o, r.thr_o);
        fflush(stdout);
    }
    free(F);
    return 0;
}
