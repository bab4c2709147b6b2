/*
 * pipeline/speaker_synth.c — a speaker background made by earshot's own
 * speech synthesis (`earshot enroll --background synth`).
 *
 * The scoring projection (speaker.c) learns how one voice varies from take
 * to take; a background adds that lesson from other voices. Recordings of
 * other people are best, but a user rarely has them, and nothing may be
 * fetched or shipped as data. So earshot makes its own: `voices` synthetic
 * speakers, `takes` takes each, through libespeak-ng and libflite
 * (audio/synth.c, the same path `earshot synth` uses; no program is run).
 * A speaker is
 *   - an espeak-ng accent and voice variant (4 in 5) or a flite voice,
 *     with its own pitch (20-80) and speaking rate (130-189 words/min);
 *   - a vocal tract lengthened or shortened by resampling (es_aug_speed
 *     0.85-1.15 moves every formant by that factor: the main way real
 *     voices differ that the synthesisers' variants do not cover);
 *   - a "microphone": bass and treble shelves of -6..+6 dB each.
 * Each take says one of 30 words with the pitch moved by up to +-5, the
 * rate by up to +-20 and the level by -3..-15 dB from full scale, as takes
 * of one person vary. One seed fixes every choice (es_rng); the audio is
 * the same for the same call in a fresh process (see BLOCK below). This replaces scripts/speaker-
 * background.sh (espeak-ng and sox programs) with the library's own path.
 */
#include "es_internal.h"
#include "speaker.h"
#include "../audio/synth.h"
#include "../audio/augment.h"
#include "es_rng.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const WORDS[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                    "yes", "no", "stop", "go", "left", "right", "up", "down", "on", "off",
                                    "hello", "water", "music", "light", "open", "close", "morning", "table",
                                    "window", "coffee"};
#define NWORDS (sizeof WORDS / sizeof WORDS[0])

typedef struct {
    es_tts_engine engine;
    char voice[64];
    int pitch, rate;
    double tract, bass_db, treble_db;
} synth_voice;

typedef struct {
    int voice, pitch, rate;
    const char *word;
    double level_db;
} synth_take;

/* First-order shelves: y = x + (g - 1) * lowpass(x) for the bass (corner
 * 250 Hz), y = x + (g - 1) * (x - lowpass(x)) for the treble (corner
 * 3 kHz), g = 10^(dB/20): a gentle tilt like a cheap microphone's. The
 * low-passes are bilinear one-pole filters, so they reach 0 at 8 kHz and
 * the treble shelf its full gain there. */
static void one_pole(double fc, double *b0, double *a1)
{
    double k = tan(M_PI * fc / ES_SAMPLE_RATE);
    *b0 = k / (1 + k);
    *a1 = (k - 1) / (k + 1);
}

void es_spk_shelves(float *x, size_t n, double bass_db, double treble_db)
{
    const double gb = pow(10, bass_db / 20) - 1, gt = pow(10, treble_db / 20) - 1;
    double bb, ab, bt, at;
    one_pole(250, &bb, &ab);
    one_pole(3000, &bt, &at);
    double prev = 0, lb = 0, lt = 0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        lb = bb * (v + prev) - ab * lb;
        lt = bt * (v + prev) - at * lt;
        prev = v;
        x[i] = (float)(v + gb * lb + gt * (v - lt));
    }
}

typedef struct {
    es_engine *e;
    const synth_voice *v;
    const synth_take *t;
    float *F;
    es_status *st;
    char (*msg)[512];
    float **audio;    /* [total] synthesised, not yet processed */
    size_t *len;
    es_progress_fn progress;
    void *user;
    size_t done, total;
    pthread_mutex_t lock;
} synth_job;

/* Say take i (on the calling thread, in take order: see BLOCK) */
static void say_one(synth_job *j, int i)
{
    const synth_take *t = &j->t[i];
    const synth_voice *v = &j->v[t->voice];
    es_tts_params p;
    es_tts_params_default(&p);
    p.engine = v->engine;
    p.voice = v->voice;
    p.pitch = t->pitch;
    p.rate = t->rate;
    es_error err = {0};
    j->st[i] = es_tts_say(&p, t->word, &j->audio[i], &j->len[i], &err);
    if (j->st[i]) snprintf(j->msg[i], sizeof j->msg[i], "synthetic voice %d (%s), \"%s\": %.180s", t->voice + 1, v->voice, t->word, err.msg);
}

/* The rest of take i (any thread): tract, microphone, level, features */
static void synth_one(void *ctx, int i)
{
    synth_job *j = ctx;
    const synth_take *t = &j->t[i];
    const synth_voice *v = &j->v[t->voice];
    float *x = j->audio[i], *y = NULL;
    size_t n = j->len[i], ny = 0;
    es_error err = {0};
    es_status st = j->st[i];
    if (st) goto done;
    st = es_aug_speed(x, n, v->tract, &y, &ny, &err);
    if (!st) {
        es_spk_shelves(y, ny, v->bass_db, v->treble_db);
        float peak = 0;
        for (size_t k = 0; k < ny; k++) peak = fmaxf(peak, fabsf(y[k]));
        if (peak > 0) es_aug_gain(y, ny, 20 * log10(32767.0 / peak) + t->level_db);
        st = es_speaker_features(j->e, y, ny, j->F + (size_t)i * ES_SPK_DIM, &err);
    }
    if (st) snprintf(j->msg[i], sizeof j->msg[i], "synthetic voice %d (%s), \"%s\": %.180s", t->voice + 1, v->voice, t->word, err.msg);
    j->st[i] = st;
    free(y);
done:
    free(x);
    j->audio[i] = NULL;
    pthread_mutex_lock(&j->lock);
    j->done++;
    if (j->progress) j->progress(j->user, "synthetic background", j->done, j->total);
    pthread_mutex_unlock(&j->lock);
}

#define BLOCK 128

typedef struct {
    synth_job *j;
    size_t base;
} block_job;

static void synth_block(void *ctx, int i)
{
    block_job *b = ctx;
    synth_one(b->j, (int)(b->base + (size_t)i));
}

es_status es_spk_synth_voices(es_engine *e, int voices, int takes, uint64_t seed, float **feats, int **spk, size_t *n,
                              es_progress_fn progress, void *user, es_error *err)
{
    if (feats) *feats = NULL;
    if (spk) *spk = NULL;
    if (n) *n = 0;
    if (!e || !feats || !spk || !n) return es_fail(err, ES_ERR_ARG, "es_spk_synth_voices: invalid arguments");
    if (voices < 2 || voices > 1024 || takes < 2 || takes > 200)
        return es_fail(err, ES_ERR_ARG, "a synthetic background needs 2-1024 voices of 2-200 takes (%d voices, %d takes)",
                       voices, takes);
    size_t total = (size_t)voices * (size_t)takes;
    synth_voice *v = calloc((size_t)voices, sizeof *v);
    synth_take *t = calloc(total, sizeof *t);
    float *F = malloc(total * ES_SPK_DIM * sizeof(float));
    int *y = malloc(total * sizeof(int));
    es_status *sts = calloc(total, sizeof *sts);
    char (*msg)[512] = calloc(total, sizeof *msg);
    float **audio = calloc(total, sizeof *audio);
    size_t *len = calloc(total, sizeof *len);
    es_status st = ES_OK;
    if (!v || !t || !F || !y || !sts || !msg || !audio || !len) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    /* every random choice first, in one order, so the seed alone fixes them */
    es_rng rng;
    es_rng_seed(&rng, seed);
    for (int k = 0; k < voices; k++) {
        synth_voice *s = &v[k];
        if (es_rng_below(&rng, 5) < 4) {
            const char *a = es_espeak_accents[es_rng_below(&rng, es_espeak_n_accents)];
            const char *var = es_espeak_variants[es_rng_below(&rng, es_espeak_n_variants)];
            s->engine = ES_TTS_ESPEAK;
            snprintf(s->voice, sizeof s->voice, "%s%s%s", a, *var ? "+" : "", var);
        } else {
            s->engine = ES_TTS_FLITE;
            snprintf(s->voice, sizeof s->voice, "%s", es_flite_voices[es_rng_below(&rng, es_flite_n_voices)]);
        }
        s->pitch = 20 + (int)es_rng_below(&rng, 61);
        s->rate = 130 + (int)es_rng_below(&rng, 60);
        s->tract = 0.85 + 0.01 * (double)es_rng_below(&rng, 31);
        s->bass_db = (double)es_rng_below(&rng, 13) - 6;
        s->treble_db = (double)es_rng_below(&rng, 13) - 6;
        for (int q = 0; q < takes; q++) {
            synth_take *u = &t[(size_t)k * takes + q];
            u->voice = k;
            u->word = WORDS[es_rng_below(&rng, NWORDS)];
            u->pitch = s->pitch + (int)es_rng_below(&rng, 11) - 5;
            u->rate = s->rate + (int)es_rng_below(&rng, 41) - 20;
            u->level_db = -3.0 - (double)es_rng_below(&rng, 13);
            y[(size_t)k * takes + q] = k;
        }
    }
    /* espeak-ng carries a little state from one utterance to the next (the
     * same call twice gives a few samples more or less), so the takes are
     * spoken one after the other in take order, BLOCK at a time, and only
     * the rest runs on several threads: the same call in a fresh process
     * then gives the same background. */
    synth_job j = {e, v, t, F, sts, msg, audio, len, progress, user, 0, total, PTHREAD_MUTEX_INITIALIZER};
    for (size_t b0 = 0; b0 < total; b0 += BLOCK) {
        size_t b1 = b0 + BLOCK < total ? b0 + BLOCK : total;
        for (size_t i = b0; i < b1; i++) say_one(&j, (int)i);
        block_job bj = {&j, b0};
        es_parallel_for((int)(b1 - b0), synth_block, &bj);
    }
    pthread_mutex_destroy(&j.lock);
    for (size_t i = 0; i < total; i++)
        if (sts[i]) { st = es_fail(err, sts[i], "%s", msg[i]); goto out; }
    *feats = F;
    *spk = y;
    *n = total;
    F = NULL;
    y = NULL;
out:
    for (size_t i = 0; audio && i < total; i++) free(audio[i]);
    free(v); free(t); free(F); free(y); free(sts); free(msg); free(audio); free(len);
    return st;
}

es_status es_speakers_background_synth(es_speakers *s, es_engine *e, int voices, int takes, unsigned long long seed,
                                       int keep_threshold, es_progress_fn progress, void *user, es_error *err)
{
    if (!s || !e) return es_fail(err, ES_ERR_ARG, "es_speakers_background_synth: invalid arguments");
    float *F = NULL;
    int *y = NULL;
    size_t n = 0;
    es_status st = es_spk_synth_voices(e, voices, takes, seed, &F, &y, &n, progress, user, err);
    if (st) return st;
    cJSON *jd = cJSON_CreateObject();
    char *js = NULL;
    if (jd) {
        cJSON_AddStringToObject(jd, "source", "synth");
        cJSON_AddNumberToObject(jd, "voices", voices);
        cJSON_AddNumberToObject(jd, "takes", takes);
        cJSON_AddNumberToObject(jd, "seed", (double)seed);
        cJSON_AddNumberToObject(jd, "beta", ES_SPK_BETA);
        js = cJSON_PrintUnformatted(jd);
        cJSON_Delete(jd);
    }
    if (!js) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
    else st = es_speakers_set_background(s, F, y, n, voices, js, keep_threshold, err);
    free(js);
    free(F);
    free(y);
    return st;
}
