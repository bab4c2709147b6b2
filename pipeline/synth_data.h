/*
 * pipeline/synth_data.h — the parts of the synthetic-dataset generator that
 * tests and the fuzzer reach directly (internal).
 */
#ifndef ES_SYNTH_DATA_H
#define ES_SYNTH_DATA_H

#include "es_internal.h"
#include "es_rng.h"

/* Bump when the generator's output for the same options changes, so the
 * synthesis cache of es_train_words misses. */
#define ES_SYNTH_VERSION 7   /* 5: each utterance seeds rand() (es_tts_say); 7: running speech in _unknown_ (6 never left a development machine) */

#define ES_SYNTH_MAX_WORDS 256
#define ES_SYNTH_MAX_ALTS 8
#define ES_SYNTH_MAX_TEXT 256

typedef struct {
    char *label;
    char *alts[ES_SYNTH_MAX_ALTS];   /* spellings: text, or "[[phonemes]]" */
    int nalts;
} es_vocab_entry;

typedef struct {
    es_vocab_entry *e;
    size_t n;
} es_vocab;

/* Parse "[label=]spelling[|spelling...]" entries separated by commas (see
 * es_synth_opts.words). Whitespace around parts is trimmed and runs of
 * spaces inside text are kept as one. Errors (ES_ERR_ARG, naming the entry):
 * an empty entry or spelling, a label with '/', a control character or a
 * leading '.', a reserved label (_unknown_, _background_noise_), a label
 * given twice, unbalanced [[ ]], a phoneme-only entry without a label, more
 * than ES_SYNTH_MAX_WORDS entries or ES_SYNTH_MAX_ALTS spellings, a
 * spelling longer than ES_SYNTH_MAX_TEXT bytes, fewer than one entry. */
es_status es_vocab_parse(const char *spec, es_vocab *v, es_error *err);
void es_vocab_free(es_vocab *v);

/* Is s "[[...]]" phoneme input (possibly with text around it)? */
int es_spelling_is_phonemes(const char *s);

/* A word that sounds like `phonemes` (es_tts_phonemes output: phonemes
 * separated by one space, words by two) but is not it: one phoneme
 * substituted by another of its kind (vowel for vowel, consonant for
 * consonant), dropped, or a consonant added; the operation and position
 * come from rng. Written as espeak phoneme input "[[...]]" to out. Returns
 * ES_ERR_ARG when the phonemes hold no phoneme it knows. */
es_status es_confusable(const char *phonemes, es_rng *rng, char *out, size_t size, es_error *err);

/* Phonemes of "[[...]]" or es_tts_phonemes output reduced to a comparable
 * key: stress marks and separators removed, one space between words. */
void es_phoneme_key(const char *phonemes, char *out, size_t size);

/* Is lang (es_synth_opts.lang) the default: NULL, "" or "en"? */
int es_synth_lang_is_english(const char *lang);

/* The built-in list of common English words the negatives draw from. */
extern const char *const es_common_words[];
extern const size_t es_n_common_words;

#endif
