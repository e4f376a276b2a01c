/* rules_ownership.c -- distribution (visibility, R1 R2) and ownership ("Put
 * Under Management", R4-R7). Distribution is kept in both directions, object
 * -> managers (dist) and manager -> objects (visible), so both "who sees
 * 1001" and "what does sales see" are one cursor walk. */
#include "rules_internal.h"
#include <stdio.h>
#include <string.h>

typedef struct unlink_ctx {
    rctx *x;
    const char *member;
    tms_err err;
} unlink_ctx;

static int unlink_one(void *ctx, const char *manager, size_t len)
{
    unlink_ctx *u = ctx;
    (void)len;
    u->err = tms_set_del(u->x->tx, TMS_DB_VISIBLE, u->x->t, manager, NULL, u->member);
    return u->err != TMS_OK;
}

tms_err undistribute_all(rctx *x, char kind, const char *id)
{
    char k[2] = {kind, 0}, member[TMS_ID_MAX + 2];
    member_of(member, kind, id);
    unlink_ctx u = {x, member, TMS_OK};
    tms_err err = tms_set_foreach(x->tx, TMS_DB_DIST, x->t, k, id, unlink_one, &u);
    if (err || u.err)
        return err ? err : u.err;
    return tms_set_clear(x->tx, TMS_DB_DIST, x->t, k, id);
}

/* Both Distribute and Undistribute: object and manager exist, menu, R2
 * scope (target is the actor or below it), the object visible to the actor. */
static tms_err check_distribution(rctx *x, char *kind, tms_account_rec *obj)
{
    const char *id = F(x, TMS_F_ID), *target = F(x, TMS_F_MANAGER);
    char k[2];
    tms_account_rec m;
    tms_err err;
    *kind = kind_of(F(x, TMS_F_KIND));
    k[0] = *kind;
    k[1] = 0;
    if ((err = need_account(x, *kind, id, obj)) || (err = need_account(x, TMS_KIND_MANAGER, target, &m)) ||
        (err = check_menu(x)))
        return err;
    if (x->is_admin)
        return TMS_OK;
    if (strcmp(target, x->actor) && (err = check_manages(x, target, "R2")))
        return err;
    int vis = tms_set_has(x->tx, TMS_DB_DIST, x->t, k, id, x->actor);
    if (vis < 0)
        return (tms_err)-vis;
    return vis ? TMS_OK
               : deny(x, TMS_NOT_VISIBLE, "%s %s is not visible to manager %s", kind_name(*kind), id, x->actor);
}

tms_err cmd_distribute(rctx *x)
{
    const char *id = F(x, TMS_F_ID), *target = F(x, TMS_F_MANAGER);
    char kind, k[2], member[TMS_ID_MAX + 2];
    tms_account_rec obj;
    tms_err err = check_distribution(x, &kind, &obj);
    if (err)
        return err;
    k[0] = kind;
    k[1] = 0;
    member_of(member, kind, id);
    if ((err = tms_set_add(x->tx, TMS_DB_DIST, x->t, k, id, target)))
        return err;
    return tms_set_add(x->tx, TMS_DB_VISIBLE, x->t, target, NULL, member);
}

tms_err cmd_undistribute(rctx *x)
{
    const char *id = F(x, TMS_F_ID), *target = F(x, TMS_F_MANAGER);
    char kind, k[2], member[TMS_ID_MAX + 2];
    tms_account_rec obj;
    tms_err err = check_distribution(x, &kind, &obj);
    if (err)
        return err;
    k[0] = kind;
    k[1] = 0;
    int has = tms_set_has(x->tx, TMS_DB_DIST, x->t, k, id, target);
    if (has < 0)
        return (tms_err)-has;
    if (!has)
        return deny(x, TMS_NOT_DISTRIBUTED, "%s %s is not distributed to manager %s", kind_name(kind), id, target);
    if (kind == TMS_KIND_EXTENSION && !strcmp(obj.link, target))
        return deny(x, TMS_OWNED_BY_TARGET, "extension %s is owned by manager %s: release it first", id, target);
    member_of(member, kind, id);
    if ((err = tms_set_del(x->tx, TMS_DB_DIST, x->t, k, id, target)))
        return err;
    return tms_set_del(x->tx, TMS_DB_VISIBLE, x->t, target, NULL, member);
}

/* R5/R6: who is to own. A manager takes for itself; the Admin names one. */
static tms_err ownership_target(rctx *x, const char **target)
{
    const char *named = F(x, TMS_F_MANAGER);
    if (x->is_admin) {
        if (!named)
            return deny(x, TMS_FORBIDDEN, "the PBX Admin owns nothing: name the manager to own the extension");
        *target = named;
    } else {
        if (named && strcmp(named, x->actor))
            return deny(x, TMS_FORBIDDEN, "only the PBX Admin may give ownership to another manager");
        *target = x->actor;
    }
    return TMS_OK;
}

tms_err cmd_take_ownership(rctx *x)
{
    const char *id = F(x, TMS_F_ID), *named = F(x, TMS_F_MANAGER), *target = NULL;
    tms_account_rec e, m;
    tms_err err;
    if ((err = need_account(x, TMS_KIND_EXTENSION, id, &e)) ||
        (named && (err = need_account(x, TMS_KIND_MANAGER, named, &m))) || (err = check_menu(x)) ||
        (err = ownership_target(x, &target)))
        return err;
    int dist = tms_set_has(x->tx, TMS_DB_DIST, x->t, "e", id, target);
    if (dist < 0)
        return (tms_err)-dist;
    if (!dist)
        return deny(x, TMS_NOT_DISTRIBUTED, "extension %s is not distributed to manager %s", id, target);
    if (!strcmp(e.link, target))
        return TMS_OK;   /* R5: taking what you own changes nothing */
    if (e.link[0] && !x->is_admin)
        return deny(x, TMS_ALREADY_OWNED, "extension %s is owned by manager %s", id, e.link);
    if (e.link[0] && (err = tms_set_del(x->tx, TMS_DB_OWNED, x->t, e.link, NULL, id)))
        return err;
    snprintf(e.link, sizeof e.link, "%s", target);
    if ((err = tms_set_add(x->tx, TMS_DB_OWNED, x->t, target, NULL, id)))
        return err;
    return tms_account_put(x->tx, x->t, TMS_KIND_EXTENSION, id, &e);
}

tms_err cmd_release_ownership(rctx *x)
{
    const char *id = F(x, TMS_F_ID);
    tms_account_rec e;
    int above = 0;
    tms_err err;
    if ((err = need_account(x, TMS_KIND_EXTENSION, id, &e)) || (err = check_menu(x)))
        return err;
    if (!e.link[0])
        return deny(x, TMS_NOT_OWNER, "extension %s has no owner", id);
    if (!x->is_admin && strcmp(e.link, x->actor) && (err = is_above(x, x->actor, e.link, &above)))
        return err;
    if (!x->is_admin && strcmp(e.link, x->actor) && !above)
        return deny(x, TMS_NOT_OWNER, "extension %s is owned by %s; manager %s is not above it", id, e.link,
                    x->actor);
    if ((err = tms_set_del(x->tx, TMS_DB_OWNED, x->t, e.link, NULL, id)))
        return err;
    e.link[0] = '\0';   /* R7: permissions stay as they are */
    return tms_account_put(x->tx, x->t, TMS_KIND_EXTENSION, id, &e);
}
