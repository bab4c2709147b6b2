/*
 * earshot listen — keywords live from a microphone, through the same
 * streaming detector as `earshot transcribe`, so what a user sees live is
 * what the batch run reports on the same audio.
 *
 * Two threads: PortAudio's callback fills the capture ring (audio/capture.c:
 * no allocation, lock or I/O there), and this thread pulls 16 kHz samples
 * from it and pushes them into the detector, printing each event as soon as
 * the detector reports it. Ctrl-C (or --duration) stops the device, drains
 * what the ring still holds, then flushes the detector, so a word said
 * just before the stop is still reported.
 */
#include "cli.h"
#include "transcribe.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_MODELS 32
#define READ_MAX ES_CHUNK            /* samples pulled per step: 80 ms */
#define HISTORY_S 30                 /* seconds of audio kept for --save-clips */
#define CLIP_MARGIN 0.3              /* seconds kept around an event's extent */

static void help(FILE *f)
{
    fprintf(f,
            "usage: earshot listen [options] MODEL...\n"
            "       earshot listen --list-devices\n"
            "\n"
            "Listens on a microphone and prints each word the model hears as it\n"
            "happens. MODEL is a model trained by earshot train (.safetensors) or an\n"
            "openWakeWord head (pretrained name or .onnx path); -m MODEL works too.\n"
            "Stop with Ctrl-C (or SIGTERM, SIGHUP): the audio already captured is still\n"
            "searched, and the clips and the chart are written; a second one stops at once.\n"
            "\n"
            "  --list-devices        list audio devices (index, name, host API, default\n"
            "                        rate, input channels) and exit\n"
            "  -D, --device DEV      input device: index, or (part of) its name\n"
            "                        (default: the system's default input)\n"
            "  --rate HZ             device sample rate to open (default: the device's);\n"
            "                        audio is resampled to 16 kHz\n"
            "  --channels N          device channels to open (default: mono if offered);\n"
            "                        they are averaged\n"
            "  --duration S          stop after S seconds of audio\n"
            "  --latency S           input latency to ask the device for (default: its\n"
            "                        low-latency setting)\n"
            "  -j, --json            one JSON object per event (JSON Lines)\n"
            "  --meter               live input level and best score on stderr (TTY only)\n"
            "  --save-clips DIR      keep the audio of each event as DIR/*.wav\n"
            "  --plot FILE.svg       at the end, draw the session's score track (each\n"
            "                        word's score over time, thresholds, events), as\n"
            "                        transcribe -osvg does for a file\n"
            "  --speakers PROFILES   say who said each word: the closest speaker of a\n"
            "                        profile file from earshot enroll (\"unknown\" below\n"
            "                        its threshold), identified on the event's audio\n"
            "                        +-0.2 s, with its score (0 to 1, as identify);\n"
            "                        an event is then printed once 0.2 s of audio\n"
            "                        after it has arrived\n"
            "  --threshold T         threshold of every label (default: the model card's,\n"
            "                        else 0.5); LABEL=T sets one label (repeatable)\n"
            "  --smooth N            moving average over N steps of 80 ms (default 3;\n"
            "                        transcribe's is 5)\n"
            "  --min-duration S      seconds above threshold for an event (default 0.16;\n"
            "                        transcribe's is 0.24). Both trade a little precision\n"
            "                        for a quicker event; pass transcribe's values to get\n"
            "                        exactly transcribe --early's events\n"
            "  --refractory S        same label not reported again within S s (default 0.5)\n"
            "  --low F               event extent: score above F x threshold (default 0.5)\n"
            "  --pad S               silence fed before the audio and after the stop\n"
            "                        (default 1.0)\n"
            "  --early               decide each event as soon as it is confirmed (about\n"
            "                        0.25 s after the word with the defaults above):\n"
            "                        listen's default\n"
            "  --no-early            report an event when its score falls again (about a\n"
            "                        window after the word), as transcribe does by\n"
            "                        default; by default listen reports it as soon as it\n"
            "                        is confirmed (transcribe --early)\n"
            "  --self-adapt          learn the voice from the model's own events (the\n"
            "                        offset of its embeddings from the training voices')\n"
            "                        and score later windows with it, for the whole\n"
            "                        session (earshot models only)\n"
            "  --models DIR          pretrained models directory (default: $EARSHOT_MODELS,\n"
            "                        else $XDG_CACHE_HOME/earshot/models)\n"
            "  -q, --quiet           no notes or summary on stderr (overruns are still\n"
            "                        reported)\n"
            "\n"
            "Output: one line per event, START<TAB>END<TAB>LABEL<TAB>SCORE (seconds since\n"
            "listening began), as earshot transcribe's txt format, then SPEAKER<TAB>SCORE\n"
            "with --speakers; with --json the fields are label, start, end, score, model\n"
            "(speaker and speaker_score with --speakers, clip with --save-clips: the file\n"
            "the clip is being written to, in the background so the line is not delayed;\n"
            "a write that fails is reported on stderr and the exit status is 1).\n"
            "Exit status: 0 after a clean stop, 1 on a device or model error, 2 on bad\n"
            "usage.\n");
}

typedef struct {
    es_detector *det;
    es_engine *eng;
    es_speakers *spk;             /* --speakers, or NULL */
    int spk_failed;               /* an identification failed (reported) */
    es_event *pend;               /* --speakers: events waiting for their audio */
    size_t npend, cap_pend;
    int json, meter;
    const char *clip_dir;
    char clip_prefix[64];
    size_t nclips;
    /* Clips are written by their own thread: writing and fsync can take
     * long on a busy disk, and the processing thread must keep draining
     * the capture ring meanwhile. */
    pthread_t clip_thread;
    int clip_thread_on;
    pthread_mutex_t clip_lock;
    pthread_cond_t clip_cond;
    struct clip_job *jobs, **jobs_tail;
    int clip_quit, clip_failed;   /* clip_failed: by the writer, under clip_lock */
    int clip_missed;              /* a clip could not be queued (main thread) */
    /* the last HISTORY_S seconds of audio, for clips and speakers */
    float *hist;
    size_t hist_cap;
    unsigned long long pushed;     /* samples pushed into the detector */
    /* meter */
    float level_db;
    int meter_shown;
    size_t nev;
    /* --plot: the session's score track and events */
    es_tx_track *track;
    es_transcript tr;
    int plot_nomem;
} listener;

struct clip_job {
    struct clip_job *next;
    char *path;
    float *x;
    size_t n;
};

static void *clip_writer(void *p)
{
    listener *L = p;
    pthread_mutex_lock(&L->clip_lock);
    for (;;) {
        while (!L->jobs && !L->clip_quit) pthread_cond_wait(&L->clip_cond, &L->clip_lock);
        struct clip_job *j = L->jobs;
        if (!j) break;   /* quit with the queue drained */
        L->jobs = j->next;
        if (!L->jobs) L->jobs_tail = &L->jobs;
        pthread_mutex_unlock(&L->clip_lock);
        es_error e = {0};
        es_status st = es_audio_write_wav(j->path, j->x, j->n, &e);
        pthread_mutex_lock(&L->clip_lock);
        if (st) {
            cli_error(&e);
            L->clip_failed = 1;
        }
        free(j->path);
        free(j->x);
        free(j);
    }
    pthread_mutex_unlock(&L->clip_lock);
    return NULL;
}

/* Ctrl-C, SIGTERM or SIGHUP (the terminal closed, an ssh session
 * dropped): stop cleanly (the audio captured is searched, the clips and
 * the chart are written; SIGHUP went to main's handler, which died
 * without the chart). A second one, of any of them (but the repeat
 * timeout(1) sends: cli_catch_stop), goes to main's handler, which kills at once in case the device hangs, but
 * removes the temporary files of the writes under way first (a clip,
 * the chart): the default action, as SA_RESETHAND gave, left them.
 * The handler may run on PortAudio's thread as well as on main's, so the
 * flag is a lock-free atomic (async-signal-safe, and shared between
 * threads), not a volatile sig_atomic_t (safe within one thread only). */
static atomic_int stop_requested;
static void on_signal(int sig)
{
    (void)sig;
    atomic_store_explicit(&stop_requested, 1, memory_order_relaxed);
}

static void meter_clear(listener *L)
{
    if (L->meter_shown) {
        fputs("\r\033[K", stderr);
        L->meter_shown = 0;
    }
}

/* Copy audio [t0, t1) seconds (stream time) out of the history: a view of
 * it as transcribe's history, whose cut does this. */
static size_t clip_copy(const listener *L, double t0, double t1, float **out)
{
    es_tx_history h = {L->hist, L->hist_cap, L->pushed};
    return es_tx_history_cut(&h, t0, t1, out);
}

/* Queue a clip of an event for the writer thread; returns its path
 * (static buffer) or NULL. */
static const char *save_clip(listener *L, const es_event *ev)
{
    static char path[4400];
    float *x = NULL;
    size_t n = clip_copy(L, ev->start - CLIP_MARGIN, ev->end + CLIP_MARGIN, &x);
    if (!n) {
        meter_clear(L);
        fprintf(stderr, "earshot: %s at %.2f s: its audio is no longer in the %d s history, no clip\n", ev->label,
                ev->start, HISTORY_S);
        L->clip_missed = 1;
        return NULL;
    }
    /* file names: run start, sequence, label (characters safe for any file system) */
    char lab[64];
    cli_safe_name(ev->label, lab, sizeof lab);
    snprintf(path, sizeof path, "%s/%s_%04zu_%s.wav", L->clip_dir, L->clip_prefix, ++L->nclips, lab);
    struct clip_job *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(path))) {
        free(j);
        free(x);
        fprintf(stderr, "earshot: %s: out of memory\n", path);
        L->clip_missed = 1;
        return NULL;
    }
    j->x = x;
    j->n = n;
    pthread_mutex_lock(&L->clip_lock);
    *L->jobs_tail = j;
    L->jobs_tail = &j->next;
    pthread_cond_signal(&L->clip_cond);
    pthread_mutex_unlock(&L->clip_lock);
    return path;
}

static void emit(listener *L, const es_event *ev)
{
    const char *clip = L->clip_dir ? save_clip(L, ev) : NULL;
    int who = -1;
    float who_score = 0;
    if (L->spk) {
        /* a few ms of log-mel and pitch on ~1 s of audio: fine on the
         * processing thread, the capture ring absorbs it */
        es_tx_history h = {L->hist, L->hist_cap, L->pushed};
        es_error e = {0};
        if (es_tx_identify(L->spk, L->eng, &h, ev->start, ev->end, &who, &who_score, &e)) {
            meter_clear(L);
            fprintf(stderr, "earshot: %s at %.2f s: speaker identification: %s\n", ev->label, ev->start, e.msg);
            L->spk_failed = 1;
        }
    }
    meter_clear(L);
    L->nev++;
    if (L->track && es_tx_add(&L->tr, ev->label, ev->start, ev->end, ev->score, who, who_score, NULL)) L->plot_nomem = 1;
    if (L->json) {
        printf("{\"label\": ");
        cli_json_str(ev->label);
        printf(", \"start\": %.3f, \"end\": %.3f, \"score\": %.4f, \"model\": ", ev->start, ev->end, ev->score);
        cli_json_str(es_detector_model_name(L->det, ev->model));
        if (L->spk) {
            printf(", \"speaker\": ");
            cli_json_str(es_tx_speaker_name(L->spk, who));
            printf(", \"speaker_score\": %.4f", who_score);
        }
        if (clip) {
            printf(", \"clip\": ");
            cli_json_str(clip);
        }
        printf("}\n");
    } else {
        printf("%.2f\t%.2f\t%s\t%.3f", ev->start, ev->end, ev->label, ev->score);
        if (L->spk) printf("\t%s\t%.3f", es_tx_speaker_name(L->spk, who), who_score);
        putchar('\n');
    }
    /* a live consumer reads line by line: never leave an event in a buffer */
    cli_flush_stdout();
}

/* With --speakers an event waits until the audio up to ES_TX_SPK_PAD after
 * its end has arrived (early decisions come before it: at most 0.2 s
 * more), so the speaker is the one transcribe names on the same audio. */
static void emit_ready(listener *L, int all)
{
    size_t k = 0;
    while (k < L->npend && (all || (double)L->pushed >= (L->pend[k].end + ES_TX_SPK_PAD) * ES_SAMPLE_RATE))
        emit(L, &L->pend[k++]);
    /* nothing pending yet means no array either (memmove's pointers must
     * be valid even for 0 bytes) */
    if (!k) return;
    memmove(L->pend, L->pend + k, (L->npend - k) * sizeof *L->pend);
    L->npend -= k;
}

static void on_event(void *user, const es_event *ev)
{
    listener *L = user;
    if (!L->spk) { emit(L, ev); return; }
    if (L->npend == L->cap_pend) {
        size_t nc = L->cap_pend ? 2 * L->cap_pend : 8;
        es_event *np = realloc(L->pend, nc * sizeof *np);
        if (!np) { emit_ready(L, 1); emit(L, ev); return; }   /* no room to wait: say it now */
        L->pend = np;
        L->cap_pend = nc;
    }
    L->pend[L->npend++] = *ev;
}

/* The meter: input level of the last step and the best smoothed score. */
static void on_scores(void *user, double t, const float *scores, size_t n)
{
    listener *L = user;
    if (L->track) es_tx_track_push(L->track, t, scores, n);
    if (!L->meter) return;
    size_t best = 0;
    float bs = -1;
    for (size_t i = 0; i < n; i++)
        if (es_detector_reported(L->det, i) && scores[i] > bs) { bs = scores[i]; best = i; }
    char bar[21], sbar[21];
    int lv = (int)((L->level_db + 60.0f) / 3.0f);     /* -60..0 dBFS -> 0..20 */
    int sv = bs > 0 ? (int)(bs * 20.0f + 0.5f) : 0;
    for (int i = 0; i < 20; i++) {
        bar[i] = i < lv ? '#' : '.';
        sbar[i] = i < sv ? '#' : '.';
    }
    bar[20] = sbar[20] = 0;
    fprintf(stderr, "\r\033[K%7.1f s  level %s %5.1f dB  %s %s %.2f", t, bar, L->level_db,
            bs >= 0 ? es_detector_label(L->det, best) : "-", sbar, bs > 0 ? bs : 0.0);
    fflush(stderr);
    L->meter_shown = 1;
}

/* --plot: the session as transcribe -osvg draws a file; 0, or -1 after
 * saying why */
static int write_plot(listener *L, const char *path, const char *device, int quiet)
{
    es_error e = {0};
    es_tx_track_close(L->track);
    char name[300];
    snprintf(name, sizeof name, "microphone: %s", device);
    L->tr.file = name;
    L->tr.model = es_detector_model_name(L->det, 0);
    L->tr.duration = (double)L->pushed / ES_SAMPLE_RATE;
    L->tr.speakers = L->spk;
    L->tr.track = L->track;
    char *svg = NULL;
    size_t len = 0;
    es_status st = L->plot_nomem ? es_fail(&e, ES_ERR_NOMEM, "out of memory keeping the events")
                                 : es_tx_render(&L->tr, ES_TX_SVG, &svg, &len, &e);
    if (!st) st = es_write_atomic(path, svg, len, &e);
    free(svg);
    if (st) {
        fprintf(stderr, "earshot: --plot %s: %s\n", path, e.msg);
        return -1;
    }
    if (!quiet) fprintf(stderr, "earshot: wrote %s\n", path);
    return 0;
}

static es_status push(listener *L, const float *x, size_t n, es_error *e)
{
    if (L->hist)
        for (size_t i = 0; i < n; i++) L->hist[(L->pushed + i) % L->hist_cap] = x[i];
    if (L->meter && n) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
        double rms = sqrt(s / (double)n) / 32768.0;
        L->level_db = rms > 1e-6 ? (float)(20.0 * log10(rms)) : -120.0f;
    }
    L->pushed += n;
    es_status st = es_detector_push(L->det, x, n, on_event, L, e);
    if (L->npend) emit_ready(L, 0);
    return st;
}

/* PortAudio's back ends (JACK, ALSA) print their probing chatter on stderr;
 * hide it unless asked for (EARSHOT_AUDIO_DEBUG=1), since it says nothing
 * about earshot's own devices. Our messages come after, on the real fd. */
static es_status capture_init_quietly(es_error *e)
{
    const char *dbg = getenv("EARSHOT_AUDIO_DEBUG");
    if (dbg && *dbg && strcmp(dbg, "0")) return es_capture_init(e);
    /* Do not start a JACK server just to list devices. */
    setenv("JACK_NO_START_SERVER", "1", 0);
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    if (saved >= 0 && devnull >= 0) dup2(devnull, 2);
    es_status st = es_capture_init(e);
    if (saved >= 0 && devnull >= 0) dup2(saved, 2);
    if (saved >= 0) close(saved);
    if (devnull >= 0) close(devnull);
    return st;
}

static int list_devices(void)
{
    size_t n = es_capture_device_count();
    printf("index  %-40s %-10s %10s  %s\n", "name", "host API", "rate (Hz)", "input channels");
    size_t nin = 0;
    for (size_t i = 0; i < n; i++) {
        es_capture_device d;
        es_error e = {0};
        if (es_capture_device_info(i, &d, &e)) continue;
        if (d.input_channels < 1) continue;
        nin++;
        printf("%5d  %-40s %-10s %10.0f  %d%s\n", d.index, d.name, d.host_api, d.default_rate, d.input_channels,
               d.is_default_input ? "  (default)" : "");
    }
    if (!nin) fprintf(stderr, "earshot: no audio input device found\n");
    return nin ? EXIT_OK : EXIT_FAIL;
}

int cmd_listen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"device", required_argument, 0, 'D'},
        {"list-devices", no_argument, 0, 1201}, {"rate", required_argument, 0, 1202},
        {"channels", required_argument, 0, 1203}, {"duration", required_argument, 0, 1204},
        {"json", no_argument, 0, 'j'}, {"meter", no_argument, 0, 1205}, {"save-clips", required_argument, 0, 1206},
        {"latency", required_argument, 0, 1207}, {"speakers", required_argument, 0, 1209}, CLI_DETECT_LONGOPTS,
        {"no-early", no_argument, 0, 1208}, {"plot", required_argument, 0, 1210},
        {"models", required_argument, 0, 'M'}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *models[MAX_MODELS];
    size_t nmodels = 0;
    const char *models_dir = NULL, *clip_dir = NULL, *spk_path = NULL, *plot = NULL;
    es_capture_opts co;
    es_capture_opts_default(&co);
    static cli_detect dopt;   /* the detector flags, spelt and parsed as transcribe's */
    cli_detect_init(&dopt);
    es_detector_opts *dopts = &dopt.o;
    /* One encoder step per 80 ms chunk: an event is reported as soon as
     * it is decided, not up to a block later. And decided early: a live
     * listener wants the word a few hundred ms after it was said, not
     * when the score has fallen again about a window later. */
    dopts->block = 1;
    dopts->early = 1;
    /* Shorter smoothing and minimum duration than transcribe's (5 steps,
     * 0.24 s): measured over 10 minutes with a 12-label model they bring the
     * median delay from the end of a word to its line from 0.42 s to 0.24 s,
     * at F1 0.929 instead of 0.946 (bench/README.md, bench/listen.sh). */
    dopts->smooth = 3;
    dopts->min_duration = 0.16;
    double duration = 0;
    int json = 0, meter = 0, quiet = 0, list = 0, opt;
    long v;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:D:jqh", opts, NULL)) != -1) {
        int r = cli_detect_opt(&dopt, opt, optarg);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (opt) {
        case 'm':
            if (nmodels == MAX_MODELS) { fprintf(stderr, "earshot: at most %d models\n", MAX_MODELS); return EXIT_USAGE; }
            models[nmodels++] = optarg;
            break;
        case 'D': co.device = optarg; break;
        case 1201: list = 1; break;
        case 1202:
            if (cli_parse_double(optarg, 4000, 384000, &co.rate)) { fprintf(stderr, "earshot: --rate must be Hz from 4000 to 384000\n"); return EXIT_USAGE; }
            break;
        case 1203:
            if (cli_parse_long(optarg, 1, 64, &v)) { fprintf(stderr, "earshot: --channels must be from 1 to 64\n"); return EXIT_USAGE; }
            co.channels = (int)v;
            break;
        case 1204:
            if (cli_parse_double(optarg, 0.01, 1e7, &duration)) { fprintf(stderr, "earshot: --duration must be seconds > 0\n"); return EXIT_USAGE; }
            break;
        case 'j': json = 1; break;
        case 1205: meter = 1; break;
        case 1206: clip_dir = optarg; break;
        case 1207:
            if (cli_parse_double(optarg, 0.001, 2, &co.latency)) { fprintf(stderr, "earshot: --latency must be seconds from 0.001 to 2\n"); return EXIT_USAGE; }
            break;
        case 1208: dopts->early = 0; break;
        case 1209: spk_path = optarg; break;
        case 1210: plot = optarg; break;
        case 'M': models_dir = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': help(stdout); return EXIT_OK;
        default: return cli_bad_option("listen", argv, opts);
        }
    }
    for (int i = optind; i < argc; i++) {
        if (nmodels == MAX_MODELS) { fprintf(stderr, "earshot: at most %d models\n", MAX_MODELS); return EXIT_USAGE; }
        models[nmodels++] = argv[i];
    }
    if (!list && !nmodels) { fprintf(stderr, "earshot listen: no model\n\n"); help(stderr); return EXIT_USAGE; }
    if (cli_models_distinct((const char *const *)models, nmodels, "listen")) return EXIT_USAGE;
    /* a session can be long: refuse a chart it could not write at its end now */
    if (plot && cli_check_svg_out(plot, "--plot")) return EXIT_USAGE;
    /* as transcribe --save-clips: a usage error before the microphone opens */
    if (clip_dir && cli_check_out_dir(clip_dir, "--save-clips")) return EXIT_USAGE;
    if (meter && !isatty(2)) {
        if (!quiet) fprintf(stderr, "earshot: note: --meter needs a terminal on stderr; no meter\n");
        meter = 0;
    }

    es_error e = {0};
    int rc = EXIT_OK;
    es_engine *eng = NULL;
    es_detector *det = NULL;
    es_capture *cap = NULL;
    listener L = {0};
    float *buf = NULL;
    if (!list) {
        /* models first: a bad model should not wait for a device */
        if (!(eng = es_engine_create(models_dir, &e)) ||
            !(det = cli_detector(eng, (const char *const *)models, nmodels, &dopt, &e))) {
            cli_error(&e);
            rc = EXIT_FAIL;
            goto out;
        }
        if (!quiet && es_detector_warning(det)) fprintf(stderr, "earshot: note: %s\n", es_detector_warning(det));
        /* a bad profile (corrupt, newer, another encoder) too */
        if (spk_path && !(L.spk = es_speakers_load(spk_path, eng, &e))) { fprintf(stderr, "earshot: --speakers: %s\n", e.msg); rc = EXIT_FAIL; goto out; }
        /* fit the scoring projection now: a profile that cannot score
         * (one speaker, no background) is refused before listening */
        float zero[ES_SPK_DIM] = {0};
        if (L.spk && es_speakers_score(L.spk, zero, NULL, NULL, NULL, &e)) {
            fprintf(stderr, "earshot: --speakers %s: %s\n", spk_path, e.msg);
            rc = EXIT_FAIL;
            goto out;
        }
        if (clip_dir && cli_make_dir(clip_dir, "--save-clips")) {
            rc = EXIT_FAIL;
            goto out;
        }
    }
    if (capture_init_quietly(&e)) { cli_error(&e); rc = EXIT_FAIL; goto out; }
    if (list) { rc = list_devices(); goto out; }

    if (!(cap = es_capture_open(&co, &e))) { cli_error(&e); rc = EXIT_FAIL; goto out; }
    L.det = det;
    L.eng = eng;
    L.json = json;
    L.meter = meter;
    L.clip_dir = clip_dir;
    if (clip_dir || L.spk) {
        L.hist_cap = (size_t)HISTORY_S * ES_SAMPLE_RATE;
        if (!(L.hist = calloc(L.hist_cap, sizeof(float)))) { fprintf(stderr, "earshot: out of memory\n"); rc = EXIT_FAIL; goto out; }
    }
    if (clip_dir) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(L.clip_prefix, sizeof L.clip_prefix, "%Y%m%d-%H%M%S", &tm);
        L.jobs_tail = &L.jobs;
        pthread_mutex_init(&L.clip_lock, NULL);
        pthread_cond_init(&L.clip_cond, NULL);
        if (pthread_create(&L.clip_thread, NULL, clip_writer, &L) != 0) {
            fprintf(stderr, "earshot: cannot start the clip writer thread\n");
            rc = EXIT_FAIL;
            goto out;
        }
        L.clip_thread_on = 1;
    }
    if (plot && !(L.track = es_tx_track_new(det))) { fprintf(stderr, "earshot: out of memory\n"); rc = EXIT_FAIL; goto out; }
    if (meter || plot) es_detector_set_score_fn(det, on_scores, &L);
    buf = malloc(READ_MAX * sizeof(float));
    if (!buf) { fprintf(stderr, "earshot: out of memory\n"); rc = EXIT_FAIL; goto out; }

    /* Under nohup SIGHUP is ignored, and must stay so. INT and TERM are
     * caught even when ignored, as before: bash starts a script's
     * background job with SIGINT ignored, and tests/test_listen.sh stops
     * one with kill -INT. */
    cli_catch_stop(on_signal, (const int[]){SIGINT, SIGTERM}, 2, 1);
    cli_catch_stop(on_signal, (const int[]){SIGHUP}, 1, 0);

    if (!quiet) {
        char with[1024] = "";   /* every model, as transcribe names them: a+b */
        for (size_t i = 0, off = 0; i < es_detector_models(det) && off < sizeof with; i++)
            off += (size_t)snprintf(with + off, sizeof with - off, "%s%s", i ? "+" : "", es_detector_model_name(det, i));
        fprintf(stderr, "earshot: listening on %d '%s' (%.0f Hz, %d channel%s) with %s; Ctrl-C stops\n",
                es_capture_index(cap), es_capture_name(cap), es_capture_rate(cap), es_capture_channels(cap),
                es_capture_channels(cap) == 1 ? "" : "s", with);
    }
    if (es_capture_start(cap, &e)) { cli_error(&e); rc = EXIT_FAIL; goto out; }

    unsigned long long limit = duration > 0 ? (unsigned long long)(duration * ES_SAMPLE_RATE + 0.5) : 0;
    es_status st = ES_OK;
    while (!atomic_load_explicit(&stop_requested, memory_order_relaxed) && (!limit || L.pushed < limit)) {
        size_t got = 0, want = READ_MAX;
        if (limit && limit - L.pushed < want) want = (size_t)(limit - L.pushed);
        st = es_capture_read(cap, buf, want, &got, 200, &e);
        if (st) break;
        if (got && (st = push(&L, buf, got, &e))) break;
    }
    es_status st_dev = st;
    es_error e_dev = e;
    /* Stop the device, then search what the ring still holds (up to the
     * --duration limit), then close the detector's open regions. */
    es_error e2 = {0};
    if (es_capture_stop(cap, &e2) && !st_dev) { st_dev = e2.status; e_dev = e2; }
    st = ES_OK;
    for (;;) {
        size_t got = 0, want = READ_MAX;
        if (limit && limit - L.pushed < want) want = (size_t)(limit - L.pushed);
        if (!want) break;
        if ((st = es_capture_flush(cap, buf, want, &got, &e)) || !got) break;
        if ((st = push(&L, buf, got, &e))) break;
    }
    if (!st) st = es_detector_flush(det, on_event, &L, &e);
    emit_ready(&L, 1);   /* the stream ended: what is not there never comes */
    meter_clear(&L);
    if (st_dev) { cli_error(&e_dev); rc = EXIT_FAIL; }
    if (st) { cli_error(&e); rc = EXIT_FAIL; }

    es_capture_stat cs;
    es_capture_stats(cap, &cs);
    if (!quiet)
        fprintf(stderr, "earshot: listened %.1f s, %zu event%s%s\n", (double)L.pushed / ES_SAMPLE_RATE, L.nev,
                L.nev == 1 ? "" : "s", atomic_load(&stop_requested) ? " (interrupted)" : "");
    /* Lost audio is reported even with -q: events may be missing because of it. */
    if (cs.overruns || cs.input_overflows)
        fprintf(stderr, "earshot: warning: overruns: %llu (%llu frames, %.2f s of audio dropped: the processing fell "
                        "behind); device overflows: %llu\n",
                cs.overruns, cs.dropped_frames, cs.dropped_seconds, cs.input_overflows);
    else if (!quiet)
        fprintf(stderr, "earshot: overruns: 0\n");
    if (plot && write_plot(&L, plot, es_capture_name(cap), quiet)) rc = EXIT_FAIL;

out:
    if (L.clip_thread_on) {   /* the clips of every reported event are written before we exit */
        pthread_mutex_lock(&L.clip_lock);
        L.clip_quit = 1;
        pthread_cond_signal(&L.clip_cond);
        pthread_mutex_unlock(&L.clip_lock);
        pthread_join(L.clip_thread, NULL);
        if ((L.clip_failed || L.clip_missed) && rc == EXIT_OK) rc = EXIT_FAIL;
    }
    if (L.spk_failed && rc == EXIT_OK) rc = EXIT_FAIL;
    es_capture_close(cap);
    es_capture_terminate();
    es_detector_free(det);
    es_speakers_free(L.spk);
    free(L.pend);
    es_engine_free(eng);
    free(L.hist);
    free(buf);
    es_tx_track_free(L.track);
    L.tr.track = NULL;
    es_transcript_free(&L.tr);
    return rc;
}
