/*
 * format — text for `jobhost ctl`. See format.h.
 */
#include "ctl/format.h"

#include <errno.h>
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/listen.h"
#include "lib/trigger.h"
#include "lib/units.h"
#include "lib/utf8.h"

#define SGR_RESET "\033[0m"

char *ctl_span(int64_t ns, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {
        {"w", 7 * 86400 * NS_PER_SEC}, {"d", 86400 * NS_PER_SEC}, {"h", 3600 * NS_PER_SEC},
        {"m", 60 * NS_PER_SEC},        {"s", NS_PER_SEC},
    };
    uint64_t left = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    size_t used = 0;
    int parts = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(units) && parts < 2; i++) {
        uint64_t n = left / (uint64_t)units[i].ns;
        if (!n) {
            if (parts)
                break; /* "1h" rather than "1h0m" */
            continue;
        }
        left -= n * (uint64_t)units[i].ns;
        used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%llu%s",
                                 (unsigned long long)n, units[i].unit);
        parts++;
    }
    if (!parts)
        snprintf(buf, len, "0s");
    return buf;
}

char *ctl_duration(double ms, char *buf, size_t len)
{
    char span[CTL_TEXT_MAX];

    if (ms < 0)
        ms = 0;
    if (ms < 1)
        snprintf(buf, len, "%.2fms", ms);
    else if (ms < 1000)
        snprintf(buf, len, "%.0fms", ms);
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", ms / 1000);
    else
        snprintf(buf, len, "%s", ctl_span((int64_t)(ms * 1e6), span, sizeof(span)));
    return buf;
}

char *ctl_when(int64_t ns, int64_t now_ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / NS_PER_SEC), now = (time_t)(now_ns / NS_PER_SEC);
    struct tm tm, tm_now;

    if (ns <= 0 || !localtime_r(&t, &tm) || !localtime_r(&now, &tm_now)) {
        snprintf(buf, len, "-");
        return buf;
    }
    if (tm.tm_year == tm_now.tm_year)
        strftime(buf, len, "%m-%d %H:%M", &tm);
    else
        strftime(buf, len, "%Y-%m-%d", &tm);
    return buf;
}

char *ctl_datetime(int64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / NS_PER_SEC);
    struct tm tm;
    char zone[40];
    long off;

    if (ns <= 0 || !localtime_r(&t, &tm)) {
        snprintf(buf, len, "-");
        return buf;
    }
    off = tm.tm_gmtoff / 60;
    snprintf(zone, sizeof(zone), "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 60,
             labs(off) % 60);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + strlen(buf), len - strlen(buf), " %s", zone);
    return buf;
}

int64_t ctl_parse_time(const char *text)
{
    int64_t ns;

    if (!text || rfc3339_parse(text, &ns) < 0)
        return 0;
    return ns;
}

int ctl_url_from_listen(const char *listen, bool tls, char *out, size_t len, char *err,
                        size_t errlen)
{
    struct listen_addr a;
    const char *host;
    bool v6;

    if (listen_parse(listen, 0, &a, err, errlen) < 0)
        return -EINVAL;
    host = a.host;
    v6 = a.family == AF_INET6;
    if (!host[0] || strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1", v6 = false;
    else if (strcmp(host, "::") == 0)
        host = "::1";
    snprintf(out, len, "%s://%s%s%s:%s", tls ? "https" : "http", v6 ? "[" : "", host,
             v6 ? "]" : "", a.port);
    return 0;
}

bool ctl_colour(FILE *f)
{
    const char *no = getenv("NO_COLOR"), *term = getenv("TERM");

    if (no && *no)
        return false;
    if (term && strcmp(term, "dumb") == 0)
        return false;
    return isatty(fileno(f));
}

unsigned ctl_width(FILE *f)
{
    struct winsize ws;
    const char *cols = getenv("COLUMNS");
    long n;

    if (!isatty(fileno(f)))
        return 0;
    if (cols && (n = strtol(cols, NULL, 10)) > 0 && n < 10000)
        return (unsigned)n;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

const char *ctl_colour_of(const char *name)
{
    static const struct {
        const char *name, *sgr;
    } map[] = {
        {"success", "\033[32m"}, {"ok", "\033[32m"},       {"applied", "\033[32m"},
        {"failure", "\033[31m"}, {"failing", "\033[31m"},  {"timeout", "\033[31m"},
        {"crashed", "\033[31m"}, {"refused", "\033[31m"},  {"interrupted", "\033[31m"},
        {"running", "\033[34m"}, {"paused", "\033[33m"},   {"missed", "\033[33m"},
        {"skipped", "\033[33m"}, {"cancelled", "\033[33m"}, {"disabled", "\033[2m"},
        {"dry_run", "\033[2m"},
    };
    for (size_t i = 0; name && i < ARRAY_SIZE(map); i++)
        if (strcmp(name, map[i].name) == 0)
            return map[i].sgr;
    return "";
}

/* --- tables ------------------------------------------------------------------------ */

size_t ctl_text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80; /* count lead bytes */
    return n;
}

void ctl_table_init(struct ctl_table *t, size_t n, const char *const *heads, int flex)
{
    memset(t, 0, sizeof(*t));
    t->n_cols = n < CTL_COLS_MAX ? n : CTL_COLS_MAX;
    for (size_t i = 0; i < t->n_cols; i++)
        t->head[i] = heads[i];
    t->flex = flex;
}

void ctl_table_add(struct ctl_table *t, const char *const *cells, const char *const *colours)
{
    if (t->n_rows == t->cap_rows) {
        t->cap_rows = t->cap_rows ? 2 * t->cap_rows : 16;
        t->cells = xrealloc(t->cells, t->cap_rows * t->n_cols * sizeof(*t->cells));
        t->colour = xrealloc(t->colour, t->cap_rows * t->n_cols * sizeof(*t->colour));
    }
    for (size_t i = 0; i < t->n_cols; i++) {
        t->cells[t->n_rows * t->n_cols + i] = xstrdup(cells[i] ? cells[i] : "-");
        t->colour[t->n_rows * t->n_cols + i] = colours ? colours[i] : NULL;
    }
    t->n_rows++;
}

/* The ellipsis of a cut cell: "…" where the terminal speaks UTF-8. */
static const char *ellipsis(void)
{
    const char *cs = nl_langinfo(CODESET);
    return cs && strcmp(cs, "UTF-8") == 0 ? "\xe2\x80\xa6" : "~";
}

static void put_cell(FILE *out, const char *text, size_t width, size_t room, bool right,
                     bool last, const char *sgr)
{
    size_t w = ctl_text_width(text);
    size_t len = strlen(text);
    const char *cut = NULL;

    if (w > room) { /* only the flexible column is ever wider than its room */
        size_t keep = 0, chars = 0;
        while (keep < len && chars + 1 < room) {
            size_t n = utf8_seq((const unsigned char *)text + keep, len - keep);
            keep += n ? n : 1;
            chars++;
        }
        len = keep;
        w = chars + 1;
        cut = ellipsis();
    }
    if (right)
        fprintf(out, "%*s", (int)(width - w), "");
    if (sgr && *sgr)
        fputs(sgr, out);
    fprintf(out, "%.*s%s", (int)len, text, cut ? cut : "");
    if (sgr && *sgr)
        fputs(SGR_RESET, out);
    if (!right && !last)
        fprintf(out, "%*s", (int)(width - w), "");
}

void ctl_table_print(const struct ctl_table *t, FILE *out, unsigned width, bool colour)
{
    size_t w[CTL_COLS_MAX] = {0}, total = 0;

    for (size_t c = 0; c < t->n_cols; c++) {
        w[c] = ctl_text_width(t->head[c]);
        for (size_t r = 0; r < t->n_rows; r++) {
            size_t n = ctl_text_width(t->cells[r * t->n_cols + c]);
            if (n > w[c])
                w[c] = n;
        }
        total += w[c] + (c ? 2 : 0);
    }
    if (width && total > width && t->flex >= 0) {
        size_t others = total - w[t->flex];
        size_t floor = ctl_text_width(t->head[t->flex]) + 1;
        w[t->flex] = others + floor < width ? width - others : floor;
    }
    for (size_t c = 0; c < t->n_cols; c++) {
        if (c)
            fputs("  ", out);
        put_cell(out, t->head[c], w[c], w[c], t->right[c], c + 1 == t->n_cols,
                 colour ? "\033[1m" : NULL);
    }
    fputc('\n', out);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            if (c)
                fputs("  ", out);
            put_cell(out, t->cells[r * t->n_cols + c], w[c], w[c], t->right[c],
                     c + 1 == t->n_cols, colour ? t->colour[r * t->n_cols + c] : NULL);
        }
        fputc('\n', out);
    }
}

void ctl_table_free(struct ctl_table *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->colour);
    memset(t, 0, sizeof(*t));
}
