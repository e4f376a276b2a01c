/* store_digest.c -- the digest of a projection's databases (store.h,
 * "Digests"), read from LMDB: the streaming BLAKE2b both sides use
 * (tms__digest), and the walk that groups the state's databases by tenant.
 * projection.c gives the same digest of an in-memory state. */
#include "store_internal.h"
#include <pthread.h>
#include <stdatomic.h>
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

/* ---- the walk, in runs of tenants on two cores ----
 * The tenants (the tenants database, in byte order) are cut into at most
 * RUNS runs of consecutive tenants. Keys "t\0..." of a tenant t sort after
 * every smaller tenant's and before every larger one's, so a cursor put at
 * a run's first tenant by MDB_SET_RANGE is at that tenant's first entry.
 * The caller's thread and, when the caller leaves a core idle (two_cores:
 * verify --since; a writer's open, whose snapshot's thread decodes only the
 * tail's tenants: engine_lazy.c), a helper take runs in
 * turn (an atomic counter:
 * runs of unequal size still share the two cores); the helper reads in a
 * read transaction of the same snapshot (mdb_txn_id equal; else it takes
 * none and the caller walks every run). Each run hashes its own tenants'
 * groups, and the digest is made of the runs' groups in order: the bytes
 * of one walk. A walk faults on a damaged page: the caller's fault is
 * store_guard.c's to catch, the helper's its own (tms__guarded); what the
 * walk holds is reachable from the store (st->walking), and a fault on the
 * caller's thread waits for the helper (tms__digest_walk_abandon) before
 * the store is abandoned. */
#define RUNS 16
size_t tms__digest_split_min = 20000;   /* accounts: below this a thread costs more than it saves */

typedef struct run {
    char *lo, *hi;                /* its tenants: [lo, hi) (NULL: from the first, to the last) */
    size_t lolen, hilen;
    tms_tenant_digests groups;    /* (when the caller wants them) */
    uint8_t *outer;               /* what its groups add to the digest, as tms__digest_entry feeds it */
    size_t on, ocap;
    tms_err err;
} run;

typedef struct walker {           /* a thread's */
    walk w[TMS_DB_STATE_END];
    MDB_cursor *icur;             /* the index database it reads (walk_index_db): closed by walks_free after a fault */
    tms__digest pd;
    char copy[KEY_LEN_MAX];
} walker;

typedef struct walks {
    tms__digest outer;            /* the projection's digest */
    walker caller, helper;
    run runs[RUNS];
    size_t nruns;
    int want_list;
    const tms_store *st;
    MDB_txn *helper_txn;
    uint64_t txn_id;              /* the caller's snapshot */
    _Atomic size_t next;          /* the next run to take */
    int walk_index;               /* the as-of index read through too, once the runs are taken (walk_index) */
    _Atomic int next_db;          /* ... the next of its databases to take */
    tms_err index_err[2];         /* ... the caller's, the helper's */
    pthread_t thread;
    int threaded;
    tms_err helper_err;           /* the helper's fault (TMS_E_CORRUPT: its run half done) */
} walks;

/* Group (t, tlen, d) of r: its bytes for the outer digest kept, and into its list when wanted. */
static tms_err run_group(run *r, int want_list, const char *t, size_t tlen, const uint8_t d[TMS_HASH_LEN])
{
    uint64_t lens[2] = {tlen, TMS_HASH_LEN};
    size_t need = sizeof lens + tlen + TMS_HASH_LEN;
    if (r->ocap - r->on < need) {
        size_t cap = r->ocap ? r->ocap : 4096;
        while (cap - r->on < need)
            cap *= 2;
        uint8_t *p = realloc(r->outer, cap);
        if (!p)
            return TMS_E_NOMEM;
        r->outer = p;
        r->ocap = cap;
    }
    memcpy(r->outer + r->on, lens, sizeof lens);
    memcpy(r->outer + r->on + sizeof lens, t, tlen);
    memcpy(r->outer + r->on + sizeof lens + tlen, d, TMS_HASH_LEN);
    r->on += need;
    return want_list ? tms__tenant_group(NULL, &r->groups, t, tlen, d) : TMS_OK;
}

static void walker_close(walker *k)
{
    for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END; db++)
        if (k->w[db].cur)
            mdb_cursor_close(k->w[db].cur);
    memset(k->w, 0, sizeof k->w);
    if (k->icur)
        mdb_cursor_close(k->icur);
    k->icur = NULL;
}

/* Every state database, tenant by tenant (the cursors in step), over r's tenants, into r. */
static tms_err walk_run(const walks *ws, MDB_txn *txn, walker *k, run *r)
{
    const char *t = NULL;
    size_t tlen = 0;
    int rc = 0;
    walk *w = k->w;
    walker_close(k);
    for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END && !rc; db++) {
        MDB_val key = {r->lolen, r->lo};
        if ((rc = mdb_cursor_open(txn, ws->st->dbi[db], &w[db].cur)))
            break;
        w[db].k = key;
        if (walk_next(&w[db], db, r->lo ? MDB_SET_RANGE : MDB_FIRST, &rc))
            break;
    }
    while (!rc && next_tenant(w, &t, &tlen)) {
        uint8_t d[TMS_HASH_LEN];
        size_t n = tlen;   /* < 2^16: LMDB's key length (a damaged page may claim any) */
        if (r->hi && tenant_cmp(&(walk){.k = {tlen, (void *)t}, .tlen = tlen}, r->hi, r->hilen) >= 0)
            break;   /* the next run's */
        memcpy(k->copy, t, n);   /* the cursors move on: LMDB's pages are not ours to keep pointing into */
        tms__digest_init(&k->pd);
        for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END && !rc; db++) {
            tms__digest_db(&k->pd, db);
            while (!rc && !w[db].done && !tenant_cmp(&w[db], k->copy, n)) {
                tms__digest_entry(&k->pd, w[db].k.mv_data, w[db].k.mv_size, w[db].v.mv_data, w[db].v.mv_size);
                walk_next(&w[db], db, MDB_NEXT, &rc);
            }
        }
        tms__digest_final(&k->pd, d);
        tms_err err = rc ? TMS_OK : run_group(r, ws->want_list, k->copy, n, d);
        if (err)
            return err;
    }
    return rc ? tms__store_err(rc) : TMS_OK;
}

/* The as-of index's databases, read through for faults only (tms_history_walk's pages: the writer writes into
 * them), taken in turn by the walk's threads once no run is left: the largest first. */
static const int index_dbs[] = {TMS_DB_VERSIONS, TMS_DB_DIST_AT, TMS_DB_CHANGES, TMS_DB_VISIBLE_AT, TMS_DB_TIMES,
                                TMS_DB_FRAMES};
#define NINDEX ((int)(sizeof index_dbs / sizeof index_dbs[0]))
_Static_assert(NINDEX == TMS_DB_COUNT - TMS_DB_STATE_END, "every database of the index, once");

_Atomic uint64_t tms__index_entries_walked;

static tms_err walk_index_db(const walks *ws, MDB_txn *txn, walker *w, int db)
{
    MDB_val k, v;
    uint64_t n = 0;
    int rc = mdb_cursor_open(txn, ws->st->dbi[db], &w->icur);
    if (rc) {
        w->icur = NULL;
        return tms__store_err(rc);
    }
    while ((rc = mdb_cursor_get(w->icur, &k, &v, MDB_NEXT)) == 0)
        n++;   /* (an unpositioned cursor's first NEXT is the first entry) */
    mdb_cursor_close(w->icur);
    w->icur = NULL;
    atomic_fetch_add(&tms__index_entries_walked, n);
    return rc == MDB_NOTFOUND ? TMS_OK : tms__store_err(rc);
}

/* What a failure leaves to take: nothing, on either thread. */
static void take_nothing_more(walks *ws)
{
    atomic_store(&ws->next, ws->nruns);
    atomic_store(&ws->next_db, NINDEX);
}

static void take_index(walks *ws, MDB_txn *txn, walker *w, tms_err *err)
{
    for (int i; !*err && (i = atomic_fetch_add(&ws->next_db, 1)) < NINDEX;)
        if ((*err = walk_index_db(ws, txn, w, index_dbs[i])))
            take_nothing_more(ws);
}

/* Runs taken in turn, until none is left. */
static void take_runs(walks *ws, MDB_txn *txn, walker *k)
{
    for (size_t i; (i = atomic_fetch_add(&ws->next, 1)) < ws->nruns;)
        if ((ws->runs[i].err = walk_run(ws, txn, k, &ws->runs[i])) != TMS_OK)
            take_nothing_more(ws);   /* a failure: no more runs (nor the index), on either thread */
}

static tms_err helper_runs(void *arg)
{
    walks *ws = arg;
    if (mdb_txn_begin(ws->st->env, NULL, MDB_RDONLY, &ws->helper_txn)) {
        ws->helper_txn = NULL;
        return TMS_OK;   /* (no reader slot, ...): the caller takes every run */
    }
    if (mdb_txn_id(ws->helper_txn) != ws->txn_id)
        return TMS_OK;   /* another snapshot: the caller takes every run (and the index) */
    take_runs(ws, ws->helper_txn, &ws->helper);
    if (ws->walk_index)
        take_index(ws, ws->helper_txn, &ws->helper, &ws->index_err[1]);
    return TMS_OK;
}

static void *helper_main(void *arg)
{
    walks *ws = arg;
    ws->helper_err = tms__guarded(helper_runs, ws);   /* a fault: TMS_E_CORRUPT (its run's err unset) */
    if (ws->helper_err)
        take_nothing_more(ws);
    return NULL;
}

/* The runs' bounds, cut from the tenants database: 1 when there are two or more, else 0 (one walk of all). */
static int cut_runs(tms_txn *tx, walks *ws)
{
    MDB_stat ts, as;
    MDB_cursor *cur;
    MDB_val k, v;
    ws->nruns = 1;
    if (mdb_stat(tx->txn, tx->st->dbi[TMS_DB_TENANTS], &ts) || mdb_stat(tx->txn, tx->st->dbi[TMS_DB_ACCOUNTS], &as) ||
        ts.ms_entries < 2 || as.ms_entries < tms__digest_split_min ||
        mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_TENANTS], &cur))
        return 0;
    size_t n = ts.ms_entries < RUNS ? ts.ms_entries : RUNS, at = 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (size_t i = 0; !rc && ws->nruns < n; i++, rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (i < ts.ms_entries * ws->nruns / n || k.mv_size == 0 || memchr(k.mv_data, '\0', k.mv_size))
            continue;   /* (a key holding a NUL is no tenant's: no bound) */
        char *b = malloc(k.mv_size);
        if (!b)
            break;
        memcpy(b, k.mv_data, k.mv_size);
        at = ws->nruns++;
        ws->runs[at - 1].hi = ws->runs[at].lo = b;
        ws->runs[at - 1].hilen = ws->runs[at].lolen = k.mv_size;
    }
    mdb_cursor_close(cur);
    return ws->nruns > 1;
}

void tms__digest_walk_abandon(void *walking)
{
    walks *ws = walking;
    if (ws && ws->threaded) {   /* the helper ends its run or index database (a fault there is its own: caught)
                                   and takes no more */
        take_nothing_more(ws);
        pthread_join(ws->thread, NULL);
        ws->threaded = 0;
    }
}

/* The runs' groups in order: into ws->outer, and list when not NULL. */
static tms_err join_runs(walks *ws, tms_tenant_digests *list)
{
    for (size_t i = 0; i < ws->nruns; i++) {
        run *r = &ws->runs[i];
        if (r->on)   /* (an empty run has no buffer) */
            tms__digest_put(&ws->outer, r->outer, r->on);
        for (size_t g = 0; list && g < r->groups.n; g++)
            if (list_push(list, &r->groups.v[g]))
                return TMS_E_NOMEM;
    }
    return TMS_OK;
}

static void walks_free(walks *ws)
{
    walker_close(&ws->caller);
    walker_close(&ws->helper);
    if (ws->helper_txn)
        mdb_txn_abort(ws->helper_txn);
    for (size_t i = 0; i < RUNS; i++) {
        free(ws->runs[i].lo);   /* (each bound is one run's lo and the one before's hi) */
        tms_tenant_digests_free(&ws->runs[i].groups);
        free(ws->runs[i].outer);
    }
    free(ws);
}

/* The walk over tx's tenants, in runs on two threads when the projection is large enough: into ws->outer and
 * list. */
static tms_err walk_tenants(tms_txn *tx, walks *ws, int two_cores, tms_tenant_digests *list)
{
    ws->st = tx->st;
    ws->want_list = list != NULL;
    ws->txn_id = mdb_txn_id(tx->txn);
    ws->nruns = 1;   /* one run of every tenant, unless cut */
    ws->threaded = two_cores && cut_runs(tx, ws) && pthread_create(&ws->thread, NULL, helper_main, ws) == 0;
    take_runs(ws, tx->txn, &ws->caller);
    if (ws->walk_index)
        take_index(ws, tx->txn, &ws->caller, &ws->index_err[0]);
    if (ws->threaded) {
        pthread_join(ws->thread, NULL);
        ws->threaded = 0;
    }
    tms_err err = ws->helper_err;   /* the state's runs' failures first, then the index's */
    for (size_t i = 0; !err && i < ws->nruns; i++)
        err = ws->runs[i].err;
    if (!err)
        err = ws->index_err[0] ? ws->index_err[0] : ws->index_err[1];
    return err ? err : join_runs(ws, list);
}

tms_err tms_store_tenant_digests(tms_txn *tx, int state_only, uint8_t out[TMS_HASH_LEN], tms_tenant_digests *list)
{
    return tms__store_tenant_digests(tx, state_only, 0, 0, out, list);
}

tms_err tms__store_tenant_digests(tms_txn *tx, int state_only, int two_cores, int walk_index,
                                  uint8_t out[TMS_HASH_LEN], tms_tenant_digests *list)
{
    walks *ws = aligned_alloc(64, (sizeof *ws + 63) & ~(size_t)63);   /* (libsodium's states are 64-aligned) */
    if (!ws)
        return TMS_E_NOMEM;
    memset(ws, 0, sizeof *ws);
    tx->st->walking = ws;   /* reachable with the store should a walk fault (store_guard.c) */
    ws->walk_index = walk_index;
    tms__digest_init(&ws->outer);
    tms_err err = state_only ? TMS_OK : tms__digest_dbs(tx, &ws->outer, TMS_DB_META, TMS_DB_META + 1, -1);
    if (!err) {
        tms__digest_db(&ws->outer, TMS__DIGEST_BY_TENANT);
        err = walk_tenants(tx, ws, two_cores, list);
    }
    if (!err)
        tms__digest_final(&ws->outer, out);
    tx->st->walking = NULL;
    walks_free(ws);
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
