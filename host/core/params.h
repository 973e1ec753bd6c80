/*
 * params — a plugin's declared parameters (struct jh_plugin.params) and the
 * check of every job's `params:` against them.
 *
 * The loader copies the declarations out of the plugin and refuses bad ones
 * (params_load); generation_build then holds each job to its plugin's
 * declarations (params_check_job) before the job is accepted, which is what
 * `jobhost check`, start-up and every reload do. Each problem is one line at
 * the manifest position of what is wrong, as every manifest error is:
 *
 *   conf/jobhost.yaml:14:7: jobs[2].params.max_agee: unknown parameter (did you mean "max_age"?)
 *   conf/jobhost.yaml:15:16: jobs[2].params.recursive: expected true or false, got "maybe"
 *   conf/jobhost.yaml:13:13: jobs[2].params: missing required parameter "dir" (string: ...)
 *
 * then the plugin's own `check` callback, when the types are right, for
 * rules a type cannot express; its jh_param_error reports land at the
 * parameter's value.
 *
 * Main thread (check callbacks run here).
 */
#ifndef JH_PARAMS_H
#define JH_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jobhost/plugin.h>

#include "lib/util.h"

struct plugin;
struct manifest_job;

#define PARAMS_MAX 256          /* declared parameters a plugin may have */
#define PARAMS_NAME_MAX 63      /* bytes of a declared name */
#define PARAMS_TEXT_MAX 256     /* bytes kept of a default or a description */

/* One declared parameter, as the host keeps it: copied out of the plugin
 * and checked (valid UTF-8, a known type, a default of that type). */
struct plugin_param {
    char *name;
    enum jh_type type;
    bool required;
    char *default_value; /* NULL: none */
    char *description;   /* "" when none */
};

/* "string", "bool", "int", "duration", "size", "list", "map"; "?" for any
 * other number. */
const char *params_type_name(uint32_t type);

/* Whether `text` (a scalar as written) reads as a value of `type`; 0, or
 * -EINVAL with the reason in why ("expected a whole number, got \"x\"").
 * Every scalar is a string; a list or map type takes no scalar. */
int params_scalar_check(enum jh_type type, const char *text, char *why, size_t whylen);

/* Copies the descriptor's declarations (desc->params, ending with
 * JH_PARAMS_END; NULL: none) into *out (free with params_free), refusing
 * what plugin.h says is refused. 0, or -EINVAL with one line in err that
 * names the parameter. */
int params_load(const struct jh_plugin *desc, struct plugin_param **out, size_t *n, char *err,
                size_t errlen);

void params_free(struct plugin_param *params, size_t n);

/* The declaration named `name`, or NULL. */
const struct plugin_param *params_find(const struct plugin *p, const char *name);

/* How a plugin's check callback is run for a job: in this process
 * (hostapi_call_check, for a plugin mapped here), or in a worker process
 * for one that is not (core/isolate.h). jh_param_error reports go to
 * report(report_arg, key, message), key NULL for the job as a whole;
 * returns the callback's result, with jh_set_error's text in why. */
typedef int (*params_check_fn)(void *arg, const struct plugin *p, const struct manifest_job *job,
                               void (*report)(void *report_arg, const char *key,
                                              const char *message),
                               void *report_arg, char *why, size_t whylen);

/* Checks `job`'s params against plugin p's declarations, then, when the
 * types are right and p has a check callback, with that callback: run by
 * `check` (with check_arg), or in this process when check is NULL. Appends
 * one line per problem to errs ("FILE:LINE:COL: jobs[N].params.KEY: ...");
 * returns the number of problems. Main thread. */
size_t params_check_job(const struct plugin *p, const struct manifest_job *job,
                        params_check_fn check, void *check_arg, struct errors *errs);

#endif /* JH_PARAMS_H */
