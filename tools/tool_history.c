/* tool_history.c -- "tms-history account": the timeline of one account (see
 * tool_history.h), found by comparing what show prints of the account
 * before and after every record whose effects name it, read from the
 * in-memory state of a fold. */
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

static void emit(tool_timeline *tl, const tms_record *rec, json_t *before, json_t *after)
{
    char when[TOOL_TIME_MAX];
    const char *origin = TMS_CMD_STR(&rec->cmd, TMS_F_ORIGIN);
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)rec->seq));
    json_object_set_new(o, "time", json_string(tool_time_format(rec->time, when)));
    json_object_set_new(o, "actor", json_string(TMS_CMD_STR(&rec->cmd, TMS_F_ACTOR)));
    json_object_set_new(o, "cmd", json_string(tms_cmd_name(&rec->cmd)));
    json_object_set_new(o, "origin", origin ? json_string(origin) : json_null());
    json_object_set_new(o, "before", before);
    json_object_set_new(o, "after", after);
    if (tl->out_failed)
        json_decref(o);
    else if (tool_print_json(o) != 0)
        tl->out_failed = 1;
}

static int in_window(const tool_timeline *tl, const tms_record *rec)
{
    const tool_point *s = &tl->since, *u = &tl->until;
    if (s->set && (s->is_seq ? rec->seq < s->seq : rec->time < s->time))
        return 0;
    if (u->set && (u->is_seq ? rec->seq > u->seq : rec->time > u->time))
        return 0;
    return 1;
}

/* 1 when one of the effects is about the account followed: only those can
 * change what show prints of it (its own fields, its distribution). */
static int touches(const tool_timeline *tl, const tms_fold_event *ev)
{
    for (size_t i = 0; i < ev->neffects; i++) {
        const tms_effect *e = &ev->effects[i];
        if (e->kind == tl->kind && e->id && e->type != TMS_EFFECT_ROLE_CREATED && e->type != TMS_EFFECT_ROLE_UPDATED &&
            e->type != TMS_EFFECT_ROLE_DELETED && !strcmp(e->id, tl->id) && !strcmp(e->tenant, tl->tenant))
            return 1;
    }
    return 0;
}

/* After each record: when it touched the account, compare what show prints
 * now with what it printed before, and report a difference. */
static tms_err timeline_effects(void *ctx, const tms_fold_event *ev)
{
    tool_timeline *tl = ctx;
    json_t *cur = NULL, *before, *after;
    if (ev->verdict->code != TMS_OK || !touches(tl, ev))
        return TMS_OK;
    int rc = tms_query_show_state(ev->state, tl->tenant, tms_kind_name(tl->kind), tl->id, &cur);
    if (rc == 2) {
        tl->read_failed = 1;
        return TMS_E_NOMEM;
    }
    if (diff(tl->prev, cur, &before, &after)) {
        if (in_window(tl, ev->rec)) {
            emit(tl, ev->rec, before, after);
        } else {
            json_decref(before);
            json_decref(after);
        }
    }
    json_decref(tl->prev);
    tl->prev = cur;
    return TMS_OK;
}

int tool_timeline_run(tool_timeline *tl, const char *datadir)
{
    char logdir[4200];
    tms_replay_result res;
    tms_replay_opts o = {0};
    tms_state *st;
    if (tool_log_dir(datadir, logdir, sizeof logdir))
        return TOOL_ERROR;
    if (tl->until.set && (tl->until.is_seq ? tl->until.seq == 0 : tl->until.time <= 0))
        return tool_finish_stdout();
    if (!(st = tms_state_new()))
        return tool_fail("out of memory");
    o.on_effects = timeline_effects;
    o.ctx = tl;
    o.tenant = tl->tenant;
    if (tl->until.set && tl->until.is_seq)
        o.to_seq = tl->until.seq;
    else if (tl->until.set)
        o.to_time = tl->until.time;
    tms_err err = tool_fold(st, logdir, &o, &res, "tms-history: replaying", 0);
    json_decref(tl->prev);
    tl->prev = NULL;
    tms_state_free(st);
    if (tl->read_failed)
        return tool_fail("out of memory");
    if (err) {
        tool_warn("replay stopped: %s", res.msg);
        return err == TMS_E_CORRUPT ? TOOL_NEGATIVE : TOOL_ERROR;
    }
    return tool_finish_stdout();
}
