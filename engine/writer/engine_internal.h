/* engine_internal.h -- what engine.c and engine_loss.c share: the witnesses
 * of how far the log once went (engine_loss.c). Private to storage. */
#ifndef TMS_ENGINE_INTERNAL_H
#define TMS_ENGINE_INTERNAL_H

#include "engine.h"
#include "history.h"
#include "log.h"
#include "store.h"
#include "tree.h"
#include "snapshots.h"
#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>

/* The tenants the records after a snapshot name, decoded ahead by two takers (engine_lazy.c). */
typedef struct tms__ahead {
    const uint8_t *payload;         /* the snapshot's encoding and parts (the preload's) */
    size_t len;
    const tms_snapshot_index *ix;
    size_t *which;                  /* the tenants to decode: indexes into ix, in its order */
    size_t n;
    atomic_size_t next;             /* the next of which to take (n or more: none left) */
    atomic_int stop;                /* set by whoever abandons it: plan and takers stop (set 0 before plan) */
    tms_snapshot_taker *k[2];       /* each taker's decode, into a state of its own */
    tms_err err[2];
    char why[2][300];
} tms__ahead;

/* A snapshot read, checked and its part before the tenants decoded on a thread of its own while the open
 * screens the projection (engine_snapshot.c); its tenants are decoded as they are used (engine_lazy.c). */
typedef struct tms__preload {
    int started;                    /* the thread runs or ended, not joined */
    pthread_t thread;
    uint64_t seq;                   /* in */
    tms_snapshot_meta m;            /* out: its header */
    tms_err err;                    /* out: the read's or the decode's failure */
    char why[300];
    uint8_t *payload;               /* out: the file's payload, checked */
    size_t len;
    tms_snapshot_index ix;          /* out: its parts, hashed */
    tms_state *st;                  /* out: the part before the tenants */
    tms__ahead ahead;               /* out: the tail's tenants, decoded by this thread and the open's */
    pthread_mutex_t lock;           /* guards ready */
    pthread_cond_t cond;            /* signalled when ready is set */
    int ready;                      /* ahead is planned (or err set): the open's thread may take tenants */
} tms__preload;

/* The snapshot an open that folded a snapshot's worth of records takes of its state: encoded on a thread while
 * the projection is rebuilt or compared, written once the tree is open (engine_snapshot.c). */
typedef struct tms__open_snapshot {
    int started;                    /* the thread runs or ended, not joined */
    pthread_t thread;
    const tms_state *st;            /* in: read by the thread only; nothing changes it until the join */
    uint64_t seq;                   /* in: the state's seq */
    msgpack_sbuffer enc;            /* out: its encoding */
    uint8_t proj[TMS_HASH_LEN];     /* out: its projection digest */
    tms_err err;                    /* out */
} tms__open_snapshot;

/* The snapshot an open started from, for its tenants not decoded yet (engine_lazy.c). Empty (payload NULL,
 * unloaded 0) when every tenant is in the state. */
typedef struct tms__lazy {
    uint64_t seq;                   /* the snapshot's */
    uint8_t *payload;               /* its encoding, checked whole by the open (owned) */
    size_t len;
    tms_snapshot_index ix;          /* its parts, hashed */
    uint8_t *loaded;                /* per tenant of ix: 1 once decoded into the state */
    size_t unloaded;                /* how many are not */
    tms_tenant_digests proj;        /* per tenant of ix, in its order: the projection's digest (meaningful for
                                       those not loaded), once the open settled (tms__lazy_settle) */
} tms__lazy;

/* The screen of the projection put off until after the open (engine_screen.c): what the open left to compare
 * once the projection is read, and the thread that reads it. */
typedef enum {
    TMS__SCREEN_WHOLE = 0,          /* the whole state rendered against the projection's digest */
    TMS__SCREEN_SNAPSHOT,           /* the snapshot's recorded projection digest against it (same seq) */
    TMS__SCREEN_BY_TENANT           /* by tenant (tms_projection_compare_at) */
} tms__screen_compare;
typedef struct tms__screen {
    int deferred;                   /* the open put the screen off (then e->screened is 1 for its decisions) */
    int again;                      /* ... and found it would write before the read: opened again (engine.c) */
    atomic_int fold_after;          /* ... and the tail's fold too (defer_fold): 1 until finish folded it (so
                                       1 while it folds: engine.c then fails a write it foresees) */
    int unfolded;                   /* ... and the state is not the log's: set with fold_after, cleared once
                                       that fold succeeded (tms_engine_state refuses it meanwhile) */
    tms_err fold_err;               /* that fold's result ... */
    char fold_why[600];             /* ... and why */
    uint8_t proj_head[TMS_HASH_LEN];   /* the projection's chain head, as deferrable read it */
    atomic_int pending;             /* 1 from the thread's start until finish judged it */
    int started;                    /* the thread runs or ended, not joined */
    pthread_t thread;
    pthread_mutex_t lock;           /* one finish at a time */
    tms_err err;                    /* the thread's: tms_store_screen's result ... */
    char err_why[600];              /* ... and why */
    tms__screen_compare compare;    /* what to compare once read */
    uint8_t snap_pd[TMS_HASH_LEN];  /* SNAPSHOT, BY_TENANT: the snapshot's recorded projection digest */
    tms_projection_compare *cmp;    /* BY_TENANT: the open's, its tenants noted through the fold */
    uint64_t at_seq;                /* the seq of the state compared (the log's last when the open ended) */
    uint64_t started_ns, ns;        /* CLOCK_MONOTONIC at the thread's start; the read's length */
    tms_err result;                 /* finish's verdict, once judged ... */
    char result_why[700];           /* ... and why */
} tms__screen;

/* The writer (engine.h): private to storage's engine*.c files. */
struct tms_engine {
    char dir[4096];
    int lock_fd;
    tms_log *log;
    tms_store *store;
    tms_tree *tree;                 /* the Merkle tree's stored hashes (tree.h), level with the log */
    char tree_error[200];           /* why the tree lags the log ("" when level): the next group catches up */
    tms_state *state;               /* the domain state after the last durable record */
    uint8_t head[TMS_HASH_LEN];     /* chain head at the log's last record */
    int64_t last_time;              /* time of the last record: times never go backwards */
    int64_t time_before;            /* ... before the group being made durable (a failed sync restores it) */
    tms_engine_options opt;
    msgpack_sbuffer buf;            /* record encoding scratch */
    tms_err behind;                 /* log synced, projection commit failed (why): the group's effects stay
                                       in the state until written (catch_up); 0 = level */
    char read_only[300];            /* why writes are refused while behind, "" when they are not */
    int durable;                    /* the last submit's records reached the log (verdicts final) */
    int failed;                     /* no more writes: the projection map could not be grown, or ... */
    char failed_why[400];           /* ... this ("" for the map) */
    char report[1200];
    uint64_t set_aside;             /* records this open set aside (engine_set_aside.c) */
    char loss[600];                 /* evidence of records missing from the log, when acknowledged */
    char loss_record[TMS_TEXT_MAX + 1];   /* ... as the AcknowledgeLoss record keeps it */
    int opened;                     /* open succeeded: close may write the witness (never after a refusal) */
    tms_history_batch history;      /* what the group in flight writes into the as-of index: kept until its
                                       projection commit holds (catch_up writes it again) */
    int screened;                   /* the projection was read whole before it was opened for writing, or
                                       (scr.deferred) will be after the open: the open may follow it */
    uint8_t screen_digest[TMS_HASH_LEN];   /* ... and its state digest then (scr: once its thread ended) */
    tms_tenant_digests screen_tenants;     /* ... and its tenant digests (freed once the open has folded, or
                                              once the screen put off is judged) */
    uint64_t snapshot_seq;          /* the open started from the snapshot of this seq (0: a fold of the whole log) */
    uint64_t tenants_compared;      /* ... and compared the projection with its state by tenant: how many */
    uint64_t tenants_digested;      /* ... whose digests it took at the snapshot's seq for that (level_compare) */
    uint64_t log_trusted;           /* the log's recovery read from this snapshot's seq on (0: all of it) */
    int log_last_only;              /* no snapshot: the recovery read the last segment only (the fold checks) */
    tms__preload preload;           /* the snapshot of log_trusted, decoded during the screen */
    tms__open_snapshot open_snap;   /* the open's own snapshot (tms__snapshot_open_start) */
    tms__lazy lazy;                 /* the tenants of the snapshot the open started from not decoded yet */
    uint64_t log_base;              /* a seeded directory's log starts after this seq (log.h; 0: at 1): the
                                       open starts from a snapshot, never from a fold of the whole log */
    tms__screen scr;                /* the screen put off until after the open (engine_screen.c) */
};

/* engine_screen.c. deferrable: whether this open may put the projection's screen off (engine.h,
 * defer_screen; docs/trust.md says what that trusts), the mark DIR/proj/unscreened then made. start: the
 * thread that reads it, at the open's end; TMS_OK or TMS_E_NOMEM (why). free: joined, what is left freed
 * (the close's, after finish). */
int tms__screen_deferrable(tms_engine *e);
/* The projection screened now (engine.h's issue 8 screen: read whole, damaged set aside) or, when
 * deferrable, after the open: e->screened 1 either way for the open's decisions. */
tms_err tms__screen_or_defer(tms_engine *e, char *why, size_t whylen);
tms_err tms__screen_start(tms_engine *e, char *why, size_t whylen);
/* fold_deferrable: whether the tail's fold may be put off too (engine.h, defer_fold), fold_after set then.
 * engine.c's fold_after: that fold, in finish after the read (TMS_OK, or the writer fails with why). */
int tms__fold_deferrable(tms_engine *e);
tms_err tms__engine_fold_after(tms_engine *e, char *why, size_t whylen);
void tms__screen_free(tms_engine *e);

/* engine_tree.c: open the tree level with the log (after the fold); and, once a group is synced, its leaves
 * into the tree (a tree that cannot be written lags and catches up; tree_error says why meanwhile). */
tms_err tms__engine_open_tree(tms_engine *e, char *why, size_t whylen);
/* engine_set_aside.c: carry out DIR/set-aside/request (none: TMS_OK, nothing done). */
tms_err tms__engine_set_aside(tms_engine *e, char *why, size_t whylen);
void tms__engine_tree_durable(tms_engine *e);

typedef struct tms__witness {
    int present;
    uint64_t seq;
    uint8_t head[TMS_HASH_LEN];
} tms__witness;

/* What the witnesses said, and whether the log agreed at their seqs. */
typedef struct tms__loss_check {
    int proj_trusted;               /* the projection can be believed (store evidence, format) */
    uint64_t proj_seq;
    uint8_t proj_head[TMS_HASH_LEN];
    int proj_matched;               /* the log's chain head at proj_seq equals proj_head */
    tms__witness witness;
    int witness_matched;            /* the same for DIR/witness */
} tms__loss_check;

/* DIR/witness: TMS_OK with w->present 0 when there is none; TMS_E_CORRUPT
 * (why says so) when it is damaged; TMS_E_IO. */
tms_err tms__witness_read(const char *dir, tms__witness *w, char *why, size_t whylen);
/* Replace DIR/witness durably (write, fsync, rename, fsync DIR). */
tms_err tms__witness_write(const char *dir, uint64_t seq, const uint8_t head[TMS_HASH_LEN]);
/* What the witnesses prove against a log ending at `last`: "" when nothing
 * is missing or rewritten, else one line naming the seqs. */
void tms__loss_evidence(const tms__loss_check *c, uint64_t last, char *out, size_t len);
/* The same, short enough for a record's text field (the AcknowledgeLoss
 * record's evidence): the seqs and the first bytes of the heads. */
void tms__loss_summary(const tms__loss_check *c, uint64_t last, char *out, size_t len);
/* Append an AcknowledgeLoss record to an open engine. */
tms_err tms__acknowledge_loss(tms_engine *e, const char *reason, const char *evidence, char *why, size_t whylen);

/* engine_lazy.c. begin: lz takes payload and ix (ix emptied) of the snapshot of seq, whose part before the
 * tenants e->state holds; TMS_OK or TMS_E_NOMEM (nothing taken). need: tenant decoded into e->state unless
 * it is already or the snapshot lacks it (at any time: e->state's uncommitted changes stay); need_all: every tenant.
 * Each TMS_OK, TMS_E_NOMEM, or TMS_E_CORRUPT with why (a part that does not decode: the snapshot and every newer
 * one set aside; after the open, the writer failed).
 * settle: after the open's projection compare held, the projection digests of the tenants not loaded from
 * the screen (or every tenant loaded). compose: the encoding (appended to enc) and projection digest of the
 * state as a snapshot: e->state's tenants and lz's others. */
void tms__lazy_free(tms__lazy *lz);
tms_err tms__lazy_begin(tms_engine *e, uint64_t seq, uint8_t *payload, size_t len, tms_snapshot_index *ix);
tms_err tms__lazy_need(tms_engine *e, const char *tenant, char *why, size_t whylen);
tms_err tms__lazy_need_all(tms_engine *e, char *why, size_t whylen);
tms_err tms__lazy_settle(tms_engine *e, char *why, size_t whylen);
tms_err tms__lazy_compose(const tms__lazy *lz, const tms_state *st, msgpack_sbuffer *enc,
                          uint8_t proj[TMS_HASH_LEN]);
/* The tail's tenants decoded ahead. plan: the tenants of ix (the snapshot's payload[0..len), all three kept
 * as they are until join) that the records of logdir after seq `after` name (every tenant when one cannot
 * be peeked), two takers; TMS_OK, TMS_E_NOMEM, a log error. run: taker who (0, 1) decodes tenants
 * until none is left or it fails (any thread; each taker once at a time). join, after every run returned
 * and e->lazy began from the same snapshot: both takers' states into st (the part before the tenants), their
 * tenants loaded; TMS_OK,
 * TMS_E_CORRUPT with why (a part that does not decode), TMS_E_NOMEM. free: what is left. */
tms_err tms__ahead_plan(tms__ahead *a, const char *logdir, uint64_t after, const uint8_t *payload, size_t len,
                        const tms_snapshot_index *ix);
void tms__ahead_run(tms__ahead *a, int who);
tms_err tms__ahead_join(tms_engine *e, tms__ahead *a, tms_state *st, char *why, size_t whylen);
void tms__ahead_free(tms__ahead *a);

/* engine_snapshot.c: the state saved as the snapshot of seq (head, root,
 * time of record seq; with the tenants of lz not loaded, when lz is not NULL and has any), unless the newest snapshot is of seq already, written
 * at most `rate` bytes per second (0: at once) (TMS_E_IO / TMS_E_NOSPACE
 * with why). A running writer's child writes at TMS_SNAPSHOT_PACE: the disk
 * is the log's first (benchmarks/RESULTS.md, "Issue 18"). */
#define TMS_SNAPSHOT_PACE ((uint64_t)32 << 20)
tms_err tms__snapshot_save(const char *dir, const tms_state *st, const tms__lazy *lz, uint64_t seq,
                           const uint8_t head[TMS_HASH_LEN], const uint8_t root[TMS_HASH_LEN], int64_t time, uint64_t rate, char *why, size_t whylen);
/* The seq of the newest snapshot of this version whose header reads (*m), 0 when none. */
uint64_t tms__snapshot_newest(const char *dir, tms_snapshot_meta *m);
/* The state of the newest snapshot at or before max_seq that agrees with
 * the open log (*st new, *m its header): 1, or 0 when none does. Those that
 * contradict the log or do not check are set aside and said in e->report. */
int tms__snapshot_start(tms_engine *e, uint64_t max_seq, tms_state **st, tms_snapshot_meta *m);
/* Read and decode the snapshot of seq on a thread (tms__snapshot_start takes it); end joins and frees what was
 * not taken. */
void tms__snapshot_preload(tms_engine *e, uint64_t seq);
void tms__snapshot_preload_end(tms_engine *e);
/* An open that folded at least TMS_SNAPSHOT_TAIL records since the newest snapshot (the close's rule), with
 * every tenant decoded, no loss to acknowledge, no screen put off and no_open_snapshot unset (tmsd sets it):
 * its state at seq encoded on a thread from now on, while the
 * projection is rebuilt or compared. Nothing may change e->state until tms__snapshot_open_end, which joins
 * the thread and, with write, writes the snapshot when the tree is level with seq (as a clean close would:
 * a failure is said on stderr, never the open's). Both are no-ops when nothing was started. */
void tms__snapshot_open_start(tms_engine *e, uint64_t seq);
void tms__snapshot_open_end(tms_engine *e, int write);
/* The log's chain head at seq (one frame read): TMS_OK, TMS_NOT_FOUND, or a log error. */
tms_err tms__log_head_at(const tms_engine *e, uint64_t seq, uint8_t head[TMS_HASH_LEN]);

#endif
