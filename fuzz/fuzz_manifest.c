/*
 * fuzz/fuzz_manifest.c — libFuzzer target for the @list.txt manifest parser
 * of earshot transcribe (es_tx_manifest_parse). Every line it hands on must
 * be non-empty text without NUL, newline or surrounding white space and
 * not a comment, and there can be no more lines than the input has; an
 * error must say which line.
 *
 * Build and run with scripts/fuzz.sh manifest SECONDS.
 */
#include "../pipeline/transcribe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    size_t n;
} lines;

static es_status on_line(void *user, const char *s)
{
    lines *l = user;
    size_t n = strlen(s);
    if (n == 0 || s[0] == '#' || strchr(s, '\n') || s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' ||
        s[n - 1] == '\t' || s[n - 1] == '\r')
        abort();
    l->n++;
    /* stop on the 1000th line, as a callback may: the parse must end there */
    return l->n == 1000 ? ES_ERR_ARG : ES_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lines l = {0};
    es_error e = {0};
    es_status st = es_tx_manifest_parse((const char *)data, size, "fuzz", on_line, &l, &e);
    size_t nl = 0;
    for (size_t i = 0; i < size; i++) nl += data[i] == '\n';
    if (l.n > nl + 1 || l.n > 1000) abort();
    if (st == ES_ERR_FORMAT && !strstr(e.msg, "line ")) abort();
    if (st && st != ES_ERR_FORMAT && !(st == ES_ERR_ARG && l.n == 1000)) abort();
    return 0;
}
