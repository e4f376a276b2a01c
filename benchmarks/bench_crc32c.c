/* bench_crc32c.c -- the log's CRC32C (engine/storage/crc32c.c: SSE4.2 crc32
 * instruction, 8 bytes at a time) against ISA-L's crc32_iscsi (libisal, the
 * Debian library issue 12 names), on the buffer sizes a log checksums: a
 * frame header, a typical record, a large record, a whole segment read.
 * First both must agree on every size (and on the CRC32C check value);
 * then R rounds, alternating which goes first, give bytes/s of each and
 * their ratio per round (min / median / max). Markdown on stdout.
 *
 * usage: bench_crc32c [ROUNDS]   (default 7) */
#include "log.h"
#include <isa-l/crc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CRC32C through ISA-L in the log's convention (crc is the finalised value). */
static uint32_t isal(uint32_t crc, const uint8_t *p, size_t len)
{
    return ~crc32_iscsi((unsigned char *)p, (int)len, ~crc);
}

static volatile uint32_t sink;

/* Seconds for `reps` checksums of len bytes with f (0: ours, 1: ISA-L). */
static double run(int which, const uint8_t *buf, size_t len, long reps)
{
    uint32_t c = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < reps; i++)
        c = which ? isal(c, buf, len) : tms_crc32c(c, buf, len);
    sink = c;
    return (double)(now_ns() - t0) / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 7;
    static const size_t sizes[] = {24, 200, 4096, 65536, 1 << 20};
    size_t nsizes = sizeof sizes / sizeof sizes[0];
    uint8_t *buf = malloc(1 << 20);
    if (!buf || rounds < 1 || rounds > 64)
        return 2;
    for (size_t i = 0; i < (1u << 20); i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    if (tms_crc32c(0, (const uint8_t *)"123456789", 9) != 0xE3069283u || isal(0, (const uint8_t *)"123456789", 9) != 0xE3069283u) {
        fprintf(stderr, "bench_crc32c: a check value is wrong: ours %08x, ISA-L %08x\n",
                tms_crc32c(0, (const uint8_t *)"123456789", 9), isal(0, (const uint8_t *)"123456789", 9));
        return 1;
    }
    for (size_t s = 0; s < nsizes; s++)
        for (size_t off = 0; off < 8; off++)
            if (tms_crc32c(7, buf + off, sizes[s] - 8) != isal(7, buf + off, sizes[s] - 8)) {
                fprintf(stderr, "bench_crc32c: disagree at %zu bytes\n", sizes[s]);
                return 1;
            }
    printf("| bytes | ours GB/s min / median / max | ISA-L GB/s min / median / max | ISA-L / ours per round min / median / max |\n");
    printf("|---|---|---|---|\n");
    for (size_t s = 0; s < nsizes; s++) {
        double ours[64], theirs[64], ratio[64];
        long reps = (long)((256u << 20) / sizes[s]);   /* 256 MiB per measurement */
        for (int r = 0; r < rounds; r++) {
            double a, b;
            if (r % 2) {
                b = run(1, buf, sizes[s], reps);
                a = run(0, buf, sizes[s], reps);
            } else {
                a = run(0, buf, sizes[s], reps);
                b = run(1, buf, sizes[s], reps);
            }
            ours[r] = (double)reps * (double)sizes[s] / a / 1e9;
            theirs[r] = (double)reps * (double)sizes[s] / b / 1e9;
            ratio[r] = theirs[r] / ours[r];
        }
        qsort(ours, (size_t)rounds, sizeof *ours, cmp);
        qsort(theirs, (size_t)rounds, sizeof *theirs, cmp);
        qsort(ratio, (size_t)rounds, sizeof *ratio, cmp);
        printf("| %zu | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f | **%.2f / %.2f / %.2f** |\n", sizes[s], ours[0],
               ours[rounds / 2], ours[rounds - 1], theirs[0], theirs[rounds / 2], theirs[rounds - 1], ratio[0],
               ratio[rounds / 2], ratio[rounds - 1]);
    }
    free(buf);
    return 0;
}
