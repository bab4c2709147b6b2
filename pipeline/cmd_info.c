/*
 * earshot info — what a model or speaker profile file is, and what it holds.
 *
 * A user who finds "alexa-kitchen.safetensors" in a folder months later
 * wants its words, thresholds, what it was trained on and how well it did,
 * whether this earshot can run it, and (for a profile) who is enrolled:
 * all of it is in the file's card, which was only readable by parsing the
 * safetensors header by hand. Each file is also put through the loader
 * that detect, transcribe, eval or identify would use, so "loads: yes"
 * means exactly that, and a damaged file is named with the loader's reason.
 *
 * Values come from a file, perhaps a hostile one: text is printed with
 * control characters escaped (no terminal escape sequences get through),
 * and nothing from the card is trusted beyond being shown.
 */
#include "cli.h"

#include "../model/onnx.h"
#include "../model/safetensors.h"
#include "es_internal.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ text output */

/* s with control characters (and DEL) as \xHH, for a terminal */
static void put_text(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) printf("\\x%02x", *p);
        else putchar(*p);
    }
}

static void put_number(double v)
{
    /* the card's floats are float32 written as double (0.10000000149):
     * 6 significant digits are what was meant */
    if (v == floor(v) && fabs(v) < 1e15) printf("%.0f", v);
    else printf("%.6g", v);
}

/* one line: objects as "key=value; key=value" (the card's texts have
 * commas of their own), arrays comma-separated, nested ones in braces /
 * brackets */
static void put_json(const cJSON *j, int nested)
{
    if (cJSON_IsObject(j)) {
        if (nested) putchar('{');
        int first = 1;
        for (const cJSON *c = j->child; c; c = c->next) {
            if (!first) printf("; ");
            first = 0;
            put_text(c->string ? c->string : "");
            putchar('=');
            put_json(c, 1);
        }
        if (nested) putchar('}');
    } else if (cJSON_IsArray(j)) {
        if (nested) putchar('[');
        int first = 1;
        for (const cJSON *c = j->child; c; c = c->next) {
            if (!first) printf(", ");
            first = 0;
            put_json(c, 1);
        }
        if (nested) putchar(']');
    } else if (cJSON_IsString(j)) put_text(j->valuestring);
    else if (cJSON_IsNumber(j)) put_number(j->valuedouble);
    else if (cJSON_IsBool(j)) printf(cJSON_IsTrue(j) ? "true" : "false");
    else printf("null");
}

/* A card value: JSON when it is an object or array, else the text. */
static cJSON *parse_value(const char *v)
{
    return v && (v[0] == '{' || v[0] == '[') ? cJSON_Parse(v) : NULL;
}

static void put_field(const char *key, int width)
{
    printf("  ");
    put_text(key);
    printf(":%*s", (int)(width - cli_text_width(key)) + 1, "");
}

static void put_card_value(const char *v)
{
    cJSON *j = parse_value(v);
    if (j) put_json(j, 0);
    else put_text(v);
    cJSON_Delete(j);
    putchar('\n');
}

/* ------------------------------------------------------------ identity */

/* the pinned file whose SHA-256 is sha (hex), or NULL */
static const char *pinned_name(const char *sha)
{
    const char *name, *want;
    for (size_t i = 0; sha && (name = es_models_pinned(i, &want)); i++)
        if (!strcasecmp(want, sha)) return name;
    return NULL;
}

/* What the card says it was made with, against the encoder and front end
 * earshot fetches: 1 the pinned ones, 0 others, -1 the card does not say. */
static int made_with_pinned(const es_st *st)
{
    const char *enc = es_st_meta(st, "encoder_sha256"), *mel = es_st_meta(st, "melspectrogram_sha256");
    if (!enc || !mel) return -1;
    const char *a = pinned_name(enc), *b = pinned_name(mel);
    return a && b && !strcmp(a, "embedding_model") && !strcmp(b, "melspectrogram");
}

static const char *made_with_text(int m)
{
    return m > 0    ? "the pinned encoder and front end (the ones scripts/fetch-models.sh fetches)"
           : m == 0 ? "ANOTHER encoder or front end than the pinned ones: earshot refuses it with those"
                    : "not recorded";
}

/* ------------------------------------------------------------ one file */

typedef struct {
    int json;
    const char *models;
} info_opts;

typedef enum { K_UNKNOWN, K_MODEL, K_PROFILE, K_OTHER_ST, K_ONNX } kind;

/* keys shown in the summary, not again in the card listing */
static int summarised(const char *key)
{
    return !strcmp(key, "earshot.format") || !strcmp(key, "encoder_sha256") || !strcmp(key, "melspectrogram_sha256") ||
           !strcmp(key, "speakers");   /* a profile's: listed with their takes */
}

/* The widest card key, for the text layout. */
static int key_width(const es_st *st)
{
    int w = 12;   /* "architecture" and the fixed fields */
    for (size_t i = 0; i < es_st_meta_count(st); i++) {
        if (summarised(es_st_meta_key(st, i))) continue;
        int k = cli_text_width(es_st_meta_key(st, i));
        if (k > w && k < 32) w = k;
    }
    return w;
}

static size_t parameters(const es_st *st)
{
    size_t n = 0;
    for (size_t i = 0; i < es_st_count(st); i++) {
        const es_st_tensor *t = es_st_at(st, i);
        size_t c = 1;
        for (int d = 0; d < t->ndim; d++) c *= (size_t)t->shape[d];
        n += c;
    }
    return n;
}

/* JSON of one safetensors file: the card (JSON values parsed), tensors */
static void json_card(cJSON *o, const es_st *st)
{
    cJSON *card = cJSON_AddObjectToObject(o, "card");
    for (size_t i = 0; card && i < es_st_meta_count(st); i++) {
        const char *k = es_st_meta_key(st, i), *v = es_st_meta(st, k);
        cJSON *j = parse_value(v);
        cJSON_AddItemToObject(card, k, j ? j : cJSON_CreateString(v));
    }
    cJSON_AddNumberToObject(o, "tensors", (double)es_st_count(st));
    cJSON_AddNumberToObject(o, "parameters", (double)parameters(st));
}

static void text_card(const es_st *st, int width)
{
    for (size_t i = 0; i < es_st_meta_count(st); i++) {
        const char *k = es_st_meta_key(st, i);
        if (summarised(k)) continue;
        put_field(k, width);
        put_card_value(es_st_meta(st, k));
    }
    put_field("tensors", width);
    printf("%zu (%zu parameters)\n", es_st_count(st), parameters(st));
}

/* a keyword model: the loader's verdict, then labels and thresholds */
static int info_model(const char *path, cJSON *o, int width)
{
    es_error e = {0};
    es_classifier *c = es_classifier_load(path, &e);
    if (o) {
        cJSON_AddBoolToObject(o, "loads", c != NULL);
        if (!c) cJSON_AddStringToObject(o, "error", e.msg);
        else {
            cJSON_AddStringToObject(o, "mode", es_classifier_wake(c) >= 0 ? "wake-word" : "multi-class");
            cJSON *labels = cJSON_AddArrayToObject(o, "labels");
            for (size_t i = 0; i < es_classifier_classes(c); i++) {
                cJSON *l = cJSON_CreateObject();
                cJSON_AddStringToObject(l, "name", es_classifier_label(c, i));
                float t = es_classifier_threshold(c, i);
                if (isnan(t)) cJSON_AddNullToObject(l, "threshold");
                else cJSON_AddNumberToObject(l, "threshold", t);
                cJSON_AddItemToArray(labels, l);
            }
            cJSON_AddNumberToObject(o, "window", (double)es_classifier_window(c));
            cJSON_AddNumberToObject(o, "window_seconds", (double)es_classifier_window(c) * 0.08);
        }
    } else {
        put_field("loads", width);
        if (c) printf("yes\n");
        else { printf("NO: "); put_text(e.msg); putchar('\n'); }
        if (c) {
            put_field("words", width);
            for (size_t i = 0, first = 1; i < es_classifier_classes(c); i++) {
                const char *l = es_classifier_label(c, i);
                if (l[0] == '_') continue;   /* _unknown_, _silence_: below */
                float t = es_classifier_threshold(c, i);
                printf("%s", first ? "" : ", ");
                first = 0;
                put_text(l);
                if (!isnan(t)) printf(" (threshold %.2f)", t);
            }
            putchar('\n');
            put_field("window", width);
            printf("%zu embeddings (%.2f s)%s\n", es_classifier_window(c), es_classifier_window(c) * 0.08,
                   es_classifier_wake(c) >= 0 ? ", wake-word mode" : "");
        }
    }
    es_classifier_free(c);
    return c ? 0 : 1;
}

static int info_profile(const char *path, const unsigned char *buf, size_t len, cJSON *o, int width)
{
    es_error e = {0};
    es_speakers *s = es_speakers_parse(buf, len, path, NULL, &e);
    if (o) {
        cJSON_AddBoolToObject(o, "loads", s != NULL);
        if (!s) cJSON_AddStringToObject(o, "error", e.msg);
        else {
            cJSON *sp = cJSON_AddArrayToObject(o, "speakers");
            for (size_t i = 0; i < es_speakers_count(s); i++) {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "name", es_speakers_name(s, i));
                cJSON_AddNumberToObject(x, "takes", (double)es_speakers_takes(s, i));
                cJSON_AddItemToArray(sp, x);
            }
            cJSON_AddNumberToObject(o, "threshold", es_speakers_threshold(s));
            cJSON_AddBoolToObject(o, "threshold_automatic", !es_speakers_threshold_is_set(s));
        }
    } else {
        put_field("loads", width);
        if (s) printf("yes\n");
        else { printf("NO: "); put_text(e.msg); putchar('\n'); }
        if (s) {
            put_field("speakers", width);
            for (size_t i = 0; i < es_speakers_count(s); i++) {
                printf("%s", i ? ", " : "");
                put_text(es_speakers_name(s, i));
                size_t k = es_speakers_takes(s, i);
                printf(" (%zu take%s)", k, k == 1 ? "" : "s");
            }
            putchar('\n');
            put_field("decides at", width);
            printf("%.2f (%s)\n", es_speakers_threshold(s),
                   es_speakers_threshold_is_set(s) ? "set with enroll --threshold" : "automatic, for these takes");
        }
    }
    int bad = s == NULL;
    es_speakers_free(s);
    return bad;
}

/* An ONNX file: which pinned model it is, and whether it runs as a
 * wake-word head (what detect and transcribe take). */
static int info_onnx(const char *path, const unsigned char *buf, size_t len, const char *sha, cJSON *o, int width)
{
    es_error e = {0};
    es_onnx *m = es_onnx_parse(buf, len, path, &e);
    const char *pin = pinned_name(sha);
    es_head *hd = m ? es_head_create(m, path, NULL) : NULL;
    const es_graph *g = m ? es_onnx_graph(m) : NULL;
    const char *role = !pin ? NULL
                       : !strcmp(pin, "embedding_model") ? "the pretrained encoder (Google's speech_embedding)"
                       : !strcmp(pin, "melspectrogram")  ? "the pretrained log-mel front end"
                       : !strcmp(pin, "silero_vad")      ? "Silero's voice activity detector"
                                                         : "a pretrained openWakeWord head";
    if (o) {
        cJSON_AddStringToObject(o, "kind", "onnx");
        cJSON_AddBoolToObject(o, "loads", m != NULL);
        if (!m) cJSON_AddStringToObject(o, "error", e.msg);
        if (pin) cJSON_AddStringToObject(o, "pinned", pin);
        else cJSON_AddNullToObject(o, "pinned");
        if (m) {
            cJSON_AddNumberToObject(o, "opset", (double)es_onnx_opset(m));
            cJSON_AddNumberToObject(o, "nodes", (double)g->nnodes);
        }
        cJSON_AddBoolToObject(o, "wake_word_head", hd != NULL);
        if (hd) {
            cJSON_AddNumberToObject(o, "window", (double)es_head_window(hd));
            cJSON_AddNumberToObject(o, "outputs", (double)es_head_classes(hd));
        }
    } else {
        printf(": ");
        put_text(role ? role : "an ONNX model");
        printf(", %zu bytes\n", len);
        put_field("loads", width);
        if (m) printf("yes (opset %lld, %zu nodes)\n", (long long)es_onnx_opset(m), g->nnodes);
        else { printf("NO: "); put_text(e.msg); putchar('\n'); }
        put_field("sha256", width);
        printf("%s%s%s\n", sha, pin ? ": the pinned " : "", pin ? pin : "");
        if (pin && !hd) goto done;   /* the encoder, front end, VAD: no head to speak of */
        put_field("head", width);
        if (hd) printf("a wake-word head over %zu embeddings (%.2f s), %zu output%s: earshot detect/transcribe -m run it\n",
                       es_head_window(hd), es_head_window(hd) * 0.08, es_head_classes(hd), es_head_classes(hd) == 1 ? "" : "s");
        else printf("not a wake-word head earshot runs\n");
    }
done:
    es_head_free(hd);
    es_onnx_free(m);
    return m ? 0 : 1;
}

/* A file that could not be described: the reason on stderr, and with
 * --json a line for it too, so that a script reading the lines sees
 * every file it named. */
static int info_fail(const info_opts *op, const char *arg, const es_error *e)
{
    cli_error(e);
    if (op->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", arg);
        cJSON_AddBoolToObject(o, "loads", 0);
        cJSON_AddStringToObject(o, "error", e->msg);
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
    }
    return 1;
}

static int info_file(const info_opts *op, const char *arg)
{
    es_error e = {0};
    char path[4200];
    /* a file that exists, a path or a .safetensors name is used as it is;
     * anything else goes through the model names detect knows (alexa,
     * hey_jarvis), which say what exists when the name is wrong */
    size_t al = strlen(arg);
    int st_name = al > 12 && !strcasecmp(arg + al - 12, ".safetensors");
    struct stat sb;
    if (st_name || strchr(arg, '/') || stat(arg, &sb) == 0) snprintf(path, sizeof path, "%s", arg);
    else if (es_models_path(op->models, arg, path, sizeof path, &e)) return info_fail(op, arg, &e);
    unsigned char *buf = NULL;
    size_t len = 0;
    if (es_read_file(path, &buf, &len, &e)) return info_fail(op, arg, &e);
    unsigned char h[32];
    char sha[65];
    es_sha256(buf, len, h);
    es_sha256_hex(h, sha);
    /* read as safetensors unless named .onnx; what is not safetensors is
     * described as ONNX only if it parses as ONNX */
    es_st *st = NULL;
    kind k = K_UNKNOWN;
    size_t pl = strlen(path);
    int onnx_name = pl > 5 && !strcasecmp(path + pl - 5, ".onnx");
    if (!onnx_name) {
        st = es_st_parse(buf, len, path, &e);
        if (st) {
            const char *fmt = es_st_meta(st, "earshot.format");
            k = !fmt                                    ? K_OTHER_ST
                : !strncmp(fmt, "earshot-head-", 13)    ? K_MODEL
                : !strcmp(fmt, ES_SPK_FORMAT)           ? K_PROFILE
                                                        : K_OTHER_ST;
        } else if (st_name) {
            free(buf);
            return info_fail(op, arg, &e);
        }
    }
    if (k == K_UNKNOWN) {
        /* named neither .safetensors nor .onnx: only call it an ONNX model
         * if it parses as one */
        es_error eo = {0};
        es_onnx *m = onnx_name ? NULL : es_onnx_parse(buf, len, path, &eo);
        if (!onnx_name && !m) {
            free(buf);
            es_fail(&e, ES_ERR_FORMAT, "%s: neither an earshot model or speaker profile (safetensors) nor an ONNX model",
                    path);
            return info_fail(op, arg, &e);
        }
        es_onnx_free(m);
        k = K_ONNX;
    }
    cJSON *o = op->json ? cJSON_CreateObject() : NULL;
    if (o) {
        cJSON_AddStringToObject(o, "file", arg);
        cJSON_AddNumberToObject(o, "bytes", (double)len);
        cJSON_AddStringToObject(o, "sha256", sha);
    }
    int bad = 0, width = st ? key_width(st) : 12;
    if (k == K_ONNX) {
        if (!o) put_text(arg);
        bad = info_onnx(path, buf, len, sha, o, width);
    } else {
        const char *what = k == K_MODEL ? "an earshot keyword model" : k == K_PROFILE ? "an earshot speaker profile"
                                                                                     : "a safetensors file, not earshot's";
        if (o) {
            cJSON_AddStringToObject(o, "kind", k == K_MODEL ? "model" : k == K_PROFILE ? "speaker profile" : "safetensors");
            int m = made_with_pinned(st);
            if (m < 0) cJSON_AddNullToObject(o, "made_with_pinned");
            else cJSON_AddBoolToObject(o, "made_with_pinned", m);
        } else {
            put_text(arg);
            printf(": %s, %zu bytes\n", what, len);
        }
        if (k == K_MODEL) bad = info_model(path, o, width);
        else if (k == K_PROFILE) bad = info_profile(path, buf, len, o, width);
        if (o) json_card(o, st);
        else {
            if (k != K_OTHER_ST) {
                put_field("made with", width);
                printf("%s\n", made_with_text(made_with_pinned(st)));
            }
            put_field("sha256", width);
            printf("%s\n", sha);
            text_card(st, width);
        }
    }
    if (o) {
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        else { fprintf(stderr, "earshot: out of memory\n"); bad = 1; }
        free(s);
        cJSON_Delete(o);
    }
    es_st_free(st);
    free(buf);
    return bad;
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {"models", required_argument, 0, 'M'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    info_opts op = {0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (opt) {
        case 'j': op.json = 1; break;
        case 'M': op.models = optarg; break;
        case 'h':
            printf("usage: earshot info [--json] FILE...\n\n"
                   "Says what each file is and what it holds: for a model from earshot\n"
                   "train or adapt, its words and thresholds, window, the data it was\n"
                   "trained on, its validation figures and the rest of its card; for a\n"
                   "speaker profile from earshot enroll, the speakers and their takes and\n"
                   "the decision threshold; for an ONNX file (a path, or a pretrained name\n"
                   "such as alexa), which pinned model it is and whether earshot runs it\n"
                   "as a wake-word head. Each file is loaded as detect, transcribe, eval or\n"
                   "identify would load it (\"loads: yes\", or the reason it does not), and\n"
                   "its encoder is checked against the pinned one.\n\n"
                   "  -j, --json       one JSON object per file (JSON Lines), the card's\n"
                   "                   JSON values parsed\n"
                   "  --models DIR     where the pretrained models are (for names such as\n"
                   "                   alexa; default: $EARSHOT_MODELS, else\n"
                   "                   $XDG_CACHE_HOME/earshot/models)\n\n"
                   "Exit status 1 if any file cannot be read or does not load.\n");
            return EXIT_OK;
        default: return cli_bad_option("info", argv, opts);
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: earshot info [--json] FILE...   (earshot info --help)\n");
        return EXIT_USAGE;
    }
    int bad = 0;
    for (int i = optind; i < argc; i++) {
        if (!op.json && i > optind) putchar('\n');
        bad |= info_file(&op, argv[i]);
    }
    cli_flush_stdout();
    return bad ? EXIT_FAIL : EXIT_OK;
}
