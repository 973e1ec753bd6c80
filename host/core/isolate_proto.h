/*
 * isolate_proto — the messages between the host and its worker processes
 * (core/isolate.c), and how they travel.
 *
 * A message is one JSON object. It crosses a SOCK_SEQPACKET socket as one
 * or more datagrams of at most PROTO_CHUNK bytes, each starting with one
 * byte: PROTO_MORE when more of the same message follows, PROTO_LAST on its
 * last piece. So a message of any size crosses (a job's params may be
 * megabytes: the manifest allows it), and no datagram ever meets the
 * socket's size limit (EMSGSIZE). A file descriptor (the plugin's image)
 * travels with the first datagram of a message (SCM_RIGHTS).
 *
 * The receiver bounds what it takes: the host at most PROTO_WORKER_MAX bytes
 * of one message from a worker (which runs plugin code, so may say
 * anything), a worker at most PROTO_HOST_MAX from the host. Beyond it, or
 * for a datagram or text that is not what this file says, the receiver
 * gets an error: the host counts the message as dropped and stops the
 * worker.
 *
 * Host to worker: "load" (with the image; the worker's credentials and
 * limits), "run", "check", "cancel", "exit". Worker to host: "loaded" (the
 * descriptor: names, ABI, declared parameters), "load_failed", "log" (a
 * plugin record, typed), "run_error" (jh_set_error's text), "done",
 * "checked" (a check callback's result and its parameter errors).
 *
 * Every decoder checks what it reads (types, sizes) and never trusts the
 * other side; they are pure (no I/O) and fuzzed (tests/fuzz/fuzz_proto.c).
 * The socket functions are for either side; none keeps state but the
 * reader's.
 */
#ifndef JH_ISOLATE_PROTO_H
#define JH_ISOLATE_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/manifest.h"
#include "core/outcome.h"
#include "core/plugin.h"
#include "core/record.h"
#include "lib/util.h"

#define PROTO_CHUNK 32768                 /* bytes of a datagram's piece */
#define PROTO_MORE 'm'                    /* a piece with more to come */
#define PROTO_LAST 'l'                    /* the last piece of a message */
#define PROTO_HOST_MAX (1024u << 20)      /* bytes a worker takes of one message */
#define PROTO_WORKER_MAX (16u << 20)      /* bytes the host takes of one message */
#define PROTO_CHECK_ERRORS_MAX 1000       /* parameter errors one check reports */

/* The pieces of one message being received. */
struct proto_reader {
    struct buf msg;
    size_t max;  /* bytes a message may have */
    int fd;      /* a descriptor that came with the message; -1: none */
};

void proto_reader_init(struct proto_reader *r, size_t max);
/* Frees what is held, closing a descriptor not taken. */
void proto_reader_free(struct proto_reader *r);

/* Takes one datagram as received. Returns 1 when it completes a message,
 * then *out holds it (a JSON object, owned by the caller); 0 when more is
 * to come; -EPROTO for a datagram that is not a piece or a message that is
 * not a JSON object, -EMSGSIZE for one longer than r->max (the pieces are
 * dropped either way). Pure. */
int proto_take(struct proto_reader *r, const void *data, size_t len, json_t **out);

/* Receives datagrams from sock until a message is complete: 1 and *out
 * (and *fd, -1 when none came, owned by the caller), 0 at the end of the
 * stream, -EAGAIN when the socket is non-blocking and the message is not
 * complete yet (its pieces stay in r), or a negative errno (-EPROTO,
 * -EMSGSIZE as proto_take). */
int proto_recv(int sock, struct proto_reader *r, json_t **out, int *fd);

/* Sends msg (taken; NULL, a message that could not be built, gives
 * -ENOMEM), with fd when >= 0, waiting at most timeout_ms (-1: no limit)
 * for room when the socket is non-blocking: 0, -ETIMEDOUT, or a negative
 * errno (-EPIPE when the other side is gone). */
int proto_send(int sock, json_t *msg, int fd, int timeout_ms);

/* The "op" of a message; "" when none. */
const char *proto_op(const json_t *msg);

/* ---- host to worker ----------------------------------------------------------- */

/* Whose a worker process is, and its limits: what a worker takes before it
 * loads anything. */
struct proto_load {
    const char *name;        /* the plugin's name, for messages */
    const char *path;        /* its file, for messages */
    uint64_t address_space;  /* RLIMIT_AS; 0: none */
    int64_t cpu_s;           /* RLIMIT_CPU; 0: none */
    uint64_t open_files;     /* RLIMIT_NOFILE; 0: none */
    bool set_uid, set_gid;   /* switch to uid / gid (and groups) */
    uint32_t uid, gid;
    const char *user;        /* for initgroups; NULL: groups = {gid} */
};

json_t *proto_load_encode(const struct proto_load *l);
/* 0, or -EPROTO for a malformed message. Strings point into msg. */
int proto_load_decode(const json_t *msg, struct proto_load *l);

/* The params of a job, as a run or a check request carries them. */
json_t *proto_params_encode(const struct manifest_job *job);

/* A run as a worker needs it. */
struct proto_run {
    bool dry_run;
    int64_t deadline_mono; /* 0: none */
    uint32_t trigger, attempt;
    int64_t scheduled_ns, timeout_ns;
    uint64_t fencing_token;
    char run_id[32];
};

json_t *proto_run_encode(const struct manifest_job *job, const char *run_id, int log_level,
                         const struct proto_run *run);
json_t *proto_check_encode(const struct manifest_job *job, int log_level);

/* A run or check request's job: its id, level and params, copied into
 * *job (free with proto_job_clear). *run (may be NULL for a check) gets
 * the rest. 0, or -EPROTO. */
int proto_job_decode(const json_t *msg, struct manifest_job *job, struct proto_run *run);
void proto_job_clear(struct manifest_job *job);

/* ---- worker to host ------------------------------------------------------------- */

/* "loaded": the descriptor of a plugin mapped in the worker. */
json_t *proto_loaded_encode(const struct plugin *p);

/* What a "loaded" message says, as plugin_set_info takes it. Strings point
 * into msg. */
struct proto_loaded {
    struct plugin_info info;
    struct jh_param_spec *specs; /* owned: free with proto_loaded_clear */
};
int proto_loaded_decode(const json_t *msg, struct proto_loaded *out);
void proto_loaded_clear(struct proto_loaded *out);

/* "log": one record past the SDK boundary, with its types. */
json_t *proto_record_encode(const struct outcome_record *rec);

/* A "log" message as a record, into storage the caller gives. Strings
 * point into msg; keys are held to the key rules once more (which changes
 * nothing for a well-behaved worker). Returns the number of pairs that
 * could not be read (dropped), or -EPROTO when the record as a whole could
 * not. */
struct proto_record {
    struct outcome_record rec;
    struct record_pair pairs[RECORD_MAX_PAIRS];
    char keys[RECORD_MAX_PAIRS][RECORD_KEY_BUF];
    char event[RECORD_EVENT_MAX + 1];
};
int proto_record_decode(const json_t *msg, struct proto_record *out);

/* "checked": a check's result, its jh_set_error text and its parameter
 * errors ([key, message] pairs; key "" for the job as a whole). */
json_t *proto_checked_encode(int result, const char *why, json_t *errors);

/* A JSON string of s: s itself when valid UTF-8, else a copy made valid
 * (utf8_sanitize). Never NULL for a non-NULL s. */
json_t *proto_string(const char *s);

#endif /* JH_ISOLATE_PROTO_H */
