/*
 * pipeline/cache.h — the on-disk embedding cache (internal).
 *
 * Training decodes and embeds every clip; the encoder dominates. The cache
 * keeps one .npy file of embeddings per (audio content, encoder, front end,
 * settings), so a second run over the same data never runs the encoder.
 *
 * Key = SHA-256 of: "earshot-emb-cache" + format version, the SHA-256 of
 * the audio file's bytes, the encoder identity (es_engine_encoder_id: the
 * SHA-256 of embedding_model.onnx, or for an engine running a fine-tuned
 * model's encoder tensors a hash of those too), the SHA-256
 * of melspectrogram.onnx, and a settings string (decoding, padding, mode).
 * (Hashing the audio's hash rather than its bytes keeps one pass over the
 * bytes and is as collision-resistant.) A renamed or copied file hits; an
 * edited file, another model or other settings miss.
 *
 * Layout: <dir>/<first 2 hex>/<64 hex>.npy: a .npy file of float32
 * [n][96], then a 16-byte trailer: "es-cache", ES_CACHE_FORMAT (u32
 * little-endian) and the CRC-32C of the 64 hex digits of the key followed
 * by every byte of the file before the trailer (u32 little-endian).
 * numpy.load reads the array and ignores the trailer (it reads the count
 * the header gives). Entries are written whole (temporary file + rename),
 * so a reader never sees half a file, but not fsynced: one that a power
 * cut left short, or with blocks of zeros or of another file's old data,
 * or one with a flipped bit, fails its checksum on reading and is removed
 * and recomputed. The checksum covers the key, so another key's entry in
 * this one's place fails too.
 *
 * Entries of format 1 (before the trailer) are never read: their keys
 * hash "v1", so no lookup names them, and one found under a current key
 * has no trailer and is recomputed. Until removed they are still
 * earshot's entries to `earshot cache` (counted, and removed by --clear;
 * --tidy removes temporaries only, as always).
 *
 * Threads: es_cache_embed may be called concurrently on one cache (the
 * engine's whole-clip path allocates its scratch per call; the cache's only
 * shared mutable state is per-key write locks and a failure counter).
 */
#ifndef ES_CACHE_H
#define ES_CACHE_H

#include "es_internal.h"

#include <dirent.h>
#include <sys/stat.h>

/* Bump when anything that changes the stored numbers changes (front-end
 * code, decoding, padding rules) or the layout of an entry, so old entries
 * are simply missed. 2: the checksum trailer. */
#define ES_CACHE_FORMAT 2

typedef struct es_cache es_cache;

/* dir: NULL = $EARSHOT_CACHE if set, else
 * ${XDG_CACHE_HOME:-$HOME/.cache}/earshot/embeddings. Created if missing
 * (with parents). Reads the engine's two model files once to identify
 * them. The engine must outlive the cache. */
es_cache *es_cache_open(const char *dir, es_engine *eng, es_error *err);
void es_cache_close(es_cache *c);
/* SHA-256 of a file's bytes, read a megabyte at a time (what sha256sum
 * prints): the cache's keys, and the model card's data.sha256. */
es_status es_sha256_file(const char *path, unsigned char sha[32], es_error *err);
const char *es_cache_dir(const es_cache *c);
/* Front-end mode of the embeddings (default ES_EMBED_WHOLE); part of the
 * key. Set it before embedding, not while other threads use the cache. */
void es_cache_set_mode(es_cache *c, es_embed_mode mode);
/* Frequency warp of the front end (es_embed_opts.warp; 0 or 1 = none) for
 * the plain, shifted and speed-perturbed entries (not es_cache_embed_variants,
 * whose maker embeds by itself); part of their key. Set it like the mode. */
void es_cache_set_warp(es_cache *c, double warp);

/* Embeddings [*n][96] of an audio file as training wants them: decoded
 * with es_audio_load (quantize_int16 = 1), centred in pad_to seconds of
 * silence (pad_to = 0: no padding; longer clips keep their length), in
 * the cache's front-end mode (es_cache_set_mode). *emb is malloc'd (NULL when *n == 0). *hit (may be NULL)
 * is 1 when the result came from the cache. A corrupt or truncated entry
 * (one whose checksum fails) is removed and recomputed. A failure to store the result is not an
 * error (the embeddings are still right); it is counted, see
 * es_cache_write_failures. */
es_status es_cache_embed(es_cache *c, const char *path, double pad_to, float **emb, size_t *n, int *hit, es_error *err);

/* es_cache_embed over many files on es_threads() threads (each file is
 * decoded and embedded on one thread; clips up to ~2.6 s never start
 * threads of their own). embs[i] / counts[i] / st[i] receive file i's
 * result (embs[i] = NULL on failure); st may be NULL. progress (may be
 * NULL) is called after each file, from a worker thread but never two at
 * once, with done counting up to total. Returns ES_OK when every file
 * succeeded, else the first failing file's status with its message (and
 * how many others failed) in err; the other files' results are still
 * filled in. */
es_status es_cache_embed_many(es_cache *c, const char *const *paths, size_t n, double pad_to, float **embs,
                              size_t *counts, es_status *st,
                              void (*progress)(void *user, size_t done, size_t total, size_t hits), void *user,
                              es_error *err);

/* The same with the audio delayed by `shift` samples (0 <= shift <
 * ES_CHUNK) against the encoder's 80 ms grid: the clip is centred in
 * pad_to seconds as above, then `shift` samples of silence go before it
 * and ES_CHUNK - shift after it, so the grid starts where it did and the
 * embeddings see the clip at another sub-step offset (one more embedding
 * than unshifted; a window taken from the start lines up with the
 * unshifted one). shift 0 is exactly es_cache_embed / es_cache_embed_many.
 * Shifted entries are keyed by their shift. */
es_status es_cache_embed_shift(es_cache *c, const char *path, double pad_to, int shift, float **emb, size_t *n, int *hit,
                               es_error *err);
es_status es_cache_embed_many_shift(es_cache *c, const char *const *paths, size_t n, double pad_to, int shift,
                                    float **embs, size_t *counts, es_status *st,
                                    void (*progress)(void *user, size_t done, size_t total, size_t hits), void *user,
                                    es_error *err);

/* The same again with speed perturbation: the decoded samples are read as
 * if recorded at 16000*speed Hz and resampled to 16 kHz (libsamplerate),
 * so tempo and pitch change together (speed 1 = the shifted entry above;
 * 0.5 to 2). Speed-perturbed entries are keyed by their speed. */
es_status es_cache_embed_var(es_cache *c, const char *path, double pad_to, int shift, double speed, float **emb,
                             size_t *n, int *hit, es_error *err);
es_status es_cache_embed_many_var(es_cache *c, const char *const *paths, size_t n, double pad_to, int shift,
                                  double speed, float **embs, size_t *counts, es_status *st,
                                  void (*progress)(void *user, size_t done, size_t total, size_t hits), void *user,
                                  es_error *err);

/* The words es_cache_embed_many* and es_cache_embed_variants put after
 * the first failure's message when more failed: " (and N more files
 * failed)", "variants" for es_cache_embed_variants. A caller that runs them
 * on chunks of a list makes one message of the chunks': es_cache_more_cut
 * cuts the words off msg and returns how many failed (N + 1; 1 without
 * them), es_cache_more_fail reports the first message with the total.
 * One place for the words, so that the cutting always matches them. */
size_t es_cache_more_cut(char *msg, const char *what);
es_status es_cache_more_fail(es_error *err, es_status st, const char *first_msg, size_t failed, const char *what);

/* Entries that could not be stored (e.g. read-only or full disk) since
 * open; msg (may be NULL) receives the first such error. */
size_t es_cache_write_failures(es_cache *c, char *msg, size_t msg_len);

/* The SHA-256 of a file's bytes (es_sha256_file's, with its errors), as
 * the cache keys it: remembered while the cache is open, so a file whose
 * hash a caller takes here first (train's data.sha256) is not read again
 * for its key, nor the other way round. Thread-safe. */
es_status es_cache_file_sha(es_cache *c, const char *path, unsigned char sha[32], es_error *err);

/* The hex key of a file for these settings (65 bytes with the NUL), e.g.
 * to report or remove an entry. */
es_status es_cache_key(es_cache *c, const char *path, double pad_to, char key[65], es_error *err);

/* Variants of files: embeddings of audio derived from a file (augmented
 * copies, slices of a noise recording). Variant i derives from
 * paths[file_of[i]]; its key is the file's content hash, the models, pad_to
 * and tags[i] (at most ES_VARIANT_TAG_MAX bytes), so the tag must name the
 * derivation completely (e.g. an es_aug_recipe_str). On a miss,
 * make(ctx, i, x, n, &emb, &n_emb, err) computes the embeddings (malloc'd)
 * from the file's decoded audio x[n] (as es_cache_embed decodes it; decoded
 * once per file, and only when one of its variants misses); it is called
 * from several threads at once. embs[i] / counts[i] receive the results,
 * progress (may be NULL) counts variants. All or nothing: on any failure
 * every embs[i] is NULL and the first failure (in variant order) is
 * returned, naming its file. */
#define ES_VARIANT_TAG_MAX 512
typedef es_status (*es_variant_fn)(void *ctx, size_t i, const float *x, size_t n, float **emb, size_t *n_emb,
                                   es_error *err);
es_status es_cache_embed_variants(es_cache *c, const char *const *paths, size_t npaths, const size_t *file_of,
                                  const char *const *tags, size_t m, double pad_to, es_variant_fn make, void *ctx,
                                  float **embs, size_t *counts,
                                  void (*progress)(void *user, size_t done, size_t total, size_t hits), void *user,
                                  es_error *err);

/* ---- what a cache folder holds (earshot cache) ----
 *
 * The caches only grow: every clip, variant and synthesised set stays
 * until removed. A sweep walks a cache folder by its layout and touches
 * only the names earshot makes there (a folder given as --cache may hold
 * other files; those are counted, never removed); links are never
 * followed. ES_CACHE_TIDY removes the temporary files of runs that are
 * gone (SIGKILL, a crash: their rename never happened; a run is known by
 * the process tag in the name, pid and start time, so a reused pid does
 * not keep a leftover alive: es_tag_state); ES_CACHE_CLEAR
 * removes the entries too. Temporaries of a live process are its work in
 * progress and are left alone. A run reading the cache while it is
 * cleared recomputes what it misses; one that reads a synthesised set
 * being removed fails, so clear when no training runs. */
typedef enum { ES_CACHE_COUNT, ES_CACHE_TIDY, ES_CACHE_CLEAR } es_cache_sweep_mode;
typedef struct {
    size_t entries;              /* earshot's entries (embedding files, synthesised sets) */
    unsigned long long bytes;    /* their size on disk (blocks, as du counts) */
    size_t stale;                /* temporaries of runs that are gone */
    unsigned long long stale_bytes;
    size_t busy;                 /* temporaries of runs under way (left alone) */
    size_t other;                /* names earshot does not make (left alone) */
    size_t removed;              /* entries removed (ES_CACHE_CLEAR) */
    unsigned long long removed_bytes;
    size_t stale_removed;        /* temporaries removed (TIDY or CLEAR) */
    int skip_sizes;              /* set by the caller: entries' sizes not wanted (no walk of each set) */
    size_t failed;               /* removals that failed; the first in first_failure */
    char first_failure[600];
} es_cache_tally;
/* Remove path (a file, or a folder and all in it), counting it in the
 * tally as an entry or (stale != 0) a temporary; a failure is counted
 * too, and the first kept with its reason. */
void es_cache_remove_into(const char *path, unsigned long long bytes, int stale, es_cache_tally *t);
/* A sweep's next entry of the open folder d (named dir): its name, its path
 * in p (cap bytes) and its lstat in *sb; NULL at the end. "." and "..", and
 * a name gone since readdir (a run renamed its temporary into place, a
 * sweep at the same time removed it), are passed over; a path too long or
 * an lstat that fails otherwise counts as a name not earshot's. */
const char *es_sweep_next(DIR *d, const char *dir, char *p, size_t cap, struct stat *sb, es_cache_tally *t);
/* The folder es_cache_open(NULL) uses (malloc'd). */
es_status es_cache_default_dir(char **out, es_error *err);
/* Sweep an embedding cache folder (<dir>/<2 hex>/<64 hex>.npy). A missing
 * folder is an empty one. */
void es_cache_sweep(const char *dir, es_cache_sweep_mode mode, es_cache_tally *t);
/* The synthesis cache folder: given, else $EARSHOT_SYNTH_CACHE, else
 * ${XDG_CACHE_HOME:-$HOME/.cache}/earshot/synth. */
es_status es_synth_cache_dir(const char *given, char *buf, size_t size, es_error *err);
/* Sweep a synthesis cache folder: its sets are <16 hex>/ and
 * mix-<16 hex>/ (with a synthesis.json), its temporaries <set>.tmp<tag>
 * (es_proc_tag). */
void es_synth_cache_sweep(const char *root, es_cache_sweep_mode mode, es_cache_tally *t);

#endif
