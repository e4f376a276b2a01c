/* bench_util.h -- small helpers of bench_sqlite: a monotonic clock, fatal
 * errors, latency percentiles, peak memory, and the raw append+fdatasync
 * loop that is the limit for any durable log on this disk. */
#ifndef TMS_BENCH_UTIL_H
#define TMS_BENCH_UTIL_H

#include <stddef.h>

typedef struct lat_stats {
    double p50, p99;     /* seconds */
} lat_stats;

double bench_now(void);
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* p50 and p99 of n samples (sorts v in place). */
lat_stats bench_percentiles(double *v, size_t n);
long bench_peak_rss_kib(void);
/* Resident memory now (VmRSS), KiB; -1 when unknown. */
long bench_rss_kib(void);
/* Append n records of reclen bytes to a new file at path, `batch` records
 * per write, one fdatasync per write; per-batch latencies go to lat (room
 * for (n + batch - 1) / batch values). Returns the elapsed seconds. */
double bench_raw_append(const char *path, long n, int batch, size_t reclen, double *lat);
/* rm -rf path (a directory this program created). */
void bench_rmtree(const char *path);

#endif
