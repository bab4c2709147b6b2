/*
 * model/onnx.h — the parsed form of an ONNX model (internal).
 *
 * Only what earshot's models use is kept: the graph's nodes with their
 * attributes (including sub-graphs for If), initializers as float or int64
 * arrays, and the declared shapes of inputs and outputs. Everything lives in
 * one arena owned by the es_onnx handle and is freed with it.
 */
#ifndef ES_ONNX_H
#define ES_ONNX_H

#include "earshot.h"
#include <stdint.h>

enum {
    ES_DT_FLOAT = 1, ES_DT_UINT8 = 2, ES_DT_INT8 = 3, ES_DT_INT32 = 6,
    ES_DT_INT64 = 7, ES_DT_STRING = 8, ES_DT_BOOL = 9, ES_DT_DOUBLE = 11
};

enum { ES_ATTR_FLOAT = 1, ES_ATTR_INT = 2, ES_ATTR_STRING = 3, ES_ATTR_TENSOR = 4,
       ES_ATTR_GRAPH = 5, ES_ATTR_FLOATS = 6, ES_ATTR_INTS = 7, ES_ATTR_STRINGS = 8 };

#define ES_MAX_DIMS 8

typedef struct {
    const char *name;
    int dtype;
    int ndim;
    int64_t dims[ES_MAX_DIMS];
    size_t count;        /* product of dims */
    float *f;            /* dtype FLOAT: count values */
    int64_t *i;          /* integer and bool dtypes: count values, widened */
} es_tensor;

struct es_graph;

typedef struct {
    const char *name;
    int type;            /* ES_ATTR_*, inferred from the payload when absent */
    float f;
    int64_t i;
    const char *s;       /* NUL-terminated copy */
    es_tensor *t;
    struct es_graph *g;
    float *floats; size_t nfloats;
    int64_t *ints; size_t nints;
} es_attr;

typedef struct {
    const char *op;
    const char *name;
    const char *domain;
    const char **in;  size_t nin;
    const char **out; size_t nout;
    es_attr *attrs;   size_t nattrs;
} es_node;

typedef struct {
    const char *name;
    int elem;            /* element dtype, 0 when unknown */
    int ndim;            /* -1 when the shape is absent */
    int64_t dims[ES_MAX_DIMS];   /* -1 for a symbolic dimension */
} es_value_info;

typedef struct es_graph {
    const char *name;
    es_node *nodes;        size_t nnodes;
    es_tensor *inits;      size_t ninits;
    es_value_info *inputs; size_t ninputs;
    es_value_info *outputs; size_t noutputs;
} es_graph;

const es_graph *es_onnx_graph(const es_onnx *m);
const char *es_onnx_name(const es_onnx *m);         /* file name or label given at load */
int64_t es_onnx_opset(const es_onnx *m);            /* default-domain opset version */
const unsigned char *es_onnx_sha256(const es_onnx *m);  /* 32 bytes */

const es_tensor *es_graph_init(const es_graph *g, const char *name);
const es_attr *es_node_attr(const es_node *n, const char *name);
/* Attribute helpers with defaults. */
int64_t es_attr_int(const es_node *n, const char *name, int64_t dflt);
float es_attr_float(const es_node *n, const char *name, float dflt);

/* SHA-256 of a buffer (used to identify models). */
void es_sha256(const unsigned char *data, size_t len, unsigned char out[32]);
/* The same, fed piece by piece (a long file without holding it whole). */
typedef struct {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t nbuf;
} es_sha256_ctx;
void es_sha256_init(es_sha256_ctx *c);
void es_sha256_update(es_sha256_ctx *c, const unsigned char *data, size_t len);
void es_sha256_final(es_sha256_ctx *c, unsigned char out[32]);
/* A digest as the 64 lowercase hex digits sha256sum prints, and a NUL. */
void es_sha256_hex(const unsigned char sha[32], char out[65]);

#endif
