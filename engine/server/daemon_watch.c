/* daemon_watch.c -- the watch op (SPEC section 7): a connection asks for
 * the records from seq `from` on (default: the next to come), of one tenant
 * or all, up to `until` (inclusive) or forever; tmsd answers {req, seq:
 * from}, then one frame {req, line} per record, then {req, end: true}.
 *
 * Every line is read from the log, by the watcher's own iterator, and only
 * once the projection has applied its record (durable, and its changed set
 * written): old records and live ones come the same way, so there is no
 * switch where a record could be lost or sent twice. A watcher is pumped
 * after every group commit and on a 5 ms tick, at most WATCH_BATCH records
 * at a time, and only while its connection has less than WATCH_BUFFER bytes
 * of replies unflushed: a slow reader costs tmsd at most that much memory and
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
    conn *c;
    msgpack_object req;
    uint64_t next, until;          /* the next seq to send; the last (0: none) */
    char tenant[TMS_ID_MAX + 1];   /* "" = every tenant */
    tms_log_iter *it;              /* opened at next, on the first pump */
    tms_record rec;
    int done;
    watcher *link;
};

static void on_tick(uv_timer_t *t)
{
    watch_pump(t->data);
}

void watch_init(server *d)
{
    uv_timer_init(d->loop, &d->watch_timer);
    d->watch_timer.data = d;
}

static void send_frame(server *d, watcher *w, const char *key, const char *line, uint64_t seq)
{
    msgpack_packer pk;
    tms_frame_begin(&d->out);
    msgpack_packer_init(&pk, &d->out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    tms_pack_str(&pk, "req");
    msgpack_pack_uint64(&pk, w->req.via.u64);
    tms_pack_str(&pk, key);
    if (line)
        tms_pack_str(&pk, line);
    else if (!strcmp(key, "end"))
        msgpack_pack_true(&pk);
    else
        msgpack_pack_uint64(&pk, seq);
    conn_send(w->c, &d->out);
}

static void finish(server *d, watcher *w, tms_err err, const char *why)
{
    char m[700];
    if (w->done)
        return;
    w->done = 1;
    if (w->c->closing)
        return;
    if (!err) {
        send_frame(d, w, "end", NULL, 0);
        return;
    }
    snprintf(m, sizeof m, "watch stopped before seq %llu: %.300s; resume with from = %llu",
             (unsigned long long)w->next, why, (unsigned long long)w->next);
    reply_error(w->c, &w->req, err, m);
}

int op_watch(conn *c, const msgpack_object *m, const msgpack_object *req)
{
    server *d = c->d;
    const msgpack_object *from = tms_map_get(m, "from"), *until = tms_map_get(m, "until"),
                         *tenant = tms_map_get(m, "tenant");
    char t[TMS_ID_MAX + 1] = "";
    if ((from && from->type != MSGPACK_OBJECT_POSITIVE_INTEGER) ||
        (until && until->type != MSGPACK_OBJECT_POSITIVE_INTEGER) ||
        (tenant && (!tms_map_str(m, "tenant", t, sizeof t) || !tms_is_id(t, strlen(t))))) {
        reply_error(c, req, TMS_E_PROTOCOL, "watch takes from and until (unsigned integers) and tenant (an id)");
        return 0;
    }
    if (t[0] ? !auth_tenant_ok(c, t) : !c->who->all_tenants) {
        reply_error(c, req, TMS_E_DENIED, "this principal may not watch that tenant (or every tenant)");
        return 0;
    }
    if (d->stopping) {
        reply_error(c, req, TMS_E_BUSY, "shutting down");
        return 0;
    }
    watcher *w = calloc(1, sizeof *w);
    if (!w) {
        reply_error(c, req, TMS_E_NOMEM, NULL);
        return -1;
    }
    w->c = c;
    w->req = *req;
    w->next = from && from->via.u64 ? from->via.u64 : projection_seq(d) + 1;
    w->until = until ? until->via.u64 : 0;
    snprintf(w->tenant, sizeof w->tenant, "%s", t);
    tms_cmd_init(&w->rec.cmd);
    w->link = d->watchers;
    d->watchers = w;
    c->refs++;
    c->jobs++;
    send_frame(d, w, "seq", NULL, w->next);
    if (!uv_is_active((uv_handle_t *)&d->watch_timer))
        uv_timer_start(&d->watch_timer, on_tick, WATCH_TICK_MS, WATCH_TICK_MS);
    watch_pump(d);
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
        if ((err = tms_log_iter_open(tms_data_path(logdir, sizeof logdir, d->opt.data_dir, "log"), w->next, &w->it,
                                     NULL))) {
            finish(d, w, err, "cannot read the log");
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
        if (tms_query_watch_line(d->rtx, &w->rec, &line) || !(text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
            json_decref(line);
            w->next--;
            finish(d, w, TMS_E_STORE, "cannot read the projection");
            return -1;
        }
        send_frame(d, w, "line", text, 0);
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
    for (int n = 0; !w->done && n < WATCH_BATCH && w->c->queued_bytes < WATCH_BUFFER; n++) {
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
    conn *c = w->c;
    tms_log_iter_close(w->it);
    tms_cmd_free(&w->rec.cmd);
    free(w);
    conn_job_done(c);
    conn_release(c);
}

void watch_pump(server *d)
{
    if (!d->watchers)
        return;
    uint64_t applied = 0;
    uint8_t head[TMS_HASH_LEN];
    int snap = snapshot_begin(d) == TMS_OK && tms_meta_get(d->rtx, &applied, head) == TMS_OK;
    for (watcher *w = d->watchers; w; w = w->link) {
        if (w->c->closing)
            w->done = 1;
        else if (snap)
            pump(d, w, applied);
        if (d->stopping)   /* what fitted was sent: the rest comes after a restart, from the seq named */
            finish(d, w, TMS_E_BUSY, "tmsd is stopping");
    }
    if (snap)
        snapshot_end(d);
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

void watch_close(server *d)
{
    watch_pump(d);   /* stopping: every watcher is told where it stopped */
    if (!uv_is_closing((uv_handle_t *)&d->watch_timer))
        uv_close((uv_handle_t *)&d->watch_timer, NULL);
}
