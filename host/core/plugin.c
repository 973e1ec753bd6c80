/*
 * plugin — the loader. See plugin.h.
 *
 * The order of checks is the order a user would debug in: is the name sane,
 * is the file there, may we trust it (and every directory above it), does
 * it load, is it a jobhost plugin, of our ABI, and does its init agree.
 * Each failure is one line that names the file, so `jobhost check` output
 * can be acted on without a debugger.
 *
 * The file is read once, from the descriptor the checks were made on, into
 * a sealed memory file; everything after (the ELF check, the hash, dlopen
 * here and in worker processes) uses that image. A `cp` of a new build over
 * the file while it is mapped cannot truncate live code, and glibc, which
 * hands back an already-loaded object for a path or inode it has seen,
 * sees a new inode for every image.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hostapi.h"
#include "core/log.h"
#include "core/mainloop.h"
#include "core/params.h"
#include "core/safe_open.h"
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

/* A refusal of the plugin directory or a directory above it, as one line
 * naming the plugin's path. */
static int dir_refused(const struct safe_error *e, const char *plugin_dir, const char *path,
                       char *err, size_t errlen)
{
    if (e->err == -EPERM && e->is_dir && e->final)
        snprintf(err, errlen, "%s: refusing to load: its directory %s", path, e->what);
    else if (e->err == -EPERM || e->err == -ELOOP)
        snprintf(err, errlen, "%s: refusing to load: %s, on the way to it, %s", path, e->where,
                 e->what);
    else
        snprintf(err, errlen, "%s: plugin directory %s: %s", path,
                 e->final ? plugin_dir : e->where, e->what);
    return e->err;
}

/* Opens <plugin_dir>/<name>.so after the name, existence, type and trust
 * checks (core/safe_open.h). Returns an fd, or -errno with the reason in
 * err. */
static int open_checked(const struct plugin_load_opts *opts, const char *name, struct buf *path,
                        char *err, size_t errlen)
{
    const unsigned trust = opts->strict_permissions ? SAFE_TRUSTED : 0;
    struct safe_error e;
    char file[160];
    int dfd, fd;

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
    snprintf(file, sizeof(file), "%s.so", name);
    dfd = safe_dir_open(opts->plugin_dir, trust, &e);
    if (dfd < 0)
        return dir_refused(&e, opts->plugin_dir, path->data, err, errlen);
    /* Checked on the open descriptor, which is the one read: a rename
     * between check and read cannot swap in another file. O_NONBLOCK: a
     * FIFO named NAME.so is refused, not waited on. */
    fd = safe_openat(dfd, opts->plugin_dir, file, O_RDONLY, 0, SAFE_REGULAR | trust, NULL, &e);
    close(dfd);
    if (fd >= 0)
        return fd;
    if (e.err == -ENOENT)
        snprintf(err, errlen, "%s: no such plugin file (is the plugin built and in plugin_dir?)",
                 path->data);
    else if (e.err == -EPERM)
        snprintf(err, errlen, "%s: refusing to load: the file %s", path->data, e.what);
    else
        snprintf(err, errlen, "%s: %s", path->data, e.what);
    return e.err;
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


/* Hashes what can be read from fd. */
static int hash_fd(int fd, char hash[65], const char *path, char *err, size_t errlen)
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
    }
    sha256_final(&sh, digest);
    sha256_hex(digest, hash);
    return 0;
}

/* The hash of a sealed image, read from its own pages. */
static int hash_image(int fd, size_t size, char hash[65], const char *path, char *err,
                      size_t errlen)
{
    struct sha256 sh;
    unsigned char digest[32];
    void *map = NULL;

    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int rc = -errno;
            snprintf(err, errlen, "%s: cannot map its image: %s", path, strerror(errno));
            return rc;
        }
    }
    sha256_init(&sh);
    sha256_update(&sh, map, size);
    sha256_final(&sh, digest);
    sha256_hex(digest, hash);
    if (map)
        munmap(map, size);
    return 0;
}

#define IMAGE_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* Reads fd (the checked plugin file) once into a new memory file and seals
 * it: what is loaded, here or in a worker, is these bytes and no others.
 * Returns the image's descriptor or -errno with err. */
static int image_make(int fd, const char *name, const char *path, char *err, size_t errlen)
{
    struct stat before, after;
    char chunk[65536], label[160];
    size_t total = 0;
    int img, rc;

    if (fstat(fd, &before) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        return rc;
    }
    snprintf(label, sizeof(label), "jobhost:%s", name);
    img = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (img < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot make an image to load: %s", path, strerror(errno));
        return rc;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        if (total + (size_t)n > PLUGIN_IMAGE_MAX) {
            rc = -EFBIG;
            snprintf(err, errlen, "%s: larger than %u MiB: not a plugin", path,
                     PLUGIN_IMAGE_MAX >> 20);
            goto fail;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(img, chunk + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = -errno;
                snprintf(err, errlen, "%s: cannot make an image to load: %s", path,
                         strerror(errno));
                goto fail;
            }
            off += w;
        }
        total += (size_t)n;
    }
    if (fstat(fd, &after) == 0 &&
        (after.st_size != before.st_size || (size_t)after.st_size != total ||
         after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
         after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)) {
        rc = -EAGAIN;
        snprintf(err, errlen, "%s: the file changed while it was being read (still being "
                              "written?); reload again when it is complete",
                 path);
        goto fail;
    }
    if (fcntl(img, F_ADD_SEALS, IMAGE_SEALS) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot seal its image: %s", path, strerror(errno));
        goto fail;
    }
    return img;
fail:
    close(img);
    return rc;
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
    rc = hash_fd(fd, hash, path.data, err, errlen);
    close(fd);
out:
    buf_free(&path);
    return rc;
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
    if (p->image_fd >= 0)
        close(p->image_fd);
    free(p->name);
    free(p->path);
    free(p->desc_name);
    free(p->version);
    free(p->description);
    free(p);
}

/* A plugin of image img (owned from now on), not mapped. */
static struct plugin *plugin_new(const char *name, const char *path, int img, const char *hash)
{
    struct plugin *p = xcalloc(1, sizeof(*p));

    p->name = xstrdup(name);
    p->path = xstrdup(path);
    p->image_fd = img;
    memcpy(p->hash, hash, sizeof(p->hash));
    p->refs = 1;
    atomic_init(&p->drain_deadline_mono, 0);
    return p;
}

int plugin_open(const struct plugin_load_opts *opts, const char *name, struct plugin **out,
                char *err, size_t errlen)
{
    struct buf path = {0};
    struct stat st;
    char hash[65];
    int fd = -1, img = -1;
    int rc;

    MAIN_THREAD_ONLY();
    *out = NULL;
    err[0] = '\0';
    fd = open_checked(opts, name, &path, err, errlen);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    img = image_make(fd, name, path.data, err, errlen);
    if (img < 0) {
        rc = img;
        goto out;
    }
    rc = fstat(img, &st) < 0 ? -errno : 0;
    if (rc == 0)
        rc = elf_check(img, path.data, err, errlen);
    if (rc == 0)
        rc = hash_image(img, (size_t)st.st_size, hash, path.data, err, errlen);
    if (rc < 0)
        goto out;
    *out = plugin_new(name, path.data, img, hash);
    img = -1;
out:
    if (img >= 0)
        close(img);
    if (fd >= 0)
        close(fd);
    buf_free(&path);
    return rc;
}

int plugin_load_image(int fd, const char *name, const char *path, struct plugin **out, char *err,
                      size_t errlen)
{
    struct plugin *p = NULL;
    struct stat st;
    char hash[65];
    int seals, rc;

    *out = NULL;
    err[0] = '\0';
    seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & IMAGE_SEALS) != IMAGE_SEALS || fstat(fd, &st) < 0 ||
        !S_ISREG(st.st_mode) || (uint64_t)st.st_size > PLUGIN_IMAGE_MAX) {
        snprintf(err, errlen, "%s: the image handed over is not a sealed plugin image", path);
        close(fd);
        return -EPERM;
    }
    rc = elf_check(fd, path, err, errlen);
    if (rc == 0)
        rc = hash_image(fd, (size_t)st.st_size, hash, path, err, errlen);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    p = plugin_new(name, path, fd, hash);
    rc = plugin_map(p, err, errlen);
    if (rc < 0) {
        plugin_free(p);
        return rc;
    }
    *out = p;
    return 0;
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


/* "/proc/self/fd/N" of p's image: the name its mapping goes by. */
static const char *image_name(const struct plugin *p, char *buf, size_t len)
{
    snprintf(buf, len, "/proc/self/fd/%d", p->image_fd);
    return buf;
}

int plugin_map(struct plugin *p, char *err, size_t errlen)
{
    struct plugin_param *params = NULL;
    size_t n_params = 0;
    const struct jh_plugin *desc;
    void *handle = NULL;
    char so[48], why[1024];
    int rc;

    MAIN_THREAD_ONLY(); /* init runs here */
    err[0] = '\0';
    /* RTLD_LOCAL: plugins never see each other's symbols; RTLD_NOW: an
     * unresolved symbol fails here, not in the middle of a run. The image's
     * ELF constructors run now. */
    image_name(p, so, sizeof(so));
    handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *dl = dlerror();
        size_t sl = strlen(so);
        /* dlerror names the image; the user knows the plugin's path */
        if (dl && strncmp(dl, so, sl) == 0 && dl[sl] == ':')
            dl += sl + 2;
        snprintf(err, errlen, "%s: not a loadable object: %s", p->path, dl ? dl : "?");
        return -ENOEXEC;
    }
    desc = dlsym(handle, JH_PLUGIN_SYMBOL);
    if (!desc) {
        rc = -ENOENT;
        snprintf(err, errlen,
                 "%s: missing descriptor symbol %s (export one with JH_PLUGIN(...) from "
                 "<jobhost/plugin.h>)",
                 p->path, JH_PLUGIN_SYMBOL);
        goto out;
    }
    rc = descriptor_check(desc, p->path, p->name, err, errlen);
    if (rc < 0)
        goto out;
    rc = params_load(desc, &params, &n_params, why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", p->path, why);
        goto out;
    }
    rc = plugin_bind(desc, why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", p->path, why);
        goto out;
    }
    p->handle = handle;
    p->desc = desc;
    p->abi_version = desc->abi_version;
    p->has_check = desc->check != NULL;
    if (!p->desc_name) {
        p->desc_name = text_copy(desc->name, PLUGIN_NAME_TEXT_MAX);
        p->version = text_copy(desc->version, PLUGIN_NAME_TEXT_MAX);
        p->description = text_copy(desc->description, PLUGIN_DESCRIPTION_MAX);
    }
    params_free(p->params, p->n_params);
    p->params = params;
    p->n_params = n_params;
    params = NULL;
    if (desc->init && hostapi_call_init(p, why, sizeof(why)) != 0) {
        rc = -ECANCELED;
        snprintf(err, errlen, "%s: init failed: %s", p->path, why[0] ? why : "(no reason given)");
        /* refused: no shutdown for a plugin that never started */
        p->handle = NULL;
        p->desc = NULL;
        p->state = NULL;
        goto out;
    }
    handle = NULL;
    rc = 0;
out:
    params_free(params, n_params);
    if (handle)
        dlclose(handle);
    return rc;
}

int plugin_load(const struct plugin_load_opts *opts, const char *name, struct plugin **out,
                char *err, size_t errlen)
{
    struct plugin *p = NULL;
    int rc = plugin_open(opts, name, &p, err, errlen);

    *out = NULL;
    if (rc < 0)
        return rc;
    rc = plugin_map(p, err, errlen);
    if (rc < 0) {
        plugin_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int plugin_set_info(struct plugin *p, const struct plugin_info *info, char *err, size_t errlen)
{
    /* the declarations go through the very check a mapped descriptor's do */
    struct jh_plugin d = {.abi_version = info->abi_version, .params = info->params};
    char why[1024];
    int rc;

    MAIN_THREAD_ONLY();
    if (p->desc || p->desc_name) {
        snprintf(err, errlen, "%s: descriptor reported twice", p->path);
        return -EPROTO;
    }
    if (info->abi_version != JH_ABI_VERSION || !info->name || !info->name[0] || !info->version ||
        !info->version[0]) {
        snprintf(err, errlen, "%s: the worker's report of the descriptor is malformed", p->path);
        return -EPROTO;
    }
    rc = params_load(&d, &p->params, &p->n_params, why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", p->path, why);
        return rc;
    }
    p->abi_version = info->abi_version;
    p->has_check = info->has_check;
    p->desc_name = text_copy(info->name, PLUGIN_NAME_TEXT_MAX);
    p->version = text_copy(info->version, PLUGIN_NAME_TEXT_MAX);
    p->description = text_copy(info->description, PLUGIN_DESCRIPTION_MAX);
    return 0;
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
    char so[48];
    void *still;

    if (!p)
        return;
    MAIN_THREAD_ONLY();
    if (--p->refs > 0)
        return;
    if (p->desc) {
        if (p->desc->shutdown)
            hostapi_call_shutdown(p);
        dlclose(p->handle);
        /* RTLD_NOLOAD matches loaded objects by name: the image's. */
        still = dlopen(image_name(p, so, sizeof(so)), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
        if (still) {
            dlclose(still);
            atomic_fetch_add(&unload_failures, 1);
            jlog(JH_LOG_WARN, "plugin_unload_failed", "plugin=%s path=%s reason=%s", p->name,
                 p->path, "still mapped after dlclose (NODELETE or thread-local destructors)");
            /* The mapping keeps the name /proc/self/fd/N: that number must
             * never name another image, or a later dlopen would be handed
             * this object. The descriptor stays open. */
            p->image_fd = -1;
        } else {
            jlog(JH_LOG_DEBUG, "plugin_unloaded", "plugin=%s path=%s", p->name, p->path);
        }
    }
    plugin_free(p);
}
