/* bench_chain.c -- what the log's hash chain costs on its own: the
 * BLAKE2b-256 of every record (tms_log_chain_hash: the head before it, its
 * seq, its payload), one record after another on one core, as a checker
 * recomputes it. The chain cannot be split (each hash takes the one
 * before), but its check can (each frame stores its hash: log_iter.c), so
 * two cores can do it in half the time and no less. This is the floor under
 * every tool that checks the chain from record 1 (tms-audit who-can,
 * tms-history custom, verify): benchmarks/RESULTS.md, "twelfth session".
 *
 * usage: bench_chain [RECORDS (1000000)] [PAYLOAD BYTES (130)] [ROUNDS (5)]
 * Prints seconds per round (min / median / max) and per million records. */
#include "log.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000, len = argc > 2 ? atol(argv[2]) : 130;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (n < 1 || len < 1 || len > 65536 || rounds < 1 || rounds > 99 || sodium_init() < 0) {
        fputs("usage: bench_chain [RECORDS] [PAYLOAD BYTES (1-65536)] [ROUNDS (1-99)]\n", stderr);
        return 2;
    }
    uint8_t *payload = malloc((size_t)len), head[TMS_LOG_HASH_LEN] = {0};
    double t[99];
    if (!payload)
        return 1;
    for (long i = 0; i < len; i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        for (long s = 1; s <= n; s++) {
            payload[0] = (uint8_t)s;   /* every record its own bytes */
            tms_log_chain_hash(head, (uint64_t)s, payload, (size_t)len, head);
        }
        t[r] = now() - t0;
    }
    qsort(t, (size_t)rounds, sizeof *t, cmp_double);
    printf("bench_chain: %ld records of %ld bytes, %d rounds: %.3f / %.3f / %.3f s (min / median / max); "
           "%.3f s per million records on one core, %.3f on two (head %02x%02x..)\n",
           n, len, rounds, t[0], t[rounds / 2], t[rounds - 1], t[rounds / 2] * 1e6 / (double)n,
           t[rounds / 2] * 1e6 / (double)n / 2, head[0], head[1]);
    free(payload);
    return 0;
}
