/* daemon_http_meta.c -- what the HTTP API says about itself and about tmsd
 * (issue 19, items 8 and 9):
 *
 * GET /healthz: 200 {"status":"alive"} while the loop runs (it answers on
 * the loop: an answer is the proof). GET /readyz: 200 {"status":"ready",
 * "role","last_seq"[,"behind"]} when tmsd answers as it should; 503
 * {"error","message"} while it stops (E_BUSY), while writes are refused
 * (read-only: E_FAILED), when replication stopped (E_FAILED), or when a
 * replica is more than --ready-max-lag records (default
 * HTTP_READY_MAX_LAG) behind its stream (E_STALE). Neither needs
 * credentials (docs/protocol.md, "Probes").
 *
 * GET /v1/openapi.yaml: docs/openapi.yaml as built into tmsd (CMake turns
 * the file into tms_openapi_yaml at build time: it cannot drift from it).
 *
 * The filter registered on every path of both listeners: each answer is
 * counted by route and status (tmsd_http_requests_total), and an error
 * answer that is not JSON -- only h2o's own: its 413 for a body over 4 MiB,
 * its 400 for a broken chunked body or Content-Length, the read gate's 413
 * and 503 (daemon_http_limits.c), all sent by h2o_send_error_generic as
 * plain text -- is rewritten as {"error","message"}, its text the message.
 * What h2o answers before it has a request (a request line or head it
 * cannot parse: 400, written to the socket directly) stays plain text. */
#include "daemon_http.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_READY_MAX_LAG 1000

extern const unsigned char tms_openapi_yaml[];   /* generated from docs/openapi.yaml */
extern const size_t tms_openapi_yaml_len;

/* ---- probes and the document ------------------------------------------------------------- */

int tms__http_get_healthz(http_call *k)
{
    tms__http_send_json(k->req, 200, json_pack("{s:s}", "status", "alive"));
    return 0;
}

/* Why this tmsd is not ready (a 503's code and message), or TMS_OK. */
static tms_err not_ready(server *d, char *why, size_t whylen)
{
    uint64_t behind = tms__replica_behind(d), max = d->opt.ready_max_lag ? d->opt.ready_max_lag : HTTP_READY_MAX_LAG;
    if (d->stopping)
        return snprintf(why, whylen, "shutting down"), TMS_E_BUSY;
    if (d->read_only[0])
        return snprintf(why, whylen, "read-only: %s", d->read_only), TMS_E_FAILED;
    if (tms__replica_stopped(d)) {
        json_t *rs = tms__replica_status(d);
        snprintf(why, whylen, "replication stopped: %s", rs ? json_string_value(json_object_get(rs, "error")) : "");
        json_decref(rs);
        return TMS_E_FAILED;
    }
    if (behind > max)
        return snprintf(why, whylen, "this replica is %llu records behind its stream (more than --ready-max-lag %llu)",
                        (unsigned long long)behind, (unsigned long long)max),
               TMS_E_STALE;
    return TMS_OK;
}

int tms__http_get_readyz(http_call *k)
{
    server *d = k->d;
    char why[700];
    tms_err err = not_ready(d, why, sizeof why);
    if (err)
        return tms__http_fail(k->req, 503, err, why);
    json_t *o = json_pack("{s:s,s:s,s:I}", "status", "ready", "role", d->opt.replica_of ? "replica" : "leader",
                          "last_seq", (json_int_t)tms__projection_seq(d));
    if (o && d->replica)
        json_object_set_new(o, "behind", json_integer((json_int_t)tms__replica_behind(d)));
    tms__http_send_json(k->req, 200, o);
    return 0;
}

int tms__http_get_openapi(http_call *k)
{
    tms__http_send_text(k->req, 200, "application/yaml", (const char *)tms_openapi_yaml, tms_openapi_yaml_len);
    return 0;
}

/* ---- the filter: counters, and JSON for h2o's own errors --------------------------------------- */

typedef struct meta_filter {
    h2o_filter_t super;
    server *d;
} meta_filter;

/* The rewriting of one plain-text error answer: its text, gathered, becomes the message. */
typedef struct jsonify {
    h2o_ostream_t super;
    char text[300];
    size_t len;
} jsonify;

/* The code of an error h2o answered itself, by its status. */
static tms_err code_of(int status)
{
    switch (status) {
    case 401: case 403: return TMS_E_DENIED;
    case 404: return TMS_NOT_FOUND;
    case 413: return TMS_E_TOOBIG;
    case 503: return TMS_E_BUSY;
    default: return status >= 500 ? TMS_E_IO : TMS_E_PROTOCOL;
    }
}

static void jsonify_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n, h2o_send_state_t state)
{
    jsonify *j = (jsonify *)self;
    for (size_t i = 0; i < n; i++) {
        size_t room = sizeof j->text - 1 - j->len, take = bufs[i].len < room ? bufs[i].len : room;
        memcpy(j->text + j->len, bufs[i].base, take);
        j->len += take;
    }
    if (h2o_send_state_is_in_progress(state)) {   /* h2o's errors come whole; should more come, gather it */
        if (req->_generator && req->_generator->proceed)
            req->_generator->proceed(req->_generator, req);
        return;
    }
    while (j->len && (j->text[j->len - 1] == '\n' || j->text[j->len - 1] == '\r'))
        j->len--;
    j->text[j->len] = '\0';
    const char *msg = j->text;
    if (!strcmp(msg, "request entity is too large"))   /* h2o's words for its own limit */
        msg = "the body is over 4 MiB, the most a request may send";
    json_t *o = json_pack("{s:s,s:s}", "error", tms_err_name(code_of(req->res.status)), "message", msg);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    h2o_iovec_t out = text ? h2o_strdup(&req->pool, text, strlen(text))
                           : h2o_iovec_init(H2O_STRLIT("{\"error\":\"E_NOMEM\",\"message\":\"out of memory\"}"));
    free(text);
    req->res.content_length = out.len;   /* the head is written with the first bytes, after this */
    h2o_ostream_send_next(self, req, &out, 1, state);
}

static void count(server *d, h2o_req_t *req)
{
    int status = req->res.status;
    size_t label = req->path_normalized.base ? tms__http_route_label(req->path_normalized.base, req->path_normalized.len)
                                             : tms__http_route_labels() - 1;
    if (d->http && d->http->requests && status >= 100 && status < 100 + HTTP_STATUS_SLOTS)
        d->http->requests[label * HTTP_STATUS_SLOTS + (size_t)(status - 100)]++;
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    count(((meta_filter *)self)->d, req);
    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    h2o_iovec_t type = ct >= 0 ? req->res.headers.entries[ct].value : h2o_iovec_init(NULL, 0);
    int json = type.len >= 16 && !memcmp(type.base, "application/json", 16);
    if (req->res.status >= 400 && !json && req->res.content_length != SIZE_MAX &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        type = h2o_iovec_init(H2O_STRLIT("application/json"));
        if (ct >= 0)
            req->res.headers.entries[ct].value = type;
        else
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type.base, type.len);
        jsonify *j = (jsonify *)h2o_add_ostream(req, sizeof *j, slot);
        j->super.do_send = jsonify_send;
        j->len = 0;
        slot = &j->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void tms__http_meta_register(server *d, h2o_pathconf_t *path)
{
    meta_filter *f = (meta_filter *)h2o_create_filter(path, sizeof *f);
    f->d = d;
    f->super.on_setup_ostream = on_setup_ostream;
}

void tms__http_render_metrics(server *d, msgpack_sbuffer *sb)
{
    http *h = d->http;
    if (!h || !h->requests)
        return;
    tms__metrics_line(sb, "# HELP tmsd_http_requests_total HTTP requests answered, by route (other: a path no route "
                     "has) and status code\n# TYPE tmsd_http_requests_total counter\n");
    for (size_t label = 0, n = tms__http_route_labels(); label < n; label++)
        for (int s = 0; s < HTTP_STATUS_SLOTS; s++)
            if (h->requests[label * HTTP_STATUS_SLOTS + (size_t)s])
                tms__metrics_line(sb, "tmsd_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n", tms__http_route_name(label),
                             s + 100, (unsigned long long)h->requests[label * HTTP_STATUS_SLOTS + (size_t)s]);
}
