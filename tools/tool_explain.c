/* tool_explain.c -- "who-can --explain": for one tenant and one permission
 * (or feature), which record gave each holder what it holds, and how (see
 * tool_audit.h). A grant is the record at which the account started holding
 * P without a break; losing P (or the account) forgets it. Same batch-1
 * technique as tool_history.c: see tool_explain_record. */
#include "cmd.h"
#include "tool_audit.h"
#include "tool_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tool_explain {
    tms_store *st;
    const char *tenant;
    int perm, feat;
    json_t *grants;                 /* "e1001" -> {"via","seq","time","actor"} */
    json_t *admin;                  /* the tenant's creation: {"via","seq","time","actor"} */
    /* the last record applied, looked at when the next one arrives */
    int pending;
    json_t *grant;                  /* what a new holder gets from it */
    json_t *members;                /* accounts it names: ["e1001", "m1001", ...] */
    char role[TMS_ID_MAX + 1];      /* UpdateRole: its holders are looked at too */
    int default_role;               /* CreateExtension: via the tenant's default role */
    uint64_t last_seen;
    int failed;
};

tool_explain *tool_explain_new(tms_store *st, const char *tenant, int perm, int feat)
{
    tool_explain *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->st = st;
    x->tenant = tenant;
    x->perm = perm;
    x->feat = feat;
    x->grants = json_object();
    x->members = json_array();
    return x;
}

void tool_explain_free(tool_explain *x)
{
    if (!x)
        return;
    json_decref(x->grants);
    json_decref(x->admin);
    json_decref(x->grant);
    json_decref(x->members);
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

static void add_member(tool_explain *x, char kind, const char *id)
{
    char m[TMS_ID_MAX + 2];
    snprintf(m, sizeof m, "%c%s", kind, id);
    json_array_append_new(x->members, json_string(m));
}

/* What record rec may have changed, and how a new holder got P from it. */
static void note(tool_explain *x, const tms_record *rec)
{
    const tms_cmd *c = &rec->cmd;
    const char *id = TMS_CMD_STR(c, TMS_F_ID), *kind = TMS_CMD_STR(c, TMS_F_KIND);
    char via[TMS_ID_MAX + 8];
    snprintf(via, sizeof via, "direct");
    x->role[0] = '\0';
    x->default_role = 0;
    json_array_clear(x->members);
    switch (c->type) {
    case TMS_CMD_SET_PERMISSIONS: add_member(x, tool_kind_letter(kind ? kind : ""), id); break;
    case TMS_CMD_SET_FEATURES: case TMS_CMD_DELETE_EXTENSION: add_member(x, 'e', id); break;
    case TMS_CMD_ADD_MANAGER: case TMS_CMD_REMOVE_MANAGER: add_member(x, 'm', id); break;
    case TMS_CMD_CREATE_EXTENSION: add_member(x, 'e', id); x->default_role = 1; break;
    case TMS_CMD_ASSIGN_ROLE:
        for (int i = 0; i < c->f[TMS_F_IDS].n; i++) {
            add_member(x, 'm', c->f[TMS_F_IDS].items[i].str);
            add_member(x, 'e', c->f[TMS_F_IDS].items[i].str);
        }
        /* fall through */
    case TMS_CMD_UPDATE_ROLE:
        snprintf(via, sizeof via, "role %s", TMS_CMD_STR(c, TMS_F_ROLE));
        if (c->type == TMS_CMD_UPDATE_ROLE)
            snprintf(x->role, sizeof x->role, "%s", TMS_CMD_STR(c, TMS_F_ROLE));
        break;
    default: break;
    }
    json_decref(x->grant);
    x->grant = grant_of(rec, via);
    x->pending = json_array_size(x->members) > 0 || x->role[0];
}

/* Look at one account in the committed state. */
static int look(tool_explain *x, tms_txn *tx, const char *member)
{
    uint64_t perms, features;
    tms_err err = tms_account_bits(tx, x->tenant, member[0], member + 1, &perms, &features);
    if (err && err != TMS_NOT_FOUND)
        return -1;
    int has = !err && (x->perm >= 0 ? (perms >> x->perm) & 1 : member[0] == 'e' && ((features >> x->feat) & 1));
    if (!has) {
        json_object_del(x->grants, member);
    } else if (!json_object_get(x->grants, member)) {
        json_object_set(x->grants, member, x->grant);
    }
    return 0;
}

static int look_holder(void *ctx, const char *member, size_t len)
{
    void **a = ctx;
    (void)len;
    if (look(a[0], a[1], member))
        ((tool_explain *)a[0])->failed = 1;
    return 0;
}

/* The via of a grant from CreateExtension is the default role it started with. */
static void default_role_via(tool_explain *x, tms_txn *tx)
{
    tms_tenant_rec t;
    char via[TMS_ID_MAX + 8];
    if (tms_tenant_get(tx, x->tenant, &t) == TMS_OK && t.default_role[0]) {
        snprintf(via, sizeof via, "role %s", t.default_role);
        json_object_set_new(x->grant, "via", json_string(via));
    }
}

/* The pending record is committed: read what it may have changed. */
static void settle(tool_explain *x)
{
    tms_txn tx;
    size_t i;
    json_t *m;
    if (!x->pending)
        return;
    x->pending = 0;
    if (tms_txn_begin(x->st, 0, &tx)) {
        x->failed = 1;
        return;
    }
    if (x->default_role)
        default_role_via(x, &tx);
    json_array_foreach(x->members, i, m)
        if (look(x, &tx, json_string_value(m)))
            x->failed = 1;
    if (x->role[0]) {
        void *a[2] = {x, &tx};
        if (tms_set_foreach(&tx, TMS_DB_HOLDERS, x->tenant, x->role, NULL, look_holder, a))
            x->failed = 1;
    }
    tms_txn_abort(&tx);
}

/* The replay commits after every record; when record S+1 arrives the
 * committed state is the state after S, and the accounts record S may have
 * touched are read there: those it names, and for UpdateRole the role's
 * holders (the only ways a permission is gained or lost: SetPermissions,
 * AssignRole, UpdateRole, CreateExtension with a default role; lost with the
 * account on DeleteExtension / RemoveManager). */
void tool_explain_record(void *ctx, const tms_record *rec, const tms_verdict *v)
{
    tool_explain *x = ctx;
    if (rec->seq <= x->last_seen)   /* applied again after the replay grew the map */
        return;
    x->last_seen = rec->seq;
    settle(x);
    if (v->code != TMS_OK || strcmp(TMS_CMD_STR(&rec->cmd, TMS_F_TENANT), x->tenant))
        return;
    if (rec->cmd.type == TMS_CMD_CREATE_TENANT) {
        json_decref(x->admin);
        x->admin = grant_of(rec, "pbx_admin");
        return;
    }
    note(x, rec);
}

int tool_explain_finish(tool_explain *x)
{
    settle(x);
    return x->failed ? -1 : 0;
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
