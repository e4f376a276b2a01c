/* engine_write.c -- the writer's commits (engine.h): group-committed
 * submits and replicated records. The order of a commit is the durability
 * argument: rules on the in-memory state, records staged in the log, the
 * group's effects into an open LMDB transaction, one log fdatasync, then the
 * (unsynced) LMDB commit, and only then answers. A failure before the sync
 * rolls the state back; after it, the log holds the group and the
 * projection catches up from the state's effects (catch_up) before any
 * answer. */
#include "engine_internal.h"
#include "replay.h"
#include "history.h"
#include "log.h"
#include "record.h"
#include "datadir.h"
#include "tree.h"
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static tms_err catch_up(tms_engine *e, char *why, size_t whylen);
static void note_behind(tms_engine *e, tms_err err);

static int64_t next_time(tms_engine *e)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (now < e->last_time)
        now = e->last_time;
    return now;
}

/* A repeated request_id answers with the first verdict and appends nothing;
 * if the command (or its actor) differs from the first one's, it is refused
 * with REQUEST_ID_REUSED (issue 8, item 9): a retry must be the same
 * command, as payment APIs refuse an idempotency key with other parameters.
 * 1 when answered here, 0 when the command goes on, -1 (err set) on failure. */
static int check_repeat(tms_engine *e, tms_submission *s, tms_err *err)
{
    const char *rid = s->cmd->f[TMS_F_REQUEST_ID].str;
    tms_request_seen first;
    uint8_t digest[TMS_CMD_DIGEST_LEN];
    if (!rid || !tms_state_request(e->state, s->cmd->f[TMS_F_TENANT].str, rid, &first))
        return 0;
    if ((*err = tms_cmd_digest(s->cmd, digest)))
        return -1;
    s->repeat = 1;
    s->seq = first.seq;
    s->verdict.code = first.verdict;
    snprintf(s->verdict.message, sizeof s->verdict.message, "%s",
             first.verdict ? "repeated request_id: the first verdict stands" : "");
    if (memcmp(digest, first.digest, sizeof digest)) {
        s->verdict.code = TMS_REQUEST_ID_REUSED;
        snprintf(s->verdict.message, sizeof s->verdict.message,
                 "request_id %.128s was used by seq %llu for another command or actor: nothing was done", rid,
                 (unsigned long long)first.seq);
    }
    return 1;
}

/* Rules, encode, stage: one command into the state and the log. */
static tms_err stage_one(tms_engine *e, tms_submission *s, int64_t now)
{
    tms_record rec;
    tms_err err = TMS_OK;
    int repeat = check_repeat(e, s, &err);
    if (repeat)
        return repeat > 0 ? TMS_OK : err;
    rec.seq = tms_log_last_seq(e->log) + 1;
    snprintf(rec.principal, sizeof rec.principal, "%s", s->principal ? s->principal : "");
    snprintf(rec.peer, sizeof rec.peer, "%s", s->peer ? s->peer : "");
    rec.time = now;
    rec.version = TMS_SCHEMA_VERSION;
    rec.cmd = *s->cmd;   /* shallow: the submission keeps ownership */
    rec.verdict = TMS_OK;
    if ((err = tms_apply_record(e->state, &rec, &s->verdict)))
        return err;
    rec.verdict = s->verdict.code;
    if ((err = tms_record_encode(&rec, &e->buf)) ||
        (err = tms_log_append(e->log, e->buf.data, e->buf.size, &s->seq)) ||
        (err = tms_tree_stage(e->tree, e->buf.data, e->buf.size)))
        return err;
    return s->seq == rec.seq ? TMS_OK : TMS_E_CORRUPT;   /* the log and the record must agree on seq */
}

/* The group's writes into the projection, in a new transaction *tx. */
static tms_err write_group(tms_engine *e, tms_txn **tx)
{
    size_t n;
    const tms_effect *effs = tms_state_effects(e->state, &n);
    uint64_t last = tms_log_last_seq(e->log);
    tms_err err = tms_txn_begin(e->store, 1, tx);
    if (!err && !(err = tms_store_apply_effects(*tx, e->state, effs, n)) &&
        !(err = tms_history_apply(*tx, &e->history)) && !(err = tms_meta_put(*tx, last, tms_log_head(e->log))))
        err = tms_history_mark(*tx, last);
    return err;
}

/* Stage the whole batch: the state, the log, and the group's effects in
 * one LMDB transaction, left in *tx (NULL when nothing was logged, e.g.
 * only repeats); on failure nothing is staged anywhere and *tx is NULL. */
static tms_err stage_batch(tms_engine *e, tms_txn **tx, tms_submission *subs, size_t n)
{
    int64_t now = next_time(e);
    size_t neff, before;
    tms_state_mark mark = tms_state_mark_get(e->state);
    tms_err err = TMS_OK;
    *tx = NULL;
    tms_history_batch_clear(&e->history);
    for (size_t i = 0; i < n && !err; i++) {
        subs[i].repeat = 0;
        subs[i].seq = 0;
        tms_state_effects(e->state, &before);
        if ((err = stage_one(e, &subs[i], now)) || subs[i].repeat)
            continue;
        const tms_effect *effs = tms_state_effects(e->state, &neff);   /* this record's: [before, neff) */
        err = tms_history_record(&e->history, e->state, subs[i].seq, now, effs + before, neff - before);
    }
    if (!err && tms_log_staged(e->log))
        err = write_group(e, tx);
    if (err) {
        tms_txn_abort(*tx);
        *tx = NULL;
        tms_state_rollback(e->state, mark);
        tms_log_discard(e->log);
        tms_tree_discard(e->tree);
        return err;
    }
    if (tms_log_staged(e->log)) {   /* a batch of repeats logs nothing: no record has its time */
        e->time_before = e->last_time;
        e->last_time = now;
    }
    return TMS_OK;
}

/* The log refused the group: nothing of it stays. */
static void unstage(tms_engine *e, tms_txn *tx)
{
    tms_state_mark none = {0, 0};
    e->last_time = e->time_before;   /* the records of that time were never logged */
    tms_tree_discard(e->tree);
    tms_txn_abort(tx);
    tms_state_rollback(e->state, none);   /* the state was committed before the group */
}

/* The group staged in the state, the log and tx becomes durable: log
 * fdatasync, then the projection commit (with the group's frame locator).
 * After a failed sync nothing of the group stays; after a failed commit the
 * log holds it and the projection catches up later (note_behind). */
static tms_err make_durable(tms_engine *e, tms_txn *tx, char *why, size_t whylen)
{
    tms_err err;
    if ((err = tms_log_sync(e->log))) {
        unstage(e, tx);
        snprintf(why, whylen, "log write failed: %s%s", tms_strerror(err),
                 err == TMS_E_FAILED ? " (fsync error: restart the engine)" : "; nothing was logged");
        return err;
    }
    e->durable = 1;
    memcpy(e->head, tms_log_head(e->log), TMS_HASH_LEN);
    tms__engine_tree_durable(e);
    if (e->opt.crash_after_log_sync) {
        unstage(e, tx);   /* as if the process died here: the log has it, memory and projection do not */
        e->failed = 1;
        snprintf(why, whylen, "simulated crash after the log sync");
        return TMS_E_IO;
    }
    uint64_t first, seg, off;   /* where the group went: a locator for lookups that read a record (explain) */
    if (tx && tms_log_synced_at(e->log, &first, &seg, &off) && (err = tms_history_locate(tx, first, seg, off)))
        tms_txn_abort(tx);      /* the map is full, most likely: as if the commit had failed */
    else
        err = tx ? tms_txn_commit(tx) : TMS_OK;
    if (err == TMS_OK) {
        tms_state_commit(e->state);
        return TMS_OK;
    }
    /* the log holds the group; the projection missed it: the group's effects
     * stay in the state (uncommitted, never rolled back) until catch_up writes
     * them; no answer before that (an acknowledged command is in the projection) */
    note_behind(e, err);
    err = e->behind;
    if (err == TMS_E_MAPFULL && !e->opt.defer_growth && (err = tms_engine_grow(e, why, whylen)) == TMS_OK)
        return TMS_OK;
    if (!why[0])
        snprintf(why, whylen, "projection commit failed: %s (the log holds the batch); %s", tms_strerror(err),
                 e->read_only[0] ? e->read_only : "retrying");
    return err;
}

tms_err tms_engine_submit(tms_engine *e, tms_submission *subs, size_t n, char *why, size_t whylen)
{
    tms_txn *tx = NULL;
    tms_err err = TMS_OK;
    why[0] = '\0';
    e->durable = 0;
    tms_engine_screen_finish(e, why, whylen);   /* the projection read before a write (engine_screen.c) */
    if (e->failed) {
        snprintf(why, whylen, "%s", e->failed_why[0] ? e->failed_why
                                                      : "the engine stopped accepting writes after a failed map "
                                                        "resize: restart it");
        return TMS_E_FAILED;
    }
    if (e->behind == TMS_E_MAPFULL && e->opt.defer_growth) {   /* the caller must tms_engine_grow (which catches
                                                                  up) where that is safe */
        snprintf(why, whylen, "the projection map is full: it must grow before more commands");
        return TMS_E_BEHIND;
    }
    if (e->behind && (err = catch_up(e, why, whylen)) == TMS_E_MAPFULL && !e->opt.defer_growth)
        err = tms_engine_grow(e, why, whylen);
    if (e->behind && err)   /* a full disk may have room again: this submit will tell */
        return err == TMS_E_MAPFULL && e->opt.defer_growth ? TMS_E_BEHIND : err;
    for (size_t i = 0; i < n && e->lazy.unloaded; i++)   /* the commands' tenants decoded first (engine_lazy.c) */
        if ((err = tms__lazy_need(e, subs[i].cmd->f[TMS_F_TENANT].str, why, whylen)))
            return err;
    while ((err = stage_batch(e, &tx, subs, n)) == TMS_E_MAPFULL && !e->opt.defer_growth) {
        if ((err = tms_engine_grow(e, why, whylen)))   /* map full: grow and run the batch again */
            return err;
    }
    if (err) {
        snprintf(why, whylen, "submit: %s", tms_strerror(err));
        return err;
    }
    return make_durable(e, tx, why, whylen);
}

/* ---- replicas: records from the leader ---------------------------------------------- */

/* One frame from the leader: checked, applied and staged with the same
 * payload, so this log's chain is the leader's. */
static tms_err stage_replicated(tms_engine *e, tms_record *rec, const uint8_t *f, size_t flen, char *why,
                                size_t whylen)
{
    tms_verdict v;
    uint64_t seq = tms_log_last_seq(e->log) + 1;
    size_t len;
    const uint8_t *payload = tms_log_frame_payload(f, flen, &len);
    char what[200];
    /* staged first: the log checks the frame, computes the chain hash (once),
       which must be the leader's; whatever fails below, the caller discards the group */
    tms_err err = tms_log_append_frame(e->log, f, flen, why, whylen);
    if (err || (err = tms_tree_stage(e->tree, payload, len)))
        return err;
    err = tms_record_decode(rec, payload, len, what, sizeof what);
    if (err) {
        snprintf(why, whylen, "seq %llu does not decode: %s", (unsigned long long)seq, what);
        return err;
    }
    rec->seq = seq;
    size_t before, n;
    if ((err = tms__lazy_need(e, TMS_CMD_STR(&rec->cmd, TMS_F_TENANT), why, whylen)))
        return err;   /* its tenant decoded first (engine_lazy.c; the state's uncommitted changes stay) */
    tms_state_effects(e->state, &before);
    if ((err = tms_apply_record(e->state, rec, &v)))
        return err;
    if (v.code != rec->verdict) {
        snprintf(why, whylen, "seq %llu: replay gives %s but the leader logged %s", (unsigned long long)seq,
                 tms_err_name(v.code), tms_err_name(rec->verdict));
        return TMS_E_CORRUPT;
    }
    const tms_effect *effs = tms_state_effects(e->state, &n);
    if (rec->time > e->last_time)
        e->last_time = rec->time;
    return tms_history_record(&e->history, e->state, seq, rec->time, effs + before, n - before);
}

tms_err tms_engine_replicate(tms_engine *e, const uint8_t *const *frames, const size_t *lens, size_t n, char *why,
                             size_t whylen)
{
    tms_engine_screen_finish(e, why, whylen);   /* the projection read before a write (engine_screen.c) */
    tms_record rec;
    tms_txn *tx = NULL;
    tms_err err = TMS_OK;
    tms_state_mark mark = tms_state_mark_get(e->state);
    int64_t last_time = e->last_time;
    e->time_before = last_time;   /* what a failed sync restores (unstage) */
    why[0] = '\0';
    e->durable = 0;
    if (e->failed || e->behind) {
        snprintf(why, whylen, "the engine cannot write (%s)",
                 e->failed ? e->failed_why[0] ? e->failed_why : "failed" : "the projection is behind");
        return e->failed ? TMS_E_FAILED : e->behind;
    }
    tms_cmd_init(&rec.cmd);
    tms_history_batch_clear(&e->history);
    for (size_t i = 0; i < n && !err; i++)
        err = stage_replicated(e, &rec, frames[i], lens[i], why, whylen);
    tms_cmd_free(&rec.cmd);
    if (!err && n)
        err = write_group(e, &tx);
    if (err) {   /* nothing of the group stays */
        tms_txn_abort(tx);
        tms_state_rollback(e->state, mark);
        tms_log_discard(e->log);
        tms_tree_discard(e->tree);
        e->last_time = last_time;
        if (!why[0])
            snprintf(why, whylen, "replicate: %s", tms_strerror(err));
        return err;
    }
    return n ? make_durable(e, tx, why, whylen) : TMS_OK;
}

#define FULL_DISK (256u * 1024u)   /* below this much free space, an EIO from LMDB is a full disk */

static void note_behind(tms_engine *e, tms_err err)
{
    if (err == TMS_E_IO && tms_store_space_left(e->store) < FULL_DISK)
        err = TMS_E_NOSPACE;   /* LMDB says EIO for a short write: the disk is what is full */
    e->behind = err;
    if (err == TMS_E_MAPFULL)
        e->read_only[0] = '\0';   /* not read-only: the map grows and the group goes on */
    else
        snprintf(e->read_only, sizeof e->read_only, "read-only: the projection cannot be written (%s); lookups go "
                 "on, writes resume when it can be", tms_strerror(err));
}

/* The projection missed a durable group: write the effects the state kept. */
static tms_err catch_up(tms_engine *e, char *why, size_t whylen)
{
    size_t n;
    const tms_effect *effs = tms_state_effects(e->state, &n);
    tms_txn *tx = NULL;
    tms_err err = tms_txn_begin(e->store, 1, &tx);
    if (!err && !(err = tms_store_apply_effects(tx, e->state, effs, n)) &&
        !(err = tms_history_apply(tx, &e->history)) && !(err = tms_meta_put(tx, tms_log_last_seq(e->log), e->head)) &&
        !(err = tms_history_mark(tx, tms_log_last_seq(e->log)))) {
        err = tms_txn_commit(tx);
        tx = NULL;
    }
    tms_txn_abort(tx);
    if (err) {
        note_behind(e, err);
        snprintf(why, whylen, "%s", e->read_only[0] ? e->read_only : "the projection map is full");
        return e->behind;
    }
    tms_state_commit(e->state);
    e->behind = 0;
    e->read_only[0] = '\0';
    return TMS_OK;
}

tms_err tms_engine_grow(tms_engine *e, char *why, size_t whylen)
{
    if (tms_engine_screen_finish(e, why, whylen))
        return TMS_E_FAILED;
    for (;;) {   /* doubling until the kept effects fit: bounded by the largest map */
        tms_err err = !e->behind || e->behind == TMS_E_MAPFULL ? tms_store_grow(e->store) : TMS_OK;
        if (err == TMS_E_NOSPACE) {   /* no room for a bigger map, the map untouched: read-only until there is */
            note_behind(e, err);
            snprintf(why, whylen, "%s", e->read_only);
            return err;
        }
        if (err) {   /* a failed resize can leave the environment unmapped: never touch it again */
            e->failed = 1;
            snprintf(why, whylen, "cannot grow the projection map: %s; stopped accepting writes", tms_strerror(err));
            return TMS_E_FAILED;
        }
        if (!e->behind)
            return TMS_OK;
        if ((err = catch_up(e, why, whylen)) != TMS_E_MAPFULL)
            return err;
    }
}

int tms_engine_behind(const tms_engine *e)
{
    return e->behind != TMS_OK;
}

const char *tms_engine_read_only(const tms_engine *e)
{
    return e->read_only[0] ? e->read_only : NULL;
}

int tms_engine_durable(const tms_engine *e)
{
    return e->durable;
}
