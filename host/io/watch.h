/*
 * watch — `host.watch: true`: reload by itself when the manifest or a file
 * in plugin_dir changes (inotify), after the changes settle (debounced), so
 * an editor's save or a `cp` of a new build triggers one reload, not ten.
 */
#ifndef JH_WATCH_H
#define JH_WATCH_H

struct watcher;
struct reloader;

/* Starts the watching thread for the manifest at `manifest_path` and the
 * live generation's plugin_dir. NULL with errno when inotify fails. */
struct watcher *watch_start(struct reloader *r, const char *manifest_path);

/* Stops the thread; no reload starts after it returns. NULL is a no-op. */
void watch_stop(struct watcher *w);

#endif /* JH_WATCH_H */
