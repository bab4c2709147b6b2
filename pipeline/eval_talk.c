/*
 * pipeline/eval_talk.c — false accepts an hour on other talk, at every
 * threshold and per word (see eval_talk.h).
 *
 * The detector runs once over each file (the front end, the encoder and
 * the model: nearly all the cost) and records what its event logic reads;
 * every threshold after that is a replay of the event logic alone, exact
 * (tests/test_detector.c checks replays against plain runs). Per-word
 * thresholds are chosen by a Lagrangian relaxation: for a price `lambda`
 * of one false accept in missed word clips, each word independently takes
 * the threshold of the grid that minimises its misses + lambda x its false
 * accepts (from the sweep, where every word had that threshold); lambda is
 * the smallest price whose choice stays within the budget. Words interact
 * a little in the detector (of two labels of one model rising on one
 * utterance only the higher peak is an event), so the choice is checked
 * by a replay with exactly those thresholds, and while the check fails the
 * word that fired most in it goes one step up the grid.
 *
 * Each budget's thresholds, per word and one for all, are chosen so on
 * half the talk and judged on the other (see es_talk_choice): on this
 * project's bench (four words, two hours of synthetic talk) the per-word
 * choice "silent on the talk" gave 17 events on the halves it had not
 * seen, one threshold 1.
 */
#include "eval_talk.h"
#include "dataset.h"
#include "../model/safetensors.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void es_talk_eval_free(es_talk_eval *t)
{
    if (!t) return;
    for (size_t i = 0; t->labels && i < t->nlab; i++) free(t->labels[i]);
    free(t->labels);
    for (size_t i = 0; i < t->nbad; i++) free(t->bad[i]);
    free(t->bad);
    free(t->own_by);
    free(t->events);
    free(t->total);
    for (size_t b = 0; b < t->nbud; b++)
        for (int k = 0; k < 2; k++) {
            es_talk_choice *c = k ? &t->bud[b].one : &t->bud[b].word;
            free(c->thr);
            free(c->half_thr[0]);
            free(c->half_thr[1]);
        }
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------ counting */

typedef struct {
    const es_detector *d;
    size_t *by;          /* [labels of d], or NULL */
    size_t total;
    /* by halves of a file in time (an event by where it starts), for the
     * held-out check: half[h] (may be NULL) counts by label the events of
     * each file's first (h = 0) or second half, `mid` being the current
     * file's middle; with only >= 0, `by` and `total` count only that half */
    size_t *half[2];
    double mid;
    int only;
} counter;

static void count(void *user, const es_event *ev)
{
    counter *c = user;
    int h = ev->start >= c->mid;
    if (c->only >= 0 && h != c->only) return;
    c->total++;
    for (size_t i = 0; i < es_detector_labels(c->d); i++)
        if (!strcmp(es_detector_label(c->d, i), ev->label)) {
            if (c->by) c->by[i]++;
            if (c->half[h]) c->half[h][i]++;
            return;
        }
}

/* ------------------------------------------------------------ recording */

typedef struct {
    es_engine *eng;
    const char *model;
    es_detector_opts o;
    char **files;
    size_t nf, next, done;
    es_recording **recs;     /* [nf] */
    es_talk_eval *out;
    es_progress_fn progress;
    void *user;
    pthread_mutex_t lock;
    es_status st;            /* the first failure */
    es_error err;
    char **bad;              /* [nf]: why a file could not be read, else NULL */
} job;

static void *worker(void *p)
{
    job *j = p;
    es_error e = {0};
    es_detector *d = es_detector_create(j->eng, &j->model, 1, &j->o, &e);
    es_status st = d ? ES_OK : e.status ? e.status : ES_ERR_IO;
    size_t nl = d ? es_detector_labels(d) : 0, *by = calloc(nl + 1, sizeof *by);
    if (!st && !by) st = es_fail(&e, ES_ERR_NOMEM, "out of memory");
    for (;;) {
        pthread_mutex_lock(&j->lock);
        if (st && !j->st) { j->st = st; j->err = e; }
        size_t f = !j->st && j->next < j->nf ? j->next++ : SIZE_MAX;
        pthread_mutex_unlock(&j->lock);
        if (f == SIZE_MAX) break;
        es_load_opts lo = {1};
        es_reader *r = es_reader_open(j->files[f], &lo, &e);
        memset(by, 0, nl * sizeof *by);
        counter c = {d, by, 0, {NULL, NULL}, 0, -1};
        st = r ? es_reader_set_resample(r, ES_RESAMPLE_FASTEST, &e) : e.status ? e.status : ES_ERR_IO;
        if (!st) st = es_detector_record(d, r, count, &c, &j->recs[f], &e);
        es_reader_close(r);
        if (st == ES_ERR_IO || st == ES_ERR_FORMAT || st == ES_ERR_UNSUPPORTED) {
            /* a file that cannot be read (empty, not audio) is left out
             * and named, as transcribe does: one bad file in an hour of
             * talk stopped the whole evaluation */
            es_recording_free(j->recs[f]);
            j->recs[f] = NULL;
            pthread_mutex_lock(&j->lock);
            if (strstr(e.msg, j->files[f])) {
                j->bad[f] = strdup(e.msg);
            } else {   /* the reason without the file: both */
                size_t len = strlen(j->files[f]) + strlen(e.msg) + 3;
                if ((j->bad[f] = malloc(len))) snprintf(j->bad[f], len, "%s: %s", j->files[f], e.msg);
            }
            if (!j->bad[f]) { j->st = ES_ERR_NOMEM; snprintf(j->err.msg, sizeof j->err.msg, "out of memory"); }
            if (j->progress) j->progress(j->user, "other talk", ++j->done, j->nf);
            pthread_mutex_unlock(&j->lock);
            st = ES_OK;
            memset(&e, 0, sizeof e);
            continue;
        }
        if (st) continue;   /* recorded at the top of the loop */
        pthread_mutex_lock(&j->lock);
        for (size_t i = 0; i < nl && i < j->out->nlab; i++) j->out->own_by[i] += by[i];
        j->out->own += c.total;
        j->out->seconds += es_recording_seconds(j->recs[f]);
        j->out->files++;
        if (j->progress) j->progress(j->user, "other talk", ++j->done, j->nf);
        pthread_mutex_unlock(&j->lock);
    }
    free(by);
    es_detector_free(d);
    return NULL;
}

/* Events on every recording with thresholds thr[nlab], by label into by
 * (may be NULL) and into half[2] by the half of their file (NULL: not
 * counted), only those of half `only` when it is 0 or 1; the total
 * counted in by. */
static es_status replay_all(es_detector *d, es_recording *const *recs, size_t n, const double *thr, size_t *by,
                            size_t *const half[2], int only, size_t *total, es_error *err)
{
    counter c = {d, by, 0, {half ? half[0] : NULL, half ? half[1] : NULL}, 0, only};
    for (size_t f = 0; f < n; f++) {
        c.mid = es_recording_seconds(recs[f]) / 2;
        es_status st = es_detector_replay(d, recs[f], thr, count, &c, err);
        if (st) return st;
    }
    *total = c.total;
    return ES_OK;
}

/* ------------------------------------------------------------ per word */

typedef struct {
    size_t nlab, nth;
    const int *word;         /* [nlab]: a reported label */
    const size_t *ev;        /* [nth][nlab] */
    const size_t *miss;      /* [nlab][nth]: its clips missed at th[i] */
    const size_t *first;     /* [nlab]: the lowest grid index it may take */
} price_table;

/* Each word's grid index minimising misses + lambda x false accepts (the
 * lowest on ties); the false accepts the sweep predicts for the choice. */
static size_t choose(const price_table *p, double lambda, size_t *idx)
{
    size_t fa = 0;
    for (size_t l = 0; l < p->nlab; l++) {
        if (!p->word[l]) continue;
        size_t best = p->first[l];
        double bc = INFINITY;
        for (size_t i = p->first[l]; i < p->nth; i++) {
            double c = (double)p->miss[l * p->nth + i] + lambda * (double)p->ev[i * p->nlab + l];
            if (c < bc) { bc = c; best = i; }
        }
        idx[l] = best;
        fa += p->ev[best * p->nlab + l];
    }
    return fa;
}

/* The thresholds for at most `budget` events counted in half `only` of
 * the files (-1: all of them): the Lagrangian choice on the grid, checked
 * and repaired by replays. Grid indices into idx[nlab], thresholds into
 * thr[nlab] (0 for the words not reported), the replay's events; *found
 * is 0 when every word that still fires is at the top of the grid. */
static es_status choose_checked(es_detector *d, es_recording *const *recs, size_t nrec, const double *th,
                                const price_table *p, size_t budget, int only, size_t *idx, double *thr,
                                size_t *events, int *found, es_error *err)
{
    size_t *by = calloc(p->nlab + 1, sizeof *by);
    if (!by) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_status st = ES_OK;
    *found = 0;
    /* the cheapest price the sweep predicts within the budget (its
     * prediction only falls as the price rises) */
    double lo = 1e-6, hi = 1e12;
    if (choose(p, lo, idx) <= budget) hi = lo;
    for (int it = 0; it < 80 && hi / lo > 1.001; it++) {
        double mid = sqrt(lo * hi);
        if (choose(p, mid, idx) <= budget) hi = mid;
        else lo = mid;
    }
    choose(p, hi, idx);
    /* The sweep counted each word with every word at one threshold; with
     * another word's threshold raised, an utterance it took from this word
     * (the higher peak wins) can come back as this word's event. So a
     * replay checks the choice, and while it exceeds the budget the word
     * that fired most goes one step up the grid (th ascends). */
    for (;;) {
        size_t got = 0;
        for (size_t l = 0; l < p->nlab; l++) thr[l] = p->word[l] ? th[idx[l]] : 0;
        memset(by, 0, p->nlab * sizeof *by);
        if ((st = replay_all(d, recs, nrec, thr, by, NULL, only, &got, err))) break;
        if (got <= budget) { *events = got; *found = 1; break; }
        size_t worst = SIZE_MAX;
        for (size_t l = 0; l < p->nlab; l++)
            if (p->word[l] && by[l] && idx[l] + 1 < p->nth && (worst == SIZE_MAX || by[l] > by[worst])) worst = l;
        if (worst == SIZE_MAX) break;   /* every word that fires is at the top */
        idx[worst]++;
    }
    free(by);
    return st;
}

/* The eval's clips of the reported words: each one's score for its own
 * word, that word (a detector label) and its fold (a word's clips taken
 * in turn: 0, 1, 0, ...). */
typedef struct {
    size_t n;
    float *s;
    size_t *lab;
    unsigned char *fold;
} clip_set;

/* Clips of `fold` (-1: all) that thresholds thr[nlab] miss: their own
 * score stays under their word's threshold, as es_eval_sweep counts. */
static size_t clips_missed(const clip_set *c, const double *thr, int fold)
{
    size_t m = 0;
    for (size_t i = 0; i < c->n; i++)
        if ((fold < 0 || c->fold[i] == fold) && !(c->s[i] >= thr[c->lab[i]])) m++;
    return m;
}

/* What a search for one budget shares. */
typedef struct {
    es_detector *d;
    es_recording *const *recs;
    size_t nrec;
    const double *th;        /* the grid, ascending */
    double top;              /* its last */
    const double *floor_word;/* [nlab]: the lowest a word's own threshold may go (the model's) */
    const double *floor_one; /* [nlab]: and one threshold for all (the grid's first) */
    const clip_set *clips;
} talk_ctx;

/* Thresholds for at most `budget` events in half `only` of the files (-1:
 * all of them) from the table p into thr[nlab]: a threshold per word
 * (choose_checked), or with one = 1 the lowest of the grid for every word
 * (exact: the sweep counted every word at it). *found = 0: none keeps to
 * it. */
static es_status choose_for(const talk_ctx *c, const price_table *p, int one, size_t budget, int only, double *thr,
                            int *found, es_error *err)
{
    if (!one) {
        size_t *idx = calloc(p->nlab + 1, sizeof *idx), events;
        if (!idx) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        es_status st = choose_checked(c->d, c->recs, c->nrec, c->th, p, budget, only, idx, thr, &events, found, err);
        free(idx);
        return st;
    }
    *found = 0;
    for (size_t i = 0; i < p->nth && !*found; i++) {
        size_t ev = 0;
        for (size_t l = 0; l < p->nlab; l++) ev += p->word[l] ? p->ev[i * p->nlab + l] : 0;
        if (ev > budget) continue;
        for (size_t l = 0; l < p->nlab; l++) thr[l] = p->word[l] ? c->th[i] : 0;
        *found = 1;
    }
    return ES_OK;
}

/* t moved by `shift` logits (up, or down when negative) and rounded up to
 * 0.001, so that the three decimals eval prints are the thresholds it
 * counted with; never above `top` (unless it already was) nor below
 * `floor` (unless it already was). */
static double moved(double t, double shift, double top, double floor_)
{
    if (!(t > 0) || shift == 0 || (shift > 0 && t >= top) || (shift < 0 && t <= floor_)) return t;
    double r = 1 / (1 + exp(-(log(t / (1 - t)) + shift)));
    r = ceil(r * 1000 - 1e-9) / 1000;
    return shift > 0 ? (r > top ? top : r < t ? t : r) : (r < floor_ ? floor_ : r > t ? t : r);
}

/* The shift steps tried: -4, ..., -0.05, 0, 0.05, ..., 12 logits (by then
 * 0.5 is 0.99999). */
enum { SHIFT_DOWN = 80, SHIFT_UP = 240 };
#define SHIFT_STEP 0.05

/* Events on the halves not chosen on with base[f] (chosen on half f)
 * moved by `shift` (never below floors[nlab]); the moved thresholds into
 * half_thr[f] and the events of each into held_ev[f], their sum into
 * *sum. */
static es_status held_at(const talk_ctx *c, size_t L, double *const base[2], const double *floors, double shift,
                         double *const half_thr[2], size_t held_ev[2], size_t *sum, es_error *err)
{
    *sum = 0;
    for (int f = 0; f < 2; f++) {
        for (size_t l = 0; l < L; l++) half_thr[f][l] = moved(base[f][l], shift, c->top, floors[l]);
        es_status st = replay_all(c->d, c->recs, c->nrec, half_thr[f], NULL, NULL, 1 - f, &held_ev[f], err);
        if (st) return st;
        *sum += held_ev[f];
    }
    return ES_OK;
}

/* One way of choosing (one = 0: per word) for `rate` events an hour:
 * chosen on each half, moved by the least shift of the steps with which
 * the halves not chosen on keep to the budget of all the talk, then
 * chosen on all the talk and moved as much. */
static es_status choice(const talk_ctx *c, const price_table *p_all, const price_table p_half[2], int one, double rate,
                        double hours, es_talk_choice *out, es_error *err)
{
    size_t L = p_all->nlab;
    double *base[2] = {calloc(L + 1, sizeof(double)), calloc(L + 1, sizeof(double))},
           *full = calloc(L + 1, sizeof(double));
    out->thr = calloc(L + 1, sizeof *out->thr);
    out->half_thr[0] = calloc(L + 1, sizeof(double));
    out->half_thr[1] = calloc(L + 1, sizeof(double));
    out->missed = out->held_missed = NAN;
    es_status st = ES_OK;
    if (!base[0] || !base[1] || !full || !out->thr || !out->half_thr[0] || !out->half_thr[1]) {
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t budget = (size_t)floor(rate * hours + 1e-9), half_budget = (size_t)floor(rate * hours / 2 + 1e-9);
    int found = 1;
    for (int f = 0; f < 2 && !st && found; f++) st = choose_for(c, &p_half[f], one, half_budget, f, base[f], &found, err);
    if (st || !found) goto done;
    /* The least step that keeps to it, down as well as up: a search that
     * takes the events to fall as the thresholds rise (lo fails, hi
     * holds) and checks the step it lands on. */
    const double *floors = one ? c->floor_one : c->floor_word;
    long lo = 0, hi = 0;
    size_t sum = 0;
    if ((st = held_at(c, L, base, floors, 0, out->half_thr, out->held_ev, &sum, err))) goto done;
    if (sum <= budget) {
        lo = -SHIFT_DOWN;
        if ((st = held_at(c, L, base, floors, lo * SHIFT_STEP, out->half_thr, out->held_ev, &sum, err))) goto done;
        if (sum <= budget) hi = lo;
    } else {
        hi = SHIFT_UP;
        if ((st = held_at(c, L, base, floors, hi * SHIFT_STEP, out->half_thr, out->held_ev, &sum, err))) goto done;
        if (sum > budget) goto done;   /* not even at the top */
    }
    while (hi - lo > 1) {
        long mid = lo + (hi - lo) / 2;
        if ((st = held_at(c, L, base, floors, mid * SHIFT_STEP, out->half_thr, out->held_ev, &sum, err))) goto done;
        if (sum <= budget) hi = mid;
        else lo = mid;
    }
    out->shift = hi * SHIFT_STEP;
    if ((st = held_at(c, L, base, floors, out->shift, out->half_thr, out->held_ev, &sum, err))) goto done;
    out->found = 1;
    if (c->clips->n)
        out->held_missed = (double)(clips_missed(c->clips, out->half_thr[0], 1) + clips_missed(c->clips, out->half_thr[1], 0)) /
                           (double)c->clips->n;
    /* on all the talk */
    if ((st = choose_for(c, p_all, one, budget, -1, full, &found, err))) goto done;
    if (!found) { out->found = 0; goto done; }   /* the halves kept to it and the whole cannot: a grid edge */
    for (size_t l = 0; l < L; l++) out->thr[l] = moved(full[l], out->shift, c->top, floors[l]);
    st = replay_all(c->d, c->recs, c->nrec, out->thr, NULL, NULL, -1, &out->events, err);
    if (!st && c->clips->n) out->missed = (double)clips_missed(c->clips, out->thr, -1) / (double)c->clips->n;
done:
    free(base[0]);
    free(base[1]);
    free(full);
    return st;
}

const es_talk_choice *es_talk_best(const es_talk_budget *b)
{
    if (!b || !b->tried) return NULL;
    const es_talk_choice *w = &b->word, *o = &b->one;
    if (!w->found) return o->found ? o : NULL;
    if (!o->found) return w;
    return w->held_missed < o->held_missed ? w : o;   /* NaN (no clips): one */
}

/* ------------------------------------------------------------ run */

es_status es_talk_eval_run(es_engine *eng, const char *model, const char *dir, const double *th, size_t nth,
                           const es_eval_result *res, const double *budgets, size_t nbudgets, int jobs,
                           es_progress_fn progress, void *user, es_talk_eval *out, es_error *err)
{
    memset(out, 0, sizeof *out);
    if (!eng || !model || !dir || !th || !nth || (nbudgets && !budgets) || nbudgets > ES_TALK_MAX_BUDGETS)
        return es_fail(err, ES_ERR_ARG, "es_talk_eval_run: invalid arguments");
    for (size_t i = 0; i < nth; i++)
        if (!(th[i] > 0 && th[i] <= 1) || (i && !(th[i] > th[i - 1])))
            return es_fail(err, ES_ERR_ARG, "es_talk_eval_run: thresholds must ascend within (0, 1]");
    for (size_t b = 0; b < nbudgets; b++)
        if (!(budgets[b] >= 0 && budgets[b] < 1e9)) return es_fail(err, ES_ERR_ARG, "es_talk_eval_run: a budget must be >= 0");
    job j = {.eng = eng, .model = model, .out = out, .progress = progress, .user = user};
    es_detector_opts_default(&j.o);
    j.o.block = 16;   /* transcribe's */
    es_status st = es_dataset_scan_audio(dir, &j.files, &j.nf, err);
    if (st) return st;
    es_detector *d = NULL;   /* replays, and the labels */
    size_t *miss = NULL, *first = NULL, *miss_fold[2] = {NULL, NULL}, *ev_half[2] = {NULL, NULL};
    int *word = NULL;
    clip_set clips = {0};
    double *floors = NULL;
    if (!j.nf) { st = es_fail(err, ES_ERR_IO, "%s: no audio files", dir); goto done; }
    if (!(d = es_detector_create(eng, &model, 1, &j.o, err))) { st = err && err->status ? err->status : ES_ERR_IO; goto done; }
    size_t L = es_detector_labels(d);
    out->nlab = L;
    out->nth = nth;
    out->labels = calloc(L + 1, sizeof *out->labels);
    out->own_by = calloc(L + 1, sizeof *out->own_by);
    out->events = calloc(nth * L + 1, sizeof *out->events);
    out->total = calloc(nth + 1, sizeof *out->total);
    j.recs = calloc(j.nf, sizeof *j.recs);
    j.bad = calloc(j.nf, sizeof *j.bad);
    word = calloc(L + 1, sizeof *word);
    if (!out->labels || !out->own_by || !out->events || !out->total || !j.recs || !j.bad || !word) {
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t l = 0; l < L; l++)
        if ((word[l] = es_detector_reported(d, l)) && !(out->labels[l] = strdup(es_detector_label(d, l)))) {
            st = es_fail(err, ES_ERR_NOMEM, "out of memory");
            goto done;
        }

    /* every file once, recorded */
    if (jobs < 1) jobs = 1;
    if ((size_t)jobs > j.nf) jobs = (int)j.nf;
    if (jobs > 64) jobs = 64;
    pthread_t tid[64];
    int started = 0;
    pthread_mutex_init(&j.lock, NULL);
    if (progress) progress(user, "other talk", 0, j.nf);
    for (; started < jobs; started++)
        if (pthread_create(&tid[started], NULL, worker, &j)) break;
    if (!started) worker(&j);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&j.lock);
    if (j.st) {
        if (err) *err = j.err;
        st = j.st;
        goto done;
    }
    /* the files left out: named for the caller, and the rest closed up */
    {
        size_t k = 0;
        for (size_t f = 0; f < j.nf; f++) {
            if (j.bad[f]) {
                out->bad = out->bad ? out->bad : calloc(j.nf, sizeof *out->bad);
                if (!out->bad) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
                out->bad[out->nbad++] = j.bad[f];
                j.bad[f] = NULL;
                free(j.files[f]);
                continue;
            }
            j.recs[k] = j.recs[f];
            j.files[k++] = j.files[f];
        }
        j.nf = k;
        if (!j.nf) { st = es_fail(err, ES_ERR_IO, "%s: no file of the talk could be read (%s)", dir, out->bad[0]); goto done; }
    }

    /* the sweep: every word at th[i], also counted by halves of the files */
    double *thr = calloc(L + 1, sizeof *thr);
    ev_half[0] = calloc(nth * L + 1, sizeof *ev_half[0]);
    ev_half[1] = calloc(nth * L + 1, sizeof *ev_half[1]);
    if (!thr || !ev_half[0] || !ev_half[1]) { free(thr); st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < nth && !st; i++) {
        for (size_t l = 0; l < L; l++) thr[l] = word[l] ? th[i] : 0;
        st = replay_all(d, j.recs, j.nf, thr, out->events + i * L,
                        (size_t *const[2]){ev_half[0] + i * L, ev_half[1] + i * L}, -1, &out->total[i], err);
    }
    free(thr);
    if (st || !res) goto done;

    /* per word: each word's clips in the eval, and how many each
     * threshold misses (a clip is missed where its own score stays under
     * it, as es_eval_sweep counts) */
    if (res->n && (!res->scores || !res->truth || !res->kind)) {
        st = es_fail(err, ES_ERR_ARG, "es_talk_eval_run: the eval result holds no scores");
        goto done;
    }
    /* and each clip's score and fold, a word's clips taken in turn (the
     * held-out check) */
    miss = calloc(L * nth + 1, sizeof *miss);
    miss_fold[0] = calloc(L * nth + 1, sizeof *miss_fold[0]);
    miss_fold[1] = calloc(L * nth + 1, sizeof *miss_fold[1]);
    clips.s = calloc(res->n + 1, sizeof *clips.s);
    clips.lab = calloc(res->n + 1, sizeof *clips.lab);
    clips.fold = calloc(res->n + 1, sizeof *clips.fold);
    if (!miss || !miss_fold[0] || !miss_fold[1] || !clips.s || !clips.lab || !clips.fold) {
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t l = 0; l < L; l++) {
        if (!word[l]) continue;
        size_t k = SIZE_MAX;
        for (size_t m = 0; m < res->n_labels; m++)
            if (!strcmp(res->labels[m], out->labels[l])) k = m;
        if (k == SIZE_MAX) continue;   /* no clips of it: nothing to miss */
        size_t n_l = 0;
        for (size_t c = 0; c < res->n; c++) {
            if (res->kind[c] != ES_CLIP_WORD || res->truth[c] != (int)k) continue;
            int fold = (int)(n_l++ & 1);
            float s = res->scores[c * res->n_labels + k];
            clips.s[clips.n] = s;
            clips.lab[clips.n] = l;
            clips.fold[clips.n++] = (unsigned char)fold;
            for (size_t i = 0; i < nth; i++) {
                miss[l * nth + i] += !(s >= th[i]);
                miss_fold[fold][l * nth + i] += !(s >= th[i]);
            }
        }
    }
    /* A word never goes below the model's own threshold for it: that the
     * talk never set a word off does not show it would not fire on other
     * talk, and on a few minutes of talk the quiet words would otherwise
     * fall to thresholds of 0.05. */
    if (!(first = calloc(L + 1, sizeof *first))) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
    for (size_t l = 0; l < L; l++) {
        double own = es_detector_threshold(d, l);
        while (first[l] + 1 < nth && th[first[l]] < own - 1e-9) first[l]++;
    }
    price_table p = {L, nth, word, out->events, miss, first},
                p_half[2] = {{L, nth, word, ev_half[0], miss_fold[0], first},
                             {L, nth, word, ev_half[1], miss_fold[1], first}};
    double hours = out->seconds / 3600;
    floors = calloc(2 * L + 1, sizeof *floors);
    if (!floors) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
    for (size_t l = 0; l < L; l++) {
        floors[l] = th[first[l]];
        floors[L + l] = th[0];
    }
    talk_ctx ctx = {d, j.recs, j.nf, th, th[nth - 1], floors, floors + L, &clips};
    out->nbud = nbudgets;
    for (size_t b = 0; b < nbudgets && !st; b++) {
        es_talk_budget *bu = &out->bud[b];
        bu->budget = budgets[b];
        bu->tried = bu->budget == 0 || hours * bu->budget >= 1 - 1e-9;
        bu->word.missed = bu->word.held_missed = bu->one.missed = bu->one.held_missed = NAN;
        if (!bu->tried) continue;
        st = choice(&ctx, &p, p_half, 0, bu->budget, hours, &bu->word, err);
        if (!st) st = choice(&ctx, &p, p_half, 1, bu->budget, hours, &bu->one, err);
    }
done:
    for (size_t f = 0; j.recs && f < j.nf; f++) es_recording_free(j.recs[f]);
    free(j.recs);
    for (size_t f = 0; j.bad && f < j.nf; f++) free(j.bad[f]);
    free(j.bad);
    for (size_t f = 0; f < j.nf; f++) free(j.files[f]);
    free(j.files);
    free(miss);
    free(miss_fold[0]);
    free(miss_fold[1]);
    free(floors);
    free(clips.s);
    free(clips.lab);
    free(clips.fold);
    free(ev_half[0]);
    free(ev_half[1]);
    free(first);
    free(word);
    es_detector_free(d);
    if (st) es_talk_eval_free(out);
    return st;
}

/* ------------------------------------------------------------ the card */

es_status es_model_set_thresholds(const char *in, const char *out, const char *const *labels, const double *thr,
                                  size_t n, const char *source, es_error *err)
{
    if (!in || !out || (n && (!labels || !thr)) || !source)
        return es_fail(err, ES_ERR_ARG, "es_model_set_thresholds: invalid arguments");
    es_st *st = es_st_load(in, err);
    if (!st) return err && err->status ? err->status : ES_ERR_IO;
    es_status s = ES_OK;
    cJSON *lab = NULL, *card = NULL, *src = NULL;
    char *card_s = NULL;
    size_t nt = es_st_count(st), nm = es_st_meta_count(st);
    es_st_tensor *t = malloc((nt + 1) * sizeof *t);
    const char **keys = malloc((nm + 2) * sizeof *keys), **vals = malloc((nm + 2) * sizeof *vals);
    if (!t || !keys || !vals) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
    const char *lj = es_st_meta(st, "labels");
    if (!es_st_meta(st, "earshot.format") || !lj || !cJSON_IsArray(lab = cJSON_Parse(lj))) {
        s = es_fail(err, ES_ERR_FORMAT, "%s: not a model earshot train wrote (no labels in its card)", in);
        goto done;
    }
    const char *cj = es_st_meta(st, "thresholds");
    card = cJSON_Parse(cj ? cj : "{}");
    if (!cJSON_IsObject(card)) { s = es_fail(err, ES_ERR_FORMAT, "%s: its card's thresholds are not a JSON object", in); goto done; }
    for (size_t i = 0; i < n; i++) {
        int known = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, lab) known |= cJSON_IsString(e) && !strcmp(e->valuestring, labels[i]);
        if (!known) { s = es_fail(err, ES_ERR_ARG, "%s: the model has no label '%s'", in, labels[i]); goto done; }
        if (!(thr[i] > 0 && thr[i] <= 1)) {
            s = es_fail(err, ES_ERR_ARG, "threshold of '%s' must be in (0, 1]", labels[i]);
            goto done;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(card, labels[i]);
        if (!cJSON_AddNumberToObject(card, labels[i], thr[i])) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
    }
    if (!cJSON_IsObject(src = cJSON_Parse(source))) {
        s = es_fail(err, ES_ERR_ARG, "es_model_set_thresholds: the source is not a JSON object");
        goto done;
    }
    if (!(card_s = cJSON_PrintUnformatted(card))) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < nt; i++) t[i] = *es_st_at(st, i);
    /* the card as it was, its thresholds replaced and their source added */
    size_t k = 0;
    int had_thr = 0;
    for (size_t i = 0; i < nm; i++) {
        const char *key = es_st_meta_key(st, i);
        if (!strcmp(key, "thresholds_source")) continue;
        keys[k] = key;
        vals[k] = strcmp(key, "thresholds") ? es_st_meta(st, key) : (had_thr = 1, card_s);
        k++;
    }
    if (!had_thr) { keys[k] = "thresholds"; vals[k++] = card_s; }
    keys[k] = "thresholds_source";
    vals[k++] = source;
    s = es_st_write(out, t, nt, keys, vals, k, err);
done:
    cJSON_Delete(lab);
    cJSON_Delete(card);
    cJSON_Delete(src);
    free(card_s);
    free(t);
    free(keys);
    free(vals);
    es_st_free(st);
    return s;
}
