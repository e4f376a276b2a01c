/* log_base.c -- a log's base (log_format.h, "THE BASE"): the log of a data
 * directory seeded from a snapshot holds no records 1..B; its first segment
 * starts at B + 1 and its first frame chains from the head at B, which the
 * base file holds. Written once, when the directory is seeded, never
 * rewritten; read by every reader of the log (log_reader.h's rd). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log_internal.h"

tms_err tms__log_base_read(int dirfd, uint64_t *seq, uint8_t head[TMS_LOG_HASH_LEN], char *why, size_t whylen)
{
    uint8_t b[TMS_LOG_BASE_SIZE + 1];
    *seq = 0;
    memset(head, 0, TMS_LOG_HASH_LEN);
    int fd = openat(dirfd, TMS_LOG_BASE_NAME, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return TMS_OK;
        snprintf(why, whylen, "cannot open the log's %s file: %s", TMS_LOG_BASE_NAME, strerror(errno));
        return TMS_E_IO;
    }
    ssize_t n = pread(fd, b, sizeof b, 0);
    int err = errno;
    close(fd);
    if (n < 0) {
        snprintf(why, whylen, "cannot read the log's %s file: %s", TMS_LOG_BASE_NAME, strerror(err));
        return TMS_E_IO;
    }
    uint64_t s = n >= 16 ? tms_get_le64(b + TMS_BASE_SEQ) : 0;
    if (n != TMS_LOG_BASE_SIZE || memcmp(b, TMS_BASE_MAGIC, TMS_SEG_MAGIC_LEN) ||
        tms_crc32c(0, b, TMS_BASE_CRC) != tms_get_le32(b + TMS_BASE_CRC) || s == 0) {
        snprintf(why, whylen, "the log's %s file is damaged (%zd bytes%s): the seq the log starts after is not "
                 "known, nothing is read", TMS_LOG_BASE_NAME, n,
                 n != TMS_LOG_BASE_SIZE ? ", not 52" : memcmp(b, TMS_BASE_MAGIC, TMS_SEG_MAGIC_LEN) ? ", bad magic"
                                                                                             : ", checksum mismatch");
        return TMS_E_CORRUPT;
    }
    *seq = s;
    memcpy(head, b + TMS_BASE_HEAD, TMS_LOG_HASH_LEN);
    return TMS_OK;
}

tms_err tms_log_base(const char *dir, uint64_t *seq, uint8_t head[TMS_LOG_HASH_LEN], char *why, size_t whylen)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        *seq = 0;
        memset(head, 0, TMS_LOG_HASH_LEN);
        if (errno == ENOENT)
            return TMS_OK;
        snprintf(why, whylen, "cannot open %s: %s", dir, strerror(errno));
        return TMS_E_IO;
    }
    tms_err e = tms__log_base_read(dirfd, seq, head, why, whylen);
    close(dirfd);
    return e;
}

tms_err tms_log_create_based(const char *dir, uint64_t seq, const uint8_t head[TMS_LOG_HASH_LEN], char *why,
                             size_t whylen)
{
    uint8_t b[TMS_LOG_BASE_SIZE];
    uint64_t *segs = NULL, had = 0;
    size_t nsegs = 0;
    tms_err e = TMS_E_INVAL;
    int dirfd = -1, fd = -1;
    if (seq == 0) {
        snprintf(why, whylen, "a log's base is a seq of 1 or more");
        goto out;
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
        e = TMS_E_IO;
        goto out;
    }
    if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        (e = tms__seg_list(dirfd, &segs, &nsegs)) != TMS_OK) {
        snprintf(why, whylen, "cannot list %s: %s", dir, strerror(errno));
        e = e == TMS_E_NOMEM ? e : TMS_E_IO;
        goto out;
    }
    uint8_t h[TMS_LOG_HASH_LEN];
    if (nsegs > 0 || (e = tms__log_base_read(dirfd, &had, h, why, whylen)) != TMS_OK || had) {
        if (nsegs > 0 || had) {
            snprintf(why, whylen, "%s already holds a log (%s): a base is given to an empty log only", dir,
                     nsegs ? "segments" : "a base");
            e = TMS_E_INVAL;
        }
        goto out;
    }
    memcpy(b, TMS_BASE_MAGIC, TMS_SEG_MAGIC_LEN);
    tms_put_le64(b + TMS_BASE_SEQ, seq);
    memcpy(b + TMS_BASE_HEAD, head, TMS_LOG_HASH_LEN);
    tms_put_le32(b + TMS_BASE_CRC, tms_crc32c(0, b, TMS_BASE_CRC));
    e = TMS_E_IO;
    if ((fd = openat(dirfd, TMS_LOG_BASE_NAME ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0 ||
        tms_io_write_all(NULL, fd, b, sizeof b) != 0 || fsync(fd) != 0 ||
        renameat(dirfd, TMS_LOG_BASE_NAME ".tmp", dirfd, TMS_LOG_BASE_NAME) != 0 || fsync(dirfd) != 0 ||
        tms_io_fsync_dir(NULL, dirfd, "..") != 0) {
        snprintf(why, whylen, "cannot write %s/%s: %s", dir, TMS_LOG_BASE_NAME, strerror(errno));
        goto out;
    }
    e = TMS_OK;
out:
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
    free(segs);
    return e;
}

/* ---- the log's end, by headers ---- */

#define END_CHUNK ((size_t)1 << 20)

/* The frames of the segment open as fd (first seq first, size bytes), header by header from its start: the seq
 * of the last one whose header checks, carries the seq due and fits in the file (first - 1: none), its offset
 * and length in *off and *flen. -1 on a read error. */
static int64_t walk_headers(int fd, uint64_t first, uint64_t size, uint8_t *buf, uint64_t *last_off, uint64_t *flen)
{
    uint64_t off = TMS_LOG_SEGMENT_HEADER, expect = first, boff = 0;
    size_t blen = 0;
    for (;;) {
        if (off < boff || off + TMS_LOG_FRAME_HEADER > boff + blen) {   /* the header not buffered: read from it */
            ssize_t n;
            while ((n = pread(fd, buf, END_CHUNK, (off_t)off)) < 0 && errno == EINTR)
                ;
            if (n < 0)
                return -1;
            if (n < (ssize_t)TMS_LOG_FRAME_HEADER)
                return (int64_t)(expect - 1);
            boff = off;
            blen = (size_t)n;
        }
        uint32_t plen;
        uint64_t seq;
        if (!tms_log_frame_head_ok(buf + (off - boff), TMS_LOG_FRAME_HEADER, &plen, &seq) || seq != expect ||
            off + TMS_LOG_FRAME_HEADER + plen > size)
            return (int64_t)(expect - 1);
        *last_off = off;
        *flen = TMS_LOG_FRAME_HEADER + (uint64_t)plen;
        off += *flen;
        expect++;
    }
}

/* 1 when the frame of record seq at off (flen bytes) checks but for its chain (its CRCs: a frame whose header
 * was written and body was not is a tear, as recovery says), 0 when not, -1 on a read error. */
static int last_frame_whole(int fd, uint64_t off, uint64_t flen, uint64_t seq)
{
    uint8_t *f = malloc((size_t)flen);
    tms_frame_info fi;
    ssize_t n;
    if (!f)
        return -1;
    while ((n = pread(fd, f, (size_t)flen, (off_t)off)) < 0 && errno == EINTR)
        ;
    int ok = n < 0 ? -1 : (uint64_t)n == flen && tms__frame_check(f, (size_t)flen, seq, NULL, &fi) == TMS_FRAME_OK;
    free(f);
    return ok;
}

/* The end of the last segment, fd (its first seq first), into *seq: TMS_OK, TMS_E_CORRUPT (a header that is
 * neither a segment's nor unwritten), TMS_E_IO, TMS_E_NOMEM. */
static tms_err segment_end(int fd, uint64_t first, uint64_t *seq)
{
    uint8_t h[TMS_LOG_SEGMENT_HEADER], *buf = NULL;
    struct stat st;
    uint64_t got, off = 0, flen = 0;
    ssize_t n;
    *seq = first - 1;
    while ((n = pread(fd, h, sizeof h, 0)) < 0 && errno == EINTR)
        ;
    if (n < 0 || fstat(fd, &st) != 0)
        return TMS_E_IO;
    int unwritten = 1;   /* a crash between the file's creation and its header: recovery's torn segment */
    for (ssize_t i = 0; i < n; i++)
        unwritten &= h[i] == 0;
    if (n < (ssize_t)sizeof h || tms__seg_check(h, sizeof h, first, &got) != TMS_SEG_OK)
        return unwritten ? TMS_OK : TMS_E_CORRUPT;
    if (!(buf = malloc(END_CHUNK)))
        return TMS_E_NOMEM;
    int64_t last = walk_headers(fd, first, (uint64_t)st.st_size, buf, &off, &flen);
    free(buf);
    if (last < 0)
        return TMS_E_IO;
    int whole = (uint64_t)last >= first ? last_frame_whole(fd, off, flen, (uint64_t)last) : 1;
    if (whole < 0)
        return TMS_E_IO;
    *seq = (uint64_t)last - (whole ? 0 : 1);
    return TMS_OK;
}

tms_err tms_log_end(const char *dir, uint64_t *seq, char *why, size_t whylen)
{
    uint64_t *segs = NULL, base = 0;
    size_t n = 0;
    uint8_t head[TMS_LOG_HASH_LEN];
    char name[TMS_SEG_NAME_MAX];
    int fd = -1, dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    tms_err err;
    *seq = 0;
    if (dirfd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", dir, strerror(errno));
        return TMS_E_IO;
    }
    if ((err = tms__log_base_read(dirfd, &base, head, why, whylen)) != TMS_OK)
        goto done;
    if ((err = tms__seg_list(dirfd, &segs, &n)) != TMS_OK) {
        snprintf(why, whylen, "cannot list %s: %s", dir, tms_strerror(err));
        goto done;
    }
    *seq = base;
    if (n == 0)
        goto done;
    tms__seg_name(name, segs[n - 1]);
    if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(why, whylen, "cannot read %s/%s: %s", dir, name, strerror(errno));
        err = TMS_E_IO;
        goto done;
    }
    if ((err = segment_end(fd, segs[n - 1], seq)) != TMS_OK)
        snprintf(why, whylen, "%s/%s: %s", dir, name, err == TMS_E_CORRUPT ? "not a segment of records from its "
                 "name's seq" : err == TMS_E_IO ? strerror(errno) : tms_strerror(err));
done:
    free(segs);
    if (fd >= 0)
        close(fd);
    close(dirfd);
    return err;
}
