/*
 * pipeline/manifest.c — the @list.txt manifests of earshot transcribe: one
 * input per line. Kept apart from the rest of transcribe.c so the fuzz
 * target (fuzz/fuzz_manifest.c) links only this and status.c.
 */
#include "transcribe.h"

#include <stdlib.h>
#include <string.h>

static int space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

es_status es_tx_manifest_parse(const char *buf, size_t len, const char *name,
                               es_status (*fn)(void *user, const char *line), void *user, es_error *err)
{
    if (!buf && len) return es_fail(err, ES_ERR_ARG, "es_tx_manifest_parse: invalid arguments");
    char *line = NULL;
    size_t cap = 0, lineno = 0, i = 0;
    es_status st = ES_OK;
    /* a UTF-8 byte-order mark, which Windows editors put at the start of a
     * text file: not part of the first path */
    if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) i = 3;
    while (i < len && !st) {
        size_t j = i;
        while (j < len && buf[j] != '\n') j++;
        lineno++;
        size_t a = i, b = j;
        i = j + 1;
        while (a < b && space(buf[a])) a++;
        while (b > a && space(buf[b - 1])) b--;
        if (a == b || buf[a] == '#') continue;   /* blank or comment */
        if (memchr(buf + a, 0, b - a)) {
            st = es_fail(err, ES_ERR_FORMAT, "%s: line %zu: not text (a NUL byte)", name ? name : "manifest", lineno);
            break;
        }
        if (b - a + 1 > cap) {
            cap = b - a + 1;
            char *nl = realloc(line, cap);
            if (!nl) { st = es_fail(err, ES_ERR_NOMEM, "out of memory"); break; }
            line = nl;
        }
        memcpy(line, buf + a, b - a);
        line[b - a] = 0;
        st = fn(user, line);
    }
    free(line);
    return st;
}
