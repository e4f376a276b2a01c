/* daemon_ops.c -- tmsd's requests: hello (rights), check (one or a batch, on
 * the loop thread from a reused LMDB read transaction), show, visible,
 * status, and submit, which queues commands for the next group commit on the
 * worker thread. Replies are msgpack frames echoing the request's "req". */
#include "daemon_internal.h"
#include "mpsafe.h"
#include "lookup.h"
#include "query.h"
#include "checkq.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_BATCH_MAX 100000
#define SUBMIT_BATCH_MAX 10000

static void pack_req(msgpack_packer *pk, const msgpack_object *req)
{
    tms_pack_str(pk, "req");
    if (req && req->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        msgpack_pack_uint64(pk, req->via.u64);
    else
        msgpack_pack_nil(pk);
}

void tms__reply_error(conn *c, const msgpack_object *req, tms_err err, const char *message)
{
    server *d = c->d;
    msgpack_packer pk;
    const char *node = "", *addr = "", *web = "";
    /* E_NOT_LEADER names the leader when one is known, for clients to follow (docs/protocol.md) */
    int leader = err == TMS_E_NOT_LEADER && tms__cluster_leader(d, &node, &addr, &web) && strcmp(node, d->opt.node);
    tms_frame_begin(&d->out);
    msgpack_packer_init(&pk, &d->out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, leader ? 5 : 3);
    pack_req(&pk, req);
    tms_pack_kv_str(&pk, "error", tms_err_name(err));
    tms_pack_kv_str(&pk, "message", message ? message : tms_strerror(err));
    if (leader) {
        tms_pack_kv_str(&pk, "leader", addr);
        tms_pack_kv_str(&pk, "leader_node", node);
    }
    tms__conn_send(c, &d->out);
}

/* Begin a reply map of n+1 entries (req first). */
static void reply_begin(server *d, msgpack_packer *pk, const msgpack_object *req, size_t n)
{
    tms_frame_begin(&d->out);
    msgpack_packer_init(pk, &d->out, msgpack_sbuffer_write);
    msgpack_pack_map(pk, n + 1);
    pack_req(pk, req);
}

/* The loop thread's read transaction: allocated once, renewed for each
 * lookup frame (a fresh snapshot), reset after it (no pages pinned, and no
 * active reader when the map has to grow between groups). */
tms_err tms__snapshot_begin(server *d)
{
    if (d->rtx) {
        if (tms_txn_renew(d->rtx) == TMS_OK)
            return TMS_OK;
        tms_txn_abort(d->rtx);
        d->rtx = NULL;
    }
    return tms_txn_begin(d->store, 0, &d->rtx);
}

void tms__snapshot_end(server *d)
{
    tms_txn_reset(d->rtx);   /* NULL: nothing to reset */
}

void tms__snapshot_free(server *d)
{
    tms_txn_abort(d->rtx);
    d->rtx = NULL;
}

/* The seq the open snapshot reflects (0 if unreadable: never more than it). */
static uint64_t snapshot_seq(server *d)
{
    uint64_t seq;
    uint8_t head[TMS_HASH_LEN];
    return tms_meta_get(d->rtx, &seq, head) == TMS_OK ? seq : 0;
}

uint64_t tms__projection_seq(server *d)
{
    uint64_t seq = 0;
    if (tms__snapshot_begin(d) == TMS_OK) {
        seq = snapshot_seq(d);
        tms__snapshot_end(d);
    }
    return seq;
}

static void pack_seq(msgpack_packer *pk, uint64_t seq)
{
    tms_pack_str(pk, "seq");
    msgpack_pack_uint64(pk, seq);
}

static int op_hello(conn *c, const msgpack_object *m, const msgpack_object *req)
{
    server *d = c->d;
    const msgpack_object *v = tms_map_get(m, "version"), *tok = tms_map_get(m, "token");
    msgpack_packer pk;
    if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 != TMS_WIRE_VERSION) {
        tms__reply_error(c, req, TMS_E_PROTOCOL, "unsupported protocol version (this server speaks 1)");
        return -1;
    }
    if (tok && tok->type == MSGPACK_OBJECT_STR) {
        const principal *before = c->who;
        tms__auth_token(c, tok->via.str.ptr, tok->via.str.size);
        if (c->who != before)
            c->rd.max = d->opt.max_frame;   /* it showed who it is: full-size frames */
    }
    c->helloed = c->rights != 0;   /* a hello that grants nothing does not stop the hello deadline */
    reply_begin(d, &pk, req, 4);
    tms_pack_kv_str(&pk, "principal", c->who->name);
    tms_pack_str(&pk, "version");
    msgpack_pack_uint32(&pk, TMS_WIRE_VERSION);
    tms_pack_kv_str(&pk, "server", "tmsd");
    tms_pack_str(&pk, "rights");
    int n = ((c->rights >> TMS_RIGHT_LOOKUP) & 1) + ((c->rights >> TMS_RIGHT_SUBMIT) & 1) +
            ((c->rights >> TMS_RIGHT_ADMIN) & 1);
    msgpack_pack_array(&pk, (size_t)n);
    if (c->rights & (1 << TMS_RIGHT_LOOKUP))
        tms_pack_str(&pk, "lookup");
    if (c->rights & (1 << TMS_RIGHT_SUBMIT))
        tms_pack_str(&pk, "submit");
    if (c->rights & (1 << TMS_RIGHT_ADMIN))
        tms_pack_str(&pk, "admin");
    tms__conn_send(c, &d->out);
    return 0;
}

/* The point a lookup asks for: "at_seq" (unsigned) or "at_time" (ns since
 * the epoch), neither = the latest. 0, or -1 after an error reply. */
static int point_of(conn *c, const msgpack_object *m, const msgpack_object *req, tms_point *p)
{
    const msgpack_object *s = tms_map_get(m, "at_seq"), *t = tms_map_get(m, "at_time");
    memset(p, 0, sizeof *p);
    if ((s && s->type != MSGPACK_OBJECT_POSITIVE_INTEGER) ||
        (t && t->type != MSGPACK_OBJECT_POSITIVE_INTEGER && t->type != MSGPACK_OBJECT_NEGATIVE_INTEGER) || (s && t)) {
        tms__reply_error(c, req, TMS_E_PROTOCOL, "at_seq is an unsigned integer, at_time an integer (ns); not both");
        return -1;
    }
    if (s) {
        p->kind = TMS_POINT_SEQ;
        p->seq = s->via.u64;
    } else if (t) {
        p->kind = TMS_POINT_TIME;
        p->time = t->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)(t->via.u64 > INT64_MAX ? INT64_MAX : t->via.u64)
                                                            : t->via.i64;
    }
    return 0;
}

/* A snapshot and the point resolved in it: 0, or -1 after an error reply
 * (the snapshot then ended). */
static int snapshot_at(conn *c, const msgpack_object *req, const tms_point *p, int index, uint64_t *at,
                       uint64_t *seq)
{
    server *d = c->d;
    char why[200];
    if (tms__snapshot_begin(d) != TMS_OK) {
        tms__reply_error(c, req, TMS_E_STORE, "cannot read the projection");
        return -1;
    }
    tms_err err = tms_query_point(d->rtx, p, index, at, seq, why, sizeof why);
    if (err) {
        tms__snapshot_end(d);
        tms__reply_error(c, req, err, why[0] ? why : "cannot read the projection");
        return -1;
    }
    return 0;
}

/* check with explain: one JSON text per query, beside allow (every entry was checked by op_check). */
static void pack_explained(conn *c, msgpack_packer *pk, const msgpack_object *q, uint64_t seq)
{
    char logdir[4200], why[160];
    tms_checkq cq;
    tms_data_path(logdir, sizeof logdir, c->d->opt.data_dir, "log");
    tms_pack_str(pk, "explain");
    msgpack_pack_array(pk, q->via.array.size);
    for (uint32_t i = 0; i < q->via.array.size; i++) {
        json_t *out = NULL;
        char *text = NULL;
        if (tms_checkq_msgpack(&q->via.array.ptr[i], &cq, why, sizeof why) == TMS_OK)
            tms_query_explain(c->d->rtx, seq, logdir, cq.tenant, cq.kind, cq.id, cq.name, &out);
        text = out ? json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(out);
        if (text)
            tms_pack_str(pk, text);
        else
            msgpack_pack_nil(pk);   /* the store failed: no reason to give */
        free(text);
    }
}

/* Every entry of q well formed ([tenant, kind, id, name], no control
 * character) and every tenant in it this principal's: 0, or -1 after the
 * error reply (E_PROTOCOL naming the entry; E_DENIED). A malformed entry is
 * never answered as a deny: that is not what was asked. */
static int check_entries(conn *c, const msgpack_object *q, const msgpack_object *req)
{
    char why[200], msg[240];
    tms_checkq cq;
    for (uint32_t i = 0; i < q->via.array.size; i++) {
        if (tms_checkq_msgpack(&q->via.array.ptr[i], &cq, why, sizeof why) != TMS_OK) {
            snprintf(msg, sizeof msg, "q[%u]: %s", (unsigned)i, why);
            tms__reply_error(c, req, TMS_E_PROTOCOL, msg);
            return -1;
        }
        if (!c->who->all_tenants && !tms__auth_tenant_ok(c, cq.tenant)) {
            tms__reply_error(c, req, TMS_E_DENIED, "this principal may not read that tenant");
            return -1;
        }
    }
    return 0;
}

static int op_check(conn *c, const msgpack_object *m, const msgpack_object *req)
{
    server *d = c->d;
    const msgpack_object *q = tms_map_get(m, "q"), *ex = tms_map_get(m, "explain");
    msgpack_packer pk;
    tms_point p;
    uint64_t at, seq;
    char why[200];
    tms_checkq cq;
    if (!q || q->type != MSGPACK_OBJECT_ARRAY || q->via.array.size > CHECK_BATCH_MAX ||
        (ex && ex->type != MSGPACK_OBJECT_BOOLEAN)) {
        tms__reply_error(c, req, TMS_E_PROTOCOL, "check needs q: an array of [tenant, kind, id, name] (explain: a boolean)");
        return 0;
    }
    int explain = ex && ex->via.boolean;
    if (point_of(c, m, req, &p) || check_entries(c, q, req) || snapshot_at(c, req, &p, explain, &at, &seq))
        return 0;
    reply_begin(d, &pk, req, explain ? 3 : 2);
    pack_seq(&pk, seq);   /* the point every answer below is for, in one snapshot */
    if (explain)
        pack_explained(c, &pk, q, seq);
    tms_pack_str(&pk, "allow");
    msgpack_pack_array(&pk, q->via.array.size);
    for (uint32_t i = 0; i < q->via.array.size; i++) {
        int allow = tms_checkq_msgpack(&q->via.array.ptr[i], &cq, why, sizeof why) == TMS_OK
                        ? tms_lookup_check_at(d->rtx, at, cq.tenant, cq.kind, cq.id, cq.name) : 0;
        if (allow > 0)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);   /* fail closed, also on a store error */
    }
    tms__snapshot_end(d);
    d->ctr.checks += q->via.array.size;
    tms__conn_send(c, &d->out);
    return 0;
}

static int op_query(conn *c, const msgpack_object *m, const msgpack_object *req, int show)
{
    server *d = c->d;
    char t[72], k[16], id[72];
    json_t *out = NULL;
    msgpack_packer pk;
    const char *tenant = tms_map_str(m, "tenant", t, sizeof t);
    const char *kind = show ? tms_map_str(m, "kind", k, sizeof k) : "manager";
    const char *who = tms_map_str(m, show ? "id" : "manager", id, sizeof id);
    if (!tenant || !kind || !who) {
        tms__reply_error(c, req, TMS_E_PROTOCOL, show ? "show needs tenant, kind, id" : "visible needs tenant, manager");
        return 0;
    }
    if (!tms__auth_tenant_ok(c, tenant)) {
        tms__reply_error(c, req, TMS_E_DENIED, "this principal may not read that tenant");
        return 0;
    }
    tms_point p;
    uint64_t at, seq;   /* the answer and its seq from one snapshot */
    if (point_of(c, m, req, &p) || snapshot_at(c, req, &p, 0, &at, &seq))
        return 0;
    int rc = show ? tms_query_show(d->rtx, at, tenant, kind, who, &out)
                  : tms_query_visible(d->rtx, at, tenant, who, &out);
    tms__snapshot_end(d);
    if (rc == 2) {
        json_decref(out);
        tms__reply_error(c, req, TMS_E_STORE, "cannot read the projection");
        return 0;
    }
    char *text = rc == 0 ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    reply_begin(d, &pk, req, show ? 3 : 2);
    pack_seq(&pk, seq);
    if (show) {
        tms_pack_str(&pk, "found");
        rc == 0 ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    }
    tms_pack_str(&pk, "json");
    tms_pack_str(&pk, text ? text : "null");
    free(text);
    tms__conn_send(c, &d->out);
    return 0;
}

/* A JSON value as msgpack (the status is built once, as JSON). */
static void pack_json(msgpack_packer *pk, const json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        msgpack_pack_map(pk, json_object_size(v));
        json_object_foreach((json_t *)v, k, x) {
            tms_pack_str(pk, k);
            pack_json(pk, x);
        }
        break;
    case JSON_ARRAY:
        msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach(v, i, x)
            pack_json(pk, x);
        break;
    case JSON_STRING: tms_pack_str(pk, json_string_value(v)); break;
    case JSON_INTEGER: msgpack_pack_int64(pk, json_integer_value(v)); break;
    case JSON_REAL: msgpack_pack_double(pk, json_real_value(v)); break;
    case JSON_TRUE: msgpack_pack_true(pk); break;
    case JSON_FALSE: msgpack_pack_false(pk); break;
    default: msgpack_pack_nil(pk); break;
    }
}

/* status: the fields of tms__status_json as the reply map, and the same as JSON
 * text in "json" (what tmsctl status prints). */
static int op_status(conn *c, const msgpack_object *req)
{
    server *d = c->d;
    msgpack_packer pk;
    const char *k;
    json_t *x, *st = tms__status_json(d);
    char *text = st ? json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (!text) {
        json_decref(st);
        tms__reply_error(c, req, TMS_E_NOMEM, NULL);
        return 0;
    }
    reply_begin(d, &pk, req, json_object_size(st) + 1);
    json_object_foreach(st, k, x) {
        tms_pack_str(&pk, k);
        pack_json(&pk, x);
    }
    tms_pack_kv_str(&pk, "json", text);
    free(text);
    json_decref(st);
    tms__conn_send(c, &d->out);
    return 0;
}

/* checkpoint: sign one now (--signing-key), answer the latest. */
static int op_checkpoint(conn *c, const msgpack_object *req)
{
    server *d = c->d;
    msgpack_packer pk;
    char why[300], *note = NULL;
    if (tms__checkpoint_now(d, &note, why, sizeof why) != 0) {
        tms__reply_error(c, req, d->ckpt ? TMS_E_IO : TMS_E_INVAL, why);
        return 0;
    }
    reply_begin(d, &pk, req, 1);
    tms_pack_kv_str(&pk, "note", note);
    free(note);
    tms__conn_send(c, &d->out);
    return 0;
}

static void pack_result(msgpack_packer *pk, const job *j, size_t i)
{
    const char *message, *code = tms__job_refusal(j, i, &message);
    msgpack_pack_map(pk, code ? 4 : 2);
    tms_pack_str(pk, "seq");
    if (j->subs[i].cmd)
        msgpack_pack_uint64(pk, j->subs[i].seq);
    else
        msgpack_pack_nil(pk);
    tms_pack_kv_str(pk, "verdict", code ? "rejected" : "accepted");
    if (!code)
        return;
    tms_pack_kv_str(pk, "error", code);
    tms_pack_kv_str(pk, "message", message);
}

static void reply_job(server *d, job *j)
{
    msgpack_packer pk;
    if (j->c->closing)
        return;   /* the client went away: its commands are durable all the same */
    tms_frame_begin(&d->out);
    msgpack_packer_init(&pk, &d->out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    tms_pack_str(&pk, "req");
    msgpack_pack_uint64(&pk, j->req);
    tms_pack_str(&pk, "results");
    msgpack_pack_array(&pk, j->n);
    for (size_t i = 0; i < j->n; i++)
        pack_result(&pk, j, i);
    tms__conn_send(j->c, &d->out);   /* too big for a frame: answered E_TOOBIG there */
}

/* A socket job's answer (job.done): the verdicts, or the error, then the
 * connection's accounting; a client gone away gets nothing (its commands
 * are durable all the same). */
static void socket_submitted(server *d, job *j, tms_err err, const char *why)
{
    if (err) {
        msgpack_object req = {MSGPACK_OBJECT_POSITIVE_INTEGER, {.u64 = j->req}};
        if (!j->c->closing)
            tms__reply_error(j->c, &req, err, why);
    } else {
        reply_job(d, j);
    }
    tms__conn_job_done(j->c);
    tms__conn_release(j->c);
    tms__job_free(j);
}

static int op_submit(conn *c, const msgpack_object *m, const msgpack_object *req)
{
    server *d = c->d;
    const msgpack_object *cmds = tms_map_get(m, "cmds");
    if (!cmds || cmds->type != MSGPACK_OBJECT_ARRAY || cmds->via.array.size > SUBMIT_BATCH_MAX) {
        tms__reply_error(c, req, TMS_E_PROTOCOL, "submit needs cmds: an array of commands (maps or JSON texts)");
        return 0;
    }
    if (d->stopping) {
        tms__reply_error(c, req, TMS_E_BUSY, "shutting down");
        return 0;
    }
    char msg[700];
    tms_err refused = tms__replica_refuses(d, msg, sizeof msg);
    if (refused) {
        tms__reply_error(c, req, refused, msg);
        return 0;
    }
    size_t n = cmds->via.array.size;
    job *j = tms__job_new(c->who, c->peer, n);
    for (size_t i = 0; j && i < n; i++) {
        const msgpack_object *o = &cmds->via.array.ptr[i];
        int text = o->type == MSGPACK_OBJECT_STR;
        if (tms__job_parse(j, i, text ? o->via.str.ptr : NULL, text ? o->via.str.size : 0, o)) {
            tms__job_free(j);
            j = NULL;
        }
    }
    if (!j) {
        tms__reply_error(c, req, TMS_E_NOMEM, NULL);
        return -1;
    }
    j->c = c;
    j->done = socket_submitted;
    j->req = req && req->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? req->via.u64 : 0;
    c->refs++;
    c->jobs++;
    tms__job_queue(d, j);
    return 0;
}

int tms__handle_frame(conn *c, const uint8_t *payload, size_t len)
{
    server *d = c->d;
    msgpack_unpacked up;
    size_t off = 0;
    int rc = -1;
    uint64_t t0 = tms__now_ns();
    msgpack_unpacked_init(&up);
    d->ctr.requests++;
    if (!tms_msgpack_sane(payload, len) ||
        msgpack_unpack_next(&up, (const char *)payload, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
        up.data.type != MSGPACK_OBJECT_MAP) {
        d->ctr.frames_bad++;
        tms__reply_error(c, NULL, TMS_E_PROTOCOL, "a frame must hold exactly one msgpack map");
        goto done;
    }
    const msgpack_object *m = &up.data, *req = tms_map_get(m, "req"), *op = tms_map_get(m, "op");
    int o = -1;
    for (int i = 0; op && op->type == MSGPACK_OBJECT_STR && i < TMS_OP_COUNT; i++)
        if (op->via.str.size == strlen(tms_wire_ops[i].name) &&
            memcmp(op->via.str.ptr, tms_wire_ops[i].name, op->via.str.size) == 0)
            o = i;
    if (o < 0 || !req || req->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        d->ctr.frames_bad++;
        tms__reply_error(c, req, TMS_E_PROTOCOL, "a request needs op (a known name) and req (an unsigned integer)");
        goto done;
    }
    int right = tms_wire_ops[o].right;
    if (right != TMS_RIGHT_NONE && !(c->rights & (1 << right))) {
        tms__auth_refused(c, tms_wire_ops[o].name, right);   /* logged with peer and op (PCI DSS 10.2.1.4) */
        tms__reply_error(c, req, TMS_E_DENIED, right == TMS_RIGHT_SUBMIT ? "submit needs the token (hello)"
                                                                    : "lookups need the token (hello)");
        rc = 0;
        goto done;
    }
    if ((o == TMS_OP_CHECK || o == TMS_OP_SHOW || o == TMS_OP_VISIBLE) && tms__fresh_gate(c, m, req, payload, len)) {
        rc = 0;   /* answered when the projection reaches its min_seq, or its wait is over */
        goto done;
    }
    switch ((tms_wire_op)o) {
    case TMS_OP_HELLO: rc = op_hello(c, m, req); break;
    case TMS_OP_SUBMIT: rc = op_submit(c, m, req); break;
    case TMS_OP_CHECK: rc = op_check(c, m, req); break;
    case TMS_OP_SHOW: rc = op_query(c, m, req, 1); break;
    case TMS_OP_VISIBLE: rc = op_query(c, m, req, 0); break;
    case TMS_OP_STATUS: rc = op_status(c, req); break;
    case TMS_OP_CHECKPOINT: rc = op_checkpoint(c, req); break;
    case TMS_OP_WATCH: rc = tms__op_watch(c, m, req); break;
    }
    if (o != TMS_OP_SUBMIT)
        tms__hist_add(d->ctr.lookup_ns_hist, &d->ctr.lookup_ns_sum, tms__now_ns() - t0, 10);
done:
    msgpack_unpacked_destroy(&up);
    return rc;
}
