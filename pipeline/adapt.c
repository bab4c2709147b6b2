/*
 * pipeline/adapt.c — personalise a keyword head to one speaker without
 * forgetting everyone else (adapt.h describes the methods).
 *
 * Only the head is fine-tuned; the encoder stays frozen, so an adapted
 * model is as small and as fast as its base, and the cached embeddings of
 * the speaker's takes are reused.
 */
#include "adapt.h"
#include "classifier.h"
#include "../model/onnx.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const METHOD_NAMES[] = {"naive", "l2sp", "ewc", "rehearsal"};

const char *es_adapt_method_name(es_adapt_method m)
{
    return (unsigned)m <= ES_ADAPT_REHEARSAL ? METHOD_NAMES[m] : "?";
}

es_status es_adapt_method_parse(const char *s, es_adapt_method *m, es_error *err)
{
    for (int i = 0; i <= ES_ADAPT_REHEARSAL; i++)
        if (s && !strcmp(s, METHOD_NAMES[i])) { *m = (es_adapt_method)i; return ES_OK; }
    return es_fail(err, ES_ERR_ARG, "adaptation method '%s' is not naive, l2sp, ewc or rehearsal", s ? s : "(null)");
}

void es_adapt_opts_default(es_adapt_opts *o)
{
    memset(o, 0, sizeof *o);
    /* EWC: on FSDD (bench/es_adapt_bench, 3 takes per digit, 6 speakers x
     * 3 draws) it lost 0.38 points of retention where naive fine-tuning
     * lost 1.16, with nearly the same gain on the speaker (0.982 against
     * 0.984); L2-SP forgot as little but gained less (0.976), rehearsal
     * gained least and forgot more (0.976, -0.81). A model without a rehearsal buffer (needed for the
     * Fisher estimate) falls back to L2-SP. */
    o->method = ES_ADAPT_EWC;
    o->fallback = 1;
    o->steps = 300;
    o->batch = 32;
    o->lr = 3e-3f;
    o->lambda = -1;        /* < 0: the method's default */
    o->seed = 1;
}

/* ------------------------------------------------------------ penalties */

/* loss = lam/2 * sum_i f_i (p_i - a_i)^2 */
double es_anchor_forward(const float *p, const float *a, const float *f, size_t n, float lam)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)p[i] - a[i];
        s += (f ? f[i] : 1.0) * d * d;
    }
    return 0.5 * lam * s;
}

/* g_i += lam * f_i * (p_i - a_i) */
void es_anchor_backward(float *g, const float *p, const float *a, const float *f, size_t n, float lam)
{
    for (size_t i = 0; i < n; i++) g[i] += lam * (f ? f[i] : 1.0f) * (p[i] - a[i]);
}

es_status es_fisher_diag(es_mlp *m, const float *x, const int *y, size_t n, float *fisher, es_error *err)
{
    size_t np;
    float *g = es_mlp_grads(m, &np);
    memset(fisher, 0, np * sizeof(float));
    int in = es_mlp_in_dim(m);
    es_status st;
    for (size_t r = 0; r < n; r++) {
        es_mlp_zero_grad(m);
        if (!es_mlp_forward(m, x + r * (size_t)in, 1, 0, NULL, err)) return err ? err->status : ES_ERR_NOMEM;
        if ((st = es_mlp_loss(m, y + r, NULL, NULL, err)) || (st = es_mlp_backward(m, NULL, err))) return st;
        for (size_t i = 0; i < np; i++) fisher[i] += g[i] * g[i];
    }
    double mean = 0;
    for (size_t i = 0; i < np; i++) mean += fisher[i];
    mean /= (double)(np ? np : 1);
    for (size_t i = 0; i < np; i++) fisher[i] = mean > 0 ? (float)(fisher[i] / mean) : 0.0f;
    es_mlp_zero_grad(m);
    return ES_OK;
}

/* ------------------------------------------------------------ the loop */

static void shuffle(size_t *a, size_t n, es_rng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)es_rng_below(r, i), t = a[i - 1];
        a[i - 1] = a[j]; a[j] = t;
    }
}

es_status es_adapt_mlp(es_mlp *m, const float *x, const int *y, size_t n, const float *rx, const int *ry, size_t nr,
                       const es_adapt_cfg *cfg, es_error *err)
{
    es_threads();   /* OpenBLAS at one thread: reproducible sums */
    if (!m || !x || !y || !n || !cfg || cfg->steps < 1 || cfg->batch < 1 || !(cfg->lr > 0) || !(cfg->lambda >= 0) ||
        (unsigned)cfg->method > ES_ADAPT_REHEARSAL)
        return es_fail(err, ES_ERR_ARG, "adapt: invalid arguments");
    int need_buf = cfg->method == ES_ADAPT_EWC || cfg->method == ES_ADAPT_REHEARSAL;
    if (need_buf && (!rx || !ry || !nr))
        return es_fail(err, ES_ERR_ARG, "adapt: method %s needs the model's rehearsal buffer", es_adapt_method_name(cfg->method));
    size_t np, in = (size_t)es_mlp_in_dim(m);
    float *p = es_mlp_params(m, &np), *g = es_mlp_grads(m, NULL);
    int B = n < (size_t)cfg->batch ? (int)n : cfg->batch;
    int R = cfg->method == ES_ADAPT_REHEARSAL ? B : 0;   /* as many old windows as new takes */
    float *theta0 = malloc(np * sizeof(float)), *fisher = NULL;
    float *bx = malloc((size_t)(B + R) * in * sizeof(float));
    int *by = malloc((size_t)(B + R) * sizeof(int));
    size_t *order = malloc(n * sizeof(size_t)), *rorder = malloc((nr + 1) * sizeof(size_t));
    es_adamw opt = {0};
    es_status st = ES_OK;
    if (!theta0 || !bx || !by || !order || !rorder) { st = es_fail(err, ES_ERR_NOMEM, "adapt: out of memory"); goto done; }
    memcpy(theta0, p, np * sizeof(float));
    if (cfg->method == ES_ADAPT_EWC) {
        if (!(fisher = malloc(np * sizeof(float)))) { st = es_fail(err, ES_ERR_NOMEM, "adapt: out of memory"); goto done; }
        if ((st = es_fisher_diag(m, rx, ry, nr, fisher, err))) goto done;
    }
    if ((st = es_adamw_init(&opt, np, err))) goto done;
    es_rng rng;
    es_rng_seed(&rng, cfg->seed);
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = 0; i < nr; i++) rorder[i] = i;
    size_t pos = n, rpos = nr;
    /* no weight decay: decay toward 0 would fight the anchor to theta0 */
    es_adamw_hp hp = {cfg->lr, 0.9f, 0.999f, 1e-8f, 0.0f};
    long warm = cfg->steps / 10;
    for (long t = 0; t < cfg->steps; t++) {
        for (int b = 0; b < B; b++) {
            if (pos == n) { shuffle(order, n, &rng); pos = 0; }
            memcpy(bx + (size_t)b * in, x + order[pos] * in, in * sizeof(float));
            by[b] = y[order[pos++]];
        }
        for (int b = B; b < B + R; b++) {
            if (rpos == nr) { shuffle(rorder, nr, &rng); rpos = 0; }
            memcpy(bx + (size_t)b * in, rx + rorder[rpos] * in, in * sizeof(float));
            by[b] = ry[rorder[rpos++]];
        }
        es_mlp_zero_grad(m);
        if (!es_mlp_forward(m, bx, B + R, 1, &rng, err)) { st = err ? err->status : ES_ERR_NOMEM; goto done; }
        if ((st = es_mlp_loss(m, by, NULL, NULL, err)) || (st = es_mlp_backward(m, NULL, err))) goto done;
        if (cfg->method == ES_ADAPT_L2SP || cfg->method == ES_ADAPT_EWC)
            es_anchor_backward(g, p, theta0, fisher, np, cfg->lambda);
        hp.lr = es_lr_at(ES_LR_COSINE, cfg->lr, t, cfg->steps, warm);
        es_adamw_step(&opt, p, g, NULL, &hp);
    }
    for (size_t i = 0; i < np; i++)
        if (!isfinite(p[i])) { st = es_fail(err, ES_ERR_ARG, "adaptation diverged (parameters not finite); try a lower --lr"); break; }
done:
    if (st && theta0) memcpy(p, theta0, np * sizeof(float));
    es_mlp_zero_grad(m);
    es_adamw_free(&opt);
    free(theta0); free(fisher); free(bx); free(by); free(order); free(rorder);
    return st;
}

/* ------------------------------------------------------------ es_adapt */

es_status es_adapt(es_engine *e, const char *model_path, const char *speaker_dir, const es_adapt_opts *o,
                   const char *out_path, es_adapt_result *r, es_progress_fn progress, void *user, es_error *err)
{
    es_adapt_result res0;
    if (!r) r = &res0;
    memset(r, 0, sizeof *r);
    if (!e || !model_path || !speaker_dir || !o || !out_path) return es_fail(err, ES_ERR_ARG, "es_adapt: invalid arguments");
    if (o->steps < 1 || o->batch < 1 || !(o->lr > 0) || (unsigned)o->method > ES_ADAPT_REHEARSAL)
        return es_fail(err, ES_ERR_ARG, "es_adapt: invalid settings");
    es_classifier *c = es_classifier_load(model_path, err);
    if (!c) return err ? err->status : ES_ERR_MODEL;
    es_dataset *d = NULL;
    float *x = NULL, *rx = NULL, *probs = NULL;
    int *y = NULL, *ry = NULL;
    unsigned char *file = NULL;
    char **mk = NULL, **mv = NULL, *adapt_json = NULL;
    es_st_tensor *tensors = NULL;
    char (*hnames)[96] = NULL;
    es_status st = ES_OK;
    const es_st *mst = es_classifier_st(c);
    es_mlp *m = es_classifier_mlp(c);
    size_t K = es_classifier_classes(c), W = es_classifier_window(c), in = W * ES_EMB_DIM, nr = 0, skipped = 0;
    const char *enc = es_classifier_meta(c, "encoder_sha256");
    if (!enc || strcmp(enc, es_engine_encoder_sha256(e))) {
        st = es_fail(err, ES_ERR_MODEL, "%s: was trained on another encoder (sha256 %.12s..., this one is %.12s...)", model_path,
                     enc ? enc : "unknown", es_engine_encoder_sha256(e));
        goto out;
    }
    /* the base model's identity, for the adapted model's card */
    size_t flen;
    unsigned char sha[32];
    char sha_hex[65];
    if ((st = es_read_file(model_path, &file, &flen, err))) goto out;
    es_sha256(file, flen, sha);
    for (int i = 0; i < 32; i++) snprintf(sha_hex + 2 * i, 3, "%02x", sha[i]);

    /* the rehearsal buffer, checked whole before anything is trained */
    const es_st_tensor *tx = es_st_get(mst, ES_REHEARSAL_X), *ty = es_st_get(mst, ES_REHEARSAL_Y);
    if (tx || ty) {
        if (!tx || !ty || tx->ndim != 2 || tx->shape[1] != (int64_t)in || ty->ndim != 1 || ty->shape[0] != tx->shape[0]) {
            st = es_fail(err, ES_ERR_FORMAT, "%s: the rehearsal buffer ('%s', '%s') has the wrong shape", model_path,
                         ES_REHEARSAL_X, ES_REHEARSAL_Y);
            goto out;
        }
        nr = (size_t)tx->shape[0];
        rx = malloc((nr * in + 1) * sizeof(float));
        ry = malloc((nr + 1) * sizeof(int));
        if (!rx || !ry) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
        memcpy(rx, tx->data, nr * in * sizeof(float));
        for (size_t i = 0; i < nr; i++) {
            float v = ty->data[i];
            if (!(v >= 0 && v < (float)K) || v != (float)(int)v) {
                st = es_fail(err, ES_ERR_FORMAT, "%s: rehearsal label %zu is not a label index", model_path, i);
                goto out;
            }
            ry[i] = (int)v;
        }
        for (size_t i = 0; i < nr * in; i++)
            if (!isfinite(rx[i])) { st = es_fail(err, ES_ERR_FORMAT, "%s: the rehearsal buffer has a value that is not finite", model_path); goto out; }
    }
    es_adapt_method method = o->method;
    if (method == ES_ADAPT_EWC && !nr && o->fallback) method = ES_ADAPT_L2SP;
    r->method = method;
    if ((method == ES_ADAPT_EWC || method == ES_ADAPT_REHEARSAL) && !nr) {
        st = es_fail(err, ES_ERR_MODEL, "%s: has no rehearsal buffer, which --method %s needs (retrain it with this earshot, or use l2sp)",
                     model_path, es_adapt_method_name(method));
        goto out;
    }

    /* the speaker's takes, labelled with the model's label indices */
    if ((st = es_dataset_scan(speaker_dir, o->pattern, &d, &skipped, err))) goto out;
    for (size_t l = 0; l < d->nlabels; l++) {
        size_t k = 0;
        while (k < K && strcmp(es_classifier_label(c, k), d->labels[l])) k++;
        if (k == K) {
            st = es_fail(err, ES_ERR_ARG, "%s: label '%s' is not one of the model's labels", speaker_dir, d->labels[l]);
            goto out;
        }
    }
    if ((st = es_train_embed(e, o->cache_dir, d, es_classifier_pad_to(c), es_classifier_frontend(c), W, &x, progress, user, err))) goto out;
    y = malloc((d->nitems + 1) * sizeof(int));
    probs = malloc((d->nitems * K + 1) * sizeof(float));
    if (!y || !probs) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < d->nitems; i++) {
        const char *name = d->labels[d->items[i].label];
        size_t k = 0;
        while (strcmp(es_classifier_label(c, k), name)) k++;
        y[i] = (int)k;
    }
    r->n_takes = d->nitems;
    r->n_labels_seen = d->nlabels;
    r->n_rehearsal = nr;
    for (int pass = 0; pass < 2; pass++) {
        if ((st = es_classifier_predict_rows(c, x, d->nitems, probs, err))) goto out;
        size_t ok = 0;
        for (size_t i = 0; i < d->nitems; i++) {
            size_t b = 0;
            for (size_t k = 1; k < K; k++) if (probs[i * K + k] > probs[i * K + b]) b = k;
            ok += (int)b == y[i];
        }
        *(pass ? &r->acc_after : &r->acc_before) = (double)ok / (double)d->nitems;
        if (pass) break;
        float lam = o->lambda >= 0 ? o->lambda : method == ES_ADAPT_EWC ? ES_ADAPT_LAMBDA_EWC : ES_ADAPT_LAMBDA_L2SP;
        es_adapt_cfg ac = {.method = method, .steps = o->steps, .batch = o->batch, .lr = o->lr, .lambda = lam, .seed = o->seed};
        if (progress) progress(user, "adapting", 0, 0);
        /* an ensemble's heads are adapted alike, each from its own weights */
        for (int h = 0; h < es_classifier_heads(c); h++)
            if ((st = es_adapt_mlp(es_classifier_head(c, h), x, y, d->nitems, rx, ry, nr, &ac, err))) goto out;
    }

    /* the model card: everything the base had, plus how it was adapted */
    cJSON *ja = cJSON_CreateObject();
    cJSON_AddStringToObject(ja, "base_model_sha256", sha_hex);
    cJSON_AddStringToObject(ja, "method", es_adapt_method_name(method));
    cJSON_AddStringToObject(ja, "speaker_data", speaker_dir);
    cJSON_AddNumberToObject(ja, "takes", (double)d->nitems);
    cJSON_AddNumberToObject(ja, "steps", o->steps);
    cJSON_AddNumberToObject(ja, "lr", o->lr);
    if (method == ES_ADAPT_L2SP || method == ES_ADAPT_EWC)
        cJSON_AddNumberToObject(ja, "lambda", o->lambda >= 0 ? o->lambda : method == ES_ADAPT_EWC ? ES_ADAPT_LAMBDA_EWC : ES_ADAPT_LAMBDA_L2SP);
    cJSON_AddNumberToObject(ja, "seed", (double)o->seed);
    cJSON_AddNumberToObject(ja, "accuracy_on_takes_before", r->acc_before);
    cJSON_AddNumberToObject(ja, "accuracy_on_takes_after", r->acc_after);
    adapt_json = cJSON_PrintUnformatted(ja);
    cJSON_Delete(ja);
    size_t nmeta = es_st_meta_count(mst), nk = 0;
    mk = calloc(nmeta + 1, sizeof(char *));
    mv = calloc(nmeta + 1, sizeof(char *));
    if (!adapt_json || !mk || !mv) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < nmeta; i++) {
        const char *k = es_st_meta_key(mst, i);
        if (!strcmp(k, "adaptation")) continue;    /* a re-adaptation replaces it */
        mk[nk] = (char *)k;
        mv[nk++] = (char *)es_st_meta(mst, k);
    }
    mk[nk] = "adaptation";
    mv[nk++] = adapt_json;
    int nh = es_classifier_heads(c), nt = es_mlp_ntensors(m) * nh;
    tensors = calloc((size_t)nt + 2, sizeof *tensors);
    hnames = malloc(((size_t)nt + 1) * sizeof *hnames);
    if (!tensors || !hnames) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (int h = 0, i = 0; h < nh; h++) {
        es_mlp *mh = es_classifier_head(c, h);
        float *params = es_mlp_params(mh, NULL);
        for (int j = 0; j < es_mlp_ntensors(mh); j++, i++) {
            const es_param_info *pi = es_mlp_tensor(mh, j);
            es_classifier_head_tensor_name(hnames[i], sizeof hnames[i], h, pi->name);
            tensors[i].name = hnames[i];
            tensors[i].ndim = pi->ndim;
            for (int k = 0; k < pi->ndim; k++) tensors[i].shape[k] = pi->shape[k];
            tensors[i].data = params + pi->offset;
        }
    }
    if (nr) { tensors[nt] = *tx; tensors[nt + 1] = *ty; }   /* kept, so the model can be adapted again */
    st = es_st_write(out_path, tensors, (size_t)nt + (nr ? 2 : 0), (const char *const *)mk, (const char *const *)mv, nk, err);
out:
    free(file); free(x); free(rx); free(ry); free(probs); free(y); free(mk); free(mv); free(adapt_json); free(tensors); free(hnames);
    es_dataset_free(d);
    es_classifier_free(c);
    return st;
}
