/*
 * record — the key/value pairs of the records plugins write (jh_log), as
 * they are once they have crossed the SDK boundary: typed (a number stays a
 * number until an observer writes it out), with keys that follow the rules
 * below, and text that is valid UTF-8. core/hostapi.c makes them from a
 * plugin's pairs, the outcome observers read them (core/outcome.h), and the
 * isolation protocol (core/isolate.c) carries them between processes with
 * their types.
 *
 * Keys: [a-z0-9_], 1 to RECORD_KEY_MAX bytes (ASCII letters are lowered,
 * every other byte becomes '_', an empty key becomes "_"). A key the host
 * writes itself in a plugin's record or in the job records around it (see
 * record_key_reserved) is renamed with a "plugin_" prefix, so a plugin's
 * record can never pose as the host's: `job=x` from a plugin arrives as
 * `plugin_job=x`, beside the host's own `job`. Observers mark plugin
 * records besides: the log writes `src=plugin` after the fixed keys.
 *
 * Pure: no threads, no I/O, no globals.
 */
#ifndef JH_RECORD_H
#define JH_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECORD_MAX_PAIRS 64    /* pairs a record keeps; more are dropped (truncated) */
#define RECORD_KEY_MAX 64      /* bytes of a key, before any "plugin_" prefix */
#define RECORD_KEY_BUF (RECORD_KEY_MAX + 8)  /* room for a key with its prefix and NUL */
#define RECORD_EVENT_MAX 128   /* bytes of an event name */
#define RECORD_VALUE_MAX 2048  /* bytes of a string value (the log's own bound) */
#define RECORD_TEXT_MAX 48     /* room for any number's text, NUL included */
#define RECORD_TRUNC_MARK "...[truncated]" /* ends a string value that was cut */

/* A value's type: what a plugin's JH_STR, JH_INT, ... made. */
enum record_type {
    RECORD_STR = 0,
    RECORD_INT,  /* int64_t */
    RECORD_UINT, /* uint64_t */
    RECORD_F64,  /* double, any (NaN and infinities too) */
    RECORD_BOOL,
    RECORD_DUR,  /* int64_t nanoseconds */
    RECORD_TYPE_COUNT
};

struct record_pair {
    const char *key; /* follows the key rules above */
    enum record_type type;
    union {
        const char *s; /* never NULL; valid UTF-8, at most RECORD_VALUE_MAX bytes */
        int64_t i;
        uint64_t u;
        double f;
        bool b;
        int64_t ns;
    } v;
};

/* "str" "int" "uint" "f64" "bool" "dur" (the names the isolation protocol
 * uses); "?" out of range. record_type_parse is the reverse: -1 when
 * unknown. */
const char *record_type_name(enum record_type t);
int record_type_parse(const char *name);

/* True when `key` is one the host writes itself: the fixed keys of every
 * record (ts level event job run_id plugin src truncated) and those of the
 * job records (result trigger scheduled dry_run duration_ms
 * plugin_version). */
bool record_key_reserved(const char *key, size_t len);

/* True when key[0..len) already follows the key rules and needs no
 * copy: the common case, checked without writing anything. */
bool record_key_ok(const char *key, size_t len);

/* Writes `key` (a C string, any bytes, NULL taken as "") as it follows the
 * key rules into out (RECORD_KEY_BUF bytes); returns its length. The same
 * result for a key that already follows them, so applying it twice (in the
 * worker and again in the host) changes nothing. */
size_t record_key(char out[RECORD_KEY_BUF], const char *key);

/* The text of a value: a string as it is; integers in decimal; doubles in
 * the shortest form that reads back the same (0.1, 1e+06, NaN, +Inf);
 * booleans "true"/"false"; durations in seconds with an "s" (0.25s, 90s,
 * 1e-09 written 0.000000001s). Numbers are written into buf
 * (RECORD_TEXT_MAX bytes), which the result may point into. */
const char *record_value_text(const struct record_pair *p, char buf[RECORD_TEXT_MAX]);

#endif /* JH_RECORD_H */
