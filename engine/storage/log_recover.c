/* log_recover.c -- the checking reader of the command log (log_reader.h), behind open-time
 * recovery (tms__log_recover) and tms_log_iter. It streams the segments through
 * one buffer (memory grows with the largest frame, not with the log), checks
 * every segment header and frame (both CRCs, seq continuity, hash chain) and
 * tells a torn final record of the last segment from corruption (log.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "log_reader.h"

static int rd_is_last(const rd *r)
{
    return r->si + 1 >= r->nsegs;
}

static int rd_bad(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Corruption at the current position: fill the report, return RD_ERR. */
static int rd_bad(rd *r, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    r->err = TMS_E_CORRUPT;
    r->rep->bad_seq = r->expect;
    r->rep->bad_offset = r->off;
    snprintf(r->rep->bad_segment, sizeof r->rep->bad_segment, "%s", r->name);
    snprintf(r->rep->msg, sizeof r->rep->msg, "segment %s offset %" PRIu64 " seq %" PRIu64 ": %s",
             r->name, r->off, r->expect, what);
    return RD_ERR;
}

static int rd_io(rd *r, const char *what)
{
    r->err = TMS_E_IO;
    snprintf(r->rep->msg, sizeof r->rep->msg, "segment %s: %s: %s", r->name, what, strerror(errno));
    return RD_ERR;
}

/* A torn final record (or segment header) at r->off. */
static int rd_tear(rd *r, int kind, const char *what)
{
    struct stat st;
    if (fstat(r->fd, &st) != 0)
        return rd_io(r, "cannot stat");
    uint64_t end = r->torn_end > r->off && r->torn_end < (uint64_t)st.st_size ? r->torn_end : (uint64_t)st.st_size;
    r->torn = kind;
    r->torn_off = r->off;
    r->torn_bytes = end > r->off ? end - r->off : 0;
    r->torn_end = 0;
    snprintf(r->torn_what, sizeof r->torn_what, "%s", what);
    return RD_TORN;
}

static int rd_tear_or_bad(rd *r, int kind, const char *what)
{
    return rd_is_last(r) ? rd_tear(r, kind, what) : rd_bad(r, "%s", what);
}

/* Make bytes [off, off + need) available at rd_at(); returns how many bytes
 * from off are buffered (fewer than need only at end of file), -1 on error. */
static ssize_t rd_fill(rd *r, size_t need)
{
    if (r->off < r->boff || r->off > r->boff + r->blen) {
        r->boff = r->off;
        r->blen = 0;
    }
    size_t skip = (size_t)(r->off - r->boff);
    if (r->blen - skip >= need)
        return (ssize_t)(r->blen - skip);
    if (skip > 0) {
        memmove(r->buf, r->buf + skip, r->blen - skip);
        r->blen -= skip;
        r->boff = r->off;
    }
    if (need > r->cap) {
        uint8_t *nb = realloc(r->buf, need + RD_CHUNK);
        if (!nb) {
            r->err = TMS_E_NOMEM;
            snprintf(r->rep->msg, sizeof r->rep->msg, "out of memory reading the log");
            return -1;
        }
        r->buf = nb;
        r->cap = need + RD_CHUNK;
    }
    while (r->blen < need) {
        ssize_t n = tms_io_pread(r->io, r->fd, r->buf + r->blen, r->cap - r->blen, (off_t)(r->boff + r->blen));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rd_io(r, "read failed"), -1;
        if (n == 0)
            break;
        r->blen += (size_t)n;
    }
    return (ssize_t)r->blen;
}

static const uint8_t *rd_at(const rd *r)
{
    return r->buf + (r->off - r->boff);
}

static int rd_zero_suffix(rd *r, uint64_t pos, uint64_t *zero_from, uint64_t *eof);

/* The locator r was given (an iterator's: tms_log_iter_open_at), now that
 * its segment's header has checked: the reading starts at the frame there
 * when its header checks, its seq is within the segment and before the
 * iterator's first (its stored hash is taken as the chain's, as a skimmed
 * frame's would be; the frames from it on are read as ever). Otherwise
 * the hint is dropped and the segment read from its start. Only the header
 * there is checked: the caller vouches that it is a frame boundary
 * (log.h, tms_log_iter_open_at). */
static void rd_hint(rd *r)
{
    tms_frame_info fi;
    uint64_t at = r->hint_off;
    r->hint_off = 0;   /* once */
    if (at <= TMS_LOG_SEGMENT_HEADER)
        return;
    tms_err err = r->err;   /* a read that fails here leaves no report: the reading from the start meets it */
    char msg[sizeof r->rep->msg];
    memcpy(msg, r->rep->msg, sizeof msg);
    r->off = at;
    ssize_t got = rd_fill(r, TMS_LOG_FRAME_HEADER);
    if (got < 0) {
        r->err = err;
        memcpy(r->rep->msg, msg, sizeof msg);
    }
    if (got >= (ssize_t)TMS_LOG_FRAME_HEADER &&
        tms__frame_check(rd_at(r), TMS_LOG_FRAME_HEADER, 0, NULL, &fi) == TMS_FRAME_PARTIAL &&
        fi.seq >= r->expect && fi.seq < r->skim_below) {
        r->expect = fi.seq;
        r->chain_known = 0;
        return;
    }
    r->off = TMS_LOG_SEGMENT_HEADER;   /* (a read error is met again there) */
    r->blen = 0;
}

/* Open the current segment if needed and check its header. */
static int rd_enter(rd *r)
{
    if (r->fd < 0) {
        uint64_t first = r->segs[r->si];
        tms__seg_name(r->name, first);
        r->off = 0;
        r->blen = 0;
        r->boff = 0;
        if (first > r->expect)
            return rd_bad(r, "segment starts at seq %" PRIu64 ": records %" PRIu64 "..%" PRIu64
                          " are missing", first, r->expect, first - 1);
        if (first < r->expect && r->si == 0)
            return rd_bad(r, "segment starts at seq %" PRIu64 ": the log starts after its base, seq %" PRIu64,
                          first, r->base);
        if (first < r->expect)
            return rd_bad(r, "segment starts at seq %" PRIu64 ": overlaps the previous segment", first);
        r->fd = tms_io_openat(r->io, r->dirfd, r->name, O_RDONLY | O_CLOEXEC, 0);
        if (r->fd < 0)
            return rd_io(r, "cannot open");
    }
    if (r->off != 0)
        return RD_OK;
    ssize_t avail = rd_fill(r, TMS_LOG_SEGMENT_HEADER);
    if (avail < 0)
        return RD_ERR;
    uint64_t hfirst;
    switch (tms__seg_check(r->buf, (size_t)avail, r->segs[r->si], &hfirst)) {
    case TMS_SEG_OK:
        break;
    case TMS_SEG_SHORT:
        return rd_tear_or_bad(r, TMS_TORN_SEGMENT, "incomplete segment header");
    case TMS_SEG_BAD_MAGIC:
        if (rd_is_last(r)) {
            uint64_t zero_from, eof;
            if (rd_zero_suffix(r, 0, &zero_from, &eof) < 0)
                return RD_ERR;
            if (zero_from == 0)
                return rd_tear(r, TMS_TORN_SEGMENT, "zero-filled segment header");
        }
        return rd_bad(r, "bad segment magic");
    case TMS_SEG_BAD_FIRST:
        return rd_bad(r, "segment header says first seq %" PRIu64, hfirst);
    }
    r->off = TMS_LOG_SEGMENT_HEADER;
    if (r->hint_off && r->segs[r->si] == r->hint_seg)
        rd_hint(r);
    return RD_OK;
}

/* Where the all-zero suffix of the current segment begins, scanning from
 * pos to EOF (EOF itself when the file does not end in zeros); *eof gets
 * the file's size. 0, or -1 on a read error. Clobbers the buffer. */
static int rd_zero_suffix(rd *r, uint64_t pos, uint64_t *zero_from, uint64_t *eof)
{
    *zero_from = pos;
    r->blen = 0;
    for (;;) {
        ssize_t n = tms_io_pread(r->io, r->fd, r->buf, r->cap, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rd_io(r, "read failed"), -1;
        if (n == 0)
            break;
        size_t i = (size_t)n;
        while (i >= 8) {   /* a word at a time from the end: most of what is scanned is zeros */
            uint64_t w;
            memcpy(&w, r->buf + i - 8, 8);
            if (w)
                break;
            i -= 8;
        }
        while (i > 0 && r->buf[i - 1] == 0)
            i--;
        if (i > 0)
            *zero_from = pos + (uint64_t)i;
        pos += (uint64_t)n;
    }
    *eof = pos;
    return 0;
}

#define SECTOR 512u   /* the unit a disk writes whole or not at all (4 KiB devices: a multiple) */

/* The frame at r->off failed a check (its header if !head_ok; else its body,
 * flen bytes long). Was it the last write, cut by a crash? A disk leaves of
 * a write that did not complete its sectors up to some point: from a sector
 * boundary, or from where the write began (the start of a frame), to the
 * end, the file holds zeros or nothing. So the frame is torn when, for the
 * first such point S at or after both its start and the start of the file's
 * all-zero suffix, its damage can lie at or after S: its header from S on
 * (S within the first 16 bytes, which the header checksum covers), or its
 * body reaching past S. Anything else is corruption, refused. */
static int rd_tail(rd *r, int head_ok, uint64_t flen, const char *what)
{
    uint64_t zero_from, eof, start = r->off, cut;
    if (!rd_is_last(r))
        return rd_bad(r, "%s", what);
    if (rd_zero_suffix(r, start, &zero_from, &eof) < 0)
        return RD_ERR;
    if (zero_from <= start)
        cut = start;   /* zeros from the frame's start: the write began here */
    else
        cut = (zero_from + SECTOR - 1) / SECTOR * SECTOR;
    if (cut > eof)
        cut = eof;     /* the file's last, partial sector */
    /* a whole frame before the cut (even one ending at the end of the file)
     * was written as it is: its damage is real. (The zeros a writer
     * preallocates, log.c, are no different after a crash: it leaves whole
     * sectors of a write in them, as at the end of a file.) But a reader of
     * a live log (follow) can find the writer stopped in the middle of
     * copying a frame over the zeros, at any byte and for any time (it is
     * preempted, throttled): a frame that reaches into the zeros is not
     * written yet for it, an end to retry from, not damage. The open that
     * recovers the log, alone with it, stays strict. */
    int damage_after_cut = head_ok ? start + flen > cut : cut < start + 16;
    int unfinished = r->follow && (head_ok ? start + flen > zero_from : start + 16 > zero_from);
    if (!damage_after_cut && !unfinished)
        return rd_bad(r, "%s", what);
    r->torn_end = zero_from;   /* the bytes of the tear: the zeros after it are not */
    return rd_tear(r, TMS_TORN_FRAME, cut == start ? "zero-filled tail (torn write)"
                   : damage_after_cut ? "final record cut at a sector boundary (torn write)"
                                      : "final record not written whole (a write in progress, or torn)");
}

/* Is the last segment's rest, from r->off (where a frame header of zeros
 * was read: no frame has length 0), all zeros? That is space the writer
 * preallocated (log.c) and has not written yet: the end of the log, not a
 * tear. The scan to the end of the file is made once per position and
 * file size. 1 yes, 0 no (the frame at r->off is then checked as any
 * other), -1 on a read error. The buffer is dropped either way: the writer
 * may fill those zeros, and a later call must read them again. */
static int rd_unwritten(rd *r)
{
    struct stat st;
    uint64_t zero_from, eof, from = r->off;
    if (fstat(r->fd, &st) != 0)
        return rd_io(r, "cannot stat"), -1;
    /* zeros found from zeros_off to zeros_size before: a writer writes
     * frames from where its frames end, so only what it appended since is
     * read again (a follower at a live log's end scans each byte once) */
    if (r->zeros_known && r->off >= r->zeros_off && r->zeros_size <= (uint64_t)st.st_size)
        from = r->zeros_size > r->off ? r->zeros_size : r->off;
    if (from < (uint64_t)st.st_size || !r->zeros_known) {
        if (rd_zero_suffix(r, from, &zero_from, &eof) < 0)
            return -1;
        if (zero_from > from)
            return 0;
        if (from == r->off || !r->zeros_known)
            r->zeros_off = r->off;
        r->zeros_known = 1;
        r->zeros_size = eof;
    }
    r->blen = 0;
    r->boff = r->off;
    return 1;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* The frame at r->off does not check: a torn final record, or corruption. */
int tms__rd_fault(rd *r, tms_frame_fault fault, const tms_frame_info *fi)
{
    char buf[64];
    const char *what = tms__frame_fault_text(fault, fi, buf, sizeof buf);
    switch (fault) {
    case TMS_FRAME_SHORT_HEAD:
    case TMS_FRAME_PARTIAL:
        return rd_tear_or_bad(r, TMS_TORN_FRAME, what);
    case TMS_FRAME_HEAD_CRC:
        return rd_tail(r, 0, 0, what);
    case TMS_FRAME_BODY_CRC:
        return rd_tail(r, 1, fi->size, what);
    default:
        return rd_bad(r, "%s", what);
    }
}

/* A frame an iterator passes over on its way to its first (seq + 1 <
 * skim_below: not even the stored hash its first is chained to), whose
 * header checks, skimmed: when the next frame's header, where this one's
 * length says it starts, is at hand and checks too (so this is not the last
 * frame written, which may be torn), its body's CRC is not computed (an
 * iterator from the middle of a 64 MiB segment spent most of its time on
 * the CRCs of frames it does not return). Nothing of its body is used, and
 * the frames from the one before the iterator's first on are checked
 * whole, so what the iterator hands out is as checked as before; only
 * damage inside the bodies of frames it passes over goes unsaid (a full
 * verify, or an open's recovery, which never skims, says it). RD_FRAME
 * with r advanced past it, or RD_OK: check it whole. */
static int rd_skim(rd *r, size_t avail, uint64_t seq)
{
    tms_frame_info fi, next;
    if (seq + 1 >= r->skim_below || avail < TMS_LOG_FRAME_HEADER)
        return RD_OK;
    if (r->skimmed_to == r->off && r->skimmed_to) {   /* its header checked as the one after the last skimmed */
        fi.len = tms_get_le32(rd_at(r) + TMS_FR_LEN);
        fi.size = TMS_LOG_FRAME_HEADER + (size_t)fi.len;
    } else if (tms__frame_check(rd_at(r), TMS_LOG_FRAME_HEADER, seq, NULL, &fi) != TMS_FRAME_PARTIAL) {
        return RD_OK;   /* (its header alone: the whole frame would be checked) */
    }
    if (avail < fi.size + TMS_LOG_FRAME_HEADER ||   /* (what is buffered only: at a buffer's end, checked whole) */
        tms__frame_check(rd_at(r) + fi.size, TMS_LOG_FRAME_HEADER, seq + 1, NULL, &next) != TMS_FRAME_PARTIAL)
        return RD_OK;
    r->frame = rd_at(r);
    r->chain_known = 0;   /* its stored hash is not taken: the next frame's is, checked */
    r->frame_off = r->off;
    r->frame_seq = seq;
    r->frame_len = fi.len;
    r->off += fi.size;
    r->skimmed_to = r->off;
    r->expect++;
    return RD_FRAME;
}

/* Check the frame at r->off; avail bytes of it are buffered. The chain is
 * recomputed unless another reader does it (hash_from, hash_pick). */
static int rd_frame(rd *r, size_t avail)
{
    tms_frame_info fi;
    uint64_t seq = r->expect;
    if (rd_skim(r, avail, seq) == RD_FRAME)
        return RD_FRAME;
    int chain = r->chain_known && seq >= r->hash_from && (!r->hash_pick || r->hash_pick(r->hash_ctx, seq));
    const uint8_t *prev = chain ? r->prev : NULL;
    tms_frame_fault fault = tms__frame_check(rd_at(r), avail, seq, prev, &fi);
    if (fault == TMS_FRAME_PARTIAL) {   /* the header checks: read the whole frame */
        ssize_t got = rd_fill(r, fi.size);
        if (got < 0)
            return RD_ERR;
        if ((size_t)got >= fi.size)
            fault = tms__frame_check(rd_at(r), (size_t)got, seq, prev, &fi);
    }
    /* A live log (follow): what is buffered past the writer's last write
     * may be zeros it has since written over (log.c preallocates), and a
     * read can catch it in the middle of copying a frame, at any byte (a
     * preallocated file's size does not move as the copy goes, as an
     * appended one's does). So a frame of the last segment that does not
     * check is read again, at once and then for up to FOLLOW_WAIT_MS,
     * before it is called torn or damaged. */
    for (int tries = 0; fault != TMS_FRAME_OK && r->follow && rd_is_last(r) && tries <= FOLLOW_TRIES; tries++) {
        if (tries > 0)
            nanosleep(&(struct timespec){0, FOLLOW_WAIT_MS * 1000000L / FOLLOW_TRIES}, NULL);
        r->blen = 0;
        r->boff = r->off;
        ssize_t got = rd_fill(r, fi.size ? fi.size : TMS_LOG_FRAME_HEADER);   /* fi.size: a header that checked */
        if (got < 0)
            return RD_ERR;
        fault = tms__frame_check(rd_at(r), (size_t)got, seq, prev, &fi);
    }
    if (fault != TMS_FRAME_OK)
        return tms__rd_fault(r, fault, &fi);
    r->frame = rd_at(r);
    memcpy(r->prev, r->frame + TMS_FR_HASH, TMS_LOG_HASH_LEN);
    r->chain_known = 1;
    r->frame_off = r->off;
    r->frame_seq = seq;
    r->frame_len = fi.len;
    r->off += fi.size;
    r->expect++;
    return RD_FRAME;
}

static void rd_advance(rd *r)
{
    tms_io_close(r->io, r->fd);
    r->fd = -1;
    r->has_done = 1;
    r->done_first = r->segs[r->si];
    r->done_end = r->off;
    r->si++;
    r->off = 0;
    r->blen = 0;
    r->zeros_known = 0;
    r->skimmed_to = 0;
}

/* Take a fresh segment list (a live writer may have rolled). */
static int rd_relist(rd *r)
{
    uint64_t *segs = NULL;
    size_t n = 0, j = 0;
    tms_err e = tms__seg_list(r->dirfd, &segs, &n);
    if (e != TMS_OK) {
        r->err = e;
        snprintf(r->rep->msg, sizeof r->rep->msg, "cannot list the log directory");
        return RD_ERR;
    }
    if (r->si < r->nsegs) {
        while (j < n && segs[j] != r->segs[r->si])
            j++;
        if (j == n) {
            free(segs);
            errno = ENOENT;
            return rd_io(r, "segment disappeared");
        }
    }
    free(r->segs);
    r->segs = segs;
    r->nsegs = n;
    r->si = j;
    return RD_OK;
}

/* At the end of what is written: RD_END; or, following a live log not yet
 * re-listed in this call, RD_OK to look again with a fresh segment list (a
 * writer may have rolled); RD_ERR. */
static int rd_end(rd *r, int *relisted)
{
    if (!r->follow || *relisted)
        return RD_END;
    if (rd_relist(r) != RD_OK)
        return RD_ERR;
    *relisted = 1;
    return RD_OK;
}

/* The next frame (RD_FRAME), the end (RD_END), a torn tail (RD_TORN) or an
 * error (RD_ERR). After RD_END or RD_TORN a later call retries from there. */
int tms__rd_next(rd *r)
{
    int relisted = 0, st;
    for (;;) {
        if (r->fd < 0 && r->si >= r->nsegs) {
            if ((st = rd_end(r, &relisted)) != RD_OK)
                return st;
            continue;
        }
        if ((st = rd_enter(r)) != RD_OK)
            return st;
        ssize_t avail = rd_fill(r, TMS_LOG_FRAME_HEADER);
        if (avail < 0)
            return RD_ERR;
        if (avail > 0 && rd_is_last(r) && all_zero(rd_at(r), (size_t)avail < 16 ? (size_t)avail : 16)) {
            int u = rd_unwritten(r);
            if (u < 0)
                return RD_ERR;
            if (u > 0) {   /* preallocated, unwritten: the end, as the end of the file is */
                if ((st = rd_end(r, &relisted)) != RD_OK)
                    return st;
                continue;
            }
            if ((avail = rd_fill(r, TMS_LOG_FRAME_HEADER)) < 0)
                return RD_ERR;
        }
        if (avail > 0)
            return rd_frame(r, (size_t)avail);
        if (rd_is_last(r)) {
            if ((st = rd_end(r, &relisted)) != RD_OK)
                return st;
            continue;
        }
        rd_advance(r);
    }
}

/* Position at the segment holding from (the last one starting at or before
 * it); the chain is verified from seq 1 only when that is the first segment. */
tms_err tms__rd_init(rd *r, int dirfd, uint64_t from, int follow, tms_log_report *rep)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->dirfd = dirfd;
    r->follow = follow;
    r->rep = rep;
    snprintf(r->name, sizeof r->name, "-");
    if (sodium_init() < 0) {
        snprintf(rep->msg, sizeof rep->msg, "libsodium failed to initialise");
        return TMS_E_IO;
    }
    r->buf = malloc(RD_CHUNK);
    if (!r->buf)
        return TMS_E_NOMEM;
    r->cap = RD_CHUNK;
    tms_err e = tms__seg_list(dirfd, &r->segs, &r->nsegs);
    if (e != TMS_OK) {
        snprintf(rep->msg, sizeof rep->msg, "cannot list the log directory: %s", strerror(errno));
        return e;
    }
    uint8_t base_head[TMS_LOG_HASH_LEN];
    if ((e = tms__log_base_read(dirfd, &r->base, base_head, rep->msg, sizeof rep->msg)) != TMS_OK)
        return e;
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i] <= from)
            r->si = i;
    r->chain_known = r->si == 0;
    r->expect = r->si == 0 ? r->base + 1 : r->segs[r->si];
    if (r->si == 0)
        memcpy(r->prev, base_head, TMS_LOG_HASH_LEN);   /* zeros without a base: the prev of seq 1 */
    r->hash_from = from;
    return TMS_OK;
}

void tms__rd_free(rd *r)
{
    if (r->fd >= 0)
        tms_io_close(r->io, r->fd);
    free(r->buf);
    free(r->segs);
    r->fd = -1;
    r->buf = NULL;
    r->segs = NULL;
}

tms_err tms__log_recover(int dirfd, const tms_io *io, uint64_t trust_seq, const uint8_t *trust_head, int last_only,
                         tms_log_recovery *res, tms_log_report *rep)
{
    rd r;
    int st;
    memset(res, 0, sizeof *res);
    tms_err e = tms__rd_init(&r, dirfd, trust_seq ? trust_seq : 1, 0, rep);
    r.io = io;
    if (e != TMS_OK)
        goto out;
    last_only = last_only && !trust_seq && r.nsegs > 1;
    if (last_only) {   /* from the last segment's first frame on */
        trust_seq = r.segs[r.nsegs - 1];
        tms__rd_free(&r);
        e = tms__rd_init(&r, dirfd, trust_seq, 0, rep);
        r.io = io;
        if (e != TMS_OK)
            goto out;
    }
    r.hash_from = r.expect;   /* the chain from the segment's first frame on (its own stored hash taken) */
    if (trust_seq && trust_seq == r.base && r.si == 0)   /* the snapshot the directory was seeded from */
        res->trusted = trust_head && !memcmp(r.prev, trust_head, TMS_LOG_HASH_LEN);
    while ((st = tms__rd_next(&r)) == RD_FRAME)
        if (trust_seq && r.expect - 1 == trust_seq)
            res->trusted = last_only || (trust_head && !memcmp(r.prev, trust_head, TMS_LOG_HASH_LEN));
    if (trust_seq && !res->trusted) {   /* another log, cut below it, or no whole frame: everything is checked */
        tms__rd_free(&r);
        return tms__log_recover(dirfd, io, 0, NULL, 0, res, rep);
    }
    if (st == RD_ERR) {
        e = r.err;
        goto out;
    }
    res->last_seq = r.expect - 1;
    memcpy(res->head, r.prev, TMS_LOG_HASH_LEN);
    if (st == RD_TORN) {
        res->torn = r.torn;
        res->torn_seg = r.segs[r.si];
        res->torn_offset = r.torn_off;
        res->torn_bytes = r.torn_bytes;
        snprintf(res->torn_what, sizeof res->torn_what, "%s", r.torn_what);
    }
    if (st == RD_TORN && r.torn == TMS_TORN_SEGMENT) {
        res->has_seg = r.has_done;
        res->seg_first = r.done_first;
        res->seg_end = r.done_end;
    } else if (r.nsegs > 0) {
        res->has_seg = 1;
        res->seg_first = r.segs[r.si];
        res->seg_end = r.off;
    }
out:
    tms__rd_free(&r);
    return e;
}
