/* Private helpers shared by the library's modules. Not installed. */
#ifndef ES_INTERNAL_H
#define ES_INTERNAL_H

#include "earshot.h"
#include <locale.h>
#include <stdarg.h>

#if defined(__GNUC__) || defined(__clang__)
#define ES_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ES_PRINTF(a, b)
#endif

/* Fill err (if non-NULL) and return status, so callers can write
 * `return es_fail(err, ES_ERR_IO, "%s: cannot open: %s", path, strerror(errno));` */
es_status es_fail(es_error *err, es_status status, const char *fmt, ...) ES_PRINTF(3, 4);
/* msg (len bytes) into out[size]: whole when it fits, else its start,
 * "..." and its end (where "PATH: reason" keeps the reason), cut at
 * character boundaries. */
void es_msg_elide(char *out, size_t size, const char *msg, size_t len);
/* vsnprintf into out[size], a message too long for it elided so (the
 * arguments may be a copy of out's old text). */
void es_vformat(char *out, size_t size, const char *fmt, va_list ap);
/* The folders a walk has entered, by device and inode, so that a link
 * loop or a second link to a folder does not walk it again. add returns 1
 * if (dev, ino) was in the set, 0 if it is added now, -1 out of memory.
 * probes counts the entries looked at, for the test that a walk of n
 * folders stays linear. Zero-initialise; es_idset_free releases. */
typedef struct {
    struct es_fileid { unsigned long long dev, ino; } *v;
    size_t n, cap;      /* entries (n), slots of v (cap, a power of two) */
    size_t probes;
    int zero;           /* (0, 0) is in the set (an empty slot of v is all zeros) */
} es_idset;
int es_idset_add(es_idset *s, unsigned long long dev, unsigned long long ino);
void es_idset_free(es_idset *s);

/* Pass a warning to the handler es_set_warning_handler installed (if any). */
void es_warn(const char *fmt, ...) ES_PRINTF(1, 2);
/* Put "what: " before err's message, for a callee whose message does not
 * know the file; returns err's status (`fallback` when err is NULL). */
es_status es_fail_in(es_error *err, es_status fallback, const char *what);

/* Audio by file name. es_audio_name_stem: the length of name (a path or a
 * base name) without its extension when the extension is one of a format
 * earshot reads (.wav, .flac, .ogg, .opus, .mp3, .aiff, .caf, .w64, .au,
 * ...), else 0. es_audio_name_other: the extension (without the dot) when
 * it names a common audio or video format earshot does not read (.m4a,
 * .aac, .wma, .mp4, ...), else NULL. ES_AUDIO_EXT_TEXT lists the first
 * kind for messages. */
size_t es_audio_name_stem(const char *name);
const char *es_audio_name_other(const char *name);
/* The one warning for n files of folders (where: the folder, or NULL)
 * left out by es_audio_name_other, naming example and how to convert. */
void es_audio_warn_other(const char *where, size_t n, const char *example);
/* The same for n entries with an audio name that are no regular file (a
 * FIFO, a device, a socket), left out unopened; example the first. */
void es_audio_warn_special(const char *where, size_t n, const char *example);
#define ES_AUDIO_EXT_TEXT ".wav, .flac, .ogg, .opus, .mp3, .aiff, .caf, .w64, .au"

/* Around every sf_open* and the sf_strerror(NULL) that tells why it
 * failed: libsndfile keeps that reason process-wide and each open clears
 * it (audio/decode.c). */
void es_sndfile_lock(void);
void es_sndfile_unlock(void);

/* mkdir -p: every missing folder of path, tolerating ones that appear
 * meanwhile (another process or thread creating the same path). */
es_status es_make_dirs(const char *path, es_error *err);

/* The i-th pretrained file earshot pins (its name for es_models_path, and
 * *sha256 its SHA-256 in hex), NULL past the last. */
const char *es_models_pinned(size_t i, const char **sha256);

/* Well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code
 * points above U+10FFFF). */
int es_utf8_valid(const char *str);
/* The length of the well-formed UTF-8 sequence at s (n bytes left), or 0. */
size_t es_utf8_seq(const unsigned char *s, size_t n);
/* str (malloc'd) with every byte that is not part of well-formed UTF-8
 * replaced by U+FFFD: str itself when it is UTF-8 already, else a copy
 * (str freed); NULL when str is NULL or memory ran out. For a model card's
 * JSON text as cJSON prints it: the card must be UTF-8, and the paths in it
 * need not be (a Latin-1 folder name would otherwise make the model file
 * unwritable after all the training). */
char *es_utf8_fix(char *str);
/* The "C" locale for the calling thread, from push to pop, around code that
 * turns numbers into text or text into numbers for a file, a cache key or
 * an output (printf's %f/%g, strtod, sscanf): a program that links the
 * library may have called setlocale (gtk_init does), and a locale such as
 * de_DE writes 0.5 as "0,5" and stops strtod at the '.'. uselocale
 * changes this thread only, so the host's other threads and its own
 * printing are untouched; setlocale would change the whole process. For
 * the same reason the push belongs where the text is made, not at a public
 * entry point: the library's worker threads (es_parallel_for) start in the
 * process's locale, not in their creator's. Pushes nest; pop restores
 * what push returned:
 *     locale_t was = es_c_locale_push();  ...  es_c_locale_pop(was);
 * Should the C locale object be unavailable (newlocale out of memory),
 * push changes nothing and returns 0, which pop ignores. */
locale_t es_c_locale_push(void);
void es_c_locale_pop(locale_t was);
/* strcasecmp / strncasecmp that fold A-Z only, in every locale: glibc's
 * fold by the program's LC_CTYPE, and under tr_TR 'I' is not the capital
 * of 'i', so "AIFF" != "aiff" and "HI" != "hi". File extensions, language
 * codes, format names and the words of a vocabulary are compared with
 * these; bytes outside A-Z compare exactly, as in the C locale. Only
 * equality (0 or not) is meant. */
int es_ascii_casecmp(const char *a, const char *b);
int es_ascii_ncasecmp(const char *a, const char *b, size_t n);
static inline int es_ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }
/* str as a JSON string literal, quotes included (malloc'd; NULL when out of
 * memory). A byte that is not part of well-formed UTF-8 (a Latin-1 file
 * name) becomes U+FFFD, so the output is always valid JSON. */
char *es_json_quote(const char *str);

/* An atomic replacement of `path` under way (model/status.c says why each
 * step): begin resolves a symbolic link, refuses a read-only file or a
 * folder, names the temporary file (<path>.tmp.<tag>, es_proc_tag) and registers it for
 * es_atomic_cleanup_signal; the caller writes `tmp`; commit gives it the
 * old file's permissions (through fd when >= 0, else the caller did) and
 * renames it over the file; abort unlinks it. Either ends the write. */
typedef struct {
    char *path, *tmp;
    int have_mode, slot;
    unsigned mode;
    int durable;   /* 1 (begin's default): commit also syncs the folder */
} es_atomic;
es_status es_atomic_begin(es_atomic *a, const char *path, es_error *err);
/* A durable write (the default; all but cache entries) syncs the folder
 * after its rename, so that "written" survives a power cut; see status.c.
 * Commands that write many files into few folders (transcribe -d, embed
 * -o, synth) defer those syncs between es_dirsync_defer_begin and
 * es_dirsync_defer_end (which flushes; nested calls count), and flush
 * early before anything that depends on the files being there for good.
 * es_dir_sync syncs one folder now (best effort: 0, or -1 with errno). */
void es_dirsync_defer_begin(void);
void es_dirsync_defer_end(void);
void es_dirsync_flush(void);
int es_dir_sync(const char *dir);
es_status es_atomic_commit(es_atomic *a, int fd, const char *shown, es_error *err);
void es_atomic_abort(es_atomic *a);
/* At the top of a public function that returns a status: inner steps that
 * return NULL leave their status in err only, and with the caller's err
 * NULL the function could only guess it (`err ? err->status : ...`, 34
 * places); a local one keeps it. */
#define ES_ERR_LOCAL(err)      \
    es_error err##_local = {0}; \
    if (!(err)) (err) = &err##_local

/* A step that a catchable signal must not cut in two (synth publishing its
 * label folders, transcribe renaming an input's outputs): a fatal-signal
 * handler that asks es_critical_defer(sig) first (the CLI's does) returns
 * at once when it answers 1, and the es_critical_end that leaves the last
 * step under way raises the signal again. SIGKILL cannot be deferred.
 * Steps may run in several threads at once; keep them short (renames, not
 * writes): the signal waits for them. */
void es_critical_begin(void);
int es_critical_defer(int sig);
void es_critical_end(void);
/* Whether process pid no longer exists (by the pid alone: see es_tag_state). */
int es_pid_gone(long pid);
/* The tag of this process in the names of its temporary files and
 * folders: "<pid>-<start time>" (field 22 of /proc/self/stat), or "<pid>"
 * where /proc cannot tell. Written into buf, which it returns. */
#define ES_PROC_TAG_MAX 48
const char *es_proc_tag(char buf[ES_PROC_TAG_MAX]);
/* What the whole string `tag` is: ES_TAG_NONE, not a tag (neither form of
 * es_proc_tag); ES_TAG_LIVE, the process it names runs (this one
 * included), or /proc cannot say for a tag with a start time and the pid
 * exists; ES_TAG_GONE, no process of that pid, or one that started at
 * another time (the pid was reused), so what the tag names is a leftover. */
enum { ES_TAG_NONE, ES_TAG_LIVE, ES_TAG_GONE };
int es_tag_state(const char *tag);
/* Temporary files that writes killed by SIGKILL (no handler ran) left:
 * <path>.tmp.<tag>, of processes that no longer exist, are removed; of
 * one output, or of every output earshot writes in a folder (and `depth`
 * levels of sub-folders). Best effort; returns how many went. */
size_t es_atomic_remove_stale(const char *path);
size_t es_atomic_remove_stale_in(const char *dir, int depth);

/* Write `len` bytes to path atomically: a temporary file in the same
 * directory, fsync, rename. Never leaves a partial file at `path`. */
es_status es_write_atomic(const char *path, const void *data, size_t len, es_error *err);
/* The same, without the fsync when durable is 0 (see status.c: cache
 * entries only), and es_npy_write on top of it. */
es_status es_write_atomic_ex(const char *path, const void *data, size_t len, int durable, es_error *err);
/* The write without the rename, for outputs that go into place together
 * (transcribe -d: an input's formats all or none): on success `a` holds
 * the complete temporary file, to be ended by es_atomic_commit(a, -1,
 * path, err) or es_atomic_abort; on failure it is ended already. */
es_status es_atomic_write_tmp(es_atomic *a, const char *path, const void *data, size_t len, int durable,
                              es_error *err);
es_status es_npy_write_ex(const char *path, const float *data, const size_t *shape, int ndim, int durable,
                          es_error *err);
/* The two halves of es_npy_write and es_npy_read, for a caller that
 * adds bytes of its own after the array (the embedding cache's checksum
 * trailer; numpy.load reads the array and ignores them). es_npy_encode
 * makes the file's bytes, malloc'd in *out (*len of them) with `extra`
 * bytes spare after them; es_npy_decode parses exactly buf[len]. `name`
 * names the file in errors. */
es_status es_npy_encode(const char *name, const float *data, const size_t *shape, int ndim, size_t extra,
                        unsigned char **out, size_t *len, es_error *err);
es_status es_npy_decode(const char *name, const unsigned char *buf, size_t len, float **data, size_t *shape, int *ndim,
                        es_error *err);

/* Remove a file or a tree, children first (0, or -1 if anything stayed).
 * Symbolic links are removed themselves, never followed: a mix folder of
 * es_train_words links to the user's recordings. */
int es_rm_tree(const char *path);
/* Bytes a file or folder takes on disk (st_blocks, as du counts; links
 * are not followed); 0 for what cannot be read. */
unsigned long long es_tree_bytes(const char *path);

/* Read a whole file into memory (malloc'd). Refuses directories. */
es_status es_read_file(const char *path, unsigned char **data, size_t *len, es_error *err);

/* Threads the library may use for one call (es_set_threads; default: the
 * online CPUs, at most 8). OpenBLAS itself is kept to one thread: the
 * library parallelises at a coarser grain (windows, segments of an
 * utterance, frames), which scales better for its small matrices. */
int es_threads(void);
/* The default of es_threads: the CPUs the process may run on, at most 8. */
int es_cpu_threads(void);
/* Once per process: OpenBLAS to one thread, its idle threads shut down,
 * and under an address-space limit its work buffers mapped ahead
 * (model/blas.c). es_threads and es_set_threads call it. */
void es_blas_init(void);
/* Run fn(ctx, i) for i in [0, n) on up to es_threads() threads; returns
 * when all are done. Falls back to running inline if a thread cannot be
 * started. */
void es_parallel_for(int n, void (*fn)(void *ctx, int i), void *ctx);
/* fn(ctx, i) for i in [0, n) on min(n, es_threads()) threads, thread t
 * taking parts t, t + threads, ...: for work cut into parts whose number
 * does not follow the thread count. A cut that followed it gave results
 * that did too, since a matrix product may round a row differently
 * according to where it falls in the product (OpenBLAS's Haswell and
 * Prescott kernels do; SkylakeX's do not). */
void es_parallel_parts(int n, void (*fn)(void *ctx, int i), void *ctx);

/* openWakeWord primes its mel buffer with 76 frames of ones and, from the
 * first 1280-sample chunk on (which yields 5 frames), takes an embedding of
 * the last 76 frames after every chunk. Feeding our fully convolutional
 * stream ES_PRIME_FRAMES = 71 frames of ones first puts its window ends
 * exactly there (es_embed_audio's stream mode, the detector, the cache). */
#define ES_PRIME_FRAMES (ES_EMB_WINDOW - 5)
/* Streaming embeddings (ES_EMBED_STREAM) start from a mel buffer primed
 * with ones: the first ceil(71/8) = 9 of a clip see some of those frames,
 * not the clip. */
#define ES_STREAM_PRIMED 9
/* The first of the centre `window` of `count` embeddings of a clip, where
 * training, evaluation and prediction all take a clip's window: in stream
 * mode the centre of those that see only the clip (for a 2 s clip, the
 * window the streaming detector scores when the clip's last chunk has
 * arrived). The caller checks count >= window + es_window_skip(stream). */
/* Put back in front of a stream-mode log-mel [*frames][32] from
 * es_embed_audio the frames of ones the encoder's input starts primed with
 * (es_embed_audio does not hand them back), so that running the encoder
 * over it gives the stream embeddings. On failure *mel is freed. */
es_status es_mel_prime_stream(float **mel, size_t *frames, es_error *err);
/* es_mel_compute in two steps: every frame's dB (before the clamp) and the
 * loudest, then the clamp 80 dB under a given loudest and the scaling. A
 * long file's frames can so be made a block at a time (pipeline/embed_read.c). */
es_status es_mel_compute_db(es_mel *m, const float *x, size_t n, float *db, float *max_db, es_error *err);
void es_mel_clamp(const es_mel *m, float *db, size_t frames, float max_db);
/* es_embed_audio of a file without padding, read piece by piece rather
 * than decoded whole (the whole front end reads it twice): the same
 * log-mel, and the same embeddings up to float rounding next to the
 * encoder's parts of 4096 embeddings. Errors name the file. */
es_status es_embed_read(es_engine *e, const char *path, const es_load_opts *lo, es_embed_mode mode, float **mel_out,
                        size_t *frames_out, float **emb_out, size_t *n_emb_out, es_error *err);
static inline size_t es_window_skip(int stream) { return stream ? ES_STREAM_PRIMED : 0; }
static inline size_t es_centre_offset(size_t count, size_t window, int stream)
{
    size_t skip = es_window_skip(stream);
    return count >= window + skip ? skip + (count - skip - window) / 2 : 0;
}

#endif
