/* engine.c -- the writer's side of a data directory: lock, recover, catch
 * up, and group-commit submits (see engine.h). The order of a commit is the
 * durability argument: rules into an open LMDB transaction, records staged
 * in the log, log fdatasync, then the LMDB commit, and only then answers. */
#include "engine.h"
#include "replay.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tms_engine {
    char dir[4096];
    int lock_fd;
    tms_log *log;
    tms_store *store;
    int64_t last_time;              /* time of the last record: times never go backwards */
    tms_engine_options opt;
    msgpack_sbuffer buf;            /* record encoding scratch */
    int behind;                     /* log synced, projection commit failed: catch up before more */
    int durable;                    /* the last submit's records reached the log (verdicts final) */
    int failed;                     /* the projection map could not be grown: no more writes */
    char report[600];
};

char *tms_data_path(char *buf, size_t len, const char *dir, const char *leaf)
{
    snprintf(buf, len, "%s/%s", dir, leaf);
    return buf;
}

static tms_err take_lock(tms_engine *e, char *why, size_t whylen)
{
    char path[4200], pid[32] = "";
    e->lock_fd = open(tms_data_path(path, sizeof path, e->dir, "lock"), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (e->lock_fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return TMS_E_IO;
    }
    if (flock(e->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t n = pread(e->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(why, whylen, "data directory %s is held by pid %s (tmsd or another writer); use --connect",
                 e->dir, pid[0] ? pid : "?");
        return TMS_E_LOCKED;
    }
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(e->lock_fd, 0) != 0 || pwrite(e->lock_fd, pid, (size_t)n, 0) != n) {
        snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
        return TMS_E_IO;
    }
    return TMS_OK;
}

/* Projection ahead of the log or on another chain: throw it away. */
static tms_err clear_projection(tms_engine *e)
{
    tms_txn tx;
    tms_err err = tms_txn_begin(e->store, 1, &tx);
    if (err)
        return err;
    if ((err = tms_store_clear(&tx))) {
        tms_txn_abort(&tx);
        return err;
    }
    return tms_txn_commit(&tx);
}

static tms_err catch_up(tms_engine *e, char *why, size_t whylen)
{
    char logdir[4200];
    tms_replay_result res;
    tms_data_path(logdir, sizeof logdir, e->dir, "log");
    tms_err err = tms_replay(e->store, logdir, NULL, &res);
    if (err == TMS_E_CORRUPT && res.diverged) {
        /* ahead of the log, or on another chain: a projection is only a cache,
         * so rebuild it from seq 1 -- and say so, since an acknowledged record
         * the projection saw is gone from the log, or the log was replaced */
        size_t used = strlen(e->report);
        snprintf(e->report + used, sizeof e->report - used, "%sprojection rebuilt from the log: %s",
                 used ? "; " : "", res.msg);
        if ((err = clear_projection(e)) == TMS_OK)
            err = tms_replay(e->store, logdir, NULL, &res);
    }
    if (err) {
        snprintf(why, whylen, "projection replay failed: %s", res.msg);
        return err;
    }
    if (res.last_seq != tms_log_last_seq(e->log)) {
        snprintf(why, whylen, "projection stopped at seq %llu, log ends at %llu",
                 (unsigned long long)res.last_seq, (unsigned long long)tms_log_last_seq(e->log));
        return TMS_E_CORRUPT;
    }
    e->last_time = res.last_time;
    return TMS_OK;
}

/* The time of the log's last record, so that new times never go backwards. */
static tms_err read_last_time(tms_engine *e)
{
    char logdir[4200];
    tms_log_iter *it;
    tms_log_record lr;
    tms_record rec;
    int has = 0;
    char why[256];
    uint64_t last = tms_log_last_seq(e->log);
    if (last == 0 || e->last_time)
        return TMS_OK;
    tms_err err = tms_log_iter_open(tms_data_path(logdir, sizeof logdir, e->dir, "log"), last, &it, NULL);
    if (err)
        return err;
    tms_cmd_init(&rec.cmd);
    err = tms_log_iter_next(it, &lr, &has);
    if (!err && has && (err = tms_record_decode(&rec, lr.payload, lr.len, why, sizeof why)) == TMS_OK)
        e->last_time = rec.time;
    tms_cmd_free(&rec.cmd);
    tms_log_iter_close(it);
    return err;
}

tms_err tms_engine_open(const char *dir, const tms_engine_options *opt, tms_engine **out, char *why, size_t whylen)
{
    char path[4200];
    tms_log_report rep;
    tms_err err = TMS_E_NOMEM;
    tms_engine *e = calloc(1, sizeof *e);
    *out = NULL;
    if (!e)
        goto fail;
    e->lock_fd = -1;
    msgpack_sbuffer_init(&e->buf);
    if (opt)
        e->opt = *opt;
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
        err = TMS_E_IO;
        goto fail;
    }
    if ((err = take_lock(e, why, whylen)))
        goto fail;
    tms_log_options lo = {e->opt.segment_bytes, 0, e->opt.io};
    if ((err = tms_log_open(tms_data_path(path, sizeof path, dir, "log"), &lo, &e->log, &rep))) {
        snprintf(why, whylen, "log: %s", rep.msg[0] ? rep.msg : tms_strerror(err));
        goto fail;
    }
    if (rep.torn)
        snprintf(e->report, sizeof e->report, "%s", rep.msg);
    if ((err = tms_store_open_sized(tms_data_path(path, sizeof path, dir, "proj"), TMS_STORE_WRITE,
                                     e->opt.map_bytes, &e->store, why, whylen)) ||
        (err = catch_up(e, why, whylen)) || (err = read_last_time(e)))
        goto fail;
    *out = e;
    return TMS_OK;
fail:
    tms_engine_close(e);
    return err;
}

void tms_engine_close(tms_engine *e)
{
    if (!e)
        return;
    tms_store_close(e->store);
    tms_log_close(e->log);
    if (e->lock_fd >= 0)
        close(e->lock_fd);   /* releases the flock */
    msgpack_sbuffer_destroy(&e->buf);
    free(e);
}

tms_store *tms_engine_store(tms_engine *e) { return e->store; }
uint64_t tms_engine_last_seq(const tms_engine *e) { return tms_log_last_seq(e->log); }
const char *tms_engine_open_report(const tms_engine *e) { return e->report; }

static int64_t next_time(tms_engine *e)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (now < e->last_time)
        now = e->last_time;
    return now;
}

/* A repeated request_id answers with the first verdict and appends nothing. */
static tms_err check_repeat(tms_txn *tx, tms_submission *s)
{
    const char *rid = s->cmd->f[TMS_F_REQUEST_ID].str;
    tms_err first;
    if (!rid)
        return TMS_NOT_FOUND;
    tms_err err = tms_request_get(tx, s->cmd->f[TMS_F_TENANT].str, rid, &s->seq, &first);
    if (err)
        return err;
    s->repeat = 1;
    s->verdict.code = first;
    snprintf(s->verdict.message, sizeof s->verdict.message, "%s",
             first ? "repeated request_id: the first verdict stands" : "");
    return TMS_OK;
}

/* Rules, encode, stage: one command into the open transaction and the log. */
static tms_err stage_one(tms_engine *e, tms_txn *tx, tms_submission *s, int64_t now)
{
    tms_record rec;
    tms_err err = check_repeat(tx, s);
    if (err != TMS_NOT_FOUND)
        return err;
    rec.seq = tms_log_last_seq(e->log) + 1;
    rec.time = now;
    rec.version = TMS_SCHEMA_VERSION;
    rec.cmd = *s->cmd;   /* shallow: the submission keeps ownership */
    rec.verdict = TMS_OK;
    if ((err = tms_apply_record(tx, &rec, NULL, &s->verdict)))
        return err;
    rec.verdict = s->verdict.code;
    if ((err = tms_record_encode(&rec, &e->buf)) ||
        (err = tms_log_append(e->log, e->buf.data, e->buf.size, &s->seq)))
        return err;
    return s->seq == rec.seq ? TMS_OK : TMS_E_CORRUPT;   /* the log and the record must agree on seq */
}

/* Stage the whole batch in one transaction; on failure nothing is staged. */
static tms_err stage_batch(tms_engine *e, tms_txn *tx, tms_submission *subs, size_t n)
{
    int64_t now = next_time(e);
    tms_err err = tms_txn_begin(e->store, 1, tx);
    for (size_t i = 0; i < n && !err; i++) {
        subs[i].repeat = 0;
        subs[i].seq = 0;
        err = stage_one(e, tx, &subs[i], now);
    }
    if (!err && tms_log_staged(e->log))
        err = tms_meta_put(tx, tms_log_last_seq(e->log), tms_log_head(e->log));
    if (err) {
        tms_txn_abort(tx);
        tms_log_discard(e->log);
        return err;
    }
    e->last_time = now;
    return TMS_OK;
}

tms_err tms_engine_submit(tms_engine *e, tms_submission *subs, size_t n, char *why, size_t whylen)
{
    tms_txn tx;
    tms_err err;
    why[0] = '\0';
    e->durable = 0;
    if (e->failed) {
        snprintf(why, whylen, "the engine stopped accepting writes after a failed map resize: restart it");
        return TMS_E_FAILED;
    }
    if (e->behind && e->opt.defer_growth)
        return TMS_E_BEHIND;   /* the caller must tms_engine_grow (which catches up) where that is safe */
    if (e->behind && (err = catch_up(e, why, whylen)) == TMS_OK)
        e->behind = 0;
    if (e->behind)
        return err ? err : TMS_E_STORE;
    while ((err = stage_batch(e, &tx, subs, n)) == TMS_E_MAPFULL && !e->opt.defer_growth) {
        if ((err = tms_engine_grow(e, why, whylen)))   /* map full: grow and run the batch again */
            return err;
    }
    if (err) {
        snprintf(why, whylen, "submit: %s", tms_strerror(err));
        return err;
    }
    if ((err = tms_log_sync(e->log))) {
        tms_txn_abort(&tx);
        snprintf(why, whylen, "log write failed: %s%s", tms_strerror(err),
                 err == TMS_E_FAILED ? " (fsync error: restart the engine)" : "; nothing was logged");
        return err;
    }
    e->durable = 1;
    if (e->opt.crash_after_log_sync) {
        tms_txn_abort(&tx);
        snprintf(why, whylen, "simulated crash after the log sync");
        return TMS_E_IO;
    }
    if ((err = tms_txn_commit(&tx)) == TMS_OK)
        return TMS_OK;
    e->behind = 1;   /* the records are durable: the projection must replay them */
    if (err == TMS_E_MAPFULL && !e->opt.defer_growth && (err = tms_engine_grow(e, why, whylen)) == TMS_OK)
        return TMS_OK;
    if (!why[0])
        snprintf(why, whylen, "projection commit failed: %s (the log holds the batch)", tms_strerror(err));
    return err;
}

tms_err tms_engine_grow(tms_engine *e, char *why, size_t whylen)
{
    tms_err err = tms_store_grow(e->store);
    if (err) {   /* a failed resize can leave the environment unmapped: never touch it again */
        e->failed = 1;
        snprintf(why, whylen, "cannot grow the projection map: %s; stopped accepting writes", tms_strerror(err));
        return TMS_E_FAILED;
    }
    if (e->behind && (err = catch_up(e, why, whylen)) == TMS_OK)
        e->behind = 0;
    return err;
}

int tms_engine_behind(const tms_engine *e)
{
    return e->behind;
}

int tms_engine_durable(const tms_engine *e)
{
    return e->durable;
}
