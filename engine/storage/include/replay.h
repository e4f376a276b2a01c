/* replay.h -- fold the log into an in-memory state (state.h): the one path
 * by which state is ever built from the log, used by the engine on open and
 * by every tool (audit, history, restore). Replay recomputes each verdict
 * and refuses to go on when it differs from the logged one. */
#ifndef TMS_REPLAY_H
#define TMS_REPLAY_H

#include "log.h"
#include "rules.h"
#include "store.h"
#include "history.h"

/* What a fold tells its observer about one record, after applying it. */
typedef struct tms_fold_event {
    const tms_record *rec;           /* decoded (seq, time, command, logged verdict) */
    const tms_verdict *verdict;      /* recomputed (equal to the logged one) */
    const tms_effect *effects;       /* what it changed; none for a rejection */
    size_t neffects;
    const uint8_t *hash;             /* its chain hash (TMS_HASH_LEN bytes) */
    const tms_state *state;          /* the state after it */
    const tms_log_record *frame;     /* where it is in the log (segment, offset) */
} tms_fold_event;

typedef struct tms_replay_opts {
    uint64_t to_seq;                 /* stop after this seq; 0 = to the end */
    int64_t to_time;                 /* stop before the first record later than this (ns); 0 = none */
    const tms_rules_sink *sink;      /* R15/R17 observers; may be NULL */
    /* Called for every record after it is applied; may be NULL. */
    void (*on_record)(void *ctx, const tms_record *rec, const tms_verdict *v);
    /* The same with the effects; a non-OK return stops the fold with that error. May be NULL. */
    tms_err (*on_effects)(void *ctx, const tms_fold_event *ev);
    void *ctx;
    /* Only this tenant's records are decoded and applied (tenants are
     * isolated by the rules, so its state is the same); every frame is still
     * checked. NULL = all. */
    const char *tenant;
    /* How the hash chain is checked (tms_log_iter_open_flags): 0 in line,
     * TMS_LOG_ITER_CHAIN_ON_THREAD on a second core while the fold goes on,
     * TMS_LOG_ITER_CHAIN_CHECKED not at all (the engine, which has just
     * verified it in recovery under its lock). */
    int chain;
    /* Start after a known state (a snapshot's): st is the state after
     * records 1..from_seq (from_seq 0: st is empty, the fold starts at seq
     * 1), and from_head (TMS_HASH_LEN bytes) the chain head there. The log's
     * frame from_seq must carry that head (else TMS_E_CORRUPT, res->msg says
     * so); the chain is recomputed from it on. */
    uint64_t from_seq;
    const uint8_t *from_head;
    /* Where the log may be read from (tms_log_iter_open_at: a frame before
     * from_seq that the caller found reading this log from a segment's start;
     * never one from outside the process). NULL: the segment's start. */
    const tms_log_locator *from_locator;
    /* Called for every record the fold is about to apply, with the state
     * before it (a writer's open notes which tenants the records after a
     * snapshot touch, as they were before). A non-OK return stops the fold
     * with that error (res->fault TMS_FOLD_OBSERVER). May be NULL. */
    tms_err (*before_apply)(void *ctx, const tms_state *st, const tms_record *rec);
    /* Called for every frame the fold reads after its start, as the log
     * holds it, before its record is decoded (verify checks the Merkle tree
     * and the chain heads it needs here, in the fold's one read of the log).
     * A non-OK return stops the fold with that error (res->fault
     * TMS_FOLD_OBSERVER). May be NULL. */
    tms_err (*on_frame)(void *ctx, const tms_log_record *frame);
} tms_replay_opts;

/* Why a fold stopped short (tms_replay_result.fault). */
typedef enum tms_fold_fault {
    TMS_FOLD_NONE = 0,
    TMS_FOLD_FRAME,       /* the log refused a frame (checksum, seq, chain): fault_seq is the seq expected */
    TMS_FOLD_RECORD,      /* a payload that does not decode as a record */
    TMS_FOLD_REPLAY,      /* a recomputed verdict differs, or the start's chain head is not the log's */
    TMS_FOLD_OBSERVER,    /* on_frame or on_effects returned an error */
    TMS_FOLD_OTHER        /* out of memory, an I/O error */
} tms_fold_fault;

typedef struct tms_replay_result {
    uint64_t applied;                /* records applied by this call */
    uint64_t last_seq;               /* seq of the last record applied */
    int64_t last_time;               /* time of that record (0 if none) */
    uint8_t head[TMS_HASH_LEN];      /* chain head at last_seq */
    char msg[512];                   /* what went wrong, when not TMS_OK */
    unsigned passes;                 /* tms_history_rebuild: folds made (1: the map grew in place) */
    tms_fold_fault fault;            /* on an error: what stopped the fold ... */
    uint64_t fault_seq;              /* ... at which seq ... */
    char fault_segment[256];         /* ... in which segment ("" unknown) ... */
    uint64_t fault_offset;           /* ... at which byte offset */
    int torn;                        /* the log ended in a torn record (never acknowledged; the reader leaves it) */
    char torn_msg[512];              /* ... said as the log's report says it */
} tms_replay_result;

/* Apply every record of the log in logdir (subject to opts) to st, which
 * must be empty (or, with opts->from_seq, the state after that seq). TMS_E_CORRUPT when a record does not decode or a
 * recomputed verdict differs from the logged one (res->msg names the seq). */
tms_err tms_fold(tms_state *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res);

/* Fold the log into a fresh state, then write it whole into the projection
 * st (emptied first) with meta at the last record: a rebuild. */
tms_err tms_replay(tms_store *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res);

/* Empty the projection and load the whole state into it, meta at (seq,
 * head), growing the map as needed; one transaction. */
tms_err tms_projection_rebuild(tms_store *st, const tms_state *state, uint64_t seq, const uint8_t *head);

/* Writing the as-of index (history.h) while a fold goes on: records are
 * added in order, in write transactions of a bounded size committed as
 * they fill; the first add empties the index. Used by the engine's open
 * and by tms_history_rebuild. The open chunk's operations are kept until it
 * commits: when LMDB's map fills, the chunk is aborted, the map grown and
 * the chunk written again, so the fold goes on (it never starts over). */
typedef struct tms_history_frame_at {
    uint64_t seq, seg, off;
} tms_history_frame_at;
struct tms__history_worker;
typedef struct tms_history_writer {
    tms_store *st;
    int on_thread;        /* public, set before the first add: each chunk is written on a thread of its own
                             while the fold goes on (history_fold.c); its failure is said at the next hand-over */
    uint64_t chunk;       /* public, set before the first add: records per transaction (0: 20 000) */
    int keep;             /* public, set before the first add: the index is not emptied first (a seeded
                             directory's: tms_history_seed wrote its start, the fold adds what follows) */
    tms_txn *tx;          /* private: the open chunk */
    uint64_t in_tx;       /* private: records in it */
    int started;          /* private: the emptying of the index is committed */
    tms_err err;          /* read-only: the first failure (then later adds do nothing) */
    tms_history_batch batch;   /* private: the open chunk's operations */
    size_t applied;       /* private: bytes of batch written into tx */
    tms_history_frame_at *locs;   /* private: the open chunk's frame locators */
    size_t nlocs, caplocs;
    unsigned grown;       /* read-only: times the map was grown */
    int marked;           /* private: the open chunk carries the mark at mark_seq (rewritten with it on regrow) */
    uint64_t mark_seq;
    struct tms__history_worker *worker;   /* private: on_thread's */
} tms_history_writer;
tms_err tms_history_writer_add(tms_history_writer *w, const tms_fold_event *ev);
/* Commit the last chunk with the mark at seq (growing the map as needed),
 * or abort it when a write failed: returns w->err. Frees what w holds. */
tms_err tms_history_writer_end(tms_history_writer *w, uint64_t seq);
/* Abort and free, after a fold that failed. */
void tms_history_writer_discard(tms_history_writer *w);

/* Every this many records a fold's index writer keeps a frame locator. */
#define TMS_LOCATE_EVERY 256
/* Put a locator for the record of ev when it is due (every TMS_LOCATE_EVERY
 * records, and at the first record of each segment). */
tms_err tms_history_locate_frame(tms_txn *tx, const tms_fold_event *ev);

/* Rebuild the as-of index of projection st from the log in logdir (a fold
 * of its own, growing the map as needed), marked complete to the last seq. */
tms_err tms_history_rebuild(tms_store *st, const char *logdir, tms_replay_result *res);

#endif
