/*
 * exposition — GET /metrics's body from the metrics registry. See
 * exposition.h.
 */
#include "io/exposition.h"

#include <stdatomic.h>

/* The length of the last exposition rendered, to allocate the next one at
 * once: growing a tens-of-MB buffer by doubling copies it over and over.
 * Only a hint (a registry of another size just costs a realloc), so any
 * thread reads and writes it relaxed. */
static _Atomic size_t last_len;

int exposition_stream(void *metrics, enum metrics_format f, struct http_stream *out)
{
    struct buf text = {0};
    size_t hint = atomic_load_explicit(&last_len, memory_order_relaxed);
    int rc;

    *out = (struct http_stream){0};
    if (hint)
        buf_reserve(&text, hint + hint / 16); /* room for a few more series */
    rc = metrics_render(metrics, f, &text);
    if (rc < 0) {
        buf_free(&text);
        return rc;
    }
    atomic_store_explicit(&last_len, text.len, memory_order_relaxed);
    http_stream_from_buf(out, &text, HTTP_STREAM_PIECE);
    return 0;
}
