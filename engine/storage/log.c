/* log.c -- the writer side of the command log (log.h): open and adopt what
 * recovery found (the checking reader is log_recover.c), stage frames in
 * memory, group-commit them with segment rolls and fdatasync, roll a failed
 * write back so the log stays usable, and refuse all writes after a failed
 * fsync (the page cache may have dropped the data: retrying would lie). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "log_internal.h"

#define STAGE_KEEP (1u << 20)  /* staging memory kept between batches */

struct tms_log {
    int dirfd;
    int readonly;
    int failed;
    uint64_t seg_bytes;
    tms_log_io io;
    int fd;                    /* segment being appended to; -1 if none */
    uint64_t seg_first;
    uint64_t seg_size;         /* its frames end here ... */
    uint64_t seg_alloc;        /* ... and its file here: zeros written ahead (preallocated) */
    uint64_t prealloc;         /* how far ahead (tms_log_options.prealloc_bytes) */
    int wrote;                 /* this log wrote frames (a close then cuts the zeros after them) */
    uint64_t synced_seq;
    uint8_t synced_head[TMS_LOG_HASH_LEN];
    uint64_t sync_first, sync_seg, sync_off;   /* where the last sync's first frame went */
    _Atomic uint64_t last_seq; /* synced or staged: the appender's thread writes it, any thread reads it
                                  (tms_log_last_seq: relaxed, a count) */
    uint8_t head[TMS_LOG_HASH_LEN];
    uint8_t *stage;            /* staged frames, back to back */
    size_t stage_len, stage_cap, staged;
    uint64_t *created;         /* segments created by the running sync */
    size_t ncreated, created_cap;
    int defer_cut;             /* a torn tail found at open waits for tms_log_cut_torn */
    int tear_pending;
    tms_log_recovery tear;     /* ... the tear found at open */
};

/* The segment the running sync started in, for rolling back. */
typedef struct batch {
    int fd;
    uint64_t first;
    uint64_t size;
} batch;

/* PREALLOCATION. A segment's file is written with zeros ahead of its
 * frames, up to prealloc bytes at a time (the sync that crosses the
 * written zeros writes the next stretch), so that a sync's fdatasync
 * writes the frames' blocks in place and never the file's size and block
 * map as well: a group commit's one sync costs what an overwrite costs
 * (benchmarks/RESULTS.md, issue 22). Readers take the zeros after the
 * last frame for the end of the log (log_recover.c, rd_unwritten: no
 * frame starts with a zero header); a segment is cut back to its frames
 * when it is rolled (before the next one exists) and when the log is
 * closed, so a closed log's files are its frames alone. */
#define PREALLOC_DEFAULT (1u << 20)

/* ---- the directory ---- */

uint64_t tms_log_dir_bytes(const char *dir)
{
    uint64_t *segs = NULL, total = 0;
    size_t n = 0;
    char name[TMS_SEG_NAME_MAX];
    struct stat sb;
    int dirfd = tms_io_openat(NULL, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dirfd < 0)
        return 0;
    if (tms__seg_list(dirfd, &segs, &n) == TMS_OK)
        for (size_t i = 0; i < n; i++) {
            tms__seg_name(name, segs[i]);
            if (fstatat(dirfd, name, &sb, 0) == 0)
                total += (uint64_t)sb.st_size;
        }
    free(segs);
    tms_io_close(NULL, dirfd);
    return total;
}

/* ---- I/O: every call through the log's table (io.h), the writer's own
 * (log->io, whose NULL members fall back to the default table); the readers
 * that have no log (tms_log_read_frame, tms_log_dir_bytes) through the
 * default one ---- */

static int log_fsync(const tms_log *log, int fd, int full)
{
    return full ? tms_io_fsync(&log->io, fd) : tms_io_fdatasync(&log->io, fd);
}

static tms_err err_from_errno(int err)
{
    return (err == ENOSPC || err == EDQUOT) ? TMS_E_NOSPACE : TMS_E_IO;
}

static tms_err log_write_all(const tms_log *log, int fd, const uint8_t *p, size_t len)
{
    return tms_io_write_all(&log->io, fd, p, len) == 0 ? TMS_OK : err_from_errno(errno);
}

/* Write all len bytes at off (retrying EINTR and short writes). */
static tms_err log_pwrite_all(const tms_log *log, int fd, const uint8_t *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = tms_io_pwrite(&log->io, fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_from_errno(n == 0 ? EIO : errno);
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return TMS_OK;
}

/* Zeros written ahead so that the current segment's file reaches at least
 * end (the last frame of the running sync), by prealloc bytes at a time,
 * never past the segment's size unless one frame is bigger. */
static tms_err seg_reserve(tms_log *log, uint64_t end)
{
    static const uint8_t zeros[64 * 1024];
    if (end <= log->seg_alloc)
        return TMS_OK;
    uint64_t to = (end + log->prealloc - 1) / log->prealloc * log->prealloc;
    if (to > log->seg_bytes)
        to = end > log->seg_bytes ? end : log->seg_bytes;
    while (log->seg_alloc < to) {
        size_t n = to - log->seg_alloc < sizeof zeros ? (size_t)(to - log->seg_alloc) : sizeof zeros;
        tms_err e = log_pwrite_all(log, log->fd, zeros, n, log->seg_alloc);
        if (e != TMS_OK)
            return e;
        log->seg_alloc += n;
    }
    return TMS_OK;
}

/* ---- staging ---- */

static void drop_staged(tms_log *log)
{
    log->stage_len = 0;
    log->staged = 0;
    atomic_store_explicit(&log->last_seq, log->synced_seq, memory_order_relaxed);
    memcpy(log->head, log->synced_head, TMS_LOG_HASH_LEN);
    if (log->stage_cap > STAGE_KEEP) {
        free(log->stage);
        log->stage = NULL;
        log->stage_cap = 0;
    }
}

static int stage_reserve(tms_log *log, size_t more)
{
    if (log->stage_cap - log->stage_len >= more)
        return 0;
    size_t cap = log->stage_cap ? log->stage_cap : 4096;
    while (cap - log->stage_len < more)
        cap *= 2;
    uint8_t *p = realloc(log->stage, cap);
    if (!p)
        return -1;
    log->stage = p;
    log->stage_cap = cap;
    return 0;
}

tms_err tms_log_append(tms_log *log, const void *payload, size_t len, uint64_t *seq)
{
    if (!log || log->readonly)
        return TMS_E_INVAL;
    if (log->failed)
        return TMS_E_FAILED;
    if (len == 0 || len > TMS_LOG_MAX_PAYLOAD)
        return TMS_E_TOOBIG;
    if (!payload)
        return TMS_E_INVAL;
    if (stage_reserve(log, TMS_LOG_FRAME_HEADER + len) != 0)
        return TMS_E_NOMEM;
    uint8_t *f = log->stage + log->stage_len;
    uint64_t s = log->last_seq + 1;
    tms__frame_encode(f, s, log->head, payload, len);
    log->stage_len += TMS_LOG_FRAME_HEADER + len;
    log->staged++;
    atomic_store_explicit(&log->last_seq, s, memory_order_relaxed);
    memcpy(log->head, f + TMS_FR_HASH, TMS_LOG_HASH_LEN);
    if (seq)
        *seq = s;
    return TMS_OK;
}

tms_err tms_log_append_frame(tms_log *log, const uint8_t *frame, size_t len, char *why, size_t whylen)
{
    tms_frame_info fi;
    uint8_t prev[TMS_LOG_HASH_LEN];
    if (!log || !frame)
        return TMS_E_INVAL;
    unsigned long long seq = log->last_seq + 1;
    tms_frame_fault fault = tms__frame_check(frame, len, seq, NULL, &fi);
    if (fault == TMS_FRAME_SEQ) {
        snprintf(why, whylen, "expected seq %llu, the stream gave seq %llu", seq, (unsigned long long)fi.seq);
        return TMS_E_CORRUPT;
    }
    if (fault != TMS_FRAME_OK || fi.size != len) {
        snprintf(why, whylen, "the record for seq %llu does not check (length or checksum)", seq);
        return TMS_E_CORRUPT;
    }
    size_t at = log->stage_len;
    memcpy(prev, log->head, sizeof prev);
    tms_err e = tms_log_append(log, frame + TMS_FR_PAYLOAD, fi.len, NULL);   /* computes the chain hash, once */
    if (e != TMS_OK)
        return e;
    if (memcmp(log->head, frame + TMS_FR_HASH, TMS_LOG_HASH_LEN) != 0) {   /* not this log's chain: unstaged */
        log->stage_len = at;
        log->staged--;
        atomic_store_explicit(&log->last_seq, log->last_seq - 1, memory_order_relaxed);
        memcpy(log->head, prev, sizeof prev);
        snprintf(why, whylen, "seq %llu does not chain to this log's seq %llu (its hash differs)", seq, seq - 1);
        return TMS_E_CORRUPT;
    }
    return TMS_OK;
}

void tms_log_discard(tms_log *log)
{
    if (log)
        drop_staged(log);
}

size_t tms_log_staged(const tms_log *log)
{
    return log ? log->staged : 0;
}

uint64_t tms_log_last_seq(const tms_log *log)
{
    return log ? atomic_load_explicit(&((tms_log *)log)->last_seq, memory_order_relaxed) : 0;
}

const uint8_t *tms_log_head(const tms_log *log)
{
    static const uint8_t zeros[TMS_LOG_HASH_LEN];
    return log ? log->head : zeros;
}

/* ---- sync ---- */

/* Create segment first (O_EXCL), write and fsync its header, fsync the
 * directory. It becomes the current segment. TMS_E_FAILED on a failed fsync. */
static tms_err seg_create(tms_log *log, uint64_t first)
{
    char name[TMS_SEG_NAME_MAX];
    uint8_t hdr[TMS_LOG_SEGMENT_HEADER];
    if (log->ncreated == log->created_cap) {
        size_t cap = log->created_cap ? log->created_cap * 2 : 8;
        uint64_t *p = realloc(log->created, cap * sizeof *p);
        if (!p)
            return TMS_E_NOMEM;
        log->created = p;
        log->created_cap = cap;
    }
    tms__seg_name(name, first);
    int fd = tms_io_openat(&log->io, log->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return err_from_errno(errno);
    log->created[log->ncreated++] = first;
    log->fd = fd;
    log->seg_first = first;
    log->seg_size = log->seg_alloc = 0;
    tms__seg_header(hdr, first);
    tms_err e = log_write_all(log, fd, hdr, sizeof hdr);
    if (e != TMS_OK)
        return e;
    log->seg_size = log->seg_alloc = TMS_LOG_SEGMENT_HEADER;
    if (log_fsync(log, fd, 1) != 0 || log_fsync(log, log->dirfd, 1) != 0)
        return TMS_E_FAILED;
    return TMS_OK;
}

/* Write stage bytes [from, to) to the current segment. */
static tms_err seg_put(tms_log *log, size_t from, size_t to)
{
    tms_err e = seg_reserve(log, log->seg_size + (to - from));
    if (e == TMS_OK)
        e = log_pwrite_all(log, log->fd, log->stage + from, to - from, log->seg_size);
    log->wrote = 1;
    if (e == TMS_OK)
        log->seg_size += to - from;
    return e;
}

/* Finish the current segment with stage bytes [from, to), seal it
 * (fdatasync) and start the segment beginning at next. */
static tms_err seg_roll(tms_log *log, const batch *b, size_t from, size_t to, uint64_t next)
{
    tms_err e = seg_put(log, from, to);
    if (e != TMS_OK)
        return e;
    if (log->seg_alloc > log->seg_size && tms_io_ftruncate(&log->io, log->fd, (off_t)log->seg_size) != 0)
        return err_from_errno(errno);   /* sealed with its frames alone: only the last segment has zeros */
    log->seg_alloc = log->seg_size;
    if (log_fsync(log, log->fd, 0) != 0)
        return TMS_E_FAILED;
    if (log->fd != b->fd)
        tms_io_close(&log->io, log->fd);
    log->fd = -1;
    return seg_create(log, next);
}

/* Write every staged frame, rolling segments so no frame spans two; a frame
 * bigger than segment_bytes goes alone into a segment. */
static tms_err sync_write(tms_log *log, const batch *b)
{
    size_t pos = 0, chunk = 0;
    tms_err e = TMS_OK;
    if (log->fd < 0)
        e = seg_create(log, log->synced_seq + 1);
    while (e == TMS_OK && pos < log->stage_len) {
        const uint8_t *f = log->stage + pos;
        size_t flen = TMS_LOG_FRAME_HEADER + tms_get_le32(f + TMS_FR_LEN);
        uint64_t used = log->seg_size + (pos - chunk);
        if (used > TMS_LOG_SEGMENT_HEADER && used + flen > log->seg_bytes) {
            e = seg_roll(log, b, chunk, pos, tms_get_le64(f + TMS_FR_SEQ));
            chunk = pos;
        }
        if (pos == 0) {   /* the group's first frame: where a reader can start looking for its records */
            log->sync_first = tms_get_le64(f + TMS_FR_SEQ);
            log->sync_seg = log->seg_first;
            log->sync_off = log->seg_size;
        }
        pos += flen;
    }
    if (e == TMS_OK)
        e = seg_put(log, chunk, log->stage_len);
    return e;
}

/* A write failed: remove the segments this sync created, cut the starting
 * segment back, drop the staged records. If that cleanup fails too, the disk
 * no longer matches memory and the log enters the failed state. */
static tms_err sync_rollback(tms_log *log, const batch *b, tms_err e)
{
    int ok = 1;
    char name[TMS_SEG_NAME_MAX];
    if (log->fd >= 0 && log->fd != b->fd)
        tms_io_close(&log->io, log->fd);
    for (size_t i = log->ncreated; i-- > 0;) {
        tms__seg_name(name, log->created[i]);
        if (tms_io_unlinkat(&log->io, log->dirfd, name, 0) != 0 && errno != ENOENT)
            ok = 0;
    }
    if (log->ncreated > 0 && log_fsync(log, log->dirfd, 1) != 0)
        ok = 0;
    log->ncreated = 0;
    log->fd = b->fd;
    log->seg_first = b->first;
    log->seg_size = log->seg_alloc = b->size;   /* cut back: the zeros written ahead go too */
    if (b->fd >= 0 && (tms_io_ftruncate(&log->io, b->fd, (off_t)b->size) != 0 || log_fsync(log, b->fd, 0) != 0))
        ok = 0;
    drop_staged(log);
    if (!ok) {
        log->failed = 1;
        return TMS_E_FAILED;
    }
    return e;
}

static tms_err log_cut_tear(tms_log *log, const tms_log_recovery *res, const char *name);

tms_err tms_log_cut_torn(tms_log *log)
{
    char name[TMS_SEG_NAME_MAX];
    if (!log || log->readonly || !log->tear_pending)
        return TMS_OK;
    tms__seg_name(name, log->tear.torn_seg);
    if (log_cut_tear(log, &log->tear, name) != TMS_OK)
        return TMS_E_IO;
    log->tear_pending = 0;
    return TMS_OK;
}

tms_err tms_log_sync(tms_log *log)
{
    if (!log || log->readonly)
        return TMS_E_INVAL;
    if (log->failed)
        return TMS_E_FAILED;
    if (log->tear_pending && tms_log_cut_torn(log) != TMS_OK)
        return TMS_E_IO;   /* never append after bytes a crash left behind */
    if (log->staged == 0)
        return TMS_OK;
    batch b = { log->fd, log->seg_first, log->seg_size };
    log->ncreated = 0;
    tms_err e = sync_write(log, &b);
    if (e == TMS_OK && log_fsync(log, log->fd, 0) != 0)
        e = TMS_E_FAILED;
    if (e == TMS_E_FAILED) {
        if (b.fd >= 0 && b.fd != log->fd)
            tms_io_close(&log->io, b.fd);
        log->failed = 1;
        drop_staged(log);
        return TMS_E_FAILED;
    }
    if (e != TMS_OK)
        return sync_rollback(log, &b, e);
    if (b.fd >= 0 && b.fd != log->fd)
        tms_io_close(&log->io, b.fd);
    log->ncreated = 0;
    log->synced_seq = log->last_seq;
    memcpy(log->synced_head, log->head, TMS_LOG_HASH_LEN);
    drop_staged(log);
    return TMS_OK;
}

/* ---- open / close ---- */

/* A log written by an earlier version may be readable by anyone: a writer
 * takes the group and world bits away from the directory and its segments
 * (best effort: a file it does not own stays as it is, and says so nowhere
 * worse than before). */
static void make_private(int dirfd)
{
    struct stat sb;
    uint64_t *segs = NULL;
    size_t n = 0;
    char name[TMS_SEG_NAME_MAX];
    if (fstat(dirfd, &sb) == 0 && (sb.st_mode & 027) && fchmod(dirfd, sb.st_mode & 0750) != 0) {
        /* a directory another user owns keeps its mode: no worse than before */
    }
    if (tms__seg_list(dirfd, &segs, &n) != TMS_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        tms__seg_name(name, segs[i]);
        if (fstatat(dirfd, name, &sb, 0) == 0 && (sb.st_mode & 037) && fchmodat(dirfd, name, sb.st_mode & 0640, 0) != 0) {
            /* likewise a segment another user owns */
        }
    }
    free(segs);
}

/* Open (and, when writable, create) the directory. */
static tms_err log_open_dir(tms_log *log, const char *dir, tms_log_report *rep)
{
    int created = 0;
    if (!log->readonly) {
        if (tms_io_mkdirat(&log->io, AT_FDCWD, dir, 0750) == 0)   /* private whatever the parent's mode: the log is who did what */
            created = 1;
        else if (errno != EEXIST)
            goto fail;
    }
    log->dirfd = tms_io_openat(&log->io, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (log->dirfd < 0)
        goto fail;
    if (!log->readonly)
        make_private(log->dirfd);
    if (created && tms_io_fsync_dir(&log->io, log->dirfd, "..") != 0)
        goto fail;
    return TMS_OK;
fail:
    snprintf(rep->msg, sizeof rep->msg, "cannot open log directory %s: %s", dir, strerror(errno));
    return TMS_E_IO;
}

/* Cut the torn tail recovery found (writable open only). */
static tms_err log_cut_tear(tms_log *log, const tms_log_recovery *res, const char *name)
{
    if (res->torn == TMS_TORN_SEGMENT) {
        if (tms_io_unlinkat(&log->io, log->dirfd, name, 0) != 0 || log_fsync(log, log->dirfd, 1) != 0)
            return TMS_E_IO;
        return TMS_OK;
    }
    /* a torn frame: log->fd is that segment (the last one) */
    if (tms_io_ftruncate(&log->io, log->fd, (off_t)res->torn_offset) != 0 || log_fsync(log, log->fd, 0) != 0)
        return TMS_E_IO;
    log->seg_alloc = res->torn_offset;
    return TMS_OK;
}

/* Take over what recovery found: head, the segment to append to, the tear. */
static tms_err log_adopt(tms_log *log, const tms_log_recovery *res, tms_log_report *rep)
{
    char name[TMS_SEG_NAME_MAX];
    log->synced_seq = res->last_seq;
    atomic_store_explicit(&log->last_seq, res->last_seq, memory_order_relaxed);
    memcpy(log->synced_head, res->head, TMS_LOG_HASH_LEN);
    memcpy(log->head, res->head, TMS_LOG_HASH_LEN);
    if (!log->readonly && res->has_seg) {
        tms__seg_name(name, res->seg_first);
        struct stat sb;
        log->fd = tms_io_openat(&log->io, log->dirfd, name, O_WRONLY | O_CLOEXEC, 0);
        if (log->fd < 0 || fstat(log->fd, &sb) != 0)
            goto fail;
        log->seg_first = res->seg_first;
        log->seg_size = res->seg_end;
        /* past the frames: zeros a writer preallocated (recovery read them as unwritten) */
        log->seg_alloc = (uint64_t)sb.st_size > res->seg_end ? (uint64_t)sb.st_size : res->seg_end;
    }
    if (!res->torn)
        return TMS_OK;
    tms__seg_name(name, res->torn_seg);
    if (!log->readonly && log->defer_cut) {
        log->tear_pending = 1;   /* cut by tms_log_cut_torn, or by the first sync */
        log->tear = *res;
    } else if (!log->readonly && log_cut_tear(log, res, name) != TMS_OK) {
        goto fail;
    }
    rep->torn = 1;
    rep->torn_bytes = res->torn_bytes;
    rep->torn_offset = res->torn_offset;
    snprintf(rep->torn_segment, sizeof rep->torn_segment, "%s", name);
    snprintf(rep->msg, sizeof rep->msg,
             "%s torn final record at segment %s offset %" PRIu64 " seq %" PRIu64 " (%" PRIu64
             " bytes): %s%s", log->readonly ? "found" : "cut", name, res->torn_offset,
             res->last_seq + 1, res->torn_bytes, res->torn_what,
             log->readonly ? "; left in place (read-only)" : "");
    return TMS_OK;
fail:
    snprintf(rep->msg, sizeof rep->msg, "cannot prepare segment %s for appending: %s", name,
             strerror(errno));
    return TMS_E_IO;
}

tms_err tms_log_open(const char *dir, const tms_log_options *opt, tms_log **out,
                     tms_log_report *rep)
{
    tms_log_report scratch;
    tms_log_recovery res;
    tms_log *log = NULL;
    tms_err e;
    if (!rep)
        rep = &scratch;
    memset(rep, 0, sizeof *rep);
    if (!dir || !out)
        return TMS_E_INVAL;
    *out = NULL;
    if (sodium_init() < 0) {
        snprintf(rep->msg, sizeof rep->msg, "libsodium failed to initialise");
        return TMS_E_IO;
    }
    log = calloc(1, sizeof *log);
    if (!log)
        return TMS_E_NOMEM;
    log->fd = -1;
    log->dirfd = -1;
    if (opt) {
        log->readonly = opt->readonly != 0;
        log->defer_cut = opt->defer_cut != 0;
        log->seg_bytes = opt->segment_bytes;
        log->prealloc = opt->prealloc_bytes;
        if (opt->io)
            log->io = *opt->io;
    }
    if (log->seg_bytes == 0)
        log->seg_bytes = TMS_LOG_DEFAULT_SEGMENT_BYTES;
    if (log->prealloc == 0)
        log->prealloc = PREALLOC_DEFAULT;
    e = log_open_dir(log, dir, rep);
    if (e != TMS_OK)
        goto fail;
    e = tms__log_recover(log->dirfd, &log->io, opt ? opt->trust_seq : 0, opt ? opt->trust_head : NULL,
                         opt && opt->check_last_only, &res, rep);
    if (e != TMS_OK)
        goto fail;
    rep->trusted = res.trusted;
    e = log_adopt(log, &res, rep);
    if (e != TMS_OK)
        goto fail;
    *out = log;
    return TMS_OK;
fail:
    tms_log_close(log);
    return e;
}

void tms_log_close(tms_log *log)
{
    if (!log)
        return;
    /* only what this log wrote ahead: an open refused after recovery (a
     * tear kept for tms_log_cut_torn, zeros a crash left) changes nothing */
    if (log->fd >= 0 && !log->failed && log->wrote && log->seg_alloc > log->seg_size &&
        tms_io_ftruncate(&log->io, log->fd, (off_t)log->seg_size) != 0) {
        /* the zeros stay: the next open reads them as unwritten space */
    }
    if (log->fd >= 0)
        tms_io_close(&log->io, log->fd);
    if (log->dirfd >= 0)
        tms_io_close(&log->io, log->dirfd);
    free(log->stage);
    free(log->created);
    free(log);
}

int tms_log_synced_at(const tms_log *log, uint64_t *first_seq, uint64_t *seg_first, uint64_t *offset)
{
    if (!log->sync_first || log->sync_first > log->synced_seq)
        return 0;
    *first_seq = log->sync_first;
    *seg_first = log->sync_seg;
    *offset = log->sync_off;
    return 1;
}

/* Read exactly n bytes at off: 1, 0 at the end of the file (or short), -1 on error. */
static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = tms_io_pread(NULL, fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        got += (size_t)r;
    }
    return 1;
}

/* A read-ahead window over one segment file: the frame headers a locator
 * walks past come from one pread of READ_WINDOW bytes, not one each. */
#define READ_WINDOW (64u * 1024u)
typedef struct window {
    uint8_t buf[READ_WINDOW];
    uint64_t off;      /* file offset of buf[0] */
    size_t len;        /* bytes valid */
} window;

/* n bytes at off (n <= READ_WINDOW) into out through w: 1, 0 at the end of the file (or short), -1 on error. */
static int window_read(int fd, window *w, void *out, size_t n, uint64_t off)
{
    if (off < w->off || off + n > w->off + w->len) {
        ssize_t r;
        while ((r = tms_io_pread(NULL, fd, w->buf, sizeof w->buf, (off_t)off)) < 0 && errno == EINTR)
            ;
        if (r < 0)
            return -1;
        w->off = off;
        w->len = (size_t)r;
        if (w->len < n)
            return 0;
    }
    memcpy(out, w->buf + (off - w->off), n);
    return 1;
}

/* The rest of the frame of record seq whose header h (checked) is at offset
 * of fd, checked whole; its payload into *payload (malloc'd) and *len. */
static tms_err read_body(int fd, window *w, const uint8_t *h, uint64_t offset, uint64_t seq, size_t size,
                         uint8_t **payload, size_t *len)
{
    tms_frame_info fi;
    size_t plen = size - TMS_LOG_FRAME_HEADER;
    uint64_t at = offset + TMS_LOG_FRAME_HEADER;
    uint8_t *buf = malloc(size);
    if (!buf)
        return TMS_E_NOMEM;
    memcpy(buf, h, TMS_LOG_FRAME_HEADER);
    int r = plen <= READ_WINDOW ? window_read(fd, w, buf + TMS_LOG_FRAME_HEADER, plen, at)
                                : pread_all(fd, buf + TMS_LOG_FRAME_HEADER, plen, at);
    if (r <= 0 || tms__frame_check(buf, size, seq, NULL, &fi) != TMS_FRAME_OK) {
        free(buf);
        return r < 0 ? TMS_E_IO : TMS_E_CORRUPT;
    }
    memmove(buf, buf + TMS_LOG_FRAME_HEADER, plen);
    *payload = buf;
    *len = plen;
    return TMS_OK;
}

tms_err tms_log_read_frame(const char *dir, uint64_t seg_first, uint64_t offset, uint64_t seq, uint8_t **payload,
                           size_t *len)
{
    char path[4200], name[TMS_SEG_NAME_MAX];
    uint8_t h[TMS_LOG_FRAME_HEADER];
    uint64_t next = 0;   /* the seq of the frame after the last one read */
    int fd = -1, hops = 0;
    tms_err err = TMS_NOT_FOUND;
    tms_frame_info fi;
    window *w = malloc(sizeof *w);
    *payload = NULL;
    if (!w)
        return TMS_E_NOMEM;
    for (;;) {
        if (fd < 0) {
            tms__seg_name(name, seg_first);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            w->len = 0;
            if ((fd = tms_io_openat(NULL, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0)) < 0) {
                err = errno == ENOENT ? TMS_NOT_FOUND : TMS_E_IO;
                break;
            }
        }
        int r = window_read(fd, w, h, sizeof h, offset);
        if (r == 0 && next && next <= seq && hops++ == 0) {   /* the end of a segment: the group went on in the next */
            tms_io_close(NULL, fd);
            fd = -1;
            seg_first = next;
            offset = TMS_LOG_SEGMENT_HEADER;
            continue;
        }
        if (r <= 0) {
            err = r < 0 ? TMS_E_IO : TMS_NOT_FOUND;
            break;
        }
        /* a whole header that checks: a locator never points past its record, nor between frames */
        if (tms__frame_check(h, sizeof h, 0, NULL, &fi) != TMS_FRAME_PARTIAL || fi.seq > seq) {
            err = TMS_E_CORRUPT;
            break;
        }
        if (fi.seq == seq) {
            err = read_body(fd, w, h, offset, seq, fi.size, payload, len);
            break;
        }
        offset += fi.size;
        next = fi.seq + 1;
    }
    if (fd >= 0)
        tms_io_close(NULL, fd);
    free(w);
    return err;
}
