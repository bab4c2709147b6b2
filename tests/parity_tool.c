/*
 * parity_tool — runs one stage of earshot on raw float32 files, so the
 * parity test (tests/ref/parity.js) can feed the same bytes to earshot and
 * to onnxruntime and compare.
 *
 *   parity_tool audio   IN(any audio) OUT.f32     decode+resample+int16-quantize
 *   parity_tool mel     IN.f32 OUT.f32            whole-clip log-mel [frames][32]
 *   parity_tool mel-stream IN.f32 OUT.f32         streaming log-mel
 *   parity_tool emb-windows MEL.f32 OUT.f32       mode (a), windows every 8 frames
 *   parity_tool emb-full    MEL.f32 OUT.f32       mode (b)
 *   parity_tool emb-stream  MEL.f32 OUT.f32 [CHUNK]  mode (c), CHUNK frames per push
 *   parity_tool head MODEL.onnx EMB.f32 OUT.f32   scores for every window
 *
 * Models come from $EARSHOT_MODELS (or the default cache).
 */
#include "earshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_f32(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *d = malloc((size_t)len + 4);
    if (!d || fread(d, 1, (size_t)len, f) != (size_t)len) { fprintf(stderr, "%s: read failed\n", path); exit(2); }
    fclose(f);
    *n = (size_t)len / 4;
    return d;
}

static void write_f32(const char *path, const float *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 4, n, f) != n || fclose(f)) { fprintf(stderr, "%s: write failed\n", path); exit(2); }
}

static void die(const es_error *e) { fprintf(stderr, "parity_tool: %s\n", e->msg); exit(1); }

static es_onnx *load_model(const char *name)
{
    char path[4096];
    es_error e = {0};
    if (es_models_path(NULL, name, path, sizeof path, &e)) die(&e);
    es_onnx *m = es_onnx_load(path, &e);
    if (!m) die(&e);
    return m;
}

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: see the comment in parity_tool.c\n"); return 2; }
    const char *mode = argv[1];
    es_error e = {0};
    if (!strcmp(mode, "audio")) {
        es_audio a;
        es_load_opts o = { 1 };
        if (es_audio_load(argv[2], &o, &a, &e)) die(&e);
        write_f32(argv[3], a.samples, a.n);
        es_audio_free(&a);
        return 0;
    }
    if (!strcmp(mode, "mel") || !strcmp(mode, "mel-stream")) {
        size_t n;
        float *x = read_f32(argv[2], &n);
        es_onnx *m = load_model("melspectrogram");
        es_mel *mel = es_mel_create(m, &e);
        if (!mel) die(&e);
        size_t cap = es_mel_frames(n) + 8 * (n / ES_CHUNK + 1);
        float *out = malloc((cap + 1) * ES_MEL_BINS * sizeof(float));
        size_t frames;
        if (!strcmp(mode, "mel")) {
            frames = es_mel_frames(n);
            if (es_mel_compute(mel, x, n, out, &e)) die(&e);
        } else {
            es_mel_stream *s = es_mel_stream_create(mel, &e);
            /* feed in uneven pieces: the result must not depend on them */
            size_t pos = 0, k = 0;
            frames = 0;
            while (pos < n) {
                size_t step = 1 + (k++ * 7919) % 3000;
                if (step > n - pos) step = n - pos;
                size_t got;
                if (es_mel_stream_push(s, x + pos, step, out + frames * ES_MEL_BINS, cap - frames, &got, &e)) die(&e);
                frames += got;
                pos += step;
            }
            es_mel_stream_free(s);
        }
        write_f32(argv[3], out, frames * ES_MEL_BINS);
        free(out); free(x);
        es_mel_free(mel);
        es_onnx_free(m);
        return 0;
    }
    if (!strncmp(mode, "emb-", 4)) {
        size_t n;
        float *mel = read_f32(argv[2], &n);
        size_t frames = n / ES_MEL_BINS;
        size_t cnt = es_encoder_count(frames);
        es_onnx *m = load_model("embedding_model");
        es_encoder *enc = es_encoder_create(m, &e);
        if (!enc) die(&e);
        float *out = malloc((cnt + frames / 8 + 2) * ES_EMB_DIM * sizeof(float));
        size_t got = cnt;
        if (!strcmp(mode, "emb-windows")) {
            float *w = malloc((cnt + 1) * ES_EMB_WINDOW * ES_MEL_BINS * sizeof(float));
            for (size_t i = 0; i < cnt; i++)
                memcpy(w + i * ES_EMB_WINDOW * ES_MEL_BINS, mel + i * ES_EMB_STEP * ES_MEL_BINS,
                       ES_EMB_WINDOW * ES_MEL_BINS * sizeof(float));
            if (es_encoder_windows(enc, w, cnt, out, &e)) die(&e);
            free(w);
        } else if (!strcmp(mode, "emb-full")) {
            if (es_encoder_full(enc, mel, frames, out, &e)) die(&e);
        } else if (!strcmp(mode, "emb-stream")) {
            size_t chunk = argc > 4 ? (size_t)atol(argv[4]) : ES_EMB_STEP;
            if (!chunk) chunk = 1;
            es_encoder_stream *s = es_encoder_stream_create(enc, &e);
            if (!s) die(&e);
            got = 0;
            for (size_t p = 0; p < frames; p += chunk) {
                size_t k = frames - p < chunk ? frames - p : chunk, g;
                if (es_encoder_stream_push(s, mel + p * ES_MEL_BINS, k, out + got * ES_EMB_DIM, &g, &e)) die(&e);
                got += g;
            }
            es_encoder_stream_free(s);
        } else {
            fprintf(stderr, "unknown mode %s\n", mode);
            return 2;
        }
        write_f32(argv[3], out, got * ES_EMB_DIM);
        free(out); free(mel);
        es_encoder_free(enc);
        es_onnx_free(m);
        return 0;
    }
    if (!strcmp(mode, "head")) {
        if (argc < 5) return 2;
        es_onnx *m = es_onnx_load(argv[2], &e);
        if (!m) die(&e);
        es_head *h = es_head_create(m, NULL, &e);
        if (!h) die(&e);
        size_t n;
        float *emb = read_f32(argv[3], &n);
        size_t ne = n / ES_EMB_DIM, W = es_head_window(h), C = es_head_classes(h);
        size_t cnt = ne >= W ? ne - W + 1 : 0;
        float *out = malloc((cnt * C + 1) * sizeof(float));
        for (size_t i = 0; i < cnt; i++)
            if (es_head_run(h, emb + i * ES_EMB_DIM, out + i * C, &e)) die(&e);
        write_f32(argv[4], out, cnt * C);
        free(out); free(emb);
        es_head_free(h);
        es_onnx_free(m);
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
