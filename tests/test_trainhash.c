/* How often a train over the frozen encoder reads each audio file.
 *
 * A train hashes every clip twice over: for the model card's data.sha256
 * (pipeline/train.c, data_sha256) and for the clip's embedding-cache key
 * (pipeline/cache.c). The cache remembers a file's hash while it is open
 * (by device, inode, size and times), and train takes data.sha256 through
 * that cache, so with a warm cache each file is read exactly once: for
 * its hash, every embedding coming from the cache. Before, data.sha256
 * read every file itself and the cache's first lookup read it again: two
 * reads a clip (6,000 for FSDD's 3,000).
 *
 * The test counts this program's fopen/fopen64 calls (the library reads
 * a file's bytes for its hash through stdio; here they forward to glibc's
 * own) on the dataset's WAVs during a warm train, with a validation folder
 * as well: exactly one a file. The files are left to settle first: the
 * cache does not remember a file changed in the last 3 s (file times have
 * a granularity). Needs the pretrained models (skips, 77, without them). */
/* meson builds with -D_FILE_OFFSET_BITS=64, under which the headers rename
 * fopen to fopen64: both are defined here (as in tests/slow_fsync.c). The
 * public header alone is included: no off_t crosses it. */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include "test_util.h"

#include <dlfcn.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];
static es_engine *g_eng;
static atomic_int g_wav_opens;

/* a WAV of the test's folders, opened for reading */
static void count(const char *path)
{
    size_t n = path ? strlen(path) : 0, d = strlen(g_dir);
    if (n > 4 && g_dir[0] && !strncmp(path, g_dir, d) && !strcmp(path + n - 4, ".wav")) atomic_fetch_add(&g_wav_opens, 1);
}

static FILE *real_fopen(const char *sym, const char *path, const char *mode)
{
    FILE *(*real)(const char *, const char *) = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, sym);
    return real ? real(path, mode) : NULL;
}

FILE *fopen(const char *path, const char *mode)
{
    count(path);
    return real_fopen("fopen", path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
    count(path);
    return real_fopen("fopen64", path, mode);
}

static void train(const char *data, const char *val, const char *model)
{
    es_train_opts o;
    es_train_opts_default(&o);
    char cache[600];
    snprintf(cache, sizeof cache, "%s/cache", g_dir);
    o.data_dir = data;
    o.val_dir = val;
    o.cache_dir = cache;
    o.silence = 0;
    o.augment = 0;
    o.shifts = 2;          /* two passes of the cache over every clip ... */
    o.frontend_copy = 1;   /* ... and one through the other front end */
    o.positions = 1;
    o.ensemble = 1;
    o.epochs = 1;
    o.min_steps = 2;
    es_error err = {0};
    es_train_result r;
    assert_int_equal(es_train_head(g_eng, &o, model, &r, NULL, NULL, &err), ES_OK);
}

static void test_read_once(void **state)
{
    (void)state;
    char data[300], val[300], model[300];
    snprintf(data, sizeof data, "%s/data", g_dir);
    snprintf(val, sizeof val, "%s/val", g_dir);
    snprintf(model, sizeof model, "%s/m.safetensors", g_dir);
    test_tone_set(data, 6, 3, 0);
    test_tone_set(val, 3, 3, 500);
    sleep(4);   /* settled: the cache remembers the files' hashes */
    train(data, val, model);   /* warms the cache */
    atomic_store(&g_wav_opens, 0);
    train(data, val, model);
    int n = atomic_load(&g_wav_opens);
    print_message("  a warm train opened its 18 WAVs %d times\n", n);
    assert_int_equal(n, 2 * 6 + 2 * 3);
}

static int setup(void **state)
{
    (void)state;
    if (test_tmpdir(g_dir, sizeof g_dir, "trainhash")) return -1;
    return test_engine_setup(&g_eng);
}

static int teardown(void **state)
{
    (void)state;
    return test_engine_teardown(g_eng, g_dir);
}

int main(void)
{
    test_require_models();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
