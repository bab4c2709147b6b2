/*
 * audio/synth.c — speech synthesis through libespeak-ng and libflite.
 * See synth.h. Both engines run synchronously under one lock; their audio
 * (espeak 22050 Hz, flite 8 or 16 kHz) is resampled to 16 kHz with
 * libsamplerate through es_audio_resample.
 */
#include "synth.h"

#include <espeak-ng/speak_lib.h>
#include <flite/flite.h>
#include <flite/flite_version.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* flite's voice registration functions are not declared in its headers. */
cst_voice *register_cmu_us_kal(const char *voxdir);
cst_voice *register_cmu_us_kal16(const char *voxdir);
cst_voice *register_cmu_us_slt(const char *voxdir);
cst_voice *register_cmu_us_rms(const char *voxdir);
cst_voice *register_cmu_us_awb(const char *voxdir);

/* Accents are espeak-ng's English voices that need no MBROLA data. */
const char *const es_espeak_accents[] = {"en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan",
                                         "en-gb-x-gbcwmd", "en-029", "en-us-nyc"};
const size_t es_espeak_n_accents = sizeof es_espeak_accents / sizeof es_espeak_accents[0];
/* Variants that still sound like a person speaking normally (whisper,
 * croak and the robot voices are left out). "" is the accent's own voice. */
const char *const es_espeak_variants[] = {"", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                                          "klatt", "klatt2", "klatt3", "klatt4", "Andy", "Annie", "Denis", "Gene",
                                          "Lee", "Mario", "Michael", "adam", "anika", "aunty", "belinda", "benjamin",
                                          "caleb", "david", "ed", "edward", "iven", "john", "linda", "max", "michel",
                                          "norbert", "paul", "pablo", "steph", "victor"};
const size_t es_espeak_n_variants = sizeof es_espeak_variants / sizeof es_espeak_variants[0];
const char *const es_flite_voices[] = {"kal", "kal16", "slt", "rms", "awb"};
const size_t es_flite_n_voices = sizeof es_flite_voices / sizeof es_flite_voices[0];

static pthread_mutex_t tts_lock = PTHREAD_MUTEX_INITIALIZER;
static int espeak_rate;          /* > 0 once initialised, -1 after a failure */
static int flite_ready;
static cst_voice *flite_v[5];
static float flite_f0_mean[5], flite_f0_std[5];

void es_tts_params_default(es_tts_params *p)
{
    p->engine = ES_TTS_ESPEAK;
    p->voice = "en-us";
    p->rate = 175;
    p->pitch = 50;
    p->range = 50;
    p->word_gap = 0;
    p->formant = 1.0;
}

const char *es_tts_engine_version(es_tts_engine e)
{
    /* espeak_Info reads a static string and needs no initialisation */
    return e == ES_TTS_ESPEAK ? espeak_Info(NULL) : FLITE_PROJECT_VERSION;
}

/* ------------------------------------------------------------ espeak-ng */

typedef struct {
    short *s;
    size_t n, cap;
    int failed;
} pcm_buf;

static int espeak_cb(short *wav, int numsamples, espeak_EVENT *events)
{
    pcm_buf *b = events ? events->user_data : NULL;
    if (!b || !wav || numsamples <= 0) return 0;
    if (b->n + (size_t)numsamples > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 32768) + (size_t)numsamples;
        short *s = realloc(b->s, cap * sizeof *s);
        if (!s) { b->failed = 1; return 1; }   /* 1 = abort synthesis */
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, wav, (size_t)numsamples * sizeof *wav);
    b->n += (size_t)numsamples;
    return 0;
}

/* Under tts_lock. */
static es_status espeak_init(es_error *err)
{
    if (espeak_rate > 0) return ES_OK;
    if (espeak_rate < 0) return es_fail(err, ES_ERR_UNSUPPORTED, "espeak-ng could not be initialised (is espeak-ng-data installed?)");
    /* espeak-ng 1.51 sets the process's LC_CTYPE to C.UTF-8 here (whatever
     * the program had chosen) and never puts it back; its own UTF-8
     * decoding and character classes do not need it (the same text gives
     * the same samples either way), so the caller's is restored: a library
     * must not change the locale of the program that links it. */
    char ctype[256] = "";
    const char *was = setlocale(LC_CTYPE, NULL);
    if (was && strlen(was) < sizeof ctype) memcpy(ctype, was, strlen(was) + 1);
    /* DONT_EXIT: the library must never end the process on a data error */
    int r = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_DONT_EXIT);
    if (*ctype) setlocale(LC_CTYPE, ctype);
    if (r <= 0) {
        espeak_rate = -1;
        return es_fail(err, ES_ERR_UNSUPPORTED, "espeak-ng could not be initialised (is espeak-ng-data installed?)");
    }
    espeak_rate = r;
    espeak_SetSynthCallback(espeak_cb);
    return ES_OK;
}

/* The voice espeak-ng last took (under tts_lock); "" when unknown.
 *
 * espeak-ng 1.51 copies the voice into a malloc'd command for the synthesis
 * queue on every voice change (DoVoiceChange), and only synthesis frees
 * it: a change that no speech follows, as before espeak_TextToPhonemes,
 * is lost when the next utterance resets the queue (LeakSanitizer: 1,344
 * bytes per call, 450 kB per dataset from the common-word pool alone). So
 * es_tts_phonemes sets a voice only when it differs from this one.
 * espeak_say still sets its voice every time, which keeps every take's
 * audio what it was (a fresh voice, then its parameters). */
static char espeak_cur[128];

static es_status espeak_voice(const char *voice, int reuse, es_error *err)
{
    if (!voice || !*voice || strlen(voice) > 100) return es_fail(err, ES_ERR_ARG, "espeak-ng: bad voice name");
    if (reuse && !strcmp(voice, espeak_cur)) return ES_OK;
    espeak_cur[0] = 0;
    if (espeak_SetVoiceByName(voice) != EE_OK) return es_fail(err, ES_ERR_ARG, "espeak-ng: unknown voice '%s'", voice);
    memcpy(espeak_cur, voice, strlen(voice) + 1);
    return ES_OK;
}

static es_status espeak_say(const es_tts_params *p, const char *text, short **pcm, size_t *n, int *rate, es_error *err)
{
    es_status st = espeak_init(err);
    if (st || (st = espeak_voice(p->voice, 0, err))) return st;
    espeak_SetParameter(espeakRATE, p->rate, 0);
    espeak_SetParameter(espeakPITCH, p->pitch, 0);
    espeak_SetParameter(espeakRANGE, p->range, 0);
    espeak_SetParameter(espeakWORDGAP, p->word_gap, 0);
    pcm_buf b = {0};
    espeak_ERROR r = espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8 | espeakPHONEMES, NULL, &b);
    if (r == EE_OK) r = espeak_Synchronize();
    if (r != EE_OK || b.failed) {
        free(b.s);
        return es_fail(err, b.failed ? ES_ERR_NOMEM : ES_ERR_FORMAT, "espeak-ng could not speak '%.60s'", text);
    }
    *pcm = b.s;
    *n = b.n;
    *rate = espeak_rate;
    return ES_OK;
}

es_status es_tts_phonemes(const char *accent, const char *text, char *buf, size_t size, es_error *err)
{
    if (!text || !buf || !size) return es_fail(err, ES_ERR_ARG, "es_tts_phonemes: invalid arguments");
    buf[0] = 0;
    pthread_mutex_lock(&tts_lock);
    es_status st = espeak_init(err);
    if (!st) st = espeak_voice(accent ? accent : "en-us", 1, err);
    size_t len = 0;
    const void *ptr = text;
    /* one clause per call; bits 8..23 of the mode are the separator */
    while (!st && ptr) {
        const char *ph = espeak_TextToPhonemes(&ptr, espeakCHARS_UTF8, ' ' << 8);
        if (!ph) break;
        while (*ph == ' ') ph++;
        size_t k = strlen(ph);
        while (k && ph[k - 1] == ' ') k--;
        if (!k) continue;
        if (len && len + 2 < size) { buf[len++] = ' '; buf[len++] = ' '; }
        if (len + k >= size) k = size - 1 - len;
        memcpy(buf + len, ph, k);
        len += k;
        buf[len] = 0;
    }
    pthread_mutex_unlock(&tts_lock);
    return st;
}

/* Does the language list of an espeak_VOICE (priority byte, string, NUL;
 * an empty string ends it) hold lang? primary: only its first entry, and
 * lang or lang-<anything> matches; else any entry equal to lang. */
static int voice_speaks(const char *langs, const char *lang, int primary)
{
    size_t k = strlen(lang);
    for (const char *l = langs; l && *l; l += strlen(l + 1) + 2) {
        const char *s = l + 1;
        if (primary) return !es_ascii_ncasecmp(s, lang, k) && (s[k] == 0 || s[k] == '-');
        if (!es_ascii_casecmp(s, lang)) return 1;
    }
    return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

es_status es_espeak_lang_voices(const char *lang, char (*out)[ES_TTS_VOICE_NAME], size_t max, size_t *n, es_error *err)
{
    *n = 0;
    if (!lang || !*lang || strlen(lang) >= ES_TTS_VOICE_NAME || !max)
        return es_fail(err, ES_ERR_ARG, "es_espeak_lang_voices: invalid arguments");
    pthread_mutex_lock(&tts_lock);
    es_status st = espeak_init(err);
    const espeak_VOICE **v = st ? NULL : espeak_ListVoices(NULL);
    /* the voices whose own language it is (fr: fr, fr-BE, fr-CH); failing
     * that, those that list it at all (zh: Mandarin and Cantonese) */
    for (int primary = 1; v && primary >= 0 && !*n; primary--)
        for (size_t i = 0; v[i] && *n < max; i++) {
            const char *id = v[i]->identifier;
            /* MBROLA voices need data Debian ships separately */
            if (!id || !strncmp(id, "mb/", 3) || !voice_speaks(v[i]->languages, lang, primary)) continue;
            const char *base = strrchr(id, '/');
            base = base ? base + 1 : id;
            if (strlen(base) >= ES_TTS_VOICE_NAME) continue;
            memcpy(out[*n], base, strlen(base) + 1);
            (*n)++;
        }
    pthread_mutex_unlock(&tts_lock);
    if (st) return st;
    if (!*n)
        return es_fail(err, ES_ERR_ARG, "--lang '%s': espeak-ng has no voice for this language ('espeak-ng --voices' lists them)",
                       lang);
    /* the listing's order is the data files' order: sort, so that a seed
     * draws the same voices on every machine */
    qsort(out, *n, sizeof *out, cmp_name);
    return ES_OK;
}

/* ------------------------------------------------------------ flite */

static int flite_index(const char *voice)
{
    for (size_t i = 0; voice && i < es_flite_n_voices; i++)
        if (!strcmp(voice, es_flite_voices[i]) || (!strncmp(voice, "cmu_us_", 7) && !strcmp(voice + 7, es_flite_voices[i])))
            return (int)i;
    return -1;
}

static es_status flite_say(const es_tts_params *p, const char *text, short **pcm, size_t *n, int *rate, es_error *err)
{
    int vi = flite_index(p->voice);
    if (vi < 0) return es_fail(err, ES_ERR_ARG, "flite: unknown voice '%s' (kal, kal16, slt, rms, awb)", p->voice ? p->voice : "");
    if (strstr(text, "[[")) return es_fail(err, ES_ERR_ARG, "flite cannot read espeak phonemes: '%.60s'", text);
    if (!flite_ready) { flite_init(); flite_ready = 1; }
    if (!flite_v[vi]) {
        cst_voice *(*reg[5])(const char *) = {register_cmu_us_kal, register_cmu_us_kal16, register_cmu_us_slt,
                                              register_cmu_us_rms, register_cmu_us_awb};
        if (!(flite_v[vi] = reg[vi](NULL))) return es_fail(err, ES_ERR_UNSUPPORTED, "flite: voice %s failed to load", p->voice);
        /* 0 = not a voice with intonation targets (clustergen voices
         * ignore them, and setting them would make every voice one) */
        flite_f0_mean[vi] = flite_get_param_float(flite_v[vi]->features, "int_f0_target_mean", 0.0f);
        flite_f0_std[vi] = flite_get_param_float(flite_v[vi]->features, "int_f0_target_stddev", 0.0f);
    }
    cst_voice *v = flite_v[vi];
    double shift = pow(2.0, (p->pitch - 50) / 100.0);
    /* diphone voices (kal, kal16) follow intonation targets, clustergen
     * voices (slt, rms, awb) an f0 shift (and their own f0 contour, so the
     * range does not apply to them) */
    if (flite_f0_mean[vi] > 0) {
        flite_feat_set_float(v->features, "int_f0_target_mean", (float)(flite_f0_mean[vi] * shift));
        flite_feat_set_float(v->features, "int_f0_target_stddev", (float)(flite_f0_std[vi] * shift * p->range / 50.0));
    } else {
        flite_feat_set_float(v->features, "f0_shift", (float)shift);
    }
    flite_feat_set_float(v->features, "duration_stretch", 175.0f / (float)p->rate);
    cst_wave *w = flite_text_to_wave(text, v);
    if (!w || w->num_samples <= 0) {
        if (w) delete_wave(w);
        return es_fail(err, ES_ERR_FORMAT, "flite could not speak '%.60s'", text);
    }
    short *s = malloc((size_t)w->num_samples * sizeof *s);
    if (!s) { delete_wave(w); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    memcpy(s, w->samples, (size_t)w->num_samples * sizeof *s);
    *pcm = s;
    *n = (size_t)w->num_samples;
    *rate = w->sample_rate;
    delete_wave(w);
    return ES_OK;
}

/* ------------------------------------------------------------ common */

/* FNV-1a over the utterance: engine, voice, rate, pitch, range, word gap
 * and text (the formant factor is already in rate and pitch) */
static unsigned tts_seed(const es_tts_params *q, const char *text)
{
    uint32_t h = 2166136261u;
    int v[5] = {(int)q->engine, q->rate, q->pitch, q->range, q->word_gap};
    const unsigned char *b = (const unsigned char *)v;
    for (size_t i = 0; i < sizeof v; i++) h = (h ^ b[i]) * 16777619u;
    for (const char *s = q->voice ? q->voice : ""; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const char *s = text; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

es_status es_tts_say(const es_tts_params *p, const char *text, float **out, size_t *n, es_error *err)
{
    if (!p || !text || !out || !n) return es_fail(err, ES_ERR_ARG, "es_tts_say: invalid arguments");
    *out = NULL;
    *n = 0;
    if (!*text) return es_fail(err, ES_ERR_ARG, "synthesis: empty text");
    if (p->rate < 80 || p->rate > 450) return es_fail(err, ES_ERR_ARG, "synthesis: rate %d is outside 80..450 words/min", p->rate);
    if (p->pitch < 0 || p->pitch > 100 || p->range < 0 || p->range > 100)
        return es_fail(err, ES_ERR_ARG, "synthesis: pitch and range must be 0..100");
    if (p->word_gap < 0 || p->word_gap > 100) return es_fail(err, ES_ERR_ARG, "synthesis: word gap must be 0..100");
    /* 0: a zero-initialised es_tts_params (made without
     * es_tts_params_default) keeps the voice's own formants */
    double formant = p->formant == 0 ? 1.0 : p->formant;
    if (!(formant >= 0.7 && formant <= 1.4)) return es_fail(err, ES_ERR_ARG, "synthesis: formant factor must be 0.7..1.4");
    /* A vocal-tract length change: the engine's samples are declared to be
     * at formant x their rate, which plays them formant times faster and
     * so multiplies every frequency (formants and f0) by it and divides
     * the duration by it. The engine is asked beforehand for a voice
     * slower and lower by the same factor, so only the formants move:
     * rate / formant words per minute, and f0 / formant (espeak-ng scales
     * f0 by 2^((pitch-50)/50), flite here by 2^((pitch-50)/100)). Rate and
     * pitch are clamped to the engines' ranges, so at the extremes the
     * compensation is partial. */
    es_tts_params q = *p;
    double lf = log2(formant);
    if (formant != 1.0) {
        double r = p->rate / formant, pi = p->pitch - (p->engine == ES_TTS_FLITE ? 100 : 50) * lf;
        q.rate = (int)lround(r < 80 ? 80 : r > 450 ? 450 : r);
        q.pitch = (int)lround(pi < 0 ? 0 : pi > 100 ? 100 : pi);
    }
    short *pcm = NULL;
    size_t m = 0;
    int rate = 0;
    pthread_mutex_lock(&tts_lock);
    /* Both engines draw their noise (unvoiced excitation, aspiration) from
     * the C library's rand(), whose state any library in the process may
     * move: libpulse, which espeak-ng's audio back end loads, seeds it the
     * first time it creates its folders on a machine, so a fresh machine's
     * first run made different takes from every later run. Each utterance
     * starts from a seed of its own text and parameters instead, so a take
     * depends on nothing else. (This reseeds the process's rand().) */
    srand(tts_seed(&q, text));
    es_status st = q.engine == ES_TTS_FLITE ? flite_say(&q, text, &pcm, &m, &rate, err)
                 : q.engine == ES_TTS_ESPEAK ? espeak_say(&q, text, &pcm, &m, &rate, err)
                 : es_fail(err, ES_ERR_ARG, "synthesis: unknown engine");
    pthread_mutex_unlock(&tts_lock);
    if (st) return st;
    if (formant != 1.0) rate = (int)lround(rate * formant);
    if (!m) { free(pcm); return es_fail(err, ES_ERR_FORMAT, "synthesis produced no audio for '%.60s'", text); }
    float *f = malloc(m * sizeof *f);
    if (!f) { free(pcm); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < m; i++) f[i] = pcm[i];
    free(pcm);
    if (rate == ES_SAMPLE_RATE) { *out = f; *n = m; return ES_OK; }
    st = es_audio_resample(f, m, rate, out, n, err);
    free(f);
    return st;
}
