/*
 * pace_fifo — play raw PCM into a named pipe at the pace of a real
 * microphone, for the virtual capture device of the listen test and
 * benchmark (an ALSA `type file` PCM whose `infile` is the pipe).
 *
 *   pace_fifo [--bytes-per-second B] [--speed X] [--chunk-ms MS] [--tail S]
 *             [--idle S] [--log FILE] FIFO INPUT
 *
 * Why a pipe, and why paced: ALSA's file plugin reads its infile as fast as
 * the capture side asks (its slave, a `null` PCM, has no clock), so a plain
 * file would arrive thousands of times faster than real time, and after the
 * file's end it hands out stale buffer contents. Reading a pipe blocks
 * instead, so the writer's pace becomes the device's pace.
 *
 * PortAudio opens every ALSA device while it enumerates them (and so opens
 * the pipe, and closes it without reading), and the plugin sees the end of
 * the pipe as silence delivered at full speed if the writer ever closes
 * while it reads. So the writer opens the pipe read-write: the open never
 * blocks, a reader never sees an end while we run, and what a probe leaves
 * unread stays in the pipe for the real reader. Pacing starts when the
 * first byte is read (FIONREAD: the pipe holds less than we wrote), so the
 * time the device takes to start does not become a burst of audio. The
 * run ends after INPUT and the tail, or when nothing has been read for
 * --idle seconds (default 3): the reader went away.
 *
 * After INPUT, silence follows for --tail seconds (default 30), so the
 * reader never hits the end of the pipe (the plugin would repeat stale
 * audio). --log FILE writes one line per chunk: the audio position at the
 * chunk's end (seconds of INPUT, silence included) and the wall-clock time
 * (CLOCK_REALTIME, seconds) when the chunk was in the pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void sleep_until(double t)
{
    double d = t - mono();
    if (d <= 0) return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int main(int argc, char **argv)
{
    double bps = 32000, speed = 1, chunk_ms = 10, tail = 30, idle = 3;
    const char *log_path = NULL;
    int i = 1;
    for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (!strcmp(argv[i], "--bytes-per-second")) bps = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--speed")) speed = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--chunk-ms")) chunk_ms = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--tail")) tail = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--log")) log_path = argv[i + 1];
        else if (!strcmp(argv[i], "--idle")) idle = atof(argv[i + 1]);
        else { fprintf(stderr, "pace_fifo: unknown option %s\n", argv[i]); return 2; }
    }
    if (argc - i != 2 || !(bps > 0) || !(speed > 0) || !(chunk_ms > 0) || !(tail >= 0)) {
        fprintf(stderr, "usage: pace_fifo [--bytes-per-second B] [--speed X] [--chunk-ms MS] [--tail S] [--idle S] [--log FILE] FIFO INPUT\n");
        return 2;
    }
    const char *fifo = argv[i], *input = argv[i + 1];
    FILE *in = fopen(input, "rb");
    if (!in) { fprintf(stderr, "pace_fifo: %s: %s\n", input, strerror(errno)); return 1; }
    fseek(in, 0, SEEK_END);
    long len = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *data = malloc(len > 0 ? (size_t)len : 1);
    if (!data || (len > 0 && fread(data, 1, (size_t)len, in) != (size_t)len)) {
        fprintf(stderr, "pace_fifo: %s: cannot read\n", input);
        return 1;
    }
    fclose(in);
    size_t chunk = (size_t)(bps * chunk_ms / 1000.0);
    chunk -= chunk % 4;   /* whole frames for 16-bit stereo or 32-bit mono */
    if (chunk < 4) chunk = 4;
    if (chunk > PIPE_BUF) {   /* larger writes are not atomic: a read could see half of one */
        fprintf(stderr, "pace_fifo: a %.0f ms chunk is %zu bytes, more than PIPE_BUF (%d); use shorter chunks\n", chunk_ms, chunk, PIPE_BUF);
        return 2;
    }
    size_t total = (size_t)len + (size_t)(tail * bps);
    total -= total % 4;
    unsigned char *zeros = calloc(chunk, 1);
    size_t nlog = total / chunk + 2, ilog = 0;
    double *log_a = malloc(nlog * sizeof(double)), *log_w = malloc(nlog * sizeof(double));
    if (!zeros || !log_a || !log_w) return 1;
    int fd = open(fifo, O_RDWR);   /* see above: never blocks, never ends for the reader */
    if (fd < 0) { fprintf(stderr, "pace_fifo: %s: %s\n", fifo, strerror(errno)); return 1; }
    /* Never block in write on a full pipe (we would not notice the reader
     * leaving): non-blocking writes, and wait for room in the loop. A write
     * of at most PIPE_BUF bytes is still all or nothing. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t pos = 0, consumed = 0;
    double t0 = 0, last_read = mono();
    int started = 0, idle_out = 0;
    while (pos < total) {
        int unread = 0;
        if (ioctl(fd, FIONREAD, &unread) != 0) unread = 0;
        size_t c = pos - (size_t)unread;
        if (c > consumed) { consumed = c; last_read = mono(); }
        if (!started) {
            /* Before the first read, keep one chunk in the pipe and wait. */
            if (consumed == 0) {
                if (pos == 0) goto write_chunk;
                if (mono() - last_read > idle + 60) { idle_out = 1; break; }   /* nobody ever came */
                struct timespec nap = {0, 1000000};
                nanosleep(&nap, NULL);
                continue;
            }
            started = 1;
            t0 = mono() - (double)consumed / bps / speed;
        } else if (mono() - last_read > idle) {
            idle_out = 1;
            break;
        }
        sleep_until(t0 + (double)pos / bps / speed);
    write_chunk:;
        size_t k = total - pos < chunk ? total - pos : chunk;
        const unsigned char *src = pos < (size_t)len ? data + pos : zeros;
        if (pos < (size_t)len && (size_t)len - pos < k) k = (size_t)len - pos;
        ssize_t w = write(fd, src, k);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                struct timespec nap = {0, 1000000};
                nanosleep(&nap, NULL);
                continue;
            }
            fprintf(stderr, "pace_fifo: %s: %s\n", fifo, strerror(errno));
            return 1;
        }
        pos += (size_t)w;
        if (ilog < nlog) { log_a[ilog] = (double)pos / bps; log_w[ilog] = wall(); ilog++; }
    }
    /* Let the reader take what is left before we close (an end would be
     * read as silence at full speed). */
    while (!idle_out) {
        int unread = 0;
        if (ioctl(fd, FIONREAD, &unread) != 0 || unread == 0) break;
        if ((size_t)unread < pos - consumed) { consumed = pos - (size_t)unread; last_read = mono(); }
        if (mono() - last_read > idle) break;
        struct timespec nap = {0, 5000000};
        nanosleep(&nap, NULL);
    }
    close(fd);
    fprintf(stderr, "pace_fifo: wrote %.2f s of audio, %.2f s of it read%s\n", (double)pos / bps, (double)consumed / bps,
            idle_out ? " (then the reader stopped reading)" : "");
    if (log_path) {
        FILE *f = fopen(log_path, "w");
        if (!f) { fprintf(stderr, "pace_fifo: %s: %s\n", log_path, strerror(errno)); return 1; }
        for (size_t k = 0; k < ilog; k++) fprintf(f, "%.4f %.6f\n", log_a[k], log_w[k]);
        fclose(f);
    }
    free(data);
    free(zeros);
    free(log_a);
    free(log_w);
    return 0;
}
