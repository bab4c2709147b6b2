/*
 * pipeline/train_words.c — `earshot train --words`: synthesise a
 * vocabulary into a cache folder (once per set of options), mix in real
 * recordings when there are some, and train with es_train_head as for any
 * dataset folder.
 *
 * Cache: <root>/<16 hex of a hash of the options>/, made in a temporary
 * folder and renamed, with synthesis.json (how the data were made) inside,
 * so a folder that exists is complete. Synthesis is deterministic, so a
 * repeat also hits the embedding cache for every take.
 *
 * Mixing: a folder <root>/mix-<hash>/ holds, per label, a link to the
 * synthetic takes and links to the real clips (each real clip repeated so
 * the few real takes are not drowned by hundreds of synthetic ones). Real
 * speech is what the model will hear, so when every word has at least two
 * real clips, a share of them (val_fraction, at least one per word) is
 * held out and is the whole validation set; with fewer, the usual
 * file-name hash split of the mixed folder validates (every real clip
 * then trains through at least some of its copies, and some copies may
 * validate).
 */
#include "es_internal.h"
#include "dataset.h"
#include "synth_data.h"
#include "cache.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 0x100000001b3ULL; }
    h ^= 0xff;   /* field separator */
    h *= 0x100000001b3ULL;
    return h;
}

es_status es_synth_cache_dir(const char *given, char *buf, size_t size, es_error *err)
{
    const char *env = getenv("EARSHOT_SYNTH_CACHE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (given && *given) n = snprintf(buf, size, "%s", given);
    else if (env && *env) n = snprintf(buf, size, "%s", env);
    else if (xdg && *xdg) n = snprintf(buf, size, "%s/earshot/synth", xdg);
    else if (home && *home) n = snprintf(buf, size, "%s/.cache/earshot/synth", home);
    else return es_fail(err, ES_ERR_ARG, "no synthesis cache folder: set HOME, XDG_CACHE_HOME or EARSHOT_SYNTH_CACHE");
    if (n < 0 || (size_t)n >= size) return es_fail(err, ES_ERR_ARG, "synthesis cache path too long");
    return ES_OK;
}

static es_status mkdirs(const char *path, es_error *err)
{
    char b[4096];
    if (snprintf(b, sizeof b, "%s", path) >= (int)sizeof b) return es_fail(err, ES_ERR_ARG, "%s: path too long", path);
    for (char *p = b + 1;; p++)
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(b, 0777) && errno != EEXIST) return es_fail(err, ES_ERR_IO, "%s: cannot create: %s", b, strerror(errno));
            *p = c;
            if (!c) return ES_OK;
        }
}

static int exists(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0;
}

static es_status link_to(const char *target, const char *link, es_error *err)
{
    if (symlink(target, link) && errno != EEXIST) return es_fail(err, ES_ERR_IO, "%s: cannot create link: %s", link, strerror(errno));
    return ES_OK;
}

/* Is name "<16 hex>.tmp<tag>" or "mix-<16 hex>.tmp<tag>" (<tag>: the
 * process, es_proc_tag), the temporary folders this file makes? Its
 * es_tag_state: ES_TAG_NONE for any other name. */
static int tmp_name(const char *name)
{
    if (!strncmp(name, "mix-", 4)) name += 4;
    for (int i = 0; i < 16; i++) if (!isxdigit((unsigned char)name[i]) || isupper((unsigned char)name[i])) return ES_TAG_NONE;
    if (strncmp(name + 16, ".tmp", 4)) return ES_TAG_NONE;
    return es_tag_state(name + 20);
}

/* Remove a set (or a mix) whole or not at all: renamed first to a
 * temporary folder's name, <name>.tmp<tag>, then its files go. Removed in
 * place, a SIGKILL or Ctrl-C in the middle of `cache --clear` left the
 * folder under its name with part of its files: with its synthesis.json
 * still there, the next train --words trained on what was left without a
 * word; without it, every train --words failed to rename its new set into
 * place (Directory not empty), and the sweep called the folder not
 * earshot's, so no --clear removed it. Renamed, what a kill leaves is a
 * temporary folder of a process that is gone, which the next train
 * --words or --tidy removes. */
static void remove_set(const char *path, unsigned long long bytes, es_cache_tally *t)
{
    char tmp[4300], tag[ES_PROC_TAG_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%s", path, es_proc_tag(tag)) >= (int)sizeof tmp) {
        es_cache_remove_into(path, bytes, 0, t);   /* no room for the name: in place, as before */
        return;
    }
    if (rename(path, tmp) != 0) {
        if (errno != ENOENT && !t->failed++)   /* gone already: another sweep */
            snprintf(t->first_failure, sizeof t->first_failure, "%.400s: cannot remove: %s", path, strerror(errno));
        return;
    }
    es_cache_remove_into(tmp, bytes, 0, t);
}

void es_synth_cache_sweep(const char *root, es_cache_sweep_mode mode, es_cache_tally *t)
{
    DIR *d = opendir(root);
    if (!d) return;
    char p[4200], meta[4300];
    struct stat sb;
    for (const char *n; (n = es_sweep_next(d, root, p, sizeof p, &sb, t));) {
        if (!S_ISDIR(sb.st_mode)) {
            t->other++;
            continue;
        }
        const char *h = strncmp(n, "mix-", 4) ? n : n + 4;
        int state = tmp_name(n);
        if (state != ES_TAG_NONE) {
            if (state == ES_TAG_LIVE) { t->busy++; continue; }
            unsigned long long b = es_tree_bytes(p);
            t->stale++;
            t->stale_bytes += b;
            if (mode != ES_CACHE_COUNT) es_cache_remove_into(p, b, 1, t);
            continue;
        }
        /* a set: 16 hex digits (a hash of its recipe) and its description;
         * a mix of a set and recordings: mix-<16 hex> and its train/ */
        int set = strlen(h) == 16 &&
                  snprintf(meta, sizeof meta, "%s/%s", p, h == n ? "synthesis.json" : "train") < (int)sizeof meta &&
                  exists(meta);
        for (int i = 0; set && i < 16; i++) set = isxdigit((unsigned char)h[i]) && !isupper((unsigned char)h[i]);
        if (!set) { t->other++; continue; }
        unsigned long long b = t->skip_sizes ? 0 : es_tree_bytes(p);
        t->entries++;
        t->bytes += b;
        if (mode == ES_CACHE_CLEAR) remove_set(p, b, t);
    }
    closedir(d);
}

/* A run that was killed leaves its temporary folder behind (the rename
 * that publishes it never happened). Remove those of processes that no
 * longer exist; a live process's folder is its work in progress. Best
 * effort: the cache works with them there, so failures are ignored.
 * Returns how many were removed. */
static size_t clean_stale(const char *root)
{
    es_cache_tally t;
    memset(&t, 0, sizeof t);
    t.skip_sizes = 1;   /* run before every synthesis: only the stale folders matter */
    es_synth_cache_sweep(root, ES_CACHE_TIDY, &t);
    return t.stale_removed;
}

/* The counts es_synth_dataset reports, read back from a cached folder:
 * every file of every label folder, the word labels, and _unknown_'s. */
static void count_cached(const char *dir, es_synth_result *sr)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char p[4400];
        if (de->d_name[0] == '.' || snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= (int)sizeof p) continue;
        DIR *l = opendir(p);
        if (!l) continue;   /* synthesis.json */
        size_t n = 0;
        struct dirent *f;
        while ((f = readdir(l))) n += f->d_name[0] != '.';
        closedir(l);
        sr->n_files += n;
        if (!strcmp(de->d_name, ES_LABEL_UNKNOWN)) sr->n_unknown = n;
        else sr->n_labels++;
    }
    closedir(d);
}

/* Synthesise into the cache (or find it there). dir receives the folder. */
static es_status synth_cached(const es_synth_opts *o, const char *root, char *dir, size_t size, es_synth_result *sr,
                              es_progress_fn progress, void *user, es_error *err)
{
    char canon[2048];
    /* the key's fractions as the C locale writes them, whatever the
     * program's (es_c_locale_push): "0,500000" would name another folder */
    locale_t was = es_c_locale_push();
    snprintf(canon, sizeof canon, "v%d|%d|%d|%u|%u|%.6f|%.3f|%llu", ES_SYNTH_VERSION, o->takes, o->unknown_takes, o->engines, o->augment,
             o->aug_prob, o->pad_to, (unsigned long long)o->seed);
    /* options added later join the key only when set, so the folders of
     * earlier runs with the defaults stay valid */
    if (o->formant_lo != 1.0 || o->formant_hi != 1.0) {
        size_t len = strlen(canon);
        snprintf(canon + len, sizeof canon - len, "|f%.4f:%.4f", o->formant_lo, o->formant_hi);
    }
    es_c_locale_pop(was);
    if (!es_synth_lang_is_english(o->lang)) {
        size_t len = strlen(canon);
        snprintf(canon + len, sizeof canon - len, "|l%.40s", o->lang);
    }
    uint64_t h = fnv(fnv(0xcbf29ce484222325ULL, canon), o->words);
    /* "2": the user's words share the common-word takes with the built-in
     * list (at first they replaced it) */
    if (o->unknown_words) h = fnv(fnv(h, "|unknown_words2|"), o->unknown_words);
    if (snprintf(dir, size, "%s/%016llx", root, (unsigned long long)h) >= (int)size)
        return es_fail(err, ES_ERR_ARG, "synthesis cache path too long");
    char meta[4200];
    snprintf(meta, sizeof meta, "%s/synthesis.json", dir);
    if (exists(meta)) {
        unsigned char *b = NULL;
        size_t n = 0;
        es_status st = es_read_file(meta, &b, &n, err);
        if (st) return st;
        snprintf(sr->description, sizeof sr->description, "%.*s", (int)n, (const char *)b);
        free(b);
        sr->from_cache = 1;
        count_cached(dir, sr);
        return ES_OK;
    }
    es_status st = mkdirs(root, err);
    if (st) return st;
    char tmp[4200], tag[ES_PROC_TAG_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp%s", dir, es_proc_tag(tag));
    if (exists(tmp))
        return es_fail(err, ES_ERR_IO, "%s: left over from an earlier run with this process id; remove it", tmp);
    if ((st = es_synth_dataset(o, tmp, sr, progress, user, err))) return st;
    char tmeta[4300];
    snprintf(tmeta, sizeof tmeta, "%s/synthesis.json", tmp);
    if ((st = es_write_atomic(tmeta, sr->description, strlen(sr->description), err))) {
        es_rm_tree(tmp);
        return st;
    }
    if (rename(tmp, dir)) {
        int e = errno;
        /* Another run finished the same folder first (two trains at once
         * on one cache): use that one. Our copy goes now; it was left
         * here, a whole synthesised set, until a later run found its
         * process gone. */
        es_rm_tree(tmp);
        if ((e == EEXIST || e == ENOTEMPTY) && exists(meta)) return ES_OK;
        return es_fail(err, ES_ERR_IO, "%s: cannot rename to %s: %s", tmp, dir, strerror(e));
    }
    return ES_OK;
}

es_status es_synth_cached(const es_synth_opts *o, const char *synth_cache, es_synth_result *sr, es_progress_fn progress,
                          void *user, es_error *err)
{
    /* sr carries the answer (the folder): required, refused like any NULL argument */
    if (!o || !sr) return es_fail(err, ES_ERR_ARG, "es_synth_cached: invalid arguments");
    memset(sr, 0, sizeof *sr);
    char root[3000], dir[3100];
    es_status st = es_synth_cache_dir(synth_cache, root, sizeof root, err);
    if (st) return st;
    size_t stale = clean_stale(root);
    if ((st = synth_cached(o, root, dir, sizeof dir, sr, progress, user, err))) return st;
    snprintf(sr->dir, sizeof sr->dir, "%s", dir);
    sr->stale_removed = stale;   /* set after synthesis, which clears *sr */
    return ES_OK;
}

es_status es_train_words(es_engine *e, const es_synth_opts *o, const char *synth_cache, const char *real_dir,
                         const char *real_pattern, const es_train_opts *t, const char *out_path, es_train_result *tr,
                         es_synth_result *sr, es_progress_fn progress, void *user, es_error *err)
{
    es_synth_result dummy;
    if (!sr) sr = &dummy;
    memset(sr, 0, sizeof *sr);
    if (!e || !o || !t || !out_path || !tr) return es_fail(err, ES_ERR_ARG, "es_train_words: invalid arguments");
    es_vocab v;
    es_status st = es_vocab_parse(o->words, &v, err);
    if (st) return st;
    const char *dir = sr->dir;
    char root[3000];   /* the mix folder goes beside the takes */
    es_dataset *real = NULL;
    cJSON *note = NULL;
    char *note_s = NULL;
    if (!(o->real_weight >= 0 && o->real_weight <= 100)) {
        st = es_fail(err, ES_ERR_ARG, "real_weight must be from 0 to 100, not %g", o->real_weight);
        goto out;
    }
    if ((st = es_synth_cache_dir(synth_cache, root, sizeof root, err))) goto out;
    /* read the real clips first: a bad --data should fail before minutes of synthesis */
    if (real_dir) {
        if ((st = es_dataset_scan(real_dir, real_pattern, &real, NULL, err))) goto out;
        for (size_t l = 0; l < real->nlabels; l++) {
            int found = !strcmp(real->labels[l], ES_LABEL_UNKNOWN);
            for (size_t i = 0; i < v.n && !found; i++) found = !strcmp(v.e[i].label, real->labels[l]);
            if (!found) {
                st = es_fail(err, ES_ERR_ARG, "%s: label '%s' is not one of --words", real_dir, real->labels[l]);
                goto out;
            }
        }
    }
    if ((st = es_synth_cached(o, synth_cache, sr, progress, user, err))) goto out;
    es_train_opts to = *t;
    to.data_dir = dir;
    to.pattern = NULL;
    to.val_dir = NULL;
    note = cJSON_Parse(sr->description);
    if (!note) note = cJSON_CreateObject();
    cJSON_AddStringToObject(note, "data", real ? "synthetic speech mixed with real recordings" : "synthetic speech only");
    char mix[3300], mixval[3400];
    if (real) {
        /* which real clips validate: whole speakers when the names tell
         * two or more (es_dataset_split, as `train` splits a dataset: the
         * validation score then says how unseen voices fare), else by
         * file-name hash, at least one per label */
        size_t nl = real->nlabels, *cnt = calloc(nl + 1, sizeof *cnt);
        unsigned char *isval = calloc(real->nitems + 1, 1);
        /* every real clip and noise file by its absolute path, resolved
         * once: the mix folder links to these, so they key it, with the
         * paths as given (which choose the validation clips below);
         * keyed by the given paths alone, a second copy of the same folder
         * elsewhere (another checkout) would reuse links into the first,
         * broken once it is gone */
        size_t nabs = real->nitems + real->nnoise;
        char **abs = calloc(nabs + 1, sizeof *abs);
        if (!cnt || !isval || !abs) { free(cnt); free(isval); free(abs); st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
        for (size_t i = 0; !st && i < nabs; i++) {
            const char *given = i < real->nitems ? real->items[i].path : real->noise[i - real->nitems];
            if (!(abs[i] = realpath(given, NULL))) st = es_fail(err, ES_ERR_IO, "%s: %s", given, strerror(errno));
        }
        if (st) {
            for (size_t i = 0; i < nabs; i++) free(abs[i]);
            free(cnt); free(isval); free(abs);
            goto out;
        }
        for (size_t i = 0; i < real->nitems; i++) cnt[real->items[i].label]++;
        int enough = t->val_fraction > 0;
        for (size_t l = 0; l < nl; l++) enough &= cnt[l] >= 2;
        uint64_t mh = fnv(0xcbf29ce484222325ULL, dir);
        for (size_t i = 0; i < real->nitems; i++) mh = fnv(fnv(mh, real->items[i].path), abs[i]);
        int by_speaker = 0;
        if (enough) {
            /* es_dataset_split holds out whole speakers when every clip
             * names one and there are two or more (its description then
             * starts "by speaker:"), else it splits by hash over all clips,
             * which is replaced below by the per-word hash split */
            char desc[256];
            if ((st = es_dataset_split(real, t->val_fraction, t->seed, isval, desc, sizeof desc, err))) {
                for (size_t i = 0; i < nabs; i++) free(abs[i]);
                free(cnt); free(isval); free(abs);
                goto out;
            }
            by_speaker = !strncmp(desc, "by speaker:", 11);
            /* every word keeps a recording to train on, or the hash split below */
            size_t *left = calloc(nl + 1, sizeof *left);
            if (!left) by_speaker = 0;
            for (size_t i = 0; by_speaker && i < real->nitems; i++) left[real->items[i].label] += !isval[i];
            for (size_t l = 0; by_speaker && l < nl; l++) by_speaker = left[l] > 0;
            free(left);
            if (by_speaker) snprintf(sr->real_split, sizeof sr->real_split, "%s", desc);
            else memset(isval, 0, real->nitems);
        }
        if (enough && !by_speaker) {
            for (size_t l = 0; l < nl; l++) {
                /* the first ceil(f * count) clips of the label in hash order */
                size_t want = (size_t)(t->val_fraction * (double)cnt[l] + 0.999), taken = 0;
                if (!want) want = 1;
                if (want >= cnt[l]) want = cnt[l] - 1;
                while (taken < want) {
                    size_t best = (size_t)-1;
                    uint64_t bh = UINT64_MAX;
                    for (size_t i = 0; i < real->nitems; i++) {
                        if ((size_t)real->items[i].label != l || isval[i]) continue;
                        /* the base name, as es_dataset_split hashes: which
                         * clips validate (and so the model) must not depend
                         * on where the folder is */
                        const char *bn = strrchr(real->items[i].path, '/');
                        uint64_t hh = fnv(0x9e3779b97f4a7c15ULL ^ t->seed, bn ? bn + 1 : real->items[i].path);
                        if (hh < bh || best == (size_t)-1) { bh = hh; best = i; }
                    }
                    isval[best] = 1;
                    taken++;
                }
            }
        }
        /* real clips repeated so that a label's real copies weigh
         * real_weight of its synthetic takes (0.1: measured on FSDD, 1 real
         * take per digit of 3 speakers, tested on 3 others, 0.1 / 0.4 / 1.0
         * gave 0.937 / 0.937 / 0.932: more weight on a few speakers' takes
         * does not help unseen speakers) */
        size_t ntrain_real = 0;
        for (size_t i = 0; i < real->nitems; i++) ntrain_real += !isval[i];
        size_t per_label = nl ? (ntrain_real + nl - 1) / nl : 1;
        double want_reps = per_label ? o->real_weight * o->takes / (double)per_label : 1;
        size_t reps = want_reps < 1 ? 1 : want_reps > 10000 ? 10000 : (size_t)(want_reps + 0.5);
        /* the real folder's noise recordings come along (silence class and
         * augmentation) */
        for (size_t i = 0; i < real->nnoise; i++) mh = fnv(mh, abs[real->nitems + i]);
        /* "val" alone was the hash split by path, as before speakers were
         * read; "val-name" hashes the base name (so mix folders made by an
         * older earshot, which chose other clips, are not reused) */
        mh = fnv(mh, !enough ? "noval" : by_speaker ? "val-speaker" : "val-name");
        char fr[32];
        locale_t was = es_c_locale_push();   /* a key, as the synthesis folder's */
        snprintf(fr, sizeof fr, "%.4f|%llu|%zu", t->val_fraction, (unsigned long long)t->seed, reps);
        es_c_locale_pop(was);
        mh = fnv(mh, fr);
        snprintf(mix, sizeof mix, "%s/mix-%016llx", root, (unsigned long long)mh);
        snprintf(mixval, sizeof mixval, "%s/val", mix);
        if (!exists(mix)) {
            char tmp[3400], p[8000], tag[ES_PROC_TAG_MAX];
            snprintf(tmp, sizeof tmp, "%s.tmp%s", mix, es_proc_tag(tag));
            for (size_t l = 0; !st && l < v.n + 1; l++) {
                const char *lab = l < v.n ? v.e[l].label : ES_LABEL_UNKNOWN;
                snprintf(p, sizeof p, "%s/%s", dir, lab);
                if (!exists(p)) continue;   /* no _unknown_ takes were asked for */
                char td[8000];
                snprintf(td, sizeof td, "%s/train/%s", tmp, lab);
                if ((st = mkdirs(td, err))) break;
                char ln[8000];
                snprintf(ln, sizeof ln, "%s/train/%s/synthetic", tmp, lab);
                st = link_to(p, ln, err);
            }
            for (size_t i = 0; !st && i < real->nitems; i++) {
                const char *lab = real->labels[real->items[i].label], *a = abs[i];
                const char *base = strrchr(a, '/') ? strrchr(a, '/') + 1 : a;
                if (isval[i]) {
                    snprintf(p, sizeof p, "%s/val/%s", tmp, lab);
                    if ((st = mkdirs(p, err))) break;
                    snprintf(p, sizeof p, "%s/val/%s/%s", tmp, lab, base);
                    st = link_to(a, p, err);
                    continue;
                }
                snprintf(p, sizeof p, "%s/train/%s", tmp, lab);
                if ((st = mkdirs(p, err))) break;
                for (size_t k = 0; !st && k < reps; k++) {
                    snprintf(p, sizeof p, "%s/train/%s/real%03zu_%s", tmp, lab, k, base);
                    st = link_to(a, p, err);
                }
            }
            for (size_t i = 0; !st && i < real->nnoise; i++) {
                const char *a = abs[real->nitems + i];
                const char *base = strrchr(a, '/') ? strrchr(a, '/') + 1 : a;
                snprintf(p, sizeof p, "%s/train/%s", tmp, ES_DIR_NOISE);
                if ((st = mkdirs(p, err))) break;
                /* numbered: two noise files may share a name in different folders */
                snprintf(p, sizeof p, "%s/train/%s/%03zu_%s", tmp, ES_DIR_NOISE, i, base);
                st = link_to(a, p, err);
            }
            if (!st && rename(tmp, mix) && !exists(mix))
                st = es_fail(err, ES_ERR_IO, "%s: cannot rename to %s: %s", tmp, mix, strerror(errno));
            /* not renamed: a failure, or another run's mix was in place
             * first (then that one is used); the links go (es_rm_tree
             * removes a link, never what it points to) */
            if (exists(tmp)) es_rm_tree(tmp);
        }
        for (size_t i = 0; i < nabs; i++) free(abs[i]);
        free(abs);
        free(cnt);
        free(isval);
        if (st) goto out;
        snprintf(mix + strlen(mix), sizeof mix - strlen(mix), "/train");
        to.data_dir = mix;
        if (enough) to.val_dir = mixval;
        cJSON_AddStringToObject(note, "real_dir", real_dir);
        cJSON_AddNumberToObject(note, "real_clips", (double)real->nitems);
        cJSON_AddNumberToObject(note, "real_repeats", (double)reps);
        cJSON_AddNumberToObject(note, "real_weight", o->real_weight);
        cJSON_AddNumberToObject(note, "real_noise_files", (double)real->nnoise);
        cJSON_AddStringToObject(note, "validation", enough ? "held-out real clips only" : "split of the mixed folder (too few real clips to hold out)");
        if (enough) cJSON_AddStringToObject(note, "real_split", by_speaker ? sr->real_split : "by file-name hash, at least one clip per word");
    }
    if (!(note_s = cJSON_PrintUnformatted(note))) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto out; }
    to.data_note = note_s;
    st = es_train_head(e, &to, out_path, tr, progress, user, err);
    if (!st && real) {   /* the files a user would miss are those of --data */
        tr->n_ignored = real->nignored;
        snprintf(tr->ignored_example, sizeof tr->ignored_example, "%s", real->ignored_example);
    }
out:
    cJSON_Delete(note);
    free(note_s);
    es_dataset_free(real);
    es_vocab_free(&v);
    return st;
}
