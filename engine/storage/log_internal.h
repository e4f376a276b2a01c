/* log_internal.h -- what log.c (the writer) takes from log_recover.c (the
 * checking reader behind open-time recovery and tms_log_iter): the
 * recovery's result. The format both follow is log_format.h (included here,
 * so storage files that include this one keep its little-endian codecs).
 * Private to storage. */
#ifndef TMS_LOG_INTERNAL_H
#define TMS_LOG_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include "log.h"
#include "log_format.h"

enum { TMS_TORN_NONE = 0, TMS_TORN_FRAME = 1, TMS_TORN_SEGMENT = 2 };

/* What a full scan of the log found (tms__log_recover). */
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
    int trusted;                       /* the segments before trust_seq's were not read (its head matched,
                                          or last_only) */
} tms_log_recovery;

/* Check every segment and frame of the log in dirfd, or (trust_seq > 0)
 * those from the segment holding trust_seq on, when the frame trust_seq
 * carries trust_head (else every one, res->trusted 0). last_only (with
 * trust_seq 0): those of the last segment, its first frame's stored chain
 * head taken as it is, when it has one whole frame (else every one): the
 * caller checks the rest itself (tms_log_options.check_last_only). TMS_OK
 * with *res filled, TMS_E_CORRUPT (rep's bad_* and msg filled), TMS_E_IO,
 * TMS_E_NOMEM. Never writes. Its opens, reads and closes go through io
 * (NULL = libc). rep must not be NULL. */
tms_err tms__log_recover(int dirfd, const tms_io *io, uint64_t trust_seq, const uint8_t *trust_head, int last_only,
                         tms_log_recovery *res, tms_log_report *rep);

/* For tests: every frame up to this seq has been checked by tms_log_iter's
 * checking thread (TMS_LOG_ITER_CHAIN_ON_THREAD or _SHARED; 0 without one). */
uint64_t tms__log_iter_checked(const tms_log_iter *it);
/* For tests: how many blocks of even frames the checking thread took (TMS_LOG_ITER_CHAIN_SHARED, log_iter.c). */
uint64_t tms__log_iter_checker_blocks(const tms_log_iter *it);

#endif
