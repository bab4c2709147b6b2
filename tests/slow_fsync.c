/*
 * tests/slow_fsync.c — an LD_PRELOAD shim for tests/test_signals.sh and
 * tests/test_listen.sh: fsync waits EARSHOT_SLOW_FSYNC seconds before
 * syncing. earshot fsyncs every output's temporary file just before it
 * renames it into place, so under the shim the temporary file exists for
 * that long, and a test can send a signal at exactly the moment an
 * interrupted write must be cleaned up (without it the window is a few
 * milliseconds and a test could only hope to hit it). EARSHOT_SLOW_RENAME
 * does the same before each rename (synth's label folders moved into
 * place one after another: a signal between two).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void wait_for(const char *var)
{
    const char *s = getenv(var);
    double d = s ? atof(s) : 0;
    if (d > 0) {
        struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
        nanosleep(&ts, NULL);   /* a signal handler may run meanwhile */
    }
}

int fsync(int fd)
{
    wait_for("EARSHOT_SLOW_FSYNC");
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real ? real(fd) : 0;
}

int rename(const char *from, const char *to)
{
    wait_for("EARSHOT_SLOW_RENAME");
    int (*real)(const char *, const char *) = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    return real ? real(from, to) : -1;
}
