/*
 * pipeline/transcribe.h — batch transcription (internal): expanding the
 * inputs, running one file through the streaming detector, and rendering a
 * transcript as text, JSON, CSV, SRT or WebVTT.
 *
 * The JSON object of a file is the stable interface (documented in the
 * README): {"file": str, "duration": seconds, "model": str,
 * "events": [{"label": str, "start": s, "end": s, "score": 0..1}, ...]};
 * with speaker profiles every event also has "speaker" (a name, or
 * "unknown" below the profile's threshold) and "speaker_score" (cosine).
 * A batch to stdout is JSON Lines (one object per line).
 */
#ifndef ES_TRANSCRIBE_H
#define ES_TRANSCRIBE_H

#include "es_internal.h"

enum { ES_TX_TXT = 1, ES_TX_JSON = 2, ES_TX_CSV = 4, ES_TX_SRT = 8, ES_TX_VTT = 16, ES_TX_SVG = 32 };
#define ES_TX_NFORMATS 6
/* Format bit of a name ("txt", "json", "csv", "srt", "vtt"/"webvtt", "svg"), 0 if none. */
int es_tx_format_parse(const char *name);
/* File extension of format bit f ("txt", ...). */
const char *es_tx_format_ext(int f);

typedef struct {
    const char *label;   /* points into the detector */
    double start, end;
    float score;
    int speaker;         /* index in the transcript's speakers, -1 = unknown */
    float speaker_score; /* cosine of the closest speaker */
} es_tx_event;

/* The score track the svg format draws: each reported label's smoothed
 * score (the one thresholds apply to) every 80 ms step, in at most
 * ES_TX_TRACK_BINS bins. Each bin holds the highest score of its steps;
 * when the bins are full, neighbours merge and a bin covers twice the
 * steps. So memory stays bounded whatever the file's length, and no peak
 * (no event) is lost, only time resolution on long files. */
#define ES_TX_TRACK_BINS 4096
typedef struct {
    size_t nl;            /* labels drawn */
    size_t *slot;         /* [nl]: their index in the detector's score row */
    const char **label;   /* [nl], point into the detector */
    double *thr;          /* [nl] */
    float *v;             /* [ES_TX_TRACK_BINS][nl] */
    double *t;            /* [ES_TX_TRACK_BINS]: time of each bin's first step */
    size_t nbins, per;    /* bins filled; steps per bin */
    float *cur;           /* [nl]: the bin being filled */
    size_t incur;         /* its steps so far */
    double cur_t;
} es_tx_track;

/* The track alone (listen keeps one over a live session): new for the
 * detector's reported labels (NULL: out of memory), push every step's
 * score row (an es_detector_score_fn), close at the end of the stream. */
es_tx_track *es_tx_track_new(const es_detector *d);
void es_tx_track_push(void *track, double t, const float *row, size_t n);
void es_tx_track_close(es_tx_track *k);
void es_tx_track_free(es_tx_track *k);

typedef struct {
    const char *file;
    const char *model;
    double duration;
    es_tx_event *ev;
    size_t nev, cap;
    const es_speakers *speakers;   /* non-NULL: events carry a speaker */
    es_tx_track *track;            /* with es_tx_run's track: the score track */
} es_transcript;

void es_transcript_free(es_transcript *t);
/* Append an event (the transcript's array grows; label must outlive it). */
es_status es_tx_add(es_transcript *t, const char *label, double start, double end, float score, int speaker,
                    float speaker_score, es_error *err);

/* Stream a file (or an opened reader) through the detector (reset first,
 * flushed at the end); events sorted by start. Memory does not depend on
 * the file's length. The reader is not closed. With speakers (and eng, the
 * engine they were checked against) non-NULL, each event's audio, padded
 * by ES_TX_SPK_PAD on each side, is cut from a bounded history of the
 * recent samples and identified, once that audio has all been read. spk must already be fitted (one
 * es_speakers_score call) when several threads share it. */
#define ES_TX_SPK_PAD 0.2
es_status es_tx_run(es_detector *d, es_reader *r, const char *file, es_speakers *spk, es_engine *eng,
                    es_transcript *t, es_error *err);
/* The same, also keeping the score track (t->track) when track != 0. */
es_status es_tx_run_track(es_detector *d, es_reader *r, const char *file, es_speakers *spk, es_engine *eng,
                          int track, es_transcript *t, es_error *err);

/* A speaker's name for output: "unknown" for -1. */
const char *es_tx_speaker_name(const es_speakers *s, int k);

/* The last `cap` samples of a stream, to cut an event's audio from when
 * the detector reports it (events come at most a few seconds late). */
typedef struct {
    float *x;
    size_t cap;
    unsigned long long pushed;   /* samples pushed since the start */
} es_tx_history;
es_status es_tx_history_init(es_tx_history *h, double seconds, es_error *err);
void es_tx_history_free(es_tx_history *h);
void es_tx_history_push(es_tx_history *h, const float *x, size_t n);
/* Samples of [t0, t1) seconds of stream time still held, copied to a new
 * buffer (*out, malloc'd); 0 (and *out NULL) if none is held any more. */
size_t es_tx_history_cut(const es_tx_history *h, double t0, double t1, float **out);

/* Identify the speaker of [start, end] (padded by ES_TX_SPK_PAD) from the
 * history: *best -1 (unknown) with *score 0 when the audio is gone. */
es_status es_tx_identify(es_speakers *spk, es_engine *eng, const es_tx_history *h, double start, double end,
                         int *best, float *score, es_error *err);

/* Render one transcript in one format; *out is malloc'd and NUL-terminated. */
es_status es_tx_render(const es_transcript *t, int format, char **out, size_t *len, es_error *err);

/* One input file and the output name stem (path without extension,
 * relative to the directory it was found under, or its base name). */
typedef struct {
    char *path;
    char *stem;
} es_tx_input;

/* Expand command-line inputs: files as they are, directories recursively
 * (audio extensions only), shell globs (when the argument is no existing
 * file), and @manifest files (one input per line; blank lines and lines
 * starting with # skipped; relative paths are relative to the manifest's
 * folder). The result is sorted by path with duplicates removed. An input
 * that cannot be read (missing, a folder without permission, a broken
 * link with an audio name, a glob matching nothing, an unreadable list) is
 * not an error: *bad[*nbad] receives one message per problem, naming it, so
 * the caller reports them and goes on with the rest. A folder reached twice
 * (a link loop) is walked once. Only running out of memory fails. */
es_status es_tx_expand(const char *const *args, size_t n, es_tx_input **out, size_t *nout, char ***bad, size_t *nbad,
                       es_error *err);
void es_tx_problems_free(char **bad, size_t n);
void es_tx_inputs_free(es_tx_input *in, size_t n);

/* The lines of a manifest held in memory: each line with surrounding white
 * space (and a CR) removed, blank lines and lines starting with # skipped,
 * passed to fn (which may stop the parse by returning an error). A line
 * holding a NUL byte is ES_ERR_FORMAT naming `name` and the line. */
es_status es_tx_manifest_parse(const char *buf, size_t len, const char *name,
                               es_status (*fn)(void *user, const char *line), void *user, es_error *err);

#endif
