/*
 * pipeline/cli.c — the `earshot` command: parses arguments and calls the
 * library, one file per subcommand.
 */
#include "cli.h"
#include "es_internal.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <espeak-ng/speak_lib.h>
#include <flite/flite_version.h>
#include <getopt.h>
#include <portaudio.h>
#include <pthread.h>
#include <samplerate.h>
#include <sndfile.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: earshot COMMAND [options] ...\n"
            "\n"
            "commands:\n"
            "  detect      detect wake words in audio files with pretrained heads\n"
            "  embed       write log-mel or encoder embeddings of audio files as .npy\n"
            "  train       adapt to a new vocabulary: train a head on the pretrained encoder\n"
            "  eval        accuracy, per-label metrics and confusion of a trained model\n"
            "  transcribe  time-stamped keyword transcripts of many audio files\n"
            "  listen      keywords live from a microphone\n"
            "  synth       synthesise a training set from text (espeak-ng, flite)\n"
            "  adapt       personalise a trained model to one speaker's voice\n"
            "  enroll      add a speaker to a speaker profile file\n"
            "  identify    name the enrolled speaker of each audio file\n"
            "  verify      accept or reject that a named speaker speaks in a file\n"
            "  models      list the pretrained models and where they are cached\n"
            "  cache       what earshot keeps between runs, and clearing it\n"
            "  info        what a model or speaker profile file is and holds\n"
            "  version     print the version\n"
            "\n"
            "'earshot COMMAND --help' describes a command's options.\n");
}

/* Killed while writing (Ctrl-C during train, kill during enroll): the
 * temporary files of the writes under way go, then the signal does what
 * it would have done. The outputs themselves are safe anyway, since they
 * are renamed into place only when complete. listen and transcribe
 * install their own SIGINT/SIGTERM handler, which stops them cleanly
 * instead (and hands a second signal to this one).
 *
 * One line says so for INT, TERM and HUP: the shell prints nothing for a
 * Ctrl-C, and a batch job's log would otherwise end mid-progress with no
 * word on what became of the output. write(2) only: async-signal-safe.
 * SIGPIPE (`earshot ... | head -1` while a file was being written) dies
 * silently, as any filter does, but its temporary files go too. */
static int stderr_tty;   /* isatty(2), asked in main: not in the handler */
static volatile sig_atomic_t dying;   /* a handler is ending the process */

void cli_on_fatal_signal(int sig)
{
    /* inside a step that must not be cut in two: raised at its end */
    if (es_critical_defer(sig)) return;
    /* One handler ends the process; any other waits for it. A signal is
     * blocked only in the thread whose handler it runs, so a second one
     * (timeout(1) signals the process and then its process group; Ctrl-C
     * twice) could run this on another thread meanwhile, and its line
     * was printed twice. All signals are blocked first, so that no other
     * signal can interrupt this thread after it has become the one, and
     * a later handler, in another thread, waits there until the first
     * one's raise ends the process (the mask that returning restores
     * lets that signal in). pthread_sigmask is async-signal-safe. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    if (__atomic_exchange_n(&dying, 1, __ATOMIC_SEQ_CST))
        for (;;) pause();
    const char *name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : NULL;
    if (name) {
        static const char a[] = "earshot: interrupted by ", b[] = "; files not finished were not written\n";
        /* clear a progress line first, as cli_warning does */
        if (stderr_tty) (void)!write(STDERR_FILENO, "\r\033[K", 4);
        (void)!write(STDERR_FILENO, a, sizeof a - 1);
        (void)!write(STDERR_FILENO, name, strlen(name));
        (void)!write(STDERR_FILENO, b, sizeof b - 1);
    }
    /* Last before dying: the other threads run on until the raise below
     * takes the process, and a temporary file one of them starts after
     * the clean-up stays (a stale NAME.tmp.PID, which the next write of
     * that output, or earshot cache --tidy, removes). Cleaning up after
     * the message, not before, leaves them microseconds, not the time a
     * write to a slow stderr takes. */
    es_atomic_cleanup_signal();
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_catch(void (*fn)(int), const int *sigs, int n)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < n; i++) {
        struct sigaction old;
        /* an ignored signal (nohup, a shell's background job) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaction(sigs[i], &sa, NULL);
    }
}

/* The first signal asks a command to stop cleanly (on_first), a second
 * one ends it at once (cli_on_fatal_signal). But one request can come as
 * two signals: timeout(1) sends its signal to the process and then to
 * the process group, microseconds apart, and 2 of 10 runs of `timeout 1
 * earshot transcribe` stopped hard, without their summary. So a repeat
 * sent by the same process (si_pid; SI_USER, i.e. kill()) within a second
 * of the first is the same request. A terminal's Ctrl-C comes from the
 * kernel, with no sender: pressed twice it still ends the command at
 * once. The first signal's sender and time are one 64-bit word, claimed
 * by compare-and-swap, so a repeat running the handler on another thread
 * at the same moment reads either nothing (and is the first) or both. */
static void (*stop_first)(int);
static _Atomic unsigned long long stop_key;   /* 1 << 63 | pid << 32 | ms; 0: none yet */

static void on_stop_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);   /* async-signal-safe */
    unsigned long long pid = si && si->si_code == SI_USER && si->si_pid > 0 ? (unsigned long long)si->si_pid & 0x7fffffffu : 0;
    unsigned long long ms = ((unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u) & 0xffffffffu;
    unsigned long long key = 1ull << 63 | pid << 32 | ms, none = 0;
    if (atomic_compare_exchange_strong(&stop_key, &none, key)) {
        stop_first(sig);
        return;
    }
    unsigned long long first_pid = (none >> 32) & 0x7fffffffu, first_ms = none & 0xffffffffu;
    if (pid && pid == first_pid && ((ms - first_ms) & 0xffffffffu) < 1000) return;   /* the same request */
    cli_on_fatal_signal(sig);
}

void cli_catch_stop(void (*on_first)(int), const int *sigs, int n, int even_ignored)
{
    stop_first = on_first;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_stop_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < n; i++) {
        struct sigaction old;
        if (!even_ignored && sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Library warnings (a truncated file, ...): one line each on stderr. stdio
 * locks the stream for the call, so lines from decoding threads do not mix.
 * On a terminal a progress line may be showing: clear it first (the next
 * update redraws it) rather than append the warning to it. */
static void cli_warning(void *user, const char *msg)
{
    (void)user;
    fprintf(stderr, "%searshot: warning: %s\n", isatty(STDERR_FILENO) ? "\r\033[K" : "", msg);
}

/* A command like the others, so that what the overview lists is what
 * 'earshot help NAME' and the typo rule know ('help version' was refused
 * as no command, and 'verison' suggested nothing). -v adds what a bug
 * report needs and ES_VERSION cannot say: the libraries this binary runs
 * with (the shared ones as loaded, not as compiled against), OpenBLAS's
 * kernel for this CPU, and the pinned encoder. Anything else is refused:
 * 'earshot version -x' printing the version hid the typo. */
static int cmd_version(int argc, char **argv)
{
    static const struct option opts[] = {
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int verbose = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        if (opt == 'v') { verbose = 1; continue; }
        if (opt == 'h') {
            printf("usage: earshot version [-v]\n       earshot --version\n\nPrints earshot's version.\n\n"
                   "  -v, --verbose   also the libraries it runs with (as loaded), OpenBLAS's\n"
                   "                  kernel for this CPU, and the pinned encoder's SHA-256:\n"
                   "                  what a bug report needs\n");
            return EXIT_OK;
        }
        return cli_bad_option("version", argv, opts);
    }
    if (cli_no_arguments("version", argc, argv, NULL)) return EXIT_USAGE;
    printf("earshot %s (commit %s)\n", ES_VERSION, es_version_commit());
    if (verbose) {
        const char *name, *sha = NULL, *encoder = NULL;
        for (size_t i = 0; !encoder && (name = es_models_pinned(i, &sha)); i++)
            if (!strcmp(name, "embedding_model")) encoder = sha;
        /* the compiler, not the date: a date would make two builds of the
         * same source differ */
        printf("  built with  %s\n",
#if defined(__clang__)
               "clang " __clang_version__
#elif defined(__GNUC__)
               "gcc " __VERSION__
#else
               "an unknown compiler"
#endif
        );
        printf("  openblas    %s (kernel %s)\n", openblas_get_config(), openblas_get_corename());
        printf("  sndfile     %s\n", sf_version_string());
        printf("  samplerate  %s\n", src_get_version());
        printf("  portaudio   %s\n", Pa_GetVersionText());
        printf("  espeak-ng   %s\n", espeak_Info(NULL));
        printf("  flite       %s\n", FLITE_PROJECT_VERSION " (compiled against)");
        printf("  cjson       %s\n", cJSON_Version());
        printf("  encoder     embedding_model.onnx, SHA-256 %s\n", encoder ? encoder : "?");
    }
    return EXIT_OK;
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} COMMANDS[] = {
    {"detect", cmd_detect},     {"embed", cmd_embed},   {"transcribe", cmd_transcribe}, {"listen", cmd_listen},
    {"models", cmd_models},     {"train", cmd_train},   {"eval", cmd_eval},             {"synth", cmd_synth},
    {"adapt", cmd_adapt},       {"enroll", cmd_enroll}, {"identify", cmd_identify},     {"verify", cmd_verify},
    {"info", cmd_info},         {"cache", cmd_cache},   {"version", cmd_version},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof *COMMANDS)

static int run(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return EXIT_USAGE; }
    const char *cmd = argv[1];
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(cmd, COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    if (!strcmp(cmd, "--version")) return cmd_version(1, argv + 1);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        /* "earshot help train" is "earshot train --help", as in git */
        if (argc > 2) {
            for (size_t i = 0; i < NCOMMANDS; i++)
                if (!strcmp(argv[2], COMMANDS[i].name)) return COMMANDS[i].run(2, (char *[]){argv[2], "--help", NULL});
            fprintf(stderr, "earshot: no command '%s'\n\n", argv[2]);
            usage(stderr);
            return EXIT_USAGE;
        }
        usage(stdout);
        return EXIT_OK;
    }
    /* a typo of a command: say which one was probably meant, as for options */
    const char *best = NULL;
    size_t best_d = SIZE_MAX, len = strlen(cmd);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        size_t d = cli_edit_distance(cmd, COMMANDS[i].name);
        if (d < best_d) best_d = d, best = COMMANDS[i].name;
    }
    fprintf(stderr, "earshot: unknown command '%s'\n", cmd);
    if (best && cli_is_typo(best_d, len)) fprintf(stderr, "earshot: did you mean '%s'?\n", best);
    fputc('\n', stderr);
    usage(stderr);
    return EXIT_USAGE;
}

static int stdout_errno;   /* the first failed cli_flush_stdout's */

int cli_flush_stdout(void)
{
    if (fflush(stdout) != 0 && !stdout_errno) stdout_errno = errno;
    return ferror(stdout) ? -1 : 0;
}

/* What a command printed to stdout must all have arrived: `> out.txt` on
 * a full disk, /dev/full or a closed stdout lost the transcript, JSON or
 * table, and the exit status said 0. (A closed pipe ends the process by
 * SIGPIPE first, unless SIGPIPE is ignored; then it is reported here.) */
static int stdout_done(int rc)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return rc;
    int e = stdout_errno ? stdout_errno : errno;
    fprintf(stderr, "earshot: standard output: %s\n", e ? strerror(e) : "write error");
    return rc == EXIT_OK ? EXIT_FAIL : rc;
}

/* OpenBLAS starts a thread per CPU beyond the first when it is loaded,
 * before main, and each maps a 128 MB work buffer it keeps, though the
 * library runs OpenBLAS on one thread (model/blas.c). Under `ulimit -v`
 * that is what hangs: a thread that finds no room for its buffer retries
 * the mmap forever, and every exit then waits for it in OpenBLAS's
 * destructor (`earshot version` hung at ulimit -v 200000). Only its
 * environment at load makes OpenBLAS start none, and setenv here would
 * not do: libc, initialised after this, takes the environment from the
 * stack again. So under a finite RLIMIT_AS the program runs itself again
 * with OPENBLAS_NUM_THREADS=1, from a pre-initialiser, which the dynamic
 * loader runs before any library's constructor. EARSHOT_BLAS_ENV carries
 * what the variable was ("-" if unset), and main puts it back. Without a
 * limit, or with no /proc to run from, nothing changes: model/blas.c then
 * shuts the idle threads down. */
#define BLAS_VAR "OPENBLAS_NUM_THREADS="
#define BLAS_MARK "EARSHOT_BLAS_ENV="

static void blas_env_early(int argc, char **argv, char **envp)
{
    (void)argc;
    struct rlimit rl;
    if (!envp || getrlimit(RLIMIT_AS, &rl) || rl.rlim_cur == RLIM_INFINITY) return;
    size_t n = 0;
    const char *cur = NULL;
    for (; envp[n]; n++)
        if (!strncmp(envp[n], BLAS_VAR, strlen(BLAS_VAR))) cur = envp[n] + strlen(BLAS_VAR);
    if (cur && !strcmp(cur, "1")) return;   /* nothing to change, or run again already */
    /* no stdio yet (libc is not initialised): build the strings by hand */
    static char mark[256] = BLAS_MARK;
    const char *was = cur ? cur : "-";
    if (strlen(BLAS_MARK) + strlen(was) >= sizeof mark) return;
    strcpy(mark + strlen(BLAS_MARK), was);
    char *env[n + 3];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(envp[i], BLAS_VAR, strlen(BLAS_VAR)) && strncmp(envp[i], BLAS_MARK, strlen(BLAS_MARK)))
            env[k++] = envp[i];
    env[k++] = BLAS_VAR "1";
    env[k++] = mark;
    env[k] = NULL;
    execve("/proc/self/exe", argv, env);
    /* returned: no /proc; go on with the threads */
}

__attribute__((used, section(".preinit_array"))) static void (*const blas_env_preinit)(int, char **, char **) =
    blas_env_early;

static void blas_env_restore(void)
{
    const char *was = getenv("EARSHOT_BLAS_ENV");
    if (!was) return;
    if (!strcmp(was, "-")) unsetenv("OPENBLAS_NUM_THREADS");
    else setenv("OPENBLAS_NUM_THREADS", was, 1);
    unsetenv("EARSHOT_BLAS_ENV");
}

int main(int argc, char **argv)
{
    blas_env_restore();
    es_set_warning_handler(cli_warning, NULL);
    stderr_tty = isatty(STDERR_FILENO);
    cli_catch(cli_on_fatal_signal, (const int[]){SIGINT, SIGTERM, SIGHUP, SIGPIPE}, 4);
    return stdout_done(run(argc, argv));
}
