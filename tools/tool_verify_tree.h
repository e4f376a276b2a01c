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
    tool_cp *cps;                  /* the stored checkpoints, by size */
    size_t ncps, next;
    int have_key;
    tms_note_verifier key;
    int failed;                    /* the first failure: check, seq, what */
    const char *check;
    uint64_t seq;
    char what[400];
} tool_treecheck;

/* Read DIR's tree and checkpoints; key_arg (a vkey or a file; NULL = none)
 * checks every checkpoint's signature now. 0, or TOOL_ERROR after a message
 * (unreadable); a checkpoint that does not verify is a failure, not an error. */
int tool_treecheck_begin(tool_treecheck *tc, const char *datadir, const char *key_arg);
/* The record of seq (1, 2, ...) as framed. */
void tool_treecheck_record(tool_treecheck *tc, uint64_t seq, const uint8_t *payload, size_t len);
/* After the last record read (last_seq). */
void tool_treecheck_end(tool_treecheck *tc, uint64_t last_seq);
void tool_treecheck_free(tool_treecheck *tc);

#endif
