/* tool_verify.c -- "tms-audit verify": is this data directory intact? The
 * log's framing, checksums, seq continuity and hash chain, replay
 * determinism, and the live projection against a fresh replay (seq, chain
 * head, digest). The first failure is reported with seq, segment and byte
 * offset. The steps are described at tool_verify_main; with --since they
 * start from a receipt's point (tool_verify_since.c), and --receipt writes
 * one (tool_receipt.c). */
#include "engine.h"
#include "history.h"
#include "tool_audit.h"
#include "tool_common.h"
#include "tool_replay.h"
#include "tool_verify.h"
#include "snapshot.h"
#include "snapshots.h"
#include <msgpack.h>
#include <sodium.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

static const char usage_verify[] =
    "usage: tms-audit verify --data DIR [--key VKEY] [--since FILE] [--receipt FILE]\n"
    "\n"
    "Checks the log of DIR (frames, checksums, seq continuity, the hash chain,\n"
    "that every record decodes), replays it in memory (every\n"
    "recomputed verdict must equal the logged one), and compares the live\n"
    "projection (DIR/proj) with the replay: same chain head and same digest at\n"
    "the projection's seq. A projection behind the log is not a failure (the\n"
    "next writer to open DIR catches it up); one ahead of the log is. A\n"
    "projection's as-of index (lookups at a point), complete to its seq, is\n"
    "compared with the index the log makes up to that seq (tallied in memory\n"
    "as the log is replayed). The log is read once, replayed as it is read.\n"
    "The Merkle tree file (DIR/tree) is compared with the tree of the log, and\n"
    "every stored checkpoint (DIR/checkpoints) with the log: its root must be\n"
    "the tree of the records up to its size. With --key VKEY (the log's\n"
    "verifier key, or a file holding it) every checkpoint must also be signed\n"
    "by it; without, signatures are not checked (\"signatures\":\"unchecked\").\n"
    "Every kept snapshot (DIR/snapshots) is compared with the replayed state at\n"
    "its seq: chain head, time, the digest of the state's encoding and the\n"
    "projection digest it records.\n"
    "\n"
    "  --receipt FILE  when DIR verified, write FILE (atomically; never for a\n"
    "                  verify that failed): one JSON object saying what was\n"
    "                  proven up to the last seq N -- the chain head, the Merkle\n"
    "                  root and the state's digest there, the key, the latest\n"
    "                  checkpoint checked and a consistency proof from it to N;\n"
    "                  and first FILE.state (atomically too): the replayed state\n"
    "                  at N as a snapshot file (DIR/snapshots' format), whose\n"
    "                  digest is the receipt's state_digest. Keep the two\n"
    "                  together; FILE.state is about the size of a snapshot\n"
    "  --since FILE    verify only what came after a receipt (of size N): the\n"
    "                  tree's root at N (from the tree file) and the chain head\n"
    "                  of record N must be the receipt's, the state at N comes\n"
    "                  from FILE.state when it checks and its seq, chain head\n"
    "                  and digest are the receipt's, else from a kept snapshot\n"
    "                  whose digest is the receipt's (or an older one replayed\n"
    "                  to N); then records N+1.. are checked as above, with the\n"
    "                  checkpoints, the snapshots after N and the projection\n"
    "                  (the as-of index is not: \"history\":\"unchecked\").\n"
    "                  \"since\":N, \"from\" (the starting state's file) and\n"
    "                  \"from_seq\" in the output; a FILE.state not used is said\n"
    "                  on stderr; exit 2 when neither gives a state at or\n"
    "                  before N (run a full verify). --since FILE --receipt FILE\n"
    "                  moves both files forward\n"
    "A directory seeded from a snapshot (tms-restore seed: its log starts after\n"
    "seq S) is verified from its base as --since verifies from a receipt: the\n"
    "snapshot of S (with --key: its checkpoint and signed note must be the key's)\n"
    "and the tree's root at S, then every record after S; \"base\":S in the output.\n"
    "\n"
    "Prints one JSON line:\n"
    "  {\"ok\":true,\"records\":N,\"last_seq\":N,\"head\":\"hex\",\"digest\":\"hex\",...}\n"
    "  {\"ok\":false,\"check\":\"frame|record|projection|replay|digest|history|tree|checkpoint|snapshot|\n"
    "   receipt\",\"seq\":N,\"segment\":\"...\",\"offset\":N,\"error\":\"...\"}\n"
    "Exit status: 0 intact, 1 verification failed (a one-line message on stderr\n"
    "names the first bad seq, segment and byte offset), 2 usage or I/O error.\n";

/* Which failure is reported when a run finds several: the log's own (a
 * frame, a record) before the projection's (its chain head, its seq), before
 * what the replay finds; the first of a rank. (The one pass over the log
 * meets them in the log's order; this is the order a full read of the log
 * before the replay gave, and the more basic fault explains the others.) */
static int rank_of(const char *check)
{
    return !strcmp(check, "frame") || !strcmp(check, "record") ? 0 : !strcmp(check, "projection") ? 1 : 2;
}

void tool_verify_failure(vstate *s, const char *check, uint64_t seq, const char *segment, uint64_t offset,
                         const char *what)
{
    if (s->failed && rank_of(check) >= s->rank)
        return;   /* the first failure of the best rank is the one reported */
    s->failed = 1;
    s->rank = rank_of(check);
    s->check = check;
    s->seq = seq;
    s->offset = offset;
    snprintf(s->segment, sizeof s->segment, "%s", segment ? segment : "");
    snprintf(s->what, sizeof s->what, "%s", what);
}

/* The iterator's message without its "segment S offset O seq N: " prefix
 * (those are reported as fields). */
static const char *without_location(const char *msg)
{
    const char *p = strstr(msg, ": ");
    return !strncmp(msg, "segment ", 8) && p ? p + 2 : msg;
}

/* Each kept snapshot records the Merkle root at its seq: the tree check
 * compares it with the log's tree there (a root that differs is said once
 * the log, the replay and the tree hold: those name what was changed more
 * precisely). An unreadable snapshot is said by the comparison with the
 * replay; another version's is not compared. 0 or TOOL_ERROR. */
static int expect_snapshot_roots(vstate *s)
{
    tms_snapshot_meta m;
    for (size_t i = 0; i < s->nsnaps; i++)
        if (tms_snapshot_meta_read(s->datadir, s->snaps[i], &m) == TMS_OK && m.schema == TMS_SCHEMA_VERSION &&
            !strcmp(m.build, tms_version()) && tool_treecheck_expect_root(&s->tc, s->snaps[i], m.root))
            return TOOL_ERROR;
    return 0;
}

/* Each frame of the one fold, as the log holds it, before its record is
 * decoded: the Merkle tree and kept snapshots' roots (tool_verify_tree.c, on
 * a thread of its own), and at the projection's seq its chain head (a log rewritten under the
 * projection is said as such, before the digests at that seq differ). With
 * --since, the frames up to N are the receipt's (frame N was checked
 * against it by tool_verify_since_begin). TMS_OK. */
static tms_err on_frame(void *ctx, const tms_log_record *lr)
{
    vstate *s = ctx;
    char what[640];
    if (s->has_since && lr->seq <= s->since.size)
        return TMS_OK;
    tool_treecheck_record(&s->tc, lr->seq, lr->payload, lr->len);
    if (!s->proj || lr->seq != s->pseq || tool_verify_proj_settle(s) || !s->proj)
        return TMS_OK;
    if (!memcmp(lr->hash, s->phead, TMS_HASH_LEN))
        return TMS_OK;
    snprintf(what, sizeof what,
             "the projection at seq %" PRIu64 " records a different chain head than the log: "
             "the log was rewritten at or before seq %" PRIu64,
             s->pseq, s->pseq);
    tool_verify_failure(s, "projection", s->pseq, NULL, 0, what);
    return TMS_OK;   /* the fold goes on: a bad frame later on is said before this */
}

/* A record of the fold that decoded and replayed: where the log, as read, ends. */
static void read_to(vstate *s, const tms_fold_event *ev)
{
    const tms_log_record *lr = ev->frame;
    if (s->has_since && lr->seq <= s->since.size)
        return;   /* the receipt's: last_* start at its seq N */
    s->records++;
    s->last_seq = lr->seq;
    s->last_time = ev->rec->time;
    memcpy(s->head, lr->hash, TMS_LOG_HASH_LEN);
    if (strcmp(s->last_segment, lr->segment))   /* once a segment, not a formatted copy a record */
        snprintf(s->last_segment, sizeof s->last_segment, "%s", lr->segment);
    s->end_offset = lr->offset + TMS_LOG_FRAME_HEADER + lr->len;
}

/* After the fold: the projection not ahead of the log; with --since, a
 * projection at the receipt's seq N has N's chain head (one between the
 * starting state and N is not compared). */
static void check_projection(vstate *s)
{
    char what[640];
    tool_verify_proj_settle(s);   /* its outcome is run's to say */
    if (!s->proj || s->pseq == 0)
        return;
    if (s->has_since && s->pseq <= s->since.size) {
        if (s->pseq == s->since.size && memcmp(s->since.head, s->phead, TMS_HASH_LEN)) {
            snprintf(what, sizeof what,
                     "the projection at seq %" PRIu64 " records a different chain head than the log: "
                     "the log was rewritten at or before seq %" PRIu64,
                     s->pseq, s->pseq);
            tool_verify_failure(s, "projection", s->pseq, NULL, 0, what);
        }
        return;
    }
    if (s->pseq > s->last_seq) {
        snprintf(what, sizeof what,
                 "the projection is at seq %" PRIu64 " but the log ends at seq %" PRIu64
                 ": records are missing from the log",
                 s->pseq, s->last_seq);
        tool_verify_failure(s, "projection", s->last_seq + 1, s->last_segment, s->end_offset, what);
    }
}

/* Segment and offset of seq (for failures found by the replay). */
static void locate(vstate *s)
{
    tms_log_iter *it;
    tms_log_record lr;
    int has = 0;
    if (s->segment[0] || tms_log_iter_open(s->logdir, s->seq, &it, NULL))
        return;
    while (tms_log_iter_next(it, &lr, &has) == TMS_OK && has && lr.seq <= s->seq)
        if (lr.seq == s->seq) {
            snprintf(s->segment, sizeof s->segment, "%s", lr.segment);
            s->offset = lr.offset;
            break;
        }
    tms_log_iter_close(it);
}

/* ---- the replayed state's digests ----------------------------------------------------------- */

/* What a state is compared by: the digest of its projection (with meta at
 * seq, head: the live projection's), the digest of its snapshot encoding,
 * and the digest of its projection without meta (what a snapshot records
 * as proj_digest). Each O(state); those wanted beyond the first are
 * computed on more threads meanwhile (the state is only read). */
typedef struct digests {
    const tms_state *st;
    uint8_t proj[TMS_HASH_LEN], enc[TMS_HASH_LEN], sproj[TMS_HASH_LEN];
    tms_err proj_err, enc_err, sproj_err;
    msgpack_sbuffer *keep;   /* non-NULL: the encoding is left there (the caller destroys it) */
    /* A kept snapshot's payload (its digest checked when it was read) to compare the encoding with, byte for
     * byte instead of by digest, which is cheaper and says the same: the digest is of the bytes, and two
     * encodings of one digest are one encoding (state_snapshot_index.c), barring a collision of BLAKE2b. NULL:
     * none. */
    const uint8_t *kept;
    size_t kept_len;
    int enc_digest;          /* enc wanted too (with kept: else only same) */
    int same;                /* with kept: the encoding is its bytes */
} digests;

static void *encode_digest(void *arg)
{
    digests *d = arg;
    msgpack_sbuffer enc;
    if (d->kept && !d->enc_digest && !d->keep) {   /* only compared: no copy of the encoding (~26 B/account) */
        d->enc_err = tool_verify_snap_same(d->st, d->kept, d->kept_len, &d->same);
        return NULL;
    }
    msgpack_sbuffer_init(&enc);
    if (d->kept && (enc.data = malloc(d->kept_len ? d->kept_len : 1)))
        enc.alloc = d->kept_len ? d->kept_len : 1;   /* sized once: no copy as it grows */
    if ((d->enc_err = tms_state_snapshot_encode(d->st, &enc)) == TMS_OK && d->kept)
        d->same = enc.size == d->kept_len && !memcmp(enc.data, d->kept, enc.size);
    if (d->enc_err == TMS_OK && (!d->kept || d->enc_digest))
        d->enc_err = tms_state_snapshot_digest(enc.data, enc.size, d->enc);
    if (d->keep && d->enc_err == TMS_OK)
        *d->keep = enc;
    else
        msgpack_sbuffer_destroy(&enc);
    return NULL;
}

/* Fill d->proj (want_proj), d->enc (want_enc; the encoding left in d->keep when set) and d->sproj (want_sproj)
 * for d->st: the encoding on a second thread while the projection digests are made here (the two of them from
 * one walk of the state). The first error, or TMS_OK. */
static tms_err state_digests(digests *d, int want_proj, uint64_t seq, const uint8_t *head, int want_enc,
                             int want_sproj)
{
    pthread_t te;
    d->proj_err = d->enc_err = d->sproj_err = TMS_OK;
    int enc_thread = want_enc && (want_proj || want_sproj) && pthread_create(&te, NULL, encode_digest, d) == 0;
    if (want_proj && want_sproj)
        d->proj_err = tms_state_projection_digests(d->st, seq, head, d->proj, d->sproj);
    else if (want_proj && !enc_thread)   /* the fold waits: its core and the other */
        d->proj_err = tms_state_projection_digests_on2(d->st, seq, head, d->proj, NULL);
    else if (want_proj)
        d->proj_err = tms_state_projection_digest(d->st, seq, head, d->proj);
    else if (want_sproj)
        d->sproj_err = tms_state_projection_digest(d->st, 0, NULL, d->sproj);
    if (want_enc && !enc_thread)
        encode_digest(d);
    if (enc_thread)
        pthread_join(te, NULL);
    return d->proj_err ? d->proj_err : d->enc_err ? d->enc_err : d->sproj_err;
}

/* --receipt: the state at the log's end, as FILE.state will hold it (d computed with want_enc, want_sproj and
 * d->keep = kept). */
static void keep_end(vstate *s, const digests *d, msgpack_sbuffer *kept)
{
    memcpy(s->state_digest, d->enc, TMS_HASH_LEN);
    memcpy(s->end_sproj, d->sproj, TMS_HASH_LEN);
    s->end_len = kept->size;
    s->end_enc = msgpack_sbuffer_release(kept);
    s->end_done = 1;
}

/* A kept snapshot's recorded projection digest (what the writer's open compares with its projection's) against
 * the projection digest of the state (sproj: tms_state_projection_digest without meta). 1 equal, 0 a failure. */
static int compare_snapshot_proj(vstate *s, uint64_t seq, const uint8_t recorded[TMS_HASH_LEN],
                                 const uint8_t sproj[TMS_HASH_LEN])
{
    if (!memcmp(recorded, sproj, TMS_HASH_LEN))
        return 1;
    tool_verify_failure(s, "snapshot", seq, NULL, 0, "a snapshot's projection digest is not that of its state (the "
                        "replay's at its seq): the snapshot was altered");
    return 0;
}

/* A kept snapshot against the replayed state at its seq: its chain head, its record's time, the state encoding
 * (same: the replayed state's is the payload's bytes, whose digest is the snapshot's), and its projection
 * digest. */
static void compare_snapshot(vstate *s, const tms_fold_event *ev, const tms_snapshot_meta *m, int same,
                             const uint8_t sproj[TMS_HASH_LEN])
{
    if (memcmp(m->head, ev->hash, TMS_HASH_LEN) || m->time != ev->rec->time)
        tool_verify_failure(s, "snapshot", m->seq, NULL, 0, "a snapshot's chain head or time is not the log's at its seq");
    else if (!same)
        tool_verify_failure(s, "snapshot", m->seq, NULL, 0, "a snapshot's state differs from a replay of the log to its seq");
    else if (compare_snapshot_proj(s, m->seq, m->proj_digest, sproj))
        s->snaps_checked++;
}

/* The projection's digest (proj: the replayed state's at the projection's seq) against the projection's. */
static void compare_projection(vstate *s, const uint8_t proj[TMS_HASH_LEN])
{
    if (memcmp(proj, s->pdigest, TMS_HASH_LEN))
        tool_verify_failure(s, "digest", s->pseq, NULL, 0, "the projection's digest differs from a fresh replay of the log");
    s->proj_compared = 1;
    memcpy(s->digest, proj, TMS_HASH_LEN);   /* the digest the report gives, when the log ends at pseq */
    s->digest_done = 1;
}

/* At the projection's seq: the folded state's digest against the projection's; at a snapshot's, the snapshot;
 * with --since, at the receipt's seq (reached from an older snapshot), the receipt's state digest. (The end of
 * the log is known only when the fold ends: end_state.) */
static tms_err at_projection(void *ctx, const tms_fold_event *ev)
{
    vstate *s = ctx;
    tms_snapshot_meta m;
    uint8_t *payload = NULL;
    uint64_t seq = ev->rec->seq;
    if (s->parts)
        return TMS_OK;   /* only the log's end is compared: tool_verify_parts_end */
    int due = 0, snap = 0, proj = s->proj && seq == s->pseq && !tool_verify_proj_settle(s) && s->proj;
    int at_n = s->has_since && seq == s->since.size && s->start_seq < seq;
    digests d = {.st = ev->state, .enc_digest = at_n};
    while (s->next_snap < s->nsnaps && s->snaps[s->next_snap] < seq)
        s->next_snap++;   /* beyond the log's end or skipped: said by report */
    if (s->next_snap < s->nsnaps && s->snaps[s->next_snap] == seq) {
        due = 1;
        snap = tool_verify_snap_due(s, seq, &m, &payload, &d.kept_len);
        if (snap < 0)
            return TMS_E_NOMEM;
        d.kept = payload;
        s->next_snap++;
    }
    tms_err err = snap || proj || at_n ? state_digests(&d, proj, seq, ev->hash, snap || at_n, snap) : TMS_OK;
    free(payload);
    if (due)
        tool_verify_snap_ahead(s, seq);   /* the next one, now that this one's payload is freed */
    if (err)
        return err;
    if (snap)
        compare_snapshot(s, ev, &m, d.same, d.sproj);
    if (proj)
        compare_projection(s, d.proj);
    if (at_n)
        tool_verify_since_at(s, ev, d.enc);
    return TMS_OK;
}

/* The replayed state st at the log's end: its projection digest (reported) and, for a receipt, the encoding
 * and its digest (and the projection digest FILE.state records), unless computed already. 0 or TOOL_ERROR. */
static int end_state(vstate *s, const tms_state *st)
{
    msgpack_sbuffer kept;
    if (s->parts)
        return tool_verify_parts_end(s, st);
    int proj = !s->digest_done || s->pseq != s->last_seq, end = s->want_state && !s->end_done;
    digests d = {.st = st, .keep = end ? &kept : NULL};
    msgpack_sbuffer_init(&kept);
    tms_err err = proj || end ? state_digests(&d, proj, s->last_seq, s->head, end, end) : TMS_OK;
    if (err) {
        msgpack_sbuffer_destroy(&kept);
        return tool_fail("digest: %s", tms_strerror(err));
    }
    if (proj)
        memcpy(s->digest, d.proj, TMS_HASH_LEN);
    if (end)
        keep_end(s, &d, &kept);
    return 0;
}

/* Each record of the fold, decoded and replayed: where the log ends, into
 * the tally of the as-of index (step 4) up to the projection's seq, and the
 * comparisons due at its seq. */
static tms_err on_record(void *ctx, const tms_fold_event *ev)
{
    vstate *s = ctx;
    read_to(s, ev);
    if (s->parts)
        tool_verify_parts_record(s, ev);
    if (s->tally && ev->rec->seq <= s->pseq)   /* a failure is kept in the tally: said after the fold */
        tms_history_tally_add(s->tally, ev->state, ev->rec->seq, ev->rec->time, ev->effects, ev->neffects);
    return s->need_at ? at_projection(ctx, ev) : TMS_OK;
}

/* The records the tally's table is sized for before the fold: those up to the projection's seq that the tree
 * holds, neither checked yet (a sparse tree file or a projection's meta can claim any count), so never a table
 * of more than an eighth of the machine's memory (128 bytes a record at most: history.h); beyond, it grows. */
static uint64_t tally_room(const vstate *s)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t n = s->pseq < s->tc.tree_size ? s->pseq : s->tc.tree_size;
    uint64_t most = pages > 0 && page > 0 ? (uint64_t)pages / 8 * (uint64_t)page / 128 : 0;
    return n < most ? n : most;
}

/* Step 4's tally, added to during step 3's fold up to the projection's seq
 * when its index is complete there (else there is nothing to compare: the
 * next writer rebuilds it). 0, or TOOL_ERROR. */
static int history_begin(vstate *s)
{
    if (!s->proj || !s->pseq || s->phist.seq != s->pseq || (!s->preader && s->damaged[0]) || s->has_since)
        return 0;   /* (damaged is known once the projection's walks are settled: then the tally is dropped) */
    if (tms_history_tally_new(s->phist.key, &s->tally))
        return tool_fail("as-of index: %s", tms_strerror(TMS_E_NOMEM));
    (void)tms_history_tally_reserve(s->tally, tally_room(s));   /* refused: the table grows as it fills */
    return 0;
}

/* After a replay that stopped at a record whose recomputed verdict
 * differs: the rest of the log, from seq from on, read as the fold would
 * have read it (frames, the Merkle tree, records decoded, the projection's
 * chain head) for the failures said before the replay's, and for where the
 * log ends. Only on this failure's path. 0 or TOOL_ERROR. */
static int scan_rest(vstate *s, uint64_t from)
{
    tms_log_iter *it = NULL;
    tms_log_report rep;
    tms_log_record lr;
    tms_record rec;
    char why[256];
    int has = 0, rc = 0;
    tms_err err = tms_log_iter_open(s->logdir, from > 1 ? from - 1 : 1, &it, &rep);   /* frame from chained to the one before */
    if (err)
        return tool_fail("cannot read the log: %s", rep.msg[0] ? rep.msg : tms_strerror(err));
    tms_cmd_init(&rec.cmd);
    while ((err = tms_log_iter_next(it, &lr, &has)) == TMS_OK && has) {
        if (lr.seq < from) {   /* the frame the replay stopped at (checked by the fold): where the log goes on */
            s->last_seq = lr.seq;
            snprintf(s->last_segment, sizeof s->last_segment, "%s", lr.segment);
            s->end_offset = lr.offset + TMS_LOG_FRAME_HEADER + lr.len;
            continue;
        }
        on_frame(s, &lr);
        if (tms_record_decode(&rec, lr.payload, lr.len, why, sizeof why) != TMS_OK) {
            tool_verify_failure(s, "record", lr.seq, lr.segment, lr.offset, why);
            break;
        }
        s->last_seq = lr.seq;
        snprintf(s->last_segment, sizeof s->last_segment, "%s", lr.segment);
        s->end_offset = lr.offset + TMS_LOG_FRAME_HEADER + lr.len;
    }
    const tms_log_report *r = tms_log_iter_report(it);
    if (err == TMS_E_CORRUPT)
        tool_verify_failure(s, "frame", r->bad_seq, r->bad_segment, r->bad_offset, without_location(r->msg));
    else if (err)
        rc = tool_fail("cannot read the log: %s", r->msg[0] ? r->msg : tms_strerror(err));
    tms_cmd_free(&rec.cmd);
    tms_log_iter_close(it);
    return rc;
}

/* What stopped the fold (err, res), as verify says it: a failure of the
 * log ("frame", "record") or of the replay, or an error. 0 or TOOL_ERROR. */
static int fold_stopped(vstate *s, tms_err err, const tms_replay_result *res)
{
    const char *why = strstr(res->msg, "): ");   /* a record's: "seq N (SEGMENT offset O): why" */
    switch (res->fault) {
    case TMS_FOLD_FRAME:
        tool_verify_failure(s, "frame", res->fault_seq, res->fault_segment, res->fault_offset,
                            without_location(res->msg));
        return 0;
    case TMS_FOLD_RECORD:
        tool_verify_failure(s, "record", res->fault_seq, res->fault_segment, res->fault_offset,
                            why ? why + 3 : res->msg);
        return 0;
    case TMS_FOLD_REPLAY:
        tool_verify_failure(s, "replay", res->last_seq + 1, NULL, 0, res->msg);
        if (scan_rest(s, res->fault_seq + 1))
            return TOOL_ERROR;
        check_projection(s);
        return 0;
    default:   /* an observer's error (out of memory in the digests), an I/O error: no verdict */
        return tool_fail("replay failed: %s", res->msg[0] ? res->msg : tms_strerror(err));
    }
}

/* Steps 2 and 3: one fold of the log in memory, every frame checked
 * (checksums, chain, Merkle tree) and every record decoded and replayed
 * (every recomputed verdict equal to the logged one), the digests compared
 * at the projection's seq and at kept snapshots'. With --since the fold
 * starts from s->start (a snapshot's state) after s->start_seq. 0 (s->failed
 * may be set) or TOOL_ERROR. */
static int replay_and_compare(vstate *s)
{
    tms_replay_opts o = {0};
    tms_replay_result res;
    tms_state *st = s->start ? s->start : tms_state_new();
    int rc = 0;
    s->start = NULL;   /* st is this function's now */
    if (!st || tool_verify_parts_fits(s, &st)) {
        tms_state_free(st);
        return st ? TOOL_ERROR : tool_fail("out of memory");
    }
    if (s->has_since) {   /* where the receipt left the log: nothing read yet */
        s->last_seq = s->since.size;
        s->last_time = s->since.time;
        memcpy(s->head, s->since.head, TMS_LOG_HASH_LEN);
    }
    s->need_at = (s->proj && s->pseq) || s->nsnaps || s->has_since;
    if (history_begin(s) || expect_snapshot_roots(s)) {
        tms_state_free(st);
        return TOOL_ERROR;
    }
    tool_treecheck_start(&s->tc);
    o.on_effects = on_record;
    o.on_frame = on_frame;
    o.before_apply = s->parts ? tool_verify_parts_before : NULL;
    o.to_seq = tool_verify_parts_last(s);   /* a writer appending meanwhile: the tail as read first (0: the end) */
    o.ctx = s;
    o.from_seq = s->start_seq;
    o.from_head = s->start_head;
    o.from_locator = s->has_since_at ? &s->since_at : NULL;   /* frame N - 1 (dropped when the fold starts before N) */
    memset(&res, 0, sizeof res);
    res.last_seq = s->start_seq;
    digests d = {.st = st};
    tms_err err = TMS_OK;
    /* the fold hears of the records after its start only: the projection at the start, and the starting kept
     * snapshot's projection digest, are compared here */
    int proj = s->proj && s->pseq && s->pseq == s->start_seq, sproj = s->start_check_proj;
    if ((proj || sproj) && !(err = state_digests(&d, proj, s->pseq, s->start_head, 0, sproj))) {
        if (sproj)
            compare_snapshot_proj(s, s->start_seq, s->start_proj, d.sproj);
        if (proj)
            compare_projection(s, d.proj);
    }
    if (!err) {   /* even after a failure at the start: one of the log's own, later on, is said first */
        tool_verify_snap_ahead(s, s->start_seq);
        err = tool_fold(st, s->logdir, &o, &res, "tms-audit: verifying", 0);
    }
    tool_verify_snap_end(s);
    if (err)
        rc = fold_stopped(s, err, &res);
    tool_treecheck_finish(&s->tc);
    if (!err) {
        if (res.torn) {
            s->torn = 1;
            snprintf(s->torn_msg, sizeof s->torn_msg, "%s", res.torn_msg);
        }
        tool_treecheck_end(&s->tc, s->last_seq);
        check_projection(s);
        rc = s->failed ? 0 : end_state(s, st);
    }
    tms_state_free(st);
    return rc;
}

/* Step 4: the as-of index (history.h) of the projection, complete to its
 * seq, against the tally of the index the log makes to there, added to
 * during step 3's fold (history_begin). An index not complete to the
 * projection's seq is no failure: the next writer rebuilds it. Frees the
 * tally. */
static int check_history(vstate *s)
{
    uint8_t digest[TMS_HASH_LEN];
    if (!s->tally)
        return 0;
    int reached = !s->failed && s->proj && s->last_seq >= s->pseq;   /* else nothing to compare */
    tms_err err = reached ? tms_history_tally_end(s->tally, digest) : TMS_OK;
    tms_history_tally_free(s->tally);
    s->tally = NULL;
    if (err)
        return tool_fail("as-of index: %s", tms_strerror(err));
    if (reached && memcmp(digest, s->phist.digest, TMS_HASH_LEN))
        tool_verify_failure(s, "history", s->pseq, "proj/data.mdb", 0,
                "the projection's as-of index differs from the one the log makes (damaged)");
    return 0;
}

/* The notes after a verify that held: a projection behind, a torn tail. */
static void notes(const vstate *s)
{
    if (s->proj && s->pseq < s->last_seq && s->has_since && !s->proj_compared)
        tool_warn("note: the projection is at seq %" PRIu64 ", before the state this --since verify started from "
                  "(seq %" PRIu64 "): not compared (a full verify compares it); the next writer to open the "
                  "directory catches it up", s->pseq, s->start_seq);
    else if (s->proj && s->pseq < s->last_seq)
        tool_warn("note: the projection is at seq %" PRIu64 ", behind the log (seq %" PRIu64
                  "); the next writer to open the directory catches it up",
                  s->pseq, s->last_seq);
    if (s->torn)
        tool_warn("note: %s (never acknowledged; cut by the next writer)", s->torn_msg);
    if (s->state_note[0])
        tool_warn("note: %s; started from %s", s->state_note, s->from[0] ? s->from : "the empty state");
}

static int report(vstate *s)
{
    char hex[2 * TMS_HASH_LEN + 1], when[TOOL_TIME_MAX];
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_boolean(!s->failed));
    if (s->failed) {
        locate(s);
        json_object_set_new(o, "check", json_string(s->check));
        json_object_set_new(o, "seq", json_integer((json_int_t)s->seq));
        json_object_set_new(o, "segment", s->segment[0] ? json_string(s->segment) : json_null());
        json_object_set_new(o, "offset", s->segment[0] ? json_integer((json_int_t)s->offset) : json_null());
        json_object_set_new(o, "error", json_string(s->what));
        if (s->has_since)
            json_object_set_new(o, "since", json_integer((json_int_t)s->since.size));
        tool_print_json(o);
        tool_warn("verify failed at seq %" PRIu64 " (segment %s, offset %" PRIu64 "): %s", s->seq,
                  s->segment[0] ? s->segment : "-", s->offset, s->what);
        return tool_finish_stdout() ? TOOL_ERROR : TOOL_NEGATIVE;
    }
    if (s->has_since) {   /* records 1..since are the receipt's (or the seed's); records counts those read after */
        json_object_set_new(o, "since", json_integer((json_int_t)s->since.size));
        if (s->base)
            json_object_set_new(o, "base", json_integer((json_int_t)s->base));
        json_object_set_new(o, "from", s->from[0] ? json_string(s->from) : json_null());   /* the starting state's */
        json_object_set_new(o, "from_seq", json_integer((json_int_t)s->start_seq));
        json_object_set_new(o, "tenants_replayed",   /* only those the records after it name; null: all */
                            s->tenants_replayed ? json_integer((json_int_t)s->tenants_replayed) : json_null());
    }
    json_object_set_new(o, "records", json_integer((json_int_t)s->records));
    json_object_set_new(o, "last_seq", json_integer((json_int_t)s->last_seq));
    json_object_set_new(o, "head", json_string(tool_hex(s->head, TMS_LOG_HASH_LEN, hex)));
    json_object_set_new(o, "digest", json_string(tool_hex(s->digest, TMS_HASH_LEN, hex)));
    json_object_set_new(o, "last_time", s->last_seq ? json_string(tool_time_format(s->last_time, when)) : json_null());
    json_object_set_new(o, "projection", json_string(!s->proj ? "absent" : s->pseq == s->last_seq ? "match" : "behind"));
    json_object_set_new(o, "projection_seq", s->proj ? json_integer((json_int_t)s->pseq) : json_null());
    json_object_set_new(o, "torn_tail", s->torn ? json_string(s->torn_msg) : json_null());
    char b64[sodium_base64_ENCODED_LEN(TMS_TLOG_HASH, sodium_base64_VARIANT_ORIGINAL)];
    tms_tlog_hash root;
    tms_tlog_range_root(&s->tc.range, root);
    tms_b64_encode(root, TMS_TLOG_HASH, b64);
    json_object_set_new(o, "tree_root", json_string(b64));   /* as a checkpoint of last_seq would say it */
    json_object_set_new(o, "tree", json_string(!s->tc.tree ? "absent" : s->tc.tree_size >= s->last_seq ? "match"
                                                                                                          : "behind"));
    json_object_set_new(o, "checkpoints", json_integer((json_int_t)s->tc.ncps));
    json_object_set_new(o, "snapshots", json_integer((json_int_t)s->snaps_checked));
    json_object_set_new(o, "signatures", s->tc.have_key ? json_string(s->tc.key.name) : json_string("unchecked"));
    if (s->has_since)   /* the as-of index is tallied from the whole log to be compared: a full verify's */
        json_object_set_new(o, "history", json_string("unchecked"));
    tool_print_json(o);
    notes(s);
    return tool_finish_stdout();
}

typedef struct projection_job {
    vstate *s;
    const char *datadir;
    int rc;
} projection_job;

static void *read_projection_job(void *arg)
{
    projection_job *j = arg;
    j->rc = tool_verify_proj_read(j->s, j->datadir);
    return NULL;
}

/* Step 1 and, with --since, the receipt's point and the state to start
 * from (tool_verify_since_begin), the two on two threads: the second reads
 * the log's end only to learn which tenants the tail names (a by-tenant
 * --since then folds no further than it read, tool_verify_parts.c). A full
 * verify reads the projection's meta only; its walks go on beside the fold
 * (tool_verify_proj_begin). 0 (s->failed may be set) or TOOL_ERROR. */
static int begin(vstate *s, const char *datadir)
{
    projection_job j = {s, datadir, 0};
    pthread_t t;
    if (!s->has_since)
        return tool_verify_proj_begin(s, datadir);
    if (pthread_create(&t, NULL, read_projection_job, &j) != 0)
        return tool_verify_proj_read(s, datadir) || tool_verify_since_begin(s) ? TOOL_ERROR : 0;
    int rc = tool_verify_since_begin(s);
    pthread_join(t, NULL);
    return rc || j.rc ? TOOL_ERROR : 0;
}

/* The steps after the options (see tool_verify_main): 0 (s->failed may be
 * set) or TOOL_ERROR. The caller frees what s holds. */
static int run(vstate *s, const char *data, const char *key, int want_receipt)
{
    if (tms_snapshot_list(data, &s->snaps, &s->nsnaps) != TMS_OK)
        return tool_fail("verify: cannot list %s/snapshots", data);
    for (size_t i = 0; i < s->nsnaps / 2; i++) {   /* ascending: the fold meets them in order */
        uint64_t t = s->snaps[i];
        s->snaps[i] = s->snaps[s->nsnaps - 1 - i];
        s->snaps[s->nsnaps - 1 - i] = t;
    }
    if (tool_log_dir(data, s->logdir, sizeof s->logdir) || tool_treecheck_begin(&s->tc, data, key, want_receipt) ||
        begin(s, data)) {
        tool_verify_proj_settle(s);
        return TOOL_ERROR;
    }
    int replayed = s->failed ? 0 : replay_and_compare(s);
    int settled = tool_verify_proj_settle(s);   /* the projection's walks: over before anything uses them */
    if (check_history(s) || replayed || settled)   /* after the fold that tallied the index; frees the tally */
        return TOOL_ERROR;
    if (!s->failed && s->damaged[0])   /* the log is intact; the projection is not (the next writer rebuilds it) */
        tool_verify_failure(s, "projection", s->last_seq, "proj/data.mdb", 0, s->damaged);
    if (!s->failed && s->tc.failed)   /* the tree and the checkpoints, once the log itself and the replay hold */
        tool_verify_failure(s, s->tc.check, s->tc.seq, NULL, 0, s->tc.what);
    if (!s->failed && s->tc.root_bad)
        tool_verify_failure(s, "snapshot", s->tc.root_bad, NULL, 0, "a snapshot's Merkle root is not the tree of "
                            "the log's records up to its seq");
    if (!s->failed && s->nsnaps && s->snaps[s->nsnaps - 1] > s->last_seq)
        tool_verify_failure(s, "snapshot", s->snaps[s->nsnaps - 1], NULL, 0, "a snapshot beyond the log's last seq");
    return 0;
}

/* 1. the projection's meta (seq, chain head) and digest, in one snapshot
 *    taken before the log is read, so a live writer can only be ahead in the log
 *    (its walks beside the fold: tool_verify_proj.c);
 * 2. one read of the whole log, through the checking iterator (checksums,
 *    seqs, the chain on a second thread), each frame fed to the Merkle tree
 *    check, its chain head compared with the projection's at its seq;
 * 3. in the same pass, a fold in memory (every payload decoded, every
 *    recomputed verdict equal to the logged one), its digest compared with
 *    the projection's at its seq and with kept snapshots' at theirs; then
 *    the projection not ahead of the log;
 * 4. the projection's as-of index with the tally of the one the log makes, made in 3.
 * With --since FILE, before 2: the receipt's point N against the log's
 * frame N and the tree file (tool_verify_since.c) and the state at N (a
 * kept snapshot); 2 and 3 then go from it on, and 4 is not done. With
 * --receipt FILE, after a verify that held: FILE written. */
int tool_verify_main(int argc, char **argv)
{
    const char *data = NULL, *key = NULL, *since = NULL, *receipt = NULL, *pos[1];
    int npos;
    const tool_opt opts[] = {{"data", 1, &data, NULL}, {"key", 1, &key, NULL}, {"since", 1, &since, NULL},
                             {"receipt", 1, &receipt, NULL}, {NULL, 0, NULL, NULL}};
    static vstate s;
    static char where[PATH_MAX];
    tool_receipt out;
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage_verify, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data)
        return tool_fail("verify: --data DIR is required (try --help)");
    memset(&s, 0, sizeof s);
    memset(&out, 0, sizeof out);
    s.datadir = data;
    s.since_path = since;
    s.want_state = receipt != NULL;
    if (since && tool_receipt_read("--since", since, &s.since))
        return TOOL_ERROR;
    s.has_since = since != NULL;
    if (!since && tool_verify_base(&s, data, key))   /* a seeded directory starts from its base */
        return TOOL_ERROR;
    if (since && strcmp(s.since.version, tms_version()))
        rc = tool_fail("--since %s: a receipt of tmsperm %s, this is %s (another version's rules may make another "
                       "state from the same log): run a full verify", since, s.since.version, tms_version());
    if (!rc)
        rc = run(&s, data, key, receipt != NULL);
    if (!rc && !s.failed && receipt)
        rc = tool_verify_receipt(&s, &out) == TOOL_ERROR ? TOOL_ERROR : 0;
    if (!rc)
        rc = report(&s);
    if (rc == TOOL_OK && receipt)   /* never for a verify that failed; FILE.state first, then FILE */
        rc = tool_verify_write_state(&s, receipt) ? TOOL_ERROR
             : tool_receipt_write("--receipt", receipt, &out, realpath(data, where) ? where : data);
    tool_receipt_free(&out);
    tool_receipt_free(&s.since);
    tms_state_free(s.start);
    tool_verify_parts_free(&s);
    tms_tenant_digests_free(&s.ptenants);
    free(s.end_enc);
    free(s.snaps);
    tool_treecheck_free(&s.tc);
    return rc;
}
