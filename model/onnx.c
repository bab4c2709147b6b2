/*
 * model/onnx.c — a reader for the ONNX protobuf wire format.
 *
 * Why hand-written: earshot needs a few dozen fields of onnx.proto, and the
 * models are untrusted bytes from outside. A small reader that checks every
 * length against the bytes that remain is easier to audit (and fuzz) than
 * generated code plus a runtime. Unknown fields are skipped, as protobuf
 * requires; nesting depth is bounded so a hostile file cannot exhaust the
 * stack; all memory comes from one arena so every error path frees it all.
 *
 * Field numbers (onnx.proto, IR version 3..10):
 *   ModelProto:  1 ir_version, 7 graph, 8 opset_import
 *   OperatorSetIdProto: 1 domain, 2 version
 *   GraphProto:  1 node, 2 name, 5 initializer, 11 input, 12 output
 *   NodeProto:   1 input, 2 output, 3 name, 4 op_type, 5 attribute, 7 domain
 *   AttributeProto: 1 name, 2 f, 3 i, 4 s, 5 t, 6 g, 7 floats, 8 ints,
 *                   9 strings, 20 type
 *   TensorProto: 1 dims, 2 data_type, 4 float_data, 5 int32_data,
 *                7 int64_data, 8 name, 9 raw_data, 14 data_location
 *   ValueInfoProto: 1 name, 2 type -> TypeProto 1 tensor_type ->
 *                   1 elem_type, 2 shape -> 1 dim -> 1 dim_value, 2 dim_param
 */
#include "onnx.h"
#include "es_internal.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- arena */

typedef struct block { struct block *next; } block;

struct es_onnx {
    block *blocks;
    es_graph *graph;
    int64_t ir_version;
    int64_t opset;
    char *label;
    unsigned char sha[32];
};

static void *arena_alloc(es_onnx *m, size_t n)
{
    if (n > ((size_t)1 << 40)) return NULL;
    block *b = calloc(1, sizeof(block) + n + 16);
    if (!b) return NULL;
    b->next = m->blocks;
    m->blocks = b;
    /* keep the payload 16-byte aligned for float arrays */
    return (char *)b + ((sizeof(block) + 15) & ~(size_t)15);
}

/* ------------------------------------------------------------- wire */

typedef struct {
    const unsigned char *p, *end;
} rd;

typedef struct {
    es_onnx *m;
    es_error *err;
    const char *name;
    int depth;
} ctx;

#define MAX_DEPTH 6

static int rd_varint(rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return 0;
        unsigned char c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) { *v = x; return 1; }
    }
    return 0;  /* more than 10 bytes: malformed */
}

/* Read one field header; returns 0 at end of buffer, -1 on malformed. */
static int rd_tag(rd *r, uint32_t *field, int *wt)
{
    if (r->p >= r->end) return 0;
    uint64_t t;
    if (!rd_varint(r, &t)) return -1;
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    if (*field == 0 || (t >> 3) > 0x1fffffff) return -1;
    return 1;
}

static int rd_bytes(rd *r, rd *sub)
{
    uint64_t len;
    if (!rd_varint(r, &len)) return 0;
    if (len > (uint64_t)(r->end - r->p)) return 0;
    sub->p = r->p;
    sub->end = r->p + len;
    r->p += len;
    return 1;
}

static int rd_skip(rd *r, int wt)
{
    uint64_t v;
    rd sub;
    switch (wt) {
    case 0: return rd_varint(r, &v);
    case 1: if (r->end - r->p < 8) return 0; r->p += 8; return 1;
    case 2: return rd_bytes(r, &sub);
    case 5: if (r->end - r->p < 4) return 0; r->p += 4; return 1;
    default: return 0;  /* groups (3, 4) are not used by ONNX */
    }
}

static float le_f32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t le_u64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--) u = (u << 8) | p[i];
    return u;
}

static es_status malformed(ctx *c, const char *what)
{
    return es_fail(c->err, ES_ERR_FORMAT, "%s: not a valid ONNX file: malformed %s", c->name, what);
}

static es_status nomem(ctx *c)
{
    return es_fail(c->err, ES_ERR_NOMEM, "%s: out of memory while reading the model", c->name);
}

static char *dup_str(ctx *c, rd *s)
{
    size_t n = (size_t)(s->end - s->p);
    char *o = arena_alloc(c->m, n + 1);
    if (!o) return NULL;
    memcpy(o, s->p, n);
    o[n] = 0;
    return o;
}

/* Growable arrays in the arena: simplest is to count first, then fill.
 * Protobuf repeated fields can be interleaved with others, so each message
 * parser makes two passes over its bytes: one to count, one to fill. */

/* Append to a packed-or-not repeated varint field. */
static es_status read_ints(ctx *c, rd *r, int wt, int64_t **arr, size_t *n, size_t *cap)
{
    uint64_t v;
    if (wt == 0) {
        if (!rd_varint(r, &v)) return malformed(c, "integer");
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 8;
            int64_t *na = arena_alloc(c->m, nc * sizeof(int64_t));
            if (!na) return nomem(c);
            if (*n) memcpy(na, *arr, *n * sizeof(int64_t));
            *arr = na;
            *cap = nc;
        }
        (*arr)[(*n)++] = (int64_t)v;
        return ES_OK;
    }
    if (wt != 2) return malformed(c, "integer list");
    rd sub;
    if (!rd_bytes(r, &sub)) return malformed(c, "integer list");
    /* count varints first so a huge packed list is one allocation */
    size_t cnt = 0;
    for (const unsigned char *q = sub.p; q < sub.end; q++) if (!(*q & 0x80)) cnt++;
    if (*n + cnt > *cap) {
        size_t nc = *n + cnt;
        int64_t *na = arena_alloc(c->m, (nc ? nc : 1) * sizeof(int64_t));
        if (!na) return nomem(c);
        if (*n) memcpy(na, *arr, *n * sizeof(int64_t));
        *arr = na;
        *cap = nc;
    }
    while (sub.p < sub.end) {
        if (!rd_varint(&sub, &v) || *n >= *cap) return malformed(c, "packed integer list");
        (*arr)[(*n)++] = (int64_t)v;
    }
    return ES_OK;
}

static es_status read_floats(ctx *c, rd *r, int wt, float **arr, size_t *n, size_t *cap)
{
    if (wt == 5) {
        if (r->end - r->p < 4) return malformed(c, "float");
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 8;
            float *na = arena_alloc(c->m, nc * sizeof(float));
            if (!na) return nomem(c);
            if (*n) memcpy(na, *arr, *n * sizeof(float));
            *arr = na;
            *cap = nc;
        }
        (*arr)[(*n)++] = le_f32(r->p);
        r->p += 4;
        return ES_OK;
    }
    if (wt != 2) return malformed(c, "float list");
    rd sub;
    if (!rd_bytes(r, &sub)) return malformed(c, "float list");
    size_t len = (size_t)(sub.end - sub.p);
    if (len % 4) return malformed(c, "packed float list");
    size_t cnt = len / 4;
    if (*n + cnt > *cap) {
        size_t nc = *n + cnt;
        float *na = arena_alloc(c->m, (nc ? nc : 1) * sizeof(float));
        if (!na) return nomem(c);
        if (*n) memcpy(na, *arr, *n * sizeof(float));
        *arr = na;
        *cap = nc;
    }
    for (size_t k = 0; k < cnt; k++) (*arr)[(*n)++] = le_f32(sub.p + 4 * k);
    return ES_OK;
}

/* ------------------------------------------------------------- tensor */

static es_status parse_tensor(ctx *c, rd r, es_tensor *t)
{
    memset(t, 0, sizeof *t);
    t->name = "";
    int64_t *dims = NULL; size_t ndims = 0, capd = 0;
    float *fd = NULL; size_t nf = 0, capf = 0;
    int64_t *id = NULL; size_t ni = 0, capi = 0;
    rd raw = {0, 0};
    int have_raw = 0;
    uint32_t field; int wt, k; uint64_t v;
    es_status s;
    while ((k = rd_tag(&r, &field, &wt)) > 0) {
        rd sub;
        switch (field) {
        case 1:
            if ((s = read_ints(c, &r, wt, &dims, &ndims, &capd))) return s;
            break;
        case 2:
            if (wt != 0 || !rd_varint(&r, &v)) return malformed(c, "tensor data type");
            t->dtype = (int)v;
            break;
        case 4:
            if ((s = read_floats(c, &r, wt, &fd, &nf, &capf))) return s;
            break;
        case 5: case 7:
            if ((s = read_ints(c, &r, wt, &id, &ni, &capi))) return s;
            break;
        case 8:
            if (wt != 2 || !rd_bytes(&r, &sub)) return malformed(c, "tensor name");
            if (!(t->name = dup_str(c, &sub))) return nomem(c);
            break;
        case 9:
            if (wt != 2 || !rd_bytes(&r, &raw)) return malformed(c, "tensor raw data");
            have_raw = 1;
            break;
        case 14:
            if (wt != 0 || !rd_varint(&r, &v)) return malformed(c, "tensor data location");
            if (v != 0)
                return es_fail(c->err, ES_ERR_UNSUPPORTED,
                               "%s: tensor '%s' keeps its data in an external file, which earshot does not read",
                               c->name, t->name);
            break;
        default:
            if (!rd_skip(&r, wt)) return malformed(c, "tensor field");
        }
    }
    if (k < 0) return malformed(c, "tensor");
    if (ndims > ES_MAX_DIMS)
        return es_fail(c->err, ES_ERR_FORMAT, "%s: tensor '%s' has %zu dimensions (at most %d supported)",
                       c->name, t->name, ndims, ES_MAX_DIMS);
    size_t count = 1;
    for (size_t d = 0; d < ndims; d++) {
        if (dims[d] < 0 || (dims[d] > 0 && count > ((size_t)1 << 32) / (size_t)dims[d]))
            return es_fail(c->err, ES_ERR_FORMAT, "%s: tensor '%s' has an invalid shape", c->name, t->name);
        count *= (size_t)dims[d];
        t->dims[d] = dims[d];
    }
    t->ndim = (int)ndims;
    t->count = count;

    size_t esize;
    switch (t->dtype) {
    case ES_DT_FLOAT: case ES_DT_INT32: esize = 4; break;
    case ES_DT_INT64: case ES_DT_DOUBLE: esize = 8; break;
    case ES_DT_UINT8: case ES_DT_INT8: case ES_DT_BOOL: esize = 1; break;
    default:
        /* Kept as a shape only; any use of its values is refused later. */
        return ES_OK;
    }
    if (have_raw) {
        if ((size_t)(raw.end - raw.p) != count * esize)
            return es_fail(c->err, ES_ERR_FORMAT,
                           "%s: tensor '%s' holds %zu bytes of data but its shape needs %zu",
                           c->name, t->name, (size_t)(raw.end - raw.p), count * esize);
    } else if (t->dtype == ES_DT_FLOAT || t->dtype == ES_DT_DOUBLE) {
        if (t->dtype == ES_DT_DOUBLE) return ES_OK;  /* double_data not kept */
        if (nf != count)
            return es_fail(c->err, ES_ERR_FORMAT, "%s: tensor '%s' has %zu values but its shape needs %zu",
                           c->name, t->name, nf, count);
    } else if (ni != count) {
        return es_fail(c->err, ES_ERR_FORMAT, "%s: tensor '%s' has %zu values but its shape needs %zu",
                       c->name, t->name, ni, count);
    }

    if (t->dtype == ES_DT_FLOAT) {
        if (have_raw) {
            t->f = arena_alloc(c->m, count * sizeof(float) + 1);
            if (!t->f) return nomem(c);
            for (size_t q = 0; q < count; q++) t->f[q] = le_f32(raw.p + 4 * q);
        } else {
            t->f = fd;
        }
    } else if (t->dtype == ES_DT_DOUBLE) {
        t->f = arena_alloc(c->m, count * sizeof(float) + 1);
        if (!t->f) return nomem(c);
        for (size_t q = 0; q < count; q++) {
            uint64_t u = le_u64(raw.p + 8 * q);
            double d;
            memcpy(&d, &u, 8);
            t->f[q] = (float)d;
        }
    } else {
        t->i = arena_alloc(c->m, count * sizeof(int64_t) + 1);
        if (!t->i) return nomem(c);
        for (size_t q = 0; q < count; q++) {
            if (!have_raw) { t->i[q] = id[q]; continue; }
            const unsigned char *p = raw.p + esize * q;
            switch (t->dtype) {
            case ES_DT_INT64: t->i[q] = (int64_t)le_u64(p); break;
            case ES_DT_INT32: t->i[q] = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 |
                                                  (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24); break;
            case ES_DT_INT8: t->i[q] = (int8_t)p[0]; break;
            default: t->i[q] = p[0]; break;
            }
        }
    }
    return ES_OK;
}

/* ------------------------------------------------------------- graph */

static es_status parse_graph(ctx *c, rd r, es_graph *g);

static es_status parse_attr(ctx *c, rd r, es_attr *a)
{
    memset(a, 0, sizeof *a);
    a->name = "";
    size_t capf = 0, capi = 0;
    uint32_t field; int wt, k; uint64_t v;
    es_status s;
    while ((k = rd_tag(&r, &field, &wt)) > 0) {
        rd sub;
        switch (field) {
        case 1:
            if (wt != 2 || !rd_bytes(&r, &sub)) return malformed(c, "attribute name");
            if (!(a->name = dup_str(c, &sub))) return nomem(c);
            break;
        case 2:
            if (wt != 5 || r.end - r.p < 4) return malformed(c, "float attribute");
            a->f = le_f32(r.p);
            r.p += 4;
            if (!a->type) a->type = ES_ATTR_FLOAT;
            break;
        case 3:
            if (wt != 0 || !rd_varint(&r, &v)) return malformed(c, "int attribute");
            a->i = (int64_t)v;
            if (!a->type) a->type = ES_ATTR_INT;
            break;
        case 4:
            if (wt != 2 || !rd_bytes(&r, &sub)) return malformed(c, "string attribute");
            if (!(a->s = dup_str(c, &sub))) return nomem(c);
            if (!a->type) a->type = ES_ATTR_STRING;
            break;
        case 5:
            if (wt != 2 || !rd_bytes(&r, &sub)) return malformed(c, "tensor attribute");
            if (!(a->t = arena_alloc(c->m, sizeof(es_tensor)))) return nomem(c);
            if ((s = parse_tensor(c, sub, a->t))) return s;
            if (!a->type) a->type = ES_ATTR_TENSOR;
            break;
        case 6:
            if (wt != 2 || !rd_bytes(&r, &sub)) return malformed(c, "graph attribute");
            if (c->depth >= MAX_DEPTH)
                return es_fail(c->err, ES_ERR_FORMAT, "%s: sub-graphs nested too deeply", c->name);
            if (!(a->g = arena_alloc(c->m, sizeof(es_graph)))) return nomem(c);
            c->depth++;
            s = parse_graph(c, sub, a->g);
            c->depth--;
            if (s) return s;
            if (!a->type) a->type = ES_ATTR_GRAPH;
            break;
        case 7:
            if ((s = read_floats(c, &r, wt, &a->floats, &a->nfloats, &capf))) return s;
            if (!a->type) a->type = ES_ATTR_FLOATS;
            break;
        case 8:
            if ((s = read_ints(c, &r, wt, &a->ints, &a->nints, &capi))) return s;
            if (!a->type) a->type = ES_ATTR_INTS;
            break;
        case 20:
            if (wt != 0 || !rd_varint(&r, &v)) return malformed(c, "attribute type");
            a->type = (int)v;
            break;
        default:
            if (!rd_skip(&r, wt)) return malformed(c, "attribute field");
        }
    }
    return k < 0 ? malformed(c, "attribute") : ES_OK;
}

static es_status parse_node(ctx *c, rd r, es_node *n)
{
    memset(n, 0, sizeof *n);
    n->op = n->name = n->domain = "";
    /* pass 1: count repeated fields */
    size_t nin = 0, nout = 0, nattr = 0;
    rd q = r;
    uint32_t field; int wt, k;
    while ((k = rd_tag(&q, &field, &wt)) > 0) {
        if (field == 1 && wt == 2) nin++;
        else if (field == 2 && wt == 2) nout++;
        else if (field == 5 && wt == 2) nattr++;
        if (!rd_skip(&q, wt)) return malformed(c, "node");
    }
    if (k < 0) return malformed(c, "node");
    n->in = arena_alloc(c->m, (nin + 1) * sizeof(char *));
    n->out = arena_alloc(c->m, (nout + 1) * sizeof(char *));
    n->attrs = arena_alloc(c->m, (nattr + 1) * sizeof(es_attr));
    if (!n->in || !n->out || !n->attrs) return nomem(c);
    es_status s;
    while ((k = rd_tag(&r, &field, &wt)) > 0) {
        rd sub;
        if (wt == 2 && (field == 1 || field == 2 || field == 3 || field == 4 || field == 5 || field == 7)) {
            if (!rd_bytes(&r, &sub)) return malformed(c, "node field");
            char *str = NULL;
            if (field != 5 && !(str = dup_str(c, &sub))) return nomem(c);
            switch (field) {
            case 1: n->in[n->nin++] = str; break;
            case 2: n->out[n->nout++] = str; break;
            case 3: n->name = str; break;
            case 4: n->op = str; break;
            case 7: n->domain = str; break;
            case 5:
                if ((s = parse_attr(c, sub, &n->attrs[n->nattrs]))) return s;
                n->nattrs++;
                break;
            }
        } else if (!rd_skip(&r, wt)) {
            return malformed(c, "node field");
        }
    }
    return ES_OK;
}

static es_status parse_value_info(ctx *c, rd r, es_value_info *vi)
{
    memset(vi, 0, sizeof *vi);
    vi->name = "";
    vi->ndim = -1;
    uint32_t field; int wt, k; uint64_t v;
    while ((k = rd_tag(&r, &field, &wt)) > 0) {
        rd sub;
        if (field == 1 && wt == 2) {
            if (!rd_bytes(&r, &sub)) return malformed(c, "value name");
            if (!(vi->name = dup_str(c, &sub))) return nomem(c);
        } else if (field == 2 && wt == 2) {
            rd type;
            if (!rd_bytes(&r, &type)) return malformed(c, "value type");
            while ((k = rd_tag(&type, &field, &wt)) > 0) {
                if (field != 1 || wt != 2) { if (!rd_skip(&type, wt)) return malformed(c, "type"); continue; }
                rd tt;
                if (!rd_bytes(&type, &tt)) return malformed(c, "tensor type");
                while ((k = rd_tag(&tt, &field, &wt)) > 0) {
                    if (field == 1 && wt == 0) {
                        if (!rd_varint(&tt, &v)) return malformed(c, "element type");
                        vi->elem = (int)v;
                    } else if (field == 2 && wt == 2) {
                        rd shape;
                        if (!rd_bytes(&tt, &shape)) return malformed(c, "shape");
                        vi->ndim = 0;
                        while ((k = rd_tag(&shape, &field, &wt)) > 0) {
                            if (field != 1 || wt != 2) { if (!rd_skip(&shape, wt)) return malformed(c, "shape"); continue; }
                            rd dim;
                            if (!rd_bytes(&shape, &dim)) return malformed(c, "dimension");
                            if (vi->ndim >= ES_MAX_DIMS) return malformed(c, "shape (too many dimensions)");
                            int64_t dv = -1;
                            while ((k = rd_tag(&dim, &field, &wt)) > 0) {
                                if (field == 1 && wt == 0) {
                                    if (!rd_varint(&dim, &v)) return malformed(c, "dimension");
                                    dv = (int64_t)v;
                                } else if (!rd_skip(&dim, wt)) return malformed(c, "dimension");
                            }
                            if (k < 0) return malformed(c, "dimension");
                            vi->dims[vi->ndim++] = dv;
                        }
                        if (k < 0) return malformed(c, "shape");
                    } else if (!rd_skip(&tt, wt)) return malformed(c, "tensor type");
                }
                if (k < 0) return malformed(c, "tensor type");
            }
            if (k < 0) return malformed(c, "type");
        } else if (!rd_skip(&r, wt)) {
            return malformed(c, "value info");
        }
    }
    return k < 0 ? malformed(c, "value info") : ES_OK;
}

static es_status parse_graph(ctx *c, rd r, es_graph *g)
{
    memset(g, 0, sizeof *g);
    g->name = "";
    size_t nn = 0, ni = 0, nin = 0, nout = 0;
    rd q = r;
    uint32_t field; int wt, k;
    while ((k = rd_tag(&q, &field, &wt)) > 0) {
        if (wt == 2) {
            if (field == 1) nn++;
            else if (field == 5) ni++;
            else if (field == 11) nin++;
            else if (field == 12) nout++;
        }
        if (!rd_skip(&q, wt)) return malformed(c, "graph");
    }
    if (k < 0) return malformed(c, "graph");
    g->nodes = arena_alloc(c->m, (nn + 1) * sizeof(es_node));
    g->inits = arena_alloc(c->m, (ni + 1) * sizeof(es_tensor));
    g->inputs = arena_alloc(c->m, (nin + 1) * sizeof(es_value_info));
    g->outputs = arena_alloc(c->m, (nout + 1) * sizeof(es_value_info));
    if (!g->nodes || !g->inits || !g->inputs || !g->outputs) return nomem(c);
    es_status s = ES_OK;
    while ((k = rd_tag(&r, &field, &wt)) > 0) {
        rd sub;
        if (wt != 2 || (field != 1 && field != 2 && field != 5 && field != 11 && field != 12)) {
            if (!rd_skip(&r, wt)) return malformed(c, "graph field");
            continue;
        }
        if (!rd_bytes(&r, &sub)) return malformed(c, "graph field");
        switch (field) {
        case 1: s = parse_node(c, sub, &g->nodes[g->nnodes++]); break;
        case 2: if (!(g->name = dup_str(c, &sub))) return nomem(c); break;
        case 5: s = parse_tensor(c, sub, &g->inits[g->ninits++]); break;
        case 11: s = parse_value_info(c, sub, &g->inputs[g->ninputs++]); break;
        case 12: s = parse_value_info(c, sub, &g->outputs[g->noutputs++]); break;
        }
        if (s) return s;
    }
    return ES_OK;
}

static es_status parse_model(ctx *c, rd r)
{
    es_onnx *m = c->m;
    uint32_t field; int wt, k; uint64_t v;
    m->opset = -1;
    es_status s;
    while ((k = rd_tag(&r, &field, &wt)) > 0) {
        rd sub;
        if (field == 1 && wt == 0) {
            if (!rd_varint(&r, &v)) return malformed(c, "IR version");
            m->ir_version = (int64_t)v;
        } else if (field == 7 && wt == 2) {
            if (!rd_bytes(&r, &sub)) return malformed(c, "graph");
            if (m->graph) return malformed(c, "model (two graphs)");
            if (!(m->graph = arena_alloc(m, sizeof(es_graph)))) return nomem(c);
            if ((s = parse_graph(c, sub, m->graph))) return s;
        } else if (field == 8 && wt == 2) {
            if (!rd_bytes(&r, &sub)) return malformed(c, "opset import");
            const char *domain = "";
            int64_t ver = 0;
            while ((k = rd_tag(&sub, &field, &wt)) > 0) {
                rd d;
                if (field == 1 && wt == 2) {
                    if (!rd_bytes(&sub, &d)) return malformed(c, "opset domain");
                    domain = (d.end == d.p) ? "" : "x";
                } else if (field == 2 && wt == 0) {
                    if (!rd_varint(&sub, &v)) return malformed(c, "opset version");
                    ver = (int64_t)v;
                } else if (!rd_skip(&sub, wt)) return malformed(c, "opset import");
            }
            if (k < 0) return malformed(c, "opset import");
            if (!domain[0]) m->opset = ver;
        } else if (!rd_skip(&r, wt)) {
            return malformed(c, "model field");
        }
    }
    if (k < 0) return malformed(c, "model");
    if (!m->graph)
        return es_fail(c->err, ES_ERR_FORMAT, "%s: not a valid ONNX file: no graph", c->name);
    if (m->ir_version < 3 || m->ir_version > 11)
        return es_fail(c->err, ES_ERR_FORMAT, "%s: not a valid ONNX file: IR version %lld is unknown",
                       c->name, (long long)m->ir_version);
    return ES_OK;
}

es_onnx *es_onnx_parse(const unsigned char *buf, size_t len, const char *name, es_error *err)
{
    if (!name) name = "(model)";
    if (!buf || len == 0) {
        es_fail(err, ES_ERR_FORMAT, "%s: not a valid ONNX file: empty", name);
        return NULL;
    }
    es_onnx *m = calloc(1, sizeof *m);
    if (!m) { es_fail(err, ES_ERR_NOMEM, "%s: out of memory", name); return NULL; }
    m->label = arena_alloc(m, strlen(name) + 1);
    if (!m->label) { es_onnx_free(m); es_fail(err, ES_ERR_NOMEM, "%s: out of memory", name); return NULL; }
    strcpy(m->label, name);
    ctx c = { m, err, m->label, 0 };
    rd r = { buf, buf + len };
    if (parse_model(&c, r) != ES_OK) {
        es_onnx_free(m);
        return NULL;
    }
    es_sha256(buf, len, m->sha);
    return m;
}

es_onnx *es_onnx_load(const char *path, es_error *err)
{
    unsigned char *buf;
    size_t len;
    if (!path) {   /* as es_audio_load: not a file that cannot be opened */
        es_fail(err, ES_ERR_ARG, "es_onnx_load: path is NULL");
        return NULL;
    }
    if (es_read_file(path, &buf, &len, err) != ES_OK) return NULL;
    es_onnx *m = es_onnx_parse(buf, len, path, err);
    free(buf);
    return m;
}

void es_onnx_free(es_onnx *m)
{
    if (!m) return;
    block *b = m->blocks;
    while (b) {
        block *n = b->next;
        free(b);
        b = n;
    }
    free(m);
}

const es_graph *es_onnx_graph(const es_onnx *m) { return m->graph; }
const char *es_onnx_name(const es_onnx *m) { return m->label; }
int64_t es_onnx_opset(const es_onnx *m) { return m->opset; }
const unsigned char *es_onnx_sha256(const es_onnx *m) { return m->sha; }

const es_tensor *es_graph_init(const es_graph *g, const char *name)
{
    for (size_t i = 0; i < g->ninits; i++)
        if (strcmp(g->inits[i].name, name) == 0) return &g->inits[i];
    return NULL;
}

const es_attr *es_node_attr(const es_node *n, const char *name)
{
    for (size_t i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t es_attr_int(const es_node *n, const char *name, int64_t dflt)
{
    const es_attr *a = es_node_attr(n, name);
    return a && a->type == ES_ATTR_INT ? a->i : dflt;
}

float es_attr_float(const es_node *n, const char *name, float dflt)
{
    const es_attr *a = es_node_attr(n, name);
    return a && a->type == ES_ATTR_FLOAT ? a->f : dflt;
}

/* ------------------------------------------------------------- SHA-256 */
/* FIPS 180-4. Used to identify the encoder a trained head was made with. */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

void es_sha256_init(es_sha256_ctx *c)
{
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, H0, sizeof H0);
    c->len = 0;
    c->nbuf = 0;
}

void es_sha256_update(es_sha256_ctx *c, const unsigned char *data, size_t len)
{
    if (!len) return;
    c->len += len;
    if (c->nbuf) {   /* fill the partial block first */
        size_t k = 64 - c->nbuf < len ? 64 - c->nbuf : len;
        memcpy(c->buf + c->nbuf, data, k);
        c->nbuf += k;
        data += k;
        len -= k;
        if (c->nbuf < 64) return;
        sha_block(c->h, c->buf);
        c->nbuf = 0;
    }
    for (; len >= 64; data += 64, len -= 64) sha_block(c->h, data);
    memcpy(c->buf, data, len);
    c->nbuf = len;
}

void es_sha256_final(es_sha256_ctx *c, unsigned char out[32])
{
    unsigned char tail[128] = {0};
    memcpy(tail, c->buf, c->nbuf);
    tail[c->nbuf] = 0x80;
    size_t tl = c->nbuf < 56 ? 64 : 128;
    uint64_t bits = c->len * 8;
    for (int k = 0; k < 8; k++) tail[tl - 1 - k] = (unsigned char)(bits >> (8 * k));
    sha_block(c->h, tail);
    if (tl == 128) sha_block(c->h, tail + 64);
    for (int k = 0; k < 8; k++) {
        out[4 * k] = (unsigned char)(c->h[k] >> 24);
        out[4 * k + 1] = (unsigned char)(c->h[k] >> 16);
        out[4 * k + 2] = (unsigned char)(c->h[k] >> 8);
        out[4 * k + 3] = (unsigned char)c->h[k];
    }
}

void es_sha256_hex(const unsigned char sha[32], char out[65])
{
    static const char digit[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digit[sha[i] >> 4];
        out[2 * i + 1] = digit[sha[i] & 15];
    }
    out[64] = 0;
}

void es_sha256(const unsigned char *data, size_t len, unsigned char out[32])
{
    es_sha256_ctx c;
    es_sha256_init(&c);
    es_sha256_update(&c, data, len);
    es_sha256_final(&c, out);
}
