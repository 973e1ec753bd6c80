/*
 * params — declared parameters: loading them from a descriptor, and holding
 * jobs to them. See params.h.
 */
#include "core/params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hostapi.h"
#include "core/mainloop.h"
#include "core/manifest.h"
#include "core/plugin.h"
#include "lib/suggest.h"
#include "lib/units.h"
#include "lib/utf8.h"

const char *params_type_name(uint32_t type)
{
    static const char *const names[] = {
        [JH_TYPE_STRING] = "string", [JH_TYPE_BOOL] = "bool", [JH_TYPE_INT] = "int",
        [JH_TYPE_DURATION] = "duration", [JH_TYPE_SIZE] = "size", [JH_TYPE_LIST] = "list",
        [JH_TYPE_MAP] = "map",
    };
    return type >= JH_TYPE_STRING && type <= JH_TYPE_MAP ? names[type] : "?";
}

int params_scalar_check(enum jh_type type, const char *text, char *why, size_t whylen)
{
    int64_t i;
    uint64_t u;
    bool b;
    int rc;

    switch (type) {
    case JH_TYPE_STRING:
        return 0;
    case JH_TYPE_BOOL:
        if (bool_parse(text, &b) == 0)
            return 0;
        snprintf(why, whylen, "expected true or false, got \"%s\"", text);
        return -EINVAL;
    case JH_TYPE_INT:
        rc = int_parse(text, &i);
        if (rc == 0)
            return 0;
        if (rc == -ERANGE)
            snprintf(why, whylen, "%s is out of range for a whole number", text);
        else
            snprintf(why, whylen, "expected a whole number, got \"%s\"", text);
        return -EINVAL;
    case JH_TYPE_DURATION:
        rc = duration_parse(text, &i);
        if (rc == 0)
            return 0;
        if (rc == -ERANGE)
            snprintf(why, whylen, "duration \"%s\" is too long", text);
        else if (text[0] && int_parse(text, &i) == 0)
            snprintf(why, whylen, "duration \"%s\" needs a unit (ms, s, m, h, d), e.g. \"%ss\"",
                     text, text);
        else
            snprintf(why, whylen,
                     "invalid duration \"%s\" (expected e.g. 500ms, 10s, 5m, 1h30m, 14d)", text);
        return -EINVAL;
    case JH_TYPE_SIZE:
        if (size_parse(text, &u) == 0)
            return 0;
        snprintf(why, whylen, "invalid size \"%s\" (expected e.g. 512KiB, 10MiB, 1GiB)", text);
        return -EINVAL;
    case JH_TYPE_LIST:
        snprintf(why, whylen, "expected a list, got a scalar");
        return -EINVAL;
    case JH_TYPE_MAP:
        snprintf(why, whylen, "expected a map, got a scalar");
        return -EINVAL;
    }
    snprintf(why, whylen, "unknown type %u", (unsigned)type);
    return -EINVAL;
}

/* ---- declarations -------------------------------------------------------------- */

static bool name_valid(const char *name)
{
    size_t n = strnlen(name, PARAMS_NAME_MAX + 1);

    if (n == 0 || n > PARAMS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* A string from the plugin, as the host keeps it: valid UTF-8, one line. */
static char *text_copy(const char *s)
{
    char out[PARAMS_TEXT_MAX];

    hostapi_text_line(out, sizeof(out), s ? s : "");
    return xstrdup(out);
}

void params_free(struct plugin_param *params, size_t n)
{
    for (size_t i = 0; params && i < n; i++) {
        free(params[i].name);
        free(params[i].default_value);
        free(params[i].description);
    }
    free(params);
}

int params_load(const struct jh_plugin *desc, struct plugin_param **out, size_t *n_out, char *err,
                size_t errlen)
{
    const struct jh_param_spec *spec = desc->params;
    struct plugin_param *params = NULL;
    size_t n = 0;
    int rc = -EINVAL;

    *out = NULL;
    *n_out = 0;
    while (spec && spec[n].name) {
        if (++n > PARAMS_MAX) {
            snprintf(err, errlen,
                     "descriptor declares more than %d parameters (or its list does not end "
                     "with JH_PARAMS_END)",
                     PARAMS_MAX);
            return -EINVAL;
        }
    }
    params = xcalloc(n + 1, sizeof(*params));
    for (size_t i = 0; i < n; i++) {
        const struct jh_param_spec *sp = &spec[i];
        struct plugin_param *pp = &params[i];
        char why[256], shown[PARAMS_NAME_MAX + 1];

        if (!name_valid(sp->name)) {
            hostapi_text_line(shown, sizeof(shown), sp->name);
            snprintf(err, errlen,
                     "declared parameter \"%s\": not a parameter name (1 to %d letters, digits, "
                     "'_' or '-')",
                     shown, PARAMS_NAME_MAX);
            goto out;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(params[k].name, sp->name) == 0) {
                snprintf(err, errlen, "parameter \"%s\" is declared twice", sp->name);
                goto out;
            }
        }
        if (sp->reserved[0] || sp->reserved[1]) {
            snprintf(err, errlen,
                     "parameter \"%s\": reserved fields are set (built against a newer SDK than "
                     "this host's?)",
                     sp->name);
            goto out;
        }
        if (sp->type < JH_TYPE_STRING || sp->type > JH_TYPE_MAP) {
            snprintf(err, errlen,
                     "parameter \"%s\": unknown type %u (built against a newer SDK than this "
                     "host's?)",
                     sp->name, (unsigned)sp->type);
            goto out;
        }
        if (sp->flags & ~JH_REQUIRED) {
            snprintf(err, errlen, "parameter \"%s\": unknown flags 0x%x", sp->name,
                     (unsigned)(sp->flags & ~JH_REQUIRED));
            goto out;
        }
        pp->name = xstrdup(sp->name);
        pp->type = (enum jh_type)sp->type;
        pp->required = sp->flags & JH_REQUIRED;
        pp->description = text_copy(sp->description);
        if (!sp->default_value)
            continue;
        if (pp->required) {
            snprintf(err, errlen, "parameter \"%s\" is required and has a default: drop one",
                     sp->name);
            goto out;
        }
        if (pp->type == JH_TYPE_LIST || pp->type == JH_TYPE_MAP) {
            snprintf(err, errlen, "parameter \"%s\": a %s parameter cannot have a default",
                     sp->name, params_type_name(pp->type));
            goto out;
        }
        pp->default_value = text_copy(sp->default_value);
        if (params_scalar_check(pp->type, pp->default_value, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "parameter \"%s\": its default does not fit its type: %s",
                     sp->name, why);
            goto out;
        }
    }
    *out = params;
    *n_out = n;
    params = NULL;
    rc = 0;
out:
    params_free(params, n);
    return rc;
}

const struct plugin_param *params_find(const struct plugin *p, const char *name)
{
    for (size_t i = 0; p && name && i < p->n_params; i++)
        if (strcmp(p->params[i].name, name) == 0)
            return &p->params[i];
    return NULL;
}

/* ---- jobs ------------------------------------------------------------------------ */

/* A key as written, for a one-line message: control characters escaped. */
static const char *shown_key(const char *key, char *out, size_t len)
{
    size_t o = 0;

    for (const unsigned char *c = (const unsigned char *)key; *c && o + 5 < len; c++) {
        if (*c < 0x20 || *c == 0x7f)
            o += (size_t)snprintf(out + o, len - o, "\\x%02x", *c);
        else
            out[o++] = (char)*c;
    }
    out[o] = '\0';
    return out;
}

static const char *kind_name(int kind)
{
    return kind == JH_PARAM_LIST ? "a list" : kind == JH_PARAM_MAP ? "a map" : "a scalar";
}

/* What a scalar type expects, for "expected ..., got a list". */
static const char *scalar_what(enum jh_type type)
{
    switch (type) {
    case JH_TYPE_BOOL:
        return "true or false";
    case JH_TYPE_INT:
        return "a whole number";
    case JH_TYPE_DURATION:
        return "a duration";
    case JH_TYPE_SIZE:
        return "a size";
    default:
        return "a string";
    }
}

/* The problems of one given parameter against its declaration: 0 or 1. */
static size_t check_value(const struct plugin_param *decl, const struct manifest_param *mp,
                          const struct manifest_job *job, const char *key, struct errors *errs)
{
    char why[512];
    bool bad = false;

    if (decl->type == JH_TYPE_LIST || decl->type == JH_TYPE_MAP) {
        int want = decl->type == JH_TYPE_LIST ? JH_PARAM_LIST : JH_PARAM_MAP;
        if (mp->kind != want) {
            snprintf(why, sizeof(why), "expected a %s, got %s", params_type_name(decl->type),
                     kind_name(mp->kind));
            bad = true;
        }
    } else if (mp->kind != JH_PARAM_SCALAR) {
        snprintf(why, sizeof(why), "expected %s, got %s", scalar_what(decl->type),
                 kind_name(mp->kind));
        bad = true;
    } else {
        bad = params_scalar_check(decl->type, mp->value, why, sizeof(why)) < 0;
    }
    if (!bad)
        return 0;
    errors_add(errs, "%s:%d:%d: jobs[%u].params.%s: %s", job->file, mp->value_line,
               mp->value_col, job->index, key, why);
    return 1;
}

static size_t unknown_param(const struct plugin *p, const struct manifest_param *mp,
                            const struct manifest_job *job, const char *key, struct errors *errs)
{
    const char *names[PARAMS_MAX];
    const char *best;
    struct buf list = {0};

    for (size_t i = 0; i < p->n_params; i++) {
        names[i] = p->params[i].name;
        buf_printf(&list, "%s%s", i ? ", " : "", names[i]);
    }
    best = suggest_nearest(mp->key, names, p->n_params);
    if (best)
        errors_add(errs, "%s:%d:%d: jobs[%u].params.%s: unknown parameter (did you mean \"%s\"?)",
                   job->file, mp->line, mp->col, job->index, key, best);
    else if (p->n_params)
        errors_add(errs, "%s:%d:%d: jobs[%u].params.%s: unknown parameter (plugin %s takes: %s)",
                   job->file, mp->line, mp->col, job->index, key, p->name, list.data);
    else
        errors_add(errs, "%s:%d:%d: jobs[%u].params.%s: unknown parameter (plugin %s takes none)",
                   job->file, mp->line, mp->col, job->index, key, p->name);
    buf_free(&list);
    return 1;
}

/* Where the plugin's check callback reports. */
struct check_report {
    const struct manifest_job *job;
    struct errors *errs;
    size_t problems;
};

static void report_param_error(void *arg, const char *key, const char *message)
{
    struct check_report *r = arg;
    const struct manifest_job *job = r->job;
    char shown[256];

    r->problems++;
    for (size_t i = 0; key && i < job->n_params; i++) {
        const struct manifest_param *mp = &job->params[i];
        if (strcmp(mp->key, key) == 0) {
            errors_add(r->errs, "%s:%d:%d: jobs[%u].params.%s: %s", job->file, mp->value_line,
                       mp->value_col, job->index, shown_key(key, shown, sizeof(shown)), message);
            return;
        }
    }
    /* a parameter left at its default, or a problem with the job as a whole */
    if (key && *key)
        errors_add(r->errs, "%s:%d:%d: jobs[%u].params.%s: %s", job->file, job->params_line,
                   job->params_col, job->index, shown_key(key, shown, sizeof(shown)), message);
    else
        errors_add(r->errs, "%s:%d:%d: jobs[%u].params: %s", job->file, job->params_line,
                   job->params_col, job->index, message);
}

/* The check callback of a plugin mapped in this process. */
static int check_here(void *arg, const struct plugin *p, const struct manifest_job *job,
                      void (*report)(void *, const char *, const char *), void *report_arg,
                      char *why, size_t whylen)
{
    (void)arg;
    return hostapi_call_check(p, job, report, report_arg, why, whylen);
}

size_t params_check_job(const struct plugin *p, const struct manifest_job *job,
                        params_check_fn check, void *check_arg, struct errors *errs)
{
    bool has_check = p->desc ? p->desc->check != NULL : p->has_check;
    size_t problems = 0;
    char shown[256];

    MAIN_THREAD_ONLY(); /* the check callback runs here */
    /* in document order: the `params:` key (missing ones) before its entries */
    for (size_t i = 0; i < p->n_params; i++) {
        const struct plugin_param *decl = &p->params[i];
        bool given = false;

        if (!decl->required)
            continue;
        for (size_t k = 0; k < job->n_params && !given; k++)
            given = strcmp(job->params[k].key, decl->name) == 0;
        if (given)
            continue;
        if (decl->description[0])
            errors_add(errs, "%s:%d:%d: jobs[%u].params: missing required parameter \"%s\" (%s: %s)",
                       job->file, job->params_line, job->params_col, job->index, decl->name,
                       params_type_name(decl->type), decl->description);
        else
            errors_add(errs, "%s:%d:%d: jobs[%u].params: missing required parameter \"%s\" (%s)",
                       job->file, job->params_line, job->params_col, job->index, decl->name,
                       params_type_name(decl->type));
        problems++;
    }
    for (size_t i = 0; i < job->n_params; i++) {
        const struct manifest_param *mp = &job->params[i];
        const struct plugin_param *decl = params_find(p, mp->key);
        const char *key = shown_key(mp->key, shown, sizeof(shown));

        if (!decl)
            problems += unknown_param(p, mp, job, key, errs);
        else
            problems += check_value(decl, mp, job, key, errs);
    }
    if (!check && p->desc)
        check = check_here;
    if (problems == 0 && has_check && check) {
        struct check_report r = {.job = job, .errs = errs};
        char why[RUN_ERROR_MAX];

        /* a job refused without a jh_param_error is refused as a whole */
        why[0] = '\0';
        if (check(check_arg, p, job, report_param_error, &r, why, sizeof(why)) != 0 &&
            r.problems == 0)
            report_param_error(&r, NULL, why[0] ? why : "refused by the plugin's check (no "
                                                         "reason given)");
        problems += r.problems;
    }
    return problems;
}
