/*
 * es_bench — times earshot's front end and encoder, one JSON line per case.
 *
 *   es_bench [options] inputs DIR      write the benchmark inputs to DIR as raw
 *                                      float32 and print one "info" line
 *   es_bench [options] CASE...         time the cases, one JSON line each
 *   es_bench wav PATH SECONDS          write a 16 kHz mono 16-bit WAV of pink
 *                                      noise (fixed seed; RMS about -34 dBFS,
 *                                      like `sox ... synth pinknoise vol 0.1`)
 *   es_bench maxrss CMD [ARG...]       run CMD, then print its peak resident
 *                                      set ({"maxrss_kb": N, "status": S})
 *
 * Options: --threads N (es_set_threads; also set OPENBLAS_NUM_THREADS=N in
 * the environment), --min-time S (default 0.5: repeat each case until this
 * much time has passed), --min-reps N (default 5), --models DIR (default
 * $EARSHOT_MODELS or the cache).
 *
 * Cases (all inputs generated in-process from one fixed seed, so every run
 * and bench/bench.js see the same numbers):
 *   mel60        es_mel_compute on 60 s of speech-like audio (960000 samples)
 *   enc1         es_encoder_windows on 1 window [1][76][32]
 *   enc100       es_encoder_windows on 100 windows [100][76][32]
 *   full60       es_encoder_full on the whole-clip mel of the 60 s audio
 *   e2e60        es_mel_compute + es_encoder_full on the 60 s audio
 *   stream_enc   es_encoder_stream_push of 8 new frames, after priming
 *   stream_step  es_mel_stream_push of 1280 samples + es_encoder_stream_push
 *                of the frames it yields, after priming
 *
 * Each line: {"case", "threads", "median_us", "min_us", "reps", ...}; a last
 * line {"case":"rusage","cpu_s"} gives the CPU time es_bench used. The
 * time is the median over repetitions of one call, measured with
 * CLOCK_MONOTONIC, after two warm-up calls (3 repetitions suffice when one
 * call takes longer than --min-time).
 */
#include "earshot.h"
#include "../model/onnx.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECONDS 60
#define NSAMP ((size_t)SECONDS * ES_SAMPLE_RATE)
#define NWIN_BATCH 100
#define SEED 0x5eedULL

/* ------------------------------------------------------------ helpers */

static void die(const char *what, const es_error *e)
{
    fprintf(stderr, "es_bench: %s: %s\n", what, e ? e->msg : strerror(errno));
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "es_bench: out of memory\n"); exit(1); }
    return p;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* splitmix64: small, seedable, the same everywhere */
static uint64_t rng_state = SEED;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }
static double rng_gauss(void)
{
    double u = rng_uniform(), v = rng_uniform();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* Speech-like noise in int16 scale: a sequence of 60-300 ms segments, each
 * voiced (harmonics of a gliding 90-220 Hz pitch, low-passed noise added),
 * unvoiced (high-passed noise, like fricatives) or a pause (faint noise),
 * with a raised-cosine envelope and random loudness. Rounded to whole int16
 * values, as openWakeWord feeds them. */
static void gen_speech(float *x, size_t n)
{
    rng_state = SEED;
    size_t i = 0;
    double phase = 0, lp = 0, prev = 0;
    while (i < n) {
        size_t len = (size_t)((0.06 + 0.24 * rng_uniform()) * ES_SAMPLE_RATE);
        if (len > n - i) len = n - i;
        double r = rng_uniform();
        int kind = r < 0.55 ? 0 : r < 0.8 ? 1 : 2;     /* voiced, unvoiced, pause */
        double amp = kind == 2 ? 30.0 : 800.0 + 5000.0 * rng_uniform();
        double f0a = 90 + 130 * rng_uniform(), f0b = f0a * (0.8 + 0.4 * rng_uniform());
        for (size_t k = 0; k < len; k++, i++) {
            double env = 0.5 - 0.5 * cos(2.0 * M_PI * ((double)k + 0.5) / (double)len);
            double w = rng_gauss();
            double v;
            if (kind == 0) {
                double f0 = f0a + (f0b - f0a) * (double)k / (double)len;
                phase += 2.0 * M_PI * f0 / ES_SAMPLE_RATE;
                if (phase > 2.0 * M_PI) phase -= 2.0 * M_PI;
                v = 0;
                for (int h = 1; h <= 12; h++) v += sin(h * phase) / h;
                lp = 0.9 * lp + 0.1 * w;
                v = 0.6 * v + 0.8 * lp;
            } else if (kind == 1) {
                v = 0.7 * (w - prev);      /* first difference: high-passed */
            } else {
                v = w;
            }
            prev = w;
            double s = amp * env * v;
            if (s > 32767) s = 32767;
            if (s < -32768) s = -32768;
            x[i] = (float)lrint(s);
        }
    }
}

static void write_f32(const char *dir, const char *name, const float *d, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, sizeof(float), n, f) != n || fclose(f)) die(path, NULL);
}

/* ----------------------------------------------------- FLOP counting */

/* Multiply-adds x2 of every Conv in embedding_model.onnx for an input of T
 * frames, walking the chain of Conv / MaxPool nodes with their shapes (time
 * unpadded, frequency padded as the node says). Returns 0 if the graph is
 * not the expected chain. */
static double encoder_flops(const es_onnx *m, int T)
{
    const es_graph *g = es_onnx_graph(m);
    int F = ES_MEL_BINS;
    double fl = 0;
    for (size_t i = 0; i < g->nnodes; i++) {
        const es_node *n = &g->nodes[i];
        if (!strcmp(n->op, "Conv")) {
            const es_tensor *w = n->nin > 1 ? es_graph_init(g, n->in[1]) : NULL;
            if (!w || w->ndim != 4) return 0;
            int co = (int)w->dims[0], ci = (int)w->dims[1], kt = (int)w->dims[2], kf = (int)w->dims[3];
            const es_attr *p = es_node_attr(n, "pads");
            int pf = p && p->nints == 4 ? (int)p->ints[1] : 0;
            T = T - kt + 1;
            F = F + 2 * pf - kf + 1;
            if (T < 1 || F < 1) return 0;
            fl += 2.0 * T * F * (double)co * ci * kt * kf;
        } else if (!strcmp(n->op, "MaxPool")) {
            const es_attr *k = es_node_attr(n, "kernel_shape");
            if (!k || k->nints != 2) return 0;
            T /= (int)k->ints[0];
            F /= (int)k->ints[1];
        }
    }
    return fl;
}

/* ------------------------------------------------------------ timing */

static double min_time = 0.5;
static int min_reps = 5;
static int threads = 0;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef void (*bench_fn)(void *ctx);

/* Median and minimum seconds per call. */
static void run_timed(bench_fn fn, void *ctx, double *median, double *minimum, int *reps)
{
    fn(ctx);
    double w0 = now();
    fn(ctx);
    /* calls longer than the minimum time itself: 3 repetitions are enough */
    size_t reps_needed = (size_t)min_reps;
    if (now() - w0 > min_time && reps_needed > 3) reps_needed = 3;
    size_t cap = 1024, n = 0;
    double *t = xmalloc(cap * sizeof *t), start = now();
    while (n < reps_needed || now() - start < min_time) {
        double t0 = now();
        fn(ctx);
        double dt = now() - t0;
        if (n == cap) {
            cap *= 2;
            double *nt = realloc(t, cap * sizeof *t);
            if (!nt) { fprintf(stderr, "es_bench: out of memory\n"); exit(1); }
            t = nt;
        }
        t[n++] = dt;
        if (n >= 200000) break;
    }
    qsort(t, n, sizeof *t, cmp_double);
    *median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    *minimum = t[0];
    *reps = (int)n;
    free(t);
}

/* ------------------------------------------------------------- state */

typedef struct {
    es_engine *eng;
    es_mel *mel;
    es_encoder *enc;
    float *audio;            /* [NSAMP] */
    float *mel60;            /* [frames60][32] */
    size_t frames60;
    float *wins;             /* [NWIN_BATCH][76][32], windows every 8 frames */
    float *out;              /* scratch for outputs */
    float *melout;           /* scratch for a whole-clip mel */
    size_t nwin;             /* windows per call (enc cases) */
    es_mel_stream *ms;
    es_encoder_stream *es;
    size_t pos;              /* streaming read position (samples or frames) */
    int bad;                 /* a call returned something unexpected */
} bench;

static void f_mel60(void *c)
{
    bench *b = c;
    es_error e = {0};
    if (es_mel_compute(b->mel, b->audio, NSAMP, b->melout, &e)) die("es_mel_compute", &e);
}

static void f_enc(void *c)
{
    bench *b = c;
    es_error e = {0};
    if (es_encoder_windows(b->enc, b->wins, b->nwin, b->out, &e)) die("es_encoder_windows", &e);
}

static void f_full60(void *c)
{
    bench *b = c;
    es_error e = {0};
    if (es_encoder_full(b->enc, b->mel60, b->frames60, b->out, &e)) die("es_encoder_full", &e);
}

static void f_e2e60(void *c)
{
    bench *b = c;
    es_error e = {0};
    if (es_mel_compute(b->mel, b->audio, NSAMP, b->melout, &e)) die("es_mel_compute", &e);
    if (es_encoder_full(b->enc, b->melout, b->frames60, b->out, &e)) die("es_encoder_full", &e);
}

static void f_stream_enc(void *c)
{
    bench *b = c;
    es_error e = {0};
    size_t got;
    if (b->pos + ES_EMB_STEP > b->frames60) b->pos = 0;
    if (es_encoder_stream_push(b->es, b->mel60 + b->pos * ES_MEL_BINS, ES_EMB_STEP, b->out, &got, &e))
        die("es_encoder_stream_push", &e);
    if (got != 1) b->bad = 1;
    b->pos += ES_EMB_STEP;
}

static void f_stream_step(void *c)
{
    bench *b = c;
    es_error e = {0};
    float mel[16 * ES_MEL_BINS];
    size_t frames, got;
    if (b->pos + ES_CHUNK > NSAMP) b->pos = 0;
    if (es_mel_stream_push(b->ms, b->audio + b->pos, ES_CHUNK, mel, 16, &frames, &e)) die("es_mel_stream_push", &e);
    if (es_encoder_stream_push(b->es, mel, frames, b->out, &got, &e)) die("es_encoder_stream_push", &e);
    if (frames != ES_EMB_STEP || got != 1) b->bad = 1;
    b->pos += ES_CHUNK;
}

static void setup_streams(bench *b)
{
    es_error e = {0};
    es_mel_stream_free(b->ms);
    es_encoder_stream_free(b->es);
    if (!(b->ms = es_mel_stream_create(b->mel, &e))) die("es_mel_stream_create", &e);
    if (!(b->es = es_encoder_stream_create(b->enc, &e))) die("es_encoder_stream_create", &e);
    /* Prime as the scorer does: 71 frames of ones, then two 1280-sample
     * chunks (5 + 8 frames), so every later chunk gives 8 frames and one
     * embedding. */
    float ones[(ES_EMB_WINDOW - 5) * ES_MEL_BINS];
    for (size_t i = 0; i < sizeof ones / sizeof ones[0]; i++) ones[i] = 1.0f;
    size_t got, frames;
    if (es_encoder_stream_push(b->es, ones, ES_EMB_WINDOW - 5, b->out, &got, &e)) die("prime", &e);
    float mel[16 * ES_MEL_BINS];
    for (int k = 0; k < 2; k++) {
        if (es_mel_stream_push(b->ms, b->audio + (size_t)k * ES_CHUNK, ES_CHUNK, mel, 16, &frames, &e)) die("prime", &e);
        if (es_encoder_stream_push(b->es, mel, frames, b->out, &got, &e)) die("prime", &e);
    }
    b->pos = 2 * ES_CHUNK;
}

static void report(const char *name, const bench *b, bench_fn fn, void *ctx, const char *extra)
{
    double med, mn;
    int reps;
    run_timed(fn, ctx, &med, &mn, &reps);
    printf("{\"case\":\"%s\",\"threads\":%d,\"median_us\":%.3f,\"min_us\":%.3f,\"reps\":%d%s%s}\n", name, threads,
           med * 1e6, mn * 1e6, reps, extra && *extra ? "," : "", extra ? extra : "");
    fflush(stdout);
    if (b->bad) { fprintf(stderr, "es_bench: %s: unexpected frame or embedding count\n", name); exit(1); }
}

/* -------------------------------------------------------- subcommands */

static int cmd_wav(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: es_bench wav PATH SECONDS\n"); return 2; }
    double secs = atof(argv[1]);
    if (!(secs > 0) || secs > 7200) { fprintf(stderr, "es_bench: bad SECONDS\n"); return 2; }
    uint32_t n = (uint32_t)(secs * ES_SAMPLE_RATE), bytes = n * 2;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[0]);
    FILE *f = fopen(tmp, "wb");
    if (!f) die(tmp, NULL);
    unsigned char h[44];
    memcpy(h, "RIFF", 4);
    uint32_t v;
#define PUT32(off, x) (v = (x), h[off] = v & 255, h[off + 1] = (v >> 8) & 255, h[off + 2] = (v >> 16) & 255, h[off + 3] = v >> 24)
#define PUT16(off, x) (h[off] = (x) & 255, h[off + 1] = ((x) >> 8) & 255)
    PUT32(4, 36 + bytes);
    memcpy(h + 8, "WAVEfmt ", 8);
    PUT32(16, 16);
    PUT16(20, 1);
    PUT16(22, 1);
    PUT32(24, ES_SAMPLE_RATE);
    PUT32(28, ES_SAMPLE_RATE * 2);
    PUT16(32, 2);
    PUT16(34, 16);
    memcpy(h + 36, "data", 4);
    PUT32(40, bytes);
    fwrite(h, 1, 44, f);
    /* Paul Kellet's pink-noise filter on seeded white noise */
    rng_state = SEED ^ 0x9bULL;
    double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0;
    unsigned char buf[8192];
    size_t fill = 0;
    for (uint32_t i = 0; i < n; i++) {
        double w = rng_gauss() * 0.007;   /* about the level of sox ... pinknoise vol 0.1 */
        b0 = 0.99886 * b0 + w * 0.0555179; b1 = 0.99332 * b1 + w * 0.0750759;
        b2 = 0.96900 * b2 + w * 0.1538520; b3 = 0.86650 * b3 + w * 0.3104856;
        b4 = 0.55000 * b4 + w * 0.5329522; b5 = -0.7616 * b5 - w * 0.0168980;
        double p = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362;
        b6 = w * 0.115926;
        long s = lrint(p * 32767.0);
        if (s > 32767) s = 32767;
        if (s < -32768) s = -32768;
        uint16_t u = (uint16_t)(int16_t)s;
        buf[fill++] = u & 255;
        buf[fill++] = u >> 8;
        if (fill == sizeof buf) { fwrite(buf, 1, fill, f); fill = 0; }
    }
    fwrite(buf, 1, fill, f);
    if (ferror(f) | fclose(f)) die(tmp, NULL);
    if (rename(tmp, argv[0])) die(argv[0], NULL);
    return 0;
}

static int cmd_maxrss(int argc, char **argv)
{
    if (argc < 1) { fprintf(stderr, "usage: es_bench maxrss CMD [ARG...]\n"); return 2; }
    pid_t pid = fork();
    if (pid < 0) die("fork", NULL);
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "es_bench: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) die("wait4", NULL);
    /* Linux: ru_maxrss in kilobytes, of the child alone */
    printf("{\"maxrss_kb\":%ld,\"status\":%d}\n", ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}

int main(int argc, char **argv)
{
    const char *models = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--min-reps") && i + 1 < argc) min_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--models") && i + 1 < argc) models = argv[++i];
        else break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: es_bench [--threads N] [--min-time S] [--min-reps N] [--models DIR]\n"
                        "                (inputs DIR | CASE... | wav PATH SECONDS | maxrss CMD...)\n"
                        "cases: mel60 enc1 enc100 full60 e2e60 stream_enc stream_step\n");
        return 2;
    }
    if (!strcmp(argv[i], "wav")) return cmd_wav(argc - i - 1, argv + i + 1);
    if (!strcmp(argv[i], "maxrss")) return cmd_maxrss(argc - i - 1, argv + i + 1);
    if (min_reps < 1) min_reps = 1;
    if (threads > 0) es_set_threads(threads);
    else threads = openblas_get_num_threads();

    es_error e = {0};
    bench b;
    memset(&b, 0, sizeof b);
    if (!(b.eng = es_engine_create(models, &e))) die("loading models", &e);
    b.mel = es_engine_mel(b.eng);
    b.enc = es_engine_encoder(b.eng);
    b.audio = xmalloc(NSAMP * sizeof(float));
    gen_speech(b.audio, NSAMP);
    b.frames60 = es_mel_frames(NSAMP);
    b.mel60 = xmalloc(b.frames60 * ES_MEL_BINS * sizeof(float));
    b.melout = xmalloc(b.frames60 * ES_MEL_BINS * sizeof(float));
    if (es_mel_compute(b.mel, b.audio, NSAMP, b.mel60, &e)) die("es_mel_compute", &e);
    b.wins = xmalloc((size_t)NWIN_BATCH * ES_EMB_WINDOW * ES_MEL_BINS * sizeof(float));
    for (size_t w = 0; w < NWIN_BATCH; w++)
        memcpy(b.wins + w * ES_EMB_WINDOW * ES_MEL_BINS, b.mel60 + w * ES_EMB_STEP * ES_MEL_BINS,
               ES_EMB_WINDOW * ES_MEL_BINS * sizeof(float));
    size_t n60 = es_encoder_count(b.frames60);
    b.out = xmalloc((n60 + NWIN_BATCH + 2) * ES_EMB_DIM * sizeof(float));

    /* the encoder's ONNX file again, for the FLOP count */
    char path[4096];
    es_onnx *m;
    if (es_models_path(es_engine_models_dir(b.eng), "embedding_model", path, sizeof path, &e)) die("models", &e);
    if (!(m = es_onnx_load(path, &e))) die(path, &e);
    double fl_win = encoder_flops(m, ES_EMB_WINDOW), fl_60 = encoder_flops(m, (int)b.frames60);
    es_onnx_free(m);

    if (!strcmp(argv[i], "inputs")) {
        if (i + 1 >= argc) { fprintf(stderr, "usage: es_bench inputs DIR\n"); return 2; }
        const char *dir = argv[i + 1];
        write_f32(dir, "audio60.f32", b.audio, NSAMP);
        write_f32(dir, "mel60.f32", b.mel60, b.frames60 * ES_MEL_BINS);
        write_f32(dir, "win100.f32", b.wins, (size_t)NWIN_BATCH * ES_EMB_WINDOW * ES_MEL_BINS);
        printf("{\"case\":\"info\",\"samples\":%zu,\"frames\":%zu,\"embeddings\":%zu,\"flop_window\":%.0f,"
               "\"flop_full60\":%.0f,\"openblas_config\":\"%s\",\"openblas_core\":\"%s\",\"openblas_threads\":%d}\n",
               NSAMP, b.frames60, n60, fl_win, fl_60, openblas_get_config(), openblas_get_corename(),
               openblas_get_num_threads());
        es_engine_free(b.eng);
        return 0;
    }

    char extra[256];
    for (; i < argc; i++) {
        const char *c = argv[i];
        if (!strcmp(c, "mel60")) {
            snprintf(extra, sizeof extra, "\"samples\":%zu,\"frames\":%zu", NSAMP, b.frames60);
            report(c, &b, f_mel60, &b, extra);
        } else if (!strcmp(c, "enc1") || !strcmp(c, "enc100")) {
            b.nwin = !strcmp(c, "enc1") ? 1 : NWIN_BATCH;
            snprintf(extra, sizeof extra, "\"windows\":%zu,\"flop\":%.0f", b.nwin, fl_win * (double)b.nwin);
            report(c, &b, f_enc, &b, extra);
        } else if (!strcmp(c, "full60")) {
            snprintf(extra, sizeof extra, "\"frames\":%zu,\"embeddings\":%zu,\"flop\":%.0f", b.frames60, n60, fl_60);
            report(c, &b, f_full60, &b, extra);
        } else if (!strcmp(c, "e2e60")) {
            snprintf(extra, sizeof extra, "\"samples\":%zu,\"embeddings\":%zu", NSAMP, n60);
            report(c, &b, f_e2e60, &b, extra);
        } else if (!strcmp(c, "stream_enc") || !strcmp(c, "stream_step")) {
            setup_streams(&b);
            int step = !strcmp(c, "stream_step");
            if (!step) b.pos = 0;
            snprintf(extra, sizeof extra, "\"%s\":%d", step ? "samples" : "frames", step ? ES_CHUNK : ES_EMB_STEP);
            report(c, &b, step ? f_stream_step : f_stream_enc, &b, extra);
        } else {
            fprintf(stderr, "es_bench: unknown case '%s'\n", c);
            return 2;
        }
    }
    /* our own CPU time, so bench.js can tell how much other processes used */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"case\":\"rusage\",\"cpu_s\":%.3f}\n",
           (double)ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec + 1e-6 * ru.ru_stime.tv_usec);
    es_mel_stream_free(b.ms);
    es_encoder_stream_free(b.es);
    free(b.audio); free(b.mel60); free(b.melout); free(b.wins); free(b.out);
    es_engine_free(b.eng);
    return 0;
}
