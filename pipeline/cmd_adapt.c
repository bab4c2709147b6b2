/*
 * earshot adapt — personalise a trained keyword model to one speaker.
 */
#include "cli.h"
#include "../model/safetensors.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void adapt_help(FILE *f)
{
    fprintf(f,
            "usage: earshot adapt MODEL.safetensors --speaker-data DIR -o NEW_MODEL.safetensors\n"
            "\n"
            "Fine-tunes a head from `earshot train` on a few takes (1-5 per word) of one\n"
            "speaker, so the model works better for that voice while it keeps working for\n"
            "everyone else. DIR is laid out like a training set (one folder per word, or\n"
            "flat with --pattern); its words must be the model's labels (a subset is fine,\n"
            "down to a single word).\n"
            "\n"
            "  -o, --output FILE        the adapted model (written atomically)\n"
            "  --speaker-data DIR       the speaker's takes\n"
            "  --pattern P              flat folder naming, e.g. '{label}_{speaker}_{take}'\n"
            "  --method M               how to avoid forgetting (default ewc+rehearsal; l2sp\n"
            "                           for a model without a rehearsal buffer):\n"
            "                             naive      plain fine-tuning (forgets)\n"
            "                             l2sp       penalty toward the original weights\n"
            "                             ewc        the same, weighted by the Fisher\n"
            "                                        information on the rehearsal buffer\n"
            "                             rehearsal  mix stored training windows into\n"
            "                                        every batch\n"
            "                             ewc+rehearsal  both\n"
            "  --lambda X               penalty strength (default 0.03 for l2sp, 0.3 for ewc\n"
            "                           and ewc+rehearsal)\n"
            "  --speed X                also train on every take slowed down and sped up by\n"
            "                           this fraction (default 0.05; 0 = off)\n"
            "  --shifts N               also at N sub-step offsets of the 80 ms embedding\n"
            "                           grid (default 1 = off)\n"
            "  --positions N            and at N window positions an embedding apart (odd,\n"
            "                           up to 15; default 9; 0 = the model's, 1 = the centre)\n"
            "  --finetune K             also fine-tune the encoder's last K convolutions\n"
            "                           (held to the pretrained weights by an L2-SP penalty;\n"
            "                           the new model carries them; no variants of\n"
            "                           --speed, --shifts or --positions, not with --method\n"
            "                           rehearsal or ewc+rehearsal; the default method is\n"
            "                           then ewc)\n"
            "  --encoder-lr X, --encoder-lambda X  their learning rate and penalty\n"
            "                           (defaults 0.001, 0.03)\n"
            "  --steps N, --lr X, --batch N, --seed N   (defaults 300, 0.01, 32, 1)\n"
            "  --cache DIR              embedding cache (as for train)\n"
            CLI_ENGINE_HELP);
}

static void on_progress(void *user, const char *stage, size_t done, size_t total)
{
    int tty = *(int *)user;
    if (!tty) return;
    if (total) fprintf(stderr, "\r%s: %zu/%zu clips   %s", stage, done, total, done == total ? "\n" : "");
    else fprintf(stderr, "%s...\n", stage);
}

int cmd_adapt(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"speaker-data", required_argument, 0, 'S'},
        {"pattern", required_argument, 0, 'p'}, {"method", required_argument, 0, 'm'},
        {"lambda", required_argument, 0, 'L'}, {"steps", required_argument, 0, 'n'}, {"lr", required_argument, 0, 'l'},
        {"batch", required_argument, 0, 'b'}, {"seed", required_argument, 0, 's'}, {"cache", required_argument, 0, 'C'},
        {"speed", required_argument, 0, 'P'}, {"shifts", required_argument, 0, 'H'},
        {"positions", required_argument, 0, 'Q'},
        {"finetune", required_argument, 0, 'F'}, {"encoder-lr", required_argument, 0, 'E'},
        {"encoder-lambda", required_argument, 0, 'A'},
        {"help", no_argument, 0, 'h'}, CLI_ENGINE_LONGOPTS, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    es_adapt_opts o;
    es_adapt_opts_default(&o);
    const char *out = NULL, *dir = NULL;
    int opt, r, given_variants[3] = {0, 0, 0};   /* --speed, --shifts, --positions */
    double v;
    es_error e = {0};
    while ((opt = getopt_long(argc, argv, "o:t:qh", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 'o': out = optarg; break;
        case 'S': dir = optarg; break;
        case 'p': o.pattern = optarg; break;
        case 'm':
            if (es_adapt_method_parse(optarg, &o.method, &e)) { cli_error(&e); return EXIT_USAGE; }
            o.fallback = 0;   /* asked for: no silent substitute */
            break;
        case 'L':
            if (cli_parse_double(optarg, 0, 1e6, &v)) { fprintf(stderr, "earshot: --lambda must be a number from 0 to 1e6\n"); return EXIT_USAGE; }
            o.lambda = (float)v;
            break;
        case 'n':
            if (cli_parse_double(optarg, 1, 1000000, &v) || v != (int)v) { fprintf(stderr, "earshot: --steps must be an integer from 1 to 1000000\n"); return EXIT_USAGE; }
            o.steps = (int)v;
            break;
        case 'l':
            if (cli_parse_double(optarg, 1e-7, 1, &v)) { fprintf(stderr, "earshot: --lr must be a number from 1e-7 to 1\n"); return EXIT_USAGE; }
            o.lr = (float)v;
            break;
        case 'b':
            if (cli_parse_double(optarg, 1, 65536, &v) || v != (int)v) { fprintf(stderr, "earshot: --batch must be an integer from 1 to 65536\n"); return EXIT_USAGE; }
            o.batch = (int)v;
            break;
        case 's':
            if (cli_parse_double(optarg, 0, 2147483647, &v) || v != (int)v) { fprintf(stderr, "earshot: --seed must be a non-negative integer\n"); return EXIT_USAGE; }
            o.seed = (unsigned long long)v;
            break;
        case 'C': o.cache_dir = optarg; break;
        case 'P':
            if (cli_parse_double(optarg, 0, 0.5, &v)) { fprintf(stderr, "earshot: --speed must be a number from 0 to 0.5\n"); return EXIT_USAGE; }
            o.speed = v;
            given_variants[0] = 1;
            break;
        case 'F':
            if (cli_parse_double(optarg, 0, 20, &v) || v != (int)v) { fprintf(stderr, "earshot: --finetune must be an integer from 0 to 20\n"); return EXIT_USAGE; }
            o.finetune = (int)v;
            break;
        case 'E':
            if (cli_parse_double(optarg, 1e-7, 1, &v)) { fprintf(stderr, "earshot: --encoder-lr must be a number from 1e-7 to 1\n"); return EXIT_USAGE; }
            o.encoder_lr = (float)v;
            break;
        case 'A':
            if (cli_parse_double(optarg, 0, 1e6, &v)) { fprintf(stderr, "earshot: --encoder-lambda must be a number from 0 to 1e6\n"); return EXIT_USAGE; }
            o.encoder_lambda = (float)v;
            break;
        case 'H':
            if (cli_parse_double(optarg, 1, 16, &v) || v != (int)v) { fprintf(stderr, "earshot: --shifts must be an integer from 1 to 16\n"); return EXIT_USAGE; }
            o.shifts = (int)v;
            given_variants[1] = 1;
            break;
        case 'Q':
            if (cli_parse_double(optarg, 0, 15, &v) || v != (int)v || (v > 0 && (int)v % 2 == 0)) {
                fprintf(stderr, "earshot: --positions must be 0 (the model's) or an odd integer from 1 to 15\n");
                return EXIT_USAGE;
            }
            o.positions = (int)v;
            given_variants[2] = 1;
            break;
        case 'h': adapt_help(stdout); return EXIT_OK;
        default: return cli_bad_option("adapt", argv, opts);
        }
    }
    if (!out || !dir || optind != argc - 1) {
        fprintf(stderr, "earshot adapt: %s\n\n", !out ? "missing -o NEW_MODEL" : !dir ? "missing --speaker-data DIR" : "give exactly one MODEL");
        adapt_help(stderr);
        return EXIT_USAGE;
    }
    if (o.finetune && (given_variants[0] || given_variants[1] || given_variants[2])) {
        /* the fine-tuned path reads each take once through the convolutions */
        fprintf(stderr, "earshot adapt: --finetune trains on the takes as they are: --%s has no effect with it\n",
                given_variants[0] ? "speed" : given_variants[1] ? "shifts" : "positions");
        return EXIT_USAGE;
    }
    if (cli_check_model_out(out, "-o")) return EXIT_USAGE;
    es_engine *eng = cli_engine(&c);
    if (!eng) return EXIT_FAIL;
    es_adapt_result res;
    int tty = !c.quiet && isatty(2);
    es_status st = es_adapt(eng, argv[optind], dir, &o, out, &res, on_progress, &tty, &e);
    es_engine_free(eng);
    if (st) { cli_error(&e); return EXIT_FAIL; }
    printf("adapted %s to %zu take%s of %zu label%s (method %s, %d steps", argv[optind], res.n_takes,
           res.n_takes == 1 ? "" : "s", res.n_labels_seen, res.n_labels_seen == 1 ? "" : "s",
           es_adapt_method_name(res.method), o.steps);
    if (o.finetune) printf(", the encoder's last %d convolutions too", o.finetune);
    if (res.n_rehearsal) printf(", rehearsal buffer of %zu", res.n_rehearsal);
    /* "after" is measured on the takes it just learned: say so, or it
     * reads as a test result */
    printf(")\naccuracy on the %zu takes it adapted on: %.4f before, %.4f after (training takes: test on others with "
           "earshot eval)\n", res.n_takes, res.acc_before, res.acc_after);
    printf("wrote %s\n", out);
    /* thresholds eval --set-thresholds chose for the model before: its
     * scores have moved, so they no longer mean what the card says */
    es_st *card = c.quiet ? NULL : es_st_load(out, NULL);
    if (card && es_st_meta(card, "thresholds_source"))
        fprintf(stderr, "earshot: note: the card's thresholds were chosen for the model before adaptation "
                        "(thresholds_source); choose them again with earshot eval --negatives --set-thresholds\n");
    es_st_free(card);
    return EXIT_OK;
}
