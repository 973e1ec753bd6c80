/*
 * json_values — see json_values.h.
 */
#include "io/json_values.h"

#include "lib/trigger.h"

json_t *json_time_or_null(int64_t ns)
{
    char when[RFC3339_BUFLEN];
    if (ns <= 0)
        return json_null();
    return json_string(rfc3339_format(ns, NULL, true, when, sizeof(when)));
}

json_t *json_text_or_null(const char *s)
{
    json_t *j = s && *s ? json_string(s) : NULL;
    return j ? j : json_null();
}
