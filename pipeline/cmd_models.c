/* earshot models — where the pretrained models are and which are present. */
#include "cli.h"

#include "../model/onnx.h"
#include "es_internal.h"

#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The pinned files and their SHA-256, as scripts/fetch-models.sh fetches
 * them (tests/test_cli.sh checks the two lists agree). A file of the right
 * name but other bytes (a truncated copy, another version) is reported
 * here rather than as "malformed graph" at first use. */
static const struct {
    const char *name, *sha256;
} MODELS[] = {
    {"melspectrogram", "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f"},
    {"embedding_model", "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f"},
    {"silero_vad", "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"},
    {"alexa", "6ff566a01d12670e8d9e3c59da32651db1575d17272a601b7f8a39283dfbae3e"},
    {"hey_jarvis", "94a13cfe60075b132f6a472e7e462e8123ee70861bc3fb58434a73712ee0d2cb"},
    {"hey_mycroft", "c2a311e8fa1338de89c31b3b46dc4dffd4af2f9a8d6ddead48893c2d301b1f18"},
    {"hey_rhasspy", "5a9b3ed3be2910e35780e097905aa9f35a9c10038df47914cf2b3ec4d670f6ea"},
    {"timer", "371e44535470a29248b3b8f1bbbbaf2525c86417fd8f75c67fcf02ae0b9626df"},
    {"weather", "8441da8e746899e8d969528d5bad5651cdd563079c05962788f77753041f60e7"},
};

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
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
    return strcmp(hex, want) ? "corrupt" : "ok";
}

int cmd_models(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, CLI_ENGINE_LONGOPTS, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    int opt, r;
    while ((opt = getopt_long(argc, argv, "t:qh", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        if (opt == 'h') {
            printf("usage: earshot models [--models DIR]\n\nLists the pretrained models, where they are cached, and whether "
                   "each\nfile is the pinned one (its SHA-256). Exit status 1 if any is missing or\nnot the pinned file.\n");
            return EXIT_OK;
        }
        return EXIT_USAGE;
    }
    if (optind < argc) { fprintf(stderr, "earshot models: takes no arguments ('%s')\n", argv[optind]); return EXIT_USAGE; }
    char dir[4096];
    es_error e = {0};
    if (c.models) snprintf(dir, sizeof dir, "%s", c.models);
    else if (es_models_dir(dir, sizeof dir, &e)) { cli_error(&e); return EXIT_FAIL; }
    printf("models directory: %s\n", dir);
    int missing = 0, bad = 0;
    for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++) {
        char path[4200];
        long long size = -1;
        const char *state = "missing";
        if (es_models_path(dir, MODELS[i].name, path, sizeof path, NULL) == ES_OK) state = check(path, MODELS[i].sha256, &size);
        if (!strcmp(state, "missing")) { printf("  %-16s missing\n", MODELS[i].name); missing++; continue; }
        printf("  %-16s %8lld bytes  %s%s%s\n", MODELS[i].name, size, path, strcmp(state, "ok") ? "  " : "",
               strcmp(state, "ok") ? (strcmp(state, "corrupt") ? "UNREADABLE" : "NOT THE PINNED FILE (SHA-256 differs)") : "");
        bad += strcmp(state, "ok") != 0;
    }
    if (missing || bad)
        fprintf(stderr, "earshot: %d model(s) missing, %d not the pinned file: run scripts/fetch-models.sh, which fetches "
                        "and verifies them again\n", missing, bad);
    return missing || bad ? EXIT_FAIL : EXIT_OK;
}
