/*
 * model/safetensors.h — earshot's trained-model file format (internal).
 *
 * The safetensors format of Hugging Face, as `safetensors.numpy.load_file`
 * reads it: an 8-byte little-endian u64 header length N, N bytes of UTF-8
 * JSON, then the raw little-endian tensor bytes. The JSON maps each tensor
 * name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the first byte after the header), plus an optional
 * "__metadata__" object of string values. The tensors cover the data
 * contiguously, without gaps or overlaps, up to the end of the file.
 *
 * earshot writes F32 only: the header padded with spaces so the data
 * starts on an 8-byte boundary, "__metadata__" first, then the tensors in
 * the order given, laid out in that order. It reads F32, and F16, BF16 and
 * F64 converted to float; other dtypes are refused as unsupported.
 */
#ifndef ES_SAFETENSORS_H
#define ES_SAFETENSORS_H

#include "earshot.h"
#include <stdint.h>

#define ES_ST_MAX_NAME 255              /* bytes in a tensor name */
#define ES_ST_MAX_DIMS 4
#define ES_ST_MAX_HEADER 100000000u     /* bytes of JSON header, as the reference reader */

typedef struct {
    const char *name;     /* <= 255 bytes */
    int ndim;             /* 0..4 */
    int64_t shape[4];
    const float *data;    /* F32 only (we only write F32) */
} es_st_tensor;

/* A parsed file; owns its memory (names, data, metadata). */
typedef struct es_st es_st;

/* Parse a whole file held in memory. `name` (the file's name, or NULL) is
 * used in error messages: "<name>: not a valid safetensors file: <reason>"
 * or "<name>: tensor '<tensor>': <reason>". ES_ERR_FORMAT for malformed
 * files, ES_ERR_UNSUPPORTED for dtypes other than F32/F16/BF16/F64 or more
 * than 4 dimensions. The bytes are copied; `buf` may be freed afterwards. */
es_st *es_st_parse(const unsigned char *buf, size_t len, const char *name, es_error *err);
es_st *es_st_load(const char *path, es_error *err);
void es_st_free(es_st *s);   /* accepts NULL */

/* Tensors in the order of their bytes in the file (for earshot's files:
 * the order they were written in). A tensor without elements still has a
 * non-NULL data pointer. */
size_t es_st_count(const es_st *s);
const es_st_tensor *es_st_at(const es_st *s, size_t i);            /* NULL if i >= count */
const es_st_tensor *es_st_get(const es_st *s, const char *name);   /* NULL if absent */

/* __metadata__ value for key, NULL if absent. Keys in file order. */
const char *es_st_meta(const es_st *s, const char *key);
size_t es_st_meta_count(const es_st *s);
const char *es_st_meta_key(const es_st *s, size_t i);             /* NULL if i >= count */

/* Write atomically (temp file + fsync + rename via es_write_atomic); meta
 * may be NULL/0. Tensors are written in the given order (the spec sorts
 * nothing; keep given order). Refuses (ES_ERR_ARG, nothing written):
 * duplicate or "__metadata__" names, names over 255 bytes or not UTF-8,
 * ndim outside 0..4, negative dimensions, NULL data for a non-empty
 * tensor, duplicate metadata keys, NULL or non-UTF-8 metadata strings. */
es_status es_st_write(const char *path, const es_st_tensor *t, size_t n, const char *const *meta_keys,
                      const char *const *meta_vals, size_t nmeta, es_error *err);

#endif
