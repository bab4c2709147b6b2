/*
 * model/models.c — where the pretrained models live.
 *
 * The set-up script fetches them (npm pack, pinned version, SHA-256 checked)
 * into a cache directory; the library only looks them up. Names are the
 * file names without ".onnx" and without the "_v0.1" version suffix of the
 * wake-word heads, so "hey_jarvis" finds hey_jarvis_v0.1.onnx.
 */
#include "es_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

es_status es_models_dir(char *buf, size_t size, es_error *err)
{
    if (!buf || !size) return es_fail(err, ES_ERR_ARG, "es_models_dir: invalid arguments");
    const char *env = getenv("EARSHOT_MODELS");
    int n;
    if (env && *env) {
        n = snprintf(buf, size, "%s", env);
    } else {
        const char *xdg = getenv("XDG_CACHE_HOME");
        if (xdg && *xdg) {
            n = snprintf(buf, size, "%s/earshot/models", xdg);
        } else {
            const char *home = getenv("HOME");
            if (!home || !*home) {
                /* no HOME (e.g. a service): the password database knows it */
                struct passwd *pw = getpwuid(getuid());
                home = pw ? pw->pw_dir : NULL;
            }
            if (!home || !*home)
                return es_fail(err, ES_ERR_ARG, "cannot find the models directory: set EARSHOT_MODELS or HOME");
            n = snprintf(buf, size, "%s/.cache/earshot/models", home);
        }
    }
    if (n < 0 || (size_t)n >= size) return es_fail(err, ES_ERR_ARG, "models directory path too long");
    return ES_OK;
}

/* The pinned files and their SHA-256, as scripts/fetch-models.sh fetches
 * them (tests/test_cli.sh checks the two lists agree): what earshot models
 * verifies, and the names es_models_path knows. */
static const struct {
    const char *name, *sha256;
} PINNED[] = {
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

const char *es_models_pinned(size_t i, const char **sha256)
{
    if (i >= sizeof PINNED / sizeof PINNED[0]) return NULL;
    if (sha256) *sha256 = PINNED[i].sha256;
    return PINNED[i].name;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

es_status es_models_path(const char *dir, const char *name, char *buf, size_t size, es_error *err)
{
    ES_ERR_LOCAL(err);
    if (!buf || !size) return es_fail(err, ES_ERR_ARG, "es_models_path: invalid arguments");
    if (!name || !*name) return es_fail(err, ES_ERR_ARG, "empty model name");
    /* A path (contains a slash or ends in .onnx) is used as it is. */
    size_t nl = strlen(name);
    if (strchr(name, '/') || (nl > 5 && !strcmp(name + nl - 5, ".onnx"))) {
        if (snprintf(buf, size, "%s", name) >= (int)size) return es_fail(err, ES_ERR_ARG, "%s: path too long", name);
        /* stat() itself: a path that exists but is no regular file (a
         * directory) left no errno to tell of it, and was reported with a
         * stale one or as "No such file or directory" */
        struct stat st;
        if (stat(buf, &st) != 0) return es_fail(err, ES_ERR_IO, "%s: model file not found: %s", name, strerror(errno));
        if (!S_ISREG(st.st_mode))
            return es_fail(err, ES_ERR_IO, "%s: %s, not a model file", name,
                           S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
        return ES_OK;
    }
    char d[4096];
    if (dir && *dir) snprintf(d, sizeof d, "%s", dir);
    else if (es_models_dir(d, sizeof d, err)) return err ? err->status : ES_ERR_ARG;
    const char *suffixes[] = { ".onnx", "_v0.1.onnx" };
    for (int i = 0; i < 2; i++) {
        if (snprintf(buf, size, "%s/%s%s", d, name, suffixes[i]) >= (int)size)
            return es_fail(err, ES_ERR_ARG, "%s: path too long", name);
        if (is_file(buf)) return ES_OK;
    }
    /* a name of none of the fetched files is most likely a typo ("Alexa",
     * "jarvis", a model path without its extension): say which names
     * exist, rather than send the user to download what they have */
    int is_known = 0;
    for (size_t i = 0; i < sizeof PINNED / sizeof PINNED[0]; i++) is_known |= !strcmp(name, PINNED[i].name);
    if (!is_known)
        return es_fail(err, ES_ERR_ARG,
                       "unknown model '%s': the pretrained heads are alexa, hey_jarvis, hey_mycroft, hey_rhasspy, timer "
                       "and weather; a model file is named by its path (FILE.onnx, or FILE.safetensors from earshot "
                       "train)", name);
    return es_fail(err, ES_ERR_IO,
                   "model '%s' not found in %s; run scripts/fetch-models.sh (or scripts/setup.sh) to fetch the "
                   "pretrained models, or point --models / EARSHOT_MODELS at a directory that has them", name, d);
}
