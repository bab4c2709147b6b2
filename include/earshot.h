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
/* Resampler quality of a reader (before its first read; default BEST, the
 * samples es_audio_load gives). Batch transcription may trade stop-band
 * rejection for speed: SINC_BEST runs at about 29x real time from 8 kHz. */
typedef enum {
    ES_RESAMPLE_BEST = 0,   /* libsamplerate SRC_SINC_BEST_QUALITY */
    ES_RESAMPLE_MEDIUM,     /* SRC_SINC_MEDIUM_QUALITY */
    ES_RESAMPLE_FASTEST     /* SRC_SINC_FASTEST */
} es_resample_quality;
es_status es_reader_set_resample(es_reader *r, es_resample_quality q, es_error *err);

es_status es_pcm_format_parse(const char *s, es_pcm_format *fmt);

/* Write 16 kHz int16-scale samples as a 16-bit mono WAV file, atomically
 * (temporary file, fsync, rename). */
es_status es_audio_write_wav(const char *path, const float *x, size_t n, es_error *err);

/* ---------------------------------------------------------------- capture */

/* Live audio from an input device through PortAudio, delivered as 16 kHz
 * mono int16-scale floats (the device's rate is resampled with
 * libsamplerate, its channels averaged). The audio callback only copies
 * into a lock-free single-producer/single-consumer ring; frames that find
 * the ring full are dropped and counted, never lost silently. */
es_status es_capture_init(es_error *err);   /* once per process (Pa_Initialize) */
void es_capture_terminate(void);

typedef struct {
    int index;
    const char *name;         /* valid until es_capture_terminate */
    const char *host_api;     /* e.g. "ALSA" */
    double default_rate;
    int input_channels;       /* 0: an output-only device */
    int is_default_input;
} es_capture_device;
size_t es_capture_device_count(void);
es_status es_capture_device_info(size_t i, es_capture_device *d, es_error *err);
/* Input device from "INDEX" or a NAME (exact, else a case-insensitive
 * substring that must match one device); NULL or "" = the default input. */
es_status es_capture_find(const char *spec, int *index, es_error *err);

typedef struct {
    const char *device;       /* as es_capture_find; NULL = default input */
    double rate;              /* device rate to open; 0 = the device's default */
    int channels;             /* 0 = mono if offered, else stereo, else all */
    double latency;           /* suggested input latency, s; 0 = device's low latency */
    double ring_seconds;      /* ring capacity (default 4 s) */
    int frames_per_buffer;    /* frames per callback; 0 = 20 ms worth */
} es_capture_opts;
void es_capture_opts_default(es_capture_opts *o);

typedef struct {
    unsigned long long captured_frames;  /* device frames the callback received */
    unsigned long long read_frames;      /* device frames taken from the ring */
    unsigned long long dropped_frames;   /* device frames that found the ring full */
    unsigned long long overruns;         /* callbacks that had to drop frames */
    unsigned long long input_overflows;  /* overflows PortAudio reported (before us) */
    double dropped_seconds;
} es_capture_stat;

typedef struct es_capture es_capture;
es_capture *es_capture_open(const es_capture_opts *o, es_error *err);
es_status es_capture_start(es_capture *c, es_error *err);
/* Up to max samples (16 kHz); waits for audio up to timeout_ms (-1: no
 * limit, 0: do not wait). *got = 0 only after a timeout. */
es_status es_capture_read(es_capture *c, float *out, size_t max, size_t *got, int timeout_ms, es_error *err);
/* Stop the device: the callback runs no more, audio already in the ring stays. */
es_status es_capture_stop(es_capture *c, es_error *err);
/* After stop: the rest of the ring and the resampler's tail; *got = 0 at the end. */
es_status es_capture_flush(es_capture *c, float *out, size_t max, size_t *got, es_error *err);
void es_capture_stats(const es_capture *c, es_capture_stat *s);
double es_capture_rate(const es_capture *c);
int es_capture_channels(const es_capture *c);
const char *es_capture_name(const es_capture *c);
int es_capture_index(const es_capture *c);
void es_capture_close(es_capture *c);

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
/* Front-end mode of its training features (model card frontend.mode;
 * ES_EMBED_WHOLE for models from before the key). */
es_embed_mode es_classifier_frontend(const es_classifier *c);
/* A model-card entry (metadata value), NULL if absent. */
const char *es_classifier_meta(const es_classifier *c, const char *key);
/* probs[classes] for emb [window][96]. */
es_status es_classifier_predict(es_classifier *c, const float *emb, float *probs, es_error *err);

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
    es_embed_mode frontend;   /* features the head is trained on (default
                                 ES_EMBED_STREAM: what the streaming detector
                                 computes; recorded in the model card) */
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

/* -------------------------------------------------------------- detector */

/* The streaming detector: 16 kHz audio in (pushed in any chunk sizes),
 * keyword events out. It runs the front end and encoder in openWakeWord's
 * streaming way (one embedding every 80 ms), a model over the last window
 * of embeddings, smooths each label's score, and turns the score track into
 * events. The same code serves files (earshot transcribe) and live audio
 * (earshot listen); pushing a file in one call or in random-sized pieces
 * gives the same events.
 *
 * Models: earshot-trained classifiers (.safetensors; the _unknown_ and
 * _silence_ classes are never reported) and openWakeWord-format heads
 * (.onnx path or pretrained name, one score per output; a multi-class
 * head's background class is never reported). Several models may run side
 * by side on one encoder.
 *
 * Event logic per label: a region is a run of 80 ms steps whose smoothed
 * score is at or above `low` x threshold; it is an event when its peak
 * reaches the threshold and it stays at or above the threshold for
 * min_duration. Overlapping events of one model (two labels competing for
 * one utterance) keep only the higher peak; an event of the same label
 * starting within `refractory` seconds of the previous one's end is
 * dropped. Start/end are estimated from the region (the window geometry
 * and smoothing delay taken out) and refined on the signal energy. Events
 * are reported when their region closes, i.e. about one window (~2 s for a
 * 16-embedding classifier) after the word, or with opts.early as soon as
 * they are confirmed; es_detector_flush reports the rest at the end of the
 * input. */
typedef struct {
    const char *label;   /* valid while the detector lives */
    double start, end;   /* seconds from the start of the audio pushed */
    float score;         /* peak smoothed score */
    size_t model;        /* index of the model (order given at creation) */
} es_event;
typedef void (*es_event_fn)(void *user, const es_event *ev);

typedef struct {
    double threshold;     /* > 0: one threshold for every label; 0: the model card's
                             per-label "thresholds" (0.5 where absent) */
    double low;           /* region edge as a fraction of the threshold (default 0.5) */
    int smooth;           /* moving average over this many steps (default 5; 1 = none) */
    double min_duration;  /* seconds at or above the threshold (default 0.24) */
    double refractory;    /* seconds (default 0.5) */
    double pad;           /* seconds of silence fed before the audio and at flush
                             (default 1.0), so words at the edges are seen whole */
    int block;            /* 80 ms chunks per encoder call (default 1). Larger blocks
                             are faster for files but delay events by up to
                             block x 80 ms; results are the same for any push
                             sizes at a given block. */
    int early;            /* 1: report an event as soon as it is confirmed (its
                             label the model's best, above the threshold for
                             min_duration): a few hundred ms after the word
                             instead of about a window later, for live use;
                             start/end then come from the region's start and
                             the signal energy (default 0) */
} es_detector_opts;
void es_detector_opts_default(es_detector_opts *o);

typedef struct es_detector es_detector;
/* models: paths (.safetensors classifier, .onnx head) or pretrained head
 * names. The engine must outlive the detector; it is only read, so
 * several detectors (one per thread) may share one engine. */
es_detector *es_detector_create(es_engine *e, const char *const *models, size_t n_models,
                                const es_detector_opts *o, es_error *err);
void es_detector_free(es_detector *d);
/* Every output of every model, in order: labels, whether each can be
 * reported (not _unknown_/_silence_/background), thresholds. */
size_t es_detector_labels(const es_detector *d);
const char *es_detector_label(const es_detector *d, size_t i);
int es_detector_reported(const es_detector *d, size_t i);
double es_detector_threshold(const es_detector *d, size_t i);
/* Override the threshold of one label (NULL = every label); ES_ERR_ARG if
 * no reported label has that name. */
es_status es_detector_set_threshold(es_detector *d, const char *label, double thr, es_error *err);
size_t es_detector_models(const es_detector *d);
/* A model's name: the file name without directory and extension. */
const char *es_detector_model_name(const es_detector *d, size_t i);
/* A note about the models worth telling the user (e.g. a classifier trained
 * on whole-clip features, which streaming detection sees differently), or
 * NULL. */
const char *es_detector_warning(const es_detector *d);
/* Optional: called every 80 ms step with the smoothed score of every label
 * ([es_detector_labels], in label order) and the step's end time, e.g. for a
 * live meter. */
typedef void (*es_detector_score_fn)(void *user, double t, const float *scores, size_t n);
void es_detector_set_score_fn(es_detector *d, es_detector_score_fn fn, void *user);
/* Feed samples (16 kHz mono, int16 scale); events whose region closed are
 * reported through fn (may be NULL) before it returns. */
es_status es_detector_push(es_detector *d, const float *x, size_t n, es_event_fn fn, void *user, es_error *err);
/* End of input: feeds the trailing silence, closes every region and reports
 * the remaining events (times clipped to the audio's length); then the
 * detector is reset for a new stream. */
es_status es_detector_flush(es_detector *d, es_event_fn fn, void *user, es_error *err);
/* Forget the stream (pending events are dropped). */
void es_detector_reset(es_detector *d);
/* Seconds of audio pushed since the last reset/flush. */
double es_detector_time(const es_detector *d);

/* ------------------------------------------------------------------ misc */

/* Write a float32 .npy file (C order) atomically: temp file + rename. */
es_status es_npy_write(const char *path, const float *data, const size_t *shape, int ndim, es_error *err);
/* Read a float32 .npy file. *data is malloc'd. shape must hold 8 dims. */
es_status es_npy_read(const char *path, float **data, size_t *shape, int *ndim, es_error *err);

#ifdef __cplusplus
}
#endif
#endif
