/* daemon_http_write.c -- the HTTP routes that write or stream (SPEC
 * section 9):
 *
 * POST /v1/submit: JSON Lines (one command per line; empty lines skipped)
 * or a JSON array of commands. The commands join the next group commit like
 * a socket submit's (same parser, same per-principal refusals) and the
 * answer, sent once the group is durable, is the JSON array of the verdicts
 * `tmsctl submit` prints, in input order. A failed group is 503 with
 * {"error","message"}; a replica answers 421 E_REPLICA (submit to the leader).
 *
 * GET /v1/watch?from=SEQ[&until=SEQ][&tenant=T]: a chunked stream of the
 * watch lines (one JSON object per line; x-tms-from names the first seq).
 * An empty line is a keep-alive: sent at once when no record is ready (h2o
 * sends the headers only with the first bytes) and after HTTP_WATCH_QUIET_NS
 * without a line (so a client that went away is noticed); skip them.
 * When until is reached the stream ends; when tmsd stops (or the log cannot
 * be read) a last line {"error","message"} names the seq to resume from.
 * At most HTTP_WATCH_BUFFER bytes wait for a slow client; the watcher reads
 * on from the log when the client has taken them. */
#include "daemon_http.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUBMIT_BATCH_MAX 10000
#define HTTP_WATCH_BUFFER (1u << 20)
#define HTTP_WATCH_QUIET_NS (15 * UINT64_C(1000000000))

/* ---- submit --------------------------------------------------------------------------- */

/* The commands of the body as JSON texts: 0, or -1 after a 400. Array
 * elements are re-serialized (the parser takes text). */
static int split_body(h2o_req_t *req, json_t **array, size_t *n)
{
    const char *b = req->entity.base, *end = b + req->entity.len;
    json_error_t jerr;
    *array = NULL;
    *n = 0;
    while (b < end && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
        b++;
    if (b < end && *b == '[') {
        if (!(*array = json_loadb(b, (size_t)(end - b), 0, &jerr)) || !json_is_array(*array)) {
            char why[300];
            snprintf(why, sizeof why, "the body is not a JSON array of commands: %s (line %d)", jerr.text, jerr.line);
            json_decref(*array);
            *array = NULL;
            return tms__http_fail(req, 400, TMS_E_INVAL, why), -1;
        }
        *n = json_array_size(*array);
    } else {
        for (const char *p = b; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop = nl ? nl : end;
            *n += stop > p && !(stop - p == 1 && *p == '\r');
            p = stop + 1;
        }
    }
    if (*n > SUBMIT_BATCH_MAX) {
        json_decref(*array);
        *array = NULL;
        return tms__http_fail(req, 400, TMS_E_INVAL, "at most 10000 commands in one submit"), -1;
    }
    return 0;
}

/* A malformed command's message names where it was, as tmsctl submit's do. */
static void say_where(job *j, size_t i, const char *unit, size_t at)
{
    char msg[TMS_MESSAGE_MAX];
    if (j->subs[i].cmd || j->subs[i].verdict.code)
        return;   /* parsed: its verdict comes from the rules */
    snprintf(msg, sizeof msg, "%s %zu: %s", unit, at, j->why[i]);
    memcpy(j->why[i], msg, sizeof msg);
}

/* Parse every command into j: TMS_OK or a server fault. */
static tms_err parse_all(job *j, h2o_req_t *req, json_t *array)
{
    tms_err err = TMS_OK;
    if (array) {
        for (size_t i = 0; !err && i < j->n; i++) {
            char *text = json_dumps(json_array_get(array, i), JSON_COMPACT | JSON_ENCODE_ANY);
            err = text ? tms__job_parse(j, i, text, strlen(text), NULL) : TMS_E_NOMEM;
            if (!err)
                say_where(j, i, "element", i + 1);
            free(text);
        }
        return err;
    }
    const char *p = req->entity.base, *end = p + req->entity.len;
    for (size_t i = 0, line = 1; !err && p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop = nl ? nl : end;
        size_t len = (size_t)(stop - p) - (stop > p && stop[-1] == '\r');
        if (len && !(err = tms__job_parse(j, i, p, len, NULL)))
            say_where(j, i++, "line", line);
        p = stop + 1;
    }
    return err;
}

/* A submit this node does not take: E_REPLICA 421; E_NOT_LEADER 421 with the
 * leader ({"leader": {"node","addr","http"}} and a Tms-Leader header) when
 * one is known, else 503 with Retry-After: 1 (an election under way). */
int tms__http_refuse_submit(server *d, h2o_req_t *req, tms_err err, const char *why)
{
    const char *node = "", *addr = "", *web = "";
    if (err != TMS_E_NOT_LEADER)
        return tms__http_fail(req, 421, err, why);
    if (!tms__cluster_leader(d, &node, &addr, &web) || !strcmp(node, d->opt.node)) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
        return tms__http_fail(req, 503, err, why);
    }
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("tms-leader"), 0, NULL, node, strlen(node));
    tms__http_send_json(req, 421, json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "error", tms_err_name(err), "message", why,
                                       "leader", "node", node, "addr", addr, "http", web));
    return 0;
}

int tms__http_post_submit(http_call *k)
{
    server *d = k->d;
    char why[700];
    json_t *array;
    size_t n;
    if (d->stopping)
        return tms__http_fail(k->req, 503, TMS_E_BUSY, "shutting down");
    tms_err refused = tms__replica_refuses(d, why, sizeof why);
    if (refused)
        return tms__http_refuse_submit(d, k->req, refused, why);
    if (split_body(k->req, &array, &n))
        return 0;
    if (!n) {
        json_decref(array);
        return tms__http_fail(k->req, 400, TMS_E_INVAL, "no commands: send JSON Lines or a JSON array of commands");
    }
    job *j = tms__job_new(k->who, tms__http_peer(k->req, why, sizeof why), n);
    if (!j || parse_all(j, k->req, array)) {
        json_decref(array);
        if (j)
            tms__job_free(j);
        return tms__http_fail(k->req, 500, TMS_E_NOMEM, "out of memory");
    }
    json_decref(array);
    j->http = k->req;
    j->done = tms__http_submitted;
    tms__job_queue(d, j);
    return 0;
}

static json_t *verdict(const job *j, size_t i)
{
    const char *message, *code = tms__job_refusal(j, i, &message);
    const tms_submission *s = &j->subs[i];
    json_t *o = json_pack("{s:o,s:s}", "seq", s->cmd ? json_integer((json_int_t)s->seq) : json_null(), "verdict",
                          code ? "rejected" : "accepted");
    if (code && o) {
        json_object_set_new(o, "error", json_string(code));
        json_object_set_new(o, "message", json_string(message));
    }
    return o;
}

void tms__http_submitted(server *d, job *j, tms_err err, const char *why)
{
    h2o_req_t *req = j->http;
    if (err == TMS_E_NOT_LEADER) {
        tms__http_refuse_submit(d, req, err, why);
    } else if (err) {
        tms__http_fail(req, 503, err, why[0] ? why : tms_strerror(err));
    } else {
        json_t *out = json_array();
        for (size_t i = 0; out && i < j->n; i++)
            if (json_array_append_new(out, verdict(j, i))) {
                json_decref(out);
                out = NULL;
            }
        tms__http_send_json(req, 200, out);   /* NULL: 500 out of memory (the commands are durable all the same) */
    }
    tms__job_free(j);
}

/* ---- watch ------------------------------------------------------------------------------ */

/* The stream of one GET /v1/watch. Two owners: the watcher (until it
 * releases it) and h2o (until the final chunk is handed over or h2o stops
 * the generator); freed when both are done. */
typedef struct stream {
    h2o_generator_t gen;        /* first: h2o's callbacks get its address */
    h2o_req_t *req;             /* NULL once h2o is done with it */
    msgpack_sbuffer pending;    /* lines not yet handed to h2o */
    char *inflight;             /* handed to h2o; freed when it proceeds */
    size_t inflight_len;
    uint64_t last_ns;           /* when bytes were last handed to h2o */
    int sending, ended, released;
    int failed;                 /* ended with an error line */
    int starting;               /* inside tms__http_get_watch: the stream outlives its first pump */
    credential cred;            /* what the request presented: a reload re-resolves the watch by it */
} stream;

static void maybe_free(stream *s)
{
    if (s->req || !s->released || s->starting)
        return;
    free(s->inflight);
    msgpack_sbuffer_destroy(&s->pending);
    free(s);
}

/* Hand h2o what is pending, if it is not still writing the last part. */
static void kick(stream *s)
{
    if (!s->req || s->sending || (!s->ended && !s->pending.size))
        return;
    h2o_req_t *req = s->req;
    h2o_iovec_t buf = {NULL, 0};
    if (s->ended) {   /* the last part lives in the request's pool: h2o writes it after we let go */
        if (s->failed)
            req->http1_is_persistent = 0;   /* ended by an error: the connection closes after the last line */
        buf = h2o_strdup(&req->pool, s->pending.data ? s->pending.data : "", s->pending.size);
        s->pending.size = 0;
        s->req = NULL;
        h2o_send(req, &buf, buf.len ? 1 : 0, H2O_SEND_STATE_FINAL);
        return;
    }
    s->inflight_len = s->pending.size;
    s->inflight = msgpack_sbuffer_release(&s->pending);   /* pending starts empty again */
    buf = h2o_iovec_init(s->inflight, s->inflight_len);
    s->sending = 1;
    s->last_ns = tms__now_ns();
    h2o_send(req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    stream *s = (stream *)gen;
    (void)req;
    free(s->inflight);
    s->inflight = NULL;
    s->inflight_len = 0;
    s->sending = 0;
    kick(s);
    maybe_free(s);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    stream *s = (stream *)gen;
    (void)req;
    s->req = NULL;   /* the client went away: the watcher ends at its next pump */
    maybe_free(s);
}

/* Asked on every pump (at least every watch tick): also where a quiet
 * stream gets its keep-alive line. */
static int stream_room(void *sink)
{
    stream *s = sink;
    if (s->req && !s->sending && !s->pending.size && tms__now_ns() - s->last_ns >= HTTP_WATCH_QUIET_NS) {
        msgpack_sbuffer_write(&s->pending, "\n", 1);
        kick(s);
    }
    return s->req && s->pending.size + s->inflight_len < HTTP_WATCH_BUFFER;
}

static int stream_gone(void *sink)
{
    return !((stream *)sink)->req;
}

static void stream_line(server *d, void *sink, const char *text)
{
    stream *s = sink;
    (void)d;
    msgpack_sbuffer_write(&s->pending, text, strlen(text));
    msgpack_sbuffer_write(&s->pending, "\n", 1);
    kick(s);
}

static void stream_end(server *d, void *sink, tms_err err, const char *message)
{
    stream *s = sink;
    (void)d;
    if (err) {
        s->failed = 1;
        json_t *o = json_pack("{s:s,s:s}", "error", tms_err_name(err), "message", message);
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (text)
            stream_line(d, s, text);
        free(text);
        json_decref(o);
    }
    s->ended = 1;
    kick(s);
}

static void stream_release(void *sink)
{
    stream *s = sink;
    s->released = 1;
    maybe_free(s);
}

/* After a reload: the principal the request's credential names now (NULL: it names nobody). */
static const principal *stream_who(server *d, void *sink)
{
    int resolved;
    const principal *p = tms__auth_resolve(d, &((stream *)sink)->cred, &resolved);
    return resolved ? p : NULL;
}

static const watch_sink stream_ops = {stream_room, stream_gone, stream_line, stream_end, stream_release, stream_who};

int tms__http_get_watch(http_call *k)
{
    server *d = k->d;
    const http_params *p = &k->p;
    uint64_t from = 0, until = 0;
    char hdr[24];
    if ((p->from && tms__http_seq(k->req, p->from, "from", &from)) || (p->until && tms__http_seq(k->req, p->until, "until", &until)))
        return 0;
    if (p->tenant && !tms_is_id(p->tenant, strlen(p->tenant)))
        return tms__http_fail(k->req, 400, TMS_E_INVAL, "tenant: expected an id");
    if (p->tenant ? !tms__http_tenant_ok(k, p->tenant) : !k->who->all_tenants)
        return p->tenant ? 0 : tms__http_fail(k->req, 403, TMS_E_DENIED, "this principal may not watch every tenant: name one");
    if (d->stopping)
        return tms__http_fail(k->req, 503, TMS_E_BUSY, "shutting down");
    stream *s = calloc(1, sizeof *s);
    if (!s)
        return tms__http_fail(k->req, 500, TMS_E_NOMEM, "out of memory");
    msgpack_sbuffer_init(&s->pending);
    tms__http_credential(d, k->req, &s->cred);
    s->req = k->req;
    s->gen.proceed = on_proceed;
    s->gen.stop = on_stop;
    uint64_t next = from ? from : tms__projection_seq(d) + 1;
    snprintf(hdr, sizeof hdr, "%llu", (unsigned long long)next);
    k->req->res.status = 200;
    k->req->res.reason = "OK";
    h2o_add_header(&k->req->pool, &k->req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/x-ndjson"));
    tms__http_header(k->req, "x-tms-from", hdr);
    h2o_start_response(k->req, &s->gen);
    s->last_ns = tms__now_ns();
    s->starting = 1;   /* the first pump may end the watch (from > until, an unreadable log) and release it */
    if (tms__watch_start(d, next, until, p->tenant ? p->tenant : "", &stream_ops, s)) {
        stream_end(d, s, TMS_E_NOMEM, "out of memory");
        s->released = 1;   /* no watcher took it: h2o's part alone remains */
    } else if (s->req && !s->sending && !s->ended) {   /* nothing to send yet: the headers go with a keep-alive line */
        msgpack_sbuffer_write(&s->pending, "\n", 1);
        kick(s);
    }
    s->starting = 0;
    maybe_free(s);
    return 0;
}
