/* daemon_http.c -- tmsd's HTTP (SPEC section 9): `--http HOST:PORT`, the
 * HTTP/1.1 API with keep-alive, and `--metrics HOST:PORT`, which answers
 * only GET /metrics and the probes GET /healthz and /readyz. Both are
 * served by h2o (libh2o, built on libuv) on tmsd's own loop: tmsd parses no
 * HTTP. This file holds h2o's set-up, the listeners, credentials, the route
 * table (docs/openapi.yaml documents every route) and the lookups waiting
 * for a min_seq; the routes are in daemon_http_read.c (lookups),
 * daemon_http_write.c (submit, watch), daemon_http_proof.c (checkpoints,
 * proofs) and daemon_http_meta.c (probes, the document). An unknown path is
 * 404 NOT_FOUND, a known one with another method 405 E_PROTOCOL with Allow;
 * every error body is {"error","message"} (daemon_http_meta.c's filter
 * makes h2o's own ones so).
 *
 * Credentials are the socket's: `Authorization: Bearer TOKEN` names the
 * principal whose token it is (--token-file, or a token_file of
 * --principals); without one a request is what an anonymous TCP client is
 * (lookups, unless --tcp-lookups-need-token or --principals). A route the
 * principal has no right for is 401 (no credentials; with WWW-Authenticate)
 * or 403; an unknown token is 401; both are logged with the peer and the
 * route (never the token). Every request is authenticated anew by its own
 * header, so a reload reaches keep-alive sessions at their next request;
 * what outlives a request (a watch) is re-resolved at the reload
 * (daemon_watch.c). Limits: each listener its own count of connections (the
 * API --max-tcp-connections, metrics 16) and a share per peer, 64 KiB of a
 * request before its credentials are known and every input buffer within
 * --max-buffered-bytes (daemon_http_limits.c), bodies up to HTTP_MAX_BODY
 * (413), a request must arrive whole within HTTP_IDLE_MS and a keep-alive
 * connection idle that long is closed. */
#include "daemon_http.h"
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAX_BODY (4u << 20)
#define HTTP_METRICS_CONNECTIONS 16
#define HTTP_TICK_MS 5
#define HTTP_IDLE_MS 5000
#define HTTP_STOP_MS (HTTP_IDLE_MS + 1000)   /* stopping: then connections still open are cut */

/* A lookup with a min_seq the projection has not reached. */
struct hwait {
    h2o_req_t *req;
    int metrics_only;
    uint64_t min_seq, deadline_ns;
    hwait *next;
};

static int route(server *d, h2o_req_t *req, int metrics_only);

/* ---- the query string ------------------------------------------------------------- */

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

static void parse_query(h2o_req_t *req, http_params *p)
{
    static const char *const keys[] = {"tenant", "kind",  "id",      "name",   "manager", "seq",  "at",
                                       "min_seq", "wait_ms", "explain", "format", "from",    "until", "size", "to"};
    const char **slots[] = {&p->tenant,  &p->kind,    &p->id,      &p->name,   &p->manager, &p->seq,  &p->at,
                            &p->min_seq, &p->wait_ms, &p->explain, &p->format, &p->from,    &p->until, &p->size,
                            &p->to};
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

static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 421: return "Misdirected Request";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

void tms__http_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));   /* h2o keeps the pointer */
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, v.base, v.len);
}

void tms__http_send_text(h2o_req_t *req, int status, const char *ctype, const char *body, size_t n)
{
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = n;   /* known: keep-alive survives an error answer (h2o closes after a chunked one) */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
    h2o_iovec_t b = h2o_strdup(&req->pool, body, n);
    h2o_send_inline(req, b.base, b.len);
}

void tms__http_send_json(h2o_req_t *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (!text) {
        static const char nomem[] = "{\"error\":\"E_NOMEM\",\"message\":\"out of memory\"}";
        tms__http_send_text(req, 500, "application/json", nomem, sizeof nomem - 1);
        return;
    }
    tms__http_send_text(req, status, "application/json", text, strlen(text));
    free(text);
}

int tms__http_fail(h2o_req_t *req, int status, tms_err err, const char *message)
{
    tms__http_send_json(req, status, json_pack("{s:s,s:s}", "error", tms_err_name(err), "message", message));
    return 0;
}

int tms__http_tenant_ok(http_call *k, const char *tenant)
{
    if (tms__auth_principal_tenant_ok(k->who, tenant))
        return 1;
    char why[200];
    snprintf(why, sizeof why, "principal %s may not read tenant %.64s", k->who->name, tenant);
    tms__http_fail(k->req, 403, TMS_E_DENIED, why);
    return 0;
}

int tms__http_seq(h2o_req_t *req, const char *s, const char *what, uint64_t *out)
{
    char *end, why[120];
    errno = 0;
    *out = strtoull(s, &end, 10);
    if (s[0] >= '0' && s[0] <= '9' && !*end && errno != ERANGE)
        return 0;
    snprintf(why, sizeof why, "%s: expected a seq (digits)", what);
    tms__http_fail(req, 400, TMS_E_INVAL, why);
    return -1;
}

/* ---- credentials ---------------------------------------------------------------------- */

const principal *tms__http_bearer(const server *d, h2o_req_t *req, int *form)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return *form = 0, NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len <= 7 || !h2o_lcstris(v.base, 7, H2O_STRLIT("bearer ")))
        return *form = 1, NULL;
    const principal *who = tms__auth_by_token(d, v.base + 7, v.len - 7);
    *form = who ? 3 : 2;
    return who;
}

void tms__http_credential(const server *d, h2o_req_t *req, credential *cr)
{
    int form;
    *cr = (credential){0, -1, 0, {0}};
    if (tms__http_bearer(d, req, &form)) {
        h2o_iovec_t v = req->headers.entries[h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1)].value;
        tms__auth_credential_token(cr, v.base + 7, v.len - 7);
    }
}

const char *tms__http_peer(h2o_req_t *req, char *buf, size_t len)
{
    struct sockaddr_storage sa;
    char host[NI_MAXHOST];
    socklen_t salen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&sa);
    if (!salen || h2o_socket_getnumerichost((struct sockaddr *)&sa, salen, host) == SIZE_MAX)
        snprintf(buf, len, "http");
    else
        snprintf(buf, len, sa.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host,
                 h2o_socket_getport((struct sockaddr *)&sa));
    return buf;
}

/* Who sent req (route names the route, for the log): the principal of its
 * bearer token, or the TCP default. NULL after a 401 (a token nobody has,
 * or not a bearer token), logged with the peer (never the token). */
static const principal *who_sent(server *d, h2o_req_t *req, const char *route, int *presented)
{
    int form;
    const principal *who = tms__http_bearer(d, req, &form);
    *presented = form != 0;
    if (!form)
        return tms__auth_tcp_default(d);
    if (!who) {
        char peer[96], qr[200];
        tms__daemon_log("warn", "msg=\"authentication failed\" reason=\"%s\" peer=\"%s\" over=http route=\"%s\"",
                   form == 1 ? "not a bearer token" : "unknown token", tms__http_peer(req, peer, sizeof peer),
                   tms__log_quote(qr, sizeof qr, route));
        tms__http_header(req, "www-authenticate", "Bearer realm=\"tmsd\", error=\"invalid_token\"");
        tms__http_fail(req, 401, TMS_E_DENIED, "Authorization: expected Bearer and a token this tmsd knows");
    }
    return who;
}

/* ---- min_seq -------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t);

/* The tick (every HTTP_TICK_MS) runs only while a request waits for a
 * seq (its deadline) or tmsd stops (connections to cut, h2o to dispose):
 * an idle tmsd is not woken 200 times a second. */
static void tick_on(http *h)
{
    if (h->tick.loop && !h->disposed && !uv_is_active((uv_handle_t *)&h->tick))
        uv_timer_start(&h->tick, on_tick, HTTP_TICK_MS, HTTP_TICK_MS);
}

/* 0: go on (fresh enough); 1: answered (400) or waiting. */
static int wait_fresh(server *d, h2o_req_t *req, const http_params *p, int metrics_only)
{
    char *end;
    uint64_t min, wait_ms = 1000;
    if (tms__http_seq(req, p->min_seq, "min_seq", &min))
        return 1;
    errno = 0;
    if (p->wait_ms && ((wait_ms = strtoull(p->wait_ms, &end, 10)) > 3600000 || *end || !p->wait_ms[0] || errno))
        return tms__http_fail(req, 400, TMS_E_INVAL, "wait_ms: expected milliseconds (0 to 3600000)"), 1;
    if (min <= tms__projection_seq(d))
        return 0;
    hwait *w = h2o_mem_alloc_pool(&req->pool, sizeof *w);   /* lives as long as the request */
    w->req = req;
    w->metrics_only = metrics_only;
    w->min_seq = min;
    w->deadline_ns = tms__now_ns() + wait_ms * 1000000u;
    w->next = d->http->waiting;
    d->http->waiting = w;
    tick_on(d->http);   /* its deadline */
    return 1;
}

void tms__http_wake(server *d)
{
    if (!d->http || !d->http->waiting)
        return;
    uint64_t seq = tms__projection_seq(d), now = tms__now_ns();
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
            route(d, w->req, w->metrics_only);   /* fresh enough now: answered as if it had just come */
        } else {
            char why[200];
            snprintf(why, sizeof why, "the projection is at seq %llu, not yet at min_seq %llu", (unsigned long long)seq,
                     (unsigned long long)w->min_seq);
            tms__http_fail(w->req, 503, TMS_E_STALE, why);
        }
    }
}

/* ---- routing ---------------------------------------------------------------------------- */

static int get_show(http_call *k) { return tms__http_get_query(k, 1); }
static int get_visible(http_call *k) { return tms__http_get_query(k, 0); }

static int get_metrics(http_call *k)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tms__render_metrics(k->d, &sb);
    tms__http_send_text(k->req, 200, "text/plain; version=0.0.4", sb.data ? sb.data : "", sb.size);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

/* Every route of --http (docs/openapi.yaml documents each; tests/daemon/test_openapi.py compares the two). */
static const struct route {
    const char *method, *path;
    int right;          /* TMS_RIGHT_*: what the principal needs (NONE: no credentials looked at) */
    int fresh;          /* a lookup: honours min_seq, timed in tmsd_lookup_seconds */
    int (*fn)(http_call *k);
} routes[] = {
    {"GET", "/v1/check", TMS_RIGHT_LOOKUP, 1, tms__http_get_check},
    {"POST", "/v1/check", TMS_RIGHT_LOOKUP, 1, tms__http_post_check},
    {"GET", "/v1/show", TMS_RIGHT_LOOKUP, 1, get_show},
    {"GET", "/v1/visible", TMS_RIGHT_LOOKUP, 1, get_visible},
    {"POST", "/v1/submit", TMS_RIGHT_SUBMIT, 0, tms__http_post_submit},
    {"GET", "/v1/status", TMS_RIGHT_LOOKUP, 0, tms__http_get_status},
    {"GET", "/v1/watch", TMS_RIGHT_LOOKUP, 0, tms__http_get_watch},
    {"GET", "/v1/checkpoint", TMS_RIGHT_LOOKUP, 0, tms__http_get_checkpoint},
    {"GET", "/v1/proof/inclusion", TMS_RIGHT_LOOKUP, 0, tms__http_get_inclusion},
    {"GET", "/v1/proof/consistency", TMS_RIGHT_LOOKUP, 0, tms__http_get_consistency},
    {"GET", "/v1/seed", TMS_RIGHT_ADMIN, 0, tms__http_get_seed},
    {"GET", "/v1/seed/snapshot", TMS_RIGHT_ADMIN, 0, tms__http_get_seed_snapshot},
    {"GET", "/v1/seed/tree", TMS_RIGHT_ADMIN, 0, tms__http_get_seed_tree},
    {"GET", "/metrics", TMS_RIGHT_LOOKUP, 0, get_metrics},
    {"GET", "/healthz", TMS_RIGHT_NONE, 0, tms__http_get_healthz},
    {"GET", "/readyz", TMS_RIGHT_NONE, 0, tms__http_get_readyz},
    {"GET", "/v1/openapi.yaml", TMS_RIGHT_NONE, 0, tms__http_get_openapi},
};
#define NROUTES (sizeof routes / sizeof routes[0])
/* The --metrics listener: GET /metrics and the probes, no credentials (bind it where only the scraper and
 * the prober reach). */
static const struct route metrics_routes[] = {
    {"GET", "/metrics", TMS_RIGHT_NONE, 0, get_metrics},
    {"GET", "/healthz", TMS_RIGHT_NONE, 0, tms__http_get_healthz},
    {"GET", "/readyz", TMS_RIGHT_NONE, 0, tms__http_get_readyz},
};

/* ---- the request counters' route labels: each path of the table once, then "other" ---- */

static int first_of_path(size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (!strcmp(routes[j].path, routes[i].path))
            return 0;
    return 1;
}

size_t tms__http_route_labels(void)
{
    size_t n = 1;   /* "other" */
    for (size_t i = 0; i < NROUTES; i++)
        n += first_of_path(i);
    return n;
}

size_t tms__http_route_label(const char *path, size_t len)
{
    size_t label = 0;
    for (size_t i = 0; i < NROUTES; i++) {
        if (!first_of_path(i))
            continue;
        if (h2o_memis(path, len, routes[i].path, strlen(routes[i].path)))
            return label;
        label++;
    }
    return label;   /* the last: "other" */
}

const char *tms__http_route_name(size_t label)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (first_of_path(i) && !label--)
            return routes[i].path;
    return "other";
}

/* No route of table[0..n) takes req: 405 with Allow when its path is served by another method, else 404. */
static int no_route(h2o_req_t *req, const struct route *table, size_t n, int metrics_only)
{
    char allow[64] = "";
    for (size_t i = 0; i < n; i++)
        if (h2o_memis(req->path_normalized.base, req->path_normalized.len, table[i].path, strlen(table[i].path)))
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s", allow[0] ? ", " : "",
                     table[i].method);
    if (allow[0]) {
        char msg[120];
        tms__http_header(req, "allow", allow);
        snprintf(msg, sizeof msg, "this path takes %s (see the Allow header)", allow);
        return tms__http_fail(req, 405, TMS_E_PROTOCOL, msg);
    }
    return tms__http_fail(req, 404, TMS_NOT_FOUND,
                     metrics_only ? "this listener serves GET /metrics, /healthz and /readyz"
                                  : "no such route: GET /v1/openapi.yaml lists every route");
}

static int route(server *d, h2o_req_t *req, int metrics_only)
{
    const struct route *r = NULL, *table = metrics_only ? metrics_routes : routes;
    size_t n = metrics_only ? sizeof metrics_routes / sizeof metrics_routes[0] : NROUTES;
    int presented;
    http_call k = {d, req, {0}, NULL};
    for (size_t i = 0; i < n; i++)
        if (h2o_memis(req->path_normalized.base, req->path_normalized.len, table[i].path, strlen(table[i].path)) &&
            h2o_memis(req->method.base, req->method.len, table[i].method, strlen(table[i].method)))
            r = &table[i];
    if (!r)
        return no_route(req, table, n, metrics_only);
    parse_query(req, &k.p);
    if (r->right != TMS_RIGHT_NONE) {
        char what[40], peer[96];
        snprintf(what, sizeof what, "%s %s", r->method, r->path);
        if (!(k.who = who_sent(d, req, what, &presented)))
            return 0;
        if (!(k.who->rights & (1 << r->right))) {
            tms__auth_log_refused("http", what, r->right, k.who, tms__http_peer(req, peer, sizeof peer));
            if (!presented)
                tms__http_header(req, "www-authenticate", "Bearer realm=\"tmsd\"");
            return tms__http_fail(req, presented ? 403 : 401, TMS_E_DENIED,
                             r->right == TMS_RIGHT_SUBMIT ? "submit needs a token with the submit right (Authorization: Bearer)"
                             : r->right == TMS_RIGHT_ADMIN ? "this route needs a token with the admin right (Authorization: Bearer)"
                                                          : "lookups need a token (Authorization: Bearer)");
        }
    }
    if (tms__http_query_refused(req))   /* 400: a control character, %00 above all (daemon_http_read.c) */
        return 0;
    if (r->fresh && k.p.min_seq && wait_fresh(d, req, &k.p, metrics_only))
        return 0;   /* answered (400), or waiting */
    if (!r->fresh)
        return r->fn(&k);
    uint64_t t0 = tms__now_ns();   /* a lookup: timed as the socket's are (after its min_seq wait, as theirs) */
    r->fn(&k);
    tms__hist_add(d->ctr.lookup_ns_hist, &d->ctr.lookup_ns_sum, tms__now_ns() - t0, 10);
    return 0;
}

/* h2o's handler: the server and which listener's routes follow it. */
typedef struct handler {
    h2o_handler_t super;
    server *d;
    int metrics_only;
} handler;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    handler *h = (handler *)self;
    h->d->ctr.requests++;   /* here, not in route: a min_seq wait routes its request again */
    return route(h->d, req, h->metrics_only);
}

/* ---- listeners ---------------------------------------------------------------------------- */

/* Dispose h2o's context once. h2o_context_dispose runs the loop itself (to
 * close its timers), so our tick can fire inside it: the flag goes first and
 * the tick stops first. */
static void dispose(http *h)
{
    h->disposed = 1;
    if (h->tick.loop && !uv_is_closing((uv_handle_t *)&h->tick))
        uv_close((uv_handle_t *)&h->tick, NULL);
    tms__http_gate_stop(h);
    h2o_context_dispose(&h->ctx);
}

/* Stopping: once h2o has closed every connection (idle keep-alive ones
 * within HTTP_IDLE_MS), its context is disposed and the tick stops: the
 * loop can end. */
static void finish_if_idle(server *d)
{
    http *h = d->http;
    if (!h->closing || h->disposed || h->api.nconns || h->metrics.nconns)
        return;   /* not before tms__http_close: it closes the listeners, which a disposed h2o never would */
    dispose(h);
}

/* Stopping, HTTP_STOP_MS later: a connection still open belongs to a client
 * that does not take its answer (a watch it stopped reading) or holds an
 * idle keep-alive past the request timeout. h2o 2.2 has no write timeout:
 * shutdown(2) makes its pending write fail, and h2o closes the connection. */
static void cut_connections(server *d)
{
    http *h = d->http;
    unsigned n = 0;
    if (!h->closing || h->cut || !h->conns || tms__now_ns() < h->stop_deadline_ns)
        return;
    h->cut = 1;
    for (hconn *c = h->conns; c; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && shutdown(fd, SHUT_RDWR) == 0)
            n++;
    }
    tms__daemon_log("warn", "msg=\"stopping: cut HTTP connections still open\" connections=%u", n);
}

static void on_tick(uv_timer_t *t)
{
    server *d = t->data;
    tms__http_wake(d);
    cut_connections(d);
    finish_if_idle(d);
    if (!d->http->disposed && !d->http->waiting && !d->http->closing)
        uv_timer_stop(t);   /* idle: no wakeups until a request waits or tmsd stops (tick_on) */
}

static void add_host(server *d, listener *l, const char *name, int metrics_only, unsigned max, unsigned per_peer)
{
    http *h = d->http;
    l->hosts[0] = h2o_config_register_host(&h->config, h2o_iovec_init(name, strlen(name)), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(l->hosts[0], "/", 0);
    tms__http_meta_register(d, path);   /* counts every answer, makes h2o's own errors JSON (daemon_http_meta.c) */
    tms__http_meta_register(d, &l->hosts[0]->fallback_path);   /* ... those h2o answers before routing (its 413) */
    h2o_chunked_register(path);   /* a watch streams with chunked transfer-encoding */
    handler *hd = (handler *)h2o_create_handler(path, sizeof *hd);
    hd->d = d;
    hd->metrics_only = metrics_only;
    hd->super.on_req = on_req;
    l->accept.ctx = &h->ctx;
    l->accept.hosts = l->hosts;
    l->max = max;
    l->per_peer = per_peer < max ? per_peer : max;
}

static int listen_on(server *d, listener *l, const char *addr, char *why, size_t whylen)
{
    if (!addr)
        return 0;
    if (tms__daemon_listen_tcp(d, &l->tcp, addr, tms__http_on_accept)) {
        snprintf(why, whylen, "cannot listen on %s", addr);
        return -1;
    }
    l->open = 1;
    return 0;
}

int tms__http_start(server *d, char *why, size_t whylen)
{
    http *h = calloc(1, sizeof *h);
    if (!h || !(h->requests = calloc(tms__http_route_labels() * HTTP_STATUS_SLOTS, sizeof *h->requests))) {
        free(h);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    d->http = h;
    h2o_config_init(&h->config);
    h->config.max_request_entity_size = HTTP_MAX_BODY;
    h->config.http1.req_timeout = HTTP_IDLE_MS;   /* a request arrives within this; idle keep-alive closes */
    /* HTTP/1.1 only: h2o would otherwise take HTTP/2 (prior knowledge or
       Upgrade: h2c), where a stream reset frees a request a route still
       holds (a min_seq wait, a submit in a group commit) */
    h->config.http1.upgrade_to_http2 = 0;
    unsigned quarter = d->opt.max_tcp_connections / 4 ? d->opt.max_tcp_connections / 4 : 1;
    add_host(d, &h->api, "api", 0, d->opt.max_tcp_connections,
             d->opt.max_http_per_peer ? d->opt.max_http_per_peer : quarter);
    add_host(d, &h->metrics, "metrics", 1, HTTP_METRICS_CONNECTIONS, HTTP_METRICS_CONNECTIONS / 4);
    h2o_context_init(&h->ctx, d->loop, &h->config);
    tms__http_gate_start(d);
    uv_timer_init(d->loop, &h->tick);
    h->tick.data = d;
    return listen_on(d, &h->api, d->opt.http, why, whylen) || listen_on(d, &h->metrics, d->opt.metrics, why, whylen)
               ? -1 : 0;
}

void tms__http_close(server *d)
{
    http *h = d->http;
    if (!h || h->disposed)
        return;
    h->closing = 1;
    h->ctx.shutdown_requested = 1;   /* h2o: every answer from now on closes its connection */
    h->stop_deadline_ns = tms__now_ns() + (uint64_t)HTTP_STOP_MS * 1000000u;
    tick_on(h);   /* until the connections are gone (cut_connections, finish_if_idle) */
    tms__http_wake(d);   /* stopping: every waiter is answered */
    listener *ls[2] = {&h->api, &h->metrics};
    for (int i = 0; i < 2; i++)
        if (ls[i]->open && !uv_is_closing((uv_handle_t *)&ls[i]->tcp))
            uv_close((uv_handle_t *)&ls[i]->tcp, NULL);
    /* no h2o_context_request_shutdown: it arms an HTTP/2 goaway timer that
       h2o_context_dispose then finds pending; idle keep-alive connections
       close by themselves within HTTP_IDLE_MS */
    finish_if_idle(d);   /* else on a later tick, when the connections are gone */
}

unsigned tms__http_connections(const server *d)
{
    return d->http ? d->http->api.nconns + d->http->metrics.nconns : 0;
}

void tms__http_abandon(server *d)
{
    http *h = d->http;
    if (!h || h->disposed)
        return;
    dispose(h);   /* closes h2o's own timers: before anyone else closes every handle */
}

void tms__http_free(server *d)
{
    http *h = d->http;
    tms__http_proof_free(d);
    if (!h)
        return;
    if (!h->disposed)
        dispose(h);
    h2o_config_dispose(&h->config);
    free(h->requests);
    free(h);
    d->http = NULL;
}
