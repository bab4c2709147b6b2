/*
 * earshot train / earshot eval — adapt to a new vocabulary with the frozen
 * pretrained encoder, and measure how good the result is.
 */
#include "cli.h"
#include "../model/nn.h"
#include "plot.h"
#include "train_aug.h"   /* the auto rules, to print what they chose */
#include "dataset.h"
#include "eval_talk.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void train_help(FILE *f)
{
    fprintf(f,
            "usage: earshot train [options] DATASET -o MODEL.safetensors\n"
            "       earshot train --words LIST [--data DATASET] [options] -o MODEL.safetensors\n"
            "       earshot train --speak-labels DATASET [options] -o MODEL.safetensors\n"
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
            "  --pooling P           flat, mean, max, meanmax, meanstd (default)\n"
            "  --window N            embeddings per input, 80 ms apart (default 8: the\n"
            "                        0.64 s around the clip's centre)\n"
            "  --pad-to S            centre each clip in S seconds (default 2.0; more when\n"
            "                        the window's positions need it, and the card says so)\n"
            "  --frontend stream|whole  features: per-80 ms-chunk log-mel as the streaming\n"
            "                        detector computes them (default), or whole-clip\n"
            "  --epochs N, --batch N, --lr X, --weight-decay X, --dropout X, --patience N\n"
            "  --min-steps N         few clips: at least N optimiser steps (default 500)\n"
            "  --label-smoothing E   train towards (1-E) one-hot + E/labels (default 0)\n"
            "  --mixup M             mix each training row with another, up to M of it, and\n"
            "                        their labels alike (default 0)\n"
            "  --balance none|sample|weight|auto   for imbalanced labels (default auto)\n"
            "  --seed N              every random choice (default 1)\n"
            "  --cache DIR           embedding cache (default $EARSHOT_CACHE, else\n"
            "                        $XDG_CACHE_HOME/earshot/embeddings)\n"
            "\n"
            "Learning curve (no -o): accuracy on held-out speakers at 1, 2, 5, 10, 20 and\n"
            "all training clips per label, mean +- std over seeds and speaker splits, for\n"
            "the pretrained encoder and the from-scratch baseline, with the classifier\n"
            "that -o saves with the same options.\n"
            "  --learning-curve      run it\n"
            "  --seeds N             runs per split and shot count (default 3)\n"
            "  --splits N|all        random speaker splits, half held out (default 5), or\n"
            "                        every such split once (FSDD's 6 speakers: 20). Which\n"
            "                        speakers are held out moves the means by points\n"
            "  --test-speakers A,B   an explicit split (held-out speakers); repeat for more\n"
            "  --shots-list 1,5,0    shot counts to run (0 = all clips)\n"
            "  --json                print one JSON object\n"
            "  --plot FILE.svg       also draw it: accuracy against clips per label,\n"
            "                        mean and +-std band, pretrained and from scratch\n"
            "  --no-scratch          skip the from-scratch baseline (much slower to train)\n"
            "Classifier (saved by -o and measured by the curve; --norm, --proto,\n"
            "--proto-temp and --warp-perturb are learning-curve experiments only):\n"
            "  --shifts N|auto       sub-step time offsets per clip: training examples and\n"
            "                        averaged in eval; each is one more encoder pass over\n"
            "                        every clip (default auto: 4 when no label has more\n"
            "                        than 50 training clips, else 1; 1 = fastest)\n"
            "  --norm none|l2|z|zl2  normalisation of the pooled vector\n"
            "  --proto W             mix a cosine class-mean classifier in with weight W\n"
            "  --proto-temp T        its softmax temperature\n"
            "  --ensemble N          heads with different seeds, averaged (default 3)\n"
            "  --positions N         window positions per clip, one embedding apart, used\n"
            "                        like the offsets (default 5)\n"
            "  --speed-perturb X|auto  also train on copies at speed 1-X and 1+X (one more\n"
            "                        encoder pass over every clip each; default auto:\n"
            "                        0.1, averaged in eval, when no label has more than\n"
            "                        50 training clips, else 0 = none)\n"
            "  --warp-perturb X      also train on copies with the log-mel's frequency\n"
            "                        axis warped by 1-X and 1+X (vocal-tract length)\n"
            "  --perturb-test        also average each clip over those copies in eval\n"
            "                        (the model card names their speeds)\n"
            "  --frontend-copy yes|no|auto  also a copy of every clip through the other\n"
            "                        front end (whole-clip log-mel for stream features): a\n"
            "                        training row, averaged in eval (default auto: yes\n"
            "                        when no label has more than 500 training clips)\n"
            "  --finetune K          also train the encoder's last K of 20 convolutions\n"
            "                        (default 0: frozen); the model then carries them\n"
            "  --encoder-lr X        learning rate of those layers (default lr/10)\n"
            "  --scratch             the from-scratch baseline: a small CNN on the log-mel\n"
            "                        with random weights instead of the pretrained encoder\n"
            "\n"
            "Augmentation (training clips only; variants are cached, so a rerun is fast):\n"
            "  --augment N|auto      N augmented variants of every training clip (default\n"
            "                        auto: 8 when no label has more than 5 clips, else 0)\n"
            "  --snr LO:HI           background noise SNR in dB (default 5:20)\n"
            "  --gain LO:HI          gain in dB (default -6:6)\n"
            "  --speed LO:HI         speed/tempo factor (default 0.9:1.1)\n"
            "  --shift-ms MS         time shift up to +-MS (default 100)\n"
            "  --aug-p P             probability of each transform (default 0.8)\n"
            "  --specaugment         also mask log-mel bands (2 x <= 4 bins, 2 x <= 8 frames)\n"
            "  --noise-dir DIR       noise recordings (default DATASET/_background_noise_/;\n"
            "                        without any: generated white/pink/brown noise)\n"
            "  --no-silence          no _silence_ class (default: one, from the noise\n"
            "                        recordings, else from generated pink/brown noise)\n"
            "\n"
            "Other talk (the false accepts users notice; heads over the frozen encoder):\n"
            "  --negatives DIR       recordings of any length that never say the words\n"
            "                        (a radio show, a meeting): every window 0.32 s apart\n"
            "                        is taught as _unknown_ (a wake-word model: as other).\n"
            "                        _unknown_ clips longer than --pad-to are used so too\n"
            "  --negatives-max N     at most N such windows (default 20000, ~1.8 h; 0 = all)\n"
            "  --negatives-pick hard|even  with more windows than that: half evenly\n"
            "                        spread and half those a first round of training\n"
            "                        takes most for a word, then training again (hard,\n"
            "                        the default); or all evenly spread\n"
            "\n"
            "Binary wake-word mode:\n"
            "  --wake-word LABEL     LABEL against every other clip (other labels,\n"
            "                        _unknown_, silence); threshold chosen on validation\n"
            "  --target-fa X         validation false-accept rate the threshold aims at\n"
            "                        (default 0.01)\n"
            "\n"
            "From text (the takes are synthesised once into a cache, see earshot synth):\n"
            CLI_SYNTH_TRAIN_HELP
            "  --data DATASET        real recordings to mix in (with --pattern if flat);\n"
            "                        they validate when every word has two or more\n"
            "  --real-weight W       the real clips' total weight per word as a share of\n"
            "                        its synthetic takes (repeats; default 0.1)\n"
            "  --synth-cache DIR     synthesised takes (default $EARSHOT_SYNTH_CACHE,\n"
            "                        else $XDG_CACHE_HOME/earshot/synth)\n"
            "  --speak-labels        --words made of DATASET's labels, each spoken as its\n"
            "                        name ('_' as a space; lights_on=lights on), with\n"
            "                        DATASET as --data: recordings plus synthetic takes\n"
            "  With --learning-curve, --words mixes the takes into every run as --data\n"
            "  mixes recordings in (the curve's DATASET; shots count its clips only).\n"
            CLI_ENGINE_HELP);
}

/* --speak-labels: DATASET's labels as a --words list, each spoken as its
 * name with '_' read as a space ("lights_on" -> "lights_on=lights on";
 * espeak-ng and flite read "7" as "seven"). _unknown_ is no word: the
 * synthesis makes its own, and the real one still comes along. */
static es_status labels_as_words(const char *dir, const char *pattern, char *buf, size_t size, es_error *err)
{
    es_dataset *d = NULL;
    es_status st = es_dataset_scan(dir, pattern, &d, NULL, err);
    if (st) return st;
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < d->nlabels && !st; i++) {
        const char *l = d->labels[i];
        if (!strcmp(l, ES_LABEL_UNKNOWN)) continue;
        /* the list's own punctuation cannot be spoken from a name */
        if (strpbrk(l, ",=|[]"))
            st = es_fail(err, ES_ERR_ARG, "%s: label '%s' holds one of , = | [ ]: give its spelling with --words instead", dir, l);
        char spoken[512];
        size_t k = 0;
        for (const char *p = l; *p && k + 1 < sizeof spoken; p++) spoken[k++] = *p == '_' ? ' ' : *p;
        spoken[k] = 0;
        int w = st ? 0 : snprintf(buf + n, size - n, "%s%s=%s", n ? "," : "", l, spoken);
        if (!st && (w < 0 || (size_t)w >= size - n)) st = es_fail(err, ES_ERR_ARG, "%s: too many labels to speak", dir);
        n += st ? 0 : (size_t)w;
    }
    if (!st && !n) st = es_fail(err, ES_ERR_ARG, "%s: no label to speak", dir);
    es_dataset_free(d);
    return st;
}

/* "LO:HI" within [min, max], lo <= hi. */
static int parse_range(const char *name, const char *s, double min, double max, double out[2])
{
    const char *colon = strchr(s, ':');
    char lo[64];
    double a, b;
    if (!colon || (size_t)(colon - s) >= sizeof lo) goto bad;
    memcpy(lo, s, (size_t)(colon - s));
    lo[colon - s] = 0;
    if (cli_parse_double(lo, min, max, &a) || cli_parse_double(colon + 1, min, max, &b) || a > b) goto bad;
    out[0] = a;
    out[1] = b;
    return 0;
bad:
    fprintf(stderr, "earshot: %s must be LO:HI with %g <= LO <= HI <= %g, not '%s'\n", name, min, max, s);
    return -1;
}

/* Progress of the long steps on a terminal: count, rate and the time
 * left, redrawn at most 10 times a second; nothing when stderr is not a
 * TTY (or with -q). Training's total is the epoch limit: early stopping
 * may end it sooner, so its ETA is an upper bound. */
typedef struct {
    int tty;
    char stage[32];
    double t0, last;
    size_t first;          /* done at the stage's first report */
    int open;              /* a line is being redrawn */
} progress_state;

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void fmt_secs(double s, char *buf, size_t n)
{
    if (!(s >= 0) || s > 360000) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0f s", s);
    else if (s < 3600) snprintf(buf, n, "%d min %02d s", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%d h %02d min", (int)s / 3600, (int)s % 3600 / 60);
}

/* counts with an ETA from the stage's rate so far */
static void on_curve_progress(void *user, const char *stage, size_t done, size_t total)
{
    progress_state *p = user;
    if (!p->tty || !total) return;
    if (strcmp(p->stage, stage) || done <= 1) {
        snprintf(p->stage, sizeof p->stage, "%s", stage);
        p->t0 = mono_s();
    }
    double el = mono_s() - p->t0, eta = done ? el / (double)done * (double)(total - done) : 0;
    fprintf(stderr, "\r%s: %zu/%zu %s, %.0f s elapsed, ETA %.0f s   ", stage, done, total,
            strcmp(stage, "training") ? "clips" : "runs", el, eta);
    if (done == total) fprintf(stderr, "\n");
}

static void on_progress(void *user, const char *stage, size_t done, size_t total)
{
    progress_state *p = user;
    if (!p->tty) return;
    double now = mono_s();
    if (strcmp(p->stage, stage)) {   /* a new stage: its own clock */
        if (p->open) fprintf(stderr, "\n");
        snprintf(p->stage, sizeof p->stage, "%s", stage);
        p->t0 = now;
        p->last = 0;
        p->first = done;
        p->open = 0;
    }
    int last = total && done >= total;
    if (!last && now - p->last < 0.1) return;
    p->last = now;
    const char *unit = !strcmp(stage, "training") ? "epochs" : !strcmp(stage, "embedding") ? "clips"
                     : !strcmp(stage, "other talk") ? "files" : "variants";
    double el = now - p->t0, rate = done > p->first && el > 0 ? (double)(done - p->first) / el : 0;
    char eta[32], took[32];
    fmt_secs(rate > 0 && total >= done ? (double)(total - done) / rate : -1, eta, sizeof eta);
    fmt_secs(el, took, sizeof took);
    if (total)
        fprintf(stderr, "\r%s: %zu/%zu %s, %.1f/s, %s %s   ", stage, done, total, unit, rate, last ? "took" : "ETA",
                last ? took : eta);
    else
        fprintf(stderr, "\r%s: %zu %s, %.1f/s   ", stage, done, unit, rate);
    p->open = !last;
    if (last) fprintf(stderr, "\n");
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

static void json_num(double v);

static const char *shots_name(int k, char *buf, size_t n)
{
    if (k == 0) snprintf(buf, n, "all");
    else snprintf(buf, n, "%d", k);
    return buf;
}

/* The curve as a chart: x is clips per label on a log axis, "all" placed
 * at the most clips a label had in its runs. */
static es_status curve_plot(const es_curve_result *r, const es_curve_opts *co, const char *path, es_error *err)
{
    const es_train_opts *o = &co->train;
    char title[512], sub[512];
    snprintf(title, sizeof title, "learning curve: %s", o->data_dir);
    snprintf(sub, sizeof sub, "accuracy on held-out speakers, mean and +-1 std over %zu split%s x %d seed%s%s",
             r->n_splits, r->n_splits == 1 ? "" : "s", r->seeds, r->seeds == 1 ? "" : "s",
             co->synth_dir ? "; every run also trains on synthetic takes of --words" : "");
    es_plot *p = es_plot_create(title, "training clips per label", "accuracy");
    if (!p) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_plot_subtitle(p, sub);
    es_plot_log(p, 1, 0);
    size_t n = r->n_rows;
    double *v = calloc(6 * (n ? n : 1), sizeof *v);
    es_status st = v ? ES_OK : es_fail(err, ES_ERR_NOMEM, "out of memory");
    double *x = v, *m = v + n, *lo = v + 2 * n, *hi = v + 3 * n, *slo = v + 4 * n, *shi = v + 5 * n;
    for (size_t k = 0; !st && k < n; k++) {
        const es_curve_row *w = &r->rows[k];
        x[k] = w->shots ? w->shots : (double)w->clips_max;
        lo[k] = w->mean - w->std;
        hi[k] = w->mean + w->std;
        slo[k] = w->scratch_mean - w->scratch_std;
        shi[k] = w->scratch_mean + w->scratch_std;
        char t[48];
        if (w->shots) snprintf(t, sizeof t, "%d", w->shots);
        else snprintf(t, sizeof t, "all (%zu)", w->clips_max);
        st = es_plot_xtick(p, x[k], t, err);
    }
    for (size_t k = 0; !st && k < n; k++) m[k] = r->rows[k].mean;
    if (!st) st = es_plot_series(p, "pretrained encoder", x, m, lo, hi, n, "%.3f", 1, err);
    if (!st && r->scratch_available) {
        for (size_t k = 0; k < n; k++) m[k] = r->rows[k].scratch_mean;
        st = es_plot_series(p, "from scratch", x, m, slo, shi, n, "%.3f", -1, err);
    }
    es_plot_yrange(p, NAN, 1.0);
    if (!st) st = es_plot_write(p, path, err);
    free(v);
    es_plot_free(p);
    return st;
}

static int run_curve(const cli_common *c, es_curve_opts *co, int json, const char *plot)
{
    es_engine *eng = cli_engine(c);
    if (!eng) return EXIT_FAIL;
    es_error e = {0};
    es_curve_result r;
    progress_state ps = {.tty = !c->quiet && isatty(2)};
    es_status st = es_learning_curve(eng, co, &r, on_curve_progress, &ps, &e);
    es_engine_free(eng);
    if (st) { cli_error(&e); return EXIT_FAIL; }
    const es_train_opts *o = &co->train;
    char b[16], sh[96], cp[160];
    if (o->shifts > 0) snprintf(sh, sizeof sh, "%d offset%s", o->shifts, o->shifts == 1 ? "" : "s");
    else snprintf(sh, sizeof sh, "offsets auto (%d up to %d clips per label, else 1)", ES_SHIFTS_AUTO,
                  ES_SHIFTS_AUTO_MAX_CLIPS);
    /* the copies: explicit, or auto (per run, by its clips per label) */
    double spd = o->speed_perturb < 0 ? ES_SPEED_PERTURB_AUTO : o->speed_perturb;
    int ptest = o->perturb_test || o->speed_perturb < 0;
    if (o->speed_perturb < 0 && o->frontend_copy < 0)
        snprintf(cp, sizeof cp, "copies auto (speeds %g and %g averaged in up to %d clips per label, the other front "
                 "end up to %d)", 1 - spd, 1 + spd, ES_COPIES_AUTO_MAX_CLIPS, ES_FRONTEND_COPY_AUTO_MAX_CLIPS);
    else
        snprintf(cp, sizeof cp, "speed perturbation %s%g%s, front-end copy %s", o->speed_perturb < 0 ? "auto " : "",
                 spd, ptest && spd > 0 ? " (also averaged in test)" : "",
                 o->frontend_copy < 0 ? "auto" : o->frontend_copy ? "yes" : "no");
    if (json) {
        printf("{\"dataset\": ");
        cli_json_str(o->data_dir);
        printf(", \"head\": \"%s\", \"hidden\": %d, \"window\": %d, \"pooling\": \"%s\", "
               "\"norm\": \"%s\", \"shifts\": %d, \"shifts_auto_max_clips\": %d, \"positions\": %d, \"speed_perturb\": %g, \"warp_perturb\": %g, \"perturb_test\": %s, \"frontend_copy\": %s, "
               "\"copies_auto\": {\"speed\": %s, \"frontend\": %s, \"max_clips\": %d, \"frontend_max_clips\": %d}, \"proto\": %g, "
               "\"ensemble\": %d, \"seeds\": %d, \"seconds\": %.2f, \"splits\": [",
               o->hidden ? "mlp" : "linear", o->hidden, o->window, o->pooling, o->norm,
               o->shifts > 0 ? o->shifts : ES_SHIFTS_AUTO, o->shifts > 0 ? 0 : ES_SHIFTS_AUTO_MAX_CLIPS, o->positions, spd, o->warp_perturb, ptest ? "true" : "false", o->frontend_copy > 0 ? "true" : "false",
               o->speed_perturb < 0 ? "true" : "false", o->frontend_copy < 0 ? "true" : "false", ES_COPIES_AUTO_MAX_CLIPS, ES_FRONTEND_COPY_AUTO_MAX_CLIPS, o->proto, o->ensemble, r.seeds, r.seconds);
        for (size_t s = 0; s < r.n_splits; s++) { printf("%s", s ? ", " : ""); cli_json_str(r.split_desc[s]); }
        printf("], \"synthetic\": ");
        if (co->synth_dir) {
            printf("{\"dir\": ");
            cli_json_str(co->synth_dir);
            printf(", \"takes_per_word\": %d, \"real_weight\": %g}", co->synth_takes, co->real_weight);
        } else {
            printf("null");
        }
        printf(", \"scratch_available\": %s", r.scratch_available ? "true" : "false");
        if (!r.scratch_available) { printf(", \"scratch_note\": "); cli_json_str(r.scratch_note); }
        printf(", \"rows\": [");
        size_t per = r.n_splits * (size_t)r.seeds;
        for (size_t k = 0; k < r.n_rows; k++) {
            const es_curve_row *w = &r.rows[k];
            printf("%s{\"shots\": ", k ? ", " : "");
            if (w->shots) printf("%d", w->shots); else printf("\"all\"");
            /* what the auto rules chose for the row's runs (its largest label) */
            int sh_ = es_shifts_auto(o->shifts, w->clips_max);
            printf(", \"n\": %zu, \"clips_per_label\": [%zu, %zu], \"shifts\": %d, \"speed_perturb\": %g, "
                   "\"frontend_copy\": %s, \"pretrained\": {\"mean\": ",
                   w->n, w->clips_min, w->clips_max, sh_, es_speed_perturb_auto(o->speed_perturb, w->clips_max),
                   es_frontend_copy_auto(o->frontend_copy, w->clips_max) ? "true" : "false");
            json_num(w->mean);
            printf(", \"std\": ");
            json_num(w->std);
            printf(", \"runs\": [");
            for (size_t i = 0; i < per; i++) { printf("%s", i ? ", " : ""); json_num(r.acc[k * per + i]); }
            printf("]}, \"scratch\": ");
            if (r.scratch_available) {
                printf("{\"mean\": ");
                json_num(w->scratch_mean);
                printf(", \"std\": ");
                json_num(w->scratch_std);
                printf(", \"runs\": [");
                for (size_t i = 0; i < per; i++) { printf("%s", i ? ", " : ""); json_num(r.scratch_acc[k * per + i]); }
                printf("]}");
            } else {
                printf("null");
            }
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("learning curve on %s: accuracy on held-out speakers, mean +- std over %zu split%s x %d seed%s\n",
               o->data_dir, r.n_splits, r.n_splits == 1 ? "" : "s", r.seeds, r.seeds == 1 ? "" : "s");
        printf("head: %s%s over %d embeddings, pooling %s, norm %s, %s x %d position%s, %s, "
               "warp perturbation %g%s, prototypes %g, ensemble %d\n",
               o->hidden ? "mlp " : "linear", o->hidden ? (snprintf(b, sizeof b, "%d", o->hidden), b) : "", o->window,
               o->pooling, o->norm, sh, o->positions, o->positions == 1 ? "" : "s", cp,
               o->warp_perturb, o->warp_perturb > 0 && o->perturb_test ? " (also averaged in test)" : "", o->proto,
               o->ensemble);
        for (size_t s = 0; s < r.n_splits; s++) printf("split %zu: %s\n", s + 1, r.split_desc[s]);
        if (co->synth_dir)
            printf("every run also trains on the synthetic takes of --words (%d per word, %s); shots count real clips, "
                   "repeated to weigh %g of the takes\n", co->synth_takes, co->synth_dir, co->real_weight);
        printf("\n%-6s  %-22s  %-22s\n", "shots", "pretrained", "from scratch");
        for (size_t k = 0; k < r.n_rows; k++) {
            const es_curve_row *w = &r.rows[k];
            char pre[40], scr[40];
            snprintf(pre, sizeof pre, "%.3f +- %.3f (n=%zu)", w->mean, w->std, w->n);
            if (r.scratch_available) snprintf(scr, sizeof scr, "%.3f +- %.3f (n=%zu)", w->scratch_mean, w->scratch_std, w->n);
            else snprintf(scr, sizeof scr, "unavailable");
            printf("%-6s  %-22s  %-22s\n", shots_name(w->shots, b, sizeof b), pre, scr);
        }
        /* what the auto rules chose, row by row (from its runs' largest label) */
        if (o->shifts < 0 || o->speed_perturb < 0 || o->frontend_copy < 0) {
            printf("\nper row, by the most training clips of a label:\n");
            for (size_t k = 0; k < r.n_rows; k++) {
                const es_curve_row *w = &r.rows[k];
                int nsh = es_shifts_auto(o->shifts, w->clips_max);
                double s2 = es_speed_perturb_auto(o->speed_perturb, w->clips_max);
                int fc = es_frontend_copy_auto(o->frontend_copy, w->clips_max);
                char cl[48];
                if (w->clips_min == w->clips_max) snprintf(cl, sizeof cl, "%zu", w->clips_max);
                else snprintf(cl, sizeof cl, "%zu-%zu", w->clips_min, w->clips_max);
                /* runs on both sides of a rule's limit: say so */
                int mixed = nsh != es_shifts_auto(o->shifts, w->clips_min) ||
                            (s2 > 0) != (es_speed_perturb_auto(o->speed_perturb, w->clips_min) > 0) ||
                            fc != es_frontend_copy_auto(o->frontend_copy, w->clips_min);
                printf("%-6s  %s clip%s: %d offset%s, %s, %s%s\n", shots_name(w->shots, b, sizeof b), cl,
                       w->clips_max == 1 ? "" : "s", nsh, nsh == 1 ? "" : "s", s2 > 0 ? "speed copies" : "no speed copies",
                       fc ? "front-end copy" : "no front-end copy", mixed ? " (at the most; runs with fewer clips differ)" : "");
            }
        }
        if (!r.scratch_available) printf("\nfrom scratch: %s\n", r.scratch_note);
        printf("embedding %.1f s, total %.1f s\n", r.embed_seconds, r.seconds);
    }
    int rc = EXIT_OK;
    if (plot) {
        es_error pe = {0};
        if (curve_plot(&r, co, plot, &pe)) { cli_error(&pe); rc = EXIT_FAIL; }
        else if (!c->quiet) fprintf(stderr, "wrote %s\n", plot);
    }
    es_curve_result_free(&r);
    return rc;
}

/* "1,2,5,0" -> shots (0 = all) */
static int parse_shots(const char *s, int *out, size_t cap, size_t *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1000000 || (*end && *end != ',') || *n == cap) {
            fprintf(stderr, "earshot: --shots-list is comma-separated counts (0 = all), not '%s'\n", s);
            return -1;
        }
        out[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (!*n) { fprintf(stderr, "earshot: --shots-list is empty\n"); return -1; }
    return 0;
}

int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"pattern", required_argument, 0, 'p'},
        {"val-dir", required_argument, 0, 'V'}, {"val-fraction", required_argument, 0, 'F'},
        {"shots", required_argument, 0, 'k'}, {"head", required_argument, 0, 'H'}, {"hidden", required_argument, 0, 'N'},
        {"pooling", required_argument, 0, 'P'}, {"window", required_argument, 0, 'w'},
        {"pad-to", required_argument, 0, 'D'}, {"frontend", required_argument, 0, 1900}, {"epochs", required_argument, 0, 'e'}, {"batch", required_argument, 0, 'b'},
        {"lr", required_argument, 0, 'l'}, {"weight-decay", required_argument, 0, 'W'},
        {"dropout", required_argument, 0, 'd'}, {"patience", required_argument, 0, 'x'},
        {"balance", required_argument, 0, 'B'}, {"seed", required_argument, 0, 's'},
        {"cache", required_argument, 0, 'C'}, {"help", no_argument, 0, 'h'},
        {"learning-curve", no_argument, 0, 4001}, {"seeds", required_argument, 0, 4002},
        {"splits", required_argument, 0, 4003}, {"test-speakers", required_argument, 0, 4004},
        {"shots-list", required_argument, 0, 4005}, {"json", no_argument, 0, 4006},
        {"shifts", required_argument, 0, 4007}, {"norm", required_argument, 0, 4008},
        {"proto", required_argument, 0, 4009}, {"proto-temp", required_argument, 0, 4010},
        {"ensemble", required_argument, 0, 4011}, {"positions", required_argument, 0, 4012},
        {"no-scratch", no_argument, 0, 4013}, {"speed-perturb", required_argument, 0, 4014},
        {"min-steps", required_argument, 0, 4015}, {"label-smoothing", required_argument, 0, 4016},
        {"mixup", required_argument, 0, 4017}, {"finetune", required_argument, 0, 'K'},
        {"warp-perturb", required_argument, 0, 4018}, {"perturb-test", no_argument, 0, 4019},
        {"frontend-copy", required_argument, 0, 4020}, {"plot", required_argument, 0, 4021},
        {"encoder-lr", required_argument, 0, 'E'}, {"scratch", no_argument, 0, 'S'},
        {"augment", required_argument, 0, 2001}, {"snr", required_argument, 0, 2002}, {"gain", required_argument, 0, 2003},
        {"speed", required_argument, 0, 2004}, {"shift-ms", required_argument, 0, 2005},
        {"aug-p", required_argument, 0, 2006}, {"specaugment", no_argument, 0, 2007},
        {"noise-dir", required_argument, 0, 2008}, {"no-silence", no_argument, 0, 2009},
        {"wake-word", required_argument, 0, 2010}, {"target-fa", required_argument, 0, 2011},
        {"negatives", required_argument, 0, 2012}, {"negatives-max", required_argument, 0, 2013},
        {"negatives-pick", required_argument, 0, 2014},
        CLI_ENGINE_LONGOPTS, CLI_SYNTH_TRAIN_LONGOPTS, {"data", required_argument, 0, 3010},
        {"synth-cache", required_argument, 0, 3011}, {"real-weight", required_argument, 0, 3012},
        {"speak-labels", no_argument, 0, 3013}, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    es_synth_opts so;
    es_synth_opts_default(&so);
    const char *real = NULL, *synth_cache = NULL;
    int speak_labels = 0;
    static char label_words[16384];   /* --speak-labels: the --words list made of the labels */
    es_train_opts o;
    es_train_opts_default(&o);
    const char *out = NULL, *head = "mlp";
    int hidden = 128, opt, r, seed = 1;
    double v;
    int curve = 0, json = 0, shots_list[64];
    const char *plot = NULL;   /* --plot: the learning curve as SVG */
    size_t n_shots_list = 0;
    es_curve_opts co;
    es_curve_opts_default(&co);
    char synth_dir[4096];   /* co.synth_dir points here while the curve runs */
    /* the learning curve starts from es_curve_opts_default's classifier,
     * which is the one `train -o` saves (it once had a shorter window and
     * more offsets of its own) */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--learning-curve")) o = co.train;
    const char *tspk[256];
    size_t n_tspk = 0;
    unsigned char given[4096] = {0};   /* options seen, by code: for those that would do nothing */
    while ((opt = getopt_long(argc, argv, "o:t:n:qh", opts, NULL)) != -1) {
        if (opt >= 0 && opt < (int)sizeof given) given[opt] = 1;
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        if ((r = cli_synth_opt(&so, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 3010: real = optarg; break;
        case 3011: synth_cache = optarg; break;
        case 3013: speak_labels = 1; break;
        case 3012: {
            double v;
            if (cli_parse_double(optarg, 0, 100, &v)) { fprintf(stderr, "earshot: --real-weight must be from 0 to 100\n"); return EXIT_USAGE; }
            so.real_weight = v;
            break;
        }
        case 'o': out = optarg; break;
        case 'p': o.pattern = optarg; break;
        case 'V': o.val_dir = optarg; break;
        case 'F':
            if (cli_parse_double(optarg, 0, 0.9, &v)) { fprintf(stderr, "earshot: --val-fraction must be from 0 to 0.9\n"); return EXIT_USAGE; }
            o.val_fraction = v;
            break;
        case 'k': if (cli_parse_int("--shots", optarg, 1, 1000000, &o.shots)) return EXIT_USAGE; break;
        case 'H':
            if (strcmp(optarg, "linear") && strcmp(optarg, "mlp")) { fprintf(stderr, "earshot: --head is linear or mlp\n"); return EXIT_USAGE; }
            head = optarg;
            break;
        case 'N': if (cli_parse_int("--hidden", optarg, 1, 4096, &hidden)) return EXIT_USAGE; break;
        case 'P': {
            es_pool pl;
            es_error pe = {0};
            if (es_pool_parse(optarg, &pl, &pe)) { cli_error(&pe); return EXIT_USAGE; }   /* before any work */
            o.pooling = optarg;
            break;
        }
        case 1900:
            if (!strcmp(optarg, "stream")) o.frontend = ES_EMBED_STREAM;
            else if (!strcmp(optarg, "whole")) o.frontend = ES_EMBED_WHOLE;
            else { fprintf(stderr, "earshot: --frontend must be stream or whole\n"); return EXIT_USAGE; }
            break;
        case 'w': if (cli_parse_int("--window", optarg, 1, 256, &o.window)) return EXIT_USAGE; break;
        case 'D':
            if (cli_parse_double(optarg, 0.8, 60, &v)) { fprintf(stderr, "earshot: --pad-to must be seconds from 0.8 to 60\n"); return EXIT_USAGE; }
            o.pad_to = v;
            break;
        case 'e': if (cli_parse_int("--epochs", optarg, 1, 100000, &o.epochs)) return EXIT_USAGE; break;
        case 'b': if (cli_parse_int("--batch", optarg, 1, 65536, &o.batch)) return EXIT_USAGE; break;
        case 'l': if (parse_float_opt("--lr", optarg, 1e-7, 10, &o.lr)) return EXIT_USAGE; break;
        case 'W': if (parse_float_opt("--weight-decay", optarg, 0, 10, &o.weight_decay)) return EXIT_USAGE; break;
        case 'd': if (parse_float_opt("--dropout", optarg, 0, 0.95, &o.dropout)) return EXIT_USAGE; break;
        case 'x': if (cli_parse_int("--patience", optarg, 0, 100000, &o.patience)) return EXIT_USAGE; break;
        case 'B':
            if (strcmp(optarg, "none") && strcmp(optarg, "sample") && strcmp(optarg, "weight") && strcmp(optarg, "auto")) {
                fprintf(stderr, "earshot: --balance is none, sample, weight or auto\n");
                return EXIT_USAGE;
            }
            o.balance = optarg;
            break;
        case 's': if (cli_parse_int("--seed", optarg, 0, 2147483647, &seed)) return EXIT_USAGE; break;
        case 'C': o.cache_dir = optarg; break;
        case 4001: curve = 1; break;
        case 4002: if (cli_parse_int("--seeds", optarg, 1, 1000, &co.seeds)) return EXIT_USAGE; break;
        case 4003:
            if (!strcmp(optarg, "all")) co.splits = ES_CURVE_ALL_SPLITS;
            else if (cli_parse_int("--splits", optarg, 1, 1000, &co.splits)) return EXIT_USAGE;
            break;
        case 4004:
            if (n_tspk == sizeof tspk / sizeof tspk[0]) { fprintf(stderr, "earshot: too many --test-speakers\n"); return EXIT_USAGE; }
            tspk[n_tspk++] = optarg;
            break;
        case 4005: if (parse_shots(optarg, shots_list, 64, &n_shots_list)) return EXIT_USAGE; break;
        case 4006: json = 1; break;
        case 4007:
            if (!strcmp(optarg, "auto")) o.shifts = -1;
            else if (cli_parse_int("--shifts", optarg, 1, 16, &o.shifts)) return EXIT_USAGE;
            break;
        case 4008:
            if (strcmp(optarg, "none") && strcmp(optarg, "l2") && strcmp(optarg, "z") && strcmp(optarg, "zl2")) {
                fprintf(stderr, "earshot: --norm is none, l2, z or zl2\n");
                return EXIT_USAGE;
            }
            o.norm = optarg;
            break;
        case 4009: if (parse_float_opt("--proto", optarg, 0, 1, &o.proto)) return EXIT_USAGE; break;
        case 4010: if (parse_float_opt("--proto-temp", optarg, 0.01, 1000, &o.proto_temp)) return EXIT_USAGE; break;
        case 4012: if (cli_parse_int("--positions", optarg, 1, 15, &o.positions)) return EXIT_USAGE; break;
        case 4013: co.scratch = 0; break;
        case 4015: if (cli_parse_int("--min-steps", optarg, 0, 1000000, &o.min_steps)) return EXIT_USAGE; break;
        case 4016: if (parse_float_opt("--label-smoothing", optarg, 0, 0.5, &o.label_smoothing)) return EXIT_USAGE; break;
        case 4017: if (parse_float_opt("--mixup", optarg, 0, 0.5, &o.mixup)) return EXIT_USAGE; break;
        case 4014:
            if (!strcmp(optarg, "auto")) { o.speed_perturb = -1; break; }
            if (cli_parse_double(optarg, 0, 0.5, &v)) { fprintf(stderr, "earshot: --speed-perturb must be from 0 to 0.5, or auto\n"); return EXIT_USAGE; }
            o.speed_perturb = v;
            break;
        case 4018:
            if (cli_parse_double(optarg, 0, 0.3, &v)) { fprintf(stderr, "earshot: --warp-perturb must be from 0 to 0.3\n"); return EXIT_USAGE; }
            o.warp_perturb = v;
            break;
        case 4019: o.perturb_test = 1; break;
        case 4021: plot = optarg; break;
        case 4020:
            if (strcmp(optarg, "yes") && strcmp(optarg, "no") && strcmp(optarg, "auto")) {
                fprintf(stderr, "earshot: --frontend-copy must be yes, no or auto\n");
                return EXIT_USAGE;
            }
            o.frontend_copy = !strcmp(optarg, "auto") ? -1 : !strcmp(optarg, "yes");
            break;
        case 4011: if (cli_parse_int("--ensemble", optarg, 1, 16, &o.ensemble)) return EXIT_USAGE; break;
        case 'K': if (cli_parse_int("--finetune", optarg, 0, 20, &o.finetune)) return EXIT_USAGE; break;
        case 'E': if (parse_float_opt("--encoder-lr", optarg, 1e-8, 10, &o.encoder_lr)) return EXIT_USAGE; break;
        case 'S': o.scratch = 1; break;
        case 2001:
            if (!strcmp(optarg, "auto")) o.augment = -1;
            else if (cli_parse_int("--augment", optarg, 0, 1000, &o.augment)) return EXIT_USAGE;
            break;
        case 2002: if (parse_range("--snr", optarg, -30, 100, o.aug_snr)) return EXIT_USAGE; break;
        case 2003: if (parse_range("--gain", optarg, -60, 60, o.aug_gain)) return EXIT_USAGE; break;
        case 2004: if (parse_range("--speed", optarg, 0.5, 2, o.aug_speed)) return EXIT_USAGE; break;
        case 2005:
            if (cli_parse_double(optarg, 0, 10000, &v)) { fprintf(stderr, "earshot: --shift-ms must be from 0 to 10000\n"); return EXIT_USAGE; }
            o.aug_shift_ms = v;
            break;
        case 2006:
            if (cli_parse_double(optarg, 0, 1, &v)) { fprintf(stderr, "earshot: --aug-p must be from 0 to 1\n"); return EXIT_USAGE; }
            o.aug_p = v;
            break;
        case 2007: o.specaugment = 1; break;
        case 2008: o.noise_dir = optarg; break;
        case 2009: o.silence = 0; break;
        case 2010: o.wake_word = optarg; break;
        case 2012: o.negatives_dir = optarg; break;
        case 2013: if (cli_parse_int("--negatives-max", optarg, 0, 100000000, &o.negatives_max)) return EXIT_USAGE; break;
        case 2014:
            if (strcmp(optarg, "hard") && strcmp(optarg, "even")) {
                fprintf(stderr, "earshot: --negatives-pick must be hard or even\n");
                return EXIT_USAGE;
            }
            o.negatives_pick = !strcmp(optarg, "even");
            break;
        case 2011:
            if (cli_parse_double(optarg, 0, 1, &v)) { fprintf(stderr, "earshot: --target-fa must be from 0 to 1\n"); return EXIT_USAGE; }
            o.target_fa = v;
            break;
        case 'h': train_help(stdout); return EXIT_OK;
        default: return cli_bad_option("train", argv, opts);
        }
    }
    if (speak_labels) {
        if (so.words || real || optind != argc - 1) {
            fprintf(stderr, "earshot train: --speak-labels takes the words from DATASET's labels: give DATASET, "
                            "and no --words or --data\n");
            return EXIT_USAGE;
        }
        es_error e = {0};
        if (labels_as_words(argv[optind], o.pattern, label_words, sizeof label_words, &e)) { cli_error(&e); return EXIT_FAIL; }
        so.words = label_words;
        if (!c.quiet) fprintf(stderr, "--speak-labels: --words \"%s\"\n", label_words);
        /* train: DATASET becomes the recordings mixed in; the curve keeps it */
        if (!curve) { real = argv[optind]; optind++; }
    }
    if (plot && !curve) {
        fprintf(stderr, "earshot train: --plot draws the learning curve; add --learning-curve\n");
        return EXIT_USAGE;
    }
    if (so.words && cli_check_synth(&so)) return EXIT_USAGE;
    /* An option that would change nothing is refused: a user who passes
     * --target-fa without --wake-word, or --json without the curve, means
     * something the run would not do, and exit 0 hid it. */
    {
        int words_on = so.words != NULL, wake_on = o.wake_word != NULL, ft_on = o.finetune > 0,
            mlp_on = !strcmp(head, "mlp"), neg_on = o.negatives_dir != NULL;
        const struct { const char *name, *needs; int have; } rules[] = {
            {"json", "--learning-curve", curve}, {"seeds", "--learning-curve", curve},
            {"splits", "--learning-curve", curve}, {"test-speakers", "--learning-curve", curve},
            {"shots-list", "--learning-curve", curve}, {"no-scratch", "--learning-curve", curve},
            {"takes", "--words", words_on}, {"unknown", "--words", words_on}, {"unknown-words", "--words", words_on},
            {"engines", "--words", words_on}, {"formant", "--words", words_on}, {"lang", "--words", words_on},
            {"synth-augment", "--words", words_on}, {"synth-aug-prob", "--words", words_on},
            {"synth-cache", "--words", words_on}, {"real-weight", "--words", words_on},
            {"target-fa", "--wake-word", wake_on}, {"encoder-lr", "--finetune", ft_on}, {"hidden", "--head mlp", mlp_on},
            {"negatives-max", "--negatives", neg_on}, {"negatives-pick", "--negatives", neg_on}};
        for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
            const char *nd = rules[i].needs;
            int have = rules[i].have;
            int code = -1;
            for (size_t k = 0; opts[k].name; k++)
                if (!strcmp(opts[k].name, rules[i].name)) { code = opts[k].val; break; }
            if (!have && code >= 0 && code < (int)sizeof given && given[code]) {
                fprintf(stderr, "earshot train: --%s has no effect without %s\n", rules[i].name, nd);
                return EXIT_USAGE;
            }
        }
    }
    if (curve) {
        if (out) { fprintf(stderr, "earshot train: --learning-curve writes no model; drop -o\n"); return EXIT_USAGE; }
        if (o.negatives_dir) {
            fprintf(stderr, "earshot train: --negatives teaches a saved model; the learning curve measures clips, not talk\n");
            return EXIT_USAGE;
        }
        /* the curve takes minutes: refuse a chart it could not write first */
        if (plot && cli_check_svg_out(plot, "--plot")) return EXIT_USAGE;
        if (optind != argc - 1) { fprintf(stderr, "earshot train: give exactly one DATASET folder\n\n"); train_help(stderr); return EXIT_USAGE; }
        o.data_dir = argv[optind];
        o.seed = (unsigned long long)seed;
        o.hidden = strcmp(head, "mlp") ? 0 : hidden;
        co.train = o;
        if (n_shots_list) { co.shots = shots_list; co.n_shots = n_shots_list; }
        if (n_tspk) { co.test_speakers = tspk; co.n_test_speakers = n_tspk; }
        if (real) {
            fprintf(stderr, "earshot train: the learning curve's recordings are its DATASET; drop --data\n");
            return EXIT_USAGE;
        }
        if (so.words) {
            /* the takes every run mixes in, made (or found in the cache)
             * exactly as `train --words` makes them for this seed */
            so.seed = o.seed;
            es_synth_result sr;
            es_error e = {0};
            progress_state ps = {.tty = !c.quiet && isatty(2)};
            es_status st = es_synth_cached(&so, synth_cache, &sr, on_progress, &ps, &e);
            if (ps.open) fprintf(stderr, "\n");
            if (st) { cli_error(&e); return EXIT_FAIL; }
            snprintf(synth_dir, sizeof synth_dir, "%s", sr.dir);
            co.synth_dir = synth_dir;
            co.synth_takes = so.takes;
            co.real_weight = so.real_weight;
        }
        return run_curve(&c, &co, json, plot);
    }
    if (o.scratch && o.finetune) {
        fprintf(stderr, "earshot train: --scratch trains no pretrained encoder, so it takes no --finetune\n");
        return EXIT_USAGE;
    }
    int words = so.words != NULL;
    if (!out || optind != argc - (words ? 0 : 1) || (real && !words)) {
        fprintf(stderr, "earshot train: %s\n\n", !out ? "missing -o MODEL.safetensors"
                : real && !words ? "--data goes with --words (else give DATASET)"
                : words ? "with --words, give real recordings as --data DATASET" : "give exactly one DATASET folder");
        train_help(stderr);
        return EXIT_USAGE;
    }
    if (cli_check_model_out(out, "-o")) return EXIT_USAGE;
    o.data_dir = words ? NULL : argv[optind];
    o.seed = (unsigned long long)seed;
    so.seed = o.seed;
    o.hidden = strcmp(head, "mlp") ? 0 : hidden;
    es_engine *eng = cli_engine(&c);
    if (!eng) return EXIT_FAIL;
    es_error e = {0};
    es_train_result res;
    progress_state ps = {.tty = !c.quiet && isatty(2)};
    es_synth_result sr;
    es_status st = words ? es_train_words(eng, &so, synth_cache, real, o.pattern, &o, out, &res, &sr, on_progress, &ps, &e)
                         : es_train_head(eng, &o, out, &res, on_progress, &ps, &e);
    if (ps.open) fprintf(stderr, "\n");
    es_engine_free(eng);
    if (st) { cli_error(&e); return EXIT_FAIL; }
    if (words) printf("synthetic takes: %s (%s)\n", sr.dir, sr.from_cache ? "from the cache" : "synthesised now");
    if (words && sr.stale_removed)
        printf("removed %zu unfinished synthesis folder%s left by interrupted runs\n", sr.stale_removed,
               sr.stale_removed == 1 ? "" : "s");
    printf("trained %s head%s on %zu clips (%zu labels), validated on %zu\n", o.hidden ? "mlp" : "linear",
           o.scratch ? " on the from-scratch CNN baseline" : o.finetune ? " and the encoder's last convolutions" : "",
           res.n_train, res.n_labels, res.n_val);
    if (res.n_ignored)
        fprintf(stderr, "earshot: note: %zu audio file%s of %s left out (%s), e.g. '%s'\n", res.n_ignored,
                res.n_ignored == 1 ? "" : "s", o.data_dir ? o.data_dir : real,
                o.pattern ? "names not matching --pattern" : "at the top, in no label folder", res.ignored_example);
    if (res.n_long_clips)
        fprintf(stderr, "earshot: note: %zu clip%s %s longer than the %.1f s each clip is centred in "
                        "(up to %.0f s, e.g. '%s'): each trains by its centre %.2f s alone, as one take of its label; "
                        "cut long recordings into one word each\n",
                res.n_long_clips, res.n_long_clips == 1 ? "" : "s", res.n_long_clips == 1 ? "is" : "are", res.pad_to,
                res.long_clip_max_s, res.long_clip_example, o.window * 0.08);
    if (o.finetune) printf("fine-tuned the last %d encoder convolutions\n", o.finetune);
    else if (!o.scratch)
        printf("classifier: %d head%s, averaged over %d offset%s x %d window position%s of each clip\n", o.ensemble,
               o.ensemble == 1 ? "" : "s", res.shifts, res.shifts == 1 ? "" : "s", o.positions, o.positions == 1 ? "" : "s");
    /* the copies used (auto resolved by the clips per label) */
    char why[64], why_fe[64];
    snprintf(why, sizeof why, " (auto: at most %d clips per label)", ES_COPIES_AUTO_MAX_CLIPS);
    snprintf(why_fe, sizeof why_fe, " (auto: at most %d clips per label)", ES_FRONTEND_COPY_AUTO_MAX_CLIPS);
    if (res.speed_perturb > 0)
        printf("speed-perturbed copies at %g and %g: training rows%s%s\n", 1 - res.speed_perturb, 1 + res.speed_perturb,
               res.perturb_test ? ", and averaged in with the clip's own variants" : " only",
               o.speed_perturb < 0 ? why : "");
    if (res.frontend_copy)
        printf("a copy of every clip through the %s front end: training rows, and averaged in%s\n",
               o.frontend == ES_EMBED_STREAM ? "whole-clip" : "streaming", o.frontend_copy < 0 ? why_fe : "");
    if (res.pad_to > o.pad_to + 1e-9)
        printf("clips centred in %.3f s of audio, not --pad-to %g: %d window position%s of %d embeddings need it "
               "(the card records it)\n", res.pad_to, o.pad_to, o.finetune || o.scratch ? 1 : o.positions,
               (o.finetune || o.scratch ? 1 : o.positions) == 1 ? "" : "s", o.window);
    printf("split: %s\n", res.split);
    if (words && sr.real_split[0]) printf("validation recordings: %s\n", sr.real_split);
    printf("balance: %s; best epoch %d of %d\n", res.balance, res.best_epoch, res.epochs_run);
    if (!isnan(res.val_acc)) {
        /* small validation sets are the rule here (a few clips per word):
         * the count and the interval say how much 1.0 on 8 clips means */
        size_t ok = (size_t)lround(res.val_acc * (double)res.n_val);
        double lo, hi;
        es_wilson_interval(ok, res.n_val, &lo, &hi);
        printf("validation accuracy %.4f (balanced %.4f), %zu of %zu; 95%% interval %.4f-%.4f\n", res.val_acc,
               res.val_bal_acc, ok, res.n_val, lo, hi);
    }
    if (o.finetune || o.scratch)   /* no cache: the network's inputs are computed in memory */
        printf("inputs %.1f s (%s of %zu clips), training %.1f s\n", res.embed_seconds,
               o.scratch ? "log-mel" : "the frozen encoder layers", res.n_files, res.train_seconds);
    else
        printf("embedding %.1f s (%zu of %zu clips from the cache), training %.1f s\n", res.embed_seconds, res.cache_hits,
               res.n_files, res.train_seconds);
    if (res.n_aug && (o.finetune || o.scratch))
        printf("augmentation: %zu variants in %.1f s (through the frozen layers, not cached)\n", res.n_aug,
               res.aug_seconds);
    else if (res.n_aug)
        printf("augmentation: %zu variants in %.1f s (%zu from the cache)\n", res.n_aug, res.aug_seconds, res.aug_hits);
    if (res.n_silence_train + res.n_silence_val)
        printf("silence: %zu training and %zu validation windows of %s\n", res.n_silence_train, res.n_silence_val,
               res.silence_generated ? "generated noise (no _background_noise_ recordings)" : "background noise");
    if (res.n_talk_windows) {
        printf("other talk: %zu windows of %zu file%s, 0.32 s apart", res.n_talk, res.n_talk_files, res.n_talk_files == 1 ? "" : "s");
        if (res.n_talk_hard)
            printf(" (of %zu, --negatives-max: %zu evenly spread and the %zu a first round scored most like a word, "
                   "%.3f or more)", res.n_talk_windows, res.n_talk - res.n_talk_hard, res.n_talk_hard, res.talk_hard_min);
        else if (res.n_talk < res.n_talk_windows)
            printf(" (evenly spread over %zu; --negatives-max)", res.n_talk_windows);
        /* without --negatives the talk is the long _unknown_ clips: say
         * so, or the line reads as if talk had been given */
        printf(", taught as %s%s, in %.1f s\n", o.wake_word ? "other" : "_unknown_",
               o.negatives_dir ? "" : " (the _unknown_ clips longer than --pad-to)", res.talk_seconds);
    }
    if (!isnan(res.threshold)) {
        printf("wake word '%s': threshold %.4f", o.wake_word, res.threshold);
        if (!isnan(res.threshold_fa))
            printf(" (validation false accepts %.4f, target %g; recall %.4f)", res.threshold_fa, o.target_fa,
                   res.threshold_recall);
        printf("\n");
    }
    printf("wrote %s\n", out);
    return EXIT_OK;
}

static void eval_help(FILE *f)
{
    fprintf(f,
            "usage: earshot eval [options] MODEL.safetensors DATASET\n"
            "\n"
            "Accuracy, per-label precision/recall/F1, the confusion matrix and the\n"
            "false-accept rate on _unknown_ clips of a model trained by earshot train;\n"
            "the accuracy of each speaker too when the file names tell two or more\n"
            "({speaker} in --pattern, or Speech Commands names). Accuracies and the\n"
            "false-accept rate come with their counts and 95%% Wilson intervals, which\n"
            "treat clips as independent (clips of one voice are not). DATASET may hold\n"
            "a single label, or _unknown_ alone (false accepts on other speech).\n"
            "\n"
            "  --pattern P    flat folder naming, e.g. '{label}_{speaker}_{take}'\n"
            "  --json         print one JSON object instead of text\n"
            "  --cache DIR    embedding cache (as for train)\n"
            "  --self-adapt   decide each speaker's clips one after another (in a random\n"
            "                 order from --seed), learning the voice's offset from the\n"
            "                 model's own decisions as a live session would; needs the\n"
            "                 speaker in every file name. Not a cold-start figure.\n"
            "  --one-voice    with --self-adapt: every clip is one voice's (your own\n"
            "                 takes, say), whatever the file names say\n"
            "  --prior N      its pseudo-observations of no offset (default 2)\n"
            "  --seed N       the order of each speaker's clips (default 1)\n"
            "  --thresholds   also the trade-off of a threshold, from 0.1 to 0.99:\n"
            "                 the word clips missed, and the clips on which another\n"
            "                 word fires (other words, _unknown_, background noise),\n"
            "                 where a word fires when its score reaches the\n"
            "                 threshold, as in transcribe and listen (JSON: \"sweep\"),\n"
            "                 and the lowest threshold for at most 1%% and 0.1%%\n"
            "  --plot FILE.svg  draw that trade-off against the threshold\n"
            "  --negatives DIR  recordings of other talk the words must not fire on (every\n"
            "                 audio file below DIR, any length): the detector runs over\n"
            "                 them as transcribe does (its defaults), and the trade-off\n"
            "                 gains events an hour on that talk at each threshold, at the\n"
            "                 model's own thresholds (by word) and the lowest threshold\n"
            "                 for at most 1 and 0.1 an hour on it; then, for other talk,\n"
            "                 one threshold and a threshold per word for each budget\n"
            "                 and for none, chosen on half the talk and the word clips\n"
            "                 and held out on the other half (a choice counted on what\n"
            "                 it was chosen on flatters itself), as transcribe\n"
            "                 --threshold arguments (implies --thresholds)\n"
            "  --plot-talk FILE.svg  with --negatives: the words missed against the events\n"
            "                 an hour on the talk, a point per threshold (0.01 ... 0.99)\n"
            "  --set-thresholds X -o OUT.safetensors  with --negatives: write a copy of the\n"
            "                 model whose card carries the thresholds for at most X false\n"
            "                 accepts an hour on other talk (0: none on talk as long as\n"
            "                 this): one per word or one for all, whichever missed fewer\n"
            "                 held-out word clips; transcribe and listen then use them\n"
            CLI_ENGINE_HELP);
}

static void json_num(double v) { if (isnan(v)) printf("null"); else printf("%.6f", v); }
/* [lo, hi], or null when there was nothing to count */
static void json_interval(double lo, double hi)
{
    if (isnan(lo)) { printf("null"); return; }
    printf("[%.6f, %.6f]", lo, hi);
}

static void rate(double v) { if (isnan(v)) printf(" %11s", "-"); else printf(" %11.4f", v); }

/* The fewest clips of a kind the false-accept rates count on (SIZE_MAX:
 * none): a rate of 1% needs 100 of each kind to be told from none. */
static size_t fewest_clips(const es_sweep_point *p)
{
    size_t f = SIZE_MAX;
    if (p->n_words && p->n_words < f) f = p->n_words;
    if (p->n_unknown && p->n_unknown < f) f = p->n_unknown;
    if (p->n_silence && p->n_silence < f) f = p->n_silence;
    return f;
}

/* The worst of a point's false-accept rates (NaN ones left out; 0 if none). */
static double worst_false(const es_sweep_point *p)
{
    double w = 0;
    if (p->false_words > w) w = p->false_words;
    if (p->false_unknown > w) w = p->false_unknown;
    if (p->false_silence > w) w = p->false_silence;
    return w;
}

/* The one sweep eval makes: thresholds 0.01 ... 0.99 (fine[i] is
 * (i + 1) / 100), then 0.995 and 0.999. The table, the suggestions and the
 * chart all read it. */
enum { NFINE = 101 };
static es_status fine_sweep(const es_eval_result *res, es_sweep_point *fine, es_error *err)
{
    double th[NFINE];
    for (int i = 0; i < 99; i++) th[i] = (i + 1) / 100.0;
    th[99] = 0.995;
    th[100] = 0.999;
    return es_eval_sweep(res, th, NFINE, fine, err);
}

/* The lowest threshold of the fine sweep whose worst false-accept rate is
 * at most `target`: the one that misses least for it. 0 when none is. */
static int suggest(const es_sweep_point *fine, double target, es_sweep_point *out)
{
    for (int i = 0; i < NFINE; i++)
        if (worst_false(&fine[i]) <= target) { *out = fine[i]; return 1; }
    return 0;
}

static const double SUGGEST_AT[2] = {0.01, 0.001};

/* A suggestion held out: chosen on half the clips (each label's clips of
 * each kind taken in turn) and counted on the other half, both ways round,
 * as the talk's thresholds are (a threshold chosen on clips flatters
 * itself when counted on them). */
typedef struct {
    int tried;             /* each half has enough clips of every kind for the target */
    int found;             /* a threshold was found on both halves */
    double threshold[2];   /* chosen on half f */
    double worst_false;    /* the worst kind's false accepts on the halves not chosen on */
    double missed;         /* word clips missed there (NaN: none) */
} held_suggestion;

/* The clips of fold f of r, as a view es_eval_sweep reads (scores, truth
 * and kind copied; labels shared). */
static es_status eval_fold(const es_eval_result *r, int f, es_eval_result *out, es_error *err)
{
    memset(out, 0, sizeof *out);
    size_t K = r->n_labels, *seen = calloc(4 * (K + 1), sizeof *seen);
    out->scores = malloc((r->n + 1) * K * sizeof *out->scores);
    out->truth = malloc((r->n + 1) * sizeof *out->truth);
    out->kind = malloc(r->n + 1);
    if (!seen || !out->scores || !out->truth || !out->kind) {
        free(seen);
        free(out->scores);
        free(out->truth);
        free(out->kind);
        return es_fail(err, ES_ERR_NOMEM, "out of memory");
    }
    out->n_labels = K;
    out->labels = r->labels;
    for (size_t i = 0; i < r->n; i++) {
        size_t key = (size_t)(r->kind[i] & 3) * (K + 1) + (r->truth[i] >= 0 && (size_t)r->truth[i] < K ? (size_t)r->truth[i] + 1 : 0);
        if ((int)(seen[key]++ & 1) != f) continue;
        memcpy(out->scores + out->n * K, r->scores + i * K, K * sizeof *out->scores);
        out->truth[out->n] = r->truth[i];
        out->kind[out->n++] = r->kind[i];
    }
    free(seen);
    return ES_OK;
}

static void eval_fold_free(es_eval_result *v)
{
    free(v->scores);
    free(v->truth);
    free(v->kind);
}

/* Each target's suggestion, held out. */
static es_status held_suggest(const es_eval_result *r, held_suggestion out[2], es_error *err)
{
    memset(out, 0, 2 * sizeof *out);
    if (!r->scores || !r->truth || !r->kind) return ES_OK;
    es_eval_result half[2];
    es_sweep_point sw[2][NFINE];
    es_status st = eval_fold(r, 0, &half[0], err);
    if (st) return st;
    if ((st = eval_fold(r, 1, &half[1], err))) { eval_fold_free(&half[0]); return st; }
    for (int f = 0; f < 2 && !st; f++) st = fine_sweep(&half[f], sw[f], err);
    for (int t = 0; t < 2 && !st; t++) {
        held_suggestion *h = &out[t];
        size_t fewest = fewest_clips(&sw[0][0]), fewest1 = fewest_clips(&sw[1][0]);
        if (fewest1 < fewest) fewest = fewest1;
        h->tried = fewest != SIZE_MAX && (double)fewest * SUGGEST_AT[t] >= 1;
        h->missed = h->worst_false = NAN;
        if (!h->tried) continue;
        /* false accepts and misses counted on the halves not chosen on */
        double fw = 0, nw = 0, fu = 0, nu = 0, fs = 0, ns = 0, mi = 0, no = 0;
        h->found = 1;
        for (int f = 0; f < 2 && h->found; f++) {
            es_sweep_point got;
            if (!(h->found = suggest(sw[f], SUGGEST_AT[t], &got))) break;
            h->threshold[f] = got.threshold;
            int i = 0;
            while (i + 1 < NFINE && sw[1 - f][i].threshold < got.threshold - 1e-9) i++;
            const es_sweep_point *o = &sw[1 - f][i];
            if (o->n_words) { fw += o->false_words * (double)o->n_words; nw += (double)o->n_words; }
            if (o->n_unknown) { fu += o->false_unknown * (double)o->n_unknown; nu += (double)o->n_unknown; }
            if (o->n_silence) { fs += o->false_silence * (double)o->n_silence; ns += (double)o->n_silence; }
            if (o->n_own) { mi += o->missed * (double)o->n_own; no += (double)o->n_own; }
        }
        if (!h->found) continue;
        h->worst_false = 0;
        if (nw > 0 && fw / nw > h->worst_false) h->worst_false = fw / nw;
        if (nu > 0 && fu / nu > h->worst_false) h->worst_false = fu / nu;
        if (ns > 0 && fs / ns > h->worst_false) h->worst_false = fs / ns;
        if (no > 0) h->missed = mi / no;
    }
    eval_fold_free(&half[0]);
    eval_fold_free(&half[1]);
    return st;
}

static void print_sweep(const es_sweep_point *sw, size_t n, const es_sweep_point *sug, const int *found,
                        const held_suggestion *held, const double *talk_h)
{
    printf("\nthreshold trade-off (one threshold for every word; a word fires on a clip when its\n"
           "score reaches it, as in transcribe and listen, whose scores are also smoothed in time):\n");
    printf("%9s %11s %11s %11s %11s", "threshold", "missed", "other word", "_unknown_", "noise");
    if (talk_h) printf(" %11s", "talk /h");
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        printf("%9.2f", sw[i].threshold);
        rate(sw[i].missed);
        rate(sw[i].false_words);
        rate(sw[i].false_unknown);
        rate(sw[i].false_silence);
        if (talk_h) printf(" %11.1f", talk_h[i]);
        printf("\n");
    }
    printf("missed: of the %zu clips of the model's words; the others: clips on which a word other than\n"
           "their own fires, of %zu word clips, %zu _unknown_ clips and %zu noise slices (- where none)\n",
           sw[0].n_own, sw[0].n_words, sw[0].n_unknown, sw[0].n_silence);
    if (talk_h) printf("talk /h: events an hour on the other talk of --negatives\n");
    size_t fewest = fewest_clips(&sw[0]);
    for (int i = 0; i < 2; i++) {
        if (fewest != SIZE_MAX && (double)fewest * SUGGEST_AT[i] < 1) {
            printf("for false accepts on at most %g%% of each kind of clip: too few clips to tell (%zu of one kind; "
                   "%.0f needed)\n", 100 * SUGGEST_AT[i], fewest, 1 / SUGGEST_AT[i]);
            continue;
        }
        if (found[i] && isnan(sug[i].missed))
            printf("for false accepts on at most %g%% of each kind of clip: threshold %.3g (no word clips to miss)\n",
                   100 * SUGGEST_AT[i], sug[i].threshold);
        else if (found[i])
            printf("for false accepts on at most %g%% of each kind of clip: threshold %.3g, missing %.2f%% of the words\n",
                   100 * SUGGEST_AT[i], sug[i].threshold, 100 * sug[i].missed);
        else
            printf("for false accepts on at most %g%% of each kind of clip: no threshold up to 0.999\n", 100 * SUGGEST_AT[i]);
        /* the line above is of the clips it was chosen on */
        const held_suggestion *h = &held[i];
        if (!h->tried) printf("    held out: too few clips for halves\n");
        else if (!h->found) printf("    held out: no threshold up to 0.999 on one half\n");
        else {
            printf("    held out (chosen on half the clips, %.3g and %.3g, counted on the other): false accepts on "
                   "%.2f%% of the worst kind", h->threshold[0], h->threshold[1], 100 * h->worst_false);
            if (!isnan(h->missed)) printf(", missing %.2f%% of the words", 100 * h->missed);
            printf("\n");
        }
    }
}

/* The trade-off against the threshold, 0.01 to 0.99 in steps of 0.01, on
 * a log axis of rates, with a row of its own for a rate of 0 (on a small
 * set most of each line is 0: left out, the chart showed almost nothing). */
static es_status sweep_plot(const es_sweep_point *sw, const char *model, const char *data, const char *path,
                            es_error *err)
{
    enum { N = 99 };   /* fine_sweep's first 99: 0.01 ... 0.99 */
    double th[N], y[4][N];
    es_status st = ES_OK;
    for (int i = 0; i < N; i++) {
        th[i] = sw[i].threshold;
        y[0][i] = sw[i].missed;
        y[1][i] = sw[i].false_words;
        y[2][i] = sw[i].false_unknown;
        y[3][i] = sw[i].false_silence;
    }
    char title[512], sub[512];
    const char *base = strrchr(model, '/');
    snprintf(title, sizeof title, "thresholds: %s on %s", base ? base + 1 : model, data);
    size_t counts[4] = {sw[0].n_own, sw[0].n_words, sw[0].n_unknown, sw[0].n_silence};
    int zero = 0;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < N && counts[k]; i++) zero |= y[k][i] == 0;
    snprintf(sub, sizeof sub, "by clip: %zu word clips, %zu _unknown_, %zu noise slices; log axis%s",
             sw[0].n_words, sw[0].n_unknown, sw[0].n_silence, zero ? ", a rate of 0 on the bottom row" : "");
    es_plot *p = es_plot_create(title, "threshold (every word)", "fraction of clips");
    if (!p) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_plot_subtitle(p, sub);
    es_plot_log(p, 0, 1);
    es_plot_log_zero(p, 1);
    es_plot_xrange(p, 0, 1);
    static const char *const NAMES[4] = {"word missed", "another word fires", "a word fires on _unknown_",
                                         "a word fires on noise"};
    for (int k = 0; k < 4 && !st; k++)
        if (counts[k]) st = es_plot_series(p, NAMES[k], th, y[k], NULL, NULL, N, NULL, 0, err);
    if (!st) st = es_plot_write(p, path, err);
    es_plot_free(p);
    return st;
}

static double per_hour(size_t events, double seconds) { return seconds > 0 ? (double)events * 3600 / seconds : NAN; }

/* The talk of eval --negatives through es_talk_eval_run at the fine
 * sweep's thresholds, a file per core as transcribe runs (the library's
 * own threads would only compete). */
static es_status talk_sweep(es_engine *eng, const char *model, const char *dir, const es_sweep_point *fine,
                            const es_eval_result *res, double set_budget, es_talk_eval *out, progress_state *ps,
                            es_error *err)
{
    /* per-word thresholds for at most 1 and 0.1 an hour, none, and the
     * budget of --set-thresholds when it is another */
    double budgets[ES_TALK_MAX_BUDGETS] = {1, 0.1, 0};
    size_t nb = 3;
    if (set_budget >= 0 && set_budget != 1 && set_budget != 0.1 && set_budget != 0) budgets[nb++] = set_budget;
    double th[NFINE];
    for (int i = 0; i < NFINE; i++) th[i] = fine[i].threshold;
    long jobs = sysconf(_SC_NPROCESSORS_ONLN);
    if (jobs < 1) jobs = 1;
    if (jobs > 1) es_set_threads(1);
    es_status st = es_talk_eval_run(eng, model, dir, th, NFINE, res, budgets, nb, (int)jobs, on_progress, ps, out, err);
    /* back to the default (eval has no other work after this) */
    if (jobs > 1) es_set_threads(0);
    return st;
}

/* The per-hour targets eval names a threshold for. */
static const double TALK_AT[2] = {1, 0.1};

/* The lowest threshold of the fine sweep with at most `per_h` events an
 * hour on the talk and, among those, the one missing fewest words (the
 * lowest, as misses only grow with it); -1 if none. */
static int talk_suggest(const es_talk_eval *t, double per_h)
{
    for (int i = 0; i < NFINE; i++)
        if (per_hour(t->total[i], t->seconds) <= per_h) return i;
    return -1;
}

/* A word's threshold for each reported label, as one JSON object. */
static void print_thr_json(const es_talk_eval *t, const double *thr)
{
    printf("{");
    for (size_t l = 0, k = 0; l < t->nlab; l++)
        if (t->labels[l]) {
            printf("%s", k++ ? ", " : "");
            cli_json_str(t->labels[l]);
            printf(": %g", thr[l]);
        }
    printf("}");
}

/* One way of choosing thresholds for a budget (es_talk_choice), as JSON. */
static void print_choice_json(const es_talk_eval *t, const es_talk_choice *c)
{
    if (!c->found) { printf("{\"found\": false}"); return; }
    size_t e = c->held_ev[0] + c->held_ev[1];
    printf("{\"found\": true, \"shift_logits\": %g, \"thresholds\": ", c->shift);
    print_thr_json(t, c->thr);
    printf(", \"held_out\": {\"events\": %zu, \"per_hour\": ", e);
    json_num(per_hour(e, t->seconds));
    printf(", \"missed\": ");
    json_num(c->held_missed);
    printf(", \"halves\": [");
    for (int f = 0; f < 2; f++) {
        printf("%s{\"chosen_on\": \"%s\", \"thresholds\": ", f ? ", " : "", f ? "second" : "first");
        print_thr_json(t, c->half_thr[f]);
        printf(", \"events_on_the_other\": %zu}", c->held_ev[f]);
    }
    printf("]}, \"talk\": {\"events\": %zu, \"per_hour\": ", c->events);
    json_num(per_hour(c->events, t->seconds));
    printf(", \"missed\": ");
    json_num(c->missed);
    printf("}}");
}

/* One way of choosing, on the terminal: the held-out figures first (what
 * to expect on other talk), then those on all of it. */
static void print_choice(const es_talk_eval *t, const es_talk_choice *c, const char *name, int best)
{
    if (!c->found) { printf("  %-20s no thresholds up to 0.999 keep to it on the halves\n", name); return; }
    size_t e = c->held_ev[0] + c->held_ev[1];
    printf("  %-20s held out: %zu event%s (%.2f an hour), missing ", name, e, e == 1 ? "" : "s", per_hour(e, t->seconds));
    if (isnan(c->held_missed)) printf("- (no word clips)");
    else printf("%.2f%%", 100 * c->held_missed);
    printf("; moved %+.2f logits%s\n   ", c->shift, best ? "; the better" : "");
    double first = -1;
    int same = 1;
    for (size_t l = 0; l < t->nlab; l++)
        if (t->labels[l]) {
            if (first < 0) first = c->thr[l];
            same &= c->thr[l] == first;
        }
    if (same && first > 0) printf(" --threshold %.3g", first);
    else
        for (size_t l = 0; l < t->nlab; l++)
            if (t->labels[l]) printf(" --threshold %s=%.3g", t->labels[l], c->thr[l]);
    printf("   (on all the talk: %zu event%s, missing ", c->events, c->events == 1 ? "" : "s");
    if (isnan(c->missed)) printf("-)\n");
    else printf("%.2f%%)\n", 100 * c->missed);
}

static void print_talk(const es_talk_eval *t, const es_sweep_point *fine)
{
    printf("\nother talk (--negatives): %zu file%s, %.2f h; every event on it is a false accept\n", t->files,
           t->files == 1 ? "" : "s", t->seconds / 3600);
    if (t->nbad) printf("(%zu file%s could not be read and %s left out: see above)\n", t->nbad, t->nbad == 1 ? "" : "s",
                        t->nbad == 1 ? "is" : "are");
    printf("at the model's own thresholds (transcribe's defaults): %zu events, %.1f an hour", t->own,
           per_hour(t->own, t->seconds));
    /* which word fires: transcribe takes a threshold per word (LABEL=T) */
    for (size_t i = 0, k = 0; i < t->nlab; i++)
        if (t->labels[i]) printf("%s%s %zu", k++ ? ", " : ": ", t->labels[i], t->own_by[i]);
    printf("\n");
    /* what this talk says of itself: flattering, since it is what they are
     * chosen on (the held-out choices below are not) */
    for (int k = 0; k < 2; k++) {
        int i = talk_suggest(t, TALK_AT[k]);
        double need = 1 / TALK_AT[k];
        if (t->seconds / 3600 < need) {
            printf("for at most %g false accept%s an hour: too little talk to tell (%.2f h; %g h needed)\n",
                   TALK_AT[k], TALK_AT[k] == 1 ? "" : "s", t->seconds / 3600, need);
            continue;
        }
        if (i < 0) printf("for at most %g false accept%s an hour on this talk: no threshold up to 0.999\n", TALK_AT[k],
                          TALK_AT[k] == 1 ? "" : "s");
        else if (isnan(fine[i].missed))
            printf("for at most %g false accept%s an hour on this talk: threshold %.3g (no word clips to miss)\n", TALK_AT[k],
                   TALK_AT[k] == 1 ? "" : "s", fine[i].threshold);
        else
            printf("for at most %g false accept%s an hour on this talk: threshold %.3g, missing %.2f%% of the words\n", TALK_AT[k],
                   TALK_AT[k] == 1 ? "" : "s", fine[i].threshold, 100 * fine[i].missed);
    }
    int z = talk_suggest(t, 0);
    if (z < 0) printf("no threshold up to 0.999 is silent on this talk\n");
    else if (!isnan(fine[z].missed))
        printf("silent on this talk from threshold %.3g, missing %.2f%% of the words\n", fine[z].threshold,
               100 * fine[z].missed);
    else printf("silent on this talk from threshold %.3g\n", fine[z].threshold);
    /* thresholds that hold on other talk: a threshold per word, and one
     * for every word, each chosen on half the talk and judged on the other */
    for (size_t b = 0; b < t->nbud; b++) {
        const es_talk_budget *bu = &t->bud[b];
        if (!bu->tried) continue;
        if (bu->budget > 0)
            printf("for at most %g false accept%s an hour on other talk", bu->budget, bu->budget == 1 ? "" : "s");
        else printf("for no event on other talk as long as this");
        printf(" (chosen on half of this talk and of the word clips, then moved, all by one step in logits, as low as "
               "the other half keeps to it; each half both ways):\n");
        const es_talk_choice *best = es_talk_best(bu);
        print_choice(t, &bu->one, "one threshold", best == &bu->one);
        print_choice(t, &bu->word, "a threshold per word", best == &bu->word);
    }
}

/* The wake-word chart: the words missed against the false accepts an
 * hour on the talk, a point per threshold of the fine sweep (0.01 ... 0.99),
 * on a log axis of events an hour with a column of its own for 0 (the
 * thresholds that are silent on the talk: the ones a user wants). */
static es_status talk_plot(const es_sweep_point *fine, const es_talk_eval *t, const char *model, const char *path,
                           es_error *err)
{
    enum { N = 99 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = per_hour(t->total[i], t->seconds);
        y[i] = fine[i].missed;
    }
    char title[512], sub[512];
    const char *base = strrchr(model, '/');
    snprintf(title, sizeof title, "false accepts against words missed: %s", base ? base + 1 : model);
    int z = talk_suggest(t, 0);
    char silent[160] = "no threshold up to 0.99 is silent on it";
    if (z >= 0 && z < N && !isnan(fine[z].missed))
        snprintf(silent, sizeof silent, "silent from %.2f, missing %.1f%%", fine[z].threshold,
                 100 * fine[z].missed);
    snprintf(sub, sizeof sub, "thresholds 0.01-0.99; %zu word clips, %.2f h of talk; %s", fine[0].n_own,
             t->seconds / 3600, silent);
    es_plot *p = es_plot_create(title, "false accepts an hour on the talk (transcribe's detector)",
                                "fraction of word clips missed");
    if (!p) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    es_plot_subtitle(p, sub);
    es_plot_log(p, 1, 0);
    es_plot_log_zero(p, 1);
    es_plot_yrange(p, 0, NAN);
    es_status st = es_plot_series(p, "words missed", x, y, NULL, NULL, N, NULL, 0, err);
    if (!st) st = es_plot_write(p, path, err);
    es_plot_free(p);
    return st;
}

/* --set-thresholds: a copy of the model whose card carries the thresholds
 * chosen for `budget` (per word, or one for all: whichever missed fewer
 * held-out clips), and where they came from. Refused (and nothing
 * written) when the talk is too short to tell that budget or no
 * thresholds on the grid keep to it. */
static es_status set_thresholds(const es_talk_eval *t, double budget, const char *model, const char *data,
                                const char *talk_dir, const char *out, es_error *err)
{
    const es_talk_budget *bu = NULL;
    for (size_t b = 0; b < t->nbud; b++)
        if (t->bud[b].budget == budget) bu = &t->bud[b];
    if (!bu) return es_fail(err, ES_ERR_ARG, "--set-thresholds %g: no thresholds were sought for it", budget);
    if (!bu->tried)
        return es_fail(err, ES_ERR_ARG, "--set-thresholds %g: %.2f h of talk cannot tell %g false accept%s an hour (%g h "
                                        "needed); give more talk, or 0 for no event on this talk; no model written",
                       budget, t->seconds / 3600, budget, budget == 1 ? "" : "s", 1 / budget);
    const es_talk_choice *w = es_talk_best(bu);
    if (!w)
        return es_fail(err, ES_ERR_ARG, "--set-thresholds %g: no thresholds up to 0.999 keep to it; no model written", budget);
    size_t held = w->held_ev[0] + w->held_ev[1];
    const char **labels = calloc(t->nlab + 1, sizeof *labels);
    double *thr = calloc(t->nlab + 1, sizeof *thr);
    cJSON *src = cJSON_CreateObject();
    char *src_s = NULL;
    es_status st = ES_OK;
    if (!labels || !thr || !src) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
    size_t n = 0;
    for (size_t l = 0; l < t->nlab; l++)
        if (t->labels[l]) { labels[n] = t->labels[l]; thr[n++] = w->thr[l]; }
    /* where they came from: what a later reader of the card needs to judge them */
    int ok = cJSON_AddStringToObject(src, "by", "earshot eval --negatives --set-thresholds") &&
             cJSON_AddStringToObject(src, "earshot_version", ES_VERSION) &&
             cJSON_AddStringToObject(src, "earshot_commit", es_version_commit()) &&
             cJSON_AddNumberToObject(src, "max_false_accepts_per_hour", budget) &&
             cJSON_AddStringToObject(src, "talk", talk_dir) && cJSON_AddNumberToObject(src, "talk_files", (double)t->files) &&
             cJSON_AddNumberToObject(src, "talk_seconds", t->seconds) &&
             cJSON_AddStringToObject(src, "method", w == &bu->word ? "per word" : "one threshold") &&
             cJSON_AddNumberToObject(src, "shift_logits", w->shift) &&
             cJSON_AddNumberToObject(src, "held_out_events", (double)held) &&
             (isnan(w->held_missed) ? cJSON_AddNullToObject(src, "held_out_words_missed") != NULL
                                    : cJSON_AddNumberToObject(src, "held_out_words_missed", w->held_missed) != NULL) &&
             cJSON_AddNumberToObject(src, "talk_events", (double)w->events) && cJSON_AddStringToObject(src, "words", data) &&
             (isnan(w->missed) ? cJSON_AddNullToObject(src, "words_missed") != NULL
                               : cJSON_AddNumberToObject(src, "words_missed", w->missed) != NULL) &&
             cJSON_AddStringToObject(src, "model", model);
    /* the card must be UTF-8, and the paths need not be */
    if (!ok || !(src_s = es_utf8_fix(cJSON_PrintUnformatted(src)))) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); goto done; }
    st = es_model_set_thresholds(model, out, labels, thr, n, src_s, err);
done:
    free(labels);
    free(thr);
    cJSON_Delete(src);
    free(src_s);
    return st;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pattern", required_argument, 0, 'p'}, {"json", no_argument, 0, 'j'}, {"cache", required_argument, 0, 'C'},
        {"self-adapt", no_argument, 0, 'A'}, {"prior", required_argument, 0, 'P'}, {"seed", required_argument, 0, 'S'},
        {"one-voice", no_argument, 0, 'O'}, {"thresholds", no_argument, 0, 'T'}, {"plot", required_argument, 0, 'G'},
        {"negatives", required_argument, 0, 'N'}, {"plot-talk", required_argument, 0, 'K'},
        {"set-thresholds", required_argument, 0, 'Z'}, {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
        CLI_ENGINE_LONGOPTS, {0, 0, 0, 0}};
    cli_common c;
    cli_common_init(&c);
    const char *pattern = NULL, *cache = NULL, *plot = NULL, *negatives = NULL, *plot_talk = NULL, *out = NULL;
    double set_budget = -1;   /* --set-thresholds: false accepts an hour */
    int json = 0, opt, r, sweep = 0;
    es_eval_opts eo = {0, -1, 1, 0};
    double prior = -1;
    int seed = 1;
    while ((opt = getopt_long(argc, argv, "t:qho:", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 'p': pattern = optarg; break;
        case 'j': json = 1; break;
        case 'C': cache = optarg; break;
        case 'A': eo.self_adapt = 1; break;
        case 'O': eo.one_voice = 1; break;
        case 'T': sweep = 1; break;
        case 'G': plot = optarg; break;
        case 'N': negatives = optarg; sweep = 1; break;
        case 'K': plot_talk = optarg; break;
        case 'o': out = optarg; break;
        case 'Z':
            if (cli_parse_double(optarg, 0, 1e6, &set_budget)) {
                fprintf(stderr, "earshot eval: --set-thresholds must be false accepts an hour, 0 or more (0: none on the "
                                "talk), not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'P':
            if (cli_parse_double(optarg, 0, 1e6, &prior)) {
                fprintf(stderr, "earshot eval: --prior must be a number from 0 to 1e6\n");
                return EXIT_USAGE;
            }
            break;
        case 'S': if (cli_parse_int("--seed", optarg, 0, 2147483647, &seed)) return EXIT_USAGE; break;
        case 'h': eval_help(stdout); return EXIT_OK;
        default: return cli_bad_option("eval", argv, opts);
        }
    }
    if (optind != argc - 2) { fprintf(stderr, "earshot eval: give MODEL and DATASET\n\n"); eval_help(stderr); return EXIT_USAGE; }
    if ((eo.one_voice || prior >= 0) && !eo.self_adapt) {
        fprintf(stderr, "earshot eval: %s goes with --self-adapt\n", eo.one_voice ? "--one-voice" : "--prior");
        return EXIT_USAGE;
    }
    if (negatives && eo.self_adapt) {
        /* a self-adapting detector's scores follow its own events, so one
         * pass cannot tell what each threshold would have done */
        fprintf(stderr, "earshot eval: --negatives cannot go with --self-adapt (run transcribe --self-adapt over the talk "
                        "at each threshold instead)\n");
        return EXIT_USAGE;
    }
    eo.prior = (float)prior;
    eo.seed = (unsigned long long)seed;
    if (plot && cli_check_svg_out(plot, "--plot")) return EXIT_USAGE;
    if ((set_budget >= 0) != (out != NULL)) {
        fprintf(stderr, "earshot eval: --set-thresholds X and -o OUT.safetensors go together\n");
        return EXIT_USAGE;
    }
    if (set_budget >= 0 && !negatives) {
        fprintf(stderr, "earshot eval: --set-thresholds needs --negatives DIR (the talk to count false accepts on)\n");
        return EXIT_USAGE;
    }
    if (plot_talk && !negatives) {
        fprintf(stderr, "earshot eval: --plot-talk needs --negatives DIR (the talk to count false accepts on)\n");
        return EXIT_USAGE;
    }
    if (plot_talk && cli_check_svg_out(plot_talk, "--plot-talk")) return EXIT_USAGE;
    if (out && cli_check_model_out(out, "-o")) return EXIT_USAGE;
    es_engine *eng = cli_engine(&c);
    if (!eng) return EXIT_FAIL;
    es_error e = {0};
    es_eval_result res;
    progress_state ps = {.tty = !c.quiet && isatty(2)};
    es_status st = es_eval_with(eng, argv[optind], argv[optind + 1], pattern, cache, &eo, &res, on_progress, &ps, &e);
    if (st) { es_engine_free(eng); cli_error(&e); return EXIT_FAIL; }
    size_t K = res.n_labels;
    /* the threshold table's rows: 0.1 ... 0.9, 0.95, 0.98, 0.99, as
     * hundredths, read from the fine sweep */
    static const int TH[] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99};
    enum { NTH = sizeof TH / sizeof TH[0] };
    es_sweep_point fine[NFINE], sw[NTH], sug[2];
    int found[2] = {0, 0};
    held_suggestion held[2] = {{0}};
    if (sweep || plot) {
        if (fine_sweep(&res, fine, &e)) {
            cli_error(&e);
            es_eval_result_free(&res);
            return EXIT_FAIL;
        }
        for (size_t i = 0; i < NTH; i++) sw[i] = fine[TH[i] - 1];
        for (int i = 0; i < 2; i++) found[i] = suggest(fine, SUGGEST_AT[i], &sug[i]);
        if (held_suggest(&res, held, &e)) {
            cli_error(&e);
            es_eval_result_free(&res);
            return EXIT_FAIL;
        }
    }
    es_talk_eval talk = {0};
    double talk_h[NTH];
    if (negatives) {
        if (talk_sweep(eng, argv[optind], negatives, fine, &res, set_budget, &talk, &ps, &e)) {
            cli_error(&e);
            es_engine_free(eng);
            es_eval_result_free(&res);
            return EXIT_FAIL;
        }
        for (size_t i = 0; i < NTH; i++) talk_h[i] = per_hour(talk.total[TH[i] - 1], talk.seconds);
        for (size_t i = 0; i < talk.nbad; i++)
            fprintf(stderr, "earshot: %s (left out of the talk)\n", talk.bad[i]);
    }
    es_engine_free(eng);
    if (json) {
        /* the model path and the labels are outside text: escaped */
        printf("{\"model\": ");
        cli_json_str(argv[optind]);
        printf(", \"self_adapt\": %s", res.self_adapted ? "true" : "false");
        printf(", \"clips\": %zu, \"skipped\": %zu, \"skipped_labels\": ", res.n, res.skipped);
        cli_json_str(res.skipped_labels);   /* as the text says them: comma-separated, "..." when cut */
        printf(", \"correct\": %zu, \"accuracy\": ", res.n_correct);
        json_num(res.accuracy);
        printf(", \"accuracy_interval\": ");
        json_interval(res.accuracy_lo, res.accuracy_hi);
        printf(", \"unknown_clips\": %zu, \"unknown_accepted\": %zu, \"unknown_false_accept\": ", res.n_unknown,
               res.n_unknown_accepted);
        json_num(res.unknown_false_accept);
        printf(", \"unknown_false_accept_interval\": ");
        json_interval(res.unknown_false_accept_lo, res.unknown_false_accept_hi);
        printf(", \"long_unknown_clips\": %zu", res.n_long_unknown);
        printf(", \"labels\": [");
        for (size_t k = 0; k < K; k++) {
            printf("%s{\"label\": ", k ? ", " : "");
            cli_json_str(res.labels[k]);
            printf(", \"precision\": ");
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
        printf("], \"speakers\": [");
        for (size_t i = 0; i < res.n_speakers; i++) {
            printf("%s{\"speaker\": ", i ? ", " : "");
            cli_json_str(res.speakers[i]);
            printf(", \"clips\": %zu, \"correct\": %zu, \"accuracy\": ", res.speaker_n[i], res.speaker_correct[i]);
            json_num(res.speaker_n[i] ? (double)res.speaker_correct[i] / (double)res.speaker_n[i] : NAN);
            double lo, hi;
            es_wilson_interval(res.speaker_correct[i], res.speaker_n[i], &lo, &hi);
            printf(", \"interval\": ");
            json_interval(lo, hi);
            printf("}");
        }
        printf("]");
        if (sweep) {
            printf(", \"sweep\": {\"own_clips\": %zu, \"word_clips\": %zu, \"unknown_clips\": %zu, \"silence_clips\": %zu, "
                   "\"rows\": [", sw[0].n_own, sw[0].n_words, sw[0].n_unknown, sw[0].n_silence);
            for (size_t i = 0; i < NTH; i++) {
                printf("%s{\"threshold\": %g, \"missed\": ", i ? ", " : "", sw[i].threshold);
                json_num(sw[i].missed);
                printf(", \"false_words\": ");
                json_num(sw[i].false_words);
                printf(", \"false_unknown\": ");
                json_num(sw[i].false_unknown);
                printf(", \"false_silence\": ");
                json_num(sw[i].false_silence);
                printf("}");
            }
            /* the lowest threshold for each false-accept target (null: none) */
            printf("], \"suggested\": [");
            size_t fewest = fewest_clips(&sw[0]);
            for (int i = 0; i < 2; i++) {
                printf("%s{\"max_false\": %g, \"enough_clips\": %s, \"threshold\": ", i ? ", " : "", SUGGEST_AT[i],
                       fewest == SIZE_MAX || (double)fewest * SUGGEST_AT[i] >= 1 ? "true" : "false");
                if (found[i]) {
                    printf("%g, \"missed\": ", sug[i].threshold);
                    json_num(sug[i].missed);
                }
                else printf("null, \"missed\": null");
                const held_suggestion *h = &held[i];
                printf(", \"held_out\": ");
                if (!h->tried) printf("null}");
                else if (!h->found) printf("{\"found\": false}}");
                else {
                    printf("{\"found\": true, \"thresholds\": [%g, %g], \"worst_false\": ", h->threshold[0],
                           h->threshold[1]);
                    json_num(h->worst_false);
                    printf(", \"missed\": ");
                    json_num(h->missed);
                    printf("}}");
                }
            }
            printf("]}");
        }
        if (negatives) {
            printf(", \"negatives\": {\"dir\": ");
            cli_json_str(negatives);
            printf(", \"files\": %zu, \"seconds\": %.3f, \"own_events\": %zu, \"own_per_hour\": ", talk.files,
                   talk.seconds, talk.own);
            json_num(per_hour(talk.own, talk.seconds));
            printf(", \"own_by_label\": {");
            for (size_t i = 0, k = 0; i < talk.nlab; i++)
                if (talk.labels[i]) {
                    printf("%s", k++ ? ", " : "");
                    cli_json_str(talk.labels[i]);
                    printf(": %zu", talk.own_by[i]);
                }
            printf("}");
            printf(", \"rows\": [");
            for (size_t i = 0; i < NTH; i++) {
                printf("%s{\"threshold\": %g, \"events\": %zu, \"per_hour\": ", i ? ", " : "", sw[i].threshold,
                       talk.total[TH[i] - 1]);
                json_num(talk_h[i]);
                printf("}");
            }
            printf("], \"suggested\": [");
            /* each target, then (k = 2) the lowest threshold with no event */
            for (int k = 0; k < 3; k++) {
                int i = talk_suggest(&talk, k < 2 ? TALK_AT[k] : 0);
                if (k < 2)
                    printf("%s{\"max_per_hour\": %g, \"enough_talk\": %s, \"threshold\": ", k ? ", " : "", TALK_AT[k],
                           talk.seconds / 3600 >= 1 / TALK_AT[k] ? "true" : "false");
                else printf("], \"silent_from\": {\"threshold\": ");
                if (i >= 0) {
                    printf("%g, \"missed\": ", fine[i].threshold);
                    json_num(fine[i].missed);
                    printf("}");
                } else printf("null, \"missed\": null}");
            }
            /* for each budget (0: no event), one threshold and one per word,
             * each chosen on half the talk and held out on the other */
            printf(", \"budgets\": [");
            for (size_t b = 0; b < talk.nbud; b++) {
                const es_talk_budget *bu = &talk.bud[b];
                const es_talk_choice *best = es_talk_best(bu);
                printf("%s{\"max_per_hour\": %g, \"enough_talk\": %s, \"better\": %s", b ? ", " : "", bu->budget,
                       bu->tried ? "true" : "false",
                       !best ? "null" : best == &bu->word ? "\"per_word\"" : "\"one_threshold\"");
                if (bu->tried) {
                    printf(", \"one_threshold\": ");
                    print_choice_json(&talk, &bu->one);
                    printf(", \"per_word\": ");
                    print_choice_json(&talk, &bu->word);
                } else printf(", \"one_threshold\": null, \"per_word\": null");
                printf("}");
            }
            printf("]}");
        }
        printf("}\n");
    } else {
        /* a figure with its 95% interval: 0.95 of 40 clips and of 4,000
         * are not the same claim */
        if (res.self_adapted)
            printf("self-adapted: %s in turn (seed %d), each decided with the offset of the decisions before it\n",
                   eo.one_voice ? "all clips, as one voice," : "each speaker's clips", seed);
        printf("%zu clips, accuracy %.4f", res.n, res.accuracy);
        if (res.n) printf(" (95%% interval %.4f-%.4f)", res.accuracy_lo, res.accuracy_hi);
        if (res.skipped)
            printf("; %zu clips of labels the model does not know were skipped (%s)", res.skipped, res.skipped_labels);
        printf("\n");
        if (!isnan(res.unknown_false_accept))
            printf("_unknown_ false-accept rate %.4f (%zu of %zu clips; 95%% interval %.4f-%.4f)\n", res.unknown_false_accept,
                   res.n_unknown_accepted, res.n_unknown, res.unknown_false_accept_lo, res.unknown_false_accept_hi);
        if (res.n_long_unknown)
            printf("note: %zu _unknown_ clip%s longer than the model's clips (up to %.0f s), each decided by its centre "
                   "window only; for false accepts in running talk, run earshot transcribe over them (events per hour)\n",
                   res.n_long_unknown, res.n_long_unknown == 1 ? " is" : "s are", res.long_unknown_max_s);
        /* Columns as wide as the labels they head (characters, not bytes:
         * "lights_on" and "lights_off" were both cut to "lights", and a
         * label like "aéééé" was cut inside a character). */
        int lw = 16, cw = 6;
        for (size_t k = 0; k < K; k++) {
            int w = cli_text_width(res.labels[k]);
            if (w > lw) lw = w;
            if (w > cw) cw = w;
        }
        if (lw > 40) lw = 40;
        if (cw > 24) cw = 24;
        /* and as wide as the largest count, or a million clips of a label
         * would run into the next column */
        for (size_t k = 0; k < K * K; k++) {
            int w = snprintf(NULL, 0, "%zu", res.confusion[k]);
            if (w > cw) cw = w;
        }
        printf("\n");
        cli_print_cell("label", lw, 1);
        printf(" %9s %9s %9s\n", "precision", "recall", "F1");
        for (size_t k = 0; k < K; k++) {
            cli_print_cell(res.labels[k], lw, 1);
            /* "-": no clip of the label, or none predicted as it (JSON: null) */
            const double v[3] = {res.precision[k], res.recall[k], res.f1[k]};
            for (int m = 0; m < 3; m++) isnan(v[m]) ? printf(" %9s", "-") : printf(" %9.4f", v[m]);
            printf("\n");
        }
        printf("\nconfusion (rows: truth, columns: prediction)\n");
        cli_print_cell("", lw, 1);
        for (size_t j = 0; j < K; j++) {
            printf(" ");
            cli_print_cell(res.labels[j], cw, 0);
        }
        printf("\n");
        for (size_t i = 0; i < K; i++) {
            cli_print_cell(res.labels[i], lw, 1);
            for (size_t j = 0; j < K; j++) printf(" %*zu", cw, res.confusion[i * K + j]);
            printf("\n");
        }
        /* by speaker, when the names tell them: where a model is weak is
         * often one voice, which the overall figure hides */
        if (res.n_speakers) printf("\n%-16s %9s %9s  %s\n", "speaker", "clips", "accuracy", "95% interval");
        for (size_t i = 0; i < res.n_speakers; i++) {
            printf("%-16s %9zu ", res.speakers[i], res.speaker_n[i]);
            double lo, hi;
            es_wilson_interval(res.speaker_correct[i], res.speaker_n[i], &lo, &hi);
            if (res.speaker_n[i])
                printf("%9.4f  %.4f-%.4f\n", (double)res.speaker_correct[i] / (double)res.speaker_n[i], lo, hi);
            else printf("%9s\n", "-");
        }
        if (sweep) print_sweep(sw, NTH, sug, found, held, negatives ? talk_h : NULL);
        if (negatives) print_talk(&talk, fine);
    }
    int rc = EXIT_OK;
    if (plot) {
        if (sweep_plot(fine, argv[optind], argv[optind + 1], plot, &e)) { cli_error(&e); rc = EXIT_FAIL; }
        else if (!c.quiet) fprintf(stderr, "wrote %s\n", plot);
    }
    if (plot_talk) {
        if (talk_plot(fine, &talk, argv[optind], plot_talk, &e)) { cli_error(&e); rc = EXIT_FAIL; }
        else if (!c.quiet) fprintf(stderr, "wrote %s\n", plot_talk);
    }
    if (out && set_thresholds(&talk, set_budget, argv[optind], argv[optind + 1], negatives, out, &e)) {
        cli_error(&e);
        rc = EXIT_FAIL;
    } else if (out && !c.quiet) {
        const es_talk_budget *bu = NULL;
        for (size_t b = 0; b < talk.nbud; b++)
            if (talk.bud[b].budget == set_budget) bu = &talk.bud[b];
        const char *how = bu && es_talk_best(bu) == &bu->word ? "a threshold per word" : "one threshold for every word";
        if (set_budget > 0)
            fprintf(stderr, "wrote %s: its card's thresholds are %s, chosen for at most %g false accept%s an hour on "
                            "other talk; transcribe and listen use them unless told otherwise\n", out, how, set_budget,
                    set_budget == 1 ? "" : "s");
        else
            fprintf(stderr, "wrote %s: its card's thresholds are %s, chosen for no event on other talk as long as "
                            "this; transcribe and listen use them unless told otherwise\n", out, how);
    }
    /* as transcribe: the results of the files read, exit status 1 for those not */
    if (talk.nbad && rc == EXIT_OK) rc = EXIT_FAIL;
    es_talk_eval_free(&talk);
    es_eval_result_free(&res);
    return rc;
}
