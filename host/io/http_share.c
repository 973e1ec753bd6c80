/*
 * http_share — one stream read by several responses. See http_share.h.
 */
#include "io/http_share.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct share_reader {
    struct http_share *sh;
    size_t seq; /* the next piece it takes */
    bool cut;   /* fell a window behind the others: its body ends in an error */
    struct share_reader *next;
};

struct http_share {
    pthread_mutex_t lock;
    struct http_share **slot; /* where it is registered, or NULL */
    struct http_stream src;   /* cleared once it ended or failed */
    struct buf *pieces;       /* by number; below `dropped` freed */
    size_t n_pieces, cap_pieces, dropped;
    size_t held, window;      /* bytes of pieces kept; the bound for joining */
    bool open;                /* a new reader may join */
    bool ended;               /* the last piece is pieces[n_pieces - 1] */
    int err;                  /* the source's error, given to every reader after */
    struct share_reader *readers;
};

/* Bytes held in pieces before piece `seq`. */
static size_t held_before(const struct http_share *sh, size_t seq)
{
    size_t n = 0;
    for (size_t i = sh->dropped; i < seq; i++)
        n += sh->pieces[i].len;
    return n;
}

static void share_free(struct http_share *sh)
{
    for (size_t i = sh->dropped; i < sh->n_pieces; i++)
        buf_free(&sh->pieces[i]);
    free(sh->pieces);
    http_stream_free(&sh->src);
    pthread_mutex_destroy(&sh->lock);
    free(sh);
}

/* The source's next piece, kept for every reader. */
static int produce(struct http_share *sh)
{
    struct buf piece = {0};
    int rc = sh->src.next(sh->src.state, &piece);

    if (rc < 0) {
        buf_free(&piece);
        sh->err = rc;
        sh->open = false;
        http_stream_free(&sh->src);
        return rc;
    }
    if (sh->n_pieces == sh->cap_pieces) {
        sh->cap_pieces = sh->cap_pieces ? 2 * sh->cap_pieces : 64;
        sh->pieces = xrealloc(sh->pieces, sh->cap_pieces * sizeof(*sh->pieces));
    }
    sh->pieces[sh->n_pieces++] = piece;
    sh->held += piece.len;
    if (rc == 0) {
        sh->ended = true;
        http_stream_free(&sh->src);
    }
    if (sh->ended || sh->held > sh->window)
        sh->open = false;
    return 0;
}

/* The slowest reader that is not cut, or NULL. */
static struct share_reader *slowest(const struct http_share *sh)
{
    struct share_reader *low = NULL;

    for (struct share_reader *r = sh->readers; r; r = r->next) {
        if (!r->cut && (!low || r->seq < low->seq))
            low = r;
    }
    return low;
}

/* Once nobody can join, a piece every reader has taken is not needed; and
 * a reader a whole window behind the one reading now (a client that does
 * not read) is cut rather than let it pin the rendering. */
static void drop_taken(struct http_share *sh, const struct share_reader *reading)
{
    struct share_reader *low;

    if (sh->open)
        return;
    while ((low = slowest(sh)) && low != reading && sh->held - held_before(sh, low->seq) >
                                                        sh->window)
        low->cut = true;
    for (size_t to = low ? low->seq : sh->n_pieces; sh->dropped < to; sh->dropped++) {
        sh->held -= sh->pieces[sh->dropped].len;
        buf_free(&sh->pieces[sh->dropped]);
    }
}

static int reader_next(void *state, struct buf *out)
{
    struct share_reader *r = state;
    struct http_share *sh = r->sh;
    int rc = 0;

    pthread_mutex_lock(&sh->lock);
    if (r->cut)
        rc = -EPIPE;
    else if (r->seq == sh->n_pieces)
        rc = sh->err ? sh->err : produce(sh);
    if (rc == 0) {
        const struct buf *piece = &sh->pieces[r->seq++];
        buf_append(out, piece->data ? piece->data : "", piece->len);
        rc = sh->ended && r->seq == sh->n_pieces ? 0 : 1;
        drop_taken(sh, r);
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

static void reader_free(void *state)
{
    struct share_reader *r = state;
    struct http_share *sh = r->sh;
    bool last;

    pthread_mutex_lock(&sh->lock);
    for (struct share_reader **p = &sh->readers; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    last = sh->readers == NULL;
    if (last && sh->slot)
        *sh->slot = NULL;
    else
        drop_taken(sh, NULL);
    pthread_mutex_unlock(&sh->lock);
    free(r);
    if (last)
        share_free(sh);
}

static void join(struct http_share *sh, struct http_stream *out)
{
    struct share_reader *r = xcalloc(1, sizeof(*r));

    r->sh = sh;
    r->next = sh->readers;
    sh->readers = r;
    *out = (struct http_stream){reader_next, reader_free, r};
}

int http_share_start(struct http_share **slot, size_t window,
                     int (*make)(void *arg, struct http_stream *src), void *arg,
                     struct http_stream *out)
{
    struct http_share *sh = *slot;
    int rc;

    *out = (struct http_stream){0};
    if (sh) {
        pthread_mutex_lock(&sh->lock);
        if (sh->open) {
            join(sh, out);
            pthread_mutex_unlock(&sh->lock);
            return 0;
        }
        sh->slot = NULL; /* it goes on for its readers; the slot is for the new one */
        pthread_mutex_unlock(&sh->lock);
        *slot = NULL;
    }
    sh = xcalloc(1, sizeof(*sh));
    pthread_mutex_init(&sh->lock, NULL);
    sh->window = window;
    sh->open = true;
    rc = make(arg, &sh->src);
    if (rc < 0 || !sh->src.next) {
        share_free(sh);
        return rc < 0 ? rc : -EINVAL;
    }
    sh->slot = slot;
    *slot = sh;
    join(sh, out);
    return 0;
}

void http_share_forget(struct http_share **slot)
{
    struct http_share *sh = *slot;

    if (!sh)
        return;
    pthread_mutex_lock(&sh->lock);
    sh->slot = NULL;
    pthread_mutex_unlock(&sh->lock);
    *slot = NULL;
}
