/*
 * fuzz/fuzz_npy.c — libFuzzer target for the .npy reader. The bytes go to a
 * temp file (es_npy_read takes a path); whatever it accepts must survive a
 * round trip through es_npy_write and back unchanged, bit for bit.
 *
 * Build and run with scripts/fuzz.sh npy SECONDS.
 */
#include "earshot.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char npy_path[4096], npy_path2[4200];

static void npy_cleanup(void)
{
    if (npy_path[0]) {
        unlink(npy_path);
        unlink(npy_path2);
    }
}

static int npy_write_bytes(const uint8_t *data, size_t size)
{
    if (!npy_path[0]) {
        const char *d = getenv("TMPDIR");
        snprintf(npy_path, sizeof npy_path, "%s/es_fuzz_npy_XXXXXX", d && *d ? d : "/tmp");
        int fd = mkstemp(npy_path);
        if (fd < 0) {
            npy_path[0] = 0;
            return -1;
        }
        close(fd);
        snprintf(npy_path2, sizeof npy_path2, "%s.rt.npy", npy_path);
        atexit(npy_cleanup);
    }
    FILE *f = fopen(npy_path, "wb");
    if (!f) return -1;
    int ok = size == 0 || fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (npy_write_bytes(data, size) != 0) return 0;
    float *x = NULL;
    size_t shape[8];
    int nd = -1;
    es_error err = {0};
    if (es_npy_read(npy_path, &x, shape, &nd, &err) != ES_OK) {
        if (x || !strstr(err.msg, npy_path)) abort();
        return 0;
    }
    if (!x || nd < 0 || nd > 8) abort();
    size_t count = 1;
    for (int i = 0; i < nd; i++) count *= shape[i];

    /* Round trip: what we read, we write back and read again identically. */
    if (es_npy_write(npy_path2, x, shape, nd, &err) != ES_OK) abort();
    float *y = NULL;
    size_t shape2[8];
    int nd2 = -1;
    if (es_npy_read(npy_path2, &y, shape2, &nd2, &err) != ES_OK) abort();
    if (nd2 != nd || memcmp(shape, shape2, (size_t)nd * sizeof(size_t)) ||
        memcmp(x, y, count * sizeof(float)))
        abort();
    free(x);
    free(y);
    return 0;
}
