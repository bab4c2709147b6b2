/*
 * earshot synth — a training set from text: synthesised takes of every
 * word (espeak-ng, flite) plus an _unknown_ class, in the folder layout
 * `earshot train` reads. The synthesis options are shared with
 * `earshot train --words`.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_list(const char *what, const char *s, const char *const *names, int nnames, unsigned *out)
{
    unsigned m = 0;
    if (!strcmp(s, "none")) { *out = 0; return 0; }
    if (!strcmp(s, "all")) { *out = (1u << nnames) - 1; return 0; }
    const char *p = s;
    while (*p) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        int found = 0;
        for (int i = 0; i < nnames; i++)
            if (strlen(names[i]) == len && !strncmp(p, names[i], len)) { m |= 1u << i; found = 1; }
        if (!found) {
            fprintf(stderr, "earshot: %s: unknown name '%.*s' (", what, (int)len, p);
            for (int i = 0; i < nnames; i++) fprintf(stderr, "%s%s", i ? ", " : "", names[i]);
            fprintf(stderr, ", all, none)\n");
            return -1;
        }
        p += len + (q ? 1 : 0);
    }
    *out = m;
    return 0;
}

int cli_synth_opt(es_synth_opts *o, int opt, const char *arg)
{
    static const char *const engines[] = {"espeak", "flite"};
    static const char *const augs[] = {"noise", "reverb", "bandlimit", "speed", "gain"};
    double v;
    switch (opt) {
    case 3001: o->words = arg; return 1;
    case 'n':
        if (cli_parse_double(arg, 1, 100000, &v) || v != (int)v) { fprintf(stderr, "earshot: --takes must be 1..100000\n"); return -1; }
        o->takes = (int)v;
        return 1;
    case 3002:
        if (cli_parse_double(arg, 0, 1000000, &v) || v != (int)v) { fprintf(stderr, "earshot: --unknown must be 0..1000000\n"); return -1; }
        o->unknown_takes = (int)v;
        return 1;
    case 3003:
        if (parse_list("--engines", arg, engines, 2, &o->engines)) return -1;
        if (!o->engines) { fprintf(stderr, "earshot: --engines needs espeak, flite or both\n"); return -1; }
        return 1;
    case 3004: return parse_list("--augment", arg, augs, 5, &o->augment) ? -1 : 1;
    case 3006: {
        char *end;
        double lo = strtod(arg, &end), hi = lo;
        if (*end == ':') hi = strtod(end + 1, &end);
        if (*end || !(lo >= 0.7 && lo <= hi && hi <= 1.4)) {
            fprintf(stderr, "earshot: --formant must be LO:HI (or one factor) with 0.7 <= LO <= HI <= 1.4, not '%s'\n", arg);
            return -1;
        }
        o->formant_lo = lo;
        o->formant_hi = hi;
        return 1;
    }
    case 3007: o->lang = arg; return 1;
    case 3008: o->unknown_words = arg; return 1;
    case 3005:
        if (cli_parse_double(arg, 0, 1, &v)) { fprintf(stderr, "earshot: the augmentation probability must be 0..1\n"); return -1; }
        o->aug_prob = v;
        return 1;
    default: return 0;
    }
}

static void synth_help(FILE *f)
{
    fprintf(f,
            "usage: earshot synth --words LIST -o DIR [options]\n"
            "\n"
            "Synthesises a training set from text with espeak-ng and flite: DIR/<label>/\n"
            "for every word and DIR/_unknown_/ (confusable words that differ from a\n"
            "target by one phoneme, common English words and phrases, 1.5 s stretches\n"
            "of running speech, noise). Takes are spread over voices, accents, rates\n"
            "and pitches; file names record the parameters. Train on DIR with\n"
            "'earshot train DIR -o MODEL'.\n"
            "\n"
            CLI_SYNTH_HELP
            "  -o, --output DIR      the dataset folder (created; must not hold the labels)\n"
            "  --seed N              every random choice (default 1)\n"
            "  -q, --quiet           no progress on stderr\n"
            "  -t, --threads N       threads (default: the CPUs)\n");
}

static void on_progress(void *user, const char *stage, size_t done, size_t total)
{
    if (!*(int *)user) return;
    fprintf(stderr, "\r%s: %zu/%zu takes   ", stage, done, total);
    if (done == total) fprintf(stderr, "\n");
}

int cmd_synth(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {"seed", required_argument, 0, 's'},
                                         {"threads", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'}, CLI_SYNTH_LONGOPTS, {0, 0, 0, 0}};
    es_synth_opts o;
    es_synth_opts_default(&o);
    const char *out = NULL;
    int opt, r, quiet = 0;
    double v;
    while ((opt = getopt_long(argc, argv, "o:n:t:qh", opts, NULL)) != -1) {
        if ((r = cli_synth_opt(&o, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 'o': out = optarg; break;
        case 's':
            if (cli_parse_double(optarg, 0, 2147483647, &v) || v != (long)v) { fprintf(stderr, "earshot: --seed must be a whole number\n"); return EXIT_USAGE; }
            o.seed = (unsigned long long)v;
            break;
        case 't':
            if (cli_parse_double(optarg, 1, 64, &v) || v != (int)v) { fprintf(stderr, "earshot: --threads must be 1..64\n"); return EXIT_USAGE; }
            es_set_threads((int)v);
            break;
        case 'q': quiet = 1; break;
        case 'h': synth_help(stdout); return EXIT_OK;
        default: return cli_bad_option("synth", argv, opts);
        }
    }
    if (!out || !o.words || optind != argc) {
        fprintf(stderr, "earshot synth: %s\n\n", !o.words ? "missing --words" : !out ? "missing -o DIR" : "unexpected argument");
        synth_help(stderr);
        return EXIT_USAGE;
    }
    /* else the library's "es_synth_dataset: invalid arguments" */
    if (!*out) { fprintf(stderr, "earshot synth: -o: an empty folder name\n"); return EXIT_USAGE; }
    if (cli_check_synth(&o)) return EXIT_USAGE;
    int tty = !quiet && isatty(2);
    es_synth_result res;
    es_error e = {0};
    if (es_synth_dataset(&o, out, &res, on_progress, &tty, &e)) { cli_error(&e); return EXIT_FAIL; }
    printf("wrote %zu takes to %s: %zu labels x %d takes, %zu _unknown_\n", res.n_files, out, res.n_labels, o.takes,
           res.n_unknown);
    return EXIT_OK;
}
