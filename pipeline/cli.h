/* pipeline/cli.h — shared pieces of the `earshot` command. Only the CLI
 * prints and chooses exit codes; the library reports through es_error. */
#ifndef ES_CLI_H
#define ES_CLI_H

#include "earshot.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct {
    const char *models;    /* --models DIR */
    int threads;           /* --threads N */
    int raw_rate;          /* for "-" (stdin): --rate */
    int raw_channels;      /* --channels */
    es_pcm_format raw_format;  /* --format */
    int raw_given;         /* any of the three was given */
    int quiet;
} cli_common;

/* After getopt_long rejected an option (it has printed why): name the
 * closest long option when one is near what was typed ("did you mean
 * --threshold?") and where the full help is, and return EXIT_USAGE. The
 * help itself is not printed: train's is 150 lines, and the error above
 * it would scroll out of sight. */
struct option;
int cli_bad_option(const char *cmd, char **argv, const struct option *opts);
/* After getopt: 1 (having said so, with hint if not NULL) when operands
 * follow the options of a command that takes none, else 0. */
int cli_no_arguments(const char *cmd, int argc, char **argv, const char *hint);
/* Levenshtein distance of a and b (their first 63 characters) */
size_t cli_edit_distance(const char *a, const char *b);
/* whether a word of len characters d edits from a name is a typo of it */
int cli_is_typo(size_t d, size_t len);
/* Handle an option shared by all subcommands; returns 1 if it was one,
 * 0 if not, -1 on a bad value (after printing why). */
int cli_common_opt(cli_common *c, int opt, const char *arg);
void cli_common_init(cli_common *c);
/* Options of every command that runs the encoder; commands that read
 * audio files named on the command line add the raw-PCM ones for '-'. */
#define CLI_ENGINE_LONGOPTS \
    {"models", required_argument, 0, 'M'}, {"threads", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'}
#define CLI_COMMON_LONGOPTS \
    CLI_ENGINE_LONGOPTS, {"rate", required_argument, 0, 1001}, {"channels", required_argument, 0, 1002}, \
    {"format", required_argument, 0, 1003}
#define CLI_ENGINE_HELP \
    "  --models DIR       pretrained models directory (default: $EARSHOT_MODELS,\n" \
    "                     else $XDG_CACHE_HOME/earshot/models)\n" \
    "  -t, --threads N    threads one step may use (default: the CPUs, at most 8;\n" \
    "                     OpenBLAS always runs on one)\n" \
    "  -q, --quiet        no progress or notes on stderr\n"
#define CLI_COMMON_HELP \
    CLI_ENGINE_HELP \
    "  FILE may be '-' to read stdin: a WAV stream (ffmpeg -f wav -, sox -t wav -)\n" \
    "  is read as its header says; else raw PCM, described by\n" \
    "  --rate HZ (default 16000), --channels N (default 1),\n" \
    "  --format s16|s8|u8|s24|s32|f32|f64 (default s16)\n"

/* The handler main installs for SIGINT, SIGTERM and SIGHUP: unlinks the
 * temporary files of writes under way, then dies of the signal. */
void cli_on_fatal_signal(int sig);
/* Install fn for the n signals, except those the process was started
 * ignoring (nohup, a shell's background job), which stay ignored. */
void cli_catch(void (*fn)(int), const int *sigs, int n);
/* For a command that stops cleanly on a signal (transcribe, listen):
 * on_first runs for the first of the n signals; a later one from another
 * sender, or after a second, goes to cli_on_fatal_signal (a repeat from
 * the same process within a second, as timeout(1) sends, is the same
 * request). Signals the process was started ignoring stay ignored unless
 * even_ignored. on_first must be async-signal-safe. */
void cli_catch_stop(void (*on_first)(int), const int *sigs, int n, int even_ignored);
/* fflush(stdout) for output a reader waits for (one file's transcript, an
 * event), keeping the reason of a first failure for main's report at the
 * end (stdio keeps only the error flag). -1 when stdout has failed, now or
 * before (what was printed may not all have arrived), else 0. */
int cli_flush_stdout(void);

/* Decode an input named on the command line ('-' = stdin: a WAV stream or raw PCM). */
es_status cli_load(const cli_common *c, const char *path, es_audio *a, es_error *err);
/* The same input opened for block-wise reading (memory independent of its
 * length); NULL with err filled on failure. */
es_reader *cli_open(const cli_common *c, const char *path, es_error *err);
/* Engine from --models; prints the error and returns NULL on failure. */
es_engine *cli_engine(const cli_common *c);
/* Print "earshot: <msg>" to stderr; out of memory under a ulimit -v says
 * so (cli_oom_note). */
void cli_error(const es_error *e);
/* " (address-space limit N MB; raise ulimit -v)" if RLIMIT_AS is set,
 * else "" (a static buffer). */
const char *cli_oom_note(void);
/* Option `what` names an SVG chart to write at the end of a long run:
 * 0 if `path` ends in .svg, is not a folder and its folder exists and is
 * writable; else prints why and returns -1. */
int cli_check_svg_out(const char *path, const char *what);
/* The same for a model (train, adapt, eval -o): the name must end in
 * .safetensors, which is how transcribe and listen tell one; -o naming
 * one of the input clips replaced that recording with the model. */
int cli_check_model_out(const char *path, const char *what);
/* The same for any output written at the end of a long run (a model, a
 * profile), so a mistyped -o fails at once, not after minutes of work:
 * not a folder, not a read-only file, in a folder that exists and is
 * writable (through a symbolic link, as the write goes), the temporary
 * file made there for a moment. */
int cli_check_out(const char *path, const char *what);
/* 0 if the synthesis options hold (es_synth_opts_check: --words and
 * --unknown-words parse, the ranges, --lang has voices); else prints why
 * and returns -1: a usage error, found before any synthesis. */
int cli_check_synth(const es_synth_opts *o);
/* Characters (UTF-8 code points) of s, for columns on a terminal. */
int cli_text_width(const char *s);
/* s in a column `width` characters wide (left- or right-aligned), cut at a
 * character boundary with "~" when longer. */
void cli_print_cell(const char *s, int width, int left);
/* A folder outputs will be written into (made if missing): 0 if it, or
 * the nearest parent that exists, is a writable folder; else prints why. */
int cli_check_out_dir(const char *path, const char *what);
/* mkdir -p path (an output folder given as option `what`); -1 after saying
 * why it could not be made */
int cli_make_dir(const char *path, const char *what);
/* 0 if no model name is given twice; else prints which and returns -1. */
int cli_models_distinct(const char *const *names, size_t n, const char *cmd);
int cli_parse_double(const char *s, double lo, double hi, double *out);
/* A whole decimal integer in [lo, hi]: 0, else -1 (quiet). */
int cli_parse_long(const char *s, long lo, long hi, long *out);
/* The same for option NAME, printing why on a bad value. */
int cli_parse_int(const char *name, const char *s, long lo, long hi, int *out);
/* A label as part of a file name: letters, digits and '-' kept, anything
 * else '_' (any file system takes it), cut to size - 1 characters. */
void cli_safe_name(const char *label, char *out, size_t size);
/* Print s as a JSON string literal on stdout. */
void cli_json_str(const char *s);
/* s as one field of a tab-separated line: tab, newline, other control
 * characters and backslash written as C escapes (malloc'd; NULL when out of
 * memory); cli_tsv_put prints it on stdout */
char *cli_tsv_field(const char *s);
/* args with each folder replaced by the audio files under it (recursive,
 * sorted, picked by extension as datasets are); files and *nfiles are the
 * caller's, freed with cli_free_files. -1 after printing why (a folder
 * with no audio file, out of memory). */
int cli_expand_folders(char **args, int n, char ***files, int *nfiles);
void cli_free_files(char **files, int n);
void cli_tsv_put(const char *s);

/* Detector options shared by transcribe and listen (one meaning, one
 * spelling): add CLI_DETECT_LONGOPTS to the getopt table, pass every
 * option to cli_detect_opt first, print CLI_DETECT_HELP. */
#define CLI_MAX_THRESHOLDS 256
typedef struct {
    es_detector_opts o;
    struct { const char *label; double thr; } thr[CLI_MAX_THRESHOLDS];   /* label NULL = all */
    size_t nthr;
} cli_detect;
void cli_detect_init(cli_detect *d);
/* 1 if opt was a detector option, 0 if not, -1 on a bad value (printed). */
int cli_detect_opt(cli_detect *d, int opt, char *arg);
/* The detector for these models with the options and thresholds. */
es_detector *cli_detector(es_engine *e, const char *const *models, size_t n, const cli_detect *d, es_error *err);
#define CLI_DETECT_LONGOPTS \
    {"threshold", required_argument, 0, 1103}, {"smooth", required_argument, 0, 1104}, \
    {"min-duration", required_argument, 0, 1105}, {"refractory", required_argument, 0, 1106}, \
    {"low", required_argument, 0, 1107}, {"pad", required_argument, 0, 1108}, {"early", no_argument, 0, 1111}, \
    {"self-adapt", no_argument, 0, 1112}
#define CLI_DETECT_HELP \
    "  --threshold T         threshold of every label (default: the model card's,\n" \
    "                        else 0.5); LABEL=T sets one label (repeatable)\n" \
    "  --smooth N            moving average over N steps of 80 ms (default 5)\n" \
    "  --min-duration S      seconds above threshold for an event (default 0.24)\n" \
    "  --refractory S        same label not reported again within S s (default 0.5)\n" \
    "  --low F               event extent: score above F x threshold (default 0.5)\n" \
    "  --pad S               silence fed before and after the audio (default 1.0)\n" \
    "  --early               decide each event as soon as it is confirmed (about\n" \
    "                        0.45 s after the word; default: when its score falls)\n" \
    "  --self-adapt          learn the voice from the model's own events (the\n" \
    "                        offset of its embeddings from the training voices')\n" \
    "                        and score later windows with it; forgotten at the\n" \
    "                        end of each file or stream (earshot models only)\n"

int cmd_embed(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_transcribe(int argc, char **argv);
int cmd_listen(int argc, char **argv);
int cmd_synth(int argc, char **argv);

/* Synthesis options shared by `synth` and `train --words`. In `train`,
 * whose --augment and --aug-p are the training-time augmentation, the
 * synthesis ones are --synth-augment and --synth-aug-prob. */
#define CLI_SYNTH_LONGOPTS_BASE \
    {"words", required_argument, 0, 3001}, {"takes", required_argument, 0, 'n'}, \
    {"unknown", required_argument, 0, 3002}, {"engines", required_argument, 0, 3003}, \
    {"formant", required_argument, 0, 3006}, {"lang", required_argument, 0, 3007}, \
    {"unknown-words", required_argument, 0, 3008}
#define CLI_SYNTH_LONGOPTS CLI_SYNTH_LONGOPTS_BASE, \
    {"augment", required_argument, 0, 3004}, {"aug-prob", required_argument, 0, 3005}
#define CLI_SYNTH_TRAIN_LONGOPTS CLI_SYNTH_LONGOPTS_BASE, \
    {"synth-augment", required_argument, 0, 3004}, {"synth-aug-prob", required_argument, 0, 3005}
#define CLI_SYNTH_HELP_BASE \
    "  --words LIST          comma-separated words or phrases; an entry may be\n" \
    "                        label=spelling|spelling|[[espeak phonemes]],\n" \
    "                        e.g. \"lights on,0=zero|oh,kaffee=[[k'afe:]]\"\n" \
    "  -n, --takes N         takes per word (default 100)\n" \
    "  --unknown N           _unknown_ takes (default: as --takes; 0 = none)\n" \
    "  --unknown-words LIST  more for _unknown_ to say: these words and phrases\n" \
    "                        (entries as in --words) in half of the common-word\n" \
    "                        takes, e.g. a word heard as a target; one that\n" \
    "                        sounds like a target is refused\n" \
    "  --engines LIST        espeak, flite, or espeak,flite (default)\n" \
    "  --formant LO:HI       vocal-tract length spread: formants of each take x a\n" \
    "                        factor in LO..HI (0.7..1.4), duration and f0 kept\n" \
    "                        (default 1:1 = off; e.g. 0.9:1.12)\n" \
    "  --lang CODE           the words' language, an espeak-ng code (de, fr, es,\n" \
    "                        pt-br, cmn; 'espeak-ng --voices' lists them): its\n" \
    "                        voices say the words and their confusables, flite\n" \
    "                        (English only) is left out (default en)\n"
#define CLI_SYNTH_HELP CLI_SYNTH_HELP_BASE \
    "  --augment LIST        noise, reverb, bandlimit, speed, gain; all (default)\n" \
    "                        or none\n" \
    "  --aug-prob P          chance each augmentation applies to a take (default 0.5)\n"
#define CLI_SYNTH_TRAIN_HELP CLI_SYNTH_HELP_BASE \
    "  --synth-augment LIST  what makes the takes sound recorded: noise, reverb,\n" \
    "                        bandlimit, speed, gain; all (default) or none\n" \
    "  --synth-aug-prob P    chance each applies to a take (default 0.5)\n"
/* Handle a synthesis option: 1 if it was one, 0 if not, -1 on a bad value. */
int cli_synth_opt(es_synth_opts *o, int opt, const char *arg);
int cmd_enroll(int argc, char **argv);
int cmd_identify(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_adapt(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_cache(int argc, char **argv);

#endif
