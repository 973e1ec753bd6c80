/*
 * watch — reload on file changes. See watch.h.
 *
 * DESIGN. One thread blocks in poll() on an inotify fd and an eventfd (stop).
 * A change to the manifest (matched by name in its directory, so editors
 * that save by rename are seen) or to a *.so in plugin_dir arms a quiet
 * period; every further change restarts it; when it passes, the thread asks
 * the main thread for one reload (reloader_request), as SIGHUP and HTTP
 * reloads do. A second after asking, the plugin_dir watch follows the live
 * manifest. Nothing wakes the thread while no file changes.
 */
#include "io/watch.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/generation.h"
#include "core/log.h"
#include "core/reload.h"
#include "lib/util.h"

#define QUIET_MS 300
#define REFRESH_MS 1000 /* after asking for a reload: follow plugin_dir then */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)

struct watcher {
    struct reloader *reloader;
    char *manifest_dir, *manifest_name;
    char *plugin_dir; /* watcher thread only */
    int inotify_fd, stop_fd;
    int manifest_wd, plugin_wd;
    pthread_t thread;
};

static void watch_plugin_dir(struct watcher *w)
{
    struct generation *g = reloader_live(w->reloader);
    const char *dir = g->manifest->host.plugin_dir;

    if (!w->plugin_dir || strcmp(w->plugin_dir, dir) != 0) {
        if (w->plugin_wd >= 0 && w->plugin_wd != w->manifest_wd)
            inotify_rm_watch(w->inotify_fd, w->plugin_wd);
        free(w->plugin_dir);
        w->plugin_dir = xstrdup(dir);
        w->plugin_wd = inotify_add_watch(w->inotify_fd, dir, WATCH_MASK);
        if (w->plugin_wd < 0)
            jlog(JH_LOG_WARN, "watch_failed", "path=%s error=%s", dir, strerror(errno));
    }
    generation_unref(g);
}

/* Reads pending events; true when one of them is worth a reload. */
static bool relevant_events(struct watcher *w)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool relevant = false;
    ssize_t n;

    while ((n = read(w->inotify_fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            const char *name = ev->len ? ev->name : "";
            size_t len = strlen(name);
            if (ev->wd == w->manifest_wd && strcmp(name, w->manifest_name) == 0)
                relevant = true;
            if (ev->wd == w->plugin_wd && len > 3 && strcmp(name + len - 3, ".so") == 0)
                relevant = true;
            p += sizeof(*ev) + ev->len;
        }
    }
    return relevant;
}

static void *watch_main(void *arg)
{
    struct watcher *w = arg;
    bool pending = false, refresh = false;

    for (;;) {
        struct pollfd fds[2] = {{.fd = w->inotify_fd, .events = POLLIN},
                                {.fd = w->stop_fd, .events = POLLIN}};
        int n = poll(fds, 2, pending ? QUIET_MS : refresh ? REFRESH_MS : -1);

        if (n < 0 && errno != EINTR)
            break;
        if (fds[1].revents)
            break;
        if (n > 0 && fds[0].revents) {
            pending = relevant_events(w) || pending; /* a change restarts the quiet period */
            continue;
        }
        if (n == 0 && pending) {
            pending = false;
            refresh = true;
            reloader_request(w->reloader, "watch", NULL, NULL);
        } else if (n == 0 && refresh) {
            refresh = false;
            watch_plugin_dir(w); /* the reload may have moved plugin_dir */
        }
    }
    return NULL;
}

struct watcher *watch_start(struct reloader *r, const char *manifest_path)
{
    struct watcher *w = xcalloc(1, sizeof(*w));
    char dir[PATH_MAX];
    const char *slash;

    w->reloader = r;
    w->plugin_wd = w->manifest_wd = -1;
    if (!realpath(manifest_path, dir))
        goto fail;
    slash = strrchr(dir, '/');
    w->manifest_name = xstrdup(slash + 1);
    w->manifest_dir = xstrndup(dir, slash == dir ? 1 : (size_t)(slash - dir));
    w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->inotify_fd < 0 || w->stop_fd < 0)
        goto fail;
    w->manifest_wd = inotify_add_watch(w->inotify_fd, w->manifest_dir, WATCH_MASK);
    if (w->manifest_wd < 0)
        goto fail;
    watch_plugin_dir(w);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
        goto fail;
    jlog(JH_LOG_INFO, "watch_started", "manifest=%s plugin_dir=%s", manifest_path, w->plugin_dir);
    return w;
fail:
    jlog(JH_LOG_WARN, "watch_failed", "path=%s error=%s", manifest_path, strerror(errno));
    if (w->inotify_fd > 0)
        close(w->inotify_fd);
    if (w->stop_fd > 0)
        close(w->stop_fd);
    free(w->manifest_name);
    free(w->manifest_dir);
    free(w->plugin_dir);
    free(w);
    return NULL;
}

void watch_stop(struct watcher *w)
{
    uint64_t one = 1;

    if (!w)
        return;
    if (write(w->stop_fd, &one, sizeof(one)) < 0)
        jlog(JH_LOG_WARN, "watch_stop_failed", "error=%s", strerror(errno));
    pthread_join(w->thread, NULL);
    close(w->inotify_fd);
    close(w->stop_fd);
    free(w->manifest_name);
    free(w->manifest_dir);
    free(w->plugin_dir);
    free(w);
}
