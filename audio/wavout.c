/*
 * Writing 16 kHz int16-scale audio as a 16-bit WAV file (libsndfile),
 * atomically (es_atomic_begin: a temporary file in the same folder, fsync,
 * rename). A reader (or a crash) never sees half a clip.
 */
#include "es_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

es_status es_audio_write_wav(const char *path, const float *x, size_t n, es_error *err)
{
    if (!path || !*path || (!x && n)) return es_fail(err, ES_ERR_ARG, "es_audio_write_wav: invalid arguments");
    /* A WAV header holds the data size in 32 bits (and the RIFF size, 36
     * more): past that libsndfile writes a size that wraps, and readers see
     * minutes of a longer recording. Refused before anything is created. */
    if (n > ((size_t)UINT32_MAX - 36) / 2)
        return es_fail(err, ES_ERR_ARG, "%s: %zu samples do not fit a WAV file (at most 4 GB: %zu samples, "
                       "37 hours at 16 kHz)", path, n, ((size_t)UINT32_MAX - 36) / 2);
    es_atomic a;
    es_status as = es_atomic_begin(&a, path, err);
    if (as) return as;
    int fd = open(a.tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);   /* the umask decides, as for any new file */
    if (fd < 0) {
        es_status s = es_fail(err, ES_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        es_atomic_abort(&a);
        return s;
    }
    SF_INFO info = {0};
    info.samplerate = ES_SAMPLE_RATE;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    char why[256] = "";
    /* libsndfile gets a copy of the descriptor, which it closes: it closes
     * the one it is given when the open fails, whatever close_desc says
     * (es_reader_open says more), and fd is closed below; fsync of fd
     * flushes what was written through the copy, the same open file. */
    int sfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    SNDFILE *sf = NULL;
    if (sfd < 0) snprintf(why, sizeof why, "%s", strerror(errno));
    else {
        es_sndfile_lock();   /* another thread's open would clear the reason */
        sf = sf_open_fd(sfd, SFM_WRITE, &info, SF_TRUE);
        if (!sf) snprintf(why, sizeof why, "%s", sf_strerror(NULL));
        es_sndfile_unlock();
    }
    int ok = sf != NULL;
    short blk[4096];
    for (size_t i = 0; ok && i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++) {
            float v = isnan(x[i + j]) ? 0.0f : roundf(x[i + j]);   /* (short)NaN is undefined */
            blk[j] = (short)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : v);
        }
        if (sf_write_short(sf, blk, (sf_count_t)k) != (sf_count_t)k) {
            ok = 0;
            snprintf(why, sizeof why, "%s", sf_strerror(sf));
        }
    }
    if (sf && sf_close(sf) != 0 && ok) { ok = 0; snprintf(why, sizeof why, "cannot finish the WAV header"); }
    if (ok && fsync(fd) != 0) { ok = 0; snprintf(why, sizeof why, "%s", strerror(errno)); }
    if (ok && a.have_mode) (void)!fchmod(fd, a.mode);   /* best effort, as in es_atomic_commit */
    if (close(fd) != 0 && ok) { ok = 0; snprintf(why, sizeof why, "%s", strerror(errno)); }
    if (!ok) {
        es_atomic_abort(&a);
        return es_fail(err, ES_ERR_IO, "%s: cannot write: %s", path, why);
    }
    return es_atomic_commit(&a, -1, path, err);
}
