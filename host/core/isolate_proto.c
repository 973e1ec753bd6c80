/*
 * isolate_proto — messages between host and worker, their pieces on the
 * socket, and the checks of what each side reads. See isolate_proto.h.
 */
#include "core/isolate_proto.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/params.h"
#include "lib/utf8.h"

/* ---- pieces ------------------------------------------------------------------- */

void proto_reader_init(struct proto_reader *r, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->max = max;
    r->fd = -1;
}

static void reader_reset(struct proto_reader *r)
{
    buf_reset(&r->msg);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

void proto_reader_free(struct proto_reader *r)
{
    reader_reset(r);
    buf_free(&r->msg);
}

int proto_take(struct proto_reader *r, const void *data, size_t len, json_t **out)
{
    const unsigned char *d = data;
    json_error_t jerr;
    json_t *msg;

    *out = NULL;
    if (len == 0 || len > PROTO_CHUNK + 1 || (d[0] != PROTO_MORE && d[0] != PROTO_LAST)) {
        reader_reset(r);
        return -EPROTO;
    }
    if (r->msg.len + (len - 1) > r->max) {
        reader_reset(r);
        return -EMSGSIZE;
    }
    buf_append(&r->msg, d + 1, len - 1);
    if (d[0] == PROTO_MORE)
        return 0;
    msg = json_loadb(r->msg.data ? r->msg.data : "", r->msg.len, JSON_REJECT_DUPLICATES, &jerr);
    buf_reset(&r->msg);
    if (!msg || !json_is_object(msg)) {
        json_decref(msg);
        return -EPROTO;
    }
    *out = msg;
    return 1;
}

int proto_recv(int sock, struct proto_reader *r, json_t **out, int *fd)
{
    char data[PROTO_CHUNK + 2];
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(4 * sizeof(int))];
    } ctl;

    *out = NULL;
    *fd = -1;
    for (;;) {
        struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                            .msg_controllen = sizeof(ctl.space)};
        ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        int rc;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int got;
                memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (r->fd < 0)
                    r->fd = got; /* one per message; any more are not ours to keep */
                else
                    close(got);
            }
        }
        if (n == 0)
            return 0;
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
            reader_reset(r);
            return -EPROTO;
        }
        rc = proto_take(r, data, (size_t)n, out);
        if (rc == 0)
            continue;
        if (rc == 1) {
            *fd = r->fd;
            r->fd = -1;
        } else if (r->fd >= 0) {
            close(r->fd);
            r->fd = -1;
        }
        return rc;
    }
}

/* Waits for room on a non-blocking socket until `until` (mono ns; 0: no
 * limit). */
static int wait_room(int sock, int64_t until)
{
    for (;;) {
        struct pollfd pfd = {.fd = sock, .events = POLLOUT};
        int ms = -1, n;

        if (until) {
            int64_t left = until - mono_ns();
            if (left <= 0)
                return -ETIMEDOUT;
            ms = (int)(left / 1000000 + 1);
        }
        n = poll(&pfd, 1, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ETIMEDOUT;
        if (pfd.revents & (POLLERR | POLLHUP))
            return -EPIPE;
        return 0;
    }
}

int proto_send(int sock, json_t *msg, int fd, int timeout_ms)
{
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    char piece[PROTO_CHUNK + 1];
    int64_t until = timeout_ms >= 0 ? mono_ns() + (int64_t)timeout_ms * 1000000 : 0;
    size_t len, off = 0;
    int rc = 0;

    json_decref(msg);
    if (!text)
        return -ENOMEM;
    len = strlen(text);
    do {
        size_t n = len - off > PROTO_CHUNK ? PROTO_CHUNK : len - off;
        union {
            struct cmsghdr h;
            char space[CMSG_SPACE(sizeof(int))];
        } ctl;
        struct iovec iov = {.iov_base = piece, .iov_len = n + 1};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        piece[0] = off + n < len ? PROTO_MORE : PROTO_LAST;
        memcpy(piece + 1, text + off, n);
        if (off == 0 && fd >= 0) {
            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.space;
            mh.msg_controllen = sizeof(ctl.space);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        for (;;) {
            ssize_t w = sendmsg(sock, &mh, MSG_NOSIGNAL);
            if (w >= 0)
                break;
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                rc = wait_room(sock, until);
                if (rc < 0)
                    goto out;
                continue;
            }
            rc = -errno;
            goto out;
        }
        off += n;
    } while (off < len);
out:
    free(text);
    return rc;
}

const char *proto_op(const json_t *msg)
{
    const char *op = json_string_value(json_object_get(msg, "op"));
    return op ? op : "";
}

json_t *proto_string(const char *s)
{
    size_t len, cap;
    char *copy;
    json_t *v;

    if (!s)
        return NULL;
    len = strlen(s);
    if (utf8_valid_prefix(s, len) == len)
        return json_stringn(s, len);
    cap = 3 * len + 1; /* every byte may become U+FFFD */
    copy = xmalloc(cap);
    len = utf8_sanitize(copy, cap, s, len, NULL);
    v = json_stringn(copy, len);
    free(copy);
    return v;
}

/* Integer members, with a default for one that is absent or not one. */
static int64_t get_int(const json_t *o, const char *key, int64_t def)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static const char *get_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ---- load --------------------------------------------------------------------- */

json_t *proto_load_encode(const struct proto_load *l)
{
    json_t *msg = json_object(), *limits = json_object(), *creds = json_object();

    json_object_set_new(msg, "op", json_string("load"));
    json_object_set_new(msg, "name", proto_string(l->name ? l->name : ""));
    json_object_set_new(msg, "path", proto_string(l->path ? l->path : ""));
    json_object_set_new(limits, "address_space", json_integer((json_int_t)l->address_space));
    json_object_set_new(limits, "cpu_s", json_integer((json_int_t)l->cpu_s));
    json_object_set_new(limits, "open_files", json_integer((json_int_t)l->open_files));
    json_object_set_new(msg, "limits", limits);
    json_object_set_new(creds, "set_uid", json_boolean(l->set_uid));
    json_object_set_new(creds, "set_gid", json_boolean(l->set_gid));
    json_object_set_new(creds, "uid", json_integer(l->uid));
    json_object_set_new(creds, "gid", json_integer(l->gid));
    if (l->user)
        json_object_set_new(creds, "user", proto_string(l->user));
    json_object_set_new(msg, "creds", creds);
    return msg;
}

int proto_load_decode(const json_t *msg, struct proto_load *l)
{
    const json_t *limits = json_object_get(msg, "limits"), *creds = json_object_get(msg, "creds");
    int64_t as, cpu, nofile, uid, gid;

    memset(l, 0, sizeof(*l));
    l->name = get_str(msg, "name");
    l->path = get_str(msg, "path");
    if (strcmp(proto_op(msg), "load") != 0 || !l->name || !l->path || !json_is_object(limits) ||
        !json_is_object(creds))
        return -EPROTO;
    as = get_int(limits, "address_space", -1);
    cpu = get_int(limits, "cpu_s", -1);
    nofile = get_int(limits, "open_files", -1);
    uid = get_int(creds, "uid", -1);
    gid = get_int(creds, "gid", -1);
    if (as < 0 || cpu < 0 || nofile < 0 || uid < 0 || uid > UINT32_MAX - 1 || gid < 0 ||
        gid > UINT32_MAX - 1)
        return -EPROTO;
    l->address_space = (uint64_t)as;
    l->cpu_s = cpu;
    l->open_files = (uint64_t)nofile;
    l->set_uid = json_is_true(json_object_get(creds, "set_uid"));
    l->set_gid = json_is_true(json_object_get(creds, "set_gid"));
    l->uid = (uint32_t)uid;
    l->gid = (uint32_t)gid;
    l->user = get_str(creds, "user");
    return 0;
}

/* ---- jobs ----------------------------------------------------------------------- */

json_t *proto_params_encode(const struct manifest_job *job)
{
    json_t *list = json_array();

    for (size_t i = 0; i < job->n_params; i++) {
        const struct manifest_param *p = &job->params[i];
        json_t *item = json_object(), *values = json_array(), *names = json_array();

        for (size_t k = 0; k < p->n; k++) {
            json_array_append_new(values, proto_string(p->values[k] ? p->values[k] : ""));
            if (p->names)
                json_array_append_new(names, proto_string(p->names[k] ? p->names[k] : ""));
        }
        json_object_set_new(item, "key", proto_string(p->key ? p->key : ""));
        json_object_set_new(item, "kind", json_integer(p->kind));
        if (p->value)
            json_object_set_new(item, "value", proto_string(p->value));
        json_object_set_new(item, "values", values);
        json_object_set_new(item, "names", names);
        json_array_append_new(list, item);
    }
    return list;
}

static json_t *job_encode(const char *op, const struct manifest_job *job, int log_level)
{
    json_t *msg = json_object();

    json_object_set_new(msg, "op", json_string(op));
    json_object_set_new(msg, "job", proto_string(job->id ? job->id : ""));
    json_object_set_new(msg, "log_level", json_integer(log_level));
    json_object_set_new(msg, "params", proto_params_encode(job));
    return msg;
}

json_t *proto_run_encode(const struct manifest_job *job, const char *run_id, int log_level,
                         const struct proto_run *run)
{
    json_t *msg = job_encode("run", job, log_level), *info = json_object();

    json_object_set_new(msg, "run_id", proto_string(run_id ? run_id : ""));
    json_object_set_new(msg, "dry_run", json_boolean(run->dry_run));
    json_object_set_new(msg, "deadline_mono", json_integer(run->deadline_mono));
    json_object_set_new(info, "trigger", json_integer(run->trigger));
    json_object_set_new(info, "scheduled", json_integer(run->scheduled_ns));
    json_object_set_new(info, "timeout", json_integer(run->timeout_ns));
    json_object_set_new(info, "attempt", json_integer(run->attempt));
    /* a fencing token is a uint64: above INT64_MAX it travels as text */
    if (run->fencing_token > (uint64_t)INT64_MAX) {
        char t[24];
        snprintf(t, sizeof(t), "%llu", (unsigned long long)run->fencing_token);
        json_object_set_new(info, "fencing_token", json_string(t));
    } else {
        json_object_set_new(info, "fencing_token", json_integer((json_int_t)run->fencing_token));
    }
    json_object_set_new(msg, "info", info);
    return msg;
}

json_t *proto_check_encode(const struct manifest_job *job, int log_level)
{
    return job_encode("check", job, log_level);
}

void proto_job_clear(struct manifest_job *job)
{
    for (size_t i = 0; job->params && i < job->n_params; i++) {
        struct manifest_param *mp = &job->params[i];
        for (size_t k = 0; mp->values && k < mp->n; k++) {
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
    memset(job, 0, sizeof(*job));
}

static char *dup_or_empty(const char *s)
{
    return xstrdup(s ? s : "");
}

/* One entry of "params" into mp; -EPROTO when it is not one. */
static int param_decode(const json_t *p, struct manifest_param *mp)
{
    const json_t *values = json_object_get(p, "values"), *names = json_object_get(p, "names");
    const char *key = get_str(p, "key"), *value = get_str(p, "value");
    int64_t kind = get_int(p, "kind", -1);
    size_t n = json_array_size(values);

    if (!key || !json_is_array(values) || !json_is_array(names) ||
        (kind != JH_PARAM_SCALAR && kind != JH_PARAM_LIST && kind != JH_PARAM_MAP) ||
        (kind == JH_PARAM_SCALAR && !value) ||
        (json_array_size(names) != 0 && json_array_size(names) != n))
        return -EPROTO;
    mp->key = xstrdup(key);
    mp->kind = (int)kind;
    mp->value = value ? xstrdup(value) : NULL;
    mp->n = n;
    mp->values = xcalloc(n + 1, sizeof(char *));
    if (json_array_size(names) == n && n > 0)
        mp->names = xcalloc(n + 1, sizeof(char *));
    for (size_t k = 0; k < n; k++) {
        mp->values[k] = dup_or_empty(json_string_value(json_array_get(values, k)));
        if (mp->names)
            mp->names[k] = dup_or_empty(json_string_value(json_array_get(names, k)));
    }
    return 0;
}

int proto_job_decode(const json_t *msg, struct manifest_job *job, struct proto_run *run)
{
    const json_t *params = json_object_get(msg, "params");
    const char *id = get_str(msg, "job");
    int64_t level = get_int(msg, "log_level", -2);

    memset(job, 0, sizeof(*job));
    if (!id || !json_is_array(params) || level < -1 || level > JH_LOG_ERROR + 1 ||
        json_array_size(params) > UINT32_MAX)
        return -EPROTO;
    job->id = xstrdup(id);
    job->log_level = (int)level;
    job->params = xcalloc(json_array_size(params) + 1, sizeof(*job->params));
    for (size_t i = 0; i < json_array_size(params); i++) {
        if (param_decode(json_array_get(params, i), &job->params[i]) < 0) {
            proto_job_clear(job);
            return -EPROTO;
        }
        job->n_params = (uint32_t)(i + 1);
    }
    if (run) {
        const json_t *info = json_object_get(msg, "info");
        const json_t *ft = json_object_get(info, "fencing_token");
        const char *run_id = get_str(msg, "run_id");

        memset(run, 0, sizeof(*run));
        if (!run_id || !json_is_object(info)) {
            proto_job_clear(job);
            return -EPROTO;
        }
        snprintf(run->run_id, sizeof(run->run_id), "%s", run_id);
        run->dry_run = json_is_true(json_object_get(msg, "dry_run"));
        run->deadline_mono = get_int(msg, "deadline_mono", 0);
        if (run->deadline_mono < 0)
            run->deadline_mono = 0;
        run->trigger = (uint32_t)get_int(info, "trigger", 0);
        run->scheduled_ns = get_int(info, "scheduled", 0);
        run->timeout_ns = get_int(info, "timeout", 0);
        run->attempt = (uint32_t)get_int(info, "attempt", 1);
        run->fencing_token = json_is_string(ft) ? strtoull(json_string_value(ft), NULL, 10)
                                                : (uint64_t)get_int(info, "fencing_token", 0);
        job->timeout_ns = run->timeout_ns;
    }
    return 0;
}

/* ---- loaded ------------------------------------------------------------------ */

json_t *proto_loaded_encode(const struct plugin *p)
{
    json_t *msg = json_object(), *params = json_array();

    for (size_t i = 0; i < p->n_params; i++) {
        const struct plugin_param *pp = &p->params[i];
        json_t *item = json_object();
        json_object_set_new(item, "name", proto_string(pp->name));
        json_object_set_new(item, "type", json_integer(pp->type));
        json_object_set_new(item, "required", json_boolean(pp->required));
        if (pp->default_value)
            json_object_set_new(item, "default", proto_string(pp->default_value));
        json_object_set_new(item, "description", proto_string(pp->description));
        json_array_append_new(params, item);
    }
    json_object_set_new(msg, "op", json_string("loaded"));
    json_object_set_new(msg, "name", proto_string(p->desc_name ? p->desc_name : ""));
    json_object_set_new(msg, "version", proto_string(p->version ? p->version : ""));
    json_object_set_new(msg, "description", proto_string(p->description ? p->description : ""));
    json_object_set_new(msg, "abi", json_integer(p->abi_version));
    json_object_set_new(msg, "check", json_boolean(p->has_check));
    json_object_set_new(msg, "params", params);
    return msg;
}

int proto_loaded_decode(const json_t *msg, struct proto_loaded *out)
{
    const json_t *params = json_object_get(msg, "params");
    size_t n = json_array_size(params);
    int64_t abi = get_int(msg, "abi", -1);

    memset(out, 0, sizeof(*out));
    out->info.name = get_str(msg, "name");
    out->info.version = get_str(msg, "version");
    out->info.description = get_str(msg, "description");
    /* more than params_load takes is refused there, by count; no more is read */
    if (strcmp(proto_op(msg), "loaded") != 0 || !out->info.name || !out->info.version ||
        !json_is_array(params) || abi < 0 || abi > UINT32_MAX || n > PARAMS_MAX + 1)
        return -EPROTO;
    out->info.abi_version = (unsigned)abi;
    out->info.has_check = json_is_true(json_object_get(msg, "check"));
    out->specs = xcalloc(n + 1, sizeof(*out->specs));
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(params, i);
        struct jh_param_spec *sp = &out->specs[i];
        int64_t type = get_int(item, "type", -1);

        sp->name = get_str(item, "name");
        if (!sp->name || type < 0 || type > UINT32_MAX) {
            proto_loaded_clear(out);
            return -EPROTO;
        }
        sp->type = (uint32_t)type;
        sp->flags = json_is_true(json_object_get(item, "required")) ? JH_REQUIRED : 0;
        sp->default_value = get_str(item, "default");
        sp->description = get_str(item, "description");
    }
    out->info.params = out->specs;
    return 0;
}

void proto_loaded_clear(struct proto_loaded *out)
{
    free(out->specs);
    memset(out, 0, sizeof(*out));
}

/* ---- records ------------------------------------------------------------------ */

/* One pair as the protocol carries it: [key, type, value]. */
static json_t *pair_encode(const struct record_pair *p)
{
    char text[RECORD_TEXT_MAX];
    json_t *v;

    switch (p->type) {
    case RECORD_STR:
        v = proto_string(p->v.s ? p->v.s : "");
        break;
    case RECORD_INT:
        v = json_integer(p->v.i);
        break;
    case RECORD_UINT:
        /* above INT64_MAX a uint travels as its decimal text */
        v = p->v.u > (uint64_t)INT64_MAX ? json_string(record_value_text(p, text))
                                         : json_integer((json_int_t)p->v.u);
        break;
    case RECORD_F64:
        /* NaN and the infinities, which JSON has no number for, travel as text */
        v = isfinite(p->v.f) ? json_real(p->v.f) : json_string(record_value_text(p, text));
        break;
    case RECORD_BOOL:
        v = json_boolean(p->v.b);
        break;
    default:
        v = json_integer(p->v.ns);
        break;
    }
    return json_pack("[o, s, o]", proto_string(p->key ? p->key : ""), record_type_name(p->type),
                     v ? v : json_null());
}

json_t *proto_record_encode(const struct outcome_record *rec)
{
    json_t *msg = json_object(), *kv = json_array();

    for (size_t i = 0; i < rec->n_pairs; i++)
        json_array_append_new(kv, pair_encode(&rec->pairs[i]));
    json_object_set_new(msg, "op", json_string("log"));
    json_object_set_new(msg, "level", json_integer(rec->level));
    json_object_set_new(msg, "event", proto_string(rec->event ? rec->event : "plugin"));
    json_object_set_new(msg, "kv", kv);
    json_object_set_new(msg, "truncated", json_boolean(rec->truncated));
    return msg;
}

/* One [key, type, value] into q; false when it is not one. */
static bool pair_decode(const json_t *item, struct record_pair *q, char key[RECORD_KEY_BUF])
{
    const char *k = json_string_value(json_array_get(item, 0));
    const char *type = json_string_value(json_array_get(item, 1));
    const json_t *v = json_array_get(item, 2);
    int t = type ? record_type_parse(type) : -1;
    char *end;

    if (!json_is_array(item) || json_array_size(item) != 3 || !k || t < 0 || !v)
        return false;
    record_key(key, k);
    q->key = key;
    q->type = (enum record_type)t;
    switch (q->type) {
    case RECORD_STR: {
        const char *s = json_string_value(v);
        /* the SDK boundary cut it already; a longer one is not a worker's */
        if (!s || strlen(s) > RECORD_VALUE_MAX)
            return false;
        q->v.s = s;
        return true;
    }
    case RECORD_INT:
        if (!json_is_integer(v))
            return false;
        q->v.i = json_integer_value(v);
        return true;
    case RECORD_UINT:
        if (json_is_string(v)) {
            errno = 0;
            q->v.u = strtoull(json_string_value(v), &end, 10);
            return errno == 0 && *end == '\0' && end != json_string_value(v);
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return false;
        q->v.u = (uint64_t)json_integer_value(v);
        return true;
    case RECORD_F64:
        if (json_is_string(v)) {
            q->v.f = strtod(json_string_value(v), &end);
            return *end == '\0' && end != json_string_value(v);
        }
        if (!json_is_number(v))
            return false;
        q->v.f = json_number_value(v);
        return true;
    case RECORD_BOOL:
        if (!json_is_boolean(v))
            return false;
        q->v.b = json_is_true(v);
        return true;
    default:
        if (!json_is_integer(v))
            return false;
        q->v.ns = json_integer_value(v);
        return true;
    }
}

int proto_record_decode(const json_t *msg, struct proto_record *out)
{
    const json_t *kv = json_object_get(msg, "kv");
    const char *event = get_str(msg, "event");
    int64_t level = get_int(msg, "level", -1);
    size_t n = json_array_size(kv), m = 0;
    int dropped = 0;

    if (strcmp(proto_op(msg), "log") != 0 || !json_is_array(kv) || level < JH_LOG_DEBUG ||
        level > JH_LOG_ERROR || n > RECORD_MAX_PAIRS)
        return -EPROTO;
    utf8_sanitize(out->event, sizeof(out->event), event && *event ? event : "plugin",
                  event && *event ? strlen(event) : 6, NULL);
    for (size_t i = 0; i < n; i++) {
        if (pair_decode(json_array_get(kv, i), &out->pairs[m], out->keys[m]))
            m++;
        else
            dropped++;
    }
    out->rec = (struct outcome_record){.level = (int)level, .event = out->event,
                                       .pairs = out->pairs, .n_pairs = m,
                                       .truncated = json_is_true(json_object_get(msg, "truncated"))};
    return dropped;
}

/* ---- checked ------------------------------------------------------------------- */

json_t *proto_checked_encode(int result, const char *why, json_t *errors)
{
    json_t *msg = json_object();

    json_object_set_new(msg, "op", json_string("checked"));
    json_object_set_new(msg, "result", json_integer(result));
    json_object_set_new(msg, "why", proto_string(why ? why : ""));
    json_object_set_new(msg, "errors", errors ? errors : json_array());
    return msg;
}
