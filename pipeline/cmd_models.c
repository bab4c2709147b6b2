/* earshot models — where the pretrained models are and which are present. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *MODELS[] = {"melspectrogram", "embedding_model", "alexa", "hey_jarvis", "hey_mycroft",
                               "hey_rhasspy", "timer", "weather"};

int cmd_models(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, CLI_ENGINE_LONGOPTS, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    int opt, r;
    while ((opt = getopt_long(argc, argv, "t:qh", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        if (opt == 'h') {
            printf("usage: earshot models [--models DIR]\n\nLists the pretrained models and where they are cached.\n");
            return EXIT_OK;
        }
        return EXIT_USAGE;
    }
    char dir[4096];
    es_error e = {0};
    if (c.models) snprintf(dir, sizeof dir, "%s", c.models);
    else if (es_models_dir(dir, sizeof dir, &e)) { cli_error(&e); return EXIT_FAIL; }
    printf("models directory: %s\n", dir);
    int missing = 0;
    for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++) {
        char path[4200];
        int ok = es_models_path(dir, MODELS[i], path, sizeof path, NULL) == ES_OK;
        struct stat st;
        if (ok && stat(path, &st) == 0) printf("  %-16s %8lld bytes  %s\n", MODELS[i], (long long)st.st_size, path);
        else { printf("  %-16s missing\n", MODELS[i]); missing++; }
    }
    if (missing) fprintf(stderr, "earshot: %d model(s) missing: run scripts/fetch-models.sh\n", missing);
    return missing ? EXIT_FAIL : EXIT_OK;
}
