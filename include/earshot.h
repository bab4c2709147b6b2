/*
 * earshot.h — the public API of libearshot.
 *
 * One header, opaque handles, explicit ownership. Every function that can
 * fail returns an es_status and, when given a non-NULL es_error, fills a
 * human-readable message that names the file (if any) and the reason.
 * Nothing in the library prints or exits.
 *
 * Units: audio handed to the front end is 16 kHz mono float in int16 scale
 * (about +-32768), as the pretrained melspectrogram model expects.
 * Log-mel frames are 32 bins every 10 ms, already scaled by x/10 + 2.
 * Embeddings are 96 floats every 80 ms.
 */
#ifndef EARSHOT_H
#define EARSHOT_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ES_VERSION "0.1.0"

#define ES_SAMPLE_RATE 16000
#define ES_MEL_BINS 32
#define ES_MEL_HOP 160          /* samples between frames */
#define ES_MEL_WIN 512          /* samples per frame (FFT size) */
#define ES_EMB_DIM 96
#define ES_EMB_WINDOW 76        /* mel frames per encoder window */
#define ES_EMB_STEP 8           /* mel frames between embeddings */
#define ES_CHUNK 1280           /* samples per streaming step (80 ms) */
#define ES_CHUNK_CONTEXT 480    /* extra samples of context per chunk */

typedef enum {
    ES_OK = 0,
    ES_ERR_ARG,          /* invalid argument from the caller */
    ES_ERR_IO,           /* file cannot be opened, read or written */
    ES_ERR_FORMAT,       /* bytes are not what they claim to be */
    ES_ERR_MODEL,        /* a model file is valid ONNX but not the expected model */
    ES_ERR_NOMEM,
    ES_ERR_UNSUPPORTED
} es_status;

typedef struct {
    es_status status;
    char msg[512];
} es_error;

const char *es_status_str(es_status s);

/* ---------------------------------------------------------------- audio */

/* 16 kHz mono audio in int16 scale. */
typedef struct {
    float *samples;
    size_t n;
    int src_rate;       /* rate of the source before resampling */
    int src_channels;
} es_audio;

typedef enum {
    ES_PCM_S16 = 0, ES_PCM_S8, ES_PCM_U8, ES_PCM_S24, ES_PCM_S32, ES_PCM_F32, ES_PCM_F64
} es_pcm_format;

typedef struct {
    int quantize_int16;  /* round to whole int16 values (what openWakeWord feeds) */
} es_load_opts;

/* Decode any file libsndfile reads, downmix to mono, resample to 16 kHz
 * (libsamplerate, best-quality sinc) and scale to int16 range. */
es_status es_audio_load(const char *path, const es_load_opts *opts, es_audio *out, es_error *err);
/* Raw interleaved little-endian PCM from a stream (e.g. stdin). `name` is
 * used in error messages. */
es_status es_audio_load_raw(FILE *f, const char *name, int rate, int channels,
                            es_pcm_format fmt, const es_load_opts *opts,
                            es_audio *out, es_error *err);
/* Mono float samples at any rate in int16 scale -> 16 kHz. */
es_status es_audio_resample(const float *x, size_t n, int rate, float **out, size_t *out_n, es_error *err);
void es_audio_free(es_audio *a);

/* Block-wise reading, so memory does not grow with the length of the
 * input: the same decoding, downmixing, resampling and scaling as
 * es_audio_load (whose samples it gives exactly, however the reads are
 * sized), with fixed-size internal buffers. Errors name the file; an input
 * with no samples is reported by the read that reaches its end. After an
 * error every further read repeats it. */
typedef struct es_reader es_reader;
/* Open a file (any format libsndfile reads) for block-wise reading as 16 kHz mono int16-scale floats. */
es_reader *es_reader_open(const char *path, const es_load_opts *opts, es_error *err);
/* Raw PCM from a stream (stdin), as es_audio_load_raw. The stream is not closed. */
es_reader *es_reader_open_raw(FILE *f, const char *name, int rate, int channels, es_pcm_format fmt,
                              const es_load_opts *opts, es_error *err);
/* Read up to max (> 0) samples; *got = 0 means end of input. */
es_status es_reader_read(es_reader *r, float *out, size_t max, size_t *got, es_error *err);
int es_reader_rate(const es_reader *r);       /* source rate */
int es_reader_channels(const es_reader *r);   /* source channels */
double es_reader_duration(const es_reader *r); /* seconds if known from the header, else -1 */
void es_reader_close(es_reader *r);

es_status es_pcm_format_parse(const char *s, es_pcm_format *fmt);

/* ------------------------------------------------------------------ onnx */

typedef struct es_onnx es_onnx;
es_onnx *es_onnx_load(const char *path, es_error *err);
es_onnx *es_onnx_parse(const unsigned char *buf, size_t len, const char *name, es_error *err);
void es_onnx_free(es_onnx *m);

/* ------------------------------------------------------------- front end */

typedef struct es_mel es_mel;
/* Build the log-mel front end from melspectrogram.onnx (the DFT kernels
 * carry the window, 1.melW the mel matrix). Refuses any other model. */
es_mel *es_mel_create(const es_onnx *model, es_error *err);
void es_mel_free(es_mel *m);
/* Number of frames the reference yields for n samples. */
size_t es_mel_frames(size_t n);
/* Whole clip: top-dB clamp over the whole clip. out: [frames][32], scaled.
 * `out` must hold es_mel_frames(n)*32 floats. */
es_status es_mel_compute(es_mel *m, const float *x, size_t n, float *out, es_error *err);

/* Streaming in the reference's way: every 1280 new samples the front end
 * runs on the last 1280+480 samples (fewer at the very start), yielding 8
 * new frames (5 for the first chunk); the top-dB clamp is per chunk. */
typedef struct es_mel_stream es_mel_stream;
es_mel_stream *es_mel_stream_create(es_mel *m, es_error *err);
void es_mel_stream_free(es_mel_stream *s);
/* Feed any number of samples; up to `max_frames` completed frames are
 * written to out ([k][32]); *n_frames receives k. Each 1280-sample chunk
 * gives at most 8 frames, so max_frames >= 8*(n/1280 + 1) is always enough. */
es_status es_mel_stream_push(es_mel_stream *s, const float *x, size_t n,
                             float *out, size_t max_frames, size_t *n_frames, es_error *err);

/* --------------------------------------------------------------- encoder */

typedef struct es_encoder es_encoder;
es_encoder *es_encoder_create(const es_onnx *model, es_error *err);
void es_encoder_free(es_encoder *e);
/* (a) batches of independent 76-frame windows: mel [nwin][76][32] -> out [nwin][96] */
es_status es_encoder_windows(es_encoder *e, const float *mel, size_t nwin, float *out, es_error *err);
/* Embeddings a whole utterance of `frames` frames yields: (frames-76)/8+1, or 0. */
size_t es_encoder_count(size_t frames);
/* (b) fully convolutional over a whole utterance: out [es_encoder_count(frames)][96] */
es_status es_encoder_full(es_encoder *e, const float *mel, size_t frames, float *out, es_error *err);

/* (c) streaming with per-layer caches: push mel frames, get embeddings as
 * soon as they are complete. Results equal (b) on the concatenated input. */
typedef struct es_encoder_stream es_encoder_stream;
es_encoder_stream *es_encoder_stream_create(es_encoder *e, es_error *err);
void es_encoder_stream_free(es_encoder_stream *s);
void es_encoder_stream_reset(es_encoder_stream *s);
/* out must hold (frames/8 + 1)*96 floats; *n_out receives the count. */
es_status es_encoder_stream_push(es_encoder_stream *s, const float *mel, size_t frames,
                                 float *out, size_t *n_out, es_error *err);

/* ----------------------------------------------------------------- heads */

/* An openWakeWord-format classifier head, evaluated from its ONNX graph. */
typedef struct es_head es_head;
es_head *es_head_create(const es_onnx *model, const char *name, es_error *err);
void es_head_free(es_head *h);
const char *es_head_name(const es_head *h);
size_t es_head_window(const es_head *h);   /* embeddings per input, e.g. 16 */
size_t es_head_classes(const es_head *h);  /* outputs, e.g. 1 or 7 */
/* Label of output i: the head's name for a one-output head; for a
 * multi-class head, the label from the output's name when it holds a JSON
 * map of class index to label (openWakeWord's convention; class 0 is then
 * the background and its label is NULL), else "<name>:<i>". */
const char *es_head_label(const es_head *h, size_t i);
/* emb: [window][96] -> scores: [classes] */
es_status es_head_run(es_head *h, const float *emb, float *scores, es_error *err);

/* ---------------------------------------------------------------- models */

/* Where the pretrained models are cached: $EARSHOT_MODELS, else
 * $XDG_CACHE_HOME/earshot/models, else ~/.cache/earshot/models. */
es_status es_models_dir(char *buf, size_t size, es_error *err);
/* Resolve a model name (e.g. "hey_jarvis", "embedding_model") or a path
 * against a models directory (NULL = default), and check it exists. */
es_status es_models_path(const char *dir, const char *name, char *buf, size_t size, es_error *err);


/* -------------------------------------------------------------- pipeline */

/* Threads one library call may use (0 = the online CPUs, at most 8). The
 * library splits work itself (windows, segments of an utterance, frames)
 * and keeps OpenBLAS to one thread. Process-wide. */
void es_set_threads(int n);

/* The pretrained front end + encoder, loaded from a models directory
 * (NULL = es_models_dir()). */
typedef struct es_engine es_engine;
es_engine *es_engine_create(const char *models_dir, es_error *err);
void es_engine_free(es_engine *e);
es_mel *es_engine_mel(es_engine *e);
es_encoder *es_engine_encoder(es_engine *e);
const char *es_engine_models_dir(const es_engine *e);
/* SHA-256 (64 hex digits) of the encoder and front-end model files. */
const char *es_engine_encoder_sha256(const es_engine *e);
const char *es_engine_mel_sha256(const es_engine *e);

typedef enum {
    ES_EMBED_WHOLE = 0,  /* log-mel over the whole clip, then every 8 frames:
                            openWakeWord's embed_clips */
    ES_EMBED_STREAM      /* openWakeWord's streaming features: mel per 1280-
                            sample chunk, mel buffer primed with ones */
} es_embed_mode;

typedef struct {
    es_embed_mode mode;
    double pad_before;   /* seconds of silence added before the audio */
    double pad_after;    /* ... and after */
    double pad_to;       /* if > 0: centre the clip in this many seconds of
                            silence (applied before pad_before/after) */
} es_embed_opts;

/* Compute log-mel [*frames][32] and embeddings [*n_emb][96] of 16 kHz audio.
 * Either output pointer may be NULL if not wanted; results are malloc'd. */
es_status es_embed_audio(es_engine *e, const float *x, size_t n, const es_embed_opts *opts,
                         float **mel, size_t *frames, float **emb, size_t *n_emb, es_error *err);

/* Streaming scorer: audio in, one score vector per 80 ms per head out, in
 * openWakeWord's streaming way. Used for files and live audio alike. */
typedef struct es_scorer es_scorer;
/* Called once per 80 ms step with a head's scores. `t` is the time in
 * seconds (of the audio pushed) at the end of the step. */
typedef void (*es_score_fn)(void *user, size_t head, double t, const float *scores, size_t n);
es_scorer *es_scorer_create(es_engine *e, es_head **heads, size_t nheads, es_error *err);
void es_scorer_free(es_scorer *s);
es_status es_scorer_push(es_scorer *s, const float *x, size_t n, es_score_fn fn, void *user, es_error *err);


/* -------------------------------------------------------- transfer learning */

/* A classifier head trained by earshot over windows of embeddings, stored
 * as .safetensors with a model card in its metadata. */
typedef struct es_classifier es_classifier;
es_classifier *es_classifier_load(const char *path, es_error *err);
void es_classifier_free(es_classifier *c);
size_t es_classifier_classes(const es_classifier *c);
const char *es_classifier_label(const es_classifier *c, size_t i);
size_t es_classifier_window(const es_classifier *c);     /* embeddings per input */
double es_classifier_pad_to(const es_classifier *c);     /* seconds clips are centred in */
/* A model-card entry (metadata value), NULL if absent. */
const char *es_classifier_meta(const es_classifier *c, const char *key);
/* probs[classes] for emb [window][96]. A scratch-baseline model reads
 * log-mel, not embeddings: it refuses (use es_classifier_predict_audio). */
es_status es_classifier_predict(es_classifier *c, const float *emb, float *probs, es_error *err);
/* The kind of model: "frozen" (head over the pretrained encoder),
 * "finetune" (also carries its last K encoder convolutions, K in *k if
 * non-NULL) or "scratch" (the from-scratch CNN baseline). */
const char *es_classifier_kind(const es_classifier *c, int *k);
/* probs[classes] for a clip of 16 kHz audio in int16 scale, exactly as
 * training and es_eval see it: centred in es_classifier_pad_to seconds,
 * its centre window classified. Works for every kind; for a fine-tuned
 * model `e` must come from es_engine_create_for_classifier (else
 * ES_ERR_MODEL), for the others any engine of the same encoder. */
es_status es_classifier_predict_audio(es_engine *e, es_classifier *c, const float *x, size_t n, float *probs,
                                      es_error *err);
/* An engine that runs what the classifier was trained on: the pretrained
 * front end and encoder, with a fine-tuned model's encoder tensors in
 * place of the pretrained ones (models_dir NULL = es_models_dir()). Refuses
 * (ES_ERR_MODEL) a classifier trained on another encoder file. Every path
 * of the engine (es_embed_audio, the scorer, the cache) then uses the
 * fine-tuned encoder; es_engine_encoder_id tells the two apart. */
es_engine *es_engine_create_for_classifier(const char *models_dir, const es_classifier *c, es_error *err);
/* Identity of the encoder weights an engine runs (64 hex digits): the
 * encoder file's SHA-256, or for an engine made for a fine-tuned model a
 * hash of that and the override tensors. Keys the embedding cache. */
const char *es_engine_encoder_id(const es_engine *e);

typedef struct {
    const char *data_dir;     /* one folder per label, or flat with `pattern` */
    const char *pattern;      /* e.g. "{label}_{speaker}_{take}", or NULL */
    const char *val_dir;      /* explicit validation set, or NULL */
    double val_fraction;      /* held out when val_dir is NULL (default 0.2) */
    unsigned long long seed;
    double pad_to;            /* seconds each clip is centred in (default 2.0) */
    int window;               /* embeddings per input (default 16) */
    const char *pooling;      /* flat, mean, max, meanmax, meanstd (default meanmax) */
    int hidden;               /* 0: linear softmax head; else one hidden block
                                 (default 128) */
    float dropout;
    int epochs, batch, patience;
    int min_steps;            /* few clips: raise epochs to take at least this
                                 many optimiser steps (default 500; 0 = off) */
    float lr, weight_decay;
    const char *balance;      /* none, sample, weight, auto (default auto) */
    int shots;                /* > 0: at most this many training clips per label */
    const char *cache_dir;    /* embedding cache, NULL = default */
    /* classifier/feature settings of the learning curve (pipeline/feat.c) */
    int shifts;               /* sub-step offsets of the audio against the
                                 80 ms grid: training examples and test-time
                                 averaging (1 = none) */
    const char *norm;         /* pooled-vector normalisation: none, l2, z, zl2 */
    float proto;              /* weight of the cosine class-mean classifier
                                 mixed with the head (0 = head only, 1 = only
                                 prototypes) */
    float proto_temp;         /* its softmax temperature (default 10) */
    int ensemble;             /* heads with different seeds, averaged */
    int positions;            /* window positions one embedding apart around
                                 the centre, used like the offsets (1 = centre) */
    double speed_perturb;     /* > 0: also train on copies at speed 1 -+ this
                                 (tempo and pitch, libsamplerate); 0 = off */
    /* Fine-tuning: > 0 trains the last `finetune` of the encoder's 20
     * convolutions with the head (0 = encoder frozen). Their input is
     * computed once per clip; they start from the pretrained weights and
     * learn at encoder_lr (0 = lr/10). The model file then carries them
     * under their ONNX names; see es_engine_create_for_classifier. */
    int finetune;
    float encoder_lr;
    /* The from-scratch baseline instead of the pretrained encoder: a small
     * CNN (4 blocks of conv 3x3 + LeakyReLU/floor + max-pool 2x2, about
     * 25k parameters) on the same log-mel window, randomly initialised from
     * the seed, under the same head, loop and optimiser. */
    int scratch;
} es_train_opts;
void es_train_opts_default(es_train_opts *o);

typedef struct {
    size_t n_train, n_val, n_labels, cache_hits, n_files;
    double val_acc, val_bal_acc;     /* NaN without validation */
    int best_epoch, epochs_run;
    char split[256];
    char balance[16];
    double embed_seconds, train_seconds;
} es_train_result;

/* Progress of a long step: stage is "embedding" or "training". */
typedef void (*es_progress_fn)(void *user, const char *stage, size_t done, size_t total);

es_status es_train_head(es_engine *e, const es_train_opts *o, const char *out_path, es_train_result *r,
                        es_progress_fn progress, void *user, es_error *err);

typedef struct {
    size_t n, n_labels;
    char **labels;            /* the model's labels */
    size_t *confusion;        /* [n_labels][n_labels]: truth row, prediction column */
    double accuracy;
    double *precision, *recall, *f1;   /* per label */
    double unknown_false_accept;       /* _unknown_ clips taken as a word; NaN if none */
    size_t skipped;           /* clips whose label the model does not know */
} es_eval_result;
es_status es_eval(es_engine *e, const char *model_path, const char *data_dir, const char *pattern,
                  const char *cache_dir, es_eval_result *r, es_progress_fn progress, void *user, es_error *err);
void es_eval_result_free(es_eval_result *r);

/* ------------------------------------------------------- learning curve */

/* Accuracy on held-out speakers against training clips per label: for
 * every speaker split, shot count and seed, a head is trained on `shots`
 * clips per label of the training speakers (the pick nested: the clips of
 * k shots are among those of more) and scored on every clip of the test
 * speakers, which never influence training (no validation, a fixed step
 * count). Clips are embedded once (cached) and pooled once for all runs. */
typedef struct {
    es_train_opts train;      /* data_dir, pattern, cache and head settings;
                                 train.seed is the base of every seed */
    const int *shots;         /* shot counts, 0 = all clips */
    size_t n_shots;
    int seeds;                /* runs per (split, shots) (default 3) */
    int splits;               /* seeded random splits: half the speakers
                                 (rounded down) are held out (default 5) */
    const char *const *test_speakers;  /* explicit splits instead: each a
                                 comma-separated list of held-out speakers */
    size_t n_test_speakers;
    int scratch;              /* also the from-scratch baseline (default 1) */
} es_curve_opts;
void es_curve_opts_default(es_curve_opts *o);   /* shots 1,2,5,10,20,all */

typedef struct {
    int shots;                /* 0 = all */
    size_t n;                 /* runs averaged */
    double mean, std;         /* accuracy; std is the sample std over runs */
    double scratch_mean, scratch_std;   /* NaN when not available */
} es_curve_row;

typedef struct {
    es_curve_row *rows; size_t n_rows;
    char **split_desc; size_t n_splits;  /* "train: a,b,c | test: d,e,f" */
    int seeds;
    double *acc;              /* every run: [row][split][seed] */
    double *scratch_acc;      /* the same for the baseline (inside acc's
                                 allocation), or NULL */
    int scratch_available;
    char scratch_note[160];   /* why not, when not */
    double embed_seconds, seconds;
} es_curve_result;

/* progress stages: "embedding" (clips, once per offset), "training" (runs) */
es_status es_learning_curve(es_engine *e, const es_curve_opts *o, es_curve_result *r, es_progress_fn progress,
                            void *user, es_error *err);
void es_curve_result_free(es_curve_result *r);

/* ------------------------------------------------------------------ misc */

/* Write a float32 .npy file (C order) atomically: temp file + rename. */
es_status es_npy_write(const char *path, const float *data, const size_t *shape, int ndim, es_error *err);
/* Read a float32 .npy file. *data is malloc'd. shape must hold 8 dims. */
es_status es_npy_read(const char *path, float **data, size_t *shape, int *ndim, es_error *err);

#ifdef __cplusplus
}
#endif
#endif
