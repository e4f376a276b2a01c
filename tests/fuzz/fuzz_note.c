/* fuzz_note.c -- libFuzzer target: C2SP signed notes, keys and checkpoints
 * (engine/tlog/note.h) from untrusted bytes.
 *
 * Input: data[0] = flags, data[1] = aux, the rest R.
 *   flags & 3 == 0   R itself is the note (NULs and all).
 *   flags & 3 != 0   R = TEXT [NUL TAIL]: the note is TEXT "\n" then signature
 *                    lines made here over TEXT (bit 0: the log key, Ed25519;
 *                    bit 1: the witness key, cosignature/v1 at a time bits 5-6
 *                    choose), then TAIL (bit 2: TAIL first). Bit 3 flips one
 *                    bit (aux chooses) of the first line's signature.
 *   bit 4            open with no keys; bit 7: no `why` buffer.
 * The note goes to tms_note_open against three keys: a log key (0x01) and a
 * witness key (0x04) made from fixed seeds (crypto_sign_seed_keypair, then
 * vkey and private key lines formatted here and parsed), and Go's
 * PeterNeumann vkey (so Go's signed note in the corpus opens verified). An
 * opened note must hold the invariants of note.h (text in the input, ending
 * in "\n\n" at the split, signature lines tiling the rest exactly, a verified
 * signature by a known key and verifying again with libsodium here, a known
 * key's signature verified); its text then goes to tms_checkpoint_parse,
 * which must round-trip through tms_checkpoint_format. A note made here
 * with valid signatures and no tail must open; a flipped signature must
 * never verify. R also goes to tms_note_verifier_parse (round trip through
 * tms_note_vkey), tms_note_signer_parse (the key signs, and its signature
 * opens), tms_checkpoint_parse, tms_note_name_ok (against a UTF-8 reference
 * here) and tms_b64_decode (round trip). Any violation aborts. */
#include <inttypes.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "note.h"

#define CHECK(c)                                                                    \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "fuzz_note.c:%d: invariant failed: %s\n", __LINE__, #c); \
            abort();                                                                \
        }                                                                           \
    } while (0)

#define SIG_PREFIX "\xe2\x80\x94 "

static const char go_vkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char go_note[] = "If you think cryptography is the answer to your problem,\n"
                              "then you don't know what your problem is.\n\n"
                              "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
                              "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

static tms_note_signer log_signer, wit_signer;
static tms_note_verifier keys[3];   /* log, witness, PeterNeumann */
static tms_note note_out;

/* ---- references, written apart from note.c ------------------------------------------------ */

/* One well-formed UTF-8 sequence at s (Unicode Table 3-7): its length and code point, or 0. */
static size_t ref_utf8(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char b = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xc2 && b <= 0xdf)
        n = 2;
    else if (b >= 0xe0 && b <= 0xef)
        n = 3;
    else if (b >= 0xf0 && b <= 0xf4)
        n = 4;
    else
        return 0;
    if (b == 0xe0)
        lo = 0xa0;
    else if (b == 0xed)
        hi = 0x9f;
    else if (b == 0xf0)
        lo = 0x90;
    else if (b == 0xf4)
        hi = 0x8f;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    uint32_t c = b & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
    for (size_t i = 1; i < n; i++) {
        if (i > 1 && (s[i] < 0x80 || s[i] > 0xbf))
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    *cp = c;
    return n;
}

/* Go's unicode.IsSpace (the White_Space property). */
static int ref_space(uint32_t c)
{
    static const uint32_t sp[] = {0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002,
                                  0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029,
                                  0x202f, 0x205f, 0x3000};
    for (size_t i = 0; i < sizeof sp / sizeof *sp; i++)
        if (sp[i] == c)
            return 1;
    return 0;
}

/* Valid UTF-8 with no control character but (when nl) newline. */
static int ref_text_bytes(const char *p, size_t len, int nl)
{
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t n = ref_utf8(s + i, len - i, &c);
        if (!n || (c < 0x20 && !(nl && c == '\n')))
            return 0;
        i += n;
    }
    return 1;
}

static int ref_name_ok(const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    if (len == 0 || len > TMS_NOTE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t n = ref_utf8(s + i, len - i, &c);
        if (!n || c < 0x20 || c == '+' || ref_space(c))
            return 0;
        i += n;
    }
    return 1;
}

static int ref_text_ok(const char *t, size_t len)
{
    return len > 0 && len <= TMS_NOTE_MAX_BYTES && t[len - 1] == '\n' && ref_text_bytes(t, len, 1);
}

static uint32_t ref_key_id(const char *name, uint8_t type, const uint8_t pk[32])
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

/* ---- keys ---------------------------------------------------------------------------------- */

static void make_key(const char *name, uint8_t type, const char *seed_label, tms_note_signer *s,
                     tms_note_verifier *v)
{
    uint8_t seed[32], pk[32], sk[64], raw[33];
    char b64[64], line[512], why[200];
    crypto_hash_sha256(seed, (const unsigned char *)seed_label, strlen(seed_label));
    crypto_sign_seed_keypair(pk, sk, seed);
    uint32_t id = ref_key_id(name, type, pk);
    raw[0] = type;
    memcpy(raw + 1, pk, 32);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    snprintf(line, sizeof line, "%s+%08" PRIx32 "+%s", name, id, b64);
    CHECK(tms_note_verifier_parse(line, strlen(line), v, why, sizeof why) == TMS_OK);
    CHECK(v->id == id && v->type == type && !memcmp(v->pk, pk, 32) && !strcmp(v->name, name));
    char *vk = tms_note_vkey(v);
    CHECK(vk && !strcmp(vk, line));
    free(vk);
    memcpy(raw + 1, seed, 32);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    snprintf(line, sizeof line, "PRIVATE+KEY+%s+%08" PRIx32 "+%s\n", name, id, b64);
    CHECK(tms_note_signer_parse(line, strlen(line), s, why, sizeof why) == TMS_OK);
    CHECK(!memcmp(s->sk, sk, 64) && !memcmp(&s->v, v, sizeof *v));
}

static void init(void)
{
    char why[200];
    CHECK(sodium_init() >= 0);
    make_key("example.com/log", TMS_KEY_ED25519, "tmsperm fuzz_note log seed", &log_signer, &keys[0]);
    make_key("witness.example/w1", TMS_KEY_COSIGNATURE_V1, "tmsperm fuzz_note witness seed", &wit_signer, &keys[1]);
    CHECK(tms_note_verifier_parse(go_vkey, strlen(go_vkey), &keys[2], why, sizeof why) == TMS_OK);
    CHECK(tms_note_open(go_note, strlen(go_note), keys, 3, &note_out, why, sizeof why) == TMS_OK);
    CHECK(tms_note_verified_by(&note_out, &keys[2]));
}

/* ---- checks -------------------------------------------------------------------------------- */

/* A checkpoint text that parsed: its first three lines are what tms_checkpoint_format writes of it. */
static void checkpoint_roundtrip(const char *text, size_t len, const tms_checkpoint *cp)
{
    char buf[TMS_NOTE_NAME_MAX + 100];
    size_t olen = strlen(cp->origin);
    CHECK(olen > 0 && olen <= TMS_NOTE_NAME_MAX && olen < len && !memcmp(cp->origin, text, olen));
    CHECK(cp->size <= INT64_MAX);
    size_t n = tms_checkpoint_format(cp->origin, cp->size, cp->root, buf, sizeof buf);
    CHECK(n > 0 && n <= len && !memcmp(buf, text, n) && text[n - 1] == '\n');
    for (size_t i = n; i < len; i++)   /* extension lines: none empty */
        CHECK(text[i] != '\n' || (i > n && text[i - 1] != '\n'));
}

static void check_checkpoint(const char *text, size_t len)
{
    tms_checkpoint cp;
    char why[200];
    if (tms_checkpoint_parse(text, len, &cp, why, sizeof why) == TMS_OK)
        checkpoint_roundtrip(text, len, &cp);
}

static const tms_note_verifier *key_of(const tms_note_verifier *ks, size_t nk, const char *name, uint32_t id)
{
    for (size_t k = 0; k < nk; k++)
        if (ks[k].id == id && !strcmp(ks[k].name, name))
            return &ks[k];
    return NULL;
}

/* libsodium's own verdict on a signature (raw = key ID || [time ||] signature) by k over text. */
static int ref_verifies(const tms_note_verifier *k, const uint8_t *raw, size_t rawlen, const char *text, size_t len,
                        uint64_t *stamp)
{
    if (k->type == TMS_KEY_ED25519)
        return rawlen == 68 && crypto_sign_verify_detached(raw + 4, (const unsigned char *)text, len, k->pk) == 0;
    if (rawlen != 76)
        return 0;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | raw[4 + i];
    char head[64];
    int h = snprintf(head, sizeof head, "cosignature/v1\ntime %" PRIu64 "\n", t);
    unsigned char *msg = malloc((size_t)h + len);
    CHECK(msg);
    memcpy(msg, head, (size_t)h);
    memcpy(msg + h, text, len);
    int ok = crypto_sign_verify_detached(raw + 12, msg, (size_t)h + len, k->pk) == 0;
    free(msg);
    *stamp = t;
    return ok && t <= INT64_MAX;
}

/* The invariants of an opened note (n from tms_note_open(note, len, ks, nk) == TMS_OK). */
static void check_opened(const char *note, size_t len, const tms_note_verifier *ks, size_t nk, const tms_note *n)
{
    uint8_t raw[TMS_NOTE_SIG_TEXT_MAX];
    CHECK(len >= 2 && len <= TMS_NOTE_MAX_BYTES && note[len - 1] == '\n' && ref_text_bytes(note, len, 1));
    CHECK(n->text == note && n->text_len >= 1 && n->text_len < len);
    CHECK(note[n->text_len - 1] == '\n' && note[n->text_len] == '\n');
    CHECK(n->nsigs >= 1 && n->nsigs <= TMS_NOTE_MAX_SIGS);
    const char *p = note + n->text_len + 1;
    for (size_t i = 0; i < n->nsigs; i++) {
        const tms_note_sig *s = &n->sigs[i];
        size_t nlen = strnlen(s->name, sizeof s->name);
        CHECK(nlen <= TMS_NOTE_NAME_MAX && ref_name_ok(s->name, nlen));
        CHECK(s->line == p && s->line_len >= 1 && s->line_len <= (size_t)(note + len - p));
        CHECK(s->line[s->line_len - 1] == '\n' && !memchr(s->line, '\n', s->line_len - 1));
        CHECK(s->line_len > 4 + nlen + 1 && !memcmp(s->line, SIG_PREFIX, 4) && !memcmp(s->line + 4, s->name, nlen) &&
              s->line[4 + nlen] == ' ');
        const char *b = s->line + 4 + nlen + 1;
        size_t blen = s->line_len - (4 + nlen + 1) - 1, got = 0;
        const char *end = NULL;
        CHECK(sodium_base642bin(raw, sizeof raw, b, blen, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) == 0 &&
              end == b + blen && got >= 5);
        char enc[sodium_base64_ENCODED_LEN(TMS_NOTE_SIG_TEXT_MAX, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(enc, sizeof enc, raw, got, sodium_base64_VARIANT_ORIGINAL);
        CHECK(strlen(enc) == blen && !memcmp(enc, b, blen));   /* canonical: the only encoding of those bytes */
        CHECK(s->id == ((uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3]));
        const tms_note_verifier *k = key_of(ks, nk, s->name, s->id);
        CHECK(s->known == (k != NULL));
        CHECK(s->verified == s->known);   /* the note opened: every known key's signature verified */
        if (s->verified) {
            uint64_t t = 0;
            CHECK(ref_verifies(k, raw, got, n->text, n->text_len, &t));
            CHECK(k->type != TMS_KEY_COSIGNATURE_V1 || s->time == t);
        }
        p += s->line_len;
    }
    CHECK(p == note + len);   /* the lines tile the rest exactly */
    for (size_t k = 0; k < nk; k++) {
        int any = 0;
        for (size_t i = 0; i < n->nsigs; i++)
            any |= n->sigs[i].verified && n->sigs[i].id == ks[k].id && !strcmp(n->sigs[i].name, ks[k].name);
        CHECK(tms_note_verified_by(n, &ks[k]) == any);
    }
    check_checkpoint(n->text, n->text_len);
}

/* Open note[0..len) (copied into a buffer of exactly len bytes: ASan sees any over-read). */
static tms_err open_note(const char *note, size_t len, const tms_note_verifier *ks, size_t nk, int nowhy)
{
    char why[200];
    char *copy = malloc(len ? len : 1);
    CHECK(copy);
    memcpy(copy, note, len);
    tms_err err = tms_note_open(copy, len, nk ? ks : NULL, nk, &note_out, nowhy ? NULL : why, nowhy ? 0 : sizeof why);
    if (err == TMS_OK)
        check_opened(copy, len, ks, nk, &note_out);
    else
        CHECK(err == TMS_E_INVAL);
    free(copy);
    return err;
}

/* A signature line from tms_note_sign_line: "— NAME BASE64\n", and the signature verifies. */
static void check_line(const tms_note_signer *s, const char *text, size_t len, uint64_t stamp, const char *line)
{
    uint8_t raw[TMS_NOTE_SIG_TEXT_MAX];
    size_t ll = strnlen(line, TMS_NOTE_SIG_TEXT_MAX), nlen = strlen(s->v.name), got = 0;
    uint64_t t = 0;
    CHECK(ll < TMS_NOTE_SIG_TEXT_MAX && ll > 4 + nlen + 2 && line[ll - 1] == '\n');
    CHECK(!memcmp(line, SIG_PREFIX, 4) && !memcmp(line + 4, s->v.name, nlen) && line[4 + nlen] == ' ');
    const char *b = line + 4 + nlen + 1;
    CHECK(sodium_base642bin(raw, sizeof raw, b, ll - 1 - (size_t)(b - line), NULL, &got, NULL,
                            sodium_base64_VARIANT_ORIGINAL) == 0);
    CHECK(((uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3]) == s->v.id);
    CHECK(ref_verifies(&s->v, raw, got, text, len, &t));
    CHECK(s->v.type != TMS_KEY_COSIGNATURE_V1 || t == stamp);
}

/* Flip one bit of the signature (or the cosignature's time) in line, re-encoded in place. */
static void corrupt_line(const tms_note_signer *s, char *line, unsigned aux)
{
    uint8_t raw[TMS_NOTE_SIG_TEXT_MAX];
    size_t nlen = strlen(s->v.name), got = 0;
    char *b = line + 4 + nlen + 1;
    CHECK(sodium_base642bin(raw, sizeof raw, b, strlen(b) - 1, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) ==
          0 && got > 4);
    raw[4 + (aux >> 3) % (got - 4)] ^= (uint8_t)(1u << (aux & 7));
    sodium_bin2base64(b, TMS_NOTE_SIG_TEXT_MAX - (size_t)(b - line), raw, got, sodium_base64_VARIANT_ORIGINAL);
    strcat(b, "\n");
}

static void crafted(uint8_t flags, uint8_t aux, const char *r, size_t rlen)
{
    static const uint64_t times[4] = {0, 1679315147, INT64_MAX, (uint64_t)INT64_MAX + 1};
    char lines[2][TMS_NOTE_SIG_TEXT_MAX];
    const tms_note_signer *who[2];
    size_t nl = 0;
    const char *z = memchr(r, '\0', rlen);
    size_t tlen = z ? (size_t)(z - r) : rlen;
    const char *tail = z ? z + 1 : r + rlen;
    size_t taillen = (size_t)(r + rlen - tail);
    int valid = ref_text_ok(r, tlen);
    uint64_t stamp = times[(flags >> 5) & 3];
    if (flags & 1) {
        tms_err err = tms_note_sign_line(&log_signer, r, tlen, 0, lines[nl]);
        CHECK(err == (valid ? TMS_OK : TMS_E_INVAL));
        if (err == TMS_OK) {
            check_line(&log_signer, r, tlen, 0, lines[nl]);
            who[nl++] = &log_signer;
        }
    }
    if (flags & 2) {
        tms_err err = tms_note_sign_line(&wit_signer, r, tlen, stamp, lines[nl]);
        CHECK(err == (valid && stamp <= INT64_MAX ? TMS_OK : TMS_E_INVAL));
        if (err == TMS_OK) {
            check_line(&wit_signer, r, tlen, stamp, lines[nl]);
            who[nl++] = &wit_signer;
        }
    }
    int corrupt = (flags & 8) && nl > 0;
    if (corrupt)
        corrupt_line(who[0], lines[0], aux);
    size_t l0 = nl > 0 ? strlen(lines[0]) : 0, l1 = nl > 1 ? strlen(lines[1]) : 0;
    size_t len = tlen + 1 + l0 + l1 + taillen, at = 0;
    char *note = malloc(len);
    CHECK(note);
    memcpy(note + at, r, tlen);
    at += tlen;
    note[at++] = '\n';
    if (flags & 4) {
        memcpy(note + at, tail, taillen);
        at += taillen;
    }
    memcpy(note + at, lines[0], l0);
    at += l0;
    memcpy(note + at, lines[1], l1);
    at += l1;
    if (!(flags & 4)) {
        memcpy(note + at, tail, taillen);
        at += taillen;
    }
    CHECK(at == len);
    size_t nk = (flags & 0x10) ? 0 : 3;
    tms_err err = open_note(note, len, keys, nk, flags & 0x80);
    if (nl > 0 && taillen == 0 && len <= TMS_NOTE_MAX_BYTES)   /* our own note: it opens unless damaged */
        CHECK(err == ((corrupt && nk) ? TMS_E_INVAL : TMS_OK));
    if (err == TMS_OK && nk) {
        for (size_t i = 0; i < nl; i++) {
            int v = tms_note_verified_by(&note_out, &who[i]->v);
            if (corrupt && i == 0)
                CHECK(!v);
            else if (taillen == 0)
                CHECK(v);
        }
    }
    free(note);
}

/* ---- the same bytes, parsed directly ------------------------------------------------------- */

static void direct(uint8_t flags, const char *r, size_t rlen)
{
    char why[200];
    char *copy = malloc(rlen ? rlen : 1);
    CHECK(copy);
    memcpy(copy, r, rlen);
    size_t trimmed = rlen && r[rlen - 1] == '\n' ? rlen - 1 : rlen;

    CHECK(tms_note_name_ok(copy, rlen) == ref_name_ok(copy, rlen));

    tms_note_verifier v, v2;
    if (tms_note_verifier_parse(copy, rlen, &v, why, sizeof why) == TMS_OK) {
        size_t nlen = strlen(v.name);
        CHECK(ref_name_ok(v.name, nlen));
        CHECK(v.type == TMS_KEY_ED25519 || v.type == TMS_KEY_COSIGNATURE_V1);
        CHECK(ref_key_id(v.name, v.type, v.pk) == v.id);
        char *vk = tms_note_vkey(&v);
        CHECK(vk && strlen(vk) == trimmed);
        CHECK(!memcmp(vk, copy, nlen + 1) && !strncasecmp(vk + nlen + 1, copy + nlen + 1, 8) &&
              !memcmp(vk + nlen + 9, copy + nlen + 9, trimmed - nlen - 9));
        CHECK(tms_note_verifier_parse(vk, strlen(vk), &v2, why, sizeof why) == TMS_OK && !memcmp(&v, &v2, sizeof v));
        free(vk);
    }

    tms_note_signer s;
    if (tms_note_signer_parse(copy, rlen, &s, why, sizeof why) == TMS_OK) {
        static const char text[] = "tmsperm fuzz\n";
        char line[TMS_NOTE_SIG_TEXT_MAX], note[sizeof text + TMS_NOTE_SIG_TEXT_MAX];
        uint8_t pk[32];
        CHECK(crypto_sign_ed25519_sk_to_pk(pk, s.sk) == 0 && !memcmp(pk, s.v.pk, 32));
        CHECK(ref_key_id(s.v.name, s.v.type, s.v.pk) == s.v.id && ref_name_ok(s.v.name, strlen(s.v.name)));
        CHECK(tms_note_sign_line(&s, text, sizeof text - 1, 1234, line) == TMS_OK);
        check_line(&s, text, sizeof text - 1, 1234, line);
        int len = snprintf(note, sizeof note, "%s\n%s", text, line);
        CHECK(open_note(note, (size_t)len, &s.v, 1, 0) == TMS_OK && tms_note_verified_by(&note_out, &s.v));
        tms_note_signer_wipe(&s);
    }

    check_checkpoint(copy, rlen);

    /* base64: n bytes whose padded encoding is rlen characters long when rlen is a multiple of 4 */
    size_t q = rlen / 4, n = 3 * q >= (size_t)(flags % 3) ? 3 * q - (flags % 3) : 0;
    uint8_t *bin = malloc(n ? n : 1);
    CHECK(bin);
    if (tms_b64_decode(copy, rlen, bin, n) == 0) {
        char *enc = malloc(rlen + 1);
        CHECK(enc);
        tms_b64_encode(bin, n, enc);
        CHECK(strlen(enc) == rlen && !memcmp(enc, copy, rlen));   /* canonical: nothing else decodes */
        free(enc);
    }
    free(bin);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        init();
        ready = 1;
    }
    if (size < 2)
        return 0;
    uint8_t flags = data[0], aux = data[1];
    const char *r = (const char *)data + 2;
    size_t rlen = size - 2;
    direct(flags, r, rlen);
    if ((flags & 3) == 0)
        open_note(r, rlen, keys, (flags & 0x10) ? 0 : 3, flags & 0x80);
    else
        crafted(flags, aux, r, rlen);
    return 0;
}
