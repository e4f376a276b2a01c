/* lag.c -- records' lags into a log2 histogram (lag.h). */
#include "lag.h"
#include "log.h"
#include "record.h"
#include <time.h>

int64_t tms_lag_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int tms_lag_stamp(const uint8_t *frame, size_t len, int64_t *stamp)
{
    size_t plen, tlen;
    const char *tenant;
    const uint8_t *p = tms_log_frame_payload(frame, len, &plen);
    return p && tms_record_peek(p, plen, &tenant, &tlen, stamp);
}

void tms_lag_add(tms_lag *h, int64_t stamp, int64_t now)
{
    uint64_t lag = now > stamp ? (uint64_t)now - (uint64_t)stamp : 0;   /* (unsigned: no overflow, any stamp) */
    int b = 0;
    while (b < TMS_LAG_BUCKETS - 1 && lag >= (UINT64_C(1) << (b + TMS_LAG_SHIFT)))
        b++;
    h->bucket[b]++;
    h->sum_s += (double)lag * 1e-9;
}

void tms_lag_merge(tms_lag *into, const tms_lag *from)
{
    for (int b = 0; b < TMS_LAG_BUCKETS; b++)
        into->bucket[b] += from->bucket[b];
    into->sum_s += from->sum_s;
}

int tms_lag_add_frame(tms_lag *h, const uint8_t *frame, size_t len, int64_t now)
{
    int64_t stamp;
    if (!tms_lag_stamp(frame, len, &stamp))
        return 0;
    tms_lag_add(h, stamp, now);
    return 1;
}
