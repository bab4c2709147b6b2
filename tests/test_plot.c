/*
 * tests/test_plot.c — the SVG charts (pipeline/plot.c): what is drawn for
 * each series, where points land on linear and log axes, escaping of the
 * text, gaps at non-finite points, the limits, and the atomic write; and
 * es_eval_sweep, the threshold trade-off `eval --thresholds/--plot` shows,
 * on hand-made scores.
 */
#include "test_util.h"
#include "../pipeline/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* the cx of every <circle>, in document order */
static size_t circles(const char *s, double *cx, double *cy, size_t max)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, "<circle cx=\"")) && n < max; p++) {
        assert_int_equal(sscanf(p, "<circle cx=\"%lf\" cy=\"%lf\"", &cx[n], &cy[n]), 2);
        n++;
    }
    return n;
}

static char *svg_of(const es_plot *p)
{
    char *s;
    size_t n;
    es_error e = {0};
    assert_int_equal(es_plot_svg(p, &s, &n, &e), ES_OK);
    assert_int_equal(strlen(s), n);
    return s;
}

static void test_curve_chart(void **state)
{
    (void)state;
    es_error e = {0};
    es_plot *p = es_plot_create("learning curve: a<b & \"c\"", "clips per label", "accuracy");
    assert_non_null(p);
    es_plot_subtitle(p, "two\tseries\x01");
    es_plot_log(p, 1, 0);
    double x[] = {1, 10, 100}, y[] = {0.85, 0.96, 0.975}, lo[] = {0.8, 0.95, 0.97}, hi[] = {0.9, 0.97, 0.98};
    double y2[] = {0.2, 0.5, 0.8};
    assert_int_equal(es_plot_xtick(p, 1, "1", &e), ES_OK);
    assert_int_equal(es_plot_xtick(p, 10, "10", &e), ES_OK);
    assert_int_equal(es_plot_xtick(p, 100, "all (100)", &e), ES_OK);
    assert_int_equal(es_plot_series(p, "pretrained", x, y, lo, hi, 3, "%.3f", 1, &e), ES_OK);
    assert_int_equal(es_plot_series(p, "scratch", x, y2, NULL, NULL, 3, NULL, 0, &e), ES_OK);
    char *s = svg_of(p);
    assert_true(!strncmp(s, "<?xml", 5));
    assert_non_null(strstr(s, "</svg>\n"));
    /* text escaped; a control character becomes a space */
    assert_non_null(strstr(s, "learning curve: a&lt;b &amp; &quot;c&quot;"));
    assert_null(strstr(s, "a<b"));
    assert_non_null(strstr(s, "two series "));   /* one line: a tab is a space too */
    assert_null(strchr(s, '\x01'));
    /* one band (the first series), two lines, six points, three values */
    assert_int_equal(count(s, "<polygon"), 1);
    assert_int_equal(count(s, "<polyline"), 2);
    assert_int_equal(count(s, "<circle"), 6);
    assert_non_null(strstr(s, ">0.850<"));
    assert_non_null(strstr(s, ">0.975<"));
    assert_null(strstr(s, ">0.200<"));   /* the second series is not annotated */
    assert_non_null(strstr(s, ">all (100)<"));
    assert_non_null(strstr(s, ">pretrained<"));
    assert_non_null(strstr(s, ">scratch<"));
    /* log x: 10 lies halfway between 1 and 100; linear y: equal steps
     * of y are equal steps of pixels, and up the page */
    double cx[8], cy[8];
    assert_int_equal(circles(s, cx, cy, 8), 6);
    assert_true(fabs((cx[1] - cx[0]) - (cx[2] - cx[1])) < 0.15);
    assert_true(cx[0] < cx[1] && cx[1] < cx[2]);
    assert_true(cy[3] > cy[4] && cy[4] > cy[5]);
    assert_true(fabs((cy[3] - cy[4]) - (cy[4] - cy[5])) < 0.15);
    /* no point sits on the frame: the named ticks' axis has room each side */
    double left = 1e9, right = -1e9;
    const char *r = strstr(s, "fill=\"none\" stroke=\"#333\"");
    assert_non_null(r);
    for (int i = 0; i < 6; i++) { left = fmin(left, cx[i]); right = fmax(right, cx[i]); }
    assert_true(left > 74 + 5 && right < 760 - 196 - 5);
    free(s);
    es_plot_free(p);
}

static void test_gaps_and_ranges(void **state)
{
    (void)state;
    es_error e = {0};
    es_plot *p = es_plot_create("t", "x", "y");
    double x[] = {1, 2, 3, 4, 5}, y[] = {1, 2, NAN, 4, 5};
    assert_int_equal(es_plot_series(p, "a", x, y, NULL, NULL, 5, NULL, 0, &e), ES_OK);
    char *s = svg_of(p);
    assert_int_equal(count(s, "<polyline"), 2);   /* broken at the NaN */
    assert_int_equal(count(s, "<circle"), 4);
    free(s);
    /* on a log y axis, 0 and negatives are left out like NaN */
    es_plot_log(p, 0, 1);
    double yl[] = {0.001, 0.01, 0, -1, 0.1};
    assert_int_equal(es_plot_series(p, "b", x, yl, NULL, NULL, 5, NULL, 0, &e), ES_OK);
    s = svg_of(p);
    assert_int_equal(count(s, "<circle"), 4 + 3);
    es_plot_markers(p, 0);   /* a line without its dots */
    free(s);
    s = svg_of(p);
    assert_int_equal(count(s, "<circle"), 0);
    assert_int_equal(count(s, "<polyline"), 2 + 1);   /* b: 0.001-0.01, then 0.1 alone (a dot, not a line) */
    /* decades 0.001 .. 1 (series a reaches 5, so up to 10) as tick labels */
    assert_non_null(strstr(s, ">0.001<"));
    assert_non_null(strstr(s, ">0.01<"));
    assert_non_null(strstr(s, ">10<"));
    free(s);
    es_plot_free(p);
    /* a fixed range: a point outside it is clipped, and its value not printed */
    p = es_plot_create("t", "x", "y");
    double yy[] = {0.5, 2.0};
    es_plot_yrange(p, 0, 1);
    assert_int_equal(es_plot_series(p, "c", x, yy, NULL, NULL, 2, "%.1f", 1, &e), ES_OK);
    s = svg_of(p);
    assert_non_null(strstr(s, ">0.5<"));
    assert_null(strstr(s, ">2.0<"));
    assert_non_null(strstr(s, "clip-path=\"url(#area)\""));
    free(s);
    es_plot_free(p);
    /* an empty chart is still a chart */
    p = es_plot_create("", "", "");
    s = svg_of(p);
    assert_non_null(strstr(s, "</svg>"));
    free(s);
    es_plot_free(p);
}

/* es_plot_log_zero: a 0 on a log axis has a row (a column on x) of its
 * own past the low end, labelled 0, below (left of) every positive point;
 * a negative value is still left out */
static void test_log_zero(void **state)
{
    (void)state;
    es_error e = {0};
    es_plot *p = es_plot_create("t", "x", "y");
    es_plot_log(p, 0, 1);
    es_plot_log_zero(p, 1);
    double x[] = {1, 2, 3, 4, 5}, y[] = {0.001, 0.01, 0, -1, 0};
    assert_int_equal(es_plot_series(p, "b", x, y, NULL, NULL, 5, NULL, 0, &e), ES_OK);
    char *s = svg_of(p);
    double cx[8], cy[8];
    assert_int_equal(circles(s, cx, cy, 8), 4);   /* the two zeros drawn, -1 not */
    assert_true(cy[2] > cy[0] && cy[0] > cy[1]);  /* 0 under 0.001 under 0.01 (pixels grow down) */
    assert_true(fabs(cy[2] - cy[3]) < 0.05);      /* both zeros on one row */
    assert_true(cy[2] < 460 - 58 && cy[2] - cy[0] > 10);   /* inside the frame, apart from the axis */
    assert_int_equal(count(s, "<polyline"), 1);   /* 0.001-0.01-0, then the last 0 alone */
    assert_non_null(strstr(s, ">0<"));
    free(s);
    /* without it, as before: zeros left out, no 0 label */
    es_plot_log_zero(p, 0);
    s = svg_of(p);
    assert_int_equal(circles(s, cx, cy, 8), 2);
    assert_null(strstr(s, ">0<"));
    free(s);
    es_plot_free(p);
    /* on x: a column left of every positive point, and the range is the
     * positive points' (0 does not pull the axis down to 1e-300) */
    p = es_plot_create("t", "x", "y");
    es_plot_log(p, 1, 0);
    es_plot_log_zero(p, 1);
    double xs[] = {0, 0.1, 10}, ys[] = {0.3, 0.2, 0.1};
    assert_int_equal(es_plot_series(p, "c", xs, ys, NULL, NULL, 3, NULL, 0, &e), ES_OK);
    s = svg_of(p);
    assert_int_equal(circles(s, cx, cy, 8), 3);
    assert_true(cx[0] > 74 && cx[0] + 10 < cx[1] && cx[1] < cx[2]);
    assert_true(cy[0] >= 66 - 0.05 && cy[0] < cy[1]);   /* its y (the largest) is in the y range */
    assert_non_null(strstr(s, ">0.1<"));
    assert_null(strstr(s, ">1e-"));
    free(s);
    es_plot_free(p);
    /* no point at 0: no room kept for it, no 0 label */
    p = es_plot_create("t", "x", "y");
    es_plot_log(p, 1, 1);
    es_plot_log_zero(p, 1);
    assert_int_equal(es_plot_series(p, "d", xs + 1, ys + 1, NULL, NULL, 2, NULL, 0, &e), ES_OK);
    s = svg_of(p);
    assert_int_equal(circles(s, cx, cy, 8), 2);
    assert_null(strstr(s, ">0<"));
    free(s);
    es_plot_free(p);
}

static void test_limits(void **state)
{
    (void)state;
    es_error e = {0};
    es_plot *p = es_plot_create("t", "x", "y");
    double x[] = {1}, y[] = {1};
    assert_int_equal(es_plot_series(p, "a", x, y, x, NULL, 1, NULL, 0, &e), ES_ERR_ARG);   /* half a band */
    assert_int_equal(es_plot_series(p, "a", NULL, y, NULL, NULL, 1, NULL, 0, &e), ES_ERR_ARG);
    for (int i = 0; i < ES_PLOT_MAX_SERIES; i++) assert_int_equal(es_plot_series(p, "s", x, y, NULL, NULL, 1, NULL, 0, &e), ES_OK);
    assert_int_equal(es_plot_series(p, "s", x, y, NULL, NULL, 1, NULL, 0, &e), ES_ERR_ARG);
    for (int i = 0; i < ES_PLOT_MAX_TICKS; i++) assert_int_equal(es_plot_xtick(p, i, "t", &e), ES_OK);
    assert_int_equal(es_plot_xtick(p, 0, "t", &e), ES_ERR_ARG);
    char *s = svg_of(p);
    /* past the palette, lines are dashed so that series stay apart */
    assert_non_null(strstr(s, "stroke-dasharray"));
    free(s);
    es_plot_free(p);
    es_plot_free(NULL);
}

static void test_write(void **state)
{
    (void)state;
    char dir[] = "/tmp/es_plot_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/c.svg", dir);
    snprintf(bad, sizeof bad, "%s/missing/c.svg", dir);
    es_error e = {0};
    es_plot *p = es_plot_create("t", "x", "y");
    double x[] = {1, 2}, y[] = {3, 4};
    assert_int_equal(es_plot_series(p, "a", x, y, NULL, NULL, 2, "%g", 1, &e), ES_OK);
    assert_int_equal(es_plot_write(p, path, &e), ES_OK);
    char *s = svg_of(p);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    assert_string_equal(buf, s);   /* the file is the document, and the same twice */
    free(s);
    assert_int_not_equal(es_plot_write(p, bad, &e), ES_OK);
    assert_non_null(strstr(e.msg, "missing"));
    struct stat st;
    assert_int_not_equal(stat(bad, &st), 0);
    es_plot_free(p);
    unlink(path);
    rmdir(dir);
}

/* rates of a hand-made result; labels starting with '_' never fire */
static void test_sweep(void **state)
{
    (void)state;
    char *labels[] = {"_silence_", "_unknown_", "no", "yes"};
    float scores[] = {
        0.00f, 0.05f, 0.05f, 0.90f,   /* a "yes" clip */
        0.00f, 0.05f, 0.40f, 0.55f,   /* a "no" clip that "yes" outscores */
        0.00f, 0.70f, 0.00f, 0.30f,   /* _unknown_: its own 0.7 never fires */
        0.98f, 0.00f, 0.02f, 0.00f,   /* a noise slice */
    };
    int truth[] = {3, 2, 1, 0};
    unsigned char kind[] = {ES_CLIP_WORD, ES_CLIP_WORD, ES_CLIP_UNKNOWN, ES_CLIP_SILENCE};
    es_eval_result r = {0};
    r.n = 4;
    r.n_labels = 4;
    r.labels = labels;
    r.scores = scores;
    r.truth = truth;
    r.kind = kind;
    double th[] = {0.01, 0.3, 0.5, 0.95};
    es_sweep_point sw[4];
    es_error e = {0};
    assert_int_equal(es_eval_sweep(&r, th, 4, sw, &e), ES_OK);
    assert_int_equal(sw[0].n_own, 2);
    assert_int_equal(sw[0].n_words, 2);
    assert_int_equal(sw[0].n_unknown, 1);
    assert_int_equal(sw[0].n_silence, 1);
    /* 0.01: nothing missed; "no" fires on the "yes" clip, "yes" on the "no"
     * clip, "yes" on _unknown_, "no" on the noise */
    assert_true(sw[0].missed == 0 && sw[0].false_words == 1 && sw[0].false_unknown == 1 && sw[0].false_silence == 1);
    /* 0.3: only "yes" on the "no" clip and on _unknown_ */
    assert_true(sw[1].missed == 0 && sw[1].false_words == 0.5 && sw[1].false_unknown == 1 && sw[1].false_silence == 0);
    /* 0.5: the "no" clip is missed, and "yes" still fires on it */
    assert_true(sw[2].missed == 0.5 && sw[2].false_words == 0.5 && sw[2].false_unknown == 0 && sw[2].false_silence == 0);
    /* 0.95: both missed, nothing false */
    assert_true(sw[3].missed == 1 && sw[3].false_words == 0 && sw[3].false_unknown == 0);
    assert_true(sw[3].threshold == 0.95);

    /* a wake-word model: clips of other words are its _other_ (kind OTHER):
     * they count for false accepts, not for misses; no noise: NaN */
    char *wl[] = {"_other_", "play"};
    float ws[] = {0.2f, 0.8f, 0.4f, 0.6f, 0.8f, 0.2f};
    int wt[] = {1, 0, 0};
    unsigned char wk[] = {ES_CLIP_WORD, ES_CLIP_OTHER, ES_CLIP_UNKNOWN};
    es_eval_result w = {0};
    w.n = 3; w.n_labels = 2; w.labels = wl; w.scores = ws; w.truth = wt; w.kind = wk;
    double t5 = 0.5;
    assert_int_equal(es_eval_sweep(&w, &t5, 1, sw, &e), ES_OK);
    assert_int_equal(sw[0].n_own, 1);
    assert_int_equal(sw[0].n_words, 2);
    assert_true(sw[0].missed == 0 && sw[0].false_words == 0.5 && sw[0].false_unknown == 0);
    assert_true(isnan(sw[0].false_silence));
    /* a result without its scores is refused, not read */
    w.scores = NULL;
    assert_int_equal(es_eval_sweep(&w, &t5, 1, sw, &e), ES_ERR_ARG);
    assert_int_equal(es_eval_sweep(NULL, &t5, 1, sw, &e), ES_ERR_ARG);
    /* a threshold that is no probability is refused, as the detector
     * refuses it, rather than measured (NaN fired nowhere, all rates 0) */
    w.scores = ws;
    const double badt[] = {NAN, -0.1, 1.5, INFINITY};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(es_eval_sweep(&w, &badt[i], 1, sw, &e), ES_ERR_ARG);
        assert_non_null(strstr(e.msg, "threshold"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curve_chart),
        cmocka_unit_test(test_gaps_and_ranges),
        cmocka_unit_test(test_log_zero),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
