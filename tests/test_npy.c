/* .npy writer/reader: round trips, the 64-byte header alignment numpy
 * expects, refusal of malformed files, and atomic writes. */
#include "test_util.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return test_tmpdir(dir, sizeof dir, "npy");
}

static int teardown(void **state)
{
    (void)state;
    return test_rmtree(dir);
}

/* a read that succeeds leaves err alone (it was filled with a failure
 * message before); shapes that would wrap are refused; NULLs refused */
static void test_contract(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/c.npy", dir);
    float d[6] = {1, 2, 3, 4, 5, 6}, *r = NULL;
    size_t sh[8] = {2, 3};
    int nd = 0;
    assert_int_equal(es_npy_write(path, d, sh, 2, NULL), ES_OK);
    es_error e = {0};
    assert_int_equal(es_npy_read(path, &r, sh, &nd, &e), ES_OK);
    assert_int_equal(e.status, ES_OK);
    assert_string_equal(e.msg, "");
    free(r);
    size_t huge[2] = {(size_t)1 << 33, (size_t)1 << 31};
    assert_int_equal(es_npy_write(path, d, huge, 2, &e), ES_ERR_ARG);
    assert_non_null(strstr(e.msg, "too large"));
    assert_int_equal(es_npy_write(path, NULL, sh, 2, &e), ES_ERR_ARG);
    assert_int_equal(es_npy_read(path, NULL, sh, &nd, &e), ES_ERR_ARG);
    assert_int_equal(es_npy_read(NULL, &r, sh, &nd, &e), ES_ERR_ARG);
}

static void test_roundtrip(void **state)
{
    (void)state;
    float d[5 * 96];
    for (int i = 0; i < 5 * 96; i++) d[i] = (float)i * 0.25f - 3.0f;
    size_t shapes[3][2] = {{5, 96}, {480, 0}, {0, 96}};
    int ndims[3] = {2, 1, 2};
    for (int k = 0; k < 3; k++) {
        char path[128];
        snprintf(path, sizeof path, "%s/a%d.npy", dir, k);
        assert_int_equal(es_npy_write(path, d, shapes[k], ndims[k], NULL), ES_OK);
        float *r;
        size_t sh[8];
        int nd;
        assert_int_equal(es_npy_read(path, &r, sh, &nd, NULL), ES_OK);
        assert_int_equal(nd, ndims[k]);
        size_t cnt = 1;
        for (int i = 0; i < nd; i++) { assert_int_equal(sh[i], shapes[k][i]); cnt *= sh[i]; }
        if (cnt) assert_memory_equal(r, d, cnt * sizeof(float));
        free(r);
        /* numpy requires the data to start on a 64-byte boundary */
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((st.st_size - (off_t)(cnt * 4)) % 64, 0);
    }
    /* the header text numpy writes for this shape */
    char path[128];
    snprintf(path, sizeof path, "%s/a0.npy", dir);
    FILE *f = fopen(path, "rb");
    char hdr[128] = {0};
    assert_int_equal(fread(hdr, 1, 127, f), 127);
    fclose(f);
    assert_memory_equal(hdr, "\x93NUMPY\x01\x00", 8);
    assert_non_null(strstr(hdr + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 96), }"));
    snprintf(path, sizeof path, "%s/a1.npy", dir);
    f = fopen(path, "rb");
    assert_int_equal(fread(hdr, 1, 127, f), 127);
    fclose(f);
    assert_non_null(strstr(hdr + 10, "'shape': (480,), }"));
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static unsigned char *find(unsigned char *h, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(h + i, needle, m)) return h + i;
    return NULL;
}

static void test_bad_files(void **state)
{
    (void)state;
    char path[128], good[128];
    snprintf(good, sizeof good, "%s/good.npy", dir);
    float d[6] = {1, 2, 3, 4, 5, 6};
    size_t shape[2] = {2, 3};
    assert_int_equal(es_npy_write(good, d, shape, 2, NULL), ES_OK);
    unsigned char buf[256];
    FILE *f = fopen(good, "rb");
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/bad.npy", dir);
    float *r;
    size_t sh[8];
    int nd;
    es_error e = {0};
    /* every truncation fails cleanly */
    for (size_t k = 0; k < n; k++) {
        write_bytes(path, buf, k);
        assert_int_not_equal(es_npy_read(path, &r, sh, &nd, &e), ES_OK);
        assert_non_null(strstr(e.msg, "bad.npy"));
    }
    /* wrong dtype, fortran order, shape/data mismatch, bad magic */
    const char *subs[][2] = {{"<f4", "<f8"}, {"False", "True "}, {"(2, 3)", "(2, 4)"}, {"NUMPY", "NUMPX"}};
    for (int k = 0; k < 4; k++) {
        unsigned char b2[256];
        memcpy(b2, buf, n);
        unsigned char *p = find(b2, n, subs[k][0]);
        assert_non_null(p);
        memcpy(p, subs[k][1], strlen(subs[k][1]));
        write_bytes(path, b2, n);
        assert_int_not_equal(es_npy_read(path, &r, sh, &nd, NULL), ES_OK);
    }
    assert_int_not_equal(es_npy_read(dir, &r, sh, &nd, &e), ES_OK);
    assert_non_null(strstr(e.msg, "directory"));
}

static void test_atomic(void **state)
{
    (void)state;
    float d[4] = {0};
    size_t shape[1] = {4};
    char path[128];
    snprintf(path, sizeof path, "%s/missing_dir/x.npy", dir);
    es_error e = {0};
    assert_int_not_equal(es_npy_write(path, d, shape, 1, &e), ES_OK);
    assert_non_null(strstr(e.msg, "x.npy"));
    /* a failed write leaves no temporary file behind */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s | grep tmp)\"", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_bad_files), cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_contract),
    };
    return cmocka_run_group_tests_name("npy", tests, setup, teardown);
}
