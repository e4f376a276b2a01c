/* daemon_http.h -- what the HTTP files of tmsd share (private to
 * engine/server): daemon_http.c (h2o, listeners, connections, credentials,
 * routing, min_seq waits), daemon_http_read.c (lookups and status),
 * daemon_http_write.c (submit and the watch stream), daemon_http_limits.c
 * (admission and the read gate) and daemon_http_meta.c (probes, the OpenAPI
 * document, request counters, JSON for h2o's own errors).
 *
 * Every h2o_req_t handed to a route stays valid until the route answers it:
 * h2o's HTTP/1 connection stops reading while a request is being handled, so
 * a client that goes away is noticed only when the answer is written. This
 * holds for HTTP/1 only, which is why HTTP/2 (h2c) is turned off: there a
 * stream reset frees the request at once. A
 * route may therefore answer later (a min_seq wait, a submit's group
 * commit); a streamed answer (watch) learns of a client gone through its
 * generator's stop callback. */
#ifndef TMS_DAEMON_HTTP_H
#define TMS_DAEMON_HTTP_H

#include "daemon_internal.h"
#include <h2o.h>
#include <jansson.h>

/* The query string's parameters (percent-decoded, NULL when absent). */
typedef struct http_params {
    const char *tenant, *kind, *id, *name, *manager, *seq, *at, *min_seq, *wait_ms, *explain, *format, *from,
        *until, *size, *to;
} http_params;

/* A request as a route sees it: the server, h2o's request, its parameters
 * and who sent it (never NULL; the TCP default without a bearer token). */
typedef struct http_call {
    server *d;
    h2o_req_t *req;
    http_params p;
    const principal *who;
} http_call;

/* ---- listeners and connections (daemon_http.c sets up, daemon_http_limits.c admits and meters) ---- */

typedef struct hwait hwait;
typedef struct hconn hconn;

/* One listener: its socket, h2o's accept context (its one host: the API's
 * routes or only /metrics) and its connections. */
typedef struct listener {
    uv_tcp_t tcp;
    h2o_accept_ctx_t accept;
    h2o_hostconf_t *hosts[2];
    unsigned nconns, max;       /* open connections (refused ones until closed) and the limit */
    unsigned per_peer;          /* at most this many from one peer (issue 19, item 5) */
    int open;
} listener;

struct http {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    listener api, metrics;
    uv_timer_t tick;
    uv_prepare_t gate;          /* before every poll: h2o's reads go through the read gate */
    int closing, disposed, cut;   /* tms__http_close ran; h2o disposed; connections cut */
    uint64_t stop_deadline_ns;  /* stopping: when open connections are cut (shutdown(2)) */
    uint64_t peer_log_ns;       /* the last "too many from one peer" line (one a second) */
    unsigned peer_refused;      /* ... and how many were refused since */
    hconn *conns;               /* every open connection of both listeners */
    hwait *waiting;
    uint64_t *requests;         /* answers by route label and status: [label * HTTP_STATUS_SLOTS + status - 100] */
};

#define HTTP_STATUS_SLOTS 500   /* statuses 100 to 599 */

/* A connection: h2o's socket takes the handle's data pointer, so the
 * server is kept beside the handle. */
struct hconn {
    uv_tcp_t tcp;               /* first: the close and read callbacks get its address */
    listener *from;
    http *h;
    server *d;
    h2o_req_t *req;             /* h2o's request of this connection (HTTP/1: one, reused); NULL before h2o */
    uv_alloc_cb h2o_alloc;      /* h2o's read callbacks, called through the gate */
    uv_read_cb h2o_read;
    size_t accounted;           /* bytes of its input buffer counted in server.buffered */
    int handed;                 /* h2o owns the socket */
    int admitted;               /* counted in its peer's share */
    int refusal;                /* the gate refused a read: the status to answer (413, 503) */
    int refused;                /* ... and it was answered: closing, its buffer no longer counted */
    uint8_t peer[8];            /* the peer: an IPv4 address, or an IPv6 /64 */
    uint8_t peer_len;
    hconn *prev, *next;
};

/* daemon_http_limits.c: accepting (per listener and per peer), and the
 * read gate: no more than 64 KiB of a request before its credentials are
 * known, every input buffer within --max-buffered-bytes. */
void tms__http_on_accept(uv_stream_t *srv, int status);
void tms__http_gate_start(server *d);
void tms__http_gate_stop(http *h);

/* daemon_http.c: the route table's paths as the request counters' labels:
 * tms__http_route_labels() of them, each path once, the last "other" (every path
 * no route has: the label set stays bounded whatever clients ask). */
size_t tms__http_route_labels(void);
size_t tms__http_route_label(const char *path, size_t len);
const char *tms__http_route_name(size_t label);

/* daemon_http_meta.c: a filter on every path of a listener: counts each
 * answer by route and status, and turns an error h2o answers itself (its
 * 413, the read gate's refusals, a malformed chunked body's 400), plain
 * text, into {"error","message"}. */
void tms__http_meta_register(server *d, h2o_pathconf_t *path);
/* GET /healthz, GET /readyz, GET /v1/openapi.yaml (docs/openapi.yaml, embedded at build time) */
int tms__http_get_healthz(http_call *k);
int tms__http_get_readyz(http_call *k);
int tms__http_get_openapi(http_call *k);

/* daemon_http.c: credentials. The principal of req's bearer token, NULL when none; *form: 0 no
 * Authorization, 1 not a bearer token, 2 a token nobody has, 3 found. */
const principal *tms__http_bearer(const server *d, h2o_req_t *req, int *form);
/* "HOST:PORT" of req's client ("http" when unknown). */
const char *tms__http_peer(h2o_req_t *req, char *buf, size_t len);
/* The credential req presented (a bearer token's hash), for a session that outlives it (watch). */
void tms__http_credential(const server *d, h2o_req_t *req, credential *cr);

/* Answer req with body (taken; compact JSON, keys in insertion order). */
void tms__http_send_json(h2o_req_t *req, int status, json_t *body);
void tms__http_send_text(h2o_req_t *req, int status, const char *ctype, const char *body, size_t n);
/* Answer {"error": name of err, "message": message}; returns 0. */
int tms__http_fail(h2o_req_t *req, int status, tms_err err, const char *message);
/* A submit refused by tms__replica_refuses (err): 421, or 503 with Retry-After (daemon_http_write.c). */
int tms__http_refuse_submit(server *d, h2o_req_t *req, tms_err err, const char *why);
/* A header of the answer; value copied into the request's pool. */
void tms__http_header(h2o_req_t *req, const char *name, const char *value);
/* 1 when who may read tenant; else answered 403 and 0. */
int tms__http_tenant_ok(http_call *k, const char *tenant);
/* A decimal seq in s: 0, or -1 after a 400 naming what. */
int tms__http_seq(h2o_req_t *req, const char *s, const char *what, uint64_t *out);

/* 1 after a 400 when the query string holds a control character (raw or
 * %00-%1F, %7F: a NUL would cut the value), else 0 (daemon_http_read.c). */
int tms__http_query_refused(h2o_req_t *req);

/* daemon_http_read.c: each answers its request and returns 0. */
int tms__http_get_check(http_call *k);
int tms__http_post_check(http_call *k);
int tms__http_get_query(http_call *k, int show);
int tms__http_get_status(http_call *k);

/* daemon_http_proof.c: the signed checkpoint and proofs (SPEC section 11) */
/* GET /v1/seed, /v1/seed/snapshot, /v1/seed/tree (daemon_http_seed.c). */
int tms__http_get_seed(http_call *k);
int tms__http_get_seed_snapshot(http_call *k);
int tms__http_get_seed_tree(http_call *k);
int tms__http_get_checkpoint(http_call *k);
int tms__http_get_inclusion(http_call *k);
int tms__http_get_consistency(http_call *k);
void tms__http_proof_free(server *d);

/* daemon_http_write.c */
int tms__http_post_submit(http_call *k);
int tms__http_get_watch(http_call *k);

#endif
