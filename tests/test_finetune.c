/* Fine-tuning the encoder's last K convolutions and the from-scratch
 * baseline (model/conv.c, model/nn.c's es_train_net, pipeline/train.c):
 *   - gradients of the whole trainable stack (the pretrained encoder's last
 *     K convolutions + the head, softmax cross-entropy) against finite
 *     differences, on encoder weights and biases;
 *   - the frozen part computed once (es_encoder_head_part) followed by the
 *     tail gives the encoder's own embeddings;
 *   - a fine-tune run on a small FSDD task: it trains, saves, reloads; the
 *     reloaded model's predictions (es_eval, es_classifier_predict_audio)
 *     run the fine-tuned tensors and agree with training's own validation;
 *     a second run with the same seed writes the same bytes;
 *   - a model whose encoder hash differs is refused;
 *   - the scratch baseline trains, saves, reloads and evaluates.
 * Needs the pretrained models (and FSDD for the training runs); skips (77)
 * without them. */
#include "test_util.h"
#include "es_internal.h"
#include "../model/conv.h"
#include "../model/nn.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Single parameters (steps 1e-3 and 3e-4, the nearer kept) must agree
 * within TOL (relative): deep in the stack a step still bends a few
 * activations, about 1% at K = 4. A direction moves hundreds of
 * parameters, so one of its many activations can cross a kink and bend
 * the slope by less than the kink test detects: directions are allowed
 * DIR_TOL. A wiring mistake gives errors of order 1. */
#define TOL 2e-2
#define DIR_TOL 5e-2

static es_engine *g_eng;

static const char *fsdd(void)
{
    const char *p = getenv("EARSHOT_FSDD");
    struct stat st;
    if (!p || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return p;
}

/* ------------------------------------------------------------ gradients */

typedef struct {
    es_cnn *net;
    es_mlp *m;
    const float *x;
    const int *y;
    int B;
} stack_ctx;

static double stack_loss(stack_ctx *c)
{
    const float *h = es_cnn_forward(c->net, c->x, c->B, NULL);
    assert_non_null(h);
    assert_non_null(es_mlp_forward(c->m, h, c->B, 0, NULL, NULL));
    double loss;
    assert_int_equal(es_mlp_loss(c->m, c->y, NULL, &loss, NULL), ES_OK);
    return loss;
}

static void check_stack(int K)
{
    es_encoder *enc = es_engine_encoder(g_eng);
    const int W = 4, fw = ES_EMB_STEP * (W - 1) + ES_EMB_WINDOW, B = 3;
    size_t per;
    int T = es_encoder_tail_frames(enc, K, fw, &per);
    es_error err = {0};
    es_cnn *net = es_encoder_tail(enc, K, T, &err);
    assert_non_null(net);
    int To, Fo, Co;
    es_cnn_out_shape(net, &To, &Fo, &Co);
    assert_int_equal(To, W);
    assert_int_equal(Fo * Co, ES_EMB_DIM);
    /* real activations: random log-mel-like input through the frozen part */
    es_rng r;
    es_rng_seed(&r, 11 + (uint64_t)K);
    float *mel = malloc((size_t)fw * ES_MEL_BINS * sizeof(float));
    float *x = malloc((size_t)B * T * per * sizeof(float));
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < fw * ES_MEL_BINS; i++) mel[i] = 4.0f * es_rng_uniform(&r) - 1.0f;
        assert_int_equal(es_encoder_head_part(enc, K, mel, fw, x + (size_t)b * T * per, &err), ES_OK);
    }
    es_mlp_cfg cfg = {.window = W, .dim = ES_EMB_DIM, .pool = ES_POOL_MEANMAX, .n_hidden = 1, .hidden = {16},
                      .dropout = 0, .n_classes = 3};
    es_mlp *m = es_mlp_create(&cfg, 5, &err);
    assert_non_null(m);
    int y[3] = {0, 2, 1};
    stack_ctx c = {net, m, x, y, B};

    es_cnn_zero_grad(net);
    es_mlp_zero_grad(m);
    stack_loss(&c);
    float *dh = malloc((size_t)B * W * ES_EMB_DIM * sizeof(float));
    assert_int_equal(es_mlp_backward(m, dh, &err), ES_OK);
    assert_int_equal(es_cnn_backward(net, dh, NULL, &err), ES_OK);

    /* (a) directional derivatives along 10 sparse random directions (256
     * random encoder parameters each): sum_i g_i v_i against
     * (L(p + hv) - L(p - hv)) / 2h. A typical parameter's gradient is
     * ~1e-4, near the float rounding of the loss over any step small enough
     * to miss the kinks; a direction sums hundreds of them, so the check is
     * sharp, and touching only some keeps kinks inside the step rare. */
    size_t np;
    float *p = es_cnn_params(net, &np), *g = es_cnn_grads(net, NULL);
    float *p0 = malloc(np * sizeof(float)), *v = malloc(np * sizeof(float));
    memcpy(p0, p, np * sizeof(float));
    double worst = 0;
    int checked = 0, skipped = 0;
    for (int d = 0; d < 10; d++) {
        double ana = 0;
        memset(v, 0, np * sizeof(float));
        for (int k = 0; k < 256; k++) v[es_rng_below(&r, np)] = 2.0f * es_rng_uniform(&r) - 1.0f;
        for (size_t i = 0; i < np; i++) ana += (double)g[i] * v[i];
        /* two steps, and of those without a kink inside (one-sided slopes
         * within 2%) the estimate nearer ana: a kink that bends the slopes
         * by less than the kink test sees bends the central difference
         * too (5.1% at K = 2 with OpenBLAS's Sandybridge kernel, whose
         * rounding moves which activations sit next to one, when this
         * test took one step of 1e-3 and allowed 5%), seldom at both
         * steps; a wrong gradient matches neither */
        double num = NAN;
        for (int s = 0; s < 2; s++) {
            const float h = s ? 3e-4f : 1e-3f;
            double f[3];
            for (int k = 0; k < 3; k++) {
                for (size_t i = 0; i < np; i++) p[i] = p0[i] + (float)(k - 1) * h * v[i];
                f[k] = stack_loss(&c);
            }
            memcpy(p, p0, np * sizeof(float));
            double dm = (f[1] - f[0]) / h, dp = (f[2] - f[1]) / h, cd = (f[2] - f[0]) / (2.0 * h);
            if (fabs(dp - dm) > 0.02 * fmax(fabs(dp), fabs(dm))) continue;
            if (isnan(num) || fabs(cd - ana) < fabs(num - ana)) num = cd;
        }
        if (isnan(num)) { skipped++; continue; }
        double e = fabs(ana - num) / fmax(fabs(ana), fabs(num));
        if (getenv("FT_DEBUG")) print_message("    direction %d: analytic %.6e numeric %.6e\n", d, ana, num);
        worst = fmax(worst, e);
        checked++;
    }
    /* (b) single parameters: the 4 largest gradients of each conv
     * (weights, and biases where the conv has them) */
    double worst1 = 0;
    int checked1 = 0;
    for (int l = 0; l < es_cnn_nlayers(net); l++) {
        if (es_cnn_layer_at(net, l)->pool) continue;
        for (int bias = 0; bias < 2; bias++) {
            size_t n;
            float *t = bias ? es_cnn_bias(net, l, &n) : es_cnn_weight(net, l, &n);
            if (bias && es_cnn_layer_at(net, l)->nobias) continue;
            const float *gt = g + (t - p);
            size_t used[4];
            for (int k = 0; k < 4; k++) {
                /* the k-th largest |gradient| */
                size_t j = (size_t)-1;
                for (size_t i = 0; i < n; i++) {
                    int u = 0;
                    for (int q = 0; q < k; q++) u |= used[q] == i;
                    if (!u && (j == (size_t)-1 || fabsf(gt[i]) > fabsf(gt[j]))) j = i;
                }
                used[k] = j;
                float ana = gt[j], old = t[j];
                double f0 = stack_loss(&c), num = NAN;
                for (int s = 0; s < 2; s++) {   /* two steps, as the directions */
                    const float h = s ? 3e-4f : 1e-3f;
                    t[j] = old + h; double fp = stack_loss(&c);
                    t[j] = old - h; double fm = stack_loss(&c);
                    t[j] = old;
                    double dp = (fp - f0) / h, dm = (f0 - fm) / h, cd = (fp - fm) / (2.0 * h);
                    if (fabs(dp - dm) > 0.05 * fmax(fabs(dp), fabs(dm))) continue;
                    if (isnan(num) || fabs(cd - ana) < fabs(num - ana)) num = cd;
                }
                if (isnan(num)) { skipped++; continue; }
                double e = fabs(ana - num) / fmax(fabs(ana), fabs(num));
                if (getenv("FT_DEBUG")) print_message("    conv %d %s[%zu]: analytic %.6e numeric %.6e\n", l, bias ? "b" : "w", j, ana, num);
                worst1 = fmax(worst1, e);
                checked1++;
            }
        }
    }
    print_message("  last %d convolutions + head: %d directions (worst %.1e), %d single parameters (worst %.1e), %d at kinks\n",
                  K, checked, worst, checked1, worst1, skipped);
    assert_true(checked >= 4);
    assert_true(checked1 >= 4);
    assert_true(worst < DIR_TOL);
    assert_true(worst1 < TOL);
    free(p0); free(v);
    free(mel); free(x); free(dh);
    es_mlp_free(m);
    es_cnn_free(net);
}

static void test_stack_grad(void **state)
{
    (void)state;
    check_stack(1);
    check_stack(2);
    check_stack(4);
}

/* head part + tail (es_cnn, conv.c's kernels) = the encoder's own embeddings */
static void test_split_equals_encoder(void **state)
{
    (void)state;
    es_encoder *enc = es_engine_encoder(g_eng);
    const int fw = ES_EMB_STEP * 5 + ES_EMB_WINDOW;
    float *mel = malloc((size_t)fw * ES_MEL_BINS * sizeof(float)), want[6 * ES_EMB_DIM];
    es_rng r;
    es_rng_seed(&r, 3);
    for (int i = 0; i < fw * ES_MEL_BINS; i++) mel[i] = 4.0f * es_rng_uniform(&r) - 1.0f;
    es_error err = {0};
    assert_int_equal(es_encoder_full(enc, mel, (size_t)fw, want, &err), ES_OK);
    for (int K = 1; K <= es_encoder_nconv(enc); K += 3) {
        size_t per;
        int T = es_encoder_tail_frames(enc, K, fw, &per);
        float *a = malloc((size_t)T * per * sizeof(float));
        assert_int_equal(es_encoder_head_part(enc, K, mel, fw, a, &err), ES_OK);
        es_cnn *net = es_encoder_tail(enc, K, T, &err);
        assert_non_null(net);
        const float *got = es_cnn_forward(net, a, 1, &err);
        assert_non_null(got);
        assert_int_equal(es_cnn_out_size(net), 6 * ES_EMB_DIM);
        double e = 0;
        for (int i = 0; i < 6 * ES_EMB_DIM; i++) e = fmax(e, fabs(got[i] - want[i]) / (1 + fabs(want[i])));
        assert_true(e < 1e-4);
        es_cnn_free(net);
        free(a);
    }
    free(mel);
}

/* es_encoder_head_span: the output frame count follows from stride and
 * width, and changing one mel frame j changes exactly the frames whose span
 * [stride*t, stride*t + width) holds j (the speaker representation pools
 * activations by the mel frame at their centre) */
static void test_head_span(void **state)
{
    (void)state;
    es_encoder *enc = es_engine_encoder(g_eng);
    const int fw = 97, j = 41;
    float *mel = malloc((size_t)fw * ES_MEL_BINS * sizeof(float));
    es_rng r;
    es_rng_seed(&r, 5);
    for (int i = 0; i < fw * ES_MEL_BINS; i++) mel[i] = 4.0f * es_rng_uniform(&r) - 1.0f;
    es_error err = {0};
    int nc = es_encoder_nconv(enc), stride, width, C;
    assert_int_equal(es_encoder_head_span(enc, 0, &stride, &width, &C), -1);
    assert_int_equal(es_encoder_head_span(enc, nc, &stride, &width, &C), 0);
    assert_int_equal(stride, 1);
    assert_int_equal(width, 1);
    assert_int_equal(C, 1);
    for (int depth = 1; depth <= 12; depth++) {
        int K = nc - depth;
        size_t per;
        int T = es_encoder_tail_frames(enc, K, fw, &per);
        assert_int_equal(es_encoder_head_span(enc, K, &stride, &width, &C), 0);
        assert_int_equal(T, (fw - width) / stride + 1);
        assert_int_equal(per % (size_t)C, 0);
        float *a = malloc((size_t)T * per * sizeof(float)), *b = malloc((size_t)T * per * sizeof(float));
        assert_int_equal(es_encoder_head_part(enc, K, mel, fw, a, &err), ES_OK);
        for (int q = 0; q < ES_MEL_BINS; q++) mel[j * ES_MEL_BINS + q] += 3.0f;
        assert_int_equal(es_encoder_head_part(enc, K, mel, fw, b, &err), ES_OK);
        for (int q = 0; q < ES_MEL_BINS; q++) mel[j * ES_MEL_BINS + q] -= 3.0f;
        int changed = 0;
        for (int t = 0; t < T; t++) {
            int differs = memcmp(a + (size_t)t * per, b + (size_t)t * per, per * sizeof(float)) != 0;
            int covers = stride * t <= j && j < stride * t + width;
            if (differs) assert_true(covers);
            changed += differs;
        }
        assert_true(changed >= 1);
        if (depth == 2) { assert_int_equal(stride, 1); assert_int_equal(width, 3); assert_int_equal(C, 24); }
        if (depth == 4) { assert_int_equal(stride, 2); assert_int_equal(width, 6); assert_int_equal(C, 48); }
        free(a);
        free(b);
    }
    free(mel);
}

/* ------------------------------------------------------------ training runs */

static char g_dir[256];

/* digits 0-4: george and jackson (takes 0-4) train, yweweler (takes 0-9) tests */
static int make_task(void)
{
    const char *src = fsdd();
    if (!src) return 0;
    snprintf(g_dir, sizeof g_dir, "/tmp/es_ft_XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    char p[512], q[1024];
    snprintf(p, sizeof p, "%s/train", g_dir); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/test", g_dir); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/cache", g_dir); mkdir(p, 0755);
    const char *spk[3] = {"george", "jackson", "yweweler"};
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < 5; d++)
            for (int t = 0; t < (s < 2 ? 5 : 10); t++) {
                char src_path[1024];
                snprintf(src_path, sizeof src_path, "%s/%d_%s_%d.wav", src, d, spk[s], t);
                if (src_path[0] != '/') {
                    char cwd[512];
                    assert_non_null(getcwd(cwd, sizeof cwd));
                    char abs_path[1600];
                    snprintf(abs_path, sizeof abs_path, "%s/%s", cwd, src_path);
                    snprintf(src_path, sizeof src_path, "%.1000s", abs_path);
                }
                snprintf(q, sizeof q, "%s/%s/%d_%s_%d.wav", g_dir, s < 2 ? "train" : "test", d, spk[s], t);
                assert_int_equal(symlink(src_path, q), 0);
            }
    return 1;
}

static es_train_opts task_opts(const char *sub_train, const char *sub_val)
{
    static char tr[300], va[300], ca[300];
    snprintf(tr, sizeof tr, "%s/%s", g_dir, sub_train);
    snprintf(va, sizeof va, "%s/%s", g_dir, sub_val);
    snprintf(ca, sizeof ca, "%s/cache", g_dir);
    es_train_opts o;
    es_train_opts_default(&o);
    o.data_dir = tr;
    o.val_dir = va;
    o.pattern = "{label}_{speaker}_{take}";
    o.cache_dir = ca;
    o.epochs = 15;
    o.min_steps = 0;
    o.patience = 0;
    o.batch = 16;
    return o;
}

static void test_finetune_run(void **state)
{
    (void)state;
    if (!make_task()) { print_message("SKIP part: FSDD not found (set EARSHOT_FSDD)\n"); skip(); }
    es_train_opts o = task_opts("train", "test");
    o.finetune = 2;
    o.encoder_lr = 1e-3f;   /* large enough that the encoder visibly moves in 15 epochs */
    char m1[300], m2[300], m3[300], test[300];
    snprintf(m1, sizeof m1, "%s/ft.safetensors", g_dir);
    snprintf(m2, sizeof m2, "%s/ft2.safetensors", g_dir);
    snprintf(m3, sizeof m3, "%s/frozen.safetensors", g_dir);
    snprintf(test, sizeof test, "%s/test", g_dir);
    es_error err = {0};
    es_train_result r;
    assert_int_equal(es_train_head(g_eng, &o, m1, &r, NULL, NULL, &err), ES_OK);
    print_message("  fine-tuned (K=2) on %zu clips: validation accuracy %.4f, %.1f s + %.1f s\n", r.n_train, r.val_acc,
                  r.embed_seconds, r.train_seconds);
    /* 50 clips and, as with the frozen encoder, a _silence_ class as large
     * as a label (10 windows of generated noise through the frozen layers) */
    assert_int_equal(r.n_silence_train, 10);
    assert_int_equal(r.n_train, 50 + r.n_silence_train);
    assert_true(r.val_acc > 0.6);   /* five digits, 10 unseen-speaker clips each: chance is 0.2 */

    /* reload: a fine-tuned model with its two convolutions' tensors */
    es_classifier *c = es_classifier_load(m1, &err);
    assert_non_null(c);
    int k = -1;
    assert_string_equal(es_classifier_kind(c, &k), "finetune");
    assert_int_equal(k, 2);
    es_engine *fe = es_engine_create_for_classifier(NULL, c, &err);
    assert_non_null(fe);
    assert_string_equal(es_engine_encoder_sha256(fe), es_engine_encoder_sha256(g_eng));
    assert_string_not_equal(es_engine_encoder_id(fe), es_engine_encoder_id(g_eng));

    /* es_eval runs those tensors and agrees with training's own measure on
     * the same clips (up to float rounding on one borderline clip) */
    es_eval_result ev, ev2;
    assert_int_equal(es_eval(g_eng, m1, test, o.pattern, o.cache_dir, &ev, NULL, NULL, &err), ES_OK);
    print_message("  es_eval of the reloaded model: %.4f\n", ev.accuracy);
    assert_int_equal(ev.n, 50);
    assert_true(fabs(ev.accuracy - r.val_acc) <= 1.0 / 50 + 1e-9);
    /* a second eval reads the fine-tuned embeddings from the cache: same numbers */
    assert_int_equal(es_eval(g_eng, m1, test, o.pattern, o.cache_dir, &ev2, NULL, NULL, &err), ES_OK);
    assert_true(ev.accuracy == ev2.accuracy);
    assert_memory_equal(ev.confusion, ev2.confusion, 25 * sizeof(size_t));

    /* es_classifier_predict_audio: identical to the head over the
     * fine-tuned engine's embeddings; refused with the plain engine */
    char clip[512];
    snprintf(clip, sizeof clip, "%s/0_yweweler_0.wav", test);
    es_audio a;
    es_load_opts lo = {.quantize_int16 = 1};
    assert_int_equal(es_audio_load(clip, &lo, &a, &err), ES_OK);
    /* the labels and the _silence_ class: size the buffers by the model */
    float p1[16], p2[16], p3[16];
    size_t K = es_classifier_classes(c);
    assert_true(K >= 2 && K <= 16);
    assert_int_equal(es_classifier_predict_audio(fe, c, a.samples, a.n, p1, &err), ES_OK);
    es_embed_opts eo = {.mode = es_classifier_frontend(c), .pad_to = es_classifier_pad_to(c)};
    float *emb;
    size_t ne;
    assert_int_equal(es_embed_audio(fe, a.samples, a.n, &eo, NULL, NULL, &emb, &ne, &err), ES_OK);
    assert_int_equal(es_classifier_predict(c, emb + es_centre_offset(ne, es_classifier_window(c), es_classifier_frontend(c) == ES_EMBED_STREAM) * ES_EMB_DIM, p2, &err), ES_OK);
    assert_memory_equal(p1, p2, K * sizeof *p1);
    free(emb);
    assert_int_equal(es_classifier_predict_audio(g_eng, c, a.samples, a.n, p3, &err), ES_ERR_MODEL);
    print_message("  refused with the pretrained engine: %s\n", err.msg);

    /* the same head over the pretrained encoder gives other numbers: the
     * overrides are what made the difference */
    assert_int_equal(es_embed_audio(g_eng, a.samples, a.n, &eo, NULL, NULL, &emb, &ne, &err), ES_OK);
    assert_int_equal(es_classifier_predict(c, emb + es_centre_offset(ne, es_classifier_window(c), es_classifier_frontend(c) == ES_EMBED_STREAM) * ES_EMB_DIM, p3, &err), ES_OK);
    assert_memory_not_equal(p1, p3, K * sizeof *p1);
    free(emb);
    es_audio_free(&a);
    es_engine_free(fe);
    es_classifier_free(c);
    es_eval_result_free(&ev);
    es_eval_result_free(&ev2);

    /* same seed, same bytes */
    assert_int_equal(es_train_head(g_eng, &o, m2, &r, NULL, NULL, &err), ES_OK);
    unsigned char *b1, *b2;
    FILE *f1 = fopen(m1, "rb"), *f2 = fopen(m2, "rb");
    assert_non_null(f1);
    assert_non_null(f2);
    fseek(f1, 0, SEEK_END); fseek(f2, 0, SEEK_END);
    long l1 = ftell(f1), l2 = ftell(f2);
    assert_int_equal(l1, l2);
    rewind(f1); rewind(f2);
    b1 = malloc((size_t)l1); b2 = malloc((size_t)l2);
    assert_int_equal(fread(b1, 1, (size_t)l1, f1), (size_t)l1);
    assert_int_equal(fread(b2, 1, (size_t)l2, f2), (size_t)l2);
    assert_memory_equal(b1, b2, (size_t)l1);
    fclose(f1); fclose(f2);

    /* a model of another encoder: the hash in its card changed */
    unsigned char *h = NULL;
    for (long i = 0; !h && i + 64 <= l1; i++)
        if (!memcmp(b1 + i, es_engine_encoder_sha256(g_eng), 64)) h = b1 + i;
    assert_non_null(h);
    memcpy(h, "0000000000000000", 16);
    FILE *f3 = fopen(m2, "wb");
    assert_int_equal(fwrite(b1, 1, (size_t)l1, f3), (size_t)l1);
    fclose(f3);
    free(b1); free(b2);
    c = es_classifier_load(m2, &err);
    assert_non_null(c);
    assert_null(es_engine_create_for_classifier(NULL, c, &err));
    assert_int_equal(err.status, ES_ERR_MODEL);
    assert_non_null(strstr(err.msg, "another encoder"));
    es_classifier_free(c);
    memset(&err, 0, sizeof err);
    assert_int_equal(es_eval(g_eng, m2, test, o.pattern, o.cache_dir, &ev, NULL, NULL, &err), ES_ERR_MODEL);
    assert_non_null(strstr(err.msg, "another encoder"));
    print_message("  foreign encoder refused: %s\n", err.msg);

    /* bad settings are refused before any work */
    o.finetune = 21;
    assert_int_equal(es_train_head(g_eng, &o, m3, &r, NULL, NULL, &err), ES_ERR_ARG);
    o.finetune = 1;
    o.scratch = 1;
    assert_int_equal(es_train_head(g_eng, &o, m3, &r, NULL, NULL, &err), ES_ERR_ARG);
    /* a misspelt balance is refused, as a misspelt pooling is, not run as auto */
    o.finetune = 0;
    o.scratch = 0;
    o.balance = "weights";
    assert_int_equal(es_train_head(g_eng, &o, m3, &r, NULL, NULL, &err), ES_ERR_ARG);
    assert_non_null(strstr(err.msg, "'weights'"));
    /* the card's "synthesis" entry must be the JSON object the header
     * promises; any string was written into the card as it was */
    o.balance = NULL;
    o.data_note = "made by hand";
    assert_int_equal(es_train_head(g_eng, &o, m3, &r, NULL, NULL, &err), ES_ERR_ARG);
    assert_non_null(strstr(err.msg, "data_note"));
    o.data_note = "[1, 2]";
    assert_int_equal(es_train_head(g_eng, &o, m3, &r, NULL, NULL, &err), ES_ERR_ARG);
    o.data_note = NULL;
    o.balance = "weights";
    es_curve_opts co;
    es_curve_opts_default(&co);
    co.train = o;
    es_curve_result cr;
    assert_int_equal(es_learning_curve(g_eng, &co, &cr, NULL, NULL, &err), ES_ERR_ARG);
    assert_non_null(strstr(err.msg, "'weights'"));
    es_curve_result_free(&cr);
    assert_int_equal(access(m3, F_OK), -1);
}

static void test_scratch_run(void **state)
{
    (void)state;
    if (!g_dir[0]) { print_message("SKIP part: FSDD not found (set EARSHOT_FSDD)\n"); skip(); }
    es_train_opts o = task_opts("train", "test");
    o.scratch = 1;
    o.epochs = 60;
    o.lr = 3e-3f;
    o.val_dir = NULL;        /* no early stopping: the last epoch is kept, so */
    o.val_fraction = 0;      /* it must have fitted its training clips */
    char m[300], test[300];
    snprintf(m, sizeof m, "%s/scratch.safetensors", g_dir);
    snprintf(test, sizeof test, "%s/test", g_dir);
    es_error err = {0};
    es_train_result r;
    assert_int_equal(es_train_head(g_eng, &o, m, &r, NULL, NULL, &err), ES_OK);
    print_message("  scratch baseline: %d epochs, %.1f s\n", r.epochs_run, r.train_seconds);
    es_classifier *c = es_classifier_load(m, &err);
    assert_non_null(c);
    assert_string_equal(es_classifier_kind(c, NULL), "scratch");
    assert_non_null(strstr(es_classifier_meta(c, "training"), "from-scratch baseline"));
    float p[6], e[16 * ES_EMB_DIM] = {0};
    assert_int_equal(es_classifier_predict(c, e, p, &err), ES_ERR_UNSUPPORTED);
    es_eval_result ev;
    /* it learns: far above chance (0.2) on its own training clips */
    assert_int_equal(es_eval(g_eng, m, o.data_dir, o.pattern, o.cache_dir, &ev, NULL, NULL, &err), ES_OK);
    print_message("  scratch baseline on its training clips: %.4f\n", ev.accuracy);
    assert_true(ev.accuracy > 0.6);
    es_eval_result_free(&ev);
    assert_int_equal(es_eval(g_eng, m, test, o.pattern, o.cache_dir, &ev, NULL, NULL, &err), ES_OK);
    assert_int_equal(ev.n, 50);
    print_message("  scratch baseline on the unseen speaker: %.4f\n", ev.accuracy);
    /* predict_audio on one clip gives a distribution */
    char clip[512];
    snprintf(clip, sizeof clip, "%s/2_yweweler_3.wav", test);
    es_audio a;
    es_load_opts lo = {.quantize_int16 = 1};
    assert_int_equal(es_audio_load(clip, &lo, &a, &err), ES_OK);
    assert_int_equal(es_classifier_predict_audio(g_eng, c, a.samples, a.n, p, &err), ES_OK);
    assert_int_equal(es_classifier_classes(c), 6);   /* five digits and _silence_ */
    double s = p[0] + p[1] + p[2] + p[3] + p[4] + p[5];
    assert_true(fabs(s - 1) < 1e-5);
    es_audio_free(&a);
    es_eval_result_free(&ev);
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stack_grad),
        cmocka_unit_test(test_split_equals_encoder),
        cmocka_unit_test(test_head_span),
        cmocka_unit_test(test_finetune_run),
        cmocka_unit_test(test_scratch_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
