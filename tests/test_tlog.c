/* test_tlog.c -- the Merkle tree, its proofs and signed notes (tlog.h,
 * note.h; SPEC section 11) against references written apart: a naive
 * recursive RFC 9162 tree (MTH, PATH, PROOF straight from 2.1.1-2.1.4.1)
 * and the test vectors of Go's golang.org/x/mod/sumdb/note. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "note.h"
#include "tlog.h"

/* ---- the reference tree: leaves are "leaf <i>" ------------------------------------------ */

static void leaf_of(uint64_t i, tms_tlog_hash out)
{
    static tms_tlog_hash cache[10000];
    static uint8_t have[10000];
    char buf[32];
    if (i < 10000 && have[i]) {
        memcpy(out, cache[i], TMS_TLOG_HASH);
        return;
    }
    int n = snprintf(buf, sizeof buf, "leaf %llu", (unsigned long long)i);
    tms_tlog_leaf_hash(buf, (size_t)n, out);
    if (i < 10000) {
        memcpy(cache[i], out, TMS_TLOG_HASH);
        have[i] = 1;
    }
}

static uint64_t k_below(uint64_t n) { uint64_t k = 1; while (k * 2 < n) k *= 2; return k; }

/* MTH(D[lo:hi]) by the definition */
static void mth(uint64_t lo, uint64_t hi, tms_tlog_hash out)
{
    if (hi - lo == 1) {
        leaf_of(lo, out);
        return;
    }
    tms_tlog_hash l, r;
    uint64_t k = k_below(hi - lo);
    mth(lo, lo + k, l);
    mth(lo + k, hi, r);
    tms_tlog_node_hash(l, r, out);
}

/* PATH(m, D[lo:hi]) */
static void ref_path(uint64_t m, uint64_t lo, uint64_t hi, tms_tlog_hash *p, size_t *n)
{
    if (hi - lo == 1)
        return;
    uint64_t k = k_below(hi - lo);
    if (m < k) {
        ref_path(m, lo, lo + k, p, n);
        mth(lo + k, hi, p[(*n)++]);
    } else {
        ref_path(m - k, lo + k, hi, p, n);
        mth(lo, lo + k, p[(*n)++]);
    }
}

/* SUBPROOF(m, D[lo:hi], b) */
static void ref_subproof(uint64_t m, uint64_t lo, uint64_t hi, int b, tms_tlog_hash *p, size_t *n)
{
    if (m == hi - lo) {
        if (!b)
            mth(lo, hi, p[(*n)++]);
        return;
    }
    uint64_t k = k_below(hi - lo);
    if (m <= k) {
        ref_subproof(m, lo, lo + k, b, p, n);
        mth(lo + k, hi, p[(*n)++]);
    } else {
        ref_subproof(m - k, lo + k, hi, 0, p, n);
        mth(lo, lo + k, p[(*n)++]);
    }
}

/* ---- stored hashes in memory, written as a log writer would -------------------------------- */

typedef struct mem { tms_tlog_hash *h; uint64_t n, cap; } mem;

static tms_err mem_read(void *ctx, const uint64_t *idx, size_t n, tms_tlog_hash *out)
{
    mem *m = ctx;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= m->n)
            return TMS_NOT_FOUND;
        memcpy(out[i], m->h[idx[i]], TMS_TLOG_HASH);
    }
    return TMS_OK;
}

static void mem_grow(mem *m, uint64_t size)
{
    tms_tlog_reader r = {mem_read, m};
    for (uint64_t i = m->n ? tms_tlog_size_for_count(m->n) : 0; i < size; i++) {
        tms_tlog_hash leaf, out[65];
        size_t k;
        leaf_of(i, leaf);
        assert_int_equal(tms_tlog_stored_index(0, i), m->n);
        assert_int_equal(tms_tlog_stored_hashes(i, leaf, &r, out, &k), TMS_OK);
        if (m->n + k > m->cap) {
            m->cap = (m->n + k) * 2;
            m->h = realloc(m->h, m->cap * sizeof *m->h);
            assert_non_null(m->h);
        }
        memcpy(m->h + m->n, out, k * sizeof *out);
        m->n += k;
        assert_int_equal(m->n, tms_tlog_stored_count(i + 1));
        assert_int_equal(tms_tlog_size_for_count(m->n), i + 1);
    }
}

static void check_all_proofs(mem *m, uint64_t size, uint64_t step)
{
    tms_tlog_reader r = {mem_read, m};
    tms_tlog_hash root, ref, proof[TMS_TLOG_MAX_PROOF], want[TMS_TLOG_MAX_PROOF], leaf, old_root;
    size_t len, wlen;
    assert_int_equal(tms_tlog_tree_hash(size, &r, root), TMS_OK);
    mth(0, size, ref);
    assert_memory_equal(root, ref, TMS_TLOG_HASH);
    for (uint64_t i = 0; i < size; i += step) {
        assert_int_equal(tms_tlog_prove_inclusion(size, i, &r, proof, &len), TMS_OK);
        wlen = 0;
        ref_path(i, 0, size, want, &wlen);
        assert_int_equal(len, wlen);
        assert_memory_equal(proof, want, len * TMS_TLOG_HASH);
        leaf_of(i, leaf);
        assert_true(tms_tlog_check_inclusion(i, size, leaf, (const tms_tlog_hash *)proof, len, root));
        /* a forged leaf, another index, a wrong size, a proof one hash short or long, a flipped byte */
        leaf_of(i + 1, leaf);
        assert_false(tms_tlog_check_inclusion(i, size, leaf, (const tms_tlog_hash *)proof, len, root));
        leaf_of(i, leaf);
        if (size > 1)
            assert_false(tms_tlog_check_inclusion((i + 1) % size, size, leaf, (const tms_tlog_hash *)proof, len,
                                                  root));
        if (len) {
            assert_false(tms_tlog_check_inclusion(i, size, leaf, (const tms_tlog_hash *)proof, len - 1, root));
            proof[len / 2][7] ^= 1;
            assert_false(tms_tlog_check_inclusion(i, size, leaf, (const tms_tlog_hash *)proof, len, root));
            proof[len / 2][7] ^= 1;
        }
        memcpy(proof[len], root, TMS_TLOG_HASH);
        assert_false(tms_tlog_check_inclusion(i, size, leaf, (const tms_tlog_hash *)proof, len + 1, root));
        assert_false(tms_tlog_check_inclusion(size, size, leaf, (const tms_tlog_hash *)proof, len, root));
    }
    for (uint64_t old = 1; old <= size; old += step) {
        assert_int_equal(tms_tlog_prove_consistency(old, size, &r, proof, &len), TMS_OK);
        wlen = 0;
        if (old < size)
            ref_subproof(old, 0, size, 1, want, &wlen);
        assert_int_equal(len, wlen);
        assert_memory_equal(proof, want, len * TMS_TLOG_HASH);
        mth(0, old, old_root);
        assert_true(tms_tlog_check_consistency(old, size, old_root, root, (const tms_tlog_hash *)proof, len));
        assert_false(tms_tlog_check_consistency(old, size, root, old_root, (const tms_tlog_hash *)proof, len) &&
                     old != size);
        if (len) {
            proof[0][0] ^= 0x80;
            assert_false(tms_tlog_check_consistency(old, size, old_root, root, (const tms_tlog_hash *)proof, len));
            proof[0][0] ^= 0x80;
            assert_false(tms_tlog_check_consistency(old, size, old_root, root, (const tms_tlog_hash *)proof,
                                                    len - 1));
        }
        if (old > 1)
            assert_false(tms_tlog_check_consistency(old - 1, size, old_root, root, (const tms_tlog_hash *)proof,
                                                    len));
    }
}

static void tree_every_size_to_300(void **state)
{
    (void)state;
    mem m = {0};
    for (uint64_t size = 1; size <= 300; size++) {
        mem_grow(&m, size);
        check_all_proofs(&m, size, size <= 128 ? 1 : 5);   /* every leaf and old size to 128, then every 5th */
    }
    free(m.h);
}

static void tree_sampled_sizes(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {511, 512, 513, 1000, 1023, 1024, 1025, 4097, 8191};
    mem m = {0};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        mem_grow(&m, sizes[s]);
        check_all_proofs(&m, sizes[s], sizes[s] / 37 + 1);
    }
    free(m.h);
}

static void range_matches_stored(void **state)
{
    (void)state;
    mem m = {0};
    tms_tlog_range g = {0}, loaded;
    tms_tlog_reader r = {mem_read, &m};
    tms_tlog_hash out[65], root, ref;
    size_t k;
    mem_grow(&m, 2100);
    for (uint64_t i = 0; i < 2100; i++) {
        tms_tlog_hash leaf;
        leaf_of(i, leaf);
        tms_tlog_range_push(&g, leaf, out, &k);
        assert_int_equal(tms_tlog_stored_index(0, i) + k, tms_tlog_stored_count(i + 1));
        assert_memory_equal(out, m.h[tms_tlog_stored_index(0, i)], k * TMS_TLOG_HASH);
        tms_tlog_range_root(&g, root);
        assert_int_equal(tms_tlog_tree_hash(i + 1, &r, ref), TMS_OK);
        assert_memory_equal(root, ref, TMS_TLOG_HASH);
        assert_int_equal(tms_tlog_range_load(&loaded, i + 1, &r), TMS_OK);
        assert_int_equal(loaded.size, g.size);
        tms_tlog_range_root(&loaded, ref);
        assert_memory_equal(root, ref, TMS_TLOG_HASH);
    }
    free(m.h);
}

static void tree_edges(void **state)
{
    (void)state;
    tms_tlog_hash h, e, p[TMS_TLOG_MAX_PROOF];
    size_t len = 99;
    mem m = {0};
    tms_tlog_reader r = {mem_read, &m};
    tms_tlog_empty_root(e);
    assert_int_equal(tms_tlog_tree_hash(0, &r, h), TMS_OK);
    assert_memory_equal(h, e, TMS_TLOG_HASH);   /* RFC 9162: MTH({}) = SHA-256() */
    assert_int_equal(tms_tlog_prove_inclusion(0, 0, &r, p, &len), TMS_E_INVAL);
    assert_int_equal(tms_tlog_prove_consistency(0, 5, &r, p, &len), TMS_E_INVAL);
    assert_int_equal(tms_tlog_prove_consistency(6, 5, &r, p, &len), TMS_E_INVAL);
    mem_grow(&m, 3);
    assert_int_equal(tms_tlog_tree_hash(4, &r, h), TMS_NOT_FOUND);   /* not stored yet: said, not guessed */
    assert_false(tms_tlog_check_consistency(0, 3, e, e, NULL, 0));
    assert_false(tms_tlog_check_consistency(4, 3, e, e, NULL, 0));
    assert_int_equal(tms_tlog_size_for_count(0), 0);
    assert_int_equal(tms_tlog_size_for_count(2), 1);   /* 1 record: 1 hash; 2 records: 3 hashes */
    assert_int_equal(tms_tlog_size_for_count(3), 2);
    assert_true(tms_tlog_size_for_count(UINT64_MAX) <= ((uint64_t)1 << 62));   /* returns, and stays in range */
    free(m.h);
}

/* ---- notes: Go's sumdb/note vectors ------------------------------------------------------ */

static const char go_vkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char go_skey[] = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char go_text[] = "If you think cryptography is the answer to your problem,\n"
                              "then you don't know what your problem is.\n";
static const char go_sig[] = "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
                             "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

static void note_go_vectors(void **state)
{
    (void)state;
    tms_note_verifier v;
    tms_note_signer s;
    char why[200], line[TMS_NOTE_SIG_TEXT_MAX], note[1024];
    tms_note n;
    assert_int_equal(tms_note_verifier_parse(go_vkey, strlen(go_vkey), &v, why, sizeof why), TMS_OK);
    assert_int_equal(v.id, 0xc74f20a3);
    assert_string_equal(v.name, "PeterNeumann");
    assert_int_equal(tms_note_signer_parse(go_skey, strlen(go_skey), &s, why, sizeof why), TMS_OK);
    assert_memory_equal(s.v.pk, v.pk, 32);
    char *vk = tms_note_vkey(&s.v);
    assert_string_equal(vk, go_vkey);
    free(vk);
    assert_int_equal(tms_note_sign_line(&s, go_text, strlen(go_text), 0, line), TMS_OK);
    assert_string_equal(line, go_sig);   /* Ed25519 is deterministic: Go's bytes exactly */
    snprintf(note, sizeof note, "%s\n%s", go_text, go_sig);
    assert_int_equal(tms_note_open(note, strlen(note), &v, 1, &n, why, sizeof why), TMS_OK);
    assert_true(tms_note_verified_by(&n, &v));
    assert_int_equal(n.text_len, strlen(go_text));
    note[3] ^= 1;   /* the text changed: the known key's signature fails, the whole note is refused */
    assert_int_equal(tms_note_open(note, strlen(note), &v, 1, &n, why, sizeof why), TMS_E_INVAL);
    assert_string_equal(why, "bad signature by PeterNeumann");
    note[3] ^= 1;
    assert_int_equal(tms_note_open(note, strlen(note), NULL, 0, &n, why, sizeof why), TMS_OK);
    assert_false(tms_note_verified_by(&n, &v));   /* an unknown key verifies nothing */
    tms_note_signer_wipe(&s);
}

static void note_malformed(void **state)
{
    (void)state;
    tms_note_verifier v;
    tms_note n;
    char why[200], buf[1024];
    static const char *bad_vkeys[] = {
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",    /* wrong id */
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",     /* 7 digits */
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",   /* space */
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",                /* no name */
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",     /* short */
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW==",  /* long */
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWA",    /* type 2 */
        "PeterNeumann", ""};
    for (size_t i = 0; i < sizeof bad_vkeys / sizeof *bad_vkeys; i++)
        assert_int_equal(tms_note_verifier_parse(bad_vkeys[i], strlen(bad_vkeys[i]), &v, why, sizeof why),
                         TMS_E_INVAL);
    assert_int_equal(tms_note_verifier_parse(go_vkey, strlen(go_vkey), &v, why, sizeof why), TMS_OK);
    uint8_t b[2];   /* base64: canonical only (the unused bits of the last character zero), padded, exact */
    assert_int_equal(tms_b64_decode("AA==", 4, b, 1), 0);
    assert_int_equal(tms_b64_decode("AB==", 4, b, 1), -1);
    assert_int_equal(tms_b64_decode("AAA=", 4, b, 2), 0);
    assert_int_equal(tms_b64_decode("AAB=", 4, b, 2), -1);
    assert_int_equal(tms_b64_decode("AA", 2, b, 1), -1);
    assert_int_equal(tms_b64_decode("AA==", 4, b, 2), -1);
    assert_int_equal(tms_b64_decode("/w==", 4, b, 1), 0);
    assert_int_equal(tms_b64_decode("\xffw==", 4, b, 1), -1);   /* libsodium 1.0.18 alone takes 0xff for '/' */
    static const char malleated[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq\xffLDE4izWy10TW";
    assert_int_equal(tms_note_verifier_parse(malleated, strlen(malleated), &v, why, sizeof why), TMS_E_INVAL);
    assert_int_equal(tms_note_verifier_parse(go_vkey, strlen(go_vkey), &v, why, sizeof why), TMS_OK);
    static const char *bad_notes[] = {
        "no signatures\n", "text\n\n", "text\n\n\xe2\x80\x94 x\n", "text\n\n- PeterNeumann AAAA\n",
        "text\n\n\xe2\x80\x94 PeterNeumann AAAAAA==\n" /* 4 bytes: no signature */, "te\x01xt\n\n\xe2\x80\x94 a AAAAAAA=\n",
        "text\n\n\xe2\x80\x94 a AAAAAAA=", "\xff\n\n\xe2\x80\x94 a AAAAAAA=\n"};
    for (size_t i = 0; i < sizeof bad_notes / sizeof *bad_notes; i++)
        assert_int_equal(tms_note_open(bad_notes[i], strlen(bad_notes[i]), &v, 1, &n, why, sizeof why), TMS_E_INVAL);
    /* a signature line with the right name and id but a signature that is not 64 bytes: refused */
    snprintf(buf, sizeof buf, "%s\n\xe2\x80\x94 PeterNeumann x08go/ZJ\n", go_text);
    assert_int_equal(tms_note_open(buf, strlen(buf), &v, 1, &n, why, sizeof why), TMS_E_INVAL);
}

static void checkpoint_and_cosignature(void **state)
{
    (void)state;
    char *skey, *vkey, *wskey, *wvkey, why[200], text[512], note[2048], line[TMS_NOTE_SIG_TEXT_MAX];
    tms_note_signer log, wit;
    tms_note_verifier keys[2];
    tms_checkpoint cp;
    tms_note n;
    tms_tlog_hash root;
    memset(root, 0xab, sizeof root);
    assert_int_equal(tms_note_keygen("example.com/log", TMS_KEY_ED25519, &skey, &vkey), TMS_OK);
    assert_int_equal(tms_note_keygen("example.com/w1", TMS_KEY_COSIGNATURE_V1, &wskey, &wvkey), TMS_OK);
    char *bs, *bv;
    assert_int_equal(tms_note_keygen("bad name", TMS_KEY_ED25519, &bs, &bv), TMS_E_INVAL);
    assert_int_equal(tms_note_keygen("bad+name", TMS_KEY_ED25519, &bs, &bv), TMS_E_INVAL);
    assert_int_equal(tms_note_signer_parse(skey, strlen(skey), &log, why, sizeof why), TMS_OK);
    assert_int_equal(tms_note_signer_parse(wskey, strlen(wskey), &wit, why, sizeof why), TMS_OK);
    assert_int_equal(tms_note_verifier_parse(vkey, strlen(vkey), &keys[0], why, sizeof why), TMS_OK);
    assert_int_equal(tms_note_verifier_parse(wvkey, strlen(wvkey), &keys[1], why, sizeof why), TMS_OK);
    size_t tl = tms_checkpoint_format("example.com/log", 20852163, root, text, sizeof text);
    assert_true(tl > 0);
    assert_int_equal(tms_checkpoint_parse(text, tl, &cp, why, sizeof why), TMS_OK);
    assert_int_equal(cp.size, 20852163);
    assert_memory_equal(cp.root, root, 32);
    assert_string_equal(cp.origin, "example.com/log");
    assert_int_equal(tms_note_sign_line(&log, text, tl, 0, line), TMS_OK);
    int len = snprintf(note, sizeof note, "%s\n%s", text, line);
    assert_int_equal(tms_note_sign_line(&wit, text, tl, 1679315147, line), TMS_OK);
    len += snprintf(note + len, sizeof note - (size_t)len, "%s", line);
    assert_int_equal(tms_note_open(note, (size_t)len, keys, 2, &n, why, sizeof why), TMS_OK);
    assert_true(tms_note_verified_by(&n, &keys[0]));
    assert_true(tms_note_verified_by(&n, &keys[1]));
    assert_int_equal(n.sigs[1].time, 1679315147);
    note[len - 5] ^= 1;   /* the cosignature damaged */
    assert_int_equal(tms_note_open(note, (size_t)len, keys, 2, &n, why, sizeof why), TMS_E_INVAL);
    static const char *bad[] = {"o\n1\n", "o\n01\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n",
                                "o\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s\n",
                                "o\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n\nx\n",
                                "\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n",
                                "o\n99999999999999999999\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(tms_checkpoint_parse(bad[i], strlen(bad[i]), &cp, why, sizeof why), TMS_E_INVAL);
    static const char ext[] = "o\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\nextension\n";
    assert_int_equal(tms_checkpoint_parse(ext, strlen(ext), &cp, why, sizeof why), TMS_OK);
    tms_note_signer_wipe(&log);
    tms_note_signer_wipe(&wit);
    free(skey);
    free(vkey);
    free(wskey);
    free(wvkey);
}

/* The examples of the C2SP texts themselves (tlog-checkpoint, tlog-cosignature): parsed as those texts say,
 * with no key (theirs are not published): text, origin, size, root, signature lines, key IDs. */
static void c2sp_examples(void **state)
{
    (void)state;
    static const char note[] =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "\xe2\x80\x94 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo"
        "+zyWE+xeMcTOAYQ8=\n"
        "\xe2\x80\x94 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5"
        "nNo0xUe+mbIUBkBIfZ+qnA==\n";
    char why[200];
    tms_note n;
    tms_checkpoint cp;
    assert_int_equal(tms_note_open(note, strlen(note), NULL, 0, &n, why, sizeof why), TMS_OK);
    assert_int_equal(n.nsigs, 2);
    assert_string_equal(n.sigs[0].name, "example.com/behind-the-sofa");
    assert_int_equal(n.sigs[0].id, 0x033de0ae);
    assert_string_equal(n.sigs[1].name, "witness.example.com/w1");
    assert_int_equal(n.sigs[1].id, 0x8d66cf3f);
    assert_int_equal(tms_checkpoint_open(note, strlen(note), NULL, &cp, why, sizeof why), TMS_OK);
    assert_string_equal(cp.origin, "example.com/behind-the-sofa");
    assert_int_equal(cp.size, 20852163);
    uint8_t root[32];
    assert_int_equal(tms_b64_decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", 44, root, 32), 0);
    assert_memory_equal(cp.root, root, 32);
    /* and what we write for the same values is that text, byte for byte */
    char text[256];
    size_t tl = tms_checkpoint_format("example.com/behind-the-sofa", 20852163, root, text, sizeof text);
    assert_int_equal(tl, n.text_len);
    assert_memory_equal(text, note, tl);
}

static void hex32(const char *hex, tms_tlog_hash out)
{
    for (int i = 0; i < TMS_TLOG_HASH; i++)
        assert_int_equal(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

/* The tree's hashes are libcrypto's SHA-256: known answers (FIPS 180-2's
 * "abc", RFC 6962's empty leaf, the empty tree), and libsodium's SHA-256 of
 * the same bytes for every length to 300 and two larger ones, leaves and
 * nodes: a libcrypto that hashed otherwise would fail here. */
static void hashes_known_and_from_two_libraries(void **state)
{
    (void)state;
    tms_tlog_hash h, want, l, r;
    static uint8_t buf[70000];
    tms_tlog_empty_root(h);
    hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want);
    assert_memory_equal(h, want, TMS_TLOG_HASH);
    tms_tlog_leaf_hash("", 0, h);   /* RFC 6962's test vector: the empty leaf */
    hex32("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", want);
    assert_memory_equal(h, want, TMS_TLOG_HASH);
    tms__tlog_sha256_sodium(-1, "abc", 3, h);   /* the second opinion itself: FIPS 180-2, B.1 */
    hex32("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want);
    assert_memory_equal(h, want, TMS_TLOG_HASH);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + (i >> 8));
    for (size_t len = 0; len <= 302; len++) {
        size_t n = len <= 300 ? len : len == 301 ? 4096 : sizeof buf;
        tms_tlog_leaf_hash(buf, n, h);
        tms__tlog_sha256_sodium(0x00, buf, n, want);
        assert_memory_equal(h, want, TMS_TLOG_HASH);
        memcpy(l, buf + len, TMS_TLOG_HASH);
        memcpy(r, buf + len + TMS_TLOG_HASH, TMS_TLOG_HASH);
        tms_tlog_node_hash(l, r, h);
        tms__tlog_sha256_sodium(0x01, buf + len, 2 * TMS_TLOG_HASH, want);
        assert_memory_equal(h, want, TMS_TLOG_HASH);
    }
}

/* Each thread hashes with a context of its own (kept between hashes, freed
 * when the thread exits): four threads at once, every hash libsodium's. A
 * context shared between threads fails here under TSan or as a wrong hash;
 * one not freed at a thread's exit fails LeakSanitizer. */
static void *hash_many(void *arg)
{
    const uint8_t *buf = arg;
    tms_tlog_hash h, want;
    for (size_t i = 0; i < 3000; i++) {
        size_t n = (i * 7) % 300;
        tms_tlog_leaf_hash(buf + i % 64, n, h);
        tms__tlog_sha256_sodium(0x00, buf + i % 64, n, want);
        if (memcmp(h, want, TMS_TLOG_HASH) != 0)
            return (void *)1;
    }
    return NULL;
}

static void hashes_on_threads(void **state)
{
    (void)state;
    static uint8_t buf[400];
    pthread_t th[4];
    void *rc;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 29 + 3);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hash_many, buf), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], &rc), 0);
        assert_null(rc);
    }
    assert_null(hash_many(buf));   /* and this thread's own, after theirs */
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tree_every_size_to_300), cmocka_unit_test(tree_sampled_sizes),
        cmocka_unit_test(tree_edges),             cmocka_unit_test(range_matches_stored),             cmocka_unit_test(note_go_vectors),
        cmocka_unit_test(note_malformed),         cmocka_unit_test(checkpoint_and_cosignature),
        cmocka_unit_test(c2sp_examples),          cmocka_unit_test(hashes_known_and_from_two_libraries),
        cmocka_unit_test(hashes_on_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
