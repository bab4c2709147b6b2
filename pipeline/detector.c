/*
 * pipeline/detector.c — the streaming detector (see earshot.h): audio in,
 * keyword events out, for files and live audio alike.
 *
 * Pipeline per 80 ms step: front end per 1280-sample chunk (openWakeWord's
 * streaming mel, top-dB clamp per chunk) -> streaming encoder (mel buffer
 * primed with ones, as openWakeWord and es_embed_audio's stream mode do) ->
 * every model over its last `window` embeddings -> per-label moving average
 * -> per-label regions (hysteresis between low x threshold and threshold)
 * -> per-model overlap suppression and refractory -> events.
 *
 * Chunking invariance: samples are buffered and processed in fixed blocks
 * of `block` chunks whatever the push sizes, so the arithmetic (and hence
 * every event) is the same for any way of slicing the input.
 */
#include "es_internal.h"
#include "adapt.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEP_S ((double)ES_CHUNK / ES_SAMPLE_RATE)            /* 0.08 s */
#define EMB_SPAN_S ((ES_EMB_WINDOW - 1) * 0.01 + ES_MEL_WIN / (double)ES_SAMPLE_RATE) /* 0.782 s */
#define ENERGY_HIST 800     /* mel frames of energy (8 s) boundary refinement looks at */
#define MAX_PENDING 64

typedef struct {
    es_classifier *cls;   /* one of cls / head */
    es_onnx *onnx;
    es_head *head;
    char name[256];
    size_t window, classes, slot0;
    float *probs;
    double span;          /* seconds of audio one window of embeddings sees */
    double last_fire;     /* early mode: end of the model's last event */
    es_selfadapt *sa;     /* self_adapt: the voice's offset (classifiers only) */
    float *wbuf;          /* [window][96]: the window with the offset taken off */
} source;

typedef struct {
    const char *label;
    size_t src;
    int reported;
    double thr;
    float *hist;          /* last `smooth` raw scores (ring) */
    size_t nh, hpos;
    float smoothed;
    /* the open region */
    int active;
    double a, b;          /* first and last step end time at or above low */
    float peak;
    double peak_t;
    size_t above;         /* steps at or above thr */
    int fired;            /* early mode: this region was reported */
    double last_end;      /* end of the last reported event (-inf before) */
    float peak_emb[ES_EMB_DIM];   /* self_adapt: mean embedding of the window at the peak */
    int learn_at_close;   /* self_adapt, early mode: this region was reported, learn
                             from its peak once the region closes */
} slot;

typedef struct {
    size_t slot;
    double start, end, b;
    float peak;
    float emb[ES_EMB_DIM];  /* the slot's peak_emb when the region closed */
} cand;

/* What a run computed that the event logic reads, for es_detector_replay:
 * per encoder call its mel frames' energies and its steps' raw model
 * outputs. Replaying it runs the regions, suppression and refractory again
 * at another threshold without the front end, encoder or models: about
 * 60 bytes a step, 2.7 MB an hour for a model of 6 labels. */
typedef struct {
    size_t *calls;        /* [2 * ncalls]: mel frames, steps of each call */
    size_t ncalls, calls_cap;
    float *energy;        /* every mel frame's energy, in order */
    size_t nenergy, energy_cap;
    float *rows;          /* [steps][nslots]: outputs after the NaN guard;
                             NaN where the model did not run yet */
    size_t nrows, rows_cap;
    int nomem;
} recording;

struct es_detector {
    es_engine *e;
    es_detector_opts o;
    source *src;
    size_t nsrc;
    slot *slots;
    size_t nslots;
    size_t wmax;
    es_mel_stream *ms;
    es_encoder_stream *es;
    float *buf;           /* samples waiting for a full block, [block*1280] */
    size_t nbuf;
    float *mel;           /* [8*block][32] */
    float *emb;           /* [block+1][96] */
    float *ring;          /* last embeddings [2*wmax][96] */
    size_t nring;
    size_t steps;         /* embeddings (80 ms steps) so far */
    size_t frames;        /* mel frames so far */
    size_t pushed;        /* real samples pushed */
    int started;          /* leading silence fed */
    float *energy;        /* mean scaled log-mel of frame i at [i % nenergy] */
    size_t nenergy;       /* ENERGY_HIST + the frames of one block */
    cand pending[MAX_PENDING];
    size_t npending;
    float *row;           /* smoothed scores of the step, [nslots] */
    es_detector_score_fn score_fn;
    void *score_user;
    recording *rec;       /* es_detector_record: where the steps go */
    char warning[512];
};

void es_detector_opts_default(es_detector_opts *o)
{
    if (!o) return;   /* as es_load_opts_default: nothing to fill */
    o->threshold = 0;
    o->low = 0.5;
    o->smooth = 5;
    o->min_duration = 0.24;
    o->refractory = 0.5;
    o->pad = 1.0;
    o->block = 1;
    o->early = 0;
    o->self_adapt = 0;
}

void es_detector_free(es_detector *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nsrc; i++) {
        es_classifier_free(d->src[i].cls);
        es_head_free(d->src[i].head);
        es_onnx_free(d->src[i].onnx);
        free(d->src[i].probs);
        es_selfadapt_free(d->src[i].sa);
        free(d->src[i].wbuf);
    }
    free(d->src);
    /* nslots counts the models loaded so far; the slots exist only once
     * every model has loaded (a later model may have failed) */
    for (size_t i = 0; d->slots && i < d->nslots; i++) free(d->slots[i].hist);
    free(d->slots);
    es_mel_stream_free(d->ms);
    es_encoder_stream_free(d->es);
    free(d->buf);
    free(d->mel);
    free(d->emb);
    free(d->ring);
    free(d->row);
    free(d->energy);
    free(d);
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static void base_name(const char *path, char *out, size_t size)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, size, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

/* Per-label thresholds from a classifier's model card: {"label": 0.5, ...}. */
static double card_threshold(const es_classifier *c, const char *label)
{
    const char *t = es_classifier_meta(c, "thresholds");
    if (!t) return 0.5;
    cJSON *j = cJSON_Parse(t);
    double v = 0.5;
    const cJSON *x = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, label) : NULL;
    if (cJSON_IsNumber(x) && x->valuedouble > 0 && x->valuedouble <= 1) v = x->valuedouble;
    cJSON_Delete(j);
    return v;
}

/* The front-end mode a classifier was trained with ("stream" or "whole";
 * models from before the key existed are whole-clip). */
static int card_is_stream(const es_classifier *c)
{
    const char *f = es_classifier_meta(c, "frontend");
    cJSON *j = f ? cJSON_Parse(f) : NULL;
    const cJSON *m = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "mode") : NULL;
    int stream = cJSON_IsString(m) && !strcmp(m->valuestring, "stream");
    cJSON_Delete(j);
    return stream;
}

static es_status load_source(es_detector *d, source *s, const char *model, es_error *err)
{
    if (ends_with(model, ".safetensors")) {
        if (!(s->cls = es_classifier_load(model, err))) return err ? err->status : ES_ERR_MODEL;
        es_status st = es_engine_check_made_with(d->e, model, es_classifier_meta(s->cls, "encoder_sha256"),
                                                 es_classifier_meta(s->cls, "melspectrogram_sha256"), NULL, err);
        if (st) return st;
        s->window = es_classifier_window(s->cls);
        s->classes = es_classifier_classes(s->cls);
        if (!card_is_stream(s->cls) && !d->warning[0])
            snprintf(d->warning, sizeof d->warning,
                     "%s was trained on whole-clip features; streaming detection sees silence differently, so it "
                     "may miss words or fire on noise: retrain it with this version of earshot (streaming features)",
                     model);
    } else {
        char path[4200];
        if (es_models_path(es_engine_models_dir(d->e), model, path, sizeof path, err)) return err->status;
        if (!(s->onnx = es_onnx_load(path, err))) return err ? err->status : ES_ERR_MODEL;
        if (!(s->head = es_head_create(s->onnx, NULL, err))) return err ? err->status : ES_ERR_MODEL;
        s->window = es_head_window(s->head);
        s->classes = es_head_classes(s->head);
    }
    if (s->window < 1 || s->window > 1024 || s->classes < 1 || s->classes > 4096)
        return es_fail(err, ES_ERR_MODEL, "%s: unusable window or class count", model);
    if (d->o.self_adapt) {
        if (!s->cls)
            return es_fail(err, ES_ERR_UNSUPPORTED, "%s: an openWakeWord head has no class means to adapt against; "
                                                    "self-adaptation needs models trained by earshot", model);
        if (!(s->sa = es_selfadapt_create(s->cls, -1, err))) return es_fail_in(err, ES_ERR_UNSUPPORTED, model);
        if (!(s->wbuf = malloc(s->window * ES_EMB_DIM * sizeof(float)))) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    }
    base_name(model, s->name, sizeof s->name);
    s->span = EMB_SPAN_S + (double)(s->window - 1) * STEP_S;
    if (!(s->probs = malloc(s->classes * sizeof(float)))) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    return ES_OK;
}

es_detector *es_detector_create(es_engine *e, const char *const *models, size_t n_models, const es_detector_opts *o,
                                es_error *err)
{
    if (!e) { es_fail(err, ES_ERR_ARG, "es_detector_create: no engine"); return NULL; }
    if (!models || !n_models) { es_fail(err, ES_ERR_ARG, "es_detector_create: no model"); return NULL; }
    es_detector *d = calloc(1, sizeof *d);
    if (!d) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    d->e = e;
    es_detector_opts_default(&d->o);
    if (o) d->o = *o;
    /* name the option that is out of range and its value: a list of every
     * range left the caller to find which of eight it was */
    const es_detector_opts *p = &d->o;
    char bad[96] = "";
    if (!(p->threshold >= 0 && p->threshold <= 1)) snprintf(bad, sizeof bad, "threshold %g (0 to 1)", p->threshold);
    else if (!(p->low > 0 && p->low <= 1)) snprintf(bad, sizeof bad, "low %g (above 0, at most 1)", p->low);
    else if (p->smooth < 1 || p->smooth > 100) snprintf(bad, sizeof bad, "smooth %d (1 to 100)", p->smooth);
    else if (!(p->min_duration >= 0 && p->min_duration <= 60))
        snprintf(bad, sizeof bad, "min_duration %g s (0 to 60)", p->min_duration);
    else if (!(p->refractory >= 0 && p->refractory <= 3600))
        snprintf(bad, sizeof bad, "refractory %g s (0 to 3600)", p->refractory);
    else if (!(p->pad >= 0 && p->pad <= 60)) snprintf(bad, sizeof bad, "pad %g s (0 to 60)", p->pad);
    else if (p->block < 1 || p->block > 256) snprintf(bad, sizeof bad, "block %d (1 to 256)", p->block);
    else if (p->early != 0 && p->early != 1) snprintf(bad, sizeof bad, "early %d (0 or 1)", p->early);
    if (bad[0]) {
        es_fail(err, ES_ERR_ARG, "detector option out of range: %s", bad);
        goto fail;
    }
    if (!(d->src = calloc(n_models, sizeof *d->src))) goto nomem;
    d->nsrc = n_models;
    d->wmax = 1;
    for (size_t i = 0; i < n_models; i++) {
        if (!models[i]) { es_fail(err, ES_ERR_ARG, "es_detector_create: NULL model"); goto fail; }
        if (load_source(d, &d->src[i], models[i], err)) goto fail;
        d->src[i].slot0 = d->nslots;
        d->nslots += d->src[i].classes;
        if (d->src[i].window > d->wmax) d->wmax = d->src[i].window;
    }
    if (!(d->slots = calloc(d->nslots, sizeof *d->slots)) || !(d->row = calloc(d->nslots, sizeof(float)))) goto nomem;
    for (size_t i = 0; i < n_models; i++) {
        source *s = &d->src[i];
        for (size_t k = 0; k < s->classes; k++) {
            slot *sl = &d->slots[s->slot0 + k];
            sl->src = i;
            sl->label = s->cls ? es_classifier_label(s->cls, k) : es_head_label(s->head, k);
            /* a binary wake-word model (train --wake-word) reports its wake
             * word only: its other class is everything else, which is not
             * an event */
            int wake = s->cls ? es_classifier_wake(s->cls) : -1;
            sl->reported = sl->label && strcmp(sl->label, "_unknown_") && strcmp(sl->label, "_silence_") &&
                           strcmp(sl->label, "_background_") && (wake < 0 || (size_t)wake == k);
            if (!sl->label) sl->label = "_background_";
            sl->thr = d->o.threshold > 0 ? d->o.threshold : s->cls ? card_threshold(s->cls, sl->label) : 0.5;
            if (!(sl->hist = calloc((size_t)d->o.smooth, sizeof(float)))) goto nomem;
        }
    }
    size_t B = (size_t)d->o.block;
    d->buf = malloc(B * ES_CHUNK * sizeof(float));
    d->mel = malloc(8 * (B + 1) * ES_MEL_BINS * sizeof(float));
    d->emb = malloc((B + 2) * ES_EMB_DIM * sizeof(float));
    d->ring = malloc(2 * d->wmax * ES_EMB_DIM * sizeof(float));
    d->nenergy = ENERGY_HIST + 8 * (B + 1);
    d->energy = malloc(d->nenergy * sizeof(float));
    if (!d->buf || !d->mel || !d->emb || !d->ring || !d->energy) goto nomem;
    if (!(d->ms = es_mel_stream_create(es_engine_mel(e), err))) goto fail;
    if (!(d->es = es_encoder_stream_create(es_engine_encoder(e), err))) goto fail;
    es_detector_reset(d);
    return d;
nomem:
    es_fail(err, ES_ERR_NOMEM, "out of memory");
fail:
    es_detector_free(d);
    return NULL;
}

/* Getters are NULL-safe (0, NULL or NaN for no detector), so a program's
 * error path after a failed es_detector_create may call them. */
size_t es_detector_labels(const es_detector *d) { return d ? d->nslots : 0; }
const char *es_detector_label(const es_detector *d, size_t i) { return d && i < d->nslots ? d->slots[i].label : NULL; }
int es_detector_reported(const es_detector *d, size_t i) { return d && i < d->nslots && d->slots[i].reported; }
double es_detector_threshold(const es_detector *d, size_t i) { return d && i < d->nslots ? d->slots[i].thr : NAN; }
size_t es_detector_models(const es_detector *d) { return d ? d->nsrc : 0; }
const char *es_detector_model_name(const es_detector *d, size_t i) { return d && i < d->nsrc ? d->src[i].name : NULL; }
const char *es_detector_warning(const es_detector *d) { return d && d->warning[0] ? d->warning : NULL; }
double es_detector_time(const es_detector *d) { return d ? (double)d->pushed / ES_SAMPLE_RATE : 0; }

void es_detector_set_score_fn(es_detector *d, es_detector_score_fn fn, void *user)
{
    if (!d) return;
    d->score_fn = fn;
    d->score_user = user;
}

es_status es_detector_set_threshold(es_detector *d, const char *label, double thr, es_error *err)
{
    if (!d) return es_fail(err, ES_ERR_ARG, "es_detector_set_threshold: no detector");
    if (!(thr > 0 && thr <= 1)) return es_fail(err, ES_ERR_ARG, "a threshold must be in (0, 1]");
    int found = 0;
    for (size_t i = 0; i < d->nslots; i++)
        if (d->slots[i].reported && (!label || !strcmp(label, d->slots[i].label))) { d->slots[i].thr = thr; found = 1; }
    if (!found) return es_fail(err, ES_ERR_ARG, "no label '%s' in the model(s)", label ? label : "");
    return ES_OK;
}

/* The event logic's state back to the start of a stream (regions, pending
 * events, step and frame counts); the front end and encoder are not
 * touched. */
static void reset_events(es_detector *d)
{
    d->steps = d->frames = d->npending = 0;
    for (size_t i = 0; i < d->nslots; i++) {
        slot *s = &d->slots[i];
        memset(s->hist, 0, (size_t)d->o.smooth * sizeof(float));
        s->nh = s->hpos = 0;
        s->active = 0;
        s->learn_at_close = 0;
        s->last_end = -INFINITY;
        s->smoothed = 0;
    }
    /* The score row goes to the score callback at every step, and a model
     * that has not yet seen a whole window leaves its slots as they were:
     * left from the last stream, a transcribe chart's first second showed
     * the previous file's scores, so its bytes depended on which file a
     * worker ran before (-j 1 against -j 4). Zero, as a new detector's. */
    memset(d->row, 0, d->nslots * sizeof(float));
    for (size_t i = 0; i < d->nsrc; i++) {
        d->src[i].last_fire = -INFINITY;
        es_selfadapt_reset(d->src[i].sa);   /* a new stream may be a new voice */
    }
}

void es_detector_reset(es_detector *d)
{
    if (!d) return;
    es_encoder_stream_reset(d->es);
    /* a fresh mel stream: it has no reset of its own, and its state is a
     * few KB of history */
    es_mel_stream *ms = es_mel_stream_create(es_engine_mel(d->e), NULL);
    if (ms) { es_mel_stream_free(d->ms); d->ms = ms; }
    d->nbuf = d->nring = d->pushed = 0;
    d->started = 0;
    reset_events(d);
    /* prime the encoder with ones: its first window then ends after the
     * first chunk, as openWakeWord's does */
    float ones[ES_PRIME_FRAMES * ES_MEL_BINS], dummy[2 * ES_EMB_DIM];
    size_t got;
    for (size_t i = 0; i < sizeof ones / sizeof ones[0]; i++) ones[i] = 1.0f;
    es_encoder_stream_push(d->es, ones, ES_PRIME_FRAMES, dummy, &got, NULL);
}

/* ------------------------------------------------------------ events */

/* Time (seconds of real audio) at the end of step `k` (1-based). */
static double step_time(const es_detector *d, size_t k) { return (double)k * STEP_S - d->o.pad; }

/* Mel frame i spans samples [160 i, 160 i + 512) of the stream (padding
 * included); its centre in seconds of real audio. */
static double frame_time(const es_detector *d, size_t i)
{
    return ((double)i * ES_MEL_HOP + ES_MEL_WIN / 2.0) / ES_SAMPLE_RATE - d->o.pad;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Refine [*s, *e] on the frame energy: the loud run (gaps up to 120 ms
 * allowed) around the loudest frame near the estimate, if the word stands
 * clearly out of the background (20 dB above the 10th percentile of the
 * last 8 s). Keyword clips are separated by quieter stretches far more
 * often than not; when they are not, the estimate stays as it is. */
static void refine(const es_detector *d, double *s, double *e)
{
    /* only the frames the current step has seen (8 per step after the
     * first chunk's 5), not those a larger block computed ahead: the
     * result must not depend on the block size */
    size_t now = 8 * d->steps - 3;
    if (now > d->frames) now = d->frames;
    size_t have = now < ENERGY_HIST ? now : ENERGY_HIST;
    if (have < 50) return;
    size_t first = now - have;
    float tmp[ENERGY_HIST];
    for (size_t i = 0; i < have; i++) tmp[i] = d->energy[(first + i) % d->nenergy];
    qsort(tmp, have, sizeof(float), cmp_float);
    float floor_e = tmp[have / 10];
    /* frame index of time t: centre = (160 i + 256)/16000 - pad */
    double fi_of = (d->o.pad * ES_SAMPLE_RATE - ES_MEL_WIN / 2.0) / ES_MEL_HOP;
    long lo = (long)floor((*s - 0.1) * 100 + fi_of), hi = (long)ceil((*e + 0.1) * 100 + fi_of);
    long slo = (long)floor((*s - 0.4) * 100 + fi_of), shi = (long)ceil((*e + 0.4) * 100 + fi_of);
    if (lo < (long)first) lo = (long)first;
    if (slo < (long)first) slo = (long)first;
    if (hi > (long)now - 1) hi = (long)now - 1;
    if (shi > (long)now - 1) shi = (long)now - 1;
    if (lo > hi) return;
    long m = lo;
    for (long i = lo; i <= hi; i++) if (d->energy[i % d->nenergy] > d->energy[m % d->nenergy]) m = i;
    float em = d->energy[m % d->nenergy];
    if (em < floor_e + 2.0f) return;
    float on = floor_e + 0.35f * (em - floor_e);  /* edge: 35% of the way up (log scale) */
    if (on < floor_e + 1.0f) on = floor_e + 1.0f;
    long l = m, r = m, gap = 0;
    for (long i = m - 1; i >= slo; i--) {
        if (d->energy[i % d->nenergy] >= on) { l = i; gap = 0; }
        else if (++gap > 12) break;
    }
    gap = 0;
    for (long i = m + 1; i <= shi; i++) {
        if (d->energy[i % d->nenergy] >= on) { r = i; gap = 0; }
        else if (++gap > 12) break;
    }
    double ns = frame_time(d, (size_t)l) - 0.01, ne = frame_time(d, (size_t)r) + 0.01;
    /* a run far from the estimate is another sound (a neighbouring word) */
    if (ne - ns >= 0.1 && ne - ns <= 3.0 && fabs(ns - *s) <= 0.25) { *s = ns; *e = ne; }
}

static void emit(es_detector *d, const cand *c, es_event_fn fn, void *user)
{
    slot *sl = &d->slots[c->slot];
    if (c->start - sl->last_end < d->o.refractory) return;
    sl->last_end = c->end;
    es_event ev = {sl->label, c->start, c->end, c->peak, sl->src};
    if (ev.start < 0) ev.start = 0;
    if (ev.end < ev.start) ev.end = ev.start;
    /* a reported event is a decision: it teaches the voice's offset. An
     * early event is reported while its word is still at the window's end;
     * the window the offset is measured against has the word whole (as
     * the training clips' means do), which the region's peak has once the
     * region closes (close_region) */
    const source *s = &d->src[sl->src];
    if (s->sa && d->o.early) sl->learn_at_close = 1;
    else if (s->sa) es_selfadapt_observe(s->sa, c->emb, 1, c->slot - s->slot0);
    if (fn) fn(user, &ev);
}

/* Report pending events no open region of their model can still overlap. */
static void release(es_detector *d, int all, es_event_fn fn, void *user)
{
    size_t k = 0;
    for (size_t i = 0; i < d->npending; i++) {
        cand *c = &d->pending[i];
        int blocked = 0;
        if (!all) {
            const source *s = &d->src[d->slots[c->slot].src];
            for (size_t j = 0; j < s->classes && !blocked; j++) {
                const slot *o = &d->slots[s->slot0 + j];
                blocked = o->active && o->a <= c->b;
            }
        }
        if (blocked) d->pending[k++] = *c;
        else emit(d, c, fn, user);
    }
    d->npending = k;
}

static double overlap(const cand *x, const cand *y)
{
    double lo = x->start > y->start ? x->start : y->start, hi = x->end < y->end ? x->end : y->end;
    double shorter = fmin(x->end - x->start, y->end - y->start);
    return hi <= lo ? 0 : shorter > 0 ? (hi - lo) / shorter : 1;
}

static void close_region(es_detector *d, size_t si)
{
    slot *sl = &d->slots[si];
    if (!sl->active) return;
    sl->active = 0;
    if (sl->learn_at_close) {
        const source *s = &d->src[sl->src];
        es_selfadapt_observe(s->sa, sl->peak_emb, 1, si - s->slot0);
        sl->learn_at_close = 0;
    }
    if (d->o.early) return;   /* reported (or not) while the region was open */
    if (sl->peak < sl->thr || (double)sl->above * STEP_S + 1e-9 < d->o.min_duration) return;
    const source *s = &d->src[sl->src];
    /* The score is up while the window holds the whole word: from the
     * word's end (a) to the word's start plus the window span (b). The
     * moving average lags by (smooth-1)/2 steps. */
    double lag = (d->o.smooth - 1) * STEP_S / 2;
    double a = sl->a - lag, b = sl->b - lag;
    /* The region ends a little after the word's start leaves the
     * window (a classifier still knows a word missing its first 100 ms or
     * so): measured on the FSDD long-form set, the region's end minus the
     * span was 0.15 s early on average. */
    cand c = {si, b - s->span + STEP_S + 0.15, a, sl->b, sl->peak, {0}};
    memcpy(c.emb, sl->peak_emb, sizeof c.emb);
    if (s->head) {
        /* openWakeWord heads were trained to fire as the phrase ends at
         * the window's end: the region starts at the end of the phrase */
        c.start = a - 0.7;
        c.end = a;
    } else if (c.end - c.start < 0.15) {     /* a short region: centre it */
        double mid = (a + b - s->span) / 2;
        c.start = mid - 0.25;
        c.end = mid + 0.25;
    }
    refine(d, &c.start, &c.end);
    /* one model, one utterance: the higher peak wins */
    for (size_t i = 0; i < d->npending; i++) {
        cand *p = &d->pending[i];
        if (d->slots[p->slot].src != sl->src || overlap(p, &c) <= 0.5) continue;
        if (p->peak >= c.peak) return;
        *p = c;
        return;
    }
    if (d->npending == MAX_PENDING) return;   /* cannot happen with sane thresholds */
    d->pending[d->npending++] = c;
}

/* Early mode: report the model's best label once it is confirmed. The
 * region opened about when the word ended (the window then holds all of
 * it), so that is the end; the start is found on the energy before it. */
static void fire(es_detector *d, size_t si, es_event_fn fn, void *user)
{
    source *s = &d->src[si];
    slot *best = NULL;
    for (size_t k = 0; k < s->classes; k++) {
        slot *sl = &d->slots[s->slot0 + k];
        if (sl->reported && sl->active && (!best || sl->smoothed > best->smoothed)) best = sl;
    }
    if (!best || best->fired || best->smoothed < best->thr ||
        (double)best->above * STEP_S + 1e-9 < d->o.min_duration)
        return;
    best->fired = 1;
    double lag = (d->o.smooth - 1) * STEP_S / 2;
    cand c = {(size_t)(best - d->slots), 0, best->a - lag, best->b, best->smoothed, {0}};
    memcpy(c.emb, best->peak_emb, sizeof c.emb);
    c.start = c.end - (s->head ? 0.7 : 0.45);
    refine(d, &c.start, &c.end);
    /* one utterance, one event: another label of this model that rises
     * while the word is still being recognised is the same utterance */
    if (c.start < s->last_fire - 0.1) return;
    s->last_fire = c.end;
    emit(d, &c, fn, user);
}

/* m[96] = the mean of the window's w embeddings */
static void window_mean(const float *x, size_t w, float *m)
{
    for (size_t j = 0; j < ES_EMB_DIM; j++) {
        float v = 0;
        for (size_t t = 0; t < w; t++) v += x[t * ES_EMB_DIM + j];
        m[j] = v / (float)w;
    }
}

/* Model s over the embedding ring, its outputs into s->probs; *ran = 0
 * while the ring does not hold its first window yet. *raw: the window
 * before any self-adaptation offset. */
static es_status run_model(es_detector *d, source *s, const float **raw, int *ran, es_error *err)
{
    /* The encoder's input starts primed with ones (openWakeWord's
     * start, kept for its heads' parity): the first ES_STREAM_PRIMED
     * embeddings see some of those frames. An earshot model never met
     * such embeddings in training (its clip windows skip them), and an
     * adapted one could score them as a word: on samples/vocab_demo a
     * wake-word model adapted on its own takes fired at 0.00 s. Its
     * first window is the first that sees only the stream; with the
     * default 1 s of leading silence that window ends 1.0 s into the
     * audio and still holds all of it. */
    size_t first = s->cls ? s->window + ES_STREAM_PRIMED : s->window;
    *ran = d->steps >= first;
    if (!*ran) return ES_OK;
    const float *w = d->ring + (d->nring - s->window) * ES_EMB_DIM;
    /* A trained model's score is the mean of its ensemble's heads
     * (es_classifier_predict). Its card may also name sub-step offsets
     * and window positions, which es_eval and
     * es_classifier_predict_audio average over for a whole clip; a
     * stream cannot: the audio arrives on the 80 ms grid, so there is
     * no other offset to embed it at, and the neighbouring positions
     * are simply the windows scored one step before and after. */
    *raw = w;
    if (s->sa && es_selfadapt_count(s->sa)) {
        memcpy(s->wbuf, w, s->window * ES_EMB_DIM * sizeof(float));
        es_selfadapt_apply(s->sa, s->wbuf, s->window);
        w = s->wbuf;
    }
    es_status st = s->cls ? es_classifier_predict(s->cls, w, s->probs, err) : es_head_run(s->head, w, s->probs, err);
    if (st) return st;
    for (size_t k = 0; k < s->classes; k++)
        if (!(s->probs[k] >= 0)) s->probs[k] = 0;     /* NaN guard */
    return ES_OK;
}

/* Room for one more recorded step's outputs; NULL (and rec->nomem) when
 * there is none. */
static float *rec_row(recording *r, size_t nslots)
{
    if (r->nomem) return NULL;
    if (r->nrows == r->rows_cap) {
        size_t nc = r->rows_cap ? 2 * r->rows_cap : 1024;
        float *nr = realloc(r->rows, nc * nslots * sizeof(float));
        if (!nr) { r->nomem = 1; return NULL; }
        r->rows = nr;
        r->rows_cap = nc;
    }
    float *row = r->rows + r->nrows++ * nslots;
    for (size_t i = 0; i < nslots; i++) row[i] = NAN;
    return row;
}

/* One 80 ms step: the models on the embedding ring, then the regions.
 * With `given` (a replayed step of a recording, [nslots]) the models'
 * outputs are read from it instead: NaN where a model did not run. */
static es_status step(es_detector *d, const float *given, es_event_fn fn, void *user, es_error *err)
{
    d->steps++;
    double t = step_time(d, d->steps);
    float *rec = d->rec && !given ? rec_row(d->rec, d->nslots) : NULL;
    for (size_t i = 0; i < d->nsrc; i++) {
        source *s = &d->src[i];
        const float *raw = NULL;
        if (given) {
            if (isnan(given[s->slot0])) continue;
            memcpy(s->probs, given + s->slot0, s->classes * sizeof(float));
        } else {
            int ran;
            es_status st = run_model(d, s, &raw, &ran, err);
            if (st) return st;
            if (!ran) continue;
            if (rec) memcpy(rec + s->slot0, s->probs, s->classes * sizeof(float));
        }
        for (size_t k = 0; k < s->classes; k++) {
            slot *sl = &d->slots[s->slot0 + k];
            float v = s->probs[k];
            sl->hist[sl->hpos] = v;
            sl->hpos = (sl->hpos + 1) % (size_t)d->o.smooth;
            if (sl->nh < (size_t)d->o.smooth) sl->nh++;
            float sum = 0;
            for (size_t j = 0; j < sl->nh; j++) sum += sl->hist[j];
            sl->smoothed = sum / (float)sl->nh;
            d->row[s->slot0 + k] = sl->smoothed;
            if (!sl->reported) continue;
            if (sl->smoothed >= d->o.low * sl->thr) {
                if (!sl->active) {
                    sl->active = 1;
                    sl->a = t;
                    sl->peak = -1;
                    sl->above = 0;
                    sl->fired = 0;
                }
                sl->b = t;
                if (sl->smoothed >= sl->thr) sl->above++;
                if (sl->smoothed > sl->peak) {
                    sl->peak = sl->smoothed;
                    sl->peak_t = t;
                    if (raw && s->sa) window_mean(raw, s->window, sl->peak_emb);
                }
            } else if (sl->active) {
                close_region(d, s->slot0 + k);
            }
        }
    }
    if (d->o.early)
        for (size_t i = 0; i < d->nsrc; i++) fire(d, i, fn, user);
    if (d->score_fn) d->score_fn(d->score_user, t, d->row, d->nslots);
    release(d, 0, fn, user);
    return ES_OK;
}

/* Record the energies of mel frames [first, first + n) (in the ring). */
static void rec_energy(recording *r, const float *ring, size_t nring, size_t first, size_t n)
{
    if (r->nomem) return;
    if (r->nenergy + n > r->energy_cap) {
        size_t nc = r->energy_cap ? 2 * r->energy_cap : 8192;
        while (nc < r->nenergy + n) nc *= 2;
        float *ne = realloc(r->energy, nc * sizeof(float));
        if (!ne) { r->nomem = 1; return; }
        r->energy = ne;
        r->energy_cap = nc;
    }
    for (size_t i = 0; i < n; i++) r->energy[r->nenergy++] = ring[(first + i) % nring];
}

/* Record that an encoder call made `frames` mel frames and `steps` steps. */
static void rec_call(recording *r, size_t frames, size_t steps)
{
    if (r->nomem) return;
    if (r->ncalls == r->calls_cap) {
        size_t nc = r->calls_cap ? 2 * r->calls_cap : 1024;
        size_t *ncl = realloc(r->calls, 2 * nc * sizeof(size_t));
        if (!ncl) { r->nomem = 1; return; }
        r->calls = ncl;
        r->calls_cap = nc;
    }
    r->calls[2 * r->ncalls] = frames;
    r->calls[2 * r->ncalls + 1] = steps;
    r->ncalls++;
}

/* Run the front end and encoder over `n` whole chunks in d->buf. */
static es_status process(es_detector *d, const float *x, size_t n, es_event_fn fn, void *user, es_error *err)
{
    size_t frames, got;
    es_status st = es_mel_stream_push(d->ms, x, n, d->mel, 8 * ((size_t)d->o.block + 1), &frames, err);
    if (st) return st;
    for (size_t f = 0; f < frames; f++) {
        float s = 0;
        for (int b = 0; b < ES_MEL_BINS; b++) s += d->mel[f * ES_MEL_BINS + b];
        d->energy[(d->frames + f) % d->nenergy] = s / ES_MEL_BINS;
    }
    if (d->rec) rec_energy(d->rec, d->energy, d->nenergy, d->frames, frames);
    d->frames += frames;
    if ((st = es_encoder_stream_push(d->es, d->mel, frames, d->emb, &got, err))) return st;
    if (d->rec) rec_call(d->rec, frames, got);
    for (size_t k = 0; k < got; k++) {
        if (d->nring == 2 * d->wmax) {
            memmove(d->ring, d->ring + d->wmax * ES_EMB_DIM, d->wmax * ES_EMB_DIM * sizeof(float));
            d->nring = d->wmax;
        }
        memcpy(d->ring + d->nring * ES_EMB_DIM, d->emb + k * ES_EMB_DIM, ES_EMB_DIM * sizeof(float));
        d->nring++;
        if ((st = step(d, NULL, fn, user, err))) return st;
    }
    return ES_OK;
}

/* Append samples; process every full block. */
static es_status feed(es_detector *d, const float *x, size_t n, es_event_fn fn, void *user, es_error *err)
{
    size_t cap = (size_t)d->o.block * ES_CHUNK;
    while (n > 0) {
        if (d->nbuf == 0 && n >= cap) {   /* whole blocks straight from the input */
            es_status st = process(d, x, cap, fn, user, err);
            if (st) return st;
            x += cap;
            n -= cap;
            continue;
        }
        size_t take = cap - d->nbuf < n ? cap - d->nbuf : n;
        if (x) memcpy(d->buf + d->nbuf, x, take * sizeof(float));
        else memset(d->buf + d->nbuf, 0, take * sizeof(float));
        d->nbuf += take;
        if (x) x += take;
        n -= take;
        if (d->nbuf == cap) {
            d->nbuf = 0;
            es_status st = process(d, d->buf, cap, fn, user, err);
            if (st) return st;
        }
    }
    return ES_OK;
}

static es_status feed_silence(es_detector *d, size_t n, es_event_fn fn, void *user, es_error *err)
{
    static const float zeros[ES_CHUNK];
    while (n > 0) {
        size_t k = n < ES_CHUNK ? n : ES_CHUNK;
        es_status st = feed(d, zeros, k, fn, user, err);
        if (st) return st;
        n -= k;
    }
    return ES_OK;
}

static size_t pad_samples(const es_detector *d) { return (size_t)(d->o.pad * ES_SAMPLE_RATE + 0.5); }

es_status es_detector_push(es_detector *d, const float *x, size_t n, es_event_fn fn, void *user, es_error *err)
{
    if (!d || (!x && n)) return es_fail(err, ES_ERR_ARG, "es_detector_push: invalid arguments");
    es_status st;
    if (!d->started) {
        d->started = 1;
        if ((st = feed_silence(d, pad_samples(d), fn, user, err))) return st;
    }
    d->pushed += n;
    return feed(d, x, n, fn, user, err);
}

typedef struct {
    es_event_fn fn;
    void *user;
    double dur;
} clip_ctx;

static void clip_event(void *user, const es_event *ev)
{
    clip_ctx *c = user;
    es_event e = *ev;
    if (e.end > c->dur) e.end = c->dur;
    if (e.start > e.end) e.start = e.end;
    if (c->fn) c->fn(c->user, &e);
}

es_status es_detector_flush(es_detector *d, es_event_fn fn, void *user, es_error *err)
{
    if (!d) return es_fail(err, ES_ERR_ARG, "es_detector_flush: invalid arguments");
    clip_ctx cc = {fn, user, es_detector_time(d)};
    es_status st = ES_OK;
    if (!d->started) {   /* nothing pushed: still a (silent) stream */
        d->started = 1;
        st = feed_silence(d, pad_samples(d), clip_event, &cc, err);
    }
    /* trailing silence, then up to whole blocks so every sample is seen */
    if (!st) st = feed_silence(d, pad_samples(d), clip_event, &cc, err);
    size_t cap = (size_t)d->o.block * ES_CHUNK;
    if (!st && d->nbuf) st = feed_silence(d, cap - d->nbuf, clip_event, &cc, err);
    if (!st) {
        for (size_t i = 0; i < d->nslots; i++) close_region(d, i);
        release(d, 1, clip_event, &cc);
    }
    es_detector_reset(d);
    return st;
}

/* ------------------------------------------------------------ record, replay */

struct es_recording {
    recording r;
    size_t nslots;
    uint64_t labels;        /* a hash of the models' names and labels */
    es_detector_opts o;     /* the recording detector's options */
    double seconds;
};

/* FNV-1a over every model's name and every label: a replay on a detector
 * of other models would read their outputs as another model's. */
static uint64_t labels_hash(const es_detector *d)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < d->nsrc + d->nslots; i++) {
        const char *s = i < d->nsrc ? d->src[i].name : d->slots[i - d->nsrc].label;
        for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;   /* a separator no name holds */
    }
    return h;
}

/* The same event options but the threshold (which a replay sets). */
static int same_opts(const es_detector_opts *a, const es_detector_opts *b)
{
    return a->low == b->low && a->smooth == b->smooth && a->min_duration == b->min_duration &&
           a->refractory == b->refractory && a->pad == b->pad && a->block == b->block && a->early == b->early &&
           a->self_adapt == b->self_adapt;
}

void es_recording_free(es_recording *rec)
{
    if (!rec) return;
    free(rec->r.calls);
    free(rec->r.energy);
    free(rec->r.rows);
    free(rec);
}

double es_recording_seconds(const es_recording *rec) { return rec ? rec->seconds : 0; }

#define RECORD_READ 16384

es_status es_detector_record(es_detector *d, es_reader *r, es_event_fn fn, void *user, es_recording **out,
                             es_error *err)
{
    if (out) *out = NULL;
    if (!d || !r || !out) return es_fail(err, ES_ERR_ARG, "es_detector_record: invalid arguments");
    /* a self-adapting model's scores depend on the events it reported,
     * so they cannot be replayed at another threshold */
    if (d->o.self_adapt)
        return es_fail(err, ES_ERR_ARG, "a self-adapting detector cannot be replayed: its scores depend on its own events");
    es_recording *rec = calloc(1, sizeof *rec);
    float *blk = malloc(RECORD_READ * sizeof(float));
    es_status st = ES_OK;
    if (!rec || !blk) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
    rec->nslots = d->nslots;
    rec->labels = labels_hash(d);
    rec->o = d->o;
    /* the detector as es_tx_run runs it, every step recorded */
    es_detector_reset(d);
    d->rec = &rec->r;
    size_t got = 0;
    while (!(st = es_reader_read(r, blk, RECORD_READ, &got, err)) && got > 0)
        if ((st = es_detector_push(d, blk, got, fn, user, err))) break;
    rec->seconds = es_detector_time(d);
    if (!st) st = es_detector_flush(d, fn, user, err);
    else es_detector_reset(d);
    d->rec = NULL;
    if (!st && rec->r.nomem) st = es_fail(err, ES_ERR_NOMEM, "out of memory recording the scores");
done:
    free(blk);
    if (st) { es_recording_free(rec); return st; }
    *out = rec;
    return ES_OK;
}

es_status es_detector_replay(es_detector *d, const es_recording *rec, const double *thr, es_event_fn fn, void *user,
                             es_error *err)
{
    if (!d || !rec) return es_fail(err, ES_ERR_ARG, "es_detector_replay: invalid arguments");
    if (d->o.self_adapt)
        return es_fail(err, ES_ERR_ARG, "a self-adapting detector cannot be replayed: its scores depend on its own events");
    /* the rows are the models' outputs, the calls the block's, the steps'
     * times count the pad: all must be the recording detector's */
    if (rec->nslots != d->nslots || rec->labels != labels_hash(d) || !same_opts(&rec->o, &d->o))
        return es_fail(err, ES_ERR_ARG, "es_detector_replay: the recording was made by a detector with other models "
                                        "or options (block size, smoothing, pad, ...)");
    for (size_t i = 0; thr && i < d->nslots; i++)
        if (d->slots[i].reported && !(thr[i] > 0 && thr[i] <= 1))
            return es_fail(err, ES_ERR_ARG, "es_detector_replay: a threshold must be in (0, 1]");
    double *saved = malloc((d->nslots + 1) * sizeof(double));
    if (!saved) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < d->nslots; i++) {
        saved[i] = d->slots[i].thr;
        if (thr && d->slots[i].reported) d->slots[i].thr = thr[i];
    }
    es_detector_score_fn sfn = d->score_fn;
    d->score_fn = NULL;
    /* the event logic from a fresh state over the recorded steps, with
     * each call's mel energies in the ring first, as process() has them;
     * the events' times are clipped to the audio as es_detector_flush
     * clips them */
    reset_events(d);
    const recording *r = &rec->r;
    clip_ctx cc = {fn, user, rec->seconds};
    size_t e = 0, row = 0;
    for (size_t c = 0; c < r->ncalls; c++) {
        size_t nf = r->calls[2 * c], ns = r->calls[2 * c + 1];
        for (size_t f = 0; f < nf; f++) d->energy[(d->frames + f) % d->nenergy] = r->energy[e++];
        d->frames += nf;
        for (size_t k = 0; k < ns; k++) step(d, r->rows + row++ * d->nslots, clip_event, &cc, NULL);
    }
    for (size_t i = 0; i < d->nslots; i++) close_region(d, i);
    release(d, 1, clip_event, &cc);
    reset_events(d);
    for (size_t i = 0; i < d->nslots; i++) d->slots[i].thr = saved[i];
    d->score_fn = sfn;
    free(saved);
    return ES_OK;
}
