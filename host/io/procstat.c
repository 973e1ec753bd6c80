/*
 * procstat — process metrics from /proc/self. See procstat.h.
 */
#include "io/procstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

static ssize_t read_small_file(const char *path, char *dst, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t r = read(fd, dst + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    dst[len] = '\0';
    return (ssize_t)len;
}

/* Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize), 24 (rss) of
 * /proc/self/stat. Returns false when the file cannot be parsed. */
struct proc_stat {
    unsigned long long utime, stime, starttime, vsize;
    long long rss;
};

static bool read_proc_stat(struct proc_stat *ps)
{
    char text[1024];
    if (read_small_file("/proc/self/stat", text, sizeof text) <= 0)
        return false;
    char *s = strrchr(text, ')'); /* comm may hold spaces and parentheses */
    if (!s)
        return false;
    s++;
    /* s now points at " state ppid ...", i.e. before field 3. */
    for (int field = 3; field <= 24; field++) {
        while (*s == ' ')
            s++;
        if (!*s)
            return false;
        char *end;
        if (field == 3) {
            end = s;
            while (*end && *end != ' ')
                end++;
        } else {
            errno = 0;
            unsigned long long v = strtoull(s, &end, 10);
            if (end == s || errno)
                return false;
            switch (field) {
            case 14: ps->utime = v; break;
            case 15: ps->stime = v; break;
            case 22: ps->starttime = v; break;
            case 23: ps->vsize = v; break;
            case 24: ps->rss = (long long)v; break;
            default: break;
            }
        }
        s = end;
    }
    return true;
}

static bool read_btime(unsigned long long *btime)
{
    char text[8192];
    if (read_small_file("/proc/stat", text, sizeof text) <= 0)
        return false;
    char *s = strstr(text, "\nbtime ");
    if (!s)
        return false;
    char *end;
    errno = 0;
    *btime = strtoull(s + 7, &end, 10);
    return end != s + 7 && !errno;
}

static long count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

/* The start time does not change: read once. */
static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static bool have_start; /* written once under start_once */
static double start_time;

static void read_start_time(void)
{
    struct proc_stat ps;
    unsigned long long btime;
    long tck = sysconf(_SC_CLK_TCK);

    if (tck > 0 && read_proc_stat(&ps) && read_btime(&btime)) {
        have_start = true;
        start_time = (double)btime + (double)ps.starttime / (double)tck;
    }
}

void procstat_read(struct procstat *out)
{
    struct proc_stat ps;
    struct rlimit rl;
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE), fds;

    memset(out, 0, sizeof(*out));
    if (tck > 0 && page > 0 && read_proc_stat(&ps) && ps.rss >= 0) {
        out->have_stat = true;
        out->cpu_seconds = (double)(ps.utime + ps.stime) / (double)tck;
        out->rss_bytes = (uint64_t)ps.rss * (uint64_t)page;
        out->vsize_bytes = ps.vsize;
    }
    fds = count_open_fds();
    if (fds >= 0) {
        out->have_open_fds = true;
        out->open_fds = (uint64_t)fds;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        out->have_max_fds = true;
        out->max_fds_unlimited = rl.rlim_cur == RLIM_INFINITY;
        out->max_fds = (uint64_t)rl.rlim_cur;
    }
    pthread_once(&start_once, read_start_time);
    out->have_start_time = have_start;
    out->start_time_seconds = start_time;
}
