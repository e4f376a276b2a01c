/* log_reader.h -- the checking reader of the command log (log_recover.c),
 * shared by open-time recovery (tms__log_recover, there) and tms_log_iter
 * (log_iter.c). It streams the segments through one buffer and checks every
 * segment header and frame (both CRCs, seq continuity, the hash chain), and
 * tells a torn final record of the last segment from corruption (log.h).
 * Private to storage. */
#ifndef TMS_LOG_READER_H
#define TMS_LOG_READER_H

#include <stdint.h>
#include <stddef.h>
#include "log_internal.h"

#define RD_CHUNK (64u * 1024u)
#define FOLLOW_TRIES 25          /* a live log's frame that does not check: read again so many times ... */
#define FOLLOW_WAIT_MS 50        /* ... over this long (rd_frame) */

enum { RD_OK, RD_FRAME, RD_END, RD_TORN, RD_ERR };

/* A streaming reader positioned in one segment at a time. */
typedef struct rd {
    int dirfd;
    const tms_io *io;            /* NULL = libc */
    uint64_t *segs;              /* first seq of every segment, ascending */
    size_t nsegs;
    size_t si;                   /* current segment index */
    int fd;                      /* current segment, -1 if not open yet */
    char name[TMS_SEG_NAME_MAX];
    uint64_t off;                /* next frame; 0 = segment header unread */
    uint8_t *buf;                /* holds file bytes [boff, boff + blen) */
    size_t cap, blen;
    uint64_t boff;
    uint64_t expect;             /* seq the next frame must carry */
    uint8_t prev[TMS_LOG_HASH_LEN];
    int chain_known;             /* prev is verified (else trust next frame) */
    int (*hash_pick)(void *ctx, uint64_t seq);   /* when set: the chain of frame seq is recomputed only
                                    where it returns 1 (another reader checks the others) */
    void *hash_ctx;
    uint64_t hash_from;          /* recompute the chain from this seq on; frames before
                                    it (an iterator skipping to its start) are CRC-checked
                                    and their stored hash taken as the chain's */
    uint64_t skim_below;         /* an iterator's first seq: frames before the one before it
                                    may be skimmed, their bodies' CRCs not computed (rd_skim;
                                    0, as tms__rd_init leaves it: none) */
    uint64_t hint_seg, hint_off; /* a locator to start reading at, in segment hint_seg (rd_hint;
                                    hint_off 0: none; taken once) */
    uint64_t skimmed_to;         /* the offset after the last frame skimmed, whose header (the
                                    next frame's) was checked then (0: none) */
    int follow;                  /* re-list the directory at the end (live log) */
    uint64_t base;               /* the log starts after this seq (log_base.c; 0: at 1) */
    tms_err err;                 /* set with RD_ERR */
    tms_log_report *rep;
    const uint8_t *frame;        /* set with RD_FRAME: the frame, its offset, seq and payload length */
    uint64_t frame_off, frame_seq;
    uint32_t frame_len;
    int has_done;                /* a segment before the current one was read */
    uint64_t done_first, done_end;
    int torn;                    /* set with RD_TORN: TMS_TORN_* */
    uint64_t torn_off, torn_bytes;
    uint64_t torn_end;           /* rd_tail: where the zeros after a tear begin (0: the end of the file) */
    char torn_what[96];
    int zeros_known;             /* the current segment holds only zeros from zeros_off to its end, */
    uint64_t zeros_off, zeros_size;   /* ... which was zeros_size bytes (rd_unwritten) */
} rd;

/* Set r up to read the log in dirfd from the segment holding seq from (the
 * chain recomputed from there on; frames before from in that segment are
 * CRC-checked, their stored hash taken, or with skim_below skimmed), re-listing the directory at the end
 * when follow (a live log). A log with a base (log_base.c) starts after it:
 * the first segment must start at base + 1, chained from the base's head.
 * TMS_OK, or an error with rep->msg filled (r is then freed by rd_free). */
tms_err tms__rd_init(rd *r, int dirfd, uint64_t from, int follow, tms_log_report *rep);
/* The next step: RD_FRAME (r->frame and its fields set), RD_END, RD_TORN
 * (r->torn*), RD_ERR (r->err, rep filled). */
int tms__rd_next(rd *r);
/* r's report filled for the frame fault at its position: RD_ERR or RD_TORN. */
int tms__rd_fault(rd *r, tms_frame_fault fault, const tms_frame_info *fi);
void tms__rd_free(rd *r);

#endif
