/* history.c -- the as-of index of history.h: versions keyed by the seq
 * that made them, distribution intervals, per-record change sets and the
 * time index. Like projection.c, the only place that maps the domain onto
 * these keys. */
#include "history.h"
#include "store_internal.h"
#include <string.h>

#define KIND_TENANT TMS__HISTORY_TENANT
#define KIND_ROLE TMS__HISTORY_ROLE
#define SEQ_SUFFIX TMS__SEQ_SUFFIX
#define put_be64 tms__put_be64
#define get_be64 tms__get_be64

/* E\0be64(seq) after the entity key already in buf[0..elen). */
size_t tms__version_key(char *buf, size_t elen, uint64_t seq)
{
    buf[elen] = '\0';
    put_be64((uint8_t *)buf + elen + 1, seq);
    return elen + SEQ_SUFFIX;
}

/* The last version of entity buf[0..elen) at or before seq, positioned in
 * cur: TMS_OK with *val and *vseq, or TMS_NOT_FOUND. buf has room for the
 * suffix. */
tms_err tms__seek_version(MDB_cursor *cur, char *buf, size_t elen, uint64_t seq, MDB_val *val, uint64_t *vseq)
{
    MDB_val k = {tms__version_key(buf, elen, seq == UINT64_MAX ? seq : seq + 1), buf};
    int rc = mdb_cursor_get(cur, &k, val, MDB_SET_RANGE);
    if (rc && rc != MDB_NOTFOUND)
        return tms__store_err(rc);
    /* at or past the first key after seq's versions: the one before is the answer */
    rc = mdb_cursor_get(cur, &k, val, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (rc)
        return rc == MDB_NOTFOUND ? TMS_NOT_FOUND : tms__store_err(rc);
    if (k.mv_size != elen + SEQ_SUFFIX || memcmp(k.mv_data, buf, elen + 1))
        return TMS_NOT_FOUND;   /* another entity's */
    *vseq = get_be64((const uint8_t *)k.mv_data + elen + 1);
    return *vseq <= seq ? TMS_OK : TMS_NOT_FOUND;
}

/* Step cur to the version before the one it is on, for the same entity. */
static tms_err prev_version(MDB_cursor *cur, size_t elen, const char *ekey, MDB_val *val, uint64_t *vseq)
{
    MDB_val k;
    int rc = mdb_cursor_get(cur, &k, val, MDB_PREV);
    if (rc)
        return rc == MDB_NOTFOUND ? TMS_NOT_FOUND : tms__store_err(rc);
    if (k.mv_size != elen + SEQ_SUFFIX || memcmp(k.mv_data, ekey, elen + 1))
        return TMS_NOT_FOUND;
    *vseq = get_be64((const uint8_t *)k.mv_data + elen + 1);
    return TMS_OK;
}

/* Get the version of an entity at seq into *val (valid until tx ends). */
static tms_err version_at(tms_txn *tx, char *buf, size_t elen, uint64_t seq, MDB_val *val, uint64_t *vseq)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_VERSIONS], &cur);
    if (rc)
        return tms__store_err(rc);
    tms_err err = tms__seek_version(cur, buf, elen, seq, val, vseq);
    mdb_cursor_close(cur);
    if (!err && val->mv_size == 0)
        err = TMS_NOT_FOUND;   /* deleted by then */
    return err;
}

tms_err tms_history_mark(tms_txn *tx, uint64_t seq)
{
    return tms__raw_put(tx, TMS_DB_META, TMS__HISTORY_META, sizeof TMS__HISTORY_META - 1, &seq, 8);
}

tms_err tms_history_complete(tms_txn *tx, uint64_t *seq)
{
    return tms__meta_u64(tx, TMS__HISTORY_META, seq);
}

tms_err tms_history_set_base(tms_txn *tx, uint64_t seq)
{
    return tms__raw_put(tx, TMS_DB_META, TMS__HISTORY_BASE, sizeof TMS__HISTORY_BASE - 1, &seq, 8);
}

tms_err tms_history_base(tms_txn *tx, uint64_t *seq)
{
    return tms__meta_u64(tx, TMS__HISTORY_BASE, seq);
}

tms_err tms_history_clear(tms_txn *tx)
{
    tms_err err = tms__raw_del(tx, TMS_DB_META, TMS__HISTORY_META, sizeof TMS__HISTORY_META - 1);
    for (int i = TMS_DB_STATE_END; i < TMS_DB_COUNT && !err; i++)
        err = tms__store_err(mdb_drop(tx->txn, tx->st->dbi[i], 0));
    return err;
}

tms_err tms_history_walk(tms_txn *tx)
{
    return tms__digest_dbs(tx, NULL, TMS_DB_STATE_END, TMS_DB_COUNT, -1);
}

tms_err tms_history_digest(tms_txn *tx, uint8_t out[TMS_HASH_LEN])
{
    tms__digest *d = malloc(sizeof *d);
    if (!d)
        return TMS_E_NOMEM;
    tms__digest_init(d);
    /* frames: positions in the log, kept where groups happened to fall: not compared */
    tms_err err = tms__digest_dbs(tx, d, TMS_DB_STATE_END, TMS_DB_COUNT, TMS_DB_FRAMES);
    if (!err)
        tms__digest_final(d, out);
    free(d);
    return err;
}

/* ---- reading ---------------------------------------------------------------- */

tms_err tms_history_seq_at_time(tms_txn *tx, int64_t time, uint64_t *seq)
{
    uint8_t kb[8];
    MDB_cursor *cur;
    MDB_val k = {8, kb}, v;
    *seq = 0;
    if (time < 0)
        return TMS_OK;
    put_be64(kb, (uint64_t)time + 1);
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_TIMES], &cur);
    if (rc)
        return tms__store_err(rc);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    mdb_cursor_close(cur);
    if (rc == 0 && v.mv_size == 8)
        memcpy(seq, v.mv_data, 8);
    else if (rc == 0)
        rc = MDB_CORRUPTED;
    return rc == MDB_NOTFOUND ? TMS_OK : tms__store_err(rc);
}

tms_err tms_account_get_at(tms_txn *tx, const char *t, char kind, const char *id, uint64_t seq,
                           tms_account_rec *out, uint64_t *since)
{
    char key[TMS__KEY_MAX + SEQ_SUFFIX], k[2] = {kind, 0};
    MDB_val v;
    uint64_t vseq;
    tms_err err = version_at(tx, key, tms__make_key(key, t, k, id), seq, &v, &vseq);
    if (!err && since)
        *since = vseq;
    return err ? err : tms__dec_account(&v, out);
}

tms_err tms_tenant_get_at(tms_txn *tx, const char *t, uint64_t seq, tms_tenant_rec *out, uint64_t *since)
{
    char key[TMS__KEY_MAX + SEQ_SUFFIX];
    MDB_val v;
    uint64_t vseq;
    size_t elen = tms__make_key(key, t, KIND_TENANT, "");
    tms_err err = version_at(tx, key, elen, seq, &v, &vseq);
    if (err || (err = tms__dec_tenant(&v, out)) || !since)
        return err;
    MDB_cursor *cur;   /* its first version: the record that created it */
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_VERSIONS], &cur);
    if (rc)
        return tms__store_err(rc);
    MDB_val k = {elen + 1, key};
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size == elen + SEQ_SUFFIX && !memcmp(k.mv_data, key, elen + 1))
        *since = get_be64((const uint8_t *)k.mv_data + elen + 1);
    else if (rc == 0)
        rc = MDB_CORRUPTED;
    mdb_cursor_close(cur);
    return tms__store_err(rc);
}

tms_err tms_role_perms_at(tms_txn *tx, const char *t, const char *role, uint64_t seq, uint64_t *perms)
{
    char key[TMS__KEY_MAX + SEQ_SUFFIX];
    MDB_val v;
    uint64_t vseq;
    tms_err err = version_at(tx, key, tms__make_key(key, t, KIND_ROLE, role), seq, &v, &vseq);
    if (!err && v.mv_size < 9)
        err = TMS_E_CORRUPT;
    if (!err)
        memcpy(perms, (const uint8_t *)v.mv_data + 1, 8);
    return err;
}

tms_err tms__set_foreach_at(tms_txn *tx, int db, const char *t, const char *k2, const char *k3, uint64_t seq,
                            tms__member_fn fn, void *ctx)
{
    char key[TMS__KEY_MAX], member[TMS_ID_MAX + 2];
    MDB_cursor *cur;
    MDB_val k = {tms__make_key(key, t, k2, k3), key}, v;
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[db == TMS_DB_DIST ? TMS_DB_DIST_AT : TMS_DB_VISIBLE_AT], &cur);
    if (rc)
        return tms__store_err(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        const uint8_t *p = v.mv_data;
        size_t mlen = v.mv_size - 17;
        if (v.mv_size < 18 || mlen >= sizeof member || p[mlen]) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (get_be64(p + mlen + 1) > seq || get_be64(p + mlen + 9) <= seq)
            continue;   /* not a member at seq */
        memcpy(member, p, mlen + 1);
        if (fn(ctx, member, mlen))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == 0 ? TMS_OK : tms__store_err(rc);
}

static int bit_of(const MDB_val *v, int perm, int feat)
{
    uint64_t mask;
    if (v->mv_size < TMS__ACCOUNT_HDR)
        return 0;   /* deleted */
    memcpy(&mask, (const uint8_t *)v->mv_data + (perm >= 0 ? 0 : 8), 8);
    return (int)((mask >> (perm >= 0 ? perm : feat)) & 1);
}

tms_err tms_history_flip(tms_txn *tx, const char *t, char kind, const char *id, uint64_t seq, int perm, int feat,
                         uint64_t *flip)
{
    char key[TMS__KEY_MAX + SEQ_SUFFIX], k[2] = {kind, 0};
    MDB_cursor *cur;
    MDB_val v;
    uint64_t vseq = 0, pseq = 0;
    size_t elen = tms__make_key(key, t, k, id);
    *flip = 0;
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_VERSIONS], &cur);
    if (rc)
        return tms__store_err(rc);
    tms_err err = tms__seek_version(cur, key, elen, seq, &v, &vseq);
    if (!err && v.mv_size == 0)
        err = TMS_NOT_FOUND;
    int held = err ? 0 : bit_of(&v, perm, feat);
    while (!err) {   /* back through its versions to the first with the other value */
        tms_err e = prev_version(cur, elen, key, &v, &pseq);
        if (e == TMS_NOT_FOUND || (!e && v.mv_size == 0)) {   /* created at vseq: afresh */
            *flip = held ? vseq : 0;
            break;
        }
        if (e) {
            err = e;
            break;
        }
        if (bit_of(&v, perm, feat) != held) {
            *flip = vseq;
            break;
        }
        vseq = pseq;
    }
    mdb_cursor_close(cur);
    return err;
}

tms_err tms__changes_foreach(tms_txn *tx, uint64_t seq, tms__member_fn fn, void *ctx)
{
    uint8_t kb[8];
    char member[TMS_ID_MAX + 2];
    MDB_cursor *cur;
    MDB_val k = {8, kb}, v;
    put_be64(kb, seq);
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_CHANGES], &cur);
    if (rc)
        return tms__store_err(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        if (v.mv_size >= sizeof member || v.mv_size < 2) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(member, v.mv_data, v.mv_size);
        member[v.mv_size] = '\0';
        if (fn(ctx, member, v.mv_size))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == 0 ? TMS_OK : tms__store_err(rc);
}

tms_err tms_history_locate(tms_txn *tx, uint64_t seq, uint64_t seg_first, uint64_t offset)
{
    uint8_t k[8];
    uint64_t v[2] = {seg_first, offset};
    put_be64(k, seq);
    return tms__raw_put(tx, TMS_DB_FRAMES, (const char *)k, 8, v, sizeof v);
}

tms_err tms_history_locator(tms_txn *tx, uint64_t seq, uint64_t *seg_first, uint64_t *offset)
{
    uint8_t kb[8];
    MDB_cursor *cur;
    MDB_val k = {8, kb}, v;
    put_be64(kb, seq + 1);
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_FRAMES], &cur);
    if (rc)
        return tms__store_err(rc);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 || rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (rc == 0 && (v.mv_size != 16 || k.mv_size != 8))
        rc = MDB_CORRUPTED;
    if (rc == 0) {
        memcpy(seg_first, v.mv_data, 8);
        memcpy(offset, (const uint8_t *)v.mv_data + 8, 8);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? TMS_NOT_FOUND : tms__store_err(rc);
}
