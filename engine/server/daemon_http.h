/* daemon_http.h -- what the HTTP files of tmsd share (private to
 * engine/server): daemon_http.c (h2o, listeners, connections, credentials,
 * routing, min_seq waits), daemon_http_read.c (lookups and status) and
 * daemon_http_write.c (submit and the watch stream).
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

/* Answer req with body (taken; compact JSON, keys in insertion order). */
void http_send_json(h2o_req_t *req, int status, json_t *body);
void http_send_text(h2o_req_t *req, int status, const char *ctype, const char *body, size_t n);
/* Answer {"error": name of err, "message": message}; returns 0. */
int http_fail(h2o_req_t *req, int status, tms_err err, const char *message);
/* A header of the answer; value copied into the request's pool. */
void http_header(h2o_req_t *req, const char *name, const char *value);
/* 1 when who may read tenant; else answered 403 and 0. */
int http_tenant_ok(http_call *k, const char *tenant);
/* A decimal seq in s: 0, or -1 after a 400 naming what. */
int http_seq(h2o_req_t *req, const char *s, const char *what, uint64_t *out);

/* daemon_http_read.c: each answers its request and returns 0. */
int http_get_check(http_call *k);
int http_post_check(http_call *k);
int http_get_query(http_call *k, int show);
int http_get_status(http_call *k);

/* daemon_http_proof.c: the signed checkpoint and proofs (SPEC section 11) */
int http_get_checkpoint(http_call *k);
int http_get_inclusion(http_call *k);
int http_get_consistency(http_call *k);
void http_proof_free(server *d);

/* daemon_http_write.c */
int http_post_submit(http_call *k);
int http_get_watch(http_call *k);

#endif
