/*
 * record — key rules and value text of plugin records. See record.h.
 */
#include "core/record.h"

#include <string.h>

#include "lib/numfmt.h"

const char *record_type_name(enum record_type t)
{
    static const char *const names[RECORD_TYPE_COUNT] = {
        [RECORD_STR] = "str", [RECORD_INT] = "int",   [RECORD_UINT] = "uint",
        [RECORD_F64] = "f64", [RECORD_BOOL] = "bool", [RECORD_DUR] = "dur",
    };
    return (unsigned)t < RECORD_TYPE_COUNT ? names[t] : "?";
}

int record_type_parse(const char *name)
{
    for (int t = 0; t < RECORD_TYPE_COUNT; t++)
        if (strcmp(name, record_type_name((enum record_type)t)) == 0)
            return t;
    return -1;
}

bool record_key_reserved(const char *key, size_t len)
{
    static const char *const reserved[] = {
        "ts",     "level",     "event",       "job",     "run_id",      "plugin",
        "src",    "truncated", "result",      "trigger", "scheduled",   "dry_run",
        "duration_ms", "plugin_version",
    };

    /* every reserved key is 2 to 14 bytes and starts with one of these */
    if (len < 2 || len > 14 || !strchr("tlejprsd", key[0]))
        return false;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strlen(reserved[i]) == len && memcmp(reserved[i], key, len) == 0)
            return true;
    return false;
}

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

bool record_key_ok(const char *key, size_t len)
{
    if (len == 0 || len > RECORD_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!key_char(key[i]))
            return false;
    return !record_key_reserved(key, len);
}

size_t record_key(char out[RECORD_KEY_BUF], const char *key)
{
    static const char prefix[] = "plugin_";
    const size_t plen = sizeof(prefix) - 1;
    size_t n = 0;

    /* written after room for the prefix, moved down when none is needed */
    for (; key && key[n] && n < RECORD_KEY_MAX; n++) {
        char c = key[n];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[plen + n] = key_char(c) ? c : '_';
    }
    if (n == 0)
        out[plen + n++] = '_';
    if (record_key_reserved(out + plen, n)) {
        memcpy(out, prefix, plen);
        n += plen;
    } else {
        memmove(out, out + plen, n);
    }
    out[n] = '\0';
    return n;
}

const char *record_value_text(const struct record_pair *p, char buf[RECORD_TEXT_MAX])
{
    char *end = buf;

    switch (p->type) {
    case RECORD_STR:
        return p->v.s;
    case RECORD_INT:
        end = numfmt_i64(buf, p->v.i);
        break;
    case RECORD_UINT:
        end = numfmt_u64(buf, p->v.u);
        break;
    case RECORD_F64:
        end = buf + numfmt_double(p->v.f, false, buf);
        break;
    case RECORD_BOOL:
        return p->v.b ? "true" : "false";
    case RECORD_DUR:
        end = numfmt_ns_seconds(buf, p->v.ns);
        *end++ = 's';
        break;
    default:
        return "";
    }
    *end = '\0';
    return buf;
}
