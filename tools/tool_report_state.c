/* tool_report_state.c -- the end-of-range sections of "tms-audit report",
 * read from the folded in-memory state: ceiling exceptions (R11),
 * extensions without a login or an owner, roles with their holder counts,
 * and the access review (every account, its role and what it holds). */
#include "query.h"
#include "tool_report.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct walk {
    json_t *ceiling, *no_login, *no_owner, *access;
} walk;

/* The access review (PCI DSS 7.2.4): every extension and manager with its
 * role (or Custom, or none) and what it holds, as of the end of the range. */
static void access_entry(walk *w, const tms_account *a)
{
    int tag;
    const tms_role *role = tms_account_role(a, &tag);
    char kind = tms_account_kind(a);
    json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "kind", tms_kind_name(kind), "id", tms_account_id(a), "role",
                          role ? tms_role_id(role) : tag == TMS_ROLE_CUSTOM ? "(Custom)" : "(none)", "permissions",
                          tms_mask_json(tms_account_permissions(a), 0));
    if (o && kind == TMS_KIND_EXTENSION)
        json_object_set_new(o, "features", tms_mask_json(tms_account_features(a), 1));
    if (o)
        json_array_append_new(w->access, o);
}

/* R11: what an account holds that its owner (extension) or parent
 * (manager) lacks. Managers reporting to the PBX Admin and extensions
 * nobody owns have no one above them but the Admin, who holds everything. */
static void ceiling(walk *w, const tms_account *a)
{
    char kind = tms_account_kind(a);
    tms_account *above = kind == TMS_KIND_EXTENSION ? tms_account_owner(a) : tms_account_parent(a);
    if (!above)
        return;
    uint64_t extra = tms_account_permissions(a) & ~tms_account_permissions(above);
    if (!extra)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(tms_kind_name(kind)));
    json_object_set_new(o, "id", json_string(tms_account_id(a)));
    json_object_set_new(o, "relation", json_string(kind == TMS_KIND_EXTENSION ? "owner" : "parent"));
    json_object_set_new(o, "manager", json_string(tms_account_id(above)));
    json_object_set_new(o, "permissions", tms_mask_json(extra, 0));
    json_array_append_new(w->ceiling, o);
}

static int account(void *ctx, tms_account *a)
{
    walk *w = ctx;
    char kind = tms_account_kind(a);
    if (kind != TMS_KIND_EXTENSION && kind != TMS_KIND_MANAGER)
        return 0;
    ceiling(w, a);
    access_entry(w, a);
    if (kind == TMS_KIND_EXTENSION && !tms_account_login(a))
        json_array_append_new(w->no_login, json_string(tms_account_id(a)));
    if (kind == TMS_KIND_EXTENSION && !tms_account_owner(a))
        json_array_append_new(w->no_owner, json_string(tms_account_id(a)));
    return 0;
}

static json_t *role_entry(const char *role, const char *type, int exists, size_t holders, const json_t *custom)
{
    json_t *o = json_object(), *n = json_object_get(custom, role);
    json_object_set_new(o, "role", json_string(role));
    json_object_set_new(o, "account_type", type ? json_string(type) : json_null());
    json_object_set_new(o, "exists", json_boolean(exists));
    json_object_set_new(o, "holders", json_integer((json_int_t)holders));
    json_object_set_new(o, "went_custom", json_integer(n ? json_integer_value(n) : 0));
    return o;
}

typedef struct role_walk {
    const json_t *custom;
    json_t *byname;
} role_walk;

static int stored_role(void *ctx, tms_role *r)
{
    role_walk *w = ctx;
    size_t holders;
    free(tms_role_holders(r, &holders));
    json_object_set_new(w->byname, tms_role_id(r),
                        role_entry(tms_role_id(r), tms_kind_name(tms_role_account_kind(r)), 1, holders, w->custom));
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every role in the state at the end of the range, and every role that
 * holders left in the range but that no longer exists, sorted by id. */
static int roles(const tms_tenant *t, const json_t *custom, json_t *out)
{
    json_t *byname = json_object(), *n;
    const char *name, **keys;
    size_t cnt = 0;
    role_walk rw = {custom, byname};
    int rc = t && tms_tenant_foreach_role(t, stored_role, &rw) ? -1 : 0;
    json_object_foreach((json_t *)custom, name, n)
        if (!json_object_get(byname, name))
            json_object_set_new(byname, name, role_entry(name, NULL, 0, 0, custom));
    if (!(keys = malloc((json_object_size(byname) + 1) * sizeof *keys))) {
        json_decref(byname);
        return -1;
    }
    json_object_foreach(byname, name, n)
        keys[cnt++] = name;
    qsort(keys, cnt, sizeof *keys, cmp_str);
    for (size_t i = 0; i < cnt; i++)
        json_array_append(out, json_object_get(byname, keys[i]));
    free(keys);
    json_decref(byname);
    return rc;
}

int tool_report_state(const tms_state *st, const char *tenant, const json_t *went_custom, json_t *t)
{
    const tms_tenant *tn = tms_state_tenant(st, tenant);
    walk w = {json_array(), json_array(), json_array(), json_array()};
    json_t *rl = json_array();
    int rc = 0;
    if (tn && tms_tenant_foreach_account(tn, account, &w))
        rc = -1;
    else if (roles(tn, went_custom, rl))
        rc = -1;
    json_object_set_new(t, "exists", json_boolean(tn != NULL));
    json_object_set_new(t, "admin", tn ? json_string(tms_tenant_admin(tn)) : json_null());
    json_object_set_new(t, "ceiling_exceptions", w.ceiling);
    json_object_set_new(t, "extensions_without_login", w.no_login);
    json_object_set_new(t, "extensions_without_owner", w.no_owner);
    json_object_set_new(t, "roles", rl);
    json_object_set_new(t, "access_review", w.access);
    return rc;
}

static int tenant_id(void *ctx, tms_tenant *t)
{
    json_array_append_new(ctx, json_string(tms_tenant_id(t)));
    return 0;
}

int tool_report_tenants(const tms_state *st, json_t *arr)
{
    return tms_state_foreach_tenant(st, tenant_id, arr) ? -1 : 0;
}
