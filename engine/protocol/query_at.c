/* query_at.c -- lookups at a point of the log (SPEC section 7): resolving
 * --seq/--at against a snapshot, check --explain with the record that last
 * flipped the answer, and the lines of watch. Everything historical is read
 * from the as-of index (history.h); the one record an answer names is read
 * from the log by seq. */
#include "query.h"
#include "proof.h"
#include "history.h"
#include "log.h"
#include "record.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tms_err tms_query_point(tms_txn *tx, const tms_point *p, int index, uint64_t *at, uint64_t *seq, char *why,
                        size_t whylen)
{
    uint8_t head[TMS_HASH_LEN];
    uint64_t last, complete;
    tms_err err = tms_meta_get(tx, &last, head);
    why[0] = '\0';
    if (err)
        return err;
    *seq = last;
    if (p->kind == TMS_POINT_SEQ)
        *seq = p->seq;
    else if (p->kind == TMS_POINT_TIME && (err = tms_history_seq_at_time(tx, p->time, seq)))
        return err;
    if (*seq > last) {
        snprintf(why, whylen, "seq %llu is beyond the log: the last seq is %llu", (unsigned long long)*seq,
                 (unsigned long long)last);
        return TMS_E_INVAL;
    }
    *at = *seq == last && !index ? TMS_AT_LATEST : *seq;
    if (*at == TMS_AT_LATEST)
        return TMS_OK;
    uint64_t base;
    if ((err = tms_history_base(tx, &base)) || (err = tms_history_complete(tx, &complete)))
        return err;
    if (base && (index || *seq < base)) {
        snprintf(why, whylen, "this data directory's history starts at seq %llu (seeded from a snapshot): it "
                 "answers lookups at that seq and after, not before it, nor explanations (ask a node that holds "
                 "the whole log)", (unsigned long long)base);
        return TMS_E_STORE;
    }
    if (complete < *seq) {
        snprintf(why, whylen, "the as-of index is complete to seq %llu only (the writer rebuilds it when it next "
                 "opens the directory)", (unsigned long long)complete);
        return TMS_E_STORE;
    }
    return TMS_OK;
}

/* ---- a record as JSON ------------------------------------------------------------- */

static const char *const login_keys[3] = {"id", "name", "email"};

static json_t *field_json(const tms_field_def *fd, const tms_field *v)
{
    if (fd->type == TMS_T_ID_LIST || fd->type == TMS_T_NAME_LIST) {
        json_t *a = json_array();
        for (int i = 0; i < v->n; i++)
            json_array_append_new(a, json_stringn(v->items[i].str, v->items[i].len));
        return a;
    }
    if (fd->type == TMS_T_LOGIN_SPEC) {
        json_t *o = json_object();
        for (int i = 0; i < 3; i++)
            if (v->items[i].present)
                json_object_set_new(o, login_keys[i], json_stringn(v->items[i].str, v->items[i].len));
        return o;
    }
    return v->is_null ? json_null() : json_stringn(v->str, v->len);
}

json_t *tms_cmd_json(const tms_cmd *c)
{
    const tms_cmd_def *def = &tms_cmd_defs[c->type];
    json_t *o = json_object();
    for (int i = 0; i < tms_common_field_count; i++)
        if (c->f[tms_common_fields[i].field].present)
            json_object_set_new(o, tms_common_fields[i].name,
                                field_json(&tms_common_fields[i], &c->f[tms_common_fields[i].field]));
    for (int i = 0; i < def->nfields; i++)
        if (c->f[def->fields[i].field].present)
            json_object_set_new(o, def->fields[i].name, field_json(&def->fields[i], &c->f[def->fields[i].field]));
    return o;
}

/* Record seq of the log in logdir, decoded into rec (cmd initialised by the caller). */
static tms_err read_record(tms_txn *tx, const char *logdir, uint64_t seq, tms_record *rec)
{
    char why[256];
    uint8_t *payload;
    size_t len;
    tms_err err = tms_query_payload(tx, logdir, seq, &payload, &len);
    if (!err && !(err = tms_record_decode(rec, payload, len, why, sizeof why)))
        rec->seq = seq;
    free(payload);
    return err;
}

/* {"seq","time","actor","cmd"} of record seq; null for 0. */
static tms_err changed_json(tms_txn *tx, const char *logdir, uint64_t seq, json_t **out)
{
    char when[TMS_TIME_MAX];
    tms_record rec;
    *out = json_null();
    if (!seq)
        return TMS_OK;
    tms_cmd_init(&rec.cmd);
    tms_err err = read_record(tx, logdir, seq, &rec);
    if (!err) {
        *out = json_pack("{s:I,s:s,s:s,s:o}", "seq", (json_int_t)seq, "time", tms_time_format(rec.time, when),
                         "actor", TMS_CMD_STR(&rec.cmd, TMS_F_ACTOR), "cmd", tms_cmd_json(&rec.cmd));
        err = *out ? TMS_OK : TMS_E_NOMEM;
    }
    tms_cmd_free(&rec.cmd);
    return err;
}

/* ---- explain ------------------------------------------------------------------------ */

typedef struct why_t {
    const char *reason, *via;
    json_t *role;
    uint64_t changed;
} why_t;

/* The account's answer at seq: 1 held, 0 not, negative on a store error. */
static int explain_account(tms_txn *tx, uint64_t at, const char *tenant, char k, const char *id, int perm,
                           int feat, why_t *w)
{
    tms_account_rec a;
    uint64_t rperms = 0;
    tms_err err = tms_account_get_at(tx, tenant, k, id, at, &a, NULL);
    if (err) {
        w->reason = "unknown_account";
        return err == TMS_NOT_FOUND ? 0 : -(int)err;
    }
    if (perm < 0 && feat < 0) {
        w->reason = "unknown_name";
        return 0;
    }
    w->role = a.role_tag == TMS_ROLE_SET ? json_string(a.role) : a.role_tag == TMS_ROLE_CUSTOM ? json_string("Custom")
                                                                                           : json_null();
    if ((err = tms_history_flip(tx, tenant, k, id, at, perm, feat, &w->changed)))
        return -(int)err;
    int held = perm >= 0 ? (int)((a.perms >> perm) & 1) : k == TMS_KIND_EXTENSION && ((a.features >> feat) & 1);
    w->reason = held ? "held" : "not_held";
    if (held && perm >= 0 && a.role_tag == TMS_ROLE_SET &&
        (err = tms_role_perms_at(tx, tenant, a.role, at, &rperms)) && err != TMS_NOT_FOUND)
        return -(int)err;
    if (held)
        w->via = perm >= 0 && ((rperms >> perm) & 1) ? "role" : "direct";
    return held;
}

int tms_query_explain(tms_txn *tx, uint64_t at, const char *logdir, const char *tenant, const char *kind,
                      const char *id, const char *name, json_t **out)
{
    tms_tenant_rec t;
    uint64_t created = 0;
    why_t w = {"unknown_tenant", NULL, NULL, 0};
    int perm = tms_permission_index(name), feat = perm < 0 ? tms_feature_index(name) : -1, allow = 0;
    char k = !strcmp(kind, "admin") ? 'a' : tms_kind_of(kind);
    uint64_t base;
    *out = NULL;
    tms_err err = tms_history_base(tx, &base);   /* a seeded directory keeps no reasons: none is made up */
    if (err || base)
        return -(int)(err ? err : TMS_E_STORE);
    err = tms_is_id(tenant, strlen(tenant)) ? tms_tenant_get_at(tx, tenant, at, &t, &created) : TMS_NOT_FOUND;
    if (err && err != TMS_NOT_FOUND)
        return -(int)err;
    if (!err && ((k != 'a' && k != TMS_KIND_MANAGER && k != TMS_KIND_EXTENSION) || !tms_is_id(id, strlen(id))))
        w.reason = "unknown_account";
    else if (!err && k == 'a' && strcmp(t.admin, id))
        w.reason = "unknown_account";
    else if (!err && k == 'a' && perm < 0 && feat < 0)
        w.reason = "unknown_name";
    else if (!err && k == 'a') {   /* the PBX Admin holds every permission from its tenant's creation on */
        allow = perm >= 0;
        w.reason = allow ? "admin" : "not_held";
        w.changed = allow ? created : 0;
    } else if (!err && (allow = explain_account(tx, at, tenant, k, id, perm, feat, &w)) < 0) {
        json_decref(w.role);
        return allow;
    }
    json_t *changed;
    if ((err = changed_json(tx, logdir, w.changed, &changed))) {
        json_decref(w.role);
        return -(int)err;
    }
    *out = json_pack("{s:s,s:s,s:o,s:o,s:o}", "decision", allow ? "allow" : "deny", "reason", w.reason, "via",
                     w.via ? json_string(w.via) : json_null(), "role", w.role ? w.role : json_null(), "changed",
                     changed);
    return *out ? allow : -(int)TMS_E_NOMEM;
}

/* ---- watch --------------------------------------------------------------------------- */

static int add_change(void *ctx, char kind, const char *id)
{
    json_array_append_new(ctx, json_pack("{s:s,s:s}", "kind", tms_kind_name(kind), "id", id));
    return 0;
}

json_t *tms_record_json(const tms_record *rec, json_t *changed)
{
    char when[TMS_TIME_MAX];
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o}", "seq", (json_int_t)rec->seq, "time",
                          tms_time_format(rec->time, when), "tenant", TMS_CMD_STR(&rec->cmd, TMS_F_TENANT), "actor",
                          TMS_CMD_STR(&rec->cmd, TMS_F_ACTOR), "verdict",
                          rec->verdict == TMS_OK ? "accepted" : "rejected", "error",
                          rec->verdict == TMS_OK ? json_null() : json_string(tms_err_name(rec->verdict)), "cmd",
                          tms_cmd_json(&rec->cmd));
    if (o && changed)
        json_object_set(o, "changed", changed);
    if (o)   /* who tmsd authenticated, from where (issue 8, item 10); null before that */
        json_object_set_new(o, "by", rec->principal[0] || rec->peer[0] ? json_pack("{s:s,s:s}", "principal",
                                         rec->principal, "peer", rec->peer) : json_null());
    return o;
}

int tms_query_watch_line(tms_txn *tx, const tms_record *rec, json_t **out)
{
    uint64_t base;
    *out = NULL;
    if (tms_history_base(tx, &base))
        return 2;
    if (rec->seq <= base)
        return 3;   /* what it changed is not known here: never a made-up "changed" */
    json_t *changed = json_array();
    if (rec->verdict == TMS_OK && tms_store_changed(tx, rec->seq, add_change, changed)) {
        json_decref(changed);
        return 2;
    }
    *out = tms_record_json(rec, changed);
    json_decref(changed);
    return *out ? 0 : 2;
}
