/* How much memory train, eval and the learning curve hold per clip
 * (pipeline/train.c, train_aug.c, feat.c).
 *
 * `earshot train` held every clip's windows at every variant twice (all
 * of them, then the training rows copied from them) and every clip's
 * whole embedding sequence while it cut them, and `earshot eval` every
 * clip's windows before deciding any: 25-29 KB a clip, ~3 GB for 105k
 * Speech Commands clips. Now train keeps one span of embeddings per
 * training clip and pass, and eval one batch of clips' windows.
 *
 * The test counts the heap bytes live at the peak of es_train_head and
 * es_eval (this program's malloc family forwards to glibc's and keeps
 * the count) on two synthetic datasets, 12 and 44 clips, with the clips
 * embedded 4 at a time (es_train_embed_chunk): the growth per clip from
 * one to the other is what the dataset's size costs, whatever the fixed
 * costs (engine, encoder buffers, heads). With 15 window positions of 8
 * embeddings (3 KB a window) and one augmented variant of every clip it
 * was 63 KB a clip in train and 60 KB in eval; now it is 12.7 KB and
 * 3.9 KB (the model's rehearsal rows, which grow with the clips up to
 * their cap, in eval). The bounds sit between, train's low enough that
 * holding every clip's or every augmented variant's embedding sequence
 * again (23 KB either) fails it too. One thread, so the encoder's buffers
 * peak the same in both runs, and the counts are the same from run to
 * run, once the clips have settled: the embedding cache remembers the
 * hash of a file not changed in the last 3 s, in a table of 1,024 slots
 * (98 KB) made at the first such file, and made in one run and not the
 * other it was 3.1 KB a clip of nothing. The learning curve's features (es_feat_build: 15 pooled vectors
 * of 768 bytes a clip, 11.3 KB) held every clip's embedding sequence and
 * window beside them too: 26.3 KB a clip. Eval of the from-scratch
 * baseline prepared every clip's log-mel window (16.6 KB) before deciding
 * any, long after the other models' eval came in batches; now it is 0.1
 * KB a clip, as for a model fine-tuning the encoder's last 2 convolutions
 * (batched already, and without rehearsal rows). Their train holds
 * every training clip's input row, what each epoch trains on, and its
 * batches grow with these small sets: printed, not bounded.
 * Needs the pretrained models (skips, 77, without them); skipped in a
 * sanitizer build, whose own malloc this one cannot stand beside. */
#include "test_util.h"
#include "es_internal.h"
#include "../pipeline/train_aug.h"
#include "../pipeline/feat.h"

#include <malloc.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define NO_COUNTING 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_COUNTING 1
#endif
#endif

#ifndef NO_COUNTING
/* ---- a counting malloc: glibc's own underneath (glibc lets a program
 * replace these; its chunks stay glibc's, so malloc_usable_size works) */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_llong g_live, g_peak;

static void counted(void *p)
{
    if (!p) return;
    long long v = atomic_fetch_add(&g_live, (long long)malloc_usable_size(p)) + (long long)malloc_usable_size(p);
    long long pk = atomic_load(&g_peak);
    while (v > pk && !atomic_compare_exchange_weak(&g_peak, &pk, v)) {}
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    counted(p);
    return p;
}

void free(void *p)
{
    if (p) atomic_fetch_sub(&g_live, (long long)malloc_usable_size(p));
    __libc_free(p);
}

void *calloc(size_t a, size_t b)
{
    void *p = __libc_calloc(a, b);
    counted(p);
    return p;
}

void *realloc(void *q, size_t n)
{
    long long was = q ? (long long)malloc_usable_size(q) : 0;
    void *p = __libc_realloc(q, n);
    if (p || n == 0) {   /* else q is still there, as it was */
        atomic_fetch_sub(&g_live, was);
        counted(p);
    }
    return p;
}

void *memalign(size_t a, size_t n)
{
    void *p = __libc_memalign(a, n);
    counted(p);
    return p;
}

void *aligned_alloc(size_t a, size_t n) { return memalign(a, n); }

int posix_memalign(void **out, size_t a, size_t n)
{
    void *p = memalign(a, n);
    if (!p) return 12;   /* ENOMEM */
    *out = p;
    return 0;
}

void *valloc(size_t n) { return memalign(4096, n); }
void *pvalloc(size_t n) { return memalign(4096, (n + 4095) & ~(size_t)4095); }

static es_engine *g_eng;
static char g_dir[256];

/* train a model on o->data_dir as o says, then eval it on that folder:
 * the heap bytes each held at its peak above what was live before it */
static void train_eval_peaks(const es_train_opts *o, const char *model, const char *cache, long long *train,
                             long long *eval)
{
    es_error err = {0};
    es_train_result r;
    long long before = atomic_load(&g_live);
    atomic_store(&g_peak, before);
    assert_int_equal(es_train_head(g_eng, o, model, &r, NULL, NULL, &err), ES_OK);
    *train = atomic_load(&g_peak) - before;
    es_eval_result ev;
    before = atomic_load(&g_live);
    atomic_store(&g_peak, before);
    assert_int_equal(es_eval(g_eng, model, o->data_dir, NULL, cache, &ev, NULL, NULL, &err), ES_OK);
    *eval = atomic_load(&g_peak) - before;
    assert_true(ev.n > 0);
    es_eval_result_free(&ev);
}

/* train on DIR (and eval the model on it), and the learning curve's
 * features of it: the heap bytes each held at its peak above what was
 * live before it */
static void peaks(const char *dir, long long *train, long long *eval, long long *curve)
{
    es_train_opts o;
    es_train_opts_default(&o);
    char model[600], cache[600];
    snprintf(model, sizeof model, "%s.safetensors", dir);
    snprintf(cache, sizeof cache, "%s/cache", g_dir);
    o.data_dir = dir;
    o.cache_dir = cache;
    o.val_fraction = 0;
    o.silence = 0;
    o.augment = 1;   /* one augmented row per clip */
    o.shifts = 1;
    o.speed_perturb = 0;
    o.frontend_copy = 0;
    o.positions = 15;
    o.ensemble = 1;
    o.epochs = 2;
    o.min_steps = 4;
    train_eval_peaks(&o, model, cache, train, eval);
    /* the learning curve's features (every clip's pooled vectors) */
    es_error err = {0};
    es_dataset *d = NULL;
    assert_int_equal(es_dataset_scan(dir, NULL, &d, NULL, &err), ES_OK);
    es_feat *f = NULL;
    long long before = atomic_load(&g_live);
    atomic_store(&g_peak, before);
    assert_int_equal(es_feat_build(g_eng, d, &o, NULL, NULL, &f, &err), ES_OK);
    *curve = atomic_load(&g_peak) - before;
    es_feat_free(f);
    es_dataset_free(d);
}

/* The from-scratch baseline (scratch) or a model fine-tuning the
 * encoder's last 2 convolutions, trained on DIR and evaluated on it: the
 * heap bytes eval held at its peak above what was live before it, and
 * train's (which holds every training clip's input row: what it trains
 * on every epoch) */
static void net_peaks(const char *dir, int scratch, long long *train, long long *eval)
{
    es_train_opts o;
    es_train_opts_default(&o);
    char model[600], cache[600];
    snprintf(model, sizeof model, "%s.%s.safetensors", dir, scratch ? "scratch" : "ft");
    snprintf(cache, sizeof cache, "%s/cache", g_dir);
    o.data_dir = dir;
    o.cache_dir = cache;
    o.val_fraction = 0;
    o.silence = 0;
    o.augment = 0;
    o.shifts = 1;
    o.speed_perturb = 0;
    o.frontend_copy = 0;
    o.ensemble = 1;
    o.epochs = 1;
    o.min_steps = 2;
    o.scratch = scratch;
    o.finetune = scratch ? 0 : 2;
    train_eval_peaks(&o, model, cache, train, eval);
}

static void test_per_clip(void **state)
{
    (void)state;
    char small[300], large[300];
    snprintf(small, sizeof small, "%s/small", g_dir);
    snprintf(large, sizeof large, "%s/large", g_dir);
    test_tone_set(small, 6, 4, 0);   /* 4 speakers, for the curve */
    test_tone_set(large, 22, 4, 0);
    sleep(4);   /* settled: see above */
    size_t was = es_train_embed_chunk(4);
    long long t1, e1, c1, t2, e2, c2, st1, se1, st2, se2, ft1, fe1, ft2, fe2;
    peaks(small, &t1, &e1, &c1);
    peaks(large, &t2, &e2, &c2);
    net_peaks(small, 1, &st1, &se1);
    net_peaks(large, 1, &st2, &se2);
    net_peaks(small, 0, &ft1, &fe1);
    net_peaks(large, 0, &ft2, &fe2);
    es_train_embed_chunk(was);
    double dt = (double)(t2 - t1) / 32, de = (double)(e2 - e1) / 32, dc = (double)(c2 - c1) / 32;
    print_message("  peak heap: train %.1f -> %.1f MB (%.1f KB a clip), eval %.1f -> %.1f MB (%.1f KB a clip), "
                  "curve features %.1f -> %.1f MB (%.1f KB a clip)\n",
                  t1 / 1e6, t2 / 1e6, dt / 1024, e1 / 1e6, e2 / 1e6, de / 1024, c1 / 1e6, c2 / 1e6, dc / 1024);
    double dst = (double)(st2 - st1) / 32, dse = (double)(se2 - se1) / 32;
    double dft = (double)(ft2 - ft1) / 32, dfe = (double)(fe2 - fe1) / 32;
    print_message("  scratch: train %.1f KB a clip, eval %.1f -> %.1f MB (%.1f KB a clip); "
                  "finetune 2: train %.1f KB a clip, eval %.1f -> %.1f MB (%.1f KB a clip)\n",
                  dst / 1024, se1 / 1e6, se2 / 1e6, dse / 1024, dft / 1024, fe1 / 1e6, fe2 / 1e6, dfe / 1024);
    assert_true(t1 > 0 && e1 > 0 && c1 > 0);   /* the counting saw the runs at all */
    assert_true(se1 > 0 && fe1 > 0);
    assert_true(dt < 20 * 1024);
    assert_true(de < 8 * 1024);
    assert_true(dc < 18 * 1024);
    /* eval of the baseline prepared every clip's log-mel window (65
     * frames x 64 bins, 16.6 KB) before deciding any; now a batch's */
    assert_true(dse < 6 * 1024);
    assert_true(dfe < 6 * 1024);
}

static int setup(void **state)
{
    (void)state;
    if (test_tmpdir(g_dir, sizeof g_dir, "trainmem")) return -1;
    es_set_threads(1);
    return test_engine_setup(&g_eng);
}

static int teardown(void **state)
{
    (void)state;
    return test_engine_teardown(g_eng, g_dir);
}
#endif

int main(void)
{
#ifdef NO_COUNTING
    printf("SKIP: a sanitizer build has a malloc of its own; this test counts glibc's\n");
    return 77;
#else
    test_require_models();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_clip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
#endif
}
