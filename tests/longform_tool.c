/*
 * tests/longform_tool.c — builds the long-form test set and scores
 * transcripts against it (used by test_longform.sh and bench/).
 *
 *   longform_tool make FSDD WORDS OUT [--files N] [--seconds S] [--takes K] [--seed N] [--one-voice]
 *     OUT/train/<digit>/...   FSDD digits of the training speakers (george,
 *                             jackson, lucas, nicolas), takes 0..K-1, each
 *                             centred in 2 s of background noise
 *     OUT/train/_unknown_/    WORDS/train/ (other speech, .wav) in noise
 *     OUT/train/_background_noise_/  40 x 2 s of the noise alone, from
 *                             which train makes its _silence_ class (a
 *                             folder named _silence_ is refused: train
 *                             makes that class itself)
 *     OUT/long/long_I.wav     S seconds: noise throughout, digits of the
 *                             held-out speakers (theo, yweweler) and other
 *                             words (WORDS/test/, never in training)
 *                             at known times, 1.0-2.5 s apart
 *     OUT/long/long_I.tsv     truth: label, start, end (s) of each digit
 *                             (and of the other words, as #NAME);
 *                             --one-voice: file I's digits are all theo's
 *                             (I even) or yweweler's (I odd), a session of
 *                             one voice; the same draws otherwise (the
 *                             same digits and words in the same order, at
 *                             times that move with the clips' lengths)
 *   longform_tool latency MODEL DIR [--threshold T] [--smooth N] [--min-duration S] [--late]
 *     runs the detector (early mode unless --late) over DIR/long_*.wav in
 *     80 ms pushes, as a live listener would, and reports how long after
 *     the end of each correctly detected digit its event was reported
 *     (audio time pushed when the callback ran, minus the truth's end)
 *   longform_tool score TRUTH_DIR JSONL [--min-f1 X] [--max-start-err S]
 *     event precision/recall/F1 (an event counts if its label matches an
 *     unmatched truth whose centre is within 0.5 s of the event's centre)
 *     and the mean absolute start error of the matched events; exits 1
 *     when a bound is given and missed.
 *
 * The noise is pink-ish (white noise through a one-pole low-pass plus a
 * little white), at a level drawn per file / clip; digits get a random
 * gain. Every random choice comes from one seeded es_rng.
 */
#include "earshot.h"
#include "../model/nn.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SR ES_SAMPLE_RATE

static es_rng rng;

static float uni(float a, float b) { return a + (b - a) * es_rng_uniform(&rng); }

static void die(const char *fmt, const char *a)
{
    fprintf(stderr, "longform_tool: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n");
    exit(2);
}

static void mkdirs(const char *p)
{
    char b[4096];
    snprintf(b, sizeof b, "%s", p);
    for (char *s = b + 1; *s; s++)
        if (*s == '/') { *s = 0; mkdir(b, 0777); *s = '/'; }
    mkdir(b, 0777);
}

static void write_wav(const char *path, const float *x, size_t n)
{
    SF_INFO info = {.samplerate = SR, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f) die("cannot write %s", path);
    short *s = malloc((n + 1) * sizeof(short));
    for (size_t i = 0; i < n; i++) {
        float v = x[i] > 32767 ? 32767 : x[i] < -32768 ? -32768 : x[i];
        s[i] = (short)lrintf(v);
    }
    sf_write_short(f, s, (sf_count_t)n);
    sf_close(f);
    free(s);
}

typedef struct { float *x; size_t n; } clip;

static clip load(const char *path)
{
    es_audio a;
    es_error e = {0};
    es_load_opts o = {1};
    if (es_audio_load(path, &o, &a, &e)) die("%s", e.msg);
    /* normalise to a peak of 1: the caller chooses the level */
    float pk = 1e-3f;
    for (size_t i = 0; i < a.n; i++) pk = fmaxf(pk, fabsf(a.samples[i]));
    for (size_t i = 0; i < a.n; i++) a.samples[i] /= pk;
    return (clip){a.samples, a.n};
}

/* noise at RMS about `level` (int16 units) */
static void noise(float *x, size_t n, float level)
{
    float lp = 0;
    for (size_t i = 0; i < n; i++) {
        float w = 2 * es_rng_uniform(&rng) - 1;
        lp = 0.97f * lp + 0.03f * w;
        x[i] += level * (6.0f * lp + 0.3f * w) * 1.7f;
    }
}

static void add(float *x, size_t n, size_t at, const clip *c, float gain)
{
    for (size_t i = 0; i < c->n && at + i < n; i++) x[at + i] += gain * c->x[i];
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* sorted .wav paths in dir */
static char **list_wavs(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **v = NULL;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".wav")) continue;
        if (*n == cap) { cap = cap ? 2 * cap : 64; v = realloc(v, cap * sizeof *v); }
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        v[(*n)++] = strdup(p);
    }
    closedir(d);
    if (*n) qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static const char *TRAIN_SPK[] = {"george", "jackson", "lucas", "nicolas"};
static const char *TEST_SPK[] = {"theo", "yweweler"};

/* a 2 s training clip: the clip centred in noise */
static void train_clip(const char *path, const clip *c, int with_speech)
{
    size_t n = 2 * SR;
    float *x = calloc(n, sizeof(float));
    float level = uni(0, 1) < 0.15f ? 0 : uni(20, 400);
    noise(x, n, level);
    if (with_speech) {
        size_t len = c->n < n ? c->n : n;
        add(x, n, (n - len) / 2, c, uni(3000, 20000));
    }
    write_wav(path, x, n);
    free(x);
}

static int make(int argc, char **argv)
{
    if (argc < 5) die("%s", "usage: make FSDD WORDS OUT [--files N] [--seconds S] [--takes K] [--seed N] [--one-voice]");
    const char *fsdd = argv[2], *words = argv[3], *out = argv[4];
    int files = 4, takes = 15;
    double seconds = 60;
    unsigned long long seed = 1;
    int one_voice = 0;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--one-voice")) { one_voice = 1; continue; }
        if (i + 1 >= argc) die("%s needs a value", argv[i]);
        if (!strcmp(argv[i], "--files")) files = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--takes")) takes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else die("unknown option %s", argv[i]);
        i++;
    }
    es_rng_seed(&rng, seed);
    char p[2048], q[4200];
    /* training set */
    for (int dgt = 0; dgt < 10 && takes > 0; dgt++) {
        snprintf(p, sizeof p, "%s/train/%d", out, dgt);
        mkdirs(p);
        for (int s = 0; s < 4; s++)
            for (int t = 0; t < takes; t++) {
                snprintf(q, sizeof q, "%s/%d_%s_%d.wav", fsdd, dgt, TRAIN_SPK[s], t);
                clip c = load(q);
                snprintf(q, sizeof q, "%s/%s_%d.wav", p, TRAIN_SPK[s], t);
                train_clip(q, &c, 1);
                free(c.x);
            }
    }
    size_t nw_train = 0, nw_test = 0;
    snprintf(p, sizeof p, "%s/train", words);
    char **wtrain = list_wavs(p, &nw_train);
    snprintf(p, sizeof p, "%s/test", words);
    char **wtest = list_wavs(p, &nw_test);
    if (takes > 0) {
        snprintf(p, sizeof p, "%s/train/_unknown_", out);
        mkdirs(p);
        for (size_t i = 0; i < nw_train; i++) {
            clip c = load(wtrain[i]);
            snprintf(q, sizeof q, "%s/w%03zu.wav", p, i);
            train_clip(q, &c, 1);
            free(c.x);
        }
        snprintf(p, sizeof p, "%s/train/_background_noise_", out);
        mkdirs(p);
        for (int i = 0; i < 40; i++) {
            snprintf(q, sizeof q, "%s/n%03d.wav", p, i);
            train_clip(q, NULL, 0);
        }
    }
    /* long files */
    snprintf(p, sizeof p, "%s/long", out);
    mkdirs(p);
    size_t n = (size_t)(seconds * SR);
    float *x = malloc(n * sizeof(float));
    for (int f = 0; f < files; f++) {
        memset(x, 0, n * sizeof(float));
        noise(x, n, uni(30, 300));
        snprintf(q, sizeof q, "%s/long_%d.tsv", p, f);
        FILE *tsv = fopen(q, "w");
        if (!tsv) die("cannot write %s", q);
        double t = uni(0.3f, 1.5f);
        for (;;) {
            int word = nw_test && uni(0, 1) < 0.25f;
            if (word) {
                size_t wi = (size_t)es_rng_below(&rng, nw_test);
                clip c = load(wtest[wi]);
                size_t at = (size_t)(t * SR);
                if (at + c.n >= n) { free(c.x); break; }
                add(x, n, at, &c, uni(3000, 20000));
                /* not a keyword: recorded for diagnosis, never matched */
                const char *wb = strrchr(wtest[wi], '/');
                fprintf(tsv, "#%s\t%.3f\t%.3f\n", wb ? wb + 1 : wtest[wi], (double)at / SR, (double)(at + c.n) / SR);
                t += (double)c.n / SR;
                free(c.x);
            } else {
                int dgt = (int)es_rng_below(&rng, 10), spk = (int)es_rng_below(&rng, 2), take = (int)es_rng_below(&rng, 50);
                if (one_voice) spk = (int)(f % 2);   /* drawn all the same: the other draws do not move */
                snprintf(q, sizeof q, "%s/%d_%s_%d.wav", fsdd, dgt, TEST_SPK[spk], take);
                clip c = load(q);
                size_t at = (size_t)(t * SR);
                if (at + c.n >= n) { free(c.x); break; }
                add(x, n, at, &c, uni(3000, 20000));
                fprintf(tsv, "%d\t%.3f\t%.3f\n", dgt, (double)at / SR, (double)(at + c.n) / SR);
                t += (double)c.n / SR;
                free(c.x);
            }
            t += uni(1.0f, 2.5f);
        }
        fclose(tsv);
        snprintf(q, sizeof q, "%s/long_%d.wav", p, f);
        write_wav(q, x, n);
    }
    free(x);
    for (size_t i = 0; i < nw_train; i++) free(wtrain[i]);
    for (size_t i = 0; i < nw_test; i++) free(wtest[i]);
    free(wtrain);
    free(wtest);
    return 0;
}

typedef struct { char label[64]; double start, end; int used; } truth;

static int score(int argc, char **argv)
{
    if (argc < 4) die("%s", "usage: score TRUTH_DIR JSONL [--min-f1 X] [--max-start-err S]");
    double min_f1 = -1, max_err = -1;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--min-f1")) min_f1 = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-start-err")) max_err = atof(argv[i + 1]);
    }
    FILE *j = fopen(argv[3], "r");
    if (!j) die("cannot read %s", argv[3]);
    size_t tp = 0, fp = 0, fn = 0, files = 0;
    double err_sum = 0, end_err = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, j) > 0) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *file = cJSON_GetObjectItem(o, "file"), *ev = cJSON_GetObjectItem(o, "events");
        if (!cJSON_IsString(file) || !cJSON_IsArray(ev)) die("bad JSON line: %s", line);
        /* truth: long_I.tsv next to the long_I.wav in TRUTH_DIR */
        const char *b = strrchr(file->valuestring, '/');
        b = b ? b + 1 : file->valuestring;
        char q[4096];
        snprintf(q, sizeof q, "%s/%.*s.tsv", argv[2], (int)(strlen(b) - 4), b);
        FILE *tf = fopen(q, "r");
        if (!tf) die("no truth %s", q);
        truth tr[1024];
        size_t nt = 0;
        while (nt < 1024 && fscanf(tf, "%63s %lf %lf", tr[nt].label, &tr[nt].start, &tr[nt].end) == 3)
            if (tr[nt].label[0] != '#') tr[nt++].used = 0;   /* '#': other speech, not a keyword */
        fclose(tf);
        files++;
        /* greedy by score: the most confident events claim their truth first */
        int ne = cJSON_GetArraySize(ev);
        int *ord = malloc((size_t)(ne + 1) * sizeof(int));
        for (int i = 0; i < ne; i++) ord[i] = i;
        for (int a = 0; a < ne; a++)
            for (int c = a + 1; c < ne; c++)
                if (cJSON_GetObjectItem(cJSON_GetArrayItem(ev, ord[c]), "score")->valuedouble >
                    cJSON_GetObjectItem(cJSON_GetArrayItem(ev, ord[a]), "score")->valuedouble) {
                    int t = ord[a]; ord[a] = ord[c]; ord[c] = t;
                }
        for (int a = 0; a < ne; a++) {
            const cJSON *e = cJSON_GetArrayItem(ev, ord[a]);
            const char *lab = cJSON_GetObjectItem(e, "label")->valuestring;
            double s = cJSON_GetObjectItem(e, "start")->valuedouble, en = cJSON_GetObjectItem(e, "end")->valuedouble;
            double c = (s + en) / 2;
            int best = -1;
            for (size_t k = 0; k < nt; k++) {
                if (tr[k].used || strcmp(tr[k].label, lab)) continue;
                double d = fabs((tr[k].start + tr[k].end) / 2 - c);
                if (d <= 0.5 && (best < 0 || d < fabs((tr[best].start + tr[best].end) / 2 - c))) best = (int)k;
            }
            if (best < 0) { fp++; continue; }
            tr[best].used = 1;
            tp++;
            err_sum += fabs(s - tr[best].start);
            end_err += fabs(en - tr[best].end);
        }
        for (size_t k = 0; k < nt; k++) fn += !tr[k].used;
        free(ord);
        cJSON_Delete(o);
    }
    free(line);
    fclose(j);
    double P = tp + fp ? (double)tp / (double)(tp + fp) : 0, R = tp + fn ? (double)tp / (double)(tp + fn) : 0;
    double F = P + R > 0 ? 2 * P * R / (P + R) : 0, E = tp ? err_sum / (double)tp : NAN;
    printf("files %zu truth %zu events %zu tp %zu fp %zu fn %zu precision %.4f recall %.4f f1 %.4f "
           "start_err_ms %.1f end_err_ms %.1f\n",
           files, tp + fn, tp + fp, tp, fp, fn, P, R, F, E * 1000, tp ? end_err / (double)tp * 1000 : NAN);
    int okk = files > 0 && tp + fn > 0;
    if (min_f1 >= 0 && !(F >= min_f1)) okk = 0;
    if (max_err >= 0 && !(E <= max_err)) okk = 0;
    return okk ? 0 : 1;
}

typedef struct {
    truth *tr;
    size_t nt;
    es_detector *d;
    double *lat;
    size_t nlat, nev;
} lat_ctx;

static void on_live_event(void *user, const es_event *ev)
{
    lat_ctx *c = user;
    c->nev++;
    double centre = (ev->start + ev->end) / 2, now = es_detector_time(c->d);
    for (size_t k = 0; k < c->nt; k++) {
        truth *t = &c->tr[k];
        if (t->used || strcmp(t->label, ev->label) || fabs((t->start + t->end) / 2 - centre) > 0.5) continue;
        t->used = 1;
        c->lat[c->nlat++] = now - t->end;
        return;
    }
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int latency(int argc, char **argv)
{
    if (argc < 4) die("%s", "usage: latency MODEL DIR [--threshold T] [--smooth N] [--min-duration S] [--late]");
    es_detector_opts o;
    es_detector_opts_default(&o);
    o.early = 1;
    double thr = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--late")) o.early = 0;
        else if (!strcmp(argv[i], "--threshold") && i + 1 < argc) thr = atof(argv[++i]);
        else if (!strcmp(argv[i], "--smooth") && i + 1 < argc) o.smooth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-duration") && i + 1 < argc) o.min_duration = atof(argv[++i]);
    }
    es_error e = {0};
    es_engine *eng = es_engine_create(NULL, &e);
    if (!eng) die("%s", e.msg);
    const char *m[] = {argv[2]};
    es_detector *d = es_detector_create(eng, m, 1, &o, &e);
    if (!d || (thr > 0 && es_detector_set_threshold(d, NULL, thr, &e))) die("%s", e.msg);
    double lat[4096];
    lat_ctx c = {NULL, 0, d, lat, 0, 0};
    size_t ntruth = 0;
    for (int f = 0;; f++) {
        char q[4096];
        snprintf(q, sizeof q, "%s/long_%d.tsv", argv[3], f);
        FILE *tf = fopen(q, "r");
        if (!tf) break;
        truth tr[1024];
        size_t nt = 0;
        while (nt < 1024 && fscanf(tf, "%63s %lf %lf", tr[nt].label, &tr[nt].start, &tr[nt].end) == 3)
            if (tr[nt].label[0] != '#') tr[nt++].used = 0;
        fclose(tf);
        ntruth += nt;
        snprintf(q, sizeof q, "%s/long_%d.wav", argv[3], f);
        es_audio a;
        es_load_opts lo = {1};
        if (es_audio_load(q, &lo, &a, &e)) die("%s", e.msg);
        c.tr = tr;
        c.nt = nt;
        for (size_t i = 0; i < a.n && c.nlat < 4000; i += ES_CHUNK)
            if (es_detector_push(d, a.samples + i, a.n - i < ES_CHUNK ? a.n - i : ES_CHUNK, on_live_event, &c, &e)) die("%s", e.msg);
        if (es_detector_flush(d, on_live_event, &c, &e)) die("%s", e.msg);
        es_audio_free(&a);
    }
    if (!c.nlat) die("%s", "no detection");
    qsort(lat, c.nlat, sizeof(double), cmp_dbl);
    double sum = 0;
    for (size_t i = 0; i < c.nlat; i++) sum += lat[i];
    printf("%s mode: %zu of %zu digits detected (%zu events); latency after the word's end: mean %.0f ms, median %.0f ms, "
           "90th percentile %.0f ms, max %.0f ms\n",
           o.early ? "early" : "default", c.nlat, ntruth, c.nev, sum / (double)c.nlat * 1000, lat[c.nlat / 2] * 1000,
           lat[c.nlat * 9 / 10] * 1000, lat[c.nlat - 1] * 1000);
    es_detector_free(d);
    es_engine_free(eng);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "latency")) return latency(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "make")) return make(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "score")) return score(argc, argv);
    fprintf(stderr, "usage: longform_tool make|score ...\n");
    return 2;
}
