/* client.c -- the blocking tmsd client of tmsclient.h. One request at a time
 * per connection: send a frame, read frames until the reply with the same req
 * arrives. Small on purpose; batching is what makes it fast (check_batch,
 * submit of many commands per frame). The client keeps the addresses it was
 * given: a submit follows the leader a node names and fails over along the
 * list, a lookup is sent again after a lost connection (the failover part). */
#include "tmsclient.h"
#include "tmsperm_schema.h"
#include "mpsafe.h"
#include "wire.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ADDR_MAX 272              /* an address of the list or a leader named: a socket path, HOST:PORT */
#define CONNECT_MS 2000           /* a connection attempt when there is another address to try */

struct tms_client {
    int fd;                     /* -1 once the connection is lost or a reconnection failed */
    uint64_t next_req;
    tms_frame_reader rd;
    msgpack_sbuffer out;
    msgpack_unpacked reply;     /* the last reply; valid until the next request */
    char message[320];
    uint64_t min_seq;           /* freshness asked of lookups (0: any) */
    uint32_t wait_ms;
    uint64_t seq;               /* what the last lookup reply reflects */
    int point;                  /* TMS_CLIENT_*: the point lookups ask for */
    uint64_t point_seq;
    int64_t point_time;
    uint64_t watch_req;         /* the watch this connection carries (0: none) */
    char *list;                 /* the addresses given, each NUL-terminated (malloc'd) */
    const char **addrs;         /* into list, in order (malloc'd) */
    size_t naddr;
    size_t at;                  /* the list entry dialled last: failover goes on after it */
    char *token;                /* the hello's token for reconnections (malloc'd; NULL: none) */
    char addr[ADDR_MAX];        /* the address connected to now ("" when not connected) */
};

/* connect() within timeout_ms (< 0: as long as the system takes). */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
    if (timeout_ms < 0)
        return connect(fd, sa, len);
    int fl = fcntl(fd, F_GETFL), r, soerr = 0;
    socklen_t sl = sizeof soerr;
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    r = connect(fd, sa, len);
    if (r < 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        do
            r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r == 0)
            errno = ETIMEDOUT;
        if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
            errno = soerr;
        r = r > 0 && !soerr ? 0 : -1;
    }
    int e = errno;
    if (fcntl(fd, F_SETFL, fl) < 0 && r == 0)
        return -1;
    errno = e;
    return r;
}

static int dial(const char *addr, int timeout_ms, char *why, size_t whylen)
{
    int fd = -1;
    if (strchr(addr, '/')) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(addr) >= sizeof sa.sun_path) {
            snprintf(why, whylen, "socket path too long: %s", addr);
            return -1;
        }
        strcpy(sa.sun_path, addr);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect_within(fd, (struct sockaddr *)&sa, sizeof sa, timeout_ms) == 0)
            return fd;
    } else {
        char host[256];
        const char *colon = strrchr(addr, ':');
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        if (!colon || (size_t)(colon - addr) >= sizeof host) {
            snprintf(why, whylen, "bad address %s (want a socket path or HOST:PORT)", addr);
            return -1;
        }
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        if (host[0] == '[' && host[strlen(host) - 1] == ']')
            host[strlen(host) - 1] = '\0';   /* [::1]:7070 */
        if (getaddrinfo(host[0] == '[' ? host + 1 : host, colon + 1, &hints, &res) == 0) {
            fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect_within(fd, res->ai_addr, res->ai_addrlen, timeout_ms) == 0) {
                freeaddrinfo(res);
                return fd;
            }
            freeaddrinfo(res);
        }
    }
    snprintf(why, whylen, "cannot connect to %s: %s", addr, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static tms_err err_from_name(const msgpack_object *o)
{
    for (int e = 1; o && o->type == MSGPACK_OBJECT_STR && e < TMS_ERR_COUNT; e++)
        if (o->via.str.size == strlen(tms_err_codes[e]) && !memcmp(o->via.str.ptr, tms_err_codes[e], o->via.str.size))
            return (tms_err)e;
    return TMS_E_PROTOCOL;
}

/* The connection is lost (or its byte stream no longer makes sense): close
 * it. The next submit or lookup connects again (the failover below). */
static void drop(tms_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static tms_err send_all(tms_client *c)
{
    size_t off = 0;
    if (tms_frame_seal(&c->out, 0) != TMS_OK)
        return TMS_E_TOOBIG;
    if (c->fd < 0)
        return TMS_E_IO;
    while (off < c->out.size) {
        ssize_t n = send(c->fd, c->out.data + off, c->out.size - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            drop(c);
            return TMS_E_IO;
        }
        off += (size_t)n;
    }
    return TMS_OK;
}

/* Send c->out (a sealed-to-be request), then read until the reply to req.
 * On TMS_OK c->reply.data is the reply map. A reply carrying "error" gives
 * that error, with its message in c->message. A transport error (TMS_E_IO,
 * TMS_E_PROTOCOL) closes the connection (c->fd -1). */
static tms_err await_reply(tms_client *c, uint64_t req, int interruptible);

static tms_err roundtrip(tms_client *c, uint64_t req)
{
    tms_err err = send_all(c);
    return err ? err : await_reply(c, req, 0);
}

/* Read frames until the reply to req (see roundtrip). interruptible: a
 * signal ends the wait (TMS_E_IO, errno EINTR; the connection stays open). */
static tms_err await_reply(tms_client *c, uint64_t req, int interruptible)
{
    const uint8_t *payload;
    size_t len, avail;
    for (;;) {
        if (c->fd < 0)
            return TMS_E_IO;
        int r = tms_frame_reader_next(&c->rd, &payload, &len);
        if (r < 0) {
            drop(c);
            return TMS_E_PROTOCOL;
        }
        if (r == 0) {
            uint8_t *p = tms_frame_reader_reserve(&c->rd, 65536, &avail);
            if (!p)
                return TMS_E_NOMEM;
            ssize_t n = recv(c->fd, p, avail, 0);
            if (n < 0 && errno == EINTR && !interruptible)
                continue;
            if (n < 0 && errno == EINTR)
                return TMS_E_IO;
            if (n <= 0) {
                drop(c);
                return TMS_E_IO;
            }
            tms_frame_reader_commit(&c->rd, (size_t)n);
            continue;
        }
        if (!tms_msgpack_sane(payload, len) ||
            msgpack_unpack_next(&c->reply, (const char *)payload, len, NULL) != MSGPACK_UNPACK_SUCCESS) {
            drop(c);
            return TMS_E_PROTOCOL;
        }
        const msgpack_object *rq = tms_map_get(&c->reply.data, "req"), *e = tms_map_get(&c->reply.data, "error");
        if (e) {
            char m[320];
            snprintf(c->message, sizeof c->message, "%s",
                     tms_map_str(&c->reply.data, "message", m, sizeof m) ? m : "");
            if (!rq || rq->type != MSGPACK_OBJECT_POSITIVE_INTEGER || rq->via.u64 == req)
                return err_from_name(e);
        }
        if (rq && rq->type == MSGPACK_OBJECT_POSITIVE_INTEGER && rq->via.u64 == req)
            return TMS_OK;
    }
}

/* Begin a request map with n fields besides op and req. */
static uint64_t begin(tms_client *c, msgpack_packer *pk, const char *op, size_t n)
{
    uint64_t req = ++c->next_req;
    tms_frame_begin(&c->out);
    msgpack_packer_init(pk, &c->out, msgpack_sbuffer_write);
    msgpack_pack_map(pk, n + 2);
    tms_pack_kv_str(pk, "op", op);
    tms_pack_str(pk, "req");
    msgpack_pack_uint64(pk, req);
    return req;
}

/* Connect c to addr (closing what it had) and say hello with c's token.
 * The request being sent (c->out) is kept for sending again. On failure
 * c->fd is -1, c->addr "" and why says what went wrong. */
static tms_err open_at(tms_client *c, const char *addr, int timeout_ms, char *why, size_t whylen)
{
    msgpack_packer pk;
    msgpack_sbuffer request = c->out;
    tms_err err = TMS_E_IO;
    drop(c);
    c->addr[0] = '\0';
    tms_frame_reader_free(&c->rd);
    tms_frame_reader_init(&c->rd, 0);
    msgpack_sbuffer_init(&c->out);
    if (strlen(addr) >= sizeof c->addr)
        snprintf(why, whylen, "address too long: %.64s...", addr);
    else if ((c->fd = dial(addr, timeout_ms, why, whylen)) >= 0) {
        uint64_t req = begin(c, &pk, "hello", c->token ? 2 : 1);
        tms_pack_str(&pk, "version");
        msgpack_pack_uint32(&pk, TMS_WIRE_VERSION);
        if (c->token)
            tms_pack_kv_str(&pk, "token", c->token);
        if ((err = roundtrip(c, req)) != TMS_OK) {
            snprintf(why, whylen, "hello to %s failed: %s%s%s", addr, tms_err_name(err), c->message[0] ? ": " : "",
                     c->message);
            drop(c);
        } else {
            snprintf(c->addr, sizeof c->addr, "%s", addr);
            c->message[0] = '\0';   /* no error on this connection yet */
        }
    }
    msgpack_sbuffer_destroy(&c->out);
    c->out = request;
    return err;
}

/* Keep the list ADDR[,ADDR...] and the token in c. */
static tms_err keep_list(tms_client *c, const char *addr, const char *token, char *why, size_t whylen)
{
    size_t n = 1;
    for (const char *p = addr; *p; p++)
        n += *p == ',';
    c->list = strdup(addr);
    c->addrs = calloc(n, sizeof *c->addrs);
    c->token = token ? strdup(token) : NULL;
    if (!c->list || !c->addrs || (token && !c->token)) {
        snprintf(why, whylen, "out of memory");
        return TMS_E_NOMEM;
    }
    for (char *p = c->list, *end; p; p = end) {
        if ((end = strchr(p, ',')) != NULL)
            *end++ = '\0';
        if (!*p) {
            snprintf(why, whylen, "bad address list %s: an empty address", addr);
            return TMS_E_INVAL;
        }
        c->addrs[c->naddr++] = p;
    }
    return TMS_OK;
}

tms_err tms_client_connect(const char *addr, const char *token, tms_client **out, char *why, size_t whylen)
{
    tms_client *c = calloc(1, sizeof *c);
    tms_err err = TMS_E_NOMEM, e;
    size_t used = 0;
    char one[400];
    *out = NULL;
    if (!c) {
        snprintf(why, whylen, "out of memory");
        return TMS_E_NOMEM;
    }
    c->fd = -1;
    tms_frame_reader_init(&c->rd, 0);
    msgpack_sbuffer_init(&c->out);
    msgpack_unpacked_init(&c->reply);
    if ((err = keep_list(c, addr, token, why, whylen)) != TMS_OK)
        goto out;
    err = TMS_E_IO;
    for (c->at = 0; c->at < c->naddr; c->at++) {
        if ((e = open_at(c, c->addrs[c->at], c->naddr > 1 ? CONNECT_MS : -1, one, sizeof one)) == TMS_OK)
            break;
        err = e == TMS_E_IO && err != TMS_E_IO ? err : e;   /* a server's answer says more than a refusal */
        if (used < whylen)
            used += (size_t)snprintf(why + used, whylen - used, "%s%s", used ? "; " : "", one);
    }
    if (c->fd >= 0)
        err = TMS_OK;
out:
    if (err)
        tms_client_close(c);
    else
        *out = c;
    return err;
}

void tms_client_close(tms_client *c)
{
    if (!c)
        return;
    drop(c);
    if (c->token)
        explicit_bzero(c->token, strlen(c->token));
    free(c->token);
    free(c->addrs);
    free(c->list);
    tms_frame_reader_free(&c->rd);
    msgpack_sbuffer_destroy(&c->out);
    msgpack_unpacked_destroy(&c->reply);
    free(c);
}

const char *tms_client_message(const tms_client *c)
{
    return c->message;
}

const char *tms_client_address(const tms_client *c)
{
    return c->addr;
}

/* ---- failover ------------------------------------------------------------ */

/* src into dst of n bytes, cut short when longer. */
static void copy_text(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    len = len < n ? len : n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connection attempt's timeout: CONNECT_MS, or less when the deadline is nearer. */
static int time_left(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left < 1 ? 1 : left < CONNECT_MS ? (int)left : CONNECT_MS;
}

/* Send the lookup in c->out; when the connection is lost, send it again on
 * the next addresses of the list, each once (a lookup changes nothing). */
static tms_err roundtrip_lookup(tms_client *c, uint64_t req)
{
    char why[400];
    tms_err err = roundtrip(c, req);
    for (size_t k = 0; k < c->naddr && c->fd < 0 && (err == TMS_E_IO || err == TMS_E_PROTOCOL); k++) {
        c->at = (c->at + 1) % c->naddr;
        if (open_at(c, c->addrs[c->at], c->naddr > 1 ? CONNECT_MS : -1, why, sizeof why) == TMS_OK)
            err = roundtrip(c, req);
    }
    return err;
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Does the JSON object text s carry a top-level "request_id" whose value is
 * a string (the last one, when the key is repeated)? Scanned, not parsed:
 * jansson stays out of libtmsperm. A text the scan does not follow answers 0
 * (the submit is then not sent again after a lost connection). */
static int has_request_id(const char *s, size_t n)
{
    size_t i = skip_ws(s, 0, n);
    int depth = 0, key = 0, found = 0;
    if (i == n || s[i] != '{')
        return 0;
    for (; i < n; i++) {
        if (s[i] == '"') {
            size_t start = i;
            for (i++; i < n && s[i] != '"'; i++)
                i += s[i] == '\\';
            if (i >= n)
                return 0;
            if (depth == 1 && key) {   /* a member's name: its value follows */
                size_t j = skip_ws(s, i + 1, n);
                if (j >= n || s[j] != ':')
                    return 0;
                j = skip_ws(s, j + 1, n);
                if (i - start == 11 && !memcmp(s + start + 1, "request_id", 10))
                    found = j < n && s[j] == '"';
                key = 0;
                i = j - 1;
            }
        } else if (s[i] == '{' || s[i] == '[') {
            key = ++depth == 1;
        } else if (s[i] == '}' || s[i] == ']') {
            depth--;
        } else if (s[i] == ',' && depth == 1) {
            key = 1;
        }
    }
    return found;
}

/* Send the submit in c->out, following the leader (see tmsclient.h). why
 * gets the message of a failure: the server's, or what the client saw. */
static tms_err submit_failover(tms_client *c, uint64_t req, int idempotent, char *why, size_t whylen)
{
    int redirects = 0;
    size_t dialled = 0;
    int64_t deadline = now_ms() + TMS_CLIENT_FAILOVER_MS, left;
    tms_err err, last = TMS_E_IO;
    char leader[ADDR_MAX], said[sizeof c->message] = "", reason[400];
    snprintf(why, whylen, "the connection to %s was lost", c->addr[0] ? c->addr : c->addrs[c->at]);
    for (;;) {
        if (c->fd >= 0) {
            int sent = (err = send_all(c)) == TMS_OK;   /* the whole frame went out */
            if (sent)
                err = await_reply(c, req, 0);
            if (err == TMS_OK || (err != TMS_E_NOT_LEADER && c->fd >= 0)) {   /* an answer */
                snprintf(why, whylen, "%s", c->message);
                return err;
            }
            if (err != TMS_E_NOT_LEADER && sent && !idempotent) {
                snprintf(why, whylen, "the connection to %s was lost while the submit waited for its reply: its "
                         "outcome is unknown (not sent again: a command has no request_id)", c->addr);
                return err;
            }
            if (err == TMS_E_NOT_LEADER) {
                last = err;
                snprintf(said, sizeof said, "%s", c->message);
                if (tms_map_str(&c->reply.data, "leader", leader, sizeof leader) && leader[0]) {
                    if (redirects++ == TMS_CLIENT_REDIRECTS)
                        break;
                    if (open_at(c, leader, time_left(deadline), reason, sizeof reason) == TMS_OK)
                        continue;
                }
            }
            drop(c);
        }
        if ((left = deadline - now_ms()) <= 0)
            break;
        if (dialled && dialled % c->naddr == 0)   /* a round of the list: pause */
            poll(NULL, 0, left < TMS_CLIENT_ROUND_PAUSE_MS ? (int)left : TMS_CLIENT_ROUND_PAUSE_MS);
        dialled++;
        c->at = (c->at + 1) % c->naddr;
        if (open_at(c, c->addrs[c->at], time_left(deadline), reason, sizeof reason) != TMS_OK && last == TMS_E_IO)
            snprintf(why, whylen, "%s", reason);
    }
    if (last == TMS_E_NOT_LEADER) {   /* the server's message, not that of a hello since */
        snprintf(c->message, sizeof c->message, "%s", said);
        snprintf(why, whylen, "%s", said);
    }
    return last;
}

/* Begin a lookup request of n fields, plus the freshness and point asked. */
static uint64_t lookup_begin(tms_client *c, msgpack_packer *pk, const char *op, size_t n)
{
    uint64_t req = begin(c, pk, op, n + (c->min_seq ? 2 : 0) + (c->point != TMS_CLIENT_LATEST));
    if (c->point == TMS_CLIENT_SEQ) {
        tms_pack_str(pk, "at_seq");
        msgpack_pack_uint64(pk, c->point_seq);
    } else if (c->point == TMS_CLIENT_TIME) {
        tms_pack_str(pk, "at_time");
        msgpack_pack_int64(pk, c->point_time);
    }
    if (c->min_seq) {
        tms_pack_str(pk, "min_seq");
        msgpack_pack_uint64(pk, c->min_seq);
        tms_pack_str(pk, "wait_ms");
        msgpack_pack_uint32(pk, c->wait_ms);
    }
    return req;
}

/* A lookup's reply arrived: note the seq it reflects. */
static void lookup_seq(tms_client *c)
{
    const msgpack_object *s = tms_map_get(&c->reply.data, "seq");
    c->seq = s && s->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? s->via.u64 : 0;
}

void tms_client_set_min_seq(tms_client *c, uint64_t min_seq, uint32_t wait_ms)
{
    c->min_seq = min_seq;
    c->wait_ms = wait_ms;
}

void tms_client_set_point(tms_client *c, int kind, uint64_t seq, int64_t time_ns)
{
    c->point = kind == TMS_CLIENT_SEQ || kind == TMS_CLIENT_TIME ? kind : TMS_CLIENT_LATEST;
    c->point_seq = seq;
    c->point_time = time_ns;
}

/* A string of the reply as a malloc'd NUL-terminated text. */
static tms_err reply_text(tms_client *c, const msgpack_object *j, char **text)
{
    (void)c;
    if (!j || j->type != MSGPACK_OBJECT_STR)
        return TMS_E_PROTOCOL;
    if (!(*text = malloc(j->via.str.size + 1)))
        return TMS_E_NOMEM;
    memcpy(*text, j->via.str.ptr, j->via.str.size);
    (*text)[j->via.str.size] = '\0';
    return TMS_OK;
}

int tms_client_explain(tms_client *c, const char *tenant, const char *kind, const char *id, const char *name,
                       char **json)
{
    msgpack_packer pk;
    const char *q[4] = {tenant, kind, id, name};
    *json = NULL;
    uint64_t req = lookup_begin(c, &pk, "check", 2);
    tms_pack_str(&pk, "explain");
    msgpack_pack_true(&pk);
    tms_pack_str(&pk, "q");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 4);
    for (int k = 0; k < 4; k++)
        tms_pack_str(&pk, q[k] ? q[k] : "");
    tms_err err = roundtrip_lookup(c, req);
    if (err)
        return -(int)err;
    lookup_seq(c);
    const msgpack_object *a = tms_map_get(&c->reply.data, "allow"), *x = tms_map_get(&c->reply.data, "explain");
    if (!a || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != 1 || !x || x->type != MSGPACK_OBJECT_ARRAY ||
        x->via.array.size != 1)
        return -(int)TMS_E_PROTOCOL;
    if ((err = reply_text(c, &x->via.array.ptr[0], json)))
        return -(int)(x->via.array.ptr[0].type == MSGPACK_OBJECT_NIL ? TMS_E_STORE : err);
    return a->via.array.ptr[0].type == MSGPACK_OBJECT_BOOLEAN && a->via.array.ptr[0].via.boolean;
}

uint64_t tms_client_seq(const tms_client *c)
{
    return c->seq;
}

tms_err tms_client_check_batch(tms_client *c, const char *const (*q)[4], size_t n, uint8_t *allow)
{
    msgpack_packer pk;
    uint64_t req = lookup_begin(c, &pk, "check", 1);
    tms_pack_str(&pk, "q");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_array(&pk, 4);
        for (int k = 0; k < 4; k++)
            tms_pack_str(&pk, q[i][k] ? q[i][k] : "");
    }
    tms_err err = roundtrip_lookup(c, req);
    if (err)
        return err;
    lookup_seq(c);
    const msgpack_object *a = tms_map_get(&c->reply.data, "allow");
    if (!a || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != n)
        return TMS_E_PROTOCOL;
    for (size_t i = 0; i < n; i++)
        allow[i] = a->via.array.ptr[i].type == MSGPACK_OBJECT_BOOLEAN && a->via.array.ptr[i].via.boolean;
    return TMS_OK;
}

int tms_client_check(tms_client *c, const char *tenant, const char *kind, const char *id, const char *name)
{
    const char *q[1][4] = {{tenant, kind, id, name}};
    uint8_t allow = 0;
    tms_err err = tms_client_check_batch(c, (const char *const(*)[4])q, 1, &allow);
    return err ? -(int)err : allow;
}

static void fill_result(const msgpack_object *r, tms_client_result *out)
{
    const msgpack_object *seq = tms_map_get(r, "seq"), *err = tms_map_get(r, "error");
    char verdict[16] = "";
    memset(out, 0, sizeof *out);
    out->has_seq = seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
    out->seq = out->has_seq ? seq->via.u64 : 0;
    tms_map_str(r, "verdict", verdict, sizeof verdict);
    out->verdict = strcmp(verdict, "accepted") == 0 ? TMS_OK : err_from_name(err);
    if (!tms_map_str(r, "message", out->message, sizeof out->message))
        out->message[0] = '\0';
}

tms_err tms_client_submit_json(tms_client *c, const char *const *lines, const size_t *lens, size_t n,
                               tms_client_result *results)
{
    msgpack_packer pk;
    char why[512];
    int idempotent = n > 0;   /* every command carries a request_id: sending it again is safe */
    for (size_t i = 0; i < n && idempotent; i++)
        idempotent = has_request_id(lines[i], lens[i]);
    uint64_t req = begin(c, &pk, "submit", 1);
    tms_pack_str(&pk, "cmds");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str(&pk, lens[i]);
        msgpack_pack_str_body(&pk, lines[i], lens[i]);
    }
    tms_err err = submit_failover(c, req, idempotent, why, sizeof why);
    if (err) {
        if (n)
            copy_text(results[0].message, sizeof results[0].message, why);
        return err;
    }
    const msgpack_object *rs = tms_map_get(&c->reply.data, "results");
    if (!rs || rs->type != MSGPACK_OBJECT_ARRAY || rs->via.array.size != n)
        return TMS_E_PROTOCOL;
    for (size_t i = 0; i < n; i++)
        fill_result(&rs->via.array.ptr[i], &results[i]);
    return TMS_OK;
}

static tms_err query(tms_client *c, int show, const char *tenant, const char *kind, const char *id, char **json)
{
    msgpack_packer pk;
    *json = NULL;
    uint64_t req = lookup_begin(c, &pk, show ? "show" : "visible", show ? 3 : 2);
    tms_pack_kv_str(&pk, "tenant", tenant);
    if (show)
        tms_pack_kv_str(&pk, "kind", kind);
    tms_pack_kv_str(&pk, show ? "id" : "manager", id);
    tms_err err = roundtrip_lookup(c, req);
    if (err)
        return err;
    lookup_seq(c);
    const msgpack_object *found = tms_map_get(&c->reply.data, "found"), *j = tms_map_get(&c->reply.data, "json");
    if (show && found && found->type == MSGPACK_OBJECT_BOOLEAN && !found->via.boolean)
        return TMS_NOT_FOUND;
    return reply_text(c, j, json);
}

tms_err tms_client_show(tms_client *c, const char *tenant, const char *kind, const char *id, char **json)
{
    return query(c, 1, tenant, kind, id, json);
}

tms_err tms_client_visible(tms_client *c, const char *tenant, const char *manager, char **json)
{
    return query(c, 0, tenant, NULL, manager, json);
}

tms_err tms_client_status(tms_client *c, char **json)
{
    msgpack_packer pk;
    *json = NULL;
    uint64_t req = begin(c, &pk, "status", 0);
    tms_err err = roundtrip_lookup(c, req);
    return err ? err : reply_text(c, tms_map_get(&c->reply.data, "json"), json);
}

tms_err tms_client_checkpoint(tms_client *c, char **note)
{
    msgpack_packer pk;
    *note = NULL;
    uint64_t req = begin(c, &pk, "checkpoint", 0);
    tms_err err = roundtrip(c, req);
    return err ? err : reply_text(c, tms_map_get(&c->reply.data, "note"), note);
}

tms_err tms_client_watch(tms_client *c, uint64_t from, const char *tenant, uint64_t until)
{
    msgpack_packer pk;
    uint64_t req = begin(c, &pk, "watch", (from ? 1 : 0) + (tenant ? 1 : 0) + (until ? 1 : 0));
    if (from) {
        tms_pack_str(&pk, "from");
        msgpack_pack_uint64(&pk, from);
    }
    if (tenant)
        tms_pack_kv_str(&pk, "tenant", tenant);
    if (until) {
        tms_pack_str(&pk, "until");
        msgpack_pack_uint64(&pk, until);
    }
    tms_err err = roundtrip(c, req);
    if (err)
        return err;
    c->watch_req = req;
    lookup_seq(c);   /* the first seq it will send */
    return TMS_OK;
}

tms_err tms_client_watch_next(tms_client *c, char **line)
{
    *line = NULL;
    if (!c->watch_req)
        return TMS_E_INVAL;
    tms_err err = await_reply(c, c->watch_req, 1);
    if (err)
        return err;
    const msgpack_object *end = tms_map_get(&c->reply.data, "end");
    if (end && end->type == MSGPACK_OBJECT_BOOLEAN && end->via.boolean)
        return TMS_NOT_FOUND;
    return reply_text(c, tms_map_get(&c->reply.data, "line"), line);
}
