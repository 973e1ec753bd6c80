/*
 * utf8 — the one UTF-8 decoder of the host: where a byte string stops being
 * valid UTF-8, and where it may be cut without splitting a character. Used
 * by the manifest reader, the log encoder and the metrics exposition, which
 * must each refuse or escape exactly the same bytes, and by the plugin
 * boundary, which replaces them. Pure.
 */
#ifndef JH_UTF8_H
#define JH_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence that starts at s, of which `left`
 * (>= 1) bytes may be read; 0 when it is invalid: a stray continuation byte,
 * an overlong form, a surrogate, a code point above U+10FFFF, or a sequence
 * cut short by `left`. An ASCII byte (NUL included) is a sequence of 1. */
size_t utf8_seq(const unsigned char *s, size_t left);

/* True when the 2-byte sequence at s is a C1 control character
 * (U+0080..U+009F): valid UTF-8, but a control character. */
static inline bool utf8_is_c1(const unsigned char *s)
{
    return s[0] == 0xc2 && s[1] < 0xa0;
}

/* Bytes at the start of s[0..len) that are valid UTF-8: len when all are. */
size_t utf8_valid_prefix(const char *s, size_t len);

/* The largest n <= max such that s[0..n) does not end inside a UTF-8
 * sequence that starts before it; len when len <= max. A string that is not
 * UTF-8 at that point is cut at max. */
size_t utf8_cut(const char *s, size_t len, size_t max);

/* Copies s[0..len) into out, which has room for cap (>= 1) bytes, as valid
 * UTF-8: every byte that does not start a valid sequence (utf8_seq) becomes
 * U+FFFD, the replacement character. The copy ends before the first
 * character that would not fit in cap - 1 bytes, so it is never cut inside
 * a character, and is NUL-terminated. Returns the bytes written (the NUL
 * left out); *cut (may be NULL) says whether some of s was left out. At
 * most cap - 1 bytes of s are read past the end of what fits, so s may be
 * as long as it likes. This is how text from plugins enters the host. */
size_t utf8_sanitize(char *out, size_t cap, const char *s, size_t len, bool *cut);

#endif /* JH_UTF8_H */
