/* rules_perms.c -- permissions, features and roles: the ceiling (R10), no
 * cascade (R11), account types (R12), roles as templates (R13, R14), the
 * Custom role (R15), propagation (R16), deletion (R17), the default (R18). */
#include "rules_internal.h"
#include <stdio.h>
#include <string.h>

static tms_err check_owner(rctx *x, const char *id, const tms_account_rec *e)
{
    if (x->is_admin || !strcmp(e->link, x->actor))
        return TMS_OK;
    if (!e->link[0])
        return deny(x, TMS_NOT_OWNER, "extension %s has no owner; manager %s must put it under management first",
                    id, x->actor);
    return deny(x, TMS_NOT_OWNER, "extension %s is owned by manager %s, not %s", id, e->link, x->actor);
}

/* R15: after a direct change, an account whose set left its role's goes Custom. */
static tms_err maybe_custom(rctx *x, char kind, const char *id, tms_account_rec *a)
{
    tms_role_rec r;
    if (a->role_tag != TMS_ROLE_SET)
        return TMS_OK;
    tms_err err = tms_role_get(x->tx, x->t, a->role, &r);
    if (err)
        return err == TMS_NOT_FOUND ? TMS_E_CORRUPT : err;
    if (r.perms == a->perms)
        return TMS_OK;
    return go_custom(x, kind, id, a, r.perms, "set_permissions");
}

tms_err cmd_set_permissions(rctx *x)
{
    const char *id = F(x, TMS_F_ID);
    char kind = kind_of(F(x, TMS_F_KIND));
    uint64_t en, dis;
    tms_account_rec a;
    tms_err err;
    if ((err = need_account(x, kind, id, &a)) || (err = check_menu(x)) ||
        (kind == TMS_KIND_MANAGER && (err = check_manages(x, id, "R9"))) || (err = names_mask(x, TMS_F_ENABLE, 0, &en)) ||
        (err = names_mask(x, TMS_F_DISABLE, 0, &dis)) || (err = check_account_type(x, kind, en | dis)) ||
        (kind == TMS_KIND_EXTENSION && (err = check_owner(x, id, &a))) ||
        (err = check_ceiling(x, en & ~a.perms)))
        return err;
    uint64_t next = (a.perms | en) & ~dis;
    if (next == a.perms)
        return TMS_OK;
    a.perms = next;
    if ((err = maybe_custom(x, kind, id, &a)))
        return err;
    return tms_account_put(x->tx, x->t, kind, id, &a);
}

tms_err cmd_set_features(rctx *x)
{
    const char *id = F(x, TMS_F_ID);
    uint64_t en, dis;
    tms_account_rec a;
    tms_err err;
    if ((err = need_account(x, TMS_KIND_EXTENSION, id, &a)) || (err = check_menu(x)) ||
        (err = names_mask(x, TMS_F_ENABLE, 1, &en)) || (err = names_mask(x, TMS_F_DISABLE, 1, &dis)) ||
        (err = check_owner(x, id, &a)))
        return err;
    uint64_t next = (a.features | en) & ~dis;   /* R10: features are exempt from the ceiling */
    if (next == a.features)
        return TMS_OK;
    a.features = next;
    return tms_account_put(x->tx, x->t, TMS_KIND_EXTENSION, id, &a);
}

static tms_err need_role(rctx *x, const char *role, tms_role_rec *r)
{
    tms_err err = tms_role_get(x->tx, x->t, role, r);
    if (err == TMS_NOT_FOUND)
        return deny(x, TMS_NOT_FOUND, "no role %s in tenant %s", role, x->t);
    return err;
}

/* R13: the creator, a manager above the creator, or the PBX Admin. */
static tms_err check_role_owner(rctx *x, const char *role, const tms_role_rec *r)
{
    int above;
    if (x->is_admin || !strcmp(r->creator, x->actor))
        return TMS_OK;
    tms_err err = is_above(x, x->actor, r->creator, &above);
    if (err)
        return err;
    return above ? TMS_OK
                 : deny(x, TMS_FORBIDDEN, "role %s was created by %s; manager %s is not above it", role,
                        r->creator, x->actor);
}

tms_err cmd_create_role(rctx *x)
{
    const char *role = F(x, TMS_F_ROLE);
    char kind = kind_of(F(x, TMS_F_ACCOUNT_TYPE));
    tms_role_rec r;
    uint64_t perms;
    tms_err err = tms_role_get(x->tx, x->t, role, &r);
    if (err == TMS_OK || !strcmp(role, "Custom"))
        return deny(x, TMS_ALREADY_EXISTS, "role %s already exists%s", role,
                    err == TMS_OK ? "" : " (Custom is reserved)");
    if (err != TMS_NOT_FOUND)
        return err;
    if ((err = check_menu(x)) || (err = names_mask(x, TMS_F_PERMISSIONS, 0, &perms)) ||
        (err = check_account_type(x, kind, perms)) || (err = check_ceiling(x, perms)))
        return err;
    memset(&r, 0, sizeof r);
    r.account_kind = kind;
    r.perms = perms;
    snprintf(r.creator, sizeof r.creator, "%s", x->actor);
    return tms_role_put(x->tx, x->t, role, &r);
}

typedef struct holder_ctx {
    rctx *x;
    const char *role;
    uint64_t perms;       /* UpdateRole: the new set */
    int deleting;         /* DeleteRole: holders go Custom */
    tms_err err;
} holder_ctx;

/* R16 / R17 for one holder ("e1001"). */
static int touch_holder(void *ctx, const char *member, size_t len)
{
    holder_ctx *h = ctx;
    tms_account_rec a;
    (void)len;
    h->err = tms_account_get(h->x->tx, h->x->t, member[0], member + 1, &a);
    if (h->err == TMS_NOT_FOUND)
        h->err = TMS_E_CORRUPT;
    if (h->err)
        return 1;
    if (h->deleting) {
        /* the holders set is cleared as a whole afterwards: only mark Custom here */
        char role[TMS_ID_MAX + 1];
        memcpy(role, a.role, sizeof role);
        a.role_tag = TMS_ROLE_CUSTOM;
        a.role[0] = '\0';
        if (h->x->sink && h->x->sink->custom) {
            tms_custom_event ev = {h->x->t, member[0], member + 1, role, h->x->actor, "role_deleted", 0, 0};
            h->x->sink->custom(h->x->sink->ctx, h->x->rec, &ev);
        }
    } else {
        a.perms = h->perms;
    }
    h->err = tms_account_put(h->x->tx, h->x->t, member[0], member + 1, &a);
    return h->err != TMS_OK;
}

tms_err cmd_update_role(rctx *x)
{
    const char *role = F(x, TMS_F_ROLE);
    tms_role_rec r;
    uint64_t perms;
    tms_err err;
    if ((err = need_role(x, role, &r)) || (err = check_menu(x)) || (err = check_role_owner(x, role, &r)) ||
        (err = names_mask(x, TMS_F_PERMISSIONS, 0, &perms)) || (err = check_account_type(x, r.account_kind, perms)) ||
        (err = check_ceiling(x, perms & ~r.perms)))
        return err;
    if (perms == r.perms)
        return TMS_OK;
    r.perms = perms;
    if ((err = tms_role_put(x->tx, x->t, role, &r)))
        return err;
    holder_ctx h = {x, role, perms, 0, TMS_OK};
    err = tms_set_foreach(x->tx, TMS_DB_HOLDERS, x->t, role, NULL, touch_holder, &h);
    return err ? err : h.err;
}

tms_err cmd_delete_role(rctx *x)
{
    const char *role = F(x, TMS_F_ROLE);
    tms_role_rec r;
    tms_err err;
    if ((err = need_role(x, role, &r)) || (err = check_menu(x)) || (err = check_role_owner(x, role, &r)))
        return err;
    holder_ctx h = {x, role, r.perms, 1, TMS_OK};
    if ((err = tms_set_foreach(x->tx, TMS_DB_HOLDERS, x->t, role, NULL, touch_holder, &h)) || (err = h.err))
        return err;
    if ((err = tms_set_clear(x->tx, TMS_DB_HOLDERS, x->t, role, NULL)) || (err = tms_role_del(x->tx, x->t, role)))
        return err;
    if (strcmp(x->tenant.default_role, role))
        return TMS_OK;
    x->tenant.default_role[0] = '\0';   /* the default role goes with it */
    return tms_tenant_put(x->tx, x->t, &x->tenant);
}

/* R14, pass 1: every id names an account (of either type), else NOT_FOUND. */
static tms_err assign_find(rctx *x, char kind, uint8_t *wrong_type)
{
    const tms_field *ids = &x->c->f[TMS_F_IDS];
    char other = kind == TMS_KIND_MANAGER ? TMS_KIND_EXTENSION : TMS_KIND_MANAGER;
    tms_account_rec a;
    for (int i = 0; i < ids->n; i++) {
        tms_err err = tms_account_get(x->tx, x->t, kind, ids->items[i].str, &a);
        wrong_type[i] = 0;
        if (err == TMS_NOT_FOUND) {
            err = tms_account_get(x->tx, x->t, other, ids->items[i].str, &a);
            if (err == TMS_NOT_FOUND)
                return deny(x, TMS_NOT_FOUND, "no account %s in tenant %s", ids->items[i].str, x->t);
            wrong_type[i] = 1;
        }
        if (err)
            return err;
    }
    return TMS_OK;
}

/* R14, passes 2-5 in SPEC order over all ids: FORBIDDEN (scope),
 * WRONG_ACCOUNT_TYPE, NOT_OWNER, PERMISSION_CEILING. */
static tms_err assign_checks(rctx *x, char kind, const tms_role_rec *r, const uint8_t *wrong_type)
{
    const tms_field *ids = &x->c->f[TMS_F_IDS];
    tms_account_rec a;
    tms_err err;
    for (int pass = 0; pass < 4; pass++)
        for (int i = 0; i < ids->n; i++) {
            const char *id = ids->items[i].str;
            if (pass == 1 && wrong_type[i])
                return deny(x, TMS_WRONG_ACCOUNT_TYPE, "role %s is for %ss; %s is not one", F(x, TMS_F_ROLE),
                            kind_name(kind), id);
            if (wrong_type[i] || pass == 1)
                continue;
            if ((err = tms_account_get(x->tx, x->t, kind, id, &a)))
                return err;
            if (pass == 0 && kind == TMS_KIND_MANAGER && (err = check_manages(x, id, "R9")))
                return err;
            if (pass == 2 && kind == TMS_KIND_EXTENSION && (err = check_owner(x, id, &a)))
                return err;
            if (pass == 3 && (err = check_ceiling(x, r->perms & ~a.perms)))
                return err;
        }
    return TMS_OK;
}

tms_err cmd_assign_role(rctx *x)
{
    const char *role = F(x, TMS_F_ROLE);
    const tms_field *ids = &x->c->f[TMS_F_IDS];
    uint8_t wrong_type[TMS_ID_LIST_MAX];
    tms_role_rec r;
    tms_account_rec a;
    tms_err err;
    if ((err = need_role(x, role, &r)) || (err = assign_find(x, r.account_kind, wrong_type)) ||
        (err = check_menu(x)) || (err = assign_checks(x, r.account_kind, &r, wrong_type)))
        return err;
    for (int i = 0; i < ids->n; i++) {   /* all checks passed: apply to every account */
        const char *id = ids->items[i].str;
        if ((err = tms_account_get(x->tx, x->t, r.account_kind, id, &a)))
            return err;
        a.perms = r.perms;
        if ((err = set_role(x, r.account_kind, id, &a, TMS_ROLE_SET, role)) ||
            (err = tms_account_put(x->tx, x->t, r.account_kind, id, &a)))
            return err;
    }
    return TMS_OK;
}

tms_err cmd_set_default_role(rctx *x)
{
    const char *role = F(x, TMS_F_ROLE);
    tms_role_rec r;
    tms_err err;
    if ((role && (err = need_role(x, role, &r))) || (err = check_menu(x)))
        return err;
    if (role && r.account_kind != TMS_KIND_EXTENSION)
        return deny(x, TMS_WRONG_ACCOUNT_TYPE, "role %s is for managers; the default role is for extensions", role);
    snprintf(x->tenant.default_role, sizeof x->tenant.default_role, "%s", role ? role : "");
    return tms_tenant_put(x->tx, x->t, &x->tenant);
}
