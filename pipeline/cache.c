/*
 * pipeline/cache.c — the on-disk embedding cache (see cache.h).
 *
 * Thread safety, checked against the code it calls: es_audio_load keeps
 * all state in its own reader (libsndfile and libsamplerate handles are
 * per call); es_embed_audio in whole-clip mode allocates its buffers per
 * call, es_mel_compute allocates a KissFFT config per part (the config
 * holds scratch, so it must not be shared) and only reads the es_mel;
 * es_encoder_full creates an es_encoder_stream (all per-layer buffers) per
 * part and only reads the es_encoder's weights; OpenBLAS is kept to one
 * thread and is called from several threads by the encoder already.
 * es_threads() initialises a process-wide count lazily, so es_cache_open
 * calls it once before any worker can. What the cache itself shares is
 * read-only after open, except the write lock and the failure counter.
 */
#include "cache.h"
#include "../model/onnx.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WRITE_LOCKS 16

struct es_cache {
    char *dir;
    es_engine *eng;
    es_embed_mode mode;            /* front-end mode of the stored embeddings */
    double warp;                   /* front-end frequency warp (0 = none) */
    unsigned char enc_sha[32], mel_sha[32];
    /* es_write_atomic names its temporary file <path>.tmp.<tag>: two
     * threads storing the same key (two copies of one clip) would share it.
     * So writes of one key take turns: a lock per key prefix. One lock for
     * all would serialise every write across threads. */
    pthread_mutex_t write_lock[WRITE_LOCKS];
    pthread_mutex_t lock;          /* guards the failure count and message, and the memo */
    size_t write_failures;
    char first_failure[512];
    /* The SHA-256 of every audio file hashed since open, by the file's
     * identity (see file_sha): a train looks each clip up once per front
     * end, shift and speed, and hashed its bytes every time. */
    struct memo *memo;             /* memo_cap slots (a power of 2), memo_n used */
    size_t memo_cap, memo_n;
};

struct memo {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
    unsigned char sha[32];
    int used;
};

/* ------------------------------------------------------------ helpers */

static es_status default_dir(char **out, es_error *err)
{
    const char *env = getenv("EARSHOT_CACHE");
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (!home || !*home) {
        /* no HOME (e.g. a service): the password database knows it */
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    const char *fmt, *base;
    if (env && *env) { fmt = "%s"; base = env; }
    else if (xdg && *xdg) { fmt = "%s/earshot/embeddings"; base = xdg; }
    else if (home && *home) { fmt = "%s/.cache/earshot/embeddings"; base = home; }
    else return es_fail(err, ES_ERR_ARG, "cannot find a cache directory: set EARSHOT_CACHE or HOME");
    int len = snprintf(NULL, 0, fmt, base);
    char *p = malloc((size_t)len + 1);
    if (!p) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    snprintf(p, (size_t)len + 1, fmt, base);
    *out = p;
    return ES_OK;
}

/* The SHA-256 of a model file as the engine computed it from the bytes it
 * loaded (64 hex digits -> 32 bytes), so the key names the model in use
 * without reading and hashing the files again. */
static void hex_sha(const char *hex, unsigned char sha[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = hex[2 * i + k];
            v = v * 16 + (unsigned)(ch >= 'a' ? ch - 'a' + 10 : ch - '0');
        }
        sha[i] = (unsigned char)v;
    }
}

/* Samples of silence-padded audio the engine aims for (its own rounding). */
static size_t pad_samples(double pad_to) { return pad_to > 0 ? (size_t)(pad_to * ES_SAMPLE_RATE + 0.5) : 0; }

/* ------------------------------------------------------------ open/close */

es_cache *es_cache_open(const char *dir, es_engine *eng, es_error *err)
{
    if (!eng) { es_fail(err, ES_ERR_ARG, "es_cache_open: no engine"); return NULL; }
    es_cache *c = calloc(1, sizeof *c);
    if (!c) { es_fail(err, ES_ERR_NOMEM, "out of memory"); return NULL; }
    int locks = 0;
    if (pthread_mutex_init(&c->lock, NULL) == 0)
        while (locks < WRITE_LOCKS && pthread_mutex_init(&c->write_lock[locks], NULL) == 0) locks++;
    if (locks < WRITE_LOCKS) {
        while (locks > 0) pthread_mutex_destroy(&c->write_lock[--locks]);
        free(c);
        es_fail(err, ES_ERR_NOMEM, "cannot create a mutex");
        return NULL;
    }
    c->eng = eng;
    if (dir && *dir) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') n--;   /* "cache/" -> "cache", for tidy entry paths */
        if ((c->dir = malloc(n + 1))) { memcpy(c->dir, dir, n); c->dir[n] = 0; }
        else { es_fail(err, ES_ERR_NOMEM, "out of memory"); goto fail; }
    } else if (default_dir(&c->dir, err)) {
        goto fail;
    }
    if (es_make_dirs(c->dir, err)) goto fail;
    hex_sha(es_engine_encoder_id(eng), c->enc_sha);   /* the weights it runs: fine-tuned ones key apart */
    hex_sha(es_engine_mel_sha256(eng), c->mel_sha);
    (void)es_threads();   /* settle the lazily initialised thread count before workers read it */
    return c;
fail:
    es_cache_close(c);
    return NULL;
}

void es_cache_close(es_cache *c)
{
    if (!c) return;
    for (int i = 0; i < WRITE_LOCKS; i++) pthread_mutex_destroy(&c->write_lock[i]);
    pthread_mutex_destroy(&c->lock);
    free(c->memo);
    free(c->dir);
    free(c);
}

void es_cache_set_mode(es_cache *c, es_embed_mode mode) { c->mode = mode; }
void es_cache_set_warp(es_cache *c, double warp) { c->warp = warp == 1.0 ? 0 : warp; }

const char *es_cache_dir(const es_cache *c) { return c ? c->dir : NULL; }

size_t es_cache_write_failures(es_cache *c, char *msg, size_t msg_len)
{
    if (!c) return 0;
    pthread_mutex_lock(&c->lock);
    size_t n = c->write_failures;
    if (msg && msg_len) snprintf(msg, msg_len, "%s", c->first_failure);
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* ------------------------------------------------------------ keys */


/* The key of audio (by the SHA-256 of its bytes) under the cache's models
 * and these settings. The settings string spells out everything that
 * shapes the numbers besides the models; the padding is keyed by its sample
 * count, so pad_to values the engine rounds to the same padding share
 * entries. A sub-step shift adds "; shift_samples=N", a speed perturbation
 * "; speed=F" and a variant (es_cache_embed_variants) "; variant=<tag>", so
 * plain entries keep the keys they always had. */
static void key_of_sha(const es_cache *c, const unsigned char audio_sha[32], double pad_to, int shift, double speed,
                       const char *tag, char hex[65])
{
    unsigned char buf[1024];
    char sh[48] = "", sp[96] = "";
    if (shift > 0) snprintf(sh, sizeof sh, "; shift_samples=%d", shift);
    /* "%.6f" as in the C locale whatever the program's (es_c_locale_push):
     * "speed=0,900000" would be another key for the same embedding */
    locale_t was = es_c_locale_push();
    if (speed != 1.0) snprintf(sp, sizeof sp, "; speed=%.6f libsamplerate-best", speed);
    /* the warp shapes plain entries only: a variant's maker embeds by itself */
    if (c->warp != 0 && !tag) {
        size_t l = strlen(sp);
        snprintf(sp + l, sizeof sp - l, "; mel_warp=%.6f", c->warp);
    }
    es_c_locale_pop(was);
    int k = snprintf((char *)buf, 800,
                     "earshot-emb-cache v%d; decode=es_audio_load 16000 Hz mono quantize_int16=1; mode=%s; "
                     "pad_to_samples=%zu; mel=%dx%d/%d; emb=%dx%d/%d%s%s%s%s",
                     ES_CACHE_FORMAT, c->mode == ES_EMBED_STREAM ? "stream" : "whole", pad_samples(pad_to), ES_MEL_BINS,
                     ES_MEL_WIN, ES_MEL_HOP, ES_EMB_DIM, ES_EMB_WINDOW, ES_EMB_STEP, sh, sp, tag ? "; variant=" : "",
                     tag ? tag : "");
    if (k > 799) k = 799;   /* callers keep tags short (VARIANT_TAG_MAX) */
    size_t pos = (size_t)k + 1;   /* keep the NUL: a separator no string contains */
    memcpy(buf + pos, audio_sha, 32);
    memcpy(buf + pos + 32, c->enc_sha, 32);
    memcpy(buf + pos + 64, c->mel_sha, 32);
    unsigned char key[32];
    es_sha256(buf, pos + 96, key);
    es_sha256_hex(key, hex);
}

/* SHA-256 of a file's bytes, read a megabyte at a time: an hour of
 * audio is never in memory to be hashed. Errors as es_read_file's. */
es_status es_sha256_file(const char *path, unsigned char sha[32], es_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) return es_fail(err, ES_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return es_fail(err, ES_ERR_IO, "%s: is a directory, not a file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return es_fail(err, ES_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    enum { BLOCK = 1 << 20 };
    unsigned char *buf = malloc(BLOCK);
    if (!buf) { fclose(f); return es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path); }
    es_sha256_ctx c;
    es_sha256_init(&c);
    size_t r;
    while ((r = fread(buf, 1, BLOCK, f)) > 0) es_sha256_update(&c, buf, r);
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) return es_fail(err, ES_ERR_IO, "%s: read error", path);
    es_sha256_final(&c, sha);
    return ES_OK;
}

static int same_time(struct timespec a, struct timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

/* The memo's slot for (dev, ino): its entry, or the empty slot where it
 * goes (open addressing, linear probing). Under c->lock, memo_cap > 0. */
static struct memo *memo_slot(es_cache *c, dev_t dev, ino_t ino)
{
    uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 32)) * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 32) & (c->memo_cap - 1);
    while (c->memo[i].used && (c->memo[i].dev != dev || c->memo[i].ino != ino)) i = (i + 1) & (c->memo_cap - 1);
    return &c->memo[i];
}

/* The SHA-256 of an audio file's bytes, remembered for as long as the
 * cache is open. A file is known by its device and inode, and trusted to
 * hold the same bytes while its size, modification and change times are
 * what they were when it was hashed (every write changes the change
 * time; a file renamed into place is another inode). The stat comes
 * before the bytes are read, so a file that changes meanwhile is
 * remembered under its old times and hashed again when next looked up.
 * File times have a granularity (a few ms on ext4, 2 s on FAT): a file
 * rewritten to the same size within the tick of its last change keeps
 * its times. So a file changed less than MEMO_SETTLED_S before it was
 * hashed is not remembered (as git does for "racily clean" files); after
 * that, any write moves its change time on. Out of memory for the memo
 * just hashes every time. */
#define MEMO_SETTLED_S 3
static es_status file_sha(es_cache *c, const char *path, unsigned char sha[32], es_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return es_sha256_file(path, sha, err);   /* its errors */
    pthread_mutex_lock(&c->lock);
    struct memo *m = c->memo_cap ? memo_slot(c, st.st_dev, st.st_ino) : NULL;
    int hit = m && m->used && m->size == st.st_size && same_time(m->mtim, st.st_mtim) && same_time(m->ctim, st.st_ctim);
    if (hit) memcpy(sha, m->sha, 32);
    pthread_mutex_unlock(&c->lock);
    if (hit) return ES_OK;
    es_status s = es_sha256_file(path, sha, err);
    if (s) return s;
    struct timespec now;
    time_t changed = st.st_ctim.tv_sec > st.st_mtim.tv_sec ? st.st_ctim.tv_sec : st.st_mtim.tv_sec;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0 || now.tv_sec - changed <= MEMO_SETTLED_S) return ES_OK;
    pthread_mutex_lock(&c->lock);
    if (2 * (c->memo_n + 1) > c->memo_cap) {   /* at most half full: short probes */
        size_t cap = c->memo_cap ? 2 * c->memo_cap : 1024;
        struct memo *old = c->memo, *fresh = calloc(cap, sizeof *fresh);
        size_t old_cap = c->memo_cap;
        if (fresh) {
            c->memo = fresh;
            c->memo_cap = cap;
            for (size_t i = 0; i < old_cap; i++)
                if (old[i].used) *memo_slot(c, old[i].dev, old[i].ino) = old[i];
            free(old);
        }
    }
    if (2 * (c->memo_n + 1) <= c->memo_cap) {
        m = memo_slot(c, st.st_dev, st.st_ino);
        c->memo_n += !m->used;
        *m = (struct memo){st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim, {0}, 1};
        memcpy(m->sha, sha, 32);
    }
    pthread_mutex_unlock(&c->lock);
    return ES_OK;
}

static es_status key_of_file(es_cache *c, const char *path, double pad_to, int shift, double speed,
                             char hex[65], es_error *err)
{
    unsigned char sha[32];
    es_status s = file_sha(c, path, sha, err);
    if (s) return s;
    key_of_sha(c, sha, pad_to, shift, speed, NULL, hex);
    return ES_OK;
}

es_status es_cache_file_sha(es_cache *c, const char *path, unsigned char sha[32], es_error *err)
{
    if (!c || !path || !sha) return es_fail(err, ES_ERR_ARG, "es_cache_file_sha: invalid arguments");
    return file_sha(c, path, sha, err);
}

es_status es_cache_key(es_cache *c, const char *path, double pad_to, char key[65], es_error *err)
{
    if (!c || !path || !key) return es_fail(err, ES_ERR_ARG, "es_cache_key: invalid arguments");
    return key_of_file(c, path, pad_to, 0, 1.0, key, err);
}

/* ------------------------------------------------------------ lookups */

static es_status check_pad(double pad_to, int shift, double speed, es_error *err)
{
    if (!(speed >= 0.5 && speed <= 2.0)) return es_fail(err, ES_ERR_ARG, "speed must be from 0.5 to 2");
    if (!(pad_to >= 0 && pad_to <= 3600)) return es_fail(err, ES_ERR_ARG, "pad_to must be between 0 and 3600 seconds");
    if (shift < 0 || shift >= ES_CHUNK) return es_fail(err, ES_ERR_ARG, "shift must be from 0 to %d samples", ES_CHUNK - 1);
    return ES_OK;
}

/* ------------------------------------------------------------ entries */

/* CRC-32C (Castagnoli, reflected, as iSCSI and ext4 use), eight bytes a
 * step ("slicing by 8": table k gives the CRC of a byte followed by k zero
 * bytes), about 2 GB/s here against 0.45 for a byte a step: a warm train
 * over FSDD checks 50 MB of entries. It guards entries against damage,
 * not against an adversary: whoever can write the cache folder can write
 * a matching checksum. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t v = i;
        for (int k = 0; k < 8; k++) v = v & 1 ? (v >> 1) ^ 0x82F63B78u : v >> 1;
        crc_table[0][i] = v;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++)
            crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xff];
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* crc: 0 to start, else the value of the bytes before */
static uint32_t crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint32_t (*t)[256] = crc_table;
    crc = ~crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint32_t lo = crc ^ get_u32(p), hi = get_u32(p + 4);
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
              t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    for (; n; p++, n--) crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* The trailer after an entry's array (see cache.h): "es-cache", the
 * format (u32 little-endian), the CRC-32C of the key's 64 hex digits and
 * then of every byte of the file before the trailer (u32 little-endian). */
#define TRAILER 16
#define TRAILER_MAGIC "es-cache"

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t entry_crc(const char *key, const unsigned char *file, size_t len)
{
    return crc32c(crc32c(0, (const unsigned char *)key, 64), file, len);
}

/* A stored entry, if present and sane. Entries are renamed into place
 * without fsync (store), so a power cut can leave one empty, short, or
 * its size on disk with blocks that read back as zeros or as another
 * file's old data (ext4 data=writeback, XFS); a disk or memory can flip a
 * bit. Each was taken for embeddings while the header parsed and the
 * numbers were finite, and a train trained on them without a word. So
 * the trailer's checksum must match the key and every byte before it
 * (keying it by the name also refuses a whole entry of another key in
 * this one's place), the format must be this one, the array [k][96] with
 * at least as many rows as the padding alone gives, every value finite.
 * 1 = hit, 0 = absent, -1 = present but bad (the caller removes it). */
static int load_entry(const char *key, const char *entry, double pad_to, int shift, float **emb, size_t *n)
{
    int fd = open(entry, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    struct stat sb;
    unsigned char *buf = NULL;
    size_t len = 0;
    /* an entry of a long recording can be megabytes; none is 1 GiB */
    int ok = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 10 + TRAILER && sb.st_size < (1 << 30);
    if (ok && (buf = malloc((size_t)sb.st_size))) {
        while (len < (size_t)sb.st_size) {
            ssize_t r = read(fd, buf + len, (size_t)sb.st_size - len);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            len += (size_t)r;
        }
    }
    close(fd);
    /* (a short read: the file was replaced since fstat, by a rename of a
     * whole one; every entry of a key has the same size) */
    ok = ok && buf && len == (size_t)sb.st_size;
    if (ok) {
        const unsigned char *t = buf + len - TRAILER;
        ok = !memcmp(t, TRAILER_MAGIC, 8) && get_u32(t + 8) == ES_CACHE_FORMAT &&
             get_u32(t + 12) == entry_crc(key, buf, len - TRAILER);
    }
    float *d = NULL;
    size_t shape[8];
    int nd = 0;
    ok = ok && es_npy_decode(entry, buf, len - TRAILER, &d, shape, &nd, NULL) == ES_OK;
    free(buf);
    size_t min = es_encoder_count(es_mel_frames(pad_samples(pad_to) + (shift ? ES_CHUNK : 0)));
    ok = ok && nd == 2 && shape[1] == ES_EMB_DIM && shape[0] >= min;
    for (size_t i = 0; ok && i < shape[0] * ES_EMB_DIM; i++) ok = isfinite(d[i]);
    if (!ok) { free(d); return -1; }
    if (shape[0] == 0) { free(d); d = NULL; }
    *emb = d;
    *n = shape[0];
    return 1;
}

static void store(es_cache *c, const char *key, const char *entry, const char *sub, const float *emb, size_t n)
{
    es_error e = {0};
    size_t shape[2] = {n, ES_EMB_DIM};
    unsigned char *buf = NULL;
    size_t len = 0;
    es_status s = es_npy_encode(entry, emb, shape, 2, TRAILER, &buf, &len, &e);
    if (!s) {
        memcpy(buf + len, TRAILER_MAGIC, 8);
        put_u32(buf + len + 8, ES_CACHE_FORMAT);
        put_u32(buf + len + 12, entry_crc(key, buf, len));
        int h = key[0] >= 'a' ? key[0] - 'a' + 10 : key[0] - '0';   /* first hex digit: uniform */
        pthread_mutex_lock(&c->write_lock[h % WRITE_LOCKS]);
        s = es_make_dirs(sub, &e);
        /* no fsync: a bad entry after a power cut is found and recomputed */
        if (!s) s = es_write_atomic_ex(entry, buf, len + TRAILER, 0, &e);
        pthread_mutex_unlock(&c->write_lock[h % WRITE_LOCKS]);
        free(buf);
    }
    if (s) {
        pthread_mutex_lock(&c->lock);
        if (c->write_failures++ == 0) snprintf(c->first_failure, sizeof c->first_failure, "%s", e.msg);
        pthread_mutex_unlock(&c->lock);
    }
}

es_status es_cache_embed(es_cache *c, const char *path, double pad_to, float **emb, size_t *n, int *hit, es_error *err)
{
    return es_cache_embed_var(c, path, pad_to, 0, 1.0, emb, n, hit, err);
}

es_status es_cache_embed_shift(es_cache *c, const char *path, double pad_to, int shift, float **emb, size_t *n, int *hit,
                               es_error *err)
{
    return es_cache_embed_var(c, path, pad_to, shift, 1.0, emb, n, hit, err);
}

/* Files longer than this (by their header) are embedded while they are
 * read (es_embed_read), when nothing needs them whole (no shift, speed or
 * warp): an hour decoded whole is 230 MB of samples, and a folder of
 * recordings (train --negatives) is embedded two files at a time. */
#define STREAM_FROM_S 30.0

/* The embeddings of a file as the cache keys them: streamed while read
 * when it is long and nothing needs it whole, else decoded whole. Errors
 * name the file. */
static es_status embed_file(es_cache *c, const char *path, double pad_to, int shift, double speed, float **e,
                            size_t *k, es_error *err)
{
    es_load_opts lo = {.quantize_int16 = 1};
    es_status s;
    if (shift == 0 && speed == 1.0 && c->warp == 0) {
        es_reader *r = es_reader_open(path, &lo, err);   /* its errors name the file */
        if (!r) return err && err->status ? err->status : ES_ERR_IO;
        double dur = es_reader_duration(r);
        es_reader_close(r);
        if (dur > STREAM_FROM_S && dur > pad_to) return es_embed_read(c->eng, path, &lo, c->mode, NULL, NULL, e, k, err);
    }
    es_audio a;
    if ((s = es_audio_load(path, &lo, &a, err))) return s;
    if (speed != 1.0) {
        /* speed perturbation: read the samples as if recorded at
         * 16000*speed Hz and resample to 16 kHz, so tempo and pitch change
         * together (a different vocal-tract length, for the learning curve) */
        float *y = NULL;
        size_t ny = 0;
        s = es_audio_resample(a.samples, a.n, (int)(ES_SAMPLE_RATE * speed + 0.5), &y, &ny, err);
        if (s) { es_audio_free(&a); return s; }
        for (size_t i = 0; i < ny; i++) y[i] = y[i] > 32767.0f ? 32767.0f : y[i] < -32768.0f ? -32768.0f : roundf(y[i]);
        free(a.samples);
        a.samples = y;
        a.n = ny;
    }
    es_embed_opts eo = {.mode = c->mode, .pad_to = pad_to, .warp = c->warp};
    if (shift > 0) {
        /* delay the audio by `shift` samples and pad the rest of an 80 ms
         * step after it: the 80 ms grid starts where it did, so the window
         * the caller takes sees the clip at another sub-step offset */
        eo.pad_before = (double)shift / ES_SAMPLE_RATE;
        eo.pad_after = (double)(ES_CHUNK - shift) / ES_SAMPLE_RATE;
    }
    s = es_embed_audio(c->eng, a.samples, a.n, &eo, NULL, NULL, e, k, err);
    es_audio_free(&a);
    return s ? es_fail_in(err, s, path) : ES_OK;   /* engine errors do not know the file */
}

es_status es_cache_embed_var(es_cache *c, const char *path, double pad_to, int shift, double speed, float **emb,
                             size_t *n, int *hit, es_error *err)
{
    if (emb) *emb = NULL;
    if (n) *n = 0;
    if (hit) *hit = 0;
    if (!c || !path || !emb || !n) return es_fail(err, ES_ERR_ARG, "es_cache_embed: invalid arguments");
    es_status s = check_pad(pad_to, shift, speed, err);
    if (s) return s;

    char key[65];
    if ((s = key_of_file(c, path, pad_to, shift, speed, key, err))) return s;
    size_t dl = strlen(c->dir);
    char *sub = malloc(dl + 4), *entry = malloc(dl + 4 + 1 + 64 + 5);
    if (!sub || !entry) { free(sub); free(entry); return es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path); }
    snprintf(sub, dl + 4, "%s/%.2s", c->dir, key);
    snprintf(entry, dl + 4 + 1 + 64 + 5, "%s/%s.npy", sub, key);

    int got = load_entry(key, entry, pad_to, shift, emb, n);
    if (got == 1) {
        if (hit) *hit = 1;
        goto out;
    }
    if (got < 0) unlink(entry);   /* corrupt or truncated: recompute below and store afresh */

    /* The bytes were hashed above and are decoded again here from the
     * path: a file rewritten in between would be stored under its old key,
     * an accepted race (training data does not change under a run). */
    float *e = NULL;
    size_t k = 0;
    if ((s = embed_file(c, path, pad_to, shift, speed, &e, &k, err))) goto out;
    store(c, key, entry, sub, e, k);
    if (k == 0) { free(e); e = NULL; }
    *emb = e;
    *n = k;
out:
    free(sub);
    free(entry);
    return s;
}

/* ------------------------------------------------------------ many */

typedef struct {
    es_cache *c;
    const char *const *paths;
    size_t n;
    double pad_to;
    int shift;
    double speed;
    float **embs;
    size_t *counts;
    es_status *st;
    void (*progress)(void *user, size_t done, size_t total, size_t hits);
    void *user;
    atomic_size_t next;      /* files are handed out one at a time: lengths vary */
    pthread_mutex_t lock;    /* guards the fields below and serialises progress */
    size_t done, hits, failed, first;
    es_status first_status;
    char first_msg[512];
} many_job;

static void many_worker(void *p, int t)
{
    (void)t;
    many_job *j = p;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n) break;
        es_error e = {0};
        int hit = 0;
        size_t cnt = 0;
        float *emb = NULL;
        es_status s = es_cache_embed_var(j->c, j->paths[i], j->pad_to, j->shift, j->speed, &emb, &cnt, &hit, &e);
        j->embs[i] = emb;
        j->counts[i] = cnt;
        if (j->st) j->st[i] = s;
        pthread_mutex_lock(&j->lock);
        j->done++;
        j->hits += hit && !s;
        if (s) {
            j->failed++;
            if (i < j->first) {   /* report the first file in input order, whatever the threads' timing */
                j->first = i;
                j->first_status = s;
                snprintf(j->first_msg, sizeof j->first_msg, "%s", e.msg);
            }
        }
        if (j->progress) j->progress(j->user, j->done, j->n, j->hits);
        pthread_mutex_unlock(&j->lock);
    }
}

es_status es_cache_embed_many(es_cache *c, const char *const *paths, size_t n, double pad_to, float **embs,
                              size_t *counts, es_status *st,
                              void (*progress)(void *user, size_t done, size_t total, size_t hits), void *user,
                              es_error *err)
{
    return es_cache_embed_many_shift(c, paths, n, pad_to, 0, embs, counts, st, progress, user, err);
}

es_status es_cache_embed_many_shift(es_cache *c, const char *const *paths, size_t n, double pad_to, int shift,
                                    float **embs, size_t *counts, es_status *st,
                                    void (*progress)(void *user, size_t done, size_t total, size_t hits), void *user,
                                    es_error *err)
{
    return es_cache_embed_many_var(c, paths, n, pad_to, shift, 1.0, embs, counts, st, progress, user, err);
}

es_status es_cache_embed_many_var(es_cache *c, const char *const *paths, size_t n, double pad_to, int shift,
                                  double speed, float **embs, size_t *counts, es_status *st,
                                  void (*progress)(void *user, size_t done, size_t total, size_t hits), void *user,
                                  es_error *err)
{
    if (!c || (n && (!paths || !embs || !counts))) return es_fail(err, ES_ERR_ARG, "es_cache_embed_many: invalid arguments");
    for (size_t i = 0; i < n; i++) {
        embs[i] = NULL;
        counts[i] = 0;
        if (st) st[i] = ES_OK;
    }
    if (n == 0) return ES_OK;
    es_status s = check_pad(pad_to, shift, speed, err);
    if (s) return s;
    many_job j = {.c = c, .paths = paths, .n = n, .pad_to = pad_to, .shift = shift, .speed = speed, .embs = embs, .counts = counts, .st = st,
                  .progress = progress, .user = user, .first = n};
    atomic_init(&j.next, 0);
    if (pthread_mutex_init(&j.lock, NULL) != 0) return es_fail(err, ES_ERR_NOMEM, "cannot create a mutex");
    /* one worker per thread, pulling files from a shared counter; a clip
     * short enough for one encoder part keeps its worker single-threaded,
     * so there is no nested parallelism in the usual case */
    int threads = es_threads();
    if ((size_t)threads > n) threads = (int)n;
    if (threads > 64) threads = 64;   /* es_parallel_for's limit */
    es_parallel_for(threads, many_worker, &j);
    pthread_mutex_destroy(&j.lock);
    if (!j.failed) return ES_OK;
    return es_cache_more_fail(err, j.first_status, j.first_msg, j.failed, "files");
}

es_status es_cache_more_fail(es_error *err, es_status st, const char *first_msg, size_t failed, const char *what)
{
    if (failed <= 1) return es_fail(err, st, "%s", first_msg);
    return es_fail(err, st, "%s (and %zu more %s failed)", first_msg, failed - 1, what);
}

size_t es_cache_more_cut(char *msg, const char *what)
{
    char tail[64];
    snprintf(tail, sizeof tail, " more %s failed)", what);
    size_t lm = strlen(msg), lt = strlen(tail);
    if (lm < lt || strcmp(msg + lm - lt, tail)) return 1;
    char *open = NULL;   /* the last " (and ": a file name may hold the words */
    for (char *q = strstr(msg, " (and "); q; q = strstr(q + 1, " (and ")) open = q;
    if (!open) return 1;
    char *end = NULL;
    unsigned long long more = strtoull(open + 6, &end, 10);
    if (end != msg + lm - lt || end == open + 6) return 1;
    *open = 0;
    return (size_t)more + 1;
}

/* ------------------------------------------------------------ variants */

typedef struct {
    es_cache *c;
    const char *const *paths;
    size_t npaths;
    const size_t *file_of;
    const char *const *tags;
    size_t m;
    double pad_to;
    es_variant_fn make;
    void *ctx;
    float **embs;
    size_t *counts;
    size_t *start, *jobs;    /* jobs[start[f] .. start[f+1]) are file f's, in input order */
    void (*progress)(void *user, size_t done, size_t total, size_t hits);
    void *user;
    atomic_size_t next;
    pthread_mutex_t lock;
    size_t done, hits, failed, first;
    es_status first_status;
    char first_msg[512];
} var_job;

static void var_report(var_job *j, size_t done, size_t hits, size_t job, es_status s, const char *msg)
{
    pthread_mutex_lock(&j->lock);
    j->done += done;
    j->hits += hits;
    if (s) {
        j->failed++;
        if (job < j->first) {
            j->first = job;
            j->first_status = s;
            snprintf(j->first_msg, sizeof j->first_msg, "%s", msg);
        }
    }
    if (j->progress && done) j->progress(j->user, j->done, j->m, j->hits);
    pthread_mutex_unlock(&j->lock);
}

/* One file: hash its bytes once, look every variant up, and decode the
 * audio once for all the variants that missed. */
static void var_file(var_job *j, size_t f)
{
    size_t b = j->start[f], e = j->start[f + 1];
    if (b == e) return;
    es_error err = {0};
    unsigned char *bytes = NULL, sha[32];
    size_t len, dl = strlen(j->c->dir);
    es_status s = es_read_file(j->paths[f], &bytes, &len, &err);
    if (s) { for (size_t q = b; q < e; q++) var_report(j, 1, 0, j->jobs[q], s, err.msg); return; }
    es_sha256(bytes, len, sha);
    free(bytes);
    es_audio a = {0};
    int decoded = 0;
    for (size_t q = b; q < e; q++) {
        size_t i = j->jobs[q];
        char key[65], sub[4096], entry[4200];
        key_of_sha(j->c, sha, j->pad_to, 0, 1.0, j->tags[i], key);
        snprintf(sub, sizeof sub, "%.*s/%.2s", (int)(sizeof sub - 8), j->c->dir, key);
        snprintf(entry, sizeof entry, "%s/%s.npy", sub, key);
        int got = dl < 4000 ? load_entry(key, entry, j->pad_to, 0, &j->embs[i], &j->counts[i]) : 0;
        if (got == 1) { var_report(j, 1, 1, i, ES_OK, NULL); continue; }
        if (got < 0) unlink(entry);
        s = ES_OK;
        if (!decoded) {
            es_load_opts lo = {.quantize_int16 = 1};
            s = es_audio_load(j->paths[f], &lo, &a, &err);
            decoded = !s;
        }
        float *emb = NULL;
        size_t k = 0;
        if (!s) s = j->make(j->ctx, i, a.samples, a.n, &emb, &k, &err);
        if (s) {
            char msg[sizeof err.msg];
            snprintf(msg, sizeof msg, "%s", err.msg);
            if (!strstr(msg, j->paths[f])) es_fail(&err, s, "%s: %s", j->paths[f], msg);
            var_report(j, 1, 0, i, s, err.msg);
            continue;
        }
        if (dl < 4000) store(j->c, key, entry, sub, emb, k);
        if (k == 0) { free(emb); emb = NULL; }
        j->embs[i] = emb;
        j->counts[i] = k;
        var_report(j, 1, 0, i, ES_OK, NULL);
    }
    if (decoded) es_audio_free(&a);
}

static void var_worker(void *p, int t)
{
    (void)t;
    var_job *j = p;
    for (;;) {
        size_t f = atomic_fetch_add(&j->next, 1);
        if (f >= j->npaths) break;
        var_file(j, f);
    }
}

es_status es_cache_embed_variants(es_cache *c, const char *const *paths, size_t npaths, const size_t *file_of,
                                  const char *const *tags, size_t m, double pad_to, es_variant_fn make, void *ctx,
                                  float **embs, size_t *counts,
                                  void (*progress)(void *user, size_t done, size_t total, size_t hits), void *user,
                                  es_error *err)
{
    if (!c || !make || (m && (!paths || !file_of || !tags || !embs || !counts)))
        return es_fail(err, ES_ERR_ARG, "es_cache_embed_variants: invalid arguments");
    for (size_t i = 0; i < m; i++) {
        embs[i] = NULL;
        counts[i] = 0;
        if (file_of[i] >= npaths || !tags[i])
            return es_fail(err, ES_ERR_ARG, "es_cache_embed_variants: variant %zu names no file or has no tag", i);
        if (strlen(tags[i]) > ES_VARIANT_TAG_MAX)
            return es_fail(err, ES_ERR_ARG, "es_cache_embed_variants: tag of variant %zu is longer than %d bytes", i,
                           ES_VARIANT_TAG_MAX);
    }
    if (m == 0) return ES_OK;
    es_status s = check_pad(pad_to, 0, 1.0, err);
    if (s) return s;
    var_job j = {.c = c, .paths = paths, .npaths = npaths, .file_of = file_of, .tags = tags, .m = m, .pad_to = pad_to,
                 .make = make, .ctx = ctx, .embs = embs, .counts = counts, .progress = progress, .user = user,
                 .first = m};
    /* group the variants by file (a counting sort keeps input order within a file) */
    j.start = calloc(npaths + 2, sizeof(size_t));
    j.jobs = malloc(m * sizeof(size_t));
    if (!j.start || !j.jobs) { free(j.start); free(j.jobs); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < m; i++) j.start[file_of[i] + 1]++;
    for (size_t f = 0; f < npaths; f++) j.start[f + 1] += j.start[f];
    size_t *fill = calloc(npaths + 1, sizeof(size_t));
    if (!fill) { free(j.start); free(j.jobs); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < m; i++) j.jobs[j.start[file_of[i]] + fill[file_of[i]]++] = i;
    free(fill);
    atomic_init(&j.next, 0);
    if (pthread_mutex_init(&j.lock, NULL) != 0) {
        free(j.start); free(j.jobs);
        return es_fail(err, ES_ERR_NOMEM, "cannot create a mutex");
    }
    int threads = es_threads();
    if ((size_t)threads > npaths) threads = (int)npaths;
    if (threads > 64) threads = 64;
    if (threads < 1) threads = 1;
    es_parallel_for(threads, var_worker, &j);
    pthread_mutex_destroy(&j.lock);
    free(j.start);
    free(j.jobs);
    if (!j.failed) return ES_OK;
    for (size_t i = 0; i < m; i++) { free(embs[i]); embs[i] = NULL; counts[i] = 0; }
    return es_cache_more_fail(err, j.first_status, j.first_msg, j.failed, "variants");
}

/* ------------------------------------------------------------ sweeping */

es_status es_cache_default_dir(char **out, es_error *err) { return default_dir(out, err); }

static int hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return 0;
    return 1;
}

void es_cache_remove_into(const char *path, unsigned long long bytes, int stale, es_cache_tally *t)
{
    if (es_rm_tree(path) == 0) {
        if (stale) t->stale_removed++;
        else {
            t->removed++;
            t->removed_bytes += bytes;
        }
    } else if (errno != ENOENT) {   /* gone already: another sweep, or its run */
        if (!t->failed++)
            snprintf(t->first_failure, sizeof t->first_failure, "%s: cannot remove: %s", path, strerror(errno));
    }
}

const char *es_sweep_next(DIR *d, const char *dir, char *p, size_t cap, struct stat *sb, es_cache_tally *t)
{
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
        if (snprintf(p, cap, "%s/%s", dir, n) >= (int)cap) { t->other++; continue; }
        if (lstat(p, sb) != 0) {
            if (errno != ENOENT) t->other++;
            continue;
        }
        return n;
    }
    return NULL;
}

/* A temporary file of es_write_atomic: `tail` (the name past the output's
 * own) is ".tmp.<tag>" (es_proc_tag). Counted busy while that process
 * lives, else stale (and removed unless only counting). Returns 0 for any
 * other tail. */
static int sweep_temp(const char *p, const char *tail, const struct stat *sb, es_cache_sweep_mode mode, es_cache_tally *t)
{
    int state = strncmp(tail, ".tmp.", 5) ? ES_TAG_NONE : es_tag_state(tail + 5);
    if (state == ES_TAG_NONE) return 0;
    if (state == ES_TAG_LIVE) { t->busy++; return 1; }
    unsigned long long b = (unsigned long long)sb->st_blocks * 512u;
    t->stale++;
    t->stale_bytes += b;
    if (mode != ES_CACHE_COUNT) es_cache_remove_into(p, b, 1, t);
    return 1;
}

/* One shard folder: <64 hex>.npy entries, <64 hex>.npy.tmp.<tag> temporaries. */
static void sweep_shard(const char *sub, es_cache_sweep_mode mode, es_cache_tally *t)
{
    DIR *d = opendir(sub);
    if (!d) {
        if (errno != ENOENT) t->other++;   /* else emptied and removed by a --clear meanwhile */
        return;
    }
    char p[4400];
    struct stat sb;
    for (const char *n; (n = es_sweep_next(d, sub, p, sizeof p, &sb, t));) {
        if (!S_ISREG(sb.st_mode) || !hex_run(n, 64) || strncmp(n + 64, ".npy", 4)) {
            t->other++;
            continue;
        }
        unsigned long long b = (unsigned long long)sb.st_blocks * 512u;
        if (!n[68]) {
            t->entries++;
            t->bytes += b;
            if (mode == ES_CACHE_CLEAR) es_cache_remove_into(p, b, 0, t);
            continue;
        }
        if (!sweep_temp(p, n + 68, &sb, mode, t)) t->other++;
    }
    closedir(d);
    if (mode == ES_CACHE_CLEAR) (void)rmdir(sub);   /* only if it is empty now */
}

void es_cache_sweep(const char *dir, es_cache_sweep_mode mode, es_cache_tally *t)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char p[4200];
    struct stat sb;
    for (const char *n; (n = es_sweep_next(d, dir, p, sizeof p, &sb, t));) {
        if (strlen(n) == 2 && hex_run(n, 2) && S_ISDIR(sb.st_mode)) {
            sweep_shard(p, mode, t);
            continue;
        }
        /* train's generated noise (train_aug.c), made again when missing;
         * and its temporaries (.wav.tmp.<tag>), which a killed train left
         * as "other names" for ever */
        const char *wav = strstr(n, ".wav");
        if (!strncmp(n, "generated-noise-v", 17) && S_ISREG(sb.st_mode) && wav && !wav[4]) {
            unsigned long long b = (unsigned long long)sb.st_blocks * 512u;
            t->entries++;
            t->bytes += b;
            if (mode == ES_CACHE_CLEAR) es_cache_remove_into(p, b, 0, t);
            continue;
        }
        if (!strncmp(n, "generated-noise-v", 17) && S_ISREG(sb.st_mode) && wav && sweep_temp(p, wav + 4, &sb, mode, t))
            continue;
        t->other++;
    }
    closedir(d);
}
