/* fuzz_proof.c -- libFuzzer target: RFC 9162 proofs (engine/tlog/tlog.h)
 * whose sizes, indexes and hashes come from hostile input, and the proof
 * makers as an oracle.
 *
 * Input (zero-padded to 120 bytes): u64 index, u64 size, u64 old (little
 * endian), leaf hash, root, old root (32 bytes each), then up to 70 proof
 * hashes (as many whole hashes as follow).
 *
 * 1. Hostile: tms_tlog_check_inclusion(index, size, leaf, proof, len, root)
 *    and tms_tlog_check_consistency(old, size, old_root, root, proof, len)
 *    with the proof in a heap block of exactly len hashes (ASan sees any
 *    over-read), any value up to 2^64 - 1. Each verdict is compared with a
 *    reference written apart (Go's sumdb/tlog runRecordProof / runTreeProof,
 *    recursive over [lo, hi)): the two must agree, for the input's root and
 *    for the root the reference computes.
 * 2. A real tree: 300 leaves built once through tms_tlog_stored_hashes and a
 *    reader (cross-checked with tms_tlog_range_push and a naive MTH of every
 *    size); the input picks N = 1 + size % 300, n = index % N, m = 1 + old % N.
 *    The reader refuses to serve hashes beyond the tree of N records and
 *    checks the indexes ascend. tms_tlog_tree_hash / range_load agree with
 *    the naive root; real inclusion and consistency proofs verify; one bit
 *    flipped (in the proof, the leaf or a root, chosen by the input), one
 *    hash more or less, or another index never verifies.
 * 3. A virtual tree of 1 to 2^63 records whose leaves are all one hash (so
 *    the hash of any complete subtree of 2^l leaves is known: X[l]): proofs
 *    at sizes no array could hold are made, verified and refuted the same way.
 * Any violation aborts. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tlog.h"

#define CHECK(c)                                                                     \
    do {                                                                             \
        if (!(c)) {                                                                  \
            fprintf(stderr, "fuzz_proof.c:%d: invariant failed: %s\n", __LINE__, #c); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#define MAXN 300
#define HOSTILE_MAX 70
#define HDR (3 * 8 + 3 * TMS_TLOG_HASH)

/* ---- the reference checkers (Go's sumdb/tlog, recursive) ----------------------------------- */

static uint64_t pow2_below(uint64_t n)   /* the largest power of two < n, n >= 2 */
{
    uint64_t k = 1;
    while (k < n - k)   /* 2k < n without overflow */
        k <<= 1;
    return k;
}

static void node(const uint8_t *l, const uint8_t *r, uint8_t *out)
{
    uint8_t buf[65];
    buf[0] = 1;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    crypto_hash_sha256(out, buf, sizeof buf);
}

static int ref_record(const tms_tlog_hash *p, size_t len, uint64_t lo, uint64_t hi, uint64_t n, const uint8_t *leaf,
                      uint8_t *out)
{
    uint8_t th[32];
    if (lo + 1 == hi) {
        if (len)
            return 0;
        memcpy(out, leaf, 32);
        return 1;
    }
    if (len == 0)
        return 0;
    uint64_t k = pow2_below(hi - lo);
    if (n < lo + k) {
        if (!ref_record(p, len - 1, lo, lo + k, n, leaf, th))
            return 0;
        node(th, p[len - 1], out);
    } else {
        if (!ref_record(p, len - 1, lo + k, hi, n, leaf, th))
            return 0;
        node(p[len - 1], th, out);
    }
    return 1;
}

/* 1 and the root the proof leads to, or 0 when its shape is wrong. */
static int ref_inclusion(uint64_t n, uint64_t size, const uint8_t *leaf, const tms_tlog_hash *p, size_t len,
                         uint8_t *root)
{
    return n < size && ref_record(p, len, 0, size, n, leaf, root);
}

static int ref_tree(const tms_tlog_hash *p, size_t len, uint64_t lo, uint64_t hi, uint64_t n, const uint8_t *old,
                    uint8_t *oh, uint8_t *th)
{
    uint8_t o[32], t[32];
    if (n == hi) {
        if (lo == 0) {
            if (len)
                return 0;
            memcpy(oh, old, 32);
            memcpy(th, old, 32);
            return 1;
        }
        if (len != 1)
            return 0;
        memcpy(oh, p[0], 32);
        memcpy(th, p[0], 32);
        return 1;
    }
    if (len == 0)
        return 0;
    uint64_t k = pow2_below(hi - lo);
    if (n <= lo + k) {
        if (!ref_tree(p, len - 1, lo, lo + k, n, old, o, t))
            return 0;
        memcpy(oh, o, 32);
        node(t, p[len - 1], th);
    } else {
        if (!ref_tree(p, len - 1, lo + k, hi, n, old, o, t))
            return 0;
        node(p[len - 1], o, oh);
        node(p[len - 1], t, th);
    }
    return 1;
}

static int ref_consistency(uint64_t old, uint64_t size, const uint8_t *old_root, const tms_tlog_hash *p, size_t len,
                           uint8_t *oh, uint8_t *th)
{
    return old >= 1 && old <= size && ref_tree(p, len, 0, size, old, old_root, oh, th);
}

/* tms_tlog_check_* on a heap copy of exactly len hashes, compared with the reference; the verdict. */
static int check_incl(uint64_t n, uint64_t size, const uint8_t *leaf, const tms_tlog_hash *proof, size_t len,
                      const uint8_t *root)
{
    uint8_t want[32];
    tms_tlog_hash *p = malloc(len ? len * sizeof *p : 1);
    CHECK(p);
    if (len)
        memcpy(p, proof, len * sizeof *p);
    int got = tms_tlog_check_inclusion(n, size, leaf, p, len, root);
    int shape = ref_inclusion(n, size, leaf, p, len, want);
    CHECK(got == (shape && !memcmp(want, root, 32)));
    if (shape && !got)
        CHECK(tms_tlog_check_inclusion(n, size, leaf, p, len, want) == 1);
    free(p);
    return got;
}

static int check_cons(uint64_t old, uint64_t size, const uint8_t *old_root, const uint8_t *root,
                      const tms_tlog_hash *proof, size_t len)
{
    uint8_t oh[32], th[32];
    tms_tlog_hash *p = malloc(len ? len * sizeof *p : 1);
    CHECK(p);
    if (len)
        memcpy(p, proof, len * sizeof *p);
    int got = tms_tlog_check_consistency(old, size, old_root, root, p, len);
    int shape = ref_consistency(old, size, old_root, p, len, oh, th);
    CHECK(got == (shape && !memcmp(oh, old_root, 32) && !memcmp(th, root, 32)));
    if (shape && !got) {   /* what the proof does prove must verify */
        uint8_t oh2[32], th2[32];
        CHECK(ref_consistency(old, size, oh, p, len, oh2, th2) && !memcmp(oh2, oh, 32) && !memcmp(th2, th, 32));
        CHECK(tms_tlog_check_consistency(old, size, oh, th, p, len) == 1);
    }
    free(p);
    return got;
}

/* ---- readers ------------------------------------------------------------------------------- */

typedef struct store {
    const tms_tlog_hash *h;   /* real: the stored hashes; NULL: the virtual uniform tree */
    uint64_t limit;           /* hashes beyond the tree asked about: never read */
} store;

static tms_tlog_hash X[64];   /* the uniform tree: X[l] is the hash of any complete subtree of 2^l leaves */

/* The first stored index of record r (r < 2^63): r + r/2 + r/4 + ... = 2r - popcount(r). */
static uint64_t first_index(uint64_t r) { return 2 * r - (uint64_t)__builtin_popcountll(r); }

static int level_of(uint64_t idx)   /* which level a stored index holds */
{
    uint64_t lo = 0, hi = ((uint64_t)1 << 63) - 1;   /* the last record with first_index <= idx */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (first_index(mid) <= idx)
            lo = mid;
        else
            hi = mid - 1;
    }
    uint64_t level = idx - first_index(lo);
    CHECK(level <= (uint64_t)__builtin_ctzll(~lo));   /* record lo completes ctz(lo + 1) subtrees */
    return (int)level;
}

static tms_err read_hashes(void *ctx, const uint64_t *indexes, size_t n, tms_tlog_hash *out)
{
    const store *s = ctx;
    CHECK(n >= 1 && n <= TMS_TLOG_MAX_READ);
    for (size_t i = 0; i < n; i++) {
        CHECK(i == 0 || indexes[i] > indexes[i - 1]);   /* tlog.h: indexes ascend */
        CHECK(indexes[i] < s->limit);                   /* only hashes of the tree asked about */
        memcpy(out[i], s->h ? s->h[indexes[i]] : X[level_of(indexes[i])], TMS_TLOG_HASH);
    }
    return TMS_OK;
}

/* ---- the real tree ------------------------------------------------------------------------- */

static tms_tlog_hash leaves[MAXN];
static tms_tlog_hash *hashes;         /* stored hashes of the MAXN-leaf tree */
static tms_tlog_hash roots[MAXN + 1]; /* naive MTH of each size */

static void mth(uint64_t lo, uint64_t hi, uint8_t *out)
{
    if (hi - lo == 1) {
        memcpy(out, leaves[lo], 32);
        return;
    }
    uint8_t l[32], r[32];
    uint64_t k = pow2_below(hi - lo);
    mth(lo, lo + k, l);
    mth(lo + k, hi, r);
    node(l, r, out);
}

static void init(void)
{
    tms_tlog_range g = {.size = 0};
    tms_tlog_hash out[65], out2[65];
    size_t nout, nout2;
    CHECK(sodium_init() >= 0);
    hashes = malloc(tms_tlog_stored_count(MAXN) * sizeof *hashes);
    CHECK(hashes);
    for (uint64_t n = 0; n < MAXN; n++) {
        char data[32];
        int dl = snprintf(data, sizeof data, "fuzz_proof leaf %u", (unsigned)n);
        tms_tlog_leaf_hash(data, (size_t)dl, leaves[n]);
        uint64_t at = tms_tlog_stored_index(0, n);
        CHECK(at == tms_tlog_stored_count(n) && at == first_index(n));
        store s = {hashes, at};
        tms_tlog_reader r = {read_hashes, &s};
        CHECK(tms_tlog_stored_hashes(n, leaves[n], &r, out, &nout) == TMS_OK);
        tms_tlog_range_push(&g, leaves[n], out2, &nout2);
        CHECK(nout == nout2 && nout == 1 + (size_t)__builtin_ctzll(n + 1) && !memcmp(out, out2, nout * sizeof *out));
        memcpy(hashes + at, out, nout * sizeof *out);
        CHECK(at + nout == tms_tlog_stored_count(n + 1));
    }
    tms_tlog_empty_root(roots[0]);
    for (uint64_t n = 1; n <= MAXN; n++)
        mth(0, n, roots[n]);
    tms_tlog_range_root(&g, out[0]);
    CHECK(!memcmp(out[0], roots[MAXN], 32));
    tms_tlog_leaf_hash("", 0, X[0]);
    for (int l = 1; l < 64; l++)
        node(X[l - 1], X[l - 1], X[l]);
}

/* Flip bit `bit` of the 32-byte hash h. */
static void flip(uint8_t *h, unsigned bit) { h[(bit / 8) % 32] ^= (uint8_t)(1u << (bit % 8)); }

/* The proof of n in size (with leaf and root) verifies, and no one-bit change, no hash more or less does. */
static void inclusion_oracle(uint64_t n, uint64_t size, const uint8_t *leaf, const uint8_t *root,
                             const tms_tlog_hash *proof, size_t len, unsigned sel)
{
    tms_tlog_hash p[TMS_TLOG_MAX_PROOF + 1];
    uint8_t l[32], r[32];
    CHECK(check_incl(n, size, leaf, proof, len, root) == 1);
    memcpy(p, proof, len * sizeof *p);
    memcpy(l, leaf, 32);
    memcpy(r, root, 32);
    unsigned what = sel % 3, bit = sel / 3;
    if (what == 0 && len > 0) {
        flip(p[(bit / 256) % len], bit % 256);
    } else if (what == 2) {
        flip(r, bit);
    } else {
        flip(l, bit);
    }
    CHECK(check_incl(n, size, l, p, len, r) == 0);
    memcpy(p, proof, len * sizeof *p);
    memset(p[len], 0, sizeof p[len]);
    CHECK(check_incl(n, size, leaf, p, len + 1, root) == 0);
    if (len > 0) {
        CHECK(check_incl(n, size, leaf, p, len - 1, root) == 0);
        CHECK(check_incl(n, size, leaf, p + 1, len - 1, root) == 0);
    }
}

static void consistency_oracle(uint64_t old, uint64_t size, const uint8_t *old_root, const uint8_t *root,
                               const tms_tlog_hash *proof, size_t len, unsigned sel)
{
    tms_tlog_hash p[TMS_TLOG_MAX_PROOF + 1];
    uint8_t o[32], r[32];
    CHECK(check_cons(old, size, old_root, root, proof, len) == 1);
    memcpy(p, proof, len * sizeof *p);
    memcpy(o, old_root, 32);
    memcpy(r, root, 32);
    unsigned what = sel % 3, bit = sel / 3;
    if (what == 0 && len > 0)
        flip(p[(bit / 256) % len], bit % 256);
    else if (what == 2)
        flip(r, bit);
    else
        flip(o, bit);
    CHECK(check_cons(old, size, o, r, p, len) == 0);
    memcpy(p, proof, len * sizeof *p);
    memset(p[len], 0, sizeof p[len]);
    CHECK(check_cons(old, size, old_root, root, p, len + 1) == 0);
    if (len > 0) {
        CHECK(check_cons(old, size, old_root, root, p, len - 1) == 0);
        CHECK(check_cons(old, size, old_root, root, p + 1, len - 1) == 0);
    }
}

static void real_tree(uint64_t index, uint64_t size, uint64_t old, unsigned sel)
{
    uint64_t N = 1 + size % MAXN, n = index % N, m = 1 + old % N;
    store s = {hashes, tms_tlog_stored_count(N)};
    tms_tlog_reader r = {read_hashes, &s};
    tms_tlog_hash root, proof[TMS_TLOG_MAX_PROOF], out[65];
    tms_tlog_range g;
    size_t len, nout;

    CHECK(tms_tlog_tree_hash(N, &r, root) == TMS_OK && !memcmp(root, roots[N], 32));
    CHECK(tms_tlog_range_load(&g, N, &r) == TMS_OK && g.size == N);
    tms_tlog_range_root(&g, root);
    CHECK(!memcmp(root, roots[N], 32));
    CHECK(tms_tlog_size_for_count(s.limit) == N);
    CHECK(tms_tlog_size_for_count(s.limit - 1) == N - 1);

    store before = {hashes, tms_tlog_stored_index(0, n)};
    tms_tlog_reader rb = {read_hashes, &before};
    CHECK(tms_tlog_stored_hashes(n, leaves[n], &rb, out, &nout) == TMS_OK);
    CHECK(nout == 1 + (size_t)__builtin_ctzll(n + 1) && !memcmp(out, hashes[before.limit], nout * sizeof *out));

    CHECK(tms_tlog_prove_inclusion(N, n, &r, proof, &len) == TMS_OK && len <= TMS_TLOG_MAX_PROOF);
    inclusion_oracle(n, N, leaves[n], roots[N], proof, len, sel);
    if (N > 1) {   /* the same proof never proves another record */
        uint64_t other = (n + 1 + sel % (N - 1)) % N;
        CHECK(check_incl(other, N, leaves[n], proof, len, roots[N]) == 0);
        CHECK(check_incl(other, N, leaves[other], proof, len, roots[N]) == 0);
    }
    CHECK(tms_tlog_prove_inclusion(N, N + n, &r, proof, &len) == TMS_E_INVAL);

    CHECK(tms_tlog_prove_consistency(m, N, &r, proof, &len) == TMS_OK && len <= TMS_TLOG_MAX_PROOF);
    consistency_oracle(m, N, roots[m], roots[N], proof, len, sel);
    if (m < N)   /* nor that another old tree is extended */
        CHECK(check_cons(m, N, roots[m + 1], roots[N], proof, len) == 0);
    CHECK(tms_tlog_prove_consistency(0, N, &r, proof, &len) == TMS_E_INVAL);
    CHECK(tms_tlog_prove_consistency(N + 1, N, &r, proof, &len) == TMS_E_INVAL);
}

/* ---- the virtual tree ---------------------------------------------------------------------- */

static void uniform_root(uint64_t size, uint8_t *out)   /* fold the complete subtrees, smallest (rightmost) first */
{
    int first = 1;
    for (int l = 0; l < 64; l++) {
        if (!(size >> l & 1))
            continue;
        if (first)
            memcpy(out, X[l], 32);
        else
            node(X[l], out, out);
        first = 0;
    }
}

static void virtual_tree(uint64_t index, uint64_t size, uint64_t old, unsigned sel)
{
    uint64_t V = (size >> 1) + 1, n = index % V, m = 1 + old % V;   /* V in [1, 2^63] */
    store s = {NULL, tms_tlog_stored_count(V)};
    tms_tlog_reader r = {read_hashes, &s};
    tms_tlog_hash root, old_root, want, proof[TMS_TLOG_MAX_PROOF], out[65];
    tms_tlog_range g;
    size_t len, nout;

    CHECK(s.limit >= V);
    uniform_root(V, want);
    CHECK(tms_tlog_tree_hash(V, &r, root) == TMS_OK && !memcmp(root, want, 32));
    CHECK(tms_tlog_range_load(&g, V, &r) == TMS_OK);
    tms_tlog_range_root(&g, old_root);
    CHECK(!memcmp(old_root, want, 32));
    if (V <= ((uint64_t)1 << 62))
        CHECK(tms_tlog_size_for_count(s.limit) == V && tms_tlog_size_for_count(s.limit - 1) == V - 1);

    store before = {NULL, tms_tlog_stored_index(0, n)};
    tms_tlog_reader rb = {read_hashes, &before};
    CHECK(tms_tlog_stored_hashes(n, X[0], &rb, out, &nout) == TMS_OK);
    CHECK(nout == 1 + (size_t)__builtin_ctzll(n + 1) && !memcmp(out, X, nout * sizeof *out));

    CHECK(tms_tlog_prove_inclusion(V, n, &r, proof, &len) == TMS_OK && len <= TMS_TLOG_MAX_PROOF);
    inclusion_oracle(n, V, X[0], root, proof, len, sel);

    uniform_root(m, old_root);
    CHECK(tms_tlog_prove_consistency(m, V, &r, proof, &len) == TMS_OK && len <= TMS_TLOG_MAX_PROOF);
    consistency_oracle(m, V, old_root, root, proof, len, sel);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    uint8_t hdr[HDR] = {0};
    if (!ready) {
        init();
        ready = 1;
    }
    memcpy(hdr, data, size < HDR ? size : HDR);
    uint64_t index = le64(hdr), tsize = le64(hdr + 8), old = le64(hdr + 16);
    const uint8_t *leaf = hdr + 24, *root = hdr + 56, *old_root = hdr + 88;
    size_t len = size > HDR ? (size - HDR) / TMS_TLOG_HASH : 0;
    if (len > HOSTILE_MAX)
        len = HOSTILE_MAX;
    tms_tlog_hash proof[HOSTILE_MAX];
    if (len)
        memcpy(proof, data + HDR, len * TMS_TLOG_HASH);

    check_incl(index, tsize, leaf, proof, len, root);
    check_cons(old, tsize, old_root, root, proof, len);
    check_incl(old, tsize, leaf, proof, len, root);   /* the other number as an index too */
    check_cons(index, tsize, old_root, root, proof, len);

    unsigned sel = (unsigned)leaf[0] | (unsigned)leaf[1] << 8 | (unsigned)leaf[2] << 16;
    real_tree(index, tsize, old, sel);
    virtual_tree(index, tsize, old, sel);
    return 0;
}
