/* store_digest.c -- the digest of a projection's databases (store.h,
 * "Digests"), read from LMDB: the streaming BLAKE2b both sides use
 * (tms__digest), and the walk that groups the state's databases by tenant.
 * projection.c gives the same digest of an in-memory state. */
#include "store_internal.h"
#include "relay.h"
#include <stdlib.h>
#include <string.h>

void tms__digest_init(tms__digest *d)
{
    crypto_generichash_init(&d->h, NULL, 0, TMS_HASH_LEN);
    d->n = 0;
}

static void digest_put(tms__digest *d, const void *p, size_t n)
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
    digest_put(d, hdr, sizeof hdr);
}

void tms__digest_entry(tms__digest *d, const void *k, size_t klen, const void *v, size_t vlen)
{
    uint64_t lens[2] = {klen, vlen};
    digest_put(d, lens, sizeof lens);
    digest_put(d, k, klen);
    digest_put(d, v, vlen);
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

/* ---- the walk's hashing, on a second core ----
 * The walk (on the caller's thread: the only one that touches LMDB's pages,
 * which store_guard.c guards) writes what each tenant's digest hashes into
 * a chunk, as tagged runs: 'B' le16 length, id (a group begins), 'D' le32
 * length, bytes (hashed into it), 'E' (it ends). A relay's worker hashes
 * the chunk before while the walk fills the next (relay.h): the hashing was
 * 60% of a walk's time. Everything the worker touches is on the heap and
 * its own (the groups it makes are copied out at the end), so a fault in
 * the walk, which leaves by siglongjmp, leaves it nothing freed under it. */
#define CHUNK (256u << 10)

typedef struct hchunk {
    uint8_t *p;
    size_t n, cap;
    size_t run;   /* where the open 'D' run's length is (0: none) */
} hchunk;

typedef struct hasher {
    tms__relay relay;
    hchunk fill, work;            /* the walk's, the worker's */
    tms__digest outer;            /* the walk's until the first post, then the worker's */
    crypto_generichash_state pd;  /* the current group's */
    tms_tenant_digests groups;    /* the worker's, copied to the caller's list at the end */
    char id[KEY_LEN_MAX];         /* the worker's: the current group's tenant */
    size_t idlen;
    walk w[TMS_DB_STATE_END];     /* the walk's cursors */
    char copy[KEY_LEN_MAX];       /* the walk's: the tenant it is at */
} hasher;

static tms_err hash_chunk(void *ctx, int final)
{
    hasher *h = ctx;
    const uint8_t *p = h->work.p, *end = p + h->work.n;
    (void)final;
    while (p < end) {
        uint8_t tag = *p++;
        if (tag == 'B') {
            h->idlen = (size_t)p[0] | (size_t)p[1] << 8;
            memcpy(h->id, p + 2, h->idlen);
            p += 2 + h->idlen;
            crypto_generichash_init(&h->pd, NULL, 0, TMS_HASH_LEN);
        } else if (tag == 'D') {
            uint32_t n;
            memcpy(&n, p, 4);
            crypto_generichash_update(&h->pd, p + 4, n);
            p += 4 + n;
        } else {
            uint8_t d[TMS_HASH_LEN];
            crypto_generichash_final(&h->pd, d, TMS_HASH_LEN);
            tms_err err = tms__tenant_group(&h->outer, &h->groups, h->id, h->idlen, d);
            if (err)
                return err;
        }
    }
    return TMS_OK;
}

/* Room for n more bytes in the chunk being filled: 0, or -1 out of memory. */
static int room(hchunk *c, size_t n)
{
    if (c->cap - c->n >= n)
        return 0;
    size_t cap = c->cap ? c->cap : CHUNK;
    while (cap - c->n < n)
        cap *= 2;
    uint8_t *p = realloc(c->p, cap);
    if (!p)
        return -1;
    c->p = p;
    c->cap = cap;
    return 0;
}

/* The chunk filled handed to the worker, the one it did taken to fill next. */
static tms_err pass(hasher *h)
{
    tms_err err = tms__relay_wait(&h->relay);
    if (err)
        return err;
    hchunk t = h->work;
    h->work = h->fill;
    h->fill = t;
    h->fill.n = h->fill.run = 0;
    return tms__relay_post(&h->relay, 0);
}

static tms_err emit_tag(hasher *h, uint8_t tag, const void *id, size_t idlen)
{
    hchunk *c = &h->fill;
    if (room(c, 3 + idlen))
        return TMS_E_NOMEM;
    c->p[c->n++] = tag;
    if (tag == 'B') {
        c->p[c->n++] = (uint8_t)idlen;
        c->p[c->n++] = (uint8_t)(idlen >> 8);
        memcpy(c->p + c->n, id, idlen);
        c->n += idlen;
    }
    c->run = 0;
    return c->n >= CHUNK ? pass(h) : TMS_OK;
}

/* n bytes at p hashed into the current group, in pieces of at most CHUNK (a damaged node may claim any size:
 * the chunks stay small, a run's length within 32 bits). */
static tms_err put(hasher *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        hchunk *c = &h->fill;
        size_t k = n < CHUNK ? n : CHUNK;
        uint32_t len;
        if (room(c, 5 + k))
            return TMS_E_NOMEM;
        if (!c->run) {
            c->p[c->n] = 'D';
            c->run = c->n + 1;
            memset(c->p + c->run, 0, 4);
            c->n += 5;
        }
        memcpy(c->p + c->n, b, k);
        c->n += k;
        memcpy(&len, c->p + c->run, 4);
        len += (uint32_t)k;
        memcpy(c->p + c->run, &len, 4);
        b += k;
        n -= k;
        tms_err err = c->n >= CHUNK ? pass(h) : TMS_OK;   /* a group goes on in the next chunk (its state the worker's) */
        if (err)
            return err;
    }
    return TMS_OK;
}

static tms_err emit_entry(hasher *h, const MDB_val *k, const MDB_val *v)
{
    uint64_t lens[2] = {k->mv_size, v->mv_size};
    tms_err err = put(h, lens, sizeof lens);
    if (!err)
        err = put(h, k->mv_data, k->mv_size);
    return err ? err : put(h, v->mv_data, v->mv_size);
}

/* Every state database, tenant by tenant (the cursors in step), into h. */
static tms_err walk_tenants(tms_txn *tx, walk *w, hasher *h, char *copy)
{
    const char *t = NULL;
    size_t tlen = 0;
    int rc = 0;
    tms_err err = TMS_OK;
    for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END && !rc; db++)
        if (!(rc = mdb_cursor_open(tx->txn, tx->st->dbi[db], &w[db].cur)) && walk_next(&w[db], db, MDB_FIRST, &rc))
            break;
    while (!rc && !err && next_tenant(w, &t, &tlen)) {
        size_t n = tlen;   /* < 2^16: LMDB's key length (a damaged page may claim any) */
        memcpy(copy, t, n);   /* the cursors move on: LMDB's pages are not ours to keep pointing into */
        err = emit_tag(h, 'B', copy, n);
        for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END && !rc && !err; db++) {
            uint64_t hdr[2] = {(uint64_t)db, 0};   /* as tms__digest_db */
            err = put(h, hdr, sizeof hdr);
            while (!rc && !err && !w[db].done && !tenant_cmp(&w[db], copy, n)) {
                err = emit_entry(h, &w[db].k, &w[db].v);
                walk_next(&w[db], db, MDB_NEXT, &rc);
            }
        }
        if (!rc && !err)
            err = emit_tag(h, 'E', NULL, 0);
    }
    return err ? err : rc ? tms__store_err(rc) : TMS_OK;
}

/* What h holds but itself and its cursors: its worker stopped, its chunks and groups freed. */
static void hasher_release(hasher *h)
{
    tms__relay_destroy(&h->relay);
    free(h->fill.p);
    free(h->work.p);
    tms_tenant_digests_free(&h->groups);
    memset(&h->fill, 0, sizeof h->fill);
    memset(&h->work, 0, sizeof h->work);
}

void tms__digest_walk_abandon(void *walking)
{
    if (walking)   /* the walk faulted outside the relay's calls; its cursors, in LMDB's abandoned txn, are kept */
        hasher_release(walking);
}

tms_err tms_store_tenant_digests(tms_txn *tx, int state_only, uint8_t out[TMS_HASH_LEN], tms_tenant_digests *list)
{
    hasher *h = aligned_alloc(64, (sizeof *h + 63) & ~(size_t)63);   /* (libsodium's states are 64-aligned) */
    if (!h)
        return TMS_E_NOMEM;
    memset(h, 0, sizeof *h);
    if (tms__relay_init(&h->relay, hash_chunk, h)) {
        free(h);
        return TMS_E_NOMEM;
    }
    tx->st->walking = h;   /* reachable with the store should the walk fault (store_guard.c) */
    tms__digest_init(&h->outer);
    tms_err err = state_only ? TMS_OK : tms__digest_dbs(tx, &h->outer, TMS_DB_META, TMS_DB_META + 1, -1);
    if (!err) {
        tms__digest_db(&h->outer, TMS__DIGEST_BY_TENANT);
        err = walk_tenants(tx, h->w, h, h->copy);
    }
    if (!err)
        err = pass(h);
    tms_err stopped = tms__relay_stop(&h->relay);
    err = err ? err : stopped;
    for (size_t i = 0; !err && list && i < h->groups.n; i++)   /* the worker's groups, now the caller's */
        err = list_push(list, &h->groups.v[i]);
    if (!err)
        tms__digest_final(&h->outer, out);
    for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END; db++)
        if (h->w[db].cur)
            mdb_cursor_close(h->w[db].cur);
    tx->st->walking = NULL;
    hasher_release(h);
    free(h);
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
