/* _GNU_SOURCE: nftw (X/Open) */
#define _GNU_SOURCE
/* The library inside a program that has set a locale: gtk_init (and many
 * other toolkits) call setlocale(LC_ALL, ""), so the host runs with the
 * user's LC_NUMERIC, where printf("%.3f") may write "1,408" and strtod
 * stops at the '.'. Everything the library writes for a file, a cache key
 * or an output, and every number it reads back from text, must come out
 * as in the "C" locale. Each case below makes its output in "C", then
 * again after setlocale(LC_ALL, <a locale with a decimal comma>), and
 * requires the same bytes (and the same values read back):
 *   - transcripts in every format (txt, JSON, CSV, SRT, WebVTT, SVG);
 *   - a chart (es_plot_svg, es_plot_write), linear and log axes;
 *   - an augmentation recipe's name (it keys embedding-cache variants);
 *   - the synthesis cache's folder for a set of options (a key with
 *     fractions in it: the comma locale must find the C locale's folder);
 *   - a speaker profile: saved bytes, and a C-locale file loaded with
 *     its threshold (needs the pretrained models);
 *   - a wake-word model trained with speed-perturbed copies, augmented
 *     variants and silence: the same model bytes, and every embedding of
 *     the second run found in the first run's cache (needs the models and
 *     FSDD); es_train_words mixing in real clips: the same mix folder;
 *   - letter case under tr_TR.UTF-8 (LC_CTYPE: 'I' is not the capital of
 *     'i' there): NOTE.AIFF is audio, and "HI" is the word hi.
 * The comma locale is de_DE.UTF-8: the system's if it has one, else
 * compiled here with localedef (with tr_TR.UTF-8) into a temporary folder
 * named by LOCPATH (no root needed; the definitions come with Debian's `locales` package,
 * which scripts/setup.sh --with-reference installs). Without either, the
 * test exits 77 (skipped) saying so. */
#include "test_util.h"
#include "es_internal.h"
#include "../pipeline/transcribe.h"
#include "../pipeline/plot.h"
#include "../audio/augment.h"
#include "../pipeline/dataset.h"

#include <dirent.h>
#include <ftw.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_comma[64];   /* the comma locale's name */
static char g_dir[256];    /* this run's temporary folder */

static int decimal_comma(void)
{
    char b[16];
    snprintf(b, sizeof b, "%.1f", 0.5);
    return !strcmp(b, "0,5");
}

static int try_locale(const char *name)
{
    int ok = setlocale(LC_ALL, name) && decimal_comma();
    setlocale(LC_ALL, "C");
    if (ok) snprintf(g_comma, sizeof g_comma, "%s", name);
    return ok;
}

static int have_locale(const char *name)
{
    int ok = setlocale(LC_ALL, name) != NULL;
    setlocale(LC_ALL, "C");
    return ok;
}

/* A locale with a decimal comma (else exit 77 saying why there is none),
 * and tr_TR.UTF-8 if it can be had. When the system lacks either, both are
 * compiled into one folder: with LOCPATH set, glibc no longer looks in the
 * system's locale archive. */
static char g_turkish[32];
static void find_locales(void)
{
    const char *have[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE", "fr_FR"};
    for (size_t i = 0; i < sizeof have / sizeof have[0] && !g_comma[0]; i++) try_locale(have[i]);
    if (have_locale("tr_TR.UTF-8")) snprintf(g_turkish, sizeof g_turkish, "tr_TR.UTF-8");
    if (g_comma[0] && g_turkish[0]) return;
    g_comma[0] = g_turkish[0] = 0;
    char loc[512], cmd[1400];
    snprintf(loc, sizeof loc, "%s/locale", g_dir);
    if (mkdir(loc, 0755) != 0) { printf("SKIP: cannot create %s\n", loc); exit(77); }
    /* -c: localedef exits 1 on mere warnings; setlocale says whether the
     * locale was made */
    snprintf(cmd, sizeof cmd, "localedef -c -i de_DE -f UTF-8 '%s/de_DE.UTF-8' >'%s/localedef.log' 2>&1", loc, g_dir);
    int rc = system(cmd);
    rc = rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);   /* 127: no localedef */
    snprintf(cmd, sizeof cmd, "localedef -c -i tr_TR -f UTF-8 '%s/tr_TR.UTF-8' >/dev/null 2>&1", loc);
    if (system(cmd) == -1) { /* tr_TR is checked below */ }
    setenv("LOCPATH", loc, 1);
    if (have_locale("tr_TR.UTF-8")) snprintf(g_turkish, sizeof g_turkish, "tr_TR.UTF-8");
    if (try_locale("de_DE.UTF-8")) return;
    char why[300] = "", log[600];
    snprintf(log, sizeof log, "%s/localedef.log", g_dir);
    FILE *f = fopen(log, "r");
    if (f) {
        if (!fgets(why, sizeof why, f)) why[0] = 0;
        why[strcspn(why, "\n")] = 0;
        fclose(f);
    }
    printf("SKIP: no locale with a decimal comma: the system has no de_DE.UTF-8 or fr_FR.UTF-8, and "
           "`localedef -i de_DE -f UTF-8` could not make one (exit status %d: %s); install Debian's locales "
           "package (scripts/setup.sh --with-reference does)\n", rc, why);
    test_rmtree(g_dir);
    exit(77);
}

static void in_c(void)
{
    assert_non_null(setlocale(LC_ALL, "C"));
}

static void in_comma(void)
{
    assert_non_null(setlocale(LC_ALL, g_comma));
    assert_true(decimal_comma());   /* the host's own printf does write commas */
}

static void same_files(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    if (na != nb || memcmp(x, y, na)) fail_msg("%s and %s differ (%zu and %zu bytes)", a, b, na, nb);
    free(x);
    free(y);
}

/* ------------------------------------------------------------ transcripts */

#define NB 40
static void test_transcript(void **state)
{
    (void)state;
    es_tx_event ev[3] = {{"yes", 1.25, 1.8, 0.90625f, -1, 0},
                         {"no", 2.4075, 3.0, 0.75f, -1, 0},
                         {"yes", 3.5, 3.5, 0.5f, -1, 0}};
    size_t slot[2] = {0, 1};
    const char *label[2] = {"yes", "no"};
    double thr[2] = {0.5, 0.35}, tt[NB];
    float v[NB * 2];
    uint32_t r = 7;
    for (size_t b = 0; b < NB; b++) {
        tt[b] = 0.08 * (double)b;
        v[2 * b] = test_rand(&r);
        v[2 * b + 1] = test_rand(&r);
    }
    es_tx_track k = {.nl = 2, .slot = slot, .label = label, .thr = thr, .v = v, .t = tt, .nbins = NB, .per = 1};
    es_transcript t = {.file = "talk/a.wav", .model = "m", .duration = 4.375, .ev = ev, .nev = 3, .cap = 3,
                       .track = &k};
    const int fmt[] = {ES_TX_TXT, ES_TX_JSON, ES_TX_CSV, ES_TX_SRT, ES_TX_VTT, ES_TX_SVG};
    for (size_t f = 0; f < sizeof fmt / sizeof fmt[0]; f++) {
        char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        es_error e = {0};
        in_c();
        assert_int_equal(es_tx_render(&t, fmt[f], &a, &na, &e), ES_OK);
        in_comma();
        assert_int_equal(es_tx_render(&t, fmt[f], &b, &nb, &e), ES_OK);
        in_c();
        if (na != nb || memcmp(a, b, na))
            fail_msg("%s differs in %s:\n--- C:\n%.600s\n--- %s:\n%.600s", es_tx_format_ext(fmt[f]), g_comma, a,
                     g_comma, b);
        free(a);
        free(b);
    }
    /* the library hands the host its locale back: the process's, and a
     * thread's own (uselocale), which a C locale pushed over it must not
     * replace by the global one on the way out */
    char *a = NULL, *b = NULL;
    es_error e0 = {0};
    in_comma();
    assert_int_equal(es_tx_render(&t, ES_TX_JSON, &a, NULL, &e0), ES_OK);
    assert_true(decimal_comma());
    /* the thread's own: a copy of the process's comma locale (duplocale,
     * not newlocale, which leaks its copy of LOCPATH in glibc 2.36) */
    locale_t mine = duplocale(LC_GLOBAL_LOCALE);
    assert_non_null(mine);
    in_c();
    locale_t before = uselocale(mine);
    assert_true(decimal_comma());
    assert_int_equal(es_tx_render(&t, ES_TX_JSON, &b, NULL, &e0), ES_OK);
    assert_true(uselocale((locale_t)0) == mine);
    assert_true(decimal_comma());
    uselocale(before);
    freelocale(mine);
    assert_false(decimal_comma());
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "\"start\": 1.250, \"end\": 1.800, \"score\": 0.9062"));
    free(a);
    free(b);
    /* the C locale's output is what it always was */
    char *s = NULL;
    es_error e = {0};
    assert_int_equal(es_tx_render(&t, ES_TX_SRT, &s, NULL, &e), ES_OK);
    assert_non_null(strstr(s, "1\n00:00:01,250 --> 00:00:01,800\nyes (0.91)\n"));
    free(s);
}

/* ------------------------------------------------------------------ charts */

static char *chart(int logs, const char *path)
{
    es_plot *p = es_plot_create("accuracy", "shots", "accuracy");
    assert_non_null(p);
    es_plot_subtitle(p, "of 0.5 s clips");
    es_plot_log(p, logs, 0);
    es_plot_log_zero(p, logs);
    double x[5] = {0, 1, 2.5, 5, 10}, y[5] = {0.125, 0.3, 0.55, 0.715, 0.9}, lo[5], hi[5];
    for (int i = 0; i < 5; i++) { lo[i] = y[i] - 0.05; hi[i] = y[i] + 0.0625; }
    es_error e = {0};
    assert_int_equal(es_plot_series(p, "head", x, y, lo, hi, 5, "%.3f", 1, &e), ES_OK);
    assert_int_equal(es_plot_hline(p, 0.5, "chance 0.5", &e), ES_OK);
    assert_int_equal(es_plot_span(p, 1.5, 2.25, "span", &e), ES_OK);
    if (!logs) assert_int_equal(es_plot_xtick(p, 2.5, "2.5", &e), ES_OK);
    char *s = NULL;
    assert_int_equal(es_plot_svg(p, &s, NULL, &e), ES_OK);
    assert_int_equal(es_plot_write(p, path, &e), ES_OK);
    es_plot_free(p);
    return s;
}

static void test_chart(void **state)
{
    (void)state;
    for (int logs = 0; logs < 2; logs++) {
        char pa[300], pb[300];
        snprintf(pa, sizeof pa, "%s/c%d.svg", g_dir, logs);
        snprintf(pb, sizeof pb, "%s/comma%d.svg", g_dir, logs);
        in_c();
        char *a = chart(logs, pa);
        in_comma();
        char *b = chart(logs, pb);
        in_c();
        if (strcmp(a, b)) fail_msg("the chart differs in %s:\n--- C:\n%.900s\n--- %s:\n%.900s", g_comma, a, g_comma, b);
        same_files(pa, pb);
        free(a);
        free(b);
    }
}

/* ------------------------------------------------- augmentation recipes */

static void test_recipe_name(void **state)
{
    (void)state;
    es_aug_recipe r = {.speed = 1.0625, .shift = -320, .gain_db = -3.25, .noise = ES_AUG_NOISE_CLIP, .noise_clip = 2,
                       .noise_pos = 12345, .snr_db = 12.5};
    char a[256], b[256];
    in_c();
    assert_true(es_aug_recipe_str(&r, a, sizeof a) > 0);
    assert_string_equal(a, "speed=1.0625 shift=-320 gain=-3.25 noise=clip:2@12345 snr=12.50 spec=none");
    in_comma();
    assert_true(es_aug_recipe_str(&r, b, sizeof b) > 0);
    in_c();
    assert_string_equal(a, b);
}

/* ------------------------------------------------------- letter case */

/* Under tr_TR the capital of 'i' is 'İ', so glibc's strcasecmp finds
 * "AIFF" unlike "aiff": a folder's NOTE.AIFF was no audio, and a target
 * word "HI" stayed among the common-word negatives spoken as "hi". Names
 * of formats, languages and words compare by ASCII letters alone. */
static size_t scan_count(const char *dir)
{
    es_dataset *d = NULL;
    es_error e = {0};
    if (es_dataset_scan(dir, NULL, &d, NULL, &e) != ES_OK) fail_msg("scanning %s: %s", dir, e.msg);
    size_t n = d->nitems;
    es_dataset_free(d);
    return n;
}

static void test_letter_case(void **state)
{
    (void)state;
    if (!g_turkish[0]) { print_message("SKIP: no tr_TR.UTF-8 locale\n"); skip(); }
    char dir[300], p[400];
    snprintf(dir, sizeof dir, "%s/case", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(p, sizeof p, "%s/hi", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/_unknown_", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    const char *names[] = {"hi/NOTE.AIFF", "hi/take.aif", "hi/TAKE2.WAV", "_unknown_/x.wav"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        assert_int_equal(es_audio_write_wav(p, (const float[4]){0}, 4, NULL), ES_OK);
    }
    in_c();
    assert_int_equal(scan_count(dir), 4);
    assert_int_equal(es_audio_name_stem("talk/NOTE.AIFF"), 9);
    assert_true(setlocale(LC_ALL, g_turkish) != NULL);
    size_t n = scan_count(dir), stem = es_audio_name_stem("talk/NOTE.AIFF");
    int same = !es_ascii_casecmp("HI", "hi") && !es_ascii_ncasecmp("LIGHTS ON", "lights", 6) &&
               es_ascii_casecmp("aiff", "aifg") && es_ascii_casecmp("\xc4\xb0", "\xc4\xb1");
    in_c();
    assert_int_equal(n, 4);
    assert_int_equal(stem, 9);
    assert_true(same);
}

/* ------------------------------------------------------- synthesis cache */

static void test_synth_key(void **state)
{
    (void)state;
    char cache[300];
    snprintf(cache, sizeof cache, "%s/synth", g_dir);
    es_synth_opts o;
    es_synth_opts_default(&o);
    o.words = "yes,no";
    o.takes = 1;
    o.unknown_takes = 0;
    o.engines = ES_SYNTH_ESPEAK;
    o.augment = ES_AUG_GAIN;
    o.aug_prob = 0.25;
    o.pad_to = 1.5;
    o.formant_lo = 0.9;
    o.formant_hi = 1.1;
    es_synth_result r1, r2;
    es_error e = {0};
    in_c();
    if (es_synth_cached(&o, cache, &r1, NULL, NULL, &e) != ES_OK) fail_msg("synthesis: %s", e.msg);
    assert_false(r1.from_cache);
    in_comma();
    es_status st = es_synth_cached(&o, cache, &r2, NULL, NULL, &e);
    in_c();
    if (st != ES_OK) fail_msg("synthesis in %s: %s", g_comma, e.msg);
    /* the same options name the same folder, whatever the locale */
    assert_string_equal(r1.dir, r2.dir);
    assert_true(r2.from_cache);
}

/* The synthetic takes mixed with real clips: the mix folder is keyed by the
 * validation fraction ("0.2000") among others; the comma locale must find
 * the C locale's, and train the same model. */
static es_engine *engine(void);
static size_t mix_folders(const char *root)
{
    DIR *d = opendir(root);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) n += !strncmp(de->d_name, "mix-", 4);
    closedir(d);
    return n;
}

static void test_words_mix(void **state)
{
    (void)state;
    const char *src = getenv("EARSHOT_FSDD");
    struct stat sb;
    if (!src || stat(src, &sb) != 0 || !S_ISDIR(sb.st_mode) || src[0] != '/') {
        print_message("SKIP: FSDD not found (an absolute EARSHOT_FSDD)\n");
        skip();
    }
    es_engine *eng = engine();
    if (!eng) { print_message("SKIP: pretrained models not found\n"); skip(); }
    char cache[300], real[300], p[600], q[600], m1[300], m2[300], ca[300];
    snprintf(cache, sizeof cache, "%s/wsynth", g_dir);
    snprintf(real, sizeof real, "%s/real", g_dir);
    snprintf(ca, sizeof ca, "%s/wcache", g_dir);
    snprintf(m1, sizeof m1, "%s/wc.safetensors", g_dir);
    snprintf(m2, sizeof m2, "%s/wcomma.safetensors", g_dir);
    assert_int_equal(mkdir(real, 0755), 0);
    const char *lab[2] = {"yes", "no"};
    for (int l = 0; l < 2; l++) {
        snprintf(p, sizeof p, "%s/%s", real, lab[l]);
        assert_int_equal(mkdir(p, 0755), 0);
        for (int t = 0; t < 3; t++) {
            snprintf(p, sizeof p, "%s/%d_george_%d.wav", src, l, t);
            snprintf(q, sizeof q, "%s/%s/%d_george_%d.wav", real, lab[l], l, t);
            assert_int_equal(symlink(p, q), 0);
        }
    }
    es_synth_opts o;
    es_synth_opts_default(&o);
    o.words = "yes,no";
    o.takes = 2;
    o.unknown_takes = 0;
    o.engines = ES_SYNTH_ESPEAK;
    o.augment = 0;
    es_train_opts t;
    es_train_opts_default(&t);
    t.cache_dir = ca;
    t.epochs = 2;
    t.min_steps = 4;
    t.patience = 0;
    t.hidden = 8;
    t.augment = 0;
    t.silence = 0;
    t.speed_perturb = 0;
    t.frontend_copy = 0;
    es_train_result r;
    es_synth_result sr;
    es_error e = {0};
    in_c();
    if (es_train_words(eng, &o, cache, real, NULL, &t, m1, &r, &sr, NULL, NULL, &e) != ES_OK)
        fail_msg("es_train_words: %s", e.msg);
    assert_int_equal(mix_folders(cache), 1);
    in_comma();
    es_status st = es_train_words(eng, &o, cache, real, NULL, &t, m2, &r, &sr, NULL, NULL, &e);
    in_c();
    if (st != ES_OK) fail_msg("es_train_words in %s: %s", g_comma, e.msg);
    assert_true(sr.from_cache);
    assert_int_equal(mix_folders(cache), 1);   /* the same mix folder */
    same_files(m1, m2);
    es_engine_free(eng);
}

/* -------------------------------------------------------- speaker profiles */

static es_engine *engine(void)
{
    char p[4096];
    if (es_models_path(NULL, "embedding_model", p, sizeof p, NULL) != ES_OK ||
        es_models_path(NULL, "melspectrogram", p, sizeof p, NULL) != ES_OK)
        return NULL;
    es_error e = {0};
    es_engine *eng = es_engine_create(NULL, &e);
    if (!eng) fail_msg("engine: %s", e.msg);
    return eng;
}

static void test_speakers(void **state)
{
    (void)state;
    es_engine *eng = engine();
    if (!eng) { print_message("SKIP: pretrained models not found\n"); skip(); }
    es_error e = {0};
    es_speakers *s = es_speakers_new(eng, &e);
    assert_non_null(s);
    static float F[2 * ES_SPK_DIM];
    uint32_t r = 11;
    const char *names[2] = {"anna", "bert"};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 2 * ES_SPK_DIM; i++) F[i] = (float)k + test_rand(&r);
        assert_int_equal(es_speakers_enroll(s, names[k], F, 2, 0, &e), ES_OK);
    }
    assert_int_equal(es_speakers_set_threshold(s, 0.625, &e), ES_OK);
    char pa[300], pb[300];
    snprintf(pa, sizeof pa, "%s/c.speakers", g_dir);
    snprintf(pb, sizeof pb, "%s/comma.speakers", g_dir);
    in_c();
    assert_int_equal(es_speakers_save(s, pa, &e), ES_OK);
    in_comma();
    assert_int_equal(es_speakers_save(s, pb, &e), ES_OK);
    /* the C locale's file, read by a program in the comma locale */
    es_speakers *l = es_speakers_load(pa, eng, &e);
    in_c();
    if (!l) fail_msg("loading %s in %s: %s", pa, g_comma, e.msg);
    assert_true(es_speakers_threshold_is_set(l));
    assert_true(es_speakers_threshold(l) == 0.625);
    same_files(pa, pb);
    es_speakers_free(l);
    es_speakers_free(s);
    es_engine_free(eng);
}

/* -------------------------------------------------------------- training */

static size_t g_nfiles;
static int count_file(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)p; (void)sb; (void)ftw;
    g_nfiles += type == FTW_F;
    return 0;
}

static size_t files_under(const char *dir)
{
    g_nfiles = 0;
    assert_int_equal(nftw(dir, count_file, 16, FTW_PHYS), 0);
    return g_nfiles;
}

static void test_training(void **state)
{
    (void)state;
    const char *src = getenv("EARSHOT_FSDD");
    struct stat sb;
    if (!src || stat(src, &sb) != 0 || !S_ISDIR(sb.st_mode)) { print_message("SKIP: FSDD not found\n"); skip(); }
    es_engine *eng = engine();
    if (!eng) { print_message("SKIP: pretrained models not found\n"); skip(); }
    char tr[300], va[300], ca[300], m1[300], m2[300], p[600], q[1600], cwd[512];
    snprintf(tr, sizeof tr, "%s/train", g_dir);
    snprintf(va, sizeof va, "%s/val", g_dir);
    snprintf(ca, sizeof ca, "%s/cache", g_dir);
    snprintf(m1, sizeof m1, "%s/c.safetensors", g_dir);
    snprintf(m2, sizeof m2, "%s/comma.safetensors", g_dir);
    assert_int_equal(mkdir(tr, 0755), 0);
    assert_int_equal(mkdir(va, 0755), 0);
    assert_non_null(getcwd(cwd, sizeof cwd));
    const char *spk[3] = {"george", "jackson", "yweweler"};
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < 3; d++)
            for (int t = 0; t < 3; t++) {
                if (src[0] == '/') snprintf(p, sizeof p, "%s/%d_%s_%d.wav", src, d, spk[s], t);
                else snprintf(p, sizeof p, "%s/%s/%d_%s_%d.wav", cwd, src, d, spk[s], t);
                snprintf(q, sizeof q, "%s/%d_%s_%d.wav", s < 2 ? tr : va, d, spk[s], t);
                assert_int_equal(symlink(p, q), 0);
            }
    es_train_opts o;
    es_train_opts_default(&o);
    o.data_dir = tr;
    o.val_dir = va;
    o.pattern = "{label}_{speaker}_{take}";
    o.cache_dir = ca;
    o.epochs = 2;
    o.min_steps = 4;
    o.patience = 0;
    o.hidden = 8;
    o.wake_word = "1";
    o.target_fa = 0.05;
    o.speed_perturb = 0.1;   /* cache keys "; speed=0.900000" */
    o.augment = 1;           /* variant keys: es_aug_recipe_str */
    o.silence = 1;           /* silence keys "gain=-12.34" */
    es_train_result r1, r2;
    es_error e = {0};
    in_c();
    if (es_train_head(eng, &o, m1, &r1, NULL, NULL, &e) != ES_OK) fail_msg("training: %s", e.msg);
    size_t n1 = files_under(ca);
    in_comma();
    es_status st = es_train_head(eng, &o, m2, &r2, NULL, NULL, &e);
    in_c();
    if (st != ES_OK) fail_msg("training in %s: %s", g_comma, e.msg);
    /* every embedding of the second run was the first run's: no new keys */
    size_t n2 = files_under(ca);
    if (n1 != n2) fail_msg("the embedding cache grew from %zu to %zu files in %s", n1, n2, g_comma);
    assert_int_equal(r2.aug_hits, r2.n_aug);
    same_files(m1, m2);
    size_t n;
    unsigned char *b = test_read_file(m1, &n);
    const char *rule = "validation false accepts <= 0.05";   /* in the card, a JSON string in the header */
    assert_non_null(memmem(b, n, rule, strlen(rule)));
    free(b);
    es_engine_free(eng);
}

int main(void)
{
    if (test_tmpdir(g_dir, sizeof g_dir, "locale") != 0) { perror("mkdtemp"); return 1; }
    find_locales();
    printf("comma locale: %s, Turkish: %s%s%s\n", g_comma, g_turkish[0] ? g_turkish : "none",
           getenv("LOCPATH") ? ", from " : "", getenv("LOCPATH") ? getenv("LOCPATH") : "");
    setenv("EARSHOT_SYNTH_CACHE", g_dir, 1);   /* nothing below may touch the real caches */
    setenv("EARSHOT_CACHE", g_dir, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transcript), cmocka_unit_test(test_chart),    cmocka_unit_test(test_recipe_name),
        cmocka_unit_test(test_synth_key),  cmocka_unit_test(test_speakers), cmocka_unit_test(test_training),
        cmocka_unit_test(test_words_mix),  cmocka_unit_test(test_letter_case),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    test_rmtree(g_dir);
    return rc;
}
