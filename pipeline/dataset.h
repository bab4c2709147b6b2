/*
 * pipeline/dataset.h — training datasets on disk (internal).
 *
 * Two layouts:
 *  - folders (Speech Commands): DIR/<label>/<files>, with optional
 *    DIR/_unknown_/ (other speech, a label like any other) and
 *    DIR/_background_noise_/ (long noise recordings, not a label);
 *  - flat: DIR/<files> whose names follow a pattern such as
 *    "{label}_{speaker}_{take}" (FSDD), so a corpus trains in place.
 *
 * Everything is sorted (labels by name, items by path, byte order), so the
 * same folder gives the same dataset on every machine, and a seeded split
 * is reproducible.
 */
#ifndef ES_DATASET_H
#define ES_DATASET_H

#include "es_internal.h"

#include <stdint.h>

#define ES_LABEL_UNKNOWN "_unknown_"
#define ES_DIR_NOISE "_background_noise_"

typedef struct {
    char *path;        /* file path (DIR joined with the names found) */
    int label;         /* index into labels */
    char *speaker;     /* "" when unknown */
} es_item;

typedef struct {
    char **labels; size_t nlabels;   /* sorted by name; "_unknown_" included if present;
                                        "_background_noise_" is NOT a label */
    es_item *items; size_t nitems;   /* sorted by path, deterministic */
    char **noise; size_t nnoise;     /* audio files in _background_noise_/ (recursive), sorted */
    size_t nignored;                 /* audio files left out (*skipped of the scan) ... */
    char ignored_example[256];       /* ... and the first of them, for a note */
} es_dataset;

/* Scan a dataset.
 *
 * pattern == NULL: the folder layout. Every non-hidden sub-folder of dir is
 * a label, scanned recursively; audio files directly in dir are not part of
 * any label and are counted in *skipped.
 *
 * pattern != NULL: a flat folder (files directly in dir; sub-folders other
 * than _background_noise_/ are ignored) whose file names, without their
 * extension, follow the pattern: {label} (required), {speaker} (optional)
 * and any other {name} each match a non-empty run of characters up to the
 * next literal (the shortest such run; the last field takes the rest);
 * literal text must match exactly. Two fields must be separated by a
 * literal. Audio files that do not match are skipped and counted.
 *
 * Audio files are recognised by extension (wav, flac, ogg, oga, aiff, aif,
 * au, mp3; any case); hidden entries (".name") are ignored, other files
 * silently. Symbolic links are followed, but a directory is never entered
 * twice (device + inode), so link loops end.
 *
 * Speakers: {speaker} in pattern mode; in folder mode the Speech Commands
 * form "<speaker>_nohash_<n>.wav"; else "".
 *
 * Label names are any non-empty UTF-8 text without control characters or
 * '/'. Errors name the path: a missing, non-directory or unreadable dir, no
 * label folders, a label folder with no audio files, fewer than two labels
 * (one label plus _unknown_ is enough), a pattern without {label} or
 * matching no file. *skipped may be NULL. */
es_status es_dataset_scan(const char *dir, const char *pattern, es_dataset **out, size_t *skipped, es_error *err);
/* The same for a set of takes of known words (`earshot adapt`): one label
 * alone is enough (a user personalising a single wake word), everything
 * else as es_dataset_scan. */
es_status es_dataset_scan_takes(const char *dir, const char *pattern, es_dataset **out, size_t *skipped, es_error *err);
/* The same for a test set (`earshot eval`): any one label is enough, and
 * _unknown_ alone too (how often does other speech pass for a word?). */
es_status es_dataset_scan_test(const char *dir, const char *pattern, es_dataset **out, size_t *skipped, es_error *err);

/* `earshot synth -o DIR` names the label folders it moves into DIR in
 * DIR/.earshot-synth.<pid>.moving while it moves them (synth_data.c): a
 * folder with such a marker holds part of a dataset, from a run killed
 * during its moves, and every scan refuses it. The pid of a marker's name,
 * else 0. */
#define ES_SYNTH_MOVING_PREFIX ".earshot-synth."
#define ES_SYNTH_MOVING_SUFFIX ".moving"
long es_synth_moving_pid(const char *name);
void es_dataset_free(es_dataset *d);

/* Speaker of a Speech Commands file name "<speaker>_nohash_<n>.<ext>" (any
 * directories before it are ignored): writes it to buf and returns buf, or
 * returns buf holding "" if the name is not of that form (or the speaker
 * does not fit in size bytes). */
const char *es_dataset_sc_speaker(const char *name, char *buf, size_t size);

/* Validation split; val must hold d->nitems bytes and receives 1 for the
 * validation items, 0 for training. 0 < val_fraction < 1.
 *  - If every item has a speaker and there are at least two speakers, whole
 *    speakers are held out: the sorted speaker list is shuffled with the
 *    seed and speakers are taken in that order until at least
 *    val_fraction of the items are in validation (never all speakers).
 *  - Otherwise an item is in validation when a seeded hash of its file
 *    name (64-bit FNV-1a over the seed's 8 little-endian bytes and the
 *    base name without extension, then a splitmix64 finaliser) falls below
 *    val_fraction: the same on every machine, and an item keeps its side
 *    when others are added or removed. The count is only about
 *    val_fraction of the items (possibly 0 for tiny sets).
 * desc (may be NULL) receives one line, e.g.
 *   "by speaker: validation = jackson, theo (1000 of 3000 clips)"
 *   "by file-name hash: 600 of 3000 clips"
 * with a long speaker list shortened to "a, b, ... (+N more)". */
es_status es_dataset_split(const es_dataset *d, double val_fraction, uint64_t seed, unsigned char *val, char *desc,
                           size_t desc_len, es_error *err);

/* An explicit validation set: rewrite valset's item labels into train's
 * label indices and replace valset's label list by a copy of train's.
 * Every label of valset must be a label of train; else an error naming the
 * missing label, and valset is left unchanged. */
es_status es_dataset_remap(es_dataset *valset, const es_dataset *train, es_error *err);

/* The audio files below dir (recursively, links followed once, sorted),
 * e.g. a folder of noise recordings. *files is a malloc'd array of
 * malloc'd paths (free each, then the array). No audio file is an error
 * naming dir. */
es_status es_dataset_scan_audio(const char *dir, char ***files, size_t *n, es_error *err);

#endif
