/* tool_verify.h -- what the files of "tms-audit verify" share: the state of
 * one run (the full verify, tool_verify.c; from a receipt with --since,
 * tool_verify_since.c) and the steps one file calls in the other. */
#ifndef TMS_TOOL_VERIFY_H
#define TMS_TOOL_VERIFY_H

#include <stdint.h>
#include "replay.h"
#include "store.h"
#include "snapshots.h"
#include "tool_receipt.h"
#include "tool_verify_tree.h"

typedef struct vstate {
    char logdir[4200];
    /* the live projection */
    int proj;                            /* 1 if DIR/proj exists (tool_verify_proj.c: until settled, its meta read) */
    struct tool_proj_reader *preader;    /* its walks, beside the fold; NULL once settled */
    int proj_rc;                         /* their outcome, settled: 0 or TOOL_ERROR */
    uint64_t pseq;
    uint8_t phead[TMS_HASH_LEN], pdigest[TMS_HASH_LEN];
    tms_store_check_history phist;       /* its as-of index: complete to which seq, digest */
    tms_tenant_digests ptenants;         /* --since: its tenant digests (tool_verify_parts.c) */
    /* the log, as read */
    uint64_t records, last_seq;
    int64_t last_time;
    uint8_t head[TMS_LOG_HASH_LEN];
    char last_segment[256];
    uint64_t end_offset;
    int torn;
    char torn_msg[512];
    /* the replay */
    uint8_t digest[TMS_HASH_LEN];        /* the projection digest of the replayed state at last_seq */
    int digest_done;                     /* ... computed already (at the projection's seq) */
    uint8_t state_digest[TMS_HASH_LEN];  /* the digest of its snapshot encoding (a receipt's), set with end_done */
    int want_state;                      /* a receipt is asked for: compute it and keep the state (end_*) */
    char damaged[512];                   /* the projection could not be read: why */
    /* the failure reported: the first of the best rank (tool_verify.c, rank_of) */
    int failed;
    int rank;                            /* ... of this rank (tool_verify.c, rank_of) */
    const char *check;
    uint64_t seq, offset;
    char segment[256];
    char what[640];
    tool_treecheck tc;                   /* the Merkle tree file and the stored checkpoints */
    const char *datadir;
    uint64_t *snaps;                     /* the kept snapshots' seqs, ascending */
    size_t nsnaps, next_snap, snaps_checked;
    struct tool_snap_ahead *snap_ahead; /* the next of them, being read beside the fold (tool_verify_snap.c) */
    /* --since: what the receipt says about records 1..N, and the state the fold starts from */
    int has_since;
    tool_receipt since;                  /* N = since.size */
    int has_since_at;                    /* where frame N - 1 is, found by reading its segment from its start: */
    tms_log_locator since_at;            /* where the tail's readings start (tms_log_iter_open_at) */
    uint64_t base;                       /* a seeded directory: since is its base snapshot (tool_verify_base) */
    tms_state *start;                    /* the state after start_seq (owned; NULL: the empty state, seq 0) */
    uint64_t start_seq;
    uint8_t start_head[TMS_HASH_LEN];
    char bad_at_n[400];                  /* the kept snapshot of seq N did not agree with the receipt: why */
    int proj_compared;                   /* the projection's digest was compared with the replay's */
    const char *since_path;              /* the receipt's file: its state is in since_path.state */
    char state_note[5200];               /* since_path.state was there but not started from: why */
    char from[4400];                     /* the file the starting state came from ("": the empty state) */
    int start_check_proj;                /* the starting state is a kept snapshot's: its recorded */
    uint8_t start_proj[TMS_HASH_LEN];    /* ... projection digest, to compare with its state's */
    /* --receipt: the replayed state at the log's end, for FILE.state */
    char *end_enc;                       /* its snapshot encoding (malloc'd), end_len bytes */
    size_t end_len;
    uint8_t end_sproj[TMS_HASH_LEN];     /* tms_state_projection_digest(state, 0, NULL) */
    int end_done;                        /* ... computed already (at the fold's last record) */
    /* step 4, written during step 3's fold (the one pass over the log): the as-of index rebuilt from the log */
    tms_history_tally *tally;            /* the index the log makes, when the projection's is to be compared */
    int need_at;                         /* at_projection has something to compare */
    struct tool_parts *parts;            /* --since over the tenants the records name (tool_verify_parts.c) */
    uint64_t tenants_replayed;           /* ... how many, when it held to the end (0: the whole state) */
} vstate;

/* --since over the tenants its records name (tool_verify_parts.c): the
 * state at N from FILE.state decoded for those tenants only, replayed, its
 * digest at the end composed from FILE.state's parts, the projection
 * compared by tenant. read: FILE.state at path read by its parts table,
 * only the named tenants' parts (not with --receipt, whose R2.state wants
 * every part's bytes): 1 taken (s->start the part, and s->from is to be
 * path), 0 not (read it whole), -1 after a message. take: in place of
 * FILE.state's whole decode (m, its payload and parts ix, as
 * tms_snapshot_read_file_index gives them, taken on 1; ix emptied always):
 * 1 taken, 0 not (the tail is empty, names no tenant, or names too many; a
 * kept snapshot in it), -1 after a message. fits: before the fold, whether
 * the projection allows it (else the whole payload is decoded into *st and
 * parts dropped): 0 or TOOL_ERROR. before/record: the fold's hooks. end:
 * at the log's end, everything end_state and at_projection would do. free:
 * parts dropped. */
int tool_verify_parts_read(vstate *s, const char *path);
int tool_verify_parts_take(vstate *s, const tms_snapshot_meta *m, uint8_t *payload, size_t len,
                           tms_snapshot_index *ix);
/* With --since: whether FILE.state's header m disagrees with the receipt (another version's or build's, another
 * seq, chain head, time, tree root or state digest): 0 when it agrees, else 1 with why in bad
 * (tool_verify_since.c). */
int tool_verify_state_disagrees(const vstate *s, const tms_snapshot_meta *m, char *bad, size_t badlen);
int tool_verify_parts_fits(vstate *s, tms_state **st);
tms_err tool_verify_parts_before(void *ctx, const tms_state *st, const tms_record *rec);
void tool_verify_parts_record(vstate *s, const tms_fold_event *ev);
uint64_t tool_verify_parts_last(const vstate *s);   /* M, the tail's last seq as read first (0: no parts) */
int tool_verify_parts_end(vstate *s, const tms_state *st);
void tool_verify_parts_free(vstate *s);

/* Step 1, the live projection (tool_verify_proj.c). read: all of it now;
 * begin: its meta now, its walks on a thread beside the fold; settle: wait
 * for them (after begin; a no-op otherwise), which every use of what they
 * give (s->pdigest, s->phist.digest, s->damaged, a final s->proj) comes
 * after. Each 0 or TOOL_ERROR (said). */
int tool_verify_proj_read(vstate *s, const char *datadir);
int tool_verify_proj_begin(vstate *s, const char *datadir);
int tool_verify_proj_settle(vstate *s);

/* Kept snapshots read ahead of the fold (tool_verify_snap.c). ahead: the
 * first kept snapshot of a seq above after read on a thread of its own
 * (nothing when none is left, one is being read, or with --since by parts,
 * which compares only the end). due: the kept snapshot of seq, as read ahead
 * or read now: 1 with *m and *payload (the caller frees it), *len bytes, to
 * be compared; 0 not (pruned by a writer meanwhile, another version's, or
 * unreadable: that failure recorded); -1 out of memory (no verdict). The
 * caller starts the next read (ahead) once it has freed the payload. end: a
 * read still running waited for, and dropped. */
void tool_verify_snap_ahead(vstate *s, uint64_t after);
int tool_verify_snap_due(vstate *s, uint64_t seq, tms_snapshot_meta *m, uint8_t **payload, size_t *len);
void tool_verify_snap_end(vstate *s);
/* *same 1 when the encoding of st (tms_state_snapshot_encode) is exactly kept[0..len), compared as the encoder
 * hands its bytes over: the encoding is kept nowhere. TMS_OK (then *same says), TMS_E_NOMEM or TMS_E_CORRUPT
 * (*same 0: as tms_state_snapshot_encode). */
tms_err tool_verify_snap_same(const tms_state *st, const uint8_t *kept, size_t len, int *same);
/* 1 when what the fold compares at seq is due in the last sixteenth of the records the tree holds: a helper that
 * prepares it may then run behind the fold's other helpers (tool_thread_in_background), since the fold meets it
 * only near its end; earlier the fold would wait for it while the rest of its helpers share the cores. */
int tool_verify_waited_at_end(const vstate *s, uint64_t seq);

/* Record a failure: kept when it is the first, or of a better rank than
 * the one kept (the log's own, then the projection's, then the rest). */
void tool_verify_failure(vstate *s, const char *check, uint64_t seq, const char *segment, uint64_t offset,
                         const char *what);

/* A seeded directory (log.h, "base"; tool_verify_since.c): its base
 * snapshot as the receipt to start from, checked with keyarg when given.
 * 0 (nothing set when the log has no base), or TOOL_ERROR after a message. */
int tool_verify_base(vstate *s, const char *datadir, const char *keyarg);
/* --since, before the log is read (tool_verify_since.c): the receipt's point
 * N against the log (frame N's chain head) and the tree file (its root at
 * N, the checkpoints up to N), then the state the fold starts from (a kept
 * snapshot). 0 (s->failed may be set), or TOOL_ERROR after a message. */
int tool_verify_since_begin(vstate *s);
/* --since, during the fold: at seq N (reached from an older snapshot), the
 * state's digest (digest: of its encoding) against the receipt's. */
void tool_verify_since_at(vstate *s, const tms_fold_event *ev, const uint8_t digest[TMS_HASH_LEN]);
/* After a verify that held, with --receipt: fill r (the caller frees it)
 * for the log's end. 0, or 1 when making it found a failure (s->failed is
 * set), or TOOL_ERROR after a message. */
int tool_verify_receipt(vstate *s, tool_receipt *r);
/* With --receipt, before the receipt itself: the state at the log's end
 * (s->end_enc) as a snapshot file, FILE.state, written atomically. 0, or
 * TOOL_ERROR after a message. */
int tool_verify_write_state(vstate *s, const char *receipt_path);

#endif
