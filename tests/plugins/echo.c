/*
 * Fixture "echo": what crosses the SDK boundary, to compare thread and
 * process isolation byte for byte.
 *   blob   a string param of any size: record `echo` gives its length,
 *          its FNV-1a hash and the value itself (which the host cuts)
 *   big    bytes of a value to log in record `big`: an invalid byte, then
 *          "é" repeated, so the cut falls inside a character
 *   pairs  pairs to give record `many` (more than a record keeps)
 */
#include <jobhost/plugin.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct jh_param_spec echo_params[] = {
    JH_PARAM("blob", JH_TYPE_STRING, 0, "", "any text"),
    JH_PARAM("big", JH_TYPE_SIZE, 0, "0", "bytes of the big value"),
    JH_PARAM("pairs", JH_TYPE_INT, 0, "0", "pairs of the many record"),
    JH_PARAMS_END,
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int echo_run(jh_ctx *ctx)
{
    const char *blob = jh_param(ctx, "blob");
    uint64_t big = 0;
    int64_t pairs = 0;

    jh_param_size(ctx, "big", &big);
    jh_param_int(ctx, "pairs", &pairs);
    jh_log(ctx, JH_LOG_INFO, "echo", JH_UINT("len", strlen(blob)), JH_UINT("fnv", fnv1a(blob)),
           JH_STR("head", blob));
    if (big > 1 && big < (64u << 20)) {
        char *v = malloc(big + 1);
        if (!v)
            return JH_FAIL;
        uint64_t i = 1;
        v[0] = (char)0xff;
        for (; i + 2 <= big; i += 2) {
            v[i] = (char)0xc3;
            v[i + 1] = (char)0xa9;
        }
        v[i] = '\0';
        jh_log(ctx, JH_LOG_INFO, "big", JH_STR("v", v), JH_STR("after", "kept"));
        free(v);
    }
    if (pairs > 0 && pairs <= 1000) {
        struct jh_kv *kv = calloc((size_t)pairs, sizeof(*kv));
        const struct jh_kv **list = calloc((size_t)pairs, sizeof(*list));
        char (*keys)[32] = calloc((size_t)pairs, sizeof(*keys));
        if (!kv || !list || !keys)
            return JH_FAIL;
        for (int64_t i = 0; i < pairs; i++) {
            snprintf(keys[i], sizeof(keys[i]), "k%lld", (long long)i);
            kv[i] = *JH_INT(keys[i], i);
            list[i] = &kv[i];
        }
        jh_log_kv(ctx, JH_LOG_INFO, "many", list, (size_t)pairs);
        free(kv);
        free(list);
        free(keys);
    }
    return JH_OK;
}

JH_PLUGIN(.name = "echo", .version = "1.0.0", .description = "test fixture: logs what it is given",
          .params = echo_params, .run = echo_run);
