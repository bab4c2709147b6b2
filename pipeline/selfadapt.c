/*
 * pipeline/selfadapt.c — a voice's offset from the model's own decisions
 * (es_selfadapt; the idea and its use are in include/earshot.h).
 *
 * The offset after n observations x_i (window means) decided as c_i is
 *     sum_i (x_i - m_{c_i}) / (n + prior)
 * with m_c the training clips' mean of class c, so the state is one sum.
 * With the prior the first decisions move it little: one observation is
 * one word of one take, and a wrong decision early would otherwise steer
 * every later one.
 *
 * Why class-conditional: on FSDD (text-only model, each speaker's clips in
 * a random order, logistic regression on mean+std pooled windows), the
 * plain running mean of everything heard minus the training mean raised
 * accuracy when the digits came evenly but lowered it when one digit came
 * half the time (0.957 -> 0.950); against each decided class's mean it
 * gained in both cases (0.924 -> 0.948, 0.957 -> 0.977). bench/README.md
 * ("With --self-adapt") has the rest.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "dataset.h"
#include "train_aug.h"

#define DEFAULT_PRIOR 2.0f

struct es_selfadapt {
    size_t K;
    const float *means;      /* [K][96], the classifier's */
    unsigned char *watch;    /* [K]: observed classes (word classes with a mean) */
    double sum[ES_EMB_DIM];  /* sum of observed window means minus their class's m_c */
    size_t n;
    float prior;
    float off[ES_EMB_DIM];
};

es_selfadapt *es_selfadapt_create(const es_classifier *c, float prior, es_error *err)
{
    if (!c) { es_fail(err, ES_ERR_ARG, "es_selfadapt_create: no classifier"); return NULL; }
    const float *m = es_classifier_class_means(c);
    if (!m) {
        es_fail(err, ES_ERR_UNSUPPORTED, "this model carries no class means to adapt against (only heads over the "
                                         "pretrained encoder trained by this version of earshot do: train it again)");
        return NULL;
    }
    if (!(prior >= 0)) prior = DEFAULT_PRIOR;
    size_t K = es_classifier_classes(c);
    es_selfadapt *a = calloc(1, sizeof *a);
    if (a) a->watch = calloc(K, 1);
    if (!a || !a->watch) {
        es_selfadapt_free(a);
        es_fail(err, ES_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->K = K;
    a->means = m;
    a->prior = prior;
    int wake = es_classifier_wake(c);
    for (size_t k = 0; k < K; k++) {
        const char *l = es_classifier_label(c, k);
        a->watch[k] = !isnan(m[k * ES_EMB_DIM]) && strcmp(l, ES_LABEL_UNKNOWN) && strcmp(l, ES_LABEL_SILENCE) &&
                      (wake < 0 || (size_t)wake == k);
    }
    return a;
}

void es_selfadapt_free(es_selfadapt *a)
{
    if (!a) return;
    free(a->watch);
    free(a);
}

void es_selfadapt_reset(es_selfadapt *a)
{
    if (!a) return;
    memset(a->sum, 0, sizeof a->sum);
    memset(a->off, 0, sizeof a->off);
    a->n = 0;
}

void es_selfadapt_apply(const es_selfadapt *a, float *emb, size_t n)
{
    if (!a || !a->n) return;
    for (size_t t = 0; t < n; t++)
        for (size_t j = 0; j < ES_EMB_DIM; j++) emb[t * ES_EMB_DIM + j] -= a->off[j];
}

void es_selfadapt_observe(es_selfadapt *a, const float *emb, size_t n, size_t label)
{
    if (!a || !emb || !n || label >= a->K || !a->watch[label]) return;
    const float *m = a->means + label * ES_EMB_DIM;
    a->n++;
    for (size_t j = 0; j < ES_EMB_DIM; j++) {
        double v = 0;
        for (size_t t = 0; t < n; t++) v += emb[t * ES_EMB_DIM + j];
        a->sum[j] += v / (double)n - m[j];
        a->off[j] = (float)(a->sum[j] / ((double)a->n + a->prior));
    }
}

size_t es_selfadapt_count(const es_selfadapt *a) { return a ? a->n : 0; }
const float *es_selfadapt_offset(const es_selfadapt *a) { return a ? a->off : NULL; }
