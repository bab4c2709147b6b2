/*
 * pipeline/eval_talk.h — false accepts an hour on recordings of other talk
 * (earshot eval --negatives): the streaming detector over every file of a
 * folder, recorded once (es_detector_record) and replayed at every
 * threshold of a sweep (es_detector_replay), counted by word; and the
 * per-word thresholds that keep the false accepts within a budget while
 * missing the fewest of an eval's word clips.
 */
#ifndef ES_EVAL_TALK_H
#define ES_EVAL_TALK_H

#include "earshot.h"

/* The most budgets (false accepts an hour) per-word thresholds are sought
 * for in one run. */
#define ES_TALK_MAX_BUDGETS 4

/* One way of choosing thresholds for a budget: a threshold per word, or
 * one for every word. Thresholds chosen on some talk flatter themselves
 * when counted on it: a word held just above its loudest false accept on
 * an hour of talk fires about once in the next hour (the next hour's
 * loudest is as likely to be either), so with four words a "silent"
 * choice gives about four. So each choice is made on half the talk (each
 * file's first, then its second half in time, an event by where it
 * starts) and half of each word's clips (alternate ones) and judged on the
 * other halves, both ways round; the thresholds are then moved, all by one
 * step in logits (`shift`), to the lowest where the halves not chosen on
 * keep to the budget of all the talk. The choice on all the talk is moved
 * by that step. */
typedef struct {
    int found;           /* thresholds up to the grid's top keep to the budget on the halves not chosen on */
    double shift;        /* logits added to every chosen threshold (then rounded up to 0.001) */
    double *thr;         /* [nlab]: chosen on all the talk, moved (0 for labels not reported) */
    size_t events;       /* on all the talk with thr */
    double missed;       /* the share of the eval's word clips thr misses (NaN: none) */
    double *half_thr[2]; /* [nlab]: chosen on half f (each file's first half: 0), moved */
    size_t held_ev[2];   /* events on the other half with half_thr[f] */
    double held_missed;  /* the share of the clips missed by the thresholds not chosen on them */
} es_talk_choice;

typedef struct {
    double budget;       /* at most this many false accepts an hour (0: none on this talk) */
    int tried;           /* enough talk to tell: 1 / budget hours (always, for none) */
    es_talk_choice word; /* a threshold per word */
    es_talk_choice one;  /* one threshold for every word */
} es_talk_budget;

/* The better choice of a budget: the one whose held-out clips were missed
 * less (one threshold on a tie: it is simpler); NULL if neither keeps to
 * it or the budget was not tried. */
const es_talk_choice *es_talk_best(const es_talk_budget *b);

typedef struct {
    size_t files;
    double seconds;
    char **bad;         /* [nbad]: files that could not be read, each "FILE: why"; */
    size_t nbad;        /* they are left out of the talk, as transcribe goes on */
    size_t nlab;        /* the detector's labels */
    char **labels;      /* [nlab]: the reported words' names, NULL for the others */
    size_t own;         /* events at the model's own thresholds */
    size_t *own_by;     /* [nlab] */
    size_t nth;
    size_t *events;     /* [nth][nlab]: events of each word, every word at th[i] */
    size_t *total;      /* [nth] */
    size_t nbud;
    es_talk_budget bud[ES_TALK_MAX_BUDGETS];
} es_talk_eval;

/* `model` through a detector with transcribe's defaults (block 16, the
 * fastest resampler) over every audio file below `dir`, `jobs` files at a
 * time (each with its own detector; the caller sets es_set_threads), then
 * replayed at th[0..nth) (ascending, in (0, 1]). With `res` (the same model's
 * es_eval, with clip scores) also the thresholds for each of
 * budgets[0..nbudgets) (false accepts an hour, >= 0; at most
 * ES_TALK_MAX_BUDGETS), a threshold per word and one for all, chosen on
 * the grid th, checked by replays and held out as es_talk_choice says; a
 * budget above 0 is tried only with 1 / budget hours of talk or more.
 * Progress as "other talk", by files. */
es_status es_talk_eval_run(es_engine *eng, const char *model, const char *dir, const double *th, size_t nth,
                           const es_eval_result *res, const double *budgets, size_t nbudgets, int jobs,
                           es_progress_fn progress, void *user, es_talk_eval *out, es_error *err);
void es_talk_eval_free(es_talk_eval *t);

/* A copy of the model file `in` with the model card's "thresholds" set to
 * thr[i] for labels[i] (the others kept) and "thresholds_source" set to
 * `source` (a JSON object saying where they came from), written
 * atomically to `out` (which may be `in`). A label the model does not
 * have, or a threshold outside (0, 1], is refused and nothing written. */
es_status es_model_set_thresholds(const char *in, const char *out, const char *const *labels, const double *thr,
                                  size_t n, const char *source, es_error *err);

#endif
