/*
 * tz — IANA time zones without libc's global TZ state. See tz.h.
 *
 * A zone is the TZif file's transition table (the 64-bit one of v2+ files)
 * plus its POSIX TZ footer, which answers for instants past the last listed
 * transition (zic writes only a few decades of transitions, or none at all
 * for "slim" files). Offsets are looked up by binary search in the table, or
 * computed from the footer rule for the year in question.
 *
 * Zones live for the whole process in a singly linked cache guarded by
 * cache_lock; once published a zone is never written again, so readers need
 * no lock. Loading a zone happens under the lock: it is rare (once per name)
 * and keeps two threads from loading the same file twice.
 */
#include "lib/tz.h"

#include "lib/civil.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_LOCALTIME "/etc/localtime"
#define SECS_PER_DAY 86400
/* The largest real TZif file is a few KiB; anything much bigger is not one. */
#define TZIF_MAX_SIZE (1 << 20)
#define TZ_NAME_MAX 255
#define FOOTER_MAX 255
/* Instants are clamped to +-2^50 s (~35 million years): years still fit an
 * int and t + offset never overflows. */
#define TZ_CLAMP (INT64_C(1) << 50)
/* RFC 8536: utoff SHOULD lie in [-89999, 93599] (-24:59:59 .. +25:59:59). */
#define UTOFF_MIN (-89999)
#define UTOFF_MAX 93599

enum rule_kind {
    RULE_JULIAN1, /* Jn: day 1..365, 29 February never counted */
    RULE_DAY0,    /* n: day 0..365, 29 February counted */
    RULE_MONTH,   /* Mm.w.d: day d of week w (5 = last) of month m */
};

struct rule_date {
    enum rule_kind kind;
    int day;      /* RULE_JULIAN1, RULE_DAY0 */
    int month;    /* RULE_MONTH: 1..12 */
    int week;     /* RULE_MONTH: 1..5 */
    int wday;     /* RULE_MONTH: 0..6, Sunday = 0 */
    int32_t time; /* local time of day of the change, seconds; may be <0 or >24h (v3) */
};

/* A POSIX TZ string, with offsets turned into seconds east of UTC. */
struct rule {
    int32_t std_off;
    int32_t dst_off;
    bool has_dst;
    struct rule_date start; /* into DST, in local standard time */
    struct rule_date end;   /* out of DST, in local daylight time */
};

struct tz_type {
    int32_t off;
    bool dst;
};

struct tz {
    struct tz *next; /* cache list; set before publication, under cache_lock */
    char *name;
    bool from_posix;    /* made by tz_posix: cached apart from file names */
    int64_t *trans;     /* ascending transition instants */
    uint8_t *trans_type; /* index into types for each transition */
    size_t ntrans;
    struct tz_type *types; /* at least one; types[0] applies before trans[0] */
    size_t ntypes;
    bool has_rule; /* footer present: it governs instants >= the last transition */
    struct rule rule;
};

/* Loaded zones. cache_head is read and written only under cache_lock. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz *cache_head;

/* The host zone, written once by local_init under local_once, read after. */
static pthread_once_t local_once = PTHREAD_ONCE_INIT;
static const struct tz *local_zone;

/* The fallback host zone when nothing else can be read; never written. */
static struct tz_type utc_type = {0, false};
static char utc_name[] = "UTC";
static struct tz utc_zone = {.name = utc_name, .types = &utc_type, .ntypes = 1};

int tz_days_in_month(int year, int month)
{
    return civil_days_in_month(year, month);
}

static int64_t clamp_s(int64_t t)
{
    return t < -TZ_CLAMP ? -TZ_CLAMP : t > TZ_CLAMP ? TZ_CLAMP : t;
}

int64_t tz_utc_from_civil(const struct civil *c)
{
    int64_t y = c->year, m = c->month;
    int64_t days;

    /* Carry an out-of-range month into the year so the formula stays valid. */
    y += floor_div(m - 1, 12);
    m = m - 1 - floor_div(m - 1, 12) * 12 + 1;
    days = days_from_civil(y, (int)m, c->mday);
    return days * SECS_PER_DAY + (int64_t)c->hour * 3600 + (int64_t)c->min * 60 + c->sec;
}

void tz_utc_to_civil(int64_t unix_s, struct civil *out)
{
    int64_t t = clamp_s(unix_s);
    int64_t days = floor_div(t, SECS_PER_DAY);
    int64_t rem = t - days * SECS_PER_DAY;
    int64_t y;

    civil_from_days(days, &y, &out->month, &out->mday);
    out->year = (int)y;
    out->hour = (int)(rem / 3600);
    out->min = (int)(rem / 60 % 60);
    out->sec = (int)(rem % 60);
    out->wday = civil_weekday(days);
}

/* ---- POSIX TZ rules ---------------------------------------------------- */

/* Local (wall-clock) seconds since the epoch at which `d` happens in `year`. */
static int64_t rule_date_local(const struct rule_date *d, int64_t year)
{
    int64_t jan1 = days_from_civil(year, 1, 1);
    int64_t day;

    switch (d->kind) {
    case RULE_JULIAN1:
        day = jan1 + d->day - 1 + (civil_is_leap(year) && d->day >= 60);
        break;
    case RULE_DAY0:
        day = jan1 + d->day;
        break;
    default: {
        int64_t first = days_from_civil(year, d->month, 1);
        int dim = tz_days_in_month((int)year, d->month);
        int mday = 1 + (d->wday - civil_weekday(first) + 7) % 7 + (d->week - 1) * 7;

        while (mday > dim) /* week 5 means the last such weekday */
            mday -= 7;
        day = first + mday - 1;
        break;
    }
    }
    return day * SECS_PER_DAY + d->time;
}

static int32_t rule_offset(const struct rule *r, int64_t t)
{
    int64_t year, start, end;
    int m, d;
    bool dst;

    if (!r->has_dst)
        return r->std_off;
    /* The year as the standard-time clock reads it; the changes of that year
     * are then placed on the UTC axis, each in the clock it is given in. */
    civil_from_days(floor_div(t + r->std_off, SECS_PER_DAY), &year, &m, &d);
    start = rule_date_local(&r->start, year) - r->std_off;
    end = rule_date_local(&r->end, year) - r->dst_off;
    if (start < end)
        dst = t >= start && t < end; /* northern: DST inside the year */
    else
        dst = !(t >= end && t < start); /* southern: DST across new year */
    return dst ? r->dst_off : r->std_off;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A zone abbreviation: 3+ letters, or <...> with letters, digits, + and -. */
static const char *parse_abbr(const char *p)
{
    const char *q = p;

    if (*p == '<') {
        q++;
        while (is_alpha(*q) || is_digit(*q) || *q == '+' || *q == '-')
            q++;
        if (*q != '>' || q - p - 1 < 3)
            return NULL;
        return q + 1;
    }
    while (is_alpha(*q))
        q++;
    return q - p >= 3 ? q : NULL;
}

static const char *parse_num(const char *p, int maxdigits, int max, int *out)
{
    int v = 0, n = 0;

    while (is_digit(*p) && n < maxdigits) {
        v = v * 10 + (*p++ - '0');
        n++;
    }
    if (n == 0 || v > max)
        return NULL;
    *out = v;
    return p;
}

/* [+-]hh[:mm[:ss]] in seconds; hours up to max_hours. */
static const char *parse_hms(const char *p, int max_hours, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;

    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    p = parse_num(p, 3, max_hours, &h);
    if (p && *p == ':') {
        p = parse_num(p + 1, 2, 59, &m);
        if (p && *p == ':')
            p = parse_num(p + 1, 2, 59, &s);
    }
    if (p)
        *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *parse_rule_date(const char *p, struct rule_date *d)
{
    if (*p == 'J') {
        d->kind = RULE_JULIAN1;
        p = parse_num(p + 1, 3, 365, &d->day);
        if (p && d->day < 1)
            return NULL;
    } else if (*p == 'M') {
        d->kind = RULE_MONTH;
        p = parse_num(p + 1, 2, 12, &d->month);
        if (p && *p == '.')
            p = parse_num(p + 1, 1, 5, &d->week);
        else
            p = NULL;
        if (p && *p == '.')
            p = parse_num(p + 1, 1, 6, &d->wday);
        else
            p = NULL;
        if (p && (d->month < 1 || d->week < 1))
            return NULL;
    } else {
        d->kind = RULE_DAY0;
        p = parse_num(p, 3, 365, &d->day);
    }
    d->time = 2 * 3600; /* POSIX default: 02:00 */
    if (p && *p == '/')
        p = parse_hms(p + 1, 167, &d->time); /* v3: -167..167 hours */
    return p;
}

/* Parses a NUL-terminated POSIX TZ string. Returns 0 or -EINVAL. */
static int rule_parse(const char *s, struct rule *r)
{
    const char *p;
    int32_t off;

    memset(r, 0, sizeof(*r));
    p = parse_abbr(s);
    if (p)
        p = parse_hms(p, 24, &off);
    if (!p)
        return -EINVAL;
    r->std_off = -off; /* POSIX counts west of Greenwich as positive */
    if (*p == '\0')
        return 0;
    p = parse_abbr(p);
    if (!p)
        return -EINVAL;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        p = parse_hms(p, 24, &off);
        if (!p)
            return -EINVAL;
        r->dst_off = -off;
    }
    if (*p == '\0') {
        /* No rule given: glibc and tzcode assume the US rules. */
        r->start = (struct rule_date){RULE_MONTH, 0, 3, 2, 0, 7200};
        r->end = (struct rule_date){RULE_MONTH, 0, 11, 1, 0, 7200};
        return 0;
    }
    if (*p != ',')
        return -EINVAL;
    p = parse_rule_date(p + 1, &r->start);
    if (!p || *p != ',')
        return -EINVAL;
    p = parse_rule_date(p + 1, &r->end);
    if (!p || *p != '\0')
        return -EINVAL;
    return 0;
}

/* ---- offsets and civil conversion -------------------------------------- */

static const struct tz *resolve(const struct tz *tz)
{
    return tz ? tz : tz_local();
}

int32_t tz_offset_at(const struct tz *tz, int64_t unix_s)
{
    const struct tz *z = resolve(tz);
    int64_t t = clamp_s(unix_s);
    size_t lo, hi;

    if (z->ntrans == 0)
        return z->has_rule ? rule_offset(&z->rule, t) : z->types[0].off;
    if (t < z->trans[0])
        return z->types[0].off;
    if (z->has_rule && t >= z->trans[z->ntrans - 1])
        return rule_offset(&z->rule, t);
    /* The last transition at or before t. */
    lo = 0;
    hi = z->ntrans;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->types[z->trans_type[lo]].off;
}

void tz_to_civil(const struct tz *tz, int64_t unix_s, struct civil *out)
{
    int64_t t = clamp_s(unix_s);

    tz_utc_to_civil(t + tz_offset_at(tz, t), out);
}

int tz_from_civil(const struct tz *tz, const struct civil *c, int64_t *unix_s)
{
    const struct tz *z = resolve(tz);
    int64_t local = clamp_s(tz_utc_from_civil(c));
    /* The offsets a day either side bracket any change near `local`: real
     * zones never change twice within a day, nor by a day or more. */
    int32_t early = tz_offset_at(z, local - SECS_PER_DAY);
    int32_t late = tz_offset_at(z, local + SECS_PER_DAY);
    int64_t t_early = local - early, t_late = local - late;
    bool ok_early = tz_offset_at(z, t_early) == early;
    bool ok_late = tz_offset_at(z, t_late) == late;
    int64_t lo, hi;

    if (ok_early && ok_late) {
        if (t_early == t_late) {
            *unix_s = t_early;
            return 0;
        }
        /* The clock read `local` twice: take the first time. */
        *unix_s = t_early < t_late ? t_early : t_late;
        return 2;
    }
    if (ok_early || ok_late) {
        *unix_s = ok_early ? t_early : t_late;
        return 0;
    }
    /* Skipped by a forward change: find the change, the first instant whose
     * clock reads later than `local`. Between t_late and t_early the clock
     * reading rises monotonically across it, so bisect on the second. */
    lo = t_early < t_late ? t_early : t_late;
    hi = t_early < t_late ? t_late : t_early;
    if (lo + tz_offset_at(z, lo) >= local || hi + tz_offset_at(z, hi) < local) {
        *unix_s = t_early; /* not a zone tzdata produces; stay sane */
        return 1;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (mid + tz_offset_at(z, mid) >= local)
            hi = mid;
        else
            lo = mid;
    }
    *unix_s = hi;
    return 1;
}

const char *tz_name(const struct tz *tz)
{
    return resolve(tz)->name;
}

/* ---- TZif files --------------------------------------------------------- */

struct tzif_header {
    char version; /* '\0', '2', '3' or '4' */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int tzif_header(const unsigned char *p, size_t len, struct tzif_header *h,
                       const char **why)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0) {
        *why = "no TZif header";
        return -EINVAL;
    }
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > 1000000 || h->charcnt > 65536 ||
        h->leapcnt > 65536 || (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)) {
        *why = "bad counts in header";
        return -EINVAL;
    }
    return 0;
}

/* Size of the data block after a header, with `tsize`-byte times. */
static size_t tzif_body_size(const struct tzif_header *h, size_t tsize)
{
    return (size_t)h->timecnt * (tsize + 1) + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Reads one data block into z. */
static int tzif_body(const unsigned char *p, const struct tzif_header *h, size_t tsize,
                     struct tz *z, const char **why)
{
    const unsigned char *idx = p + (size_t)h->timecnt * tsize;
    const unsigned char *ti = idx + h->timecnt;

    if (h->leapcnt) {
        *why = "leap-second (right/) zones are not supported";
        return -EINVAL;
    }
    z->ntrans = h->timecnt;
    z->ntypes = h->typecnt;
    z->trans = xcalloc(h->timecnt ? h->timecnt : 1, sizeof(*z->trans));
    z->trans_type = xcalloc(h->timecnt ? h->timecnt : 1, 1);
    z->types = xcalloc(h->typecnt, sizeof(*z->types));
    for (size_t i = 0; i < h->typecnt; i++) {
        int32_t off = (int32_t)be32(ti + 6 * i);

        if (off < UTOFF_MIN || off > UTOFF_MAX || ti[6 * i + 4] > 1) {
            *why = "bad local time type";
            return -EINVAL;
        }
        z->types[i].off = off;
        z->types[i].dst = ti[6 * i + 4];
    }
    for (size_t i = 0; i < h->timecnt; i++) {
        z->trans[i] = tsize == 8 ? be64(p + 8 * i) : (int32_t)be32(p + 4 * i);
        z->trans_type[i] = idx[i];
        if (idx[i] >= h->typecnt || (i > 0 && z->trans[i] <= z->trans[i - 1])) {
            *why = "bad transition table";
            return -EINVAL;
        }
    }
    return 0;
}

static int tzif_parse(const unsigned char *data, size_t len, struct tz *z, const char **why)
{
    struct tzif_header h;
    size_t body, tsize = 4;
    const unsigned char *p = data;
    int rc;

    rc = tzif_header(p, len, &h, why);
    if (rc < 0)
        return rc;
    if (h.version != '\0' && (h.version < '2' || h.version > '4')) {
        *why = "unknown TZif version";
        return -EINVAL;
    }
    body = tzif_body_size(&h, 4);
    if (len - 44 < body) {
        *why = "truncated";
        return -EINVAL;
    }
    if (h.version != '\0') {
        /* v2+: skip the 32-bit block; the 64-bit one that follows is complete. */
        p += 44 + body;
        len -= 44 + body;
        rc = tzif_header(p, len, &h, why);
        if (rc < 0)
            return rc;
        tsize = 8;
        body = tzif_body_size(&h, 8);
        if (len - 44 < body) {
            *why = "truncated";
            return -EINVAL;
        }
    }
    rc = tzif_body(p + 44, &h, tsize, z, why);
    if (rc < 0)
        return rc;
    p += 44 + body;
    len -= 44 + body;
    if (tsize == 8 && len > 0) {
        /* Footer: "\n" POSIX-TZ "\n". An empty one means "no rule". */
        const unsigned char *nl = len > 1 ? memchr(p + 1, '\n', len - 1) : NULL;
        size_t n = nl ? (size_t)(nl - p - 1) : 0;
        char spec[FOOTER_MAX + 1];

        if (p[0] != '\n' || !nl || n > FOOTER_MAX) {
            *why = "bad footer";
            return -EINVAL;
        }
        if (n > 0) {
            memcpy(spec, p + 1, n);
            spec[n] = '\0';
            if (rule_parse(spec, &z->rule) < 0) {
                *why = "bad POSIX TZ string in footer";
                return -EINVAL;
            }
            z->has_rule = true;
        }
    }
    return 0;
}

static void zone_free(struct tz *z)
{
    if (!z)
        return;
    free(z->name);
    free(z->trans);
    free(z->trans_type);
    free(z->types);
    free(z);
}

/* Reads a regular file of at most TZIF_MAX_SIZE bytes. 0 or -errno. */
static int read_small_file(const char *path, unsigned char **data, size_t *len)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    rc = -errno;
    if (fstat(fd, &st) < 0)
        goto out;
    /* A directory ("Europe") is a likely typo; a device or a huge file is
     * not a zone either. */
    rc = S_ISDIR(st.st_mode) ? -EISDIR : -EFBIG;
    if (!S_ISREG(st.st_mode) || st.st_size > TZIF_MAX_SIZE)
        goto out;
    buf = xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            goto out;
        }
        got += (size_t)n;
    }
    *data = buf;
    *len = got;
    buf = NULL; /* ownership passed on */
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

/* Reads and parses the TZif file at `path` into a new zone named `name`.
 * Returns 0, -errno from reading, or -EINVAL with the reason in *why. */
static int zone_load_file(const char *path, const char *name, struct tz **out, const char **why)
{
    unsigned char *data = NULL;
    struct tz *z = NULL;
    size_t len = 0;
    int rc;

    rc = read_small_file(path, &data, &len);
    if (rc < 0)
        goto out;
    z = xcalloc(1, sizeof(*z));
    z->name = xstrdup(name);
    rc = tzif_parse(data, len, z, why);
    if (rc < 0)
        goto out;
    *out = z;
    z = NULL; /* ownership passed on */
out:
    zone_free(z);
    free(data);
    return rc;
}

/* Builds a zone for name from a file, with an error message worded for a
 * zone name (or for a path, when `is_path`). NULL on failure. */
static struct tz *zone_from_file(const char *path, const char *name, bool is_path, char *err,
                                 size_t errlen)
{
    struct tz *z = NULL;
    const char *why = "invalid";
    int rc;

    rc = zone_load_file(path, name, &z, &why);
    if (rc == 0)
        return z;
    if (!err || errlen == 0)
        return NULL;
    if ((rc == -ENOENT || rc == -ENOTDIR) && !is_path)
        snprintf(err, errlen, "unknown time zone \"%s\" (no file %s)", name, path);
    else if (rc == -EISDIR && !is_path)
        snprintf(err, errlen, "unknown time zone \"%s\" (%s is a directory)", name, path);
    else if (rc == -EFBIG)
        snprintf(err, errlen, "time zone \"%s\": %s is not a TZif file", name, path);
    else if (rc == -EINVAL)
        snprintf(err, errlen, "time zone \"%s\": %s is not a valid TZif file: %s", name, path,
                 why);
    else
        snprintf(err, errlen, "time zone \"%s\": cannot read %s: %s", name, path, strerror(-rc));
    return NULL;
}

static struct tz *zone_utc_named(const char *name)
{
    struct tz *z = xcalloc(1, sizeof(*z));

    z->name = xstrdup(name);
    z->types = xcalloc(1, sizeof(*z->types));
    z->ntypes = 1;
    return z;
}

/* A name must stay inside the zoneinfo directory: relative, no "..", and
 * only the characters tzdata uses. */
static bool name_is_safe(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!is_alpha(c) && !is_digit(c) && c != '/' && c != '_' && c != '-' && c != '+' &&
            c != '.')
            return false;
    }
    return true;
}

static bool name_is_builtin_utc(const char *name)
{
    return strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 ||
           strcmp(name, "GMT") == 0 || strcmp(name, "Etc/GMT") == 0;
}

/* Looks a zone up in the cache. Caller holds cache_lock. */
static const struct tz *cache_find(const char *name, bool from_posix)
{
    for (const struct tz *z = cache_head; z; z = z->next) {
        if (z->from_posix == from_posix && strcmp(z->name, name) == 0)
            return z;
    }
    return NULL;
}

/* Publishes z. Caller holds cache_lock. */
static const struct tz *cache_add(struct tz *z)
{
    z->next = cache_head;
    cache_head = z;
    return z;
}

static struct tz *zone_load_name(const char *name, char *err, size_t errlen)
{
    const char *dir = getenv("TZDIR");
    struct buf path = {0};
    struct tz *z;

    if (!dir || !*dir)
        dir = TZ_DEFAULT_DIR;
    buf_printf(&path, "%s/%s", dir, name);
    z = zone_from_file(path.data, name, false, err, errlen);
    if (!z && name_is_builtin_utc(name) && access(path.data, F_OK) < 0)
        z = zone_utc_named(name); /* no tzdata installed: UTC needs none */
    buf_free(&path);
    return z;
}

const struct tz *tz_get(const char *name, char *err, size_t errlen)
{
    const struct tz *z;
    struct tz *fresh;

    if (!name || !*name) {
        if (err && errlen)
            snprintf(err, errlen, "time zone name is empty");
        return NULL;
    }
    if (!name_is_safe(name)) {
        if (err && errlen)
            snprintf(err, errlen, "invalid time zone name \"%s\"", name);
        return NULL;
    }
    pthread_mutex_lock(&cache_lock);
    z = cache_find(name, false);
    if (!z) {
        fresh = zone_load_name(name, err, errlen);
        if (fresh)
            z = cache_add(fresh);
    }
    pthread_mutex_unlock(&cache_lock);
    return z;
}

static struct tz *zone_from_posix(const char *spec, char *err, size_t errlen)
{
    struct tz *z;
    struct rule r;

    if (rule_parse(spec, &r) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "invalid POSIX TZ string \"%s\"", spec);
        return NULL;
    }
    z = zone_utc_named(spec);
    z->from_posix = true;
    z->rule = r;
    z->has_rule = true;
    z->types[0].off = r.std_off;
    return z;
}

const struct tz *tz_posix(const char *spec, char *err, size_t errlen)
{
    const struct tz *z;
    struct tz *fresh;

    if (!spec) {
        if (err && errlen)
            snprintf(err, errlen, "invalid POSIX TZ string \"\"");
        return NULL;
    }
    pthread_mutex_lock(&cache_lock);
    z = cache_find(spec, true);
    if (!z) {
        fresh = zone_from_posix(spec, err, errlen);
        if (fresh)
            z = cache_add(fresh);
    }
    pthread_mutex_unlock(&cache_lock);
    return z;
}

/* The name for /etc/localtime: what follows "zoneinfo/" in its symlink
 * target ("../usr/share/zoneinfo/Europe/Berlin" -> "Europe/Berlin"). */
static char *localtime_name(void)
{
    char target[512];
    ssize_t n = readlink(TZ_LOCALTIME, target, sizeof(target) - 1);
    const char *p, *name = NULL;

    if (n > 0) {
        target[n] = '\0';
        for (p = strstr(target, "zoneinfo/"); p; p = strstr(p + 1, "zoneinfo/"))
            name = p + strlen("zoneinfo/");
    }
    return xstrdup(name && *name ? name : "localtime");
}

static void local_init(void)
{
    const char *env = getenv("TZ");
    const struct tz *z = NULL;
    char *name;

    /* Zones read from a path are kept in local_zone alone, not in the name
     * cache, so tz_get("Europe/Berlin") always means the zoneinfo file. */
    if (env) {
        bool colon = *env == ':';
        const char *v = colon ? env + 1 : env;

        if (*v == '\0') {
            z = &utc_zone; /* TZ="" means UTC, as in glibc */
        } else if (*v == '/') {
            z = zone_from_file(v, v, true, NULL, 0);
        } else {
            /* Like glibc: a zone file by that name first, then a POSIX string. */
            z = tz_get(v, NULL, 0);
            if (!z && !colon)
                z = tz_posix(v, NULL, 0);
        }
    } else {
        name = localtime_name();
        z = zone_from_file(TZ_LOCALTIME, name, true, NULL, 0);
        free(name);
    }
    local_zone = z ? z : &utc_zone;
}

const struct tz *tz_local(void)
{
    pthread_once(&local_once, local_init);
    return local_zone;
}
