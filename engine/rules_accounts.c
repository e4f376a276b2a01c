/* rules_accounts.c -- creating and deleting what lives in a tenant: logins,
 * extensions (R22), queues and campaigns (R3, R22), managers (R19, R20, R23).
 * Each handler checks in SPEC order (NOT_FOUND/ALREADY_EXISTS, FORBIDDEN, the
 * rule-specific codes) and writes nothing until every check has passed. */
#include "rules_internal.h"
#include <stdio.h>
#include <string.h>

static tms_err login_lookup(rctx *x, const char *id, tms_login_rec *out)
{
    tms_err err = tms_login_get(x->tx, x->t, id, out);
    if (err == TMS_NOT_FOUND)
        return deny(x, TMS_NOT_FOUND, "no login %s in tenant %s", id, x->t);
    return err;
}

static tms_err need_absent(rctx *x, char kind, const char *id)
{
    tms_account_rec a;
    tms_err err = tms_account_get(x->tx, x->t, kind, id, &a);
    if (err == TMS_OK)
        return deny(x, TMS_ALREADY_EXISTS, "%s %s already exists", kind_name(kind), id);
    return err == TMS_NOT_FOUND ? TMS_OK : err;
}

static tms_err login_absent(rctx *x, const char *id)
{
    tms_login_rec l;
    tms_err err = tms_login_get(x->tx, x->t, id, &l);
    if (err == TMS_OK)
        return deny(x, TMS_ALREADY_EXISTS, "login %s already exists", id);
    return err == TMS_NOT_FOUND ? TMS_OK : err;
}

tms_err cmd_create_login(rctx *x)
{
    tms_login_rec l;
    tms_err err = login_absent(x, F(x, TMS_F_ID));
    if (err || (err = check_menu(x)))
        return err;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "%s", F(x, TMS_F_NAME) ? F(x, TMS_F_NAME) : "");
    snprintf(l.email, sizeof l.email, "%s", F(x, TMS_F_EMAIL) ? F(x, TMS_F_EMAIL) : "");
    return tms_login_put(x->tx, x->t, F(x, TMS_F_ID), &l);
}

tms_err cmd_create_extension(rctx *x)
{
    const char *id = F(x, TMS_F_ID), *login = F(x, TMS_F_LOGIN);
    tms_login_rec l;
    tms_account_rec a;
    tms_role_rec r;
    tms_err err;
    if ((login && (err = login_lookup(x, login, &l))) || (err = need_absent(x, TMS_KIND_EXTENSION, id)) ||
        (err = check_menu(x)))
        return err;
    if (login && l.extension[0])
        return deny(x, TMS_LOGIN_IN_USE, "login %s already backs extension %s", login, l.extension);
    memset(&a, 0, sizeof a);
    if (x->tenant.default_role[0]) {   /* R18 */
        if ((err = tms_role_get(x->tx, x->t, x->tenant.default_role, &r)))
            return err == TMS_NOT_FOUND ? TMS_E_CORRUPT : err;
        a.perms = r.perms;
        if ((err = set_role(x, TMS_KIND_EXTENSION, id, &a, TMS_ROLE_SET, x->tenant.default_role)))
            return err;
    }
    if (login) {
        snprintf(a.login, sizeof a.login, "%s", login);
        snprintf(l.extension, sizeof l.extension, "%s", id);
        if ((err = tms_login_put(x->tx, x->t, login, &l)))
            return err;
    }
    return tms_account_put(x->tx, x->t, TMS_KIND_EXTENSION, id, &a);
}

static tms_err free_login(rctx *x, const char *login, char kind)
{
    tms_login_rec l;
    if (!login[0])
        return TMS_OK;
    tms_err err = tms_login_get(x->tx, x->t, login, &l);
    if (err)
        return err == TMS_NOT_FOUND ? TMS_E_CORRUPT : err;
    (kind == TMS_KIND_MANAGER ? l.manager : l.extension)[0] = '\0';
    return tms_login_put(x->tx, x->t, login, &l);
}

tms_err cmd_delete_extension(rctx *x)
{
    const char *id = F(x, TMS_F_ID);
    tms_account_rec a;
    tms_err err;
    if ((err = need_account(x, TMS_KIND_EXTENSION, id, &a)) || (err = check_menu(x)))
        return err;
    if ((err = undistribute_all(x, TMS_KIND_EXTENSION, id)))
        return err;
    if (a.link[0] && (err = tms_set_del(x->tx, TMS_DB_OWNED, x->t, a.link, NULL, id)))
        return err;
    if ((err = set_role(x, TMS_KIND_EXTENSION, id, &a, TMS_ROLE_NONE, NULL)) ||
        (err = free_login(x, a.login, TMS_KIND_EXTENSION)))
        return err;
    return tms_account_del(x->tx, x->t, TMS_KIND_EXTENSION, id);
}

tms_err cmd_link_login(rctx *x)
{
    const char *ext = F(x, TMS_F_EXTENSION), *login = F(x, TMS_F_LOGIN);
    tms_account_rec a;
    tms_login_rec l;
    tms_err err;
    if ((err = need_account(x, TMS_KIND_EXTENSION, ext, &a)) || (err = login_lookup(x, login, &l)) ||
        (err = check_menu(x)))
        return err;
    if (l.extension[0] && strcmp(l.extension, ext))
        return deny(x, TMS_LOGIN_IN_USE, "login %s already backs extension %s", login, l.extension);
    if (!strcmp(a.login, login))
        return TMS_OK;
    if ((err = free_login(x, a.login, TMS_KIND_EXTENSION)))
        return err;
    snprintf(a.login, sizeof a.login, "%s", login);
    snprintf(l.extension, sizeof l.extension, "%s", ext);
    if ((err = tms_login_put(x->tx, x->t, login, &l)))
        return err;
    return tms_account_put(x->tx, x->t, TMS_KIND_EXTENSION, ext, &a);
}

static char group_kind(const rctx *x)
{
    tms_cmd_type t = x->c->type;
    return t == TMS_CMD_CREATE_QUEUE || t == TMS_CMD_DELETE_QUEUE ? TMS_KIND_QUEUE : TMS_KIND_CAMPAIGN;
}

tms_err cmd_create_group(rctx *x)
{
    const char *id = F(x, TMS_F_ID);
    char kind = group_kind(x), k[2] = {kind, 0}, member[TMS_ID_MAX + 2];
    tms_account_rec a;
    tms_err err;
    if ((err = need_absent(x, kind, id)) || (err = check_menu(x)))
        return err;
    memset(&a, 0, sizeof a);
    if ((err = tms_account_put(x->tx, x->t, kind, id, &a)))
        return err;
    if (x->is_admin)
        return TMS_OK;
    member_of(member, kind, id);   /* R3: created by a manager, distributed to it */
    if ((err = tms_set_add(x->tx, TMS_DB_DIST, x->t, k, id, x->actor)))
        return err;
    return tms_set_add(x->tx, TMS_DB_VISIBLE, x->t, x->actor, NULL, member);
}

tms_err cmd_delete_group(rctx *x)
{
    const char *id = F(x, TMS_F_ID);
    char kind = group_kind(x), k[2] = {kind, 0};
    tms_account_rec a;
    tms_err err;
    if ((err = need_account(x, kind, id, &a)) || (err = check_menu(x)))
        return err;
    if (!x->is_admin) {
        int vis = tms_set_has(x->tx, TMS_DB_DIST, x->t, k, id, x->actor);
        if (vis < 0)
            return (tms_err)-vis;
        if (!vis)
            return deny(x, TMS_NOT_VISIBLE, "%s %s is not distributed to manager %s", kind_name(kind), id, x->actor);
    }
    if ((err = undistribute_all(x, kind, id)))
        return err;
    return tms_account_del(x->tx, x->t, kind, id);
}

/* AddManager's parent: given, or the acting manager, or none for the Admin. */
static tms_err manager_parent(rctx *x, const char **parent)
{
    const tms_field *p = &x->c->f[TMS_F_PARENT];
    tms_account_rec pm;
    *parent = p->present ? p->str : (x->is_admin ? NULL : x->actor);
    if (p->present && p->str)
        return need_account(x, TMS_KIND_MANAGER, p->str, &pm);
    return TMS_OK;
}

static tms_err manager_parent_scope(rctx *x, const char *parent)
{
    int above;
    if (x->is_admin || (parent && !strcmp(parent, x->actor)))
        return TMS_OK;
    if (!parent)
        return deny(x, TMS_FORBIDDEN, "manager %s may only add managers in its own subtree", x->actor);
    tms_err err = is_above(x, x->actor, parent, &above);
    if (err)
        return err;
    return above ? TMS_OK : deny(x, TMS_FORBIDDEN, "manager %s is not above %s", x->actor, parent);
}

tms_err cmd_add_manager(rctx *x)
{
    const char *id = F(x, TMS_F_ID), *parent, *login = F(x, TMS_F_LOGIN);
    const tms_field *nl = &x->c->f[TMS_F_NEW_LOGIN];
    tms_login_rec l;
    tms_account_rec a;
    tms_err err;
    memset(&l, 0, sizeof l);
    if ((login && (err = login_lookup(x, login, &l))) || (err = manager_parent(x, &parent)))
        return err;
    if (!strcmp(id, x->tenant.admin))
        return deny(x, TMS_ALREADY_EXISTS, "%s is the PBX Admin's id", id);
    if ((err = need_absent(x, TMS_KIND_MANAGER, id)) || (nl->present && (err = login_absent(x, nl->items[0].str))) ||
        (err = check_menu(x)) || (err = manager_parent_scope(x, parent)))
        return err;
    if (login && l.manager[0])
        return deny(x, TMS_LOGIN_IN_USE, "login %s already backs manager %s", login, l.manager);
    if (nl->present) {
        login = nl->items[0].str;
        snprintf(l.name, sizeof l.name, "%s", nl->items[1].str ? nl->items[1].str : "");
        snprintf(l.email, sizeof l.email, "%s", nl->items[2].str ? nl->items[2].str : "");
    }
    snprintf(l.manager, sizeof l.manager, "%s", id);
    memset(&a, 0, sizeof a);
    snprintf(a.login, sizeof a.login, "%s", login);
    snprintf(a.link, sizeof a.link, "%s", parent ? parent : "");
    if ((err = tms_login_put(x->tx, x->t, login, &l)) ||
        (parent && (err = tms_set_add(x->tx, TMS_DB_CHILDREN, x->t, parent, NULL, id))))
        return err;
    return tms_account_put(x->tx, x->t, TMS_KIND_MANAGER, id, &a);
}

tms_err cmd_remove_manager(rctx *x)
{
    const char *id = F(x, TMS_F_ID);
    tms_account_rec a;
    size_t nvis, nown, nkids;
    tms_err err;
    if ((err = need_account(x, TMS_KIND_MANAGER, id, &a)) || (err = check_menu(x)) ||
        (err = check_manages(x, id, "R23")))
        return err;
    if ((err = tms_set_count(x->tx, TMS_DB_VISIBLE, x->t, id, NULL, &nvis)) ||
        (err = tms_set_count(x->tx, TMS_DB_OWNED, x->t, id, NULL, &nown)) ||
        (err = tms_set_count(x->tx, TMS_DB_CHILDREN, x->t, id, NULL, &nkids)))
        return err;
    if (nvis || nown || nkids)
        return deny(x, TMS_HAS_DEPENDENTS,
                    "manager %s has %zu distributed objects, %zu owned extensions, %zu reporting managers",
                    id, nvis, nown, nkids);
    if ((err = free_login(x, a.login, TMS_KIND_MANAGER)) ||
        (a.link[0] && (err = tms_set_del(x->tx, TMS_DB_CHILDREN, x->t, a.link, NULL, id))) ||
        (err = set_role(x, TMS_KIND_MANAGER, id, &a, TMS_ROLE_NONE, NULL)))
        return err;
    return tms_account_del(x->tx, x->t, TMS_KIND_MANAGER, id);
}
