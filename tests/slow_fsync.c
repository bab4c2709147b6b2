/*
 * tests/slow_fsync.c — an LD_PRELOAD shim for tests/test_signals.sh and
 * tests/test_listen.sh: fsync waits EARSHOT_SLOW_FSYNC seconds before
 * syncing. earshot fsyncs every output's temporary file just before it
 * renames it into place, so under the shim the temporary file exists for
 * that long, and a test can send a signal at exactly the moment an
 * interrupted write must be cleaned up (without it the window is a few
 * milliseconds and a test could only hope to hit it). EARSHOT_SLOW_RENAME
 * does the same before each rename (synth's label folders moved into
 * place one after another: a signal between two); with
 * EARSHOT_SLOW_RENAME_TO=GLOB only the renames whose destination matches
 * GLOB (fnmatch with FNM_PATHNAME: '*' and '?' stop at '/'), so that one
 * step of a run is held and not every file it writes.
 * EARSHOT_SLOW_UNLINK=S with EARSHOT_SLOW_UNLINK_TO=GLOB holds each unlink
 * of a matching path the same way (and only with a GLOB: every run
 * removes files): a SIGKILL in the middle of removing a folder's files
 * (`earshot cache --clear` removing a synthesised set).
 *
 * EARSHOT_FSYNC_ENOSPC=GLOB makes a full disk for some outputs only: fsync
 * of a file whose path (as /proc/self/fd shows it) matches GLOB fails with
 * ENOSPC, as on a file system that finds out at fsync that the blocks it
 * promised are not there (delayed allocation, NFS). Only fsync: stdio's
 * own write and close are glibc-internal calls no preload can replace.
 *
 * EARSHOT_SLOW_INTERRUPTED=S holds the fatal-signal handler S seconds just
 * after it has printed "earshot: interrupted by SIG...; files not finished
 * were not written" (it calls write(2) itself; stdio does not come here),
 * the first time only: a second signal sent meanwhile finds the first
 * one's handler still running, its message out.
 *
 * EARSHOT_SYNC_LOG=FILE appends one line to FILE for each fsync
 * ("fsync file PATH" or "fsync dir PATH", the path as /proc/self/fd shows
 * it) and each rename ("rename FROM TO"), in the order they happen, so a
 * test can check that a write's folder is synced after its rename.
 * EARSHOT_KILL_AFTER_RENAME=GLOB sends the process SIGKILL right after the
 * first rename whose destination matches GLOB (fnmatch with FNM_PATHNAME):
 * a run killed between two renames that belong together.
 *
 * EARSHOT_FOPEN_EMFILE=N:GLOB makes the Nth fopen of a path matching GLOB
 * (counted over all threads, from 1) fail with EMFILE, as a process that
 * has run out of file descriptors: transcribe's -j workers each read the
 * head's model file when they start, so one worker can be made to fail
 * its set-up while the others go on.
 */
/* meson builds with -D_FILE_OFFSET_BITS=64, under which the headers rename
 * fopen to fopen64: this shim must define both names itself */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void wait_for(const char *var)
{
    const char *s = getenv(var);
    double d = s ? atof(s) : 0;
    if (d > 0) {
        /* A signal handler may run meanwhile, but the hold goes on for its
         * full time: cut short by the first SIGTERM, the window a test
         * opens (a second signal between two renames) closed at once, and
         * what the test meant to check happened only by chance. errno is
         * the caller's, as if the shim were not there. */
        struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
        int saved = errno;
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
        errno = saved;
    }
}

static ssize_t (*real_write)(int, const void *, size_t);

static void sync_log(const char *what, const char *a, const char *b)
{
    const char *log = getenv("EARSHOT_SYNC_LOG");
    if (!log || !*log || !real_write) return;
    char line[8300];
    int n = snprintf(line, sizeof line, "%s %s%s%s\n", what, a, b ? " " : "", b ? b : "");
    if (n <= 0 || n >= (int)sizeof line) return;
    int saved = errno, fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)!real_write(fd, line, (size_t)n);   /* one write: lines from threads do not mix */
        close(fd);
    }
    errno = saved;
}

int fsync(int fd)
{
    wait_for("EARSHOT_SLOW_FSYNC");
    if (getenv("EARSHOT_SYNC_LOG")) {
        char link[64], path[4096];
        struct stat st;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n > 0 && fstat(fd, &st) == 0) {
            path[n] = 0;
            sync_log(S_ISDIR(st.st_mode) ? "fsync dir" : "fsync file", path, NULL);
        }
    }
    const char *full = getenv("EARSHOT_FSYNC_ENOSPC");
    if (full && *full) {
        char link[64], path[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n > 0) {
            path[n] = 0;
            if (fnmatch(full, path, 0) == 0) {
                errno = ENOSPC;
                return -1;
            }
        }
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real ? real(fd) : 0;
}

int rename(const char *from, const char *to)
{
    const char *only = getenv("EARSHOT_SLOW_RENAME_TO");
    if (!only || !*only || fnmatch(only, to, FNM_PATHNAME) == 0) wait_for("EARSHOT_SLOW_RENAME");
    int (*real)(const char *, const char *) = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    int r = real ? real(from, to) : -1;
    if (r == 0) {
        sync_log("rename", from, to);
        const char *kill_at = getenv("EARSHOT_KILL_AFTER_RENAME");
        if (kill_at && *kill_at && fnmatch(kill_at, to, FNM_PATHNAME) == 0) raise(SIGKILL);
    }
    return r;
}

int unlink(const char *path)
{
    const char *only = getenv("EARSHOT_SLOW_UNLINK_TO");
    if (only && *only && fnmatch(only, path, FNM_PATHNAME) == 0) wait_for("EARSHOT_SLOW_UNLINK");
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    return real ? real(path) : -1;
}

/* looked up before main: dlsym is no call for a signal handler to make */
__attribute__((constructor)) static void find_write(void)
{
    real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static const char tail[] = "files not finished were not written";
    static int seen;   /* only the first: a second handler goes on at once */
    if (!real_write) { errno = ENOSYS; return -1; }
    ssize_t r = real_write(fd, buf, n);
    if (fd == 2 && memmem(buf, n, tail, sizeof tail - 1) && !__atomic_exchange_n(&seen, 1, __ATOMIC_SEQ_CST))
        wait_for("EARSHOT_SLOW_INTERRUPTED");
    return r;
}

static FILE *fopen_counted(const char *sym, const char *path, const char *mode)
{
    static int count;
    const char *spec = getenv("EARSHOT_FOPEN_EMFILE");
    const char *glob = spec ? strchr(spec, ':') : NULL;
    if (glob && path && fnmatch(glob + 1, path, 0) == 0 &&
        __atomic_add_fetch(&count, 1, __ATOMIC_SEQ_CST) == atoi(spec)) {
        errno = EMFILE;
        return NULL;
    }
    FILE *(*real)(const char *, const char *) = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, sym);
    return real ? real(path, mode) : NULL;
}

FILE *fopen(const char *path, const char *mode) { return fopen_counted("fopen", path, mode); }
FILE *fopen64(const char *path, const char *mode) { return fopen_counted("fopen64", path, mode); }
