/*
 * suggest — "did you mean": the known name nearest to a misspelled one. The
 * manifest reader uses it for unknown keys, the parameter check for unknown
 * parameters, so both suggest alike. Pure.
 */
#ifndef JH_SUGGEST_H
#define JH_SUGGEST_H

#include <stddef.h>

/* Levenshtein distance between a and b; a large number (99) when either
 * is 63 bytes or longer (no name worth suggesting is). */
size_t suggest_distance(const char *a, const char *b);

/* The name of names[0..n) nearest to `word`, if it is close enough to be
 * what was meant: fewer than 3 edits, and fewer edits than `word` has
 * bytes ("x" is not "id"). The first of equally near names wins. NULL when
 * none is. */
const char *suggest_nearest(const char *word, const char *const *names, size_t n);

#endif /* JH_SUGGEST_H */
