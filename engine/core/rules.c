/* rules.c -- the entry point of the domain rules: resolves tenant and actor
 * in the checking order of SPEC section 3, dispatches to the command's
 * handler, and holds the helpers for authority, scope and permission sets
 * that every handler shares. A rejected (or failed) command is rolled back
 * whole, so a handler that wrote before a later check failed still leaves
 * nothing behind (R14: all or nothing). */
#include "rules_internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

tms_err tms__deny(rctx *x, tms_err code, const char *fmt, ...)
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

int tms__holds(const rctx *x, int p)
{
    return x->is_admin || (tms_account_permissions(x->me) & (UINT64_C(1) << p)) != 0;
}

tms_err tms__check_menu(rctx *x)
{
    const tms_cmd_def *def = &tms_cmd_defs[x->c->type];
    if (x->is_admin)
        return TMS_OK;
    if (def->admin_only)
        return tms__deny(x, TMS_FORBIDDEN, "%s is reserved to the PBX Admin", def->name);
    if (def->menu_perm >= 0 && !tms__holds(x, def->menu_perm))
        return tms__deny(x, TMS_FORBIDDEN, "manager %s lacks %s, needed for %s", x->actor,
                    tms_permissions[def->menu_perm].name, def->name);
    return TMS_OK;
}

tms_err tms__check_manages(rctx *x, const tms_account *m, const char *what)
{
    if (x->is_admin || tms_manager_is_above(x->me, m))
        return TMS_OK;
    return tms__deny(x, TMS_FORBIDDEN, "manager %s is not above manager %s (%s)", x->actor, tms_account_id(m), what);
}

tms_err tms__need_account(rctx *x, char kind, const char *id, tms_account **out)
{
    *out = tms_tenant_account(x->tenant, kind, id);
    if (!*out)
        return tms__deny(x, TMS_NOT_FOUND, "no %s %s in tenant %s", tms_kind_name(kind), id, x->t);
    return TMS_OK;
}

tms_err tms__names_mask(rctx *x, int fid, int features, uint64_t *mask)
{
    const tms_field *f = &x->c->f[fid];
    *mask = 0;
    for (int i = 0; i < f->n; i++) {
        const char *name = f->items[i].str;
        int b = features ? tms_feature_index(name) : tms_permission_index(name);
        if (b < 0)
            return features ? tms__deny(x, TMS_UNKNOWN_FEATURE, "no feature named %s", name)
                            : tms__deny(x, TMS_UNKNOWN_PERMISSION, "no permission named %s", name);
        *mask |= UINT64_C(1) << b;
    }
    return TMS_OK;
}

tms_err tms__check_account_type(rctx *x, char kind, uint64_t mask)
{
    uint64_t valid = kind == TMS_KIND_EXTENSION ? TMS_PERMS_EXTENSION_MASK : TMS_PERMS_MANAGER_MASK;
    char names[256];
    if (mask & ~valid)
        return tms__deny(x, TMS_WRONG_ACCOUNT_TYPE, "not valid for a %s: %s", tms_kind_name(kind),
                    tms_mask_names(mask & ~valid, 0, names, sizeof names));
    return TMS_OK;
}

tms_err tms__check_ceiling(rctx *x, uint64_t enabling)
{
    char names[256];
    uint64_t mine = x->is_admin ? ~UINT64_C(0) : tms_account_permissions(x->me);
    if (!(enabling & ~mine))
        return TMS_OK;
    return tms__deny(x, TMS_PERMISSION_CEILING, "manager %s may not enable what it does not hold: %s", x->actor,
                tms_mask_names(enabling & ~mine, 0, names, sizeof names));
}

void tms_rules_report_custom(const tms_rules_sink *sink, const tms_record *rec, const tms_effect *effs, size_t n)
{
    for (size_t i = 0; sink && sink->custom && i < n; i++) {
        const tms_effect *e = &effs[i];
        if (e->type != TMS_EFFECT_BECAME_CUSTOM)
            continue;
        tms_custom_event ev = {e->tenant, e->kind, e->id, e->before, TMS_CMD_STR(&rec->cmd, TMS_F_ACTOR),
                               e->cause, e->enabled, e->disabled};
        sink->custom(sink->ctx, rec, &ev);
    }
}

static tms_err create_tenant(rctx *x)
{
    tms_tenant *t;
    if (tms_state_tenant(x->st, x->t))
        return tms__deny(x, TMS_TENANT_EXISTS, "tenant %s already exists", x->t);
    if (strcmp(x->actor, "system"))
        return tms__deny(x, TMS_FORBIDDEN, "CreateTenant is issued by actor system, not %s", x->actor);
    return tms_state_create_tenant(x->st, x->t, F(x, TMS_F_ADMIN), &t);
}

typedef tms_err (*handler_fn)(rctx *x);

/* AcknowledgeLoss: the engine's own record of an operator's decision; it
 * changes no state. Only the engine writes it (refused as input, cmd.h). */
static tms_err acknowledge_loss(rctx *x)
{
    if (strcmp(x->actor, "system"))
        return tms__deny(x, TMS_FORBIDDEN, "AcknowledgeLoss is written by actor system, not %s", x->actor);
    return TMS_OK;
}

/* One handler per command of the schema (a dispatch table: a command the
 * schema gains without a handler here is TMS_E_INVAL, never a silent accept). */
static const handler_fn handlers[TMS_CMD_COUNT] = {
    [TMS_CMD_CREATE_TENANT] = create_tenant,
    [TMS_CMD_CREATE_LOGIN] = tms__cmd_create_login,
    [TMS_CMD_CREATE_EXTENSION] = tms__cmd_create_extension,
    [TMS_CMD_DELETE_EXTENSION] = tms__cmd_delete_extension,
    [TMS_CMD_LINK_LOGIN] = tms__cmd_link_login,
    [TMS_CMD_CREATE_QUEUE] = tms__cmd_create_group,
    [TMS_CMD_CREATE_CAMPAIGN] = tms__cmd_create_group,
    [TMS_CMD_DELETE_QUEUE] = tms__cmd_delete_group,
    [TMS_CMD_DELETE_CAMPAIGN] = tms__cmd_delete_group,
    [TMS_CMD_ADD_MANAGER] = tms__cmd_add_manager,
    [TMS_CMD_REMOVE_MANAGER] = tms__cmd_remove_manager,
    [TMS_CMD_DISTRIBUTE] = tms__cmd_distribute,
    [TMS_CMD_UNDISTRIBUTE] = tms__cmd_undistribute,
    [TMS_CMD_TAKE_OWNERSHIP] = tms__cmd_take_ownership,
    [TMS_CMD_RELEASE_OWNERSHIP] = tms__cmd_release_ownership,
    [TMS_CMD_SET_PERMISSIONS] = tms__cmd_set_permissions,
    [TMS_CMD_SET_FEATURES] = tms__cmd_set_features,
    [TMS_CMD_CREATE_ROLE] = tms__cmd_create_role,
    [TMS_CMD_UPDATE_ROLE] = tms__cmd_update_role,
    [TMS_CMD_DELETE_ROLE] = tms__cmd_delete_role,
    [TMS_CMD_ASSIGN_ROLE] = tms__cmd_assign_role,
    [TMS_CMD_SET_DEFAULT_ROLE] = tms__cmd_set_default_role,
    [TMS_CMD_ACKNOWLEDGE_LOSS] = acknowledge_loss,
};

/* Tenant, then actor (SPEC section 3 order), before any handler runs. */
static tms_err resolve_actor(rctx *x)
{
    x->tenant = tms_state_tenant(x->st, x->t);
    if (!x->tenant)
        return tms__deny(x, TMS_UNKNOWN_TENANT, "no tenant %s", x->t);
    if (!strcmp(x->actor, tms_tenant_admin(x->tenant))) {
        x->is_admin = 1;
        return TMS_OK;
    }
    x->me = tms_tenant_account(x->tenant, TMS_KIND_MANAGER, x->actor);
    if (!x->me)
        return tms__deny(x, TMS_UNKNOWN_ACTOR, "%s is neither the PBX Admin nor a manager of %s", x->actor, x->t);
    return TMS_OK;
}

tms_err tms_rules_apply(tms_state *st, const tms_record *rec, tms_verdict *v)
{
    rctx x;
    tms_state_mark mark = tms_state_mark_get(st);
    memset(&x, 0, sizeof x);
    x.st = st;
    x.rec = rec;
    x.c = &rec->cmd;
    x.t = rec->cmd.f[TMS_F_TENANT].str;
    x.actor = rec->cmd.f[TMS_F_ACTOR].str;
    x.v = v;
    v->code = TMS_OK;
    v->message[0] = '\0';
    handler_fn h = (unsigned)rec->cmd.type < TMS_CMD_COUNT ? handlers[rec->cmd.type] : NULL;
    if (!h)
        return TMS_E_INVAL;
    int tenantless = rec->cmd.type == TMS_CMD_CREATE_TENANT || tms_cmd_defs[rec->cmd.type].engine_only;
    tms_err err = tenantless ? TMS_OK : resolve_actor(&x);
    if (err == TMS_OK)
        err = h(&x);
    if (err != TMS_OK)
        tms_state_rollback(st, mark);   /* a rejection, or a failure half way: nothing stays */
    if (err != TMS_OK && tms_err_is_domain[err]) {
        v->code = err;
        return TMS_OK;
    }
    return err;
}
