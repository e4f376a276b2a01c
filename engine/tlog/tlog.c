/* tlog.c -- the RFC 9162 Merkle tree: stored-hash layout, tree heads and
 * proofs (see tlog.h). The proof makers follow RFC 9162 2.1.3.1 / 2.1.4.1
 * recursively over [lo, hi) leaf ranges, as Go's sumdb/tlog does, reading
 * every stored hash they need in one call; the checkers are RFC 9162
 * 2.1.3.2 / 2.1.4.2 as written (the bit walk), so the two sides share no
 * code beyond the hash functions. */
#include "tlog.h"
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

/* SHA-256 is OpenSSL's (libcrypto, already in every program through h2o and
 * libcurl): it uses the CPU's SHA extensions where there are some, 2.4-3x
 * libsodium's portable code per tree hash on this project's machines
 * (benchmarks/RESULTS.md, "the tree's SHA-256 from libcrypto", sixth session). The algorithm is fetched
 * once; should the fetch or a digest fail (no memory, a provider
 * configuration without SHA-256), the hash is libsodium's, which is the same
 * function: every hash here is total and equal whichever computes it
 * (test_tlog checks the two against each other). */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static pthread_key_t sha256_ctx_key;   /* each thread's context, kept: a new one per hash cost ~20% of it */
static int sha256_ctx_keyed;           /* the key was made (else a context per hash, as before) */

static void sha256_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha256_ctx_keyed = pthread_key_create(&sha256_ctx_key, sha256_ctx_free) == 0;
}

/* This thread's context (freed when it exits; *own set to 0), or without a
 * key one for this hash alone (*own set to 1: the caller frees it); NULL
 * when out of memory. */
static EVP_MD_CTX *sha256_ctx(int *own)
{
    EVP_MD_CTX *ctx;
    *own = !sha256_ctx_keyed;
    if (*own)
        return EVP_MD_CTX_new();
    if ((ctx = pthread_getspecific(sha256_ctx_key)))
        return ctx;
    if ((ctx = EVP_MD_CTX_new()) && pthread_setspecific(sha256_ctx_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* SHA-256(prefix || data) into out, prefix one byte or none (prefix < 0). */
static void sha256(int prefix, const void *data, size_t len, tms_tlog_hash out)
{
    const unsigned char p = (unsigned char)prefix;
    EVP_MD_CTX *ctx = NULL;
    unsigned n = 0;
    int own = 0, done;
    pthread_once(&sha256_once, sha256_fetch);
    done = sha256_md && (ctx = sha256_ctx(&own)) && EVP_DigestInit_ex2(ctx, sha256_md, NULL) &&
           (prefix < 0 || EVP_DigestUpdate(ctx, &p, 1)) && EVP_DigestUpdate(ctx, data, len) &&
           EVP_DigestFinal_ex(ctx, out, &n) && n == TMS_TLOG_HASH;
    if (own)
        EVP_MD_CTX_free(ctx);   /* (NULL: nothing) */
    if (!done)
        tms__tlog_sha256_sodium(prefix, data, len, out);
}

void tms__tlog_sha256_sodium(int prefix, const void *data, size_t len, tms_tlog_hash out)
{
    crypto_hash_sha256_state st;
    const unsigned char p = (unsigned char)prefix;
    crypto_hash_sha256_init(&st);
    if (prefix >= 0)
        crypto_hash_sha256_update(&st, &p, 1);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

void tms_tlog_leaf_hash(const void *data, size_t len, tms_tlog_hash out)
{
    sha256(0x00, data, len, out);
}

void tms_tlog_node_hash(const tms_tlog_hash left, const tms_tlog_hash right, tms_tlog_hash out)
{
    unsigned char buf[2 * TMS_TLOG_HASH];
    memcpy(buf, left, TMS_TLOG_HASH);
    memcpy(buf + TMS_TLOG_HASH, right, TMS_TLOG_HASH);
    sha256(0x01, buf, sizeof buf, out);
}

void tms_tlog_empty_root(tms_tlog_hash out)
{
    sha256(-1, "", 0, out);
}

uint64_t tms_tlog_stored_index(int level, uint64_t k)
{
    /* level L's k-th hash is stored right after level L+1's (2k+1)-th: walk down to level 0 */
    for (int l = level; l > 0; l--)
        k = 2 * k + 1;
    uint64_t i = 0;   /* level 0's k-th hash is stored at k + k/2 + k/4 + ... */
    for (; k > 0; k >>= 1)
        i += k;
    return i + (uint64_t)level;
}

uint64_t tms_tlog_stored_count(uint64_t size)
{
    if (size == 0)
        return 0;
    uint64_t count = tms_tlog_stored_index(0, size - 1) + 1;   /* up to the last leaf hash */
    for (uint64_t i = size - 1; i & 1; i >>= 1)                /* and the subtrees it completes */
        count++;
    return count;
}

uint64_t tms_tlog_size_for_count(uint64_t count)
{
    uint64_t lo = 0, hi = count < ((uint64_t)1 << 62) ? count : ((uint64_t)1 << 62);   /* stored_count(size) >= size,
                                      so the answer is at most count; the layout's indexes stay below 2^64 */
    while (lo < hi) {              /* the largest size with stored_count(size) <= count */
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (tms_tlog_stored_count(mid) <= count)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* ---- the stored hashes a computation needs --------------------------------------------- */

typedef struct need {
    uint64_t idx[TMS_TLOG_MAX_READ];
    size_t n;
    int overflow;   /* more than TMS_TLOG_MAX_READ: a bug or an absurd size */
} need;

static void push(need *nd, uint64_t index)
{
    if (nd->n == TMS_TLOG_MAX_READ)
        nd->overflow = 1;
    else
        nd->idx[nd->n++] = index;
}

/* The largest power of two <= n (n >= 1), and the largest < n (n >= 2). */
static uint64_t pow2_upto(uint64_t n) { return (uint64_t)1 << (63 - __builtin_clzll(n)); }
static uint64_t pow2_below(uint64_t n) { return pow2_upto(n - 1); }

/* The stored hashes of the complete subtrees that make up [lo, hi), left to right. */
static void subtree_index(uint64_t lo, uint64_t hi, need *nd)
{
    while (lo < hi) {
        uint64_t k = pow2_upto(hi - lo);
        int level = __builtin_ctzll(k);
        push(nd, tms_tlog_stored_index(level, lo >> level));
        lo += k;
    }
}

/* The hash of [lo, hi) from the hashes subtree_index named, starting at
 * hashes[*pos]; *pos moves past them. */
static void subtree_hash(uint64_t lo, uint64_t hi, const tms_tlog_hash *hashes, size_t *pos, tms_tlog_hash out)
{
    size_t pieces = 0;
    for (; lo < hi; lo += pow2_upto(hi - lo))
        pieces++;
    const tms_tlog_hash *h = hashes + *pos;
    memcpy(out, h[pieces - 1], TMS_TLOG_HASH);
    for (size_t i = pieces - 1; i-- > 0;)
        tms_tlog_node_hash(h[i], out, out);
    *pos += pieces;
}

static tms_err read_need(const tms_tlog_reader *r, const need *nd, tms_tlog_hash *out)
{
    if (nd->overflow)
        return TMS_E_INVAL;
    return nd->n ? r->read(r->ctx, nd->idx, nd->n, out) : TMS_OK;
}

tms_err tms_tlog_stored_hashes(uint64_t n, const tms_tlog_hash leaf, const tms_tlog_reader *r,
                               tms_tlog_hash out[65], size_t *nout)
{
    need nd = {.n = 0};
    tms_tlog_hash old[64];
    int m = __builtin_ctzll(n + 1);   /* each trailing 1 bit of n completes a subtree */
    for (int i = m - 1; i >= 0; i--)   /* ascending indexes: the largest subtree's left half first */
        push(&nd, tms_tlog_stored_index(i, (n >> i) - 1));
    tms_err err = read_need(r, &nd, old);
    if (err)
        return err;
    memcpy(out[0], leaf, TMS_TLOG_HASH);
    for (int i = 0; i < m; i++)
        tms_tlog_node_hash(old[m - 1 - i], out[i], out[i + 1]);
    *nout = (size_t)m + 1;
    return TMS_OK;
}

tms_err tms_tlog_tree_hash(uint64_t size, const tms_tlog_reader *r, tms_tlog_hash out)
{
    need nd = {.n = 0};
    tms_tlog_hash hashes[TMS_TLOG_MAX_READ];
    size_t pos = 0;
    if (size == 0) {
        tms_tlog_empty_root(out);
        return TMS_OK;
    }
    subtree_index(0, size, &nd);
    tms_err err = read_need(r, &nd, hashes);
    if (err)
        return err;
    subtree_hash(0, size, hashes, &pos, out);
    return TMS_OK;
}

/* ---- inclusion: RFC 9162 2.1.3.1 PATH(m, D[lo:hi]) -------------------------------------- */

static void path_index(uint64_t lo, uint64_t hi, uint64_t n, need *nd)
{
    if (lo + 1 == hi)
        return;
    uint64_t k = pow2_below(hi - lo);
    if (n < lo + k) {
        path_index(lo, lo + k, n, nd);
        subtree_index(lo + k, hi, nd);
    } else {
        subtree_index(lo, lo + k, nd);
        path_index(lo + k, hi, n, nd);
    }
}

static void path_make(uint64_t lo, uint64_t hi, uint64_t n, const tms_tlog_hash *hashes, size_t *pos,
                      tms_tlog_hash *proof, size_t *len)
{
    tms_tlog_hash sibling;
    if (lo + 1 == hi)
        return;   /* the leaf itself: the verifier has it */
    uint64_t k = pow2_below(hi - lo);
    if (n < lo + k) {
        path_make(lo, lo + k, n, hashes, pos, proof, len);
        subtree_hash(lo + k, hi, hashes, pos, sibling);
    } else {
        subtree_hash(lo, lo + k, hashes, pos, sibling);
        path_make(lo + k, hi, n, hashes, pos, proof, len);
    }
    memcpy(proof[(*len)++], sibling, TMS_TLOG_HASH);
}

tms_err tms_tlog_prove_inclusion(uint64_t size, uint64_t n, const tms_tlog_reader *r,
                                 tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *len)
{
    need nd = {.n = 0};
    tms_tlog_hash hashes[TMS_TLOG_MAX_READ];
    size_t pos = 0;
    *len = 0;
    if (n >= size)
        return TMS_E_INVAL;
    path_index(0, size, n, &nd);
    tms_err err = read_need(r, &nd, hashes);
    if (err)
        return err;
    path_make(0, size, n, hashes, &pos, proof, len);
    return TMS_OK;
}

/* ---- consistency: RFC 9162 2.1.4.1 SUBPROOF(m, D[lo:hi], b) ---------------------------- */

static void subproof_index(uint64_t lo, uint64_t hi, uint64_t m, need *nd)
{
    if (m == hi) {
        if (lo != 0)   /* b false: the verifier does not know this subtree's hash */
            subtree_index(lo, hi, nd);
        return;
    }
    uint64_t k = pow2_below(hi - lo);
    if (m <= lo + k) {
        subproof_index(lo, lo + k, m, nd);
        subtree_index(lo + k, hi, nd);
    } else {
        subtree_index(lo, lo + k, nd);
        subproof_index(lo + k, hi, m, nd);
    }
}

static void subproof_make(uint64_t lo, uint64_t hi, uint64_t m, const tms_tlog_hash *hashes, size_t *pos,
                          tms_tlog_hash *proof, size_t *len)
{
    tms_tlog_hash h;
    if (m == hi) {
        if (lo == 0)
            return;   /* the old tree itself: the verifier has its root */
        subtree_hash(lo, hi, hashes, pos, h);
        memcpy(proof[(*len)++], h, TMS_TLOG_HASH);
        return;
    }
    uint64_t k = pow2_below(hi - lo);
    if (m <= lo + k) {
        subproof_make(lo, lo + k, m, hashes, pos, proof, len);
        subtree_hash(lo + k, hi, hashes, pos, h);
    } else {
        subtree_hash(lo, lo + k, hashes, pos, h);
        subproof_make(lo + k, hi, m, hashes, pos, proof, len);
    }
    memcpy(proof[(*len)++], h, TMS_TLOG_HASH);
}

tms_err tms_tlog_prove_consistency(uint64_t old, uint64_t size, const tms_tlog_reader *r,
                                   tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *len)
{
    need nd = {.n = 0};
    tms_tlog_hash hashes[TMS_TLOG_MAX_READ];
    size_t pos = 0;
    *len = 0;
    if (old < 1 || old > size)
        return TMS_E_INVAL;
    subproof_index(0, size, old, &nd);
    tms_err err = read_need(r, &nd, hashes);
    if (err)
        return err;
    subproof_make(0, size, old, hashes, &pos, proof, len);
    return TMS_OK;
}

/* ---- verification: RFC 9162 2.1.3.2 and 2.1.4.2, step by step --------------------------- */

int tms_tlog_check_inclusion(uint64_t n, uint64_t size, const tms_tlog_hash leaf, const tms_tlog_hash *proof,
                             size_t len, const tms_tlog_hash root)
{
    tms_tlog_hash r;
    if (n >= size)                                   /* step 1 */
        return 0;
    uint64_t fn = n, sn = size - 1;                  /* step 2 */
    memcpy(r, leaf, TMS_TLOG_HASH);                  /* step 3 */
    for (size_t i = 0; i < len; i++) {               /* step 4 */
        if (sn == 0)                                 /* 4a */
            return 0;
        if ((fn & 1) || fn == sn) {                  /* 4b */
            tms_tlog_node_hash(proof[i], r, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            tms_tlog_node_hash(r, proof[i], r);
        }
        fn >>= 1;                                    /* 4c */
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(r, root, TMS_TLOG_HASH) == 0;   /* step 5 */
}

int tms_tlog_check_consistency(uint64_t old, uint64_t size, const tms_tlog_hash old_root,
                               const tms_tlog_hash root, const tms_tlog_hash *proof, size_t len)
{
    tms_tlog_hash fr, sr;
    if (old == 0 || old > size)
        return 0;
    if (old == size)   /* nothing to prove: the same tree */
        return len == 0 && sodium_memcmp(old_root, root, TMS_TLOG_HASH) == 0;
    if (len == 0)                                    /* step 1 */
        return 0;
    /* step 2: when old is a power of two, old_root goes first (the path, not copied: index shift) */
    int prepend = (old & (old - 1)) == 0;
    size_t total = len + (size_t)prepend;
    uint64_t fn = old - 1, sn = size - 1;            /* step 3 */
    while (fn & 1) {                                 /* step 4 */
        fn >>= 1;
        sn >>= 1;
    }
    const uint8_t *first = prepend ? old_root : proof[0];
    memcpy(fr, first, TMS_TLOG_HASH);                /* step 5 */
    memcpy(sr, first, TMS_TLOG_HASH);
    for (size_t i = 1; i < total; i++) {             /* step 6 */
        const uint8_t *c = proof[i - (size_t)prepend];
        if (sn == 0)                                 /* 6a */
            return 0;
        if ((fn & 1) || fn == sn) {                  /* 6b */
            tms_tlog_node_hash(c, fr, fr);
            tms_tlog_node_hash(c, sr, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            tms_tlog_node_hash(sr, c, sr);
        }
        fn >>= 1;                                    /* 6c */
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(fr, old_root, TMS_TLOG_HASH) == 0 &&   /* step 7 */
           sodium_memcmp(sr, root, TMS_TLOG_HASH) == 0;
}

/* ---- the compact range ------------------------------------------------------------------ */

void tms_tlog_range_push(tms_tlog_range *g, const tms_tlog_hash leaf, tms_tlog_hash out[65], size_t *nout)
{
    size_t k = 0;
    int l = 0;
    memcpy(out[k++], leaf, TMS_TLOG_HASH);
    while (g->size >> l & 1) {   /* each carry completes a subtree: its hash is stored too */
        tms_tlog_node_hash(g->level[l], out[k - 1], out[k]);
        k++;
        l++;
    }
    memcpy(g->level[l], out[k - 1], TMS_TLOG_HASH);
    g->size++;
    *nout = k;
}

void tms_tlog_range_root(const tms_tlog_range *g, tms_tlog_hash out)
{
    int first = 1;
    if (g->size == 0) {
        tms_tlog_empty_root(out);
        return;
    }
    for (int l = 0; l < 64; l++) {   /* the smallest subtree is the rightmost: fold leftwards */
        if (!(g->size >> l & 1))
            continue;
        if (first)
            memcpy(out, g->level[l], TMS_TLOG_HASH);
        else
            tms_tlog_node_hash(g->level[l], out, out);
        first = 0;
    }
}

tms_err tms_tlog_range_load(tms_tlog_range *g, uint64_t size, const tms_tlog_reader *r)
{
    uint64_t idx[64];
    tms_tlog_hash h[64];
    int lv[64];
    size_t n = 0;
    memset(g, 0, sizeof *g);
    for (int l = 63; l >= 0; l--)   /* ascending indexes: the largest subtree first */
        if (size >> l & 1) {
            lv[n] = l;
            idx[n++] = tms_tlog_stored_index(l, (size >> l) - 1);
        }
    tms_err err = n ? r->read(r->ctx, idx, n, h) : TMS_OK;
    if (err)
        return err;
    for (size_t i = 0; i < n; i++)
        memcpy(g->level[lv[i]], h[i], TMS_TLOG_HASH);
    g->size = size;
    return TMS_OK;
}
