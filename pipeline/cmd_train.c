/*
 * earshot train / earshot eval — adapt to a new vocabulary with the frozen
 * pretrained encoder, and measure how good the result is.
 */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void train_help(FILE *f)
{
    fprintf(f,
            "usage: earshot train [options] DATASET -o MODEL.safetensors\n"
            "\n"
            "Trains a classifier head on the frozen pretrained encoder. DATASET has one\n"
            "folder per label (plus optional _unknown_/ and _background_noise_/), or is a\n"
            "flat folder whose file names follow --pattern. Embeddings are cached, so a\n"
            "second run over the same audio skips the encoder.\n"
            "\n"
            "  -o, --output FILE     the model (.safetensors, written atomically)\n"
            "  --pattern P           flat folder naming, e.g. '{label}_{speaker}_{take}'\n"
            "  --val-dir DIR         explicit validation set (else a split is held out:\n"
            "                        whole speakers when names tell them, else by hash)\n"
            "  --val-fraction F      share held out for validation (default 0.2; 0 = none)\n"
            "  --shots K             at most K training clips per label\n"
            "  --head mlp|linear     one hidden layer with LayerNorm+ReLU (default), or a\n"
            "                        linear softmax\n"
            "  --hidden N            hidden width for --head mlp (default 128)\n"
            "  --pooling P           flat, mean, max, meanmax (default), meanstd\n"
            "  --window N            embeddings per input (default 16 = 1.28 s)\n"
            "  --pad-to S            centre each clip in S seconds (default 2.0)\n"
            "  --epochs N, --batch N, --lr X, --weight-decay X, --dropout X, --patience N\n"
            "  --balance none|sample|weight|auto   for imbalanced labels (default auto)\n"
            "  --seed N              every random choice (default 1)\n"
            "  --cache DIR           embedding cache (default $EARSHOT_CACHE, else\n"
            "                        $XDG_CACHE_HOME/earshot/embeddings)\n"
            "  --finetune K          also train the encoder's last K of 20 convolutions\n"
            "                        (default 0: frozen); the model then carries them\n"
            "  --encoder-lr X        learning rate of those layers (default lr/10)\n"
            "  --scratch             the from-scratch baseline: a small CNN on the log-mel\n"
            "                        with random weights instead of the pretrained encoder\n"
            CLI_COMMON_HELP);
}

typedef struct {
    int tty;
} progress_state;

static void on_progress(void *user, const char *stage, size_t done, size_t total)
{
    progress_state *p = user;
    if (!p->tty) return;
    if (total) fprintf(stderr, "\r%s: %zu/%zu clips   ", stage, done, total);
    else fprintf(stderr, "\r%s: epoch %zu   ", stage, done);
    if (total && done == total) fprintf(stderr, "\n");
}

static int parse_int_opt(const char *name, const char *s, int lo, int hi, int *out)
{
    double v;
    if (cli_parse_double(s, lo, hi, &v) || v != (int)v) {
        fprintf(stderr, "earshot: %s must be an integer from %d to %d, not '%s'\n", name, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_float_opt(const char *name, const char *s, double lo, double hi, float *out)
{
    double v;
    if (cli_parse_double(s, lo, hi, &v)) {
        fprintf(stderr, "earshot: %s must be a number from %g to %g, not '%s'\n", name, lo, hi, s);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"pattern", required_argument, 0, 'p'},
        {"val-dir", required_argument, 0, 'V'}, {"val-fraction", required_argument, 0, 'F'},
        {"shots", required_argument, 0, 'k'}, {"head", required_argument, 0, 'H'}, {"hidden", required_argument, 0, 'N'},
        {"pooling", required_argument, 0, 'P'}, {"window", required_argument, 0, 'w'},
        {"pad-to", required_argument, 0, 'D'}, {"epochs", required_argument, 0, 'e'}, {"batch", required_argument, 0, 'b'},
        {"lr", required_argument, 0, 'l'}, {"weight-decay", required_argument, 0, 'W'},
        {"dropout", required_argument, 0, 'd'}, {"patience", required_argument, 0, 'x'},
        {"balance", required_argument, 0, 'B'}, {"seed", required_argument, 0, 's'},
        {"cache", required_argument, 0, 'C'}, {"finetune", required_argument, 0, 'K'},
        {"encoder-lr", required_argument, 0, 'E'}, {"scratch", no_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'}, CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    es_train_opts o;
    es_train_opts_default(&o);
    const char *out = NULL, *head = "mlp";
    int hidden = 128, opt, r, seed = 1;
    double v;
    while ((opt = getopt_long(argc, argv, "o:t:qh", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 'o': out = optarg; break;
        case 'p': o.pattern = optarg; break;
        case 'V': o.val_dir = optarg; break;
        case 'F':
            if (cli_parse_double(optarg, 0, 0.9, &v)) { fprintf(stderr, "earshot: --val-fraction must be from 0 to 0.9\n"); return EXIT_USAGE; }
            o.val_fraction = v;
            break;
        case 'k': if (parse_int_opt("--shots", optarg, 1, 1000000, &o.shots)) return EXIT_USAGE; break;
        case 'H':
            if (strcmp(optarg, "linear") && strcmp(optarg, "mlp")) { fprintf(stderr, "earshot: --head is linear or mlp\n"); return EXIT_USAGE; }
            head = optarg;
            break;
        case 'N': if (parse_int_opt("--hidden", optarg, 1, 4096, &hidden)) return EXIT_USAGE; break;
        case 'P': o.pooling = optarg; break;
        case 'w': if (parse_int_opt("--window", optarg, 1, 256, &o.window)) return EXIT_USAGE; break;
        case 'D':
            if (cli_parse_double(optarg, 0.8, 60, &v)) { fprintf(stderr, "earshot: --pad-to must be seconds from 0.8 to 60\n"); return EXIT_USAGE; }
            o.pad_to = v;
            break;
        case 'e': if (parse_int_opt("--epochs", optarg, 1, 100000, &o.epochs)) return EXIT_USAGE; break;
        case 'b': if (parse_int_opt("--batch", optarg, 1, 65536, &o.batch)) return EXIT_USAGE; break;
        case 'l': if (parse_float_opt("--lr", optarg, 1e-7, 10, &o.lr)) return EXIT_USAGE; break;
        case 'W': if (parse_float_opt("--weight-decay", optarg, 0, 10, &o.weight_decay)) return EXIT_USAGE; break;
        case 'd': if (parse_float_opt("--dropout", optarg, 0, 0.95, &o.dropout)) return EXIT_USAGE; break;
        case 'x': if (parse_int_opt("--patience", optarg, 0, 100000, &o.patience)) return EXIT_USAGE; break;
        case 'B':
            if (strcmp(optarg, "none") && strcmp(optarg, "sample") && strcmp(optarg, "weight") && strcmp(optarg, "auto")) {
                fprintf(stderr, "earshot: --balance is none, sample, weight or auto\n");
                return EXIT_USAGE;
            }
            o.balance = optarg;
            break;
        case 's': if (parse_int_opt("--seed", optarg, 0, 2147483647, &seed)) return EXIT_USAGE; break;
        case 'C': o.cache_dir = optarg; break;
        case 'K': if (parse_int_opt("--finetune", optarg, 0, 20, &o.finetune)) return EXIT_USAGE; break;
        case 'E': if (parse_float_opt("--encoder-lr", optarg, 1e-8, 10, &o.encoder_lr)) return EXIT_USAGE; break;
        case 'S': o.scratch = 1; break;
        case 'h': train_help(stdout); return EXIT_OK;
        default: train_help(stderr); return EXIT_USAGE;
        }
    }
    if (o.scratch && o.finetune) {
        fprintf(stderr, "earshot train: --scratch trains no pretrained encoder, so it takes no --finetune\n");
        return EXIT_USAGE;
    }
    if (!out || optind != argc - 1) {
        fprintf(stderr, "earshot train: %s\n\n", !out ? "missing -o MODEL.safetensors" : "give exactly one DATASET folder");
        train_help(stderr);
        return EXIT_USAGE;
    }
    o.data_dir = argv[optind];
    o.seed = (unsigned long long)seed;
    o.hidden = strcmp(head, "mlp") ? 0 : hidden;
    es_engine *eng = cli_engine(&c);
    if (!eng) return EXIT_FAIL;
    es_error e = {0};
    es_train_result res;
    progress_state ps = {!c.quiet && isatty(2)};
    es_status st = es_train_head(eng, &o, out, &res, on_progress, &ps, &e);
    if (ps.tty) fprintf(stderr, "\n");
    es_engine_free(eng);
    if (st) { cli_error(&e); return EXIT_FAIL; }
    printf("trained %s head%s on %zu clips (%zu labels), validated on %zu\n", o.hidden ? "mlp" : "linear",
           o.scratch ? " on the from-scratch CNN baseline" : o.finetune ? " and the encoder's last convolutions" : "",
           res.n_train, res.n_labels, res.n_val);
    if (o.finetune) printf("fine-tuned the last %d encoder convolutions\n", o.finetune);
    printf("split: %s\n", res.split);
    printf("balance: %s; best epoch %d of %d\n", res.balance, res.best_epoch, res.epochs_run);
    if (!isnan(res.val_acc)) printf("validation accuracy %.4f (balanced %.4f)\n", res.val_acc, res.val_bal_acc);
    if (o.finetune || o.scratch)   /* no cache: the network's inputs are computed in memory */
        printf("inputs %.1f s (%s of %zu clips), training %.1f s\n", res.embed_seconds,
               o.scratch ? "log-mel" : "the frozen encoder layers", res.n_files, res.train_seconds);
    else
        printf("embedding %.1f s (%zu of %zu clips from the cache), training %.1f s\n", res.embed_seconds, res.cache_hits,
               res.n_files, res.train_seconds);
    printf("wrote %s\n", out);
    return EXIT_OK;
}

static void eval_help(FILE *f)
{
    fprintf(f,
            "usage: earshot eval [options] MODEL.safetensors DATASET\n"
            "\n"
            "Accuracy, per-label precision/recall/F1, the confusion matrix and the\n"
            "false-accept rate on _unknown_ clips of a model trained by earshot train.\n"
            "\n"
            "  --pattern P    flat folder naming, e.g. '{label}_{speaker}_{take}'\n"
            "  --json         print one JSON object instead of text\n"
            "  --cache DIR    embedding cache (as for train)\n"
            CLI_COMMON_HELP);
}

static void json_num(double v) { if (isnan(v)) printf("null"); else printf("%.6f", v); }

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pattern", required_argument, 0, 'p'}, {"json", no_argument, 0, 'j'}, {"cache", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'}, CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    const char *pattern = NULL, *cache = NULL;
    int json = 0, opt, r;
    while ((opt = getopt_long(argc, argv, "t:qh", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 'p': pattern = optarg; break;
        case 'j': json = 1; break;
        case 'C': cache = optarg; break;
        case 'h': eval_help(stdout); return EXIT_OK;
        default: eval_help(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 2) { fprintf(stderr, "earshot eval: give MODEL and DATASET\n\n"); eval_help(stderr); return EXIT_USAGE; }
    es_engine *eng = cli_engine(&c);
    if (!eng) return EXIT_FAIL;
    es_error e = {0};
    es_eval_result res;
    progress_state ps = {!c.quiet && isatty(2)};
    es_status st = es_eval(eng, argv[optind], argv[optind + 1], pattern, cache, &res, on_progress, &ps, &e);
    es_engine_free(eng);
    if (st) { cli_error(&e); return EXIT_FAIL; }
    size_t K = res.n_labels;
    if (json) {
        printf("{\"model\": \"%s\", \"clips\": %zu, \"skipped\": %zu, \"accuracy\": ", argv[optind], res.n, res.skipped);
        json_num(res.accuracy);
        printf(", \"unknown_false_accept\": ");
        json_num(res.unknown_false_accept);
        printf(", \"labels\": [");
        for (size_t k = 0; k < K; k++) {
            printf("%s{\"label\": \"%s\", \"precision\": ", k ? ", " : "", res.labels[k]);
            json_num(res.precision[k]);
            printf(", \"recall\": ");
            json_num(res.recall[k]);
            printf(", \"f1\": ");
            json_num(res.f1[k]);
            printf("}");
        }
        printf("], \"confusion\": [");
        for (size_t i = 0; i < K; i++) {
            printf("%s[", i ? ", " : "");
            for (size_t j = 0; j < K; j++) printf("%s%zu", j ? ", " : "", res.confusion[i * K + j]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("%zu clips, accuracy %.4f", res.n, res.accuracy);
        if (res.skipped) printf(" (%zu clips of labels the model does not know were skipped)", res.skipped);
        printf("\n");
        if (!isnan(res.unknown_false_accept)) printf("_unknown_ false-accept rate %.4f\n", res.unknown_false_accept);
        printf("\n%-16s %9s %9s %9s\n", "label", "precision", "recall", "F1");
        for (size_t k = 0; k < K; k++)
            printf("%-16s %9.4f %9.4f %9.4f\n", res.labels[k], res.precision[k], res.recall[k], res.f1[k]);
        printf("\nconfusion (rows: truth, columns: prediction)\n%-16s", "");
        for (size_t j = 0; j < K; j++) printf(" %6.6s", res.labels[j]);
        printf("\n");
        for (size_t i = 0; i < K; i++) {
            printf("%-16s", res.labels[i]);
            for (size_t j = 0; j < K; j++) printf(" %6zu", res.confusion[i * K + j]);
            printf("\n");
        }
    }
    es_eval_result_free(&res);
    return EXIT_OK;
}
