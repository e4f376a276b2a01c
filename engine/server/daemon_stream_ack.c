/* daemon_stream_ack.c -- tmsd --ack-after stream (SPEC section 12; issue
 * 20, item 1): a submit is answered only once its records are durable in
 * the local log AND stored by the JetStream stream, so that losing this
 * machine loses no acknowledged command.
 *
 * A group is committed as always (one log fdatasync, one LMDB commit) and
 * the publisher is told it is durable; the publisher publishes it with the
 * expected last sequence (publish.c), one acknowledgement per record but
 * pipelined, so a group costs about one round trip to the stream. The
 * group's jobs wait here, in order, for the publisher's `published` to
 * reach the log's end as it was after the group; the next group commits
 * meanwhile. A group the stream does not store within the timeout (the
 * stream down, a network cut), or that the stream refuses (it holds another
 * chain: the publisher stops), is answered E_NOT_STORED: not acknowledged.
 * Its records are durable here all the same and are published when the
 * stream comes back; a retry with the same request_id then answers the
 * first verdict. (A deposed cluster leader's never-stored records are set
 * aside: daemon_cluster.c, engine_set_aside.c.) The publisher's acknowledgements arrive on nats.c's threads:
 * each wakes the loop (uv_async_send, tms__stream_ack_wake); a 50 ms timer
 * answers the timeouts. */
#include "daemon_internal.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 10000

typedef struct held {
    job *jobs;
    uint64_t seq;                 /* the log's last seq after the group */
    uint64_t since_ns;
    struct held *next;
} held;

struct stream_acks {
    uv_timer_t timer;
    uv_async_t wake;
    int timer_open, ticking, wake_open;
    held *head, **tail;
    size_t n;
    uint64_t timeout_ns;
};

static void answer_head(server *d, tms_err err, const char *why)
{
    stream_acks *a = d->acks;
    held *h = a->head;
    a->head = h->next;
    if (!a->head)
        a->tail = &a->head;
    a->n--;
    tms__group_answer(d, h->jobs, err, why);
    free(h);
}

static void settle(server *d);

static void on_tick(uv_timer_t *t)
{
    settle(t->data);
}

static void on_wake(uv_async_t *w)
{
    settle(w->data);
}

void tms__stream_ack_wake(void *ctx)
{
    server *d = ctx;
    pthread_mutex_lock(&d->acks_lock);
    if (d->acks && d->acks->wake_open)
        uv_async_send(&d->acks->wake);
    pthread_mutex_unlock(&d->acks_lock);
}

/* Answer what the stream has stored, what it refused, what timed out.
 * --cluster: `accepted` only while the lease is valid by the clock read
 * now (a leader frozen past its lease never acknowledges on thawing). */
static void settle(server *d)
{
    stream_acks *a = d->acks;
    tms_publish_status st = {0};
    char why[512];
    if (!a)
        return;
    if (d->publisher)
        tms_publisher_status(d->publisher, &st);
    if (a->head && !tms__cluster_may_ack(d)) {
        const char *node = "", *addr = "", *web = "";
        int known = tms__cluster_leader(d, &node, &addr, &web) && strcmp(node, d->opt.node);
        snprintf(why, sizeof why, "this node lost the leader lease before it could acknowledge (durable here%s): "
                 "not acknowledged; retry with the same request_id%s%s%s%s", a->head->seq <= st.published
                 ? " and stored by the stream" : "", known ? " at the leader, " : "", known ? node : "",
                 known && addr[0] ? " at " : "", known ? addr : "");
        while (a->head)   /* E_NOT_STORED: logged here, so never E_NOT_LEADER (which means "refused before the log") */
            answer_head(d, TMS_E_NOT_STORED, why);
    }
    while (a->head && a->head->seq <= st.published)
        answer_head(d, TMS_OK, "");
    if (a->head && st.stopped)
        snprintf(why, sizeof why, "the stream refused the log (%s): durable here, not acknowledged", st.error);
    while (a->head && st.stopped)
        answer_head(d, TMS_E_NOT_STORED, why);
    uint64_t now = tms__now_ns();
    while (a->head && now - a->head->since_ns >= a->timeout_ns) {
        snprintf(why, sizeof why, "the stream has not stored seq %llu within %llu ms%s%s: durable here, not "
                 "acknowledged; retry with the same request_id", (unsigned long long)a->head->seq,
                 (unsigned long long)(a->timeout_ns / 1000000), st.error[0] ? ": " : "", st.error);
        answer_head(d, TMS_E_NOT_STORED, why);
    }
    if (!a->head && a->ticking) {
        uv_timer_stop(&a->timer);
        a->ticking = 0;
        tms__daemon_shutdown_check(d);   /* a stop may have waited for them */
    }
}

void tms__settle_stream_acks(server *d)
{
    settle(d);
}

int tms__stream_ack_start(server *d, char *why, size_t whylen)
{
    stream_acks *a;
    if (!d->opt.ack_after_stream)
        return 0;
    if (!d->publisher && !d->opt.cluster)   /* a cluster's leader starts its publisher when it leads */
        return snprintf(why, whylen, "--ack-after stream needs --publish"), -1;
    if (!(a = calloc(1, sizeof *a)))
        return snprintf(why, whylen, "out of memory"), -1;
    a->tail = &a->head;
    a->timeout_ns = (uint64_t)(d->opt.stream_ack_timeout_ms ? d->opt.stream_ack_timeout_ms : DEFAULT_TIMEOUT_MS) *
                    1000000u;
    uv_timer_init(d->loop, &a->timer);
    a->timer.data = d;
    a->timer_open = 1;
    uv_async_init(d->loop, &a->wake, on_wake);
    a->wake.data = d;
    a->wake_open = 1;
    pthread_mutex_lock(&d->acks_lock);
    d->acks = a;
    pthread_mutex_unlock(&d->acks_lock);
    return 0;
}

void tms__stream_hold(server *d, job *jobs, uint64_t seq)
{
    stream_acks *a = d->acks;
    held *h = calloc(1, sizeof *h);
    if (!a || !h) {
        free(h);
        tms__group_answer(d, jobs, TMS_E_NOMEM, "out of memory: durable here, not acknowledged");
        return;
    }
    h->jobs = jobs;
    h->seq = seq;
    h->since_ns = tms__now_ns();
    *a->tail = h;
    a->tail = &h->next;
    a->n++;
    if (!a->ticking) {
        uv_timer_start(&a->timer, on_tick, 50, 50);   /* the timeouts; acknowledgements wake the loop */
        a->ticking = 1;
    }
}

int tms__stream_ack_busy(const server *d)
{
    return d->acks && d->acks->head;
}

void tms__stream_ack_close(server *d)
{
    stream_acks *a = d->acks;
    if (a && a->timer_open && !a->head) {
        uv_timer_stop(&a->timer);
        uv_close((uv_handle_t *)&a->timer, NULL);
        a->timer_open = 0;
        pthread_mutex_lock(&d->acks_lock);   /* the publisher's thread never sends to a closed handle */
        a->wake_open = 0;
        pthread_mutex_unlock(&d->acks_lock);
        uv_close((uv_handle_t *)&a->wake, NULL);
    }
}

void tms__stream_ack_free(server *d)
{
    pthread_mutex_lock(&d->acks_lock);   /* the publisher is stopped by now; still, never a freed one */
    free(d->acks);   /* the loop ended: nothing is held (a stop waits for every group) */
    d->acks = NULL;
    pthread_mutex_unlock(&d->acks_lock);
}

json_t *tms__stream_ack_status(server *d)
{
    stream_acks *a = d->acks;
    if (!a)
        return NULL;
    return json_pack("{s:s,s:I,s:I}", "after", "stream", "held", (json_int_t)a->n, "timeout_ms",
                     (json_int_t)(a->timeout_ns / 1000000));
}
