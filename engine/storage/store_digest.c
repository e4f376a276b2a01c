/* store_digest.c -- the digest of a projection's databases (store.h,
 * "Digests"), read from LMDB: the streaming BLAKE2b both sides use
 * (tms__digest), and the walk that groups the state's databases by tenant.
 * projection.c gives the same digest of an in-memory state. */
#include "store_internal.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void tms__digest_init(tms__digest *d)
{
    crypto_generichash_init(&d->h, NULL, 0, TMS_HASH_LEN);
    d->n = 0;
}

void tms__digest_put(tms__digest *d, const void *p, size_t n)
{
    if (n > sizeof d->buf - d->n) {
        crypto_generichash_update(&d->h, d->buf, d->n);
        d->n = 0;
        if (n > sizeof d->buf) {
            crypto_generichash_update(&d->h, p, n);
            return;
        }
    }
    memcpy(d->buf + d->n, p, n);
    d->n += n;
}

void tms__digest_final(tms__digest *d, uint8_t out[TMS_HASH_LEN])
{
    crypto_generichash_update(&d->h, d->buf, d->n);
    d->n = 0;
    crypto_generichash_final(&d->h, out, TMS_HASH_LEN);
}

void tms__digest_db(tms__digest *d, int db)
{
    uint64_t hdr[2] = {(uint64_t)db, 0};
    tms__digest_put(d, hdr, sizeof hdr);
}

void tms__digest_entry(tms__digest *d, const void *k, size_t klen, const void *v, size_t vlen)
{
    uint64_t lens[2] = {klen, vlen};
    tms__digest_put(d, lens, sizeof lens);
    tms__digest_put(d, k, klen);
    tms__digest_put(d, v, vlen);
}

tms_err tms__digest_dbs(tms_txn *tx, tms__digest *h, int from, int to, int skip)
{
    for (int i = from; i < to; i++) {
        if (i == skip)
            continue;
        MDB_cursor *cur;
        MDB_val k, v;
        int rc = mdb_cursor_open(tx->txn, tx->st->dbi[i], &cur);
        if (rc)
            return tms__store_err(rc);
        if (h)
            tms__digest_db(h, i);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            if (h && (i != TMS_DB_META || !tms__is_history_meta(&k)))   /* the index's mark: not state */
                tms__digest_entry(h, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND)
            return tms__store_err(rc);
    }
    return TMS_OK;
}

/* ---- by tenant -------------------------------------------------------------------- */

/* d appended to list: TMS_OK, TMS_E_NOMEM. */
static tms_err list_push(tms_tenant_digests *list, const tms_tenant_digest *d)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        tms_tenant_digest *v = realloc(list->v, cap * sizeof *v);
        if (!v)
            return TMS_E_NOMEM;
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n++] = *d;
    return TMS_OK;
}

tms_err tms__tenant_group(tms__digest *outer, tms_tenant_digests *list, const char *t, size_t tlen,
                          const uint8_t pd[TMS_HASH_LEN])
{
    tms_tenant_digest d;
    if (outer)
        tms__digest_entry(outer, t, tlen, pd, TMS_HASH_LEN);
    if (!list)
        return TMS_OK;
    memset(&d, 0, sizeof d);
    /* keys whose tenant part is no id (a damaged projection): kept cut short, in order, never found */
    d.bad = tlen == 0 || tlen > TMS_ID_MAX || memchr(t, '\0', tlen) != NULL;
    memcpy(d.id, t, tlen < TMS_ID_MAX ? tlen : TMS_ID_MAX);
    memcpy(d.digest, pd, TMS_HASH_LEN);
    return list_push(list, &d);
}

void tms_tenant_digests_free(tms_tenant_digests *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

const tms_tenant_digest *tms_tenant_digests_find(const tms_tenant_digests *l, const char *id)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {   /* the list is in byte order of ids */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->v[mid].id, id);
        if (!c)
            return l->v[mid].bad ? NULL : &l->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

#define KEY_LEN_MAX 65536   /* an LMDB node's key length is 16 bits */

void tms__digest_meta(tms__digest *d, uint64_t seq, const uint8_t *head)
{
    uint32_t format = TMS_STORE_FORMAT;
    tms__digest_db(d, TMS_DB_META);
    if (!seq)
        return;   /* an empty projection has no meta */
    tms__digest_entry(d, "format", 6, &format, 4);
    tms__digest_entry(d, "head", 4, head, TMS_HASH_LEN);
    tms__digest_entry(d, "seq", 3, &seq, 8);
}

/* l's groups into out, after meta at (seq, head) when head is not NULL. */
static tms_err combine(const tms_tenant_digests *l, uint64_t seq, const uint8_t *head, uint8_t out[TMS_HASH_LEN])
{
    tms__digest *d = malloc(sizeof *d);
    if (!d)
        return TMS_E_NOMEM;
    tms__digest_init(d);
    if (head)
        tms__digest_meta(d, seq, head);
    tms__digest_db(d, TMS__DIGEST_BY_TENANT);
    for (size_t i = 0; i < l->n; i++)
        tms__tenant_group(d, NULL, l->v[i].id, strlen(l->v[i].id), l->v[i].digest);
    tms__digest_final(d, out);
    free(d);
    return TMS_OK;
}

tms_err tms_tenant_digests_combine(const tms_tenant_digests *l, uint8_t out[TMS_HASH_LEN])
{
    return combine(l, 0, NULL, out);
}

tms_err tms_tenant_digests_combine_meta(const tms_tenant_digests *l, uint64_t seq, const uint8_t head[TMS_HASH_LEN],
                                        uint8_t out[TMS_HASH_LEN])
{
    return combine(l, seq, head, out);
}

/* One database's cursor in the walk by tenant: at its current entry, or done. */
typedef struct walk {
    MDB_cursor *cur;
    MDB_val k, v;
    int done;
    size_t tlen;   /* the current key's tenant part: up to its first NUL (the whole key in tenants) */
} walk;

static int walk_next(walk *w, int db, MDB_cursor_op op, int *rc)
{
    *rc = mdb_cursor_get(w->cur, &w->k, &w->v, op);
    if (*rc) {
        w->done = 1;
        return *rc == MDB_NOTFOUND ? (*rc = 0) : -1;
    }
    const char *nul = db == TMS_DB_TENANTS ? NULL : memchr(w->k.mv_data, '\0', w->k.mv_size);
    w->tlen = nul ? (size_t)(nul - (const char *)w->k.mv_data) : w->k.mv_size;
    return 0;
}

/* a's tenant part against (t, tlen), in byte order, a shorter prefix first. */
static int tenant_cmp(const walk *a, const char *t, size_t tlen)
{
    int c = memcmp(a->k.mv_data, t, a->tlen < tlen ? a->tlen : tlen);
    return c ? c : (a->tlen > tlen) - (a->tlen < tlen);
}

/* The smallest tenant any walk is at: 1 with (*t, *tlen), 0 when all are done. */
static int next_tenant(walk *w, const char **t, size_t *tlen)
{
    int any = 0;
    for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END; db++) {
        walk *x = &w[db];
        if (x->done || (any && tenant_cmp(x, *t, *tlen) >= 0))
            continue;
        *t = x->k.mv_data;
        *tlen = x->tlen;
        any = 1;
    }
    return any;
}

/* ---- the walk, in two halves on two cores ----
 * The tenants are split at the middle one of the tenants database (in byte
 * order: keys "t\0..." of a tenant t sort with t, after every tenant
 * before it and before every tenant after it, so a cursor put at t by
 * MDB_SET_RANGE is at t's first entry). The first half is walked on the
 * caller's thread, the second on a thread of its own in a read transaction
 * of the same snapshot (mdb_txn_id equal; else the caller walks it too,
 * after the first); each hashes its tenants' groups, and the digest is
 * made of the two lists in order. A walk faults on a damaged page: the
 * caller's is store_guard.c's to catch, the second's its own
 * (tms__guarded); whatever it holds is reachable from the store
 * (st->walking), and a fault on the caller's thread waits for the second
 * (tms__digest_walk_abandon) before the store is abandoned. */
#define SPLIT_MIN_TENANTS 2
size_t tms__digest_split_min = 20000;   /* accounts: below this a thread costs more than it saves */

typedef struct half {
    const tms_store *st;
    MDB_txn *txn;                 /* the second half's own (NULL: the caller's tx) */
    walk w[TMS_DB_STATE_END];
    const char *lo, *hi;          /* its tenants: [lo, hi) (NULL: from the first, to the last) */
    size_t lolen, hilen;
    tms_tenant_digests groups;    /* (when the caller wants them) */
    uint8_t *outer;               /* what its groups add to the digest, as tms__digest_entry feeds it */
    size_t on, ocap;
    int want_list;
    tms__digest pd;
    tms_err err;
    char copy[KEY_LEN_MAX];
} half;

/* Group (t, tlen, d) of h: its bytes for the outer digest kept, and into its list when wanted. */
static tms_err half_group(half *h, const char *t, size_t tlen, const uint8_t d[TMS_HASH_LEN])
{
    uint64_t lens[2] = {tlen, TMS_HASH_LEN};
    size_t need = sizeof lens + tlen + TMS_HASH_LEN;
    if (h->ocap - h->on < need) {
        size_t cap = h->ocap ? h->ocap : 4096;
        while (cap - h->on < need)
            cap *= 2;
        uint8_t *p = realloc(h->outer, cap);
        if (!p)
            return TMS_E_NOMEM;
        h->outer = p;
        h->ocap = cap;
    }
    memcpy(h->outer + h->on, lens, sizeof lens);
    memcpy(h->outer + h->on + sizeof lens, t, tlen);
    memcpy(h->outer + h->on + sizeof lens + tlen, d, TMS_HASH_LEN);
    h->on += need;
    return h->want_list ? tms__tenant_group(NULL, &h->groups, t, tlen, d) : TMS_OK;
}

typedef struct halves {
    tms__digest outer;            /* the projection's digest */
    half h[2];
    char split[KEY_LEN_MAX];      /* the first tenant of the second half */
    uint64_t txn_id;              /* the caller's snapshot */
    pthread_t thread;
    int threaded;
} halves;

/* Every state database, tenant by tenant (the cursors in step), over h's range, into h->groups. */
static tms_err walk_half(MDB_txn *txn, half *h)
{
    const char *t = NULL;
    size_t tlen = 0;
    int rc = 0;
    walk *w = h->w;
    for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END && !rc; db++) {
        MDB_val k = {h->lolen, (void *)h->lo};
        if ((rc = mdb_cursor_open(txn, h->st->dbi[db], &w[db].cur)))
            break;
        w[db].k = k;
        if (walk_next(&w[db], db, h->lo ? MDB_SET_RANGE : MDB_FIRST, &rc))
            break;
    }
    while (!rc && next_tenant(w, &t, &tlen)) {
        uint8_t d[TMS_HASH_LEN];
        size_t n = tlen;   /* < 2^16: LMDB's key length (a damaged page may claim any) */
        if (h->hi && tenant_cmp(&(walk){.k = {tlen, (void *)t}, .tlen = tlen}, h->hi, h->hilen) >= 0)
            break;   /* the second half's */
        memcpy(h->copy, t, n);   /* the cursors move on: LMDB's pages are not ours to keep pointing into */
        tms__digest_init(&h->pd);
        for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END && !rc; db++) {
            tms__digest_db(&h->pd, db);
            while (!rc && !w[db].done && !tenant_cmp(&w[db], h->copy, n)) {
                tms__digest_entry(&h->pd, w[db].k.mv_data, w[db].k.mv_size, w[db].v.mv_data, w[db].v.mv_size);
                walk_next(&w[db], db, MDB_NEXT, &rc);
            }
        }
        tms__digest_final(&h->pd, d);
        tms_err err = rc ? TMS_OK : half_group(h, h->copy, n, d);
        if (err)
            return err;
    }
    return rc ? tms__store_err(rc) : TMS_OK;
}

static tms_err second_half(void *arg)
{
    halves *hs = arg;
    half *h = &hs->h[1];
    if (mdb_txn_begin(h->st->env, NULL, MDB_RDONLY, &h->txn)) {
        h->txn = NULL;
        return TMS_E_BUSY;   /* (no reader slot, ...): the caller walks it */
    }
    if (mdb_txn_id(h->txn) != hs->txn_id)
        return TMS_E_BUSY;   /* another snapshot: the caller walks it in its own */
    return walk_half(h->txn, h);
}

static void *second_main(void *arg)
{
    halves *hs = arg;
    hs->h[1].err = tms__guarded(second_half, hs);
    return NULL;
}

/* The middle tenant of the tenants database into hs->split: 1, or 0 when the walk stays whole. */
static int split_at(tms_txn *tx, halves *hs)
{
    MDB_stat ts, as;
    MDB_cursor *cur;
    MDB_val k, v;
    if (mdb_stat(tx->txn, tx->st->dbi[TMS_DB_TENANTS], &ts) || mdb_stat(tx->txn, tx->st->dbi[TMS_DB_ACCOUNTS], &as) ||
        ts.ms_entries < SPLIT_MIN_TENANTS || as.ms_entries < tms__digest_split_min ||
        mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_TENANTS], &cur))
        return 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (size_t i = 0; !rc && i < ts.ms_entries / 2; i++)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    if (!rc && k.mv_size > 0 && k.mv_size < sizeof hs->split && !memchr(k.mv_data, '\0', k.mv_size)) {
        memcpy(hs->split, k.mv_data, k.mv_size);
        hs->h[0].hi = hs->h[1].lo = hs->split;
        hs->h[0].hilen = hs->h[1].lolen = k.mv_size;
    }
    mdb_cursor_close(cur);
    return !rc && hs->h[1].lo;
}

static void half_close(half *h)
{
    for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END; db++)
        if (h->w[db].cur)
            mdb_cursor_close(h->w[db].cur);
    memset(h->w, 0, sizeof h->w);
    if (h->txn)
        mdb_txn_abort(h->txn);
    h->txn = NULL;
}

void tms__digest_walk_abandon(void *walking)
{
    halves *hs = walking;
    if (hs && hs->threaded) {   /* the second half's walk ends (a fault there is its own): it is waited for */
        pthread_join(hs->thread, NULL);
        hs->threaded = 0;
    }
}

/* The two halves' groups in order: into outer, and list when not NULL. */
static tms_err join_halves(halves *hs, tms__digest *outer, tms_tenant_digests *list)
{
    for (int k = 0; k < 2; k++) {
        if (hs->h[k].on)   /* (an empty half has no buffer) */
            tms__digest_put(outer, hs->h[k].outer, hs->h[k].on);
        for (size_t i = 0; list && i < hs->h[k].groups.n; i++)
            if (list_push(list, &hs->h[k].groups.v[i]))
                return TMS_E_NOMEM;
    }
    return TMS_OK;
}

static void halves_free(halves *hs)
{
    for (int k = 0; k < 2; k++) {
        half_close(&hs->h[k]);
        tms_tenant_digests_free(&hs->h[k].groups);
        free(hs->h[k].outer);
    }
    free(hs);
}

/* The walk over tx's tenants, in two halves when the projection is large enough: into hs->outer and list. */
static tms_err walk_tenants(tms_txn *tx, halves *hs, tms_tenant_digests *list)
{
    for (int k = 0; k < 2; k++) {
        hs->h[k].st = tx->st;
        hs->h[k].want_list = list != NULL;
    }
    hs->txn_id = mdb_txn_id(tx->txn);
    int two = split_at(tx, hs);
    hs->threaded = two && pthread_create(&hs->thread, NULL, second_main, hs) == 0;
    tms_err err = walk_half(tx->txn, &hs->h[0]);
    if (hs->threaded) {
        pthread_join(hs->thread, NULL);
        hs->threaded = 0;
    } else if (two) {
        hs->h[1].err = TMS_E_BUSY;   /* no thread: walked here */
    }
    if (!err && two && hs->h[1].err == TMS_E_BUSY) {   /* not walked in this snapshot: here, after the first */
        half_close(&hs->h[1]);
        tms_tenant_digests_free(&hs->h[1].groups);
        hs->h[1].on = 0;
        hs->h[1].err = walk_half(tx->txn, &hs->h[1]);
    }
    if (!err && two)
        err = hs->h[1].err;
    return err ? err : join_halves(hs, &hs->outer, list);
}

tms_err tms_store_tenant_digests(tms_txn *tx, int state_only, uint8_t out[TMS_HASH_LEN], tms_tenant_digests *list)
{
    halves *hs = aligned_alloc(64, (sizeof *hs + 63) & ~(size_t)63);   /* (libsodium's states are 64-aligned) */
    if (!hs)
        return TMS_E_NOMEM;
    memset(hs, 0, sizeof *hs);
    tx->st->walking = hs;   /* reachable with the store should a walk fault (store_guard.c) */
    tms__digest_init(&hs->outer);
    tms_err err = state_only ? TMS_OK : tms__digest_dbs(tx, &hs->outer, TMS_DB_META, TMS_DB_META + 1, -1);
    if (!err) {
        tms__digest_db(&hs->outer, TMS__DIGEST_BY_TENANT);
        err = walk_tenants(tx, hs, list);
    }
    if (!err)
        tms__digest_final(&hs->outer, out);
    tx->st->walking = NULL;
    halves_free(hs);
    return err;
}

tms_err tms_store_digest(tms_txn *tx, uint8_t out[TMS_HASH_LEN])
{
    return tms_store_tenant_digests(tx, 0, out, NULL);
}

tms_err tms_store_state_digest(tms_txn *tx, uint8_t out[TMS_HASH_LEN])
{
    return tms_store_tenant_digests(tx, 1, out, NULL);
}
