/*
 * arena — chunked bump allocation. See arena.h.
 *
 * Chunks form a list, newest first; allocations come from the head. A block
 * too big to share a chunk gets a chunk of its own, put behind the head so
 * the head's free room is not wasted.
 */
#include "lib/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define ARENA_ALIGN 8
#define ARENA_FIRST_CHUNK 4096
#define ARENA_MAX_CHUNK (1u << 20)
#define ARENA_OWN_CHUNK (ARENA_MAX_CHUNK / 4) /* blocks this big get a chunk of their own */

struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* bytes in data */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

static struct arena_chunk *chunk_new(struct arena *a, size_t size)
{
    struct arena_chunk *c;

    if (size > SIZE_MAX - sizeof(*c)) {
        fprintf(stderr, "jobhost: arena block of %zu bytes is too large, aborting\n", size);
        abort();
    }
    c = xmalloc(sizeof(*c) + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    a->held += sizeof(*c) + size;
    return c;
}

static void *alloc(struct arena *a, size_t n, size_t align)
{
    struct arena_chunk *c = a->head;
    size_t at;

    if (c) {
        at = (c->used + align - 1) & ~(align - 1);
        if (at <= c->size && n <= c->size - at) {
            c->used = at + n;
            return c->data + at;
        }
    }
    if (n >= ARENA_OWN_CHUNK && c) {
        struct arena_chunk *own = chunk_new(a, n);
        own->used = n;
        own->next = c->next;
        c->next = own;
        return own->data;
    }
    if (a->next_size < ARENA_FIRST_CHUNK)
        a->next_size = ARENA_FIRST_CHUNK;
    c = chunk_new(a, n > a->next_size ? n : a->next_size);
    if (a->next_size < ARENA_MAX_CHUNK)
        a->next_size *= 2;
    c->next = a->head;
    a->head = c;
    c->used = n;
    return c->data;
}

void *arena_alloc(struct arena *a, size_t n)
{
    return alloc(a, n ? n : 1, ARENA_ALIGN);
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
    void *p;

    if (size && n > SIZE_MAX / size) {
        fprintf(stderr, "jobhost: arena block of %zu x %zu bytes is too large, aborting\n", n,
                size);
        abort();
    }
    p = arena_alloc(a, n * size);
    memset(p, 0, n * size);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = alloc(a, n + 1, 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

struct arena_mark arena_mark(const struct arena *a)
{
    return (struct arena_mark){.chunk = a->head, .used = a->head ? a->head->used : 0};
}

void arena_release(struct arena *a, struct arena_mark mark)
{
    while (a->head && a->head != mark.chunk) {
        struct arena_chunk *c = a->head;
        a->head = c->next;
        a->held -= sizeof(*c) + c->size;
        free(c);
    }
    if (a->head)
        a->head->used = mark.used;
}

void arena_adopt(struct arena *dst, struct arena *src)
{
    struct arena_chunk *tail = src->head;

    if (!tail)
        return;
    while (tail->next)
        tail = tail->next;
    if (dst->head) {
        /* behind dst's head: dst goes on filling its own chunk */
        tail->next = dst->head->next;
        dst->head->next = src->head;
    } else {
        dst->head = src->head;
    }
    dst->held += src->held;
    *src = (struct arena){0};
}

void arena_free(struct arena *a)
{
    arena_release(a, (struct arena_mark){0});
    a->next_size = 0;
}
