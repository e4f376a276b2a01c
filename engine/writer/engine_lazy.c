/* engine_lazy.c -- the tenants of the snapshot an open started from,
 * decoded into the writer's state as they are first used (issue 18's open:
 * the tail's cost, not the state's).
 *
 * An open from a snapshot whose projection follows it (believed, screened,
 * at or after its seq) reads the snapshot whole and checks it (its CRC, its
 * digest, its parts table against its content: snapshots.h), decodes the
 * part before the tenants, and keeps the encoding (tms__lazy). A tenant's
 * part is decoded into the state (tms_state_snapshot_load_tenant, with
 * every check of a whole decode within its bytes) before the first record
 * or command that names it is applied: in the open's fold (level_before),
 * a submit's commands, a replica's frames. Tenants are isolated by the
 * rules: a record reads and changes its own tenant and the request ids of
 * no tenant (which the part before the tenants holds), so the state the
 * rules see for it is the whole state's. Whatever needs every tenant (a
 * projection rebuilt or compared whole, tms_engine_state) loads the rest
 * first.
 *
 * A snapshot written meanwhile (a close, the running snapshot's child) is
 * composed: the state's tenants encoded, every tenant not loaded copied
 * from the kept encoding (tms_state_snapshot_compose), its projection
 * digest from each tenant's: the state's, rendered, and for a tenant not
 * loaded the projection's own, which the open found to be the snapshot
 * state's (the screen's tenant digests, which with the touched tenants'
 * give the snapshot's recorded projection digest: projection_compare.c).
 *
 * What it costs: the encoding stays in memory until every tenant is loaded
 * (the size of the snapshot's payload, 131 MB at 5M records); the first
 * command of a tenant after an open decodes its part (milliseconds for a
 * tenant of 50 000 accounts). A part that does not decode (a writer's bug:
 * the file checked) stops the writer's writes: the snapshot is set aside
 * and the next open folds the log. */
#include "engine_internal.h"
#include "record.h"
#include "snapshots.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tms__lazy_free(tms__lazy *lz)
{
    free(lz->payload);
    tms_snapshot_index_free(&lz->ix);
    free(lz->loaded);
    tms_tenant_digests_free(&lz->proj);
    memset(lz, 0, sizeof *lz);
}

tms_err tms__lazy_begin(tms_engine *e, uint64_t seq, uint8_t *payload, size_t len, tms_snapshot_index *ix)
{
    tms__lazy *lz = &e->lazy;
    tms__lazy_free(lz);
    if (!(lz->loaded = calloc(ix->ntenants ? ix->ntenants : 1, 1)))
        return TMS_E_NOMEM;
    lz->seq = seq;
    lz->payload = payload;
    lz->len = len;
    lz->ix = *ix;
    memset(ix, 0, sizeof *ix);
    lz->unloaded = lz->ix.ntenants;
    if (!lz->unloaded)
        tms__lazy_free(lz);
    return TMS_OK;
}

/* A part that does not decode: the snapshot set aside, no more writes (the state lacks a tenant). */
static tms_err broken(tms_engine *e, tms_err err, const char *part_why, char *why, size_t whylen)
{
    if (err == TMS_E_NOMEM) {
        snprintf(why, whylen, "out of memory decoding a tenant of the snapshot");
        return err;
    }
    if (e->opened) {   /* during the open: its fold stops, and the open sets the snapshot aside and refolds */
        tms_snapshot_set_aside(e->dir, e->lazy.seq);
        e->failed = 1;
    }
    snprintf(why, whylen, "the snapshot of seq %llu that the open started from: %s; it was set aside: restart the "
             "writer (its open folds the log)", (unsigned long long)e->lazy.seq, part_why);
    return TMS_E_CORRUPT;
}

tms_err tms__lazy_need(tms_engine *e, const char *tenant, char *why, size_t whylen)
{
    tms__lazy *lz = &e->lazy;
    char part_why[300];
    if (!lz->unloaded || !tenant)
        return TMS_OK;
    const tms_snapshot_section *t = tms_snapshot_index_find(&lz->ix, tenant);
    size_t i = t ? (size_t)(t - lz->ix.tenants) : 0;
    if (!t || lz->loaded[i])
        return TMS_OK;   /* not the snapshot's (a new tenant, or none), or in the state already */
    tms_err err = tms_state_snapshot_load_tenant(e->state, lz->payload, lz->len, t, part_why, sizeof part_why);
    if (err)
        return broken(e, err, part_why, why, whylen);
    lz->loaded[i] = 1;
    e->tenants_loaded++;
    if (--lz->unloaded == 0)
        tms__lazy_free(lz);
    return TMS_OK;
}

tms_err tms__lazy_need_all(tms_engine *e, char *why, size_t whylen)
{
    tms_err err = TMS_OK;
    for (size_t i = 0; e->lazy.unloaded && !err; i++)
        if (!e->lazy.loaded[i])
            err = tms__lazy_need(e, e->lazy.ix.tenants[i].tenant, why, whylen);
    return err;
}

tms_err tms__lazy_need_frames(tms_engine *e, const uint8_t *const *frames, const size_t *lens, size_t n, char *why,
                              size_t whylen)
{
    char id[TMS_ID_MAX + 1];
    tms_err err = TMS_OK;
    for (size_t i = 0; i < n && e->lazy.unloaded && !err; i++) {
        size_t plen, tl;
        const char *t;
        int64_t time;
        const uint8_t *p = tms_log_frame_payload(frames[i], lens[i], &plen);
        if (!p || !tms_record_peek(p, plen, &t, &tl, &time) || tl == 0 || tl > TMS_ID_MAX)
            return tms__lazy_need_all(e, why, whylen);   /* laid out otherwise: every tenant, to be sure */
        memcpy(id, t, tl);
        id[tl] = '\0';
        err = tms__lazy_need(e, id, why, whylen);
    }
    return err;
}

tms_err tms__lazy_settle(tms_engine *e, char *why, size_t whylen)
{
    tms__lazy *lz = &e->lazy;
    if (!lz->unloaded)
        return TMS_OK;
    if (!(lz->proj.v = calloc(lz->ix.ntenants, sizeof *lz->proj.v)))
        return TMS_E_NOMEM;
    lz->proj.n = lz->proj.cap = lz->ix.ntenants;
    for (size_t i = 0; i < lz->ix.ntenants; i++) {
        const tms_tenant_digest *d = lz->loaded[i] ? NULL : tms_tenant_digests_find(&e->screen_tenants,
                                                                                     lz->ix.tenants[i].tenant);
        if (!lz->loaded[i] && !d)
            return tms__lazy_need_all(e, why, whylen);   /* not in the projection: cannot be; take them all */
        snprintf(lz->proj.v[i].id, sizeof lz->proj.v[i].id, "%s", lz->ix.tenants[i].tenant);
        if (d)
            memcpy(lz->proj.v[i].digest, d->digest, TMS_HASH_LEN);
    }
    return TMS_OK;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct ids {
    const char **v;
    size_t n;
} ids;

static int add_id(void *ctx, tms_tenant *t)
{
    ids *s = ctx;
    s->v[s->n++] = tms_tenant_id(t);
    return 0;
}

/* The projection digest of the composed state: each tenant's, the state's rendered or lz's kept, in byte order
 * of ids, combined (store.h, "Digests"). */
static tms_err composed_proj(const tms__lazy *lz, const tms_state *st, const ids *named, uint8_t out[TMS_HASH_LEN])
{
    tms_tenant_digests all = {0};
    size_t i = 0, j = 0, nt = lz->ix.ntenants;
    tms_err err = TMS_OK;
    if (!(all.v = calloc(nt + named->n + 1, sizeof *all.v)))
        return TMS_E_NOMEM;
    all.cap = nt + named->n + 1;
    while (!err && (i < nt || j < named->n)) {
        if (i < nt && lz->loaded[i]) {
            i++;   /* the state's: named */
            continue;
        }
        tms_tenant_digest *d = &all.v[all.n++];
        if (j == named->n || (i < nt && strcmp(lz->ix.tenants[i].tenant, named->v[j]) < 0)) {
            *d = lz->proj.v[i++];
            continue;
        }
        snprintf(d->id, sizeof d->id, "%s", named->v[j]);
        err = tms_state_tenant_digest(st, named->v[j++], d->digest);
    }
    if (!err)
        err = tms_tenant_digests_combine(&all, out);
    tms_tenant_digests_free(&all);
    return err;
}

tms_err tms__lazy_compose(const tms__lazy *lz, const tms_state *st, msgpack_sbuffer *enc,
                          uint8_t proj[TMS_HASH_LEN])
{
    tms_state_stats s;
    uint8_t digest[TMS_HASH_LEN];
    ids named = {0};
    tms_state_stats_get(st, &s);
    if (!(named.v = malloc((s.tenants ? s.tenants : 1) * sizeof *named.v)))
        return TMS_E_NOMEM;
    tms_err err = tms_state_foreach_tenant(st, add_id, &named) ? TMS_E_NOMEM : TMS_OK;
    if (!err) {
        qsort(named.v, named.n, sizeof *named.v, by_id);
        err = tms_state_snapshot_compose(lz->payload, &lz->ix, st, named.v, named.n, digest, enc);
    }
    if (!err)
        err = composed_proj(lz, st, &named, proj);
    free(named.v);
    return err;
}
