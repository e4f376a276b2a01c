/* tool_explain.c -- "who-can --explain": for one tenant and one permission
 * (or feature), which record gave each holder what it holds, and how (see
 * tool_audit.h). A grant is the record at which the account started holding
 * P without a break; losing P (or the account) forgets it. Read off the
 * effects of each record: a PERMISSIONS (FEATURES) effect that sets P's bit
 * starts a grant, one that clears it ends it, a deletion ends it. */
#include "cmd.h"
#include "tool_audit.h"
#include "tool_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tool_explain {
    const char *tenant;
    int perm, feat;
    json_t *grants;                 /* "e1001" -> {"via","seq","time","actor"} */
    json_t *admin;                  /* the tenant's creation: {"via","seq","time","actor"} */
};

tool_explain *tool_explain_new(const char *tenant, int perm, int feat)
{
    tool_explain *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->tenant = tenant;
    x->perm = perm;
    x->feat = feat;
    x->grants = json_object();
    return x;
}

void tool_explain_free(tool_explain *x)
{
    if (!x)
        return;
    json_decref(x->grants);
    json_decref(x->admin);
    free(x);
}

static json_t *grant_of(const tms_record *rec, const char *via)
{
    char when[TOOL_TIME_MAX];
    json_t *g = json_object();
    json_object_set_new(g, "via", json_string(via));
    json_object_set_new(g, "seq", json_integer((json_int_t)rec->seq));
    json_object_set_new(g, "time", json_string(tool_time_format(rec->time, when)));
    json_object_set_new(g, "actor", json_string(TMS_CMD_STR(&rec->cmd, TMS_F_ACTOR)));
    return g;
}

/* How an account got what a record gave it: through its role when the
 * record applied a role (AssignRole, UpdateRole, a default role at
 * CreateExtension), else directly. */
static void via_of(const tms_fold_event *ev, const tms_effect *e, char *via, size_t len)
{
    tms_cmd_type t = ev->rec->cmd.type;
    const tms_tenant *tn = tms_state_tenant(ev->state, e->tenant);
    const tms_account *a = tn ? tms_tenant_account(tn, e->kind, e->id) : NULL;
    int tag = TMS_ROLE_NONE;
    tms_role *role = a ? tms_account_role(a, &tag) : NULL;
    int by_role = t == TMS_CMD_ASSIGN_ROLE || t == TMS_CMD_UPDATE_ROLE || t == TMS_CMD_CREATE_EXTENSION;
    if (by_role && tag == TMS_ROLE_SET)
        snprintf(via, len, "role %s", tms_role_id(role));
    else
        snprintf(via, len, "direct");
}

tms_err tool_explain_effects(void *ctx, const tms_fold_event *ev)
{
    tool_explain *x = ctx;
    char member[TMS_ID_MAX + 2], via[TMS_ID_MAX + 8];
    if (ev->verdict->code != TMS_OK || strcmp(TMS_CMD_STR(&ev->rec->cmd, TMS_F_TENANT), x->tenant))
        return TMS_OK;
    if (ev->rec->cmd.type == TMS_CMD_CREATE_TENANT) {
        json_decref(x->admin);
        x->admin = grant_of(ev->rec, "pbx_admin");
        return TMS_OK;
    }
    for (size_t i = 0; i < ev->neffects; i++) {
        const tms_effect *e = &ev->effects[i];
        int bit = x->perm >= 0 ? x->perm : x->feat;
        snprintf(member, sizeof member, "%c%s", e->kind, e->id ? e->id : "");
        if (e->type == TMS_EFFECT_ACCOUNT_DELETED) {
            json_object_del(x->grants, member);
            continue;
        }
        if (e->type != (x->perm >= 0 ? TMS_EFFECT_PERMISSIONS : TMS_EFFECT_FEATURES))
            continue;
        int had = (e->mask_before >> bit) & 1, has = (e->mask_after >> bit) & 1;
        if (had && !has) {
            json_object_del(x->grants, member);
        } else if (!had && has) {
            via_of(ev, e, via, sizeof via);
            json_object_set_new(x->grants, member, grant_of(ev->rec, via));
        }
    }
    return TMS_OK;
}

void tool_explain_annotate(const tool_explain *x, char kind, const char *id, json_t *o)
{
    char m[TMS_ID_MAX + 2];
    const json_t *g = x->admin;
    if (kind != 'a') {
        snprintf(m, sizeof m, "%c%s", kind, id);
        g = json_object_get(x->grants, m);
    }
    const char *keys[] = {"via", "seq", "time", "actor"};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = g ? json_object_get(g, keys[i]) : NULL;
        json_object_set(o, keys[i], v ? v : json_null());
    }
}
