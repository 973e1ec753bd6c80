/*
 * u64map — number-keyed open addressing. See u64map.h.
 */
#include "lib/u64map.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* Tables larger than this are freed, not kept, by u64map_clear. */
#define KEEP_SLOTS 4096

static size_t slot_of(const struct u64map *m, uint64_t key)
{
    /* Fibonacci hashing: run ids differ mostly in their low bits */
    return (size_t)((key * UINT64_C(11400714819323198485)) >> 32) & (m->cap - 1);
}

void u64map_init(struct u64map *m)
{
    memset(m, 0, sizeof(*m));
}

void u64map_free(struct u64map *m)
{
    free(m->slots);
    u64map_init(m);
}

static void grow(struct u64map *m)
{
    struct u64map_slot *old = m->slots;
    size_t old_cap = m->cap;

    m->cap = old_cap ? 2 * old_cap : 16;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    m->count = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key)
            u64map_put(m, old[i].key, old[i].value);
    }
    free(old);
}

bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *value)
{
    if (!m->cap || !key)
        return false;
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key) {
            *value = m->slots[i].value;
            return true;
        }
        if (!m->slots[i].key)
            return false;
    }
}

void u64map_put(struct u64map *m, uint64_t key, uint64_t value)
{
    size_t i;

    if (!key)
        return;
    if (4 * (m->count + 1) > 3 * m->cap)
        grow(m);
    for (i = slot_of(m, key); m->slots[i].key && m->slots[i].key != key;
         i = (i + 1) & (m->cap - 1))
        ;
    if (!m->slots[i].key)
        m->count++;
    m->slots[i].key = key;
    m->slots[i].value = value;
}

bool u64map_del(struct u64map *m, uint64_t key, uint64_t *value)
{
    size_t i, j;

    if (!m->cap || !key)
        return false;
    for (i = slot_of(m, key); m->slots[i].key != key; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i].key)
            return false;
    }
    if (value)
        *value = m->slots[i].value;
    /* Knuth's algorithm R: move back every entry of the run that the hole
     * would cut off from its home slot. */
    for (j = i;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->slots[j].key)
            break;
        size_t home = slot_of(m, m->slots[j].key);
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->count--;
    return true;
}

void u64map_clear(struct u64map *m)
{
    if (m->cap > KEEP_SLOTS) {
        u64map_free(m);
        return;
    }
    if (m->slots)
        memset(m->slots, 0, m->cap * sizeof(*m->slots));
    m->count = 0;
}
