/* Datasets and the embedding cache: folder and pattern scans over small
 * WAV trees built here (labels with spaces and UTF-8 names, nested and
 * hidden entries, link loops), every bad input, the split logic, and the
 * real FSDD corpus when EARSHOT_FSDD points at it; then the cache (miss,
 * hit, corruption, keys, the parallel batch) when the models are present. */
#include "test_util.h"
#include "../pipeline/dataset.h"
#include "../pipeline/cache.h"

#include <math.h>
#include <sndfile.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static int setup(void **state)
{
    (void)state;
    return test_tmpdir(root, sizeof root, "dataset");
}

static int teardown(void **state)
{
    (void)state;
    return test_rmtree(root);
}

/* ------------------------------------------------------------ helpers */

/* A short mono 16-bit WAV: a tone whose pitch depends on `seed`, plus a
 * little noise, so different seeds give different bytes and embeddings. */
static void write_wav(const char *path, double seconds, int rate, unsigned seed)
{
    SF_INFO info = {0};
    info.samplerate = rate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f) fail_msg("cannot write %s: %s", path, sf_strerror(NULL));
    size_t n = (size_t)(seconds * rate);
    float *x = malloc(n * sizeof(float) + 1);
    assert_non_null(x);
    uint32_t s = seed * 2654435761u + 1;
    double hz = 150.0 + 37.0 * (seed % 20);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(0.3 * sin(2 * M_PI * hz * (double)i / rate) + 0.05 * (test_rand(&s) - 0.5));
    assert_int_equal(sf_write_float(f, x, (sf_count_t)n), (sf_count_t)n);
    sf_close(f);
    free(x);
}

/* root-relative path */
static const char *P(const char *rel)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, rel);
    return buf[k];
}

static void mk(const char *rel) { assert_int_equal(mkdir(P(rel), 0755), 0); }
static void wav(const char *rel, unsigned seed) { write_wav(P(rel), 0.25, 8000, seed); }
static void text(const char *rel)
{
    FILE *f = fopen(P(rel), "w");
    assert_non_null(f);
    fputs("not audio\n", f);
    fclose(f);
}

/* Scan must fail with a message containing every needle. */
static void scan_fails(const char *dir, const char *pattern, const char *n1, const char *n2)
{
    es_dataset *d = (es_dataset *)1;
    es_error e = {0};
    size_t skipped = 99;
    es_status s = es_dataset_scan(dir, pattern, &d, &skipped, &e);
    if (s == ES_OK) fail_msg("scan of %s (pattern %s) succeeded", dir, pattern ? pattern : "none");
    assert_null(d);
    if (n1 && !strstr(e.msg, n1)) fail_msg("message '%s' lacks '%s'", e.msg, n1);
    if (n2 && !strstr(e.msg, n2)) fail_msg("message '%s' lacks '%s'", e.msg, n2);
}

static size_t count_label(const es_dataset *d, int label)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nitems; i++) n += d->items[i].label == label;
    return n;
}

/* ------------------------------------------------------------ folder layout */

static void test_folder_layout(void **state)
{
    (void)state;
    mk("sc");
    mk("sc/kaffee");
    mk("sc/kaffee/sub");
    mk("sc/kaffee/sub/deeper");
    mk("sc/lights on");
    mk("sc/caf\xc3\xa9");
    mk("sc/_unknown_");
    mk("sc/_background_noise_");
    mk("sc/.git");
    mk("sc/kaffee/.hidden_dir");
    wav("sc/kaffee/0a7c2a8d_nohash_0.wav", 1);
    wav("sc/kaffee/0a7c2a8d_nohash_1.WAV", 2);            /* extension in any case */
    wav("sc/kaffee/sub/b1c2d3e4_nohash_0.wav", 3);        /* nested */
    wav("sc/kaffee/sub/deeper/plain.wav", 4);             /* not Speech Commands form: no speaker */
    wav("sc/kaffee/.hidden.wav", 5);                      /* hidden: ignored */
    wav("sc/kaffee/.hidden_dir/x.wav", 6);                /* in a hidden dir: ignored */
    text("sc/kaffee/notes.txt");                          /* not audio: ignored */
    text("sc/kaffee/wav");                                /* no extension */
    wav("sc/lights on/ffff0000_nohash_3.wav", 7);
    wav("sc/lights on/take two.flac.wav", 8);
    wav("sc/caf\xc3\xa9/x.wav", 9);
    wav("sc/_unknown_/u1.wav", 10);
    wav("sc/_unknown_/u2.wav", 11);
    wav("sc/_background_noise_/white.wav", 12);
    wav("sc/_background_noise_/pink.wav", 13);
    text("sc/_background_noise_/README.md");
    wav("sc/.git/y.wav", 14);
    wav("sc/stray.wav", 15);                               /* outside any label: skipped */
    text("sc/LICENSE");
    /* link loops and a repeated folder: each directory is entered once */
    assert_int_equal(symlink("..", P("sc/kaffee/up")), 0);
    assert_int_equal(symlink(".", P("sc/kaffee/sub/self")), 0);
    assert_int_equal(symlink("../kaffee", P("sc/caf\xc3\xa9/again")), 0);

    es_dataset *d;
    es_error e = {0};
    size_t skipped = 0;
    if (es_dataset_scan(P("sc"), NULL, &d, &skipped, &e)) fail_msg("%s", e.msg);
    assert_int_equal(skipped, 1);
    assert_int_equal(d->nlabels, 4);
    assert_string_equal(d->labels[0], "_unknown_");
    assert_string_equal(d->labels[1], "caf\xc3\xa9");
    assert_string_equal(d->labels[2], "kaffee");
    assert_string_equal(d->labels[3], "lights on");
    assert_int_equal(d->nitems, 9);
    assert_int_equal(count_label(d, 0), 2);
    assert_int_equal(count_label(d, 1), 1);
    assert_int_equal(count_label(d, 2), 4);
    assert_int_equal(count_label(d, 3), 2);
    for (size_t i = 1; i < d->nitems; i++) assert_true(strcmp(d->items[i - 1].path, d->items[i].path) < 0);
    for (size_t i = 0; i < d->nitems; i++) {
        const es_item *it = &d->items[i];
        assert_null(strstr(it->path, "/."));
        assert_null(strstr(it->path, "/up/"));
        assert_null(strstr(it->path, "/self/"));
        assert_null(strstr(it->path, "/again/"));
        struct stat st;
        assert_int_equal(stat(it->path, &st), 0);
        const char *b = strrchr(it->path, '/') + 1;
        if (!strcmp(b, "0a7c2a8d_nohash_0.wav") || !strcmp(b, "0a7c2a8d_nohash_1.WAV")) assert_string_equal(it->speaker, "0a7c2a8d");
        else if (!strcmp(b, "b1c2d3e4_nohash_0.wav")) assert_string_equal(it->speaker, "b1c2d3e4");
        else if (!strcmp(b, "ffff0000_nohash_3.wav")) assert_string_equal(it->speaker, "ffff0000");
        else assert_string_equal(it->speaker, "");
        if (strstr(it->path, "/lights on/")) assert_int_equal(it->label, 3);
    }
    assert_int_equal(d->nnoise, 2);
    assert_string_equal(d->noise[0], P("sc/_background_noise_/pink.wav"));
    assert_string_equal(d->noise[1], P("sc/_background_noise_/white.wav"));

    /* a trailing slash gives the same paths */
    es_dataset *d2;
    char slash[1100];
    snprintf(slash, sizeof slash, "%s/", P("sc"));
    assert_int_equal(es_dataset_scan(slash, NULL, &d2, NULL, NULL), ES_OK);
    assert_int_equal(d2->nitems, d->nitems);
    for (size_t i = 0; i < d->nitems; i++) assert_string_equal(d2->items[i].path, d->items[i].path);
    es_dataset_free(d2);
    es_dataset_free(d);

    /* one label plus _unknown_ is enough */
    mk("one");
    mk("one/yes");
    mk("one/_unknown_");
    wav("one/yes/a.wav", 1);
    wav("one/_unknown_/b.wav", 2);
    assert_int_equal(es_dataset_scan(P("one"), NULL, &d, NULL, NULL), ES_OK);
    assert_int_equal(d->nlabels, 2);
    assert_int_equal(d->nnoise, 0);
    es_dataset_free(d);
    es_dataset_free(NULL);
}

static void test_sc_speaker(void **state)
{
    (void)state;
    char b[64];
    assert_string_equal(es_dataset_sc_speaker("0a7c2a8d_nohash_0.wav", b, sizeof b), "0a7c2a8d");
    assert_string_equal(es_dataset_sc_speaker("/x/yes/0a7c2a8d_nohash_12.wav", b, sizeof b), "0a7c2a8d");
    assert_string_equal(es_dataset_sc_speaker("a_b_nohash_3", b, sizeof b), "a_b");
    assert_string_equal(es_dataset_sc_speaker("0a7c2a8d_nohash_.wav", b, sizeof b), "");
    assert_string_equal(es_dataset_sc_speaker("0a7c2a8d_nohash_1x.wav", b, sizeof b), "");
    assert_string_equal(es_dataset_sc_speaker("_nohash_1.wav", b, sizeof b), "");
    assert_string_equal(es_dataset_sc_speaker("0_george_1.wav", b, sizeof b), "");
    assert_string_equal(es_dataset_sc_speaker("/nohash_dir/plain.wav", b, sizeof b), "");
    assert_string_equal(es_dataset_sc_speaker("0a7c2a8d_nohash_0.wav", b, 4), "");   /* does not fit */
}

/* ------------------------------------------------------------ patterns */

static void test_pattern(void **state)
{
    (void)state;
    mk("flat");
    mk("flat/_background_noise_");
    mk("flat/other");
    const char *speakers[3] = {"alice", "bob", "chlo\xc3\xa9"};
    unsigned k = 0;
    for (int digit = 0; digit < 3; digit++)
        for (int s = 0; s < 3; s++)
            for (int take = 0; take < 2; take++) {
                char rel[128];
                snprintf(rel, sizeof rel, "flat/%d_%s_%d.wav", digit, speakers[s], take);
                wav(rel, k++);
            }
    wav("flat/lights on_alice_0.wav", 40);
    wav("flat/readme.wav", 41);                  /* no match: skipped */
    wav("flat/9_x.wav", 42);                     /* too few parts: skipped */
    text("flat/notes.txt");                      /* not audio: not counted */
    wav("flat/.5_alice_0.wav", 43);              /* hidden */
    wav("flat/other/7_alice_0.wav", 44);         /* flat: sub-folders ignored */
    wav("flat/_background_noise_/n.wav", 45);

    const char *pats[2] = {"{label}_{speaker}_{take}", "{label}_{speaker}_{take}.wav"};
    for (int pi = 0; pi < 2; pi++) {
        es_dataset *d;
        es_error e = {0};
        size_t skipped = 0;
        if (es_dataset_scan(P("flat"), pats[pi], &d, &skipped, &e)) fail_msg("%s", e.msg);
        assert_int_equal(skipped, 2);
        assert_int_equal(d->nlabels, 4);
        assert_string_equal(d->labels[0], "0");
        assert_string_equal(d->labels[2], "2");
        assert_string_equal(d->labels[3], "lights on");
        assert_int_equal(d->nitems, 19);
        assert_int_equal(d->nnoise, 1);
        for (size_t i = 0; i < d->nitems; i++) {
            const es_item *it = &d->items[i];
            const char *b = strrchr(it->path, '/') + 1;
            size_t ll = strlen(d->labels[it->label]);
            assert_memory_equal(b, d->labels[it->label], ll);
            assert_int_equal(b[ll], '_');
            assert_memory_equal(b + ll + 1, it->speaker, strlen(it->speaker));
            assert_true(!strcmp(it->speaker, "alice") || !strcmp(it->speaker, "bob") ||
                        !strcmp(it->speaker, "chlo\xc3\xa9"));
        }
        es_dataset_free(d);
    }

    /* without {speaker}: no speakers; a field takes the shortest run that
     * lets the rest of the pattern match */
    mk("flat2");
    wav("flat2/a_b_x.wav", 1);
    wav("flat2/c_x.wav", 2);
    wav("flat2/c_y.wav", 3);
    es_dataset *d;
    size_t skipped;
    assert_int_equal(es_dataset_scan(P("flat2"), "{label}_x", &d, &skipped, NULL), ES_OK);
    assert_int_equal(skipped, 1);
    assert_int_equal(d->nlabels, 2);
    assert_string_equal(d->labels[0], "a_b");
    assert_string_equal(d->labels[1], "c");
    assert_string_equal(d->items[0].speaker, "");
    es_dataset_free(d);
    assert_int_equal(es_dataset_scan(P("flat2"), "{label}_{speaker}", &d, &skipped, NULL), ES_OK);
    assert_int_equal(skipped, 0);
    assert_string_equal(d->labels[0], "a");
    assert_string_equal(d->items[0].speaker, "b_x");
    es_dataset_free(d);
}

/* Warnings the library passed on (a file of another format left out). */
static char g_warn[1100];
static int g_nwarn;
static void warn_collect(void *user, const char *msg)
{
    (void)user;
    snprintf(g_warn, sizeof g_warn, "%s", msg);
    g_nwarn++;
}

/* Every format earshot reads is picked by its extension, and a file named
 * as audio earshot cannot read (.m4a from a phone) is left out aloud: a
 * label folder of phone recordings must not look smaller without a word. */
static void test_other_formats(void **state)
{
    (void)state;
    assert_int_equal(es_audio_name_stem("a.WAV"), 1);
    assert_int_equal(es_audio_name_stem("dir/take.opus"), 8);
    assert_int_equal(es_audio_name_stem("x.caf"), 1);
    assert_int_equal(es_audio_name_stem("x.w64"), 1);
    assert_int_equal(es_audio_name_stem(".wav"), 0);          /* hidden, no stem */
    assert_int_equal(es_audio_name_stem("d.wav/x"), 0);       /* the folder's extension is not the file's */
    assert_int_equal(es_audio_name_stem("a.m4a"), 0);
    assert_int_equal(es_audio_name_stem("notes.txt"), 0);
    assert_string_equal(es_audio_name_other("rec/a.M4A"), "m4a");
    assert_string_equal(es_audio_name_other("a.wma"), "wma");
    assert_null(es_audio_name_other("a.wav"));
    assert_null(es_audio_name_other("a.txt"));
    assert_null(es_audio_name_other("m4a"));

    mk("of");
    mk("of/yes");
    mk("of/no");
    wav("of/yes/1.wav", 1);
    wav("of/yes/2.caf", 2);      /* a WAV inside; the name is what picks it */
    wav("of/yes/3.opus", 3);
    text("of/yes/4.m4a");
    text("of/yes/5.M4A");
    text("of/yes/notes.txt");    /* not audio of any kind: no word */
    wav("of/no/1.wav", 4);
    wav("of/no/2.flac", 5);
    g_nwarn = 0;
    es_set_warning_handler(warn_collect, NULL);
    es_dataset *d;
    es_error e = {0};
    size_t skipped = 0;
    es_status st = es_dataset_scan(P("of"), NULL, &d, &skipped, &e);
    es_set_warning_handler(NULL, NULL);
    if (st) fail_msg("%s", e.msg);
    assert_int_equal(d->nitems, 5);
    assert_int_equal(count_label(d, 1), 3);
    assert_int_equal(g_nwarn, 1);
    assert_non_null(strstr(g_warn, "left out 2 files in a format earshot does not read (by their name: e.g."));
    assert_non_null(strstr(g_warn, "of/yes/4.m4a"));
    assert_non_null(strstr(g_warn, "ffmpeg -i IN.m4a"));
    es_dataset_free(d);

    /* A FIFO named as audio in a label folder (and one in a flat set) is
     * not opened, but no longer left out without a word: the set looked
     * one clip smaller and the scan said nothing. */
    mk("ff");
    mk("ff/yes");
    mk("ff/no");
    wav("ff/yes/1.wav", 1);
    wav("ff/no/1.wav", 2);
    assert_int_equal(mkfifo(P("ff/no/2.wav"), 0644), 0);
    assert_int_equal(mkfifo(P("ff/fifo.txt"), 0644), 0);   /* not an audio name: no word */
    g_nwarn = 0;
    es_set_warning_handler(warn_collect, NULL);
    st = es_dataset_scan(P("ff"), NULL, &d, NULL, &e);
    es_set_warning_handler(NULL, NULL);
    if (st) fail_msg("%s", e.msg);
    assert_int_equal(d->nitems, 2);
    es_dataset_free(d);
    assert_int_equal(g_nwarn, 1);
    if (!strstr(g_warn, "left out 1 entry with an audio name that is not a regular file") || !strstr(g_warn, "ff/no/2.wav"))
        fail_msg("warning: '%s'", g_warn);
    mk("fflat");
    wav("fflat/a_1.wav", 1);
    wav("fflat/b_1.wav", 2);
    assert_int_equal(mkfifo(P("fflat/b_2.wav"), 0644), 0);
    g_nwarn = 0;
    es_set_warning_handler(warn_collect, NULL);
    st = es_dataset_scan(P("fflat"), "{label}_{take}", &d, NULL, &e);
    es_set_warning_handler(NULL, NULL);
    if (st) fail_msg("%s", e.msg);
    assert_int_equal(d->nitems, 2);
    es_dataset_free(d);
    assert_int_equal(g_nwarn, 1);
    if (!strstr(g_warn, "fflat/b_2.wav")) fail_msg("warning: '%s'", g_warn);
}

/* The folders a walk has entered (es_idset): each scan and each
 * transcribe folder walk asks once per folder whether it was entered
 * before. A list searched from the start made that quadratic: 80,000
 * folders took 2.8 s where 40,000 took 0.9 s, most of it in the search.
 * At n = 2,000 folders (inodes as a file system hands them out, plus a
 * second look at each, as links back up give) the entries looked at must
 * stay a small multiple of n; the list looked at about n^2 of them. */
static void test_idset_linear(void **state)
{
    (void)state;
    es_idset s = {0};
    const size_t n = 2000;
    for (size_t i = 0; i < n; i++) assert_int_equal(es_idset_add(&s, 2049, 1000000 + 7 * i), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(es_idset_add(&s, 2049, 1000000 + 7 * i), 1);
    assert_int_equal(es_idset_add(&s, 2050, 1000000), 0);   /* another device, same inode */
    assert_int_equal(es_idset_add(&s, 2050, 1000000), 1);
    assert_int_equal(es_idset_add(&s, 0, 0), 0);   /* the value of an empty slot, kept apart */
    assert_int_equal(es_idset_add(&s, 0, 0), 1);
    if (s.probes > 8 * n) fail_msg("%zu entries looked at for %zu folders, each twice", s.probes, n);
    es_idset_free(&s);
}

/* ------------------------------------------------------------ bad input */

static void test_bad_input(void **state)
{
    (void)state;
    es_dataset *d = NULL;
    es_error e = {0};
    assert_int_equal(es_dataset_scan(NULL, NULL, &d, NULL, &e), ES_ERR_ARG);
    assert_int_not_equal(es_dataset_scan(P("x"), NULL, NULL, NULL, &e), ES_OK);
    scan_fails(P("missing"), NULL, P("missing"), "no such directory");
    text("afile.wav");
    scan_fails(P("afile.wav"), NULL, P("afile.wav"), "not a directory");
    mk("empty");
    scan_fails(P("empty"), NULL, P("empty"), "no label folders");
    mk("toplevel");
    wav("toplevel/0_a_1.wav", 1);
    scan_fails(P("toplevel"), NULL, "no label folders", "pattern");
    mk("noaudio");
    mk("noaudio/yes");
    mk("noaudio/no");
    wav("noaudio/yes/a.wav", 1);
    text("noaudio/no/readme.txt");
    scan_fails(P("noaudio"), NULL, P("noaudio/no"), ": no audio files");
    mk("emptylabel");
    mk("emptylabel/yes");
    mk("emptylabel/no");
    mk("emptylabel/no/sub");
    wav("emptylabel/yes/a.wav", 1);
    scan_fails(P("emptylabel"), NULL, P("emptylabel/no"), ": no audio files");
    mk("single");
    mk("single/yes");
    wav("single/yes/a.wav", 1);
    scan_fails(P("single"), NULL, "needs at least two labels, or one label plus _unknown_", "'yes'");
    {
        /* the takes `earshot adapt` reads: one word is a whole set */
        es_dataset *d1 = NULL;
        assert_int_equal(es_dataset_scan_takes(P("single"), NULL, &d1, NULL, &e), ES_OK);
        assert_int_equal(d1->nlabels, 1);
        assert_string_equal(d1->labels[0], "yes");
        assert_int_equal(d1->nitems, 1);
        es_dataset_free(d1);
        d1 = NULL;
        assert_int_equal(es_dataset_scan_takes(P("empty"), NULL, &d1, NULL, &e), ES_ERR_ARG);   /* still no label */
        assert_null(d1);
        assert_non_null(strstr(e.msg, "no label folders"));
    }
    mk("onlyunknown");
    mk("onlyunknown/_unknown_");
    wav("onlyunknown/_unknown_/a.wav", 1);
    scan_fails(P("onlyunknown"), NULL, "needs at least two labels", NULL);
    {
        /* a test set (`earshot eval`): one word, or _unknown_ alone (the
         * false accepts of a model on other speech), but still a label */
        es_dataset *d1 = NULL;
        assert_int_equal(es_dataset_scan_test(P("onlyunknown"), NULL, &d1, NULL, &e), ES_OK);
        assert_int_equal(d1->nlabels, 1);
        assert_string_equal(d1->labels[0], "_unknown_");
        es_dataset_free(d1);
        d1 = NULL;
        assert_int_equal(es_dataset_scan_test(P("single"), NULL, &d1, NULL, &e), ES_OK);
        assert_int_equal(d1->nitems, 1);
        es_dataset_free(d1);
        d1 = NULL;
        assert_int_equal(es_dataset_scan_test(P("empty"), NULL, &d1, NULL, &e), ES_ERR_ARG);
        assert_null(d1);
        /* still refused by the scans for training and for adapt */
        assert_int_equal(es_dataset_scan_takes(P("onlyunknown"), NULL, &d1, NULL, &e), ES_ERR_ARG);
        assert_null(d1);
    }
    mk("noiseonly");
    mk("noiseonly/_background_noise_");
    wav("noiseonly/_background_noise_/a.wav", 1);
    scan_fails(P("noiseonly"), NULL, "no label folders", NULL);
    mk("ctrl");
    mk("ctrl/yes");
    mk("ctrl/n\to");
    wav("ctrl/yes/a.wav", 1);
    wav("ctrl/n\to/a.wav", 1);
    scan_fails(P("ctrl"), NULL, P("ctrl/n\to"), "control character");
    mk("badutf");
    mk("badutf/yes");
    mk("badutf/n\xff");
    wav("badutf/yes/a.wav", 1);
    wav("badutf/n\xff/a.wav", 1);
    scan_fails(P("badutf"), NULL, "UTF-8", NULL);
    mk("broken");
    mk("broken/yes");
    mk("broken/no");
    wav("broken/yes/a.wav", 1);
    wav("broken/no/a.wav", 1);
    assert_int_equal(symlink("nowhere.wav", P("broken/no/b.wav")), 0);
    scan_fails(P("broken"), NULL, P("broken/no/b.wav"), "broken symbolic link");
    /* The same deep in a folder tree: with a path longer than the 512
     * bytes of es_error.msg the message was cut at 511 bytes and said
     * only "<root>/deep/no/aaaa...", without its reason. Now its start,
     * "...", and its end: the file's name and the reason. */
    {
        mk("deep");
        mk("deep/yes");
        mk("deep/no");
        wav("deep/yes/a.wav", 1);
        wav("deep/no/a.wav", 1);
        char dir[1200];
        snprintf(dir, sizeof dir, "%s", P("deep/no"));
        for (int lvl = 0; lvl < 4; lvl++) {
            size_t l = strlen(dir);
            dir[l] = '/';
            memset(dir + l + 1, 'a' + lvl, 200);
            dir[l + 201] = 0;
            assert_int_equal(mkdir(dir, 0755), 0);
        }
        char link[1300];
        snprintf(link, sizeof link, "%s/lost.wav", dir);
        assert_int_equal(symlink("nowhere.wav", link), 0);
        scan_fails(P("deep"), NULL, "lost.wav: broken symbolic link", P("deep/no/aaaa"));
        es_dataset *d = NULL;
        es_error e = {0};
        assert_int_not_equal(es_dataset_scan(P("deep"), NULL, &d, NULL, &e), ES_OK);
        assert_true(strlen(e.msg) < sizeof e.msg);
        assert_non_null(strstr(e.msg, "..."));
    }
    mk("dup");
    mk("dup/yes");
    mk("dup/no");
    wav("dup/yes/a.wav", 1);
    wav("dup/no/a.wav", 1);
    assert_int_equal(symlink("yes", P("dup/again")), 0);
    scan_fails(P("dup"), NULL, P("dup/yes"), "the same folder as another label");
    if (geteuid() != 0) {
        mk("locked");
        mk("locked/yes");
        mk("locked/no");
        wav("locked/yes/a.wav", 1);
        wav("locked/no/a.wav", 1);
        chmod(P("locked/no"), 0);
        scan_fails(P("locked"), NULL, P("locked/no"), "cannot read");
        chmod(P("locked/no"), 0755);
    } else {
        print_message("SKIP part: running as root, so an unreadable folder cannot be made\n");
    }

    /* patterns */
    mk("pflat");
    wav("pflat/0_a_1.wav", 1);
    wav("pflat/1_a_1.wav", 2);
    wav("pflat/1_b_1.wav", 3);
    scan_fails(P("pflat"), "{speaker}_{take}", "needs a {label} field", NULL);
    scan_fails(P("pflat"), "{label}_{label}_{take}", "only once", NULL);
    scan_fails(P("pflat"), "{label}{speaker}_{take}", "literal text between", NULL);
    scan_fails(P("pflat"), "{label_{speaker}", "inside a field", NULL);
    scan_fails(P("pflat"), "{label}_{take", "without a closing", NULL);
    scan_fails(P("pflat"), "{label}}", "without an opening", NULL);
    scan_fails(P("pflat"), "{label}_{}", "empty field", NULL);
    scan_fails(P("pflat"), "", "empty", NULL);
    scan_fails(P("pflat"), "{label}-{speaker}-{take}", P("pflat"), "no file name matches the pattern '{label}-{speaker}-{take}' (3 audio files skipped, e.g. '0_a_1.wav')");
    scan_fails(P("pflat"), "0_{label}_{take}", "needs at least two labels", "'a'");
    {
        es_dataset *d1 = NULL;
        assert_int_equal(es_dataset_scan_takes(P("pflat"), "0_{label}_{take}", &d1, NULL, &e), ES_OK);
        assert_int_equal(d1->nlabels, 1);
        assert_string_equal(d1->labels[0], "a");
        es_dataset_free(d1);
    }
    scan_fails(P("empty"), "{label}_{speaker}", P("empty"), "no audio files");
    mk("pctrl");
    wav("pctrl/0_a.wav", 1);
    wav("pctrl/\x01_a.wav", 2);
    scan_fails(P("pctrl"), "{label}_{speaker}", "control character", "\x01_a.wav");
    mk("pnoise");
    wav("pnoise/0.a.wav", 1);
    wav("pnoise/_background_noise_.a.wav", 2);
    scan_fails(P("pnoise"), "{label}.{speaker}", "reserved", NULL);
}

/* ------------------------------------------------------------ splits */

static void test_split_small(void **state)
{
    (void)state;
    mk("split");
    mk("split/yes");
    mk("split/no");
    char rel[128];
    for (int s = 0; s < 8; s++)
        for (int t = 0; t < 3; t++) {
            snprintf(rel, sizeof rel, "split/%s/%08x_nohash_%d.wav", (s + t) % 2 ? "yes" : "no", 0xabc000 + s, t);
            wav(rel, (unsigned)(s * 3 + t));
        }
    es_dataset *d;
    assert_int_equal(es_dataset_scan(P("split"), NULL, &d, NULL, NULL), ES_OK);
    assert_int_equal(d->nitems, 24);
    unsigned char val[24];
    char desc[200];
    es_error e = {0};
    assert_int_equal(es_dataset_split(d, 0.0, 1, val, desc, sizeof desc, &e), ES_ERR_ARG);
    assert_int_equal(es_dataset_split(d, 1.0, 1, val, desc, sizeof desc, &e), ES_ERR_ARG);
    assert_int_equal(es_dataset_split(d, NAN, 1, val, desc, sizeof desc, &e), ES_ERR_ARG);
    assert_int_equal(es_dataset_split(d, 0.25, 7, val, desc, sizeof desc, &e), ES_OK);
    size_t nval = 0;
    for (int i = 0; i < 24; i++) nval += val[i];
    assert_int_equal(nval, 6);   /* two speakers of three clips each */
    assert_non_null(strstr(desc, "by speaker: validation = 00abc00"));
    assert_non_null(strstr(desc, "(6 of 24 clips)"));
    /* a description too short for the list ends in (+N more) */
    char shortd[48];
    assert_int_equal(es_dataset_split(d, 0.9, 7, val, shortd, sizeof shortd, &e), ES_OK);
    assert_true(strlen(shortd) < sizeof shortd);
    nval = 0;
    for (int i = 0; i < 24; i++) nval += val[i];
    assert_int_equal(nval, 21);  /* never every speaker */
    char longd[400];
    assert_int_equal(es_dataset_split(d, 0.9, 7, val, longd, sizeof longd, &e), ES_OK);
    assert_non_null(strstr(longd, "(21 of 24 clips)"));
    assert_null(strstr(longd, "more"));
    char tiny[12];
    assert_int_equal(es_dataset_split(d, 0.5, 7, val, tiny, sizeof tiny, &e), ES_OK);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    assert_int_equal(es_dataset_split(d, 0.5, 7, val, NULL, 0, &e), ES_OK);
    /* one item without a speaker: by hash */
    char *keep = d->items[5].speaker;
    d->items[5].speaker = "";
    assert_int_equal(es_dataset_split(d, 0.5, 7, val, desc, sizeof desc, &e), ES_OK);
    assert_non_null(strstr(desc, "by file-name hash: "));
    d->items[5].speaker = keep;
    es_dataset_free(d);
}

/* ------------------------------------------------------------ FSDD */

static const char *fsdd(void)
{
    const char *p = getenv("EARSHOT_FSDD");
    struct stat st;
    if (!p || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return p;
}

static size_t split_of(const es_dataset *d, double f, uint64_t seed, unsigned char *val, char *desc, size_t dl)
{
    es_error e = {0};
    if (es_dataset_split(d, f, seed, val, desc, dl, &e)) fail_msg("%s", e.msg);
    size_t n = 0;
    for (size_t i = 0; i < d->nitems; i++) n += val[i];
    return n;
}

static void test_fsdd(void **state)
{
    (void)state;
    const char *dir = fsdd();
    if (!dir) { print_message("SKIP part: FSDD not found (set EARSHOT_FSDD to ../shared/data/fsdd)\n"); skip(); }
    es_dataset *d;
    es_error e = {0};
    size_t skipped = 1;
    if (es_dataset_scan(dir, "{label}_{speaker}_{take}", &d, &skipped, &e)) fail_msg("%s", e.msg);
    assert_int_equal(skipped, 0);
    assert_int_equal(d->nitems, 3000);
    assert_int_equal(d->nlabels, 10);
    for (int i = 0; i < 10; i++) {
        char l[2] = {(char)('0' + i), 0};
        assert_string_equal(d->labels[i], l);
        assert_int_equal(count_label(d, i), 300);
    }
    const char *spk[6] = {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"};
    for (size_t i = 0; i < d->nitems; i++) {
        int found = 0;
        for (int k = 0; k < 6; k++) found |= !strcmp(d->items[i].speaker, spk[k]);
        assert_true(found);
    }

    /* whole speakers held out, reproducibly */
    unsigned char *v1 = malloc(3000), *v2 = malloc(3000), *v3 = malloc(3000);
    char d1[256], d2[256], d3[256];
    size_t n1 = split_of(d, 0.3, 1, v1, d1, sizeof d1);
    size_t n2 = split_of(d, 0.3, 1, v2, d2, sizeof d2);
    assert_int_equal(n1, n2);
    assert_memory_equal(v1, v2, 3000);
    assert_string_equal(d1, d2);
    assert_int_equal(n1, 1000);   /* 0.3 of 3000 needs two speakers of 500 */
    print_message("FSDD split, seed 1: %s\n", d1);
    assert_non_null(strstr(d1, "by speaker: validation = "));
    assert_non_null(strstr(d1, "(1000 of 3000 clips)"));
    for (int k = 0; k < 6; k++) {
        int in_val = -1;
        for (size_t i = 0; i < 3000; i++) {
            if (strcmp(d->items[i].speaker, spk[k])) continue;
            if (in_val < 0) in_val = v1[i];
            assert_int_equal(v1[i], in_val);
        }
        assert_int_equal(in_val, strstr(d1, spk[k]) != NULL);
    }
    /* another seed, another pair of speakers */
    int differs = 0;
    for (uint64_t seed = 2; seed < 6 && !differs; seed++) {
        split_of(d, 0.3, seed, v3, d3, sizeof d3);
        differs = memcmp(v1, v3, 3000) != 0;
    }
    assert_true(differs);
    split_of(d, 0.3, 2, v3, d3, sizeof d3);
    print_message("FSDD split, seed 2: %s\n", d3);
    assert_int_equal(split_of(d, 0.5, 1, v3, NULL, 0), 1500);

    /* by hash when speakers are unknown: deterministic, about the fraction */
    es_dataset *h;
    assert_int_equal(es_dataset_scan(dir, "{label}_{who}_{take}", &h, NULL, NULL), ES_OK);
    assert_string_equal(h->items[0].speaker, "");
    n1 = split_of(h, 0.2, 42, v1, d1, sizeof d1);
    n2 = split_of(h, 0.2, 42, v2, d2, sizeof d2);
    assert_int_equal(n1, n2);
    assert_memory_equal(v1, v2, 3000);
    assert_string_equal(d1, d2);
    print_message("FSDD split without speakers, seed 42: %s\n", d1);
    assert_true(n1 > 500 && n1 < 700);
    char want[64];
    snprintf(want, sizeof want, "by file-name hash: %zu of 3000 clips", n1);
    assert_string_equal(d1, want);
    split_of(h, 0.2, 43, v3, NULL, 0);
    assert_memory_not_equal(v1, v3, 3000);
    es_dataset_free(h);

    /* an explicit validation folder: labels remapped to the training set's */
    mk("val");
    mk("val/3");
    mk("val/7");
    wav("val/3/a.wav", 1);
    wav("val/7/b.wav", 2);
    wav("val/7/c.wav", 3);
    es_dataset *vs;
    assert_int_equal(es_dataset_scan(P("val"), NULL, &vs, NULL, NULL), ES_OK);
    assert_int_equal(vs->items[0].label, 0);
    assert_int_equal(es_dataset_remap(vs, d, &e), ES_OK);
    assert_int_equal(vs->nlabels, 10);
    assert_int_equal(vs->items[0].label, 3);
    assert_int_equal(vs->items[1].label, 7);
    assert_string_equal(vs->labels[vs->items[2].label], "7");
    es_dataset_free(vs);
    mk("val/kaffee");
    wav("val/kaffee/k.wav", 4);
    assert_int_equal(es_dataset_scan(P("val"), NULL, &vs, NULL, NULL), ES_OK);
    assert_int_equal(es_dataset_remap(vs, d, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "'kaffee'"));
    assert_int_equal(vs->nlabels, 3);   /* unchanged */
    assert_int_equal(vs->items[0].label, 0);
    es_dataset_free(vs);

    free(v1);
    free(v2);
    free(v3);
    es_dataset_free(d);
}

/* ------------------------------------------------------------ cache */

static int have_models(void)
{
    char path[4096];
    return es_models_path(NULL, "embedding_model", path, sizeof path, NULL) == ES_OK &&
           es_models_path(NULL, "melspectrogram", path, sizeof path, NULL) == ES_OK;
}

static es_engine *engine(void)
{
    if (!have_models()) {
        print_message("SKIP part: pretrained models not found (run scripts/fetch-models.sh or set EARSHOT_MODELS)\n");
        return NULL;
    }
    es_error e = {0};
    es_engine *eng = es_engine_create(NULL, &e);
    if (!eng) fail_msg("%s", e.msg);
    return eng;
}

static void entry_path(es_cache *c, const char *file, double pad_to, char *out, size_t size)
{
    char key[65];
    assert_int_equal(es_cache_key(c, file, pad_to, key, NULL), ES_OK);
    assert_int_equal(strlen(key), 64);
    snprintf(out, size, "%s/%.2s/%s.npy", es_cache_dir(c), key, key);
}

static void test_cache(void **state)
{
    (void)state;
    es_engine *eng = engine();
    if (!eng) skip();
    es_error e = {0};
    es_cache *c = es_cache_open(P("cache/deep/er/"), eng, &e);
    if (!c) fail_msg("%s", e.msg);
    assert_string_equal(es_cache_dir(c), P("cache/deep/er"));
    mk("audio");
    write_wav(P("audio/a.wav"), 0.7, 8000, 3);
    float *e1, *e2;
    size_t n1, n2;
    int hit = -1;
    assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 2.0, &e1, &n1, &hit, &e), ES_OK);
    assert_int_equal(hit, 0);
    assert_int_equal(n1, 16);   /* 2 s: 197 frames, (197 - 76) / 8 + 1 */
    assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);
    assert_int_equal(n2, n1);
    assert_memory_equal(e1, e2, n1 * ES_EMB_DIM * sizeof(float));
    free(e2);

    /* the same numbers as the engine gives directly */
    es_audio a;
    es_load_opts lo = {.quantize_int16 = 1};
    assert_int_equal(es_audio_load(P("audio/a.wav"), &lo, &a, NULL), ES_OK);
    es_embed_opts eo = {.mode = ES_EMBED_WHOLE, .pad_to = 2.0};
    float *ref;
    size_t nref;
    assert_int_equal(es_embed_audio(eng, a.samples, a.n, &eo, NULL, NULL, &ref, &nref, NULL), ES_OK);
    es_audio_free(&a);
    assert_int_equal(nref, n1);
    assert_memory_equal(ref, e1, n1 * ES_EMB_DIM * sizeof(float));
    free(ref);

    /* sub-step offsets: shift 0 is the plain entry; a shift is its own
     * entry, one embedding longer, and the engine's numbers for the clip
     * delayed by that many samples with the rest of an 80 ms step after it */
    assert_int_equal(es_cache_embed_shift(c, P("audio/a.wav"), 2.0, 0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);
    assert_int_equal(n2, n1);
    assert_memory_equal(e1, e2, n1 * ES_EMB_DIM * sizeof(float));
    free(e2);
    assert_int_equal(es_cache_embed_shift(c, P("audio/a.wav"), 2.0, 480, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 0);
    assert_int_equal(n2, 17);
    assert_memory_not_equal(e1, e2, 16 * ES_EMB_DIM * sizeof(float));
    assert_int_equal(es_audio_load(P("audio/a.wav"), &lo, &a, NULL), ES_OK);
    es_embed_opts eos = {.mode = ES_EMBED_WHOLE, .pad_to = 2.0, .pad_before = 480.0 / 16000, .pad_after = 800.0 / 16000};
    assert_int_equal(es_embed_audio(eng, a.samples, a.n, &eos, NULL, NULL, &ref, &nref, NULL), ES_OK);
    es_audio_free(&a);
    assert_int_equal(nref, 17);
    assert_memory_equal(ref, e2, 17 * ES_EMB_DIM * sizeof(float));
    free(ref);
    free(e2);
    assert_int_equal(es_cache_embed_shift(c, P("audio/a.wav"), 2.0, 480, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);
    free(e2);
    assert_int_equal(es_cache_embed_shift(c, P("audio/a.wav"), 2.0, ES_CHUNK, &e2, &n2, &hit, &e), ES_ERR_ARG);
    assert_int_equal(es_cache_embed_shift(c, P("audio/a.wav"), 2.0, -1, &e2, &n2, &hit, &e), ES_ERR_ARG);
    /* speed perturbation: its own entry, other numbers, same count for a
     * clip shorter than the padding; out-of-range speeds refused */
    assert_int_equal(es_cache_embed_var(c, P("audio/a.wav"), 2.0, 0, 1.1, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 0);
    assert_int_equal(n2, 16);
    assert_memory_not_equal(e1, e2, 16 * ES_EMB_DIM * sizeof(float));
    free(e2);
    assert_int_equal(es_cache_embed_var(c, P("audio/a.wav"), 2.0, 0, 1.1, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);
    free(e2);
    assert_int_equal(es_cache_embed_var(c, P("audio/a.wav"), 2.0, 0, 1.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);   /* speed 1 is the plain entry */
    assert_memory_equal(e1, e2, 16 * ES_EMB_DIM * sizeof(float));
    free(e2);
    assert_int_equal(es_cache_embed_var(c, P("audio/a.wav"), 2.0, 0, 3.0, &e2, &n2, &hit, &e), ES_ERR_ARG);
    /* frequency warp of the front end: its own entry (the plain one is not
     * overwritten), the engine's numbers with es_embed_opts.warp, and a hit
     * the second time; warp 1 is the plain entry */
    es_cache_set_warp(c, 1.1);
    assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 0);
    assert_int_equal(n2, 16);
    assert_memory_not_equal(e1, e2, 16 * ES_EMB_DIM * sizeof(float));
    assert_int_equal(es_audio_load(P("audio/a.wav"), &lo, &a, NULL), ES_OK);
    es_embed_opts eow = {.mode = ES_EMBED_WHOLE, .pad_to = 2.0, .warp = 1.1};
    assert_int_equal(es_embed_audio(eng, a.samples, a.n, &eow, NULL, NULL, &ref, &nref, NULL), ES_OK);
    es_audio_free(&a);
    assert_int_equal(nref, 16);
    assert_memory_equal(ref, e2, 16 * ES_EMB_DIM * sizeof(float));
    free(ref);
    free(e2);
    assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);
    free(e2);
    es_cache_set_warp(c, 1.0);
    assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);
    assert_memory_equal(e1, e2, 16 * ES_EMB_DIM * sizeof(float));
    free(e2);
    es_cache_set_warp(c, 0);
    {
        const char *ps[2] = {P("audio/a.wav"), P("audio/a.wav")};
        float *es2[2];
        size_t cs[2];
        assert_int_equal(es_cache_embed_many_shift(c, ps, 2, 2.0, 480, es2, cs, NULL, NULL, NULL, &e), ES_OK);
        assert_int_equal(cs[0], 17);
        assert_int_equal(cs[1], 17);
        free(es2[0]);
        free(es2[1]);
    }

    /* the entry is a [16, 96] float32 .npy file where the key says, then
     * the 16-byte trailer of format 2 (numpy.load ignores it: test_cli) */
    char entry[2048];
    entry_path(c, P("audio/a.wav"), 2.0, entry, sizeof entry);
    float *raw;
    size_t shape[8];
    int nd;
    unsigned char *fb;
    size_t fl;
    assert_int_equal(es_read_file(entry, &fb, &fl, NULL), ES_OK);
    assert_true(fl > 16);
    assert_int_equal(es_npy_decode(entry, fb, fl - 16, &raw, shape, &nd, NULL), ES_OK);
    assert_int_equal(nd, 2);
    assert_int_equal(shape[0], 16);
    assert_int_equal(shape[1], 96);
    assert_memory_equal(raw, e1, n1 * ES_EMB_DIM * sizeof(float));
    assert_memory_equal(fb + fl - 16, "es-cache\x02\0\0\0", 12);
    free(raw);
    free(fb);
    size_t data_at = fl - 16 - n1 * ES_EMB_DIM * sizeof(float);   /* the header's length */
    /* another clip's entry of the same shape, for its bytes */
    write_wav(P("audio/other.wav"), 0.7, 8000, 9);
    assert_int_equal(es_cache_embed(c, P("audio/other.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(n2, n1);
    assert_memory_not_equal(e1, e2, n1 * ES_EMB_DIM * sizeof(float));
    free(e2);
    char other[2048];
    entry_path(c, P("audio/other.wav"), 2.0, other, sizeof other);
    unsigned char *ob;
    size_t ol;
    assert_int_equal(es_read_file(other, &ob, &ol, NULL), ES_OK);
    assert_int_equal(ol, fl);

    /* corrupt entries: truncated, garbage, wrong shape, NaN -> recomputed;
     * and what a power cut leaves of an entry renamed into place without
     * fsync: empty, or its size on disk but blocks of zeros where the data
     * did not reach the disk (ext4 data=writeback, XFS), here the file
     * from byte 512 on: a header that parses and finite numbers, which
     * were taken for embeddings. And what the checksum catches besides:
     * one bit flipped in the middle of the data (6); a block of another
     * entry's bytes where this one's did not reach the disk (7); the
     * other entry whole in this one's place (8); an entry of format 1,
     * with no trailer, under this key (9). Each parsed, was finite and
     * was a hit before the trailer. */
    for (int how = 0; how < 10; how++) {
        if (how >= 6 && how <= 8) {
            unsigned char *b;
            size_t l;
            assert_int_equal(es_read_file(entry, &b, &l, NULL), ES_OK);
            assert_int_equal(l, fl);
            if (how == 6) b[data_at + (l - 16 - data_at) / 2] ^= 0x08;   /* a mantissa bit of a float */
            if (how == 7) {
                size_t at = (data_at + 511) / 512 * 512;
                assert_true(at + 512 <= l - 16);
                assert_memory_not_equal(b + at, ob + at, 512);
                memcpy(b + at, ob + at, 512);
            }
            if (how == 8) memcpy(b, ob, l);
            FILE *f = fopen(entry, "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(b, 1, l, f), l);
            fclose(f);
            free(b);
        }
        if (how == 9) {
            float *old = malloc(n1 * ES_EMB_DIM * sizeof(float));
            for (size_t k = 0; k < n1 * ES_EMB_DIM; k++) old[k] = e1[k] * 0.5f + 0.25f;
            size_t sh[2] = {n1, ES_EMB_DIM};
            assert_int_equal(es_npy_write(entry, old, sh, 2, NULL), ES_OK);
            free(old);
        }
        if (how == 4) assert_int_equal(truncate(entry, 0), 0);
        if (how == 5) {
            struct stat sb;
            assert_int_equal(stat(entry, &sb), 0);
            assert_true(sb.st_size > 1024);
            FILE *f = fopen(entry, "r+b");
            assert_non_null(f);
            assert_int_equal(fseek(f, 512, SEEK_SET), 0);
            for (off_t k = 512; k < sb.st_size; k++) fputc(0, f);
            fclose(f);
        }
        if (how == 0) assert_int_equal(truncate(entry, 200), 0);
        if (how == 1) {
            FILE *f = fopen(entry, "wb");
            fputs("garbage", f);
            fclose(f);
        }
        if (how == 2) {
            size_t sh[2] = {8, 192};
            assert_int_equal(es_npy_write(entry, e1, sh, 2, NULL), ES_OK);
        }
        if (how == 3) {
            float *bad = malloc(n1 * ES_EMB_DIM * sizeof(float));
            memcpy(bad, e1, n1 * ES_EMB_DIM * sizeof(float));
            bad[100] = NAN;
            size_t sh[2] = {n1, ES_EMB_DIM};
            assert_int_equal(es_npy_write(entry, bad, sh, 2, NULL), ES_OK);
            free(bad);
        }
        assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
        assert_int_equal(hit, 0);
        assert_int_equal(n2, n1);
        assert_memory_equal(e1, e2, n1 * ES_EMB_DIM * sizeof(float));
        free(e2);
        assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
        assert_int_equal(hit, 1);
        free(e2);
    }
    free(ob);

    /* other padding: another key, longer output; a padding that rounds to
     * the same sample count shares the entry */
    char entry3[2048];
    entry_path(c, P("audio/a.wav"), 3.0, entry3, sizeof entry3);
    assert_string_not_equal(entry, entry3);
    assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 3.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 0);
    assert_int_equal(n2, 28);
    assert_memory_not_equal(e1, e2, 16 * ES_EMB_DIM * sizeof(float));
    free(e2);
    assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 2.00000001, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);
    free(e2);
    /* no padding: a 0.7 s clip is shorter than one window, so no embeddings */
    assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 0.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(n2, 0);
    assert_null(e2);
    assert_int_equal(es_cache_embed(c, P("audio/a.wav"), 0.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);
    assert_int_equal(n2, 0);
    /* a longer clip keeps its length */
    write_wav(P("audio/long.wav"), 2.5, 16000, 4);
    assert_int_equal(es_cache_embed(c, P("audio/long.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(n2, 22);   /* 2.5 s: 247 frames, (247 - 76) / 8 + 1 */
    free(e2);

    /* the key is the content: a copy elsewhere hits, other bytes miss */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", P("audio/a.wav"), P("audio/copy of a.wav"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(es_cache_embed(c, P("audio/copy of a.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);
    free(e2);
    write_wav(P("audio/b.wav"), 0.7, 8000, 5);
    assert_int_equal(es_cache_embed(c, P("audio/b.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
    assert_int_equal(hit, 0);
    free(e2);

    /* bad files: named in the message, nothing stored */
    assert_int_equal(es_cache_embed(c, P("audio/none.wav"), 2.0, &e2, &n2, &hit, &e), ES_ERR_IO);
    assert_non_null(strstr(e.msg, P("audio/none.wav")));
    assert_null(e2);
    text("audio/text.wav");
    assert_int_not_equal(es_cache_embed(c, P("audio/text.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
    assert_non_null(strstr(e.msg, P("audio/text.wav")));
    FILE *f = fopen(P("audio/zero.wav"), "wb");
    fclose(f);
    assert_int_not_equal(es_cache_embed(c, P("audio/zero.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
    assert_non_null(strstr(e.msg, P("audio/zero.wav")));
    assert_int_equal(es_cache_embed(c, P("audio/a.wav"), -1.0, &e2, &n2, &hit, &e), ES_ERR_ARG);
    assert_int_equal(es_cache_embed(c, NULL, 2.0, &e2, &n2, &hit, &e), ES_ERR_ARG);
    assert_int_equal(es_cache_write_failures(c, NULL, 0), 0);
    es_cache_close(c);

    /* an entry that cannot be stored: the result is still right, and the
     * failure is counted with its reason */
    es_cache *ro = es_cache_open(P("cache_ro"), eng, &e);
    assert_non_null(ro);
    char key[65], blocker[1200];
    assert_int_equal(es_cache_key(ro, P("audio/a.wav"), 2.0, key, NULL), ES_OK);
    snprintf(blocker, sizeof blocker, "%s/%.2s", P("cache_ro"), key);
    f = fopen(blocker, "w");   /* a file where the entry's folder should be */
    fclose(f);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(es_cache_embed(ro, P("audio/a.wav"), 2.0, &e2, &n2, &hit, &e), ES_OK);
        assert_int_equal(hit, 0);
        assert_memory_equal(e1, e2, n1 * ES_EMB_DIM * sizeof(float));
        free(e2);
    }
    char why[512];
    assert_int_equal(es_cache_write_failures(ro, why, sizeof why), 2);
    assert_non_null(strstr(why, blocker));
    es_cache_close(ro);

    /* NULL dir: $EARSHOT_CACHE, created */
    setenv("EARSHOT_CACHE", P("envcache"), 1);
    c = es_cache_open(NULL, eng, &e);
    assert_non_null(c);
    assert_string_equal(es_cache_dir(c), P("envcache"));
    struct stat st;
    assert_int_equal(stat(P("envcache"), &st), 0);
    es_cache_close(c);
    unsetenv("EARSHOT_CACHE");
    /* a cache path that cannot be a directory */
    text("notadir");
    assert_null(es_cache_open(P("notadir/sub"), eng, &e));
    assert_non_null(strstr(e.msg, P("notadir")));
    assert_null(es_cache_open(P("x"), NULL, &e));
    free(e1);
    es_engine_free(eng);
}

typedef struct {
    size_t calls, last_done, last_hits;
    int monotonic;
} progress_log;

static void on_progress(void *user, size_t done, size_t total, size_t hits)
{
    progress_log *p = user;
    if (done != p->last_done + 1 || hits < p->last_hits || done > total) p->monotonic = 0;
    p->calls++;
    p->last_done = done;
    p->last_hits = hits;
}

/* The cache remembers each file's hash by its identity and times while
 * it is open (a train looks a clip up once per front end, shift and
 * speed): a file rewritten in place, or another renamed over it, must be
 * hashed again, not keyed by what it held. The files are left to settle
 * first (the cache does not remember a file changed in the last 3 s). */
static void test_cache_memo(void **state)
{
    (void)state;
    es_engine *eng = engine();
    if (!eng) skip();
    es_error e = {0};
    es_cache *c = es_cache_open(P("cache_memo"), eng, &e);
    if (!c) fail_msg("%s", e.msg);
    mk("memo");
    write_wav(P("memo/m.wav"), 0.7, 8000, 11);
    write_wav(P("memo/n.wav"), 0.7, 8000, 12);
    write_wav(P("memo/o.wav"), 0.7, 8000, 13);
    sleep(4);
    float *em, *en, *eo, *x;
    size_t k, kn;
    int hit;
    assert_int_equal(es_cache_embed(c, P("memo/n.wav"), 2.0, &en, &kn, &hit, &e), ES_OK);
    assert_int_equal(es_cache_embed(c, P("memo/o.wav"), 2.0, &eo, &k, &hit, &e), ES_OK);
    assert_int_equal(k, kn);
    assert_int_equal(es_cache_embed(c, P("memo/m.wav"), 2.0, &em, &k, &hit, &e), ES_OK);
    assert_int_equal(hit, 0);
    assert_int_equal(k, kn);
    assert_int_equal(es_cache_embed(c, P("memo/m.wav"), 2.0, &x, &k, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);
    assert_memory_equal(x, em, k * ES_EMB_DIM * sizeof(float));
    free(x);
    /* n's bytes written over m's (same size, same inode) */
    unsigned char *b;
    size_t len;
    assert_int_equal(es_read_file(P("memo/n.wav"), &b, &len, NULL), ES_OK);
    FILE *f = fopen(P("memo/m.wav"), "r+b");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
    free(b);
    assert_int_equal(es_cache_embed(c, P("memo/m.wav"), 2.0, &x, &k, &hit, &e), ES_OK);
    assert_int_equal(hit, 1);   /* n's entry */
    assert_memory_equal(x, en, k * ES_EMB_DIM * sizeof(float));
    free(x);
    /* o renamed over m (another inode) */
    assert_int_equal(rename(P("memo/o.wav"), P("memo/m.wav")), 0);
    assert_int_equal(es_cache_embed(c, P("memo/m.wav"), 2.0, &x, &k, &hit, &e), ES_OK);
    assert_memory_equal(x, eo, k * ES_EMB_DIM * sizeof(float));
    free(x);
    free(em);
    free(en);
    free(eo);
    es_cache_close(c);
    es_engine_free(eng);
}

/* Leftovers are judged by the process tag in their names (pid and start
 * time): a pid reused by a live process, or this process's own pid in a
 * name of a run before a container restart, names a leftover. Before, any
 * live pid (and our own) kept a temporary "busy" for as long as it ran. */
static void test_cache_sweep_tags(void **state)
{
    (void)state;
    char mine[ES_PROC_TAG_MAX], name[512];
    es_proc_tag(mine);
    const char *dash = strchr(mine, '-');
    if (!dash) skip();   /* no /proc: tags are pids alone */
    unsigned long long start = strtoull(dash + 1, NULL, 10);
    long pid = (long)getpid(), parent = (long)getppid();
    assert_int_equal(es_tag_state(mine), ES_TAG_LIVE);
    snprintf(name, sizeof name, "%ld", pid);
    assert_int_equal(es_tag_state(name), ES_TAG_LIVE);   /* an older earshot's name: the pid decides */
    snprintf(name, sizeof name, "%ld-%llu", pid, start + 1);
    assert_int_equal(es_tag_state(name), ES_TAG_GONE);
    snprintf(name, sizeof name, "%ld", parent);
    assert_int_equal(es_tag_state(name), ES_TAG_LIVE);
    snprintf(name, sizeof name, "%ld-1", parent);
    assert_int_equal(es_tag_state(name), ES_TAG_GONE);
    const char *none[] = {"", "-", "12-", "-12", "0", "0-5", "12-0", "12a", "12-5x", "12 ", "+12", "99999999999999"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++) assert_int_equal(es_tag_state(none[i]), ES_TAG_NONE);

    const char *k64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    mk("sweep");
    mk("sweep/01");
    char f[4][600];
    snprintf(f[0], sizeof f[0], "%s/%s.npy.tmp.%s", P("sweep/01"), k64, mine);
    snprintf(f[1], sizeof f[1], "%s/%s.npy.tmp.%ld-%llu", P("sweep/01"), k64, pid, start + 1);
    snprintf(f[2], sizeof f[2], "%s/%s.npy.tmp.%ld-1", P("sweep/01"), k64, parent);
    snprintf(f[3], sizeof f[3], "%s/%s.npy.tmp.%ld", P("sweep/01"), k64, parent);
    for (int i = 0; i < 4; i++) {
        FILE *fp = fopen(f[i], "wb");
        assert_non_null(fp);
        fclose(fp);
    }
    es_cache_tally t;
    memset(&t, 0, sizeof t);
    es_cache_sweep(P("sweep"), ES_CACHE_TIDY, &t);
    assert_int_equal(t.busy, 2);
    assert_int_equal(t.stale, 2);
    assert_int_equal(t.stale_removed, 2);
    assert_int_equal(t.other, 0);
    assert_int_equal(access(f[0], F_OK), 0);
    assert_int_not_equal(access(f[1], F_OK), 0);
    assert_int_not_equal(access(f[2], F_OK), 0);
    assert_int_equal(access(f[3], F_OK), 0);
}

static void test_cache_many(void **state)
{
    (void)state;
    es_engine *eng = engine();
    if (!eng) skip();
    enum { N = 21 };
    char *paths[N];
    const char *dir = fsdd();
    /* the generated clips and the missing file both live in many/ */
    mkdir(P("many"), 0755);
    if (!dir) print_message("FSDD not found: using generated clips\n");
    for (int i = 0; i < N - 1; i++) {
        paths[i] = malloc(1200);
        if (dir) snprintf(paths[i], 1200, "%s/%d_%s_%d.wav", dir, i % 10, i % 2 ? "theo" : "jackson", i);
        else {
            snprintf(paths[i], 1200, "%s/g%d.wav", P("many"), i);
            write_wav(paths[i], 0.3 + 0.1 * i, 8000, (unsigned)i + 100);
        }
    }
    paths[N - 1] = malloc(1200);
    snprintf(paths[N - 1], 1200, "%s", P("many/missing.wav"));

    es_error e = {0};
    es_cache *a = es_cache_open(P("cache_many_a"), eng, &e), *b = es_cache_open(P("cache_many_b"), eng, &e);
    assert_non_null(a);
    assert_non_null(b);
    float *embs[N];
    size_t counts[N];
    es_status st[N];
    progress_log log = {0, 0, 0, 1};
    es_status s = es_cache_embed_many(a, (const char *const *)paths, N, 2.0, embs, counts, st, on_progress, &log, &e);
    assert_int_equal(s, ES_ERR_IO);   /* the missing file */
    assert_non_null(strstr(e.msg, "missing.wav"));
    assert_int_equal(st[N - 1], ES_ERR_IO);
    assert_null(embs[N - 1]);
    assert_int_equal(log.calls, N);
    assert_int_equal(log.last_done, N);
    assert_int_equal(log.last_hits, 0);
    assert_true(log.monotonic);
    for (int i = 0; i < N - 1; i++) {
        assert_int_equal(st[i], ES_OK);
        float *one;
        size_t n;
        int hit;
        assert_int_equal(es_cache_embed(b, paths[i], 2.0, &one, &n, &hit, &e), ES_OK);
        assert_int_equal(hit, 0);
        assert_int_equal(n, counts[i]);
        assert_true(n >= 16);
        assert_memory_equal(one, embs[i], n * ES_EMB_DIM * sizeof(float));
        free(one);
        free(embs[i]);
    }
    /* warm: every file a hit, the same numbers */
    log = (progress_log){0, 0, 0, 1};
    s = es_cache_embed_many(a, (const char *const *)paths, N - 1, 2.0, embs, counts, NULL, on_progress, &log, &e);
    assert_int_equal(s, ES_OK);
    assert_int_equal(log.last_hits, N - 1);
    for (int i = 0; i < N - 1; i++) {
        float *one;
        size_t n;
        int hit;
        assert_int_equal(es_cache_embed(b, paths[i], 2.0, &one, &n, &hit, &e), ES_OK);
        assert_int_equal(hit, 1);
        assert_memory_equal(one, embs[i], n * ES_EMB_DIM * sizeof(float));
        free(one);
        free(embs[i]);
    }
    assert_int_equal(es_cache_embed_many(a, NULL, 0, 2.0, NULL, NULL, NULL, NULL, NULL, &e), ES_OK);
    for (int i = 0; i < N; i++) free(paths[i]);
    es_cache_close(a);
    es_cache_close(b);
    es_engine_free(eng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_layout), cmocka_unit_test(test_sc_speaker), cmocka_unit_test(test_pattern),
        cmocka_unit_test(test_bad_input),     cmocka_unit_test(test_other_formats), cmocka_unit_test(test_idset_linear),     cmocka_unit_test(test_split_small), cmocka_unit_test(test_fsdd),
        cmocka_unit_test(test_cache),         cmocka_unit_test(test_cache_many),
        cmocka_unit_test(test_cache_sweep_tags),  cmocka_unit_test(test_cache_memo),
    };
    return cmocka_run_group_tests_name("dataset", tests, setup, teardown);
}
