/* daemon_snapshots.c -- tmsd's running snapshots (issue 18; docs/design.md,
 * "Snapshots"): every --snapshot-interval, when at least --snapshot-records
 * records were added since the newest snapshot, the writer's state is
 * written as a snapshot by a forked child (tms_engine_snapshot_fork), so
 * that the next open, after a crash too, folds only the records after it.
 *
 * Never in an acknowledgement's way: the fork is made on the loop thread
 * between two groups, or on a replica between two applied batches (nothing
 * is being applied, so the child's copy of the state is the state after the
 * log's last record), and
 * the child encodes and writes at a lower priority while submits go on. A
 * libuv worker waits for the child. One child at a time; a stop waits for
 * it (the loop runs until the wait returns), then the engine's close writes
 * the snapshot of the last seq. */
#include "daemon_internal.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define DEFAULT_INTERVAL_MS 60000
#define DEFAULT_RECORDS 100000

struct snapshotter {
    server *d;
    uv_timer_t timer;
    uv_work_t work;               /* waits for the child */
    int timer_open, wanted;
    pid_t pid;                    /* the child writing one; 0 = none */
    uint64_t seq;                 /* ... of this seq */
    int status;                   /* its wait status (the worker's result); -1 when waitpid failed */
    uint64_t newest;              /* seq of the newest snapshot written (the open's start, at first) */
    uint64_t written, failed;
    uint64_t fork_us, fork_us_max;   /* what the last fork, and the longest, held the loop */
    char error[300];              /* why the last one failed, "" when it did not */
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void wait_work(uv_work_t *w)
{
    snapshotter *s = w->data;
    int st = 0;
    pid_t p;
    while ((p = waitpid(s->pid, &st, 0)) < 0 && errno == EINTR)
        ;
    s->status = p == s->pid ? st : -1;
}

static void wait_done(uv_work_t *w, int status)
{
    snapshotter *s = w->data;
    char q[700];
    (void)status;
    if (s->status == 0) {
        s->newest = s->seq;
        s->written++;
        s->error[0] = '\0';
        tms__daemon_log("info", "msg=\"snapshot written\" seq=%llu fork_us=%llu", (unsigned long long)s->seq,
                   (unsigned long long)s->fork_us);
    } else {
        s->failed++;
        if (s->status > 0 && WIFSIGNALED(s->status))
            snprintf(s->error, sizeof s->error, "the snapshot of seq %llu: its writer was killed by signal %d",
                     (unsigned long long)s->seq, WTERMSIG(s->status));
        else
            snprintf(s->error, sizeof s->error, "the snapshot of seq %llu was not written (its writer said why on "
                     "stderr)", (unsigned long long)s->seq);
        tms__daemon_log("error", "msg=\"%s\"", tms__log_quote(q, sizeof q, s->error));
    }
    s->pid = 0;
    tms__snapshots_between_groups(s->d);   /* asked for meanwhile */
}

uint64_t tms__snapshots_written(server *d)
{
    return d->snaps ? d->snaps->written : 0;
}

void tms__snapshots_between_groups(server *d)
{
    snapshotter *s = d->snaps;
    char why[300], q[700];
    uint64_t t0;
    if (!s || !s->wanted || s->pid || d->group_busy || tms__replica_busy(d) || d->stopping)
        return;
    s->wanted = 0;
    t0 = now_us();
    if (tms_engine_snapshot_fork(d->eng, &s->pid, &s->seq, why, sizeof why) != TMS_OK) {
        s->failed++;
        snprintf(s->error, sizeof s->error, "%s", why);
        tms__daemon_log("error", "msg=\"%s\"", tms__log_quote(q, sizeof q, why));
        return;
    }
    s->fork_us = now_us() - t0;
    if (s->fork_us > s->fork_us_max)
        s->fork_us_max = s->fork_us;
    if (!s->pid)
        return;   /* nothing new to write, or the projection or tree lag: the next tick */
    s->work.data = s;
    if (uv_queue_work(d->loop, &s->work, wait_work, wait_done) != 0) {   /* never: waited for here then */
        wait_work(&s->work);
        wait_done(&s->work, 0);
    }
}

static void on_tick(uv_timer_t *t)
{
    server *d = t->data;
    snapshotter *s = d->snaps;
    uint64_t records = d->opt.snapshot_records ? d->opt.snapshot_records : DEFAULT_RECORDS;
    if (tms_engine_last_seq(d->eng) >= s->newest + records)
        s->wanted = 1;
    tms__snapshots_between_groups(d);
}

void tms__snapshots_started_from(server *d)
{
    if (d->snaps)
        d->snaps->newest = tms_engine_snapshot_seq(d->eng);
}

int tms__snapshots_start(server *d, char *why, size_t whylen)
{
    snapshotter *s;
    uint64_t ms = d->opt.snapshot_interval_ms ? d->opt.snapshot_interval_ms : DEFAULT_INTERVAL_MS;
    if (d->opt.snapshot_interval_ms == TMS_SNAPSHOTS_OFF)
        return 0;   /* off: only the clean stop's */
    if (!(s = calloc(1, sizeof *s)))
        return snprintf(why, whylen, "out of memory"), -1;
    s->d = d;
    s->newest = tms_engine_snapshot_seq(d->eng);
    uv_timer_init(d->loop, &s->timer);
    s->timer.data = d;
    s->timer_open = 1;
    uv_timer_start(&s->timer, on_tick, ms, ms);
    d->snaps = s;
    return 0;
}

void tms__snapshots_close(server *d)
{
    snapshotter *s = d->snaps;
    if (s && s->timer_open) {
        uv_timer_stop(&s->timer);
        uv_close((uv_handle_t *)&s->timer, NULL);
        s->timer_open = 0;
    }
}

void tms__snapshots_free(server *d)
{
    free(d->snaps);   /* the loop ended: its timer is closed and no child is waited for */
    d->snaps = NULL;
}

json_t *tms__snapshots_status(server *d)
{
    snapshotter *s = d->snaps;
    if (!s)
        return NULL;
    return json_pack("{s:I,s:I,s:I,s:b,s:I,s:o}", "seq", (json_int_t)s->newest, "written", (json_int_t)s->written,
                     "failed", (json_int_t)s->failed, "running", s->pid != 0, "fork_us_max",
                     (json_int_t)s->fork_us_max, "error", s->error[0] ? json_string(s->error) : json_null());
}
