/* log.c -- the writer side of the command log (log.h): open and adopt what
 * recovery found (the checking reader is log_recover.c), stage frames in
 * memory, group-commit them with segment rolls and fdatasync, roll a failed
 * write back so the log stays usable, and refuse all writes after a failed
 * fsync (the page cache may have dropped the data: retrying would lie). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
    uint64_t seg_size;
    uint64_t synced_seq;
    uint8_t synced_head[TMS_LOG_HASH_LEN];
    uint64_t sync_first, sync_seg, sync_off;   /* where the last sync's first frame went */
    uint64_t last_seq;         /* synced or staged */
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

/* ---- helpers shared with log_recover.c ---- */

uint64_t tms_log_dir_bytes(const char *dir)
{
    uint64_t *segs = NULL, total = 0;
    size_t n = 0;
    char name[TMS_SEG_NAME_MAX];
    struct stat sb;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return 0;
    if (tms_log_list_segments(dirfd, &segs, &n) == TMS_OK)
        for (size_t i = 0; i < n; i++) {
            tms_log_seg_name(name, segs[i]);
            if (fstatat(dirfd, name, &sb, 0) == 0)
                total += (uint64_t)sb.st_size;
        }
    free(segs);
    close(dirfd);
    return total;
}

void tms_log_seg_name(char out[TMS_SEG_NAME_MAX], uint64_t first)
{
    snprintf(out, TMS_SEG_NAME_MAX, "%020" PRIu64 TMS_SEG_SUFFIX, first);
}

void tms_log_chain_hash(const uint8_t prev[TMS_LOG_HASH_LEN], uint64_t seq,
                        const uint8_t *payload, size_t len, uint8_t out[TMS_LOG_HASH_LEN])
{
    crypto_generichash_state st;
    uint8_t s[8];
    tms_put_le64(s, seq);
    crypto_generichash_init(&st, NULL, 0, TMS_LOG_HASH_LEN);
    crypto_generichash_update(&st, prev, TMS_LOG_HASH_LEN);
    crypto_generichash_update(&st, s, sizeof s);
    crypto_generichash_update(&st, payload, len);
    crypto_generichash_final(&st, out, TMS_LOG_HASH_LEN);
}

/* "<20 digits>.tmslog" -> first seq; 0 if the name is not a segment's. */
static int seg_parse(const char *name, uint64_t *first)
{
    uint64_t v = 0;
    if (strlen(name) != 20 + strlen(TMS_SEG_SUFFIX) || strcmp(name + 20, TMS_SEG_SUFFIX) != 0)
        return 0;
    for (int i = 0; i < 20; i++) {
        unsigned d = (unsigned)(name[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *first = v;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

tms_err tms_log_list_segments(int dirfd, uint64_t **segs, size_t *n)
{
    uint64_t *v = NULL, first;
    size_t cnt = 0, cap = 0;
    tms_err e = TMS_E_IO;
    DIR *d = NULL;
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !(d = fdopendir(fd)))
        goto fail;
    for (struct dirent *de; (errno = 0, de = readdir(d)) != NULL;) {
        if (!seg_parse(de->d_name, &first))
            continue;
        if (cnt == cap) {
            uint64_t *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof *v);
            if (!nv) {
                e = TMS_E_NOMEM;
                goto fail;
            }
            v = nv;
            cap = cap ? cap * 2 : 16;
        }
        v[cnt++] = first;
    }
    if (errno != 0)
        goto fail;
    closedir(d);
    if (cnt > 1)
        qsort(v, cnt, sizeof *v, cmp_u64);
    *segs = v;
    *n = cnt;
    return TMS_OK;
fail:
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    free(v);
    *segs = NULL;
    *n = 0;
    return e;
}

/* ---- I/O through the hooks ---- */

static int log_fsync(const tms_log *log, int fd, int full)
{
    if (log->io.fdatasync)
        return log->io.fdatasync(fd);
    return full ? fsync(fd) : fdatasync(fd);
}

static tms_err err_from_errno(int err)
{
    return (err == ENOSPC || err == EDQUOT) ? TMS_E_NOSPACE : TMS_E_IO;
}

static tms_err log_write_all(const tms_log *log, int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = log->io.write ? log->io.write(fd, p, len) : write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_from_errno(errno);
        if (n == 0)
            return TMS_E_IO;
        p += n;
        len -= (size_t)n;
    }
    return TMS_OK;
}

/* ---- staging ---- */

static void drop_staged(tms_log *log)
{
    log->stage_len = 0;
    log->staged = 0;
    log->last_seq = log->synced_seq;
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
    tms_put_le32(f + TMS_FR_LEN, (uint32_t)len);
    tms_put_le64(f + TMS_FR_SEQ, s);
    tms_put_le32(f + TMS_FR_HEAD_CRC, tms_frame_head_crc(f));
    tms_put_le32(f + TMS_FR_RESERVED, 0);
    tms_log_chain_hash(log->head, s, payload, len, f + TMS_FR_HASH);
    memcpy(f + TMS_LOG_FRAME_HEADER, payload, len);
    tms_put_le32(f + TMS_FR_BODY_CRC, tms_crc32c(0, f + TMS_FR_HASH, TMS_LOG_HASH_LEN + len));
    log->stage_len += TMS_LOG_FRAME_HEADER + len;
    log->staged++;
    log->last_seq = s;
    memcpy(log->head, f + TMS_FR_HASH, TMS_LOG_HASH_LEN);
    if (seq)
        *seq = s;
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
    return log ? log->last_seq : 0;
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
    tms_log_seg_name(name, first);
    int fd = openat(log->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return err_from_errno(errno);
    log->created[log->ncreated++] = first;
    log->fd = fd;
    log->seg_first = first;
    log->seg_size = 0;
    memcpy(hdr, TMS_SEG_MAGIC, 8);
    tms_put_le64(hdr + 8, first);
    tms_err e = log_write_all(log, fd, hdr, sizeof hdr);
    if (e != TMS_OK)
        return e;
    log->seg_size = TMS_LOG_SEGMENT_HEADER;
    if (log_fsync(log, fd, 1) != 0 || log_fsync(log, log->dirfd, 1) != 0)
        return TMS_E_FAILED;
    return TMS_OK;
}

/* Write stage bytes [from, to) to the current segment. */
static tms_err seg_put(tms_log *log, size_t from, size_t to)
{
    tms_err e = log_write_all(log, log->fd, log->stage + from, to - from);
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
    if (log_fsync(log, log->fd, 0) != 0)
        return TMS_E_FAILED;
    if (log->fd != b->fd)
        close(log->fd);
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
        close(log->fd);
    for (size_t i = log->ncreated; i-- > 0;) {
        tms_log_seg_name(name, log->created[i]);
        if (unlinkat(log->dirfd, name, 0) != 0 && errno != ENOENT)
            ok = 0;
    }
    if (log->ncreated > 0 && log_fsync(log, log->dirfd, 1) != 0)
        ok = 0;
    log->ncreated = 0;
    log->fd = b->fd;
    log->seg_first = b->first;
    log->seg_size = b->size;
    if (b->fd >= 0 && (ftruncate(b->fd, (off_t)b->size) != 0 || log_fsync(log, b->fd, 0) != 0))
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
    tms_log_seg_name(name, log->tear.torn_seg);
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
            close(b.fd);
        log->failed = 1;
        drop_staged(log);
        return TMS_E_FAILED;
    }
    if (e != TMS_OK)
        return sync_rollback(log, &b, e);
    if (b.fd >= 0 && b.fd != log->fd)
        close(b.fd);
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
    if (tms_log_list_segments(dirfd, &segs, &n) != TMS_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        tms_log_seg_name(name, segs[i]);
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
        if (mkdir(dir, 0750) == 0)   /* private whatever the parent's mode: the log is who did what */
            created = 1;
        else if (errno != EEXIST)
            goto fail;
    }
    log->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (log->dirfd < 0)
        goto fail;
    if (!log->readonly)
        make_private(log->dirfd);
    if (created) {
        int pfd = openat(log->dirfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rc = pfd < 0 ? -1 : fsync(pfd);
        if (pfd >= 0)
            close(pfd);
        if (rc != 0)
            goto fail;
    }
    return TMS_OK;
fail:
    snprintf(rep->msg, sizeof rep->msg, "cannot open log directory %s: %s", dir, strerror(errno));
    return TMS_E_IO;
}

/* Cut the torn tail recovery found (writable open only). */
static tms_err log_cut_tear(tms_log *log, const tms_log_recovery *res, const char *name)
{
    if (res->torn == TMS_TORN_SEGMENT) {
        if (unlinkat(log->dirfd, name, 0) != 0 || log_fsync(log, log->dirfd, 1) != 0)
            return TMS_E_IO;
        return TMS_OK;
    }
    /* a torn frame: log->fd is that segment (the last one) */
    if (ftruncate(log->fd, (off_t)res->torn_offset) != 0 || log_fsync(log, log->fd, 0) != 0)
        return TMS_E_IO;
    return TMS_OK;
}

/* Take over what recovery found: head, the segment to append to, the tear. */
static tms_err log_adopt(tms_log *log, const tms_log_recovery *res, tms_log_report *rep)
{
    char name[TMS_SEG_NAME_MAX];
    log->synced_seq = log->last_seq = res->last_seq;
    memcpy(log->synced_head, res->head, TMS_LOG_HASH_LEN);
    memcpy(log->head, res->head, TMS_LOG_HASH_LEN);
    if (!log->readonly && res->has_seg) {
        tms_log_seg_name(name, res->seg_first);
        log->fd = openat(log->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (log->fd < 0)
            goto fail;
        log->seg_first = res->seg_first;
        log->seg_size = res->seg_end;
    }
    if (!res->torn)
        return TMS_OK;
    tms_log_seg_name(name, res->torn_seg);
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
        if (opt->io)
            log->io = *opt->io;
    }
    if (log->seg_bytes == 0)
        log->seg_bytes = TMS_LOG_DEFAULT_SEGMENT_BYTES;
    e = log_open_dir(log, dir, rep);
    if (e != TMS_OK)
        goto fail;
    e = tms_log_recover(log->dirfd, opt ? opt->trust_seq : 0, opt ? opt->trust_head : NULL, &res, rep);
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
    if (log->fd >= 0)
        close(log->fd);
    if (log->dirfd >= 0)
        close(log->dirfd);
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
        ssize_t r = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
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
        while ((r = pread(fd, w->buf, sizeof w->buf, (off_t)off)) < 0 && errno == EINTR)
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

tms_err tms_log_read_frame(const char *dir, uint64_t seg_first, uint64_t offset, uint64_t seq, uint8_t **payload,
                           size_t *len)
{
    char path[4200], name[TMS_SEG_NAME_MAX];
    uint8_t h[TMS_LOG_FRAME_HEADER];
    uint64_t next = 0;   /* the seq of the frame after the last one read */
    int fd = -1, hops = 0;
    tms_err err = TMS_NOT_FOUND;
    window *w = malloc(sizeof *w);
    *payload = NULL;
    if (!w)
        return TMS_E_NOMEM;
    for (;;) {
        if (fd < 0) {
            tms_log_seg_name(name, seg_first);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            w->len = 0;
            if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
                err = errno == ENOENT ? TMS_NOT_FOUND : TMS_E_IO;
                break;
            }
        }
        int r = window_read(fd, w, h, sizeof h, offset);
        if (r == 0 && next && next <= seq && hops++ == 0) {   /* the end of a segment: the group went on in the next */
            close(fd);
            fd = -1;
            seg_first = next;
            offset = TMS_LOG_SEGMENT_HEADER;
            continue;
        }
        if (r <= 0) {
            err = r < 0 ? TMS_E_IO : TMS_NOT_FOUND;
            break;
        }
        uint32_t flen = tms_get_le32(h + TMS_FR_LEN);
        uint64_t fseq = tms_get_le64(h + TMS_FR_SEQ);
        if (tms_frame_head_crc(h) != tms_get_le32(h + TMS_FR_HEAD_CRC) || flen == 0 || flen > TMS_LOG_MAX_PAYLOAD ||
            fseq > seq) {
            err = TMS_E_CORRUPT;   /* a locator never points past its record, nor between frames */
            break;
        }
        if (fseq < seq) {
            offset += TMS_LOG_FRAME_HEADER + flen;
            next = fseq + 1;
            continue;
        }
        uint8_t *buf = malloc(TMS_LOG_HASH_LEN + (size_t)flen);
        if (!buf) {
            err = TMS_E_NOMEM;
            break;
        }
        memcpy(buf, h + TMS_FR_HASH, TMS_LOG_HASH_LEN);
        uint64_t at = offset + TMS_LOG_FRAME_HEADER;
        r = flen <= READ_WINDOW ? window_read(fd, w, buf + TMS_LOG_HASH_LEN, flen, at)
                                : pread_all(fd, buf + TMS_LOG_HASH_LEN, flen, at);
        if (r <= 0 || tms_crc32c(0, buf, TMS_LOG_HASH_LEN + (size_t)flen) != tms_get_le32(h + TMS_FR_BODY_CRC)) {
            free(buf);
            err = r < 0 ? TMS_E_IO : TMS_E_CORRUPT;
            break;
        }
        memmove(buf, buf + TMS_LOG_HASH_LEN, flen);
        *payload = buf;
        *len = flen;
        err = TMS_OK;
        break;
    }
    if (fd >= 0)
        close(fd);
    free(w);
    return err;
}

void tms_log_frame_header(const tms_log_record *r, uint8_t out[TMS_LOG_FRAME_HEADER])
{
    memset(out, 0, TMS_LOG_FRAME_HEADER);
    tms_put_le32(out + TMS_FR_LEN, (uint32_t)r->len);
    tms_put_le64(out + TMS_FR_SEQ, r->seq);
    tms_put_le32(out + TMS_FR_HEAD_CRC, tms_frame_head_crc(out));
    memcpy(out + TMS_FR_HASH, r->hash, TMS_LOG_HASH_LEN);
    tms_put_le32(out + TMS_FR_BODY_CRC, tms_crc32c(tms_crc32c(0, r->hash, TMS_LOG_HASH_LEN), r->payload, r->len));
}
