/*
 * fuzz/fuzz_onnx.c — libFuzzer target for the ONNX reader and everything
 * that interprets a parsed model: the front end, the encoder and the head
 * interpreter. Model files come from outside, so each builder must either
 * refuse the bytes with a message or accept them and then run without
 * faults. What is accepted is run once on zeros, so an accepted-but-broken
 * model (odd shapes that passed the checks) shows up here, not in a user's
 * stream.
 *
 * Build and run with scripts/fuzz.sh onnx SECONDS.
 */
#include "earshot.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* One thread: OpenBLAS's pool would only add noise and memory. */
    es_set_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    es_error err = {0};
    es_onnx *m = es_onnx_parse(data, size, "fuzz.onnx", &err);
    if (!m) return 0;

    es_mel *mel = es_mel_create(m, &err);
    if (mel) {
        /* A few frames through the accepted front end, whole and streamed. */
        enum { N = 2 * ES_CHUNK };
        static float x[N];
        float out[(N / ES_MEL_HOP + 1) * ES_MEL_BINS];
        es_mel_compute(mel, x, N, out, &err);
        es_mel_stream *ms = es_mel_stream_create(mel, &err);
        size_t nf;
        if (ms) es_mel_stream_push(ms, x, N, out, sizeof out / sizeof out[0] / ES_MEL_BINS, &nf, &err);
        es_mel_stream_free(ms);
        es_mel_free(mel);
    }

    es_encoder *enc = es_encoder_create(m, &err);
    if (enc) {
        static float win[ES_EMB_WINDOW * ES_MEL_BINS];
        float emb[ES_EMB_DIM];
        es_encoder_windows(enc, win, 1, emb, &err);
        es_encoder_free(enc);
    }

    es_head *h = es_head_create(m, NULL, &err);
    if (h) {
        size_t w = es_head_window(h), k = es_head_classes(h);
        float *emb = calloc(w * ES_EMB_DIM, sizeof(float));
        float *scores = calloc(k, sizeof(float));
        if (emb && scores) es_head_run(h, emb, scores, &err);
        for (size_t i = 0; i <= k; i++) {
            const char *l = es_head_label(h, i);
            if (l) (void)strlen(l);
        }
        (void)strlen(es_head_name(h));
        free(emb);
        free(scores);
        es_head_free(h);
    }
    es_onnx_free(m);
    return 0;
}
