/*
 * audio/synth.h — speech synthesis for training data (internal).
 *
 * Two engines, both through their C libraries (no programs are run):
 *   - libespeak-ng: formant synthesis, many accents (en-us, en-gb, en-gb-
 *     scotland, ...) and voice variants (m1..m7, f1..f5, klatt, ...), rate,
 *     pitch, pitch range, word gap, and phoneme input in [[...]];
 *   - libflite: the voices Debian ships (cmu_us_kal, kal16, slt, rms, awb).
 * Output is 16 kHz mono float in int16 scale, like es_audio_load, so a
 * synthesised take goes through exactly the path of a recorded one.
 *
 * Neither library is thread-safe (both keep global state), so every call
 * into them is serialised by one process-wide lock; callers may call from
 * any thread.
 */
#ifndef ES_SYNTH_H
#define ES_SYNTH_H

#include "es_internal.h"

typedef enum { ES_TTS_ESPEAK = 0, ES_TTS_FLITE = 1 } es_tts_engine;

typedef struct {
    es_tts_engine engine;
    const char *voice;  /* espeak: "<accent>[+<variant>]", e.g. "en-us+f3";
                           flite: "kal", "kal16", "slt", "rms" or "awb" */
    int rate;           /* words per minute, 80..450 (175 normal); flite maps
                           it to duration_stretch = 175/rate */
    int pitch;          /* 0..100, 50 normal; flite scales its f0 by
                           2^((pitch-50)/100) */
    int range;          /* pitch range 0..100, 50 normal (flite: f0 stddev) */
    int word_gap;       /* espeak: extra pause between words, 10 ms units */
    double formant;     /* vocal-tract length: every formant is multiplied
                           by it (0.7..1.4, 1 = the voice's own), while
                           rate and pitch are compensated so that duration
                           and f0 stay about the same (see es_tts_say);
                           0 is taken as 1 */
} es_tts_params;

void es_tts_params_default(es_tts_params *p);

/* The engine's version, for the model card: espeak-ng's as the library
 * linked at run time reports it (espeak_Info), flite's as its header gave
 * it at compile time (libflite has no call that tells). */
const char *es_tts_engine_version(es_tts_engine e);

/* Speak UTF-8 text (espeak: [[...]] is read as espeak phoneme mnemonics;
 * flite refuses text with [[). *out is malloc'd 16 kHz int16-scale audio
 * with the engines' leading/trailing silence kept. Errors: unknown voice,
 * a parameter out of range, no audio produced. */
es_status es_tts_say(const es_tts_params *p, const char *text, float **out, size_t *n, es_error *err);

/* espeak-ng's phonemes for text in an accent (e.g. "en-us"): ASCII
 * mnemonics, one space between phonemes, stress marks (' ,) glued to the
 * following vowel, two spaces between words; written to buf (truncated to
 * size). Used to find homophones and build confusable words. */
es_status es_tts_phonemes(const char *accent, const char *text, char *buf, size_t size, es_error *err);

/* espeak-ng's voices for a language code (e.g. "de", "fr", "pt-br",
 * "cmn"): the voices whose first language is it or a dialect of it
 * ("fr" -> fr, fr-BE, fr-CH), else those that list it; MBROLA voices left
 * out. Their file names (what es_tts_params.voice takes), sorted, up to
 * max, go to out; *n their count. ES_ERR_ARG, naming the code, when there
 * is none. */
#define ES_TTS_VOICE_NAME 32
es_status es_espeak_lang_voices(const char *lang, char (*out)[ES_TTS_VOICE_NAME], size_t max, size_t *n, es_error *err);

/* The voice lists the dataset generator draws from. */
extern const char *const es_espeak_accents[];
extern const size_t es_espeak_n_accents;
extern const char *const es_espeak_variants[];
extern const size_t es_espeak_n_variants;
extern const char *const es_flite_voices[];
extern const size_t es_flite_n_voices;

#endif
