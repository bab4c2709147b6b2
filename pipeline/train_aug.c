/*
 * pipeline/train_aug.c — augmented variants and silence windows through the
 * embedding cache, and the wake-word threshold (train_aug.h).
 */
#include "train_aug.h"
#include "../model/onnx.h"
#include "cache.h"
#include "dataset.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ shared */

typedef struct {
    es_engine *e;
    double pad_to;
    es_embed_mode mode;              /* the front end the head trains on */
    size_t pad;                      /* pad_to in samples, as the engine rounds it */
    const char *const *noise;
    size_t nnoise;
    /* noise recordings, decoded on the first miss that needs them */
    pthread_mutex_t lock;
    int decoded;
    es_status decode_status;
    char decode_msg[512];
    es_audio *audio;
    es_aug_clip *clips;
    /* per variant */
    es_aug_recipe *recipes;
    double *gain_db;                 /* silence: level of the slice */
    uint64_t *pos;                   /* silence: start in the file */
    const es_row_maker *net;         /* rows for a network (NULL: embeddings) */
} make_ctx;

static size_t pad_samples(double pad_to) { return pad_to > 0 ? (size_t)(pad_to * ES_SAMPLE_RATE + 0.5) : 0; }

static es_status need_noise(make_ctx *c, es_error *err)
{
    pthread_mutex_lock(&c->lock);
    if (!c->decoded) {
        c->decoded = 1;
        es_error e = {0};
        es_load_opts lo = {.quantize_int16 = 1};
        for (size_t i = 0; i < c->nnoise && !c->decode_status; i++) {
            c->decode_status = es_audio_load(c->noise[i], &lo, &c->audio[i], &e);
            if (!c->decode_status && c->audio[i].n == 0)
                c->decode_status = es_fail(&e, ES_ERR_FORMAT, "%s: noise recording has no samples", c->noise[i]);
            c->clips[i].x = c->audio[i].samples;
            c->clips[i].n = c->audio[i].n;
        }
        if (c->decode_status) snprintf(c->decode_msg, sizeof c->decode_msg, "%s", e.msg);
    }
    es_status s = c->decode_status;
    pthread_mutex_unlock(&c->lock);
    if (s) return es_fail(err, s, "%s", c->decode_msg);
    return ES_OK;
}

/* Embeddings of 16 kHz audio y[n] (already a full pad_to window) with the
 * recipe's SpecAugment masks on the log-mel before the encoder. */
static es_status embed_masked(make_ctx *c, const es_aug_recipe *r, const float *y, size_t n, float **emb, size_t *k,
                              es_error *err)
{
    es_embed_opts eo = {.mode = c->mode, .pad_to = c->pad_to};
    float *mel = NULL;
    size_t T = 0;
    es_status s = es_embed_audio(c->e, y, n, &eo, &mel, &T, NULL, NULL, err);
    if (s) return s;
    if (r) es_aug_apply_mel(r, mel, T, ES_MEL_BINS);
    if (c->mode == ES_EMBED_STREAM && (s = es_mel_prime_stream(&mel, &T, err))) return s;
    size_t ne = es_encoder_count(T);
    float *out = malloc((ne + 1) * ES_EMB_DIM * sizeof(float));
    if (!out) s = es_fail(err, ES_ERR_NOMEM, "out of memory");
    else if (ne) s = es_encoder_full(es_engine_encoder(c->e), mel, T, out, err);
    free(mel);
    if (s) { free(out); return s; }
    *emb = out;
    *k = ne;
    return ES_OK;
}

static void free_ctx(make_ctx *c)
{
    for (size_t i = 0; c->audio && i < c->nnoise; i++) es_audio_free(&c->audio[i]);
    free(c->audio);
    free(c->clips);
    free(c->recipes);
    free(c->gain_db);
    free(c->pos);
    pthread_mutex_destroy(&c->lock);
}

static es_status init_ctx(make_ctx *c, es_engine *e, double pad_to, const char *const *noise, size_t nnoise, es_error *err)
{
    memset(c, 0, sizeof *c);
    c->e = e;
    c->pad_to = pad_to;
    c->pad = pad_samples(pad_to);
    c->noise = noise;
    c->nnoise = nnoise;
    if (pthread_mutex_init(&c->lock, NULL) != 0) return es_fail(err, ES_ERR_NOMEM, "cannot create a mutex");
    c->audio = calloc(nnoise + 1, sizeof *c->audio);
    c->clips = calloc(nnoise + 1, sizeof *c->clips);
    if (!c->audio || !c->clips) { free_ctx(c); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    return ES_OK;
}

/* The SHA-256 (hex) of each noise file, so a cache key that names noise
 * clip k names its content, not its position in a folder listing. */
static es_status noise_hashes(const char *const *noise, size_t nnoise, char (**hex)[65], es_error *err)
{
    *hex = calloc(nnoise + 1, sizeof **hex);
    if (!*hex) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nnoise; i++) {
        unsigned char *b, sha[32];
        size_t len;
        es_status s = es_read_file(noise[i], &b, &len, err);
        if (s) { free(*hex); *hex = NULL; return s; }
        es_sha256(b, len, sha);
        free(b);
        es_sha256_hex(sha, (*hex)[i]);
    }
    return ES_OK;
}

/* The centre `window` embeddings of each of m results into x [m][window*96]
 * (the first result with too few: its error, naming it as `what`). */
static es_status centre_windows(float **embs, const size_t *counts, size_t m, size_t window, es_embed_mode mode,
                                const char *what, float *x, es_error *err)
{
    int stream = mode == ES_EMBED_STREAM;
    for (size_t i = 0; i < m; i++) {
        if (counts[i] < window + es_window_skip(stream))
            return es_fail(err, ES_ERR_ARG, "%s: %zu embeddings, fewer than the window of %zu", what, counts[i], window);
        size_t off = es_centre_offset(counts[i], window, stream);
        memcpy(x + i * window * ES_EMB_DIM, embs[i] + off * ES_EMB_DIM, window * ES_EMB_DIM * sizeof(float));
    }
    return ES_OK;
}

typedef struct {
    es_progress_fn fn;
    void *user;
    const char *stage;
    size_t hits;       /* variants found in the cache so far */
    size_t off, total; /* the variants before this call's, and of all calls (0: the call's own total) */
    size_t hits0;      /* the hits of the calls before */
} stage_prog;

static void on_prog(void *user, size_t done, size_t total, size_t hits)
{
    stage_prog *p = user;
    p->hits = p->hits0 + hits;
    if (p->fn) p->fn(p->user, p->stage, p->off + done, p->total ? p->total : total);
}

/* 64-bit FNV-1a over the seed and a file's base name, then a splitmix64
 * finaliser: a clip's own stream of recipes, the same on every machine. */
static uint64_t clip_seed(uint64_t seed, const char *path, uint64_t salt)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < 8; i++) { h ^= (seed >> (8 * i)) & 0xff; h *= 0x100000001b3ULL; }
    for (; *b; b++) { h ^= (unsigned char)*b; h *= 0x100000001b3ULL; }
    h ^= salt;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

/* ------------------------------------------------------------ augmentation */

/* Variant i's audio y[ny] (a pad_to window) made from its source x[n],
 * and the recipe whose SpecAugment part still applies to its log-mel
 * (NULL: none). Shared by the embedding path and the network-rows path. */
typedef es_status (*audio_fn)(make_ctx *c, size_t i, const float *x, size_t n, float **y, size_t *ny,
                              const es_aug_recipe **spec, es_error *err);

static es_status aug_audio(make_ctx *c, size_t i, const float *x, size_t n, float **y, size_t *ny,
                           const es_aug_recipe **spec, es_error *err)
{
    const es_aug_recipe *r = &c->recipes[i];
    es_status s;
    if (r->noise == ES_AUG_NOISE_CLIP && (s = need_noise(c, err))) return s;
    *spec = r;
    return es_aug_apply(r, x, n, c->pad, c->clips, c->nnoise, y, ny, err);
}

static es_status make_aug(void *ctx, size_t i, const float *x, size_t n, float **emb, size_t *k, es_error *err)
{
    make_ctx *c = ctx;
    const es_aug_recipe *r = NULL;
    float *y = NULL;
    size_t ny = 0;
    es_status s = aug_audio(c, i, x, n, &y, &ny, &r, err);
    if (s) return s;
    s = embed_masked(c, r, y, ny, emb, k, err);
    free(y);
    return s;
}

/* The part es_aug_embed and es_silence_embed share: m variants of the
 * sources (variant j made from srcs[file_of[j]] by make, keyed by tags[j]),
 * embedded through the cache in the given front-end mode, and each
 * variant's centre window in x_out [m][window*96]. */
static es_status net_rows(make_ctx *c, const char *const *srcs, const size_t *file_of, size_t m, audio_fn audio,
                          int srcs_are_noise, const char *stage, float **x_out, es_progress_fn progress, void *user,
                          es_error *err);

/* Variants are embedded es_train_embed_chunk() at a time (512), each
 * keeping only its centre window: all the variants' whole embedding
 * sequences at once (9.6 KB each for 2 s, three times the window) were
 * 19 KB a training clip with --augment 2. */

/* the maker of a chunk of variants: variant i of the chunk is j0 + i */
typedef struct {
    es_variant_fn make;
    void *ctx;
    size_t j0;
} chunk_maker;

static es_status chunk_make(void *ctx, size_t i, const float *x, size_t n, float **emb, size_t *k, es_error *err)
{
    chunk_maker *w = ctx;
    return w->make(w->ctx, w->j0 + i, x, n, emb, k, err);
}

static es_status embed_windows(make_ctx *c, const char *cache_dir, const char *const *srcs, size_t nsrc,
                               const size_t *file_of, char **tags, size_t m, es_variant_fn make, audio_fn audio,
                               const char *stage, const char *what, size_t window, float **x_out, size_t *hits,
                               es_progress_fn progress, void *user, es_error *err)
{
    es_status s = ES_OK;
    /* silence slices are cut from the noise recordings, decoded once */
    if (c->net) return net_rows(c, srcs, file_of, m, audio, srcs == c->noise, stage, x_out, progress, user, err);
    for (size_t j = 0; j < m; j++)
        if (file_of[j] >= nsrc) return es_fail(err, ES_ERR_ARG, "es_cache_embed_variants: variant %zu names no file or has no tag", j);
    es_cache *cache = es_cache_open(cache_dir, c->e, err);
    if (!cache) return err ? err->status : ES_ERR_IO;
    es_cache_set_mode(cache, c->mode);
    /* A chunk at a time, over the files its variants come from (in the
     * order first met), in variant order as one call over all of them: a
     * failure is reported as that call reported it (all or nothing, the
     * first failing variant with how many more failed), so the rest are
     * still embedded (and cached) to count them; else the first variant
     * with too few embeddings. */
    size_t chunk = es_train_embed_chunk(0), row = window * ES_EMB_DIM, failed = 0;
    if (chunk > m) chunk = m;
    float *x = malloc((m * row + 1) * sizeof(float));
    size_t *counts = calloc(chunk + 1, sizeof(size_t)), *loc = malloc((nsrc + 1) * sizeof(size_t));
    size_t *lfile = malloc((chunk + 1) * sizeof(size_t)), *lidx = malloc((chunk + 1) * sizeof(size_t));
    const char **lsrc = malloc((chunk + 1) * sizeof(char *));
    float **embs = calloc(chunk + 1, sizeof(float *));
    stage_prog sp = {progress, user, stage, 0, 0, m, 0};
    es_error first = {0}, bad = {0};
    if (!x || !counts || !loc || !lfile || !lidx || !lsrc || !embs) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t f = 0; f < nsrc; f++) loc[f] = SIZE_MAX;
    for (size_t j0 = 0; j0 < m; j0 += chunk) {
        size_t b = m - j0 < chunk ? m - j0 : chunk, nl = 0;
        for (size_t j = 0; j < b; j++) {
            size_t f = file_of[j0 + j];
            if (loc[f] == SIZE_MAX) { loc[f] = nl; lidx[nl] = f; lsrc[nl++] = srcs[f]; }
            lfile[j] = loc[f];
        }
        chunk_maker cm = {make, c, j0};
        es_error ce = {0};
        sp.off = j0;
        es_status cs = es_cache_embed_variants(cache, lsrc, nl, lfile, (const char *const *)tags + j0, b, c->pad_to,
                                               chunk_make, &cm, embs, counts, on_prog, &sp, &ce);
        sp.hits0 = sp.hits;
        for (size_t l = 0; l < nl; l++) loc[lidx[l]] = SIZE_MAX;
        if (cs) {
            size_t k = es_cache_more_cut(ce.msg, "variants");
            if (!failed) { first = ce; if (!first.status) first.status = cs; }
            failed += k;
        } else if (!failed && !bad.status) {
            es_error we = {0};
            if (centre_windows(embs, counts, b, window, c->mode, what, x + j0 * row, &we)) bad = we;
        }
        for (size_t j = 0; j < b; j++) { free(embs[j]); embs[j] = NULL; }
    }
    if (failed) s = es_cache_more_fail(err, first.status, first.msg, failed, "variants");
    else if (bad.status) s = es_fail(err, bad.status, "%s", bad.msg);
    if (!s && hits) *hits = sp.hits;
out:
    for (size_t j = 0; embs && j < chunk; j++) free(embs[j]);
    free(embs); free(counts); free(loc); free(lfile); free(lidx); free(lsrc);
    es_cache_close(cache);
    if (s) { free(x); return s; }
    *x_out = x;
    return ES_OK;
}

es_status es_aug_embed(es_engine *e, const char *cache_dir, const char *const *paths, size_t n, int variants,
                       const es_aug_ranges *ranges, const char *const *noise, size_t nnoise, uint64_t seed,
                       double pad_to, es_embed_mode mode, size_t window, const es_row_maker *net, float **x_out,
                       size_t *hits, es_progress_fn progress, void *user, es_error *err)
{
    *x_out = NULL;
    if (hits) *hits = 0;
    if (!e || (n && !paths) || variants < 0 || !ranges || (nnoise && !noise))
        return es_fail(err, ES_ERR_ARG, "es_aug_embed: invalid arguments");
    es_status s = es_aug_ranges_check(ranges, err);
    if (s) return s;
    size_t m = n * (size_t)variants;
    if (m == 0) {
        *x_out = malloc(sizeof(float));
        return *x_out ? ES_OK : es_fail(err, ES_ERR_NOMEM, "out of memory");
    }
    make_ctx c;
    if ((s = init_ctx(&c, e, pad_to, noise, nnoise, err))) return s;
    c.mode = mode;
    c.net = net;
    char (*nhex)[65] = NULL;
    size_t *file_of = malloc(m * sizeof(size_t));
    char **tags = calloc(m, sizeof(char *));
    c.recipes = calloc(m, sizeof *c.recipes);
    if (!file_of || !tags || !c.recipes) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    if ((s = noise_hashes(noise, nnoise, &nhex, err))) goto out;
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < variants; v++) {
            size_t j = i * (size_t)variants + (size_t)v;
            es_rng rng;
            es_rng_seed(&rng, clip_seed(seed, paths[i], (uint64_t)v));
            es_aug_draw(ranges, nnoise, &rng, &c.recipes[j]);
            char rs[400];
            es_aug_recipe_str(&c.recipes[j], rs, sizeof rs);
            char tag[ES_VARIANT_TAG_MAX];
            int len = snprintf(tag, sizeof tag, "aug v1 %s%s%s", rs,
                               c.recipes[j].noise == ES_AUG_NOISE_CLIP ? " noise_sha256=" : "",
                               c.recipes[j].noise == ES_AUG_NOISE_CLIP ? nhex[c.recipes[j].noise_clip] : "");
            if (len < 0 || (size_t)len >= sizeof tag || !(tags[j] = strdup(tag))) {
                s = es_fail(err, ES_ERR_NOMEM, "out of memory");
                goto out;
            }
            file_of[j] = i;
        }
    s = embed_windows(&c, cache_dir, paths, n, file_of, tags, m, make_aug, aug_audio, "augmenting", "augmented clip",
                      window, x_out, hits, progress, user, err);
out:
    for (size_t j = 0; tags && j < m; j++) free(tags[j]);
    free(tags);
    free(file_of);
    free(nhex);
    free_ctx(&c);
    return s;
}

/* ------------------------------------------------------------ rows for a network */

/* Fine-tuning and the scratch baseline train a network that reads
 * something earlier than the embeddings (the activation below the
 * fine-tuned layers, or the log-mel window), so their variants and silence
 * slices cannot come from the embedding cache. They are made here once per
 * run instead, from the same recipes and slices (so the audio a variant is
 * made of does not depend on the mode), and handed to net->fn; the frozen
 * layers run once per variant, never once per step. */
typedef struct {
    es_rowjob w;             /* w.n = the rows */
    make_ctx *c;
    const char *const *srcs;
    const size_t *file_of;
    audio_fn audio;
    int srcs_are_noise;      /* srcs are c->noise, decoded once in c->clips */
    float *x;
} rows_job;

es_status es_rowjob_run(es_rowjob *w, void (*part)(void *job, int worker), void *job, es_error *err)
{
    if (pthread_mutex_init(&w->lock, NULL)) return es_fail(err, ES_ERR_NOMEM, "cannot create a mutex");
    atomic_init(&w->next, 0);
    atomic_init(&w->done, 0);
    w->st = ES_OK;
    es_parallel_for(es_threads(), part, job);
    pthread_mutex_destroy(&w->lock);
    if (w->st && err) *err = w->err;
    return w->st;
}

int es_rowjob_next(es_rowjob *w, size_t *i)
{
    *i = atomic_fetch_add(&w->next, 1);
    return *i < w->n;
}

void es_rowjob_done(es_rowjob *w)
{
    if (!w->progress) { atomic_fetch_add(&w->done, 1); return; }
    /* counted under the lock that orders the reports: counted outside it,
     * the worker that counted 7 could take the lock before the one that
     * counted 6, and the display went back */
    pthread_mutex_lock(&w->lock);
    size_t done = atomic_fetch_add(&w->done, 1) + 1;
    w->progress(w->user, w->stage, w->base + done, w->total ? w->total : w->n);
    pthread_mutex_unlock(&w->lock);
}

void es_rowjob_fail(es_rowjob *w, es_status st, const es_error *err)
{
    pthread_mutex_lock(&w->lock);
    if (!w->st) { w->st = st; w->err = *err; }
    pthread_mutex_unlock(&w->lock);
}

static void rows_part(void *p, int part)
{
    (void)part;
    rows_job *j = p;
    make_ctx *c = j->c;
    es_error err = {0};
    es_status st = ES_OK;
    es_audio a = {0};
    size_t loaded = (size_t)-1;   /* which source `a` holds: variants of a clip are consecutive */
    for (size_t i; !st && es_rowjob_next(&j->w, &i);) {
        size_t f = j->file_of[i];
        const float *x;
        size_t n;
        if (j->srcs_are_noise) {
            if ((st = need_noise(c, &err))) break;
            x = c->clips[f].x;
            n = c->clips[f].n;
        } else {
            if (f != loaded) {
                es_audio_free(&a);
                loaded = (size_t)-1;
                es_load_opts lo = {.quantize_int16 = 1};
                if ((st = es_audio_load(j->srcs[f], &lo, &a, &err))) break;
                loaded = f;
            }
            x = a.samples;
            n = a.n;
        }
        float *y = NULL;
        size_t ny = 0;
        const es_aug_recipe *spec = NULL;
        if (!(st = j->audio(c, i, x, n, &y, &ny, &spec, &err)))
            st = c->net->fn(c->net->ctx, y, ny, spec, j->x + i * c->net->row, j->srcs[f], &err);
        free(y);
        es_rowjob_done(&j->w);
    }
    es_audio_free(&a);
    if (st) es_rowjob_fail(&j->w, st, &err);
}

static es_status net_rows(make_ctx *c, const char *const *srcs, const size_t *file_of, size_t m, audio_fn audio,
                          int srcs_are_noise, const char *stage, float **x_out, es_progress_fn progress, void *user,
                          es_error *err)
{
    rows_job j = {.w = {.n = m, .progress = progress, .user = user, .stage = stage}, .c = c, .srcs = srcs,
                  .file_of = file_of, .audio = audio, .srcs_are_noise = srcs_are_noise};
    j.x = malloc((m * c->net->row + 1) * sizeof(float));
    if (!j.x) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_status st = es_rowjob_run(&j.w, rows_part, &j, err);
    if (st) {
        free(j.x);
        return st;
    }
    *x_out = j.x;
    return ES_OK;
}

/* ------------------------------------------------------------ silence */

static es_status silence_audio(make_ctx *c, size_t i, const float *x, size_t n, float **y_out, size_t *ny,
                               const es_aug_recipe **spec, es_error *err)
{
    *spec = NULL;
    if (n == 0) return es_fail(err, ES_ERR_FORMAT, "noise recording has no samples");
    size_t len = c->pad ? c->pad : n;
    float *y = malloc((len + 1) * sizeof(float));
    if (!y) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    float g = (float)pow(10.0, c->gain_db[i] / 20.0);
    for (size_t t = 0, p = (size_t)(c->pos[i] % n); t < len; t++, p = p + 1 == n ? 0 : p + 1) {
        float v = roundf(x[p] * g);
        y[t] = v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : v;
    }
    *y_out = y;
    *ny = len;
    return ES_OK;
}

static es_status make_silence(void *ctx, size_t i, const float *x, size_t n, float **emb, size_t *k, es_error *err)
{
    make_ctx *c = ctx;
    const es_aug_recipe *r = NULL;
    float *y = NULL;
    size_t ny = 0;
    es_status s = silence_audio(c, i, x, n, &y, &ny, &r, err);
    if (s) return s;
    s = embed_masked(c, NULL, y, ny, emb, k, err);
    free(y);
    return s;
}

es_status es_silence_embed(es_engine *e, const char *cache_dir, const char *const *noise, size_t nnoise, size_t count,
                           uint64_t seed, double pad_to, es_embed_mode mode, size_t window, const es_row_maker *net,
                           float **x_out, size_t *hits, es_progress_fn progress, void *user, es_error *err)
{
    *x_out = NULL;
    if (hits) *hits = 0;
    if (!e || (count && (!noise || !nnoise))) return es_fail(err, ES_ERR_ARG, "es_silence_embed: invalid arguments");
    if (count == 0) {
        *x_out = malloc(sizeof(float));
        return *x_out ? ES_OK : es_fail(err, ES_ERR_NOMEM, "out of memory");
    }
    make_ctx c;
    es_status s = init_ctx(&c, e, pad_to, noise, nnoise, err);
    if (s) return s;
    c.mode = mode;
    c.net = net;
    size_t m = count;
    size_t *file_of = malloc(m * sizeof(size_t));
    char **tags = calloc(m, sizeof(char *));
    c.gain_db = calloc(m, sizeof(double));
    c.pos = calloc(m, sizeof(uint64_t));
    if (!file_of || !tags || !c.gain_db || !c.pos) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    es_rng rng;
    es_rng_seed(&rng, seed ^ 0x51e7ce51e7ceULL);
    for (size_t j = 0; j < m; j++) {
        uint64_t f = es_rng_next(&rng), pos = es_rng_next(&rng) >> 1;
        float u = es_rng_uniform(&rng), v = es_rng_uniform(&rng);
        file_of[j] = (size_t)(f % nnoise);
        c.pos[j] = pos;
        c.gain_db[j] = u < 0.1f ? -80.0 : round(-40.0 * v * 100) / 100;
        char tag[128];
        locale_t was = es_c_locale_push();   /* a cache key: "gain=-12.34" in every locale */
        snprintf(tag, sizeof tag, "silence v1 pos=%llu gain=%.2f", (unsigned long long)pos, c.gain_db[j]);
        es_c_locale_pop(was);
        if (!(tags[j] = strdup(tag))) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    }
    s = embed_windows(&c, cache_dir, noise, nnoise, file_of, tags, m, make_silence, silence_audio, "silence",
                      "silence slice", window, x_out, hits, progress, user, err);
out:
    for (size_t j = 0; tags && j < m; j++) free(tags[j]);
    free(tags);
    free(file_of);
    free_ctx(&c);
    return s;
}

/* ------------------------------------------------------------ wake word */

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

float es_wake_threshold(const float *p_wake, const int *is_wake, size_t n, double target_fa, double *fa, double *recall)
{
    size_t nneg = 0, npos = 0;
    for (size_t i = 0; i < n; i++) { if (is_wake[i]) npos++; else nneg++; }
    float t = 0.5f;
    float *neg = malloc((nneg + 1) * sizeof(float));
    if (neg && nneg) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) if (!is_wake[i]) neg[k++] = p_wake[i];
        qsort(neg, nneg, sizeof(float), cmp_desc);
        /* accept p >= t: at most `allowed` negatives may reach t, so t sits
         * just above the (allowed+1)-th highest negative score */
        size_t allowed = (size_t)floor(target_fa * (double)nneg + 1e-9);
        if (allowed < nneg) {
            float above = nextafterf(neg[allowed], 2.0f);
            if (above > t) t = above;
        }
    }
    free(neg);
    size_t fa_n = 0, tp = 0;
    for (size_t i = 0; i < n; i++) {
        if (p_wake[i] < t) continue;
        if (is_wake[i]) tp++; else fa_n++;
    }
    if (fa) *fa = nneg ? (double)fa_n / (double)nneg : NAN;
    if (recall) *recall = npos ? (double)tp / (double)npos : NAN;
    return t;
}

/* ------------------------------------------------------------ in training */


void es_train_ext_free(es_train_ext *x)
{
    if (!x) return;
    for (size_t i = 0; i < x->n_noise_own; i++) free(x->noise_own[i]);
    free(x->noise_own);
    free(x->lab_buf);
    memset(x, 0, sizeof *x);
}

/* Append m rows of x[m][in] with label y to (*X, *Y, *n). */
static es_status append_rows(float **X, int **Y, size_t *n, const float *x, const int *ys, int y, size_t m, size_t in,
                             es_error *err)
{
    if (m == 0) return ES_OK;
    float *nx = realloc(*X, ((*n + m) * in + 1) * sizeof(float));
    if (!nx) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    *X = nx;
    int *ny = realloc(*Y, (*n + m + 1) * sizeof(int));
    if (!ny) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    *Y = ny;
    memcpy(nx + *n * in, x, m * in * sizeof(float));
    for (size_t i = 0; i < m; i++) ny[*n + i] = ys ? ys[i] : y;
    *n += m;
    return ES_OK;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Without noise recordings the _silence_ class is still made, from
 * generated noise: without it a head has never seen a window with no word
 * in it, and a detector running it fires on silence (it did, on the
 * README's demo). Two files of 10 s, pink and brown noise at about -45 dBFS
 * RMS, are written once into the embedding cache folder as 16-bit WAV, so
 * that slices of them are keyed and cached like those of recordings; a
 * fixed seed makes their bytes, and so their keys, the same every time. */
static es_status generated_noise(es_engine *e, const char *cache_dir, es_train_ext *x, es_error *err)
{
    es_cache *c = es_cache_open(cache_dir, e, err);
    if (!c) return err ? err->status : ES_ERR_IO;
    static const char *names[2] = {"generated-noise-v1-pink.wav", "generated-noise-v1-brown.wav"};
    static const es_noise_color colors[2] = {ES_NOISE_PINK, ES_NOISE_BROWN};
    enum { N = 10 * ES_SAMPLE_RATE };
    es_status s = ES_OK;
    float *y = malloc(N * sizeof(float));
    unsigned char *wav = malloc(44 + 2 * (size_t)N);
    x->noise_own = calloc(2, sizeof(char *));
    if (!y || !wav || !x->noise_own) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (int k = 0; k < 2 && !s; k++) {
        size_t len = strlen(es_cache_dir(c)) + strlen(names[k]) + 2;
        char *path = malloc(len);
        if (!path) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); break; }
        snprintf(path, len, "%s/%s", es_cache_dir(c), names[k]);
        x->noise_own[x->n_noise_own++] = path;
        es_rng rng;
        es_rng_seed(&rng, 0x5113ce0000ULL + (uint64_t)k);
        if ((s = es_noise_generate(y, N, colors[k], &rng, err))) break;
        /* RMS 1 -> -45 dBFS in int16 scale; a canonical 44-byte header */
        const float g = 32768.0f * 0.005623f;
        static const unsigned char hdr[44] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E', 'f', 'm', 't', ' ',
                                              16, 0, 0, 0, 1, 0, 1, 0, 0x80, 0x3e, 0, 0, 0, 0x7d, 0, 0,
                                              2, 0, 16, 0, 'd', 'a', 't', 'a', 0, 0, 0, 0};
        memcpy(wav, hdr, 44);
        uint32_t data = 2u * (uint32_t)N, riff = 36u + data;
        for (int b = 0; b < 4; b++) { wav[4 + b] = (unsigned char)(riff >> (8 * b)); wav[40 + b] = (unsigned char)(data >> (8 * b)); }
        for (size_t i = 0; i < (size_t)N; i++) {
            float v = roundf(y[i] * g);
            int16_t q = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
            wav[44 + 2 * i] = (unsigned char)((uint16_t)q & 0xff);
            wav[45 + 2 * i] = (unsigned char)((uint16_t)q >> 8);
        }
        /* the same bytes every time: rewrite only when missing or different */
        unsigned char *old = NULL;
        size_t olen = 0;
        es_error ignore = {0};
        int same = !es_read_file(path, &old, &olen, &ignore) && olen == 44 + 2 * (size_t)N && !memcmp(old, wav, olen);
        free(old);
        if (!same) s = es_write_atomic(path, wav, 44 + 2 * (size_t)N, err);
    }
out:
    free(y);
    free(wav);
    es_cache_close(c);
    if (!s) {
        x->noise = x->noise_own;
        x->nnoise = x->n_noise_own;
        x->silence_generated = 1;
    }
    return s;
}

void es_aug_ranges_from_opts(const es_train_opts *o, es_aug_ranges *g)
{
    es_aug_ranges_default(g);
    g->p_noise = g->p_gain = g->p_shift = g->p_speed = o->aug_p;
    g->snr_lo = o->aug_snr[0];
    g->snr_hi = o->aug_snr[1];
    g->gain_lo = o->aug_gain[0];
    g->gain_hi = o->aug_gain[1];
    g->speed_lo = o->aug_speed[0];
    g->speed_hi = o->aug_speed[1];
    g->shift_max = (long)(o->aug_shift_ms * ES_SAMPLE_RATE / 1000.0 + 0.5);
    g->p_spec = o->specaugment ? 1.0 : 0.0;
}

es_status es_train_extend(es_engine *e, const es_train_opts *o, char **dlabels, size_t dnlabels, char **dnoise,
                          size_t dnnoise, const char *const *tpaths, size_t per_label, size_t window,
                          const es_row_maker *net, float **xt, int **yt, size_t *nt, float **xv, int **yv, size_t *nv,
                          es_train_ext *x, es_train_result *r, es_progress_fn progress, void *user, es_error *err)
{
    memset(x, 0, sizeof *x);
    x->wake = x->silence = -1;
    r->threshold = NAN;
    r->threshold_fa = r->threshold_recall = NAN;
    size_t in = net ? net->row : window * ES_EMB_DIM, nt0 = *nt;
    es_status s;
    x->noise = dnoise;
    x->nnoise = dnnoise;
    if (o->noise_dir) {
        if ((s = es_dataset_scan_audio(o->noise_dir, &x->noise_own, &x->n_noise_own, err))) return s;
        x->noise = x->noise_own;
        x->nnoise = x->n_noise_own;
    }
    if (!(x->lab_buf = calloc(dnlabels + 2, sizeof(char *)))) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    for (size_t l = 0; l < dnlabels; l++) x->lab_buf[l] = dlabels[l];
    x->labels = x->lab_buf;
    x->nlabels = dnlabels;
    int wake = -1;
    if (o->wake_word) {
        for (size_t l = 0; l < dnlabels; l++) if (!strcmp(dlabels[l], o->wake_word)) wake = (int)l;
        if (wake < 0) return es_fail(err, ES_ERR_ARG, "%s: --wake-word '%s' is not one of its labels", o->data_dir, o->wake_word);
    }

    /* augmented variants of the chosen training clips (never of validation) */
    if (o->augment > 0 && nt0) {
        es_aug_ranges g;
        es_aug_ranges_from_opts(o, &g);
        double t0 = now_s();
        float *xa = NULL;
        s = es_aug_embed(e, o->cache_dir, tpaths, nt0, o->augment, &g, (const char *const *)x->noise, x->nnoise, o->seed,
                         o->pad_to, o->frontend, window, net, &xa, &r->aug_hits, progress, user, err);
        if (s) return s;
        size_t na = nt0 * (size_t)o->augment;
        int *ya = malloc((na + 1) * sizeof(int));
        if (!ya) { free(xa); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
        for (size_t i = 0; i < na; i++) ya[i] = (*yt)[i / (size_t)o->augment];
        s = append_rows(xt, yt, nt, xa, ya, 0, na, in, err);
        free(xa);
        free(ya);
        if (s) return s;
        r->n_aug = na;
        r->aug_seconds = now_s() - t0;
    }

    /* the _silence_ class: as many windows as the largest label trains on
     * (augmented variants included), and the average label's share of
     * validation */
    if (o->silence && !x->nnoise && (s = generated_noise(e, o->cache_dir, x, err))) return s;
    if (o->silence && x->nnoise) {
        size_t ntr = per_label * (size_t)(1 + (o->augment > 0 ? o->augment : 0));
        size_t nva = *nv ? (*nv + dnlabels / 2) / dnlabels : 0;
        if (nva == 0 && *nv) nva = 1;
        float *xs = NULL;
        s = es_silence_embed(e, o->cache_dir, (const char *const *)x->noise, x->nnoise, ntr + nva, o->seed, o->pad_to,
                             o->frontend, window, net, &xs, NULL, progress, user, err);
        if (s) return s;
        int lab = (int)x->nlabels;
        s = append_rows(xt, yt, nt, xs, NULL, lab, ntr, in, err);
        if (!s) s = append_rows(xv, yv, nv, xs + ntr * in, NULL, lab, nva, in, err);
        free(xs);
        if (s) return s;
        x->silence = lab;
        x->lab_buf[x->nlabels++] = ES_LABEL_SILENCE;
        r->n_silence_train = ntr;
        r->n_silence_val = nva;
        r->silence_generated = x->silence_generated;
    }

    /* binary wake-word mode: the word against everything else */
    if (wake >= 0) {
        for (size_t i = 0; i < *nt; i++) (*yt)[i] = (*yt)[i] == wake;
        for (size_t i = 0; i < *nv; i++) (*yv)[i] = (*yv)[i] == wake;
        x->lab_buf[0] = ES_LABEL_OTHER;
        x->lab_buf[1] = dlabels[wake];
        x->nlabels = 2;
        x->wake = 1;
        x->silence = -1;
    }
    return ES_OK;
}

char *es_train_aug_card(const es_train_opts *o, const es_train_ext *x, const es_train_result *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "variants_per_clip", o->augment > 0 ? o->augment : 0);
    if (o->augment > 0) {
        cJSON_AddStringToObject(j, "applied_to", o->finetune || o->scratch
                                                     ? "training clips only, as variants computed once per run "
                                                       "through the frozen layers (SpecAugment on the window's log-mel)"
                                                     : "training clips only, as cached variants (frozen encoder)");
        cJSON_AddNumberToObject(j, "probability_each", o->aug_p);
        cJSON *a;
        a = cJSON_AddArrayToObject(j, "snr_db");
        cJSON_AddItemToArray(a, cJSON_CreateNumber(o->aug_snr[0]));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(o->aug_snr[1]));
        a = cJSON_AddArrayToObject(j, "gain_db");
        cJSON_AddItemToArray(a, cJSON_CreateNumber(o->aug_gain[0]));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(o->aug_gain[1]));
        a = cJSON_AddArrayToObject(j, "speed");
        cJSON_AddItemToArray(a, cJSON_CreateNumber(o->aug_speed[0]));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(o->aug_speed[1]));
        cJSON_AddNumberToObject(j, "shift_ms", o->aug_shift_ms);
        if (o->specaugment) {
            es_aug_ranges g;
            es_aug_ranges_default(&g);
            char sa[128];
            snprintf(sa, sizeof sa, "%d frequency masks <= %d bins, %d time masks <= %d frames, filled with the mean",
                     g.freq_masks, g.freq_width, g.time_masks, g.time_width);
            cJSON_AddStringToObject(j, "specaugment", sa);
        } else {
            cJSON_AddFalseToObject(j, "specaugment");
        }
        cJSON_AddNumberToObject(j, "rows", (double)r->n_aug);
    }
    char noise[512];
    /* with no recordings, nnoise counts the two generated files (pink and
     * brown) that the silence class is cut from: not recordings */
    if (x->nnoise && !x->silence_generated)
        snprintf(noise, sizeof noise, "%zu recordings from %s (generated white/pink/brown noise for 25%% of noisy variants)",
                 x->nnoise, o->noise_dir ? o->noise_dir : "the dataset's " ES_DIR_NOISE "/");
    else
        snprintf(noise, sizeof noise, "generated white/pink/brown noise (no noise recordings)");
    cJSON_AddStringToObject(j, "noise", noise);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* ------------------------------------------------------- other talk */

/* Windows of file f at every hop that see only the audio: the
 * [first, last] window starts, or none when a clip padded to pad_to (its
 * centre window is already a row) is all there is. */
int es_clip_is_talk(size_t count, double pad_to, int stream)
{
    size_t padded = es_encoder_count(es_mel_frames(pad_to > 0 ? (size_t)(pad_to * ES_SAMPLE_RATE + 0.5) : 0));
    return count > padded + es_window_skip(stream) + 2;
}

static size_t talk_span(size_t count, size_t window, int stream, double pad_to, int short_centre, size_t *first)
{
    size_t skip = es_window_skip(stream);
    if (count < window + skip) return 0;
    /* a clip no longer than pad_to is padded: its windows off the centre
     * are mostly silence, not talk */
    if (!es_clip_is_talk(count, pad_to, stream)) {
        *first = es_centre_offset(count, window, stream);
        return short_centre ? 1 : 0;
    }
    *first = skip;
    return (count - skip - window) / ES_TALK_HOP + 1;
}

struct es_talk {
    es_cache *cache;
    double pad_to;
    size_t window, nf, total, files;
    char **neg;                /* scanned from negatives_dir (owned) */
    size_t nneg;
    const char **paths;        /* unk[] then neg[] */
    size_t *first, *nwin;      /* per file */
};

void es_talk_free(es_talk *t)
{
    if (!t) return;
    es_cache_close(t->cache);
    for (size_t i = 0; i < t->nneg; i++) free(t->neg[i]);
    free(t->neg);
    free(t->paths);
    free(t->first);
    free(t->nwin);
    free(t);
}

size_t es_talk_total(const es_talk *t) { return t ? t->total : 0; }
size_t es_talk_files(const es_talk *t) { return t ? t->files : 0; }

/* A batch of files at a time: one long recording is ~17 MB of embeddings
 * an hour, so hours of talk are never all in memory. */
enum { TALK_BATCH = 16 };

typedef es_status (*talk_fn)(void *ctx, size_t f, size_t g0, const float *emb, size_t count, es_error *err);

/* The embeddings of the files, a batch at a time, to fn(ctx, file, number
 * of its first window, ...); want (NULL = every file) leaves files out,
 * and a batch with none wanted is not read. Window numbers count every
 * file's windows all the same. */
static es_status talk_walk(es_talk *t, const unsigned char *want, void (*prog)(void *, size_t, size_t, size_t), void *pu,
                           talk_fn fn, void *ctx, es_error *err)
{
    float *embs[TALK_BATCH];
    size_t counts[TALK_BATCH], g = 0;
    es_status s = ES_OK;
    for (size_t b = 0; b < t->nf && !s; b += TALK_BATCH) {
        size_t m = t->nf - b < TALK_BATCH ? t->nf - b : TALK_BATCH, w = 0;
        for (size_t i = 0; i < m; i++) w += !want || want[b + i];
        if (!w) {
            for (size_t i = 0; i < m; i++) g += t->nwin[b + i];
            continue;
        }
        memset(embs, 0, sizeof embs);
        s = es_cache_embed_many(t->cache, t->paths + b, m, t->pad_to, embs, counts, NULL, prog, pu, err);
        for (size_t i = 0; !s && i < m; i++) {
            if (!want || want[b + i]) s = fn(ctx, b + i, g, embs[i], counts[i], err);
            g += t->nwin[b + i];
        }
        for (size_t i = 0; i < m; i++) free(embs[i]);
    }
    return s;
}

typedef struct { es_talk *t; int stream; size_t nunk; } scan_ctx;

static es_status scan_file(void *ctx, size_t f, size_t g0, const float *emb, size_t count, es_error *err)
{
    (void)g0; (void)emb; (void)err;
    scan_ctx *c = ctx;
    c->t->nwin[f] = talk_span(count, c->t->window, c->stream, c->t->pad_to, f >= c->nunk, &c->t->first[f]);
    c->t->total += c->t->nwin[f];
    c->t->files += c->t->nwin[f] > 0;
    return ES_OK;
}

es_status es_talk_open(es_engine *e, const es_train_opts *o, const char *const *unk, size_t nunk, size_t window,
                       es_talk **out, es_progress_fn progress, void *user, es_error *err)
{
    *out = NULL;
    es_talk *t = calloc(1, sizeof *t);
    if (!t) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_status s = ES_OK;
    t->pad_to = o->pad_to;
    t->window = window;
    if (o->negatives_dir && (s = es_dataset_scan_audio(o->negatives_dir, &t->neg, &t->nneg, err))) goto fail;
    t->nf = nunk + t->nneg;
    t->paths = malloc((t->nf + 1) * sizeof(char *));
    t->first = calloc(t->nf + 1, sizeof(size_t));
    t->nwin = calloc(t->nf + 1, sizeof(size_t));
    if (!t->paths || !t->first || !t->nwin) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto fail; }
    for (size_t i = 0; i < nunk; i++) t->paths[i] = unk[i];
    for (size_t i = 0; i < t->nneg; i++) t->paths[nunk + i] = t->neg[i];
    if (!t->nf) { *out = t; return ES_OK; }
    if (!(t->cache = es_cache_open(o->cache_dir, e, err))) { s = err ? err->status : ES_ERR_IO; goto fail; }
    es_cache_set_mode(t->cache, o->frontend);
    scan_ctx c = {t, o->frontend == ES_EMBED_STREAM, nunk};
    stage_prog sp = {progress, user, "other talk", 0, 0, 0, 0};
    if ((s = talk_walk(t, NULL, on_prog, &sp, scan_file, &c, err))) goto fail;
    *out = t;
    return ES_OK;
fail:
    es_talk_free(t);
    return s;
}

typedef struct {
    es_talk *t;
    const size_t *pick; size_t npick, next;   /* es_talk_rows: sorted window numbers */
    float *rows;
    es_talk_each_fn each;                     /* es_talk_each: every window */
    void *user;
    float *buf;
} rows_ctx;

static es_status copy_file(void *ctx, size_t f, size_t g0, const float *emb, size_t count, es_error *err)
{
    rows_ctx *c = ctx;
    size_t in = c->t->window * ES_EMB_DIM, n = c->t->nwin[f];
    if (!n) return ES_OK;
    if (c->t->first[f] + (n - 1) * ES_TALK_HOP + c->t->window > count)
        return es_fail(err, ES_ERR_IO, "%s: its embeddings changed while training", c->t->paths[f]);
    if (c->each) {
        float *nb = realloc(c->buf, (n * in + 1) * sizeof(float));
        if (!nb) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        c->buf = nb;
        for (size_t k = 0; k < n; k++)
            memcpy(c->buf + k * in, emb + (c->t->first[f] + k * ES_TALK_HOP) * ES_EMB_DIM, in * sizeof(float));
        return c->each(c->user, g0, c->buf, n, err);
    }
    for (; c->next < c->npick && c->pick[c->next] < g0 + n; c->next++) {
        size_t k = c->pick[c->next] - g0;
        memcpy(c->rows + c->next * in, emb + (c->t->first[f] + k * ES_TALK_HOP) * ES_EMB_DIM, in * sizeof(float));
    }
    return ES_OK;
}

es_status es_talk_rows(es_talk *t, const size_t *pick, size_t npick, float *rows, es_error *err)
{
    if (!npick) return ES_OK;
    for (size_t i = 1; i < npick; i++)
        if (pick[i] <= pick[i - 1]) return es_fail(err, ES_ERR_ARG, "es_talk_rows: window numbers must increase");
    if (pick[npick - 1] >= t->total) return es_fail(err, ES_ERR_ARG, "es_talk_rows: no window %zu", pick[npick - 1]);
    unsigned char *want = calloc(t->nf + 1, 1);
    if (!want) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    /* a file none of whose windows is picked is not read again */
    for (size_t f = 0, g = 0, j = 0; f < t->nf; g += t->nwin[f++])
        for (; j < npick && pick[j] < g + t->nwin[f]; j++) want[f] = 1;
    rows_ctx c = {.t = t, .pick = pick, .npick = npick, .rows = rows};
    es_status s = talk_walk(t, want, NULL, NULL, copy_file, &c, err);
    free(want);
    if (!s && c.next != npick) s = es_fail(err, ES_ERR_IO, "the talk's windows changed while training");
    return s;
}

es_status es_talk_each(es_talk *t, es_talk_each_fn fn, void *user, es_error *err)
{
    rows_ctx c = {.t = t, .each = fn, .user = user};
    es_status s = talk_walk(t, NULL, NULL, NULL, copy_file, &c, err);
    free(c.buf);
    return s;
}

size_t es_talk_spread(size_t total, size_t want, const unsigned char *skip, size_t *pick)
{
    /* among the windows not skipped, the first at or past each of `want`
     * equal steps */
    size_t avail = 0, kept = 0, seen = 0;
    for (size_t g = 0; g < total; g++) avail += !(skip && skip[g]);
    if (want > avail) want = avail;
    for (size_t g = 0; g < total && kept < want; g++) {
        if (skip && skip[g]) continue;
        if (seen++ >= (size_t)((double)kept * (double)avail / (double)want)) pick[kept++] = g;
    }
    return kept;
}

es_status es_train_talk(es_engine *e, const es_train_opts *o, const char *const *unk, size_t nunk, size_t window, int y,
                        float **xt, int **yt, size_t *nt, es_talk **talk, es_train_result *r, es_progress_fn progress,
                        void *user, es_error *err)
{
    *talk = NULL;
    double t0 = now_s();
    es_talk *t = NULL;
    es_status s = es_talk_open(e, o, unk, nunk, window, &t, progress, user, err);
    if (s) return s;
    size_t total = t->total, cap = o->negatives_max > 0 ? (size_t)o->negatives_max : 0;
    size_t want = cap && total > cap ? cap : total, in = window * ES_EMB_DIM;
    size_t *pick = malloc((want + 1) * sizeof(size_t));
    float *rows = malloc((want * in + 1) * sizeof(float));
    if (!pick || !rows) s = es_fail(err, ES_ERR_NOMEM, "out of memory");
    size_t kept = s ? 0 : es_talk_spread(total, want, NULL, pick);
    if (!s) s = es_talk_rows(t, pick, kept, rows, err);
    if (!s) s = append_rows(xt, yt, nt, rows, NULL, y, kept, in, err);
    free(pick);
    free(rows);
    if (s) { es_talk_free(t); return s; }
    r->n_talk = kept;
    r->n_talk_windows = total;
    r->n_talk_files = t->files;
    r->talk_seconds = now_s() - t0;
    *talk = t;
    return ES_OK;
}
