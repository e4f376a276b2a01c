/* tool_receipt.h -- the receipt of a verify (issue 18, item 4; docs/trust.md,
 * "Incremental verification"): what `tms-audit verify --receipt FILE`
 * writes when the data directory verified, and `tms-audit verify --since
 * FILE` starts from. One JSON object:
 *
 *   {"format":"tmsperm-verify-receipt/2",
 *    "proves":"...",                      what it proves, in words (not read back)
 *    "tmsperm":"0.17.0",                  the version that verified
 *    "data":"/var/lib/tms",               the data directory as given (not read back)
 *    "verified_at":"RFC 3339",            when
 *    "since":null | S,                    a --since verify: the size of the receipt it started from
 *    "size":N,                            records 1..N verified (the log's last seq then)
 *    "time":"RFC 3339" | null,            record N's time (null when N is 0)
 *    "head":"hex",                        the log's chain head at N (BLAKE2b-256)
 *    "root":"base64",                     the Merkle tree's root at N, as a checkpoint says it
 *    "state_digest":"hex",                the state digest at N (snapshot.h: by tenant)
 *    "projection_digest":"hex" | null,    the digest (store.h, state only) of the projection of that
 *                                         state: what FILE.state records; --since compares the live
 *                                         projection by tenant against it (null: it does not)
 *    "signatures":"unchecked" | NAME,     checkpoints' signatures checked with that key?
 *    "key":null | "vkey",                 ... the key itself
 *    "checkpoint":null | {"size":M, "note":"...", "consistency":null | ["base64", ...]}}
 *                                         the latest kept checkpoint verify checked (M <= N),
 *                                         exactly as kept, and RFC 9162 PROOF(M, D[N]): its
 *                                         root extends to "root"
 *
 * Beside it, FILE.state (written first: tool_verify_write_state): the
 * state at N as a snapshot file (snapshots.h), its digest "state_digest";
 * --since starts from it when it agrees with the receipt.
 *
 * The parser takes hostile bytes: anything but such an object, of this
 * format, with every field of its type and in range and consistent (the
 * checkpoint note opens, of size M <= N, signed by "key" when there is one;
 * the proof holds) is refused with a reason. Unknown members are ignored. */
#ifndef TMS_TOOL_RECEIPT_H
#define TMS_TOOL_RECEIPT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "note.h"
#include "tlog.h"

#define TOOL_RECEIPT_FORMAT "tmsperm-verify-receipt/2"   /* /1: a state digest of the encoding in one hash */
#define TOOL_RECEIPT_MAX_BYTES (256u * 1024)   /* a note is at most 64 KiB; JSON escapes at most double it */
#define TOOL_RECEIPT_VKEY_MAX 400

typedef struct tool_receipt {
    uint64_t size;                          /* N */
    int64_t time;                           /* record N's (ns); 0 when N is 0 */
    uint8_t head[32];                       /* chain head at N (zeros when N is 0) */
    tms_tlog_hash root;                     /* tree root at N */
    uint8_t state[32];                      /* digest of the state encoding at N */
    int has_proj;
    uint8_t proj[32];                       /* the digest of that state's projection (state only) */
    char version[32];                       /* tmsperm's */
    int64_t verified_at;                    /* ns */
    int has_since;
    uint64_t since;
    char key[TOOL_RECEIPT_VKEY_MAX];        /* the vkey; "" when signatures were not checked */
    char *cp_note;                          /* the checkpoint note (malloc'd, NUL-terminated), NULL: none */
    size_t cp_len;
    uint64_t cp_size;
    int has_proof;                          /* the consistency proof from cp_size to size */
    size_t nproof;
    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF];
} tool_receipt;

/* Parse and check buf[0..len) (untrusted). 0 with *out filled (the caller
 * frees it with tool_receipt_free), or -1 with a one-line reason in why and
 * *out empty. */
int tool_receipt_parse(const char *buf, size_t len, tool_receipt *out, char *why, size_t whylen);

/* The receipt as its JSON object, the "proves" text written from r; datadir
 * is the "data" member. NULL when out of memory. */
json_t *tool_receipt_json(const tool_receipt *r, const char *datadir);

/* Read and parse the receipt in path: 0, or TOOL_ERROR after a one-line
 * message naming opt ("--since"). */
int tool_receipt_read(const char *opt, const char *path, tool_receipt *out);

/* Write r to path atomically: a temporary file beside it, fsynced, renamed
 * over path, the directory fsynced; path is the old file or the new one,
 * never part of one. 0, or TOOL_ERROR after a message naming opt. */
int tool_receipt_write(const char *opt, const char *path, const tool_receipt *r, const char *datadir);

void tool_receipt_free(tool_receipt *r);

#endif
