/* tool_report.c -- "tms-audit report": options, and what the replay tells
 * about a range of the log, per tenant (activity per actor, every rejected
 * attempt with the message recomputed by the replay, holders that went
 * Custom, records per hour). The end-of-range state is read afterwards
 * (tool_report_state.c); the model is rendered as JSON, text or HTML. */
#include "tool_report.h"
#include "query.h"
#include "cmd.h"
#include "tool_replay.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_report[] =
    "usage: tms-audit report --data DIR [--tenant T] [--since X] [--until X]\n"
    "                        [--format text|json|html]\n"
    "\n"
    "Replays the log of DIR and reports, per tenant, on the records from X (--since)\n"
    "to X (--until), inclusive; X is a seq or an RFC 3339 time. Default: the whole log.\n"
    "  - activity per actor: accepted, rejected, rejected by error code\n"
    "  - every rejected attempt (PCI DSS 10.2/10.3): seq, time, actor, command,\n"
    "    target, error code, message, origin\n"
    "  - every accepted change of rights (PCI DSS 10.2): permissions, features,\n"
    "    roles, ownership, the manager above, distribution, with before and after\n"
    "  - and, in the state at the end of the range: ceiling exceptions (R11:\n"
    "    accounts holding a permission their owner or parent lacks), extensions\n"
    "    without a login, extensions without an owner, roles with their holder\n"
    "    counts and how many holders went Custom in the range, and the access\n"
    "    review (PCI DSS 7.2.4): every extension and manager, its role and what\n"
    "    it holds\n"
    "  - a verification stamp: the log replayed (checksums and chain checked),\n"
    "    its head, when the report was made and by which tool version\n"
    "\n"
    "  --tenant T   only tenant T\n"
    "  --format F   json (one object, default), text, or html (one self-contained\n"
    "               page with tables and an SVG timeline of accepted and rejected\n"
    "               records per hour or per day)\n"
    "\n"
    "Exit status: 0 with the report; 1 when --tenant names a tenant that has no\n"
    "record in the range and does not exist at its end, or the log failed\n"
    "verification; 2 usage or I/O error (a seq past the end of the log ...).\n";

enum { FMT_JSON, FMT_TEXT, FMT_HTML };
#define HOUR_NS INT64_C(3600000000000)

typedef struct rep_bucket {
    int64_t hour;                    /* time / 1 h */
    uint64_t accepted, rejected;
} rep_bucket;

typedef struct rep_tenant {
    json_t *actors;                  /* actor -> {"accepted","rejected","rejected_by_code"} */
    json_t *rejected;                /* the rejected attempts, in seq order */
    json_t *custom;                  /* role -> holders that went Custom */
    json_t *privileged;              /* accepted changes of rights: before and after (PCI DSS 10.2) */
    uint64_t accepted, nrejected;
    rep_bucket *b;
    size_t nb, capb;
} rep_tenant;

typedef struct rep {
    const char *tenant;              /* --tenant, NULL = all */
    const char *since_arg, *until_arg;
    tool_point since, until;
    json_t *index;                   /* tenant id -> position in t */
    rep_tenant *t;
    size_t nt, capt;
    uint64_t first_seq, last_seq, records, accepted, rejected;
    int64_t first_time, last_time;
    uint64_t last_seen;
    int nomem;
} rep;

static void rep_free(rep *r)
{
    for (size_t i = 0; i < r->nt; i++) {
        json_decref(r->t[i].actors);
        json_decref(r->t[i].rejected);
        json_decref(r->t[i].custom);
        json_decref(r->t[i].privileged);
        free(r->t[i].b);
    }
    free(r->t);
    json_decref(r->index);
}

static rep_tenant *find_tenant(const rep *r, const char *id)
{
    json_t *i = json_object_get(r->index, id);
    return i ? &r->t[json_integer_value(i)] : NULL;
}

static rep_tenant *tenant_of(rep *r, const char *id)
{
    rep_tenant *t = find_tenant(r, id);
    if (t)
        return t;
    if (r->nt == r->capt) {
        size_t cap = r->capt ? 2 * r->capt : 8;
        rep_tenant *p = realloc(r->t, cap * sizeof *p);
        if (!p)
            return NULL;
        r->t = p, r->capt = cap;
    }
    t = &r->t[r->nt];
    memset(t, 0, sizeof *t);
    t->actors = json_object();
    t->rejected = json_array();
    t->custom = json_object();
    t->privileged = json_array();
    json_object_set_new(r->index, id, json_integer((json_int_t)r->nt++));
    return t;
}

/* A string for the model: invalid UTF-8 (never written by the engine) is
 * shown with '?' rather than dropped. */
static json_t *str_or_null(const char *s)
{
    json_t *v;
    if (!s)
        return json_null();
    if ((v = json_string(s)) != NULL)
        return v;
    char *copy = strdup(s);
    if (!copy)
        return json_null();
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v ? v : json_null();
}

static void bump(json_t *obj, const char *key, json_int_t by)
{
    json_t *v = json_object_get(obj, key);
    if (v)
        json_integer_set(v, json_integer_value(v) + by);
    else
        json_object_set_new(obj, key, json_integer(by));
}

static int in_range(const rep *r, uint64_t seq, int64_t time)
{
    const tool_point *s = &r->since, *u = &r->until;
    if (s->set && (s->is_seq ? seq < s->seq : time < s->time))
        return 0;
    return !u->set || (u->is_seq ? seq <= u->seq : time <= u->time);
}

/* What a command was aimed at: {"kind","id"} (+ "ids" for AssignRole). */
static json_t *target_of(const tms_cmd *c)
{
    const char *kind = NULL, *id = TMS_CMD_STR(c, TMS_F_ID);
    switch (c->type) {
    case TMS_CMD_CREATE_TENANT: kind = "tenant", id = TMS_CMD_STR(c, TMS_F_TENANT); break;
    case TMS_CMD_CREATE_LOGIN: kind = "login"; break;
    case TMS_CMD_CREATE_EXTENSION: case TMS_CMD_DELETE_EXTENSION: case TMS_CMD_TAKE_OWNERSHIP:
    case TMS_CMD_RELEASE_OWNERSHIP: case TMS_CMD_SET_FEATURES: kind = "extension"; break;
    case TMS_CMD_LINK_LOGIN: kind = "extension", id = TMS_CMD_STR(c, TMS_F_EXTENSION); break;
    case TMS_CMD_CREATE_QUEUE: case TMS_CMD_DELETE_QUEUE: kind = "queue"; break;
    case TMS_CMD_CREATE_CAMPAIGN: case TMS_CMD_DELETE_CAMPAIGN: kind = "campaign"; break;
    case TMS_CMD_ADD_MANAGER: case TMS_CMD_REMOVE_MANAGER: kind = "manager"; break;
    case TMS_CMD_DISTRIBUTE: case TMS_CMD_UNDISTRIBUTE: case TMS_CMD_SET_PERMISSIONS:
        kind = TMS_CMD_STR(c, TMS_F_KIND); break;
    default: kind = "role", id = TMS_CMD_STR(c, TMS_F_ROLE); break;
    }
    json_t *o = json_object();
    json_object_set_new(o, "kind", str_or_null(kind));
    json_object_set_new(o, "id", str_or_null(id));
    if (c->type == TMS_CMD_ASSIGN_ROLE) {
        json_t *ids = json_array();
        for (int i = 0; i < c->f[TMS_F_IDS].n; i++)
            json_array_append_new(ids, str_or_null(c->f[TMS_F_IDS].items[i].str));
        json_object_set_new(o, "ids", ids);
    }
    return o;
}

static json_t *attempt(const tms_record *rec, const tms_verdict *v)
{
    char when[TOOL_TIME_MAX];
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)rec->seq));
    json_object_set_new(o, "time", json_string(tool_time_format(rec->time, when)));
    json_object_set_new(o, "actor", str_or_null(TMS_CMD_STR(&rec->cmd, TMS_F_ACTOR)));
    json_object_set_new(o, "cmd", json_string(tms_cmd_name(&rec->cmd)));
    json_object_set_new(o, "target", target_of(&rec->cmd));
    json_object_set_new(o, "error", json_string(tms_err_name(v->code)));
    json_object_set_new(o, "message", str_or_null(v->message));
    json_object_set_new(o, "origin", str_or_null(TMS_CMD_STR(&rec->cmd, TMS_F_ORIGIN)));
    json_object_set_new(o, "principal", str_or_null(rec->principal[0] ? rec->principal : NULL));   /* who tmsd authenticated */
    json_object_set_new(o, "peer", str_or_null(rec->peer[0] ? rec->peer : NULL));
    return o;
}

static int count_bucket(rep_tenant *t, int64_t time, int accepted)
{
    int64_t hour = time / HOUR_NS;   /* times never go backwards: append or bump the last */
    if (!t->nb || t->b[t->nb - 1].hour != hour) {
        if (t->nb == t->capb) {
            size_t cap = t->capb ? 2 * t->capb : 16;
            rep_bucket *p = realloc(t->b, cap * sizeof *p);
            if (!p)
                return -1;
            t->b = p, t->capb = cap;
        }
        t->b[t->nb++] = (rep_bucket){hour, 0, 0};
    }
    if (accepted)
        t->b[t->nb - 1].accepted++;
    else
        t->b[t->nb - 1].rejected++;
    return 0;
}

static void count_actor(rep_tenant *t, const char *actor, tms_err code)
{
    json_t *a = json_object_get(t->actors, actor);
    if (!a) {
        a = json_object();
        json_object_set_new(a, "accepted", json_integer(0));
        json_object_set_new(a, "rejected", json_integer(0));
        json_object_set_new(a, "rejected_by_code", json_object());
        json_object_set_new(t->actors, actor, a);
    }
    bump(a, code == TMS_OK ? "accepted" : "rejected", 1);
    if (code != TMS_OK)
        bump(json_object_get(a, "rejected_by_code"), tms_err_name(code), 1);
}

/* on_record: every record once, after it was applied, with its verdict. */
static void report_record(void *ctx, const tms_record *rec, const tms_verdict *v)
{
    rep *r = ctx;
    const char *tenant = TMS_CMD_STR(&rec->cmd, TMS_F_TENANT);
    if (rec->seq <= r->last_seen)
        return;
    r->last_seen = rec->seq;
    if (r->nomem || !in_range(r, rec->seq, rec->time) || (r->tenant && strcmp(tenant, r->tenant)))
        return;
    rep_tenant *t = tenant_of(r, tenant);
    if (!t || count_bucket(t, rec->time, v->code == TMS_OK)) {
        r->nomem = 1;
        return;
    }
    count_actor(t, TMS_CMD_STR(&rec->cmd, TMS_F_ACTOR), v->code);
    if (v->code == TMS_OK) {
        t->accepted++, r->accepted++;
    } else {
        t->nrejected++, r->rejected++;
        json_array_append_new(t->rejected, attempt(rec, v));
    }
    if (!r->records++)
        r->first_seq = rec->seq, r->first_time = rec->time;
    r->last_seq = rec->seq, r->last_time = rec->time;
}

/* A mask as "a, b, c" ("(none)" when empty). */
static json_t *mask_text(uint64_t mask, int features)
{
    json_t *arr = tms_mask_json(mask, features), *v;
    size_t i, len = 0;
    json_array_foreach(arr, i, v)
        len += strlen(json_string_value(v)) + 2;
    char *buf = malloc(len + 8), *o = buf;
    if (!buf) {
        json_decref(arr);
        return json_null();
    }
    strcpy(buf, "(none)");
    json_array_foreach(arr, i, v)
        o += sprintf(o, "%s%s", i ? ", " : "", json_string_value(v));
    json_decref(arr);
    json_t *out = json_string(buf);
    free(buf);
    return out;
}

static json_t *id_or_none(const char *s, const char *none)
{
    return json_string(s ? s : none);
}

/* One effect that changes who may do what, as {change, subject, before, after}; NULL for the others. */
static json_t *privileged_change(const tms_effect *e)
{
    const char *what;
    json_t *before, *after;
    switch (e->type) {
    case TMS_EFFECT_PERMISSIONS: what = "permissions"; before = mask_text(e->mask_before, 0); after = mask_text(e->mask_after, 0); break;
    case TMS_EFFECT_FEATURES: what = "features"; before = mask_text(e->mask_before, 1); after = mask_text(e->mask_after, 1); break;
    case TMS_EFFECT_ROLE_OF:
        what = "role";
        before = id_or_none(e->before, e->tag_before == TMS_ROLE_CUSTOM ? "(Custom)" : "(none)");
        after = id_or_none(e->after, e->tag_after == TMS_ROLE_CUSTOM ? "(Custom)" : "(none)");
        break;
    case TMS_EFFECT_OWNER: what = "owner"; before = id_or_none(e->before, "(none)"); after = id_or_none(e->after, "(none)"); break;
    case TMS_EFFECT_PARENT: what = "manager above"; before = id_or_none(e->before, "(PBX Admin)"); after = id_or_none(e->after, "(PBX Admin)"); break;
    case TMS_EFFECT_DISTRIBUTED: what = "distributed to"; before = json_string("-"); after = json_string(e->after ? e->after : ""); break;
    case TMS_EFFECT_UNDISTRIBUTED: what = "distributed to"; before = json_string(e->before ? e->before : ""); after = json_string("-"); break;
    case TMS_EFFECT_ROLE_UPDATED: what = "role's permissions"; before = mask_text(e->mask_before, 0); after = mask_text(e->mask_after, 0); break;
    case TMS_EFFECT_DEFAULT_ROLE: what = "default extension role"; before = id_or_none(e->before, "(none)"); after = id_or_none(e->after, "(none)"); break;
    default: return NULL;
    }
    char subject[2 * TMS_ID_MAX + 16];
    snprintf(subject, sizeof subject, "%s%s%s", e->type == TMS_EFFECT_ROLE_UPDATED ? "role" : e->type == TMS_EFFECT_DEFAULT_ROLE ? "tenant" : tms_kind_name(e->kind), " ", e->id ? e->id : "");
    return json_pack("{s:s,s:s,s:o,s:o}", "change", what, "subject", subject, "before", before, "after", after);
}

/* Effects of accepted records: the privileged changes of the range. */
static tms_err report_effects(void *ctx, const tms_fold_event *ev)
{
    rep *r = ctx;
    const tms_record *rec = ev->rec;
    const char *tenant = TMS_CMD_STR(&rec->cmd, TMS_F_TENANT);
    char when[TOOL_TIME_MAX];
    if (r->nomem || !ev->neffects || !in_range(r, rec->seq, rec->time) || (r->tenant && strcmp(tenant, r->tenant)))
        return TMS_OK;
    rep_tenant *t = tenant_of(r, tenant);
    for (size_t i = 0; t && i < ev->neffects; i++) {
        json_t *c = privileged_change(&ev->effects[i]);
        if (!c)
            continue;
        json_object_set_new(c, "seq", json_integer((json_int_t)rec->seq));
        json_object_set_new(c, "time", json_string(tool_time_format(rec->time, when)));
        json_object_set_new(c, "actor", json_string(TMS_CMD_STR(&rec->cmd, TMS_F_ACTOR)));
        json_object_set_new(c, "by", json_string(rec->principal[0] ? rec->principal : "-"));
        json_object_set_new(c, "command", json_string(tms_cmd_defs[rec->cmd.type].name));
        json_array_append_new(t->privileged, c);
    }
    if (!t)
        r->nomem = 1;
    return TMS_OK;
}

/* Sink: R15/R17 events, heard before their record's on_record. */
static void report_custom(void *ctx, const tms_record *rec, const tms_custom_event *ev)
{
    rep *r = ctx;
    if (rec->seq <= r->last_seen || r->nomem || !in_range(r, rec->seq, rec->time) ||
        (r->tenant && strcmp(ev->tenant, r->tenant)))
        return;
    rep_tenant *t = tenant_of(r, ev->tenant);
    if (!t)
        r->nomem = 1;
    else
        bump(t->custom, ev->role, 1);
}

/* ---- the model --------------------------------------------------------------- */

static int unit_is_day(const rep *r)
{
    return r->records && r->last_time - r->first_time > 48 * HOUR_NS;
}

static json_t *timeline(const rep *r, const rep_tenant *t)
{
    char when[TOOL_TIME_MAX];
    int64_t per = unit_is_day(r) ? 24 : 1;
    json_t *arr = json_array(), *last = NULL;
    int64_t last_start = -1;
    for (size_t i = 0; t && i < t->nb; i++) {
        int64_t start = t->b[i].hour / per * per;
        if (!last || start != last_start) {
            last = json_object();
            json_object_set_new(last, "start", json_string(tool_time_format(start * HOUR_NS, when)));
            json_object_set_new(last, "accepted", json_integer(0));
            json_object_set_new(last, "rejected", json_integer(0));
            json_array_append_new(arr, last);
            last_start = start;
        }
        bump(last, "accepted", (json_int_t)t->b[i].accepted);
        bump(last, "rejected", (json_int_t)t->b[i].rejected);
    }
    return arr;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of obj, sorted (a malloc'd array of borrowed strings). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
    const char *k, **keys = malloc((json_object_size(obj) + 1) * sizeof *keys);
    json_t *v;
    *n = 0;
    if (!keys)
        return NULL;
    json_object_foreach((json_t *)obj, k, v)
        keys[(*n)++] = k;
    qsort(keys, *n, sizeof *keys, cmp_str);
    return keys;
}

static json_t *sorted_object(const json_t *obj)
{
    size_t n;
    const char **keys = sorted_keys(obj, &n);
    json_t *out = json_object();
    for (size_t i = 0; keys && i < n; i++)
        json_object_set(out, keys[i], json_object_get(obj, keys[i]));
    free(keys);
    return out;
}

static json_t *activity(const rep_tenant *t)
{
    json_t *arr = json_array();
    size_t n;
    const char **keys = t ? sorted_keys(t->actors, &n) : NULL;
    for (size_t i = 0; keys && i < n; i++) {
        json_t *a = json_object_get(t->actors, keys[i]), *o = json_object();
        json_object_set_new(o, "actor", json_string(keys[i]));
        json_object_set(o, "accepted", json_object_get(a, "accepted"));
        json_object_set(o, "rejected", json_object_get(a, "rejected"));
        json_object_set_new(o, "rejected_by_code", sorted_object(json_object_get(a, "rejected_by_code")));
        json_array_append_new(arr, o);
    }
    free(keys);
    return arr;
}

/* One tenant of the model; NULL on a store error. */
static json_t *tenant_model(const rep *r, const tms_state *st, const char *id)
{
    static const char *const state_keys[] = {"ceiling_exceptions", "extensions_without_login",
                                             "extensions_without_owner", "roles"};
    const rep_tenant *t = find_tenant(r, id);
    json_t *s = json_object(), *empty = json_object(), *o = json_object();
    int rc = tool_report_state(st, id, t ? t->custom : empty, s);
    json_decref(empty);
    if (rc) {
        json_decref(s);
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "tenant", json_string(id));
    json_object_set(o, "exists", json_object_get(s, "exists"));
    json_object_set(o, "access_review", json_object_get(s, "access_review"));
    json_object_set(o, "admin", json_object_get(s, "admin"));
    json_object_set_new(o, "accepted", json_integer(t ? (json_int_t)t->accepted : 0));
    json_object_set_new(o, "rejected", json_integer(t ? (json_int_t)t->nrejected : 0));
    json_object_set_new(o, "activity", activity(t));
    json_object_set_new(o, "rejected_attempts", t ? json_incref(t->rejected) : json_array());
    json_object_set_new(o, "privileged_changes", t ? json_incref(t->privileged) : json_array());
    for (size_t i = 0; i < sizeof state_keys / sizeof *state_keys; i++)
        json_object_set(o, state_keys[i], json_object_get(s, state_keys[i]));
    json_object_set_new(o, "timeline", timeline(r, t));
    json_decref(s);
    return o;
}

static json_t *point_or_null(uint64_t records, uint64_t seq, int64_t time, int want_time)
{
    char when[TOOL_TIME_MAX];
    if (!records)
        return json_null();
    return want_time ? json_string(tool_time_format(time, when)) : json_integer((json_int_t)seq);
}

static json_t *range_model(const rep *r, const tms_replay_result *res)
{
    json_t *o = json_object();
    json_object_set_new(o, "since", str_or_null(r->since_arg));
    json_object_set_new(o, "until", str_or_null(r->until_arg));
    json_object_set_new(o, "first_seq", point_or_null(r->records, r->first_seq, 0, 0));
    json_object_set_new(o, "first_time", point_or_null(r->records, 0, r->first_time, 1));
    json_object_set_new(o, "last_seq", point_or_null(r->records, r->last_seq, 0, 0));
    json_object_set_new(o, "last_time", point_or_null(r->records, 0, r->last_time, 1));
    json_object_set_new(o, "records", json_integer((json_int_t)r->records));
    json_object_set_new(o, "accepted", json_integer((json_int_t)r->accepted));
    json_object_set_new(o, "rejected", json_integer((json_int_t)r->rejected));
    json_object_set_new(o, "state_seq", json_integer((json_int_t)res->last_seq));
    json_object_set_new(o, "state_time", point_or_null(res->last_seq, 0, res->last_time, 1));
    json_object_set_new(o, "timeline_unit", json_string(unit_is_day(r) ? "day" : "hour"));
    return o;
}

/* The tenants to report, sorted: --tenant, or those in the state at the end
 * of the range together with those named by records in the range (a
 * rejected attempt on an unknown tenant). */
static json_t *tenant_ids(const rep *r, const tms_state *st)
{
    json_t *all = json_array(), *seen = json_object(), *v, *out = json_array();
    const char *k;
    size_t i, n;
    if (r->tenant) {
        json_array_append_new(out, json_string(r->tenant));
    } else if (tool_report_tenants(st, all) == 0) {
        json_array_foreach(all, i, v)
            json_object_set_new(seen, json_string_value(v), json_true());
        json_object_foreach(r->index, k, v)
            json_object_set_new(seen, k, json_true());
        const char **keys = sorted_keys(seen, &n);
        for (i = 0; keys && i < n; i++)
            json_array_append_new(out, json_string(keys[i]));
        free(keys);
    } else {
        json_decref(out);
        out = NULL;
    }
    json_decref(all);
    json_decref(seen);
    return out;
}

static json_t *model(const rep *r, const tms_state *st, const tms_replay_result *res)
{
    json_t *ids, *v, *m = NULL, *tenants;
    size_t i;
    if ((ids = tenant_ids(r, st)) != NULL) {
        m = json_object();
        tenants = json_array();
        json_object_set_new(m, "range", range_model(r, res));
        json_object_set_new(m, "tenants", tenants);
        json_array_foreach(ids, i, v) {
            json_t *t = tenant_model(r, st, json_string_value(v));
            if (!t) {
                json_decref(m);
                m = NULL;
                break;
            }
            json_array_append_new(tenants, t);
        }
    }
    json_decref(ids);
    return m;
}

/* ---- running it ------------------------------------------------------------ */

/* What the report stands on: the log it replayed was read whole up to its
 * last record, every frame's checksums and the hash chain checked (a failure
 * stops the report, exit 1), ending at this head. */
static json_t *stamp(const tms_replay_result *res)
{
    char hex[2 * TMS_HASH_LEN + 1], now[TOOL_TIME_MAX], tool[64];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(tool, sizeof tool, "tms-audit (tmsperm) %s", tms_version());
    return json_pack("{s:s,s:I,s:s,s:s,s:s}", "log",
                     "verified while replaying: every frame's checksums and the hash chain, records 1 to the last",
                     "records", (json_int_t)res->last_seq, "head", res->last_seq ? tool_hex(res->head, TMS_HASH_LEN, hex) : "",
                     "generated_at", tool_time_format((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, now), "tool", tool);
}

/* Replay to --until, collecting; then build the model. Returns an exit code. */
static int collect(rep *r, const char *datadir, json_t **out)
{
    char logdir[4200];
    tms_state *st;
    tms_replay_result res;
    tms_replay_opts o = {0};
    tms_rules_sink sink = {report_custom, r};
    if (tool_log_dir(datadir, logdir, sizeof logdir))
        return TOOL_ERROR;
    if (!(st = tms_state_new()))
        return tool_fail("out of memory");
    o.sink = &sink;
    o.on_record = report_record;
    o.on_effects = report_effects;
    o.ctx = r;
    o.tenant = r->tenant;
    o.to_seq = r->until.set && r->until.is_seq ? r->until.seq : 0;
    o.to_time = r->until.set && !r->until.is_seq ? r->until.time : 0;
    tms_err err = TMS_OK;
    memset(&res, 0, sizeof res);
    if (!r->until.set || r->until.is_seq || r->until.time > 0)   /* else: before every record */
        err = tool_fold(st, logdir, &o, &res, "tms-audit: replaying", o.to_seq);
    int rc = TOOL_OK;
    if (err) {
        tool_warn("replay stopped: %s", res.msg);
        rc = err == TMS_E_CORRUPT ? TOOL_NEGATIVE : TOOL_ERROR;
    } else if (o.to_seq && res.last_seq < o.to_seq) {
        rc = tool_fail("--until %llu: the log ends at seq %llu", (unsigned long long)o.to_seq,
                       (unsigned long long)res.last_seq);
    } else if (r->nomem) {
        rc = tool_fail("out of memory");
    } else if (!(*out = model(r, st, &res))) {
        rc = tool_fail("out of memory");
    } else {
        json_object_set_new(*out, "verification", stamp(&res));
    }
    tms_state_free(st);
    return rc;
}

static int parse_report(rep *r, int argc, char **argv, const char **data, int *format)
{
    const char *fmt = NULL, *pos[1];
    int npos;
    const tool_opt opts[] = {{"data", 1, data, NULL}, {"tenant", 1, &r->tenant, NULL},
                             {"since", 1, &r->since_arg, NULL}, {"until", 1, &r->until_arg, NULL},
                             {"format", 1, &fmt, NULL}, {NULL, 0, NULL, NULL}};
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc)
        return rc;
    if (!*data)
        return tool_fail("report: --data DIR is required (try --help)");
    if (r->tenant && !tms_is_id(r->tenant, strlen(r->tenant)))
        return tool_fail("report: %s is not a valid tenant id", r->tenant);
    if (!fmt || !strcmp(fmt, "json"))
        *format = FMT_JSON;
    else if (!strcmp(fmt, "text"))
        *format = FMT_TEXT;
    else if (!strcmp(fmt, "html"))
        *format = FMT_HTML;
    else
        return tool_fail("report: --format %s: expected json, text or html", fmt);
    if ((r->since_arg && tool_point_parse("--since", r->since_arg, &r->since)) ||
        (r->until_arg && tool_point_parse("--until", r->until_arg, &r->until)))
        return TOOL_ERROR;
    if (r->until.set && r->until.is_seq && r->until.seq == 0)
        return tool_fail("--until 0: expected a record number of at least 1");
    if (r->since.set && r->until.set && r->since.is_seq == r->until.is_seq &&
        (r->since.is_seq ? r->since.seq > r->until.seq : r->since.time > r->until.time))
        return tool_fail("--since is after --until");
    return 0;
}

int tool_report_main(int argc, char **argv)
{
    const char *data = NULL;
    int format = FMT_JSON, rc;
    json_t *m = NULL;
    rep r;
    memset(&r, 0, sizeof r);
    if ((rc = parse_report(&r, argc, argv, &data, &format)) == 1)
        return fputs(usage_report, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    r.index = json_object();
    rc = collect(&r, data, &m);
    if (rc == TOOL_OK && r.tenant) {
        json_t *t = json_array_get(json_object_get(m, "tenants"), 0);
        if (!json_is_true(json_object_get(t, "exists")) && !find_tenant(&r, r.tenant)) {
            tool_warn("tenant %s has no record in the range and does not exist at its end", r.tenant);
            rc = TOOL_NEGATIVE;
        }
    }
    rep_free(&r);
    if (!m)
        return rc;
    int out = format == FMT_JSON ? tool_print_json(json_incref(m))
              : format == FMT_TEXT ? tool_report_text(m) : tool_report_html(m);
    json_decref(m);
    if (out != 0)
        return tool_fail("cannot write the output");
    return rc ? rc : tool_finish_stdout();
}
