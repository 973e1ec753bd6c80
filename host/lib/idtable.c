/*
 * idtable — string-keyed open addressing. See idtable.h.
 *
 * Deletion shifts the following entries of the probe run back (Knuth's
 * algorithm R), so there are no tombstones and lookups stay short however
 * many reloads add and remove ids.
 */
#include "lib/idtable.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

uint64_t idtable_hash(const char *s)
{
    uint64_t h = 1469598103934665603u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h ? h : 1;
}

/* At most 3/4 full: short probe runs, a third of the memory of 1/2. */
static bool too_full(size_t count, size_t cap)
{
    return 4 * count > 3 * cap;
}

static size_t cap_for(size_t n)
{
    size_t cap = 16;
    while (too_full(n, cap))
        cap *= 2;
    return cap;
}

static uint8_t tag_of(uint64_t hash)
{
    return (uint8_t)(0x80 | (hash >> 57));
}

void idtable_init(struct idtable *t, size_t expected)
{
    t->cap = cap_for(expected);
    t->count = 0;
    t->slots = xcalloc(t->cap, sizeof(*t->slots));
    t->tags = xcalloc(t->cap, 1);
}

void idtable_free(struct idtable *t)
{
    free(t->slots);
    free(t->tags);
    t->slots = NULL;
    t->tags = NULL;
    t->cap = t->count = 0;
}

static size_t find(const struct idtable *t, const char *key, uint64_t hash, bool *found)
{
    size_t mask = t->cap - 1, i = (size_t)hash & mask;
    uint8_t tag = tag_of(hash);

    for (;; i = (i + 1) & mask) {
        if (!t->tags[i]) {
            *found = false;
            return i;
        }
        if (t->tags[i] == tag && strcmp(t->slots[i].key, key) == 0) {
            *found = true;
            return i;
        }
    }
}

void *idtable_get(const struct idtable *t, const char *key)
{
    bool found;
    size_t i;

    if (!t->cap)
        return NULL;
    i = find(t, key, idtable_hash(key), &found);
    return found ? t->slots[i].value : NULL;
}

static void rehash(struct idtable *t, size_t cap)
{
    struct idtable old = *t;

    t->cap = cap;
    t->slots = xcalloc(t->cap, sizeof(*t->slots));
    t->tags = xcalloc(t->cap, 1);
    for (size_t i = 0; i < old.cap; i++) {
        if (old.tags[i]) {
            uint64_t hash = idtable_hash(old.slots[i].key);
            size_t j = (size_t)hash & (t->cap - 1);
            while (t->tags[j])
                j = (j + 1) & (t->cap - 1);
            t->slots[j] = old.slots[i];
            t->tags[j] = old.tags[i];
        }
    }
    free(old.slots);
    free(old.tags);
}

static void grow(struct idtable *t)
{
    rehash(t, t->cap ? t->cap * 2 : 16);
}

void idtable_reserve(struct idtable *t, size_t n)
{
    size_t cap = cap_for(n);
    if (cap > t->cap)
        rehash(t, cap);
}

int idtable_put(struct idtable *t, const char *key, void *value)
{
    uint64_t hash = idtable_hash(key);
    bool found;
    size_t i;

    if (!t->cap || too_full(t->count + 1, t->cap))
        grow(t);
    i = find(t, key, hash, &found);
    if (found)
        return -EEXIST;
    t->slots[i] = (struct idtable_slot){.key = key, .value = value};
    t->tags[i] = tag_of(hash);
    t->count++;
    return 0;
}

void *idtable_del(struct idtable *t, const char *key)
{
    size_t mask = t->cap - 1, i, j;
    bool found;
    void *value;

    if (!t->cap)
        return NULL;
    i = find(t, key, idtable_hash(key), &found);
    if (!found)
        return NULL;
    value = t->slots[i].value;
    /* Move back every later entry of the run whose home is not in (i, j]. */
    for (j = (i + 1) & mask; t->tags[j]; j = (j + 1) & mask) {
        size_t home = (size_t)idtable_hash(t->slots[j].key) & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            t->tags[i] = t->tags[j];
            i = j;
        }
    }
    t->slots[i] = (struct idtable_slot){0};
    t->tags[i] = 0;
    t->count--;
    return value;
}
