/* daemon_http_limits.c -- what an HTTP client may cost tmsd before and
 * after it has shown who it is (issue 19, items 4 and 5).
 *
 * Connections. Each listener has its own count (the API
 * --max-tcp-connections, metrics 16) and a share per peer: at most
 * listener.per_peer connections from one peer (an IPv4 address; an IPv6 /64,
 * what one host is usually given; an IPv4-mapped address as IPv4). The API's
 * share is --max-http-per-peer, by default a quarter of its connections (so
 * one peer cannot take every slot); the metrics listener's is 4. A
 * connection over either limit is closed at once (nothing read), and a line
 * a second at most says how many were.
 *
 * The read gate. h2o 2.2 reads a whole request, body included, before tmsd
 * sees it, so a request's credentials cannot be checked before its body is
 * buffered: tmsd meters h2o's reads instead. Every read of an HTTP
 * connection goes through gate_alloc and gate_read, wrapped around the
 * callbacks h2o gives libuv (uv_stream_t.alloc_cb and read_cb, public
 * fields): h2o sets them at each uv_read_start (accept, after each answer),
 * so they are wrapped again after every read h2o handles and, by a prepare
 * handle, before every poll (libuv reads only in its poll phase, and every
 * other callback runs before the next prepare). The gate:
 *   - lets a request hold at most HTTP_PREAUTH_INPUT (64 KiB: request line,
 *     headers and body together) until its head is parsed and names a
 *     principal with a bearer token (Authorization: Bearer, a token this tmsd
 *     knows). A body that would pass it is answered 413 (with
 *     WWW-Authenticate: Bearer) and the connection closed, without reading
 *     the rest; a head alone over it closes the connection. With credentials
 *     a body may reach h2o's own limit (4 MiB, its own 413).
 *   - counts every connection's input buffer (what h2o allocated) in
 *     server.buffered with the socket's frame buffers: a read that would pass
 *     --max-buffered-bytes is refused, the request answered 503 E_BUSY, the
 *     connection closed (the socket answers E_BUSY there too). h2o's first
 *     buffer (8 KiB) is always allowed, so that a request's head is read
 *     and the request answered (small requests are served while big bodies
 *     hold the budget); the connection limits bound what that adds.
 * Refusals are answered by h2o's own error path (h2o_send_error_generic, as
 * for its 413), after reading stops: the client gets a whole answer, made
 * {"error","message"} JSON by daemon_http_meta.c's filter (E_TOOBIG, E_BUSY). */
#include "daemon_http.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <h2o/http1.h>

#define HTTP_PREAUTH_INPUT (64u << 10)
#define H2O_RESERVE 4096   /* what h2o's alloc callback reserves at least (uv-binding.c.h) */
#define HTTP_SMALL_INPUT (2 * H2O_SOCKET_INITIAL_INPUT_BUFFER_SIZE)   /* h2o's first input buffer: always allowed */

static void gate_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf);
static void gate_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* ---- the read gate ------------------------------------------------------------------------- */

/* h2o's socket of c, NULL before h2o has it or once it is closing. */
static h2o_socket_t *sock_of(hconn *c)
{
    return c->handed && !uv_is_closing((uv_handle_t *)&c->tcp) ? c->tcp.data : NULL;
}

/* server.buffered follows what c's input buffer holds allocated now. */
static void account(hconn *c)
{
    h2o_socket_t *s = c->refused ? NULL : sock_of(c);   /* a refused one reads no more: its buffer goes with it */
    size_t now = s && s->input && s->input->bytes ? s->input->capacity : 0;
    c->d->buffered = c->d->buffered - c->accounted + now;
    c->accounted = now;
}

/* Route h2o's reads of c through the gate (again, after h2o restarted reading). */
static void wrap(hconn *c)
{
    uv_stream_t *st = (uv_stream_t *)&c->tcp;
    if (!sock_of(c) || !st->read_cb || st->read_cb == gate_read)
        return;
    c->h2o_alloc = st->alloc_cb;
    c->h2o_read = st->read_cb;
    st->alloc_cb = gate_alloc;
    st->read_cb = gate_read;
}

/* 1 while h2o reads req's body: its head parsed, not yet handed to a handler. */
static int reading_body(h2o_req_t *req)
{
    return req && !h2o_timeval_is_null(&req->timestamps.request_body_begin_at) &&
           h2o_timeval_is_null(&req->processed_at.at);
}

/* How much c's input may hold: unbounded here (h2o's 4 MiB and the budget
 * bound it) once its request's head names a principal, else the pre-auth cap. */
static size_t input_limit(hconn *c)
{
    int form;
    return reading_body(c->req) && tms__http_bearer(c->d, c->req, &form) ? SIZE_MAX : HTTP_PREAUTH_INPUT;
}

static void gate_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    hconn *c = (hconn *)hd;
    h2o_socket_t *s = hd->data;
    size_t size = s->input ? s->input->size : 0;
    size_t limit = size + H2O_RESERVE > HTTP_PREAUTH_INPUT ? input_limit(c) : HTTP_PREAUTH_INPUT;
    c->refusal = 0;
    if (size >= limit) {   /* libuv calls gate_read with UV_ENOBUFS */
        c->refusal = 413;
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    c->h2o_alloc(hd, suggested, buf);
    account(c);
    if (c->accounted > HTTP_SMALL_INPUT && c->d->buffered > c->d->opt.max_buffered) {
        c->refusal = 503;
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    if (buf->len > limit - size)
        buf->len = limit - size;
}

/* c's client as "HOST:PORT", for the log. */
static const char *peer_text(hconn *c, char *buf, size_t len)
{
    struct sockaddr_storage sa;
    char host[64] = "?";
    int n = sizeof sa;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &n) != 0)
        return snprintf(buf, len, "?"), buf;
    uv_ip_name((struct sockaddr *)&sa, host, sizeof host);
    snprintf(buf, len, sa.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
             ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                            : ((struct sockaddr_in *)&sa)->sin_port));
    return buf;
}

/* The gate refused a read of c: the request is answered (413 or 503) and
 * the connection closed; a head that never completed is just closed. */
static void refuse(hconn *c, const uv_buf_t *buf)
{
    h2o_req_t *req = c->req;
    int status = c->refusal, body = reading_body(req);
    char peer[96], route[100] = "";
    c->refusal = 0;
    c->refused = 1;   /* uncounted now, not when h2o frees it: the others are not refused for its bytes */
    account(c);
    if (body) {   /* the route as asked, without its query */
        const char *q = memchr(req->input.path.base, '?', req->input.path.len);
        size_t plen = q ? (size_t)(q - req->input.path.base) : req->input.path.len;
        int mlen = (int)(req->input.method.len < 10 ? req->input.method.len : 10);
        snprintf(route, sizeof route, " route=\"%.*s %.*s\"", mlen, req->input.method.base, (int)(plen < 60 ? plen : 60),
                 req->input.path.base);
        for (char *p = route + 8; *p && p[1]; p++)   /* logfmt: nothing that ends the value early */
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
                *p = '_';
    }
    tms__daemon_log("warn", "msg=\"HTTP request refused: %s\" status=%d peer=\"%s\"%s buffered=%zu",
               status == 503 ? "input buffers over the limit"
               : body        ? "body over 64 KiB without credentials" : "head over 64 KiB",
               body ? status : 0, peer_text(c, peer, sizeof peer), route, c->d->buffered);
    if (!body) {
        c->h2o_read((uv_stream_t *)&c->tcp, UV_ENOBUFS, buf);   /* h2o closes the connection */
        return;
    }
    h2o_socket_read_stop(c->tcp.data);   /* the rest of the body is never read */
    if (status == 413)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"tmsd\""));
    h2o_send_error_generic(req, status, status == 413 ? "Payload Too Large" : "Service Unavailable",
                           status == 413 ? "a request without valid credentials (Authorization: Bearer) may send at "
                                           "most 64 KiB"
                                         : "the server's input buffers are full (--max-buffered-bytes): try again",
                           H2O_SEND_ERROR_HTTP1_CLOSE_CONNECTION | H2O_SEND_ERROR_KEEP_HEADERS);
}

static void gate_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    hconn *c = (hconn *)st;
    if (nread == UV_ENOBUFS && c->refusal) {
        refuse(c, buf);
        return;
    }
    c->h2o_read(st, nread, buf);
    wrap(c);   /* h2o may have stopped and started reading: its callbacks are back */
    account(c);
}

/* Before every poll: every connection h2o reads is wrapped, every buffer counted. */
static void on_prepare(uv_prepare_t *p)
{
    server *d = p->data;
    for (hconn *c = d->http->conns; c; c = c->next) {
        wrap(c);
        account(c);
    }
}

void tms__http_gate_start(server *d)
{
    uv_prepare_init(d->loop, &d->http->gate);
    d->http->gate.data = d;
    uv_prepare_start(&d->http->gate, on_prepare);
    uv_unref((uv_handle_t *)&d->http->gate);   /* never what keeps the loop alive */
}

void tms__http_gate_stop(http *h)
{
    if (h->gate.loop && !uv_is_closing((uv_handle_t *)&h->gate))
        uv_close((uv_handle_t *)&h->gate, NULL);
}

/* ---- accepting ----------------------------------------------------------------------------- */

size_t tms__daemon_peer_key(const uv_tcp_t *t, uint8_t key[8])
{
    struct sockaddr_storage sa;
    int n = sizeof sa;
    if (uv_tcp_getpeername(t, (struct sockaddr *)&sa, &n) != 0)
        return 0;
    if (sa.ss_family == AF_INET) {
        memcpy(key, &((struct sockaddr_in *)&sa)->sin_addr, 4);
        return 4;
    }
    if (sa.ss_family != AF_INET6)
        return 0;
    const uint8_t *a = ((struct sockaddr_in6 *)&sa)->sin6_addr.s6_addr;
    int mapped = IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&sa)->sin6_addr);
    memcpy(key, mapped ? a + 12 : a, mapped ? 4 : 8);
    return mapped ? 4 : 8;
}

/* c's peer as a key (tms__daemon_peer_key). */
static void peer_key(hconn *c)
{
    c->peer_len = tms__daemon_peer_key(&c->tcp, c->peer);
}

/* 1 when c's peer has a share left on its listener; else logged (a line a second at most) and 0. */
static int admit(http *h, hconn *c)
{
    unsigned n = 0;
    peer_key(c);
    for (hconn *o = h->conns; o; o = o->next)
        n += o->admitted && o->from == c->from && o->peer_len == c->peer_len && !memcmp(o->peer, c->peer, c->peer_len);
    if (n < c->from->per_peer)
        return 1;
    h->peer_refused++;
    uint64_t now = tms__now_ns();
    if (now - h->peer_log_ns >= UINT64_C(1000000000)) {
        char host[64] = "?";
        uint8_t a[16] = {0};
        memcpy(a, c->peer, c->peer_len);
        if (c->peer_len)
            uv_inet_ntop(c->peer_len == 4 ? AF_INET : AF_INET6, a, host, sizeof host);   /* a /64: its prefix */
        tms__daemon_log("warn", "msg=\"HTTP connection refused: too many from one peer\" peer=\"%s%s\" listener=%s "
                   "per_peer=%u refused=%u", host, c->peer_len == 8 ? "/64" : "",
                   c->from == &h->api ? "api" : "metrics", c->from->per_peer, h->peer_refused);
        h->peer_log_ns = now;
        h->peer_refused = 0;
    }
    return 0;
}

static void on_closed(uv_handle_t *hd)
{
    hconn *c = (hconn *)hd;
    c->d->buffered -= c->accounted;   /* h2o freed its buffer with its socket */
    c->from->nconns--;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static int find_req(h2o_req_t *req, void *arg)
{
    hconn *c = arg;
    if (req->conn->callbacks->get_socket(req->conn) != c->tcp.data)
        return 0;
    c->req = req;
    return 1;
}

void tms__http_on_accept(uv_stream_t *srv, int status)
{
    server *d = srv->data;
    http *h = d->http;
    listener *l = (uv_tcp_t *)srv == &h->api.tcp ? &h->api : &h->metrics;
    hconn *c;
    if (status || !(c = calloc(1, sizeof *c)))
        return;
    uv_tcp_init(d->loop, &c->tcp);
    c->from = l;
    c->h = h;
    c->d = d;
    c->next = h->conns;
    if (c->next)
        c->next->prev = c;
    h->conns = c;
    l->nconns++;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) || l->nconns > l->max || d->stopping || !admit(h, c)) {
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    c->admitted = 1;
    h2o_accept(&l->accept, h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_closed));
    c->handed = 1;   /* h2o_accept made its HTTP/1 connection (plain TCP: at once) */
    H2O_HTTP1_CALLBACKS.foreach_request(&h->ctx, find_req, c);
    wrap(c);
}
