/*
 * pipeline/train.c — transfer learning over the frozen pretrained encoder:
 * dataset -> cached embeddings -> a window per clip -> a head trained with
 * AdamW -> a .safetensors file whose metadata is the model card. Also the
 * evaluation of such a model on a labelled dataset.
 *
 * Every clip is centred in pad_to seconds of silence (2.0 by default, as in
 * the data README's reference figures), which gives 16 embeddings; longer
 * clips keep their length and contribute their centre window.
 */
#include "es_internal.h"
#include "../model/nn.h"
#include "../model/safetensors.h"
#include "cache.h"
#include "dataset.h"
#include "train_aug.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FORMAT "earshot-head-1"

void es_train_opts_default(es_train_opts *o)
{
    memset(o, 0, sizeof *o);
    es_train_cfg t = es_train_defaults();
    o->val_fraction = 0.2;
    o->seed = 1;
    o->pad_to = 2.0;
    o->window = 16;
    o->pooling = "meanmax";
    o->hidden = 128;
    o->dropout = 0.1f;
    o->epochs = t.epochs > 0 ? t.epochs : 100;
    o->batch = t.batch > 0 ? t.batch : 64;
    o->patience = 20;
    o->min_steps = 500;
    o->lr = t.lr > 0 ? t.lr : 1e-3f;
    o->weight_decay = 1e-2f;
    o->balance = "auto";
    o->aug_snr[0] = 5;
    o->aug_snr[1] = 20;
    o->aug_gain[0] = -6;
    o->aug_gain[1] = 6;
    o->aug_speed[0] = 0.9;
    o->aug_speed[1] = 1.1;
    o->aug_shift_ms = 100;
    o->aug_p = 0.8;
    o->silence = 1;
    o->target_fa = 0.01;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ classifier */

struct es_classifier {
    es_mlp *mlp;
    es_st *st;
    char **labels;
    size_t nlabels, window;
    double pad_to;
    float *thresholds;   /* [nlabels], NaN where the card has none */
    int wake;            /* binary wake-word mode: the wake word's index, else -1 */
};

void es_classifier_free(es_classifier *c)
{
    if (!c) return;
    es_mlp_free(c->mlp);
    es_st_free(c->st);
    for (size_t i = 0; i < c->nlabels; i++) free(c->labels[i]);
    free(c->labels);
    free(c->thresholds);
    free(c);
}

static es_status card_error(es_error *err, const char *path, const char *why)
{
    return es_fail(err, ES_ERR_MODEL, "%s: not an earshot model: %s", path, why);
}

es_classifier *es_classifier_load(const char *path, es_error *err)
{
    es_st *st = es_st_load(path, err);
    if (!st) return NULL;
    es_classifier *c = calloc(1, sizeof *c);
    cJSON *labels = NULL, *arch = NULL, *thr = NULL;
    if (!c) { es_st_free(st); es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    c->st = st;
    const char *fmt = es_st_meta(st, "earshot.format");
    if (!fmt || strcmp(fmt, FORMAT)) { card_error(err, path, "no earshot.format \"" FORMAT "\" in its metadata"); goto fail; }
    labels = cJSON_Parse(es_st_meta(st, "labels") ? es_st_meta(st, "labels") : "");
    arch = cJSON_Parse(es_st_meta(st, "architecture") ? es_st_meta(st, "architecture") : "");
    if (!cJSON_IsArray(labels) || cJSON_GetArraySize(labels) < 2) { card_error(err, path, "labels missing or fewer than two"); goto fail; }
    if (!cJSON_IsObject(arch)) { card_error(err, path, "architecture missing"); goto fail; }
    c->nlabels = (size_t)cJSON_GetArraySize(labels);
    c->labels = calloc(c->nlabels, sizeof(char *));
    if (!c->labels) { es_fail(err, ES_ERR_NOMEM, "out of memory"); goto fail; }
    for (size_t i = 0; i < c->nlabels; i++) {
        const cJSON *l = cJSON_GetArrayItem(labels, (int)i);
        if (!cJSON_IsString(l) || !(c->labels[i] = strdup(l->valuestring))) { card_error(err, path, "a label is not a string"); goto fail; }
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(arch, "window");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(arch, "dim");
    const cJSON *pool = cJSON_GetObjectItemCaseSensitive(arch, "pooling");
    const cJSON *hid = cJSON_GetObjectItemCaseSensitive(arch, "hidden");
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(arch, "pad_to");
    if (!cJSON_IsNumber(w) || w->valueint < 1 || w->valueint > 1024 || !cJSON_IsNumber(d) || d->valueint != ES_EMB_DIM ||
        !cJSON_IsString(pool) || !cJSON_IsArray(hid) || cJSON_GetArraySize(hid) > ES_MLP_MAX_HIDDEN || !cJSON_IsNumber(pad)) {
        card_error(err, path, "architecture incomplete (window, dim 96, pooling, hidden, pad_to)");
        goto fail;
    }
    es_mlp_cfg cfg = {0};
    cfg.window = w->valueint;
    cfg.dim = ES_EMB_DIM;
    if (es_pool_parse(pool->valuestring, &cfg.pool, err)) goto fail;
    cfg.n_hidden = cJSON_GetArraySize(hid);
    for (int i = 0; i < cfg.n_hidden; i++) {
        const cJSON *h = cJSON_GetArrayItem(hid, i);
        if (!cJSON_IsNumber(h) || h->valueint < 1 || h->valueint > 65536) { card_error(err, path, "bad hidden size"); goto fail; }
        cfg.hidden[i] = h->valueint;
    }
    cfg.n_classes = (int)c->nlabels;
    c->window = (size_t)cfg.window;
    c->pad_to = pad->valuedouble;
    /* thresholds (optional, per label) and the binary wake-word mode */
    c->wake = -1;
    if (!(c->thresholds = malloc(c->nlabels * sizeof(float)))) { es_fail(err, ES_ERR_NOMEM, "out of memory"); goto fail; }
    thr = cJSON_Parse(es_st_meta(st, "thresholds") ? es_st_meta(st, "thresholds") : "{}");
    for (size_t i = 0; i < c->nlabels; i++) {
        const cJSON *t = cJSON_IsObject(thr) ? cJSON_GetObjectItemCaseSensitive(thr, c->labels[i]) : NULL;
        c->thresholds[i] = cJSON_IsNumber(t) ? (float)t->valuedouble : NAN;
    }
    const char *mode = es_st_meta(st, "mode");
    if (mode && !strcmp(mode, "wake-word")) {
        const char *w = es_st_meta(st, "wake_word");
        for (size_t i = 0; w && i < c->nlabels; i++) if (!strcmp(c->labels[i], w)) c->wake = (int)i;
        if (c->nlabels != 2 || c->wake < 0 || !(c->thresholds[c->wake] >= 0 && c->thresholds[c->wake] <= 1)) {
            card_error(err, path, "wake-word mode needs two labels, wake_word among them and its threshold in [0, 1]");
            goto fail;
        }
    }
    if (!(c->mlp = es_mlp_create(&cfg, 0, err))) goto fail;
    /* every parameter tensor must be in the file with its shape */
    size_t np;
    float *params = es_mlp_params(c->mlp, &np);
    for (int i = 0; i < es_mlp_ntensors(c->mlp); i++) {
        const es_param_info *pi = es_mlp_tensor(c->mlp, i);
        const es_st_tensor *t = es_st_get(st, pi->name);
        int ok = t && t->ndim == pi->ndim;
        for (int k = 0; ok && k < pi->ndim; k++) ok = t->shape[k] == pi->shape[k];
        if (!ok) {
            es_fail(err, ES_ERR_MODEL, "%s: tensor '%s' is missing or has the wrong shape for its architecture", path, pi->name);
            goto fail;
        }
        memcpy(params + pi->offset, t->data, pi->count * sizeof(float));
    }
    cJSON_Delete(labels);
    cJSON_Delete(arch);
    cJSON_Delete(thr);
    return c;
fail:
    cJSON_Delete(labels);
    cJSON_Delete(arch);
    cJSON_Delete(thr);
    es_classifier_free(c);
    return NULL;
}

size_t es_classifier_classes(const es_classifier *c) { return c->nlabels; }
const char *es_classifier_label(const es_classifier *c, size_t i) { return i < c->nlabels ? c->labels[i] : NULL; }
size_t es_classifier_window(const es_classifier *c) { return c->window; }
double es_classifier_pad_to(const es_classifier *c) { return c->pad_to; }
const char *es_classifier_meta(const es_classifier *c, const char *key) { return es_st_meta(c->st, key); }

es_status es_classifier_predict(es_classifier *c, const float *emb, float *probs, es_error *err)
{
    if (!c || !emb || !probs) return es_fail(err, ES_ERR_ARG, "es_classifier_predict: invalid arguments");
    return es_mlp_predict(c->mlp, emb, 1, probs, err);
}

size_t es_classifier_decide(const es_classifier *c, const float *probs)
{
    if (c->wake >= 0) return probs[c->wake] >= c->thresholds[c->wake] ? (size_t)c->wake : (size_t)(1 - c->wake);
    size_t best = 0;
    for (size_t k = 1; k < c->nlabels; k++) if (probs[k] > probs[best]) best = k;
    return best;
}

float es_classifier_threshold(const es_classifier *c, size_t i) { return i < c->nlabels ? c->thresholds[i] : NAN; }
int es_classifier_wake(const es_classifier *c) { return c->wake; }

/* ------------------------------------------------------------ embedding */

typedef struct {
    es_progress_fn fn;
    void *user;
    size_t hits;   /* cache hits of the last embedding pass */
    size_t epochs; /* the most epochs training may run (for progress) */
} prog;

static void embed_progress(void *user, size_t done, size_t total, size_t hits)
{
    prog *p = user;
    p->hits = hits;
    if (p->fn) p->fn(p->user, "embedding", done, total);
}

/* The centre `window` embeddings of every clip: x [n][window*96]. */
static es_status embed_items(es_engine *e, const char *cache_dir, const es_dataset *d, double pad_to, size_t window,
                             float **x_out, prog *pg, es_error *err)
{
    *x_out = NULL;
    es_cache *cache = es_cache_open(cache_dir, e, err);
    if (!cache) return err ? err->status : ES_ERR_IO;
    size_t n = d->nitems;
    const char **paths = malloc((n + 1) * sizeof(char *));
    float **embs = calloc(n + 1, sizeof(float *));
    size_t *counts = calloc(n + 1, sizeof(size_t));
    float *x = malloc((n * window * ES_EMB_DIM + 1) * sizeof(float));
    es_status st = ES_OK;
    if (!paths || !embs || !counts || !x) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < n; i++) paths[i] = d->items[i].path;
    st = es_cache_embed_many(cache, paths, n, pad_to, embs, counts, NULL, embed_progress, pg, err);
    if (st) goto out;
    for (size_t i = 0; i < n; i++) {
        if (counts[i] < window) {
            st = es_fail(err, ES_ERR_ARG, "%s: %zu embeddings, fewer than the window of %zu (pad_to %.2f s is too short)",
                         paths[i], counts[i], window, pad_to);
            goto out;
        }
        size_t off = (counts[i] - window) / 2;
        memcpy(x + i * window * ES_EMB_DIM, embs[i] + off * ES_EMB_DIM, window * ES_EMB_DIM * sizeof(float));
    }
out:
    for (size_t i = 0; embs && i < n; i++) free(embs[i]);
    free(embs);
    free(counts);
    free(paths);
    es_cache_close(cache);
    if (st) { free(x); return st; }
    *x_out = x;
    return ES_OK;
}

/* ------------------------------------------------------------ training */

static void train_progress(void *user, int epoch, float tl, float vl, float va)
{
    (void)tl; (void)vl; (void)va;
    prog *p = user;
    if (p->fn) p->fn(p->user, "training", (size_t)epoch, p->epochs);
}

static char *json_print(cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

es_status es_train_head(es_engine *e, const es_train_opts *o, const char *out_path, es_train_result *r,
                        es_progress_fn progress, void *user, es_error *err)
{
    memset(r, 0, sizeof *r);
    r->val_acc = r->val_bal_acc = NAN;
    if (!e || !o || !o->data_dir || !out_path) return es_fail(err, ES_ERR_ARG, "es_train_head: invalid arguments");
    if (o->window < 1 || o->window > 256) return es_fail(err, ES_ERR_ARG, "window must be from 1 to 256 embeddings");
    if (o->pad_to < 0.775 + 0.08 * (o->window - 1) - 1e-9)
        return es_fail(err, ES_ERR_ARG, "pad_to %.2f s is too short for a window of %d embeddings (needs %.2f s)",
                       o->pad_to, o->window, 0.775 + 0.08 * (o->window - 1));
    es_dataset *d = NULL, *vd = NULL;
    float *x = NULL, *xv = NULL, *xt = NULL;
    int *yt = NULL, *yv = NULL;
    unsigned char *isval = NULL;
    es_mlp *m = NULL;
    char **mk = NULL, **mv = NULL;
    es_st_tensor *tensors = NULL;
    es_train_ext ext = {0};
    const char **tpaths = NULL;
    float *probs = NULL;
    es_status st;
    size_t skipped = 0;
    prog pg = {progress, user, 0, 0};
    if ((st = es_dataset_scan(o->data_dir, o->pattern, &d, &skipped, err))) goto out;
    if (o->val_dir) {
        if ((st = es_dataset_scan(o->val_dir, o->pattern, &vd, &skipped, err))) goto out;
        if ((st = es_dataset_remap(vd, d, err))) goto out;
        snprintf(r->split, sizeof r->split, "explicit validation folder %s (%zu clips)", o->val_dir, vd->nitems);
    }
    isval = calloc(d->nitems + 1, 1);
    if (!isval) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    if (!vd && o->val_fraction > 0 &&
        (st = es_dataset_split(d, o->val_fraction, o->seed, isval, r->split, sizeof r->split, err)))
        goto out;
    if (!vd && !(o->val_fraction > 0)) snprintf(r->split, sizeof r->split, "none: every clip trains");

    double t0 = now_s();
    size_t W = (size_t)o->window, in = W * ES_EMB_DIM;
    if ((st = embed_items(e, o->cache_dir, d, o->pad_to, W, &x, &pg, err))) goto out;
    r->cache_hits = pg.hits;
    if (vd && (st = embed_items(e, o->cache_dir, vd, o->pad_to, W, &xv, &pg, err))) goto out;
    r->embed_seconds = now_s() - t0;
    r->n_files = d->nitems + (vd ? vd->nitems : 0);

    /* training rows: not held out, at most `shots` per label (seeded pick) */
    size_t n = d->nitems, nt = 0, nv = 0;
    xt = malloc((n * in + 1) * sizeof(float));
    yt = malloc((n + 1) * sizeof(int));
    if (!vd) { xv = malloc((n * in + 1) * sizeof(float)); }
    yv = malloc(((vd ? vd->nitems : n) + 1) * sizeof(int));
    size_t *order = malloc((n + 1) * sizeof(size_t)), *taken = calloc(d->nlabels + 1, sizeof(size_t));
    tpaths = malloc((n + 1) * sizeof(char *));   /* the training clips, for augmentation */
    if (!xt || !yt || !xv || !yv || !order || !taken || !tpaths) {
        free(order); free(taken);
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        goto out;
    }
    es_rng rng;
    es_rng_seed(&rng, o->seed ^ 0x5eed5eedULL);
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n; i > 1; i--) {   /* Fisher-Yates, so shots are a random pick */
        size_t j = (size_t)es_rng_below(&rng, i);
        size_t t = order[i - 1]; order[i - 1] = order[j]; order[j] = t;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        int lab = d->items[i].label;
        if (!vd && isval[i]) {
            memcpy(xv + nv * in, x + i * in, in * sizeof(float));
            yv[nv++] = lab;
        } else if (o->shots <= 0 || taken[lab] < (size_t)o->shots) {
            taken[lab]++;
            tpaths[nt] = d->items[i].path;
            memcpy(xt + nt * in, x + i * in, in * sizeof(float));
            yt[nt++] = lab;
        }
    }
    free(order);
    if (vd) { for (size_t i = 0; i < vd->nitems; i++) yv[i] = vd->items[i].label; nv = vd->nitems; }
    for (size_t l = 0; l < d->nlabels; l++)
        if (!taken[l]) {
            free(taken);
            st = es_fail(err, ES_ERR_ARG, "%s: label '%s' has no training clip (all of its clips are in the validation part)",
                         o->data_dir, d->labels[l]);
            goto out;
        }
    size_t per_label = 0;
    for (size_t l = 0; l < d->nlabels; l++) if (taken[l] > per_label) per_label = taken[l];
    free(taken);

    /* augmented variants, the _silence_ class, the wake-word relabelling */
    if ((st = es_train_extend(e, o, d->labels, d->nlabels, d->noise, d->nnoise, tpaths, per_label, W, &xt, &yt, &nt, &xv,
                              &yv, &nv, &ext, r, progress, user, err)))
        goto out;
    r->n_train = nt;
    r->n_val = nv;
    r->n_labels = ext.nlabels;

    es_mlp_cfg cfg = {0};
    cfg.window = o->window;
    cfg.dim = ES_EMB_DIM;
    if ((st = es_pool_parse(o->pooling ? o->pooling : "meanmax", &cfg.pool, err))) goto out;
    cfg.n_hidden = o->hidden > 0 ? 1 : 0;
    cfg.hidden[0] = o->hidden;
    cfg.dropout = o->dropout;
    cfg.n_classes = (int)ext.nlabels;
    if (!(m = es_mlp_create(&cfg, o->seed, err))) { st = err ? err->status : ES_ERR_NOMEM; goto out; }
    es_train_cfg tc = es_train_defaults();
    tc.epochs = o->epochs;
    /* With a handful of clips an epoch is one batch: 100 epochs would be
     * 100 steps, far too few (1 shot per label gave 0.52 instead of 0.79
     * on FSDD). Take at least min_steps steps. */
    if (o->min_steps > 0 && o->batch > 0) {
        long per_epoch = (long)((nt + (size_t)o->batch - 1) / (size_t)o->batch);
        if ((long)tc.epochs * per_epoch < o->min_steps)
            tc.epochs = (int)((o->min_steps + per_epoch - 1) / per_epoch);
    }
    tc.batch = o->batch;
    tc.lr = o->lr;
    tc.weight_decay = o->weight_decay;
    tc.seed = o->seed;
    tc.patience = nv ? o->patience : 0;
    const char *bal = o->balance ? o->balance : "auto";
    tc.balance = !strcmp(bal, "none") ? ES_BALANCE_NONE : !strcmp(bal, "sample") ? ES_BALANCE_SAMPLE
               : !strcmp(bal, "weight") ? ES_BALANCE_WEIGHT : ES_BALANCE_AUTO;
    es_train_report rep;
    pg.epochs = (size_t)tc.epochs;
    double t1 = now_s();
    if ((st = es_train(m, xt, yt, nt, nv ? xv : NULL, yv, nv, &tc, &rep, train_progress, &pg, err))) goto out;
    r->train_seconds = now_s() - t1;
    r->val_acc = rep.val_acc;
    r->val_bal_acc = rep.val_bal_acc;
    r->best_epoch = rep.best_epoch;
    r->epochs_run = rep.epochs_run;
    snprintf(r->balance, sizeof r->balance, "%s", es_balance_name(rep.balance));
    if (ext.wake >= 0) {
        /* the decision threshold on p(wake), from the validation scores */
        probs = malloc((2 * nv + 1) * sizeof(float));
        float *pw = malloc((nv + 1) * sizeof(float));
        if (!probs || !pw) { free(pw); st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
        if (nv && (st = es_mlp_predict(m, xv, nv, probs, err))) { free(pw); goto out; }
        for (size_t i = 0; i < nv; i++) pw[i] = probs[2 * i + (size_t)ext.wake];
        r->threshold = es_wake_threshold(pw, yv, nv, o->target_fa, &r->threshold_fa, &r->threshold_recall);
        free(pw);
    }

    /* ---- the model card */
    cJSON *jl = cJSON_CreateArray();
    for (size_t l = 0; l < ext.nlabels; l++) cJSON_AddItemToArray(jl, cJSON_CreateString(ext.labels[l]));
    cJSON *ja = cJSON_CreateObject();
    cJSON_AddStringToObject(ja, "type", cfg.n_hidden ? "mlp" : "linear");
    cJSON_AddNumberToObject(ja, "window", cfg.window);
    cJSON_AddNumberToObject(ja, "dim", ES_EMB_DIM);
    cJSON_AddStringToObject(ja, "pooling", es_pool_name(cfg.pool));
    cJSON *jh = cJSON_AddArrayToObject(ja, "hidden");
    for (int i = 0; i < cfg.n_hidden; i++) cJSON_AddItemToArray(jh, cJSON_CreateNumber(cfg.hidden[i]));
    cJSON_AddNumberToObject(ja, "dropout", cfg.dropout);
    cJSON_AddNumberToObject(ja, "pad_to", o->pad_to);
    cJSON *jf = cJSON_CreateObject();
    cJSON_AddNumberToObject(jf, "sample_rate", ES_SAMPLE_RATE);
    cJSON_AddStringToObject(jf, "mel", "melspectrogram.onnx, whole clip, top-dB 80, x/10+2");
    cJSON_AddStringToObject(jf, "input", "int16-quantized, clip centred in pad_to seconds of silence");
    cJSON *jt = cJSON_CreateObject();
    if (ext.wake >= 0) cJSON_AddNumberToObject(jt, ext.labels[ext.wake], r->threshold);
    else for (size_t l = 0; l < ext.nlabels; l++) cJSON_AddNumberToObject(jt, ext.labels[l], 0.5);
    cJSON *jd = cJSON_CreateObject();
    cJSON_AddStringToObject(jd, "dir", o->data_dir);
    if (o->pattern) cJSON_AddStringToObject(jd, "pattern", o->pattern);
    cJSON_AddNumberToObject(jd, "train_clips", (double)nt);
    cJSON_AddNumberToObject(jd, "val_clips", (double)nv);
    if (o->shots > 0) cJSON_AddNumberToObject(jd, "shots_per_label", o->shots);
    cJSON *jc = cJSON_AddObjectToObject(jd, "clips_per_label");
    for (size_t l = 0; l < d->nlabels; l++) {
        size_t c = 0;
        for (size_t i = 0; i < d->nitems; i++) c += d->items[i].label == (int)l;
        cJSON_AddNumberToObject(jc, d->labels[l], (double)c);
    }
    if (ext.silence >= 0) {
        cJSON_AddNumberToObject(jc, ES_LABEL_SILENCE, (double)(r->n_silence_train + r->n_silence_val));
        cJSON_AddStringToObject(jd, "silence", "noise slices, pad_to seconds each, 1 in 10 at -80 dB, "
                                               "else -40..0 dB");
    }
    if (r->n_aug) cJSON_AddNumberToObject(jd, "augmented_train_rows", (double)r->n_aug);
    cJSON *jm = cJSON_CreateObject();
    if (nv) {
        cJSON_AddNumberToObject(jm, "val_accuracy", rep.val_acc);
        cJSON_AddNumberToObject(jm, "val_balanced_accuracy", rep.val_bal_acc);
        cJSON_AddNumberToObject(jm, "val_loss", rep.val_loss);
    }
    cJSON_AddNumberToObject(jm, "train_loss", rep.train_loss);
    cJSON_AddNumberToObject(jm, "best_epoch", rep.best_epoch);
    cJSON_AddNumberToObject(jm, "epochs_run", rep.epochs_run);
    if (ext.wake >= 0) {
        char rule[160];
        snprintf(rule, sizeof rule, "smallest threshold >= 0.5 with validation false accepts <= %g", o->target_fa);
        cJSON_AddStringToObject(jm, "threshold_rule", rule);
        cJSON_AddNumberToObject(jm, "threshold", r->threshold);
        if (!isnan(r->threshold_fa)) cJSON_AddNumberToObject(jm, "val_false_accept", r->threshold_fa);
        if (!isnan(r->threshold_recall)) cJSON_AddNumberToObject(jm, "val_recall", r->threshold_recall);
    }
    cJSON *jtr = cJSON_CreateObject();
    cJSON_AddStringToObject(jtr, "mode", "feature extraction (encoder frozen)");
    cJSON_AddNumberToObject(jtr, "seed", (double)o->seed);
    cJSON_AddNumberToObject(jtr, "epochs", o->epochs);
    cJSON_AddNumberToObject(jtr, "batch", o->batch);
    cJSON_AddNumberToObject(jtr, "lr", o->lr);
    cJSON_AddNumberToObject(jtr, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(jtr, "patience", o->patience);
    cJSON_AddStringToObject(jtr, "balance", es_balance_name(rep.balance));
    cJSON_AddStringToObject(jtr, "optimizer", "AdamW, cosine schedule");
    char seed_s[32];
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)o->seed);
    const char *keys[] = {"earshot.format", "earshot.version", "labels", "architecture", "frontend", "encoder_sha256",
                          "melspectrogram_sha256", "thresholds", "data", "split", "metrics", "training", "seed",
                          "mode", "augmentation", "synthesis", "wake_word"};
    enum { NMETA_ALL = sizeof keys / sizeof keys[0] };
    mk = calloc(NMETA_ALL, sizeof(char *));
    mv = calloc(NMETA_ALL, sizeof(char *));
    if (!mk || !mv) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    char *vals[NMETA_ALL] = {strdup(FORMAT), strdup(ES_VERSION), json_print(jl), json_print(ja), json_print(jf),
                         strdup(es_engine_encoder_sha256(e)), strdup(es_engine_mel_sha256(e)), json_print(jt),
                         json_print(jd), strdup(r->split), json_print(jm), json_print(jtr), strdup(seed_s),
                         strdup(ext.wake >= 0 ? "wake-word" : "multi-class"), es_train_aug_card(o, &ext, r),
                         o->data_note ? strdup(o->data_note) : NULL,
                         ext.wake >= 0 ? strdup(ext.labels[ext.wake]) : NULL};
    /* "synthesis" only for synthetic data, "wake_word" only in that mode */
    int skip[NMETA_ALL] = {0};
    skip[NMETA_ALL - 2] = !o->data_note;
    skip[NMETA_ALL - 1] = ext.wake < 0;
    int NMETA = 0;
    for (int i = 0; i < NMETA_ALL; i++) {
        if (skip[i]) continue;
        mk[NMETA] = (char *)keys[i];
        mv[NMETA] = vals[i];
        if (!vals[i]) st = ES_ERR_NOMEM;
        NMETA++;
    }
    if (st) { for (int i = 0; i < NMETA; i++) free(mv[i]); st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    int nt_ = es_mlp_ntensors(m);
    tensors = calloc((size_t)nt_ + 1, sizeof *tensors);
    size_t np;
    float *params = es_mlp_params(m, &np);
    for (int i = 0; tensors && i < nt_; i++) {
        const es_param_info *pi = es_mlp_tensor(m, i);
        tensors[i].name = pi->name;
        tensors[i].ndim = pi->ndim;
        for (int k = 0; k < pi->ndim; k++) tensors[i].shape[k] = pi->shape[k];
        tensors[i].data = params + pi->offset;
    }
    if (!tensors) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
    else st = es_st_write(out_path, tensors, (size_t)nt_, (const char *const *)mk, (const char *const *)mv, (size_t)NMETA, err);
    for (int i = 0; i < NMETA; i++) free(mv[i]);
out:
    free(mk); free(mv); free(tensors);
    free(tpaths); free(probs);
    es_train_ext_free(&ext);
    es_mlp_free(m);
    free(x); free(xv); free(xt); free(yt); free(yv); free(isval);
    es_dataset_free(d);
    es_dataset_free(vd);
    return st;
}

/* ------------------------------------------------------------ evaluation */

void es_eval_result_free(es_eval_result *r)
{
    if (!r) return;
    for (size_t i = 0; r->labels && i < r->n_labels; i++) free(r->labels[i]);
    free(r->labels);
    free(r->confusion);
    free(r->precision);
    free(r->recall);
    free(r->f1);
    memset(r, 0, sizeof *r);
}

es_status es_eval(es_engine *e, const char *model_path, const char *data_dir, const char *pattern, const char *cache_dir,
                  es_eval_result *r, es_progress_fn progress, void *user, es_error *err)
{
    memset(r, 0, sizeof *r);
    es_classifier *c = es_classifier_load(model_path, err);
    if (!c) return err ? err->status : ES_ERR_MODEL;
    const char *enc = es_classifier_meta(c, "encoder_sha256");
    if (!enc || strcmp(enc, es_engine_encoder_sha256(e))) {
        es_classifier_free(c);
        return es_fail(err, ES_ERR_MODEL, "%s: was trained on another encoder (sha256 %.12s..., this one is %.12s...)",
                       model_path, enc ? enc : "unknown", es_engine_encoder_sha256(e));
    }
    es_dataset *d = NULL;
    float *x = NULL, *probs = NULL;
    size_t skipped = 0, K = c->nlabels;
    prog pg = {progress, user, 0, 0};
    es_status st = es_dataset_scan(data_dir, pattern, &d, &skipped, err);
    if (st) goto out;
    if ((st = embed_items(e, cache_dir, d, c->pad_to, c->window, &x, &pg, err))) goto out;
    /* A model with a _silence_ class (or a wake-word model, whose negatives
     * include silence) is also scored on slices of the dataset's own
     * background noise, one label's worth (seeded apart from training's). */
    int sil = -1;
    for (size_t k = 0; k < K; k++) if (!strcmp(c->labels[k], ES_LABEL_SILENCE)) sil = (int)k;
    size_t nsil = 0;
    if ((sil >= 0 || c->wake >= 0) && d->nnoise) {
        nsil = (d->nitems + d->nlabels / 2) / d->nlabels;
        if (!nsil) nsil = 1;
        float *xs = NULL;
        if ((st = es_silence_embed(e, cache_dir, (const char *const *)d->noise, d->nnoise, nsil, 0xe7a1e7a1ULL, c->pad_to,
                                   c->window, &xs, NULL, progress, user, err)))
            goto out;
        size_t in = c->window * ES_EMB_DIM;
        float *nx = realloc(x, ((d->nitems + nsil) * in + 1) * sizeof(float));
        if (!nx) { free(xs); st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
        x = nx;
        memcpy(x + d->nitems * in, xs, nsil * in * sizeof(float));
        free(xs);
    }
    r->n_labels = K;
    r->labels = calloc(K, sizeof(char *));
    r->confusion = calloc(K * K, sizeof(size_t));
    r->precision = calloc(K, sizeof(double));
    r->recall = calloc(K, sizeof(double));
    r->f1 = calloc(K, sizeof(double));
    probs = malloc(K * sizeof(float));
    if (!r->labels || !r->confusion || !r->precision || !r->recall || !r->f1 || !probs) {
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < K; k++)
        if (!(r->labels[k] = strdup(c->labels[k]))) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    int unk = -1;
    for (size_t k = 0; k < K; k++) if (!strcmp(c->labels[k], "_unknown_")) unk = (int)k;
    size_t correct = 0, n_unk = 0, unk_fa = 0;
    for (size_t i = 0; i < d->nitems + nsil; i++) {
        const char *name = i < d->nitems ? d->labels[d->items[i].label] : ES_LABEL_SILENCE;
        int truth = -1;
        for (size_t k = 0; k < K; k++) if (!strcmp(c->labels[k], name)) truth = (int)k;
        if (truth < 0 && c->wake >= 0) truth = 1 - c->wake;   /* wake-word mode: everything else is "other" */
        if (truth < 0) { r->skipped++; continue; }
        if ((st = es_classifier_predict(c, x + i * c->window * ES_EMB_DIM, probs, err))) goto out;
        size_t best = es_classifier_decide(c, probs);
        r->confusion[(size_t)truth * K + best]++;
        r->n++;
        correct += best == (size_t)truth;
        if (!strcmp(name, ES_LABEL_UNKNOWN) && (unk >= 0 || c->wake >= 0)) {
            n_unk++;
            unk_fa += c->wake >= 0 ? (int)best == c->wake : (int)best != unk;
        }
    }
    r->accuracy = r->n ? (double)correct / (double)r->n : NAN;
    r->unknown_false_accept = n_unk ? (double)unk_fa / (double)n_unk : NAN;
    for (size_t k = 0; k < K; k++) {
        size_t tp = r->confusion[k * K + k], pred = 0, truth = 0;
        for (size_t j = 0; j < K; j++) { pred += r->confusion[j * K + k]; truth += r->confusion[k * K + j]; }
        r->precision[k] = pred ? (double)tp / (double)pred : NAN;
        r->recall[k] = truth ? (double)tp / (double)truth : NAN;
        double p = r->precision[k], q = r->recall[k];
        r->f1[k] = (p + q > 0) ? 2 * p * q / (p + q) : (isnan(p) || isnan(q) ? NAN : 0.0);
    }
out:
    free(x);
    free(probs);
    es_dataset_free(d);
    es_classifier_free(c);
    if (st) es_eval_result_free(r);
    return st;
}
