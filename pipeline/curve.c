/*
 * pipeline/curve.c — the learning curve: how accuracy on unseen speakers
 * grows with the number of training clips per label.
 *
 * For every speaker split (the dataset's speakers are partitioned into a
 * training half and a held-out test half), every shot count and every
 * seed, a head is trained on `shots` clips per label drawn from the
 * training speakers only, and scored on every clip of the test speakers.
 * Test speakers never influence training: no validation set, no early
 * stopping, a fixed number of optimiser steps.
 *
 * With synthetic takes of the labels (synth_dir, `train --learning-curve
 * --words`), every run also trains on all of them, mixed with the picked
 * real clips as es_train_words mixes them (each real clip repeated so a
 * label's real clips weigh real_weight of its synthetic takes); the shot
 * count is of real clips, and only real speakers are split and tested.
 *
 * Speed: the clips are embedded once (through the cache) and pooled once;
 * every run then only trains a small head on pooled vectors, the runs
 * sharing the arrays read-only and running on the library's threads.
 */
#include "es_internal.h"
#include "../model/nn.h"
#include "cache.h"
#include "classifier.h"
#include "dataset.h"
#include "feat.h"
#include "train_aug.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const int DEFAULT_SHOTS[] = {1, 2, 5, 10, 20, 0};

void es_curve_opts_default(es_curve_opts *o)
{
    if (!o) return;   /* as es_load_opts_default: nothing to fill */
    memset(o, 0, sizeof *o);
    es_train_opts_default(&o->train);
    /* the classifier is the one `earshot train -o` saves with the same
     * options (es_train_opts_default: window 8, mean+std pooling, 4 sub-step
     * offsets x 5 window positions, 3 heads), so the curve measures what a
     * user gets. Chosen on a 4-speaker subset of FSDD (george, jackson,
     * lucas, nicolas; 2 train / 2 test, all 6 splits x 2 seeds): against
     * 16 embeddings, meanmax, one offset, one head, 1 shot went from 0.731
     * to 0.794, 5 shots 0.881 -> 0.904, all 0.909 -> 0.930 (with 8
     * offsets, whole-clip features). */
    o->seeds = 3;
    o->splits = 5;
    o->shots = DEFAULT_SHOTS;
    o->n_shots = sizeof DEFAULT_SHOTS / sizeof DEFAULT_SHOTS[0];
    o->scratch = 1;
    es_synth_opts so;
    es_synth_opts_default(&so);
    o->synth_takes = so.takes;
    o->real_weight = so.real_weight;
}

void es_curve_result_free(es_curve_result *r)
{
    if (!r) return;
    for (size_t i = 0; r->split_desc && i < r->n_splits; i++) free(r->split_desc[i]);
    free(r->split_desc);
    free(r->rows);
    free(r->acc);   /* scratch_acc points into it */
    memset(r, 0, sizeof *r);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ splits */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* How many ways half of nspk speakers (rounded down) can be held out:
 * C(nspk, nspk / 2), or SIZE_MAX above max. */
static size_t count_halves(size_t nspk, size_t max)
{
    size_t half = nspk / 2, c = 1;
    for (size_t i = 1; i <= half; i++) {
        /* c * (nspk - half + i) / i stays whole at every step */
        if (c > max * 64) return SIZE_MAX;
        c = c * (nspk - half + i) / i;
    }
    return c > max ? SIZE_MAX : c;
}

/* test[s][speaker] = 1 when the speaker is held out in split s */
static es_status make_splits(const es_curve_opts *o, char **spk, size_t nspk, unsigned char *test, size_t nsplits,
                             es_error *err)
{
    if (o->test_speakers) {
        for (size_t s = 0; s < nsplits; s++) {
            unsigned char *t = test + s * nspk;
            const char *p = o->test_speakers[s];
            size_t held = 0;
            while (*p) {
                const char *q = strchr(p, ',');
                size_t len = q ? (size_t)(q - p) : strlen(p);
                size_t k = 0;
                while (k < nspk && (strlen(spk[k]) != len || memcmp(spk[k], p, len))) k++;
                if (k == nspk)
                    return es_fail(err, ES_ERR_ARG, "%s: split %zu: no speaker '%.*s' in the dataset", o->train.data_dir,
                                   s + 1, (int)len, p);
                held += !t[k];
                t[k] = 1;
                p += len + (q ? 1 : 0);
            }
            if (held == 0 || held == nspk)
                return es_fail(err, ES_ERR_ARG, "%s: split %zu must hold out some but not all of the %zu speakers",
                               o->train.data_dir, s + 1, nspk);
        }
        return ES_OK;
    }
    if (o->splits == ES_CURVE_ALL_SPLITS) {
        /* every half once, in the order of their bit patterns over the
         * sorted speakers (speaker 0 the lowest bit): no draw, so the same
         * dataset always gives the same table */
        size_t half = nspk / 2, s = 0;
        for (uint64_t m = 0; s < nsplits && m < ((uint64_t)1 << nspk); m++) {
            if ((size_t)__builtin_popcountll(m) != half) continue;
            for (size_t k = 0; k < nspk; k++) test[s * nspk + k] = (unsigned char)((m >> k) & 1);
            s++;
        }
        return ES_OK;
    }
    /* seeded random halves; distinct while there are distinct ones left */
    size_t half = nspk / 2, *perm = malloc(nspk * sizeof *perm);
    if (!perm) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_rng rng;
    es_rng_seed(&rng, o->train.seed ^ 0x5b117ULL);
    for (size_t s = 0; s < nsplits; s++) {
        unsigned char *t = test + s * nspk;
        for (int tries = 0; tries < 1000; tries++) {
            for (size_t i = 0; i < nspk; i++) perm[i] = i;
            for (size_t i = nspk; i > 1; i--) {
                size_t j = (size_t)es_rng_below(&rng, i);
                size_t x = perm[i - 1]; perm[i - 1] = perm[j]; perm[j] = x;
            }
            memset(t, 0, nspk);
            for (size_t i = 0; i < half; i++) t[perm[i]] = 1;
            int dup = 0;
            for (size_t r = 0; r < s && !dup; r++) dup = !memcmp(t, test + r * nspk, nspk);
            if (!dup) break;
        }
    }
    free(perm);
    return ES_OK;
}

static char *describe_split(char **spk, size_t nspk, const unsigned char *t)
{
    size_t len = 32;
    for (size_t k = 0; k < nspk; k++) len += strlen(spk[k]) + 2;
    char *s = malloc(len);
    if (!s) return NULL;
    size_t p = 0;
    for (int side = 0; side < 2; side++) {
        p += (size_t)snprintf(s + p, len - p, "%s", side ? " | test: " : "train: ");
        int first = 1;
        for (size_t k = 0; k < nspk; k++)
            if (t[k] == side) {
                p += (size_t)snprintf(s + p, len - p, "%s%s", first ? "" : ",", spk[k]);
                first = 0;
            }
    }
    return s;
}

/* ------------------------------------------------------------ runs */

typedef struct {
    const es_curve_opts *o;
    const es_dataset *d;
    size_t nreal;                /* items [0, nreal) are recordings, the rest synthetic takes */
    const es_feat *f;            /* pooled features [shift][item][P] */
    const int *item_spk;         /* speaker index per item, -1 for a synthetic take */
    size_t nspk, nsplits, nshots;
    const unsigned char *test;   /* [split][speaker] */
    double *acc;                 /* [shot][split][seed], then the same for scratch */
    size_t *most;                /* [shot][split][seed]: the most training clips of a label
                                    (as the auto rules count them: repeats and takes too) */
    const float *sx;             /* the scratch baseline's inputs, or NULL */
    size_t srow;
    size_t per_kind;             /* runs of one kind (pretrained or scratch) */
    atomic_size_t next;
    size_t total;
    pthread_mutex_t lock;
    size_t done, failed;
    es_status first_status;
    char first_msg[512];
    es_progress_fn progress;
    void *user;
} curve_job;

/* The training clips of (shots, split, seed): train[] (returns how many),
 * taken[label] counted. The pick depends on (seed, split) but not on the
 * shot count, so the clips of 1 shot are among those of 2, and so on: the
 * curve moves by what is added, not by a fresh draw. order[n] is scratch. */
static size_t pick_train(const es_curve_opts *o, const es_dataset *d, size_t n, const int *item_spk, const unsigned char *t,
                         int shots, size_t split, size_t seed, size_t *order, size_t *taken, size_t *train)
{
    memset(taken, 0, d->nlabels * sizeof *taken);
    es_rng rng;
    es_rng_seed(&rng, (o->train.seed + seed) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(split + 1) * 0xbf58476d1ce4e5b9ULL);
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t k = (size_t)es_rng_below(&rng, i);
        size_t x = order[i - 1]; order[i - 1] = order[k]; order[k] = x;
    }
    size_t nt = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        int lab = d->items[i].label;
        if (t[item_spk[i]]) continue;
        if (shots > 0 && taken[lab] >= (size_t)shots) continue;
        taken[lab]++;
        train[nt++] = i;
    }
    return nt;
}

/* The whole training list of (shots, split, seed): pick_train's real clips
 * (taken[label] counts them), each repeated as es_train_words repeats
 * them when there are synthetic takes, then every synthetic take. *list
 * is malloc'd (NULL when out of memory); returns its length. */
static size_t train_list(const es_curve_opts *o, const es_dataset *d, size_t nreal, const int *item_spk,
                         const unsigned char *t, int shots, size_t split, size_t seed, size_t *order, size_t *taken,
                         size_t **list)
{
    *list = NULL;
    size_t *pick = malloc((nreal + 1) * sizeof *pick);
    if (!pick) return 0;
    size_t nt = pick_train(o, d, nreal, item_spk, t, shots, split, seed, order, taken, pick);
    size_t nsyn = d->nitems - nreal, reps = 1;
    if (nsyn) {
        /* es_train_words: per label ceil(real clips / labels with real
         * clips), repeated to weigh real_weight x takes, at least once */
        size_t nl = 0;
        for (size_t l = 0; l < d->nlabels; l++) nl += taken[l] > 0;
        size_t per_label = nl ? (nt + nl - 1) / nl : 1;
        double want = per_label ? o->real_weight * o->synth_takes / (double)per_label : 1;
        reps = want < 1 ? 1 : want > 10000 ? 10000 : (size_t)(want + 0.5);
    }
    size_t m = 0, *l = malloc((nt * reps + nsyn + 1) * sizeof *l);
    if (l) {
        for (size_t i = 0; i < nt; i++)
            for (size_t k = 0; k < reps; k++) l[m++] = pick[i];
        for (size_t i = nreal; i < d->nitems; i++) l[m++] = i;
    }
    free(pick);
    *list = l;
    return l ? m : 0;
}

/* The most entries of one label in list[n]. */
static size_t most_per_label(const es_dataset *d, const size_t *list, size_t n, size_t *count)
{
    memset(count, 0, d->nlabels * sizeof *count);
    size_t most = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = ++count[d->items[list[i]].label];
        most = c > most ? c : most;
    }
    return most;
}

/* Run r = (shot, split, seed): pick the clips, train, score the test speakers. */
static es_status one_run(curve_job *j, size_t r, double *acc, es_error *err)
{
    const es_curve_opts *o = j->o;
    const es_dataset *d = j->d;
    size_t seeds = (size_t)o->seeds;
    int scratch = r >= j->per_kind;
    r %= j->per_kind;
    size_t shot_i = r / (j->nsplits * seeds), split = (r / seeds) % j->nsplits, seed = r % seeds;
    int shots = o->shots[shot_i];
    const unsigned char *t = j->test + split * j->nspk;
    size_t n = d->nitems, K = d->nlabels;
    size_t *order = malloc(n * sizeof *order), *taken = calloc(K, sizeof *taken), *count = calloc(K, sizeof *count);
    size_t *train = NULL, *test = malloc(n * sizeof *test);
    es_status st = ES_OK;
    if (!order || !taken || !count || !test) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    size_t nt = train_list(o, d, j->nreal, j->item_spk, t, shots, split, seed, order, taken, &train), ne = 0;
    if (!train) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    size_t most = most_per_label(d, train, nt, count);
    if (!scratch) j->most[r] = most;
    for (size_t i = 0; i < j->nreal; i++)
        if (t[j->item_spk[i]]) test[ne++] = i;
    for (size_t l = 0; l < K; l++)
        if (!count[l]) {
            st = es_fail(err, ES_ERR_ARG, "%s: label '%s' has no clip from the training speakers of split %zu",
                         o->train.data_dir, d->labels[l], split + 1);
            goto out;
        }
    es_feat_model *fm = NULL;
    uint64_t run_seed = (o->train.seed + seed) * 1000003ULL + split;
    if (scratch) {
        size_t ok = 0;
        int *pred = malloc((ne + 1) * sizeof *pred);
        if (!pred) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
        st = es_scratch_fit_predict(j->sx, j->srow, d, train, nt, test, ne, &o->train, run_seed, pred, err);
        for (size_t i = 0; !st && i < ne; i++) ok += pred[i] == d->items[test[i]].label;
        free(pred);
        if (!st) *acc = ne ? (double)ok / (double)ne : NAN;
        goto out;
    }
    if ((st = es_feat_fit(j->f, train, nt, d, &o->train, run_seed, &fm, err))) goto out;
    size_t ok = 0;
    int *pred = malloc((ne + 1) * sizeof *pred);
    if (!pred) { es_feat_model_free(fm); st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    st = es_feat_predict(fm, j->f, test, ne, pred, NULL, err);
    es_feat_model_free(fm);
    for (size_t i = 0; !st && i < ne; i++) ok += pred[i] == d->items[test[i]].label;
    free(pred);
    if (!st) *acc = ne ? (double)ok / (double)ne : NAN;
out:
    free(order); free(taken); free(count); free(train); free(test);
    return st;
}

static void curve_worker(void *p, int thread)
{
    (void)thread;
    curve_job *j = p;
    for (;;) {
        size_t r = atomic_fetch_add(&j->next, 1);
        if (r >= j->total) break;
        es_error e = {0};
        double acc = NAN;
        es_status s = one_run(j, r, &acc, &e);
        j->acc[r] = acc;
        pthread_mutex_lock(&j->lock);
        j->done++;
        if (s && j->failed++ == 0) {
            j->first_status = s;
            snprintf(j->first_msg, sizeof j->first_msg, "%s", e.msg);
            atomic_store(&j->next, j->total);   /* stop handing out runs */
        }
        if (j->progress) j->progress(j->user, "training", j->done, j->total);
        pthread_mutex_unlock(&j->lock);
    }
}

static void stats(const double *v, size_t n, double *mean, double *sd)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    *mean = n ? s / (double)n : NAN;
    double q = 0;
    for (size_t i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (double)(n - 1)) : 0.0;   /* sample std over the runs */
}

/* The index of label `name` in m, which has it. */
static int label_index(const es_dataset *m, const char *name)
{
    int l = 0;
    while (strcmp(m->labels[l], name)) l++;
    return l;
}

/* d's recordings followed by the synthetic takes of sd, as one dataset:
 * labels the union (sorted, as es_dataset_scan sorts them), d's noise
 * recordings. Every label of d but _unknown_ must be one of sd's: the
 * takes are of the words the recordings say (recordings of other speech
 * may come without synthetic _unknown_ takes, as in es_train_words). */
static es_status merge_synth(const es_dataset *d, const es_dataset *sd, const char *ddir, const char *sdir,
                             es_dataset **out, es_error *err)
{
    *out = NULL;
    for (size_t l = 0; l < d->nlabels; l++) {
        size_t k = 0;
        while (k < sd->nlabels && strcmp(sd->labels[k], d->labels[l])) k++;
        if (k == sd->nlabels && strcmp(d->labels[l], ES_LABEL_UNKNOWN))
            return es_fail(err, ES_ERR_ARG, "%s: label '%s' has no synthetic takes in %s (is it one of --words?)", ddir,
                           d->labels[l], sdir);
    }
    es_dataset *m = calloc(1, sizeof *m);
    if (!m) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    m->labels = calloc(d->nlabels + sd->nlabels + 1, sizeof *m->labels);
    m->items = calloc(d->nitems + sd->nitems + 1, sizeof *m->items);
    m->noise = calloc(d->nnoise + 1, sizeof *m->noise);
    int bad = !m->labels || !m->items || !m->noise;
    /* both label lists are sorted: merge them, once each */
    for (size_t a = 0, b = 0; !bad && (a < d->nlabels || b < sd->nlabels); m->nlabels++) {
        int c = a == d->nlabels ? 1 : b == sd->nlabels ? -1 : strcmp(d->labels[a], sd->labels[b]);
        const char *name = c <= 0 ? d->labels[a] : sd->labels[b];
        a += c <= 0;
        b += c >= 0;
        bad = !(m->labels[m->nlabels] = strdup(name));
    }
    for (size_t i = 0; !bad && i < d->nitems + sd->nitems; i++, m->nitems++) {
        const es_dataset *from = i < d->nitems ? d : sd;
        const es_item *it = &from->items[i < d->nitems ? i : i - d->nitems];
        es_item *o = &m->items[i];
        o->label = label_index(m, from->labels[it->label]);
        o->path = strdup(it->path);
        o->speaker = strdup(it->speaker ? it->speaker : "");
        bad = !o->path || !o->speaker;
    }
    for (size_t i = 0; !bad && i < d->nnoise; i++, m->nnoise++) bad = !(m->noise[i] = strdup(d->noise[i]));
    if (bad) { es_dataset_free(m); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    *out = m;
    return ES_OK;
}

typedef struct {
    es_progress_fn fn;
    void *user;
} fwd;

static void embed_progress(void *user, size_t done, size_t total, size_t hits)
{
    (void)hits;
    fwd *f = user;
    if (f->fn) f->fn(f->user, "embedding", done, total);
}

es_status es_learning_curve(es_engine *e, const es_curve_opts *o, es_curve_result *r, es_progress_fn progress,
                            void *user, es_error *err)
{
    ES_ERR_LOCAL(err);
    /* r is required: refused like any NULL argument, not cleared through */
    if (!r) return es_fail(err, ES_ERR_ARG, "es_learning_curve: no result (r) to fill");
    memset(r, 0, sizeof *r);
    if (!e || !o || !o->train.data_dir || !o->shots || o->n_shots < 1 || o->seeds < 1 || o->seeds > 1000 ||
        (!o->test_speakers && o->splits != ES_CURVE_ALL_SPLITS && (o->splits < 1 || o->splits > 1000)) ||
        (o->test_speakers && o->n_test_speakers < 1))
        return es_fail(err, ES_ERR_ARG, "es_learning_curve: invalid arguments");
    for (size_t i = 0; i < o->n_shots; i++)
        if (o->shots[i] < 0) return es_fail(err, ES_ERR_ARG, "shots per label must be positive (0 = all)");
    /* make_splits reads each as a string, after the dataset is scanned */
    for (size_t i = 0; o->test_speakers && i < o->n_test_speakers; i++)
        if (!o->test_speakers[i]) return es_fail(err, ES_ERR_ARG, "es_learning_curve: test_speakers[%zu] is NULL", i);
    /* the settings es_train_head checks, before any work: a window of 0
     * failed late with "value 0 is not finite", a negative one became a
     * size near 2^64, a misspelt balance ran as auto */
    es_status cs = es_train_opts_check(&o->train, err);
    if (cs) return cs;
    double t0 = now_s();
    es_dataset *d = NULL;
    es_feat *f = NULL;
    float *sx = NULL;
    size_t srow = 0;
    char **spk = NULL;
    int *item_spk = NULL;
    unsigned char *test = NULL;
    size_t *most = NULL;
    size_t nspk = 0, skipped = 0;
    es_status st = es_dataset_scan(o->train.data_dir, o->train.pattern, &d, &skipped, err);
    if (st) return st;
    size_t nreal = d->nitems;
    if (o->synth_dir) {
        es_dataset *sd = NULL, *m = NULL;
        if (!(o->real_weight >= 0 && o->real_weight <= 100) || o->synth_takes < 1)
            st = es_fail(err, ES_ERR_ARG, "es_learning_curve: real_weight must be from 0 to 100 and synth_takes positive");
        if (!st) st = es_dataset_scan(o->synth_dir, NULL, &sd, NULL, err);
        if (!st) st = merge_synth(d, sd, o->train.data_dir, o->synth_dir, &m, err);
        es_dataset_free(sd);
        es_dataset_free(d);
        d = m;
        if (st) return st;
    }
    /* the speakers, in order of first appearance in the sorted items */
    spk = calloc(d->nitems + 1, sizeof *spk);
    item_spk = malloc((d->nitems + 1) * sizeof *item_spk);
    if (!spk || !item_spk) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t i = nreal; i < d->nitems; i++) item_spk[i] = -1;
    for (size_t i = 0; i < nreal; i++) {
        const char *s = d->items[i].speaker;
        if (!s || !*s) {
            st = es_fail(err, ES_ERR_ARG,
                         "%s: the learning curve holds out whole speakers, but %s names none (use --pattern with "
                         "{speaker}, or Speech Commands names <speaker>_nohash_<n>)",
                         o->train.data_dir, d->items[i].path);
            goto out;
        }
        size_t k = 0;
        while (k < nspk && strcmp(spk[k], s)) k++;
        if (k == nspk) spk[nspk++] = (char *)s;
        item_spk[i] = (int)k;
    }
    /* sorted by name (byte order), so splits and their descriptions do not
     * depend on file naming beyond the speaker names themselves */
    {
        int *rank = malloc((nspk + 1) * sizeof *rank);
        char **sorted = malloc((nspk + 1) * sizeof *sorted);
        if (!rank || !sorted) { free(rank); free(sorted); st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
        memcpy(sorted, spk, nspk * sizeof *sorted);
        qsort(sorted, nspk, sizeof *sorted, cmp_str);
        for (size_t k = 0; k < nspk; k++)
            for (size_t q = 0; q < nspk; q++)
                if (sorted[q] == spk[k]) rank[k] = (int)q;
        for (size_t i = 0; i < nreal; i++) item_spk[i] = rank[item_spk[i]];
        memcpy(spk, sorted, nspk * sizeof *spk);
        free(rank);
        free(sorted);
    }
    if (nspk < 2) {
        st = es_fail(err, ES_ERR_ARG, "%s: the learning curve needs at least two speakers (found %zu)", o->train.data_dir,
                     nspk);
        goto out;
    }
    size_t nsplits = o->test_speakers ? o->n_test_speakers : (size_t)o->splits;
    if (!o->test_speakers && o->splits == ES_CURVE_ALL_SPLITS) {
        /* 1000 splits at most, as for --splits N (and speakers fit a 64-bit pattern) */
        nsplits = nspk <= 62 ? count_halves(nspk, 1000) : SIZE_MAX;
        if (nsplits == SIZE_MAX) {
            st = es_fail(err, ES_ERR_ARG, "%s: %zu speakers can be split in half in more than 1,000 ways; give --splits N "
                         "for N random ones", o->train.data_dir, nspk);
            goto out;
        }
    }
    test = calloc(nsplits * nspk, 1);
    r->split_desc = calloc(nsplits, sizeof(char *));
    r->rows = calloc(o->n_shots, sizeof *r->rows);
    size_t total = o->n_shots * nsplits * (size_t)o->seeds;
    r->acc = malloc(2 * total * sizeof(double));
    most = calloc(total + 1, sizeof *most);
    if (!test || !r->split_desc || !r->rows || !r->acc || !most) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    if ((st = make_splits(o, spk, nspk, test, nsplits, err))) goto out;
    r->n_splits = nsplits;
    r->n_rows = o->n_shots;
    r->seeds = o->seeds;
    for (size_t s = 0; s < nsplits; s++)
        if (!(r->split_desc[s] = describe_split(spk, nspk, test + s * nspk))) {
            st = es_fail(err, ES_ERR_NOMEM, "out of memory");
            goto out;
        }

    fwd fw = {progress, user};
    if ((st = es_feat_build(e, d, &o->train, embed_progress, &fw, &f, err))) goto out;
    {
        /* augmented variants (es_aug_auto: with few clips per label, as
         * es_train_head adds them) of every clip some run trains on */
        size_t n = d->nitems, *order = malloc((n + 1) * sizeof *order), *taken = calloc(d->nlabels + 1, sizeof *taken);
        size_t *count = calloc(d->nlabels + 1, sizeof *count), *tr = malloc((n + 1) * sizeof *tr), m = 0;
        unsigned char *want = calloc(n + 1, 1);
        int A = 0;
        if (!order || !taken || !count || !tr || !want) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        for (size_t k = 0; !st && k < o->n_shots; k++)
            for (size_t sp = 0; !st && sp < nsplits; sp++)
                for (size_t sd = 0; !st && sd < (size_t)o->seeds; sd++) {
                    size_t *list;
                    size_t nt = train_list(o, d, nreal, item_spk, test + sp * nspk, o->shots[k], sp, sd, order, taken, &list);
                    if (!list) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); break; }
                    int a = es_aug_auto(o->train.augment, most_per_label(d, list, nt, count));
                    if (a) {
                        A = a;   /* es_aug_auto gives 0 or one count */
                        for (size_t i = 0; i < nt; i++) want[list[i]] = 1;
                    }
                    free(list);
                }
        for (size_t i = 0; !st && i < n; i++) if (want[i]) tr[m++] = i;
        if (!st && m) st = es_feat_add_aug(f, e, d, tr, m, &o->train, A, err);
        free(order); free(taken); free(count); free(tr); free(want);
        if (st) goto out;
    }
    if (o->scratch && (st = es_scratch_prep(e, d, &o->train, &sx, &srow, err))) goto out;
    r->embed_seconds = now_s() - t0;

    curve_job j = {.o = o, .d = d, .nreal = nreal, .f = f, .item_spk = item_spk, .nspk = nspk, .nsplits = nsplits,
                   .nshots = o->n_shots, .test = test, .acc = r->acc, .most = most, .sx = sx, .srow = srow, .per_kind = total,
                   .total = o->scratch ? 2 * total : total, .progress = progress, .user = user};
    atomic_init(&j.next, 0);
    if (pthread_mutex_init(&j.lock, NULL) != 0) { st = es_fail(err, ES_ERR_NOMEM, "cannot create a mutex"); goto out; }
    int threads = es_threads();
    if ((size_t)threads > j.total) threads = (int)j.total;
    es_parallel_for(threads, curve_worker, &j);
    pthread_mutex_destroy(&j.lock);
    if (j.failed) { st = es_fail(err, j.first_status, "%s", j.first_msg); goto out; }

    size_t per = nsplits * (size_t)o->seeds;
    for (size_t k = 0; k < o->n_shots; k++) {
        es_curve_row *row = &r->rows[k];
        row->shots = o->shots[k];
        row->n = per;
        stats(r->acc + k * per, per, &row->mean, &row->std);
        row->clips_min = SIZE_MAX;
        for (size_t i = 0; i < per; i++) {
            size_t c = most[k * per + i];
            if (c < row->clips_min) row->clips_min = c;
            if (c > row->clips_max) row->clips_max = c;
        }
        row->scratch_mean = row->scratch_std = NAN;
        if (o->scratch) stats(r->acc + total + k * per, per, &row->scratch_mean, &row->scratch_std);
    }
    r->scratch_available = o->scratch;
    if (o->scratch) r->scratch_acc = r->acc + total;
    else snprintf(r->scratch_note, sizeof r->scratch_note, "not run (--no-scratch)");
    r->seconds = now_s() - t0;
out:
    es_feat_free(f);
    free(sx);
    free(most);
    es_dataset_free(d);
    free(spk);
    free(item_spk);
    free(test);
    if (st) es_curve_result_free(r);
    return st;
}
