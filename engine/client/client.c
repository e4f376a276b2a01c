/* client.c -- the blocking tmsd client of tmsclient.h. One request at a time
 * per connection: send a frame, read frames until the reply with the same req
 * arrives. Small on purpose; batching is what makes it fast (check_batch,
 * submit of many commands per frame). */
#include "tmsclient.h"
#include "tmsperm_schema.h"
#include "mpsafe.h"
#include "wire.h"
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct tms_client {
    int fd;
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
};

static int dial(const char *addr, char *why, size_t whylen)
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
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
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
            if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
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

static tms_err send_all(tms_client *c)
{
    size_t off = 0;
    if (tms_frame_seal(&c->out, 0) != TMS_OK)
        return TMS_E_TOOBIG;
    while (off < c->out.size) {
        ssize_t n = send(c->fd, c->out.data + off, c->out.size - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return TMS_E_IO;
        off += (size_t)n;
    }
    return TMS_OK;
}

/* Send c->out (a sealed-to-be request), then read until the reply to req.
 * On TMS_OK c->reply.data is the reply map. A reply carrying "error" gives
 * that error, with its message in c->message. */
static tms_err await_reply(tms_client *c, uint64_t req, int interruptible);

static tms_err roundtrip(tms_client *c, uint64_t req)
{
    tms_err err = send_all(c);
    return err ? err : await_reply(c, req, 0);
}

/* Read frames until the reply to req (see roundtrip). interruptible: a
 * signal ends the wait (TMS_E_IO, errno EINTR). */
static tms_err await_reply(tms_client *c, uint64_t req, int interruptible)
{
    const uint8_t *payload;
    size_t len, avail;
    for (;;) {
        int r = tms_frame_reader_next(&c->rd, &payload, &len);
        if (r < 0)
            return TMS_E_PROTOCOL;
        if (r == 0) {
            uint8_t *p = tms_frame_reader_reserve(&c->rd, 65536, &avail);
            if (!p)
                return TMS_E_NOMEM;
            ssize_t n = recv(c->fd, p, avail, 0);
            if (n < 0 && errno == EINTR && !interruptible)
                continue;
            if (n <= 0)
                return TMS_E_IO;
            tms_frame_reader_commit(&c->rd, (size_t)n);
            continue;
        }
        if (!tms_msgpack_sane(payload, len) ||
            msgpack_unpack_next(&c->reply, (const char *)payload, len, NULL) != MSGPACK_UNPACK_SUCCESS)
            return TMS_E_PROTOCOL;
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

tms_err tms_client_connect(const char *addr, const char *token, tms_client **out, char *why, size_t whylen)
{
    msgpack_packer pk;
    tms_client *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) {
        snprintf(why, whylen, "out of memory");
        return TMS_E_NOMEM;
    }
    tms_frame_reader_init(&c->rd, 0);
    msgpack_sbuffer_init(&c->out);
    msgpack_unpacked_init(&c->reply);
    if ((c->fd = dial(addr, why, whylen)) < 0) {
        tms_client_close(c);
        return TMS_E_IO;
    }
    uint64_t req = begin(c, &pk, "hello", token ? 2 : 1);
    tms_pack_str(&pk, "version");
    msgpack_pack_uint32(&pk, TMS_WIRE_VERSION);
    if (token)
        tms_pack_kv_str(&pk, "token", token);
    tms_err err = roundtrip(c, req);
    if (err) {
        snprintf(why, whylen, "hello to %s failed: %s%s%s", addr, tms_err_name(err), c->message[0] ? ": " : "",
                 c->message);
        tms_client_close(c);
        return err;
    }
    *out = c;
    return TMS_OK;
}

void tms_client_close(tms_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    tms_frame_reader_free(&c->rd);
    msgpack_sbuffer_destroy(&c->out);
    msgpack_unpacked_destroy(&c->reply);
    free(c);
}

const char *tms_client_message(const tms_client *c)
{
    return c->message;
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
    tms_err err = roundtrip(c, req);
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
    tms_err err = roundtrip(c, req);
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
    uint64_t req = begin(c, &pk, "submit", 1);
    tms_pack_str(&pk, "cmds");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str(&pk, lens[i]);
        msgpack_pack_str_body(&pk, lines[i], lens[i]);
    }
    tms_err err = roundtrip(c, req);
    if (err) {
        if (n)
            snprintf(results[0].message, sizeof results[0].message, "%s", c->message);
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
    tms_err err = roundtrip(c, req);
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
    tms_err err = roundtrip(c, req);
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
