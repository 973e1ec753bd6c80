/*
 * util — the few helpers every module uses: allocation that aborts on
 * exhaustion (as the README says, the host does not limp on without memory),
 * a growable byte buffer and a list of error messages. Pure: no threads, no
 * I/O.
 */
#ifndef JH_UTIL_H
#define JH_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* A growable, always NUL-terminated byte buffer. Zero-initialise it
 * (struct buf b = {0};), append, then buf_free or take b.data. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_reset(struct buf *b); /* len = 0, keeps the memory */
void buf_free(struct buf *b);

/* A list of one-line error messages, collected so that a command like
 * `jobhost check` can print every problem, not just the first. */
struct errors {
    size_t count;
    struct buf text; /* the messages, each ending in '\n' */
};

void errors_add(struct errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void errors_free(struct errors *e);

#endif /* JH_UTIL_H */
