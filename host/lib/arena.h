/*
 * arena — a bump allocator for data that lives and dies together: every
 * string and array of one parsed manifest, or the nodes of one YAML subtree.
 * Memory comes in chunks (4 KiB, doubling to 1 MiB) and is given back all at
 * once, so a 100,000-job manifest costs a few hundred allocations instead of
 * one per string, and nothing per allocation beyond alignment.
 *
 * A mark taken with arena_mark and handed to arena_release gives back what
 * was allocated since, which lets a reader drop a subtree once it is read.
 * Pure: no threads, no I/O, no globals. Not thread-safe: an arena belongs
 * to the one thread that fills it (others may read what it holds once it is
 * published). Running out of memory aborts, as xmalloc does.
 */
#ifndef JH_ARENA_H
#define JH_ARENA_H

#include <stddef.h>

struct arena_chunk;

/* Zero-initialise (struct arena a = {0};) before the first use. */
struct arena {
    struct arena_chunk *head; /* the chunk allocations come from, newest first */
    size_t next_size;         /* the size of the next chunk */
    size_t held;              /* bytes held in chunks, for accounting */
};

struct arena_mark {
    struct arena_chunk *chunk;
    size_t used;
};

/* n bytes aligned for any object the host stores (8 bytes), uninitialised.
 * Never NULL. */
void *arena_alloc(struct arena *a, size_t n);

/* n * size bytes, zeroed; aborts on overflow. */
void *arena_calloc(struct arena *a, size_t n, size_t size);

/* Copies of s (NUL-terminated; the first n bytes of s), unaligned. */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* Where the arena stands now; arena_release(a, mark) gives back everything
 * allocated after it. Marks are released newest first. A block larger than
 * a chunk taken after the mark may be kept until arena_free (it is never
 * handed out twice). */
struct arena_mark arena_mark(const struct arena *a);
void arena_release(struct arena *a, struct arena_mark mark);

/* Moves every chunk of src into dst, which from now on owns what src
 * handed out (src is left empty): what threads filled apart becomes one
 * arena. Adopted chunks go behind dst's current chunk, so releasing a
 * mark of dst keeps them; arena_free gives them back. */
void arena_adopt(struct arena *dst, struct arena *src);

/* Gives back every chunk; the arena is empty and may be used again. */
void arena_free(struct arena *a);

#endif /* JH_ARENA_H */
