/*
 * pipeline/train_aug.h — what training adds beyond the dataset's own clips
 * (internal): augmented variants of the training clips, the _silence_
 * class made of background-noise slices, and the decision threshold of the
 * binary wake-word mode.
 *
 * Frozen-encoder training augments by caching variants: variant v of a clip
 * is the clip transformed by a recipe (audio/augment.h) drawn from an
 * es_rng seeded by (seed, the clip's file name, v), embedded, and stored in
 * the embedding cache under a key made of the audio's hash and the recipe
 * (plus the noise file's hash when the recipe uses one). So a clip's
 * variants do not depend on which other clips are trained on (a 5-shot run
 * reuses the variants a 1-shot run cached), and a second run is fast.
 */
#ifndef ES_TRAIN_AUG_H
#define ES_TRAIN_AUG_H

#include "es_internal.h"
#include "../audio/augment.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* The parallel fill of a table of rows that net_rows (below) and train.c's
 * prep_items share: workers claim indices with es_rowjob_next, count each
 * finished one with es_rowjob_done (which calls progress, one caller at a
 * time), and record their first failure with es_rowjob_fail;
 * es_rowjob_run runs part(job, worker) on es_threads() workers and
 * returns the first failure. */
typedef struct {
    size_t n;
    es_progress_fn progress;   /* may be NULL */
    void *user;
    const char *stage;
    /* progress tells base + done of total, or (total 0) done of n: a
     * job that is one batch of a longer run counts on from the last */
    size_t base, total;
    atomic_size_t next, done;
    pthread_mutex_t lock;
    es_status st;
    es_error err;
} es_rowjob;
es_status es_rowjob_run(es_rowjob *w, void (*part)(void *job, int worker), void *job, es_error *err);
int es_rowjob_next(es_rowjob *w, size_t *i);
void es_rowjob_done(es_rowjob *w);
void es_rowjob_fail(es_rowjob *w, es_status st, const es_error *err);

/* --augment auto (the default, augment < 0): ES_AUG_AUTO_VARIANTS
 * variants per training clip when no label has more than
 * ES_AUG_AUTO_MAX_CLIPS, else none. On the 4-speaker FSDD subset (george,
 * jackson <-> lucas, nicolas, seeds 1-3, train -o + eval, 4 offsets x 5
 * positions x 3 heads) 8 variants took 1 shot from 0.822 to 0.857 (all six
 * runs gained) and 5 shots from 0.910 to 0.916; the previous session saw
 * nothing left at 5 shots and more, where each variant costs one more
 * encoder pass per clip. Heads over the frozen encoder only. */
#define ES_AUG_AUTO_VARIANTS 8
#define ES_AUG_AUTO_MAX_CLIPS 5
static inline int es_aug_auto(int augment, size_t per_label)
{
    if (augment >= 0) return augment;
    return per_label <= ES_AUG_AUTO_MAX_CLIPS ? ES_AUG_AUTO_VARIANTS : 0;
}

/* --shifts auto: sub-step offsets (each one more encoder pass over every
 * clip, in training and in es_eval) where they pay. On the 4-speaker FSDD
 * subset 4 offsets against 1 gave +3.0 points at 1 shot, +1.2 at 5 and
 * +1.2 with all clips (pipeline/train.c); with 3,000 clips they also made
 * a cold `train` 4x slower (115 s against 27 s). So ES_SHIFTS_AUTO offsets
 * while no label has more than ES_SHIFTS_AUTO_MAX_CLIPS training clips,
 * else 1 (the numbers are in earshot.h). */
static inline int es_shifts_auto(int shifts, size_t per_label)
{
    if (shifts > 0) return shifts;
    return per_label <= ES_SHIFTS_AUTO_MAX_CLIPS ? ES_SHIFTS_AUTO : 1;
}

/* --speed-perturb auto and --frontend-copy auto: the copies of every clip
 * (each one more encoder pass over it, in training and in es_eval) where
 * they pay; an explicit value (>= 0) stands.
 *
 * The speed copies are two passes and pay mostly with few clips: on the
 * FSDD learning curve (5 splits x 3 seeds) they add 0.2-0.4 points up to
 * 20 clips per label. They apply while no label has more than
 * ES_COPIES_AUTO_MAX_CLIPS training clips, as the offsets do
 * (es_shifts_auto).
 *
 * The front-end copy is one pass and pays at every size measured: +0.8
 * points with 150 clips per label on the curve (0.964 -> 0.972) and +0.9
 * leaving one FSDD speaker out (250 per label, 0.964 -> 0.973), because
 * the encoder reads the whole-clip log-mel better (silence 80 dB under
 * the clip's peak, as it was trained) while the detector needs the
 * streaming one. On all 3,000 FSDD clips it takes a cold `train` from 28
 * to 46 s. Above ES_FRONTEND_COPY_AUTO_MAX_CLIPS per label nothing was
 * measured, so auto does not double the encoder's work there. */
static inline double es_speed_perturb_auto(double speed, size_t per_label)
{
    if (speed >= 0) return speed;
    return per_label <= ES_COPIES_AUTO_MAX_CLIPS ? ES_SPEED_PERTURB_AUTO : 0;
}
static inline int es_frontend_copy_auto(int copy, size_t per_label)
{
    if (copy >= 0) return copy;
    return per_label <= ES_FRONTEND_COPY_AUTO_MAX_CLIPS;
}

#define ES_LABEL_SILENCE "_silence_"
#define ES_LABEL_OTHER "_other_"

/* Rows for a network under the head (fine-tuning, the scratch baseline),
 * which reads something earlier than the embeddings: fn turns y[n], a
 * pad_to window of 16 kHz audio, into row[row] (after spec's SpecAugment
 * masks on its log-mel, when spec is not NULL); name is the source file,
 * for messages. Called from several threads at once. */
typedef struct {
    es_status (*fn)(void *ctx, const float *y, size_t n, const es_aug_recipe *spec, float *row, const char *name,
                    es_error *err);
    void *ctx;
    size_t row;   /* floats per row */
} es_row_maker;

/* Windows of augmented variants: x_out [n*variants][window*96], row
 * i*variants + v = variant v of paths[i] (its centre `window` embeddings
 * after the clip is centred in pad_to seconds). noise[nnoise]: noise
 * recordings for the recipes (none: generated coloured noise). *hits (may
 * be NULL) counts variants found in the cache. progress reports the stage
 * "augmenting". With net (may be NULL), the rows are net's instead,
 * computed once per run rather than cached: x_out [n*variants][net->row]. */
es_status es_aug_embed(es_engine *e, const char *cache_dir, const char *const *paths, size_t n, int variants,
                       const es_aug_ranges *ranges, const char *const *noise, size_t nnoise, uint64_t seed,
                       double pad_to, es_embed_mode mode, size_t window, const es_row_maker *net, float **x_out,
                       size_t *hits, es_progress_fn progress, void *user, es_error *err);

/* `count` windows of "silence": pad_to-second slices of the noise files
 * (file, offset and level drawn from an es_rng seeded with seed): one in
 * ten at -80 dB (near digital silence), the rest at a gain uniform in
 * [-40, 0] dB relative to the recording. x_out [count][window*96], or
 * net's rows as for es_aug_embed. Stage "silence". */
es_status es_silence_embed(es_engine *e, const char *cache_dir, const char *const *noise, size_t nnoise, size_t count,
                           uint64_t seed, double pad_to, es_embed_mode mode, size_t window, const es_row_maker *net,
                           float **x_out, size_t *hits, es_progress_fn progress, void *user, es_error *err);

/* The recipe ranges of the training options (--snr, --gain, --speed,
 * --shift-ms, --aug-p, --specaugment): one place for train and the
 * learning curve, so both draw a clip's variants alike. */
void es_aug_ranges_from_opts(const es_train_opts *o, es_aug_ranges *g);
/* Binary wake-word decision threshold on p(wake) from validation scores:
 * the smallest t >= 0.5 such that at most target_fa of the negatives score
 * >= t (0.5, the plain softmax decision, unless validation shows more false
 * accepts than the target). *fa and *recall (may be NULL) receive the
 * validation false-accept rate and recall at t (NaN without negatives /
 * positives). */
float es_wake_threshold(const float *p_wake, const int *is_wake, size_t n, double target_fa, double *fa,
                        double *recall);

/* ------------------------------------------------------------ in training */

typedef struct {
    const char **labels;      /* the classes trained (pointers into the
                                 dataset or static strings) */
    size_t nlabels;
    int wake;                 /* binary mode: index of the wake word, else -1 */
    int silence;              /* index of _silence_, else -1 */
    char **noise;             /* the noise files used (paths) */
    size_t nnoise;
    char **noise_own;         /* scanned from --noise-dir, or the generated
                                 noise files (owned) */
    int silence_generated;    /* the _silence_ class is generated noise */
    size_t n_noise_own;
    const char **lab_buf;     /* owned storage for labels */
} es_train_ext;
void es_train_ext_free(es_train_ext *x);

/* After the split and the shot selection: append to the training rows
 * (xt [nt][W*96], yt) the augmented variants of the chosen clips
 * (tsel[nt0] = their item indices) and the silence windows, append
 * silence windows to the validation rows too, and in wake-word mode
 * relabel everything as wake word (1) or _other_ (0). Buffers are
 * realloc'd. per_label: the most training clips of any label (before
 * augmentation), which sets the size of the silence class. net (may be
 * NULL): rows are net's (fine-tuning, scratch) instead of embedding
 * windows. Fills x and the augmentation/silence fields of r. */
es_status es_train_extend(es_engine *e, const es_train_opts *o, char **dlabels, size_t dnlabels, char **dnoise,
                          size_t dnnoise, const char *const *tpaths, size_t per_label, size_t window,
                          const es_row_maker *net, float **xt, int **yt, size_t *nt, float **xv, int **yv, size_t *nv,
                          es_train_ext *x, es_train_result *r, es_progress_fn progress, void *user, es_error *err);

/* Long-form other talk: every window ES_TALK_HOP embeddings apart that
 * sees only the audio, of the files unk[nunk] (training clips of
 * _unknown_; one no longer than pad_to gives nothing, its centre window
 * being a row already) and of every audio file below o->negatives_dir
 * (one no longer than pad_to gives its centre window). Windows are
 * numbered 0..total-1 in file order. Embeddings come through the cache, a
 * few files at a time, so hours of talk are never in memory at once. */
#define ES_TALK_HOP 4   /* 0.32 s */
/* 1 when a clip of `count` embeddings is longer than pad_to: more than a
 * clip centred in pad_to seconds gives (2 of slack for rounding). An
 * _unknown_ clip so long is talk: training takes all its windows, and
 * es_eval says it judges it by one. */
int es_clip_is_talk(size_t count, double pad_to, int stream);
typedef struct es_talk es_talk;
/* Scans the files (embedding what the cache lacks). A file that cannot be
 * read fails the call, naming it. */
es_status es_talk_open(es_engine *e, const es_train_opts *o, const char *const *unk, size_t nunk, size_t window,
                       es_talk **out, es_progress_fn progress, void *user, es_error *err);
void es_talk_free(es_talk *t);
size_t es_talk_total(const es_talk *t);    /* windows */
size_t es_talk_files(const es_talk *t);    /* files with at least one */
/* The windows numbered pick[0] < pick[1] < ... into rows [npick][window*96]. */
es_status es_talk_rows(es_talk *t, const size_t *pick, size_t npick, float *rows, es_error *err);
/* Every window in order, a file's at a time: fn(user, number of the
 * first, rows [n][window*96], n, err); a non-zero return stops the walk. */
typedef es_status (*es_talk_each_fn)(void *user, size_t g0, const float *rows, size_t n, es_error *err);
es_status es_talk_each(es_talk *t, es_talk_each_fn fn, void *user, es_error *err);
/* Up to `want` of windows 0..total-1 evenly spaced, leaving out those with
 * skip[g] (skip may be NULL), into pick (increasing); returns how many. */
size_t es_talk_spread(size_t total, size_t want, const unsigned char *skip, size_t *pick);

/* The talk as rows of class y (_unknown_, or a wake-word model's other
 * class), at most o->negatives_max (0 = all) evenly spaced: appended to
 * xt/yt; fills r->n_talk* and talk_seconds. *talk receives the scanned
 * talk (for es_train_head's mining; es_talk_free it). */
es_status es_train_talk(es_engine *e, const es_train_opts *o, const char *const *unk, size_t nunk, size_t window, int y,
                        float **xt, int **yt, size_t *nt, es_talk **talk, es_train_result *r, es_progress_fn progress,
                        void *user, es_error *err);

/* The model card's "augmentation" entry (JSON, malloc'd; NULL on OOM). */
char *es_train_aug_card(const es_train_opts *o, const es_train_ext *x, const es_train_result *r);

/* The clips es_train_head and es_eval embed at a time (pipeline/train.c,
 * vemb_run: each keeps only their windows; es_eval holds one such batch
 * of windows), and the variants es_aug_embed and es_silence_embed do:
 * set to clips (0 = unchanged), returns the count before.
 * 512 by default; tests make it small to see memory that grows with a
 * dataset's size rather than with a batch's. */
size_t es_train_embed_chunk(size_t clips);

#endif
