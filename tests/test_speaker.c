/* Speaker profiles and scoring: features of synthetic audio (pitch found
 * in the whole clip and in every sub-window, short clips refused), the
 * WCCN model on synthetic clusters (with and without sub-window vectors,
 * a lone speaker), profile
 * round trips, and refusal of mismatched, corrupt, truncated and newer
 * profiles (every truncation and single-byte corruptions run through the
 * parser, which must refuse or accept whole, never crash). */
#include "test_util.h"
#include "../pipeline/speaker.h"
#include "../model/safetensors.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

/* the automatic threshold's row (speaker.h) at column i */
static double th_at(const double *row, int i) { return row[i]; }
#define TH(ROW, I) th_at((const double[])ROW, I)

static es_engine *eng;
static char dir[64];

static int setup(void **state)
{
    (void)state;
    es_error e = {0};
    eng = es_engine_create(NULL, &e);
    snprintf(dir, sizeof dir, "/tmp/es_spk_XXXXXX");
    return eng && mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    es_engine_free(eng);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* a voiced-like signal: harmonics of f0 with a slow amplitude envelope */
static float *voice(double f0, double secs, double tilt, size_t *n)
{
    *n = (size_t)(secs * ES_SAMPLE_RATE);
    float *x = malloc(*n * sizeof(float));
    for (size_t i = 0; i < *n; i++) {
        double t = (double)i / ES_SAMPLE_RATE, s = 0;
        for (int h = 1; h <= 12; h++) s += pow(tilt, h) * sin(2 * M_PI * f0 * h * t);
        x[i] = (float)(4000 * s * sin(M_PI * t / secs));
    }
    return x;
}

static void test_features_pitch(void **state)
{
    (void)state;
    size_t n;
    float f[ES_SPK_DIM];
    es_error e = {0};
    for (double f0 = 100; f0 <= 250; f0 += 75) {
        float *x = voice(f0, 0.6, 0.7, &n);
        assert_int_equal(es_speaker_features(eng, x, n, f, &e), ES_OK);
        double est = 100 * pow(2, f[ES_SPK_PITCH]);
        printf("f0 %.0f Hz: estimated %.1f Hz, pitched fraction %.2f\n", f0, est, f[ES_SPK_PITCH + 3]);
        assert_true(fabs(est - f0) < 0.03 * f0);
        assert_true(f[ES_SPK_PITCH + 3] > 0.8f);
        /* a steady voice: every sub-window finds the same pitch, and its
         * statistics are those of part of the clip, not a copy of the whole */
        int differ = 0;
        for (int w = 1; w <= ES_SPK_SEGS; w++) {
            const float *v = f + w * ES_SPK_VEC;
            assert_true(fabs(100 * pow(2, v[ES_SPK_PITCH]) - f0) < 0.03 * f0);
            differ += memcmp(v, f, ES_SPK_VEC * sizeof(float)) != 0;
        }
        assert_int_equal(differ, ES_SPK_SEGS);
        for (int i = 0; i < ES_SPK_DIM; i++) assert_true(isfinite(f[i]));
        /* the encoder blocks pool real activations: channels vary over the
         * voiced frames and bins (std above the 1e-3 floor), and the two
         * depths differ */
        int varied[2] = {0, 0};
        for (int c = 0; c < ES_SPK_ENC_C1; c++) varied[0] += f[ES_SPK_ENC + ES_SPK_ENC_C1 + c] > 0.01f;
        for (int c = 0; c < ES_SPK_ENC_C2; c++) varied[1] += f[ES_SPK_ENC + 2 * ES_SPK_ENC_C1 + ES_SPK_ENC_C2 + c] > 0.01f;
        assert_true(varied[0] >= ES_SPK_ENC_C1 / 2 && varied[1] >= ES_SPK_ENC_C2 / 4);
        free(x);
    }
    float z[100] = {0};
    assert_int_not_equal(es_speaker_features(eng, z, 100, f, &e), ES_OK);
    assert_non_null(strstr(e.msg, "too short"));
    /* the shortest clip is 832 samples (3 frames), which the message and
     * the header say: 800-831 samples (0.050-0.052 s) were refused as
     * shorter than "at least 0.05 s" */
    float s[832];
    for (int i = 0; i < 832; i++) s[i] = 3000 * sinf(i * 0.05f) + 500 * sinf(i * 0.31f);
    assert_int_equal(es_speaker_features(eng, s, 831, f, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "831 samples"));
    assert_non_null(strstr(e.msg, "at least 832"));
    assert_int_equal(es_speaker_features(eng, s, 832, f, &e), ES_OK);
}

/* the WCCN model: clusters that differ in a few dimensions, with large
 * within-speaker noise in others, are told apart */
static void test_fit_clusters(void **state)
{
    (void)state;
    enum { S = 4, K = 6, D = ES_SPK_VEC };
    uint32_t r = 7;
    float *X = malloc((size_t)S * K * D * sizeof(float)), c[S][D];
    int y[S * K];
    for (int s = 0; s < S; s++)
        for (int d = 0; d < D; d++) c[s][d] = d < 10 ? 2.0f * test_rand(&r) : 0;
    for (int s = 0; s < S; s++)
        for (int k = 0; k < K; k++) {
            for (int d = 0; d < D; d++) X[(s * K + k) * D + d] = c[s][d] + (d < 10 ? 0.05f : 3.0f) * (test_rand(&r) - 0.5f);
            y[s * K + k] = s;
        }
    es_spk_model m;
    es_error e = {0};
    assert_int_equal(es_spk_fit(&m, X, y, S * K, 1, S, ES_SPK_ALPHA, NULL, 0, NULL, &e), ES_OK);
    int ok = 0;
    for (int t = 0; t < 40; t++) {
        int s = t % S;
        float x[D], sc[S];
        for (int d = 0; d < D; d++) x[d] = c[s][d] + (d < 10 ? 0.05f : 3.0f) * (test_rand(&r) - 0.5f);
        es_spk_score(&m, x, sc);
        int b = 0;
        for (int q = 1; q < S; q++) if (sc[q] > sc[b]) b = q;
        ok += b == s;
        for (int q = 0; q < S; q++) assert_true(sc[q] >= 0 && sc[q] <= 1);
    }
    assert_int_equal(ok, 40);
    es_spk_model_free(&m);
    /* the same takes as 2 takes of 3 vectors each: the centroid is the mean
     * of each take's first vector, Sw is taken over all of them */
    assert_int_equal(es_spk_fit(&m, X, (int[]){0, 0, 1, 1, 2, 2, 3, 3}, S * 2, 3, S, ES_SPK_ALPHA, NULL, 0, NULL, &e), ES_OK);
    {
        float sc[S], cen[D];
        for (int d = 0; d < D; d++) cen[d] = 0.5f * (X[(size_t)3 * D + d] + X[(size_t)0 * D + d]);   /* takes 0 and 1 start at vectors 0 and 3 */
        es_spk_score(&m, cen, sc);
        assert_true(fabs(sc[0] - 1) < 1e-5);   /* at the centroid: distance 0 */
        assert_true(sc[1] < sc[0] && sc[2] < sc[0] && sc[3] < sc[0]);
    }
    es_spk_model_free(&m);
    /* one take per speaker, and a single take, still fit */
    assert_int_equal(es_spk_fit(&m, X, (int[]){0, 1, 2}, 3, 1, 3, ES_SPK_ALPHA, NULL, 0, NULL, &e), ES_OK);
    es_spk_model_free(&m);
    /* one speaker alone (no background needed: the score is a distance),
     * even from a single vector */
    assert_int_equal(es_spk_fit(&m, X, (int[]){0}, 1, 1, 1, ES_SPK_ALPHA, NULL, 0, NULL, &e), ES_OK);
    float sc[1], xs[D];
    memcpy(xs, X, sizeof xs);
    es_spk_score(&m, xs, sc);
    assert_true(sc[0] > 0.99999f);   /* its own take: distance 0 */
    es_spk_model_free(&m);
    assert_int_equal(es_spk_fit(&m, X, (int[]){0, 0, 0}, 3, 2, 1, ES_SPK_ALPHA, NULL, 0, NULL, &e), ES_OK);
    float far[D];
    for (int d = 0; d < D; d++) far[d] = X[d] + 50;
    es_spk_score(&m, far, sc);
    assert_true(sc[0] < 0.01f);
    es_spk_model_free(&m);
    assert_int_not_equal(es_spk_fit(&m, X, (int[]){0, 2}, 2, 1, 3, ES_SPK_ALPHA, NULL, 0, NULL, &e), ES_OK);  /* speaker 1 has none */
    assert_int_not_equal(es_spk_fit(&m, X, (int[]){0, 1}, 2, 0, 2, ES_SPK_ALPHA, NULL, 0, NULL, &e), ES_OK);  /* no vectors per take */
    free(X);
}

static es_speakers *make_profile(void)
{
    es_error e = {0};
    es_speakers *s = es_speakers_new(eng, &e);
    assert_non_null(s);
    uint32_t r = 3;
    float F[3 * ES_SPK_DIM];
    const char *names[] = {"alice", "bob", "carol d"};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 3 * ES_SPK_DIM; i++) F[i] = (float)k + test_rand(&r);
        assert_int_equal(es_speakers_enroll(s, names[k], F, 3, 0, &e), ES_OK);
    }
    return s;
}

static void test_round_trip(void **state)
{
    (void)state;
    es_error e = {0};
    es_speakers *s = make_profile();
    char p[128];
    snprintf(p, sizeof p, "%s/p.safetensors", dir);
    assert_int_equal(es_speakers_save(s, p, &e), ES_OK);
    es_speakers *r = es_speakers_load(p, eng, &e);
    assert_non_null(r);
    assert_int_equal(es_speakers_count(r), 3);
    assert_string_equal(es_speakers_name(r, 2), "carol d");
    assert_int_equal(es_speakers_takes(r, 1), 3);
    assert_true(es_speakers_threshold(r) == es_speakers_threshold(s));
    assert_string_equal(es_speakers_encoder_sha256(r), es_engine_encoder_sha256(eng));
    float x[ES_SPK_DIM], a[3], b[3];
    uint32_t q = 11;
    for (int i = 0; i < ES_SPK_DIM; i++) x[i] = 1 + test_rand(&q);
    int ba, bb;
    float sa, sb;
    assert_int_equal(es_speakers_score(s, x, a, &ba, &sa, &e), ES_OK);
    assert_int_equal(es_speakers_score(r, x, b, &bb, &sb, &e), ES_OK);
    assert_memory_equal(a, b, sizeof a);       /* the same takes give the same projection */
    assert_true(a[1] > a[0] && a[1] > a[2]);  /* drawn like speaker "bob" (1 + U(0,1)) */
    assert_true(ba == -1 || ba == 1);
    assert_true(sa == a[1]);
    /* add takes to one speaker, replace another's */
    assert_int_equal(es_speakers_enroll(r, "bob", x, 1, 0, &e), ES_OK);
    assert_int_equal(es_speakers_takes(r, 1), 4);
    /* the same take again (twice in one call, too) is skipped ... */
    float xx[2 * ES_SPK_DIM];
    memcpy(xx, x, sizeof x);
    memcpy(xx + ES_SPK_DIM, x, sizeof x);
    assert_int_equal(es_speakers_enroll(r, "bob", xx, 2, 0, &e), ES_OK);
    assert_int_equal(es_speakers_takes(r, 1), 4);
    /* ... and refused for another speaker, naming the one it belongs to */
    assert_int_not_equal(es_speakers_enroll(r, "alice", x, 1, 1, &e), ES_OK);
    assert_non_null(strstr(e.msg, "already enrolled as speaker 'bob'"));
    assert_int_equal(es_speakers_takes(r, 0), 3);
    float x2[ES_SPK_DIM];
    for (int i = 0; i < ES_SPK_DIM; i++) x2[i] = x[i] + 0.01f;
    assert_int_equal(es_speakers_enroll(r, "alice", x2, 1, 1, &e), ES_OK);
    assert_int_equal(es_speakers_takes(r, 0), 1);
    /* replacing with takes that include an old one of the same speaker keeps it */
    assert_int_equal(es_speakers_enroll(r, "alice", x2, 1, 1, &e), ES_OK);
    assert_int_equal(es_speakers_takes(r, 0), 1);
    assert_int_equal(es_speakers_count(r), 3);
    /* bad names and values are refused without changing the set */
    const char *bad[] = {"", "a\nb", "unknown", "Unknown", " bob", "bob ", "a=b", "bad\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(es_speakers_enroll(r, bad[i], x2, 1, 0, &e), ES_OK);
        assert_int_not_equal(es_speaker_name_check(bad[i], &e), ES_OK);
    }
    assert_int_equal(es_speaker_name_check("Zoë Ó", &e), ES_OK);
    x[5] = NAN;
    assert_int_not_equal(es_speakers_enroll(r, "eve", x, 1, 0, &e), ES_OK);
    assert_int_equal(es_speakers_count(r), 3);
    /* a threshold set, then automatic again */
    double auto_t = es_speakers_threshold(r);
    assert_int_equal(es_speakers_set_threshold(r, 0.3, &e), ES_OK);
    assert_true(es_speakers_threshold_is_set(r) && es_speakers_threshold(r) == 0.3);
    assert_int_equal(es_speakers_set_threshold(r, NAN, &e), ES_OK);
    assert_false(es_speakers_threshold_is_set(r));
    assert_true(es_speakers_threshold(r) == auto_t);
    /* removing the middle speaker renumbers the takes of the last */
    assert_int_not_equal(es_speakers_remove(r, "nobody", &e), ES_OK);
    assert_int_equal(es_speakers_remove(r, "bob", &e), ES_OK);
    assert_int_equal(es_speakers_count(r), 2);
    assert_string_equal(es_speakers_name(r, 1), "carol d");
    assert_int_equal(es_speakers_takes(r, 1), 3);
    assert_int_equal(es_speakers_takes(r, 0), 1);
    assert_int_equal(es_speakers_save(r, p, &e), ES_OK);
    es_speakers *r2 = es_speakers_load(p, eng, &e);
    assert_non_null(r2);
    assert_int_equal(es_speakers_count(r2), 2);
    es_speakers_free(r2);
    es_speakers_free(s);
    es_speakers_free(r);
}

/* a background covariance is kept in the file and used the same way */
static void test_background(void **state)
{
    (void)state;
    es_error e = {0};
    es_speakers *s = make_profile();
    enum { N = 12 };
    float B[N * ES_SPK_DIM], x[ES_SPK_DIM], a[3], b[3];
    int spk[N];
    uint32_t r = 17;
    for (int i = 0; i < N; i++) {
        spk[i] = i % 3;
        for (int d = 0; d < ES_SPK_DIM; d++) B[i * ES_SPK_DIM + d] = (float)spk[i] + 2 * test_rand(&r);
    }
    for (int d = 0; d < ES_SPK_DIM; d++) x[d] = 1 + test_rand(&r);
    assert_null(es_speakers_background(s));
    assert_int_equal(es_speakers_score(s, x, a, NULL, NULL, &e), ES_OK);
    assert_int_equal(es_speakers_set_background(s, B, spk, N, 3, "{\"source\":\"test\"}", 0, &e), ES_OK);
    assert_string_equal(es_speakers_background(s), "{\"source\":\"test\"}");
    assert_true(es_speakers_threshold(s) == TH(ES_SPK_THRESHOLD_BG, 1));   /* automatic, 3 speakers of 3 takes */
    assert_false(es_speakers_threshold_is_set(s));
    assert_int_equal(es_speakers_score(s, x, b, NULL, NULL, &e), ES_OK);
    assert_memory_not_equal(a, b, sizeof a);   /* the background changes the projection */
    char p[128];
    snprintf(p, sizeof p, "%s/bg.safetensors", dir);
    assert_int_equal(es_speakers_save(s, p, &e), ES_OK);
    es_speakers *t = es_speakers_load(p, eng, &e);
    assert_non_null(t);
    assert_string_equal(es_speakers_background(t), "{\"source\":\"test\"}");
    assert_int_equal(es_speakers_score(t, x, a, NULL, NULL, &e), ES_OK);
    assert_memory_equal(a, b, sizeof a);
    es_speakers_free(t);
    /* too few takes, bad index */
    assert_int_not_equal(es_speakers_set_background(s, B, spk, 3, 3, "x", 0, &e), ES_OK);
    spk[0] = 5;
    assert_int_not_equal(es_speakers_set_background(s, B, spk, N, 3, "x", 0, &e), ES_OK);
    es_speakers_free(s);
    /* a background that is not symmetric is refused */
    size_t n;
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n);
    assert_int_equal(fread(buf, 1, n, f), n);
    fclose(f);
    /* the background is the last tensor: [340][340] floats at the end; element (0, 1) */
    size_t off = n - (size_t)ES_SPK_VEC * ES_SPK_VEC * 4 + 4;
    float v;
    memcpy(&v, buf + off, 4);
    v += 1;
    memcpy(buf + off, &v, 4);
    assert_null(es_speakers_parse(buf, n, "bg.safetensors", eng, &e));
    assert_non_null(strstr(e.msg, "covariance"));
    free(buf);
}

/* the threshold follows the profile unless set, and a set one survives a
 * save and a load */
static void test_threshold(void **state)
{
    (void)state;
    es_error e = {0};
    es_speakers *s = es_speakers_new(eng, &e);
    float F[6 * ES_SPK_DIM];
    int spk[6] = {0, 0, 0, 1, 1, 1};
    uint32_t r = 23;
    for (int i = 0; i < 6 * ES_SPK_DIM; i++) F[i] = test_rand(&r) + (float)spk[i / ES_SPK_DIM];
    assert_int_equal(es_speakers_enroll(s, "solo", F, 3, 0, &e), ES_OK);
    assert_true(es_speakers_threshold(s) == TH(ES_SPK_THRESHOLD_LONE, 1));   /* a lone speaker of 3 takes, no background */
    assert_int_equal(es_speakers_set_background(s, F, spk, 6, 2, "{}", 0, &e), ES_OK);
    assert_true(es_speakers_threshold(s) == TH(ES_SPK_THRESHOLD_LONE_BG, 1));   /* a lone speaker with a background */
    assert_int_equal(es_speakers_enroll(s, "duo", F + 3 * ES_SPK_DIM, 3, 0, &e), ES_OK);
    assert_true(es_speakers_threshold(s) == TH(ES_SPK_THRESHOLD_BG, 1));
    {   /* and without the background, several speakers */
        es_speakers *u = es_speakers_new(eng, &e);
        assert_int_equal(es_speakers_enroll(u, "solo", F, 3, 0, &e), ES_OK);
        assert_int_equal(es_speakers_enroll(u, "duo", F + 3 * ES_SPK_DIM, 3, 0, &e), ES_OK);
        assert_true(es_speakers_threshold(u) == TH(ES_SPK_THRESHOLD, 1));
        es_speakers_free(u);
    }
    {   /* the scale grows with the takes: 5 takes give the 5-take point, 50
         * the 50-take one, 7 one between 5 and 10, more than 50 the last */
        static const int ks[] = {5, 50, 7, 80};
        for (int q = 0; q < 4; q++) {
            es_speakers *u = es_speakers_new(eng, &e);
            float *G = malloc((size_t)ks[q] * ES_SPK_DIM * sizeof(float));
            for (int i = 0; i < ks[q] * ES_SPK_DIM; i++) G[i] = test_rand(&r);
            assert_int_equal(es_speakers_enroll(u, "many", G, (size_t)ks[q], 0, &e), ES_OK);
            double t = es_speakers_threshold(u);
            if (q == 0) assert_true(t == TH(ES_SPK_THRESHOLD_LONE, 2));
            if (q == 1 || q == 3) assert_true(t == TH(ES_SPK_THRESHOLD_LONE, 5));
            if (q == 2) assert_true(t > TH(ES_SPK_THRESHOLD_LONE, 2) && t < TH(ES_SPK_THRESHOLD_LONE, 3));
            free(G);
            es_speakers_free(u);
        }
    }
    char p[128];
    snprintf(p, sizeof p, "%s/th.safetensors", dir);
    assert_int_equal(es_speakers_save(s, p, &e), ES_OK);
    es_speakers *t = es_speakers_load(p, eng, &e);
    assert_non_null(t);
    assert_false(es_speakers_threshold_is_set(t));
    assert_int_equal(es_speakers_set_threshold(t, 0.61, &e), ES_OK);
    assert_int_not_equal(es_speakers_set_threshold(t, 1.5, &e), ES_OK);
    assert_int_not_equal(es_speakers_set_threshold(t, -0.1, &e), ES_OK);   /* scores are in (0, 1] */
    assert_int_equal(es_speakers_save(t, p, &e), ES_OK);
    es_speakers_free(t);
    t = es_speakers_load(p, eng, &e);
    assert_non_null(t);
    assert_true(es_speakers_threshold_is_set(t));
    assert_true(fabs(es_speakers_threshold(t) - 0.61) < 1e-6);
    es_speakers_free(t);
    es_speakers_free(s);
}

/* replace the first occurrence of `from` by `to` (same length) */
static void patch(unsigned char *b, size_t n, const char *from, const char *to)
{
    size_t l = strlen(from);
    assert_int_equal(strlen(to), l);
    for (size_t i = 0; i + l <= n; i++)
        if (!memcmp(b + i, from, l)) { memcpy(b + i, to, l); return; }
    fail_msg("'%s' not in the file", from);
}

static void test_refusals(void **state)
{
    (void)state;
    es_error e = {0};
    es_speakers *s = make_profile();
    char p[128];
    snprintf(p, sizeof p, "%s/q.safetensors", dir);
    assert_int_equal(es_speakers_save(s, p, &e), ES_OK);
    es_speakers_free(s);
    size_t n;
    unsigned char *b = test_read_file(p, &n), *c = malloc(n);
    /* every truncation is refused, and names the file */
    for (size_t k = 0; k < n; k++) {
        assert_null(es_speakers_parse(b, k, "q.safetensors", eng, &e));
        assert_non_null(strstr(e.msg, "q.safetensors"));
    }
    /* a newer version */
    memcpy(c, b, n);
    patch(c, n, "\"earshot.profile_version\":\"3\"", "\"earshot.profile_version\":\"4\"");
    assert_null(es_speakers_parse(c, n, "q.safetensors", eng, &e));
    assert_int_equal(e.status, ES_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "newer"));
    /* an older one (version 2: no encoder activations; version 1: one
     * cosine-scored vector per take) is refused, not misread, and says to
     * enroll again */
    memcpy(c, b, n);
    patch(c, n, "\"earshot.profile_version\":\"3\"", "\"earshot.profile_version\":\"2\"");
    assert_null(es_speakers_parse(c, n, "q.safetensors", eng, &e));
    assert_int_equal(e.status, ES_ERR_MODEL);
    assert_non_null(strstr(e.msg, "older"));
    assert_non_null(strstr(e.msg, "enroll the speakers again"));
    /* another encoder: refused with an engine, readable without one */
    memcpy(c, b, n);
    const char *sha = es_engine_encoder_sha256(eng);
    char other[65];
    snprintf(other, sizeof other, "%s", sha);
    other[0] = other[0] == '0' ? '1' : '0';
    patch(c, n, sha, other);
    assert_null(es_speakers_parse(c, n, "q.safetensors", eng, &e));
    assert_int_equal(e.status, ES_ERR_MODEL);
    assert_non_null(strstr(e.msg, "another encoder"));
    es_speakers *x = es_speakers_parse(c, n, "q.safetensors", NULL, &e);
    assert_non_null(x);
    float f[ES_SPK_DIM] = {0};
    int best;
    float sc;
    assert_int_equal(es_speaker_identify(x, eng, f, 0, &best, &sc, &e), ES_ERR_MODEL);   /* used with this engine: refused */
    es_speakers_free(x);
    /* another representation, another format */
    memcpy(c, b, n);
    patch(c, n, "\\\"dim\\\":340", "\\\"dim\\\":339");   /* JSON inside JSON: escaped */
    assert_null(es_speakers_parse(c, n, "q.safetensors", eng, &e));
    assert_non_null(strstr(e.msg, "representation"));
    memcpy(c, b, n);
    patch(c, n, "earshot-speakers", "earshot-speakerz");
    assert_null(es_speakers_parse(c, n, "q.safetensors", eng, &e));
    /* a speaker index out of range (the last take's index 2.0f -> 4.0f; no
     * background, so the speaker tensor is last) */
    memcpy(c, b, n);
    float four = 4.0f;
    memcpy(c + n - 4, &four, 4);
    assert_null(es_speakers_parse(c, n, "q.safetensors", eng, &e));
    assert_non_null(strstr(e.msg, "out of range"));
    /* single-byte corruptions: refused or accepted whole, never a crash.
     * Every 7th byte of the header; the tensor data (float values, most of
     * them accepted and then scored, which refits the projection) more
     * sparsely, so the test stays fast */
    size_t accepted = 0, tried = 0, hdr = 8;
    { uint64_t hl = 0; for (int q = 7; q >= 0; q--) hl = hl << 8 | b[q]; hdr += (size_t)hl; }
    for (size_t k = 0; k < n; k += k < hdr ? 7 : 61, tried++) {
        memcpy(c, b, n);
        c[k] ^= 0x5a;
        es_speakers *y = es_speakers_parse(c, n, "q.safetensors", eng, &e);
        if (y) {
            accepted++;
            assert_int_equal(es_speakers_count(y), 3);
            assert_int_equal(es_speakers_score(y, f, NULL, &best, &sc, &e) == ES_OK || e.msg[0], 1);
            es_speakers_free(y);
        } else {
            assert_non_null(strstr(e.msg, "q.safetensors"));
        }
    }
    printf("%zu of %zu corrupted profiles accepted (changed take values or padding)\n", accepted, tried);
    /* a file that does not exist, a directory */
    assert_null(es_speakers_load("/nonexistent/p.safetensors", eng, &e));
    assert_null(es_speakers_load(dir, eng, &e));
    free(b);
    free(c);
}

/* gain in dB of a sine of f Hz through es_spk_shelves (steady state) */
static double shelf_gain(double f, double bass, double treble)
{
    enum { N = 16000 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)sin(2 * M_PI * f * i / ES_SAMPLE_RATE);
    es_spk_shelves(x, N, bass, treble);
    double p = 0;
    for (int i = N / 2; i < N; i++) p += (double)x[i] * x[i];
    return 10 * log10(p / (N / 2) / 0.5);
}

/* the synthetic background's microphone: a bass shelf moves 100 Hz by
 * about its gain and leaves 6 kHz alone, a treble shelf the reverse */
static void test_shelves(void **state)
{
    (void)state;
    for (double g = -6; g <= 6; g += 12) {
        double lo = shelf_gain(50, g, 0), hi = shelf_gain(7500, g, 0);
        printf("bass %+.0f dB: 50 Hz %+.2f dB, 7.5 kHz %+.2f dB\n", g, lo, hi);
        assert_true(fabs(lo - g) < 0.5 && fabs(hi) < 0.5);
        lo = shelf_gain(50, 0, g), hi = shelf_gain(7500, 0, g);
        printf("treble %+.0f dB: 50 Hz %+.2f dB, 7.5 kHz %+.2f dB\n", g, lo, hi);
        assert_true(fabs(hi - g) < 0.5 && fabs(lo) < 0.5);
    }
    assert_true(fabs(shelf_gain(1000, 0, 0)) < 1e-3);
}

/* synthetic voices: one seed gives the same voices and words, another
 * seed others; bad sizes are refused. espeak-ng carries a little state
 * from one utterance to the next, so a second call in the same process
 * is close to the first, not equal: the whole-clip vectors must match far
 * better than those of the other seed */
static void test_synth_voices(void **state)
{
    (void)state;
    es_error e = {0};
    float *a = NULL, *b = NULL, *c = NULL;
    int *ya = NULL, *yb = NULL, *yc = NULL;
    size_t na = 0, nb = 0, nc = 0;
    assert_int_equal(es_spk_synth_voices(eng, 3, 2, 11, &a, &ya, &na, NULL, NULL, &e), ES_OK);
    assert_int_equal(na, 6);
    for (size_t i = 0; i < na; i++) assert_int_equal(ya[i], (int)i / 2);
    assert_int_equal(es_spk_synth_voices(eng, 3, 2, 11, &b, &yb, &nb, NULL, NULL, &e), ES_OK);
    assert_int_equal(es_spk_synth_voices(eng, 3, 2, 12, &c, &yc, &nc, NULL, NULL, &e), ES_OK);
    for (size_t i = 0; i < na; i++) {
        double dab = 0, dac = 0, na2 = 0;
        for (int d = 0; d < ES_SPK_VEC; d++) {
            double p = a[i * ES_SPK_DIM + d], q = b[i * ES_SPK_DIM + d], r = c[i * ES_SPK_DIM + d];
            dab += (p - q) * (p - q); dac += (p - r) * (p - r); na2 += p * p;
        }
        printf("take %zu: same seed %.2g, other seed %.2g (relative distance)\n", i, sqrt(dab / na2), sqrt(dac / na2));
        assert_true(sqrt(dab / na2) < 0.08 && sqrt(dac / na2) > 3 * sqrt(dab / na2));
    }
    free(b); free(yb);
    b = NULL;
    for (size_t i = 0; i < na * ES_SPK_DIM; i++) assert_true(isfinite(a[i]));
    assert_int_not_equal(es_spk_synth_voices(eng, 1, 2, 11, &b, &yb, &nb, NULL, NULL, &e), ES_OK);
    assert_non_null(strstr(e.msg, "voices"));
    assert_null(b);
    assert_int_not_equal(es_spk_synth_voices(eng, 2, 500, 11, &b, &yb, &nb, NULL, NULL, &e), ES_OK);
    free(a); free(c); free(ya); free(yc);
    /* as a profile's background: described, and it changes the scores */
    es_speakers *s = es_speakers_new(eng, &e);
    assert_non_null(s);
    size_t n;
    float *x = voice(140, 0.5, 0.7, &n), f[ES_SPK_DIM], g[ES_SPK_DIM], s1[1], s2[1];
    assert_int_equal(es_speaker_features(eng, x, n, f, &e), ES_OK);
    free(x);
    x = voice(150, 0.6, 0.6, &n);
    assert_int_equal(es_speaker_features(eng, x, n, g, &e), ES_OK);
    free(x);
    float two[2 * ES_SPK_DIM];
    memcpy(two, f, sizeof f);
    memcpy(two + ES_SPK_DIM, g, sizeof g);
    assert_int_equal(es_speakers_enroll(s, "a", two, 2, 0, &e), ES_OK);
    assert_int_equal(es_speakers_score(s, g, s1, NULL, NULL, &e), ES_OK);
    assert_int_equal(es_speakers_background_synth(s, eng, 2, 3, 7, 0, NULL, NULL, &e), ES_OK);
    assert_non_null(strstr(es_speakers_background(s), "\"source\":\"synth\""));
    assert_non_null(strstr(es_speakers_background(s), "\"voices\":2"));
    assert_int_equal(es_speakers_score(s, g, s2, NULL, NULL, &e), ES_OK);
    assert_true(s1[0] != s2[0]);
    es_speakers_free(s);
}

int main(void)
{
    test_require_models();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_pitch),
        cmocka_unit_test(test_fit_clusters),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_background),
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_shelves),
        cmocka_unit_test(test_synth_voices),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
