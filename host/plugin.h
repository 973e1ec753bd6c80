/*
 * plugin — loading one plugin .so: path checks, dlopen, descriptor and ABI
 * checks, init; and unloading it (shutdown, dlclose) when the last
 * reference goes.
 *
 * A loaded plugin is shared by every job of a generation that names it and
 * can outlive the generation while runs are in flight: each run holds a
 * reference, so `shutdown` and `dlclose` happen only after the last run on
 * that code has returned.
 */
#ifndef JH_PLUGIN_LOADER_H
#define JH_PLUGIN_LOADER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jobhost/plugin.h>

struct plugin {
    char *name;  /* as the manifest names it */
    char *path;  /* <plugin_dir>/<name>.so */
    void *handle;
    const struct jh_plugin *desc; /* inside the mapped object */
    atomic_int refs;
};

struct plugin_load_opts {
    const char *plugin_dir;
    bool strict_permissions; /* refuse files/dirs writable by group or others, or owned by
                                someone else than root or us (as sshd's StrictModes) */
};

/* Loads <plugin_dir>/<name>.so and runs its init. Returns 0 and a plugin
 * holding one reference, or a negative errno with one line in err naming the
 * file and the cause: missing file, unsafe permissions, not a loadable object
 * (dlerror), missing descriptor, ABI mismatch (both numbers), no run entry,
 * init failed. Main thread only (init runs here). */
int plugin_load(const struct plugin_load_opts *opts, const char *name, struct plugin **out,
                char *err, size_t errlen);

/* Checks that `name` is a bare plugin name that cannot escape plugin_dir. */
bool plugin_name_valid(const char *name);

void plugin_ref(struct plugin *p);

/* Drops a reference; the last one calls the plugin's shutdown, dlcloses it
 * and frees p. Any thread; shutdown then runs on that thread. */
void plugin_unref(struct plugin *p);

#endif /* JH_PLUGIN_LOADER_H */
