/*
 * isolate — process isolation for jobs. See isolate.h.
 *
 * DESIGN. Host side: an executor thread that runs an isolated job takes an
 * idle worker for that job (or spawns one with posix_spawn of
 * /proc/self/exe and hands it the plugin's image with a "load" message),
 * sends it a "run" message and then waits in poll() on the socket, in
 * slices of at most 100 ms so that it also notices the run's deadline and
 * the host's shutdown. Messages back are "log" (forwarded to the outcome
 * pipeline under the run's context), "run_error" and "done". EOF means the
 * worker died: waitpid() says how. A message the host cannot use is counted
 * (isolate_dropped) and, when it breaks the protocol itself, the worker is
 * stopped. The host's end of the socket is non-blocking, so a worker that
 * stops reading can delay a send only up to the run's deadline. `pool_lock`
 * guards the idle list and the busy pids; a worker in use belongs to the
 * thread running it and to nobody else. Probes (isolate_probe_*) are
 * workers of the main thread, used while a generation is built.
 *
 * Worker side: the main thread takes the credentials and limits, loads the
 * image and runs the plugin; a reader thread (small stack: the worker may
 * run under a tight RLIMIT_AS) receives messages so that a "cancel"
 * arriving mid-run reaches jh_cancelled(). Records from any plugin thread
 * are sent under `send_lock`.
 */
#include "core/isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
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
#include "core/isolate_proto.h"
#include "core/log.h"
#include "core/manifest.h"
#include "core/outcome.h"
#include "core/params.h"
#include "core/plugin.h"
#include "lib/units.h"
#include "lib/util.h"

extern char **environ;

#define WORKER_FD 3
#define IDLE_TTL_NS (60 * NS_PER_SEC)
#define KILL_GRACE_NS (2 * NS_PER_SEC)
#define LOAD_TIMEOUT_MS 30000
#define SEND_TIMEOUT_MS 30000 /* a worker that takes no message for this long is broken */
#define POLL_SLICE_MS 100
#define READER_STACK (256 * 1024)

/* Messages and records from workers the host could not use. Any thread
 * adds (relaxed), the exposition reads. */
static atomic_uint_fast64_t dropped;

uint64_t isolate_dropped(void)
{
    return atomic_load_explicit(&dropped, memory_order_relaxed);
}

static void count_dropped(uint64_t n)
{
    if (n)
        atomic_fetch_add_explicit(&dropped, n, memory_order_relaxed);
}

/* ---- host side: the pool ------------------------------------------------------- */

struct worker {
    pid_t pid;
    int fd;             /* non-blocking */
    struct proto_reader rd;
    char *key;          /* job id + plugin content + credentials + limits */
    int64_t idle_since; /* mono ns */
    struct worker *next;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct worker *idle_workers; /* under pool_lock */

static void worker_free(struct worker *w)
{
    if (w->fd >= 0)
        close(w->fd);
    proto_reader_free(&w->rd);
    free(w->key);
    free(w);
}

/* Ends a worker that is not in use: asks it to exit (its plugin's shutdown
 * runs), then makes sure, and reaps it. */
static void worker_stop(struct worker *w)
{
    int status;
    int64_t until = mono_ns() + KILL_GRACE_NS;

    (void)proto_send(w->fd, json_pack("{s:s}", "op", "exit"), -1, 100); /* it may be gone */
    close(w->fd);
    w->fd = -1;
    while (waitpid(w->pid, &status, WNOHANG) == 0) {
        if (mono_ns() > until) {
            kill(-w->pid, SIGKILL);
            waitpid(w->pid, &status, 0);
            break;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    worker_free(w);
}

/* A job without `limits:` has none: every limit 0. */
static const struct manifest_limits no_limits;

static const struct manifest_limits *limits_of(const struct manifest_job *s)
{
    return s->limits ? s->limits : &no_limits;
}

bool isolate_same_worker(const struct manifest_job *a, const struct manifest_job *b)
{
    const struct manifest_limits *la = limits_of(a), *lb = limits_of(b);
    const struct manifest_creds *ca = a->creds, *cb = b->creds;

    if (la->address_space != lb->address_space || la->cpu_ns != lb->cpu_ns ||
        la->open_files != lb->open_files)
        return false;
    if (!ca || !cb)
        return ca == cb;
    return ca->set_uid == cb->set_uid && ca->set_gid == cb->set_gid && ca->uid == cb->uid &&
           ca->gid == cb->gid;
}

static char *worker_key(const struct job *job)
{
    struct buf b = {0};
    const struct manifest_job *s = job->spec;
    const struct manifest_limits *l = limits_of(s);
    const struct manifest_creds *c = s->creds;

    buf_printf(&b, "%s/%s/%s/%llu/%lld/%u/%d:%u/%d:%u", s->id, job->plugin->name,
               job->plugin->hash, (unsigned long long)l->address_space, (long long)l->cpu_ns,
               l->open_files, c && c->set_uid, c ? c->uid : 0, c && c->set_gid, c ? c->gid : 0);
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
    if (found) {
        /* An idle worker says nothing: one whose socket is readable died
         * (or broke the protocol) while idle. Reaped, not handed a run. */
        struct pollfd pfd = {.fd = found->fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) != 0) {
            kill(-found->pid, SIGKILL);
            worker_stop(found);
            found = NULL;
        }
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

/* Waits up to timeout_ms for one whole message: 1 and *out, 0 (EOF),
 * -ETIMEDOUT, -EPROTO / -EMSGSIZE (the worker broke the protocol: counted)
 * or -errno. */
static int wait_msg(struct worker *w, int timeout_ms, json_t **out)
{
    int64_t until = mono_ns() + (int64_t)timeout_ms * NS_PER_MS;

    for (;;) {
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
        int64_t left = until - mono_ns();
        int fd = -1, n, rc;

        n = poll(&pfd, 1, left > 0 ? (int)(left / NS_PER_MS) + 1 : 0);
        if (n < 0)
            return errno == EINTR ? -ETIMEDOUT : -errno;
        if (n == 0)
            return -ETIMEDOUT;
        rc = proto_recv(w->fd, &w->rd, out, &fd);
        if (fd >= 0)
            close(fd); /* a worker hands the host nothing */
        if (rc == -EAGAIN) {
            if (mono_ns() >= until)
                return -ETIMEDOUT;
            continue;
        }
        if (rc == -EPROTO || rc == -EMSGSIZE)
            count_dropped(1);
        return rc;
    }
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

/* What a "load" message says of spec's worker. */
static void load_request(const struct plugin *p, const struct manifest_job *spec,
                         struct proto_load *l)
{
    const struct manifest_limits *lim = limits_of(spec);
    const struct manifest_creds *c = spec->creds;

    memset(l, 0, sizeof(*l));
    l->name = p->name;
    l->path = p->path;
    l->address_space = lim->address_space;
    l->cpu_s = lim->cpu_ns / NS_PER_SEC;
    l->open_files = lim->open_files;
    if (c) {
        l->set_uid = c->set_uid;
        l->set_gid = c->set_gid;
        l->uid = c->uid;
        l->gid = c->gid;
        l->user = c->user_name;
    }
}

/* Starts a worker process and has it load p with spec's credentials and
 * limits. Returns it, or NULL with err (one line), *crashed when it died
 * and *stage saying where. When p has no descriptor information yet, the
 * worker's report sets it. */
static struct worker *worker_spawn(struct plugin *p, const struct manifest_job *spec, char *key,
                                   char *err, size_t errlen, bool *crashed,
                                   enum isolate_stage *stage)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    char parent[24];
    /* its own name: `pidof jobhost` and `pkill -x jobhost` match daemons only */
    char *argv[] = {"jobhost-worker", "__worker", parent, NULL};
    int sv[2], child_end, rc;
    pid_t pid;
    struct worker *w;
    struct proto_load lr;
    json_t *reply = NULL;

    *stage = ISOLATE_STAGE_LOAD;
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
    proto_reader_init(&w->rd, PROTO_WORKER_MAX);
    (void)fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK); /* poll says when */

    load_request(p, spec, &lr);
    rc = proto_send(w->fd, proto_load_encode(&lr), p->image_fd, SEND_TIMEOUT_MS);
    if (rc == 0)
        rc = wait_msg(w, LOAD_TIMEOUT_MS, &reply);
    if (rc == 1 && strcmp(proto_op(reply), "loaded") == 0) {
        struct proto_loaded info;
        char why[1024];
        rc = 0;
        if (!p->desc && !p->desc_name) {
            rc = proto_loaded_decode(reply, &info);
            if (rc == 0)
                rc = plugin_set_info(p, &info.info, why, sizeof(why));
            else
                snprintf(why, sizeof(why), "%s: the worker's report of the descriptor is "
                                           "malformed",
                         p->path);
            proto_loaded_clear(&info);
        }
        json_decref(reply);
        if (rc == 0)
            return w;
        snprintf(err, errlen, "%s", why);
        worker_stop(w);
        return NULL;
    }
    if (rc == 1 && strcmp(proto_op(reply), "load_failed") == 0) {
        const char *why = json_string_value(json_object_get(reply, "error"));
        char shown[1024];
        hostapi_text_line(shown, sizeof(shown), why ? why : "?");
        snprintf(err, errlen, "%s", shown);
        if (json_is_true(json_object_get(reply, "creds")))
            *stage = ISOLATE_STAGE_CREDS;
    } else if (rc == 1) {
        count_dropped(1);
        snprintf(err, errlen, "%s: the worker answered the load with \"%.32s\"", p->path,
                 proto_op(reply));
    } else if (rc == 0) {
        int status = 0;
        char how[128];
        waitpid(pid, &status, 0);
        describe_exit(status, how, sizeof(how));
        snprintf(err, errlen,
                 "%s: %s while loading the plugin (in its ELF constructors, its init, or the "
                 "worker's start)",
                 p->path, how);
        w->pid = -1;
        *crashed = true;
    } else if (rc == -ETIMEDOUT) {
        snprintf(err, errlen, "%s: the worker loading the plugin did not answer in %d s", p->path,
                 LOAD_TIMEOUT_MS / 1000);
    } else {
        snprintf(err, errlen, "%s: cannot talk to the worker loading the plugin: %s", p->path,
                 strerror(-rc));
    }
    json_decref(reply);
    if (w->pid > 0) {
        kill(-w->pid, SIGKILL); /* refused, broken or silent: not worth a polite stop */
        worker_stop(w);
    } else {
        worker_free(w);
    }
    return NULL;
}

/* A record from the worker: the run's, into the outcome pipeline. */
static void forward_log(struct run_ctx *rc, const json_t *msg)
{
    struct proto_record pr;
    int lost = proto_record_decode(msg, &pr);

    if (lost < 0) {
        count_dropped(1);
        return;
    }
    count_dropped((uint64_t)lost);
    if (pr.rec.level < rc->log.level || !rc->run)
        return;
    outcome_record(rc->run, &pr.rec);
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
        enum isolate_stage stage;
        char why[1024];
        w = worker_spawn(job->plugin, job->spec, key, why, sizeof(why), &crashed, &stage);
        if (!w) {
            hostapi_set_error_text(rc, why);
            return crashed ? ISOLATE_CRASHED : ISOLATE_FAILED;
        }
        jlog(JH_LOG_DEBUG, "worker_started", "job=%s pid=%d", job->spec->id, (int)w->pid);
    }
    pid = w->pid;
    busy_add(pid);
    out = converse(job, rc, ret, w); /* w is back in the pool or gone */
    busy_del(pid);
    return out;
}

/* Ends a worker that broke off a run: kills it if need be, reaps it. */
static void worker_lost(struct worker *w, bool kill_it, int *status)
{
    if (kill_it)
        kill(-w->pid, SIGKILL);
    waitpid(w->pid, status, 0);
    worker_free(w);
}

/* Runs one run in w and waits for its end. */
static enum isolate_outcome converse(struct job *job, struct run_ctx *rc, int *ret,
                                     struct worker *w)
{
    int64_t deadline, term_at = 0;
    bool cancel_sent = false;
    struct proto_run run = {
        .dry_run = rc->dry_run,
        .deadline_mono = rc->deadline_mono_ns,
        .trigger = rc->info.trigger,
        .attempt = rc->info.attempt,
        .scheduled_ns = rc->info.scheduled_ns,
        .timeout_ns = rc->info.timeout_ns,
        .fencing_token = rc->info.fencing_token,
    };
    int status = 0, r;

    /* Up to the run's deadline (or a bound) for the worker to take it: a
     * worker that stops reading cannot hold this thread for ever. */
    r = proto_send(w->fd, proto_run_encode(job->spec, rc->run_id, rc->log.level, &run), -1,
                   SEND_TIMEOUT_MS);
    if (r < 0) {
        worker_lost(w, true, &status);
        snprintf(rc->error, sizeof(rc->error), "cannot hand the run to its worker: %s",
                 strerror(-r));
        return ISOLATE_FAILED;
    }
    for (;;) {
        json_t *msg = NULL;
        int64_t now = mono_ns();

        deadline = hostapi_effective_deadline(rc); /* a reload may bring it forward */
        if (((deadline && now >= deadline) || hostapi_lease_lost(rc, now)) && !term_at) {
            kill(-w->pid, SIGTERM);
            term_at = now;
        } else if (term_at && now >= clock_add(term_at, KILL_GRACE_NS)) {
            kill(-w->pid, SIGKILL);
        }
        if (!cancel_sent && (hostapi_cancelled_all() || hostapi_run_replaced(rc))) {
            (void)proto_send(w->fd, json_pack("{s:s}", "op", "cancel"), -1, 0); /* best effort */
            cancel_sent = true;
        }
        r = wait_msg(w, POLL_SLICE_MS, &msg);
        if (r == -ETIMEDOUT)
            continue;
        if (r == -EPROTO || r == -EMSGSIZE) {
            worker_lost(w, true, &status);
            snprintf(rc->error, sizeof(rc->error),
                     "worker stopped: it sent a message the host cannot read (%s)",
                     r == -EMSGSIZE ? "too large" : "malformed");
            return ISOLATE_CRASHED;
        }
        if (r <= 0) {
            /* EOF or a broken socket: the worker is gone (or going) */
            worker_lost(w, r < 0, &status);
            if (term_at && rc->deadline_mono_ns && term_at >= rc->deadline_mono_ns) {
                char d[32];
                snprintf(rc->error, sizeof(rc->error), "killed after its timeout of %s",
                         duration_format(job->spec->timeout_ns, d, sizeof(d)));
                return ISOLATE_KILLED;
            }
            if (term_at && hostapi_lease_lost(rc, term_at)) {
                snprintf(rc->error, sizeof(rc->error), "%s", RUN_LEASE_LOST_TEXT);
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
        const char *op = proto_op(msg);
        if (strcmp(op, "log") == 0) {
            forward_log(rc, msg);
        } else if (strcmp(op, "run_error") == 0) {
            hostapi_set_error_text(rc, json_string_value(json_object_get(msg, "message")));
        } else if (strcmp(op, "done") == 0) {
            json_t *res = json_object_get(msg, "result");
            *ret = json_is_integer(res) ? (int)json_integer_value(res) : JH_FAIL;
            json_decref(msg);
            if (term_at || cancel_sent)
                worker_stop(w); /* it was told to stop: do not reuse it */
            else
                pool_put(w);
            return ISOLATE_RETURNED;
        } else {
            count_dropped(1); /* not a message of a run */
        }
        json_decref(msg);
    }
}

/* ---- host side: probes ---------------------------------------------------------- */

struct isolate_probe {
    struct worker *w;
    struct plugin *p;
};

int isolate_probe_start(struct plugin *p, const struct manifest_job *spec,
                        struct isolate_probe **out, enum isolate_stage *stage, char *err,
                        size_t errlen)
{
    bool crashed = false;
    struct worker *w;

    *out = NULL;
    w = worker_spawn(p, spec, xstrdup("probe"), err, errlen, &crashed, stage);
    if (!w)
        return crashed ? -ECHILD : -EINVAL;
    *out = xcalloc(1, sizeof(**out));
    (*out)->w = w;
    (*out)->p = p;
    return 0;
}

int isolate_probe_check(struct isolate_probe *pr, const struct manifest_job *job,
                        hostapi_param_error_fn report, void *arg, char *why, size_t whylen)
{
    json_t *msg = NULL, *errors;
    int rc, status = 0;

    why[0] = '\0';
    if (!pr->w) {
        /* the last check killed it: a new one for this job */
        enum isolate_stage stage;
        bool crashed = false;
        char err[1024];
        pr->w = worker_spawn(pr->p, job, xstrdup("probe"), err, sizeof(err), &crashed, &stage);
        if (!pr->w) {
            snprintf(why, whylen, "%s", err);
            return -ECHILD;
        }
    }
    rc = proto_send(pr->w->fd,
                    proto_check_encode(job, job->log_level >= 0 ? job->log_level : JH_LOG_DEBUG),
                    -1, SEND_TIMEOUT_MS);
    if (rc == 0)
        rc = wait_msg(pr->w, LOAD_TIMEOUT_MS, &msg);
    if (rc != 1 || strcmp(proto_op(msg), "checked") != 0) {
        if (rc == 1)
            count_dropped(1);
        worker_lost(pr->w, rc != 0, &status);
        pr->w = NULL;
        if (rc == 0)
            describe_exit(status, why, whylen);
        else
            snprintf(why, whylen, "its worker did not answer the check (%s)",
                     rc == 1 ? "a wrong message" : strerror(-rc));
        json_decref(msg);
        return rc == 0 ? -ECHILD : -EPROTO;
    }
    errors = json_object_get(msg, "errors");
    for (size_t i = 0; i < json_array_size(errors) && i < PROTO_CHECK_ERRORS_MAX + 1; i++) {
        const json_t *e = json_array_get(errors, i);
        const char *key = json_string_value(json_array_get(e, 0));
        const char *text = json_string_value(json_array_get(e, 1));
        char k[RECORD_KEY_BUF], t[RUN_ERROR_MAX];
        if (!key || !text) {
            count_dropped(1);
            continue;
        }
        hostapi_text_line(k, sizeof(k), key);
        hostapi_text_line(t, sizeof(t), text);
        report(arg, k[0] ? k : NULL, t);
    }
    hostapi_text_line(why, whylen, json_string_value(json_object_get(msg, "why")));
    rc = json_is_integer(json_object_get(msg, "result"))
             ? (int)json_integer_value(json_object_get(msg, "result"))
             : -1;
    json_decref(msg);
    return rc;
}

void isolate_probe_end(struct isolate_probe *pr)
{
    if (!pr)
        return;
    if (pr->w)
        worker_stop(pr->w);
    free(pr);
}

/* ---- worker side -------------------------------------------------------------- */

static int worker_fd = -1;
static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;

static void worker_reply(json_t *msg)
{
    pthread_mutex_lock(&send_lock);
    (void)proto_send(worker_fd, msg, -1, -1); /* the host gone shows as the socket's end */
    pthread_mutex_unlock(&send_lock);
}

/* Plugin records, from any thread of the plugin: to the host, with their
 * types. Past the SDK boundary a record is bounded (RECORD_MAX_PAIRS pairs
 * of at most RECORD_VALUE_MAX bytes), so it always fits a message. */
static void worker_forward_log(const struct run_ctx *rc, const struct outcome_record *rec)
{
    (void)rc;
    worker_reply(proto_record_encode(rec));
}

/* Messages for the main thread, handed over by the reader thread. */
static pthread_mutex_t mailbox_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mailbox_cond = PTHREAD_COND_INITIALIZER;
static json_t *mailbox;    /* under mailbox_lock; NULL = empty */
static int mailbox_fd = -1; /* under mailbox_lock: the descriptor that came with it */
static bool mailbox_eof;   /* under mailbox_lock */
static bool cancel_seen;   /* under mailbox_lock */
static bool exit_asked;    /* under mailbox_lock: the host sent "exit" */

static void *worker_reader(void *arg)
{
    struct proto_reader rd;

    (void)arg;
    proto_reader_init(&rd, PROTO_HOST_MAX);
    for (;;) {
        json_t *msg = NULL;
        int fd = -1;
        int r = proto_recv(worker_fd, &rd, &msg, &fd);
        if (r == 1 && strcmp(proto_op(msg), "cancel") == 0) {
            json_decref(msg);
            if (fd >= 0)
                close(fd);
            pthread_mutex_lock(&mailbox_lock);
            cancel_seen = true;
            pthread_mutex_unlock(&mailbox_lock);
            hostapi_cancel_all();
            continue;
        }
        if (r != 1) {
            /* The daemon is gone (or dropped us without asking us to exit),
             * or said what cannot be read: leave now, whatever the plugin
             * is doing, so that no worker outlives its daemon. */
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
            mailbox_fd = fd;
            exit_asked = exit_asked || strcmp(proto_op(msg), "exit") == 0;
        } else {
            mailbox_eof = true;
        }
        pthread_cond_broadcast(&mailbox_cond);
        pthread_mutex_unlock(&mailbox_lock);
        if (r != 1)
            return NULL;
    }
}

static json_t *worker_next_msg(int *fd)
{
    json_t *msg;
    pthread_mutex_lock(&mailbox_lock);
    while (!mailbox && !mailbox_eof)
        pthread_cond_wait(&mailbox_cond, &mailbox_lock);
    msg = mailbox;
    *fd = mailbox_fd;
    mailbox = NULL;
    mailbox_fd = -1;
    pthread_cond_broadcast(&mailbox_cond);
    pthread_mutex_unlock(&mailbox_lock);
    return msg;
}

static int apply_limit(int resource, uint64_t value, const char *what, char *err, size_t errlen)
{
    struct rlimit rl = {.rlim_cur = (rlim_t)value, .rlim_max = (rlim_t)value};

    if (value == 0)
        return 0;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* a sanitizer's shadow memory is terabytes of address space */
    if (resource == RLIMIT_AS)
        return 0;
#endif
    if (setrlimit(resource, &rl) < 0) {
        int rc = -errno;
        snprintf(err, errlen, "cannot set limits.%s: %s", what, strerror(errno));
        return rc;
    }
    return 0;
}

/* Takes the job's user, groups and group (`user:`, `group:`), before
 * anything of the plugin runs. 0 or -errno with err. */
static int take_creds(const struct proto_load *l, char *err, size_t errlen)
{
    gid_t gid = (gid_t)l->gid;
    uid_t uid = (uid_t)l->uid;
    struct passwd pw, *found = NULL;
    char buf[4096];

    if (!l->set_uid && !l->set_gid)
        return 0;
    if (geteuid() != 0) {
        /* without root there is nothing to switch to but ourselves */
        if ((l->set_uid && uid != geteuid()) || (l->set_gid && gid != getegid())) {
            snprintf(err, errlen,
                     "cannot run as %s %u: switching needs the daemon to run as root (it runs "
                     "as uid %u)",
                     l->set_uid ? "uid" : "gid", l->set_uid ? (unsigned)uid : (unsigned)gid,
                     (unsigned)geteuid());
            return -EPERM;
        }
        return 0;
    }
    if (l->set_uid && l->user)
        (void)getpwnam_r(l->user, &pw, buf, sizeof(buf), &found);
    if (l->set_uid && l->user ? initgroups(l->user, gid) < 0 : setgroups(1, &gid) < 0) {
        int rc = -errno;
        snprintf(err, errlen, "cannot set the groups of gid %u: %s", (unsigned)gid,
                 strerror(errno));
        return rc;
    }
    if (setresgid(gid, gid, gid) < 0 || (l->set_uid && setresuid(uid, uid, uid) < 0)) {
        int rc = -errno;
        snprintf(err, errlen, "cannot switch to uid %u gid %u: %s",
                 (unsigned)(l->set_uid ? uid : geteuid()), (unsigned)gid, strerror(errno));
        return rc;
    }
    if (l->set_uid && (getuid() != uid || geteuid() != uid || (uid != 0 && setuid(0) == 0))) {
        snprintf(err, errlen, "switching to uid %u did not hold", (unsigned)uid);
        return -EPERM;
    }
    if (found) {
        /* what cron gives a user's job */
        setenv("HOME", found->pw_dir, 1);
        setenv("USER", found->pw_name, 1);
        setenv("LOGNAME", found->pw_name, 1);
        if (chdir(found->pw_dir) < 0 && chdir("/") < 0) {
            /* the plugin's own paths decide; "/" always exists */
        }
    } else if (l->set_uid && chdir("/") < 0) {
        /* as above */
    }
    return 0;
}

static void load_failed(const char *err, bool creds)
{
    worker_reply(json_pack("{s:s, s:o, s:b}", "op", "load_failed", "error", proto_string(err),
                           "creds", creds));
}

static struct plugin *worker_load(const json_t *msg, int fd)
{
    struct proto_load l;
    struct plugin *p = NULL;
    char err[1024];

    if (proto_load_decode(msg, &l) < 0 || fd < 0) {
        if (fd >= 0)
            close(fd);
        load_failed("malformed load request", false);
        return NULL;
    }
    if (take_creds(&l, err, sizeof(err)) < 0) {
        close(fd);
        load_failed(err, true);
        return NULL;
    }
    if (apply_limit(RLIMIT_AS, l.address_space, "address_space", err, sizeof(err)) < 0 ||
        apply_limit(RLIMIT_CPU, (uint64_t)l.cpu_s, "cpu", err, sizeof(err)) < 0 ||
        apply_limit(RLIMIT_NOFILE, l.open_files, "open_files", err, sizeof(err)) < 0) {
        close(fd);
        load_failed(err, false);
        return NULL;
    }
    if (plugin_load_image(fd, l.name, l.path, &p, err, sizeof(err)) < 0) {
        load_failed(err, false);
        return NULL;
    }
    worker_reply(proto_loaded_encode(p));
    return p;
}

static void worker_run(struct plugin *p, const json_t *msg)
{
    struct manifest_job job;
    struct proto_run run;
    struct run_ctx rc;
    int ret;

    if (proto_job_decode(msg, &job, &run) < 0) {
        worker_reply(json_pack("{s:s, s:s}", "op", "run_error", "message",
                               "the worker could not read the run request"));
        worker_reply(json_pack("{s:s, s:i}", "op", "done", "result", JH_FAIL));
        return;
    }
    hostapi_bare_ctx(&rc, p, &job, run.run_id, run.dry_run, run.deadline_mono);
    rc.info.trigger = run.trigger;
    rc.info.scheduled_ns = run.scheduled_ns;
    rc.info.timeout_ns = run.timeout_ns;
    rc.info.attempt = run.attempt;
    rc.info.fencing_token = run.fencing_token;
    ret = p->desc->run(hostapi_ctx(&rc));
    if (rc.error[0])
        worker_reply(json_pack("{s:s, s:o}", "op", "run_error", "message", proto_string(rc.error)));
    worker_reply(json_pack("{s:s, s:i}", "op", "done", "result", ret));
    proto_job_clear(&job);
}

/* A check's jh_param_error reports, collected for the host. */
struct check_errors {
    json_t *list;
    size_t n;
};

static void collect_error(void *arg, const char *key, const char *message)
{
    struct check_errors *ce = arg;

    if (ce->n++ < PROTO_CHECK_ERRORS_MAX)
        json_array_append_new(ce->list, json_pack("[o, o]", proto_string(key ? key : ""),
                                                  proto_string(message ? message : "")));
    else if (ce->n == PROTO_CHECK_ERRORS_MAX + 1)
        json_array_append_new(ce->list, json_pack("[s, s]", "", "(more problems not shown)"));
}

static void worker_check(struct plugin *p, const json_t *msg)
{
    struct manifest_job job;
    struct check_errors ce = {.list = json_array()};
    char why[RUN_ERROR_MAX] = "";
    int result = 0;

    if (proto_job_decode(msg, &job, NULL) < 0) {
        worker_reply(proto_checked_encode(-1, "the worker could not read the check request",
                                          ce.list));
        return;
    }
    if (p->desc->check)
        result = hostapi_call_check(p, &job, collect_error, &ce, why, sizeof(why));
    worker_reply(proto_checked_encode(result, why, ce.list));
    proto_job_clear(&job);
}

int isolate_worker_main(int fd, pid_t parent)
{
    struct log_config quiet = {.level = JH_LOG_ERROR, .to_stderr = true};
    struct plugin *p = NULL;
    pthread_attr_t attr;
    pthread_t reader;
    bool cancelled = false;

    /* Signals meant for the daemon (a reload, a log reopen, Ctrl-C in its
     * terminal) are not the worker's; it dies with the daemon, whoever
     * kills it, and is named apart from it. */
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    prctl(PR_SET_NAME, "jobhost-worker", 0, 0, 0);
    /* One malloc arena: a thread's own would reserve 64 MiB of address
     * space, which limits.address_space counts. */
    mallopt(M_ARENA_MAX, 1);
    (void)parent; /* its death shows as the socket's end (worker_reader) */
    worker_fd = fd;
    log_setup(&quiet);
    hostapi_set_log_forward(worker_forward_log);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, READER_STACK);
    if (pthread_create(&reader, &attr, worker_reader, NULL) != 0) {
        fprintf(stderr, "jobhost worker: cannot start: %s\n", strerror(errno));
        return 1;
    }
    pthread_attr_destroy(&attr);
    /* never joined: it may be blocked in recv when the worker leaves */
    pthread_detach(reader);
    for (;;) {
        int mfd = -1;
        json_t *msg = worker_next_msg(&mfd);
        const char *op = msg ? proto_op(msg) : "exit";

        if (strcmp(op, "load") == 0 && !p) {
            p = worker_load(msg, mfd);
            mfd = -1;
        } else if (strcmp(op, "run") == 0 && p) {
            worker_run(p, msg);
        } else if (strcmp(op, "check") == 0 && p) {
            worker_check(p, msg);
        } else {
            if (mfd >= 0)
                close(mfd);
            json_decref(msg);
            break;
        }
        if (mfd >= 0)
            close(mfd);
        json_decref(msg);
        pthread_mutex_lock(&mailbox_lock);
        cancelled = cancel_seen;
        pthread_mutex_unlock(&mailbox_lock);
        if (cancelled || !p)
            break;
    }
    plugin_unref(p); /* the plugin's shutdown runs here */
    log_shutdown();
    _exit(0);
}
