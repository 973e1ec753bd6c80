/*
 * test_manifest — the YAML manifest reader (host/core/manifest.c, yamltree.c,
 * schema.c, manifest_file.c) and the unit parsers it rests on (lib/units.c;
 * lib/listen.c has test_listen).
 *
 * Valid manifests are parsed from memory with manifest_parse() (file name
 * "t.yaml", directory /tmp/jh-test, which is never touched: it only resolves
 * relative paths) and every field and default is checked. Bad manifests sit
 * in one table, each with the exact first error line expected,
 * "t.yaml:LINE:COL: key.path: message", the position worked out by hand from
 * the YAML text (1-based; the key for unknown keys, the value for bad
 * values). manifest_load() is tested on real files in a temporary directory
 * and on config/jobhost.yaml, so the binary runs from the repository root.
 *
 * Single-threaded; no globals but the table.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jobhost/plugin.h>

#include "core/manifest.h"
#include "cu_main.h"
#include "lib/trigger.h"
#include "lib/tz.h"
#include "lib/units.h"
#include "lib/util.h"

#define NAME "t.yaml"
#define TDIR "/tmp/jh-test"

/* --- helpers -------------------------------------------------------------- */

/* Unix ns of a UTC civil time. */
static int64_t utc_ns(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm) * NS_PER_SEC;
}

/* Parses text that must be valid; prints the errors when it is not. */
static struct manifest *parse_ok(const char *text)
{
    struct errors errs = {0};
    struct manifest *m = NULL;
    int rc = manifest_parse(NAME, TDIR, text, strlen(text), &m, &errs);

    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(errs.count, 0);
    if (rc != 0 || errs.count)
        fprintf(stderr, "\nunexpected errors:\n%s", nn(errs.text.data));
    errors_free(&errs);
    return m;
}

/* The i-th line (0-based) of errs, copied into buf ("" when there is none). */
static const char *err_line(const struct errors *errs, size_t i, char *buf, size_t len)
{
    return line_of(errs->text.data, i, buf, len);
}

/* Parses text that must be refused; returns the number of errors and copies
 * the first line into first. */
static size_t parse_bad(const char *text, size_t len, char *first, size_t firstlen)
{
    struct errors errs = {0};
    struct manifest *m = (struct manifest *)1;
    int rc = manifest_parse(NAME, TDIR, text, len, &m, &errs);
    size_t count = errs.count;

    CU_ASSERT_EQUAL(rc, -EINVAL);
    CU_ASSERT_PTR_NULL(m);
    err_line(&errs, 0, first, firstlen);
    errors_free(&errs);
    return count;
}

/* --- valid manifests -------------------------------------------------------- */

/* The example manifest of BRIEF.md, as written there. */
static const char brief_example[] =
    "host:\n"
    "  plugin_dir: ../plugins\n"
    "  workers: 4\n"
    "  http:\n"
    "    listen: 127.0.0.1:9464\n"
    "  log:\n"
    "    level: info\n"
    "    syslog: {enabled: true, ident: jobhost, facility: daemon}\n"
    "    file: {path: ../logs/jobhost.log, max_size: 10MiB, keep: 5}\n"
    "jobs:\n"
    "  - id: heartbeat\n"
    "    plugin: hello            # loads <plugin_dir>/hello.so\n"
    "    trigger: {interval: 10s}\n"
    "    params: {greeting: hi}\n"
    "  - id: nightly-prune\n"
    "    plugin: file_prune\n"
    "    trigger: {cron: \"0 3 * * *\", timezone: Europe/Berlin}\n"
    "    max_instances: 1\n"
    "    misfire_grace: 5m\n"
    "    coalesce: true\n"
    "    timeout: 10m\n"
    "    params: {dir: /var/tmp/reports, max_age: 14d}\n";

static const struct manifest_param *param(const struct manifest_job *j, const char *key)
{
    for (size_t i = 0; i < j->n_params; i++) {
        if (strcmp(j->params[i].key, key) == 0)
            return &j->params[i];
    }
    return NULL;
}

static void test_brief_example(void)
{
    struct manifest *m = parse_ok(brief_example);
    const struct manifest_job *j;
    const struct manifest_param *p;

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    ASSERT_STR(m->path, NAME);
    ASSERT_STR(m->dir, TDIR);
    ASSERT_STR(m->host.plugin_dir, TDIR "/../plugins");
    CU_ASSERT_EQUAL(m->host.workers, 4);
    CU_ASSERT_TRUE(m->host.strict_permissions);
    CU_ASSERT_TRUE(m->host.http.enabled);
    ASSERT_STR(m->host.http.listen, "127.0.0.1:9464");
    CU_ASSERT_EQUAL(m->host.log.level, JH_LOG_INFO);
    CU_ASSERT_TRUE(m->host.log.syslog);
    ASSERT_STR(m->host.log.ident, "jobhost");
    CU_ASSERT_EQUAL(m->host.log.facility, LOG_DAEMON);
    ASSERT_STR(m->host.log.file_path, TDIR "/../logs/jobhost.log");
    CU_ASSERT_EQUAL(m->host.log.file_max_size, 10485760);
    CU_ASSERT_EQUAL(m->host.log.file_keep, 5);
    CU_ASSERT_FALSE(m->host.log.file_daily);
    CU_ASSERT_EQUAL_FATAL(m->n_jobs, 2);

    j = &m->jobs[0];
    ASSERT_STR(j->id, "heartbeat");
    ASSERT_STR(j->plugin, "hello");
    CU_ASSERT_EQUAL(j->line, 11);
    CU_ASSERT_EQUAL(j->col, 5);
    CU_ASSERT_EQUAL(j->plugin_line, 12);
    CU_ASSERT_EQUAL(j->plugin_col, 13);
    CU_ASSERT_EQUAL(j->trigger.kind, TRIGGER_INTERVAL);
    CU_ASSERT_EQUAL(j->trigger.interval_ns, 10 * NS_PER_SEC);
    CU_ASSERT_EQUAL(j->trigger.start_ns, 0);
    CU_ASSERT_EQUAL(j->trigger.end_ns, 0);
    CU_ASSERT_EQUAL(j->trigger.jitter_ns, 0);
    ASSERT_STR(j->trigger_text, "every 10s");
    CU_ASSERT_PTR_NULL(j->trigger.tz);
    CU_ASSERT_TRUE(j->enabled);
    CU_ASSERT_EQUAL(j->max_instances, 1);
    CU_ASSERT_EQUAL(j->misfire_grace_ns, 60 * NS_PER_SEC);
    CU_ASSERT_TRUE(j->coalesce);
    CU_ASSERT_EQUAL(j->timeout_ns, 0);
    CU_ASSERT_EQUAL(j->isolation, ISOLATION_THREAD);
    CU_ASSERT_EQUAL(j->log_level, -1);
    CU_ASSERT_EQUAL_FATAL(j->n_params, 1);
    ASSERT_STR(j->params[0].key, "greeting");
    CU_ASSERT_EQUAL(j->params[0].kind, JH_PARAM_SCALAR);
    ASSERT_STR(j->params[0].value, "hi");

    j = &m->jobs[1];
    ASSERT_STR(j->id, "nightly-prune");
    ASSERT_STR(j->plugin, "file_prune");
    CU_ASSERT_EQUAL(j->line, 15);
    CU_ASSERT_EQUAL(j->trigger.kind, TRIGGER_CRON);
    CU_ASSERT_EQUAL(j->trigger.cron.seconds, UINT64_C(1));
    CU_ASSERT_EQUAL(j->trigger.cron.minutes, UINT64_C(1));
    CU_ASSERT_EQUAL(j->trigger.cron.hours, 1u << 3);
    CU_ASSERT_TRUE(j->trigger.cron.mday_star);
    CU_ASSERT_TRUE(j->trigger.cron.wday_star);
    CU_ASSERT_EQUAL(j->trigger.cron.months, 0x1ffe); /* bits 1..12 */
    CU_ASSERT_EQUAL(j->trigger.cron.wdays, 0x7f);
    CU_ASSERT_PTR_NOT_NULL(j->trigger.tz);
    ASSERT_STR(tz_name(j->trigger.tz), "Europe/Berlin");
    ASSERT_STR(j->trigger_text, "cron 0 3 * * * (Europe/Berlin)");
    CU_ASSERT_EQUAL(j->max_instances, 1);
    CU_ASSERT_EQUAL(j->misfire_grace_ns, 5 * 60 * NS_PER_SEC);
    CU_ASSERT_TRUE(j->coalesce);
    CU_ASSERT_EQUAL(j->timeout_ns, 10 * 60 * NS_PER_SEC);
    CU_ASSERT_TRUE(j->enabled);
    CU_ASSERT_EQUAL(j->n_params, 2);
    p = param(j, "dir");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->kind, JH_PARAM_SCALAR);
    ASSERT_STR(p->value, "/var/tmp/reports");
    p = param(j, "max_age");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    ASSERT_STR(p->value, "14d");

    /* The Berlin zone makes 03:00 local 02:00 UTC in winter. */
    int64_t next = trigger_next(&j->trigger, utc_ns(2026, 1, 10, 12, 0, 0), 0);
    CU_ASSERT_EQUAL(next, utc_ns(2026, 1, 11, 2, 0, 0));
    manifest_free(m);
}

static void test_defaults(void)
{
    struct manifest *m = parse_ok("jobs:\n  - id: a\n    plugin: ok\n");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const struct manifest_job *j;

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    ASSERT_STR(m->host.plugin_dir, TDIR "/plugins");
    CU_ASSERT_TRUE(m->host.strict_permissions);
    CU_ASSERT_EQUAL(m->host.workers, cpus > 0 ? (unsigned)cpus : 1u);
    CU_ASSERT_EQUAL(m->host.shutdown_timeout_ns, 30 * NS_PER_SEC);
    CU_ASSERT_EQUAL(m->host.drain_timeout_ns, 60 * NS_PER_SEC);
    CU_ASSERT_FALSE(m->host.watch);
    CU_ASSERT_TRUE(m->host.http.enabled);
    ASSERT_STR(m->host.http.listen, "127.0.0.1:9464");
    CU_ASSERT_PTR_NULL(m->host.http.token_file);
    CU_ASSERT_PTR_NULL(m->host.http.cert_file);
    CU_ASSERT_PTR_NULL(m->host.http.key_file);
    CU_ASSERT_EQUAL(m->host.log.level, JH_LOG_INFO);
    CU_ASSERT_TRUE(m->host.log.syslog);
    ASSERT_STR(m->host.log.ident, "jobhost");
    CU_ASSERT_EQUAL(m->host.log.facility, LOG_DAEMON);
    CU_ASSERT_PTR_NULL(m->host.log.file_path);
    CU_ASSERT_EQUAL(m->host.log.file_max_size, 10485760);
    CU_ASSERT_EQUAL(m->host.log.file_keep, 5);
    CU_ASSERT_FALSE(m->host.log.file_daily);
    CU_ASSERT_EQUAL(m->host.log.to_stderr, -1);
    CU_ASSERT_FALSE(m->host.log.journald);
    CU_ASSERT_PTR_NULL(m->host.duration_buckets);
    CU_ASSERT_EQUAL(m->host.n_duration_buckets, 0);
    CU_ASSERT_PTR_NULL(m->host.node);
    CU_ASSERT_TRUE(m->host.store.enabled);
    ASSERT_STR(m->host.store.path, TDIR "/jobhost.db");
    CU_ASSERT_EQUAL(m->host.store.max_age_ns, 30 * 86400 * NS_PER_SEC);
    CU_ASSERT_EQUAL(m->host.store.max_runs, 1000);
    CU_ASSERT_EQUAL(m->host.store.keep_failures_ns, 90 * 86400 * NS_PER_SEC);
    CU_ASSERT_EQUAL(m->host.store.output_max, 65536);
    CU_ASSERT_EQUAL(m->host.store.backend, STORE_SQLITE);
    CU_ASSERT_PTR_NULL(m->host.store.dsn);
    CU_ASSERT_FALSE(m->host.cluster.enabled);
    CU_ASSERT_EQUAL(m->host.cluster.lease_ns, 15 * NS_PER_SEC);
    CU_ASSERT_EQUAL_FATAL(m->n_jobs, 1);
    j = &m->jobs[0];
    CU_ASSERT_EQUAL(j->trigger.kind, TRIGGER_NONE);
    ASSERT_STR(j->trigger_text, "manual");
    CU_ASSERT_PTR_NULL(j->trigger.tz);
    CU_ASSERT_EQUAL(j->n_params, 0);
    CU_ASSERT_TRUE(j->enabled);
    CU_ASSERT_EQUAL(j->max_instances, 1);
    CU_ASSERT_EQUAL(j->misfire_grace_ns, 60 * NS_PER_SEC);
    CU_ASSERT_TRUE(j->coalesce);
    CU_ASSERT_EQUAL(j->timeout_ns, 0);
    CU_ASSERT_EQUAL(j->catch_up_ns, 0);
    CU_ASSERT_EQUAL(j->isolation, ISOLATION_THREAD);
    CU_ASSERT_EQUAL(j->log_level, -1);
    CU_ASSERT_EQUAL(j->plugin_line, 3);
    CU_ASSERT_EQUAL(j->plugin_col, 13);
    manifest_free(m);
}

static void test_every_field(void)
{
    static const char text[] =
        "host:\n"
        "  plugin_dir: /opt/jobhost/plugins\n"
        "  strict_permissions: false\n"
        "  workers: 1024\n"
        "  shutdown_timeout: 1m30s\n"
        "  drain_timeout: 500ms\n"
        "  watch: yes\n"
        "  http:\n"
        "    enabled: off\n"
        "    listen: '[::1]:8080'\n"
        "    token_file: secret/token\n"
        "    cert_file: /etc/ssl/c.pem\n"
        "    key_file: k.pem\n"
        "  log:\n"
        "    level: debug\n"
        "    syslog: {enabled: false, ident: jh-test, facility: local3}\n"
        "    file: {path: /var/log/jh.log, max_size: 512KiB, keep: 0, daily: true}\n"
        "    stderr: true\n"
        "    journald: on\n"
        "  metrics:\n"
        "    duration_buckets: [0.005, 0.5, 30, 3600]\n"
        "  node: web-1.example\n"
        "  store:\n"
        "    enabled: false\n"
        "    path: ../state/jobs.db\n"
        "    history: {max_age: 7d, max_runs: 0, keep_failures: 1h, output_max: 1KiB}\n"
        "jobs:\n"
        "  - id: once\n"
        "    plugin: ok\n"
        "    catch_up: 2h\n"
        "    retry: {limit: 3, delay: 500ms, backoff: 1.5, max_delay: 1m, jitter: 1s}\n"
        "    trigger: {date: \"2026-05-01T09:00:00+02:00\"}\n"
        "    enabled: false\n"
        "    isolation: process\n"
        "    log_level: warn\n"
        "    coalesce: no\n"
        "    max_instances: 10000\n"
        "    misfire_grace: 0\n"
        "  - id: every\n"
        "    plugin: ok\n"
        "    trigger: {interval: 1h30m, start: \"2026-01-01T00:00:00Z\",\n"
        "              end: \"2026-12-31T00:00:00Z\", jitter: 5s}\n"
        "  - id: seconds.cron_6\n"
        "    plugin: ok\n"
        "    trigger:\n"
        "      cron: \"*/15 0 12 1,15 jan-mar mon-fri\"\n"
        "      end: \"2027-01-01T00:00:00Z\"\n"
        "  - id: daily\n"
        "    plugin: ok\n"
        "    trigger: {cron: \"@daily\", timezone: UTC}\n"
        "  - id: manual\n"
        "    plugin: ok\n"
        "    trigger: ~\n"
        "    params: ~\n";
    struct manifest *m = parse_ok(text);
    const struct manifest_job *j;

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    ASSERT_STR(m->host.plugin_dir, "/opt/jobhost/plugins");
    CU_ASSERT_FALSE(m->host.strict_permissions);
    CU_ASSERT_EQUAL(m->host.workers, 1024);
    CU_ASSERT_EQUAL(m->host.shutdown_timeout_ns, 90 * NS_PER_SEC);
    CU_ASSERT_EQUAL(m->host.drain_timeout_ns, 500 * NS_PER_MS);
    CU_ASSERT_TRUE(m->host.watch);
    CU_ASSERT_FALSE(m->host.http.enabled);
    ASSERT_STR(m->host.http.listen, "[::1]:8080");
    ASSERT_STR(m->host.http.token_file, TDIR "/secret/token");
    ASSERT_STR(m->host.http.cert_file, "/etc/ssl/c.pem");
    ASSERT_STR(m->host.http.key_file, TDIR "/k.pem");
    CU_ASSERT_EQUAL(m->host.log.level, JH_LOG_DEBUG);
    CU_ASSERT_FALSE(m->host.log.syslog);
    ASSERT_STR(m->host.log.ident, "jh-test");
    CU_ASSERT_EQUAL(m->host.log.facility, LOG_LOCAL3);
    ASSERT_STR(m->host.log.file_path, "/var/log/jh.log");
    CU_ASSERT_EQUAL(m->host.log.file_max_size, 512 * 1024);
    CU_ASSERT_EQUAL(m->host.log.file_keep, 0);
    CU_ASSERT_TRUE(m->host.log.file_daily);
    CU_ASSERT_EQUAL(m->host.log.to_stderr, 1);
    CU_ASSERT_TRUE(m->host.log.journald);
    CU_ASSERT_EQUAL_FATAL(m->host.n_duration_buckets, 4);
    CU_ASSERT_DOUBLE_EQUAL(m->host.duration_buckets[0], 0.005, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(m->host.duration_buckets[1], 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(m->host.duration_buckets[2], 30, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(m->host.duration_buckets[3], 3600, 1e-12);
    ASSERT_STR(m->host.node, "web-1.example");
    CU_ASSERT_FALSE(m->host.store.enabled);
    ASSERT_STR(m->host.store.path, TDIR "/../state/jobs.db");
    CU_ASSERT_EQUAL(m->host.store.max_age_ns, 7 * 86400 * NS_PER_SEC);
    CU_ASSERT_EQUAL(m->host.store.max_runs, 0);
    CU_ASSERT_EQUAL(m->host.store.keep_failures_ns, 3600 * NS_PER_SEC);
    CU_ASSERT_EQUAL(m->host.store.output_max, 1024);
    CU_ASSERT_EQUAL_FATAL(m->n_jobs, 5);

    j = &m->jobs[0];
    CU_ASSERT_EQUAL(j->catch_up_ns, 2 * 3600 * NS_PER_SEC);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j->retry);
    CU_ASSERT_EQUAL(j->retry->limit, 3);
    CU_ASSERT_EQUAL(j->retry->delay_ns, 500 * NS_PER_MS);
    CU_ASSERT_DOUBLE_EQUAL(j->retry->backoff, 1.5, 1e-12);
    CU_ASSERT_EQUAL(j->retry->max_delay_ns, 60 * NS_PER_SEC);
    CU_ASSERT_EQUAL(j->retry->jitter_ns, NS_PER_SEC);
    CU_ASSERT_PTR_NULL(m->jobs[1].retry);
    CU_ASSERT_EQUAL(j->trigger.kind, TRIGGER_DATE);
    CU_ASSERT_EQUAL(j->trigger.at_ns, utc_ns(2026, 5, 1, 7, 0, 0));
    ASSERT_STR(j->trigger_text, "at 2026-05-01T09:00:00+02:00");
    CU_ASSERT_FALSE(j->enabled);
    CU_ASSERT_EQUAL(j->isolation, ISOLATION_PROCESS);
    CU_ASSERT_EQUAL(j->log_level, JH_LOG_WARN);
    CU_ASSERT_FALSE(j->coalesce);
    CU_ASSERT_EQUAL(j->max_instances, 10000);
    CU_ASSERT_EQUAL(j->misfire_grace_ns, 0);

    j = &m->jobs[1];
    CU_ASSERT_EQUAL(j->trigger.kind, TRIGGER_INTERVAL);
    CU_ASSERT_EQUAL(j->trigger.interval_ns, 90 * 60 * NS_PER_SEC);
    CU_ASSERT_EQUAL(j->trigger.start_ns, utc_ns(2026, 1, 1, 0, 0, 0));
    CU_ASSERT_EQUAL(j->trigger.end_ns, utc_ns(2026, 12, 31, 0, 0, 0));
    CU_ASSERT_EQUAL(j->trigger.jitter_ns, 5 * NS_PER_SEC);
    ASSERT_STR(j->trigger_text, "every 1h30m");

    j = &m->jobs[2];
    ASSERT_STR(j->id, "seconds.cron_6");
    CU_ASSERT_EQUAL(j->trigger.kind, TRIGGER_CRON);
    CU_ASSERT_EQUAL(j->trigger.cron.seconds, (UINT64_C(1) << 0) | (UINT64_C(1) << 15) |
                                                 (UINT64_C(1) << 30) | (UINT64_C(1) << 45));
    CU_ASSERT_EQUAL(j->trigger.cron.minutes, UINT64_C(1));
    CU_ASSERT_EQUAL(j->trigger.cron.hours, 1u << 12);
    CU_ASSERT_EQUAL(j->trigger.cron.mdays, (1u << 1) | (1u << 15));
    CU_ASSERT_EQUAL(j->trigger.cron.months, (1u << 1) | (1u << 2) | (1u << 3));
    CU_ASSERT_EQUAL(j->trigger.cron.wdays, 0x3e); /* mon..fri */
    CU_ASSERT_FALSE(j->trigger.cron.mday_star);
    CU_ASSERT_FALSE(j->trigger.cron.wday_star);
    CU_ASSERT_PTR_NULL(j->trigger.tz);
    CU_ASSERT_EQUAL(j->trigger.end_ns, utc_ns(2027, 1, 1, 0, 0, 0));
    ASSERT_STR(j->trigger_text, "cron */15 0 12 1,15 jan-mar mon-fri");

    j = &m->jobs[3];
    CU_ASSERT_EQUAL(j->trigger.kind, TRIGGER_CRON);
    CU_ASSERT_EQUAL(j->trigger.cron.minutes, UINT64_C(1));
    CU_ASSERT_EQUAL(j->trigger.cron.hours, 1u);
    CU_ASSERT_PTR_NOT_NULL(j->trigger.tz);
    ASSERT_STR(tz_name(j->trigger.tz), "UTC");

    j = &m->jobs[4];
    CU_ASSERT_EQUAL(j->trigger.kind, TRIGGER_NONE);
    ASSERT_STR(j->trigger_text, "manual");
    CU_ASSERT_EQUAL(j->n_params, 0);
    manifest_free(m);
}

static void test_cluster(void)
{
    struct manifest *m = parse_ok("host:\n  node: a1\n"
                                  "  store:\n    backend: postgres\n"
                                  "    dsn: \"host=db dbname=jobhost\"\n"
                                  "    password_file: secret/pw\n"
                                  "  cluster: {lease: 30s}\n"
                                  "jobs:\n  - id: a\n    plugin: ok\n");

    if (!m)
        return;
    CU_ASSERT_EQUAL(m->host.store.backend, STORE_POSTGRES);
    ASSERT_STR(m->host.store.dsn, "host=db dbname=jobhost");
    ASSERT_STR(m->host.store.password_file, TDIR "/secret/pw");
    CU_ASSERT_TRUE(m->host.cluster.enabled);
    CU_ASSERT_EQUAL(m->host.cluster.lease_ns, 30 * NS_PER_SEC);
    manifest_free(m);
    /* the default lease */
    m = parse_ok("host:\n  store: {backend: postgres, dsn: \"host=db\"}\n  cluster: {}\n"
                 "jobs:\n  - id: a\n    plugin: ok\n");
    if (!m)
        return;
    CU_ASSERT_TRUE(m->host.cluster.enabled);
    CU_ASSERT_EQUAL(m->host.cluster.lease_ns, 15 * NS_PER_SEC);
    manifest_free(m);
}

static void test_params(void)
{
    static const char text[] =
        "jobs:\n"
        "  - id: p\n"
        "    plugin: exec\n"
        "    params:\n"
        "      command: \"df -h / | tail -n 1\"\n"
        "      number: 42\n"
        "      empty:\n"
        "      quoted: ''\n"
        "      argv: [ls, -l, \"a b\"]\n"
        "      none: []\n"
        "      env:\n"
        "        LANG: C.UTF-8\n"
        "        TZ: ~\n"
        "      block:\n"
        "        - one\n"
        "        - two\n";
    struct manifest *m = parse_ok(text);
    const struct manifest_job *j;
    const struct manifest_param *p;

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL_FATAL(m->n_jobs, 1);
    j = &m->jobs[0];
    CU_ASSERT_EQUAL(j->n_params, 8);

    /* where each is written: the parameter check reports these */
    CU_ASSERT_EQUAL(j->params_line, 4); /* the `params:` key */
    CU_ASSERT_EQUAL(j->params_col, 5);
    p = param(j, "command");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->kind, JH_PARAM_SCALAR);
    ASSERT_STR(p->value, "df -h / | tail -n 1");
    CU_ASSERT_EQUAL(p->line, 5);
    CU_ASSERT_EQUAL(p->col, 7);
    CU_ASSERT_EQUAL(p->value_line, 5);
    CU_ASSERT_EQUAL(p->value_col, 16);
    p = param(j, "block");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->line, 14);
    CU_ASSERT_EQUAL(p->value_line, 15);
    CU_ASSERT_EQUAL(p->value_col, 9);
    p = param(j, "number");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    ASSERT_STR(p->value, "42");
    p = param(j, "empty");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->kind, JH_PARAM_SCALAR);
    ASSERT_STR(p->value, "");
    p = param(j, "quoted");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    ASSERT_STR(p->value, "");

    p = param(j, "argv");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->kind, JH_PARAM_LIST);
    CU_ASSERT_EQUAL_FATAL(p->n, 3);
    CU_ASSERT_PTR_NULL(p->names);
    ASSERT_STR(p->values[0], "ls");
    ASSERT_STR(p->values[1], "-l");
    ASSERT_STR(p->values[2], "a b");
    p = param(j, "none");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->kind, JH_PARAM_LIST);
    CU_ASSERT_EQUAL(p->n, 0);

    p = param(j, "env");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->kind, JH_PARAM_MAP);
    CU_ASSERT_EQUAL_FATAL(p->n, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->names);
    ASSERT_STR(p->names[0], "LANG");
    ASSERT_STR(p->values[0], "C.UTF-8");
    ASSERT_STR(p->names[1], "TZ");
    ASSERT_STR(p->values[1], "");

    p = param(j, "block");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->kind, JH_PARAM_LIST);
    CU_ASSERT_EQUAL_FATAL(p->n, 2);
    ASSERT_STR(p->values[0], "one");
    ASSERT_STR(p->values[1], "two");
    manifest_free(m);
}

/* Odd but valid inputs: empty sections, a byte order mark, comments,
 * document markers around the one document. */
static void test_edge_valid(void)
{
    static const char *const texts[] = {
        "host:\njobs:\n",
        "host: {}\njobs: []\n",
        "\xef\xbb\xbfjobs: []\n",
        "# a comment\n---\njobs: []  # none yet\n...\n",
        "jobs:\n  - {id: x, plugin: y}\n",
        "jobs: [{id: \"caf\xc3\xa9\", plugin: ok}]\n", /* refused below: not ASCII */
    };
    for (size_t i = 0; i < 5; i++) {
        struct manifest *m = parse_ok(texts[i]);
        if (!m)
            fprintf(stderr, "case %zu\n", i);
        manifest_free(m);
    }
    /* ids are ASCII names: a UTF-8 letter is refused, with the id quoted */
    char first[512];
    parse_bad(texts[5], strlen(texts[5]), first, sizeof(first));
    ASSERT_STR(first, "t.yaml:1:13: jobs[0].id: \"caf\xc3\xa9\" is not a valid id (letters, digits, "
                      "'.', '_' and '-', starting with a letter or digit, at most 128)");
    manifest_free(NULL); /* a no-op */
}

static void test_find_and_retain(void)
{
    struct manifest *m =
        parse_ok("jobs:\n  - {id: a, plugin: ok}\n  - {id: b, plugin: fail}\n  - {id: c, plugin: ok}\n");

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NOT_NULL(manifest_find_job(m, "a"));
    CU_ASSERT_PTR_NOT_NULL(manifest_find_job(m, "c"));
    CU_ASSERT_PTR_NULL(manifest_find_job(m, "d"));
    CU_ASSERT_PTR_NULL(manifest_find_job(m, ""));
    ASSERT_STR(manifest_find_job(m, "b")->plugin, "fail");
    manifest_retain_job(m, "b");
    CU_ASSERT_EQUAL_FATAL(m->n_jobs, 1);
    ASSERT_STR(m->jobs[0].id, "b");
    ASSERT_STR(m->jobs[0].plugin, "fail");
    CU_ASSERT_PTR_NULL(manifest_find_job(m, "a"));
    manifest_free(m);
}

/* --- bad manifests ------------------------------------------------------------ */

struct bad_case {
    const char *what;
    const char *yaml;
    size_t len;         /* 0: strlen(yaml) */
    const char *expect; /* the whole first error line */
    bool prefix;        /* expect is only the start of the line */
};

#define JOB "jobs:\n  - id: a\n    plugin: ok\n" /* a job; line 4 is the next */
#define PARAMS_MSG "parameters hold scalars, lists of scalars or maps of scalars; got "
#define DURATION_MSG "(expected e.g. 500ms, 10s, 5m, 1h30m, 14d)"
#define ID_MSG "is not a valid id (letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128)"
#define PLUGIN_MSG "is not a plugin name (letters, digits, '_' and '-'; it names <plugin_dir>/NAME.so)"
#define UTF8_MSG "; a manifest must be UTF-8 text"
#define EMPTY_MSG "manifest is empty (expected a mapping with `host` and `jobs`)"
#define RFC_MSG "(expected RFC 3339, e.g. 2026-05-01T09:00:00+02:00)"

static const struct bad_case bad_cases[] = {
    /* keys */
    {"unknown top-level key, suggestion", "host: {}\njobz: []\n", 0,
     "t.yaml:2:1: jobz: unknown key (did you mean \"jobs\"?)"},
    {"unknown top-level key, list", "version: 2\njobs: []\n", 0,
     "t.yaml:1:1: version: unknown key (expected one of: host, jobs, include)"},
    {"unknown host key", "host:\n  worker: 4\n", 0,
     "t.yaml:2:3: host.worker: unknown key (did you mean \"workers\"?)"},
    {"unknown http key", "host:\n  http:\n    listen: 127.0.0.1:9464\n    lisen: x\n", 0,
     "t.yaml:4:5: host.http.lisen: unknown key (did you mean \"listen\"?)"},
    {"unknown job key", JOB "    tigger: {interval: 1s}\n", 0,
     "t.yaml:4:5: jobs[0].tigger: unknown key (did you mean \"trigger\"?)"},
    {"unknown trigger key", JOB "    trigger: {interval: 1s, jiter: 2s}\n", 0,
     "t.yaml:4:29: jobs[0].trigger.jiter: unknown key (did you mean \"jitter\"?)"},
    {"duplicate key", "host:\n  workers: 2\n  workers: 3\n", 0,
     "t.yaml:3:3: host.workers: duplicate key (first at line 2)"},
    {"duplicate param key", JOB "    params: {a: 1, a: 2}\n", 0,
     "t.yaml:4:20: jobs[0].params.a: duplicate key (first at line 4)"},
    {"key that is a list", "host: {[a]: 1}\n", 0,
     "t.yaml:1:8: host: keys must be plain strings, got a list"},
    /* types */
    {"list where a mapping belongs", "host: [1, 2]\n", 0,
     "t.yaml:1:7: host: expected a mapping, got a list"},
    {"mapping where a list belongs", "jobs: {a: 1}\n", 0,
     "t.yaml:1:7: jobs: expected a list, got a mapping"},
    {"mapping where a scalar belongs", "jobs:\n  - id: {a: 1}\n    plugin: ok\n", 0,
     "t.yaml:2:9: jobs[0].id: expected a scalar, got a mapping"},
    {"job that is a scalar", "jobs:\n  - heartbeat\n", 0,
     "t.yaml:2:5: jobs[0]: expected a mapping, got a scalar"},
    {"listen that is a list", "host:\n  http: {listen: [a]}\n", 0,
     "t.yaml:2:18: host.http.listen: expected a scalar, got a list"},
    {"bad boolean", JOB "    enabled: maybe\n", 0,
     "t.yaml:4:14: jobs[0].enabled: expected true or false, got \"maybe\""},
    /* ids and plugins */
    {"duplicate job id", JOB "  - id: a\n    plugin: ok\n", 0,
     "t.yaml:4:9: jobs[1].id: duplicate job id \"a\" (also jobs[0], line 2)"},
    {"empty id", "jobs:\n  - id: \"\"\n    plugin: ok\n", 0, "t.yaml:2:9: jobs[0].id: must not be empty"},
    {"id with a space", "jobs:\n  - id: \"my job\"\n    plugin: ok\n", 0,
     "t.yaml:2:9: jobs[0].id: \"my job\" " ID_MSG},
    {"missing id", "jobs:\n  - plugin: ok\n", 0, "t.yaml:2:5: jobs[0]: missing key \"id\""},
    {"missing plugin", "jobs:\n  - id: a\n", 0, "t.yaml:2:5: jobs[0]: missing key \"plugin\""},
    {"plugin escaping with ..", "jobs:\n  - id: a\n    plugin: ../evil\n", 0,
     "t.yaml:3:13: jobs[0].plugin: \"../evil\" " PLUGIN_MSG},
    {"plugin with a slash", "jobs:\n  - id: a\n    plugin: a/b\n", 0,
     "t.yaml:3:13: jobs[0].plugin: \"a/b\" " PLUGIN_MSG},
    {"plugin absolute", "jobs:\n  - id: a\n    plugin: /usr/lib/x\n", 0,
     "t.yaml:3:13: jobs[0].plugin: \"/usr/lib/x\" " PLUGIN_MSG},
    {"plugin empty", "jobs:\n  - id: a\n    plugin: ''\n", 0,
     "t.yaml:3:13: jobs[0].plugin: must not be empty"},
    /* durations and sizes */
    {"duration without unit", JOB "    trigger: {interval: 10}\n", 0,
     "t.yaml:4:25: jobs[0].trigger.interval: duration \"10\" needs a unit (ms, s, m, h, d), e.g. "
     "\"10s\""},
    {"duration of letters", JOB "    timeout: abc\n", 0,
     "t.yaml:4:14: jobs[0].timeout: invalid duration \"abc\" " DURATION_MSG},
    {"duration with unknown unit", JOB "    misfire_grace: 5x\n", 0,
     "t.yaml:4:20: jobs[0].misfire_grace: invalid duration \"5x\" " DURATION_MSG},
    {"duration out of order", "host:\n  shutdown_timeout: 1m1h\n", 0,
     "t.yaml:2:21: host.shutdown_timeout: invalid duration \"1m1h\" " DURATION_MSG},
    {"duration too long", "host:\n  drain_timeout: 999999999d\n", 0,
     "t.yaml:2:18: host.drain_timeout: 999999999d is out of range (from 0s to 1d)"},
    /* every duration and time has its range (README, "Ranges") */
    {"misfire_grace of 15000 weeks", JOB "    misfire_grace: 105000d\n", 0,
     "t.yaml:4:20: jobs[0].misfire_grace: 105000d is out of range (from 0s to 366d)"},
    {"timeout of 15000 weeks", JOB "    timeout: 105000d\n", 0,
     "t.yaml:4:14: jobs[0].timeout: 105000d is out of range (from 0s to 366d)"},
    {"interval of 1us", JOB "    coalesce: false\n    trigger: {interval: 1us}\n", 0,
     "t.yaml:5:25: jobs[0].trigger.interval: 1us is out of range (from 1ms to 3650d)"},
    {"interval of 20 years", JOB "    trigger: {interval: 7300d}\n", 0,
     "t.yaml:4:25: jobs[0].trigger.interval: 7300d is out of range (from 1ms to 3650d)"},
    {"jitter of 2 years", JOB "    trigger: {interval: 1s, jitter: 730d}\n", 0,
     "t.yaml:4:37: jobs[0].trigger.jitter: 730d is out of range (from 0s to 366d)"},
    {"shutdown_timeout of 2 days", "host:\n  shutdown_timeout: 2d\n", 0,
     "t.yaml:2:21: host.shutdown_timeout: 2d is out of range (from 0s to 1d)"},
    {"stuck_grace of 2 days", "host:\n  stuck_grace: 2d\n", 0,
     "t.yaml:2:16: host.stuck_grace: 2d is out of range (from 0s to 1d)"},
    {"cpu limit of 2 years", JOB "    isolation: process\n    limits: {cpu: 730d}\n", 0,
     "t.yaml:5:19: jobs[0].limits.cpu: 730d is out of range (from 1s to 366d)"},
    {"cpu limit below a second", JOB "    isolation: process\n    limits: {cpu: 500ms}\n", 0,
     "t.yaml:5:19: jobs[0].limits.cpu: 500ms is out of range (from 1s to 366d)"},
    {"address space a worker cannot run in", JOB "    isolation: process\n"
     "    limits: {address_space: 16MiB}\n", 0,
     "t.yaml:5:29: jobs[0].limits.address_space: at least 32MiB (a worker process itself takes "
     "about 26 MiB)"},
    {"date after 2200", JOB "    trigger: {date: \"2300-01-01T00:00:00Z\"}\n", 0,
     "t.yaml:4:21: jobs[0].trigger.date: 2300-01-01T00:00:00Z is out of range (from "
     "1970-01-01T00:00:00Z to 2200-01-01T00:00:00Z)"},
    {"date before 1970", JOB "    trigger: {date: \"1969-12-31T23:59:59Z\"}\n", 0,
     "t.yaml:4:21: jobs[0].trigger.date: 1969-12-31T23:59:59Z is out of range (from "
     "1970-01-01T00:00:00Z to 2200-01-01T00:00:00Z)"},
    {"start after 2200", JOB "    trigger: {interval: 1s, start: \"9999-01-01T00:00:00Z\"}\n", 0,
     "t.yaml:4:36: jobs[0].trigger.start: 9999-01-01T00:00:00Z is out of range (from "
     "1970-01-01T00:00:00Z to 2200-01-01T00:00:00Z)"},
    /* user: and group: */
    {"user in thread mode", JOB "    user: nobody\n", 0,
     "t.yaml:4:11: jobs[0].user: a job runs as another user in a worker process only: set "
     "`isolation: process` (in thread mode it runs inside the daemon, as the daemon)"},
    {"group in thread mode", JOB "    group: nogroup\n", 0,
     "t.yaml:4:12: jobs[0].group: a job runs as another user in a worker process only: set "
     "`isolation: process` (in thread mode it runs inside the daemon, as the daemon)"},
    {"unknown user", JOB "    isolation: process\n    user: no-such-user-here\n", 0,
     "t.yaml:5:11: jobs[0].user: no such user \"no-such-user-here\""},
    {"unknown group", JOB "    isolation: process\n    group: no-such-group-here\n", 0,
     "t.yaml:5:12: jobs[0].group: no such group \"no-such-group-here\""},
    {"uid without an entry", JOB "    isolation: process\n    user: 4000000000\n", 0,
     "t.yaml:5:11: jobs[0].user: uid 4000000000 has no entry in the user database: give its "
     "`group:` too"},
    {"empty user", JOB "    isolation: process\n    user: \"\"\n", 0,
     "t.yaml:5:11: jobs[0].user: must not be empty"},
    {"bad jitter", JOB "    trigger: {interval: 1s, jitter: -1s}\n", 0,
     "t.yaml:4:37: jobs[0].trigger.jitter: invalid duration \"-1s\" " DURATION_MSG},
    {"bad size", "host:\n  log:\n    file: {path: x.log, max_size: 10XB}\n", 0,
     "t.yaml:3:35: host.log.file.max_size: invalid size \"10XB\" (expected e.g. 512KiB, 10MiB, "
     "1GiB)"},
    /* numbers */
    {"workers 0", "host:\n  workers: 0\n", 0, "t.yaml:2:12: host.workers: 0 is out of range 1-1024"},
    {"workers many", "host:\n  workers: many\n", 0,
     "t.yaml:2:12: host.workers: expected a whole number, got \"many\""},
    {"workers negative", "host:\n  workers: -1\n", 0,
     "t.yaml:2:12: host.workers: expected a whole number, got \"-1\""},
    {"max_instances 0", JOB "    max_instances: 0\n", 0,
     "t.yaml:4:20: jobs[0].max_instances: 0 is out of range 1-10000"},
    {"keep too many", "host:\n  log:\n    file: {path: x, keep: 1001}\n", 0,
     "t.yaml:3:27: host.log.file.keep: 1001 is out of range 0-1000"},
    /* listen addresses (every form: test_listen) */
    {"listen without port", "host:\n  http:\n    listen: 127.0.0.1\n", 0,
     "t.yaml:3:13: host.http.listen: missing port in \"127.0.0.1\" (expected HOST:PORT or :PORT)"},
    {"listen port 70000", "host:\n  http:\n    listen: 127.0.0.1:70000\n", 0,
     "t.yaml:3:13: host.http.listen: invalid port \"70000\" in \"127.0.0.1:70000\" (expected "
     "0-65535)"},
    {"listen IPv6 without brackets", "host:\n  http:\n    listen: \"::1:80\"\n", 0,
     "t.yaml:3:13: host.http.listen: IPv6 address in \"::1:80\" must be in brackets: "
     "[ADDRESS]:PORT"},
    {"listen host name", "host:\n  http:\n    listen: example.com:80\n", 0,
     "t.yaml:3:13: host.http.listen: invalid host \"example.com\" in \"example.com:80\" (expected "
     "an IPv4 address, [IPv6] address, localhost, or nothing for every interface)"},
    {"listen bad IPv6", "host:\n  http:\n    listen: \"[::g]:80\"\n", 0,
     "t.yaml:3:13: host.http.listen: invalid IPv6 address \"::g\" in \"[::g]:80\""},
    /* cron */
    {"cron day of month 32", JOB "    trigger: {cron: \"0 3 32 * *\"}\n", 0,
     "t.yaml:4:21: jobs[0].trigger.cron: field 3 (day of month): value 32 out of range 1-31"},
    {"cron three fields", JOB "    trigger: {cron: \"* * *\"}\n", 0,
     "t.yaml:4:21: jobs[0].trigger.cron: expected 5 or 6 fields, got 3"},
    {"cron step too large", JOB "    trigger: {cron: \"0 */25 * * *\"}\n", 0,
     "t.yaml:4:21: jobs[0].trigger.cron: field 2 (hour): step 25 out of range 1-24"},
    {"cron unknown day name", JOB "    trigger: {cron: \"0 0 * * fri2\"}\n", 0,
     "t.yaml:4:21: jobs[0].trigger.cron: field 5 (day of week): unknown name \"fri2\""},
    {"cron reversed range", JOB "    trigger:\n      cron: 30-10 * * * *\n", 0,
     "t.yaml:5:13: jobs[0].trigger.cron: field 1 (minute): range 30-10 is reversed"},
    {"cron @reboot", JOB "    trigger: {cron: \"@reboot\"}\n", 0,
     "t.yaml:4:21: jobs[0].trigger.cron: @reboot is not supported (use a job without a trigger "
     "and run it at start)"},
    {"cron that is a list", JOB "    trigger: {cron: [0, 3]}\n", 0,
     "t.yaml:4:21: jobs[0].trigger.cron: expected a scalar, got a list"},
    /* triggers */
    {"invalid time zone name", JOB "    trigger: {cron: \"0 3 * * *\", timezone: ../etc/passwd}\n", 0,
     "t.yaml:4:44: jobs[0].trigger.timezone: invalid time zone name \"../etc/passwd\""},
    {"two trigger kinds", JOB "    trigger: {cron: \"* * * * *\", interval: 1s}\n", 0,
     "t.yaml:4:14: jobs[0].trigger: give only one of cron, interval, date or after"},
    {"no trigger kind", JOB "    trigger: {jitter: 1s}\n", 0,
     "t.yaml:4:14: jobs[0].trigger: needs one of cron, interval, date, after or at_start (leave "
     "`trigger` out for a job run only by hand)"},
    {"at_start not a boolean", JOB "    trigger: {at_start: soon}\n", 0,
     "t.yaml:4:25: jobs[0].trigger.at_start: expected true or false, got \"soon\""},
    {"timezone on an interval", JOB "    trigger: {interval: 1s, timezone: UTC}\n", 0,
     "t.yaml:4:39: jobs[0].trigger.timezone: only a cron trigger takes a timezone"},
    {"bad RFC 3339 date", JOB "    trigger: {date: \"2026-02-30T00:00:00Z\"}\n", 0,
     "t.yaml:4:21: jobs[0].trigger.date: invalid time \"2026-02-30T00:00:00Z\" " RFC_MSG},
    {"date without offset", JOB "    trigger: {date: \"2026-05-01 09:00\"}\n", 0,
     "t.yaml:4:21: jobs[0].trigger.date: invalid time \"2026-05-01 09:00\" " RFC_MSG},
    {"interval 0s", JOB "    trigger: {interval: 0s}\n", 0,
     "t.yaml:4:25: jobs[0].trigger.interval: 0s is out of range (from 1ms to 3650d)"},
    {"end before start",
     JOB "    trigger: {interval: 1s, start: \"2026-01-02T00:00:00Z\", end: \"2026-01-01T00:00:00Z\"}\n",
     0, "t.yaml:4:65: jobs[0].trigger.end: end must come after start"},
    {"end on a date trigger", JOB "    trigger: {date: \"2026-01-02T00:00:00Z\", end: \"2026-01-03T00:00:00Z\"}\n",
     0, "t.yaml:4:50: jobs[0].trigger.end: a date trigger takes no end"},
    /* logging, isolation, metrics, http */
    {"bad log level", "host:\n  log:\n    level: verbose\n", 0,
     "t.yaml:3:12: host.log.level: unknown level \"verbose\" (expected debug, info, warn or error)"},
    {"bad job log level", JOB "    log_level: loud\n", 0,
     "t.yaml:4:16: jobs[0].log_level: unknown level \"loud\" (expected debug, info, warn or error)"},
    {"bad facility", "host:\n  log:\n    syslog: {facility: kern}\n", 0,
     "t.yaml:3:24: host.log.syslog.facility: unknown facility \"kern\" (expected daemon, user, cron "
     "or local0-local7)"},
    {"empty syslog ident", "host:\n  log:\n    syslog: {ident: \"\"}\n", 0,
     "t.yaml:3:21: host.log.syslog.ident: must not be empty"},
    {"log file without path", "host:\n  log:\n    file: {keep: 3}\n", 0,
     "t.yaml:3:11: host.log.file: missing key \"path\""},
    {"bad isolation", JOB "    isolation: container\n", 0,
     "t.yaml:4:16: jobs[0].isolation: unknown isolation \"container\" (expected thread or process)"},
    {"buckets not increasing", "host:\n  metrics:\n    duration_buckets: [0.1, 0.5, 0.5]\n", 0,
     "t.yaml:3:34: host.metrics.duration_buckets[2]: bucket bounds must increase (0.5 after 0.5)"},
    {"buckets empty", "host:\n  metrics:\n    duration_buckets: []\n", 0,
     "t.yaml:3:23: host.metrics.duration_buckets: expected 1 to 64 bucket bounds, got 0"},
    {"bucket negative", "host:\n  metrics:\n    duration_buckets: [0.1, -1]\n", 0,
     "t.yaml:3:29: host.metrics.duration_buckets[1]: expected a positive number of seconds, got "
     "\"-1\""},
    {"cert without key", "host:\n  http:\n    cert_file: /etc/c.pem\n", 0,
     "t.yaml:3:5: host.http: cert_file and key_file go together"},
    {"empty plugin_dir", "host:\n  plugin_dir: \"\"\n", 0,
     "t.yaml:2:15: host.plugin_dir: must not be empty"},
    /* the run store */
    {"store unknown key", "host:\n  store: {path: x.db, pth: y}\n", 0,
     "t.yaml:2:23: host.store.pth: unknown key (did you mean \"path\"?)"},
    {"history unknown key", "host:\n  store:\n    history: {max_agee: 1d}\n", 0,
     "t.yaml:3:15: host.store.history.max_agee: unknown key (did you mean \"max_age\"?)"},
    {"history bad duration", "host:\n  store:\n    history: {max_age: forever}\n", 0,
     "t.yaml:3:24: host.store.history.max_age: invalid duration \"forever\" " DURATION_MSG},
    {"history max_runs negative", "host:\n  store:\n    history: {max_runs: -5}\n", 0,
     "t.yaml:3:25: host.store.history.max_runs: expected a whole number, got \"-5\""},
    {"output_max too large", "host:\n  store:\n    history: {output_max: 1GiB}\n", 0,
     "t.yaml:3:27: host.store.history.output_max: at most 16MiB per run"},
    {"store empty path", "host:\n  store: {path: \"\"}\n", 0,
     "t.yaml:2:17: host.store.path: must not be empty"},
    {"store that is a scalar", "host:\n  store: on\n", 0,
     "t.yaml:2:10: host.store: expected a mapping, got a scalar"},
    {"cluster on sqlite", "host:\n  cluster: {lease: 15s}\n", 0,
     "t.yaml:2:12: host.cluster: a cluster needs host.store.backend: postgres (a SQLite store "
     "is never shared between nodes)"},
    {"cluster with the store off",
     "host:\n  store: {enabled: false, backend: postgres, dsn: \"host=db\"}\n"
     "  cluster: {}\n", 0,
     "t.yaml:3:12: host.cluster: a cluster needs host.store.backend: postgres (a SQLite store "
     "is never shared between nodes)"},
    {"cluster lease too short",
     "host:\n  store: {backend: postgres, dsn: \"host=db\"}\n  cluster: {lease: 100ms}\n", 0,
     "t.yaml:3:20: host.cluster.lease: 100ms is out of range (from 1s to 10m)"},
    {"cluster unknown key",
     "host:\n  store: {backend: postgres, dsn: \"host=db\"}\n  cluster: {leas: 5s}\n", 0,
     "t.yaml:3:13: host.cluster.leas: unknown key (did you mean \"lease\"?)"},
    {"store backend unknown", "host:\n  store: {backend: mysql}\n", 0,
     "t.yaml:2:20: host.store.backend: \"mysql\" is not a store backend (sqlite or postgres)"},
    {"postgres without dsn", "host:\n  store: {backend: postgres}\n", 0,
     "t.yaml:2:10: host.store: backend postgres needs dsn (a libpq connection string, "
     "\"host=db.example dbname=jobhost user=jobhost\")"},
    {"postgres with a path", "host:\n  store: {backend: postgres, dsn: \"host=db\", path: x.db}\n",
     0, "t.yaml:2:52: host.store.path: is the SQLite file: the postgres backend takes dsn"},
    {"dsn with a password",
     "host:\n  store: {backend: postgres, dsn: \"host=db password=x\"}\n", 0,
     "t.yaml:2:35: host.store.dsn: holds a password: give it in password_file (a manifest is "
     "readable by whoever can read the configuration)"},
    {"dsn on sqlite", "host:\n  store: {dsn: \"host=db\"}\n", 0,
     "t.yaml:2:16: host.store.dsn: needs backend: postgres"},
    {"node with a space", "host:\n  node: \"web 1\"\n", 0,
     "t.yaml:2:9: host.node: \"web 1\" is not a node name (letters, digits, '.', '_' and '-', "
     "starting with a letter or digit, at most 64)"},
    {"catch_up bad", JOB "    catch_up: soon\n", 0,
     "t.yaml:4:15: jobs[0].catch_up: invalid duration \"soon\" " DURATION_MSG},
    {"after an unknown job", JOB "    trigger: {after: zz}\n", 0,
     "t.yaml:4:22: jobs[0].trigger.after: no job with id \"zz\""},
    {"after itself", JOB "    trigger: {after: [b, a], on: always}\n  - id: b\n    plugin: ok\n", 0,
     "t.yaml:4:26: jobs[0].trigger.after[1]: a job cannot run after itself"},
    {"after, bad condition", JOB "    trigger: {after: b, on: sometimes}\n  - id: b\n    plugin: ok\n", 0,
     "t.yaml:4:29: jobs[0].trigger.on: unknown condition \"sometimes\" (expected success, failure or always)"},
    {"chained jobs in a cycle",
     JOB "    trigger: {after: c}\n  - id: b\n    plugin: ok\n    trigger: {after: a}\n"
         "  - id: c\n    plugin: ok\n    trigger: {after: b}\n", 0,
     "t.yaml:4:22: jobs[0].trigger.after: a cycle of chained jobs: a -> c -> b -> a (each runs after the next)"},
    {"retry without a limit", JOB "    retry: {delay: 1s}\n", 0,
     "t.yaml:4:12: jobs[0].retry: missing `limit` (the number of retries)"},
    {"retry limit 0", JOB "    retry: {limit: 0}\n", 0,
     "t.yaml:4:20: jobs[0].retry.limit: 0 is out of range 1-1000"},
    {"retry backoff below 1", JOB "    retry: {limit: 1, backoff: 0.5}\n", 0,
     "t.yaml:4:32: jobs[0].retry.backoff: expected a number from 1 to 100, got \"0.5\""},
    {"retry max_delay below delay", JOB "    retry: {limit: 1, delay: 1m, max_delay: 10s}\n", 0,
     "t.yaml:4:45: jobs[0].retry.max_delay: shorter than retry.delay"},
    {"retry unknown key", JOB "    retry: {limit: 1, tries: 3}\n", 0,
     "t.yaml:4:23: jobs[0].retry.tries: unknown key", true},
    /* params */
    {"params nested two levels", JOB "    params:\n      env:\n        deep: {x: 1}\n", 0,
     "t.yaml:6:15: jobs[0].params.env.deep: " PARAMS_MSG "a mapping here"},
    {"list inside a list param", JOB "    params: {argv: [a, [b]]}\n", 0,
     "t.yaml:4:24: jobs[0].params.argv[1]: " PARAMS_MSG "a list here"},
    {"params that are a list", JOB "    params: [a, b]\n", 0,
     "t.yaml:4:13: jobs[0].params: expected a mapping, got a list"},
    /* YAML itself */
    {"unclosed quote", "jobs:\n  - id: \"abc\n    plugin: ok\n", 0, "t.yaml:4:1: YAML syntax error",
     true},
    {"bad indentation", "host:\n  workers: 2\n plugin_dir: x\n", 0, "t.yaml:3:2: YAML syntax error",
     true},
    {"tab indentation", "host:\n\tworkers: 2\n", 0, "t.yaml:2:1: YAML syntax error", true},
    {"unclosed flow mapping", "host: {workers: 2\njobs: []\n", 0, "t.yaml:2:5: YAML syntax error",
     true},
    {"anchor", "host: &h {workers: 2}\n", 0,
     "t.yaml:1:7: anchors (&h) and aliases are not allowed in a manifest"},
    {"alias", "host: *h\n", 0, "t.yaml:1:7: aliases (*h) and anchors are not allowed in a manifest"},
    {"second document", "host: {}\n---\njobs: []\n", 0,
     "t.yaml:2:1: a manifest holds one YAML document; found a second"},
    {"invalid UTF-8 byte", "host:\n  workers: 2\n  # caf\xe9\n", 0,
     "t.yaml:3:8: not valid UTF-8 (byte 0xe9)" UTF8_MSG},
    {"invalid UTF-8 after multibyte", "# \xc3\xa9t\xc3\xa9 \xff\n", 0,
     "t.yaml:1:7: not valid UTF-8 (byte 0xff)" UTF8_MSG},
    {"overlong UTF-8", "a: \xc0\xaf\n", 0, "t.yaml:1:4: not valid UTF-8 (byte 0xc0)" UTF8_MSG},
    {"UTF-16 surrogate in UTF-8", "a: \xed\xa0\x80\n", 0,
     "t.yaml:1:4: not valid UTF-8 (byte 0xed)" UTF8_MSG},
    {"truncated UTF-8 at the end", "a: \xe2\x82", 0, "t.yaml:1:4: not valid UTF-8 (byte 0xe2)" UTF8_MSG},
    {"UTF-16 file", "\xff\xfeh\0o\0", 6, "t.yaml:1:1: not valid UTF-8 (byte 0xff)" UTF8_MSG},
    {"NUL byte", "host:\n  work\0ers: 2\n", 20, "t.yaml:2:7: NUL byte in the file; a manifest must be UTF-8 text"},
    {"empty file", "", 0, "t.yaml:1:1: " EMPTY_MSG},
    {"only comments", "# nothing here\n\n", 0, "t.yaml:1:1: " EMPTY_MSG},
    {"only a null", "~\n", 0, "t.yaml:1:1: " EMPTY_MSG},
    {"only a scalar", "hello\n", 0, "t.yaml:1:1: expected a mapping, got a scalar"},
    {"only a list", "- a\n- b\n", 0, "t.yaml:1:1: expected a mapping, got a list"},
};

static void test_bad_table(void)
{
    size_t failed = 0;

    CU_ASSERT(ARRAY_SIZE(bad_cases) >= 30);
    for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        char first[1024];
        size_t len = c->len ? c->len : strlen(c->yaml);
        size_t n = parse_bad(c->yaml, len, first, sizeof(first));
        bool ok = n >= 1 && (c->prefix ? strncmp(first, c->expect, strlen(c->expect)) == 0
                                       : strcmp(first, c->expect) == 0);
        CU_ASSERT(ok);
        if (!ok) {
            failed++;
            fprintf(stderr, "\n[%s]\n  want: %s%s\n  got:  %s\n", c->what, c->expect,
                    c->prefix ? "..." : "", first);
        }
    }
    if (failed)
        fprintf(stderr, "%zu of %zu bad-manifest cases failed\n", failed, ARRAY_SIZE(bad_cases));
}

/* Messages that hold a system path: the zone directory may be moved by TZDIR. */
static void test_unknown_timezone(void)
{
    const char *dir = getenv("TZDIR");
    char want[512], first[1024];

    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    snprintf(want, sizeof(want),
             "t.yaml:4:44: jobs[0].trigger.timezone: unknown time zone \"Mars/Phobos\" (no file "
             "%s/Mars/Phobos)",
             dir);
    const char *text = JOB "    trigger: {cron: \"0 3 * * *\", timezone: Mars/Phobos}\n";
    CU_ASSERT_EQUAL(parse_bad(text, strlen(text), first, sizeof(first)), 1);
    ASSERT_STR(first, want);
}

/* An alias bomb must be refused at its first anchor, before any expansion. */
static void test_billion_laughs(void)
{
    struct buf b = {0};
    char first[512];
    struct timespec t0, t1;

    buf_puts(&b, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (char c = 'b'; c <= 'z'; c++) {
        buf_printf(&b, "%c: &%c [", c, c);
        for (int i = 0; i < 9; i++)
            buf_printf(&b, "%s*%c", i ? "," : "", c - 1);
        buf_puts(&b, "]\n");
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(parse_bad(b.data, b.len, first, sizeof(first)), 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ASSERT_STR(first, "t.yaml:1:4: anchors (&a) and aliases are not allowed in a manifest");
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CU_ASSERT(secs < 1.0);
    buf_free(&b);
}

/* Resource limits: depth, node count, size. */
static void test_limits(void)
{
    struct buf b = {0};
    char first[512];

    for (int i = 0; i < 40; i++)
        buf_putc(&b, '[');
    for (int i = 0; i < 40; i++)
        buf_putc(&b, ']');
    buf_putc(&b, '\n');
    CU_ASSERT_EQUAL(parse_bad(b.data, b.len, first, sizeof(first)), 1);
    ASSERT_STR(first, "t.yaml:1:33: manifest nests deeper than 32 levels");

    /* 2000000 nodes pass, the next is refused. A list of 20005 lists of 99
     * items: node 1 is the root, list j (0-based) is node 2 + 100j and its
     * item k node 2 + 100j + k. Node 2000001 is item 99 of list 19999; list j
     * starts at column 2 + 200j ("[1,...,1]," is 200 characters) and its
     * item k sits 2k - 1 columns further. (Many small lists rather than one
     * long one: a collection grows one item at a time, which is quadratic
     * under ASan's realloc.) */
    buf_reset(&b);
    buf_putc(&b, '[');
    for (int j = 0; j < 20005; j++) {
        buf_puts(&b, j ? ",[" : "[");
        for (int k = 0; k < 99; k++)
            buf_puts(&b, k ? ",1" : "1");
        buf_putc(&b, ']');
    }
    buf_puts(&b, "]\n");
    CU_ASSERT_EQUAL(parse_bad(b.data, b.len, first, sizeof(first)), 1);
    ASSERT_STR(first, "t.yaml:1:3999999: manifest has more than 2000000 nodes");

    buf_reset(&b);
    buf_puts(&b, "jobs: []\n");
    while (b.len <= (64u << 20))
        buf_puts(&b, "# padding padding padding padding padding padding padding padding\n");
    CU_ASSERT_EQUAL(parse_bad(b.data, b.len, first, sizeof(first)), 1);
    ASSERT_STR(first, "t.yaml:1:1: manifest is larger than 67108864 bytes");
    buf_free(&b);
}

/* Parsing goes on after an error: one pass reports every problem, in the
 * order of the document. */
static void test_all_errors_at_once(void)
{
    static const char text[] =
        "host:\n"
        "  workers: 0\n"
        "  log:\n"
        "    level: loud\n"
        "jobs:\n"
        "  - id: a\n"
        "    plugin: ok\n"
        "    trigger: {interval: 5x}\n";
    struct errors errs = {0};
    struct manifest *m = NULL;
    char line[512];

    CU_ASSERT_EQUAL(manifest_parse(NAME, TDIR, text, strlen(text), &m, &errs), -EINVAL);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_EQUAL(errs.count, 3);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)),
               "t.yaml:2:12: host.workers: 0 is out of range 1-1024");
    ASSERT_STR(err_line(&errs, 1, line, sizeof(line)),
               "t.yaml:4:12: host.log.level: unknown level \"loud\" (expected debug, info, warn or "
               "error)");
    ASSERT_STR(err_line(&errs, 2, line, sizeof(line)),
               "t.yaml:8:25: jobs[0].trigger.interval: invalid duration \"5x\" " DURATION_MSG);
    ASSERT_STR(err_line(&errs, 3, line, sizeof(line)), "");
    errors_free(&errs);

    /* one job missing both keys: two errors at the job */
    static const char text2[] = "jobs:\n  - enabled: true\n";
    CU_ASSERT_EQUAL(manifest_parse(NAME, TDIR, text2, strlen(text2), &m, &errs), -EINVAL);
    CU_ASSERT_EQUAL(errs.count, 2);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)), "t.yaml:2:5: jobs[0]: missing key \"id\"");
    ASSERT_STR(err_line(&errs, 1, line, sizeof(line)), "t.yaml:2:5: jobs[0]: missing key \"plugin\"");
    errors_free(&errs);
}

/* The error list is bounded: 100 messages and a closing line. */
static void test_error_limit(void)
{
    struct buf b = {0};
    struct errors errs = {0};
    struct manifest *m = NULL;
    char line[512];

    buf_puts(&b, "host:\n");
    for (int i = 0; i < 150; i++)
        buf_printf(&b, "  unknown_key_%d: 1\n", i);
    CU_ASSERT_EQUAL(manifest_parse(NAME, TDIR, b.data, b.len, &m, &errs), -EINVAL);
    CU_ASSERT_EQUAL(errs.count, 101);
    ASSERT_STR(err_line(&errs, 100, line, sizeof(line)), "t.yaml: too many errors, stopping");
    errors_free(&errs);
    buf_free(&b);
}

/* --- manifest_load on real files --------------------------------------------- */

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* config/jobhost.yaml is the user's to edit (the tutorial adds a job, a
 * second instance moves the port): only what holds for any edit is
 * checked here, what the fields mean is test_brief_example's. */
static void test_load_config(void)
{
    struct errors errs = {0};
    struct manifest *m = NULL;
    char cfgdir[PATH_MAX];

    CU_ASSERT_EQUAL(manifest_load("config/jobhost.yaml", &m, &errs), 0);
    if (errs.count)
        fprintf(stderr, "\n%s", errs.text.data);
    CU_ASSERT_EQUAL(errs.count, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath("config", cfgdir));
    ASSERT_STR(m->path, "config/jobhost.yaml");
    ASSERT_STR(m->dir, cfgdir);
    /* relative paths are the manifest directory's */
    CU_ASSERT_EQUAL(strncmp(m->host.plugin_dir, cfgdir, strlen(cfgdir)), 0);
    CU_ASSERT_TRUE(m->n_jobs > 0);
    manifest_free(m);
    errors_free(&errs);
}

static void test_load_files(void)
{
    char dir[] = "/tmp/jh-manifest-XXXXXX";
    char sub[64], path[128], want[512], line[1024];
    struct errors errs = {0};
    struct manifest *m = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(sub, sizeof(sub), "%s/etc", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0755), 0);

    /* relative paths resolve against the manifest's directory */
    snprintf(path, sizeof(path), "%s/m.yaml", sub);
    const char *good = "host:\n  plugin_dir: ../p\n  log: {file: {path: jh.log}}\njobs: []\n";
    write_file(path, good, strlen(good));
    CU_ASSERT_EQUAL(manifest_load(path, &m, &errs), 0);
    CU_ASSERT_EQUAL(errs.count, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    ASSERT_STR(m->dir, sub);
    snprintf(want, sizeof(want), "%s/../p", sub);
    ASSERT_STR(m->host.plugin_dir, want);
    snprintf(want, sizeof(want), "%s/jh.log", sub);
    ASSERT_STR(m->host.log.file_path, want);
    manifest_free(m);
    m = NULL;

    /* errors carry the path as given */
    const char *bad = "jobs:\n  - id: a\n    plugin: ok\n    trigger: {cron: \"61 * * * *\"}\n";
    write_file(path, bad, strlen(bad));
    CU_ASSERT_EQUAL(manifest_load(path, &m, &errs), -EINVAL);
    CU_ASSERT_PTR_NULL(m);
    snprintf(want, sizeof(want),
             "%s:4:21: jobs[0].trigger.cron: field 1 (minute): value 61 out of range 0-59", path);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)), want);
    errors_free(&errs);

    /* an invalid byte in a real file */
    write_file(path, "jobs: []\n# \x80\n", 12);
    CU_ASSERT_EQUAL(manifest_load(path, &m, &errs), -EINVAL);
    snprintf(want, sizeof(want), "%s:2:3: not valid UTF-8 (byte 0x80)" UTF8_MSG, path);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)), want);
    errors_free(&errs);

    /* an empty file */
    write_file(path, "", 0);
    CU_ASSERT_EQUAL(manifest_load(path, &m, &errs), -EINVAL);
    snprintf(want, sizeof(want), "%s:1:1: " EMPTY_MSG, path);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)), want);
    errors_free(&errs);

    /* a missing file */
    snprintf(path, sizeof(path), "%s/missing.yaml", dir);
    CU_ASSERT_EQUAL(manifest_load(path, &m, &errs), -ENOENT);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_EQUAL(errs.count, 1);
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)), want);
    errors_free(&errs);

    /* a directory */
    CU_ASSERT_EQUAL(manifest_load(sub, &m, &errs), -EINVAL);
    CU_ASSERT_PTR_NULL(m);
    snprintf(want, sizeof(want), "%s: not a regular file", sub);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)), want);
    errors_free(&errs);

    snprintf(path, sizeof(path), "%s/m.yaml", sub);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

/* --- byte order mark --------------------------------------------------------- */

/* A UTF-8 byte order mark at the start is skipped: the manifest parses, and
 * positions are those an editor shows (the mark takes no column). */
static void test_job_histograms(void)
{
    const char *jobs = "jobs:\n  - {id: a, plugin: ok}\n  - {id: b, plugin: ok}\n";
    char text[512], first[512];
    struct manifest *m;

    m = parse_ok(jobs);
    CU_ASSERT_TRUE(m->jobs[0].histograms && m->jobs[1].histograms);
    manifest_free(m);
    sfmt(text, sizeof(text), "host: {metrics: {job_histograms: false}}\n%s", jobs);
    m = parse_ok(text);
    CU_ASSERT_TRUE(!m->jobs[0].histograms && !m->jobs[1].histograms);
    manifest_free(m);
    sfmt(text, sizeof(text), "host: {metrics: {job_histograms: [b]}}\n%s", jobs);
    m = parse_ok(text);
    CU_ASSERT_TRUE(!m->jobs[0].histograms && m->jobs[1].histograms);
    CU_ASSERT_FALSE(manifest_job_equal(&m->jobs[0], &m->jobs[1]));
    manifest_free(m);
    sfmt(text, sizeof(text), "host: {metrics: {job_histograms: [b, nope]}}\n%s", jobs);
    CU_ASSERT_EQUAL(parse_bad(text, strlen(text), first, sizeof(first)), 1);
    ASSERT_STR(first, NAME ":1:38: host.metrics.job_histograms[1]: no job with id \"nope\"");
}

static void test_bom(void)
{
    static const char good[] = "\xef\xbb\xbfhost:\n  workers: 2\njobs:\n  - id: a\n    plugin: ok\n";
    static const char bad[] = "\xef\xbb\xbfhost:\n  workers: 0\n";
    struct manifest *m = parse_ok(good);
    char first[512];

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->host.workers, 2);
    CU_ASSERT_EQUAL_FATAL(m->n_jobs, 1);
    CU_ASSERT_EQUAL(m->jobs[0].line, 4);
    CU_ASSERT_EQUAL(m->jobs[0].col, 5);
    manifest_free(m);

    CU_ASSERT_EQUAL(parse_bad(bad, strlen(bad), first, sizeof(first)), 1);
    ASSERT_STR(first, "t.yaml:2:12: host.workers: 0 is out of range 1-1024");
    /* on the first line too */
    CU_ASSERT_EQUAL(parse_bad("\xef\xbb\xbfjobz: []\n", 12, first, sizeof(first)), 1);
    ASSERT_STR(first, "t.yaml:1:1: jobz: unknown key (did you mean \"jobs\"?)");
}

/* --- include ------------------------------------------------------------------ */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* A scratch tree: <tmp>/conf/ for the manifest, <tmp>/conf/jobs.d/ for
 * drop-ins. */
struct tree {
    char root[64];
    char conf[128];
};

static void tree_new(struct tree *t)
{
    char sub[192];

    sfmt(t->root, sizeof(t->root), "/tmp/jh-include-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(t->root));
    sfmt(t->conf, sizeof(t->conf), "%s/conf", t->root);
    CU_ASSERT_EQUAL_FATAL(mkdir(t->conf, 0755), 0);
    sfmt(sub, sizeof(sub), "%s/jobs.d", t->conf);
    CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0755), 0);
}

static void tree_put(const struct tree *t, const char *name, const char *text)
{
    char path[256];
    sfmt(path, sizeof(path), "%s/%s", t->conf, name);
    write_file(path, text, strlen(text));
}

static void tree_free(struct tree *t)
{
    nftw(t->root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Parses `text` as conf/jobhost.yaml of the tree, as the daemon would with
 * `-c conf/jobhost.yaml` from the tree's root: included files are named
 * conf/... in messages. */
static int parse_in(const struct tree *t, const char *text, struct manifest **m,
                    struct errors *errs)
{
    return manifest_parse("conf/jobhost.yaml", t->conf, text, strlen(text), m, errs);
}

#define JOB_AT(id) "  - id: " id "\n    plugin: ok\n"

static void test_include_globs(void)
{
    struct tree t;
    struct errors errs = {0};
    struct manifest *m = NULL;

    tree_new(&t);
    tree_put(&t, "jobs.d/b.yaml", "jobs:\n" JOB_AT("b1") JOB_AT("b2"));
    tree_put(&t, "jobs.d/a.yaml", "\xef\xbb\xbf# the first in byte order\njobs:\n" JOB_AT("a1"));
    tree_put(&t, "jobs.d/C.yaml", "jobs: []\n"); /* 'C' sorts before 'a' */
    tree_put(&t, "jobs.d/.hidden.yaml", "jobs:\n" JOB_AT("hidden"));
    tree_put(&t, "jobs.d/notes.txt", "not yaml: [\n");
    tree_put(&t, "jobs.d/empty.yaml", "# nothing yet\n");
    tree_put(&t, "extra.yaml", "jobs:\n" JOB_AT("x1"));
    int rc = parse_in(&t,
                      "host: {workers: 2}\n"
                      "jobs:\n" JOB_AT("own") "include:\n"
                      "  - jobs.d/*.yaml\n"
                      "  - none.d/*.yaml\n" /* matches nothing: fine */
                      "  - extra.yaml\n",
                      &m, &errs);
    CU_ASSERT_EQUAL(rc, 0);
    if (errs.count)
        fprintf(stderr, "\n%s", errs.text.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    static const char *const ids[] = {"own", "a1", "b1", "b2", "x1"};
    static const char *const files[] = {"conf/jobhost.yaml", "conf/jobs.d/a.yaml",
                                        "conf/jobs.d/b.yaml", "conf/jobs.d/b.yaml",
                                        "conf/extra.yaml"};
    static const unsigned index[] = {0, 0, 0, 1, 0};
    static const int line[] = {3, 3, 2, 4, 2};
    CU_ASSERT_EQUAL_FATAL(m->n_jobs, ARRAY_SIZE(ids));
    for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
        ASSERT_STR(m->jobs[i].id, ids[i]);
        ASSERT_STR(m->jobs[i].file, files[i]);
        CU_ASSERT_EQUAL(m->jobs[i].index, index[i]);
        CU_ASSERT_EQUAL(m->jobs[i].line, line[i]);
    }
    static const char *const read[] = {"conf/jobhost.yaml", "conf/jobs.d/C.yaml",
                                       "conf/jobs.d/a.yaml", "conf/jobs.d/b.yaml",
                                       "conf/jobs.d/empty.yaml", "conf/extra.yaml"};
    CU_ASSERT_EQUAL_FATAL(m->n_files, ARRAY_SIZE(read));
    for (size_t i = 0; i < ARRAY_SIZE(read); i++)
        ASSERT_STR(m->files[i], read[i]);
    /* strings many jobs of a file repeat are kept once */
    CU_ASSERT_PTR_EQUAL(m->jobs[2].plugin, m->jobs[3].plugin);
    CU_ASSERT_PTR_EQUAL(m->jobs[2].trigger_text, m->jobs[3].trigger_text);
    CU_ASSERT_PTR_NOT_NULL(manifest_find_job(m, "b2"));
    manifest_free(m);
    errors_free(&errs);

    /* one pattern may stand alone; an absolute one is taken as it is */
    char text[512];
    sfmt(text, sizeof(text), "include: %s/jobs.d/b.yaml\n", t.conf);
    CU_ASSERT_EQUAL(parse_in(&t, text, &m, &errs), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL_FATAL(m->n_jobs, 2);
    char want[256];
    sfmt(want, sizeof(want), "%s/jobs.d/b.yaml", t.conf);
    ASSERT_STR(m->jobs[0].file, want);
    manifest_free(m);
    errors_free(&errs);

    /* a directory whose name holds glob characters is not a pattern */
    tree_put(&t, "jobs.d/[x].yaml", "jobs:\n" JOB_AT("bracket"));
    CU_ASSERT_EQUAL(parse_in(&t, "include: ['jobs.d/\\[x\\].yaml']\n", &m, &errs), 0);
    CU_ASSERT_EQUAL(m ? m->n_jobs : 0, 1);
    manifest_free(m);
    errors_free(&errs);
    tree_free(&t);
}

/* Errors in an included file name it, with its own line, column and job
 * index; errors about the file as a whole are told where it is included. */
static void test_include_errors(void)
{
    static const struct {
        const char *what;
        const char *file, *text; /* an included file, or NULL */
        const char *manifest;
        const char *expect; /* the first error */
    } cases[] = {
        {"error in an included file", "jobs.d/a.yaml",
         "jobs:\n" JOB_AT("ok1") "  - id: bad\n    plugin: ok\n    trigger: {cron: \"0 3 32 * *\"}\n",
         "include: [jobs.d/*.yaml]\n",
         "conf/jobs.d/a.yaml:6:21: jobs[1].trigger.cron: field 3 (day of month): value 32 out "
         "of range 1-31"},
        {"YAML syntax error in an included file", "jobs.d/a.yaml", "jobs:\n  - {id: a\n",
         "include: [jobs.d/*.yaml]\n", "conf/jobs.d/a.yaml:3:1: YAML syntax error"},
        {"host in an included file", "jobs.d/a.yaml", "host: {workers: 2}\njobs: []\n",
         "include: [jobs.d/*.yaml]\n",
         "conf/jobs.d/a.yaml:1:1: host: an included file holds only `jobs`; host settings "
         "belong in conf/jobhost.yaml"},
        {"include in an included file", "jobs.d/a.yaml", "jobs: []\ninclude: [more/*.yaml]\n",
         "include: [jobs.d/*.yaml]\n",
         "conf/jobs.d/a.yaml:2:1: include: an included file cannot include others; list every "
         "file in the include of conf/jobhost.yaml"},
        {"unknown key in an included file", "jobs.d/a.yaml", "jbos: []\n",
         "include: [jobs.d/*.yaml]\n",
         "conf/jobs.d/a.yaml:1:1: jbos: unknown key (an included file holds only `jobs`)"},
        {"included file that is a list", "jobs.d/a.yaml", "- id: a\n",
         "include: [jobs.d/*.yaml]\n", "conf/jobs.d/a.yaml:1:1: expected a mapping, got a list"},
        {"jobs that are a mapping", "jobs.d/a.yaml", "jobs: {id: a}\n",
         "include: [jobs.d/*.yaml]\n", "conf/jobs.d/a.yaml:1:7: jobs: expected a list, got a mapping"},
        {"invalid UTF-8 in an included file", "jobs.d/a.yaml", "jobs: []\n# \xff\n",
         "include: [jobs.d/*.yaml]\n",
         "conf/jobs.d/a.yaml:2:3: not valid UTF-8 (byte 0xff); a manifest must be UTF-8 text"},
        {"a plain path that is missing", NULL, NULL, "jobs: []\ninclude: [jobs.d/*.yaml, nope.yaml]\n",
         "conf/jobhost.yaml:2:26: include[1]: conf/nope.yaml: cannot open: No such file or "
         "directory"},
        {"include that is a mapping", NULL, NULL, "include: {a: b}\n",
         "conf/jobhost.yaml:1:10: include: expected a list, got a mapping"},
        {"an empty pattern", NULL, NULL, "include: ['']\n",
         "conf/jobhost.yaml:1:11: include[0]: must not be empty"},
        {"the same file twice", NULL, NULL, "include: [jobs.d/*.yaml, jobs.d/b.yaml]\n",
         "conf/jobhost.yaml:1:26: include[1]: conf/jobs.d/b.yaml: already included by include[0]"},
        {"a directory that matches", NULL, NULL, "include: ['jobs.d/*']\n",
         "conf/jobhost.yaml:1:11: include[0]: conf/jobs.d/sub: not a regular file"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct tree t;
        struct errors errs = {0};
        struct manifest *m = NULL;
        char first[1024];

        tree_new(&t);
        tree_put(&t, "jobs.d/b.yaml", "jobs: []\n");
        if (cases[i].file)
            tree_put(&t, cases[i].file, cases[i].text);
        if (strstr(cases[i].what, "directory")) {
            char sub[256];
            sfmt(sub, sizeof(sub), "%s/jobs.d/sub", t.conf);
            CU_ASSERT_EQUAL(mkdir(sub, 0755), 0);
        }
        CU_ASSERT_EQUAL(parse_in(&t, cases[i].manifest, &m, &errs), -EINVAL);
        CU_ASSERT_PTR_NULL(m);
        err_line(&errs, 0, first, sizeof(first));
        bool ok = strncmp(first, cases[i].expect, strlen(cases[i].expect)) == 0;
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "\n[%s]\n  want: %s\n  got:  %s\n", cases[i].what, cases[i].expect,
                    first);
        errors_free(&errs);
        tree_free(&t);
    }
}

/* Included files are opened like the manifest: a symbolic link is not
 * followed and a FIFO is refused at once, without waiting for a writer. */
static void test_include_unsafe_files(void)
{
    struct tree t;
    struct errors errs = {0};
    struct manifest *m = NULL;
    char path[256], target[256], line[1024];

    tree_new(&t);
    tree_put(&t, "real.yaml", "jobs:\n" JOB_AT("real"));
    sfmt(target, sizeof(target), "%s/real.yaml", t.conf);
    sfmt(path, sizeof(path), "%s/jobs.d/link.yaml", t.conf);
    CU_ASSERT_EQUAL_FATAL(symlink(target, path), 0);
    sfmt(path, sizeof(path), "%s/jobs.d/pipe.yaml", t.conf);
    CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0600), 0);

    CU_ASSERT_EQUAL(parse_in(&t, "include: [jobs.d/*.yaml]\n", &m, &errs), -EINVAL);
    CU_ASSERT_EQUAL(errs.count, 2);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)),
               "conf/jobhost.yaml:1:11: include[0]: conf/jobs.d/link.yaml: is a symbolic link "
               "(links are not followed)");
    ASSERT_STR(err_line(&errs, 1, line, sizeof(line)),
               "conf/jobhost.yaml:1:11: include[0]: conf/jobs.d/pipe.yaml: not a regular file");
    errors_free(&errs);

    /* the manifest itself the same way */
    CU_ASSERT_EQUAL(manifest_load(path, &m, &errs), -EINVAL);
    sfmt(target, sizeof(target), "%s: not a regular file", path);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)), target);
    errors_free(&errs);
    sfmt(path, sizeof(path), "%s/jobs.d/link.yaml", t.conf);
    CU_ASSERT_EQUAL(manifest_load(path, &m, &errs), -ELOOP);
    sfmt(target, sizeof(target), "%s: is a symbolic link (links are not followed)", path);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)), target);
    errors_free(&errs);

    /* a glob matching the manifest itself */
    tree_put(&t, "jobhost.yaml", "include: ['*.yaml']\n");
    sfmt(path, sizeof(path), "%s/jobhost.yaml", t.conf);
    CU_ASSERT_EQUAL(manifest_load(path, &m, &errs), -EINVAL);
    sfmt(target, sizeof(target), "%s:1:11: include[0]: %s/jobhost.yaml: is the manifest itself",
             path, t.conf);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)), target);
    errors_free(&errs);
    tree_free(&t);
}

/* A job id used in two files is refused, naming both positions. */
static void test_include_duplicate_ids(void)
{
    struct tree t;
    struct errors errs = {0};
    struct manifest *m = NULL;
    char line[1024];

    tree_new(&t);
    tree_put(&t, "jobs.d/a.yaml", "jobs:\n" JOB_AT("solo") JOB_AT("twice"));
    tree_put(&t, "jobs.d/b.yaml", "jobs:\n" JOB_AT("other") JOB_AT("twice") JOB_AT("own"));
    CU_ASSERT_EQUAL(parse_in(&t, "jobs:\n" JOB_AT("own") "include: [jobs.d/*.yaml]\n", &m, &errs),
                    -EINVAL);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_EQUAL(errs.count, 2);
    ASSERT_STR(err_line(&errs, 0, line, sizeof(line)),
               "conf/jobs.d/b.yaml:4:9: jobs[1].id: duplicate job id \"twice\" (also jobs[1] at "
               "conf/jobs.d/a.yaml:4:5)");
    ASSERT_STR(err_line(&errs, 1, line, sizeof(line)),
               "conf/jobs.d/b.yaml:6:9: jobs[2].id: duplicate job id \"own\" (also jobs[0] at "
               "conf/jobhost.yaml:2:5)");
    errors_free(&errs);
    tree_free(&t);
}

/* A reload calls manifest_load again: files added to or removed from a
 * drop-in directory are seen, the manifest unchanged. */
static void test_include_reload(void)
{
    struct tree t;
    struct errors errs = {0};
    struct manifest *m = NULL;
    char path[256], gone[256];

    tree_new(&t);
    tree_put(&t, "jobhost.yaml", "jobs:\n" JOB_AT("own") "include: [jobs.d/*.yaml]\n");
    tree_put(&t, "jobs.d/10-a.yaml", "jobs:\n" JOB_AT("a"));
    tree_put(&t, "jobs.d/20-b.yaml", "jobs:\n" JOB_AT("b"));
    sfmt(path, sizeof(path), "%s/jobhost.yaml", t.conf);
    CU_ASSERT_EQUAL(manifest_load(path, &m, &errs), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->n_jobs, 3);
    CU_ASSERT_PTR_NOT_NULL(manifest_find_job(m, "a"));
    CU_ASSERT_EQUAL(m->n_files, 3);
    manifest_free(m);

    sfmt(gone, sizeof(gone), "%s/jobs.d/10-a.yaml", t.conf);
    CU_ASSERT_EQUAL(unlink(gone), 0);
    tree_put(&t, "jobs.d/15-c.yaml", "jobs:\n" JOB_AT("c") JOB_AT("d"));
    tree_put(&t, "jobs.d/20-b.yaml", "jobs:\n" JOB_AT("b2"));
    CU_ASSERT_EQUAL(manifest_load(path, &m, &errs), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL_FATAL(m->n_jobs, 4);
    ASSERT_STR(m->jobs[0].id, "own");
    ASSERT_STR(m->jobs[1].id, "c");
    ASSERT_STR(m->jobs[2].id, "d");
    ASSERT_STR(m->jobs[3].id, "b2");
    CU_ASSERT_PTR_NULL(manifest_find_job(m, "a"));
    char want[256];
    sfmt(want, sizeof(want), "%s/jobs.d/15-c.yaml", t.conf);
    ASSERT_STR(m->jobs[1].file, want);
    manifest_free(m);
    CU_ASSERT_EQUAL(errs.count, 0);
    errors_free(&errs);
    tree_free(&t);
}

/* A reload reuses what an unchanged file came to (its jobs point into the
 * same strings) and reads a changed one again; either way the result is
 * what a fresh load gives, and it outlives the manifest it reused. */
static void test_include_reuse(void)
{
    struct tree t;
    struct errors errs = {0};
    struct manifest *m1 = NULL, *m2 = NULL, *fresh = NULL;
    char path[256];

    tree_new(&t);
    tree_put(&t, "jobhost.yaml", "jobs:\n" JOB_AT("own") "include: [jobs.d/*.yaml]\n");
    tree_put(&t, "jobs.d/10-a.yaml",
             "jobs:\n  - {id: a, plugin: ok, trigger: {cron: '0 3 * * *'}, params: {k: [x, y]}}\n");
    tree_put(&t, "jobs.d/20-b.yaml", "jobs:\n" JOB_AT("b"));
    sfmt(path, sizeof(path), "%s/jobhost.yaml", t.conf);
    CU_ASSERT_EQUAL_FATAL(manifest_load(path, &m1, &errs), 0);

    tree_put(&t, "jobs.d/20-b.yaml", "jobs:\n" JOB_AT("b") JOB_AT("b2"));
    CU_ASSERT_EQUAL_FATAL(manifest_reload(path, m1, &m2, &errs), 0);
    CU_ASSERT_EQUAL_FATAL(manifest_load(path, &fresh, &errs), 0);
    CU_ASSERT_EQUAL_FATAL(m2->n_jobs, 4);
    CU_ASSERT_EQUAL_FATAL(fresh->n_jobs, 4);
    CU_ASSERT_PTR_EQUAL(m2->jobs[1].id, m1->jobs[1].id);          /* 10-a: reused */
    CU_ASSERT_PTR_NOT_EQUAL(m2->jobs[2].id, m1->jobs[2].id);      /* 20-b: read again */
    manifest_free(m1);                                             /* m2 keeps what it shares */
    for (size_t i = 0; i < fresh->n_jobs; i++) {
        CU_ASSERT(manifest_job_equal(&m2->jobs[i], &fresh->jobs[i]));
        ASSERT_STR(m2->jobs[i].file, fresh->jobs[i].file);
        CU_ASSERT_EQUAL(m2->jobs[i].line, fresh->jobs[i].line);
    }
    CU_ASSERT_PTR_EQUAL(manifest_find_job(m2, "b2"), &m2->jobs[3]);

    /* a duplicate id in a reused file is still found, at its place */
    tree_put(&t, "jobs.d/05-dup.yaml", "jobs:\n" JOB_AT("a"));
    CU_ASSERT_EQUAL(manifest_reload(path, m2, &m1, &errs), -EINVAL);
    CU_ASSERT_PTR_NULL(m1);
    CU_ASSERT_PTR_NOT_NULL(strstr(errs.text.data, "10-a.yaml:2:10: jobs[0].id: duplicate job id \"a\" (also jobs[0] at "));
    manifest_free(m2);
    manifest_free(fresh);
    errors_free(&errs);
    tree_free(&t);
}

/* --- units -------------------------------------------------------------------- */

static void test_duration_parse(void)
{
    static const struct {
        const char *text;
        int rc;
        int64_t ns;
    } cases[] = {
        {"0", 0, 0},
        {"0s", 0, 0},
        {"7ns", 0, 7},
        {"250us", 0, 250 * NS_PER_US},
        {"500ms", 0, 500 * NS_PER_MS},
        {"10s", 0, 10 * NS_PER_SEC},
        {"5m", 0, 300 * NS_PER_SEC},
        {"1h30m", 0, 5400 * NS_PER_SEC},
        {"14d", 0, 14 * 86400 * NS_PER_SEC},
        {"2w", 0, 14 * 86400 * NS_PER_SEC},
        {"1d1h1m1s1ms1us1ns", 0, 90061 * NS_PER_SEC + NS_PER_MS + NS_PER_US + 1},
        {"1.5s", 0, 1500 * NS_PER_MS},
        {"1.5h", 0, 5400 * NS_PER_SEC},
        {"0.5ms", 0, 500 * NS_PER_US},
        {"0.29s", 0, 290 * NS_PER_MS},
        {"0.3s", 0, 300 * NS_PER_MS},
        {"2.3ms", 0, 2300 * NS_PER_US},
        {"0.123456789s", 0, 123456789},
        {"0.1234567891s", 0, 123456789}, /* digits past the ninth are dropped */
        {"106751d", 0, INT64_C(106751) * 86400 * NS_PER_SEC},
        {"", -EINVAL, 0},
        {"10", -EINVAL, 0},
        {"abc", -EINVAL, 0},
        {"5x", -EINVAL, 0},
        {"1m1h", -EINVAL, 0},
        {"1s1s", -EINVAL, 0},
        {"1S", -EINVAL, 0},
        {"-1s", -EINVAL, 0},
        {"+1s", -EINVAL, 0},
        {" 1s", -EINVAL, 0},
        {"1s ", -EINVAL, 0},
        {"1 s", -EINVAL, 0},
        {"1.s", -EINVAL, 0},
        {".5s", -EINVAL, 0},
        {"s", -EINVAL, 0},
        {"1sec", -EINVAL, 0},
        {"106752d", -ERANGE, 0},
        {"9223372036854775808ns", -ERANGE, 0},
        {"99999999999999999999s", -ERANGE, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int64_t ns = -12345;
        int rc = duration_parse(cases[i].text, &ns);
        bool ok = rc == cases[i].rc && (rc != 0 || ns == cases[i].ns) && (rc == 0 || ns == -12345);
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "\nduration_parse(\"%s\") = %d, %lld; want %d, %lld\n", cases[i].text, rc,
                    (long long)ns, cases[i].rc, (long long)cases[i].ns);
    }
    CU_ASSERT_EQUAL(duration_parse(NULL, &(int64_t){0}), -EINVAL);
}

static void test_duration_format(void)
{
    static const struct {
        int64_t ns;
        const char *text;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {999, "999ns"},
        {NS_PER_US, "1us"},
        {500 * NS_PER_MS, "500ms"},
        {NS_PER_SEC, "1s"},
        {5400 * NS_PER_SEC, "1h30m"},
        {14 * 86400 * NS_PER_SEC, "14d"},
        {90061 * NS_PER_SEC + NS_PER_MS + NS_PER_US + 1, "1d1h1m1s1ms1us1ns"},
        {1500 * NS_PER_MS, "1s500ms"},
        {-5 * NS_PER_SEC, "-5s"},
        {INT64_MAX, "106751d23h47m16s854ms775us807ns"},
    };
    char buf[64];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        ASSERT_STR(duration_format(cases[i].ns, buf, sizeof(buf)), cases[i].text);
        /* what it writes, duration_parse reads back */
        int64_t back = 0;
        if (cases[i].ns >= 0) {
            CU_ASSERT_EQUAL(duration_parse(buf, &back), 0);
            CU_ASSERT_EQUAL(back, cases[i].ns);
        }
    }
    /* a short buffer: cut, still terminated */
    char small[4];
    memset(small, 'x', sizeof(small));
    duration_format(5400 * NS_PER_SEC, small, sizeof(small));
    CU_ASSERT_EQUAL(memchr(small, '\0', sizeof(small)) != NULL, 1);
    CU_ASSERT_EQUAL(strncmp("1h30m", small, strlen(small)), 0);
    CU_ASSERT_PTR_EQUAL(duration_format(1, small, 0), small);
}

static void test_size_parse(void)
{
    static const struct {
        const char *text;
        int rc;
        uint64_t bytes;
    } cases[] = {
        {"0", 0, 0},
        {"512", 0, 512},
        {"1B", 0, 1},
        {"64KiB", 0, 65536},
        {"10MiB", 0, 10485760},
        {"10 MiB", 0, 10485760},
        {"1GiB", 0, UINT64_C(1) << 30},
        {"2TiB", 0, UINT64_C(2) << 40},
        {"1kB", 0, 1000},
        {"1KB", 0, 1000},
        {"5MB", 0, 5000000},
        {"2GB", 0, 2000000000},
        {"1TB", 0, UINT64_C(1000000000000)},
        {"16777215TiB", 0, UINT64_C(16777215) << 40},
        {"", -EINVAL, 0},
        {"MiB", -EINVAL, 0},
        {"10XB", -EINVAL, 0},
        {"10mib", -EINVAL, 0},
        {"-1", -EINVAL, 0},
        {"1.5MiB", -EINVAL, 0},
        {" 10", -EINVAL, 0},
        {"10MiB ", -EINVAL, 0},
        {"16777216TiB", -ERANGE, 0},
        {"18446744073709551616", -ERANGE, 0},
        {"99999999999999999999999", -ERANGE, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t n = 12345;
        int rc = size_parse(cases[i].text, &n);
        bool ok = rc == cases[i].rc && (rc != 0 || n == cases[i].bytes);
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "\nsize_parse(\"%s\") = %d, %llu; want %d, %llu\n", cases[i].text, rc,
                    (unsigned long long)n, cases[i].rc, (unsigned long long)cases[i].bytes);
    }
    CU_ASSERT_EQUAL(size_parse(NULL, &(uint64_t){0}), -EINVAL);
}

/* --- the digest nodes compare --------------------------------------------------- */

/* What decides what a job runs and when changes its digest; how it is
 * written (the spelling of a duration, the order of params) and a node's
 * own view (its log level) do not. */
static void test_job_digest(void)
{
    static const char hash[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    static const struct {
        const char *a, *b; /* the keys of job `a` beside id and plugin */
        bool same;
    } cases[] = {
        {"trigger: {interval: 200ms}", "trigger: {interval: 0.2s}", true},
        {"params: {x: 1, y: [a, b]}", "params: {y: [a, b], x: 1}", true},
        {"trigger: {interval: 1s}", "trigger: {interval: 1s}, log_level: debug", true},
        {"trigger: {interval: 200ms}", "trigger: {interval: 300ms}", false},
        {"trigger: {cron: \"0 3 * * *\"}", "trigger: {cron: \"0 4 * * *\"}", false},
        {"params: {x: 1}", "params: {x: 2}", false},
        {"params: {y: [a, b]}", "params: {y: [b, a]}", false},
        {"enabled: true", "enabled: false", false},
        {"max_instances: 1", "max_instances: 2", false},
        {"timeout: 1m", "timeout: 2m", false},
        {"misfire_grace: 1m", "misfire_grace: 2m", false},
        {"coalesce: true", "coalesce: false", false},
        {"recover: false", "recover: true", false},
    };
    unsigned char da[32], db[32];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char text[512];
        struct manifest *a, *b;

        sfmt(text, sizeof(text), "jobs:\n  - {id: a, plugin: ok, %s}\n", cases[i].a);
        a = parse_ok(text);
        sfmt(text, sizeof(text), "jobs:\n  - {id: a, plugin: ok, %s}\n", cases[i].b);
        b = parse_ok(text);
        if (!a || !b) {
            manifest_free(a);
            manifest_free(b);
            continue;
        }
        manifest_job_digest(&a->jobs[0], hash, da);
        manifest_job_digest(&b->jobs[0], hash, db);
        CU_ASSERT_EQUAL(memcmp(da, db, 32) == 0, cases[i].same);
        if ((memcmp(da, db, 32) == 0) != cases[i].same)
            fprintf(stderr, "\n%s / %s: digests %s\n", cases[i].a, cases[i].b,
                    cases[i].same ? "differ" : "agree");
        /* and the plugin's image counts */
        manifest_job_digest(&a->jobs[0], "ff", db);
        CU_ASSERT_NOT_EQUAL(memcmp(da, db, 32), 0);
        manifest_free(a);
        manifest_free(b);
    }
}

/* --- registration ------------------------------------------------------------ */

static const struct cu_test valid_tests[] = {
    {"BRIEF example", test_brief_example},
    {"defaults", test_defaults},
    {"every field", test_every_field},
    {"params of each kind", test_params},
    {"store on postgres, cluster", test_cluster},
    {"edge cases that are valid", test_edge_valid},
    {"find and retain a job", test_find_and_retain},
    {"manifest_load config/jobhost.yaml", test_load_config},
    {"manifest_load on files", test_load_files},
    {"metrics.job_histograms: true, false, a list of ids", test_job_histograms},
    {"byte order mark", test_bom},
    {"job digest: what runs and when, not how it is written", test_job_digest},
    {NULL, NULL},
};

static const struct cu_test include_tests[] = {
    {"globs, order, names", test_include_globs},
    {"errors name the included file", test_include_errors},
    {"links and FIFOs", test_include_unsafe_files},
    {"duplicate ids across files", test_include_duplicate_ids},
    {"load again after the files change", test_include_reload},
    {"a reload reuses unchanged files", test_include_reuse},
    {NULL, NULL},
};

static const struct cu_test bad_tests[] = {
    {"table of bad manifests", test_bad_table},
    {"unknown time zone", test_unknown_timezone},
    {"billion laughs", test_billion_laughs},
    {"limits", test_limits},
    {"all errors in one pass", test_all_errors_at_once},
    {"error limit", test_error_limit},
    {NULL, NULL},
};

static const struct cu_test units_tests[] = {
    {"duration_parse", test_duration_parse},
    {"duration_format", test_duration_format},
    {"size_parse", test_size_parse},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"manifest: valid", valid_tests},
    {"manifest: bad", bad_tests},
    {"manifest: include", include_tests},
    {"units", units_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
