/* replay.h -- apply log records to a projection: the one path by which state
 * is ever built, used by the engine on open (catch-up, rebuild) and by every
 * tool (audit, history, restore). Replay recomputes each verdict and refuses
 * to go on when it differs from the logged one. */
#ifndef TMS_REPLAY_H
#define TMS_REPLAY_H

#include "log.h"
#include "rules.h"
#include "store.h"

typedef struct tms_replay_opts {
    uint64_t to_seq;                 /* stop after this seq; 0 = to the end */
    int64_t to_time;                 /* stop before the first record later than this (ns); 0 = none */
    const tms_rules_sink *sink;      /* effect observers; may be NULL */
    /* Called for every record after it is applied (tools); may be NULL. */
    void (*on_record)(void *ctx, const tms_record *rec, const tms_verdict *v);
    void *ctx;
    size_t batch;                    /* records per LMDB transaction; 0 = 10000 */
} tms_replay_opts;

typedef struct tms_replay_result {
    uint64_t applied;                /* records applied by this call */
    uint64_t last_seq;               /* projection's seq afterwards */
    int64_t last_time;               /* time of that record (0 if none) */
    uint8_t head[TMS_HASH_LEN];      /* chain head at last_seq */
    int diverged;                    /* the projection does not continue the log (ahead of it,
                                        or a different chain head at its seq): nothing applied */
    char msg[512];                   /* what went wrong, when not TMS_OK */
} tms_replay_result;

/* Apply one record to the projection in tx: the rules (verdict, effects),
 * then the bookkeeping that is not a rule but belongs to the state (its
 * request_id, for idempotency). The only way a record becomes state, live
 * or replayed, so both give the same projection. */
tms_err tms_apply_record(tms_txn *tx, const tms_record *rec, const tms_rules_sink *sink, tms_verdict *v);

/* Apply every record of the log in logdir after the projection's meta seq
 * (subject to opts) to st. TMS_E_CORRUPT when a record does not decode, the
 * chain does not continue from the projection's head, or a recomputed
 * verdict differs from the logged one (res->msg names the seq). */
tms_err tms_replay(tms_store *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res);

#endif
