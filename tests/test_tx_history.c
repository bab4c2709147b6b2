/* The audio history that `transcribe --speakers` and `listen --speakers`
 * cut an event's audio from (pipeline/transcribe.c), and the speaker
 * columns of the transcript renderings. No models needed. */
#include "test_util.h"
#include "../pipeline/transcribe.h"

#include <string.h>

/* sample i of the stream has the value i, so a cut says where it came from */
static void push_ramp(es_tx_history *h, size_t from, size_t n)
{
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(from + i);
    es_tx_history_push(h, x, n);
    free(x);
}

static void test_cut(void **state)
{
    (void)state;
    es_tx_history h;
    es_error e = {0};
    assert_int_equal(es_tx_history_init(&h, 1.0, &e), ES_OK);   /* 16000 samples */
    assert_int_equal(h.cap, ES_SAMPLE_RATE);
    float *x = NULL;
    assert_int_equal(es_tx_history_cut(&h, 0, 0.5, &x), 0);     /* nothing pushed yet */
    assert_null(x);
    push_ramp(&h, 0, 8000);
    /* [0.1, 0.3) s = samples 1600..4799 */
    size_t n = es_tx_history_cut(&h, 0.1, 0.3, &x);
    assert_int_equal(n, 3200);
    assert_float_equal(x[0], 1600, 0);
    assert_float_equal(x[n - 1], 4799, 0);
    free(x);
    /* a cut reaching before the start or past what was pushed is clipped */
    n = es_tx_history_cut(&h, -0.2, 10, &x);
    assert_int_equal(n, 8000);
    assert_float_equal(x[0], 0, 0);
    assert_float_equal(x[7999], 7999, 0);
    free(x);
    /* wrap around: 20000 more in odd pieces, the last 16000 are kept */
    push_ramp(&h, 8000, 7001);
    push_ramp(&h, 15001, 12999);
    assert_int_equal(h.pushed, 28000);
    n = es_tx_history_cut(&h, 0, 2, &x);   /* from 0: only samples 12000.. remain */
    assert_int_equal(n, 16000);
    for (size_t i = 0; i < n; i++) assert_float_equal(x[i], 12000 + i, 0);
    free(x);
    /* entirely gone */
    assert_int_equal(es_tx_history_cut(&h, 0.1, 0.5, &x), 0);
    assert_null(x);
    /* one push longer than the history keeps its end */
    push_ramp(&h, 28000, 40000);
    n = es_tx_history_cut(&h, 0, 100, &x);
    assert_int_equal(n, 16000);
    assert_float_equal(x[0], 68000 - 16000, 0);
    assert_float_equal(x[n - 1], 67999, 0);
    free(x);
    es_tx_history_free(&h);
}

/* Without speakers the renderings are the old ones; a speaker index of -1
 * or out of range renders as "unknown". */
static void test_render_no_speakers(void **state)
{
    (void)state;
    es_tx_event ev[1] = {{"yes", 1.0, 1.5, 0.9f, 0, 0.7f}};
    es_transcript t = {.file = "a.wav", .model = "m", .duration = 3, .ev = ev, .nev = 1, .cap = 1};
    char *s = NULL;
    es_error e = {0};
    assert_int_equal(es_tx_render(&t, ES_TX_TXT, &s, NULL, &e), ES_OK);
    assert_string_equal(s, "1.00\t1.50\tyes\t0.900\n");
    free(s);
    assert_int_equal(es_tx_render(&t, ES_TX_CSV, &s, NULL, &e), ES_OK);
    assert_string_equal(s, "file,start,end,label,score\na.wav,1.000,1.500,yes,0.9000\n");
    free(s);
    assert_int_equal(es_tx_render(&t, ES_TX_JSON, &s, NULL, &e), ES_OK);
    assert_null(strstr(s, "speaker"));
    free(s);
    assert_string_equal(es_tx_speaker_name(NULL, 0), "unknown");
    assert_string_equal(es_tx_speaker_name(NULL, -1), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_render_no_speakers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
