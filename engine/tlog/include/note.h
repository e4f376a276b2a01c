/* note.h -- keys, C2SP signed notes, tlog checkpoints and tlog-cosignature/v1
 * cosignatures, Ed25519 (libsodium). Byte for byte what Go's
 * golang.org/x/mod/sumdb/note writes and reads, and what the C2SP texts
 * signed-note, tlog-checkpoint and tlog-cosignature (v1) say.
 *
 *   verifier key (vkey)  NAME+KEYID+BASE64(type || 32-byte public key)
 *   private key          PRIVATE+KEY+NAME+KEYID+BASE64(type || 32-byte seed)
 *   KEYID                8 hex digits of SHA-256(NAME || 0x0A || type || public key)[:4]
 *   note                 TEXT (ends in "\n") "\n" then lines "— NAME BASE64(keyid4 || sig)\n"
 *   type 0x01            Ed25519 over TEXT (a log's key)
 *   type 0x04            tlog-cosignature/v1: sig = be64(time) || Ed25519 over
 *                        "cosignature/v1\ntime T\n" || TEXT (a witness's key)
 *   checkpoint TEXT      ORIGIN "\n" SIZE "\n" BASE64(root) "\n" [extension lines "\n"]
 *
 * Nothing here allocates but the functions that say they do; strings they
 * return are malloc'd and the caller frees them. Every parser takes
 * untrusted bytes with their length (no NUL needed, a NUL is refused). */
#ifndef TMS_NOTE_H
#define TMS_NOTE_H

#include <stddef.h>
#include <stdint.h>
#include "tlog.h"

#define TMS_NOTE_NAME_MAX 255            /* a key name's bytes */
#define TMS_NOTE_MAX_BYTES 65536          /* a whole note: a bound on hostile input */
#define TMS_NOTE_MAX_SIGS 64              /* signature lines kept (C2SP: at least 16 must be accepted) */
#define TMS_NOTE_SIG_TEXT_MAX 400         /* one "— name base64\n" line, with room */

enum { TMS_KEY_ED25519 = 0x01, TMS_KEY_COSIGNATURE_V1 = 0x04 };

/* A verifier key: what a vkey says. */
typedef struct tms_note_verifier {
    char name[TMS_NOTE_NAME_MAX + 1];
    uint32_t id;                  /* the key ID */
    uint8_t type;                 /* TMS_KEY_* */
    uint8_t pk[32];
} tms_note_verifier;

/* A signer: a private key (with its verifier). Wipe with tms_note_signer_wipe. */
typedef struct tms_note_signer {
    tms_note_verifier v;
    uint8_t sk[64];               /* libsodium's secret key: seed || public key */
} tms_note_signer;

/* A note opened against trusted keys. */
typedef struct tms_note_sig {
    char name[TMS_NOTE_NAME_MAX + 1];
    uint32_t id;
    int verified;                 /* 1: by a known key and it verified */
    int known;                    /* name and id match a key given to tms_note_open */
    uint64_t time;                /* for a cosignature/v1: its timestamp */
    const char *line;             /* the whole signature line in the input (not NUL-terminated) */
    size_t line_len;              /* ... its length with the newline */
} tms_note_sig;

typedef struct tms_note {
    const char *text;             /* the signed text in the input, ending in "\n" (not NUL-terminated) */
    size_t text_len;
    size_t nsigs;
    tms_note_sig sigs[TMS_NOTE_MAX_SIGS];
} tms_note;

/* A checkpoint's body. */
typedef struct tms_checkpoint {
    char origin[TMS_NOTE_NAME_MAX + 1];
    uint64_t size;
    tms_tlog_hash root;
} tms_checkpoint;

/* Is name a valid key name (non-empty, at most TMS_NOTE_NAME_MAX bytes, UTF-8, no Unicode space, no '+',
 * no control character)? */
int tms_note_name_ok(const char *name, size_t len);

/* A new Ed25519 key of `type` named `name`: *skey (the private key line, no
 * newline) and *vkey, malloc'd. TMS_E_INVAL for a bad name or type. */
tms_err tms_note_keygen(const char *name, uint8_t type, char **skey, char **vkey);
/* The vkey of a signer, malloc'd. */
char *tms_note_vkey(const tms_note_verifier *v);

/* Parse a vkey / a private key line (len bytes; one trailing "\n" allowed).
 * TMS_E_INVAL when malformed, of an unknown type, or when its key ID does
 * not match name, type and key (why says which). */
tms_err tms_note_verifier_parse(const char *vkey, size_t len, tms_note_verifier *out, char *why, size_t whylen);
tms_err tms_note_signer_parse(const char *skey, size_t len, tms_note_signer *out, char *why, size_t whylen);
void tms_note_signer_wipe(tms_note_signer *s);

/* The signature line "— NAME BASE64(...)\n" of signer s over text[0..len)
 * (a note text: ends in "\n"), into line (NUL-terminated). A type 0x01 key
 * signs the text; a type 0x04 key cosigns it at `time` (POSIX seconds).
 * TMS_E_INVAL when text is not a valid note text. */
tms_err tms_note_sign_line(const tms_note_signer *s, const char *text, size_t len, uint64_t time,
                           char line[TMS_NOTE_SIG_TEXT_MAX]);

/* Parse a signed note (len bytes) and check each signature whose name and
 * key ID match one of keys[0..nkeys). TMS_OK when the note is well-formed;
 * then n->sigs says which signatures were known and verified. A signature
 * of a known key that fails makes it TMS_E_INVAL (why: "bad signature by
 * NAME"), as C2SP advises; so does a malformed note. The note's pointers
 * point into `note`. */
tms_err tms_note_open(const char *note, size_t len, const tms_note_verifier *keys, size_t nkeys, tms_note *n,
                      char *why, size_t whylen);
/* 1 when the opened note holds a verified signature by key k. */
int tms_note_verified_by(const tms_note *n, const tms_note_verifier *k);

/* The checkpoint text of (origin, size, root), NUL-terminated, into out;
 * its length, or 0 when it does not fit or origin is not a valid origin. */
size_t tms_checkpoint_format(const char *origin, uint64_t size, const tms_tlog_hash root, char *out, size_t cap);
/* Parse a checkpoint text (a note's text). TMS_E_INVAL with why. */
tms_err tms_checkpoint_parse(const char *text, size_t len, tms_checkpoint *out, char *why, size_t whylen);

/* A signed note holding a checkpoint: opened, its text parsed into *cp; with
 * key (else NULL: no signature is checked) it must also be verified by key,
 * a log's key (type 0x01: a witness's cosignature never stands for the log's
 * signature), and name key's name as its origin (SPEC: a log's key name is
 * its checkpoints' origin). TMS_OK, or TMS_E_INVAL with why. */
tms_err tms_checkpoint_open(const char *note, size_t len, const tms_note_verifier *key, tms_checkpoint *cp, char *why,
                            size_t whylen);

/* base64 (RFC 4648 section 4, padded) of n bytes into out (4*ceil(n/3)+1 bytes); and back: exactly n bytes
 * or -1. */
void tms_b64_encode(const uint8_t *in, size_t n, char *out);
/* 1 when s[0..len) holds only base64 characters (A-Z a-z 0-9 + / =). */
int tms_b64_chars_ok(const char *s, size_t len);
int tms_b64_decode(const char *in, size_t len, uint8_t *out, size_t n);

#endif
