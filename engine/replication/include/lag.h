/* lag.h -- how late a record is somewhere on its way to a replica: this
 * host's wall clock now minus the record's stamp (the time its writer gave
 * it, SPEC section 3), counted in a log2 histogram for /metrics. The two
 * clocks are different hosts' when the leader is elsewhere: their skew is
 * in every lag (a stamp ahead of this clock counts as 0). A stamp is read
 * from a frame before anything checked it (a replica's receipt): a hostile
 * stream can skew these counts, never more. */
#ifndef TMS_LAG_H
#define TMS_LAG_H

#include <stddef.h>
#include <stdint.h>

#define TMS_LAG_BUCKETS 24
#define TMS_LAG_SHIFT 13   /* bucket i counts lags below 2^(i + 13) ns (8.2 us ... 68.7 s); the last, the rest */

typedef struct tms_lag {
    uint64_t bucket[TMS_LAG_BUCKETS];
    double sum_s;          /* the lags' sum in seconds (a double, as Prometheus's clients keep it: no wrap) */
} tms_lag;

/* The wall clock now, in ns since the epoch (what stamps are). */
int64_t tms_lag_now(void);
/* The stamp of the record in frame (a log frame, len bytes) into *stamp:
 * 1, or 0 when its payload is not in the layout tms_record_encode writes
 * (the peek never guesses; it reads within len whatever the bytes). */
int tms_lag_stamp(const uint8_t *frame, size_t len, int64_t *stamp);
/* Count the lag at now of a record stamped stamp (any two values). */
void tms_lag_add(tms_lag *h, int64_t stamp, int64_t now);
/* Both: 1 counted, 0 not (tms_lag_stamp's 0). */
int tms_lag_add_frame(tms_lag *h, const uint8_t *frame, size_t len, int64_t now);
/* Add the counts of from into into. */
void tms_lag_merge(tms_lag *into, const tms_lag *from);

#endif
