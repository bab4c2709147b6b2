/* Augmentation (audio/augment.c): each primitive measured against what it
 * promises — the SNR of a mixture, the spectral slope of coloured noise,
 * exact gain, shifts, speed changing duration and pitch by the factor,
 * SpecAugment's mask counts and widths — and recipes: drawn within their
 * ranges, applied deterministically for a seed, refused when invalid. */
#include "test_util.h"
#include "../audio/augment.h"
#include "../pipeline/train_aug.h"

#include <kissfft/kiss_fftr.h>
#include <math.h>
#include <string.h>

static double snr_of(const float *clean, const float *mixed, size_t n, double ps)
{
    double pn = 0;
    for (size_t i = 0; i < n; i++) { double d = (double)mixed[i] - clean[i]; pn += d * d; }
    pn /= (double)n;
    return 10 * log10(ps / pn);
}

static void sine(float *x, size_t n, double hz, double amp)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(amp * sin(2 * M_PI * hz * (double)i / ES_SAMPLE_RATE));
}

/* ------------------------------------------------------------ noise at an SNR */

static void test_snr(void **state)
{
    (void)state;
    size_t n = 16000;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *noise = malloc(5000 * sizeof(float));
    es_rng rng;
    es_rng_seed(&rng, 7);
    sine(x, n, 300, 8000);
    for (size_t i = 0; i < 5000; i++) noise[i] = 1000 * es_rng_normal(&rng);   /* shorter: it loops */
    double ps = es_aug_power(x, n);
    const double snrs[] = {-5, 0, 5, 10, 20, 40};
    for (size_t k = 0; k < sizeof snrs / sizeof snrs[0]; k++) {
        memcpy(y, x, n * sizeof(float));
        assert_int_equal(es_aug_add_noise(y, n, noise, 5000, snrs[k], 0, &rng, NULL), ES_OK);
        double got = snr_of(x, y, n, ps);
        printf("requested SNR %6.2f dB, measured %8.4f dB\n", snrs[k], got);
        assert_true(fabs(got - snrs[k]) < 0.1);
    }
    /* an explicit signal power (a padded clip): the noise follows it */
    memcpy(y, x, n * sizeof(float));
    assert_int_equal(es_aug_add_noise(y, n, noise, 5000, 10, ps / 4, &rng, NULL), ES_OK);
    assert_true(fabs(snr_of(x, y, n, ps / 4) - 10) < 0.1);
    /* silence stays silence: no SNR is defined */
    memset(y, 0, n * sizeof(float));
    assert_int_equal(es_aug_add_noise(y, n, noise, 5000, 10, 0, &rng, NULL), ES_OK);
    assert_true(es_aug_power(y, n) == 0);
    /* bad arguments */
    es_error e = {0};
    assert_int_equal(es_aug_add_noise(NULL, 5, noise, 5000, 10, 0, &rng, &e), ES_ERR_ARG);
    assert_int_equal(es_aug_add_noise(y, n, noise, 5000, NAN, 0, &rng, &e), ES_ERR_ARG);
    free(x); free(y); free(noise);
}

/* ------------------------------------------------------------ coloured noise */

/* Least-squares slope of 10 log10(PSD) against log2(f) between 100 Hz and
 * 4 kHz (dB per octave), from a Welch estimate (Hann, 1024, half overlap). */
static double slope_db_per_octave(const float *x, size_t n)
{
    enum { N = 1024 };
    kiss_fftr_cfg cfg = kiss_fftr_alloc(N, 0, NULL, NULL);
    kiss_fft_cpx out[N / 2 + 1];
    float fr[N];
    double psd[N / 2 + 1] = {0};
    int frames = 0;
    for (size_t s = 0; s + N <= n; s += N / 2, frames++) {
        for (int i = 0; i < N; i++) fr[i] = x[s + (size_t)i] * (float)(0.5 - 0.5 * cos(2 * M_PI * i / N));
        kiss_fftr(cfg, fr, out);
        for (int k = 0; k <= N / 2; k++) psd[k] += (double)out[k].r * out[k].r + (double)out[k].i * out[k].i;
    }
    kiss_fftr_free(cfg);
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int m = 0;
    for (int k = 1; k <= N / 2; k++) {
        double f = (double)k * ES_SAMPLE_RATE / N;
        if (f < 100 || f > 4000) continue;
        double lx = log2(f), ly = 10 * log10(psd[k] / frames);
        sx += lx; sy += ly; sxx += lx * lx; sxy += lx * ly; m++;
    }
    return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

static void test_colored_noise(void **state)
{
    (void)state;
    size_t n = 1 << 18;
    float *x = malloc(n * sizeof(float));
    const es_noise_color colors[] = {ES_NOISE_WHITE, ES_NOISE_PINK, ES_NOISE_BROWN};
    const double want[] = {0.0, -10 * log10(2.0), -20 * log10(2.0)};
    for (int c = 0; c < 3; c++) {
        es_rng rng;
        es_rng_seed(&rng, 11 + (uint64_t)c);
        assert_int_equal(es_noise_generate(x, n, colors[c], &rng, NULL), ES_OK);
        double mean = 0;
        for (size_t i = 0; i < n; i++) mean += x[i];
        mean /= (double)n;
        double rms = sqrt(es_aug_power(x, n)), sl = slope_db_per_octave(x, n);
        printf("%-5s noise: RMS %.4f, mean %.2e, slope %+.3f dB/octave (ideal %+.3f)\n", es_noise_color_name(colors[c]),
               rms, mean, sl, want[c]);
        assert_true(fabs(rms - 1) < 1e-3);
        assert_true(fabs(mean) < 1e-3);
        assert_true(fabs(sl - want[c]) < 0.3);
    }
    /* the same seed, the same noise; an odd length works */
    float a[999], b[999];
    es_rng r1, r2;
    es_rng_seed(&r1, 5);
    es_rng_seed(&r2, 5);
    assert_int_equal(es_noise_generate(a, 999, ES_NOISE_PINK, &r1, NULL), ES_OK);
    assert_int_equal(es_noise_generate(b, 999, ES_NOISE_PINK, &r2, NULL), ES_OK);
    assert_memory_equal(a, b, sizeof a);
    es_error e = {0};
    assert_int_equal(es_noise_generate(a, 999, (es_noise_color)7, &r1, &e), ES_ERR_ARG);
    free(x);
}

/* ------------------------------------------------------------ gain, shift */

static void test_gain_shift(void **state)
{
    (void)state;
    float x[8] = {1, -2, 3, -4, 1000, -1000, 0.5f, 0}, y[8];
    memcpy(y, x, sizeof x);
    es_aug_gain(y, 8, 20.0);
    for (int i = 0; i < 8; i++) assert_true(fabsf(y[i] - 10 * x[i]) <= 1e-6f * fabsf(10 * x[i]));
    memcpy(y, x, sizeof x);
    es_aug_gain(y, 8, -6.0);
    double p = es_aug_power(y, 8) / es_aug_power(x, 8);
    assert_true(fabs(10 * log10(p) + 6.0) < 1e-5);

    float s[6] = {1, 2, 3, 4, 5, 6};
    es_aug_shift(s, 6, 2);
    const float r1[6] = {0, 0, 1, 2, 3, 4};
    assert_memory_equal(s, r1, sizeof s);
    es_aug_shift(s, 6, -3);
    const float r2[6] = {2, 3, 4, 0, 0, 0};
    assert_memory_equal(s, r2, sizeof s);
    es_aug_shift(s, 6, 6);
    const float r3[6] = {0};
    assert_memory_equal(s, r3, sizeof s);
}

/* ------------------------------------------------------------ speed */

/* Frequency of a sine from its upward zero crossings (interpolated). */
static double freq_of(const float *x, size_t n)
{
    double first = -1, last = -1;
    int count = 0;
    for (size_t i = 200; i + 200 < n; i++)   /* skip the resampler's edges */
        if (x[i] <= 0 && x[i + 1] > 0) {
            double t = (double)i + x[i] / (x[i] - x[i + 1]);
            if (first < 0) first = t;
            else count++;
            last = t;
        }
    return count * (double)ES_SAMPLE_RATE / (last - first);
}

static void test_speed(void **state)
{
    (void)state;
    size_t n = 16000;
    float *x = malloc(n * sizeof(float));
    sine(x, n, 440, 10000);
    const double factors[] = {0.9, 0.95, 1.0, 1.1, 1.25};
    for (size_t k = 0; k < sizeof factors / sizeof factors[0]; k++) {
        float *y;
        size_t ny;
        assert_int_equal(es_aug_speed(x, n, factors[k], &y, &ny, NULL), ES_OK);
        double f = freq_of(y, ny);
        printf("speed %.2f: %zu -> %zu samples (ideal %.1f), 440 Hz -> %.2f Hz (ideal %.2f)\n", factors[k], n, ny,
               n / factors[k], f, 440 * factors[k]);
        assert_true(fabs((double)ny - n / factors[k]) <= 2);
        assert_true(fabs(f - 440 * factors[k]) < 0.002 * 440 * factors[k]);
        free(y);
    }
    float *y;
    size_t ny;
    es_error e = {0};
    assert_int_equal(es_aug_speed(x, n, 3.0, &y, &ny, &e), ES_ERR_ARG);
    assert_null(y);
    assert_int_equal(es_aug_speed(x, 0, 1.1, &y, &ny, NULL), ES_OK);
    assert_int_equal(ny, 0);
    free(y);
    free(x);
}

/* ------------------------------------------------------------ SpecAugment */

/* Runs of indices i in [0, n) where masked[i]; returns the count, writes
 * the longest run. */
static int runs(const int *masked, int n, int *longest)
{
    int r = 0, len = 0;
    *longest = 0;
    for (int i = 0; i < n; i++) {
        if (masked[i]) { if (!len) r++; len++; if (len > *longest) *longest = len; }
        else len = 0;
    }
    return r;
}

static void test_specaugment(void **state)
{
    (void)state;
    enum { T = 120, B = 32 };
    float *mel = malloc(T * B * sizeof(float)), *orig = malloc(T * B * sizeof(float));
    es_rng rng;
    es_rng_seed(&rng, 3);
    for (int trial = 0; trial < 50; trial++) {
        double mean = 0;
        for (int i = 0; i < T * B; i++) { orig[i] = 1 + es_rng_uniform(&rng); mean += orig[i]; }
        mean /= T * B;
        memcpy(mel, orig, T * B * sizeof(float));
        int nf = 1 + trial % 3, wf = 1 + trial % 5, nt = trial % 4, wt = 1 + trial % 10;
        es_specaugment(mel, T, B, nf, wf, nt, wt, NULL, &rng);
        float fill = (float)mean;
        /* a bin is masked when all its frames hold the fill; a frame when all its bins do */
        int mb[B], mt[T], longest;
        for (int f = 0; f < B; f++) { mb[f] = 1; for (int t = 0; t < T; t++) mb[f] &= fabsf(mel[t * B + f] - fill) < 1e-6f; }
        for (int t = 0; t < T; t++) { mt[t] = 1; for (int f = 0; f < B; f++) mt[t] &= fabsf(mel[t * B + f] - fill) < 1e-6f; }
        int rf = runs(mb, B, &longest);
        assert_true(rf >= 1 && rf <= nf);
        int total = 0;
        for (int f = 0; f < B; f++) total += mb[f];
        assert_true(total <= nf * wf && longest <= nf * wf);
        if (nf == 1) assert_true(longest <= wf);
        int rt = runs(mt, T, &longest);
        assert_true(rt <= nt && (nt == 0 || rt >= 1));
        if (nt == 1) assert_true(longest <= wt);
        /* every other value is untouched */
        for (int t = 0; t < T; t++)
            for (int f = 0; f < B; f++)
                if (!mb[f] && !mt[t]) assert_true(mel[t * B + f] == orig[t * B + f]);
    }
    /* width-1 masks: exactly the requested count when they cannot overlap
     * (counted with a fixed fill over many draws: at most n each time) */
    for (int i = 0; i < T * B; i++) mel[i] = 5;
    float fill = -1;
    es_specaugment(mel, T, B, 3, 1, 0, 0, &fill, &rng);
    int masked = 0;
    for (int f = 0; f < B; f++) masked += mel[f] == -1;
    assert_true(masked >= 1 && masked <= 3);
    /* determinism */
    float *a = malloc(T * B * sizeof(float));
    memcpy(mel, orig, T * B * sizeof(float));
    memcpy(a, orig, T * B * sizeof(float));
    es_rng r1, r2;
    es_rng_seed(&r1, 99);
    es_rng_seed(&r2, 99);
    es_specaugment(mel, T, B, 2, 4, 2, 8, NULL, &r1);
    es_specaugment(a, T, B, 2, 4, 2, 8, NULL, &r2);
    assert_memory_equal(mel, a, T * B * sizeof(float));
    assert_memory_not_equal(mel, orig, T * B * sizeof(float));
    free(a); free(mel); free(orig);
}

/* ------------------------------------------------------------ recipes */

static void test_recipe_draw(void **state)
{
    (void)state;
    es_aug_ranges g;
    es_aug_ranges_default(&g);
    g.p_spec = 0.5;
    assert_int_equal(es_aug_ranges_check(&g, NULL), ES_OK);
    es_rng rng;
    es_rng_seed(&rng, 1);
    int nspeed = 0, nnoise = 0, nclip = 0, nspec = 0, N = 2000;
    for (int i = 0; i < N; i++) {
        es_aug_recipe r;
        es_aug_draw(&g, 3, &rng, &r);
        assert_true(r.speed >= g.speed_lo && r.speed <= g.speed_hi);
        assert_true(r.shift >= -g.shift_max && r.shift <= g.shift_max);
        assert_true(r.gain_db >= g.gain_lo && r.gain_db <= g.gain_hi);
        nspeed += r.speed != 1.0;
        if (r.noise != ES_AUG_NOISE_NONE) {
            nnoise++;
            assert_true(r.snr_db >= g.snr_lo && r.snr_db <= g.snr_hi);
        }
        if (r.noise == ES_AUG_NOISE_CLIP) { nclip++; assert_true(r.noise_clip < 3); }
        nspec += r.spec;
        char s[256];
        assert_true(es_aug_recipe_str(&r, s, sizeof s) > 0);
    }
    /* each transform applies about as often as asked (4 sigma) */
    assert_true(fabs(nspeed / (double)N - 0.8) < 0.04);
    assert_true(fabs(nnoise / (double)N - 0.8) < 0.04);
    assert_true(fabs(nclip / (double)nnoise - 0.75) < 0.05);
    assert_true(fabs(nspec / (double)N - 0.5) < 0.05);
    /* the same seed gives the same recipes */
    es_rng a, b;
    es_rng_seed(&a, 42);
    es_rng_seed(&b, 42);
    for (int i = 0; i < 20; i++) {
        es_aug_recipe ra, rb;
        es_aug_draw(&g, 3, &a, &ra);
        es_aug_draw(&g, 3, &b, &rb);
        char sa[256], sb[256];
        es_aug_recipe_str(&ra, sa, sizeof sa);
        es_aug_recipe_str(&rb, sb, sizeof sb);
        assert_string_equal(sa, sb);
    }
    /* bad ranges are named */
    es_error e = {0};
    g.speed_lo = 1.2;
    assert_int_equal(es_aug_ranges_check(&g, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "speed"));
    es_aug_ranges_default(&g);
    g.p_noise = 1.5;
    assert_int_equal(es_aug_ranges_check(&g, &e), ES_ERR_ARG);
}

static void test_recipe_apply(void **state)
{
    (void)state;
    size_t n = 8000, pad = 32000;
    float *x = malloc(n * sizeof(float)), *noise = malloc(20000 * sizeof(float));
    sine(x, n, 500, 6000);
    es_rng rng;
    es_rng_seed(&rng, 2);
    for (size_t i = 0; i < 20000; i++) noise[i] = 3000 * es_rng_normal(&rng);
    es_aug_clip clip = {noise, 20000};

    /* the identity pads and nothing else */
    es_aug_recipe r;
    es_aug_recipe_none(&r);
    float *y, *y2;
    size_t ny, ny2;
    assert_int_equal(es_aug_apply(&r, x, n, pad, &clip, 1, &y, &ny, NULL), ES_OK);
    assert_int_equal(ny, pad);
    for (size_t i = 0; i < pad; i++) {
        float want = i >= 12000 && i < 20000 ? roundf(x[i - 12000]) : 0;
        assert_true(y[i] == want);
    }
    free(y);

    /* gain + shift + clip noise at 10 dB: SNR against the gained clip's power */
    r.gain_db = -3;
    r.shift = 1000;
    r.noise = ES_AUG_NOISE_CLIP;
    r.noise_pos = 12345;
    r.snr_db = 10;
    assert_int_equal(es_aug_apply(&r, x, n, pad, &clip, 1, &y, &ny, NULL), ES_OK);
    float *clean = calloc(pad, sizeof(float));
    for (size_t i = 0; i < n; i++) clean[12000 + 1000 + i] = x[i] * (float)pow(10, -3 / 20.0);
    double snr = snr_of(clean, y, pad, es_aug_power(clean + 13000, n));
    printf("recipe: SNR over the window %.3f dB (asked 10)\n", snr);
    assert_true(fabs(snr - 10) < 0.1);
    for (size_t i = 0; i < pad; i++) assert_true(y[i] == roundf(y[i]) && y[i] >= -32768 && y[i] <= 32767);
    free(y);

    /* speed makes the clip shorter; the window keeps pad samples */
    es_aug_recipe_none(&r);
    r.speed = 1.1;
    assert_int_equal(es_aug_apply(&r, x, n, 0, NULL, 0, &y, &ny, NULL), ES_OK);
    assert_true(fabs((double)ny - n / 1.1) <= 2);
    free(y);

    /* drawn recipes are deterministic, coloured noise included */
    es_aug_ranges g;
    es_aug_ranges_default(&g);
    g.p_noise = 1;
    for (int c = 0; c < 2; c++) {
        es_rng a, b;
        es_rng_seed(&a, 77);
        es_rng_seed(&b, 77);
        es_aug_recipe ra, rb;
        es_aug_draw(&g, (size_t)c, &a, &ra);
        es_aug_draw(&g, (size_t)c, &b, &rb);
        assert_int_equal(ra.noise, c ? ES_AUG_NOISE_CLIP : ES_AUG_NOISE_COLORED);
        assert_int_equal(es_aug_apply(&ra, x, n, pad, &clip, (size_t)c, &y, &ny, NULL), ES_OK);
        assert_int_equal(es_aug_apply(&rb, x, n, pad, &clip, (size_t)c, &y2, &ny2, NULL), ES_OK);
        assert_int_equal(ny, ny2);
        assert_memory_equal(y, y2, ny * sizeof(float));
        free(y2);
        es_aug_draw(&g, (size_t)c, &a, &rb);   /* the next recipe differs */
        assert_int_equal(es_aug_apply(&rb, x, n, pad, &clip, (size_t)c, &y2, &ny2, NULL), ES_OK);
        assert_true(ny != ny2 || memcmp(y, y2, ny * sizeof(float)));
        free(y); free(y2);
    }

    /* a clip recipe without its clip is refused */
    es_aug_recipe_none(&r);
    r.noise = ES_AUG_NOISE_CLIP;
    r.noise_clip = 2;
    es_error e = {0};
    assert_int_equal(es_aug_apply(&r, x, n, pad, &clip, 1, &y, &ny, &e), ES_ERR_ARG);
    assert_null(y);

    /* SpecAugment through the recipe: the seed decides, the same twice */
    float mel[50 * 32], mel2[50 * 32];
    for (int i = 0; i < 50 * 32; i++) mel[i] = mel2[i] = (float)(i % 37);
    es_aug_recipe_none(&r);
    es_aug_apply_mel(&r, mel, 50, 32);
    assert_memory_equal(mel, mel2, sizeof mel);
    r.spec = 1; r.freq_masks = 2; r.freq_width = 4; r.time_masks = 2; r.time_width = 8; r.spec_seed = 9;
    es_aug_apply_mel(&r, mel, 50, 32);
    es_aug_apply_mel(&r, mel2, 50, 32);
    assert_memory_equal(mel, mel2, sizeof mel);
    free(clean); free(x); free(noise);
}

/* ------------------------------------------------------------ wake-word threshold */

static void test_wake_threshold(void **state)
{
    (void)state;
    /* 100 negatives scoring 0.00 .. 0.99, 10 positives at 0.95 .. 0.995 */
    float p[110];
    int w[110];
    for (int i = 0; i < 100; i++) { p[i] = i / 100.0f; w[i] = 0; }
    for (int i = 0; i < 10; i++) { p[100 + i] = 0.95f + i * 0.005f; w[100 + i] = 1; }
    double fa, rec;
    /* 5% allowed: the 6th highest negative (0.94) must be rejected */
    float t = es_wake_threshold(p, w, 110, 0.05, &fa, &rec);
    assert_true(t > 0.94f && t <= 0.95f);
    assert_true(fabs(fa - 0.05) < 1e-9 && rec == 1.0);
    /* 0 allowed: above the highest negative */
    t = es_wake_threshold(p, w, 110, 0.0, &fa, &rec);
    assert_true(t > 0.99f && fa == 0.0);
    assert_true(fabs(rec - 0.1) < 1e-9);   /* only 0.995 reaches it */
    /* never below 0.5, the plain decision */
    for (int i = 0; i < 100; i++) p[i] = 0.001f * i;
    t = es_wake_threshold(p, w, 110, 0.01, &fa, &rec);
    assert_true(t == 0.5f && fa == 0.0 && rec == 1.0);
    /* no negatives: 0.5 and an undefined false-accept rate */
    t = es_wake_threshold(p + 100, w + 100, 10, 0.01, &fa, &rec);
    assert_true(t == 0.5f && isnan(fa) && rec == 1.0);
}

/* es_talk_spread: the other-talk windows kept under --negatives-max */
static void test_talk_spread(void **state)
{
    (void)state;
    size_t pick[100];
    /* all of them when there are few enough */
    assert_int_equal(es_talk_spread(5, 10, NULL, pick), 5);
    for (size_t i = 0; i < 5; i++) assert_int_equal(pick[i], i);
    /* evenly: 4 of 10 are 0, 2, 5, 7 (steps of 2.5, rounded down) */
    assert_int_equal(es_talk_spread(10, 4, NULL, pick), 4);
    size_t want4[] = {0, 2, 5, 7};
    for (size_t i = 0; i < 4; i++) assert_int_equal(pick[i], want4[i]);
    /* skipped windows (mined already) are never picked, and the others
     * are spread over what is left: 3 of the 6 not skipped among 10 */
    unsigned char skip[10] = {1, 1, 0, 0, 1, 0, 0, 1, 0, 0};
    assert_int_equal(es_talk_spread(10, 3, skip, pick), 3);
    size_t want3[] = {2, 5, 8};   /* available: 2 3 5 6 8 9; steps 0, 2, 4 */
    for (size_t i = 0; i < 3; i++) assert_int_equal(pick[i], want3[i]);
    /* asking for more than is left gives what is left, in order */
    assert_int_equal(es_talk_spread(10, 9, skip, pick), 6);
    size_t all[] = {2, 3, 5, 6, 8, 9};
    for (size_t i = 0; i < 6; i++) assert_int_equal(pick[i], all[i]);
    /* increasing and distinct for many sizes */
    for (size_t total = 1; total < 60; total++)
        for (size_t want = 1; want <= total; want++) {
            size_t n = es_talk_spread(total, want, NULL, pick);
            assert_int_equal(n, want);
            assert_int_equal(pick[0], 0);
            for (size_t i = 1; i < n; i++) assert_true(pick[i] > pick[i - 1] && pick[i] < total);
        }
    assert_int_equal(es_talk_spread(0, 3, NULL, pick), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snr),
        cmocka_unit_test(test_colored_noise),
        cmocka_unit_test(test_gain_shift),
        cmocka_unit_test(test_speed),
        cmocka_unit_test(test_specaugment),
        cmocka_unit_test(test_recipe_draw),
        cmocka_unit_test(test_recipe_apply),
        cmocka_unit_test(test_wake_threshold),
        cmocka_unit_test(test_talk_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
