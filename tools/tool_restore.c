/* tool_restore.c -- the work of tms-restore (see tool_restore.h): the
 * records up to the point are copied into NEWDIR/log through the log API
 * (same payloads and seqs give the same hash chain, checked against the
 * source), NEWDIR/proj is rebuilt by replaying the copy and checked. The
 * source is only read, through the engine's checking iterator. */
#include "tool_restore.h"
#include "engine.h"
#include "tool_replay.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYNC_RECORDS 4096
#define SYNC_BYTES (8u << 20)

/* 1 if dir exists and holds anything, 0 if empty, -1 if absent. */
static int dir_state(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int full = 0;
    if (!d)
        return -1;
    while (!full && (e = readdir(d)) != NULL)
        full = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return full;
}

/* Refuse a target inside the source (that would modify DIR). */
static int inside(const char *dst, const char *src)
{
    char rs[PATH_MAX], rd[PATH_MAX];
    if (!realpath(src, rs) || !realpath(dst, rd))
        return 0;
    size_t n = strlen(rs);
    return !strncmp(rd, rs, n) && (rd[n] == '/' || rd[n] == '\0');
}

int tool_restore_prepare(tool_restore *r)
{
    if (tool_log_dir(r->src, r->srclog, sizeof r->srclog))
        return TOOL_ERROR;
    return tool_restore_target(r);
}

int tool_restore_target(tool_restore *r)
{
    struct stat st;
    int state = dir_state(r->dst);
    if (state == 1)
        return tool_fail("%s is not empty: write only into an empty or new directory", r->dst);
    if (state < 0 && stat(r->dst, &st) == 0)
        return tool_fail("%s exists and is not a directory", r->dst);
    if (state < 0) {
        if (mkdir(r->dst, 0750) != 0)
            return tool_fail("cannot create %s: %s", r->dst, strerror(errno));
        r->created_dst = 1;
    }
    if (inside(r->dst, r->src)) {
        int rc = tool_fail("%s is inside the source data directory %s", r->dst, r->src);
        if (r->created_dst)
            rmdir(r->dst);
        r->created_dst = 0;
        return rc;
    }
    tms_data_path(r->dstlog, sizeof r->dstlog, r->dst, "log");
    tms_data_path(r->dstproj, sizeof r->dstproj, r->dst, "proj");
    return 0;
}

void tool_restore_undo(tool_restore *r)
{
    char lock[4200];
    tool_remove_flat_dir(r->dstlog);
    tool_remove_flat_dir(r->dstproj);
    tool_remove_flat_dir(tms_data_path(lock, sizeof lock, r->dst, "snapshots"));
    tool_remove_flat_dir(tms_data_path(lock, sizeof lock, r->dst, "tree"));
    unlink(tms_data_path(lock, sizeof lock, r->dst, "checkpoints"));
    unlink(tms_data_path(lock, sizeof lock, r->dst, "witness"));
    unlink(tms_data_path(lock, sizeof lock, r->dst, "lock"));
    unlink(tms_data_path(lock, sizeof lock, r->dst, TMS_SEEDING_MARK));
    if (r->created_dst)
        rmdir(r->dst);
}

/* The next source record to copy: 1 with *lr and *rec filled; 0 at the end
 * of the log or past the point; -1 with *err set (TMS_E_CORRUPT: damage,
 * described in r->lost_reason). */
static int next_record(tool_restore *r, tms_log_iter *it, tms_log_record *lr, tms_record *rec, tms_err *err)
{
    char why[256];
    int has = 0;
    if ((*err = tms_log_iter_next(it, lr, &has)) != TMS_OK) {
        snprintf(r->lost_reason, sizeof r->lost_reason, "%s", tms_log_iter_report(it)->msg);
        return -1;
    }
    if (!has)
        return 0;
    if (r->to.set && r->to.is_seq && lr->seq > r->to.seq)
        return 0;
    if ((*err = tms_record_decode(rec, lr->payload, lr->len, why, sizeof why)) != TMS_OK) {
        snprintf(r->lost_reason, sizeof r->lost_reason, "segment %s offset %" PRIu64 " seq %" PRIu64 ": %s",
                 lr->segment, lr->offset, lr->seq, why);
        return -1;
    }
    return !(r->to.set && !r->to.is_seq && rec->time > r->to.time);
}

/* Append one source record to the new log, syncing in groups. */
static tms_err copy_one(tool_restore *r, tms_log *out, const tms_log_record *lr, const tms_record *rec,
                        size_t *staged)
{
    uint64_t seq;
    tms_err err = tms_log_append(out, lr->payload, lr->len, &seq);
    if (err)
        return err;
    if (seq != lr->seq) {
        tool_warn("the copy assigned seq %" PRIu64 " to source seq %" PRIu64, seq, lr->seq);
        return TMS_E_CORRUPT;
    }
    r->records++;
    r->last_seq = lr->seq;
    r->last_time = rec->time;
    memcpy(r->src_head, lr->hash, TMS_LOG_HASH_LEN);
    *staged += lr->len + TMS_LOG_FRAME_HEADER;
    if (r->records % SYNC_RECORDS == 0 || *staged >= SYNC_BYTES) {
        *staged = 0;
        return tms_log_sync(out);
    }
    return TMS_OK;
}

/* Copy records from it into out until the end, the point or damage. */
static tms_err copy_records(tool_restore *r, tms_log_iter *it, tms_log *out)
{
    tms_log_record lr;
    tms_record rec;
    tool_progress prog;
    size_t staged = 0;
    tms_err err = TMS_OK;
    tms_cmd_init(&rec.cmd);
    tool_progress_start(&prog, "tms-restore: copying the log", r->to.is_seq ? r->to.seq : 0);
    while (next_record(r, it, &lr, &rec, &err) > 0) {
        if ((err = copy_one(r, out, &lr, &rec, &staged)) != TMS_OK)
            break;
        tool_progress_tick(&prog, r->records);
        if (r->to.is_seq && lr.seq == r->to.seq)
            break;   /* do not read further: damage past the point does not matter */
    }
    tool_progress_end(&prog);
    tms_cmd_free(&rec.cmd);
    return err;
}

/* Damage in the source: with --salvage, what was copied stands. */
static tms_err damaged(tool_restore *r, tms_err err)
{
    if (err != TMS_E_CORRUPT || !r->lost_reason[0])
        return err;
    if (!r->salvage) {
        tool_warn("the source log is damaged: %s", r->lost_reason);
        return err;
    }
    r->lost_from = r->last_seq + 1;
    return TMS_OK;
}

int tool_restore_copy_log(tool_restore *r)
{
    tms_log *out = NULL;
    tms_log_iter *it = NULL;
    tms_log_report rep;
    tms_err err = tms_log_iter_open(r->srclog, 1, &it, &rep);
    if (err == TMS_E_CORRUPT)
        snprintf(r->lost_reason, sizeof r->lost_reason, "%s", rep.msg);
    if (err && (err = damaged(r, err)) == TMS_OK)
        return TOOL_OK;   /* salvaging, and nothing is readable */
    if (err)
        return err == TMS_E_CORRUPT ? TOOL_NEGATIVE
                                    : tool_fail("cannot read the log: %s", rep.msg[0] ? rep.msg : tms_strerror(err));
    if ((err = tms_log_open(r->dstlog, NULL, &out, &rep)) != TMS_OK) {
        tms_log_iter_close(it);
        return tool_fail("cannot create %s: %s", r->dstlog, rep.msg[0] ? rep.msg : tms_strerror(err));
    }
    err = damaged(r, copy_records(r, it, out));
    if (!err && (err = tms_log_sync(out)) == TMS_OK && r->records &&
        memcmp(tms_log_head(out), r->src_head, TMS_LOG_HASH_LEN) != 0) {
        tool_warn("the copy's chain head differs from the source's at seq %" PRIu64, r->last_seq);
        err = TMS_E_CORRUPT;
    }
    if (!err && tms_log_iter_report(it)->torn)
        tool_warn("note: ignored %s", tms_log_iter_report(it)->msg);
    tms_log_close(out);
    tms_log_iter_close(it);
    if (err)
        return err == TMS_E_CORRUPT ? TOOL_NEGATIVE : tool_fail("copying the log: %s", tms_strerror(err));
    return TOOL_OK;
}

int tool_restore_rebuild(tool_restore *r, uint8_t digest[TMS_HASH_LEN])
{
    tms_store *st = NULL;
    tms_replay_result res;
    tms_txn *tx;
    char why[512];
    tms_err err = tms_store_open(r->dstproj, TMS_STORE_WRITE, &st, why, sizeof why);
    if (err)
        return tool_fail("cannot create the projection: %s", why);
    err = tool_replay(st, r->dstlog, NULL, &res, "tms-restore: replaying", r->records);
    if (err == TMS_OK && (res.last_seq != r->last_seq || memcmp(res.head, r->src_head, TMS_HASH_LEN))) {
        snprintf(res.msg, sizeof res.msg, "the projection reached seq %" PRIu64 ", expected %" PRIu64, res.last_seq,
                 r->last_seq);
        err = TMS_E_CORRUPT;
    }
    if (err == TMS_OK && (err = tms_txn_begin(st, 0, &tx)) == TMS_OK) {
        err = tms_store_digest(tx, digest);
        tms_txn_abort(tx);
    }
    tms_store_close(st);
    if (err == TMS_E_CORRUPT) {
        tool_warn("replay failed: %s", res.msg);
        return TOOL_NEGATIVE;
    }
    return err ? tool_fail("rebuilding the projection: %s", res.msg[0] ? res.msg : tms_strerror(err)) : TOOL_OK;
}
