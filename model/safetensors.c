/*
 * model/safetensors.c — reader and writer of the safetensors format, the
 * format of earshot's trained models (see safetensors.h).
 *
 * Layout: u64 little-endian N, N bytes of UTF-8 JSON (padded with spaces
 * by writers so the data starts on an 8-byte boundary), then the tensor
 * bytes. The reader checks what the reference reader (the Rust crate
 * behind Python's `safetensors`) checks, and a little more: the header
 * length against the file and a 100 MB cap, UTF-8, a leading '{', valid
 * JSON with nothing but whitespace after it, each tensor's dtype, shape
 * and data_offsets, the byte count of shape x dtype against the offsets,
 * and that the tensors, sorted by offset, tile the data exactly: no gap,
 * no overlap, nothing left over. Also refused: duplicate keys (the
 * reference would silently keep one), non-string metadata values, names
 * over 255 bytes, and NUL characters (a "\u0000" escape), which C strings
 * cannot hold.
 *
 * The JSON is parsed and printed with cJSON. Integers are printed as raw
 * text so that large values never come out as "1e+15".
 */
#include "es_internal.h"
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integers in the header must be below 2^53, so that the double cJSON
 * parses them into holds them exactly. Any real offset is far below. */
#define ST_MAX_INT 9007199254740992.0   /* 2^53 */

struct es_st {
    size_t n, nmeta;
    es_st_tensor *t;                 /* in data-offset order */
    const es_st_tensor **by_name;    /* sorted by name, for es_st_get */
    const char **mkey, **mval;       /* metadata, in file order */
    char *strings;                   /* every name, key and value */
    float *data;                     /* every tensor's values */
};

enum { DT_F32, DT_F16, DT_BF16, DT_F64 };
static const struct { const char *name; unsigned size; } dtypes[] = {
    [DT_F32] = {"F32", 4}, [DT_F16] = {"F16", 2}, [DT_BF16] = {"BF16", 2}, [DT_F64] = {"F64", 8},
};

/* ------------------------------------------------------------ helpers */

static es_status file_fail(es_error *err, es_status st, const char *file, const char *fmt, ...) ES_PRINTF(4, 5);
static es_status file_fail(es_error *err, es_status st, const char *file, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return es_fail(err, st, "%s: not a valid safetensors file: %s", file, why);
}

static es_status tensor_fail(es_error *err, es_status st, const char *file, const char *tensor,
                             const char *fmt, ...) ES_PRINTF(5, 6);
static es_status tensor_fail(es_error *err, es_status st, const char *file, const char *tensor,
                             const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (strlen(tensor) > 64)
        return es_fail(err, st, "%s: tensor '%.60s...': %s", file, tensor, why);
    return es_fail(err, st, "%s: tensor '%s': %s", file, tensor, why);
}

/* What cJSON lets through but JSON (and the reference reader) does not:
 * invalid UTF-8, raw control characters in strings, whitespace other than
 * space, tab, CR and LF between tokens. Plus "\u0000", which would cut a
 * C string short. Returns the reason, with the offending byte in *at. */
static const char *scan_header(const unsigned char *h, size_t n, size_t *at)
{
    int in_str = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = h[i];
        *at = i;
        if (c >= 0x80) {
            size_t k = es_utf8_seq(h + i, n - i);
            if (!k) return "the header is not valid UTF-8";
            i += k;
            continue;
        }
        if (in_str) {
            if (c == '"') in_str = 0;
            else if (c == '\\') {
                if (i + 5 < n && h[i + 1] == 'u' && !memcmp(h + i + 2, "0000", 4))
                    return "the header holds a NUL character (\\u0000)";
                if (i + 1 < n && h[i + 1] < 0x80) i++;   /* skip the escaped character */
            } else if (c < 0x20) return "the header holds a control character inside a string";
        } else {
            if (c == '"') in_str = 1;
            else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return "the header holds a control character";
        }
        i++;
    }
    return NULL;
}

/* A JSON number that is a non-negative integer below 2^53. */
static int json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d < ST_MAX_INT)) return 0;   /* also refuses NaN */
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return 0;
    *out = u;
    return 1;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
}

static float f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0) {
        float f = (float)man * 0x1p-24f;   /* zero or subnormal: exact */
        memcpy(&u, &f, 4);
        u |= sign;
    } else if (exp == 31) {
        u = sign | 0x7f800000u | man << 13;   /* inf, NaN (payload kept) */
    } else {
        u = sign | (exp + 112) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* double -> float, rounding to nearest; out-of-range values become
 * +-FLT_MAX or +-inf as IEEE rounding says, without relying on the
 * (undefined in ISO C) out-of-range conversion. */
static float f64_to_float(double d)
{
    if (d != d) return (float)d;
    double a = d < 0 ? -d : d;
    if (a <= 0x1.fffffep127) return (float)d;
    float r = a < 0x1.ffffffp127 ? 0x1.fffffep127f : INFINITY;
    return d < 0 ? -r : r;
}

/* ------------------------------------------------------------- reading */

typedef struct {
    const char *name;      /* in the cJSON tree */
    int dtype;
    int ndim;
    int64_t shape[ES_ST_MAX_DIMS];
    uint64_t begin, end, count;
    size_t order;          /* position among the tensors in the JSON */
} st_entry;

static int cmp_key(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static int cmp_offsets(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp((*(const es_st_tensor *const *)a)->name, (*(const es_st_tensor *const *)b)->name);
}

/* Sort the keys of an object (n of them) into `tmp` and return the first
 * duplicate, or NULL. */
static const char *find_duplicate(const cJSON *obj, const cJSON **tmp, size_t n)
{
    size_t i = 0;
    for (const cJSON *c = obj->child; c && i < n; c = c->next) tmp[i++] = c;
    qsort(tmp, i, sizeof *tmp, cmp_key);
    for (size_t k = 1; k < i; k++)
        if (!strcmp(tmp[k - 1]->string, tmp[k]->string)) return tmp[k]->string;
    return NULL;
}

static es_status parse_entry(const cJSON *c, st_entry *e, uint64_t datalen, const char *file, es_error *err)
{
    const char *nm = c->string;
    size_t nl = strlen(nm);
    if (nl > ES_ST_MAX_NAME)
        return tensor_fail(err, ES_ERR_FORMAT, file, nm, "name is %zu bytes, longer than the %d allowed", nl,
                           ES_ST_MAX_NAME);
    if (!cJSON_IsObject(c))
        return tensor_fail(err, ES_ERR_FORMAT, file, nm, "not an object with dtype, shape and data_offsets");
    const cJSON *dt = NULL, *sh = NULL, *off = NULL;
    for (const cJSON *f = c->child; f; f = f->next) {
        const cJSON **slot = !strcmp(f->string, "dtype") ? &dt : !strcmp(f->string, "shape") ? &sh
                           : !strcmp(f->string, "data_offsets") ? &off : NULL;
        if (!slot) continue;   /* unknown fields are ignored, as the reference does */
        if (*slot) return tensor_fail(err, ES_ERR_FORMAT, file, nm, "field '%s' appears twice", f->string);
        *slot = f;
    }

    if (!dt) return tensor_fail(err, ES_ERR_FORMAT, file, nm, "no dtype");
    if (!cJSON_IsString(dt)) return tensor_fail(err, ES_ERR_FORMAT, file, nm, "dtype is not a string");
    e->dtype = -1;
    for (int k = 0; k < (int)(sizeof dtypes / sizeof dtypes[0]); k++)
        if (!strcmp(dt->valuestring, dtypes[k].name)) e->dtype = k;
    if (e->dtype < 0)
        return tensor_fail(err, ES_ERR_UNSUPPORTED, file, nm,
                           "dtype '%.32s' is not supported (earshot reads F32, F16, BF16 and F64)", dt->valuestring);

    if (!sh) return tensor_fail(err, ES_ERR_FORMAT, file, nm, "no shape");
    if (!cJSON_IsArray(sh)) return tensor_fail(err, ES_ERR_FORMAT, file, nm, "shape is not an array");
    uint64_t count = 1;
    int nd = 0, overflow = 0;
    for (const cJSON *d = sh->child; d; d = d->next, nd++) {
        uint64_t v;
        if (nd >= ES_ST_MAX_DIMS) {
            int total = nd;
            for (; d; d = d->next) total++;
            return tensor_fail(err, ES_ERR_UNSUPPORTED, file, nm, "%d dimensions; earshot supports at most %d",
                               total, ES_ST_MAX_DIMS);
        }
        if (!json_uint(d, &v))
            return tensor_fail(err, ES_ERR_FORMAT, file, nm, "shape[%d] is not a non-negative integer below 2^53", nd);
        e->shape[nd] = (int64_t)v;
        /* Overflow is an error even if a later dimension is 0, as in the reference. */
        if (v && count > UINT64_MAX / v) overflow = 1;
        else count *= v;
    }
    e->ndim = nd;
    unsigned size = dtypes[e->dtype].size;
    if (overflow || count > UINT64_MAX / size)
        return tensor_fail(err, ES_ERR_FORMAT, file, nm, "the number of bytes of its shape overflows");
    e->count = count;

    if (!off) return tensor_fail(err, ES_ERR_FORMAT, file, nm, "no data_offsets");
    const cJSON *b = cJSON_IsArray(off) ? off->child : NULL, *en = b ? b->next : NULL;
    if (!b || !en || en->next)
        return tensor_fail(err, ES_ERR_FORMAT, file, nm, "data_offsets is not an array of two integers");
    if (!json_uint(b, &e->begin) || !json_uint(en, &e->end))
        return tensor_fail(err, ES_ERR_FORMAT, file, nm, "data_offsets are not non-negative integers below 2^53");
    if (e->begin > e->end)
        return tensor_fail(err, ES_ERR_FORMAT, file, nm, "data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
                           e->begin, e->end);
    if (e->end > datalen)
        return tensor_fail(err, ES_ERR_FORMAT, file, nm,
                           "data_offsets [%" PRIu64 ", %" PRIu64 "] run past the end of the data (%" PRIu64 " bytes)",
                           e->begin, e->end, datalen);
    if (e->end - e->begin != count * size)
        return tensor_fail(err, ES_ERR_FORMAT, file, nm,
                           "%s shape of %" PRIu64 " elements needs %" PRIu64 " bytes, but data_offsets [%" PRIu64
                           ", %" PRIu64 "] hold %" PRIu64,
                           dtypes[e->dtype].name, count, count * size, e->begin, e->end, e->end - e->begin);
    return ES_OK;
}

static void convert(const unsigned char *src, int dtype, uint64_t count, float *dst)
{
    for (uint64_t i = 0; i < count; i++) {
        switch (dtype) {
        case DT_F32: {
            const unsigned char *p = src + 4 * i;
            uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&dst[i], &u, 4);
            break;
        }
        case DT_F16:
            dst[i] = f16_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
            break;
        case DT_BF16: {
            uint32_t u = (uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16;
            memcpy(&dst[i], &u, 4);
            break;
        }
        default: {
            uint64_t u = get_u64(src + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = f64_to_float(d);
            break;
        }
        }
    }
}

/* Everything after the JSON parse: validate the tree, then copy it out. */
static es_st *build(const cJSON *root, const unsigned char *data, uint64_t datalen, const char *file, es_error *err)
{
    es_st *s = NULL;
    size_t nk = 0;
    for (const cJSON *c = root->child; c; c = c->next) nk++;
    const cJSON **tmp = malloc((nk + 1) * sizeof *tmp);
    st_entry *e = malloc((nk + 1) * sizeof *e);
    if (!tmp || !e) {
        es_fail(err, ES_ERR_NOMEM, "%s: out of memory", file);
        goto fail;
    }
    const char *dup = find_duplicate(root, tmp, nk);
    if (dup) {
        if (!strcmp(dup, "__metadata__")) file_fail(err, ES_ERR_FORMAT, file, "__metadata__ appears twice");
        else tensor_fail(err, ES_ERR_FORMAT, file, dup, "appears twice in the header");
        goto fail;
    }

    /* __metadata__: an object of strings (null counts as absent). */
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    size_t nmeta = 0, strbytes = 0;
    if (meta && !cJSON_IsNull(meta)) {
        if (!cJSON_IsObject(meta)) {
            file_fail(err, ES_ERR_FORMAT, file, "__metadata__ is not an object");
            goto fail;
        }
        for (const cJSON *m = meta->child; m; m = m->next, nmeta++) {
            if (!cJSON_IsString(m)) {
                file_fail(err, ES_ERR_FORMAT, file, "__metadata__ value of '%.64s' is not a string", m->string);
                goto fail;
            }
            strbytes += strlen(m->string) + strlen(m->valuestring) + 2;
        }
        const cJSON **mtmp = malloc((nmeta + 1) * sizeof *mtmp);
        if (!mtmp) {
            es_fail(err, ES_ERR_NOMEM, "%s: out of memory", file);
            goto fail;
        }
        dup = find_duplicate(meta, mtmp, nmeta);
        free(mtmp);
        if (dup) {
            file_fail(err, ES_ERR_FORMAT, file, "__metadata__ key '%.64s' appears twice", dup);
            goto fail;
        }
    } else {
        meta = NULL;
    }

    /* The tensors, each on its own, in JSON order. */
    size_t n = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!strcmp(c->string, "__metadata__")) continue;
        memset(&e[n], 0, sizeof e[n]);
        e[n].name = c->string;
        e[n].order = n;
        if (parse_entry(c, &e[n], datalen, file, err) != ES_OK) goto fail;
        strbytes += strlen(c->string) + 1;
        n++;
    }

    /* Together: sorted by offset they must tile [0, datalen) exactly. */
    qsort(e, n, sizeof *e, cmp_offsets);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].begin > pos) {
            if (i == 0)
                file_fail(err, ES_ERR_FORMAT, file, "gap: the first tensor, '%.64s', starts at byte %" PRIu64 ", not 0",
                          e[i].name, e[i].begin);
            else
                file_fail(err, ES_ERR_FORMAT, file,
                          "gap of %" PRIu64 " bytes between tensors '%.64s' (ends at %" PRIu64 ") and '%.64s' (starts at %"
                          PRIu64 ")", e[i].begin - pos, e[i - 1].name, pos, e[i].name, e[i].begin);
            goto fail;
        }
        if (e[i].begin < pos) {
            file_fail(err, ES_ERR_FORMAT, file,
                      "tensors '%.64s' [%" PRIu64 ", %" PRIu64 ") and '%.64s' [%" PRIu64 ", %" PRIu64 ") overlap",
                      e[i - 1].name, e[i - 1].begin, e[i - 1].end, e[i].name, e[i].begin, e[i].end);
            goto fail;
        }
        pos = e[i].end;
    }
    if (pos != datalen) {
        if (n)
            file_fail(err, ES_ERR_FORMAT, file, "%" PRIu64 " bytes after the last tensor ('%.64s', ends at %" PRIu64
                      ") belong to no tensor", datalen - pos, e[n - 1].name, pos);
        else
            file_fail(err, ES_ERR_FORMAT, file, "%" PRIu64 " bytes of data but no tensors", datalen);
        goto fail;
    }

    /* Copy out. The counts are bounded by datalen, which is in memory. */
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += e[i].count;
    s = calloc(1, sizeof *s);
    if (!s || total >= SIZE_MAX / sizeof(float)) goto nomem;
    s->t = calloc(n + 1, sizeof *s->t);
    s->by_name = malloc((n + 1) * sizeof *s->by_name);
    s->mkey = malloc((nmeta + 1) * sizeof *s->mkey);
    s->mval = malloc((nmeta + 1) * sizeof *s->mval);
    s->strings = malloc(strbytes + 1);
    s->data = malloc(((size_t)total + 1) * sizeof(float));
    if (!s->t || !s->by_name || !s->mkey || !s->mval || !s->strings || !s->data) goto nomem;
    char *sp = s->strings;
    float *dp = s->data;
    for (size_t i = 0; i < n; i++) {
        es_st_tensor *t = &s->t[i];
        size_t l = strlen(e[i].name) + 1;
        memcpy(sp, e[i].name, l);
        t->name = sp;
        sp += l;
        t->ndim = e[i].ndim;
        memcpy(t->shape, e[i].shape, sizeof t->shape);
        convert(data + e[i].begin, e[i].dtype, e[i].count, dp);
        t->data = dp;
        dp += e[i].count;
        s->by_name[i] = t;
    }
    s->n = n;
    qsort(s->by_name, n, sizeof *s->by_name, cmp_tensor_name);
    size_t k = 0;
    for (const cJSON *m = meta ? meta->child : NULL; m; m = m->next, k++) {
        size_t l = strlen(m->string) + 1;
        memcpy(sp, m->string, l);
        s->mkey[k] = sp;
        sp += l;
        l = strlen(m->valuestring) + 1;
        memcpy(sp, m->valuestring, l);
        s->mval[k] = sp;
        sp += l;
    }
    s->nmeta = nmeta;
    free(tmp);
    free(e);
    return s;

nomem:
    es_fail(err, ES_ERR_NOMEM, "%s: out of memory", file);
fail:
    es_st_free(s);
    free(tmp);
    free(e);
    return NULL;
}

es_st *es_st_parse(const unsigned char *buf, size_t len, const char *name, es_error *err)
{
    const char *file = name ? name : "<memory>";
    if (!buf && len) {
        es_fail(err, ES_ERR_ARG, "es_st_parse: NULL buffer");
        return NULL;
    }
    if (len < 8) {
        file_fail(err, ES_ERR_FORMAT, file, "%zu bytes, too short for the 8-byte header length", len);
        return NULL;
    }
    uint64_t hl = get_u64(buf);
    if (hl > ES_ST_MAX_HEADER) {
        file_fail(err, ES_ERR_FORMAT, file, "header length %" PRIu64 " is over the %u-byte limit", hl,
                  ES_ST_MAX_HEADER);
        return NULL;
    }
    if (hl > len - 8) {
        file_fail(err, ES_ERR_FORMAT, file, "header length %" PRIu64 " runs past the end of the file (%zu bytes)",
                  hl, len);
        return NULL;
    }
    const unsigned char *h = buf + 8;
    size_t hn = (size_t)hl;
    if (hn == 0 || h[0] != '{') {
        file_fail(err, ES_ERR_FORMAT, file, "the header does not start with '{'");
        return NULL;
    }
    size_t at = 0;
    const char *why = scan_header(h, hn, &at);
    if (why) {
        file_fail(err, ES_ERR_FORMAT, file, "%s (byte %zu of the header)", why, at);
        return NULL;
    }
    /* cJSON gets its own NUL-terminated copy: it can never read past it. */
    char *txt = malloc(hn + 1);
    if (!txt) {
        es_fail(err, ES_ERR_NOMEM, "%s: out of memory", file);
        return NULL;
    }
    memcpy(txt, h, hn);
    txt[hn] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(txt, &end, 1);
    if (!root) {
        size_t pos = end && end >= txt && end <= txt + hn ? (size_t)(end - txt) : 0;
        free(txt);
        file_fail(err, ES_ERR_FORMAT, file, "the header is not valid JSON (error near byte %zu of the header)", pos);
        return NULL;
    }
    free(txt);
    es_st *s = NULL;
    if (!cJSON_IsObject(root))
        file_fail(err, ES_ERR_FORMAT, file, "the header is not a JSON object");
    else
        s = build(root, h + hn, (uint64_t)(len - 8 - hn), file, err);
    cJSON_Delete(root);
    return s;
}

es_st *es_st_load(const char *path, es_error *err)
{
    if (!path) {
        es_fail(err, ES_ERR_ARG, "es_st_load: NULL path");
        return NULL;
    }
    unsigned char *buf;
    size_t len;
    if (es_read_file(path, &buf, &len, err) != ES_OK) return NULL;
    es_st *s = es_st_parse(buf, len, path, err);
    free(buf);
    return s;
}

void es_st_free(es_st *s)
{
    if (!s) return;
    free(s->t);
    free(s->by_name);
    free(s->mkey);
    free(s->mval);
    free(s->strings);
    free(s->data);
    free(s);
}

size_t es_st_count(const es_st *s) { return s ? s->n : 0; }

const es_st_tensor *es_st_at(const es_st *s, size_t i) { return s && i < s->n ? &s->t[i] : NULL; }

const es_st_tensor *es_st_get(const es_st *s, const char *name)
{
    if (!s || !name || !s->n) return NULL;
    es_st_tensor key = {.name = name};
    const es_st_tensor *kp = &key;
    const es_st_tensor **hit = bsearch(&kp, s->by_name, s->n, sizeof *s->by_name, cmp_tensor_name);
    return hit ? *hit : NULL;
}

const char *es_st_meta(const es_st *s, const char *key)
{
    if (!s || !key) return NULL;
    for (size_t i = 0; i < s->nmeta; i++)
        if (!strcmp(s->mkey[i], key)) return s->mval[i];
    return NULL;
}

size_t es_st_meta_count(const es_st *s) { return s ? s->nmeta : 0; }

const char *es_st_meta_key(const es_st *s, size_t i) { return s && i < s->nmeta ? s->mkey[i] : NULL; }

/* ------------------------------------------------------------- writing */

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Is there a duplicate among n strings? Sorts a copy of the pointers. */
static es_status check_unique(const char *const *v, size_t n, const char **dup, const char *path, es_error *err)
{
    *dup = NULL;
    if (n < 2) return ES_OK;
    const char **c = malloc(n * sizeof *c);
    if (!c) return es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path);
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_str);
    for (size_t i = 1; i < n && !*dup; i++)
        if (!strcmp(c[i - 1], c[i])) *dup = c[i];
    free(c);
    return ES_OK;
}

static cJSON *raw_uint(uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, v);
    return cJSON_CreateRaw(num);
}

/* Append item to arr/obj; deletes the item if that fails. */
static int add_item(cJSON *to, const char *key, cJSON *item)
{
    if (!item) return 0;
    if (key ? cJSON_AddItemToObject(to, key, item) : cJSON_AddItemToArray(to, item)) return 1;
    cJSON_Delete(item);
    return 0;
}

es_status es_st_write(const char *path, const es_st_tensor *t, size_t n, const char *const *meta_keys,
                      const char *const *meta_vals, size_t nmeta, es_error *err)
{
    if (!path || (n && !t) || (nmeta && (!meta_keys || !meta_vals)))
        return es_fail(err, ES_ERR_ARG, "es_st_write: invalid arguments");

    /* Validate everything first: a refused write touches nothing. */
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const es_st_tensor *x = &t[i];
        if (!x->name) return es_fail(err, ES_ERR_ARG, "%s: tensor %zu has no name", path, i);
        size_t nl = strlen(x->name);
        if (nl > ES_ST_MAX_NAME)
            return tensor_fail(err, ES_ERR_ARG, path, x->name, "name is %zu bytes, longer than the %d allowed", nl,
                               ES_ST_MAX_NAME);
        if (!es_utf8_valid(x->name)) return tensor_fail(err, ES_ERR_ARG, path, x->name, "name is not valid UTF-8");
        if (!strcmp(x->name, "__metadata__"))
            return tensor_fail(err, ES_ERR_ARG, path, x->name, "name is reserved for the metadata");
        if (x->ndim < 0 || x->ndim > ES_ST_MAX_DIMS)
            return tensor_fail(err, ES_ERR_ARG, path, x->name, "%d dimensions; 0 to %d allowed", x->ndim,
                               ES_ST_MAX_DIMS);
        uint64_t count = 1;
        int overflow = 0;
        for (int d = 0; d < x->ndim; d++) {
            if (x->shape[d] < 0 || (double)x->shape[d] >= ST_MAX_INT)
                return tensor_fail(err, ES_ERR_ARG, path, x->name, "dimension %d is %" PRId64, d, x->shape[d]);
            uint64_t v = (uint64_t)x->shape[d];
            if (v && count > UINT64_MAX / v) overflow = 1;
            else count *= v;
        }
        if (overflow || count > (UINT64_MAX - bytes) / 4 || count * 4 + bytes > (uint64_t)(SIZE_MAX / 2))
            return tensor_fail(err, ES_ERR_ARG, path, x->name, "too large");
        if (count && !x->data) return tensor_fail(err, ES_ERR_ARG, path, x->name, "no data");
        bytes += count * 4;
    }
    for (size_t i = 0; i < nmeta; i++) {
        if (!meta_keys[i] || !meta_vals[i])
            return es_fail(err, ES_ERR_ARG, "%s: metadata entry %zu is NULL", path, i);
        if (!es_utf8_valid(meta_keys[i]) || !es_utf8_valid(meta_vals[i]))
            return es_fail(err, ES_ERR_ARG, "%s: metadata entry '%.64s' is not valid UTF-8", path, meta_keys[i]);
    }
    const char *dup;
    es_status st = ES_OK;
    if (n >= 2) {
        const char **names = malloc(n * sizeof *names);
        if (!names) return es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path);
        for (size_t i = 0; i < n; i++) names[i] = t[i].name;
        st = check_unique(names, n, &dup, path, err);
        free(names);
        if (st) return st;
        if (dup) return tensor_fail(err, ES_ERR_ARG, path, dup, "name given twice");
    }
    if ((st = check_unique(meta_keys, nmeta, &dup, path, err))) return st;
    if (dup) return es_fail(err, ES_ERR_ARG, "%s: metadata key '%.64s' given twice", path, dup);

    /* The header. */
    cJSON *root = cJSON_CreateObject(), *obj;
    char *js = NULL;
    unsigned char *buf = NULL;
    if (!root) goto nomem;
    if (nmeta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m) goto nomem;
        for (size_t i = 0; i < nmeta; i++)
            if (!add_item(m, meta_keys[i], cJSON_CreateString(meta_vals[i]))) goto nomem;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t count = 1;
        for (int d = 0; d < t[i].ndim; d++) count *= (uint64_t)t[i].shape[d];
        cJSON *shape, *offs;
        if (!add_item(root, t[i].name, obj = cJSON_CreateObject()) || !cJSON_AddStringToObject(obj, "dtype", "F32") ||
            !(shape = cJSON_AddArrayToObject(obj, "shape")) || !(offs = cJSON_AddArrayToObject(obj, "data_offsets")))
            goto nomem;
        for (int d = 0; d < t[i].ndim; d++)
            if (!add_item(shape, NULL, raw_uint((uint64_t)t[i].shape[d]))) goto nomem;
        if (!add_item(offs, NULL, raw_uint(off)) || !add_item(offs, NULL, raw_uint(off + count * 4))) goto nomem;
        off += count * 4;
    }
    js = cJSON_PrintUnformatted(root);
    if (!js) goto nomem;
    size_t jl = strlen(js), hl = (jl + 7) / 8 * 8;   /* spaces up to an 8-byte boundary */
    if (hl > ES_ST_MAX_HEADER) {
        st = es_fail(err, ES_ERR_ARG, "%s: the header would be %zu bytes, over the %u-byte limit", path, hl,
                     ES_ST_MAX_HEADER);
        goto out;
    }
    size_t total = 8 + hl + (size_t)bytes;
    buf = malloc(total);
    if (!buf) goto nomem;
    put_u64(buf, hl);
    memcpy(buf + 8, js, jl);
    memset(buf + 8 + jl, ' ', hl - jl);
    unsigned char *d = buf + 8 + hl;
    for (size_t i = 0; i < n; i++) {
        uint64_t count = 1;
        for (int k = 0; k < t[i].ndim; k++) count *= (uint64_t)t[i].shape[k];
        for (uint64_t k = 0; k < count; k++) {
            uint32_t u;
            memcpy(&u, &t[i].data[k], 4);
            d[0] = (unsigned char)u;
            d[1] = (unsigned char)(u >> 8);
            d[2] = (unsigned char)(u >> 16);
            d[3] = (unsigned char)(u >> 24);
            d += 4;
        }
    }
    st = es_write_atomic(path, buf, total, err);
    goto out;
nomem:
    st = es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path);
out:
    free(buf);
    cJSON_free(js);
    cJSON_Delete(root);
    return st;
}
