/*
 * crash — the fatal-signal handler and its record. See crash.h.
 *
 * DESIGN. crash_install (main thread, before any other thread) prepares
 * everything the handler needs, because a handler may neither allocate nor
 * lock: a log builder of its own with its buffers reserved (the record is
 * built by the same code as every other one, so it reads alike, escaping
 * and cuts included), a non-blocking pipe that backtrace_symbols_fd writes
 * the frames into and the handler reads back as one value, and the
 * unwinder loaded by a first backtrace(). Each thread that runs plugins
 * gets a 64 KiB alternate signal stack on its first run (sigaltstack is
 * per thread), freed when it exits. The handler runs on the thread that
 * faulted; a second fault inside it meets the default action
 * (SA_RESETHAND), so it can never loop.
 */
#include "core/crash.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <execinfo.h>
#endif

#include "core/clock.h"
#include "core/generation.h"
#include "core/log_queue.h"
#include "core/log_record.h"
#include "core/run.h"
#include "lib/numfmt.h"

/* AddressSanitizer and ThreadSanitizer handle these signals themselves. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

#define ALT_STACK (64u << 10)
#define FRAMES 48
#define TRACE_MAX (12u << 10) /* bytes of backtrace text read back */

static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

__thread const struct run *crash_current_run;
__thread bool crash_thread_ready;

/* Made by crash_install (main thread, before other threads), read-only
 * afterwards but for the handler's use of builder and trace. */
static struct {
    bool installed;
    struct log_record *builder; /* buffers reserved: no allocation */
    int pipe_r, pipe_w;         /* backtrace_symbols_fd -> the record */
    pthread_key_t stack_key;    /* frees a thread's alternate stack */
    char trace[TRACE_MAX];
} g = {.pipe_r = -1, .pipe_w = -1};

/* Only one thread writes a crash report; the others that fault meanwhile
 * wait for the end of the process. */
static volatile sig_atomic_t g_reporting;

/* --- alternate stacks -------------------------------------------------------------- */

static void stack_free(void *p)
{
    stack_t off = {.ss_flags = SS_DISABLE};

    (void)sigaltstack(&off, NULL); /* the thread is leaving: nothing to report */
    munmap(p, ALT_STACK);
}

void crash_thread_prepare(void)
{
    stack_t ss = {.ss_size = ALT_STACK};
    void *p;

    crash_thread_ready = true;
    if (!g.installed)
        return;
    p = mmap(NULL, ALT_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
             -1, 0);
    if (p == MAP_FAILED)
        return; /* a fault is still reported, but not a stack overflow */
    ss.ss_sp = p;
    if (sigaltstack(&ss, NULL) < 0) {
        munmap(p, ALT_STACK);
        return;
    }
    pthread_setspecific(g.stack_key, p);
}

/* --- the record ------------------------------------------------------------------- */

static void add(struct log_record *r, const char *key, const char *v, size_t n)
{
    (void)log_record_add(r, key, strlen(key), v, n); /* cut like any record's */
}

static void add_str(struct log_record *r, const char *key, const char *v)
{
    if (v && *v)
        add(r, key, v, strnlen(v, LOG_VALUE_MAX + 1));
}

static void add_hex(struct log_record *r, const char *key, uintptr_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    char t[2 + 2 * sizeof(v)], *o = t;
    int n = digits;

    if (digits == 0) { /* as %p: 0x and no leading zeros */
        *o++ = '0';
        *o++ = 'x';
        n = 1;
        while (n < (int)(2 * sizeof(v)) && (v >> (4 * n)))
            n++;
    }
    for (int i = n - 1; i >= 0; i--)
        *o++ = hex[(v >> (4 * i)) & 0xf];
    add(r, key, t, (size_t)(o - t));
}

/* The frames of the faulting thread, one a line, read back from the pipe. */
static size_t backtrace_text(void)
{
    size_t n = 0;
#if defined(__GLIBC__)
    void *frames[FRAMES];
    int depth = backtrace(frames, FRAMES);
    ssize_t got;

    backtrace_symbols_fd(frames, depth, g.pipe_w);
    while (n < sizeof(g.trace) && (got = read(g.pipe_r, g.trace + n, sizeof(g.trace) - n)) > 0)
        n += (size_t)got;
    while (n && g.trace[n - 1] == '\n')
        n--;
#endif
    return n;
}

/* The whole record into the builder. */
static void build(int sig, const siginfo_t *si)
{
    struct log_record *r = g.builder;
    const struct run *run = crash_current_run;
    const char *name = sigabbrev_np(sig);
    char num[NUMFMT_MAX], thread[17] = "";
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    log_record_start(r, JH_LOG_ERROR, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
    add(r, "event", "host_crashed", 12);
    if (run && run->job) {
        add_str(r, "job", run->job->spec->id);
        add_hex(r, "run_id", run->id, 16);
        add_str(r, "plugin", run->job->plugin->desc_name);
    }
    add_str(r, "signal", name ? name : "?");
    if (sig != SIGABRT)
        add_hex(r, "addr", (uintptr_t)si->si_addr, 0);
    if (run && run->job)
        add_str(r, "plugin_version", run->job->plugin->version);
    add(r, "pid", num, (size_t)(numfmt_i64(num, getpid()) - num));
    (void)prctl(PR_GET_NAME, thread, 0, 0, 0); /* "" when it fails */
    if (thread[0])
        add(r, "thread", thread, strnlen(thread, sizeof(thread) - 1));
    add(r, "backtrace", g.trace, backtrace_text());
    log_record_end(r);
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    struct log_record *r = g.builder;
    int fd;

    (void)uc;
    if (!g_reporting) {
        g_reporting = 1;
        build(sig, si);
        if (log_write_all(STDERR_FILENO, r->line.data, r->line.len, NULL) < 0) {
            /* nothing to do about stderr: the file may still take it */
        }
        fd = log_queue_crash_fd();
        if (fd >= 0) {
            log_queue_crash_dump(fd); /* what was queued before, the run's job_started */
            if (log_write_all(fd, r->line.data, r->line.len, NULL) < 0) {
                /* nothing left to try */
            }
        }
    } else {
        /* another thread is reporting: let it finish, it raises for all */
        sleep(5);
    }
    /* SA_RESETHAND gave the signal its default action back; the handler was
     * entered with SA_NODEFER, so raising it ends the process now. */
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig);
}

/* --- installing ---------------------------------------------------------------------- */

bool crash_install(void)
{
    struct sigaction sa = {.sa_sigaction = on_fatal,
                           .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND | SA_NODEFER};
    int fds[2];

    if (UNDER_SANITIZER)
        return false; /* the sanitizer reports these signals itself */
    if (g.installed)
        return true;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return false;
    if (pthread_key_create(&g.stack_key, stack_free) != 0) {
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    g.pipe_r = fds[0];
    g.pipe_w = fds[1];
    g.builder = log_record_new();
    buf_reserve(&g.builder->line, 4 * LOG_LINE_MAX);
    buf_reserve(&g.builder->cut, 2 * LOG_VALUE_MAX);
    log_queue_crash_prepare();
#if defined(__GLIBC__)
    {
        void *frame[1];
        (void)backtrace(frame, 1); /* loads the unwinder now, not in the handler */
    }
#endif
    sigemptyset(&sa.sa_mask);
    g.installed = true;
    crash_thread_prepare(); /* the main thread's stack */
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigaction(fatal[i], &sa, NULL);
    return true;
}
