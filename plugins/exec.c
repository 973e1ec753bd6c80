/*
 * exec — runs a command, as cron does, and logs what it prints.
 *
 * Parameters (`jobhost describe exec` prints them; the host checks every
 * job's against them, and exec_check the rules below, before it accepts the
 * job):
 *   command   string   a command line, run by `/bin/sh -c` (as cron does)
 *   argv      list     a program and its arguments, run without a shell; the
 *                      program is looked up in PATH (the child's PATH, so an
 *                      `env: {PATH: ...}` applies) unless it holds a '/'
 *             exactly one of `command` and `argv` must be given
 *   env       map      NAME: value pairs added to (or replacing in) the
 *                      environment the daemon was started with; optional
 *   cwd       string   absolute directory to run in; default: the daemon's
 *   timeout   duration "30s", "5m"...: SIGTERM then, SIGKILL 5 s later;
 *                      default: none (the job's own `timeout:` still applies)
 *
 * A zero exit status is a successful run; anything else fails the run with
 * "exit status 3", "killed by signal 9 (Killed)" or "timed out after 10s".
 *
 * Records: `started` (debug, pid), one `output` record per line the command
 * prints (stream=stdout|stderr line=...; lines longer than 4 KiB are split, a
 * last line without a newline is logged too), `stopping` (reason, signal)
 * when it has to be stopped, and `exited` (status or signal). A dry run logs
 * `would_run` (command or argv, and cwd) and runs nothing.
 *
 * How: the host is threaded, so the child is started with posix_spawn, never
 * fork. It gets stdin from /dev/null, stdout and stderr on two pipes, every
 * other descriptor closed, every signal at its default action and an empty
 * signal mask (the host blocks and ignores signals in its threads; a cron job
 * must not inherit that), and a process group of its own so that stopping it
 * reaches the processes it started too. One loop on the run's worker thread
 * polls both pipes and a pidfd for the child's exit with a 100 ms tick, which
 * is how often the deadline and jh_cancelled() are looked at. The run ends
 * when the command exits: output that background processes write after that
 * is not collected, and they are left running (unless the command was
 * stopped, in which case its whole process group is killed).
 *
 * Threads: everything happens on the worker thread that calls run(); the
 * plugin keeps no global state, so overlapping runs share nothing. It assumes
 * the host neither ignores SIGCHLD nor reaps children it did not start.
 */
#define _GNU_SOURCE
#include <jobhost/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_SEC INT64_C(1000000000)

#define LINE_MAX_BYTES 4096              /* longer output lines are logged in pieces */
#define TICK_NS (100 * NS_PER_MS)        /* deadline and cancellation checked this often */
#define EXIT_TICK_NS (5 * NS_PER_MS)     /* pipes closed, no pidfd: waiting for the exit */
#define KILL_GRACE_NS (5 * NS_PER_SEC)   /* from SIGTERM to SIGKILL */
#define READS_PER_WAKEUP 16              /* bounds one pass over a busy pipe */

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* The parameters of one run, checked. Strings are borrowed from the host
 * unless marked owned. */
struct spec {
    const char *command;     /* the shell command line, or NULL */
    char **argv;             /* owned array (items borrowed), NULL-terminated; or NULL */
    size_t argc;
    char *program;           /* owned: argv[0] looked up in PATH */
    char **env_added;        /* owned array of owned "NAME=value" strings */
    size_t env_count;
    char **envp;             /* owned array of borrowed strings: the child's environment */
    const char *cwd;         /* or NULL */
    const char *timeout_text; /* as written, for messages; or NULL */
    int64_t timeout_ns;      /* 0: no timeout of our own */
};

/* One of the child's output pipes and the line being assembled from it. */
struct stream {
    const char *name;             /* "stdout" or "stderr" */
    int fd;                       /* read end, non-blocking; -1 once closed */
    size_t len;                   /* bytes of the unfinished line in buf */
    char buf[LINE_MAX_BYTES + 1]; /* + 1 for the NUL jh_log needs */
};

enum stop_reason { STOP_NONE, STOP_TIMEOUT, STOP_CANCEL };

struct child {
    pid_t pid;
    int pidfd; /* readable once the child exits; -1 where the kernel has none */
    struct stream out, err;
    enum stop_reason stop;
    int64_t term_at; /* when SIGTERM was sent */
    int killed;      /* SIGKILL sent */
};

/* Sets the run's error message and returns -1, so checks read
 * `return fail(ctx, ...)`. */
__attribute__((format(printf, 2, 3))) static int fail(jh_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jh_set_error(ctx, msg);
    return -1;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* --- parameters --------------------------------------------------------- */

static const struct jh_param_spec exec_params[] = {
    JH_PARAM("command", JH_TYPE_STRING, 0, NULL, "a command line, run by /bin/sh -c"),
    JH_PARAM("argv", JH_TYPE_LIST, 0, NULL, "a program and its arguments, run without a shell"),
    JH_PARAM("env", JH_TYPE_MAP, 0, NULL, "NAME: value pairs over the daemon's environment"),
    JH_PARAM("cwd", JH_TYPE_STRING, 0, NULL, "absolute directory to run in"),
    JH_PARAM("timeout", JH_TYPE_DURATION, 0, NULL, "SIGTERM after this, SIGKILL 5 s later"),
    JH_PARAMS_END,
};

/* A portable environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
static int env_name_valid(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        int ok = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                 (*s >= '0' && *s <= '9') || *s == '_';
        if (!ok)
            return 0;
    }
    return 1;
}

/* What a type cannot say about a job's parameters, checked before the job
 * is accepted (main thread; runs of other jobs may go on meanwhile: it
 * reads only its own parameters). Returns nonzero, with the run's error,
 * for a problem with the job as a whole. */
static int exec_check(jh_ctx *ctx)
{
    int has_command = jh_param_kind(ctx, "command") != JH_PARAM_NONE;
    int has_argv = jh_param_kind(ctx, "argv") != JH_PARAM_NONE;
    const char *command = jh_param(ctx, "command");
    const char *cwd = jh_param(ctx, "cwd");
    int64_t timeout = 1;

    if (has_command && has_argv)
        jh_param_error(ctx, "argv", "give either `command` or `argv`, not both");
    if (!has_command && !has_argv) {
        jh_set_error(ctx, "missing parameter: `command` (a shell command line) or `argv` (a "
                          "list: program and arguments)");
        return 1;
    }
    if (command && !*command)
        jh_param_error(ctx, "command", "is empty");
    if (has_argv && jh_param_len(ctx, "argv") == 0) {
        jh_param_error(ctx, "argv", "is an empty list");
    } else if (has_argv) {
        const char *program = jh_param_at(ctx, "argv", 0, NULL);
        if (!program || !*program)
            jh_param_error(ctx, "argv", "the program name (first item) is empty");
    }
    for (size_t i = 0; i < jh_param_len(ctx, "env"); i++) {
        const char *name = NULL;
        char msg[160];

        (void)jh_param_at(ctx, "env", i, &name); /* only the name is checked */
        if (!env_name_valid(name)) {
            snprintf(msg, sizeof msg, "'%.64s' is not a valid variable name (letters, digits, "
                                      "_; not starting with a digit)", name ? name : "");
            jh_param_error(ctx, "env", msg);
        }
    }
    if (cwd && cwd[0] != '/')
        jh_param_error(ctx, "cwd", "must be an absolute path");
    if (jh_param_duration(ctx, "timeout", &timeout) == 0 && timeout <= 0)
        jh_param_error(ctx, "timeout", "must be longer than 0s");
    return 0;
}

/* Whether environment entry `entry` ("NAME=value") sets the same name as
 * `added` ("NAME=value"). */
static int env_same_name(const char *entry, const char *added)
{
    size_t n = strcspn(added, "=");

    return strncmp(entry, added, n) == 0 && entry[n] == '=';
}

/* The child's environment: the daemon's, with the `env` map laid over it.
 * The daemon's `environ` is read here; the host must not setenv() while
 * jobs run. */
static int read_env(jh_ctx *ctx, struct spec *sp)
{
    size_t n_inherited = 0, n = 0;

    if (jh_param_kind(ctx, "env") == JH_PARAM_NONE)
        return 0;
    if (jh_param_kind(ctx, "env") != JH_PARAM_MAP)
        return fail(ctx, "`env` must be a map of NAME: value");

    sp->env_count = jh_param_len(ctx, "env");
    sp->env_added = calloc(sp->env_count + 1, sizeof *sp->env_added);
    if (!sp->env_added)
        return fail(ctx, "out of memory");
    for (size_t i = 0; i < sp->env_count; i++) {
        const char *name = NULL;
        const char *value = jh_param_at(ctx, "env", i, &name);

        if (!env_name_valid(name))
            return fail(ctx, "`env`: '%s' is not a valid variable name (letters, digits, _; "
                             "not starting with a digit)", name ? name : "");
        if (asprintf(&sp->env_added[i], "%s=%s", name, value ? value : "") < 0) {
            sp->env_added[i] = NULL;
            return fail(ctx, "out of memory");
        }
    }

    for (char **e = environ; *e; e++)
        n_inherited++;
    sp->envp = calloc(n_inherited + sp->env_count + 1, sizeof *sp->envp);
    if (!sp->envp)
        return fail(ctx, "out of memory");
    for (char **e = environ; *e; e++) {
        int replaced = 0;

        for (size_t i = 0; i < sp->env_count && !replaced; i++)
            replaced = env_same_name(*e, sp->env_added[i]);
        if (!replaced)
            sp->envp[n++] = *e;
    }
    for (size_t i = 0; i < sp->env_count; i++)
        sp->envp[n++] = sp->env_added[i];
    sp->envp[n] = NULL;
    return 0;
}

/* The value the child will see for `name`. */
static const char *child_getenv(const struct spec *sp, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < sp->env_count; i++)
        if (strncmp(sp->env_added[i], name, n) == 0 && sp->env_added[i][n] == '=')
            return sp->env_added[i] + n + 1;
    return getenv(name);
}

/* Looks the program up as execvp would, but in the child's PATH. */
static int find_program(jh_ctx *ctx, struct spec *sp)
{
    const char *name = sp->argv[0];
    const char *path = child_getenv(sp, "PATH");

    if (strchr(name, '/')) {
        sp->program = strdup(name); /* relative to cwd, as exec would take it */
        return sp->program ? 0 : fail(ctx, "out of memory");
    }
    if (!path)
        path = DEFAULT_PATH;
    for (const char *p = path;; p++) {
        size_t dir_len = strcspn(p, ":");
        char *candidate = NULL;
        struct stat st;

        if (asprintf(&candidate, "%.*s/%s", (int)dir_len, dir_len ? p : ".", name) < 0)
            return fail(ctx, "out of memory");
        if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
            sp->program = candidate;
            return 0;
        }
        free(candidate);
        p += dir_len;
        if (!*p)
            break;
    }
    return fail(ctx, "`argv`: %s: command not found in PATH=%s", name, path);
}

static int read_argv(jh_ctx *ctx, struct spec *sp)
{
    if (jh_param_kind(ctx, "argv") != JH_PARAM_LIST)
        return fail(ctx, "`argv` must be a list such as [ls, -l, /tmp]; "
                         "use `command` for a shell command line");
    sp->argc = jh_param_len(ctx, "argv");
    if (sp->argc == 0)
        return fail(ctx, "`argv` is an empty list");
    sp->argv = calloc(sp->argc + 1, sizeof *sp->argv);
    if (!sp->argv)
        return fail(ctx, "out of memory");
    for (size_t i = 0; i < sp->argc; i++) {
        const char *item = jh_param_at(ctx, "argv", i, NULL);

        sp->argv[i] = (char *)(item ? item : ""); /* posix_spawn does not write to it */
    }
    if (!*sp->argv[0])
        return fail(ctx, "`argv`: the program name (first item) is empty");
    return 0;
}

/* Reads and checks every parameter; on a problem sets the error, returns -1. */
static int spec_read(jh_ctx *ctx, struct spec *sp)
{
    int has_command = jh_param_kind(ctx, "command") != JH_PARAM_NONE;
    int has_argv = jh_param_kind(ctx, "argv") != JH_PARAM_NONE;

    if (has_command && has_argv)
        return fail(ctx, "give either `command` or `argv`, not both");
    if (!has_command && !has_argv)
        return fail(ctx, "missing parameter: `command` (a shell command line) "
                         "or `argv` (a list: program and arguments)");
    if (has_command) {
        sp->command = jh_param(ctx, "command");
        if (!sp->command)
            return fail(ctx, "`command` must be a string; use `argv` for a list");
        if (!*sp->command)
            return fail(ctx, "`command` is empty");
    } else if (read_argv(ctx, sp) < 0) {
        return -1;
    }

    if (read_env(ctx, sp) < 0)
        return -1;

    if (jh_param_kind(ctx, "cwd") != JH_PARAM_NONE) {
        struct stat st;

        sp->cwd = jh_param(ctx, "cwd");
        if (!sp->cwd || sp->cwd[0] != '/')
            return fail(ctx, "`cwd` must be an absolute path");
        if (stat(sp->cwd, &st) < 0)
            return fail(ctx, "`cwd`: %s: %s", sp->cwd, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return fail(ctx, "`cwd`: %s: not a directory", sp->cwd);
    }

    if (jh_param_kind(ctx, "timeout") != JH_PARAM_NONE) {
        sp->timeout_text = jh_param(ctx, "timeout");
        if (!sp->timeout_text || jh_param_duration(ctx, "timeout", &sp->timeout_ns) < 0 ||
            sp->timeout_ns <= 0)
            return fail(ctx, "`timeout`: '%s' is not a positive duration such as 30s or 5m",
                        sp->timeout_text ? sp->timeout_text : "");
    }

    if (sp->argv && find_program(ctx, sp) < 0)
        return -1;
    return 0;
}

static void spec_free(struct spec *sp)
{
    for (size_t i = 0; sp->env_added && i < sp->env_count; i++)
        free(sp->env_added[i]);
    free(sp->env_added);
    free(sp->envp);
    free(sp->argv);
    free(sp->program);
}

/* --- dry run ------------------------------------------------------------ */

/* Characters a shell takes literally: such a word needs no quotes. */
static int shell_plain(const char *s)
{
    if (!*s)
        return 0;
    return s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                       "_@%+=:,./-")] == '\0';
}

/* argv as one shell-quoted line, to show it as a person would type it.
 * Returns an owned string, or NULL when out of memory. */
static char *argv_display(char *const *argv)
{
    size_t len = 1;
    char *out, *p;

    for (size_t i = 0; argv[i]; i++)
        len += 3 + 4 * strlen(argv[i]); /* worst case: every char is a quote */
    out = malloc(len);
    if (!out)
        return NULL;
    p = out;
    for (size_t i = 0; argv[i]; i++) {
        if (i)
            *p++ = ' ';
        if (shell_plain(argv[i])) {
            p = stpcpy(p, argv[i]);
            continue;
        }
        *p++ = '\'';
        for (const char *s = argv[i]; *s; s++) {
            if (*s == '\'')
                p = stpcpy(p, "'\\''");
            else
                *p++ = *s;
        }
        *p++ = '\'';
    }
    *p = '\0';
    return out;
}

static int log_would_run(jh_ctx *ctx, const struct spec *sp)
{
    const char *key = sp->command ? "command" : "argv";
    char *shown = sp->command ? NULL : argv_display(sp->argv);
    const char *value = sp->command ? sp->command : shown;

    if (!value)
        return fail(ctx, "out of memory");
    if (sp->cwd)
        jh_log(ctx, JH_LOG_INFO, "would_run", JH_STR(key, value), JH_STR("cwd", sp->cwd));
    else
        jh_log(ctx, JH_LOG_INFO, "would_run", JH_STR(key, value));
    free(shown);
    return 0;
}

/* --- spawning ----------------------------------------------------------- */

/* A close-on-exec pipe whose ends are not 0, 1 or 2 (a daemon started with
 * those closed would otherwise have the file actions clobber them), with a
 * non-blocking read end. Returns 0 or -errno. */
static int make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (fds[i] > STDERR_FILENO)
            continue;
        int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        int saved = errno;

        close(fds[i]);
        fds[i] = fd;
        if (fd < 0) {
            if (fds[1 - i] >= 0)
                close(fds[1 - i]);
            fds[0] = fds[1] = -1;
            return -saved;
        }
    }
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
        int saved = errno;

        close(fds[0]);
        close(fds[1]);
        fds[0] = fds[1] = -1;
        return -saved;
    }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Starts the child. Returns 0 with c->pid and the read ends of both pipes
 * set, or -1 after setting the run's error. */
static int child_spawn(jh_ctx *ctx, const struct spec *sp, struct child *c)
{
    char *sh_argv[] = {"sh", "-c", (char *)sp->command, NULL};
    const char *program = sp->command ? "/bin/sh" : sp->program;
    char *const *argv = sp->command ? sh_argv : sp->argv;
    char *const *envp = sp->envp ? sp->envp : environ;
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t all, none;
    int rc;

    rc = -make_pipe(out);
    if (rc == 0)
        rc = -make_pipe(err);
    if (rc != 0) {
        close_fd(&out[0]);
        close_fd(&out[1]);
        return fail(ctx, "cannot create a pipe: %s", strerror(rc));
    }

    /* The child: stdin /dev/null, stdout and stderr the pipes, nothing else
     * open, in its own process group, signals as a fresh process has them. */
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    if (rc == 0 && sp->cwd)
        rc = posix_spawn_file_actions_addchdir_np(&fa, sp->cwd);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                 POSIX_SPAWN_SETSIGMASK);
    if (rc == 0)
        rc = posix_spawnattr_setpgroup(&attr, 0);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawn(&c->pid, program, &fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close_fd(&out[1]);
    close_fd(&err[1]);

    if (rc != 0) {
        close_fd(&out[0]);
        close_fd(&err[0]);
        if (sp->cwd)
            return fail(ctx, "cannot run %s in %s: %s", program, sp->cwd, strerror(rc));
        return fail(ctx, "cannot run %s: %s", program, strerror(rc));
    }
    c->out.fd = out[0];
    c->err.fd = err[0];
    c->pidfd = pidfd_open(c->pid, 0); /* close-on-exec; -1 on kernels before 5.3 */
    return 0;
}

/* --- output ------------------------------------------------------------- */

static void stream_emit(jh_ctx *ctx, struct stream *s)
{
    /* A NUL byte would cut the record short: show it as '?'. */
    for (size_t i = 0; i < s->len; i++)
        if (s->buf[i] == '\0')
            s->buf[i] = '?';
    s->buf[s->len] = '\0';
    jh_log(ctx, JH_LOG_INFO, "output", JH_STR("stream", s->name), JH_STR("line", s->buf));
    s->len = 0;
}

/* Adds bytes read from the pipe: logs each complete line, and a piece of
 * LINE_MAX_BYTES whenever a line grows longer than that. */
static void stream_feed(jh_ctx *ctx, struct stream *s, const char *data, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t chunk = nl ? (size_t)(nl - data) : n;

        while (chunk > 0) {
            size_t take;

            if (s->len == LINE_MAX_BYTES)
                stream_emit(ctx, s);
            take = LINE_MAX_BYTES - s->len;
            if (take > chunk)
                take = chunk;
            memcpy(s->buf + s->len, data, take);
            s->len += take;
            data += take;
            n -= take;
            chunk -= take;
        }
        if (nl) {
            stream_emit(ctx, s);
            data++;
            n--;
        }
    }
}

/* Closes the pipe, logging the last line if it had no newline. */
static void stream_close(jh_ctx *ctx, struct stream *s)
{
    if (s->len > 0)
        stream_emit(ctx, s);
    close_fd(&s->fd);
}

/* Reads what the pipe holds now. Returns 1 when it stopped with data
 * possibly left (call again), 0 when the pipe is empty or closed. */
static int stream_pump(jh_ctx *ctx, struct stream *s)
{
    char chunk[16384];

    for (int i = 0; i < READS_PER_WAKEUP; i++) {
        ssize_t n;

        if (s->fd < 0)
            return 0;
        n = read(s->fd, chunk, sizeof chunk);
        if (n > 0) {
            stream_feed(ctx, s, chunk, (size_t)n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            stream_close(ctx, s); /* end of file, or a read error: nothing more to get */
            return 0;
        }
    }
    return 1;
}

/* Waits up to `wait_ns` for output or the child's exit, and reads the
 * output. */
static void child_poll(jh_ctx *ctx, struct child *c, int64_t wait_ns)
{
    struct stream *streams[2] = {&c->out, &c->err};
    struct stream *polled[3] = {NULL, NULL, NULL};
    struct pollfd pfd[3];
    int nfds = 0;
    int ms = (int)((wait_ns + NS_PER_MS - 1) / NS_PER_MS);

    for (int i = 0; i < 2; i++) {
        if (streams[i]->fd < 0)
            continue;
        pfd[nfds].fd = streams[i]->fd;
        pfd[nfds].events = POLLIN;
        pfd[nfds].revents = 0;
        polled[nfds++] = streams[i];
    }
    if (c->pidfd >= 0) {
        pfd[nfds].fd = c->pidfd;
        pfd[nfds].events = POLLIN;
        pfd[nfds].revents = 0;
        nfds++; /* polled[] stays NULL: nothing to read, the caller sees the exit */
    }
    if (poll(pfd, (nfds_t)nfds, ms > 0 ? ms : 1) <= 0)
        return; /* timed out, or EINTR: the caller's loop comes round again */
    for (int i = 0; i < nfds; i++)
        if (pfd[i].revents && polled[i])
            stream_pump(ctx, polled[i]);
}

/* --- supervising -------------------------------------------------------- */

/* Whether the child has exited, without reaping it: while it is an unreaped
 * zombie its pid and process group id cannot be reused, so signalling the
 * group stays safe. */
static int child_exited(pid_t pid)
{
    siginfo_t si;

    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno != EINTR; /* ECHILD: someone else reaped it */
    return si.si_pid == pid;
}

/* Signals the child's process group (the child and what it started); if the
 * child left the group, the child alone. */
static void child_signal(pid_t pid, int sig)
{
    if (kill(-pid, sig) < 0)
        kill(pid, sig);
}

static void child_stop(jh_ctx *ctx, struct child *c, enum stop_reason why, int64_t now)
{
    jh_log(ctx, JH_LOG_WARN, "stopping",
           JH_STR("reason", why == STOP_TIMEOUT ? "timeout" : "cancelled"),
           JH_STR("signal", "SIGTERM"));
    child_signal(c->pid, SIGTERM);
    c->stop = why;
    c->term_at = now;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Runs the child to its end: logs its output, stops it on timeout or
 * cancellation, reaps it. Returns 0 with the wait status in *status, or -1
 * after setting the run's error. */
static int child_supervise(jh_ctx *ctx, const struct spec *sp, struct child *c, int *status)
{
    int64_t deadline = sp->timeout_ns ? now_ns() + sp->timeout_ns : INT64_MAX;

    while (!child_exited(c->pid)) {
        int64_t now = now_ns();
        int64_t wait = TICK_NS;

        if (c->stop == STOP_NONE) {
            if (now >= deadline)
                child_stop(ctx, c, STOP_TIMEOUT, now);
            else if (jh_cancelled(ctx))
                child_stop(ctx, c, STOP_CANCEL, now);
            else
                wait = min64(wait, deadline - now);
        }
        if (c->stop != STOP_NONE && !c->killed) {
            if (now - c->term_at >= KILL_GRACE_NS) {
                jh_log(ctx, JH_LOG_WARN, "stopping",
                       JH_STR("reason", c->stop == STOP_TIMEOUT ? "timeout" : "cancelled"),
                       JH_STR("signal", "SIGKILL"));
                child_signal(c->pid, SIGKILL);
                c->killed = 1;
            } else {
                wait = min64(wait, c->term_at + KILL_GRACE_NS - now);
            }
        }
        if (c->out.fd < 0 && c->err.fd < 0 && c->pidfd < 0)
            wait = min64(wait, EXIT_TICK_NS); /* only the exit is left to see */
        child_poll(ctx, c, wait);
    }

    /* What the child wrote before it exited is still in the pipes. */
    for (int i = 0; i < 64; i++) {
        int more = stream_pump(ctx, &c->out);

        more |= stream_pump(ctx, &c->err);
        if (!more)
            break;
    }
    stream_close(ctx, &c->out);
    stream_close(ctx, &c->err);
    close_fd(&c->pidfd);

    /* A stopped command may leave children behind that ignored SIGTERM. */
    if (c->stop != STOP_NONE)
        child_signal(c->pid, SIGKILL);

    while (waitpid(c->pid, status, 0) < 0) {
        if (errno != EINTR)
            return fail(ctx, "lost track of process %ld: %s (does the host reap children?)",
                        (long)c->pid, strerror(errno));
    }
    return 0;
}

/* --- the run ------------------------------------------------------------ */

static int exec_run(jh_ctx *ctx)
{
    struct spec sp;
    struct child c;
    int status;
    int rc = JH_FAIL;

    memset(&sp, 0, sizeof sp);
    memset(&c, 0, sizeof c);
    c.out.name = "stdout";
    c.out.fd = -1;
    c.err.name = "stderr";
    c.err.fd = -1;
    c.pidfd = -1;

    if (spec_read(ctx, &sp) < 0)
        goto out;
    if (jh_dry_run(ctx)) {
        rc = log_would_run(ctx, &sp) < 0 ? JH_FAIL : JH_OK;
        goto out;
    }
    if (jh_cancelled(ctx)) {
        rc = JH_CANCELLED;
        goto out;
    }
    if (child_spawn(ctx, &sp, &c) < 0)
        goto out;
    jh_log(ctx, JH_LOG_DEBUG, "started", JH_INT("pid", c.pid));

    if (child_supervise(ctx, &sp, &c, &status) < 0)
        goto out;
    if (WIFEXITED(status))
        jh_log(ctx, JH_LOG_INFO, "exited", JH_INT("status", WEXITSTATUS(status)));
    else if (WIFSIGNALED(status))
        jh_log(ctx, JH_LOG_INFO, "exited", JH_INT("signal", WTERMSIG(status)));

    if (c.stop == STOP_TIMEOUT) {
        fail(ctx, "timed out after %s", sp.timeout_text);
    } else if (c.stop == STOP_CANCEL) {
        jh_set_error(ctx, "cancelled; the command was stopped");
        rc = JH_CANCELLED;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        rc = JH_OK;
    } else if (WIFEXITED(status)) {
        fail(ctx, "exit status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        const char *what = sigdescr_np(WTERMSIG(status));

        fail(ctx, "killed by signal %d (%s)", WTERMSIG(status), what ? what : "unknown");
    } else {
        fail(ctx, "ended with wait status 0x%x", (unsigned)status);
    }

out:
    spec_free(&sp);
    return rc;
}

JH_PLUGIN(.name = "exec",
          .version = "1.1.0",
          .description = "runs a command (cron style), logs its output, fails on non-zero exit",
          .params = exec_params,
          .run = exec_run,
          .check = exec_check);
