/* state_map.c -- the hash map behind the in-memory state (state_internal.h):
 * open addressing with linear probing and backward-shift deletion, so no
 * tombstones build up under churn. Keys are (kind, bytes); ids never exceed
 * 255 bytes. */
#include "state_internal.h"
#include <stdlib.h>
#include <string.h>

uint32_t tms__hash(char kind, const char *key, size_t len)
{
    /* FNV-1a over the kind and the bytes, then a final avalanche (murmur3 fmix) */
    uint32_t h = 2166136261u ^ (uint8_t)kind;
    h *= 16777619u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)key[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static int same(const tms__named *e, char kind, const char *key, size_t len)
{
    return e->len == len && e->kind == kind && memcmp(e->id, key, len) == 0;
}

tms__named *tms__map_get(const tms__map *m, char kind, const char *key, size_t len, uint32_t hash)
{
    if (!m->cap)
        return NULL;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = hash & mask;; i = (i + 1) & mask) {
        const tms__slot *sl = &m->slots[i];
        if (!sl->e)
            return NULL;
        if (sl->hash == hash && same(sl->e, kind, key, len))
            return sl->e;
    }
}

static tms_err grow(tms__map *m)
{
    uint32_t cap = m->cap ? m->cap * 2 : 8;
    tms__slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return TMS_E_NOMEM;
    for (uint32_t i = 0; i < m->cap; i++) {
        tms__named *e = m->slots[i].e;
        if (!e)
            continue;
        uint32_t j = e->hash & (cap - 1);
        while (slots[j].e)
            j = (j + 1) & (cap - 1);
        slots[j].e = e;
        slots[j].hash = e->hash;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return TMS_OK;
}

tms_err tms__map_put(tms__map *m, tms__named *e)
{
    if ((uint64_t)(m->n + 1) * 2 > (uint64_t)m->cap && grow(m))
        return TMS_E_NOMEM;
    uint32_t mask = m->cap - 1, i = e->hash & mask;
    while (m->slots[i].e)
        i = (i + 1) & mask;
    m->slots[i].e = e;
    m->slots[i].hash = e->hash;
    m->n++;
    return TMS_OK;
}

void tms__map_del(tms__map *m, tms__named *e)
{
    uint32_t mask = m->cap - 1, i = e->hash & mask;
    while (m->slots[i].e != e)
        i = (i + 1) & mask;
    /* backward shift: move later members of the cluster into the hole when
     * their home slot does not lie cyclically in (hole, j] */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; m->slots[j].e; j = (j + 1) & mask) {
        uint32_t home = m->slots[j].hash & mask;
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].e = NULL;
    m->n--;
}

void tms__map_free(tms__map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

tms__named **tms__map_list(const tms__map *m, size_t *n)
{
    *n = m->n;
    if (!m->n)
        return NULL;
    tms__named **v = malloc(m->n * sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->slots[i].e)
            v[k++] = m->slots[i].e;
    return v;
}

static int cmp_named(const void *a, const void *b)
{
    const tms__named *x = *(tms__named *const *)a, *y = *(tms__named *const *)b;
    if (x->kind != y->kind)
        return (uint8_t)x->kind < (uint8_t)y->kind ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->id, y->id, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

void tms__sort_named(tms__named **v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_named);
}
