/*
 * Fixture "proto_garbage": a plugin that speaks on its worker's socket
 * (fd 3) itself, as a hostile plugin in `isolation: process` could. `how`:
 *   frame  a datagram that is no message of the protocol: the host counts
 *          it dropped and stops the worker
 *   pair   a well-formed "log" message with one pair of an unknown type:
 *          the host keeps the record without it, and counts the pair
 * Outside a worker process (thread mode) it does nothing.
 */
#include <jobhost/plugin.h>

#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

static const struct jh_param_spec garbage_params[] = {
    JH_PARAM("how", JH_TYPE_STRING, 0, "frame", "frame or pair"),
    JH_PARAMS_END,
};

static int garbage_run(jh_ctx *ctx)
{
    static const char frame[] = "lnot a message";
    static const char pair[] = "l{\"op\":\"log\",\"level\":1,\"event\":\"forged\",\"truncated\":false,"
                               "\"kv\":[[\"good\",\"int\",7],[\"bad\",\"nosuchtype\",1]]}";
    const char *how = jh_param(ctx, "how");
    char name[17] = "";

    prctl(PR_GET_NAME, name, 0, 0, 0);
    if (strcmp(name, "jobhost-worker") != 0)
        return JH_OK;
    if (strcmp(how, "pair") == 0)
        send(3, pair, sizeof(pair) - 1, MSG_NOSIGNAL);
    else
        send(3, frame, sizeof(frame) - 1, MSG_NOSIGNAL);
    return JH_OK;
}

JH_PLUGIN(.name = "proto_garbage", .version = "1.0.0",
          .description = "test fixture: writes to its worker's socket", .params = garbage_params,
          .run = garbage_run);
