/* store_txn.c -- transactions in a projection environment (see store.h):
 * a tms_txn is a small allocation around an LMDB transaction, so that
 * callers outside the storage room hold a pointer and never see LMDB.
 * Read-only transactions may be reset and renewed (kept between lookups
 * without allocating), and tell whether their snapshot is still the
 * latest. */
#include "store_internal.h"
#include <errno.h>
#include <stdlib.h>

tms_err tms_txn_begin(tms_store *st, int write, tms_txn **out)
{
    unsigned flags = write ? 0 : MDB_RDONLY;
    tms_txn *tx = calloc(1, sizeof *tx);
    int rc = ENOMEM;
    *out = NULL;
    if (!tx)
        goto fail;
    tx->st = st;
    rc = mdb_txn_begin(st->env, NULL, flags, &tx->txn);
    if (rc == MDB_MAP_RESIZED) {  /* another process grew the map */
        mdb_env_set_mapsize(st->env, 0);
        rc = mdb_txn_begin(st->env, NULL, flags, &tx->txn);
    }
    if (rc)
        goto fail;
    *out = tx;
    return TMS_OK;
fail:
    free(tx);
    return tms__store_err(rc);
}

tms_err tms_txn_commit(tms_txn *tx)
{
    int rc = mdb_txn_commit(tx->txn);   /* frees the LMDB transaction, whatever rc */
    free(tx);
    return tms__store_err(rc);
}

void tms_txn_abort(tms_txn *tx)
{
    if (!tx)
        return;
    mdb_txn_abort(tx->txn);
    free(tx);
}

void tms_txn_reset(tms_txn *tx)
{
    if (tx)
        mdb_txn_reset(tx->txn);   /* ignores write transactions; a reset one stays reset */
}

tms_err tms_txn_renew(tms_txn *tx)
{
    return tms__store_err(mdb_txn_renew(tx->txn));   /* EINVAL unless read-only and reset */
}

int tms_txn_is_latest(const tms_txn *tx)
{
    MDB_envinfo info;
    mdb_env_info(tx->st->env, &info);
    return info.me_last_txnid == mdb_txn_id(tx->txn);
}
