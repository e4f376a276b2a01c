/* tree.c -- the Merkle tree's stored hashes on disk (tree.h). The writer
 * keeps the tree's right edge in memory (a compact range), so appending a
 * record reads nothing; readers compute heads and proofs with pread. */
#include "tree.h"
#include "checkpoints.h"
#include "log.h"
#include "note.h"
#include <sodium.h>
#include "store_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "TMSTREE1"
#define HEADER 16
#define CATCH_UP_CHUNK 65536   /* records per write while rebuilding from the log */

struct tms_tree {
    char dir[4200];            /* DIR/tree */
    int fd;
    int writer;
    tms_tlog_range range;      /* the writer's committed right edge */
    tms_tlog_range staged;     /* ... with the staged leaves */
    uint64_t count;            /* stored hashes written (the writer's) */
    tms_tlog_hash *pend;       /* staged stored hashes */
    size_t npend, cap;
    int behind;                /* a write failed: the tree lags the log until tms_tree_catch_up */
};

static tms_err errno_err(int e) { return e == ENOSPC || e == EDQUOT ? TMS_E_NOSPACE : TMS_E_IO; }

static tms_err read_hashes(void *ctx, const uint64_t *idx, size_t n, tms_tlog_hash *out)
{
    tms_tree *t = ctx;
    for (size_t i = 0; i < n; i++) {
        ssize_t r = pread(t->fd, out[i], TMS_TLOG_HASH, (off_t)(HEADER + idx[i] * TMS_TLOG_HASH));
        if (r != TMS_TLOG_HASH)
            return r < 0 ? TMS_E_IO : TMS_NOT_FOUND;
    }
    return TMS_OK;
}

static tms_tlog_reader reader_of(tms_tree *t) { return (tms_tlog_reader){read_hashes, t}; }

static uint64_t file_count(tms_tree *t)
{
    struct stat st;
    if (fstat(t->fd, &st) != 0 || st.st_size < HEADER)
        return 0;
    return ((uint64_t)st.st_size - HEADER) / TMS_TLOG_HASH;
}

uint64_t tms_tree_size(tms_tree *t) { return tms_tlog_size_for_count(file_count(t)); }

static tms_tree *tree_new(const char *datadir)
{
    tms_tree *t = calloc(1, sizeof *t);
    if (t) {
        t->fd = -1;
        snprintf(t->dir, sizeof t->dir, "%s/tree", datadir);
    }
    return t;
}

static int header_ok(int fd)
{
    char h[HEADER];
    return pread(fd, h, HEADER, 0) == HEADER && !memcmp(h, MAGIC, 8) && h[8] == 1 &&
           !memcmp(h + 9, "\0\0\0\0\0\0\0", 7);
}

tms_err tms_tree_open_reader(const char *datadir, tms_tree **out, char *why, size_t whylen)
{
    char path[4300];
    tms_tree *t = tree_new(datadir);
    *out = NULL;
    if (!t)
        return TMS_E_NOMEM;
    snprintf(path, sizeof path, "%s/hashes", t->dir);
    if ((t->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        int e = errno;
        snprintf(why, whylen, "%s: %s", path, e == ENOENT ? "no Merkle tree yet (a writer builds it when it opens "
                                                            "the directory: tmsd, or tmsctl --data)" : strerror(e));
        tms_tree_close(t);
        return e == ENOENT ? TMS_NOT_FOUND : TMS_E_IO;
    }
    if (!header_ok(t->fd)) {
        snprintf(why, whylen, "%s: not a tree file of this version", path);
        tms_tree_close(t);
        return TMS_E_CORRUPT;
    }
    *out = t;
    return TMS_OK;
}

tms_err tms_tree_root(tms_tree *t, uint64_t size, tms_tlog_hash out)
{
    tms_tlog_reader r = reader_of(t);
    if (size > tms_tree_size(t))
        return TMS_NOT_FOUND;
    return tms_tlog_tree_hash(size, &r, out);
}

tms_err tms_tree_prove_inclusion(tms_tree *t, uint64_t size, uint64_t n, tms_tlog_hash proof[TMS_TLOG_MAX_PROOF],
                                 size_t *len)
{
    tms_tlog_reader r = reader_of(t);
    if (size > tms_tree_size(t))
        return TMS_NOT_FOUND;
    return tms_tlog_prove_inclusion(size, n, &r, proof, len);
}

tms_err tms_tree_prove_consistency(tms_tree *t, uint64_t old, uint64_t size, tms_tlog_hash proof[TMS_TLOG_MAX_PROOF],
                                   size_t *len)
{
    tms_tlog_reader r = reader_of(t);
    if (size > tms_tree_size(t))
        return TMS_NOT_FOUND;
    return tms_tlog_prove_consistency(old, size, &r, proof, len);
}

tms_err tms_tree_extends(tms_tree *t, uint64_t old, const tms_tlog_hash old_root, uint64_t size,
                         const tms_tlog_hash root, char *why, size_t whylen)
{
    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF];
    size_t n = 0;
    if (old > size) {
        snprintf(why, whylen, "a checkpoint of size %llu was signed, the tree has %llu records now (the log was cut "
                 "below it)", (unsigned long long)old, (unsigned long long)size);
        return TMS_E_CORRUPT;
    }
    tms_err err = old ? tms_tree_prove_consistency(t, old, size, proof, &n) : TMS_OK;
    if (err)
        return err == TMS_E_INVAL ? TMS_E_CORRUPT : err;
    if (old && !tms_tlog_check_consistency(old, size, old_root, root, (const tms_tlog_hash *)proof, n)) {
        snprintf(why, whylen, "the tree of %llu records does not extend the signed checkpoint of size %llu (a "
                 "damaged tree file, or a log rewritten below it)", (unsigned long long)size, (unsigned long long)old);
        return TMS_E_CORRUPT;
    }
    return TMS_OK;
}

tms_err tms_tree_read_hash(tms_tree *t, uint64_t i, tms_tlog_hash out)
{
    return read_hashes(t, &i, 1, (tms_tlog_hash *)out);
}

tms_err tms_tree_read_run(tms_tree *t, uint64_t first, size_t n, tms_tlog_hash *out, size_t *got)
{
    size_t bytes = n * TMS_TLOG_HASH, done = 0;
    *got = 0;
    while (done < bytes) {
        ssize_t r = pread(t->fd, (uint8_t *)out + done, bytes - done, (off_t)(HEADER + first * TMS_TLOG_HASH + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return TMS_E_IO;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done / TMS_TLOG_HASH;
    return TMS_OK;
}

/* ---- DIR/tree/state ----------------------------------------------------------------------- */

static void read_state(const char *dir, char *boot, size_t bootlen, uint64_t *synced)
{
    char path[4300], line[160];
    snprintf(path, sizeof path, "%s/state", dir);
    FILE *f = fopen(path, "r");
    boot[0] = '\0';
    *synced = 0;
    if (!f)
        return;
    if (fgets(line, sizeof line, f) && !strcmp(line, "tmsperm-tree 1\n"))
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            if (!strncmp(line, "boot ", 5) && strlen(line + 5) < bootlen)
                memcpy(boot, line + 5, strlen(line + 5) + 1);
            else if (!strncmp(line, "synced ", 7))
                *synced = strtoull(line + 7, NULL, 10);
        }
    fclose(f);
}

static tms_err write_state(const char *dir, uint64_t synced)
{
    char boot[64], text[200];
    tms__boot_id(boot, sizeof boot);
    int n = snprintf(text, sizeof text, "tmsperm-tree 1\nboot %s\nsynced %llu\n", boot, (unsigned long long)synced);
    int e = tms_replace_file(dir, "state", text, (size_t)n);
    return e ? errno_err(e) : TMS_OK;
}

tms_err tms_tree_flush(tms_tree *t, uint64_t synced)
{
    char boot[64];
    uint64_t was;
    if (fdatasync(t->fd) != 0)
        return errno_err(errno);
    read_state(t->dir, boot, sizeof boot, &was);
    return synced > was ? write_state(t->dir, synced) : TMS_OK;
}

/* ---- the writer --------------------------------------------------------------------------- */

tms_err tms_tree_stage(tms_tree *t, const void *payload, size_t len)
{
    tms_tlog_hash leaf;
    tms_tlog_leaf_hash(payload, len, leaf);
    return tms_tree_stage_leaf(t, leaf);
}

tms_err tms_tree_stage_leaf(tms_tree *t, const tms_tlog_hash leaf)
{
    tms_tlog_hash out[65];
    size_t k;
    if (t->npend + 65 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        tms_tlog_hash *p = realloc(t->pend, cap * sizeof *p);
        if (!p)
            return TMS_E_NOMEM;
        t->pend = p;
        t->cap = cap;
    }
    tms_tlog_range_push(&t->staged, leaf, out, &k);
    memcpy(t->pend + t->npend, out, k * sizeof *out);
    t->npend += k;
    return TMS_OK;
}

void tms_tree_discard(tms_tree *t)
{
    t->npend = 0;
    t->staged = t->range;
}

tms_err tms_tree_commit(tms_tree *t)
{
    const uint8_t *p = (const uint8_t *)t->pend;
    size_t left = t->npend * TMS_TLOG_HASH;
    off_t at = (off_t)(HEADER + t->count * TMS_TLOG_HASH);
    if (t->behind) {   /* the staged hashes would land at the wrong place: catch up first */
        tms_tree_discard(t);
        return TMS_E_IO;
    }
    while (left) {
        ssize_t w = pwrite(t->fd, p, left, at);
        if (w <= 0) {
            tms_err err = errno_err(w < 0 ? errno : ENOSPC);
            if (ftruncate(t->fd, (off_t)(HEADER + t->count * TMS_TLOG_HASH)) != 0) {
                /* the file keeps a partial tail; the next open cuts it to whole records */
            }
            tms_tree_discard(t);
            t->behind = 1;
            return err;
        }
        p += w;
        left -= (size_t)w;
        at += w;
    }
    t->count += t->npend;
    t->range = t->staged;
    t->npend = 0;
    return TMS_OK;
}

int tms_tree_behind(const tms_tree *t) { return t->behind; }

void tms_tree_head(const tms_tree *t, uint64_t *size, tms_tlog_hash root)
{
    *size = t->range.size;
    tms_tlog_range_root(&t->range, root);
}

void tms_tree_edge(const tms_tree *t, tms_tlog_range *out) { *out = t->range; }

tms_err tms_tree_sync(tms_tree *t)
{
    if (fdatasync(t->fd) != 0)
        return errno_err(errno);
    return write_state(t->dir, t->range.size);
}

/* Cut the file to the hashes of `size` records and load the right edge there. */
static tms_err cut_to(tms_tree *t, uint64_t size)
{
    tms_tlog_reader r = reader_of(t);
    t->count = tms_tlog_stored_count(size);
    if (ftruncate(t->fd, (off_t)(HEADER + t->count * TMS_TLOG_HASH)) != 0)
        return errno_err(errno);
    tms_err err = tms_tlog_range_load(&t->range, size, &r);
    t->staged = t->range;
    t->npend = 0;
    return err;
}

tms_err tms_tree_catch_up(tms_tree *t, const char *logdir, uint64_t log_last, char *why, size_t whylen)
{
    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has = 1;
    tms_err err;
    t->behind = 0;
    if ((err = cut_to(t, t->range.size)))   /* a failed write may have left a partial tail */
        goto out;
    if (t->range.size >= log_last)
        goto out;
    if ((err = tms_log_iter_open_flags(logdir, t->range.size + 1, TMS_LOG_ITER_CHAIN_CHECKED, &it, NULL))) {
        snprintf(why, whylen, "tree: cannot read the log: %s", tms_strerror(err));
        goto out;
    }
    while (t->range.size < log_last) {
        if ((err = tms_log_iter_next(it, &rec, &has)) || !has || rec.seq != t->staged.size + 1) {
            snprintf(why, whylen, "tree: the log ends or breaks at seq %llu before %llu%s%s",
                     (unsigned long long)t->staged.size + 1, (unsigned long long)log_last, err ? ": " : "",
                     err ? tms_log_iter_report(it)->msg : "");
            err = err ? err : TMS_E_CORRUPT;
            goto out;
        }
        if ((err = tms_tree_stage(t, rec.payload, rec.len)))
            goto out;
        if ((t->staged.size % CATCH_UP_CHUNK == 0 || t->staged.size == log_last) && (err = tms_tree_commit(t)))
            goto out;
    }
out:
    if (err) {
        tms_tree_discard(t);
        t->behind = 1;
        if (!why[0])
            snprintf(why, whylen, "tree: %s", tms_strerror(err));
    }
    tms_log_iter_close(it);
    return err;
}

tms_err tms_tree_rebuild(tms_tree *t, const char *logdir, uint64_t log_last, char *why, size_t whylen)
{
    uint64_t base;
    uint8_t head[TMS_LOG_HASH_LEN];
    tms_err err = tms_log_base(logdir, &base, head, why, whylen);
    if (!err && base) {
        snprintf(why, whylen, "tree: the hashes of records 1..%llu cannot be computed again: the log starts after "
                 "them (a directory seeded from a snapshot; seed it again)", (unsigned long long)base);
        err = TMS_E_CORRUPT;
    }
    if (!err)
        err = cut_to(t, 0);
    return err ? err : tms_tree_catch_up(t, logdir, log_last, why, whylen);
}

tms_err tms_tree_check_signed(tms_tree *t, const char *datadir, const char *logdir, uint64_t log_last, char *said,
                              size_t saidlen)
{
    char why[300], *note = NULL;
    size_t len;
    tms_checkpoint cp;
    tms_tlog_hash root;
    const char *what = NULL;
    said[0] = '\0';
    if (tms_checkpoints_find(datadir, 0, &note, &len, why, sizeof why) != TMS_OK ||
        tms_checkpoint_open(note, len, NULL, &cp, why, sizeof why) != TMS_OK) {
        free(note);
        return TMS_OK;   /* none, or unreadable: tms-audit verify says so; nothing to compare with */
    }
    free(note);
    if (cp.size > log_last) {
        what = "the log ends before its latest signed checkpoint (records lost after they were signed)";
    } else if (tms_tree_root(t, cp.size, root) == TMS_OK && sodium_memcmp(root, cp.root, sizeof root)) {
        tms_err err = tms_tree_rebuild(t, logdir, log_last, why, sizeof why);
        if (err) {
            snprintf(said, saidlen, "the Merkle tree does not match the latest signed checkpoint (size %llu) and %s",
                     (unsigned long long)cp.size, why);
            return err;
        }
        what = tms_tree_root(t, cp.size, root) == TMS_OK && sodium_memcmp(root, cp.root, sizeof root)
                   ? "the log does not match its latest signed checkpoint (rewritten below it); its tree was rebuilt"
                   : "the Merkle tree did not match the latest signed checkpoint (damaged): rebuilt from the log";
    }
    if (what)
        snprintf(said, saidlen, "%s (size %llu)", what, (unsigned long long)cp.size);
    return TMS_OK;
}

/* Does the stored leaf of record `size` (1-based seq) hash the log's record? */
static int last_leaf_matches(tms_tree *t, const char *logdir, uint64_t seq)
{
    tms_log_iter *it = NULL;
    tms_log_record rec;
    tms_tlog_hash mine, stored;
    int has = 0, ok = 0;
    if (tms_log_iter_open_flags(logdir, seq, TMS_LOG_ITER_CHAIN_CHECKED, &it, NULL) == TMS_OK &&
        tms_log_iter_next(it, &rec, &has) == TMS_OK && has && rec.seq == seq &&
        tms_tree_read_hash(t, tms_tlog_stored_index(0, seq - 1), stored) == TMS_OK) {
        tms_tlog_leaf_hash(rec.payload, rec.len, mine);
        ok = !memcmp(mine, stored, TMS_TLOG_HASH);
    }
    tms_log_iter_close(it);
    return ok;
}

/* The file's header: written when the file is new (or shorter than one). 0 or an errno. */
static int ensure_header(int fd)
{
    struct stat st;
    char h[HEADER] = MAGIC "\x01";
    if (fstat(fd, &st) != 0)
        return errno;
    if (st.st_size >= HEADER && header_ok(fd))
        return 0;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, h, HEADER, 0) != HEADER)
        return errno ? errno : EIO;
    return 0;
}

tms_err tms_tree_open_writer(const char *datadir, const char *logdir, uint64_t log_last, tms_tree **out,
                             uint64_t *rebuilt, char *why, size_t whylen)
{
    char path[4300], boot[64], now[64];
    uint64_t synced, believed;
    tms_err err = TMS_E_NOMEM;
    tms_tree *t = tree_new(datadir);
    *out = NULL;
    *rebuilt = 0;
    why[0] = '\0';
    if (!t)
        goto fail;
    t->writer = 1;
    snprintf(path, sizeof path, "%s/hashes", t->dir);
    err = TMS_E_IO;
    if ((mkdir(t->dir, 0750) != 0 && errno != EEXIST) || (t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0 ||
        (errno = ensure_header(t->fd)) != 0) {
        snprintf(why, whylen, "tree: %s: %s", path, strerror(errno));
        goto fail;
    }
    believed = tms_tree_size(t);
    read_state(t->dir, boot, sizeof boot, &synced);
    tms__boot_id(now, sizeof now);
    if (!now[0] || strcmp(now, boot))   /* another boot: only what was synced survived for sure */
        believed = believed < synced ? believed : synced;
    if (believed > log_last)            /* the log was cut (a loss accepted): its tail is other records now */
        believed = log_last;
    uint64_t base;                      /* a seeded log starts after base: the tree's first base leaves are */
    uint8_t head[TMS_LOG_HASH_LEN];     /* the seed's, checked against a signed checkpoint (tms_tree_seed) */
    if ((err = tms_log_base(logdir, &base, head, why, whylen)))
        goto fail;
    if (believed < base) {
        snprintf(why, whylen, "tree: %s holds the hashes of %llu records, fewer than the %llu the log starts after "
                 "(a directory seeded from a snapshot): seed it again", path, (unsigned long long)believed,
                 (unsigned long long)base);
        err = TMS_E_CORRUPT;
        goto fail;
    }
    if (believed > base && !last_leaf_matches(t, logdir, believed))
        believed = base;                /* not this log's tree: rebuilt whole (after the seed's leaves) */
    if ((err = cut_to(t, believed))) {
        snprintf(why, whylen, "tree: cannot cut %s: %s", path, tms_strerror(err));
        goto fail;
    }
    if ((err = tms_tree_catch_up(t, logdir, log_last, why, whylen)))
        goto fail;
    *rebuilt = log_last - believed;
    if ((err = tms_tree_sync(t))) {
        snprintf(why, whylen, "tree: cannot sync %s: %s", path, tms_strerror(err));
        goto fail;
    }
    *out = t;
    return TMS_OK;
fail:
    if (t)
        t->writer = 0;   /* nothing to record of a tree that did not open */
    tms_tree_close(t);
    return err;
}

tms_err tms_tree_seed(const char *datadir, tms_tree_leaf_fn next, void *ctx, uint64_t size,
                      const tms_tlog_hash root, char *why, size_t whylen)
{
    char path[4300];
    tms_tlog_hash leaf, got;
    tms_err err = TMS_E_IO;
    tms_tree *t = tree_new(datadir);
    why[0] = '\0';
    if (!t)
        return TMS_E_NOMEM;
    snprintf(path, sizeof path, "%s/hashes", t->dir);
    if ((mkdir(t->dir, 0750) != 0 && errno != EEXIST) ||
        (t->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) < 0 || (errno = ensure_header(t->fd)) != 0) {
        snprintf(why, whylen, "tree: %s: %s", path, strerror(errno));
        goto out;
    }
    t->writer = 1;
    for (uint64_t i = 0; i < size; i++) {
        if ((err = next(ctx, i, leaf)) || (err = tms_tree_stage_leaf(t, leaf)) ||
            ((t->staged.size % CATCH_UP_CHUNK == 0 || t->staged.size == size) && (err = tms_tree_commit(t)))) {
            if (!why[0])
                snprintf(why, whylen, "tree: leaf %llu: %s", (unsigned long long)i, tms_strerror(err));
            goto out;
        }
    }
    tms_tlog_range_root(&t->range, got);
    if (t->range.size != size || sodium_memcmp(got, root, TMS_TLOG_HASH) != 0) {
        snprintf(why, whylen, "tree: the %llu leaves given do not have the root expected", (unsigned long long)size);
        err = TMS_E_CORRUPT;
        goto out;
    }
    if ((err = tms_tree_sync(t)))
        snprintf(why, whylen, "tree: cannot sync %s: %s", path, tms_strerror(err));
out:
    if (err) {
        t->writer = 0;
        if (t->fd >= 0)
            unlink(path);   /* created here: nothing half-seeded stays */
    }
    tms_tree_close(t);
    return err;
}

void tms_tree_close(tms_tree *t)
{
    if (!t)
        return;
    if (t->writer && t->fd >= 0 && !t->behind)
        tms_tree_sync(t);   /* best effort: the next open believes the synced size after a reboot */
    if (t->fd >= 0)
        close(t->fd);
    free(t->pend);
    free(t);
}
