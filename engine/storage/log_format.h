/* log_format.h -- the command log's format, described and coded once: what
 * the writer (log.c), the recovery and iterator (log_recover.c), the random
 * read and every other reader of frames take from here. Private to storage;
 * other rooms read a frame's fields through log.h (tms_log_frame_seq, ...).
 *
 * THE LOG DIRECTORY holds segment files, each named by the seq of its first
 * record in 20 decimal digits: DIR/00000000000000000001.tmslog. Segments
 * are contiguous: each starts at the seq after the last one of the segment
 * before it; a frame never spans two of them. All integers below are
 * little-endian.
 *
 * SEGMENT HEADER (TMS_LOG_SEGMENT_HEADER = 16 bytes), at offset 0:
 *     0   8  magic "TMSLOG1\n"
 *     8   8  u64 first seq (the one the file name says)
 * Frames follow it back to back, to the end of the file.
 *
 * FRAME (TMS_LOG_FRAME_HEADER = 56 bytes of header, then the payload):
 *     0   4  u32 len        payload length, 1..TMS_LOG_MAX_PAYLOAD
 *     4   4  u32 head_crc   CRC32C over bytes [0,4) ++ [8,16): len and seq
 *     8   8  u64 seq        contiguous from 1 across segments
 *    16   4  u32 body_crc   CRC32C over bytes [24, 56 + len): hash ++ payload
 *    20   4  u32 reserved   0
 *    24  32  hash           BLAKE2b-256(prev hash ++ u64 seq ++ payload), the
 *                           chain head after this record; the prev hash of
 *                           seq 1 is 32 zero bytes
 *    56 len  payload        opaque to the log (a msgpack record, record.h)
 *
 * THE BASE (TMS_LOG_BASE_SIZE = 52 bytes, the file DIR/base; log_base.c):
 * present only in the log of a data directory seeded from a snapshot of
 * seq B (tms-restore seed). Records 1..B are not in that log: its first
 * segment starts at B + 1 and its first frame chains from the head the base
 * holds. Written once, before any segment, never rewritten; a damaged base
 * refuses every read of the log (the seq it starts after is not known).
 *     0   8  magic "TMSBASE1"
 *     8   8  u64 B (>= 1)
 *    16  32  the chain head after record B
 *    48   4  u32 CRC32C over bytes [0, 48)
 *
 * A FRAME CHECKS (tms__frame_check) when, in this order: the header is whole,
 * its checksum holds, it carries the seq expected, its length is in range,
 * its reserved field is zero, the whole frame is at hand, the body checksum
 * holds, and (when the caller knows the hash before it) the chain holds. The
 * head checksum comes first so that a torn header is told from a bad one
 * (log_recover.c decides what is a torn final record: log.h). */
#ifndef TMS_LOG_FORMAT_H
#define TMS_LOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "log.h"

#define TMS_SEG_MAGIC "TMSLOG1\n"
#define TMS_SEG_MAGIC_LEN 8
#define TMS_SEG_FIRST 8                 /* offset of the segment's first seq */
#define TMS_SEG_NAME_MAX 32             /* "%020llu.tmslog" is 27 chars */
#define TMS_SEG_SUFFIX ".tmslog"

#define TMS_LOG_BASE_NAME "base"
#define TMS_LOG_BASE_SIZE 52
#define TMS_BASE_MAGIC "TMSBASE1"
#define TMS_BASE_SEQ 8
#define TMS_BASE_HEAD 16
#define TMS_BASE_CRC 48

/* Frame field offsets (the table above). */
#define TMS_FR_LEN 0
#define TMS_FR_HEAD_CRC 4
#define TMS_FR_SEQ 8
#define TMS_FR_BODY_CRC 16
#define TMS_FR_RESERVED 20
#define TMS_FR_HASH 24
#define TMS_FR_PAYLOAD TMS_LOG_FRAME_HEADER

/* ---- little-endian codecs (the log's, and storage's other files') ---- */

static inline uint32_t tms_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t tms_get_le64(const uint8_t *p)
{
    return (uint64_t)tms_get_le32(p) | (uint64_t)tms_get_le32(p + 4) << 32;
}

static inline void tms_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void tms_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- segments ---- */

/* The file name (no directory) of the segment starting at first. */
void tms__seg_name(char out[TMS_SEG_NAME_MAX], uint64_t first);

/* The first seqs of every segment file in dirfd, ascending (malloc'd; *segs
 * is NULL when *n == 0). TMS_E_IO (errno set) / TMS_E_NOMEM on failure. */
tms_err tms__seg_list(int dirfd, uint64_t **segs, size_t *n);

/* The header of the segment starting at first. */
void tms__seg_header(uint8_t out[TMS_LOG_SEGMENT_HEADER], uint64_t first);

/* What a segment header holds against the one expected (tms__seg_check). */
typedef enum tms_seg_fault {
    TMS_SEG_OK = 0,
    TMS_SEG_SHORT,       /* fewer than TMS_LOG_SEGMENT_HEADER bytes */
    TMS_SEG_BAD_MAGIC,   /* not "TMSLOG1\n" */
    TMS_SEG_BAD_FIRST    /* another first seq than the file name's (*got) */
} tms_seg_fault;

/* Check the avail bytes at h as the header of the segment starting at
 * first; *got is the first seq it holds (when the magic is right). */
tms_seg_fault tms__seg_check(const uint8_t *h, size_t avail, uint64_t first, uint64_t *got);

/* The base of the log in dirfd (log_base.c): TMS_OK with *seq 0 and head
 * zeros when it has none (it starts at seq 1), or with the seq it starts
 * after and the chain head there; TMS_E_CORRUPT (a damaged base file) or
 * TMS_E_IO with why filled. */
tms_err tms__log_base_read(int dirfd, uint64_t *seq, uint8_t head[TMS_LOG_HASH_LEN], char *why, size_t whylen);

/* ---- frames ---- */

/* The whole frame of payload[len] as record seq after the chain head prev,
 * into out (TMS_LOG_FRAME_HEADER + len bytes; payload may not overlap it).
 * Its hash, the new chain head, is at out + TMS_FR_HASH. The caller keeps
 * 1 <= len <= TMS_LOG_MAX_PAYLOAD. */
void tms__frame_encode(uint8_t *out, uint64_t seq, const uint8_t prev[TMS_LOG_HASH_LEN], const uint8_t *payload,
                       size_t len);

/* The header alone of the frame of record seq with chain hash hash and
 * payload[len] (which follows it in the log, not necessarily in memory).
 * hash may be out + TMS_FR_HASH. */
void tms__frame_header(uint8_t out[TMS_LOG_FRAME_HEADER], uint64_t seq, const uint8_t hash[TMS_LOG_HASH_LEN],
                       const uint8_t *payload, size_t len);

/* Why a frame does not check, in the order tms__frame_check checks. */
typedef enum tms_frame_fault {
    TMS_FRAME_OK = 0,
    TMS_FRAME_SHORT_HEAD,   /* fewer than TMS_LOG_FRAME_HEADER bytes at hand */
    TMS_FRAME_HEAD_CRC,     /* the header checksum (len, seq) does not hold */
    TMS_FRAME_SEQ,          /* another seq than the one expected (fi->seq) */
    TMS_FRAME_LENGTH,       /* payload length 0 or over TMS_LOG_MAX_PAYLOAD (fi->len) */
    TMS_FRAME_RESERVED,     /* the reserved field is not zero */
    TMS_FRAME_PARTIAL,      /* the header checks, fewer than fi->size bytes are at hand:
                               read them and check again (or: the frame is cut short) */
    TMS_FRAME_BODY_CRC,     /* the body checksum (hash, payload) does not hold */
    TMS_FRAME_CHAIN         /* the hash is not the chain's after prev */
} tms_frame_fault;

/* A frame's fields, as far as tms__frame_check read them. */
typedef struct tms_frame_info {
    uint64_t seq;           /* the seq field (0 with TMS_FRAME_SHORT_HEAD) */
    uint32_t len;           /* the payload length field (likewise) */
    size_t size;            /* TMS_LOG_FRAME_HEADER + len (0 before the length checked) */
} tms_frame_info;

/* CRC32C over the len and seq fields of a frame header. */
static inline uint32_t tms__frame_head_crc(const uint8_t *f)
{
    return tms_crc32c(tms_crc32c(0, f + TMS_FR_LEN, 4), f + TMS_FR_SEQ, 8);
}

/* Check the frame of which avail bytes are at f: as record expect (0: any
 * seq) and, when prev is not NULL, as the record after chain head prev.
 * TMS_FRAME_OK when it checks (bytes past fi->size are not looked at), or
 * the first fault found; fi is filled as far as the check got. Inline: it
 * is every reader's step per frame (out of line, the streaming reader ran
 * 10% more instructions per frame, callgrind on bench_fold). */
static inline tms_frame_fault tms__frame_check(const uint8_t *f, size_t avail, uint64_t expect, const uint8_t *prev,
                                               tms_frame_info *fi)
{
    fi->seq = 0;
    fi->len = 0;
    fi->size = 0;
    if (avail < TMS_LOG_FRAME_HEADER)
        return TMS_FRAME_SHORT_HEAD;
    fi->len = tms_get_le32(f + TMS_FR_LEN);
    fi->seq = tms_get_le64(f + TMS_FR_SEQ);
    if (tms__frame_head_crc(f) != tms_get_le32(f + TMS_FR_HEAD_CRC))
        return TMS_FRAME_HEAD_CRC;
    if (expect && fi->seq != expect)
        return TMS_FRAME_SEQ;
    if (fi->len == 0 || fi->len > TMS_LOG_MAX_PAYLOAD)
        return TMS_FRAME_LENGTH;
    fi->size = TMS_LOG_FRAME_HEADER + (size_t)fi->len;
    if (tms_get_le32(f + TMS_FR_RESERVED) != 0)
        return TMS_FRAME_RESERVED;
    if (avail < fi->size)
        return TMS_FRAME_PARTIAL;
    if (tms_crc32c(0, f + TMS_FR_HASH, TMS_LOG_HASH_LEN + (size_t)fi->len) != tms_get_le32(f + TMS_FR_BODY_CRC))
        return TMS_FRAME_BODY_CRC;
    if (prev) {
        uint8_t want[TMS_LOG_HASH_LEN];
        tms_log_chain_hash(prev, fi->seq, f + TMS_FR_PAYLOAD, fi->len, want);
        if (memcmp(want, f + TMS_FR_HASH, TMS_LOG_HASH_LEN) != 0)
            return TMS_FRAME_CHAIN;
    }
    return TMS_FRAME_OK;
}

/* The fault in words, for a report ("header checksum mismatch", "frame
 * carries seq 7", ...): buf, or a constant string. */
const char *tms__frame_fault_text(tms_frame_fault fault, const tms_frame_info *fi, char *buf, size_t n);

#endif
