/* tms-restore -- rebuild a data directory from a log, to its end or to a
 * point in time (SPEC section 6; issue 4). The records up to the point are
 * copied into NEWDIR/log through the log API (same payloads, same seqs: the
 * same hash chain, checked against the source), NEWDIR/proj is rebuilt by
 * replaying them, and the result is verified. DIR is only ever read. */
#include "engine.h"
#include "tool_common.h"
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

static const char usage[] =
    "usage: tms-restore --data DIR --to NEWDIR [--seq N | --time T]\n"
    "\n"
    "Copies the log records of DIR up to seq N (inclusive), or up to the last\n"
    "record stamped at or before T (RFC 3339, e.g. 2026-10-01T12:00:00Z), or all\n"
    "of them, into NEWDIR/log; rebuilds NEWDIR/proj by replaying them; checks that\n"
    "the copy's chain head equals the source's at that seq. DIR is never modified.\n"
    "NEWDIR must be absent or empty. The result is a data directory for tmsctl and\n"
    "tmsd. Prints one JSON line:\n"
    "  {\"records\":N,\"last_seq\":N,\"time\":\"...\",\"head\":\"hex\",\"digest\":\"hex\"}\n"
    "\n"
    "Exit status: 0 restored; 1 the source log failed verification (corrupt);\n"
    "2 usage or I/O error (NEWDIR not empty, a seq past the end of the log ...).\n"
    "On failure nothing is left in NEWDIR.\n";

typedef struct restore {
    const char *src, *dst;
    tool_point to;
    char srclog[4200], dstlog[4200], dstproj[4200];
    int created_dst;                 /* we made NEWDIR (remove it on failure) */
    uint64_t records, last_seq;
    int64_t last_time;
    uint8_t src_head[TMS_LOG_HASH_LEN];
} restore;

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

static int prepare_target(restore *r)
{
    struct stat st;
    int state = dir_state(r->dst);
    if (state == 1)
        return tool_fail("%s is not empty: restore only into an empty or new directory", r->dst);
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

static void remove_tree_level(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX + 260];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* On failure: NEWDIR was empty, so everything in it is ours. */
static void undo_target(restore *r)
{
    char lock[4200];
    remove_tree_level(r->dstlog);
    remove_tree_level(r->dstproj);
    unlink(tms_data_path(lock, sizeof lock, r->dst, "lock"));
    if (r->created_dst)
        rmdir(r->dst);
}

/* 1 when the record is past the restore point. */
static int past_point(const restore *r, const tms_log_record *lr, tms_record *rec, tms_err *err)
{
    char why[256];
    *err = TMS_OK;
    if (r->to.set && r->to.is_seq)
        return lr->seq > r->to.seq;
    if ((*err = tms_record_decode(rec, lr->payload, lr->len, why, sizeof why)) != TMS_OK) {
        tool_warn("segment %s offset %" PRIu64 " seq %" PRIu64 ": %s", lr->segment, lr->offset, lr->seq, why);
        return 1;
    }
    return r->to.set && rec->time > r->to.time;
}

/* Append one source record to the new log, syncing in groups. */
static tms_err copy_one(restore *r, tms_log *out, const tms_log_record *lr, tms_record *rec, size_t *staged)
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

/* Step 1: copy the log up to the point. Returns an exit code. */
static int copy_log(restore *r)
{
    tms_log *out = NULL;
    tms_log_iter *it = NULL;
    tms_log_report rep;
    tms_log_record lr;
    tms_record rec;
    tool_progress prog;
    size_t staged = 0;
    int has = 0, rc = TOOL_OK;
    char why[256];
    tms_err err = tms_log_iter_open(r->srclog, 1, &it, &rep);
    if (err)
        return tool_fail("cannot read the log: %s", rep.msg[0] ? rep.msg : tms_strerror(err));
    if ((err = tms_log_open(r->dstlog, NULL, &out, &rep)) != TMS_OK) {
        tms_log_iter_close(it);
        return tool_fail("cannot create %s: %s", r->dstlog, rep.msg[0] ? rep.msg : tms_strerror(err));
    }
    tms_cmd_init(&rec.cmd);
    tool_progress_start(&prog, "tms-restore: copying the log", r->to.is_seq ? r->to.seq : 0);
    while ((err = tms_log_iter_next(it, &lr, &has)) == TMS_OK && has) {
        tms_err derr;
        int past = past_point(r, &lr, &rec, &derr);
        if (derr) {
            err = TMS_E_CORRUPT;
            break;
        }
        if (past)
            break;
        if (r->to.is_seq && tms_record_decode(&rec, lr.payload, lr.len, why, sizeof why) != TMS_OK) {
            tool_warn("segment %s offset %" PRIu64 " seq %" PRIu64 ": %s", lr.segment, lr.offset, lr.seq, why);
            err = TMS_E_CORRUPT;
            break;
        }
        if ((err = copy_one(r, out, &lr, &rec, &staged)) != TMS_OK)
            break;
        tool_progress_tick(&prog, r->records);
        if (r->to.is_seq && lr.seq == r->to.seq)
            break;   /* do not read further: damage past the point does not matter */
    }
    tool_progress_end(&prog);
    if (err == TMS_E_CORRUPT && tms_log_iter_report(it)->msg[0])
        tool_warn("the source log is damaged: %s", tms_log_iter_report(it)->msg);
    if (!err && (err = tms_log_sync(out)) == TMS_OK &&
        memcmp(tms_log_head(out), r->src_head, TMS_LOG_HASH_LEN) != 0 && r->records) {
        tool_warn("the copy's chain head differs from the source's at seq %" PRIu64, r->last_seq);
        err = TMS_E_CORRUPT;
    }
    if (!err && tms_log_iter_report(it)->torn)
        tool_warn("note: ignored %s", tms_log_iter_report(it)->msg);
    if (err)
        rc = err == TMS_E_CORRUPT ? TOOL_NEGATIVE : tool_fail("copying the log: %s", tms_strerror(err));
    tms_cmd_free(&rec.cmd);
    tms_log_close(out);
    tms_log_iter_close(it);
    return rc;
}

/* Step 2: rebuild the projection and verify it. Returns an exit code. */
static int rebuild(restore *r, uint8_t digest[TMS_HASH_LEN])
{
    tms_store *st = NULL;
    tms_replay_result res;
    tms_txn tx;
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
        err = tms_store_digest(&tx, digest);
        tms_txn_abort(&tx);
    }
    tms_store_close(st);
    if (err == TMS_E_CORRUPT) {
        tool_warn("replay failed: %s", res.msg);
        return TOOL_NEGATIVE;
    }
    return err ? tool_fail("rebuilding the projection: %s", res.msg[0] ? res.msg : tms_strerror(err)) : TOOL_OK;
}

static int print_result(const restore *r, const uint8_t digest[TMS_HASH_LEN])
{
    char hex[2 * TMS_HASH_LEN + 1], when[TOOL_TIME_MAX];
    json_t *o = json_object();
    json_object_set_new(o, "records", json_integer((json_int_t)r->records));
    json_object_set_new(o, "last_seq", json_integer((json_int_t)r->last_seq));
    json_object_set_new(o, "time", r->records ? json_string(tool_time_format(r->last_time, when)) : json_null());
    json_object_set_new(o, "head", json_string(tool_hex(r->src_head, TMS_LOG_HASH_LEN, hex)));
    json_object_set_new(o, "digest", json_string(tool_hex(digest, TMS_HASH_LEN, hex)));
    if (tool_print_json(o) != 0)
        return tool_fail("cannot write the output");
    return tool_finish_stdout();
}

static int run(restore *r)
{
    uint8_t digest[TMS_HASH_LEN];
    if (tool_log_dir(r->src, r->srclog, sizeof r->srclog) || prepare_target(r))
        return TOOL_ERROR;
    int rc = copy_log(r);
    if (rc == TOOL_OK && r->records == 0)
        rc = tool_fail("nothing to restore: no record %s", r->to.set ? "at or before that point" : "in the log");
    else if (rc == TOOL_OK && r->to.set && r->to.is_seq && r->last_seq < r->to.seq)
        rc = tool_fail("--seq %" PRIu64 ": the log ends at seq %" PRIu64, r->to.seq, r->last_seq);
    if (rc == TOOL_OK)
        rc = rebuild(r, digest);
    if (rc != TOOL_OK) {
        undo_target(r);
        return rc;
    }
    return print_result(r, digest);
}

int main(int argc, char **argv)
{
    const char *data = NULL, *to = NULL, *seq = NULL, *time = NULL, *pos[1];
    int npos;
    const tool_opt opts[] = {{"data", 1, &data, NULL}, {"to", 1, &to, NULL}, {"seq", 1, &seq, NULL},
                             {"time", 1, &time, NULL}, {NULL, 0, NULL, NULL}};
    static restore r;
    tool_prog = "tms-restore";
    int rc = tool_parse(argc - 1, argv + 1, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data || !to)
        return tool_fail("--data DIR and --to NEWDIR are required (try --help)");
    if (seq && time)
        return tool_fail("give --seq or --time, not both");
    r.src = data;
    r.dst = to;
    if (seq) {
        r.to.set = r.to.is_seq = 1;
        if (tool_seq_parse(seq, &r.to.seq) || r.to.seq == 0)
            return tool_fail("--seq %s: expected a record number of at least 1", seq);
    } else if (time && tool_time_parse(time, &r.to.time) == 0) {
        r.to.set = 1;
    } else if (time) {
        return tool_fail("--time %s: expected an RFC 3339 time such as 2026-10-01T12:00:00Z", time);
    }
    return run(&r);
}
