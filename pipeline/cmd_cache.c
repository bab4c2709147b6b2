/* earshot cache — what earshot keeps on disk between runs, and clearing it.
 *
 * Two caches only grow: the embeddings of every clip, variant and setting
 * trained on (pipeline/cache.c), and every synthesised training set
 * (pipeline/train_words.c). After a few learning curves they hold
 * gigabytes under ~/.cache that nothing else mentions. This command says
 * where they are and how much they hold, and removes what earshot made
 * there: the layout code (es_cache_sweep, es_synth_cache_sweep) decides
 * what is an entry, so a folder given by the user that holds other files
 * keeps them. The pretrained models are listed, never removed (`earshot
 * models` checks them; scripts/fetch-models.sh fetches them). */
#include "cli.h"
#include "cache.h"
#include "es_internal.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* "626 MB": three digits at most, as du -h */
static const char *size_str(unsigned long long b, char buf[32])
{
    static const char *const unit[] = {"bytes", "kB", "MB", "GB", "TB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1000.0 && u < 4) { v /= 1000.0; u++; }
    if (u == 0) snprintf(buf, 32, "%llu bytes", b);
    else snprintf(buf, 32, v < 10 ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

static void show(const char *what, const char *dir, const char *unit, const es_cache_tally *t, es_cache_sweep_mode mode)
{
    char a[32], b[32];
    printf("%-11s %s\n", what, dir);
    if (mode == ES_CACHE_CLEAR && t->entries)
        printf("            removed %zu of %zu %s (%s)\n", t->removed, t->entries, unit, size_str(t->removed_bytes, a));
    else if (!t->entries)
        printf("            empty\n");
    else
        printf("            %zu %s, %s\n", t->entries, unit, size_str(t->bytes, a));
    if (t->stale && mode == ES_CACHE_COUNT)
        printf("            and %zu temporary file%s of runs that were killed (%s): earshot cache --tidy "
               "removes them\n", t->stale, t->stale == 1 ? "" : "s", size_str(t->stale_bytes, b));
    else if (t->stale)
        printf("            removed %zu of %zu temporary file%s of runs that were killed (%s)\n", t->stale_removed,
               t->stale, t->stale == 1 ? "" : "s", size_str(t->stale_bytes, b));
    if (t->busy) printf("            %zu being written by a run under way (left alone)\n", t->busy);
    if (t->other) printf("            %zu other name%s, not earshot's (left alone)\n", t->other, t->other == 1 ? "" : "s");
}

/* the pretrained models: where, how many, how big (never removed) */
static void show_models(const char *dir)
{
    size_t n = 0, pinned = 0;
    unsigned long long bytes = 0;
    const char *name, *sha;
    for (size_t i = 0; (name = es_models_pinned(i, &sha)); i++, pinned++) {
        char p[4200];
        struct stat sb;
        if (es_models_path(dir, name, p, sizeof p, NULL) == ES_OK && stat(p, &sb) == 0) {
            n++;
            bytes += (unsigned long long)sb.st_blocks * 512u;
        }
    }
    char a[32];
    printf("%-11s %s\n            %zu of %zu pretrained files, %s (never removed here; earshot models checks them)\n",
           "models", dir, n, pinned, size_str(bytes, a));
}

int cmd_cache(int argc, char **argv)
{
    enum { O_SYNTH = 4001 };
    static const struct option opts[] = {
        {"clear", no_argument, 0, 'c'},        {"tidy", no_argument, 0, 'T'},
        {"cache", required_argument, 0, 'C'},  {"synth-cache", required_argument, 0, O_SYNTH},
        {"models", required_argument, 0, 'M'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    es_cache_sweep_mode mode = ES_CACHE_COUNT;
    const char *emb_dir = NULL, *synth_dir = NULL, *models_dir = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': mode = ES_CACHE_CLEAR; break;
        case 'T': if (mode != ES_CACHE_CLEAR) mode = ES_CACHE_TIDY; break;
        case 'C': emb_dir = optarg; break;
        case O_SYNTH: synth_dir = optarg; break;
        case 'M': models_dir = optarg; break;
        case 'h':
            printf("usage: earshot cache [--tidy | --clear] [--cache DIR] [--synth-cache DIR]\n\n"
                   "Shows what earshot keeps between runs, where, and how much: the\n"
                   "embeddings of every clip it trained or evaluated on (a second run\n"
                   "over the same audio skips the encoder), every synthesised training\n"
                   "set (training again from the same words only trains), and the\n"
                   "pretrained models. The first two only grow; both may be removed at\n"
                   "any time, and what is missing is computed again when next needed.\n\n"
                   "  --tidy               remove the temporary files of runs that were\n"
                   "                       killed (their process is gone)\n"
                   "  --clear              remove both caches' entries as well (not the\n"
                   "                       models); clear when no train or eval runs\n"
                   "  --cache DIR          the embedding cache (default $EARSHOT_CACHE, else\n"
                   "                       $XDG_CACHE_HOME/earshot/embeddings)\n"
                   "  --synth-cache DIR    the synthesised sets (default $EARSHOT_SYNTH_CACHE,\n"
                   "                       else $XDG_CACHE_HOME/earshot/synth)\n"
                   "  --models DIR         the pretrained models (default $EARSHOT_MODELS,\n"
                   "                       else $XDG_CACHE_HOME/earshot/models)\n\n"
                   "Only names earshot makes are removed: other files in these folders,\n"
                   "and files being written by a run under way, are counted and left.\n"
                   "Exit status 1 if something could not be removed.\n");
            return EXIT_OK;
        default: return cli_bad_option("cache", argv, opts);
        }
    }
    if (cli_no_arguments("cache", argc, argv, "see earshot cache --help")) return EXIT_USAGE;
    es_error e = {0};
    char *emb = NULL, synth[3000], models[4096];
    if (emb_dir) emb = strdup(emb_dir);
    else if (es_cache_default_dir(&emb, &e)) { cli_error(&e); return EXIT_FAIL; }
    if (!emb) { fprintf(stderr, "earshot: out of memory\n"); return EXIT_FAIL; }
    if (es_synth_cache_dir(synth_dir, synth, sizeof synth, &e)) { cli_error(&e); free(emb); return EXIT_FAIL; }
    if (models_dir) snprintf(models, sizeof models, "%s", models_dir);
    else if (es_models_dir(models, sizeof models, &e)) { cli_error(&e); free(emb); return EXIT_FAIL; }

    /* a folder that is not there yet is an empty cache; a file in its
     * place is a mistyped option, not "empty" */
    const char *dirs[2] = {emb, synth};
    for (int i = 0; i < 2; i++) {
        struct stat sb;
        if (stat(dirs[i], &sb) == 0 && !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "earshot cache: %s: not a folder\n", dirs[i]);
            free(emb);
            return EXIT_USAGE;
        }
    }
    es_cache_tally te, ts;
    memset(&te, 0, sizeof te);
    memset(&ts, 0, sizeof ts);
    es_cache_sweep(emb, mode, &te);
    es_synth_cache_sweep(synth, mode, &ts);
    show("embeddings", emb, "entries", &te, mode);
    show("synth", synth, "sets", &ts, mode);
    show_models(models);
    int rc = EXIT_OK;
    for (const es_cache_tally *t = &te; t; t = t == &te ? &ts : NULL)
        if (t->failed) {
            fprintf(stderr, "earshot cache: %zu could not be removed; the first: %s\n", t->failed, t->first_failure);
            rc = EXIT_FAIL;
        }
    free(emb);
    return rc;
}
