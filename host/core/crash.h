/*
 * crash — the record a fatal signal leaves behind. A thread-mode plugin
 * runs inside the daemon: when it (or the host) faults, the process dies,
 * but first one record says what died and where, as redis writes its crash
 * report:
 *
 *     ts=... level=error event=host_crashed job=nightly run_id=...
 *     plugin=crash signal=SEGV addr=0x0 plugin_version=1.0.0 pid=4242
 *     thread=jobhost backtrace="/usr/bin/jobhost(+0x1a2b)[0x...]\n..."
 *
 * to stderr and to the file sink's descriptor, after the records still
 * queued (the run's job_started among them) have been written out from
 * the rings. Then the signal is raised again with its default action, so
 * the process ends by it (a core dump where enabled, and systemd's
 * Restart=on-failure starts the daemon again).
 *
 * Everything the handler uses is made ready by crash_install: an alternate
 * signal stack (so a stack overflow is reported too), a builder with its
 * buffers reserved, a pipe for backtrace_symbols_fd, and libgcc's unwinder
 * loaded by one backtrace() call. In the handler only async-signal-safe
 * calls are made and nothing is allocated or locked; the records queued
 * are written "as far as possible" (another thread may be writing one).
 *
 * Threads: crash_install on the main thread, before other threads start;
 * crash_run_enter / crash_run_leave on the thread of a run (core/run.c),
 * which also gets its alternate stack on its first run.
 */
#ifndef JH_CRASH_H
#define JH_CRASH_H

#include <stdbool.h>

struct run;

/* Installs the handler for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT.
 * Not under AddressSanitizer or ThreadSanitizer, which own these signals
 * (returns false then). Main thread, once, before other threads start. */
bool crash_install(void);

/* The run the calling thread is in, for a crash report; NULL outside a
 * run. Each thread reads and sets only its own. */
extern __thread const struct run *crash_current_run;

/* Gives the calling thread an alternate signal stack (its first run). */
void crash_thread_prepare(void);

/* Around the plugin call of a run (core/run.c). Inline: every run. */
static inline void crash_run_enter(const struct run *run)
{
    extern __thread bool crash_thread_ready;
    if (!crash_thread_ready)
        crash_thread_prepare();
    crash_current_run = run;
}

static inline void crash_run_leave(void)
{
    crash_current_run = (const struct run *)0;
}

#endif /* JH_CRASH_H */
