/*
 * pipeline/plot.c — line charts as SVG (plot.h).
 *
 * The document is built in memory (open_memstream) and written with
 * es_write_atomic, so a failed write never leaves half a chart. Coordinates
 * are printed with one decimal: a tenth of a pixel is below what a screen
 * shows, and it keeps the files small and byte-stable across runs.
 */
#include "plot.h"
#include "es_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* margins, in px: the legend sits right of the plot area */
enum { ML = 74, MR = 196, MT = 66, MB = 58 };

typedef struct {
    char *name, *fmt;
    double *x, *y, *lo, *hi;
    size_t n;
    int annotate;
} series;

typedef struct {
    double v;
    char *label;
} tick;

typedef struct {
    double x0, x1;
    char *label;
} span;

#define MAX_HLINES 8

struct es_plot {
    int w, h;                 /* canvas, px */
    char *title, *subtitle, *xlabel, *ylabel;
    span *sp;
    size_t nsp, sp_dropped;
    double hy[MAX_HLINES];
    char *hname[MAX_HLINES];
    size_t nh;
    int xlog, ylog;
    int log_zero;             /* 0 on a log axis: its own row / column */
    int markers;              /* dots at the points of series of up to 40 */
    double xr[2], yr[2];      /* fixed ends, NaN = automatic */
    series s[ES_PLOT_MAX_SERIES];
    size_t ns;
    tick xt[ES_PLOT_MAX_TICKS];
    size_t nxt;
};

/* a qualitative palette that stays apart for colour-blind readers in its
 * first pairs (blue / vermilion) */
static const char *const COLOURS[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442"};
#define NCOL (sizeof COLOURS / sizeof COLOURS[0])

static char *dup(const char *s)
{
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

es_plot *es_plot_create(const char *title, const char *xlabel, const char *ylabel)
{
    es_plot *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->title = dup(title);
    p->xlabel = dup(xlabel);
    p->ylabel = dup(ylabel);
    p->subtitle = dup("");
    p->xr[0] = p->xr[1] = p->yr[0] = p->yr[1] = NAN;
    p->w = 760;
    p->h = 460;
    p->markers = 1;
    if (!p->title || !p->xlabel || !p->ylabel || !p->subtitle) { es_plot_free(p); return NULL; }
    return p;
}

void es_plot_free(es_plot *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->ns; i++) {
        series *s = &p->s[i];
        free(s->name); free(s->fmt); free(s->x); free(s->y); free(s->lo); free(s->hi);
    }
    for (size_t i = 0; i < p->nxt; i++) free(p->xt[i].label);
    for (size_t i = 0; i < p->nsp; i++) free(p->sp[i].label);
    free(p->sp);
    for (size_t i = 0; i < p->nh; i++) free(p->hname[i]);
    free(p->title); free(p->subtitle); free(p->xlabel); free(p->ylabel);
    free(p);
}

void es_plot_subtitle(es_plot *p, const char *text)
{
    char *d = dup(text);
    if (!d) return;   /* keeps the old one: a chart without its note is still a chart */
    free(p->subtitle);
    p->subtitle = d;
}

void es_plot_size(es_plot *p, int w, int h)
{
    p->w = w < 400 ? 400 : w > 32000 ? 32000 : w;
    p->h = h < 240 ? 240 : h > 4000 ? 4000 : h;
}

void es_plot_markers(es_plot *p, int on) { p->markers = on != 0; }
void es_plot_log(es_plot *p, int xlog, int ylog) { p->xlog = xlog != 0; p->ylog = ylog != 0; }
void es_plot_log_zero(es_plot *p, int on) { p->log_zero = on != 0; }
void es_plot_xrange(es_plot *p, double lo, double hi) { p->xr[0] = lo; p->xr[1] = hi; }
void es_plot_yrange(es_plot *p, double lo, double hi) { p->yr[0] = lo; p->yr[1] = hi; }

es_status es_plot_xtick(es_plot *p, double x, const char *label, es_error *err)
{
    if (p->nxt == ES_PLOT_MAX_TICKS) return es_fail(err, ES_ERR_ARG, "plot: more than %d x ticks", ES_PLOT_MAX_TICKS);
    char *l = dup(label);
    if (!l) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    p->xt[p->nxt++] = (tick){x, l};
    return ES_OK;
}

es_status es_plot_span(es_plot *p, double x0, double x1, const char *label, es_error *err)
{
    if (!(x0 <= x1)) return es_fail(err, ES_ERR_ARG, "plot: a span must have x0 <= x1");
    if (p->nsp == ES_PLOT_MAX_SPANS) { p->sp_dropped++; return ES_OK; }
    if (!p->sp && !(p->sp = malloc(ES_PLOT_MAX_SPANS * sizeof *p->sp))) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    char *l = dup(label);
    if (!l) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    p->sp[p->nsp++] = (span){x0, x1, l};
    return ES_OK;
}

size_t es_plot_spans_dropped(const es_plot *p) { return p->sp_dropped; }

es_status es_plot_hline(es_plot *p, double y, const char *name, es_error *err)
{
    if (p->nh == MAX_HLINES) return es_fail(err, ES_ERR_ARG, "plot: more than %d horizontal lines", MAX_HLINES);
    char *n = dup(name);
    if (!n) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    p->hy[p->nh] = y;
    p->hname[p->nh++] = n;
    return ES_OK;
}

static double *copy(const double *v, size_t n, int *fail)
{
    if (!v) return NULL;
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (!d) { *fail = 1; return NULL; }
    memcpy(d, v, n * sizeof *d);
    return d;
}

es_status es_plot_series(es_plot *p, const char *name, const double *x, const double *y, const double *lo,
                         const double *hi, size_t n, const char *fmt, int annotate, es_error *err)
{
    if (p->ns == ES_PLOT_MAX_SERIES) return es_fail(err, ES_ERR_ARG, "plot: more than %d series", ES_PLOT_MAX_SERIES);
    if (!x || !y || (!lo != !hi)) return es_fail(err, ES_ERR_ARG, "plot: a series needs x and y, and both band ends or neither");
    series *s = &p->s[p->ns];
    int fail = 0;
    memset(s, 0, sizeof *s);
    s->name = dup(name);
    s->fmt = fmt ? dup(fmt) : NULL;
    s->x = copy(x, n, &fail);
    s->y = copy(y, n, &fail);
    s->lo = copy(lo, n, &fail);
    s->hi = copy(hi, n, &fail);
    s->n = n;
    s->annotate = fmt ? annotate : 0;
    if (fail || !s->name || (fmt && !s->fmt)) {
        free(s->name); free(s->fmt); free(s->x); free(s->y); free(s->lo); free(s->hi);
        memset(s, 0, sizeof *s);
        return es_fail(err, ES_ERR_NOMEM, "out of memory");
    }
    p->ns++;
    return ES_OK;
}

/* ------------------------------------------------------------ axes */

typedef struct {
    int log;
    int zero;                 /* a log axis with a place for 0: pixel z */
    double z;
    double lo, hi;            /* the axis range (data units) */
    double a, b;              /* pixel of lo and of hi */
    double ticks[64];
    size_t nt;
} axis;

static int usable(double v, int log) { return isfinite(v) && (!log || v > 0); }

/* v can be placed on the axis */
static int on_axis(const axis *ax, double v) { return usable(v, ax->log) || (ax->zero && v == 0); }

static double pos(const axis *ax, double v)
{
    if (ax->zero && v == 0) return ax->z;
    double t = ax->log ? (log10(v) - log10(ax->lo)) / (log10(ax->hi) - log10(ax->lo)) : (v - ax->lo) / (ax->hi - ax->lo);
    return ax->a + t * (ax->b - ax->a);
}

/* 1, 2 or 5 times a power of ten, the nearest to x */
static double nice_step(double x)
{
    double e = pow(10, floor(log10(x))), m = x / e;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * e;
}

/* Range and ticks from the data extremes [mn, mx] and the fixed ends. */
static void make_axis(axis *ax, int log, double mn, double mx, const double fixed[2], double nticks)
{
    ax->log = log;
    ax->zero = 0;
    ax->nt = 0;
    if (!(mn <= mx)) { mn = log ? 0.1 : 0; mx = 1; }   /* nothing to show: any range */
    if (isfinite(fixed[0]) && usable(fixed[0], log)) mn = fixed[0];
    if (isfinite(fixed[1]) && usable(fixed[1], log)) mx = fixed[1];
    if (log) {
        double l0 = floor(log10(mn) + 1e-9), l1 = ceil(log10(mx) - 1e-9);
        if (l1 <= l0) l1 = l0 + 1;
        ax->lo = isfinite(fixed[0]) ? mn : pow(10, l0);
        ax->hi = isfinite(fixed[1]) ? mx : pow(10, l1);
        int decades_only = l1 - l0 > 4;
        for (double e = l0; e <= l1 && ax->nt < 60; e++)
            for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {   /* 1, 2, 5 */
                if (decades_only && m != 1) continue;
                double v = m * pow(10, e);
                if (v >= ax->lo * (1 - 1e-9) && v <= ax->hi * (1 + 1e-9)) ax->ticks[ax->nt++] = v;
            }
        return;
    }
    if (mx - mn < 1e-12) { mn -= 0.5; mx += 0.5; }
    double step = nice_step((mx - mn) / nticks);
    ax->lo = isfinite(fixed[0]) ? mn : floor(mn / step + 1e-9) * step;
    ax->hi = isfinite(fixed[1]) ? mx : ceil(mx / step - 1e-9) * step;
    if (ax->hi <= ax->lo) ax->hi = ax->lo + step;
    for (double v = ceil(ax->lo / step - 1e-9) * step; v <= ax->hi + step * 1e-6 && ax->nt < 60; v += step)
        ax->ticks[ax->nt++] = fabs(v) < step * 1e-9 ? 0 : v;
}

/* ------------------------------------------------------------ drawing */

static void text_esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            /* XML 1.0 allows no control characters but tab and newlines;
             * a chart label is one line, so those become spaces as well */
            if ((unsigned char)*s < 0x20) fputc(' ', f);
            else fputc(*s, f);
        }
    }
}

static void label(FILE *f, double x, double y, const char *anchor, int size, const char *extra, const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size, extra);
    text_esc(f, s);
    fputs("</text>\n", f);
}

static int point_ok(const series *s, size_t i, const axis *ax, const axis *ay)
{
    return on_axis(ax, s->x[i]) && on_axis(ay, s->y[i]);
}

static void draw_series(FILE *f, const series *s, size_t k, const axis *ax, const axis *ay, int markers)
{
    const char *col = COLOURS[k % NCOL];
    const char *dash = k >= NCOL ? " stroke-dasharray=\"6 3\"" : "";
    /* the band, one polygon per run of points with both ends usable */
    if (s->lo)
        for (size_t i = 0; i < s->n;) {
            size_t j = i;
            while (j < s->n && on_axis(ax, s->x[j]) && on_axis(ay, s->lo[j]) && on_axis(ay, s->hi[j])) j++;
            if (j > i) {
                fprintf(f, "<polygon fill=\"%s\" fill-opacity=\"0.15\" stroke=\"none\" points=\"", col);
                for (size_t q = i; q < j; q++) fprintf(f, "%.1f,%.1f ", pos(ax, s->x[q]), pos(ay, s->hi[q]));
                for (size_t q = j; q-- > i;) fprintf(f, "%.1f,%.1f ", pos(ax, s->x[q]), pos(ay, s->lo[q]));
                fputs("\"/>\n", f);
            }
            i = j > i ? j : i + 1;
        }
    for (size_t i = 0; i < s->n;) {
        size_t j = i;
        while (j < s->n && point_ok(s, j, ax, ay)) j++;
        if (j > i + 1) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", col, dash);
            for (size_t q = i; q < j; q++) fprintf(f, "%.1f,%.1f ", pos(ax, s->x[q]), pos(ay, s->y[q]));
            fputs("\"/>\n", f);
        }
        i = j > i ? j : i + 1;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (!point_ok(s, i, ax, ay)) continue;
        double px = pos(ax, s->x[i]), py = pos(ay, s->y[i]);
        if (markers && s->n <= 40) fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", px, py, col);
    }
}

/* Each point's value, outside the clipped area: a label may stand in the
 * margin above a point at the top of the range. */
static void draw_values(FILE *f, const series *s, const axis *ax, const axis *ay)
{
    if (!s->annotate) return;
    for (size_t i = 0; i < s->n; i++) {
        if (!point_ok(s, i, ax, ay)) continue;
        double px = pos(ax, s->x[i]), py = pos(ay, s->y[i]);
        if (px < ax->a - 1 || px > ax->b + 1 || py > ay->a + 1 || py < ay->b - 1) continue;   /* off the chart */
        char v[64];
        snprintf(v, sizeof v, s->fmt, s->y[i]);
        label(f, px, s->annotate > 0 ? py - 8 : py + 16, "middle", 10, " fill=\"#333\"", v);
    }
}

static es_status plot_svg(const es_plot *p, char **out, size_t *len, es_error *err);

/* Coordinates in the C locale's notation: "%.1f,%.1f" is a point list in
 * SVG, and a decimal comma would break it (es_c_locale_push). */
es_status es_plot_svg(const es_plot *p, char **out, size_t *len, es_error *err)
{
    locale_t was = es_c_locale_push();
    es_status st = plot_svg(p, out, len, err);
    es_c_locale_pop(was);
    return st;
}

static es_status plot_svg(const es_plot *p, char **out, size_t *len, es_error *err)
{
    *out = NULL;
    if (len) *len = 0;
    /* data extremes, per axis */
    double xmn = INFINITY, xmx = -INFINITY, ymn = INFINITY, ymx = -INFINITY;
    int xzero = 0, yzero = 0;   /* some point is drawn at 0 (see log_zero) */
    const int lz = p->log_zero;
    for (size_t k = 0; k < p->ns; k++) {
        const series *s = &p->s[k];
        for (size_t i = 0; i < s->n; i++) {
            /* a point at 0 on a log axis with log_zero is drawn, but does
             * not pull that axis's range towards 0 */
            int xin = usable(s->x[i], p->xlog) || (lz && s->x[i] == 0);
            if (!xin) continue;
            double ys[3] = {s->y[i], s->lo ? s->lo[i] : NAN, s->hi ? s->hi[i] : NAN};
            int any = 0;
            for (int q = 0; q < 3; q++) {
                if (usable(ys[q], p->ylog)) { any = 1; ymn = fmin(ymn, ys[q]); ymx = fmax(ymx, ys[q]); }
                else if (lz && ys[q] == 0) any = yzero = 1;
            }
            if (!any) continue;
            if (usable(s->x[i], p->xlog)) { xmn = fmin(xmn, s->x[i]); xmx = fmax(xmx, s->x[i]); }
            else xzero = 1;
        }
    }
    for (size_t i = 0; i < p->nxt; i++)
        if (usable(p->xt[i].v, p->xlog)) { xmn = fmin(xmn, p->xt[i].v); xmx = fmax(xmx, p->xt[i].v); }
    for (size_t i = 0; i < p->nh; i++)
        if (usable(p->hy[i], p->ylog)) { ymn = fmin(ymn, p->hy[i]); ymx = fmax(ymx, p->hy[i]); }
    axis ax, ay;
    const int W = p->w, H = p->h;
    /* about one tick per 120 px of width, one per 70 of height */
    make_axis(&ax, p->xlog, xmn, xmx, p->xr, fmax(5, (W - ML - MR) / 120.0));
    make_axis(&ay, p->ylog, ymn, ymx, p->yr, fmax(4, (H - MT - MB) / 70.0));
    /* named ticks sit on the data: the axis spans them with a little room
     * either side, so that no point sits on the frame */
    if (p->nxt && xmn < xmx) {
        if (p->xlog) {
            if (!isfinite(p->xr[0])) ax.lo = xmn / 1.25;
            if (!isfinite(p->xr[1])) ax.hi = xmx * 1.25;
        } else {
            if (!isfinite(p->xr[0])) ax.lo = xmn - 0.04 * (xmx - xmn);
            if (!isfinite(p->xr[1])) ax.hi = xmx + 0.04 * (xmx - xmn);
        }
    }
    ax.a = ML; ax.b = W - MR;
    ay.a = H - MB; ay.b = MT;
    /* A rate of 0 is often the answer a reader looks for (no word missed
     * below this threshold, silent on the talk above that one), and a log
     * axis has no place for it: give it a row (column) of its own past
     * the axis's low end, across a break in the frame. */
    /* (only when a point is at 0; on x wide enough for two tick labels) */
    enum { ZIN = 9, ZGAPY = 28, ZGAPX = 44 };
    if (p->log_zero && ax.log && xzero) { ax.zero = 1; ax.z = ML + ZIN; ax.a = ML + ZGAPX; }
    if (p->log_zero && ay.log && yzero) { ay.zero = 1; ay.z = H - MB - ZIN; ay.a = H - MB - ZGAPY; }

    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
    fprintf(f, "<clipPath id=\"area\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath>\n", ML, MT,
            W - ML - MR, H - MT - MB);
    label(f, ML, 24, "start", 16, " font-weight=\"bold\"", p->title);
    if (p->subtitle[0]) label(f, ML, 44, "start", 11, " fill=\"#555\"", p->subtitle);

    /* grid and tick labels */
    char t[64];
    for (size_t i = 0; i < ay.nt; i++) {
        double y = pos(&ay, ay.ticks[i]);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", ML, y, W - MR, y);
        snprintf(t, sizeof t, "%g", ay.ticks[i]);
        label(f, ML - 6, y + 4, "end", 11, "", t);
    }
    if (ay.zero) {
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", ML, ay.z, W - MR, ay.z);
        label(f, ML - 6, ay.z + 4, "end", 11, "", "0");
    }
    if (ax.zero) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e4e4e4\"/>\n", ax.z, MT, ax.z, H - MB);
        label(f, ax.z, H - MB + 16, "middle", 11, "", "0");
    }
    if (p->nxt) {
        for (size_t i = 0; i < p->nxt; i++) {
            if (!on_axis(&ax, p->xt[i].v)) continue;
            double x = pos(&ax, p->xt[i].v);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e4e4e4\"/>\n", x, MT, x, H - MB);
            label(f, x, H - MB + 16, "middle", 11, "", p->xt[i].label);
        }
    } else {
        for (size_t i = 0; i < ax.nt; i++) {
            double x = pos(&ax, ax.ticks[i]);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e4e4e4\"/>\n", x, MT, x, H - MB);
            snprintf(t, sizeof t, "%g", ax.ticks[i]);
            label(f, x, H - MB + 16, "middle", 11, "", t);
        }
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n", ML, MT,
            W - ML - MR, H - MT - MB);
    /* the break between 0 and the log axis: a gap in the frame, with a
     * pair of slashes either side */
    if (ay.zero) {
        double y = (ay.a + ay.z) / 2;
        for (int e = 0; e < 2; e++) {
            double x = e ? W - MR : ML;
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#fff\" stroke-width=\"3\"/>\n", x, y - 3, x, y + 3);
            for (int q = -1; q <= 1; q += 2)
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x - 5, y + 3 * q + 2, x + 5, y + 3 * q - 2);
        }
    }
    if (ax.zero) {
        double x = (ax.a + ax.z) / 2;
        for (int e = 0; e < 2; e++) {
            double y = e ? MT : H - MB;
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#fff\" stroke-width=\"3\"/>\n", x - 3, y, x + 3, y);
            for (int q = -1; q <= 1; q += 2)
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x + 3 * q - 2, y + 5, x + 3 * q + 2, y - 5);
        }
    }
    label(f, (ML + W - MR) / 2.0, H - 14, "middle", 12, "", p->xlabel);
    fprintf(f, "<g transform=\"translate(18 %.1f) rotate(-90)\">", (MT + H - MB) / 2.0);
    label(f, 0, 0, "middle", 12, "", p->ylabel);
    fputs("</g>\n", f);

    fputs("<g clip-path=\"url(#area)\">\n", f);
    for (size_t i = 0; i < p->nsp; i++) {
        const span *q = &p->sp[i];
        if (!on_axis(&ax, q->x0) || !on_axis(&ax, q->x1)) continue;
        double a = pos(&ax, q->x0), b = pos(&ax, q->x1);
        if (b - a < 1) b = a + 1;   /* a short event still shows */
        fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#888\" fill-opacity=\"0.13\"/>\n", a,
                MT, b - a, H - MT - MB);
        label(f, (a + b) / 2, MT + 12 + 11.0 * (double)(i % 3), "middle", 10, " fill=\"#444\"", q->label);
    }
    for (size_t k = 0; k < p->ns; k++) draw_series(f, &p->s[k], k, &ax, &ay, p->markers);
    for (size_t i = 0; i < p->nh; i++) {
        if (!on_axis(&ay, p->hy[i])) continue;
        double y = pos(&ay, p->hy[i]);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#555\" stroke-width=\"1.2\" "
                   "stroke-dasharray=\"5 4\"/>\n", ML, y, W - MR, y);
    }
    fputs("</g>\n", f);
    for (size_t k = 0; k < p->ns; k++) draw_values(f, &p->s[k], &ax, &ay);

    /* legend: 22 px an entry, closer when they would not fit */
    size_t entries = p->ns + p->nh + (p->nsp > 0);
    double step = entries > 1 ? fmin(22.0, (H - MT - 20) / (double)(entries - 1)) : 22.0;
    for (size_t k = 0; k < p->ns; k++) {
        double y = MT + 10 + step * (double)k;
        const char *dash = k >= NCOL ? " stroke-dasharray=\"6 3\"" : "";
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", W - MR + 14,
                y, W - MR + 38, y, COLOURS[k % NCOL], dash);
        if (p->s[k].lo)
            fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"24\" height=\"10\" fill=\"%s\" fill-opacity=\"0.15\"/>\n",
                    W - MR + 14, y - 5, COLOURS[k % NCOL]);
        label(f, W - MR + 44, y + 4, "start", 11, "", p->s[k].name);
    }
    for (size_t i = 0; i < p->nh; i++) {
        double y = MT + 10 + step * (double)(p->ns + i);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#555\" stroke-width=\"1.2\" "
                   "stroke-dasharray=\"5 4\"/>\n", W - MR + 14, y, W - MR + 38, y);
        label(f, W - MR + 44, y + 4, "start", 11, "", p->hname[i]);
    }
    if (p->nsp) {
        double y = MT + 10 + step * (double)(p->ns + p->nh);
        fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"24\" height=\"10\" fill=\"#888\" fill-opacity=\"0.13\"/>\n",
                W - MR + 14, y - 5);
        label(f, W - MR + 44, y + 4, "start", 11, "", "events");
    }
    fputs("</svg>\n", f);
    int bad = ferror(f);
    if (fclose(f) || bad) {
        free(buf);
        return es_fail(err, ES_ERR_NOMEM, "out of memory");
    }
    *out = buf;
    if (len) *len = n;
    return ES_OK;
}

es_status es_plot_write(const es_plot *p, const char *path, es_error *err)
{
    char *svg;
    size_t n;
    es_status st = es_plot_svg(p, &svg, &n, err);
    if (st) return st;
    st = es_write_atomic(path, svg, n, err);
    free(svg);
    return st;
}
