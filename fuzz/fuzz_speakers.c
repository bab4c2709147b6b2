/*
 * fuzz/fuzz_speakers.c — libFuzzer target for the speaker profile reader.
 * The bytes go to es_speakers_parse (which goes through the safetensors
 * reader, then checks the metadata, names, indices and values). A refusal
 * must name the input; whatever is accepted must be whole: every speaker
 * named and with takes, scoring works or fails cleanly, and a save + load
 * gives the same speakers, takes and threshold.
 *
 * Build and run with scripts/fuzz.sh speakers SECONDS.
 */
#include "earshot.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char sp_path[4096];

static void sp_cleanup(void)
{
    if (sp_path[0]) unlink(sp_path);
}

static int sp_temp_path(void)
{
    if (sp_path[0]) return 0;
    const char *d = getenv("TMPDIR");
    snprintf(sp_path, sizeof sp_path, "%s/es_fuzz_spk_XXXXXX", d && *d ? d : "/tmp");
    int fd = mkstemp(sp_path);
    if (fd < 0) { sp_path[0] = 0; return -1; }
    close(fd);
    atexit(sp_cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    es_error err = {0};
    es_speakers *s = es_speakers_parse(data, size, "fuzz.safetensors", NULL, &err);
    if (!s) {
        if (err.status == ES_OK || !strstr(err.msg, "fuzz.safetensors")) abort();
        return 0;
    }
    size_t S = es_speakers_count(s);
    if (S == 0) abort();
    for (size_t k = 0; k < S; k++)
        if (!es_speakers_name(s, k) || !es_speakers_name(s, k)[0] || es_speakers_takes(s, k) == 0) abort();
    double t = es_speakers_threshold(s);
    if (!(t >= 0 && t <= 1)) abort();
    float f[ES_SPK_DIM] = {0}, best_s;
    int best;
    es_status st = es_speakers_score(s, f, NULL, &best, &best_s, &err);
    if (!st && (best < -1 || best >= (int)S)) abort();
    if (sp_temp_path() == 0 && es_speakers_save(s, sp_path, &err) == ES_OK) {
        es_speakers *r = es_speakers_load(sp_path, NULL, &err);
        if (!r || es_speakers_count(r) != S || es_speakers_threshold(r) != t) abort();
        for (size_t k = 0; k < S; k++)
            if (strcmp(es_speakers_name(r, k), es_speakers_name(s, k)) || es_speakers_takes(r, k) != es_speakers_takes(s, k))
                abort();
        es_speakers_free(r);
    }
    es_speakers_free(s);
    return 0;
}
