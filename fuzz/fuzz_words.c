/*
 * fuzz/fuzz_words.c — libFuzzer target for the --words vocabulary parser
 * and the phoneme-string helpers that read what users write in [[ ]].
 * Invariants: a rejected spec leaves nothing allocated and says "--words";
 * an accepted one has 1..ES_SYNTH_MAX_WORDS entries with distinct, valid
 * labels and non-empty spellings; es_phoneme_key and es_confusable never
 * overrun on any spelling, and a confusable is bracketed phoneme input.
 *
 * Build and run with scripts/fuzz.sh words SECONDS.
 */
#include "../pipeline/synth_data.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    es_vocab v;
    es_error err = {0};
    if (es_vocab_parse(s, &v, &err) != ES_OK) {
        if (v.e || v.n || !strstr(err.msg, "words") ) abort();
        free(s);
        return 0;
    }
    if (v.n < 1 || v.n > ES_SYNTH_MAX_WORDS) abort();
    es_rng rng;
    es_rng_seed(&rng, size);
    for (size_t i = 0; i < v.n; i++) {
        const es_vocab_entry *e = &v.e[i];
        if (!e->label || !*e->label || strchr(e->label, '/') || e->nalts < 1 || e->nalts > ES_SYNTH_MAX_ALTS) abort();
        for (size_t j = 0; j < i; j++) if (!strcmp(v.e[j].label, e->label)) abort();
        for (int a = 0; a < e->nalts; a++) {
            if (!e->alts[a][0] || strlen(e->alts[a]) > ES_SYNTH_MAX_TEXT) abort();
            char key[64], conf[128];
            es_phoneme_key(e->alts[a], key, sizeof key);
            if (strlen(key) >= sizeof key) abort();
            if (es_confusable(e->alts[a], &rng, conf, sizeof conf, NULL) == ES_OK &&
                (strncmp(conf, "[[", 2) || strlen(conf) < 4 || strcmp(conf + strlen(conf) - 2, "]]")))
                abort();
        }
    }
    es_vocab_free(&v);
    free(s);
    return 0;
}
