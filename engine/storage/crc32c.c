/* crc32c.c -- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) for the
 * log's frame checksums: the SSE4.2 crc32 instruction when the CPU has it
 * (checked at run time), else a byte-at-a-time table computed once.
 * Hand-written on a measured reason (benchmarks/bench_crc32c.c, RESULTS.md
 * "Issue 12"): Debian's ISA-L (libisal, crc32_iscsi) is 7-8x faster from 4 KiB
 * up, but a frame's checksum covers its hash and payload, about 200 bytes,
 * where ISA-L gives 0.76x of this (0.33x at 24 bytes): on the log's sizes this
 * is faster, and one dependency fewer.
 * Check value: tms_crc32c(0, "123456789", 9) == 0xE3069283. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "log.h"

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[256];
static int crc32c_use_hw;
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc32c_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc32c_use_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

/* Portable path: one table lookup per byte. crc is the finalised value. */
static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint32_t c = ~crc;
    while (len--)
        c = crc32c_table[(c ^ *p++) & 0xFFu] ^ (c >> 8);
    return ~c;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/* SSE4.2 path: 8 bytes per instruction once p is aligned. */
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = (uint32_t)~crc;
    while (len > 0 && ((uintptr_t)p & 7u) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#endif

uint32_t tms_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc32c_once, crc32c_init);
    if (len == 0)
        return crc;
#if defined(__x86_64__)
    if (crc32c_use_hw)
        return crc32c_hw(crc, buf, len);
#endif
    return crc32c_sw(crc, buf, len);
}
