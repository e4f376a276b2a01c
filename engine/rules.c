/* rules.c -- the entry point of the domain rules: resolves tenant and actor
 * in the checking order of SPEC section 3, dispatches to the command's
 * handler, and holds the helpers for authority, scope and permission sets
 * that every handler shares. */
#include "rules_internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 100000   /* bound for walking a manager chain */

tms_err deny(rctx *x, tms_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x->v->code = code;
    vsnprintf(x->v->message, sizeof x->v->message, fmt, ap);
    va_end(ap);
    return code;
}

char *tms_mask_names(uint64_t mask, int features, char *buf, size_t len)
{
    const tms_catalogue_entry *tab = features ? tms_features : tms_permissions;
    const uint8_t *order = features ? tms_features_by_name : tms_permissions_by_name;
    int n = features ? TMS_FEATURE_COUNT : TMS_PERM_COUNT;
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!(mask & (UINT64_C(1) << order[i])))
            continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", tab[order[i]].name);
        if (w < 0 || (size_t)w >= len - used) {
            buf[used] = '\0';   /* never leave half a name */
            break;
        }
        used += (size_t)w;
    }
    return buf;
}

const char *kind_name(char kind)
{
    switch (kind) {
    case TMS_KIND_MANAGER: return "manager";
    case TMS_KIND_EXTENSION: return "extension";
    case TMS_KIND_QUEUE: return "queue";
    case TMS_KIND_CAMPAIGN: return "campaign";
    default: return "?";
    }
}

char kind_of(const char *name)
{
    if (!name)
        return 0;
    if (!strcmp(name, "manager")) return TMS_KIND_MANAGER;
    if (!strcmp(name, "extension")) return TMS_KIND_EXTENSION;
    if (!strcmp(name, "queue")) return TMS_KIND_QUEUE;
    if (!strcmp(name, "campaign")) return TMS_KIND_CAMPAIGN;
    return 0;
}

void member_of(char *buf, char kind, const char *id)
{
    buf[0] = kind;
    strcpy(buf + 1, id);
}

int holds(const rctx *x, int p)
{
    return x->is_admin || (x->me.perms & (UINT64_C(1) << p)) != 0;
}

tms_err check_menu(rctx *x)
{
    const tms_cmd_def *def = &tms_cmd_defs[x->c->type];
    if (x->is_admin)
        return TMS_OK;
    if (def->admin_only)
        return deny(x, TMS_FORBIDDEN, "%s is reserved to the PBX Admin", def->name);
    if (def->menu_perm >= 0 && !holds(x, def->menu_perm))
        return deny(x, TMS_FORBIDDEN, "manager %s lacks %s, needed for %s", x->actor,
                    tms_permissions[def->menu_perm].name, def->name);
    return TMS_OK;
}

tms_err is_above(rctx *x, const char *upper, const char *lower, int *above)
{
    tms_account_rec m;
    char cur[TMS_ID_MAX + 1];
    *above = 0;
    snprintf(cur, sizeof cur, "%s", lower);
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        tms_err err = tms_account_get(x->tx, x->t, TMS_KIND_MANAGER, cur, &m);
        if (err == TMS_NOT_FOUND || (err == TMS_OK && !m.link[0]))
            return TMS_OK;
        if (err)
            return err;
        if (!strcmp(m.link, upper)) {
            *above = 1;
            return TMS_OK;
        }
        memcpy(cur, m.link, sizeof cur);
    }
    return TMS_E_CORRUPT;   /* a cycle: parents are set once, so this is damage */
}

tms_err check_manages(rctx *x, const char *id, const char *what)
{
    int above;
    if (x->is_admin)
        return TMS_OK;
    tms_err err = is_above(x, x->actor, id, &above);
    if (err)
        return err;
    return above ? TMS_OK
                 : deny(x, TMS_FORBIDDEN, "manager %s is not above manager %s (%s)", x->actor, id, what);
}

tms_err need_account(rctx *x, char kind, const char *id, tms_account_rec *out)
{
    tms_err err = tms_account_get(x->tx, x->t, kind, id, out);
    if (err == TMS_NOT_FOUND)
        return deny(x, TMS_NOT_FOUND, "no %s %s in tenant %s", kind_name(kind), id, x->t);
    return err;
}

tms_err names_mask(rctx *x, int fid, int features, uint64_t *mask)
{
    const tms_field *f = &x->c->f[fid];
    *mask = 0;
    for (int i = 0; i < f->n; i++) {
        const char *name = f->items[i].str;
        int b = features ? tms_feature_index(name) : tms_permission_index(name);
        if (b < 0)
            return features ? deny(x, TMS_UNKNOWN_FEATURE, "no feature named %s", name)
                            : deny(x, TMS_UNKNOWN_PERMISSION, "no permission named %s", name);
        *mask |= UINT64_C(1) << b;
    }
    return TMS_OK;
}

tms_err check_account_type(rctx *x, char kind, uint64_t mask)
{
    uint64_t valid = kind == TMS_KIND_EXTENSION ? TMS_PERMS_EXTENSION_MASK : TMS_PERMS_MANAGER_MASK;
    char names[256];
    if (mask & ~valid)
        return deny(x, TMS_WRONG_ACCOUNT_TYPE, "not valid for a %s: %s", kind_name(kind),
                    tms_mask_names(mask & ~valid, 0, names, sizeof names));
    return TMS_OK;
}

tms_err check_ceiling(rctx *x, uint64_t enabling)
{
    char names[256];
    if (x->is_admin || !(enabling & ~x->me.perms))
        return TMS_OK;
    return deny(x, TMS_PERMISSION_CEILING, "manager %s may not enable what it does not hold: %s", x->actor,
                tms_mask_names(enabling & ~x->me.perms, 0, names, sizeof names));
}

tms_err set_role(rctx *x, char kind, const char *id, tms_account_rec *acct, int tag, const char *role)
{
    char member[TMS_ID_MAX + 2];
    tms_err err = TMS_OK;
    member_of(member, kind, id);
    if (acct->role_tag == TMS_ROLE_SET && (tag != TMS_ROLE_SET || strcmp(acct->role, role)))
        err = tms_set_del(x->tx, TMS_DB_HOLDERS, x->t, acct->role, NULL, member);
    if (!err && tag == TMS_ROLE_SET)
        err = tms_set_add(x->tx, TMS_DB_HOLDERS, x->t, role, NULL, member);
    acct->role_tag = tag;
    snprintf(acct->role, sizeof acct->role, "%s", tag == TMS_ROLE_SET ? role : "");
    return err;
}

tms_err go_custom(rctx *x, char kind, const char *id, tms_account_rec *acct, uint64_t role_perms,
                  const char *cause)
{
    char role[TMS_ID_MAX + 1];
    memcpy(role, acct->role, sizeof role);
    tms_err err = set_role(x, kind, id, acct, TMS_ROLE_CUSTOM, NULL);
    if (err)
        return err;
    if (x->sink && x->sink->custom) {
        tms_custom_event ev = {x->t, kind, id, role, x->actor, cause,
                               acct->perms & ~role_perms, role_perms & ~acct->perms};
        x->sink->custom(x->sink->ctx, x->rec, &ev);
    }
    return TMS_OK;
}


static tms_err create_tenant(rctx *x)
{
    tms_tenant_rec t;
    tms_err err = tms_tenant_get(x->tx, x->t, &t);
    if (err == TMS_OK)
        return deny(x, TMS_TENANT_EXISTS, "tenant %s already exists", x->t);
    if (err != TMS_NOT_FOUND)
        return err;
    if (strcmp(x->actor, "system"))
        return deny(x, TMS_FORBIDDEN, "CreateTenant is issued by actor system, not %s", x->actor);
    memset(&t, 0, sizeof t);
    snprintf(t.admin, sizeof t.admin, "%s", F(x, TMS_F_ADMIN));
    return tms_tenant_put(x->tx, x->t, &t);
}

typedef tms_err (*handler_fn)(rctx *x);

static handler_fn handler_for(tms_cmd_type type)
{
    switch (type) {
    case TMS_CMD_CREATE_TENANT: return create_tenant;
    case TMS_CMD_CREATE_LOGIN: return cmd_create_login;
    case TMS_CMD_CREATE_EXTENSION: return cmd_create_extension;
    case TMS_CMD_DELETE_EXTENSION: return cmd_delete_extension;
    case TMS_CMD_LINK_LOGIN: return cmd_link_login;
    case TMS_CMD_CREATE_QUEUE: case TMS_CMD_CREATE_CAMPAIGN: return cmd_create_group;
    case TMS_CMD_DELETE_QUEUE: case TMS_CMD_DELETE_CAMPAIGN: return cmd_delete_group;
    case TMS_CMD_ADD_MANAGER: return cmd_add_manager;
    case TMS_CMD_REMOVE_MANAGER: return cmd_remove_manager;
    case TMS_CMD_DISTRIBUTE: return cmd_distribute;
    case TMS_CMD_UNDISTRIBUTE: return cmd_undistribute;
    case TMS_CMD_TAKE_OWNERSHIP: return cmd_take_ownership;
    case TMS_CMD_RELEASE_OWNERSHIP: return cmd_release_ownership;
    case TMS_CMD_SET_PERMISSIONS: return cmd_set_permissions;
    case TMS_CMD_SET_FEATURES: return cmd_set_features;
    case TMS_CMD_CREATE_ROLE: return cmd_create_role;
    case TMS_CMD_UPDATE_ROLE: return cmd_update_role;
    case TMS_CMD_DELETE_ROLE: return cmd_delete_role;
    case TMS_CMD_ASSIGN_ROLE: return cmd_assign_role;
    case TMS_CMD_SET_DEFAULT_ROLE: return cmd_set_default_role;
    }
    return NULL;
}

/* Tenant, then actor (SPEC section 3 order), before any handler runs. */
static tms_err resolve_actor(rctx *x)
{
    tms_err err = tms_tenant_get(x->tx, x->t, &x->tenant);
    if (err == TMS_NOT_FOUND)
        return deny(x, TMS_UNKNOWN_TENANT, "no tenant %s", x->t);
    if (err)
        return err;
    if (!strcmp(x->actor, x->tenant.admin)) {
        x->is_admin = 1;
        return TMS_OK;
    }
    err = tms_account_get(x->tx, x->t, TMS_KIND_MANAGER, x->actor, &x->me);
    if (err == TMS_NOT_FOUND)
        return deny(x, TMS_UNKNOWN_ACTOR, "%s is neither the PBX Admin nor a manager of %s", x->actor, x->t);
    return err;
}

tms_err tms_rules_apply(tms_txn *tx, const tms_record *rec, const tms_rules_sink *sink, tms_verdict *v)
{
    rctx x;
    memset(&x, 0, sizeof x);
    x.tx = tx;
    x.rec = rec;
    x.c = &rec->cmd;
    x.t = rec->cmd.f[TMS_F_TENANT].str;
    x.actor = rec->cmd.f[TMS_F_ACTOR].str;
    x.v = v;
    x.sink = sink;
    v->code = TMS_OK;
    v->message[0] = '\0';
    handler_fn h = handler_for(rec->cmd.type);
    if (!h)
        return TMS_E_INVAL;
    tms_err err = rec->cmd.type == TMS_CMD_CREATE_TENANT ? TMS_OK : resolve_actor(&x);
    if (err == TMS_OK)
        err = h(&x);
    if (err != TMS_OK && tms_err_is_domain[err]) {
        v->code = err;   /* a rejection: nothing was written */
        return TMS_OK;
    }
    return err;
}
