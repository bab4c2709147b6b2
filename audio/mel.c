/*
 * audio/mel.c — log-mel front end, reproducing melspectrogram.onnx.
 *
 * The ONNX model computes a 512-point DFT as two 1-D convolutions (stride
 * 160, no padding) whose kernels already carry a 400-point periodic Hann
 * window centred in the 512 frame. We do the same with a real FFT: the
 * window is read back from the model (row 0 of the real kernel is the
 * window itself, since cos(0) = 1) and every other kernel row is checked
 * against cos/sin, so a different model is refused instead of silently
 * giving different numbers. The mel matrix (257 x 32) is taken from the
 * model too, stored sparse because each triangular filter spans few bins.
 *
 *   power = re^2 + im^2                      [frames][257]
 *   mel   = power @ melW                     [frames][32]
 *   db    = 10*log10(max(mel, 1e-10))
 *   db    = max(db, max_over_input(db) - 80)
 *   out   = db/10 + 2                        (openWakeWord's scaling)
 */
#include "es_internal.h"
#include "../model/onnx.h"

#include <kissfft/kiss_fftr.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NBINS 257

struct es_mel {
    float window[ES_MEL_WIN];
    float melw[NBINS * ES_MEL_BINS];      /* [bin][mel], as in the model */
    int lo[ES_MEL_BINS], hi[ES_MEL_BINS]; /* nonzero bin range per mel filter */
    float clamp_min;
    float top_db;
};

size_t es_mel_frames(size_t n)
{
    return n < ES_MEL_WIN ? 0 : (n - ES_MEL_WIN) / ES_MEL_HOP + 1;
}

/* A float [257][1][512] kernel (its values checked by check_dft). */
static int dft_shape_ok(const es_tensor *t)
{
    return t && t->dtype == ES_DT_FLOAT && t->f && t->ndim == 3 && t->dims[0] == NBINS && t->dims[1] == 1 &&
           t->dims[2] == ES_MEL_WIN;
}

static int check_dft(const es_tensor *t, const float *w, int imag)
{
    if (!dft_shape_ok(t)) return 0;
    for (int k = 0; k < NBINS; k++)
        for (int n = 0; n < ES_MEL_WIN; n++) {
            double ph = 2.0 * M_PI * (double)((k * n) % ES_MEL_WIN) / ES_MEL_WIN;
            double ref = imag ? -w[n] * sin(ph) : w[n] * cos(ph);
            if (fabs(t->f[k * ES_MEL_WIN + n] - ref) > 1e-5) return 0;
        }
    return 1;
}

es_mel *es_mel_create(const es_onnx *model, es_error *err)
{
    if (!model) { es_fail(err, ES_ERR_ARG, "es_mel_create: no model"); return NULL; }
    const es_graph *g = es_onnx_graph(model);
    const char *name = es_onnx_name(model);
    const es_tensor *re = es_graph_init(g, "0.stft.conv_real.weight");
    const es_tensor *im = es_graph_init(g, "0.stft.conv_imag.weight");
    const es_tensor *mw = es_graph_init(g, "1.melW");
    const es_tensor *cmin = es_graph_init(g, "onnx::Clip_39");
    /* The kernels' shapes first: the window is read from `re` below. */
    if (!dft_shape_ok(re) || !dft_shape_ok(im) || !mw || !cmin || mw->dtype != ES_DT_FLOAT || mw->ndim != 2 ||
        mw->dims[0] != NBINS || mw->dims[1] != ES_MEL_BINS || cmin->dtype != ES_DT_FLOAT || cmin->count != 1) {
        es_fail(err, ES_ERR_MODEL, "%s: not the expected melspectrogram model "
                "(needs 257x1x512 DFT kernels, a 257x32 mel matrix and a clamp constant)", name);
        return NULL;
    }
    /* The graph must end in the top-dB clamp: find the constant it subtracts. */
    float top_db = -1;
    int have_log = 0, have_max = 0;
    for (size_t i = 0; i < g->nnodes; i++) {
        const es_node *n = &g->nodes[i];
        if (!strcmp(n->op, "Log")) have_log = 1;
        if (!strcmp(n->op, "ReduceMax")) have_max = 1;
        if (!strcmp(n->op, "Sub") && have_max && n->nin == 2) {
            for (size_t j = 0; j < g->nnodes; j++) {
                const es_node *c = &g->nodes[j];
                if (!strcmp(c->op, "Constant") && c->nout == 1 && !strcmp(c->out[0], n->in[1])) {
                    const es_attr *a = es_node_attr(c, "value");
                    if (a && a->t && a->t->f && a->t->count == 1) top_db = a->t->f[0];
                }
            }
        }
    }
    if (!have_log || !have_max || !(top_db > 0)) {
        es_fail(err, ES_ERR_MODEL, "%s: not the expected melspectrogram model (no log / top-dB stage)", name);
        return NULL;
    }
    es_mel *m = calloc(1, sizeof *m);
    if (!m) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    for (int n = 0; n < ES_MEL_WIN; n++) m->window[n] = re->f[n];
    if (!check_dft(re, m->window, 0) || !check_dft(im, m->window, 1)) {
        free(m);
        es_fail(err, ES_ERR_MODEL, "%s: the STFT kernels are not a windowed DFT; not the expected model", name);
        return NULL;
    }
    memcpy(m->melw, mw->f, sizeof m->melw);
    for (int j = 0; j < ES_MEL_BINS; j++) {
        int lo = NBINS, hi = -1;
        for (int k = 0; k < NBINS; k++)
            if (m->melw[k * ES_MEL_BINS + j] != 0.0f) { if (k < lo) lo = k; hi = k; }
        m->lo[j] = lo;
        m->hi[j] = hi;
    }
    m->clamp_min = cmin->f[0];
    m->top_db = top_db;
    return m;
}

void es_mel_free(es_mel *m)
{
    free(m);
}

/* Frequency warping, the way vocal-tract-length normalisation does it: the
 * warped front end sees power'[k] = power[src(k)] (linear interpolation
 * between FFT bins), src(k) = alpha*k up to a cut-off bin kc and then a
 * straight line to Nyquist, so no frequency is read from beyond it and
 * the map stays monotonic (kc = 0.8*256, lowered to 0.8*256/alpha for
 * alpha > 1). alpha > 1 moves every formant down by that factor (a longer
 * vocal tract), alpha < 1 up. Since the interpolation is linear in the
 * power, it folds into the mel matrix: melW'[i][j] = sum_k W[k][i]
 * melW[k][j], and everything after the matrix (floor, log, top-dB clamp,
 * streaming) is unchanged. */
static double warp_src(double alpha, double k)
{
    double top = NBINS - 1, kc = 0.8 * top / (alpha > 1 ? alpha : 1);
    if (k <= kc) return alpha * k;
    return alpha * kc + (top - alpha * kc) * (k - kc) / (top - kc);
}

es_mel *es_mel_warp(const es_mel *m, double alpha, es_error *err)
{
    if (!m) {   /* not the factor's fault: say what is missing */
        es_fail(err, ES_ERR_ARG, "es_mel_warp: no front end");
        return NULL;
    }
    if (!(alpha >= 0.7 && alpha <= 1.3)) {
        es_fail(err, ES_ERR_ARG, "frequency warp factor must be from 0.7 to 1.3");
        return NULL;
    }
    es_mel *w = malloc(sizeof *w);
    if (!w) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    *w = *m;
    if (alpha == 1.0) return w;
    memset(w->melw, 0, sizeof w->melw);
    for (int k = 0; k < NBINS; k++) {
        double src = warp_src(alpha, k);
        int i0 = (int)floor(src);
        if (i0 >= NBINS - 1) i0 = NBINS - 2;
        float fr = (float)(src - i0);
        for (int j = 0; j < ES_MEL_BINS; j++) {
            float v = m->melw[k * ES_MEL_BINS + j];
            w->melw[i0 * ES_MEL_BINS + j] += (1.0f - fr) * v;
            w->melw[(i0 + 1) * ES_MEL_BINS + j] += fr * v;
        }
    }
    for (int j = 0; j < ES_MEL_BINS; j++) {
        int lo = NBINS, hi = -1;
        for (int k = 0; k < NBINS; k++)
            if (w->melw[k * ES_MEL_BINS + j] != 0.0f) { if (k < lo) lo = k; hi = k; }
        w->lo[j] = lo;
        w->hi[j] = hi;
    }
    return w;
}

/* Log-power mel (dB) of `frames` frames starting at x, before the top-dB
 * clamp. Returns the maximum. */
static float mel_db(const es_mel *m, kiss_fftr_cfg fft, const float *x, size_t frames, float *out)
{
    float buf[ES_MEL_WIN];
    kiss_fft_cpx spec[NBINS];
    float power[NBINS];
    float mx = -INFINITY;
    for (size_t f = 0; f < frames; f++) {
        const float *s = x + f * ES_MEL_HOP;
        for (int n = 0; n < ES_MEL_WIN; n++) buf[n] = s[n] * m->window[n];
        kiss_fftr(fft, buf, spec);
        for (int k = 0; k < NBINS; k++) power[k] = spec[k].r * spec[k].r + spec[k].i * spec[k].i;
        float *o = out + f * ES_MEL_BINS;
        for (int j = 0; j < ES_MEL_BINS; j++) {
            float acc = 0;
            for (int k = m->lo[j]; k <= m->hi[j]; k++) acc += power[k] * m->melw[k * ES_MEL_BINS + j];
            /* NaN (a NaN sample, or inf - inf inside the FFT) goes to the
             * floor. A power past FLT_MAX (samples near 1e30) is inf, and
             * would make the top-dB floor inf - 80 and the whole clip, then
             * the encoder's output, inf or NaN: it is held at FLT_MAX. Both
             * checks are per mel value, not per sample, so cost nothing. */
            if (!(acc >= m->clamp_min)) acc = m->clamp_min;
            else if (acc > FLT_MAX) acc = FLT_MAX;
            float db = 10.0f * log10f(acc);
            o[j] = db;
            if (db > mx) mx = db;
        }
    }
    return mx;
}

static void finish(const es_mel *m, float *out, size_t count, float mx)
{
    float floor_db = mx - m->top_db;
    for (size_t i = 0; i < count; i++) {
        float v = out[i] < floor_db ? floor_db : out[i];
        out[i] = v / 10.0f + 2.0f;
    }
}

/* kiss_fftr keeps a scratch buffer inside its config, so a config must
 * never be shared by two threads: every part and every stream has its own. */
typedef struct {
    const es_mel *m;
    const float *x;
    float *out;
    size_t frames;
    int parts;
    float mx[64];
    int failed;
} mel_job;

static void mel_part(void *p, int i)
{
    mel_job *j = p;
    size_t lo = j->frames * (size_t)i / (size_t)j->parts, hi = j->frames * (size_t)(i + 1) / (size_t)j->parts;
    j->mx[i] = -INFINITY;
    if (lo >= hi) return;
    kiss_fftr_cfg fft = kiss_fftr_alloc(ES_MEL_WIN, 0, NULL, NULL);
    if (!fft) { j->failed = 1; return; }
    j->mx[i] = mel_db(j->m, fft, j->x + lo * ES_MEL_HOP, hi - lo, j->out + lo * ES_MEL_BINS);
    kiss_fftr_free(fft);
}

es_status es_mel_compute_db(es_mel *m, const float *x, size_t n, float *out, float *max_db, es_error *err)
{
    *max_db = -INFINITY;
    size_t frames = es_mel_frames(n);
    if (!frames) return ES_OK;
    int t = es_threads();
    size_t by = frames / 500;   /* below ~5 s a thread costs more than it saves */
    mel_job j = {m, x, out, frames, (int)(by < 1 ? 1 : by < (size_t)t ? by : (size_t)t), {0}, 0};
    es_parallel_for(j.parts, mel_part, &j);
    if (j.failed) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    for (int i = 0; i < j.parts; i++) *max_db = j.mx[i] > *max_db ? j.mx[i] : *max_db;
    return ES_OK;
}

void es_mel_clamp(const es_mel *m, float *db, size_t frames, float max_db)
{
    finish(m, db, frames * ES_MEL_BINS, max_db);
}

es_status es_mel_compute(es_mel *m, const float *x, size_t n, float *out, es_error *err)
{
    if (!m || (!x && n) || (!out && n >= ES_MEL_WIN)) return es_fail(err, ES_ERR_ARG, "es_mel_compute: invalid arguments");
    /* frames split across threads; the top-dB clamp needs the maximum over
     * all of them, so it is applied after */
    float mx;
    es_status st = es_mel_compute_db(m, x, n, out, &mx, err);
    if (!st) es_mel_clamp(m, out, es_mel_frames(n), mx);
    return st;
}

/* ------------------------------------------------------------ streaming */

#define SBUF (ES_CHUNK + ES_CHUNK_CONTEXT)

struct es_mel_stream {
    es_mel *mel;
    kiss_fftr_cfg fft;
    float hist[SBUF];     /* the last SBUF samples, oldest first */
    size_t have;          /* valid samples in hist (< SBUF only at start) */
    size_t pending;       /* samples received since the last chunk */
};

es_mel_stream *es_mel_stream_create(es_mel *m, es_error *err)
{
    if (!m) { es_fail(err, ES_ERR_ARG, "es_mel_stream_create: no front end"); return NULL; }
    es_mel_stream *s = calloc(1, sizeof *s);
    if (!s) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    s->mel = m;
    if (!(s->fft = kiss_fftr_alloc(ES_MEL_WIN, 0, NULL, NULL))) {
        free(s);
        es_fail(err, ES_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return s;
}

void es_mel_stream_free(es_mel_stream *s)
{
    if (!s) return;
    kiss_fftr_free(s->fft);
    free(s);
}

es_status es_mel_stream_push(es_mel_stream *s, const float *x, size_t n, float *out, size_t max_frames,
                             size_t *n_frames, es_error *err)
{
    if (n_frames) *n_frames = 0;
    if (!s || (!x && n) || !n_frames || (!out && max_frames)) return es_fail(err, ES_ERR_ARG, "es_mel_stream_push: invalid arguments");
    /* The frames this push will complete, counted before anything is
     * consumed: failing half-way (some chunks done, one held back) left a
     * stream the caller could not resume, since it could not tell which
     * samples were taken. So a push either fits or changes nothing. */
    size_t need = 0, have = s->have, pending = s->pending;
    for (size_t left = n; left > 0;) {
        size_t take = ES_CHUNK - pending < left ? ES_CHUNK - pending : left;
        have = have + take > SBUF ? SBUF : have + take;
        pending += take;
        left -= take;
        if (pending == ES_CHUNK) { need += es_mel_frames(have); pending = 0; }
    }
    if (need > max_frames)
        return es_fail(err, ES_ERR_ARG, "es_mel_stream_push: output buffer too small (%zu frames, room for %zu); nothing "
                       "was consumed", need, max_frames);
    while (n > 0) {
        size_t take = ES_CHUNK - s->pending;
        if (take > n) take = n;
        /* slide the history left and append */
        if (s->have + take > SBUF) {
            size_t drop = s->have + take - SBUF;
            memmove(s->hist, s->hist + drop, (s->have - drop) * sizeof(float));
            s->have -= drop;
        }
        memcpy(s->hist + s->have, x, take * sizeof(float));
        s->have += take;
        s->pending += take;
        x += take;
        n -= take;
        if (s->pending == ES_CHUNK) {
            size_t frames = es_mel_frames(s->have);
            float *o = out + *n_frames * ES_MEL_BINS;
            float mx = mel_db(s->mel, s->fft, s->hist, frames, o);
            finish(s->mel, o, frames * ES_MEL_BINS, mx);
            *n_frames += frames;
            s->pending = 0;
        }
    }
    return ES_OK;
}
