/* test_log.c -- unit tests of the command log (engine/log*.c, crc32c.c):
 * format, round trips, segment rolls, torn tails at every byte offset,
 * corruption and tampering detection, I/O fault injection, iteration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "log.h"
#include "../engine/storage/log_internal.h"
#include "testutil.h"

/* A private copy of the CRC code, renamed, so its static table and SSE4.2
 * paths can be tested directly (nothing extra is exported by the engine). */
#define tms_crc32c tu_crc32c_copy
#include "../engine/storage/crc32c.c"
#undef tms_crc32c

#define HDR TMS_LOG_FRAME_HEADER
#define SEGHDR TMS_LOG_SEGMENT_HEADER

/* ---- helpers ---- */

/* Deterministic payloads: record seq has pl_len(seq) bytes of pl_byte(). */
static size_t pl_len(uint64_t seq)
{
    return 1 + (size_t)((seq * 2654435761u) % 300);
}

static uint8_t pl_byte(uint64_t seq, size_t i)
{
    return (uint8_t)(seq * 31 + i * 7 + 1 + (i >> 8));
}

static void pl_fill(uint64_t seq, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pl_byte(seq, i);
}

/* The chain hash computed independently (one-shot API over a copy). */
static void ref_hash(const uint8_t prev[32], uint64_t seq, const uint8_t *p, size_t len,
                     uint8_t out[32])
{
    uint8_t *m = malloc(40 + len);
    assert_non_null(m);
    memcpy(m, prev, 32);
    for (int i = 0; i < 8; i++)
        m[32 + i] = (uint8_t)(seq >> (8 * i));
    memcpy(m + 40, p, len);
    crypto_generichash(out, 32, m, 40 + len, NULL, 0);
    free(m);
}

static tms_err lopen(const char *dir, uint64_t seg_bytes, int readonly, const tms_log_io *io,
                     tms_log **out, tms_log_report *rep)
{
    tms_log_options o = { .segment_bytes = seg_bytes, .readonly = readonly, .io = io };
    return tms_log_open(dir, &o, out, rep);
}

static void seg_path(const char *dir, uint64_t first, char *out, size_t n)
{
    snprintf(out, n, "%s/%020llu.tmslog", dir, (unsigned long long)first);
}

static void seg_name(uint64_t first, char *out, size_t n)
{
    snprintf(out, n, "%020llu.tmslog", (unsigned long long)first);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* First seqs of the segment files in dir, ascending. */
static size_t list_segs(const char *dir, uint64_t *firsts, size_t max)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t l = strlen(de->d_name);
        if (l == 27 && strcmp(de->d_name + 20, ".tmslog") == 0 && n < max)
            firsts[n++] = strtoull(de->d_name, NULL, 10);
    }
    closedir(d);
    qsort(firsts, n, sizeof *firsts, cmp_u64);
    return n;
}

/* Append records from..to with the standard payloads, syncing every batch. */
static void write_records(const char *dir, uint64_t from, uint64_t to, uint64_t seg_bytes,
                          size_t batch)
{
    tms_log *log = NULL;
    uint8_t buf[400];
    assert_int_equal(lopen(dir, seg_bytes, 0, NULL, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_last_seq(log), from - 1);
    for (uint64_t s = from; s <= to; s++) {
        uint64_t got = 0;
        pl_fill(s, buf, pl_len(s));
        assert_int_equal(tms_log_append(log, buf, pl_len(s), &got), TMS_OK);
        assert_int_equal(got, s);
        if ((s - from + 1) % batch == 0)
            assert_int_equal(tms_log_sync(log), TMS_OK);
    }
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
}

/* Iterate from seq 1 and check every record against the standard payloads
 * and an independently computed chain; returns the number of records. The
 * final chain head is stored in head_out when given. */
static uint64_t verify_log(const char *dir, uint8_t *head_out)
{
    tms_log_iter *it = NULL;
    tms_log_record rec;
    uint8_t prev[32] = { 0 }, want[32], buf[400];
    uint64_t n = 0;
    int has = 0;
    assert_int_equal(tms_log_iter_open(dir, 1, &it, NULL), TMS_OK);
    for (;;) {
        assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
        if (!has)
            break;
        n++;
        assert_int_equal(rec.seq, n);
        assert_int_equal(rec.len, pl_len(n));
        pl_fill(n, buf, rec.len);
        assert_memory_equal(rec.payload, buf, rec.len);
        ref_hash(prev, n, buf, rec.len, want);
        assert_memory_equal(rec.hash, want, 32);
        memcpy(prev, want, 32);
    }
    assert_int_equal(tms_log_iter_report(it)->torn, 0);
    tms_log_iter_close(it);
    if (head_out)
        memcpy(head_out, prev, 32);
    return n;
}

/* Offsets of the frames in one segment file's bytes (walking len fields). */
static size_t frame_offsets(const uint8_t *data, size_t len, size_t *offs, size_t max)
{
    size_t n = 0, off = SEGHDR;
    while (off + HDR <= len && n < max) {
        uint32_t l = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 |
                     (uint32_t)data[off + 2] << 16 | (uint32_t)data[off + 3] << 24;
        offs[n++] = off;
        off += HDR + l;
    }
    return n;
}

/* Every segment file's name, size and bytes, to prove a failed open wrote nothing. */
static uint8_t *dir_snapshot(const char *dir, size_t *outlen)
{
    uint64_t segs[512];
    size_t n = list_segs(dir, segs, 512), len = 0;
    uint8_t *snap = NULL;
    for (size_t i = 0; i < n; i++) {
        char p[4096];
        size_t fl = 0;
        seg_path(dir, segs[i], p, sizeof p);
        uint8_t *data = tu_read_file(p, &fl);
        assert_non_null(data);
        snap = realloc(snap, len + 16 + fl);
        assert_non_null(snap);
        memcpy(snap + len, &segs[i], 8);
        memcpy(snap + len + 8, &fl, 8);
        memcpy(snap + len + 16, data, fl);
        len += 16 + fl;
        free(data);
    }
    *outlen = len;
    return snap;
}

/* Opening (writable and read-only) and iterating must all refuse with
 * TMS_E_CORRUPT at bad_seq in segment seg_first, at bad_off unless it is
 * UINT64_MAX, and leave every byte on disk as it was. */
static void expect_corrupt(const char *dir, uint64_t bad_seq, uint64_t seg_first, uint64_t bad_off)
{
    char name[64];
    size_t l0 = 0, l1 = 0;
    uint8_t *before = dir_snapshot(dir, &l0);
    seg_name(seg_first, name, sizeof name);
    for (int ro = 0; ro < 2; ro++) {
        tms_log *log = (tms_log *)1;
        tms_log_report rep;
        assert_int_equal(lopen(dir, 0, ro, NULL, &log, &rep), TMS_E_CORRUPT);
        assert_null(log);
        assert_int_equal(rep.bad_seq, bad_seq);
        assert_string_equal(rep.bad_segment, name);
        assert_non_null(strstr(rep.msg, name));
        if (bad_off != UINT64_MAX)
            assert_int_equal(rep.bad_offset, bad_off);
    }
    /* the iterator finds it too, whether it checks the chain in line, on a
     * second thread, or shared between the two (odd frames there, even ones
     * here); either way no record at or after the damage is handed out */
    static const int flags[] = {0, TMS_LOG_ITER_CHAIN_ON_THREAD, TMS_LOG_ITER_CHAIN_SHARED};
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
        tms_log_iter *it = NULL;
        tms_log_record rec;
        int has = 1;
        uint64_t seen = 0;
        tms_err e;
        assert_int_equal(tms_log_iter_open_flags(dir, 1, flags[f], &it, NULL), TMS_OK);
        while ((e = tms_log_iter_next(it, &rec, &has)) == TMS_OK && has)
            assert_int_equal(rec.seq, ++seen);
        assert_int_equal(e, TMS_E_CORRUPT);
        assert_int_equal(has, 0);
        assert_int_equal(seen, bad_seq - 1);
        assert_int_equal(tms_log_iter_report(it)->bad_seq, bad_seq);
        assert_string_equal(tms_log_iter_report(it)->bad_segment, name);
        if (bad_off != UINT64_MAX)
            assert_int_equal(tms_log_iter_report(it)->bad_offset, bad_off);
        assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_E_CORRUPT); /* stays failed */
        tms_log_iter_close(it);
    }
    uint8_t *after = dir_snapshot(dir, &l1);
    assert_int_equal(l0, l1);
    if (l0)
        assert_memory_equal(before, after, l0);
    free(before);
    free(after);
}

static void flip_byte(const char *path, size_t off, uint8_t mask)
{
    size_t len = 0;
    uint8_t *d = tu_read_file(path, &len);
    assert_non_null(d);
    assert_true(off < len);
    d[off] ^= mask;
    assert_int_equal(tu_write_file(path, d, len), 0);
    free(d);
}

/* ---- fault injection hooks ---- */

static size_t g_write_budget = SIZE_MAX; /* bytes allowed before failing */
static int g_write_errno = ENOSPC;
static size_t g_write_max = SIZE_MAX;    /* short writes */
static int g_eintr_every;                /* every Nth write call fails with EINTR */
static int g_write_calls;
static int g_sync_fail;
static int g_sync_calls;

static void hooks_reset(void)
{
    g_write_budget = SIZE_MAX;
    g_write_errno = ENOSPC;
    g_write_max = SIZE_MAX;
    g_eintr_every = 0;
    g_write_calls = 0;
    g_sync_fail = 0;
    g_sync_calls = 0;
}

/* The budget, short writes and EINTR, for write and pwrite alike (the
 * segment header is written, the frames and preallocated zeros positioned). */
static ssize_t hook_write_at(int fd, const void *buf, size_t len, off_t off)
{
    g_write_calls++;
    if (g_eintr_every && g_write_calls % g_eintr_every == 0) {
        errno = EINTR;
        return -1;
    }
    if (g_write_budget == 0) {
        errno = g_write_errno;
        return -1;
    }
    if (len > g_write_budget)
        len = g_write_budget;
    if (len > g_write_max)
        len = g_write_max;
    ssize_t n = off < 0 ? write(fd, buf, len) : pwrite(fd, buf, len, off);
    if (n > 0 && g_write_budget != SIZE_MAX)
        g_write_budget -= (size_t)n;
    return n;
}

static ssize_t hook_write(int fd, const void *buf, size_t len)
{
    return hook_write_at(fd, buf, len, -1);
}

static ssize_t hook_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return hook_write_at(fd, buf, len, off);
}

static int hook_fdatasync(int fd)
{
    g_sync_calls++;
    if (g_sync_fail) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static const tms_log_io hooks = { .write = hook_write, .fdatasync = hook_fdatasync, .pwrite = hook_pwrite };

static int setup(void **state)
{
    (void)state;
    hooks_reset();
    return sodium_init() < 0 ? -1 : 0;
}

/* ---- CRC32C ---- */

static void test_crc32c_check_value_and_known_vectors(void **state)
{
    (void)state;
    uint8_t b[32];
    assert_int_equal(tms_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(tms_crc32c(tms_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    assert_int_equal(tms_crc32c(0, "", 0), 0);
    assert_int_equal(tms_crc32c(0x12345678u, "", 0), 0x12345678u);
    /* RFC 3720 (iSCSI) B.4 vectors */
    memset(b, 0, sizeof b);
    assert_int_equal(tms_crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xFF, sizeof b);
    assert_int_equal(tms_crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    assert_int_equal(tms_crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    assert_int_equal(tms_crc32c(0, b, 32), 0x113FDB5Cu);
}

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static void test_crc32c_sse_and_table_paths_agree(void **state)
{
    (void)state;
    static const size_t lens[] = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 255, 1000, 4093 };
    uint8_t *buf = malloc(4200);
    assert_non_null(buf);
    randombytes_buf(buf, 4200);
    assert_int_equal(tu_crc32c_copy(0, "123456789", 9), 0xE3069283u); /* runs the copy's init */
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        for (size_t align = 0; align < 8; align++) {
            const uint8_t *p = buf + align;
            uint32_t want = crc_bitwise(p, lens[li]);
            assert_int_equal(crc32c_sw(0, p, lens[li]), want);
            assert_int_equal(tms_crc32c(0, p, lens[li]), want);
            assert_int_equal(tu_crc32c_copy(0, p, lens[li]), want);
#if defined(__x86_64__)
            if (__builtin_cpu_supports("sse4.2")) {
                assert_int_equal(crc32c_hw(0, p, lens[li]), want);
                /* continuation across a split at every position mod 8 */
                size_t cut = lens[li] / 2 + align;
                if (cut <= lens[li])
                    assert_int_equal(crc32c_hw(crc32c_sw(0, p, cut), p + cut, lens[li] - cut), want);
            }
#endif
        }
    }
    free(buf);
}

/* ---- format and round trips ---- */

static void test_log_new_log_has_no_segment_until_first_sync(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), sub[4096], p[4200];
    uint64_t segs[4];
    tms_log *log = NULL;
    tms_log_report rep;
    static const uint8_t zero[32];
    snprintf(sub, sizeof sub, "%s/log", dir); /* created by open */
    assert_int_equal(lopen(sub, 0, 0, &hooks, &log, &rep), TMS_OK);
    assert_int_equal(rep.torn, 0);
    assert_string_equal(rep.msg, "");
    assert_int_equal(tms_log_last_seq(log), 0);
    assert_memory_equal(tms_log_head(log), zero, 32);
    assert_int_equal(tms_log_sync(log), TMS_OK); /* nothing staged */
    assert_int_equal(list_segs(sub, segs, 4), 0);
    assert_int_equal(tms_log_append(log, "x", 1, NULL), TMS_OK);
    assert_int_equal(list_segs(sub, segs, 4), 0); /* staged only */
    g_sync_calls = 0;
    assert_int_equal(tms_log_sync(log), TMS_OK);
    assert_true(g_sync_calls >= 3); /* new segment, its directory, the data */
    assert_int_equal(list_segs(sub, segs, 4), 1);
    assert_int_equal(segs[0], 1);
    tms_log_close(log);
    seg_path(sub, 1, p, sizeof p);
    assert_int_equal(tu_file_size(p), SEGHDR + HDR + 1);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_frame_bytes_match_the_documented_format(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    tms_log *log = NULL;
    uint8_t h1[32], h2[32], zero[32] = { 0 };
    size_t len = 0;
    assert_int_equal(lopen(dir, 0, 0, NULL, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, "hello", 5, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, "world!", 6, NULL), TMS_OK);
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
    seg_path(dir, 1, p, sizeof p);
    uint8_t *d = tu_read_file(p, &len);
    assert_non_null(d);
    assert_int_equal(len, SEGHDR + 2 * HDR + 11);
    assert_memory_equal(d, "TMSLOG1\n\1\0\0\0\0\0\0\0", 16);
    const uint8_t *f = d + SEGHDR;
    assert_memory_equal(f, "\5\0\0\0", 4);
    assert_memory_equal(f + 8, "\1\0\0\0\0\0\0\0", 8);
    assert_memory_equal(f + 20, "\0\0\0\0", 4);
    uint8_t lenseq[12];
    memcpy(lenseq, f, 4);
    memcpy(lenseq + 4, f + 8, 8);
    uint32_t hc = crc_bitwise(lenseq, 12), bc = crc_bitwise(f + 24, 32 + 5);
    assert_memory_equal(f + 4, &hc, 4); /* little-endian host */
    assert_memory_equal(f + 16, &bc, 4);
    ref_hash(zero, 1, (const uint8_t *)"hello", 5, h1);
    assert_memory_equal(f + 24, h1, 32);
    assert_memory_equal(f + 56, "hello", 5);
    f += HDR + 5;
    assert_memory_equal(f + 8, "\2\0\0\0\0\0\0\0", 8);
    ref_hash(h1, 2, (const uint8_t *)"world!", 6, h2);
    assert_memory_equal(f + 24, h2, 32);
    free(d);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_round_trip_reopen_iterate(void **state)
{
    (void)state;
    enum { N = 240 };
    char *dir = tu_mkdtemp();
    tms_log *log = NULL;
    tms_log_report rep;
    uint8_t *pl[N + 1], hashes[N + 1][32], head[32];
    size_t lens[N + 1];
    assert_int_equal(lopen(dir, 0, 0, NULL, &log, NULL), TMS_OK);
    for (uint64_t s = 1; s <= N; s++) {
        lens[s] = s == 100 ? TMS_LOG_MAX_PAYLOAD : s % 50 == 0 ? 70000 + s : 1 + (s * 37) % 900;
        pl[s] = malloc(lens[s]);
        assert_non_null(pl[s]);
        randombytes_buf(pl[s], lens[s]);
        uint64_t got = 0;
        assert_int_equal(tms_log_append(log, pl[s], lens[s], &got), TMS_OK);
        assert_int_equal(got, s);
        memcpy(hashes[s], tms_log_head(log), 32);
        assert_int_equal(tms_log_last_seq(log), s);
        if (s % 17 == 0)
            assert_int_equal(tms_log_sync(log), TMS_OK);
    }
    assert_int_equal(tms_log_staged(log), N % 17);
    assert_int_equal(tms_log_sync(log), TMS_OK);
    assert_int_equal(tms_log_staged(log), 0);
    memcpy(head, tms_log_head(log), 32);
    tms_log_close(log);

    assert_int_equal(lopen(dir, 0, 0, NULL, &log, &rep), TMS_OK);
    assert_int_equal(rep.torn, 0);
    assert_int_equal(tms_log_last_seq(log), N);
    assert_memory_equal(tms_log_head(log), head, 32);
    tms_log_close(log);

    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has = 0;
    uint8_t prev[32] = { 0 }, want[32];
    assert_int_equal(tms_log_iter_open(dir, 1, &it, NULL), TMS_OK);
    for (uint64_t s = 1; s <= N; s++) {
        assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
        assert_int_equal(has, 1);
        assert_int_equal(rec.seq, s);
        assert_int_equal(rec.len, lens[s]);
        assert_memory_equal(rec.payload, pl[s], lens[s]);
        assert_memory_equal(rec.hash, hashes[s], 32);
        ref_hash(prev, s, pl[s], lens[s], want);
        assert_memory_equal(rec.hash, want, 32);
        assert_string_equal(rec.segment, "00000000000000000001.tmslog");
        memcpy(prev, want, 32);
    }
    assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
    assert_int_equal(has, 0);
    assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK); /* end is stable */
    assert_int_equal(has, 0);
    tms_log_iter_close(it);
    for (uint64_t s = 1; s <= N; s++)
        free(pl[s]);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_append_rejects_empty_and_oversized_payloads(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    tms_log *log = NULL;
    uint8_t *big = calloc(1, TMS_LOG_MAX_PAYLOAD + 1);
    assert_non_null(big);
    assert_int_equal(lopen(dir, 0, 0, NULL, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, "a", 0, NULL), TMS_E_TOOBIG);
    assert_int_equal(tms_log_append(log, big, TMS_LOG_MAX_PAYLOAD + 1, NULL), TMS_E_TOOBIG);
    assert_int_equal(tms_log_last_seq(log), 0);
    assert_int_equal(tms_log_staged(log), 0);
    assert_int_equal(tms_log_append(log, big, TMS_LOG_MAX_PAYLOAD, NULL), TMS_OK);
    assert_int_equal(tms_log_last_seq(log), 1);
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
    free(big);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_discard_drops_staged_records(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    tms_log *log = NULL;
    uint8_t head[32], head2[32];
    write_records(dir, 1, 5, 0, 5);
    assert_int_equal(lopen(dir, 0, 0, NULL, &log, NULL), TMS_OK);
    memcpy(head, tms_log_head(log), 32);
    assert_int_equal(tms_log_append(log, "one", 3, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, "two", 3, NULL), TMS_OK);
    assert_int_equal(tms_log_staged(log), 2);
    assert_int_equal(tms_log_last_seq(log), 7);
    tms_log_discard(log);
    assert_int_equal(tms_log_staged(log), 0);
    assert_int_equal(tms_log_last_seq(log), 5);
    assert_memory_equal(tms_log_head(log), head, 32);
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
    assert_int_equal(verify_log(dir, head2), 5);
    assert_memory_equal(head, head2, 32);
    /* close also discards */
    assert_int_equal(lopen(dir, 0, 0, NULL, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, "three", 5, NULL), TMS_OK);
    tms_log_close(log);
    assert_int_equal(verify_log(dir, NULL), 5);
    tu_rmtree(dir);
    free(dir);
}

/* ---- segments ---- */

static void test_log_segment_roll_and_iterate_from_every_seq(void **state)
{
    (void)state;
    enum { N = 150, SEG = 700 };
    char *dir = tu_mkdtemp();
    uint64_t segs[200];
    uint8_t hashes[N + 1][32];
    write_records(dir, 1, N, SEG, 9);
    size_t n = list_segs(dir, segs, 200);
    assert_true(n > 20);
    assert_int_equal(segs[0], 1);
    for (size_t i = 0; i < n; i++) {
        char p[4200];
        size_t len = 0, offs[64];
        seg_path(dir, segs[i], p, sizeof p);
        uint8_t *d = tu_read_file(p, &len);
        assert_non_null(d);
        assert_memory_equal(d, "TMSLOG1\n", 8);
        assert_memory_equal(d + 8, &segs[i], 8);
        size_t nf = frame_offsets(d, len, offs, 64);
        assert_true(nf >= 1);
        assert_true(len <= SEG || nf == 1); /* only a lone frame may exceed it */
        uint64_t next = i + 1 < n ? segs[i + 1] : N + 1;
        assert_int_equal(segs[i] + nf, next); /* contiguous, no frame split */
        free(d);
    }
    assert_int_equal(verify_log(dir, NULL), N);

    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has = 0;
    assert_int_equal(tms_log_iter_open(dir, 1, &it, NULL), TMS_OK);
    for (uint64_t s = 1; s <= N; s++) {
        assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
        assert_int_equal(rec.seq, s);
        memcpy(hashes[s], rec.hash, 32);
    }
    tms_log_iter_close(it);
    for (uint64_t from = 1; from <= N + 2; from++) {
        uint64_t s = from;
        assert_int_equal(tms_log_iter_open(dir, from, &it, NULL), TMS_OK);
        for (;; s++) {
            assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
            if (!has)
                break;
            assert_int_equal(rec.seq, s);
            assert_int_equal(rec.len, pl_len(s));
            assert_memory_equal(rec.hash, hashes[s], 32);
        }
        assert_int_equal(s, from > N ? from : N + 1);
        tms_log_iter_close(it);
    }
    tu_rmtree(dir);
    free(dir);
}

/* Count the records of dir: n expected, every one "a", "b" or 2000 x 0xAB. */
static int verify_big(const char *dir, uint64_t n)
{
    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has = 0;
    uint64_t s = 0;
    assert_int_equal(tms_log_iter_open(dir, 1, &it, NULL), TMS_OK);
    while (tms_log_iter_next(it, &rec, &has) == TMS_OK && has) {
        assert_int_equal(rec.seq, ++s);
        assert_true(rec.len == 1 || (rec.len == 2000 && rec.payload[1999] == 0xAB));
    }
    tms_log_iter_close(it);
    return s == n ? 0 : -1;
}

static void test_log_frame_larger_than_segment_goes_alone(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    tms_log *log = NULL;
    uint64_t segs[8];
    uint8_t big[2000];
    memset(big, 0xAB, sizeof big);
    assert_int_equal(lopen(dir, 300, 0, NULL, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, "a", 1, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, big, sizeof big, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, "b", 1, NULL), TMS_OK);
    assert_int_equal(tms_log_sync(log), TMS_OK);
    assert_int_equal(tms_log_append(log, big, sizeof big, NULL), TMS_OK);
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
    assert_int_equal(list_segs(dir, segs, 8), 4);
    assert_int_equal(segs[0], 1);
    assert_int_equal(segs[1], 2);
    assert_int_equal(segs[2], 3);
    assert_int_equal(segs[3], 4);
    seg_path(dir, 2, p, sizeof p);
    assert_int_equal(tu_file_size(p), SEGHDR + HDR + 2000);
    seg_path(dir, 3, p, sizeof p);
    assert_int_equal(tu_file_size(p), SEGHDR + HDR + 1);
    assert_int_equal(lopen(dir, 300, 0, NULL, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_last_seq(log), 4);
    tms_log_close(log);
    assert_int_equal(verify_big(dir, 4), 0);
    tu_rmtree(dir);
    /* the very first frame of a log is already too big: segment 1 holds it */
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(lopen(dir, 300, 0, NULL, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, big, sizeof big, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, big, sizeof big, NULL), TMS_OK);
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
    assert_int_equal(list_segs(dir, segs, 8), 2);
    assert_int_equal(segs[0], 1);
    assert_int_equal(segs[1], 2);
    seg_path(dir, 1, p, sizeof p);
    assert_int_equal(tu_file_size(p), SEGHDR + HDR + 2000);
    assert_int_equal(verify_big(dir, 2), 0);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_reopen_appends_to_last_segment_and_keeps_chain(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    uint64_t segs[64];
    uint8_t head[32];
    for (uint64_t b = 0; b < 6; b++)
        write_records(dir, b * 10 + 1, b * 10 + 10, 1000, 3);
    assert_int_equal(verify_log(dir, head), 60);
    size_t n = list_segs(dir, segs, 64);
    assert_true(n > 5);
    for (size_t i = 0; i + 1 < n; i++) { /* reopen filled the last segment before rolling */
        char p[4200];
        seg_path(dir, segs[i], p, sizeof p);
        size_t next_len = HDR + pl_len(segs[i + 1]);
        assert_true((uint64_t)tu_file_size(p) + next_len > 1000);
    }
    tms_log *log = NULL;
    assert_int_equal(lopen(dir, 1000, 0, NULL, &log, NULL), TMS_OK);
    assert_memory_equal(tms_log_head(log), head, 32);
    tms_log_close(log);
    tu_rmtree(dir);
    free(dir);
}

/* ---- torn tails ---- */

static void test_log_torn_tail_every_offset_is_cut(void **state)
{
    (void)state;
    enum { K = 20 };
    char *dir = tu_mkdtemp(), p[4200];
    size_t len = 0, offs[K + 1];
    uint8_t head_k[32], head_k1[32], buf[400];
    write_records(dir, 1, K, 0, 4);
    assert_int_equal(verify_log(dir, head_k), K);
    seg_path(dir, 1, p, sizeof p);
    uint8_t *orig = tu_read_file(p, &len);
    assert_non_null(orig);
    assert_int_equal(frame_offsets(orig, len, offs, K + 1), K);
    size_t last = offs[K - 1];
    {
        uint8_t prev[32] = { 0 };
        for (uint64_t s = 1; s < K; s++) {
            pl_fill(s, buf, pl_len(s));
            ref_hash(prev, s, buf, pl_len(s), head_k1);
            memcpy(prev, head_k1, 32);
        }
    }
    for (size_t L = last; L < len; L++) {
        tms_log *log = NULL;
        tms_log_report rep;
        assert_int_equal(tu_write_file(p, orig, L), 0);
        assert_int_equal(lopen(dir, 0, 0, NULL, &log, &rep), TMS_OK);
        assert_int_equal(rep.torn, L != last);
        if (L != last) {
            assert_int_equal(rep.torn_offset, last);
            assert_int_equal(rep.torn_bytes, L - last);
            assert_string_equal(rep.torn_segment, "00000000000000000001.tmslog");
            assert_non_null(strstr(rep.msg, "cut torn final record"));
            assert_non_null(strstr(rep.msg, "00000000000000000001.tmslog"));
        }
        assert_int_equal(tu_file_size(p), (long long)last);
        assert_int_equal(tms_log_last_seq(log), K - 1);
        assert_memory_equal(tms_log_head(log), head_k1, 32);
        pl_fill(K, buf, pl_len(K)); /* re-append record K: same bytes, same chain */
        assert_int_equal(tms_log_append(log, buf, pl_len(K), NULL), TMS_OK);
        assert_int_equal(tms_log_sync(log), TMS_OK);
        assert_memory_equal(tms_log_head(log), head_k, 32);
        tms_log_close(log);
        assert_int_equal(lopen(dir, 0, 0, NULL, &log, &rep), TMS_OK);
        assert_int_equal(rep.torn, 0);
        assert_int_equal(tms_log_last_seq(log), K);
        tms_log_close(log);
        size_t nl = 0;
        uint8_t *now = tu_read_file(p, &nl);
        assert_int_equal(nl, len);
        assert_memory_equal(now, orig, len);
        free(now);
    }
    assert_int_equal(verify_log(dir, NULL), K);
    free(orig);
    tu_rmtree(dir);
    free(dir);
}

static void append_zeros(const char *path, size_t n)
{
    size_t len = 0;
    uint8_t *d = tu_read_file(path, &len);
    assert_non_null(d);
    d = realloc(d, len + n);
    assert_non_null(d);
    memset(d + len, 0, n);
    assert_int_equal(tu_write_file(path, d, len + n), 0);
    free(d);
}

/* Issue 22, item 3: zeros after the last frame are space the writer
 * preallocated (log.c): the end of the log, not a tear; the next sync
 * writes its frames over them, and a close cuts the file back to its
 * frames. (Before preallocation such a tail was reported torn and cut.) */
static void test_log_zero_filled_tail_is_unwritten_space(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    tms_log *log = NULL;
    tms_log_report rep;
    uint8_t buf[400];
    write_records(dir, 1, 12, 0, 5);
    seg_path(dir, 1, p, sizeof p);
    long long size = tu_file_size(p);
    append_zeros(p, 4096);
    assert_int_equal(verify_log(dir, NULL), 12);   /* a reader: the end, nothing torn */
    assert_int_equal(lopen(dir, 0, 0, NULL, &log, &rep), TMS_OK);
    assert_int_equal(rep.torn, 0);
    assert_int_equal(rep.msg[0], '\0');
    assert_int_equal(tms_log_last_seq(log), 12);
    assert_int_equal(tu_file_size(p), size + 4096);   /* kept, to be written over */
    pl_fill(13, buf, pl_len(13));
    assert_int_equal(tms_log_append(log, buf, pl_len(13), NULL), TMS_OK);
    assert_int_equal(tms_log_sync(log), TMS_OK);
    assert_int_equal(tu_file_size(p), size + 4096);   /* written in place, inside the zeros */
    assert_int_equal(verify_log(dir, NULL), 13);      /* while open: the zeros after 13 are the end */
    tms_log_close(log);
    assert_int_equal(tu_file_size(p), size + HDR + (long long)pl_len(13));   /* cut back to the frames */
    assert_int_equal(verify_log(dir, NULL), 13);
    /* zeros, then anything that is not zero: not unwritten space, a damaged record */
    append_zeros(p, 4096);
    size_t len = 0;
    uint8_t *d = tu_read_file(p, &len);
    d[len - 100] = 0x5a;
    assert_int_equal(tu_write_file(p, d, len), 0);
    free(d);
    expect_corrupt(dir, 14, 1, (uint64_t)(size + HDR + (long long)pl_len(13)));
    tu_rmtree(dir);
    free(dir);
}

/* A writer preallocates: its segment is zeros past its last frame; a
 * reader of the live log stops there, and sees each group once synced;
 * a crash leaves the zeros (the reopen appends over them); segments
 * rolled hold their frames alone. */
static void test_log_preallocated_segments(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    tms_log *log = NULL, *log2 = NULL;
    tms_log_iter *it = NULL;
    tms_log_record rec;
    tms_log_report rep;
    uint8_t buf[400];
    int has = 0;
    uint64_t segs[16], seen = 0;
    tms_log_options o = {.segment_bytes = 4096, .prealloc_bytes = 1024};
    assert_int_equal(tms_log_open(dir, &o, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_iter_open(dir, 1, &it, NULL), TMS_OK);
    for (uint64_t s = 1; s <= 60; s++) {
        pl_fill(s, buf, pl_len(s));
        assert_int_equal(tms_log_append(log, buf, pl_len(s), NULL), TMS_OK);
        if (s % 3)
            continue;
        assert_int_equal(tms_log_sync(log), TMS_OK);
        size_t n = list_segs(dir, segs, 16);
        seg_path(dir, segs[n - 1], p, sizeof p);
        assert_int_equal(tu_file_size(p) % 1024 == 0 || tu_file_size(p) == 4096 ||
                         tu_file_size(p) > 4096, 1);   /* written ahead in whole steps */
        while (tms_log_iter_next(it, &rec, &has) == TMS_OK && has)
            assert_int_equal(rec.seq, ++seen);
        assert_int_equal(seen, s);   /* the live reader: every synced record, then the end */
        assert_int_equal(tms_log_iter_report(it)->torn, 0);
        for (size_t i = 0; i + 1 < n; i++) {   /* rolled: frames alone */
            size_t len = 0;
            seg_path(dir, segs[i], p, sizeof p);
            uint8_t *d = tu_read_file(p, &len);
            assert_true(len >= HDR);
            size_t offs[64];
            size_t k = frame_offsets(d, len, offs, 64);
            assert_true(k > 0);
            assert_int_equal(offs[k - 1] + HDR + pl_len(segs[i] + k - 1), len);
            free(d);
        }
    }
    tms_log_iter_close(it);
    assert_true(list_segs(dir, segs, 16) > 3);
    /* a crash: the files as the running writer has them (copied while it is open) */
    char *crashed = tu_mkdtemp(), cmd[9000];
    snprintf(cmd, sizeof cmd, "cp -a '%s/.' '%s/'", dir, crashed);
    assert_int_equal(system(cmd), 0);
    tms_log_close(log);
    size_t n = list_segs(crashed, segs, 16);
    seg_path(crashed, segs[n - 1], p, sizeof p);
    long long before = tu_file_size(p);
    assert_int_equal(before % 1024, 0);   /* zeros after its last frame */
    assert_int_equal(tms_log_open(crashed, &o, &log2, &rep), TMS_OK);
    assert_int_equal(rep.torn, 0);        /* unwritten space, not a tear */
    assert_int_equal(tms_log_last_seq(log2), 60);
    pl_fill(61, buf, pl_len(61));
    assert_int_equal(tms_log_append(log2, buf, pl_len(61), NULL), TMS_OK);
    assert_int_equal(tms_log_sync(log2), TMS_OK);
    assert_int_equal(tu_file_size(p), before);   /* over the zeros */
    tms_log_close(log2);
    assert_true(tu_file_size(p) < before);       /* cut back to its frames at close */
    assert_int_equal(verify_log(crashed, NULL), 61);
    assert_int_equal(verify_log(dir, NULL), 60);
    tu_rmtree(crashed);
    free(crashed);
    tu_rmtree(dir);
    free(dir);
}

/* A live log's writer stopped in the middle of copying a frame over its
 * preallocated zeros (preempted, throttled: here 300 ms after 100 bytes)
 * while a reader follows: the reader waits for the frame, it never calls
 * the log damaged (found by a review: after 50 ms of retries it did). */
static int stall_on;
static ssize_t stall_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *b = buf;
    if (stall_on && len > 100 && b[0] != 0) {   /* a frame, not the zeros */
        ssize_t a = pwrite(fd, buf, 100, off);
        usleep(300 * 1000);
        ssize_t c = pwrite(fd, b + 100, len - 100, off + 100);
        return a < 0 || c < 0 ? -1 : a + c;
    }
    return pwrite(fd, buf, len, off);
}

typedef struct stall_reader {
    const char *dir;
    _Atomic int done;
    uint64_t seen;
    tms_err err;
} stall_reader;

static void *stall_follow(void *arg)
{
    stall_reader *sr = arg;
    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has;
    if ((sr->err = tms_log_iter_open(sr->dir, 1, &it, NULL)))
        return NULL;
    for (;;) {
        int done = atomic_load(&sr->done);
        if ((sr->err = tms_log_iter_next(it, &rec, &has)))
            break;
        if (has)
            sr->seen = rec.seq;
        else if (done)
            break;
        else
            usleep(1000);
    }
    tms_log_iter_close(it);
    return NULL;
}

static void test_log_live_reader_waits_for_a_stalled_write(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    tms_log *log = NULL;
    uint8_t buf[400];
    tms_io io = {.pwrite = stall_pwrite};
    tms_log_options o = {.io = &io};
    stall_reader sr = {.dir = dir};
    pthread_t t;
    assert_int_equal(tms_log_open(dir, &o, &log, NULL), TMS_OK);
    for (uint64_t s = 1; s <= 3; s++) {
        pl_fill(s, buf, 300);
        assert_int_equal(tms_log_append(log, buf, 300, NULL), TMS_OK);
    }
    assert_int_equal(tms_log_sync(log), TMS_OK);
    assert_int_equal(pthread_create(&t, NULL, stall_follow, &sr), 0);
    usleep(100 * 1000);
    stall_on = 1;
    pl_fill(4, buf, 300);
    assert_int_equal(tms_log_append(log, buf, 300, NULL), TMS_OK);
    assert_int_equal(tms_log_sync(log), TMS_OK);   /* its frame copied with a 300 ms stall */
    stall_on = 0;
    usleep(20 * 1000);
    atomic_store(&sr.done, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(sr.err, TMS_OK);
    assert_int_equal(sr.seen, 4);
    tms_log_close(log);
    tu_rmtree(dir);
    free(dir);
}

/* Zero the bytes [from, end of record seq) of segment 1 and add extra zeros. */
static void zero_record_tail(const char *dir, uint64_t seq, size_t keep, size_t extra)
{
    char p[4200];
    size_t len = 0, offs[64];
    seg_path(dir, 1, p, sizeof p);
    uint8_t *d = tu_read_file(p, &len);
    assert_non_null(d);
    assert_true(frame_offsets(d, len, offs, 64) >= seq);
    size_t start = offs[seq - 1], end = start + HDR + pl_len(seq);
    assert_true(start + keep < end);
    memset(d + start + keep, 0, end - start - keep);
    assert_int_equal(tu_write_file(p, d, len), 0);
    free(d);
    if (extra)
        append_zeros(p, extra);
}

/* Issue 8, item 2: what a crash can leave of the last group write -- its
 * bytes up to a sector boundary (or up to where the write began), then zeros
 * to the end, or nothing -- is a torn tail, cut at every such point; damage
 * before that point, or zeros that begin between two boundaries inside a
 * frame that is otherwise whole, are corruption. */
static void test_log_tear_at_every_sector_boundary_of_the_last_write_is_cut(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    size_t len = 0, offs[80], tried = 0;
    write_records(dir, 1, 10, 0, 10);
    seg_path(dir, 1, p, sizeof p);
    uint64_t w = (uint64_t)tu_file_size(p);   /* where the last write begins */
    write_records(dir, 11, 70, 0, 60);        /* the last write: one group of 60 */
    uint8_t *d = tu_read_file(p, &len), *x = malloc(len);
    assert_non_null(d);
    assert_non_null(x);
    assert_int_equal(frame_offsets(d, len, offs, 80), 70);
    for (uint64_t cut = w; cut < len; cut = (cut / 512 + 1) * 512) {
        uint64_t whole = 0;   /* frames that end at or before the cut survive */
        while (whole < 70 && offs[whole] + HDR + pl_len(whole + 1) <= cut)
            whole++;
        for (int zeroed = 0; zeroed < 2; zeroed++) {   /* zeros to the end, or nothing */
            tms_log *log = NULL;
            tms_log_report rep;
            memcpy(x, d, len);
            memset(x + cut, 0, len - cut);
            assert_int_equal(tu_write_file(p, x, zeroed ? len : cut), 0);
            tms_err e = lopen(dir, 0, 0, NULL, &log, &rep);
            if (e != TMS_OK)
                fail_msg("tear at byte %llu (%s): %s", (unsigned long long)cut, zeroed ? "zeros" : "cut", rep.msg);
            /* nothing to cut when the file just ends at a frame's start, or the zeros
               begin there (unwritten space: what the writer preallocates) */
            assert_int_equal(rep.torn, offs[whole] != cut);
            assert_int_equal(tms_log_last_seq(log), whole);
            tms_log_close(log);
            assert_int_equal(verify_log(dir, NULL), whole);
            tried++;
        }
    }
    assert_true(tried > 30);
    /* damage before the boundary, zeros after it: corruption, named */
    uint64_t cut = (offs[40] / 512 + 2) * 512;
    memcpy(x, d, len);
    memset(x + cut, 0, len - cut);
    x[offs[40] + HDR + 2] ^= 0x10;   /* record 41 lies wholly before the cut */
    assert_true(offs[40] + HDR + pl_len(41) <= cut);
    assert_int_equal(tu_write_file(p, x, len), 0);
    expect_corrupt(dir, 41, 1, offs[40]);
    /* zeros from the middle of the final record, no sector boundary among
     * them: the open, alone with the log, refuses it as damage; a reader of
     * a live log cannot tell it from a writer stopped in the middle of
     * copying the frame (log_recover.c, rd_tail): for it, an end */
    if (len % 512 > 2) {
        memcpy(x, d, len);
        size_t from = len - 40 > len / 512 * 512 + 1 ? len - 40 : len / 512 * 512 + 1;
        memset(x + from, 0, len - from);
        assert_int_equal(tu_write_file(p, x, len), 0);
        for (int ro = 0; ro < 2; ro++) {
            tms_log *log = NULL;
            tms_log_report rep;
            assert_int_equal(lopen(dir, 0, ro, NULL, &log, &rep), TMS_E_CORRUPT);
            assert_int_equal(rep.bad_seq, 70);
            assert_int_equal(rep.bad_offset, offs[69]);
        }
        tms_log_iter *it = NULL;
        tms_log_record rec;
        int has = 1;
        uint64_t seen = 0;
        assert_int_equal(tms_log_iter_open(dir, 1, &it, NULL), TMS_OK);
        while (tms_log_iter_next(it, &rec, &has) == TMS_OK && has)
            assert_int_equal(rec.seq, ++seen);
        assert_int_equal(seen, 69);
        assert_int_equal(tms_log_iter_report(it)->torn, 1);
        assert_int_equal(tms_log_iter_report(it)->torn_bytes, from - offs[69]);   /* not the zeros */
        tms_log_iter_close(it);
    }
    free(x);
    free(d);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_zero_run_in_non_final_record_is_corrupt(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    uint64_t k = 0;
    for (k = 10; pl_len(k - 1) < 100; k++)
        ;
    write_records(dir, 1, k, 0, 4);
    zero_record_tail(dir, k - 1, HDR + pl_len(k - 1) - 40, 0);
    expect_corrupt(dir, k - 1, 1, UINT64_MAX);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_torn_segment_header_is_removed(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    uint64_t segs[64];
    static const size_t sizes[] = { 0, 7, 15, 16 };
    write_records(dir, 1, 30, 600, 30);
    size_t n = list_segs(dir, segs, 64);
    assert_true(n >= 3);
    uint64_t last_first = segs[n - 1];
    seg_path(dir, last_first, p, sizeof p);
    size_t len = 0;
    uint8_t *orig = tu_read_file(p, &len);
    assert_non_null(orig);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        tms_log *log = NULL;
        tms_log_report rep;
        uint8_t zeros[16] = { 0 };
        /* a short header, or a full header that never reached the disk */
        assert_int_equal(tu_write_file(p, sizes[i] == 16 ? zeros : orig, sizes[i]), 0);
        assert_int_equal(lopen(dir, 600, 0, NULL, &log, &rep), TMS_OK);
        assert_int_equal(rep.torn, 1);
        assert_int_equal(rep.torn_offset, 0);
        assert_int_equal(rep.torn_bytes, sizes[i]);
        assert_int_equal(tu_file_size(p), -1); /* removed */
        assert_int_equal(tms_log_last_seq(log), last_first - 1);
        tms_log_close(log);
        assert_int_equal(verify_log(dir, NULL), last_first - 1);
        write_records(dir, last_first, 30, 600, 30);
        assert_int_equal(verify_log(dir, NULL), 30);
        size_t nl = 0;
        uint8_t *now = tu_read_file(p, &nl);
        assert_int_equal(nl, len);
        assert_memory_equal(now, orig, len);
        free(now);
    }
    free(orig);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_readonly_open_leaves_torn_tail(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200], missing[4200];
    tms_log *log = NULL;
    tms_log_report rep;
    write_records(dir, 1, 10, 0, 10);
    seg_path(dir, 1, p, sizeof p);
    long long size = tu_file_size(p);
    size_t len = 0;
    uint8_t *d = tu_read_file(p, &len);
    assert_int_equal(tu_write_file(p, d, len - 5), 0);
    assert_int_equal(lopen(dir, 0, 1, NULL, &log, &rep), TMS_OK);
    assert_int_equal(rep.torn, 1);
    assert_int_equal(rep.torn_bytes, HDR + pl_len(10) - 5);
    assert_int_equal(tms_log_last_seq(log), 9);
    assert_int_equal(tms_log_append(log, "x", 1, NULL), TMS_E_INVAL);
    assert_int_equal(tms_log_sync(log), TMS_E_INVAL);
    tms_log_close(log);
    assert_int_equal(tu_file_size(p), size - 5);
    /* a read-only open never creates the directory */
    snprintf(missing, sizeof missing, "%s/none", dir);
    log = (tms_log *)1;
    assert_int_equal(lopen(missing, 0, 1, NULL, &log, &rep), TMS_E_IO);
    assert_null(log);
    assert_int_equal(tu_file_size(missing), -1);
    free(d);
    tu_rmtree(dir);
    free(dir);
}

/* ---- corruption and tampering ---- */

static void test_log_flipped_byte_in_middle_record_is_corrupt(void **state)
{
    (void)state;
    /* len, head_crc, seq, body_crc, reserved, hash, payload */
    static const size_t fields[] = { 1, 5, 9, 17, 21, 40, HDR };
    for (int multi = 0; multi < 2; multi++) {
        for (size_t fi = 0; fi < sizeof fields / sizeof fields[0]; fi++) {
            char *dir = tu_mkdtemp(), p[4200];
            uint64_t segs[64], mid = 0, first = 1;
            size_t len = 0, offs[64];
            write_records(dir, 1, 40, multi ? 900 : 0, 7);
            size_t n = list_segs(dir, segs, 64);
            if (multi) { /* a record in the middle of a sealed middle segment */
                assert_true(n >= 4);
                first = segs[n / 2];
            }
            seg_path(dir, first, p, sizeof p);
            uint8_t *d = tu_read_file(p, &len);
            size_t nf = frame_offsets(d, len, offs, 64);
            size_t idx = multi ? nf / 2 : 20;
            mid = first + idx;
            size_t off = offs[idx] + fields[fi] + (fields[fi] == HDR ? pl_len(mid) / 2 : 0);
            free(d);
            flip_byte(p, off, 0x10);
            expect_corrupt(dir, mid, first, offs[idx]);
            tu_rmtree(dir);
            free(dir);
        }
    }
}

/* A new directory of records 1..n in one segment (batches of 7): its path, the segment's into p, the
 * frames' offsets into offs (n of them, at most 64) and the segment's length into *len. */
static char *one_segment(uint64_t n, char *p, size_t plen, size_t *offs, size_t *len)
{
    char *dir = tu_mkdtemp();
    write_records(dir, 1, n, 0, 7);
    seg_path(dir, 1, p, plen);
    uint8_t *d = tu_read_file(p, len);
    assert_int_equal(frame_offsets(d, *len, offs, 64), n);
    free(d);
    return dir;
}

static void test_log_bad_final_record_with_data_after_is_corrupt(void **state)
{
    (void)state;
    char p[4200];
    size_t len = 0, offs[64];
    char *dir = one_segment(10, p, sizeof p, offs, &len);
    flip_byte(p, offs[9] + 2, 0x01); /* head_crc fails, non-zero bytes follow */
    expect_corrupt(dir, 10, 1, offs[9]);
    flip_byte(p, offs[9] + 2, 0x01);
    flip_byte(p, len - 1, 0x01); /* body fails, no zero run */
    expect_corrupt(dir, 10, 1, offs[9]);
    flip_byte(p, len - 1, 0x01);
    assert_int_equal(verify_log(dir, NULL), 10);
    tu_rmtree(dir);
    free(dir);
}

/* Rewrite segment 1 as the given frames of the original, in order. */
static void rewrite_frames(const char *p, const uint8_t *d, const size_t *offs, size_t nf,
                           size_t len, const int *order, size_t n)
{
    uint8_t *out = malloc(len + 1);
    size_t w = SEGHDR;
    assert_non_null(out);
    memcpy(out, d, SEGHDR);
    for (size_t i = 0; i < n; i++) {
        size_t s = offs[order[i]], e = (size_t)order[i] + 1 < nf ? offs[order[i] + 1] : len;
        memcpy(out + w, d + s, e - s);
        w += e - s;
    }
    assert_int_equal(tu_write_file(p, out, w), 0);
    free(out);
}

/* An iterator from seq from, over every flag: the seqs it hands out (from..) and its last error. */
static tms_err iterate_from(const char *dir, uint64_t from, int flags, uint64_t *last)
{
    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has = 1;
    tms_err e;
    *last = from - 1;
    assert_int_equal(tms_log_iter_open_flags(dir, from, flags, &it, NULL), TMS_OK);
    while ((e = tms_log_iter_next(it, &rec, &has)) == TMS_OK && has)
        assert_int_equal(rec.seq, ++*last);
    tms_log_iter_close(it);
    return e;
}

/* An iterator from the middle of a segment passes over the frames before the
 * one before its first by their headers (rd_skim): damage in such a frame's
 * body is not its to say (an open, which checks everything, says it), while
 * damage in a header it passes, in the frame before its first, or in any it
 * hands out is said, whatever the flags. */
static void test_log_iter_from_the_middle_skims_what_it_passes(void **state)
{
    (void)state;
    static const int flags[] = {0, TMS_LOG_ITER_CHAIN_ON_THREAD, TMS_LOG_ITER_CHAIN_SHARED};
    /* (the frame damaged, the field: a body byte, or the length; from 30: handed out, or not) */
    static const struct { uint64_t seq; size_t field; int said; } cases[] = {
        {10, HDR, 0}, {10, 1, 1}, {28, HDR, 0}, {29, HDR, 1}, {29, 1, 1}, {30, HDR, 1}, {35, HDR, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char p[4200];
        size_t len = 0, offs[64];
        uint64_t last;
        char *dir = one_segment(40, p, sizeof p, offs, &len);
        for (size_t f = 0; f < sizeof flags / sizeof *flags; f++) {   /* undamaged: 30..40 */
            assert_int_equal(iterate_from(dir, 30, flags[f], &last), TMS_OK);
            assert_int_equal(last, 40);
        }
        uint64_t s = cases[c].seq;
        flip_byte(p, offs[s - 1] + cases[c].field + (cases[c].field == HDR ? pl_len(s) / 2 : 0), 0x10);
        for (size_t f = 0; f < sizeof flags / sizeof *flags; f++) {
            tms_err e = iterate_from(dir, 30, flags[f], &last);
            assert_int_equal(e, cases[c].said ? TMS_E_CORRUPT : TMS_OK);
            assert_int_equal(last, cases[c].said ? (s < 30 ? 29 : s - 1) : 40);
        }
        tms_log *log = NULL;
        assert_int_equal(lopen(dir, 0, 1, NULL, &log, NULL), TMS_E_CORRUPT);   /* an open says it, always */
        assert_int_equal(iterate_from(dir, 1, 0, &last), TMS_E_CORRUPT);      /* so does an iterator from 1 */
        assert_int_equal(last, s - 1);
        tu_rmtree(dir);
        free(dir);
    }
}

/* An iterator from seq 30 given a locator (tms_log_iter_open_at): it starts reading at the frame there when
 * that is a frame of its segment before 30, else from the segment's start. Frame 10's header is damaged: only
 * a reading that starts after it gets through. */
static void test_log_iter_open_at_a_locator(void **state)
{
    (void)state;
    static const int flags[] = {0, TMS_LOG_ITER_CHAIN_ON_THREAD, TMS_LOG_ITER_CHAIN_SHARED};
    char p[4200];
    size_t len = 0, offs[64];
    char *dir = one_segment(40, p, sizeof p, offs, &len);
    flip_byte(p, offs[9] + 1, 0x10);   /* frame 10's length */
    struct { uint64_t seg, off; tms_err want; } cases[] = {
        {1, offs[24], TMS_OK},                 /* frame 25: read from there */
        {1, offs[28], TMS_OK},                 /* frame 29, the one before the first */
        {1, offs[29], TMS_E_CORRUPT},          /* frame 30 itself: not before it, not used */
        {1, offs[24] + 9, TMS_E_CORRUPT},      /* inside a frame: not used */
        {1, len + 100, TMS_E_CORRUPT},         /* past the file */
        {2, offs[24], TMS_E_CORRUPT},          /* another segment's */
        {1, 0, TMS_E_CORRUPT}};                /* none */
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (size_t f = 0; f < sizeof flags / sizeof *flags; f++) {
            tms_log_locator at = {cases[c].seg, cases[c].off};
            tms_log_iter *it = NULL;
            tms_log_record rec;
            int has = 1;
            uint64_t last = 29;
            tms_err e;
            assert_int_equal(tms_log_iter_open_at(dir, 30, flags[f], &at, &it, NULL), TMS_OK);
            while ((e = tms_log_iter_next(it, &rec, &has)) == TMS_OK && has)
                assert_int_equal(rec.seq, ++last);
            tms_log_iter_close(it);
            assert_int_equal(e, cases[c].want);
            assert_int_equal(last, cases[c].want == TMS_OK ? 40 : 29);
        }
    tu_rmtree(dir);
    free(dir);
}

static void test_log_removed_or_swapped_records_are_corrupt(void **state)
{
    (void)state;
    static const int removed[] = { 0, 1, 2, 3, 5, 6, 7, 8, 9 };
    static const int swapped[] = { 0, 1, 2, 3, 5, 4, 6, 7, 8, 9 };
    static const int first_gone[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    char *dir = tu_mkdtemp(), p[4200];
    size_t len = 0, offs[64];
    write_records(dir, 1, 10, 0, 10);
    seg_path(dir, 1, p, sizeof p);
    uint8_t *d = tu_read_file(p, &len);
    assert_int_equal(frame_offsets(d, len, offs, 64), 10);
    rewrite_frames(p, d, offs, 10, len, removed, 9);
    expect_corrupt(dir, 5, 1, offs[4]);
    rewrite_frames(p, d, offs, 10, len, swapped, 10);
    expect_corrupt(dir, 5, 1, offs[4]);
    rewrite_frames(p, d, offs, 10, len, first_gone, 9);
    expect_corrupt(dir, 1, 1, SEGHDR);
    assert_int_equal(tu_write_file(p, d, len), 0);
    assert_int_equal(verify_log(dir, NULL), 10);
    free(d);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_damaged_or_missing_segments_are_corrupt(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    uint64_t segs[64];
    size_t len = 0, offs[64];
    write_records(dir, 1, 40, 800, 40);
    size_t n = list_segs(dir, segs, 64);
    assert_true(n >= 4);
    uint64_t m = segs[1], next = segs[2];
    seg_path(dir, m, p, sizeof p);
    uint8_t *d = tu_read_file(p, &len);
    size_t nf = frame_offsets(d, len, offs, 64);
    assert_true(nf >= 2);
    /* truncated at a frame boundary: the next segment shows the gap */
    assert_int_equal(tu_write_file(p, d, offs[nf - 1]), 0);
    expect_corrupt(dir, next - 1, next, 0);
    /* truncated mid-frame: a sealed segment has no torn tail */
    assert_int_equal(tu_write_file(p, d, offs[nf - 1] + 30), 0);
    expect_corrupt(dir, next - 1, m, offs[nf - 1]);
    /* zero-filled tail in a sealed segment */
    assert_int_equal(tu_write_file(p, d, len), 0);
    append_zeros(p, 100);
    expect_corrupt(dir, next, m, len);
    /* bad magic, wrong first seq in the header */
    assert_int_equal(tu_write_file(p, d, len), 0);
    flip_byte(p, 3, 0x20);
    expect_corrupt(dir, m, m, 0);
    flip_byte(p, 3, 0x20);
    flip_byte(p, 8, 0x01);
    expect_corrupt(dir, m, m, 0);
    flip_byte(p, 8, 0x01);
    /* a missing middle segment */
    assert_int_equal(unlink(p), 0);
    expect_corrupt(dir, m, next, 0);
    /* an empty middle segment */
    assert_int_equal(tu_write_file(p, d, 0), 0);
    expect_corrupt(dir, m, m, 0);
    /* a missing first segment */
    assert_int_equal(tu_write_file(p, d, len), 0);
    assert_int_equal(verify_log(dir, NULL), 40);
    seg_path(dir, 1, p, sizeof p);
    assert_int_equal(unlink(p), 0);
    expect_corrupt(dir, 1, m, 0);
    free(d);
    tu_rmtree(dir);
    free(dir);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); /* little-endian host */
}

/* Re-seal a frame's CRCs after tampering, as a forger would. */
static void fix_crcs(uint8_t *f)
{
    uint8_t ls[12];
    uint32_t len;
    memcpy(&len, f, 4);
    memcpy(ls, f, 4);
    memcpy(ls + 4, f + 8, 8);
    put32(f + 4, crc_bitwise(ls, 12));
    put32(f + 16, crc_bitwise(f + 24, 32 + len));
}

/* The 12-frame segment d (len bytes) with its last frame (at last) copied
 * after it as record 13, CRCs re-sealed: only the hash chain can tell.
 * Caller frees. */
static uint8_t *with_forged_13th(const uint8_t *d, size_t len, size_t last)
{
    size_t flen = len - last;
    uint8_t *x = malloc(len + flen);
    assert_non_null(x);
    memcpy(x, d, len);
    memcpy(x + len, d + last, flen);
    x[len + 8] = 13;
    fix_crcs(x + len);
    return x;
}

static void test_log_forged_records_with_valid_crcs_are_corrupt(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    size_t len = 0, offs[64];
    write_records(dir, 1, 12, 0, 12);
    seg_path(dir, 1, p, sizeof p);
    uint8_t *d = tu_read_file(p, &len);
    assert_int_equal(frame_offsets(d, len, offs, 64), 12);

    /* a forged record 13 re-appended at the end: valid CRCs, wrong hash */
    size_t flen = len - offs[11];
    uint8_t *x = with_forged_13th(d, len, offs[11]);
    assert_int_equal(tu_write_file(p, x, len + flen), 0);
    expect_corrupt(dir, 13, 1, len);

    /* record 6 altered and its own hash recomputed: the next link breaks */
    memcpy(x, d, len);
    uint8_t *f6 = x + offs[5], *f5 = x + offs[4];
    uint32_t l6;
    memcpy(&l6, f6, 4);
    f6[HDR] ^= 0xFF;
    ref_hash(f5 + 24, 6, f6 + HDR, l6, f6 + 24);
    fix_crcs(f6);
    assert_int_equal(tu_write_file(p, x, len), 0);
    expect_corrupt(dir, 7, 1, offs[6]);

    /* payload altered with CRCs re-sealed but the hash left: caught at 6 */
    memcpy(x, d, len);
    f6[HDR] ^= 0xFF;
    fix_crcs(f6);
    assert_int_equal(tu_write_file(p, x, len), 0);
    expect_corrupt(dir, 6, 1, offs[5]);
    free(x);
    free(d);
    tu_rmtree(dir);
    free(dir);
}

/* A chain-checking thread that ended before a writer appended more: the
 * iterator hashes the new frames itself, and a forged one is refused. */
static void appended_after_checker(int flags)
{
    char *dir = tu_mkdtemp(), p[4200];
    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has = 1;
    uint64_t seen = 0;
    size_t len = 0, offs[64];
    write_records(dir, 1, 8, 0, 8);
    assert_int_equal(tms_log_iter_open_flags(dir, 1, flags, &it, NULL), TMS_OK);
    while (tms_log_iter_next(it, &rec, &has) == TMS_OK && has)
        assert_int_equal(rec.seq, ++seen);
    assert_int_equal(seen, 8);
    write_records(dir, 9, 12, 0, 4);   /* a writer goes on */
    while (tms_log_iter_next(it, &rec, &has) == TMS_OK && has)
        assert_int_equal(rec.seq, ++seen);
    assert_int_equal(seen, 12);
    /* a forged 13th frame: valid CRCs, wrong hash */
    seg_path(dir, 1, p, sizeof p);
    uint8_t *d = tu_read_file(p, &len);
    assert_int_equal(frame_offsets(d, len, offs, 64), 12);
    size_t flen = len - offs[11];
    /* 13 is odd: the checker's share when shared, so hashed here after it ended */
    uint8_t *x = with_forged_13th(d, len, offs[11]);
    assert_int_equal(tu_write_file(p, x, len + flen), 0);
    assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_E_CORRUPT);
    assert_int_equal(has, 0);
    assert_int_equal(tms_log_iter_report(it)->bad_seq, 13);
    assert_non_null(strstr(tms_log_iter_report(it)->msg, "hash chain mismatch"));
    tms_log_iter_close(it);
    free(x);
    free(d);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_iter_on_thread_checks_frames_appended_after_its_checker(void **state)
{
    (void)state;
    appended_after_checker(TMS_LOG_ITER_CHAIN_ON_THREAD);
    appended_after_checker(TMS_LOG_ITER_CHAIN_SHARED);
}

/* TMS_LOG_ITER_CHAIN_SHARED gives a block of even frames to the checking
 * thread when it is well ahead of the iterator (log_iter.c): here the
 * iterator waits after its first record until the checker has been through
 * the whole log, so the checker takes every block from the eighth after the
 * iterator's to the 62nd (its ring's reach; it says how many it took). A
 * frame whose payload was altered with its CRCs re-sealed (only the chain
 * can tell) is refused at its seq whoever hashed it: an even frame of a
 * block the checker took (the first and the last it may), an even one of
 * the iterator's (before the ring's 64 slots wrapped, and after), an odd
 * one; from record 1 and from the middle. */
static void shared_case(const char *dir, uint64_t from, uint64_t bad, uint64_t n)
{
    uint64_t want = bad ? bad - 1 : n, seen = from - 1;
    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has = 1;
    tms_err e;
    assert_int_equal(tms_log_iter_open_flags(dir, from, TMS_LOG_ITER_CHAIN_SHARED, &it, NULL), TMS_OK);
    assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
    assert_int_equal(has, 1);
    assert_int_equal(rec.seq, ++seen);
    for (int ms = 0; ms < 20000 && tms__log_iter_checked(it) < want; ms++)
        usleep(1000);   /* the checker through the log (up to the damage) */
    assert_true(tms__log_iter_checked(it) >= want);
    /* it took the blocks from the eighth after the iterator's to the 62nd (its ring's reach), up to the damage */
    uint64_t took = tms__log_iter_checker_blocks(it), lo = from / 256 + 8, hi = want / 256;
    if (hi > from / 256 + 62)
        hi = from / 256 + 62;
    if (hi > lo) {
        assert_true(took >= hi - lo);
        assert_true(took <= hi - lo + 1);
    }
    while ((e = tms_log_iter_next(it, &rec, &has)) == TMS_OK && has)
        assert_int_equal(rec.seq, ++seen);
    assert_int_equal(seen, want);
    if (bad) {
        assert_int_equal(e, TMS_E_CORRUPT);
        assert_int_equal(tms_log_iter_report(it)->bad_seq, bad);
        assert_non_null(strstr(tms_log_iter_report(it)->msg, "hash chain mismatch"));
    } else {
        assert_int_equal(e, TMS_OK);
    }
    tms_log_iter_close(it);
}

static void test_log_iter_shared_checks_every_frame_whoever_takes_its_block(void **state)
{
    (void)state;
    enum { N = 256 * 80 };
    static const struct { uint64_t from, bad; } cases[] = {
        {1, 20 * 256 + 2}, {1, 62 * 256 + 2}, {1, 70 * 256 + 6}, {1, 2 * 256 + 4}, {1, 20 * 256 + 3}, {1, 0},
        {30 * 256 + 5, 45 * 256 + 8}, {30 * 256 + 5, 31 * 256 + 2}, {30 * 256 + 5, 0}};
    char p[4200];
    size_t len = 0, *offs = calloc(N, sizeof *offs);
    char *dir = tu_mkdtemp();
    assert_non_null(offs);
    write_records(dir, 1, N, 0, 64);
    seg_path(dir, 1, p, sizeof p);
    uint8_t *d = tu_read_file(p, &len);
    assert_int_equal(frame_offsets(d, len, offs, N), N);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        uint8_t *x = malloc(len);
        assert_non_null(x);
        memcpy(x, d, len);
        if (cases[c].bad) {
            x[offs[cases[c].bad - 1] + HDR] ^= 0xFF;
            fix_crcs(x + offs[cases[c].bad - 1]);
        }
        assert_int_equal(tu_write_file(p, x, len), 0);
        free(x);
        shared_case(dir, cases[c].from, cases[c].bad, N);
    }
    free(d);
    free(offs);
    tu_rmtree(dir);
    free(dir);
}

/* ---- fault injection ---- */

static void check_write_fault(uint64_t seg_bytes, size_t budget, int err, tms_err want)
{
    char *dir = tu_mkdtemp();
    tms_log *log = NULL;
    uint64_t segs0[256], segs1[256];
    uint8_t head[32], buf[400];
    hooks_reset();
    write_records(dir, 1, 8, seg_bytes, 8);
    size_t n0 = list_segs(dir, segs0, 256);
    char p[4200];
    seg_path(dir, segs0[n0 - 1], p, sizeof p);
    long long size0 = tu_file_size(p);
    assert_int_equal(lopen(dir, seg_bytes, 0, &hooks, &log, NULL), TMS_OK);
    memcpy(head, tms_log_head(log), 32);
    for (uint64_t s = 9; s <= 30; s++) {
        pl_fill(s, buf, pl_len(s));
        assert_int_equal(tms_log_append(log, buf, pl_len(s), NULL), TMS_OK);
    }
    g_write_budget = budget;
    g_write_errno = err;
    assert_int_equal(tms_log_sync(log), want);
    assert_int_equal(tms_log_last_seq(log), 8);
    assert_memory_equal(tms_log_head(log), head, 32);
    assert_int_equal(tms_log_staged(log), 0);
    assert_int_equal(list_segs(dir, segs1, 256), n0); /* new segments removed */
    assert_memory_equal(segs0, segs1, n0 * sizeof segs0[0]);
    assert_int_equal(tu_file_size(p), size0);
    g_write_budget = SIZE_MAX; /* space is back: the log carries on */
    for (uint64_t s = 9; s <= 30; s++) {
        uint64_t got = 0;
        pl_fill(s, buf, pl_len(s));
        assert_int_equal(tms_log_append(log, buf, pl_len(s), &got), TMS_OK);
        assert_int_equal(got, s);
    }
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
    assert_int_equal(verify_log(dir, NULL), 30);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_sync_write_failure_rolls_back_and_stays_usable(void **state)
{
    (void)state;
    check_write_fault(0, 0, ENOSPC, TMS_E_NOSPACE);        /* at once */
    check_write_fault(0, 700, ENOSPC, TMS_E_NOSPACE);      /* mid-batch, partial write */
    check_write_fault(0, 700, EDQUOT, TMS_E_NOSPACE);
    check_write_fault(0, 333, EIO, TMS_E_IO);
    check_write_fault(600, 100, ENOSPC, TMS_E_NOSPACE);    /* in the open segment */
    check_write_fault(600, 2000, ENOSPC, TMS_E_NOSPACE);   /* after several rolls */
    check_write_fault(600, 2000, EIO, TMS_E_IO);
}

static void test_log_sync_enospc_on_first_segment_leaves_no_file(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    tms_log *log = NULL;
    uint64_t segs[4];
    assert_int_equal(lopen(dir, 0, 0, &hooks, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, "abc", 3, NULL), TMS_OK);
    g_write_budget = 10; /* the segment header itself is torn */
    assert_int_equal(tms_log_sync(log), TMS_E_NOSPACE);
    assert_int_equal(list_segs(dir, segs, 4), 0);
    assert_int_equal(tms_log_last_seq(log), 0);
    g_write_budget = SIZE_MAX;
    assert_int_equal(tms_log_append(log, "abc", 3, NULL), TMS_OK);
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
    assert_int_equal(list_segs(dir, segs, 4), 1);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_sync_handles_short_writes_and_eintr(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    tms_log *log = NULL;
    uint8_t buf[400];
    assert_int_equal(lopen(dir, 900, 0, &hooks, &log, NULL), TMS_OK);
    g_write_max = 7;
    g_eintr_every = 3;
    for (uint64_t s = 1; s <= 25; s++) {
        pl_fill(s, buf, pl_len(s));
        assert_int_equal(tms_log_append(log, buf, pl_len(s), NULL), TMS_OK);
    }
    assert_int_equal(tms_log_sync(log), TMS_OK);
    assert_true(g_write_calls > 100);
    tms_log_close(log);
    assert_int_equal(verify_log(dir, NULL), 25);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_fdatasync_failure_enters_failed_state(void **state)
{
    (void)state;
    for (int at_roll = 0; at_roll < 2; at_roll++) {
        char *dir = tu_mkdtemp();
        tms_log *log = NULL;
        tms_log_report rep;
        hooks_reset();
        write_records(dir, 1, 5, 600, 5);
        assert_int_equal(lopen(dir, 600, 0, &hooks, &log, NULL), TMS_OK);
        for (int i = 0; i < (at_roll ? 30 : 1); i++)
            assert_int_equal(tms_log_append(log, "payload", 7, NULL), TMS_OK);
        g_sync_fail = 1;
        assert_int_equal(tms_log_sync(log), TMS_E_FAILED);
        g_sync_fail = 0; /* even once the disk recovers, the log does not */
        assert_int_equal(tms_log_append(log, "more", 4, NULL), TMS_E_FAILED);
        assert_int_equal(tms_log_sync(log), TMS_E_FAILED);
        assert_int_equal(tms_log_append(log, "more", 4, NULL), TMS_E_FAILED);
        tms_log_close(log);
        /* a fresh open checks what did reach the files */
        assert_int_equal(lopen(dir, 600, 0, NULL, &log, &rep), TMS_OK);
        assert_true(tms_log_last_seq(log) >= 5);
        tms_log_close(log);
        tu_rmtree(dir);
        free(dir);
    }
}

/* ---- iteration ---- */

static void test_log_iter_partial_final_frame_ends_quietly_and_resumes(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    size_t len = 0;
    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has = 0;
    write_records(dir, 1, 10, 0, 10);
    seg_path(dir, 1, p, sizeof p);
    uint8_t *d = tu_read_file(p, &len);
    assert_int_equal(tu_write_file(p, d, len - 3), 0); /* a writer mid-append */
    assert_int_equal(tms_log_iter_open(dir, 1, &it, NULL), TMS_OK);
    for (uint64_t s = 1; s <= 9; s++) {
        assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
        assert_int_equal(has, 1);
        assert_int_equal(rec.seq, s);
    }
    assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
    assert_int_equal(has, 0);
    assert_int_equal(tms_log_iter_report(it)->torn, 1);
    assert_int_equal(tms_log_iter_report(it)->torn_bytes, HDR + pl_len(10) - 3);
    assert_int_equal(tu_file_size(p), (long long)len - 3);
    assert_int_equal(tu_write_file(p, d, len), 0); /* the writer finishes */
    assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
    assert_int_equal(has, 1);
    assert_int_equal(rec.seq, 10);
    assert_int_equal(rec.len, pl_len(10));
    assert_int_equal(tms_log_iter_report(it)->torn, 0);
    assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
    assert_int_equal(has, 0);
    tms_log_iter_close(it);
    free(d);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_iter_follows_live_writer_across_segments(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    tms_log *log = NULL;
    tms_log_iter *it = NULL;
    tms_log_record rec;
    uint8_t buf[400];
    uint64_t segs[128], want = 1;
    int has = 0;
    assert_int_equal(lopen(dir, 500, 0, NULL, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_iter_open(dir, 1, &it, NULL), TMS_OK); /* before any segment */
    for (int round = 0; round < 4; round++) {
        assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
        assert_int_equal(has, 0);
        for (int i = 0; i < 8; i++) {
            uint64_t s = tms_log_last_seq(log) + 1;
            pl_fill(s, buf, pl_len(s));
            assert_int_equal(tms_log_append(log, buf, pl_len(s), NULL), TMS_OK);
        }
        assert_int_equal(tms_log_sync(log), TMS_OK);
        while (tms_log_iter_next(it, &rec, &has) == TMS_OK && has) {
            assert_int_equal(rec.seq, want);
            pl_fill(want, buf, rec.len);
            assert_memory_equal(rec.payload, buf, rec.len);
            want++;
        }
        assert_int_equal(want, tms_log_last_seq(log) + 1);
    }
    assert_true(list_segs(dir, segs, 128) > 3);
    tms_log_iter_close(it);
    tms_log_close(log);
    tu_rmtree(dir);
    free(dir);
}

static void test_log_iter_on_empty_missing_and_past_the_end(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), missing[4200], junk[4200];
    tms_log_iter *it = NULL;
    tms_log_record rec;
    tms_log_report rep;
    int has = 1;
    assert_int_equal(tms_log_iter_open(dir, 1, &it, NULL), TMS_OK);
    assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
    assert_int_equal(has, 0);
    tms_log_iter_close(it);
    snprintf(missing, sizeof missing, "%s/none", dir);
    assert_int_equal(tms_log_iter_open(missing, 1, &it, &rep), TMS_E_IO);
    assert_null(it);
    assert_true(strlen(rep.msg) > 0);
    /* files that are not segments are ignored */
    snprintf(junk, sizeof junk, "%s/notes.txt", dir);
    assert_int_equal(tu_write_file(junk, "hi", 2), 0);
    snprintf(junk, sizeof junk, "%s/123.tmslog", dir);
    assert_int_equal(tu_write_file(junk, "hi", 2), 0);
    write_records(dir, 1, 5, 0, 5);
    assert_int_equal(tms_log_iter_open(dir, 6, &it, NULL), TMS_OK);
    assert_int_equal(tms_log_iter_next(it, &rec, &has), TMS_OK);
    assert_int_equal(has, 0);
    tms_log_iter_close(it);
    assert_int_equal(verify_log(dir, NULL), 5);
    tms_log_iter_close(NULL);
    tms_log_close(NULL);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_crc32c_check_value_and_known_vectors, setup),
        cmocka_unit_test_setup(test_crc32c_sse_and_table_paths_agree, setup),
        cmocka_unit_test_setup(test_log_new_log_has_no_segment_until_first_sync, setup),
        cmocka_unit_test_setup(test_log_frame_bytes_match_the_documented_format, setup),
        cmocka_unit_test_setup(test_log_round_trip_reopen_iterate, setup),
        cmocka_unit_test_setup(test_log_append_rejects_empty_and_oversized_payloads, setup),
        cmocka_unit_test_setup(test_log_discard_drops_staged_records, setup),
        cmocka_unit_test_setup(test_log_segment_roll_and_iterate_from_every_seq, setup),
        cmocka_unit_test_setup(test_log_frame_larger_than_segment_goes_alone, setup),
        cmocka_unit_test_setup(test_log_reopen_appends_to_last_segment_and_keeps_chain, setup),
        cmocka_unit_test_setup(test_log_iter_shared_checks_every_frame_whoever_takes_its_block, setup),
        cmocka_unit_test_setup(test_log_torn_tail_every_offset_is_cut, setup),
        cmocka_unit_test_setup(test_log_zero_filled_tail_is_unwritten_space, setup),
        cmocka_unit_test_setup(test_log_preallocated_segments, setup),
        cmocka_unit_test_setup(test_log_iter_from_the_middle_skims_what_it_passes, setup),
        cmocka_unit_test_setup(test_log_iter_open_at_a_locator, setup),
        cmocka_unit_test_setup(test_log_live_reader_waits_for_a_stalled_write, setup),
        cmocka_unit_test_setup(test_log_tear_at_every_sector_boundary_of_the_last_write_is_cut, setup),
        cmocka_unit_test_setup(test_log_zero_run_in_non_final_record_is_corrupt, setup),
        cmocka_unit_test_setup(test_log_torn_segment_header_is_removed, setup),
        cmocka_unit_test_setup(test_log_readonly_open_leaves_torn_tail, setup),
        cmocka_unit_test_setup(test_log_flipped_byte_in_middle_record_is_corrupt, setup),
        cmocka_unit_test_setup(test_log_bad_final_record_with_data_after_is_corrupt, setup),
        cmocka_unit_test_setup(test_log_removed_or_swapped_records_are_corrupt, setup),
        cmocka_unit_test_setup(test_log_damaged_or_missing_segments_are_corrupt, setup),
        cmocka_unit_test_setup(test_log_forged_records_with_valid_crcs_are_corrupt, setup),
        cmocka_unit_test_setup(test_log_iter_on_thread_checks_frames_appended_after_its_checker, setup),
        cmocka_unit_test_setup(test_log_sync_write_failure_rolls_back_and_stays_usable, setup),
        cmocka_unit_test_setup(test_log_sync_enospc_on_first_segment_leaves_no_file, setup),
        cmocka_unit_test_setup(test_log_sync_handles_short_writes_and_eintr, setup),
        cmocka_unit_test_setup(test_log_fdatasync_failure_enters_failed_state, setup),
        cmocka_unit_test_setup(test_log_iter_partial_final_frame_ends_quietly_and_resumes, setup),
        cmocka_unit_test_setup(test_log_iter_follows_live_writer_across_segments, setup),
        cmocka_unit_test_setup(test_log_iter_on_empty_missing_and_past_the_end, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
