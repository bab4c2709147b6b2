/*
 * train_text.c — a keyword model from text alone with libearshot: the
 * library call behind `earshot train --words`.
 *
 *   train_text WORDS OUT.safetensors [TAKES]
 *
 * WORDS is a comma-separated list as `earshot train --words` takes it
 * ("lights on,lights off,pause", "0=zero,1=one", "kaffee=[[k'afe:]]").
 * espeak-ng and flite say each word TAKES times (default 100) in varied
 * voices, rates and pitches, through noise, rooms and telephone bands; an
 * _unknown_ class of similar-sounding words, other words and noise is made
 * alongside. The takes are cached (a repeat with the same words and
 * options trains at once), then a head is trained on the pretrained
 * encoder's embeddings of them, and the model file is written atomically,
 * its model card recording how the data were made.
 *
 * Build against an installed libearshot:
 *   cc train_text.c $(pkg-config --cflags --libs earshot) -o train_text
 */
#include <earshot.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Long steps ("synthesis", "embedding", "training") report their counts. */
static void progress(void *user, const char *stage, size_t done, size_t total)
{
    (void)user;
    if (!isatty(2)) return;   /* a log file gets no carriage returns */
    fprintf(stderr, "\r%-10s %zu/%zu%s", stage, done, total, done == total ? "\n" : "");
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s WORDS OUT.safetensors [TAKES]\n", argv[0]);
        return 2;
    }
    es_synth_opts so;
    es_synth_opts_default(&so);
    so.words = argv[1];
    if (argc == 4) {
        char *end;
        long n = strtol(argv[3], &end, 10);
        if (*end || n < 1 || n > 100000) { fprintf(stderr, "train_text: TAKES must be 1 to 100000\n"); return 2; }
        so.takes = (int)n;   /* _unknown_ gets as many */
    }
    es_train_opts to;
    es_train_opts_default(&to);   /* the defaults of `earshot train` */

    es_error err = {0};
    es_engine *eng = es_engine_create(NULL, &err);
    if (!eng) { fprintf(stderr, "train_text: %s\n", err.msg); return 1; }
    es_train_result tr;
    es_synth_result sr;
    /* NULL synthesis cache: $EARSHOT_SYNTH_CACHE, else the default folder;
     * no real recordings mixed in */
    es_status st = es_train_words(eng, &so, NULL, NULL, NULL, &to, argv[2], &tr, &sr, progress, NULL, &err);
    es_engine_free(eng);
    if (st) { fprintf(stderr, "train_text: %s\n", err.msg); return 1; }

    /* Validation holds synthetic takes too (no recording was given), so
     * it says how well the model separates the takes, with the interval
     * its size allows; test on recordings with classify.c or earshot eval. */
    printf("%zu takes of %zu labels (%s), ", sr.n_files, sr.n_labels, sr.from_cache ? "from the cache" : "synthesised now");
    if (isnan(tr.val_acc) || !tr.n_val) {
        printf("no validation (too few takes to hold some out)\n");
    } else {
        size_t ok = (size_t)(tr.val_acc * (double)tr.n_val + 0.5);
        double lo, hi;
        es_wilson_interval(ok, tr.n_val, &lo, &hi);
        printf("validation accuracy %.3f (%zu of %zu; 95%% interval %.3f-%.3f)\n", tr.val_acc, ok, tr.n_val, lo, hi);
    }
    printf("wrote %s\n", argv[2]);
    return 0;
}
