/* tlog.h -- the RFC 9162 (section 2.1) Merkle tree over the log's records:
 * hashing, where each hash is stored, tree heads, and the two proofs, made
 * and checked. Pure functions: no I/O, no clock, no allocation beyond
 * libcrypto's digest context (freed before the hash returns). Stored
 * hashes are read back through a tms_tlog_reader the caller supplies.
 *
 * Vocabulary (after Go's golang.org/x/mod/sumdb/tlog, whose layout this is):
 *   record n    0-based leaf index; the record of seq s is leaf s - 1
 *   size        the number of leaves of a tree (a checkpoint's tree size)
 *   level L     hashes of complete subtrees of 2^L leaves; level 0 = leaves
 *   stored hash the hash of a complete subtree, kept once it is complete, at
 *               tms_tlog_stored_index(L, k) in one dense array: record n
 *               appends its leaf hash and one hash per subtree it completes
 *               (on average just under two per record), so a file or table
 *               of stored hashes is append-only.
 *
 * Every hash is TMS_TLOG_HASH bytes of SHA-256 (libcrypto's, libsodium's
 * should libcrypto fail: the same bytes either way):
 *   leaf  SHA-256(0x00 || data)        node  SHA-256(0x01 || left || right)
 * The tree of size 0 has root SHA-256("") (RFC 9162 2.1.1: MTH({})). */
#ifndef TMS_TLOG_H
#define TMS_TLOG_H

#include <stddef.h>
#include <stdint.h>
#include "tmsperm.h"

#define TMS_TLOG_HASH 32
/* The longest proof either function makes or accepts (a tree of 2^64 leaves needs 64 hashes per proof; the
 * bound keeps hostile input from asking for more). */
#define TMS_TLOG_MAX_PROOF 64
/* The most stored hashes one tree head or proof reads (twice a proof's length: one incomplete subtree on the
 * tree's right edge costs a hash per level). */
#define TMS_TLOG_MAX_READ 192

typedef uint8_t tms_tlog_hash[TMS_TLOG_HASH];

/* Reads stored hashes: fill out[i] with the stored hash at indexes[i], i < n
 * (indexes ascend). TMS_OK, or an error that the caller returns unchanged
 * (TMS_E_IO, TMS_E_CORRUPT, TMS_NOT_FOUND when an index is not stored yet). */
typedef struct tms_tlog_reader {
    tms_err (*read)(void *ctx, const uint64_t *indexes, size_t n, tms_tlog_hash *out);
    void *ctx;
} tms_tlog_reader;

void tms_tlog_leaf_hash(const void *data, size_t len, tms_tlog_hash out);
void tms_tlog_node_hash(const tms_tlog_hash left, const tms_tlog_hash right, tms_tlog_hash out);
/* MTH of the empty tree: SHA-256 of nothing. */
void tms_tlog_empty_root(tms_tlog_hash out);
/* Internal (tlog.c's fallback, and test_tlog's second opinion): libsodium's
 * SHA-256 of (prefix || data), prefix one byte, or none when prefix < 0. */
void tms__tlog_sha256_sodium(int prefix, const void *data, size_t len, tms_tlog_hash out);

/* Where the hash of the k-th complete subtree of level `level` is stored. */
uint64_t tms_tlog_stored_index(int level, uint64_t k);
/* How many stored hashes a tree of `size` records has. */
uint64_t tms_tlog_stored_count(uint64_t size);
/* The largest size whose stored hashes fit in the first `count` (what a
 * store cut at `count` hashes still holds whole). */
uint64_t tms_tlog_size_for_count(uint64_t count);

/* The hashes record n appends when its leaf hash is `leaf`: out[0] = leaf,
 * then one per subtree it completes; *nout (1 to 65) says how many. They go
 * at tms_tlog_stored_index(0, n) onwards. Reads up to 64 earlier hashes
 * (the left halves it completes). */
tms_err tms_tlog_stored_hashes(uint64_t n, const tms_tlog_hash leaf, const tms_tlog_reader *r,
                               tms_tlog_hash out[65], size_t *nout);

/* A compact range: the tree's right edge, enough to append a record and to
 * give the root of [0, size) with no reads. level[l] is the hash of the
 * complete subtree of 2^l leaves in [0, size)'s decomposition, valid when
 * bit l of size is set. The writer's tree and verify's streaming check. */
typedef struct tms_tlog_range {
    uint64_t size;
    tms_tlog_hash level[64];
} tms_tlog_range;

/* Append record size's leaf hash: out gets the stored hashes it adds (as
 * tms_tlog_stored_hashes), *nout of them. */
void tms_tlog_range_push(tms_tlog_range *g, const tms_tlog_hash leaf, tms_tlog_hash out[65], size_t *nout);
/* The root of [0, g->size). */
void tms_tlog_range_root(const tms_tlog_range *g, tms_tlog_hash out);
/* Load the range of a tree of `size` records from its stored hashes. */
tms_err tms_tlog_range_load(tms_tlog_range *g, uint64_t size, const tms_tlog_reader *r);

/* The root of the tree of `size` records (size 0: tms_tlog_empty_root). */
tms_err tms_tlog_tree_hash(uint64_t size, const tms_tlog_reader *r, tms_tlog_hash out);

/* RFC 9162 2.1.3.1: the inclusion proof of record n (0 <= n < size) in the
 * tree of `size` records, *len hashes (<= TMS_TLOG_MAX_PROOF) into proof,
 * leaf side first. TMS_E_INVAL for n >= size. */
tms_err tms_tlog_prove_inclusion(uint64_t size, uint64_t n, const tms_tlog_reader *r,
                                 tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *len);

/* RFC 9162 2.1.4.1: the consistency proof that the tree of `size` records
 * extends the tree of `old` records (1 <= old <= size; old == size gives an
 * empty proof). TMS_E_INVAL otherwise. */
tms_err tms_tlog_prove_consistency(uint64_t old, uint64_t size, const tms_tlog_reader *r,
                                   tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *len);

/* RFC 9162 2.1.3.2, step by step: 1 when proof[0..len) proves that `leaf`
 * (a leaf hash) is record n of the tree of `size` records whose root is
 * `root`, else 0. Any size, index and length is safe to pass. */
int tms_tlog_check_inclusion(uint64_t n, uint64_t size, const tms_tlog_hash leaf, const tms_tlog_hash *proof,
                             size_t len, const tms_tlog_hash root);

/* RFC 9162 2.1.4.2, step by step: 1 when proof[0..len) proves that the tree
 * of `size` records with root `root` extends the tree of `old` records with
 * root `old_root`, else 0. old == size holds with an empty proof and equal
 * roots; old == 0 or old > size never holds. */
int tms_tlog_check_consistency(uint64_t old, uint64_t size, const tms_tlog_hash old_root,
                               const tms_tlog_hash root, const tms_tlog_hash *proof, size_t len);

#endif
