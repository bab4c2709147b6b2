/*
 * earshot.h — the public API of libearshot.
 *
 * One header, opaque handles, explicit ownership. Every function that can
 * fail returns an es_status and, when given a non-NULL es_error, fills a
 * human-readable message that names the file (if any) and the reason.
 * Nothing in the library prints or exits (PortAudio's JACK back end may
 * print its own notes to stderr when es_capture_init probes for a JACK
 * server; earshot cannot silence a library it loads).
 *
 * Conventions: a pointer argument may be NULL only where its comment says
 * so; the functions returning es_status refuse a NULL one with
 * ES_ERR_ARG. Getters of a handle (es_detector_labels, es_classifier_label,
 * es_engine_models_dir, ...) are NULL-safe: for a NULL handle, as after a
 * failed create, they return 0, NULL or NaN. Output structs (an
 * es_train_result, an es_eval_result) are required unless said otherwise.
 * On success err is left as it was. err may be NULL everywhere.
 *
 * Ownership: the *_free / *_close functions take NULL (and do nothing);
 * the es_audio, es_eval_result and es_curve_result ones also clear the
 * struct, so a second call is harmless. Arrays a function allocates for
 * the caller (es_audio_resample, es_embed_audio, es_npy_read) are freed
 * with free(). A string a getter returns belongs to the object it came
 * from and lives as long as it (a label as long as its classifier, head
 * or detector; a name as long as its engine or stream); never free one.
 * The exceptions are said where they are (es_speakers_name,
 * es_speakers_background). An object made from another keeps a pointer
 * to it, which must outlive it: a head its es_onnx, a mel or encoder
 * stream its es_mel or es_encoder (an engine's, for streams made from
 * es_engine_mel / es_engine_encoder), a scorer its engine and heads, a
 * detector its engine, a self-adaptation its classifier. es_mel_create,
 * es_encoder_create, es_engine_create_for_classifier and the speaker sets
 * copy what they need: their es_onnx, classifier or engine may go at once.
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

/* The version of this header, as a string and as numbers for #if (the
 * project's version in meson.build and earshot.pc; tests/test_install.sh
 * holds them together). es_version() is the library's: a program built
 * against one header and linked with another libearshot.a can compare
 * the two (strcmp(es_version(), ES_VERSION)). */
#define ES_VERSION "0.1.0"
#define ES_VERSION_MAJOR 0
#define ES_VERSION_MINOR 1
#define ES_VERSION_PATCH 0
const char *es_version(void);
/* The source the library was built from: `git describe --always --dirty`
 * at build time (e.g. "9f7c9f6a1b2c", "9f7c9f6a1b2c-dirty" for a tree
 * with uncommitted changes), or "unknown" when it was not built from a git
 * checkout. Model and profile cards record it as "earshot.commit". */
const char *es_version_commit(void);

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

/* Warnings: things the user should hear of that do not stop the work, each
 * a line naming the file (today: a WAV or AIFF file shorter than its header
 * says, which libsndfile reads without a word). The library prints nothing
 * itself; the handler (NULL = none, the default) gets every message, from
 * whichever thread met it, so it must be thread-safe. Set it before work
 * starts: the setting is not synchronised. */
typedef void (*es_warning_fn)(void *user, const char *msg);
void es_set_warning_handler(es_warning_fn fn, void *user);

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
/* The defaults, which opts NULL means everywhere: quantize_int16 = 1, as
 * every path inside earshot (training, eval, the caches, the speaker
 * profiles) and the `earshot` command load audio. In digital silence the
 * rounding decides what the log-mel floor sees, so a program that skips it
 * (quantize_int16 = 0 keeps the resampler's fractions) gets features a
 * little unlike those its models were trained on. */
void es_load_opts_default(es_load_opts *o);

/* Decode any file libsndfile reads, downmix to mono, resample to 16 kHz
 * (libsamplerate, best-quality sinc) and scale to int16 range. */
es_status es_audio_load(const char *path, const es_load_opts *opts, es_audio *out, es_error *err);
/* Raw interleaved little-endian PCM from a stream (e.g. stdin) at `rate`
 * (1000 to 384000 Hz) with `channels` (1 to 1024) channels. `name` is used
 * in error messages (NULL: "<stream>"). */
es_status es_audio_load_raw(FILE *f, const char *name, int rate, int channels,
                            es_pcm_format fmt, const es_load_opts *opts,
                            es_audio *out, es_error *err);
/* The same as a whole: a WAV stream or raw PCM (es_reader_open_stream). */
es_status es_audio_load_stream(FILE *f, const char *name, int rate, int channels,
                               es_pcm_format fmt, const es_load_opts *opts,
                               es_audio *out, es_error *err);
/* Mono float samples in int16 scale at `rate` (1000 to 384000 Hz) -> 16
 * kHz. *out is malloc'd (free() it); for n = 0 it is NULL and *out_n 0. */
es_status es_audio_resample(const float *x, size_t n, int rate, float **out, size_t *out_n, es_error *err);
void es_audio_free(es_audio *a);
/* The level of the loudest 10 ms of 16 kHz int16-scale samples, in dB
 * relative to a full-scale square wave (-inf for digital silence, and for
 * fewer than 160 samples the RMS of them all). Below ES_SILENT_DBFS a take
 * holds no speech to learn a voice or a word from: the quietest loudest
 * frame of FSDD's 3,000 clips is at about -47 dBFS, a muted microphone's
 * at -70 or below. */
#define ES_SILENT_DBFS (-65.0)
double es_audio_peak_dbfs(const float *x, size_t n);

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
/* A stream (stdin) that may hold a WAV file, as ffmpeg (-f wav -) and sox
 * (-t wav -) write one to a pipe: its header gives the rate, channels and
 * format (integer PCM of 8 to 32 bits, 32- or 64-bit float) and the
 * arguments are ignored; its data runs to the size the header declares,
 * or to the end of the stream when that is unknown. Anything else is raw
 * PCM as es_reader_open_raw reads it with the arguments, except that the
 * start of another container (FLAC, Ogg, AIFF, MP3, CAF, AU, RIFX) is
 * refused by name rather than played as samples. *was_wav (may be NULL)
 * says which it was. The stream is not closed. */
es_reader *es_reader_open_stream(FILE *f, const char *name, int rate, int channels, es_pcm_format fmt,
                                 const es_load_opts *opts, int *was_wav, es_error *err);
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
 * (temporary file, fsync, rename). Samples are rounded and clipped to int16,
 * NaN written as 0. More than 2147483629 samples (a WAV's 4 GB) is refused
 * (ES_ERR_ARG) and nothing is written. */
es_status es_audio_write_wav(const char *path, const float *x, size_t n, es_error *err);
/* Unlink the temporary files of the atomic writes under way (every file
 * earshot writes goes to <file>.tmp.<pid>-<start time> first, then is
 * renamed). Async-signal-safe: call it from a SIGINT/SIGTERM handler
 * before the process dies, so a killed run leaves no temporary file
 * behind. */
void es_atomic_cleanup_signal(void);

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
/* Up to max (> 0) samples (16 kHz); waits for audio up to timeout_ms (-1:
 * no limit, 0: do not wait). *got = 0 only after a timeout. On a stream
 * not started (or stopped) it returns what is left, then ES_ERR_ARG
 * rather than wait for audio that cannot come. */
es_status es_capture_read(es_capture *c, float *out, size_t max, size_t *got, int timeout_ms, es_error *err);
/* Stop the device: the callback runs no more, audio already in the ring stays. */
es_status es_capture_stop(es_capture *c, es_error *err);
/* After stop: the rest of the ring and the resampler's tail, up to max
 * (> 0) samples a call; *got = 0 at the end. */
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
/* A copy of m whose frequency axis is warped by alpha (0.7 to 1.3; 1 =
 * an exact copy): formants move down by alpha, as in vocal-tract-length
 * normalisation. Free with es_mel_free. */
es_mel *es_mel_warp(const es_mel *m, double alpha, es_error *err);
/* Number of frames the reference yields for n samples. */
size_t es_mel_frames(size_t n);
/* Whole clip: top-dB clamp over the whole clip. out: [frames][32], scaled.
 * `out` must hold es_mel_frames(n)*32 floats. */
es_status es_mel_compute(es_mel *m, const float *x, size_t n, float *out, es_error *err);

/* Streaming in the reference's way: every 1280 new samples the front end
 * runs on the last 1280+480 samples (fewer at the very start), yielding 8
 * new frames (5 for the first chunk); the top-dB clamp is per chunk. */
typedef struct es_mel_stream es_mel_stream;
/* m must outlive the stream. */
es_mel_stream *es_mel_stream_create(es_mel *m, es_error *err);
void es_mel_stream_free(es_mel_stream *s);
/* Feed any number of samples; the k frames they complete are written to
 * out ([k][32]) and *n_frames receives k. Each 1280-sample chunk gives at
 * most 8 frames, so max_frames >= 8*(n/1280 + 1) is always enough. If k
 * would exceed max_frames, ES_ERR_ARG and nothing is consumed: the same
 * push may be repeated with a larger buffer (or the samples pushed in
 * smaller pieces). */
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
/* e must outlive the stream. */
es_encoder_stream *es_encoder_stream_create(es_encoder *e, es_error *err);
void es_encoder_stream_free(es_encoder_stream *s);
void es_encoder_stream_reset(es_encoder_stream *s);
/* out must hold (frames/8 + 1)*96 floats; *n_out receives the count. */
es_status es_encoder_stream_push(es_encoder_stream *s, const float *mel, size_t frames,
                                 float *out, size_t *n_out, es_error *err);

/* ----------------------------------------------------------------- heads */

/* An openWakeWord-format classifier head, evaluated from its ONNX graph. */
typedef struct es_head es_head;
/* The head runs model's graph in place: model must outlive it. name NULL:
 * the file name without directory, "_v0.N" and ".onnx". */
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

/* Threads one library call may use (0 or less = the CPUs the process may
 * run on, at most 8; above 64 = 64). The library splits work itself
 * (windows, segments of an utterance, frames) and keeps OpenBLAS to one
 * thread (under an address-space limit, its work buffers are mapped ahead
 * and calls wait for a free one: model/blas.c). A program run under a
 * tight `ulimit -v` should also start with OPENBLAS_NUM_THREADS=1 in its
 * environment: OpenBLAS starts a thread per CPU when it is loaded, before
 * main and out of the library's reach, and one that finds no room for its
 * 128 MB buffer retries for ever and keeps the process from exiting (the
 * earshot program sees to it itself). Process-wide: any thread
 * may change it at any time, calls under way picking the new count up as
 * they go. Embeddings, the speaker representation and detection give the
 * same bits at any count (tests/test_threads.c), with one exception:
 * es_encoder_windows with a single window, which two threads split, may
 * differ from one thread's in the last bits on some CPUs.
 *
 * Sharing between threads: every call only reads an engine (and its
 * es_mel and es_encoder), so any number of threads may use one at once;
 * so may they a speaker set they only score against (es_speakers_score,
 * es_speaker_identify, es_speaker_verify). Every other object keeps state
 * or scratch of its own and is used by one thread at a time: a detector,
 * scorer, stream, reader, head, classifier or self-adaptation, and a
 * speaker set while it changes (enroll, remove, background, threshold). */
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
/* ES_OK when enc (and mel, unless NULL) are this engine's networks'
 * SHA-256; else ES_ERR_MODEL with "WHAT: made with another encoder ...;
 * REMEDY". For files that record what they were computed with. */
es_status es_engine_check_made_with(const es_engine *e, const char *what, const char *enc, const char *mel,
                                    const char *remedy, es_error *err);

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
    double warp;         /* 0 or 1: none; else the front end's frequency
                            axis is warped by this factor (es_mel_warp) */
} es_embed_opts;

/* Compute log-mel [*frames][32] and embeddings [*n_emb][96] of 16 kHz audio.
 * Either output pointer may be NULL if not wanted; results are malloc'd
 * (free() them). opts NULL: ES_EMBED_WHOLE, no padding, no warp. */
es_status es_embed_audio(es_engine *e, const float *x, size_t n, const es_embed_opts *opts,
                         float **mel, size_t *frames, float **emb, size_t *n_emb, es_error *err);

/* Streaming scorer: audio in, one score vector per 80 ms per head out, in
 * openWakeWord's streaming way. Used for files and live audio alike. */
typedef struct es_scorer es_scorer;
/* Called once per 80 ms step with a head's scores, from the step at which
 * the head's window of embeddings is first full (es_head_window; about
 * 1.3 s of audio for a 16-embedding head: no call before). `t` is the time
 * in seconds (of the audio pushed) at the end of the step. */
typedef void (*es_score_fn)(void *user, size_t head, double t, const float *scores, size_t n);
/* The engine and the heads must outlive the scorer (the array heads need
 * not). A head keeps scratch, so scorers in different threads need heads
 * of their own. */
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
/* Self-adaptation to one voice, with no labels. An unseen voice's
 * embeddings sit at an offset of its own from the training speakers'
 * (most of what earshot gets wrong on FSDD is two such voices). Given the
 * clips of one voice in turn, es_selfadapt estimates that offset from the
 * model's own decisions: for each word class c it has decided, the mean
 * of those windows' embeddings minus the training clips' mean of class c
 * (stored in the model), averaged over all decisions and shrunk toward
 * zero by `prior` pseudo-observations. Measuring against each decided
 * class's own mean keeps a voice that says one word far more often than
 * the others from being mistaken for an offset. _unknown_, _silence_ and
 * a wake-word model's "other" are never observed: they have no one sound
 * to measure against.
 *
 * Use: for each clip (or detector window) of the voice, es_selfadapt_apply
 * to a copy of its embeddings, classify the copy, then
 * es_selfadapt_observe the original embeddings with the decided label;
 * es_selfadapt_reset when the voice changes. Each decision sees only what
 * came before it. Heads over the pretrained encoder made by this version
 * of `earshot train` (or adapted from one) carry the means; other models
 * get ES_ERR_UNSUPPORTED from es_selfadapt_create. */
typedef struct es_selfadapt es_selfadapt;
/* prior < 0 (or NaN): default 2. c must outlive the self-adaptation. */
es_selfadapt *es_selfadapt_create(const es_classifier *c, float prior, es_error *err);
void es_selfadapt_free(es_selfadapt *a);
void es_selfadapt_reset(es_selfadapt *a);
/* emb [n][96] -= the current offset (nothing before the first observation) */
void es_selfadapt_apply(const es_selfadapt *a, float *emb, size_t n);
/* one decision: the mean of emb [n][96] as an observation of class `label` */
void es_selfadapt_observe(es_selfadapt *a, const float *emb, size_t n, size_t label);
size_t es_selfadapt_count(const es_selfadapt *a);   /* observations since the last reset */
/* the current offset, [96] (zeros before the first observation) */
const float *es_selfadapt_offset(const es_selfadapt *a);
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
/* The decision for probs from es_classifier_predict: the most probable
 * class, except in a binary wake-word model (model card "mode":
 * "wake-word"), where the wake word wins when its probability reaches its
 * threshold (es_classifier_threshold) and the other class otherwise. */
size_t es_classifier_decide(const es_classifier *c, const float *probs);
/* Threshold of class i from the model card (NaN if it has none). */
float es_classifier_threshold(const es_classifier *c, size_t i);
/* Index of the wake word in a binary wake-word model, else -1. */
int es_classifier_wake(const es_classifier *c);

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
    const char *cache_dir;    /* embedding cache, NULL = default:
                                 $EARSHOT_CACHE, else $XDG_CACHE_HOME/earshot/
                                 embeddings, else ~/.cache/earshot/embeddings */
    /* classifier/feature settings of the learning curve (pipeline/feat.c) */
    int shifts;               /* sub-step offsets of the audio against the
                                 80 ms grid: training examples and test-time
                                 averaging (1 = none; default -1 = auto, see
                                 ES_SHIFTS_AUTO below) */
    const char *norm;         /* pooled-vector normalisation: none, l2, z, zl2 */
    float proto;              /* weight of the cosine class-mean classifier
                                 mixed with the head (0 = head only, 1 = only
                                 prototypes) */
    float proto_temp;         /* its softmax temperature (default 10) */
    int ensemble;             /* heads with different seeds, averaged */
    int positions;            /* window positions one embedding apart around
                                 the centre, used like the offsets (1 = centre) */
    double speed_perturb;     /* > 0: also train on copies at speed 1 -+ this
                                 (tempo and pitch, libsamplerate); 0 = off;
                                 default -1 = auto, see ES_COPIES_AUTO below */
    double warp_perturb;      /* > 0: also train on copies whose front end's
                                 frequency axis is warped by 1 -+ this
                                 (es_mel_warp: vocal-tract length); 0 = off */
    int perturb_test;         /* 1: also average the test probabilities over
                                 those perturbed copies (speed and warp),
                                 each copy weighted like the clip itself */
    int frontend_copy;        /* 1: also a copy of every clip through the
                                 other front end (whole-clip log-mel for
                                 stream features), a training row and
                                 always averaged in prediction; 0 = off;
                                 default -1 = auto, see ES_COPIES_AUTO */
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
    /* augmentation and extra classes (pipeline/train_aug.c) */
    int augment;              /* cached augmented variants per training clip
                                 (0 = none; default -1 = auto: 8 when no
                                 label has more than 5 training clips, see
                                 ES_AUG_AUTO in pipeline/train_aug.h);
                                 validation is never augmented */
    double aug_snr[2];        /* background noise SNR range, dB (5, 20) */
    double aug_gain[2];       /* gain range, dB (-6, 6) */
    double aug_speed[2];      /* speed factor range (0.9, 1.1) */
    double aug_shift_ms;      /* time shift up to +- this (100) */
    double aug_p;             /* probability of each transform (0.8) */
    int specaugment;          /* SpecAugment masks on the variants' log-mel */
    const char *noise_dir;    /* noise recordings for augmentation and
                                 silence (NULL: DATASET/_background_noise_/;
                                 none: generated coloured noise) */
    int silence;              /* add a _silence_ class of noise slices
                                 (default 1): of the noise recordings, else
                                 of generated pink/brown noise written once
                                 into the cache folder */
    const char *wake_word;    /* binary mode: this label against all others */
    double target_fa;         /* wake-word threshold: validation
                                 false-accept target (default 0.01) */
    es_embed_mode frontend;   /* features the head is trained on (default
                                 ES_EMBED_STREAM: what the streaming detector
                                 computes; recorded in the model card) */
    const char *data_note;    /* JSON object recorded as the card's "synthesis"
                                 entry (how synthetic data were made), or NULL */
    float label_smoothing;    /* training targets (1-e) one-hot + e/K (0 = off) */
    float mixup;              /* > 0: rows mixed with a partner's, share up to this (0 = off) */
    /* Long-form other talk (recordings that never say the words: a radio
     * show, a meeting) taught as _unknown_, or as a wake-word model's other
     * class: every window 0.32 s apart of each file below negatives_dir,
     * and of each _unknown_ training clip longer than pad_to (shorter ones
     * give their centre window, as before). Heads over the frozen encoder
     * only. The dataset needs an _unknown_ label unless in wake-word mode. */
    const char *negatives_dir;
    int negatives_max;        /* at most this many such windows (default
                                 20000; 0 = all). When there are more: */
    int negatives_pick;       /* 0 (default): half evenly spread, half the
                                 windows a first round of training scores
                                 most like a word, then training again;
                                 1: all evenly spread */
} es_train_opts;
void es_train_opts_default(es_train_opts *o);
/* shifts = -1 (auto, the default): ES_SHIFTS_AUTO offsets while no label
 * has more than ES_SHIFTS_AUTO_MAX_CLIPS training clips, else 1 */
#define ES_SHIFTS_AUTO 4
#define ES_SHIFTS_AUTO_MAX_CLIPS 50
/* speed_perturb = -1 (auto, the default): while no label has more than
 * ES_COPIES_AUTO_MAX_CLIPS training clips, copies at speeds
 * 1 -+ ES_SPEED_PERTURB_AUTO averaged in prediction (as with perturb_test);
 * else none. frontend_copy = -1 (auto, the default): the other front end's
 * copy while no label has more than ES_FRONTEND_COPY_AUTO_MAX_CLIPS. Both
 * off under finetune and scratch. */
#define ES_SPEED_PERTURB_AUTO 0.1
#define ES_COPIES_AUTO_MAX_CLIPS 50
#define ES_FRONTEND_COPY_AUTO_MAX_CLIPS 500

typedef struct {
    size_t n_train, n_val, n_labels, cache_hits, n_files;
    double val_acc, val_bal_acc;     /* NaN without validation */
    int best_epoch, epochs_run;
    char split[256];
    char balance[16];
    double embed_seconds, train_seconds;
    /* augmentation and extra classes */
    size_t n_aug, aug_hits;          /* augmented training rows; from the cache */
    double aug_seconds;
    size_t n_silence_train, n_silence_val;
    int silence_generated;           /* no noise recordings: the _silence_
                                        class is generated pink/brown noise */
    float threshold;                 /* wake-word mode: decision threshold on
                                        p(wake); NaN in multi-class mode */
    double threshold_fa, threshold_recall;   /* at it, on validation (NaN without) */
    int shifts;                      /* sub-step offsets used (--shifts auto resolved) */
    double speed_perturb;            /* the speed copies' 1 -+ this (0: none; auto resolved) */
    int perturb_test;                /* they are averaged in prediction */
    int frontend_copy;               /* the other front end's copy was used (auto resolved) */
    size_t n_talk;                   /* windows of long-form other talk trained on */
    size_t n_talk_windows;           /* ... of this many (negatives_max) */
    size_t n_talk_files;             /* from this many files */
    double talk_seconds;             /* time spent on them (embedding) */
    size_t n_talk_hard;              /* of n_talk, mined as the hardest */
    float talk_hard_min;             /* the lowest word score among those */
    double pad_to;                   /* clips were centred in this many seconds: the
                                        option, or what the window positions need */
    size_t n_ignored;                /* audio files of the dataset left out: not
                                        matching the pattern, or at the top of a
                                        folder-per-label dataset ... */
    char ignored_example[256];       /* ... the first of them */
    size_t n_long_clips;             /* clips of labels other than _unknown_ longer
                                        than pad_to: each trains by its centre
                                        window alone ... */
    double long_clip_max_s;          /* ... the longest, in seconds ... */
    char long_clip_example[256];     /* ... the first of them */
} es_train_result;

/* Progress of a long step: stage is "embedding" or "training". It may be
 * called from any of the library's worker threads, but never twice at
 * once. */
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
    char skipped_labels[256]; /* those labels, comma-separated (cut with "..."
                                 when long): a typo in a folder name shows */
    /* accuracy per speaker, when the file names tell at least two (a
     * {speaker} pattern, or Speech Commands names): n_speakers names in
     * sorted order, their scored clips and correct decisions; 0 / NULL
     * otherwise. Clips without a speaker and silence slices are left out. */
    size_t n_speakers;
    char **speakers;
    size_t *speaker_n, *speaker_correct;
    /* the counts behind accuracy and unknown_false_accept, and their 95%
     * intervals (es_wilson_interval; NaN when there is nothing to count) */
    size_t n_correct, n_unknown, n_unknown_accepted;
    double accuracy_lo, accuracy_hi;
    double unknown_false_accept_lo, unknown_false_accept_hi;
    int self_adapted;         /* es_eval_opts.self_adapt was on */
    /* _unknown_ clips longer than the model's pad_to (talk, not a word):
     * each is decided, like any clip, by its centre window only, which
     * says little of how often a detector fires on it (`transcribe` does) */
    size_t n_long_unknown;
    double long_unknown_max_s;   /* the longest of them, seconds */
    /* every scored clip's probabilities, in the order they were decided:
     * scores [n][n_labels], truth [n] (a label index), kind [n] (one of
     * ES_CLIP_*): what es_eval_sweep measures thresholds on */
    float *scores;
    int *truth;
    unsigned char *kind;
} es_eval_result;
/* what a scored clip is, for es_eval_sweep */
enum {
    ES_CLIP_WORD = 0,     /* one of the model's words */
    ES_CLIP_UNKNOWN = 1,  /* an _unknown_ clip: other speech */
    ES_CLIP_SILENCE = 2,  /* a slice of the dataset's background noise */
    ES_CLIP_OTHER = 3     /* a word a wake-word model lumps into _other_ */
};
/* The trade-off a threshold makes, by the streaming detector's rule (a word
 * fires wherever its score reaches its threshold; labels starting with '_'
 * never fire), on the clips of an es_eval_result, one threshold for every
 * word. Each rate is NaN when there are no clips to count it on. Thresholds
 * are from 0 to 1 (anything else, NaN too, is ES_ERR_ARG). */
typedef struct {
    double threshold;
    double missed;            /* the clips of a word whose own score stays under it */
    double false_words;       /* the clips of a word (or, for a wake-word model, of
                                 another word) on which a different word fires */
    double false_unknown;     /* _unknown_ clips on which any word fires */
    double false_silence;     /* background-noise slices on which any word fires */
    size_t n_own;             /* the clips missed counts on */
    size_t n_words, n_unknown, n_silence;   /* the clips each false rate counts on */
} es_sweep_point;
es_status es_eval_sweep(const es_eval_result *r, const double *thresholds, size_t n, es_sweep_point *out,
                        es_error *err);
/* The 95% Wilson score interval of a proportion, k successes in n trials
 * ([NaN, NaN] when n = 0). Unlike the plain p +- 1.96 sqrt(p(1-p)/n) it
 * stays within [0, 1] and does not shrink to nothing at 0 of n or n of n,
 * which is where small test sets of a good model sit. It assumes the
 * trials are independent: clips of one voice are not, so on a test set of
 * few speakers the accuracy per speaker says more about the spread. */
void es_wilson_interval(size_t k, size_t n, double *lo, double *hi);
es_status es_eval(es_engine *e, const char *model_path, const char *data_dir, const char *pattern,
                  const char *cache_dir, es_eval_result *r, es_progress_fn progress, void *user, es_error *err);
/* es_eval with options (NULL: as es_eval). self_adapt = 1 runs an
 * es_selfadapt per speaker (the file names must name every clip's
 * speaker, unless one_voice says every clip is one voice's): each speaker's clips are decided one after another in a
 * random order drawn from seed, each with the offset learnt from the
 * decisions before it, as a live session with that voice would. The
 * result then does not describe a model meeting a voice cold, so it is
 * reported apart (self_adapted) and never replaces plain es_eval's. */
typedef struct {
    int self_adapt;
    float prior;                /* es_selfadapt's (< 0: its default) */
    unsigned long long seed;    /* the order of each speaker's clips */
    int one_voice;              /* with self_adapt: every clip is one voice's,
                                   whatever the names say (a user's own takes) */
} es_eval_opts;
es_status es_eval_with(es_engine *e, const char *model_path, const char *data_dir, const char *pattern,
                       const char *cache_dir, const es_eval_opts *o, es_eval_result *r, es_progress_fn progress,
                       void *user, es_error *err);
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
 * _silence_ classes, and a wake-word model's _other_, are never reported)
 * and openWakeWord-format heads (.onnx path or pretrained name, one score
 * per output; a multi-class head's background class is never reported). Several models may run side
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
    int self_adapt;       /* 1: each earshot classifier learns the voice's offset
                             from its own events (es_selfadapt: the window at
                             each reported event's peak, as its label) and
                             scores every later window with it. The voice is
                             part of the stream: es_detector_reset and flush
                             forget it. Every model must be an earshot head
                             over the pretrained encoder that carries class
                             means, else es_detector_create refuses (default 0) */
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
/* Record and replay, for the events of many thresholds from one pass
 * (eval --negatives): es_detector_record runs the whole stream of `r`
 * through the detector (from a reset, as es_tx_run does), reporting its
 * events at its own thresholds to fn (may be NULL), and keeps what the
 * event logic reads: each 80 ms step's model outputs and the mel
 * energies, about 4 x (labels + 8) bytes a step (2.7 MB an hour for 6
 * labels). es_detector_replay runs the event logic alone again over a
 * recording, with thresholds thr[es_detector_labels(d)] (each reported
 * label's in (0, 1]; the others are ignored; NULL: the detector's own),
 * and reports to fn exactly the events a run with those thresholds would
 * report; the front end, encoder and models do not run. The replaying
 * detector must have the recording one's models and options but the
 * thresholds (it may be the same detector; ES_ERR_ARG otherwise); it is
 * reset afterwards, its thresholds unchanged.
 * Both refuse a self-adapting detector, whose scores depend on its own
 * events. */
typedef struct es_recording es_recording;
es_status es_detector_record(es_detector *d, es_reader *r, es_event_fn fn, void *user, es_recording **out,
                             es_error *err);
es_status es_detector_replay(es_detector *d, const es_recording *rec, const double *thr, es_event_fn fn, void *user,
                             es_error *err);
double es_recording_seconds(const es_recording *rec);   /* the audio's length */
void es_recording_free(es_recording *rec);
/* ------------------------------------------------ synthetic training data */

/* Speech engines and augmentations for es_synth_dataset (bit masks). */
#define ES_SYNTH_ESPEAK 1u
#define ES_SYNTH_FLITE 2u
#define ES_AUG_NOISE 1u      /* background noise at a random SNR */
#define ES_AUG_REVERB 2u     /* a generated room impulse response */
#define ES_AUG_BANDLIMIT 4u  /* telephone band, 8 kHz round trip */
#define ES_AUG_SPEED 8u      /* speed perturbation */
#define ES_AUG_GAIN 16u      /* level */
#define ES_AUG_ALL 31u

typedef struct {
    /* Comma-separated entries; an entry is "[label=]spelling[|spelling...]"
     * where a spelling is text ("lights on") or espeak-ng phonemes
     * ("[[k'af@]]", espeak only). The label defaults to the first
     * spelling. E.g. "0=zero|oh,1=one,lights on,kaffee=[[k'afe:]]". */
    const char *words;
    int takes;             /* takes per label (default 100) */
    int unknown_takes;     /* takes of _unknown_ (default: takes; 0 = none) */
    unsigned engines;      /* ES_SYNTH_* (default both) */
    unsigned augment;      /* ES_AUG_* (default ES_AUG_ALL) */
    double aug_prob;       /* chance each augmentation is applied to a take (default 0.5) */
    double pad_to;         /* seconds noisy takes are centred in (default 2.0) */
    unsigned long long seed;
    double real_weight;    /* es_train_words with real clips: their total
                              weight per label as a share of its synthetic
                              takes, by repeating them (default 0.1; each
                              real clip appears at least once) */
    double formant_lo, formant_hi;  /* vocal-tract length spread: each
                              speech take's formants are multiplied by a
                              factor drawn log-uniformly from [lo, hi]
                              (0.7..1.4), its rate and f0 compensated;
                              default 1, 1 = off (measured on FSDD: no
                              gain, see README) */
    const char *lang;      /* the words' language, an espeak-ng code ("de",
                              "fr", "pt-br", "cmn"; es_espeak_lang_voices
                              in audio/synth.h picks the voices): the words
                              and their confusable negatives are spoken by
                              that language's espeak-ng voices only (flite
                              speaks only English and is left out), and the
                              built-in common-word negatives stay English
                              (unknown_words adds others). NULL or "en"
                              (default): English accents and flite */
    const char *unknown_words;  /* more words and phrases for _unknown_,
                              entries as in words ("etwas,good night,
                              paws=[[p'O:z]]"): half of the common-word
                              takes say them (one, or a phrase of 2-3), in
                              the words' language and voices; the other
                              half stay the built-in English words, and the
                              confusables and noise stay. A spelling that
                              sounds like a target is refused. NULL: the
                              built-in list only */
} es_synth_opts;
void es_synth_opts_default(es_synth_opts *o);

typedef struct {
    size_t n_files, n_labels, n_unknown;
    int from_cache;        /* es_train_words: the takes were already synthesised */
    char dir[4096];        /* es_train_words: the dataset folder used */
    char description[768]; /* how the data were made (for the model card) */
    size_t stale_removed;  /* es_train_words: temporary folders of killed
                              runs (dead process ids) removed from the cache */
    char real_split[256];  /* es_train_words with real clips naming two or
                              more speakers: which speakers validate, e.g.
                              "by speaker: validation = theo (10 of 30
                              clips)"; else "" (a file-name hash split, or
                              none) */
} es_synth_result;

/* The checks es_synth_dataset makes of o before any work: the ranges, the
 * --words and --unknown-words lists, the language's voices. ES_ERR_ARG
 * with the reason (naming the option) if one fails: a caller can tell a
 * usage error from a failure of the work. */
es_status es_synth_opts_check(const es_synth_opts *o, es_error *err);
/* The takes of o in the synthesis cache (synth_cache NULL = the default
 * folder, as es_train_words says), synthesised now if they are not there
 * yet; r->dir receives the dataset folder, r->from_cache whether it was
 * there. Removes the temporary folders of killed runs (r->stale_removed).
 * Several processes may share the cache: one that finds the same set put
 * in place by another meanwhile uses it and removes its own copy. */
es_status es_synth_cached(const es_synth_opts *o, const char *synth_cache, es_synth_result *r, es_progress_fn progress,
                          void *user, es_error *err);
/* Write a dataset folder in the layout es_train_head reads: out_dir/<label>/
 * and out_dir/_unknown_/ (confusable words made by changing one phoneme of
 * a target, common English words and phrases, non-speech noise). Takes are
 * spread over engines, voices, accents, rates and pitches by a generator
 * seeded with o->seed; file names record the parameters. Every file is
 * written atomically; out_dir is created if missing and must not already
 * hold label folders. The label folders are moved in together under a
 * lock on out_dir: of two calls into one folder at once (other processes
 * too), the second fails with ES_ERR_IO ("already exists") and leaves the
 * first's folders alone. progress(user, "synthesis", done, total). */
es_status es_synth_dataset(const es_synth_opts *o, const char *out_dir, es_synth_result *r, es_progress_fn progress,
                           void *user, es_error *err);

/* Synthesise o's vocabulary into a cache folder (synth_cache: NULL =
 * $EARSHOT_SYNTH_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/earshot/synth; a
 * repeat with the same options reuses it), optionally mix in real
 * recordings (real_dir with real_pattern as for es_train_opts; they then make the validation set
 * when every label has at least two of them), and train with t (its
 * data_dir / val_dir are replaced). The model card records the synthesis. */
es_status es_train_words(es_engine *e, const es_synth_opts *o, const char *synth_cache, const char *real_dir,
                         const char *real_pattern, const es_train_opts *t, const char *out_path, es_train_result *tr,
                         es_synth_result *sr, es_progress_fn progress, void *user, es_error *err);
/* -------------------------------------------------------- speaker adaptation */

/* Fine-tune a model from `earshot train` on a few takes of one speaker
 * (pipeline/adapt.h describes the methods). */
typedef enum { ES_ADAPT_NAIVE, ES_ADAPT_L2SP, ES_ADAPT_EWC, ES_ADAPT_REHEARSAL, ES_ADAPT_EWC_REHEARSAL } es_adapt_method;
const char *es_adapt_method_name(es_adapt_method m);
es_status es_adapt_method_parse(const char *s, es_adapt_method *m, es_error *err);

typedef struct {
    es_adapt_method method;   /* default ES_ADAPT_EWC_REHEARSAL */
    int fallback;             /* 1 (default): a model without a rehearsal
                                 buffer adapts with l2sp instead of failing,
                                 and ewc+rehearsal with finetune with ewc */
    const char *pattern;      /* flat speaker folder naming, or NULL for folders */
    int steps, batch;         /* default 300, 32 */
    float lr, lambda;         /* default 0.01; lambda per method (see es_adapt_opts_default) */
    unsigned long long seed;
    const char *cache_dir;
    /* more training windows per take (pipeline/adapt.h,
     * es_adapt_embed_takes): sub-step offsets (default 1 = none) and speed
     * perturbation +-speed (default 0.05; 0 = off) */
    int shifts;
    double speed;
    /* also fine-tune the encoder's last `finetune` convolutions (default 0:
     * the head only), at encoder_lr, held to the pretrained weights by an
     * L2-SP penalty of encoder_lambda (not for naive); the adapted model
     * then carries them, as a `train --finetune` model does. Without the
     * takes' variants (those are cached embeddings of the pretrained
     * encoder) and not with rehearsal. */
    int finetune;
    float encoder_lr, encoder_lambda;
    /* window positions of every take, whole embeddings apart around its
     * centre (odd, up to 15; 0 = the model's architecture.positions;
     * default 9) */
    int positions;
    /* measured alternatives, off by default (neither helped on FSDD, see
     * bench/README.md): the head parameters that learn (0 all, 1 the
     * output layer only, 2 biases only), and a speaker normalisation of
     * the pooled features folded into the first layer before adapting
     * (0 off, 1 mean, 2 mean and scale; pipeline/adapt.h) */
    int params;
    int normalise;
} es_adapt_opts;
void es_adapt_opts_default(es_adapt_opts *o);

typedef struct {
    size_t n_takes, n_labels_seen, n_rehearsal;
    es_adapt_method method;         /* the method used (after any fallback) */
    double acc_before, acc_after;   /* on the speaker's takes (training accuracy) */
} es_adapt_result;

/* Reads model_path (refused when made with another encoder than e's),
 * embeds the speaker's takes in speaker_dir (labels must be the model's),
 * adapts and writes out_path atomically; the model card gains an
 * "adaptation" entry (base model SHA-256, method, takes). */
es_status es_adapt(es_engine *e, const char *model_path, const char *speaker_dir, const es_adapt_opts *o,
                   const char *out_path, es_adapt_result *r, es_progress_fn progress, void *user, es_error *err);

/* --------------------------------------------------------------- speakers */

/* Who is speaking (pipeline/speaker.c describes the representation and
 * why). A profile file (.safetensors) holds enrolled speakers: the raw
 * representation of every enrolled take, the encoder's SHA-256 and the
 * representation settings; the scoring projection is fitted from the takes
 * whenever the set changes. */
#define ES_SPK_VEC 340          /* floats in one pooled-statistics vector */
#define ES_SPK_SEGS 8           /* sub-windows of a take pooled on their own */
#define ES_SPK_DIM ((ES_SPK_SEGS + 1) * ES_SPK_VEC)   /* floats in one clip's representation */
#define ES_SPK_FORMAT "earshot-speakers"
#define ES_SPK_VERSION 3        /* profile files of another version are refused */

/* The representation of one clip of 16 kHz int16-scale audio (at least
 * 832 samples, 0.052 s): feat[ES_SPK_DIM], the whole clip's vector (ES_SPK_VEC floats)
 * then one per sub-window; scoring uses the first, enrollment all. A clip
 * over a minute is taken in equal parts of about 30 s whose
 * representations are averaged, so its memory stays bounded. */
es_status es_speaker_features(es_engine *e, const float *x, size_t n, float *feat, es_error *err);

typedef struct es_speakers es_speakers;
/* An empty set for this engine's encoder. */
es_speakers *es_speakers_new(es_engine *e, es_error *err);
/* Read a profile file. With e non-NULL, a file made with another encoder
 * is refused (ES_ERR_MODEL, naming both hashes). A corrupt, truncated or
 * inconsistent file, or one of a newer version, is refused whole. */
es_speakers *es_speakers_load(const char *path, es_engine *e, es_error *err);
/* Parse from memory (what es_speakers_load does after reading the file). */
es_speakers *es_speakers_parse(const unsigned char *buf, size_t len, const char *name, es_engine *e, es_error *err);
void es_speakers_free(es_speakers *s);
size_t es_speakers_count(const es_speakers *s);
/* Speaker i's name, or NULL past the end. Valid until the set changes
 * (enroll, remove) or is freed: copy it to keep it across a change. */
const char *es_speakers_name(const es_speakers *s, size_t i);
/* index of the speaker called name, or es_speakers_count(s) if none is */
size_t es_speakers_find(const es_speakers *s, const char *name);
size_t es_speakers_takes(const es_speakers *s, size_t i);   /* enrolled takes of speaker i */
const char *es_speakers_encoder_sha256(const es_speakers *s);
/* Decision threshold on the score, from 0 to 1 (identify says "unknown"
 * below it; verify accepts at or above it). Unless set, it follows the
 * profile: the equal-error points measured on FSDD (bench/README.md),
 * which depend on whether there is a background, whether one speaker or
 * several are enrolled, and the takes per speaker (the score's scale
 * grows with them): at 5 takes 0.43 without a background, 0.75 with one,
 * for a lone speaker 0.20 and 0.71; at 50 takes 0.78, 0.86, 0.71, 0.84;
 * interpolated in log(takes) between the points measured (1, 3, 5, 10,
 * 20, 50; pipeline/speaker.h). NaN for a NULL profile. */
double es_speakers_threshold(const es_speakers *s);
int es_speakers_threshold_is_set(const es_speakers *s);
/* t from 0 to 1, or NAN for automatic again. */
es_status es_speakers_set_threshold(es_speakers *s, double t, es_error *err);
/* Drop a speaker and its takes (the background stays). */
es_status es_speakers_remove(es_speakers *s, const char *name, es_error *err);
/* Add takes to a speaker (created if new; with replace != 0 its old takes
 * are dropped first). feats[n][ES_SPK_DIM] from es_speaker_features. A
 * speaker may be enrolled alone, without a background. A take already
 * enrolled for this speaker (the same representation, so the same audio)
 * is skipped, and one enrolled for another speaker is refused. */
es_status es_speakers_enroll(es_speakers *s, const char *name, const float *feats, size_t n, int replace, es_error *err);
/* ES_OK if name may be enrolled: 1-200 characters of UTF-8 text, no
 * control characters, no space at either end, not "unknown" (identify's
 * word for no one), no '=' (identify --all's separator). */
es_status es_speaker_name_check(const char *name, es_error *err);
/* A background: the within-speaker covariance of many takes of other
 * speakers (feats[n][ES_SPK_DIM] from es_speaker_features, of which the
 * whole-clip vectors are used; spk[n] in [0, nspk), at least two takes of
 * one speaker), kept in the profile and added to the enrolled takes' when
 * fitting the projection. It teaches the projection how one voice varies
 * from word to word beyond what a handful of enrolled takes show
 * (bench/README.md: synthetic voices from es_speakers_background_synth
 * help; recordings of real people more). Replaces any earlier one;
 * unless keep_threshold, a threshold that was set goes back to automatic.
 * desc (e.g. the folder) is recorded. */
es_status es_speakers_set_background(es_speakers *s, const float *feats, const int *spk, size_t n, int nspk,
                                     const char *desc, int keep_threshold, es_error *err);
/* The same from a folder of speech by several speakers: one sub-folder per
 * speaker, or a flat folder whose names follow pattern with {speaker} (and
 * {label}, e.g. FSDD's "{label}_{speaker}_{take}"). Every clip's
 * representation is computed (on es_set_threads' count); progress may be
 * NULL. */
es_status es_speakers_background_from_dir(es_speakers *s, es_engine *e, const char *dir, const char *pattern,
                                          int keep_threshold, es_progress_fn progress, void *user, es_error *err);
/* The background from synthetic voices made by earshot's own speech
 * synthesis (libespeak-ng / libflite; pipeline/speaker_synth.c says how
 * the voices differ): `voices` speakers (2-1024) of `takes` takes each
 * (2-200), every choice drawn from seed; the same call in a fresh
 * process gives the same background (espeak-ng keeps a little state from
 * one utterance to the next). 64 x 20 takes 30-60 s on 2 cores. */
es_status es_speakers_background_synth(es_speakers *s, es_engine *e, int voices, int takes, unsigned long long seed,
                                       int keep_threshold, es_progress_fn progress, void *user, es_error *err);
/* The background's description, NULL without one; valid until the
 * background is replaced or the set freed. */
const char *es_speakers_background(const es_speakers *s);
/* Write atomically. */
es_status es_speakers_save(const es_speakers *s, const char *path, es_error *err);
/* Scores[count] (may be NULL) of a representation against every speaker;
 * *best (may be NULL) receives the index of the highest, or -1 when that
 * is below the threshold (unknown); *best_score its score. The first score
 * after a change fits the scoring projection; several threads may score
 * against one set at once, but none may change it meanwhile (enroll,
 * remove, background, threshold). */
es_status es_speakers_score(es_speakers *s, const float *feat, float *scores, int *best, float *best_score,
                            es_error *err);
/* Raw audio in, the closest enrolled speaker out (-1 = unknown), for
 * callers that have samples rather than files (transcribe, listen). */
es_status es_speaker_identify(es_speakers *s, es_engine *e, const float *x, size_t n, int *best, float *score,
                              es_error *err);
/* Score of a clip against one named speaker; *accept = score >= threshold. */
es_status es_speaker_verify(es_speakers *s, es_engine *e, const char *name, const float *x, size_t n, float *score,
                            int *accept, es_error *err);
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
                                 (rounded down) are held out (default 5);
                                 ES_CURVE_ALL_SPLITS: every such split once
                                 (refused above 1,000 of them) */
    const char *const *test_speakers;  /* explicit splits instead: each a
                                 comma-separated list of held-out speakers */
    size_t n_test_speakers;
    int scratch;              /* also the from-scratch baseline (default 1) */
    const char *synth_dir;    /* NULL, or a folder of synthetic takes of the
                                 labels (es_synth_cached): every run also
                                 trains on all of them, as es_train_words
                                 mixes real clips in; `shots` counts real
                                 clips only, and the picked real clips are
                                 repeated to weigh real_weight of synth_takes
                                 per label, at least once each */
    int synth_takes;          /* takes per word in synth_dir */
    double real_weight;       /* as es_synth_opts.real_weight */
} es_curve_opts;
#define ES_CURVE_ALL_SPLITS (-1)
void es_curve_opts_default(es_curve_opts *o);   /* shots 1,2,5,10,20,all */

typedef struct {
    int shots;                /* 0 = all */
    size_t n;                 /* runs averaged */
    double mean, std;         /* accuracy; std is the sample std over runs */
    double scratch_mean, scratch_std;   /* NaN when not available */
    size_t clips_min, clips_max;  /* the most training clips of a label, over
                                     its runs: what the auto rules (offsets,
                                     copies) saw */
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
