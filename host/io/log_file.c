/*
 * log_file — the rotating file sink: appends records to a file, rotates it
 * by size (path -> path.1 ... path.keep, or emptied in place with keep 0)
 * and at local midnight, reopens it on log_reopen and by itself when its
 * path no longer names the open file, and retries a file it could not
 * open. A file that fails counts its lost records as "file" drops and
 * warns on the other sinks, at most once a minute.
 *
 * Rotation is cheap where it runs. `write` only marks where in the round's
 * lines the file must rotate; `flush`, after the writer gave the ring space
 * back, writes the lines before the mark, rotates and writes the rest. A
 * rotation is then a few renames that replace nothing and one open: the
 * oldest file is opened and unlinked first, so no rename lands on an
 * existing file (on ext4 that forces the moved file's data out, some
 * milliseconds for 10 MiB), and its blocks -- whose freeing is what costs
 * (4-20 ms for 10 MiB on a discard-mounted ext4) -- are given back later
 * through the descriptor kept open, ROT_STEP bytes per writer round.
 *
 * Threads: log_setup opens the file on the main thread, so that it can
 * return the error; from then on the sink is the writer thread's alone
 * (io/log_writer.c), so nothing here takes a lock. The records of one round
 * of the writer go out with one write(2) (two around a rotation).
 */
#include "io/log_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/safe_open.h"
#include "lib/numfmt.h"
#include "lib/util.h"

#define CHECK_NS 1000000000LL              /* file still at its path? at most 1/s */
#define WARN_NS (60LL * 1000000000LL)      /* one warning a minute per file sink */
#define ROT_STEP (1 << 20)                 /* bytes of a rotated-out file freed per round */

/* Any thread increments (the writer, in practice), metrics read: relaxed,
 * never reset. */
static atomic_uint_fast64_t g_dropped;

/* A file sink: made by log_setup (main thread), then the writer's alone. */
struct file_sink {
    struct log_sink base;
    char *path;
    size_t path_len;
    char *from, *to;          /* room for path.N while rotating */
    int fd;                   /* -1 while it cannot be opened */
    bool regular;             /* rotation and the moved-away check need a regular file */
    bool midline;             /* the last write stopped inside a line */
    uint64_t max_size;        /* 0: never rotate on size */
    uint64_t size;            /* bytes in the file, as far as we know */
    unsigned keep;
    bool daily;
    time_t next_midnight;     /* local midnight, when daily */
    dev_t dev;                /* of the open file, to notice a move */
    ino_t ino;
    int64_t next_check;       /* mono ns: next stat, retry, midnight or warning check */
    int64_t no_rotate_until;  /* mono ns: after a failed rotation */
    int err;                  /* errno of the last failure, 0 when healthy */
    const char *err_op;       /* "open", "write", "rotate" */
    const char *refused;      /* the rotated name a rotation refused (a link), or NULL */
    int64_t last_warn;        /* mono ns of the last warning, 0: never */
    uint64_t unwarned;        /* records dropped since the last warning */
    bool in_use;              /* started: crash reports may use fd */
    struct buf out;           /* lines of the current round */
    uint64_t proj;            /* bytes the file holds once out is written, since
                                 the last cut */
    size_t *cuts;             /* offsets in out where the file rotates */
    size_t n_cuts, cap_cuts;
    int doomed;               /* the oldest rotated file, unlinked, being freed
                                 ROT_STEP at a time; -1: none */
    off_t doomed_size;
};

static void count_drops(uint64_t n)
{
    if (n)
        atomic_fetch_add_explicit(&g_dropped, n, memory_order_relaxed);
}

static uint64_t file_dropped(void)
{
    return atomic_load_explicit(&g_dropped, memory_order_relaxed);
}

/* Opens the path for appending; 0 or -errno. Through core/safe_open.h:
 * never through a symbolic link (at the path or on the way), never into a
 * file that is not ours or has other hard links, and without waiting on a
 * FIFO that has no reader; the last directory is made when missing. */
static int file_open(struct file_sink *f)
{
    struct safe_error e;
    struct stat st;
    int fd = safe_open(f->path, O_WRONLY | O_APPEND | O_CREAT, 0640, SAFE_WRITE | SAFE_MKDIR, &st,
                       &e);

    if (fd < 0)
        return fd;
    f->fd = fd;
    f->regular = S_ISREG(st.st_mode);
    f->size = f->regular ? (uint64_t)st.st_size : 0;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->midline = false;
    f->proj = f->size;
    return 0;
}

static void file_close_fd(struct file_sink *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

/* A crash report writes to the descriptor in use (core/crash.c). */
static void publish_fd(const struct file_sink *f)
{
    if (f->in_use)
        log_queue_set_crash_fd(f->fd);
}

/* event=log_sink_error sink=file ... dropped=N on the other sinks, at most
 * once a minute. */
static void file_warn(struct file_sink *f)
{
    int64_t now = mono_ns();
    struct log_record *r;
    char errbuf[128], num[NUMFMT_MAX];

    if (f->last_warn && now - f->last_warn < WARN_NS)
        return;
    f->last_warn = now;
    r = log_record_get();
    log_record_open(r, JH_LOG_WARN, "log_sink_error", NULL);
    log_record_add_str(r, "sink", "file");
    log_record_add_str(r, "path", f->refused ? f->refused : f->path);
    f->refused = NULL;
    log_record_add_str(r, "op", f->err_op ? f->err_op : "write");
    log_record_add_str(r, "error", f->err ? safe_strerror(f->err, errbuf, sizeof(errbuf)) : "none");
    (void)log_record_add(r, "dropped", 7, num, (size_t)(numfmt_u64(num, f->unwarned) - num));
    log_record_end(r);
    f->unwarned = 0;
    log_writer_emit(r, JH_LOG_WARN, "log_sink_error");
}

/* Counts `lost` records against the file sink and warns. */
static void file_fail(struct file_sink *f, const char *op, int err, uint64_t lost)
{
    count_drops(lost);
    f->unwarned += lost;
    f->err = err;
    f->err_op = op;
    file_warn(f);
}

/* Writes out[from, to) to the file: one write(2), more only on short
 * writes. The bytes from `from` on are published for a crash report while
 * they are being written: their ring space is already given back. */
static void write_segment(struct file_sink *f, size_t from, size_t to)
{
    const char *p = f->out.data + from;
    size_t n = to - from, done = 0;
    int rc;

    if (n == 0)
        return;
    if (f->fd < 0) {
        file_fail(f, f->err_op ? f->err_op : "open", f->err, log_count_lines(p, n));
        return;
    }
    if (f->midline && log_write_all(f->fd, "\n", 1, NULL) == 0)
        f->midline = false;
    if (f->in_use)
        log_queue_set_crash_pending(p, f->out.len - from);
    rc = log_write_all(f->fd, p, n, &done);
    f->size += done;
    if (rc < 0) {
        f->midline = done > 0 && p[done - 1] != '\n';
        file_fail(f, "write", -rc, log_count_lines(p + done, n - done));
    } else if (f->err) {
        f->err = 0; /* healthy again; drops not yet warned about still will be */
    }
}

static void file_rotate(struct file_sink *f);

/* Writes the round's lines, rotating where file_write marked it. */
static void file_flush(struct log_sink *s)
{
    struct file_sink *f = (struct file_sink *)s;
    size_t start = 0;

    if (f->out.len == 0)
        return;
    for (size_t i = 0; i <= f->n_cuts; i++) {
        size_t end = i < f->n_cuts ? f->cuts[i] : f->out.len;
        write_segment(f, start, end);
        if (i < f->n_cuts)
            file_rotate(f);
        start = end;
    }
    if (f->in_use)
        log_queue_set_crash_pending(NULL, 0);
    buf_reset(&f->out);
    f->n_cuts = 0;
    f->proj = f->size;
}

static void file_reopen(struct file_sink *f)
{
    int rc;

    file_flush(&f->base);
    file_close_fd(f);
    rc = file_open(f);
    publish_fd(f);
    if (rc < 0)
        file_fail(f, "open", -rc, 0);
    else
        f->err = 0;
}

static time_t next_local_midnight(time_t now)
{
    struct tm tm;

    localtime_r(&now, &tm);
    tm.tm_hour = 0;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_mday += 1;
    tm.tm_isdst = -1;
    return mktime(&tm);
}

/* "path.n" into out (room for path_len + 16 bytes). */
static const char *numbered(char *out, const struct file_sink *f, unsigned n)
{
    char *o = out;

    memcpy(o, f->path, f->path_len);
    o += f->path_len;
    *o++ = '.';
    *numfmt_u64(o, n) = '\0';
    return out;
}

/* One step of freeing the rotated-out file: ROT_STEP bytes less, closed
 * when empty. */
static void doomed_step(struct file_sink *f)
{
    off_t next;

    if (f->doomed < 0)
        return;
    next = f->doomed_size > ROT_STEP ? f->doomed_size - ROT_STEP : 0;
    if (ftruncate(f->doomed, next) < 0)
        next = 0; /* close frees the rest at once */
    f->doomed_size = next;
    if (next == 0) {
        close(f->doomed);
        f->doomed = -1;
    }
}

/* path.keep leaves the directory now and its blocks later: it is opened,
 * then unlinked, and the descriptor kept for doomed_step. A file still
 * being freed from the rotation before goes at once. */
static void doom_oldest(struct file_sink *f)
{
    const char *oldest = numbered(f->from, f, f->keep);
    struct stat st;
    int fd;

    if (f->doomed >= 0) {
        close(f->doomed); /* rotations outpace the steps: free it all now */
        f->doomed = -1;
    }
    fd = open(oldest, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return; /* none yet (or not ours to open: the rename replaces it) */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || unlink(oldest) < 0) {
        close(fd);
        return;
    }
    f->doomed = fd;
    f->doomed_size = st.st_size;
}

/* path.(keep-1) -> path.keep ... path -> path.1, then a new path; with keep 0
 * the file is emptied in place. Regular files only: never /dev/anything.
 * Called with the round's lines before this point written. */
static void file_rotate(struct file_sink *f)
{
    int64_t t0 = mono_ns();
    int rc = 0;

    if (!f->regular || f->fd < 0)
        return;
    log_queue_rotating(true);
    if (f->keep == 0) {
        if (ftruncate(f->fd, 0) == 0)
            f->size = 0;
        else
            rc = -errno;
        goto out;
    }
    doom_oldest(f);
    /* Oldest first, so that each name is free when the next one moves to it. */
    for (unsigned i = f->keep - 1; i >= 1; i--) {
        if (safe_rename(numbered(f->from, f, i), numbered(f->to, f, i + 1), &f->refused) < 0 &&
            errno != ENOENT) {
            rc = -errno;
            goto out;
        }
    }
    if (safe_rename(f->path, numbered(f->to, f, 1), &f->refused) < 0 && errno != ENOENT) {
        rc = -errno;
        goto out;
    }
    file_close_fd(f);
    rc = file_open(f);
    publish_fd(f);
    if (rc < 0) {
        file_fail(f, "open", -rc, 0);
        rc = 0; /* already reported */
    }
out:
    if (rc < 0) {
        /* Go on appending; try again in a second, not on every record. */
        f->no_rotate_until = mono_ns() + CHECK_NS;
        file_fail(f, "rotate", -rc, 0);
    }
    log_queue_rotated((uint64_t)(mono_ns() - t0));
    log_queue_rotating(false);
}

/* Queues one line for the file; marks a rotation first when it would pass
 * max_size (file_flush rotates there). */
static void file_write(struct log_sink *s, const struct log_line *l)
{
    struct file_sink *f = (struct file_sink *)s;

    if (f->fd >= 0 && f->regular && f->max_size && f->proj + l->len > f->max_size &&
        f->proj > 0 && mono_ns() >= f->no_rotate_until) {
        if (f->n_cuts == f->cap_cuts) {
            f->cap_cuts = f->cap_cuts ? 2 * f->cap_cuts : 4;
            f->cuts = xrealloc(f->cuts, f->cap_cuts * sizeof(*f->cuts));
        }
        f->cuts[f->n_cuts++] = f->out.len;
        f->proj = 0;
    }
    if (f->fd < 0) {
        count_drops(1);
        f->unwarned++;
        return;
    }
    buf_append(&f->out, log_line_text(l), l->len);
    f->proj += l->len;
}

static bool file_pending(struct log_sink *s)
{
    return ((struct file_sink *)s)->doomed >= 0;
}

/* Before a batch, at most once a second (and on log_reopen): reopen when the
 * path no longer names our file (moved away, deleted), retry a file that
 * could not be opened, pick up the size after a copytruncate, rotate at
 * midnight, repeat a warning. An idle writer checks nothing: with no record
 * to write, a moved file does not matter yet. */
static void file_tick(struct log_sink *s, bool reopen)
{
    struct file_sink *f = (struct file_sink *)s;
    int64_t now = mono_ns();
    struct stat st;

    doomed_step(f);
    if (!reopen && now < f->next_check)
        return;
    f->next_check = now + CHECK_NS;
    if (reopen || f->fd < 0) {
        file_reopen(f);
    } else if (f->regular) {
        if (lstat(f->path, &st) < 0 || st.st_dev != f->dev || st.st_ino != f->ino)
            file_reopen(f);
        else
            f->size = (uint64_t)st.st_size;
    }
    if (f->daily) {
        time_t t = time(NULL);
        if (f->next_midnight == 0) {
            f->next_midnight = next_local_midnight(t);
        } else if (t >= f->next_midnight) {
            if (f->size > 0)
                file_rotate(f);
            f->next_midnight = next_local_midnight(t);
        }
    }
    if (f->unwarned)
        file_warn(f);
}

static struct log_sink *file_sink_open(const struct log_config *cfg, int *err)
{
    struct file_sink *f;
    int rc;

    if (!cfg->file_path || !*cfg->file_path)
        return NULL;
    f = xcalloc(1, sizeof(*f));
    f->base.ops = &log_file_sink;
    f->path = xstrdup(cfg->file_path);
    f->path_len = strlen(f->path);
    f->from = xmalloc(f->path_len + 16);
    f->to = xmalloc(f->path_len + 16);
    f->fd = -1;
    f->doomed = -1;
    f->max_size = cfg->file_max_size;
    f->keep = cfg->file_keep;
    f->daily = cfg->file_daily;
    rc = file_open(f);
    if (rc < 0) {
        f->err = -rc;
        f->err_op = "open";
        *err = rc;
    }
    return &f->base;
}

/* Now in use: the checks start a second from now; a file log_setup could
 * not open is reported. */
static void file_start(struct log_sink *s)
{
    struct file_sink *f = (struct file_sink *)s;

    f->in_use = true;
    publish_fd(f);
    f->next_check = mono_ns() + CHECK_NS;
    if (f->daily)
        f->next_midnight = next_local_midnight(time(NULL));
    if (f->fd < 0)
        file_warn(f);
}

static void file_sink_close(struct log_sink *s)
{
    struct file_sink *f = (struct file_sink *)s;

    if (f->in_use) {
        log_queue_set_crash_fd(-1);
        log_queue_set_crash_pending(NULL, 0);
    }
    file_close_fd(f);
    if (f->doomed >= 0)
        close(f->doomed);
    free(f->cuts);
    buf_free(&f->out);
    free(f->path);
    free(f->from);
    free(f->to);
    free(f);
}

const struct log_sink_ops log_file_sink = {
    .name = "file",
    .open = file_sink_open,
    .start = file_start,
    .tick = file_tick,
    .write = file_write,
    .flush = file_flush,
    .pending = file_pending,
    .close = file_sink_close,
    .dropped = file_dropped,
};
