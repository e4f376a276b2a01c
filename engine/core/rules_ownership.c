/* rules_ownership.c -- distribution (visibility, R1 R2) and ownership ("Put
 * Under Management", R4-R7). */
#include "rules_internal.h"
#include <stdio.h>
#include <string.h>

/* Both Distribute and Undistribute: object and manager exist, menu, R2
 * scope (target is the actor or below it), the object visible to the actor. */
static tms_err check_distribution(rctx *x, tms_account **obj, tms_account **target)
{
    const char *id = F(x, TMS_F_ID);
    char kind = tms_kind_of(F(x, TMS_F_KIND));
    tms_err err;
    if ((err = tms__need_account(x, kind, id, obj)) || (err = tms__need_account(x, TMS_KIND_MANAGER, F(x, TMS_F_MANAGER), target)) ||
        (err = tms__check_menu(x)))
        return err;
    if (x->is_admin)
        return TMS_OK;
    if (*target != x->me && (err = tms__check_manages(x, *target, "R2")))
        return err;
    return tms_object_is_distributed_to(*obj, x->me)
               ? TMS_OK
               : tms__deny(x, TMS_NOT_VISIBLE, "%s %s is not visible to manager %s", tms_kind_name(kind), id, x->actor);
}

tms_err tms__cmd_distribute(rctx *x)
{
    tms_account *obj, *target;
    tms_err err = check_distribution(x, &obj, &target);
    return err ? err : tms_object_distribute(x->st, obj, target);
}

tms_err tms__cmd_undistribute(rctx *x)
{
    const char *id = F(x, TMS_F_ID), *manager = F(x, TMS_F_MANAGER);
    tms_account *obj, *target;
    tms_err err = check_distribution(x, &obj, &target);
    if (err)
        return err;
    if (!tms_object_is_distributed_to(obj, target))
        return tms__deny(x, TMS_NOT_DISTRIBUTED, "%s %s is not distributed to manager %s",
                    tms_kind_name(tms_account_kind(obj)), id, manager);
    if (tms_account_owner(obj) == target)
        return tms__deny(x, TMS_OWNED_BY_TARGET, "extension %s is owned by manager %s: release it first", id, manager);
    return tms_object_undistribute(x->st, obj, target);
}

/* R5/R6: who is to own. A manager takes for itself; the Admin names one. */
static tms_err ownership_target(rctx *x, tms_account *named, tms_account **target)
{
    if (x->is_admin) {
        if (!named)
            return tms__deny(x, TMS_FORBIDDEN, "the PBX Admin owns nothing: name the manager to own the extension");
        *target = named;
    } else {
        if (named && named != x->me)
            return tms__deny(x, TMS_FORBIDDEN, "only the PBX Admin may give ownership to another manager");
        *target = x->me;
    }
    return TMS_OK;
}

tms_err tms__cmd_take_ownership(rctx *x)
{
    const char *id = F(x, TMS_F_ID), *named_id = F(x, TMS_F_MANAGER);
    tms_account *ext, *named = NULL, *target = NULL;
    tms_err err;
    if ((err = tms__need_account(x, TMS_KIND_EXTENSION, id, &ext)) ||
        (named_id && (err = tms__need_account(x, TMS_KIND_MANAGER, named_id, &named))) || (err = tms__check_menu(x)) ||
        (err = ownership_target(x, named, &target)))
        return err;
    if (!tms_object_is_distributed_to(ext, target))
        return tms__deny(x, TMS_NOT_DISTRIBUTED, "extension %s is not distributed to manager %s", id,
                    tms_account_id(target));
    tms_account *owner = tms_account_owner(ext);
    if (owner == target)
        return TMS_OK;   /* R5: taking what you own changes nothing */
    if (owner && !x->is_admin)
        return tms__deny(x, TMS_ALREADY_OWNED, "extension %s is owned by manager %s", id, tms_account_id(owner));
    return tms_account_set_owner(x->st, ext, target);   /* R6: the Admin overwrites */
}

tms_err tms__cmd_release_ownership(rctx *x)
{
    const char *id = F(x, TMS_F_ID);
    tms_account *ext, *owner;
    tms_err err;
    if ((err = tms__need_account(x, TMS_KIND_EXTENSION, id, &ext)) || (err = tms__check_menu(x)))
        return err;
    if (!(owner = tms_account_owner(ext)))
        return tms__deny(x, TMS_NOT_OWNER, "extension %s has no owner", id);
    if (!x->is_admin && owner != x->me && !tms_manager_is_above(x->me, owner))
        return tms__deny(x, TMS_NOT_OWNER, "extension %s is owned by %s; manager %s is not above it", id,
                    tms_account_id(owner), x->actor);
    return tms_account_set_owner(x->st, ext, NULL);   /* R7: permissions stay as they are */
}
