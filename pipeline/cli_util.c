#include "cli.h"
#include "synth_data.h"
#include "dataset.h"
#include "es_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_check_out(const char *path, const char *what)
{
    if (!*path) {
        /* else it passed as a new file in ".", and enroll -p '' did the
         * work before failing with "earshot: : cannot write" */
        fprintf(stderr, "earshot: %s: an empty file name\n", what);
        return -1;
    }
    /* the write's own checks (a symbolic link followed, a folder or a
     * read-only file refused: es_atomic_begin), made now instead of after
     * the work; then the folder the temporary file goes into */
    es_atomic a;
    es_error e = {0};
    if (es_atomic_begin(&a, path, &e)) {
        fprintf(stderr, "earshot: %s %s\n", what, e.msg);
        return -1;
    }
    /* a run killed by SIGKILL left its temporary file: gone now */
    es_atomic_remove_stale(a.path);
    int rc = -1;
    char dir[4096];
    const char *p = a.path, *slash = strrchr(p, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == p) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - p), p);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        fprintf(stderr, "earshot: %s %s: folder %s does not exist\n", what, path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        fprintf(stderr, "earshot: %s %s: cannot write in %s: %s\n", what, path, dir, strerror(errno));
    else {
        /* and the temporary file itself: a name that fits the file
         * system's limit may not once ".tmp.<tag>" is added, and train
         * then failed after all its work */
        int fd = open(a.tmp, O_WRONLY | O_CREAT, 0600);
        if (fd < 0) fprintf(stderr, "earshot: %s %s: cannot create its temporary file %s: %s\n", what, path, a.tmp, strerror(errno));
        else {
            close(fd);
            rc = 0;
        }
    }
    es_atomic_abort(&a);   /* removes that probe; otherwise only releases it */
    return rc;
}

int cli_check_synth(const es_synth_opts *o)
{
    es_error e = {0};
    if (es_synth_opts_check(o, &e)) {
        fprintf(stderr, "earshot: %s\n", e.msg);
        return -1;
    }
    return 0;
}

int cli_text_width(const char *s)
{
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) w += (*p & 0xc0) != 0x80;
    return w;
}

void cli_print_cell(const char *s, int width, int left)
{
    /* at most `width` characters, cut at a character boundary ("~" marks a cut) */
    int w = cli_text_width(s);
    if (w > width) {
        /* the byte where character number width-1 starts */
        const unsigned char *p = (const unsigned char *)s;
        int n = 0;
        size_t i = 0;
        for (; p[i]; i++)
            if ((p[i] & 0xc0) != 0x80 && n++ == width - 1) break;
        printf("%.*s~", (int)i, s);
        return;
    }
    if (left) printf("%s%*s", s, width - w, "");
    else printf("%*s%s", width - w, "", s);
}

int cli_models_distinct(const char *const *names, size_t n, const char *cmd)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < i; k++)
            if (!strcmp(names[i], names[k])) {
                fprintf(stderr, "earshot %s: -m %s given twice (every event would be reported twice)\n", cmd, names[i]);
                return -1;
            }
    return 0;
}

int cli_check_out_dir(const char *path, const char *what)
{
    if (!*path) { fprintf(stderr, "earshot: %s: an empty folder name\n", what); return -1; }
    char *p = strdup(path);   /* at least 2 bytes: room for "." below */
    if (!p) { fprintf(stderr, "earshot: out of memory\n"); return -1; }
    /* the folder, or the nearest of its parents that exists */
    struct stat st;
    while (stat(p, &st) != 0) {
        char *slash = strrchr(p, '/');
        if (!slash) { strcpy(p, "."); continue; }
        if (slash == p) { p[1] = 0; continue; }
        *slash = 0;
    }
    int rc = 0;
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "earshot: %s %s: %s is not a folder\n", what, path, p);
        rc = -1;
    } else if (access(p, W_OK | X_OK) != 0) {
        fprintf(stderr, "earshot: %s %s: cannot write in %s: %s\n", what, path, p, strerror(errno));
        rc = -1;
    }
    free(p);
    return rc;
}

int cli_make_dir(const char *path, const char *what)
{
    es_error e = {0};
    if (!es_make_dirs(path, &e)) {
        /* of a run killed by SIGKILL (transcribe keeps the inputs' sub-folders) */
        es_atomic_remove_stale_in(path, 16);
        return 0;
    }
    fprintf(stderr, "earshot: %s %s: cannot make that folder: %s\n", what, path, e.msg);
    return -1;
}

int cli_check_svg_out(const char *path, const char *what)
{
    size_t n = strlen(path);
    if (n < 5 || strcasecmp(path + n - 4, ".svg")) {
        fprintf(stderr, "earshot: %s %s: the chart is SVG; name the file .svg\n", what, path);
        return -1;
    }
    return cli_check_out(path, what);
}

int cli_check_model_out(const char *path, const char *what)
{
    /* case as the loader matches it (detector.c): M.SAFETENSORS would not load */
    size_t n = strlen(path);
    if (n < 13 || strcmp(path + n - 12, ".safetensors")) {
        fprintf(stderr, "earshot: %s %s: a model is a .safetensors file (transcribe and listen load it by that name); "
                        "name the file .safetensors\n", what, path);
        return -1;
    }
    return cli_check_out(path, what);
}

void cli_common_init(cli_common *c)
{
    memset(c, 0, sizeof *c);
    c->raw_rate = ES_SAMPLE_RATE;
    c->raw_channels = 1;
    c->raw_format = ES_PCM_S16;
}

int cli_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_int(const char *name, const char *s, long lo, long hi, int *out)
{
    long v;
    if (cli_parse_long(s, lo, hi, &v)) {
        fprintf(stderr, "earshot: %s must be an integer from %ld to %ld, not '%s'\n", name, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A JSON string literal on stdout: paths, labels and speaker names may hold
 * quotes, backslashes or control characters. */
void cli_json_str(const char *s)
{
    char *q = es_json_quote(s);
    fputs(q ? q : "\"\"", stdout);
    free(q);
}

int cli_expand_folders(char **args, int n, char ***files, int *nfiles)
{
    *files = NULL;
    *nfiles = 0;
    char **v = NULL;
    size_t k = 0, cap = 0;
    for (int i = 0; i < n; i++) {
        struct stat st;
        char **list = NULL, *one = NULL;
        size_t m = 1;
        es_error e = {0};
        if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            if (es_dataset_scan_audio(args[i], &list, &m, &e)) { cli_error(&e); goto fail; }
        } else if (!(one = strdup(args[i]))) {
            goto oom;
        }
        if (k + m > cap) {
            char **nv = realloc(v, 2 * (k + m) * sizeof *nv);
            if (!nv) {
                free(one);
                for (size_t j = 0; j < m && list; j++) free(list[j]);
                free(list);
                goto oom;
            }
            v = nv;
            cap = 2 * (k + m);
        }
        if (list) memcpy(v + k, list, m * sizeof *list);   /* sorted, recursive */
        else v[k] = one;
        k += m;
        free(list);
    }
    if (k > INT_MAX) goto oom;
    *files = v;
    *nfiles = (int)k;
    return 0;
oom:
    fprintf(stderr, "earshot: out of memory\n");
fail:
    cli_free_files(v, (int)k);
    return -1;
}

void cli_free_files(char **files, int n)
{
    for (int i = 0; files && i < n; i++) free(files[i]);
    free(files);
}

/* A file name as one field of a tab-separated line. Names may hold any
 * byte but '/' and NUL, and a tab or newline in one would shift every
 * later column or start a false row, so these and the other control
 * characters are written as C escapes (\t, \n, \r, \xHH) and a backslash
 * as \\, which keeps the mapping reversible. The common name comes back
 * unchanged. Returns a malloc'd string, NULL when out of memory. */
char *cli_tsv_field(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += *p == '\\' || *p == '\t' || *p == '\n' || *p == '\r' ? 2 : *p < 0x20 || *p == 0x7f ? 4 : 1;
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        default:
            if (*p < 0x20 || *p == 0x7f) o += sprintf(o, "\\x%02x", *p);
            else *o++ = (char)*p;
        }
    }
    *o = 0;
    return out;
}

void cli_tsv_put(const char *s)
{
    char *q = cli_tsv_field(s);
    fputs(q ? q : s, stdout);
    free(q);
}

int cli_common_opt(cli_common *c, int opt, const char *arg)
{
    switch (opt) {
    case 'M': c->models = arg; return 1;
    case 't':
        if (cli_parse_int("--threads", arg, 1, 256, &c->threads)) return -1;
        es_set_threads(c->threads);
        return 1;
    case 1001: c->raw_given = 1; return cli_parse_int("--rate", arg, 1000, 384000, &c->raw_rate) ? -1 : 1;
    case 1002: c->raw_given = 1; return cli_parse_int("--channels", arg, 1, 64, &c->raw_channels) ? -1 : 1;
    case 1003:
        c->raw_given = 1;
        if (es_pcm_format_parse(arg, &c->raw_format)) {
            fprintf(stderr, "earshot: unknown --format '%s' (use s16, s8, u8, s24, s32, f32 or f64)\n", arg);
            return -1;
        }
        return 1;
    case 'q': c->quiet = 1; return 1;
    }
    return 0;
}

/* A WAV stream on stdin is read as its header says: say so when raw
 * options given for it say otherwise */
static void note_header_wins(const cli_common *c, int rate, int channels)
{
    if (c->raw_given && !c->quiet && (rate != c->raw_rate || channels != c->raw_channels))
        fprintf(stderr, "earshot: note: (stdin) is a WAV stream of %d Hz, %d channel%s: its header wins over "
                "--rate, --channels and --format\n", rate, channels, channels == 1 ? "" : "s");
}

es_reader *cli_open(const cli_common *c, const char *path, es_error *err)
{
    es_load_opts o = { 1 };
    if (strcmp(path, "-")) return es_reader_open(path, &o, err);
    int wav = 0;
    es_reader *r = es_reader_open_stream(stdin, "(stdin)", c->raw_rate, c->raw_channels, c->raw_format, &o, &wav, err);
    if (r && wav) note_header_wins(c, es_reader_rate(r), es_reader_channels(r));
    return r;
}

es_status cli_load(const cli_common *c, const char *path, es_audio *a, es_error *err)
{
    /* Same options as cli_open: the reader gives the same samples. */
    es_load_opts o = { 1 };
    if (strcmp(path, "-")) return es_audio_load(path, &o, a, err);
    es_status st = es_audio_load_stream(stdin, "(stdin)", c->raw_rate, c->raw_channels, c->raw_format, &o, a, err);
    /* raw input has the rate and channels given; only a header can differ */
    if (!st) note_header_wins(c, a->src_rate, a->src_channels);
    return st;
}

es_engine *cli_engine(const cli_common *c)
{
    es_error e = {0};
    es_engine *eng = es_engine_create(c->models, &e);
    if (!eng) cli_error(&e);
    return eng;
}

/* " (address-space limit N MB; raise ulimit -v)" when a limit is set,
 * else "": a bare "out of memory" on a machine with gigabytes free does
 * not say that the shell's ulimit -v is what ran out */
const char *cli_oom_note(void)
{
    static char note[96];
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) || rl.rlim_cur == RLIM_INFINITY) return "";
    snprintf(note, sizeof note, " (address-space limit %llu MB; raise ulimit -v)",
             (unsigned long long)(rl.rlim_cur >> 20));
    return note;
}

void cli_error(const es_error *e)
{
    const char *msg = e->msg[0] ? e->msg : es_status_str(e->status);
    /* es_blas_ready's message names the limit already */
    int note = e->status == ES_ERR_NOMEM && !strstr(msg, "address-space limit");
    fprintf(stderr, "earshot: %s%s\n", msg, note ? cli_oom_note() : "");
}

void cli_detect_init(cli_detect *d)
{
    memset(d, 0, sizeof *d);
    es_detector_opts_default(&d->o);
}

int cli_detect_opt(cli_detect *d, int opt, char *arg)
{
    long v;
    switch (opt) {
    case 1103: {
        if (d->nthr == CLI_MAX_THRESHOLDS) { fprintf(stderr, "earshot: too many --threshold\n"); return -1; }
        char *eq = strrchr(arg, '=');
        double t;
        if (eq) *eq = 0;
        if (cli_parse_double(eq ? eq + 1 : arg, 1e-6, 1, &t) || (eq && !*arg)) {
            fprintf(stderr, "earshot: --threshold must be T or LABEL=T with T in (0, 1]\n");
            return -1;
        }
        d->thr[d->nthr].label = eq ? arg : NULL;
        d->thr[d->nthr++].thr = t;
        return 1;
    }
    case 1104: {
        char *end;
        errno = 0;
        v = strtol(arg, &end, 10);
        if (errno || end == arg || *end || v < 1 || v > 100) { fprintf(stderr, "earshot: --smooth must be from 1 to 100\n"); return -1; }
        d->o.smooth = (int)v;
        return 1;
    }
    case 1105:
        if (cli_parse_double(arg, 0, 60, &d->o.min_duration)) { fprintf(stderr, "earshot: --min-duration must be seconds from 0 to 60\n"); return -1; }
        return 1;
    case 1106:
        if (cli_parse_double(arg, 0, 3600, &d->o.refractory)) { fprintf(stderr, "earshot: --refractory must be seconds from 0 to 3600\n"); return -1; }
        return 1;
    case 1107:
        if (cli_parse_double(arg, 0.01, 1, &d->o.low)) { fprintf(stderr, "earshot: --low must be from 0.01 to 1\n"); return -1; }
        return 1;
    case 1108:
        if (cli_parse_double(arg, 0, 60, &d->o.pad)) { fprintf(stderr, "earshot: --pad must be seconds from 0 to 60\n"); return -1; }
        return 1;
    case 1111: d->o.early = 1; return 1;
    case 1112: d->o.self_adapt = 1; return 1;
    }
    return 0;
}

es_detector *cli_detector(es_engine *e, const char *const *models, size_t n, const cli_detect *d, es_error *err)
{
    es_detector *det = es_detector_create(e, models, n, &d->o, err);
    if (!det) return NULL;
    for (size_t i = 0; i < d->nthr; i++)
        if (es_detector_set_threshold(det, d->thr[i].label, d->thr[i].thr, err)) { es_detector_free(det); return NULL; }
    return det;
}

void cli_safe_name(const char *label, char *out, size_t size)
{
    size_t k = 0;
    for (const char *s = label; *s && k + 1 < size; s++)
        out[k++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ? *s : '_';
    if (size) out[k] = 0;
}

/* Edit distance of a and b (at most 63 characters each are compared),
 * counting a swap of two neighbours as one edit, the commonest typo
 * ("trian"): the optimal-string-alignment distance, three rows kept. */
size_t cli_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b), r0[64], r1[64], r2[64];
    size_t *pp = r0, *prev = r1, *row = r2;
    if (n > 63) n = 63;
    if (m > 63) m = 63;
    for (size_t j = 0; j <= m; j++) prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best) best = prev[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1;
            row[j] = best;
        }
        size_t *t = pp;
        pp = prev;
        prev = row;
        row = t;
    }
    return prev[m];
}

int cli_is_typo(size_t d, size_t len)
{
    /* near enough to be a typo: 1 edit in short names, up to a third */
    return d <= (len < 6 ? 1 : len / 3);
}

int cli_no_arguments(const char *cmd, int argc, char **argv, const char *hint)
{
    if (optind >= argc) return 0;
    fprintf(stderr, "earshot %s: takes no arguments: '%s'%s%s\n", cmd, argv[optind], hint ? "; " : "", hint ? hint : "");
    return 1;
}

int cli_bad_option(const char *cmd, char **argv, const struct option *opts)
{
    /* An unknown long option leaves optopt 0 and optind past it; an
     * unknown short one sets optopt, and in a cluster ("-xq") optind may
     * stay on its element, so argv[optind - 1] is not it: no guess then. */
    const char *typed = optopt == 0 && optind > 0 ? argv[optind - 1] : NULL;
    if (typed && !strncmp(typed, "--", 2) && typed[2]) {
        char name[64];
        snprintf(name, sizeof name, "%s", typed + 2);
        char *eq = strchr(name, '=');
        if (eq) *eq = 0;
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        for (const struct option *o = opts; o && o->name; o++) {
            size_t d = cli_edit_distance(name, o->name);
            if (d < best_d) best_d = d, best = o->name;
        }
        if (best && best_d > 0 && cli_is_typo(best_d, strlen(name))) fprintf(stderr, "earshot %s: did you mean --%s?\n", cmd, best);
    }
    fprintf(stderr, "run 'earshot %s --help' for all options\n", cmd);
    return EXIT_USAGE;
}
