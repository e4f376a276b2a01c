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

/* cap zeroed slots; a big array (2 MiB or more) on huge pages, as the
 * slab's chunks are (state_alloc.c). */
static tms__slot *slots_new(uint32_t cap)
{
    size_t bytes = (size_t)cap * sizeof(tms__slot);
    return bytes < TMS__HUGE ? calloc(cap, sizeof(tms__slot)) : tms__huge_alloc(bytes);
}

static void slots_free(tms__slot *slots, uint32_t cap)
{
    size_t bytes = (size_t)cap * sizeof(tms__slot);
    if (bytes < TMS__HUGE)
        free(slots);
    else
        tms__huge_free(slots, bytes);
}

/* Rehash into cap slots (a power of two above twice the members). */
static tms_err rehash(tms__map *m, uint32_t cap)
{
    tms__slot *slots = slots_new(cap);
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
    slots_free(m->slots, m->cap);
    m->slots = slots;
    m->cap = cap;
    return TMS_OK;
}

static tms_err grow(tms__map *m)
{
    return rehash(m, m->cap ? m->cap * 2 : 8);
}

tms_err tms__map_reserve(tms__map *m, uint32_t n)
{
    uint64_t need = (uint64_t)m->n + n, cap = m->cap ? m->cap : 8;
    if (!n)
        return TMS_OK;   /* nothing to make room for: an empty map stays unallocated */
    if (need > UINT32_MAX / 4)
        return TMS_E_NOMEM;
    while (need * 2 > cap)
        cap *= 2;
    return cap == m->cap ? TMS_OK : rehash(m, (uint32_t)cap);
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
    slots_free(m->slots, m->cap);
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

/* ---- sorting by (kind, id bytes) ----
 * Every ordered walk sorts a map's entities (state_walk.c): the projection's
 * render, digests, snapshots, the tools. A key of the kind and the first
 * seven id bytes, big-endian and zero-padded (ids hold no NUL, so a shorter
 * id sorts first), orders as cmp_named does wherever two keys differ: the
 * keys are radix-sorted (a byte a pass; a pass where every key has the same
 * byte is skipped), then runs of equal keys (ids that share their first
 * seven bytes) are sorted by cmp_named. */
typedef struct keyed {
    uint64_t key;
    tms__named *e;
} keyed;

#define RADIX_MIN 64   /* fewer entities than this: qsort */

static uint64_t key_of(const tms__named *e)
{
    uint64_t k = (uint64_t)(uint8_t)e->kind << 56;
    size_t n = e->len < 7 ? e->len : 7;
    for (size_t i = 0; i < n; i++)
        k |= (uint64_t)(uint8_t)e->id[i] << (48 - 8 * i);
    return k;
}

/* One stable counting pass on the key's byte at shift, from a into b; 0 when every key has the same byte there
 * (nothing moved). */
static int radix_pass(const keyed *a, keyed *b, size_t n, unsigned shift)
{
    size_t count[256] = {0}, pos = 0;
    for (size_t i = 0; i < n; i++)
        count[(a[i].key >> shift) & 0xff]++;
    if (count[(a[0].key >> shift) & 0xff] == n)
        return 0;
    for (int d = 0; d < 256; d++) {
        size_t c = count[d];
        count[d] = pos;
        pos += c;
    }
    for (size_t i = 0; i < n; i++)
        b[count[(a[i].key >> shift) & 0xff]++] = a[i];
    return 1;
}

void tms__sort_named(tms__named **v, size_t n)
{
    keyed *mem = n >= RADIX_MIN ? malloc(2 * n * sizeof *mem) : NULL;
    if (!mem) {   /* few (or no memory for the keys): the comparison sort */
        if (n > 1)
            qsort(v, n, sizeof *v, cmp_named);
        return;
    }
    keyed *a = mem, *b = mem + n;
    for (size_t i = 0; i < n; i++)
        a[i] = (keyed){key_of(v[i]), v[i]};
    for (unsigned shift = 0; shift < 64; shift += 8)
        if (radix_pass(a, b, n, shift)) {
            keyed *t = a;
            a = b;
            b = t;
        }
    for (size_t i = 0; i < n; i++)
        v[i] = a[i].e;
    for (size_t i = 0, j; i < n; i = j) {   /* equal keys: by the whole id */
        for (j = i + 1; j < n && a[j].key == a[i].key; j++)
            ;
        if (j - i > 1)
            qsort(v + i, j - i, sizeof *v, cmp_named);
    }
    free(mem);
}
