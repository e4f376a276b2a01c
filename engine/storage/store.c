/* store.c -- LMDB projections (see store.h): environment (open, grow,
 * copy), typed records with compact binary values, and dupsort sets;
 * transactions are in store_txn.c. Values are fixed little headers
 * followed by short strings, so a lookup decodes two bitsets straight from
 * the map without copying. */
#include "store_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define INITIAL_MAP (256ull << 20)
#define KEY_MAX TMS__KEY_MAX
#define ACCOUNT_HDR TMS__ACCOUNT_HDR

static const char *const db_names[TMS_DB_COUNT] = {"meta", "tenants", "accounts", "dist", "visible", "roles",
                                                   "logins", "versions", "dist_at", "visible_at", "changes",
                                                   "times", "frames"};
const int tms__db_dupsort[TMS_DB_COUNT] = {0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0};
#define db_dupsort tms__db_dupsort
#define MAX_DBS 32   /* room for the databases of earlier formats, dropped by tms_store_clear */

tms_err tms__store_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return TMS_OK;
    case MDB_NOTFOUND: return TMS_NOT_FOUND;
    case MDB_MAP_FULL: return TMS_E_MAPFULL;
    case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND: case MDB_INVALID: case MDB_VERSION_MISMATCH: return TMS_E_CORRUPT;
    case ENOSPC: return TMS_E_NOSPACE;
    case ENOMEM: return TMS_E_NOMEM;
    case EIO: return TMS_E_IO;
    default: return TMS_E_STORE;
    }
}

static tms_err open_dbis(tms_store *st, char *why, size_t whylen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, st->readonly ? MDB_RDONLY : 0, &txn);
    if (rc) {
        snprintf(why, whylen, "projection: %s", mdb_strerror(rc));
        return tms__store_err(rc);
    }
    st->opening = txn;   /* reachable should a guarded open fault in here */
    for (int i = 0; i < TMS_DB_COUNT && !rc; i++) {
        unsigned flags = (st->readonly ? 0 : MDB_CREATE) | (db_dupsort[i] ? MDB_DUPSORT : 0);
        rc = mdb_dbi_open(txn, db_names[i], flags, &st->dbi[i]);
        if (rc)
            snprintf(why, whylen, "projection database %s: %s", db_names[i], mdb_strerror(rc));
    }
    st->opening = NULL;
    if (rc) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? TMS_NOT_FOUND : tms__store_err(rc);
    }
    rc = mdb_txn_commit(txn);
    if (rc)
        snprintf(why, whylen, "projection: %s", mdb_strerror(rc));
    return tms__store_err(rc);
}

/* Room on dir's file system for `more` bytes, with a quarter of that to
 * spare for the log, snapshots and the tree beside it. */
static int room_for(const char *dir, uint64_t more)
{
    struct statvfs sv;
    return statvfs(dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize >= more + more / 4;
}

/* Every block of data.mdb from its size `from` up to `to` allocated: a
 * page written through a writable map into a hole of a full file system is
 * a SIGBUS, not an error (an allocated block is written in place). Tried
 * only when the file system has room for it (room_for): a posix_fallocate
 * that fails keeps, on ext4, the blocks it took, and the file is cut back to
 * `from` then. 0 or an errno. */
static int reserve_map(tms_store *st, uint64_t from, uint64_t to)
{
    int fd, rc;
    struct stat sb;
    if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) != 0)
        return EBADF;
    uint64_t held = (uint64_t)sb.st_blocks * 512;
    if (to > held && !room_for(st->dir, to - held))
        return ENOSPC;
    if ((rc = posix_fallocate(fd, 0, (off_t)to)) != 0 && ftruncate(fd, (off_t)from) != 0) {
        /* the file stays longer than the map: LMDB cuts it to its map at the next open */
    }
    return rc;
}

/* Create and open the environment. The writer's projection (writemap) is
 * written through a writable map (MDB_WRITEMAP): a commit is stores into
 * the page cache, not a pwrite per dirty page (issue 22, item 3); that
 * needs the whole map allocated on disk (reserve_map), and where it cannot
 * be (a full or small file system) the environment is opened again without
 * it, as before, the file cut back to the size it had. Commits are never
 * synced (MDB_NOSYNC: the log is the truth; see the evidence above). */
static tms_err env_open(tms_store *st, const char *dir, size_t map_bytes, int writemap, char *why, size_t whylen)
{
    int rc;
    char data[4200];
    struct stat sb;
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    uint64_t size0 = stat(data, &sb) == 0 ? (uint64_t)sb.st_size : 0;   /* LMDB's WRITEMAP open extends it */
    for (;;) {
        unsigned flags = MDB_NOTLS | (st->readonly ? MDB_RDONLY : MDB_NOSYNC) | (writemap ? MDB_WRITEMAP : 0);
        if ((rc = mdb_env_create(&st->env)) || (rc = mdb_env_set_maxdbs(st->env, MAX_DBS)) ||
            (rc = mdb_env_set_maxreaders(st->env, 512)) ||
            (!st->readonly && (rc = mdb_env_set_mapsize(st->env, map_bytes ? map_bytes : INITIAL_MAP)))) {
            snprintf(why, whylen, "projection: %s", mdb_strerror(rc));
            return tms__store_err(rc);
        }
        if ((rc = mdb_env_open(st->env, dir, flags, 0640))) {
            if (rc == EACCES || rc == EPERM)   /* which file, its mode and owner (datadir.c) */
                tms__open_denied(dir, st->readonly, rc, why, whylen);
            else
                snprintf(why, whylen, "projection %s: %s", dir, mdb_strerror(rc));
            return rc == ENOENT ? TMS_NOT_FOUND : rc == EACCES || rc == EPERM ? TMS_E_IO : tms__store_err(rc);
        }
        MDB_envinfo info;
        if (!writemap || (mdb_env_info(st->env, &info) == 0 && reserve_map(st, size0, info.me_mapsize) == 0)) {
            st->writemap = writemap;
            return TMS_OK;
        }
        mdb_env_close(st->env);   /* no room for the whole map: written page by page instead */
        st->env = NULL;
        writemap = 0;
        if (truncate(data, (off_t)size0) != 0) {
            /* longer than its pages: harmless, LMDB reads its size from its meta page */
        }
    }
}

tms_err tms_store_open(const char *dir, int mode, tms_store **out, char *why, size_t whylen)
{
    return tms_store_open_sized(dir, mode, 0, out, why, whylen);
}

tms_err tms_store_open_sized(const char *dir, int mode, size_t map_bytes, tms_store **out, char *why,
                             size_t whylen)
{
    int readonly = mode == TMS_STORE_READONLY;
    tms_err err = TMS_E_NOMEM;
    tms_store *st = calloc(1, sizeof *st);
    *out = st;   /* published at once: a guarded open that faults (store_guard.c) still knows it */
    if (!st)
        goto fail;
    st->readonly = readonly;
    st->mode = mode;
    snprintf(st->dir, sizeof st->dir, "%s", dir);
    if (!readonly && mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
        err = TMS_E_IO;
        goto fail;
    }
    if (mode == TMS_STORE_WRITE && (err = tms__evidence_open(st, why, whylen)))
        goto fail;
    if ((err = env_open(st, dir, map_bytes, mode == TMS_STORE_WRITE, why, whylen)))
        goto fail;
    /* readers in the writer's group: lock.mdb 0660, data.mdb 0640, the directory 0750 */
    if (!readonly && (err = tms__store_modes(st, why, whylen)))
        goto fail;
    if (!readonly)
        tms_store_reader_check(st);
    if ((err = open_dbis(st, why, whylen)) != TMS_OK)
        goto fail;
    *out = st;
    return TMS_OK;
fail:
    *out = NULL;
    tms_store_close(st);
    return err;
}

void tms_store_close(tms_store *st)
{
    if (!st)
        return;
    if (st->env && st->mode == TMS_STORE_WRITE && st->trusted >= 0 && tms_store_sync(st) == TMS_OK)
        tms__evidence_clean(st);
    if (st->env)
        mdb_env_close(st->env);
    free(st);
}

tms_err tms_store_sync(tms_store *st)
{
    return tms__store_err(mdb_env_sync(st->env, 1));
}

int tms_store_replaced(const tms_store *st)
{
    char path[4200];
    struct stat now, mine;
    int fd;
    snprintf(path, sizeof path, "%s/data.mdb", st->dir);
    if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &mine) != 0)
        return 0;
    return stat(path, &now) != 0 || now.st_ino != mine.st_ino || now.st_dev != mine.st_dev;
}

uint64_t tms_store_space_left(const tms_store *st)
{
    struct statvfs sv;
    return statvfs(st->dir, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : UINT64_MAX;
}

void tms_store_usage(const tms_store *st, uint64_t *map_bytes, uint64_t *used_bytes)
{
    MDB_envinfo info;
    MDB_stat stat;
    *map_bytes = *used_bytes = 0;
    if (mdb_env_info(st->env, &info) == 0 && mdb_env_stat(st->env, &stat) == 0) {
        *map_bytes = info.me_mapsize;
        *used_bytes = ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
    }
}

int tms_store_trusted(const tms_store *st)
{
    return st->trusted > 0;
}

const char *tms_store_distrust(const tms_store *st)
{
    return st->distrust;
}

#define MAX_MAP (1ull << 40)   /* 1 TiB: past this, something else is wrong */

tms_err tms_store_grow(tms_store *st)
{
    MDB_envinfo info;
    mdb_env_info(st->env, &info);
    if (info.me_mapsize >= MAX_MAP)
        return TMS_E_NOSPACE;
    int rc = st->writemap ? reserve_map(st, info.me_mapsize, info.me_mapsize * 2) : 0;   /* before the map reaches it */
    if (rc)
        return rc == ENOSPC || rc == EDQUOT || rc == EFBIG ? TMS_E_NOSPACE : TMS_E_IO;
    return tms__store_err(mdb_env_set_mapsize(st->env, info.me_mapsize * 2));
}

int tms_store_reader_check(tms_store *st)
{
    int dead = 0;
    return mdb_reader_check(st->env, &dead) == 0 ? dead : -1;
}

tms_err tms_store_copy(tms_store *st, const char *dstdir, char *why, size_t whylen)
{
    int rc = mdb_env_copy2(st->env, dstdir, MDB_CP_COMPACT);
    if (rc == MDB_MAP_RESIZED) {   /* the writer grew the map since we opened it: adopt its size, again */
        char data[4300];
        snprintf(data, sizeof data, "%s/data.mdb", dstdir);
        unlink(data);
        if ((rc = mdb_env_set_mapsize(st->env, 0)) == 0)
            rc = mdb_env_copy2(st->env, dstdir, MDB_CP_COMPACT);
    }
    if (rc)
        snprintf(why, whylen, "%s", mdb_strerror(rc));
    return tms__store_err(rc);
}

/* ---- keys and raw access ------------------------------------------------ */

size_t tms__make_key(char *buf, const char *a, const char *b, const char *c)
{
    size_t n = 0;
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3 && parts[i]; i++) {
        size_t l = strnlen(parts[i], TMS_ID_MAX + 1);
        if (i)
            buf[n++] = '\0';
        memcpy(buf + n, parts[i], l);
        n += l;
    }
    return n;
}

tms_err tms__raw_get(tms_txn *tx, int db, const char *k, size_t klen, MDB_val *val)
{
    MDB_val key = {klen, (void *)k};
    return tms__store_err(mdb_get(tx->txn, tx->st->dbi[db], &key, val));
}

tms_err tms__raw_put(tms_txn *tx, int db, const char *k, size_t klen, const void *v, size_t vlen)
{
    MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
    return tms__store_err(mdb_put(tx->txn, tx->st->dbi[db], &key, &val, 0));
}

tms_err tms__raw_del(tms_txn *tx, int db, const char *k, size_t klen)
{
    MDB_val key = {klen, (void *)k};
    int rc = mdb_del(tx->txn, tx->st->dbi[db], &key, NULL);
    return rc == MDB_NOTFOUND ? TMS_OK : tms__store_err(rc);
}

/* Little length-prefixed strings inside values. */
size_t tms__put_str(uint8_t *p, const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max) : 0;
    p[0] = (uint8_t)(n & 0xff);
    p[1] = (uint8_t)(n >> 8);
    if (n)
        memcpy(p + 2, s, n);
    return n + 2;
}

static int get_str(const uint8_t **p, const uint8_t *end, char *out, size_t cap)
{
    if (end - *p < 2)
        return -1;
    size_t n = (size_t)(*p)[0] | ((size_t)(*p)[1] << 8);
    if (n >= cap || (size_t)(end - *p - 2) < n)
        return -1;
    memcpy(out, *p + 2, n);
    out[n] = '\0';
    *p += n + 2;
    return 0;
}

/* ---- meta ----------------------------------------------------------------- */

tms_err tms_meta_get(tms_txn *tx, uint64_t *seq, uint8_t head[TMS_HASH_LEN])
{
    MDB_val v;
    tms_err err = tms__raw_get(tx, TMS_DB_META, "seq", 3, &v);
    if (err == TMS_NOT_FOUND) {
        *seq = 0;
        memset(head, 0, TMS_HASH_LEN);
        return TMS_OK;
    }
    if (err || v.mv_size != 8)
        return err ? err : TMS_E_CORRUPT;
    memcpy(seq, v.mv_data, 8);
    if ((err = tms__raw_get(tx, TMS_DB_META, "head", 4, &v)) || v.mv_size != TMS_HASH_LEN)
        return err ? err : TMS_E_CORRUPT;
    memcpy(head, v.mv_data, TMS_HASH_LEN);
    return TMS_OK;
}

tms_err tms_meta_put(tms_txn *tx, uint64_t seq, const uint8_t head[TMS_HASH_LEN])
{
    uint32_t format = TMS_STORE_FORMAT;
    tms_err err = tms__raw_put(tx, TMS_DB_META, "seq", 3, &seq, 8);
    if (!err)
        err = tms__raw_put(tx, TMS_DB_META, "head", 4, head, TMS_HASH_LEN);
    if (!err)
        err = tms__raw_put(tx, TMS_DB_META, "format", 6, &format, 4);
    return err;
}

tms_err tms_store_format(tms_txn *tx, uint32_t *format)
{
    MDB_val v;
    tms_err err = tms__raw_get(tx, TMS_DB_META, "format", 6, &v);
    *format = 0;
    if (err == TMS_NOT_FOUND)
        return TMS_OK;
    if (err || v.mv_size != 4)
        return err ? err : TMS_E_CORRUPT;
    memcpy(format, v.mv_data, 4);
    return TMS_OK;
}

/* Drop the named databases this format does not have (earlier formats). */
static tms_err drop_unknown(tms_txn *tx)
{
    MDB_dbi main;
    MDB_cursor *cur;
    MDB_val k, v;
    char names[MAX_DBS][64];
    int n = 0, rc = mdb_dbi_open(tx->txn, NULL, 0, &main);
    if (rc || (rc = mdb_cursor_open(tx->txn, main, &cur)))
        return tms__store_err(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < MAX_DBS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int known = 0;
        for (int i = 0; i < TMS_DB_COUNT; i++)
            known |= k.mv_size == strlen(db_names[i]) && !memcmp(k.mv_data, db_names[i], k.mv_size);
        if (!known && k.mv_size < sizeof names[0]) {
            memcpy(names[n], k.mv_data, k.mv_size);
            names[n++][k.mv_size] = '\0';
        }
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return tms__store_err(rc);
    for (int i = 0; i < n; i++) {
        MDB_dbi dbi;
        if ((rc = mdb_dbi_open(tx->txn, names[i], 0, &dbi)) == 0)
            rc = mdb_drop(tx->txn, dbi, 1);
        if (rc && rc != MDB_NOTFOUND && rc != MDB_INCOMPATIBLE)
            return tms__store_err(rc);
    }
    return TMS_OK;
}

tms_err tms__meta_u64(tms_txn *tx, const char *key, uint64_t *out)
{
    MDB_val v;
    tms_err err = tms__raw_get(tx, TMS_DB_META, key, strlen(key), &v);
    *out = 0;
    if (err == TMS_NOT_FOUND)
        return TMS_OK;
    if (err || v.mv_size != sizeof *out)
        return err ? err : TMS_E_CORRUPT;
    memcpy(out, v.mv_data, sizeof *out);
    return TMS_OK;
}

tms_err tms_store_clear(tms_txn *tx)
{
    uint64_t mark = 0, base = 0;   /* meta also holds the as-of index's mark and base: they stay with the index */
    tms_err err = tms__meta_u64(tx, TMS__HISTORY_META, &mark);
    if (!err)
        err = tms__meta_u64(tx, TMS__HISTORY_BASE, &base);
    if (!err)
        err = drop_unknown(tx);
    for (int i = 0; i < TMS_DB_STATE_END && !err; i++)   /* the as-of index: tms_history_clear */
        err = tms__store_err(mdb_drop(tx->txn, tx->st->dbi[i], 0));
    if (!err && mark)
        err = tms__raw_put(tx, TMS_DB_META, TMS__HISTORY_META, sizeof TMS__HISTORY_META - 1, &mark, sizeof mark);
    if (!err && base)
        err = tms__raw_put(tx, TMS_DB_META, TMS__HISTORY_BASE, sizeof TMS__HISTORY_BASE - 1, &base, sizeof base);
    return err;
}

/* ---- typed records ---------------------------------------------------------- */

tms_err tms__dec_tenant(const MDB_val *v, tms_tenant_rec *out)
{
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    if (get_str(&p, end, out->admin, sizeof out->admin) ||
        get_str(&p, end, out->default_role, sizeof out->default_role))
        return TMS_E_CORRUPT;
    return TMS_OK;
}

tms_err tms_tenant_get(tms_txn *tx, const char *t, tms_tenant_rec *out)
{
    MDB_val v;
    tms_err err = tms__raw_get(tx, TMS_DB_TENANTS, t, strnlen(t, TMS_ID_MAX + 1), &v);
    return err ? err : tms__dec_tenant(&v, out);
}

size_t tms__enc_tenant(uint8_t *buf, const char *admin, const char *default_role)
{
    size_t n = tms__put_str(buf, admin, TMS_ID_MAX);
    return n + tms__put_str(buf + n, default_role, TMS_ID_MAX);
}

size_t tms__enc_account(uint8_t *buf, uint64_t perms, uint64_t features, int role_tag, const char *role,
                        const char *login, const char *link)
{
    memcpy(buf, &perms, 8);
    memcpy(buf + 8, &features, 8);
    buf[16] = (uint8_t)role_tag;
    size_t n = ACCOUNT_HDR;
    n += tms__put_str(buf + n, role_tag == TMS_ROLE_SET ? role : "", TMS_ID_MAX);
    n += tms__put_str(buf + n, login, TMS_ID_MAX);
    return n + tms__put_str(buf + n, link, TMS_ID_MAX);
}

size_t tms__enc_role(uint8_t *buf, char account_kind, uint64_t perms, const char *creator)
{
    buf[0] = (uint8_t)account_kind;
    memcpy(buf + 1, &perms, 8);
    return 9 + tms__put_str(buf + 9, creator, TMS_ID_MAX);
}

size_t tms__enc_login(uint8_t *buf, const char *manager, const char *extension, const char *name,
                      const char *email)
{
    size_t n = tms__put_str(buf, manager, TMS_ID_MAX);
    n += tms__put_str(buf + n, extension, TMS_ID_MAX);
    n += tms__put_str(buf + n, name, TMS_TEXT_MAX);
    return n + tms__put_str(buf + n, email, TMS_TEXT_MAX);
}


tms_err tms_account_bits(tms_txn *tx, const char *t, char kind, const char *id,
                         uint64_t *perms, uint64_t *features)
{
    char key[KEY_MAX], k[2] = {kind, 0};
    MDB_val v;
    tms_err err = tms__raw_get(tx, TMS_DB_ACCOUNTS, key, tms__make_key(key, t, k, id), &v);
    if (err)
        return err;
    if (v.mv_size < ACCOUNT_HDR)
        return TMS_E_CORRUPT;
    memcpy(perms, v.mv_data, 8);
    memcpy(features, (const uint8_t *)v.mv_data + 8, 8);
    return TMS_OK;
}

tms_err tms_account_get(tms_txn *tx, const char *t, char kind, const char *id, tms_account_rec *out)
{
    char key[KEY_MAX], k[2] = {kind, 0};
    MDB_val v;
    tms_err err = tms__raw_get(tx, TMS_DB_ACCOUNTS, key, tms__make_key(key, t, k, id), &v);
    return err ? err : tms__dec_account(&v, out);
}

tms_err tms__dec_account(const MDB_val *val, tms_account_rec *out)
{
    MDB_val v = *val;
    const uint8_t *p = v.mv_data, *end = p + v.mv_size;
    if (v.mv_size < ACCOUNT_HDR)
        return TMS_E_CORRUPT;
    memcpy(&out->perms, p, 8);
    memcpy(&out->features, p + 8, 8);
    out->role_tag = p[16];
    p += ACCOUNT_HDR;
    if (get_str(&p, end, out->role, sizeof out->role) || get_str(&p, end, out->login, sizeof out->login) ||
        get_str(&p, end, out->link, sizeof out->link))
        return TMS_E_CORRUPT;
    return TMS_OK;
}

tms_err tms_account_put(tms_txn *tx, const char *t, char kind, const char *id, const tms_account_rec *rec)
{
    char key[KEY_MAX], k[2] = {kind, 0};
    uint8_t buf[TMS__VALUE_MAX];
    size_t n = tms__enc_account(buf, rec->perms, rec->features, rec->role_tag, rec->role, rec->login, rec->link);
    return tms__raw_put(tx, TMS_DB_ACCOUNTS, key, tms__make_key(key, t, k, id), buf, n);
}

/* ---- sets ------------------------------------------------------------------- */

tms_err tms__set_add(tms_txn *tx, int db, const char *t, const char *k2, const char *k3, const char *member)
{
    char key[KEY_MAX];
    MDB_val k = {tms__make_key(key, t, k2, k3), key}, v = {strlen(member), (void *)member};
    int rc = mdb_put(tx->txn, tx->st->dbi[db], &k, &v, MDB_NODUPDATA);
    return rc == MDB_KEYEXIST ? TMS_OK : tms__store_err(rc);
}

tms_err tms__set_del(tms_txn *tx, int db, const char *t, const char *k2, const char *k3, const char *member)
{
    char key[KEY_MAX];
    MDB_val k = {tms__make_key(key, t, k2, k3), key}, v = {strlen(member), (void *)member};
    int rc = mdb_del(tx->txn, tx->st->dbi[db], &k, &v);
    return rc == MDB_NOTFOUND ? TMS_OK : tms__store_err(rc);
}

tms_err tms__set_foreach(tms_txn *tx, int db, const char *t, const char *k2, const char *k3,
                         tms__member_fn fn, void *ctx)
{
    char key[KEY_MAX], member[TMS_ID_MAX + 2];
    MDB_cursor *cur;
    MDB_val k = {tms__make_key(key, t, k2, k3), key}, v;
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[db], &cur);
    if (rc)
        return tms__store_err(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        if (v.mv_size >= sizeof member) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(member, v.mv_data, v.mv_size);
        member[v.mv_size] = '\0';
        if (fn(ctx, member, v.mv_size))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == 0 ? TMS_OK : tms__store_err(rc);
}

tms_err tms_tenant_foreach(tms_txn *tx, tms_tenant_fn fn, void *ctx)
{
    char t[TMS_ID_MAX + 1];
    MDB_cursor *cur;
    MDB_val k, v;
    tms_tenant_rec rec;
    tms_err err = TMS_OK;
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_TENANTS], &cur);
    if (rc)
        return tms__store_err(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size > TMS_ID_MAX) {
            err = TMS_E_CORRUPT;
            break;
        }
        memcpy(t, k.mv_data, k.mv_size);
        t[k.mv_size] = '\0';
        if ((err = tms__dec_tenant(&v, &rec)) || fn(ctx, t, &rec))
            break;
    }
    mdb_cursor_close(cur);
    if (err || rc == 0 || rc == MDB_NOTFOUND)
        return err;
    return tms__store_err(rc);
}

tms_err tms_account_foreach(tms_txn *tx, const char *t, tms_account_fn fn, void *ctx)
{
    char prefix[TMS_ID_MAX + 2];
    size_t plen = tms__make_key(prefix, t, NULL, NULL) + 1;   /* tenant + NUL */
    prefix[plen - 1] = '\0';
    MDB_cursor *cur;
    MDB_val k = {plen, prefix}, v;
    int rc = mdb_cursor_open(tx->txn, tx->st->dbi[TMS_DB_ACCOUNTS], &cur);
    if (rc)
        return tms__store_err(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen + 2 || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        char kind = ((const char *)k.mv_data)[plen], id[TMS_ID_MAX + 1];
        size_t idlen = k.mv_size - plen - 2;
        tms_account_rec rec;
        if (idlen > TMS_ID_MAX) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(id, (const char *)k.mv_data + plen + 2, idlen);
        id[idlen] = '\0';
        tms_err err = tms_account_get(tx, t, kind, id, &rec);
        if (err) {
            mdb_cursor_close(cur);
            return err;
        }
        if (fn(ctx, kind, id, &rec))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == 0 ? TMS_OK : tms__store_err(rc);
}
