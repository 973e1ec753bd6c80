/*
 * plugin — the loader. See plugin.h.
 *
 * The order of checks is the order a user would debug in: is the name sane,
 * is the file there, may we trust it, does it load, is it a jobhost plugin,
 * of our ABI, and does its init agree. Each failure is one line that names
 * the file, so `jobhost check` output can be acted on without a debugger.
 */
#include "plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostapi.h"
#include "util.h"

bool plugin_name_valid(const char *name)
{
    if (!name || !*name || strlen(name) > 128)
        return false;
    for (const char *c = name; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                  *c == '_' || *c == '-';
        if (!ok)
            return false;
    }
    return name[0] != '-';
}

/* sshd-style StrictModes: a file that someone else could have written may
 * hold code we did not mean to run. */
static int check_trust(const char *what, const char *path, const struct stat *st, char *err,
                       size_t errlen)
{
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        snprintf(err, errlen,
                 "%s: refusing to load: %s is owned by uid %u, not root or the daemon's user "
                 "(set host.strict_permissions: false to allow)",
                 path, what, (unsigned)st->st_uid);
        return -EPERM;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "%s: refusing to load: %s is writable by %s (mode %04o; chmod go-w, or set "
                 "host.strict_permissions: false)",
                 path, what, (st->st_mode & S_IWOTH) ? "others" : "its group",
                 (unsigned)(st->st_mode & 07777));
        return -EPERM;
    }
    return 0;
}

int plugin_load(const struct plugin_load_opts *opts, const char *name, struct plugin **out,
                char *err, size_t errlen)
{
    struct plugin *p = NULL;
    struct buf path = {0};
    struct stat st;
    void *handle = NULL;
    const struct jh_plugin *desc;
    int rc = -EINVAL;

    *out = NULL;
    err[0] = '\0';
    if (!plugin_name_valid(name)) {
        snprintf(err, errlen,
                 "plugin \"%s\": not a plugin name (letters, digits, '_' and '-' only; it must "
                 "not leave plugin_dir)",
                 name);
        goto out;
    }
    buf_printf(&path, "%s/%s.so", opts->plugin_dir, name);

    if (stat(opts->plugin_dir, &st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: plugin directory %s: %s", path.data, opts->plugin_dir,
                 strerror(errno));
        goto out;
    }
    if (opts->strict_permissions) {
        rc = check_trust("its directory", path.data, &st, err, errlen);
        if (rc < 0)
            goto out;
    }
    if (stat(path.data, &st) < 0) {
        rc = -errno;
        if (errno == ENOENT)
            snprintf(err, errlen, "%s: no such plugin file (is the plugin built and in plugin_dir?)",
                     path.data);
        else
            snprintf(err, errlen, "%s: %s", path.data, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: not a regular file", path.data);
        goto out;
    }
    if (opts->strict_permissions) {
        rc = check_trust("the file", path.data, &st, err, errlen);
        if (rc < 0)
            goto out;
    }

    /* RTLD_LOCAL: plugins never see each other's symbols; RTLD_NOW: an
     * unresolved symbol fails here, not in the middle of a run. */
    handle = dlopen(path.data, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        rc = -ENOEXEC;
        snprintf(err, errlen, "%s: not a loadable object: %s", path.data, dlerror());
        goto out;
    }
    desc = dlsym(handle, JH_PLUGIN_SYMBOL);
    if (!desc) {
        rc = -ENOENT;
        snprintf(err, errlen,
                 "%s: missing descriptor symbol %s (export one with JH_PLUGIN(...) from "
                 "<jobhost/plugin.h>)",
                 path.data, JH_PLUGIN_SYMBOL);
        goto out;
    }
    if (desc->abi_version != JH_ABI_VERSION) {
        rc = -EPROTO;
        snprintf(err, errlen,
                 "%s: ABI version mismatch: plugin was built for ABI %u, this host speaks ABI %u "
                 "(rebuild it against this jobhost's SDK)",
                 path.data, desc->abi_version, JH_ABI_VERSION);
        goto out;
    }
    if (desc->size < sizeof(struct jh_plugin)) {
        rc = -EPROTO;
        snprintf(err, errlen, "%s: descriptor is %u bytes, expected %zu (corrupt or hand-made)",
                 path.data, desc->size, sizeof(struct jh_plugin));
        goto out;
    }
    if (!desc->run) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: descriptor has no run entry point", path.data);
        goto out;
    }
    if (!desc->name || !desc->name[0] || !desc->version || !desc->version[0]) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: descriptor has no name or no version", path.data);
        goto out;
    }

    p = xcalloc(1, sizeof(*p));
    p->name = xstrdup(name);
    p->path = path.data;
    path.data = NULL;
    p->handle = handle;
    p->desc = desc;
    atomic_init(&p->refs, 1);
    handle = NULL;

    if (desc->init) {
        char why[256];
        if (hostapi_call_init(p, why, sizeof(why)) != 0) {
            rc = -ECANCELED;
            snprintf(err, errlen, "%s: init failed: %s", p->path, why[0] ? why : "(no reason given)");
            goto out;
        }
    }
    *out = p;
    p = NULL;
    rc = 0;
out:
    if (p) {
        /* init failed: no shutdown for a plugin that never started */
        dlclose(p->handle);
        free(p->name);
        free(p->path);
        free(p);
    }
    if (handle)
        dlclose(handle);
    buf_free(&path);
    return rc;
}

void plugin_ref(struct plugin *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void plugin_unref(struct plugin *p)
{
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (p->desc->shutdown)
        hostapi_call_shutdown(p);
    dlclose(p->handle);
    free(p->name);
    free(p->path);
    free(p);
}
