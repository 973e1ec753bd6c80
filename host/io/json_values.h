/*
 * json_values — the scalar values the HTTP API writes in every document:
 * a time as RFC 3339 in UTC with milliseconds, a plugin's or the host's
 * text; JSON null when there is none.
 */
#ifndef JH_JSON_VALUES_H
#define JH_JSON_VALUES_H

#include <jansson.h>
#include <stdint.h>

/* Wall clock ns as RFC 3339; null when ns <= 0 (never happened). */
json_t *json_time_or_null(int64_t ns);

/* The text; null when NULL or empty, or when it is not UTF-8 (json_string
 * refuses it: a plugin's error may hold anything), rather than no value. */
json_t *json_text_or_null(const char *s);

#endif /* JH_JSON_VALUES_H */
