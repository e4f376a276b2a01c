/* tool_witness_serve.c -- tms-audit witness --listen HOST:PORT: the C2SP
 * tlog-witness protocol over HTTP/1.1, served by h2o on libuv as tmsd
 * serves its API (engine/server/daemon_http.c): this file parses no HTTP.
 *
 *   POST /add-checkpoint   body: "old N\n", up to 63 lines of BASE64(hash),
 *                          "\n", then the checkpoint note
 *     200  the cosignature line (text/plain)
 *     400  a malformed body, an old size above the checkpoint's, a proof with old 0
 *     403  no signature by a trusted key of the origin (or one that fails)
 *     404  an origin no --log-key names (any other path: 404 too)
 *     405  another method
 *     409  old is not the size last cosigned, or the same size with another root:
 *          body "SIZE\n" (the latest cosigned), Content-Type text/x.tlog.size
 *     413  a body above WITNESS_MAX_BODY (h2o answers it)
 *     422  the consistency proof fails
 *     500  the state file could not be read or written (nothing cosigned)
 *
 * The deciding, cosigning and recording is tool_witness_add's
 * (tool_witness.c), under the state file's lock, before the answer. One
 * request at a time: the loop is single-threaded. A line per request goes to
 * stderr. SIGTERM or SIGINT: stop accepting, give answers under way
 * WITNESS_STOP_MS, cut what is left, exit 0. */
#include "tool_common.h"
#include "note.h"
#include "tool_witness.h"
#include <errno.h>
#include <h2o.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#define WITNESS_MAX_BODY (64u << 10)
#define WITNESS_MAX_CONNS 256
#define WITNESS_IDLE_MS 10000       /* a request arrives within this; idle keep-alive closes */
#define WITNESS_TICK_MS 20
#define WITNESS_STOP_MS 500

typedef struct wconn wconn;

typedef struct wserver {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_signal_t sigterm, sigint;
    uv_timer_t tick;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    h2o_hostconf_t *hosts[2];
    const tool_witness *w;
    wconn *conns;
    unsigned nconns;
    int stopping, cut, disposed;
    uint64_t stop_at_ms;
} wserver;

/* A connection: h2o's socket takes the handle's data pointer, so the server is kept beside the handle. */
struct wconn {
    uv_tcp_t tcp;   /* first: the close callback gets its address */
    wserver *s;
    wconn *prev, *next;
};

typedef struct whandler {
    h2o_handler_t super;
    wserver *s;
} whandler;

/* ---- answers ------------------------------------------------------------------------------ */

static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 422: return "Unprocessable Entity";
    default: return "Internal Server Error";
    }
}

static int answer(h2o_req_t *req, int status, const char *ctype, const char *body)
{
    req->res.status = status;
    req->res.reason = reason_of(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
    h2o_iovec_t b = h2o_strdup(&req->pool, body, strlen(body));   /* h2o sends it after we return */
    h2o_send_inline(req, b.base, b.len);
    return 0;
}

/* A refusal: its reason as one line of text, logged too. */
static int refuse(h2o_req_t *req, int status, const char *why)
{
    char body[600];
    snprintf(body, sizeof body, "%s\n", why);
    fprintf(stderr, "%s: witness: %d %s\n", tool_prog, status, why);
    return answer(req, status, "text/plain; charset=utf-8", body);
}

/* ---- the request body ------------------------------------------------------------------------ */

/* tool_witness.h: "old N\n", proof lines, "\n", the note. */
int tool_witness_parse_body(const char *b, size_t len, uint64_t *old, tms_tlog_hash *proof, size_t *n,
                            const char **note, size_t *notelen, char *why, size_t whylen)
{
    const char *end = b + len, *p = b + (len < 4 ? len : 4), *nl = memchr(b, '\n', len);
    *old = 0;
    *n = 0;
    if (!nl || len < 6 || memcmp(b, "old ", 4) || nl == p || (p[0] == '0' && nl != p + 1))
        return snprintf(why, whylen, "the body starts with \"old N\\n\" (N decimal, no leading zero)"), -1;
    for (; p < nl; p++) {
        if (*p < '0' || *p > '9' || *old > (UINT64_MAX - 9) / 10)
            return snprintf(why, whylen, "the old size is not a decimal size"), -1;
        *old = *old * 10 + (uint64_t)(*p - '0');
    }
    for (p = nl + 1; p < end && *p != '\n'; p = nl + 1) {
        if (!(nl = memchr(p, '\n', (size_t)(end - p))))
            return snprintf(why, whylen, "a proof line without a newline"), -1;
        if (*n == WITNESS_MAX_PROOF)
            return snprintf(why, whylen, "more than %d consistency proof lines", WITNESS_MAX_PROOF), -1;
        if (tms_b64_decode(p, (size_t)(nl - p), proof[*n], TMS_TLOG_HASH) != 0)
            return snprintf(why, whylen, "proof line %zu is not the base64 of a 32-byte hash", *n + 1), -1;
        (*n)++;
    }
    if (p >= end)
        return snprintf(why, whylen, "no empty line before the checkpoint"), -1;
    *note = p + 1;
    *notelen = (size_t)(end - p - 1);
    return 0;
}

static int add_checkpoint(wserver *s, h2o_req_t *req)
{
    tms_tlog_hash proof[WITNESS_MAX_PROOF];
    char why[400], line[TMS_NOTE_SIG_TEXT_MAX], size[32];
    const char *note;
    size_t n, notelen;
    uint64_t old, latest = 0;
    if (tool_witness_parse_body(req->entity.base ? req->entity.base : "", req->entity.len, &old, proof, &n, &note,
                                &notelen, why, sizeof why))
        return refuse(req, 400, why);
    int status = tool_witness_add(s->w, note, notelen, old, (const tms_tlog_hash *)proof, n, line, &latest, why,
                                  sizeof why);
    if (status == 200) {
        fprintf(stderr, "%s: witness: 200 cosigned (old %" PRIu64 ")\n", tool_prog, old);
        return answer(req, 200, "text/plain; charset=utf-8", line);
    }
    if (status == 409) {
        fprintf(stderr, "%s: witness: 409 %s\n", tool_prog, why);
        snprintf(size, sizeof size, "%" PRIu64 "\n", latest);
        return answer(req, 409, "text/x.tlog.size", size);
    }
    return refuse(req, status, why);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    wserver *s = ((whandler *)self)->s;
    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/add-checkpoint")))
        return refuse(req, 404, "no such path: a witness serves POST /add-checkpoint");
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
        return refuse(req, 405, "/add-checkpoint takes POST");
    }
    return add_checkpoint(s, req);
}

/* ---- connections and stopping --------------------------------------------------------------- */

static void on_closed(uv_handle_t *hd)
{
    wconn *c = (wconn *)hd;
    c->s->nconns--;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void on_accept(uv_stream_t *srv, int status)
{
    wserver *s = srv->data;
    wconn *c;
    if (status || !(c = malloc(sizeof *c)))
        return;
    uv_tcp_init(&s->loop, &c->tcp);
    c->s = s;
    c->prev = NULL;
    c->next = s->conns;
    if (c->next)
        c->next->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) || s->nconns > WITNESS_MAX_CONNS || s->stopping) {
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    h2o_accept(&s->accept, h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_closed));
}

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

/* Stopping, every tick: past the deadline, shutdown(2) what is still open (h2o then closes it); once no
 * connection is left, dispose h2o's context (it runs the loop itself to close its timers: the flag and our
 * timer go first) and the loop ends. */
static void on_tick(uv_timer_t *t)
{
    wserver *s = t->data;
    if (!s->stopping || s->disposed)
        return;
    if (s->nconns && !s->cut && uv_now(&s->loop) >= s->stop_at_ms + WITNESS_STOP_MS) {
        s->cut = 1;
        for (wconn *c = s->conns; c; c = c->next) {
            uv_os_fd_t fd;
            if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
                shutdown(fd, SHUT_RDWR);
        }
    }
    if (s->nconns)
        return;
    s->disposed = 1;
    close_handle((uv_handle_t *)&s->tick);
    h2o_context_dispose(&s->ctx);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    wserver *s = sig->data;
    (void)signum;
    if (s->stopping)
        return;
    s->stopping = 1;
    s->stop_at_ms = uv_now(&s->loop);
    s->ctx.shutdown_requested = 1;   /* h2o: every answer from now on closes its connection */
    close_handle((uv_handle_t *)&s->listener);
    close_handle((uv_handle_t *)&s->sigterm);
    close_handle((uv_handle_t *)&s->sigint);
    uv_timer_start(&s->tick, on_tick, 0, WITNESS_TICK_MS);
}

/* ---- set-up -------------------------------------------------------------------------------- */

/* HOST:PORT ([v6]:PORT) into ss: 0, or -1. */
static int parse_hostport(const char *addr, struct sockaddr_storage *ss)
{
    char host[256], *end;
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host)
        return -1;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port == 0 || port > 65535)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    size_t hl = strlen(host);
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)ss) ? -1 : 0;
    }
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) ? -1 : 0;
}

static void setup_h2o(wserver *s)
{
    h2o_config_init(&s->config);
    s->config.max_request_entity_size = WITNESS_MAX_BODY;   /* above: 413, from h2o */
    s->config.http1.req_timeout = WITNESS_IDLE_MS;
    s->config.http1.upgrade_to_http2 = 0;                   /* HTTP/1.1 only, as tmsd */
    s->hosts[0] = h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("witness")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(s->hosts[0], "/", 0);
    whandler *h = (whandler *)h2o_create_handler(path, sizeof *h);
    h->s = s;
    h->super.on_req = on_req;
    h2o_context_init(&s->ctx, &s->loop, &s->config);
    s->accept.ctx = &s->ctx;
    s->accept.hosts = s->hosts;
}

/* Listen and catch the signals: 0, or TOOL_ERROR after a message. */
static int start(wserver *s, const char *addr)
{
    struct sockaddr_storage ss;
    int rc;
    if (parse_hostport(addr, &ss))
        return tool_fail("witness: --listen %s: expected HOST:PORT (an IP address; [v6]:PORT)", addr);
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    if ((rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0)) ||
        (rc = uv_listen((uv_stream_t *)&s->listener, 128, on_accept)))
        return tool_fail("witness: --listen %s: %s", addr, uv_strerror(rc));
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sigint);
    s->sigterm.data = s->sigint.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    fprintf(stderr, "%s: witness: listening on %s\n", tool_prog, addr);
    return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    close_handle(h);
}

int tool_witness_serve(const tool_witness *w, const char *addr)
{
    wserver *s = calloc(1, sizeof *s);
    if (!s)
        return tool_fail("out of memory");
    s->w = w;
    if (uv_loop_init(&s->loop)) {
        free(s);
        return tool_fail("witness: cannot start an event loop");
    }
    setup_h2o(s);
    uv_timer_init(&s->loop, &s->tick);
    s->tick.data = s;
    int rc = start(s, addr);
    if (rc) {   /* nothing served: stop as a signal would */
        on_signal(&s->sigterm, SIGTERM);
        s->stop_at_ms = 0;
    }
    uv_run(&s->loop, UV_RUN_DEFAULT);
    if (!s->disposed)
        h2o_context_dispose(&s->ctx);
    uv_walk(&s->loop, close_any, NULL);   /* whatever is left (none, normally) */
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    h2o_config_dispose(&s->config);
    free(s);
    return rc ? rc : TOOL_OK;
}
