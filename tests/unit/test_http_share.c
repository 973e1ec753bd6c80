/*
 * http_share: concurrent readers of one stream get every byte of it while
 * the source is pulled once; a reader who comes after the window closed
 * gets a rendering of its own; pieces are let go once every reader has
 * them; an error reaches every reader; the slot is cleared when the last
 * reader goes.
 */
#include "cu_main.h"
#include "io/http_share.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A source of `pieces` numbered pieces of `size` bytes, counting how many
 * sources were made and how many pieces pulled. */
struct counting {
    int made, pulled, freed;
    int pieces, fail_at; /* fail_at: the piece that fails (-1 none) */
    size_t size;
};

struct counting_state {
    struct counting *c;
    int at;
};

static int counting_next(void *state, struct buf *out)
{
    struct counting_state *s = state;
    char fill;

    if (s->at == s->c->fail_at)
        return -EIO;
    s->c->pulled++;
    fill = (char)('a' + s->at % 26);
    for (size_t i = 0; i < s->c->size; i++)
        buf_putc(out, fill);
    return ++s->at < s->c->pieces ? 1 : 0;
}

static void counting_free(void *state)
{
    struct counting_state *s = state;
    s->c->freed++;
    free(s);
}

static int make_counting(void *arg, struct http_stream *out)
{
    struct counting *c = arg;
    struct counting_state *s = xcalloc(1, sizeof(*s));

    c->made++;
    s->c = c;
    *out = (struct http_stream){counting_next, counting_free, s};
    return 0;
}

/* One step of a reader: 1 more, 0 ended, <0 error. */
static int step(struct http_stream *s, struct buf *out)
{
    return s->next(s->state, out);
}

static void test_two_readers_one_source(void)
{
    struct counting c = {.pieces = 5, .fail_at = -1, .size = 100};
    struct http_share *slot = NULL;
    struct http_stream a, b;
    struct buf ba = {0}, bb = {0};

    CU_ASSERT_EQUAL(http_share_start(&slot, 1 << 20, make_counting, &c, &a), 0);
    CU_ASSERT_EQUAL(step(&a, &ba), 1); /* a is ahead: pieces 0 */
    CU_ASSERT_EQUAL(step(&a, &ba), 1); /* and 1 */
    /* b comes while a is rendering: it joins and starts from the first byte */
    CU_ASSERT_EQUAL(http_share_start(&slot, 1 << 20, make_counting, &c, &b), 0);
    CU_ASSERT_EQUAL(c.made, 1);
    CU_ASSERT_EQUAL(http_stream_drain(&b, &bb), 0);
    CU_ASSERT_EQUAL(http_stream_drain(&a, &ba), 0);
    CU_ASSERT_EQUAL(c.pulled, 5);
    CU_ASSERT_EQUAL(ba.len, 500);
    CU_ASSERT_EQUAL(bb.len, ba.len);
    CU_ASSERT(ba.len == bb.len && memcmp(ba.data, bb.data, ba.len) == 0);
    CU_ASSERT_EQUAL(ba.data[0], 'a');
    CU_ASSERT_EQUAL(ba.data[499], 'e');
    CU_ASSERT_PTR_NULL(slot); /* the last reader went */
    CU_ASSERT_EQUAL(c.freed, 1);
    buf_free(&ba);
    buf_free(&bb);
}

/* Once more than the window was produced (or the source ended), a new
 * reader gets a fresh source: never a rendering started long before. */
static void test_late_reader_renders_anew(void)
{
    struct counting c = {.pieces = 10, .fail_at = -1, .size = 100};
    struct http_share *slot = NULL;
    struct http_stream a, b;
    struct buf ba = {0}, bb = {0};

    CU_ASSERT_EQUAL(http_share_start(&slot, 250, make_counting, &c, &a), 0);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(step(&a, &ba), 1); /* 300 bytes > 250: closed */
    CU_ASSERT_EQUAL(http_share_start(&slot, 250, make_counting, &c, &b), 0);
    CU_ASSERT_EQUAL(c.made, 2);
    CU_ASSERT_EQUAL(http_stream_drain(&b, &bb), 0);
    CU_ASSERT_EQUAL(http_stream_drain(&a, &ba), 0);
    CU_ASSERT_EQUAL(ba.len, 1000);
    CU_ASSERT_EQUAL(bb.len, 1000);
    CU_ASSERT_EQUAL(c.pulled, 20);
    CU_ASSERT_PTR_NULL(slot);
    CU_ASSERT_EQUAL(c.freed, 2);
    buf_free(&ba);
    buf_free(&bb);

    /* a finished rendering is not joined either */
    CU_ASSERT_EQUAL(http_share_start(&slot, 1 << 20, make_counting, &c, &a), 0);
    CU_ASSERT_EQUAL(http_stream_drain(&a, &ba), 0);
    CU_ASSERT_EQUAL(http_share_start(&slot, 1 << 20, make_counting, &c, &b), 0);
    CU_ASSERT_EQUAL(c.made, 4);
    http_stream_free(&b);
    buf_free(&ba);
}

/* A reader that stops mid-way (the client went away) lets the others go
 * on; an error of the source reaches every reader. */
static void test_reader_leaves_and_errors_reach_all(void)
{
    struct counting c = {.pieces = 4, .fail_at = -1, .size = 10};
    struct http_share *slot = NULL;
    struct http_stream a, b;
    struct buf ba = {0}, bb = {0};

    CU_ASSERT_EQUAL(http_share_start(&slot, 1 << 20, make_counting, &c, &a), 0);
    CU_ASSERT_EQUAL(http_share_start(&slot, 1 << 20, make_counting, &c, &b), 0);
    CU_ASSERT_EQUAL(step(&a, &ba), 1);
    http_stream_free(&a);
    CU_ASSERT_PTR_NOT_NULL(slot);
    CU_ASSERT_EQUAL(http_stream_drain(&b, &bb), 0);
    CU_ASSERT_EQUAL(bb.len, 40);
    CU_ASSERT_PTR_NULL(slot);
    buf_free(&ba);
    buf_free(&bb);

    c = (struct counting){.pieces = 4, .fail_at = 2, .size = 10};
    CU_ASSERT_EQUAL(http_share_start(&slot, 1 << 20, make_counting, &c, &a), 0);
    CU_ASSERT_EQUAL(http_share_start(&slot, 1 << 20, make_counting, &c, &b), 0);
    CU_ASSERT_EQUAL(http_stream_drain(&a, &ba), -EIO);
    CU_ASSERT_EQUAL(ba.len, 20);
    CU_ASSERT_EQUAL(step(&b, &bb), 1);
    CU_ASSERT_EQUAL(step(&b, &bb), 1);
    CU_ASSERT_EQUAL(step(&b, &bb), -EIO); /* the same error, not a short success */
    http_stream_free(&b);
    CU_ASSERT_EQUAL(c.made, 1);
    CU_ASSERT_EQUAL(c.freed, 1);
    buf_free(&ba);
    buf_free(&bb);
}

/* A client that stops reading cannot pin the rendering: once the reader
 * ahead is a window past it, it is cut off (its body ends in an error) and
 * the others go on. */
static void test_stalled_reader_is_cut(void)
{
    struct counting c = {.pieces = 10, .fail_at = -1, .size = 100};
    struct http_share *slot = NULL;
    struct http_stream stalled, fast;
    struct buf bs = {0}, bf = {0};

    CU_ASSERT_EQUAL(http_share_start(&slot, 250, make_counting, &c, &stalled), 0);
    CU_ASSERT_EQUAL(http_share_start(&slot, 250, make_counting, &c, &fast), 0);
    CU_ASSERT_EQUAL(step(&stalled, &bs), 1); /* one piece, then it stops reading */
    CU_ASSERT_EQUAL(http_stream_drain(&fast, &bf), 0);
    CU_ASSERT_EQUAL(bf.len, 1000);
    CU_ASSERT_EQUAL(c.made, 1);
    CU_ASSERT_EQUAL(step(&stalled, &bs), -EPIPE);
    http_stream_free(&stalled);
    CU_ASSERT_PTR_NULL(slot);
    buf_free(&bs);
    buf_free(&bf);
}

/* The slot's owner may go first (a router replaced by a reload): its
 * readers finish and nothing writes to the slot any more. */
static void test_forget(void)
{
    struct counting c = {.pieces = 3, .fail_at = -1, .size = 10};
    struct http_share **slot = xcalloc(1, sizeof(*slot));
    struct http_stream a;
    struct buf ba = {0};

    CU_ASSERT_EQUAL(http_share_start(slot, 1 << 20, make_counting, &c, &a), 0);
    http_share_forget(slot);
    CU_ASSERT_PTR_NULL(*slot);
    free(slot); /* freed memory: ASan catches a write to it */
    CU_ASSERT_EQUAL(http_stream_drain(&a, &ba), 0);
    CU_ASSERT_EQUAL(ba.len, 30);
    CU_ASSERT_EQUAL(c.freed, 1);
    buf_free(&ba);
}

static const struct cu_test tests[] = {
    {"two readers, one source", test_two_readers_one_source},
    {"a late reader renders anew", test_late_reader_renders_anew},
    {"a reader leaves; errors reach all", test_reader_leaves_and_errors_reach_all},
    {"a stalled reader is cut", test_stalled_reader_is_cut},
    {"the slot's owner goes first", test_forget},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"http_share", tests},
    {NULL, NULL},
};

CU_MAIN(suites)
