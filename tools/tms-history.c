/* tms-history -- answers "whose role became Custom, when, and who did it"
 * (R15, R17) and "what happened to this account" by replaying the log into a
 * scratch projection (SPEC sections 1 and 6; issue 4). It never trusts the
 * live projection. Output streams as the replay goes: memory is O(state). */
#include "cmd.h"
#include "query.h"
#include "tool_common.h"
#include "tool_history.h"
#include "tool_replay.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_custom[] =
    "usage: tms-history custom --data DIR [--tenant T] [--since X] [--until X]\n"
    "                          [--account KIND:ID] [--role R] [--format json|csv|text]\n"
    "\n"
    "Replays the log of DIR and prints every event where an account's role became\n"
    "Custom: a direct permission change left the role's set (cause set_permissions,\n"
    "R15) or its role was deleted (cause role_deleted, R17).\n"
    "\n"
    "  --tenant T          only tenant T\n"
    "  --since X           only events at or after X (a seq, or an RFC 3339 time)\n"
    "  --until X           only events at or before X (the replay stops there)\n"
    "  --account KIND:ID   only this account (KIND: manager or extension)\n"
    "  --role R            only accounts that left role R\n"
    "  --format F          json (JSON Lines, default), csv (with a header row), text\n"
    "\n"
    "Fields: seq time tenant kind id role actor cause enabled disabled. time is\n"
    "RFC 3339 UTC with nanoseconds; role is the role held until then; enabled and\n"
    "disabled are the permissions relative to the role's set at that moment (JSON:\n"
    "sorted arrays; csv and text: names separated by spaces).\n";

static const char usage_account[] =
    "usage: tms-history account --data DIR [--since X] [--until X] TENANT KIND ID\n"
    "\n"
    "Replays the log of DIR and prints, as JSON Lines, every accepted record that\n"
    "changed the account (KIND: manager, extension, queue or campaign):\n"
    "  {\"seq\":N,\"time\":\"...\",\"actor\":\"...\",\"cmd\":\"...\",\"origin\":...,\n"
    "   \"before\":{changed fields},\"after\":{changed fields}}\n"
    "The fields are those of 'tmsctl show' (login owner distributed_to role\n"
    "permissions features parent). before is null when the record created the\n"
    "account, after is null when it deleted it.\n"
    "\n"
    "  --since X   only records at or after X (a seq, or an RFC 3339 time)\n"
    "  --until X   only records at or before X\n";

/* ---- custom ------------------------------------------------------------------ */

enum { FMT_JSON, FMT_CSV, FMT_TEXT };

typedef struct custom_run {
    const char *tenant, *role;       /* filters; NULL = any */
    char kind;                       /* --account; 0 = any */
    const char *id;
    tool_point since, until;
    int format;
    int out_failed;
} custom_run;

static int in_window(const tool_point *since, const tool_point *until, uint64_t seq, int64_t time)
{
    if (since->set && (since->is_seq ? seq < since->seq : time < since->time))
        return 0;
    if (until->set && (until->is_seq ? seq > until->seq : time > until->time))
        return 0;
    return 1;
}

static int wanted(const custom_run *r, const tms_record *rec, const tms_custom_event *ev)
{
    if (r->tenant && strcmp(TMS_CMD_STR(&rec->cmd, TMS_F_TENANT), r->tenant))
        return 0;
    if (r->kind && (ev->kind != r->kind || strcmp(ev->id, r->id)))
        return 0;
    if (r->role && strcmp(ev->role, r->role))
        return 0;
    return in_window(&r->since, &r->until, rec->seq, rec->time);
}

/* Names of a mask separated by spaces (csv, text); "" when empty. */
static void names_spaced(uint64_t mask, char *buf, size_t len)
{
    json_t *a = tms_mask_json(mask, 0), *v;
    size_t i, used = 0;
    buf[0] = '\0';
    json_array_foreach(a, i, v) {
        int w = snprintf(buf + used, len - used, "%s%s", used ? " " : "", json_string_value(v));
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
    json_decref(a);
}

static int print_custom(const custom_run *r, const tms_record *rec, const tms_custom_event *ev)
{
    char when[TOOL_TIME_MAX], en[1024], dis[1024];
    const char *tenant = TMS_CMD_STR(&rec->cmd, TMS_F_TENANT), *actor = TMS_CMD_STR(&rec->cmd, TMS_F_ACTOR);
    const char *kind = tms_kind_name(ev->kind);
    tool_time_format(rec->time, when);
    if (r->format == FMT_JSON) {
        json_t *o = json_object();
        json_object_set_new(o, "seq", json_integer((json_int_t)rec->seq));
        json_object_set_new(o, "time", json_string(when));
        json_object_set_new(o, "tenant", json_string(tenant));
        json_object_set_new(o, "kind", json_string(kind));
        json_object_set_new(o, "id", json_string(ev->id));
        json_object_set_new(o, "role", json_string(ev->role));
        json_object_set_new(o, "actor", json_string(actor));
        json_object_set_new(o, "cause", json_string(ev->cause));
        json_object_set_new(o, "enabled", tms_mask_json(ev->enabled, 0));
        json_object_set_new(o, "disabled", tms_mask_json(ev->disabled, 0));
        return tool_print_json(o);
    }
    names_spaced(ev->enabled, en, sizeof en);
    names_spaced(ev->disabled, dis, sizeof dis);
    /* ids, roles and names never hold a comma, a quote or a newline: no CSV quoting needed */
    if (r->format == FMT_CSV)
        return printf("%llu,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", (unsigned long long)rec->seq, when, tenant, kind, ev->id,
                      ev->role, actor, ev->cause, en, dis) < 0 ? -1 : 0;
    return printf("%s seq %llu %s %s %s: role %s -> Custom by %s (%s); enabled: %s; disabled: %s\n", when,
                  (unsigned long long)rec->seq, tenant, kind, ev->id, ev->role, actor, ev->cause,
                  en[0] ? en : "-", dis[0] ? dis : "-") < 0 ? -1 : 0;
}

/* The R15/R17 events of each record, as the fold reports them (once per
 * record, after it was applied). */
static void custom_sink(void *ctx, const tms_record *rec, const tms_custom_event *ev)
{
    custom_run *r = ctx;
    if (!r->out_failed && wanted(r, rec, ev) && print_custom(r, rec, ev) != 0)
        r->out_failed = 1;
}

static int parse_account_opt(const char *s, char *kind, const char **id)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    char k[16];
    if (!colon || (size_t)(colon - s) >= sizeof k)
        return -1;
    memcpy(k, s, (size_t)(colon - s));
    k[colon - s] = '\0';
    *kind = tms_kind_of(k);
    *id = colon + 1;
    return (*kind == 'm' || *kind == 'e') && tms_is_id(*id, strlen(*id)) ? 0 : -1;
}

static int parse_format(const char *s, int *fmt)
{
    if (!s || !strcmp(s, "json"))
        *fmt = FMT_JSON;
    else if (!strcmp(s, "csv"))
        *fmt = FMT_CSV;
    else if (!strcmp(s, "text"))
        *fmt = FMT_TEXT;
    else
        return tool_fail("--format %s: expected json, csv or text", s);
    return 0;
}

/* Replay options honouring --until: the replay stops there. */
static void until_opts(const tool_point *until, tms_replay_opts *o)
{
    if (until->set && until->is_seq)
        o->to_seq = until->seq;
    else if (until->set && until->time > 0)
        o->to_time = until->time;
}

/* 1 when --until names a point before any record (seq 0 or before 1970). */
static int until_is_empty(const tool_point *until)
{
    return until->set && (until->is_seq ? until->seq == 0 : until->time <= 0);
}

static int run_custom_replay(custom_run *r, const char *datadir)
{
    char logdir[4200];
    tms_replay_result res;
    tms_rules_sink sink = {custom_sink, r};
    tms_replay_opts o = {0};
    tms_state *st;
    if (tool_log_dir(datadir, logdir, sizeof logdir))
        return TOOL_ERROR;
    if (r->format == FMT_CSV && puts("seq,time,tenant,kind,id,role,actor,cause,enabled,disabled") < 0)
        return tool_finish_stdout();
    if (until_is_empty(&r->until))
        return tool_finish_stdout();
    if (!(st = tms_state_new()))
        return tool_fail("out of memory");
    o.sink = &sink;
    o.tenant = r->tenant;
    until_opts(&r->until, &o);
    tms_err err = tool_fold(st, logdir, &o, &res, "tms-history: replaying", 0);
    tms_state_free(st);
    if (err) {
        tool_warn("replay stopped: %s", res.msg);
        return err == TMS_E_CORRUPT ? TOOL_NEGATIVE : TOOL_ERROR;
    }
    return tool_finish_stdout();
}

static int cmd_custom(int argc, char **argv)
{
    const char *data = NULL, *tenant = NULL, *since = NULL, *until = NULL, *account = NULL, *role = NULL,
               *format = NULL, *pos[1];
    int npos;
    const tool_opt opts[] = {{"data", 1, &data, NULL},     {"tenant", 1, &tenant, NULL}, {"since", 1, &since, NULL},
                             {"until", 1, &until, NULL},   {"account", 1, &account, NULL},
                             {"role", 1, &role, NULL},     {"format", 1, &format, NULL}, {NULL, 0, NULL, NULL}};
    custom_run r;
    memset(&r, 0, sizeof r);
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage_custom, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data)
        return tool_fail("custom: --data DIR is required (try --help)");
    if (parse_format(format, &r.format) || (since && tool_point_parse("--since", since, &r.since)) ||
        (until && tool_point_parse("--until", until, &r.until)))
        return TOOL_ERROR;
    if (account && parse_account_opt(account, &r.kind, &r.id))
        return tool_fail("--account %s: expected manager:ID or extension:ID", account);
    r.tenant = tenant;
    r.role = role;
    rc = run_custom_replay(&r, data);
    return rc;
}

/* ---- account ------------------------------------------------------------------ */

static int cmd_account(int argc, char **argv)
{
    const char *data = NULL, *since = NULL, *until = NULL, *pos[3];
    int npos;
    const tool_opt opts[] = {{"data", 1, &data, NULL}, {"since", 1, &since, NULL},
                             {"until", 1, &until, NULL}, {NULL, 0, NULL, NULL}};
    tool_timeline tl;
    memset(&tl, 0, sizeof tl);
    int rc = tool_parse(argc, argv, opts, pos, 3, &npos);
    if (rc == 1)
        return fputs(usage_account, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data || npos != 3)
        return tool_fail("account: needs --data DIR TENANT KIND ID (try --help)");
    if ((since && tool_point_parse("--since", since, &tl.since)) ||
        (until && tool_point_parse("--until", until, &tl.until)))
        return TOOL_ERROR;
    tl.tenant = pos[0];
    tl.kind = tms_kind_of(pos[1]);
    tl.id = pos[2];
    if (!tl.kind)
        return tool_fail("account: unknown kind %s (manager, extension, queue or campaign)", pos[1]);
    if (!tms_is_id(tl.tenant, strlen(tl.tenant)) || !tms_is_id(tl.id, strlen(tl.id)))
        return tool_fail("account: %s %s is not a valid tenant and id", tl.tenant, tl.id);
    return tool_timeline_run(&tl, data);
}

/* The commands, in the order of the usage. */
static const tool_cmd commands[] = {
    {"custom", cmd_custom, NULL, "every \"role became Custom\" event (R15, R17)"},
    {"account", cmd_account, NULL, "the timeline of one account: every record that changed it"},
    {NULL, NULL, NULL, NULL},
};

static const tool_usage usage_main = {
    "usage: tms-history COMMAND --data DIR [OPTIONS]\n"
    "\n",
    10,
    "\n"
    "Run 'tms-history COMMAND --help' for the options of each command.\n"
    "Exit status: 0 success, 2 usage or I/O error, 1 the log failed verification.\n"};

int main(int argc, char **argv)
{
    tool_prog = "tms-history";
    return tool_dispatch(commands, argc, argv, &usage_main);
}
