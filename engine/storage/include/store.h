/* store.h -- the LMDB projections: the state the rules read and write, and
 * what lookups answer from. A disposable cache of the log: every record is
 * applied in the same write transaction that advances meta (seq, chain head),
 * so the two can never disagree after a crash.
 *
 * It is written from the effects of the rules (tms_store_apply_effects), one
 * write transaction per group, or loaded whole from an in-memory state in
 * key order (tms_store_load); the rules never read it. It holds what lookups
 * answer from, nothing more.
 *
 * Databases (format 2; keys start with the tenant id; ids never contain NUL):
 *   meta      "seq" -> u64, "head" -> 32 bytes, "format" -> u32
 *   tenants   T -> admin, default role
 *   accounts  T\0k\0id -> perms, features, role, login, owner|parent   (k: m e q c)
 *   dist      T\0k\0id -> manager ids                        (dupsort)
 *   visible   T\0manager -> k+id                             (dupsort)
 *   roles     T\0role -> account type, perms, creator
 *   logins    T\0login -> manager, extension, name, email
 *
 * The as-of index (format 3; history.h says how it is read and written):
 *   versions  E\0be64(seq) -> the entity's value after record seq, "" once deleted;
 *             E is an account's key above, T\0#\0 for a tenant, T\0@\0role for a role
 *   dist_at   the dist key -> manager\0be64(from)be64(until)      (dupsort)
 *   visible_at the visible key -> k+id\0be64(from)be64(until)     (dupsort)
 *             a member from record `from` on, up to record `until` (excluded; max = still)
 *   changes   be64(seq) -> k+id of each account or object whose show it changed (dupsort)
 *   times     be64(time ns) -> u64 the last seq stamped at that time
 *   frames    be64(seq) -> u64 segment's first seq, u64 byte offset: where record
 *             seq's frame is (some records only: a reader goes on frame to frame;
 *             a cache of positions, left out of the index's digest)
 *   meta      "history" -> u64: the seq the as-of index is complete to */
#ifndef TMS_STORE_H
#define TMS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "tmsperm.h"
#include "tmsperm_schema.h"
#include "cmd.h"
#include "state.h"

#define TMS_STORE_FORMAT 3
#define TMS_HASH_LEN 32

/* An open projection environment, and a transaction in one. Both are
 * opaque: only the storage room knows they are LMDB (store_internal.h), so
 * nothing outside it needs lmdb.h. */
typedef struct tms_store tms_store;
typedef struct tms_txn tms_txn;

typedef struct tms_tenant_rec {
    char admin[TMS_ID_MAX + 1];
    char default_role[TMS_ID_MAX + 1];   /* "" = none */
} tms_tenant_rec;

typedef struct tms_account_rec {
    uint64_t perms;                      /* bit i = tms_permissions[i] */
    uint64_t features;                   /* bit i = tms_features[i] */
    int role_tag;                        /* TMS_ROLE_* */
    char role[TMS_ID_MAX + 1];           /* when TMS_ROLE_SET */
    char login[TMS_ID_MAX + 1];          /* "" = none */
    char link[TMS_ID_MAX + 1];           /* extension: owner; manager: parent; "" = none */
} tms_account_rec;

/* How a projection is opened. */
enum {
    TMS_STORE_WRITE = 0,      /* the engine's projection: commits are not synced (the log is the
                                 truth); synced at close; evidence kept beside it (below) */
    TMS_STORE_READONLY = 1,   /* lookups and queries */
    TMS_STORE_SCRATCH = 2     /* tools replaying into a throw-away directory: no fsync at all */
};

/* Evidence (WRITE mode). Commits are not synced, so after a system crash
 * the files may hold a torn state. The file DIR/writer says under which
 * boot the projection was last opened for writing and whether it was closed
 * cleanly (synced). Opening for writing believes the files when they were
 * closed cleanly, or when the writer that left them ran under this very boot
 * (a process crash loses nothing the kernel already has). Otherwise they are
 * set aside (DIR/data.mdb.unclean, kept as evidence) before LMDB touches
 * them, and the caller must rebuild.
 * tms_store_trusted says which; tms_store_distrust why not. */
int tms_store_trusted(const tms_store *st);
/* 1 when DIR/data.mdb is no longer the file st has open (a writer set a
 * damaged or distrusted projection aside and built a new one): readers must
 * reopen, or they would answer from the old file forever. */
int tms_store_replaced(const tms_store *st);
/* 0 when the projection in dir must not be read yet: its last writer
 * stopped uncleanly under another boot (torn pages are possible until a
 * writer has set it aside and rebuilt it); 1 otherwise. */
int tms_store_believable(const char *dir);
/* 1 when DIR/writer itself says the projection will be trusted by the next
 * open for writing (closed cleanly, or its writer ran under this boot); 0
 * when there is none, it cannot be read, or it says an unclean stop before
 * a reboot (that open rebuilds). */
int tms_store_evidence_trusts(const char *dir);
/* Remove DIR/writer: the next open for writing distrusts the projection
 * beside it (and rebuilds it) as one no writer vouches for. For a writer
 * that opened a projection it did not trust and stopped before rebuilding
 * it (its close marks it clean). TMS_OK or TMS_E_IO. */
tms_err tms_store_evidence_forget(const char *dir);
/* The same for a reader, which must not guess: 1, 0 (why says so), or -1
 * when DIR/writer exists but cannot be read (why names it and the system's
 * reason). tms_store_believable takes -1 for 1: its writer rewrites the file. */
int tms_store_believable_why(const char *dir, char *why, size_t whylen);
/* Bytes free on the projection's file system (UINT64_MAX when unknown):
 * LMDB reports a write cut short by a full disk as EIO. */
uint64_t tms_store_space_left(const tms_store *st);
/* The map's size and the bytes of it in use (pages up to the last one
 * written), for metrics and status; 0 and 0 when LMDB cannot say. */
void tms_store_usage(const tms_store *st, uint64_t *map_bytes, uint64_t *used_bytes);
const char *tms_store_distrust(const tms_store *st);
/* Flush every commit to disk (WRITE: done by tms_store_close, which then
 * marks the projection clean). */
tms_err tms_store_sync(tms_store *st);

/* Open the projection environment in DIR (created unless READONLY). The map
 * grows on demand (tms_store_grow). The engine's projection (WRITE) is
 * written through the map, its data.mdb allocated up to the map's size,
 * when the file system holds that; otherwise page by page. why gets a reason on failure, with the
 * system's (a file this process may not read or write is named with its
 * mode and owner: TMS_E_IO); TMS_NOT_FOUND when a READONLY open finds no
 * environment. A writer (WRITE, SCRATCH) sets the modes embedded readers in
 * its group need: DIR 0750, data.mdb 0640, lock.mdb 0660 (datadir.c). */
tms_err tms_store_open(const char *dir, int mode, tms_store **out, char *why, size_t whylen);
/* The same with an initial map size in bytes (0 = 256 MiB); tests use a tiny
 * one to exercise growth. The map never shrinks below what the file needs. */
tms_err tms_store_open_sized(const char *dir, int mode, size_t map_bytes, tms_store **out, char *why,
                             size_t whylen);
void tms_store_close(tms_store *st);
/* Double the map size; only with no transaction open in this process.
 * TMS_E_NOSPACE, the environment untouched and usable, when the map is at
 * its largest or (the writer's projection, written through the map) the
 * file system cannot hold the bigger map's blocks; any other error may
 * leave the environment unmapped: close it. */
tms_err tms_store_grow(tms_store *st);

/* Free the reader slots of processes that died holding a read transaction
 * (mdb_reader_check); returns how many were freed, or -1. */
int tms_store_reader_check(tms_store *st);

/* Copy the environment of st into the directory dstdir, which must exist
 * and be empty: compacted (free pages left out) and from one read
 * snapshot, so a writer in another process may go on meanwhile. When that
 * writer has grown the map since st was opened, the partial copy is
 * removed, the new size adopted and the copy made again. Returns TMS_OK,
 * or an error with LMDB's reason in why; dstdir may then hold a partial
 * copy, which the caller removes. */
tms_err tms_store_copy(tms_store *st, const char *dstdir, char *why, size_t whylen);
/* dir holds a projection tms_store_copy just made (synced, from one read
 * snapshot): its evidence says it was closed cleanly, so that the writer
 * that opens it next believes it (and may start from a state snapshot)
 * instead of rebuilding it. TMS_E_IO with why. */
tms_err tms_store_adopt_copy(const char *dir, char *why, size_t whylen);

/* ---- transactions (store_txn.c) --------------------------------------------- */

/* Begin a transaction in st: a write transaction when write is non-zero
 * (one at a time per environment: the caller serialises them), else a
 * read-only snapshot. On TMS_OK *out is a new transaction, allocated here
 * and owned by the caller until tms_txn_commit or tms_txn_abort frees it;
 * it must not outlive st. On failure *out is NULL and the result is
 * TMS_E_NOMEM or a store error (TMS_E_MAPFULL, TMS_E_NOSPACE, TMS_E_IO ...).
 * A map grown by another process is adopted and the begin retried once. */
tms_err tms_txn_begin(tms_store *st, int write, tms_txn **out);
/* Commit tx and free it, whatever the outcome: tx is invalid afterwards.
 * TMS_E_MAPFULL when the map is full (nothing of tx was written). For a
 * read-only transaction it is the same as tms_txn_abort. */
tms_err tms_txn_commit(tms_txn *tx);
/* Discard tx (nothing it wrote stays) and free it. NULL does nothing. */
void tms_txn_abort(tms_txn *tx);

/* A read-only transaction kept between lookups, so that a fresh snapshot
 * costs no allocation. tms_txn_reset releases tx's snapshot (no pages
 * pinned, no reader slot holding back the writer or the map's growth) but
 * keeps tx; tms_txn_renew takes a fresh snapshot into a reset tx. Between
 * the two, tx may only be renewed or aborted. Resetting a reset
 * transaction, a write transaction or NULL does nothing. renew returns
 * TMS_OK, or an error after which tx must be aborted (a new begin then
 * adopts a map another process grew); TMS_E_STORE for a write
 * transaction or one that was not reset. */
void tms_txn_reset(tms_txn *tx);
tms_err tms_txn_renew(tms_txn *tx);
/* 1 when no write transaction has committed in tx's environment since
 * tx's snapshot was taken (the environment's last transaction id is still
 * tx's), else 0: a snapshot that is still the latest need not be renewed.
 * Only for a read-only transaction holding a snapshot (not reset). Reads
 * the shared meta page: no lock, no allocation. */
int tms_txn_is_latest(const tms_txn *tx);

/* meta */
tms_err tms_meta_get(tms_txn *tx, uint64_t *seq, uint8_t head[TMS_HASH_LEN]);
tms_err tms_meta_put(tms_txn *tx, uint64_t seq, const uint8_t head[TMS_HASH_LEN]);
/* The format the projection was written in (0 when empty). */
tms_err tms_store_format(tms_txn *tx, uint32_t *format);
/* Empty every database of the state (not the as-of index, history.h, nor
 * its mark in meta), and drop any database this format does not know (a
 * projection of an earlier format), before a rebuild. */
tms_err tms_store_clear(tms_txn *tx);
/* ---- Digests ----
 * A projection's digest is by tenant, so that a writer that knows which
 * tenants some records touched compares only those again (engine.c, after
 * a crash; tenants are isolated by the rules). Every key of the state's
 * databases starts with its tenant's id (the whole key in tenants, up to
 * its first NUL elsewhere). A tenant's digest is the BLAKE2b-256 of
 *     for each database db of the state, in order: le64(db) le64(0), then
 *     each of its entries whose key is the tenant's, in key order:
 *     le64(key length) le64(value length) key value
 * and the projection's, the BLAKE2b-256 of
 *     [meta, unless state only: le64(META) le64(0), then its entries as above
 *      but the as-of index's mark]
 *     le64(0x100) le64(0), then for each tenant in byte order of ids:
 *     le64(id length) le64(32) id tenant-digest
 * (store_digest.c reads it from LMDB, projection.c renders it from a state). */
/* A projection's tenant digests, in byte order of ids. */
typedef struct tms_tenant_digest {
    char id[TMS_ID_MAX + 1];
    int bad;                        /* keys whose tenant part is no id (a damaged projection): never found */
    uint8_t digest[TMS_HASH_LEN];
} tms_tenant_digest;
typedef struct tms_tenant_digests {
    tms_tenant_digest *v;
    size_t n, cap;
} tms_tenant_digests;
void tms_tenant_digests_free(tms_tenant_digests *l);
/* The entry of tenant id in l, NULL when none (or a bad one). */
const tms_tenant_digest *tms_tenant_digests_find(const tms_tenant_digests *l, const char *id);
/* The digest (state only) of a projection whose tenants and their digests
 * are l's, in l's order (which should be byte order of ids; a bad entry
 * goes in cut short, as no projection gives it): TMS_OK or TMS_E_NOMEM. */
tms_err tms_tenant_digests_combine(const tms_tenant_digests *l, uint8_t out[TMS_HASH_LEN]);
/* The same with meta at (seq, head) first: what tms_store_digest gives for a projection whose meta holds
 * only those (and its format) and whose tenants are l's. TMS_OK or TMS_E_NOMEM. */
tms_err tms_tenant_digests_combine_meta(const tms_tenant_digests *l, uint64_t seq, const uint8_t head[TMS_HASH_LEN],
                                        uint8_t out[TMS_HASH_LEN]);

/* The projection's digest (state_only: without meta, so two states can be
 * compared whatever records led there) into out, and its tenant digests
 * appended to list when not NULL. TMS_OK or a store error. */
tms_err tms_store_tenant_digests(tms_txn *tx, int state_only, uint8_t out[TMS_HASH_LEN], tms_tenant_digests *list);
/* The digest of every database of the state, with meta. */
tms_err tms_store_digest(tms_txn *tx, uint8_t out[TMS_HASH_LEN]);
/* The same without meta (seq, head). */
tms_err tms_store_state_digest(tms_txn *tx, uint8_t out[TMS_HASH_LEN]);
/* Open the projection in dir read-only and take its meta (seq, head) and
 * either digest, with SIGBUS and SIGSEGV caught (store_guard.c): TMS_OK,
 * TMS_NOT_FOUND (no projection), TMS_E_CORRUPT when it is damaged (LMDB keeps
 * no checksums: a flipped page number sends it outside its file), never a
 * crash; why says what. Another writer may hold it meanwhile. */
typedef struct tms_store_check_history {
    int walk_only;                       /* in: read every entry, no digest (a writer's screening) */
    uint8_t key[16];                     /* in, unless walk_only: the tally's key (TMS_HISTORY_TALLY_KEY) */
    uint64_t seq;                        /* out: the as-of index is complete to this seq */
    uint8_t digest[TMS_HASH_LEN];        /* out, unless walk_only: tms_history_tally_index under key */
    void (*on_meta)(void *ctx);          /* in, may be NULL: called (on the calling thread) once *seq, head */
    void *ctx;                           /* and seq above are read, before the walks (tms-audit verify folds */
                                         /* the log meanwhile) */
    tms_tenant_digests *tenants;         /* in, may be NULL: the state's tenant digests appended there */
    int skip_index;                      /* in: the as-of index neither walked nor tallied (its mark is read) */
    int meta_only;                       /* in: meta and the index's mark read, nothing walked (out and */
                                         /* tenants untouched): a writer's look before it opens */
    uint32_t format;                     /* out, with meta_only: the projection's format (tms_store_format) */
    int two_cores;                       /* in: the state's walk in runs on a second thread as well (when the */
                                         /* caller leaves a core idle: verify --since, a writer's open that */
                                         /* screens first); with walk_only, the as-of index read through by */
                                         /* the same two threads once their runs are done */
} tms_store_check_history;
/* hist (may be NULL): the as-of index is walked too, its mark (and digest)
 * given there. */
tms_err tms_store_check(const char *dir, int state_only, uint8_t out[TMS_HASH_LEN], uint64_t *seq,
                        uint8_t head[TMS_HASH_LEN], tms_store_check_history *hist, char *why, size_t whylen);
/* The writer's own projection st, open, read whole for faults on this
 * thread with SIGBUS and SIGSEGV caught as tms_store_check's (a writer's
 * screen put off until after its open: engine_screen.c): the state digest
 * into out, the tenant digests appended to tenants (may be NULL), the as-of
 * index walked, on this thread alone (the writer answers lookups meanwhile:
 * benchmarks/RESULTS.md, "lookups during the screen"). TMS_OK; TMS_E_CORRUPT with why (damaged: st
 * is then never synced or marked clean again, only closed); another store
 * error. No write transaction may run in st meanwhile. */
tms_err tms_store_screen(tms_store *st, uint8_t out[TMS_HASH_LEN], tms_tenant_digests *tenants, char *why,
                         size_t whylen);
/* DIR/unscreened: a writer opened the projection in DIR without reading it
 * whole first, and has not read it since (engine_screen.c). mark: create
 * it (on) or remove it (off); TMS_OK or TMS_E_IO (not synced: it matters
 * within a boot, and a reboot distrusts an unclean projection anyway).
 * unscreened: 1 when it is there. */
tms_err tms_store_mark_unscreened(const char *dir, int on);
int tms_store_unscreened(const char *dir);

/* ---- the projection of an in-memory state (projection.c) ------------------ */

/* Write effs[0..n), effects of state st (state.h; st is the state after
 * them), into tx. TMS_OK or a store error (TMS_E_MAPFULL ...). */
tms_err tms_store_apply_effects(tms_txn *tx, const tms_state *st, const tms_effect *effs, size_t n);
/* Write the whole state st into tx, which must hold an empty projection
 * (tms_store_clear), in key order (MDB_APPEND: a rebuild is a bulk load). */
tms_err tms_store_load(tms_txn *tx, const tms_state *st);
/* ---- a projection compared with a state by tenant (projection_compare.c) ----
 * The projection at seq P against the state folded from a known state S
 * (a snapshot's, whose projection digest is recorded) through the records
 * S+1..P, rendering only the tenants those records touch (the file says why
 * that holds). new: for a fold from S's state, of `tenants` tenants; note: before each
 * record S+1..P applies, with the state then and the tenant it names;
 * covers: after it, with its effects; at: at P, with the projection's tenant
 * digests (tms_store_check) and S's recorded projection digest (state
 * only): *differs 0 when the projection is the state's -- unless whole says
 * the method does not hold (too many tenants touched, an effect on a tenant
 * its record does not name: the whole state must be compared instead).
 * count: the tenants touched so far. TMS_OK or TMS_E_NOMEM. */
typedef struct tms_projection_compare tms_projection_compare;
tms_err tms_projection_compare_new(uint64_t tenants, tms_projection_compare **out);
/* Will the method give up for the records after..upto of the log in
 * logdir, folded from a state of `tenants` tenants (more tenants named
 * than it takes)? Their tenants are peeked from the frames (a fold reads
 * them again): 1 yes, 0 no, -1 not known (a frame not read, a record not in
 * tms_record_encode's layout, a tenant longer than TMS_ID_MAX, out of
 * memory). Asked first, it spares the digests the method would take at S
 * before giving up (a tail over every tenant: half the state's). A tail of
 * no more records than the limit is not read. */
int tms_projection_compare_gives_up(const char *logdir, uint64_t after, uint64_t upto, uint64_t tenants);
tms_err tms_projection_compare_note(tms_projection_compare *c, const tms_state *st, const char *tenant);
void tms_projection_compare_covers(tms_projection_compare *c, const tms_effect *effs, size_t n);
int tms_projection_compare_whole(const tms_projection_compare *c);
size_t tms_projection_compare_count(const tms_projection_compare *c);
tms_err tms_projection_compare_at(tms_projection_compare *c, const tms_state *st, const tms_tenant_digests *screen,
                                  const uint8_t snapshot_pd[TMS_HASH_LEN], int *differs);
void tms_projection_compare_free(tms_projection_compare *c);

/* The digest of tenant id's part of a projection of st (store.h,
 * "Digests") into out: TMS_OK, TMS_NOT_FOUND when st has no such tenant,
 * TMS_E_NOMEM. */
tms_err tms_state_tenant_digest(const tms_state *st, const char *id, uint8_t out[TMS_HASH_LEN]);
/* What tms_store_digest would give for a projection of st with meta at
 * (seq, head), or tms_store_state_digest when head is NULL: the in-memory
 * state and its LMDB projection compared byte for byte. */
tms_err tms_state_projection_digest(const tms_state *st, uint64_t seq, const uint8_t *head,
                                    uint8_t out[TMS_HASH_LEN]);
/* Both of them from one walk of st (it renders and sorts the state once):
 * with meta at (seq, head) into with_meta, without into without. */
tms_err tms_state_projection_digests(const tms_state *st, uint64_t seq, const uint8_t *head,
                                     uint8_t with_meta[TMS_HASH_LEN], uint8_t without[TMS_HASH_LEN]);
/* The same digests (either pointer may be NULL, not both), the tenants'
 * digests shared with a helper thread (from 20 000 accounts and two
 * tenants): for a caller that leaves a core idle (tms-audit verify at the
 * end of its fold). Equal to the two above, byte for byte. */
tms_err tms_state_projection_digests_on2(const tms_state *st, uint64_t seq, const uint8_t *head,
                                         uint8_t *with_meta, uint8_t *without);

/* Typed records: get returns TMS_OK, TMS_NOT_FOUND, or an engine error. */
tms_err tms_tenant_get(tms_txn *tx, const char *t, tms_tenant_rec *out);
tms_err tms_account_get(tms_txn *tx, const char *t, char kind, const char *id, tms_account_rec *out);
tms_err tms_account_put(tms_txn *tx, const char *t, char kind, const char *id, const tms_account_rec *rec);

/* Account and perms fast path for lookups: reads only the bitsets, no copy.
 * TMS_OK, TMS_NOT_FOUND or an engine error. */
tms_err tms_account_bits(tms_txn *tx, const char *t, char kind, const char *id,
                         uint64_t *perms, uint64_t *features);


/* ---- what lookups read, in the domain's terms (store_read.c) ------------------ */

/* The `at` of the state at the projection's own seq (its latest databases);
 * any other `at` is a seq, read from the as-of index (history.h), which the
 * caller has checked reaches it (tms_query_point). */
#define TMS_AT_LATEST UINT64_MAX

/* An account or object of tenant t at `at`: TMS_OK, TMS_NOT_FOUND, or a
 * store error. kind: TMS_KIND_*. */
tms_err tms_store_account(tms_txn *tx, const char *t, char kind, const char *id, uint64_t at,
                          tms_account_rec *out);

/* One account or object: its kind (TMS_KIND_*) and id, valid until fn
 * returns; fn returning non-zero stops the walk (TMS_OK). */
typedef int (*tms_named_fn)(void *ctx, char kind, const char *id);
/* The managers object (kind, id) of tenant t is distributed to at `at`, in
 * id order (byte order): fn gets TMS_KIND_MANAGER and each one's id. */
tms_err tms_store_distribution(tms_txn *tx, const char *t, char kind, const char *id, uint64_t at,
                               tms_named_fn fn, void *ctx);
/* The objects distributed to manager of tenant t at `at`, ordered by kind
 * letter, then id. */
tms_err tms_store_visible(tms_txn *tx, const char *t, const char *manager, uint64_t at, tms_named_fn fn,
                          void *ctx);
/* The accounts and objects whose show record seq changed (the as-of index),
 * in the order of their kind letter, then id. */
tms_err tms_store_changed(tms_txn *tx, uint64_t seq, tms_named_fn fn, void *ctx);

/* Walk every tenant / every account of a tenant (tools: who-can, audits;
 * benchmarks: the data set). In key order; fn returning non-zero stops
 * early. The strings and records passed to fn live until it returns. */
typedef int (*tms_tenant_fn)(void *ctx, const char *tenant, const tms_tenant_rec *rec);
tms_err tms_tenant_foreach(tms_txn *tx, tms_tenant_fn fn, void *ctx);
typedef int (*tms_account_fn)(void *ctx, char kind, const char *id, const tms_account_rec *rec);
tms_err tms_account_foreach(tms_txn *tx, const char *t, tms_account_fn fn, void *ctx);

#endif
