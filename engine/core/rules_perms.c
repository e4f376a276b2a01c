/* rules_perms.c -- permissions, features and roles: the ceiling (R10), no
 * cascade (R11), account types (R12), roles as templates (R13, R14), the
 * Custom role (R15), propagation (R16), deletion (R17), the default (R18). */
#include "rules_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tms_err check_owner(rctx *x, const tms_account *e)
{
    tms_account *owner = tms_account_owner(e);
    if (x->is_admin || (owner && owner == x->me))
        return TMS_OK;
    if (!owner)
        return tms__deny(x, TMS_NOT_OWNER, "extension %s has no owner; manager %s must put it under management first",
                    tms_account_id(e), x->actor);
    return tms__deny(x, TMS_NOT_OWNER, "extension %s is owned by manager %s, not %s", tms_account_id(e),
                tms_account_id(owner), x->actor);
}

tms_err tms__cmd_set_permissions(rctx *x)
{
    char kind = tms_kind_of(F(x, TMS_F_KIND));
    uint64_t en, dis;
    tms_account *a;
    tms_err err;
    if ((err = tms__need_account(x, kind, F(x, TMS_F_ID), &a)) || (err = tms__check_menu(x)) ||
        (kind == TMS_KIND_MANAGER && (err = tms__check_manages(x, a, "R9"))) ||
        (err = tms__names_mask(x, TMS_F_ENABLE, 0, &en)) || (err = tms__names_mask(x, TMS_F_DISABLE, 0, &dis)) ||
        (err = tms__check_account_type(x, kind, en | dis)) || (kind == TMS_KIND_EXTENSION && (err = check_owner(x, a))) ||
        (err = tms__check_ceiling(x, en & ~tms_account_permissions(a))))
        return err;
    uint64_t next = (tms_account_permissions(a) | en) & ~dis;
    int tag;
    tms_role *role = tms_account_role(a, &tag);
    if (next == tms_account_permissions(a))
        return TMS_OK;
    if ((err = tms_account_set_permissions(x->st, a, next)))
        return err;
    /* R15: a direct change that leaves the role's set makes the role Custom */
    if (tag == TMS_ROLE_SET && tms_role_permissions(role) != next)
        return tms_account_become_custom(x->st, a, tms_role_permissions(role), "set_permissions");
    return TMS_OK;
}

tms_err tms__cmd_set_features(rctx *x)
{
    uint64_t en, dis;
    tms_account *a;
    tms_err err;
    if ((err = tms__need_account(x, TMS_KIND_EXTENSION, F(x, TMS_F_ID), &a)) || (err = tms__check_menu(x)) ||
        (err = tms__names_mask(x, TMS_F_ENABLE, 1, &en)) || (err = tms__names_mask(x, TMS_F_DISABLE, 1, &dis)) ||
        (err = check_owner(x, a)))
        return err;
    /* R10: features are exempt from the ceiling */
    return tms_account_set_features(x->st, a, (tms_account_features(a) | en) & ~dis);
}

static tms_err need_role(rctx *x, const char *id, tms_role **out)
{
    *out = tms_tenant_role(x->tenant, id);
    if (!*out)
        return tms__deny(x, TMS_NOT_FOUND, "no role %s in tenant %s", id, x->t);
    return TMS_OK;
}

/* R13: the creator, a manager above the creator, or the PBX Admin. */
static tms_err check_role_owner(rctx *x, const tms_role *r)
{
    const char *creator = tms_role_creator(r);
    tms_account *cm;
    if (x->is_admin || !strcmp(creator, x->actor))
        return TMS_OK;
    if ((cm = tms_tenant_account(x->tenant, TMS_KIND_MANAGER, creator)) && tms_manager_is_above(x->me, cm))
        return TMS_OK;
    return tms__deny(x, TMS_FORBIDDEN, "role %s was created by %s; manager %s is not above it", tms_role_id(r), creator,
                x->actor);
}

tms_err tms__cmd_create_role(rctx *x)
{
    const char *id = F(x, TMS_F_ROLE);
    char kind = tms_kind_of(F(x, TMS_F_ACCOUNT_TYPE));
    tms_role *r = tms_tenant_role(x->tenant, id);
    uint64_t perms;
    tms_err err;
    if (r || !strcmp(id, "Custom"))
        return tms__deny(x, TMS_ALREADY_EXISTS, "role %s already exists%s", id, r ? "" : " (Custom is reserved)");
    if ((err = tms__check_menu(x)) || (err = tms__names_mask(x, TMS_F_PERMISSIONS, 0, &perms)) ||
        (err = tms__check_account_type(x, kind, perms)) || (err = tms__check_ceiling(x, perms)))
        return err;
    return tms_tenant_create_role(x->st, x->tenant, id, kind, perms, x->actor, &r);
}

tms_err tms__cmd_update_role(rctx *x)
{
    tms_role *r;
    uint64_t perms;
    size_t n;
    tms_err err;
    if ((err = need_role(x, F(x, TMS_F_ROLE), &r)) || (err = tms__check_menu(x)) || (err = check_role_owner(x, r)) ||
        (err = tms__names_mask(x, TMS_F_PERMISSIONS, 0, &perms)) ||
        (err = tms__check_account_type(x, tms_role_account_kind(r), perms)) ||
        (err = tms__check_ceiling(x, perms & ~tms_role_permissions(r))))
        return err;
    if (perms == tms_role_permissions(r))
        return TMS_OK;
    if ((err = tms_role_set_permissions(x->st, r, perms)))
        return err;
    tms_account **holders = tms_role_holders(r, &n);   /* R16: they keep the role */
    if (!holders && n)
        return TMS_E_NOMEM;
    for (size_t i = 0; i < n && !err; i++)
        err = tms_account_set_permissions(x->st, holders[i], perms);
    free(holders);
    return err;
}

tms_err tms__cmd_delete_role(rctx *x)
{
    tms_role *r;
    size_t n;
    tms_err err;
    if ((err = need_role(x, F(x, TMS_F_ROLE), &r)) || (err = tms__check_menu(x)) || (err = check_role_owner(x, r)))
        return err;
    tms_account **holders = tms_role_holders(r, &n);   /* R17: holders keep their permissions, go Custom */
    if (!holders && n)
        return TMS_E_NOMEM;
    for (size_t i = 0; i < n && !err; i++)
        err = tms_account_become_custom(x->st, holders[i], tms_role_permissions(r), "role_deleted");
    free(holders);
    if (!err && tms_tenant_default_role(x->tenant) == r)   /* the default role goes with it */
        err = tms_tenant_set_default_role(x->st, x->tenant, NULL);
    return err ? err : tms_tenant_delete_role(x->st, x->tenant, r);
}

/* R14, pass 1: every id names an account (of either type), else NOT_FOUND. */
static tms_err assign_find(rctx *x, char kind, tms_account **accts)
{
    const tms_field *ids = &x->c->f[TMS_F_IDS];
    char other = kind == TMS_KIND_MANAGER ? TMS_KIND_EXTENSION : TMS_KIND_MANAGER;
    for (int i = 0; i < ids->n; i++) {
        accts[i] = tms_tenant_account(x->tenant, kind, ids->items[i].str);
        if (!accts[i] && !tms_tenant_account(x->tenant, other, ids->items[i].str))
            return tms__deny(x, TMS_NOT_FOUND, "no account %s in tenant %s", ids->items[i].str, x->t);
    }
    return TMS_OK;
}

/* R14, passes 2-5 in SPEC order over all ids: FORBIDDEN (scope),
 * WRONG_ACCOUNT_TYPE, NOT_OWNER, PERMISSION_CEILING. accts[i] is NULL for an
 * id naming only an account of the other type. */
static tms_err assign_checks(rctx *x, char kind, const tms_role *r, tms_account **accts)
{
    const tms_field *ids = &x->c->f[TMS_F_IDS];
    tms_err err;
    for (int pass = 0; pass < 4; pass++)
        for (int i = 0; i < ids->n; i++) {
            tms_account *a = accts[i];
            if (pass == 1 && !a)
                return tms__deny(x, TMS_WRONG_ACCOUNT_TYPE, "role %s is for %ss; %s is not one", F(x, TMS_F_ROLE),
                            tms_kind_name(kind), ids->items[i].str);
            if (!a || pass == 1)
                continue;
            if (pass == 0 && kind == TMS_KIND_MANAGER && (err = tms__check_manages(x, a, "R9")))
                return err;
            if (pass == 2 && kind == TMS_KIND_EXTENSION && (err = check_owner(x, a)))
                return err;
            if (pass == 3 && (err = tms__check_ceiling(x, tms_role_permissions(r) & ~tms_account_permissions(a))))
                return err;
        }
    return TMS_OK;
}

tms_err tms__cmd_assign_role(rctx *x)
{
    const tms_field *ids = &x->c->f[TMS_F_IDS];
    tms_account *accts[TMS_ID_LIST_MAX];
    tms_role *r;
    tms_err err;
    if ((err = need_role(x, F(x, TMS_F_ROLE), &r)) || (err = assign_find(x, tms_role_account_kind(r), accts)) ||
        (err = tms__check_menu(x)) || (err = assign_checks(x, tms_role_account_kind(r), r, accts)))
        return err;
    for (int i = 0; i < ids->n && !err; i++) {   /* all checks passed: apply to every account */
        if ((err = tms_account_set_permissions(x->st, accts[i], tms_role_permissions(r))) == TMS_OK)
            err = tms_account_set_role(x->st, accts[i], r);
    }
    return err;
}

tms_err tms__cmd_set_default_role(rctx *x)
{
    const char *id = F(x, TMS_F_ROLE);
    tms_role *r = NULL;
    tms_err err;
    if ((id && (err = need_role(x, id, &r))) || (err = tms__check_menu(x)))
        return err;
    if (r && tms_role_account_kind(r) != TMS_KIND_EXTENSION)
        return tms__deny(x, TMS_WRONG_ACCOUNT_TYPE, "role %s is for managers; the default role is for extensions", id);
    return tms_tenant_set_default_role(x->st, x->tenant, r);
}
