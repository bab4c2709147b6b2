/* Log-mel front end: frame count, known signals, streaming behaviour and
 * chunk invariance, refusal of the wrong model. Exact parity with
 * onnxruntime is the parity test's job (tests/ref/parity.js). */
#include "test_util.h"

#include <math.h>
#include <string.h>

static es_onnx *model;
static es_mel *mel;

static int setup(void **state)
{
    (void)state;
    model = test_model("melspectrogram");
    es_error e = {0};
    mel = es_mel_create(model, &e);
    return mel ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    es_mel_free(mel);
    es_onnx_free(model);
    return 0;
}

static void test_frames(void **state)
{
    (void)state;
    /* what the reference's Conv (kernel 512, stride 160, no padding) yields */
    assert_int_equal(es_mel_frames(0), 0);
    assert_int_equal(es_mel_frames(511), 0);
    assert_int_equal(es_mel_frames(512), 1);
    assert_int_equal(es_mel_frames(671), 1);
    assert_int_equal(es_mel_frames(672), 2);
    assert_int_equal(es_mel_frames(1280), 5);
    assert_int_equal(es_mel_frames(1760), 8);
    assert_int_equal(es_mel_frames(1761), 8);
    assert_int_equal(es_mel_frames(16000), 97);
}

static void test_silence(void **state)
{
    (void)state;
    float x[4800] = {0}, out[27 * 32];
    assert_int_equal(es_mel_compute(mel, x, 4800, out, NULL), ES_OK);
    /* power 0 -> clamp 1e-10 -> -100 dB -> -100/10 + 2 */
    for (int i = 0; i < 27 * 32; i++) assert_float_equal(out[i], -8.0f, 1e-5);
}

static void test_sine_peak(void **state)
{
    (void)state;
    /* a 1 kHz tone peaks in one mel bin and the top-dB floor holds */
    enum { N = 16000 };
    static float x[N], out[97 * 32];
    for (int i = 0; i < N; i++) x[i] = 10000.0f * sinf(2 * (float)M_PI * 1000.0f * i / 16000.0f);
    assert_int_equal(es_mel_compute(mel, x, N, out, NULL), ES_OK);
    float mx = -1e9f, mn = 1e9f;
    int arg = -1;
    for (int j = 0; j < 32; j++) if (out[50 * 32 + j] > mx) { mx = out[50 * 32 + j]; arg = j; }
    for (int i = 0; i < 97 * 32; i++) mn = out[i] < mn ? out[i] : mn;
    assert_true(arg > 3 && arg < 28);
    assert_float_equal(mn, mx - 8.0f, 0.05f);   /* 80 dB below the max, scaled by 1/10 */
    /* every frame peaks in the same bin */
    for (int f = 0; f < 97; f++) {
        int a = 0;
        for (int j = 1; j < 32; j++) if (out[f * 32 + j] > out[f * 32 + a]) a = j;
        assert_int_equal(a, arg);
    }
}

/* the mel bin where frame 50 of x peaks, through front end m */
static int peak_bin(es_mel *m, float freq)
{
    enum { N = 16000 };
    static float x[N], out[97 * 32];
    for (int i = 0; i < N; i++) x[i] = 10000.0f * sinf(2 * (float)M_PI * freq * i / 16000.0f);
    assert_int_equal(es_mel_compute(m, x, N, out, NULL), ES_OK);
    int arg = 0;
    for (int j = 1; j < 32; j++) if (out[50 * 32 + j] > out[50 * 32 + arg]) arg = j;
    return arg;
}

static void test_warp(void **state)
{
    (void)state;
    es_error e = {0};
    /* warp 1 is the front end itself, number for number */
    es_mel *w1 = es_mel_warp(mel, 1.0, &e);
    assert_non_null(w1);
    enum { N = 8000 };
    static float x[N], a[49 * 32], b[49 * 32];
    uint32_t r = 7;
    for (int i = 0; i < N; i++) { r = r * 1664525u + 1013904223u; x[i] = (float)((int)(r >> 16) - 32768) / 4; }
    assert_int_equal(es_mel_compute(mel, x, N, a, NULL), ES_OK);
    assert_int_equal(es_mel_compute(w1, x, N, b, NULL), ES_OK);
    assert_memory_equal(a, b, sizeof a);
    es_mel_free(w1);
    /* alpha > 1 moves a tone down by alpha, alpha < 1 up: warped by 1.25 a
     * 1.5 kHz tone peaks where a plain 1.2 kHz one does, and warped by 0.8
     * a 1.2 kHz tone where a plain 1.5 kHz one does (the map is linear up
     * to 0.8 x Nyquist / alpha) */
    es_mel *up = es_mel_warp(mel, 1.25, &e), *down = es_mel_warp(mel, 0.8, &e);
    assert_non_null(up);
    assert_non_null(down);
    int p12 = peak_bin(mel, 1200), p15 = peak_bin(mel, 1500);
    assert_true(p15 > p12);
    assert_int_equal(peak_bin(up, 1500), p12);
    assert_int_equal(peak_bin(down, 1200), p15);
    /* the mel filters end near 3.8 kHz, far below the cut-off: the map is
     * linear over the whole band (3 kHz warped by 1.25 is 2.4 kHz) */
    assert_int_equal(peak_bin(up, 3000), peak_bin(mel, 2400));
    es_mel_free(up);
    es_mel_free(down);
    /* out-of-range factors are refused with a message */
    assert_null(es_mel_warp(mel, 1.5, &e));
    assert_int_equal(e.status, ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "warp"));
    assert_null(es_mel_warp(mel, 0.5, &e));
    assert_null(es_mel_warp(mel, NAN, &e));
    /* a NULL front end is named as such, not blamed on a good factor */
    assert_null(es_mel_warp(NULL, 1.0, &e));
    assert_int_equal(e.status, ES_ERR_ARG);
    assert_null(strstr(e.msg, "warp factor"));
    assert_non_null(strstr(e.msg, "no front end"));
}

static void test_stream_chunks(void **state)
{
    (void)state;
    enum { N = 16000 * 3 + 777 };
    static float x[N], a[400 * 32], b[400 * 32], whole[400 * 32];
    uint32_t s = 7;
    for (int i = 0; i < N; i++) x[i] = (test_rand(&s) - 0.5f) * 20000.0f;
    size_t na = 0, nb = 0, got;
    es_mel_stream *sa = es_mel_stream_create(mel, NULL), *sb = es_mel_stream_create(mel, NULL);
    /* one call */
    assert_int_equal(es_mel_stream_push(sa, x, N, a, 400, &na, NULL), ES_OK);
    /* uneven pieces, including single samples */
    size_t pos = 0;
    for (int k = 0; pos < N; k++) {
        size_t step = (size_t)((k * 37) % 1500) + 1;
        if (step > N - pos) step = N - pos;
        assert_int_equal(es_mel_stream_push(sb, x + pos, step, b + nb * 32, 400 - nb, &got, NULL), ES_OK);
        nb += got;
        pos += step;
    }
    /* 5 frames for the first chunk, 8 for each further complete chunk */
    size_t chunks = N / 1280;
    assert_int_equal(na, 5 + 8 * (chunks - 1));
    assert_int_equal(nb, na);
    assert_memory_equal(a, b, na * 32 * sizeof(float));
    /* white noise never reaches the top-dB floor, so streamed frames equal
     * the whole-clip frames at the same positions */
    assert_int_equal(es_mel_compute(mel, x, N, whole, NULL), ES_OK);
    for (size_t i = 0; i < na * 32; i++) assert_float_equal(a[i], whole[i], 1e-4);
    /* a too-small output buffer is an error, not an overflow, and consumes
     * nothing: the same push with room gives the one-call frames (it once
     * failed half-way, 13 frames written, a chunk held back) */
    es_mel_stream *sc = es_mel_stream_create(mel, NULL);
    es_error e = {0};
    assert_int_not_equal(es_mel_stream_push(sc, x, 1280, a, 4, &got, &e), ES_OK);
    assert_int_equal(got, 0);
    assert_int_not_equal(es_mel_stream_push(sc, x, 3840, b, 16, &got, &e), ES_OK);
    assert_int_equal(got, 0);
    assert_non_null(strstr(e.msg, "nothing was consumed"));
    assert_int_equal(es_mel_stream_push(sc, x, N, b, 400, &got, NULL), ES_OK);
    assert_int_equal(got, na);
    assert_memory_equal(a, b, na * 32 * sizeof(float));
    /* NULL outputs are refused, not dereferenced */
    assert_int_equal(es_mel_stream_push(sc, x, 1280, NULL, 100, &got, NULL), ES_ERR_ARG);
    assert_int_equal(es_mel_stream_push(sc, x, 1280, b, 100, NULL, NULL), ES_ERR_ARG);
    es_mel_stream_free(sa);
    es_mel_stream_free(sb);
    es_mel_stream_free(sc);
}

static void test_wrong_model(void **state)
{
    (void)state;
    es_onnx *m = test_model("embedding_model");
    es_error e = {0};
    assert_null(es_mel_create(m, &e));
    assert_int_equal(e.status, ES_ERR_MODEL);
    assert_non_null(strstr(e.msg, "embedding_model"));
    es_onnx_free(m);
    assert_null(es_mel_create(NULL, &e));
}

int main(void)
{
    test_require_models();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames), cmocka_unit_test(test_silence), cmocka_unit_test(test_sine_peak),
        cmocka_unit_test(test_stream_chunks), cmocka_unit_test(test_wrong_model), cmocka_unit_test(test_warp),
    };
    return cmocka_run_group_tests_name("log-mel front end", tests, setup, teardown);
}
