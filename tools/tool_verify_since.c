/* tool_verify_since.c -- "tms-audit verify --since FILE" and "--receipt
 * FILE" (issue 18, item 4; docs/trust.md, "Incremental verification").
 *
 * A receipt (tool_receipt.h) says that records 1..N verified, with the
 * chain head, the Merkle root and the state's digest at N. --since trusts
 * it for records 1..N and reads none of them again: the log is tied to it
 * by frame N's chain head (read alone, checked against frame N-1's stored
 * hash) and by the tree file's root at N (from the stored hashes of N's
 * decomposition: O(log N) reads), and the state at N comes from the
 * receipt's own state file, FILE.state (a snapshot file that --receipt
 * wrote beside it), when its seq, chain head and digest are the receipt's;
 * else from a kept snapshot whose digest is the receipt's (else an older
 * kept one, replayed to N and compared there). tool_verify.c then reads,
 * replays and checks records N+1.. as a full verify does. */
#include "tool_verify.h"
#include "snapshot.h"
#include "snapshots.h"
#include "tool_common.h"
#include "tool_replay.h"
#include "tool_trust.h"
#include "checkpoints.h"
#include "log.h"
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The stored chain hash of frame seq (>= 1) into out, the frame checked
 * (its CRCs, and its chain hash against the frame before it); with at,
 * where the frame before it is (*has_at 1; 0 when none was read): a
 * locator found by reading the segment from its start, for the readings
 * after this one (tms_log_iter_open_at). TMS_OK, TMS_NOT_FOUND (the log
 * ends before seq), TMS_E_CORRUPT / TMS_E_IO with why. */
static tms_err frame_hash(const char *logdir, uint64_t seq, tms_log_locator *at, int *has_at,
                          uint8_t out[TMS_HASH_LEN], char *why, size_t whylen)
{
    tms_log_iter *it = NULL;
    tms_log_record lr;
    tms_log_report rep;
    int has = 0;
    uint64_t base;
    tms_err err = tms_log_base(logdir, &base, out, why, whylen);   /* a seeded log: its base's head */
    if (err || (base && seq == base))
        return err;
    /* from the frame before it (after a base, its first frame is read against the base's head) */
    if (has_at)
        *has_at = 0;
    err = tms_log_iter_open(logdir, seq > base + 1 ? seq - 1 : seq, &it, &rep);
    if (err) {
        snprintf(why, whylen, "%.300s", rep.msg[0] ? rep.msg : tms_strerror(err));
        return err;
    }
    while ((err = tms_log_iter_next(it, &lr, &has)) == TMS_OK && has && lr.seq < seq)
        if (at && lr.seq + 1 == seq) {
            *at = (tms_log_locator){strtoull(lr.segment, NULL, 10), lr.offset};
            *has_at = 1;
        }
    if (err)
        snprintf(why, whylen, "%.300s", tms_log_iter_report(it)->msg);
    else if (!has || lr.seq != seq)
        err = TMS_NOT_FOUND;
    else
        memcpy(out, lr.hash, TMS_HASH_LEN);
    tms_log_iter_close(it);
    return err;
}

/* The digest of st's snapshot encoding into out. */
static tms_err state_digest(const tms_state *st, uint8_t out[TMS_HASH_LEN])
{
    msgpack_sbuffer enc;
    msgpack_sbuffer_init(&enc);
    tms_err err = tms_state_snapshot_encode(st, &enc);
    if (!err)
        err = tms_state_snapshot_digest(enc.data, enc.size, out);
    msgpack_sbuffer_destroy(&enc);
    return err;
}

/* The kept snapshot of seq (<= N) as the state to start from: at N, when it
 * is the receipt's (chain head, time, digest); before N, when its chain head
 * is the log's there (its state is compared with the receipt's at N by
 * tool_verify_since_at). 1 taken, 0 not (one at N that disagrees is noted in
 * s->bad_at_n), -1 after a message (out of memory). */
static int try_snapshot(vstate *s, uint64_t seq)
{
    const tool_receipt *r = &s->since;
    char why[400];
    uint8_t *payload = NULL, head[TMS_HASH_LEN];
    size_t len = 0;
    tms_snapshot_meta m;
    tms_state *st = NULL;
    tms_err err = tms_snapshot_read(s->datadir, seq, &m, &payload, &len, why, sizeof why);
    int usable = err == TMS_OK && m.schema == TMS_SCHEMA_VERSION && !strcmp(m.build, tms_version());
    if (usable && seq == r->size && (memcmp(m.head, r->head, TMS_HASH_LEN) || m.time != r->time ||
                                     memcmp(m.digest, r->state, TMS_HASH_LEN))) {
        snprintf(s->bad_at_n, sizeof s->bad_at_n, "%s", memcmp(m.head, r->head, TMS_HASH_LEN) || m.time != r->time
                 ? "its chain head or time is not the receipt's" : "its state digest is not the receipt's");
        usable = 0;
    } else if (usable && seq < r->size) {
        usable = frame_hash(s->logdir, seq, NULL, NULL, head, why, sizeof why) == TMS_OK && !memcmp(head, m.head, TMS_HASH_LEN);
    }
    if (usable && (err = tms_state_snapshot_decode(payload, len, &st, why, sizeof why)) != TMS_OK)
        usable = 0;   /* a snapshot that does not decode is not started from (a full verify names it) */
    free(payload);
    if (err == TMS_E_NOMEM)
        return tool_fail("out of memory"), -1;
    if (!usable)
        return 0;
    s->start = st;
    s->start_seq = seq;
    memcpy(s->start_head, m.head, TMS_HASH_LEN);
    s->start_check_proj = 1;   /* its projection digest against its state's: tool_verify.c, before the fold */
    memcpy(s->start_proj, m.proj_digest, TMS_HASH_LEN);
    snprintf(s->from, sizeof s->from, "%s/snapshots/%020" PRIu64 ".snap", s->datadir, seq);
    if (seq == r->size)
        s->snaps_checked++;   /* the receipt's state, by its digest (and its projection digest, before the fold) */
    return 1;
}

/* The state from the receipt's file at path taken: where the fold starts. 1. */
static int taken_from(vstate *s, const char *path)
{
    s->start_seq = s->since.size;
    memcpy(s->start_head, s->since.head, TMS_HASH_LEN);
    snprintf(s->from, sizeof s->from, "%s", path);
    return 1;
}

int tool_verify_state_disagrees(const vstate *s, const tms_snapshot_meta *m, char *bad, size_t badlen)
{
    const tool_receipt *r = &s->since;
    tms_tlog_hash root;
    memcpy(root, r->root, sizeof root);
    if (m->schema != TMS_SCHEMA_VERSION || strcmp(m->build, tms_version()))
        snprintf(bad, badlen, "written by tmsperm %.16s (schema %" PRIu32 "), this is %s", m->build, m->schema,
                 tms_version());
    else if (m->seq != r->size)
        snprintf(bad, badlen, "it is the state at seq %" PRIu64 ", the receipt's is at seq %" PRIu64, m->seq,
                 r->size);
    else if (memcmp(m->head, r->head, TMS_HASH_LEN) || m->time != r->time || memcmp(m->root, root, sizeof root))
        snprintf(bad, badlen, "its chain head, time or tree root is not the receipt's (another log's state)");
    else if (memcmp(m->digest, r->state, TMS_HASH_LEN))
        snprintf(bad, badlen, "its state digest is not the receipt's state_digest (another state)");
    else
        return 0;
    return 1;
}

/* The receipt's own state file, FILE.state (what --receipt wrote beside
 * FILE), as the state to start from: when it checks (length, CRC, the
 * digest of its content, its parts table) and is this version's, of the
 * receipt's seq, chain head, time and tree root, and its state digest is
 * the receipt's (the receipt decides: a file rewritten with its CRC and
 * digest recomputed for another state is not taken). Without --receipt,
 * first by its parts (tool_verify_parts_read: only the tenants the tail
 * names). 1 taken; 0 not (absent, or why in s->state_note); -1 after a
 * message (out of memory). */
static int try_state_file(vstate *s)
{
    char path[4300], why[600], bad[700] = "";
    uint8_t *payload = NULL;
    size_t len = 0;
    tms_snapshot_meta m;
    tms_snapshot_index ix;
    tms_state *st = NULL;
    int taken = 0;
    if (!s->since_path || (size_t)snprintf(path, sizeof path, "%s.state", s->since_path) >= sizeof path)
        return 0;   /* no receipt file: a seeded directory's base (tool_verify_base) */
    if (!s->want_state && (taken = tool_verify_parts_read(s, path)) != 0)
        return taken < 0 ? -1 : taken_from(s, path);
    tms_err err = tms_snapshot_read_file_index(path, &m, &payload, &len, &ix, why, sizeof why);
    if (err == TMS_NOT_FOUND)
        return 0;   /* a receipt kept without it (or of a tms-audit that wrote none) */
    if (err == TMS_E_NOMEM)
        return tool_fail("out of memory"), -1;
    size_t named = strlen("snapshot ") + strlen(path) + 2;   /* why is "snapshot PATH: REASON" */
    if (err)
        snprintf(bad, sizeof bad, "%s", strlen(why) > named ? why + named : why);
    else if (tool_verify_state_disagrees(s, &m, bad, sizeof bad))
        ;
    else if ((taken = tool_verify_parts_take(s, &m, payload, len, &ix)) != 0)
        payload = taken > 0 ? NULL : payload;   /* the tenants the records name only (s->start): it keeps payload */
    else if ((err = tms_state_snapshot_decode(payload, len, &st, why, sizeof why)) != TMS_OK)
        snprintf(bad, sizeof bad, "its state does not decode: %.300s", why);
    if (!err)
        tms_snapshot_index_free(&ix);
    free(payload);
    if (taken < 0)
        return -1;   /* (said) */
    if (err == TMS_E_NOMEM)
        return tool_fail("out of memory"), -1;
    if (bad[0]) {
        snprintf(s->state_note, sizeof s->state_note, "%.4000s not used: %s", path, bad);
        return 0;
    }
    if (!taken)
        s->start = st;
    return taken_from(s, path);
}

/* The state the fold starts from: s->start after s->start_seq. 0 (s->failed
 * may be set) or TOOL_ERROR after a message. */
static int choose_start(vstate *s)
{
    const tool_receipt *r = &s->since;
    char what[640];
    uint8_t digest[TMS_HASH_LEN];
    if (r->size == 0) {   /* the empty log's receipt: the fold starts from the empty state */
        if (!(s->start = tms_state_new()) || state_digest(s->start, digest) != TMS_OK)
            return tool_fail("out of memory");
        if (memcmp(digest, r->state, TMS_HASH_LEN))
            tool_verify_failure(s, "receipt", 0, NULL, 0, "the receipt's state digest at seq 0 is not the empty "
                                "state's: it was altered");
        return 0;
    }
    int rc = try_state_file(s);
    if (rc)
        return rc < 0 ? TOOL_ERROR : 0;
    for (size_t i = s->nsnaps; i-- > 0;) {   /* newest first */
        rc = s->snaps[i] <= r->size ? try_snapshot(s, s->snaps[i]) : 0;
        if (rc)
            return rc < 0 ? TOOL_ERROR : 0;
    }
    if (s->bad_at_n[0]) {
        snprintf(what, sizeof what, "the kept snapshot of the receipt's seq does not agree with the receipt (%s), "
                 "and no older kept snapshot can tell which was altered: run a full verify", s->bad_at_n);
        tool_verify_failure(s, "receipt", r->size, NULL, 0, what);
        return 0;
    }
    return tool_fail("verify --since: no state to start from: %s%s, and no kept snapshot at or before the "
                     "receipt's seq %" PRIu64 " in %s/snapshots (a writer keeps its newest %d): run a full verify "
                     "(tms-audit verify --data DIR --receipt FILE)", s->state_note[0] ? s->state_note : s->since_path,
                     s->state_note[0] ? "" : ".state is absent", r->size, s->datadir, TMS_SNAPSHOT_KEEP);
}

int tool_verify_since_begin(vstate *s)
{
    const tool_receipt *r = &s->since;
    char why[400], what[640];
    uint8_t head[TMS_HASH_LEN];
    tms_err err = r->size ? frame_hash(s->logdir, r->size, &s->since_at, &s->has_since_at, head, why, sizeof why)
                          : TMS_OK;
    if (err == TMS_NOT_FOUND) {
        snprintf(what, sizeof what, "the log has no record %" PRIu64 ", the receipt's last: records it covers are "
                 "missing (the log was cut), or this is another log", r->size);
        tool_verify_failure(s, "receipt", r->size, NULL, 0, what);
        return 0;
    }
    if (err == TMS_E_CORRUPT) {
        tool_verify_failure(s, "frame", r->size, NULL, 0, why);
        return 0;
    }
    if (err)
        return tool_fail("cannot read the log: %s", why);
    if (r->size && memcmp(head, r->head, TMS_HASH_LEN)) {
        snprintf(what, sizeof what, "the log's chain head at seq %" PRIu64 " is not the receipt's: the log was "
                 "rewritten at or before seq %" PRIu64 ", or this is another log", r->size, r->size);
        tool_verify_failure(s, "receipt", r->size, NULL, 0, what);
        return 0;
    }
    int rc = tool_treecheck_from(&s->tc, r->size, r->root, why, sizeof why);
    if (rc == TOOL_ERROR)
        return TOOL_ERROR;
    if (rc) {
        snprintf(what, sizeof what, "%.300s, though the log's chain head there is: the tree file is damaged (remove "
                 "DIR/tree and the next writer rebuilds it from the log), or the receipt was altered", why);
        tool_verify_failure(s, "tree", r->size, NULL, 0, what);
        return 0;
    }
    return choose_start(s);
}

void tool_verify_since_at(vstate *s, const tms_fold_event *ev, const uint8_t digest[TMS_HASH_LEN])
{
    char what[640];
    if (memcmp(digest, s->since.state, TMS_HASH_LEN)) {
        snprintf(what, sizeof what, "the state replayed to the receipt's seq from the kept snapshot of seq %" PRIu64
                 " is not the one the receipt records: that snapshot, or the receipt, was altered (a full verify "
                 "tells which)", s->start_seq);
        tool_verify_failure(s, "receipt", ev->rec->seq, NULL, 0, what);
    }
}

int tool_verify_receipt(vstate *s, tool_receipt *r)
{
    struct timespec now;
    memset(r, 0, sizeof *r);
    clock_gettime(CLOCK_REALTIME, &now);
    r->size = s->last_seq;
    r->time = s->last_seq ? s->last_time : 0;
    memcpy(r->head, s->head, TMS_HASH_LEN);
    tms_tlog_range_root(&s->tc.range, r->root);
    memcpy(r->state, s->state_digest, TMS_HASH_LEN);
    r->has_proj = s->end_done;   /* what FILE.state records: the replay's, or (by tenant) the projection's found equal */
    memcpy(r->proj, s->end_sproj, TMS_HASH_LEN);
    snprintf(r->version, sizeof r->version, "%s", tms_version());
    r->verified_at = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    r->has_since = s->has_since;
    r->since = s->since.size;
    if (s->tc.have_key) {
        char *vkey = tms_note_vkey(&s->tc.key);
        if (!vkey)
            return tool_fail("out of memory");
        snprintf(r->key, sizeof r->key, "%s", vkey);
        free(vkey);
    }
    if (!s->tc.latest_note)
        return 0;
    int made = tool_treecheck_prove_latest(&s->tc, r->size, r->proof, &r->nproof);
    if (made < 0) {
        tool_verify_failure(s, s->tc.check, s->tc.seq, NULL, 0, s->tc.what);
        return 1;
    }
    if (!(r->cp_note = malloc(s->tc.latest_len + 1)))
        return tool_fail("out of memory");
    memcpy(r->cp_note, s->tc.latest_note, s->tc.latest_len + 1);
    r->cp_len = s->tc.latest_len;
    r->cp_size = s->tc.latest_size;
    r->has_proof = made;
    return 0;
}

int tool_verify_write_state(vstate *s, const char *receipt_path)
{
    char path[4300], why[600];
    tms_snapshot_meta m;
    if (!s->end_done)
        return tool_fail("--receipt %s: the state at the log's end was not kept", receipt_path);
    if ((size_t)snprintf(path, sizeof path, "%s.state", receipt_path) >= sizeof path)
        return tool_fail("--receipt %s: the name is too long", receipt_path);
    memset(&m, 0, sizeof m);
    m.schema = TMS_SCHEMA_VERSION;
    snprintf(m.build, sizeof m.build, "%s", tms_version());
    m.seq = s->last_seq;
    memcpy(m.head, s->head, TMS_HASH_LEN);
    tms_tlog_range_root(&s->tc.range, m.root);
    m.time = s->last_seq ? s->last_time : 0;
    memcpy(m.digest, s->state_digest, TMS_HASH_LEN);   /* the receipt's state_digest: of these bytes */
    memcpy(m.proj_digest, s->end_sproj, TMS_HASH_LEN);
    if (tms_snapshot_write_file(path, &m, s->end_enc, s->end_len, why, sizeof why) != TMS_OK)
        return tool_fail("--receipt %s: cannot write the state: %s", receipt_path, why);
    return 0;
}

/* The base of a seeded directory (log.h, "base"): its snapshot at seq S as
 * the receipt the verify starts from (the records 1..S are not here). With
 * a key, the snapshot's signed note must be the key's and name that
 * snapshot (and a checkpoint of size S, when kept, the key's with its
 * root); without one, the seed is taken as it is
 * (the report says "signatures":"unchecked"). 0 (s->base, s->since set
 * when the log has a base), or TOOL_ERROR after a message. */
int tool_verify_base(vstate *s, const char *datadir, const char *keyarg)
{
    char logdir[4200], why[600] = "", *cpn = NULL, *sn = NULL;
    uint8_t head[TMS_HASH_LEN], *payload = NULL;
    size_t len = 0, cplen = 0, snlen = 0;
    tms_snapshot_meta m;
    tms_note_verifier key;
    tms_checkpoint cp;
    uint64_t base;
    if (tool_log_dir(datadir, logdir, sizeof logdir))
        return TOOL_ERROR;
    if (tms_log_base(logdir, &base, head, why, sizeof why) != TMS_OK)
        return tool_fail("verify: %s", why);
    if (!base)
        return 0;
    if (keyarg && tool_load_vkey("--key", keyarg, &key))
        return TOOL_ERROR;
    tms_err err = tms_snapshot_read(datadir, base, &m, &payload, &len, why, sizeof why);
    free(payload);
    if (err)
        return tool_fail("verify: this directory was seeded from a snapshot of seq %" PRIu64 " and it cannot be read "
                         "(%s): the records 1..%" PRIu64 " are not here, nothing to start from", base,
                         err == TMS_NOT_FOUND ? "it is gone" : why, base);
    int rc = 0;
    if (memcmp(m.head, head, TMS_HASH_LEN))
        rc = tool_fail("verify: the snapshot of seq %" PRIu64 " has another chain head than the log's base", base);
    else if (keyarg && tms_checkpoints_find(datadir, base, &cpn, &cplen, why, sizeof why) == TMS_OK &&
             (tms_checkpoint_open(cpn, cplen, &key, &cp, why, sizeof why) != TMS_OK ||
              memcmp(cp.root, m.root, TMS_TLOG_HASH)))
        rc = tool_fail("verify: the checkpoint of the base's size %" PRIu64 " is not --key's or has another root (%s)",
                       base, why[0] ? why : "another root");
    else if (keyarg && (tms_snapshot_note_read(datadir, base, &sn, &snlen) != TMS_OK ||
                        tms_snapshot_note_check(sn, snlen, &key, &m, why, sizeof why) != TMS_OK))
        rc = tool_fail("verify: the snapshot the directory was seeded from has no note signed by --key naming it%s%s",
                       why[0] ? ": " : "", why);
    free(cpn);
    free(sn);
    if (rc)
        return rc;
    s->base = base;
    s->has_since = 1;
    s->since.size = base;
    s->since.time = m.time;
    memcpy(s->since.head, m.head, TMS_HASH_LEN);
    memcpy(s->since.root, m.root, TMS_TLOG_HASH);
    memcpy(s->since.state, m.digest, TMS_HASH_LEN);
    snprintf(s->since.version, sizeof s->since.version, "%s", tms_version());
    return 0;
}
