/* log_internal.h -- what log.c (the writer) and log_recover.c (the checking
 * reader behind open-time recovery and tms_log_iter) share: little-endian
 * codecs, segment names, the chain hash and the recovery result. Private to
 * the log; nothing outside engine/log*.c includes it. */
#ifndef TMS_LOG_INTERNAL_H
#define TMS_LOG_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include "log.h"

#define TMS_SEG_MAGIC "TMSLOG1\n"
#define TMS_SEG_NAME_MAX 32        /* "%020llu.tmslog" is 27 chars */
#define TMS_SEG_SUFFIX ".tmslog"

/* Frame field offsets (see log.h). */
#define TMS_FR_LEN 0
#define TMS_FR_HEAD_CRC 4
#define TMS_FR_SEQ 8
#define TMS_FR_BODY_CRC 16
#define TMS_FR_RESERVED 20
#define TMS_FR_HASH 24

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

/* CRC32C over the len and seq fields of a frame header. */
static inline uint32_t tms_frame_head_crc(const uint8_t *frame)
{
    return tms_crc32c(tms_crc32c(0, frame + TMS_FR_LEN, 4), frame + TMS_FR_SEQ, 8);
}

/* Segment file name (no directory) for a segment starting at first. */
void tms_log_seg_name(char out[TMS_SEG_NAME_MAX], uint64_t first);


/* The first seqs of every segment file in dirfd, ascending (malloc'd; *segs
 * is NULL when *n == 0). TMS_E_IO / TMS_E_NOMEM on failure. */
tms_err tms_log_list_segments(int dirfd, uint64_t **segs, size_t *n);

enum { TMS_TORN_NONE = 0, TMS_TORN_FRAME = 1, TMS_TORN_SEGMENT = 2 };

/* What a full scan of the log found (tms_log_recover). */
typedef struct tms_log_recovery {
    uint64_t last_seq;                 /* last intact record, 0 if none */
    uint8_t head[TMS_LOG_HASH_LEN];    /* its hash (zeros if none) */
    int has_seg;                       /* a segment to append to exists */
    uint64_t seg_first;                /* ... its first seq */
    uint64_t seg_end;                  /* ... its intact length in bytes */
    int torn;                          /* TMS_TORN_* */
    uint64_t torn_seg;                 /* first seq of the segment with the tear */
    uint64_t torn_offset;              /* where the tear starts (0 for a segment) */
    uint64_t torn_bytes;               /* bytes from there to the end of file */
    char torn_what[96];                /* why it is a tear */
    int trusted;                       /* the segments before trust_seq's were not read (its head matched) */
} tms_log_recovery;

/* Check every segment and frame of the log in dirfd, or (trust_seq > 0)
 * those from the segment holding trust_seq on, when the frame trust_seq
 * carries trust_head (else every one, res->trusted 0). TMS_OK with *res
 * filled, TMS_E_CORRUPT (rep's bad_* and msg filled), TMS_E_IO, TMS_E_NOMEM.
 * Never writes. rep must not be NULL. */
tms_err tms_log_recover(int dirfd, uint64_t trust_seq, const uint8_t *trust_head, tms_log_recovery *res,
                        tms_log_report *rep);

#endif
