/*
 * tests/slow_fsync.c — an LD_PRELOAD shim for tests/test_signals.sh and
 * tests/test_listen.sh: fsync waits EARSHOT_SLOW_FSYNC seconds before
 * syncing. earshot fsyncs every output's temporary file just before it
 * renames it into place, so under the shim the temporary file exists for
 * that long, and a test can send a signal at exactly the moment an
 * interrupted write must be cleaned up (without it the window is a few
 * milliseconds and a test could only hope to hit it).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fsync(int fd)
{
    const char *s = getenv("EARSHOT_SLOW_FSYNC");
    double d = s ? atof(s) : 0;
    if (d > 0) {
        struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
        nanosleep(&ts, NULL);   /* a signal handler may run meanwhile */
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real ? real(fd) : 0;
}
