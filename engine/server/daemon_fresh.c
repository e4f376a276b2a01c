/* daemon_fresh.c -- lookups that ask for a seq the projection has not
 * applied yet ("min_seq", SPEC section 7). Such a frame is kept (copied)
 * until a group commit brings the projection to that seq, then handled as
 * if it had just arrived; if wait_ms pass first, or tmsd stops (once the
 * group in flight is done), it is answered E_STALE naming the seq the
 * projection is at. A min_seq or wait_ms that is not an unsigned integer
 * is E_PROTOCOL. Other clients, and
 * the connection's other requests, are not held up: only this reply waits.
 * One 5 ms timer runs while anything waits; a group's end wakes them too.
 * A waiting lookup counts as a job of its connection: more than 64 and the
 * connection is no longer read from (memory stays bounded), and it is not
 * idle while it waits. */
#include "daemon_internal.h"
#include "mpsafe.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRESH_TICK_MS 5
#define FRESH_WAIT_MAX_MS 3600000u

struct waiter {
    conn *c;
    uint8_t *frame;              /* the request, replayed when the seq is reached */
    size_t len;
    uint64_t req, min_seq, since_ns, deadline_ns;
    waiter *next;
};

static void on_tick(uv_timer_t *t)
{
    tms__fresh_wake(t->data);
}

void tms__fresh_init(server *d)
{
    uv_timer_init(d->loop, &d->fresh_timer);
    d->fresh_timer.data = d;
}

/* 1 when the frame was kept to be answered later (the caller is done with
 * it), 0 when it is to be answered now. */
int tms__fresh_gate(conn *c, const msgpack_object *m, const msgpack_object *req, const uint8_t *payload, size_t len)
{
    server *d = c->d;
    const msgpack_object *ms = tms_map_get(m, "min_seq"), *wm = tms_map_get(m, "wait_ms");
    uint64_t wait_ms = 1000;
    if ((ms && ms->type != MSGPACK_OBJECT_POSITIVE_INTEGER) || (wm && wm->type != MSGPACK_OBJECT_POSITIVE_INTEGER)) {
        tms__reply_error(c, req, TMS_E_PROTOCOL, "min_seq and wait_ms are unsigned integers");
        return 1;   /* never answered as if no freshness had been asked */
    }
    if (!ms || ms->via.u64 <= tms__projection_seq(d))
        return 0;
    if (wm)
        wait_ms = wm->via.u64 < FRESH_WAIT_MAX_MS ? wm->via.u64 : FRESH_WAIT_MAX_MS;
    waiter *w = calloc(1, sizeof *w);
    if (!w || !(w->frame = malloc(len ? len : 1))) {
        free(w);
        tms__reply_error(c, req, TMS_E_NOMEM, NULL);
        return 1;
    }
    memcpy(w->frame, payload, len);
    w->c = c;
    w->len = len;
    w->req = req->via.u64;
    w->min_seq = ms->via.u64;
    w->since_ns = tms__now_ns();
    w->deadline_ns = w->since_ns + wait_ms * 1000000u;
    w->next = d->waiters;
    d->waiters = w;
    c->refs++;
    c->jobs++;   /* waiting for its answer is not idleness, and a half-closed client still gets it */
    if (!uv_is_active((uv_handle_t *)&d->fresh_timer))
        uv_timer_start(&d->fresh_timer, on_tick, FRESH_TICK_MS, FRESH_TICK_MS);
    return 1;
}

static void settle(server *d, waiter *w, uint64_t seq)
{
    conn *c = w->c;
    if (!c->closing) {
        if (c->revoked) {   /* a reload found its credential gone (daemon_auth.c): never answered with data */
            msgpack_object req = {MSGPACK_OBJECT_POSITIVE_INTEGER, {.u64 = w->req}};
            tms__reply_error(c, &req, TMS_E_DENIED, "the credentials of this connection were revoked (reload)");
        } else if (seq >= w->min_seq) {
            d->ctr.requests--;   /* counted when it arrived; tms__handle_frame counts it again */
            if (tms__handle_frame(c, w->frame, w->len) < 0)   /* min_seq is met now: answered at once */
                tms__conn_close(c);
        } else {
            char why[200];
            msgpack_object req = {MSGPACK_OBJECT_POSITIVE_INTEGER, {.u64 = w->req}};
            snprintf(why, sizeof why, "the projection is at seq %llu, not yet at min_seq %llu (waited %llu ms%s)",
                     (unsigned long long)seq, (unsigned long long)w->min_seq,
                     (unsigned long long)((tms__now_ns() - w->since_ns) / 1000000u), d->stopping ? "; tmsd is stopping" : "");
            tms__reply_error(c, &req, TMS_E_STALE, why);
        }
    }
    free(w->frame);
    free(w);
    tms__conn_job_done(c);
    tms__conn_release(c);
}

void tms__fresh_wake(server *d)
{
    if (!d->waiters)
        return;
    uint64_t seq = tms__projection_seq(d), now = tms__now_ns();
    waiter **pp = &d->waiters, *ready = NULL;
    while (*pp) {   /* unlink first: settling may add waiters (a replayed frame) */
        waiter *w = *pp;
        if (seq >= w->min_seq || now >= w->deadline_ns || d->stopping || w->c->closing || w->c->revoked) {
            *pp = w->next;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    while (ready) {
        waiter *w = ready;
        ready = w->next;
        settle(d, w, seq);
    }
    if (!d->waiters)
        uv_timer_stop(&d->fresh_timer);
}

void tms__fresh_close(server *d)
{
    tms__fresh_wake(d);   /* stopping: every waiter is answered */
    if (!uv_is_closing((uv_handle_t *)&d->fresh_timer))
        uv_close((uv_handle_t *)&d->fresh_timer, NULL);
}
