/*
 * Audio input: decode files with libsndfile or raw PCM from a stream,
 * downmix to mono, resample to 16 kHz with libsamplerate and scale to int16
 * range (what the melspectrogram model expects).
 *
 * Everything goes through one block-wise reader (es_reader): a fixed-size
 * decode block, a fixed-size mono block and a streaming libsamplerate
 * state, so memory does not grow with the length of the input. The
 * whole-file loaders are the reader run to the end into a growing buffer,
 * so both give the same samples by construction.
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
#include <pthread.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Sample rates outside this range are almost surely a corrupt header, and
 * libsamplerate's ratio limit (1/256 .. 256) is comfortably inside it. */
#define RATE_MIN 1000
#define RATE_MAX 384000
/* libsndfile's own channel limit (SF_MAX_CHANNELS); also bounds raw input. */
#define CHANNELS_MAX 1024
/* The reader's decode block: READ_FRAMES frames, fewer for very many
 * channels so the block never exceeds BLOCK_FLOATS floats (256 KB). */
#define READ_FRAMES 4096
#define BLOCK_FLOATS 65536
/* Output samples asked of the resampler per call: keeps the counts within a
 * `long` on every platform whatever the caller's buffer size. */
#define SRC_PIECE ((size_t)1 << 20)
/* Samples the whole-file loaders ask of the reader per call. */
#define LOAD_BLOCK 65536
/* Largest initial allocation we derive from a header's frame count. Headers
 * lie (streamed WAVs say 0 or 0xffffffff), so beyond this we grow as we go. */
#define HINT_MAX ((size_t)1 << 22)

/* ------------------------------------------------------------ helpers */


/* libsndfile keeps the error of the last failed open in process-wide
 * storage (sf_strerror(NULL) reads it), and every open, reading or
 * writing, clears it first. So an open and the reading of its message must
 * not interleave with any other thread's open: files are decoded, and
 * WAVs written, on several threads at once (training, transcribe
 * --save-clips). Every sf_open* in the library takes this lock. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
void es_sndfile_lock(void) { pthread_mutex_lock(&open_lock); }
void es_sndfile_unlock(void) { pthread_mutex_unlock(&open_lock); }

/* ---------------------------------------------------------- truncation */

/* A WAV or AIFF file whose data chunk runs past the end of the file is a
 * recording cut short: a copy or download that stopped, a disk that filled.
 * libsndfile reads it without a word, trimming the frame count to what is
 * there (its log says "should be ..."), so a transcript of 0.1 s of a 165 s
 * file would look complete. We walk the container's chunks ourselves and
 * compare the data chunk's size with the bytes the file holds.
 *
 * Sizes that mean "unknown length" are not truncation: 0 and 0xffffffff
 * (streamed WAV), and anything from 0x7fff0000 up, the placeholders that
 * programs writing to a pipe put there (arecord, sox). The cost: a real
 * data chunk of 2 GB or more that was cut is not reported. */
#define SIZE_PLACEHOLDER 0x7fff0000u
#define CHUNKS_MAX 256

static uint32_t get32(const unsigned char *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* 1 if fd's data chunk is cut: *want = the bytes of audio data its header
 * promises, *have = the bytes the file holds. 0 for anything else,
 * including containers we do not know and chunk lists that make no sense
 * (libsndfile has the last word on those). */
static int data_chunk_cut(int fd, uint64_t fsize, uint64_t *want, uint64_t *have)
{
    unsigned char h[12];
    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h) return 0;
    int wave = !memcmp(h + 8, "WAVE", 4);
    int riff = wave && !memcmp(h, "RIFF", 4);
    int rifx = wave && !memcmp(h, "RIFX", 4);
    int rf64 = wave && (!memcmp(h, "RF64", 4) || !memcmp(h, "BW64", 4));
    int aiff = !memcmp(h, "FORM", 4) && (!memcmp(h + 8, "AIFF", 4) || !memcmp(h + 8, "AIFC", 4));
    if (!riff && !rifx && !rf64 && !aiff) return 0;
    int be = rifx || aiff;
    uint64_t ds64 = 0, off = 12;
    for (int i = 0; i < CHUNKS_MAX && off + 8 <= fsize; i++) {
        unsigned char c[8];
        if (pread(fd, c, sizeof c, (off_t)off) != (ssize_t)sizeof c) return 0;
        uint32_t len = get32(c + 4, be);
        uint64_t body = off + 8;
        if (rf64 && !memcmp(c, "ds64", 4) && len >= 16) {
            /* RF64: riff size (8 bytes), then the data size (8 bytes) */
            unsigned char d[8];
            if (pread(fd, d, sizeof d, (off_t)(body + 8)) != (ssize_t)sizeof d) return 0;
            ds64 = (uint64_t)get32(d + 4, 0) << 32 | get32(d, 0);
        }
        if (!aiff && !memcmp(c, "data", 4)) {
            uint64_t n = len;
            if (rf64 && len == 0xffffffffu) n = ds64;
            else if (len == 0 || len >= SIZE_PLACEHOLDER) return 0;
            if (n == 0 || body + n <= fsize) return 0;
            *want = n;
            *have = fsize - body;
            return 1;
        }
        if (aiff && !memcmp(c, "SSND", 4)) {
            /* the chunk opens with 8 bytes (offset, block size) */
            if (len <= 8 || len >= SIZE_PLACEHOLDER || body + len <= fsize) return 0;
            *want = len - 8;
            *have = fsize > body + 8 ? fsize - body - 8 : 0;
            return 1;
        }
        off = body + len + (len & 1);   /* chunks are padded to even sizes */
    }
    return 0;
}
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
 * mono int16-scale samples o[0..frames). The sum runs in double so a mono
 * signal comes out bit-identical (x * 32768 is exact) and averaging many
 * channels loses nothing. */
static void downmix(float *o, const float *in, size_t frames, int ch)
{
    if (ch == 1) {
        for (size_t i = 0; i < frames; i++) o[i] = in[i] * 32768.0f;
    } else {
        for (size_t i = 0; i < frames; i++) {
            double s = 0.0;
            for (int c = 0; c < ch; c++) s += in[i * (size_t)ch + (size_t)c];
            o[i] = (float)(s / ch * 32768.0);
        }
    }
}

/* Round to whole int16 values as openWakeWord's int16 input would be:
 * round half to even (like numpy.rint), clamp to the int16 range. NaN
 * (none reaches here from a file: scrub_nonfinite) becomes 0 rather than
 * poisoning the front end. */
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

/* ------------------------------------------------------------ reader */

struct es_reader {
    char *name;             /* file name or stream label, for messages */
    /* source: a file through libsndfile, or raw PCM from a caller's FILE */
    int fd;                 /* ours; libsndfile does not own it (-1 for raw) */
    SNDFILE *sf;
    FILE *f;                /* the caller's stream (not closed here) */
    es_pcm_format fmt;
    size_t fbytes;          /* raw bytes per frame */
    unsigned char *raw;     /* raw bytes read, [bframes * fbytes] */
    size_t raw_have;        /* bytes in raw not yet converted (a partial frame) */
    uint64_t raw_left;      /* bytes of data the stream's WAV header declares still to come
                             * (UINT64_MAX: to the end of the stream) */
    uint64_t raw_declared;  /* ... in all, 0 when no size was declared */
    int rate, channels;
    double duration;
    long long bytes;        /* the file's size, -1 when not a regular file */
    int quantize;
    int warned_nonfinite;   /* scrub_nonfinite has reported this input */
    size_t bframes;         /* frames per decode block */
    float *blk;             /* decoded interleaved block, [bframes][channels] */
    float *mono;            /* downmixed block, [bframes] */
    size_t mono_n, mono_pos;  /* samples in mono / already passed on */
    SRC_STATE *src;         /* NULL at 16 kHz: samples pass through untouched */
    double ratio;
    size_t frames_in;       /* source frames decoded so far */
    size_t produced;        /* 16 kHz samples handed out so far */
    int eof;                /* the source has no more frames */
    int done;               /* ... and the resampler's tail is flushed */
    es_status failed;       /* sticky: a reader that failed keeps failing */
    es_error fail;
};

/* Record a failure in the reader (later reads repeat it) and in err. */
static es_status rfail(es_reader *r, es_error *err, es_status status, const char *fmt, ...) ES_PRINTF(4, 5);
static es_status rfail(es_reader *r, es_error *err, es_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fail.msg, sizeof r->fail.msg, fmt, ap);
    va_end(ap);
    r->fail.status = status;
    r->failed = status;
    if (err) *err = r->fail;
    return status;
}

void es_reader_close(es_reader *r)
{
    if (!r) return;
    if (r->src) src_delete(r->src);
    if (r->sf) sf_close(r->sf);
    if (r->fd >= 0) close(r->fd);
    free(r->raw);
    free(r->blk);
    free(r->mono);
    free(r->name);
    free(r);
}

es_status es_reader_set_resample(es_reader *r, es_resample_quality q, es_error *err)
{
    if (!r || q < ES_RESAMPLE_BEST || q > ES_RESAMPLE_FASTEST) return es_fail(err, ES_ERR_ARG, "es_reader_set_resample: invalid arguments");
    if (r->frames_in || r->produced)
        return es_fail(err, ES_ERR_ARG, "%s: the resampler can only change before the first read", r->name);
    if (!r->src) return ES_OK;   /* already 16 kHz */
    int e = 0;
    SRC_STATE *st = src_new(q == ES_RESAMPLE_BEST ? SRC_SINC_BEST_QUALITY
                            : q == ES_RESAMPLE_MEDIUM ? SRC_SINC_MEDIUM_QUALITY : SRC_SINC_FASTEST, 1, &e);
    if (!st) return es_fail(err, ES_ERR_NOMEM, "%s: cannot create resampler: %s", r->name, src_strerror(e));
    src_delete(r->src);
    r->src = st;
    return ES_OK;
}

static es_reader *reader_new(const char *name, es_error *err)
{
    es_reader *r = calloc(1, sizeof *r);
    if (!r) {
        es_fail(err, ES_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    r->fd = -1;
    r->raw_left = UINT64_MAX;
    r->duration = -1;
    r->bytes = -1;
    if (!(r->name = strdup(name))) {
        free(r);
        es_fail(err, ES_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    return r;
}

/* Buffers and resampler for a source of `rate` Hz and `ch` channels (both
 * already checked). Returns 0, or -1 after filling err (r is then closed by
 * the caller). */
static int reader_setup(es_reader *r, int rate, int ch, const es_load_opts *opts, es_error *err)
{
    r->rate = rate;
    r->channels = ch;
    /* NULL: the defaults (es_load_opts_default), which round */
    r->quantize = opts ? opts->quantize_int16 != 0 : 1;
    r->bframes = BLOCK_FLOATS / (size_t)ch;  /* >= 64 since ch <= 1024 */
    if (r->bframes > READ_FRAMES) r->bframes = READ_FRAMES;
    r->blk = malloc(r->bframes * (size_t)ch * sizeof(float));
    r->mono = malloc(r->bframes * sizeof(float));
    if (!r->blk || !r->mono) {
        es_fail(err, ES_ERR_NOMEM, "%s: out of memory", r->name);
        return -1;
    }
    if (rate != ES_SAMPLE_RATE) {
        int e = 0;
        r->ratio = (double)ES_SAMPLE_RATE / rate;
        r->src = src_new(SRC_SINC_BEST_QUALITY, 1, &e);
        if (!r->src) {
            es_fail(err, ES_ERR_NOMEM, "%s: cannot create resampler: %s", r->name, src_strerror(e));
            return -1;
        }
    }
    return 0;
}

void es_load_opts_default(es_load_opts *o)
{
    if (o) o->quantize_int16 = 1;
}

es_reader *es_reader_open(const char *path, const es_load_opts *opts, es_error *err)
{
    if (!path) {
        es_fail(err, ES_ERR_ARG, "es_reader_open: path is NULL");
        return NULL;
    }
    /* Open the file ourselves and hand libsndfile the descriptor: errors then
     * come from the OS with errno (permission, not found), a directory is
     * caught before libsndfile calls it "format not recognised", and a file
     * literally named "-" is not taken for stdin as sf_open would. */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        es_fail(err, ES_ERR_IO, "%s: is a directory", path);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        es_fail(err, ES_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    es_reader *r = reader_new(path, err);
    if (!r) {
        close(fd);
        return NULL;
    }
    r->fd = fd;
    if (fstat(fd, &st) != 0) {
        es_fail(err, ES_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        es_fail(err, ES_ERR_IO, "%s: is a directory", path);
        goto fail;
    }
    if (S_ISREG(st.st_mode)) r->bytes = (long long)st.st_size;
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        es_fail(err, ES_ERR_FORMAT, "%s: empty file (0 bytes)", path);
        goto fail;
    }

    SF_INFO info;
    memset(&info, 0, sizeof info);
    /* libsndfile gets a descriptor of its own, which it closes. libsndfile
     * 1.2.0 closes the descriptor it is given when the open fails, whatever
     * close_desc says (strace: a non-audio file's, or a WAV's with zero
     * channels, closed inside sf_open_fd with SF_FALSE), and
     * es_reader_close closed it a second time. Between the two closes
     * another thread's open could be given the same number, and earshot
     * then closed that thread's file: parallel transcription or training
     * with one unreadable input broke other files' reads and WAV writes
     * ("Bad file descriptor"). With a copy and SF_TRUE, libsndfile owns
     * its copy on every path of every version (a copy is only leaked if
     * libsndfile cannot allocate its state); fd stays earshot's, read with
     * pread only (data_chunk_cut), so the shared offset does not matter. */
    int sfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (sfd < 0) {
        es_fail(err, ES_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    /* the open and its message under the lock (es_sndfile_lock) */
    es_sndfile_lock();
    r->sf = sf_open_fd(sfd, SFM_READ, &info, SF_TRUE);
    if (!r->sf) {
        const char *other = es_audio_name_other(path);
        if (other)
            es_fail(err, ES_ERR_FORMAT, "%s: not a readable audio file: %s (earshot does not read .%s files: convert "
                    "it to WAV or FLAC, e.g. ffmpeg -i IN.%s -ac 1 OUT.wav)", path, sf_strerror(NULL), other, other);
        else
            es_fail(err, ES_ERR_FORMAT, "%s: not a readable audio file: %s", path, sf_strerror(NULL));
        es_sndfile_unlock();
        goto fail;
    }
    es_sndfile_unlock();
    if (info.channels < 1 || info.channels > CHANNELS_MAX) {
        es_fail(err, ES_ERR_FORMAT, "%s: unsupported channel count %d", path, info.channels);
        goto fail;
    }
    if (!rate_ok(info.samplerate)) {
        es_fail(err, ES_ERR_FORMAT, "%s: unsupported sample rate %d Hz (must be %d..%d)",
                path, info.samplerate, RATE_MIN, RATE_MAX);
        goto fail;
    }
    /* Normalised floats are the default; say so, since the x32768 scaling
     * above depends on it. */
    sf_command(r->sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);
    /* The header's frame count, when it has a plausible one. Streamed files
     * say 0 or the maximum; either way it is only ever a hint. */
    if (info.frames > 0 && info.frames < SF_COUNT_MAX)
        r->duration = (double)info.frames / info.samplerate;
    uint64_t want, have;
    if (S_ISREG(st.st_mode) && data_chunk_cut(fd, (uint64_t)st.st_size, &want, &have)) {
        /* libsndfile's frame count is what the file holds; the header's
         * promise in seconds follows from the same bytes per second. */
        if (have && info.frames > 0 && info.frames < SF_COUNT_MAX)
            es_warn("%s: truncated: its header promises %.2f s of audio, the file holds %.2f s; reading what is there",
                    path, (double)info.frames / info.samplerate * ((double)want / (double)have),
                    (double)info.frames / info.samplerate);
        else
            es_warn("%s: truncated: its header promises %llu bytes of audio, the file holds %llu",
                    path, (unsigned long long)want, (unsigned long long)have);
    }
    if (reader_setup(r, info.samplerate, info.channels, opts, err) != 0) goto fail;
    return r;

fail:
    es_reader_close(r);
    return NULL;
}

es_reader *es_reader_open_raw(FILE *f, const char *name, int rate, int channels, es_pcm_format fmt,
                              const es_load_opts *opts, es_error *err)
{
    name = name_or(name);
    if (!f) {
        es_fail(err, ES_ERR_ARG, "%s: stream is NULL", name);
        return NULL;
    }
    size_t bps = pcm_bytes(fmt);
    if (bps == 0) {
        es_fail(err, ES_ERR_ARG, "%s: unknown PCM format %d", name, (int)fmt);
        return NULL;
    }
    if (!rate_ok(rate)) {
        es_fail(err, ES_ERR_ARG, "%s: unsupported sample rate %d Hz (must be %d..%d)",
                name, rate, RATE_MIN, RATE_MAX);
        return NULL;
    }
    if (channels < 1 || channels > CHANNELS_MAX) {
        es_fail(err, ES_ERR_ARG, "%s: unsupported channel count %d (must be 1..%d)",
                name, channels, CHANNELS_MAX);
        return NULL;
    }
    es_reader *r = reader_new(name, err);
    if (!r) return NULL;
    r->f = f;
    r->fmt = fmt;
    r->fbytes = bps * (size_t)channels;
    if (reader_setup(r, rate, channels, opts, err) != 0) {
        es_reader_close(r);
        return NULL;
    }
    if (!(r->raw = malloc(r->bframes * r->fbytes))) {
        es_fail(err, ES_ERR_NOMEM, "%s: out of memory", name);
        es_reader_close(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------- a stream's header */

/* What a pipe holds when it is not raw PCM. ffmpeg and sox write WAV to a
 * pipe (-f wav -, -t wav -), which is read here; the other containers a
 * pipe commonly carries are named, so that their bytes are not played as
 * raw samples: noise at the wrong rate, with exit status 0. Each magic is
 * 4 bytes or more at the start, which raw speech does not begin with. */
static const char *stream_container(const unsigned char *b, size_t n)
{
    if (n >= 4 && !memcmp(b, "fLaC", 4)) return "FLAC";
    if (n >= 4 && !memcmp(b, "OggS", 4)) return "Ogg";
    if (n >= 12 && !memcmp(b, "FORM", 4) && (!memcmp(b + 8, "AIFF", 4) || !memcmp(b + 8, "AIFC", 4))) return "AIFF";
    if (n >= 12 && !memcmp(b, "RIFX", 4) && !memcmp(b + 8, "WAVE", 4)) return "big-endian WAV (RIFX)";
    if (n >= 4 && !memcmp(b, "caff", 4)) return "CAF";
    if (n >= 4 && !memcmp(b, ".snd", 4)) return "Sun AU";
    if (n >= 4 && !memcmp(b, "ID3", 3) && b[3] >= 2 && b[3] <= 4) return "MP3";
    return NULL;
}

static uint32_t le32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static unsigned le16(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

/* n bytes of the stream into b (NULL: discarded); 0, or -1 at its end */
static int stream_take(FILE *f, unsigned char *b, uint64_t n)
{
    unsigned char junk[4096];
    while (n > 0) {
        size_t k = n < sizeof junk ? (size_t)n : sizeof junk;
        if (fread(b ? b : junk, 1, k, f) != k) return -1;
        if (b) b += k;
        n -= k;
    }
    return 0;
}

/* The WAV header after "RIFF" size "WAVE" (12 bytes, read): its chunks up
 * to "data", whose first byte is the stream's next. Fills the format and
 * *declared (the data's size, 0 when the header does not know it: ffmpeg
 * writes 0xFFFFFFFF to a pipe; RF64 writes that too and keeps the size in
 * its "ds64" chunk). Returns 0, or -1 after filling err. */
static int wav_stream_header(FILE *f, const char *name, int *rate, int *channels, es_pcm_format *fmt,
                             uint64_t *declared, es_error *err)
{
    int have_fmt = 0;
    uint64_t ds64 = 0;   /* RF64's data size, 0 if none */
    for (;;) {
        unsigned char h[8];
        if (stream_take(f, h, 8)) {
            if (ferror(f)) es_fail(err, ES_ERR_IO, "%s: read error in the WAV header: %s", name, strerror(errno));
            else es_fail(err, ES_ERR_FORMAT, "%s: the WAV stream ends before its %s chunk", name, have_fmt ? "data" : "fmt");
            return -1;
        }
        uint32_t size = le32(h + 4);
        if (!memcmp(h, "data", 4)) {
            if (!have_fmt) {
                es_fail(err, ES_ERR_FORMAT, "%s: the WAV stream's data chunk comes before its fmt chunk", name);
                return -1;
            }
            *declared = size == 0xFFFFFFFFu ? (ds64 == UINT64_MAX ? 0 : ds64) : size;
            return 0;
        }
        uint64_t skip = (uint64_t)size + (size & 1);   /* chunks are padded to an even size */
        if (!memcmp(h, "ds64", 4) && size >= 16) {
            unsigned char b[16];
            if (stream_take(f, b, 16)) {
                es_fail(err, ES_ERR_FORMAT, "%s: the WAV stream ends inside its ds64 chunk", name);
                return -1;
            }
            skip -= 16;
            ds64 = (uint64_t)le32(b + 8) | (uint64_t)le32(b + 12) << 32;
        }
        if (!memcmp(h, "fmt ", 4)) {
            unsigned char b[40] = {0};
            if (size < 16 || have_fmt) {
                es_fail(err, ES_ERR_FORMAT, "%s: WAV stream: %s", name, have_fmt ? "two fmt chunks" : "fmt chunk shorter than 16 bytes");
                return -1;
            }
            size_t k = size < sizeof b ? size : sizeof b;
            if (stream_take(f, b, k)) {
                es_fail(err, ES_ERR_FORMAT, "%s: the WAV stream ends inside its fmt chunk", name);
                return -1;
            }
            skip -= k;
            unsigned tag = le16(b), ch = le16(b + 2), align = le16(b + 12), bits = le16(b + 14);
            uint32_t hz = le32(b + 4);
            if (tag == 0xFFFE && k >= 26) tag = le16(b + 24);   /* WAVE_FORMAT_EXTENSIBLE: the subformat's */
            if (ch < 1 || ch > CHANNELS_MAX) {
                es_fail(err, ES_ERR_FORMAT, "%s: WAV stream: unsupported channel count %u", name, ch);
                return -1;
            }
            if (hz > INT_MAX || !rate_ok((int)hz)) {
                es_fail(err, ES_ERR_FORMAT, "%s: WAV stream: unsupported sample rate %lu Hz (must be %d..%d)", name,
                        (unsigned long)hz, RATE_MIN, RATE_MAX);
                return -1;
            }
            /* the container's bytes per sample, from the block size: 24
             * valid bits in 32-bit words read as 32-bit samples */
            unsigned bytes = align % ch == 0 ? align / ch : 0;
            int ok = 1;
            if (tag == 1 && bytes == 1) *fmt = ES_PCM_U8;        /* 8-bit WAV is unsigned */
            else if (tag == 1 && bytes == 2) *fmt = ES_PCM_S16;
            else if (tag == 1 && bytes == 3) *fmt = ES_PCM_S24;
            else if (tag == 1 && bytes == 4) *fmt = ES_PCM_S32;
            else if (tag == 3 && bytes == 4) *fmt = ES_PCM_F32;
            else if (tag == 3 && bytes == 8) *fmt = ES_PCM_F64;
            else ok = 0;
            if (!ok || bits > 8 * bytes || bits == 0) {
                es_fail(err, ES_ERR_FORMAT, "%s: WAV stream: encoding %u with %u-bit samples in %u-byte blocks is not "
                        "read from a pipe (integer PCM of 8 to 32 bits and 32- or 64-bit float are); give the file's "
                        "name instead, or convert it: ffmpeg -i IN -f wav -", name, tag, bits, align);
                return -1;
            }
            *rate = (int)hz;
            *channels = (int)ch;
            have_fmt = 1;
        }
        if (stream_take(f, NULL, skip)) {
            es_fail(err, ES_ERR_FORMAT, "%s: the WAV stream ends inside a %.4s chunk", name, (const char *)h);
            return -1;
        }
    }
}

es_reader *es_reader_open_stream(FILE *f, const char *name, int rate, int channels, es_pcm_format fmt,
                                 const es_load_opts *opts, int *was_wav, es_error *err)
{
    name = name_or(name);
    if (was_wav) *was_wav = 0;
    if (!f) {
        es_fail(err, ES_ERR_ARG, "%s: stream is NULL", name);
        return NULL;
    }
    unsigned char b[12];
    size_t n = fread(b, 1, sizeof b, f);
    if (n < sizeof b && ferror(f)) {
        es_fail(err, ES_ERR_IO, "%s: read error: %s", name, strerror(errno));
        return NULL;
    }
    uint64_t declared = 0;
    int wav = n == 12 && (!memcmp(b, "RIFF", 4) || !memcmp(b, "RF64", 4)) && !memcmp(b + 8, "WAVE", 4);
    if (wav) {
        if (wav_stream_header(f, name, &rate, &channels, &fmt, &declared, err)) return NULL;
    } else {
        const char *other = stream_container(b, n);
        if (other) {
            es_fail(err, ES_ERR_FORMAT, "%s: holds %s data; from a pipe earshot reads WAV or raw PCM: give the "
                    "file's name instead, or convert it: ffmpeg -i IN -f wav -", name, other);
            return NULL;
        }
    }
    es_reader *r = es_reader_open_raw(f, name, rate, channels, fmt, opts, err);
    if (!r) return NULL;
    if (wav) {
        r->raw_declared = declared;
        if (declared) r->raw_left = declared;
    } else {
        /* raw: the bytes looked at are its first */
        memcpy(r->raw, b, n);
        r->raw_have = n;
    }
    if (was_wav) *was_wav = wav;
    return r;
}

int es_reader_rate(const es_reader *r) { return r ? r->rate : 0; }
int es_reader_channels(const es_reader *r) { return r ? r->channels : 0; }
double es_reader_duration(const es_reader *r) { return r ? r->duration : -1; }

/* NaN and infinity are not sound (a float file from a buggy writer): each
 * becomes 0 here, before the downmix and the resampler, so one of them
 * changes its own sample only (through the resampler's filter a NaN would
 * spoil the whole span around it) and callers that keep floats raw never
 * see one. The first is reported once per input, with its time in the
 * source: a silent 0 would hide a broken file. */
static void scrub_nonfinite(es_reader *r, size_t frames)
{
    size_t n = frames * (size_t)r->channels;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(r->blk[i])) continue;
        r->blk[i] = 0.0f;
        if (!r->warned_nonfinite) {
            r->warned_nonfinite = 1;
            es_warn("%s: NaN or infinite samples (the first at %.2f s) are read as 0", r->name,
                    (double)(r->frames_in + i / (size_t)r->channels) / r->rate);
        }
    }
}

/* Decode the next block into r->mono, or set r->eof. */
static es_status refill(es_reader *r, es_error *err)
{
    r->mono_n = r->mono_pos = 0;
    if (r->sf) {
        sf_count_t got = sf_readf_float(r->sf, r->blk, (sf_count_t)r->bframes);
        if (got <= 0) {
            /* A short read is normally end of file; a decoder error shows here. */
            if (sf_error(r->sf) != SF_ERR_NO_ERROR)
                return rfail(r, err, ES_ERR_FORMAT, "%s: decoding failed after %zu frames: %s",
                             r->name, r->frames_in, sf_strerror(r->sf));
            r->eof = 1;
            return ES_OK;
        }
        scrub_nonfinite(r, (size_t)got);
        downmix(r->mono, r->blk, (size_t)got, r->channels);
        r->mono_n = (size_t)got;
        r->frames_in += (size_t)got;
        return ES_OK;
    }

    /* Raw: read until there is a whole frame, or the stream ends. */
    size_t cap = r->bframes * r->fbytes, bps = r->fbytes / (size_t)r->channels;
    for (;;) {
        size_t want = cap - r->raw_have;
        if ((uint64_t)want > r->raw_left) want = (size_t)r->raw_left;
        size_t got = want ? fread(r->raw + r->raw_have, 1, want, r->f) : 0;
        if (r->raw_left != UINT64_MAX) r->raw_left -= got;
        r->raw_have += got;
        size_t frames = r->raw_have / r->fbytes;
        if (frames > 0) {
            const unsigned char *p = r->raw;
            for (size_t i = 0; i < frames * (size_t)r->channels; i++, p += bps) r->blk[i] = pcm_decode(p, r->fmt);
            scrub_nonfinite(r, frames);
            downmix(r->mono, r->blk, frames, r->channels);
            size_t used = frames * r->fbytes;
            memmove(r->raw, r->raw + used, r->raw_have - used);
            r->raw_have -= used;
            r->mono_n = frames;
            r->frames_in += frames;
            return ES_OK;
        }
        if (got == 0) break;  /* fread only comes up empty at end of file or on error */
    }
    if (ferror(r->f))
        return rfail(r, err, ES_ERR_IO, "%s: read error after %zu frames: %s", r->name, r->frames_in,
                     strerror(errno));
    if (r->raw_have != 0)
        return rfail(r, err, ES_ERR_FORMAT, "%s: truncated: %zu trailing bytes do not make a whole frame "
                     "(%zu bytes per frame)", r->name, r->raw_have, r->fbytes);
    if (r->raw_declared && r->raw_left && r->raw_left != UINT64_MAX)
        es_warn("%s: truncated: its WAV header promises %llu bytes of audio, the stream held %llu; reading what "
                "was there", r->name, (unsigned long long)r->raw_declared,
                (unsigned long long)(r->raw_declared - r->raw_left));
    r->eof = 1;
    return ES_OK;
}

es_status es_reader_read(es_reader *r, float *out, size_t max, size_t *got, es_error *err)
{
    if (got) *got = 0;
    /* max = 0 is refused: *got = 0 must always mean the end of the input. */
    if (!r || !out || !got || max == 0)
        return es_fail(err, ES_ERR_ARG, "es_reader_read: invalid arguments");
    if (r->failed) {
        if (err) *err = r->fail;
        return r->failed;
    }
    size_t n = 0;
    es_status s;
    while (n < max && !r->done) {
        if (r->mono_pos == r->mono_n && !r->eof) {
            if ((s = refill(r, err))) return s;
            continue;
        }
        size_t room = max - n;
        if (!r->src) {
            /* 16 kHz: bit-identical to the source, no resampler involved. */
            size_t k = r->mono_n - r->mono_pos;
            if (k == 0) {  /* only at end of input */
                r->done = 1;
                break;
            }
            if (k > room) k = room;
            memcpy(out + n, r->mono + r->mono_pos, k * sizeof(float));
            r->mono_pos += k;
            n += k;
            continue;
        }
        /* Streaming libsamplerate: end_of_input only once the source is
         * exhausted; then keep calling until the converter's tail is
         * flushed (a call that yields nothing). */
        SRC_DATA d;
        memset(&d, 0, sizeof d);
        d.data_in = r->mono + r->mono_pos;
        d.input_frames = (long)(r->mono_n - r->mono_pos);
        d.data_out = out + n;
        d.output_frames = (long)(room < SRC_PIECE ? room : SRC_PIECE);
        d.end_of_input = r->eof;
        d.src_ratio = r->ratio;
        int e = src_process(r->src, &d);
        if (e)
            return rfail(r, err, ES_ERR_FORMAT, "%s: resampling from %d Hz failed: %s", r->name, r->rate,
                         src_strerror(e));
        if (d.input_frames_used == 0 && d.output_frames_gen == 0) {
            if (r->eof && r->mono_pos == r->mono_n) {
                r->done = 1;
                break;
            }
            /* Cannot happen with input and output room; never spin forever. */
            return rfail(r, err, ES_ERR_FORMAT, "%s: resampler from %d Hz made no progress", r->name, r->rate);
        }
        r->mono_pos += (size_t)d.input_frames_used;
        n += (size_t)d.output_frames_gen;
    }
    if (r->quantize) quantize_int16(out, n);
    r->produced += n;
    if (r->done && r->produced == 0) {
        /* A cut Ogg Vorbis file lands here: libsndfile 1.2 reads none of
         * it, however much of the file is there. */
        if (r->frames_in == 0 && r->bytes > 0)
            return rfail(r, err, ES_ERR_FORMAT, "%s: contains no audio samples (a file of %lld bytes: cut short or damaged?)",
                         r->name, r->bytes);
        if (r->frames_in == 0) return rfail(r, err, ES_ERR_FORMAT, "%s: contains no audio samples", r->name);
        return rfail(r, err, ES_ERR_FORMAT, "%s: too short: %zu samples at %d Hz give no samples at 16 kHz",
                     r->name, r->frames_in, r->rate);
    }
    *got = n;
    return ES_OK;
}

/* ------------------------------------------------------- whole inputs */

/* Read r to the end into out; closes r. */
static es_status load_all(es_reader *r, es_audio *out, es_error *err)
{
    fbuf b = {0};
    es_status s = ES_OK;
    /* The header's length is only a hint for the first allocation. */
    double dur = es_reader_duration(r);
    if (dur > 0) {
        double want = dur * ES_SAMPLE_RATE + 64;
        size_t hint = want < (double)HINT_MAX ? (size_t)want : HINT_MAX;
        if (fbuf_reserve(&b, hint) != 0) {
            s = es_fail(err, ES_ERR_NOMEM, "%s: out of memory", r->name);
            goto done;
        }
    }
    for (;;) {
        if (fbuf_reserve(&b, LOAD_BLOCK) != 0) {
            s = es_fail(err, ES_ERR_NOMEM, "%s: out of memory after %zu samples", r->name, b.n);
            goto done;
        }
        size_t got;
        if ((s = es_reader_read(r, b.x + b.n, b.cap - b.n, &got, err))) goto done;
        if (got == 0) break;
        b.n += got;
    }
    float *p = realloc(b.x, b.n * sizeof(float));  /* shrink to fit; keep b.x if it fails */
    out->samples = p ? p : b.x;
    out->n = b.n;
    out->src_rate = r->rate;
    out->src_channels = r->channels;
    b.x = NULL;
done:
    free(b.x);
    es_reader_close(r);
    return s;
}

es_status es_audio_load(const char *path, const es_load_opts *opts, es_audio *out, es_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out)
        return es_fail(err, ES_ERR_ARG, "es_audio_load: %s is NULL", path ? "out" : "path");
    es_error tmp;  /* the status survives even when the caller passes no err */
    es_error *e = err ? err : &tmp;
    es_reader *r = es_reader_open(path, opts, e);
    if (!r) return e->status;
    return load_all(r, out, err);
}

/* es_audio_load_raw and es_audio_load_stream: the stream opened by one or
 * the other, then read whole */
static es_status load_stream(int raw, FILE *f, const char *name, int rate, int channels, es_pcm_format fmt,
                             const es_load_opts *opts, es_audio *out, es_error *err)
{
    name = name_or(name);
    if (out) memset(out, 0, sizeof *out);
    if (!f || !out)
        return es_fail(err, ES_ERR_ARG, "%s: %s is NULL", name, f ? "out" : "stream");
    es_error tmp;
    es_error *e = err ? err : &tmp;
    es_reader *r = raw ? es_reader_open_raw(f, name, rate, channels, fmt, opts, e)
                       : es_reader_open_stream(f, name, rate, channels, fmt, opts, NULL, e);
    if (!r) return e->status;
    return load_all(r, out, err);
}

es_status es_audio_load_raw(FILE *f, const char *name, int rate, int channels,
                            es_pcm_format fmt, const es_load_opts *opts,
                            es_audio *out, es_error *err)
{
    return load_stream(1, f, name, rate, channels, fmt, opts, out, err);
}

es_status es_audio_load_stream(FILE *f, const char *name, int rate, int channels, es_pcm_format fmt,
                               const es_load_opts *opts, es_audio *out, es_error *err)
{
    return load_stream(0, f, name, rate, channels, fmt, opts, out, err);
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

double es_audio_peak_dbfs(const float *x, size_t n)
{
    const size_t F = ES_SAMPLE_RATE / 100;
    double best = 0;
    if (!x) return -INFINITY;
    if (n < F) {
        for (size_t i = 0; i < n; i++) best += (double)x[i] * x[i];
        best = n ? best / (double)n : 0;
    }
    /* frames of 10 ms at 5 ms steps, so a short click between two frames still counts */
    for (size_t a = 0; a + F <= n; a += F / 2) {
        double e = 0;
        for (size_t i = 0; i < F; i++) e += (double)x[a + i] * x[a + i];
        if (e / (double)F > best) best = e / (double)F;
    }
    return best > 0 ? 10.0 * log10(best / (32768.0 * 32768.0)) : -INFINITY;
}

/* ------------------------------------------------------ file names */

/* The formats libsndfile 1.2 reads, by the extensions their files carry:
 * folders of recordings (datasets, transcribe's folder walk) are read by
 * these, so a README or an image in the folder is not taken for audio. */
static const char *const READ_EXT[] = {"wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aiff", "aif",
                                       "aifc", "au", "snd", "caf", "w64", "rf64"};
/* Common audio and video formats it does not read (AAC in MP4, WMA, AMR,
 * WavPack, Monkey's Audio, video containers): a file with one of these
 * names was meant as a recording, so leaving it out must be said. */
static const char *const OTHER_EXT[] = {"m4a", "m4b", "aac", "mp4", "wma", "amr", "3gp", "webm", "mka", "mkv",
                                        "mov", "avi", "ape", "wv", "ac3", "ra"};

/* The extension of name if it is one of list (case-insensitive), else NULL;
 * a name that is only an extension (".wav", a hidden file) has none. */
static const char *ext_in(const char *name, const char *const *list, size_t n)
{
    const char *slash = strrchr(name, '/'), *base = slash ? slash + 1 : name, *dot = strrchr(base, '.');
    if (!dot || dot == base) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!es_ascii_casecmp(dot + 1, list[i])) return list[i];
    return NULL;
}

size_t es_audio_name_stem(const char *name)
{
    if (!name || !ext_in(name, READ_EXT, sizeof READ_EXT / sizeof *READ_EXT)) return 0;
    return (size_t)(strrchr(name, '.') - name);
}

const char *es_audio_name_other(const char *name)
{
    return name ? ext_in(name, OTHER_EXT, sizeof OTHER_EXT / sizeof *OTHER_EXT) : NULL;
}

void es_audio_warn_other(const char *where, size_t n, const char *example)
{
    if (!n || !example) return;
    const char *ext = es_audio_name_other(example);
    es_warn("%s%sleft out %zu file%s in a format earshot does not read (by %s name: e.g. %s); convert %s to WAV or FLAC, "
            "e.g. ffmpeg -i IN.%s -ac 1 OUT.wav", where ? where : "", where ? ": " : "", n, n == 1 ? "" : "s",
            n == 1 ? "its" : "their", example, n == 1 ? "it" : "them", ext ? ext : "m4a");
}

void es_audio_warn_special(const char *where, size_t n, const char *example)
{
    if (!n || !example) return;
    /* where NULL: the folders of a command line (transcribe's inputs) */
    es_warn("%s%sleft out %zu entr%s%s with an audio name that %s not a regular file (a FIFO, a device or a socket), "
            "e.g. %s", where ? where : "", where ? ": " : "", n, n == 1 ? "y" : "ies", where ? "" : " of folders",
            n == 1 ? "is" : "are", example);
}
