/* snapshots.c -- snapshot files of the writer's state (snapshots.h). */
#include "snapshots.h"
#include "io.h"
#include "log.h"
#include "log_internal.h"
#include "store_internal.h"
#include "snapshot.h"
#include "snapshot_parts.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "TMSSNAP1"
#define VERSION 5           /* the payload followed by its parts table (snapshot_parts.h) */
#define VERSION_NO_TABLE 4  /* the same but for the table: read whole, as this version's */
#define VERSION_EARLIER 2   /* 2 and 3: 4's layout; 2's proj_digest from before projection digests went by
                               tenant, 3's state digest from before state digests did */
#define HEADER (8 + 4 + 4 + 8 + 32 + 32 + 8 + 32 + 16 + 8 + 32 + 4)
#define MAX_PAYLOAD ((uint64_t)1 << 40)
#define SYNC_EVERY ((size_t)256 << 10)   /* written and synced in pieces: see tms_snapshot_write */

static void dir_of(const char *datadir, char *out, size_t len) { snprintf(out, len, "%s/snapshots", datadir); }

static void name_of(const char *datadir, uint64_t seq, const char *suffix, char *out, size_t len)
{
    snprintf(out, len, "%s/snapshots/%020llu.snap%s", datadir, (unsigned long long)seq, suffix);
}

static size_t header_of(const tms_snapshot_meta *m, uint64_t len, uint8_t h[HEADER])
{
    memset(h, 0, HEADER);
    memcpy(h, MAGIC, 8);
    tms_put_le32(h + 8, VERSION);
    tms_put_le32(h + 12, m->schema);
    tms_put_le64(h + 16, m->seq);
    memcpy(h + 24, m->head, 32);
    memcpy(h + 56, m->root, 32);
    tms_put_le64(h + 88, (uint64_t)m->time);
    memcpy(h + 96, m->digest, 32);
    memcpy(h + 128, m->build, strnlen(m->build, 15));   /* NUL-padded to 16 (h is zeroed) */
    tms_put_le64(h + 144, len);
    memcpy(h + 152, m->proj_digest, 32);
    return HEADER - 4;   /* the CRC's place */
}

/* Every system call here goes through storage's I/O table (io.h; the
 * default one: NULL), so a test can fail or stop at each. */
static int fsync_dir(const char *dir)
{
    return tms_io_fsync_dir(NULL, AT_FDCWD, dir);
}

/* Remove all but the newest TMS_SNAPSHOT_KEEP (best effort: an old snapshot left over costs disk, not truth),
 * and never the one a seeded directory's log starts after (log.h, "base"): its open's last resort, what
 * tms-audit verify starts from, and its signed note what another replica may be seeded from. */
static void prune(const char *datadir)
{
    uint64_t *seqs = NULL, base = 0;
    uint8_t head[TMS_LOG_HASH_LEN];
    size_t n = 0;
    char path[4300], why[300];
    snprintf(path, sizeof path, "%s/log", datadir);
    if (tms_log_base(path, &base, head, why, sizeof why) != TMS_OK)
        return;   /* a damaged base: nothing is removed */
    if (tms_snapshot_list(datadir, &seqs, &n) == TMS_OK)
        for (size_t i = TMS_SNAPSHOT_KEEP; i < n; i++) {
            if (seqs[i] == base)
                continue;
            name_of(datadir, seqs[i], "", path, sizeof path);
            tms_io_unlinkat(NULL, AT_FDCWD, path, 0);
            tms_snapshot_note_remove(datadir, seqs[i]);
        }
    free(seqs);
}

/* Sleep until `done` bytes at `rate` bytes per second from t0 are due (rate 0: never). */
static void pace(const struct timespec *t0, uint64_t done, uint64_t rate)
{
    struct timespec now, d;
    if (!rate)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double due = (double)done / (double)rate - ((double)(now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9);
    if (due <= 0)
        return;
    d.tv_sec = (time_t)due;
    d.tv_nsec = (long)((due - (double)d.tv_sec) * 1e9);
    while (nanosleep(&d, &d) != 0 && errno == EINTR)
        ;
}

/* The header h, payload[0..len) and table[0..tlen) into fd, then fsync: in pieces of
 * SYNC_EVERY, each fdatasynced, at most rate bytes a second (0: as fast as
 * the disk goes). 0, or the errno of the failure. */
static int write_parts(int fd, const uint8_t *h, const void *payload, size_t len, const uint8_t *table, size_t tlen,
                       uint64_t rate)
{
    struct timespec t0;
    const uint8_t *parts[3] = {h, payload, table};
    size_t lens[3] = {HEADER, len, tlen}, unsynced = 0;
    uint64_t done = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 3; i++)
        for (size_t off = 0; off < lens[i];) {
            size_t n = lens[i] - off < SYNC_EVERY ? lens[i] - off : SYNC_EVERY;
            ssize_t w = tms_io_write(NULL, fd, parts[i] + off, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return w < 0 ? errno : ENOSPC;
            off += (size_t)w;
            if ((unsynced += (size_t)w) >= SYNC_EVERY) {
                done += unsynced;
                unsynced = 0;   /* a log fdatasync never waits behind more than this of ours */
                if (tms_io_fdatasync(NULL, fd) != 0)
                    return errno;
                pace(&t0, done, rate);
            }
        }
    return tms_io_fsync(NULL, fd) != 0 ? errno : 0;
}

static tms_err write_dir(const char *datadir, tms_snapshot_meta *meta, int set_digest, const void *payload,
                         size_t len, uint64_t bytes_per_sec, char *why, size_t whylen);

tms_err tms_snapshot_write(const char *datadir, const tms_snapshot_meta *meta, const void *payload, size_t len,
                           char *why, size_t whylen)
{
    tms_snapshot_meta m = *meta;
    return write_dir(datadir, &m, 0, payload, len, 0, why, whylen);
}

tms_err tms_snapshot_write_paced(const char *datadir, tms_snapshot_meta *meta, const void *payload, size_t len,
                                 uint64_t bytes_per_sec, char *why, size_t whylen)
{
    return write_dir(datadir, meta, 1, payload, len, bytes_per_sec, why, whylen);
}

/* The header h (its CRC sealed) and the parts table (with its footer: snapshot_parts.h) of the file of meta
 * and payload[0..len), the table malloc'd into *table, *tlen bytes; with set_digest, meta->digest set to the
 * payload's (the parts are hashed once, for both), else checked against it. TMS_OK; TMS_E_INVAL with why when
 * the payload is not a state's encoding or meta's digest is not its digest (a file no reader would take);
 * TMS_E_NOMEM. */
static tms_err prepare(tms_snapshot_meta *meta, int set_digest, const void *payload, size_t len, uint8_t h[HEADER],
                       uint8_t **table, size_t *tlen, char *why, size_t whylen)
{
    tms_snapshot_index ix;
    uint8_t digest[32];
    *table = NULL;
    tms_err err = tms_state_snapshot_index(payload, len, &ix, NULL, 0);
    if (err) {
        snprintf(why, whylen, "snapshot of seq %llu: %s", (unsigned long long)meta->seq,
                 err == TMS_E_NOMEM ? "out of memory" : "its payload is not a state's encoding");
        return err == TMS_E_NOMEM ? err : TMS_E_INVAL;
    }
    tms_snapshot_index_hash(payload, &ix);
    tms_snapshot_index_digest(&ix, digest);
    if (set_digest)
        memcpy(meta->digest, digest, 32);
    if (sodium_memcmp(digest, meta->digest, 32)) {
        snprintf(why, whylen, "snapshot of seq %llu: its digest is not its payload's", (unsigned long long)meta->seq);
        err = TMS_E_INVAL;
    } else if ((err = tms__parts_table_encode(&ix, table, tlen)) != TMS_OK) {
        snprintf(why, whylen, "snapshot of seq %llu: out of memory", (unsigned long long)meta->seq);
    }
    tms_snapshot_index_free(&ix);
    if (err)
        return err;
    size_t hl = header_of(meta, len, h);
    tms_put_le32(h + hl, tms_crc32c(tms_crc32c(tms_crc32c(0, h, hl), payload, len), *table, *tlen));
    return TMS_OK;
}

static tms_err write_dir(const char *datadir, tms_snapshot_meta *meta, int set_digest, const void *payload,
                         size_t len, uint64_t bytes_per_sec, char *why, size_t whylen)
{
    char dir[4200], tmp[4300], path[4300];
    uint8_t h[HEADER], *table;
    size_t tlen;
    int fd = -1, e = 0;
    tms_err err = prepare(meta, set_digest, payload, len, h, &table, &tlen, why, whylen);
    if (err)
        return err;
    dir_of(datadir, dir, sizeof dir);
    name_of(datadir, meta->seq, "", path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s/.snapshot.tmp", dir);
    int made = tms_io_mkdirat(NULL, AT_FDCWD, dir, 0750) == 0;
    if (!made && errno != EEXIST)
        e = errno;
    else if (made && fsync_dir(datadir) != 0)   /* DIR/snapshots itself must survive a crash, with what it holds */
        e = errno;
    else if ((fd = tms_io_openat(NULL, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
        e = errno;
    if (!e)
        e = write_parts(fd, h, payload, len, table, tlen, bytes_per_sec);
    if (fd >= 0 && tms_io_close(NULL, fd) != 0 && !e)
        e = errno;
    if (!e && (tms_io_renameat(NULL, AT_FDCWD, tmp, AT_FDCWD, path) != 0 || fsync_dir(dir) != 0))
        e = errno;
    free(table);
    if (e) {
        tms_io_unlinkat(NULL, AT_FDCWD, tmp, 0);
        snprintf(why, whylen, "snapshot %s: %s", path, strerror(e));
        return e == ENOSPC || e == EDQUOT ? TMS_E_NOSPACE : TMS_E_IO;
    }
    prune(datadir);
    return TMS_OK;
}

static int by_seq_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y;
}

tms_err tms_snapshot_list(const char *datadir, uint64_t **seqs, size_t *n)
{
    char dir[4200];
    struct dirent *de;
    size_t cap = 0;
    *seqs = NULL;
    *n = 0;
    dir_of(datadir, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? TMS_OK : TMS_E_IO;
    while ((de = readdir(d))) {
        const char *s = de->d_name;
        if (strlen(s) != 25 || strspn(s, "0123456789") != 20 || strcmp(s + 20, ".snap"))
            continue;
        if (*n == cap) {
            uint64_t *p = realloc(*seqs, (cap = cap ? cap * 2 : 8) * sizeof *p);
            if (!p) {
                closedir(d);
                free(*seqs);
                *seqs = NULL;
                *n = 0;
                return TMS_E_NOMEM;
            }
            *seqs = p;
        }
        (*seqs)[(*n)++] = strtoull(s, NULL, 10);
    }
    closedir(d);
    if (*n)
        qsort(*seqs, *n, sizeof **seqs, by_seq_desc);
    return TMS_OK;
}

/* Check header h (of a file of `size` bytes) into m, *len (the payload's) and *version: NULL, or why not. */
static const char *parse_header(const uint8_t *h, uint64_t size, uint64_t seq, tms_snapshot_meta *m, uint64_t *len,
                                uint32_t *version)
{
    uint32_t v = size < HEADER ? 0 : tms_get_le32(h + 8);
    if (size < HEADER || memcmp(h, MAGIC, 8) || v < VERSION_EARLIER || v > VERSION || h[143] != 0)
        return "not a snapshot of this version";
    /* an earlier version's file (its projection digest of another kind) reads as another schema's: no one uses
       it (a writer sets it aside, verify does not compare it), and it is not damage */
    m->schema = v >= VERSION_NO_TABLE ? tms_get_le32(h + 12) : 0;
    *version = v;
    memcpy(m->build, h + 128, 16);
    m->seq = tms_get_le64(h + 16);
    memcpy(m->head, h + 24, 32);
    memcpy(m->root, h + 56, 32);
    m->time = (int64_t)tms_get_le64(h + 88);
    memcpy(m->digest, h + 96, 32);
    *len = tms_get_le64(h + 144);
    memcpy(m->proj_digest, h + 152, 32);
    if (m->seq != seq)
        return "its seq is not its name's";
    uint64_t room = size - HEADER, after = v == VERSION ? TMS__PARTS_FOOTER : 0;   /* the table, at least its footer */
    if (*len > MAX_PAYLOAD || room < after || (v == VERSION ? *len > room - after : *len != room))
        return "its length is not the file's (truncated or grown)";
    return NULL;
}

/* The table and footer t[0..tlen) after a payload of plen bytes: *ix, or why not (TMS_E_CORRUPT), TMS_E_NOMEM. */
static tms_err table_of(const uint8_t *t, size_t tlen, uint64_t plen, tms_snapshot_index *ix, const char **bad)
{
    *bad = NULL;
    memset(ix, 0, sizeof *ix);
    if (tlen < TMS__PARTS_FOOTER || tms_get_le32(t + tlen - 8) != tlen - TMS__PARTS_FOOTER)
        return *bad = "its length is not the file's (truncated or grown)", TMS_E_CORRUPT;
    tlen -= TMS__PARTS_FOOTER;
    if (tms_crc32c(0, t, tlen) != tms_get_le32(t + tlen + 4))
        return *bad = "its parts table's checksum fails", TMS_E_CORRUPT;
    return tms__parts_table_decode(t, tlen, plen, ix, bad);
}

/* Room for n bytes, for free() (store_internal.h): a snapshot's payload (a
 * 136 MB one took 33 000 faults on 4 KiB pages), the tally's table. */
void *tms__big_alloc(uint64_t n)
{
    const size_t huge = 2u << 20;
    if (n < huge)
        return malloc(n ? n : 1);
    uint8_t *p = aligned_alloc(huge, (n + huge - 1) & ~(uint64_t)(huge - 1));
#ifdef MADV_HUGEPAGE
    if (p)
        (void)madvise(p, n, MADV_HUGEPAGE);   /* advice: refused or ignored, the pages stay small */
#endif
    return p;
}

/* What read_path found wrong with a payload that read whole (its CRC good): its digest not its content's, or
 * (version 5) its parts table not its content's. NULL when it holds; ix, when given, gets the content's parts,
 * hashed. *err: TMS_E_NOMEM, else left. */
static const char *check_content(const uint8_t *payload, uint64_t plen, const uint8_t *table, size_t tlen,
                                 const tms_snapshot_meta *m, tms_snapshot_index *ix_out, tms_err *err)
{
    tms_snapshot_index ix, tix;
    uint8_t digest[32];
    const char *bad = NULL;
    memset(&tix, 0, sizeof tix);
    tms_err e = tms_state_snapshot_index(payload, (size_t)plen, &ix, NULL, 0);
    if (e)
        return e == TMS_E_NOMEM ? (*err = e, "out of memory") : "its state digest is not its content's";
    tms_snapshot_index_hash(payload, &ix);
    tms_snapshot_index_digest(&ix, digest);
    if (sodium_memcmp(digest, m->digest, 32))
        bad = "its state digest is not its content's";
    else if (table && (e = table_of(table, tlen, plen, &tix, &bad)) == TMS_E_NOMEM)
        bad = (*err = e, "out of memory");
    else if (table && !bad && !tms__parts_same(&ix, &tix))
        bad = "its parts table is not its content's";
    tms_snapshot_index_free(&tix);
    if (!bad && ix_out)
        *ix_out = ix;
    else
        tms_snapshot_index_free(&ix);
    return bad;
}

/* The snapshot file at path: its header (its seq must be seq, or with
 * by_name 0 is its own), length, CRC, digest and parts table checked
 * (tms_snapshot_read); ix, when given, gets its parts, hashed. */
static tms_err read_path(const char *path, int by_name, uint64_t seq, tms_snapshot_meta *meta, uint8_t **payload,
                         size_t *len, tms_snapshot_index *ix, char *why, size_t whylen)
{
    uint8_t h[HEADER], *table = NULL;
    struct stat st;
    uint64_t plen = 0;
    uint32_t version = 0;
    size_t tlen = 0;
    tms_err err = TMS_E_CORRUPT;
    const char *bad = NULL;
    *payload = NULL;
    memset(h, 0, sizeof h);   /* a file shorter than a header is refused by parse_header, h unread */
    int fd = tms_io_openat(NULL, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        err = errno == ENOENT ? TMS_NOT_FOUND : TMS_E_IO;
        snprintf(why, whylen, "snapshot %s: %s", path, strerror(errno));
        return err;
    }
    if (fstat(fd, &st) != 0 || (st.st_size >= HEADER && tms_io_pread(NULL, fd, h, HEADER, 0) != HEADER)) {
        err = TMS_E_IO;
        bad = strerror(errno);
    } else if (!(bad = parse_header(h, (uint64_t)st.st_size, by_name ? seq : tms_get_le64(h + 16), meta, &plen,
                                    &version)) &&
               (!(*payload = tms__big_alloc(plen)) ||
                !(table = malloc((tlen = (size_t)((uint64_t)st.st_size - HEADER - plen)) + 1)))) {
        err = TMS_E_NOMEM;
        bad = "out of memory";
    } else if (!bad && (tms_io_pread(NULL, fd, *payload, plen, HEADER) != (ssize_t)plen ||
                        tms_io_pread(NULL, fd, table, tlen, HEADER + (off_t)plen) != (ssize_t)tlen)) {
        err = TMS_E_IO;
        bad = "cannot read it";
    } else if (!bad && version == VERSION &&
               (tlen < TMS__PARTS_FOOTER || tms_get_le32(table + tlen - 8) != tlen - TMS__PARTS_FOOTER)) {
        bad = "its length is not the file's (truncated or grown)";   /* its table's, as its footer says it */
    } else if (!bad && tms_crc32c(tms_crc32c(tms_crc32c(0, h, HEADER - 4), *payload, plen), table, tlen) !=
                           tms_get_le32(h + HEADER - 4)) {
        bad = "its checksum fails";
    } else if (!bad) {
        bad = check_content(*payload, plen, version == VERSION ? table : NULL, tlen, meta, ix, &err);
    }
    tms_io_close(NULL, fd);
    free(table);
    if (!bad) {
        *len = (size_t)plen;
        return TMS_OK;
    }
    free(*payload);
    *payload = NULL;
    snprintf(why, whylen, "snapshot %s: %s", path, bad);
    return err;
}

tms_err tms_snapshot_read(const char *datadir, uint64_t seq, tms_snapshot_meta *meta, uint8_t **payload,
                          size_t *len, char *why, size_t whylen)
{
    return tms_snapshot_read_index(datadir, seq, meta, payload, len, NULL, why, whylen);
}

tms_err tms_snapshot_read_index(const char *datadir, uint64_t seq, tms_snapshot_meta *meta, uint8_t **payload,
                                size_t *len, tms_snapshot_index *ix, char *why, size_t whylen)
{
    char path[4300];
    name_of(datadir, seq, "", path, sizeof path);
    return read_path(path, 1, seq, meta, payload, len, ix, why, whylen);
}

tms_err tms_snapshot_meta_read(const char *datadir, uint64_t seq, tms_snapshot_meta *meta)
{
    char path[4300];
    uint8_t h[HEADER];
    struct stat st;
    uint64_t len;
    uint32_t version;
    name_of(datadir, seq, "", path, sizeof path);
    int fd = tms_io_openat(NULL, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return errno == ENOENT ? TMS_NOT_FOUND : TMS_E_IO;
    int ok = fstat(fd, &st) == 0 && st.st_size >= HEADER && tms_io_pread(NULL, fd, h, HEADER, 0) == HEADER &&
             !parse_header(h, (uint64_t)st.st_size, seq, meta, &len, &version);
    tms_io_close(NULL, fd);
    return ok ? TMS_OK : TMS_E_CORRUPT;
}

tms_err tms_snapshot_set_aside(const char *datadir, uint64_t seq)
{
    char path[4300], bad[4300], dir[4200];
    name_of(datadir, seq, "", path, sizeof path);
    name_of(datadir, seq, ".bad", bad, sizeof bad);
    dir_of(datadir, dir, sizeof dir);
    if (tms_io_renameat(NULL, AT_FDCWD, path, AT_FDCWD, bad) != 0 && errno != ENOENT)
        return TMS_E_IO;
    tms_snapshot_note_remove(datadir, seq);   /* a note vouches for a snapshot that is no longer read */
    fsync_dir(dir);
    return TMS_OK;
}

/* ---- a snapshot file at a path of its own (an auditor's: tms-audit verify --receipt FILE writes FILE.state) ---- */

/* fsync the directory holding path: 0, or -1 with errno. */
static int fsync_dir_of(const char *path)
{
    char dir[4300];
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir)
        return errno = ENAMETOOLONG, -1;
    memcpy(dir, n ? path : ".", n ? n : 1);
    dir[n ? n : 1] = '\0';
    return fsync_dir(dir);
}

tms_err tms_snapshot_write_file(const char *path, const tms_snapshot_meta *meta, const void *payload, size_t len,
                                char *why, size_t whylen)
{
    char tmp[4300];
    uint8_t h[HEADER], *table;
    size_t tlen;
    int fd = -1, e = 0;
    tms_snapshot_meta m = *meta;
    tms_err err = prepare(&m, 0, payload, len, h, &table, &tlen, why, whylen);
    if (err)
        return err;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp)
        e = ENAMETOOLONG;
    else if ((fd = mkstemp(tmp)) < 0 || fchmod(fd, 0640) != 0)
        e = errno;
    if (!e)
        e = write_parts(fd, h, payload, len, table, tlen, 0);
    if (fd >= 0 && tms_io_close(NULL, fd) != 0 && !e)
        e = errno;
    if (!e && (tms_io_renameat(NULL, AT_FDCWD, tmp, AT_FDCWD, path) != 0 || fsync_dir_of(path) != 0))
        e = errno;
    free(table);
    if (e) {
        if (fd >= 0)
            tms_io_unlinkat(NULL, AT_FDCWD, tmp, 0);
        snprintf(why, whylen, "snapshot %s: %s", path, strerror(e));
        return e == ENOSPC || e == EDQUOT ? TMS_E_NOSPACE : TMS_E_IO;
    }
    return TMS_OK;
}

tms_err tms_snapshot_read_file(const char *path, tms_snapshot_meta *meta, uint8_t **payload, size_t *len,
                               char *why, size_t whylen)
{
    return read_path(path, 0, 0, meta, payload, len, NULL, why, whylen);   /* the seq is the header's own */
}

tms_err tms_snapshot_read_file_index(const char *path, tms_snapshot_meta *meta, uint8_t **payload, size_t *len,
                                     tms_snapshot_index *ix, char *why, size_t whylen)
{
    return read_path(path, 0, 0, meta, payload, len, ix, why, whylen);
}

/* Bytes [off, off + n) of the payload read from fd into payload + off and checked against hash: NULL, or why
 * not (*err TMS_E_IO when the read failed). */
static const char *read_part(int fd, uint8_t *payload, size_t off, size_t n, const uint8_t *hash, tms_err *err)
{
    uint8_t h[TMS_SNAPSHOT_DIGEST_LEN];
    if (tms_io_pread(NULL, fd, payload + off, n, HEADER + (off_t)off) != (ssize_t)n)
        return *err = TMS_E_IO, "cannot read it";
    tms_snapshot_part_hash(payload + off, n, h);
    return sodium_memcmp(h, hash, sizeof h) ? "a part is not the hash its parts table gives" : NULL;
}

/* read_file_parts' work on the open fd, after which the caller closes it: NULL, or why not (*err). */
static const char *read_parts(int fd, const char *const *tenants, size_t n, tms_snapshot_meta *meta,
                              uint8_t **payload, uint64_t *plen, tms_snapshot_index *ix, tms_err *err)
{
    uint8_t h[HEADER], digest[TMS_SNAPSHOT_DIGEST_LEN], *table = NULL;
    struct stat st;
    uint32_t version = 0;
    const char *bad;
    if (fstat(fd, &st) != 0 || (st.st_size >= HEADER && tms_io_pread(NULL, fd, h, HEADER, 0) != HEADER))
        return *err = TMS_E_IO, strerror(errno);
    if ((bad = parse_header(h, (uint64_t)st.st_size, st.st_size >= HEADER ? tms_get_le64(h + 16) : 0, meta, plen,
                            &version)))
        return bad;
    if (version != VERSION)
        return "it has no parts table (an earlier version's: read whole)";
    size_t tlen = (size_t)((uint64_t)st.st_size - HEADER - *plen);
    if (!(table = malloc(tlen)))
        return *err = TMS_E_NOMEM, "out of memory";
    if (tms_io_pread(NULL, fd, table, tlen, HEADER + (off_t)*plen) != (ssize_t)tlen)
        bad = (*err = TMS_E_IO, "cannot read it");
    else if ((*err = table_of(table, tlen, *plen, ix, &bad)) == TMS_E_NOMEM)
        bad = "out of memory";
    free(table);
    if (bad)
        return bad;
    *err = TMS_E_CORRUPT;
    tms_snapshot_index_digest(ix, digest);
    if (sodium_memcmp(digest, meta->digest, sizeof digest))
        return "its parts table is not its state digest's";
    if (!(*payload = calloc(*plen, 1)))   /* untouched pages cost nothing: only the parts read are */
        return *err = TMS_E_NOMEM, "out of memory";
    if ((bad = read_part(fd, *payload, 0, ix->global_len, ix->global_hash, err)))
        return bad;
    for (size_t k = 0; k < n; k++) {
        const tms_snapshot_section *t = tms_snapshot_index_find(ix, tenants[k]);
        if (t && (bad = read_part(fd, *payload, t->off, t->len, t->hash, err)))
            return bad;
    }
    return NULL;
}

tms_err tms_snapshot_read_file_parts(const char *path, const char *const *tenants, size_t n, tms_snapshot_meta *meta,
                                     uint8_t **payload, size_t *len, tms_snapshot_index *ix, char *why, size_t whylen)
{
    uint64_t plen = 0;
    tms_err err = TMS_E_CORRUPT;
    *payload = NULL;
    memset(ix, 0, sizeof *ix);
    int fd = tms_io_openat(NULL, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        err = errno == ENOENT ? TMS_NOT_FOUND : TMS_E_IO;
        snprintf(why, whylen, "snapshot %s: %s", path, strerror(errno));
        return err;
    }
    const char *bad = read_parts(fd, tenants, n, meta, payload, &plen, ix, &err);
    tms_io_close(NULL, fd);
    if (!bad) {
        *len = (size_t)plen;
        return TMS_OK;
    }
    free(*payload);
    *payload = NULL;
    tms_snapshot_index_free(ix);
    snprintf(why, whylen, "snapshot %s: %s", path, bad);
    return err;
}
