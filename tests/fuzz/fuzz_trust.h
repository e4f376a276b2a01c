/* fuzz_trust.h -- what fuzz_proof_json.c, fuzz_witness.c and fuzz_checkpoint.c
 * share: CHECK, a strict base64 reference, the fixed keys (fuzz_note's: made
 * from fixed seeds, so scripts/fuzz_seeds.py signs notes the targets trust),
 * and libsodium's own verdict on a checkpoint note. Written apart from
 * engine/tlog/note.c: references, not copies. Static functions only, each
 * target uses some of them. */
#ifndef FUZZ_TRUST_H
#define FUZZ_TRUST_H

#include <inttypes.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "note.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", FUZZ_NAME, __LINE__, #c);    \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#define FUZZ_SHARED static __attribute__((unused))

/* The log key: fuzz_note's (name, SHA-256 of the label = the Ed25519 seed). Its vkey, computed apart by
 * fuzz_seeds.py's own Ed25519 (RFC 8032 in Python): init checks the two agree. */
#define LOG_KEY_NAME "example.com/log"
#define LOG_KEY_LABEL "tmsperm fuzz_note log seed"
#define LOG_VKEY "example.com/log+031d78d3+AbYAgcdJXK5onk5tcfB5YbqUbDIaaex0etfEk8HroNKr"
#define WIT_KEY_NAME "witness.example/w1"
#define WIT_KEY_LABEL "tmsperm fuzz_note witness seed"

#define SIG_PREFIX "\xe2\x80\x94 "   /* "— " */

/* ---- base64: RFC 4648 section 4, padded, canonical ------------------------------------------ */

FUZZ_SHARED int ref_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;   /* '=' too: padding is handled apart */
}

/* s[0..len) decoded into out (at most cap bytes): the byte count, or -1 when it is not the one padded
 * encoding of some bytes (length a multiple of 4, '=' only as the last one or two characters, the unused
 * bits of the last character zero). */
FUZZ_SHARED long ref_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    size_t pad = 0, o = 0;
    if (len % 4)
        return -1;
    if (len >= 1 && s[len - 1] == '=')
        pad++;
    if (len >= 2 && s[len - 2] == '=' && pad == 1)
        pad++;
    if (len / 4 * 3 - pad > cap)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len - pad; i++) {
        int v = ref_b64_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return -1;
    return (long)o;
}

/* The padded encoding of in[0..n), malloc'd, NUL-terminated. */
FUZZ_SHARED char *ref_b64_encode(const uint8_t *in, size_t n)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    CHECK(out);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        *o++ = A[v >> 18 & 63];
        *o++ = A[v >> 12 & 63];
        *o++ = i + 1 < n ? A[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? A[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* ---- RFC 9162 trees of a few leaves, computed naively ---------------------------------------- */

FUZZ_SHARED void ref_leaf(const void *data, size_t len, uint8_t out[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)"\x00", 1);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

FUZZ_SHARED void ref_node(const uint8_t *l, const uint8_t *r, uint8_t out[32])
{
    uint8_t buf[65];
    buf[0] = 1;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    crypto_hash_sha256(out, buf, sizeof buf);
}

FUZZ_SHARED size_t ref_split(size_t n)   /* the largest power of two < n (n >= 2) */
{
    size_t k = 1;
    while (2 * k < n)
        k *= 2;
    return k;
}

/* MTH(leaves[0..n)), n >= 1 (RFC 9162 2.1.1). */
FUZZ_SHARED void ref_mth(const tms_tlog_hash *leaves, size_t n, uint8_t out[32])
{
    if (n == 1) {
        memcpy(out, leaves[0], 32);
        return;
    }
    uint8_t l[32], r[32];
    size_t k = ref_split(n);
    ref_mth(leaves, k, l);
    ref_mth(leaves + k, n - k, r);
    ref_node(l, r, out);
}

/* SUBPROOF(m, leaves[0..n), b) appended at proof[*len] (RFC 9162 2.1.4.1). */
FUZZ_SHARED void ref_subproof(size_t m, const tms_tlog_hash *leaves, size_t n, int b, tms_tlog_hash *proof,
                              size_t *len)
{
    if (m == n) {
        if (!b)
            ref_mth(leaves, n, proof[(*len)++]);
        return;
    }
    size_t k = ref_split(n);
    if (m <= k) {
        ref_subproof(m, leaves, k, b, proof, len);
        ref_mth(leaves + k, n - k, proof[(*len)++]);
    } else {
        ref_subproof(m - k, leaves + k, n - k, 0, proof, len);
        ref_mth(leaves, k, proof[(*len)++]);
    }
}

/* ---- keys ---------------------------------------------------------------------------------- */

FUZZ_SHARED uint32_t ref_key_id(const char *name, uint8_t type, const uint8_t pk[32])
{
    uint8_t buf[TMS_NOTE_NAME_MAX + 1 + 1 + 32], h[32];
    size_t n = strlen(name);
    memcpy(buf, name, n);
    buf[n] = '\n';
    buf[n + 1] = type;
    memcpy(buf + n + 2, pk, 32);
    crypto_hash_sha256(h, buf, n + 2 + 32);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* The key `name` of `type` whose seed is SHA-256(label): its private key line and vkey formatted here and
 * parsed by note.c (as fuzz_note.c makes its keys). */
FUZZ_SHARED void make_key(const char *name, uint8_t type, const char *label, tms_note_signer *s, tms_note_verifier *v)
{
    uint8_t seed[32], pk[32], sk[64], raw[33];
    char b64[64], line[512], why[200];
    crypto_hash_sha256(seed, (const unsigned char *)label, strlen(label));
    crypto_sign_seed_keypair(pk, sk, seed);
    uint32_t id = ref_key_id(name, type, pk);
    raw[0] = type;
    memcpy(raw + 1, pk, 32);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    snprintf(line, sizeof line, "%s+%08" PRIx32 "+%s", name, id, b64);
    CHECK(tms_note_verifier_parse(line, strlen(line), v, why, sizeof why) == TMS_OK);
    CHECK(v->id == id && v->type == type && !memcmp(v->pk, pk, 32) && !strcmp(v->name, name));
    memcpy(raw + 1, seed, 32);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    snprintf(line, sizeof line, "PRIVATE+KEY+%s+%08" PRIx32 "+%s\n", name, id, b64);
    CHECK(tms_note_signer_parse(line, strlen(line), s, why, sizeof why) == TMS_OK);
    CHECK(!memcmp(s->sk, sk, 64) && !memcmp(&s->v, v, sizeof *v));
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
}

/* ---- libsodium's verdict on a note --------------------------------------------------------- */

/* Of a well-formed note (tms_note_open said TMS_OK without keys): its signature lines by key k (name and key
 * ID) -- 1 when there is at least one and each verifies with crypto_sign_verify_detached over the text (Go's
 * split: the text ends at the last blank line), else 0. Parsed here, from C2SP signed-note's text. */
FUZZ_SHARED int ref_signed_by(const char *note, size_t len, const tms_note_verifier *k)
{
    size_t split = 0;
    int found = 0;
    uint8_t raw[TMS_NOTE_SIG_TEXT_MAX];
    CHECK(len >= 2 && note[len - 1] == '\n');
    for (size_t i = len - 1; i-- > 0;)
        if (note[i] == '\n' && note[i + 1] == '\n') {
            split = i + 1;   /* the text: note[0..split) */
            found = 1;
            break;
        }
    CHECK(found);
    size_t nlen = strlen(k->name);
    int any = 0;
    for (size_t p = split + 1; p < len;) {
        const char *nl = memchr(note + p, '\n', len - p);
        CHECK(nl);
        size_t e = (size_t)(nl - note);
        if (e - p > 4 + nlen + 1 && !memcmp(note + p, SIG_PREFIX, 4) && !memcmp(note + p + 4, k->name, nlen) &&
            note[p + 4 + nlen] == ' ') {
            long got = ref_b64_decode(note + p + 4 + nlen + 1, e - (p + 4 + nlen + 1), raw, sizeof raw);
            CHECK(got >= 5);   /* the note opened: its lines are well-formed */
            uint32_t id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
            if (id == k->id) {
                if (got != 68 || crypto_sign_verify_detached(raw + 4, (const unsigned char *)note, split, k->pk) != 0)
                    return 0;
                any = 1;
            }
        }
        p = e + 1;
    }
    return any;
}

/* A checkpoint that parsed from text[0..len): its first three lines are what tms_checkpoint_format writes. */
FUZZ_SHARED void check_checkpoint_text(const char *text, size_t len, const tms_checkpoint *cp)
{
    char buf[TMS_NOTE_NAME_MAX + 100];
    size_t olen = strlen(cp->origin);
    CHECK(olen > 0 && olen < len && !memcmp(cp->origin, text, olen) && text[olen] == '\n');
    CHECK(cp->size <= INT64_MAX);
    size_t n = tms_checkpoint_format(cp->origin, cp->size, cp->root, buf, sizeof buf);
    CHECK(n > 0 && n <= len && !memcmp(buf, text, n));
}

/* tms_checkpoint_open of note[0..len) (copied into a block of exactly len bytes: ASan sees any over-read)
 * with no key and with k, as the replica, tms-audit verify and the witness use it. The invariants: a note
 * that opens with k opens without it, to the same checkpoint, and libsodium itself finds k's signature
 * over the text, and its origin is k's name; a note that opens without k opens with it exactly when that
 * holds. The checkpoint is the text's (tms_checkpoint_parse) and formats back to its first lines.
 * Returns the verdict with k, *cp its checkpoint. */
FUZZ_SHARED tms_err open_checkpoint(const char *note, size_t len, const tms_note_verifier *k, int nowhy,
                                    tms_checkpoint *cp)
{
    char why[300];
    tms_checkpoint c0, c1, c2;
    char *copy = malloc(len ? len : 1);
    CHECK(copy);
    memcpy(copy, note, len);
    tms_err e0 = tms_checkpoint_open(copy, len, NULL, &c0, nowhy ? NULL : why, nowhy ? 0 : sizeof why);
    tms_err e1 = tms_checkpoint_open(copy, len, k, &c1, nowhy ? NULL : why, nowhy ? 0 : sizeof why);
    CHECK(e0 == TMS_OK || e0 == TMS_E_INVAL);
    CHECK(e1 == TMS_OK || e1 == TMS_E_INVAL);
    if (e0 == TMS_OK) {
        tms_note *n = malloc(sizeof *n);
        CHECK(n);
        CHECK(tms_note_open(copy, len, NULL, 0, n, NULL, 0) == TMS_OK);
        CHECK(n->text == copy && n->text_len < len);
        CHECK(tms_checkpoint_parse(n->text, n->text_len, &c2, NULL, 0) == TMS_OK && !memcmp(&c0, &c2, sizeof c0));
        check_checkpoint_text(n->text, n->text_len, &c0);
        free(n);
        int ok = ref_signed_by(copy, len, k) && !strcmp(c0.origin, k->name);
        CHECK((e1 == TMS_OK) == ok);
    }
    if (e1 == TMS_OK) {
        CHECK(e0 == TMS_OK && !memcmp(&c0, &c1, sizeof c0));
        CHECK(!strcmp(c1.origin, k->name));
        CHECK(ref_signed_by(copy, len, k));
    }
    free(copy);
    if (cp)
        *cp = c1;
    return e1;
}

#endif
