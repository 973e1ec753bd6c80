/*
 * plugin — loading one plugin .so: path checks, a sealed image of the file,
 * dlopen of that image, descriptor and ABI checks, init; and unloading it
 * (shutdown, dlclose) when the last reference goes.
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

/* Set on the main thread while the plugin is loaded and not changed
 * afterwards (but refs), so any thread holding a reference (through its
 * generation) may read it.
 *
 * A plugin starts as an image: the file's bytes, read once from a checked
 * descriptor into a sealed memory file (memfd, sealed against writes,
 * growth, shrinking and further seals), hashed from there. What loads it,
 * in this process (plugin_map) or in a worker process that receives the
 * descriptor (core/isolate.c), loads that image through /proc/self/fd/N:
 * never the file by name, which may have changed since. A plugin only
 * `isolation: process` jobs name is never mapped here: `desc` stays NULL
 * and the descriptor's information comes from the worker that loaded it
 * (plugin_set_info). */
struct plugin {
    char *name;  /* as the manifest names it */
    char *path;  /* <plugin_dir>/<name>.so, as messages name it */
    char hash[65]; /* SHA-256 of the image, hex: what "changed" means */
    int image_fd;  /* the sealed memory file; -1 for a plugin made without one (tests) */
    void *handle;  /* dlopen of the image; NULL when not mapped in this process */
    const struct jh_plugin *desc; /* inside the mapped object: its callbacks; NULL when
                                     not mapped in this process */
    /* The descriptor's strings as the host uses them (logs, metrics, the
     * API): valid UTF-8, one line, cut on a character boundary. */
    char *desc_name;   /* at most 64 bytes */
    char *version;     /* at most 64 bytes */
    char *description; /* at most 256 bytes; "" when none */
    unsigned abi_version;
    bool has_check;    /* the descriptor has a check callback */
    struct plugin_param *params; /* the declared parameters (core/params.h) */
    size_t n_params;
    void *state; /* what init set; handed to every check, run and shutdown */
    unsigned refs; /* generations using it; main thread */
    /* Set when a reload replaces or drops this plugin: runs still on its
     * code see cancellation from then (host.drain_timeout after the
     * reload). 0 while the plugin is live. */
    atomic_int_fast64_t drain_deadline_mono;
    /* Its key in the run store, cached by the history writer as
     * jobstate.store_key is; 0 = not known. */
    _Atomic uint64_t store_key;
};

struct plugin_load_opts {
    const char *plugin_dir;
    bool strict_permissions; /* refuse the file, its directory or any directory above it
                                when writable by group or others, or owned by someone else
                                than root or us (as sshd's StrictModes) */
};

#define PLUGIN_IMAGE_MAX (256u << 20) /* bytes: a larger file is refused */

/* Opens <plugin_dir>/<name>.so through core/safe_open.h (every directory
 * on the way checked, the file not a link, not a FIFO), reads it once into
 * a sealed memory file and checks its ELF structure there. Returns 0 and a
 * plugin holding one reference, not mapped (plugin_map does that), or a
 * negative errno with one line in err naming the file and the cause:
 * missing file, unsafe permissions (naming the component at fault), not a
 * regular file, too large, changed while read, not a loadable object.
 * Main thread. */
int plugin_open(const struct plugin_load_opts *opts, const char *name, struct plugin **out,
                char *err, size_t errlen) __attribute__((warn_unused_result));

/* Maps p's image in this process (dlopen of /proc/self/fd/N: its ELF
 * constructors run) and runs its init: 0, or -errno with one line in err
 * naming the file: not a loadable object (dlerror), missing descriptor,
 * ABI mismatch (both numbers, and how to rebuild), a descriptor that sets
 * reserved fields or fields this host does not know, no run entry, bad
 * parameter declarations, a host call the plugin uses that this host lacks
 * (named), init failed. On failure p is left as it was (not mapped). Main
 * thread (init runs here). */
int plugin_map(struct plugin *p, char *err, size_t errlen) __attribute__((warn_unused_result));

/* plugin_open, then plugin_map: a plugin loaded in this process. */
int plugin_load(const struct plugin_load_opts *opts, const char *name, struct plugin **out,
                char *err, size_t errlen) __attribute__((warn_unused_result));

/* A plugin from an image descriptor received from the host (a worker
 * process): takes ownership of fd, which must be a memory file sealed as
 * plugin_open seals it (else -EPERM), hashes it and maps it (plugin_map).
 * `name` and `path` are how messages name it. 0 or -errno with err. */
int plugin_load_image(int fd, const char *name, const char *path, struct plugin **out, char *err,
                      size_t errlen) __attribute__((warn_unused_result));

/* What a worker process reports of a plugin it loaded, to be checked and
 * kept by a host that does not map it. The strings are the plugin's (or a
 * hostile worker's): plugin_set_info holds them to the rules plugin_map
 * holds a descriptor to. */
struct plugin_info {
    const char *name, *version, *description;
    unsigned abi_version;
    bool has_check;
    const struct jh_param_spec *params; /* ending with a zeroed entry; NULL: none */
};

/* Sets p's descriptor information (names, parameters) from a worker's
 * report, as plugin_map would from the descriptor itself: 0, or -EPROTO /
 * -EINVAL with err (the report breaks the rules: bad parameter
 * declarations, a name or version missing). Only on a plugin that is not
 * mapped here and has no information yet. Main thread. */
int plugin_set_info(struct plugin *p, const struct plugin_info *info, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Checks <plugin_dir>/<name>.so as plugin_open would (name, trust, type)
 * and computes its content hash, without keeping it: a reload uses it to
 * keep unchanged plugins (and not re-run their init). 0 or -errno with err. */
int plugin_probe(const struct plugin_load_opts *opts, const char *name, char hash[65], char *err,
                 size_t errlen) __attribute__((warn_unused_result));

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
 * (when mapped here), closes its image and frees p. Main thread, as
 * plugin_ref. */
void plugin_unref(struct plugin *p);

#endif /* JH_PLUGIN_LOADER_H */
