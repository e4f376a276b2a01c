/* tree.h -- the Merkle tree's stored hashes on disk (SPEC section 11): what
 * proofs and checkpoints are computed from without reading the log. Derived
 * data, rebuilt from the log whenever it cannot be believed.
 *
 * Layout: DIR/tree/hashes  16-byte header "TMSTREE1" + le64 1 (SHA-256, RFC
 *                          9162), then 32-byte hashes in tlog.h's stored
 *                          order: stored hash i at byte 16 + 32 * i. Append only.
 *         DIR/tree/state   "tmsperm-tree 1\nboot B\nsynced N\n": the size up to
 *                          which the hashes were fdatasynced, and the boot of the
 *                          writer that last opened it.
 *
 * One writer (the engine, under the data directory's lock) stages the leaf
 * hashes of a group as the log stages its records, writes them after the
 * log's sync, and drops them when the log drops the group. Any number of
 * readers (tmsd's loop thread, tms-audit) read what is written: a reader's
 * size is what the file holds whole, read again at each call.
 *
 * Believed at open: the whole file when its last writer ran under this very
 * boot (a crash of the process loses nothing written), else up to the synced
 * size; then cut to the log's length, its last leaf compared with the log's
 * record, and the rest rebuilt from the log. A log with a base (a directory
 * seeded from a snapshot of seq B, log.h) keeps the seed's first B leaves
 * (tms_tree_seed): they cannot be computed again, and a tree holding fewer
 * refuses to open. */
#ifndef TMS_TREE_H
#define TMS_TREE_H

#include <stddef.h>
#include <stdint.h>
#include "tlog.h"
#include "tmsperm.h"

typedef struct tms_tree tms_tree;

/* ---- the writer ------------------------------------------------------------------------ */

/* Open DIR/tree for writing (created if absent) and bring it level with the
 * log in logdir, which ends at log_last (records 1..log_last, all synced).
 * *rebuilt says how many records' hashes had to be computed from the log
 * (0 when the file was level). TMS_E_IO / TMS_E_CORRUPT (the log could not
 * be read) / TMS_E_NOMEM with why. The caller owns *out. */
tms_err tms_tree_open_writer(const char *datadir, const char *logdir, uint64_t log_last, tms_tree **out,
                             uint64_t *rebuilt, char *why, size_t whylen);
/* Stage the leaf of the next record (its payload as framed in the log). */
tms_err tms_tree_stage(tms_tree *t, const void *payload, size_t len);
/* Stage the next leaf by its hash (RFC 9162: SHA-256(0x00 || payload)). */
tms_err tms_tree_stage_leaf(tms_tree *t, const tms_tlog_hash leaf);
/* The next leaf of a seed: leaf i (0-based) into out. TMS_OK or an error
 * that stops the seed. */
typedef tms_err (*tms_tree_leaf_fn)(void *ctx, uint64_t i, tms_tlog_hash out);
/* Write DIR/tree of a directory seeded from a snapshot (the log starts after
 * size, log.h "base"): the tree of the size leaves next() gives, every
 * stored hash computed here from them; TMS_OK only when its root is root
 * (a signed checkpoint's: leaves that are not the log's are refused),
 * synced. DIR/tree/hashes must not exist; on failure it is removed.
 * TMS_E_CORRUPT (another root), TMS_E_IO, TMS_E_NOMEM, next()'s error; why
 * says which. The writer's open (tms_tree_open_writer) takes these hashes
 * as the log's records 1..size: it cannot compute them again. */
tms_err tms_tree_seed(const char *datadir, tms_tree_leaf_fn next, void *ctx, uint64_t size,
                      const tms_tlog_hash root, char *why, size_t whylen);
/* Drop everything staged. */
void tms_tree_discard(tms_tree *t);
/* Write what is staged (one write, no sync). On failure the tree stays at its
 * last size, behind the log: tms_tree_behind says so, and tms_tree_catch_up
 * (the next group does it) reads the missing records from the log. */
tms_err tms_tree_commit(tms_tree *t);
int tms_tree_behind(const tms_tree *t);
tms_err tms_tree_catch_up(tms_tree *t, const char *logdir, uint64_t log_last, char *why, size_t whylen);
/* fdatasync the hashes and record the synced size in DIR/tree/state. */
tms_err tms_tree_sync(tms_tree *t);
/* The root of the tree at its committed size, from memory. */
void tms_tree_head(const tms_tree *t, uint64_t *size, tms_tlog_hash root);
/* A copy of the committed right edge (a replica pushes records it has not
 * applied yet onto the copy, to check a leader's checkpoint before applying). */
void tms_tree_edge(const tms_tree *t, tms_tlog_range *out);

/* ---- readers (and the writer) ----------------------------------------------------------- */

/* Open DIR/tree for reading. TMS_NOT_FOUND when there is none yet. */
tms_err tms_tree_open_reader(const char *datadir, tms_tree **out, char *why, size_t whylen);
/* Records whose hashes the file holds now. */
uint64_t tms_tree_size(tms_tree *t);
/* fdatasync what the file holds (any handle: a checkpoint must not name a size whose hashes could be lost),
 * and, for a size, record it in DIR/tree/state when it is larger than what is there. */
tms_err tms_tree_flush(tms_tree *t, uint64_t synced);
/* Root / proofs over what is written: TMS_NOT_FOUND when the file does not hold size yet; TMS_E_INVAL for
 * indexes out of range. */
tms_err tms_tree_root(tms_tree *t, uint64_t size, tms_tlog_hash out);
tms_err tms_tree_prove_inclusion(tms_tree *t, uint64_t size, uint64_t n, tms_tlog_hash proof[TMS_TLOG_MAX_PROOF],
                                 size_t *len);
tms_err tms_tree_prove_consistency(tms_tree *t, uint64_t old, uint64_t size, tms_tlog_hash proof[TMS_TLOG_MAX_PROOF],
                                   size_t *len);
/* Does the tree of `size` records with root `root` (as this file gives it)
 * extend the signed tree (old, old_root)? Checked with a consistency proof
 * made from the file: what a log must know before it signs `size` after
 * having signed `old` (C2SP tlog-checkpoint: never sign an inconsistent
 * checkpoint). TMS_OK; TMS_E_CORRUPT with why when it does not (a damaged
 * tree file, or a log cut or rewritten below a signed size); TMS_NOT_FOUND
 * when the file does not hold size yet. */
tms_err tms_tree_extends(tms_tree *t, uint64_t old, const tms_tlog_hash old_root, uint64_t size,
                         const tms_tlog_hash root, char *why, size_t whylen);
/* The writer: forget every hash and compute them all again from the log (a
 * tree found not to match a checkpoint of its own log). */
tms_err tms_tree_rebuild(tms_tree *t, const char *logdir, uint64_t log_last, char *why, size_t whylen);
/* The writer, at open: the tree against the latest checkpoint kept in
 * datadir (checkpoints.h). A tree whose root at that size is not the
 * checkpoint's is damaged (a tree believed at open is checked at its last
 * leaf only) and is rebuilt from the log; when the log's own tree does not
 * match either, the log was cut or rewritten below a signed size. TMS_OK
 * with said ("" or what was found, for the open's report); an error only
 * when a rebuild fails (said then says why). */
tms_err tms_tree_check_signed(tms_tree *t, const char *datadir, const char *logdir, uint64_t log_last, char *said,
                              size_t saidlen);
/* The stored hash at index i (verify reads the file through it, in order). */
tms_err tms_tree_read_hash(tms_tree *t, uint64_t i, tms_tlog_hash out);
/* Up to n stored hashes from index first on, in one read (a reader that
 * walks the file in order: verify). *got is how many whole hashes the file
 * held there (fewer than n at its end, 0 past it). TMS_OK or TMS_E_IO. */
tms_err tms_tree_read_run(tms_tree *t, uint64_t first, size_t n, tms_tlog_hash *out, size_t *got);

void tms_tree_close(tms_tree *t);

#endif
