/* state_alloc.c -- memory of the in-memory state: a slab of 16-byte size
 * classes carved from 256 KiB chunks, with a free list per class. Entities
 * and small arrays (distributions, role holders) live there: no malloc
 * header per entity, no free per entity when the state goes (the chunks go
 * whole). Anything larger than the biggest class comes from malloc. The
 * capacity hints of a bulk load are here too. */
#include "state_internal.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Chunks double from CHUNK_FIRST to TMS__HUGE: a small state stays small, a
 * big one is carved from 2 MiB chunks aligned for transparent huge pages
 * (asked for with MADV_HUGEPAGE where the kernel offers them "madvise"
 * only): a page fault per 2 MiB instead of per 4 KiB while a state is built,
 * a fifth of a snapshot decode's time in 4 KiB faults otherwise. */
#define CHUNK_FIRST (256u * 1024u)

static size_t chunk_size(size_t i)
{
    return (size_t)CHUNK_FIRST << (i < 3 ? i : 3);
}

/* Under AddressSanitizer big blocks come from malloc, so that its leak check
 * sees them (it does not see mmap). */
#if defined(__SANITIZE_ADDRESS__)
#define HUGE_FROM_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HUGE_FROM_MALLOC 1
#endif
#endif

#ifndef HUGE_FROM_MALLOC
static size_t huge_round(size_t bytes)
{
    return (bytes + TMS__HUGE - 1) & ~(size_t)(TMS__HUGE - 1);
}
#endif

void *tms__huge_alloc(size_t bytes)
{
#ifdef HUGE_FROM_MALLOC
    return calloc(1, bytes);
#else
    size_t n = huge_round(bytes), extra;
    char *p = mmap(NULL, n + TMS__HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* keep the aligned n bytes inside, give back the rest either side */
    extra = (TMS__HUGE - (uintptr_t)p % TMS__HUGE) % TMS__HUGE;
    if (extra)
        munmap(p, extra);
    if (TMS__HUGE - extra)
        munmap(p + extra + n, TMS__HUGE - extra);
    p += extra;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n, MADV_HUGEPAGE);   /* advice: refused or ignored, the pages stay small */
#endif
    return p;
#endif
}

void tms__huge_free(void *p, size_t bytes)
{
#ifdef HUGE_FROM_MALLOC
    (void)bytes;
    free(p);
#else
    if (p)
        munmap(p, huge_round(bytes));
#endif
}

static char *chunk_new(size_t bytes)
{
    return bytes < TMS__HUGE ? malloc(bytes) : tms__huge_alloc(bytes);
}

static size_t class_of(size_t size)
{
    return (size + TMS__SLAB_QUANTUM - 1) / TMS__SLAB_QUANTUM;
}

void *tms__slab_alloc(tms__slab *s, size_t size)
{
    size_t c = class_of(size ? size : 1);
    if (c >= TMS__SLAB_CLASSES)
        return calloc(1, size);
    size_t bytes = c * TMS__SLAB_QUANTUM;
    void *p = s->free[c];
    if (p) {
        memcpy(&s->free[c], p, sizeof(void *));
    } else {
        if ((size_t)(s->end - s->cur) < bytes) {
            if (s->nchunks == s->capchunks) {
                size_t cap = s->capchunks ? 2 * s->capchunks : 16;
                char **v = realloc(s->chunks, cap * sizeof *v);
                if (!v)
                    return NULL;
                s->chunks = v;
                s->capchunks = cap;
            }
            size_t csize = chunk_size(s->nchunks);
            char *chunk = chunk_new(csize);
            if (!chunk)
                return NULL;
            s->chunks[s->nchunks++] = chunk;
            s->cur = chunk;
            s->end = chunk + csize;   /* the tail of the last chunk is simply left over */
        }
        p = s->cur;
        s->cur += bytes;
    }
    memset(p, 0, bytes);
    return p;
}

void tms__slab_free(tms__slab *s, void *p, size_t size)
{
    size_t c = class_of(size ? size : 1);
    if (!p)
        return;
    if (c >= TMS__SLAB_CLASSES) {
        free(p);
        return;
    }
    memcpy(p, &s->free[c], sizeof(void *));
    s->free[c] = p;
}

void tms__slab_destroy(tms__slab *s)
{
    for (size_t i = 0; i < s->nchunks; i++)
        if (chunk_size(i) < TMS__HUGE)
            free(s->chunks[i]);
        else
            tms__huge_free(s->chunks[i], chunk_size(i));
    free(s->chunks);
    memset(s, 0, sizeof *s);
}


void *tms__entity_new(tms_state *st, size_t size, char kind, const char *id, size_t idlen, size_t extra)
{
    size_t total = size + idlen + 1 + extra;
    char *p = tms__slab_alloc(&st->slab, total);
    if (!p)
        return NULL;
    tms__named *h = (tms__named *)p;
    memcpy(p + size, id, idlen);
    h->id = p + size;
    h->len = (uint8_t)idlen;
    h->kind = kind;
    h->hash = tms__hash(kind, id, idlen);
    h->cls = (uint8_t)(class_of(total) < TMS__SLAB_CLASSES ? class_of(total) : 0);
    return p;
}

void tms__entity_free(tms_state *st, void *e)
{
    const tms__named *h = e;
    if (h && h->cls)
        tms__slab_free(&st->slab, e, (size_t)h->cls * TMS__SLAB_QUANTUM);
    else
        free(e);   /* larger than every class: it came from malloc */
}

tms_err tms__array_grow(tms_state *st, void **arr, uint32_t *cap, uint32_t need)
{
    if (need <= *cap)
        return TMS_OK;
    uint32_t c = *cap ? *cap * 2 : 2;
    while (c < need)
        c *= 2;
    void *p = tms__slab_alloc(&st->slab, (size_t)c * sizeof(void *));
    if (!p)
        return TMS_E_NOMEM;
    if (*cap)
        memcpy(p, *arr, (size_t)*cap * sizeof(void *));
    tms__slab_free(&st->slab, *arr, (size_t)*cap * sizeof(void *));
    *arr = p;
    *cap = c;
    return TMS_OK;
}

void tms__array_free(tms_state *st, void *arr, uint32_t cap)
{
    tms__slab_free(&st->slab, arr, (size_t)cap * sizeof(void *));
}

/* ---- capacity hints (state.h) ---- */

static tms_err map_reserve(tms__map *m, size_t n)
{
    return n > UINT32_MAX ? TMS_E_NOMEM : tms__map_reserve(m, (uint32_t)n);
}

tms_err tms_state_reserve(tms_state *st, size_t tenants, size_t requests)
{
    tms_err err = map_reserve(&st->tenants, tenants);
    return err ? err : map_reserve(&st->requests, requests);
}

tms_err tms_tenant_reserve(tms_state *st, tms_tenant *t, size_t roles, size_t logins, size_t accounts,
                           size_t requests)
{
    tms_err err;
    (void)st;
    if ((err = map_reserve(&t->roles, roles)) || (err = map_reserve(&t->logins, logins)) ||
        (err = map_reserve(&t->accounts, accounts)))
        return err;
    return map_reserve(&t->requests, requests);
}

tms_err tms_state_absorb(tms_state *dst, tms_state *src)
{
    if (src->requests.n || src->nundo || src->neffects || src->ngrave)
        return TMS_E_INVAL;
    for (uint32_t i = 0; i < src->tenants.cap; i++) {
        tms__named *t = tms__map_at(&src->tenants, i);
        if (t && tms__map_get(&dst->tenants, t->kind, t->id, t->len, t->hash))
            return TMS_E_INVAL;
    }
    tms__slab *v = realloc(dst->absorbed, (dst->nabsorbed + 1 + src->nabsorbed) * sizeof *v);
    if (!v)
        return TMS_E_NOMEM;
    dst->absorbed = v;
    if (tms__map_reserve(&dst->tenants, src->tenants.n))
        return TMS_E_NOMEM;
    for (uint32_t i = 0; i < src->tenants.cap; i++)
        if (tms__map_at(&src->tenants, i))
            (void)tms__map_put(&dst->tenants, tms__map_at(&src->tenants, i));   /* room made: cannot fail */
    v[dst->nabsorbed++] = src->slab;
    if (src->nabsorbed)   /* (memcpy from NULL is undefined, even of nothing) */
        memcpy(v + dst->nabsorbed, src->absorbed, src->nabsorbed * sizeof *v);
    dst->nabsorbed += src->nabsorbed;
    dst->naccounts += src->naccounts;
    dst->nroles += src->nroles;
    dst->nlogins += src->nlogins;
    dst->ndist += src->ndist;
    tms__map_free(&src->tenants);   /* the map, not its tenants */
    tms__map_free(&src->requests);
    free(src->absorbed);
    free(src->undo);
    free(src->effects);
    free(src->graveyard);
    free(src);
    return TMS_OK;
}
