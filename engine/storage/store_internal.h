/* store_internal.h -- what the storage room's files share (store.c, the
 * environment and typed records; store_txn.c, transactions; projection.c,
 * the projection of an in-memory state): what a store and a transaction
 * are, key layout, raw access, value encoders, the digest's entry format.
 * Private to storage: nothing outside it knows LMDB or a key. */
#ifndef TMS_STORE_INTERNAL_H
#define TMS_STORE_INTERNAL_H

#include <lmdb.h>
#include <sodium.h>
#include <string.h>
#include "store.h"
#include "datadir.h"

/* The databases (store.h describes them). */
enum { TMS_DB_META, TMS_DB_TENANTS, TMS_DB_ACCOUNTS, TMS_DB_DIST, TMS_DB_VISIBLE, TMS_DB_ROLES, TMS_DB_LOGINS,
       TMS_DB_STATE_END,                              /* the databases above hold the state at meta's seq */
       TMS_DB_VERSIONS = TMS_DB_STATE_END, TMS_DB_DIST_AT, TMS_DB_VISIBLE_AT, TMS_DB_CHANGES, TMS_DB_TIMES,
       TMS_DB_FRAMES, TMS_DB_COUNT };

struct tms_store {
    MDB_env *env;
    MDB_dbi dbi[TMS_DB_COUNT];
    int mode;                            /* TMS_STORE_* */
    int readonly;
    int writemap;                        /* MDB_WRITEMAP, the map allocated on disk (store.c) */
    int trusted;                         /* WRITE: the files can be believed (see tms_store_trusted) */
    char dir[4096];
    char distrust[160];                  /* why not, when not */
    /* what a guarded read (store_guard.c) had in flight when it faulted:
     * kept reachable with the abandoned store */
    MDB_txn *opening;
    tms_txn *guarded;
    void *walking;                       /* a digest walk's hasher (store_digest.c) */
};

/* Allocated by tms_txn_begin, freed by commit or abort; txn is never NULL
 * while the tms_txn exists (reset keeps it, for renew). */
struct tms_txn {
    tms_store *st;
    MDB_txn *txn;
};

#define TMS__KEY_MAX (3 * (TMS_ID_MAX + 1) + 8)
#define TMS__ACCOUNT_HDR 17   /* u64 perms, u64 features, u8 role tag */
/* Room for any encoded value. */
#define TMS__VALUE_MAX (2 * (TMS_ID_MAX + 2) + 2 * (TMS_TEXT_MAX + 2) + TMS__ACCOUNT_HDR + 3 * (TMS_ID_MAX + 2))

extern const int tms__db_dupsort[TMS_DB_COUNT];
/* The slots of t's table (history_tally.c), for the tests: read after tms_history_tally_end (the worker
 * stopped). */
struct tms_history_tally;
size_t tms__history_tally_capacity(const struct tms_history_tally *t);

/* Sets (dupsort databases). key1 is the tenant; key2/key3 complete the key
 * (key3 may be NULL): dist uses (kind-as-string, id), visible (manager, NULL).
 * Members are strings (k+id members are written as "e1001"). store_read.c
 * tells them in the domain's terms. */
typedef int (*tms__member_fn)(void *ctx, const char *member, size_t len);
tms_err tms__set_add(tms_txn *tx, int db, const char *t, const char *k2, const char *k3, const char *member);
tms_err tms__set_del(tms_txn *tx, int db, const char *t, const char *k2, const char *k3, const char *member);
/* Calls fn for each member in order; fn returning non-zero stops early. */
tms_err tms__set_foreach(tms_txn *tx, int db, const char *t, const char *k2, const char *k3,
                         tms__member_fn fn, void *ctx);
/* The same at seq (history.c): db is TMS_DB_DIST or TMS_DB_VISIBLE, the keys
 * as there; members in the same order. */
tms_err tms__set_foreach_at(tms_txn *tx, int db, const char *t, const char *k2, const char *k3, uint64_t seq,
                            tms__member_fn fn, void *ctx);
/* The accounts and objects record seq changed, as k+id members, in order (history.c). */
tms_err tms__changes_foreach(tms_txn *tx, uint64_t seq, tms__member_fn fn, void *ctx);

/* Map an LMDB return code to tms_err (MDB_MAP_FULL -> TMS_E_MAPFULL; a full
 * disk, ENOSPC, is TMS_E_NOSPACE). */
tms_err tms__store_err(int rc);

/* Parts a, b, c (b, c may be NULL) joined by NUL bytes into buf
 * (TMS__KEY_MAX); returns the length. */
size_t tms__make_key(char *buf, const char *a, const char *b, const char *c);
tms_err tms__raw_get(tms_txn *tx, int db, const char *k, size_t klen, MDB_val *val);
tms_err tms__raw_put(tms_txn *tx, int db, const char *k, size_t klen, const void *v, size_t vlen);
tms_err tms__raw_del(tms_txn *tx, int db, const char *k, size_t klen);  /* absent is TMS_OK */
size_t tms__put_str(uint8_t *p, const char *s, size_t max);

/* Values; NULL strings are written as "". Each returns the length. */
size_t tms__enc_tenant(uint8_t *buf, const char *admin, const char *default_role);
size_t tms__enc_account(uint8_t *buf, uint64_t perms, uint64_t features, int role_tag, const char *role,
                        const char *login, const char *link);
size_t tms__enc_role(uint8_t *buf, char account_kind, uint64_t perms, const char *creator);
size_t tms__enc_login(uint8_t *buf, const char *manager, const char *extension, const char *name,
                      const char *email);

/* Effects (projection.c): 1 when an effect of this type rewrites its
 * account or object's value; 1 when e names the account prev named. */
int tms__writes_account(int type);
int tms__same_account(const tms_effect *prev, const tms_effect *e);

/* Decode the values above: TMS_OK or TMS_E_CORRUPT. */
tms_err tms__dec_account(const MDB_val *v, tms_account_rec *out);
tms_err tms__dec_tenant(const MDB_val *v, tms_tenant_rec *out);

/* The projection's value of a state entity (projection.c); each returns the length. */
size_t tms__account_value(uint8_t *buf, const tms_account *a);
size_t tms__tenant_value(uint8_t *buf, const tms_tenant *t);
size_t tms__role_value(uint8_t *buf, const tms_role *r);

/* The meta key of the as-of index's mark (history.c), left out of the state digests. */
#define TMS__HISTORY_META "history"
#define TMS__HISTORY_BASE "history_base"   /* a seeded directory's index starts at this seq */
/* The 8-byte value of meta's key into *out: TMS_OK (0 when absent), TMS_E_CORRUPT (another size), or
 * LMDB's error. */
tms_err tms__meta_u64(tms_txn *tx, const char *key, uint64_t *out);

static inline int tms__is_history_meta(const MDB_val *k)
{
    return (k->mv_size == sizeof TMS__HISTORY_META - 1 && !memcmp(k->mv_data, TMS__HISTORY_META, k->mv_size)) ||
           (k->mv_size == sizeof TMS__HISTORY_BASE - 1 && !memcmp(k->mv_data, TMS__HISTORY_BASE, k->mv_size));
}

/* The as-of index (history.c, history_write.c): entity kinds beside the
 * account letters, the version key suffix, big-endian seqs (keys sort by them). */
#define TMS__HISTORY_TENANT "#"
#define TMS__HISTORY_ROLE "@"
#define TMS__SEQ_SUFFIX 9                /* '\0' + be64(seq) */
static inline void tms__put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static inline uint64_t tms__get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}
/* Append the suffix of seq to the entity key in buf[0..elen): the version's key length. */
size_t tms__version_key(char *buf, size_t elen, uint64_t seq);
/* The last version of entity buf[0..elen) at or before seq, cur positioned
 * on it: TMS_OK with *val and *vseq, or TMS_NOT_FOUND. buf has room for the suffix. */
tms_err tms__seek_version(MDB_cursor *cur, char *buf, size_t elen, uint64_t seq, MDB_val *val, uint64_t *vseq);

/* The digest's stream: a header per database, then its entries in order
 * (each its two lengths as uint64, its key, its value): BLAKE2b-256. The
 * stream is gathered here and handed to BLAKE2b a buffer at a time (three
 * small updates per entry were a fifth of a projection's digest); the
 * bytes hashed are the stream's, however they are split. */
typedef struct tms__digest {
    crypto_generichash_state h;
    size_t n;                      /* bytes in buf, not yet hashed */
    uint8_t buf[8192];
} tms__digest;
void tms__digest_init(tms__digest *d);
void tms__digest_put(tms__digest *d, const void *p, size_t n);
void tms__digest_final(tms__digest *d, uint8_t out[TMS_HASH_LEN]);
/* Walk databases [from, to) into d, skip left out (-1: none); meta's
 * history mark is always left out. d NULL: every entry is read, nothing
 * hashed (a damaged page faults here rather than in a writer). */
tms_err tms__digest_dbs(tms_txn *tx, tms__digest *d, int from, int to, int skip);
void tms__digest_db(tms__digest *d, int db);
void tms__digest_entry(tms__digest *d, const void *k, size_t klen, const void *v, size_t vlen);
/* The meta database as tms_meta_put writes it (keys in byte order; nothing when seq is 0: an empty projection). */
void tms__digest_meta(tms__digest *d, uint64_t seq, const uint8_t *head);
/* A digest walk that faulted (store_guard.c: st->walking): its helper thread waited for (what it holds
 * is kept, reachable with the abandoned store). */
void tms__digest_walk_abandon(void *walking);
/* The accounts a projection holds from which its digest walk goes in runs on two threads, when asked
 * (tests set it to 0). */
extern size_t tms__digest_split_min;
/* The as-of index's entries read by the walks beside the state's (walk_index below), counted for the tests. */
extern _Atomic uint64_t tms__index_entries_walked;
/* tms_store_tenant_digests, in runs on a second thread as well when two_cores (store_digest.c); with
 * walk_index, the as-of index read through as tms_history_walk does, by the same threads once the runs are
 * taken. */
tms_err tms__store_tenant_digests(tms_txn *tx, int state_only, int two_cores, int walk_index,
                                  uint8_t out[TMS_HASH_LEN], tms_tenant_digests *list);
/* fn(ctx) on this thread with a damaged page's fault caught as on the guarded walk's (store_guard.c): its
 * result, or TMS_E_CORRUPT when it faulted. Only while a guarded walk (tms_store_check) holds the signals;
 * elsewhere a fault is what it would be. */
tms_err tms__guarded(tms_err (*fn)(void *), void *ctx);
/* The marker (in tms__digest_db's place) before a digest's tenant groups (store.h, "Digests"). */
#define TMS__DIGEST_BY_TENANT 0x100
/* One tenant's group, (t[0..tlen), pd), into outer, and appended to list when not NULL: TMS_OK, TMS_E_NOMEM. */
tms_err tms__tenant_group(tms__digest *outer, tms_tenant_digests *list, const char *t, size_t tlen,
                          const uint8_t pd[TMS_HASH_LEN]);

/* n bytes for free(), uninitialised, NULL when out of memory (snapshots.c):
 * from 2 MiB on, aligned to 2 MiB and advised to use transparent huge pages
 * (a fault, and a TLB entry, per 2 MiB instead of per 4 KiB). */
void *tms__big_alloc(uint64_t n);

/* Evidence (store_evidence.c): read DIR/writer, decide st->trusted (and
 * remove untrustworthy files), then record this boot's writer durably. */
tms_err tms__evidence_open(tms_store *st, char *why, size_t whylen);
/* The kernel's boot id into out, "" when it does not say (every unclean stop then counts as a reboot). */
void tms__boot_id(char *out, size_t len);
/* Record a clean close (after a sync). */
void tms__evidence_clean(tms_store *st);

/* A writer's projection: its directory 0750, data.mdb 0640, lock.mdb 0660
 * (embedded readers write their reader slots there), whatever the umask. */
tms_err tms__store_modes(tms_store *st, char *why, size_t whylen);
/* why for mdb_env_open's permission error rc on dir: the system's reason,
 * and which file this process may not read or write, its mode and owner. */
void tms__open_denied(const char *dir, int readonly, int rc, char *why, size_t whylen);

#endif
