/*
 * plugin — loading one plugin .so: path checks, dlopen, descriptor and ABI
 * checks, init; and unloading it (shutdown, dlclose) when the last
 * reference goes.
 *
 * A loaded plugin is shared by every generation whose jobs name it (a
 * reload keeps an unchanged plugin). Each such generation holds a
 * reference, and runs hold their generation, so `shutdown` and `dlclose`
 * happen only after the last run on that code has returned, and, like
 * loading, only on the main thread.
 */
#ifndef JH_PLUGIN_LOADER_H
#define JH_PLUGIN_LOADER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jobhost/plugin.h>

struct plugin_param;

/* Set by plugin_load on the main thread and not changed afterwards (but
 * refs), so any thread holding a reference (through its generation) may
 * read it. */
struct plugin {
    char *name;  /* as the manifest names it */
    char *path;  /* <plugin_dir>/<name>.so */
    char hash[65]; /* SHA-256 of the file's bytes, hex: what "changed" means */
    char *loaded_path; /* what was dlopen()ed: the private copy, or path */
    void *handle;
    const struct jh_plugin *desc; /* inside the mapped object: its callbacks */
    /* The descriptor's strings as the host uses them (logs, metrics, the
     * API): valid UTF-8, one line, cut on a character boundary. */
    char *desc_name;   /* at most 64 bytes */
    char *version;     /* at most 64 bytes */
    char *description; /* at most 256 bytes; "" when none */
    struct plugin_param *params; /* the declared parameters (core/params.h) */
    size_t n_params;
    void *state; /* what init set; handed to every check, run and shutdown */
    unsigned refs; /* generations using it; main thread */
    /* Set when a reload replaces or drops this plugin: runs still on its
     * code see cancellation from then (host.drain_timeout after the
     * reload). 0 while the plugin is live. */
    atomic_int_fast64_t drain_deadline_mono;
};

struct plugin_load_opts {
    const char *plugin_dir;
    bool strict_permissions; /* refuse files/dirs writable by group or others, or owned by
                                someone else than root or us (as sshd's StrictModes) */
    /* Where private copies are loaded from (the daemon's own directory).
     * The host never maps files in plugin_dir: a `cp` of a new build over a
     * mapped file would truncate live code (SIGBUS), and glibc would hand
     * back the already-loaded object for a path or inode it has seen. Each
     * load copies the file here under a fresh name, dlopens the copy and
     * unlinks it. NULL loads in place (one-shot commands). */
    const char *copy_dir;
};

/* Loads <plugin_dir>/<name>.so and runs its init. Returns 0 and a plugin
 * holding one reference, or a negative errno with one line in err naming the
 * file and the cause: missing file, unsafe permissions, not a loadable object
 * (dlerror), missing descriptor, ABI mismatch (both numbers, and how to
 * rebuild), a descriptor that sets reserved fields or fields this host does
 * not know, no run entry, bad parameter declarations, a host call the plugin
 * uses that this host lacks (named), init failed. Main thread only (init
 * runs here). */
int plugin_load(const struct plugin_load_opts *opts, const char *name, struct plugin **out,
                char *err, size_t errlen);

/* Checks <plugin_dir>/<name>.so as plugin_load would (name, trust) and
 * computes its content hash, without loading it: a reload uses it to keep
 * unchanged plugins (and not re-run their init). 0 or -errno with err. */
int plugin_probe(const struct plugin_load_opts *opts, const char *name, char hash[65], char *err,
                 size_t errlen);

/* A private directory for plugin copies: under $RUNTIME_DIRECTORY, else
 * $TMPDIR, else /tmp; mode 0700. Returns a malloc'd path or NULL (errno). */
char *plugin_copy_dir_create(void);

/* Checks that `name` is a bare plugin name that cannot escape plugin_dir. */
bool plugin_name_valid(const char *name);

/* Resolves the host calls a descriptor's plugin uses (desc->imports, see
 * <jobhost/plugin.h>): fills each record's function in, by name. Returns 0,
 * or -ENOSYS with err naming every call this host lacks (nothing filled in
 * then), or -EINVAL for a malformed table. plugin_load does it; a
 * descriptor compiled into the host binary itself (tests) calls it
 * directly. Main thread, before any call of the plugin. */
int plugin_bind(const struct jh_plugin *desc, char *err, size_t errlen);

void plugin_ref(struct plugin *p);

/* Plugins whose code stayed mapped after their last dlclose (a plugin
 * marked NODELETE, or one holding thread-local destructors): counted, since
 * their memory is not given back. */
unsigned plugin_unload_failures(void);

/* Drops a reference; the last one calls the plugin's shutdown, dlcloses it
 * and frees p. Main thread, as plugin_ref. */
void plugin_unref(struct plugin *p);

#endif /* JH_PLUGIN_LOADER_H */
