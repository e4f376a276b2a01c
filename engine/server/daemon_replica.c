/* daemon_replica.c -- tmsd --replica-of (SPEC section 8): the follower's
 * thread queues the leader's frames (follow.h) and wakes the loop; the
 * loop hands them, up to REPLICA_BATCH at a time, to the worker, which
 * checks and applies them as one group (tms_engine_replicate); after each,
 * the lookups waiting for a seq and the watchers are served as after a
 * submit's group. A frame that does not check or chain stops replication
 * for good, loudly (stderr, status, metric), naming the seq; lookups go on
 * from the last good state. Submits are refused (E_REPLICA). */
#include "daemon_internal.h"
#include "follow.h"
#include <stdlib.h>
#include <string.h>

#define REPLICA_BATCH 2048
#define REPLICA_RETRIES 8

struct replica {
    tms_follower *f;
    uv_async_t wake;
    uv_work_t work;
    int busy, retries;
    uint8_t *frames[REPLICA_BATCH];
    size_t lens[REPLICA_BATCH], n;
    tms_err err;
    char why[512];
    uint64_t applied_groups;
};

static void on_notify(void *arg)   /* the follower's thread */
{
    uv_async_send(arg);
}

static void work_cb(uv_work_t *w)
{
    replica *r = w->data;
    server *d = r->wake.data;
    r->err = tms_engine_replicate(d->eng, (const uint8_t *const *)r->frames, r->lens, r->n, r->why, sizeof r->why);
}

static void drop_batch(replica *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->frames[i]);
    r->n = 0;
}

static void after_cb(uv_work_t *w, int status)
{
    replica *r = w->data;
    server *d = r->wake.data;
    (void)status;
    r->busy = 0;
    if (r->err == TMS_E_MAPFULL || r->err == TMS_E_BEHIND) {   /* the map grows; a batch not yet durable runs again */
        int durable = tms_engine_durable(d->eng);
        tms_err g = tms_engine_grow(d->eng, r->why, sizeof r->why);
        daemon_log("info", "msg=\"projection map grown\" result=%s durable=%d", tms_err_name(g), durable);
        if (g == TMS_OK && !durable && ++r->retries <= REPLICA_RETRIES) {
            r->busy = 1;
            uv_queue_work(d->loop, &r->work, work_cb, after_cb);
            return;
        }
        r->err = g == TMS_OK && durable ? TMS_OK : g != TMS_OK ? g : TMS_E_MAPFULL;
    }
    r->retries = 0;
    drop_batch(r);
    if (r->err) {
        char q[2 * sizeof r->why + 2];
        daemon_log("error", "msg=\"replication stopped\" err=%s why=\"%s\" applied=%llu", tms_err_name(r->err),
                   log_quote(q, sizeof q, r->why), (unsigned long long)tms_engine_last_seq(d->eng));
        tms_follower_fail(r->f, r->why);
    } else {
        r->applied_groups++;
    }
    fresh_wake(d);
    watch_pump(d);
    http_wake(d);
    replica_maybe_start(d);
    daemon_shutdown_check(d);
}

void replica_maybe_start(server *d)
{
    replica *r = d->replica;
    tms_follow_status st;
    if (!r || r->busy || d->stopping)
        return;
    tms_follower_status(r->f, &st);
    if (st.stopped)
        return;
    if (!(r->n = tms_follower_take(r->f, r->frames, r->lens, REPLICA_BATCH)))
        return;
    r->busy = 1;
    uv_queue_work(d->loop, &r->work, work_cb, after_cb);
}

static void on_wake(uv_async_t *a)
{
    replica_maybe_start(a->data);
}

int replica_start(server *d, char *why, size_t whylen)
{
    replica *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    uv_async_init(d->loop, &r->wake, on_wake);
    r->wake.data = d;
    r->work.data = r;
    if (tms_follower_start(d->opt.replica_of, d->opt.stream, tms_engine_last_seq(d->eng) + 1, on_notify, &r->wake,
                           &r->f, why, whylen) != TMS_OK) {
        uv_close((uv_handle_t *)&r->wake, NULL);
        d->replica_closing = r;
        return -1;
    }
    d->replica = r;
    return 0;
}

int replica_busy(const server *d)
{
    return d->replica && d->replica->busy;
}

void replica_close(server *d)
{
    replica *r = d->replica;
    if (!r || uv_is_closing((uv_handle_t *)&r->wake))
        return;
    tms_follower_stop(r->f);   /* before the handle it wakes goes */
    r->f = NULL;
    uv_close((uv_handle_t *)&r->wake, NULL);
}

void replica_free(server *d)
{
    replica *r = d->replica ? d->replica : d->replica_closing;
    if (!r)
        return;
    tms_follower_stop(r->f);
    drop_batch(r);
    free(r);
    d->replica = d->replica_closing = NULL;
}

json_t *replica_status(server *d)
{
    tms_follow_status st;
    memset(&st, 0, sizeof st);
    if (d->replica->f)
        tms_follower_status(d->replica->f, &st);
    /* applied: what readers see (the worker may be appending) */
    return json_pack("{s:s,s:I,s:I,s:b,s:b,s:s}", "of", d->opt.replica_of, "applied", (json_int_t)projection_seq(d),
                     "received", (json_int_t)st.received, "connected", st.connected, "stopped", st.stopped, "error",
                     st.error);
}

int replica_stopped(server *d)
{
    tms_follow_status st;
    if (!d->replica || !d->replica->f)
        return 0;
    tms_follower_status(d->replica->f, &st);
    return st.stopped;
}
