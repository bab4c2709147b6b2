/*
 * bench/es_adapt_bench.c — the speaker-adaptation protocol of issue 5 on
 * FSDD (6 speakers x 10 digits x 50 takes), through the library calls the
 * CLI makes: es_train_head (`earshot train` with its defaults), es_adapt
 * (`earshot adapt`) and es_eval (`earshot eval`), so the figures are what a
 * user gets.
 *
 *   es_adapt_bench FSDD_DIR [--speakers N] [--methods LIST] [--ks LIST] [--draws N]
 *                  [--seed N] [--steps N] [--lr X] [--lambda X] [--batch N]
 *                  [--shifts N] [--speed X] [--positions N] [--finetune K]
 *                  [--encoder-lr X] [--encoder-lambda X] [--params 0|1|2] [--normalise 0|1|2]
 *                  [--confusions 1] [--errors 1] [--keep DIR] [--only SPEAKER]
 *                  [--words LIST] [--unknown N] [--self-adapt 1]
 *
 * For each held-out speaker s (the first N in alphabetical order; all 6 by
 * default; --only: that one, the summary then averages it with zeros):
 *  - base model: `earshot train TRAIN -o base.safetensors` with every
 *    default (3 heads, window 8 meanstd, MLP 128, 5 window positions,
 *    --shifts auto, the 20 % validation split by file-name hash, a
 *    _silence_ class of generated noise, the rehearsal buffer), TRAIN
 *    holding takes 0-39 of the five other speakers (2,000 clips); with
 *    --words, `earshot train --words LIST --data TRAIN` instead (the
 *    synthetic takes of the words mixed in, `train --words` defaults;
 *    --unknown N: N _unknown_ takes instead of as many as per word);
 *  - adaptation: `earshot adapt base --speaker-data SPK` (the options
 *    given, else adapt's defaults), SPK holding k in {1, 3, 5} takes per
 *    digit of s drawn at random (seeded) from its takes 0-9; --draws N
 *    repeats with N draws;
 *  - target: `earshot eval` accuracy on takes 10-49 of s (400 clips, the
 *    same for every k);
 *  - retention: the same on takes 40-49 of the five others (500 clips,
 *    never trained on);
 *  - --self-adapt 1: the target takes (base model and adapted) scored by
 *    `earshot eval --self-adapt --one-voice` instead: in a random order,
 *    each with the voice's offset learnt from the decisions before it (a
 *    user who goes on speaking after adapting); retention stays plain.
 * The folders are symbolic links in a temporary directory (removed at the
 * end unless --keep). Embeddings come from the shared cache; an adapted
 * model with fine-tuned encoder layers (--finetune) is evaluated with a
 * cache of its own in the temporary directory, so its embeddings never
 * reach the shared one.
 * --confusions 1 prints each speaker's target confusions (summed over the
 * draws); --errors 1 the target takes the base model and the first
 * method's adapted model (first draw of each k) get wrong.
 */
#include "earshot.h"
#include "es_rng.h"

#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *SPK[6] = {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"};
enum { NS = 6, ND = 10, NT = 50, MAXK = 8, MAXM = 8 };

static void rmtree(const char *p);
static char g_tmp[4096];   /* the temporary folder to remove on a failure */

static void die(const char *what, const es_error *err)
{
    fprintf(stderr, "es_adapt_bench: %s: %s\n", what, err ? err->msg : strerror(errno));
    if (g_tmp[0]) rmtree(g_tmp);
    exit(1);
}

static void mkdir_or_die(const char *p)
{
    if (mkdir(p, 0755) && errno != EEXIST) die(p, NULL);
}

/* dir/<digit>/ holding links to the takes [t0, t1) of speaker s */
static void link_takes(const char *fsdd, const char *dir, int s, const int *takes, int nt, int d)
{
    char p[8192], q[8192];
    snprintf(p, sizeof p, "%s/%d", dir, d);
    mkdir_or_die(p);
    for (int i = 0; i < nt; i++) {
        snprintf(p, sizeof p, "%s/%d/%d_%s_%d.wav", dir, d, d, SPK[s], takes[i]);
        snprintf(q, sizeof q, "%s/%d_%s_%d.wav", fsdd, d, SPK[s], takes[i]);
        if (symlink(q, p) && errno != EEXIST) die(p, NULL);
    }
}

static void rmtree(const char *p)
{
    struct stat sb;
    if (lstat(p, &sb)) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *dd = opendir(p);
        struct dirent *de;
        while (dd && (de = readdir(dd))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char q[4096];
            snprintf(q, sizeof q, "%s/%s", p, de->d_name);
            rmtree(q);
        }
        if (dd) closedir(dd);
        rmdir(p);
    } else {
        unlink(p);
    }
}

/* es_eval accuracy of model on dir; conf (may be NULL) += its confusion
 * over the digits (a _silence_ prediction counts in column ND) */
static int g_self_adapt;   /* --self-adapt 1: targets scored as one voice, self-adapted */

static double eval_dir(es_engine *e, const char *model, const char *dir, const char *cache, size_t *conf)
{
    es_eval_result r;
    es_error err = {0};
    /* only the held-out speaker's folder (conf != NULL) is one voice */
    es_eval_opts eo = {g_self_adapt && conf, -1, 1, 1};
    if (es_eval_with(e, model, dir, NULL, cache, &eo, &r, NULL, NULL, &err)) die(model, &err);
    if (conf) {
        int map[64];
        for (size_t k = 0; k < r.n_labels && k < 64; k++) {
            const char *l = r.labels[k];
            map[k] = l[0] >= '0' && l[0] <= '9' && !l[1] ? l[0] - '0' : ND;
        }
        for (size_t a = 0; a < r.n_labels && a < 64; a++)
            for (size_t b = 0; b < r.n_labels && b < 64; b++)
                if (map[a] < ND) conf[map[a] * (ND + 1) + map[b]] += r.confusion[a * r.n_labels + b];
    }
    double acc = r.accuracy;
    es_eval_result_free(&r);
    return acc;
}

static void print_confusions(const char *who, const size_t *conf)
{
    printf("  %s:", who);
    int any = 0;
    for (int a = 0; a < ND; a++)
        for (int b = 0; b <= ND; b++)
            if (a != b && conf[a * (ND + 1) + b]) {
                if (b == ND) printf(" %d->silence x%zu", a, conf[a * (ND + 1) + b]);
                else printf(" %d->%d x%zu", a, b, conf[a * (ND + 1) + b]);
                any = 1;
            }
    printf("%s\n", any ? "" : " none");
}

/* the target takes (10-49 of s) the model gets wrong, one line */
static void print_errors(es_engine *e, const char *fsdd, const char *model, int s, const char *who)
{
    es_error err = {0};
    es_classifier *c = es_classifier_load(model, &err);
    if (!c) die(model, &err);
    es_engine *fe = NULL;
    if (strcmp(es_classifier_kind(c, NULL), "frozen") && !(fe = es_engine_create_for_classifier(NULL, c, &err)))
        die(model, &err);
    size_t K = es_classifier_classes(c);
    float *p = malloc(K * sizeof(float));
    printf("  %s %s wrong:", SPK[s], who);
    int nerr = 0;
    for (int d = 0; d < ND; d++)
        for (int t = 10; t < NT; t++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%d_%s_%d.wav", fsdd, d, SPK[s], t);
            es_audio a;
            es_load_opts lo = {.quantize_int16 = 1};
            if (es_audio_load(path, &lo, &a, &err)) die(path, &err);
            if (es_classifier_predict_audio(fe ? fe : e, c, a.samples, a.n, p, &err)) die(path, &err);
            es_audio_free(&a);
            size_t b = es_classifier_decide(c, p);
            const char *l = es_classifier_label(c, b);
            if (strcmp(l, (char[2]){(char)('0' + d), 0})) {
                printf(" %d_%d->%s(%.2f)", d, t, l[0] == '_' ? "sil" : l, p[b]);
                nerr++;
            }
        }
    printf("  [%d]\n", nerr);
    free(p);
    es_engine_free(fe);
    es_classifier_free(c);
}

static double getd(const char *s, const char *name)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) { fprintf(stderr, "es_adapt_bench: %s: '%s' is not a number\n", name, s); exit(2); }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') { fprintf(stderr, "usage: %s FSDD_DIR [options] (see the source)\n", argv[0]); return 2; }
    /* the links must point at the data wherever they are */
    char *fsdd = realpath(argv[1], NULL);
    if (!fsdd) die(argv[1], NULL);
    const char *methods = "naive,l2sp,ewc,rehearsal,ewc+rehearsal", *kl = "1,3,5", *keep = NULL;
    es_adapt_opts ao;
    es_adapt_opts_default(&ao);   /* the settings `earshot adapt` uses */
    const char *only = NULL, *words = NULL;
    int unknown = -1;
    int nspk = NS, seed = 1, draws = 1, confusions = 0, errors = 0;
    for (int i = 2; i < argc; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "es_adapt_bench: %s needs a value\n", o); return 2; }
        if (!strcmp(o, "--speakers")) nspk = (int)getd(v, o);
        else if (!strcmp(o, "--methods")) methods = v;
        else if (!strcmp(o, "--ks")) kl = v;
        else if (!strcmp(o, "--draws")) draws = (int)getd(v, o);
        else if (!strcmp(o, "--seed")) seed = (int)getd(v, o);
        else if (!strcmp(o, "--steps")) ao.steps = (int)getd(v, o);
        else if (!strcmp(o, "--lr")) ao.lr = (float)getd(v, o);
        else if (!strcmp(o, "--lambda")) ao.lambda = (float)getd(v, o);
        else if (!strcmp(o, "--batch")) ao.batch = (int)getd(v, o);
        else if (!strcmp(o, "--shifts")) ao.shifts = (int)getd(v, o);
        else if (!strcmp(o, "--speed")) ao.speed = getd(v, o);
        else if (!strcmp(o, "--finetune")) ao.finetune = (int)getd(v, o);
        else if (!strcmp(o, "--encoder-lr")) ao.encoder_lr = (float)getd(v, o);
        else if (!strcmp(o, "--encoder-lambda")) ao.encoder_lambda = (float)getd(v, o);
        else if (!strcmp(o, "--confusions")) confusions = (int)getd(v, o);
        else if (!strcmp(o, "--errors")) errors = (int)getd(v, o);
        else if (!strcmp(o, "--keep")) keep = v;
        else if (!strcmp(o, "--only")) only = v;
        else if (!strcmp(o, "--words")) words = v;
        else if (!strcmp(o, "--unknown")) unknown = (int)getd(v, o);
        else if (!strcmp(o, "--self-adapt")) g_self_adapt = (int)getd(v, o);
        else if (!strcmp(o, "--positions")) ao.positions = (int)getd(v, o);
        else if (!strcmp(o, "--params")) ao.params = (int)getd(v, o);
        else if (!strcmp(o, "--normalise")) ao.normalise = (int)getd(v, o);
        else { fprintf(stderr, "es_adapt_bench: unknown option %s\n", o); return 2; }
    }
    if (nspk < 1 || nspk > NS || draws < 1) { fprintf(stderr, "es_adapt_bench: --speakers 1-6, --draws >= 1\n"); return 2; }
    es_error err = {0};
    int nm = 0, ks[MAXK], nk = 0;
    es_adapt_method meth[MAXM];
    char buf[256];
    snprintf(buf, sizeof buf, "%s", methods);
    for (char *tok = strtok(buf, ","); tok && nm < MAXM; tok = strtok(NULL, ","))
        if (es_adapt_method_parse(tok, &meth[nm++], &err)) { fprintf(stderr, "%s\n", err.msg); return 2; }
    snprintf(buf, sizeof buf, "%s", kl);
    for (char *tok = strtok(buf, ","); tok && nk < MAXK; tok = strtok(NULL, ",")) {
        ks[nk] = (int)getd(tok, "--ks");
        if (ks[nk] < 1 || ks[nk] > 10) { fprintf(stderr, "es_adapt_bench: k must be from 1 to 10\n"); return 2; }
        nk++;
    }

    char tmp[4096];
    if (keep) {
        snprintf(tmp, sizeof tmp, "%s", keep);
        mkdir_or_die(tmp);
    } else {
        const char *td = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/es_adapt_bench.XXXXXX", td && *td ? td : "/tmp");
        if (!mkdtemp(tmp)) die(tmp, NULL);
        snprintf(g_tmp, sizeof g_tmp, "%s", tmp);
    }
    es_engine *e = es_engine_create(NULL, &err);
    if (!e) die("engine", &err);
    char ftcache[4200];
    snprintf(ftcache, sizeof ftcache, "%s/ftcache", tmp);
    const char *acache = ao.finetune ? ftcache : NULL;

    /* per speaker, k and method: target (mean over draws), retention change */
    static double spk_t[NS][MAXK][MAXM], spk_r[NS][MAXK][MAXM], base_t[NS], base_r[NS];
    static size_t conf_base[NS][ND * (ND + 1)], conf[NS][MAXK][MAXM][ND * (ND + 1)];
    printf("| speaker | k | method | draw | target | retention |\n|---|---|---|---|---|---|\n");
    for (int s = 0; s < nspk; s++) {
        if (only && strcmp(only, SPK[s])) continue;
        char dir[4200], trd[4300], tgd[4300], red[4300], base[4300];
        snprintf(dir, sizeof dir, "%s/%s", tmp, SPK[s]);
        mkdir_or_die(dir);
        snprintf(trd, sizeof trd, "%s/train", dir);
        snprintf(tgd, sizeof tgd, "%s/target", dir);
        snprintf(red, sizeof red, "%s/retention", dir);
        snprintf(base, sizeof base, "%s/base.safetensors", dir);
        mkdir_or_die(trd); mkdir_or_die(tgd); mkdir_or_die(red);
        int t0_39[40], t10_49[40], t40_49[10];
        for (int i = 0; i < 40; i++) { t0_39[i] = i; t10_49[i] = 10 + i; }
        for (int i = 0; i < 10; i++) t40_49[i] = 40 + i;
        for (int o = 0; o < NS; o++)
            for (int d = 0; d < ND; d++) {
                if (o == s) { link_takes(fsdd, tgd, o, t10_49, 40, d); continue; }
                link_takes(fsdd, trd, o, t0_39, 40, d);
                link_takes(fsdd, red, o, t40_49, 10, d);
            }
        es_train_opts to;
        es_train_opts_default(&to);
        to.data_dir = trd;
        to.seed = (unsigned long long)seed;
        es_train_result tr;
        if (words) {
            es_synth_opts so;
            es_synth_opts_default(&so);
            so.words = words;
            so.seed = to.seed;
            so.unknown_takes = unknown;
            to.data_dir = NULL;
            if (es_train_words(e, &so, NULL, trd, NULL, &to, base, &tr, NULL, NULL, NULL, &err)) die("train --words", &err);
        } else if (es_train_head(e, &to, base, &tr, NULL, NULL, &err)) die("train", &err);
        base_t[s] = eval_dir(e, base, tgd, NULL, conf_base[s]);
        base_r[s] = eval_dir(e, base, red, NULL, NULL);
        printf("| %s | 0 | (base) | | %.4f | %.4f |\n", SPK[s], base_t[s], base_r[s]);
        fflush(stdout);
        if (errors) print_errors(e, fsdd, base, s, "base");
        for (int ki = 0; ki < nk; ki++)
            for (int dr = 0; dr < draws; dr++) {
                int k = ks[ki];
                /* each (speaker, k, draw) has its own takes, whatever else runs */
                es_rng rng;
                es_rng_seed(&rng, (uint64_t)seed * 7919u + (uint64_t)s * 131u + (uint64_t)k * 17u + (uint64_t)dr);
                char spd[4400];
                snprintf(spd, sizeof spd, "%s/takes_k%d_d%d", dir, k, dr);
                rmtree(spd);
                mkdir_or_die(spd);
                for (int d = 0; d < ND; d++) {
                    int perm[10];
                    for (int i = 0; i < 10; i++) perm[i] = i;
                    for (int i = 10; i > 1; i--) {
                        int j = (int)es_rng_below(&rng, (uint64_t)i), t = perm[i - 1];
                        perm[i - 1] = perm[j]; perm[j] = t;
                    }
                    link_takes(fsdd, spd, s, perm, k, d);
                }
                for (int mi = 0; mi < nm; mi++) {
                    char out[4500];
                    snprintf(out, sizeof out, "%s/adapted_k%d_d%d_%s.safetensors", dir, k, dr, es_adapt_method_name(meth[mi]));
                    es_adapt_opts o = ao;
                    o.method = meth[mi];
                    o.fallback = 0;
                    o.seed = (unsigned long long)seed;
                    es_adapt_result ar;
                    if (es_adapt(e, base, spd, &o, out, &ar, NULL, NULL, &err)) die("adapt", &err);
                    double at = eval_dir(e, out, tgd, acache, conf[s][ki][mi]), rt = eval_dir(e, out, red, acache, NULL);
                    printf("| %s | %d | %s | %d | %.4f | %.4f |\n", SPK[s], k, es_adapt_method_name(meth[mi]), dr + 1, at, rt);
                    fflush(stdout);
                    if (errors && mi == 0 && dr == 0) {
                        snprintf(buf, sizeof buf, "k=%d %s", k, es_adapt_method_name(meth[mi]));
                        print_errors(e, fsdd, out, s, buf);
                    }
                    spk_t[s][ki][mi] += at / draws;
                    spk_r[s][ki][mi] += (rt - base_r[s]) / draws;
                    if (!keep) unlink(out);
                }
            }
    }

    printf("\nper speaker (means over %d draws; retention change in points)\n", draws);
    printf("| speaker | base target | base retention |");
    for (int ki = 0; ki < nk; ki++)
        for (int mi = 0; mi < nm; mi++) printf(" k=%d %s |", ks[ki], es_adapt_method_name(meth[mi]));
    printf("\n|---|---|---|");
    for (int i = 0; i < nk * nm; i++) printf("---|");
    printf("\n");
    for (int s = 0; s < nspk; s++) {
        printf("| %s | %.4f | %.4f |", SPK[s], base_t[s], base_r[s]);
        for (int ki = 0; ki < nk; ki++)
            for (int mi = 0; mi < nm; mi++) printf(" %.4f (%+.2f) |", spk_t[s][ki][mi], 100 * spk_r[s][ki][mi]);
        printf("\n");
    }
    if (confusions) {
        printf("\ntarget confusions (truth->prediction x count, summed over the draws)\n");
        for (int s = 0; s < nspk; s++) {
            printf("%s\n", SPK[s]);
            print_confusions("base", conf_base[s]);
            for (int ki = 0; ki < nk; ki++)
                for (int mi = 0; mi < nm; mi++) {
                    snprintf(buf, sizeof buf, "k=%d %s", ks[ki], es_adapt_method_name(meth[mi]));
                    print_confusions(buf, conf[s][ki][mi]);
                }
        }
    }

    double bt = 0, btmin = 1, br = 0;
    for (int s = 0; s < nspk; s++) {
        bt += base_t[s] / nspk;
        br += base_r[s] / nspk;
        if (base_t[s] < btmin) btmin = base_t[s];
    }
    char lamtxt[32] = "per method";
    if (ao.lambda >= 0) snprintf(lamtxt, sizeof lamtxt, "%g", ao.lambda);
    printf("\nsummary over %d held-out speakers x %d draws (train defaults, seed %d; adapt: steps %d, lr %g, lambda %s,"
           " batch %d, %d shifts, %d positions, speed %g, finetune %d, params %d, normalise %d)\n",
           nspk, draws, seed, ao.steps, ao.lr, lamtxt, ao.batch, ao.shifts, ao.positions,
           ao.speed, ao.finetune, ao.params, ao.normalise);
    printf("| k | method | target mean | target worst speaker | retention change (points) | worst speaker's retention drop |\n"
           "|---|---|---|---|---|---|\n");
    printf("| 0 | (base) | %.4f | %.4f | (retention %.4f) | |\n", bt, btmin, br);
    for (int ki = 0; ki < nk; ki++)
        for (int mi = 0; mi < nm; mi++) {
            double mt = 0, wt = 1, mr = 0, wd = 0;
            for (int s = 0; s < nspk; s++) {
                mt += spk_t[s][ki][mi] / nspk;
                mr += spk_r[s][ki][mi] / nspk;
                if (spk_t[s][ki][mi] < wt) wt = spk_t[s][ki][mi];
                if (-spk_r[s][ki][mi] > wd) wd = -spk_r[s][ki][mi];
            }
            printf("| %d | %s | %.4f | %.4f | %+.2f | %.2f |\n", ks[ki], es_adapt_method_name(meth[mi]), mt, wt, 100 * mr,
                   100 * wd);
        }
    es_engine_free(e);
    if (!keep) rmtree(tmp);
    free(fsdd);
    return 0;
}
