/* engine.h -- a data directory as one writer sees it: the exclusive lock,
 * the log, the projection kept in step with it, and group-committed submits.
 *
 * Layout of a data directory DIR:
 *   DIR/lock    flock(2)-held by the one writer (tmsd or an embedded tmsctl); holds its pid
 *   DIR/log/    the command log (log.h)
 *   DIR/proj/   the LMDB projection (store.h)
 *   DIR/tree/   the Merkle tree's stored hashes (tree.h)
 *   DIR/snapshots/  the state at some seqs (snapshots.h): an open starts
 *               from the newest that agrees with the log and folds the
 *               records after it (docs/design.md, "Snapshots") */
#ifndef TMS_ENGINE_H
#define TMS_ENGINE_H

#include "log.h"
#include "rules.h"
#include "store.h"
#include <sys/types.h>

typedef struct tms_engine tms_engine;

/* A long open says how far it is (tms_engine_options.progress): phase is
 * "screen" (the projection read whole), "fold" (done: the seq reached, total:
 * the log's last seq; called at its start and every 65536 records), "rebuild"
 * (the projection rebuilt from the state), "tree" (the Merkle tree opened, or
 * rebuilt from the log). Called on the opening thread; it must not call the
 * engine. Returns 0 to go on; anything else stops the open before its next
 * write (tms_engine_open returns TMS_E_BUSY, "the open was stopped"): a stop
 * asked for while a long open folds (nothing is lost: it is a crash the
 * next open recovers from, less the crash). */
typedef int (*tms_engine_progress_fn)(void *ctx, const char *phase, uint64_t done, uint64_t total);

typedef struct tms_engine_options {
    uint64_t segment_bytes;       /* log segment size; 0 = default */
    const tms_log_io *io;         /* log fault injection; NULL = libc */
    int crash_after_log_sync;     /* tests: stop a submit after the log sync, before the projection commit */
    size_t map_bytes;             /* initial LMDB map size; 0 = default (tests: tiny, to exercise growth) */
    int defer_growth;             /* never resize the map inside submit: return TMS_E_MAPFULL (or
                                     TMS_E_BEHIND) and let the
                                     caller call tms_engine_grow when no read transaction is active in the
                                     process (tmsd: readers on the loop thread, submits on a worker) */
    const char *accept_loss;      /* the operator's reason for accepting records missing from the log
                                     (tmsctl accept-loss): the open appends an AcknowledgeLoss record with
                                     the evidence; NULL = refuse to open when records are missing */
    tms_engine_progress_fn progress;   /* NULL = none */
    void *progress_ctx;
    int defer_screen;             /* read the projection for faults after the open, on a thread of its own,
                                     when the open writes nothing into it (believed, level with the log,
                                     a snapshot to start from): writes wait for it (tms_engine_screen_finish;
                                     docs/trust.md). tmsd sets it; a tool that writes at once gains nothing */
    int defer_fold;               /* with defer_screen, when the screen is put off and the projection is
                                     trusted and level with the log (its seq and chain head the log's last;
                                     the witness, if any, agreeing with the log): fold the log's tail into
                                     the state after the open too, in the first tms_engine_screen_finish,
                                     after the read. The open returns once the projection can answer lookups
                                     (the log recovered, the tree open); the state is not the log's until
                                     then (tms_engine_fold_pending; tms_engine_state folds first). tmsd sets
                                     it (docs/trust.md, "The tail folded after the open") */
    int no_open_snapshot;         /* an open that folded much takes no snapshot of its own before it returns
                                     (tmsd: its "started" is not delayed by one; its running snapshots, or
                                     its clean stop, take it). A tool's open takes it: its close would write
                                     one anyway (docs/design.md, snapshots "When") */
    void (*screen_hook)(void *ctx);   /* tests: called on that thread before it reads (NULL = none) */
    int screen_test_again;        /* tests: put the screen off whatever the writer's evidence says, and have
                                     the open find it would write before the read (made again, screening
                                     first: engine.c, screen_put_off_writes) */
    void *screen_hook_ctx;
} tms_engine_options;

/* One command of a batch and its outcome. */
typedef struct tms_submission {
    tms_cmd *cmd;                 /* in: a validated command (cmd.h) */
    const char *principal, *peer; /* in: who submitted it, from where (the record's "by"); NULL = unknown */
    uint64_t seq;                 /* out: its record's seq (the first one's for a repeated request_id) */
    int repeat;                   /* out: 1 if request_id was seen before: nothing appended */
    tms_verdict verdict;          /* out */
} tms_submission;

/* A data directory that holds this file is being seeded (tms-restore seed),
 * or a seed was killed before it finished: tms_engine_open refuses it
 * (TMS_E_INVAL, "seed it again"). */
#define TMS_SEEDING_MARK ".seeding"

/* Open DIR (created if absent), take its lock, recover the log (a torn tail
 * is cut and reported on *report if given), bring the projection level with
 * the log (replay the tail, or rebuild when it is ahead or diverged).
 * TMS_E_LOCKED when another process holds DIR; why says which pid. */
tms_err tms_engine_open(const char *dir, const tms_engine_options *opt, tms_engine **out,
                        char *why, size_t whylen);
/* Close; a writer whose state is level with the log, the projection and
 * the tree writes a snapshot of it first when 1% of the log (at least one
 * record) came after the newest snapshot (TMS_SNAPSHOT_TAIL). */
void tms_engine_close(tms_engine *e);

/* Start a snapshot of the state at the log's last seq (*seq) in a child
 * process: fork(2), and the child, from its copy-on-write image of the
 * state, encodes it, writes DIR/snapshots/SEQ.snap (under SCHED_IDLE)
 * and exits 0, or 1 with the reason on stderr. The writer goes on at once:
 * it pays for the fork only. The caller reaps the child (waitpid) and starts
 * no other snapshot, and closes no engine, before it has. TMS_OK with *pid,
 * 0 when there is nothing to write (the newest snapshot is of this seq, an
 * empty log, the projection or tree lag: the next call), or TMS_E_IO when
 * fork fails (why). Call it between submits, on the writer's thread. */
tms_err tms_engine_snapshot_fork(tms_engine *e, pid_t *pid, uint64_t *seq, char *why, size_t whylen);
/* The seq of the snapshot the open started from (0: it folded the whole log). */
uint64_t tms_engine_snapshot_seq(const tms_engine *e);
/* After an open from a snapshot whose projection was ahead of it (a crash
 * after the snapshot): how many tenants it compared with the projection
 * one by one, those the records after the snapshot touched (0: the whole
 * state was compared, or there was nothing to compare). */
uint64_t tms_engine_tenants_compared(const tms_engine *e);
/* ... and how many tenants' digests it took at the snapshot's seq for that:
 * as many as it compared, unless the method gave up during the fold (then
 * those it took before; 0 when the records after the snapshot named too
 * many tenants and it knew so before it digested any, comparing the whole
 * state instead). */
uint64_t tms_engine_tenants_digested(const tms_engine *e);

/* Validate, log and apply n commands as one group commit: one log
 * fdatasync, one projection transaction. Verdicts are final only when this
 * returns TMS_OK: then every record is durable and applied. On an engine
 * error the outcome of the whole batch is unknown to the caller (the log may
 * hold it, durable, and the next open applies it): retry with request_id. */
tms_err tms_engine_submit(tms_engine *e, tms_submission *subs, size_t n, char *why, size_t whylen);

/* Grow the projection map (after TMS_E_MAPFULL or TMS_E_BEHIND with defer_growth) and apply
 * any records the log holds but the projection missed. Only with no read
 * transaction active anywhere in the process. Then a batch refused in
 * staging may be submitted again; tms_engine_submit's verdicts of a batch
 * whose log sync had succeeded are final once this returns TMS_OK. */
tms_err tms_engine_grow(tms_engine *e, char *why, size_t whylen);
/* 1 when the last submit synced the log but could not commit the projection
 * (its verdicts stand; tms_engine_grow applies them). */
int tms_engine_behind(const tms_engine *e);

/* A replica (SPEC section 8): append frames[0..n), records of the leader's
 * log exactly as framed there (header and payload), as the next records,
 * in one group. Each must check (length, both checksums), be the next seq,
 * chain to this log's head (the leader's hash is recomputed here), decode,
 * and replay to the verdict the leader logged; it is appended with the same
 * payload, so this log's chain head equals the leader's at every seq. Then
 * synced and committed as a submit is. TMS_E_CORRUPT with why naming the
 * seq when a record does not check or chain: nothing of the group stays. */
tms_err tms_engine_replicate(tms_engine *e, const uint8_t *const *frames, const size_t *lens, size_t n, char *why,
                             size_t whylen);
/* Why writes are refused (a projection that cannot be written: a full
 * disk), NULL when they are not. Lookups go on from the projection as it
 * was; each submit first retries writing the missed group. */
const char *tms_engine_read_only(const tms_engine *e);
/* 1 when the last tms_engine_submit got its records durably into the log:
 * its verdicts are final even if it returned an error afterwards. */
int tms_engine_durable(const tms_engine *e);

/* The projection (for reads in the same process) and log position. */
tms_store *tms_engine_store(tms_engine *e);
/* The Merkle tree (tree.h) the engine keeps level with the log: its head is the
 * tree of every durable record (between submits only, on the engine's thread). */
struct tms_tree *tms_engine_tree(tms_engine *e);
/* Why the tree lags the log (a write failed; the next group catches up), "" when level. */
const char *tms_engine_tree_error(const tms_engine *e);
/* The in-memory state after the last durable record (between submits only;
 * the engine's thread owns it), every tenant in it: an open from a snapshot
 * decodes a tenant when a record or command first names it, and this
 * decodes the rest first. NULL when that fails (out of memory, a part that
 * does not decode: the writer then refuses writes). */
const tms_state *tms_engine_state(tms_engine *e);
/* How many tenants of the snapshot the open started from are not decoded
 * yet (0: every tenant is in the state). */
uint64_t tms_engine_tenants_pending(const tms_engine *e);

/* The projection's screen put off by the open (defer_screen): wait for the
 * read, then judge it as the open would have. With the tail's fold put off
 * too (defer_fold), the tail is folded between the two, doing what the open
 * would have (a snapshot that does not agree set aside, the whole log folded
 * instead); what the open would have refused fails the writer instead (why
 * begins "folding the log's tail after the open"). TMS_OK when it holds (or
 * nothing was put off); else the writer has failed, every write refused
 * with why: TMS_E_CORRUPT when the projection is damaged or not the log's
 * state (nothing set aside: DIR/proj/unscreened stays, and the next open
 * screens first, sets aside what it always did and rebuilds), another error
 * when it could not be judged. Idempotent, any thread, one caller at a time
 * with any other engine call but tms_engine_screen_pending, _status, _ns,
 * tms_engine_fold_pending, tms_engine_last_seq and reads of tms_engine_store
 * (every write calls it first; so does the close). */
tms_err tms_engine_screen_finish(tms_engine *e, char *why, size_t whylen);
/* 1 while a screen put off by the open is not judged yet; any thread. */
int tms_engine_screen_pending(const tms_engine *e);
/* 1 when the open put the fold of the log's tail off too (defer_fold) and
 * no finish has folded it yet (a finish folding it: still 1); any thread. */
int tms_engine_fold_pending(const tms_engine *e);
/* "pending" (that), "failed" (judged: the writer failed), else "held" (judged, or screened during the open). */
const char *tms_engine_screen_status(const tms_engine *e);
/* How long the put-off screen read the projection (and folded the tail, when that was put off too), in ns,
 * once judged (0 before, or none put off). */
uint64_t tms_engine_screen_ns(const tms_engine *e);
uint64_t tms_engine_last_seq(const tms_engine *e);
/* What open found in the log (torn tail), "" if nothing. */
const char *tms_engine_open_report(const tms_engine *e);

/* Set aside the records after seq keep at the next open of DIR for
 * writing (SPEC section 12: a deposed leader's records that the stream
 * never stored; engine_set_aside.c says how, in what order, and when it
 * is refused). Writes DIR/set-aside/request durably; reason is one line
 * kept with the evidence. TMS_OK or TMS_E_IO (why). */
tms_err tms_engine_set_aside_request(const char *dir, uint64_t keep, const char *reason, char *why, size_t whylen);
/* Records this open set aside (0: none); the report says where. */
uint64_t tms_engine_set_aside_count(const tms_engine *e);

/* Paths inside a data directory; write into buf and return it. */
char *tms_data_path(char *buf, size_t len, const char *dir, const char *leaf);

#endif
