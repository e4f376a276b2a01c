/* history_write.c -- writing the as-of index (history.h) in two steps:
 * tms_history_record turns a record's effects into a batch of operations
 * (with the values of the state right after that record), and
 * tms_history_apply writes a batch into a transaction. The engine keeps a
 * group's batch until its projection commit holds, so a commit that fails
 * after the log sync is written again, whole, by the catch-up.
 *
 * A batch is a byte string of operations (native byte order, private):
 *   'T' u64 time, u64 seq                                     the time index
 *   'V' u64 seq, str16 entity key, str16 value, str8 change   a version; change = k+id to note, or ""
 *   'I' u64 seq, u8 db, u8 open, str16 key, str8 member       a distribution interval opens or closes
 *   'C' u64 seq, str8 member                                  a change to note */
#include "history.h"
#include "history_batch.h"
#include "store_internal.h"
#include <stdlib.h>
#include <string.h>

#define UNTIL_NOW UINT64_MAX

/* ---- the batch ------------------------------------------------------------------ */

void tms_history_batch_init(tms_history_batch *b)
{
    memset(b, 0, sizeof *b);
}

void tms_history_batch_free(tms_history_batch *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

void tms_history_batch_clear(tms_history_batch *b)
{
    b->len = 0;
    b->err = TMS_OK;
}

static void put(tms_history_batch *b, const void *p, size_t n)
{
    if (b->err)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *nb = realloc(b->buf, cap);
        if (!nb) {
            b->err = TMS_E_NOMEM;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static void put_u8(tms_history_batch *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put_u64(tms_history_batch *b, uint64_t v)
{
    put(b, &v, 8);
}

static void put_str16(tms_history_batch *b, const void *p, size_t n)
{
    uint16_t l = (uint16_t)n;
    put(b, &l, 2);
    put(b, p, n);
}

static void put_member(tms_history_batch *b, char kind, const char *id)
{
    size_t n = id ? strlen(id) : 0;
    put_u8(b, id ? (unsigned)n + 1 : 0);
    if (id) {
        put(b, &kind, 1);
        put(b, id, n);
    }
}

/* ---- from effects to operations ------------------------------------------------ */

static void record_account(tms_history_batch *b, const tms_state *st, uint64_t seq, const tms_effect *e)
{
    char key[TMS__KEY_MAX], k[2] = {e->kind, 0};
    uint8_t val[TMS__VALUE_MAX];
    const tms_tenant *t = tms_state_tenant(st, e->tenant);
    const tms_account *a = t ? tms_tenant_account(t, e->kind, e->id) : NULL;
    put_u8(b, 'V');
    put_u64(b, seq);
    put_str16(b, key, tms__make_key(key, e->tenant, k, e->id));
    put_str16(b, val, a ? tms__account_value(val, a) : 0);
    put_member(b, e->kind, e->id);
}

static void record_entity(tms_history_batch *b, const tms_state *st, uint64_t seq, const tms_effect *e, int tenant)
{
    char key[TMS__KEY_MAX];
    uint8_t val[TMS__VALUE_MAX];
    const tms_tenant *t = tms_state_tenant(st, e->tenant);
    const tms_role *r = !tenant && t ? tms_tenant_role(t, e->id) : NULL;
    put_u8(b, 'V');
    put_u64(b, seq);
    put_str16(b, key, tms__make_key(key, e->tenant, tenant ? TMS__HISTORY_TENANT : TMS__HISTORY_ROLE,
                                   tenant ? "" : e->id));
    put_str16(b, val, tenant ? (t ? tms__tenant_value(val, t) : 0) : (r ? tms__role_value(val, r) : 0));
    put_member(b, 0, NULL);
}

static void record_interval(tms_history_batch *b, uint64_t seq, int db, const char *key, size_t klen,
                            const char *member, int open)
{
    put_u8(b, 'I');
    put_u64(b, seq);
    put_u8(b, (unsigned)db);
    put_u8(b, (unsigned)open);
    put_str16(b, key, klen);
    put_u8(b, (unsigned)strlen(member));
    put(b, member, strlen(member));
}

static void record_distribution(tms_history_batch *b, uint64_t seq, const tms_effect *e, int add)
{
    char key[TMS__KEY_MAX], k[2] = {e->kind, 0}, member[TMS_ID_MAX + 2];
    const char *manager = add ? e->after : e->before;
    record_interval(b, seq, TMS_DB_DIST_AT, key, tms__make_key(key, e->tenant, k, e->id), manager, add);
    member[0] = e->kind;
    memcpy(member + 1, e->id, strlen(e->id) + 1);
    record_interval(b, seq, TMS_DB_VISIBLE_AT, key, tms__make_key(key, e->tenant, manager, NULL), member, add);
    put_u8(b, 'C');
    put_u64(b, seq);
    put_member(b, e->kind, e->id);
}

static void record_one(tms_history_batch *b, const tms_state *st, uint64_t seq, const tms_effect *e)
{
    if (tms__writes_account(e->type)) {
        record_account(b, st, seq, e);
        return;
    }
    switch (e->type) {
    case TMS_EFFECT_TENANT_CREATED:
    case TMS_EFFECT_DEFAULT_ROLE:
        record_entity(b, st, seq, e, 1);
        return;
    case TMS_EFFECT_DISTRIBUTED:
    case TMS_EFFECT_UNDISTRIBUTED:
        record_distribution(b, seq, e, e->type == TMS_EFFECT_DISTRIBUTED);
        return;
    case TMS_EFFECT_ROLE_CREATED:
    case TMS_EFFECT_ROLE_UPDATED:
    case TMS_EFFECT_ROLE_DELETED:
        record_entity(b, st, seq, e, 0);
        return;
    default:
        return;   /* a login shows through the account it is bound to; request ids are not shown */
    }
}

tms_err tms_history_record(tms_history_batch *b, const tms_state *st, uint64_t seq, int64_t time,
                           const tms_effect *effs, size_t n)
{
    put_u8(b, 'T');
    put_u64(b, (uint64_t)time);
    put_u64(b, seq);
    const tms_effect *prev = NULL;   /* the last effect that rewrote an account */
    for (size_t i = 0; i < n; i++) {
        int account = tms__writes_account(effs[i].type);
        if (account && tms__same_account(prev, &effs[i]))
            continue;   /* its value is taken after the record: the same as just recorded */
        record_one(b, st, seq, &effs[i]);
        if (account)
            prev = &effs[i];
    }
    return b->err;
}

/* ---- from operations to the databases -------------------------------------------
 * One cursor per database for a whole apply: a version's put goes through
 * the cursor its seek left on the entity's last version, so LMDB finds the
 * key on that leaf instead of descending again (mdb_cursor_set stays on an
 * initialised cursor's page when the key falls within it), and no cursor
 * is allocated per operation. */
typedef struct cursors {
    tms_txn *tx;
    MDB_cursor *c[TMS_DB_COUNT];
} cursors;

static tms_err cursor_of(cursors *cs, int db, MDB_cursor **out)
{
    if (db < TMS_DB_STATE_END || db >= TMS_DB_COUNT)
        return TMS_E_CORRUPT;   /* not a database of the index */
    if (!cs->c[db]) {
        int rc = mdb_cursor_open(cs->tx->txn, cs->tx->st->dbi[db], &cs->c[db]);
        if (rc)
            return tms__store_err(rc);
    }
    *out = cs->c[db];
    return TMS_OK;
}

static void cursors_close(cursors *cs)
{
    for (int i = 0; i < TMS_DB_COUNT; i++)
        if (cs->c[i])
            mdb_cursor_close(cs->c[i]);
}

static tms_err note_change(cursors *cs, uint64_t seq, const char *member, size_t mlen)
{
    uint8_t k[8];
    MDB_cursor *cur = NULL;
    tms__put_be64(k, seq);
    MDB_val key = {8, k}, val = {mlen, (void *)member};
    tms_err err = cursor_of(cs, TMS_DB_CHANGES, &cur);
    if (err)
        return err;
    int rc = mdb_cursor_put(cur, &key, &val, MDB_NODUPDATA);
    return rc == MDB_KEYEXIST ? TMS_OK : tms__store_err(rc);
}

/* Put a version unless it equals the entity's last one (or deletes what
 * never was); then note the change, when asked to. */
static tms_err put_version(cursors *cs, const char *ekey, size_t elen, uint64_t seq, const void *v, size_t vlen,
                           const char *member, size_t mlen)
{
    char key[TMS__KEY_MAX + TMS__SEQ_SUFFIX];
    MDB_val last, k, val = {vlen, (void *)v};
    uint64_t lseq;
    MDB_cursor *cur = NULL;
    memcpy(key, ekey, elen);
    tms_err err = cursor_of(cs, TMS_DB_VERSIONS, &cur);
    if (!err)
        err = tms__seek_version(cur, key, elen, UINT64_MAX, &last, &lseq);
    if (err && err != TMS_NOT_FOUND)
        return err;
    if (err == TMS_NOT_FOUND ? vlen == 0 : last.mv_size == vlen && !memcmp(last.mv_data, v, vlen))
        return TMS_OK;   /* unchanged */
    k.mv_data = key;
    k.mv_size = tms__version_key(key, elen, seq);
    if ((err = tms__store_err(mdb_cursor_put(cur, &k, &val, 0))))
        return err;
    return mlen ? note_change(cs, seq, member, mlen) : TMS_OK;
}

/* Close member's open interval under key: its "until" becomes seq (an
 * interval opened and closed by the same record is dropped). */
static tms_err close_interval(cursors *cs, int db, MDB_val *k, const char *member, size_t mlen, uint64_t seq)
{
    uint8_t buf[TMS_ID_MAX + 2 + 16];
    MDB_cursor *cur = NULL;
    MDB_val v = {mlen + 1, buf}, at = *k;   /* the cursor points at into its page, which the delete may change */
    uint64_t from = 0;
    int found = 0, rc = 0;
    tms_err err = cursor_of(cs, db, &cur);
    if (err)
        return err;
    memcpy(buf, member, mlen);
    buf[mlen] = '\0';
    for (rc = mdb_cursor_get(cur, &at, &v, MDB_GET_BOTH_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &at, &v, MDB_NEXT_DUP)) {
        const uint8_t *p = v.mv_data;
        if (v.mv_size != mlen + 17 || memcmp(p, buf, mlen + 1))
            break;
        if (tms__get_be64(p + mlen + 9) == UNTIL_NOW) {
            from = tms__get_be64(p + mlen + 1);
            found = 1;
            rc = mdb_cursor_del(cur, 0);
            break;
        }
    }
    if (rc && rc != MDB_NOTFOUND)
        return tms__store_err(rc);
    if (!found || from == seq)
        return TMS_OK;
    tms__put_be64(buf + mlen + 1, from);
    tms__put_be64(buf + mlen + 9, seq);
    v.mv_data = buf;
    v.mv_size = mlen + 17;
    return tms__store_err(mdb_cursor_put(cur, k, &v, 0));
}

static tms_err interval(cursors *cs, int db, const char *key, size_t klen, const char *member, size_t mlen,
                        uint64_t seq, int open)
{
    uint8_t buf[TMS_ID_MAX + 2 + 16];
    MDB_val k = {klen, (void *)key}, v = {mlen + 17, buf};
    MDB_cursor *cur = NULL;
    if (mlen > TMS_ID_MAX + 1)
        return TMS_E_INVAL;
    if (!open)
        return close_interval(cs, db, &k, member, mlen, seq);
    tms_err err = cursor_of(cs, db, &cur);
    if (err)
        return err;
    memcpy(buf, member, mlen);
    buf[mlen] = '\0';
    tms__put_be64(buf + mlen + 1, seq);
    tms__put_be64(buf + mlen + 9, UNTIL_NOW);
    return tms__store_err(mdb_cursor_put(cur, &k, &v, 0));
}

static tms_err apply_one(cursors *cs, tms__batch_reader *r)
{
    tms__batch_op o;
    MDB_cursor *cur = NULL;
    tms_err err;
    if (tms__batch_next(r, &o))
        return TMS_E_CORRUPT;
    switch (o.op) {
    case 'T': {
        uint8_t k[8];
        tms__put_be64(k, o.time);
        MDB_val key = {8, k}, val = {8, &o.seq};
        if ((err = cursor_of(cs, TMS_DB_TIMES, &cur)))
            return err;
        return tms__store_err(mdb_cursor_put(cur, &key, &val, 0));
    }
    case 'V':
        return put_version(cs, o.key, o.klen, o.seq, o.val, o.vlen, o.member, o.mlen);
    case 'I':
        return interval(cs, o.db, o.key, o.klen, o.member, o.mlen, o.seq, o.open);
    default:
        return note_change(cs, o.seq, o.member, o.mlen);
    }
}

tms_err tms_history_apply(tms_txn *tx, const tms_history_batch *b)
{
    return tms_history_apply_from(tx, b, 0);
}

size_t tms_history_batch_size(const tms_history_batch *b)
{
    return b->len;
}

tms_err tms_history_apply_from(tms_txn *tx, const tms_history_batch *b, size_t from)
{
    if (b->err || from >= b->len)
        return b->err;
    tms__batch_reader r = {b->buf + from, b->buf + b->len};
    cursors cs = {.tx = tx};
    tms_err err = b->err;
    while (!err && r.p < r.end)
        err = apply_one(&cs, &r);
    cursors_close(&cs);
    return err;
}
