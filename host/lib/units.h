/*
 * units — the text forms of durations, sizes, booleans and whole numbers
 * used in manifests and by plugins' parameters: "500ms", "10s", "1h30m",
 * "14d"; "512", "64KiB", "10MiB", "1GB"; "true", "off"; "-42".
 * Pure functions: no allocation, no globals, safe from any thread.
 */
#ifndef JH_UNITS_H
#define JH_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_PER_US INT64_C(1000)
#define NS_PER_MS INT64_C(1000000)
#define NS_PER_SEC INT64_C(1000000000)

/* Parses a duration: one or more <digits>[.<digits>]<unit> groups with units
 * ns us ms s m h d w, largest first ("1h30m"; "1.5s"). A bare "0" is allowed.
 * Returns 0 and sets *ns, or -EINVAL (malformed) / -ERANGE (overflow). */
int duration_parse(const char *text, int64_t *ns);

/* Formats a duration in the largest exact units ("1h30m", "500ms", "0s")
 * into buf; returns buf. */
char *duration_format(int64_t ns, char *buf, size_t len);

/* Parses a byte size: digits with an optional unit B, KiB MiB GiB TiB (1024
 * based) or kB KB MB GB TB (1000 based). Returns 0, -EINVAL or -ERANGE. */
int size_parse(const char *text, uint64_t *bytes);

/* Parses a boolean: true True TRUE yes Yes on On, or false False FALSE no
 * No off Off. Returns 0, or -EINVAL. */
int bool_parse(const char *text, bool *out);

/* Parses a whole number: an optional '-' or '+', then decimal digits, and
 * nothing else (no spaces, no "0x"). Returns 0, -EINVAL or -ERANGE (outside
 * int64_t). */
int int_parse(const char *text, int64_t *out);

#endif /* JH_UNITS_H */
