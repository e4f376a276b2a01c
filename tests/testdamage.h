/* testdamage.h -- one entry of a projection's database damaged, for the
 * tests of what must notice (the as-of index's tally, the digests by
 * tenant). Needs store_internal.h and cmocka before it. */
#ifndef TMS_TESTDAMAGE_H
#define TMS_TESTDAMAGE_H

typedef enum { CHANGE, ADD, REMOVE } damage;

/* The nth entry (counting from 0, wrapping) of db in tx damaged: its value's last byte changed (in a
 * database of duplicates: the old one removed, the new one put), a copy under its key with a '~' appended
 * added (a key no entry has; a database of duplicates: one more duplicate, its value with the '~' appended),
 * or removed. The damaged
 * entry's key into key_out (up to 600 bytes) and its length into *klen_out, when not NULL. */
static inline void damage_one(tms_txn *tx, int db, size_t nth, damage how, uint8_t *key_out, size_t *klen_out)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t kb[601], vb[601];
    assert_int_equal(mdb_cursor_open(tx->txn, tx->st->dbi[db], &cur), 0);
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    for (size_t i = 0; i < nth; i++)
        if (mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    assert_true(k.mv_size <= sizeof kb && v.mv_size <= sizeof vb && v.mv_size > 0);
    memcpy(kb, k.mv_data, k.mv_size);
    memcpy(vb, v.mv_data, v.mv_size);
    MDB_val key = {k.mv_size, kb}, val = {v.mv_size, vb};
    int dup = tms__db_dupsort[db];
    if (how == REMOVE || (how == CHANGE && dup))
        assert_int_equal(mdb_cursor_del(cur, 0), 0);
    mdb_cursor_close(cur);
    if (how != REMOVE) {
        if (how == CHANGE)
            vb[v.mv_size - 1] ^= 0x01;
        else if (dup)
            vb[val.mv_size++] = '~';
        else
            kb[key.mv_size++] = '~';
        assert_int_equal(mdb_put(tx->txn, tx->st->dbi[db], &key, &val, how == ADD ? (dup ? MDB_NODUPDATA : MDB_NOOVERWRITE) : 0), 0);
    }
    if (key_out) {
        memcpy(key_out, kb, k.mv_size);
        *klen_out = k.mv_size;
    }
}

#endif
