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

static size_t cap_for(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

void idtable_init(struct idtable *t, size_t expected)
{
    t->cap = cap_for(expected);
    t->count = 0;
    t->slots = xcalloc(t->cap, sizeof(*t->slots));
}

void idtable_free(struct idtable *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

static size_t find(const struct idtable *t, const char *key, uint64_t h, bool *found)
{
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    for (;; i = (i + 1) & mask) {
        const struct idtable_slot *s = &t->slots[i];
        if (!s->hash) {
            *found = false;
            return i;
        }
        if (s->hash == h && strcmp(s->key, key) == 0) {
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

static void grow(struct idtable *t)
{
    struct idtable old = *t;

    t->cap = old.cap ? old.cap * 2 : 16;
    t->slots = xcalloc(t->cap, sizeof(*t->slots));
    for (size_t i = 0; i < old.cap; i++) {
        const struct idtable_slot *s = &old.slots[i];
        if (s->hash) {
            size_t j = (size_t)s->hash & (t->cap - 1);
            while (t->slots[j].hash)
                j = (j + 1) & (t->cap - 1);
            t->slots[j] = *s;
        }
    }
    free(old.slots);
}

int idtable_put(struct idtable *t, const char *key, void *value)
{
    uint64_t h = idtable_hash(key);
    bool found;
    size_t i;

    if (2 * (t->count + 1) > t->cap)
        grow(t);
    i = find(t, key, h, &found);
    if (found)
        return -EEXIST;
    t->slots[i] = (struct idtable_slot){.hash = h, .key = key, .value = value};
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
    for (j = (i + 1) & mask; t->slots[j].hash; j = (j + 1) & mask) {
        size_t home = (size_t)t->slots[j].hash & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = (struct idtable_slot){0};
    t->count--;
    return value;
}
