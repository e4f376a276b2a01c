/* daemon_watch.c -- watchers, and the socket's watch op (SPEC section 7):
 * a connection asks for the records from seq `from` on (default: the next
 * to come), of one tenant or all, up to `until` (inclusive) or forever;
 * tmsd answers {req, seq: from}, then one frame {req, line} per record, then
 * {req, end: true}. A watcher writes its lines to a sink: these frames, or
 * HTTP's chunked stream (daemon_http_write.c).
 *
 * Every line is read from the log, by the watcher's own iterator, and only
 * once the projection has applied its record (durable, and its changed set
 * written): old records and live ones come the same way, so there is no
 * switch where a record could be lost or sent twice. A watcher is pumped
 * after every group commit and on a 5 ms tick, at most WATCH_BATCH records
 * at a time, and only while its sink has room (a connection: less than
 * WATCH_BUFFER bytes of replies unflushed): a slow reader costs tmsd at most that much memory and
 * catches up from the log when it reads again. When tmsd stops, or the log
 * cannot be read, the watcher gets an error naming the next seq it would
 * have sent (resume with from = that seq). A watch counts as a job of its
 * connection: the connection is not idle, and is not closed at its
 * client's half-close, while it lasts. */
#include "daemon_internal.h"
#include "log.h"
#include "query.h"
#include "record.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_TICK_MS 5
#define WATCH_BATCH 256
#define WATCH_BUFFER (1u << 20)

struct watcher {
    const watch_sink *ops;         /* where its lines go */
    void *sink;
    uint64_t next, until;          /* the next seq to send; the last (0: none) */
    char tenant[TMS_ID_MAX + 1];   /* "" = every tenant */
    tms_log_iter *it;              /* opened at next, on the first pump */
    tms_record rec;
    int done;
    watcher *link;
};

static void on_tick(uv_timer_t *t)
{
    tms__watch_pump(t->data);
}

void tms__watch_init(server *d)
{
    uv_timer_init(d->loop, &d->watch_timer);
    d->watch_timer.data = d;
}

/* End w: err TMS_OK (until reached), or why it stopped; message, when not
 * NULL, is said as it is (else one naming the seq to resume from). */
static void end_watch(server *d, watcher *w, tms_err err, const char *why, const char *message)
{
    char m[700];
    if (w->done)
        return;
    w->done = 1;
    if (w->ops->gone(w->sink))
        return;
    if (err && !message)
        snprintf(m, sizeof m, "watch stopped before seq %llu: %.300s; resume with from = %llu",
                 (unsigned long long)w->next, why, (unsigned long long)w->next);
    w->ops->end(d, w->sink, err, !err ? NULL : message ? message : m);
}

static void finish(server *d, watcher *w, tms_err err, const char *why)
{
    end_watch(d, w, err, why, NULL);
}

int tms__watch_start(server *d, uint64_t next, uint64_t until, const char *tenant, const watch_sink *ops, void *sink)
{
    watcher *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->ops = ops;
    w->sink = sink;
    w->next = next;
    w->until = until;
    snprintf(w->tenant, sizeof w->tenant, "%s", tenant);
    tms_cmd_init(&w->rec.cmd);
    w->link = d->watchers;
    d->watchers = w;
    if (!uv_is_active((uv_handle_t *)&d->watch_timer))
        uv_timer_start(&d->watch_timer, on_tick, WATCH_TICK_MS, WATCH_TICK_MS);
    tms__watch_pump(d);
    return 0;
}

/* ---- the socket's watch op: frames {req, seq}, {req, line}..., {req, end} or an error ---- */

typedef struct frame_sink {
    conn *c;
    uint64_t req;
} frame_sink;

static void send_frame(server *d, frame_sink *f, const char *key, const char *line, uint64_t seq)
{
    msgpack_packer pk;
    tms_frame_begin(&d->out);
    msgpack_packer_init(&pk, &d->out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    tms_pack_str(&pk, "req");
    msgpack_pack_uint64(&pk, f->req);
    tms_pack_str(&pk, key);
    if (line)
        tms_pack_str(&pk, line);
    else if (!strcmp(key, "end"))
        msgpack_pack_true(&pk);
    else
        msgpack_pack_uint64(&pk, seq);
    tms__conn_send(f->c, &d->out);
}

static int frame_room(void *sink)
{
    frame_sink *f = sink;
    return !f->c->closing && f->c->queued_bytes < WATCH_BUFFER;
}

static int frame_gone(void *sink)
{
    return ((frame_sink *)sink)->c->closing;
}

static void frame_line(server *d, void *sink, const char *text)
{
    send_frame(d, sink, "line", text, 0);
}

static void frame_end(server *d, void *sink, tms_err err, const char *message)
{
    frame_sink *f = sink;
    msgpack_object req = {MSGPACK_OBJECT_POSITIVE_INTEGER, {.u64 = f->req}};
    if (err)
        tms__reply_error(f->c, &req, err, message);
    else
        send_frame(d, f, "end", NULL, 0);
}

static const principal *frame_who(server *d, void *sink)
{
    conn *c = ((frame_sink *)sink)->c;
    (void)d;
    return c->revoked ? NULL : c->who;   /* daemon_auth.c re-resolved it just before */
}

static void frame_release(void *sink)
{
    frame_sink *f = sink;
    tms__conn_job_done(f->c);
    tms__conn_release(f->c);
    free(f);
}

static const watch_sink frame_ops = {frame_room, frame_gone, frame_line, frame_end, frame_release, frame_who};

int tms__op_watch(conn *c, const msgpack_object *m, const msgpack_object *req)
{
    server *d = c->d;
    const msgpack_object *from = tms_map_get(m, "from"), *until = tms_map_get(m, "until"),
                         *tenant = tms_map_get(m, "tenant");
    char t[TMS_ID_MAX + 1] = "";
    if ((from && from->type != MSGPACK_OBJECT_POSITIVE_INTEGER) ||
        (until && until->type != MSGPACK_OBJECT_POSITIVE_INTEGER) ||
        (tenant && (!tms_map_str(m, "tenant", t, sizeof t) || !tms_is_id(t, strlen(t))))) {
        tms__reply_error(c, req, TMS_E_PROTOCOL, "watch takes from and until (unsigned integers) and tenant (an id)");
        return 0;
    }
    if (t[0] ? !tms__auth_tenant_ok(c, t) : !c->who->all_tenants) {
        tms__reply_error(c, req, TMS_E_DENIED, "this principal may not watch that tenant (or every tenant)");
        return 0;
    }
    if (d->stopping) {
        tms__reply_error(c, req, TMS_E_BUSY, "shutting down");
        return 0;
    }
    frame_sink *f = calloc(1, sizeof *f);
    if (!f) {
        tms__reply_error(c, req, TMS_E_NOMEM, NULL);
        return -1;
    }
    f->c = c;
    f->req = req->via.u64;
    uint64_t next = from && from->via.u64 ? from->via.u64 : tms__projection_seq(d) + 1;
    send_frame(d, f, "seq", NULL, next);
    c->refs++;
    c->jobs++;
    if (tms__watch_start(d, next, until ? until->via.u64 : 0, t, &frame_ops, f)) {
        frame_release(f);
        tms__reply_error(c, req, TMS_E_NOMEM, NULL);
        return -1;
    }
    return 0;
}

/* One record for w, read from its iterator: 1 sent (or skipped: another
 * tenant's), 0 nothing yet, -1 finished (an error was sent). */
static int pump_one(server *d, watcher *w)
{
    char logdir[4200], why[300];
    tms_log_record lr;
    int has = 0;
    tms_err err = TMS_OK;
    if (!w->it) {
        tms_log_report rep;
        if ((err = tms_log_iter_open(tms_data_path(logdir, sizeof logdir, d->opt.data_dir, "log"), w->next, &w->it,
                                     &rep))) {
            /* not TMS_NOT_FOUND on the wire: a client reads that as the end of a watch (--until reached) */
            finish(d, w, err == TMS_NOT_FOUND ? TMS_E_INVAL : err, rep.msg[0] ? rep.msg : "cannot read the log");
            return -1;
        }
    }
    do {
        if ((err = tms_log_iter_next(w->it, &lr, &has))) {
            finish(d, w, err, tms_log_iter_report(w->it)->msg);
            return -1;
        }
    } while (has && lr.seq < w->next);
    if (!has)
        return 0;
    if (lr.seq != w->next || (err = tms_record_decode(&w->rec, lr.payload, lr.len, why, sizeof why))) {
        finish(d, w, TMS_E_CORRUPT, lr.seq != w->next ? "the log skipped a seq" : why);
        return -1;
    }
    w->rec.seq = lr.seq;
    w->next = lr.seq + 1;
    if (!w->tenant[0] || !strcmp(TMS_CMD_STR(&w->rec.cmd, TMS_F_TENANT), w->tenant)) {
        json_t *line = NULL;
        char *text = NULL;
        int r = tms_query_watch_line(d->rtx, &w->rec, &line);
        if (r || !(text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
            json_decref(line);
            w->next--;
            finish(d, w, r == 3 ? TMS_E_INVAL : TMS_E_STORE,
                   r == 3 ? TMS_QUERY_WATCH_BEFORE_INDEX : "cannot read the projection");
            return -1;
        }
        w->ops->line(d, w->sink, text);
        free(text);
        json_decref(line);
    }
    if (w->until && lr.seq >= w->until)
        finish(d, w, TMS_OK, NULL);
    return 1;
}

/* Send w what the projection has applied, within the batch and buffer bounds. */
static void pump(server *d, watcher *w, uint64_t applied)
{
    for (int n = 0; !w->done && n < WATCH_BATCH && w->ops->room(w->sink); n++) {
        if (w->until && w->next > w->until) {
            finish(d, w, TMS_OK, NULL);
            break;
        }
        if (w->next > applied || pump_one(d, w) <= 0)
            break;
    }
}

static void drop(watcher *w)
{
    tms_log_iter_close(w->it);
    tms_cmd_free(&w->rec.cmd);
    w->ops->release(w->sink);
    free(w);
}

/* Free the watchers that are done; the tick stops when none is left. */
static void sweep(server *d)
{
    for (watcher **pp = &d->watchers; *pp;) {
        watcher *w = *pp;
        if (w->done) {
            *pp = w->link;
            drop(w);
        } else {
            pp = &w->link;
        }
    }
    if (!d->watchers)
        uv_timer_stop(&d->watch_timer);
}

void tms__watch_pump(server *d)
{
    if (!d->watchers)
        return;
    uint64_t applied = 0;
    uint8_t head[TMS_HASH_LEN];
    int snap = tms__snapshot_begin(d) == TMS_OK && tms_meta_get(d->rtx, &applied, head) == TMS_OK;
    for (watcher *w = d->watchers; w; w = w->link) {
        if (w->ops->gone(w->sink))
            w->done = 1;
        else if (snap)
            pump(d, w, applied);
        if (d->stopping)   /* what fitted was sent: the rest comes after a restart, from the seq named */
            finish(d, w, TMS_E_BUSY, "tmsd is stopping");
    }
    if (snap)
        tms__snapshot_end(d);
    sweep(d);
}

/* Issue 19, item 3: a reload reaches running watches. Each session's
 * principal is asked again (its credential re-resolved); a watch it may no
 * longer make (credential gone, lookup right or tenant taken away) ends
 * with E_DENIED, naming the seq it stopped before. */
void tms__watch_recheck(server *d)
{
    for (watcher *w = d->watchers; w; w = w->link) {
        if (w->done || w->ops->gone(w->sink))
            continue;
        const principal *p = w->ops->who(d, w->sink);
        char m[600];
        if (p && (p->rights & (1 << TMS_RIGHT_LOOKUP)) && (w->tenant[0] ? tms__auth_principal_tenant_ok(p, w->tenant)
                                                                        : p->all_tenants))
            continue;
        if (!p)
            snprintf(m, sizeof m, "watch ended before seq %llu: the credentials of this session were revoked (reload)",
                     (unsigned long long)w->next);
        else
            snprintf(m, sizeof m, "watch ended before seq %llu: after a reload principal %s may no longer watch "
                     "tenant %s", (unsigned long long)w->next, p->name, w->tenant[0] ? w->tenant : "*");
        end_watch(d, w, TMS_E_DENIED, NULL, m);
    }
    sweep(d);
}

void tms__watch_close(server *d)
{
    tms__watch_pump(d);   /* stopping: every watcher is told where it stopped */
    if (!uv_is_closing((uv_handle_t *)&d->watch_timer))
        uv_close((uv_handle_t *)&d->watch_timer, NULL);
}
