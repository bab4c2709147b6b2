/*
 * pipeline/engine.c — composes the front end and the encoder: embeddings of
 * a clip (whole or streaming) and the streaming scorer that runs heads
 * every 80 ms. The same scorer serves files and live audio, so what a user
 * sees live is what a batch run reports.
 */
#include "es_internal.h"
#include "../model/onnx.h"
#include "../model/conv.h"
#include "classifier.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>


struct es_engine {
    es_onnx *mel_model, *enc_model;
    es_mel *mel;
    es_encoder *enc;
    char dir[4096];
    char enc_sha[65], mel_sha[65];
    char enc_id[65];       /* enc_sha, or the classifier's id after overrides */
};

void es_engine_free(es_engine *e)
{
    if (!e) return;
    es_mel_free(e->mel);
    es_encoder_free(e->enc);
    es_onnx_free(e->mel_model);
    es_onnx_free(e->enc_model);
    free(e);
}

es_engine *es_engine_create(const char *models_dir, es_error *err)
{
    /* the library's own thread count, and OpenBLAS kept to one thread (the
     * header's promise): a program that never asked es_threads() ran every
     * sgemm on OpenBLAS's own pool, one more thread per detector thread */
    (void)es_threads();
    es_engine *e = calloc(1, sizeof *e);
    if (!e) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    char path[4096];
    if (models_dir && *models_dir) snprintf(e->dir, sizeof e->dir, "%s", models_dir);
    else if (es_models_dir(e->dir, sizeof e->dir, err)) goto fail;
    if (es_models_path(e->dir, "melspectrogram", path, sizeof path, err)) goto fail;
    if (!(e->mel_model = es_onnx_load(path, err))) goto fail;
    if (!(e->mel = es_mel_create(e->mel_model, err))) goto fail;
    if (es_models_path(e->dir, "embedding_model", path, sizeof path, err)) goto fail;
    if (!(e->enc_model = es_onnx_load(path, err))) goto fail;
    if (!(e->enc = es_encoder_create(e->enc_model, err))) goto fail;
    es_sha256_hex(es_onnx_sha256(e->enc_model), e->enc_sha);
    es_sha256_hex(es_onnx_sha256(e->mel_model), e->mel_sha);
    memcpy(e->enc_id, e->enc_sha, sizeof e->enc_id);
    return e;
fail:
    es_engine_free(e);
    return NULL;
}

/* NULL for no engine (a failed es_engine_create): an array member of a
 * NULL struct pointer is a small non-NULL address, which a caller's
 * `if (p)` would take for a string */
es_mel *es_engine_mel(es_engine *e) { return e ? e->mel : NULL; }
es_encoder *es_engine_encoder(es_engine *e) { return e ? e->enc : NULL; }
const char *es_engine_models_dir(const es_engine *e) { return e ? e->dir : NULL; }
const char *es_engine_encoder_sha256(const es_engine *e) { return e ? e->enc_sha : NULL; }
const char *es_engine_mel_sha256(const es_engine *e) { return e ? e->mel_sha : NULL; }
const char *es_engine_encoder_id(const es_engine *e) { return e ? e->enc_id : NULL; }

/* One check for everything a file was computed with: a model card and a
 * speaker profile record both networks' SHA-256, and numbers made through
 * another front end or encoder mean something else, so they are refused
 * rather than scored. A missing front-end hash is let through: cards of the
 * first versions recorded only the encoder. */
es_status es_engine_check_made_with(const es_engine *e, const char *what, const char *enc, const char *mel,
                                    const char *remedy, es_error *err)
{
    if (!e || !what) return es_fail(err, ES_ERR_ARG, "es_engine_check_made_with: invalid arguments");
    const char *sep = remedy && *remedy ? "; " : "", *rem = remedy ? remedy : "";
    /* hex digits in either case: a card edited by hand, or another tool's */
    if (!enc || es_ascii_casecmp(enc, e->enc_sha))
        return es_fail(err, ES_ERR_MODEL, "%s: made with another encoder (sha256 %.12s..., this one is %.12s...)%s%s", what,
                       enc ? enc : "unknown", e->enc_sha, sep, rem);
    if (mel && es_ascii_casecmp(mel, e->mel_sha))
        return es_fail(err, ES_ERR_MODEL,
                       "%s: made with another log-mel front end (melspectrogram sha256 %.12s..., this one is %.12s...)%s%s",
                       what, mel, e->mel_sha, sep, rem);
    return ES_OK;
}

es_engine *es_engine_create_for_classifier(const char *models_dir, const es_classifier *c, es_error *err)
{
    if (!c) { es_fail(err, ES_ERR_ARG, "es_engine_create_for_classifier: no classifier"); return NULL; }
    es_engine *e = es_engine_create(models_dir, err);
    if (!e) return NULL;
    if (es_engine_check_made_with(e, "the model", es_classifier_meta(c, "encoder_sha256"),
                                  es_classifier_meta(c, "melspectrogram_sha256"), NULL, err)) {
        es_engine_free(e);
        return NULL;
    }
    size_t n = es_classifier_encoder_tensor_count(c);
    for (size_t i = 0; i < n; i++) {
        const es_st_tensor *t = es_classifier_encoder_tensor(c, i);
        int shape[4] = {0, 0, 0, 0};
        for (int k = 0; k < t->ndim && k < 4; k++) shape[k] = (int)t->shape[k];
        if (es_encoder_override(e->enc, t->name, t->data, shape, t->ndim, err)) { es_engine_free(e); return NULL; }
    }
    snprintf(e->enc_id, sizeof e->enc_id, "%s", es_classifier_encoder_id(c));
    return e;
}

static size_t secs(double s) { return s > 0 ? (size_t)(s * ES_SAMPLE_RATE + 0.5) : 0; }

es_status es_mel_prime_stream(float **mel, size_t *frames, es_error *err)
{
    float *pm = malloc((*frames + ES_PRIME_FRAMES + 1) * ES_MEL_BINS * sizeof(float));
    if (!pm) {
        free(*mel);
        *mel = NULL;
        return es_fail(err, ES_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < (size_t)ES_PRIME_FRAMES * ES_MEL_BINS; i++) pm[i] = 1.0f;
    memcpy(pm + (size_t)ES_PRIME_FRAMES * ES_MEL_BINS, *mel, *frames * ES_MEL_BINS * sizeof(float));
    free(*mel);
    *mel = pm;
    *frames += ES_PRIME_FRAMES;
    return ES_OK;
}

es_status es_embed_audio(es_engine *e, const float *x, size_t n, const es_embed_opts *opts, float **mel_out,
                         size_t *frames_out, float **emb_out, size_t *n_emb_out, es_error *err)
{
    ES_ERR_LOCAL(err);
    if (mel_out) *mel_out = NULL;
    if (emb_out) *emb_out = NULL;
    if (frames_out) *frames_out = 0;
    if (n_emb_out) *n_emb_out = 0;
    if (!e || (!x && n)) return es_fail(err, ES_ERR_ARG, "es_embed_audio: invalid arguments");
    es_embed_opts o = {0};
    if (opts) o = *opts;
    /* written as "not within" so that NaN is refused too */
    if (!(o.pad_before >= 0 && o.pad_before <= 3600) || !(o.pad_after >= 0 && o.pad_after <= 3600) ||
        !(o.pad_to >= 0 && o.pad_to <= 3600))
        return es_fail(err, ES_ERR_ARG, "padding must be between 0 and 3600 seconds");
    if (o.mode != ES_EMBED_WHOLE && o.mode != ES_EMBED_STREAM)
        return es_fail(err, ES_ERR_ARG, "es_embed_audio: unknown front-end mode %d", (int)o.mode);

    /* lay out [pad_before][centre pad][audio][centre pad][pad_after] */
    size_t lead = 0, tail = 0, target = secs(o.pad_to);
    if (target > n) { lead = (target - n) / 2; tail = target - n - lead; }
    lead += secs(o.pad_before);
    tail += secs(o.pad_after);
    size_t total = lead + n + tail;
    float *buf = calloc(total + 1, sizeof(float));
    if (!buf) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    if (n) memcpy(buf + lead, x, n * sizeof(float));

    es_status st = ES_OK;
    float *mel = NULL, *emb = NULL;
    size_t frames = 0, nemb = 0;
    /* a warped front end is a copy of the engine's with another mel matrix,
     * made per call (a 257 x 32 matrix), so calls on threads never share it */
    es_mel *fe = e->mel, *warped = NULL;
    if (o.warp != 0 && o.warp != 1) {
        if (!(warped = es_mel_warp(e->mel, o.warp, err))) { st = err ? err->status : ES_ERR_ARG; goto done; }
        fe = warped;
    }
    if (o.mode == ES_EMBED_WHOLE) {
        frames = es_mel_frames(total);
        mel = malloc((frames + 1) * ES_MEL_BINS * sizeof(float));
        if (!mel) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
        if ((st = es_mel_compute(fe, buf, total, mel, err))) goto done;
        if (emb_out) {
            nemb = es_encoder_count(frames);
            emb = malloc((nemb + 1) * ES_EMB_DIM * sizeof(float));
            if (!emb) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
            if ((st = es_encoder_full(e->enc, mel, frames, emb, err))) goto done;
        }
    } else {
        size_t cap = 8 * (total / ES_CHUNK + 1);
        mel = malloc((cap + ES_PRIME_FRAMES) * ES_MEL_BINS * sizeof(float));
        if (!mel) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
        es_mel_stream *ms = es_mel_stream_create(fe, err);
        if (!ms) { st = err ? err->status : ES_ERR_NOMEM; goto done; }
        /* ones first (for the encoder), then the streamed frames */
        for (size_t i = 0; i < (size_t)ES_PRIME_FRAMES * ES_MEL_BINS; i++) mel[i] = 1.0f;
        st = es_mel_stream_push(ms, buf, total, mel + ES_PRIME_FRAMES * ES_MEL_BINS, cap, &frames, err);
        es_mel_stream_free(ms);
        if (st) goto done;
        if (emb_out) {
            emb = malloc((total / ES_CHUNK + 2) * ES_EMB_DIM * sizeof(float));
            if (!emb) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
            if ((st = es_encoder_full(e->enc, mel, frames + ES_PRIME_FRAMES, emb, err))) goto done;
            nemb = es_encoder_count(frames + ES_PRIME_FRAMES);
        }
        /* hand back only the real frames */
        memmove(mel, mel + ES_PRIME_FRAMES * ES_MEL_BINS, frames * ES_MEL_BINS * sizeof(float));
    }
done:
    free(buf);
    es_mel_free(warped);
    if (st) { free(mel); free(emb); return st; }
    if (mel_out) *mel_out = mel; else free(mel);
    if (frames_out) *frames_out = frames;
    if (emb_out) *emb_out = emb; else free(emb);
    if (n_emb_out) *n_emb_out = nemb;
    return ES_OK;
}

/* ------------------------------------------------------------ scorer */

struct es_scorer {
    es_engine *e;
    es_mel_stream *ms;
    es_encoder_stream *es;
    es_head **heads;
    size_t nheads, wmax, classes_max;
    float *ring;        /* last embeddings, [2*wmax][96], newest at the end */
    size_t nring;
    size_t emitted;     /* embeddings produced so far */
    size_t chunks;      /* 1280-sample chunks completed */
    float mel[16 * ES_MEL_BINS];
    float *scores;
};

void es_scorer_free(es_scorer *s)
{
    if (!s) return;
    es_mel_stream_free(s->ms);
    es_encoder_stream_free(s->es);
    free(s->heads);
    free(s->ring);
    free(s->scores);
    free(s);
}

es_scorer *es_scorer_create(es_engine *e, es_head **heads, size_t nheads, es_error *err)
{
    if (!e || (!heads && nheads)) { es_fail(err, ES_ERR_ARG, "es_scorer_create: invalid arguments"); return NULL; }
    for (size_t i = 0; i < nheads; i++)
        if (!heads[i]) { es_fail(err, ES_ERR_ARG, "es_scorer_create: head %zu is NULL", i); return NULL; }
    es_scorer *s = calloc(1, sizeof *s);
    if (!s) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    s->e = e;
    s->nheads = nheads;
    s->heads = malloc((nheads + 1) * sizeof(es_head *));
    if (!s->heads) goto nomem;
    s->wmax = 1;
    s->classes_max = 1;
    for (size_t i = 0; i < nheads; i++) {
        s->heads[i] = heads[i];
        if (es_head_window(heads[i]) > s->wmax) s->wmax = es_head_window(heads[i]);
        if (es_head_classes(heads[i]) > s->classes_max) s->classes_max = es_head_classes(heads[i]);
    }
    s->ring = malloc(2 * s->wmax * ES_EMB_DIM * sizeof(float));
    s->scores = malloc(s->classes_max * sizeof(float));
    if (!s->ring || !s->scores) goto nomem;
    if (!(s->ms = es_mel_stream_create(e->mel, err))) goto fail;
    if (!(s->es = es_encoder_stream_create(e->enc, err))) goto fail;
    float ones[ES_PRIME_FRAMES * ES_MEL_BINS];
    for (size_t i = 0; i < sizeof ones / sizeof ones[0]; i++) ones[i] = 1.0f;
    float dummy[ES_EMB_DIM * 2];
    size_t got;
    if (es_encoder_stream_push(s->es, ones, ES_PRIME_FRAMES, dummy, &got, err)) goto fail;
    return s;
nomem:
    es_fail(err, ES_ERR_NOMEM, "out of memory");
fail:
    es_scorer_free(s);
    return NULL;
}

es_status es_scorer_push(es_scorer *s, const float *x, size_t n, es_score_fn fn, void *user, es_error *err)
{
    if (!s || (!x && n)) return es_fail(err, ES_ERR_ARG, "es_scorer_push: invalid arguments");
    while (n > 0) {
        /* at most one chunk at a time, so every chunk is scored on its own */
        size_t take = n < ES_CHUNK ? n : ES_CHUNK, frames, got;
        float emb[2 * ES_EMB_DIM];
        es_status st = es_mel_stream_push(s->ms, x, take, s->mel, 16, &frames, err);
        if (st) return st;
        x += take;
        n -= take;
        if (!frames) continue;
        s->chunks++;
        if ((st = es_encoder_stream_push(s->es, s->mel, frames, emb, &got, err))) return st;
        for (size_t k = 0; k < got; k++) {
            if (s->nring == 2 * s->wmax) {
                memmove(s->ring, s->ring + s->wmax * ES_EMB_DIM, s->wmax * ES_EMB_DIM * sizeof(float));
                s->nring = s->wmax;
            }
            memcpy(s->ring + s->nring * ES_EMB_DIM, emb + k * ES_EMB_DIM, ES_EMB_DIM * sizeof(float));
            s->nring++;
            s->emitted++;
            double t = (double)s->chunks * ES_CHUNK / ES_SAMPLE_RATE;
            for (size_t h = 0; h < s->nheads; h++) {
                size_t W = es_head_window(s->heads[h]);
                if (s->emitted < W) continue;
                if ((st = es_head_run(s->heads[h], s->ring + (s->nring - W) * ES_EMB_DIM, s->scores, err))) return st;
                if (fn) fn(user, h, t, s->scores, es_head_classes(s->heads[h]));
            }
        }
    }
    return ES_OK;
}
