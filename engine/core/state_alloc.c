/* state_alloc.c -- memory of the in-memory state: a slab of 16-byte size
 * classes carved from 256 KiB chunks, with a free list per class. Entities
 * and small arrays (distributions, role holders) live there: no malloc
 * header per entity, no free per entity when the state goes (the chunks go
 * whole). Anything larger than the biggest class comes from malloc. */
#include "state_internal.h"
#include <stdlib.h>
#include <string.h>

#define CHUNK (256u * 1024u)

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
            char *chunk = malloc(CHUNK);
            if (!chunk)
                return NULL;
            s->chunks[s->nchunks++] = chunk;
            s->cur = chunk;
            s->end = chunk + CHUNK;   /* the tail of the last chunk is simply left over */
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
        free(s->chunks[i]);
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
