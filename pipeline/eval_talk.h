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

typedef struct {
    double budget;      /* at most this many false accepts an hour (0: none on this talk) */
    int tried;          /* enough talk to tell: 1 / budget hours (always, for none) */
    int found;          /* thresholds within the budget exist */
    double *thr;        /* [nlab]: each reported word's threshold (0 for the others) */
    size_t events;      /* on the talk with them, counted by a replay */
    double missed;      /* the share of the eval's word clips they miss (NaN: none) */
} es_talk_perword;

typedef struct {
    size_t files;
    double seconds;
    size_t nlab;        /* the detector's labels */
    char **labels;      /* [nlab]: the reported words' names, NULL for the others */
    size_t own;         /* events at the model's own thresholds */
    size_t *own_by;     /* [nlab] */
    size_t nth;
    size_t *events;     /* [nth][nlab]: events of each word, every word at th[i] */
    size_t *total;      /* [nth] */
    size_t npw;
    es_talk_perword pw[ES_TALK_MAX_BUDGETS];
} es_talk_eval;

/* `model` through a detector with transcribe's defaults (block 16, the
 * fastest resampler) over every audio file below `dir`, `jobs` files at a
 * time (each with its own detector; the caller sets es_set_threads), then
 * replayed at th[0..nth) (ascending, in (0, 1]). With `res` (the same model's
 * es_eval, with clip scores) also the per-word thresholds for each of
 * budgets[0..nbudgets) (false accepts an hour, >= 0; at most
 * ES_TALK_MAX_BUDGETS), chosen on the grid th and checked by a replay; a
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
