/* lag.h -- how late a record is somewhere on its way to a replica: this
 * host's wall clock now minus the record's stamp (the time its writer gave
 * it, SPEC section 3), counted in a log2 histogram for /metrics. The two
 * clocks are different hosts' when the leader is elsewhere: their skew is
 * in every lag (a stamp ahead of this clock counts as 0). */
#ifndef TMS_LAG_H
#define TMS_LAG_H

#include <stddef.h>
#include <stdint.h>

#define TMS_LAG_BUCKETS 16
#define TMS_LAG_SHIFT 13   /* bucket i counts lags below 2^(i + 13) ns (8 us ... 134 ms); the last, the rest */

typedef struct tms_lag {
    uint64_t bucket[TMS_LAG_BUCKETS];
    uint64_t sum_ns;
} tms_lag;

/* The wall clock now, in ns since the epoch (what stamps are). */
int64_t tms_lag_now(void);
/* The stamp of the record in frame (a log frame, len bytes) into *stamp:
 * 1, or 0 when its payload is not in the layout tms_record_encode writes
 * (the peek never guesses). */
int tms_lag_stamp(const uint8_t *frame, size_t len, int64_t *stamp);
/* Count the lag at now of a record stamped stamp. */
void tms_lag_add(tms_lag *h, int64_t stamp, int64_t now);
/* Both: 1 counted, 0 not (tms_lag_stamp's 0). */
int tms_lag_add_frame(tms_lag *h, const uint8_t *frame, size_t len, int64_t now);

#endif
