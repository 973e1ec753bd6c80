/*
 * fuzz_proto — the isolation protocol (host/core/isolate_proto.h), both
 * directions: the host reads what a worker (which runs plugin code) says,
 * a worker reads what the host says.
 *
 * The first input byte picks the mode:
 *   0  the rest cut into datagrams ([length byte][bytes]) and fed to
 *      proto_take, as a reader of either side takes them: every answer is
 *      one of the documented ones, a message is never longer than the
 *      reader's bound, and a complete one is a JSON object, which then goes
 *      through every decoder;
 *   1  the rest as one message's JSON text, through every decoder: load,
 *      run/check (host to worker), loaded and log (worker to host). What a
 *      decoder accepts must be what its contract says: records of at most
 *      RECORD_MAX_PAIRS pairs whose keys follow the key rules and whose text
 *      is valid UTF-8 of bounded length; declarations bounded in number;
 *   2  a record made from the rest (keys, types, values of any bytes, made
 *      valid as the SDK boundary makes them), encoded, cut into pieces,
 *      reassembled and decoded: the same pairs come back, type and value;
 *   3  a run request made from the rest (params of any kind and size),
 *      the same round trip: the same job comes back.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/isolate_proto.h"
#include "core/params.h"
#include "core/record.h"
#include "fuzz_common.h"
#include "lib/utf8.h"

/* Reads the input a piece at a time. */
struct input {
    const uint8_t *p;
    size_t left;
};

static unsigned take_byte(struct input *in)
{
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

static uint64_t take_u64(struct input *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | take_byte(in);
    return v;
}

/* A string of up to max input bytes, made valid UTF-8 (as the boundary
 * does) into a malloc'd buffer. */
static char *take_text(struct input *in, size_t max)
{
    size_t n = take_byte(in);
    char *out;

    n = n * max / 255;
    if (n > in->left)
        n = in->left;
    out = malloc(3 * n + 1);
    if (!out)
        abort();
    utf8_sanitize(out, 3 * n + 1, (const char *)in->p, n, NULL);
    in->p += n;
    in->left -= n;
    return out;
}

static bool valid_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n <= max && utf8_valid_prefix(s, n) == n;
}

/* Cuts a message into the pieces proto_send makes and has a reader take
 * them back. */
static json_t *through_pieces(json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    struct proto_reader r;
    json_t *back = NULL;
    size_t len, off = 0;
    char *piece = malloc(PROTO_CHUNK + 1);
    int rc = 0;

    FUZZ_CHECK(text != NULL, "a message that does not encode");
    if (!piece)
        abort();
    json_decref(msg);
    len = strlen(text);
    proto_reader_init(&r, PROTO_WORKER_MAX);
    do {
        size_t n = len - off > PROTO_CHUNK ? PROTO_CHUNK : len - off;
        piece[0] = off + n < len ? PROTO_MORE : PROTO_LAST;
        memcpy(piece + 1, text + off, n);
        rc = proto_take(&r, piece, n + 1, &back);
        off += n;
        FUZZ_CHECK(rc == (off < len ? 0 : 1), "proto_take %d at %zu of %zu", rc, off, len);
    } while (off < len);
    proto_reader_free(&r);
    free(piece);
    free(text);
    return back;
}

static void decode_all(const json_t *msg)
{
    struct proto_load l;
    struct manifest_job job;
    struct proto_run run;
    struct proto_loaded info;
    struct proto_record *rec = malloc(sizeof(*rec));
    int rc;

    if (!rec)
        abort();
    if (proto_load_decode(msg, &l) == 0)
        FUZZ_CHECK(l.name && l.path, "a load without its names");
    if (proto_job_decode(msg, &job, &run) == 0) {
        FUZZ_CHECK(job.id != NULL, "a job without an id");
        for (size_t i = 0; i < job.n_params; i++) {
            const struct manifest_param *p = &job.params[i];
            FUZZ_CHECK(p->key && (p->kind != JH_PARAM_SCALAR || p->value), "param %zu", i);
            for (size_t k = 0; k < p->n; k++)
                FUZZ_CHECK(p->values[k] && (!p->names || p->names[k]), "param %zu item %zu", i, k);
        }
        FUZZ_CHECK(run.deadline_mono >= 0, "a deadline before 0");
        proto_job_clear(&job);
    }
    if (proto_job_decode(msg, &job, NULL) == 0)
        proto_job_clear(&job);
    if (proto_loaded_decode(msg, &info) == 0) {
        size_t n = 0;
        FUZZ_CHECK(info.info.name && info.info.version, "a descriptor without its names");
        while (info.specs[n].name)
            n++;
        FUZZ_CHECK(n <= PARAMS_MAX + 1, "%zu declarations taken", n);
        proto_loaded_clear(&info);
    }
    rc = proto_record_decode(msg, rec);
    if (rc >= 0) {
        FUZZ_CHECK(rec->rec.n_pairs <= RECORD_MAX_PAIRS, "%zu pairs", rec->rec.n_pairs);
        FUZZ_CHECK(rec->rec.level >= JH_LOG_DEBUG && rec->rec.level <= JH_LOG_ERROR, "level %d",
                   rec->rec.level);
        FUZZ_CHECK(valid_text(rec->rec.event, RECORD_EVENT_MAX) && rec->rec.event[0], "the event");
        for (size_t i = 0; i < rec->rec.n_pairs; i++) {
            const struct record_pair *p = &rec->rec.pairs[i];
            FUZZ_CHECK(record_key_ok(p->key, strlen(p->key)), "key %zu: \"%s\"", i, p->key);
            FUZZ_CHECK(p->type < RECORD_TYPE_COUNT, "type %d", p->type);
            if (p->type == RECORD_STR)
                FUZZ_CHECK(valid_text(p->v.s, RECORD_VALUE_MAX), "value %zu", i);
        }
    }
    free(rec);
}

static void mode_pieces(struct input *in)
{
    struct proto_reader r;

    proto_reader_init(&r, 4096);
    while (in->left) {
        size_t n = take_byte(in);
        json_t *msg = NULL;
        int rc;

        if (n > in->left)
            n = in->left;
        rc = proto_take(&r, in->p, n, &msg);
        in->p += n;
        in->left -= n;
        FUZZ_CHECK(rc == 0 || rc == 1 || rc == -EPROTO || rc == -EMSGSIZE, "proto_take %d", rc);
        FUZZ_CHECK(r.msg.len <= r.max, "%zu bytes held, bound %zu", r.msg.len, r.max);
        FUZZ_CHECK((rc == 1) == (msg != NULL), "rc %d with message %p", rc, (void *)msg);
        if (msg) {
            FUZZ_CHECK(json_is_object(msg), "a message that is not an object");
            decode_all(msg);
            json_decref(msg);
        }
    }
    proto_reader_free(&r);
}

static void mode_json(struct input *in)
{
    json_error_t err;
    json_t *msg = json_loadb((const char *)in->p, in->left, 0, &err);

    if (msg && json_is_object(msg))
        decode_all(msg);
    json_decref(msg);
}

static void mode_record(struct input *in)
{
    struct record_pair pairs[RECORD_MAX_PAIRS];
    char keys[RECORD_MAX_PAIRS][RECORD_KEY_BUF];
    char *texts[RECORD_MAX_PAIRS] = {0};
    struct proto_record *back = malloc(sizeof(*back));
    char *raw_event = take_text(in, RECORD_EVENT_MAX);
    char event[RECORD_EVENT_MAX + 1]; /* cut as the SDK boundary cuts it */
    size_t n = take_byte(in) % (RECORD_MAX_PAIRS + 1);
    struct outcome_record rec = {.level = (int)(take_byte(in) % 4), .event = event,
                                 .pairs = pairs, .n_pairs = n, .truncated = take_byte(in) & 1};
    json_t *msg;
    int rc;

    if (!back)
        abort();
    utf8_sanitize(event, sizeof(event), raw_event, strlen(raw_event), NULL);
    free(raw_event);
    for (size_t i = 0; i < n; i++) {
        char *k = take_text(in, 80);
        struct record_pair *p = &pairs[i];
        uint64_t raw;

        record_key(keys[i], k); /* as the SDK boundary does */
        free(k);
        p->key = keys[i];
        p->type = (enum record_type)(take_byte(in) % RECORD_TYPE_COUNT);
        raw = take_u64(in);
        switch (p->type) {
        case RECORD_STR:
            texts[i] = take_text(in, RECORD_VALUE_MAX / 3);
            p->v.s = texts[i];
            break;
        case RECORD_INT:
            p->v.i = (int64_t)raw;
            break;
        case RECORD_UINT:
            p->v.u = raw;
            break;
        case RECORD_F64:
            memcpy(&p->v.f, &raw, sizeof(raw));
            break;
        case RECORD_BOOL:
            p->v.b = raw & 1;
            break;
        default:
            p->v.ns = (int64_t)raw;
            break;
        }
    }
    msg = through_pieces(proto_record_encode(&rec));
    FUZZ_CHECK(msg != NULL, "the record did not come back");
    rc = proto_record_decode(msg, back);
    FUZZ_CHECK(rc == 0, "%d pairs lost on the way", rc);
    FUZZ_CHECK(back->rec.n_pairs == n && back->rec.level == rec.level &&
                   back->rec.truncated == rec.truncated,
               "%zu pairs of %zu, level %d, truncated %d", back->rec.n_pairs, n, back->rec.level,
               back->rec.truncated);
    FUZZ_CHECK(strcmp(back->rec.event, event[0] ? event : "plugin") == 0, "event \"%s\"",
               back->rec.event);
    for (size_t i = 0; i < n; i++) {
        const struct record_pair *a = &pairs[i], *b = &back->rec.pairs[i];
        FUZZ_CHECK(strcmp(a->key, b->key) == 0 && a->type == b->type, "pair %zu", i);
        switch (a->type) {
        case RECORD_STR:
            FUZZ_CHECK(strcmp(a->v.s, b->v.s) == 0, "pair %zu: \"%s\"", i, b->v.s);
            break;
        case RECORD_F64:
            FUZZ_CHECK((isnan(a->v.f) && isnan(b->v.f)) ||
                           (a->v.f == b->v.f && signbit(a->v.f) == signbit(b->v.f)),
                       "pair %zu: %.17g came back %.17g", i, a->v.f, b->v.f);
            break;
        case RECORD_BOOL:
            FUZZ_CHECK(a->v.b == b->v.b, "pair %zu", i);
            break;
        default:
            FUZZ_CHECK(a->v.u == b->v.u, "pair %zu: %llu came back %llu", i,
                       (unsigned long long)a->v.u, (unsigned long long)b->v.u);
            break;
        }
    }
    json_decref(msg);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(back);
}

static void mode_run(struct input *in)
{
    struct manifest_job job = {0}, back;
    struct proto_run run = {0}, rback;
    size_t n = take_byte(in) % 9;
    json_t *msg;

    job.id = take_text(in, 64);
    job.params = calloc(n + 1, sizeof(*job.params));
    if (!job.params)
        abort();
    job.n_params = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        struct manifest_param *p = &job.params[i];
        p->key = take_text(in, 32);
        p->kind = JH_PARAM_SCALAR + (int)(take_byte(in) % 3); /* scalar, list or map */
        if (p->kind == JH_PARAM_SCALAR) {
            p->value = take_text(in, 4096);
            continue;
        }
        p->n = take_byte(in) % 5;
        p->values = calloc(p->n + 1, sizeof(char *));
        if (p->kind == JH_PARAM_MAP)
            p->names = calloc(p->n + 1, sizeof(char *));
        if (!p->values || (p->kind == JH_PARAM_MAP && !p->names))
            abort();
        for (size_t k = 0; k < p->n; k++) {
            p->values[k] = take_text(in, 64);
            if (p->names)
                p->names[k] = take_text(in, 16);
        }
    }
    run.dry_run = take_byte(in) & 1;
    run.deadline_mono = (int64_t)(take_u64(in) >> 1);
    run.trigger = take_byte(in) % 4;
    run.attempt = take_byte(in);
    run.scheduled_ns = (int64_t)take_u64(in);
    run.timeout_ns = (int64_t)(take_u64(in) >> 1);
    run.fencing_token = take_u64(in);
    msg = through_pieces(proto_run_encode(&job, "0123456789abcdef", (int)(take_byte(in) % 4), &run));
    FUZZ_CHECK(msg != NULL, "the run did not come back");
    FUZZ_CHECK(proto_job_decode(msg, &back, &rback) == 0, "the run request does not decode");
    FUZZ_CHECK(strcmp(back.id, job.id) == 0 && back.n_params == job.n_params, "the job");
    FUZZ_CHECK(rback.dry_run == run.dry_run && rback.deadline_mono == run.deadline_mono &&
                   rback.trigger == run.trigger && rback.attempt == run.attempt &&
                   rback.scheduled_ns == run.scheduled_ns && rback.timeout_ns == run.timeout_ns &&
                   rback.fencing_token == run.fencing_token &&
                   strcmp(rback.run_id, "0123456789abcdef") == 0,
               "the run's information");
    for (size_t i = 0; i < n; i++) {
        const struct manifest_param *a = &job.params[i], *b = &back.params[i];
        FUZZ_CHECK(strcmp(a->key, b->key) == 0 && a->kind == b->kind && a->n == b->n,
                   "param %zu", i);
        if (a->kind == JH_PARAM_SCALAR)
            FUZZ_CHECK(strcmp(a->value, b->value) == 0, "param %zu value", i);
        for (size_t k = 0; k < a->n; k++) {
            FUZZ_CHECK(strcmp(a->values[k], b->values[k]) == 0, "param %zu item %zu", i, k);
            if (a->names && a->n)
                FUZZ_CHECK(b->names && strcmp(a->names[k], b->names[k]) == 0, "param %zu name %zu",
                           i, k);
        }
    }
    proto_job_clear(&back);
    json_decref(msg);
    for (size_t i = 0; i < n; i++) {
        struct manifest_param *p = &job.params[i];
        for (size_t k = 0; k < p->n; k++) {
            free(p->values[k]);
            if (p->names)
                free(p->names[k]);
        }
        free(p->values);
        free(p->names);
        free(p->value);
        free(p->key);
    }
    free(job.params);
    free(job.id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};

    switch (take_byte(&in) % 4) {
    case 0:
        mode_pieces(&in);
        break;
    case 1:
        mode_json(&in);
        break;
    case 2:
        mode_record(&in);
        break;
    default:
        mode_run(&in);
        break;
    }
    return 0;
}
