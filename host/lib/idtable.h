/*
 * idtable — a hash table from string ids (job ids, plugin names) to
 * pointers: open addressing with linear probing, FNV-1a hashes, grown at
 * three quarters full. A slot is two pointers (16 bytes) plus one tag byte
 * in a separate array: seven bits of the hash, so a probe reads a key's
 * string only when its tag matches (a look-up in a million-entry table
 * costs one or two cache misses, not one per probe). Full hashes are not
 * kept but recomputed when the table grows or an entry is deleted, since a
 * table holds an entry per job and at a million jobs that memory counts.
 * The one id table of the host: the per-job state, each
 * generation's index of its jobs and plugins, and the reload's comparison
 * of two generations all look ids up here, in O(1).
 *
 * Keys are borrowed: the caller keeps each key's string alive (and
 * unchanged) while it is in the table, typically because the value owns it.
 * Not thread-safe: a table is built by one thread and then either kept to
 * it or published read-only.
 */
#ifndef JH_IDTABLE_H
#define JH_IDTABLE_H

#include <stddef.h>
#include <stdint.h>

struct idtable_slot {
    const char *key; /* valid where the tag is not 0 */
    void *value;
};

struct idtable {
    struct idtable_slot *slots;
    uint8_t *tags; /* per slot: 0 = empty, else 0x80 | the hash's top 7 bits */
    size_t cap;   /* a power of two, or 0 before the first insert */
    size_t count;
};

/* FNV-1a of s, never 0. */
uint64_t idtable_hash(const char *s);

/* An empty table with room for `expected` ids before it grows. */
void idtable_init(struct idtable *t, size_t expected);
void idtable_free(struct idtable *t); /* frees the slots, not the keys or values */

/* Room for `n` entries in all without growing again (one rehash now rather
 * than one per doubling). */
void idtable_reserve(struct idtable *t, size_t n);

/* The value stored under key, or NULL. */
void *idtable_get(const struct idtable *t, const char *key);

/* Stores value under key. Returns 0, or -EEXIST (and changes nothing) when
 * the key is already there. */
int idtable_put(struct idtable *t, const char *key, void *value);

/* Removes key; returns its value, or NULL when it was not there. */
void *idtable_del(struct idtable *t, const char *key);

#endif /* JH_IDTABLE_H */
