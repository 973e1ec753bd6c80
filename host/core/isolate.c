/*
 * isolate — process isolation for jobs. See isolate.h.
 *
 * DESIGN. Host side: an executor thread that runs an isolated job takes an
 * idle worker for that job (or spawns one with posix_spawn of
 * /proc/self/exe), sends it a "run" message and then waits in poll() on the
 * socket, in slices of at most 100 ms so that it also notices the run's
 * deadline and the host's shutdown. Messages back are "log" (forwarded to
 * the log module under the run's context), "error" and "done". EOF means
 * the worker died: waitpid() says how. `pool_lock` guards the idle list; a
 * worker in use belongs to the thread running it and to nobody else.
 *
 * Worker side: the main thread runs the plugin; a reader thread receives
 * messages so that a "cancel" arriving mid-run reaches jh_cancelled(). Log
 * records from any plugin thread are sent under `send_lock`.
 *
 * Messages are JSON objects (jansson), one per SOCK_SEQPACKET datagram.
 */
#include "core/isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/generation.h"
#include "core/hostapi.h"
#include "core/log.h"
#include "core/manifest.h"
#include "core/outcome.h"
#include "core/plugin.h"
#include "core/record.h"
#include "lib/units.h"
#include "lib/util.h"

extern char **environ;

#define WORKER_FD 3
#define MSG_MAX (256 * 1024)
#define IDLE_TTL_NS (60 * NS_PER_SEC)
#define KILL_GRACE_NS (2 * NS_PER_SEC)
#define LOAD_TIMEOUT_MS 30000
#define POLL_SLICE_MS 100

/* ---- messages ---------------------------------------------------------------- */

static int send_msg(int fd, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    int rc = 0;

    json_decref(msg);
    if (!text)
        return -ENOMEM;
    if (send(fd, text, strlen(text), MSG_NOSIGNAL) < 0)
        rc = -errno;
    free(text);
    return rc;
}

/* Receives one message: 1 and *out, 0 at EOF, or -errno. */
static int recv_msg(int fd, json_t **out)
{
    char *buf = xmalloc(MSG_MAX); /* isolated runs cost a process hop anyway */
    ssize_t n;
    json_error_t jerr;
    int rc;

    do {
        n = recv(fd, buf, MSG_MAX, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        rc = -errno;
    else if (n == 0)
        rc = 0;
    else {
        *out = json_loadb(buf, (size_t)n, 0, &jerr);
        rc = *out ? 1 : -EPROTO;
    }
    free(buf);
    return rc;
}

static const char *msg_op(json_t *msg)
{
    const char *op = json_string_value(json_object_get(msg, "op"));
    return op ? op : "";
}

/* ---- host side: the pool ------------------------------------------------------- */

struct worker {
    pid_t pid;
    int fd;
    char *key;          /* job id + plugin content + limits */
    int64_t idle_since; /* mono ns */
    struct worker *next;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct worker *idle_workers; /* under pool_lock */

/* Ends a worker that is not in use: asks it to exit (its plugin's shutdown
 * runs), then makes sure, and reaps it. */
static void worker_stop(struct worker *w)
{
    int status;
    int64_t until = mono_ns() + KILL_GRACE_NS;

    send_msg(w->fd, json_pack("{s:s}", "op", "exit"));
    close(w->fd);
    while (waitpid(w->pid, &status, WNOHANG) == 0) {
        if (mono_ns() > until) {
            kill(-w->pid, SIGKILL);
            waitpid(w->pid, &status, 0);
            break;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    free(w->key);
    free(w);
}

/* A job without `limits:` has none: every limit 0. */
static const struct manifest_limits no_limits;

static const struct manifest_limits *limits_of(const struct manifest_job *s)
{
    return s->limits ? s->limits : &no_limits;
}

static char *worker_key(const struct job *job)
{
    struct buf b = {0};
    const struct manifest_job *s = job->spec;
    const struct manifest_limits *l = limits_of(s);
    buf_printf(&b, "%s/%s/%s/%llu/%lld/%u", s->id, job->plugin->name, job->plugin->hash,
               (unsigned long long)l->address_space, (long long)l->cpu_ns, l->open_files);
    return b.data;
}

static struct worker *pool_take(const char *key)
{
    struct worker *found = NULL, *expired = NULL;
    int64_t now = mono_ns();

    pthread_mutex_lock(&pool_lock);
    for (struct worker **pp = &idle_workers; *pp;) {
        struct worker *w = *pp;
        if (!found && strcmp(w->key, key) == 0) {
            *pp = w->next;
            found = w;
        } else if (now - w->idle_since > IDLE_TTL_NS) {
            *pp = w->next;
            w->next = expired;
            expired = w;
        } else {
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    while (expired) {
        struct worker *next = expired->next;
        worker_stop(expired);
        expired = next;
    }
    return found;
}

static void pool_put(struct worker *w)
{
    w->idle_since = mono_ns();
    pthread_mutex_lock(&pool_lock);
    w->next = idle_workers;
    idle_workers = w;
    pthread_mutex_unlock(&pool_lock);
}

void isolate_shutdown(void)
{
    struct worker *list;

    pthread_mutex_lock(&pool_lock);
    list = idle_workers;
    idle_workers = NULL;
    pthread_mutex_unlock(&pool_lock);
    while (list) {
        struct worker *next = list->next;
        worker_stop(list);
        list = next;
    }
}

/* Describes how a worker ended, for the run's error. */
static void describe_exit(int status, char *out, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(out, len, "worker killed by signal %d (%s)", WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else if (WIFEXITED(status))
        snprintf(out, len, "worker exited with status %d (the plugin called exit)",
                 WEXITSTATUS(status));
    else
        snprintf(out, len, "worker ended (status 0x%x)", (unsigned)status);
}

/* Waits for one message up to timeout_ms: 1, 0 (EOF), -ETIMEDOUT or -errno. */
static int wait_msg(int fd, int timeout_ms, json_t **out)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, timeout_ms);
    if (n < 0)
        return errno == EINTR ? -ETIMEDOUT : -errno;
    if (n == 0)
        return -ETIMEDOUT;
    return recv_msg(fd, out);
}

/* The worker's environment: the host's. In a sanitizer build, the worker's
 * sanitizer must let a plugin's fatal signal kill the process (that is how
 * the host learns of the crash) and not treat exit() as a leak. */
static char **worker_environ(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    static const char *const vars[] = {"ASAN_OPTIONS", "TSAN_OPTIONS", "UBSAN_OPTIONS"};
    static const char extra[] = "handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigill=0:"
                                "handle_sigfpe=0:detect_leaks=0";
    size_t n = 0;
    char **env;

    while (environ[n])
        n++;
    env = xcalloc(n + ARRAY_SIZE(vars) + 1, sizeof(*env));
    n = 0;
    for (char **e = environ; *e; e++) {
        bool replaced = false;
        for (size_t v = 0; v < ARRAY_SIZE(vars); v++)
            replaced = replaced || (strncmp(*e, vars[v], strlen(vars[v])) == 0 &&
                                    (*e)[strlen(vars[v])] == '=');
        if (!replaced)
            env[n++] = xstrdup(*e);
    }
    for (size_t v = 0; v < ARRAY_SIZE(vars); v++) {
        const char *old = getenv(vars[v]);
        struct buf b = {0};
        buf_printf(&b, "%s=%s%s%s", vars[v], old ? old : "", old && *old ? ":" : "", extra);
        env[n++] = b.data;
    }
    return env;
#else
    return environ;
#endif
}

static void worker_environ_free(char **env)
{
    if (env == environ)
        return;
    for (char **e = env; *e; e++)
        free(*e);
    free(env);
}

static struct worker *worker_spawn(const struct job *job, char *key, char *err, size_t errlen,
                                   bool *crashed)
{
    const struct manifest_job *s = job->spec;
    const struct manifest_host *h = &job->gen->manifest->host;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    char parent[24];
    /* its own name: `pidof jobhost` and `pkill -x jobhost` match daemons only */
    char *argv[] = {"jobhost-worker", "__worker", parent, NULL};
    int sv[2], child_end, rc;
    pid_t pid;
    struct worker *w;
    json_t *reply = NULL;

    snprintf(parent, sizeof(parent), "%d", (int)getpid());
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        free(key);
        return NULL;
    }
    /* dup2 onto the same number would keep O_CLOEXEC: move it out of the way */
    child_end = sv[1] == WORKER_FD ? fcntl(sv[1], F_DUPFD_CLOEXEC, WORKER_FD + 1) : sv[1];
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, child_end, WORKER_FD);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigfillset(&all);
    /* The host blocks signals in every thread; the worker starts clean, in
     * a process group of its own so a kill reaches what it started. */
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    char **env = worker_environ();
    rc = posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, env);
    worker_environ_free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (child_end != sv[1])
        close(child_end);
    close(sv[1]);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start a worker process: %s", strerror(rc));
        close(sv[0]);
        free(key);
        return NULL;
    }
    w = xcalloc(1, sizeof(*w));
    w->pid = pid;
    w->fd = sv[0];
    w->key = key;

    send_msg(w->fd, json_pack("{s:s, s:s, s:s, s:s, s:b, s:{s:I, s:I, s:I}}", "op", "load",
                              "plugin_dir", h->plugin_dir, "name", job->plugin->name, "hash",
                              job->plugin->hash, "strict", h->strict_permissions, "limits",
                              "address_space", (json_int_t)limits_of(s)->address_space, "cpu_s",
                              (json_int_t)(limits_of(s)->cpu_ns / NS_PER_SEC), "open_files",
                              (json_int_t)limits_of(s)->open_files));
    rc = wait_msg(w->fd, LOAD_TIMEOUT_MS, &reply);
    if (rc == 1 && strcmp(msg_op(reply), "loaded") == 0) {
        json_decref(reply);
        jlog(JH_LOG_DEBUG, "worker_started", "job=%s pid=%d", s->id, (int)pid);
        return w;
    }
    if (rc == 1)
        snprintf(err, errlen, "worker could not load the plugin: %s",
                 json_string_value(json_object_get(reply, "error"))
                     ? json_string_value(json_object_get(reply, "error"))
                     : "?");
    else if (rc == 0) {
        int status = 0;
        char how[128];
        waitpid(pid, &status, 0);
        describe_exit(status, how, sizeof(how));
        snprintf(err, errlen, "%s while loading the plugin", how);
        w->pid = -1;
        *crashed = true;
    } else {
        snprintf(err, errlen, "worker did not answer: %s", strerror(-rc));
    }
    json_decref(reply);
    if (w->pid > 0) {
        worker_stop(w);
    } else {
        close(w->fd);
        free(w->key);
        free(w);
    }
    return NULL;
}

static json_t *params_json(const struct manifest_job *s)
{
    json_t *list = json_array();
    for (size_t i = 0; i < s->n_params; i++) {
        const struct manifest_param *p = &s->params[i];
        json_t *values = json_array(), *names = json_array();
        for (size_t k = 0; k < p->n; k++) {
            json_array_append_new(values, json_string(p->values[k] ? p->values[k] : ""));
            if (p->names)
                json_array_append_new(names, json_string(p->names[k] ? p->names[k] : ""));
        }
        json_array_append_new(list, json_pack("{s:s, s:i, s:s?, s:o, s:o}", "key", p->key, "kind",
                                              p->kind, "value", p->value, "values", values,
                                              "names", names));
    }
    return list;
}

/* A record from the worker: the run's, into the outcome pipeline. The
 * worker's hostapi made it follow the rules of core/record.h; keys are held
 * to them once more here (which changes nothing for a well-behaved worker),
 * and strings are valid UTF-8, as jansson reads only that. */
static void forward_log(struct run_ctx *rc, json_t *msg)
{
    json_t *kv = json_object_get(msg, "kv");
    size_t n = json_array_size(kv), m = 0;
    struct record_pair pairs[RECORD_MAX_PAIRS];
    char keys[RECORD_MAX_PAIRS][RECORD_KEY_BUF];
    int level = (int)json_integer_value(json_object_get(msg, "level"));
    const char *event = json_string_value(json_object_get(msg, "event"));
    struct outcome_record rec = {.level = level, .event = event ? event : "plugin",
                                 .pairs = pairs,
                                 .truncated = json_is_true(json_object_get(msg, "truncated"))};

    if (level < rc->log.level || !rc->run)
        return;
    for (size_t i = 0; i < n && m < RECORD_MAX_PAIRS; i++) {
        json_t *item = json_array_get(kv, i);
        const char *key = json_string_value(json_array_get(item, 0));
        const char *type = json_string_value(json_array_get(item, 1));
        json_t *v = json_array_get(item, 2);
        struct record_pair *q = &pairs[m];
        int t = type ? record_type_parse(type) : -1;

        if (!key || t < 0 || !v)
            continue;
        record_key(keys[m], key);
        q->key = keys[m];
        q->type = (enum record_type)t;
        switch (q->type) {
        case RECORD_STR:
            q->v.s = json_string_value(v) ? json_string_value(v) : "";
            break;
        case RECORD_INT:
            q->v.i = json_integer_value(v);
            break;
        case RECORD_UINT:
            /* above INT64_MAX a uint travels as its decimal text */
            q->v.u = json_is_string(v) ? strtoull(json_string_value(v), NULL, 10)
                                       : (uint64_t)json_integer_value(v);
            break;
        case RECORD_F64:
            /* NaN and the infinities, which JSON has no number for, travel as text */
            q->v.f = json_is_string(v) ? strtod(json_string_value(v), NULL) : json_number_value(v);
            break;
        case RECORD_BOOL:
            q->v.b = json_is_true(v);
            break;
        case RECORD_DUR:
            q->v.ns = json_integer_value(v);
            break;
        default:
            continue;
        }
        m++;
    }
    rec.n_pairs = m;
    outcome_record(rc->run, &rec);
}

/* Workers in a run, by pid (under pool_lock): what the host kills when it
 * stops and gives up on them. */
static pid_t *busy_pids;
static size_t n_busy, cap_busy;

static void busy_add(pid_t pid)
{
    pthread_mutex_lock(&pool_lock);
    if (n_busy == cap_busy) {
        cap_busy = cap_busy ? 2 * cap_busy : 16;
        busy_pids = xrealloc(busy_pids, cap_busy * sizeof(*busy_pids));
    }
    busy_pids[n_busy++] = pid;
    pthread_mutex_unlock(&pool_lock);
}

static void busy_del(pid_t pid)
{
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < n_busy; i++) {
        if (busy_pids[i] == pid) {
            busy_pids[i] = busy_pids[--n_busy];
            break;
        }
    }
    pthread_mutex_unlock(&pool_lock);
}

void isolate_kill_busy(void)
{
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < n_busy; i++)
        kill(-busy_pids[i], SIGKILL);
    pthread_mutex_unlock(&pool_lock);
}

static enum isolate_outcome converse(struct job *job, struct run_ctx *rc, int *ret,
                                     struct worker *w);

enum isolate_outcome isolate_run(struct job *job, struct run_ctx *rc, int *ret)
{
    char *key = worker_key(job);
    struct worker *w = pool_take(key);
    enum isolate_outcome out;
    pid_t pid;

    if (w) {
        free(key);
    } else {
        bool crashed = false;
        char why[1024];
        w = worker_spawn(job, key, why, sizeof(why), &crashed);
        if (!w) {
            hostapi_set_error_text(rc, why);
            return crashed ? ISOLATE_CRASHED : ISOLATE_FAILED;
        }
    }
    pid = w->pid;
    busy_add(pid);
    out = converse(job, rc, ret, w); /* w is back in the pool or gone */
    busy_del(pid);
    return out;
}

/* Runs one run in w and waits for its end. */
static enum isolate_outcome converse(struct job *job, struct run_ctx *rc, int *ret,
                                     struct worker *w)
{
    int64_t deadline, term_at = 0;
    bool cancel_sent = false;

    send_msg(w->fd, json_pack("{s:s, s:s, s:s, s:b, s:I, s:i, s:o, s:{s:i, s:I, s:I, s:i, s:I}}",
                              "op", "run", "job", job->spec->id, "run_id", rc->run_id, "dry_run",
                              rc->dry_run, "deadline_mono", (json_int_t)rc->deadline_mono_ns,
                              "log_level", rc->log.level, "params", params_json(job->spec),
                              "info", "trigger", (int)rc->info.trigger, "scheduled",
                              (json_int_t)rc->info.scheduled_ns, "timeout",
                              (json_int_t)rc->info.timeout_ns, "attempt", (int)rc->info.attempt,
                              "fencing_token", (json_int_t)rc->info.fencing_token));
    for (;;) {
        json_t *msg = NULL;
        int64_t now = mono_ns();
        int r;

        deadline = hostapi_effective_deadline(rc); /* a reload may bring it forward */
        if (deadline && now >= deadline && !term_at) {
            kill(-w->pid, SIGTERM);
            term_at = now;
        } else if (term_at && now >= term_at + KILL_GRACE_NS) {
            kill(-w->pid, SIGKILL);
        }
        if (!cancel_sent && (hostapi_cancelled_all() || hostapi_run_replaced(rc))) {
            send_msg(w->fd, json_pack("{s:s}", "op", "cancel"));
            cancel_sent = true;
        }
        r = wait_msg(w->fd, POLL_SLICE_MS, &msg);
        if (r == -ETIMEDOUT)
            continue;
        if (r <= 0) {
            /* EOF or a broken socket: the worker is gone (or going) */
            int status = 0;
            if (r < 0)
                kill(-w->pid, SIGKILL);
            waitpid(w->pid, &status, 0);
            close(w->fd);
            free(w->key);
            free(w);
            if (term_at && rc->deadline_mono_ns && term_at >= rc->deadline_mono_ns) {
                char d[32];
                snprintf(rc->error, sizeof(rc->error), "killed after its timeout of %s",
                         duration_format(job->spec->timeout_ns, d, sizeof(d)));
                return ISOLATE_KILLED;
            }
            if (term_at) {
                snprintf(rc->error, sizeof(rc->error),
                         "stopped: its plugin was replaced and host.drain_timeout passed");
                return ISOLATE_KILLED;
            }
            describe_exit(status, rc->error, sizeof(rc->error));
            return ISOLATE_CRASHED;
        }
        const char *op = msg_op(msg);
        if (strcmp(op, "log") == 0) {
            forward_log(rc, msg);
        } else if (strcmp(op, "error") == 0) {
            hostapi_set_error_text(rc, json_string_value(json_object_get(msg, "message")));
        } else if (strcmp(op, "done") == 0) {
            *ret = (int)json_integer_value(json_object_get(msg, "result"));
            json_decref(msg);
            if (term_at || cancel_sent)
                worker_stop(w); /* it was told to stop: do not reuse it */
            else
                pool_put(w);
            return ISOLATE_RETURNED;
        }
        json_decref(msg);
    }
}

/* ---- worker side -------------------------------------------------------------- */

static int worker_fd = -1;
static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;

/* One pair as the protocol carries it: [key, type, value]. */
static json_t *pair_json(const struct record_pair *p)
{
    char text[RECORD_TEXT_MAX];
    json_t *v;

    switch (p->type) {
    case RECORD_STR:
        v = json_string(p->v.s);
        break;
    case RECORD_INT:
        v = json_integer(p->v.i);
        break;
    case RECORD_UINT:
        v = p->v.u > (uint64_t)INT64_MAX ? json_string(record_value_text(p, text))
                                         : json_integer((json_int_t)p->v.u);
        break;
    case RECORD_F64:
        v = isfinite(p->v.f) ? json_real(p->v.f) : json_string(record_value_text(p, text));
        break;
    case RECORD_BOOL:
        v = json_boolean(p->v.b);
        break;
    default:
        v = json_integer(p->v.ns);
        break;
    }
    return json_pack("[s, s, o]", p->key, record_type_name(p->type), v ? v : json_null());
}

/* Plugin records, from any thread of the plugin: to the host, with their
 * types. A record too large for one message loses pairs from its end
 * (and says so) rather than the whole of it. */
static void worker_forward_log(const struct run_ctx *rc, const struct outcome_record *rec)
{
    bool truncated = rec->truncated;
    size_t n = rec->n_pairs;
    char *text = NULL;
    (void)rc;

    for (;;) {
        json_t *kv = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(kv, pair_json(&rec->pairs[i]));
        json_t *msg = json_pack("{s:s, s:i, s:s, s:o, s:b}", "op", "log", "level", rec->level,
                                "event", rec->event, "kv", kv, "truncated", truncated);
        text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
        json_decref(msg);
        if (!text || strlen(text) <= MSG_MAX || n == 0)
            break;
        free(text);
        text = NULL;
        n /= 2;
        truncated = true;
    }
    if (!text)
        return;
    pthread_mutex_lock(&send_lock);
    if (send(worker_fd, text, strlen(text), MSG_NOSIGNAL) < 0) {
        /* the host is gone or going: it will see the worker's EOF */
    }
    pthread_mutex_unlock(&send_lock);
    free(text);
}

/* Messages for the main thread, handed over by the reader thread. */
static pthread_mutex_t mailbox_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mailbox_cond = PTHREAD_COND_INITIALIZER;
static json_t *mailbox;    /* under mailbox_lock; NULL = empty */
static bool mailbox_eof;   /* under mailbox_lock */
static bool cancel_seen;   /* under mailbox_lock */
static bool exit_asked;    /* under mailbox_lock: the host sent "exit" */

static void *worker_reader(void *arg)
{
    (void)arg;
    for (;;) {
        json_t *msg = NULL;
        int r = recv_msg(worker_fd, &msg);
        if (r == 1 && strcmp(msg_op(msg), "cancel") == 0) {
            json_decref(msg);
            pthread_mutex_lock(&mailbox_lock);
            cancel_seen = true;
            pthread_mutex_unlock(&mailbox_lock);
            hostapi_cancel_all();
            continue;
        }
        if (r != 1) {
            /* The daemon is gone (or dropped us without asking us to exit):
             * leave now, whatever the plugin is doing, so that no worker
             * outlives its daemon. */
            pthread_mutex_lock(&mailbox_lock);
            bool asked = exit_asked;
            pthread_mutex_unlock(&mailbox_lock);
            if (!asked)
                _exit(1);
        }
        pthread_mutex_lock(&mailbox_lock);
        while (mailbox && r == 1)
            pthread_cond_wait(&mailbox_cond, &mailbox_lock);
        if (r == 1) {
            mailbox = msg;
            exit_asked = exit_asked || strcmp(msg_op(msg), "exit") == 0;
        } else {
            mailbox_eof = true;
        }
        pthread_cond_broadcast(&mailbox_cond);
        pthread_mutex_unlock(&mailbox_lock);
        if (r != 1)
            return NULL;
    }
}

static json_t *worker_next_msg(void)
{
    json_t *msg;
    pthread_mutex_lock(&mailbox_lock);
    while (!mailbox && !mailbox_eof)
        pthread_cond_wait(&mailbox_cond, &mailbox_lock);
    msg = mailbox;
    mailbox = NULL;
    pthread_cond_broadcast(&mailbox_cond);
    pthread_mutex_unlock(&mailbox_lock);
    return msg;
}

static void apply_limit(int resource, json_int_t value)
{
    if (value > 0) {
        struct rlimit rl = {.rlim_cur = (rlim_t)value, .rlim_max = (rlim_t)value};
        setrlimit(resource, &rl);
    }
}

static void worker_reply(json_t *msg)
{
    pthread_mutex_lock(&send_lock);
    send_msg(worker_fd, msg);
    pthread_mutex_unlock(&send_lock);
}

static struct plugin *worker_load(json_t *msg, char *copy_dir)
{
    json_t *limits = json_object_get(msg, "limits");
    struct plugin_load_opts opts = {
        .plugin_dir = json_string_value(json_object_get(msg, "plugin_dir")),
        .strict_permissions = json_is_true(json_object_get(msg, "strict")),
        .copy_dir = copy_dir,
    };
    const char *name = json_string_value(json_object_get(msg, "name"));
    const char *hash = json_string_value(json_object_get(msg, "hash"));
    struct plugin *p = NULL;
    char err[1024];

    apply_limit(RLIMIT_AS, json_integer_value(json_object_get(limits, "address_space")));
    apply_limit(RLIMIT_CPU, json_integer_value(json_object_get(limits, "cpu_s")));
    apply_limit(RLIMIT_NOFILE, json_integer_value(json_object_get(limits, "open_files")));
    if (!opts.plugin_dir || !name || !hash) {
        worker_reply(json_pack("{s:s, s:s}", "op", "error", "error", "malformed load request"));
        return NULL;
    }
    if (plugin_load(&opts, name, &p, err, sizeof(err)) < 0) {
        char shown[sizeof(err)];
        hostapi_text_line(shown, sizeof(shown), err); /* JSON takes only UTF-8 */
        worker_reply(json_pack("{s:s, s:s}", "op", "error", "error", shown));
        return NULL;
    }
    if (strcmp(p->hash, hash) != 0) {
        worker_reply(json_pack("{s:s, s:s}", "op", "error", "error",
                               "the plugin file changed since the host loaded it; reload to use "
                               "the new one"));
        plugin_unref(p);
        return NULL;
    }
    worker_reply(json_pack("{s:s}", "op", "loaded"));
    return p;
}

/* A manifest_job holding what a run request carries: id, params, level. */
static void job_from_msg(json_t *msg, struct manifest_job *job)
{
    json_t *params = json_object_get(msg, "params");

    memset(job, 0, sizeof(*job));
    job->id = xstrdup(json_string_value(json_object_get(msg, "job")) ?: "");
    job->log_level = (int)json_integer_value(json_object_get(msg, "log_level"));
    job->n_params = json_array_size(params);
    job->params = xcalloc(job->n_params + 1, sizeof(*job->params));
    for (size_t i = 0; i < job->n_params; i++) {
        json_t *p = json_array_get(params, i);
        json_t *values = json_object_get(p, "values"), *names = json_object_get(p, "names");
        struct manifest_param *mp = &job->params[i];
        const char *value = json_string_value(json_object_get(p, "value"));

        mp->key = xstrdup(json_string_value(json_object_get(p, "key")) ?: "");
        mp->kind = (int)json_integer_value(json_object_get(p, "kind"));
        mp->value = value ? xstrdup(value) : NULL;
        mp->n = json_array_size(values);
        mp->values = xcalloc(mp->n + 1, sizeof(char *));
        if (json_array_size(names) == mp->n && mp->n > 0)
            mp->names = xcalloc(mp->n + 1, sizeof(char *));
        for (size_t k = 0; k < mp->n; k++) {
            mp->values[k] = xstrdup(json_string_value(json_array_get(values, k)) ?: "");
            if (mp->names)
                mp->names[k] = xstrdup(json_string_value(json_array_get(names, k)) ?: "");
        }
    }
}

static void job_clear(struct manifest_job *job)
{
    for (size_t i = 0; i < job->n_params; i++) {
        struct manifest_param *mp = &job->params[i];
        for (size_t k = 0; k < mp->n; k++) {
            free(mp->values[k]);
            if (mp->names)
                free(mp->names[k]);
        }
        free(mp->values);
        free(mp->names);
        free(mp->value);
        free(mp->key);
    }
    free(job->params);
    free(job->id);
}

static void worker_run(struct plugin *p, json_t *msg)
{
    struct manifest_job job;
    struct run_ctx rc;
    const char *run_id = json_string_value(json_object_get(msg, "run_id"));
    json_t *info = json_object_get(msg, "info");
    int ret;

    job_from_msg(msg, &job);
    hostapi_bare_ctx(&rc, p, &job, run_id ? run_id : "",
                     json_is_true(json_object_get(msg, "dry_run")),
                     (int64_t)json_integer_value(json_object_get(msg, "deadline_mono")));
    rc.info.trigger = (uint32_t)json_integer_value(json_object_get(info, "trigger"));
    rc.info.scheduled_ns = (int64_t)json_integer_value(json_object_get(info, "scheduled"));
    rc.info.timeout_ns = (int64_t)json_integer_value(json_object_get(info, "timeout"));
    rc.info.attempt = (uint32_t)json_integer_value(json_object_get(info, "attempt"));
    rc.info.fencing_token = (uint64_t)json_integer_value(json_object_get(info, "fencing_token"));
    job.timeout_ns = rc.info.timeout_ns;
    ret = p->desc->run(hostapi_ctx(&rc));
    if (rc.error[0])
        worker_reply(json_pack("{s:s, s:s}", "op", "error", "message", rc.error));
    worker_reply(json_pack("{s:s, s:i}", "op", "done", "result", ret));
    job_clear(&job);
}

int isolate_worker_main(int fd, pid_t parent)
{
    struct log_config quiet = {.level = JH_LOG_ERROR, .to_stderr = true};
    struct plugin *p = NULL;
    pthread_t reader;
    char *copy_dir;
    bool cancelled = false;

    /* Signals meant for the daemon (a reload, a log reopen, Ctrl-C in its
     * terminal) are not the worker's; it dies with the daemon, whoever
     * kills it, and is named apart from it. */
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    prctl(PR_SET_NAME, "jobhost-worker", 0, 0, 0);
    (void)parent; /* its death shows as the socket's end (worker_reader) */
    worker_fd = fd;
    log_setup(&quiet);
    hostapi_set_log_forward(worker_forward_log);
    copy_dir = plugin_copy_dir_create();
    if (!copy_dir || pthread_create(&reader, NULL, worker_reader, NULL) != 0) {
        fprintf(stderr, "jobhost worker: cannot start: %s\n", strerror(errno));
        return 1;
    }
    /* never joined: it may be blocked in recv when the worker leaves */
    pthread_detach(reader);
    for (;;) {
        json_t *msg = worker_next_msg();
        const char *op = msg ? msg_op(msg) : "exit";

        if (strcmp(op, "load") == 0 && !p) {
            p = worker_load(msg, copy_dir);
            rmdir(copy_dir); /* the copy is mapped and unlinked: nothing left to leak */
        } else if (strcmp(op, "run") == 0 && p) {
            worker_run(p, msg);
        } else {
            json_decref(msg);
            break;
        }
        json_decref(msg);
        pthread_mutex_lock(&mailbox_lock);
        cancelled = cancel_seen;
        pthread_mutex_unlock(&mailbox_lock);
        if (cancelled || !p)
            break;
    }
    plugin_unref(p); /* the plugin's shutdown runs here */
    rmdir(copy_dir);
    free(copy_dir);
    log_shutdown();
    _exit(0);
}
