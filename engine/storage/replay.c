/* replay.c -- fold the log into an in-memory state (see replay.h), and
 * rebuild a projection from a state. Each record is applied and committed
 * in memory; observers hear of it, with its effects, before the next one. */
#include "replay.h"
#include "history.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fold {
    tms_state *st;
    const tms_replay_opts *o;
    tms_replay_result *res;
    tms_record rec;
    int done;
    msgpack_zone *zone;   /* every record unpacked into it (NULL: out of memory at the start, each its own) */
} fold;

/* The record's observers, then the state commits it. */
static tms_err tell(fold *f, const tms_log_record *lr, const tms_verdict *v)
{
    size_t n;
    const tms_effect *effs = tms_state_effects(f->st, &n);
    tms_err err = TMS_OK;
    tms_rules_report_custom(f->o->sink, &f->rec, effs, n);
    if (f->o->on_effects) {
        tms_fold_event ev = {&f->rec, v, effs, n, lr->hash, f->st, lr};
        err = f->o->on_effects(f->o->ctx, &ev);
    }
    if (!err && f->o->on_record)
        f->o->on_record(f->o->ctx, &f->rec, v);
    tms_state_commit(f->st);
    return err;
}

/* With a tenant filter: 1 when the record is another tenant's (skip it). */
static int other_tenant(fold *f, const tms_log_record *lr)
{
    const char *t;
    size_t tlen;
    int64_t time;
    if (!f->o->tenant || !tms_record_peek(lr->payload, lr->len, &t, &tlen, &time))
        return 0;
    if (f->o->to_time && time > f->o->to_time) {
        f->done = 1;
        return 1;
    }
    return tlen != strlen(f->o->tenant) || memcmp(t, f->o->tenant, tlen);
}

/* What stopped the fold, and where (lr NULL: the seq after the last one applied, location unknown). */
static tms_err stop(fold *f, tms_fold_fault fault, const tms_log_record *lr, tms_err err)
{
    f->res->fault = fault;
    f->res->fault_seq = lr ? lr->seq : f->res->last_seq + 1;
    if (lr) {
        snprintf(f->res->fault_segment, sizeof f->res->fault_segment, "%s", lr->segment);
        f->res->fault_offset = lr->offset;
    }
    return err;
}

static void passed(fold *f, const tms_log_record *lr)
{
    f->res->last_seq = lr->seq;
    memcpy(f->res->head, lr->hash, TMS_HASH_LEN);
}

static tms_err fold_one(fold *f, const tms_log_record *lr)
{
    char why[256];
    tms_verdict v;
    tms_err err = f->o->on_frame ? f->o->on_frame(f->o->ctx, lr) : TMS_OK;
    if (err)
        return stop(f, TMS_FOLD_OBSERVER, lr, err);
    if (other_tenant(f, lr)) {
        if (!f->done)
            passed(f, lr);
        return TMS_OK;
    }
    if ((err = tms_record_decode_in(&f->rec, lr->payload, lr->len, f->zone, why, sizeof why))) {
        snprintf(f->res->msg, sizeof f->res->msg, "seq %llu (%s offset %llu): %s", (unsigned long long)lr->seq,
                 lr->segment, (unsigned long long)lr->offset, err == TMS_E_CORRUPT ? why : tms_strerror(err));
        return stop(f, err == TMS_E_CORRUPT ? TMS_FOLD_RECORD : TMS_FOLD_OTHER, lr, err);
    }
    if (f->o->to_time && f->rec.time > f->o->to_time) {
        f->done = 1;
        return TMS_OK;
    }
    if (f->o->tenant && strcmp(TMS_CMD_STR(&f->rec.cmd, TMS_F_TENANT), f->o->tenant)) {
        passed(f, lr);   /* laid out otherwise than the peek knows: decoded, still another tenant's */
        return TMS_OK;
    }
    f->rec.seq = lr->seq;
    if (f->o->before_apply && (err = f->o->before_apply(f->o->ctx, f->st, &f->rec)))
        return stop(f, TMS_FOLD_OBSERVER, lr, err);
    tms_state_mark mark = tms_state_mark_get(f->st);
    if ((err = tms_apply_record(f->st, &f->rec, &v))) {
        snprintf(f->res->msg, sizeof f->res->msg, "seq %llu: %s", (unsigned long long)lr->seq, tms_strerror(err));
        return stop(f, err == TMS_E_CORRUPT ? TMS_FOLD_REPLAY : TMS_FOLD_OTHER, lr, err);
    }
    if (v.code != f->rec.verdict) {
        snprintf(f->res->msg, sizeof f->res->msg, "seq %llu: replay gives %s but the log says %s",
                 (unsigned long long)lr->seq, tms_err_name(v.code), tms_err_name(f->rec.verdict));
        tms_state_rollback(f->st, mark);   /* the state stays at the last record that agreed */
        return stop(f, TMS_FOLD_REPLAY, lr, TMS_E_CORRUPT);
    }
    if ((err = tell(f, lr, &v)))
        return stop(f, TMS_FOLD_OBSERVER, lr, err);
    f->res->applied++;
    f->res->last_time = f->rec.time;
    passed(f, lr);
    return TMS_OK;
}

/* The log's iterator refused to go on (err): its report says where. */
static tms_err log_refused(fold *f, tms_log_iter *it, tms_err err)
{
    const tms_log_report *r = tms_log_iter_report(it);
    snprintf(f->res->msg, sizeof f->res->msg, "%s", r->msg[0] ? r->msg : tms_strerror(err));
    f->res->fault = err == TMS_E_CORRUPT ? TMS_FOLD_FRAME : TMS_FOLD_OTHER;
    f->res->fault_seq = r->bad_seq;
    snprintf(f->res->fault_segment, sizeof f->res->fault_segment, "%s", r->bad_segment);
    f->res->fault_offset = r->bad_offset;
    return err;
}

/* From a known state: the log's frame from_seq carries from_head; the fold
 * goes on after it. from_seq the log's base (a seeded directory: no frame
 * there): the base's head is the one to carry, the iterator starts after it. */
static tms_err fold_start(fold *f, tms_log_iter *it, uint64_t base, const uint8_t *base_head)
{
    tms_log_record lr;
    int has = 0;
    if (base && f->o->from_seq == base) {
        if (f->o->from_head && !memcmp(base_head, f->o->from_head, TMS_HASH_LEN)) {
            f->res->last_seq = base;
            memcpy(f->res->head, base_head, TMS_HASH_LEN);
            return TMS_OK;
        }
        snprintf(f->res->msg, sizeof f->res->msg, "the log's base (seq %llu) has another chain head than the one "
                 "the fold starts from (another log)", (unsigned long long)base);
        return stop(f, TMS_FOLD_REPLAY, NULL, TMS_E_CORRUPT);
    }
    tms_err err = tms_log_iter_next(it, &lr, &has);
    if (err)
        return log_refused(f, it, err);
    if (!has || lr.seq != f->o->from_seq || !f->o->from_head || memcmp(lr.hash, f->o->from_head, TMS_HASH_LEN)) {
        snprintf(f->res->msg, sizeof f->res->msg, "the log's chain head at seq %llu is not the one the fold starts "
                 "from (%s)", (unsigned long long)f->o->from_seq, has ? "another log" : "the log ends before it");
        return stop(f, TMS_FOLD_REPLAY, has ? &lr : NULL, TMS_E_CORRUPT);
    }
    passed(f, &lr);
    return TMS_OK;
}

tms_err tms_fold(tms_state *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res)
{
    static const tms_replay_opts none;
    fold f = {st, opts ? opts : &none, res, {0}, 0, msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)};
    tms_log_report rep;
    tms_log_iter *it = NULL;
    tms_log_record lr;
    int has = 1;
    memset(res, 0, sizeof *res);
    tms_cmd_init(&f.rec.cmd);
    int chain = f.o->chain;
    if (chain == TMS_LOG_ITER_CHAIN_ON_THREAD && f.o->tenant)
        chain = TMS_LOG_ITER_CHAIN_SHARED;   /* little to do per record here: share the hashing */
    uint64_t base = 0;
    uint8_t base_head[TMS_HASH_LEN];
    memset(&rep, 0, sizeof rep);
    tms_err err = f.o->from_seq ? tms_log_base(logdir, &base, base_head, rep.msg, sizeof rep.msg) : TMS_OK;
    if (!err)
        err = tms_log_iter_open_at(logdir, f.o->from_seq == 0 ? 1 : f.o->from_seq + (base == f.o->from_seq),
                                   chain, f.o->from_locator, &it, &rep);
    if (err) {
        snprintf(res->msg, sizeof res->msg, "%s", rep.msg[0] ? rep.msg : tms_strerror(err));
        res->fault = err == TMS_E_CORRUPT ? TMS_FOLD_FRAME : TMS_FOLD_OTHER;
        res->fault_seq = rep.bad_seq;
        snprintf(res->fault_segment, sizeof res->fault_segment, "%s", rep.bad_segment);
        res->fault_offset = rep.bad_offset;
    } else if (f.o->from_seq)
        err = fold_start(&f, it, base, base_head);
    while (!err && !f.done) {
        if (f.o->to_seq && res->last_seq >= f.o->to_seq)
            break;
        if ((err = tms_log_iter_next(it, &lr, &has)) != TMS_OK) {
            log_refused(&f, it, err);
            break;
        }
        if (!has)
            break;
        err = fold_one(&f, &lr);
    }
    if (err && !res->fault)
        res->fault = TMS_FOLD_OTHER;
    if (err && !res->msg[0])
        snprintf(res->msg, sizeof res->msg, "replay: %s", tms_strerror(err));
    if (it && !err && tms_log_iter_report(it)->torn) {
        res->torn = 1;
        snprintf(res->torn_msg, sizeof res->torn_msg, "%s", tms_log_iter_report(it)->msg);
    }
    if (it)
        tms_log_iter_close(it);
    tms_cmd_free(&f.rec.cmd);
    if (f.zone)
        msgpack_zone_free(f.zone);
    return err;
}

/* One transaction: empty, load, meta. TMS_E_MAPFULL leaves it untouched. */
static tms_err rebuild_once(tms_store *st, const tms_state *state, uint64_t seq, const uint8_t *head)
{
    tms_txn *tx;
    tms_err err = tms_txn_begin(st, 1, &tx);
    if (err)
        return err;
    if ((err = tms_store_clear(tx)) || (err = tms_store_load(tx, state)) ||   /* the as-of index stays */
        (seq && (err = tms_meta_put(tx, seq, head)))) {
        tms_txn_abort(tx);
        return err;
    }
    return tms_txn_commit(tx);
}

tms_err tms_projection_rebuild(tms_store *st, const tms_state *state, uint64_t seq, const uint8_t *head)
{
    tms_err err;
    while ((err = rebuild_once(st, state, seq, head)) == TMS_E_MAPFULL)
        if ((err = tms_store_grow(st)))
            return err;
    return err;
}

tms_err tms_replay(tms_store *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res)
{
    tms_state *state = tms_state_new();
    if (!state) {
        memset(res, 0, sizeof *res);
        snprintf(res->msg, sizeof res->msg, "replay: out of memory");
        return TMS_E_NOMEM;
    }
    tms_replay_opts o = {0};
    if (opts)
        o = *opts;
    if (!o.chain)
        o.chain = TMS_LOG_ITER_CHAIN_ON_THREAD;
    tms_err err = tms_fold(state, logdir, &o, res);
    if (!err && (err = tms_projection_rebuild(st, state, res->last_seq, res->head)))
        snprintf(res->msg, sizeof res->msg, "projection: %s", tms_strerror(err));
    tms_state_free(state);
    if (!err && !o.to_seq && !o.to_time && !o.tenant) {   /* the whole log: its whole history too */
        tms_replay_result hres;
        if ((err = tms_history_rebuild(st, logdir, &hres)))
            snprintf(res->msg, sizeof res->msg, "%s", hres.msg);
    }
    return err;
}
