/*
 * pipeline/dataset.c — scanning training datasets and splitting them.
 *
 * A scan only looks at names (opendir/readdir/stat); it never opens audio,
 * so it is fast on large corpora and a bad file is reported later, by the
 * step that decodes it, with its own reason.
 *
 * Determinism: directory order is whatever the file system returns, so
 * every list is sorted (strcmp, i.e. by bytes) before use. Splits use their
 * own small generator (splitmix64) and FNV-1a, both defined on bytes, so a
 * seed means the same split on every machine.
 */
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

/* dir + "/" + name, without doubling a trailing slash of dir. */
static char *join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    int slash = dl > 0 && dir[dl - 1] == '/';
    char *p = malloc(dl + nl + 2);
    if (!p) return NULL;
    memcpy(p, dir, dl);
    if (!slash) p[dl++] = '/';
    memcpy(p + dl, name, nl + 1);
    return p;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const es_item *)a)->path, ((const es_item *)b)->path);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A growable array of owned strings. */
typedef struct {
    char **v;
    size_t n, cap;
} strvec;

static int sv_push_owned(strvec *s, char *p)
{
    if (!p) return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) { free(p); return -1; }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = p;
    return 0;
}

static void sv_free(strvec *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* Label names end up in model cards (JSON) and on terminals: any UTF-8
 * text is fine, but not bytes that are not UTF-8, control characters
 * (they would garble both) or '/' (labels become folder names on export).
 * Returns NULL when fine, else the reason. */
static const char *label_problem(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!*p) return "is empty";
    while (*p) {
        unsigned c = *p;
        if (c < 0x20 || c == 0x7f) return "contains a control character";
        if (c == '/') return "contains '/'";
        if (c < 0x80) { p++; continue; }
        /* a UTF-8 sequence: lead byte, continuation bytes, no overlong
         * forms, no surrogates, nothing above U+10FFFF */
        int len;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
        else return "is not valid UTF-8";
        for (int k = 1; k < len; k++) {
            if ((p[k] & 0xc0) != 0x80) return "is not valid UTF-8";
            cp = cp << 6 | (p[k] & 0x3fu);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return "is not valid UTF-8";
        if (cp >= 0x80 && cp < 0xa0) return "contains a control character";
        p += len;
    }
    return NULL;
}

/* ------------------------------------------------------------ scanning */

/* How many labels make a set: training needs two words, or one plus
 * _unknown_ (es_dataset_scan); a speaker's takes may be of a single word
 * (es_dataset_scan_takes); a test set may be any one label, _unknown_
 * alone too (es_dataset_scan_test). */
enum { LABELS_TWO, LABELS_ONE_WORD, LABELS_ANY };

typedef struct {
    es_idset seen;         /* directories entered so far: no loops, no repeats */
    es_error *err;
    int labels_rule;       /* how many labels make a set: LABELS_* */
    char example[256];     /* the first audio file left out */
    size_t nother;         /* files in a format earshot does not read (.m4a, ...) */
    char other[256];       /* the first of them */
    size_t nspecial;       /* audio names that are no regular file (a FIFO, a device) */
    char special[256];     /* the first of them */
} scanner;

/* A file that is not audio earshot reads: remember it if its name says it
 * is audio of another format, so that leaving it out is said. */
static void note_other(scanner *sc, const char *path)
{
    if (!es_audio_name_other(path)) return;
    if (!sc->nother++) snprintf(sc->other, sizeof sc->other, "%s", path);
}

/* An entry with an audio name that is neither a regular file nor a
 * folder (a FIFO, a device, a socket): never opened (a FIFO would block
 * the scan's caller until a writer came), but left out with a word: a
 * dataset whose "clips" were FIFOs trained on fewer clips than it holds
 * and said nothing. Returns 1 if it was one (and is counted). */
static int note_special(scanner *sc, const char *path, const char *name, const struct stat *st)
{
    if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || !es_audio_name_stem(name)) return 0;
    if (!sc->nspecial++) snprintf(sc->special, sizeof sc->special, "%s", path);
    return 1;
}

/* 1 if the directory was entered already, 0 if newly recorded, -1 on OOM. */
static int seen_before(scanner *sc, const struct stat *st)
{
    return es_idset_add(&sc->seen, (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
}

/* The non-hidden entry names of a directory, sorted. */
static es_status list_dir(const char *path, strvec *names, es_error *err)
{
    DIR *d = opendir(path);
    if (!d) return es_fail(err, ES_ERR_IO, "%s: cannot read directory: %s", path, strerror(errno));
    struct dirent *de;
    es_status s = ES_OK;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;   /* ".", "..", and hidden entries */
        if (sv_push_owned(names, xstrdup(de->d_name))) { s = es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path); break; }
        errno = 0;
    }
    if (!s && errno) s = es_fail(err, ES_ERR_IO, "%s: cannot read directory: %s", path, strerror(errno));
    closedir(d);
    if (s) { sv_free(names); return s; }
    if (names->n) qsort(names->v, names->n, sizeof(char *), cmp_str);
    return ES_OK;
}

/* stat() that follows links, with an error that says what went wrong. */
static es_status stat_entry(const char *path, struct stat *st, es_error *err)
{
    if (stat(path, st) == 0) return ES_OK;
    int e = errno;
    struct stat lst;
    if (e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
        return es_fail(err, ES_ERR_IO, "%s: broken symbolic link", path);
    return es_fail(err, ES_ERR_IO, "%s: cannot read: %s", path, strerror(e));
}

/* Append the audio files below dir (recursively) to out. */
static es_status collect_audio(scanner *sc, const char *dir, strvec *out)
{
    strvec names = {0};
    es_status s = list_dir(dir, &names, sc->err);
    if (s) return s;
    for (size_t i = 0; i < names.n && !s; i++) {
        char *p = join(dir, names.v[i]);
        if (!p) { s = es_fail(sc->err, ES_ERR_NOMEM, "%s: out of memory", dir); break; }
        struct stat st;
        if ((s = stat_entry(p, &st, sc->err))) { free(p); break; }
        if (S_ISDIR(st.st_mode)) {
            int r = seen_before(sc, &st);
            if (r < 0) s = es_fail(sc->err, ES_ERR_NOMEM, "%s: out of memory", p);
            else if (r == 0) s = collect_audio(sc, p, out);
            free(p);
        } else if (S_ISREG(st.st_mode) && es_audio_name_stem(names.v[i])) {
            if (sv_push_owned(out, p)) s = es_fail(sc->err, ES_ERR_NOMEM, "%s: out of memory", dir);
        } else {
            if (S_ISREG(st.st_mode)) note_other(sc, p);
            else note_special(sc, p, names.v[i], &st);
            free(p);   /* not audio, or not a regular file: not ours */
        }
    }
    sv_free(&names);
    return s;
}

const char *es_dataset_sc_speaker(const char *name, char *buf, size_t size)
{
    if (!buf || !size) return "";
    buf[0] = 0;
    if (!name) return buf;
    const char *b = base_name(name);
    const char *dot = strrchr(b, '.');
    size_t len = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    static const char tag[] = "_nohash_";
    const size_t tl = sizeof tag - 1;
    /* the first "_nohash_" that is followed by digits to the end */
    for (size_t i = 1; i + tl < len; i++) {
        if (memcmp(b + i, tag, tl)) continue;
        size_t k = i + tl;
        while (k < len && b[k] >= '0' && b[k] <= '9') k++;
        if (k != len) continue;
        if (i < size) { memcpy(buf, b, i); buf[i] = 0; }
        return buf;
    }
    return buf;
}

/* The dataset under construction; labels are filled once all are known. */
typedef struct {
    es_item *v;
    size_t n, cap;
} itemvec;

static es_status item_push(itemvec *iv, char *path, int label, const char *speaker, es_error *err)
{
    char *spk = xstrdup(speaker);
    if (!spk || !path) goto nomem;
    if (iv->n == iv->cap) {
        size_t cap = iv->cap ? 2 * iv->cap : 64;
        es_item *v = realloc(iv->v, cap * sizeof *v);
        if (!v) goto nomem;
        iv->v = v;
        iv->cap = cap;
    }
    iv->v[iv->n++] = (es_item){path, label, spk};
    return ES_OK;
nomem:
    free(spk);
    free(path);
    return es_fail(err, ES_ERR_NOMEM, "out of memory");
}

void es_dataset_free(es_dataset *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nlabels; i++) free(d->labels[i]);
    free(d->labels);
    for (size_t i = 0; i < d->nitems; i++) { free(d->items[i].path); free(d->items[i].speaker); }
    free(d->items);
    for (size_t i = 0; i < d->nnoise; i++) free(d->noise[i]);
    free(d->noise);
    free(d);
}

static es_status need_two_labels(const scanner *sc, const char *dir, const strvec *labels, es_error *err)
{
    size_t real = 0;
    for (size_t i = 0; i < labels->n; i++) real += strcmp(labels->v[i], ES_LABEL_UNKNOWN) != 0;
    if (sc->labels_rule == LABELS_ANY && labels->n >= 1) return ES_OK;
    if (real >= 1 && (labels->n >= 2 || sc->labels_rule == LABELS_ONE_WORD)) return ES_OK;
    return es_fail(err, ES_ERR_ARG, "%s: found %s%s%s; a dataset needs at least two labels, or one label plus " ES_LABEL_UNKNOWN,
                   dir, labels->n ? "only the label '" : "no labels", labels->n ? labels->v[0] : "", labels->n ? "'" : "");
}

/* Folder layout: DIR/<label>/..., DIR/_unknown_/..., DIR/_background_noise_/... */
static es_status scan_folders(scanner *sc, const char *dir, strvec *labels, itemvec *items, strvec *noise, size_t *skipped)
{
    es_error *err = sc->err;
    strvec names = {0}, files = {0};
    size_t top_audio = 0;
    unsigned char *kind = NULL;   /* per entry: 0 ignore, 1 noise folder, 2 label folder */
    es_status s = list_dir(dir, &names, err);
    if (s) return s;
    if (!(kind = calloc(names.n + 1, 1))) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    /* First every top-level folder is recorded as seen, so a link inside
     * one label folder to another is skipped (its files belong to the
     * other label) rather than taking that folder's files away. */
    for (size_t i = 0; i < names.n && !s; i++) {
        const char *name = names.v[i];
        char *p = join(dir, name);
        if (!p) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); break; }
        struct stat st;
        if ((s = stat_entry(p, &st, err))) { free(p); break; }
        if (!S_ISDIR(st.st_mode)) {
            if (S_ISREG(st.st_mode) && es_audio_name_stem(name) && !top_audio++) snprintf(sc->example, sizeof sc->example, "%s", name);
            if (S_ISREG(st.st_mode) && !es_audio_name_stem(name)) note_other(sc, p);
            note_special(sc, p, name, &st);
            free(p);
            continue;
        }
        int r = seen_before(sc, &st), noise_dir = !strcmp(name, ES_DIR_NOISE);
        const char *why = noise_dir ? NULL : label_problem(name);
        if (r < 0) s = es_fail(err, ES_ERR_NOMEM, "out of memory");
        else if (why) s = es_fail(err, ES_ERR_ARG, "%s: the label name %s; rename the folder", p, why);
        else if (r == 1 && !noise_dir) s = es_fail(err, ES_ERR_ARG, "%s: the same folder as another label (a symbolic link?)", p);
        else kind[i] = r == 1 ? 0 : noise_dir ? 1 : 2;
        free(p);
    }
    for (size_t i = 0; i < names.n && !s; i++) {
        if (!kind[i]) continue;
        const char *name = names.v[i];
        char *p = join(dir, name);
        if (!p) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); break; }
        if (kind[i] == 1) {
            s = collect_audio(sc, p, noise);
            free(p);
            continue;
        }
        if (!(s = collect_audio(sc, p, &files)) && files.n == 0)
            s = es_fail(err, ES_ERR_ARG, "%s: no audio files (" ES_AUDIO_EXT_TEXT ")", p);
        free(p);
        if (s) break;
        /* names are sorted and _background_noise_ is not a label, so labels
         * arrive in sorted order and the index is the current count */
        int label = (int)labels->n;
        if (sv_push_owned(labels, xstrdup(name))) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); break; }
        for (size_t k = 0; k < files.n && !s; k++) {
            char spk[256];
            s = item_push(items, files.v[k], label, es_dataset_sc_speaker(files.v[k], spk, sizeof spk), err);
            files.v[k] = NULL;   /* owned by the item now (or freed) */
        }
        sv_free(&files);
    }
out:
    free(kind);
    sv_free(&files);
    sv_free(&names);
    if (s) return s;
    if (skipped) *skipped += top_audio;
    if (labels->n == 0) {
        if (top_audio)
            return es_fail(err, ES_ERR_ARG,
                           "%s: no label folders, but %zu audio files at the top; for a flat folder give a file-name "
                           "pattern such as {label}_{speaker}_{take}", dir, top_audio);
        return es_fail(err, ES_ERR_ARG, "%s: no label folders (expected one sub-folder of audio files per label)", dir);
    }
    return need_two_labels(sc, dir, labels, err);
}

/* ------------------------------------------------------------ patterns */

typedef enum { F_LITERAL, F_LABEL, F_SPEAKER, F_OTHER } tok_kind;

typedef struct {
    tok_kind kind;
    const char *s;     /* literal text (not NUL-terminated) */
    size_t len;
} token;

#define MAX_TOKENS 64

typedef struct {
    token t[MAX_TOKENS];
    int n;
    char *text;        /* the pattern, with a trailing audio extension removed */
} pat_t;

static es_status parse_pattern(const char *pat, pat_t *P, es_error *err)
{
    memset(P, 0, sizeof *P);
    if (!*pat) return es_fail(err, ES_ERR_ARG, "empty file-name pattern");
    if (!(P->text = xstrdup(pat))) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    /* "{label}_{speaker}.wav" means the same as without ".wav": extensions
     * are never part of what is matched */
    size_t stem = es_audio_name_stem(P->text);
    if (stem) P->text[stem] = 0;
    int nlabel = 0, nspeaker = 0;
    const char *p = P->text;
    while (*p) {
        if (P->n == MAX_TOKENS) return es_fail(err, ES_ERR_ARG, "pattern '%s': too many parts", pat);
        token *t = &P->t[P->n];
        if (*p == '{') {
            const char *e = strchr(p, '}');
            if (!e) return es_fail(err, ES_ERR_ARG, "pattern '%s': '{' without a closing '}'", pat);
            size_t len = (size_t)(e - p - 1);
            if (!len) return es_fail(err, ES_ERR_ARG, "pattern '%s': empty field name {}", pat);
            if (memchr(p + 1, '{', len)) return es_fail(err, ES_ERR_ARG, "pattern '%s': '{' inside a field", pat);
            if (P->n && P->t[P->n - 1].kind != F_LITERAL)
                return es_fail(err, ES_ERR_ARG,
                               "pattern '%s': two fields need literal text between them to tell where one ends", pat);
            t->kind = len == 5 && !memcmp(p + 1, "label", 5) ? F_LABEL
                      : len == 7 && !memcmp(p + 1, "speaker", 7) ? F_SPEAKER : F_OTHER;
            nlabel += t->kind == F_LABEL;
            nspeaker += t->kind == F_SPEAKER;
            p = e + 1;
        } else if (*p == '}') {
            return es_fail(err, ES_ERR_ARG, "pattern '%s': '}' without an opening '{'", pat);
        } else {
            const char *e = p;
            while (*e && *e != '{' && *e != '}') e++;
            t->kind = F_LITERAL;
            t->s = p;
            t->len = (size_t)(e - p);
            p = e;
        }
        P->n++;
    }
    if (nlabel != 1)
        return es_fail(err, ES_ERR_ARG, "pattern '%s': %s", pat,
                       nlabel ? "{label} may appear only once" : "needs a {label} field (e.g. {label}_{speaker}_{take})");
    if (nspeaker > 1) return es_fail(err, ES_ERR_ARG, "pattern '%s': {speaker} may appear only once", pat);
    if (strchr(P->text, '/')) return es_fail(err, ES_ERR_ARG, "pattern '%s': matches file names, so it cannot contain '/'", pat);
    return ES_OK;
}

/* Match s[0..n) against tokens from k on; a field takes the shortest
 * non-empty run that lets the rest match (the last field takes the rest).
 * On success span[0] / span[1] hold the offsets (from base) and lengths
 * of {label} and {speaker}. Names are short and patterns have few fields,
 * so the backtracking is cheap. */
static int match(const pat_t *P, int k, const char *base, size_t at, size_t n, size_t span[2][2])
{
    if (k == P->n) return at == n;
    const token *t = &P->t[k];
    if (t->kind == F_LITERAL)
        return n - at >= t->len && !memcmp(base + at, t->s, t->len) && match(P, k + 1, base, at + t->len, n, span);
    for (size_t len = k + 1 == P->n ? n - at : 1; len >= 1 && at + len <= n; len++) {
        if (match(P, k + 1, base, at + len, n, span)) {
            if (t->kind != F_OTHER) {
                span[t->kind == F_SPEAKER][0] = at;
                span[t->kind == F_SPEAKER][1] = len;
            }
            return 1;
        }
    }
    return 0;
}

static es_status scan_pattern(scanner *sc, const char *dir, const char *pat, strvec *labels, itemvec *items,
                              strvec *noise, size_t *skipped)
{
    es_error *err = sc->err;
    pat_t P;
    es_status s = parse_pattern(pat, &P, err);
    if (s) { free(P.text); return s; }
    int has_speaker = 0;
    for (int k = 0; k < P.n; k++) has_speaker |= P.t[k].kind == F_SPEAKER;

    strvec names = {0}, item_labels = {0};
    size_t nskip = 0, naudio = 0, nsub = 0;
    char *example = sc->example;
    if ((s = list_dir(dir, &names, err))) goto out;
    for (size_t i = 0; i < names.n && !s; i++) {
        const char *name = names.v[i];
        char *p = join(dir, name);
        if (!p) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); break; }
        struct stat st;
        if ((s = stat_entry(p, &st, err))) { free(p); break; }
        if (S_ISDIR(st.st_mode)) {
            /* a flat folder; only the noise folder below it means anything */
            int r = strcmp(name, ES_DIR_NOISE) ? 1 : seen_before(sc, &st);
            nsub += r == 1;
            if (r < 0) s = es_fail(err, ES_ERR_NOMEM, "out of memory");
            else if (r == 0) s = collect_audio(sc, p, noise);
            free(p);
            continue;
        }
        size_t stem = S_ISREG(st.st_mode) ? es_audio_name_stem(name) : 0;
        if (!stem) {
            if (S_ISREG(st.st_mode)) note_other(sc, p);
            else note_special(sc, p, name, &st);
            free(p);
            continue;
        }
        naudio++;
        size_t span[2][2] = {{0, 0}, {0, 0}};
        if (!match(&P, 0, name, 0, stem, span)) {
            if (!nskip) snprintf(example, sizeof sc->example, "%s", name);
            nskip++;
            free(p);
            continue;
        }
        char *label = xstrndup(name + span[0][0], span[0][1]);
        char *spk = has_speaker ? xstrndup(name + span[1][0], span[1][1]) : xstrdup("");
        if (!label || !spk) {
            free(label); free(spk); free(p);
            s = es_fail(err, ES_ERR_NOMEM, "out of memory");
            break;
        }
        const char *why = label_problem(label);
        if (!why && !strcmp(label, ES_DIR_NOISE)) why = "is reserved for the noise folder";
        if (why) {
            s = es_fail(err, ES_ERR_ARG, "%s: the label '%s' read from the name %s", p, label, why);
            free(label); free(spk); free(p);
            break;
        }
        /* the label index is not known until every label is; keep the name */
        s = item_push(items, p, -1, spk, err);
        free(spk);
        if (!s && sv_push_owned(&item_labels, label)) s = es_fail(err, ES_ERR_NOMEM, "out of memory");
        else if (s) free(label);
    }
    if (s) goto out;
    if (skipped) *skipped += nskip;
    if (items->n == 0) {
        if (!naudio && nsub)
            s = es_fail(err, ES_ERR_ARG, "%s: no audio files at the top, but %zu sub-folders: a folder per label is "
                        "read without a file-name pattern; drop --pattern", dir, nsub);
        else if (!naudio) s = es_fail(err, ES_ERR_ARG, "%s: no audio files (" ES_AUDIO_EXT_TEXT ")", dir);
        else
            s = es_fail(err, ES_ERR_ARG, "%s: no file name matches the pattern '%s' (%zu audio files skipped, e.g. '%s')",
                        dir, pat, nskip, example);
        goto out;
    }
    /* the distinct labels, sorted; then each item's index by binary search */
    char **sorted = malloc(item_labels.n * sizeof *sorted);
    if (!sorted) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    memcpy(sorted, item_labels.v, item_labels.n * sizeof *sorted);
    qsort(sorted, item_labels.n, sizeof *sorted, cmp_str);
    for (size_t i = 0; i < item_labels.n && !s; i++)
        if ((i == 0 || strcmp(sorted[i], sorted[i - 1])) && sv_push_owned(labels, xstrdup(sorted[i])))
            s = es_fail(err, ES_ERR_NOMEM, "out of memory");
    free(sorted);
    for (size_t i = 0; i < items->n && !s; i++) {
        char **hit = bsearch(&item_labels.v[i], labels->v, labels->n, sizeof(char *), cmp_str);
        items->v[i].label = (int)(hit - labels->v);
    }
    if (!s) s = need_two_labels(sc, dir, labels, err);
out:
    sv_free(&item_labels);
    sv_free(&names);
    free(P.text);
    return s;
}

static es_status scan(const char *dir, const char *pattern, int labels_rule, es_dataset **out, size_t *skipped,
                      es_error *err);

long es_synth_moving_pid(const char *name)
{
    size_t pl = strlen(ES_SYNTH_MOVING_PREFIX), sl = strlen(ES_SYNTH_MOVING_SUFFIX), n = strlen(name);
    if (n <= pl + sl || strncmp(name, ES_SYNTH_MOVING_PREFIX, pl) || strcmp(name + n - sl, ES_SYNTH_MOVING_SUFFIX))
        return 0;
    long pid = 0;
    for (size_t i = pl; i < n - sl; i++) {
        if (name[i] < '0' || name[i] > '9' || pid > 100000000L) return 0;
        pid = pid * 10 + (name[i] - '0');
    }
    return pid;
}

es_status es_dataset_scan(const char *dir, const char *pattern, es_dataset **out, size_t *skipped, es_error *err)
{
    return scan(dir, pattern, LABELS_TWO, out, skipped, err);
}

es_status es_dataset_scan_takes(const char *dir, const char *pattern, es_dataset **out, size_t *skipped, es_error *err)
{
    return scan(dir, pattern, LABELS_ONE_WORD, out, skipped, err);
}

es_status es_dataset_scan_test(const char *dir, const char *pattern, es_dataset **out, size_t *skipped, es_error *err)
{
    return scan(dir, pattern, LABELS_ANY, out, skipped, err);
}

static es_status scan(const char *dir, const char *pattern, int labels_rule, es_dataset **out, size_t *skipped,
                      es_error *err)
{
    if (out) *out = NULL;
    if (skipped) *skipped = 0;
    if (!dir || !out) return es_fail(err, ES_ERR_ARG, "es_dataset_scan: invalid arguments");
    if (!*dir) return es_fail(err, ES_ERR_ARG, "empty dataset path");
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT) return es_fail(err, ES_ERR_IO, "%s: no such directory", dir);
        return es_fail(err, ES_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) return es_fail(err, ES_ERR_ARG, "%s: not a directory (a dataset is a folder)", dir);

    /* `earshot synth -o DIR` moves its label folders into DIR one rename
     * each, under an exclusive flock on DIR (synth_data.c): a train started
     * meanwhile read the labels moved so far and trained on part of the
     * set. A shared lock waits for the moves (a few milliseconds) and lets
     * any number of scans run together. No lock (a folder that cannot be
     * opened for reading, a file system without flock): the scan goes on. */
    int lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock >= 0) while (flock(lock, LOCK_SH) != 0 && errno == EINTR) {}
    scanner sc = {{0}, err, labels_rule, "", 0, "", 0, ""};
    strvec labels = {0}, noise = {0};
    itemvec items = {0};
    es_status s = seen_before(&sc, &st) < 0 ? es_fail(err, ES_ERR_NOMEM, "out of memory") : ES_OK;
    /* a synth killed during its moves (SIGKILL, a crash: no handler) left
     * some of its labels here and not the others, which would train
     * without a word on part of the set; seen under the lock, so a marker
     * is never that of a synth moving now (but for a file system without
     * flock, where refusing is right too) */
    DIR *md = s ? NULL : opendir(dir);
    for (struct dirent *de; md && !s && (de = readdir(md));)
        if (es_synth_moving_pid(de->d_name) > 0)
            s = es_fail(err, ES_ERR_IO, "%s: holds part of a synthesised dataset: the earshot synth that wrote it was "
                        "killed while it moved its label folders in (%s names them); run that synth -o again, which "
                        "removes them and writes the whole set", dir, de->d_name);
    if (md) closedir(md);
    size_t nign = 0;
    if (!s) s = pattern ? scan_pattern(&sc, dir, pattern, &labels, &items, &noise, &nign)
                        : scan_folders(&sc, dir, &labels, &items, &noise, &nign);
    if (lock >= 0) close(lock);
    es_idset_free(&sc.seen);
    es_audio_warn_other(dir, sc.nother, sc.other);   /* even when the scan failed: "no audio files" may be why */
    es_audio_warn_special(dir, sc.nspecial, sc.special);
    es_dataset *d = NULL;
    if (!s && !(d = calloc(1, sizeof *d))) s = es_fail(err, ES_ERR_NOMEM, "out of memory");
    if (s) {
        for (size_t i = 0; i < items.n; i++) { free(items.v[i].path); free(items.v[i].speaker); }
        free(items.v);
        sv_free(&labels);
        sv_free(&noise);
        if (skipped) *skipped = 0;
        return s;
    }
    qsort(items.v, items.n, sizeof *items.v, cmp_item);
    if (noise.n) qsort(noise.v, noise.n, sizeof(char *), cmp_str);
    d->labels = labels.v; d->nlabels = labels.n;
    d->items = items.v;   d->nitems = items.n;
    d->noise = noise.v;   d->nnoise = noise.n;
    d->nignored = nign;
    if (nign) snprintf(d->ignored_example, sizeof d->ignored_example, "%s", sc.example);
    if (skipped) *skipped = nign;
    *out = d;
    return ES_OK;
}

/* ------------------------------------------------------------ splits */

/* splitmix64 (Steele et al.): tiny, seedable, defined on integers only. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rng_next(uint64_t *state) { return mix64(*state += 0x9e3779b97f4a7c15ULL); }

/* Uniform in [0, n) without modulo bias (rejection), so the shuffle is
 * the same on every machine. */
static size_t rng_below(uint64_t *state, size_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, r;
    do r = rng_next(state); while (r >= lim);
    return (size_t)(r % n);
}

/* The file-name hash: 64-bit FNV-1a over the seed (8 bytes, little endian)
 * and the base name without its extension, then splitmix64's finaliser
 * (FNV's low bits mix poorly). Mapped to [0, 1). */
static double name_hash(const char *path, uint64_t seed)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < 8; i++) { h ^= (seed >> (8 * i)) & 0xff; h *= 0x100000001b3ULL; }
    const char *b = base_name(path);
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)b[i]; h *= 0x100000001b3ULL; }
    return (double)(mix64(h) >> 11) * (1.0 / 9007199254740992.0);
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

es_status es_dataset_split(const es_dataset *d, double val_fraction, uint64_t seed, unsigned char *val, char *desc,
                           size_t desc_len, es_error *err)
{
    if (desc && desc_len) desc[0] = 0;
    if (!d || !val) return es_fail(err, ES_ERR_ARG, "es_dataset_split: invalid arguments");
    if (!(val_fraction > 0.0 && val_fraction < 1.0))
        return es_fail(err, ES_ERR_ARG, "validation fraction must be between 0 and 1 (exclusive), not %g", val_fraction);
    size_t n = d->nitems, nspk = 0;
    int known = n > 0;
    for (size_t i = 0; i < n && known; i++) known = d->items[i].speaker && d->items[i].speaker[0];

    const char **spk = NULL;
    if (known) {
        /* the distinct speakers, sorted */
        spk = malloc(n * sizeof *spk);
        if (!spk) return es_fail(err, ES_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) spk[i] = d->items[i].speaker;
        qsort(spk, n, sizeof *spk, cmp_cstr);
        for (size_t i = 0; i < n; i++)
            if (i == 0 || strcmp(spk[i], spk[nspk - 1])) spk[nspk++] = spk[i];
    }
    if (nspk >= 2) {
        size_t *count = calloc(nspk, sizeof *count), *order = malloc(nspk * sizeof *order);
        unsigned char *held = calloc(nspk, 1);
        int *of = malloc(n * sizeof *of);
        if (!count || !order || !held || !of) {
            free(count); free(order); free(held); free(of); free(spk);
            return es_fail(err, ES_ERR_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            const char **hit = bsearch(&d->items[i].speaker, spk, nspk, sizeof *spk, cmp_cstr);
            of[i] = (int)(hit - spk);
            count[of[i]]++;
        }
        /* Fisher-Yates over the sorted list, then take speakers in that
         * order until enough items are held out, always leaving one */
        uint64_t state = seed;
        for (size_t i = 0; i < nspk; i++) order[i] = i;
        for (size_t i = nspk - 1; i > 0; i--) {
            size_t j = rng_below(&state, i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        size_t taken = 0, nheld = 0;
        double want = val_fraction * (double)n;
        for (size_t k = 0; k + 1 < nspk && (double)taken < want; k++) {
            held[order[k]] = 1;
            taken += count[order[k]];
            nheld++;
        }
        for (size_t i = 0; i < n; i++) val[i] = held[of[i]];
        if (desc && desc_len) {
            /* held-out speakers in sorted order; a list too long for desc
             * ends in "(+N more)", with room for that kept in reserve */
            size_t reserve = (size_t)snprintf(NULL, 0, " (+%zu more) (%zu of %zu clips)", nheld, taken, n);
            size_t pos = (size_t)snprintf(desc, desc_len, "by speaker: validation = "), listed = 0;
            for (size_t k = 0; k < nspk && pos < desc_len; k++) {
                if (!held[k]) continue;
                size_t need = strlen(spk[k]) + (listed ? 2 : 0);
                if (pos + need + reserve >= desc_len) break;
                pos += (size_t)snprintf(desc + pos, desc_len - pos, "%s%s", listed ? ", " : "", spk[k]);
                listed++;
            }
            if (pos < desc_len && listed < nheld)
                pos += (size_t)snprintf(desc + pos, desc_len - pos, " (+%zu more)", nheld - listed);
            if (pos < desc_len) snprintf(desc + pos, desc_len - pos, " (%zu of %zu clips)", taken, n);
        }
        free(count); free(order); free(held); free(of); free(spk);
        return ES_OK;
    }
    free(spk);
    size_t nval = 0;
    for (size_t i = 0; i < n; i++) nval += val[i] = name_hash(d->items[i].path, seed) < val_fraction;
    /* A label whose every clip drew "validation" (one clip of it, or two
     * at an unlucky seed) could not be learnt at all: its clip that drew
     * the highest hash trains instead. */
    for (size_t l = 0; l < d->nlabels; l++) {
        size_t ntrain = 0, best = n;
        double hb = -1;
        for (size_t i = 0; i < n; i++) {
            if (d->items[i].label != (int)l) continue;
            if (!val[i]) { ntrain++; break; }
            double h = name_hash(d->items[i].path, seed);
            if (h > hb) { hb = h; best = i; }
        }
        if (!ntrain && best < n) { val[best] = 0; nval--; }
    }
    if (desc && desc_len)
        snprintf(desc, desc_len, "by file-name hash: %zu of %zu clips%s", nval, n,
                 nspk == 1 ? " (one speaker only, so none can be held out)" : "");
    return ES_OK;
}

es_status es_dataset_remap(es_dataset *valset, const es_dataset *train, es_error *err)
{
    if (!valset || !train) return es_fail(err, ES_ERR_ARG, "es_dataset_remap: invalid arguments");
    int *map = malloc((valset->nlabels + 1) * sizeof *map);
    char **labels = calloc(train->nlabels + 1, sizeof *labels);
    es_status s = ES_OK;
    if (!map || !labels) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < valset->nlabels; i++) {
        char **hit = bsearch(&valset->labels[i], train->labels, train->nlabels, sizeof(char *), cmp_str);
        if (!hit) {
            s = es_fail(err, ES_ERR_ARG, "the validation set has the label '%s', which the training set lacks",
                        valset->labels[i]);
            goto out;
        }
        map[i] = (int)(hit - train->labels);
    }
    for (size_t i = 0; i < train->nlabels; i++)
        if (!(labels[i] = xstrdup(train->labels[i]))) { s = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    /* everything allocated: now change valset, which cannot fail */
    for (size_t i = 0; i < valset->nitems; i++) valset->items[i].label = map[valset->items[i].label];
    for (size_t i = 0; i < valset->nlabels; i++) free(valset->labels[i]);
    free(valset->labels);
    valset->labels = labels;
    valset->nlabels = train->nlabels;
    labels = NULL;
out:
    if (labels)
        for (size_t i = 0; i < train->nlabels; i++) free(labels[i]);
    free(labels);
    free(map);
    return s;
}

/* ------------------------------------------------------------ audio folders */

es_status es_dataset_scan_audio(const char *dir, char ***files, size_t *n, es_error *err)
{
    if (files) *files = NULL;
    if (n) *n = 0;
    if (!dir || !files || !n) return es_fail(err, ES_ERR_ARG, "es_dataset_scan_audio: invalid arguments");
    struct stat st;
    if (stat(dir, &st) != 0) return es_fail(err, ES_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return es_fail(err, ES_ERR_ARG, "%s: not a directory", dir);
    scanner sc = {{0}, err, 0, "", 0, "", 0, ""};
    strvec out = {0};
    es_status s = seen_before(&sc, &st) < 0 ? es_fail(err, ES_ERR_NOMEM, "out of memory") : ES_OK;
    if (!s) s = collect_audio(&sc, dir, &out);
    es_idset_free(&sc.seen);
    es_audio_warn_other(dir, sc.nother, sc.other);   /* even when the scan failed: "no audio files" may be why */
    es_audio_warn_special(dir, sc.nspecial, sc.special);
    if (!s && out.n == 0) s = es_fail(err, ES_ERR_ARG, "%s: no audio files (" ES_AUDIO_EXT_TEXT ")", dir);
    if (s) { sv_free(&out); return s; }
    qsort(out.v, out.n, sizeof(char *), cmp_str);
    *files = out.v;
    *n = out.n;
    return ES_OK;
}
