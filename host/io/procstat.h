/*
 * procstat — the standard process_* metrics, read from /proc/self: CPU
 * time, resident and virtual memory, open and maximum file descriptors, and
 * the process start time, as the Prometheus client libraries define them.
 */
#ifndef JH_PROCSTAT_H
#define JH_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>

/* A reading; each `have_*` says whether its value could be read (a value
 * that cannot be read is left out of the exposition). */
struct procstat {
    bool have_stat;    /* cpu_seconds, rss_bytes, vsize_bytes */
    double cpu_seconds;
    uint64_t rss_bytes, vsize_bytes;
    bool have_open_fds;
    uint64_t open_fds;
    bool have_max_fds;
    bool max_fds_unlimited; /* RLIM_INFINITY */
    uint64_t max_fds;
    bool have_start_time;
    double start_time_seconds; /* Unix time */
};

/* Reads the current values. Any thread; opens a few /proc files. */
void procstat_read(struct procstat *ps);

#endif /* JH_PROCSTAT_H */
