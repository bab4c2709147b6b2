/*
 * classify.c — which word is in each clip, with a model from `earshot
 * train`: the library calls behind `earshot eval`, one clip at a time.
 *
 *   classify MODEL CLIP...
 *
 * Prints one line per clip: file, decided label, its probability. The clip
 * is seen exactly as training and evaluation saw theirs (centred in the
 * model's window), so a clip should hold one word, as a dataset's do; to
 * find words in longer audio, see spot.c.
 *
 * Build against an installed libearshot:
 *   cc classify.c $(pkg-config --cflags --libs earshot) -o classify
 */
#include <earshot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL CLIP...\n", argv[0]);
        return 2;
    }
    es_error err = {0};
    es_classifier *model = es_classifier_load(argv[1], &err);
    if (!model) { fprintf(stderr, "classify: %s\n", err.msg); return 1; }
    /* An engine for this model: the pretrained encoder it was trained on
     * (refused if the models folder holds another), with a fine-tuned
     * model's own encoder weights in place. */
    es_engine *eng = es_engine_create_for_classifier(NULL, model, &err);
    if (!eng) { fprintf(stderr, "classify: %s\n", err.msg); es_classifier_free(model); return 1; }

    /* Samples rounded to whole int16 values, as the `earshot` command and
     * openWakeWord feed the encoder: in digital silence this decides what
     * the log-mel floor sees. */
    es_load_opts lo = { .quantize_int16 = 1 };
    size_t k = es_classifier_classes(model);
    float *probs = malloc(k * sizeof *probs);
    int rc = probs ? 0 : 1;
    for (int i = 2; i < argc && probs; i++) {
        es_audio a = {0};
        es_status st = es_audio_load(argv[i], &lo, &a, &err);
        if (!st) st = es_classifier_predict_audio(eng, model, a.samples, a.n, probs, &err);
        es_audio_free(&a);
        if (st) {   /* say which file, and go on with the next */
            if (strstr(err.msg, argv[i])) fprintf(stderr, "classify: %s\n", err.msg);
            else fprintf(stderr, "classify: %s: %s\n", argv[i], err.msg);
            rc = 1;
            continue;
        }
        /* The decision is the most probable label, except in a wake-word
         * model, whose word wins at its calibrated threshold. */
        size_t c = es_classifier_decide(model, probs);
        printf("%s\t%s\t%.3f\n", argv[i], es_classifier_label(model, c), probs[c]);
    }
    if (!probs) fprintf(stderr, "classify: out of memory\n");
    free(probs);
    es_engine_free(eng);
    es_classifier_free(model);
    return rc;
}
