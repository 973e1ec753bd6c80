/*
 * logfmt_parse — reads back a logfmt line as host/lib/logfmt.h writes it:
 * the tests and the logfmt fuzzer check every record the host writes with
 * it. It is not part of the daemon, which only ever writes records.
 *
 * Accepts what logfmt_value writes (bare values, quoted values with \\ \"
 * \n \t \r \u00XX \xXX) plus bare keys (`flag`, value ""). Pure.
 */
#ifndef JH_LOGFMT_PARSE_H
#define JH_LOGFMT_PARSE_H

#include <stddef.h>

struct logfmt_pair {
    char *key;        /* NUL-terminated */
    char *value;      /* NUL-terminated, unescaped; may hold NULs: see value_len */
    size_t value_len;
};

struct logfmt_record {
    struct logfmt_pair *pairs; /* in line order */
    size_t n;
};

/* Parses one line (without or with a trailing '\n') into `rec`, which the
 * caller zero-initialises and frees with logfmt_record_free, also on error.
 * Returns 0, or -EINVAL with a message naming the column in `err`
 * (may be NULL). */
int logfmt_parse(const char *line, size_t len, struct logfmt_record *rec, char *err,
                 size_t errlen);

void logfmt_record_free(struct logfmt_record *rec);

/* The value of the first pair named `key`, or NULL. Borrowed from `rec`. */
const char *logfmt_get(const struct logfmt_record *rec, const char *key);

#endif /* JH_LOGFMT_PARSE_H */
