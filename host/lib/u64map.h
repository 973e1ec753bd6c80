/*
 * u64map — a hash table from 64-bit numbers (run ids, store keys) to
 * 64-bit values: open addressing with linear probing, grown at three
 * quarters full, deletion by backward shift (no tombstones). What
 * idtable is for string ids, this is for numbers: the history writer
 * matches a run's finish to its start by run id with it, and the SQLite
 * store keeps its per-job summaries in one.
 *
 * Key 0 cannot be stored (it marks an empty slot). Not thread-safe: one
 * thread owns a table.
 */
#ifndef JH_U64MAP_H
#define JH_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64map_slot {
    uint64_t key; /* 0 = empty */
    uint64_t value;
};

struct u64map {
    struct u64map_slot *slots;
    size_t cap; /* a power of two, or 0 before the first insert */
    size_t count;
};

/* Zeroing the struct is the same as u64map_init(m). */
void u64map_init(struct u64map *m);
void u64map_free(struct u64map *m);

/* The value under key into *value: true when found. */
bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *value);

/* Stores value under key (key != 0), replacing what was there. */
void u64map_put(struct u64map *m, uint64_t key, uint64_t value);

/* Removes key; true when it was there (its value into *value unless NULL). */
bool u64map_del(struct u64map *m, uint64_t key, uint64_t *value);

/* Empties the table and keeps its memory when it is small (the writer
 * reuses one per batch), frees it when it grew large. */
void u64map_clear(struct u64map *m);

#endif /* JH_U64MAP_H */
