/*
 * model/npy.c — numpy's .npy format (version 1.0), float32 little-endian,
 * C order: what `numpy.load` reads without options.
 *
 * Header: "\x93NUMPY" 0x01 0x00, a little-endian u16 header length, then a
 * Python dict literal padded with spaces and ending in '\n' so that the
 * data starts on a 64-byte boundary.
 */
#include "es_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

es_status es_npy_write(const char *path, const float *data, const size_t *shape, int ndim, es_error *err)
{
    return es_npy_write_ex(path, data, shape, ndim, 1, err);
}

es_status es_npy_write_ex(const char *path, const float *data, const size_t *shape, int ndim, int durable,
                          es_error *err)
{
    unsigned char *buf;
    size_t bytes;
    es_status s = es_npy_encode(path, data, shape, ndim, 0, &buf, &bytes, err);
    if (s) return s;
    s = es_write_atomic_ex(path, buf, bytes, durable, err);
    free(buf);
    return s;
}

es_status es_npy_encode(const char *name, const float *data, const size_t *shape, int ndim, size_t extra,
                        unsigned char **out, size_t *len, es_error *err)
{
    *out = NULL;
    *len = 0;
    if (!name || ndim < 0 || ndim > 8 || (!shape && ndim)) return es_fail(err, ES_ERR_ARG, "es_npy_write: invalid arguments");
    /* the reader's limit, so a count cannot wrap (2^33 x 2^31 wrapped to 0
     * and wrote a file the reader refused) */
    size_t elems = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] > ((size_t)1 << 40) || (shape[i] && elems > ((size_t)1 << 40) / shape[i]))
            return es_fail(err, ES_ERR_ARG, "es_npy_write: %s: shape too large (over 2^40 elements)", name);
        elems *= shape[i];
    }
    if (elems && !data) return es_fail(err, ES_ERR_ARG, "es_npy_write: invalid arguments");
    char dict[512];
    int k = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%zu%s", shape[i], (ndim == 1 || i < ndim - 1) ? ", " : "");
        count *= shape[i];
    }
    if (ndim == 1) k -= 1;   /* "(n,)" not "(n, )" */
    k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
    size_t hl = (size_t)k + 1;                 /* + '\n' */
    size_t total = 10 + hl;
    size_t pad = (64 - total % 64) % 64;
    hl += pad;
    size_t bytes = 10 + hl + count * sizeof(float);
    unsigned char *buf = malloc(bytes + extra);
    if (!buf) return es_fail(err, ES_ERR_NOMEM, "%s: out of memory", name);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, dict, (size_t)k);
    memset(buf + 10 + k, ' ', pad);
    buf[10 + hl - 1] = '\n';
    unsigned char *d = buf + 10 + hl;
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        d[4 * i] = (unsigned char)u;
        d[4 * i + 1] = (unsigned char)(u >> 8);
        d[4 * i + 2] = (unsigned char)(u >> 16);
        d[4 * i + 3] = (unsigned char)(u >> 24);
    }
    *out = buf;
    *len = bytes;
    return ES_OK;
}

es_status es_npy_read(const char *path, float **data, size_t *shape, int *ndim, es_error *err)
{
    if (data) *data = NULL;
    if (ndim) *ndim = 0;
    if (!path || !data || !shape || !ndim) return es_fail(err, ES_ERR_ARG, "es_npy_read: invalid arguments");
    unsigned char *buf;
    size_t len;
    es_status s = es_read_file(path, &buf, &len, err);
    if (s) return s;
    s = es_npy_decode(path, buf, len, data, shape, ndim, err);
    free(buf);
    return s;
}

es_status es_npy_decode(const char *name, const unsigned char *buf, size_t len, float **data, size_t *shape, int *ndim,
                        es_error *err)
{
    *data = NULL;
    *ndim = 0;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0 || buf[6] != 1) goto out;
    size_t hl = buf[8] | (size_t)buf[9] << 8;
    if (10 + hl > len) goto out;
    char hdr[65536 + 1];
    memcpy(hdr, buf + 10, hl);
    hdr[hl] = 0;
    if (!strstr(hdr, "'descr': '<f4'") || !strstr(hdr, "'fortran_order': False")) goto out;
    const char *p = strstr(hdr, "'shape': (");
    if (!p) goto out;
    p += 10;
    size_t count = 1;
    int nd = 0;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        if (*p < '0' || *p > '9' || nd >= 8) goto out;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (v > ((size_t)1 << 40) || (v && count > ((size_t)1 << 40) / v)) goto out;
        shape[nd++] = (size_t)v;
        count *= (size_t)v;
        p = end;
    }
    if (*p != ')' || len - 10 - hl != count * 4) goto out;
    float *d = malloc(count * sizeof(float) + 1);
    if (!d) return es_fail(err, ES_ERR_NOMEM, "%s: out of memory", name);
    const unsigned char *q = buf + 10 + hl;
    for (size_t i = 0; i < count; i++) {
        uint32_t u = (uint32_t)q[4 * i] | (uint32_t)q[4 * i + 1] << 8 | (uint32_t)q[4 * i + 2] << 16 | (uint32_t)q[4 * i + 3] << 24;
        memcpy(&d[i], &u, 4);
    }
    *data = d;
    *ndim = nd;
    return ES_OK;
out:
    return es_fail(err, ES_ERR_FORMAT, "%s: not a float32 .npy file", name);
}
