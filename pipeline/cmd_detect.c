/*
 * earshot detect — wake words in audio files, with openWakeWord-format
 * heads (the pretrained ones by name, or any head by path).
 *
 * Audio is read block by block (so memory does not grow with the file) and
 * goes through the same streaming scorer as live audio: one score per
 * head (per class) every 80 ms. A detection is a run of steps at or above
 * the threshold; runs closer than --refractory seconds merge, so one
 * utterance gives one detection. We report the run's first and last step
 * and the time and value of its peak.
 */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADS 32
#define READ_BLOCK 16000   /* samples read and scored at a time (1 s) */

static void help(FILE *f)
{
    fprintf(f,
            "usage: earshot detect [options] [-m MODEL ...] FILE...\n"
            "\n"
            "Detects wake words with openWakeWord-format heads. MODEL is a pretrained\n"
            "name (alexa, hey_jarvis, hey_mycroft, hey_rhasspy, timer, weather) or a\n"
            "path to a head .onnx file. Default: all six pretrained heads. A FILE\n"
            "that is a folder stands for every audio file under it.\n"
            "\n"
            "  -m, --model MODEL   head to run (repeatable)\n"
            "  --threshold T       score needed for a detection (default 0.5)\n"
            "  --refractory S      detections closer than S seconds merge (default 1.0)\n"
            "  --pad S             seconds of silence around each file, as\n"
            "                      openWakeWord's predict_clip does (default 1.0);\n"
            "                      it moves where the 80 ms steps fall in the audio,\n"
            "                      so scores change with it (alexa.wav: 0.999 with\n"
            "                      0.5, 0.956 with 1, 0.672 with 2)\n"
            "  --scores            print the score of every head every 80 ms (a\n"
            "                      tab-separated table; nan until a head's window\n"
            "                      has filled)\n"
            "  -j, --json          one JSON object per file (JSON Lines)\n"
            CLI_COMMON_HELP
            "\n"
            "Times are seconds from the start of the file (the padding is not counted): a\n"
            "score's time is the end of the window it saw, so --scores rows go on through\n"
            "the trailing padding; detections are kept within the file.\n"
            "Exit status: 0 if every file was processed, 1 if any failed, 2 on bad usage.\n");
}

typedef struct {
    int active;
    double start, end, peak_t;
    float peak;
} run;

typedef struct {
    const char *label;
    double start, end, t;
    float score;
} event;

typedef struct {
    es_head **heads;
    size_t nheads;
    size_t *offset;       /* first class slot of each head */
    size_t nslots;
    run *runs;
    event *ev;
    size_t nev, cap;
    double thr, refractory, pad;
    int print_scores;
    float *row;           /* scores of the current step, [nslots]; NaN for a
                             head whose window is not full yet */
    size_t got;           /* heads reported in the current step (0: no row) */
    double t;             /* the current step's time */
    const char *file;
    int failed_alloc;
} dctx;

static void close_run(dctx *d, size_t slot)
{
    run *r = &d->runs[slot];
    if (!r->active) return;
    r->active = 0;
    if (d->nev == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 16;
        event *ne = realloc(d->ev, nc * sizeof *ne);
        if (!ne) { d->failed_alloc = 1; return; }
        d->ev = ne;
        d->cap = nc;
    }
    size_t h = 0;
    while (h + 1 < d->nheads && d->offset[h + 1] <= slot) h++;
    event *e = &d->ev[d->nev++];
    e->label = es_head_label(d->heads[h], slot - d->offset[h]);
    e->start = r->start;
    e->end = r->end;
    e->t = r->peak_t;
    e->score = r->peak;
}

/* The --scores row of the step collected so far, if any. A row is printed
 * once per step in which any head scored: heads with longer windows start
 * scoring later (timer's 34 embeddings against alexa's 16), and their
 * columns hold nan until then, rather than a made-up 0 or rows dropped
 * because the last head named had no score yet. */
static void flush_row(dctx *d)
{
    if (!d->got) return;
    cli_tsv_put(d->file);
    printf("\t%.2f", d->t);
    for (size_t s = 0; s < d->nslots; s++) printf("\t%.6f", d->row[s]);
    printf("\n");
    d->got = 0;
}

static void on_scores(void *user, size_t head, double t, const float *scores, size_t n)
{
    dctx *d = user;
    t -= d->pad;
    if (d->print_scores) {
        if (d->got && t != d->t) flush_row(d);
        if (!d->got)
            for (size_t s = 0; s < d->nslots; s++) d->row[s] = NAN;
        d->t = t;
        d->got++;
    }
    for (size_t k = 0; k < n; k++) {
        size_t slot = d->offset[head] + k;
        d->row[slot] = scores[k];
        if (!es_head_label(d->heads[head], k)) continue;   /* background class */
        run *r = &d->runs[slot];
        if (scores[k] >= d->thr) {
            if (r->active && t - r->end > d->refractory) close_run(d, slot);
            if (!r->active) { r->active = 1; r->start = t; r->peak = -1; }
            r->end = t;
            if (scores[k] > r->peak) { r->peak = scores[k]; r->peak_t = t; }
        } else if (r->active && t - r->end > d->refractory) {
            close_run(d, slot);
        }
    }
    /* every head has scored this step: the row is complete */
    if (d->print_scores && d->got == d->nheads) flush_row(d);
}

static int cmp_event(const void *a, const void *b)
{
    const event *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

int cmd_detect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"threshold", required_argument, 0, 'T'},
        {"refractory", required_argument, 0, 'R'}, {"pad", required_argument, 0, 'p'},
        {"scores", no_argument, 0, 'S'}, {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'},
        CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};
    static const char *DEFAULT_HEADS[] = {"alexa", "hey_jarvis", "hey_mycroft", "hey_rhasspy", "timer", "weather"};
    cli_common c;
    cli_common_init(&c);
    const char *names[MAX_HEADS];
    size_t nnames = 0;
    double thr = 0.5, refr = 1.0, pad = 1.0;
    int scores = 0, json = 0, opt, r;
    while ((opt = getopt_long(argc, argv, "m:t:qjh", opts, NULL)) != -1) {
        if ((r = cli_common_opt(&c, opt, optarg))) { if (r < 0) return EXIT_USAGE; continue; }
        switch (opt) {
        case 'm':
            if (nnames == MAX_HEADS) { fprintf(stderr, "earshot: at most %d models\n", MAX_HEADS); return EXIT_USAGE; }
            names[nnames++] = optarg;
            break;
        case 'T':
            if (cli_parse_double(optarg, 0, 1, &thr)) { fprintf(stderr, "earshot: --threshold must be from 0 to 1\n"); return EXIT_USAGE; }
            break;
        case 'R':
            if (cli_parse_double(optarg, 0, 3600, &refr)) { fprintf(stderr, "earshot: --refractory must be seconds from 0 to 3600\n"); return EXIT_USAGE; }
            break;
        case 'p':
            if (cli_parse_double(optarg, 0, 60, &pad)) { fprintf(stderr, "earshot: --pad must be seconds from 0 to 60\n"); return EXIT_USAGE; }
            break;
        case 'S': scores = 1; break;
        case 'j': json = 1; break;
        case 'h': help(stdout); return EXIT_OK;
        default: return cli_bad_option("detect", argv, opts);
        }
    }
    if (optind >= argc) { fprintf(stderr, "earshot detect: no input files\n\n"); help(stderr); return EXIT_USAGE; }
    if (scores && json) {
        fprintf(stderr, "earshot detect: --scores prints a table, --json detections: choose one\n");
        return EXIT_USAGE;
    }
    if (cli_models_distinct(names, nnames, "detect")) return EXIT_USAGE;
    if (!nnames) for (size_t i = 0; i < 6; i++) names[nnames++] = DEFAULT_HEADS[i];
    /* a folder stands for the audio files under it */
    char **files = NULL;
    int nfiles = 0;
    if (cli_expand_folders(argv + optind, argc - optind, &files, &nfiles)) return EXIT_FAIL;

    es_engine *eng = cli_engine(&c);
    if (!eng) { cli_free_files(files, nfiles); return EXIT_FAIL; }
    es_onnx *models[MAX_HEADS] = {0};
    es_head *heads[MAX_HEADS] = {0};
    size_t offset[MAX_HEADS], nslots = 0;
    int rc = EXIT_OK;
    for (size_t i = 0; i < nnames; i++) {
        char path[4200];
        es_error e = {0};
        size_t ln = strlen(names[i]);
        if (ln > 12 && !strcmp(names[i] + ln - 12, ".safetensors")) {
            /* detect scores openWakeWord heads clip by clip; models from
             * earshot train run in the streaming detector */
            fprintf(stderr, "earshot detect: %s: a model trained by earshot train; run it with "
                            "earshot transcribe -m %s FILE... (or earshot listen)\n", names[i], names[i]);
            rc = EXIT_USAGE;
            goto out;
        }
        if (es_models_path(es_engine_models_dir(eng), names[i], path, sizeof path, &e) ||
            !(models[i] = es_onnx_load(path, &e)) || !(heads[i] = es_head_create(models[i], NULL, &e))) {
            cli_error(&e);
            rc = EXIT_FAIL;
            goto out;
        }
        offset[i] = nslots;
        nslots += es_head_classes(heads[i]);
    }
    if (scores) {
        printf("file\ttime");
        for (size_t i = 0; i < nnames; i++)
            for (size_t k = 0; k < es_head_classes(heads[i]); k++) {
                const char *l = es_head_label(heads[i], k);
                if (l) printf("\t%s", l);
                else printf("\t%s:background", es_head_name(heads[i]));
            }
        printf("\n");
    }
    float *row = calloc(nslots, sizeof(float));
    run *runs = calloc(nslots, sizeof(run));
    float *blk = malloc(READ_BLOCK * sizeof(float));
    if (!row || !runs || !blk) {
        free(row); free(runs); free(blk);
        fprintf(stderr, "earshot: out of memory\n");
        rc = EXIT_FAIL;
        goto out;
    }
    for (int fi = 0; fi < nfiles; fi++) {
        const char *file = files[fi];
        es_error e = {0};
        es_reader *rd = cli_open(&c, file, &e);
        if (!rd) { cli_error(&e); rc = EXIT_FAIL; continue; }
        /* The first block is read before anything is scored, so an input
         * that is empty or undecodable from the start prints no score rows. */
        size_t got = 0, nread = 0;
        es_status st = es_reader_read(rd, blk, READ_BLOCK, &got, &e);
        if (st) { cli_error(&e); es_reader_close(rd); rc = EXIT_FAIL; continue; }
        es_scorer *sc = es_scorer_create(eng, heads, nnames, &e);
        if (!sc) { cli_error(&e); es_reader_close(rd); rc = EXIT_FAIL; continue; }
        dctx d = {heads, nnames, offset, nslots, runs, NULL, 0, 0, thr, refr, pad, scores, row, 0, 0, file, 0};
        memset(runs, 0, nslots * sizeof(run));
        size_t padn = (size_t)(pad * ES_SAMPLE_RATE + 0.5);
        static const float zeros[ES_CHUNK];
        for (size_t p = 0; p < padn && !st; p += ES_CHUNK)
            st = es_scorer_push(sc, zeros, padn - p < ES_CHUNK ? padn - p : ES_CHUNK, on_scores, &d, &e);
        /* Block by block: memory stays the same whatever the file's length. */
        while (!st && got > 0) {
            nread += got;
            st = es_scorer_push(sc, blk, got, on_scores, &d, &e);
            if (!st) st = es_reader_read(rd, blk, READ_BLOCK, &got, &e);
        }
        for (size_t p = 0; p < padn && !st; p += ES_CHUNK)
            st = es_scorer_push(sc, zeros, padn - p < ES_CHUNK ? padn - p : ES_CHUNK, on_scores, &d, &e);
        if (!st) flush_row(&d);
        for (size_t s = 0; s < nslots; s++) close_run(&d, s);
        es_scorer_free(sc);
        es_reader_close(rd);
        double dur = (double)nread / ES_SAMPLE_RATE;
        if (st || d.failed_alloc) {
            if (st) cli_error(&e); else fprintf(stderr, "earshot: %s: out of memory\n", file);
            free(d.ev);
            rc = EXIT_FAIL;
            continue;
        }
        if (d.nev) qsort(d.ev, d.nev, sizeof *d.ev, cmp_event);  /* d.ev is NULL when empty */
        /* a score's time is its window's end, which runs on into the
         * trailing padding: a detection is within the file */
        for (size_t i = 0; i < d.nev; i++) {
            if (d.ev[i].t > dur) d.ev[i].t = dur;
            if (d.ev[i].end > dur) d.ev[i].end = dur;
            if (d.ev[i].start > dur) d.ev[i].start = dur;
        }
        if (json) {
            printf("{\"file\": ");
            cli_json_str(file);
            printf(", \"duration\": %.3f, \"detections\": [", dur);
            for (size_t i = 0; i < d.nev; i++) {
                printf("%s{\"label\": ", i ? ", " : "");
                cli_json_str(d.ev[i].label);
                printf(", \"time\": %.2f, \"start\": %.2f, \"end\": %.2f, \"score\": %.4f}", d.ev[i].t, d.ev[i].start,
                       d.ev[i].end, d.ev[i].score);
            }
            printf("]}\n");
        } else if (!scores) {
            printf("%s (%.2f s):%s\n", file, dur, d.nev ? "" : " no detection");
            for (size_t i = 0; i < d.nev; i++)
                printf("  %7.2f s  %-18s score %.3f  (above threshold %.2f-%.2f s)\n", d.ev[i].t, d.ev[i].label,
                       d.ev[i].score, d.ev[i].start, d.ev[i].end);
        }
        cli_flush_stdout();
        free(d.ev);
    }
    free(row);
    free(runs);
    free(blk);
out:
    for (size_t i = 0; i < nnames; i++) { es_head_free(heads[i]); es_onnx_free(models[i]); }
    es_engine_free(eng);
    cli_free_files(files, nfiles);
    return rc;
}
