/*
 * Audio input: decode files with libsndfile or raw PCM from a stream,
 * downmix to mono, resample to 16 kHz with libsamplerate and scale to int16
 * range (what the melspectrogram model expects).
 *
 * Scaling: libsndfile's normalised float reads map an N-bit integer sample v
 * to v / 2^(N-1), so multiplying by 32768 gives a 16-bit file's exact integer
 * values (and v / 2^(N-17) for wider ones). Float files are passed through
 * unclipped: values outside [-1, 1] are the file's content, not our business.
 */
#include "es_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Sample rates outside this range are almost surely a corrupt header, and
 * libsamplerate's ratio limit (1/256 .. 256) is comfortably inside it. */
#define RATE_MIN 1000
#define RATE_MAX 384000
/* libsndfile's own channel limit (SF_MAX_CHANNELS); also bounds raw input. */
#define CHANNELS_MAX 1024
/* Floats per read block; the frame count per block is this / channels. */
#define BLOCK_FLOATS 65536
/* Largest initial allocation we derive from a header's frame count. Headers
 * lie (streamed WAVs say 0 or 0xffffffff), so beyond this we grow as we go. */
#define HINT_MAX ((size_t)1 << 22)

/* ------------------------------------------------------------ helpers */

static const char *name_or(const char *name) { return name ? name : "<stream>"; }

/* A growable mono buffer. */
typedef struct {
    float *x;
    size_t n, cap;
} fbuf;

static int fbuf_reserve(fbuf *b, size_t extra)
{
    if (extra > SIZE_MAX / sizeof(float) - b->n) return -1;
    size_t need = b->n + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) {
        if (cap > SIZE_MAX / sizeof(float) / 2) { cap = need; break; }
        cap *= 2;
    }
    float *p = realloc(b->x, cap * sizeof(float));
    if (!p) return -1;
    b->x = p;
    b->cap = cap;
    return 0;
}

/* Average `frames` interleaved frames of `ch` channels (in [-1, 1] scale) into
 * mono int16-scale samples appended to b. The sum runs in double so a mono
 * signal comes out bit-identical (x * 32768 is exact) and averaging many
 * channels loses nothing. */
static void downmix_append(fbuf *b, const float *in, size_t frames, int ch)
{
    float *o = b->x + b->n;
    if (ch == 1) {
        for (size_t i = 0; i < frames; i++) o[i] = in[i] * 32768.0f;
    } else {
        for (size_t i = 0; i < frames; i++) {
            double s = 0.0;
            for (int c = 0; c < ch; c++) s += in[i * (size_t)ch + (size_t)c];
            o[i] = (float)(s / ch * 32768.0);
        }
    }
    b->n += frames;
}

/* Round to whole int16 values as openWakeWord's int16 input would be:
 * round half to even (like numpy.rint), clamp to the int16 range. NaN has no
 * sensible value; it becomes 0 rather than poisoning the front end. */
static void quantize_int16(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (v != v) v = 0.0f;
        else if (v <= -32768.0f) v = -32768.0f;
        else if (v >= 32767.0f) v = 32767.0f;
        else v = rintf(v);
        x[i] = v;
    }
}

static int rate_ok(int rate) { return rate >= RATE_MIN && rate <= RATE_MAX; }

/*
 * Resample mono x (n samples at `rate`) to 16 kHz with libsamplerate's best
 * sinc converter. The full API is used rather than src_simple so that inputs
 * longer than a `long` (32-bit platforms) are fed in pieces; the last piece
 * carries end_of_input and we keep calling until the converter's tail is
 * flushed. The resulting length is libsamplerate's own count, which is
 * floor(n * 16000 / rate) (within one sample of round(n * 16000 / rate));
 * we do not pad or trim it. `name` (may be NULL) prefixes error messages.
 */
static es_status resample_impl(const float *x, size_t n, int rate, float **out, size_t *out_n,
                               const char *name, es_error *err)
{
    const char *pfx = name ? name : "resample";
    *out = NULL;
    *out_n = 0;
    if (n == 0) return ES_OK;
    if (rate == ES_SAMPLE_RATE) {
        float *y = malloc(n * sizeof(float));  /* n floats were allocated once already */
        if (!y) return es_fail(err, ES_ERR_NOMEM, "%s: out of memory (%zu samples)", pfx, n);
        memcpy(y, x, n * sizeof(float));
        *out = y;
        *out_n = n;
        return ES_OK;
    }

    double ratio = (double)ES_SAMPLE_RATE / rate;
    /* Expected length plus slack; grown below if the converter wants more. */
    double want = ceil((double)n * ratio) + 64.0;
    if (want > (double)(SIZE_MAX / sizeof(float)))
        return es_fail(err, ES_ERR_NOMEM, "%s: too long to resample (%zu samples)", pfx, n);
    size_t cap = (size_t)want;
    float *y = malloc(cap * sizeof(float));
    if (!y) return es_fail(err, ES_ERR_NOMEM, "%s: out of memory (%zu samples)", pfx, cap);

    int e = 0;
    SRC_STATE *st = src_new(SRC_SINC_BEST_QUALITY, 1, &e);
    if (!st) {
        free(y);
        return es_fail(err, ES_ERR_NOMEM, "%s: cannot create resampler: %s", pfx, src_strerror(e));
    }

    /* Pieces small enough for a long on every platform. */
    const size_t piece = (size_t)1 << 20;
    size_t in_pos = 0, got = 0;
    for (;;) {
        if (cap - got < 1024) {
            size_t ncap = cap + cap / 2 + 1024;
            float *p = (ncap > cap && ncap <= SIZE_MAX / sizeof(float))
                       ? realloc(y, ncap * sizeof(float)) : NULL;
            if (!p) {
                src_delete(st);
                free(y);
                return es_fail(err, ES_ERR_NOMEM, "%s: out of memory while resampling", pfx);
            }
            y = p;
            cap = ncap;
        }
        size_t left = n - in_pos;
        size_t in_now = left < piece ? left : piece;
        size_t out_room = cap - got < piece ? cap - got : piece;
        SRC_DATA d;
        memset(&d, 0, sizeof d);
        d.data_in = x + in_pos;
        d.input_frames = (long)in_now;
        d.data_out = y + got;
        d.output_frames = (long)out_room;
        d.end_of_input = in_pos + in_now == n;
        d.src_ratio = ratio;
        e = src_process(st, &d);
        if (e) {
            src_delete(st);
            free(y);
            return es_fail(err, ES_ERR_FORMAT, "%s: resampling from %d Hz failed: %s",
                           pfx, rate, src_strerror(e));
        }
        if (in_pos < n && d.input_frames_used == 0 && d.output_frames_gen == 0) {
            /* Cannot happen with output room left; never spin forever. */
            src_delete(st);
            free(y);
            return es_fail(err, ES_ERR_FORMAT, "%s: resampler from %d Hz made no progress", pfx, rate);
        }
        in_pos += (size_t)d.input_frames_used;
        got += (size_t)d.output_frames_gen;
        /* Done once all input is consumed and the flush yields nothing more. */
        if (in_pos == n && d.output_frames_gen == 0) break;
    }
    src_delete(st);

    if (got == 0) {
        free(y);
        return ES_OK;
    }
    float *p = realloc(y, got * sizeof(float));  /* shrink to fit; keep y if it fails */
    *out = p ? p : y;
    *out_n = got;
    return ES_OK;
}

/* Resample (if needed) the mono int16-scale buffer and fill `out`. Takes
 * ownership of b->x. */
static es_status finish(fbuf *b, int rate, int channels, const es_load_opts *opts,
                        const char *name, es_audio *out, es_error *err)
{
    float *y = NULL;
    size_t yn = 0;
    if (rate == ES_SAMPLE_RATE) {
        /* Bit-identical to the source: hand over the buffer itself. */
        float *p = realloc(b->x, b->n * sizeof(float));
        y = p ? p : b->x;
        yn = b->n;
        b->x = NULL;
    } else {
        es_status s = resample_impl(b->x, b->n, rate, &y, &yn, name, err);
        free(b->x);
        b->x = NULL;
        if (s != ES_OK) return s;
        if (yn == 0)
            return es_fail(err, ES_ERR_FORMAT,
                           "%s: too short: %zu samples at %d Hz give no samples at 16 kHz",
                           name, b->n, rate);
    }
    if (opts && opts->quantize_int16) quantize_int16(y, yn);
    out->samples = y;
    out->n = yn;
    out->src_rate = rate;
    out->src_channels = channels;
    return ES_OK;
}

/* ------------------------------------------------------------- files */

es_status es_audio_load(const char *path, const es_load_opts *opts, es_audio *out, es_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out)
        return es_fail(err, ES_ERR_ARG, "es_audio_load: %s is NULL", path ? "out" : "path");

    /* Open the file ourselves and hand libsndfile the descriptor: errors then
     * come from the OS with errno (permission, not found), a directory is
     * caught before libsndfile calls it "format not recognised", and a file
     * literally named "-" is not taken for stdin as sf_open would. */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return es_fail(err, ES_ERR_IO, "%s: is a directory", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return es_fail(err, ES_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return es_fail(err, ES_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return es_fail(err, ES_ERR_IO, "%s: is a directory", path);
    }
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        close(fd);
        return es_fail(err, ES_ERR_FORMAT, "%s: empty file (0 bytes)", path);
    }

    SF_INFO info;
    memset(&info, 0, sizeof info);
    /* close_desc = FALSE: we close fd on every path ourselves, whatever
     * libsndfile does with it on failure. */
    SNDFILE *sf = sf_open_fd(fd, SFM_READ, &info, SF_FALSE);
    if (!sf) {
        /* sf_strerror(NULL) is libsndfile's last open error (process-global). */
        es_status s = es_fail(err, ES_ERR_FORMAT, "%s: not a readable audio file: %s",
                              path, sf_strerror(NULL));
        close(fd);
        return s;
    }
    es_status s = ES_OK;
    fbuf b = {0};
    float *blk = NULL;

    if (info.channels < 1 || info.channels > CHANNELS_MAX) {
        s = es_fail(err, ES_ERR_FORMAT, "%s: unsupported channel count %d", path, info.channels);
        goto done;
    }
    if (!rate_ok(info.samplerate)) {
        s = es_fail(err, ES_ERR_FORMAT, "%s: unsupported sample rate %d Hz (must be %d..%d)",
                    path, info.samplerate, RATE_MIN, RATE_MAX);
        goto done;
    }
    /* Normalised floats are the default; say so, since the x32768 scaling
     * above depends on it. */
    sf_command(sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);

    int ch = info.channels;
    size_t bframes = BLOCK_FLOATS / (size_t)ch;  /* >= 64 since ch <= 1024 */
    blk = malloc(bframes * (size_t)ch * sizeof(float));
    if (!blk) {
        s = es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    /* The header's frame count is only a hint for the first allocation. */
    if (info.frames > 0) {
        size_t hint = (uint64_t)info.frames < HINT_MAX ? (size_t)info.frames : HINT_MAX;
        if (fbuf_reserve(&b, hint) != 0) {
            s = es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
    }
    for (;;) {
        sf_count_t r = sf_readf_float(sf, blk, (sf_count_t)bframes);
        if (r <= 0) break;
        if (fbuf_reserve(&b, (size_t)r) != 0) {
            s = es_fail(err, ES_ERR_NOMEM, "%s: out of memory after %zu frames", path, b.n);
            goto done;
        }
        downmix_append(&b, blk, (size_t)r, ch);
    }
    /* A short read is normally end of file; a decoder error shows here. */
    if (sf_error(sf) != SF_ERR_NO_ERROR) {
        s = es_fail(err, ES_ERR_FORMAT, "%s: decoding failed after %zu frames: %s",
                    path, b.n, sf_strerror(sf));
        goto done;
    }
    if (b.n == 0) {
        s = es_fail(err, ES_ERR_FORMAT, "%s: contains no audio samples", path);
        goto done;
    }
    s = finish(&b, info.samplerate, ch, opts, path, out, err);

done:
    free(blk);
    free(b.x);
    sf_close(sf);
    close(fd);
    return s;
}

/* --------------------------------------------------------------- raw */

static size_t pcm_bytes(es_pcm_format fmt)
{
    switch (fmt) {
    case ES_PCM_S8: case ES_PCM_U8: return 1;
    case ES_PCM_S16: return 2;
    case ES_PCM_S24: return 3;
    case ES_PCM_S32: case ES_PCM_F32: return 4;
    case ES_PCM_F64: return 8;
    }
    return 0;
}

/* One little-endian sample -> float in libsndfile's normalised scale
 * (integers divided by 2^(bits-1); floats as stored). Byte-by-byte so it is
 * independent of host endianness and alignment. */
static float pcm_decode(const unsigned char *p, es_pcm_format fmt)
{
    switch (fmt) {
    case ES_PCM_S8: return (float)(int8_t)p[0] / 128.0f;
    case ES_PCM_U8: return (float)((int)p[0] - 128) / 128.0f;
    case ES_PCM_S16: return (float)(int16_t)(uint16_t)(p[0] | (unsigned)p[1] << 8) / 32768.0f;
    case ES_PCM_S24: {
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
        int32_t v = (int32_t)(u ^ 0x800000u) - 0x800000;  /* sign-extend 24 bits */
        return (float)v / 8388608.0f;
    }
    case ES_PCM_S32: {
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        int32_t v = u <= INT32_MAX ? (int32_t)u : (int32_t)(u - 0x80000000u) - INT32_MAX - 1;
        return (float)((double)v / 2147483648.0);
    }
    case ES_PCM_F32: {
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    case ES_PCM_F64: {
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--) u = u << 8 | p[i];
        double d;
        memcpy(&d, &u, sizeof d);
        return (float)d;
    }
    }
    return 0.0f;
}

es_status es_audio_load_raw(FILE *f, const char *name, int rate, int channels,
                            es_pcm_format fmt, const es_load_opts *opts,
                            es_audio *out, es_error *err)
{
    name = name_or(name);
    if (out) memset(out, 0, sizeof *out);
    if (!f || !out)
        return es_fail(err, ES_ERR_ARG, "%s: %s is NULL", name, f ? "out" : "stream");
    size_t bps = pcm_bytes(fmt);
    if (bps == 0) return es_fail(err, ES_ERR_ARG, "%s: unknown PCM format %d", name, (int)fmt);
    if (!rate_ok(rate))
        return es_fail(err, ES_ERR_ARG, "%s: unsupported sample rate %d Hz (must be %d..%d)",
                       name, rate, RATE_MIN, RATE_MAX);
    if (channels < 1 || channels > CHANNELS_MAX)
        return es_fail(err, ES_ERR_ARG, "%s: unsupported channel count %d (must be 1..%d)",
                       name, channels, CHANNELS_MAX);

    size_t fbytes = bps * (size_t)channels;
    size_t bframes = BLOCK_FLOATS / (size_t)channels;
    size_t cap = bframes * fbytes;
    unsigned char *raw = malloc(cap);
    float *blk = malloc(bframes * (size_t)channels * sizeof(float));
    fbuf b = {0};
    es_status s = ES_OK;
    if (!raw || !blk) {
        s = es_fail(err, ES_ERR_NOMEM, "%s: out of memory", name);
        goto done;
    }

    size_t have = 0;  /* bytes in raw not yet converted (a partial frame) */
    for (;;) {
        size_t r = fread(raw + have, 1, cap - have, f);
        have += r;
        size_t frames = have / fbytes;
        if (frames > 0) {
            const unsigned char *p = raw;
            for (size_t i = 0; i < frames * (size_t)channels; i++, p += bps) blk[i] = pcm_decode(p, fmt);
            if (fbuf_reserve(&b, frames) != 0) {
                s = es_fail(err, ES_ERR_NOMEM, "%s: out of memory after %zu frames", name, b.n);
                goto done;
            }
            downmix_append(&b, blk, frames, channels);
            size_t used = frames * fbytes;
            memmove(raw, raw + used, have - used);
            have -= used;
        }
        if (r == 0) break;  /* fread only comes up empty at end of file or on error */
    }
    if (ferror(f)) {
        s = es_fail(err, ES_ERR_IO, "%s: read error after %zu frames: %s", name, b.n, strerror(errno));
        goto done;
    }
    if (have != 0) {
        s = es_fail(err, ES_ERR_FORMAT, "%s: truncated: %zu trailing bytes do not make a whole frame "
                    "(%zu bytes per frame)", name, have, fbytes);
        goto done;
    }
    if (b.n == 0) {
        s = es_fail(err, ES_ERR_FORMAT, "%s: contains no audio samples", name);
        goto done;
    }
    s = finish(&b, rate, channels, opts, name, out, err);

done:
    free(raw);
    free(blk);
    free(b.x);
    return s;
}

/* -------------------------------------------------------------- misc */

es_status es_audio_resample(const float *x, size_t n, int rate, float **out, size_t *out_n, es_error *err)
{
    if (!out || !out_n || (!x && n > 0))
        return es_fail(err, ES_ERR_ARG, "es_audio_resample: NULL argument");
    *out = NULL;
    *out_n = 0;
    if (!rate_ok(rate))
        return es_fail(err, ES_ERR_ARG, "resample: unsupported sample rate %d Hz (must be %d..%d)",
                       rate, RATE_MIN, RATE_MAX);
    return resample_impl(x, n, rate, out, out_n, NULL, err);
}

void es_audio_free(es_audio *a)
{
    if (!a) return;
    free(a->samples);
    memset(a, 0, sizeof *a);
}

es_status es_pcm_format_parse(const char *s, es_pcm_format *fmt)
{
    static const struct { const char *name; es_pcm_format fmt; } names[] = {
        {"s16", ES_PCM_S16}, {"s16le", ES_PCM_S16}, {"s8", ES_PCM_S8}, {"u8", ES_PCM_U8},
        {"s24", ES_PCM_S24}, {"s32", ES_PCM_S32}, {"f32", ES_PCM_F32}, {"float", ES_PCM_F32},
        {"f64", ES_PCM_F64}, {"double", ES_PCM_F64},
    };
    if (!s || !fmt) return ES_ERR_ARG;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *fmt = names[i].fmt;
            return ES_OK;
        }
    }
    return ES_ERR_ARG;
}
