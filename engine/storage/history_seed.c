/* history_seed.c -- the as-of index of a data directory seeded from a
 * snapshot (history.h, tms_history_seed): the state at seq written as the
 * versions of seq of every tenant, role, account and distribution, as if
 * one record had created them all, so that lookups at seq and after answer
 * what the leader's index answers. What happened before seq is not known:
 * lookups before it, and explanations (the record that last changed an
 * answer: it may be before seq), stay refused (query_at.c). */
#include "history.h"
#include "store_internal.h"
#include <stdlib.h>
#include <string.h>

#define SEED_CHUNK 4096   /* effects per batch written */

typedef struct seeder {
    tms_txn *tx;
    const tms_state *st;
    const tms_tenant *t;
    uint64_t seq;
    int64_t time;
    tms_history_batch b;
    tms_effect effs[SEED_CHUNK];
    size_t n;
    tms_err err;
} seeder;

static int flush(seeder *s)
{
    if (!s->n || s->err)
        return s->err != TMS_OK;
    tms_history_batch_clear(&s->b);
    if ((s->err = tms_history_record(&s->b, s->st, s->seq, s->time, s->effs, s->n)) == TMS_OK)
        s->err = tms_history_apply(s->tx, &s->b);
    s->n = 0;
    return s->err != TMS_OK;
}

static int add(seeder *s, tms_effect_type type, char kind, const char *id, const char *after)
{
    tms_effect *e = &s->effs[s->n++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->kind = kind;
    e->tenant = tms_tenant_id(s->t);
    e->id = id;
    e->after = after;
    return s->n == SEED_CHUNK ? flush(s) : 0;
}

static int on_role(void *ctx, tms_role *r)
{
    return add(ctx, TMS_EFFECT_ROLE_CREATED, 0, tms_role_id(r), NULL);
}

static int on_account(void *ctx, tms_account *a)
{
    return add(ctx, TMS_EFFECT_ACCOUNT_CREATED, tms_account_kind(a), tms_account_id(a), NULL);
}

static int on_visible(void *ctx, tms_account *manager, tms_account *obj)
{
    return add(ctx, TMS_EFFECT_DISTRIBUTED, tms_account_kind(obj), tms_account_id(obj), tms_account_id(manager));
}

static int on_tenant(void *ctx, tms_tenant *t)
{
    seeder *s = ctx;
    s->t = t;
    if (add(s, TMS_EFFECT_TENANT_CREATED, 0, NULL, NULL) || tms_tenant_foreach_role(t, on_role, s) ||
        tms_tenant_foreach_account(t, on_account, s) || tms_tenant_foreach_visible(t, on_visible, s) || flush(s))
        return 1;   /* the effects point into t: written before the next tenant */
    return 0;
}

static tms_err drop_changes(tms_txn *tx, uint64_t seq)
{
    uint8_t k[8];
    tms__put_be64(k, seq);
    MDB_val key = {8, k};
    int rc = mdb_del(tx->txn, tx->st->dbi[TMS_DB_CHANGES], &key, NULL);
    return rc == MDB_NOTFOUND ? TMS_OK : tms__store_err(rc);
}

tms_err tms_history_seed(tms_txn *tx, const tms_state *st, uint64_t seq, int64_t time)
{
    seeder *s = calloc(1, sizeof *s);
    if (!s)
        return TMS_E_NOMEM;
    s->tx = tx;
    s->st = st;
    s->seq = seq;
    s->time = time;
    tms_history_batch_init(&s->b);
    tms_err err = tms_history_clear(tx);
    if (!err && tms_state_foreach_tenant(st, on_tenant, s))
        err = s->err ? s->err : TMS_E_NOMEM;
    if (!err && !(err = tms_history_set_base(tx, seq)))
        err = tms_history_mark(tx, seq);
    if (!err)   /* "changed at seq" is not what the seeded versions say: nothing is noted as changed there */
        err = drop_changes(tx, seq);
    tms_history_batch_free(&s->b);
    free(s);
    return err;
}
