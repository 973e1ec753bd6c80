/*
 * logfmt — the pure encoder behind every log record.
 *
 * A record is one line of `key=value` pairs separated by single spaces. Keys
 * are [a-z0-9_] (anything else is sanitised on the way in), so grep, logfmt
 * tools and rsyslog's mmnormalize name-value-list parser can split them.
 * A value is written bare when it is non-empty and made only of printable
 * ASCII other than space, '"', '=' and '\', or of valid UTF-8 sequences that
 * are not C1 control characters; otherwise it is double-quoted with these
 * escapes:
 *
 *     \\  \"  \n  \t  \r     the usual ones
 *     \u00XX                 any other control character (C0, DEL, C1)
 *     \xXX                   a byte that is not part of valid UTF-8
 *
 * so no control character and no invalid UTF-8 ever reaches a sink. An empty
 * value is written as "".
 *
 * Pure: no globals, no locks, no clock reads; every function may be called
 * from any thread. Output goes to a caller's struct buf (util.h). The host
 * only writes records; the reader the tests check them with is
 * tests/common/logfmt_parse.h.
 */
#ifndef JH_LOGFMT_H
#define JH_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

/* Length of an RFC 3339 UTC millisecond timestamp: 2026-11-29T22:15:15.123Z */
#define LOGFMT_TS_LEN 24

/* Appends `key` sanitised: ASCII letters lowered, [a-z0-9_] kept, every other
 * byte becomes '_'; an empty or NULL key becomes "_". */
void logfmt_key(struct buf *b, const char *key);

/* Same for the `len` bytes at `key` (need not be NUL-terminated). */
void logfmt_key_n(struct buf *b, const char *key, size_t len);

/* Appends the `len` bytes at `v` encoded as a value (bare or quoted, see
 * above). `v` may hold any bytes, NUL included. */
void logfmt_value(struct buf *b, const char *v, size_t len);

/* Appends `key=value`, preceded by one space when `b` is not empty. A NULL
 * value is written as "". */
void logfmt_pair(struct buf *b, const char *key, const char *value);

/* Same as logfmt_pair for a key and value given with their lengths; the
 * common case (a bare value) costs one reservation and two copies. */
void logfmt_pair_n(struct buf *b, const char *key, size_t klen, const char *v, size_t vlen);

/* True when `len` bytes at `v` are non-empty bare ASCII (no quoting, and
 * no UTF-8 to check): the common case of a value, tested eight bytes at a
 * time. Implies logfmt_is_bare. */
bool logfmt_ascii_bare(const char *v, size_t len);

/* True when `len` bytes at `v` would be written bare (no quoting needed). */
bool logfmt_is_bare(const char *v, size_t len);

/* Writes the UTC time `wall_ns` (ns since the epoch, CLOCK_REALTIME) as
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" into `out` (LOGFMT_TS_LEN bytes plus a NUL) and
 * returns LOGFMT_TS_LEN. Arithmetic only: no gmtime, no locale, no locks.
 * Years outside 0000-9999 are clamped to those bounds. */
size_t logfmt_ts(char out[LOGFMT_TS_LEN + 1], int64_t wall_ns);

#endif /* JH_LOGFMT_H */
