/* state_walk.c -- ordered walks over the in-memory state (state.h). The
 * tables are hash maps; a walk sorts a snapshot of pointers by (kind, id
 * bytes), the order the projection keys and the tools' outputs use. */
#include "state_internal.h"
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

typedef struct edge {
    tms_account *manager, *obj;
} edge;

static int cmp_edge(const void *a, const void *b)
{
    const edge *x = a, *y = b;
    tms__named *p[2] = {&x->manager->h, &y->manager->h};
    tms__named *q[2] = {&x->obj->h, &y->obj->h};
    int c;
    if (p[0] != p[1]) {
        size_t n = p[0]->len < p[1]->len ? p[0]->len : p[1]->len;
        if ((c = memcmp(p[0]->id, p[1]->id, n)))
            return c;
        return p[0]->len < p[1]->len ? -1 : 1;
    }
    if (q[0]->kind != q[1]->kind)
        return (uint8_t)q[0]->kind < (uint8_t)q[1]->kind ? -1 : 1;
    size_t n = q[0]->len < q[1]->len ? q[0]->len : q[1]->len;
    if ((c = memcmp(q[0]->id, q[1]->id, n)))
        return c;
    return q[0]->len < q[1]->len ? -1 : q[0]->len > q[1]->len;
}

int tms_tenant_foreach_visible(const tms_tenant *t, int (*fn)(void *ctx, tms_account *manager, tms_account *obj),
                               void *ctx)
{
    size_t n = 0, k = 0;
    int rc = 0;
    for (uint32_t i = 0; i < t->accounts.cap; i++)
        if (tms__map_at(&t->accounts, i))
            n += ((tms_account *)tms__map_at(&t->accounts, i))->ndist;
    if (!n)
        return 0;
    edge *v = malloc(n * sizeof *v);
    if (!v)
        return -1;
    for (uint32_t i = 0; i < t->accounts.cap; i++) {
        tms_account *obj = (tms_account *)tms__map_at(&t->accounts, i);
        for (uint32_t j = 0; obj && j < obj->ndist; j++) {
            v[k].manager = obj->dist[j];
            v[k++].obj = obj;
        }
    }
    qsort(v, n, sizeof *v, cmp_edge);
    for (size_t i = 0; i < n && !rc; i++)
        rc = fn(ctx, v[i].manager, v[i].obj);
    free(v);
    return rc;
}
