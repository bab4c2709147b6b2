/*
 * The header's promises about threads, checked: several detectors (one per
 * thread) share one engine; the embedding, encoder and speaker calls run
 * from several threads on one engine; es_set_threads is process-wide and
 * may change while other threads work; the warning handler hears every
 * message once, from whichever thread met it. Every concurrent result must
 * be bit-identical to the same work done serially, and to the same work at
 * another thread count; except one window alone (es_encoder_windows with
 * nwin = 1), which two threads split by rows, and which on some OpenBLAS
 * kernels (Prescott, Haswell) then rounds differently from one thread: at
 * two threads or more it must be within 1e-5 of one thread's, on the
 * scale of the embedding's largest element.
 *
 * The comparisons catch shared scratch in the plain build; the data races
 * that do not (yet) corrupt a result, such as a lazily set global, only
 * ThreadSanitizer sees: `scripts/test.sh --tsan` runs this test in
 * build-tsan/ (ThreadSanitizer makes any race found fail the test).
 *
 * Worker threads only record what they got: cmocka's asserts longjmp and
 * must run on the main thread.
 */
#include "test_util.h"
#include "../pipeline/train_aug.h"

#include <math.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NT 4          /* worker threads */
#define NIN 4         /* different inputs */

static es_engine *eng;
static float *in_x[NIN];
static size_t in_n[NIN];
static const char *models[] = {"hey_jarvis", "alexa", "hey_mycroft", "weather"};
#define NMODELS (sizeof models / sizeof models[0])

static float *load_sample(const char *name, size_t *n)
{
    const char *src = getenv("EARSHOT_SRC");
    char p[4096];
    snprintf(p, sizeof p, "%s/samples/%s", src ? src : ".", name);
    es_audio a;
    es_error e = {0};
    if (es_audio_load(p, NULL, &a, &e)) { fprintf(stderr, "%s\n", e.msg); return NULL; }
    *n = a.n;
    return a.samples;
}

/* Input i: two of the samples with half a second of silence between them,
 * so that every input holds words of two models. */
static int setup(void **state)
{
    (void)state;
    test_require_models();
    static const char *files[] = {"hey_jarvis.wav", "alexa.wav", "hey_mycroft.wav", "weather.wav", "no_wake_word.wav"};
    enum { NF = 5 };
    float *s[NF];
    size_t sn[NF];
    for (int i = 0; i < NF; i++)
        if (!(s[i] = load_sample(files[i], &sn[i]))) return -1;
    static const int pair[NIN][2] = {{0, 1}, {1, 2}, {2, 3}, {4, 0}};
    for (int i = 0; i < NIN; i++) {
        size_t a = sn[pair[i][0]], gap = ES_SAMPLE_RATE / 2, b = sn[pair[i][1]];
        in_n[i] = a + gap + b;
        if (!(in_x[i] = calloc(in_n[i], sizeof(float)))) return -1;
        memcpy(in_x[i], s[pair[i][0]], a * sizeof(float));
        memcpy(in_x[i] + a + gap, s[pair[i][1]], b * sizeof(float));
    }
    for (int i = 0; i < NF; i++) free(s[i]);
    /* no engine here: the first test makes engines from several threads
     * before anything in the process has asked es_threads() */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    es_engine_free(eng);
    for (int i = 0; i < NIN; i++) free(in_x[i]);
    return 0;
}

/* Run fn(arg[i]) for i < n on n threads at once (a barrier lines them up
 * so that they really overlap). */
typedef struct {
    pthread_barrier_t *bar;
    void (*fn)(void *);
    void *arg;
} start_arg;

static void *starter(void *p)
{
    start_arg *s = p;
    pthread_barrier_wait(s->bar);
    s->fn(s->arg);
    return NULL;
}

static void run_threads(int n, void (*fn)(void *), void *args, size_t arg_size)
{
    pthread_t th[16];
    start_arg sa[16];
    pthread_barrier_t bar;
    assert_true(n <= 16);
    assert_int_equal(pthread_barrier_init(&bar, NULL, (unsigned)n), 0);
    for (int i = 0; i < n; i++) {
        sa[i] = (start_arg){&bar, fn, (char *)args + (size_t)i * arg_size};
        assert_int_equal(pthread_create(&th[i], NULL, starter, &sa[i]), 0);
    }
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
}

static void same_floats(const float *a, size_t na, const float *b, size_t nb)
{
    assert_int_equal(na, nb);
    assert_non_null(a);
    assert_non_null(b);
    for (size_t i = 0; i < na; i++)
        if (memcmp(&a[i], &b[i], sizeof(float))) {
            fprintf(stderr, "differs at %zu of %zu: %.9g vs %.9g\n", i, na, a[i], b[i]);
            fail();
        }
}

/* a and b within rel of each other, on the scale of the largest |b| */
static void close_floats(const float *a, const float *b, size_t n, double rel)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > rel * scale) {
            fprintf(stderr, "differs at %zu of %zu: %.9g vs %.9g (beyond %g of %g)\n", i, n, a[i], b[i], rel, scale);
            fail();
        }
}

/* ------------------------------------------------------ embeddings */

typedef struct {
    es_engine *e;        /* NULL: make an engine of its own first */
    const float *x;
    size_t n;
    es_embed_mode mode;
    float *mel, *emb;
    size_t frames, n_emb;
    es_status st;
    es_error err;
    es_engine *made;
} embed_job;

static void embed_one(void *p)
{
    embed_job *j = p;
    es_engine *e = j->e;
    if (!e && !(e = j->made = es_engine_create(NULL, &j->err))) { j->st = j->err.status; return; }
    es_embed_opts o = {0};
    o.mode = j->mode;
    j->st = es_embed_audio(e, j->x, j->n, &o, &j->mel, &j->frames, &j->emb, &j->n_emb, &j->err);
}

static void embed_serial(embed_job *j)
{
    embed_one(j);
    if (j->st) fprintf(stderr, "%s\n", j->err.msg);
    assert_int_equal(j->st, ES_OK);
    assert_true(j->n_emb > 0);
}

static void embed_free(embed_job *j)
{
    free(j->mel);
    free(j->emb);
    es_engine_free(j->made);
}

/* Engines made at the same moment on several threads, each embedding its
 * input: the first library call of a program may come from any thread.
 * (es_engine_create settles the process-wide thread count lazily; two
 * threads doing that at once was a data race on it.) */
static void test_engines_made_concurrently(void **state)
{
    (void)state;
    embed_job par[NT];
    memset(par, 0, sizeof par);
    for (int i = 0; i < NT; i++) par[i] = (embed_job){.x = in_x[i % NIN], .n = in_n[i % NIN], .mode = ES_EMBED_WHOLE};
    run_threads(NT, embed_one, par, sizeof par[0]);
    for (int i = 0; i < NT; i++) {
        if (par[i].st) fprintf(stderr, "thread %d: %s\n", i, par[i].err.msg);
        assert_int_equal(par[i].st, ES_OK);
    }
    es_error e = {0};
    eng = es_engine_create(NULL, &e);
    assert_non_null(eng);
    for (int i = 0; i < NT; i++) {
        embed_job ser = {.e = eng, .x = in_x[i % NIN], .n = in_n[i % NIN], .mode = ES_EMBED_WHOLE};
        embed_serial(&ser);
        same_floats(par[i].mel, par[i].frames * 32, ser.mel, ser.frames * 32);
        same_floats(par[i].emb, par[i].n_emb * ES_EMB_DIM, ser.emb, ser.n_emb * ES_EMB_DIM);
        embed_free(&ser);
        embed_free(&par[i]);
    }
}

/* es_embed_audio (whole clip and streaming) from several threads on one
 * engine, at one, two and four library threads per call. */
static void test_embed_shared_engine(void **state)
{
    (void)state;
    for (int mode = ES_EMBED_WHOLE; mode <= ES_EMBED_STREAM; mode++) {
        embed_job ser[NIN];
        es_set_threads(1);
        for (int i = 0; i < NIN; i++) {
            ser[i] = (embed_job){.e = eng, .x = in_x[i], .n = in_n[i], .mode = (es_embed_mode)mode};
            embed_serial(&ser[i]);
        }
        for (int t = 1; t <= 4; t *= 2) {
            es_set_threads(t);
            embed_job par[NT];
            for (int i = 0; i < NT; i++)
                par[i] = (embed_job){.e = eng, .x = in_x[i % NIN], .n = in_n[i % NIN], .mode = (es_embed_mode)mode};
            run_threads(NT, embed_one, par, sizeof par[0]);
            for (int i = 0; i < NT; i++) {
                assert_int_equal(par[i].st, ES_OK);
                same_floats(par[i].mel, par[i].frames * 32, ser[i % NIN].mel, ser[i % NIN].frames * 32);
                same_floats(par[i].emb, par[i].n_emb * ES_EMB_DIM, ser[i % NIN].emb, ser[i % NIN].n_emb * ES_EMB_DIM);
                embed_free(&par[i]);
            }
        }
        for (int i = 0; i < NIN; i++) embed_free(&ser[i]);
    }
    es_set_threads(0);
}

/* The encoder's three entry points on one shared es_encoder: batches of
 * windows (nwin = 1 is split across two threads inside the call when the
 * library may use two), the whole utterance, and streams. */
typedef struct {
    const float *mel;
    size_t frames;
    float *win1, *wins, *full, *stream;
    size_t nwins, nfull, nstream;
    es_status st;
} enc_job;

static void enc_one(void *p)
{
    enc_job *j = p;
    es_encoder *enc = es_engine_encoder(eng);
    es_error e = {0};
    j->nwins = (j->frames - ES_EMB_WINDOW) / ES_EMB_STEP + 1;
    j->nfull = es_encoder_count(j->frames);
    float *wmel = malloc(j->nwins * ES_EMB_WINDOW * 32 * sizeof(float));
    j->win1 = malloc(ES_EMB_DIM * sizeof(float));
    j->wins = malloc(j->nwins * ES_EMB_DIM * sizeof(float));
    j->full = malloc(j->nfull * ES_EMB_DIM * sizeof(float));
    j->stream = malloc((j->frames / 8 + 1) * ES_EMB_DIM * sizeof(float));
    es_encoder_stream *s = es_encoder_stream_create(enc, &e);
    if (!wmel || !j->win1 || !j->wins || !j->full || !j->stream || !s) { j->st = ES_ERR_NOMEM; goto out; }
    for (size_t w = 0; w < j->nwins; w++)
        memcpy(wmel + w * ES_EMB_WINDOW * 32, j->mel + w * ES_EMB_STEP * 32, ES_EMB_WINDOW * 32 * sizeof(float));
    if ((j->st = es_encoder_windows(enc, wmel, 1, j->win1, &e))) goto out;
    if ((j->st = es_encoder_windows(enc, wmel, j->nwins, j->wins, &e))) goto out;
    if ((j->st = es_encoder_full(enc, j->mel, j->frames, j->full, &e))) goto out;
    j->st = es_encoder_stream_push(s, j->mel, j->frames, j->stream, &j->nstream, &e);
out:
    es_encoder_stream_free(s);
    free(wmel);
}

static void enc_free(enc_job *j)
{
    free(j->win1); free(j->wins); free(j->full); free(j->stream);
}

static void test_encoder_shared(void **state)
{
    (void)state;
    embed_job m[NIN];
    enc_job ser[NIN];
    es_set_threads(1);
    for (int i = 0; i < NIN; i++) {
        m[i] = (embed_job){.e = eng, .x = in_x[i], .n = in_n[i], .mode = ES_EMBED_WHOLE};
        embed_serial(&m[i]);
        ser[i] = (enc_job){.mel = m[i].mel, .frames = m[i].frames};
        enc_one(&ser[i]);
        assert_int_equal(ser[i].st, ES_OK);
        assert_true(ser[i].nwins > 1);
        assert_true(ser[i].nstream > 1);
    }
    for (int t = 1; t <= 4; t *= 2) {
        es_set_threads(t);
        enc_job par[NT];
        for (int i = 0; i < NT; i++) par[i] = (enc_job){.mel = m[i % NIN].mel, .frames = m[i % NIN].frames};
        run_threads(NT, enc_one, par, sizeof par[0]);
        for (int i = 0; i < NT; i++) {
            const enc_job *s = &ser[i % NIN];
            assert_int_equal(par[i].st, ES_OK);
            if (t == 1) same_floats(par[i].win1, ES_EMB_DIM, s->win1, ES_EMB_DIM);
            else close_floats(par[i].win1, s->win1, ES_EMB_DIM, 1e-5);
            same_floats(par[i].wins, par[i].nwins * ES_EMB_DIM, s->wins, s->nwins * ES_EMB_DIM);
            same_floats(par[i].full, par[i].nfull * ES_EMB_DIM, s->full, s->nfull * ES_EMB_DIM);
            same_floats(par[i].stream, par[i].nstream * ES_EMB_DIM, s->stream, s->nstream * ES_EMB_DIM);
            enc_free(&par[i]);
        }
    }
    for (int i = 0; i < NIN; i++) { enc_free(&ser[i]); embed_free(&m[i]); }
    es_set_threads(0);
}

/* ------------------------------------------------------- detectors */

typedef struct {
    const float *x;
    size_t n;
    uint32_t seed;       /* push sizes (0: all at once) */
    int block;
    float *scores;       /* every step's smoothed scores, [steps][labels] */
    size_t nscores, cap, nlab;
    es_event ev[64];
    char lab[64][32];
    size_t nev;
    es_status st;
    es_error err;
} det_job;

static void on_scores(void *user, double t, const float *s, size_t n)
{
    (void)t;
    det_job *j = user;
    if (j->nscores + n > j->cap) {
        size_t cap = (j->cap ? j->cap * 2 : 4096) + n;
        float *p = realloc(j->scores, cap * sizeof(float));
        if (!p) { j->st = ES_ERR_NOMEM; return; }
        j->scores = p;
        j->cap = cap;
    }
    memcpy(j->scores + j->nscores, s, n * sizeof(float));
    j->nscores += n;
    j->nlab = n;
}

static void on_event(void *user, const es_event *ev)
{
    det_job *j = user;
    if (j->nev < 64) {
        j->ev[j->nev] = *ev;
        snprintf(j->lab[j->nev], sizeof j->lab[0], "%s", ev->label);   /* label lives with the detector */
        j->nev++;
    }
}

static void det_one(void *p)
{
    det_job *j = p;
    es_detector_opts o;
    es_detector_opts_default(&o);
    o.block = j->block;
    es_detector *d = es_detector_create(eng, models, NMODELS, &o, &j->err);
    if (!d) { j->st = j->err.status ? j->err.status : ES_ERR_ARG; return; }
    es_detector_set_score_fn(d, on_scores, j);
    uint32_t seed = j->seed;
    for (size_t i = 0; i < j->n && !j->st;) {
        size_t k = seed ? 1 + (size_t)(test_rand(&seed) * 3000) : j->n;
        if (k > j->n - i) k = j->n - i;
        j->st = es_detector_push(d, j->x + i, k, on_event, j, &j->err);
        i += k;
    }
    if (!j->st) j->st = es_detector_flush(d, on_event, j, &j->err);
    es_detector_free(d);
}

static void same_detection(const det_job *a, const det_job *b)
{
    assert_int_equal(a->st, ES_OK);
    assert_int_equal(b->st, ES_OK);
    same_floats(a->scores, a->nscores, b->scores, b->nscores);
    assert_int_equal(a->nev, b->nev);
    for (size_t i = 0; i < a->nev; i++) {
        assert_string_equal(a->lab[i], b->lab[i]);
        assert_true(a->ev[i].start == b->ev[i].start);
        assert_true(a->ev[i].end == b->ev[i].end);
        assert_true(a->ev[i].score == b->ev[i].score);
        assert_int_equal(a->ev[i].model, b->ev[i].model);
    }
}

static void det_serial(det_job *j)
{
    det_one(j);
    if (j->st) fprintf(stderr, "%s\n", j->err.msg);
    assert_int_equal(j->st, ES_OK);
}

/* The header's "several detectors (one per thread) may share one engine":
 * NT detectors on NT threads, each pushing its input in pieces of its own
 * sizes, give every score of every step and every event the serial run
 * gives, at one library thread per call and at two (then nwin = 1 encoder
 * calls split each window's layers across two threads). Block 1 is live
 * use's, 16 transcribe's. */
static void test_detectors_share_engine(void **state)
{
    (void)state;
    for (int block = 1; block <= 16; block += 15) {
        det_job ser[NIN];
        es_set_threads(1);
        for (int i = 0; i < NIN; i++) {
            ser[i] = (det_job){.x = in_x[i], .n = in_n[i], .block = block};
            det_serial(&ser[i]);
            assert_int_equal(ser[i].nlab, NMODELS);
            assert_true(ser[i].nev >= 1);   /* the words are heard: the comparison means something */
        }
        for (int t = 1; t <= 2; t++) {
            es_set_threads(t);
            det_job par[NT];
            for (int i = 0; i < NT; i++)
                par[i] = (det_job){.x = in_x[i % NIN], .n = in_n[i % NIN], .seed = 1000u + (uint32_t)i, .block = block};
            run_threads(NT, det_one, par, sizeof par[0]);
            for (int i = 0; i < NT; i++) {
                if (par[i].st) fprintf(stderr, "thread %d: %s\n", i, par[i].err.msg);
                same_detection(&par[i], &ser[i % NIN]);
                free(par[i].scores);
            }
        }
        for (int i = 0; i < NIN; i++) free(ser[i].scores);
    }
    es_set_threads(0);
}

/* Every thread on the same input: the most sharing there can be. */
static void test_detectors_same_input(void **state)
{
    (void)state;
    es_set_threads(1);
    det_job ser = {.x = in_x[0], .n = in_n[0], .block = 1};
    det_serial(&ser);
    det_job par[NT];
    for (int i = 0; i < NT; i++) par[i] = (det_job){.x = in_x[0], .n = in_n[0], .seed = (uint32_t)i, .block = 1};
    run_threads(NT, det_one, par, sizeof par[0]);
    for (int i = 0; i < NT; i++) {
        same_detection(&par[i], &ser);
        free(par[i].scores);
    }
    free(ser.scores);
    es_set_threads(0);
}

/* "Process-wide": es_set_threads from one thread while others work. Each
 * call takes the count once, and the results do not depend on it (the
 * tests above), so nothing may change: detectors, and whole-clip
 * embeddings and single windows, whose calls split on the count. */
typedef struct {
    int role;            /* 0: toggles es_set_threads, else works */
    volatile int *stop;
    det_job det;
    embed_job emb;
    enc_job enc;
} mixed_job;

static volatile int mixed_left;

static void mixed_one(void *p)
{
    mixed_job *j = p;
    if (j->role == 0) {
        for (int k = 0; !__atomic_load_n(j->stop, __ATOMIC_ACQUIRE); k++) {
            es_set_threads(k % 4);   /* 0: back to the default, settled again by the next call */
            usleep(200);
        }
        return;
    }
    det_one(&j->det);
    embed_one(&j->emb);
    if (!j->emb.st) {
        j->enc.mel = j->emb.mel;
        j->enc.frames = j->emb.frames;
        enc_one(&j->enc);
    }
    if (__atomic_sub_fetch(&mixed_left, 1, __ATOMIC_ACQ_REL) == 0) __atomic_store_n(j->stop, 1, __ATOMIC_RELEASE);
}

static void test_set_threads_while_running(void **state)
{
    (void)state;
    mixed_job ser[NIN];
    es_set_threads(1);
    for (int i = 0; i < NIN; i++) {
        ser[i] = (mixed_job){.role = 1};
        ser[i].det = (det_job){.x = in_x[i], .n = in_n[i], .block = 1};
        ser[i].emb = (embed_job){.e = eng, .x = in_x[i], .n = in_n[i], .mode = ES_EMBED_WHOLE};
        mixed_left = 2;   /* never reaches 0 */
        mixed_one(&ser[i]);
        assert_int_equal(ser[i].det.st, ES_OK);
        assert_int_equal(ser[i].emb.st, ES_OK);
        assert_int_equal(ser[i].enc.st, ES_OK);
    }
    volatile int stop = 0;
    mixed_job mj[NT];
    mixed_left = NT - 1;
    for (int i = 0; i < NT; i++) {
        mj[i] = (mixed_job){.role = i, .stop = &stop};
        mj[i].det = (det_job){.x = in_x[i % NIN], .n = in_n[i % NIN], .seed = 77u + (uint32_t)i, .block = 1};
        mj[i].emb = (embed_job){.e = eng, .x = in_x[i % NIN], .n = in_n[i % NIN], .mode = ES_EMBED_WHOLE};
    }
    run_threads(NT, mixed_one, mj, sizeof mj[0]);
    for (int i = 1; i < NT; i++) {
        const mixed_job *s = &ser[i % NIN];
        same_detection(&mj[i].det, &s->det);
        assert_int_equal(mj[i].emb.st, ES_OK);
        same_floats(mj[i].emb.emb, mj[i].emb.n_emb * ES_EMB_DIM, s->emb.emb, s->emb.n_emb * ES_EMB_DIM);
        assert_int_equal(mj[i].enc.st, ES_OK);
        close_floats(mj[i].enc.win1, s->enc.win1, ES_EMB_DIM, 1e-5);   /* at 1 to 3 threads */
        same_floats(mj[i].enc.full, mj[i].enc.nfull * ES_EMB_DIM, s->enc.full, s->enc.nfull * ES_EMB_DIM);
        free(mj[i].det.scores);
        embed_free(&mj[i].emb);
        enc_free(&mj[i].enc);
    }
    for (int i = 0; i < NIN; i++) {
        free(ser[i].det.scores);
        embed_free(&ser[i].emb);
        enc_free(&ser[i].enc);
    }
    es_set_threads(0);
}

/* ------------------------------------------------ speakers */

typedef struct {
    const float *x;
    size_t n;
    es_speakers *spk;    /* non-NULL: also identify against this set */
    float feat[ES_SPK_DIM];
    int best;
    float score;
    es_status st;
    es_error err;
} spk_job;

static void spk_one(void *p)
{
    spk_job *j = p;
    if ((j->st = es_speaker_features(eng, j->x, j->n, j->feat, &j->err))) return;
    if (j->spk) j->st = es_speaker_identify(j->spk, eng, j->x, j->n, &j->best, &j->score, &j->err);
}

/* A profile set of two speakers, made of the inputs' halves (the set is
 * made fresh: its projection is fitted on the first score). */
static es_speakers *two_speakers(void)
{
    es_error e = {0};
    es_speakers *s = es_speakers_new(eng, &e);
    assert_non_null(s);
    for (int i = 0; i < NIN; i++) {
        float f[2][ES_SPK_DIM];
        size_t h = in_n[i] / 2;
        assert_int_equal(es_speaker_features(eng, in_x[i], h, f[0], &e), ES_OK);
        assert_int_equal(es_speaker_features(eng, in_x[i] + h, in_n[i] - h, f[1], &e), ES_OK);
        if (es_speakers_enroll(s, i % 2 ? "odd" : "even", f[0], 2, 0, &e)) fprintf(stderr, "%s\n", e.msg);
        assert_int_equal(e.status, ES_OK);
    }
    return s;
}

/* es_speaker_features on one engine from several threads, and
 * es_speaker_identify against one shared profile set that no thread has
 * scored before (its projection is fitted by whichever thread comes
 * first). */
static void test_speakers_shared(void **state)
{
    (void)state;
    es_set_threads(1);
    es_speakers *s = two_speakers();
    spk_job ser[NIN];
    for (int i = 0; i < NIN; i++) {
        ser[i] = (spk_job){.x = in_x[i], .n = in_n[i], .spk = s};
        spk_one(&ser[i]);
        if (ser[i].st) fprintf(stderr, "%s\n", ser[i].err.msg);
        assert_int_equal(ser[i].st, ES_OK);
    }
    es_speakers_free(s);
    for (int t = 1; t <= 4; t *= 2) {
        es_set_threads(t);
        s = two_speakers();   /* unfitted again */
        spk_job par[NT];
        for (int i = 0; i < NT; i++) par[i] = (spk_job){.x = in_x[i % NIN], .n = in_n[i % NIN], .spk = s};
        run_threads(NT, spk_one, par, sizeof par[0]);
        for (int i = 0; i < NT; i++) {
            if (par[i].st) fprintf(stderr, "thread %d: %s\n", i, par[i].err.msg);
            assert_int_equal(par[i].st, ES_OK);
            same_floats(par[i].feat, ES_SPK_DIM, ser[i % NIN].feat, ES_SPK_DIM);
            assert_int_equal(par[i].best, ser[i % NIN].best);
            if (par[i].score != ser[i % NIN].score) fprintf(stderr, "t=%d thread %d: score %.9g, serial %.9g\n", t, i, par[i].score, ser[i % NIN].score);
            assert_true(par[i].score == ser[i % NIN].score);
        }
        es_speakers_free(s);
    }
    es_set_threads(0);
}

/* Progress callbacks come from the library's worker threads, one call at
 * a time (the header says so): a callback with no lock of its own must
 * never run twice at once. The background of a speaker set is computed on
 * es_threads() threads. */
typedef struct {
    int inside, overlaps;
    size_t calls, last_total;
} progress_log;

static void on_progress(void *user, const char *stage, size_t done, size_t total)
{
    (void)stage;
    (void)done;
    progress_log *p = user;
    if (p->inside++) p->overlaps++;
    usleep(20000);   /* stay a while, so that overlaps would show */
    p->calls++;
    p->last_total = total;
    p->inside--;
}

static void test_progress_serialised(void **state)
{
    (void)state;
    char dir[64], sub[128], p[200];
    assert_int_equal(test_tmpdir(dir, sizeof dir, "threads"), 0);
    size_t clips = 0;
    for (int spk = 0; spk < 2; spk++) {
        snprintf(sub, sizeof sub, "%s/spk%d", dir, spk);
        assert_int_equal(mkdir(sub, 0777), 0);
        for (int i = 0; i < NIN; i++) {
            es_error e = {0};
            size_t h = in_n[i] / 2;
            snprintf(p, sizeof p, "%s/take%d.wav", sub, i);
            assert_int_equal(es_audio_write_wav(p, in_x[i] + (size_t)spk * h, h, &e), ES_OK);
            clips++;
        }
    }
    es_set_threads(4);
    es_speakers *s = two_speakers();
    progress_log log = {0};
    es_error e = {0};
    es_status st = es_speakers_background_from_dir(s, eng, dir, NULL, 0, on_progress, &log, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(st, ES_OK);
    assert_int_equal(log.overlaps, 0);
    assert_int_equal(log.calls, clips);
    assert_int_equal(log.last_total, clips);
    es_speakers_free(s);
    es_set_threads(0);
    assert_int_equal(test_rmtree(dir), 0);
}

/* es_rowjob_done (train's augmentation and prep tables) counted a row, then
 * queued for the lock to report it: a worker that counted 7 could report
 * before one that counted 6, and the display went 7, 6. Rows are empty
 * here and the callback slow, so workers pile up at the lock. */
typedef struct {
    es_rowjob w;
    size_t last, backwards, calls;
} order_job;

static void order_progress(void *user, const char *stage, size_t done, size_t total)
{
    (void)stage; (void)total;
    order_job *j = user;
    if (done != j->last + 1) j->backwards++;
    j->last = done;
    j->calls++;
    usleep(1000);
}

static void order_part(void *job, int worker)
{
    (void)worker;
    order_job *j = job;
    size_t i;
    while (es_rowjob_next(&j->w, &i)) es_rowjob_done(&j->w);
}

static void test_rowjob_progress_in_order(void **state)
{
    (void)state;
    es_set_threads(4);
    order_job j = {.w = {.n = 300, .progress = order_progress, .stage = "rows"}};
    j.w.user = &j;
    es_error e = {0};
    assert_int_equal(es_rowjob_run(&j.w, order_part, &j, &e), ES_OK);
    es_set_threads(0);
    assert_int_equal(j.calls, 300);
    assert_int_equal(j.last, 300);
    if (j.backwards) fail_msg("%zu of 300 progress calls not one more than the one before", j.backwards);
}

/* ------------------------------------------------ warnings */

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static char warn_got[16][600];
static size_t warn_n;

static void on_warning(void *user, const char *msg)
{
    (void)user;
    pthread_mutex_lock(&warn_lock);
    if (warn_n < 16) snprintf(warn_got[warn_n], sizeof warn_got[0], "%s", msg);
    warn_n++;
    pthread_mutex_unlock(&warn_lock);
}

typedef struct {
    char path[256];
    size_t n;
    es_status st;
} load_job;

static void load_twice(void *p)
{
    load_job *j = p;
    for (int k = 0; k < 2 && !j->st; k++) {
        es_audio a;
        es_error e = {0};
        j->st = es_audio_load(j->path, NULL, &a, &e);
        if (!j->st) { j->n = a.n; es_audio_free(&a); }
    }
}

/* "the handler gets every message, from whichever thread met it": NT
 * threads load NT different cut-short WAV files, twice each; every file's
 * warning arrives exactly once (a message said before is not said again). */
static void test_warnings_from_threads(void **state)
{
    (void)state;
    char dir[64];
    assert_int_equal(test_tmpdir(dir, sizeof dir, "threads"), 0);
    load_job lj[NT];
    for (int i = 0; i < NT; i++) {
        es_error e = {0};
        lj[i] = (load_job){.st = ES_OK};
        snprintf(lj[i].path, sizeof lj[i].path, "%s/cut%d.wav", dir, i);
        assert_int_equal(es_audio_write_wav(lj[i].path, in_x[i % NIN], in_n[i % NIN], &e), ES_OK);
        /* cut the data chunk short: the header promises more samples */
        struct stat st;
        assert_int_equal(stat(lj[i].path, &st), 0);
        assert_int_equal(truncate(lj[i].path, st.st_size - (off_t)in_n[i % NIN]), 0);
    }
    warn_n = 0;
    es_set_warning_handler(on_warning, NULL);
    run_threads(NT, load_twice, lj, sizeof lj[0]);
    es_set_warning_handler(NULL, NULL);
    for (int i = 0; i < NT; i++) assert_int_equal(lj[i].st, ES_OK);
    assert_int_equal(warn_n, NT);
    for (int i = 0; i < NT; i++) {
        int found = 0;
        for (size_t k = 0; k < warn_n; k++) found += strstr(warn_got[k], lj[i].path) != NULL;
        if (found != 1) fprintf(stderr, "%s: %d warnings\n", lj[i].path, found);
        assert_int_equal(found, 1);
    }
    assert_int_equal(test_rmtree(dir), 0);
}

/* libsndfile keeps the error of the last open in a process-wide variable,
 * which every open resets, writing ones too: a WAV written on one thread
 * (transcribe --save-clips, train's caches) between another thread's
 * failed open and its reading of the reason made that reason "No Error."
 * (222 of 20,000 loads of a non-audio file in a first test). Every
 * message must be the one a load alone gives. */
typedef struct {
    char path[300];
    volatile int *stop;
    long writes, failed;
    char why[600];
} wav_writer;

static void write_wavs(void *p)
{
    wav_writer *w = p;
    float x[16] = {0};
    while (!__atomic_load_n(w->stop, __ATOMIC_ACQUIRE)) {
        es_error e = {0};
        if (es_audio_write_wav(w->path, x, 16, &e)) {
            if (!w->failed++) snprintf(w->why, sizeof w->why, "%s", e.msg);
        } else {
            w->writes++;
        }
    }
}

/* A thread that holds files open and checks they stay its own: a
 * descriptor closed by another thread (as a failed load's was, twice)
 * is gone or names another file. */
typedef struct {
    char path[300];
    volatile int *stop;
    long opens, lost;
} fd_holder;

static void hold_fds(void *p)
{
    fd_holder *h = p;
    struct stat want;
    if (stat(h->path, &want)) { h->lost = -1; return; }
    while (!__atomic_load_n(h->stop, __ATOMIC_ACQUIRE)) {
        int fd = open(h->path, O_RDONLY);
        if (fd < 0) { h->lost = -1; return; }
        h->opens++;
        for (int k = 0; k < 20; k++) {
            struct stat got;
            if (fstat(fd, &got) || got.st_ino != want.st_ino || got.st_dev != want.st_dev) { h->lost++; fd = -1; break; }
            sched_yield();
        }
        if (fd >= 0) close(fd);
    }
}

typedef struct {
    const char *bad;
    int iters, wrong;
    char first_wrong[600];
    const char *want;
    volatile int *stop;
} bad_loader;

static void load_bad(void *p)
{
    bad_loader *l = p;
    for (int i = 0; i < l->iters; i++) {
        es_audio a;
        es_error e = {0};
        if (es_audio_load(l->bad, NULL, &a, &e) == ES_OK) { es_audio_free(&a); l->wrong++; continue; }
        if (strcmp(e.msg, l->want) && !l->wrong++) snprintf(l->first_wrong, sizeof l->first_wrong, "%s", e.msg);
    }
    __atomic_store_n(l->stop, 1, __ATOMIC_RELEASE);
}

typedef struct {
    int role;
    wav_writer w;
    bad_loader l;
    fd_holder h;
} sf_job;

static void sf_one(void *p)
{
    sf_job *j = p;
    if (j->role == 1) write_wavs(&j->w);
    else if (j->role == 2) hold_fds(&j->h);
    else load_bad(&j->l);
}

static void test_sndfile_errors_from_threads(void **state)
{
    (void)state;
    char dir[64], bad[128];
    assert_int_equal(test_tmpdir(dir, sizeof dir, "threads"), 0);
    snprintf(bad, sizeof bad, "%s/noise.wav", dir);
    FILE *f = fopen(bad, "wb");
    assert_non_null(f);
    uint32_t seed = 5;
    for (int i = 0; i < 3000; i++) fputc((int)(test_rand(&seed) * 256), f);
    fclose(f);
    es_audio a;
    es_error e = {0};
    assert_int_equal(es_audio_load(bad, NULL, &a, &e), ES_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s", e.msg);
    assert_null(strstr(want, "No Error"));
    volatile int stop = 0;
    sf_job j[3];
    memset(j, 0, sizeof j);
    j[0].l = (bad_loader){.bad = bad, .iters = 10000, .want = want, .stop = &stop};
    j[1].role = 1;
    j[1].w.stop = &stop;
    /* fsync is what a write costs most: in memory where there is memory */
    if (access("/dev/shm", W_OK) == 0) snprintf(j[1].w.path, sizeof j[1].w.path, "/dev/shm/es_threads_%ld.wav", (long)getpid());
    else snprintf(j[1].w.path, sizeof j[1].w.path, "%s/w.wav", dir);
    j[2].role = 2;
    j[2].h.stop = &stop;
    snprintf(j[2].h.path, sizeof j[2].h.path, "%s", bad);
    run_threads(3, sf_one, j, sizeof j[0]);
    unlink(j[1].w.path);
    if (j[0].l.wrong) fprintf(stderr, "%d of %d messages wrong (%ld WAVs written meanwhile), e.g. '%s' for '%s'\n",
                              j[0].l.wrong, j[0].l.iters, j[1].w.writes, j[0].l.first_wrong, want);
    if (j[1].w.failed) fprintf(stderr, "%ld of %ld WAV writes failed, e.g. %s\n", j[1].w.failed,
                               j[1].w.failed + j[1].w.writes, j[1].w.why);
    if (j[2].h.lost) fprintf(stderr, "%ld of %ld files held open by a third thread were closed under it\n", j[2].h.lost,
                             j[2].h.opens);
    assert_true(j[1].w.writes > 0);
    assert_int_equal(j[0].l.wrong, 0);
    assert_int_equal(j[1].w.failed, 0);
    assert_true(j[2].h.opens > 0);
    assert_int_equal(j[2].h.lost, 0);
    assert_int_equal(test_rmtree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* first: no library call before it has settled the thread count */
        cmocka_unit_test(test_engines_made_concurrently),
        cmocka_unit_test(test_embed_shared_engine),
        cmocka_unit_test(test_encoder_shared),
        cmocka_unit_test(test_detectors_share_engine),
        cmocka_unit_test(test_detectors_same_input),
        cmocka_unit_test(test_set_threads_while_running),
        cmocka_unit_test(test_speakers_shared),
        cmocka_unit_test(test_progress_serialised),
        cmocka_unit_test(test_rowjob_progress_in_order),
        cmocka_unit_test(test_warnings_from_threads),
        cmocka_unit_test(test_sndfile_errors_from_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
