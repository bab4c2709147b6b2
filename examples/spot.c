/*
 * spot.c — find keywords in recordings with libearshot: the smallest
 * complete program around es_detector, the streaming detector that
 * `earshot transcribe` and `earshot listen` run.
 *
 *   spot MODEL FILE...
 *
 * MODEL is a classifier from `earshot train` (.safetensors), an
 * openWakeWord .onnx head or a pretrained head's name ("alexa"). Prints one
 * line per event: file, start and end in seconds, label, score.
 *
 * The audio goes in as a live stream would: block by block, so memory does
 * not grow with the length of the file. A microphone program differs only
 * in where the blocks come from (es_capture_read instead of es_reader_read).
 *
 * Build against an installed libearshot:
 *   cc spot.c $(pkg-config --cflags --libs earshot) -o spot
 */
#include <earshot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called by the detector for every event, in the order they are decided. */
static void on_event(void *user, const es_event *ev)
{
    const char *file = user;
    printf("%s\t%.2f\t%.2f\t%s\t%.3f\n", file, ev->start, ev->end, ev->label, ev->score);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL FILE...\n", argv[0]);
        return 2;
    }
    es_error err = {0};
    /* The engine holds the pretrained front end and encoder (read from the
     * models folder `earshot models` fills; NULL = the default one). It is
     * only read once made, so threads may share it. */
    es_engine *eng = es_engine_create(NULL, &err);
    if (!eng) { fprintf(stderr, "spot: %s\n", err.msg); return 1; }

    es_detector_opts o;
    es_detector_opts_default(&o);          /* thresholds from the model card */
    const char *models[1] = {argv[1]};
    es_detector *det = es_detector_create(eng, models, 1, &o, &err);
    if (!det) { fprintf(stderr, "spot: %s\n", err.msg); es_engine_free(eng); return 1; }

    enum { BLOCK = 4096 };                 /* any size gives the same events */
    float *buf = malloc(BLOCK * sizeof *buf);
    int rc = buf ? 0 : 1;
    for (int i = 2; i < argc && buf; i++) {
        /* Any format libsndfile reads, downmixed and resampled to the
         * 16 kHz mono int16-scale samples the detector takes, rounded to
         * whole int16 values as the `earshot` command and openWakeWord
         * feed the encoder (in digital silence this decides what the
         * log-mel floor sees). */
        es_load_opts lo = { .quantize_int16 = 1 };
        es_reader *rd = es_reader_open(argv[i], &lo, &err);
        es_status st = rd ? ES_OK : err.status;
        size_t got = 0;
        while (!st && !(st = es_reader_read(rd, buf, BLOCK, &got, &err)) && got > 0)
            st = es_detector_push(det, buf, got, on_event, argv[i], &err);
        /* End of the stream: the last words are reported, and the detector
         * is ready for the next file. After an error, forget the stream. */
        if (!st) st = es_detector_flush(det, on_event, argv[i], &err);
        else es_detector_reset(det);
        es_reader_close(rd);
        if (st) {   /* say which file (the reader's messages do), and go on */
            if (strstr(err.msg, argv[i])) fprintf(stderr, "spot: %s\n", err.msg);
            else fprintf(stderr, "spot: %s: %s\n", argv[i], err.msg);
            rc = 1;
        }
    }
    if (!buf) fprintf(stderr, "spot: out of memory\n");
    free(buf);
    es_detector_free(det);
    es_engine_free(eng);
    return rc;
}
