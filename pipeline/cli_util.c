#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int parse_int(const char *name, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "earshot: %s must be an integer from %ld to %ld, not '%s'\n", name, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_common_opt(cli_common *c, int opt, const char *arg)
{
    switch (opt) {
    case 'M': c->models = arg; return 1;
    case 't':
        if (parse_int("--threads", arg, 1, 256, &c->threads)) return -1;
        es_set_threads(c->threads);
        return 1;
    case 1001: return parse_int("--rate", arg, 1000, 384000, &c->raw_rate) ? -1 : 1;
    case 1002: return parse_int("--channels", arg, 1, 64, &c->raw_channels) ? -1 : 1;
    case 1003:
        if (es_pcm_format_parse(arg, &c->raw_format)) {
            fprintf(stderr, "earshot: unknown --format '%s' (use s16, s8, u8, s24, s32, f32 or f64)\n", arg);
            return -1;
        }
        return 1;
    case 'q': c->quiet = 1; return 1;
    }
    return 0;
}

es_status cli_load(const cli_common *c, const char *path, es_audio *a, es_error *err)
{
    es_load_opts o = { 1 };
    if (!strcmp(path, "-"))
        return es_audio_load_raw(stdin, "(stdin)", c->raw_rate, c->raw_channels, c->raw_format, &o, a, err);
    return es_audio_load(path, &o, a, err);
}

es_reader *cli_open(const cli_common *c, const char *path, es_error *err)
{
    /* Same options as cli_load: the reader gives the same samples. */
    es_load_opts o = { 1 };
    if (!strcmp(path, "-"))
        return es_reader_open_raw(stdin, "(stdin)", c->raw_rate, c->raw_channels, c->raw_format, &o, err);
    return es_reader_open(path, &o, err);
}

es_engine *cli_engine(const cli_common *c)
{
    es_error e = {0};
    es_engine *eng = es_engine_create(c->models, &e);
    if (!eng) cli_error(&e);
    return eng;
}

void cli_error(const es_error *e)
{
    fprintf(stderr, "earshot: %s\n", e->msg[0] ? e->msg : es_status_str(e->status));
}
