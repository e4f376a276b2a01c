/* tool_backup.c -- "tms-restore backup": a consistent copy of a data
 * directory that may be live. The newest state snapshot that checks first
 * (so that the backup's open folds only the records after it), then the
 * projection (compacting mdb_env_copy2, one read snapshot), then the log up
 * to its last complete record; the log copy is at or ahead of the
 * projection copy, which is at or ahead of the state snapshot (a writer
 * commits a group to the projection before it snapshots the state after
 * it), and the backup is brought level by opening it as the engine would. */
#include "engine.h"
#include "tool_replay.h"
#include "tool_restore.h"
#include "snapshots.h"
#include <stdlib.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_backup[] =
    "usage: tms-restore backup --data DIR --to BACKUPDIR\n"
    "\n"
    "Copies the data directory DIR, which may be in use (tmsd running), into\n"
    "BACKUPDIR (absent or empty, not inside DIR). DIR is never modified.\n"
    "  1. the newest state snapshot of DIR/snapshots whose checksums hold (the\n"
    "     backup's open starts from it instead of folding the whole log);\n"
    "  2. the projection DIR/proj, compacted, from one LMDB read snapshot\n"
    "     (mdb_env_copy2 with MDB_CP_COMPACT);\n"
    "  3. the log, every record up to the last complete one at the time of the\n"
    "     copy, checked (checksums, chain) as it is read;\n"
    "  4. the backup's projection is brought level with its log (the records\n"
    "     appended after the copies are replayed) and checked.\n"
    "The result is an ordinary data directory: tmsctl, tmsd, tms-audit and\n"
    "tms-restore --data BACKUPDIR all accept it. Prints one JSON line:\n"
    "  {\"records\":N,\"last_seq\":N,\"time\":\"...\",\"head\":\"hex\",\n"
    "   \"projection_seq\":N,\"digest\":\"hex\",\"snapshot_seq\":N}\n"
    "projection_seq is the seq of the projection snapshot (null when DIR had\n"
    "no projection); digest is that of the backup's projection at last_seq;\n"
    "snapshot_seq the seq of the state snapshot copied that the backup's open\n"
    "started from (null: none was, and the open folded the whole log).\n"
    "\n"
    "Exit status: 0 backed up; 1 the source log is damaged; 2 usage or I/O\n"
    "error. On failure nothing is left in BACKUPDIR.\n";

/* Step 2: the projection snapshot, if DIR has one. 0 or an exit code. */
static int copy_projection(tool_restore *r, int *copied)
{
    char path[4200], why[512];
    tms_store *st = NULL;
    tms_err err = tms_store_open(tms_data_path(path, sizeof path, r->src, "proj"), TMS_STORE_READONLY, &st, why,
                                 sizeof why);
    *copied = 0;
    if (err == TMS_NOT_FOUND)
        return 0;   /* no projection: the engine builds one from the log copy */
    if (err)
        return tool_fail("cannot read the projection: %s", why);
    if (mkdir(r->dstproj, 0750) != 0) {
        tms_store_close(st);
        return tool_fail("cannot create %s: %s", r->dstproj, strerror(errno));
    }
    err = tms_store_copy(st, r->dstproj, why, sizeof why);   /* compacted; retried if the writer grew the map */
    tms_store_close(st);
    if (!err)   /* a consistent, synced copy: believed by the backup's open (no rebuild) */
        err = tms_store_adopt_copy(r->dstproj, why, sizeof why);
    if (err)
        return tool_fail("copying the projection: %s", why);
    *copied = 1;
    return 0;
}

/* Step 1: the newest snapshot of the source whose file checks, copied (0
 * with *seq 0 when there is none: the backup's open folds the whole log).
 * Whether it agrees with the copied log is the open's to judge. */
static int copy_snapshot(tool_restore *r, uint64_t *seq)
{
    char why[512];
    uint64_t *seqs = NULL;
    uint8_t *payload = NULL;
    size_t n = 0, len = 0;
    tms_snapshot_meta m;
    tms_err err = tms_snapshot_list(r->src, &seqs, &n);
    *seq = 0;
    for (size_t i = 0; !err && i < n && !*seq; i++) {
        if (tms_snapshot_read(r->src, seqs[i], &m, &payload, &len, why, sizeof why) != TMS_OK)
            continue;   /* damaged, or written meanwhile and pruned: an older one */
        if ((err = tms_snapshot_write(r->dst, &m, payload, len, why, sizeof why)) == TMS_OK)
            *seq = seqs[i];
        free(payload);
        payload = NULL;
    }
    free(seqs);
    return err ? tool_fail("copying a snapshot: %s", err == TMS_E_IO || err == TMS_E_NOSPACE ? why : tms_strerror(err))
               : 0;
}

/* The seq of the projection copy (before it is levelled). */
static int copy_seq(const tool_restore *r, uint64_t *seq)
{
    char why[512];
    uint8_t head[TMS_HASH_LEN];
    tms_store *st = NULL;
    tms_txn *tx;
    tms_err err = tms_store_open(r->dstproj, TMS_STORE_READONLY, &st, why, sizeof why);
    if (!err && (err = tms_txn_begin(st, 0, &tx)) == TMS_OK) {
        err = tms_meta_get(tx, seq, head);
        tms_txn_abort(tx);
    }
    tms_store_close(st);
    return err ? tool_fail("cannot read the projection copy: %s", err == TMS_NOT_FOUND ? why : tms_strerror(err)) : 0;
}

/* Step 4: open the backup as a writer does (catch up, or rebuild a
 * projection that does not fit the log), then check seq, head and digest. */
static int level(tool_restore *r, uint8_t digest[TMS_HASH_LEN])
{
    char why[512];
    tms_engine *e = NULL;
    tms_txn *tx;
    uint64_t seq = 0;
    uint8_t head[TMS_HASH_LEN];
    tms_err err = tms_engine_open(r->dst, NULL, &e, why, sizeof why);
    if (err == TMS_E_CORRUPT) {
        tool_warn("the backup does not open: %s", why);
        return TOOL_NEGATIVE;
    }
    if (err)
        return tool_fail("opening the backup: %s", why);
    if ((err = tms_txn_begin(tms_engine_store(e), 0, &tx)) == TMS_OK) {
        if ((err = tms_meta_get(tx, &seq, head)) == TMS_OK)
            err = tms_store_digest(tx, digest);
        tms_txn_abort(tx);
    }
    r->snapshot_seq = tms_engine_snapshot_seq(e);   /* the copied snapshot, if the open could start from it */
    tms_engine_close(e);
    if (err)
        return tool_fail("reading the backup's projection: %s", tms_strerror(err));
    if (seq != r->last_seq || (seq && memcmp(head, r->src_head, TMS_HASH_LEN))) {
        tool_warn("the backup's projection is at seq %" PRIu64 ", its log at %" PRIu64, seq, r->last_seq);
        return TOOL_NEGATIVE;
    }
    return 0;
}

static int print_backup(const tool_restore *r, int copied, uint64_t pseq, const uint8_t digest[TMS_HASH_LEN])
{
    char hex[2 * TMS_HASH_LEN + 1], when[TOOL_TIME_MAX];
    json_t *o = json_object();
    json_object_set_new(o, "records", json_integer((json_int_t)r->records));
    json_object_set_new(o, "last_seq", json_integer((json_int_t)r->last_seq));
    json_object_set_new(o, "time", r->records ? json_string(tool_time_format(r->last_time, when)) : json_null());
    json_object_set_new(o, "head", json_string(tool_hex(r->src_head, TMS_LOG_HASH_LEN, hex)));
    json_object_set_new(o, "projection_seq", copied ? json_integer((json_int_t)pseq) : json_null());
    json_object_set_new(o, "digest", json_string(tool_hex(digest, TMS_HASH_LEN, hex)));
    json_object_set_new(o, "snapshot_seq", r->snapshot_seq ? json_integer((json_int_t)r->snapshot_seq) : json_null());
    if (tool_print_json(o) != 0)
        return tool_fail("cannot write the output");
    return tool_finish_stdout();
}

int tool_backup_main(int argc, char **argv)
{
    const char *data = NULL, *to = NULL, *pos[1];
    const tool_opt opts[] = {{"data", 1, &data, NULL}, {"to", 1, &to, NULL}, {NULL, 0, NULL, NULL}};
    static tool_restore r;
    uint8_t digest[TMS_HASH_LEN];
    uint64_t pseq = 0, snap = 0;   /* the projection copy's seq, the state snapshot copied */
    int npos, copied = 0;
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage_backup, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data || !to)
        return tool_fail("backup: --data DIR and --to BACKUPDIR are required (try --help)");
    memset(&r, 0, sizeof r);
    r.src = data;
    r.dst = to;
    if (tool_restore_prepare(&r))
        return TOOL_ERROR;
    rc = copy_snapshot(&r, &snap);
    if (!rc)
        rc = copy_projection(&r, &copied);
    if (!rc && copied)
        rc = copy_seq(&r, &pseq);
    if (!rc)
        rc = tool_restore_copy_log(&r);
    if (!rc)
        rc = level(&r, digest);
    if (rc) {
        tool_restore_undo(&r);
        return rc;
    }
    return print_backup(&r, copied, pseq, digest);
}
