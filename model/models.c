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

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

es_status es_models_path(const char *dir, const char *name, char *buf, size_t size, es_error *err)
{
    if (!buf || !size) return es_fail(err, ES_ERR_ARG, "es_models_path: invalid arguments");
    if (!name || !*name) return es_fail(err, ES_ERR_ARG, "empty model name");
    /* A path (contains a slash or ends in .onnx) is used as it is. */
    size_t nl = strlen(name);
    if (strchr(name, '/') || (nl > 5 && !strcmp(name + nl - 5, ".onnx"))) {
        if (snprintf(buf, size, "%s", name) >= (int)size) return es_fail(err, ES_ERR_ARG, "%s: path too long", name);
        if (!is_file(buf)) return es_fail(err, ES_ERR_IO, "%s: model file not found: %s", name, strerror(errno ? errno : ENOENT));
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
    static const char *known[] = {"alexa", "hey_jarvis", "hey_mycroft", "hey_rhasspy", "timer", "weather",
                                  "melspectrogram", "embedding_model", "silero_vad"};
    int is_known = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) is_known |= !strcmp(name, known[i]);
    if (!is_known)
        return es_fail(err, ES_ERR_ARG,
                       "unknown model '%s': the pretrained heads are alexa, hey_jarvis, hey_mycroft, hey_rhasspy, timer "
                       "and weather; a model file is named by its path (FILE.onnx, or FILE.safetensors from earshot "
                       "train)", name);
    return es_fail(err, ES_ERR_IO,
                   "model '%s' not found in %s; run scripts/fetch-models.sh (or scripts/setup.sh) to fetch the "
                   "pretrained models, or point --models / EARSHOT_MODELS at a directory that has them", name, d);
}
