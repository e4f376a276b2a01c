/* daemon_group.c -- group commit in tmsd. Submits queue up on the loop
 * thread; when no group is in flight, everything queued becomes one group,
 * run on a libuv worker through tms_engine_submit (one log fdatasync, one
 * LMDB commit); its verdicts are sent only after that returns. Map growth
 * happens back on the loop thread, where no read transaction is open. */
#include "daemon_internal.h"
#include "tree.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_RETRIES 8   /* map growths for one group before giving up */

static void after_cb(uv_work_t *w, int status);

/* On the worker thread: only the engine and the group's fields (which the
 * loop thread does not touch while group_busy) are used here. */
static void work_cb(uv_work_t *w)
{
    server *d = w->data;
    uint64_t t0 = tms__now_ns();
    d->group_why[0] = '\0';
    d->group_err = d->group_n ? tms_engine_submit(d->eng, d->group_subs, d->group_n, d->group_why,
                                                  sizeof d->group_why)
                              : TMS_OK;
    d->group_durable = d->group_n ? tms_engine_durable(d->eng) : 1;
    d->group_ns = tms__now_ns() - t0;
}

/* Every refused command at level info, with its code: auditors and SREs
 * grep them (a rejection is a record; INVALID_COMMAND and E_DENIED are
 * refused before the log and have no seq). */
static void log_rejections(const job *j)
{
    char why[2 * TMS_MESSAGE_MAX], who[2 * TMS_ID_MAX + 2], tenant[2 * TMS_ID_MAX + 2], actor[2 * TMS_ID_MAX + 2];
    for (size_t i = 0; i < j->n; i++) {
        const tms_submission *s = &j->subs[i];
        const char *message, *code = tms__job_refusal(j, i, &message);
        if (!code)
            continue;
        /* a refused principal's command was parsed; a malformed one was not */
        const tms_cmd *c = s->cmd ? s->cmd : s->verdict.code == TMS_E_DENIED ? &j->cmds[i] : NULL;
        char seq[24] = "-";
        if (s->cmd)
            snprintf(seq, sizeof seq, "%llu", (unsigned long long)s->seq);
        tms__daemon_log("info", "msg=\"submit rejected\" seq=%s code=%s cmd=%s tenant=\"%s\" actor=\"%s\" "
                           "principal=\"%s\" peer=\"%s\" why=\"%s\"",
                   seq, code,
                   c ? tms_cmd_defs[c->type].name : "-",
                   tms__log_quote(tenant, sizeof tenant, c ? TMS_CMD_STR(c, TMS_F_TENANT) : ""),
                   tms__log_quote(actor, sizeof actor, c ? TMS_CMD_STR(c, TMS_F_ACTOR) : ""),
                   tms__log_quote(who, sizeof who, j->who->name), j->peer,
                   tms__log_quote(why, sizeof why, message));
    }
}

void tms__group_answer(server *d, job *jobs, tms_err err, const char *why)
{
    for (job *j = jobs, *next; j; j = next) {
        next = j->next;
        if (!err)
            log_rejections(j);
        j->done(d, j, err, why);   /* its transport answers and frees it */
    }
}

/* The group's verdicts into its jobs, then answered: now, or (--ack-after
 * stream) once the stream has stored every record up to the log's end. */
static void finish_group(server *d)
{
    size_t k = 0;
    for (job *j = d->group; j; j = j->next)
        for (size_t i = 0; d->group_subs && i < j->n; i++)
            if (j->subs[i].cmd)
                j->subs[i] = d->group_subs[k++];
    if (d->opt.ack_after_stream && !d->group_err && d->group_n)
        tms__stream_hold(d, d->group, tms_engine_last_seq(d->eng));
    else
        tms__group_answer(d, d->group, d->group_err, d->group_why);
    free(d->group_subs);
    d->group_subs = NULL;
    d->group = NULL;
    d->group_busy = 0;
}

/* Map full (or a projection left behind by a failed commit): grow and catch
 * up here on the loop thread, where no read transaction is open. If the
 * group's records are durable its verdicts stand; if not, it runs again. */
static int regrow(server *d)
{
    int durable = d->group_durable;
    tms_err err = tms_engine_grow(d->eng, d->group_why, sizeof d->group_why);
    tms__daemon_log("info", "msg=\"projection map grown\" result=%s durable=%d", tms_err_name(err), durable);
    if (err == TMS_OK && !durable && ++d->group_retries <= GROUP_RETRIES) {
        uv_queue_work(d->loop, &d->work, work_cb, after_cb);
        return 1;
    }
    d->group_err = err != TMS_OK ? err : durable ? TMS_OK : TMS_E_MAPFULL;
    if (err == TMS_E_FAILED) {
        d->failed_exit = 1;
        tms__daemon_begin_shutdown(d, "projection map could not grow");
    }
    return 0;
}

/* After a group (the worker is done: the engine may be read here): is the
 * projection writable? Say when that changes. */
static void note_read_only(server *d)
{
    char q[700];
    const char *ro = tms_engine_read_only(d->eng);
    if (ro && !d->read_only[0])
        tms__daemon_log("error", "msg=\"%s\"", tms__log_quote(q, sizeof q, ro));
    else if (!ro && d->read_only[0])
        tms__daemon_log("info", "msg=\"the projection is written again: writes resumed\"");
    snprintf(d->read_only, sizeof d->read_only, "%s", ro ? ro : "");
}

static void after_cb(uv_work_t *w, int status)
{
    char q[1100];
    server *d = w->data;
    (void)status;
    tms__hist_add(d->ctr.commit_ns_hist, &d->ctr.commit_ns_sum, d->group_ns, 10);
    if ((d->group_err == TMS_E_MAPFULL || d->group_err == TMS_E_BEHIND) && regrow(d))
        return;
    d->group_retries = 0;
    note_read_only(d);
    if (d->group_err)
        tms__daemon_log("error", "msg=\"group commit failed\" err=%s why=\"%s\"", tms_err_name(d->group_err),
                   tms__log_quote(q, sizeof q, d->group_why));
    d->ctr.groups++;
    d->ctr.group_cmds += d->group_n;
    tms__hist_add(d->ctr.group_size_hist, &d->ctr.group_size_sum, d->group_n, 0);
    finish_group(d);
    tms__seq_advanced(d);
    tms__group_maybe_start(d);
    tms__daemon_shutdown_check(d);
}

static void publish_durable(server *d)
{
    if (d->publisher)   /* never waited for: its thread reads the log */
        tms_publisher_durable(d->publisher, tms_engine_last_seq(d->eng));
}

/* Who hears that the log and the projection reached a new seq, in order:
 * the lookups waiting for a seq, the watchers, HTTP's waiting lookups, the
 * publisher (a leader's), and the snapshots (the one moment the state is
 * the log's, with no group applying). One list for both ways a seq
 * advances: a submit's group and a replica's applied batch. */
static void (*const on_advance[])(server *d) = {
    tms__fresh_wake, tms__watch_pump, tms__http_wake, publish_durable, tms__snapshots_between_groups,
};

void tms__tree_records_note(server *d)
{
    tms_tlog_range edge;   /* its size only: no hashing on the loop thread */
    tms_tree_edge(tms_engine_tree(d->eng), &edge);
    d->tree_records = edge.size;
}

void tms__seq_advanced(server *d)
{
    tms__tree_records_note(d);
    for (size_t i = 0; i < sizeof on_advance / sizeof on_advance[0]; i++)
        on_advance[i](d);
}

void tms__group_maybe_start(server *d)
{
    size_t n = 0, k = 0;
    char why[700];
    if (d->group_busy || !d->pending)
        return;
    d->group = d->pending;
    d->pending = NULL;
    d->pending_tail = &d->pending;
    if (tms__cluster_refuses(d, why, sizeof why)) {   /* deposed while they waited: refused before the log */
        job *jobs = d->group;
        d->group = NULL;
        tms__group_answer(d, jobs, TMS_E_NOT_LEADER, why);
        return;
    }
    for (job *j = d->group; j; j = j->next)
        for (size_t i = 0; i < j->n; i++)
            n += j->subs[i].cmd != NULL;
    d->group_subs = calloc(n ? n : 1, sizeof *d->group_subs);
    if (!d->group_subs) {
        d->group_err = TMS_E_NOMEM;
        snprintf(d->group_why, sizeof d->group_why, "out of memory");
        d->group_n = 0;
        d->group_busy = 1;
        finish_group(d);   /* answers every job with the error; the next submit tries again */
        return;
    }
    for (job *j = d->group; j; j = j->next)
        for (size_t i = 0; i < j->n; i++)
            if (j->subs[i].cmd)
                d->group_subs[k++] = j->subs[i];
    d->group_n = n;
    d->group_busy = 1;
    d->work.data = d;
    uv_queue_work(d->loop, &d->work, work_cb, after_cb);
}

/* The projection's screen the open put off (engine.h, defer_screen): judged on a worker as if it were a
 * group, so that no group, snapshot or map growth starts before it (submits queue meanwhile; a replica's
 * apply waits for it in the engine). A projection judged damaged or not the log's stops tmsd with exit 1:
 * its unit restarts it, and that open screens first and rebuilds. */
static void screen_work(uv_work_t *w)
{
    server *d = w->data;
    d->group_why[0] = '\0';
    d->group_err = tms_engine_screen_finish(d->eng, d->group_why, sizeof d->group_why);
}

static void screen_done(uv_work_t *w, int status)
{
    char q[1100];
    server *d = w->data;
    (void)status;
    d->group_busy = 0;
    if (d->group_err) {
        tms__daemon_log("error", "msg=\"%s\"", tms__log_quote(q, sizeof q, d->group_why));
        d->failed_exit = 1;
        tms__daemon_begin_shutdown(d, "projection-screen-failed");
    } else {
        tms__daemon_log("info", "msg=\"projection screened\" ms=%llu",
                        (unsigned long long)(tms_engine_screen_ns(d->eng) / 1000000));
    }
    tms__snapshots_started_from(d);   /* the fold put off may have started from another (docs/trust.md) */
    const char *report = tms_engine_open_report(d->eng);
    if (strlen(report) > d->report_said)   /* what the tail's fold after "started" found (a snapshot set aside) */
        tms__daemon_log("warn", "msg=\"%s\"", tms__log_quote(q, sizeof q, report + d->report_said +
                                                                (d->report_said ? 2 : 0)));
    tms__group_maybe_start(d);
    tms__snapshots_between_groups(d);
    tms__daemon_shutdown_check(d);
}

void tms__group_screen(server *d)
{
    if (!tms_engine_screen_pending(d->eng))
        return;
    d->group_busy = 1;
    d->work.data = d;
    uv_queue_work(d->loop, &d->work, screen_work, screen_done);
}
