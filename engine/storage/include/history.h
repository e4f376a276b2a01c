/* history.h -- the as-of index: every state the log has been in, kept in the
 * projection beside the current one, so that a lookup at any point of the
 * log (SPEC section 7) is one range seek per entity, never a replay.
 *
 * What it keeps (key layout in store.h, format 3): each version of each
 * account or object, tenant and role, keyed by the seq of the record that
 * made it ("" when that record deleted it); each distribution as an
 * interval of seqs, both ways (object -> managers, manager -> objects); per
 * record the accounts and objects whose show it changed (watch); per
 * distinct record time the last seq stamped at it (--at).
 *
 * A point is a seq: the state after records 1..seq (0: before the first).
 * Written record by record in the write transaction of the group that
 * carries them (tms_history_record, tms_history_apply), or rebuilt from the log
 * (tms_history_rebuild, replay.h). The mark (tms_history_mark) says up to
 * which seq the index is complete; a reader never answers past it.
 * Every read says TMS_OK, TMS_NOT_FOUND (absent at that point) or a store
 * error; strings and records are copied into the caller's buffers. */
#ifndef TMS_HISTORY_H
#define TMS_HISTORY_H

#include "store.h"

/* ---- writing (history_write.c) --------------------------------------------------- */

/* What records changed, as operations to write: filled by
 * tms_history_record, written by tms_history_apply; kept by its owner
 * until the transaction it went into has committed. */
typedef struct tms_history_batch {
    uint8_t *buf;         /* private */
    size_t len, cap;      /* private */
    tms_err err;          /* read-only: TMS_E_NOMEM once an append failed */
} tms_history_batch;
void tms_history_batch_init(tms_history_batch *b);
void tms_history_batch_clear(tms_history_batch *b);   /* empty, memory kept */
void tms_history_batch_free(tms_history_batch *b);
/* Add what record seq (stamped time, ns) changed: effs[0..n) are its
 * effects, st the state right after it (before any later record): the
 * values are taken now. TMS_OK or TMS_E_NOMEM. */
tms_err tms_history_record(tms_history_batch *b, const tms_state *st, uint64_t seq, int64_t time,
                           const tms_effect *effs, size_t n);
/* Write b into tx, in order. A version equal to the entity's previous one
 * is not written again. TMS_OK or a store error (TMS_E_MAPFULL ...). */
tms_err tms_history_apply(tms_txn *tx, const tms_history_batch *b);
/* The same for the operations of b from byte `from` on (a batch that
 * grows record by record, written as it grows). */
tms_err tms_history_apply_from(tms_txn *tx, const tms_history_batch *b, size_t from);
/* The bytes of operations b holds (where the next record's will start). */
size_t tms_history_batch_size(const tms_history_batch *b);

/* The index is complete up to seq (in tx). */
tms_err tms_history_mark(tms_txn *tx, uint64_t seq);
/* Up to which seq it is complete (0: nothing, or an earlier format). */
tms_err tms_history_complete(tms_txn *tx, uint64_t *seq);
/* A directory seeded from a snapshot of seq B (log.h, "base") has no index
 * of records 1..B: its index starts at B (tms_history_seed), and lookups
 * before it, and explanations, are refused (query_at.c). set_base records
 * where it starts; base reads it (0: an index of the whole log). */
tms_err tms_history_set_base(tms_txn *tx, uint64_t seq);
tms_err tms_history_base(tms_txn *tx, uint64_t *seq);
/* The index of a seeded directory (history_seed.c): emptied, then the
 * state st (the state after record seq, stamped time) written as the
 * versions of seq of everything it holds, the base and the mark set to seq:
 * lookups at seq and after answer as a whole log's index does; before seq
 * (and explanations) they are refused. TMS_OK, TMS_E_MAPFULL (nothing
 * useful written: abort, grow, again), TMS_E_NOMEM, TMS_E_STORE. */
tms_err tms_history_seed(tms_txn *tx, const tms_state *st, uint64_t seq, int64_t time);
/* Empty the index and its mark (a base stays). */
tms_err tms_history_clear(tms_txn *tx);
/* BLAKE2b-256 over the index's databases (tests compare an index written
 * group by group with one rebuilt from the log). */
tms_err tms_history_digest(tms_txn *tx, uint8_t out[TMS_HASH_LEN]);
/* Read every entry of the index, hashing nothing (a writer's screening). */
tms_err tms_history_walk(tms_txn *tx);

/* ---- tallying (history_tally.c) ------------------------------------------------- */

/* The index a log makes, tallied record by record as a fold goes on
 * instead of written (tms-audit verify): tms_history_tally_end gives what
 * tms_history_tally_index gives, under the same key, of an index holding
 * exactly what tms_history_record + tms_history_apply write for the same
 * records (not the frame locators, nor the mark). Not tms_history_digest: a
 * fold meets the entries in seq order, that digest wants them in key order.
 * The key (SipHash's) is the comparer's secret: drawn at random
 * (randombytes_buf) after the index was written, so that no index can be
 * made to tally like another. Memory: ~100 bytes per entity ever written
 * and per (object, manager) pair ever distributed, 16 per distinct record
 * time. */
#define TMS_HISTORY_TALLY_KEY 16
typedef struct tms_history_tally tms_history_tally;
/* A new, empty tally into *out (key copied): TMS_OK, or TMS_E_NOMEM (*out NULL). */
tms_err tms_history_tally_new(const uint8_t key[TMS_HISTORY_TALLY_KEY], tms_history_tally **out);
/* Room for the identities a fold of about records records makes (one per
 * record: gen_log's logs make 0.83), so that the table does not double
 * under the fold: the worker rehashes it while the fold, handing it the
 * next chunk, waits (0.1-0.2 s of a 2 s verify at a million records). The
 * worker makes it before its next chunk (the pages zeroed there, not on the
 * fold's thread); refused then (out of memory), the table grows as it
 * fills, as without. Best before the first add; later it waits for the
 * worker's chunk in flight. Memory: 32 bytes a slot, under 4 slots a
 * record: up to 128 bytes per record, whether or not the fold fills them.
 * TMS_OK, or TMS_E_NOMEM for a count no memory holds (nothing changed).
 * The caller bounds records by what the log holds and the machine can
 * give: a count from a file not checked yet must not size memory. */
tms_err tms_history_tally_reserve(tms_history_tally *t, uint64_t records);
/* Add record seq (as tms_history_record takes it: its operations are
 * taken from st now), after every record before it. The sums are made on a
 * thread of the tally's own, a chunk of records at a time, so a failure
 * comes back from a later add or from the end: TMS_E_NOMEM, TMS_E_INVAL (a
 * key or member longer than the index holds) or TMS_E_CORRUPT (an interval
 * opened twice: what no rule makes). It is kept: every later call returns it. */
tms_err tms_history_tally_add(tms_history_tally *t, const tms_state *st, uint64_t seq, int64_t time,
                              const tms_effect *effs, size_t n);
/* The tally of the records added, into out (the thread joined first):
 * TMS_OK or the kept failure. Call it once; then only free. */
tms_err tms_history_tally_end(tms_history_tally *t, uint8_t out[TMS_HASH_LEN]);
void tms_history_tally_free(tms_history_tally *t);   /* ended or not (its thread stopped); NULL is fine */
/* The tally of the index in tx under key, one walk of its entries: TMS_OK,
 * TMS_E_NOMEM or a store error. */
tms_err tms_history_tally_index(tms_txn *tx, const uint8_t key[TMS_HISTORY_TALLY_KEY], uint8_t out[TMS_HASH_LEN]);

/* A frame locator: record seq is at byte offset of the log segment that
 * starts at seg_first (tms_log_synced_at, or a fold's frame). */
tms_err tms_history_locate(tms_txn *tx, uint64_t seq, uint64_t seg_first, uint64_t offset);
/* The locator at or before seq: TMS_OK, TMS_NOT_FOUND (none: read the log
 * from the segment's start) or a store error. */
tms_err tms_history_locator(tms_txn *tx, uint64_t seq, uint64_t *seg_first, uint64_t *offset);

/* ---- reading ---------------------------------------------------------------- */

/* The seq of the last record stamped at or before time (ns): 0 when the
 * first record is later. */
tms_err tms_history_seq_at_time(tms_txn *tx, int64_t time, uint64_t *seq);
/* An account or object at seq; *since (may be NULL) gets the seq of the
 * version found. */
tms_err tms_account_get_at(tms_txn *tx, const char *t, char kind, const char *id, uint64_t seq,
                           tms_account_rec *out, uint64_t *since);
/* A tenant at seq; *since (may be NULL) the seq that created it. */
tms_err tms_tenant_get_at(tms_txn *tx, const char *t, uint64_t seq, tms_tenant_rec *out, uint64_t *since);
/* A role's permission set at seq. */
tms_err tms_role_perms_at(tms_txn *tx, const char *t, const char *role, uint64_t seq, uint64_t *perms);
/* The last record at or before seq that flipped permission perm (or, when
 * perm < 0, feature feat) of the account, in *flip; 0 when none did since
 * the account was (last) created: created without it and never given it.
 * Creating it with the bit counts as a flip. TMS_NOT_FOUND when the
 * account does not exist at seq. */
tms_err tms_history_flip(tms_txn *tx, const char *t, char kind, const char *id, uint64_t seq, int perm, int feat,
                         uint64_t *flip);

#endif
