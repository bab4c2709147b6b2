/*
 * earshot transcribe — time-stamped keyword transcripts of many audio
 * files, in parallel, through the same streaming detector as live audio.
 *
 * Each worker thread owns a detector (the models have per-call scratch);
 * they share the read-only engine. Files are read block by block, so peak
 * memory is the same for a 10 s clip and a 10 h recording. Outputs are
 * written atomically, so --resume can trust that an existing output is
 * complete: a file is skipped when all its outputs exist, in a folder
 * whose run record says they were made with this run's settings.
 */
#include "cli.h"
#include "transcribe.h"
#include "es_internal.h"
#include "cache.h"   /* es_sha256_file */
#include "../model/onnx.h"   /* es_sha256_hex */

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_MODELS 32

static void help(FILE *f)
{
    fprintf(f,
            "usage: earshot transcribe [options] -m MODEL [-m MODEL ...] INPUT...\n"
            "\n"
            "Finds the model's words in audio files and writes a time-stamped transcript\n"
            "per file. INPUT is a file (any format earshot reads), a folder (searched\n"
            "recursively for audio files), a quoted glob ('data/*.flac'), @LIST (a\n"
            "text file with one input per line, relative to the list's folder) or '-'\n"
            "(a WAV stream on stdin: ffmpeg -i IN -f wav -; named stdin.EXT with -d).\n"
            "MODEL is a model trained by earshot train (.safetensors) or an\n"
            "openWakeWord head (pretrained name or .onnx path).\n"
            "\n"
            "  -m, --model MODEL     model to run (repeatable)\n"
            "  -o, --format F        txt, json, csv, srt, vtt or svg; repeat for several\n"
            "                        (-otxt -ojson -osrt, as whisper.cpp); default txt.\n"
            "                        svg draws the file's score track: each word's\n"
            "                        score over time, the thresholds, the events (to\n"
            "                        stdout only for a single input)\n"
            "  -d, --output-dir DIR  one file per input and format, DIR/NAME.EXT, written\n"
            "                        atomically, all of an input's or none (folder\n"
            "                        inputs keep their sub-folders);\n"
            "                        default: print to stdout (one format only; json\n"
            "                        is then JSON Lines, one object per file)\n"
            "  -j, --jobs N          files processed in parallel (default: the cores)\n"
            "  --shard K/N           process only shard K of N (files K, K+N, ... of the\n"
            "                        sorted list; K from 1)\n"
            "  --resume              skip files whose outputs all exist (with -d; never\n"
            "                        '-'); refused when DIR's record\n"
            "                        (.earshot-transcribe.json) says they were made with\n"
            "                        other models or options\n"
            CLI_DETECT_HELP
            "  --speakers PROFILES   name who said each word: the closest speaker of a\n"
            "                        profile file from earshot enroll (\"unknown\" below\n"
            "                        its threshold), identified on the event's audio\n"
            "                        +-0.2 s; adds a speaker and score column (txt, csv),\n"
            "                        JSON fields, and the name in SRT/WebVTT cues\n"
            "  --save-clips DIR      keep the audio of each event (from 2.3 s before its end\n"
            "                        at least, to 0.3 s after) as\n"
            "                        DIR/<name>_<NNNN>_<label>.wav (NNNN: the event's place\n"
            "                        in the file's transcript): to hear what fired, and to\n"
            "                        move false accepts into a training set's _unknown_/\n"
            "  --block N             80 ms chunks per encoder call (default 16; same events)\n"
            "  --resample Q          converter for other rates than 16 kHz: best, medium\n"
            "                        or fast (default fast: libsamplerate SINC_FASTEST;\n"
            "                        with --speakers best, as identify reads audio)\n"
            "  --models DIR          pretrained models directory (default: $EARSHOT_MODELS,\n"
            "                        else $XDG_CACHE_HOME/earshot/models)\n"
            "  -q, --quiet           no progress, notes or summary on stderr\n"
            "\n"
            "JSON fields (stable): file, duration (s), model, events: [{label, start, end,\n"
            "score}] (with --speakers also speaker: a name or \"unknown\", and\n"
            "speaker_score: its score from 0 to 1, as identify prints); times are seconds\n"
            "from the start of the file.\n"
            "Exit status: 0 if every file was transcribed, 1 if any failed, 2 on bad usage.\n");
}

typedef struct {
    /* settings */
    es_engine *eng;
    const char **models;
    size_t nmodels;
    cli_detect det;
    int formats;
    const char *outdir;
    int multi;               /* several inputs (for stdout: name each line's file) */
    int csv_header_done;     /* stdout CSV: the header is printed once */
    int stdout_failed;       /* stdout took a transcript only in part: no more */
    const char *clips;   /* --save-clips DIR */
    int resume, quiet, progress;
    es_resample_quality resample;
    es_speakers *spk;    /* --speakers, fitted before the workers start */
    const cJSON *settings;   /* with -d: what the run record says */
    pthread_mutex_t record_lock;
    int record_done;         /* the record is written (under record_lock) */
    int have_since;          /* --resume: outputs count only from since on */
    struct timespec since;   /* the record's mtime: when its settings began */
    size_t nolder;           /* --resume: inputs redone, their outputs older */
    char model_name[1024];
    /* work */
    es_tx_input *in;
    size_t *todo;        /* indices of the files to process */
    size_t ntodo;
    pthread_mutex_t lock;
    size_t next;         /* next todo to hand out */
    char **printed;      /* stdout mode: rendered output per todo, printed in order */
    unsigned char *done;
    size_t next_print;
    /* totals */
    size_t nok, nfail, nskip, nev;
    size_t nbad;             /* inputs that could not be read at all (es_tx_expand) */
    double audio_s;
    double t0, last_progress;
    /* workers whose detector could not be made (memory, open files: main
     * has made one already, so never the model itself), and the first
     * one's reason */
    int setup_failed, setup_ok;
    es_error setup_err;
} batch;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static char *out_path(const batch *b, const es_tx_input *in, int fmt)
{
    size_t n = strlen(b->outdir) + strlen(in->stem) + 16;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s.%s", b->outdir, in->stem, es_tx_format_ext(fmt));
    return p;
}

/* --resume: a run killed inside es_write_atomic leaves <output>.tmp.<tag>;
 * remove those of a file about to be redone (shards never share files).
 * Only those of processes that are gone: a second --resume of the same
 * batch started while the first still runs (a cron job, another terminal)
 * removed the first's temporary file between its write and its rename,
 * and the first failed that input with "cannot write: No such file". */
static void remove_stale_temps(const batch *b, const es_tx_input *in)
{
    for (int f = 1; f < (1 << ES_TX_NFORMATS); f <<= 1) {
        if (!(b->formats & f)) continue;
        char *p = out_path(b, in, f);
        size_t n = p ? strlen(p) : 0;
        char *pat = p ? malloc(n + 16) : NULL;
        if (pat) {
            /* escape glob characters of the name itself */
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                if (strchr("*?[\\", p[i])) pat[k++] = '\\';
                pat[k++] = p[i];
            }
            pat[k] = 0;
            char *full = malloc(k + 16);
            if (full) {
                snprintf(full, k + 16, "%s.tmp.[0-9]*", pat);
                glob_t g;
                if (glob(full, 0, NULL, &g) == 0) {
                    for (size_t i = 0; i < g.gl_pathc; i++) {
                        /* the whole rest after the output's name and ".tmp." is a
                         * process tag (es_tag_state), of a process gone */
                        const char *g1 = g.gl_pathv[i];
                        if (strlen(g1) > n + 5 && !strncmp(g1, p, n) && !strncmp(g1 + n, ".tmp.", 5) &&
                            es_tag_state(g1 + n + 5) == ES_TAG_GONE)
                            unlink(g1);
                    }
                    globfree(&g);
                }
                free(full);
            }
        }
        free(pat);
        free(p);
    }
}

/* 1 when all of the input's outputs exist and (--resume into a folder
 * with a run record) none is older than the record; 0 when one is
 * missing; -1 when all exist but one is older than the record: made
 * before these settings began, by a run with others (see the run record
 * below). A link's target is judged, not the link. */
static int outputs_exist(const batch *b, const es_tx_input *in)
{
    /* stdin's outputs say nothing about what the pipe holds this time */
    if (!strcmp(in->path, "-")) return 0;
    int older = 0;
    for (int f = 1; f < (1 << ES_TX_NFORMATS); f <<= 1) {
        if (!(b->formats & f)) continue;
        char *p = out_path(b, in, f);
        struct stat sb;
        int ok = p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
        free(p);
        if (!ok) return 0;
        if (b->have_since && (sb.st_mtim.tv_sec < b->since.tv_sec ||
                              (sb.st_mtim.tv_sec == b->since.tv_sec && sb.st_mtim.tv_nsec < b->since.tv_nsec)))
            older = 1;
    }
    return older ? -1 : 1;
}

/* txt with each line prefixed by "path\t", the path escaped as one
 * tab-separated field (NULL when out of memory) */
static char *prefix_lines(const char *raw_path, const char *txt)
{
    char *path = cli_tsv_field(raw_path);
    if (!path) return NULL;
    size_t lines = 0, pl = strlen(path), tl = strlen(txt);
    for (const char *q = txt; *q; q++) lines += *q == '\n';
    char *out = malloc(tl + lines * (pl + 1) + 1), *o = out;
    if (!out) { free(path); return NULL; }
    for (const char *q = txt; *q;) {
        const char *e = strchr(q, '\n');
        size_t n = e ? (size_t)(e - q) + 1 : strlen(q);
        memcpy(o, path, pl);
        o[pl] = '\t';
        memcpy(o + pl + 1, q, n);
        o += pl + 1 + n;
        q += n;
    }
    *o = 0;
    free(path);
    return out;
}

/* mkdir -p of the folders above path */
static es_status make_parents(const char *path, es_error *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return ES_OK;
    char *p = strndup(path, (size_t)(slash - path));
    if (!p) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_status st = es_make_dirs(p, err);
    free(p);
    return st;
}

/* --save-clips: the audio of each event, CLIP_MARGIN seconds either side
 * (and from CLIP_HEARD before its end at least), as
 * DIR/<stem>_<NNNN>_<label>.wav (NNNN: the event's place in the file's
 * transcript, from 1). A second pass over the file, block by block, so
 * memory holds only the clips of events that overlap the block read. */
#define CLIP_MARGIN 0.3
#define CLIP_HEARD 2.0
static es_status save_clips(const batch *b, const es_tx_input *in, const es_transcript *t, es_error *e)
{
    if (!t->nev) return ES_OK;
    es_load_opts lo = {1};
    es_reader *r = es_reader_open(in->path, &lo, e);
    if (!r) return e->status ? e->status : ES_ERR_IO;
    es_status st = es_reader_set_resample(r, b->resample, e);
    size_t n = t->nev, *s0 = calloc(n, sizeof *s0), *s1 = calloc(n, sizeof *s1), next = 0, pos = 0, got;
    float **buf = calloc(n, sizeof *buf), *blk = malloc(16384 * sizeof *blk);
    if (!st && (!s0 || !s1 || !buf || !blk)) st = es_fail(e, ES_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        /* from at least CLIP_HEARD before the end: the audio the model's
         * window heard when the score rose (16 embeddings of an
         * openWakeWord head are 2.0 s), not only the event's extent (which
         * can start late in a long word); with CLIP_MARGIN 0.3 s around
         * a clip then holds its word again (tests/test_transcribe.sh) */
        double from = t->ev[i].start < t->ev[i].end - CLIP_HEARD ? t->ev[i].start : t->ev[i].end - CLIP_HEARD;
        double a = from - CLIP_MARGIN, z = t->ev[i].end + CLIP_MARGIN;
        s0[i] = a > 0 ? (size_t)(a * ES_SAMPLE_RATE + 0.5) : 0;
        s1[i] = (size_t)(z * ES_SAMPLE_RATE + 0.5);
    }
    /* `next`: the first event not yet written */
    size_t written = 0;
    int eof = 0;
    while (!st && written < n) {
        got = 0;
        if (!eof && (st = es_reader_read(r, blk, 16384, &got, e))) break;
        if (!got) eof = 1;
        /* clip starts need not follow the events' order (a long event
         * starts its clip at its own start, a short one 2.3 s before its
         * end), so every unwritten event is looked at */
        for (size_t i = next; !st && i < n; i++) {
            if (s1[i] == 0 || (!eof && s0[i] >= pos + got)) continue;   /* written, or not begun */
            if (!buf[i] && !(buf[i] = calloc(s1[i] - s0[i] + 1, sizeof(float)))) { st = es_fail(e, ES_ERR_NOMEM, "out of memory"); break; }
            size_t a = s0[i] > pos ? s0[i] : pos, z = s1[i] < pos + got ? s1[i] : pos + got;
            if (a < z) memcpy(buf[i] + (a - s0[i]), blk + (a - pos), (z - a) * sizeof(float));
            if (s1[i] <= pos + got || eof) {
                /* all of it read (or the file ended: its end is silence) */
                size_t len = !(eof && s1[i] > pos) ? s1[i] - s0[i] : pos > s0[i] ? pos - s0[i] : 0;
                char lab[64], *path;
                cli_safe_name(t->ev[i].label, lab, sizeof lab);
                size_t pl = strlen(b->clips) + strlen(in->stem) + strlen(lab) + 32;
                if (!(path = malloc(pl))) { st = es_fail(e, ES_ERR_NOMEM, "out of memory"); break; }
                snprintf(path, pl, "%s/%s_%04zu_%s.wav", b->clips, in->stem, i + 1, lab);
                st = make_parents(path, e);
                if (!st) st = es_audio_write_wav(path, buf[i], len, e);
                free(path);
                free(buf[i]);
                buf[i] = NULL;
                s1[i] = 0;
                written++;
            }
        }
        while (next < n && s1[next] == 0) next++;
        pos += got;
    }
    for (size_t i = 0; buf && i < n; i++) free(buf[i]);
    free(buf); free(blk); free(s0); free(s1);
    es_reader_close(r);
    return st;
}

static void show_progress(batch *b, int final)
{
    if (!b->progress) return;
    double t = now_s();
    if (!final && t - b->last_progress < 0.25) return;
    b->last_progress = t;
    size_t fin = b->nok + b->nfail + b->nskip;
    double el = t - b->t0, speed = el > 0 ? b->audio_s / el : 0;
    double eta = fin ? el / (double)fin * (double)(b->ntodo - fin) : 0;
    fprintf(stderr, "\r%zu/%zu files, %.2f h of audio, %.0fx real time, ETA %d:%02d:%02d ", fin, b->ntodo,
            b->audio_s / 3600, speed, (int)(eta / 3600), (int)(eta / 60) % 60, (int)eta % 60);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

/* ---- the run record: what --resume may trust ----
 *
 * --resume skips an input whose outputs all exist, so outputs made with
 * other models or options (a lower threshold, another --smooth) were taken
 * for this run's and a batch ended as a mix that nothing showed. A run
 * into -d records, in DIR/.earshot-transcribe.json, every setting that
 * changes what an output says: each model (by the SHA-256 of its file's
 * bytes, a pretrained head's name by its file's), the detector options, the
 * speaker profiles, the resampler, the formats and the clips folder; not
 * -j, --shard, --block (same events) or --quiet. --resume refuses a
 * folder whose record differs and names the first difference. A folder
 * without a record (an older earshot wrote it) is resumed with a note.
 *
 * A record says what made the outputs written since it was, not all the
 * folder holds: a run with other settings (without --resume) replaces
 * the record and the outputs of its own inputs only, so when it was
 * killed, or given fewer inputs, the folder holds outputs of both. The
 * record's mtime is when its settings began: a run with the same
 * settings leaves the record as it is, and --resume trusts only outputs
 * whose mtime is not older (the file system's clock for both, so no
 * clock of ours is compared with it); older ones are redone. The rule
 * errs towards redoing: a copy of the folder that does not keep mtimes
 * (cp -r; cp -a and rsync -a keep them) may redo inputs that were done,
 * and never keeps an output of other settings, unless the clock went
 * back between the two runs or, on a file system that keeps whole
 * seconds (FAT), the two runs wrote in the same second. */
#define RUN_RECORD ".earshot-transcribe.json"

static cJSON *run_settings(const batch *b, const char *models_dir, const char *spk_path, es_error *e)
{
    cJSON *s = cJSON_CreateObject(), *ms = cJSON_AddArrayToObject(s, "models");
    for (size_t i = 0; ms && i < b->nmodels; i++) {
        char id[128 + 64], path[4200];
        struct stat st;
        unsigned char sha[32];
        es_error ignore = {0};
        /* a pretrained head by the file its name stands for, so that
         * "hey_jarvis" and the path of that file are one model */
        const char *file = stat(b->models[i], &st) == 0 && S_ISREG(st.st_mode) ? b->models[i]
                         : !es_models_path(models_dir, b->models[i], path, sizeof path, &ignore) ? path : NULL;
        if (file) {
            if (es_sha256_file(file, sha, e)) { cJSON_Delete(s); return NULL; }
            memcpy(id, "sha256:", 7);
            es_sha256_hex(sha, id + 7);
        } else {
            /* no such model: the detector says so before any output */
            snprintf(id, sizeof id, "name:%.128s", b->models[i]);
        }
        cJSON_AddItemToArray(ms, cJSON_CreateString(id));
    }
    cJSON *thr = cJSON_AddArrayToObject(s, "thresholds");
    for (size_t i = 0; thr && i < b->det.nthr; i++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(b->det.thr[i].label ? b->det.thr[i].label : "*"));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(b->det.thr[i].thr));
        cJSON_AddItemToArray(thr, pair);
    }
    const es_detector_opts *o = &b->det.o;
    cJSON_AddNumberToObject(s, "threshold", o->threshold);
    cJSON_AddNumberToObject(s, "low", o->low);
    cJSON_AddNumberToObject(s, "smooth", o->smooth);
    cJSON_AddNumberToObject(s, "min_duration", o->min_duration);
    cJSON_AddNumberToObject(s, "refractory", o->refractory);
    cJSON_AddNumberToObject(s, "pad", o->pad);
    cJSON_AddBoolToObject(s, "early", o->early);
    cJSON_AddBoolToObject(s, "self_adapt", o->self_adapt);
    if (spk_path) {
        unsigned char sha[32];
        char id[80];
        if (es_sha256_file(spk_path, sha, e)) { cJSON_Delete(s); return NULL; }
        memcpy(id, "sha256:", 7);
        es_sha256_hex(sha, id + 7);
        cJSON_AddStringToObject(s, "speakers", id);
    } else {
        cJSON_AddNullToObject(s, "speakers");
    }
    cJSON_AddStringToObject(s, "resample", b->resample == ES_RESAMPLE_BEST ? "best" : b->resample == ES_RESAMPLE_MEDIUM ? "medium" : "fast");
    cJSON *fm = cJSON_AddArrayToObject(s, "formats");
    for (int f = 1; fm && f < (1 << ES_TX_NFORMATS); f <<= 1)
        if (b->formats & f) cJSON_AddItemToArray(fm, cJSON_CreateString(es_tx_format_ext(f)));
    if (b->clips) cJSON_AddStringToObject(s, "save_clips", b->clips);
    else cJSON_AddNullToObject(s, "save_clips");
    /* Out of memory, a cJSON creator returns NULL and the Add call adds
     * nothing: a record short of a setting would refuse a later resume
     * for a difference that is not there. One check of the counts here. */
    if (cJSON_GetArraySize(s) != 14 || cJSON_GetArraySize(ms) != (int)b->nmodels ||
        cJSON_GetArraySize(thr) != (int)b->det.nthr || cJSON_GetArraySize(fm) != __builtin_popcount((unsigned)b->formats)) {
        cJSON_Delete(s);
        es_fail(e, ES_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return s;
}

/* How DIR's record compares with these settings: -1 there is none, 0 the
 * same (*mtime: the record's), 1 not (why says how: the first setting
 * that differs, or what is wrong with the record). */
static int compare_run_record(const batch *b, const cJSON *ours, char *why, size_t why_len, struct timespec *mtime)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", b->outdir, RUN_RECORD);
    unsigned char *data = NULL;
    size_t len = 0;
    es_error e = {0};
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return -1;
        snprintf(why, why_len, "its " RUN_RECORD ": %s", strerror(errno));
        return 1;
    }
    /* a record is a few hundred bytes; not read whole if something else is there */
    if (st.st_size > (1 << 20)) {
        snprintf(why, why_len, "its " RUN_RECORD " is not a record earshot wrote: %lld bytes", (long long)st.st_size);
        return 1;
    }
    if (es_read_file(path, &data, &len, &e)) { snprintf(why, why_len, "%s", e.msg); return 1; }
    cJSON *rec = cJSON_ParseWithLength((const char *)data, len);
    free(data);
    const cJSON *theirs = cJSON_GetObjectItemCaseSensitive(rec, "settings");
    if (!cJSON_IsObject(theirs)) {
        snprintf(why, why_len, "its " RUN_RECORD " is not a record earshot wrote: no settings object");
        cJSON_Delete(rec);
        return 1;
    }
    int same = cJSON_Compare(ours, theirs, 1);
    if (!same) {
        /* the first setting that differs, either way round */
        const char *key = NULL;
        const cJSON *it;
        cJSON_ArrayForEach(it, ours) {
            if (!cJSON_Compare(it, cJSON_GetObjectItemCaseSensitive(theirs, it->string), 1)) { key = it->string; break; }
        }
        if (!key) cJSON_ArrayForEach(it, theirs) {
            if (!cJSON_GetObjectItemCaseSensitive(ours, it->string)) { key = it->string; break; }
        }
        char *now = key ? cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ours, key)) : NULL;
        char *then = key ? cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(theirs, key)) : NULL;
        snprintf(why, why_len, "%s: %.200s now, %.200s then", key ? key : "?", now ? now : "none", then ? then : "none");
        free(now);
        free(then);
    }
    cJSON_Delete(rec);
    if (same) *mtime = st.st_mtim;
    return !same;
}

/* Whether dir holds any name (but . and ..), or with visible_only any
 * name not starting with a dot (outputs of a run, not its record). */
static int has_names(const char *dir, int visible_only)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int used = 0;
    while (d && !used && (de = readdir(d)))
        used = visible_only ? de->d_name[0] != '.' : strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d) closedir(d);
    return used;
}

static es_status write_record_file(const batch *b, const cJSON *settings, es_error *e)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/%s", b->outdir, RUN_RECORD) >= (int)sizeof path)
        return es_fail(e, ES_ERR_ARG, "%s: the folder's name is too long", b->outdir);
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "earshot_version", es_version());
    cJSON_AddStringToObject(rec, "earshot_commit", es_version_commit());
    cJSON_AddItemToObject(rec, "settings", cJSON_Duplicate(settings, 1));
    char *text = cJSON_Print(rec);
    cJSON_Delete(rec);
    size_t n = text ? strlen(text) : 0;
    char *line = text ? realloc(text, n + 2) : NULL;
    if (!line) { free(text); return es_fail(e, ES_ERR_NOMEM, "out of memory"); }
    text = line;
    memcpy(text + n, "\n", 2);
    es_status st = es_make_dirs(b->outdir, e);
    if (!st) st = es_write_atomic(path, text, n + 1, e);
    free(text);
    return st;
}

/* Written before the first output, so a killed run leaves it too, and
 * not before: a run that writes no output (its only worker could not
 * start, every input failed) leaves no folder. */
static es_status write_run_record(batch *b, es_error *e)
{
    pthread_mutex_lock(&b->record_lock);
    /* Shards of one batch started together each find no record; the
     * first to write one is the start of their settings, and a later
     * shard rewriting it would date the first one's outputs before it
     * (a --resume would redo them). So a record of the same settings
     * that appeared meanwhile stands. */
    char why[600];
    struct timespec ignore;
    if (!b->record_done && compare_run_record(b, b->settings, why, sizeof why, &ignore) == 0) b->record_done = 1;
    es_status st = b->record_done ? ES_OK : write_record_file(b, b->settings, e);
    if (!st) b->record_done = 1;
    pthread_mutex_unlock(&b->record_lock);
    return st;
}

/* Transcribe one file; returns 0, or -1 after reporting the failure. */
static int one_file(batch *b, es_detector *d, size_t k, float *unused)
{
    (void)unused;
    const es_tx_input *in = &b->in[b->todo[k]];
    es_error e = {0};
    es_transcript t;
    es_load_opts lo = {1};
    es_reader *r;
    if (!strcmp(in->path, "-")) {
        /* stdin: a WAV stream. Raw PCM has no header to say its rate, and
         * --format here names the outputs, so it is not guessed at. */
        int wav = 0;
        r = es_reader_open_stream(stdin, "(stdin)", ES_SAMPLE_RATE, 1, ES_PCM_S16, &lo, &wav, &e);
        if (r && !wav) {
            es_reader_close(r);
            r = NULL;
            es_fail(&e, ES_ERR_FORMAT, "(stdin): not a WAV stream: transcribe reads WAV from a pipe (ffmpeg -i IN "
                    "-f wav -, sox IN -t wav -); for raw PCM use earshot detect --rate HZ --format F -");
        }
    } else {
        r = es_reader_open(in->path, &lo, &e);
    }
    if (r && es_reader_set_resample(r, b->resample, &e)) { es_reader_close(r); r = NULL; }
    es_status st = r ? es_tx_run_track(d, r, in->path, b->spk, b->eng, (b->formats & ES_TX_SVG) != 0, &t, &e)
                     : e.status ? e.status : ES_ERR_IO;
    es_reader_close(r);
    char *txt = NULL;
    if (!st) {
        t.model = b->model_name;
        if (b->outdir) {
            /* An input's outputs are all or none: every format is
             * rendered, the clips are written, then every format's
             * temporary file is written (and synced), and only when all
             * that succeeded are they renamed into place. Written one by
             * one, a disk that filled up after NAME.txt left it without
             * its NAME.json (an older set half replaced), and a clip that
             * could not be written failed an input whose outputs all
             * stood, which --resume (an input is done when all its
             * outputs exist) then skipped. Rendering first keeps the
             * temporary files, and their places in the registry of
             * es_atomic_begin, only for the short write. The renames are
             * one critical step: a fatal signal (a second Ctrl-C) waits
             * for the set to be in place, or undone. SIGKILL does not
             * wait: the older set's files go first, so a kill between
             * two renames leaves the input with some outputs missing,
             * which --resume redoes, and never a new NAME.txt beside an
             * older NAME.json, which --resume took for done. (The older
             * set was going anyway: a rename refused midway removes the
             * ones in place too, below.) */
            char *docs[ES_TX_NFORMATS], *paths[ES_TX_NFORMATS];
            size_t lens[ES_TX_NFORMATS];
            es_atomic tmp[ES_TX_NFORMATS];
            int n = 0, ntmp = 0, committed = 0;
            for (int f = 1; f < (1 << ES_TX_NFORMATS) && !st; f <<= 1) {
                if (!(b->formats & f)) continue;
                docs[n] = NULL;
                if (!(paths[n] = out_path(b, in, f))) st = es_fail(&e, ES_ERR_NOMEM, "out of memory");
                else if (!(st = es_tx_render(&t, f, &docs[n], &lens[n], &e))) n++;
                else { free(docs[n]); free(paths[n]); }
            }
            if (!st) st = write_run_record(b, &e);
            if (!st && b->clips) st = save_clips(b, in, &t, &e);
            for (int i = 0; i < n && !st; i++) {
                if (!(st = make_parents(paths[i], &e)) && !(st = es_atomic_write_tmp(&tmp[i], paths[i], docs[i], lens[i], 1, &e)))
                    ntmp++;
            }
            es_critical_begin();
            /* the files the renames replace: a link's target, not the link */
            for (int i = 0; i < ntmp && !st; i++) (void)unlink(tmp[i].path);
            for (int i = 0; i < ntmp; i++) {
                if (!st && !(st = es_atomic_commit(&tmp[i], -1, paths[i], &e))) committed++;
                else if (tmp[i].tmp) es_atomic_abort(&tmp[i]);   /* a failed commit has ended it */
            }
            /* a rename refused after others were done (rare: they share a
             * folder): the ones in place go again, so that none is */
            for (int i = 0; st && i < committed; i++) unlink(paths[i]);
            es_critical_end();
            for (int i = 0; i < n; i++) { free(docs[i]); free(paths[i]); }
        } else {
            st = es_tx_render(&t, b->formats, &txt, NULL, &e);
            if (!st && b->multi && b->formats == ES_TX_TXT) {
                char *named = prefix_lines(in->path, txt);
                free(txt);
                txt = named;
                if (!txt) st = es_fail(&e, ES_ERR_NOMEM, "out of memory");
            }
            if (!st && b->clips) st = save_clips(b, in, &t, &e);
        }
    }
    pthread_mutex_lock(&b->lock);
    if (st) {
        if (b->progress) fputc('\n', stderr);
        /* the reader's messages name the file; name it when they do not */
        if (strstr(e.msg, in->path)) fprintf(stderr, "earshot: %s\n", e.msg);
        else fprintf(stderr, "earshot: %s: %s\n", in->path, e.msg[0] ? e.msg : es_status_str(st));
        b->nfail++;
    } else {
        b->nok++;
        b->nev += t.nev;
        b->audio_s += t.duration;
    }
    if (!b->outdir) {
        b->printed[k] = txt;
        b->done[k] = st ? 2 : 1;   /* 2: counted failed already */
        while (b->next_print < b->ntodo && b->done[b->next_print]) {
            size_t j = b->next_print;
            if (b->printed[j]) {
                if (b->progress) fputs("\r\033[K", stderr);
                const char *doc = b->printed[j];
                if (b->formats == ES_TX_CSV && b->csv_header_done && strchr(doc, '\n')) doc = strchr(doc, '\n') + 1;
                b->csv_header_done = 1;
                /* A transcript stdout did not take (a full disk under
                 * `> out.txt`, /dev/full, a closed stdout) is a failed
                 * input: the summary said "0 failed" and main's report of
                 * stdout then made the exit status 1. Once stdout has
                 * failed nothing more is written to it (what follows could
                 * land after a hole), so every later transcript fails too;
                 * the first failure is named here and main gives the
                 * reason once, at the end. */
                if (!b->stdout_failed) {
                    fputs(doc, stdout);
                    if (cli_flush_stdout()) {
                        if (b->progress) fputc('\n', stderr);
                        fprintf(stderr, "earshot: %s: transcript not written to standard output, nor any after it\n",
                                b->in[b->todo[j]].path);
                        b->stdout_failed = 1;
                    }
                }
                if (b->stdout_failed && b->done[j] == 1) { b->nok--; b->nfail++; b->done[j] = 2; }
                free(b->printed[j]);
                b->printed[j] = NULL;
            }
            b->next_print++;
        }
    }
    show_progress(b, 0);
    pthread_mutex_unlock(&b->lock);
    if (!st) es_transcript_free(&t);
    return st ? -1 : 0;
}

static const es_tx_input *stem_base;   /* for cmp_stem (main thread only) */
static int cmp_stem(const void *x, const void *y)
{
    return strcmp(stem_base[*(const size_t *)x].stem, stem_base[*(const size_t *)y].stem);
}

static es_detector *make_detector(batch *b, es_error *e)
{
    return cli_detector(b->eng, b->models, b->nmodels, &b->det, e);
}

/* Ctrl-C, SIGTERM or SIGHUP (the terminal closed; under nohup it stays
 * ignored): no new file is started, the files under way finish
 * (their outputs whole), and the summary says how far the batch got, so
 * --resume can take it up. A second signal goes to main's handler, which
 * removes temporary files and dies at once (cli_catch_stop: not the
 * repeat timeout(1) sends). */
static atomic_int interrupted;
static void on_interrupt(int sig)
{
    /* Read by the workers, and the handler may run on any thread: a
     * volatile sig_atomic_t is only safe within one thread (ThreadSanitizer
     * reported the worker's read against this write). A lock-free atomic is
     * both async-signal-safe and shared between threads. */
    atomic_store_explicit(&interrupted, sig, memory_order_relaxed);
}

static void *worker(void *p)
{
    batch *b = p;
    es_error e = {0};
    es_detector *d = make_detector(b, &e);
    /* A worker that cannot start leaves the files to those that did: a
     * batch of thousands should not stop because the last of -j 8 found no
     * memory. Only when none starts does the batch fail (main says why). */
    pthread_mutex_lock(&b->lock);
    if (!d && !b->setup_failed++) b->setup_err = e;
    if (d) b->setup_ok++;
    pthread_mutex_unlock(&b->lock);
    if (!d) return NULL;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        size_t k = b->next < b->ntodo && !atomic_load_explicit(&interrupted, memory_order_relaxed)
                       ? b->next++ : SIZE_MAX;
        pthread_mutex_unlock(&b->lock);
        if (k == SIZE_MAX) break;
        one_file(b, d, k, NULL);
    }
    es_detector_free(d);
    return NULL;
}

int cmd_transcribe(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"format", required_argument, 0, 'o'},
        {"output-dir", required_argument, 0, 'd'}, {"jobs", required_argument, 0, 'j'},
        {"shard", required_argument, 0, 1101}, {"resume", no_argument, 0, 1102},
        CLI_DETECT_LONGOPTS, {"block", required_argument, 0, 1109}, {"resample", required_argument, 0, 1110},
        {"speakers", required_argument, 0, 1120}, {"save-clips", required_argument, 0, 1121},
        {"models", required_argument, 0, 'M'}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    static batch b;   /* big; one per process */
    memset(&b, 0, sizeof b);
    const char *models[MAX_MODELS];
    const char *models_dir = NULL, *spk_path = NULL;
    size_t nmodels = 0;
    long jobs = 0, shard_k = 1, shard_n = 1, v;
    cli_detect_init(&b.det);
    b.det.o.block = 16;   /* files: bigger encoder steps, same events for any read size */
    /* From 8 or 44.1 kHz, SINC_BEST took 40 of the 49 CPU seconds of an
     * hour of 8 kHz audio; SINC_FASTEST takes 15 in all, with the same
     * long-form F1 (bench/README.md). */
    b.resample = ES_RESAMPLE_FASTEST;
    int opt, resample_set = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:o:d:j:qh", opts, NULL)) != -1) {
        int r = cli_detect_opt(&b.det, opt, optarg);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (opt) {
        case 'm':
            if (nmodels == MAX_MODELS) { fprintf(stderr, "earshot: at most %d models\n", MAX_MODELS); return EXIT_USAGE; }
            models[nmodels++] = optarg;
            break;
        case 'o': {
            int f = es_tx_format_parse(optarg);
            if (!f) {
                /* whisper.cpp's users type -ojson; others type -o out.json
                 * and expect a file. Say what -o is rather than only that
                 * "out.json" is no format. */
                const char *dot = strrchr(optarg, '.');
                int ext = dot && !strchr(dot, '/') ? es_tx_format_parse(dot + 1) : 0;
                if (ext)
                    fprintf(stderr, "earshot: -o takes a format, not a file: '-o %s' prints %s to stdout (add '> %s'), "
                            "'-o %s -d DIR' writes DIR/NAME.%s per input\n", dot + 1, dot + 1, optarg, dot + 1, es_tx_format_ext(ext));
                else
                    fprintf(stderr, "earshot: unknown output format '%s' (txt, json, csv, srt, vtt, svg)\n", optarg);
                return EXIT_USAGE;
            }
            b.formats |= f;
            break;
        }
        case 'd': b.outdir = optarg; break;
        case 1121: b.clips = optarg; break;
        case 'j':
            if (cli_parse_long(optarg, 1, 256, &jobs)) { fprintf(stderr, "earshot: -j must be from 1 to 256\n"); return EXIT_USAGE; }
            break;
        case 1101: {
            char *slash = strchr(optarg, '/');
            if (!slash) { fprintf(stderr, "earshot: --shard must be K/N\n"); return EXIT_USAGE; }
            *slash = 0;
            if (cli_parse_long(optarg, 1, 1000000, &shard_k) || cli_parse_long(slash + 1, 1, 1000000, &shard_n) || shard_k > shard_n) {
                fprintf(stderr, "earshot: --shard must be K/N with 1 <= K <= N\n");
                return EXIT_USAGE;
            }
            break;
        }
        case 1102: b.resume = 1; break;
        case 1109:
            if (cli_parse_long(optarg, 1, 256, &v)) { fprintf(stderr, "earshot: --block must be from 1 to 256\n"); return EXIT_USAGE; }
            b.det.o.block = (int)v;
            break;
        case 1110:
            if (!strcmp(optarg, "best")) b.resample = ES_RESAMPLE_BEST;
            else if (!strcmp(optarg, "medium")) b.resample = ES_RESAMPLE_MEDIUM;
            else if (!strcmp(optarg, "fast")) b.resample = ES_RESAMPLE_FASTEST;
            else { fprintf(stderr, "earshot: --resample must be best, medium or fast\n"); return EXIT_USAGE; }
            resample_set = 1;
            break;
        case 1120: spk_path = optarg; break;
        case 'M': models_dir = optarg; break;
        case 'q': b.quiet = 1; break;
        case 'h': help(stdout); return EXIT_OK;
        default: return cli_bad_option("transcribe", argv, opts);
        }
    }
    if (!nmodels) { fprintf(stderr, "earshot transcribe: no model (-m)\n\n"); help(stderr); return EXIT_USAGE; }
    if (cli_models_distinct(models, nmodels, "transcribe")) return EXIT_USAGE;
    if (optind >= argc) { fprintf(stderr, "earshot transcribe: no input\n\n"); help(stderr); return EXIT_USAGE; }
    if (!b.formats) b.formats = ES_TX_TXT;
    if (!b.outdir && (b.formats & (b.formats - 1))) {
        fprintf(stderr, "earshot: several formats need --output-dir (stdout takes one)\n");
        return EXIT_USAGE;
    }
    if (b.resume && !b.outdir) { fprintf(stderr, "earshot: --resume needs --output-dir\n"); return EXIT_USAGE; }
    /* checked before any file is read, not found unwritable 500 times;
     * made only when the first output is written (a run refused later,
     * for a bad --speakers file, leaves no folder behind) */
    if (b.outdir && cli_check_out_dir(b.outdir, "--output-dir")) return EXIT_USAGE;
    /* what runs killed by SIGKILL left (sub-folders mirror folder inputs) */
    if (b.outdir) es_atomic_remove_stale_in(b.outdir, 16);
    if (b.clips) {   /* the folder, before any file is read */
        /* a usage error like an unwritable -d, not 1 after every file */
        if (cli_check_out_dir(b.clips, "--save-clips")) return EXIT_USAGE;
        if (cli_make_dir(b.clips, "--save-clips")) return EXIT_FAIL;
        /* clips of an earlier run are not ours to delete, but a harvest
         * of false accepts that mixes in old ones misleads: say so (with
         * --resume they are the done files' own) */
        if (!b.resume && !b.quiet && has_names(b.clips, 0))
            fprintf(stderr, "earshot: note: --save-clips %s is not empty; this run's clips replace only those of the "
                            "same names, so clips of an earlier run stay beside them (an empty folder keeps them apart)\n",
                    b.clips);
    }

    es_error e = {0};
    size_t nin = 0;
    char **bad = NULL;
    size_t nbad = 0;
    if (es_tx_expand((const char *const *)argv + optind, (size_t)(argc - optind), &b.in, &nin, &bad, &nbad, &e)) {
        cli_error(&e);
        return EXIT_FAIL;
    }
    /* inputs that cannot be read are failures like a file that cannot be
     * decoded: each named, the rest transcribed, exit status 1 */
    for (size_t i = 0; i < nbad; i++) fprintf(stderr, "earshot: %s\n", bad[i]);
    es_tx_problems_free(bad, nbad);
    b.nbad = nbad;
    for (size_t i = 0; i < nin && b.clips; i++)
        if (!strcmp(b.in[i].path, "-")) {
            /* the clips are cut in a second pass over the input */
            fprintf(stderr, "earshot: --save-clips reads each input twice, and stdin can be read once: give a file\n");
            es_tx_inputs_free(b.in, nin);
            return EXIT_USAGE;
        }
    if (!nin && !nbad) {
        /* an empty folder was as silent as a success */
        fprintf(stderr, "earshot: no audio files in the inputs (" ES_AUDIO_EXT_TEXT ")\n");
        return EXIT_FAIL;
    }
    /* two inputs must not write the same output */
    if ((b.outdir || b.clips) && nin > 1) {
        size_t *ord = malloc(nin * sizeof(size_t));
        if (!ord) { fprintf(stderr, "earshot: out of memory\n"); es_tx_inputs_free(b.in, nin); return EXIT_FAIL; }
        for (size_t i = 0; i < nin; i++) ord[i] = i;
        stem_base = b.in;
        qsort(ord, nin, sizeof *ord, cmp_stem);
        for (size_t i = 0; i + 1 < nin; i++)
            if (!strcmp(b.in[ord[i]].stem, b.in[ord[i + 1]].stem)) {
                fprintf(stderr, "earshot: %s and %s would both write %s/%s*: give them separate folders or runs\n",
                        b.in[ord[i]].path, b.in[ord[i + 1]].path, b.outdir ? b.outdir : b.clips, b.in[ord[i]].stem);
                free(ord);
                es_tx_inputs_free(b.in, nin);
                return EXIT_USAGE;
            }
        free(ord);
    }
    /* charts or subtitle files one after another on stdout would make no
     * document (SRT cue numbers restarting, WEBVTT headers repeated) */
    if (!b.outdir && (b.formats & (ES_TX_SVG | ES_TX_SRT | ES_TX_VTT)) && nin > 1) {
        fprintf(stderr, "earshot: -o%s writes one document per file: give --output-dir for %zu inputs\n",
                es_tx_format_ext(b.formats), nin);
        es_tx_inputs_free(b.in, nin);
        return EXIT_USAGE;
    }
    /* txt to stdout names no file: with several inputs each line starts
     * with the file (as grep -H does); CSV has a file column, and its
     * header is printed once */
    b.multi = nin > 1;
    b.todo = malloc((nin + 1) * sizeof(size_t));
    b.printed = calloc(nin + 1, sizeof(char *));
    b.done = calloc(nin + 1, 1);
    if (!b.todo || !b.printed || !b.done) { fprintf(stderr, "earshot: out of memory\n"); return EXIT_FAIL; }
    /* The speaker representation reads the 3.2-4 kHz band, which
     * SINC_FASTEST's roll-off weakens when it doubles 8 kHz audio: every
     * speaker of an 8 kHz file came out "unknown", where identify (which
     * decodes with SINC_BEST) named them. So with --speakers the detector
     * and the names hear the audio identify hears, unless told otherwise. */
    if (spk_path && !resample_set) b.resample = ES_RESAMPLE_BEST;
    b.models = models;
    b.nmodels = nmodels;
    cJSON *settings = NULL;
    if (b.outdir) {
        if (!(settings = run_settings(&b, models_dir, spk_path, &e))) { cli_error(&e); es_tx_inputs_free(b.in, nin); return EXIT_FAIL; }
        char why[600];
        int cmp = compare_run_record(&b, settings, why, sizeof why, &b.since);
        /* the same settings: the record stands, and with it the time they began */
        b.record_done = b.have_since = cmp == 0;
        if (b.resume && cmp > 0) {
            fprintf(stderr, "earshot: --resume: the outputs in %s were made with other settings (%s); resume with the "
                            "same models and options, or write to a new folder\n", b.outdir, why);
            cJSON_Delete(settings);
            es_tx_inputs_free(b.in, nin);
            return EXIT_USAGE;
        }
        if (!b.quiet && cmp < 0 && b.resume && has_names(b.outdir, 1))
            fprintf(stderr, "earshot: note: %s has no record of the settings its outputs were made with (an earlier "
                            "earshot wrote them): --resume takes them as this run's\n", b.outdir);
        if (!b.quiet && cmp > 0 && has_names(b.outdir, 1))
            fprintf(stderr, "earshot: note: %s holds outputs made with other settings (%s); this run replaces those of "
                            "its own inputs only (a later --resume redoes the others)\n", b.outdir, why);
    }
    for (size_t i = 0; i < nin; i++) {
        if ((long)(i % (size_t)shard_n) != shard_k - 1) continue;
        int done = b.resume ? outputs_exist(&b, &b.in[i]) : 0;
        if (done > 0) { b.nskip++; continue; }
        if (done < 0) b.nolder++;
        if (b.resume) remove_stale_temps(&b, &b.in[i]);
        b.todo[b.ntodo++] = i;
    }

    if (b.nolder && !b.quiet)
        fprintf(stderr, "earshot: note: --resume: %zu input%s outputs older than %s's record of these settings "
                        "(another run's): redone\n", b.nolder, b.nolder == 1 ? " has" : "s have", b.outdir);
    int rc = EXIT_OK;
    es_engine *eng = es_engine_create(models_dir, &e);
    if (!eng) { cli_error(&e); rc = EXIT_FAIL; goto out; }
    b.eng = eng;
    if (spk_path) {
        /* a bad profile (corrupt, newer, another encoder) stops the run
         * before any file is read; the messages name the file */
        if (!(b.spk = es_speakers_load(spk_path, eng, &e))) { fprintf(stderr, "earshot: --speakers: %s\n", e.msg); rc = EXIT_FAIL; goto out; }
        /* The scoring projection is fitted lazily on the first score; fit
         * it here, once, so the workers share a read-only set. */
        float zero[ES_SPK_DIM] = {0};
        if (es_speakers_score(b.spk, zero, NULL, NULL, NULL, &e)) {
            fprintf(stderr, "earshot: --speakers %s: %s\n", spk_path, e.msg);
            rc = EXIT_FAIL;
            goto out;
        }
    }
    {
        /* check the models (and say so once) before starting workers */
        es_detector *d = make_detector(&b, &e);
        if (!d) { cli_error(&e); rc = EXIT_FAIL; goto out; }
        size_t off = 0;
        for (size_t i = 0; i < es_detector_models(d); i++)
            off += (size_t)snprintf(b.model_name + off, off < sizeof b.model_name ? sizeof b.model_name - off : 0, "%s%s",
                                    i ? "+" : "", es_detector_model_name(d, i));
        if (!b.quiet && es_detector_warning(d)) fprintf(stderr, "earshot: note: %s\n", es_detector_warning(d));
        es_detector_free(d);
    }
    b.settings = settings;
    if (jobs <= 0) jobs = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    if ((size_t)jobs > b.ntodo) jobs = b.ntodo ? (long)b.ntodo : 1;
    /* one file per thread: the library's own threads would only compete */
    es_set_threads(1);
    b.progress = !b.quiet && isatty(2);
    pthread_mutex_init(&b.lock, NULL);
    pthread_mutex_init(&b.record_lock, NULL);
    b.t0 = now_s();
    cli_catch_stop(on_interrupt, (const int[]){SIGINT, SIGTERM, SIGHUP}, 3, 0);
    /* every output's folder synced once at the end, not after each of
     * thousands of renames (status.c: the folder's record of a rename) */
    es_dirsync_defer_begin();
    pthread_t th[256];
    long started = 0;
    for (long i = 0; i < jobs; i++) {
        if (pthread_create(&th[i], NULL, worker, &b)) break;
        started++;
    }
    if (!started) worker(&b);
    for (long i = 0; i < started; i++) pthread_join(th[i], NULL);
    es_dirsync_defer_end();
    show_progress(&b, 1);
    pthread_mutex_destroy(&b.lock);
    pthread_mutex_destroy(&b.record_lock);
    if (!b.setup_ok) { cli_error(&b.setup_err); rc = EXIT_FAIL; goto out; }
    if (b.setup_failed && !b.quiet)
        fprintf(stderr, "earshot: note: %d of %ld parallel jobs could not start (%s); the other %d did the files\n",
                b.setup_failed, started ? started : 1, b.setup_err.msg, b.setup_ok);
    double el = now_s() - b.t0;
    if (!b.quiet) {
        size_t nf = b.nok + b.nfail + b.nbad;
        fprintf(stderr, "earshot: %zu file%s (%.3f h of audio), %zu event%s, %zu failed in %.1f s", nf, nf == 1 ? "" : "s",
                b.audio_s / 3600, b.nev, b.nev == 1 ? "" : "s", b.nfail + b.nbad, el);
        /* no speed when no audio was read: "0x real time" says nothing */
        if (el > 0 && b.audio_s > 0) fprintf(stderr, " (%.0fx real time)", b.audio_s / el);
        fputc('\n', stderr);
    }
    if (b.nfail || b.nbad) rc = EXIT_FAIL;
    if (interrupted) {
        if (!b.quiet)
            fprintf(stderr, "earshot: interrupted: %zu of %zu files not started%s\n", b.ntodo - b.next, b.ntodo,
                    b.outdir ? "; run again with --resume to finish" : "");
        rc = 128 + interrupted;   /* as a shell reports a signal */
    }
out:
    if (!b.quiet && b.nskip) fprintf(stderr, "earshot: %zu files skipped (--resume: outputs complete)\n", b.nskip);
    for (size_t i = 0; i < b.ntodo; i++) free(b.printed[i]);
    free(b.printed);
    free(b.done);
    free(b.todo);
    es_tx_inputs_free(b.in, nin);
    es_speakers_free(b.spk);
    es_engine_free(eng);
    cJSON_Delete(settings);
    return rc;
}
