/* earshot models — where the pretrained models are and which are present. */
#include "cli.h"

#include "../model/onnx.h"
#include "es_internal.h"

#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* "ok", "missing", "unreadable" or "corrupt" */
static const char *check(const char *path, const char *want, long long *size)
{
    unsigned char *buf = NULL, h[32];
    size_t len = 0;
    struct stat st;
    *size = -1;
    if (stat(path, &st) != 0) return "missing";
    *size = (long long)st.st_size;
    if (es_read_file(path, &buf, &len, NULL)) return "unreadable";
    es_sha256(buf, len, h);
    free(buf);
    char hex[65];
    es_sha256_hex(h, hex);
    return strcmp(hex, want) ? "corrupt" : "ok";
}

int cmd_models(int argc, char **argv)
{
    /* --models only: models runs no encoder and prints no progress, so
     * the engine's -t and -q (once accepted here, unlisted) would do nothing */
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'}, {"models", required_argument, 0, 'M'}, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    int opt, r;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        if (opt == 'h') {
            printf("usage: earshot models [--models DIR]\n\nLists the pretrained models, where they are cached, and whether "
                   "each\nfile is the pinned one (its SHA-256). Exit status 1 if any is missing or\nnot the pinned file.\n\n"
                   "  --models DIR   where they are (default: $EARSHOT_MODELS, else\n"
                   "                 $XDG_CACHE_HOME/earshot/models)\n");
            return EXIT_OK;
        }
        return cli_bad_option("models", argv, opts);
    }
    if (cli_no_arguments("models", argc, argv, "to see what a model file holds: earshot info FILE")) return EXIT_USAGE;
    char dir[4096];
    es_error e = {0};
    if (c.models) snprintf(dir, sizeof dir, "%s", c.models);
    else if (es_models_dir(dir, sizeof dir, &e)) { cli_error(&e); return EXIT_FAIL; }
    printf("models directory: %s\n", dir);
    int missing = 0, bad = 0;
    const char *name, *sha;
    for (size_t i = 0; (name = es_models_pinned(i, &sha)); i++) {
        char path[4200];
        long long size = -1;
        const char *state = "missing";
        if (es_models_path(dir, name, path, sizeof path, NULL) == ES_OK) state = check(path, sha, &size);
        if (!strcmp(state, "missing")) { printf("  %-16s missing\n", name); missing++; continue; }
        printf("  %-16s %8lld bytes  %s%s%s\n", name, size, path, strcmp(state, "ok") ? "  " : "",
               strcmp(state, "ok") ? (strcmp(state, "corrupt") ? "UNREADABLE" : "NOT THE PINNED FILE (SHA-256 differs)") : "");
        bad += strcmp(state, "ok") != 0;
    }
    if (missing || bad)
        fprintf(stderr, "earshot: %d model(s) missing, %d not the pinned file: run scripts/fetch-models.sh, which fetches "
                        "and verifies them again\n", missing, bad);
    return missing || bad ? EXIT_FAIL : EXIT_OK;
}
