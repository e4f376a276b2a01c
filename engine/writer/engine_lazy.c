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
#include <stdatomic.h>
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

/* A part that does not decode (TMS_E_CORRUPT): the snapshot the open started from is set aside, and every
 * newer one, which copied the part's bytes while the tenant was not loaded (not in a seeded directory, whose
 * snapshots are its only start: it is said instead); after the open, no more writes
 * (the state lacks a tenant): a restart folds the log (during the open, its fold stops and the open folds the
 * log instead, or fails saying so). Out of memory, or a tenant already in the state (no path makes one), is
 * said and changes nothing. */
static tms_err broken(tms_engine *e, tms_err err, const char *part_why, char *why, size_t whylen)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    if (err != TMS_E_CORRUPT) {
        snprintf(why, whylen, "decoding a tenant of the snapshot of seq %llu: %s", (unsigned long long)e->lazy.seq,
                 err == TMS_E_NOMEM ? "out of memory" : "it is in the state already");
        return err;
    }
    if (!e->log_base && tms_snapshot_list(e->dir, &seqs, &n) == TMS_OK)
        for (size_t i = 0; i < n && seqs[i] >= e->lazy.seq; i++)
            tms_snapshot_set_aside(e->dir, seqs[i]);
    free(seqs);
    if (e->log_base)   /* a seeded directory's snapshots are its only start (restart_based, engine.c) */
        snprintf(why, whylen, "the snapshot of seq %llu that the open started from: %s; nothing was set aside (a "
                 "seeded directory has no other start): seed it again", (unsigned long long)e->lazy.seq, part_why);
    else
        snprintf(why, whylen, "the snapshot of seq %llu that the open started from: %s; it and any newer one were "
                 "set aside%s", (unsigned long long)e->lazy.seq, part_why,
                 e->opened ? ": restart the writer (its open folds the log)" : "");
    if (e->opened) {
        e->failed = 1;
        snprintf(e->failed_why, sizeof e->failed_why, "%s", why);
    }
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
    if (--lz->unloaded == 0)
        tms__lazy_free(lz);
    return TMS_OK;
}

tms_err tms__lazy_need_all(tms_engine *e, char *why, size_t whylen)
{
    tms_err err = TMS_OK;
    for (size_t i = 0; e->lazy.unloaded && i < e->lazy.ix.ntenants && !err; i++)
        if (!e->lazy.loaded[i])
            err = tms__lazy_need(e, e->lazy.ix.tenants[i].tenant, why, whylen);
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

/* ---- the tail's tenants decoded ahead (engine_snapshot.c's preload) ----
 * The open's fold will decode every tenant the records after the snapshot
 * name; on the preload's thread (while the open's thread screens the
 * projection) and then on both, they are decoded first, each taker into a
 * state of its own, joined into the open's state once the snapshot is
 * taken. A tail that names most tenants costs a decode shared by two
 * threads, as a whole decode did before tenants were loaded on use. */

void tms__ahead_free(tms__ahead *a)
{
    free(a->which);
    tms_snapshot_taker_free(a->k[0]);
    tms_snapshot_taker_free(a->k[1]);
    a->which = NULL;
    a->n = 0;
    a->k[0] = a->k[1] = NULL;
}

tms_err tms__ahead_plan(tms__ahead *a, const char *logdir, uint64_t after, const uint8_t *payload, size_t len,
                        const tms_snapshot_index *ix)
{
    tms_log_iter *it = NULL;
    tms_log_record lr;
    char id[TMS_ID_MAX + 1];
    int has = 0, all = 0;
    uint8_t *want = calloc(ix->ntenants ? ix->ntenants : 1, 1);
    a->which = NULL;
    a->n = 0;
    a->k[0] = a->k[1] = NULL;
    a->err[0] = a->err[1] = TMS_OK;
    a->payload = payload;
    a->len = len;
    a->ix = ix;
    atomic_init(&a->next, 0);
    tms_err err = want && (a->which = malloc((ix->ntenants ? ix->ntenants : 1) * sizeof *a->which)) &&
                          (a->k[0] = tms_snapshot_taker_new(payload, len)) &&
                          (a->k[1] = tms_snapshot_taker_new(payload, len))
                      ? tms_log_iter_open_flags(logdir, after + 1, TMS_LOG_ITER_CHAIN_CHECKED, &it, NULL)
                      : TMS_E_NOMEM;
    while (!err && !all && !atomic_load(&a->stop) && (err = tms_log_iter_next(it, &lr, &has)) == TMS_OK && has) {
        const char *t;
        size_t tl;
        int64_t time;
        if (!tms_record_peek(lr.payload, lr.len, &t, &tl, &time) || tl > TMS_ID_MAX) {
            all = 1;   /* laid out otherwise: every tenant */
            break;
        }
        memcpy(id, t, tl);
        id[tl] = '\0';
        const tms_snapshot_section *s = tl ? tms_snapshot_index_find(ix, id) : NULL;
        if (s)
            want[s - ix->tenants] = 1;
    }
    tms_log_iter_close(it);
    for (size_t i = 0; !err && i < ix->ntenants; i++)
        if (all || want[i])
            a->which[a->n++] = i;
    free(want);
    return err;
}

void tms__ahead_run(tms__ahead *a, int who)
{
    size_t i;
    who = who ? 1 : 0;
    while (!a->err[who] && !atomic_load(&a->stop) && (i = atomic_fetch_add(&a->next, 1)) < a->n)
        if ((a->err[who] = tms_snapshot_taker_part(a->k[who], &a->ix->tenants[a->which[i]], a->why[who],
                                                   sizeof a->why[who])))
            atomic_store(&a->next, a->n);   /* the other stops too */
}

tms_err tms__ahead_join(tms_engine *e, tms__ahead *a, tms_state *st, char *why, size_t whylen)
{
    tms__lazy *lz = &e->lazy;
    tms_err err = TMS_OK;
    for (int who = 0; who < 2 && !err; who++)
        if ((err = a->err[who]))
            snprintf(why, whylen, "%s", a->why[who]);
    for (int who = 0; who < 2 && !err; who++) {
        tms_state *part = NULL;
        tms_snapshot_taker *k = a->k[who];
        a->k[who] = NULL;
        if (k && !(err = tms_snapshot_taker_end(k, &part, why, whylen)) &&   /* (k freed) */
            (err = tms_state_join_tenants(st, part, why, whylen)))
            tms_state_free(part);
    }
    for (size_t k = 0; !err && k < a->n && lz->unloaded; k++) {
        lz->loaded[a->which[k]] = 1;
        lz->unloaded--;
    }
    if (!err && lz->payload && !lz->unloaded)
        tms__lazy_free(lz);
    return err;
}
