/* tool_verify_tree.h -- tms-audit verify's checks of SPEC section 11: the
 * Merkle tree file against the tree of the log as read, and every stored
 * checkpoint (its root recomputed from the log; its signature with --key).
 * Fed record by record by verify's one pass over the log; O(log n) memory
 * for the tree (a compact range), a few bytes per stored checkpoint. */
#ifndef TMS_TOOL_VERIFY_TREE_H
#define TMS_TOOL_VERIFY_TREE_H

#include <stddef.h>
#include <stdint.h>
#include "note.h"
#include "tlog.h"
#include "tree.h"

typedef struct tool_cp {
    uint64_t size, offset;
    tms_tlog_hash root;
} tool_cp;

typedef struct tool_treecheck {
    tms_tlog_range range;          /* the tree of the records read so far */
    tms_tree *tree;                /* DIR/tree, NULL when absent */
    uint64_t tree_size;            /* records whose hashes it held when verify began */
    tms_tlog_hash *win;            /* stored hashes read ahead (TOOL_TREE_WINDOW of them, malloc'd): */
    uint64_t win_first;            /* ... the index of win[0] ... */
    size_t win_n;                  /* ... and how many win holds */
    tool_cp *cps;                  /* the stored checkpoints, by size */
    size_t ncps, next;
    int have_key;
    tms_note_verifier key;
    int keep_latest;               /* keep the latest checkpoint's note (a receipt names it): */
    char *latest_note;             /* ... the last kept entry of the largest size (malloc'd), NULL: none */
    size_t latest_len;
    uint64_t latest_size;
    tms_tlog_hash latest_root;
    tool_cp *roots;                /* Merkle roots to find at seqs (kept snapshots'), by seq */
    size_t nroots, next_root;
    uint64_t root_bad;             /* the first of them that is not the log's tree there (0: none) */
    struct tool_tree_feed *feed;   /* private: the records on their way to the checking thread */
    int failed;                    /* the first failure: check, seq, what */
    const char *check;
    uint64_t seq;
    char what[400];
} tool_treecheck;

/* Read DIR's tree and checkpoints; key_arg (a vkey or a file; NULL = none)
 * checks every checkpoint's signature now; keep_latest keeps the latest
 * checkpoint's note. 0, or TOOL_ERROR after a message (unreadable); a
 * checkpoint that does not verify is a failure, not an error. */
int tool_treecheck_begin(tool_treecheck *tc, const char *datadir, const char *key_arg, int keep_latest);
/* Start from the tree of records 1..n instead of the empty one (verify
 * --since): its compact range loaded from the tree file's stored hashes,
 * whose root must be root (a receipt's). Every checkpoint of size <= n is
 * then checked against root with a consistency proof made from the file;
 * the records fed after are n + 1, n + 2, ... Returns 0 (the checkpoints'
 * failures are tc's, as usual), TOOL_NEGATIVE when the file's root at n is
 * not root (why says so), or TOOL_ERROR after a message: no tree file, or
 * one that holds fewer than n records. */
int tool_treecheck_from(tool_treecheck *tc, uint64_t n, const tms_tlog_hash root, char *why, size_t whylen);
/* RFC 9162 PROOF(latest checkpoint's size, D[n]) from the tree file, into
 * proof (*len hashes), checked against the latest checkpoint's root and the
 * root of tc's range (n records). 1 made and holds; 0 no tree file holding
 * n records or no checkpoint (nothing made); -1 made and does not hold (the
 * tree file is damaged: tc records the failure). */
int tool_treecheck_prove_latest(tool_treecheck *tc, uint64_t n, tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *len);
/* A root the tree of records 1..seq must have (a kept snapshot's): one that
 * does not sets root_bad (the first such seq), not a failure of tc's. Before
 * the records are fed; seqs ascending. 0 or TOOL_ERROR (out of memory). */
int tool_treecheck_expect_root(tool_treecheck *tc, uint64_t seq, const tms_tlog_hash root);
/* Check the records fed from now on on a thread of their own (the leaf
 * hashes, the tree file, the roots), in batches, while the caller goes on;
 * without one (it could not be started) they are checked as they come. */
void tool_treecheck_start(tool_treecheck *tc);
/* The record of seq (1, 2, ...) as framed (copied when a thread checks it). */
void tool_treecheck_record(tool_treecheck *tc, uint64_t seq, const uint8_t *payload, size_t len);
/* Every record fed checked, the thread stopped: before tc's range, failures
 * or roots are read. */
void tool_treecheck_finish(tool_treecheck *tc);
/* After the last record read (last_seq). */
void tool_treecheck_end(tool_treecheck *tc, uint64_t last_seq);
void tool_treecheck_free(tool_treecheck *tc);

#endif
