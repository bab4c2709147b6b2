/* Shared by the cmocka unit tests: find the pretrained models or skip. */
#ifndef ES_TEST_UTIL_H
#define ES_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>

#include "earshot.h"

/* Load a pretrained model by name; NULL if the models are not fetched. */
static inline es_onnx *test_model(const char *name)
{
    char path[4096];
    if (es_models_path(NULL, name, path, sizeof path, NULL) != ES_OK) return NULL;
    es_error e = {0};
    es_onnx *m = es_onnx_load(path, &e);
    if (!m) fprintf(stderr, "loading %s: %s\n", path, e.msg);
    return m;
}

/* Exit 77 (meson: skipped) with a reason when the models are absent. */
static inline void test_require_models(void)
{
    char path[4096];
    if (es_models_path(NULL, "embedding_model", path, sizeof path, NULL) != ES_OK ||
        es_models_path(NULL, "melspectrogram", path, sizeof path, NULL) != ES_OK) {
        printf("SKIP: pretrained models not found (run scripts/fetch-models.sh or set EARSHOT_MODELS)\n");
        exit(77);
    }
}

/* Deterministic pseudo-random numbers for test inputs. */
static inline float test_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f;
}

/* DIR/<a|b>/sS_nohash_K.wav (S = K % speakers, Speech Commands names):
 * n clips per label, 0.4 s of a tone whose pitch differs per clip and per
 * label, in a little noise from seed; a small dataset train reads fast */
static inline void test_tone_set(const char *dir, int n, int speakers, uint32_t seed)
{
    char p[600];
    assert_int_equal(mkdir(dir, 0755), 0);
    for (int l = 0; l < 2; l++) {
        snprintf(p, sizeof p, "%s/%c", dir, 'a' + l);
        assert_int_equal(mkdir(p, 0755), 0);
        for (int k = 0; k < n; k++) {
            float x[6400];
            uint32_t s = seed + (uint32_t)(l * 1000 + k + 1);
            double f = (l ? 900.0 : 300.0) + 17.0 * k;
            for (int i = 0; i < 6400; i++)
                x[i] = (float)(6000.0 * sin(2 * 3.14159265358979323846 * f * i / 16000.0) + 300.0 * (test_rand(&s) - 0.5));
            es_error err = {0};
            snprintf(p, sizeof p, "%s/%c/s%d_nohash_%d.wav", dir, 'a' + l, k % speakers, k);
            assert_int_equal(es_audio_write_wav(p, x, 6400, &err), ES_OK);
        }
    }
}

/* A fresh directory /tmp/es_TAG_XXXXXX for a test's files (0, else -1),
 * and its removal with everything in it. */
static inline int test_tmpdir(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "/tmp/es_%s_XXXXXX", tag);
    return mkdtemp(buf) ? 0 : -1;
}

static inline int test_rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A whole file's bytes, NUL-terminated (not counted in *n); fails the
 * test when the file cannot be read. free() it. */
static inline unsigned char *test_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    unsigned char *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    b[len] = 0;
    *n = (size_t)len;
    return b;
}

/* cmocka group set-up and tear-down for tests that share one engine and
 * one scratch folder (removed when its name was set) */
/* The derivative of the loss f(ctx) in one float parameter *x, by central
 * differences at step h and, when steps is 2, at 3h too (the steps taken
 * as they land in float). With kinks, a step whose one-sided slopes
 * disagree (by over 5% + 1e-3: a ReLU, a max or a clip switched inside it)
 * is left out. Of the steps left, the estimate nearer ana; NAN when none
 * is left. f0 is f at the point. Two steps because each fails somewhere a
 * correct gradient does not: the float forward's rounding over the small
 * step is large next to the smallest gradients, the large step crosses
 * more kinks; a wrong gradient matches neither. */
static inline double test_fd_slope(double (*f)(void *), void *ctx, float *x, float h, int steps, int kinks,
                                   double f0, double ana)
{
    float old = *x;
    double best = NAN;
    for (int s = 0; s < steps; s++) {
        float step = s ? 3 * h : h;
        *x = old + step;
        double fp = f(ctx);
        *x = old - step;
        double fm = f(ctx);
        *x = old;
        double hp = (double)(old + step) - old, hm = old - (double)(old - step);
        double d = (fp - fm) / (hp + hm), dp = (fp - f0) / hp, dm = (f0 - fm) / hm;
        if (kinks && fabs(dp - dm) > 0.05 * fmax(fabs(dp), fabs(dm)) + 1e-3) continue;
        if (isnan(best) || fabs(d - ana) < fabs(best - ana)) best = d;
    }
    return best;
}

static inline int test_engine_setup(es_engine **eng)
{
    es_error err = {0};
    *eng = es_engine_create(NULL, &err);
    if (!*eng) fprintf(stderr, "%s\n", err.msg);
    return *eng ? 0 : -1;
}

static inline int test_engine_teardown(es_engine *eng, const char *dir)
{
    es_engine_free(eng);
    return dir && dir[0] ? test_rmtree(dir) : 0;
}

#endif
