/*
 * mainloop — the main thread's queue of work handed over by other threads.
 *
 * The main thread owns the lifecycle of everything loaded: plugin init,
 * shutdown and dlclose, generation teardown, log sink setup and reloads
 * run there and nowhere else (as nginx's master frees old cycles). Another
 * thread that drops the last reference to a generation, or that is asked
 * for a reload (the HTTP thread, the file watcher), queues the work here
 * with mainloop_defer; the main thread runs it in order when its loop
 * (daemon.c) sees mainloop_fd() readable, or at the end of a one-shot
 * command with mainloop_run_pending().
 *
 * On the main thread itself mainloop_defer runs the work at once: the
 * caller is where the work belongs, so queueing would only delay it.
 */
#ifndef JH_MAINLOOP_H
#define JH_MAINLOOP_H

#include <assert.h>
#include <stdbool.h>

typedef void (*mainloop_fn)(void *arg);

/* Makes the calling thread the main thread, before any other thread
 * starts (calling it again is harmless). Before it, every thread counts as the main thread (unit
 * tests that never start a loop). */
void mainloop_init(void);

/* True on the main thread. Any thread. */
bool mainloop_on_main(void);

/* Lifecycle code asserts where it runs. */
#define MAIN_THREAD_ONLY() assert(mainloop_on_main())

/* Runs fn(arg) on the main thread: now when called there, else soon (in
 * the order queued). Any thread; never blocks for long (a mutex held for a
 * list append). */
void mainloop_defer(mainloop_fn fn, void *arg);

/* Queues fn(arg) for the main loop's next turn, even on the main thread:
 * for work that must come after the task now running (stopping the HTTP
 * server a reload replaced, once the reload's answer is out). Any thread. */
void mainloop_queue(mainloop_fn fn, void *arg);

/* An eventfd readable while work is queued; -1 before mainloop_init. */
int mainloop_fd(void);

/* Runs everything queued so far (and what that queues in turn). Main
 * thread. */
void mainloop_run_pending(void);

#endif /* JH_MAINLOOP_H */
