/* fuzz_witness.c -- libFuzzer target: the C2SP tlog-witness request body
 * (POST /add-checkpoint) that tms-audit witness --listen reads from anyone
 * (tools/tool_witness.h: tool_witness_parse_body), then the checkpoint note
 * in it (tms_checkpoint_open, engine/tlog/note.h).
 *
 * Input: data[0] == 'o': the whole input is the body ("old N\n", up to 63
 * base64 proof lines, "\n", the note). Else a body is made here from valid
 * pieces: data[0] = flags, data[1], data[2] choose the sizes, the rest R:
 *   the tree: N = 1 + data[1] % 70 leaves (leaf i: SHA-256(0x00 || "leaf i"),
 *   leaf 0 with R after it); old m = 1 + data[2] % N, the RFC 9162
 *   consistency proof from m to N (computed naively here and checked with
 *   tms_tlog_check_consistency), the checkpoint of N signed here by the fixed
 *   log key (fuzz_trust.h); flags:
 *     bit 0  a witness's cosignature line after the log's
 *     bit 1  R (up to a NUL or newline) as an extension line, if the
 *            checkpoint stays valid with it
 *     bit 2  another origin than the key's name: opens with no key only
 *     bit 3  the log's signature damaged: never opens with the key
 *     bit 4  more proof lines, up to data[2] % 72 in all: past 63 the body
 *            must be refused
 *     bit 5  old 0 and no proof (a first checkpoint)
 *   The body must parse back to exactly these pieces, and its note open
 *   (with the key unless bits 2-3) to that checkpoint, never with the
 *   witness's key (a cosigner's key is not a log's).
 * On success (any body): *note points into the input and runs to its end,
 * n <= 63, and "old N\n", each proof hash base64'd with a newline, "\n" then
 * the note are the body again, byte for byte (so every proof line decoded
 * to 32 bytes). A reference parser written here from the protocol's text
 * agrees with the verdict both ways (below an old size of 2^63). The note
 * part then goes to tms_checkpoint_open with no key and the log key, with
 * fuzz_trust.h's invariants (libsodium's own verdict on the signature, the
 * origin the key's name). Any violation aborts. */
#define FUZZ_NAME "fuzz_witness.c"
#include "fuzz_trust.h"
#include "tool_witness.h"

#define MAXN 70

static tms_note_signer log_signer, wit_signer;
static tms_note_verifier log_key, wit_key;
static tms_tlog_hash leaves[MAXN];

static void init(void)
{
    char why[200];
    tms_note_verifier v;
    CHECK(sodium_init() >= 0);
    make_key(LOG_KEY_NAME, TMS_KEY_ED25519, LOG_KEY_LABEL, &log_signer, &log_key);
    make_key(WIT_KEY_NAME, TMS_KEY_COSIGNATURE_V1, WIT_KEY_LABEL, &wit_signer, &wit_key);
    CHECK(tms_note_verifier_parse(LOG_VKEY, strlen(LOG_VKEY), &v, why, sizeof why) == TMS_OK &&
          !memcmp(&v, &log_key, sizeof v));
    for (int i = 1; i < MAXN; i++) {
        char l[32];
        int n = snprintf(l, sizeof l, "leaf %d", i);
        ref_leaf(l, (size_t)n, leaves[i]);
    }
}

/* ---- the reference --------------------------------------------------------------------------- */

/* tlog-witness's add-checkpoint body: 1 (accept), 0 (refuse), or -1 (an old size beyond 2^63 - 1: not
 * compared, where refusing early is the parser's choice). */
static int ref_body(const char *b, size_t len, uint64_t *old, tms_tlog_hash *proof, size_t *n, size_t *note_at)
{
    const char *nl = memchr(b, '\n', len);
    size_t i = 4, e;
    uint64_t v = 0;
    int big = 0;
    if (!nl || len < 4 || memcmp(b, "old ", 4))
        return 0;
    e = (size_t)(nl - b);
    if (e == 4 || (b[4] == '0' && e > 5))   /* no digits, a leading zero */
        return 0;
    for (; i < e; i++) {
        if (b[i] < '0' || b[i] > '9')
            return 0;
        if (v > (uint64_t)INT64_MAX / 10 || v * 10 + (uint64_t)(b[i] - '0') > (uint64_t)INT64_MAX)
            big = 1;
        v = v * 10 + (uint64_t)(b[i] - '0');
    }
    *old = v;
    *n = 0;
    size_t p = e + 1;
    while (p < len && b[p] != '\n') {
        const char *q = memchr(b + p, '\n', len - p);
        if (!q)
            return big ? -1 : 0;
        size_t qe = (size_t)(q - b);
        if (*n == WITNESS_MAX_PROOF || ref_b64_decode(b + p, qe - p, proof[*n], 32) != 32)
            return big ? -1 : 0;
        (*n)++;
        p = qe + 1;
    }
    if (p >= len)
        return big ? -1 : 0;
    *note_at = p + 1;
    return big ? -1 : 1;
}

/* ---- the parser -------------------------------------------------------------------------------- */

typedef struct body {
    uint64_t old;
    tms_tlog_hash *proof;   /* WITNESS_MAX_PROOF of them, a block of exactly that */
    size_t n;
    const char *note;
    size_t notelen;
} body;

/* Parse b[0..len) (a copy of exactly len bytes, kept in *copy for the note's pointer): 0 or -1, checked. */
static int parse(const char *b, size_t len, body *out, char **copy)
{
    char why[300];
    tms_tlog_hash rproof[WITNESS_MAX_PROOF];
    uint64_t rold = 0;
    size_t rn = 0, rat = 0;
    *copy = malloc(len ? len : 1);
    CHECK(*copy);
    memcpy(*copy, b, len);
    memset(out, 0, sizeof *out);
    out->proof = malloc(WITNESS_MAX_PROOF * sizeof *out->proof);
    CHECK(out->proof);
    why[0] = '\0';
    int rc = tool_witness_parse_body(*copy, len, &out->old, out->proof, &out->n, &out->note, &out->notelen, why,
                                     sizeof why);
    int ref = ref_body(b, len, &rold, rproof, &rn, &rat);
    CHECK(rc == 0 || rc == -1);
    if (ref >= 0)
        CHECK((rc == 0) == (ref == 1));
    if (rc != 0) {
        CHECK(why[0] && memchr(why, '\0', sizeof why));
        return rc;
    }
    /* the note: in the input, to its end */
    CHECK(out->n <= WITNESS_MAX_PROOF);
    CHECK(out->note >= *copy && out->note <= *copy + len && out->notelen == (size_t)(*copy + len - out->note));
    /* the body again, from what was parsed: every proof line was the one encoding of a 32-byte hash */
    size_t head = (size_t)(out->note - *copy), at = 0;
    char *again = malloc(head + 1 + 32);
    CHECK(again);
    int w = snprintf(again, 32, "old %" PRIu64 "\n", out->old);
    CHECK(w > 0 && (size_t)w <= head);
    at = (size_t)w;
    for (size_t i = 0; i < out->n; i++) {
        char *h = ref_b64_encode(out->proof[i], 32);
        CHECK(strlen(h) == 44 && at + 45 <= head);
        memcpy(again + at, h, 44);
        again[at + 44] = '\n';
        at += 45;
        free(h);
    }
    CHECK(at + 1 == head);
    again[at++] = '\n';
    CHECK(!memcmp(again, *copy, head));
    free(again);
    if (ref == 1)
        CHECK(rold == out->old && rn == out->n && rat == head && !memcmp(rproof, out->proof, rn * sizeof *rproof));
    return 0;
}

static void raw(const char *b, size_t len)
{
    body got;
    char *copy;
    if (parse(b, len, &got, &copy) == 0)
        open_checkpoint(got.note, got.notelen, &log_key, 0, NULL);
    free(got.proof);
    free(copy);
}

/* ---- a body made here ------------------------------------------------------------------------ */

static void crafted(uint8_t flags, uint8_t sn, uint8_t sm, const char *r, size_t rlen)
{
    tms_tlog_hash *lv = malloc(MAXN * sizeof *lv), proof[80], root, old_root;
    char text[2 * TMS_NOTE_NAME_MAX + 200], lines[2][TMS_NOTE_SIG_TEXT_MAX];
    CHECK(lv);
    memcpy(lv, leaves, sizeof leaves);
    crypto_hash_sha256_state st;   /* leaf 0: "leaf 0" || R */
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)"\x00leaf 0", 7);
    crypto_hash_sha256_update(&st, (const unsigned char *)r, rlen);
    crypto_hash_sha256_final(&st, lv[0]);

    size_t N = 1 + sn % MAXN, m = (flags & 0x20) ? 0 : 1 + sm % N, n = 0;
    ref_mth(lv, N, root);
    if (m) {
        ref_mth(lv, m, old_root);
        ref_subproof(m, lv, N, 1, proof, &n);
        CHECK(n <= TMS_TLOG_MAX_PROOF && tms_tlog_check_consistency(m, N, old_root, root, proof, n) == 1);
    }
    size_t real = n;
    if (flags & 0x10)
        for (; n < (size_t)(sm % 72); n++)
            crypto_hash_sha256(proof[n], (const unsigned char *)&n, sizeof n);

    const char *origin = (flags & 4) ? "example.com/other" : LOG_KEY_NAME;
    size_t tlen = tms_checkpoint_format(origin, N, root, text, sizeof text);
    CHECK(tlen > 0);
    if (flags & 2) {   /* an extension line: R up to a NUL or newline, if the checkpoint stays valid */
        size_t e = 0;
        while (e < rlen && e < TMS_NOTE_NAME_MAX && r[e] && r[e] != '\n')
            e++;
        tms_checkpoint cp;
        memcpy(text + tlen, r, e);
        text[tlen + e] = '\n';
        if (e > 0 && tms_checkpoint_parse(text, tlen + e + 1, &cp, NULL, 0) == TMS_OK)
            tlen += e + 1;
    }
    CHECK(tms_note_sign_line(&log_signer, text, tlen, 0, lines[0]) == TMS_OK);
    if (flags & 8) {   /* one bit of the signature flipped */
        uint8_t sig[TMS_NOTE_SIG_TEXT_MAX];
        char *b = lines[0] + 4 + strlen(LOG_KEY_NAME) + 1;
        CHECK(ref_b64_decode(b, strlen(b) - 1, sig, sizeof sig) == 68);
        sig[4 + sm % 64] ^= (uint8_t)(1u << (sn & 7));
        char *enc = ref_b64_encode(sig, 68);
        snprintf(b, TMS_NOTE_SIG_TEXT_MAX - (size_t)(b - lines[0]), "%s\n", enc);
        free(enc);
    }
    lines[1][0] = '\0';
    if (flags & 1)
        CHECK(tms_note_sign_line(&wit_signer, text, tlen, 1679315147, lines[1]) == TMS_OK);

    /* "old m\n" proof lines "\n" note */
    size_t cap = 32 + n * 45 + 1 + tlen + 1 + 2 * TMS_NOTE_SIG_TEXT_MAX, at;
    char *b = malloc(cap);
    CHECK(b);
    at = (size_t)snprintf(b, cap, "old %zu\n", m);
    for (size_t i = 0; i < n; i++) {
        char *h = ref_b64_encode(proof[i], 32);
        at += (size_t)snprintf(b + at, cap - at, "%s\n", h);
        free(h);
    }
    b[at++] = '\n';
    size_t note_at = at;
    memcpy(b + at, text, tlen);
    at += tlen;
    b[at++] = '\n';
    at += (size_t)snprintf(b + at, cap - at, "%s%s", lines[0], lines[1]);
    CHECK(at < cap);

    body got;
    char *copy;
    int rc = parse(b, at, &got, &copy);
    CHECK(rc == (n > WITNESS_MAX_PROOF ? -1 : 0));
    if (rc == 0) {
        CHECK(got.old == m && got.n == n && !memcmp(got.proof, proof, n * sizeof *proof));
        CHECK(got.note == copy + note_at && got.notelen == at - note_at);
        tms_checkpoint cp;
        tms_err err = open_checkpoint(got.note, got.notelen, &log_key, 0, &cp);
        CHECK((err == TMS_OK) == !(flags & (4 | 8)));
        tms_checkpoint wc;   /* a witness's key never stands for the log's, whatever it cosigned */
        CHECK(tms_checkpoint_open(got.note, got.notelen, &wit_key, &wc, NULL, 0) == TMS_E_INVAL);
        if (err == TMS_OK) {
            CHECK(cp.size == N && !memcmp(cp.root, root, 32) && !strcmp(cp.origin, LOG_KEY_NAME));
            if (m)   /* the proof in the body proves the checkpoint extends the old tree */
                CHECK(tms_tlog_check_consistency(m, cp.size, old_root, cp.root, (const tms_tlog_hash *)got.proof,
                                                 real) == 1);
        }
    }
    free(got.proof);
    free(copy);
    free(b);
    free(lv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        init();
        ready = 1;
    }
    if (size >= 1 && data[0] == 'o')
        raw((const char *)data, size);
    else if (size >= 3)
        crafted(data[0], data[1], data[2], (const char *)data + 3, size - 3);
    return 0;
}
