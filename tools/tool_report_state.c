/* tool_report_state.c -- the end-of-range sections of "tms-audit report",
 * read from the replayed scratch store in one read transaction: ceiling
 * exceptions (R11), extensions without a login or an owner, roles with
 * their holder counts. Walks the tenants and roles databases with LMDB
 * cursors (keys as described in store.h). */
#include "query.h"
#include "tool_report.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct walk {
    tms_txn *tx;
    const char *tenant;
    json_t *ceiling, *no_login, *no_owner;
    int failed;
} walk;

/* R11: what an account holds that its owner (extension) or parent
 * (manager) lacks. Managers reporting to the PBX Admin and extensions
 * nobody owns have no one above them but the Admin, who holds everything. */
static void ceiling(walk *w, char kind, const char *id, const tms_account_rec *rec)
{
    uint64_t above = 0, features;
    if (!rec->link[0])
        return;
    tms_err err = tms_account_bits(w->tx, w->tenant, TMS_KIND_MANAGER, rec->link, &above, &features);
    if (err == TMS_NOT_FOUND)
        above = 0;   /* cannot happen (R19); report everything rather than nothing */
    else if (err) {
        w->failed = 1;
        return;
    }
    uint64_t extra = rec->perms & ~above;
    if (!extra)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(tool_kind_name(kind)));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "relation", json_string(kind == TMS_KIND_EXTENSION ? "owner" : "parent"));
    json_object_set_new(o, "manager", json_string(rec->link));
    json_object_set_new(o, "permissions", tms_mask_json(extra, 0));
    json_array_append_new(w->ceiling, o);
}

static int account(void *ctx, char kind, const char *id, const tms_account_rec *rec)
{
    walk *w = ctx;
    if (kind != TMS_KIND_EXTENSION && kind != TMS_KIND_MANAGER)
        return 0;
    ceiling(w, kind, id, rec);
    if (kind == TMS_KIND_EXTENSION && !rec->login[0])
        json_array_append_new(w->no_login, json_string(id));
    if (kind == TMS_KIND_EXTENSION && !rec->link[0])
        json_array_append_new(w->no_owner, json_string(id));
    return w->failed;
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

/* The roles of the tenant in the store (keys "T\0role") into byname. */
static int stored_roles(tms_txn *tx, const char *tenant, const json_t *custom, json_t *byname)
{
    char prefix[TMS_ID_MAX + 2];
    size_t plen = strlen(tenant) + 1;
    MDB_cursor *cur;
    MDB_val k = {plen, prefix}, v;
    memcpy(prefix, tenant, plen);   /* with its NUL: the separator */
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_ROLES], &cur);
    if (rc)
        return -1;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char role[TMS_ID_MAX + 1];
        tms_role_rec rr;
        size_t holders = 0;
        if (k.mv_size <= plen || memcmp(k.mv_data, prefix, plen))
            break;
        if (k.mv_size - plen > TMS_ID_MAX) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(role, (const char *)k.mv_data + plen, k.mv_size - plen);
        role[k.mv_size - plen] = '\0';
        if (tms_role_get(tx, tenant, role, &rr) || tms_set_count(tx, TMS_DB_HOLDERS, tenant, role, NULL, &holders)) {
            rc = MDB_CORRUPTED;
            break;
        }
        json_object_set_new(byname, role, role_entry(role, tool_kind_name(rr.account_kind), 1, holders, custom));
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every role in the state at the end of the range, and every role that
 * holders left in the range but that no longer exists, sorted by id. */
static int roles(tms_txn *tx, const char *tenant, const json_t *custom, json_t *out)
{
    json_t *byname = json_object(), *n;
    const char *name, **keys;
    size_t cnt = 0;
    int rc = stored_roles(tx, tenant, custom, byname);
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

int tool_report_state(tms_txn *tx, const char *tenant, const json_t *went_custom, json_t *t)
{
    tms_tenant_rec tr;
    walk w = {tx, tenant, json_array(), json_array(), json_array(), 0};
    json_t *rl = json_array();
    tms_err err = tms_tenant_get(tx, tenant, &tr);
    int rc = 0;
    if (err && err != TMS_NOT_FOUND)
        rc = -1;
    else if (!err && tms_account_foreach(tx, tenant, account, &w))
        rc = -1;
    else if (w.failed || roles(tx, tenant, went_custom, rl))
        rc = -1;
    json_object_set_new(t, "exists", json_boolean(err == TMS_OK));
    json_object_set_new(t, "admin", err == TMS_OK ? json_string(tr.admin) : json_null());
    json_object_set_new(t, "ceiling_exceptions", w.ceiling);
    json_object_set_new(t, "extensions_without_login", w.no_login);
    json_object_set_new(t, "extensions_without_owner", w.no_owner);
    json_object_set_new(t, "roles", rl);
    return rc;
}

int tool_report_tenants(tms_txn *tx, json_t *arr)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_TENANTS], &cur);
    if (rc)
        return -1;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char id[TMS_ID_MAX + 1];
        if (k.mv_size == 0 || k.mv_size > TMS_ID_MAX) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(id, k.mv_data, k.mv_size);
        id[k.mv_size] = '\0';
        json_array_append_new(arr, json_string(id));
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : -1;
}
