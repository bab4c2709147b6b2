/*
 * earshot embed — per input file, the encoder's embeddings [n, 96] (or the
 * scaled log-mel [frames, 32] with --mel) as a float32 .npy file.
 *
 * Defaults match openWakeWord's embed_clips on the same audio: int16
 * samples, log-mel over the whole clip, a 76-frame window every 8 frames,
 * no padding.
 */
#include "cli.h"
#include "es_internal.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* Files longer than this (by their header) are read a piece at a time. */
#define LONG_S 30.0

static void help(FILE *f)
{
    fprintf(f,
            "usage: earshot embed [options] FILE... -o DIR\n"
            "\n"
            "Writes DIR/<name>.npy per input: float32 embeddings [n, 96], one per 80 ms\n"
            "(numpy.load reads them). Defaults match openWakeWord's embed_clips. A FILE\n"
            "that is a folder stands for every audio file under it.\n"
            "\n"
            "  -o, --output DIR   output directory (created if missing)\n"
            "  --mel              write the scaled log-mel [frames, 32] instead\n"
            "  --stream           streaming computation (mel per 80 ms chunk, as live)\n"
            "  --pad S            add S seconds of silence before and after\n"
            "  --pad-to S         centre each clip in S seconds of silence\n"
            CLI_COMMON_HELP);
}

typedef struct {
    char *out;   /* DIR/<name>.npy */
    int in;      /* its input */
} target;

static int cmp_target(const void *a, const void *b)
{
    const target *x = a, *y = b;
    int c = strcmp(x->out, y->out);
    return c ? c : (x->in > y->in) - (x->in < y->in);
}

/* DIR/<basename without extension>.npy */
static void out_name(const char *dir, const char *in, char *buf, size_t size)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", strcmp(in, "-") ? in : "stdin");
    char *base = basename(tmp);
    char *dot = strrchr(base, '.');
    if (dot && dot != base) *dot = 0;
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;   /* "emb/" -> "emb" */
    snprintf(buf, size, "%.*s/%s.npy", (int)dl, dir, base);
}

int cmd_embed(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"mel", no_argument, 0, 'm'}, {"stream", no_argument, 0, 's'},
        {"pad", required_argument, 0, 'p'}, {"pad-to", required_argument, 0, 'P'}, {"help", no_argument, 0, 'h'},
        CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    const char *outdir = NULL;
    int want_mel = 0;
    es_embed_opts eo = {0};
    int opt, r;
    while ((opt = getopt_long(argc, argv, "o:t:qh", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 'o': outdir = optarg; break;
        case 'm': want_mel = 1; break;
        case 's': eo.mode = ES_EMBED_STREAM; break;
        case 'p':
            if (cli_parse_double(optarg, 0, 3600, &eo.pad_before)) {
                fprintf(stderr, "earshot: --pad must be seconds from 0 to 3600, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            eo.pad_after = eo.pad_before;
            break;
        case 'P':
            if (cli_parse_double(optarg, 0, 3600, &eo.pad_to)) {
                fprintf(stderr, "earshot: --pad-to must be seconds from 0 to 3600, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h': help(stdout); return EXIT_OK;
        default: return cli_bad_option("embed", argv, opts);
        }
    }
    if (!outdir || optind >= argc) {
        fprintf(stderr, "earshot embed: %s\n\n", !outdir ? "missing -o DIR" : "no input files");
        help(stderr);
        return EXIT_USAGE;
    }
    /* else "earshot: : not a directory", which names nothing */
    if (!*outdir) { fprintf(stderr, "earshot embed: -o: an empty folder name\n"); return EXIT_USAGE; }
    /* a folder stands for the audio files under it */
    char **in = NULL;
    int nin = 0;
    if (cli_expand_folders(argv + optind, argc - optind, &in, &nin)) return EXIT_FAIL;
    /* each input's output, and a copy sorted by name: two inputs that
     * would write the same .npy are neighbours there, so a folder of
     * thousands is checked at once */
    int rc = EXIT_FAIL, made = 0, failed = 0;
    es_engine *eng = NULL;
    char **outs = calloc((size_t)nin, sizeof *outs);
    target *byname = malloc((size_t)nin * sizeof *byname);
    for (int i = 0; outs && byname && i < nin; i++) {
        char buf[4200];
        out_name(outdir, in[i], buf, sizeof buf);
        if (!(outs[i] = strdup(buf))) break;
        byname[i] = (target){outs[i], i};
    }
    if (!outs || !byname || (nin && !outs[nin - 1])) { fprintf(stderr, "earshot: out of memory\n"); goto done; }
    qsort(byname, (size_t)nin, sizeof *byname, cmp_target);
    for (int k = 1; k < nin; k++)
        if (!strcmp(byname[k - 1].out, byname[k].out)) {
            fprintf(stderr, "earshot embed: '%s' and '%s' would both write %s; embed them into different directories\n",
                    in[byname[k - 1].in], in[byname[k].in], byname[k].out);
            rc = EXIT_USAGE;
            goto done;
        }
    struct stat st;
    /* made: the folder is ours, removed again if nothing lands in it */
    if (stat(outdir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "earshot: %s: exists and is not a directory\n", outdir);
        goto done;
    }
    if (!(eng = cli_engine(&c))) goto done;
    if (stat(outdir, &st) != 0) {
        es_error me = {0};
        if (es_make_dirs(outdir, &me)) { cli_error(&me); goto done; }
        made = 1;
    } else {
        es_atomic_remove_stale_in(outdir, 0);   /* of a run killed by SIGKILL */
    }
    es_dirsync_defer_begin();   /* -o's folder synced once, after the last file */
    for (int i = 0; i < nin; i++) {
        es_error e = {0};
        es_audio a = {0};
        float *mel = NULL, *emb = NULL;
        size_t frames = 0, n = 0;
        /* A long recording is read a piece at a time rather than decoded
         * whole (an hour is 230 MB of samples): the same numbers, see
         * pipeline/embed_read.c. Padding needs the clip whole. */
        double dur = -1;
        if (strcmp(in[i], "-") && eo.pad_before == 0 && eo.pad_after == 0) {
            es_load_opts lo = {1};
            es_reader *r = es_reader_open(in[i], &lo, &e);
            if (!r) { cli_error(&e); failed++; continue; }
            dur = es_reader_duration(r);
            es_reader_close(r);
        }
        if (dur > LONG_S && dur > eo.pad_to) {
            es_load_opts lo = {1};
            if (es_embed_read(eng, in[i], &lo, eo.mode, want_mel ? &mel : NULL, &frames, want_mel ? NULL : &emb, &n, &e)) {
                cli_error(&e);
                failed++;
                continue;
            }
            a.n = (size_t)(dur * ES_SAMPLE_RATE + 0.5);   /* for the message below */
        } else if (cli_load(&c, in[i], &a, &e)) {
            cli_error(&e);
            failed++;
            continue;
        } else if (es_embed_audio(eng, a.samples, a.n, &eo, &mel, &frames, want_mel ? NULL : &emb, &n, &e)) {
            cli_error(&e);
            es_audio_free(&a);
            failed++;
            continue;
        }
        const char *path = outs[i];
        size_t shape[2] = { want_mel ? frames : n, want_mel ? ES_MEL_BINS : ES_EMB_DIM };
        if (!want_mel && n == 0) {
            fprintf(stderr, "earshot: %s: too short: %.3f s gives no embedding (at least 0.775 s of audio is needed; "
                            "try --pad-to 2)\n", in[i], (double)a.n / ES_SAMPLE_RATE);
            failed++;
        } else if (es_npy_write(path, want_mel ? mel : emb, shape, 2, &e)) {
            cli_error(&e);
            failed++;
        } else if (!c.quiet) {
            fprintf(stderr, "%s -> %s [%zu, %zu]\n", in[i], path, shape[0], shape[1]);
        }
        free(mel);
        free(emb);
        es_audio_free(&a);
    }
    es_dirsync_defer_end();
    rc = failed ? EXIT_FAIL : EXIT_OK;
    /* every input failed: a new, empty folder is not an output */
    if (made && failed == nin) rmdir(outdir);
done:
    es_engine_free(eng);
    for (int i = 0; outs && i < nin; i++) free(outs[i]);
    free(outs);
    free(byname);
    cli_free_files(in, nin);
    return rc;
}
