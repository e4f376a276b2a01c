/* replay.c -- rebuild projection state from the log (see replay.h).
 * Records are applied in large write transactions (one commit, one fsync per
 * batch); the projection's meta moves with each batch, so an interrupted
 * replay resumes where it stopped. Observers hear of each record once, even
 * when a full map makes a batch run twice. */
#include "replay.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A copied custom event, held until its record has been applied whole. */
typedef struct held_event {
    tms_custom_event ev;
    char tenant[TMS_ID_MAX + 1], id[TMS_ID_MAX + 1], role[TMS_ID_MAX + 1], actor[TMS_ID_MAX + 1], cause[24];
} held_event;

typedef struct replay_state {
    tms_store *st;
    const tms_replay_opts *o;
    tms_replay_result *res;
    tms_log_iter *it;
    tms_record rec;
    tms_txn tx;
    int done;
    uint64_t reported;          /* observers have heard of every record up to this seq */
    held_event *held;           /* the current record's events */
    size_t nheld, capheld;
    int held_failed;            /* out of memory while holding: reported as TMS_E_NOMEM */
} replay_state;

static void hold_event(void *ctx, const tms_record *rec, const tms_custom_event *ev)
{
    replay_state *s = ctx;
    (void)rec;
    if (s->nheld == s->capheld) {
        size_t cap = s->capheld ? 2 * s->capheld : 16;
        held_event *nh = realloc(s->held, cap * sizeof *nh);
        if (!nh) {
            s->held_failed = 1;
            return;
        }
        s->held = nh;
        s->capheld = cap;
    }
    held_event *h = &s->held[s->nheld++];
    snprintf(h->tenant, sizeof h->tenant, "%s", ev->tenant);
    snprintf(h->id, sizeof h->id, "%s", ev->id);
    snprintf(h->role, sizeof h->role, "%s", ev->role);
    snprintf(h->actor, sizeof h->actor, "%s", ev->actor);
    snprintf(h->cause, sizeof h->cause, "%s", ev->cause);
    h->ev = *ev;
}

/* The record applied whole: tell the observers, once per seq. */
static void report_record(replay_state *s, const tms_verdict *v)
{
    const tms_rules_sink *sink = s->o->sink;
    if (s->rec.seq > s->reported) {
        for (size_t i = 0; sink && sink->custom && i < s->nheld; i++) {
            held_event *h = &s->held[i];
            h->ev.tenant = h->tenant;
            h->ev.id = h->id;
            h->ev.role = h->role;
            h->ev.actor = h->actor;
            h->ev.cause = h->cause;
            sink->custom(sink->ctx, &s->rec, &h->ev);
        }
        if (s->o->on_record)
            s->o->on_record(s->o->ctx, &s->rec, v);
        s->reported = s->rec.seq;
    }
    s->nheld = 0;
}

tms_err tms_apply_record(tms_txn *tx, const tms_record *rec, const tms_rules_sink *sink, tms_verdict *v)
{
    const char *rid = rec->cmd.f[TMS_F_REQUEST_ID].str;
    tms_err err = tms_rules_apply(tx, rec, sink, v);
    if (err || !rid)
        return err;
    return tms_request_put(tx, rec->cmd.f[TMS_F_TENANT].str, rid, rec->seq, v->code);
}

/* Check that the log continues the projection: the stored head at meta seq. */
static tms_err check_start(replay_state *s, const char *logdir, uint64_t seq, const uint8_t *head)
{
    tms_log_report rep;
    tms_log_record lr;
    int has = 0;
    tms_err err = tms_log_iter_open(logdir, seq ? seq : 1, &s->it, &rep);
    if (err) {
        snprintf(s->res->msg, sizeof s->res->msg, "%s", rep.msg[0] ? rep.msg : tms_strerror(err));
        return err;
    }
    if (seq == 0)
        return TMS_OK;
    if ((err = tms_log_iter_next(s->it, &lr, &has)) != TMS_OK) {
        snprintf(s->res->msg, sizeof s->res->msg, "%s", tms_log_iter_report(s->it)->msg);
        return err;
    }
    if (!has || lr.seq != seq || memcmp(lr.hash, head, TMS_HASH_LEN)) {
        s->res->diverged = 1;
        snprintf(s->res->msg, sizeof s->res->msg,
                 "projection at seq %llu does not match the log (%s)", (unsigned long long)seq,
                 has ? "different chain head" : "log is shorter");
        return TMS_E_CORRUPT;
    }
    return TMS_OK;
}

static tms_err apply_one(replay_state *s, const tms_log_record *lr)
{
    char why[256];
    tms_verdict v;
    tms_err err = tms_record_decode(&s->rec, lr->payload, lr->len, why, sizeof why);
    if (err) {
        snprintf(s->res->msg, sizeof s->res->msg, "seq %llu (%s offset %llu): %s", (unsigned long long)lr->seq,
                 lr->segment, (unsigned long long)lr->offset, err == TMS_E_CORRUPT ? why : tms_strerror(err));
        return err;
    }
    if (s->o->to_time && s->rec.time > s->o->to_time) {
        s->done = 1;
        return TMS_OK;
    }
    s->rec.seq = lr->seq;
    tms_rules_sink holder = {hold_event, s};
    s->nheld = 0;
    if ((err = tms_apply_record(&s->tx, &s->rec, s->o->sink ? &holder : NULL, &v)))
        return err;
    if (s->held_failed)
        return TMS_E_NOMEM;
    if (v.code != s->rec.verdict) {
        snprintf(s->res->msg, sizeof s->res->msg, "seq %llu: replay gives %s but the log says %s",
                 (unsigned long long)lr->seq, tms_err_name(v.code), tms_err_name(s->rec.verdict));
        return TMS_E_CORRUPT;
    }
    if (lr->seq > s->reported)
        s->res->applied++;
    report_record(s, &v);
    s->res->last_seq = lr->seq;
    s->res->last_time = s->rec.time;
    memcpy(s->res->head, lr->hash, TMS_HASH_LEN);
    return TMS_OK;
}

/* One write transaction's worth of records. *more = 0 at the end. */
static tms_err replay_batch(replay_state *s, size_t batch, int *more)
{
    tms_log_record lr;
    int has = 1;
    size_t n = 0;
    tms_err err = tms_txn_begin(s->st, 1, &s->tx);
    if (err)
        return err;
    *more = 0;
    while (n < batch && !s->done) {
        if (s->o->to_seq && s->res->last_seq >= s->o->to_seq)
            break;
        if ((err = tms_log_iter_next(s->it, &lr, &has)) != TMS_OK) {
            snprintf(s->res->msg, sizeof s->res->msg, "%s", tms_log_iter_report(s->it)->msg);
            goto fail;
        }
        if (!has)
            break;
        if ((err = apply_one(s, &lr)))
            goto fail;
        n++;
    }
    *more = has && n == batch && !s->done;
    if (n && (err = tms_meta_put(&s->tx, s->res->last_seq, s->res->head)))
        goto fail;
    return tms_txn_commit(&s->tx);
fail:
    tms_txn_abort(&s->tx);
    return err;
}

tms_err tms_replay(tms_store *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res)
{
    static const tms_replay_opts none;
    replay_state s = {st, opts ? opts : &none, res, NULL, {0}, {0}, 0};
    int more = 1;
    tms_err err;
    memset(res, 0, sizeof *res);
    tms_cmd_init(&s.rec.cmd);
    if ((err = tms_txn_begin(st, 0, &s.tx)))
        return err;
    err = tms_meta_get(&s.tx, &res->last_seq, res->head);
    tms_txn_abort(&s.tx);
    if (err || (err = check_start(&s, logdir, res->last_seq, res->head)))
        goto done;
    while (more && err == TMS_OK) {
        err = replay_batch(&s, s.o->batch ? s.o->batch : 10000, &more);
        if (err == TMS_E_MAPFULL && (err = tms_store_grow(st)) == TMS_OK) {
            /* map full: the batch was rolled back; reopen the log where the projection is */
            uint64_t seq;
            uint8_t head[TMS_HASH_LEN];
            if (s.it)
                tms_log_iter_close(s.it);
            s.it = NULL;
            if ((err = tms_txn_begin(st, 0, &s.tx)))
                break;
            err = tms_meta_get(&s.tx, &seq, head);
            tms_txn_abort(&s.tx);
            res->last_seq = seq;
            memcpy(res->head, head, TMS_HASH_LEN);
            more = 1;
            if (!err)
                err = check_start(&s, logdir, seq, head);
        }
    }
done:
    if (err && !res->msg[0])
        snprintf(res->msg, sizeof res->msg, "replay: %s", tms_strerror(err));
    if (s.it)
        tms_log_iter_close(s.it);
    tms_cmd_free(&s.rec.cmd);
    free(s.held);
    return err;
}
