/*
 * http_stream — bodies in pieces: a buffer served in slices, gzip over any
 * stream. See http_stream.h.
 */
#include "io/http_stream.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* --- deflate ----------------------------------------------------------------- */

static int gzip_init(z_stream *zs)
{
    memset(zs, 0, sizeof *zs);
    /* 15 + 16: a gzip wrapper around the deflate data */
    return deflateInit2(zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK
               ? 0
               : -ENOMEM;
}

/* Feeds `len` bytes at `in` to `zs` and appends what comes out to `out`.
 * With Z_NO_FLUSH it returns once the input is taken (deflate keeps what
 * it has not emitted yet); with Z_FINISH, once the gzip trailer is out.
 * 0 or -ENOMEM. */
static int deflate_into(z_stream *zs, const char *in, size_t len, int flush, struct buf *out)
{
    size_t left = len;

    zs->next_in = (Bytef *)in;
    zs->avail_in = 0;
    for (;;) {
        if (zs->avail_in == 0 && left > 0) {
            zs->avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
            left -= zs->avail_in;
        }
        int f = left > 0 ? Z_NO_FLUSH : flush;
        if (out->cap - out->len < 4096 + 1)
            buf_reserve(out, out->cap > 4096 ? out->cap : 4096);
        size_t room = out->cap - out->len - 1; /* keep the NUL's byte */
        zs->next_out = (Bytef *)out->data + out->len;
        zs->avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        int rc = deflate(zs, f);
        out->len = (size_t)((char *)zs->next_out - out->data);
        out->data[out->len] = '\0';
        if (rc == Z_STREAM_END)
            return 0;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return -ENOMEM;
        /* all input taken and room to spare: deflate has nothing more now */
        if (f == Z_NO_FLUSH && left == 0 && zs->avail_in == 0 && zs->avail_out > 0)
            return 0;
    }
}

int http_gzip(const char *in, size_t len, struct buf *out)
{
    z_stream zs;
    int rc;

    if (gzip_init(&zs) < 0)
        return -ENOMEM;
    buf_reserve(out, deflateBound(&zs, len > UINT_MAX ? UINT_MAX : (uLong)len));
    rc = deflate_into(&zs, in, len, Z_FINISH, out);
    deflateEnd(&zs);
    return rc;
}

/* --- a buffer in pieces ------------------------------------------------------- */

struct buf_stream {
    struct buf body;
    size_t off;
    size_t piece;
};

static int buf_stream_next(void *state, struct buf *out)
{
    struct buf_stream *bs = state;
    size_t n = bs->body.len - bs->off;

    if (n > bs->piece)
        n = bs->piece;
    buf_append(out, bs->body.data ? bs->body.data + bs->off : "", n);
    bs->off += n;
    if (bs->off < bs->body.len)
        return 1;
    /* Sent: give the memory back now rather than when the connection ends. */
    buf_free(&bs->body);
    bs->off = 0;
    return 0;
}

static void buf_stream_free(void *state)
{
    struct buf_stream *bs = state;
    buf_free(&bs->body);
    free(bs);
}

void http_stream_from_buf(struct http_stream *out, struct buf *body, size_t piece)
{
    struct buf_stream *bs = xcalloc(1, sizeof *bs);

    bs->body = *body;
    *body = (struct buf){0};
    bs->piece = piece ? piece : HTTP_STREAM_PIECE;
    *out = (struct http_stream){buf_stream_next, buf_stream_free, bs};
}

/* --- gzip over a stream --------------------------------------------------------- */

struct gzip_stream {
    struct http_stream inner;
    z_stream zs;
    struct buf in;   /* the inner stream's current piece */
    bool inner_done; /* the inner stream gave its last piece */
};

static int gzip_stream_next(void *state, struct buf *out)
{
    struct gzip_stream *g = state;
    int rc;

    buf_reset(&g->in);
    if (!g->inner_done) {
        rc = g->inner.next(g->inner.state, &g->in);
        if (rc < 0)
            return rc;
        g->inner_done = rc == 0;
    }
    rc = deflate_into(&g->zs, g->in.data, g->in.len, g->inner_done ? Z_FINISH : Z_NO_FLUSH, out);
    if (rc < 0)
        return rc;
    return g->inner_done ? 0 : 1;
}

static void gzip_stream_free(void *state)
{
    struct gzip_stream *g = state;

    http_stream_free(&g->inner);
    deflateEnd(&g->zs);
    buf_free(&g->in);
    free(g);
}

int http_stream_gzip(struct http_stream *s)
{
    struct gzip_stream *g;

    if (s->bind_wake)
        return -EINVAL; /* a live feed: a piece held back by deflate would wait with it */
    g = xcalloc(1, sizeof *g);

    if (gzip_init(&g->zs) < 0) {
        free(g);
        return -ENOMEM;
    }
    g->inner = *s;
    *s = (struct http_stream){gzip_stream_next, gzip_stream_free, g};
    return 0;
}

/* --- driving a stream ------------------------------------------------------------ */

void http_stream_free(struct http_stream *s)
{
    if (!s->next)
        return;
    if (s->free)
        s->free(s->state);
    *s = (struct http_stream){0};
}

int http_stream_drain(struct http_stream *s, struct buf *out)
{
    int rc = 1;

    while (s->next && rc > 0)
        rc = s->next(s->state, out);
    http_stream_free(s);
    return rc < 0 ? rc : 0;
}
