/* note.c -- keys, signed notes, checkpoints and cosignatures (see note.h).
 * The C2SP texts are the contract; where they leave a choice, Go's
 * golang.org/x/mod/sumdb/note is followed (so its test vectors hold here). */
#include "note.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EM_DASH "\xe2\x80\x94"   /* U+2014, the first character of a signature line */
#define SIG_PREFIX EM_DASH " "
#define SIG_PREFIX_LEN 4

static void say(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
}

void tms_b64_encode(const uint8_t *in, size_t n, char *out)
{
    sodium_bin2base64(out, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), in, n,
                      sodium_base64_VARIANT_ORIGINAL);
}

int tms_b64_chars_ok(const char *s, size_t len)
{
    /* RFC 4648 section 4's alphabet, checked here: libsodium 1.0.18 (Debian 12) reads a byte from 0x80 up as a
       signed char and decodes it as '/', so its decoder alone would give one value many texts */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
              c == '='))
            return 0;
    }
    return 1;
}

int tms_b64_decode(const char *in, size_t len, uint8_t *out, size_t n)
{
    size_t got = 0;
    const char *end = NULL;
    if (len != sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) - 1 || !tms_b64_chars_ok(in, len))
        return -1;   /* exactly the padded length of n bytes: no whitespace, nothing after */
    if (sodium_base642bin(out, n, in, len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 || got != n ||
        end != in + len)
        return -1;
    if (n) {   /* canonical only: the unused bits of the last character are zero, so one value has one text */
        char again[5];
        size_t last = (n - 1) / 3 * 3;   /* the last group of 1 to 3 bytes */
        sodium_bin2base64(again, sizeof again, out + last, n - last, sodium_base64_VARIANT_ORIGINAL);
        if (memcmp(again, in + len - 4, 4))
            return -1;
    }
    return 0;
}

/* One UTF-8 code point at s (len > 0): its value and length, or -1 when malformed (overlong, surrogate,
 * beyond U+10FFFF, cut short). */
static int utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || (size_t)n > len)
        return -1;
    uint32_t c = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return -1;
    *cp = c;
    return n;
}

/* Go's unicode.IsSpace: what a key name must not hold. */
static int is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

int tms_note_name_ok(const char *name, size_t len)
{
    const unsigned char *s = (const unsigned char *)name;
    if (len == 0 || len > TMS_NOTE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int n = utf8_next(s + i, len - i, &c);
        if (n < 0 || c < 0x20 || c == '+' || is_space(c))
            return 0;
        i += (size_t)n;
    }
    return 1;
}

/* A note's bytes: valid UTF-8, no control character but newline, no NUL. */
static int note_bytes_ok(const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int n = utf8_next(s + i, len - i, &c);
        if (n < 0 || (c < 0x20 && c != '\n'))
            return 0;
        i += (size_t)n;
    }
    return 1;
}

static uint32_t key_id(const char *name, uint8_t type, const uint8_t pk[32])
{
    crypto_hash_sha256_state st;
    uint8_t h[32];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)name, strlen(name));
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    crypto_hash_sha256_update(&st, &type, 1);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

static int type_ok(uint8_t type) { return type == TMS_KEY_ED25519 || type == TMS_KEY_COSIGNATURE_V1; }

/* "NAME+KEYID+BASE64(type || 32 bytes)" -> its parts; the 32 bytes are a public key or a seed. */
static tms_err parse_key(const char *s, size_t len, tms_note_verifier *v, uint8_t key[32], char *why, size_t whylen)
{
    uint8_t raw[33];
    char hex[9];
    const char *p1 = memchr(s, '+', len);
    const char *p2 = p1 ? memchr(p1 + 1, '+', len - (size_t)(p1 + 1 - s)) : NULL;
    if (!p2) {
        say(why, whylen, "not NAME+KEYID+KEY");
        return TMS_E_INVAL;
    }
    size_t nlen = (size_t)(p1 - s);
    if (!tms_note_name_ok(s, nlen)) {
        say(why, whylen, "bad key name (empty, too long, not UTF-8, or with a space or '+')");
        return TMS_E_INVAL;
    }
    memcpy(v->name, s, nlen);
    v->name[nlen] = '\0';
    if (p2 - p1 - 1 == 8) {
        memcpy(hex, p1 + 1, 8);
        hex[8] = '\0';
    }
    if (p2 - p1 - 1 != 8 || strspn(hex, "0123456789abcdefABCDEF") != 8) {
        say(why, whylen, "the key ID is not 8 hex digits");
        return TMS_E_INVAL;
    }
    v->id = (uint32_t)strtoul(hex, NULL, 16);
    if (tms_b64_decode(p2 + 1, len - (size_t)(p2 + 1 - s), raw, sizeof raw) != 0) {
        say(why, whylen, "the key is not base64 of a type byte and 32 bytes");
        return TMS_E_INVAL;
    }
    if (!type_ok(raw[0])) {
        say(why, whylen, "unknown key type (0x01 Ed25519 and 0x04 cosignature/v1 are known)");
        return TMS_E_INVAL;
    }
    v->type = raw[0];
    memcpy(key, raw + 1, 32);
    sodium_memzero(raw, sizeof raw);
    return TMS_OK;
}

static size_t trim_newline(const char *s, size_t len)
{
    return len && s[len - 1] == '\n' ? len - 1 : len;
}

tms_err tms_note_verifier_parse(const char *vkey, size_t len, tms_note_verifier *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    len = trim_newline(vkey, len);
    tms_err err = parse_key(vkey, len, out, out->pk, why, whylen);
    if (err)
        return err;
    if (key_id(out->name, out->type, out->pk) != out->id) {
        say(why, whylen, "the key ID does not match the key");
        return TMS_E_INVAL;
    }
    return TMS_OK;
}

tms_err tms_note_signer_parse(const char *skey, size_t len, tms_note_signer *out, char *why, size_t whylen)
{
    static const char prefix[] = "PRIVATE+KEY+";
    uint8_t seed[32];
    memset(out, 0, sizeof *out);
    len = trim_newline(skey, len);
    if (len < sizeof prefix - 1 || memcmp(skey, prefix, sizeof prefix - 1) != 0) {
        say(why, whylen, "not a private key (PRIVATE+KEY+NAME+KEYID+KEY)");
        return TMS_E_INVAL;
    }
    tms_err err = parse_key(skey + sizeof prefix - 1, len - (sizeof prefix - 1), &out->v, seed, why, whylen);
    if (err == TMS_OK) {
        crypto_sign_seed_keypair(out->v.pk, out->sk, seed);
        if (key_id(out->v.name, out->v.type, out->v.pk) != out->v.id) {
            say(why, whylen, "the key ID does not match the key");
            err = TMS_E_INVAL;
        }
    }
    sodium_memzero(seed, sizeof seed);
    if (err)
        tms_note_signer_wipe(out);
    return err;
}

void tms_note_signer_wipe(tms_note_signer *s)
{
    sodium_memzero(s, sizeof *s);
}

/* "NAME+KEYID+BASE64(type || key)" with an optional prefix, malloc'd. */
static char *format_key(const char *prefix, const char *name, uint32_t id, uint8_t type, const uint8_t key[32])
{
    uint8_t raw[33];
    char b64[sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL)];
    raw[0] = type;
    memcpy(raw + 1, key, 32);
    tms_b64_encode(raw, sizeof raw, b64);
    sodium_memzero(raw, sizeof raw);
    size_t n = strlen(prefix) + strlen(name) + 10 + strlen(b64) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s+%08x+%s", prefix, name, id, b64);
    sodium_memzero(b64, sizeof b64);
    return out;
}

char *tms_note_vkey(const tms_note_verifier *v)
{
    return format_key("", v->name, v->id, v->type, v->pk);
}

tms_err tms_note_keygen(const char *name, uint8_t type, char **skey, char **vkey)
{
    uint8_t seed[32], pk[32], sk[64];
    *skey = *vkey = NULL;
    if (!tms_note_name_ok(name, strlen(name)) || !type_ok(type))
        return TMS_E_INVAL;
    randombytes_buf(seed, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    uint32_t id = key_id(name, type, pk);
    *skey = format_key("PRIVATE+KEY+", name, id, type, seed);
    *vkey = format_key("", name, id, type, pk);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    if (*skey && *vkey)
        return TMS_OK;
    free(*skey);
    free(*vkey);
    *skey = *vkey = NULL;
    return TMS_E_NOMEM;
}

/* A note text: non-empty, valid, ends in one newline. */
static int text_ok(const char *text, size_t len)
{
    return len > 0 && len <= TMS_NOTE_MAX_BYTES && text[len - 1] == '\n' && note_bytes_ok(text, len);
}

/* Ed25519 over "cosignature/v1\ntime T\n" || text, or over text (type 0x01). */
static int cosig_message(uint64_t time, const char *text, size_t len, unsigned char **msg, size_t *mlen)
{
    char head[64];
    int h = snprintf(head, sizeof head, "cosignature/v1\ntime %llu\n", (unsigned long long)time);
    *msg = malloc((size_t)h + len);
    if (!*msg)
        return -1;
    memcpy(*msg, head, (size_t)h);
    memcpy(*msg + h, text, len);
    *mlen = (size_t)h + len;
    return 0;
}

tms_err tms_note_sign_line(const tms_note_signer *s, const char *text, size_t len, uint64_t time,
                           char line[TMS_NOTE_SIG_TEXT_MAX])
{
    uint8_t sig[4 + 8 + 64];
    size_t n = 4;
    char b64[sodium_base64_ENCODED_LEN(sizeof sig, sodium_base64_VARIANT_ORIGINAL)];
    if (!text_ok(text, len) || time > INT64_MAX)
        return TMS_E_INVAL;
    for (int i = 0; i < 4; i++)
        sig[i] = (uint8_t)(s->v.id >> (24 - 8 * i));
    if (s->v.type == TMS_KEY_COSIGNATURE_V1) {
        unsigned char *msg;
        size_t mlen;
        for (int i = 0; i < 8; i++)
            sig[4 + i] = (uint8_t)(time >> (56 - 8 * i));
        if (cosig_message(time, text, len, &msg, &mlen) != 0)
            return TMS_E_NOMEM;
        crypto_sign_detached(sig + 12, NULL, msg, mlen, s->sk);
        free(msg);
        n = 4 + 8 + 64;
    } else {
        crypto_sign_detached(sig + 4, NULL, (const unsigned char *)text, len, s->sk);
        n = 4 + 64;
    }
    tms_b64_encode(sig, n, b64);
    snprintf(line, TMS_NOTE_SIG_TEXT_MAX, SIG_PREFIX "%s %s\n", s->v.name, b64);
    return TMS_OK;
}

/* Check one signature (raw: key ID, then the signature) by a known key k. */
static int sig_verifies(const tms_note_verifier *k, const uint8_t *raw, size_t rawlen, const char *text, size_t len,
                        uint64_t *time)
{
    if (k->type == TMS_KEY_ED25519)
        return rawlen == 4 + 64 &&
               crypto_sign_verify_detached(raw + 4, (const unsigned char *)text, len, k->pk) == 0;
    if (rawlen != 4 + 8 + 64)
        return 0;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | raw[4 + i];
    if (t > INT64_MAX)
        return 0;
    unsigned char *msg;
    size_t mlen;
    if (cosig_message(t, text, len, &msg, &mlen) != 0)
        return 0;
    int ok = crypto_sign_verify_detached(raw + 12, msg, mlen, k->pk) == 0;
    free(msg);
    *time = t;
    return ok;
}

/* One signature line [p, p + n) without its newline, into sig (raw bytes in raw, their length in *rawlen). */
static tms_err parse_sig_line(const char *p, size_t n, tms_note_sig *sig, uint8_t *raw, size_t *rawlen)
{
    if (n < SIG_PREFIX_LEN || memcmp(p, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
        return TMS_E_INVAL;
    p += SIG_PREFIX_LEN;
    n -= SIG_PREFIX_LEN;
    const char *sp = memchr(p, ' ', n);
    if (!sp || !tms_note_name_ok(p, (size_t)(sp - p)))
        return TMS_E_INVAL;
    memcpy(sig->name, p, (size_t)(sp - p));
    sig->name[sp - p] = '\0';
    const char *b = sp + 1;
    size_t blen = n - (size_t)(b - p), got = 0;
    const char *end = NULL;
    if (blen == 0 || blen > 4 * ((TMS_NOTE_SIG_TEXT_MAX + 2) / 3) || !tms_b64_chars_ok(b, blen) ||
        sodium_base642bin(raw, TMS_NOTE_SIG_TEXT_MAX, b, blen, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b + blen || got < 5)
        return TMS_E_INVAL;
    sig->id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
    *rawlen = got;
    return TMS_OK;
}

/* The last "\n\n" of note[0..len): where the text ends (its final newline included). */
static const char *find_split(const char *note, size_t len)
{
    for (size_t i = len - 1; i-- > 0;)
        if (note[i] == '\n' && note[i + 1] == '\n')
            return note + i;
    return NULL;
}

tms_err tms_note_open(const char *note, size_t len, const tms_note_verifier *keys, size_t nkeys, tms_note *n,
                      char *why, size_t whylen)
{
    uint8_t raw[TMS_NOTE_SIG_TEXT_MAX];
    memset(n, 0, sizeof *n);
    if (len < 2 || len > TMS_NOTE_MAX_BYTES || memchr(note, '\0', len) || !note_bytes_ok(note, len) ||
        note[len - 1] != '\n') {
        say(why, whylen, "malformed note: not UTF-8 text ending in a newline, or a control character");
        return TMS_E_INVAL;
    }
    const char *split = find_split(note, len);
    if (!split || split + 2 == note + len) {
        say(why, whylen, "malformed note: no blank line followed by signatures");
        return TMS_E_INVAL;
    }
    n->text = note;
    n->text_len = (size_t)(split + 1 - note);
    for (const char *p = split + 2, *end = note + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));   /* there is one: the note ends in "\n" */
        tms_note_sig *sig = &n->sigs[n->nsigs];
        size_t rawlen = 0;
        if (n->nsigs == TMS_NOTE_MAX_SIGS) {
            say(why, whylen, "malformed note: too many signatures");
            return TMS_E_INVAL;
        }
        if (parse_sig_line(p, (size_t)(nl - p), sig, raw, &rawlen) != TMS_OK) {
            say(why, whylen, "malformed note: a signature line is not \"\xe2\x80\x94 NAME BASE64\"");
            return TMS_E_INVAL;
        }
        sig->line = p;
        sig->line_len = (size_t)(nl + 1 - p);
        for (size_t k = 0; k < nkeys && !sig->known; k++) {
            if (keys[k].id != sig->id || strcmp(keys[k].name, sig->name) != 0)
                continue;
            sig->known = 1;
            if (!sig_verifies(&keys[k], raw, rawlen, n->text, n->text_len, &sig->time)) {
                if (why && whylen)
                    snprintf(why, whylen, "bad signature by %s", sig->name);
                return TMS_E_INVAL;
            }
            sig->verified = 1;
        }
        n->nsigs++;
        p = nl + 1;
    }
    return TMS_OK;
}

int tms_note_verified_by(const tms_note *n, const tms_note_verifier *k)
{
    for (size_t i = 0; i < n->nsigs; i++)
        if (n->sigs[i].verified && n->sigs[i].id == k->id && !strcmp(n->sigs[i].name, k->name))
            return 1;
    return 0;
}

size_t tms_checkpoint_format(const char *origin, uint64_t size, const tms_tlog_hash root, char *out, size_t cap)
{
    char b64[sodium_base64_ENCODED_LEN(TMS_TLOG_HASH, sodium_base64_VARIANT_ORIGINAL)];
    size_t olen = strlen(origin);
    if (olen == 0 || olen > TMS_NOTE_NAME_MAX || !note_bytes_ok(origin, olen) || memchr(origin, '\n', olen))
        return 0;
    tms_b64_encode(root, TMS_TLOG_HASH, b64);
    int n = snprintf(out, cap, "%s\n%llu\n%s\n", origin, (unsigned long long)size, b64);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

tms_err tms_checkpoint_parse(const char *text, size_t len, tms_checkpoint *out, char *why, size_t whylen)
{
    const char *lines[3], *p = text, *end = text + len;
    size_t lens[3];
    memset(out, 0, sizeof *out);
    if (len == 0 || text[len - 1] != '\n' || !note_bytes_ok(text, len)) {
        say(why, whylen, "malformed checkpoint: not text ending in a newline");
        return TMS_E_INVAL;
    }
    for (int i = 0; i < 3; i++) {
        const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (!nl || nl == p) {
            say(why, whylen, "malformed checkpoint: fewer than three non-empty lines");
            return TMS_E_INVAL;
        }
        lines[i] = p;
        lens[i] = (size_t)(nl - p);
        p = nl + 1;
    }
    for (const char *q = p; q < end; q++)   /* extension lines: opaque, but none may be empty */
        if (*q == '\n' && (q == p || q[-1] == '\n')) {
            say(why, whylen, "malformed checkpoint: an empty extension line");
            return TMS_E_INVAL;
        }
    if (lens[0] > TMS_NOTE_NAME_MAX) {
        say(why, whylen, "malformed checkpoint: origin too long");
        return TMS_E_INVAL;
    }
    memcpy(out->origin, lines[0], lens[0]);
    out->origin[lens[0]] = '\0';
    if (lens[1] > 19 || strspn(lines[1], "0123456789") < lens[1] || (lens[1] > 1 && lines[1][0] == '0')) {
        say(why, whylen, "malformed checkpoint: the size is not a decimal without leading zeros (< 2^63)");
        return TMS_E_INVAL;
    }
    for (size_t i = 0; i < lens[1]; i++)
        out->size = out->size * 10 + (uint64_t)(lines[1][i] - '0');
    if (out->size > INT64_MAX) {
        say(why, whylen, "malformed checkpoint: size beyond 2^63 - 1");
        return TMS_E_INVAL;
    }
    if (tms_b64_decode(lines[2], lens[2], out->root, TMS_TLOG_HASH) != 0) {
        say(why, whylen, "malformed checkpoint: the root is not base64 of 32 bytes");
        return TMS_E_INVAL;
    }
    return TMS_OK;
}

tms_err tms_checkpoint_open(const char *note, size_t len, const tms_note_verifier *key, tms_checkpoint *cp, char *why,
                            size_t whylen)
{
    tms_note *n = malloc(sizeof *n);   /* 64 signature slots: not on a worker's stack */
    tms_err err = TMS_E_NOMEM;
    memset(cp, 0, sizeof *cp);
    if (key && key->type != TMS_KEY_ED25519) {   /* a cosigner's key vouches for consistency, not for content */
        free(n);
        if (why && whylen)
            snprintf(why, whylen, "%s is a witness's key (type 0x04), not a log's", key->name);
        return TMS_E_INVAL;
    }
    if (!n)
        return err;
    if ((err = tms_note_open(note, len, key, key ? 1 : 0, n, why, whylen)))
        goto out;
    err = TMS_E_INVAL;
    if (key && !tms_note_verified_by(n, key)) {
        if (why && whylen)
            snprintf(why, whylen, "not signed by %s", key->name);
    } else if (tms_checkpoint_parse(n->text, n->text_len, cp, why, whylen) == TMS_OK) {
        if (key && strcmp(cp->origin, key->name)) {
            if (why && whylen)
                snprintf(why, whylen, "its origin %.100s is not the key's name %.100s", cp->origin, key->name);
        } else {
            err = TMS_OK;
        }
    }
out:
    free(n);
    return err;
}
