/*
 * Microphone capture: PortAudio in, 16 kHz mono int16-scale floats out.
 * Audio knows nothing of models; the caller pulls samples and does what it
 * likes with them.
 *
 *   PortAudio callback (real-time thread)      processing thread (caller)
 *   ---------------------------------------    ------------------------------
 *   device frames, any rate, N channels        es_capture_read():
 *   -> mono mixdown (arithmetic only)            pop mono frames from the ring
 *   -> push into a lock-free SPSC ring  ----->   -> resample to 16 kHz
 *      (full: count the frames it could not       (libsamplerate, streaming)
 *       take as an overrun, never block)         -> x 32768 (int16 scale)
 *
 * The callback must never wait: no allocation, no lock, no I/O, no system
 * call. So it only reads the ring's two indices (C11 atomics), copies, and
 * publishes the new write index with release order; the reader publishes
 * its read index the same way. Frames that do not fit are dropped and
 * counted (es_capture_stats), so the caller can say that it happened: the
 * one thing we must not do is lose audio without telling anyone. The reader
 * has nothing to wait on but time, so it sleeps in short steps while the
 * ring is empty (a condition variable would need a lock in the callback).
 */
#include "es_internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <portaudio.h>
#include <samplerate.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The callback's atomics must not hide a lock (C11 allows that). */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free for the audio callback");

/* The reader sleeps this long when the ring is empty: short next to the
 * 80 ms the detector steps by, long enough to cost nothing. */
#define POLL_NS 5000000L
/* Device frames the reader converts per step (bounded scratch buffers). */
#define STEP_FRAMES 2048

static int pa_ready;   /* es_capture_init succeeded and terminate not yet called */

es_status es_capture_init(es_error *err)
{
    if (pa_ready) return ES_OK;
    PaError e = Pa_Initialize();
    if (e != paNoError) return es_fail(err, ES_ERR_IO, "audio: cannot initialise PortAudio: %s", Pa_GetErrorText(e));
    pa_ready = 1;
    return ES_OK;
}

void es_capture_terminate(void)
{
    if (pa_ready) Pa_Terminate();
    pa_ready = 0;
}

static es_status need_init(es_error *err)
{
    return pa_ready ? ES_OK : es_fail(err, ES_ERR_ARG, "audio: es_capture_init was not called");
}

size_t es_capture_device_count(void)
{
    if (!pa_ready) return 0;
    int n = Pa_GetDeviceCount();
    return n > 0 ? (size_t)n : 0;
}

es_status es_capture_device_info(size_t i, es_capture_device *d, es_error *err)
{
    if (!d) return es_fail(err, ES_ERR_ARG, "es_capture_device_info: nowhere to put the device (d is NULL)");
    es_status st = need_init(err);
    if (st) return st;
    const PaDeviceInfo *pi = i < es_capture_device_count() ? Pa_GetDeviceInfo((PaDeviceIndex)i) : NULL;
    if (!pi) return es_fail(err, ES_ERR_ARG, "audio: no device with index %zu", i);
    const PaHostApiInfo *hi = Pa_GetHostApiInfo(pi->hostApi);
    d->index = (int)i;
    d->name = pi->name ? pi->name : "?";
    d->host_api = hi && hi->name ? hi->name : "?";
    d->default_rate = pi->defaultSampleRate;
    d->input_channels = pi->maxInputChannels;
    d->is_default_input = (PaDeviceIndex)i == Pa_GetDefaultInputDevice();
    return ES_OK;
}

/* Case-insensitive substring test (names are ASCII in practice; other
 * bytes compare exactly). */
static int contains_ci(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t k = 0;
        while (k < nl && hay[k] && es_ascii_lower((unsigned char)hay[k]) == es_ascii_lower((unsigned char)needle[k])) k++;
        if (k == nl) return 1;
    }
    return nl == 0;
}

es_status es_capture_find(const char *spec, int *index, es_error *err)
{
    /* checked first: a match found would otherwise be written through it */
    if (!index) return es_fail(err, ES_ERR_ARG, "es_capture_find: nowhere to put the index (index is NULL)");
    es_status st = need_init(err);
    if (st) return st;
    int n = (int)es_capture_device_count();
    if (!spec || !*spec) {
        PaDeviceIndex d = Pa_GetDefaultInputDevice();
        if (d == paNoDevice) return es_fail(err, ES_ERR_IO, "audio: there is no default input device (see --list-devices)");
        *index = d;
        return ES_OK;
    }
    /* An index: all digits. */
    char *end;
    errno = 0;
    long v = strtol(spec, &end, 10);
    if (*spec != '-' && *spec != '+' && !*end && !errno) {
        if (v < 0 || v >= n) return es_fail(err, ES_ERR_ARG, "audio: no device with index %s (there are %d)", spec, n);
        const PaDeviceInfo *pi = Pa_GetDeviceInfo((PaDeviceIndex)v);
        if (!pi || pi->maxInputChannels < 1)
            return es_fail(err, ES_ERR_ARG, "audio: device %ld (%s) has no input channels", v, pi ? pi->name : "?");
        *index = (int)v;
        return ES_OK;
    }
    /* A name: an exact match wins, else the one input device whose name
     * contains it; several matches are an error that lists them, since
     * picking one silently could record from the wrong microphone. */
    int found = -1, count = 0;
    char list[300] = "";
    size_t ll = 0;
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *pi = Pa_GetDeviceInfo(i);
        if (!pi || pi->maxInputChannels < 1 || !pi->name) continue;
        if (!strcmp(pi->name, spec)) { *index = i; return ES_OK; }
        if (contains_ci(pi->name, spec)) {
            if (!count) found = i;
            count++;
            if (ll < sizeof list - 1) {
                int w = snprintf(list + ll, sizeof list - ll, "%s%d '%s'", count > 1 ? ", " : "", i, pi->name);
                if (w > 0) ll += (size_t)w;
                if (ll > sizeof list - 1) ll = sizeof list - 1;
            }
        }
    }
    if (count == 1) { *index = found; return ES_OK; }
    if (!count) return es_fail(err, ES_ERR_ARG, "audio: no input device matches '%s' (see --list-devices)", spec);
    return es_fail(err, ES_ERR_ARG, "audio: '%s' matches %d input devices (%s); give its index", spec, count, list);
}

/* ------------------------------------------------------------- the ring */

/* Single producer (the callback), single consumer (the reader). Indices
 * count frames forever (64 bits never wrap in practice) and are reduced
 * modulo the power-of-two size on access; full = w - r == size. Each side
 * loads the other's index with acquire order (so it sees the frames the
 * other side wrote before publishing) and stores its own with release. */
typedef struct {
    float *buf;
    size_t mask;                  /* size - 1 */
    _Atomic unsigned long long w, r;
} ring;

struct es_capture {
    PaStream *stream;
    int device, channels;
    double rate;
    char name[256];
    ring rg;
    /* Written by the callback only (relaxed: they are counters, read for
     * reporting). */
    _Atomic unsigned long long dropped_frames, overrun_events, input_overflows, callback_frames;
    /* Reader side. */
    SRC_STATE *src;               /* NULL when the device runs at 16 kHz */
    double ratio;
    float in[STEP_FRAMES];        /* mono device frames popped from the ring */
    float out[STEP_FRAMES * 4 + 64];  /* resampled, awaiting the caller */
    size_t out_pos, out_n;
    unsigned long long frames_read;
    int started;
};

static int on_audio(const void *input, void *output, unsigned long frames, const PaStreamCallbackTimeInfo *ti,
                    PaStreamCallbackFlags flags, void *user)
{
    (void)output;
    (void)ti;
    es_capture *c = user;
    if (flags & paInputOverflow) atomic_fetch_add_explicit(&c->input_overflows, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->callback_frames, frames, memory_order_relaxed);
    if (!input) return paContinue;   /* PortAudio may pass NULL after an xrun: nothing to store */
    const float *x = input;
    ring *rg = &c->rg;
    unsigned long long w = atomic_load_explicit(&rg->w, memory_order_relaxed);
    unsigned long long r = atomic_load_explicit(&rg->r, memory_order_acquire);
    unsigned long long room = rg->mask + 1 - (w - r);
    unsigned long take = frames <= room ? frames : (unsigned long)room;
    int ch = c->channels;
    if (ch == 1) {
        for (unsigned long i = 0; i < take; i++) rg->buf[(w + i) & rg->mask] = x[i];
    } else {
        float inv = 1.0f / (float)ch;
        for (unsigned long i = 0; i < take; i++) {
            float s = 0;
            for (int k = 0; k < ch; k++) s += x[i * (unsigned long)ch + (unsigned long)k];
            rg->buf[(w + i) & rg->mask] = s * inv;
        }
    }
    atomic_store_explicit(&rg->w, w + take, memory_order_release);
    if (take < frames) {
        atomic_fetch_add_explicit(&c->dropped_frames, frames - take, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->overrun_events, 1, memory_order_relaxed);
    }
    return paContinue;
}

void es_capture_opts_default(es_capture_opts *o)
{
    if (!o) return;   /* as es_load_opts_default: nothing to fill */
    memset(o, 0, sizeof *o);
    o->ring_seconds = 4.0;
}

es_capture *es_capture_open(const es_capture_opts *o, es_error *err)
{
    es_capture_opts def;
    if (!o) { es_capture_opts_default(&def); o = &def; }
    if (need_init(err)) return NULL;
    int dev;
    if (es_capture_find(o->device, &dev, err)) return NULL;
    const PaDeviceInfo *pi = Pa_GetDeviceInfo(dev);
    if (!pi) { es_fail(err, ES_ERR_IO, "audio: device %d vanished", dev); return NULL; }
    double rate = o->rate > 0 ? o->rate : pi->defaultSampleRate;
    if (!(rate >= 4000 && rate <= 384000)) {
        es_fail(err, ES_ERR_ARG, "audio: %s: sample rate %g Hz is out of range (4000 to 384000)", pi->name, rate);
        return NULL;
    }
    if (o->channels < 0 || o->channels > 64) {
        es_fail(err, ES_ERR_ARG, "audio: %s: %d channels is out of range (1 to 64)", pi->name, o->channels);
        return NULL;
    }
    PaStreamParameters p = {0};
    p.device = dev;
    p.sampleFormat = paFloat32;
    p.suggestedLatency = o->latency > 0 ? o->latency : pi->defaultLowInputLatency;
    /* Mono if the device offers it (no mixdown to do), else its channels up
     * to two; a multi-channel interface is mixed down the same way. */
    int cand[3] = {1, 2, pi->maxInputChannels > 64 ? 64 : pi->maxInputChannels}, ch = 0;
    if (o->channels) cand[0] = cand[1] = cand[2] = o->channels;
    for (int k = 0; k < 3 && !ch; k++) {
        if (cand[k] < 1 || cand[k] > pi->maxInputChannels) continue;
        p.channelCount = cand[k];
        if (Pa_IsFormatSupported(&p, NULL, rate) == paFormatIsSupported) ch = cand[k];
    }
    if (!ch) {
        p.channelCount = o->channels ? o->channels : 1;
        PaError pe = p.channelCount <= pi->maxInputChannels ? Pa_IsFormatSupported(&p, NULL, rate) : paInvalidChannelCount;
        es_fail(err, ES_ERR_UNSUPPORTED, "audio: %s: cannot record %d channel(s) at %g Hz: %s", pi->name, p.channelCount,
                rate, Pa_GetErrorText(pe));
        return NULL;
    }
    p.channelCount = ch;

    es_capture *c = calloc(1, sizeof *c);
    if (!c) { es_fail(err, ES_ERR_NOMEM, "audio: out of memory"); return NULL; }
    c->device = dev;
    c->channels = ch;
    c->rate = rate;
    snprintf(c->name, sizeof c->name, "%s", pi->name);
    double secs = o->ring_seconds > 0 ? o->ring_seconds : 4.0;
    if (secs > 60) secs = 60;
    size_t want_frames = (size_t)(secs * rate) + 1, size = 1024;
    while (size < want_frames) size <<= 1;
    c->rg.buf = calloc(size, sizeof(float));
    c->rg.mask = size - 1;
    atomic_init(&c->rg.w, 0);
    atomic_init(&c->rg.r, 0);
    atomic_init(&c->dropped_frames, 0);
    atomic_init(&c->overrun_events, 0);
    atomic_init(&c->input_overflows, 0);
    atomic_init(&c->callback_frames, 0);
    if (!c->rg.buf) { es_fail(err, ES_ERR_NOMEM, "audio: out of memory"); es_capture_close(c); return NULL; }
    if (rate != ES_SAMPLE_RATE) {
        /* The fastest sinc converter: the live path runs for hours on a
         * core's spare time. Measured (bench/listen.sh, 10 min at 48 kHz,
         * 12-label model): SINC_MEDIUM cost 0.84% of a core on its own,
         * more than the whole detector; the long-form F1 of transcribe
         * is the same with SINC_FASTEST (bench/README.md). */
        int e = 0;
        c->src = src_new(SRC_SINC_FASTEST, 1, &e);
        if (!c->src) {
            es_fail(err, ES_ERR_NOMEM, "audio: cannot create the resampler: %s", src_strerror(e));
            es_capture_close(c);
            return NULL;
        }
        c->ratio = ES_SAMPLE_RATE / rate;
    }
    /* 20 ms callbacks: small next to the detector's 80 ms step (so they add
     * little latency), large enough to cost nothing. */
    unsigned long fpb = o->frames_per_buffer > 0 ? (unsigned long)o->frames_per_buffer : (unsigned long)(rate * 0.02 + 0.5);
    PaError pe = Pa_OpenStream(&c->stream, &p, NULL, rate, fpb, paNoFlag, on_audio, c);
    if (pe != paNoError) {
        c->stream = NULL;
        es_fail(err, ES_ERR_IO, "audio: %s: cannot open at %g Hz, %d channel(s): %s", pi->name, rate, ch, Pa_GetErrorText(pe));
        es_capture_close(c);
        return NULL;
    }
    return c;
}

es_status es_capture_start(es_capture *c, es_error *err)
{
    if (!c) return es_fail(err, ES_ERR_ARG, "audio: no stream");
    if (c->started) return ES_OK;
    PaError pe = Pa_StartStream(c->stream);
    if (pe != paNoError) return es_fail(err, ES_ERR_IO, "audio: %s: cannot start: %s", c->name, Pa_GetErrorText(pe));
    c->started = 1;
    return ES_OK;
}

es_status es_capture_stop(es_capture *c, es_error *err)
{
    if (!c) return es_fail(err, ES_ERR_ARG, "audio: no stream");
    if (!c->started) return ES_OK;
    c->started = 0;
    /* Pa_StopStream lets the buffers already captured reach the callback;
     * what it puts in the ring stays there for the last reads. */
    PaError pe = Pa_StopStream(c->stream);
    if (pe != paNoError) return es_fail(err, ES_ERR_IO, "audio: %s: cannot stop: %s", c->name, Pa_GetErrorText(pe));
    return ES_OK;
}

void es_capture_close(es_capture *c)
{
    if (!c) return;
    if (c->stream) {
        if (c->started) Pa_AbortStream(c->stream);
        Pa_CloseStream(c->stream);
    }
    if (c->src) src_delete(c->src);
    free(c->rg.buf);
    free(c);
}

/* Pop up to STEP_FRAMES mono frames into c->in; returns how many. */
static size_t ring_pop(es_capture *c)
{
    ring *rg = &c->rg;
    unsigned long long r = atomic_load_explicit(&rg->r, memory_order_relaxed);
    unsigned long long w = atomic_load_explicit(&rg->w, memory_order_acquire);
    size_t n = (size_t)(w - r);
    if (n > STEP_FRAMES) n = STEP_FRAMES;
    for (size_t i = 0; i < n; i++) c->in[i] = rg->buf[(r + i) & rg->mask];
    atomic_store_explicit(&rg->r, r + n, memory_order_release);
    return n;
}

/* Turn popped device frames into 16 kHz int16-scale samples in c->out. */
static es_status convert(es_capture *c, size_t n, int end, es_error *err)
{
    c->out_pos = c->out_n = 0;
    if (!c->src) {
        for (size_t i = 0; i < n; i++) c->out[i] = c->in[i] * 32768.0f;
        c->out_n = n;
        return ES_OK;
    }
    /* libsamplerate may hold input back (its filter's delay); with a
     * downsampling or moderate upsampling ratio everything popped fits in
     * out (at most 4x: 4 kHz devices are the floor we accept). */
    SRC_DATA d = {0};
    d.data_in = c->in;
    d.input_frames = (long)n;
    d.data_out = c->out;
    d.output_frames = (long)(sizeof c->out / sizeof c->out[0]);
    d.src_ratio = c->ratio;
    d.end_of_input = end;
    int e = src_process(c->src, &d);
    if (e) return es_fail(err, ES_ERR_IO, "audio: %s: resampling failed: %s", c->name, src_strerror(e));
    if (d.input_frames_used != (long)n)   /* cannot happen with out sized for 4x; never lose audio quietly */
        return es_fail(err, ES_ERR_IO, "audio: %s: resampler left %ld frames", c->name, (long)n - d.input_frames_used);
    for (long i = 0; i < d.output_frames_gen; i++) c->out[i] *= 32768.0f;
    c->out_n = (size_t)d.output_frames_gen;
    return ES_OK;
}

es_status es_capture_read(es_capture *c, float *out, size_t max, size_t *got, int timeout_ms, es_error *err)
{
    /* *got is the one output: stored only once it is known to exist */
    if (got) *got = 0;
    if (!c || !out || !max || !got) return es_fail(err, ES_ERR_ARG, "audio: bad read arguments");
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        while (c->out_pos < c->out_n && *got < max) out[(*got)++] = c->out[c->out_pos++];
        if (*got == max) return ES_OK;
        size_t n = ring_pop(c);
        if (n) {
            c->frames_read += n;
            es_status st = convert(c, n, 0, err);
            if (st) return st;
            continue;
        }
        /* Ring empty: hand over what we have rather than wait for more. */
        if (*got) return ES_OK;
        /* Not started, or stopped and drained: no audio can come, so a
         * wait (without limit, forever) would be for nothing. */
        if (!c->started)
            return es_fail(err, ES_ERR_ARG, "audio: %s: the stream is not started (es_capture_start; after "
                           "es_capture_stop, es_capture_flush gives the rest)", c->name);
        if (timeout_ms == 0) return ES_OK;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double waited = (double)(now.tv_sec - t0.tv_sec) * 1e3 + (double)(now.tv_nsec - t0.tv_nsec) / 1e6;
        if (timeout_ms > 0 && waited >= timeout_ms) return ES_OK;
        if (c->stream && c->started && Pa_IsStreamActive(c->stream) != 1)
            return es_fail(err, ES_ERR_IO, "audio: %s: the input stream stopped", c->name);
        struct timespec nap = {0, POLL_NS};
        nanosleep(&nap, NULL);
    }
}

es_status es_capture_flush(es_capture *c, float *out, size_t max, size_t *got, es_error *err)
{
    /* max = 0 refused as es_capture_read refuses it: *got = 0 means the end */
    if (got) *got = 0;
    if (!c || !out || !max || !got) return es_fail(err, ES_ERR_ARG, "audio: bad read arguments");
    for (;;) {
        while (c->out_pos < c->out_n && *got < max) out[(*got)++] = c->out[c->out_pos++];
        if (*got == max) return ES_OK;
        size_t n = ring_pop(c);
        if (!n) break;
        c->frames_read += n;
        es_status st = convert(c, n, 0, err);
        if (st) return st;
    }
    /* Ring drained: push the resampler's tail out (once). */
    if (c->src && c->out_pos == c->out_n) {
        es_status st = convert(c, 0, 1, err);
        if (st) return st;
        src_reset(c->src);
        while (c->out_pos < c->out_n && *got < max) out[(*got)++] = c->out[c->out_pos++];
    }
    return ES_OK;
}

void es_capture_stats(const es_capture *c, es_capture_stat *s)
{
    if (!s) return;
    memset(s, 0, sizeof *s);
    if (!c) return;
    es_capture *m = (es_capture *)c;  /* atomics are read-only here */
    s->dropped_frames = atomic_load_explicit(&m->dropped_frames, memory_order_relaxed);
    s->overruns = atomic_load_explicit(&m->overrun_events, memory_order_relaxed);
    s->input_overflows = atomic_load_explicit(&m->input_overflows, memory_order_relaxed);
    s->captured_frames = atomic_load_explicit(&m->callback_frames, memory_order_relaxed);
    s->read_frames = c->frames_read;
    s->dropped_seconds = (double)s->dropped_frames / c->rate;
}

double es_capture_rate(const es_capture *c) { return c ? c->rate : 0; }
int es_capture_channels(const es_capture *c) { return c ? c->channels : 0; }
const char *es_capture_name(const es_capture *c) { return c ? c->name : NULL; }
int es_capture_index(const es_capture *c) { return c ? c->device : -1; }
