/* A model file that carries the learning curve's classifier
 * (pipeline/train.c): an ensemble of heads, and the shifts x positions
 * windows of a clip that prediction averages over.
 *   - trained with an ensemble of 3, 2 offsets x 3 positions: the card says
 *     so, the file holds three different heads, and the reloaded
 *     ensemble's accuracy on the validation windows is exactly the one
 *     training measured in memory (save/reload changes no prediction);
 *   - es_classifier_predict_audio is the mean over heads and variants,
 *     checked against the same computation done here by hand;
 *   - es_eval's decisions (through the embedding cache) are those of
 *     es_classifier_predict_audio (straight from the audio), clip by clip;
 *   - `earshot adapt` adapts every head and writes them all back;
 *   - damaged files are refused with a message naming them: truncated
 *     anywhere, a head's tensor missing, more heads claimed than stored,
 *     an ensemble of 0; a file from before these keys loads as one head;
 *   - the same seed writes the same bytes;
 *   - with speed-perturbed copies averaged in (--speed-perturb with
 *     --perturb-test) and a copy through the whole-clip front end
 *     (--frontend-copy) the card names them, predict_audio is the
 *     weighted mean over the clip's variants and the copies' (checked by
 *     hand), es_eval decides as predict_audio does, clip by clip; copies
 *     for training only leave the card without speeds; bad speeds in a
 *     card and bad option combinations are refused.
 * Needs the pretrained models and FSDD; skips (77) without them. */
#include "test_util.h"
#include "es_internal.h"
#include "../pipeline/classifier.h"
#include "../pipeline/dataset.h"
#include "../pipeline/adapt.h"
#include "../model/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];

static const char *fsdd(void)
{
    const char *p = getenv("EARSHOT_FSDD");
    struct stat st;
    if (!p || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return p;
}

/* digits 0-3: george and jackson (takes 0-3) train, yweweler (takes 0-4) validates and tests */
static int make_task(void)
{
    const char *src = fsdd();
    if (!src) return 0;
    snprintf(g_dir, sizeof g_dir, "/tmp/es_ens_XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    char p[512], q[1024], cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(p, sizeof p, "%s/train", g_dir); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/test", g_dir); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/cache", g_dir); mkdir(p, 0755);
    const char *spk[3] = {"george", "jackson", "yweweler"};
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < 4; d++)
            for (int t = 0; t < (s < 2 ? 4 : 5); t++) {
                char sp[1200];
                if (src[0] == '/') snprintf(sp, sizeof sp, "%s/%d_%s_%d.wav", src, d, spk[s], t);
                else snprintf(sp, sizeof sp, "%s/%s/%d_%s_%d.wav", cwd, src, d, spk[s], t);
                snprintf(q, sizeof q, "%s/%s/%d_%s_%d.wav", g_dir, s < 2 ? "train" : "test", d, spk[s], t);
                assert_int_equal(symlink(sp, q), 0);
            }
    return 1;
}

static void spit(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* Replace the first occurrence of `from` by `to` (same length) in a copy of the file. */
static void patched(const char *src, const char *dst, const char *from, const char *to)
{
    size_t n, l = strlen(from);
    assert_int_equal(strlen(to), l);
    unsigned char *b = test_read_file(src, &n);
    unsigned char *hit = NULL;
    for (size_t i = 0; i + l <= n && !hit; i++) if (!memcmp(b + i, from, l)) hit = b + i;
    assert_non_null(hit);
    memcpy(hit, to, l);
    spit(dst, b, n);
    free(b);
}

static void refused(const char *path, const char *why)
{
    es_error err = {0};
    es_classifier *c = es_classifier_load(path, &err);
    if (c) fail_msg("%s (%s) was accepted", path, why);
    assert_int_not_equal(err.status, ES_OK);
    assert_non_null(strstr(err.msg, path));
    print_message("  %s: %s\n", why, err.msg);
}

/* The task's folders and the options both trainings below share: a short
 * run, so that the validation accuracy is not 1, and no augmented rows,
 * so the clip counts are the dataset's. */
static void task_opts(es_train_opts *o, char *tr, char *te, char *ca, size_t n)
{
    snprintf(tr, n, "%s/train", g_dir);
    snprintf(te, n, "%s/test", g_dir);
    snprintf(ca, n, "%s/cache", g_dir);
    es_train_opts_default(o);
    o->data_dir = tr;
    o->val_dir = te;
    o->pattern = "{label}_{speaker}_{take}";
    o->cache_dir = ca;
    o->epochs = 3;
    o->min_steps = 12;
    o->patience = 0;
    o->hidden = 16;
    o->silence = 0;
    o->augment = 0;
}

static es_engine *g_eng;

static void test_ensemble_model(void **state)
{
    (void)state;
    if (!make_task()) { print_message("SKIP: FSDD not found (set EARSHOT_FSDD)\n"); skip(); }
    char tr[300], te[300], ca[300], m1[300], m2[300], bad[300];
    snprintf(m1, sizeof m1, "%s/ens.safetensors", g_dir);
    snprintf(m2, sizeof m2, "%s/ens2.safetensors", g_dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", g_dir);
    es_train_opts o;
    task_opts(&o, tr, te, ca, sizeof tr);
    o.ensemble = 3;
    o.shifts = 2;
    o.positions = 3;
    o.speed_perturb = 0;   /* no copies (auto would add them at 8 clips per label): */
    o.frontend_copy = 0;   /* predict_audio is checked by hand below without them */
    es_error err = {0};
    es_train_result r;
    assert_int_equal(es_train_head(g_eng, &o, m1, &r, NULL, NULL, &err), ES_OK);
    assert_true(r.speed_perturb == 0 && !r.frontend_copy);
    print_message("  ensemble of 3, 2 offsets x 3 positions: %zu clips, validation accuracy %.4f\n", r.n_train, r.val_acc);
    assert_int_equal(r.n_train, 32);
    assert_int_equal(r.n_val, 20);

    es_classifier *c = es_classifier_load(m1, &err);
    assert_non_null(c);
    assert_int_equal(es_classifier_heads(c), 3);
    assert_int_equal(es_classifier_shifts(c), 2);
    assert_int_equal(es_classifier_positions(c), 3);
    size_t K = es_classifier_classes(c), W = es_classifier_window(c);
    assert_int_equal(K, 4);

    /* the validation windows (the centre of each clip, as training took
     * them): the reloaded ensemble scores them exactly as training did */
    es_dataset *d = NULL;
    size_t skipped = 0;
    assert_int_equal(es_dataset_scan(te, o.pattern, &d, &skipped, &err), ES_OK);
    float *x = NULL;
    assert_int_equal(es_train_embed(g_eng, ca, d, es_classifier_pad_to(c), es_classifier_frontend(c), W, &x, NULL, NULL, &err),
                     ES_OK);
    size_t n = d->nitems, ok = 0;
    float *p = malloc(n * K * sizeof(float)), *ph = malloc(n * K * sizeof(float)), *mean = calloc(n * K, sizeof(float));
    assert_int_equal(es_classifier_predict_rows(c, x, n, p, &err), ES_OK);
    for (size_t i = 0; i < n; i++) {
        size_t b = 0;
        for (size_t k = 1; k < K; k++) if (p[i * K + k] > p[i * K + b]) b = k;
        /* the dataset's labels are sorted digits, as the model's */
        assert_string_equal(es_classifier_label(c, (size_t)d->items[i].label), d->labels[d->items[i].label]);
        ok += (int)b == d->items[i].label;
    }
    print_message("  reloaded ensemble on the validation windows: %.4f\n", (double)ok / (double)n);
    assert_true((float)((double)ok / (double)n) == r.val_acc);
    /* ... and it is the mean of three heads that really differ */
    for (int h = 0; h < 3; h++) {
        assert_int_equal(es_mlp_predict(es_classifier_head(c, h), x, n, ph, &err), ES_OK);
        for (size_t i = 0; i < n * K; i++) mean[i] += ph[i] / 3;
        if (h) {
            float p0[4];
            assert_int_equal(es_mlp_predict(es_classifier_head(c, 0), x, 1, p0, &err), ES_OK);
            assert_memory_not_equal(p0, ph, sizeof p0);
        }
    }
    for (size_t i = 0; i < n * K; i++) assert_true(fabsf(mean[i] - p[i]) < 1e-6f);

    /* es_classifier_predict_audio: heads x 2 offsets x 3 positions, by hand */
    es_audio a;
    es_load_opts lo = {.quantize_int16 = 1};
    assert_int_equal(es_audio_load(d->items[0].path, &lo, &a, &err), ES_OK);
    float pa[4], want[4] = {0}, pw[4];
    assert_int_equal(es_classifier_predict_audio(g_eng, c, a.samples, a.n, pa, &err), ES_OK);
    int stream = es_classifier_frontend(c) == ES_EMBED_STREAM;
    size_t off = 0;
    for (int sh = 0; sh < 2; sh++) {
        es_embed_opts eo = {.mode = es_classifier_frontend(c), .pad_to = es_classifier_pad_to(c)};
        if (sh) { eo.pad_before = 640.0 / ES_SAMPLE_RATE; eo.pad_after = 640.0 / ES_SAMPLE_RATE; }
        float *emb;
        size_t ne;
        assert_int_equal(es_embed_audio(g_eng, a.samples, a.n, &eo, NULL, NULL, &emb, &ne, &err), ES_OK);
        if (!sh) off = es_centre_offset(ne, W, stream);
        for (int q = -1; q <= 1; q++)
            for (int h = 0; h < 3; h++) {
                assert_int_equal(es_mlp_predict(es_classifier_head(c, h), emb + (off + (size_t)(long)q) * ES_EMB_DIM, 1, pw, &err),
                                 ES_OK);
                for (int k = 0; k < 4; k++) want[k] += pw[k] / 18;
            }
        free(emb);
    }
    for (int k = 0; k < 4; k++) assert_true(fabsf(pa[k] - want[k]) < 1e-5f);
    es_audio_free(&a);

    /* es_eval (the cache's variants) decides every clip as
     * es_classifier_predict_audio (the audio itself) does */
    es_eval_result ev;
    assert_int_equal(es_eval(g_eng, m1, te, o.pattern, ca, &ev, NULL, NULL, &err), ES_OK);
    size_t conf[16] = {0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(es_audio_load(d->items[i].path, &lo, &a, &err), ES_OK);
        assert_int_equal(es_classifier_predict_audio(g_eng, c, a.samples, a.n, pa, &err), ES_OK);
        es_audio_free(&a);
        conf[(size_t)d->items[i].label * K + es_classifier_decide(c, pa)]++;
    }
    assert_memory_equal(conf, ev.confusion, K * K * sizeof(size_t));
    /* the counts behind the accuracy, and its interval around it */
    size_t diag = 0;
    for (size_t k = 0; k < K; k++) diag += conf[k * K + k];
    assert_int_equal(ev.n_correct, diag);
    assert_true(fabs(ev.accuracy - (double)diag / (double)ev.n) < 1e-12);
    double wlo, whi;
    es_wilson_interval(diag, ev.n, &wlo, &whi);
    assert_true(ev.accuracy_lo == wlo && ev.accuracy_hi == whi && wlo <= ev.accuracy && ev.accuracy <= whi);
    print_message("  es_eval over the variants: %.4f (centre windows only: %.4f)\n", ev.accuracy, r.val_acc);
    es_eval_result_free(&ev);

    /* adapt: every head adapted and written back */
    char ad[300];
    snprintf(ad, sizeof ad, "%s/adapted.safetensors", g_dir);
    es_adapt_opts ao;
    es_adapt_opts_default(&ao);
    ao.pattern = o.pattern;
    ao.cache_dir = ca;
    ao.steps = 5;
    es_adapt_result ar;
    assert_int_equal(es_adapt(g_eng, m1, te, &ao, ad, &ar, NULL, NULL, &err), ES_OK);
    es_classifier *ca2 = es_classifier_load(ad, &err);
    assert_non_null(ca2);
    assert_int_equal(es_classifier_heads(ca2), 3);
    for (int h = 0; h < 3; h++) {
        float q0[4], q1[4];
        assert_int_equal(es_mlp_predict(es_classifier_head(c, h), x, 1, q0, &err), ES_OK);
        assert_int_equal(es_mlp_predict(es_classifier_head(ca2, h), x, 1, q1, &err), ES_OK);
        assert_memory_not_equal(q0, q1, sizeof q0);
    }
    es_classifier_free(ca2);

    /* the same seed writes the same bytes */
    assert_int_equal(es_train_head(g_eng, &o, m2, &r, NULL, NULL, &err), ES_OK);
    size_t n1, n2;
    unsigned char *b1 = test_read_file(m1, &n1), *b2 = test_read_file(m2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    free(b2);

    /* damaged files: truncated anywhere, refused by name */
    size_t cuts[] = {4, 8, 100, n1 / 2, n1 - 4, n1 - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        spit(bad, b1, cuts[i]);
        refused(bad, "truncated");
    }
    free(b1);
    patched(m1, bad, "heads.2.head.1.bias", "heads.2.head.1.bia_");
    refused(bad, "a head's tensor missing");
    patched(m1, bad, "\\\"ensemble\\\":3", "\\\"ensemble\\\":4");
    refused(bad, "more heads claimed than stored");
    patched(m1, bad, "\\\"ensemble\\\":3", "\\\"ensemble\\\":0");
    refused(bad, "an ensemble of 0");
    patched(m1, bad, "\\\"positions\\\":3", "\\\"positions\\\":x");
    refused(bad, "positions not a number");
    /* found by the fuzzer: the pooling's own message did not name the file */
    patched(m1, bad, "\\\"pooling\\\":\\\"meanstd", "\\\"pooling\\\":\\\"flatstd");
    refused(bad, "an unknown pooling");

    /* a model file from before these keys: one head, one window */
    o.ensemble = o.shifts = o.positions = 1;
    assert_int_equal(es_train_head(g_eng, &o, m2, &r, NULL, NULL, &err), ES_OK);
    const char *keys = ",\\\"ensemble\\\":1,\\\"shifts\\\":1,\\\"positions\\\":1";
    char blank[64];
    memset(blank, ' ', strlen(keys));
    blank[strlen(keys)] = 0;
    patched(m2, bad, keys, blank);
    es_classifier *old = es_classifier_load(bad, &err);
    assert_non_null(old);
    assert_int_equal(es_classifier_heads(old), 1);
    assert_int_equal(es_classifier_shifts(old), 1);
    assert_int_equal(es_classifier_positions(old), 1);
    assert_int_equal(es_classifier_speeds(old, NULL), 0);
    assert_int_equal(es_classifier_predict_rows(old, x, n, p, &err), ES_OK);
    assert_int_equal(es_mlp_predict(es_classifier_mlp(old), x, n, ph, &err), ES_OK);
    assert_memory_equal(p, ph, n * K * sizeof(float));
    es_classifier_free(old);

    free(p); free(ph); free(mean); free(x);
    es_dataset_free(d);
    es_classifier_free(c);
}


/* The mean over heads of the windows at positions -1..1 around the centre
 * of emb (ne embeddings), times w, added to acc[4] */
static void add_positions(es_classifier *c, const float *emb, size_t ne, size_t off, float w, float *acc)
{
    es_error err = {0};
    float pw[4];
    int nh = es_classifier_heads(c);
    for (int q = -1; q <= 1; q++) {
        assert_true(off + (size_t)(q + 1) + es_classifier_window(c) <= ne + 1);
        for (int h = 0; h < nh; h++) {
            assert_int_equal(es_mlp_predict(es_classifier_head(c, h), emb + (off + (size_t)(long)q) * ES_EMB_DIM, 1, pw, &err),
                             ES_OK);
            for (int k = 0; k < 4; k++) acc[k] += w * pw[k] / (float)nh;
        }
    }
}

static void test_speed_copies(void **state)
{
    (void)state;
    if (!g_dir[0] && !make_task()) { print_message("SKIP: FSDD not found (set EARSHOT_FSDD)\n"); skip(); }
    char tr[300], te[300], ca[300], m1[300], m2[300], bad[300];
    snprintf(m1, sizeof m1, "%s/speeds.safetensors", g_dir);
    snprintf(m2, sizeof m2, "%s/speeds_train.safetensors", g_dir);
    snprintf(bad, sizeof bad, "%s/bad_speeds.safetensors", g_dir);
    es_train_opts o;
    task_opts(&o, tr, te, ca, sizeof tr);
    o.ensemble = 2;
    o.shifts = 2;
    o.positions = 3;
    o.speed_perturb = 0.1;
    o.perturb_test = 1;
    o.frontend_copy = 1;
    es_error err = {0};
    es_train_result r;
    assert_int_equal(es_train_head(g_eng, &o, m1, &r, NULL, NULL, &err), ES_OK);
    assert_int_equal(r.n_train, 32);   /* clips, not their variants */
    es_classifier *c = es_classifier_load(m1, &err);
    assert_non_null(c);
    double sp[4] = {0};
    assert_int_equal(es_classifier_speeds(c, sp), 2);
    assert_true(sp[0] == 0.9 && sp[1] == 1.1);
    assert_int_equal(es_classifier_shifts(c), 2);
    assert_int_equal(es_classifier_positions(c), 3);
    assert_int_equal(es_classifier_frontend_copy(c), 1);
    assert_int_equal(es_classifier_frontend(c), ES_EMBED_STREAM);
    size_t W = es_classifier_window(c);

    /* predict_audio by hand: the clip's 2 offsets x 3 positions share a
     * quarter, each copy's 3 positions another; a speed copy is the clip
     * resampled from 16000*speed Hz and quantised as the cache makes it,
     * the front-end copy the clip through the whole-clip log-mel */
    es_dataset *d = NULL;
    size_t skipped = 0;
    assert_int_equal(es_dataset_scan(te, o.pattern, &d, &skipped, &err), ES_OK);
    es_audio a;
    es_load_opts lo = {.quantize_int16 = 1};
    assert_int_equal(es_audio_load(d->items[3].path, &lo, &a, &err), ES_OK);
    float pa[4], want[4] = {0}, plain[4] = {0};
    assert_int_equal(es_classifier_predict_audio(g_eng, c, a.samples, a.n, pa, &err), ES_OK);
    size_t off = 0;
    for (int v = 0; v < 5; v++) {
        es_embed_opts eo = {.mode = v == 4 ? ES_EMBED_WHOLE : ES_EMBED_STREAM, .pad_to = es_classifier_pad_to(c)};
        int stream = v != 4;
        if (v == 1) { eo.pad_before = 640.0 / ES_SAMPLE_RATE; eo.pad_after = 640.0 / ES_SAMPLE_RATE; }
        float *y = NULL, *emb;
        size_t ny = a.n, ne;
        if (v == 2 || v == 3) {
            assert_int_equal(es_audio_resample(a.samples, a.n, v == 2 ? 14400 : 17600, &y, &ny, &err), ES_OK);
            for (size_t i = 0; i < ny; i++) y[i] = y[i] > 32767.0f ? 32767.0f : y[i] < -32768.0f ? -32768.0f : roundf(y[i]);
        }
        assert_int_equal(es_embed_audio(g_eng, y ? y : a.samples, ny, &eo, NULL, NULL, &emb, &ne, &err), ES_OK);
        if (v != 1) off = es_centre_offset(ne, W, stream);
        add_positions(c, emb, ne, off, v < 2 ? 1.0f / 24 : 1.0f / 12, want);
        if (v < 2) add_positions(c, emb, ne, off, 1.0f / 6, plain);
        free(emb);
        free(y);
    }
    for (int k = 0; k < 4; k++) assert_true(fabsf(pa[k] - want[k]) < 1e-5f);
    /* the copies count: the clip's own variants alone give other numbers */
    int differ = 0;
    for (int k = 0; k < 4; k++) differ |= fabsf(pa[k] - plain[k]) > 1e-4f;
    assert_true(differ);
    es_audio_free(&a);

    /* es_eval (the cache's copies) decides as predict_audio, clip by clip */
    es_eval_result ev;
    assert_int_equal(es_eval(g_eng, m1, te, o.pattern, ca, &ev, NULL, NULL, &err), ES_OK);
    size_t K = es_classifier_classes(c), conf[16] = {0};
    for (size_t i = 0; i < d->nitems; i++) {
        assert_int_equal(es_audio_load(d->items[i].path, &lo, &a, &err), ES_OK);
        assert_int_equal(es_classifier_predict_audio(g_eng, c, a.samples, a.n, pa, &err), ES_OK);
        es_audio_free(&a);
        conf[(size_t)d->items[i].label * K + es_classifier_decide(c, pa)]++;
    }
    assert_memory_equal(conf, ev.confusion, K * K * sizeof(size_t));
    print_message("  speed copies averaged in: es_eval %.4f\n", ev.accuracy);
    es_eval_result_free(&ev);

    /* copies for training only: no speeds in the card */
    o.perturb_test = 0;
    o.frontend_copy = 0;
    assert_int_equal(es_train_head(g_eng, &o, m2, &r, NULL, NULL, &err), ES_OK);
    es_classifier *c2 = es_classifier_load(m2, &err);
    assert_non_null(c2);
    assert_int_equal(es_classifier_speeds(c2, NULL), 0);
    assert_int_equal(es_classifier_frontend_copy(c2), 0);
    es_classifier_free(c2);
    size_t n1;
    unsigned char *b1 = test_read_file(m2, &n1);
    b1[n1 - 1] = 0;
    int has = 0;
    for (size_t i = 0; i + 8 < n1; i++) has |= !memcmp(b1 + i, "\"speeds\"", 8) || !memcmp(b1 + i, "speeds\\\"", 8);
    assert_false(has);
    free(b1);

    /* auto (the default) at 8 clips per label: both copies, the speed
     * copies averaged in without perturb_test (the >50 side is in
     * test_train.sh and test_curve) */
    o.speed_perturb = -1;
    o.frontend_copy = -1;
    assert_int_equal(es_train_head(g_eng, &o, m2, &r, NULL, NULL, &err), ES_OK);
    assert_true(r.speed_perturb == ES_SPEED_PERTURB_AUTO && r.perturb_test && r.frontend_copy);
    c2 = es_classifier_load(m2, &err);
    assert_non_null(c2);
    assert_int_equal(es_classifier_speeds(c2, sp), 2);
    assert_true(sp[0] == 0.9 && sp[1] == 1.1);
    assert_int_equal(es_classifier_frontend_copy(c2), 1);
    es_classifier_free(c2);
    o.frontend_copy = 2;
    assert_int_equal(es_train_head(g_eng, &o, m2, &r, NULL, NULL, &err), ES_ERR_ARG);
    o.frontend_copy = 0;
    o.speed_perturb = 0.1;

    /* bad speeds in a card, bad combinations of options */
    patched(m1, bad, "\\\"speeds\\\":[0.9,", "\\\"speeds\\\":[9.9,");
    refused(bad, "a speed out of range");
    patched(m1, bad, "\\\"speeds\\\":[0.9,1.1]", "\\\"speeds\\\":[\\\"0.9\\\"]");
    refused(bad, "a speed not a number");
    patched(m1, bad, "\\\"speeds\\\":[", "\\\"speeds\\\":{");
    refused(bad, "speeds not a list");
    patched(m1, bad, "\\\"frontend_copy\\\":\\\"whole", "\\\"frontend_copy\\\":\\\"strea");
    refused(bad, "a front-end copy that is no other front end");
    o.speed_perturb = 0;
    o.perturb_test = 1;
    assert_int_equal(es_train_head(g_eng, &o, m2, &r, NULL, NULL, &err), ES_ERR_ARG);
    print_message("  %s\n", err.msg);
    o.perturb_test = 0;
    o.warp_perturb = 0.1;
    assert_int_equal(es_train_head(g_eng, &o, m2, &r, NULL, NULL, &err), ES_ERR_ARG);
    es_dataset_free(d);
    es_classifier_free(c);
}

static int setup(void **state)
{
    (void)state;
    return test_engine_setup(&g_eng);
}

static int teardown(void **state)
{
    (void)state;
    return test_engine_teardown(g_eng, g_dir);
}

int main(void)
{
    test_require_models();
    /* both tests need FSDD: without it the whole test is a skip (77), not
     * a pass of nothing */
    if (!fsdd()) { printf("SKIP: FSDD not found (set EARSHOT_FSDD)\n"); return 77; }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ensemble_model),
        cmocka_unit_test(test_speed_copies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
