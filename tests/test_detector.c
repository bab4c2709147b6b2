/*
 * Unit tests of the streaming detector: chunking invariance, flush,
 * refractory period, minimum duration, thresholds, rejection of the
 * _unknown_/_silence_ classes, the model card's front-end note, bad input.
 * Uses the pretrained hey_jarvis head on samples/hey_jarvis.wav.
 */
#include "test_util.h"
#include "../model/nn.h"
#include "../model/safetensors.h"
#include "../pipeline/eval_talk.h"
#include "es_internal.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static es_engine *eng;
static float *word;     /* samples/hey_jarvis.wav, trailing quiet trimmed */
static size_t nword;
static char dir[256];

typedef struct {
    es_event ev[64];
    size_t n;
} evlist;

static void collect(void *user, const es_event *ev)
{
    evlist *l = user;
    if (l->n < 64) l->ev[l->n++] = *ev;
}

static es_detector *det(const char *model, const es_detector_opts *o)
{
    es_error e = {0};
    const char *m[] = {model};
    es_detector *d = es_detector_create(eng, m, 1, o, &e);
    if (!d) fprintf(stderr, "%s\n", e.msg);
    assert_non_null(d);
    return d;
}

/* Push x in pieces of random length (0 = all at once), then flush. */
static void run(es_detector *d, const float *x, size_t n, uint32_t seed, evlist *out)
{
    es_error e = {0};
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (i < n) {
        size_t k = seed ? 1 + (size_t)(test_rand(&seed) * 5000) : n;
        if (k > n - i) k = n - i;
        assert_int_equal(es_detector_push(d, x + i, k, collect, out, &e), ES_OK);
        i += k;
    }
    assert_int_equal(es_detector_flush(d, collect, out, &e), ES_OK);
}

/* the word starting at each of the given times (s) in `total` s of low noise */
static float *compose(const double *at, size_t k, double total, size_t *n)
{
    *n = (size_t)(total * ES_SAMPLE_RATE);
    float *x = calloc(*n, sizeof(float));
    uint32_t s = 7;
    for (size_t i = 0; i < *n; i++) x[i] = (test_rand(&s) - 0.5f) * 60;
    for (size_t j = 0; j < k; j++) {
        size_t o = (size_t)(at[j] * ES_SAMPLE_RATE);
        for (size_t i = 0; i < nword && o + i < *n; i++) x[o + i] += word[i];
    }
    return x;
}

static int setup(void **state)
{
    (void)state;
    test_require_models();
    es_error e = {0};
    eng = es_engine_create(NULL, &e);
    if (!eng) { fprintf(stderr, "%s\n", e.msg); return -1; }
    const char *src = getenv("EARSHOT_SRC");
    char p[4096];
    snprintf(p, sizeof p, "%s/samples/hey_jarvis.wav", src ? src : ".");
    es_audio a;
    es_load_opts lo = {1};
    if (es_audio_load(p, &lo, &a, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
    /* keep the loud part (from 50 ms before the first to the last loud
     * sample): the word is all of the clip */
    size_t first = a.n, last = 0;
    for (size_t i = 0; i < a.n; i++)
        if (fabsf(a.samples[i]) > 500) { last = i; if (first == a.n) first = i; }
    first = first > 800 ? first - 800 : 0;
    nword = last + 1 - first;
    word = malloc(nword * sizeof(float));
    memcpy(word, a.samples + first, nword * sizeof(float));
    es_audio_free(&a);
    snprintf(dir, sizeof dir, "/tmp/es_test_detector_%ld", (long)getpid());
    mkdir(dir, 0777);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    es_engine_free(eng);
    free(word);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
    return 0;
}

static void same_events(const evlist *a, const evlist *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->ev[i].label, b->ev[i].label);
        assert_true(a->ev[i].start == b->ev[i].start);
        assert_true(a->ev[i].end == b->ev[i].end);
        assert_true(a->ev[i].score == b->ev[i].score);
    }
}

static void test_chunking_invariance(void **state)
{
    (void)state;
    double at[] = {1.0, 5.5, 9.2};
    size_t n;
    float *x = compose(at, 3, 13.0, &n);
    for (int block = 1; block <= 16; block += 15) {
        es_detector_opts o;
        es_detector_opts_default(&o);
        o.block = block;
        es_detector *d = det("hey_jarvis", &o);
        evlist whole, pieces, again;
        run(d, x, n, 0, &whole);
        run(d, x, n, 12345, &pieces);
        run(d, x, n, 999, &again);   /* also: flush resets for the next stream */
        assert_int_equal(whole.n, 3);
        same_events(&whole, &pieces);
        same_events(&whole, &again);
        for (size_t i = 0; i < 3; i++) {
            /* the word's centre within 0.5 s of the truth */
            double c = (whole.ev[i].start + whole.ev[i].end) / 2, t = at[i] + nword / 2.0 / ES_SAMPLE_RATE;
            assert_true(fabs(c - t) < 0.5);
            assert_true(whole.ev[i].score >= 0.5f && whole.ev[i].score <= 1.0f);
            assert_string_equal(whole.ev[i].label, "hey_jarvis");
        }
        es_detector_free(d);
    }
    /* early mode: the same utterances, reported sooner, and also invariant */
    es_detector_opts o;
    es_detector_opts_default(&o);
    o.early = 1;
    es_detector *d = det("hey_jarvis", &o);
    es_detector *late = det("hey_jarvis", NULL);
    evlist whole, pieces, ref;
    run(d, x, n, 0, &whole);
    run(d, x, n, 4242, &pieces);
    run(late, x, n, 0, &ref);
    same_events(&whole, &pieces);
    assert_int_equal(whole.n, ref.n);
    for (size_t i = 0; i < whole.n; i++) {
        assert_string_equal(whole.ev[i].label, ref.ev[i].label);
        assert_true(fabs(whole.ev[i].start - ref.ev[i].start) < 0.5);
    }
    es_detector_free(d);
    es_detector_free(late);
    free(x);
}

typedef struct {
    es_detector *d;
    double at[8];
    size_t n;
} when_ctx;

static void when(void *user, const es_event *ev)
{
    (void)ev;
    when_ctx *w = user;
    if (w->n < 8) w->at[w->n++] = es_detector_time(w->d);
}

/* Early mode reports while the audio is still coming; the default waits
 * for the score to fall. */
static void test_early_latency(void **state)
{
    (void)state;
    double at[] = {1.0};
    size_t n;
    float *x = compose(at, 1, 6.0, &n);
    double word_end = 1.0 + (double)nword / ES_SAMPLE_RATE;
    for (int early = 0; early <= 1; early++) {
        es_detector_opts o;
        es_detector_opts_default(&o);
        o.early = early;
        when_ctx w = {det("hey_jarvis", &o), {0}, 0};
        es_error e = {0};
        for (size_t i = 0; i < n; i += ES_CHUNK)
            assert_int_equal(es_detector_push(w.d, x + i, n - i < ES_CHUNK ? n - i : ES_CHUNK, when, &w, &e), ES_OK);
        assert_int_equal(w.n, 1);
        if (early) assert_true(w.at[0] - word_end < 0.6);
        else assert_true(w.at[0] - word_end > 0.6);
        es_detector_free(w.d);
    }
    free(x);
}

static void test_flush_keeps_last_event(void **state)
{
    (void)state;
    double at[] = {0.5};
    size_t n;
    /* the input ends right after the word: its region is still open */
    float *x = compose(at, 1, 0.5 + (double)nword / ES_SAMPLE_RATE, &n);
    es_detector *d = det("hey_jarvis", NULL);
    evlist l = {0};
    es_error e = {0};
    assert_int_equal(es_detector_push(d, x, n, collect, &l, &e), ES_OK);
    assert_int_equal(l.n, 0);
    assert_true(fabs(es_detector_time(d) - (double)n / ES_SAMPLE_RATE) < 1e-9);
    assert_int_equal(es_detector_flush(d, collect, &l, &e), ES_OK);
    assert_int_equal(l.n, 1);
    assert_true(l.ev[0].end <= (double)n / ES_SAMPLE_RATE + 1e-9);   /* clipped to the audio */
    assert_true(es_detector_time(d) == 0);
    es_detector_free(d);
    free(x);
}

static void test_refractory_and_min_duration(void **state)
{
    (void)state;
    double at[] = {1.0, 3.6};
    size_t n;
    float *x = compose(at, 2, 7.0, &n);
    es_detector_opts o;
    es_detector_opts_default(&o);
    evlist l;
    es_detector *d = det("hey_jarvis", &o);
    run(d, x, n, 0, &l);
    assert_int_equal(l.n, 2);
    es_detector_free(d);
    o.refractory = 5.0;   /* the second utterance falls in the first's refractory period */
    d = det("hey_jarvis", &o);
    run(d, x, n, 0, &l);
    assert_int_equal(l.n, 1);
    es_detector_free(d);
    o.refractory = 0.5;
    o.min_duration = 3.0;   /* no region lasts that long */
    d = det("hey_jarvis", &o);
    run(d, x, n, 0, &l);
    assert_int_equal(l.n, 0);
    es_detector_free(d);
    /* thresholds: 1.0 is never reached; an unknown label is refused */
    d = det("hey_jarvis", NULL);
    es_error e = {0};
    assert_int_equal(es_detector_set_threshold(d, "nope", 0.5, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "nope"));
    assert_int_equal(es_detector_set_threshold(d, "hey_jarvis", 1.0, &e), ES_OK);
    assert_true(es_detector_threshold(d, 0) == 1.0);
    run(d, x, n, 0, &l);
    assert_int_equal(l.n, 0);
    assert_int_equal(es_detector_set_threshold(d, NULL, 0.0, &e), ES_ERR_ARG);
    es_detector_free(d);
    free(x);
}

typedef struct {
    size_t steps;
    double first;   /* end time of the first step a window was scored at */
} scored;

static void score_count(void *user, double t, const float *s, size_t n)
{
    scored *c = user;
    assert_int_equal(n, 3);
    /* _unknown_ wins wherever a window is scored; 0 before the first */
    if (s[1] > 0.5f && c->first < -1e8) c->first = t;
    c->steps++;
}

/* A hand-made classifier whose _unknown_ output always wins. */
static void write_model(const char *path, const char *mode, int unknown_wins)
{
    es_mlp_cfg cfg = {.window = 16, .dim = ES_EMB_DIM, .pool = ES_POOL_MEAN, .n_hidden = 0, .n_classes = 3};
    es_error e = {0};
    es_mlp *m = es_mlp_create(&cfg, 1, &e);
    assert_non_null(m);
    size_t np;
    float *p = es_mlp_params(m, &np);
    memset(p, 0, np * sizeof(float));
    const es_param_info *b = es_mlp_find(m, "head.0.bias");
    assert_non_null(b);
    p[b->offset + (unknown_wins ? 1 : 2)] = 10;   /* labels sorted: _silence_, _unknown_, yes */
    es_st_tensor t[2];
    for (int i = 0; i < 2; i++) {
        const es_param_info *pi = es_mlp_tensor(m, i);
        t[i] = (es_st_tensor){pi->name, pi->ndim, {pi->shape[0], pi->shape[1]}, p + pi->offset};
    }
    char fe[64];
    snprintf(fe, sizeof fe, "{\"mode\": \"%s\"}", mode);
    const char *k[] = {"earshot.format", "labels", "architecture", "frontend", "encoder_sha256", "thresholds"};
    const char *v[] = {"earshot-head-1", "[\"_silence_\", \"_unknown_\", \"yes\"]",
                       "{\"window\": 16, \"dim\": 96, \"pooling\": \"mean\", \"hidden\": [], \"pad_to\": 2.0}", fe,
                       es_engine_encoder_sha256(eng), "{\"yes\": 0.7}"};
    assert_int_equal(es_st_write(path, t, 2, k, v, 6, &e), ES_OK);
    es_mlp_free(m);
}

static void test_classifier(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/unk.safetensors", dir);
    write_model(p, "stream", 1);
    double at[] = {1.0};
    size_t n;
    float *x = compose(at, 1, 4.0, &n);
    es_detector *d = det(p, NULL);
    assert_int_equal(es_detector_labels(d), 3);
    assert_false(es_detector_reported(d, 0));
    assert_false(es_detector_reported(d, 1));
    assert_true(es_detector_reported(d, 2));
    assert_true(fabs(es_detector_threshold(d, 2) - 0.7) < 1e-9);   /* from the card */
    assert_null(es_detector_warning(d));
    assert_string_equal(es_detector_model_name(d, 0), "unk");
    scored c = {0, -1e9};
    es_detector_set_score_fn(d, score_count, &c);
    evlist l;
    run(d, x, n, 0, &l);
    assert_int_equal(l.n, 0);   /* _unknown_ wins everywhere: never reported */
    assert_true(c.steps > 40);
    /* The first window scored is the first whose 16 embeddings see only
     * the stream, none of the ones the encoder starts primed with: step
     * 16 + 9 of the stream, 1 s of it leading silence (the default pad).
     * An adapted model once fired on the primed windows. */
    assert_true(fabs(c.first - ((16 + ES_STREAM_PRIMED) * 0.08 - 1.0)) < 1e-6);
    es_detector_free(d);
    /* "yes" always wins: one long region, one event; a whole-clip model gets a note */
    snprintf(p, sizeof p, "%s/yes.safetensors", dir);
    write_model(p, "whole", 0);
    d = det(p, NULL);
    assert_non_null(es_detector_warning(d));
    run(d, x, n, 0, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ev[0].label, "yes");
    assert_true(l.ev[0].start >= 0 && l.ev[0].end <= 4.0 + 1e-9);
    es_detector_free(d);
    free(x);
}

/* The encoder a model or profile was made with, by its SHA-256 in hex:
 * the same digits in upper case are the same encoder, another is refused
 * with both named. */
static void test_made_with(void **state)
{
    (void)state;
    es_error e = {0};
    es_engine *eng = es_engine_create(NULL, &e);
    if (!eng) skip();   /* the pretrained models are not fetched */
    char up[65];
    snprintf(up, sizeof up, "%s", es_engine_encoder_sha256(eng));
    for (char *p = up; *p; p++) *p = (char)toupper((unsigned char)*p);
    assert_int_equal(es_engine_check_made_with(eng, "the model", up, NULL, NULL, &e), ES_OK);
    char other[65];
    memset(other, 'a', 64);
    other[64] = 0;
    assert_int_equal(es_engine_check_made_with(eng, "the model", other, NULL, "retrain it", &e), ES_ERR_MODEL);
    assert_non_null(strstr(e.msg, "the model: made with another encoder (sha256 aaaaaaaaaaaa..."));
    assert_non_null(strstr(e.msg, "; retrain it"));
    es_engine_free(eng);
}

/* After a failed create a program's error path may still call getters:
 * NULL handles give 0, NULL or NaN, never a crash or a wild pointer (the
 * engine's string getters returned small non-NULL addresses) */
static void test_null_handles(void **state)
{
    (void)state;
    es_error e = {0};
    assert_null(es_engine_models_dir(NULL));
    assert_null(es_engine_encoder_sha256(NULL));
    assert_null(es_engine_encoder_id(NULL));
    assert_null(es_engine_mel(NULL));
    assert_null(es_engine_encoder(NULL));
    assert_int_equal(es_detector_labels(NULL), 0);
    assert_null(es_detector_label(NULL, 0));
    assert_int_equal(es_detector_models(NULL), 0);
    assert_null(es_detector_warning(NULL));
    assert_true(isnan(es_detector_threshold(NULL, 0)));
    es_detector_reset(NULL);
    es_detector_set_score_fn(NULL, NULL, NULL);
    /* every *_opts_default has nothing to fill, as es_load_opts_default */
    es_load_opts_default(NULL);
    es_detector_opts_default(NULL);
    es_capture_opts_default(NULL);
    es_train_opts_default(NULL);
    es_curve_opts_default(NULL);
    es_synth_opts_default(NULL);
    es_adapt_opts_default(NULL);
    assert_int_equal(es_detector_set_threshold(NULL, NULL, 0.5, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "no detector"));
    assert_int_equal(es_classifier_classes(NULL), 0);
    assert_null(es_classifier_label(NULL, 0));
    assert_null(es_classifier_meta(NULL, "labels"));
    assert_null(es_classifier_kind(NULL, NULL));
    assert_null(es_classifier_load(NULL, &e));
    assert_true(isnan(es_speakers_threshold(NULL)));
    /* a required output struct missing is refused, as es_train_head does,
     * not written through (es_eval crashed) */
    assert_int_equal(es_eval(eng, "m.safetensors", "data", NULL, NULL, NULL, NULL, NULL, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "no result"));
    assert_int_equal(es_eval_with(eng, "m.safetensors", "data", NULL, NULL, NULL, NULL, NULL, NULL, &e), ES_ERR_ARG);
    /* a missing engine or folder is the caller's mistake, told as es_eval's
     * before any file is read (it was ES_ERR_IO for the model file, or
     * the message of an internal function, "es_dataset_scan: ...") */
    es_eval_result er;
    assert_int_equal(es_eval(NULL, "/nonexistent/m.safetensors", "data", NULL, NULL, &er, NULL, NULL, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "es_eval"));
    assert_int_equal(es_eval(eng, "/nonexistent/m.safetensors", NULL, NULL, NULL, &er, NULL, NULL, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "es_eval"));
    assert_int_equal(es_speakers_find(NULL, "x"), 0);
    assert_int_equal(es_head_window(NULL), 0);
    assert_null(es_head_label(NULL, 0));
    /* the rest of the getters the header's convention covers (these crashed) */
    assert_null(es_head_name(NULL));
    assert_int_equal(es_head_classes(NULL), 0);
    assert_true(isnan(es_classifier_pad_to(NULL)));
    assert_int_equal(es_classifier_frontend(NULL), ES_EMBED_WHOLE);
    assert_null(es_speakers_encoder_sha256(NULL));
    assert_false(es_speakers_threshold_is_set(NULL));
}

/* The header: every function that can fail returns its status whether or
 * not it is given an es_error. es_eval and es_adapt read a failed model
 * load's status back from err, and without one guessed ES_ERR_MODEL: a
 * missing file is ES_ERR_IO, a file that is not a model ES_ERR_FORMAT. */
static void test_status_without_err(void **state)
{
    (void)state;
    char dir[256], junk[300], out[300];
    assert_int_equal(test_tmpdir(dir, sizeof dir, "noerr"), 0);
    snprintf(junk, sizeof junk, "%s/junk.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("not a model at all, but long enough to have a header", f);
    fclose(f);
    const char *data = dir;
    es_eval_result r;
    es_error e = {0};
    assert_int_equal(es_eval(eng, "/nonexistent/m.safetensors", data, NULL, NULL, &r, NULL, NULL, &e), ES_ERR_IO);
    assert_int_equal(es_eval(eng, "/nonexistent/m.safetensors", data, NULL, NULL, &r, NULL, NULL, NULL), ES_ERR_IO);
    assert_int_equal(es_eval(eng, junk, data, NULL, NULL, &r, NULL, NULL, &e), ES_ERR_FORMAT);
    assert_int_equal(es_eval(eng, junk, data, NULL, NULL, &r, NULL, NULL, NULL), ES_ERR_FORMAT);
    es_adapt_opts ao;
    es_adapt_opts_default(&ao);
    es_adapt_result ar;
    assert_int_equal(es_adapt(eng, "/nonexistent/m.safetensors", data, &ao, out, &ar, NULL, NULL, &e), ES_ERR_IO);
    assert_int_equal(es_adapt(eng, "/nonexistent/m.safetensors", data, &ao, out, &ar, NULL, NULL, NULL), ES_ERR_IO);
    assert_int_equal(es_adapt(eng, junk, data, &ao, out, &ar, NULL, NULL, NULL), ES_ERR_FORMAT);
    test_rmtree(dir);
}

/* Samples no file gives but a caller can: near 1e30 a frame's power passed
 * FLT_MAX, the top-dB floor became inf - 80 and the whole clip's log-mel,
 * embeddings and scores were inf or NaN. Every output must stay finite, in
 * both embedding modes and through a pretrained head's streaming scorer. */
static int finite_all(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) if (!isfinite(v[i])) return 0;
    return 1;
}

static void score_finite(void *user, size_t head, double t, const float *scores, size_t n)
{
    (void)head; (void)t;
    int *bad = user;
    if (!finite_all(scores, n)) (*bad)++;
    bad[1]++;
}

static void test_extreme_samples(void **state)
{
    (void)state;
    enum { N = 32000 };
    static float x[N];
    const float amp[] = {1e30f, -1e30f, FLT_MAX, 3e35f};
    es_error e = {0};
    es_onnx *hm = test_model("alexa");
    assert_non_null(hm);
    es_head *h = es_head_create(hm, "alexa", &e);
    assert_non_null(h);
    for (int a = 0; a < 5; a++) {
        uint32_t seed = 7;
        for (int i = 0; i < N; i++) {
            float r = 2.0f * test_rand(&seed) - 1.0f;
            /* case 4: speech-scale noise with one huge burst, inf and NaN */
            x[i] = a < 4 ? amp[a] * r : 3000.0f * r;
        }
        if (a == 4) {
            for (int i = 8000; i < 8400; i++) x[i] = 1e32f * (i % 2 ? 1 : -1);
            x[12000] = INFINITY;
            x[12001] = -INFINITY;
            x[20000] = NAN;
        }
        for (int mode = 0; mode < 2; mode++) {
            es_embed_opts o = {0};
            o.mode = mode ? ES_EMBED_STREAM : ES_EMBED_WHOLE;
            float *mel = NULL, *emb = NULL;
            size_t frames = 0, n_emb = 0;
            assert_int_equal(es_embed_audio(eng, x, N, &o, &mel, &frames, &emb, &n_emb, &e), ES_OK);
            assert_true(frames > 0 && n_emb > 0);
            if (!finite_all(mel, frames * 32) || !finite_all(emb, n_emb * 96))
                fail_msg("case %d, mode %d: log-mel or embeddings not finite", a, mode);
            free(mel);
            free(emb);
        }
        es_scorer *sc = es_scorer_create(eng, &h, 1, &e);
        assert_non_null(sc);
        int bad[2] = {0, 0};
        assert_int_equal(es_scorer_push(sc, x, N, score_finite, bad, &e), ES_OK);
        assert_true(bad[1] > 0);
        if (bad[0]) fail_msg("case %d: %d of %d score steps not finite", a, bad[0], bad[1]);
        es_scorer_free(sc);
    }
    es_head_free(h);
    es_onnx_free(hm);
}

static void test_bad_input(void **state)
{
    (void)state;
    es_error e = {0};
    const char *m[] = {"/nonexistent/model.safetensors"};
    assert_null(es_detector_create(eng, m, 1, NULL, &e));
    assert_non_null(strstr(e.msg, "/nonexistent/model.safetensors"));
    /* a directory given as a model path is called one, not "No such file"
     * (a stale errno, after a stat() that had succeeded) */
    const char *m1[] = {dir};
    assert_null(es_detector_create(eng, m1, 1, NULL, &e));
    assert_non_null(strstr(e.msg, "a directory"));
    assert_null(strstr(e.msg, "No such file"));
    char p0[512];
    assert_int_equal(es_models_path(NULL, dir, p0, sizeof p0, &e), ES_ERR_IO);
    assert_non_null(strstr(e.msg, "a directory"));
    const char *m2[] = {"no_such_head"};
    assert_null(es_detector_create(eng, m2, 1, NULL, &e));
    assert_non_null(strstr(e.msg, "no_such_head"));
    assert_null(es_detector_create(eng, NULL, 0, NULL, &e));
    es_detector_opts o;
    es_detector_opts_default(&o);
    o.smooth = 0;
    const char *m3[] = {"hey_jarvis"};
    assert_null(es_detector_create(eng, m3, 1, &o, &e));
    assert_int_equal(e.status, ES_ERR_ARG);
    /* the message names the option out of range and the argument missing */
    assert_non_null(strstr(e.msg, "smooth 0"));
    es_detector_opts_default(&o);
    o.refractory = 1e9;   /* the old list of ranges said only "refractory >= 0" */
    assert_null(es_detector_create(eng, m3, 1, &o, &e));
    assert_non_null(strstr(e.msg, "refractory"));
    assert_null(es_detector_create(NULL, m3, 1, NULL, &e));
    assert_non_null(strstr(e.msg, "no engine"));
    /* a file that is not a model */
    char p[512];
    snprintf(p, sizeof p, "%s/junk.safetensors", dir);
    FILE *f = fopen(p, "w");
    fputs("not a model", f);
    fclose(f);
    const char *m4[] = {p};
    assert_null(es_detector_create(eng, m4, 1, NULL, &e));
    assert_non_null(strstr(e.msg, p));
    es_detector *d = det("hey_jarvis", NULL);
    assert_int_equal(es_detector_push(d, NULL, 5, NULL, NULL, &e), ES_ERR_ARG);
    assert_int_equal(es_detector_push(d, NULL, 0, NULL, NULL, &e), ES_OK);
    assert_int_equal(es_detector_flush(d, NULL, NULL, &e), ES_OK);   /* empty stream */
    es_detector_free(d);
    es_detector_free(NULL);
}


/* es_detector_record / es_detector_replay: the events a replay of one
 * recorded pass reports at each threshold are exactly (labels, times,
 * scores) those of a detector run at that threshold, at the block sizes
 * of listen (1) and transcribe (16); the recording pass reports what a
 * plain run does, and thresholds are left as they were. The word is mixed
 * in at falling levels so that its peaks spread over the thresholds. */
static void test_record_replay(void **state)
{
    (void)state;
    double at[] = {1.0, 3.5, 6.0, 8.5, 11.0, 13.5};
    static const float gain[] = {1.0f, 0.5f, 0.25f, 0.12f, 0.06f, 0.03f};
    size_t n;
    float *x = compose(NULL, 0, 16.0, &n);
    for (size_t j = 0; j < 6; j++) {
        size_t o = (size_t)(at[j] * ES_SAMPLE_RATE);
        for (size_t i = 0; i < nword && o + i < n; i++) x[o + i] += gain[j] * word[i];
    }
    /* whole int16 values: what the WAV file gives back */
    for (size_t i = 0; i < n; i++) x[i] = fminf(fmaxf(rintf(x[i]), -32768), 32767);
    char p[512];
    snprintf(p, sizeof p, "%s/sweep.wav", dir);
    es_error e = {0};
    assert_int_equal(es_audio_write_wav(p, x, n, &e), ES_OK);
    static const double th[] = {0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0};
    enum { NT = sizeof th / sizeof th[0] };
    static const int blocks[] = {1, 16};
    for (int b = 0; b < 2; b++) {
        es_detector_opts o;
        es_detector_opts_default(&o);
        o.block = blocks[b];
        es_detector *d = det("hey_jarvis", &o);
        assert_int_equal(es_detector_labels(d), 1);
        es_load_opts lo = {1};
        es_reader *r = es_reader_open(p, &lo, &e);
        assert_non_null(r);
        evlist own = {0}, l, rl;
        es_recording *rec = NULL;
        assert_int_equal(es_detector_record(d, r, collect, &own, &rec, &e), ES_OK);
        es_reader_close(r);
        assert_true(fabs(es_recording_seconds(rec) - 16.0) < 1e-9);
        assert_true(es_detector_threshold(d, 0) == 0.5);   /* unchanged */
        run(d, x, n, 0, &l);   /* the same detector again, as it was: the events fn had */
        assert_true(l.n >= 2);
        same_events(&own, &l);
        /* NULL: the detector's own thresholds */
        memset(&rl, 0, sizeof rl);
        assert_int_equal(es_detector_replay(d, rec, NULL, collect, &rl, &e), ES_OK);
        same_events(&rl, &l);
        /* another detector of the same model and block replays it too */
        es_detector *d2 = det("hey_jarvis", &o);
        size_t distinct = 0, first = 0, prev = 0;
        for (int t = 0; t < NT; t++) {
            es_detector_opts ot = o;
            ot.threshold = th[t];
            es_detector *dt = det("hey_jarvis", &ot);
            run(dt, x, n, 0, &l);
            memset(&rl, 0, sizeof rl);
            assert_int_equal(es_detector_replay(d2, rec, &th[t], collect, &rl, &e), ES_OK);
            same_events(&rl, &l);   /* (l's labels are dt's strings) */
            es_detector_free(dt);
            if (t == 0) first = rl.n;
            else if (rl.n != prev) distinct++;
            prev = rl.n;
        }
        assert_true(es_detector_threshold(d2, 0) == 0.5);
        /* not a flat line: the levels spread the counts */
        assert_true(first >= 4);
        assert_int_equal(prev, 0);
        assert_true(distinct >= 2);
        /* refused: a threshold out of (0, 1], another block size */
        double bad = 0.0;
        assert_int_equal(es_detector_replay(d2, rec, &bad, collect, &rl, &e), ES_ERR_ARG);
        es_detector_opts ob = o;
        ob.block = blocks[1 - b];
        es_detector *db = det("hey_jarvis", &ob);
        assert_int_equal(es_detector_replay(db, rec, NULL, collect, &rl, &e), ES_ERR_ARG);
        assert_non_null(strstr(e.msg, "other models or options"));
        es_detector_free(db);
        /* another model with as many labels: its outputs would be misread */
        es_detector *dm = det("alexa", &o);
        assert_int_equal(es_detector_labels(dm), 1);
        assert_int_equal(es_detector_replay(dm, rec, NULL, collect, &rl, &e), ES_ERR_ARG);
        es_detector_free(dm);
        /* other event options: smoothing */
        es_detector_opts os = o;
        os.smooth = 3;
        es_detector *ds = det("hey_jarvis", &os);
        assert_int_equal(es_detector_replay(ds, rec, NULL, collect, &rl, &e), ES_ERR_ARG);
        es_detector_free(ds);
        es_detector_free(d2);
        es_recording_free(rec);
        es_detector_free(d);
    }
    free(x);
}

/* es_model_set_thresholds (eval --set-thresholds): the card's thresholds
 * change, and a detector reads the new ones; the weights are untouched;
 * refusals write nothing. */
static void test_set_thresholds(void **state)
{
    (void)state;
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/thr_in.safetensors", dir);
    snprintf(out, sizeof out, "%s/thr_out.safetensors", dir);
    write_model(in, "stream", 0);
    es_error e = {0};
    const char *lab[] = {"yes"};
    double thr[] = {0.9};
    assert_int_equal(es_model_set_thresholds(in, out, lab, thr, 1, "{\"by\": \"test\"}", &e), ES_OK);
    es_detector *d = det(out, NULL);
    assert_true(fabs(es_detector_threshold(d, 2) - 0.9) < 1e-9);   /* was 0.7 */
    es_detector_free(d);
    es_st *a = es_st_load(in, &e), *b = es_st_load(out, &e);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(es_st_count(a), es_st_count(b));
    for (size_t i = 0; i < es_st_count(a); i++) {
        const es_st_tensor *x = es_st_at(a, i), *y = es_st_at(b, i);
        size_t n = 1;
        for (int k = 0; k < x->ndim; k++) n *= (size_t)x->shape[k];
        assert_string_equal(x->name, y->name);
        assert_memory_equal(x->data, y->data, n * sizeof(float));
    }
    assert_string_equal(es_st_meta(b, "thresholds_source"), "{\"by\": \"test\"}");
    assert_string_equal(es_st_meta(a, "labels"), es_st_meta(b, "labels"));
    es_st_free(a);
    es_st_free(b);
    /* refused, nothing written: a label it lacks, a threshold of 0, a
     * source that is not a JSON object, a file that is not a model */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/thr_bad.safetensors", dir);
    const char *nolab[] = {"no"};
    assert_int_equal(es_model_set_thresholds(in, bad, nolab, thr, 1, "{}", &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "'no'"));
    double zero[] = {0.0};
    assert_int_equal(es_model_set_thresholds(in, bad, lab, zero, 1, "{}", &e), ES_ERR_ARG);
    assert_int_equal(es_model_set_thresholds(in, bad, lab, thr, 1, "[1]", &e), ES_ERR_ARG);
    char junk[512];
    snprintf(junk, sizeof junk, "%s/thr_junk.safetensors", dir);
    FILE *f = fopen(junk, "wb");
    assert_non_null(f);
    fputs("not a model", f);
    fclose(f);
    assert_true(es_model_set_thresholds(junk, bad, lab, thr, 1, "{}", &e) != ES_OK);
    assert_int_equal(access(bad, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunking_invariance),
        cmocka_unit_test(test_early_latency),
        cmocka_unit_test(test_flush_keeps_last_event),
        cmocka_unit_test(test_refractory_and_min_duration),
        cmocka_unit_test(test_classifier),
        cmocka_unit_test(test_record_replay),
        cmocka_unit_test(test_set_thresholds),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_extreme_samples),
        cmocka_unit_test(test_null_handles),
        cmocka_unit_test(test_status_without_err),
        cmocka_unit_test(test_made_with),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
