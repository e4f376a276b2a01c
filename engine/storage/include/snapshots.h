/* snapshots.h -- snapshots of the writer's state (SPEC section 11,
 * "Snapshots"; issue 18): DIR/snapshots/<seq, 20 digits>.snap, each the
 * state after records 1..seq as core encodes it (snapshot.h), with what ties
 * it to the log. Persistence only: what a snapshot holds and when one is
 * trusted is the writer's business (engine.c).
 *
 * A file, all integers little-endian:
 *   magic "TMSSNAP1" | le32 version (5) | le32 schema version (the writer's
 *   TMS_SCHEMA_VERSION) | le64 seq | head[32] (the log's chain head at seq) |
 *   root[32] (the Merkle tree's root at seq; tms-audit verify checks it) |
 *   le64 time (record seq's, ns) | digest[32] (the state digest of the
 *   encoding, by tenant: snapshot.h) | build[16] (the writer's tmsperm version, NUL-padded) | le64
 *   payload length | proj_digest[32] (tms_state_projection_digest of the
 *   state: what its LMDB projection's digest is) | le32 CRC32C of all of the
 *   above and everything after it | payload (the state encoding) | the
 *   payload's parts table and its footer (snapshot_parts.h: each part's
 *   length, BLAKE2b-256 and masks, from which the state digest follows;
 *   the file's last 8 bytes are le32 table length | le32 CRC32C of the
 *   table). 188 bytes before the payload. A reader of the whole file
 *   checks the table against the payload; tms_snapshot_read_file_parts
 *   reads the table and only the parts it needs (issue 18: verify --since
 *   after a few tenants' records). Version 4 (no table) reads as this
 *   version, whole. Version 1 (no proj_digest) is not read: set aside.
 *   Versions 2 (a proj_digest from before projection digests went by
 *   tenant, store.h "Digests") and 3 (a state digest from before state
 *   digests did, snapshot.h) read with schema 0: another version's, which
 *   no writer starts from and verify does not compare, as after an
 *   upgrade.
 * Written whole to a temporary file, fsynced, renamed into place, the
 * directory fsynced (DIR/snapshots, when this write creates it, with DIR
 * fsynced too): a crash leaves the old set or the new one, never a half
 * file under a snapshot's name. Every system call goes through storage's
 * I/O table (io.h), so tests/test_crash_points.c stops at each. Never rewritten. One that does not
 * agree with the log is renamed NAME.bad (kept as evidence, never read). */
#ifndef TMS_SNAPSHOTS_H
#define TMS_SNAPSHOTS_H

#include <stddef.h>
#include <stdint.h>
#include "tmsperm.h"
#include "snapshot.h"

#define TMS_SNAPSHOT_KEEP 2   /* the newest kept; older ones are removed when a new one is written */
/* A writer's clean close writes a snapshot when at least this many records of
 * a log of `last` came after the newest: 1% of the log (at least one), so an
 * open folds at most 1% of the log after a clean close, and a one-command
 * embedded submit on a big log does not rewrite the whole state each time. */
#define TMS_SNAPSHOT_TAIL(last) ((last) / 100 > 0 ? (last) / 100 : 1)

typedef struct tms_snapshot_meta {
    uint32_t schema;          /* the writer's TMS_SCHEMA_VERSION (0: a file of version 2 or 3) */
    char build[16];           /* the writer's version (tms_version()), NUL-terminated */
    uint64_t seq;
    uint8_t head[32];
    uint8_t root[32];
    int64_t time;
    uint8_t digest[32];
    uint8_t proj_digest[32];  /* the digest of the state's projection (store.h), compared with the projection's */
} tms_snapshot_meta;

/* Write the snapshot of seq (meta) with payload[0..len) durably, then remove
 * all but the newest TMS_SNAPSHOT_KEEP. TMS_E_IO / TMS_E_NOSPACE with why;
 * TMS_E_INVAL with why (nothing written) when payload is not a state's
 * encoding or meta->digest is not its digest; TMS_E_NOMEM.
 * Written and fdatasynced 256 KiB at a time: a file system that orders data
 * before its journal commit (ext4) would otherwise make the log's next
 * fdatasync wait for every dirty page of the snapshot (the writer's
 * acknowledgements, while a child writes one). */
tms_err tms_snapshot_write(const char *datadir, const tms_snapshot_meta *meta, const void *payload, size_t len,
                           char *why, size_t whylen);
/* The same at most bytes_per_sec (0: as fast as the disk goes): a snapshot
 * written while the writer acknowledges commands shares the disk with the
 * log's fdatasyncs, which wait behind whatever of it is in the device's
 * queue (benchmarks/RESULTS.md, "Issue 18"). meta->digest is not read but
 * set, to the payload's: the writer's own encoding, whose parts are hashed
 * once for the digest and the parts table. */
tms_err tms_snapshot_write_paced(const char *datadir, tms_snapshot_meta *meta, const void *payload, size_t len,
                                 uint64_t bytes_per_sec, char *why, size_t whylen);

/* The seqs of the snapshots in DIR/snapshots, newest first (malloc'd; *n of
 * them; NULL and 0 when none). TMS_E_IO / TMS_E_NOMEM. */
tms_err tms_snapshot_list(const char *datadir, uint64_t **seqs, size_t *n);

/* Read the snapshot of seq: its meta and payload (malloc'd, *len bytes),
 * its length, CRC and digest checked (the digest against the payload's
 * BLAKE2b). TMS_E_CORRUPT with why when it does not check (a caller then
 * sets it aside); TMS_NOT_FOUND; TMS_E_IO; TMS_E_NOMEM. */
tms_err tms_snapshot_read(const char *datadir, uint64_t seq, tms_snapshot_meta *meta, uint8_t **payload,
                          size_t *len, char *why, size_t whylen);
/* The same, and (ix not NULL) its parts, hashed, into *ix for tms_snapshot_index_free: the walk of the
 * payload (tms_state_snapshot_index) its checks made; untouched on a failure. */
tms_err tms_snapshot_read_index(const char *datadir, uint64_t seq, tms_snapshot_meta *meta, uint8_t **payload,
                                size_t *len, tms_snapshot_index *ix, char *why, size_t whylen);

/* The header of the snapshot of seq only (no payload, no checksum): TMS_OK, TMS_NOT_FOUND, TMS_E_CORRUPT. */
tms_err tms_snapshot_meta_read(const char *datadir, uint64_t seq, tms_snapshot_meta *meta);

/* Set the snapshot of seq aside (NAME.bad): it does not agree with the log. */
tms_err tms_snapshot_set_aside(const char *datadir, uint64_t seq);

/* A snapshot file at a path of its own, in the format above (an auditor's
 * copy of a state: tms-audit verify --receipt FILE writes FILE.state; no
 * DIR/snapshots, no pruning). Write: a temporary file beside path (mode
 * 0640), fsynced, renamed over path, its directory fsynced: path is the old
 * file or the new one. TMS_E_IO / TMS_E_NOSPACE with why. Read: as
 * tms_snapshot_read, the seq being the header's own (a caller compares it
 * with what it expects): its length, CRC and digest checked; TMS_E_CORRUPT,
 * TMS_NOT_FOUND, TMS_E_IO, TMS_E_NOMEM with why. */
tms_err tms_snapshot_write_file(const char *path, const tms_snapshot_meta *meta, const void *payload, size_t len,
                                char *why, size_t whylen);
tms_err tms_snapshot_read_file(const char *path, tms_snapshot_meta *meta, uint8_t **payload, size_t *len,
                               char *why, size_t whylen);
/* The same, and its parts (hashed, as the payload gives them) into *ix, for
 * tms_snapshot_index_free: verify --since composes a digest from them. */
tms_err tms_snapshot_read_file_index(const char *path, tms_snapshot_meta *meta, uint8_t **payload, size_t *len,
                                     tms_snapshot_index *ix, char *why, size_t whylen);
/* Only what a state of some tenants needs (tms_state_snapshot_decode_parts):
 * the header, the parts table (its CRC checked, and the state digest it
 * gives checked against the header's), the part before the tenants and the
 * parts of tenants[0..n) (sorted, each once) that the table has, each
 * checked against the table's hash. *payload (malloc'd) is *len bytes
 * long, zero but for those parts; *ix the table's parts, for
 * tms_snapshot_index_free. The header's other fields are not checked (its
 * CRC covers the whole file): a caller binds them to what it trusts (verify
 * --since: the receipt). TMS_E_CORRUPT with why when anything does not
 * check, or the file has no table (version 4: read it whole);
 * TMS_NOT_FOUND; TMS_E_IO; TMS_E_NOMEM. */
tms_err tms_snapshot_read_file_parts(const char *path, const char *const *tenants, size_t n, tms_snapshot_meta *meta,
                                     uint8_t **payload, size_t *len, tms_snapshot_index *ix, char *why, size_t whylen);

/* ---- signed notes (snapshot_notes.c) ----
 * DIR/snapshots/<seq>.snap.note: a C2SP signed note, signed with the log's
 * key by the writer that holds it (tmsd --signing-key, tmsctl checkpoint
 * --signing-key), whose text is
 *   "tmsperm snapshot v2\norigin ORIGIN\nseq S\nroot BASE64\nhead HEX\n"
 *   "state HEX\nprojection HEX\nschema N\ntime NS\n"
 * (the snapshot's Merkle root, chain head, state digest and projection
 * digest): what binds a snapshot's state to the log's key, as a checkpoint
 * binds its root. Written once, never rewritten; removed with its snapshot.
 * tms-restore seed takes no snapshot without one. */
struct tms_note_signer;
struct tms_note_verifier;
struct tms_tree;
/* The note's text for origin (the key's name) and m into out: its length, 0 when it does not fit. */
size_t tms_snapshot_note_text(const char *origin, const tms_snapshot_meta *m, char *out, size_t cap);
/* The note of seq, malloc'd (NUL-terminated) with its length: TMS_OK, TMS_NOT_FOUND, TMS_E_CORRUPT, TMS_E_IO. */
tms_err tms_snapshot_note_read(const char *datadir, uint64_t seq, char **note, size_t *len);
/* Write note[0..len) as the note of seq: a temporary file, fsynced,
 * renamed, the directory fsynced. TMS_E_IO / TMS_E_NOSPACE with why. */
tms_err tms_snapshot_note_write(const char *datadir, uint64_t seq, const char *note, size_t len, char *why,
                                size_t whylen);
/* TMS_OK when note is signed by key and its text is exactly the one of m; else TMS_E_INVAL with why. */
tms_err tms_snapshot_note_check(const char *note, size_t len, const struct tms_note_verifier *key,
                                const tms_snapshot_meta *m, char *why, size_t whylen);
/* Sign every snapshot of datadir that has no note yet, whose Merkle root is
 * tree's at its seq, whose chain head is the log's there, and whose payload
 * (read, checked, decoded) gives the digests its header names: a snapshot
 * of this log, as its header says; *made says how many.
 * TMS_E_IO / TMS_E_NOSPACE with why. */
tms_err tms_snapshot_notes_sign(const char *datadir, struct tms_tree *tree, const struct tms_note_signer *s,
                                int *made, char *why, size_t whylen);
/* Remove the note of seq (its snapshot was pruned or set aside). */
void tms_snapshot_note_remove(const char *datadir, uint64_t seq);

#endif
