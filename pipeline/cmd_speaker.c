/*
 * earshot enroll / identify / verify — who is speaking, with speaker
 * profiles (pipeline/speaker.c describes the representation).
 */
#include "cli.h"
#include "es_internal.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/file.h>

/* The automatic threshold is the equal-error point measured on FSDD, and
 * with one take per speaker and no background that point is 0: the scores
 * do not separate voices, and verify accepts anyone (every score is >= 0).
 * Say so where the profile is made and where it is used, rather than let
 * a 0.00 pass. */
#define SPK_THRESHOLD_WEAK 0.005
static void warn_weak_threshold(const es_speakers *s, const char *prof)
{
    if (es_speakers_threshold_is_set(s) || !(es_speakers_threshold(s) < SPK_THRESHOLD_WEAK)) return;
    size_t takes = 0, S = es_speakers_count(s);
    for (size_t i = 0; i < S; i++) takes += es_speakers_takes(s, i);
    double k = S ? (double)takes / (double)S : 0;
    fprintf(stderr,
            "earshot: warning: %s: the automatic threshold %.2f (%.3g take%s per speaker, no background)\n"
            "  accepts anyone: enroll 5 or more takes per speaker, or add --background synth\n",
            prof, es_speakers_threshold(s), k, k == 1 ? "" : "s");
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

/* the representation of one input, or prints the error */
static int features_of(const cli_common *c, es_engine *eng, const char *path, float *f)
{
    es_audio a = {0};
    es_error e = {0};
    if (cli_load(c, path, &a, &e)) { cli_error(&e); return -1; }
    es_status st = es_speaker_features(eng, a.samples, a.n, f, &e);
    es_audio_free(&a);
    if (st) { fprintf(stderr, "earshot: %s: %s\n", path, e.msg); return -1; }
    return 0;
}

static int parse_threshold(const char *s, double *t)
{
    if (cli_parse_double(s, 0, 1, t)) { fprintf(stderr, "earshot: --threshold must be a score from 0 to 1, not '%s'\n", s); return -1; }
    return 0;
}

/* Read-modify-write of a profile takes turns: two enrolls into one file at
 * once each read the old file and renamed their own over it, and one
 * speaker was lost. The lock is on the folder (the file itself is replaced
 * by rename, so a lock on it would guard a file no longer there); it is
 * released when the process ends. -1 with a message if it cannot be had. */
static int lock_folder_of(const char *path)
{
    /* The folder the file is really written in: es_atomic_begin resolves
     * a symbolic link as the write will. The link's own folder was locked
     * before, so an enroll through a link in another folder and one by
     * the file's name took different locks, and one speaker was lost. */
    es_atomic a;
    es_error e = {0};
    if (es_atomic_begin(&a, path, &e)) { fprintf(stderr, "earshot: -p %s\n", e.msg); return -1; }
    char *dup = strdup(a.path);
    es_atomic_abort(&a);   /* only names it: nothing was created */
    if (!dup) { fprintf(stderr, "earshot: out of memory\n"); return -1; }
    const char *dir = dirname(dup);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) { fprintf(stderr, "earshot: %s: cannot open its folder %s: %s\n", path, dir, strerror(errno)); free(dup); return -1; }
    free(dup);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "earshot: %s: waiting for another earshot writing in its folder\n", path);
        if (flock(fd, LOCK_EX) != 0) { fprintf(stderr, "earshot: %s: cannot lock its folder: %s\n", path, strerror(errno)); close(fd); return -1; }
    }
    return fd;
}

/* `--background synth`: 64 voices x 20 takes, as measured in bench/README.md */
#define SYNTH_VOICES 64
#define SYNTH_TAKES 20
#define SYNTH_SEED 7

static void on_bg_progress(void *user, const char *stage, size_t done, size_t total)
{
    (void)user;
    fprintf(stderr, "\r%s: %zu/%zu clips   %s", stage, done, total, done == total ? "\n" : "");
}

static void enroll_help(FILE *f)
{
    fprintf(f,
            "usage: earshot enroll --name NAME -p PROFILES FILE...\n"
            "       earshot enroll --background DIR -p PROFILES [--name NAME FILE...]\n"
            "       earshot enroll --remove NAME -p PROFILES\n"
            "       earshot enroll --threshold X|auto -p PROFILES\n"
            "\n"
            "Adds a speaker (or more takes of one) to a speaker profile file, created if\n"
            "missing and rewritten atomically. A few takes of any words are enough; more\n"
            "takes, and takes of different words, identify better (6 FSDD speakers, 5\n"
            "takes: 0.97, with or without `--background synth`; 0.99 with 10 takes).\n"
            "A FILE that is a folder stands for every audio file under it.\n"
            "\n"
            "  -n, --name NAME      the speaker\n"
            "  -p, --profiles FILE  the profile file (.safetensors)\n"
            "  --replace            drop the speaker's earlier takes first\n"
            "  --background DIR     speech by several other speakers (one folder per\n"
            "                       speaker, or flat with --background-pattern): how a\n"
            "                       voice varies from word to word, stored in the profile\n"
            "                       and used for every speaker (recordings of real\n"
            "                       people help most); --name and FILEs may then be\n"
            "                       left out if the profile has speakers already\n"
            "  --background synth   the same from 64 synthetic voices earshot makes\n"
            "                       itself (espeak-ng, flite; 20-60 s; synth:N\n"
            "                       for N voices of 20 takes): FSDD, 1\n"
            "                       and 3 takes: 0.76 -> 0.79, 0.92 -> 0.94; a lone\n"
            "                       speaker verifies much better with it\n"
            "  --background-pattern P  e.g. '{label}_{speaker}_{take}'\n"
            "  --threshold X        store this decision threshold (a score from 0 to 1,\n"
            "                       or 'auto' for automatic again: the equal-error\n"
            "                       points measured on FSDD, which rise with the takes\n"
            "                       per speaker; at 5 takes 0.43 without a background,\n"
            "                       0.75 with one, for a lone speaker 0.20 and 0.71)\n"
            "  --remove NAME        drop a speaker and its takes (then no FILEs)\n"
            "A take already enrolled for the speaker (the same audio) is skipped; one\n"
            "enrolled for another speaker is refused. A take with no sound is refused.\n"
            CLI_COMMON_HELP);
}

int cmd_enroll(int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, 0, 'n'}, {"profiles", required_argument, 0, 'p'}, {"replace", no_argument, 0, 'R'},
        {"threshold", required_argument, 0, 'T'}, {"background", required_argument, 0, 'G'},
        {"background-pattern", required_argument, 0, 'P'}, {"remove", required_argument, 0, 'X'},
        {"help", no_argument, 0, 'h'}, CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    const char *name = NULL, *prof = NULL, *bg = NULL, *bgpat = NULL, *rm = NULL;
    int replace = 0, opt, r, have_t = 0;
    double thr = 0;
    while ((opt = getopt_long(argc, argv, "n:p:t:qh", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 'n': name = optarg; break;
        case 'p': prof = optarg; break;
        case 'R': replace = 1; break;
        case 'G': bg = optarg; break;
        case 'P': bgpat = optarg; break;
        case 'T':
            if (!strcmp(optarg, "auto")) thr = NAN;
            else if (parse_threshold(optarg, &thr)) return EXIT_USAGE;
            have_t = 1;
            break;
        case 'X': rm = optarg; break;
        case 'h': enroll_help(stdout); return EXIT_OK;
        default: return cli_bad_option("enroll", argv, opts);
        }
    }
    /* what may come alone: a background, a threshold or a removal change a
     * profile that has speakers already */
    int alone = bg || have_t || rm;
    if (!prof || (!alone && (!name || optind >= argc)) || (!name != (optind >= argc))) {
        fprintf(stderr, "earshot enroll: %s\n\n", !prof ? "missing -p PROFILES" : !name ? "missing --name NAME" : "no audio files");
        enroll_help(stderr);
        return EXIT_USAGE;
    }
    if (rm && (name || bg)) {
        fprintf(stderr, "earshot enroll: --remove drops a speaker; add or replace takes in another run\n");
        return EXIT_USAGE;
    }
    if (bgpat && !bg) { fprintf(stderr, "earshot enroll: --background-pattern names the files of --background DIR; add it\n"); return EXIT_USAGE; }
    if (cli_check_out(prof, "-p")) return EXIT_USAGE;
    if (!bg && !name && !file_exists(prof)) {
        fprintf(stderr, "earshot enroll: %s: no such profile file to change\n", prof);
        return EXIT_FAIL;
    }
    es_error e = {0};
    if (name && es_speaker_name_check(name, &e)) { fprintf(stderr, "earshot enroll: --name: %s\n", e.msg); return EXIT_USAGE; }
    /* a folder of takes stands for the audio files under it */
    char **files = NULL;
    int nfiles = 0;
    if (cli_expand_folders(argv + optind, argc - optind, &files, &nfiles)) return EXIT_FAIL;
    es_engine *eng = cli_engine(&c);
    if (!eng) { cli_free_files(files, nfiles); return EXIT_FAIL; }
    int rc = EXIT_FAIL, lock = -1;
    size_t n = (size_t)nfiles;   /* 0 with --background alone */
    float *F = malloc((n + 1) * ES_SPK_DIM * sizeof(float));
    es_speakers *s = NULL;
    size_t before = 0;
    /* the takes first (the slow part, and it needs no lock), then the
     * profile is read, changed and written under the folder's lock */
    for (size_t i = 0; F && i < n; i++)
        if (features_of(&c, eng, files[i], F + i * ES_SPK_DIM)) goto out;
    if ((lock = lock_folder_of(prof)) < 0) goto out;
    s = file_exists(prof) ? es_speakers_load(prof, eng, &e) : es_speakers_new(eng, &e);
    if (!s || !F) { if (!F) fprintf(stderr, "earshot: out of memory\n"); else cli_error(&e); goto out; }
    if (name && !replace && es_speakers_find(s, name) < es_speakers_count(s)) before = es_speakers_takes(s, es_speakers_find(s, name));
    if (rm && es_speakers_remove(s, rm, &e)) { fprintf(stderr, "earshot: %s: %s\n", prof, e.msg); goto out; }
    if (bg) {
        int tty = !c.quiet && isatty(2);
        /* "synth" or "synth:VOICES": earshot's own synthetic voices (a
         * folder of that name is ./synth) */
        int synth = !strcmp(bg, "synth") || !strncmp(bg, "synth:", 6), voices = SYNTH_VOICES;
        if (synth && bg[5] && (sscanf(bg + 6, "%d", &voices) != 1 || voices < 2 || voices > 1024 || strspn(bg + 6, "0123456789") != strlen(bg + 6))) {
            fprintf(stderr, "earshot enroll: --background %s: synth:VOICES wants 2 to 1024 voices\n", bg);
            rc = EXIT_USAGE;
            goto out;
        }
        if (synth ? es_speakers_background_synth(s, eng, voices, SYNTH_TAKES, SYNTH_SEED, have_t, tty ? on_bg_progress : NULL,
                                                 NULL, &e)
                  : es_speakers_background_from_dir(s, eng, bg, bgpat, have_t, tty ? on_bg_progress : NULL, NULL, &e)) {
            cli_error(&e);
            goto out;
        }
    }
    if (name && es_speakers_enroll(s, name, F, n, replace, &e)) {
        size_t t = 0;
        /* the library counts takes; the user knows files */
        if (sscanf(e.msg, "take %zu of", &t) == 1 && t >= 1 && t <= n) fprintf(stderr, "earshot: %s: %s\n", files[t - 1], e.msg);
        else cli_error(&e);
        goto out;
    }
    if (have_t && es_speakers_set_threshold(s, thr, &e)) {
        cli_error(&e);
        goto out;
    }
    if (!es_speakers_count(s)) {
        fprintf(stderr, "earshot: %s: a profile file needs at least one speaker: add --name NAME FILE...\n", prof);
        goto out;
    }
    if (es_speakers_save(s, prof, &e)) { cli_error(&e); goto out; }
    if (bg) printf("background: %s\n", es_speakers_background(s));
    if (rm) printf("removed %s; ", rm);
    if (name) {
        size_t k = es_speakers_find(s, name), now = es_speakers_takes(s, k), added = now - before;
        printf("enrolled %s: %zu take%s (%zu new", name, now, now == 1 ? "" : "s", added);
        if (added < n) printf(", %zu already enrolled", n - added);
        printf("); ");
    }
    printf("%s holds %zu speaker%s, threshold %.2f%s\n", prof, es_speakers_count(s), es_speakers_count(s) == 1 ? "" : "s",
           es_speakers_threshold(s), es_speakers_threshold_is_set(s) ? "" : " (automatic)");
    if (es_speakers_count(s)) warn_weak_threshold(s, prof);
    rc = EXIT_OK;
out:
    if (lock >= 0) close(lock);
    free(F);
    cli_free_files(files, nfiles);
    es_speakers_free(s);
    es_engine_free(eng);
    return rc;
}

static void identify_help(FILE *f)
{
    fprintf(f,
            "usage: earshot identify [options] PROFILES FILE...\n"
            "\n"
            "Names the closest enrolled speaker of each file with its score (0..1, 1 =\n"
            "at the speaker's centre), or 'unknown' when the best score is below the\n"
            "threshold.\n"
            "One line per file: FILE<TAB>SPEAKER<TAB>SCORE[<TAB>closest SPEAKER]; a FILE\n"
            "that is a folder stands for every audio file under it.\n"
            "\n"
            "  --threshold X   decision threshold (default: the profile file's)\n"
            "  --all           also print every speaker's score\n"
            CLI_COMMON_HELP);
}

int cmd_identify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"threshold", required_argument, 0, 'T'}, {"all", no_argument, 0, 'a'}, {"help", no_argument, 0, 'h'},
        CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    int opt, r, have_t = 0, all = 0;
    double thr = 0;
    while ((opt = getopt_long(argc, argv, "t:qh", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 'T': if (parse_threshold(optarg, &thr)) return EXIT_USAGE; have_t = 1; break;
        case 'a': all = 1; break;
        case 'h': identify_help(stdout); return EXIT_OK;
        default: return cli_bad_option("identify", argv, opts);
        }
    }
    if (argc - optind < 2) {
        fprintf(stderr, "earshot identify: give PROFILES and at least one FILE\n\n");
        identify_help(stderr);
        return EXIT_USAGE;
    }
    /* a folder stands for the audio files under it, a line each */
    char **files = NULL;
    int nfiles = 0;
    if (cli_expand_folders(argv + optind + 1, argc - optind - 1, &files, &nfiles)) return EXIT_FAIL;
    es_engine *eng = cli_engine(&c);
    if (!eng) { cli_free_files(files, nfiles); return EXIT_FAIL; }
    es_error e = {0};
    int rc = EXIT_OK;
    es_speakers *s = es_speakers_load(argv[optind], eng, &e);
    float *sc = s ? malloc(es_speakers_count(s) * sizeof(float)) : NULL;
    if (!s || !sc || (have_t && es_speakers_set_threshold(s, thr, &e))) { cli_error(&e); rc = EXIT_FAIL; goto out; }
    for (int i = 0; i < nfiles; i++) {
        float f[ES_SPK_DIM], best_s;
        int best;
        if (features_of(&c, eng, files[i], f)) { rc = EXIT_FAIL; continue; }
        if (es_speakers_score(s, f, sc, &best, &best_s, &e)) { cli_error(&e); rc = EXIT_FAIL; continue; }
        size_t b = 0;
        for (size_t k = 1; k < es_speakers_count(s); k++) if (sc[k] > sc[b]) b = k;
        cli_tsv_put(files[i]);
        if (best >= 0) printf("\t%s\t%.4f", es_speakers_name(s, (size_t)best), best_s);
        else printf("\tunknown\t%.4f\tclosest %s", best_s, es_speakers_name(s, b));
        if (all)
            for (size_t k = 0; k < es_speakers_count(s); k++) printf("\t%s=%.4f", es_speakers_name(s, k), sc[k]);
        printf("\n");
    }
out:
    free(sc);
    cli_free_files(files, nfiles);
    es_speakers_free(s);
    es_engine_free(eng);
    return rc;
}

static void verify_help(FILE *f)
{
    fprintf(f,
            "usage: earshot verify [options] PROFILES --name NAME FILE\n"
            "\n"
            "Accepts or rejects the claim that NAME speaks in FILE; prints\n"
            "'accept' or 'reject', the score (0..1) and the threshold. The default\n"
            "threshold follows the profile (see earshot enroll --help): the equal-error\n"
            "points measured on FSDD, which rise with the takes per speaker (with 1\n"
            "take and no background it is 0, which accepts anyone: a warning says\n"
            "so). Exit status 0 = accept, 3 = reject.\n"
            "\n"
            "  -n, --name NAME   the claimed speaker\n"
            "  --threshold X     decision threshold (default: the profile file's)\n"
            CLI_COMMON_HELP);
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, 0, 'n'}, {"threshold", required_argument, 0, 'T'}, {"help", no_argument, 0, 'h'},
        CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    const char *name = NULL;
    int opt, r, have_t = 0;
    double thr = 0;
    while ((opt = getopt_long(argc, argv, "n:t:qh", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 'n': name = optarg; break;
        case 'T': if (parse_threshold(optarg, &thr)) return EXIT_USAGE; have_t = 1; break;
        case 'h': verify_help(stdout); return EXIT_OK;
        default: return cli_bad_option("verify", argv, opts);
        }
    }
    if (!name || argc - optind != 2) {
        fprintf(stderr, "earshot verify: %s\n\n", !name ? "missing --name NAME" : "give PROFILES and one FILE");
        verify_help(stderr);
        return EXIT_USAGE;
    }
    es_engine *eng = cli_engine(&c);
    if (!eng) return EXIT_FAIL;
    es_error e = {0};
    int rc = EXIT_FAIL;
    es_audio a = {0};
    es_speakers *s = es_speakers_load(argv[optind], eng, &e);
    if (!s || (have_t && es_speakers_set_threshold(s, thr, &e))) { cli_error(&e); goto out; }
    /* a name the profiles lack is the profiles' matter, not the clip's:
     * say so before reading any audio, with the names there are */
    if (es_speakers_find(s, name) == es_speakers_count(s)) {
        fprintf(stderr, "earshot: %s: speaker '%s' is not enrolled (enrolled:", argv[optind], name);
        for (size_t i = 0; i < es_speakers_count(s); i++) fprintf(stderr, "%s %s", i ? "," : "", es_speakers_name(s, i));
        fprintf(stderr, "%s)\n", es_speakers_count(s) ? "" : " none");
        goto out;
    }
    warn_weak_threshold(s, argv[optind]);
    if (cli_load(&c, argv[optind + 1], &a, &e)) { cli_error(&e); goto out; }
    float score;
    int accept;
    if (es_speaker_verify(s, eng, name, a.samples, a.n, &score, &accept, &e)) {
        fprintf(stderr, "earshot: %s: %s\n", argv[optind + 1], e.msg);
        goto out;
    }
    printf("%s\t%s\t%.4f\tthreshold %.4f\n", accept ? "accept" : "reject", name, score, es_speakers_threshold(s));
    rc = accept ? EXIT_OK : 3;
out:
    es_audio_free(&a);
    es_speakers_free(s);
    es_engine_free(eng);
    return rc;
}
