/* tool_history.c -- "tms-history account": the timeline of one account (see
 * tool_history.h), found by comparing the account's show-state before and
 * after every record accepted in its tenant. The replay's on_record gets no
 * transaction, so the state is read from the committed projection: see
 * timeline_record for how. */
#include "tool_history.h"
#include "query.h"
#include "record.h"
#include "tool_replay.h"
#include <stdio.h>
#include <string.h>

/* The fields of show that describe the account itself. */
static int is_identity(const char *key)
{
    return !strcmp(key, "tenant") || !strcmp(key, "kind") || !strcmp(key, "id");
}

/* Every non-identity field of a show object (NULL -> JSON null). */
static json_t *all_fields(const json_t *o)
{
    const char *k;
    json_t *v;
    if (!o)
        return json_null();
    json_t *out = json_object();
    json_object_foreach((json_t *)o, k, v)
        if (!is_identity(k))
            json_object_set(out, k, v);
    return out;
}

/* before/after of what differs between prev and cur; 0 if nothing does. */
static int diff(const json_t *prev, const json_t *cur, json_t **before, json_t **after)
{
    const char *k;
    json_t *v;
    if (!prev || !cur) {
        if (!prev && !cur)
            return 0;
        *before = all_fields(prev);
        *after = all_fields(cur);
        return 1;
    }
    *before = json_object();
    *after = json_object();
    json_object_foreach((json_t *)cur, k, v) {
        json_t *old = json_object_get(prev, k);
        if (is_identity(k) || (old && json_equal(old, v)))
            continue;
        json_object_set(*before, k, old ? old : json_null());
        json_object_set(*after, k, v);
    }
    if (json_object_size(*after))
        return 1;
    json_decref(*before);
    json_decref(*after);
    return 0;
}

static void emit(tool_timeline *tl, json_t *before, json_t *after)
{
    char when[TOOL_TIME_MAX];
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)tl->p_seq));
    json_object_set_new(o, "time", json_string(tool_time_format(tl->p_time, when)));
    json_object_set_new(o, "actor", json_string(tl->p_actor));
    json_object_set_new(o, "cmd", json_string(tl->p_cmd));
    json_object_set_new(o, "origin", tl->p_has_origin ? json_string(tl->p_origin) : json_null());
    json_object_set_new(o, "before", before);
    json_object_set_new(o, "after", after);
    if (tl->out_failed)
        json_decref(o);
    else if (tool_print_json(o) != 0)
        tl->out_failed = 1;
}

static int in_window(const tool_timeline *tl)
{
    const tool_point *s = &tl->since, *u = &tl->until;
    if (s->set && (s->is_seq ? tl->p_seq < s->seq : tl->p_time < s->time))
        return 0;
    if (u->set && (u->is_seq ? tl->p_seq > u->seq : tl->p_time > u->time))
        return 0;
    return 1;
}

/* Look at the committed state (after the pending record) and report a change. */
static void settle(tool_timeline *tl)
{
    json_t *cur = NULL, *before, *after;
    if (!tl->pending)
        return;
    tl->pending = 0;
    int rc = tms_query_show(tl->st, tl->tenant, tool_kind_name(tl->kind), tl->id, &cur);
    if (rc == 2) {
        tl->read_failed = 1;
        return;
    }
    if (diff(tl->prev, cur, &before, &after)) {
        if (in_window(tl)) {
            emit(tl, before, after);
        } else {
            json_decref(before);
            json_decref(after);
        }
    }
    json_decref(tl->prev);
    tl->prev = cur;
}

static void note_pending(tool_timeline *tl, const tms_record *rec)
{
    const char *origin = TMS_CMD_STR(&rec->cmd, TMS_F_ORIGIN);
    tl->pending = 1;
    tl->p_seq = rec->seq;
    tl->p_time = rec->time;
    snprintf(tl->p_actor, sizeof tl->p_actor, "%s", TMS_CMD_STR(&rec->cmd, TMS_F_ACTOR));
    snprintf(tl->p_cmd, sizeof tl->p_cmd, "%s", tms_cmd_name(&rec->cmd));
    tl->p_has_origin = origin != NULL;
    snprintf(tl->p_origin, sizeof tl->p_origin, "%s", origin ? origin : "");
}

/* The replay commits after every record (batch 1): when record S+1 is handed
 * here, the committed projection holds the state after S, read in a read-only
 * transaction beside the replay's write transaction (the store is opened
 * MDB_NOTLS) and compared with the state before S. A record seen before is
 * one the replay applies again after growing the map: ignored. */
static void timeline_record(void *ctx, const tms_record *rec, const tms_verdict *v)
{
    tool_timeline *tl = ctx;
    if (rec->seq <= tl->last_seen)
        return;
    tl->last_seen = rec->seq;
    settle(tl);
    if (v->code == TMS_OK && !strcmp(TMS_CMD_STR(&rec->cmd, TMS_F_TENANT), tl->tenant))
        note_pending(tl, rec);
}

int tool_timeline_run(tool_timeline *tl, const char *datadir)
{
    char logdir[4200];
    tool_scratch sc;
    tms_replay_result res;
    tms_replay_opts o = {0};
    if (tool_log_dir(datadir, logdir, sizeof logdir))
        return TOOL_ERROR;
    if (tl->until.set && (tl->until.is_seq ? tl->until.seq == 0 : tl->until.time <= 0))
        return tool_finish_stdout();
    if (tool_scratch_open(&sc))
        return TOOL_ERROR;
    tl->st = sc.st;
    o.on_record = timeline_record;
    o.ctx = tl;
    o.batch = 1;
    if (tl->until.set && tl->until.is_seq)
        o.to_seq = tl->until.seq;
    else if (tl->until.set)
        o.to_time = tl->until.time;
    tms_err err = tool_replay(sc.st, logdir, &o, &res, "tms-history: replaying", 0);
    if (!err)
        settle(tl);
    json_decref(tl->prev);
    tl->prev = NULL;
    tool_scratch_close(&sc);
    if (err) {
        tool_warn("replay stopped: %s", res.msg);
        return err == TMS_E_CORRUPT ? TOOL_NEGATIVE : TOOL_ERROR;
    }
    if (tl->read_failed)
        return tool_fail("cannot read the scratch projection");
    return tool_finish_stdout();
}
