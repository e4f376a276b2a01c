/* daemon_http.c -- tmsd --http HOST:PORT (SPEC section 9): HTTP/1.1 with
 * keep-alive, served by h2o (libh2o, built on libuv) on tmsd's own loop;
 * tmsd parses no HTTP. Lookups answer from the loop's read transaction like
 * the socket's (never waiting for writes); a lookup with min_seq waits, as
 * a socket lookup does, for the group that reaches it, at most wait_ms,
 * then 503.
 *
 * Routes of this step: GET /v1/check (JSON, or format=text: allow/deny),
 * POST /v1/check (a batch), GET /v1/show, GET /v1/visible, GET /v1/status,
 * GET /metrics. Unknown paths 404, malformed requests 400 {"error","message"};
 * a deny is a 200. Not yet: POST /v1/submit, GET /v1/watch. */
#include "daemon_internal.h"
#include "lookup.h"
#include "query.h"
#include <h2o.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAX_BODY (1u << 20)
#define HTTP_MAX_CONNECTIONS 1024
#define HTTP_TICK_MS 5
#define HTTP_IDLE_MS 5000

typedef struct hwait hwait;

struct http {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    uv_tcp_t listener;
    uv_timer_t tick;
    unsigned nconns;
    int disposed;
    hwait *waiting;
};

/* A GET /v1/check with a min_seq the projection has not reached. */
struct hwait {
    h2o_req_t *req;
    uint64_t min_seq, deadline_ns;
    hwait *next;
};

/* ---- the query string ------------------------------------------------------------- */

typedef struct params {
    const char *tenant, *kind, *id, *name, *manager, *seq, *at, *min_seq, *wait_ms, *explain, *format;
} params;

/* Percent-decode s[0..n) into the request's pool (h2o decodes the hex). */
static const char *decode(h2o_req_t *req, const char *s, size_t n)
{
    char *out = h2o_mem_alloc_pool(&req->pool, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && h2o_hex_decode(o, s + i + 1, 2) == 0) {   /* two hex digits follow */
            o++;
            i += 2;
        } else {
            *o++ = s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

static void parse_query(h2o_req_t *req, params *p)
{
    static const char *const keys[] = {"tenant", "kind", "id", "name", "manager", "seq", "at", "min_seq",
                                       "wait_ms", "explain", "format"};
    const char **slots[] = {&p->tenant, &p->kind, &p->id, &p->name, &p->manager, &p->seq, &p->at, &p->min_seq,
                            &p->wait_ms, &p->explain, &p->format};
    memset(p, 0, sizeof *p);
    if (req->query_at == SIZE_MAX)
        return;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q)), *stop = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(stop - q));
        size_t klen = (size_t)((eq ? eq : stop) - q);
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (klen == strlen(keys[i]) && !memcmp(q, keys[i], klen))
                *slots[i] = eq ? decode(req, eq + 1, (size_t)(stop - eq - 1)) : "";
        q = stop + 1;
    }
}

/* ---- answers ---------------------------------------------------------------------- */

static void send_json(h2o_req_t *req, int status, const char *reason, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    if (!text) {
        h2o_send_inline(req, H2O_STRLIT("{\"error\":\"E_NOMEM\",\"message\":\"out of memory\"}"));
        return;
    }
    h2o_iovec_t b = h2o_strdup(&req->pool, text, strlen(text));
    free(text);
    h2o_send_inline(req, b.base, b.len);
}

static void send_text(h2o_req_t *req, int status, const char *reason, const char *ctype, const char *body, size_t n)
{
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
    h2o_iovec_t b = h2o_strdup(&req->pool, body, n);
    h2o_send_inline(req, b.base, b.len);
}

static int fail(h2o_req_t *req, int status, tms_err err, const char *message)
{
    static const char *const reasons[] = {[400] = "Bad Request", [404] = "Not Found", [503] = "Service Unavailable",
                                          [500] = "Internal Server Error"};
    send_json(req, status, reasons[status] ? reasons[status] : "Error",
              json_pack("{s:s,s:s}", "error", tms_err_name(err), "message", message));
    return 0;
}

/* The point asked by seq= or at=: 0, or -1 after a 400. */
static int point_of(h2o_req_t *req, const params *p, tms_point *pt)
{
    char *end;
    memset(pt, 0, sizeof *pt);
    if (p->seq && p->at)
        return fail(req, 400, TMS_E_INVAL, "seq and at name the same thing: give one"), -1;
    if (p->seq) {
        pt->kind = TMS_POINT_SEQ;
        pt->seq = strtoull(p->seq, &end, 10);
        if (!p->seq[0] || *end || p->seq[0] == '-')
            return fail(req, 400, TMS_E_INVAL, "seq: expected a seq (digits)"), -1;
    } else if (p->at) {
        pt->kind = TMS_POINT_TIME;
        if (tms_time_parse(p->at, &pt->time))
            return fail(req, 400, TMS_E_INVAL, "at: expected an RFC 3339 time such as 2026-10-01T08:00:00Z"), -1;
    }
    return 0;
}

/* Resolve the point in a fresh snapshot: 0 (snapshot open), or -1 after an error answer. */
static int snapshot_at(server *d, h2o_req_t *req, const tms_point *pt, int index, uint64_t *at, uint64_t *seq)
{
    char why[300];
    if (snapshot_begin(d) != TMS_OK)
        return fail(req, 500, TMS_E_STORE, "cannot read the projection"), -1;
    tms_err err = tms_query_point(d->rtx, pt, index, at, seq, why, sizeof why);
    if (err) {
        snapshot_end(d);
        return fail(req, err == TMS_E_INVAL ? 400 : 500, err, why), -1;
    }
    return 0;
}

static int get_check(server *d, h2o_req_t *req, const params *p)
{
    tms_point pt;
    uint64_t at, seq;
    char logdir[4200];
    json_t *ex = NULL;
    int explain = p->explain && strcmp(p->explain, "0"), text = p->format && !strcmp(p->format, "text");
    if (!p->tenant || !p->kind || !p->id || !p->name)
        return fail(req, 400, TMS_E_INVAL, "check needs tenant, kind, id and name");
    if (point_of(req, p, &pt) || snapshot_at(d, req, &pt, explain, &at, &seq))
        return 0;
    int allow = explain ? tms_query_explain(d->rtx, seq, tms_data_path(logdir, sizeof logdir, d->opt.data_dir, "log"),
                                            p->tenant, p->kind, p->id, p->name, &ex)
                        : tms_lookup_check_at(d->rtx, at, p->tenant, p->kind, p->id, p->name);
    snapshot_end(d);
    d->ctr.checks++;
    if (allow < 0) {
        json_decref(ex);
        return fail(req, 500, (tms_err)-allow, "cannot read the projection");
    }
    if (text) {   /* for dialplans that compare strings: the reason in a header */
        if (ex) {   /* h2o keeps the pointer: the value goes into the request's pool */
            const char *why = json_string_value(json_object_get(ex, "reason"));
            h2o_iovec_t v = h2o_strdup(&req->pool, why, strlen(why));
            h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-tms-reason"), 0, NULL, v.base, v.len);
        }
        json_decref(ex);
        send_text(req, 200, "OK", "text/plain", allow ? "allow" : "deny", allow ? 5 : 4);
        return 0;
    }
    json_t *o = json_pack("{s:b,s:I}", "allow", allow, "seq", (json_int_t)seq);
    if (ex)
        json_object_update(o, ex);
    json_decref(ex);
    send_json(req, 200, "OK", o);
    return 0;
}

static int post_check(server *d, h2o_req_t *req, const params *p)
{
    json_error_t jerr;
    tms_point pt;
    uint64_t at, seq;
    json_t *in = json_loadb(req->entity.base, req->entity.len, 0, &jerr), *checks = json_object_get(in, "checks");
    if (!json_is_array(checks) || json_array_size(checks) > 100000) {
        json_decref(in);
        return fail(req, 400, TMS_E_INVAL, "POST /v1/check takes {\"checks\":[{\"tenant\",\"kind\",\"id\",\"name\"},...]}");
    }
    if (point_of(req, p, &pt) || snapshot_at(d, req, &pt, 0, &at, &seq)) {
        json_decref(in);
        return 0;
    }
    json_t *allow = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c) {
        const char *f[4];
        static const char *const keys[4] = {"tenant", "kind", "id", "name"};
        for (int k = 0; k < 4; k++)
            f[k] = json_is_string(json_object_get(c, keys[k])) ? json_string_value(json_object_get(c, keys[k])) : "";
        json_array_append_new(allow, json_boolean(tms_lookup_check_at(d->rtx, at, f[0], f[1], f[2], f[3]) > 0));
    }
    snapshot_end(d);
    d->ctr.checks += json_array_size(checks);
    json_decref(in);
    send_json(req, 200, "OK", json_pack("{s:o,s:I}", "allow", allow, "seq", (json_int_t)seq));
    return 0;
}

static int get_query(server *d, h2o_req_t *req, const params *p, int show)
{
    tms_point pt;
    uint64_t at, seq;
    json_t *out = NULL;
    if (!p->tenant || (show ? !p->kind || !p->id : !p->manager))
        return fail(req, 400, TMS_E_INVAL, show ? "show needs tenant, kind and id" : "visible needs tenant and manager");
    if (point_of(req, p, &pt) || snapshot_at(d, req, &pt, 0, &at, &seq))
        return 0;
    int rc = show ? tms_query_show(d->rtx, at, p->tenant, p->kind, p->id, &out)
                  : tms_query_visible(d->rtx, at, p->tenant, p->manager, &out);
    snapshot_end(d);
    if (rc == 2) {
        json_decref(out);
        return fail(req, 500, TMS_E_STORE, "cannot read the projection");
    }
    if (rc == 1)
        return fail(req, 404, TMS_NOT_FOUND, "no such account or object at that point");
    char hdr[24];
    int n = snprintf(hdr, sizeof hdr, "%llu", (unsigned long long)seq);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-tms-seq"), 0, NULL, hdr, (size_t)n);
    send_json(req, 200, "OK", out);
    return 0;
}

static int get_status(server *d, h2o_req_t *req)
{
    uint64_t seq = 0;
    uint8_t head[TMS_HASH_LEN];
    char hex[2 * TMS_HASH_LEN + 1];
    memset(head, 0, sizeof head);
    if (snapshot_begin(d) == TMS_OK) {
        tms_meta_get(d->rtx, &seq, head);
        snapshot_end(d);
    }
    sodium_bin2hex(hex, sizeof hex, head, TMS_HASH_LEN);
    send_json(req, 200, "OK", json_pack("{s:I,s:s,s:s,s:o,s:I}", "last_seq", (json_int_t)seq, "head", seq ? hex : "",
                                        "role", d->opt.replica_of ? "replica" : "leader", "read_only",
                                        d->read_only[0] ? json_string(d->read_only) : json_false(), "connections",
                                        (json_int_t)d->nconns));
    return 0;
}

/* ---- min_seq -------------------------------------------------------------------------- */

static int wait_fresh(server *d, h2o_req_t *req, const params *p)
{
    char *end;
    uint64_t min = strtoull(p->min_seq, &end, 10), wait_ms = 1000;
    if (!p->min_seq[0] || *end || p->min_seq[0] == '-')
        return fail(req, 400, TMS_E_INVAL, "min_seq: expected a seq (digits)"), 1;
    if (p->wait_ms && ((wait_ms = strtoull(p->wait_ms, &end, 10)) > 3600000 || *end || !p->wait_ms[0]))
        return fail(req, 400, TMS_E_INVAL, "wait_ms: expected milliseconds (0 to 3600000)"), 1;
    if (min <= projection_seq(d))
        return 0;
    hwait *w = h2o_mem_alloc_pool(&req->pool, sizeof *w);   /* lives as long as the request */
    w->req = req;
    w->min_seq = min;
    w->deadline_ns = now_ns() + wait_ms * 1000000u;
    w->next = d->http->waiting;
    d->http->waiting = w;
    return 1;
}

static int route(server *d, h2o_req_t *req);

void http_wake(server *d)
{
    if (!d->http || !d->http->waiting)
        return;
    uint64_t seq = projection_seq(d), now = now_ns();
    hwait **pp = &d->http->waiting, *ready = NULL;
    while (*pp) {
        hwait *w = *pp;
        if (seq >= w->min_seq || now >= w->deadline_ns || d->stopping) {
            *pp = w->next;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    while (ready) {
        hwait *w = ready;
        ready = w->next;
        if (seq >= w->min_seq) {
            route(d, w->req);   /* now it is fresh enough: answered as if it had just come */
        } else {
            char why[200];
            snprintf(why, sizeof why, "the projection is at seq %llu, not yet at min_seq %llu", (unsigned long long)seq,
                     (unsigned long long)w->min_seq);
            fail(w->req, 503, TMS_E_STALE, why);
        }
    }
}

/* Stopping: once h2o has closed every connection (idle keep-alive ones
 * within HTTP_IDLE_MS), its context is disposed and the tick stops: the
 * loop can end. */
static void finish_if_idle(server *d)
{
    http *h = d->http;
    if (!d->stopping || h->disposed || h->nconns)
        return;
    h2o_context_dispose(&h->ctx);
    h->disposed = 1;
    uv_close((uv_handle_t *)&h->tick, NULL);
}

static void on_tick(uv_timer_t *t)
{
    http_wake(t->data);
    finish_if_idle(t->data);
}

/* ---- routing ---------------------------------------------------------------------------- */

/* The method and the path (h2o's normalized path: without the query). */
static int is(h2o_req_t *req, const char *method, const char *path)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method)) &&
           h2o_memis(req->path_normalized.base, req->path_normalized.len, path, strlen(path));
}

static int route(server *d, h2o_req_t *req)
{
    params p;
    parse_query(req, &p);
    d->ctr.requests++;
    if (p.min_seq && !is(req, "GET", "/metrics") && !is(req, "GET", "/v1/status") && wait_fresh(d, req, &p))
        return 0;   /* answered (400), or waiting */
    if (is(req, "GET", "/v1/check"))
        return get_check(d, req, &p);
    if (is(req, "POST", "/v1/check"))
        return post_check(d, req, &p);
    if (is(req, "GET", "/v1/show"))
        return get_query(d, req, &p, 1);
    if (is(req, "GET", "/v1/visible"))
        return get_query(d, req, &p, 0);
    if (is(req, "GET", "/v1/status"))
        return get_status(d, req);
    if (is(req, "GET", "/metrics")) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        render_metrics(d, &sb);
        send_text(req, 200, "OK", "text/plain; version=0.0.4", sb.data ? sb.data : "", sb.size);
        msgpack_sbuffer_destroy(&sb);
        return 0;
    }
    return fail(req, 404, TMS_E_INVAL, "no such route (GET /v1/check, POST /v1/check, /v1/show, /v1/visible, "
                                       "/v1/status, /metrics)");
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    return route(*(server **)(self + 1), req);
}

/* ---- connections ------------------------------------------------------------------------ */

/* A connection: h2o's socket takes the handle's data pointer, so the
 * server is kept beside the handle. */
typedef struct hconn {
    uv_tcp_t tcp;   /* first: the close callback gets its address */
    server *d;
} hconn;

static void on_closed(uv_handle_t *h)
{
    hconn *c = (hconn *)h;
    c->d->http->nconns--;
    free(c);
}

static void on_accept(uv_stream_t *listener, int status)
{
    server *d = listener->data;
    hconn *c;
    if (status || !(c = malloc(sizeof *c)))
        return;
    uv_tcp_init(d->loop, &c->tcp);
    c->d = d;
    d->http->nconns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) || d->http->nconns > HTTP_MAX_CONNECTIONS || d->stopping) {
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    h2o_accept(&d->http->accept, h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_closed));
}

int http_start(server *d, char *why, size_t whylen)
{
    http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    d->http = h;
    h2o_config_init(&h->config);
    h->config.max_request_entity_size = HTTP_MAX_BODY;
    h->config.http1.req_timeout = HTTP_IDLE_MS;   /* an idle keep-alive connection closes after this */
    h2o_hostconf_t *host = h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler + sizeof(server *));
    *(server **)(handler + 1) = d;
    handler->on_req = on_req;
    h2o_context_init(&h->ctx, d->loop, &h->config);
    h->accept.ctx = &h->ctx;
    h->accept.hosts = h->config.hosts;
    uv_timer_init(d->loop, &h->tick);
    h->tick.data = d;
    uv_timer_start(&h->tick, on_tick, HTTP_TICK_MS, HTTP_TICK_MS);
    if (daemon_listen_tcp(d, &h->listener, d->opt.http, on_accept)) {
        snprintf(why, whylen, "cannot listen on %s", d->opt.http);
        return -1;
    }
    return 0;
}

void http_close(server *d)
{
    http *h = d->http;
    if (!h || h->disposed)
        return;
    http_wake(d);   /* stopping: every waiter is answered */
    if (h->listener.loop && !uv_is_closing((uv_handle_t *)&h->listener))
        uv_close((uv_handle_t *)&h->listener, NULL);
    /* no h2o_context_request_shutdown: it arms an HTTP/2 goaway timer that
       h2o_context_dispose then finds pending; idle keep-alive connections
       close by themselves within HTTP_IDLE_MS */
    finish_if_idle(d);   /* else on a later tick, when the connections are gone */
}

void http_free(server *d)
{
    http *h = d->http;
    if (!h)
        return;
    if (!h->disposed)
        h2o_context_dispose(&h->ctx);
    h2o_config_dispose(&h->config);
    free(h);
    d->http = NULL;
}
