/*
 * pipeline/vocab.c — the --words vocabulary and the phoneme-string helpers
 * of the synthetic-dataset generator (see synth_data.h). Pure string code,
 * no synthesiser: the fuzzer (fuzz/fuzz_words.c) links it alone.
 */
#include "synth_data.h"
#include "dataset.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ vocabulary */

void es_vocab_free(es_vocab *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        free(v->e[i].label);
        for (int k = 0; k < v->e[i].nalts; k++) free(v->e[i].alts[k]);
    }
    free(v->e);
    v->e = NULL;
    v->n = 0;
}

int es_spelling_is_phonemes(const char *s) { return s && strstr(s, "[[") != NULL; }

/* Copy [a, b) trimmed, with inner whitespace runs made one space. */
static char *trim_dup(const char *a, const char *b)
{
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    char *s = malloc((size_t)(b - a) + 1), *o = s;
    if (!s) return NULL;
    for (const char *p = a; p < b; p++) {
        if (isspace((unsigned char)*p)) {
            if (o > s && o[-1] != ' ') *o++ = ' ';
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return s;
}

static es_status vocab_fail(es_vocab *v, es_error *err, const char *what, const char *a, const char *b)
{
    es_vocab_free(v);
    int len = (int)(b - a) > 60 ? 60 : (int)(b - a);
    return es_fail(err, ES_ERR_ARG, "--words: %s in entry '%.*s'", what, len, a);
}

static int label_ok(const char *l)
{
    if (!*l || *l == '.' || strchr(l, '/')) return 0;
    for (const unsigned char *p = (const unsigned char *)l; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 0;
    /* _silence_ too: the class train makes itself (a word under that
     * name became a second label of the same name) */
    return strcmp(l, ES_LABEL_UNKNOWN) && strcmp(l, ES_DIR_NOISE) && strcmp(l, "_silence_");
}

es_status es_vocab_parse(const char *spec, es_vocab *v, es_error *err)
{
    if (!v) return es_fail(err, ES_ERR_ARG, "es_vocab_parse: invalid arguments");
    memset(v, 0, sizeof *v);
    if (!spec) return es_fail(err, ES_ERR_ARG, "--words: no words given");
    if (!(v->e = calloc(ES_SYNTH_MAX_WORDS, sizeof *v->e))) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    const char *p = spec;
    for (;;) {
        /* an entry ends at a comma outside [[ ]] */
        const char *a = p, *q = p;
        int depth = 0;
        while (*q && (depth || *q != ',')) {
            if (q[0] == '[' && q[1] == '[') { if (depth) return vocab_fail(v, err, "nested [[", a, q + 2); depth = 1; q += 2; continue; }
            if (q[0] == ']' && q[1] == ']' && depth) { depth = 0; q += 2; continue; }
            q++;
        }
        if (depth) return vocab_fail(v, err, "unclosed [[", a, q);
        const char *b = q;
        if (v->n == ES_SYNTH_MAX_WORDS) return vocab_fail(v, err, "too many entries (256 at most)", a, b);
        es_vocab_entry *e = &v->e[v->n++];
        /* label = first '=' outside [[ ]] */
        const char *eq = NULL;
        for (const char *s = a; s < b; s++) {
            if (s[0] == '[' && s[1] == '[') { const char *c = strstr(s, "]]"); s = c && c < b ? c + 1 : b; continue; }
            if (*s == '=') { eq = s; break; }
        }
        const char *sp = eq ? eq + 1 : a;
        for (const char *s = sp;;) {   /* spellings split at '|' outside [[ ]] */
            const char *t = s;
            while (t < b && *t != '|') {
                if (t[0] == '[' && t[1] == '[') { const char *c = strstr(t, "]]"); t = c && c < b ? c + 2 : b; continue; }
                t++;
            }
            if (e->nalts == ES_SYNTH_MAX_ALTS) return vocab_fail(v, err, "too many spellings (8 at most)", a, b);
            char *alt = trim_dup(s, t);
            if (!alt) { es_vocab_free(v); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
            e->alts[e->nalts++] = alt;
            if (!*alt) return vocab_fail(v, err, "empty spelling", a, b);
            if (strlen(alt) > ES_SYNTH_MAX_TEXT) return vocab_fail(v, err, "spelling longer than 256 bytes", a, b);
            for (const unsigned char *c = (const unsigned char *)alt; *c; c++)
                if (*c < 0x20 || *c == 0x7f) return vocab_fail(v, err, "control character", a, b);
            if (strstr(alt, "]]") && !strstr(alt, "[[")) return vocab_fail(v, err, "']]' without '[['", a, b);
            if (t >= b) break;
            s = t + 1;
        }
        if (eq) e->label = trim_dup(a, eq);
        else if (es_spelling_is_phonemes(e->alts[0])) return vocab_fail(v, err, "phonemes need a label (label=[[...]])", a, b);
        else e->label = strdup(e->alts[0]);
        if (!e->label) { es_vocab_free(v); return es_fail(err, ES_ERR_NOMEM, "out of memory"); }
        if (!label_ok(e->label)) return vocab_fail(v, err, "bad label (empty, '/', control character, leading '.' or reserved)", a, b);
        if (strlen(e->label) > 128) return vocab_fail(v, err, "label longer than 128 bytes", a, b);
        for (size_t i = 0; i + 1 < v->n; i++)
            if (!strcmp(v->e[i].label, e->label)) return vocab_fail(v, err, "label given twice", a, b);
        if (!*b) break;
        p = b + 1;
    }
    return ES_OK;
}

/* ------------------------------------------------------------ phonemes */

/* espeak-ng's English phoneme mnemonics (Kirshenbaum-like), by kind. Only
 * these are substituted or added; anything else is kept as it is. */
static const char *const vowels[] = {"a", "A:", "aI", "aU", "@", "3:", "E", "e@", "eI", "i:", "I", "i@", "0", "O:",
                                     "oU", "OI", "U", "u:", "V", "A@", "O@", "o@", "U@", "a#", "@L", "3", "i", "@2", "@5", "I2", "aI@", "aU@", "e", "O",
                                     "O2", "a2", "I#", "e#", "aa", "0#"};
enum { N_VOWEL_SUBST = 19 };   /* the first 19 are the ones substituted in */
static const char *const consonants[] = {"p", "b", "t", "d", "k", "g", "f", "v", "T", "D", "s", "z", "S", "Z",
                                         "h", "tS", "dZ", "m", "n", "N", "l", "r", "w", "j"};
#define N_CONS (sizeof consonants / sizeof consonants[0])

static int is_stress(char c) { return c == '\'' || c == ',' || c == '%' || c == '='; }

/* 1 vowel, 2 consonant, 0 other (stress marks skipped) */
static int phoneme_kind(const char *t)
{
    while (is_stress(*t)) t++;
    for (size_t i = 0; i < sizeof vowels / sizeof vowels[0]; i++) if (!strcmp(t, vowels[i])) return 1;
    for (size_t i = 0; i < N_CONS; i++) if (!strcmp(t, consonants[i])) return 2;
    return 0;
}

void es_phoneme_key(const char *ph, char *out, size_t size)
{
    if (!size) return;
    size_t n = 0;
    int bracket = ph && !strncmp(ph, "[[", 2);
    const char *p = ph ? ph + (bracket ? 2 : 0) : "";
    int pending_space = 0;
    for (; *p; p++) {
        if (bracket && p[0] == ']' && p[1] == ']') break;
        if (*p == ' ') {
            /* a word boundary: any space inside [[ ]], two in TextToPhonemes output */
            if (bracket || p[1] == ' ') pending_space = n > 0;
            continue;
        }
        if (is_stress(*p) || *p == '_') continue;
        if (pending_space && n + 1 < size) out[n++] = ' ';
        pending_space = 0;
        if (n + 1 < size) out[n++] = *p;
    }
    out[n] = 0;
}

#define MAX_PH 96

es_status es_confusable(const char *phonemes, es_rng *rng, char *out, size_t size, es_error *err)
{
    if (!phonemes || !rng || !out || size < 8) return es_fail(err, ES_ERR_ARG, "es_confusable: invalid arguments");
    /* tokens: phonemes, with "" as a word boundary */
    char tok[MAX_PH + 1][16];
    int nt = 0, known = 0;
    const char *p = phonemes;
    while (*p && nt < MAX_PH) {
        if (*p == ' ') {
            if (p[1] == ' ' && nt && tok[nt - 1][0]) tok[nt++][0] = 0;
            while (*p == ' ') p++;
            continue;
        }
        size_t k = 0;
        while (p[k] && p[k] != ' ') k++;
        if (k < sizeof tok[0]) {
            memcpy(tok[nt], p, k);
            tok[nt][k] = 0;
            known += phoneme_kind(tok[nt]) != 0;
            nt++;
        }
        p += k;
    }
    if (nt && !tok[nt - 1][0]) nt--;
    if (!known) return es_fail(err, ES_ERR_ARG, "no known phoneme in '%.60s'", phonemes);
    int idx[MAX_PH], ni = 0;
    for (int i = 0; i < nt; i++) if (phoneme_kind(tok[i])) idx[ni++] = i;
    /* drop only from words of 3+ phonemes: a 2-phoneme word minus one is
     * hardly a word, and "add"/"substitute" cover short targets */
    uint64_t op = es_rng_below(rng, 3);
    if (op == 1 && ni < 3) op = 0;
    int at = idx[es_rng_below(rng, (uint64_t)ni)];
    char stress[4] = {0};
    {
        const char *t = tok[at];
        size_t s = 0;
        while (is_stress(*t) && s < 3) stress[s++] = *t++;
    }
    if (op == 0) {            /* substitute within the kind, keeping stress */
        int kind = phoneme_kind(tok[at]);
        const char *old = tok[at] + strlen(stress);
        const char *nw;
        do {
            nw = kind == 1 ? vowels[es_rng_below(rng, N_VOWEL_SUBST)] : consonants[es_rng_below(rng, N_CONS)];
        } while (!strcmp(nw, old));
        snprintf(tok[at], sizeof tok[at], "%s%s", stress, nw);
    } else if (op == 1) {     /* drop; the stress moves to the next phoneme */
        for (int i = at; i + 1 < nt; i++) memcpy(tok[i], tok[i + 1], sizeof tok[i]);
        nt--;
        if (stress[0] && at < nt && tok[at][0]) {
            char t[16];
            snprintf(t, sizeof t, "%s%s", stress, tok[at]);
            memcpy(tok[at], t, sizeof t);
        }
    } else {                  /* add a consonant before or after */
        int pos = at + (int)es_rng_below(rng, 2);
        if (pos == at && stress[0]) pos = at + 1;  /* never between a stress mark and its vowel */
        for (int i = nt; i > pos; i--) memcpy(tok[i], tok[i - 1], sizeof tok[i]);
        /* not the consonant next to it ("tss" sounds like "ts") */
        const char *c;
        do {
            c = consonants[es_rng_below(rng, N_CONS)];
        } while ((pos > 0 && !strcmp(tok[pos - 1], c)) || (pos + 1 <= nt && !strcmp(tok[pos + 1], c)));
        snprintf(tok[pos], sizeof tok[pos], "%s", c);
        nt++;
    }
    size_t n = 0;
    n += (size_t)snprintf(out, size, "[[");
    for (int i = 0; i < nt && n < size; i++) {
        if (!tok[i][0]) { if (n + 1 < size) out[n++] = ' '; continue; }
        size_t k = strlen(tok[i]);
        if (n + k + 3 > size) return es_fail(err, ES_ERR_ARG, "confusable of '%.60s' too long", phonemes);
        memcpy(out + n, tok[i], k);
        n += k;
    }
    if (n + 3 > size) return es_fail(err, ES_ERR_ARG, "confusable of '%.60s' too long", phonemes);
    memcpy(out + n, "]]", 3);
    return ES_OK;
}

