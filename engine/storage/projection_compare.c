/* projection_compare.c -- a projection compared with a state tenant by
 * tenant (store.h, tms_projection_compare): what a writer's open after a
 * crash does (engine.c), and what verify --since is to do.
 *
 * An open from snapshot S whose projection is at P > S (the writer
 * committed groups after S, then stopped without writing another) must
 * know that the projection holds the log's state at P before it writes
 * into it. The whole state rendered at P costs a fold of 1.4 s at 5M
 * records (benchmarks/RESULTS.md); the records S+1..P usually touch few
 * tenants. Tenants are isolated by the rules, so a tenant no record
 * S+1..P names is at P what it was at S. With the projection's digest by
 * tenant (store.h, "Digests"):
 *   - before a record applies, its tenant's digest in the state then (at S,
 *     the first time a record names it) is kept, or that it did not exist;
 *   - at P, the screen's tenant digests of the projection with each touched
 *     tenant's taken from S instead (those that existed), combined, must be
 *     S's recorded projection digest: every untouched tenant of the
 *     projection is then, digest for digest, S's (collision resistance);
 *   - and each touched tenant rendered from the state at P must be the
 *     projection's (or absent from both).
 * An effect on a tenant its record does not name (no rule makes one), or
 * more tenants touched than half the snapshot's, ends the method: the whole
 * state is compared instead. */
#include "store.h"
#include "log.h"
#include "record.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct tms_projection_compare {
    tms_tenant_digests at_s;   /* the touched tenants: digest at S; bad = did not exist then */
    uint32_t *slots;           /* open addressing over at_s: index + 1, 0 empty */
    size_t cap;
    size_t limit;              /* more touched than this: compare whole */
    int whole;                 /* the method does not hold: compare the whole state */
};

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

/* The most tenants the method takes: eight, or half the state's. */
static size_t limit_of(uint64_t tenants)
{
    return tenants / 2 > 8 ? (size_t)(tenants / 2) : 8;
}

/* The slot of id: the one holding it, or the empty one where it goes. */
static uint32_t *slot_of(tms_projection_compare *c, const char *id)
{
    size_t i = hash(id, strlen(id)) & (c->cap - 1);
    for (; c->slots[i]; i = (i + 1) & (c->cap - 1))
        if (!strcmp(c->at_s.v[c->slots[i] - 1].id, id))
            break;
    return &c->slots[i];
}

static int grow(tms_projection_compare *c)
{
    size_t cap = c->cap ? 2 * c->cap : 64;
    uint32_t *old = c->slots;
    size_t oldcap = c->cap;
    if (!(c->slots = calloc(cap, sizeof *c->slots))) {
        c->slots = old;
        return -1;
    }
    c->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            *slot_of(c, c->at_s.v[old[i] - 1].id) = old[i];
    free(old);
    return 0;
}

tms_err tms_projection_compare_new(uint64_t tenants, tms_projection_compare **out)
{
    tms_projection_compare *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c || grow(c)) {
        free(c);
        return TMS_E_NOMEM;
    }
    c->limit = limit_of(tenants);
    *out = c;
    return TMS_OK;
}

/* 1 when id (len bytes, 1..TMS_ID_MAX) was added to ids (cap a power of
 * two, never full), 0 when it was there. */
static int id_add(char (*ids)[TMS_ID_MAX + 1], size_t cap, const char *id, size_t len)
{
    size_t i = hash(id, len) & (cap - 1);
    for (; ids[i][0]; i = (i + 1) & (cap - 1))
        if (strlen(ids[i]) == len && !memcmp(ids[i], id, len))
            return 0;
    memcpy(ids[i], id, len);
    ids[i][len] = '\0';
    return 1;
}

int tms_projection_compare_gives_up(const char *logdir, uint64_t after, uint64_t upto, uint64_t tenants)
{
    size_t limit = limit_of(tenants), cap = 16, n = 0;
    char (*ids)[TMS_ID_MAX + 1] = NULL;
    tms_log_iter *it = NULL;
    tms_log_record lr;
    int has = 0, rc = -1;
    tms_err err = TMS_OK;
    if (upto - after <= limit)
        return 0;   /* no more records than limit name no more tenants */
    while (cap < 2 * (limit + 1))   /* (limit < upto - after: the set is no larger than the tail) */
        cap *= 2;
    if (!(ids = calloc(cap, sizeof *ids)) ||
        tms_log_iter_open_flags(logdir, after + 1, TMS_LOG_ITER_CHAIN_CHECKED, &it, NULL) != TMS_OK)
        goto out;
    while ((err = tms_log_iter_next(it, &lr, &has)) == TMS_OK && has && lr.seq <= upto) {
        const char *t;
        size_t tlen;
        int64_t stamp;
        if (!tms_record_peek(lr.payload, lr.len, &t, &tlen, &stamp) || tlen > TMS_ID_MAX)
            goto out;
        if (tlen && id_add(ids, cap, t, tlen) && ++n > limit) {   /* (a record names a tenant, or none) */
            rc = 1;
            goto out;
        }
    }
    rc = err ? -1 : 0;
out:
    tms_log_iter_close(it);
    free(ids);
    return rc;
}

void tms_projection_compare_free(tms_projection_compare *c)
{
    if (!c)
        return;
    tms_tenant_digests_free(&c->at_s);
    free(c->slots);
    free(c);
}

int tms_projection_compare_whole(const tms_projection_compare *c)
{
    return c->whole;
}

size_t tms_projection_compare_count(const tms_projection_compare *c)
{
    return c->at_s.n;
}

tms_err tms_projection_compare_note(tms_projection_compare *c, const tms_state *st, const char *tenant)
{
    if (c->whole || !tenant || !tenant[0] || strlen(tenant) > TMS_ID_MAX)
        return TMS_OK;   /* a record that names no tenant changes none (tms_projection_compare_covers checks) */
    uint32_t *slot = slot_of(c, tenant);
    if (*slot)
        return TMS_OK;
    if (c->at_s.n >= c->limit) {
        c->whole = 1;
        return TMS_OK;
    }
    if (2 * (c->at_s.n + 1) > c->cap) {
        if (grow(c))
            return TMS_E_NOMEM;
        slot = slot_of(c, tenant);
    }
    if (c->at_s.n == c->at_s.cap) {
        size_t cap = c->at_s.cap ? 2 * c->at_s.cap : 16;
        tms_tenant_digest *v = realloc(c->at_s.v, cap * sizeof *v);
        if (!v)
            return TMS_E_NOMEM;
        c->at_s.v = v;
        c->at_s.cap = cap;
    }
    tms_tenant_digest *d = &c->at_s.v[c->at_s.n];
    memset(d, 0, sizeof *d);
    memcpy(d->id, tenant, strlen(tenant));
    tms_err err = tms_state_tenant_digest(st, tenant, d->digest);
    if (err && err != TMS_NOT_FOUND)
        return err;
    d->bad = err == TMS_NOT_FOUND;
    *slot = (uint32_t)++c->at_s.n;
    return TMS_OK;
}

void tms_projection_compare_covers(tms_projection_compare *c, const tms_effect *effs, size_t n)
{
    for (size_t i = 0; i < n && !c->whole; i++)
        if (effs[i].tenant && !*slot_of(c, effs[i].tenant))
            c->whole = 1;
}

static int by_id(const void *x, const void *y)
{
    return strcmp(((const tms_tenant_digest *)x)->id, ((const tms_tenant_digest *)y)->id);
}

/* The screen's tenants with the touched ones as they were at S, in byte order, into out. */
static tms_err as_at_s(tms_projection_compare *c, const tms_tenant_digests *screen, tms_tenant_digests *out)
{
    size_t i = 0, j = 0;
    qsort(c->at_s.v, c->at_s.n, sizeof *c->at_s.v, by_id);   /* (the slots are not used after) */
    out->cap = screen->n + c->at_s.n;
    if (!(out->v = malloc((out->cap ? out->cap : 1) * sizeof *out->v)))
        return TMS_E_NOMEM;
    while (i < screen->n || j < c->at_s.n) {
        int cmp = i == screen->n ? 1 : j == c->at_s.n ? -1 : strcmp(screen->v[i].id, c->at_s.v[j].id);
        if (cmp < 0) {
            out->v[out->n++] = screen->v[i++];
            continue;
        }
        if (!c->at_s.v[j].bad)
            out->v[out->n++] = c->at_s.v[j];
        i += cmp == 0;
        j++;
    }
    return TMS_OK;
}

tms_err tms_projection_compare_at(tms_projection_compare *c, const tms_state *st, const tms_tenant_digests *screen,
                        const uint8_t snapshot_pd[TMS_HASH_LEN], int *differs)
{
    tms_tenant_digests mix = {0};
    uint8_t d[TMS_HASH_LEN];
    *differs = 1;
    for (size_t i = 0; i < screen->n; i++)
        if (screen->v[i].bad)
            return TMS_OK;   /* keys that name no tenant: no state makes them */
    tms_err err = as_at_s(c, screen, &mix);
    if (!err)
        err = tms_tenant_digests_combine(&mix, d);
    tms_tenant_digests_free(&mix);
    if (err || sodium_memcmp(d, snapshot_pd, TMS_HASH_LEN))
        return err;   /* an untouched tenant is not S's (or S's digest is not of its state) */
    for (size_t j = 0; j < c->at_s.n; j++) {
        const tms_tenant_digest *p = tms_tenant_digests_find(screen, c->at_s.v[j].id);
        err = tms_state_tenant_digest(st, c->at_s.v[j].id, d);
        if (err && err != TMS_NOT_FOUND)
            return err;
        if ((err == TMS_NOT_FOUND) != !p || (p && sodium_memcmp(d, p->digest, TMS_HASH_LEN)))
            return TMS_OK;   /* a touched tenant is not the log's at P */
    }
    *differs = 0;
    return TMS_OK;
}
