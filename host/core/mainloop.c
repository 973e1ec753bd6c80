/*
 * mainloop — work queued for the main thread. See mainloop.h.
 *
 * A FIFO of (fn, arg) under `lock`, and an eventfd the main thread polls:
 * mainloop_defer appends and writes the eventfd; mainloop_run_pending
 * reads it, takes the whole list and runs it without the lock held, so a
 * task may queue further work.
 */
#include "core/mainloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/util.h"

struct task {
    mainloop_fn fn;
    void *arg;
    struct task *next;
};

static pthread_t main_thread;     /* written once by mainloop_init */
static atomic_bool have_main;     /* release by mainloop_init, acquire by readers */
static int event_fd = -1;         /* written once by mainloop_init */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct task *head, **tail = &head; /* under lock */

void mainloop_init(void)
{
    main_thread = pthread_self();
    if (event_fd >= 0)
        return; /* already made */
    event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd < 0) {
        fprintf(stderr, "jobhost: eventfd: %s\n", strerror(errno));
        abort();
    }
    atomic_store_explicit(&have_main, true, memory_order_release);
}

bool mainloop_on_main(void)
{
    if (!atomic_load_explicit(&have_main, memory_order_acquire))
        return true;
    return pthread_equal(pthread_self(), main_thread) != 0;
}

void mainloop_defer(mainloop_fn fn, void *arg)
{
    if (mainloop_on_main())
        fn(arg);
    else
        mainloop_queue(fn, arg);
}

void mainloop_queue(mainloop_fn fn, void *arg)
{
    struct task *t;
    uint64_t one = 1;

    t = xmalloc(sizeof(*t));
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&lock);
    *tail = t;
    tail = &t->next;
    pthread_mutex_unlock(&lock);
    /* Only EAGAIN (the counter is saturated) can fail: it is readable then. */
    (void)!write(event_fd, &one, sizeof(one));
}

int mainloop_fd(void)
{
    return event_fd;
}

void mainloop_run_pending(void)
{
    uint64_t v;

    MAIN_THREAD_ONLY();
    for (;;) {
        struct task *list;

        if (event_fd >= 0)
            (void)!read(event_fd, &v, sizeof(v)); /* EAGAIN when nothing was written */
        pthread_mutex_lock(&lock);
        list = head;
        head = NULL;
        tail = &head;
        pthread_mutex_unlock(&lock);
        if (!list)
            return;
        while (list) {
            struct task *next = list->next;
            list->fn(list->arg);
            free(list);
            list = next;
        }
    }
}
