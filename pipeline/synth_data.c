/*
 * pipeline/synth_data.c — a training set from text alone.
 *
 * For each vocabulary entry, `takes` clips are synthesised with espeak-ng
 * or flite, spread over accents, voice variants, rates, pitches and pitch
 * ranges; the _unknown_ class is synthesised too: confusable words (one
 * phoneme of a target changed), common English words and short phrases
 * (never a homophone of a target), running speech (a 1.5 s stretch cut
 * at random from a sentence of common words), and non-speech noise. Then each take may
 * be made to sound recorded: reverberation (a generated room impulse
 * response), a telephone band, and the shared augmentations (noise, gain,
 * speed; audio/augment.h).
 *
 * Determinism: the whole plan (which text, engine, voice, parameters and
 * augmentation every take gets) is drawn from one es_rng seeded with the
 * seed before any audio is made; each take then carries its own seed for
 * the noise it needs. The engines speak in plan order (espeak-ng's output
 * depends slightly on what it said before: take_worker), the rest of each
 * take runs on several threads in any order, and a seed's takes come out
 * bit for bit the same from run to run.
 */
#include "synth_data.h"
#include "../audio/augment.h"
#include "../audio/room.h"
#include "../audio/synth.h"
#include "dataset.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void es_synth_opts_default(es_synth_opts *o)
{
    if (!o) return;   /* as es_load_opts_default: nothing to fill */
    memset(o, 0, sizeof *o);
    o->takes = 100;
    o->unknown_takes = -1;   /* = takes */
    o->engines = ES_SYNTH_ESPEAK | ES_SYNTH_FLITE;
    o->augment = ES_AUG_ALL;
    o->aug_prob = 0.5;
    o->pad_to = 2.0;
    o->seed = 1;
    o->real_weight = 0.1;
    o->formant_lo = o->formant_hi = 1.0;
}

/* ------------------------------------------------------------ word list */

/* Frequent English words, written for this project: function words, verbs,
 * nouns and adjectives of everyday speech, so that _unknown_ covers what a
 * device hears around its keywords. */
const char *const es_common_words[] = {
    "the", "a", "and", "of", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are", "as", "with",
    "his", "they", "I", "at", "be", "this", "have", "from", "or", "had", "by", "not", "word", "but", "what", "some",
    "we", "can", "out", "other", "were", "all", "there", "when", "up", "use", "your", "how", "said", "an", "each",
    "she", "which", "do", "their", "time", "if", "will", "way", "about", "many", "then", "them", "write", "would",
    "like", "so", "these", "her", "long", "make", "thing", "see", "him", "has", "look", "more", "day", "could",
    "go", "come", "did", "number", "sound", "no", "most", "people", "my", "over", "know", "water", "than", "call",
    "first", "who", "may", "down", "side", "been", "now", "find", "any", "new", "work", "part", "take", "get",
    "place", "made", "live", "where", "after", "back", "little", "only", "round", "man", "year", "came", "show",
    "every", "good", "me", "give", "our", "under", "name", "very", "through", "just", "form", "sentence", "great",
    "think", "say", "help", "low", "line", "differ", "turn", "cause", "much", "mean", "before", "move", "right",
    "boy", "old", "too", "same", "tell", "does", "set", "three", "want", "air", "well", "also", "play", "small",
    "end", "put", "home", "read", "hand", "port", "large", "spell", "add", "even", "land", "here", "must", "big",
    "high", "such", "follow", "act", "why", "ask", "men", "change", "went", "light", "kind", "off", "need", "house",
    "picture", "try", "us", "again", "animal", "point", "mother", "world", "near", "build", "self", "earth",
    "father", "head", "stand", "own", "page", "should", "country", "found", "answer", "school", "grow", "study",
    "still", "learn", "plant", "cover", "food", "sun", "four", "between", "state", "keep", "eye", "never", "last",
    "let", "thought", "city", "tree", "cross", "farm", "hard", "start", "might", "story", "saw", "far", "sea",
    "draw", "left", "late", "run", "while", "press", "close", "night", "real", "life", "few", "north", "open",
    "seem", "together", "next", "white", "children", "begin", "got", "walk", "example", "ease", "paper", "group",
    "always", "music", "those", "both", "mark", "often", "letter", "until", "mile", "river", "car", "feet", "care",
    "second", "book", "carry", "took", "science", "eat", "room", "friend", "began", "idea", "fish", "mountain",
    "stop", "once", "base", "hear", "horse", "cut", "sure", "watch", "color", "face", "wood", "main", "enough",
    "plain", "girl", "usual", "young", "ready", "above", "ever", "red", "list", "though", "feel", "talk", "bird",
    "soon", "body", "dog", "family", "direct", "leave", "song", "measure", "door", "product", "black", "short",
    "class", "wind", "question", "happen", "complete", "ship", "area", "half", "rock", "order", "fire", "south",
    "problem", "piece", "told", "knew", "pass", "since", "top", "whole", "king", "space", "heard", "best", "hour",
    "better", "true", "during", "hundred", "five", "remember", "step", "early", "hold", "west", "ground",
    "interest", "reach", "fast", "verb", "sing", "listen", "six", "table", "travel", "less", "morning", "ten",
    "simple", "several", "toward", "war", "lay", "against", "pattern", "slow", "center", "love", "person",
    "money", "serve", "appear", "road", "map", "rain", "rule", "govern", "pull", "cold", "notice", "voice",
    "power", "town", "fine", "certain", "fly", "fall", "lead", "cry", "dark", "machine", "note", "wait", "plan",
    "figure", "star", "box", "noun", "field", "rest", "able", "done", "beauty", "drive", "stood", "contain",
    "front", "teach", "week", "final", "gave", "green", "quick", "develop", "ocean", "warm", "free", "minute",
    "strong", "special", "mind", "behind", "clear", "tail", "produce", "fact", "street", "inch", "nothing",
    "course", "stay", "wheel", "full", "force", "blue", "object", "decide", "surface", "deep", "moon", "island",
    "foot", "system", "busy", "test", "record", "boat", "common", "gold", "possible", "plane", "dry", "wonder",
    "laugh", "thousand", "ago", "ran", "check", "game", "shape", "yes", "hot", "miss", "brought", "heat", "snow",
    "tire", "bring", "distant", "fill", "east", "paint", "language", "among", "weather", "hello", "okay", "thanks",
    "please", "sorry", "maybe", "coffee", "kitchen", "phone", "window", "music", "timer", "alarm", "volume"};
const size_t es_n_common_words = sizeof es_common_words / sizeof es_common_words[0];

/* ------------------------------------------------------------ WAV output */

/* libsndfile writing into memory (virtual I/O), so the file can then be
 * written atomically by es_write_atomic. */
typedef struct { unsigned char *b; sf_count_t n, cap, pos; int failed; } membuf;

static sf_count_t vm_len(void *u) { return ((membuf *)u)->n; }
static sf_count_t vm_seek(sf_count_t off, int whence, void *u)
{
    membuf *m = u;
    sf_count_t p = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : m->n + off;
    if (p < 0) return -1;
    m->pos = p;
    return p;
}
static sf_count_t vm_read(void *ptr, sf_count_t count, void *u)
{
    membuf *m = u;
    sf_count_t k = m->pos < m->n ? (m->n - m->pos < count ? m->n - m->pos : count) : 0;
    memcpy(ptr, m->b + m->pos, (size_t)k);
    m->pos += k;
    return k;
}
static sf_count_t vm_write(const void *ptr, sf_count_t count, void *u)
{
    membuf *m = u;
    if (m->pos + count > m->cap) {
        sf_count_t cap = (m->pos + count) * 2 + 4096;
        unsigned char *b = realloc(m->b, (size_t)cap);
        if (!b) { m->failed = 1; return 0; }
        memset(b + m->cap, 0, (size_t)(cap - m->cap));
        m->b = b;
        m->cap = cap;
    }
    memcpy(m->b + m->pos, ptr, (size_t)count);
    m->pos += count;
    if (m->pos > m->n) m->n = m->pos;
    return count;
}
static sf_count_t vm_tell(void *u) { return ((membuf *)u)->pos; }

/* 16 kHz 16-bit mono WAV of int16-scale samples, written atomically. */
static es_status write_wav(const char *path, const float *x, size_t n, es_error *err)
{
    SF_VIRTUAL_IO io = {vm_len, vm_seek, vm_read, vm_write, vm_tell};
    membuf m = {0};
    SF_INFO info = {0};
    info.samplerate = ES_SAMPLE_RATE;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    es_sndfile_lock();   /* another thread's open would clear the reason */
    SNDFILE *f = sf_open_virtual(&io, SFM_WRITE, &info, &m);
    char why[256] = "";
    if (!f) snprintf(why, sizeof why, "%s", sf_strerror(NULL));
    es_sndfile_unlock();
    if (!f) { free(m.b); return es_fail(err, ES_ERR_IO, "%s: cannot encode WAV: %s", path, why); }
    short buf[4096];
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < 4096 ? n - done : 4096;
        for (size_t i = 0; i < k; i++) {
            float v = roundf(x[done + i]);
            buf[i] = (short)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
        }
        sf_write_short(f, buf, (sf_count_t)k);
        done += k;
    }
    sf_close(f);
    if (m.failed) { free(m.b); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    es_status st = es_write_atomic(path, m.b, (size_t)m.n, err);
    free(m.b);
    return st;
}

/* ------------------------------------------------------------ the plan */

typedef enum { TAKE_WORD = 0, TAKE_CONFUSABLE, TAKE_COMMON, TAKE_NOISE, TAKE_RUNNING } take_kind;
/* A running-speech take: this much of its sentence, from a random point.
 * A streaming detector mostly hears talk that is not its words, window
 * after window with speech from edge to edge; single words and short
 * phrases padded with silence do not teach that (bench/false_accepts.sh:
 * the README's mixed model fired 373 times an hour on espeak-ng reading
 * licence texts, at threshold 0.5). */
#define RUNNING_SECONDS 1.5

typedef struct {
    int label;                /* index into vocab, or -1 for _unknown_ */
    take_kind kind;
    char text[ES_SYNTH_MAX_TEXT * 3 + 16];
    char tag[48];             /* short description of the text for the file name */
    es_tts_params tts;
    char voice[64];
    int reverb, tel;
    double rt60, drr;
    es_aug_recipe aug;        /* noise, gain, speed */
    es_noise_color noise_color;   /* TAKE_NOISE */
    double noise_seconds;
    uint64_t seed;            /* this take's own noise (RIR, noise clips) */
    char path[4096];
} take;

static double uni(es_rng *r, double lo, double hi) { return lo + (hi - lo) * es_rng_uniform(r); }

/* The espeak voices takes are drawn from: the built-in English accents,
 * or the voices of o->lang (es_espeak_lang_voices). */
#define MAX_LANG_VOICES 16
typedef struct {
    const char *acc[MAX_LANG_VOICES];
    const char *const *list;
    size_t n;
    char names[MAX_LANG_VOICES][ES_TTS_VOICE_NAME];
    const char *phon;   /* the voice whose phonemes the homophone checks read */
} voice_set;

int es_synth_lang_is_english(const char *lang) { return !lang || !*lang || !es_ascii_casecmp(lang, "en"); }

static es_status voice_set_init(voice_set *vs, const char *lang, es_error *err)
{
    if (es_synth_lang_is_english(lang)) {
        vs->list = es_espeak_accents;
        vs->n = es_espeak_n_accents;
        vs->phon = "en-us";
        return ES_OK;
    }
    es_status st = es_espeak_lang_voices(lang, vs->names, MAX_LANG_VOICES, &vs->n, err);
    if (st) return st;
    for (size_t i = 0; i < vs->n; i++) vs->acc[i] = vs->names[i];
    vs->list = vs->acc;
    vs->phon = vs->names[0];
    return ES_OK;
}

static void draw_voice(take *t, const es_synth_opts *o, const voice_set *vset, unsigned engines, int phonemes, es_rng *r)
{
    es_tts_params_default(&t->tts);
    /* espeak has far more voices (8 accents x 43 variants) than flite (5):
     * give it 60% of the takes when both are on */
    int flite = !phonemes && (engines & ES_SYNTH_FLITE) && (!(engines & ES_SYNTH_ESPEAK) || es_rng_uniform(r) < 0.4f);
    if (flite) {
        t->tts.engine = ES_TTS_FLITE;
        snprintf(t->voice, sizeof t->voice, "%s", es_flite_voices[es_rng_below(r, es_flite_n_voices)]);
        t->tts.rate = (int)uni(r, 130, 230);
        t->tts.pitch = (int)uni(r, 25, 75);
        t->tts.range = (int)uni(r, 20, 90);
    } else {
        t->tts.engine = ES_TTS_ESPEAK;
        const char *acc = vset->list[es_rng_below(r, vset->n)];
        const char *var = es_espeak_variants[es_rng_below(r, es_espeak_n_variants)];
        snprintf(t->voice, sizeof t->voice, "%s%s%s", acc, *var ? "+" : "", var);
        t->tts.rate = (int)uni(r, 110, 260);
        t->tts.pitch = (int)uni(r, 15, 85);
        t->tts.range = (int)uni(r, 10, 95);
        t->tts.word_gap = (int)es_rng_below(r, 6);
    }
    t->tts.voice = t->voice;
    /* A vocal-tract length of its own: real speakers differ in it, and
     * every engine voice has one. Drawn only when asked for, so the
     * default plan (and the takes of a seed) stay what they were. Two
     * decimals: the file name records it exactly. */
    if (o->formant_lo != 1.0 || o->formant_hi != 1.0) {
        double f = exp(uni(r, log(o->formant_lo), log(o->formant_hi)));
        t->tts.formant = round(f * 100) / 100;
        if (t->tts.formant < o->formant_lo) t->tts.formant = o->formant_lo;
        if (t->tts.formant > o->formant_hi) t->tts.formant = o->formant_hi;
    }
}

/* "_f112" for a take with formant factor 1.12; "" for 1. */
static const char *formant_tag(const take *t, char *buf, size_t size)
{
    if (t->tts.formant == 1.0) return "";
    snprintf(buf, size, "_f%03d", (int)lround(t->tts.formant * 100));
    return buf;
}

static void draw_aug(take *t, const es_synth_opts *o, const es_aug_ranges *rg, es_rng *r)
{
    double p = o->aug_prob;
    /* the draws are always taken, so switching one augmentation off leaves
     * the voices and the other augmentations of every take unchanged */
    float u_rev = es_rng_uniform(r), u_tel = es_rng_uniform(r);
    t->rt60 = uni(r, 0.15, 0.8);
    t->drr = uni(r, -2, 15);
    t->reverb = (o->augment & ES_AUG_REVERB) && u_rev < p;
    /* half of the band-limited takes through a telephone band, half
     * through a plain 8 kHz channel (much recorded speech is 8 kHz) */
    t->tel = (o->augment & ES_AUG_BANDLIMIT) && u_tel < p ? 1 + (u_tel < p / 2) : 0;
    es_aug_draw(rg, 0, r, &t->aug);
    if (!(o->augment & ES_AUG_NOISE)) t->aug.noise = ES_AUG_NOISE_NONE;
    if (!(o->augment & ES_AUG_GAIN)) t->aug.gain_db = 0;
    if (!(o->augment & ES_AUG_SPEED)) t->aug.speed = 1;
    t->aug.shift = 0;   /* takes are centred; training pads them */
    t->aug.spec = 0;
    t->seed = es_rng_next(r);
}

/* The label's phoneme keys (one per text spelling, plus phoneme
 * spellings), for homophone checks. */
typedef struct { char key[ES_SYNTH_MAX_ALTS][512]; char ph[ES_SYNTH_MAX_ALTS][512]; int n; } entry_keys;

static es_status vocab_keys(const es_vocab *v, const char *phon, entry_keys *k, es_error *err)
{
    for (size_t i = 0; i < v->n; i++) {
        k[i].n = 0;
        for (int a = 0; a < v->e[i].nalts; a++) {
            const char *s = v->e[i].alts[a];
            char *ph = k[i].ph[k[i].n];
            if (es_spelling_is_phonemes(s)) {
                /* "[[...]]" as given; the key ignores text outside it */
                snprintf(ph, 512, "%s", strstr(s, "[["));
            } else {
                es_status st = es_tts_phonemes(phon, s, ph, 512, err);
                if (st) return st;
            }
            es_phoneme_key(ph, k[i].key[k[i].n], 512);
            k[i].n++;
        }
    }
    return ES_OK;
}

/* The target whose key `key` is (its index), or -1. */
static long target_of_key(const entry_keys *k, size_t nv, const char *key)
{
    for (size_t i = 0; i < nv; i++)
        for (int a = 0; a < k[i].n; a++) if (!strcmp(k[i].key[a], key)) return (long)i;
    return -1;
}

static int is_target_key(const entry_keys *k, size_t nv, const char *key) { return target_of_key(k, nv, key) >= 0; }

static int is_target_word(const es_vocab *v, const char *w)
{
    for (size_t i = 0; i < v->n; i++)
        for (int a = 0; a < v->e[i].nalts; a++) if (!es_ascii_casecmp(v->e[i].alts[a], w)) return 1;
    return 0;
}

/* Whether w is, or begins or is the beginning of, a word of a target's
 * spelling ("light" and "on" of "lights on"; a one-letter word such as
 * "a" only as itself, or it would rule out every word starting with its
 * letter). A running-speech sentence leaves those out: "the light on" in a
 * negative would teach the model to reject "lights on" said in a
 * sentence, which is how users say it. */
static int in_target_words(const es_vocab *v, const char *w)
{
    size_t lw = strlen(w);
    for (size_t i = 0; i < v->n; i++)
        for (int a = 0; a < v->e[i].nalts; a++) {
            const char *p = v->e[i].alts[a];
            if (!strncmp(p, "[[", 2)) continue;   /* phonemes: no words to compare */
            while (*p) {
                while (*p == ' ') p++;
                size_t lt = strcspn(p, " ");
                if (lt && (lt == 1 || lw == 1 ? lt == lw && !es_ascii_ncasecmp(p, w, 1) : !es_ascii_ncasecmp(p, w, lt < lw ? lt : lw)))
                    return 1;
                p += lt;
            }
        }
    return 0;
}

/* Common words that are neither a target nor sound like one. */
static es_status common_pool(const es_vocab *v, const entry_keys *k, int **pool, size_t *np, es_error *err)
{
    *pool = malloc(es_n_common_words * sizeof **pool);
    *np = 0;
    if (!*pool) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < es_n_common_words; i++) {
        char ph[256], key[256];
        if (is_target_word(v, es_common_words[i])) continue;
        es_status st = es_tts_phonemes("en-us", es_common_words[i], ph, sizeof ph, err);
        if (st) { free(*pool); *pool = NULL; return st; }
        es_phoneme_key(ph, key, sizeof key);
        if (!is_target_key(k, v->n, key)) (*pool)[(*np)++] = (int)i;
    }
    return ES_OK;
}

/* --unknown-words: the user's negatives, each spelling one draw (half of
 * the common-word takes, as one or a phrase of 2-3). A
 * spelling that sounds like a target (the same phoneme key) is refused:
 * it would teach the model to reject its own word. */
typedef struct {
    es_vocab v;
    entry_keys *keys;
    const char **text;   /* every spelling of every entry */
    size_t n;
} user_negatives;

static void user_negatives_free(user_negatives *u)
{
    es_vocab_free(&u->v);
    free(u->keys);
    free(u->text);
    memset(u, 0, sizeof *u);
}

/* The --unknown-words list: the --words syntax, its errors named so. */
static es_status parse_unknown_words(const char *spec, es_vocab *v, es_error *err)
{
    es_status st = es_vocab_parse(spec, v, err);
    if (st && err && !strncmp(err->msg, "--words:", 8)) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "--unknown-words:%s", err->msg + 8);
        snprintf(err->msg, sizeof err->msg, "%s", m);
    }
    return st;
}

static es_status user_negatives_init(user_negatives *u, const char *spec, const es_vocab *targets, const entry_keys *tk,
                                     const char *phon, es_error *err)
{
    memset(u, 0, sizeof *u);
    es_status st = parse_unknown_words(spec, &u->v, err);
    if (st) return st;
    u->keys = calloc(u->v.n, sizeof *u->keys);
    u->text = calloc(u->v.n * ES_SYNTH_MAX_ALTS, sizeof *u->text);
    if (!u->keys || !u->text) { user_negatives_free(u); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
    if ((st = vocab_keys(&u->v, phon, u->keys, err))) { user_negatives_free(u); return st; }
    for (size_t i = 0; i < u->v.n; i++)
        for (int a = 0; a < u->keys[i].n; a++) {
            long t = target_of_key(tk, targets->n, u->keys[i].key[a]);
            if (t >= 0) {
                st = es_fail(err, ES_ERR_ARG, "--unknown-words: '%s' sounds like the target '%s' ([[%s]])",
                             u->v.e[i].alts[a], targets->e[t].label, u->keys[i].key[a]);
                user_negatives_free(u);
                return st;
            }
            u->text[u->n++] = u->v.e[i].alts[a];
        }
    return ES_OK;
}

/* out_dir/<label l>, l == v->n meaning _unknown_ */
static void label_dir(char *buf, size_t size, const char *out_dir, const es_vocab *v, size_t l)
{
    snprintf(buf, size, "%s/%s", out_dir, l < v->n ? v->e[l].label : ES_LABEL_UNKNOWN);
}

static void sanitize(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    for (const char *p = src; *p && n + 1 < size; p++)
        dst[n++] = (isalnum((unsigned char)*p) || *p == '-' || *p == '+') ? *p : (*p == ' ' ? '-' : 'x');
    dst[n] = 0;
}

/* ------------------------------------------------------------ making takes */

typedef struct {
    take *takes;
    size_t n, next, done;
    double pad_to;
    es_status *st;
    es_error *errs;
    pthread_mutex_t order, lock;
    es_progress_fn progress;
    void *user;
} job;

/* The synthesiser's part of a take: speech (or generated noise) as it
 * comes out of the engine. */
static es_status source_take(const take *t, float **x, size_t *n, es_error *err)
{
    *x = NULL;
    *n = 0;
    if (t->kind != TAKE_NOISE) return es_tts_say(&t->tts, t->text, x, n, err);
    es_rng r;
    es_rng_seed(&r, t->seed ^ 0x4015eULL);
    size_t m = (size_t)(t->noise_seconds * ES_SAMPLE_RATE);
    float *y = malloc(m * sizeof *y);
    if (!y) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_status st = es_noise_generate(y, m, t->noise_color, &r, err);
    if (st) { free(y); return st; }
    /* RMS 1 -> a level like speech's, faded in and out over 50 ms */
    double g = 3000.0 * pow(10.0, uni(&r, -12, 3) / 20.0);
    size_t fade = ES_SAMPLE_RATE / 20;
    for (size_t i = 0; i < m; i++) {
        double w = i < fade ? (double)i / fade : m - i < fade ? (double)(m - i) / fade : 1.0;
        y[i] = (float)(y[i] * g * w);
    }
    *x = y;
    *n = m;
    return ES_OK;
}

/* What a room, a line and the shared augmentations do to it; then the
 * file. Takes ownership of x. */
static es_status finish_take(const take *t, float *x, size_t n, double pad_to, es_error *err)
{
    float *y = NULL;
    size_t ny = 0;
    es_status st = ES_OK;
    es_rng r;
    es_rng_seed(&r, t->seed);
    if (t->kind == TAKE_RUNNING) {
        /* a stretch from anywhere in the sentence (its own rng: the room
         * below draws from r as for every other take) */
        es_rng c;
        es_rng_seed(&c, t->seed ^ 0x2a11ULL);
        size_t keep = (size_t)(RUNNING_SECONDS * ES_SAMPLE_RATE);
        if (n > keep) {
            size_t at = (size_t)es_rng_below(&c, (uint64_t)(n - keep + 1));
            memmove(x, x + at, keep * sizeof *x);
            n = keep;
        }
    }
    if (t->reverb) {
        float *h = NULL;
        size_t m = 0;
        if ((st = es_rir_generate(t->rt60, t->drr, 0.002, &r, &h, &m, err))) goto out;
        st = es_reverb(x, n, h, m, (size_t)(0.3 * ES_SAMPLE_RATE), &y, &ny, err);
        free(h);
        if (st) goto out;
        free(x); x = y; n = ny; y = NULL;
    }
    if (t->tel) {
        if ((st = es_bandlimit(x, n, t->tel == 2, &y, err))) goto out;
        free(x); x = y; y = NULL;
    }
    /* noise fills the whole padded window, as a real background would */
    size_t pad = t->aug.noise != ES_AUG_NOISE_NONE ? (size_t)(pad_to * ES_SAMPLE_RATE) : 0;
    if ((st = es_aug_apply(&t->aug, x, n, pad, NULL, 0, &y, &ny, err))) goto out;
    st = write_wav(t->path, y, ny, err);
out:
    free(x);
    free(y);
    return st;
}

/* A worker takes the next take in plan order and synthesises it under the
 * order lock, so the engines always run in plan order: espeak-ng carries
 * state from one utterance to the next (its output for a text depends
 * slightly on what it said before), and this keeps a seed's output the
 * same from run to run however the threads are scheduled. The rest of a
 * take (room, line, noise, writing) runs in parallel. */
static void take_worker(void *ctx, int w)
{
    (void)w;
    job *j = ctx;
    for (;;) {
        pthread_mutex_lock(&j->order);
        if (j->next >= j->n) { pthread_mutex_unlock(&j->order); return; }
        size_t i = j->next++;
        const take *t = &j->takes[i];
        float *x = NULL;
        size_t n = 0;
        es_status st = source_take(t, &x, &n, &j->errs[i]);
        pthread_mutex_unlock(&j->order);
        /* a spelling the engine says nothing for ("[[]]", "...") made a
         * class of silence, and the model then fired on every pause */
        if (!st && t->kind != TAKE_NOISE && !(es_audio_peak_dbfs(x, n) >= ES_SILENT_DBFS))
            st = es_fail(&j->errs[i], ES_ERR_ARG, "no sound: the engine says nothing for this spelling");
        if (!st) st = finish_take(t, x, n, j->pad_to, &j->errs[i]);
        if (st && t->kind != TAKE_NOISE) {
            char m[sizeof j->errs[i].msg];
            snprintf(m, sizeof m, "%s", j->errs[i].msg);
            es_fail(&j->errs[i], st, "%.300s (%s %s, text '%.80s')", m, t->tts.engine == ES_TTS_FLITE ? "flite" : "espeak-ng",
                    t->voice, t->text);
        }
        j->st[i] = st;
        pthread_mutex_lock(&j->lock);
        j->done++;
        if (j->progress) j->progress(j->user, "synthesis", j->done, j->n);
        pthread_mutex_unlock(&j->lock);
    }
}

static const char *const noise_names[] = {"white", "pink", "brown"};

/* Plan every take (one rng, fixed order), then make them in parallel. */
static es_status synth_run(const es_synth_opts *o, const es_vocab *v, const char *out_dir, es_synth_result *r,
                           es_progress_fn progress, void *user, es_error *err)
{
    int ntk = o->takes, nun = o->unknown_takes < 0 ? o->takes : o->unknown_takes;
    size_t total = v->n * (size_t)ntk + (size_t)nun;
    take *takes = calloc(total + 1, sizeof *takes);
    entry_keys *keys = calloc(v->n, sizeof *keys);
    int *pool = NULL;
    size_t npool = 0;
    user_negatives un = {0};
    es_status st = ES_OK, *sts = NULL;
    es_error *errs = NULL;
    if (!takes || !keys) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    /* the words' voices, and English ones for the common words */
    voice_set wv, ev;
    if ((st = voice_set_init(&wv, o->lang, err)) || (st = voice_set_init(&ev, NULL, err))) goto out;
    /* flite speaks only English (check_opts refused a language without espeak) */
    int english = es_synth_lang_is_english(o->lang);
    unsigned eng = english ? o->engines : ES_SYNTH_ESPEAK;
    if ((st = vocab_keys(v, wv.phon, keys, err))) goto out;
    if (nun > 0 && (st = common_pool(v, keys, &pool, &npool, err))) goto out;
    /* the user's negatives share the common words' takes with them */
    if (nun > 0 && o->unknown_words && (st = user_negatives_init(&un, o->unknown_words, v, keys, wv.phon, err))) goto out;
    es_aug_ranges rg;
    es_aug_ranges_default(&rg);
    rg.p_noise = rg.p_gain = rg.p_speed = o->aug_prob;
    rg.p_shift = 0;
    rg.p_spec = 0;
    rg.p_colored = 1;
    rg.snr_lo = 5;
    rg.snr_hi = 30;
    es_rng rng;
    es_rng_seed(&rng, o->seed ^ 0x5717e5157ULL);
    size_t k = 0;
    size_t n_conf = 0, n_common = 0, n_noise = 0, n_running = 0;
    for (size_t l = 0; l < v->n; l++) {
        const es_vocab_entry *e = &v->e[l];
        for (int i = 0; i < ntk; i++, k++) {
            take *t = &takes[k];
            t->label = (int)l;
            t->kind = TAKE_WORD;
            int a = (int)es_rng_below(&rng, (uint64_t)e->nalts);
            int ph = es_spelling_is_phonemes(e->alts[a]);
            /* phonemes are espeak only: without espeak, use a text spelling */
            if (ph && !(eng & ES_SYNTH_ESPEAK))
                for (int b = 0; b < e->nalts && ph; b++) if (!es_spelling_is_phonemes(e->alts[b])) { a = b; ph = 0; }
            snprintf(t->text, sizeof t->text, "%s", e->alts[a]);
            snprintf(t->tag, sizeof t->tag, "s%d", a);
            draw_voice(t, o, &wv, ph ? ES_SYNTH_ESPEAK : eng, ph, &rng);
            draw_aug(t, o, &rg, &rng);
            char vs[64];
            sanitize(vs, sizeof vs, t->voice);
            char ft[16];
            snprintf(t->path, sizeof t->path, "%s/%s/%05d_%s_%s_%s_r%d_p%d_g%d%s%s%s%s%s%s.wav", out_dir, e->label, i, t->tag,
                     t->tts.engine == ES_TTS_FLITE ? "flite" : "espeak", vs, t->tts.rate, t->tts.pitch, t->tts.range,
                     formant_tag(t, ft, sizeof ft), t->reverb ? "_rev" : "", t->tel == 2 ? "_tel" : t->tel ? "_8k" : "", t->aug.noise ? "_noise" : "",
                     t->aug.speed != 1 ? "_speed" : "", t->aug.gain_db != 0 ? "_gain" : "");
            /* all phonemes spellings and no espeak: no way to say it */
            if (ph && !(eng & ES_SYNTH_ESPEAK)) {
                st = es_fail(err, ES_ERR_ARG, "--words: '%s' is only spelled in phonemes, which only espeak-ng reads", e->label);
                goto out;
            }
        }
    }
    for (int i = 0; i < nun; i++, k++) {
        take *t = &takes[k];
        t->label = -1;
        /* 30% confusable words, 25% common words and phrases, 30% running
         * speech, 15% noise */
        float u = es_rng_uniform(&rng);
        t->kind = u < 0.30f ? TAKE_CONFUSABLE : u < 0.55f ? TAKE_COMMON : u < 0.85f ? TAKE_RUNNING : TAKE_NOISE;
        if (t->kind == TAKE_RUNNING && !npool) t->kind = TAKE_COMMON;   /* every common word is a target */
        if (t->kind == TAKE_CONFUSABLE && !(eng & ES_SYNTH_ESPEAK)) t->kind = TAKE_COMMON;
        if (t->kind == TAKE_COMMON && !npool && !un.n) t->kind = TAKE_NOISE;
        if (t->kind == TAKE_CONFUSABLE) {
            size_t l = es_rng_below(&rng, v->n);
            int a = (int)es_rng_below(&rng, (uint64_t)keys[l].n);
            /* the phonemes of a bracketed spelling, spaced like TextToPhonemes' */
            char src[512];
            const char *ph = keys[l].ph[a];
            if (!strncmp(ph, "[[", 2)) {
                /* [[abc]] -> tokens are unknown to us; fall back to its text spelling */
                int b = 0;
                while (b < keys[l].n && !strncmp(keys[l].ph[b], "[[", 2)) b++;
                ph = b < keys[l].n ? keys[l].ph[b] : NULL;
            }
            int ok = 0;
            for (int tries = 0; ph && tries < 20 && !ok; tries++) {
                snprintf(src, sizeof src, "%s", ph);
                char key[512];
                if (es_confusable(src, &rng, t->text, sizeof t->text, NULL)) break;
                es_phoneme_key(t->text, key, sizeof key);
                ok = !is_target_key(keys, v->n, key);
            }
            if (!ok) t->kind = npool || un.n ? TAKE_COMMON : TAKE_NOISE;
            else { snprintf(t->tag, sizeof t->tag, "conf-%zu", l); n_conf++; }
        }
        int user_ph = 0;   /* a user's negative spelled in phonemes */
        /* drawn only with --unknown-words, so the default plan is unchanged */
        int use_user = t->kind == TAKE_COMMON && un.n && (!npool || es_rng_uniform(&rng) < 0.5f);
        if (use_user) {
            /* the user's negatives as the common words are drawn: one
             * (60%), else a phrase of 2-3 (running speech is what a
             * detector hears between keywords); phoneme spellings alone */
            int nw = es_rng_uniform(&rng) < 0.6f ? 1 : 2 + (int)es_rng_below(&rng, 2);
            t->text[0] = 0;
            for (int w = 0; w < nw; w++) {
                const char *s = un.text[es_rng_below(&rng, un.n)];
                int ph = es_spelling_is_phonemes(s);
                if (w && (ph || user_ph)) break;
                user_ph = ph;
                size_t len = strlen(t->text);
                snprintf(t->text + len, sizeof t->text - len, "%s%s", w ? " " : "", s);
            }
            sanitize(t->tag, sizeof t->tag, user_ph ? "phonemes" : t->text);
            n_common++;
        } else if (t->kind == TAKE_RUNNING) {
            /* a sentence of 10-16 common words, to cut a stretch from,
             * none of them part of a target */
            int nw = 10 + (int)es_rng_below(&rng, 7);
            t->text[0] = 0;
            for (int w = 0; w < nw; w++) {
                const char *word;
                int tries = 0;
                do word = es_common_words[pool[es_rng_below(&rng, npool)]];
                while (in_target_words(v, word) && ++tries < 50);
                size_t len = strlen(t->text);
                snprintf(t->text + len, sizeof t->text - len, "%s%s", w ? " " : "", word);
            }
            snprintf(t->tag, sizeof t->tag, "running");
            n_running++;
        } else if (t->kind == TAKE_COMMON) {
            /* one word (60%), else a phrase of 2-3 */
            int nw = es_rng_uniform(&rng) < 0.6f ? 1 : 2 + (int)es_rng_below(&rng, 2);
            t->text[0] = 0;
            for (int w = 0; w < nw; w++) {
                const char *word = es_common_words[pool[es_rng_below(&rng, npool)]];
                size_t len = strlen(t->text);
                snprintf(t->text + len, sizeof t->text - len, "%s%s", w ? " " : "", word);
            }
            sanitize(t->tag, sizeof t->tag, t->text);
            n_common++;
        }
        if (t->kind == TAKE_NOISE) {
            t->noise_color = (es_noise_color)es_rng_below(&rng, 3);
            t->noise_seconds = uni(&rng, 0.3, 1.2);
            snprintf(t->tag, sizeof t->tag, "noise-%s", noise_names[t->noise_color]);
            snprintf(t->voice, sizeof t->voice, "none");
            n_noise++;
            es_tts_params_default(&t->tts);
        } else {
            /* confusables in the words' language, the built-in common words in English */
            if (t->kind == TAKE_CONFUSABLE) draw_voice(t, o, &wv, ES_SYNTH_ESPEAK, 1, &rng);
            /* the user's negatives in the words' language and voices */
            else if (use_user) draw_voice(t, o, &wv, user_ph ? ES_SYNTH_ESPEAK : eng, user_ph, &rng);
            else draw_voice(t, o, &ev, english ? o->engines : ES_SYNTH_ESPEAK, 0, &rng);
        }
        draw_aug(t, o, &rg, &rng);
        if (t->kind == TAKE_NOISE) { t->reverb = 0; t->tel = 0; t->aug.noise = ES_AUG_NOISE_NONE; }
        char vs[64];
        sanitize(vs, sizeof vs, t->voice);
        char ft[16];
        snprintf(t->path, sizeof t->path, "%s/%s/%05d_%s_%s_%s_r%d_p%d_g%d%s%s%s%s%s%s.wav", out_dir, ES_LABEL_UNKNOWN, i, t->tag,
                 t->kind == TAKE_NOISE ? "gen" : t->tts.engine == ES_TTS_FLITE ? "flite" : "espeak", vs, t->tts.rate,
                 t->tts.pitch, t->tts.range, formant_tag(t, ft, sizeof ft), t->reverb ? "_rev" : "", t->tel == 2 ? "_tel" : t->tel ? "_8k" : "", t->aug.noise ? "_noise" : "",
                 t->aug.speed != 1 ? "_speed" : "", t->aug.gain_db != 0 ? "_gain" : "");
    }
    /* folders */
    char dir[4096];
    for (size_t l = 0; l <= v->n; l++) {
        if (l == v->n && !nun) break;
        label_dir(dir, sizeof dir, out_dir, v, l);
        if ((st = es_make_dirs(dir, err))) goto out;
    }
    sts = calloc(total + 1, sizeof *sts);
    errs = calloc(total + 1, sizeof *errs);
    if (!sts || !errs) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    job j = {takes, total, 0, 0, o->pad_to, sts, errs, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, progress, user};
    int nth = es_threads();
    es_parallel_for(nth < (int)total ? nth : (int)total, take_worker, &j);
    pthread_mutex_destroy(&j.lock);
    pthread_mutex_destroy(&j.order);
    for (size_t i = 0; i < total; i++)
        if (sts[i]) {
            st = sts[i];
            if (err) *err = errs[i];
            goto out;
        }
    r->n_files = total;
    r->n_labels = v->n;
    r->n_unknown = (size_t)nun;
    {
        /* how the data were made, as JSON for the model card */
        cJSON *j2 = cJSON_CreateObject();
        cJSON_AddStringToObject(j2, "words", o->words);
        cJSON_AddNumberToObject(j2, "takes_per_label", o->takes);
        cJSON_AddNumberToObject(j2, "unknown_takes", nun);
        cJSON_AddNumberToObject(j2, "unknown_confusable", (double)n_conf);
        cJSON_AddNumberToObject(j2, "unknown_common_words", (double)n_common);
        cJSON_AddNumberToObject(j2, "unknown_running_speech", (double)n_running);
        if (un.n) cJSON_AddStringToObject(j2, "unknown_words", o->unknown_words);
        cJSON_AddNumberToObject(j2, "unknown_noise", (double)n_noise);
        cJSON *je = cJSON_AddArrayToObject(j2, "engines");
        if (eng & ES_SYNTH_ESPEAK) cJSON_AddItemToArray(je, cJSON_CreateString("espeak-ng"));
        if (eng & ES_SYNTH_FLITE) cJSON_AddItemToArray(je, cJSON_CreateString("flite"));
        /* the same words and seed give other takes from another release
         * of an engine: the card says which made them */
        cJSON *jev = cJSON_AddObjectToObject(j2, "engine_versions");
        if (eng & ES_SYNTH_ESPEAK) cJSON_AddStringToObject(jev, "espeak-ng", es_tts_engine_version(ES_TTS_ESPEAK));
        if (eng & ES_SYNTH_FLITE) cJSON_AddStringToObject(jev, "flite", es_tts_engine_version(ES_TTS_FLITE));
        if (!english) {
            cJSON_AddStringToObject(j2, "lang", o->lang);
            cJSON *jv = cJSON_AddArrayToObject(j2, "lang_voices");
            for (size_t i = 0; i < wv.n; i++) cJSON_AddItemToArray(jv, cJSON_CreateString(wv.names[i]));
        }
        cJSON *ja = cJSON_AddArrayToObject(j2, "augment");
        static const char *an[] = {"noise", "reverb", "bandlimit", "speed", "gain"};
        for (int b = 0; b < 5; b++) if (o->augment & (1u << b)) cJSON_AddItemToArray(ja, cJSON_CreateString(an[b]));
        cJSON_AddNumberToObject(j2, "aug_prob", o->aug_prob);
        if (o->formant_lo != 1.0 || o->formant_hi != 1.0) {
            cJSON *jf = cJSON_AddArrayToObject(j2, "formant");
            cJSON_AddItemToArray(jf, cJSON_CreateNumber(o->formant_lo));
            cJSON_AddItemToArray(jf, cJSON_CreateNumber(o->formant_hi));
        }
        cJSON_AddNumberToObject(j2, "seed", (double)o->seed);
        cJSON_AddNumberToObject(j2, "generator_version", ES_SYNTH_VERSION);
        char *s = cJSON_PrintUnformatted(j2);
        cJSON_Delete(j2);
        snprintf(r->description, sizeof r->description, "%s", s ? s : "{}");
        free(s);
    }
out:
    free(takes);
    free(keys);
    free(pool);
    user_negatives_free(&un);
    free(sts);
    free(errs);
    return st;
}

static es_status check_opts(const es_synth_opts *o, es_error *err)
{
    if (!o) return es_fail(err, ES_ERR_ARG, "es_synth_opts_check: no options");
    if (o->takes < 1 || o->takes > 100000) return es_fail(err, ES_ERR_ARG, "takes per label must be 1..100000, not %d", o->takes);
    if (o->unknown_takes > 1000000) return es_fail(err, ES_ERR_ARG, "too many _unknown_ takes (%d)", o->unknown_takes);
    if (!(o->engines & (ES_SYNTH_ESPEAK | ES_SYNTH_FLITE)) || (o->engines & ~3u))
        return es_fail(err, ES_ERR_ARG, "choose espeak, flite or both as engines");
    if (o->augment & ~ES_AUG_ALL) return es_fail(err, ES_ERR_ARG, "unknown augmentation flags");
    if (!(o->aug_prob >= 0 && o->aug_prob <= 1)) return es_fail(err, ES_ERR_ARG, "augmentation probability must be 0..1");
    if (!(o->pad_to >= 0 && o->pad_to <= 60)) return es_fail(err, ES_ERR_ARG, "pad_to must be 0..60 s");
    if (!(o->formant_lo >= 0.7 && o->formant_lo <= o->formant_hi && o->formant_hi <= 1.4))
        return es_fail(err, ES_ERR_ARG, "formant factors must satisfy 0.7 <= lo <= hi <= 1.4, not %g..%g", o->formant_lo, o->formant_hi);
    if (o->unknown_words && o->unknown_takes == 0)
        return es_fail(err, ES_ERR_ARG, "--unknown-words: no _unknown_ takes to speak them in (--unknown 0)");
    if (!es_synth_lang_is_english(o->lang)) {
        size_t k = strlen(o->lang);
        int ok = k < ES_TTS_VOICE_NAME;
        for (size_t i = 0; ok && i < k; i++) ok = isalnum((unsigned char)o->lang[i]) || (o->lang[i] == '-' && i);
        if (!ok) return es_fail(err, ES_ERR_ARG, "--lang '%.40s': not a language code (letters, digits and '-', e.g. de, pt-br)", o->lang);
        if (!(o->engines & ES_SYNTH_ESPEAK))
            return es_fail(err, ES_ERR_ARG, "--lang %s: flite speaks only English; espeak-ng must be among the engines", o->lang);
        /* before anything is written: a language without voices */
        char names[MAX_LANG_VOICES][ES_TTS_VOICE_NAME];
        size_t n;
        es_status st = es_espeak_lang_voices(o->lang, names, MAX_LANG_VOICES, &n, err);
        if (st) return st;
    }
    return ES_OK;
}

es_status es_synth_opts_check(const es_synth_opts *o, es_error *err)
{
    es_status st = check_opts(o, err);
    if (st) return st;
    es_vocab v;
    if ((st = es_vocab_parse(o->words, &v, err))) return st;
    if (v.n < 2 && o->unknown_takes == 0)
        st = es_fail(err, ES_ERR_ARG, "--words: one word needs _unknown_ takes to train against");
    es_vocab_free(&v);
    if (st || !o->unknown_words) return st;
    if ((st = parse_unknown_words(o->unknown_words, &v, err))) return st;
    es_vocab_free(&v);
    return ES_OK;
}

/* Staging folders of earlier runs into out_dir whose process is gone (a
 * run killed midway; known by the process tag in the name, so a reused
 * pid does not keep one): removed. A live one (another run now) stays. */
static void remove_stale_stages(const char *out_dir)
{
    DIR *d = opendir(out_dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        /* .earshot-synth.<tag> (es_proc_tag); not the markers, <pid>.moving */
        if (strncmp(de->d_name, ".earshot-synth.", 15) || es_tag_state(de->d_name + 15) != ES_TAG_GONE) continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", out_dir, de->d_name);
        es_rm_tree(p);
    }
    closedir(d);
}

/* The moves' marker, DIR/.earshot-synth.<pid>.moving: the label folders
 * a run is about to move into DIR, one name a line. It is written (and
 * synced, with DIR) before the first rename and removed after the last,
 * all under the lock on DIR, so a marker there means a run stopped in the
 * middle of its moves (SIGKILL, a crash, a power cut: no handler ran) and
 * DIR holds some of that run's labels and not the others. The dataset
 * scanner refuses such a folder (dataset.c: a train would otherwise read
 * the labels that arrived and train on part of the set, without a word),
 * and the next synth into DIR removes what the marker names and then
 * writes the whole set. Everything it names that is in DIR was moved
 * there by that run: the run checked under the lock that none of them
 * existed before it wrote the marker. */
static void marker_path(char *buf, size_t size, const char *out_dir, long pid)
{
    snprintf(buf, size, "%s/" ES_SYNTH_MOVING_PREFIX "%ld" ES_SYNTH_MOVING_SUFFIX, out_dir, pid);
}

/* The marker's first line, ".process <tag>" (es_proc_tag: a line with a
 * leading '.' is no label), names its run with the run's start time, so
 * a reused pid does not make a killed run's marker look live (the name
 * keeps the pid alone: the dataset scanner reads it). A marker of an older
 * earshot has no such line, and its pid alone decides. 1 = that run is
 * gone. */
#define MARKER_PROCESS ".process "
static int marker_gone(long pid, const unsigned char *b, size_t n)
{
    size_t pl = strlen(MARKER_PROCESS);
    const unsigned char *nl = memchr(b, '\n', n);
    char tag[ES_PROC_TAG_MAX];
    if (n > pl && !memcmp(b, MARKER_PROCESS, pl) && nl && (size_t)(nl - b) - pl < sizeof tag) {
        snprintf(tag, sizeof tag, "%.*s", (int)((size_t)(nl - b) - pl), (const char *)b + pl);
        int state = es_tag_state(tag);
        if (state != ES_TAG_NONE) return state == ES_TAG_GONE;
    }
    return es_pid_gone(pid);
}

/* Under the lock on out_dir: undo the moves of killed runs (their
 * process gone), as described above. A marker of a live process is a
 * run moving now on a file system without flock: left alone. */
static es_status undo_killed_moves(const char *out_dir, es_error *err)
{
    DIR *d = opendir(out_dir);
    if (!d) return ES_OK;
    es_status st = ES_OK;
    struct dirent *de;
    while (!st && (de = readdir(d))) {
        long pid = es_synth_moving_pid(de->d_name);
        if (pid <= 0) continue;
        char mp[4400];
        marker_path(mp, sizeof mp, out_dir, pid);
        unsigned char *b = NULL;
        size_t n = 0;
        /* (a live run's marker may go between readdir and the read) */
        if (es_read_file(mp, &b, &n, NULL)) {
            if (!es_pid_gone(pid)) continue;
            if ((st = es_read_file(mp, &b, &n, err))) break;
        }
        if (!marker_gone(pid, b, n)) { free(b); continue; }
        /* one label a line; a name with a '/' or a leading '.' is none
         * that synth writes (a damaged marker): never followed */
        for (char *line = (char *)b, *end = (char *)b + n; !st && line < end;) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
            char dir[4400];
            if (len && line[0] != '.' && !memchr(line, '/', len) &&
                snprintf(dir, sizeof dir, "%s/%.*s", out_dir, (int)len, line) < (int)sizeof dir) {
                struct stat s;
                if (!lstat(dir, &s) && es_rm_tree(dir) != 0)
                    st = es_fail(err, ES_ERR_IO, "%s: cannot remove the label folder of a synth killed while it moved "
                                 "its labels in: %s", dir, strerror(errno));
            }
            line += len + 1;
        }
        free(b);
        if (!st && unlink(mp) != 0 && errno != ENOENT)
            st = es_fail(err, ES_ERR_IO, "%s: cannot remove: %s", mp, strerror(errno));
    }
    closedir(d);
    return st;
}

es_status es_synth_dataset(const es_synth_opts *o, const char *out_dir, es_synth_result *r, es_progress_fn progress,
                           void *user, es_error *err)
{
    es_synth_result dummy;
    if (!r) r = &dummy;
    memset(r, 0, sizeof *r);
    if (!o || !out_dir || !*out_dir) return es_fail(err, ES_ERR_ARG, "es_synth_dataset: invalid arguments");
    es_status st = es_synth_opts_check(o, err);
    if (st) return st;
    es_vocab v;
    if ((st = es_vocab_parse(o->words, &v, err))) return st;
    struct stat os;
    int existed = !stat(out_dir, &os);
    if (!st) st = es_make_dirs(out_dir, err);
    /* a run killed in the middle of its moves: its labels go first (under
     * the lock, as the moves were made), or the check below refuses them */
    if (!st && existed) {
        int fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {}
        st = undo_killed_moves(out_dir, err);
        if (fd >= 0) close(fd);
    }
    /* never mix two generations in one folder */
    for (size_t l = 0; !st && l <= v.n; l++) {
        char dir[4096];
        struct stat s;
        label_dir(dir, sizeof dir, out_dir, &v, l);
        if (!stat(dir, &s)) st = es_fail(err, ES_ERR_IO, "%s: already exists (choose a new output folder)", dir);
    }
    /* The takes are made in a hidden folder inside out_dir, and the label
     * folders moved out of it only when every take is written: a run
     * killed midway (Ctrl-C) left label folders that looked complete and
     * that train read without a word. A hidden folder is no label to the
     * dataset scanner, and the next run into out_dir removes it. */
    char stage[3600];   /* room in a take's path (4096) for the label and file name */
    char tag[ES_PROC_TAG_MAX];
    if (!st && snprintf(stage, sizeof stage, "%s/.earshot-synth.%s", out_dir, es_proc_tag(tag)) >= (int)sizeof stage)
        st = es_fail(err, ES_ERR_ARG, "%s: output folder path too long", out_dir);
    if (!st) remove_stale_stages(out_dir);
    if (!st) st = es_make_dirs(stage, err);
    int ran = !st;
    if (!st) {
        /* the takes' names synced once per label folder, after the last
         * take and before the folders move into out_dir: a folder whose
         * move survives a power cut has all its takes (status.c) */
        es_dirsync_defer_begin();
        st = synth_run(o, &v, stage, r, progress, user, err);
        es_dirsync_defer_end();
    }
    /* Two runs into one folder at once (two terminals, make -j) both
     * passed the check above before either had moved a label in, and the
     * one whose move then failed removed out_dir, or the label folders,
     * as its own: the other said "wrote N takes" and its dataset was
     * gone. So the moves take turns under a lock on out_dir (released by
     * close), the check is made again under it, and a failure removes
     * only the label folders this run moved. Waiting is short: the lock
     * is held for the renames only, not for the synthesis. Without a lock
     * (a file system that has none) the tally still keeps the other
     * run's folders. */
    int lock = -1;
    if (!st) {
        lock = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lock >= 0) while (flock(lock, LOCK_EX) != 0 && errno == EINTR) {}
    }
    unsigned char *moved = calloc(v.n + 1, 1);
    if (!st && !moved) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
    for (size_t l = 0; !st && l <= v.n; l++) {
        char dir[4096];
        struct stat s;
        label_dir(dir, sizeof dir, out_dir, &v, l);
        if (!stat(dir, &s))
            st = es_fail(err, ES_ERR_IO, "%s: already exists: another earshot wrote it meanwhile (choose a new output folder)", dir);
    }
    /* all the label folders or none: a Ctrl-C here waits for the moves */
    es_critical_begin();
    /* and a SIGKILL leaves the marker that names them (see marker_path) */
    char marker[4400];
    int marked = 0;
    if (!st) {
        size_t cap = 1 + strlen(MARKER_PROCESS) + strlen(es_proc_tag(tag)) + 1, len = 0;
        for (size_t l = 0; l <= v.n; l++) cap += strlen(l < v.n ? v.e[l].label : ES_LABEL_UNKNOWN) + 1;
        char *names = malloc(cap);
        if (!names) st = es_fail(err, ES_ERR_NOMEM, "out of memory");
        else len = (size_t)snprintf(names, cap, MARKER_PROCESS "%s\n", tag);
        for (size_t l = 0; !st && l <= v.n; l++)
            len += (size_t)snprintf(names + len, cap - len, "%s\n", l < v.n ? v.e[l].label : ES_LABEL_UNKNOWN);
        marker_path(marker, sizeof marker, out_dir, (long)getpid());
        if (!st) st = es_write_atomic(marker, names, len, err);
        marked = !st;
        /* the marker's name durable before any rename can be */
        if (marked && lock >= 0) (void)fsync(lock);
        free(names);
    }
    for (size_t l = 0; !st && l <= v.n; l++) {
        char from[4400], to[4096];
        label_dir(from, sizeof from, stage, &v, l);
        label_dir(to, sizeof to, out_dir, &v, l);
        struct stat fs;
        if (stat(from, &fs) != 0) continue;   /* no takes of it (--unknown 0) */
        if (rename(from, to) != 0) st = es_fail(err, ES_ERR_IO, "%s: cannot move to %s: %s", from, to, strerror(errno));
        else moved[l] = 1;
    }
    if (st && ran && moved) {
        /* loses nothing: only what this call made goes (out_dir only if
         * it is new and nothing else is in it now) */
        char dir[4096];
        for (size_t l = 0; l <= v.n; l++) {
            if (!moved[l]) continue;
            label_dir(dir, sizeof dir, out_dir, &v, l);
            es_rm_tree(dir);
        }
    }
    /* the moves are over (or undone): the renames durable, then the marker
     * goes, and last the folder if it is new and nothing else is in it */
    if (marked) {
        if (lock >= 0) (void)fsync(lock);
        unlink(marker);
    }
    if (ran) es_rm_tree(stage);
    if (st && ran && moved && !existed) (void)rmdir(out_dir);
    es_critical_end();
    if (lock >= 0) close(lock);
    free(moved);
    es_vocab_free(&v);
    return st;
}
