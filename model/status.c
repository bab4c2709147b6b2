/* _GNU_SOURCE for sched_getaffinity / CPU_COUNT (glibc and musl both have them). */
#define _GNU_SOURCE
/* Error reporting and small file helpers shared by every module. */
#include "es_internal.h"
#include "es_commit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <signal.h>
#include <sched.h>

const char *es_status_str(es_status s)
{
    switch (s) {
    case ES_OK: return "ok";
    case ES_ERR_ARG: return "invalid argument";
    case ES_ERR_IO: return "i/o error";
    case ES_ERR_FORMAT: return "bad format";
    case ES_ERR_MODEL: return "unexpected model";
    case ES_ERR_NOMEM: return "out of memory";
    case ES_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

/* ES_VERSION as the library was compiled: the header a program includes
 * may be another copy's. */
const char *es_version(void)
{
    return ES_VERSION;
}

const char *es_version_commit(void)
{
    return ES_COMMIT;
}

/* The head of a message longer than the buffer was all that was kept:
 * "PATH: reason" with a path of a deep folder tree or long names (legal up
 * to PATH_MAX, 4096 bytes, eight times err->msg) lost its reason, and
 * `earshot train` said only "earshot: data/a/b/c/...". So a message that
 * does not fit keeps its start (where the path begins) and its end (the
 * reason, and the file name that ends the path), with "..." between, each
 * cut at a character boundary (the middle of a UTF-8 sequence is not cut). */
#define ES_MSG_HEAD 160

static int is_utf8_cont(unsigned char c) { return (c & 0xc0) == 0x80; }

void es_msg_elide(char *out, size_t size, const char *msg, size_t len)
{
    if (!size) return;
    if (len < size) { memcpy(out, msg, len + 1); return; }
    if (size < 16) {   /* no room for a head, "..." and a tail: the head */
        memcpy(out, msg, size - 1);
        out[size - 1] = 0;
        return;
    }
    size_t head = ES_MSG_HEAD < size / 2 ? ES_MSG_HEAD : size / 4;
    while (head > 0 && is_utf8_cont((unsigned char)msg[head])) head--;
    size_t tail = size - 1 - head - 3, from = len - tail;
    while (from < len && is_utf8_cont((unsigned char)msg[from])) from++;
    memcpy(out, msg, head);
    memcpy(out + head, "...", 3);
    memcpy(out + head + 3, msg + from, len - from + 1);
}

void es_vformat(char *out, size_t size, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    char small[512], *buf = size <= sizeof small ? small : malloc(size);
    int n = buf ? vsnprintf(buf, size, fmt, ap) : -1;
    char *full = n >= (int)size ? malloc((size_t)n + 1) : NULL;
    if (full) {
        vsnprintf(full, (size_t)n + 1, fmt, aq);
        es_msg_elide(out, size, full, (size_t)n);
        free(full);
    } else if (buf) {
        /* formatted apart from out: an argument may be a copy of it
         * (es_fail_in); without memory for the whole, the head */
        memcpy(out, buf, size);
    } else {
        vsnprintf(out, size, fmt, aq);
    }
    if (buf != small) free(buf);
    va_end(aq);
}

/* ----------------------------------------------------------- warnings */

/* Here, beside es_vformat, and not with the audio reader that first
 * needed them: the folder sync below warns too, and every part of the
 * library may. */

static es_warning_fn warn_fn;
static void *warn_user;

void es_set_warning_handler(es_warning_fn fn, void *user)
{
    warn_fn = fn;
    warn_user = user;
}

/* A file is often opened more than once (a probe of its length, then the
 * decoding; train's cache and its augmentation), and each open would warn
 * again. A message said before is not said again: the last WARN_SEEN
 * messages are remembered by hash. */
#define WARN_SEEN 256
static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t warn_seen[WARN_SEEN];
static size_t warn_next;

void es_warn(const char *fmt, ...)
{
    if (!warn_fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    es_vformat(msg, sizeof msg, fmt, ap);   /* a long path keeps the warning's end */
    va_end(ap);
    uint64_t h = 1469598103934665603u;   /* FNV-1a; 0 marks an empty slot */
    for (const char *p = msg; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211u;
    if (!h) h = 1;
    pthread_mutex_lock(&warn_lock);
    int seen = 0;
    for (size_t i = 0; i < WARN_SEEN && !seen; i++) seen = warn_seen[i] == h;
    if (!seen) warn_seen[warn_next++ % WARN_SEEN] = h;
    pthread_mutex_unlock(&warn_lock);
    if (!seen) warn_fn(warn_user, msg);
}


es_status es_fail(es_error *err, es_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        es_vformat(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

/* An open-addressing hash set (linear probing, at most half full), so a
 * walk of n folders costs O(n): the list searched from the start that
 * dataset.c and transcribe.c each kept made it O(n^2), seconds at 80,000
 * folders. An empty slot is all zeros, so (dev 0, ino 0), which no
 * folder has on Linux, is stored in a flag of its own. */
static unsigned long long id_hash(unsigned long long dev, unsigned long long ino)
{
    unsigned long long z = ino * 0x9e3779b97f4a7c15ULL ^ dev;   /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int id_empty(const struct es_fileid *f) { return f->dev == 0 && f->ino == 0; }

int es_idset_add(es_idset *s, unsigned long long dev, unsigned long long ino)
{
    if (dev == 0 && ino == 0) {
        /* the empty slot's value: kept apart (n counts it, v does not) */
        if (s->zero) return 1;
        s->zero = 1;
        s->n++;
        return 0;
    }
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct es_fileid *v = calloc(cap, sizeof *v);
        if (!v) return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (id_empty(&s->v[i])) continue;
            size_t k = (size_t)id_hash(s->v[i].dev, s->v[i].ino) & (cap - 1);
            while (!id_empty(&v[k])) k = (k + 1) & (cap - 1);
            v[k] = s->v[i];
        }
        free(s->v);
        s->v = v;
        s->cap = cap;
    }
    size_t k = (size_t)id_hash(dev, ino) & (s->cap - 1);
    for (;;) {
        s->probes++;
        if (id_empty(&s->v[k])) break;
        if (s->v[k].dev == dev && s->v[k].ino == ino) return 1;
        k = (k + 1) & (s->cap - 1);
    }
    s->v[k] = (struct es_fileid){dev, ino};
    s->n++;
    return 0;
}

void es_idset_free(es_idset *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = s->probes = 0;
    s->zero = 0;
}

es_status es_fail_in(es_error *err, es_status fallback, const char *what)
{
    if (!err) return fallback;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return es_fail(err, err->status, "%s: %s", what, msg);
}

/* ------------------------------------------------------------ atomic writes
 *
 * Every output earshot writes goes to <file>.tmp.<tag> in the same folder
 * (<tag>: the writing process, es_proc_tag)
 * and is renamed over <file> only when complete, so a reader, a crash or a
 * full disk never leaves half a file where a good one was. Three details a
 * plain "write then rename" gets wrong:
 *  - the new file takes the old one's permissions (a private 0600 profile
 *    stays private; rename would otherwise give it the umask's 0644);
 *  - a symbolic link is written through (the file it points to is replaced,
 *    not the link by a regular file);
 *  - a file the user may not write is refused, as an editor would, instead
 *    of being replaced because its folder is writable.
 * And a kill between create and rename: the temporary names in use are
 * registered, so es_atomic_cleanup_signal (async-signal-safe, called by the
 * CLI's SIGINT/SIGTERM/SIGHUP handler) can unlink them before the process
 * dies. The registry is fixed storage, no malloc: a slot is marked ready
 * only once its name is complete, so a handler never reads half a name. */

/* transcribe -d holds an input's formats (up to six) per worker at once;
 * a slot's page is touched only once it is used */
#define ATOMIC_SLOTS 256
static char atomic_name[ATOMIC_SLOTS][4096];
static volatile sig_atomic_t atomic_state[ATOMIC_SLOTS];   /* 0 free, 1 taken, 2 ready */

static int atomic_register(const char *tmp)
{
    if (strlen(tmp) >= sizeof atomic_name[0]) return -1;
    for (int i = 0; i < ATOMIC_SLOTS; i++) {
        sig_atomic_t zero = 0;
        if (__atomic_compare_exchange_n(&atomic_state[i], &zero, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            memcpy(atomic_name[i], tmp, strlen(tmp) + 1);
            __atomic_store_n(&atomic_state[i], 2, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1;   /* all busy: written unregistered (a kill may leave it) */
}

static void atomic_unregister(int slot)
{
    if (slot >= 0) __atomic_store_n(&atomic_state[slot], 0, __ATOMIC_RELEASE);
}

void es_atomic_cleanup_signal(void)
{
    for (int i = 0; i < ATOMIC_SLOTS; i++)
        if (__atomic_load_n(&atomic_state[i], __ATOMIC_ACQUIRE) == 2) unlink(atomic_name[i]);
}

/* A step of several renames that must not be cut in two by a catchable
 * signal: synth moves its label folders into place one rename each, and a
 * Ctrl-C between two left a dataset with some of its labels (which train
 * would read without a word, and which the next synth refused as existing);
 * transcribe's workers each rename an input's set of outputs (a .txt in
 * place without its .json). Several threads may be inside such a step at
 * once, so the state is one word, changed only by atomic operations (the
 * handler may run in any thread, OpenBLAS's too, and must never wait):
 * the low 16 bits count the threads inside a step, the bits above hold a
 * signal that came meanwhile. The last thread to leave raises it. */
static volatile int critical_state;
#define CRIT_COUNT 0xffff
#define CRIT_SIG_SHIFT 16

void es_critical_begin(void)
{
    __atomic_add_fetch(&critical_state, 1, __ATOMIC_SEQ_CST);
}

int es_critical_defer(int sig)
{
    int s = __atomic_load_n(&critical_state, __ATOMIC_SEQ_CST);
    for (;;) {
        if (!(s & CRIT_COUNT)) return 0;          /* no step under way: go on */
        if (s >> CRIT_SIG_SHIFT) return 1;        /* one deferred already: the end raises it */
        if (__atomic_compare_exchange_n(&critical_state, &s, s | (sig << CRIT_SIG_SHIFT), 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return 1;
    }
}

void es_critical_end(void)
{
    int s = __atomic_sub_fetch(&critical_state, 1, __ATOMIC_SEQ_CST);
    /* the last one out with a signal deferred raises it; if another step
     * begins first, the compare fails and that step's end will */
    while (!(s & CRIT_COUNT) && (s >> CRIT_SIG_SHIFT))
        if (__atomic_compare_exchange_n(&critical_state, &s, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            raise(s >> CRIT_SIG_SHIFT);
            return;
        }
}

/* A symbolic link to a file not there yet (realpath fails): the path it
 * names, following a chain of links, so the new file is made there, as
 * `> link` in a shell does, and the link stays. NULL for a loop. */
static char *dangling_target(const char *path)
{
    char cur[4096], buf[4096];
    snprintf(cur, sizeof cur, "%s", path);
    for (int hops = 0; hops < 40; hops++) {
        ssize_t n = readlink(cur, buf, sizeof buf - 1);
        if (n < 0) return NULL;
        buf[n] = 0;
        const char *slash = strrchr(cur, '/');
        if (buf[0] != '/' && slash) {   /* relative to the link's folder */
            char joined[8200];
            snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - cur), cur, buf);
            if (strlen(joined) >= sizeof cur) return NULL;
            memcpy(cur, joined, strlen(joined) + 1);
        } else {
            memcpy(cur, buf, (size_t)n + 1);
        }
        struct stat st;
        if (lstat(cur, &st) != 0) return errno == ENOENT ? strdup(cur) : NULL;
        if (!S_ISLNK(st.st_mode)) return NULL;
    }
    return NULL;
}

/* ---- the folder's own record of a rename ----
 *
 * fsync of the temporary file makes its bytes durable, not its name: the
 * rename is a change to the folder, and until the folder is synced a power
 * cut can bring back the old file (or none) even though earshot said
 * "wrote" and exited 0 (ext4 commits its journal every 5 s; XFS and btrfs
 * have windows of their own). So a durable write syncs the folder after
 * its rename: 2 ms here, nothing next to writing a model. A command that
 * writes thousands of files (transcribe -d: 3,000 inputs x 2 formats would
 * spend 12 s) defers: the folders are collected and each is synced once,
 * at the end of the run or when es_dirsync_flush is called. A kill before
 * that loses no bytes, only the guarantee for the last few seconds' names,
 * which is what the file system gives any program that does not ask.
 *
 * Best effort: a file system that cannot sync a folder (EINVAL on some
 * FUSE and network mounts) or a folder that cannot be opened is skipped.
 * The file is in place either way; failing the command then would report
 * a write that did happen as one that did not. A sync that the file
 * system tried and failed (EIO, ENOSPC) is said, though, as a warning:
 * the names written may not survive a power cut, and a disk that fails
 * its syncs is worth knowing about before the next write. */
static pthread_mutex_t dirsync_mu = PTHREAD_MUTEX_INITIALIZER;
static int dirsync_depth;
static char **dirsync_dirs;
static size_t dirsync_n, dirsync_cap;

int es_dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd), e = errno;
    close(fd);
    if (r != 0 && (e == EINVAL || e == ENOTSUP || e == EROFS)) r = 0;
    if (r != 0)
        es_warn("%s: the folder could not be synced (%s): the names just written into it may not survive a power cut",
                dir, strerror(e));
    errno = e;
    return r;
}

/* The folder that holds path ("." for a bare name), malloc'd. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* path's folder records a new or renamed name: sync it now, or note it
 * for the flush. Out of memory while noting: synced now instead. */
static void dirsync_after(const char *path)
{
    char *dir = folder_of(path);
    if (!dir) return;
    pthread_mutex_lock(&dirsync_mu);
    if (dirsync_depth > 0) {
        /* a run's outputs go to few folders, most often the last one */
        for (size_t i = dirsync_n; i-- > 0;) {
            if (!strcmp(dirsync_dirs[i], dir)) {
                pthread_mutex_unlock(&dirsync_mu);
                free(dir);
                return;
            }
        }
        if (dirsync_n == dirsync_cap) {
            size_t cap = dirsync_cap ? 2 * dirsync_cap : 16;
            char **grown = realloc(dirsync_dirs, cap * sizeof *grown);
            if (grown) { dirsync_dirs = grown; dirsync_cap = cap; }
        }
        if (dirsync_n < dirsync_cap) {
            dirsync_dirs[dirsync_n++] = dir;
            pthread_mutex_unlock(&dirsync_mu);
            return;
        }
    }
    pthread_mutex_unlock(&dirsync_mu);
    (void)es_dir_sync(dir);
    free(dir);
}

void es_dirsync_flush(void)
{
    pthread_mutex_lock(&dirsync_mu);
    char **dirs = dirsync_dirs;
    size_t n = dirsync_n;
    dirsync_dirs = NULL;
    dirsync_n = dirsync_cap = 0;
    pthread_mutex_unlock(&dirsync_mu);
    for (size_t i = 0; i < n; i++) {
        (void)es_dir_sync(dirs[i]);
        free(dirs[i]);
    }
    free(dirs);
}

void es_dirsync_defer_begin(void)
{
    pthread_mutex_lock(&dirsync_mu);
    dirsync_depth++;
    pthread_mutex_unlock(&dirsync_mu);
}

void es_dirsync_defer_end(void)
{
    pthread_mutex_lock(&dirsync_mu);
    int last = dirsync_depth > 0 && --dirsync_depth == 0;
    pthread_mutex_unlock(&dirsync_mu);
    if (last) es_dirsync_flush();
}

es_status es_atomic_begin(es_atomic *a, const char *path, es_error *err)
{
    memset(a, 0, sizeof *a);
    a->slot = -1;
    a->durable = 1;
    struct stat lst, st;
    char *real = NULL;
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        real = realpath(path, NULL);
        /* dangling: the rename replaced the link itself with the file
         * (not a link that resolves to no path, /dev/stdout to a pipe) */
        if (!real && stat(path, &st) != 0) {
            if (errno == ENOENT) real = dangling_target(path);
            /* a loop of links: the rename would replace the first link
             * with a file; what was meant is not knowable */
            else if (errno == ELOOP) return es_fail(err, ES_ERR_IO, "%s: a loop of symbolic links, not a file", path);
        }
    }
    const char *target = real ? real : path;
    if (stat(target, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            free(real);
            return es_fail(err, ES_ERR_IO, "%s: is a directory, not a file", path);
        }
        /* a device, named pipe or socket (-o /dev/null, /dev/stdout): the
         * rename would put a regular file in its place, not write to it;
         * as root, in /dev, for every program on the machine */
        if (!S_ISREG(st.st_mode)) {
            free(real);
            return es_fail(err, ES_ERR_IO, "%s: is a device, pipe or socket, not a file", path);
        }
        if (access(target, W_OK) != 0 && errno == EACCES) {
            free(real);
            return es_fail(err, ES_ERR_IO, "%s: not replaced: the file is read-only (mode %03o)", path,
                           (unsigned)(st.st_mode & 0777));
        }
        a->have_mode = 1;
        a->mode = st.st_mode & 07777;
    }
    size_t pl = strlen(target);
    a->path = real ? real : strdup(path);
    a->tmp = malloc(pl + 8 + ES_PROC_TAG_MAX);
    if (!a->path || !a->tmp) { es_atomic_abort(a); return es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path); }
    char tag[ES_PROC_TAG_MAX];
    snprintf(a->tmp, pl + 8 + ES_PROC_TAG_MAX, "%s.tmp.%s", a->path, es_proc_tag(tag));
    a->slot = atomic_register(a->tmp);
    return ES_OK;
}

es_status es_atomic_commit(es_atomic *a, int fd, const char *shown, es_error *err)
{
    /* the old file's permissions, before the name points at the new one;
     * best effort: a file system without modes (FAT) may refuse, and the
     * output matters more than its mode there */
    if (a->have_mode && fd >= 0) (void)!fchmod(fd, a->mode);
    if (rename(a->tmp, a->path) != 0) {
        es_status s = es_fail(err, ES_ERR_IO, "%s: cannot write: %s", shown, strerror(errno));
        es_atomic_abort(a);
        return s;
    }
    atomic_unregister(a->slot);
    if (a->durable) dirsync_after(a->path);
    free(a->tmp);
    free(a->path);
    memset(a, 0, sizeof *a);
    a->slot = -1;
    return ES_OK;
}

void es_atomic_abort(es_atomic *a)
{
    if (a->tmp) unlink(a->tmp);
    atomic_unregister(a->slot);
    free(a->tmp);
    free(a->path);
    memset(a, 0, sizeof *a);
    a->slot = -1;
}

/* SIGKILL, a crash or a power cut runs no handler: the temporary file of
 * the write under way stays, <file>.tmp.<tag>, and nothing else ever
 * removes it (the tag differs next time). The next run that writes the
 * same output removes it, once the process its tag names is gone (see
 * es_tag_state). A live writer's temporary file (a second earshot writing
 * there now) is left alone, or its rename would fail. 1 = a stale name. */
static int stale_tmp(const char *name, size_t stem_len)
{
    const char *p = name + stem_len;
    if (strncmp(p, ".tmp.", 5)) return 0;
    return es_tag_state(p + 5) == ES_TAG_GONE;
}

int es_pid_gone(long pid)
{
    /* ESRCH: no such process; EPERM means it exists (another user's) */
    return pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* ------------------------------------------------------------ process tags
 *
 * Leftovers of killed runs are told from the work of live ones by the
 * process named in them. A pid alone misleads once it is reused: the
 * leftover of a run killed last week was "busy" for as long as some
 * unrelated process with its pid ran, and in a container, where pids
 * start again from 1 at each start, for ever (the same few pids come back
 * every time, and even this process's own pid may be a dead run's). So a
 * tag is the pid and the process's start time, field 22 of
 * /proc/<pid>/stat (clock ticks since boot), which no two processes of one
 * pid share: a leftover is live only while a process of its pid started
 * when it says. Where /proc cannot tell (not Linux, not mounted, hidden),
 * the tag is the pid alone and so is the judgement, as for the names of
 * older earshots. */

/* The start time of process pid; 0 when /proc does not say. */
static unsigned long long proc_start(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf - 1)) < 0 && errno == EINTR) {}
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    /* "pid (comm) state ...": comm may hold spaces and parentheses, so
     * the fields are counted from its last ')', the end of field 2 */
    const char *q = strrchr(buf, ')');
    for (int f = 2; q && f < 22; f++) q = strchr(q + 1, ' ');
    if (!q) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(q + 1, &end, 10);
    return end == q + 1 || errno || (*end != ' ' && *end != '\n' && *end) ? 0 : v;
}

/* This process's start time, read once: tag_pid says whose it is (a
 * fork child reads its own). No lock, which a fork could leave held:
 * threads that race both read the same number, and the release/acquire
 * pair publishes tag_start before tag_pid. */
static _Atomic long tag_pid;
static _Atomic unsigned long long tag_start;

const char *es_proc_tag(char buf[ES_PROC_TAG_MAX])
{
    long pid = (long)getpid();
    unsigned long long start;
    if (atomic_load_explicit(&tag_pid, memory_order_acquire) == pid) {
        start = atomic_load_explicit(&tag_start, memory_order_relaxed);
    } else {
        start = proc_start(pid);
        atomic_store_explicit(&tag_start, start, memory_order_relaxed);
        atomic_store_explicit(&tag_pid, pid, memory_order_release);
    }
    if (start) snprintf(buf, ES_PROC_TAG_MAX, "%ld-%llu", pid, start);
    else snprintf(buf, ES_PROC_TAG_MAX, "%ld", pid);
    return buf;
}

int es_tag_state(const char *tag)
{
    long pid = 0;
    unsigned long long start = 0;
    const char *p = tag;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (pid > 100000000L) return ES_TAG_NONE;
        pid = pid * 10 + (*p - '0');
    }
    if (p == tag || pid <= 0) return ES_TAG_NONE;
    if (*p == '-') {
        const char *q = ++p;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (start > 1000000000000000000ULL) return ES_TAG_NONE;
            start = start * 10 + (unsigned long long)(*p - '0');
        }
        if (p == q || !start) return ES_TAG_NONE;
    }
    if (*p) return ES_TAG_NONE;
    if (pid == (long)getpid()) {
        /* ours, unless it names another start: a run before a restart of
         * the container that had this pid too */
        char mine[ES_PROC_TAG_MAX];
        const char *dash = strchr(es_proc_tag(mine), '-');
        return start && dash && strtoull(dash + 1, NULL, 10) != start ? ES_TAG_GONE : ES_TAG_LIVE;
    }
    if (es_pid_gone(pid)) return ES_TAG_GONE;
    if (!start) return ES_TAG_LIVE;
    unsigned long long now = proc_start(pid);
    /* (0: /proc cannot tell, or the process ended since kill: the pid
     * decides, as without /proc, and the next sweep sees it gone) */
    return now && now != start ? ES_TAG_GONE : ES_TAG_LIVE;
}

size_t es_atomic_remove_stale(const char *path)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if (snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path) >= (int)sizeof dir) return 0;
    size_t bl = strlen(base), removed = 0;
    if (!bl) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char full[8200];
        if (strncmp(de->d_name, base, bl) || !stale_tmp(de->d_name, bl)) continue;
        if (snprintf(full, sizeof full, "%s/%s", dir, de->d_name) >= (int)sizeof full) continue;
        removed += unlink(full) == 0;
    }
    closedir(d);
    return removed;
}

/* The same for every output in a folder earshot writes into (embed -o,
 * transcribe -d, --save-clips), down `depth` levels of sub-folders. Only
 * names of the kinds earshot writes (<name>.<ext>.tmp.<tag>, ext one of
 * ours) go: the folder may hold the user's own files. */
size_t es_atomic_remove_stale_in(const char *dir, int depth)
{
    static const char *const EXT[] = {".npy", ".wav", ".txt", ".json", ".csv", ".srt", ".vtt", ".svg", ".safetensors"};
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t removed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char full[8200];
        if (snprintf(full, sizeof full, "%s/%s", dir, de->d_name) >= (int)sizeof full) continue;
        /* a sub-folder (not a link to one: no loops), whatever its name */
        struct stat st;
        int isdir = de->d_type == DT_DIR || (de->d_type == DT_UNKNOWN && lstat(full, &st) == 0 && S_ISDIR(st.st_mode));
        if (isdir) {
            if (depth > 0) removed += es_atomic_remove_stale_in(full, depth - 1);
            continue;
        }
        const char *t = strstr(de->d_name, ".tmp.");
        if (!t) continue;
        /* the last ".tmp." (a name may contain the string itself) */
        for (const char *n; (n = strstr(t + 1, ".tmp.")); t = n) {}
        size_t stem = (size_t)(t - de->d_name);
        int ours = 0;
        for (size_t i = 0; i < sizeof EXT / sizeof *EXT; i++) {
            size_t el = strlen(EXT[i]);
            if (stem > el && !strncmp(de->d_name + stem - el, EXT[i], el)) ours = 1;
        }
        if (ours && stale_tmp(de->d_name, stem)) removed += unlink(full) == 0;
    }
    closedir(d);
    return removed;
}

es_status es_write_atomic(const char *path, const void *data, size_t len, es_error *err)
{
    return es_write_atomic_ex(path, data, len, 1, err);
}

/* durable = 0 skips the fsync: the rename still means no reader ever sees
 * a half-written file while the machine runs, but after a power cut the
 * new file may be empty or short. That is right for cache entries only,
 * whose readers check every entry and recompute a bad one; fsync costs
 * about 3 ms an entry here, a fifth of a clip's compute. */
es_status es_write_atomic_ex(const char *path, const void *data, size_t len, int durable, es_error *err)
{
    es_atomic a;
    es_status s = es_atomic_write_tmp(&a, path, data, len, durable, err);
    return s ? s : es_atomic_commit(&a, -1, path, err);
}

/* Everything of es_write_atomic_ex but the rename: a failed write has
 * ended `a` already (its temporary file gone), a successful one leaves it
 * for es_atomic_commit or es_atomic_abort. */
es_status es_atomic_write_tmp(es_atomic *a, const char *path, const void *data, size_t len, int durable, es_error *err)
{
    es_status s = es_atomic_begin(a, path, err);
    if (s) return s;
    a->durable = durable;
    FILE *f = fopen(a->tmp, "wb");
    if (!f) {
        s = es_fail(err, ES_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        es_atomic_abort(a);
        return s;
    }
    int ok = len == 0 || fwrite(data, 1, len, f) == len;
    ok = (fflush(f) == 0) && ok;
    if (durable) ok = (fsync(fileno(f)) == 0) && ok;
    int e = errno;
    if (ok && a->have_mode) (void)!fchmod(fileno(f), a->mode);   /* best effort, as in es_atomic_commit */
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        s = es_fail(err, ES_ERR_IO, "%s: cannot write: %s", path, strerror(e ? e : errno));
        es_atomic_abort(a);
        return s;
    }
    return ES_OK;
}

/* mkdir -p: every missing component, tolerating ones that appear
 * meanwhile (another process or thread creating the same path). */
es_status es_make_dirs(const char *path, es_error *err)
{
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) return es_fail(err, ES_ERR_NOMEM, "out of memory");
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) == 0) {
            dirsync_after(p);   /* the new folder's name, like a renamed file's */
        } else if (errno != EEXIST) {
            es_status s = es_fail(err, ES_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return s;
        }
        p[i] = c;
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return es_fail(err, ES_ERR_IO, "%s: not a directory", path);
    return ES_OK;
}

es_status es_read_file(const char *path, unsigned char **data, size_t *len, es_error *err)
{
    *data = NULL;
    *len = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return es_fail(err, ES_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return es_fail(err, ES_ERR_IO, "%s: is a directory, not a file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return es_fail(err, ES_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = st.st_size > 0 ? (size_t)st.st_size : 4096, n = 0;
    unsigned char *buf = malloc(cap + 1);
    if (!buf) { fclose(f); return es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path); }
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        unsigned char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) { free(buf); fclose(f); return es_fail(err, ES_ERR_NOMEM, "%s: out of memory", path); }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return es_fail(err, ES_ERR_IO, "%s: read error", path); }
    *data = buf;
    *len = n;
    return ES_OK;
}

/* ------------------------------------------------------------ threads */

/* Every library call reads the count, on whichever thread it runs, and
 * es_set_threads may change it from any thread (it is process-wide; train
 * switches it around its parallel jobs), so it is atomic. The first reads
 * also settle the default, and the first calls of a program may come from
 * several threads at once (an engine per thread): as a plain int that was
 * a data race, which ThreadSanitizer reported. Relaxed order is enough:
 * the count guards no other data, and a call that reads it twice (the
 * encoder) gets the same results with either count. */
static atomic_int g_threads;   /* 0 = not chosen yet */

void es_set_threads(int n)
{
    if (n < 1) n = 0;
    atomic_store_explicit(&g_threads, n > 64 ? 64 : n, memory_order_relaxed);
    /* OpenBLAS to one thread, once: setting its count again would start
     * the server threads es_blas_init shut down (model/blas.c) */
    es_blas_init();
}

int es_cpu_threads(void)
{
    /* the CPUs this process may run on (taskset, cgroups), not all online */
    long c = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) c = CPU_COUNT(&set);
#endif
    return c < 1 ? 1 : c > 8 ? 8 : (int)c;
}

int es_threads(void)
{
    int t = atomic_load_explicit(&g_threads, memory_order_relaxed);
    if (t) return t;
    t = es_cpu_threads();
    /* a count set meanwhile by es_set_threads wins over the default */
    int unset = 0;
    if (!atomic_compare_exchange_strong_explicit(&g_threads, &unset, t, memory_order_relaxed, memory_order_relaxed))
        t = unset;
    es_blas_init();
    return t;
}

typedef struct {
    void (*fn)(void *, int);
    void *ctx;
    int first, n, stride;
} job;

/* One thread runs indices first, first + stride, ... below n. */
static void *run_job(void *p)
{
    job *j = p;
    for (int i = j->first; i < j->n; i += j->stride) j->fn(j->ctx, i);
    return NULL;
}

/* fn(ctx, i) for i in [0, n) on nt threads (1 <= nt <= MAXT), round robin */
enum { MAXT = 64 };
static void spread(int n, int nt, void (*fn)(void *ctx, int i), void *ctx)
{
    if (n <= 0) return;
    if (nt > MAXT) nt = MAXT;
    if (n == 1 || nt <= 1) {
        for (int i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    pthread_t th[MAXT];
    job jobs[MAXT];
    int started[MAXT] = {0};
    for (int i = 0; i < nt; i++) jobs[i] = (job){fn, ctx, i, n, nt};
    for (int i = 1; i < nt; i++) started[i] = pthread_create(&th[i], NULL, run_job, &jobs[i]) == 0;
    run_job(&jobs[0]);
    for (int i = 1; i < nt; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        else run_job(&jobs[i]);   /* could not start a thread: do its share here */
    }
}

void es_parallel_for(int n, void (*fn)(void *ctx, int i), void *ctx)
{
    spread(n, n < MAXT ? n : MAXT, fn, ctx);   /* more indices than threads: each takes several */
}

void es_parallel_parts(int n, void (*fn)(void *ctx, int i), void *ctx)
{
    int t = es_threads();
    if (t > MAXT) t = MAXT;
    spread(n, n < t ? n : t, fn, ctx);
}

int es_rm_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb)) return -1;
    if (!S_ISDIR(sb.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *de;
    int bad = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4200];
        if (snprintf(p, sizeof p, "%s/%s", path, de->d_name) >= (int)sizeof p) { bad = 1; continue; }
        bad |= es_rm_tree(p) != 0;
    }
    closedir(d);
    return bad ? -1 : rmdir(path);
}

unsigned long long es_tree_bytes(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb)) return 0;
    unsigned long long n = (unsigned long long)sb.st_blocks * 512u;
    if (!S_ISDIR(sb.st_mode)) return n;
    DIR *d = opendir(path);
    if (!d) return n;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4200];
        if (snprintf(p, sizeof p, "%s/%s", path, de->d_name) >= (int)sizeof p) continue;
        n += es_tree_bytes(p);
    }
    closedir(d);
    return n;
}

/* ------------------------------------------------------------ UTF-8, JSON */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if there is none. */
size_t es_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t k;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) k = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else return 0;
    if (n < k || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return k;
}

char *es_json_quote(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    /* worst case: every byte becomes \ufffd (6) or \u00XX (6) */
    char *out = malloc(6 * n + 3), *o = out;
    if (!out) return NULL;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        size_t k = es_utf8_seq(s + i, n - i);
        if (!k) {
            o += sprintf(o, "\\ufffd");
            i++;
        } else if (s[i] == '"' || s[i] == '\\') {
            *o++ = '\\';
            *o++ = (char)s[i++];
        } else if (s[i] < 0x20) {
            o += sprintf(o, "\\u%04x", s[i++]);
        } else {
            memcpy(o, s + i, k);
            o += k;
            i += k;
        }
    }
    *o++ = '"';
    *o = 0;
    return out;
}

/* A copy of str with bad bytes as U+FFFD (malloc'd; NULL when out of memory). */
static char *utf8_lossy(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    char *out = malloc(3 * n + 1), *o = out;   /* a bad byte becomes 3 */
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = es_utf8_seq(s + i, n - i);
        if (!k) {
            memcpy(o, "\xef\xbf\xbd", 3);   /* U+FFFD */
            o += 3;
            i++;
        } else {
            memcpy(o, s + i, k);
            o += k;
            i += k;
        }
    }
    *o = 0;
    return out;
}

/* One C locale object for the whole process, made on first use (glibc
 * hands out its built-in one for "C"; elsewhere it is allocated once and
 * kept). */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_make(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

locale_t es_c_locale_push(void)
{
    pthread_once(&c_locale_once, c_locale_make);
    if (!c_locale) return (locale_t)0;
    /* the thread's previous locale: LC_GLOBAL_LOCALE when it had none of
     * its own, which pop hands back to uselocale as it is */
    return uselocale(c_locale);
}

void es_c_locale_pop(locale_t was)
{
    if (was) uselocale(was);
}

int es_ascii_ncasecmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int x = es_ascii_lower((unsigned char)a[i]), y = es_ascii_lower((unsigned char)b[i]);
        if (x != y || !x) return x - y;
    }
    return 0;
}

int es_ascii_casecmp(const char *a, const char *b)
{
    return es_ascii_ncasecmp(a, b, (size_t)-1);
}

char *es_utf8_fix(char *str)
{
    if (!str || es_utf8_valid(str)) return str;
    char *u = utf8_lossy(str);
    free(str);
    return u;
}

int es_utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    for (size_t i = 0; i < n;) {
        size_t k = es_utf8_seq(s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}
