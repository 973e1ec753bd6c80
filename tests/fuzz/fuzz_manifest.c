/*
 * fuzz_manifest — manifest_parse (host/manifest.h) on arbitrary bytes.
 *
 * Checks, besides what ASan, UBSan and LeakSanitizer see:
 *   - the result is 0 with a manifest and no error, or -EINVAL with no
 *     manifest and at least one error;
 *   - the error text is errs.count lines, each "fuzz.yaml:LINE:COL: ..."
 *     (manifest.h: "one line per problem", "every error names the file, the
 *     line and column"); past 100 errors the parser adds one last line
 *     "fuzz.yaml: too many errors, stopping";
 *   - parsing is pure: a second parse of the same text gives the same result
 *     and the same messages;
 *   - a manifest that parses is whole: every job has a valid id and plugin
 *     name, a trigger text, a trigger of a known kind whose next firing can
 *     be computed; paths are absolute under the manifest's directory; and
 *     manifest_find_job / manifest_retain_job work on it.
 *
 * Included files never come from disk: this target links a fake of
 * core/manifest_file.c (below) instead. The input may hold a second file
 * after a line "#8<": that is DIR/in.yaml, which every include pattern
 * matching "in.yaml" finds; any other file does not exist. Messages about
 * it name "in.yaml".
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>

#include "core/manifest.h"
#include "core/manifest_file.h"
#include "fuzz_common.h"
#include "lib/trigger.h"
#include "lib/units.h"

#define NAME "fuzz.yaml"
#define DIR "/nonexistent/jobhost-fuzz"
#define INCLUDED "in.yaml"
#define CUT "\n#8<\n"
#define TOO_MANY NAME ": too many errors, stopping"

/* ---- the fake file system: one file, DIR/in.yaml ----------------------------- */

/* The text of DIR/in.yaml for the current input, NULL when it has none.
 * libFuzzer runs one input at a time on one thread. */
static const char *g_included;
static size_t g_included_len;

int manifest_file_read(const char *path, size_t max, unsigned flags, struct buf *text,
                       struct stat *st, char *err, size_t errlen)
{
    (void)flags;
    if (!g_included || strcmp(path, DIR "/" INCLUDED) != 0) {
        snprintf(err, errlen, "cannot open: %s", strerror(ENOENT));
        return -ENOENT;
    }
    memset(st, 0, sizeof(*st));
    st->st_dev = 1;
    st->st_ino = 2;
    st->st_mode = S_IFREG | 0644;
    buf_append(text, g_included, g_included_len > max + 1 ? max + 1 : g_included_len);
    return 0;
}

bool manifest_file_is_glob(const char *pattern)
{
    return strpbrk(pattern, "*?[") != NULL;
}

int manifest_file_expand(const char *dir, const char *pattern, char ***paths, size_t *n, char *err,
                         size_t errlen)
{
    struct buf full = {0};

    (void)err;
    (void)errlen;
    FUZZ_CHECK(strcmp(dir, DIR) == 0, "include relative to \"%s\"", dir);
    *paths = NULL;
    *n = 0;
    if (pattern[0] != '/')
        buf_puts(&full, DIR "/");
    buf_puts(&full, pattern);
    if (manifest_file_is_glob(pattern) && fnmatch(full.data, DIR "/" INCLUDED, FNM_PATHNAME) != 0) {
        buf_free(&full);
        return 0; /* matches nothing */
    }
    if (manifest_file_is_glob(pattern)) {
        buf_reset(&full);
        buf_puts(&full, DIR "/" INCLUDED);
    }
    *paths = calloc(1, sizeof(**paths));
    (*paths)[0] = full.data;
    *n = 1;
    return 0;
}

void manifest_file_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

/* ---- checks -------------------------------------------------------------------- */

/* "fuzz.yaml:LINE:COL: " or "in.yaml:LINE:COL: " followed by a message. */
static bool positioned(const char *line, size_t len)
{
    size_t n, digits;

    if (len >= strlen(NAME ":") && memcmp(line, NAME ":", strlen(NAME ":")) == 0)
        n = strlen(NAME ":");
    else if (len >= strlen(INCLUDED ":") && memcmp(line, INCLUDED ":", strlen(INCLUDED ":")) == 0)
        n = strlen(INCLUDED ":");
    else
        return false;
    for (int field = 0; field < 2; field++) {
        for (digits = 0; n < len && isdigit((unsigned char)line[n]); n++)
            digits++;
        if (digits == 0 || n >= len || line[n] != ':')
            return false;
        n++;
    }
    return n + 1 < len && line[n] == ' ';
}

static void check_errors(const struct errors *errs, const uint8_t *data, size_t size)
{
    const char *p = errs->text.data, *end = p + errs->text.len;
    size_t lines = 0;

    FUZZ_CHECK(errs->count > 0 && p && errs->text.len > 0, "failure without an error message");
    FUZZ_CHECK(strlen(p) == errs->text.len, "NUL inside the messages");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        FUZZ_CHECK(nl != NULL, "last message does not end in a newline: \"%s\"", p);
        size_t len = (size_t)(nl - p);
        bool last_note = nl + 1 == end && len == strlen(TOO_MANY) && memcmp(p, TOO_MANY, len) == 0;
        FUZZ_CHECK(positioned(p, len) || last_note,
                   "message %zu is not \"" NAME ":LINE:COL: ...\": \"%.*s\"\n  input (%zu bytes): "
                   "\"%.*s\"",
                   lines + 1, (int)len, p, size, (int)(size > 400 ? 400 : size), (const char *)data);
        lines++;
        p = nl + 1;
    }
    FUZZ_CHECK(lines == errs->count, "errs.count %zu but %zu lines:\n%s", errs->count, lines,
               errs->text.data);
}

static bool valid_name(const char *s, bool allow_dot)
{
    if (!s || !isalnum((unsigned char)s[0]))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && !(allow_dot && *s == '.'))
            return false;
    return true;
}

static void check_path(const char *what, const char *path)
{
    if (!path)
        return;
    FUZZ_CHECK(path[0] == '/', "%s \"%s\" is not absolute", what, path);
}

static void check_manifest(struct manifest *m)
{
    FUZZ_CHECK(strcmp(m->path, NAME) == 0 && strcmp(m->dir, DIR) == 0, "path/dir not kept");
    check_path("plugin_dir", m->host.plugin_dir);
    check_path("log file", m->host.log.file_path);
    check_path("token_file", m->host.http.token_file);
    check_path("cert_file", m->host.http.cert_file);
    check_path("key_file", m->host.http.key_file);
    FUZZ_CHECK(m->host.workers >= 1, "workers %u", m->host.workers);
    FUZZ_CHECK(m->host.http.listen && m->host.log.ident && m->host.log.ident[0], "host strings");
    FUZZ_CHECK(!m->host.http.cert_file == !m->host.http.key_file, "cert without key");
    FUZZ_CHECK(m->host.shutdown_timeout_ns >= 0 && m->host.drain_timeout_ns >= 0, "negative timeouts");
    for (size_t i = 1; i < m->host.n_duration_buckets; i++)
        FUZZ_CHECK(m->host.duration_buckets[i] > m->host.duration_buckets[i - 1],
                   "buckets do not increase");

    for (size_t i = 0; i < m->n_jobs; i++) {
        const struct manifest_job *j = &m->jobs[i];
        FUZZ_CHECK(valid_name(j->id, true) && strlen(j->id) <= 128, "jobs[%zu].id \"%s\"", i,
                   j->id ? j->id : "(null)");
        FUZZ_CHECK(valid_name(j->plugin, false), "jobs[%zu].plugin \"%s\"", i,
                   j->plugin ? j->plugin : "(null)");
        FUZZ_CHECK(j->trigger_text != NULL, "jobs[%zu] has no trigger text", i);
        FUZZ_CHECK(j->file && (strcmp(j->file, NAME) == 0 || strcmp(j->file, INCLUDED) == 0),
                   "jobs[%zu] from \"%s\"", i, j->file ? j->file : "(null)");
        FUZZ_CHECK(j->max_instances >= 1 && j->max_instances <= 10000, "max_instances %u",
                   j->max_instances);
        FUZZ_CHECK(j->misfire_grace_ns >= 0 && j->timeout_ns >= 0, "negative durations");
        FUZZ_CHECK(manifest_find_job(m, j->id) != NULL, "manifest_find_job(\"%s\")", j->id);
        for (size_t k = 0; k < j->n_params; k++)
            FUZZ_CHECK(j->params[k].key != NULL, "param without key");
        const struct trigger *t = &j->trigger;
        switch (t->kind) {
        case TRIGGER_NONE:
            break;
        case TRIGGER_INTERVAL:
            FUZZ_CHECK(t->interval_ns > 0, "interval %lld", (long long)t->interval_ns);
            break;
        case TRIGGER_CRON:
        case TRIGGER_DATE:
            break;
        default:
            FUZZ_CHECK(false, "jobs[%zu]: trigger kind %d", i, (int)t->kind);
        }
        /* 2026-01-01T00:00:00Z */
        int64_t now = INT64_C(1767225600) * NS_PER_SEC;
        int64_t next = trigger_next(t, now, now);
        FUZZ_CHECK(next == -1 || next > now, "jobs[%zu]: next %lld", i, (long long)next);
    }
    if (m->n_jobs > 0) {
        char *id = strdup(m->jobs[m->n_jobs - 1].id);
        manifest_retain_job(m, id);
        FUZZ_CHECK(m->n_jobs == 1 && strcmp(m->jobs[0].id, id) == 0, "manifest_retain_job");
        free(id);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct manifest *m = (struct manifest *)1, *m2 = (struct manifest *)1;
    struct errors errs = {0}, errs2 = {0};
    const char *text = (const char *)data;
    const char *cut = memmem(data, size, CUT, strlen(CUT));
    int rc, rc2;

    g_included = NULL;
    if (cut) {
        g_included = cut + strlen(CUT);
        g_included_len = size - (size_t)(g_included - text);
        size = (size_t)(cut - text) + 1; /* the main text keeps its newline */
    }
    rc = manifest_parse(NAME, DIR, text, size, &m, &errs);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "manifest_parse = %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(m != NULL, "success without a manifest");
        FUZZ_CHECK(errs.count == 0 && errs.text.len == 0, "success with errors:\n%s",
                   errs.text.data);
    } else {
        FUZZ_CHECK(m == NULL, "failure with a manifest");
        check_errors(&errs, data, size);
    }

    rc2 = manifest_parse(NAME, DIR, text, size, &m2, &errs2);
    FUZZ_CHECK(rc2 == rc && errs2.count == errs.count &&
                   (errs.count == 0 || strcmp(errs.text.data, errs2.text.data) == 0),
               "second parse differs: %d vs %d\n%s---\n%s", rc, rc2,
               errs.text.data ? errs.text.data : "", errs2.text.data ? errs2.text.data : "");
    manifest_free(m2);

    if (m)
        check_manifest(m);
    manifest_free(m);
    manifest_free(NULL);
    errors_free(&errs);
    errors_free(&errs2);
    return 0;
}
