/*
 * units — parsing of durations and sizes. See units.h.
 */
#include "lib/units.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct unit {
    const char *name;
    int64_t scale;
};

/* Longest names first so "ms" is not read as "m" followed by junk. */
static const struct unit duration_units[] = {
    {"ns", 1},
    {"us", NS_PER_US},
    {"ms", NS_PER_MS},
    {"s", NS_PER_SEC},
    {"m", 60 * NS_PER_SEC},
    {"h", 3600 * NS_PER_SEC},
    {"d", 86400 * NS_PER_SEC},
    {"w", 7 * 86400 * NS_PER_SEC},
};

static const struct unit *duration_unit(const char *p, size_t *len)
{
    size_t n = 0;
    while (p[n] >= 'a' && p[n] <= 'z')
        n++;
    for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
        if (strlen(duration_units[i].name) == n && memcmp(duration_units[i].name, p, n) == 0) {
            *len = n;
            return &duration_units[i];
        }
    }
    return NULL;
}

int duration_parse(const char *text, int64_t *ns)
{
    const char *p = text;
    int64_t total = 0;
    int64_t last_scale = INT64_MAX;

    if (!text || !*text)
        return -EINVAL;
    if (strcmp(text, "0") == 0) {
        *ns = 0;
        return 0;
    }
    while (*p) {
        int64_t whole = 0, frac = 0, frac_div = 1;
        size_t ulen;
        const struct unit *u;

        if (*p < '0' || *p > '9')
            return -EINVAL;
        while (*p >= '0' && *p <= '9') {
            if (whole > (INT64_MAX - 9) / 10)
                return -ERANGE;
            whole = whole * 10 + (*p++ - '0');
        }
        if (*p == '.') {
            p++;
            if (*p < '0' || *p > '9')
                return -EINVAL;
            while (*p >= '0' && *p <= '9') {
                if (frac_div < NS_PER_SEC) {
                    frac = frac * 10 + (*p - '0');
                    frac_div *= 10;
                }
                p++;
            }
        }
        u = duration_unit(p, &ulen);
        if (!u || u->scale >= last_scale)
            return -EINVAL; /* unknown unit, or units out of order / repeated */
        last_scale = u->scale;
        p += ulen;
        if (whole > INT64_MAX / u->scale)
            return -ERANGE;
        whole *= u->scale;
        if (total > INT64_MAX - whole)
            return -ERANGE;
        total += whole;
        int64_t part = (int64_t)((double)frac / (double)frac_div * (double)u->scale);
        if (total > INT64_MAX - part)
            return -ERANGE;
        total += part;
    }
    *ns = total;
    return 0;
}

char *duration_format(int64_t ns, char *buf, size_t len)
{
    size_t used = 0;
    uint64_t left; /* the magnitude: -INT64_MIN does not fit an int64_t */

    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (ns == 0) {
        snprintf(buf, len, "0s");
        return buf;
    }
    left = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (ns < 0)
        used += (size_t)snprintf(buf, len, "-");
    for (int i = (int)(sizeof(duration_units) / sizeof(duration_units[0])) - 2; i >= 0 && left > 0; i--) {
        /* weeks are skipped on output: "14d" reads better than "2w" */
        uint64_t scale = (uint64_t)duration_units[i].scale;
        if (left >= scale && used < len) {
            used += (size_t)snprintf(buf + used, len - used, "%llu%s",
                                     (unsigned long long)(left / scale), duration_units[i].name);
            left %= scale;
        }
    }
    return buf;
}

int size_parse(const char *text, uint64_t *bytes)
{
    static const struct {
        const char *name;
        uint64_t scale;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"KiB", UINT64_C(1) << 10},
        {"MiB", UINT64_C(1) << 20},
        {"GiB", UINT64_C(1) << 30},
        {"TiB", UINT64_C(1) << 40},
        {"kB", 1000},
        {"KB", 1000},
        {"MB", 1000000},
        {"GB", 1000000000},
        {"TB", UINT64_C(1000000000000)},
    };
    const char *p = text;
    uint64_t n = 0;

    if (!text || *p < '0' || *p > '9')
        return -EINVAL;
    while (*p >= '0' && *p <= '9') {
        if (n > (UINT64_MAX - 9) / 10)
            return -ERANGE;
        n = n * 10 + (uint64_t)(*p++ - '0');
    }
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].name) == 0) {
            if (n > UINT64_MAX / units[i].scale)
                return -ERANGE;
            *bytes = n * units[i].scale;
            return 0;
        }
    }
    return -EINVAL;
}

int bool_parse(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

int int_parse(const char *text, int64_t *out)
{
    const char *p = text;
    bool neg = *p == '-';
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

    if (*p == '-' || *p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (limit - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (*p)
        return -EINVAL;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}
