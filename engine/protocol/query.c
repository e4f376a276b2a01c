/* query.c -- show and visible, read from the projection (store.h's typed
 * reads, at the latest state or at a seq) or from an in-memory state into
 * JSON. Absent values are null; lists are sorted (the store gives ids in
 * byte order, objects by kind letter, and c < e < q sort like their names). */
#include "query.h"
#include "state.h"
#include <stdlib.h>
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

/* A manager an object is distributed to: its id. */
static int add_manager(void *ctx, char kind, const char *id)
{
    (void)kind;
    json_array_append_new(ctx, json_string(id));
    return 0;
}

/* An object a manager sees: {kind, id}. */
static int add_object(void *ctx, char kind, const char *id)
{
    json_array_append_new(ctx, json_pack("{s:s,s:s}", "kind", tms_kind_name(kind), "id", id));
    return 0;
}

/* What show prints of one account or object, wherever it was read. */
typedef struct view {
    const char *login, *link;        /* "" or NULL = none */
    int role_tag;
    const char *role;
    uint64_t perms, features;
    json_t *dist;                    /* objects: the managers (stolen); NULL for managers */
} view;

static json_t *role_json(const view *a)
{
    if (a->role_tag == TMS_ROLE_CUSTOM)
        return json_string("Custom");
    return a->role_tag == TMS_ROLE_SET ? json_string(a->role) : json_null();
}

static json_t *show_json(const char *tenant, char k, const char *id, const view *a)
{
    int account = k == TMS_KIND_MANAGER || k == TMS_KIND_EXTENSION;
    json_t *o = json_object();
    json_object_set_new(o, "tenant", json_string(tenant));
    json_object_set_new(o, "kind", json_string(tms_kind_name(k)));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "login", str_or_null(a->login));
    json_object_set_new(o, "owner", str_or_null(k == TMS_KIND_EXTENSION ? a->link : NULL));
    json_object_set_new(o, "distributed_to", a->dist ? a->dist : json_null());
    json_object_set_new(o, "role", account ? role_json(a) : json_null());
    json_object_set_new(o, "permissions", account ? tms_mask_json(a->perms, 0) : json_null());
    json_object_set_new(o, "features", k == TMS_KIND_EXTENSION ? tms_mask_json(a->features, 1) : json_null());
    json_object_set_new(o, "parent", str_or_null(k == TMS_KIND_MANAGER ? a->link : NULL));
    return o;
}

int tms_query_show(tms_txn *tx, uint64_t at, const char *tenant, const char *kind, const char *id, json_t **out)
{
    char k = tms_kind_of(kind);
    tms_account_rec a;
    *out = NULL;
    if (!k || !tms_is_id(tenant, strlen(tenant)) || !tms_is_id(id, strlen(id)))
        return 1;
    tms_err err = tms_store_account(tx, tenant, k, id, at, &a);
    if (err)
        return err == TMS_NOT_FOUND ? 1 : 2;
    view v = {a.login, a.link, a.role_tag, a.role, a.perms, a.features, NULL};
    if (k != TMS_KIND_MANAGER && (!(v.dist = json_array()) ||
                                  tms_store_distribution(tx, tenant, k, id, at, add_manager, v.dist))) {
        json_decref(v.dist);
        return 2;
    }
    *out = show_json(tenant, k, id, &v);
    return 0;
}

int tms_query_show_state(const tms_state *st, const char *tenant, const char *kind, const char *id, json_t **out)
{
    char k = tms_kind_of(kind);
    const tms_tenant *t;
    const tms_account *a;
    *out = NULL;
    if (!k || !tms_is_id(tenant, strlen(tenant)) || !tms_is_id(id, strlen(id)) ||
        !(t = tms_state_tenant(st, tenant)) || !(a = tms_tenant_account(t, k, id)))
        return 1;
    tms_role *role;
    tms_login *login = tms_account_login(a);
    tms_account *link = k == TMS_KIND_EXTENSION ? tms_account_owner(a) : tms_account_parent(a);
    view v = {login ? tms_login_id(login) : NULL, link ? tms_account_id(link) : NULL, 0, NULL,
              tms_account_permissions(a), tms_account_features(a), NULL};
    role = tms_account_role(a, &v.role_tag);
    v.role = role ? tms_role_id(role) : NULL;
    if (k != TMS_KIND_MANAGER) {
        size_t n = tms_object_distribution(a, NULL, 0);
        tms_account **m = n ? malloc(n * sizeof *m) : NULL;
        if (n && !m)
            return 2;
        tms_object_distribution(a, m, n);
        v.dist = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(v.dist, json_string(tms_account_id(m[i])));
        free(m);
    }
    *out = show_json(tenant, k, id, &v);
    return 0;
}

int tms_query_visible(tms_txn *tx, uint64_t at, const char *tenant, const char *manager, json_t **out)
{
    *out = json_array();
    if (!tms_is_id(tenant, strlen(tenant)) || !tms_is_id(manager, strlen(manager)))
        return 0;
    return tms_store_visible(tx, tenant, manager, at, add_object, *out) ? 2 : 0;
}
