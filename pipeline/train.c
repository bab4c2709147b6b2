/*
 * pipeline/train.c — transfer learning over the frozen pretrained encoder:
 * dataset -> cached embeddings -> a window per clip -> a head trained with
 * AdamW -> a .safetensors file whose metadata is the model card. Also the
 * evaluation of such a model on a labelled dataset.
 *
 * Every clip is centred in pad_to seconds of silence (2.0 by default, as in
 * the data README's reference figures), which gives 16 embeddings; longer
 * clips keep their length and contribute their centre window.
 *
 * Features are computed the way the streaming detector computes them
 * (ES_EMBED_STREAM: log-mel per 1280-sample chunk with its own top-dB
 * clamp) unless the options ask for whole-clip features; the model card
 * records which ("frontend": {"mode": ...}). Whole-clip features make
 * silence look different: the zero padding sits 80 dB under the clip's
 * peak there, at the -100 dB floor in a streamed chunk of zeros.
 */
#include "es_internal.h"
#include "../model/nn.h"
#include "../model/safetensors.h"
#include "../model/conv.h"
#include "../model/onnx.h"
#include "cache.h"
#include "classifier.h"
#include "dataset.h"
#include "train_aug.h"
#include "adapt.h"
#include "feat.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FORMAT "earshot-head-1"

void es_train_opts_default(es_train_opts *o)
{
    if (!o) return;   /* as es_load_opts_default: nothing to fill */
    memset(o, 0, sizeof *o);
    es_train_cfg t = es_train_defaults();
    o->val_fraction = 0.2;
    o->seed = 1;
    o->pad_to = 2.0;
    /* 8 embeddings (0.64 s of centres around the clip's) with mean+std
     * pooling: on a 4-speaker subset of FSDD (2 train / 2 held-out
     * speakers, 6 splits x 2 seeds, `earshot train --learning-curve`) this
     * took 1 shot from 0.731 to 0.756, 2 shots 0.826 -> 0.849, 5 shots
     * 0.881 -> 0.884, all 0.909 -> 0.920 against 16 with mean+max: a
     * shorter window sees less of the silence around short words. */
    o->window = 8;
    o->pooling = "meanstd";
    o->hidden = 128;
    o->dropout = 0.1f;
    o->epochs = t.epochs > 0 ? t.epochs : 100;
    o->batch = t.batch > 0 ? t.batch : 64;
    o->patience = 20;
    o->min_steps = 500;
    o->lr = t.lr > 0 ? t.lr : 1e-3f;
    o->weight_decay = 1e-2f;
    o->balance = "auto";
    o->augment = -1;   /* auto: see es_aug_auto */
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
    o->frontend = ES_EMBED_STREAM;
    /* The learning curve's classifier (pipeline/feat.c), the same by
     * default in the curve and in a saved model: every clip at 4 sub-step
     * offsets x 5 window positions (examples in training, averaged in
     * es_eval and es_classifier_predict_audio) and 3 heads averaged. On the
     * 4-speaker FSDD subset (george, jackson, lucas, nicolas; 2/2 splits,
     * 6 splits x 2 seeds, 5 positions, 3 heads) 1 / 2 / 5 / 20 shots / all
     * gave, by offsets: 1: 0.741 0.839 0.878 0.908 0.902; 2: 0.761 0.841
     * 0.884 0.913 0.909; 4: 0.771 0.850 0.890 0.917 0.914; 8: 0.775 0.851
     * 0.892 0.917 0.916. 4 keeps nearly all of 8's gain at half the cost:
     * each offset is one more encoder pass over every clip (cached), in
     * training and in es_eval. --shifts 1 trains as fast as before, and
     * the default, auto (-1), uses 4 only where clips are few
     * (es_shifts_auto in train_aug.h). */
    o->shifts = -1;
    /* the clip's copies at speeds 0.9 and 1.1 (averaged in prediction) and
     * through the other front end: auto, likewise where clips are few
     * (es_speed_perturb_auto, es_frontend_copy_auto in train_aug.h) */
    o->speed_perturb = -1;
    o->frontend_copy = -1;
    o->norm = "none";
    o->proto = 0;
    o->proto_temp = 10;
    o->ensemble = 3;
    o->positions = 5;
    o->negatives_max = 20000;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ classifier */

/* The most heads of an ensemble in one model file (feat.c has the same bound). */
#define MAX_HEADS 16
/* The most speed-perturbed test-time copies a model file may name. */
#define MAX_SPEEDS 4

struct es_classifier {
    es_mlp *mlp;                  /* heads[0] */
    es_mlp *heads[MAX_HEADS];     /* an ensemble: heads with different seeds, probabilities averaged */
    int nheads;
    int shifts, positions;        /* test-time variants (architecture.shifts/positions, 1 = none) */
    int nspeeds;                  /* speed-perturbed copies averaged in too (architecture.speeds) */
    int fe_copy;                  /* and a copy through the other front end (architecture.frontend_copy) */
    double speeds[MAX_SPEEDS];
    es_st *st;
    char **labels;
    size_t nlabels, window;
    double pad_to;
    int finetune;                 /* K: the last K encoder convolutions are in st */
    const es_st_tensor **enc;     /* those tensors (pointers into st) */
    size_t nenc;
    char enc_id[65];
    es_cnn *net;                  /* the scratch baseline's CNN on the log-mel */
    float *thresholds;   /* [nlabels], NaN where the card has none */
    int wake;            /* binary wake-word mode: the wake word's index, else -1 */
    es_embed_mode mode;
    const float *means;  /* [nlabels][96]: each label's mean training embedding
                            (ES_CLASS_MEANS, in st), NaN for a label with no
                            clip; NULL in older files and for networks */
};

/* Mel frames that give `window` embeddings: 8*(window-1) + 76. */
static size_t window_frames(size_t window) { return ES_EMB_STEP * (window - 1) + ES_EMB_WINDOW; }

void es_classifier_free(es_classifier *c)
{
    if (!c) return;
    for (int k = 0; k < c->nheads; k++) es_mlp_free(c->heads[k]);
    es_cnn_free(c->net);
    free(c->enc);
    es_st_free(c->st);
    for (size_t i = 0; i < c->nlabels; i++) free(c->labels[i]);
    free(c->labels);
    free(c->thresholds);
    free(c);
}

/* Head k of an ensemble stores its tensors as "heads.<k>.<name>"; head 0
 * keeps the bare names, so a file with one head is what it always was.
 * (An older earshot refuses a file with more heads: "heads.*" is neither
 * a head nor an encoder tensor to it.) */
void es_classifier_head_tensor_name(char *dst, size_t cap, int k, const char *name)
{
    if (k == 0) snprintf(dst, cap, "%s", name);
    else snprintf(dst, cap, "heads.%d.%s", k, name);
}

static es_status card_error(es_error *err, const char *path, const char *why)
{
    return es_fail(err, ES_ERR_MODEL, "%s: not an earshot model: %s", path, why);
}

/* ------------------------------------------------------ networks in files */

/* Our conv weights are [kt*kf*ci][co]; files hold PyTorch/ONNX [co][ci][kt][kf]. */
static void w_to_file(float *dst, const float *w, int co, int ci, int kt, int kf)
{
    for (int o = 0; o < co; o++)
        for (int c = 0; c < ci; c++)
            for (int a = 0; a < kt; a++)
                for (int b = 0; b < kf; b++)
                    dst[(((size_t)o * ci + c) * kt + a) * kf + b] = w[(((size_t)a * kf + b) * ci + c) * co + o];
}

static void w_from_file(float *w, const float *src, int co, int ci, int kt, int kf)
{
    for (int o = 0; o < co; o++)
        for (int c = 0; c < ci; c++)
            for (int a = 0; a < kt; a++)
                for (int b = 0; b < kf; b++)
                    w[(((size_t)a * kf + b) * ci + c) * co + o] = src[(((size_t)o * ci + c) * kt + a) * kf + b];
}

/* The scratch baseline: 4 blocks of conv 3x3 (padding 1) + the encoder's
 * activation + max-pool 2x2 on the log-mel window [frames][32][1]. Channels
 * grow as the resolution falls, so every block costs about the same. */
static const int SCRATCH_CH[4] = {8, 16, 32, 64};
#define SCRATCH_ALPHA 0.2f
#define SCRATCH_FLOOR (-0.4f)

static int scratch_layers(es_cnn_layer *L)
{
    int n = 0;
    for (int i = 0; i < 4; i++) {
        memset(&L[n], 0, sizeof L[n]);
        L[n].co = SCRATCH_CH[i]; L[n].kt = 3; L[n].kf = 3; L[n].pt = 1; L[n].pf = 1; L[n].act = 1;
        snprintf(L[n].wname, sizeof L[n].wname, "cnn.%d.weight", n);
        snprintf(L[n].bname, sizeof L[n].bname, "cnn.%d.bias", n);
        n++;
        memset(&L[n], 0, sizeof L[n]);
        L[n].pool = 1; L[n].qt = 2; L[n].qf = 2;
        n++;
    }
    return n;
}

/* architecture.cnn of the model card */
static cJSON *cnn_json(const es_cnn *net, size_t frames)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "input", "log-mel window [frames][32][1], x/10+2 scaled");
    cJSON_AddNumberToObject(j, "frames", (double)frames);
    cJSON_AddNumberToObject(j, "leaky_relu", SCRATCH_ALPHA);
    cJSON_AddNumberToObject(j, "floor", SCRATCH_FLOOR);
    cJSON *a = cJSON_AddArrayToObject(j, "layers");
    for (int i = 0; i < es_cnn_nlayers(net); i++) {
        const es_cnn_layer *L = es_cnn_layer_at(net, i);
        cJSON *o = cJSON_CreateObject();
        if (L->pool) {
            cJSON_AddStringToObject(o, "type", "maxpool");
            int k[2] = {L->qt, L->qf};
            cJSON_AddItemToObject(o, "kernel", cJSON_CreateIntArray(k, 2));
        } else {
            cJSON_AddStringToObject(o, "type", "conv");
            cJSON_AddNumberToObject(o, "out_channels", L->co);
            int k[2] = {L->kt, L->kf}, p[2] = {L->pt, L->pf};
            cJSON_AddItemToObject(o, "kernel", cJSON_CreateIntArray(k, 2));
            cJSON_AddItemToObject(o, "padding", cJSON_CreateIntArray(p, 2));
            cJSON_AddBoolToObject(o, "activation", L->act);
        }
        cJSON_AddItemToArray(a, o);
    }
    return j;
}

static int json_int(const cJSON *o, const char *k, int i, int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (i >= 0) v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, i) : NULL;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valueint < lo || v->valueint > hi) return -1;
    *out = v->valueint;
    return 0;
}

/* Rebuild the baseline's CNN from architecture.cnn and its tensors; gives
 * the head's window (time steps out) and dim (frequency x channels out). */
static es_cnn *scratch_load(const cJSON *j, const es_st *st, const char *path, size_t window, int *hw, int *hd,
                            es_error *err)
{
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(j, "layers");
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(j, "leaky_relu"), *fl = cJSON_GetObjectItemCaseSensitive(j, "floor");
    int frames, n = cJSON_GetArraySize(ls);
    if (json_int(j, "frames", -1, 1, 100000, &frames) || (size_t)frames != window_frames(window) || !cJSON_IsArray(ls) ||
        n < 1 || n > ES_CNN_MAX_LAYERS || !cJSON_IsNumber(al) || !(al->valuedouble >= 0 && al->valuedouble <= 1) ||
        !cJSON_IsNumber(fl) || !isfinite(fl->valuedouble)) {
        card_error(err, path, "architecture.cnn incomplete (frames, layers, leaky_relu, floor)");
        return NULL;
    }
    es_cnn_layer L[ES_CNN_MAX_LAYERS];
    for (int i = 0; i < n; i++) {
        const cJSON *o = cJSON_GetArrayItem(ls, i), *t = cJSON_GetObjectItemCaseSensitive(o, "type");
        memset(&L[i], 0, sizeof L[i]);
        int ok = cJSON_IsString(t);
        if (ok && !strcmp(t->valuestring, "maxpool")) {
            L[i].pool = 1;
            ok = !json_int(o, "kernel", 0, 1, 8, &L[i].qt) && !json_int(o, "kernel", 1, 1, 8, &L[i].qf);
        } else if (ok && !strcmp(t->valuestring, "conv")) {
            const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "activation");
            ok = !json_int(o, "out_channels", -1, 1, 1024, &L[i].co) && !json_int(o, "kernel", 0, 1, 16, &L[i].kt) &&
                 !json_int(o, "kernel", 1, 1, 16, &L[i].kf) && !json_int(o, "padding", 0, 0, 15, &L[i].pt) &&
                 !json_int(o, "padding", 1, 0, 15, &L[i].pf) && cJSON_IsBool(act);
            L[i].act = cJSON_IsTrue(act);
            snprintf(L[i].wname, sizeof L[i].wname, "cnn.%d.weight", i);
            snprintf(L[i].bname, sizeof L[i].bname, "cnn.%d.bias", i);
        } else {
            ok = 0;
        }
        if (!ok) { card_error(err, path, "a layer of architecture.cnn is malformed"); return NULL; }
    }
    es_cnn *net = es_cnn_create(L, n, frames, ES_MEL_BINS, 1, (float)al->valuedouble, (float)fl->valuedouble, err);
    if (!net) return NULL;
    int To, Fo, Co;
    es_cnn_out_shape(net, &To, &Fo, &Co);
    /* the input channels of each conv, to check the tensors' shapes */
    for (int i = 0, ci = 1; i < n; i++) {
        const es_cnn_layer *l = es_cnn_layer_at(net, i);
        if (l->pool) continue;
        const es_st_tensor *tw = es_st_get(st, l->wname), *tb = es_st_get(st, l->bname);
        if (!tw || tw->ndim != 4 || tw->shape[0] != l->co || tw->shape[1] != ci || tw->shape[2] != l->kt ||
            tw->shape[3] != l->kf || !tb || tb->ndim != 1 || tb->shape[0] != l->co) {
            es_fail(err, ES_ERR_MODEL, "%s: tensor '%s' or '%s' is missing or has the wrong shape for its architecture", path,
                    l->wname, l->bname);
            es_cnn_free(net);
            return NULL;
        }
        w_from_file(es_cnn_weight(net, i, NULL), tw->data, l->co, ci, l->kt, l->kf);
        memcpy(es_cnn_bias(net, i, NULL), tb->data, (size_t)l->co * sizeof(float));
        ci = l->co;
    }
    *hw = To;
    *hd = Fo * Co;
    return net;
}

/* Embeddings es_embed_audio gives n samples without padding, in each
 * front end (stream: ES_PRIME_FRAMES of ones, then 8 frames a 1280-sample
 * chunk). */
static size_t count_at(size_t n, int stream)
{
    return stream ? es_encoder_count(ES_PRIME_FRAMES + 8 * (n / ES_CHUNK)) : es_encoder_count(es_mel_frames(n));
}

/* Whether `count` embeddings hold `positions` windows of `window` around
 * the centre, as embed_variants takes them. */
static int fits(size_t count, size_t window, int positions, int stream)
{
    size_t skip = es_window_skip(stream);
    if (count < window + skip) return 0;
    long lo = (long)es_centre_offset(count, window, stream) - (positions - 1) / 2, hi = lo + positions - 1;
    return lo >= 0 && (size_t)hi + window <= count;
}

/* The least length at which a clip fits (counts only grow with it). */
double es_pad_needed(size_t window, int positions, es_embed_mode mode, int other_too)
{
    int s = mode == ES_EMBED_STREAM;
    size_t n = 0;
    for (; n < (size_t)60 * ES_SAMPLE_RATE; n++)
        if (fits(count_at(n, s), window, positions, s) && (!other_too || fits(count_at(n, !s), window, positions, !s)))
            break;
    return (double)n / ES_SAMPLE_RATE;
}

/* Every tensor that is not the head's or the baseline's belongs to the
 * encoder (its ONNX name); a fine-tuned model must carry some, the others
 * none. Their identity keys the cache (see classifier.h). */
static es_status collect_encoder_tensors(es_classifier *c, const char *path, es_error *err)
{
    size_t n = es_st_count(c->st);
    c->enc = calloc(n + 1, sizeof *c->enc);
    if (!c->enc) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    const char *sha = es_st_meta(c->st, "encoder_sha256");
    if (!sha || strlen(sha) != 64) return card_error(err, path, "no encoder_sha256");
    size_t hlen = 64;
    for (size_t i = 0; i < n; i++) {
        const es_st_tensor *t = es_st_at(c->st, i);
        /* head.*: the head; cnn.*: the baseline; rehearsal.*: training
         * windows kept for `earshot adapt` (pipeline/adapt.h) */
        if (!strncmp(t->name, "head.", 5) || !strncmp(t->name, "heads.", 6) || !strncmp(t->name, "cnn.", 4) ||
            !strncmp(t->name, "rehearsal.", 10))
            continue;
        c->enc[c->nenc++] = t;
        size_t cnt = 1;
        for (int k = 0; k < t->ndim; k++) cnt *= (size_t)t->shape[k];
        hlen += strlen(t->name) + 1 + 40 + cnt * sizeof(float);
    }
    if (c->finetune > 0 && !c->nenc) return card_error(err, path, "fine-tuned, but carries no encoder tensors");
    if (c->finetune == 0 && c->nenc)
        return es_fail(err, ES_ERR_MODEL, "%s: tensor '%s' is neither the head's nor the encoder's fine-tuned part", path,
                       c->enc[0]->name);
    if (!c->nenc) { snprintf(c->enc_id, sizeof c->enc_id, "%s", sha); return ES_OK; }
    unsigned char *buf = malloc(hlen), *p = buf, h[32];
    if (!buf) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    memcpy(p, sha, 64); p += 64;
    for (size_t i = 0; i < c->nenc; i++) {
        const es_st_tensor *t = c->enc[i];
        size_t cnt = 1, l = strlen(t->name) + 1;
        memcpy(p, t->name, l); p += l;
        p += snprintf((char *)p, 41, "%d:%lld,%lld,%lld,%lld;", t->ndim, (long long)t->shape[0], (long long)t->shape[1],
                      (long long)t->shape[2], (long long)t->shape[3]);
        for (int k = 0; k < t->ndim; k++) cnt *= (size_t)t->shape[k];
        memcpy(p, t->data, cnt * sizeof(float)); p += cnt * sizeof(float);
    }
    es_sha256(buf, (size_t)(p - buf), h);
    free(buf);
    es_sha256_hex(h, c->enc_id);
    return ES_OK;
}

size_t es_classifier_encoder_tensor_count(const es_classifier *c) { return c ? c->nenc : 0; }
const es_st_tensor *es_classifier_encoder_tensor(const es_classifier *c, size_t i) { return c && i < c->nenc ? c->enc[i] : NULL; }
const char *es_classifier_encoder_id(const es_classifier *c) { return c->enc_id; }

const char *es_classifier_kind(const es_classifier *c, int *k)
{
    if (k) *k = c ? c->finetune : 0;
    if (!c) return NULL;
    return c->net ? "scratch" : c->finetune ? "finetune" : "frozen";
}

es_classifier *es_classifier_load(const char *path, es_error *err)
{
    if (!path || !*path) { es_fail(err, ES_ERR_ARG, "es_classifier_load: no path"); return NULL; }
    /* the pretrained wake-word heads are ONNX files: their bytes read as a
     * safetensors header length of 10^18, which tells a user nothing */
    size_t pl = strlen(path);
    if (pl > 5 && !es_ascii_casecmp(path + pl - 5, ".onnx")) {
        es_fail(err, ES_ERR_MODEL, "%s: an ONNX model (such as the pretrained wake-word heads), not a model from earshot "
                "train (.safetensors); run ONNX heads with earshot detect or transcribe", path);
        return NULL;
    }
    es_st *st = es_st_load(path, err);
    if (!st) return NULL;
    es_classifier *c = calloc(1, sizeof *c);
    cJSON *labels = NULL, *arch = NULL, *thr = NULL;
    if (!c) { es_st_free(st); es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    c->st = st;
    const char *fmt = es_st_meta(st, "earshot.format");
    int fv = 0;
    if (fmt && sscanf(fmt, "earshot-head-%d", &fv) == 1 && fv > 1) {
        /* a model of a later earshot: say so, rather than "not an earshot model" */
        es_fail(err, ES_ERR_UNSUPPORTED, "%s: a model of a newer earshot (format %s; this one reads " FORMAT "); upgrade earshot",
                path, fmt);
        goto fail;
    }
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
    const cJSON *cnn = cJSON_GetObjectItemCaseSensitive(arch, "cnn");
    const cJSON *ft = cJSON_GetObjectItemCaseSensitive(arch, "finetune");
    if (!cJSON_IsNumber(w) || w->valueint < 1 || w->valueint > 256 || !cJSON_IsNumber(d) ||
        (!cnn && d->valueint != ES_EMB_DIM) || !cJSON_IsString(pool) || !cJSON_IsArray(hid) ||
        cJSON_GetArraySize(hid) > ES_MLP_MAX_HIDDEN || !cJSON_IsNumber(pad) || !(pad->valuedouble >= 0.775 && pad->valuedouble <= 60)) {
        card_error(err, path, "architecture incomplete (window, dim 96, pooling, hidden, pad_to)");
        goto fail;
    }
    if (ft && (!cJSON_IsNumber(ft) || ft->valueint < 0 || ft->valueint > 64)) { card_error(err, path, "bad finetune"); goto fail; }
    c->finetune = ft ? ft->valueint : 0;
    es_mlp_cfg cfg = {0};
    cfg.window = w->valueint;
    cfg.dim = ES_EMB_DIM;
    if (cnn && !(c->net = scratch_load(cnn, st, path, (size_t)cfg.window, &cfg.window, &cfg.dim, err))) goto fail;
    if (es_pool_parse(pool->valuestring, &cfg.pool, NULL)) {
        es_fail(err, ES_ERR_MODEL, "%s: not an earshot model: unknown pooling '%.40s'", path, pool->valuestring);
        goto fail;
    }
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
    cJSON *fe = cJSON_Parse(es_st_meta(st, "frontend") ? es_st_meta(st, "frontend") : "");
    const cJSON *fm = cJSON_IsObject(fe) ? cJSON_GetObjectItemCaseSensitive(fe, "mode") : NULL;
    c->mode = cJSON_IsString(fm) && !strcmp(fm->valuestring, "stream") ? ES_EMBED_STREAM : ES_EMBED_WHOLE;
    cJSON_Delete(fe);
    /* the ensemble and the test-time variants; absent in older files (one
     * head, one window) */
    int nh = 1;
    c->shifts = c->positions = 1;
    if ((cJSON_GetObjectItemCaseSensitive(arch, "ensemble") && json_int(arch, "ensemble", -1, 1, MAX_HEADS, &nh)) ||
        (cJSON_GetObjectItemCaseSensitive(arch, "shifts") && json_int(arch, "shifts", -1, 1, 16, &c->shifts)) ||
        (cJSON_GetObjectItemCaseSensitive(arch, "positions") && json_int(arch, "positions", -1, 1, 15, &c->positions))) {
        card_error(err, path, "architecture.ensemble (1 to 16), shifts (1 to 16) or positions (1 to 15) out of range");
        goto fail;
    }
    /* speed-perturbed copies of a clip averaged in (--speed-perturb with
     * --perturb-test); absent in older files and by default */
    const cJSON *jsp = cJSON_GetObjectItemCaseSensitive(arch, "speeds");
    if (jsp) {
        int ok = cJSON_IsArray(jsp) && cJSON_GetArraySize(jsp) >= 1 && cJSON_GetArraySize(jsp) <= MAX_SPEEDS && !cnn;
        const cJSON *v;
        cJSON_ArrayForEach(v, jsp) {
            if (!ok) break;
            ok = cJSON_IsNumber(v) && v->valuedouble >= 0.5 && v->valuedouble <= 2.0;
            if (ok) c->speeds[c->nspeeds++] = v->valuedouble;
        }
        if (!ok) {
            card_error(err, path, "architecture.speeds must list 1 to 4 speeds from 0.5 to 2 (heads over encoder embeddings only)");
            goto fail;
        }
    }
    /* a copy through the other front end averaged in (--frontend-copy) */
    const cJSON *jfc = cJSON_GetObjectItemCaseSensitive(arch, "frontend_copy");
    if (jfc) {
        const char *want = c->mode == ES_EMBED_STREAM ? "whole" : "stream";
        if (!cJSON_IsString(jfc) || strcmp(jfc->valuestring, want) || cnn) {
            card_error(err, path, "architecture.frontend_copy must name the other front end (heads over encoder embeddings only)");
            goto fail;
        }
        c->fe_copy = 1;
    }
    /* the scratch CNN reads one log-mel window; heads over embeddings (of
     * the pretrained encoder, or of fine-tuned convolutions, as `adapt
     * --finetune` makes of an ensemble) take every variant */
    if (cnn && (nh > 1 || c->shifts > 1 || c->positions > 1)) {
        card_error(err, path, "an ensemble, shifts or positions apply to heads over encoder embeddings only");
        goto fail;
    }
    /* A card whose pad_to was enough for its training clips (longer ones)
     * may be too short for its window positions on shorter clips, which
     * would then be refused: they are padded as far as they need instead.
     * es_pad_needed is the least length that fits, so every clip that
     * fitted before is padded as before. */
    if (!cnn) {
        double need = es_pad_needed(c->window, c->positions, c->mode, c->fe_copy);
        if (c->pad_to < need) c->pad_to = need;
    }
    for (int h = 0; h < nh; h++) {
        if (!(c->heads[h] = es_mlp_create(&cfg, 0, err))) {
            es_fail_in(err, ES_ERR_MODEL, path);   /* the head's own message does not know the file */
            goto fail;
        }
        c->nheads = h + 1;
        /* every parameter tensor of every head must be in the file with its shape */
        size_t np;
        float *params = es_mlp_params(c->heads[h], &np);
        for (int i = 0; i < es_mlp_ntensors(c->heads[h]); i++) {
            const es_param_info *pi = es_mlp_tensor(c->heads[h], i);
            char name[96];
            es_classifier_head_tensor_name(name, sizeof name, h, pi->name);
            const es_st_tensor *t = es_st_get(st, name);
            int ok = t && t->ndim == pi->ndim;
            for (int k = 0; ok && k < pi->ndim; k++) ok = t->shape[k] == pi->shape[k];
            if (!ok) {
                es_fail(err, ES_ERR_MODEL, "%s: tensor '%s' is missing or has the wrong shape for its architecture", path, name);
                goto fail;
            }
            /* a NaN weight makes every score NaN, and adapt then blamed its
             * own learning rate: say where the damage is instead */
            for (size_t q = 0; q < pi->count; q++)
                if (!isfinite(t->data[q])) {
                    es_fail(err, ES_ERR_MODEL, "%s: tensor '%s' holds a value that is not finite (a damaged file?)", path, name);
                    goto fail;
                }
            memcpy(params + pi->offset, t->data, pi->count * sizeof(float));
        }
    }
    c->mlp = c->heads[0];
    c->window = (size_t)w->valueint;   /* embeddings (or, for the baseline, their frames) per input */
    const es_st_tensor *cm = es_st_get(st, ES_CLASS_MEANS);
    if (cm) {
        if (c->net || c->finetune || cm->ndim != 2 || cm->shape[0] != (int64_t)c->nlabels || cm->shape[1] != ES_EMB_DIM) {
            card_error(err, path, "tensor " ES_CLASS_MEANS " must be [labels][96], and only in a head over the pretrained encoder");
            goto fail;
        }
        /* a row is a label's mean (all finite) or no mean at all (all NaN:
         * a label with no clip); anything else would poison every offset */
        for (size_t k = 0; k < c->nlabels; k++) {
            size_t nan = 0, fin = 0;
            for (size_t j = 0; j < ES_EMB_DIM; j++) {
                float v = cm->data[k * ES_EMB_DIM + j];
                nan += isnan(v) != 0;
                fin += isfinite(v) != 0;
            }
            if (!(fin == ES_EMB_DIM || nan == ES_EMB_DIM)) {
                card_error(err, path, "tensor " ES_CLASS_MEANS " has a row neither all finite nor all NaN");
                goto fail;
            }
        }
        c->means = cm->data;
    }
    if (collect_encoder_tensors(c, path, err)) goto fail;
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

/* The public getters are NULL-safe, as the detector's are. */
size_t es_classifier_classes(const es_classifier *c) { return c ? c->nlabels : 0; }
const char *es_classifier_label(const es_classifier *c, size_t i) { return c && i < c->nlabels ? c->labels[i] : NULL; }
size_t es_classifier_window(const es_classifier *c) { return c ? c->window : 0; }
double es_classifier_pad_to(const es_classifier *c) { return c ? c->pad_to : NAN; }
es_embed_mode es_classifier_frontend(const es_classifier *c) { return c ? c->mode : ES_EMBED_WHOLE; }
const char *es_classifier_meta(const es_classifier *c, const char *key) { return c && key ? es_st_meta(c->st, key) : NULL; }

es_mlp *es_classifier_mlp(es_classifier *c) { return c->mlp; }
const float *es_classifier_class_means(const es_classifier *c) { return c->means; }
const es_st *es_classifier_st(const es_classifier *c) { return c->st; }

int es_classifier_heads(const es_classifier *c) { return c->nheads; }
es_mlp *es_classifier_head(es_classifier *c, int k) { return k >= 0 && k < c->nheads ? c->heads[k] : NULL; }
int es_classifier_shifts(const es_classifier *c) { return c->shifts; }
int es_classifier_positions(const es_classifier *c) { return c->positions; }
int es_classifier_frontend_copy(const es_classifier *c) { return c->fe_copy; }
int es_classifier_speeds(const es_classifier *c, double *speeds)
{
    for (int i = 0; speeds && i < c->nspeeds; i++) speeds[i] = c->speeds[i];
    return c->nspeeds;
}

/* The weight of variant s of a clip in its averaged probabilities: the
 * clip's own NQ variants (offsets x positions) share one part, each of the
 * nsp speed-perturbed copies (Q positions) another, all parts equal. */
static float variant_weight(size_t NQ, size_t Q, size_t nsp, size_t s)
{
    return 1.0f / (float)(s < NQ ? NQ : Q) / (float)(1 + nsp);
}

/* probs [n][K]: the mean of the heads' probabilities for x [n][in] */
static es_status heads_predict(es_mlp *const *heads, int nh, const float *x, size_t n, size_t K, float *probs,
                               es_error *err)
{
    if (nh == 1) return es_mlp_predict(heads[0], x, n, probs, err);
    float *p = malloc((n * K + 1) * sizeof(float));
    if (!p) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    memset(probs, 0, n * K * sizeof(float));
    es_status st = ES_OK;
    for (int k = 0; k < nh && !st; k++) {
        if ((st = es_mlp_predict(heads[k], x, n, p, err))) break;
        for (size_t i = 0; i < n * K; i++) probs[i] += p[i] / (float)nh;
    }
    free(p);
    return st;
}

es_status es_classifier_predict_rows(es_classifier *c, const float *x, size_t n, float *probs, es_error *err)
{
    if (!c || (!x && n) || !probs) return es_fail(err, ES_ERR_ARG, "es_classifier_predict_rows: invalid arguments");
    if (c->net)
        return es_fail(err, ES_ERR_UNSUPPORTED, "the from-scratch baseline reads log-mel, not embeddings "
                                                "(use es_classifier_predict_audio)");
    return n ? heads_predict(c->heads, c->nheads, x, n, c->nlabels, probs, err) : ES_OK;
}

es_status es_classifier_predict(es_classifier *c, const float *emb, float *probs, es_error *err)
{
    if (!c || !emb || !probs) return es_fail(err, ES_ERR_ARG, "es_classifier_predict: invalid arguments");
    return es_classifier_predict_rows(c, emb, 1, probs, err);
}

size_t es_classifier_decide(const es_classifier *c, const float *probs)
{
    if (!c || !probs) return 0;
    if (c->wake >= 0) return probs[c->wake] >= c->thresholds[c->wake] ? (size_t)c->wake : (size_t)(1 - c->wake);
    size_t best = 0;
    for (size_t k = 1; k < c->nlabels; k++) if (probs[k] > probs[best]) best = k;
    return best;
}

float es_classifier_threshold(const es_classifier *c, size_t i) { return c && i < c->nlabels ? c->thresholds[i] : NAN; }
int es_classifier_wake(const es_classifier *c) { return c ? c->wake : -1; }

/* ------------------------------------------------------------ embedding */

typedef struct {
    es_progress_fn fn;
    void *user;
    size_t hits;   /* cache hits of the last embedding pass */
    size_t epochs; /* the most epochs training may run (for progress) */
    size_t n_long; /* _unknown_ clips longer than pad_to (embed_variants) */
    double long_max;   /* the longest, in seconds */
    size_t n_long_word;     /* clips of the other labels longer than pad_to ... */
    double long_word_max;   /* ... the longest, in seconds ... */
    const char *long_word;  /* ... and the first of them (a path of the dataset) */
} prog;

/* The windows of clips at every test-time variant, as the learning curve
 * takes them (pipeline/feat.c). Variant s = sh * positions + q of a clip
 * is the audio delayed by sh * 80 ms / shifts against the encoder's 80 ms
 * grid (es_cache_embed_var) and the window moved by q - (positions-1)/2
 * embeddings from the centre; every offset takes its window where the
 * unshifted audio has its centre. Variant (positions-1)/2 is the plain
 * centre window: in stream mode the centre of those that see only the
 * clip, which for a 2 s clip and 16 embeddings is the window the
 * streaming detector scores when the clip's last chunk arrives. After
 * those shifts x positions variants come nspeeds speed-perturbed copies of
 * the clip (es_cache_embed_var: tempo and pitch, as the learning curve's
 * --speed-perturb makes them), each unshifted at every position around its
 * own centre, and with fe_copy one copy through the other front end
 * (whole-clip log-mel for stream features and vice versa), likewise:
 * (shifts + nspeeds + fe_copy) x positions variants in all, one encoder
 * pass (sh) per group of positions.
 *
 * The encoder's output for a whole clip (25 embeddings, 9.6 KB for 2 s)
 * is three times the window it gives (8 embeddings), and a dataset's
 * worth of them held at once was a third of what training held per clip
 * (105k Speech Commands clips: 1 GB). So each pass runs EMBED_CHUNK clips
 * at a time, keeps only their windows, and frees the rest before the next
 * chunk; where a window goes (or nowhere) the caller says. The passes run
 * in the order they always did (every clip of a pass, then the next
 * pass), and a failure is reported as one pass over every clip reported
 * it: the first failing file of the pass with how many more failed, else
 * the first clip whose embeddings are too few. */
#define EMBED_CHUNK 512
static size_t g_embed_chunk = EMBED_CHUNK;

size_t es_train_embed_chunk(size_t clips)
{
    size_t was = g_embed_chunk;
    if (clips) g_embed_chunk = clips;
    return was;
}

typedef struct {
    es_cache *cache;
    const es_dataset *d;
    double pad_to;
    size_t window;
    es_embed_mode mode;
    int shifts, positions, nspeeds, fe_copy;
    const double *speeds;
    prog *pg;
    /* where variant s of the k-th clip run goes (window*96 floats), or
     * NULL: not kept (its embeddings are still made and checked) */
    float *(*dest)(void *user, size_t s, size_t k);
    void *user;
    /* progress: "embedding" at base + (off + done) / div of total, where
     * off counts the clips embedded before this chunk: in this pass (div
     * 1, each pass counts up to total, as one call per pass did), or in
     * the run, all its div passes together (div > 1: a batch of clips
     * counted as done once every pass has run over it) */
    size_t base, div, total, off;
    size_t hits0;   /* the pass's cache hits before this chunk */
} vemb;

static void vemb_progress(void *user, size_t done, size_t total, size_t hits)
{
    (void)total;
    vemb *v = user;
    v->pg->hits = v->hits0 + hits;   /* the pass's hits so far, as one call over every clip counted them */
    if (v->pg->fn) v->pg->fn(v->pg->user, "embedding", v->base + (v->off + done) / v->div, v->total);
}

/* The number of variants a run makes of each clip */
static size_t vemb_variants(const vemb *v)
{
    return (size_t)(v->shifts + v->nspeeds + v->fe_copy) * (size_t)v->positions;
}

/* Every variant of the m clips items[0..m) (NULL: items 0..m-1 of v->d)
 * to v->dest, passes in sh order; the notes on long clips (pg->n_long...)
 * are counted from pass 0. pg->hits ends as the last pass's cache hits. */
static es_status vemb_run(vemb *v, const size_t *items, size_t m, es_error *err)
{
    const es_dataset *d = v->d;
    size_t window = v->window, row = window * ES_EMB_DIM, chunk = m < g_embed_chunk ? m : g_embed_chunk;
    int positions = v->positions, shifts = v->shifts, nspeeds = v->nspeeds;
    const char **paths = malloc((chunk + 1) * sizeof(char *));
    float **embs = calloc(chunk + 1, sizeof(float *));
    size_t *counts = calloc(chunk + 1, sizeof(size_t)), *off = calloc(m + 1, sizeof(size_t));
    es_status *fst = calloc(chunk + 1, sizeof(es_status));
    es_status st = ES_OK;
    if (!paths || !embs || !counts || !off || !fst) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    int unk = -1;
    for (size_t l = 0; l < d->nlabels; l++) if (!strcmp(d->labels[l], ES_LABEL_UNKNOWN)) unk = (int)l;
    for (int sh = 0; sh < shifts + nspeeds + v->fe_copy; sh++) {
        /* sh >= shifts: a copy, unshifted: at speeds[sh - shifts], then
         * through the other front end */
        int cp = sh >= shifts, other = sh >= shifts + nspeeds;
        es_embed_mode md = other ? (v->mode == ES_EMBED_STREAM ? ES_EMBED_WHOLE : ES_EMBED_STREAM) : v->mode;
        es_cache_set_mode(v->cache, md);
        int stream = md == ES_EMBED_STREAM;
        size_t skip = es_window_skip(stream), failed = 0;
        es_error first = {0}, bad = {0};   /* the pass's first failing file; its first clip with too few embeddings */
        v->hits0 = 0;
        for (size_t c0 = 0; c0 < m; c0 += chunk) {
            size_t b = m - c0 < chunk ? m - c0 : chunk;
            for (size_t j = 0; j < b; j++) paths[j] = d->items[items ? items[c0 + j] : c0 + j].path;
            es_error ce = {0};
            v->off = (v->div > 1 ? (size_t)sh * m : 0) + c0;
            es_status s = es_cache_embed_many_var(v->cache, paths, b, v->pad_to, cp ? 0 : sh * ES_CHUNK / shifts,
                                                  cp && !other ? v->speeds[sh - shifts] : 1.0, embs, counts, fst,
                                                  vemb_progress, v, &ce);
            v->hits0 = v->pg->hits;
            if (s) {
                size_t k = 0;
                for (size_t j = 0; j < b; j++) k += fst[j] != ES_OK;
                if (!k) k = 1;   /* a failure of the call itself */
                if (!failed) {
                    first = ce;
                    if (!first.status) first.status = s;
                    (void)es_cache_more_cut(first.msg, "files");
                }
                failed += k;
            }
            /* after a failure the rest of the pass is still embedded (and
             * cached), as one call over every clip would have, to tell
             * how many failed; nothing more is kept */
            for (size_t j = 0; !failed && !bad.status && j < b; j++) {
                size_t k = c0 + j, i = items ? items[k] : k;
                if (sh == 0 || cp) {
                    if (counts[j] < window + skip) {
                        es_fail(&bad, ES_ERR_ARG, "%s: %zu embeddings, fewer than the window of %zu (pad_to %.2f s is too short)",
                                paths[j], counts[j] - (counts[j] < skip ? counts[j] : skip), window, v->pad_to);
                        break;
                    }
                    off[k] = es_centre_offset(counts[j], window, stream);   /* a copy has its own length */
                }
                prog *pg = v->pg;
                if (sh == 0 && unk >= 0 && d->items[i].label == unk && es_clip_is_talk(counts[j], v->pad_to, stream)) {
                    /* long other talk: one decision by its centre window says
                     * little of it (es_eval_result.n_long_unknown) */
                    pg->n_long++;
                    double sec = (double)(counts[j] - skip - 1) * 0.08 + 0.775;
                    if (sec > pg->long_max) pg->long_max = sec;
                } else if (sh == 0 && d->items[i].label != unk && es_clip_is_talk(counts[j], v->pad_to, stream)) {
                    /* a word's clip longer than the padding: one window at
                     * its centre is all that trains, labelled as the word. A
                     * 10-minute recording left in a label folder trained as
                     * one take of the word without a word said (train) */
                    if (!pg->n_long_word++) pg->long_word = d->items[i].path;
                    double sec = (double)(counts[j] - skip - 1) * 0.08 + 0.775;
                    if (sec > pg->long_word_max) pg->long_word_max = sec;
                }
                for (int q = 0; q < positions; q++) {
                    long o0 = (long)off[k] + q - (positions - 1) / 2;
                    if (o0 < 0 || counts[j] < (size_t)o0 + window) {
                        es_fail(&bad, ES_ERR_ARG,
                                "%s: %zu embeddings, too few for %d positions of a window of %zu (pad_to %.2f s is too short)",
                                paths[j], counts[j], positions, window, v->pad_to);
                        break;
                    }
                    float *dst = v->dest(v->user, (size_t)sh * (size_t)positions + (size_t)q, k);
                    if (dst) memcpy(dst, embs[j] + (size_t)o0 * ES_EMB_DIM, row * sizeof(float));
                }
            }
            for (size_t j = 0; j < b; j++) { free(embs[j]); embs[j] = NULL; }
        }
        if (failed) { st = es_cache_more_fail(err, first.status, first.msg, failed, "files"); goto out; }
        if (bad.status) { st = es_fail(err, bad.status, "%s", bad.msg); goto out; }
    }
out:
    for (size_t j = 0; embs && j < chunk; j++) free(embs[j]);
    free(embs);
    free(counts);
    free(off);
    free(fst);
    free(paths);
    return st;
}

static void vemb_reset_notes(prog *pg)
{
    pg->n_long = 0;
    pg->long_max = 0;
    pg->n_long_word = 0;
    pg->long_word_max = 0;
    pg->long_word = NULL;
}

typedef struct { float *x; size_t n, row; } dense_dest;

static float *dense_row(void *user, size_t s, size_t k)
{
    dense_dest *dd = user;
    return dd->x + (s * dd->n + k) * dd->row;
}

/* Every clip of d at every variant: x [S][n][window*96] (see vemb), from
 * an open cache */
static es_status embed_variants_in(es_cache *cache, const es_dataset *d, double pad_to, size_t window,
                                   es_embed_mode mode, int shifts, int positions, int nspeeds, const double *speeds,
                                   int fe_copy, float **x_out, prog *pg, es_error *err)
{
    *x_out = NULL;
    vemb v = {cache, d, pad_to, window, mode, shifts, positions, nspeeds, fe_copy, speeds, pg, dense_row, NULL,
              0, 1, d->nitems, 0, 0};
    size_t n = d->nitems, row = window * ES_EMB_DIM, S = vemb_variants(&v);
    dense_dest dd = {malloc((S * n * row + 1) * sizeof(float)), n, row};
    v.user = &dd;
    vemb_reset_notes(pg);
    es_status st = dd.x ? vemb_run(&v, NULL, n, err) : es_fail(err, ES_ERR_NOMEM, "out of memory");
    if (st) { free(dd.x); return st; }
    *x_out = dd.x;
    return ES_OK;
}

/* The same, from the cache in cache_dir */
static es_status embed_variants(es_engine *e, const char *cache_dir, const es_dataset *d, double pad_to, size_t window,
                                es_embed_mode mode, int shifts, int positions, int nspeeds, const double *speeds,
                                int fe_copy, float **x_out, prog *pg, es_error *err)
{
    *x_out = NULL;
    es_cache *cache = es_cache_open(cache_dir, e, err);
    if (!cache) return err ? err->status : ES_ERR_IO;
    es_status st = embed_variants_in(cache, d, pad_to, window, mode, shifts, positions, nspeeds, speeds, fe_copy, x_out,
                                     pg, err);
    es_cache_close(cache);
    return st;
}

/* The centre `window` embeddings of every clip: x [n][window*96]. */
static es_status embed_items(es_engine *e, const char *cache_dir, const es_dataset *d, double pad_to, size_t window,
                             es_embed_mode mode, float **x_out, prog *pg, es_error *err)
{
    return embed_variants(e, cache_dir, d, pad_to, window, mode, 1, 1, 0, NULL, 0, x_out, pg, err);
}

/* ------------------------------------------------------ log-mel inputs */

/* The log-mel frames of a clip's centre window, exactly the frames the
 * embeddings of the frozen path come from: the clip centred in pad_to
 * seconds, whole-clip front end, then frames [8*off, 8*off + 8*(W-1)+76)
 * for the centre `window` embeddings. out: [window_frames(window)][32]. */
static es_status clip_mel(es_engine *e, const float *x, size_t n, double pad_to, es_embed_mode mode, size_t window,
                          float *out, const char *name, es_error *err)
{
    es_embed_opts eo = {.mode = mode, .pad_to = pad_to};
    float *mel = NULL;
    size_t frames = 0;
    es_status st = es_embed_audio(e, x, n, &eo, &mel, &frames, NULL, NULL, err);
    if (st) return st;
    /* so that the window lines up with the stream embeddings */
    if (mode == ES_EMBED_STREAM && (st = es_mel_prime_stream(&mel, &frames, err))) return st;
    size_t count = es_encoder_count(frames);
    int stream = mode == ES_EMBED_STREAM;
    if (count < window + es_window_skip(stream)) {
        free(mel);
        return es_fail(err, ES_ERR_ARG, "%s: %zu embeddings, fewer than the window of %zu (pad_to %.2f s is too short)",
                       name, count, window, pad_to);
    }
    /* the frames of the same window the frozen path takes (embed_items) */
    size_t off = es_centre_offset(count, window, stream) * ES_EMB_STEP;
    memcpy(out, mel + off * ES_MEL_BINS, window_frames(window) * ES_MEL_BINS * sizeof(float));
    free(mel);
    return ES_OK;
}

/* A clip (or a pad_to window of augmented audio) into the network's input
 * row: its centre window's log-mel (K = 0) or the activation at the input
 * of the last K encoder convolutions, after spec's SpecAugment masks on
 * the window's log-mel when given. prep_items runs it on every clip, and
 * train_aug (as an es_row_maker) on every variant. */
typedef struct {
    es_engine *e;
    double pad_to;
    es_embed_mode mode;
    size_t window;
    int K;
} net_row_ctx;

static es_status net_row(void *ctx, const float *y, size_t n, const es_aug_recipe *spec, float *row, const char *name,
                         es_error *err)
{
    net_row_ctx *c = ctx;
    size_t fw = window_frames(c->window);
    float *mel = c->K ? malloc(fw * ES_MEL_BINS * sizeof(float)) : row;
    if (!mel) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_status st = clip_mel(c->e, y, n, c->pad_to, c->mode, c->window, mel, name, err);
    if (!st && spec) es_aug_apply_mel(spec, mel, fw, ES_MEL_BINS);
    if (!st && c->K) st = es_encoder_head_part(es_engine_encoder(c->e), c->K, mel, (int)fw, row, err);
    if (c->K) free(mel);
    return st;
}

/* What the trainable network reads, for every clip of a dataset: the
 * log-mel window (K = 0, the scratch baseline) or the activation at the
 * input of the last K encoder convolutions (fine-tuning). The layers below
 * stay frozen, so this is computed once per clip, not once per step. */
typedef struct {
    es_engine *e;
    const es_dataset *d;
    double pad_to;
    es_embed_mode mode;
    size_t window, row;
    int K;
    float *x;
    /* with dest, clip i's row goes to dest(duser, i), and when that is
     * NULL nowhere (it is still made: a clip that cannot be read fails
     * the run all the same) */
    float *(*dest)(void *duser, size_t i);
    void *duser;
    /* with items, the job's k-th clip is items[k] of d (its row at x + k *
     * row); else the k-th of d */
    const size_t *items;
    es_rowjob w;   /* w.n = the clips */
} prep_job;

static void prep_part(void *p, int part)
{
    (void)part;
    prep_job *j = p;
    net_row_ctx nc = {j->e, j->pad_to, j->mode, j->window, j->K};
    es_error err = {0};
    es_status st = ES_OK;
    float *spare = NULL;   /* the row of a clip kept nowhere */
    for (size_t k; !st && es_rowjob_next(&j->w, &k);) {
        size_t i = j->items ? j->items[k] : k;
        const char *path = j->d->items[i].path;
        float *row = j->dest ? j->dest(j->duser, i) : j->x + k * j->row;
        if (!row && !spare && !(spare = malloc((j->row + 1) * sizeof(float)))) {
            st = es_fail(&err, ES_ERR_NOMEM, "out of memory");
            break;
        }
        es_audio a;
        es_load_opts lo = {.quantize_int16 = 1};
        if ((st = es_audio_load(path, &lo, &a, &err))) break;
        st = net_row(&nc, a.samples, a.n, NULL, row ? row : spare, path, &err);
        es_audio_free(&a);
        es_rowjob_done(&j->w);
    }
    free(spare);
    if (st) es_rowjob_fail(&j->w, st, &err);
}

/* x[nitems][row] as described above; row = the floats per clip */
static es_status prep_items(es_engine *e, const es_dataset *d, double pad_to, es_embed_mode mode, size_t window, int K,
                            size_t row, float **x_out, prog *pg, es_error *err)
{
    *x_out = NULL;
    prep_job j = {.e = e, .d = d, .pad_to = pad_to, .mode = mode, .window = window, .row = row, .K = K,
                  .w = {.n = d->nitems, .progress = pg ? pg->fn : NULL, .user = pg ? pg->user : NULL,
                        .stage = "preparing"}};
    j.x = malloc((d->nitems * row + 1) * sizeof(float));
    if (!j.x) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_status st = es_rowjob_run(&j.w, prep_part, &j, err);
    if (st) {
        free(j.x);
        return st;
    }
    *x_out = j.x;
    return ES_OK;
}

/* The rows of the m clips items[0..m) of d to x[m][row] (the caller's),
 * as one batch of a run over total clips whose first base are done (for
 * progress). The rows are those prep_items makes, and a failure is the
 * one prep_items meets first among these clips. */
static es_status prep_items_at(es_engine *e, const es_dataset *d, const size_t *items, size_t m, double pad_to,
                               es_embed_mode mode, size_t window, int K, size_t row, float *x, prog *pg, size_t base,
                               size_t total, es_error *err)
{
    prep_job j = {.e = e, .d = d, .pad_to = pad_to, .mode = mode, .window = window, .row = row, .K = K, .x = x,
                  .items = items,
                  .w = {.n = m, .progress = pg ? pg->fn : NULL, .user = pg ? pg->user : NULL, .stage = "preparing",
                        .base = base, .total = total}};
    return es_rowjob_run(&j.w, prep_part, &j, err);
}

/* The same rows, each written where dest(duser, i) says (see prep_job) */
static es_status prep_items_to(es_engine *e, const es_dataset *d, double pad_to, es_embed_mode mode, size_t window, int K,
                               size_t row, float *(*dest)(void *duser, size_t i), void *duser, prog *pg, es_error *err)
{
    prep_job j = {.e = e, .d = d, .pad_to = pad_to, .mode = mode, .window = window, .row = row, .K = K,
                  .dest = dest, .duser = duser,
                  .w = {.n = d->nitems, .progress = pg ? pg->fn : NULL, .user = pg ? pg->user : NULL,
                        .stage = "preparing"}};
    return es_rowjob_run(&j.w, prep_part, &j, err);
}

/* The head es_train_head and the curve's scratch runs train: over the
 * window of embeddings, or over a network's output (time steps x
 * bins*channels) when net is given. */
static es_status head_cfg(const es_train_opts *o, es_cnn *net, size_t n_classes, es_mlp_cfg *cfg, es_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->window = o->window;
    cfg->dim = ES_EMB_DIM;
    if (net) {
        int To, Fo, Co;
        es_cnn_out_shape(net, &To, &Fo, &Co);
        cfg->window = To;
        cfg->dim = Fo * Co;
    }
    es_status st = es_pool_parse(o->pooling ? o->pooling : "meanmax", &cfg->pool, err);
    if (st) return st;
    cfg->n_hidden = o->hidden > 0 ? 1 : 0;
    cfg->hidden[0] = o->hidden;
    cfg->dropout = o->dropout;
    cfg->n_classes = (int)n_classes;
    return ES_OK;
}

es_status es_classifier_predict_audio(es_engine *e, es_classifier *c, const float *x, size_t n, float *probs,
                                      es_error *err)
{
    ES_ERR_LOCAL(err);
    if (!e || !c || (!x && n) || !probs) return es_fail(err, ES_ERR_ARG, "es_classifier_predict_audio: invalid arguments");
    if (strcmp(es_engine_encoder_id(e), c->enc_id))
        return es_fail(err, ES_ERR_MODEL, "%s",
                       c->nenc ? "this engine does not run the model's fine-tuned encoder (use es_engine_create_for_classifier)"
                               : "the model was trained on another encoder");
    if (c->net) {
        size_t fw = window_frames(c->window);
        float *mel = malloc(fw * ES_MEL_BINS * sizeof(float));
        if (!mel) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        es_status st = clip_mel(e, x, n, c->pad_to, c->mode, c->window, mel, "audio", err);
        const float *h = st ? NULL : es_cnn_forward(c->net, mel, 1, err);
        if (!st && !h) st = err ? err->status : ES_ERR_NOMEM;
        if (!st) st = es_mlp_predict(c->mlp, h, 1, probs, err);
        free(mel);
        return st;
    }
    /* every test-time variant of the model card (the clip at c->shifts
     * sub-step offsets, each with c->positions windows around the centre,
     * then its speed-perturbed copies, as embed_variants takes them), every
     * head: probabilities averaged (variant_weight) */
    int stream = c->mode == ES_EMBED_STREAM;
    size_t K = c->nlabels, W = c->window, off = 0, NQ = (size_t)c->shifts * (size_t)c->positions;
    float *p = malloc(K * sizeof(float));
    if (!p) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    memset(probs, 0, K * sizeof(float));
    es_status st = ES_OK;
    for (int sh = 0; sh < c->shifts + c->nspeeds + c->fe_copy && !st; sh++) {
        int cp = sh >= c->shifts, shift = cp ? 0 : sh * ES_CHUNK / c->shifts, other = sh >= c->shifts + c->nspeeds;
        es_embed_opts eo = {.mode = c->mode, .pad_to = c->pad_to};
        if (other) eo.mode = c->mode == ES_EMBED_STREAM ? ES_EMBED_WHOLE : ES_EMBED_STREAM;
        stream = eo.mode == ES_EMBED_STREAM;
        if (shift > 0) {   /* as es_cache_embed_var delays the audio */
            eo.pad_before = (double)shift / ES_SAMPLE_RATE;
            eo.pad_after = (double)(ES_CHUNK - shift) / ES_SAMPLE_RATE;
        }
        const float *xa = x;
        size_t na = n;
        float *y = NULL;
        if (cp && !other) {
            /* as es_cache_embed_var makes a speed-perturbed copy: the samples
             * read as if recorded at 16000*speed Hz, resampled to 16 kHz and
             * quantised to int16 again */
            if ((st = es_audio_resample(x, n, (int)(ES_SAMPLE_RATE * c->speeds[sh - c->shifts] + 0.5), &y, &na, err))) break;
            for (size_t i = 0; i < na; i++) y[i] = y[i] > 32767.0f ? 32767.0f : y[i] < -32768.0f ? -32768.0f : roundf(y[i]);
            xa = y;
        }
        float *emb = NULL;
        size_t ne = 0;
        st = es_embed_audio(e, xa, na, &eo, NULL, NULL, &emb, &ne, err);
        free(y);
        if (st) break;
        if (sh == 0 || cp) {
            if (ne < W + es_window_skip(stream)) {
                free(emb);
                st = es_fail(err, ES_ERR_ARG, "audio: %zu embeddings, fewer than the window of %zu", ne, W);
                break;
            }
            off = es_centre_offset(ne, W, stream);   /* a copy has its own length */
        }
        for (int q = 0; q < c->positions && !st; q++) {
            long o0 = (long)off + q - (c->positions - 1) / 2;
            if (o0 < 0 || ne < (size_t)o0 + W) {
                st = es_fail(err, ES_ERR_ARG, "audio: %zu embeddings, too few for %d positions of a window of %zu", ne,
                             c->positions, W);
                break;
            }
            if ((st = heads_predict(c->heads, c->nheads, emb + (size_t)o0 * ES_EMB_DIM, 1, K, p, err))) break;
            float w = variant_weight(NQ, (size_t)c->positions, (size_t)(c->nspeeds + c->fe_copy),
                                     (size_t)sh * (size_t)c->positions + (size_t)q);
            for (size_t k = 0; k < K; k++) probs[k] += w * p[k];
        }
        free(emb);
    }
    free(p);
    return st;
}

es_status es_train_embed(es_engine *e, const char *cache_dir, const es_dataset *d, double pad_to, es_embed_mode mode,
                         size_t window, float **x, es_progress_fn progress, void *user, es_error *err)
{
    prog pg = {progress, user, 0, 0, 0, 0, 0, 0, NULL};
    return embed_items(e, cache_dir, d, pad_to, window, mode, x, &pg, err);
}

es_status es_train_prep_tail(es_engine *e, const es_dataset *d, double pad_to, es_embed_mode mode, size_t window, int K,
                             size_t row, float **x, es_error *err)
{
    prog pg = {NULL, NULL, 0, 0, 0, 0, 0, 0, NULL};
    return prep_items(e, d, pad_to, mode, window, K, row, x, &pg, err);
}

/* [K][96]: the mean over rows [n][W*96] of label k of their embeddings
 * (NaN where a label has no row) */
static float *class_means(const float *x, const int *y, size_t n, size_t K, size_t W)
{
    double *sum = calloc(K * ES_EMB_DIM + 1, sizeof(double));
    size_t *cnt = calloc(K + 1, sizeof(size_t));
    float *m = malloc((K * ES_EMB_DIM + 1) * sizeof(float));
    if (!sum || !cnt || !m) { free(sum); free(cnt); free(m); return NULL; }
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || (size_t)y[i] >= K) continue;
        for (size_t t = 0; t < W; t++)
            for (size_t j = 0; j < ES_EMB_DIM; j++) sum[(size_t)y[i] * ES_EMB_DIM + j] += x[(i * W + t) * ES_EMB_DIM + j];
        cnt[y[i]]++;
    }
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < ES_EMB_DIM; j++)
            m[k * ES_EMB_DIM + j] = cnt[k] ? (float)(sum[k * ES_EMB_DIM + j] / (double)(cnt[k] * W)) : NAN;
    free(sum);
    free(cnt);
    return m;
}

size_t es_rehearsal_pick(const int *y, size_t n, int K, int per_class, int other, int other_per_class, uint64_t seed,
                         size_t *idx)
{
    /* a seeded shuffle of all rows, then the first per_class of each class,
     * kept in shuffled order (so a prefix is still a mix of classes) */
    size_t *order = malloc((n + 1) * sizeof *order), *taken = calloc((size_t)K + 1, sizeof *taken), r = 0;
    if (!order || !taken) { free(order); free(taken); return 0; }
    es_rng rng;
    es_rng_seed(&rng, seed ^ 0x7e4ea75a1ULL);
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)es_rng_below(&rng, i), t = order[i - 1];
        order[i - 1] = order[j]; order[j] = t;
    }
    for (size_t k = 0; k < n; k++) {
        int l = y[order[k]];
        size_t cap = (size_t)(l == other ? other_per_class : per_class);
        if (l >= 0 && l < K && taken[l] < cap) { taken[l]++; idx[r++] = order[k]; }
    }
    free(order);
    free(taken);
    return r;
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

/* ------------------------------------------------ hard-negative mining */

typedef struct {
    es_mlp *const *heads;
    int nh;
    size_t K;
    int y, silence;       /* the talk's class and _silence_ (-1): not words */
    float *hard;          /* [total]: the highest word probability */
    float *probs;
} mine_ctx;

static es_status mine_score(void *user, size_t g0, const float *rows, size_t n, es_error *err)
{
    mine_ctx *c = user;
    float *p = realloc(c->probs, (n * c->K + 1) * sizeof(float));
    if (!p) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    c->probs = p;
    es_status st = heads_predict(c->heads, c->nh, rows, n, c->K, p, err);
    for (size_t i = 0; !st && i < n; i++) {
        float h = 0;
        for (size_t k = 0; k < c->K; k++)
            if ((int)k != c->y && (int)k != c->silence && p[i * c->K + k] > h) h = p[i * c->K + k];
        c->hard[g0 + i] = h;
    }
    return st;
}

typedef struct { float h; size_t g; } hard_win;
static int cmp_hard_desc(const void *a, const void *b)
{
    const hard_win *x = a, *y = b;
    if (x->h != y->h) return x->h > y->h ? -1 : 1;
    return x->g < y->g ? -1 : x->g > y->g;   /* ties in window order: the same on every machine */
}
static int cmp_size(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return i < j ? -1 : i > j;
}

/* Scores every talk window with the first round's heads, and writes into
 * rows [want][in] the want/2 windows most like a word plus the rest evenly
 * spread over the others (window order). */
static es_status talk_mine(es_talk *t, es_mlp *const *heads, int nh, size_t K, int y, int silence, size_t want,
                           float *rows, es_train_result *r, es_error *err)
{
    size_t total = es_talk_total(t);
    mine_ctx c = {heads, nh, K, y, silence, malloc((total + 1) * sizeof(float)), NULL};
    hard_win *order = malloc((total + 1) * sizeof *order);
    size_t *pick = malloc((want + 1) * sizeof(size_t));
    unsigned char *skip = calloc(total + 1, 1);
    es_status st = ES_OK;
    if (!c.hard || !order || !pick || !skip) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
    if (!st) st = es_talk_each(t, mine_score, &c, err);
    if (!st) {
        for (size_t g = 0; g < total; g++) order[g] = (hard_win){c.hard[g], g};
        qsort(order, total, sizeof *order, cmp_hard_desc);
        size_t nhard = want / 2;
        for (size_t i = 0; i < nhard; i++) { pick[i] = order[i].g; skip[order[i].g] = 1; }
        size_t n = nhard + es_talk_spread(total, want - nhard, skip, pick + nhard);
        qsort(pick, n, sizeof *pick, cmp_size);
        r->n_talk_hard = nhard;
        r->talk_hard_min = nhard ? order[nhard - 1].h : NAN;
        st = es_talk_rows(t, pick, n, rows, err);
    }
    free(c.hard); free(c.probs); free(order); free(pick); free(skip);
    return st;
}

/* The settings es_train_head and es_learning_curve share, each refused by
 * name with its value. A library caller fills the struct by hand, and
 * a value out of range (epochs 0, a negative validation share, NaN) used
 * to train without a word, fail late with an unrelated message, or wrap
 * a size (a negative window). The CLI's option ranges are the same or
 * narrower. */
es_status es_train_opts_check(const es_train_opts *o, es_error *err)
{
#define REQ(cond, ...) do { if (!(cond)) return es_fail(err, ES_ERR_ARG, __VA_ARGS__); } while (0)
    REQ(o->window >= 1 && o->window <= 256, "window %d: must be from 1 to 256 embeddings", o->window);
    REQ(o->val_fraction >= 0 && o->val_fraction <= 0.9, "val_fraction %g: must be from 0 to 0.9", o->val_fraction);
    REQ(o->pad_to >= 0 && o->pad_to <= 60, "pad_to %g: must be from 0 to 60 s", o->pad_to);
    REQ(o->hidden >= 0 && o->hidden <= 4096, "hidden %d: must be from 0 (linear head) to 4096", o->hidden);
    REQ(o->dropout >= 0 && o->dropout <= 0.95f, "dropout %g: must be from 0 to 0.95", (double)o->dropout);
    REQ(o->epochs >= 1 && o->epochs <= 100000, "epochs %d: must be from 1 to 100000", o->epochs);
    REQ(o->batch >= 1 && o->batch <= 65536, "batch %d: must be from 1 to 65536", o->batch);
    REQ(o->patience >= 0, "patience %d: must be 0 or more", o->patience);
    REQ(o->min_steps >= 0, "min_steps %d: must be 0 (off) or more", o->min_steps);
    REQ(o->lr > 0 && o->lr <= 10, "lr %g: must be above 0, at most 10", (double)o->lr);
    REQ(o->weight_decay >= 0 && o->weight_decay <= 10, "weight_decay %g: must be from 0 to 10", (double)o->weight_decay);
    REQ(o->shots >= 0, "shots %d: must be 0 (all) or more", o->shots);
    REQ(o->augment >= -1 && o->augment <= 1000, "augment %d: must be from 0 to 1000, or -1 (auto)", o->augment);
    REQ(o->aug_p >= 0 && o->aug_p <= 1, "aug_p %g: must be from 0 to 1", o->aug_p);
    REQ(o->aug_snr[0] >= -30 && o->aug_snr[0] <= o->aug_snr[1] && o->aug_snr[1] <= 100,
        "aug_snr %g:%g: must be a range within -30 to 100 dB", o->aug_snr[0], o->aug_snr[1]);
    REQ(o->aug_gain[0] >= -60 && o->aug_gain[0] <= o->aug_gain[1] && o->aug_gain[1] <= 60,
        "aug_gain %g:%g: must be a range within -60 to 60 dB", o->aug_gain[0], o->aug_gain[1]);
    REQ(o->aug_speed[0] >= 0.5 && o->aug_speed[0] <= o->aug_speed[1] && o->aug_speed[1] <= 2,
        "aug_speed %g:%g: must be a range within 0.5 to 2", o->aug_speed[0], o->aug_speed[1]);
    REQ(o->aug_shift_ms >= 0 && o->aug_shift_ms <= 10000, "aug_shift_ms %g: must be from 0 to 10000", o->aug_shift_ms);
    REQ(o->target_fa >= 0 && o->target_fa <= 1, "target_fa %g: must be from 0 to 1", o->target_fa);
    REQ(o->silence == 0 || o->silence == 1, "silence %d: must be 0 or 1", o->silence);
    REQ(o->specaugment == 0 || o->specaugment == 1, "specaugment %d: must be 0 or 1", o->specaugment);
    REQ(o->scratch == 0 || o->scratch == 1, "scratch %d: must be 0 or 1", o->scratch);
    REQ(o->perturb_test == 0 || o->perturb_test == 1, "perturb_test %d: must be 0 or 1", o->perturb_test);
    REQ(o->mixup >= 0 && o->mixup <= 0.5f, "mixup %g: must be from 0 to 0.5", (double)o->mixup);
    /* smoothing of 1 or more gives negative targets */
    REQ(o->label_smoothing >= 0 && o->label_smoothing < 1, "label_smoothing %g: must be from 0 to below 1",
        (double)o->label_smoothing);
    /* a misspelt balance used to train as auto without a word */
    REQ(es_balance_parse(o->balance) >= 0, "unknown balance '%s' (none, sample, weight or auto)", o->balance);
#undef REQ
    return ES_OK;
}

/* The card's data.sha256: what a model was trained on, checkable without
 * the model. It is the SHA-256 of `sha256sum` lines ("<hex>  <path>\n")
 * of every clip and noise recording the scan of `root` found, paths
 * relative to root, sorted bytewise: what
 *   cd DATASET && sha256sum FILE... | LC_ALL=C sort -k 2 | sha256sum
 * prints for those files. The seed, the options and the encoder are on
 * the card already; this names the audio, so a rebuild from the card can
 * tell a different copy of the data from a different program. */
typedef struct {
    const char *full, *rel;
    unsigned char sha[32];
    es_status st;
    char msg[300];
} data_file;

static int cmp_data_file(const void *a, const void *b)
{
    return strcmp(((const data_file *)a)->rel, ((const data_file *)b)->rel);
}

/* The files are hashed on es_threads() threads (thread t takes t, t + T,
 * ...): FSDD's 3,000 clips cost 0.65 s on one, a quarter of a training
 * run with a warm cache. Each result goes to its own slot, so nothing is
 * shared but the read-only list (and the cache, which locks its memo).
 * With the embedding cache train is about to look the clips up in, each
 * file's hash is taken through it (es_cache_file_sha): the same bytes'
 * SHA-256, remembered, so the lookups that key the clips by it read no
 * file again. A warm train read every clip twice: once here, once for
 * its cache key. */
typedef struct {
    data_file *f;
    size_t n;
    int T;
    es_cache *cache;   /* may be NULL: every file read here */
} data_job;

static void data_part(void *p, int t)
{
    data_job *j = p;
    for (size_t i = (size_t)t; i < j->n; i += (size_t)j->T) {
        es_error e = {0};
        if ((j->f[i].st = j->cache ? es_cache_file_sha(j->cache, j->f[i].full, j->f[i].sha, &e)
                                   : es_sha256_file(j->f[i].full, j->f[i].sha, &e)))
            snprintf(j->f[i].msg, sizeof j->f[i].msg, "%.290s", e.msg);
    }
}

static es_status data_sha256(const es_dataset *d, const char *root, es_cache *cache, char hex[65], es_error *err)
{
    size_t n = d->nitems + d->nnoise, rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/') rl--;
    data_file *f = calloc(n + 1, sizeof *f);
    if (!f) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *p = i < d->nitems ? d->items[i].path : d->noise[i - d->nitems];
        f[i].full = p;
        if (!strncmp(p, root, rl)) p += rl;
        while (*p == '/') p++;   /* the scan joins root and name with a '/' */
        f[i].rel = p;
    }
    qsort(f, n, sizeof *f, cmp_data_file);
    int T = es_threads();
    data_job j = {f, n, n < (size_t)T ? (n ? (int)n : 1) : T, cache};
    es_parallel_for(j.T, data_part, &j);
    es_sha256_ctx all;
    es_sha256_init(&all);
    es_status st = ES_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (f[i].st) { st = es_fail(err, f[i].st, "%s", f[i].msg); break; }   /* the first in name order */
        char line[68];
        es_sha256_hex(f[i].sha, line);
        memcpy(line + 64, "  ", 3);
        es_sha256_update(&all, (const unsigned char *)line, 66);
        es_sha256_update(&all, (const unsigned char *)f[i].rel, strlen(f[i].rel));
        es_sha256_update(&all, (const unsigned char *)"\n", 1);
    }
    free(f);
    if (st) return st;
    unsigned char h[32];
    es_sha256_final(&all, h);
    es_sha256_hex(h, hex);
    return ES_OK;
}

/* Where es_train_head puts each clip's windows as they are made. Over the
 * frozen encoder, a training clip's Q window positions of one encoder pass
 * are Q windows of one embedding sequence, one embedding apart: they are
 * kept as one span of window + Q - 1 embeddings (12 for the default 8 x
 * 5, where the windows themselves were 40), and the training rows point
 * into it. spans [passes][nclips][span] holds training clip row k's span
 * of pass sh at (sh * nclips + k) * span; the centre window of a held-out
 * clip (variant `centre`) goes to xv[vrow]. Clips neither trained on nor
 * held out (beyond --shots) are kept nowhere. A network under the head
 * (slot_centre) reads one row per clip: training clips' to xt[trow]. */
typedef struct {
    size_t *trow, *vrow;   /* [nitems]: the clip's training / held-out row, or SIZE_MAX */
    float *xt, *xv, *spans;
    size_t in, nclips, centre, Q, span;
} row_slots;

static float *slot_row(void *user, size_t s, size_t i)
{
    row_slots *r = user;
    if (r->trow[i] != SIZE_MAX)
        return r->spans + ((s / r->Q) * r->nclips + r->trow[i]) * r->span + (s % r->Q) * ES_EMB_DIM;
    return s == r->centre && r->vrow[i] != SIZE_MAX ? r->xv + r->vrow[i] * r->in : NULL;
}

static float *slot_centre(void *user, size_t i)
{
    row_slots *r = user;
    if (r->trow[i] != SIZE_MAX) return r->xt + r->trow[i] * r->in;
    return r->vrow[i] != SIZE_MAX ? r->xv + r->vrow[i] * r->in : NULL;
}

es_status es_train_head(es_engine *e, const es_train_opts *o, const char *out_path, es_train_result *r,
                        es_progress_fn progress, void *user, es_error *err)
{
    ES_ERR_LOCAL(err);
    if (!r) return es_fail(err, ES_ERR_ARG, "es_train_head: no result (r) to fill");
    memset(r, 0, sizeof *r);
    r->val_acc = r->val_bal_acc = NAN;
    if (!e || !o || !o->data_dir || !out_path) return es_fail(err, ES_ERR_ARG, "es_train_head: invalid arguments");
    es_status cs = es_train_opts_check(o, err);
    if (cs) return cs;
    if (o->finetune < 0 || o->finetune > 20 || (o->finetune && o->scratch))
        return es_fail(err, ES_ERR_ARG, "finetune must be from 0 to 20 encoder convolutions, and not with the scratch baseline");
    if (!(o->encoder_lr >= 0 && o->encoder_lr < 10))
        return es_fail(err, ES_ERR_ARG, "encoder_lr must be from 0 (= lr/10) to 10");
    if (o->finetune > es_encoder_nconv(es_engine_encoder(e)))
        return es_fail(err, ES_ERR_ARG, "finetune %d: the encoder has %d convolutions", o->finetune,
                       es_encoder_nconv(es_engine_encoder(e)));
    if (o->ensemble < 0 || o->ensemble > MAX_HEADS || o->shifts < -1 || o->shifts > 16 || o->positions < 0 || o->positions > 15)
        return es_fail(err, ES_ERR_ARG, "ensemble must be from 1 to %d, shifts from 1 to 16, positions from 1 to 15", MAX_HEADS);
    /* the note goes into the card as its "synthesis" entry, which readers
     * take for a JSON object: any other text was written there as it was */
    if (o->data_note) {
        cJSON *note = cJSON_Parse(o->data_note);
        int is_object = cJSON_IsObject(note);
        cJSON_Delete(note);
        if (!is_object) return es_fail(err, ES_ERR_ARG, "data_note must be a JSON object (the card's \"synthesis\" entry)");
    }
    if ((o->norm && strcmp(o->norm, "none")) || o->proto > 0 || o->warp_perturb > 0)
        return es_fail(err, ES_ERR_ARG, "normalisation, prototypes and frequency warp perturbation are learning-curve "
                                        "experiments: a saved model has none of them");
    if (o->speed_perturb != -1 && !(o->speed_perturb >= 0 && o->speed_perturb <= 0.5))
        return es_fail(err, ES_ERR_ARG, "speed perturbation must be from 0 to 0.5 (or -1, auto)");
    if (o->frontend_copy < -1 || o->frontend_copy > 1)
        return es_fail(err, ES_ERR_ARG, "frontend_copy must be 0, 1 or -1 (auto)");
    if (o->perturb_test && o->speed_perturb == 0)
        return es_fail(err, ES_ERR_ARG, "test-time averaging over perturbed copies needs a speed perturbation (--speed-perturb)");
    /* asked for explicitly they are refused there; auto simply leaves them out */
    if ((o->speed_perturb > 0 || o->frontend_copy > 0) && (o->finetune || o->scratch))
        return es_fail(err, ES_ERR_ARG, "speed-perturbed and front-end copies apply to heads over the frozen encoder only "
                                        "(not --finetune or --scratch)");
    if (o->negatives_max < 0 || o->negatives_pick < 0 || o->negatives_pick > 1)
        return es_fail(err, ES_ERR_ARG, "negatives_max must be 0 (all) or more, negatives_pick 0 (hard) or 1 (even)");
    if (o->negatives_dir && (o->finetune || o->scratch))
        return es_fail(err, ES_ERR_ARG, "other talk (--negatives) trains heads over the frozen encoder only "
                                        "(not --finetune or --scratch)");
    es_dataset *d = NULL, *vd = NULL;
    float *xv = NULL, *xt = NULL, *spans = NULL, **trows = NULL;
    int *yt = NULL, *yv = NULL;
    unsigned char *isval = NULL;
    es_mlp *m = NULL, *heads[MAX_HEADS] = {0};
    es_cnn *net = NULL;
    float *encw = NULL;
    size_t *tidx = NULL;
    char (*hnames)[96] = NULL;
    char **mk = NULL, **mv = NULL;
    es_st_tensor *tensors = NULL;
    es_train_ext ext = {0};
    es_talk *talk = NULL;
    int talk_y = -1;
    const char **tpaths = NULL;
    float *probs = NULL;
    size_t *ridx = NULL;
    float *rx = NULL, *ry = NULL, *cmeans = NULL;
    es_status st;
    size_t skipped = 0;
    es_cache *cache = NULL;   /* the embedding cache, over the frozen encoder */
    prog pg = {progress, user, 0, 0, 0, 0, 0, 0, NULL};
    if ((st = es_dataset_scan(o->data_dir, o->pattern, &d, &skipped, err))) goto out;
    r->n_ignored = d->nignored;
    snprintf(r->ignored_example, sizeof r->ignored_example, "%s", d->ignored_example);
    /* the silence class is earshot's own, made of noise slices: a user
     * folder of that name became a second label with the same name */
    for (size_t l = 0; o->silence && l < d->nlabels; l++)
        if (!strcmp(d->labels[l], ES_LABEL_SILENCE)) {
            st = es_fail(err, ES_ERR_ARG, "%s: the label " ES_LABEL_SILENCE " is the silence class earshot makes itself from "
                         ES_DIR_NOISE "/ (or generated noise): move those recordings to " ES_DIR_NOISE "/, or train with "
                         "--no-silence to keep them as a label of your own", o->data_dir);
            goto out;
        }
    if (o->val_dir) {
        char *a = realpath(o->data_dir, NULL), *b = realpath(o->val_dir, NULL);
        int same = a && b && !strcmp(a, b);
        free(a);
        free(b);
        if (same) {
            st = es_fail(err, ES_ERR_ARG, "--val-dir %s is the training folder: its accuracy would be on clips the model "
                         "learnt (leave --val-dir out to hold out a part, or give other recordings)", o->val_dir);
            goto out;
        }
        if ((st = es_dataset_scan(o->val_dir, o->pattern, &vd, &skipped, err))) goto out;
        if ((st = es_dataset_remap(vd, d, err))) goto out;
        snprintf(r->split, sizeof r->split, "explicit validation folder %s (%zu clips)", o->val_dir, vd->nitems);
    }
    /* Over the frozen encoder the clips are looked up in the embedding
     * cache, which keys them by their bytes' SHA-256: it is opened now, so
     * that data.sha256 hashes each file once for both (data_job). Should
     * it not open, the files are hashed here all the same, and the open
     * is tried again where it always was, to fail there as it did. */
    if (!o->finetune && !o->scratch) {
        es_error quiet = {0};
        cache = es_cache_open(o->cache_dir, e, &quiet);
    }
    char data_sha[65], val_sha[65] = "";
    if ((st = data_sha256(d, o->data_dir, cache, data_sha, err)) ||
        (vd && (st = data_sha256(vd, o->val_dir, cache, val_sha, err))))
        goto out;
    isval = calloc(d->nitems + 1, 1);
    if (!isval) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    if (!vd && o->val_fraction > 0 &&
        (st = es_dataset_split(d, o->val_fraction, o->seed, isval, r->split, sizeof r->split, err)))
        goto out;
    if (!vd && !(o->val_fraction > 0)) snprintf(r->split, sizeof r->split, "none: every clip trains");

    double t0 = now_s();
    size_t W = (size_t)o->window, in = W * ES_EMB_DIM;
    /* The learning curve's classifier (pipeline/feat.c), for heads over the
     * frozen encoder: every training clip at shifts x positions variants,
     * an ensemble of heads; the model card records both, and prediction
     * (es_classifier_predict_audio, es_eval) averages over the same
     * variants and heads. A network under the head (fine-tuning, the
     * baseline) reads one window per clip and trains one head. */
    /* --shifts auto looks at the most training clips of any label (after
     * the split and --shots), as es_aug_auto does */
    size_t most = 0, *cnt = calloc(d->nlabels + 1, sizeof(size_t));
    if (!cnt) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < d->nitems; i++)
        if (!isval[i]) cnt[d->items[i].label]++;
    for (size_t l = 0; l < d->nlabels; l++) {
        size_t c = o->shots > 0 && cnt[l] > (size_t)o->shots ? (size_t)o->shots : cnt[l];
        if (c > most) most = c;
    }
    free(cnt);
    int NS = es_shifts_auto(o->shifts, most), Q = o->positions > 0 ? o->positions : 1;
    int nh = o->ensemble > 0 ? o->ensemble : 1;
    if (o->finetune || o->scratch) NS = Q = nh = 1;
    r->shifts = NS;
    /* --speed-perturb: copies of every clip at speed 1 -+ x, training rows
     * like the offsets (and, with --perturb-test, averaged in prediction:
     * the model card then names their speeds) */
    int frozen = !o->finetune && !o->scratch;
    double spd = frozen ? es_speed_perturb_auto(o->speed_perturb, most) : 0;
    int ptest = o->perturb_test || o->speed_perturb < 0;   /* auto averages them in */
    int nsp = spd > 0 ? 2 : 0;
    int fec = frozen && es_frontend_copy_auto(o->frontend_copy, most);   /* --frontend-copy: one more, always averaged in */
    double speeds[2] = {1.0 - spd, 1.0 + spd};
    /* clips too short for Q window positions (in each front end used) are
     * centred in as much silence as they need; the card records it */
    double pad = o->pad_to, need = es_pad_needed(W, Q, o->frontend, fec);
    if (need > pad) pad = need;
    r->pad_to = pad;
    r->speed_perturb = spd;
    r->perturb_test = nsp && ptest;
    r->frontend_copy = fec;
    size_t S = (size_t)(NS + nsp + fec) * (size_t)Q, sc = (size_t)(Q - 1) / 2;   /* sc: the plain centre window */
    /* training rows: not held out, at most `shots` per label (seeded
     * pick). They are chosen before any clip is embedded so that each
     * clip's windows go straight to the rows they fill: every clip's
     * variants held at once, and then copied into the rows, was twice
     * what training needs. */
    size_t n = d->nitems, nt = 0, nv = 0;
    yt = malloc((n + 1) * sizeof(int));
    yv = malloc(((vd ? vd->nitems : n) + 1) * sizeof(int));
    size_t *order = malloc((n + 1) * sizeof(size_t)), *taken = calloc(d->nlabels + 1, sizeof(size_t));
    tpaths = malloc((n + 1) * sizeof(char *));   /* the training clips, for augmentation */
    tidx = malloc((n + 1) * sizeof(size_t));       /* their items */
    row_slots rs = {.trow = malloc((n + 1) * sizeof(size_t)), .vrow = malloc((n + 1) * sizeof(size_t)), .in = in,
                    .centre = sc, .Q = (size_t)Q, .span = (W + (size_t)Q - 1) * ES_EMB_DIM};
    if (!yt || !yv || !order || !taken || !tpaths || !tidx || !rs.trow || !rs.vrow) {
        free(order); free(taken); free(rs.trow); free(rs.vrow);
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        goto out;
    }
    es_rng rng;
    es_rng_seed(&rng, o->seed ^ 0x5eed5eedULL);
    for (size_t i = 0; i < n; i++) { order[i] = i; rs.trow[i] = rs.vrow[i] = SIZE_MAX; }
    for (size_t i = n; i > 1; i--) {   /* Fisher-Yates, so shots are a random pick */
        size_t j = (size_t)es_rng_below(&rng, i);
        size_t t = order[i - 1]; order[i - 1] = order[j]; order[j] = t;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        int lab = d->items[i].label;
        if (!vd && isval[i]) {
            rs.vrow[i] = nv;
            yv[nv++] = lab;
        } else if (o->shots <= 0 || taken[lab] < (size_t)o->shots) {
            taken[lab]++;
            tpaths[nt] = d->items[i].path;
            tidx[nt] = i;
            rs.trow[i] = nt;
            yt[nt++] = lab;
        }
    }
    free(order);
    size_t nclips = nt;
    rs.nclips = nclips;
    /* xt: the centre window of each training clip; xv: of each held-out
     * one (so early stopping and a wake-word threshold see what the
     * streaming detector sees); spans: every window of the training clips
     * (row_slots) */
    if (o->finetune || o->scratch) {
        /* a network under the head: its inputs, computed once per clip */
        int fw = (int)window_frames(W);
        if (o->scratch) {
            es_cnn_layer L[ES_CNN_MAX_LAYERS];
            net = es_cnn_create(L, scratch_layers(L), fw, ES_MEL_BINS, 1, SCRATCH_ALPHA, SCRATCH_FLOOR, err);
            if (net) es_cnn_init_random(net, o->seed ^ 0xc0ffeeULL);
        } else {
            net = es_encoder_tail(es_engine_encoder(e), o->finetune, es_encoder_tail_frames(es_engine_encoder(e), o->finetune, fw, NULL), err);
        }
        if (!net) { st = err ? err->status : ES_ERR_NOMEM; free(taken); free(rs.trow); free(rs.vrow); goto out; }
        in = rs.in = es_cnn_in_size(net);
    }
    xt = rs.xt = malloc((nclips * in + 1) * sizeof(float));
    if (!vd) xv = rs.xv = malloc((nv * in + 1) * sizeof(float));
    if (!net) spans = rs.spans = malloc(((size_t)(NS + nsp + fec) * nclips * rs.span + 1) * sizeof(float));
    if (!xt || (!vd && !xv) || (!net && !spans)) {
        free(taken); free(rs.trow); free(rs.vrow);
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (net) {
        st = prep_items_to(e, d, pad, o->frontend, W, o->scratch ? 0 : o->finetune, in, slot_centre, &rs, &pg, err);
        if (!st && vd) st = prep_items(e, vd, pad, o->frontend, W, o->scratch ? 0 : o->finetune, in, &xv, &pg, err);
    } else {
        if (!cache && !(cache = es_cache_open(o->cache_dir, e, err))) st = err ? err->status : ES_ERR_IO;
        else {
            vemb v = {cache, d, pad, W, o->frontend, NS, Q, nsp, fec, speeds, &pg, slot_row, &rs, 0, 1, n, 0, 0};
            vemb_reset_notes(&pg);
            st = vemb_run(&v, NULL, n, err);
        }
        /* the centre windows, also rows of their own (xt: what the
         * augmented and silence rows are appended to) */
        for (size_t k = 0; !st && k < nclips; k++)
            memcpy(xt + k * in, spans + k * rs.span + sc * ES_EMB_DIM, in * sizeof(float));
        if (!st) {
            r->cache_hits = pg.hits;
            r->n_long_clips = pg.n_long_word;
            r->long_clip_max_s = pg.long_word_max;
            if (pg.long_word) snprintf(r->long_clip_example, sizeof r->long_clip_example, "%s", pg.long_word);
            if (vd) st = embed_variants_in(cache, vd, pad, W, o->frontend, 1, 1, 0, NULL, 0, &xv, &pg, err);
        }
        /* (its memo of the clips' hashes is not held through training) */
        es_cache_close(cache);
        cache = NULL;
    }
    free(rs.trow);
    free(rs.vrow);
    if (st) { free(taken); goto out; }
    r->embed_seconds = now_s() - t0;
    r->n_files = d->nitems + (vd ? vd->nitems : 0);

    if (vd) {
        for (size_t i = 0; i < vd->nitems; i++) yv[i] = vd->items[i].label;
        nv = vd->nitems;   /* xv: embed_items, centre windows only */
    }
    for (size_t l = 0; l < d->nlabels; l++)
        if (!taken[l]) {
            free(taken);
            st = es_fail(err, ES_ERR_ARG, "%s: label '%s' has no training clip (all of its clips are in the validation part; "
                          "give it more clips, or --val-fraction 0 to validate on none)",
                         o->data_dir, d->labels[l]);
            goto out;
        }
    size_t per_label = 0;
    for (size_t l = 0; l < d->nlabels; l++) if (taken[l] > per_label) per_label = taken[l];
    free(taken);

    /* augmented variants, the _silence_ class, the wake-word relabelling.
     * With the frozen encoder they are cached embeddings; when a network
     * (fine-tuned encoder layers or the scratch CNN) reads earlier
     * activations, they are that network's input rows, made once per run.
     * --augment auto (es_aug_auto) was measured for heads over the frozen
     * encoder; a network's runs augment only when asked. */
    es_train_opts xo = *o;
    xo.pad_to = pad;
    xo.augment = net ? (o->augment > 0 ? o->augment : 0) : es_aug_auto(o->augment, per_label);
    net_row_ctx nrc = {e, pad, o->frontend, W, o->scratch ? 0 : o->finetune};
    es_row_maker maker = {net_row, &nrc, in};
    if ((st = es_train_extend(e, &xo, d->labels, d->nlabels, d->noise, d->nnoise, tpaths, per_label, W, net ? &maker : NULL,
                              &xt, &yt, &nt, &xv, &yv, &nv, &ext, r, progress, user, err)))
        goto out;
    /* the other variants of the training clips, labelled as their centre
     * rows are (after a wake-word relabelling). Augmented variants and
     * silence slices have no variants of their own: they are repeated, so
     * that every label keeps its share of the rows (else silence would be
     * S times rarer, and class weighting would step in). Training reads
     * the rows through trows (built below): the centre block (xt, nbase
     * rows), then one block of nbase rows for each other variant s in
     * order, clips' rows in their spans, the others xt's again. */
    size_t nbase = nt;
    if (S > 1) {
        int *ny = realloc(yt, (S * nbase + 1) * sizeof(int));
        if (!ny) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
        yt = ny;
        for (size_t j = 1; j < S; j++)
            for (size_t k = 0; k < nbase; k++) yt[nt++] = yt[k];
    }
    /* long-form other talk: its windows are rows of their own, after the
     * variants (they are many positions of the talk already, so they are
     * not repeated) */
    size_t ntalk0 = nt;
    if (!net) {
        int unk = -1;
        for (size_t l = 0; l < d->nlabels; l++) if (!strcmp(d->labels[l], ES_LABEL_UNKNOWN)) unk = (int)l;
        int y = ext.wake >= 0 ? 1 - ext.wake : unk;
        if (y < 0 && o->negatives_dir) {
            st = es_fail(err, ES_ERR_ARG, "%s: other talk (--negatives %s) is taught as " ES_LABEL_UNKNOWN
                         ", and the dataset has no " ES_LABEL_UNKNOWN "/ folder (add one, even of a few clips, "
                         "or train a --wake-word model)", o->data_dir, o->negatives_dir);
            goto out;
        }
        const char **up = malloc((nclips + 1) * sizeof(char *));
        size_t nu = 0;
        if (!up) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
        for (size_t k = 0; k < nclips; k++) if (d->items[tidx[k]].label == unk) up[nu++] = tpaths[k];
        /* its rows are appended to xt's (after nbase), their labels to yt
         * (after the variants') */
        size_t ns = nbase;
        int *ys = NULL;
        if (y >= 0) st = es_train_talk(e, o, up, nu, W, y, &xt, &ys, &ns, &talk, r, progress, user, err);
        free(ys);
        talk_y = y;
        free(up);
        if (st) goto out;
        if (ns > nbase) {
            int *ny = realloc(yt, (nt + ns - nbase + 1) * sizeof(int));
            if (!ny) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
            yt = ny;
            while (ns-- > nbase) yt[nt++] = y;
        }
    }
    size_t ntalk = nt - ntalk0;
    trows = malloc((nt + 1) * sizeof *trows);
    if (!trows) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t k = 0; k < nbase; k++) trows[k] = xt + k * in;
    for (size_t s = 0, j = 1; s < S; s++) {
        if (s == sc) continue;
        for (size_t k = 0; k < nbase; k++)
            trows[j * nbase + k] = k < nclips ? spans + ((s / (size_t)Q) * nclips + k) * rs.span + (s % (size_t)Q) * ES_EMB_DIM
                                              : xt + k * in;
        j++;
    }
    for (size_t t = 0; t < ntalk; t++) trows[ntalk0 + t] = xt + (nbase + t) * in;
    r->n_train = nbase;
    r->n_val = nv;
    r->n_labels = ext.nlabels;

    es_mlp_cfg cfg;
    if ((st = head_cfg(o, net, ext.nlabels, &cfg, err))) goto out;
    es_train_cfg tc = es_train_defaults();
    /* With a handful of clips an epoch is one batch: 100 epochs would be
     * 100 steps, far too few (1 shot per label gave 0.52 instead of 0.79
     * on FSDD). Take at least min_steps steps. The budget counts epochs
     * over the clips, not over their variants (as in the learning curve):
     * the variants make each clip's examples richer, not training longer. */
    {
        long b = o->batch > 0 ? o->batch : 64;
        long base_pe = (long)((nbase + ntalk + (size_t)b - 1) / (size_t)b), per_epoch = (long)((nt + (size_t)b - 1) / (size_t)b);
        long steps = (long)o->epochs * base_pe;
        if (o->min_steps > 0 && steps < o->min_steps) steps = o->min_steps;
        tc.epochs = (int)((steps + per_epoch - 1) / per_epoch);
        if (tc.epochs < 1) tc.epochs = 1;
        /* patience, too, in epochs over the clips */
        long pat = ((long)o->patience * base_pe + per_epoch - 1) / per_epoch;
        tc.patience = nv ? (int)(pat > 0 ? pat : 1) : 0;
    }
    tc.batch = o->batch;
    tc.lr = o->lr;
    tc.weight_decay = o->weight_decay;
    tc.label_smoothing = o->label_smoothing;
    tc.mixup = o->mixup;
    tc.seed = o->seed;
    const char *bal = o->balance ? o->balance : "auto";
    tc.balance = !strcmp(bal, "none") ? ES_BALANCE_NONE : !strcmp(bal, "sample") ? ES_BALANCE_SAMPLE
               : !strcmp(bal, "weight") ? ES_BALANCE_WEIGHT : ES_BALANCE_AUTO;
    es_train_report rep;
    pg.epochs = (size_t)tc.epochs;
    double t1 = now_s();
    /* the encoder's pretrained layers learn slower than the fresh head; the
     * baseline's CNN is as fresh as the head */
    float net_lr = o->scratch ? o->lr : o->encoder_lr > 0 ? o->encoder_lr : o->lr / 10;
    /* More talk than --negatives-max: the first round trains on windows
     * evenly spread over it, then half of them are swapped for the
     * windows that round scores most like a word, and the heads train
     * again from the start (hard-negative mining: the windows that fool a
     * model teach it most). */
    int rounds = talk && r->n_talk < r->n_talk_windows && o->negatives_pick != 1 ? 2 : 1;
    for (int round = 0; round < rounds; round++) {
        if (round) {
            if ((st = talk_mine(talk, heads, nh, ext.nlabels, talk_y, ext.silence, r->n_talk, xt + nbase * in, r, err)))
                goto out;
            for (int k = 0; k < nh; k++) { es_mlp_free(heads[k]); heads[k] = NULL; }
        }
        for (int k = 0; k < nh; k++) {
            /* the ensemble's heads differ by seed only (initialisation,
             * batches, dropout), as in the learning curve */
            tc.seed = o->seed + (uint64_t)k * 7919;
            if (!(heads[k] = es_mlp_create(&cfg, tc.seed, err))) { st = err ? err->status : ES_ERR_NOMEM; goto out; }
            es_train_report rk;
            if ((st = es_train_net_rows(heads[k], net, net_lr, (const float *const *)trows, yt, nt, nv ? xv : NULL, yv, nv,
                                        &tc, k ? &rk : &rep, train_progress, &pg, err)))
                goto out;
        }
    }
    m = heads[0];
    if (nh > 1 && nv) {
        /* the validation figures of the ensemble, not of its first head */
        size_t K = ext.nlabels, ok = 0, *hit = calloc(K + 1, sizeof(size_t)), *cnt = calloc(K + 1, sizeof(size_t));
        float *pv = malloc((nv * K + 1) * sizeof(float));
        if (!hit || !cnt || !pv) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        else st = heads_predict(heads, nh, xv, nv, K, pv, err);
        for (size_t i = 0; !st && i < nv; i++) {
            size_t best = 0;
            for (size_t k = 1; k < K; k++) if (pv[i * K + k] > pv[i * K + best]) best = k;
            ok += best == (size_t)yv[i];
            hit[yv[i]] += best == (size_t)yv[i];
            cnt[yv[i]]++;
        }
        if (!st) {
            double bal = 0;
            size_t nk = 0;
            for (size_t k = 0; k < K; k++) if (cnt[k]) { bal += (double)hit[k] / (double)cnt[k]; nk++; }
            rep.val_acc = (float)((double)ok / (double)nv);
            rep.val_bal_acc = (float)(nk ? bal / (double)nk : NAN);
        }
        free(hit); free(cnt); free(pv);
        if (st) goto out;
    }
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
        if (nv && (st = heads_predict(heads, nh, xv, nv, 2, probs, err))) { free(pw); goto out; }
        for (size_t i = 0; i < nv; i++) pw[i] = probs[2 * i + (size_t)ext.wake];
        r->threshold = es_wake_threshold(pw, yv, nv, o->target_fa, &r->threshold_fa, &r->threshold_recall);
        free(pw);
    }

    /* ---- the model card */
    cJSON *jl = cJSON_CreateArray();
    for (size_t l = 0; l < ext.nlabels; l++) cJSON_AddItemToArray(jl, cJSON_CreateString(ext.labels[l]));
    cJSON *ja = cJSON_CreateObject();
    cJSON_AddStringToObject(ja, "type", cfg.n_hidden ? "mlp" : "linear");
    cJSON_AddNumberToObject(ja, "window", o->window);   /* the baseline: the frames of this many embeddings */
    cJSON_AddNumberToObject(ja, "dim", cfg.dim);
    cJSON_AddStringToObject(ja, "pooling", es_pool_name(cfg.pool));
    cJSON *jh = cJSON_AddArrayToObject(ja, "hidden");
    for (int i = 0; i < cfg.n_hidden; i++) cJSON_AddItemToArray(jh, cJSON_CreateNumber(cfg.hidden[i]));
    cJSON_AddNumberToObject(ja, "dropout", cfg.dropout);
    cJSON_AddNumberToObject(ja, "pad_to", r->pad_to > 0 ? r->pad_to : o->pad_to);
    if (o->finetune) cJSON_AddNumberToObject(ja, "finetune", o->finetune);
    if (!net) {
        /* the classifier is the mean of `ensemble` heads' probabilities
         * over `shifts` x `positions` windows of a clip (see embed_variants) */
        cJSON_AddNumberToObject(ja, "ensemble", nh);
        cJSON_AddNumberToObject(ja, "shifts", NS);
        cJSON_AddNumberToObject(ja, "positions", Q);
        /* and over the clip's speed-perturbed copies (--perturb-test) */
        if (nsp && ptest) cJSON_AddItemToObject(ja, "speeds", cJSON_CreateDoubleArray(speeds, nsp));
        /* and over its copy through the other front end (--frontend-copy) */
        if (fec) cJSON_AddStringToObject(ja, "frontend_copy", o->frontend == ES_EMBED_STREAM ? "whole" : "stream");
    }
    if (o->scratch) {
        cJSON_ReplaceItemInObject(ja, "type", cJSON_CreateString(cfg.n_hidden ? "scratch-cnn+mlp" : "scratch-cnn+linear"));
        cJSON_AddItemToObject(ja, "cnn", cnn_json(net, window_frames(W)));
    }
    cJSON *jf = cJSON_CreateObject();
    cJSON_AddNumberToObject(jf, "sample_rate", ES_SAMPLE_RATE);
    /* "mode" tells the detector which features the head expects */
    int stream = o->frontend == ES_EMBED_STREAM;
    cJSON_AddStringToObject(jf, "mode", stream ? "stream" : "whole");
    cJSON_AddStringToObject(jf, "mel", stream ? "melspectrogram.onnx per 1280-sample chunk, top-dB 80 per chunk, x/10+2"
                                              : "melspectrogram.onnx, whole clip, top-dB 80, x/10+2");
    cJSON_AddStringToObject(jf, "input", "int16-quantized, clip centred in pad_to seconds of silence");
    cJSON *jt = cJSON_CreateObject();
    if (ext.wake >= 0) cJSON_AddNumberToObject(jt, ext.labels[ext.wake], r->threshold);
    else for (size_t l = 0; l < ext.nlabels; l++) cJSON_AddNumberToObject(jt, ext.labels[l], 0.5);
    cJSON *jd = cJSON_CreateObject();
    cJSON_AddStringToObject(jd, "dir", o->data_dir);
    if (o->pattern) cJSON_AddStringToObject(jd, "pattern", o->pattern);
    cJSON_AddStringToObject(jd, "sha256", data_sha);
    if (vd) {
        cJSON_AddStringToObject(jd, "val_dir", o->val_dir);
        cJSON_AddStringToObject(jd, "val_sha256", val_sha);
    }
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
    if (r->n_talk_windows) {
        cJSON *jo = cJSON_AddObjectToObject(jd, "other_talk");
        cJSON_AddStringToObject(jo, "label", ext.wake >= 0 ? ext.labels[1 - ext.wake] : ES_LABEL_UNKNOWN);
        if (o->negatives_dir) cJSON_AddStringToObject(jo, "negatives_dir", o->negatives_dir);
        cJSON_AddNumberToObject(jo, "files", (double)r->n_talk_files);
        cJSON_AddNumberToObject(jo, "windows", (double)r->n_talk_windows);
        cJSON_AddNumberToObject(jo, "train_rows", (double)r->n_talk);
        if (r->n_talk < r->n_talk_windows)
            cJSON_AddStringToObject(jo, "picked", r->n_talk_hard ? "half evenly spread, half the hardest for a first round"
                                                                 : "evenly spread");
        if (r->n_talk_hard) cJSON_AddNumberToObject(jo, "hard_rows", (double)r->n_talk_hard);
        cJSON_AddNumberToObject(jo, "hop_seconds", ES_TALK_HOP * 0.08);
    }
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
        locale_t was = es_c_locale_push();   /* the card's text the same in every locale */
        snprintf(rule, sizeof rule, "smallest threshold >= 0.5 with validation false accepts <= %g", o->target_fa);
        es_c_locale_pop(was);
        cJSON_AddStringToObject(jm, "threshold_rule", rule);
        cJSON_AddNumberToObject(jm, "threshold", r->threshold);
        if (!isnan(r->threshold_fa)) cJSON_AddNumberToObject(jm, "val_false_accept", r->threshold_fa);
        if (!isnan(r->threshold_recall)) cJSON_AddNumberToObject(jm, "val_recall", r->threshold_recall);
    }
    cJSON *jtr = cJSON_CreateObject();
    char mode[160];
    if (o->scratch)
        snprintf(mode, sizeof mode, "from-scratch baseline: a CNN on the log-mel with random initialisation, no pretrained encoder");
    else if (o->finetune)
        snprintf(mode, sizeof mode, "fine-tuning: the last %d encoder convolutions trained with the head", o->finetune);
    else
        snprintf(mode, sizeof mode, "feature extraction (encoder frozen)");
    cJSON_AddStringToObject(jtr, "mode", mode);
    cJSON_AddNumberToObject(jtr, "finetune", o->finetune);
    if (o->finetune) cJSON_AddNumberToObject(jtr, "encoder_lr", net_lr);
    if (o->scratch) cJSON_AddNumberToObject(jtr, "cnn_lr", net_lr);
    cJSON_AddNumberToObject(jtr, "seed", (double)o->seed);
    cJSON_AddNumberToObject(jtr, "epochs", o->epochs);
    cJSON_AddNumberToObject(jtr, "batch", o->batch);
    cJSON_AddNumberToObject(jtr, "lr", o->lr);
    cJSON_AddNumberToObject(jtr, "weight_decay", o->weight_decay);
    if (o->label_smoothing > 0) cJSON_AddNumberToObject(jtr, "label_smoothing", o->label_smoothing);
    if (o->mixup > 0) cJSON_AddNumberToObject(jtr, "mixup", o->mixup);
    if (nsp) cJSON_AddNumberToObject(jtr, "speed_perturbation", spd);
    cJSON_AddNumberToObject(jtr, "patience", o->patience);
    /* both change the weights, and neither shows elsewhere on the card */
    cJSON_AddNumberToObject(jtr, "min_steps", o->min_steps);
    if (!vd) cJSON_AddNumberToObject(jtr, "val_fraction", o->val_fraction);
    cJSON_AddStringToObject(jtr, "balance", es_balance_name(rep.balance));
    cJSON_AddStringToObject(jtr, "optimizer", "AdamW, cosine schedule");
    char seed_s[32];
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)o->seed);
    const char *keys[] = {"earshot.format", "earshot.version", "earshot.commit", "labels", "architecture", "frontend", "encoder_sha256",
                          "melspectrogram_sha256", "thresholds", "data", "split", "metrics", "training", "seed",
                          "mode", "augmentation", "wake_word", "synthesis"};
    enum { NMETA = sizeof keys / sizeof keys[0] };
    mk = calloc(NMETA, sizeof(char *));
    mv = calloc(NMETA, sizeof(char *));
    if (!mk || !mv) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    char *vals[NMETA] = {strdup(FORMAT), strdup(ES_VERSION), strdup(es_version_commit()), json_print(jl), json_print(ja), json_print(jf),
                         strdup(es_engine_encoder_sha256(e)), strdup(es_engine_mel_sha256(e)), json_print(jt),
                         json_print(jd), strdup(r->split), json_print(jm), json_print(jtr), strdup(seed_s),
                         strdup(ext.wake >= 0 ? "wake-word" : "multi-class"), es_train_aug_card(&xo, &ext, r),
                         ext.wake >= 0 ? strdup(ext.labels[ext.wake]) : NULL,
                         o->data_note ? strdup(o->data_note) : NULL};
    /* The card must be UTF-8, and paths and speaker names read from file
     * names need not be (a Latin-1 folder): their bad bytes become U+FFFD
     * rather than make the model unwritable after all the training. */
    for (int i = 0; i < NMETA; i++) vals[i] = es_utf8_fix(vals[i]);
    /* the last two are optional: wake_word only in that mode, synthesis
     * only for synthetic data */
    int nmeta = 0;
    for (int i = 0; i < NMETA; i++) {
        int wanted = i == NMETA - 2 ? ext.wake >= 0 : i == NMETA - 1 ? o->data_note != NULL : 1;
        if (!wanted) continue;
        if (!vals[i]) st = ES_ERR_NOMEM;
        mk[nmeta] = (char *)keys[i];
        mv[nmeta++] = vals[i];
    }
    if (st) { for (int i = 0; i < NMETA; i++) free(mv[i]); st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    int nt_ = es_mlp_ntensors(m), nnet = net ? 2 * es_cnn_nlayers(net) : 0;
    size_t nq = 0;
    if (net) es_cnn_params(net, &nq);
    /* the rehearsal buffer (pipeline/adapt.h): a few training windows per
     * label, so `earshot adapt` can keep the model working for everyone.
     * Only over embeddings: a network's inputs are far larger, and adapt
     * works on heads over the frozen encoder. */
    ridx = malloc((nt + 1) * sizeof *ridx);
    size_t nr = ridx && !net ? es_rehearsal_pick(yt, nbase, (int)ext.nlabels, ES_REHEARSAL_PER_CLASS, talk_y,
                                                 ES_REHEARSAL_OTHER, o->seed, ridx) : 0;
    if (ridx && ntalk) {
        /* and windows of the other talk, evenly spread over those trained
         * on: without them adapting to a voice undid what the talk taught
         * (adapt.h) */
        size_t *tp = malloc((ES_REHEARSAL_TALK + 1) * sizeof *tp);
        size_t k = tp ? es_talk_spread(ntalk, ES_REHEARSAL_TALK, NULL, tp) : 0;
        for (size_t i = 0; i < k; i++) ridx[nr++] = ntalk0 + tp[i];
        free(tp);
    }
    rx = malloc((nr * in + 1) * sizeof *rx);
    ry = malloc((nr + 1) * sizeof *ry);
    if (!ridx || !rx || !ry) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); for (int i = 0; i < NMETA; i++) free(mv[i]); goto out; }
    for (size_t i = 0; i < nr; i++) {
        memcpy(rx + i * in, trows[ridx[i]], in * sizeof(float));
        ry[i] = (float)yt[ridx[i]];
    }
    /* each label's mean embedding over its training clips' centre windows
     * (not their augmented copies): what es_selfadapt measures a voice's
     * offset against */
    if (!net && !(cmeans = class_means(xt, yt, nclips, ext.nlabels, W))) {
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        for (int i = 0; i < NMETA; i++) free(mv[i]);
        goto out;
    }
    tensors = calloc((size_t)(nh * nt_ + nnet) + 4, sizeof *tensors);
    hnames = malloc(((size_t)(nh * nt_) + 1) * sizeof *hnames);
    encw = malloc((nq + 1) * sizeof(float));
    for (int h = 0; tensors && hnames && h < nh; h++) {
        size_t np;
        float *params = es_mlp_params(heads[h], &np);
        for (int i = 0; i < nt_; i++) {
            const es_param_info *pi = es_mlp_tensor(heads[h], i);
            es_st_tensor *t = &tensors[h * nt_ + i];
            es_classifier_head_tensor_name(hnames[h * nt_ + i], sizeof hnames[0], h, pi->name);
            t->name = hnames[h * nt_ + i];
            t->ndim = pi->ndim;
            for (int k = 0; k < pi->ndim; k++) t->shape[k] = pi->shape[k];
            t->data = params + pi->offset;
        }
    }
    nt_ *= nh;
    /* the network's convolutions in the ONNX / PyTorch layout [co][ci][kt][kf]:
     * for fine-tuning under the encoder's initializer names (which override
     * the pretrained tensors when the model runs), for the baseline as cnn.<i> */
    int ci = 0;
    if (net) es_cnn_in_shape(net, NULL, NULL, &ci);
    for (int i = 0; tensors && encw && net && i < es_cnn_nlayers(net); i++) {
        const es_cnn_layer *L = es_cnn_layer_at(net, i);
        if (L->pool) continue;
        size_t nw, nb;
        float *w = es_cnn_weight(net, i, &nw), *b = es_cnn_bias(net, i, &nb);
        float *dst = encw + (size_t)(w - es_cnn_params(net, NULL));
        w_to_file(dst, w, L->co, ci, L->kt, L->kf);
        es_st_tensor *t = &tensors[nt_++];
        t->name = L->wname;
        t->ndim = 4;
        t->shape[0] = L->co; t->shape[1] = ci; t->shape[2] = L->kt; t->shape[3] = L->kf;
        t->data = dst;
        if (!L->nobias) {
            t = &tensors[nt_++];
            t->name = L->bname;
            t->ndim = 1;
            t->shape[0] = L->co;
            t->data = b;
        }
        ci = L->co;
    }
    if (tensors && nr) {
        tensors[nt_++] = (es_st_tensor){.name = ES_REHEARSAL_X, .ndim = 2, .shape = {(int64_t)nr, (int64_t)in}, .data = rx};
        tensors[nt_++] = (es_st_tensor){.name = ES_REHEARSAL_Y, .ndim = 1, .shape = {(int64_t)nr}, .data = ry};
    }
    if (tensors && cmeans)
        tensors[nt_++] = (es_st_tensor){.name = ES_CLASS_MEANS, .ndim = 2,
                                        .shape = {(int64_t)ext.nlabels, ES_EMB_DIM}, .data = cmeans};
    if (!tensors || !encw || !hnames) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
    else st = es_st_write(out_path, tensors, (size_t)nt_, (const char *const *)mk, (const char *const *)mv, (size_t)nmeta, err);
    for (int i = 0; i < NMETA; i++) free(mv[i]);
out:
    es_cache_close(cache);
    free(mk); free(mv); free(tensors); free(encw); free(ridx); free(rx); free(ry); free(cmeans);
    free(tpaths); free(tidx); free(hnames); free(probs);
    es_train_ext_free(&ext);
    es_talk_free(talk);
    for (int k = 0; k < MAX_HEADS; k++) es_mlp_free(heads[k]);
    es_cnn_free(net);
    free(spans); free(trows); free(xv); free(xt); free(yt); free(yv); free(isval);
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
    for (size_t i = 0; r->speakers && i < r->n_speakers; i++) free(r->speakers[i]);
    free(r->speakers);
    free(r->speaker_n);
    free(r->speaker_correct);
    free(r->scores);
    free(r->truth);
    free(r->kind);
    memset(r, 0, sizeof *r);
}

es_status es_eval_sweep(const es_eval_result *r, const double *thresholds, size_t n, es_sweep_point *out,
                        es_error *err)
{
    if (!r || (n && (!thresholds || !out))) return es_fail(err, ES_ERR_ARG, "es_eval_sweep: invalid arguments");
    if (r->n && (!r->scores || !r->truth || !r->kind))
        return es_fail(err, ES_ERR_ARG, "es_eval_sweep: the result holds no scores");
    /* as the detector refuses them: NaN would fire nowhere and read as
     * a threshold that misses everything and accepts nothing */
    for (size_t t = 0; t < n; t++)
        if (!(thresholds[t] >= 0 && thresholds[t] <= 1))
            return es_fail(err, ES_ERR_ARG, "es_eval_sweep: threshold %zu is %g, not from 0 to 1", t, thresholds[t]);
    size_t K = r->n_labels, nown = 0;   /* nown: the clips of kind WORD, whose misses count */
    for (size_t i = 0; i < r->n; i++) nown += r->kind[i] == ES_CLIP_WORD;
    for (size_t t = 0; t < n; t++) {
        double thr = thresholds[t];
        size_t nw = 0, nu = 0, ns = 0, miss = 0, fw = 0, fu = 0, fs = 0;
        for (size_t i = 0; i < r->n; i++) {
            const float *p = r->scores + i * K;
            int own = r->kind[i] == ES_CLIP_WORD ? r->truth[i] : -1;
            int fired_other = 0;
            for (size_t k = 0; k < K && !fired_other; k++)
                fired_other = (int)k != own && r->labels[k][0] != '_' && p[k] >= thr;
            switch (r->kind[i]) {
            case ES_CLIP_WORD:
            case ES_CLIP_OTHER:
                nw++;
                if (own >= 0 && !(p[own] >= thr)) miss++;
                fw += fired_other;
                break;
            case ES_CLIP_UNKNOWN: nu++; fu += fired_other; break;
            default: ns++; fs += fired_other; break;
            }
        }
        out[t] = (es_sweep_point){thr,
                                  nown ? (double)miss / (double)nown : NAN,
                                  nw ? (double)fw / (double)nw : NAN,
                                  nu ? (double)fu / (double)nu : NAN,
                                  ns ? (double)fs / (double)ns : NAN,
                                  nown, nw, nu, ns};
    }
    return ES_OK;
}

void es_wilson_interval(size_t k, size_t n, double *lo, double *hi)
{
    if (!lo || !hi) return;
    if (!n || k > n) { *lo = *hi = NAN; return; }
    const double z = 1.959963984540054;   /* the normal's 97.5% point */
    double N = (double)n, p = (double)k / N, z2 = z * z;
    double centre = (p + z2 / (2 * N)) / (1 + z2 / N);
    double half = z / (1 + z2 / N) * sqrt(p * (1 - p) / N + z2 / (4 * N * N));
    /* exact ends at 0 of n and n of n, which rounding would miss */
    *lo = k == 0 ? 0.0 : fmax(0.0, centre - half);
    *hi = k == n ? 1.0 : fmin(1.0, centre + half);
}

/* "a, b, c" into buf (cut short if it does not fit), for messages */
static void list_labels(char *const *v, size_t n, char *buf, size_t size)
{
    buf[0] = 0;
    for (size_t i = 0; i < n; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? ", " : "", v[i]);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* r->speakers: the distinct non-empty speakers of d's items, sorted; none
 * unless there are two or more */
static es_status eval_speakers(const es_dataset *d, es_eval_result *r, es_error *err)
{
    char **s = malloc((d->nitems + 1) * sizeof(char *));
    if (!s) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < d->nitems; i++)
        if (d->items[i].speaker && d->items[i].speaker[0]) s[n++] = d->items[i].speaker;
    qsort(s, n, sizeof *s, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) if (!u || strcmp(s[u - 1], s[i])) s[u++] = s[i];
    es_status st = ES_OK;
    if (u >= 2) {
        r->speakers = calloc(u, sizeof(char *));
        r->speaker_n = calloc(u, sizeof(size_t));
        r->speaker_correct = calloc(u, sizeof(size_t));
        if (!r->speakers || !r->speaker_n || !r->speaker_correct) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        else r->n_speakers = u;   /* unfilled names are NULL: es_eval_result_free copes */
        for (size_t i = 0; !st && i < u; i++)
            if (!(r->speakers[i] = strdup(s[i]))) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
    }
    free(s);
    return st;
}

/* index of speaker `name` in r->speakers (sorted), or -1 */
static long eval_speaker_index(const es_eval_result *r, const char *name)
{
    if (!r->n_speakers || !name || !name[0]) return -1;
    char *const *hit = bsearch(&name, r->speakers, r->n_speakers, sizeof(char *), cmp_str);
    return hit ? (long)(hit - r->speakers) : -1;
}

es_status es_eval(es_engine *e, const char *model_path, const char *data_dir, const char *pattern, const char *cache_dir,
                  es_eval_result *r, es_progress_fn progress, void *user, es_error *err)
{
    return es_eval_with(e, model_path, data_dir, pattern, cache_dir, NULL, r, progress, user, err);
}

/* Clips es_eval_with embeds at a time */
#define EVAL_BATCH g_embed_chunk

static float *no_row(void *user, size_t s, size_t k)
{
    (void)user; (void)s; (void)k;
    return NULL;
}

/* A batch of es_eval_with failed (st, err): the failure as one pass over
 * every clip told it before clips came in batches, i.e. the first failing
 * file of the first pass that fails with how many more failed (else the
 * first clip with too few embeddings), whichever batch met it first and in
 * whichever order the clips are decided. Every clip again, in scan order,
 * nothing kept; if that goes through after all, the batch's failure. */
static es_status eval_embed_failed(const vemb *v, es_status st, es_error *err)
{
    prog quiet = *v->pg;
    quiet.fn = NULL;
    vemb w = *v;
    w.pg = &quiet;
    w.dest = no_row;
    w.base = 0;
    w.div = 1;
    es_error e2 = {0};
    es_status s2 = vemb_run(&w, NULL, v->d->nitems, &e2);
    if (!s2) return st;
    if (err) *err = e2;
    return s2;
}

/* The order es_eval_with decides clips in: as scanned, or with
 * self-adaptation each speaker's clips together (speakers sorted) in a
 * seeded random order; silence slices (items n..n+nsil-1) last. */
typedef struct {
    const char *speaker;
    uint64_t key;
    size_t item;
} order_key;

static int cmp_order_key(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    int c = strcmp(x->speaker, y->speaker);
    return c ? c : x->key < y->key ? -1 : x->key > y->key ? 1 : (x->item > y->item) - (x->item < y->item);
}

/* the voice item i belongs to for self-adaptation: its speaker, or one
 * voice for all with es_eval_opts.one_voice */
static const char *eval_voice(const es_dataset *d, size_t i, int one_voice)
{
    return one_voice ? "" : d->items[i].speaker;
}

static size_t *eval_order(const es_dataset *d, size_t nsil, int by_speaker, int one_voice, uint64_t seed)
{
    size_t n = d->nitems, *ord = malloc((n + nsil + 1) * sizeof *ord);
    if (!ord) return NULL;
    for (size_t i = 0; i < n + nsil; i++) ord[i] = i;
    if (!by_speaker) return ord;
    order_key *k = malloc((n + 1) * sizeof *k);
    if (!k) { free(ord); return NULL; }
    es_rng rng;
    es_rng_seed(&rng, seed ^ 0x5e1fada9ULL);
    for (size_t i = 0; i < n; i++) k[i] = (order_key){eval_voice(d, i, one_voice), es_rng_next(&rng), i};
    qsort(k, n, sizeof *k, cmp_order_key);
    for (size_t i = 0; i < n; i++) ord[i] = k[i].item;
    free(k);
    return ord;
}

es_status es_eval_with(es_engine *e, const char *model_path, const char *data_dir, const char *pattern,
                       const char *cache_dir, const es_eval_opts *o, es_eval_result *r, es_progress_fn progress,
                       void *user, es_error *err)
{
    /* r is required: refused like any NULL argument (es_train_head's too), not written through */
    if (!r) return es_fail(err, ES_ERR_ARG, "es_eval: no result (r) to fill");
    memset(r, 0, sizeof *r);
    /* before any file is read, so a missing argument is told as such */
    if (!e || !model_path || !data_dir)
        return es_fail(err, ES_ERR_ARG, "es_eval: no %s", !e ? "engine" : !model_path ? "model path" : "data folder");
    /* the statuses of failed loads below are read back from err: without
     * a caller's one, a local one keeps them exact (not a guess) */
    es_error err0 = {0};
    if (!err) err = &err0;
    int adapt = o && o->self_adapt, one_voice = adapt && o->one_voice;
    es_classifier *c = es_classifier_load(model_path, err);
    if (!c) return err ? err->status : ES_ERR_MODEL;
    /* the hashes live in c: the message first, then the free */
    es_status chk = es_engine_check_made_with(e, model_path, es_classifier_meta(c, "encoder_sha256"),
                                              es_classifier_meta(c, "melspectrogram_sha256"), NULL, err);
    if (chk) {
        es_classifier_free(c);
        return chk;
    }
    es_dataset *d = NULL;
    es_engine *ft = NULL;
    es_selfadapt *sa = NULL;
    size_t *ord = NULL;
    float *probs = NULL, *xs = NULL, *xg = NULL, *batch_x = NULL;
    es_cache *cache = NULL;
    size_t skipped = 0, K = c->nlabels, row = c->window * ES_EMB_DIM;
    prog pg = {progress, user, 0, 0, 0, 0, 0, 0, NULL};
    es_status st = es_dataset_scan_test(data_dir, pattern, &d, &skipped, err);
    if (st) goto out;
    /* A test set none of whose labels the model knows would score nothing
     * (a wake-word model scores every label, as "other"): say so before
     * any encoder time is spent, naming both sides. */
    int known = c->wake >= 0;
    for (size_t l = 0; l < d->nlabels && !known; l++)
        for (size_t k = 0; k < K && !known; k++) known = !strcmp(d->labels[l], c->labels[k]);
    for (size_t k = 0; k < K && !known && d->nnoise && !c->net; k++) known = !strcmp(c->labels[k], ES_LABEL_SILENCE);
    if (!known) {
        char have[512], want[512];
        list_labels(d->labels, d->nlabels, have, sizeof have);
        list_labels(c->labels, K, want, sizeof want);
        st = es_fail(err, ES_ERR_ARG, "%s: none of its labels (%s) is one of the model's (%s)", data_dir, have, want);
        goto out;
    }
    if (adapt) {
        if (!(sa = es_selfadapt_create(c, o->prior, err))) {
            st = es_fail_in(err, ES_ERR_UNSUPPORTED, model_path);
            goto out;
        }
        for (size_t i = 0; i < d->nitems && !one_voice; i++)
            if (!d->items[i].speaker || !d->items[i].speaker[0]) {
                st = es_fail(err, ES_ERR_ARG, "%s: self-adaptation needs every clip's speaker, and the name of %s tells none "
                                              "(Speech Commands' <speaker>_nohash_<n>, or a pattern with {speaker}; or say that one voice "
                                              "speaks them all)",
                             data_dir, d->items[i].path);
                goto out;
            }
        r->self_adapted = 1;
    }
    /* every test-time variant the model card names (one for older
     * models); each clip's probabilities are averaged over them. The
     * clips are embedded a batch at a time (EVAL_BATCH) in the order they
     * are decided in, so that only a batch's windows are ever held: all
     * of them at once were 15 KB a clip for a 5-variant model (1.5 GB
     * for 105k Speech Commands clips). */
    vemb v = {0};
    if (c->net) {
        /* the baseline: its CNN over each clip's log-mel window, made a
         * batch at a time likewise (every clip's at once: 16 KB a clip) */
        row = es_cnn_in_size(c->net);
    } else {
        /* a fine-tuned model runs its own encoder tensors (and caches
         * under their identity, apart from the pretrained embeddings) */
        if (c->nenc && !(ft = es_engine_create_for_classifier(es_engine_models_dir(e), c, err))) {
            st = err ? err->status : ES_ERR_MODEL;
            goto out;
        }
        if (!(cache = es_cache_open(cache_dir, ft ? ft : e, err))) { st = err ? err->status : ES_ERR_IO; goto out; }
        v = (vemb){cache, d, c->pad_to, c->window, c->mode, c->shifts, c->positions, c->nspeeds, c->fe_copy, c->speeds,
                   &pg, dense_row, NULL, 0, (size_t)(c->shifts + c->nspeeds + c->fe_copy), d->nitems, 0, 0};
        vemb_reset_notes(&pg);
    }
    size_t NQ = (size_t)c->shifts * (size_t)c->positions;
    size_t S = c->net ? 1 : (size_t)(c->shifts + c->nspeeds + c->fe_copy) * (size_t)c->positions;
    size_t ncopies = (size_t)(c->nspeeds + c->fe_copy);
    /* A model with a _silence_ class (or a wake-word model, whose negatives
     * include silence) is also scored on slices of the dataset's own
     * background noise, one label's worth (seeded apart from training's).
     * The scratch baseline reads log-mel rows, not embeddings: no slices. */
    int sil = -1;
    for (size_t k = 0; k < K; k++) if (!strcmp(c->labels[k], ES_LABEL_SILENCE)) sil = (int)k;
    size_t nsil = 0;
    if ((sil >= 0 || c->wake >= 0) && d->nnoise && !c->net) {
        nsil = (d->nitems + d->nlabels / 2) / d->nlabels;
        if (!nsil) nsil = 1;
    }
    r->n_labels = K;
    r->labels = calloc(K, sizeof(char *));
    r->confusion = calloc(K * K, sizeof(size_t));
    r->precision = calloc(K, sizeof(double));
    r->recall = calloc(K, sizeof(double));
    r->f1 = calloc(K, sizeof(double));
    probs = malloc((S * K + 1) * sizeof(float));
    xg = malloc((S * row + 1) * sizeof(float));
    size_t cap = d->nitems + nsil + 1;
    r->scores = malloc(cap * K * sizeof(float));
    r->truth = malloc(cap * sizeof(int));
    r->kind = malloc(cap);
    if (!xg || !r->labels || !r->confusion || !r->precision || !r->recall || !r->f1 || !probs || !r->scores ||
        !r->truth || !r->kind) {
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < K; k++)
        if (!(r->labels[k] = strdup(c->labels[k]))) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    if ((st = eval_speakers(d, r, err))) goto out;
    int unk = -1;
    for (size_t k = 0; k < K; k++) if (!strcmp(c->labels[k], "_unknown_")) unk = (int)k;
    size_t correct = 0, n_unk = 0, unk_fa = 0;
    size_t centre = (size_t)(c->positions - 1) / 2;   /* the plain centre variant (embed_variants) */
    if (!(ord = eval_order(d, nsil, adapt, one_voice, o ? o->seed : 0))) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    dense_dest batch = {NULL, 0, row};
    if (d->nitems &&
        !(batch.x = batch_x = malloc((S * (d->nitems < EVAL_BATCH ? d->nitems : EVAL_BATCH) * row + 1) * sizeof(float)))) {
        st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        goto out;
    }
    v.user = &batch;
    size_t b0 = 0;   /* the batch's first clip in ord */
    for (size_t oi = 0; oi < d->nitems + nsil; oi++) {
        size_t i = ord[oi];
        if (oi < d->nitems && oi == b0 + batch.n) {
            /* the next batch of clips, every variant */
            b0 = oi;
            batch.n = d->nitems - oi < EVAL_BATCH ? d->nitems - oi : EVAL_BATCH;
            if (c->net) {
                /* the baseline's log-mel rows. Its clips are decided in
                 * scan order (no self-adaptation: it has no class means),
                 * so the first failing batch holds the first clip that
                 * fails, the one a run over every clip met first (on one
                 * thread; on more, one of the first). */
                if ((st = prep_items_at(e, d, ord + b0, batch.n, c->pad_to, c->mode, c->window, 0, row, batch.x, &pg, b0,
                                        d->nitems, err)))
                    goto out;
            } else {
                v.base = b0;
                if ((st = vemb_run(&v, ord + b0, batch.n, err))) {
                    st = eval_embed_failed(&v, st, err);
                    goto out;
                }
            }
        }
        if (oi == d->nitems) {
            r->n_long_unknown = pg.n_long;
            r->long_unknown_max_s = pg.long_max;
            if (nsil) {
                /* the noise slices, after every clip as before; centre
                 * windows only: noise has no word to shift against */
                if ((st = es_silence_embed(ft ? ft : e, cache_dir, (const char *const *)d->noise, d->nnoise, nsil, 0xe7a1e7a1ULL,
                                           c->pad_to, c->mode, c->window, NULL, &xs, NULL, progress, user, err)))
                    goto out;
            }
        }
        /* variant s of clip i: xi + s * xstride */
        const float *xi = NULL;
        size_t xstride = 0;
        if (i < d->nitems) { xi = batch.x + (oi - b0) * row; xstride = batch.n * row; }
        /* a new voice: forget the last one's offset */
        if (sa && i < d->nitems &&
            (oi == 0 || strcmp(eval_voice(d, i, one_voice), eval_voice(d, ord[oi - 1], one_voice))))
            es_selfadapt_reset(sa);
        const char *name = i < d->nitems ? d->labels[d->items[i].label] : ES_LABEL_SILENCE;
        int truth = -1;
        for (size_t k = 0; k < K; k++) if (!strcmp(c->labels[k], name)) truth = (int)k;
        if (truth < 0 && c->wake >= 0) truth = 1 - c->wake;   /* wake-word mode: everything else is "other" */
        if (truth < 0) {
            /* each label once, in the order met, while there is room */
            size_t len = strlen(r->skipped_labels), nl = strlen(name);
            int listed = 0;
            for (const char *q = r->skipped_labels; !listed && *q;) {
                const char *e = strstr(q, ", ");
                size_t tl = e ? (size_t)(e - q) : strlen(q);
                listed = tl == nl && !memcmp(q, name, nl);
                q += tl + (e ? 2 : 0);
            }
            if (!listed && !strstr(r->skipped_labels, "...")) {
                if (len + nl + 6 < sizeof r->skipped_labels)
                    snprintf(r->skipped_labels + len, sizeof r->skipped_labels - len, "%s%s", len ? ", " : "", name);
                else snprintf(r->skipped_labels + len, sizeof r->skipped_labels - len, "%s...", len ? ", " : "");
            }
            r->skipped++;
            continue;
        }
        const float *in = i < d->nitems ? xi : xs + (i - d->nitems) * row;
        if (c->net) {
            if (!(in = es_cnn_forward(c->net, in, 1, err))) { st = err ? err->status : ES_ERR_NOMEM; goto out; }
            if ((st = es_mlp_predict(c->mlp, in, 1, probs, err))) goto out;
        } else if (i < d->nitems && S > 1) {
            /* the clip's variants, their probabilities averaged */
            for (size_t s = 0; s < S; s++) memcpy(xg + s * row, xi + s * xstride, row * sizeof(float));
            es_selfadapt_apply(sa, xg, S * c->window);
            if ((st = es_classifier_predict_rows(c, xg, S, probs, err))) goto out;
            float w0 = variant_weight(NQ, (size_t)c->positions, ncopies, 0);
            for (size_t k = 0; k < K; k++) probs[k] *= w0;
            for (size_t s = 1; s < S; s++) {
                float w = variant_weight(NQ, (size_t)c->positions, ncopies, s);
                for (size_t k = 0; k < K; k++) probs[k] += w * probs[s * K + k];
            }
        } else {
            if (sa && i < d->nitems) {
                memcpy(xg, in, row * sizeof(float));
                es_selfadapt_apply(sa, xg, c->window);
                in = xg;
            }
            if ((st = es_classifier_predict(c, in, probs, err))) goto out;
        }
        size_t best = es_classifier_decide(c, probs);
        /* the decision teaches the offset (the clip's own centre window, not the adapted copy) */
        if (sa && i < d->nitems) es_selfadapt_observe(sa, xi + (S > 1 ? centre : 0) * xstride, c->window, best);
        r->confusion[(size_t)truth * K + best]++;
        memcpy(r->scores + r->n * K, probs, K * sizeof(float));
        r->truth[r->n] = truth;
        r->kind[r->n] = i >= d->nitems                     ? ES_CLIP_SILENCE
                        : !strcmp(name, ES_LABEL_UNKNOWN)  ? ES_CLIP_UNKNOWN
                        : !strcmp(name, ES_LABEL_SILENCE)  ? ES_CLIP_SILENCE
                        : name[0] == '_' || strcmp(name, c->labels[truth]) ? ES_CLIP_OTHER
                                                                           : ES_CLIP_WORD;
        r->n++;
        correct += best == (size_t)truth;
        long sp = i < d->nitems ? eval_speaker_index(r, d->items[i].speaker) : -1;
        if (sp >= 0) {
            r->speaker_n[sp]++;
            r->speaker_correct[sp] += best == (size_t)truth;
        }
        if (!strcmp(name, ES_LABEL_UNKNOWN) && (unk >= 0 || c->wake >= 0)) {
            n_unk++;
            unk_fa += c->wake >= 0 ? (int)best == c->wake : (int)best != unk;
        }
    }
    if (!nsil) {   /* (else set at the first slice) */
        r->n_long_unknown = pg.n_long;
        r->long_unknown_max_s = pg.long_max;
    }
    r->accuracy = r->n ? (double)correct / (double)r->n : NAN;
    r->unknown_false_accept = n_unk ? (double)unk_fa / (double)n_unk : NAN;
    r->n_correct = correct;
    r->n_unknown = n_unk;
    r->n_unknown_accepted = unk_fa;
    es_wilson_interval(correct, r->n, &r->accuracy_lo, &r->accuracy_hi);
    es_wilson_interval(unk_fa, n_unk, &r->unknown_false_accept_lo, &r->unknown_false_accept_hi);
    for (size_t k = 0; k < K; k++) {
        size_t tp = r->confusion[k * K + k], pred = 0, truth = 0;
        for (size_t j = 0; j < K; j++) { pred += r->confusion[j * K + k]; truth += r->confusion[k * K + j]; }
        r->precision[k] = pred ? (double)tp / (double)pred : NAN;
        r->recall[k] = truth ? (double)tp / (double)truth : NAN;
        double p = r->precision[k], q = r->recall[k];
        r->f1[k] = (p + q > 0) ? 2 * p * q / (p + q) : (isnan(p) || isnan(q) ? NAN : 0.0);
    }
out:
    es_cache_close(cache);
    free(batch_x);
    free(xs);
    free(xg);
    free(probs);
    free(ord);
    es_selfadapt_free(sa);
    es_dataset_free(d);
    es_engine_free(ft);
    es_classifier_free(c);
    if (st) es_eval_result_free(r);
    return st;
}

/* ------------------------------------------------ scratch baseline for the curve */

es_status es_scratch_prep(es_engine *e, const es_dataset *d, const es_train_opts *o, float **x, size_t *row,
                          es_error *err)
{
    *x = NULL;
    es_cnn_layer L[ES_CNN_MAX_LAYERS];
    es_cnn *net = es_cnn_create(L, scratch_layers(L), (int)window_frames((size_t)o->window), ES_MEL_BINS, 1,
                                SCRATCH_ALPHA, SCRATCH_FLOOR, err);
    if (!net) return err ? err->status : ES_ERR_NOMEM;
    *row = es_cnn_in_size(net);
    es_cnn_free(net);
    return prep_items(e, d, o->pad_to, o->frontend, (size_t)o->window, 0, *row, x, NULL, err);
}

es_status es_scratch_fit_predict(const float *x, size_t row, const es_dataset *d, const size_t *idx, size_t n,
                                 const size_t *tidx, size_t nt, const es_train_opts *o, uint64_t seed, int *pred,
                                 es_error *err)
{
    es_cnn_layer L[ES_CNN_MAX_LAYERS];
    es_cnn *net = es_cnn_create(L, scratch_layers(L), (int)window_frames((size_t)o->window), ES_MEL_BINS, 1,
                                SCRATCH_ALPHA, SCRATCH_FLOOR, err);
    if (!net) return err ? err->status : ES_ERR_NOMEM;
    es_cnn_init_random(net, seed ^ 0xc0ffeeULL);
    es_mlp *m = NULL;
    float *xt = malloc((n * row + 1) * sizeof(float)), *probs = NULL, *xb = NULL;
    int *yt = malloc((n + 1) * sizeof(int));
    es_status st = ES_OK;
    if (!xt || !yt) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < n; i++) {
        memcpy(xt + i * row, x + idx[i] * row, row * sizeof(float));
        yt[i] = d->items[idx[i]].label;
    }
    es_mlp_cfg cfg;
    if ((st = head_cfg(o, net, d->nlabels, &cfg, err))) goto out;
    if (!(m = es_mlp_create(&cfg, seed, err))) { st = err ? err->status : ES_ERR_NOMEM; goto out; }
    es_train_cfg tc = es_train_defaults();
    tc.epochs = o->epochs;
    if (o->min_steps > 0 && o->batch > 0) {
        long per_epoch = (long)((n + (size_t)o->batch - 1) / (size_t)o->batch);
        if ((long)tc.epochs * per_epoch < o->min_steps) tc.epochs = (int)((o->min_steps + per_epoch - 1) / per_epoch);
    }
    tc.batch = o->batch;
    tc.lr = o->lr;
    tc.weight_decay = o->weight_decay;
    tc.seed = seed;
    tc.patience = 0;
    if ((st = es_train_net(m, net, o->lr, xt, yt, n, NULL, NULL, 0, &tc, NULL, NULL, NULL, err))) goto out;
    size_t K = d->nlabels, chunk = 64;
    probs = malloc(chunk * K * sizeof(float));
    xb = malloc(chunk * row * sizeof(float));
    if (!probs || !xb) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t s = 0; s < nt; s += chunk) {
        size_t B = nt - s < chunk ? nt - s : chunk;
        for (size_t b = 0; b < B; b++) memcpy(xb + b * row, x + tidx[s + b] * row, row * sizeof(float));
        const float *h = es_cnn_forward(net, xb, (int)B, err);
        if (!h) { st = err ? err->status : ES_ERR_NOMEM; goto out; }
        if ((st = es_mlp_predict(m, h, B, probs, err))) goto out;
        for (size_t b = 0; b < B; b++) {
            size_t best = 0;
            for (size_t k = 1; k < K; k++) if (probs[b * K + k] > probs[b * K + best]) best = k;
            pred[s + b] = (int)best;
        }
    }
out:
    free(xt); free(yt); free(probs); free(xb);
    es_mlp_free(m);
    es_cnn_free(net);
    return st;
}
