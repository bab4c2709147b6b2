/*
 * pipeline/plot.h — line charts written as SVG, for the figures earshot
 * reports (the learning curve, eval's detection trade-off). SVG because it
 * is text: no image library, exact labels, and any browser opens it.
 *
 * A chart has up to ES_PLOT_MAX_SERIES series of points, each with an
 * optional band (lo..hi, e.g. mean +- std) drawn shaded under its line.
 * Axes are linear or logarithmic, ranges automatic unless set, and the
 * x ticks may be named (1, 2, 5, ..., "all"). Non-finite points are left
 * out (on a log axis, so are points <= 0, unless es_plot_log_zero gives 0
 * a place) and break the line there.
 */
#ifndef ES_PLOT_H
#define ES_PLOT_H

#include "earshot.h"

#include <stddef.h>

#define ES_PLOT_MAX_SERIES 16
#define ES_PLOT_MAX_TICKS 32

typedef struct es_plot es_plot;

es_plot *es_plot_create(const char *title, const char *xlabel, const char *ylabel);
void es_plot_free(es_plot *p);
/* A second line under the title (what was measured and how). */
void es_plot_subtitle(es_plot *p, const char *text);
void es_plot_log(es_plot *p, int xlog, int ylog);
/* On a log axis, points at exactly 0 get a row (column) of their own,
 * labelled 0, past the axis's low end and across a break in the frame,
 * instead of being left out (default off). */
void es_plot_log_zero(es_plot *p, int on);
/* Dots at the points of series of up to 40 points (default on). */
void es_plot_markers(es_plot *p, int on);
/* Canvas size in px (default 760 x 460; width 400-32000, height 240-4000). */
void es_plot_size(es_plot *p, int w, int h);
/* Fixed ranges; NaN leaves that end automatic. */
void es_plot_xrange(es_plot *p, double lo, double hi);
void es_plot_yrange(es_plot *p, double lo, double hi);
/* Named x ticks replace the automatic ones (ES_ERR_ARG past the limit). */
es_status es_plot_xtick(es_plot *p, double x, const char *label, es_error *err);
/* A series; lo and hi may both be NULL (no band). annotate: print each
 * point's y with `fmt` (printf, e.g. "%.3f") above (+1) or below (-1) it;
 * 0 or NULL fmt: none. The arrays are copied. */
es_status es_plot_series(es_plot *p, const char *name, const double *x, const double *y, const double *lo,
                         const double *hi, size_t n, const char *fmt, int annotate, es_error *err);
/* A shaded stretch of x (an event in time) with `label` at its top; up to
 * ES_PLOT_MAX_SPANS, the rest are dropped and es_plot_spans_dropped
 * counts them (the caller says so). */
#define ES_PLOT_MAX_SPANS 512
es_status es_plot_span(es_plot *p, double x0, double x1, const char *label, es_error *err);
size_t es_plot_spans_dropped(const es_plot *p);
/* A dashed horizontal line at y (a threshold), named in the legend. */
es_status es_plot_hline(es_plot *p, double y, const char *name, es_error *err);
/* The chart as an SVG document (malloc'd, NUL-terminated; len may be NULL). */
es_status es_plot_svg(const es_plot *p, char **out, size_t *len, es_error *err);
/* ... written atomically (a temporary file, then rename). */
es_status es_plot_write(const es_plot *p, const char *path, es_error *err);

#endif
