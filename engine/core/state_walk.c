/* state_walk.c -- ordered walks over the in-memory state (state.h). The
 * tables are hash maps; a walk sorts a snapshot of pointers by (kind, id
 * bytes), the order the projection keys and the tools' outputs use. */
#include "state_internal.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A sorted snapshot of a map's entities; -1 when out of memory. */
static int sorted(const tms__map *m, tms__named ***v, size_t *n)
{
    *v = tms__map_list(m, n);
    if (!*v && *n)
        return -1;
    tms__sort_named(*v, *n);
    return 0;
}

/* One walk per entity type (a call through a cast function pointer would be
 * undefined behaviour). */
#define WALK(map, type, fn, ctx)                        \
    do {                                                \
        tms__named **v_;                                \
        size_t n_;                                      \
        int rc_ = 0;                                    \
        if (sorted(map, &v_, &n_))                      \
            return -1;                                  \
        for (size_t i_ = 0; i_ < n_ && !rc_; i_++)      \
            rc_ = fn(ctx, (type *)v_[i_]);              \
        free(v_);                                       \
        return rc_;                                     \
    } while (0)

int tms_state_foreach_tenant(const tms_state *st, int (*fn)(void *ctx, tms_tenant *t), void *ctx)
{
    WALK(&st->tenants, tms_tenant, fn, ctx);
}

int tms_tenant_foreach_account(const tms_tenant *t, int (*fn)(void *ctx, tms_account *a), void *ctx)
{
    WALK(&t->accounts, tms_account, fn, ctx);
}

int tms_tenant_foreach_role(const tms_tenant *t, int (*fn)(void *ctx, tms_role *r), void *ctx)
{
    WALK(&t->roles, tms_role, fn, ctx);
}

int tms_tenant_foreach_login(const tms_tenant *t, int (*fn)(void *ctx, tms_login *l), void *ctx)
{
    WALK(&t->logins, tms_login, fn, ctx);
}

size_t tms_object_distribution(const tms_account *obj, tms_account **out, size_t cap)
{
    if (obj->ndist && obj->ndist <= cap) {
        memcpy(out, obj->dist, obj->ndist * sizeof *out);
        tms__sort_named((tms__named **)out, obj->ndist);
    }
    return obj->ndist;
}

tms_account **tms_role_holders(const tms_role *r, size_t *n)
{
    *n = r->nholders;
    if (!r->nholders)
        return NULL;
    tms_account **v = malloc(r->nholders * sizeof *v);
    if (!v)
        return NULL;
    memcpy(v, r->holders, r->nholders * sizeof *v);
    tms__sort_named((tms__named **)v, r->nholders);
    return v;
}

/* The managers' ranks: by pointer, for a binary search from an edge. */
typedef struct ranked {
    const tms_account *m;
    uint32_t rank;
} ranked;

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const ranked *)a)->m, y = (uintptr_t)((const ranked *)b)->m;
    return x < y ? -1 : x > y;
}

/* m's rank, or UINT32_MAX when m is no manager of the tenant (a state the
 * rules cannot make: the walk then fails as if out of memory). */
static uint32_t rank_of(const ranked *by_ptr, size_t n, const tms_account *m)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)by_ptr[mid].m <= (uintptr_t)m)
            lo = mid;
        else
            hi = mid;
    }
    return n && by_ptr[lo].m == m ? by_ptr[lo].rank : UINT32_MAX;
}

/* Sorted without comparing pairs: the objects with a distribution and the
 * managers are each sorted by (kind, id) (tms__sort_named); the edges are
 * then counted out into one bucket per manager, in that order, visiting the
 * objects in theirs, so each bucket comes out sorted (a qsort of the pairs
 * was a third of a projection's render). */
int tms_tenant_foreach_visible(const tms_tenant *t, int (*fn)(void *ctx, tms_account *manager, tms_account *obj),
                               void *ctx)
{
    size_t n = 0, nobj = 0, nmgr = 0;
    int rc = -1;
    for (uint32_t i = 0; i < t->accounts.cap; i++) {
        tms_account *a = (tms_account *)tms__map_at(&t->accounts, i);
        if (a && a->ndist)
            n += a->ndist, nobj++;
        if (a && a->h.kind == TMS_KIND_MANAGER)
            nmgr++;
    }
    if (!n)
        return 0;
    tms__named **objs = malloc(nobj * sizeof *objs), **mgrs = malloc(nmgr * sizeof *mgrs);
    ranked *by_ptr = malloc(nmgr * sizeof *by_ptr);
    size_t *start = calloc(nmgr + 1, sizeof *start);
    tms_account **out = malloc(n * sizeof *out);
    uint32_t *rank = malloc(n * sizeof *rank);   /* each pair's manager's, in the objects' order: searched once */
    if (!objs || !mgrs || !by_ptr || !start || !out || !rank)
        goto done;
    for (uint32_t i = 0, o = 0, m = 0; i < t->accounts.cap; i++) {
        tms_account *a = (tms_account *)tms__map_at(&t->accounts, i);
        if (a && a->ndist)
            objs[o++] = &a->h;
        if (a && a->h.kind == TMS_KIND_MANAGER)
            mgrs[m++] = &a->h;
    }
    tms__sort_named(objs, nobj);
    tms__sort_named(mgrs, nmgr);
    for (size_t i = 0; i < nmgr; i++)
        by_ptr[i] = (ranked){(const tms_account *)mgrs[i], (uint32_t)i};
    qsort(by_ptr, nmgr, sizeof *by_ptr, cmp_ptr);
    for (size_t i = 0, k = 0; i < nobj; i++) {   /* bucket sizes, then their starts */
        const tms_account *obj = (const tms_account *)objs[i];
        for (uint32_t j = 0; j < obj->ndist; j++, k++) {
            if ((rank[k] = rank_of(by_ptr, nmgr, obj->dist[j])) == UINT32_MAX)
                goto done;
            start[rank[k] + 1]++;
        }
    }
    for (size_t i = 0; i < nmgr; i++)
        start[i + 1] += start[i];
    for (size_t i = 0, k = 0; i < nobj; i++) {   /* objects in order into their managers' buckets */
        tms_account *obj = (tms_account *)objs[i];
        for (uint32_t j = 0; j < obj->ndist; j++, k++)
            out[start[rank[k]]++] = obj;
    }
    rc = 0;   /* start[r] is now bucket r's end */
    for (size_t r = 0, i = 0; r < nmgr && !rc; r++)
        for (; i < start[r] && !rc; i++)
            rc = fn(ctx, (tms_account *)mgrs[r], out[i]);
done:
    free(objs);
    free(mgrs);
    free(by_ptr);
    free(start);
    free(out);
    free(rank);
    return rc;
}

int tms_state_foreach_request(const tms_state *st, const tms_tenant *t,
                              int (*fn)(void *ctx, const char *tenant, const char *rid, const tms_request_seen *first),
                              void *ctx)
{
    size_t n;
    int rc = 0;
    tms__named **v = tms__map_list(t ? &t->requests : &st->requests, &n);
    if (!v && n)
        return -1;
    tms__sort_named(v, n);   /* by key: tenant NUL request id */
    for (size_t i = 0; i < n && !rc; i++) {
        tms__request *r = (tms__request *)v[i];
        rc = fn(ctx, r->h.id, r->h.id + strlen(r->h.id) + 1, &r->first);
    }
    free(v);
    return rc;
}

int tms_state_request_twice(const tms_state *st)
{
    return tms__state_request_twice_in(st, st);
}

int tms__state_request_twice_in(const tms_state *st, const tms_state *tenants)
{
    if (st == tenants) {   /* st's own: the request ids kept apart, each against its tenant's */
        for (uint32_t i = 0; i < st->requests.cap; i++) {
            const tms__named *r = tms__map_at(&st->requests, i);
            const tms_tenant *t = r ? tms_state_tenant(st, r->id) : NULL;   /* the key: tenant NUL request id */
            if (t && tms__map_get(&t->requests, 0, r->id, r->len, r->hash))
                return 1;
        }
        return 0;
    }
    /* tenants' request ids, each against st's kept apart: the cost of the tenants', not of all st keeps apart */
    for (uint32_t i = 0; st->requests.n && i < tenants->tenants.cap; i++) {
        const tms_tenant *t = (const tms_tenant *)tms__map_at(&tenants->tenants, i);
        for (uint32_t j = 0; t && j < t->requests.cap; j++) {
            const tms__named *r = tms__map_at(&t->requests, j);
            if (r && tms__map_get(&st->requests, 0, r->id, r->len, r->hash))
                return 1;
        }
    }
    return 0;
}
