/*
 * schema — reading a YAML node tree (core/yamltree.h) against what the
 * manifest expects: typed getters for strings, booleans, whole numbers,
 * durations, sizes and paths; key checking with "did you mean"; and the one
 * message format, FILE:LINE:COL: key.path: what is wrong. Internal to the
 * manifest reader (core/manifest.c), which holds the schema itself.
 *
 * Messages are collected, not printed: reading goes on after a problem so
 * that one pass reports every one, and at the end schema_flush puts them
 * into the caller's list in document order (file by file, then by line and
 * column), at most SCHEMA_MAX_ERRORS of them. Each message is one line
 * whatever the user's text holds: control characters are shown escaped.
 *
 * Pure: no I/O, no globals.
 */
#ifndef JH_SCHEMA_H
#define JH_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/yamltree.h"
#include "lib/arena.h"
#include "lib/util.h"

#define SCHEMA_MAX_ERRORS 100
#define SCHEMA_PATH_MAX 512 /* key paths longer than this are cut in messages */

struct schema_error;

/* One reading: where strings go, how relative paths resolve, where
 * messages go. Set file/file_seq/dir before reading each file. */
struct schema {
    const char *file;      /* the current file's name, as messages show it */
    unsigned file_seq;     /* its place in reading order (0: the manifest), for sorting */
    const char *dir;       /* what relative paths of this file resolve against */
    struct arena *strings; /* where getters copy strings: the manifest's arena */
    bool failed;           /* any problem so far, in any file */

    /* collected messages (private) */
    struct schema_error *errors;
    size_t n_errors, cap_errors;
    size_t dropped;        /* messages past the collection bound, only counted */
    struct schema_error *warnings;
    size_t n_warnings, cap_warnings;
};

/* Reports a problem at line:col of the current file, under key path `path`
 * (NULL or "" for none). Sets s->failed. */
void schema_error(struct schema *s, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Reports something that is valid but most likely not what the user
 * meant (a cron expression that never fires), as schema_error does but
 * without setting s->failed; the message reads
 * "FILE:LINE:COL: warning: key.path: what". */
void schema_warning(struct schema *s, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Takes back the messages collected since s->n_errors was `since`: the
 * tree withdraws what was said about a file that then turns out not to be
 * YAML. */
void schema_withdraw(struct schema *s, size_t since);

/* Moves the messages src collected (another file, read by another thread)
 * into dst, as if dst had collected them; src is left empty. */
void schema_adopt(struct schema *dst, struct schema *src);

/* Frees the collected messages unsaid. */
void schema_discard(struct schema *s);

/* Moves the collected messages into errs, sorted, the first
 * SCHEMA_MAX_ERRORS of them, and when there were more a last line
 * "NAME: too many errors, stopping" (NAME: `main`, the manifest). */
void schema_flush(struct schema *s, struct errors *errs, const char *main);

/* The same for the warnings, into `warnings`. */
void schema_flush_warnings(struct schema *s, struct errors *warnings);

/* Key paths for messages: "host.log.file.path", "jobs[2].trigger.cron". */
void schema_child_path(char *out, size_t len, const char *parent, const char *key);
void schema_index_path(char *out, size_t len, const char *parent, size_t i);

/* "a scalar", "a list", "a mapping". */
const char *schema_kind_name(const struct ynode *n);

/* A plain scalar meaning null: empty, ~, null, Null, NULL. */
bool schema_is_null(const struct ynode *n);

/* True when n is of `kind`; otherwise reports "expected a list, got a
 * scalar" and returns false. */
bool schema_expect(struct schema *s, const struct ynode *n, enum ynode_kind kind, const char *path);

/* Checks that every key of `map` is a scalar that appears once and, unless
 * `allowed` is NULL (free-form maps), is named in `allowed` (NULL-terminated).
 * An unknown key is reported with a suggestion ("did you mean \"jobs\"?")
 * or the list of keys allowed. */
void schema_check_keys(struct schema *s, const struct ynode *map, const char *path,
                       const char *const *allowed);

/* The value under `key` in `map` (the first, when repeated), or NULL. */
const struct ynode *schema_get(const struct ynode *map, const char *key);

/* Typed values. Each checks n, reports what is wrong (under `path`) and
 * returns false, leaving *out as it was; or stores the value and returns
 * true. Strings are copied into s->strings. */
bool schema_string(struct schema *s, const struct ynode *n, const char *path, char **out);
bool schema_bool(struct schema *s, const struct ynode *n, const char *path, bool *out);
bool schema_uint(struct schema *s, const struct ynode *n, const char *path, unsigned long min,
                 unsigned long max, unsigned *out);
/* A duration from min to max ns (both included): every duration of the
 * manifest has its range, so clock arithmetic never meets an absurd one;
 * outside it: "1us is out of range (from 1ms to 3650d)". */
bool schema_duration(struct schema *s, const struct ynode *n, const char *path, int64_t min,
                     int64_t max, int64_t *out);
bool schema_size(struct schema *s, const struct ynode *n, const char *path, uint64_t *out);
/* A path, resolved against s->dir unless absolute; must not be empty. */
bool schema_path(struct schema *s, const struct ynode *n, const char *path, char **out);

#endif /* JH_SCHEMA_H */
