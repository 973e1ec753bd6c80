/*
 * plugin — the loader. See plugin.h.
 *
 * The order of checks is the order a user would debug in: is the name sane,
 * is the file there, may we trust it, does it load, is it a jobhost plugin,
 * of our ABI, and does its init agree. Each failure is one line that names
 * the file, so `jobhost check` output can be acted on without a debugger.
 */
#include "core/plugin.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hostapi.h"
#include "core/log.h"
#include "core/mainloop.h"
#include "core/params.h"
#include "lib/sha256.h"
#include "lib/util.h"

#define PLUGIN_DESCRIPTOR_MAX 4096  /* bytes: a larger `size` is corruption */
#define PLUGIN_IMPORTS_MAX 4096     /* records of host calls: more is corruption */
#define PLUGIN_CALL_NAME_MAX 64     /* bytes of a host call's name shown in messages */
#define PLUGIN_NAME_TEXT_MAX 64     /* bytes kept of a descriptor's name and version */
#define PLUGIN_DESCRIPTION_MAX 256  /* bytes kept of its description */

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

/* Opens <plugin_dir>/<name>.so after the name, existence and trust checks.
 * Returns an fd, or -errno with the reason in err. */
static int open_checked(const struct plugin_load_opts *opts, const char *name, struct buf *path,
                        char *err, size_t errlen)
{
    struct stat st;
    int fd, rc;

    if (!plugin_name_valid(name)) {
        char shown[64];
        size_t i;
        /* the message must stay one line whatever the name holds */
        for (i = 0; name[i] && i < sizeof(shown) - 1; i++)
            shown[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
        shown[i] = '\0';
        snprintf(err, errlen,
                 "plugin \"%s\": not a plugin name (letters, digits, '_' and '-' only; it must "
                 "not leave plugin_dir)",
                 shown);
        return -EINVAL;
    }
    buf_printf(path, "%s/%s.so", opts->plugin_dir, name);
    if (stat(opts->plugin_dir, &st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: plugin directory %s: %s", path->data, opts->plugin_dir,
                 strerror(errno));
        return rc;
    }
    if (opts->strict_permissions) {
        rc = check_trust("its directory", path->data, &st, err, errlen);
        if (rc < 0)
            return rc;
    }
    fd = open(path->data, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        if (errno == ENOENT)
            snprintf(err, errlen, "%s: no such plugin file (is the plugin built and in plugin_dir?)",
                     path->data);
        else
            snprintf(err, errlen, "%s: %s", path->data, strerror(errno));
        return rc;
    }
    /* Checked on the open file, so a rename between check and read
     * cannot swap in another one. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path->data);
        close(fd);
        return -EINVAL;
    }
    if (opts->strict_permissions) {
        rc = check_trust("the file", path->data, &st, err, errlen);
        if (rc < 0) {
            close(fd);
            return rc;
        }
    }
    return fd;
}

#if UINTPTR_MAX == 0xffffffffffffffffu
typedef Elf64_Ehdr elf_ehdr;
typedef Elf64_Phdr elf_phdr;
#define ELF_CLASS ELFCLASS64
#else
typedef Elf32_Ehdr elf_ehdr;
typedef Elf32_Phdr elf_phdr;
#define ELF_CLASS ELFCLASS32
#endif

/* glibc maps a shared object's segments straight from the file: a file cut
 * short (a `cp` still writing it) gets past dlopen's own checks and then
 * faults with SIGBUS when a page past the end is touched. So the structure
 * is checked against the real size before dlopen sees it. */
static int elf_check(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;
    elf_ehdr eh;
    elf_phdr ph;

    if (fstat(fd, &st) < 0 || pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        snprintf(err, errlen, "%s: not a loadable object: not an ELF file", path);
        return -ENOEXEC;
    }
    if (eh.e_ident[EI_CLASS] != ELF_CLASS || eh.e_type != ET_DYN) {
        snprintf(err, errlen, "%s: not a loadable object: not a shared object of this machine's class",
                 path);
        return -ENOEXEC;
    }
    if (eh.e_phentsize != sizeof(ph) ||
        (uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(ph) > (uint64_t)st.st_size)
        goto truncated;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != (ssize_t)sizeof(ph))
            goto truncated;
        if ((ph.p_type == PT_LOAD || ph.p_type == PT_DYNAMIC) &&
            (uint64_t)ph.p_offset + ph.p_filesz > (uint64_t)st.st_size)
            goto truncated;
    }
    if (eh.e_shnum && (uint64_t)eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize > (uint64_t)st.st_size)
        goto truncated;
    return 0;
truncated:
    snprintf(err, errlen,
             "%s: not a loadable object: the file ends before its contents do (truncated, or "
             "still being written?)",
             path);
    return -ENOEXEC;
}

/* Hashes the file behind fd, writing a copy to copy_fd when >= 0. */
static int hash_and_copy(int fd, int copy_fd, char hash[65], const char *path, char *err,
                         size_t errlen)
{
    struct sha256 sh;
    unsigned char digest[32];
    char chunk[65536];

    sha256_init(&sh);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int rc = -errno;
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            return rc;
        }
        if (n == 0)
            break;
        sha256_update(&sh, chunk, (size_t)n);
        for (ssize_t off = 0; copy_fd >= 0 && off < n;) {
            ssize_t w = write(copy_fd, chunk + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                int rc = -errno;
                snprintf(err, errlen, "%s: cannot copy for loading: %s", path, strerror(errno));
                return rc;
            }
            off += w;
        }
    }
    sha256_final(&sh, digest);
    sha256_hex(digest, hash);
    return 0;
}

int plugin_probe(const struct plugin_load_opts *opts, const char *name, char hash[65], char *err,
                 size_t errlen)
{
    struct buf path = {0};
    int fd, rc;

    err[0] = '\0';
    fd = open_checked(opts, name, &path, err, errlen);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    rc = hash_and_copy(fd, -1, hash, path.data, err, errlen);
    close(fd);
out:
    buf_free(&path);
    return rc;
}

char *plugin_copy_dir_create(void)
{
    const char *base = getenv("RUNTIME_DIRECTORY");
    struct buf path = {0};

    if (!base || !*base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    /* RUNTIME_DIRECTORY may list several, separated by ':' */
    buf_append(&path, base, strcspn(base, ":"));
    buf_puts(&path, "/jobhost-plugins-XXXXXX");
    if (!mkdtemp(path.data)) {
        buf_free(&path);
        return NULL;
    }
    return path.data;
}

/* A descriptor string as the host keeps it: valid UTF-8, one line. */
static char *text_copy(const char *s, size_t max)
{
    char out[PLUGIN_DESCRIPTION_MAX + 1];

    hostapi_text_line(out, max + 1 < sizeof(out) ? max + 1 : sizeof(out), s ? s : "");
    return xstrdup(out);
}

static void plugin_free(struct plugin *p)
{
    params_free(p->params, p->n_params);
    free(p->name);
    free(p->path);
    free(p->loaded_path);
    free(p->desc_name);
    free(p->version);
    free(p->description);
    free(p);
}

/* The descriptor's own fields: ABI, size, reserved slots, entry point,
 * strings. 0, or -errno with the message. */
static int descriptor_check(const struct jh_plugin *desc, const char *path, const char *name,
                            char *err, size_t errlen)
{
    if (desc->abi_version < JH_ABI_VERSION) {
        snprintf(err, errlen,
                 "%s: ABI version mismatch: plugin was built for ABI %u, this host speaks ABI %u: "
                 "rebuild it against this jobhost's SDK (README: \"Moving a plugin to ABI 2\"), "
                 "e.g. cc -shared -fPIC -fvisibility=hidden -Wall -Wextra $(pkg-config --cflags "
                 "jobhost) -Wl,-z,defs -o %s.so %s.c",
                 path, desc->abi_version, JH_ABI_VERSION, name, name);
        return -EPROTO;
    }
    if (desc->abi_version > JH_ABI_VERSION) {
        snprintf(err, errlen,
                 "%s: ABI version mismatch: plugin was built for ABI %u, this host speaks ABI %u: "
                 "upgrade jobhost, or rebuild the plugin against this jobhost's SDK",
                 path, desc->abi_version, JH_ABI_VERSION);
        return -EPROTO;
    }
    if (desc->size < sizeof(struct jh_plugin) || desc->size > PLUGIN_DESCRIPTOR_MAX) {
        snprintf(err, errlen, "%s: descriptor is %u bytes, expected %zu (corrupt or hand-made)",
                 path, desc->size, sizeof(struct jh_plugin));
        return -EPROTO;
    }
    /* A newer SDK's descriptor may be longer: fields this host does not
     * know are fine as long as they are not used. */
    for (size_t off = sizeof(struct jh_plugin); off < desc->size; off++) {
        if (((const unsigned char *)desc)[off]) {
            snprintf(err, errlen,
                     "%s: descriptor sets fields this host does not know (it is %u bytes, this "
                     "host knows %zu): built against a newer SDK; upgrade jobhost",
                     path, desc->size, sizeof(struct jh_plugin));
            return -EPROTO;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(desc->reserved); i++) {
        if (desc->reserved[i]) {
            snprintf(err, errlen,
                     "%s: descriptor sets reserved field %zu, which this host does not know "
                     "(built against a newer SDK? upgrade jobhost)",
                     path, i);
            return -EPROTO;
        }
    }
    if (!desc->run) {
        snprintf(err, errlen, "%s: descriptor has no run entry point", path);
        return -EINVAL;
    }
    if (!desc->name || !desc->name[0] || !desc->version || !desc->version[0]) {
        snprintf(err, errlen, "%s: descriptor has no name or no version", path);
        return -EINVAL;
    }
    return 0;
}

int plugin_bind(const struct jh_plugin *desc, char *err, size_t errlen)
{
    struct jh_import *first = desc->imports, *end = desc->imports_end;
    struct buf missing = {0};
    size_t n_missing = 0;
    int rc = 0;

    if (!first && !end)
        return 0; /* no host call at all */
    if (!first || !end || end < first || (size_t)(end - first) > PLUGIN_IMPORTS_MAX) {
        snprintf(err, errlen, "descriptor's table of host calls is malformed");
        return -EINVAL;
    }
    /* Every name first: a plugin is bound whole or not at all. Records of
     * one call from several source files repeat its name; zeroed records
     * (alignment padding between files) have none. */
    for (struct jh_import *it = first; it < end; it++) {
        char shown[PLUGIN_CALL_NAME_MAX + 1];
        bool named_before = false;

        if (!it->name || hostapi_lookup(it->name))
            continue;
        for (struct jh_import *e = first; e < it && !named_before; e++)
            named_before = e->name && strncmp(e->name, it->name, PLUGIN_CALL_NAME_MAX) == 0;
        if (named_before)
            continue;
        hostapi_text_line(shown, strnlen(it->name, PLUGIN_CALL_NAME_MAX) + 1, it->name);
        buf_printf(&missing, "%s%s", n_missing ? ", " : "", shown);
        n_missing++;
    }
    if (n_missing) {
        snprintf(err, errlen,
                 "uses %s this host does not have: %s (built against a newer SDK: upgrade "
                 "jobhost, or rebuild the plugin against this host's SDK)",
                 n_missing == 1 ? "a host call" : "host calls", missing.data);
        rc = -ENOSYS;
        goto out;
    }
    for (struct jh_import *it = first; it < end; it++) {
        void (*fn)(void) = it->name ? hostapi_lookup(it->name) : NULL;
        /* written only when it differs: a plugin loaded in place twice
         * keeps its records, and its runs may be reading them */
        if (fn && it->fn != fn)
            it->fn = fn;
    }
out:
    buf_free(&missing);
    return rc;
}

int plugin_load(const struct plugin_load_opts *opts, const char *name, struct plugin **out,
                char *err, size_t errlen)
{
    static atomic_uint copy_seq; /* distinct copy names within the process */
    struct plugin *p = NULL;
    struct buf path = {0}, copy = {0};
    void *handle = NULL;
    const struct jh_plugin *desc;
    char hash[65], why[1024];
    int fd = -1, copy_fd = -1;
    struct stat before, after;
    int rc;

    MAIN_THREAD_ONLY(); /* init runs here */
    *out = NULL;
    err[0] = '\0';
    fd = open_checked(opts, name, &path, err, errlen);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    fstat(fd, &before);
    if (opts->copy_dir) {
        buf_printf(&copy, "%s/%s-%u.so", opts->copy_dir, name,
                   atomic_fetch_add(&copy_seq, 1));
        copy_fd = open(copy.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
        if (copy_fd < 0) {
            rc = -errno;
            snprintf(err, errlen, "%s: cannot copy to %s: %s", path.data, copy.data,
                     strerror(errno));
            goto out;
        }
    }
    rc = hash_and_copy(fd, copy_fd, hash, path.data, err, errlen);
    if (copy_fd >= 0 && close(copy_fd) < 0 && rc == 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot copy for loading: %s", path.data, strerror(errno));
    }
    if (rc == 0 && fstat(fd, &after) == 0 &&
        (after.st_size != before.st_size || after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
         after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)) {
        rc = -EAGAIN;
        snprintf(err, errlen, "%s: the file changed while it was being read (still being "
                              "written?); reload again when it is complete",
                 path.data);
    }
    copy_fd = -1;
    if (rc < 0)
        goto out;
    {
        int check_fd = copy.data ? open(copy.data, O_RDONLY | O_CLOEXEC) : fd;
        rc = check_fd < 0 ? -errno : elf_check(check_fd, path.data, err, errlen);
        if (copy.data && check_fd >= 0)
            close(check_fd);
        if (rc < 0)
            goto out;
    }

    /* RTLD_LOCAL: plugins never see each other's symbols; RTLD_NOW: an
     * unresolved symbol fails here, not in the middle of a run. */
    handle = dlopen(copy.data ? copy.data : path.data, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        rc = -ENOEXEC;
        const char *dl = dlerror();
        /* dlerror names the private copy; the user knows the plugin's path */
        if (copy.data && dl && strncmp(dl, copy.data, copy.len) == 0 && dl[copy.len] == ':')
            dl += copy.len + 2;
        snprintf(err, errlen, "%s: not a loadable object: %s", path.data, dl ? dl : "?");
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
    rc = descriptor_check(desc, path.data, name, err, errlen);
    if (rc < 0)
        goto out;

    p = xcalloc(1, sizeof(*p));
    rc = params_load(desc, &p->params, &p->n_params, why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path.data, why);
        goto out;
    }
    rc = plugin_bind(desc, why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path.data, why);
        goto out;
    }
    p->name = xstrdup(name);
    p->path = path.data;
    path.data = NULL;
    memcpy(p->hash, hash, sizeof(p->hash));
    p->loaded_path = xstrdup(copy.data ? copy.data : p->path);
    p->handle = handle;
    p->desc = desc;
    p->desc_name = text_copy(desc->name, PLUGIN_NAME_TEXT_MAX);
    p->version = text_copy(desc->version, PLUGIN_NAME_TEXT_MAX);
    p->description = text_copy(desc->description, PLUGIN_DESCRIPTION_MAX);
    p->refs = 1;
    handle = NULL;

    if (desc->init && hostapi_call_init(p, why, sizeof(why)) != 0) {
        rc = -ECANCELED;
        snprintf(err, errlen, "%s: init failed: %s", p->path, why[0] ? why : "(no reason given)");
        goto out;
    }
    *out = p;
    p = NULL;
    rc = 0;
out:
    if (p) {
        /* refused or init failed: no shutdown for a plugin that never started */
        if (p->handle)
            dlclose(p->handle);
        plugin_free(p);
    }
    if (handle)
        dlclose(handle);
    if (fd >= 0)
        close(fd);
    if (copy.data)
        unlink(copy.data); /* loaded (mapped) or refused: the file is not needed */
    buf_free(&path);
    buf_free(&copy);
    return rc;
}

void plugin_ref(struct plugin *p)
{
    MAIN_THREAD_ONLY();
    p->refs++;
}

/* Written on the main thread, read by the exposition. */
static atomic_uint unload_failures;

unsigned plugin_unload_failures(void)
{
    return atomic_load(&unload_failures);
}

void plugin_unref(struct plugin *p)
{
    void *still;

    if (!p)
        return;
    MAIN_THREAD_ONLY();
    if (--p->refs > 0)
        return;
    if (p->desc->shutdown)
        hostapi_call_shutdown(p);
    dlclose(p->handle);
    /* RTLD_NOLOAD matches loaded objects by name: it finds the copy even
     * though its file is gone. */
    still = dlopen(p->loaded_path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (still) {
        dlclose(still);
        atomic_fetch_add(&unload_failures, 1);
        jlog(JH_LOG_WARN, "plugin_unload_failed", "plugin=%s path=%s reason=%s", p->name, p->path,
             "still mapped after dlclose (NODELETE or thread-local destructors)");
    } else {
        jlog(JH_LOG_DEBUG, "plugin_unloaded", "plugin=%s path=%s", p->name, p->path);
    }
    plugin_free(p);
}
