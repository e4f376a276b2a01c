/* daemon_http_read.c -- the HTTP lookups (SPEC section 9): GET /v1/check
 * (JSON, or format=text: allow/deny), POST /v1/check (a batch), GET
 * /v1/show, GET /v1/visible, GET /v1/status. Each answers from the loop
 * thread's read transaction, like the socket's lookups: never waiting for a
 * write. A deny is a 200; so is a check naming an unknown tenant, account or
 * permission (fail closed: deny, and with explain=1 the reason says which). */
#include "daemon_http.h"
#include "lookup.h"
#include "query.h"
#include "checkq.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_BATCH_MAX 100000

/* The point asked by seq= or at=: 0, or -1 after a 400. */
static int point_of(h2o_req_t *req, const http_params *p, tms_point *pt)
{
    memset(pt, 0, sizeof *pt);
    if (p->seq && p->at)
        return tms__http_fail(req, 400, TMS_E_INVAL, "seq and at name the same thing: give one"), -1;
    if (p->seq) {
        pt->kind = TMS_POINT_SEQ;
        return tms__http_seq(req, p->seq, "seq", &pt->seq);
    }
    if (p->at) {
        pt->kind = TMS_POINT_TIME;
        if (tms_time_parse(p->at, &pt->time))
            return tms__http_fail(req, 400, TMS_E_INVAL, "at: expected an RFC 3339 time such as 2026-10-01T08:00:00Z"), -1;
    }
    return 0;
}

/* Resolve the point in a fresh snapshot: 0 (snapshot open), or -1 after an error answer. */
static int snapshot_at(http_call *k, const tms_point *pt, int index, uint64_t *at, uint64_t *seq)
{
    char why[300];
    if (tms__snapshot_begin(k->d) != TMS_OK)
        return tms__http_fail(k->req, 500, TMS_E_STORE, "cannot read the projection"), -1;
    tms_err err = tms_query_point(k->d->rtx, pt, index, at, seq, why, sizeof why);
    if (err) {
        tms__snapshot_end(k->d);
        return tms__http_fail(k->req, err == TMS_E_INVAL ? 400 : 500, err, why), -1;
    }
    return 0;
}

/* format=text: allow or deny, and with explain=1 the reason in x-tms-reason. */
static void send_word(h2o_req_t *req, int allow, const json_t *ex)
{
    if (ex)
        tms__http_header(req, "x-tms-reason", json_string_value(json_object_get(ex, "reason")));
    tms__http_send_text(req, 200, "text/plain", allow ? "allow" : "deny", allow ? 5 : 4);
}

int tms__http_get_check(http_call *k)
{
    server *d = k->d;
    const http_params *p = &k->p;
    tms_point pt;
    uint64_t at, seq;
    char logdir[4200];
    json_t *ex = NULL;
    int explain = p->explain && strcmp(p->explain, "0"), text = p->format && !strcmp(p->format, "text");
    if (!p->tenant || !p->kind || !p->id || !p->name)
        return tms__http_fail(k->req, 400, TMS_E_INVAL, "check needs tenant, kind, id and name");
    if (p->format && !text && strcmp(p->format, "json"))
        return tms__http_fail(k->req, 400, TMS_E_INVAL, "format: json (the default) or text");
    if (!tms__http_tenant_ok(k, p->tenant) || point_of(k->req, p, &pt) || snapshot_at(k, &pt, explain, &at, &seq))
        return 0;
    int allow = explain ? tms_query_explain(d->rtx, seq, tms_data_path(logdir, sizeof logdir, d->opt.data_dir, "log"),
                                            p->tenant, p->kind, p->id, p->name, &ex)
                        : tms_lookup_check_at(d->rtx, at, p->tenant, p->kind, p->id, p->name);
    tms__snapshot_end(d);
    d->ctr.checks++;
    if (allow < 0) {
        json_decref(ex);
        return tms__http_fail(k->req, 500, (tms_err)-allow, "cannot read the projection");
    }
    if (text) {   /* for dialplans that compare strings */
        send_word(k->req, allow, ex);
        json_decref(ex);
        return 0;
    }
    json_t *o = json_pack("{s:b,s:I}", "allow", allow, "seq", (json_int_t)seq);
    if (ex && o)
        json_object_update(o, ex);
    json_decref(ex);
    tms__http_send_json(k->req, 200, o);
    return 0;
}

/* Every entry of a batch well formed and every tenant in it this
 * principal's: 0, or -1 after the answer (400 naming the first malformed
 * entry; 403). A malformed entry refuses the whole batch: a deny would say
 * "may not", which is not what was asked (docs/protocol.md). */
static int check_entries(http_call *k, const json_t *checks)
{
    char why[200], msg[240];
    tms_checkq cq;
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c) {
        if (tms_checkq_json(c, &cq, why, sizeof why) != TMS_OK) {
            snprintf(msg, sizeof msg, "checks[%zu]: %s", i, why);
            return tms__http_fail(k->req, 400, TMS_E_INVAL, msg), -1;
        }
        if (!k->who->all_tenants && !tms__http_tenant_ok(k, cq.tenant))
            return -1;
    }
    return 0;
}

int tms__http_post_check(http_call *k)
{
    server *d = k->d;
    json_error_t jerr;
    tms_point pt;
    uint64_t at, seq;
    size_t i;
    char why[200];
    tms_checkq cq;
    json_t *c, *in = json_loadb(k->req->entity.base, k->req->entity.len, 0, &jerr),
               *checks = json_object_get(in, "checks"), *allow = NULL;
    if (!json_is_array(checks) || json_array_size(checks) > CHECK_BATCH_MAX) {
        json_decref(in);
        return tms__http_fail(k->req, 400, TMS_E_INVAL,
                         "POST /v1/check takes {\"checks\":[{\"tenant\",\"kind\",\"id\",\"name\"},...]} "
                         "(at most 100000)");
    }
    if (check_entries(k, checks) || point_of(k->req, &k->p, &pt) || snapshot_at(k, &pt, 0, &at, &seq))
        goto done;
    allow = json_array();
    json_array_foreach(checks, i, c) {
        int yes = tms_checkq_json(c, &cq, why, sizeof why) == TMS_OK &&
                  tms_lookup_check_at(d->rtx, at, cq.tenant, cq.kind, cq.id, cq.name) > 0;
        json_array_append_new(allow, json_boolean(yes));
    }
    tms__snapshot_end(d);
    d->ctr.checks += json_array_size(checks);
    tms__http_send_json(k->req, 200, json_pack("{s:o,s:I}", "allow", allow, "seq", (json_int_t)seq));
done:
    json_decref(in);
    return 0;
}

/* A control character in the query string, raw or percent-encoded (%00
 * cut the value it was in, and asked about another account): 1 after a 400
 * naming the parameter, else 0. Every route's query passes here first. */
int tms__http_query_refused(h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1;
    size_t n = req->path.len - req->query_at - 1;
    long at = tms_query_control(q, n);
    if (at < 0)
        return 0;
    size_t start = (size_t)at, end;
    while (start > 0 && q[start - 1] != '&')
        start--;
    for (end = start; end < n && q[end] != '=' && q[end] != '&' && end - start < 32; end++)
        ;
    char msg[160];
    snprintf(msg, sizeof msg, "%.*s: control characters (%%00-%%1F, %%7F) are not allowed in a query", (int)(end - start),
             q + start);
    tms__http_fail(req, 400, TMS_E_INVAL, msg);
    return 1;
}

int tms__http_get_query(http_call *k, int show)
{
    const http_params *p = &k->p;
    tms_point pt;
    uint64_t at, seq;
    json_t *out = NULL;
    char hdr[24];
    if (!p->tenant || (show ? !p->kind || !p->id : !p->manager))
        return tms__http_fail(k->req, 400, TMS_E_INVAL, show ? "show needs tenant, kind and id" : "visible needs tenant and manager");
    if (!tms__http_tenant_ok(k, p->tenant) || point_of(k->req, p, &pt) || snapshot_at(k, &pt, 0, &at, &seq))
        return 0;
    int rc = show ? tms_query_show(k->d->rtx, at, p->tenant, p->kind, p->id, &out)
                  : tms_query_visible(k->d->rtx, at, p->tenant, p->manager, &out);
    tms__snapshot_end(k->d);
    if (rc == 2) {
        json_decref(out);
        return tms__http_fail(k->req, 500, TMS_E_STORE, "cannot read the projection");
    }
    if (rc == 1)
        return tms__http_fail(k->req, 404, TMS_NOT_FOUND, "no such account or object at that point");
    snprintf(hdr, sizeof hdr, "%llu", (unsigned long long)seq);
    tms__http_header(k->req, "x-tms-seq", hdr);
    tms__http_send_json(k->req, 200, out);
    return 0;
}

int tms__http_get_status(http_call *k)
{
    json_t *st = tms__status_json(k->d);
    if (st)
        json_object_set_new(st, "principal", json_string(k->who->name));
    tms__http_send_json(k->req, 200, st);   /* NULL: 500 out of memory */
    return 0;
}
