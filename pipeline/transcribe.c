/*
 * pipeline/transcribe.c — batch transcription pieces (see transcribe.h):
 * input expansion, one file through the detector, output formats.
 */
#include "transcribe.h"
#include "plot.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ formats */

static const char *NAMES[ES_TX_NFORMATS] = {"txt", "json", "csv", "srt", "vtt", "svg"};

int es_tx_format_parse(const char *name)
{
    if (!name) return 0;
    for (int i = 0; i < ES_TX_NFORMATS; i++)
        if (!es_ascii_casecmp(name, NAMES[i])) return 1 << i;
    if (!es_ascii_casecmp(name, "webvtt")) return ES_TX_VTT;
    return 0;
}

const char *es_tx_format_ext(int f)
{
    for (int i = 0; i < ES_TX_NFORMATS; i++)
        if (f == 1 << i) return NAMES[i];
    return NULL;
}

void es_tx_track_free(es_tx_track *k)
{
    if (!k) return;
    free(k->slot); free(k->label); free(k->thr); free(k->v); free(k->t); free(k->cur);
    free(k);
}

void es_transcript_free(es_transcript *t)
{
    if (!t) return;
    free(t->ev);
    es_tx_track_free(t->track);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------ score track */

es_tx_track *es_tx_track_new(const es_detector *d)
{
    es_tx_track *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    size_t n = es_detector_labels(d);
    k->slot = malloc((n + 1) * sizeof *k->slot);
    k->label = malloc((n + 1) * sizeof *k->label);
    k->thr = malloc((n + 1) * sizeof *k->thr);
    if (!k->slot || !k->label || !k->thr) { es_tx_track_free(k); return NULL; }
    for (size_t i = 0; i < n; i++) {
        if (!es_detector_reported(d, i)) continue;   /* _unknown_, _silence_, _other_ */
        k->slot[k->nl] = i;
        k->label[k->nl] = es_detector_label(d, i);
        k->thr[k->nl++] = es_detector_threshold(d, i);
    }
    k->v = malloc((size_t)ES_TX_TRACK_BINS * (k->nl + 1) * sizeof *k->v);
    k->t = malloc(ES_TX_TRACK_BINS * sizeof *k->t);
    k->cur = calloc(k->nl + 1, sizeof *k->cur);
    if (!k->v || !k->t || !k->cur) { es_tx_track_free(k); return NULL; }
    k->per = 1;
    return k;
}

/* close the bin being filled (however many steps it has) */
void es_tx_track_close(es_tx_track *k)
{
    if (!k->incur) return;
    if (k->nbins == ES_TX_TRACK_BINS) {
        /* full: pairs merge, each bin now covers twice the steps */
        for (size_t b = 0; b < ES_TX_TRACK_BINS / 2; b++) {
            for (size_t j = 0; j < k->nl; j++)
                k->v[b * k->nl + j] = fmaxf(k->v[2 * b * k->nl + j], k->v[(2 * b + 1) * k->nl + j]);
            k->t[b] = k->t[2 * b];
        }
        k->nbins = ES_TX_TRACK_BINS / 2;
        k->per *= 2;
    }
    memcpy(k->v + k->nbins * k->nl, k->cur, k->nl * sizeof *k->v);
    k->t[k->nbins++] = k->cur_t;
    k->incur = 0;
}

void es_tx_track_push(void *user, double t, const float *row, size_t n)
{
    es_tx_track *k = user;
    (void)n;
    if (k->incur == 0) {
        k->cur_t = t;
        for (size_t j = 0; j < k->nl; j++) k->cur[j] = row[k->slot[j]];
    } else {
        for (size_t j = 0; j < k->nl; j++) k->cur[j] = fmaxf(k->cur[j], row[k->slot[j]]);
    }
    if (++k->incur >= k->per) es_tx_track_close(k);
}

/* ------------------------------------------------------------ speakers */

const char *es_tx_speaker_name(const es_speakers *s, int k)
{
    return s && k >= 0 && (size_t)k < es_speakers_count(s) ? es_speakers_name(s, (size_t)k) : "unknown";
}

es_status es_tx_history_init(es_tx_history *h, double seconds, es_error *err)
{
    memset(h, 0, sizeof *h);
    h->cap = (size_t)(seconds * ES_SAMPLE_RATE);
    if (!h->cap || !(h->x = calloc(h->cap, sizeof(float)))) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    return ES_OK;
}

void es_tx_history_free(es_tx_history *h)
{
    if (!h) return;
    free(h->x);
    memset(h, 0, sizeof *h);
}

void es_tx_history_push(es_tx_history *h, const float *x, size_t n)
{
    if (!h->x) return;
    /* only the last cap samples of a long push can be kept */
    size_t skip = n > h->cap ? n - h->cap : 0;
    for (size_t i = skip; i < n; i++) h->x[(h->pushed + i) % h->cap] = x[i];
    h->pushed += n;
}

size_t es_tx_history_cut(const es_tx_history *h, double t0, double t1, float **out)
{
    *out = NULL;
    if (!h->x) return 0;
    unsigned long long have_from = h->pushed > h->cap ? h->pushed - h->cap : 0;
    double a = t0 * ES_SAMPLE_RATE, b = t1 * ES_SAMPLE_RATE;
    unsigned long long s0 = a <= (double)have_from ? have_from : (unsigned long long)a;
    unsigned long long s1 = b >= (double)h->pushed ? h->pushed : (unsigned long long)b;
    if (s1 <= s0) return 0;
    size_t n = (size_t)(s1 - s0);
    float *x = malloc(n * sizeof(float));
    if (!x) return 0;
    for (size_t i = 0; i < n; i++) x[i] = h->x[(s0 + i) % h->cap];
    *out = x;
    return n;
}

es_status es_tx_identify(es_speakers *spk, es_engine *eng, const es_tx_history *h, double start, double end,
                         int *best, float *score, es_error *err)
{
    *best = -1;
    *score = 0;
    float *x = NULL;
    size_t n = es_tx_history_cut(h, start - ES_TX_SPK_PAD, end + ES_TX_SPK_PAD, &x);
    /* gone from the history, too short or too quiet to say (a model may
     * fire on silence): unknown, not an error */
    if (!n || n < ES_SAMPLE_RATE / 10 || !(es_audio_peak_dbfs(x, n) >= ES_SILENT_DBFS)) { free(x); return ES_OK; }
    es_status st = es_speaker_identify(spk, eng, x, n, best, score, err);
    free(x);
    return st;
}

/* ------------------------------------------------------------ run */

typedef struct {
    es_transcript *t;
    int nomem;
    es_speakers *spk;
    es_engine *eng;
    es_tx_history *hist;
    es_status st;        /* first identification failure */
    es_error err;
    size_t done;         /* events [0, done) have their speaker */
} run_ctx;

es_status es_tx_add(es_transcript *t, const char *label, double start, double end, float score, int speaker,
                    float speaker_score, es_error *err)
{
    if (t->nev == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 16;
        es_tx_event *ne = realloc(t->ev, nc * sizeof *ne);
        if (!ne) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        t->ev = ne;
        t->cap = nc;
    }
    t->ev[t->nev++] = (es_tx_event){label, start, end, score, speaker, speaker_score};
    return ES_OK;
}

static void on_event(void *user, const es_event *ev)
{
    run_ctx *c = user;
    if (es_tx_add(c->t, ev->label, ev->start, ev->end, ev->score, -1, 0, NULL)) c->nomem = 1;
}

/* Identify the events [done, nev) whose padded audio has all arrived
 * (all: every one, at the end of the stream). An event can be reported
 * before the audio just after it has been read (early decisions, a read
 * block ending there), so waiting for it makes the speaker independent of
 * block sizes: listen and transcribe agree. */
static void identify_ready(run_ctx *c, int all)
{
    es_transcript *t = c->t;
    while (c->spk && !c->st && c->done < t->nev) {
        es_tx_event *te = &t->ev[c->done];
        if (!all && (double)c->hist->pushed < (te->end + ES_TX_SPK_PAD) * ES_SAMPLE_RATE) break;
        c->st = es_tx_identify(c->spk, c->eng, c->hist, te->start, te->end, &te->speaker, &te->speaker_score, &c->err);
        c->done++;
    }
}

static int cmp_ev(const void *a, const void *b)
{
    const es_tx_event *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return strcmp(x->label, y->label);
}

#define READ_BLOCK 16384
/* Seconds of audio kept for identification (only with speakers): an
 * event is reported about one window (~2 s) plus one encoder block after
 * its end, and --block goes up to 256 x 80 ms = 20.5 s. 30 s (1.9 MB per
 * worker) covers that with room for a long word; an event whose audio is
 * gone anyway comes out as "unknown". */
#define SPK_HISTORY_S 30.0

es_status es_tx_run(es_detector *d, es_reader *r, const char *file, es_speakers *spk, es_engine *eng,
                    es_transcript *t, es_error *err)
{
    return es_tx_run_track(d, r, file, spk, eng, 0, t, err);
}

es_status es_tx_run_track(es_detector *d, es_reader *r, const char *file, es_speakers *spk, es_engine *eng,
                          int track, es_transcript *t, es_error *err)
{
    memset(t, 0, sizeof *t);
    t->file = file;
    if (!d || !r || (spk && !eng)) return es_fail(err, ES_ERR_ARG, "es_tx_run: invalid arguments");
    t->speakers = spk;
    if (track) {
        if (!(t->track = es_tx_track_new(d))) return es_fail(err, ES_ERR_NOMEM, "%s: out of memory", file);
        es_detector_set_score_fn(d, es_tx_track_push, t->track);
    }
    es_detector_reset(d);
    es_tx_history hist = {0};
    float *blk = NULL;
    es_status st;
    if (spk && (st = es_tx_history_init(&hist, SPK_HISTORY_S, err))) goto fail;
    if (!(blk = malloc(READ_BLOCK * sizeof(float)))) { st = es_fail(err, ES_ERR_NOMEM, "%s: out of memory", file); goto fail; }
    run_ctx c = {t, 0, spk, eng, &hist, ES_OK, {0}, 0};
    size_t got = 0;
    /* block by block: memory stays the same whatever the length; the
     * history gets a block before the detector, whose events it serves */
    while (!(st = es_reader_read(r, blk, READ_BLOCK, &got, err)) && got > 0) {
        es_tx_history_push(&hist, blk, got);
        if ((st = es_detector_push(d, blk, got, on_event, &c, err))) break;
        identify_ready(&c, 0);
        if (c.st) break;
    }
    free(blk);
    t->duration = es_detector_time(d);
    if (!st && !c.st) st = es_detector_flush(d, on_event, &c, err);
    else es_detector_reset(d);
    if (!st) identify_ready(&c, 1);
    es_tx_history_free(&hist);
    if (!st && c.st) st = es_fail(err, c.st, "%s: speaker identification: %s", file, c.err.msg);
    if (!st && c.nomem) st = es_fail(err, ES_ERR_NOMEM, "%s: out of memory", file);
    if (t->track) {
        es_detector_set_score_fn(d, NULL, NULL);
        es_tx_track_close(t->track);
    }
    if (st) { es_transcript_free(t); return st; }
    if (t->nev) qsort(t->ev, t->nev, sizeof *t->ev, cmp_ev);
    return ES_OK;
fail:
    if (t->track) es_detector_set_score_fn(d, NULL, NULL);
    es_tx_history_free(&hist);
    es_transcript_free(t);
    return st;
}

/* ------------------------------------------------------------ render */

typedef struct {
    char *s;
    size_t n, cap;
    int fail;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) ES_PRINTF(2, 3);
static void put(sbuf *b, const char *fmt, ...)
{
    if (b->fail) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->fail = 1; return; }
        if (b->s && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        size_t nc = (b->cap ? b->cap * 2 : 256) + (size_t)k;
        char *ns = realloc(b->s, nc);
        if (!ns) { b->fail = 1; return; }
        b->s = ns;
        b->cap = nc;
    }
}

static void put_json_str(sbuf *b, const char *s)
{
    char *q = es_json_quote(s);
    if (!q) b->fail = 1;
    else put(b, "%s", q);
    free(q);
}

/* RFC 4180: quote when needed, double the quotes. */
static void put_csv_str(sbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) { put(b, "%s", s); return; }
    put(b, "\"");
    for (; *s; s++) put(b, *s == '"' ? "\"\"" : "%c", *s);
    put(b, "\"");
}

/* hh:mm:ss,mmm (SRT) or hh:mm:ss.mmm (WebVTT) */
static void put_ts(sbuf *b, double t, char sep)
{
    if (t < 0) t = 0;
    /* rounded as the JSON's "%.3f" rounds (from the decimal expansion):
     * t * 1000 + 0.5 rounded 0.3615 up where printf rounds it down */
    char dec[48];
    long long whole = 0, frac = 0;
    snprintf(dec, sizeof dec, "%.3f", t);
    if (sscanf(dec, "%lld.%lld", &whole, &frac) != 2) whole = frac = 0;
    long long ms = whole * 1000 + frac;
    put(b, "%02lld:%02lld:%02lld%c%03lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, sep, ms % 1000);
}

/* WebVTT cue text: &, < and > are markup */
static void put_vtt_str(sbuf *b, const char *s)
{
    for (; *s; s++) put(b, "%s", *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : (char[2]){*s, 0});
}

/* The score track as a chart: each word's score over the file, the
 * thresholds dashed, the events shaded with their label (and speaker). */
static es_status render_svg(const es_transcript *t, char **out, size_t *len, es_error *err)
{
    const es_tx_track *k = t->track;
    if (!k) return es_fail(err, ES_ERR_ARG, "%s: no score track to draw (es_tx_run_track)", t->file);
    const char *base = strrchr(t->file, '/');
    char title[512], sub[512];
    snprintf(title, sizeof title, "%s", base ? base + 1 : t->file);
    es_plot *p = es_plot_create(title, "time (s)", "score");
    if (!p) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_plot_xrange(p, 0, t->duration > 0 ? t->duration : 1);
    /* 50 px a second (a word is ~25 px wide) up to 32,000 px (10 min);
     * a browser scrolls a wide chart, and longer files lose time
     * resolution, not events */
    es_plot_size(p, (int)fmin(32000, fmax(760, 50 * t->duration + 270)), 460);
    es_plot_yrange(p, 0, 1);
    es_plot_markers(p, 0);   /* a track is a line, however short the file */
    es_status st = ES_OK;
    double *x = malloc((k->nbins + 1) * sizeof *x), *y = malloc((k->nbins + 1) * sizeof *y);
    if (!x || !y) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
    /* a bin's point sits at the middle of its steps */
    for (size_t b = 0; !st && b < k->nbins; b++) x[b] = k->t[b] + 0.04 * (double)(k->per - 1);
    /* the words, at most as many as a chart keeps apart: the ones whose
     * peak comes closest to their threshold, in label order */
    size_t nd = k->nl < ES_PLOT_MAX_SERIES - 2 ? k->nl : ES_PLOT_MAX_SERIES - 2;
    size_t order[ES_PLOT_MAX_SERIES];
    double *rel = malloc((k->nl + 1) * sizeof *rel);
    unsigned char *pick = calloc(k->nl + 1, 1);
    if (!st && (!rel || !pick)) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
    for (size_t j = 0; !st && j < k->nl; j++) {
        float peak = 0;
        for (size_t b = 0; b < k->nbins; b++) peak = fmaxf(peak, k->v[b * k->nl + j]);
        rel[j] = peak / (k->thr[j] > 0 ? k->thr[j] : 0.5);
    }
    for (size_t i = 0; !st && i < nd; i++) {
        size_t best = k->nl;
        for (size_t j = 0; j < k->nl; j++)
            if (!pick[j] && (best == k->nl || rel[j] > rel[best])) best = j;
        pick[best] = 1;
    }
    for (size_t j = 0, i = 0; !st && j < k->nl; j++)
        if (pick[j]) order[i++] = j;
    free(rel);
    free(pick);
    for (size_t i = 0; i < nd && !st; i++) {
        size_t j = order[i];
        for (size_t b = 0; b < k->nbins; b++) y[b] = k->v[b * k->nl + j];
        st = es_plot_series(p, k->label[j], x, y, NULL, NULL, k->nbins, NULL, 0, err);
    }
    /* the thresholds: one line per distinct value */
    for (size_t j = 0; j < k->nl && !st; j++) {
        int seen = 0;
        for (size_t q = 0; q < j; q++) seen |= k->thr[q] == k->thr[j];
        if (seen) continue;
        char name[64];
        snprintf(name, sizeof name, "threshold %.2f", k->thr[j]);
        st = es_plot_hline(p, k->thr[j], name, err);
        if (st == ES_ERR_ARG) st = ES_OK;   /* more thresholds than lines: the first ones */
    }
    for (size_t i = 0; i < t->nev && !st; i++) {
        char l[256];
        if (t->speakers)
            snprintf(l, sizeof l, "%s (%s)", t->ev[i].label, es_tx_speaker_name(t->speakers, t->ev[i].speaker));
        else
            snprintf(l, sizeof l, "%s", t->ev[i].label);
        st = es_plot_span(p, t->ev[i].start, t->ev[i].end, l, err);
    }
    if (!st) {
        int n = snprintf(sub, sizeof sub, "%s: smoothed scores at each window's end (they peak after the word); %zu event%s shaded",
                         t->model ? t->model : "model", t->nev, t->nev == 1 ? "" : "s");
        if (es_plot_spans_dropped(p) && n > 0 && (size_t)n < sizeof sub)
            snprintf(sub + n, sizeof sub - (size_t)n, " (the first %d)", ES_PLOT_MAX_SPANS);
        n = (int)strlen(sub);
        if (k->nl > nd && (size_t)n < sizeof sub)
            snprintf(sub + n, sizeof sub - (size_t)n, "; %zu of %zu words drawn", nd, k->nl);
        n = (int)strlen(sub);
        if (k->per > 1 && (size_t)n < sizeof sub)
            snprintf(sub + n, sizeof sub - (size_t)n, "; points: the highest of %.2f s", 0.08 * (double)k->per);
        es_plot_subtitle(p, sub);
        st = es_plot_svg(p, out, len, err);
    }
    free(x);
    free(y);
    es_plot_free(p);
    return st;
}

static es_status tx_render(const es_transcript *t, int format, char **out, size_t *len, es_error *err);

/* Times and scores in the C locale's notation whatever the program's
 * (es_c_locale_push): the formats are read by programs, and put_ts parses
 * "%.3f" back with sscanf("%lld.%lld"), which a decimal comma turned into
 * 00:00:00,000. */
es_status es_tx_render(const es_transcript *t, int format, char **out, size_t *len, es_error *err)
{
    locale_t was = es_c_locale_push();
    es_status st = tx_render(t, format, out, len, err);
    es_c_locale_pop(was);
    return st;
}

static es_status tx_render(const es_transcript *t, int format, char **out, size_t *len, es_error *err)
{
    *out = NULL;
    if (len) *len = 0;
    if (format == ES_TX_SVG) return render_svg(t, out, len, err);
    sbuf b = {0};
    const es_speakers *sp = t->speakers;
    switch (format) {
    case ES_TX_TXT:
        for (size_t i = 0; i < t->nev; i++) {
            put(&b, "%.2f\t%.2f\t%s\t%.3f", t->ev[i].start, t->ev[i].end, t->ev[i].label, t->ev[i].score);
            if (sp) put(&b, "\t%s\t%.3f", es_tx_speaker_name(sp, t->ev[i].speaker), t->ev[i].speaker_score);
            put(&b, "\n");
        }
        break;
    case ES_TX_JSON:
        put(&b, "{\"file\": ");
        put_json_str(&b, t->file);
        put(&b, ", \"duration\": %.3f, \"model\": ", t->duration);
        put_json_str(&b, t->model ? t->model : "");
        put(&b, ", \"events\": [");
        for (size_t i = 0; i < t->nev; i++) {
            put(&b, "%s{\"label\": ", i ? ", " : "");
            put_json_str(&b, t->ev[i].label);
            put(&b, ", \"start\": %.3f, \"end\": %.3f, \"score\": %.4f", t->ev[i].start, t->ev[i].end, t->ev[i].score);
            if (sp) {
                put(&b, ", \"speaker\": ");
                put_json_str(&b, es_tx_speaker_name(sp, t->ev[i].speaker));
                put(&b, ", \"speaker_score\": %.4f", t->ev[i].speaker_score);
            }
            put(&b, "}");
        }
        put(&b, "]}\n");
        break;
    case ES_TX_CSV:
        put(&b, "file,start,end,label,score%s\n", sp ? ",speaker,speaker_score" : "");
        for (size_t i = 0; i < t->nev; i++) {
            put_csv_str(&b, t->file);
            put(&b, ",%.3f,%.3f,", t->ev[i].start, t->ev[i].end);
            put_csv_str(&b, t->ev[i].label);
            put(&b, ",%.4f", t->ev[i].score);
            if (sp) {
                put(&b, ",");
                put_csv_str(&b, es_tx_speaker_name(sp, t->ev[i].speaker));
                put(&b, ",%.4f", t->ev[i].speaker_score);
            }
            put(&b, "\n");
        }
        break;
    case ES_TX_SRT:
    case ES_TX_VTT:
        if (format == ES_TX_VTT) put(&b, "WEBVTT\n\n");
        for (size_t i = 0; i < t->nev; i++) {
            if (format == ES_TX_SRT) put(&b, "%zu\n", i + 1);
            put_ts(&b, t->ev[i].start, format == ES_TX_SRT ? ',' : '.');
            put(&b, " --> ");
            /* a cue needs a positive length */
            put_ts(&b, t->ev[i].end > t->ev[i].start + 0.01 ? t->ev[i].end : t->ev[i].start + 0.01,
                   format == ES_TX_SRT ? ',' : '.');
            put(&b, "\n");
            /* the speaker as subtitles name one: SRT "NAME: text", WebVTT
             * a voice span <v NAME>text */
            if (sp && format == ES_TX_SRT) put(&b, "%s: ", es_tx_speaker_name(sp, t->ev[i].speaker));
            if (sp && format == ES_TX_VTT) {
                put(&b, "<v ");
                put_vtt_str(&b, es_tx_speaker_name(sp, t->ev[i].speaker));
                put(&b, ">");
            }
            /* WebVTT cue text: '<' opens a tag and '&' an entity */
            if (format == ES_TX_VTT) put_vtt_str(&b, t->ev[i].label);
            else put(&b, "%s", t->ev[i].label);
            put(&b, " (%.2f)\n\n", t->ev[i].score);
        }
        break;
    default:
        return es_fail(err, ES_ERR_ARG, "unknown output format");
    }
    if (!b.s && !b.fail) put(&b, "%s", "");
    if (b.fail) { free(b.s); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    *out = b.s;
    if (len) *len = b.n;
    return ES_OK;
}

/* ------------------------------------------------------------ inputs */

typedef struct {
    es_tx_input *v;
    size_t n, cap;
    /* inputs that could not be read (a folder without permission, a
     * broken link, a missing path): reported, and the batch goes on */
    char **bad;
    size_t nbad, capbad;
    es_idset seen;      /* folders walked: a link loop ends */
    size_t nother;      /* files in folders in a format earshot does not read (.m4a, ...) */
    char other[256];    /* the first of them */
    size_t nspecial;    /* audio names in folders that are no regular file (a FIFO, a device) */
    char special[256];  /* the first of them */
} ilist;

/* Record a problem with one input; only running out of memory stops. */
static es_status add_bad(ilist *l, es_error *err, const char *fmt, ...) ES_PRINTF(3, 4);
static es_status add_bad(ilist *l, es_error *err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    es_vformat(msg, sizeof msg, fmt, ap);   /* a path past 1 kB keeps the reason */
    va_end(ap);
    if (l->nbad == l->capbad) {
        size_t nc = l->capbad ? 2 * l->capbad : 8;
        char **nb = realloc(l->bad, nc * sizeof *nb);
        if (!nb) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        l->bad = nb;
        l->capbad = nc;
    }
    if (!(l->bad[l->nbad] = strdup(msg))) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    l->nbad++;
    return ES_OK;
}

/* 1 if the folder was walked already (a symbolic link back up), else
 * records it; -1 when out of memory */
static int walked_before(ilist *l, const struct stat *sb)
{
    return es_idset_add(&l->seen, (unsigned long long)sb->st_dev, (unsigned long long)sb->st_ino);
}

static es_status add(ilist *l, const char *path, const char *stem_src, es_error *err)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 64;
        es_tx_input *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        l->v = nv;
        l->cap = nc;
    }
    char *p = strdup(path), *s = strdup(stem_src);
    if (!p || !s) { free(p); free(s); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    char *slash = strrchr(s, '/'), *dot = strrchr(s, '.');
    if (dot && (!slash || dot > slash + 1)) *dot = 0;
    l->v[l->n++] = (es_tx_input){p, s};
    return ES_OK;
}

static int is_audio_name(const char *name) { return es_audio_name_stem(name) > 0; }

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Audio files under dir (recursive, names sorted per folder); stems are
 * relative to root. */
static es_status walk(ilist *l, const char *dir, size_t root_len, int depth, es_error *err)
{
    if (depth > 64) return add_bad(l, err, "%s: folders nested too deep (over 64)", dir);
    struct stat ds;
    int seen = stat(dir, &ds) == 0 ? walked_before(l, &ds) : 0;
    if (seen < 0) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    if (seen) return ES_OK;   /* a link to a folder walked already: its files are in */
    DIR *d = opendir(dir);
    if (!d) return add_bad(l, err, "%s: cannot open folder: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    es_status st = ES_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;   /* hidden files, temporaries, . and .. */
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); break; }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); break; }
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n && !st; i++) {
        size_t pl = strlen(dir) + strlen(names[i]) + 2;
        char *p = malloc(pl);
        if (!p) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); break; }
        snprintf(p, pl, "%s/%s", dir, names[i]);
        struct stat sb;
        if (stat(p, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) st = walk(l, p, root_len, depth + 1, err);
            else if (S_ISREG(sb.st_mode) && is_audio_name(names[i])) st = add(l, p, p + root_len, err);
            else if (S_ISREG(sb.st_mode) && es_audio_name_other(names[i]) && !l->nother++)
                snprintf(l->other, sizeof l->other, "%s", p);
            /* a FIFO or device in a folder is not opened (a FIFO would
             * hold a worker until a writer came), but said: the count
             * was short by them without a word. Named on the command
             * line, a FIFO is read (a process substitution). */
            else if (!S_ISREG(sb.st_mode) && is_audio_name(names[i]) && !l->nspecial++)
                snprintf(l->special, sizeof l->special, "%s", p);
        } else if (is_audio_name(names[i]) || errno != ENOENT) {
            /* an audio name that cannot be read (a broken link): say so.
             * So too any entry that is there but cannot be looked at
             * (a sub-folder past PATH_MAX, ENAMETOOLONG; a link loop,
             * ELOOP): it may be a folder of recordings, and leaving it
             * out without a word gave a count short by all its files
             * and exit status 0. A broken link of another name (ENOENT:
             * notes.txt pointing nowhere) is not audio and stays silent. */
            int e = errno;
            if (e == ENOENT) st = add_bad(l, err, "%s: broken symbolic link", p);
            else st = add_bad(l, err, "%s: cannot read: %s", p, strerror(e));
        }
        free(p);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

static es_status expand_one(ilist *l, const char *arg, int depth, es_error *err);

typedef struct {
    ilist *l;
    const char *path;
    size_t dl;           /* length of the manifest's folder, 0 if none */
    int depth;
    es_error *err;
} mf_ctx;

/* one manifest line: relative paths are relative to the manifest's folder */
static es_status manifest_line(void *user, const char *s)
{
    mf_ctx *c = user;
    if (s[0] == '/' || !c->dl) return expand_one(c->l, s, c->depth + 1, c->err);
    size_t pl = c->dl + strlen(s) + 2;
    char *p = malloc(pl);
    if (!p) return es_fail(c->err, ES_ERR_NOMEM, "out of memory");
    snprintf(p, pl, "%.*s/%s", (int)c->dl, c->path, s);
    es_status st = expand_one(c->l, p, c->depth + 1, c->err);
    free(p);
    return st;
}

static es_status manifest(ilist *l, const char *path, int depth, es_error *err)
{
    if (depth > 8) return es_fail(err, ES_ERR_ARG, "%s: manifests nested too deep", path);
    unsigned char *buf = NULL;
    size_t len = 0;
    es_error e = {0};
    if (es_read_file(path, &buf, &len, &e))
        return e.status == ES_ERR_NOMEM ? es_fail(err, e.status, "out of memory")
                                        : add_bad(l, err, "@%s: cannot read the list: %s", path, e.msg);
    const char *slash = strrchr(path, '/');
    mf_ctx c = {l, path, slash ? (size_t)(slash - path) : 0, depth, err};
    es_status st = es_tx_manifest_parse((const char *)buf, len, path, manifest_line, &c, err);
    free(buf);
    return st;
}

static es_status expand_one(ilist *l, const char *arg, int depth, es_error *err)
{
    if (arg[0] == '@' && arg[1]) return manifest(l, arg + 1, depth, err);
    /* "-" on the command line is stdin (named "stdin" in an output
     * folder); in a list it is a file of that name */
    if (!strcmp(arg, "-") && depth == 0) return add(l, "-", "stdin", err);
    struct stat sb;
    if (stat(arg, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            size_t n = strlen(arg);
            while (n > 1 && arg[n - 1] == '/') n--;
            char *d = strndup(arg, n);
            if (!d) return es_fail(err, ES_ERR_NOMEM, "out of memory");
            es_status st = walk(l, d, n + 1, 0, err);
            free(d);
            return st;
        }
        const char *b = strrchr(arg, '/');
        return add(l, arg, b ? b + 1 : arg, err);
    }
    if (strpbrk(arg, "*?[")) {
        glob_t g;
        int r = glob(arg, 0, NULL, &g);
        if (r == GLOB_NOMATCH) return add_bad(l, err, "%s: no file matches", arg);
        if (r) return add_bad(l, err, "%s: cannot expand the pattern", arg);
        es_status st = ES_OK;
        for (size_t i = 0; i < g.gl_pathc && !st; i++) st = expand_one(l, g.gl_pathv[i], depth + 1, err);
        globfree(&g);
        return st;
    }
    return add_bad(l, err, "%s: %s", arg, strerror(errno));
}

static int cmp_input(const void *a, const void *b)
{
    return strcmp(((const es_tx_input *)a)->path, ((const es_tx_input *)b)->path);
}

void es_tx_inputs_free(es_tx_input *in, size_t n)
{
    for (size_t i = 0; in && i < n; i++) { free(in[i].path); free(in[i].stem); }
    free(in);
}

void es_tx_problems_free(char **bad, size_t n)
{
    for (size_t i = 0; bad && i < n; i++) free(bad[i]);
    free(bad);
}

es_status es_tx_expand(const char *const *args, size_t n, es_tx_input **out, size_t *nout, char ***bad, size_t *nbad,
                       es_error *err)
{
    *out = NULL;
    *nout = 0;
    *bad = NULL;
    *nbad = 0;
    ilist l = {0};
    es_status st = ES_OK;
    for (size_t i = 0; i < n && !st; i++) st = expand_one(&l, args[i], 0, err);
    es_idset_free(&l.seen);
    /* a folder of phone recordings (.m4a) would otherwise look empty */
    es_audio_warn_other(NULL, l.nother, l.other);
    es_audio_warn_special(NULL, l.nspecial, l.special);
    if (st) { es_tx_inputs_free(l.v, l.n); es_tx_problems_free(l.bad, l.nbad); return st; }
    *bad = l.bad;
    *nbad = l.nbad;
    if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp_input);
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (k && !strcmp(l.v[k - 1].path, l.v[i].path)) { free(l.v[i].path); free(l.v[i].stem); continue; }
        l.v[k++] = l.v[i];
    }
    *out = l.v;
    *nout = k;
    return ES_OK;
}
