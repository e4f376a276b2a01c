/* store_read.c -- what lookups read, in the domain's terms (store.h): an
 * account, a distribution, what a manager sees, what a record changed, at
 * the projection's latest state or at a seq of the as-of index. Which
 * database holds what, and how a member is spelt ("e1001"), stays here. */
#include "history.h"
#include "store_internal.h"

/* A walk over set members, told as (kind, id). */
typedef struct named_walk {
    tms_named_fn fn;
    void *ctx;
    tms_err err;                         /* TMS_E_CORRUPT: a member too short to name anything */
} named_walk;

/* A member that is a manager's id. */
static int manager_member(void *ctx, const char *member, size_t len)
{
    named_walk *w = ctx;
    (void)len;
    return w->fn(w->ctx, TMS_KIND_MANAGER, member);
}

/* A member that is a kind letter and an id ("q100"). */
static int object_member(void *ctx, const char *member, size_t len)
{
    named_walk *w = ctx;
    if (len < 2) {
        w->err = TMS_E_CORRUPT;
        return 1;
    }
    return w->fn(w->ctx, member[0], member + 1);
}

tms_err tms_store_account(tms_txn *tx, const char *t, char kind, const char *id, uint64_t at,
                          tms_account_rec *out)
{
    if (at == TMS_AT_LATEST)
        return tms_account_get(tx, t, kind, id, out);
    return tms_account_get_at(tx, t, kind, id, at, out, NULL);
}

tms_err tms_store_distribution(tms_txn *tx, const char *t, char kind, const char *id, uint64_t at,
                               tms_named_fn fn, void *ctx)
{
    char k[2] = {kind, 0};
    named_walk w = {fn, ctx, TMS_OK};
    tms_err err = at == TMS_AT_LATEST ? tms__set_foreach(tx, TMS_DB_DIST, t, k, id, manager_member, &w)
                                      : tms__set_foreach_at(tx, TMS_DB_DIST, t, k, id, at, manager_member, &w);
    return err ? err : w.err;
}

tms_err tms_store_visible(tms_txn *tx, const char *t, const char *manager, uint64_t at, tms_named_fn fn,
                          void *ctx)
{
    named_walk w = {fn, ctx, TMS_OK};
    tms_err err = at == TMS_AT_LATEST ? tms__set_foreach(tx, TMS_DB_VISIBLE, t, manager, NULL, object_member, &w)
                                      : tms__set_foreach_at(tx, TMS_DB_VISIBLE, t, manager, NULL, at, object_member,
                                                            &w);
    return err ? err : w.err;
}

tms_err tms_store_changed(tms_txn *tx, uint64_t seq, tms_named_fn fn, void *ctx)
{
    named_walk w = {fn, ctx, TMS_OK};
    tms_err err = tms__changes_foreach(tx, seq, object_member, &w);
    return err ? err : w.err;
}
