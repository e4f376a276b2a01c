/* tool_lookup.c -- tmsctl check / show / visible (SPEC sections 6 and 7):
 * the options (--seq, --at, --explain, --min-seq, --wait), then the answer
 * embedded or through tmsd. A current check embedded takes the PBX node's
 * path (tmsperm.h's reader); everything else reads one snapshot of the
 * projection, resolving the point in it. */
#include "tool_lookup.h"
#include "engine.h"
#include "lookup.h"
#include "query.h"
#include "tmsperm.h"
#include "tmsperm_schema.h"
#include "tool_common.h"
#include "cmd.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* What a lookup was asked, beside its positional arguments. */
typedef struct ask {
    int what;              /* TOOL_LOOKUP_* */
    const char *pos[4];
    tms_point point;
    int explain;
    uint64_t min_seq;      /* --min-seq N [--wait MS]: 0 = any */
    uint64_t wait_ms;
    const char *dir;       /* where it asks: the data directory, or tmsd */
    tms_client *cli;
    tms_txn *tx;           /* embedded, at a point: the read transaction open (one LMDB environment per process) */
    uint64_t seq;          /* ... and the point's seq */
} ask;

static int parse(int argc, char **argv, ask *a)
{
    static const struct {
        int want;
        const char *needs;
    } forms[] = {{4, "check needs TENANT KIND ID NAME"}, {3, "show needs TENANT KIND ID"},
                 {2, "visible needs TENANT MANAGER"}};
    const char *min_seq = NULL, *wait = NULL, *seq = NULL, *at = NULL;
    int explain = 0, npos;
    const tool_opt opts[] = {{"min-seq", 1, &min_seq, NULL}, {"wait", 1, &wait, NULL}, {"seq", 1, &seq, NULL},
                             {"at", 1, &at, NULL}, {"explain", 0, NULL, &explain}, {NULL, 0, NULL, NULL}};
    int rc = tool_parse(argc, argv, opts, a->pos, forms[a->what].want, &npos);
    if (rc)
        return rc;
    if (npos != forms[a->what].want)
        return tool_fail("%s", forms[a->what].needs);
    a->wait_ms = 1000;
    a->explain = explain;
    if (explain && a->what != TOOL_LOOKUP_CHECK)
        return tool_fail("%s", "--explain goes with check");
    if (seq && at)
        return tool_fail("%s", "--seq and --at name the same thing: give one");
    if (seq && tool_seq_parse(seq, &a->point.seq))
        return tool_fail("--seq %s: expected a seq (digits)", seq);
    if (at && tool_time_parse(at, &a->point.time))
        return tool_fail("--at %s: expected an RFC 3339 time such as 2026-10-01T08:00:00Z", at);
    a->point.kind = seq ? TMS_POINT_SEQ : at ? TMS_POINT_TIME : TMS_POINT_LATEST;
    if (min_seq && (tool_seq_parse(min_seq, &a->min_seq) || a->min_seq == 0))
        return tool_fail("--min-seq %s: expected a seq (a positive integer)", min_seq);
    if (wait && (tool_seq_parse(wait, &a->wait_ms) || a->wait_ms > 3600000))
        return tool_fail("--wait %s: expected milliseconds (0 to 3600000)", wait);
    if (wait && !min_seq)
        return tool_fail("%s", "--wait goes with --min-seq");
    return 0;
}

/* ---- output -------------------------------------------------------------------- */

static int print_json(json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    puts(text ? text : "null");
    free(text);
    return 0;
}

/* Why a deny, in explain's words ("unknown_tenant" ...), at the same point:
 * through tmsd or from the projection; "" when it cannot tell. */
static const char *deny_reason(const ask *a, char *buf, size_t len)
{
    char *text = NULL, why[300], logdir[4200], path[4200];
    json_t *ex = NULL;
    buf[0] = '\0';
    if (a->cli) {
        if (tms_client_explain(a->cli, a->pos[0], a->pos[1], a->pos[2], a->pos[3], &text) >= 0 && text)
            ex = json_loads(text, 0, NULL);
        free(text);
    } else if (a->tx) {   /* the transaction the answer came from: never a second environment */
        tms_query_explain(a->tx, a->seq, tms_data_path(logdir, sizeof logdir, a->dir, "log"), a->pos[0], a->pos[1],
                          a->pos[2], a->pos[3], &ex);
    } else {   /* the reader path: its environment is closed by now */
        tms_store *st = NULL;
        tms_txn *tx = NULL;
        uint64_t at, seq;
        if (tms_store_open(tms_data_path(path, sizeof path, a->dir, "proj"), TMS_STORE_READONLY, &st, why,
                           sizeof why) == TMS_OK && tms_txn_begin(st, 0, &tx) == TMS_OK &&
            tms_query_point(tx, &a->point, 1, &at, &seq, why, sizeof why) == TMS_OK)
            tms_query_explain(tx, seq, tms_data_path(logdir, sizeof logdir, a->dir, "log"), a->pos[0], a->pos[1],
                              a->pos[2], a->pos[3], &ex);
        tms_txn_abort(tx);
        tms_store_close(st);
    }
    snprintf(buf, len, "%s", json_string_value(json_object_get(ex, "reason")) ? json_string_value(json_object_get(ex, "reason")) : "");
    json_decref(ex);
    return buf;
}

/* A deny because of a typo is still a deny (fail closed), but says why on
 * stderr: a kind or a name the schema does not know, a tenant or an account
 * the state does not hold. A plain deny says nothing. */
static void explain_typo(const ask *a)
{
    const char *kind = a->pos[1], *name = a->pos[3];
    char reason[64];
    if (strcmp(kind, "extension") && strcmp(kind, "manager") && strcmp(kind, "admin"))
        tool_warn("deny: unknown kind %s (extension, manager or admin)", kind);
    else if (tms_permission_index(name) < 0 && tms_feature_index(name) < 0)
        tool_warn("deny: %s is neither a permission nor a feature (tmsctl names lists them)", name);
    else if (!strcmp(deny_reason(a, reason, sizeof reason), "unknown_tenant"))
        tool_warn("deny: there is no tenant %s", a->pos[0]);
    else if (!strcmp(reason, "unknown_account"))
        tool_warn("deny: tenant %s has no %s %s", a->pos[0], kind, a->pos[2]);
}

/* An answer: check prints allow/deny (or the explanation), show and visible
 * their JSON; exit 0 allow/found, 1 deny/absent. */
static int print_answer(const ask *a, int rc, json_t *out)
{
    if (a->what == TOOL_LOOKUP_CHECK && !a->explain) {
        if (!rc)
            explain_typo(a);
        puts(rc ? "allow" : "deny");
        return rc ? 0 : 1;
    }
    if (a->what == TOOL_LOOKUP_CHECK) {
        print_json(out);
        return rc ? 0 : 1;
    }
    if (rc == 0)
        print_json(out);
    return rc;
}

/* ---- embedded --------------------------------------------------------------------- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Poll the projection's seq (every 2 ms) until it reaches a->min_seq or
 * a->wait_ms pass. 0 when it did, else exit status 2. */
static int wait_fresh(const char *dir, const ask *a)
{
    tms_reader *r = NULL;
    uint64_t seq = 0, deadline = mono_ms() + a->wait_ms;
    tms_err err = TMS_OK;
    char why[512] = "";
    if (a->min_seq == 0)
        return 0;
    for (;;) {
        if (!r && (err = tms_reader_open_why(dir, &r, why, sizeof why)) != TMS_OK && err != TMS_NOT_FOUND)
            break;
        if (r && (err = tms_reader_seq(r, &seq)) != TMS_OK) {
            snprintf(why, sizeof why, "%s", tms_reader_message(r));
            break;
        }
        if (seq >= a->min_seq || mono_ms() >= deadline)
            break;
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    tms_reader_close(r);   /* before the lookup opens the projection: one environment per process */
    if (err && err != TMS_NOT_FOUND)
        return tool_fail("cannot read the projection: %s", why[0] ? why : tms_strerror(err));
    if (seq >= a->min_seq)
        return 0;
    return tool_fail("the projection is at seq %llu, not yet at --min-seq %llu (waited %llu ms)",
                     (unsigned long long)seq, (unsigned long long)a->min_seq, (unsigned long long)a->wait_ms);
}

/* The PBX node's path: a current check through tmsperm.h's reader. */
static int reader_check(const char *dir, const ask *a)
{
    tms_reader *r;
    char why[512];
    tms_err err = tms_reader_open_why(dir, &r, why, sizeof why);
    if (err == TMS_NOT_FOUND)   /* nothing submitted yet: nothing is allowed */
        return print_answer(a, 0, NULL);
    if (err)
        return tool_fail("cannot read the projection: %s", why[0] ? why : tms_strerror(err));
    int allow = tms_reader_check(r, a->pos[0], a->pos[1], a->pos[2], a->pos[3]);
    if (allow < 0)
        snprintf(why, sizeof why, "%s", tms_reader_message(r)[0] ? tms_reader_message(r) : tms_strerror((tms_err)-allow));
    tms_reader_close(r);
    if (allow < 0)
        return tool_fail("lookup failed: %s", why);
    return print_answer(a, allow, NULL);
}

/* One lookup in tx at the point asked: the exit status. */
static int answer_in(const char *dir, tms_txn *tx, const ask *a)
{
    char why[300], logdir[4200];
    uint64_t at, seq;
    json_t *out = NULL;
    tms_err err = tms_query_point(tx, &a->point, a->explain, &at, &seq, why, sizeof why);
    if (err)
        return tool_fail("%s", why[0] ? why : tms_strerror(err));
    int rc;
    if (a->explain)
        rc = tms_query_explain(tx, seq, tms_data_path(logdir, sizeof logdir, dir, "log"), a->pos[0], a->pos[1],
                               a->pos[2], a->pos[3], &out);
    else if (a->what == TOOL_LOOKUP_CHECK)
        rc = tms_lookup_check_at(tx, at, a->pos[0], a->pos[1], a->pos[2], a->pos[3]);
    else if (a->what == TOOL_LOOKUP_SHOW)
        rc = tms_query_show(tx, at, a->pos[0], a->pos[1], a->pos[2], &out) == 2 ? -(int)TMS_E_STORE : 0;
    else
        rc = tms_query_visible(tx, at, a->pos[0], a->pos[1], &out) ? -(int)TMS_E_STORE : 0;
    if (rc < 0) {
        json_decref(out);
        return tool_fail("lookup failed: %s", tms_strerror((tms_err)-rc));
    }
    if (a->what == TOOL_LOOKUP_SHOW)
        rc = out ? 0 : 1;
    ask here = *a;   /* a deny's reason is read in this transaction */
    here.tx = tx;
    here.seq = seq;
    rc = print_answer(&here, rc, out);
    json_decref(out);
    return rc;
}

/* No projection yet: the state before the first record. */
static int answer_empty(const ask *a)
{
    if (a->point.kind == TMS_POINT_SEQ && a->point.seq > 0)
        return tool_fail("seq %llu is beyond the log: the last seq is 0", (unsigned long long)a->point.seq);
    if (a->explain) {
        json_t *o = json_pack("{s:s,s:s,s:n,s:n,s:n}", "decision", "deny", "reason", "unknown_tenant", "via", "role",
                              "changed");
        int rc = print_answer(a, 0, o);
        json_decref(o);
        return rc;
    }
    if (a->what == TOOL_LOOKUP_VISIBLE) {
        puts("[]");
        return 0;
    }
    return print_answer(a, a->what == TOOL_LOOKUP_SHOW ? 1 : 0, NULL);
}

static int embedded(const char *dir, const ask *a)
{
    char path[4200], why[256];
    struct stat sb;
    tms_store *st = NULL;
    tms_txn *tx = NULL;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return tool_fail("no data directory %s", dir);
    int rc = wait_fresh(dir, a);
    if (rc)
        return rc;
    if (a->what == TOOL_LOOKUP_CHECK && !a->explain && a->point.kind == TMS_POINT_LATEST)
        return reader_check(dir, a);
    tms_err err = tms_store_open(tms_data_path(path, sizeof path, dir, "proj"), TMS_STORE_READONLY, &st, why, sizeof why);
    if (err == TMS_NOT_FOUND)
        return answer_empty(a);
    if (err)
        return tool_fail("cannot read the projection: %s", why);
    if ((err = tms_txn_begin(st, 0, &tx)))
        rc = tool_fail("cannot read the projection: %s", tms_strerror(err));
    else
        rc = answer_in(dir, tx, a);
    tms_txn_abort(tx);
    tms_store_close(st);
    return rc;
}

/* ---- through tmsd --------------------------------------------------------------------- */

static int remote_fail(tms_client *cli, tms_err err, const char *what)
{
    if (err == TMS_E_STALE || err == TMS_E_INVAL || err == TMS_E_STORE) {   /* the server says which seq */
        tool_warn("%s", tms_client_message(cli));
        return TOOL_ERROR;
    }
    return tool_fail("%s through tmsd failed: %s", what, tms_strerror(err));
}

static int remote(tms_client *cli, const ask *a)
{
    static const char *const names[] = {"check", "show", "visible"};
    char *json = NULL;
    tms_err err = TMS_OK;
    int rc = 0;
    tms_client_set_min_seq(cli, a->min_seq, (uint32_t)a->wait_ms);
    tms_client_set_point(cli, a->point.kind, a->point.seq, a->point.time);
    if (a->explain) {
        if ((rc = tms_client_explain(cli, a->pos[0], a->pos[1], a->pos[2], a->pos[3], &json)) < 0)
            err = (tms_err)-rc;
    } else if (a->what == TOOL_LOOKUP_CHECK) {
        if ((rc = tms_client_check(cli, a->pos[0], a->pos[1], a->pos[2], a->pos[3])) < 0)
            err = (tms_err)-rc;
    } else {
        err = a->what == TOOL_LOOKUP_SHOW ? tms_client_show(cli, a->pos[0], a->pos[1], a->pos[2], &json)
                                          : tms_client_visible(cli, a->pos[0], a->pos[1], &json);
        rc = err == TMS_NOT_FOUND;
        err = err == TMS_NOT_FOUND ? TMS_OK : err;
    }
    if (err)
        return remote_fail(cli, err, names[a->what]);
    if (a->what == TOOL_LOOKUP_CHECK && !a->explain) {
        if (!rc)
            explain_typo(a);
        puts(rc ? "allow" : "deny");
        return rc ? 0 : 1;
    }
    if (json)
        puts(json);
    free(json);
    return a->what == TOOL_LOOKUP_CHECK ? !rc : rc;
}

int tool_lookup(const char *dir, tms_client *cli, int what, int argc, char **argv)
{
    ask a;
    memset(&a, 0, sizeof a);
    a.what = what;
    a.dir = dir;
    a.cli = cli;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc == 1 ? TOOL_OK : rc;
    rc = cli ? remote(cli, &a) : embedded(dir, &a);
    int w = tool_finish_stdout();   /* an answer that could not be written is exit 2 */
    return w ? w : rc;
}
