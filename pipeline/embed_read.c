/*
 * pipeline/embed_read.c — embeddings of a file read piece by piece, for
 * recordings too long to hold decoded (an hour of 16 kHz float samples is
 * 230 MB; its embeddings are 17 MB). es_embed_audio's two front ends
 * without padding:
 *
 *   whole:  the log-mel of the clip, clamped 80 dB under its loudest
 *           frame. The clamp needs that frame before any output, so the
 *           file is read twice: once for the loudest frame, once for the
 *           frames themselves. Each frame depends only on its 512 samples,
 *           so frames computed a block at a time are the frames of the
 *           whole clip.
 *   stream: the mel stream, fed as the file is read, after the frames of
 *           ones the encoder's input starts primed with.
 *
 * Either way the encoder runs over parts of PART mel frames. A part starts
 * on a multiple of 8 frames and keeps the context the next window needs,
 * as es_encoder_full splits its own input over threads, so the embeddings
 * are es_embed_audio's exactly for files up to a part (4096 embeddings,
 * 5.5 min) and up to float rounding next to the parts' edges beyond (see
 * full_part in model/encoder.c: 60 of the 46,248 embeddings of an hour
 * moved, by at most 3e-5). Memory: about 5 MB, the embeddings and, when
 * asked for, the log-mel.
 */
#include "es_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define READ_BLOCK 65536   /* samples per read */
#define PART (8 * 4096)    /* mel frames per encoder call */

/* A growing array of rows of `width` floats. */
typedef struct {
    float *v;
    size_t n, cap, width;
} rows;

static es_status rows_add(rows *r, const float *x, size_t n, es_error *err)
{
    if (r->n + n > r->cap) {
        size_t nc = r->cap ? 2 * r->cap : 4096;
        while (nc < r->n + n) nc *= 2;
        float *nv = realloc(r->v, nc * r->width * sizeof(float));
        if (!nv) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        r->v = nv;
        r->cap = nc;
    }
    if (x) memcpy(r->v + r->n * r->width, x, n * r->width * sizeof(float));
    r->n += n;
    return ES_OK;
}

/* The encoder's input so far: frames arrive in pieces, and every PART
 * frames (or at the end) the windows they complete are embedded and the
 * frames no later window needs are dropped. */
typedef struct {
    es_encoder *enc;
    float *mel;          /* [room][32] */
    size_t nmel, room;
    rows emb;
} feed;

static es_status feed_frames(feed *f, const float *x, size_t n, int end, es_error *err)
{
    if (!f->enc) return ES_OK;   /* only the log-mel is wanted */
    if (n > f->room - f->nmel) return es_fail(err, ES_ERR_ARG, "embed_read: too many frames at once");
    if (n) memcpy(f->mel + f->nmel * ES_MEL_BINS, x, n * ES_MEL_BINS * sizeof(float));
    f->nmel += n;
    if (f->nmel < PART + ES_EMB_WINDOW && !end) return ES_OK;
    size_t k = es_encoder_count(f->nmel);
    if (!k) return ES_OK;
    size_t at = f->emb.n;
    es_status st = rows_add(&f->emb, NULL, k, err);
    if (!st) st = es_encoder_full(f->enc, f->mel, f->nmel, f->emb.v + at * ES_EMB_DIM, err);
    if (st) return st;
    /* the next window starts 8 k frames on */
    memmove(f->mel, f->mel + 8 * k * ES_MEL_BINS, (f->nmel - 8 * k) * ES_MEL_BINS * sizeof(float));
    f->nmel -= 8 * k;
    return ES_OK;
}

/* One pass over the file in whole mode: every frame's dB into `db`; with
 * max_db < +inf clamped under it and handed to the encoder (f) and kept
 * (mel, may be NULL), else only the loudest frame into *loudest. */
static es_status whole_pass(es_mel *m, const char *path, const es_load_opts *lo, float max_db, float *loudest,
                            feed *f, rows *mel, float *x, float *db, es_error *err)
{
    es_reader *r = es_reader_open(path, lo, err);   /* its errors name the file */
    if (!r) return err && err->status ? err->status : ES_ERR_IO;
    es_status st = ES_OK;
    size_t have = 0, got = 0;
    *loudest = -INFINITY;
    do {
        if ((st = es_reader_read(r, x + have, READ_BLOCK, &got, err))) break;
        have += got;
        size_t frames = es_mel_frames(have);
        if (frames) {
            float mx;
            if ((st = es_mel_compute_db(m, x, have, db, &mx, err))) break;
            if (mx > *loudest) *loudest = mx;
            if (isfinite(max_db)) {
                es_mel_clamp(m, db, frames, max_db);
                if (mel && (st = rows_add(mel, db, frames, err))) break;
                if ((st = feed_frames(f, db, frames, 0, err))) break;
            }
            /* the next frame starts ES_MEL_HOP x frames on */
            memmove(x, x + frames * ES_MEL_HOP, (have - frames * ES_MEL_HOP) * sizeof(float));
            have -= frames * ES_MEL_HOP;
        }
    } while (got);
    es_reader_close(r);
    if (!st && isfinite(max_db)) st = feed_frames(f, NULL, 0, 1, err);
    return st;
}

es_status es_embed_read(es_engine *e, const char *path, const es_load_opts *lo, es_embed_mode mode, float **mel_out,
                        size_t *frames_out, float **emb_out, size_t *n_emb_out, es_error *err)
{
    if (mel_out) *mel_out = NULL;
    if (frames_out) *frames_out = 0;
    if (emb_out) *emb_out = NULL;
    if (n_emb_out) *n_emb_out = 0;
    if (!e || !path) return es_fail(err, ES_ERR_ARG, "es_embed_read: invalid arguments");
    es_mel *m = es_engine_mel(e);
    size_t per_read = READ_BLOCK / ES_MEL_HOP + 8;   /* frames one read can add, either front end */
    feed f = {emb_out ? es_engine_encoder(e) : NULL, NULL, 0, PART + ES_EMB_WINDOW + per_read, {NULL, 0, 0, ES_EMB_DIM}};
    rows mel = {NULL, 0, 0, ES_MEL_BINS};
    float *x = malloc((READ_BLOCK + ES_MEL_WIN) * sizeof(float)), *db = malloc(per_read * ES_MEL_BINS * sizeof(float));
    f.mel = malloc(f.room * ES_MEL_BINS * sizeof(float));
    es_status st = ES_OK;
    if (!x || !db || !f.mel) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
    if (mode == ES_EMBED_WHOLE) {
        float loudest, unused;
        if ((st = whole_pass(m, path, lo, INFINITY, &loudest, &f, NULL, x, db, err))) goto done;
        if (isfinite(loudest))
            st = whole_pass(m, path, lo, loudest, &unused, &f, mel_out ? &mel : NULL, x, db, err);
    } else {
        es_mel_stream *ms = es_mel_stream_create(m, err);
        es_reader *r = ms ? es_reader_open(path, lo, err) : NULL;
        if (!ms || !r) st = err && err->status ? err->status : ES_ERR_IO;
        /* ones first (for the encoder), then the streamed frames */
        for (size_t i = 0; i < (size_t)ES_PRIME_FRAMES * ES_MEL_BINS && !st; i++) db[i] = 1.0f;
        if (!st) st = feed_frames(&f, db, ES_PRIME_FRAMES, 0, err);
        size_t got = 0;
        do {
            size_t frames = 0;
            if (st || (st = es_reader_read(r, x, READ_BLOCK, &got, err))) break;
            if (got && (st = es_mel_stream_push(ms, x, got, db, per_read, &frames, err))) break;
            if (mel_out && (st = rows_add(&mel, db, frames, err))) break;
            st = feed_frames(&f, db, frames, got == 0, err);
        } while (got);
        es_reader_close(r);
        es_mel_stream_free(ms);
    }
done:
    free(x);
    free(db);
    free(f.mel);
    if (st) {
        free(f.emb.v);
        free(mel.v);
        /* a failure inside the front end or encoder names no file: say
         * which (the reader's own errors already do) */
        return err && !strstr(err->msg, path) ? es_fail_in(err, st, path) : st;
    }
    if (mel_out) *mel_out = mel.v; else free(mel.v);
    if (frames_out) *frames_out = mel.n;
    if (emb_out) *emb_out = f.emb.v; else free(f.emb.v);
    if (n_emb_out) *n_emb_out = f.emb.n;
    return ES_OK;
}
