/*
 * model/blas.c — OpenBLAS as the library uses it: on one thread, and with
 * its work buffers accounted for under an address-space limit.
 *
 * How OpenBLAS 0.3.21 (Debian 12's; the scheme goes back to GotoBLAS)
 * gets the memory of a level-3 call: blas_memory_alloc takes a free slot
 * from a table and, if the slot has no buffer yet, maps one with mmap
 * (BUFFER_SIZE, 32 << 22 = 128 MB on x86-64: /proc/self/maps shows
 * 131072 kB for each) that the slot
 * keeps for the life of the process. So the buffers ever mapped are as
 * many as the calls that were ever under way at once. When the mmap fails
 * there is no failure path: it tries again, forever, at 100% CPU. Under
 * `ulimit -v` that is every command, as soon as a call needs a buffer the
 * limit has no room for. On top of that, OpenBLAS starts a server thread
 * per CPU beyond the first when it is loaded, and each takes a slot of its
 * own for its life, although the library keeps OpenBLAS at one thread and
 * they never work: 128 MB per idle thread.
 *
 * So, once per process (es_blas_init):
 *  - OpenBLAS is set to one thread and its idle server threads are shut
 *    down, which frees their slots for the calls to reuse (the library
 *    splits work across its own threads; es_internal.h says why).
 *  - Under a finite RLIMIT_AS, the buffers are mapped at once, one per
 *    thread of the library's as long as they fit (a probe mapping of the
 *    same size shows there is room, so blas_memory_alloc never loops),
 *    and a gate lets at most that many calls into OpenBLAS at the same
 *    time, so no call ever needs a new buffer. Fewer buffers than threads
 *    only means calls wait for one; so a buffer beyond the first is only
 *    mapped when as much room again stays free for the command's data.
 *  - If not even one fits, es_blas_ready says so, and every object that
 *    multiplies refuses to be created: a clean "out of memory" instead of
 *    a hang.
 * Without a limit nothing is gated and no buffer is mapped ahead.
 *
 * blas_memory_alloc, blas_memory_free and blas_thread_shutdown_ are not in
 * cblas.h, but libopenblas exports them (its own fork handler calls the
 * last). They are weak here: a BLAS without them still links, and then
 * the buffer is mapped by a first product instead and the gate holds at
 * one call.
 *
 * A server thread that found no room for its buffer at load retries for
 * ever too, and OpenBLAS's destructor joins it at exit: no library call
 * can end that. The earshot command never starts one under a limit (it
 * runs itself again with OPENBLAS_NUM_THREADS=1, pipeline/cli.c); another
 * program gets the message of es_blas_ready, after 5 s, and then hangs at
 * exit unless it sets OPENBLAS_NUM_THREADS=1 itself.
 */
#include "blas.h"
#include "es_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

extern void *blas_memory_alloc(int procpos) __attribute__((weak));
extern void blas_memory_free(void *buffer) __attribute__((weak));
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* OpenBLAS's BUFFER_SIZE on the platforms earshot builds on; the probe
 * must ask for at least what blas_memory_alloc will map. */
#define BLAS_BUFFER ((size_t)128 << 20)
#define MAX_BUFFERS 8    /* es_cpu_threads' limit */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_limited;            /* RLIMIT_AS is finite: calls are gated */
static int g_buffers;            /* buffers mapped ahead = the gate's size */
static unsigned long g_limit_mb;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_free;               /* of g_buffers, not taken by a call now */

/* Is there room for k more buffers? An inaccessible mapping is enough to
 * tell: RLIMIT_AS counts every mapping, and none of its pages is touched. */
static int room_for_buffers(int k)
{
    size_t len = (size_t)k * BLAS_BUFFER;
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return 0;
    munmap(p, len);
    return 1;
}

/* Shutting the server threads down joins them. A server thread that found
 * no room for its own buffer at load is still retrying and never returns,
 * so when there is no room now the join runs on a thread of its own and is
 * given up after a while (the server threads then stay; the caller finds
 * no room for a buffer and refuses). Returns whether they are down. */
static pthread_mutex_t sd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sd_cond = PTHREAD_COND_INITIALIZER;
static int sd_done;

static void *shutdown_thread(void *arg)
{
    (void)arg;
    blas_thread_shutdown_();
    pthread_mutex_lock(&sd_lock);
    sd_done = 1;
    pthread_cond_signal(&sd_cond);
    pthread_mutex_unlock(&sd_lock);
    return NULL;
}

static int shut_down_servers(int may_be_stuck)
{
    if (!blas_thread_shutdown_) return 0;
    if (!may_be_stuck) {
        blas_thread_shutdown_();
        return 1;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, shutdown_thread, NULL)) return 0;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;   /* a join takes microseconds; 5 s is for a loaded machine */
    pthread_mutex_lock(&sd_lock);
    int rc = 0;
    while (!sd_done && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&sd_cond, &sd_lock, &until);
    int done = sd_done;
    pthread_mutex_unlock(&sd_lock);
    if (done) pthread_join(th, NULL);
    else pthread_detach(th);
    return done;
}

static void blas_init(void)
{
    /* as many threads as OpenBLAS was loaded with (the CPUs, or
     * OPENBLAS_NUM_THREADS): the buffers it would hold by the first call */
    int loaded = openblas_get_num_threads();
    openblas_set_num_threads(1);

    struct rlimit rl;
    g_limited = getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
    if (!g_limited) {
        shut_down_servers(0);
        return;
    }
    g_limit_mb = (unsigned long)(rl.rlim_cur >> 20);
    int room = room_for_buffers(1);
    int down = shut_down_servers(!room);

    /* One buffer per thread of the library's (a call each at a time);
     * more calls at once (transcribe runs a file per CPU) wait for one. */
    int want = es_cpu_threads();
    if (blas_memory_alloc && blas_memory_free && down) {
        /* Taking the slots one after another maps each that has no
         * buffer; freed, they wait for the calls. A slot is taken lowest
         * first, and the lowest are the server threads' (they took theirs
         * at load, before any call), whose buffers are there: those need
         * no room. A server thread only exits once it has its buffer.
         * A buffer beyond the first only saves time, and the command's
         * own data needs room too: one is mapped only if as much room
         * again stays free beside it. */
        void *buf[MAX_BUFFERS];
        int n = 0, mapped = loaded - 1;
        while (n < want && (n < mapped || room_for_buffers(n ? 2 : 1)) && (buf[n] = blas_memory_alloc(0))) n++;
        for (int i = 0; i < n; i++) blas_memory_free(buf[i]);
        g_buffers = n;
    } else if (room || room_for_buffers(1)) {
        /* without the internals (or with the server threads still up):
         * one product maps the buffer for the calls, one at a time; big
         * enough not to take OpenBLAS's small-matrix path, which has none */
        enum { D = 128 };
        float *m = calloc(3 * D * D, sizeof *m);
        if (m) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, D, D, 1.0f, m, D, m + D * D, D, 0.0f,
                        m + 2 * D * D, D);
            free(m);
            g_buffers = 1;
        }
    }
    g_free = g_buffers;
}

void es_blas_init(void)
{
    pthread_once(&g_once, blas_init);
}

es_status es_blas_ready(es_error *err)
{
    es_blas_init();
    if (!g_limited || g_buffers > 0) return ES_OK;
    /* what is mapped already, which the limit leaves no 128 MB beside */
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    unsigned long used_mb = (unsigned long)((unsigned long long)pages * (unsigned long)sysconf(_SC_PAGESIZE) >> 20);
    if (used_mb)
        return es_fail(err, ES_ERR_NOMEM,
                       "out of memory: no room for OpenBLAS's %zu MB work buffer (address-space limit %lu MB; "
                       "%lu MB in use; raise ulimit -v)",
                       BLAS_BUFFER >> 20, g_limit_mb, used_mb);
    return es_fail(err, ES_ERR_NOMEM,
                   "out of memory: no room for OpenBLAS's %zu MB work buffer (address-space limit %lu MB; "
                   "raise ulimit -v)",
                   BLAS_BUFFER >> 20, g_limit_mb);
}

void es_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    es_blas_init();
    /* g_buffers == 0 cannot get here: every caller's object was refused
     * at creation (es_blas_ready); a gate of 0 would wait forever */
    if (!g_limited || g_buffers == 0) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    pthread_mutex_lock(&g_lock);
    while (g_free == 0) pthread_cond_wait(&g_cond, &g_lock);
    g_free--;
    pthread_mutex_unlock(&g_lock);
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    pthread_mutex_lock(&g_lock);
    g_free++;
    pthread_cond_signal(&g_cond);
    pthread_mutex_unlock(&g_lock);
}
