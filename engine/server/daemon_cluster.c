/* daemon_cluster.c -- tmsd --cluster URL --node NAME (SPEC section 12;
 * issue 20): failover through JetStream, no election of our own.
 *
 * Every node starts as a follower of the stream (daemon_replica.c, its
 * checkpoints checked with the log key's verifier) and contends for the
 * lease (lease.h). Roles, on the loop thread:
 *
 *   follower     follows; submits refused E_NOT_LEADER naming the holder.
 *   catching-up  holds the lease; applies what the stream held when the
 *                lease was taken (its last seq, read right after), then
 *                halts the follower and starts the publisher: leader.
 *   leader       accepts; every submit is acknowledged only once the stream
 *                stored it (--ack-after stream is implied) AND, when the
 *                answer goes out, the lease is still valid by CLOCK_BOOTTIME
 *                read then (tms__cluster_may_ack): a leader that was frozen past
 *                its lease answers E_NOT_LEADER, never `accepted`.
 *   deposed      lost the lease (not renewed in time, or taken) or the
 *                stream refused its log (another leader's record at its
 *                seq): refuses at once, answers what waited for the stream
 *                E_NOT_STORED (logged here: "not acknowledged"), gives the
 *                lease up (if our clock still says it is ours), and once the
 *                group in flight is done follows the stream again, in this
 *                process (lookups never stop). Its follower compares its
 *                log with the stream first: records the stream does not hold
 *                (never acknowledged) are set aside with their evidence at
 *                the next open (engine_set_aside.c), so then the process
 *                restarts itself (tms_daemon_run returns TMS_DAEMON_RESTART;
 *                tmsd execs itself with the same arguments).
 *
 * Fencing: the publisher sends every record with the expected last
 * sequence (publish.c), so a deposed leader's late publish is refused by
 * the stream once anybody else published at that seq; and a message id is
 * the record's chain hash, so a duplicate is the same record. */
#include "daemon_internal.h"
#include "follow.h"
#include "lease.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 50
#define CATCH_UP_TTLS 4   /* a node holding the lease that has not caught up after this many TTLs hands it on */

enum { FOLLOWER, CATCHING_UP, LEADER, DEPOSED };
static const char *const role_names[] = {"follower", "catching-up", "leader", "deposed"};

struct cluster {
    tms_lease *lease;
    uv_async_t wake;
    uv_timer_t tick;
    uv_work_t halt;             /* a replication thread stopping, on a worker (halt_then) */
    int halting, halt_what;
    int handles;                /* open handles: wake, tick */
    pthread_mutex_t lock;       /* wake_open, against the lease's thread */
    int wake_open;
    _Atomic int role;           /* read by the checkpointer's worker (tms__cluster_sign_limit) */
    uint64_t term;              /* the term this node leads or led in */
    uint64_t target;            /* catching-up: the stream's last seq when the lease was taken */
    uint64_t since_ns;          /* when the role began */
    char why[400];              /* deposed: why */
    int restart;                /* deposed: the process restarts (records to set aside) */
    int retired;                /* its replication stopped on a bad record: it never contends again */
    uint64_t progress;          /* catching up: the log's last seq when it last moved */
    tms_lease_status st;        /* the lease's status as of the last update (loop thread) */
};

static void on_change(void *ctx)   /* the lease's thread: never a closed handle */
{
    cluster *c = ctx;
    pthread_mutex_lock(&c->lock);
    if (c->wake_open)
        uv_async_send(&c->wake);
    pthread_mutex_unlock(&c->lock);
}

static void set_role(server *d, int role, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_role(server *d, int role, const char *fmt, ...)
{
    cluster *c = d->cluster;
    char text[400], q[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    atomic_store(&c->role, role);
    c->since_ns = tms__now_ns();
    tms__daemon_log(role == DEPOSED ? "warn" : "info", "msg=\"cluster: %s\" node=%s role=%s term=%llu last_seq=%llu",
               tms__log_quote(q, sizeof q, text), d->opt.node, role_names[role], (unsigned long long)c->term,
               (unsigned long long)tms_engine_last_seq(d->eng));
}

/* Halt the follower, start the publisher from the log's end: accept. */
/* A replication thread's stop (the follower's before leading, the
 * publisher's before following again) waits for it to leave what it is
 * doing, a NATS request among them (up to 5 s): on a libuv worker, never
 * on the loop, which goes on answering lookups. The role stays as it was
 * (submits refused) until then. */
enum { HALT_FOLLOWER = 1, HALT_PUBLISHER = 2 };

static void lead_now(server *d);
static void follow_now(server *d, cluster *c);

static void halt_work(uv_work_t *w)
{
    server *d = w->data;
    if (d->cluster->halt_what == HALT_FOLLOWER)
        tms__replica_halt(d);
    else
        tms_publisher_halt(d->publisher);
}

static void halt_done(uv_work_t *w, int status)
{
    server *d = w->data;
    cluster *c = d->cluster;
    (void)status;
    c->halting = 0;
    if (d->stopping) {   /* the stop waited for this halt (tms__cluster_halting): it goes on now */
        tms__daemon_shutdown_check(d);
        return;
    }
    if (c->halt_what == HALT_FOLLOWER)
        lead_now(d);
    else
        follow_now(d, c);
}

static void halt_then(server *d, int what)
{
    cluster *c = d->cluster;
    c->halting = 1;
    c->halt_what = what;
    c->halt.data = d;
    uv_queue_work(d->loop, &c->halt, halt_work, halt_done);
}

static void lead(server *d)
{
    if (!d->cluster->halting)
        halt_then(d, HALT_FOLLOWER);
}

/* The follower is halted: publish and accept, if the lease is still ours. */
static void lead_now(server *d)
{
    cluster *c = d->cluster;
    char why[300];
    if (!tms_lease_valid(c->lease)) {   /* lost while the follower stopped: follow again */
        follow_now(d, c);
        return;
    }
    tms_publish_options po = {d->opt.cluster, d->opt.stream, d->opt.stream_replicas, d->opt.data_dir,
                              d->opt.signing_key, tms__daemon_nats_options(&d->opt), tms__stream_ack_wake, d};
    tms_err err = d->publisher ? tms_publisher_resume(d->publisher, tms_engine_last_seq(d->eng))
                               : tms_publisher_start(&po, tms_engine_last_seq(d->eng), &d->publisher, why, sizeof why);
    if (err && d->publisher)
        snprintf(why, sizeof why, "%s", tms_strerror(err));
    if (err) {
        snprintf(c->why, sizeof c->why, "cannot start publishing: %.300s", why);
        set_role(d, DEPOSED, "%s", c->why);
        return;
    }
    set_role(d, LEADER, "leading: the stream's %llu records applied", (unsigned long long)c->target);
}

static void depose(server *d, const char *why)
{
    cluster *c = d->cluster;
    snprintf(c->why, sizeof c->why, "%s", why);
    set_role(d, DEPOSED, "deposed: %s; refusing submits, following the stream again once the answers in flight are "
             "given", why);
    tms_publisher_pause(d->publisher);   /* not one more message from this log */
    tms_lease_resign(c->lease, 0);   /* given up only if still ours (compare-and-set); contending again */
    tms__settle_stream_acks(d);        /* what waits for the stream: E_NOT_LEADER now */
}

/* A follower whose log holds records the stream does not: ask the next
 * open to set them aside, and restart. */
static void set_aside_and_restart(server *d, uint64_t keep)
{
    cluster *c = d->cluster;
    char why[600], reason[500];
    snprintf(reason, sizeof reason, "node %s: the stream %s does not hold them (a deposed leader's records, never "
             "acknowledged)", d->opt.node, d->opt.stream ? d->opt.stream : "tms");
    if (tms_engine_set_aside_request(d->opt.data_dir, keep, reason, why, sizeof why) != TMS_OK) {
        tms__daemon_log("error", "msg=\"cluster: cannot ask for the set-aside\" why=\"%s\"", why);
        return;   /* the follower stays stopped, said in status */
    }
    snprintf(c->why, sizeof c->why, "this node's log holds records after seq %llu that the stream does not: set "
             "aside at the restart", (unsigned long long)keep);
    c->restart = 1;
    set_role(d, DEPOSED, "%s", c->why);
}

/* Deposed, nothing in flight: follow the stream again, in this process,
 * unless records must be set aside first (a restart: the open does it). */
static void follow_again(server *d, cluster *c)
{
    if (c->restart) {
        d->restart = 1;
        tms__daemon_begin_shutdown(d, "records to set aside: restarting");
        return;
    }
    if (!c->halting)
        halt_then(d, HALT_PUBLISHER);   /* nothing more goes out from this node's log */
}

/* The publisher is halted (or never ran): follow the stream from the log's end. */
static void follow_now(server *d, cluster *c)
{
    char why[300];
    tms__replica_adopt_tail(d, 0);
    if (tms__replica_resume(d, why, sizeof why)) {
        d->restart = 1;   /* a clean slate instead */
        tms__daemon_begin_shutdown(d, why);
        return;
    }
    c->term = 0;
    set_role(d, FOLLOWER, "following the stream again");
}

static void update_follower(server *d, cluster *c)
{
    uint64_t keep;
    if (tms__replica_diverged(d, &keep)) {
        set_aside_and_restart(d, keep);
    } else if (tms__replica_stopped(d) && !c->retired) {   /* a record that does not check: never lead */
        c->retired = 1;
        tms_lease_resign(c->lease, 1);
        tms__daemon_log("error", "msg=\"cluster: replication stopped: this node will not lead\" node=%s", d->opt.node);
    } else if (c->st.held && c->st.stream_known && tms_lease_valid(c->lease)) {
        c->term = c->st.term;
        c->target = c->st.stream_last;
        set_role(d, CATCHING_UP, "took the lease: applying the stream up to seq %llu first",
                 (unsigned long long)c->target);
        tms__replica_adopt_tail(d, c->target);
    }
}

static void update(server *d)
{
    cluster *c = d->cluster;
    uint64_t keep;
    tms_publish_status ps;
    if (!c || d->stopping || c->halting)
        return;
    tms_lease_status_get(c->lease, &c->st);
    int role = atomic_load(&c->role);
    if (role == FOLLOWER) {
        update_follower(d, c);
    } else if (role == CATCHING_UP) {
        uint64_t ttl_ns = (uint64_t)(d->opt.lease_ttl_ms ? d->opt.lease_ttl_ms : TMS_LEASE_TTL_DEFAULT_MS) * 1000000u;
        if (tms_engine_last_seq(d->eng) != c->progress) {   /* applying: the deadline counts from the last step */
            c->progress = tms_engine_last_seq(d->eng);
            c->since_ns = tms__now_ns();
        }
        if (!tms_lease_valid(c->lease) || tms__now_ns() - c->since_ns > CATCH_UP_TTLS * ttl_ns) {
            int late = tms_lease_valid(c->lease);
            tms__replica_adopt_tail(d, 0);
            if (late)   /* it cannot reach the stream's end (frames that never come or never check): hand on */
                tms_lease_resign(c->lease, 0);
            set_role(d, FOLLOWER, late ? "could not apply the stream's end in time: the lease handed on"
                                       : "lost the lease before leading");
        }
        else if (tms__replica_diverged(d, &keep))
            set_aside_and_restart(d, keep);
        else if (tms_engine_last_seq(d->eng) >= c->target && tms__replica_idle(d))
            lead(d);
    } else if (role == LEADER) {
        if (d->publisher)
            tms_publisher_status(d->publisher, &ps);
        if (!tms_lease_valid(c->lease))
            depose(d, c->st.held ? "the lease may have passed (not renewed in time by this node's clock)"
                                 : "the lease was lost");
        else if (c->st.term != c->term)   /* lost and taken again while the loop did not look: catch up first */
            depose(d, "the lease was taken again in another term");
        else if (d->publisher && ps.stopped)
            depose(d, ps.error);
    }
    if (atomic_load(&c->role) == DEPOSED && !d->group_busy && !tms__stream_ack_busy(d) && !tms__replica_busy(d))
        follow_again(d, c);
}

static void on_wake(uv_async_t *a)
{
    update(a->data);
}

static void on_tick(uv_timer_t *t)
{
    update(t->data);
}

int tms__cluster_start(server *d, char *why, size_t whylen)
{
    cluster *c = calloc(1, sizeof *c);
    if (!c)
        return snprintf(why, whylen, "out of memory"), -1;
    d->cluster = c;
    pthread_mutex_init(&c->lock, NULL);
    uv_async_init(d->loop, &c->wake, on_wake);
    c->wake_open = 1;
    uv_timer_init(d->loop, &c->tick);
    c->wake.data = c->tick.data = d;
    c->handles = 2;
    c->since_ns = tms__now_ns();
    const char *addr = d->opt.advertise ? d->opt.advertise : d->opt.listen ? d->opt.listen : "";
    tms_lease_options lo = {d->opt.cluster, d->opt.stream, d->opt.node, addr, d->opt.http ? d->opt.http : "",
                            d->opt.lease_ttl_ms, d->opt.stream_replicas, tms__daemon_nats_options(&d->opt), on_change, c};
    if (tms__replica_start(d, why, whylen) || tms_lease_start(&lo, &c->lease, why, whylen) != TMS_OK)
        return -1;
    uv_timer_start(&c->tick, on_tick, TICK_MS, TICK_MS);
    tms__daemon_log("info", "msg=\"cluster: following the stream, contending for the lease\" node=%s addr=\"%s\" "
               "lease_ttl_ms=%u", d->opt.node, addr, d->opt.lease_ttl_ms ? d->opt.lease_ttl_ms
               : TMS_LEASE_TTL_DEFAULT_MS);
    return 0;
}

int tms__cluster_accepting(server *d)
{
    return !d->cluster || (atomic_load(&d->cluster->role) == LEADER && tms_lease_valid(d->cluster->lease));
}

int tms__cluster_may_ack(server *d)
{
    return tms__cluster_accepting(d);
}

int tms__cluster_leader(server *d, const char **node, const char **addr, const char **web)
{
    cluster *c = d->cluster;
    if (!c)
        return 0;
    tms_lease_status_get(c->lease, &c->st);
    *node = c->st.holder;
    *addr = c->st.holder_addr;
    *web = c->st.holder_http;
    return c->st.holder[0] && !(c->st.held && atomic_load(&c->role) != LEADER && !tms_lease_valid(c->lease));
}

int tms__cluster_refuses(server *d, char *why, size_t whylen)
{
    const char *node, *addr, *web;
    if (tms__cluster_accepting(d))
        return 0;
    if (tms__cluster_leader(d, &node, &addr, &web) && strcmp(node, d->opt.node))
        snprintf(why, whylen, "not the leader: the leader is %s%s%s", node, addr[0] ? " at " : "", addr);
    else if (d->cluster && atomic_load(&d->cluster->role) == CATCHING_UP)
        snprintf(why, whylen, "not the leader yet: this node holds the lease and is applying the stream; retry");
    else if (d->cluster && (!d->cluster->st.connected || atomic_load(&d->cluster->role) == DEPOSED))
        snprintf(why, whylen, "not the leader: this node %s; try another node", d->cluster->st.connected
                 ? "lost the lease" : "cannot reach NATS");
    else
        snprintf(why, whylen, "no node holds the leader lease now; retry");
    return 1;
}

uint64_t tms__cluster_sign_limit(server *d)
{
    tms_publish_status ps;
    if (!d->cluster)
        return UINT64_MAX;
    if (atomic_load(&d->cluster->role) != LEADER || !d->publisher)
        return 0;
    tms_publisher_status(d->publisher, &ps);
    return ps.published;
}

const char *tms__cluster_role(server *d)
{
    return d->cluster ? role_names[atomic_load(&d->cluster->role)] : NULL;
}

json_t *tms__cluster_status(server *d)
{
    cluster *c = d->cluster;
    uint64_t now = tms_lease_now();
    tms_lease_status_get(c->lease, &c->st);
    int role = atomic_load(&c->role);
    int64_t expires = c->st.held ? (c->st.valid_until > now ? (int64_t)((c->st.valid_until - now) / 1000000) : 0)
                                 : c->st.holder_expires_ms;
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:b,s:b,s:I,s:I,s:I,s:s,s:s}", "node", d->opt.node, "role",
                     role_names[role], "leader", c->st.holder, "leader_addr", c->st.holder_addr, "leader_http",
                     c->st.holder_http, "term", (json_int_t)(role == FOLLOWER ? c->st.term : c->term),
                     "lease_expires_in_ms", (json_int_t)expires, "lease_held", c->st.held, "connected",
                     c->st.connected, "lease_ttl_ms", (json_int_t)(d->opt.lease_ttl_ms ? d->opt.lease_ttl_ms
                                                                    : TMS_LEASE_TTL_DEFAULT_MS),
                     "taken", (json_int_t)c->st.taken, "lost", (json_int_t)c->st.lost, "why",
                     role == DEPOSED ? c->why : "", "error", c->st.error);
}

/* Two threads must never join the follower's thread at once: glibc lets both
 * wait, the thread's exit wakes one, and the other (the loop, halting the
 * follower at a stop) slept for ever. So a stop waits for the halt in flight. */
int tms__cluster_halting(const server *d)
{
    return d->cluster && d->cluster->halting;
}

void tms__cluster_close(server *d)
{
    cluster *c = d->cluster;
    if (!c || !c->handles || uv_is_closing((uv_handle_t *)&c->tick))
        return;
    tms_lease_resign(c->lease, 1);   /* a clean stop hands the lease on at once */
    uv_timer_stop(&c->tick);
    uv_close((uv_handle_t *)&c->tick, NULL);
    pthread_mutex_lock(&c->lock);
    c->wake_open = 0;
    pthread_mutex_unlock(&c->lock);
    uv_close((uv_handle_t *)&c->wake, NULL);
}

void tms__cluster_halt(server *d)
{
    if (d->cluster)
        tms_lease_halt(d->cluster->lease);   /* it resigns first when asked to */
}

void tms__cluster_free(server *d)
{
    if (!d->cluster)
        return;
    tms_lease_free(d->cluster->lease);
    pthread_mutex_destroy(&d->cluster->lock);
    free(d->cluster);
    d->cluster = NULL;
}
