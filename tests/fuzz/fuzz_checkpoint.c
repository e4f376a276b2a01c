/* fuzz_checkpoint.c -- libFuzzer target: tms_checkpoint_open (engine/tlog/note.h)
 * of untrusted notes, as the replica (engine/server/daemon_replica.c
 * check_note: a Tms-Checkpoint header, base64, decoded to the note) and
 * tms-audit verify / verify-proof (a note read from a file) use it.
 *
 * Input: data[0] = mode, the rest R.
 *   mode & 3 == 0    R is the note.
 *   mode & 3 == 1    R is the header's base64 text, decoded as check_note
 *                    does it (tms_b64_chars_ok, then sodium_base642bin into
 *                    a block of TMS_NOTE_MAX_BYTES, all of R consumed); what
 *                    decodes must be R's one encoding (re-encoded here: R
 *                    again), and is the note.
 *   mode & 3 == 2    R = TEXT [NUL TAIL]: the note is TEXT "\n", the log
 *                    key's signature line over TEXT made here, then TAIL
 *                    (bit 2: TAIL before the line).
 *   mode & 3 == 3    R = 8 bytes of size (little endian), the rest hashed
 *                    for a root: the checkpoint text of (the key's name, or
 *                    with bit 2 another origin; size; root), signed here.
 *   bit 3            (modes 2, 3) flip one bit of the signature (bits 4-6
 *                    say which of its first bytes): it must never verify.
 *   bit 7            no `why` buffer.
 * Each note goes to tms_checkpoint_open with no key and with the fixed log
 * key (fuzz_trust.h: fuzz_note's, its vkey cross-checked with the one
 * fuzz_seeds.py computes in Python, which signs seeds with it). TMS_OK with
 * the key implies: TMS_OK without it and the same checkpoint, the origin is
 * the key's name, and libsodium itself (crypto_sign_verify_detached of the
 * text, split at the last blank line as Go does) finds the key's signature;
 * a note that opens without the key opens with it exactly then. An opened
 * checkpoint is its text's and formats back to its first three lines. A note
 * signed here with nothing after the line opens with the key (when its text
 * is a checkpoint of the key's origin), a damaged one never does. Any
 * violation aborts. */
#define FUZZ_NAME "fuzz_checkpoint.c"
#include "fuzz_trust.h"

static tms_note_signer log_signer;
static tms_note_verifier log_key;

static void init(void)
{
    char why[200];
    tms_note_verifier v;
    CHECK(sodium_init() >= 0);
    make_key(LOG_KEY_NAME, TMS_KEY_ED25519, LOG_KEY_LABEL, &log_signer, &log_key);
    CHECK(tms_note_verifier_parse(LOG_VKEY, strlen(LOG_VKEY), &v, why, sizeof why) == TMS_OK &&
          !memcmp(&v, &log_key, sizeof v));
}

/* The replica's Tms-Checkpoint header (b64[0..len), no NUL: a header line) to the note, as check_note. */
static void header(const char *b64, size_t len, int nowhy)
{
    const char *end = NULL;
    size_t got = 0;
    char *text = malloc(len + 1);
    unsigned char *buf = malloc(TMS_NOTE_MAX_BYTES);
    CHECK(text && buf);
    memcpy(text, b64, len);
    text[len] = '\0';
    if (memchr(text, '\0', len) || !tms_b64_chars_ok(text, len) ||
        sodium_base642bin(buf, TMS_NOTE_MAX_BYTES, text, len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) ||
        end != text + len) {
        free(text);
        free(buf);
        return;
    }
    char *again = ref_b64_encode(buf, got);   /* one note, one header: nothing else decodes to these bytes */
    CHECK(strlen(again) == len && !memcmp(again, text, len));
    free(again);
    open_checkpoint((const char *)buf, got, &log_key, nowhy, NULL);
    free(text);
    free(buf);
}

/* Flip bit (sel & 7) of signature byte (sel >> 3) of line (one "— NAME BASE64\n" by log_signer), in place. */
static void damage(char *line, unsigned sel)
{
    uint8_t raw[TMS_NOTE_SIG_TEXT_MAX];
    char *b = line + 4 + strlen(LOG_KEY_NAME) + 1;
    long got = ref_b64_decode(b, strlen(b) - 1, raw, sizeof raw);
    CHECK(got == 68);
    raw[4 + (sel >> 3)] ^= (uint8_t)(1u << (sel & 7));
    char *enc = ref_b64_encode(raw, (size_t)got);
    snprintf(b, TMS_NOTE_SIG_TEXT_MAX - (size_t)(b - line), "%s\n", enc);
    free(enc);
}

/* TEXT "\n" line TAIL (or TEXT "\n" TAIL line): the verdict with the key. */
static tms_err signed_note(const char *text, size_t tlen, const char *tail, size_t taillen, uint8_t mode,
                           tms_checkpoint *cp)
{
    char line[TMS_NOTE_SIG_TEXT_MAX];
    if (tms_note_sign_line(&log_signer, text, tlen, 0, line) != TMS_OK)
        return TMS_E_INVAL;
    if (mode & 8)
        damage(line, (unsigned)(mode >> 4 & 7) * 9);
    size_t ll = strlen(line), len = tlen + 1 + ll + taillen;
    char *note = malloc(len);
    CHECK(note);
    memcpy(note, text, tlen);
    note[tlen] = '\n';
    if (mode & 4) {
        memcpy(note + tlen + 1, tail, taillen);
        memcpy(note + tlen + 1 + taillen, line, ll);
    } else {
        memcpy(note + tlen + 1, line, ll);
        memcpy(note + tlen + 1 + ll, tail, taillen);
    }
    tms_err err = open_checkpoint(note, len, &log_key, mode & 0x80, cp);
    if (mode & 8)
        CHECK(err != TMS_OK);
    free(note);
    return err;
}

static void crafted_text(const char *r, size_t rlen, uint8_t mode)
{
    const char *z = memchr(r, '\0', rlen);
    size_t tlen = z ? (size_t)(z - r) : rlen;
    const char *tail = z ? z + 1 : r + rlen;
    size_t taillen = (size_t)(r + rlen - tail);
    tms_checkpoint cp, want;
    tms_err err = signed_note(r, tlen, tail, taillen, mode, &cp);
    if (!(mode & 8) && taillen == 0 && tlen + 1 + TMS_NOTE_SIG_TEXT_MAX <= TMS_NOTE_MAX_BYTES &&
        tms_checkpoint_parse(r, tlen, &want, NULL, 0) == TMS_OK && !strcmp(want.origin, LOG_KEY_NAME)) {
        CHECK(err == TMS_OK && !memcmp(&cp, &want, sizeof cp));   /* our own note of our own origin opens */
    }
}

static void crafted_checkpoint(const uint8_t *r, size_t rlen, uint8_t mode)
{
    uint8_t b[8] = {0};
    tms_tlog_hash root;
    char text[TMS_NOTE_NAME_MAX + 100];
    memcpy(b, r, rlen < 8 ? rlen : 8);
    uint64_t size = 0;
    for (int i = 7; i >= 0; i--)
        size = size << 8 | b[i];
    crypto_hash_sha256(root, rlen > 8 ? r + 8 : r, rlen > 8 ? rlen - 8 : 0);
    const char *origin = (mode & 4) ? "example.com/other" : LOG_KEY_NAME;
    size_t tlen = tms_checkpoint_format(origin, size, root, text, sizeof text);
    CHECK(tlen > 0);
    tms_checkpoint cp;
    tms_err err = signed_note(text, tlen, "", 0, mode & ~4, &cp);
    int good = !(mode & 8) && !(mode & 4) && size <= INT64_MAX;
    CHECK((err == TMS_OK) == good);
    if (good)
        CHECK(cp.size == size && !memcmp(cp.root, root, 32) && !strcmp(cp.origin, LOG_KEY_NAME));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        init();
        ready = 1;
    }
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const char *r = (const char *)data + 1;
    size_t rlen = size - 1;
    switch (mode & 3) {
    case 0:
        open_checkpoint(r, rlen, &log_key, mode & 0x80, NULL);
        break;
    case 1:
        header(r, rlen, mode & 0x80);
        break;
    case 2:
        crafted_text(r, rlen, mode);
        break;
    default:
        crafted_checkpoint(data + 1, rlen, mode);
        break;
    }
    return 0;
}
