/*
 * format — how `jobhost ctl` puts what the daemon answers on a terminal:
 * spans ("1h59m"), run durations ("12ms"), times in the reader's zone,
 * a table whose one flexible column gives way to fit the terminal, and
 * colour only where it helps (a terminal, NO_COLOR unset). Also where the
 * daemon is: a URL from a manifest's host.http.listen.
 *
 * No I/O but the table's output stream and the terminal checks of
 * ctl_colour / ctl_width; no threads. Unit-tested alone (test_ctl).
 */
#ifndef JH_CTL_FORMAT_H
#define JH_CTL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/util.h"

#define CTL_TEXT_MAX 64 /* room for any one formatted time or span */

/* A span in its two largest units, no blank: "0s", "59s", "5m", "1h59m",
 * "3d4h", "2w1d". Negative spans are formatted as their size. */
char *ctl_span(int64_t ns, char *buf, size_t len);

/* A run's duration: "0.12ms", "12ms", "1.5s", "2m3s", "1h2m". */
char *ctl_duration(double ms, char *buf, size_t len);

/* A time for a table, in the local zone: "12-02 04:08" this year,
 * "2027-01-05" another; "-" for 0. */
char *ctl_when(int64_t ns, int64_t now_ns, char *buf, size_t len);

/* A time in full, local: "2026-12-02 04:08:52 +01:00"; "-" for 0. */
char *ctl_datetime(int64_t ns, char *buf, size_t len);

/* Unix ns of an RFC 3339 text, 0 when NULL or not one. */
int64_t ctl_parse_time(const char *text);

/* The URL that reaches a daemon listening on `listen` (its
 * host.http.listen): every interface means this host's loopback
 * (":9464" and "0.0.0.0:9464" give http://127.0.0.1:9464, "[::]:9464"
 * gives http://[::1]:9464); https when `tls`. 0, or -EINVAL with the
 * listen parser's message in err. */
int ctl_url_from_listen(const char *listen, bool tls, char *out, size_t len, char *err,
                        size_t errlen);

/* Colour for `f`: a terminal, NO_COLOR unset or empty, TERM not "dumb". */
bool ctl_colour(FILE *f);

/* The terminal's width for `f` (COLUMNS, else the terminal's, else 80);
 * 0 when f is no terminal: nothing is cut. */
unsigned ctl_width(FILE *f);

/* The SGR colour of a result or state name ("success", "failing", ...):
 * green, red, yellow, blue or dim; "" for anything else. */
const char *ctl_colour_of(const char *name);

/* --- tables ---------------------------------------------------------------- */

#define CTL_COLS_MAX 8

struct ctl_table {
    size_t n_cols;
    const char *head[CTL_COLS_MAX];
    bool right[CTL_COLS_MAX];   /* right-aligned */
    int flex;                   /* the column cut to fit the width; -1: none */
    size_t n_rows, cap_rows;
    char **cells;               /* n_rows * n_cols, owned */
    const char **colour;        /* the same, static SGR strings or NULL */
};

/* An empty table of `n` columns named by `heads` (copied pointers: string
 * literals); `flex` as above. */
void ctl_table_init(struct ctl_table *t, size_t n, const char *const *heads, int flex);

/* Adds a row: `cells[i]` copied (NULL: "-"), `colours[i]` borrowed (may be
 * NULL, or the array NULL). */
void ctl_table_add(struct ctl_table *t, const char *const *cells, const char *const *colours);

/* Writes the table: headers, then the rows, columns two blanks apart,
 * the flexible column cut (ending in "…" or "~") so that each line fits
 * `width` (0: no limit), colours when `colour`. */
void ctl_table_print(const struct ctl_table *t, FILE *out, unsigned width, bool colour);

void ctl_table_free(struct ctl_table *t);

/* How many terminal columns the UTF-8 text takes (one per character). */
size_t ctl_text_width(const char *s);

#endif /* JH_CTL_FORMAT_H */
