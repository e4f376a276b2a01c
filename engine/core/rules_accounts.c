/* rules_accounts.c -- creating and deleting what lives in a tenant: logins,
 * extensions (R22), queues and campaigns (R3, R22), managers (R19, R20, R23).
 * Each handler checks in SPEC order (NOT_FOUND/ALREADY_EXISTS, FORBIDDEN, the
 * rule-specific codes) and changes nothing until every check has passed. */
#include "rules_internal.h"
#include <stdio.h>
#include <string.h>

static tms_err need_login(rctx *x, const char *id, tms_login **out)
{
    *out = tms_tenant_login(x->tenant, id);
    if (!*out)
        return tms__deny(x, TMS_NOT_FOUND, "no login %s in tenant %s", id, x->t);
    return TMS_OK;
}

static tms_err need_absent(rctx *x, char kind, const char *id)
{
    if (tms_tenant_account(x->tenant, kind, id))
        return tms__deny(x, TMS_ALREADY_EXISTS, "%s %s already exists", tms_kind_name(kind), id);
    return TMS_OK;
}

static tms_err login_absent(rctx *x, const char *id)
{
    if (tms_tenant_login(x->tenant, id))
        return tms__deny(x, TMS_ALREADY_EXISTS, "login %s already exists", id);
    return TMS_OK;
}

tms_err tms__cmd_create_login(rctx *x)
{
    tms_login *l;
    tms_err err = login_absent(x, F(x, TMS_F_ID));
    if (err || (err = tms__check_menu(x)))
        return err;
    return tms_tenant_create_login(x->st, x->tenant, F(x, TMS_F_ID), F(x, TMS_F_NAME), F(x, TMS_F_EMAIL), &l);
}

tms_err tms__cmd_create_extension(rctx *x)
{
    const char *id = F(x, TMS_F_ID), *login_id = F(x, TMS_F_LOGIN);
    tms_login *login = NULL;
    tms_account *a;
    tms_role *role = tms_tenant_default_role(x->tenant);
    tms_err err;
    if ((login_id && (err = need_login(x, login_id, &login))) || (err = need_absent(x, TMS_KIND_EXTENSION, id)) ||
        (err = tms__check_menu(x)))
        return err;
    if (login && tms_login_extension(login))
        return tms__deny(x, TMS_LOGIN_IN_USE, "login %s already backs extension %s", login_id,
                    tms_account_id(tms_login_extension(login)));
    if ((err = tms_tenant_create_account(x->st, x->tenant, TMS_KIND_EXTENSION, id, &a)))
        return err;
    if (role && ((err = tms_account_set_permissions(x->st, a, tms_role_permissions(role))) ||   /* R18 */
                 (err = tms_account_set_role(x->st, a, role))))
        return err;
    return login ? tms_account_bind_login(x->st, a, login) : TMS_OK;
}

tms_err tms__cmd_delete_extension(rctx *x)
{
    tms_account *a;
    tms_err err;
    if ((err = tms__need_account(x, TMS_KIND_EXTENSION, F(x, TMS_F_ID), &a)) || (err = tms__check_menu(x)))
        return err;
    return tms_tenant_delete_account(x->st, x->tenant, a);   /* distributions, owner, login go with it */
}

tms_err tms__cmd_link_login(rctx *x)
{
    const char *ext = F(x, TMS_F_EXTENSION), *login_id = F(x, TMS_F_LOGIN);
    tms_account *a;
    tms_login *l;
    tms_err err;
    if ((err = tms__need_account(x, TMS_KIND_EXTENSION, ext, &a)) || (err = need_login(x, login_id, &l)) ||
        (err = tms__check_menu(x)))
        return err;
    if (tms_login_extension(l) && tms_login_extension(l) != a)
        return tms__deny(x, TMS_LOGIN_IN_USE, "login %s already backs extension %s", login_id,
                    tms_account_id(tms_login_extension(l)));
    return tms_account_bind_login(x->st, a, l);   /* the login it had is free again */
}

static char group_kind(const rctx *x)
{
    tms_cmd_type t = x->c->type;
    return t == TMS_CMD_CREATE_QUEUE || t == TMS_CMD_DELETE_QUEUE ? TMS_KIND_QUEUE : TMS_KIND_CAMPAIGN;
}

tms_err tms__cmd_create_group(rctx *x)
{
    char kind = group_kind(x);
    tms_account *obj;
    tms_err err;
    if ((err = need_absent(x, kind, F(x, TMS_F_ID))) || (err = tms__check_menu(x)))
        return err;
    if ((err = tms_tenant_create_account(x->st, x->tenant, kind, F(x, TMS_F_ID), &obj)))
        return err;
    return x->is_admin ? TMS_OK : tms_object_distribute(x->st, obj, x->me);   /* R3 */
}

tms_err tms__cmd_delete_group(rctx *x)
{
    const char *id = F(x, TMS_F_ID);
    char kind = group_kind(x);
    tms_account *obj;
    tms_err err;
    if ((err = tms__need_account(x, kind, id, &obj)) || (err = tms__check_menu(x)))
        return err;
    if (!x->is_admin && !tms_object_is_distributed_to(obj, x->me))
        return tms__deny(x, TMS_NOT_VISIBLE, "%s %s is not distributed to manager %s", tms_kind_name(kind), id, x->actor);
    return tms_tenant_delete_account(x->st, x->tenant, obj);
}

/* AddManager's parent: given, or the acting manager, or none for the Admin. */
static tms_err manager_parent(rctx *x, tms_account **parent)
{
    const tms_field *p = &x->c->f[TMS_F_PARENT];
    *parent = NULL;
    if (p->present && p->str)
        return tms__need_account(x, TMS_KIND_MANAGER, p->str, parent);
    if (!p->present && !x->is_admin)
        *parent = x->me;
    return TMS_OK;
}

static tms_err manager_parent_scope(rctx *x, tms_account *parent)
{
    if (x->is_admin || parent == x->me)
        return TMS_OK;
    if (!parent)
        return tms__deny(x, TMS_FORBIDDEN, "manager %s may only add managers in its own subtree", x->actor);
    return tms_manager_is_above(x->me, parent)
               ? TMS_OK
               : tms__deny(x, TMS_FORBIDDEN, "manager %s is not above %s", x->actor, tms_account_id(parent));
}

tms_err tms__cmd_add_manager(rctx *x)
{
    const char *id = F(x, TMS_F_ID), *login_id = F(x, TMS_F_LOGIN);
    const tms_field *nl = &x->c->f[TMS_F_NEW_LOGIN];
    tms_login *login = NULL;
    tms_account *parent, *m;
    tms_err err;
    if ((login_id && (err = need_login(x, login_id, &login))) || (err = manager_parent(x, &parent)))
        return err;
    if (!strcmp(id, tms_tenant_admin(x->tenant)))
        return tms__deny(x, TMS_ALREADY_EXISTS, "%s is the PBX Admin's id", id);
    if ((err = need_absent(x, TMS_KIND_MANAGER, id)) || (nl->present && (err = login_absent(x, nl->items[0].str))) ||
        (err = tms__check_menu(x)) || (err = manager_parent_scope(x, parent)))
        return err;
    if (login && tms_login_manager(login))
        return tms__deny(x, TMS_LOGIN_IN_USE, "login %s already backs manager %s", login_id,
                    tms_account_id(tms_login_manager(login)));
    if (nl->present && (err = tms_tenant_create_login(x->st, x->tenant, nl->items[0].str, nl->items[1].str,
                                                      nl->items[2].str, &login)))
        return err;
    if ((err = tms_tenant_create_account(x->st, x->tenant, TMS_KIND_MANAGER, id, &m)) ||
        (err = tms_account_bind_login(x->st, m, login)))
        return err;
    return tms_account_set_parent(x->st, m, parent);
}

tms_err tms__cmd_remove_manager(rctx *x)
{
    const char *id = F(x, TMS_F_ID);
    tms_account *m;
    size_t nvis, nown, nkids;
    tms_err err;
    if ((err = tms__need_account(x, TMS_KIND_MANAGER, id, &m)) || (err = tms__check_menu(x)) ||
        (err = tms__check_manages(x, m, "R23")))
        return err;
    tms_manager_dependents(m, &nvis, &nown, &nkids);
    if (nvis || nown || nkids)
        return tms__deny(x, TMS_HAS_DEPENDENTS,
                    "manager %s has %zu distributed objects, %zu owned extensions, %zu reporting managers",
                    id, nvis, nown, nkids);
    return tms_tenant_delete_account(x->st, x->tenant, m);   /* its login is free again */
}
