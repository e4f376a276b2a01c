/* daemon_conn.c -- tmsd's connections (Unix socket and TCP; HTTP's are
 * daemon_http.c's): accepted with their share of the limits, read into
 * frame readers with backpressure, frames handed to daemon_ops.c, replies
 * written, idle timers, and the reference count that frees a connection
 * once its handle, timer, writes and jobs are all done. */
#include "daemon_internal.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define PAUSE_ABOVE (8u << 20)    /* stop reading a client with this much unsent reply */
#define RESUME_BELOW (1u << 20)

typedef struct wreq {
    uv_write_t req;
    conn *c;
    size_t len;
    char data[];
} wreq;

void tms__conn_release(conn *c)
{
    if (--c->refs > 0)
        return;
    tms_frame_reader_free(&c->rd);
    free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
    tms__conn_release(h->data);
}

static void start_reading(conn *c);
static void drain_frames(conn *c);

static void conn_maybe_resume(conn *c)
{
    if (c->reading_paused && !c->closing && c->queued_bytes < RESUME_BELOW && c->jobs < 16 && !c->d->stopping) {
        c->reading_paused = 0;
        start_reading(c);
        drain_frames(c);   /* frames that arrived before the pause are still buffered */
    }
}

void tms__conn_close(conn *c)
{
    server *d = c->d;
    if (c->closing)
        return;
    c->closing = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        d->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    d->nconns--;
    d->ntcp -= c->is_tcp;
    d->buffered -= c->accounted;   /* its reader is freed with it */
    c->accounted = 0;
    uv_close((uv_handle_t *)&c->idle, on_conn_closed);
    uv_close(&c->h.handle, on_conn_closed);
    if (d->nconns == 0 && d->opt.idle_exit_ms && !d->stopping)
        uv_timer_again(&d->idle_exit);
    if (d->nconns == 0 && d->deadline.loop && !uv_is_closing((uv_handle_t *)&d->deadline))
        uv_close((uv_handle_t *)&d->deadline, NULL);   /* everything flushed before the deadline */
}

/* A connection that is done reading (its client half-closed, or tmsd is
 * stopping) closes once its submits are answered and its replies flushed. */
void tms__conn_maybe_finish(conn *c)
{
    if (!c->closing && (c->eof || c->d->stopping) && c->jobs == 0 && c->queued_bytes == 0)
        tms__conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    conn *c = w->c;
    c->queued_bytes -= w->len;
    if (status < 0 && !c->closing)
        tms__conn_close(c);
    conn_maybe_resume(c);
    tms__conn_maybe_finish(c);
    free(w);
    tms__conn_release(c);
}

/* The req of a reply in sb (replies begin with it), or 0 when there is none. */
static int reply_req(const msgpack_sbuffer *sb, msgpack_object *req)
{
    const uint8_t *p = (const uint8_t *)sb->data + TMS_WIRE_HEADER;
    size_t len = sb->size - TMS_WIRE_HEADER, off = (p[0] & 0xf0) == 0x80 ? 1 : p[0] == 0xde ? 3 : len;
    msgpack_unpacked key, val;
    int ok = 0;
    msgpack_unpacked_init(&key);
    msgpack_unpacked_init(&val);
    if (off < len && msgpack_unpack_next(&key, (const char *)p, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        key.data.type == MSGPACK_OBJECT_STR && key.data.via.str.size == 3 && !memcmp(key.data.via.str.ptr, "req", 3) &&
        msgpack_unpack_next(&val, (const char *)p, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        val.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *req = val.data;
        ok = 1;
    }
    msgpack_unpacked_destroy(&key);
    msgpack_unpacked_destroy(&val);
    return ok;
}

void tms__conn_send(conn *c, msgpack_sbuffer *sb)
{
    size_t off = 0;
    if (c->closing)
        return;
    if (tms_frame_seal(sb, c->d->opt.max_frame) != TMS_OK) {   /* never silence: the client waits for it */
        msgpack_object req;
        int has = sb->size > TMS_WIRE_HEADER && reply_req(sb, &req);
        tms__daemon_log("error", "msg=\"a reply exceeds the frame limit: answered E_TOOBIG\" bytes=%zu", sb->size);
        tms__reply_error(c, has ? &req : NULL, TMS_E_TOOBIG,
                    "the reply exceeds the frame limit and was not sent (a submit's commands were processed all the "
                    "same: read their outcome by request_id); ask for less per request");
        return;
    }
    if (c->queued_bytes == 0) {   /* nothing queued: write now, queue only what the socket refused */
        uv_buf_t now = uv_buf_init(sb->data, (unsigned)sb->size);
        int n = uv_try_write(&c->h.stream, &now, 1);
        if (n > 0)
            off = (size_t)n;
        if (off == sb->size)
            return;
    }
    wreq *w = malloc(sizeof *w + sb->size - off);
    if (!w) {
        tms__conn_close(c);
        return;
    }
    w->c = c;
    w->len = sb->size - off;
    memcpy(w->data, sb->data + off, w->len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
    if (uv_write(&w->req, &c->h.stream, &buf, 1, on_write) != 0) {
        free(w);
        tms__conn_close(c);
        return;
    }
    c->refs++;
    c->queued_bytes += w->len;
    if (c->queued_bytes > PAUSE_ABOVE && !c->reading_paused) {
        c->reading_paused = 1;
        uv_read_stop(&c->h.stream);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    server *d = c->d;
    size_t avail = 0;
    uint8_t *p = tms_frame_reader_reserve(&c->rd, READ_CHUNK, &avail);
    (void)suggested;
    d->buffered += c->rd.cap - c->accounted;   /* what every connection holds together is bounded */
    c->accounted = c->rd.cap;
    if (d->buffered > d->opt.max_buffered)
        p = NULL;   /* on_read gets UV_ENOBUFS and closes this connection */
    *buf = uv_buf_init((char *)p, p ? (unsigned)(avail < READ_CHUNK ? avail : READ_CHUNK) : 0);
}

/* Handle every whole frame buffered, unless the connection pauses or closes. */
static void drain_frames(conn *c)
{
    const uint8_t *payload;
    size_t len;
    int r;
    while (!c->closing && !c->reading_paused && (r = tms_frame_reader_next(&c->rd, &payload, &len)) != 0) {
        if (r < 0) {
            c->d->ctr.frames_bad++;
            tms__reply_error(c, NULL, TMS_E_TOOBIG, "frame over the size limit");
            tms__conn_close(c);
            return;
        }
        if (tms__handle_frame(c, payload, len) < 0) {
            tms__conn_close(c);
            return;
        }
        tms__conn_active(c);
        if (c->jobs > 64 && !c->reading_paused) {   /* a client pipelining submits faster than we commit */
            c->reading_paused = 1;
            uv_read_stop(&c->h.stream);
        }
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = s->data;
    (void)buf;
    if (nread == UV_EOF && (c->jobs > 0 || c->queued_bytes > 0)) {
        c->eof = 1;   /* the client half-closed: answer what it sent, then close */
        c->reading_paused = 1;
        uv_read_stop(&c->h.stream);
        return;
    }
    if (nread == UV_ENOBUFS) {
        tms__daemon_log("warn", "msg=\"input buffers over the limit: connection closed\" buffered=%zu", c->d->buffered);
        tms__reply_error(c, NULL, TMS_E_BUSY, "the server's input buffers are full");
    }
    if (nread < 0) {
        tms__conn_close(c);
        return;
    }
    tms_frame_reader_commit(&c->rd, (size_t)nread);
    drain_frames(c);   /* only whole frames count as activity (idle timer): a byte now and then does not */
}

static void start_reading(conn *c)
{
    uv_read_start(&c->h.stream, on_alloc, on_read);
}

static void on_idle(uv_timer_t *t)
{
    conn *c = t->data;
    if (c->is_tcp && !c->helloed) {   /* a TCP client says hello first, and soon */
        tms__daemon_log("info", "msg=\"no hello in time: connection closed\"");
        tms__conn_close(c);
        return;
    }
    if (c->jobs > 0)
        return;   /* waiting for its own submit is not idleness */
    tms__daemon_log("info", "msg=\"idle connection closed\"");
    tms__conn_close(c);
}

/* A whole frame was handled: the connection is active. The first frame of
 * a TCP connection must have been its hello (else the hello deadline runs). */
void tms__conn_active(conn *c)
{
    if (c->is_tcp && !c->helloed)
        return;
    uv_timer_start(&c->idle, on_idle, c->d->opt.idle_timeout_ms, c->d->opt.idle_timeout_ms);
}

/* A TCP peer (an IPv4 address, an IPv6 /64) holds at most a quarter of --max-tcp-connections, so that one
 * peer cannot take every slot (the HTTP listeners have the same rule, daemon_http_limits.c). 1 when c may
 * stay; else logged, a line a second at most. */
static int tcp_peer_admitted(server *d, conn *c)
{
    unsigned n = 0, share = d->opt.max_tcp_connections / 4 ? d->opt.max_tcp_connections / 4 : 1;
    char host[64] = "?";
    uint8_t a[16] = {0};
    c->peer_key_len = tms__daemon_peer_key(&c->h.tcp, c->peer_key);
    for (conn *o = d->conns; o; o = o->next)
        n += o != c && o->is_tcp && !o->closing && o->peer_key_len == c->peer_key_len &&
             !memcmp(o->peer_key, c->peer_key, c->peer_key_len);
    if (n < share)
        return 1;
    uint64_t now = tms__now_ns();
    if (now - d->peer_log_ns >= UINT64_C(1000000000)) {
        memcpy(a, c->peer_key, c->peer_key_len);
        if (c->peer_key_len)
            uv_inet_ntop(c->peer_key_len == 4 ? AF_INET : AF_INET6, a, host, sizeof host);
        tms__daemon_log("warn", "msg=\"connection refused: too many from one peer\" peer=\"%s%s\" listener=socket "
                   "per_peer=%u", host, c->peer_key_len == 8 ? "/64" : "", share);
        d->peer_log_ns = now;
    }
    return 0;
}

void tms__on_connection(uv_stream_t *srv, int status)
{
    server *d = srv->data;
    int is_tcp = srv == (uv_stream_t *)&d->tcp_srv;
    conn *c;
    if (status < 0 || !(c = calloc(1, sizeof *c)))
        return;
    c->d = d;
    c->is_tcp = is_tcp;
    c->refs = 2;
    tms_frame_reader_init(&c->rd, d->opt.max_frame);
    if (is_tcp)
        uv_tcp_init(d->loop, &c->h.tcp);
    else
        uv_pipe_init(d->loop, &c->h.pipe, 0);
    c->h.handle.data = c;
    uv_timer_init(d->loop, &c->idle);
    c->idle.data = c;
    c->next = d->conns;
    if (d->conns)
        d->conns->prev = c;
    d->conns = c;
    d->nconns++;
    d->ctr.connections_total++;
    uv_timer_stop(&d->idle_exit);
    d->ntcp += is_tcp;   /* counted before any tms__conn_close, which uncounts it */
    if (uv_accept(srv, &c->h.stream) != 0) {
        tms__conn_close(c);
        return;
    }
    if ((is_tcp ? d->ntcp > d->opt.max_tcp_connections : d->nconns - d->ntcp > d->opt.max_connections) ||
        d->stopping) {
        tms__reply_error(c, NULL, TMS_E_BUSY, d->stopping ? "shutting down" : "connection limit reached");
        tms__conn_close(c);
        return;
    }
    if (is_tcp && !tcp_peer_admitted(d, c)) {
        tms__reply_error(c, NULL, TMS_E_BUSY, "too many connections from this peer");
        tms__conn_close(c);
        return;
    }
    tms__auth_connection(c);   /* its peer, and the principal it starts as */
    if (is_tcp)   /* until it presents the token: small frames, and a hello soon */
        c->rd.max = TMS_DAEMON_PREAUTH_FRAME;
    unsigned first = is_tcp ? d->opt.hello_timeout_ms : d->opt.idle_timeout_ms;
    uv_timer_start(&c->idle, on_idle, first, d->opt.idle_timeout_ms);
    start_reading(c);
}

void tms__conn_job_done(conn *c)
{
    c->jobs--;
    conn_maybe_resume(c);
    tms__conn_maybe_finish(c);
}
