/* Synthetic training data: the synthesis parameters do what they say (rate
 * changes duration, pitch changes f0, voices differ, phoneme input speaks),
 * the --words parser, the negative generator (confusables differ from the
 * target by exactly one phoneme; no common word is a homophone of a
 * target), the room impulse response (RT60 by Schroeder integration, DRR),
 * FFT convolution against direct convolution, the telephone band, and the
 * dataset writer (layout, determinism, refusing to overwrite). */
#include "test_util.h"
#include "es_internal.h"
#include "../audio/room.h"
#include "../audio/synth.h"
#include "../pipeline/synth_data.h"

#include <dirent.h>
#include <locale.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static float *say(es_tts_engine eng, const char *voice, int rate, int pitch, const char *text, size_t *n)
{
    es_tts_params p;
    es_tts_params_default(&p);
    p.engine = eng;
    p.voice = voice;
    p.rate = rate;
    p.pitch = pitch;
    float *x = NULL;
    es_error e = {0};
    es_status st = es_tts_say(&p, text, &x, n, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(st, ES_OK);
    assert_non_null(x);
    assert_true(*n > 1600);
    return x;
}

/* Seconds between the first and last sample above 5% of the peak. */
static double voiced_span(const float *x, size_t n)
{
    float pk = 0;
    for (size_t i = 0; i < n; i++) pk = fabsf(x[i]) > pk ? fabsf(x[i]) : pk;
    size_t a = 0, b = n;
    while (a < n && fabsf(x[a]) < 0.05f * pk) a++;
    while (b > a && fabsf(x[b - 1]) < 0.05f * pk) b--;
    return (double)(b - a) / ES_SAMPLE_RATE;
}

/* Median f0 over loud frames by normalised autocorrelation (60..500 Hz). */
static double f0_of(const float *x, size_t n)
{
    const size_t W = 640, H = 160;   /* 40 ms frames every 10 ms */
    double f0s[2000];
    size_t nf = 0;
    double emax = 0;
    for (size_t s = 0; s + W <= n; s += H) {
        double e = 0;
        for (size_t i = 0; i < W; i++) e += (double)x[s + i] * x[s + i];
        emax = e > emax ? e : emax;
    }
    for (size_t s = 0; s + W + 300 <= n && nf < 2000; s += H) {
        double e = 0;
        for (size_t i = 0; i < W; i++) e += (double)x[s + i] * x[s + i];
        if (e < 0.3 * emax) continue;
        double best = 0;
        int lag = 0;
        for (int L = ES_SAMPLE_RATE / 500; L <= ES_SAMPLE_RATE / 60; L++) {
            double c = 0, e2 = 0;
            for (size_t i = 0; i < W; i++) { c += (double)x[s + i] * x[s + i + L]; e2 += (double)x[s + i + L] * x[s + i + L]; }
            c /= sqrt(e * e2) + 1e-9;
            if (c > best) { best = c; lag = L; }
        }
        if (best > 0.5) f0s[nf++] = (double)ES_SAMPLE_RATE / lag;
    }
    assert_true(nf >= 3);
    for (size_t i = 1; i < nf; i++)   /* insertion sort, then the median */
        for (size_t j = i; j > 0 && f0s[j - 1] > f0s[j]; j--) { double t = f0s[j]; f0s[j] = f0s[j - 1]; f0s[j - 1] = t; }
    return f0s[nf / 2];
}

/* ------------------------------------------------------------ synthesis */

static void test_rate(void **state)
{
    (void)state;
    size_t n1, n2, n3, n4;
    float *slow = say(ES_TTS_ESPEAK, "en-us", 110, 50, "lights on please", &n1);
    float *fast = say(ES_TTS_ESPEAK, "en-us", 300, 50, "lights on please", &n2);
    double ds = voiced_span(slow, n1), df = voiced_span(fast, n2);
    printf("espeak: rate 110 -> %.3f s, rate 300 -> %.3f s\n", ds, df);
    assert_true(ds > 1.6 * df);
    float *fs = say(ES_TTS_FLITE, "kal16", 120, 50, "lights on please", &n3);
    float *ff = say(ES_TTS_FLITE, "kal16", 240, 50, "lights on please", &n4);
    printf("flite kal16: rate 120 -> %.3f s, rate 240 -> %.3f s\n", voiced_span(fs, n3), voiced_span(ff, n4));
    assert_true(voiced_span(fs, n3) > 1.5 * voiced_span(ff, n4));
    free(slow); free(fast); free(fs); free(ff);
}

/* the floats a child wrote (es_read_file: the whole file) */
static float *read_floats(const char *path, size_t *n)
{
    unsigned char *b = NULL;
    size_t len = 0;
    assert_int_equal(es_read_file(path, &b, &len, NULL), ES_OK);
    *n = len / sizeof(float);
    return (float *)b;
}

/* The engines draw noise from the C library's rand(), which other
 * libraries move (libpulse seeds it on a machine's first run): a take must
 * not depend on that state. espeak-ng also keeps some state from one
 * utterance to the next, so each run is a child process forked from the
 * same point: it leaves rand() in its own state, says the words and hands
 * the samples back through a file; every child must give the same. */
static void say_in_child(es_tts_engine eng, const char *voice, unsigned seed, int draws, const char *path)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        srand(seed);
        for (int i = 0; i < draws; i++) (void)rand();
        size_t n = 0;
        float *x = say(eng, voice, 170, 55, "six seven", &n);
        FILE *f = fopen(path, "wb");
        int ok = f && fwrite(x, sizeof *x, n, f) == n;
        if (f && fclose(f)) ok = 0;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* First in the list, so that espeak-ng is first initialised here: it set
 * the process's LC_CTYPE to C.UTF-8 for good, under a program that had
 * chosen another (here the C locale every program starts in). */
static void test_locale_kept(void **state)
{
    (void)state;
    assert_non_null(setlocale(LC_CTYPE, "C"));
    size_t m;
    free(say(ES_TTS_ESPEAK, "en-us", 150, 60, "lights on", &m));
    assert_true(m > 1000);
    assert_string_equal(setlocale(LC_CTYPE, NULL), "C");
    free(say(ES_TTS_FLITE, "slt", 150, 60, "lights on", &m));
    assert_string_equal(setlocale(LC_CTYPE, NULL), "C");
}

static void test_independent_of_rand(void **state)
{
    (void)state;
    const struct { es_tts_engine eng; const char *voice; } v[] = {
        {ES_TTS_FLITE, "slt"}, {ES_TTS_FLITE, "awb"}, {ES_TTS_FLITE, "kal16"}, {ES_TTS_ESPEAK, "en-us+f3"},
        {ES_TTS_ESPEAK, "en-gb-x-rp+victor"}};
    char dir[] = "/tmp/es_rand_XXXXXX", a[64], b[64];
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        size_t m;
        free(say(v[k].eng, v[k].voice, 150, 60, "lights on", &m));   /* the engine loaded and warm */
        say_in_child(v[k].eng, v[k].voice, 1, 0, a);
        say_in_child(v[k].eng, v[k].voice, 12345, 17, b);
        size_t na = 0, nb = 0;
        float *xa = read_floats(a, &na), *xb = read_floats(b, &nb);
        assert_true(na > 1000);
        assert_int_equal(na, nb);
        size_t diff = 0;
        for (size_t i = 0; i < na; i++) diff += xa[i] != xb[i];
        printf("%s %s: %zu of %zu samples differ with rand() in another state\n",
               v[k].eng == ES_TTS_FLITE ? "flite" : "espeak-ng", v[k].voice, diff, na);
        assert_int_equal(diff, 0);
        free(xa);
        free(xb);
    }
    unlink(a);
    unlink(b);
    rmdir(dir);
}

static void test_pitch_and_voices(void **state)
{
    (void)state;
    size_t n1, n2, n3, n4, n5, n6, n7, n8;
    float *lo = say(ES_TTS_ESPEAK, "en-us", 175, 10, "nine one nine", &n1);
    float *hi = say(ES_TTS_ESPEAK, "en-us", 175, 90, "nine one nine", &n2);
    double flo = f0_of(lo, n1), fhi = f0_of(hi, n2);
    printf("espeak f0: pitch 10 -> %.1f Hz, pitch 90 -> %.1f Hz\n", flo, fhi);
    assert_true(fhi > 1.3 * flo);
    float *m = say(ES_TTS_ESPEAK, "en-us+m1", 175, 50, "nine one nine", &n3);
    float *f = say(ES_TTS_ESPEAK, "en-us+f3", 175, 50, "nine one nine", &n4);
    double fm = f0_of(m, n3), ff = f0_of(f, n4);
    printf("espeak f0: en-us+m1 %.1f Hz, en-us+f3 %.1f Hz\n", fm, ff);
    assert_true(ff > 1.4 * fm);
    float *kal = say(ES_TTS_FLITE, "kal16", 175, 50, "nine one nine", &n5);
    float *slt = say(ES_TTS_FLITE, "slt", 175, 50, "nine one nine", &n6);
    double fk = f0_of(kal, n5), fsl = f0_of(slt, n6);
    printf("flite f0: kal16 %.1f Hz, slt %.1f Hz\n", fk, fsl);
    assert_true(fsl > 1.3 * fk);   /* a female and a male voice */
    float *slo = say(ES_TTS_FLITE, "slt", 175, 20, "nine one nine", &n7);
    float *shi = say(ES_TTS_FLITE, "slt", 175, 80, "nine one nine", &n8);
    double f1 = f0_of(slo, n7), f2 = f0_of(shi, n8);
    printf("flite slt f0: pitch 20 -> %.1f Hz, pitch 80 -> %.1f Hz\n", f1, f2);
    assert_true(f2 > 1.2 * f1);
    free(lo); free(hi); free(m); free(f); free(kal); free(slt); free(slo); free(shi);
}

/* Power-weighted RMS frequency (Hz) of the loud part of x: from the
 * energy of the first difference, E[(x[i]-x[i-1])^2] / E[x^2] =
 * mean of 2 - 2 cos(w) over the spectrum, so it moves with the formants
 * (f0 carries little of the power above a few hundred Hz). */
static double rms_freq(const float *x, size_t n)
{
    float pk = 0;
    for (size_t i = 0; i < n; i++) pk = fabsf(x[i]) > pk ? fabsf(x[i]) : pk;
    double e = 0, d = 0;
    for (size_t i = 1; i < n; i++) {
        if (fabsf(x[i]) < 0.02f * pk && fabsf(x[i - 1]) < 0.02f * pk) continue;
        e += (double)x[i] * x[i];
        d += ((double)x[i] - x[i - 1]) * ((double)x[i] - x[i - 1]);
    }
    double c = 1 - d / e / 2;
    return acos(c < -1 ? -1 : c > 1 ? 1 : c) * ES_SAMPLE_RATE / (2 * M_PI);
}

static float *say_formant(es_tts_engine eng, const char *voice, double formant, const char *text, size_t *n)
{
    es_tts_params p;
    es_tts_params_default(&p);
    p.engine = eng;
    p.voice = voice;
    p.formant = formant;
    float *x = NULL;
    es_error e = {0};
    es_status st = es_tts_say(&p, text, &x, n, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(st, ES_OK);
    assert_true(*n > 1600);
    return x;
}

/* The formant factor moves the spectrum by about the factor while the
 * duration and f0 stay about the same (rate and pitch compensate); out of
 * range is refused. */
static void test_formant(void **state)
{
    (void)state;
    struct { es_tts_engine eng; const char *voice; } v[] = {{ES_TTS_ESPEAK, "en-us"}, {ES_TTS_FLITE, "kal16"}, {ES_TTS_FLITE, "slt"}};
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        size_t n0, nl, nh;
        float *x0 = say_formant(v[k].eng, v[k].voice, 1.0, "nine one nine", &n0);
        float *xl = say_formant(v[k].eng, v[k].voice, 0.8, "nine one nine", &nl);
        float *xh = say_formant(v[k].eng, v[k].voice, 1.25, "nine one nine", &nh);
        double c0 = rms_freq(x0, n0), cl = rms_freq(xl, nl), ch = rms_freq(xh, nh);
        double d0 = voiced_span(x0, n0), dl = voiced_span(xl, nl), dh = voiced_span(xh, nh);
        double f0 = f0_of(x0, n0), fl = f0_of(xl, nl), fh = f0_of(xh, nh);
        printf("%s %s formant 0.8 / 1 / 1.25: RMS frequency %.0f / %.0f / %.0f Hz, span %.3f / %.3f / %.3f s, f0 %.1f / %.1f / %.1f Hz\n",
               v[k].eng == ES_TTS_FLITE ? "flite" : "espeak", v[k].voice, cl, c0, ch, dl, d0, dh, fl, f0, fh);
        assert_true(ch > 1.12 * c0);
        assert_true(cl < 0.9 * c0);
        assert_true(dl > 0.85 * d0 && dl < 1.2 * d0);
        assert_true(dh > 0.85 * d0 && dh < 1.2 * d0);
        assert_true(fl > 0.88 * f0 && fl < 1.14 * f0);
        assert_true(fh > 0.88 * f0 && fh < 1.14 * f0);
        free(x0); free(xl); free(xh);
    }
    es_tts_params p;
    es_tts_params_default(&p);
    assert_true(p.formant == 1.0);
    float *x = NULL;
    size_t n = 0;
    es_error e = {0};
    p.formant = 0.6;
    assert_int_equal(es_tts_say(&p, "one", &x, &n, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "formant"));
    p.formant = NAN;
    assert_int_equal(es_tts_say(&p, "one", &x, &n, &e), ES_ERR_ARG);
    assert_null(x);
    p.formant = 0;   /* zero-initialised: the voice's own formants */
    assert_int_equal(es_tts_say(&p, "one", &x, &n, &e), ES_OK);
    assert_non_null(x);
    free(x);
}

static void test_phonemes(void **state)
{
    (void)state;
    char ph[256];
    assert_int_equal(es_tts_phonemes("en-us", "seven", ph, sizeof ph, NULL), ES_OK);
    assert_string_equal(ph, "s 'E v @ n");
    assert_int_equal(es_tts_phonemes("en-us", "lights on", ph, sizeof ph, NULL), ES_OK);
    assert_non_null(strstr(ph, "  "));   /* words are two spaces apart */
    /* [[...]] is spoken as phonemes: same length as the word, not as the letters */
    size_t n1, n2;
    float *a = say(ES_TTS_ESPEAK, "en-us", 175, 50, "seven", &n1);
    float *b = say(ES_TTS_ESPEAK, "en-us", 175, 50, "[[s'Ev@n]]", &n2);
    double da = voiced_span(a, n1), db = voiced_span(b, n2);
    printf("'seven' %.3f s, [[s'Ev@n]] %.3f s\n", da, db);
    assert_true(fabs(da - db) < 0.15 * da);
    free(a); free(b);
    /* errors */
    es_tts_params p;
    es_tts_params_default(&p);
    float *x = NULL;
    size_t n = 0;
    es_error e = {0};
    p.voice = "no-such-voice";
    assert_int_equal(es_tts_say(&p, "hello", &x, &n, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "no-such-voice"));
    p.engine = ES_TTS_FLITE;
    p.voice = "kal";
    assert_int_equal(es_tts_say(&p, "[[s'Ev@n]]", &x, &n, &e), ES_ERR_ARG);
    p.rate = 20;
    assert_int_equal(es_tts_say(&p, "hello", &x, &n, &e), ES_ERR_ARG);
    assert_null(x);
}

/* A language's voices: its own dialects, sorted; a code that is only a
 * secondary language falls back to the voices listing it; none refused. */
static void test_lang_voices(void **state)
{
    (void)state;
    char v[16][ES_TTS_VOICE_NAME];
    size_t n = 0;
    es_error e = {0};
    assert_int_equal(es_espeak_lang_voices("fr", v, 16, &n, &e), ES_OK);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "fr");
    assert_string_equal(v[1], "fr-BE");
    assert_string_equal(v[2], "fr-CH");
    assert_int_equal(es_espeak_lang_voices("EN", v, 16, &n, &e), ES_OK);   /* case-insensitive */
    assert_int_equal(n, es_espeak_n_accents);
    assert_int_equal(es_espeak_lang_voices("pt-br", v, 16, &n, &e), ES_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "pt-BR");
    assert_int_equal(es_espeak_lang_voices("zh", v, 16, &n, &e), ES_OK);   /* listed, never first */
    assert_true(n >= 2);
    for (size_t i = 0; i < n; i++) assert_true(!strncmp(v[i], "cmn", 3) || !strncmp(v[i], "yue", 3));
    assert_int_equal(es_espeak_lang_voices("f", v, 16, &n, &e), ES_ERR_ARG);   /* a prefix is not a language */
    assert_non_null(strstr(e.msg, "'f'"));
    assert_int_equal(n, 0);
    assert_int_equal(es_espeak_lang_voices("de", v, 1, &n, &e), ES_OK);   /* max is respected */
    assert_int_equal(n, 1);
    /* German phonemes are not English ones */
    char de[128], en[128];
    assert_int_equal(es_tts_phonemes("de", "wasser", de, sizeof de, NULL), ES_OK);
    assert_int_equal(es_tts_phonemes("en-us", "wasser", en, sizeof en, NULL), ES_OK);
    assert_string_not_equal(de, en);
}

/* ------------------------------------------------------------ vocabulary */

static void test_vocab(void **state)
{
    (void)state;
    es_vocab v;
    es_error e = {0};
    assert_int_equal(es_vocab_parse(" lights   on , 0 = zero|oh ,kaffee=[[k'af@]]|coffee, x=[[a,b]]", &v, &e), ES_OK);
    assert_int_equal(v.n, 4);
    assert_string_equal(v.e[0].label, "lights on");
    assert_string_equal(v.e[0].alts[0], "lights on");
    assert_string_equal(v.e[1].label, "0");
    assert_int_equal(v.e[1].nalts, 2);
    assert_string_equal(v.e[1].alts[1], "oh");
    assert_string_equal(v.e[2].alts[0], "[[k'af@]]");
    assert_true(es_spelling_is_phonemes(v.e[2].alts[0]));
    assert_false(es_spelling_is_phonemes(v.e[2].alts[1]));
    assert_string_equal(v.e[3].alts[0], "[[a,b]]");   /* a comma inside [[ ]] is a phoneme mark */
    es_vocab_free(&v);
    const char *bad[] = {"", "a,,b", "a,a", "_unknown_", "x/y=z", "[[abc]]", "a=[[abc", "a=b|", ".x=y", "a=b]]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(es_vocab_parse(bad[i], &v, &e), ES_ERR_ARG);
        assert_non_null(strstr(e.msg, "--words"));
        assert_null(v.e);
    }
}

/* ------------------------------------------------------------ negatives */

static int tokens(const char *ph, char t[][16])
{
    int n = 0;
    const char *p = ph;
    while (*p) {
        while (*p == ' ') p++;
        size_t k = 0;
        while (p[k] && p[k] != ' ') k++;
        if (!k) break;
        /* stress marks are not phonemes */
        const char *s = p;
        size_t kk = k;
        while (kk && (*s == '\'' || *s == ',')) { s++; kk--; }
        snprintf(t[n++], 16, "%.*s", (int)kk, s);
        p += k;
    }
    return n;
}

static void test_confusable(void **state)
{
    (void)state;
    const char *words[] = {"seven", "lights on", "pause", "two"};
    es_rng rng;
    es_rng_seed(&rng, 3);
    int ops[3] = {0};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        char ph[256], key[256];
        assert_int_equal(es_tts_phonemes("en-us", words[w], ph, sizeof ph, NULL), ES_OK);
        es_phoneme_key(ph, key, sizeof key);
        char tgt[64][16];
        int nt = tokens(ph, tgt);
        for (int k = 0; k < 40; k++) {
            char c[256], ck[256];
            assert_int_equal(es_confusable(ph, &rng, c, sizeof c, NULL), ES_OK);
            assert_int_equal(strncmp(c, "[[", 2), 0);
            es_phoneme_key(c, ck, sizeof ck);
            assert_string_not_equal(ck, key);
            /* re-read what espeak makes of it: phonemes are shared except one */
            size_t n;
            es_tts_params p;
            es_tts_params_default(&p);
            float *x = NULL;
            if (k < 3) {   /* it speaks (a few per word keeps the test fast) */
                assert_int_equal(es_tts_say(&p, c, &x, &n, NULL), ES_OK);
                free(x);
            }
            /* the key differs, and its length by at most the longest phoneme (2 chars) */
            int la = nt, lb = (int)strlen(ck);
            assert_true(abs(lb - (int)strlen(key)) <= 3);
            /* and at least all but one of the target's phonemes appear in it in order */
            int matched = 0;
            const char *q = ck;
            for (int i = 0; i < la; i++) {
                const char *f = strstr(q, tgt[i]);
                if (f) { matched++; q = f + strlen(tgt[i]); }
            }
            if (matched < la - 1) printf("%s -> %s (%d of %d shared)\n", ph, c, matched, la);
            assert_true(matched >= la - 1);
            ops[lb < (int)strlen(key) ? 0 : lb > (int)strlen(key) ? 1 : 2]++;
        }
    }
    /* all three operations happen */
    printf("shorter %d, longer %d, same length %d\n", ops[0], ops[1], ops[2]);
    assert_true(ops[0] > 0 && ops[1] > 0 && ops[2] > 0);
    es_error e = {0};
    char c[64];
    assert_int_equal(es_confusable("###", &rng, c, sizeof c, &e), ES_ERR_ARG);
}

/* ------------------------------------------------------------ rooms */

static void test_rir(void **state)
{
    (void)state;
    es_rng rng;
    es_rng_seed(&rng, 11);
    const double rts[] = {0.2, 0.4, 0.8, 1.5};
    for (size_t i = 0; i < 4; i++) {
        float *h;
        size_t n;
        assert_int_equal(es_rir_generate(rts[i], -10, 0.005, &rng, &h, &n, NULL), ES_OK);
        double rt = es_rir_rt60(h, n, ES_SAMPLE_RATE);
        printf("RT60 requested %.2f s, measured (Schroeder, T20) %.3f s\n", rts[i], rt);
        assert_true(fabs(rt - rts[i]) < 0.05 * rts[i]);
        free(h);
    }
    /* the direct-to-reverberant ratio */
    const double drrs[] = {-5, 0, 10};
    for (size_t i = 0; i < 3; i++) {
        float *h;
        size_t n;
        assert_int_equal(es_rir_generate(0.5, drrs[i], 0.002, &rng, &h, &n, NULL), ES_OK);
        size_t d = 32;   /* 2 ms */
        assert_true(h[d] == 1.0f);
        double er = 0;
        for (size_t k = d + 1; k < n; k++) er += (double)h[k] * h[k];
        double got = 10 * log10(1.0 / er);
        printf("DRR requested %.1f dB, measured %.3f dB\n", drrs[i], got);
        assert_true(fabs(got - drrs[i]) < 0.01);
        free(h);
    }
    es_error e = {0};
    float *h;
    size_t n;
    assert_int_equal(es_rir_generate(0.01, 0, 0, &rng, &h, &n, &e), ES_ERR_ARG);
    assert_int_equal(es_rir_generate(0.5, NAN, 0, &rng, &h, &n, &e), ES_ERR_ARG);
}

static void test_convolve(void **state)
{
    (void)state;
    uint32_t s = 5;
    const size_t sizes[][2] = {{1, 1}, {37, 11}, {11, 37}, {100, 1}, {257, 64}, {1000, 333}};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        size_t n = sizes[c][0], m = sizes[c][1];
        float *x = malloc(n * sizeof *x), *h = malloc(m * sizeof *h), *y = malloc((n + m - 1) * sizeof *y);
        for (size_t i = 0; i < n; i++) x[i] = test_rand(&s);
        for (size_t i = 0; i < m; i++) h[i] = test_rand(&s);
        assert_int_equal(es_convolve(x, n, h, m, y, NULL), ES_OK);
        double maxerr = 0;
        for (size_t k = 0; k < n + m - 1; k++) {
            double d = 0;
            for (size_t i = 0; i < n; i++) if (k >= i && k - i < m) d += (double)x[i] * h[k - i];
            maxerr = fmax(maxerr, fabs(d - y[k]));
        }
        printf("convolution %zu x %zu: max |fft - direct| = %.2e\n", n, m, maxerr);
        assert_true(maxerr < 1e-4 * sqrt((double)(n < m ? n : m)));
        free(x); free(h); free(y);
    }
}

static double rms_mid(const float *x, size_t n)
{
    double e = 0;
    size_t a = n / 4, b = 3 * n / 4;
    for (size_t i = a; i < b; i++) e += (double)x[i] * x[i];
    return sqrt(e / (double)(b - a));
}

static void test_bandlimit(void **state)
{
    (void)state;
    size_t n = 16000;
    float *x = malloc(n * sizeof *x);
    /* pass band within 1 dB; 100 Hz at least 25 dB down (4th-order high-pass
     * at 300 Hz: ~38 dB in theory); 6 kHz at least 50 dB down (8 kHz rate) */
    const struct { double hz, lo, hi; } c[] = {{100, -200, -25}, {1000, -1, 1}, {2000, -1, 1}, {6000, -200, -50}};
    for (size_t k = 0; k < 4; k++) {
        for (size_t i = 0; i < n; i++) x[i] = (float)(10000 * sin(2 * M_PI * c[k].hz * (double)i / ES_SAMPLE_RATE));
        float *y = NULL;
        assert_int_equal(es_bandlimit(x, n, 1, &y, NULL), ES_OK);
        double db = 20 * log10(rms_mid(y, n) / rms_mid(x, n));
        printf("telephone band: %5.0f Hz -> %7.2f dB\n", c[k].hz, db);
        assert_true(db >= c[k].lo && db <= c[k].hi);
        free(y);
        /* the plain 8 kHz channel keeps 100 Hz, still removes 6 kHz */
        assert_int_equal(es_bandlimit(x, n, 0, &y, NULL), ES_OK);
        db = 20 * log10(rms_mid(y, n) / rms_mid(x, n));
        printf("8 kHz channel:  %5.0f Hz -> %7.2f dB\n", c[k].hz, db);
        if (c[k].hz < 5000) assert_true(fabs(db) < 1);
        else assert_true(db < -50);
        free(y);
    }
    free(x);
}

/* ------------------------------------------------------------ datasets */

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* es_synth_cached's result is its answer (the folder): a NULL one is
 * refused before any work, not written through */
static void test_cached_needs_result(void **state)
{
    (void)state;
    es_synth_opts o;
    es_synth_opts_default(&o);
    o.words = "four";
    es_error e = {0};
    assert_int_equal(es_synth_cached(&o, "/proc/no_synth_cache", NULL, NULL, NULL, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "es_synth_cached"));
}

static void test_dataset(void **state)
{
    (void)state;
    char base[64];
    assert_int_equal(test_tmpdir(base, sizeof base, "test_synth"), 0);
    char a[256], b[256], p[512];
    snprintf(a, sizeof a, "%s/a", base);
    snprintf(b, sizeof b, "%s/b", base);
    es_synth_opts o;
    es_synth_opts_default(&o);
    o.words = "four,three=three|[[Tr'i:]]";
    o.takes = 4;
    o.unknown_takes = 30;
    o.seed = 9;
    es_synth_result r;
    es_error e = {0};
    assert_int_equal(es_synth_dataset(&o, a, &r, NULL, NULL, &e), ES_OK);
    assert_int_equal(r.n_files, 38);
    snprintf(p, sizeof p, "%s/four", a);
    assert_int_equal(count_files(p), 4);
    snprintf(p, sizeof p, "%s/three", a);
    assert_int_equal(count_files(p), 4);
    snprintf(p, sizeof p, "%s/_unknown_", a);
    assert_int_equal(count_files(p), 30);
    assert_non_null(strstr(r.description, "\"takes_per_label\":4"));
    /* no common word that is a target or sounds like one ("four", "for"
     * would be a homophone only if espeak says them alike) */
    DIR *d = opendir(p);
    struct dirent *de;
    while ((de = readdir(d))) {
        assert_null(strstr(de->d_name, "_four_"));
        assert_null(strstr(de->d_name, "_three_"));
    }
    closedir(d);
    /* same seed, same plan: the same files (names record every parameter)
     * of about the same length. Bytes may differ in one process, as
     * espeak-ng's output depends slightly on what it said before; across
     * fresh processes they are identical (tests/test_synth.sh). */
    assert_int_equal(es_synth_dataset(&o, b, &r, NULL, NULL, &e), ES_OK);
    d = opendir(p);
    int compared = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char pa[1024], pb[1024];
        snprintf(pa, sizeof pa, "%s/_unknown_/%s", a, de->d_name);
        snprintf(pb, sizeof pb, "%s/_unknown_/%s", b, de->d_name);
        struct stat sa, sb;
        assert_int_equal(stat(pa, &sa), 0);
        assert_int_equal(stat(pb, &sb), 0);
        if (fabs((double)sa.st_size - (double)sb.st_size) >= 0.02 * (double)sa.st_size) printf("%s: %lld vs %lld bytes\n", de->d_name, (long long)sa.st_size, (long long)sb.st_size);
        assert_true(fabs((double)sa.st_size - (double)sb.st_size) < 0.1 * (double)sa.st_size);
        compared++;
    }
    closedir(d);
    assert_int_equal(compared, 30);
    /* never into a folder that already holds the labels */
    assert_int_equal(es_synth_dataset(&o, a, &r, NULL, NULL, &e), ES_ERR_IO);
    assert_non_null(strstr(e.msg, "already exists"));
    assert_int_equal(test_rmtree(base), 0);
}

/* The dataset generator spreads the formant factor over the takes within
 * the range, records it in the file names and the description, leaves
 * the default plan alone, and refuses a bad range. */
static void test_dataset_formant(void **state)
{
    (void)state;
    char base[64];
    assert_int_equal(test_tmpdir(base, sizeof base, "test_synthf"), 0);
    char a[256], b[256], p[512];
    snprintf(a, sizeof a, "%s/a", base);
    snprintf(b, sizeof b, "%s/b", base);
    es_synth_opts o;
    es_synth_opts_default(&o);
    assert_true(o.formant_lo == 1.0 && o.formant_hi == 1.0);
    o.words = "one,two";
    o.takes = 12;
    o.unknown_takes = 0;
    o.augment = 0;
    es_synth_result r;
    es_error e = {0};
    /* defaults: no factor in any name */
    assert_int_equal(es_synth_dataset(&o, b, &r, NULL, NULL, &e), ES_OK);
    assert_null(strstr(r.description, "formant"));
    snprintf(p, sizeof p, "%s/one", b);
    DIR *d = opendir(p);
    struct dirent *de;
    while ((de = readdir(d))) {
        assert_null(strstr(de->d_name, "_f0"));
        assert_null(strstr(de->d_name, "_f1"));
    }
    closedir(d);
    o.formant_lo = 0.85;
    o.formant_hi = 1.2;
    assert_int_equal(es_synth_dataset(&o, a, &r, NULL, NULL, &e), ES_OK);
    assert_non_null(strstr(r.description, "\"formant\":[0.85,1.2]"));
    int seen = 0, below = 0, above = 0;
    for (int l = 0; l < 2; l++) {
        snprintf(p, sizeof p, "%s/%s", a, l ? "two" : "one");
        d = opendir(p);
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            const char *f = strstr(de->d_name, "_f");   /* "_f097", not "_flite" */
            while (f && !(f[2] >= '0' && f[2] <= '9')) f = strstr(f + 1, "_f");
            int v = f ? atoi(f + 2) : 100;   /* a factor that rounds to 1.00 is no change */
            assert_true(v >= 85 && v <= 120);
            below += v < 100;
            above += v > 100;
            seen++;
        }
        closedir(d);
    }
    assert_int_equal(seen, 24);
    assert_true(below >= 3 && above >= 3);   /* spread both ways */
    o.formant_lo = 1.3;
    o.formant_hi = 1.1;
    snprintf(p, sizeof p, "%s/c", base);
    assert_int_equal(es_synth_dataset(&o, p, &r, NULL, NULL, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "formant"));
    o.formant_lo = 0.5;
    o.formant_hi = 1.0;
    assert_int_equal(es_synth_dataset(&o, p, &r, NULL, NULL, &e), ES_ERR_ARG);
    assert_int_equal(test_rmtree(base), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locale_kept),
        cmocka_unit_test(test_cached_needs_result),
        cmocka_unit_test(test_rate),       cmocka_unit_test(test_pitch_and_voices), cmocka_unit_test(test_phonemes),
        cmocka_unit_test(test_vocab),      cmocka_unit_test(test_confusable),       cmocka_unit_test(test_rir),
        cmocka_unit_test(test_convolve),   cmocka_unit_test(test_bandlimit),        cmocka_unit_test(test_dataset),
        cmocka_unit_test(test_formant),    cmocka_unit_test(test_dataset_formant),   cmocka_unit_test(test_independent_of_rand),
        cmocka_unit_test(test_lang_voices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
