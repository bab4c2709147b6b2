/*
 * fuzz/fuzz_safetensors.c — libFuzzer target for the safetensors reader.
 * The bytes go straight to es_st_parse. A refusal must name the input;
 * whatever is accepted must be well formed (names found by es_st_get,
 * shapes in range, data present), and must survive es_st_write to a temp
 * file and es_st_load back unchanged, bit for bit. The rewritten file is
 * canonical: writing what was read from it gives the same bytes again.
 * That file then goes to es_classifier_load, the model-card reader (labels,
 * architecture, the from-scratch CNN's layer list, fine-tuned encoder
 * tensors, the class means): it must refuse with a message naming the file
 * or give a usable classifier, whose es_selfadapt (when it has class means)
 * keeps a finite offset (seeds: fuzz/make_corpus.sh copies trained models
 * if given).
 *
 * Build and run with scripts/fuzz.sh safetensors SECONDS.
 */
#include "earshot.h"
#include "../model/safetensors.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char st_path[4096];

static void st_cleanup(void)
{
    if (st_path[0]) unlink(st_path);
}

/* A private temp path, made once; es_st_write replaces the file at it. */
static int st_temp_path(void)
{
    if (st_path[0]) return 0;
    const char *d = getenv("TMPDIR");
    snprintf(st_path, sizeof st_path, "%s/es_fuzz_st_XXXXXX", d && *d ? d : "/tmp");
    int fd = mkstemp(st_path);
    if (fd < 0) {
        st_path[0] = 0;
        return -1;
    }
    close(fd);
    atexit(st_cleanup);
    return 0;
}

static unsigned char *st_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0, r;
    unsigned char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

static size_t st_elems(const es_st_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

/* Write everything in s to st_path. */
static es_status st_rewrite(const es_st *s, es_error *err)
{
    size_t n = es_st_count(s), nm = es_st_meta_count(s);
    es_st_tensor *t = malloc((n + 1) * sizeof *t);
    const char **k = malloc((nm + 1) * sizeof *k), **v = malloc((nm + 1) * sizeof *v);
    if (!t || !k || !v) abort();
    for (size_t i = 0; i < n; i++) t[i] = *es_st_at(s, i);
    for (size_t i = 0; i < nm; i++) {
        k[i] = es_st_meta_key(s, i);
        v[i] = es_st_meta(s, k[i]);
    }
    es_status st = es_st_write(st_path, t, n, k, v, nm, err);
    free(t);
    free(k);
    free(v);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    es_error err = {0};
    es_st *s = es_st_parse(data, size, "fuzz-input", &err);
    if (!s) {
        if (err.status == ES_OK || !strstr(err.msg, "fuzz-input: ")) abort();
        return 0;
    }
    /* Well formed. */
    size_t n = es_st_count(s), nm = es_st_meta_count(s), total = 0;
    for (size_t i = 0; i < n; i++) {
        const es_st_tensor *t = es_st_at(s, i);
        if (!t || !t->name || !t->data || t->ndim < 0 || t->ndim > 4 || strlen(t->name) > ES_ST_MAX_NAME) abort();
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0) abort();
        if (es_st_get(s, t->name) != t) abort();
        total += st_elems(t);
    }
    if (total * 2 > size || es_st_at(s, n)) abort();   /* 2 bytes per element at least */
    for (size_t i = 0; i < nm; i++) {
        const char *k = es_st_meta_key(s, i);
        if (!k || !es_st_meta(s, k)) abort();
    }

    /* Round trip through a file. */
    if (st_temp_path() != 0) {
        es_st_free(s);
        return 0;
    }
    if (st_rewrite(s, &err) != ES_OK) {
        fprintf(stderr, "accepted input not written back: %s\n", err.msg);
        abort();
    }
    es_st *r = es_st_load(st_path, &err);
    if (!r) {
        fprintf(stderr, "written file not read back: %s\n", err.msg);
        abort();
    }
    if (es_st_count(r) != n || es_st_meta_count(r) != nm) abort();
    for (size_t i = 0; i < n; i++) {
        const es_st_tensor *a = es_st_at(s, i), *b = es_st_at(r, i);
        if (strcmp(a->name, b->name) || a->ndim != b->ndim ||
            memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) ||
            memcmp(a->data, b->data, st_elems(a) * sizeof(float)))
            abort();
    }
    for (size_t i = 0; i < nm; i++)
        if (strcmp(es_st_meta_key(s, i), es_st_meta_key(r, i)) ||
            strcmp(es_st_meta(s, es_st_meta_key(s, i)), es_st_meta(r, es_st_meta_key(r, i))))
            abort();

    /* Canonical: the same content writes the same bytes. */
    size_t l1, l2;
    unsigned char *b1 = st_slurp(st_path, &l1);
    if (!b1 || st_rewrite(r, &err) != ES_OK) abort();
    unsigned char *b2 = st_slurp(st_path, &l2);
    if (!b2 || l1 != l2 || memcmp(b1, b2, l1)) abort();
    free(b1);
    free(b2);
    es_st_free(r);
    es_st_free(s);

    /* The model card. */
    es_classifier *c = es_classifier_load(st_path, &err);
    if (!c) {
        if (err.status == ES_OK || !strstr(err.msg, st_path)) {
            fprintf(stderr, "classifier refused without naming the file: %s\n", err.msg);
            abort();
        }
        return 0;
    }
    size_t K = es_classifier_classes(c);
    if (K < 2 || es_classifier_window(c) < 1) abort();
    for (size_t i = 0; i < K; i++)
        if (!es_classifier_label(c, i)) abort();
    int k = -1;
    const char *kind = es_classifier_kind(c, &k);
    if (strcmp(kind, "frozen") && strcmp(kind, "finetune") && strcmp(kind, "scratch")) abort();
    if (!strcmp(kind, "frozen")) {
        /* a head over embeddings runs on any finite input */
        size_t n = es_classifier_window(c) * ES_EMB_DIM;
        float *emb = calloc(n, sizeof(float)), *p = malloc(K * sizeof(float));
        if (!emb || !p) abort();
        if (es_classifier_predict(c, emb, p, &err) != ES_OK) abort();
        /* the class means (es_selfadapt): a model either has none, or
         * every label observed keeps the offset finite */
        es_selfadapt *sa = es_selfadapt_create(c, -1, &err);
        if (!sa && err.status != ES_ERR_UNSUPPORTED) abort();
        for (size_t i = 0; sa && i < K; i++) {
            es_selfadapt_observe(sa, emb, es_classifier_window(c), i);
            for (size_t j = 0; j < ES_EMB_DIM; j++)
                if (!isfinite(es_selfadapt_offset(sa)[j])) abort();
        }
        es_selfadapt_apply(sa, emb, es_classifier_window(c));
        if (sa && es_classifier_predict(c, emb, p, &err) != ES_OK) abort();
        es_selfadapt_free(sa);
        free(emb);
        free(p);
    }
    es_classifier_free(c);
    return 0;
}
