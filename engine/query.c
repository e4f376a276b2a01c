/* query.c -- show and visible, read from the projection into JSON.
 * Absent values are null; lists are sorted (LMDB keeps dupsort members in
 * byte order, and kind letters c < e < q sort like their names). */
#include "query.h"
#include "rules_internal.h"
#include <string.h>

json_t *tms_mask_json(uint64_t mask, int features)
{
    const tms_catalogue_entry *tab = features ? tms_features : tms_permissions;
    const uint8_t *order = features ? tms_features_by_name : tms_permissions_by_name;
    int n = features ? TMS_FEATURE_COUNT : TMS_PERM_COUNT;
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        if (mask & (UINT64_C(1) << order[i]))
            json_array_append_new(a, json_string(tab[order[i]].name));
    return a;
}

static json_t *str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static int add_member(void *ctx, const char *member, size_t len)
{
    (void)len;
    json_array_append_new(ctx, json_string(member));
    return 0;
}

static int add_object(void *ctx, const char *member, size_t len)
{
    (void)len;
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(kind_name(member[0])));
    json_object_set_new(o, "id", json_string(member + 1));
    json_array_append_new(ctx, o);
    return 0;
}

static json_t *role_json(const tms_account_rec *a)
{
    if (a->role_tag == TMS_ROLE_CUSTOM)
        return json_string("Custom");
    return a->role_tag == TMS_ROLE_SET ? json_string(a->role) : json_null();
}

int tms_query_show(tms_store *st, const char *tenant, const char *kind, const char *id, json_t **out)
{
    char k = kind_of(kind), kk[2] = {k, 0};
    tms_account_rec a;
    tms_txn tx;
    *out = NULL;
    if (!k || !tms_is_id(tenant, strlen(tenant)) || !tms_is_id(id, strlen(id)))
        return 1;
    if (tms_txn_begin(st, 0, &tx))
        return 2;
    tms_err err = tms_account_get(&tx, tenant, k, id, &a);
    if (err) {
        tms_txn_abort(&tx);
        return err == TMS_NOT_FOUND ? 1 : 2;
    }
    int account = k == TMS_KIND_MANAGER || k == TMS_KIND_EXTENSION;
    json_t *o = json_object(), *dist = json_null();
    if (k != TMS_KIND_MANAGER) {
        dist = json_array();
        err = tms_set_foreach(&tx, TMS_DB_DIST, tenant, kk, id, add_member, dist);
    }
    json_object_set_new(o, "tenant", json_string(tenant));
    json_object_set_new(o, "kind", json_string(kind_name(k)));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "login", str_or_null(a.login));
    json_object_set_new(o, "owner", str_or_null(k == TMS_KIND_EXTENSION ? a.link : NULL));
    json_object_set_new(o, "distributed_to", dist);
    json_object_set_new(o, "role", account ? role_json(&a) : json_null());
    json_object_set_new(o, "permissions", account ? tms_mask_json(a.perms, 0) : json_null());
    json_object_set_new(o, "features", k == TMS_KIND_EXTENSION ? tms_mask_json(a.features, 1) : json_null());
    json_object_set_new(o, "parent", str_or_null(k == TMS_KIND_MANAGER ? a.link : NULL));
    tms_txn_abort(&tx);
    if (err) {
        json_decref(o);
        return 2;
    }
    *out = o;
    return 0;
}

int tms_query_visible(tms_store *st, const char *tenant, const char *manager, json_t **out)
{
    tms_txn tx;
    *out = json_array();
    if (!tms_is_id(tenant, strlen(tenant)) || !tms_is_id(manager, strlen(manager)))
        return 0;
    if (tms_txn_begin(st, 0, &tx))
        return 2;
    tms_err err = tms_set_foreach(&tx, TMS_DB_VISIBLE, tenant, manager, NULL, add_object, *out);
    tms_txn_abort(&tx);
    return err ? 2 : 0;
}
