/* test_log_base.c -- a log with a base (log.h, log_format.h "THE BASE"):
 * the log of a data directory seeded from a snapshot of seq B starts at
 * B + 1, chained from the base's head; no reader skips to it silently; a
 * damaged, missing or contradicted base refuses the log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sodium.h>
#include "log.h"
#include "testutil.h"

#define B 100u

static void head_of(uint8_t h[32], uint8_t salt)
{
    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)(i * 13 + salt);
}

/* The chain hash computed independently (one-shot over a copy). */
static void ref_hash(const uint8_t prev[32], uint64_t seq, const uint8_t *p, size_t len, uint8_t out[32])
{
    uint8_t m[40 + 64];
    assert_true(len <= 64);
    memcpy(m, prev, 32);
    for (int i = 0; i < 8; i++)
        m[32 + i] = (uint8_t)(seq >> (8 * i));
    memcpy(m + 40, p, len);
    crypto_generichash(out, 32, m, 40 + len, NULL, 0);
}

static void payload(uint64_t seq, char out[32])
{
    snprintf(out, 32, "record %llu", (unsigned long long)seq);
}

/* A based log at dir/log with records B+1..B+n appended; its dir/log path in logdir. */
static void based_log(const char *dir, char *logdir, size_t n, uint64_t count, uint64_t seg_bytes)
{
    uint8_t h[32];
    char why[300];
    snprintf(logdir, n, "%s/log", dir);
    head_of(h, 1);
    assert_int_equal(tms_log_create_based(logdir, B, h, why, sizeof why), TMS_OK);
    tms_log *log = NULL;
    tms_log_options o = {.segment_bytes = seg_bytes};
    assert_int_equal(tms_log_open(logdir, &o, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_last_seq(log), B);
    assert_memory_equal(tms_log_head(log), h, 32);
    for (uint64_t s = B + 1; s <= B + count; s++) {
        char p[32];
        uint64_t got;
        payload(s, p);
        assert_int_equal(tms_log_append(log, p, strlen(p), &got), TMS_OK);
        assert_int_equal(got, s);
        if (s % 7 == 0)
            assert_int_equal(tms_log_sync(log), TMS_OK);
    }
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
}

static void test_base_starts_the_log_after_it(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), logdir[4200], why[300], seg[4300];
    uint8_t h[32], prev[32], want[32];
    uint64_t seq;
    based_log(dir, logdir, sizeof logdir, 30, 1024);
    snprintf(seg, sizeof seg, "%s/%020u.tmslog", logdir, B + 1);
    assert_true(tu_file_size(seg) > 0);   /* the first segment is named after the base */
    assert_int_equal(tms_log_base(logdir, &seq, h, why, sizeof why), TMS_OK);
    assert_int_equal(seq, B);
    head_of(prev, 1);
    assert_memory_equal(h, prev, 32);
    /* reopened: the last seq and the head after B+30; every frame chains from the base's head */
    tms_log *log = NULL;
    tms_log_report rep;
    assert_int_equal(tms_log_open(logdir, NULL, &log, &rep), TMS_OK);
    assert_int_equal(tms_log_last_seq(log), B + 30);
    tms_log_iter *it = NULL;
    assert_int_equal(tms_log_iter_open(logdir, B + 1, &it, NULL), TMS_OK);
    tms_log_record r;
    int has;
    for (uint64_t s = B + 1; s <= B + 30; s++) {
        char p[32];
        assert_int_equal(tms_log_iter_next(it, &r, &has), TMS_OK);
        assert_true(has);
        assert_int_equal(r.seq, s);
        payload(s, p);
        ref_hash(prev, s, (const uint8_t *)p, strlen(p), want);
        assert_memory_equal(r.hash, want, 32);
        memcpy(prev, want, 32);
    }
    assert_int_equal(tms_log_iter_next(it, &r, &has), TMS_OK);
    assert_false(has);
    tms_log_iter_close(it);
    assert_memory_equal(tms_log_head(log), prev, 32);
    tms_log_close(log);
    /* asked for a seq at or before the base: refused, never skipped to B+1 */
    for (uint64_t from = 1; from <= B; from += B - 1) {
        it = NULL;
        assert_int_equal(tms_log_iter_open(logdir, from, &it, &rep), TMS_NOT_FOUND);
        assert_null(it);
        assert_non_null(strstr(rep.msg, "starts after seq 100"));
        assert_int_equal(tms_log_iter_open_flags(logdir, from, TMS_LOG_ITER_CHAIN_ON_THREAD, &it, &rep),
                         TMS_NOT_FOUND);
    }
    /* on a thread and from the middle: the same records */
    assert_int_equal(tms_log_iter_open_flags(logdir, B + 1, TMS_LOG_ITER_CHAIN_ON_THREAD, &it, NULL), TMS_OK);
    uint64_t n = 0;
    while (tms_log_iter_next(it, &r, &has) == TMS_OK && has)
        n++;
    tms_log_iter_close(it);
    assert_int_equal(n, 30);
    /* a snapshot of the base's seq with its head: trusted, nothing before it read */
    head_of(h, 1);
    tms_log_options o = {.trust_seq = B, .trust_head = h};
    assert_int_equal(tms_log_open(logdir, &o, &log, &rep), TMS_OK);
    assert_true(rep.trusted);
    tms_log_close(log);
    tu_rmtree(dir);
    free(dir);
}

static void test_base_is_given_to_an_empty_log_only(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), logdir[4200], why[300];
    uint8_t h[32];
    head_of(h, 2);
    based_log(dir, logdir, sizeof logdir, 3, 0);
    assert_int_equal(tms_log_create_based(logdir, 5, h, why, sizeof why), TMS_E_INVAL);
    assert_non_null(strstr(why, "already holds a log"));
    char other[4300];
    snprintf(other, sizeof other, "%s/plain", dir);
    tms_log *log = NULL;
    assert_int_equal(tms_log_open(other, NULL, &log, NULL), TMS_OK);
    assert_int_equal(tms_log_append(log, "x", 1, NULL), TMS_OK);
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
    assert_int_equal(tms_log_create_based(other, 5, h, why, sizeof why), TMS_E_INVAL);
    snprintf(other, sizeof other, "%s/zero", dir);
    assert_int_equal(tms_log_create_based(other, 0, h, why, sizeof why), TMS_E_INVAL);
    /* a log without a base says so */
    uint64_t seq = 7;
    snprintf(other, sizeof other, "%s/plain", dir);
    assert_int_equal(tms_log_base(other, &seq, h, why, sizeof why), TMS_OK);
    assert_int_equal(seq, 0);
    tu_rmtree(dir);
    free(dir);
}

/* Every way the base can be wrong refuses the log: never a log that starts at 1 or at a guess. */
static void test_base_damaged_missing_or_contradicted_is_corrupt(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), logdir[4200], path[4300], why[300];
    uint8_t h[32];
    uint64_t seq;
    tms_log *log = NULL;
    tms_log_iter *it = NULL;
    tms_log_report rep;
    based_log(dir, logdir, sizeof logdir, 10, 0);
    snprintf(path, sizeof path, "%s/base", logdir);
    size_t len;
    uint8_t *orig = tu_read_file(path, &len);
    assert_int_equal(len, 52);
    for (size_t off = 0; off < len; off++) {   /* any byte flipped */
        uint8_t *b = malloc(len);
        memcpy(b, orig, len);
        b[off] ^= 0x10;
        assert_int_equal(tu_write_file(path, b, len), 0);
        free(b);
        assert_int_equal(tms_log_open(logdir, NULL, &log, &rep), TMS_E_CORRUPT);
        assert_non_null(strstr(rep.msg, "base file is damaged"));
        assert_int_equal(tms_log_iter_open(logdir, B + 1, &it, &rep), TMS_E_CORRUPT);
        assert_int_equal(tms_log_base(logdir, &seq, h, why, sizeof why), TMS_E_CORRUPT);
    }
    assert_int_equal(tu_write_file(path, orig, 51), 0);   /* cut short */
    assert_int_equal(tms_log_open(logdir, NULL, &log, &rep), TMS_E_CORRUPT);
    /* another head (a base from another log): the first frame does not chain */
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    unlink(path);
    head_of(h, 9);
    char fresh[4300];
    snprintf(fresh, sizeof fresh, "%s/other", dir);
    assert_int_equal(tms_log_create_based(fresh, B, h, why, sizeof why), TMS_OK);
    snprintf(path, sizeof path, "%s/other/base", dir);
    size_t flen;
    uint8_t *forged = tu_read_file(path, &flen);
    snprintf(path, sizeof path, "%s/base", logdir);
    assert_int_equal(tu_write_file(path, forged, flen), 0);
    assert_int_equal(tms_log_open(logdir, NULL, &log, &rep), TMS_E_CORRUPT);
    assert_int_equal(rep.bad_seq, B + 1);
    /* the base gone: records 1..B are missing */
    unlink(path);
    assert_int_equal(tms_log_open(logdir, NULL, &log, &rep), TMS_E_CORRUPT);
    assert_non_null(strstr(rep.msg, "are missing"));
    /* a base that says less than the first segment's seq - 1 (or more) */
    for (uint64_t other_seq = B - 1; other_seq <= B + 1; other_seq += 2) {
        unlink(path);
        char od[4300];
        snprintf(od, sizeof od, "%s/o%llu", dir, (unsigned long long)other_seq);
        head_of(h, 1);
        assert_int_equal(tms_log_create_based(od, other_seq, h, why, sizeof why), TMS_OK);
        char op[4400];
        snprintf(op, sizeof op, "%s/base", od);
        uint8_t *ob = tu_read_file(op, &flen);
        assert_int_equal(tu_write_file(path, ob, flen), 0);
        free(ob);
        assert_int_equal(tms_log_open(logdir, NULL, &log, &rep), TMS_E_CORRUPT);
    }
    assert_int_equal(tu_write_file(path, b, len), 0);   /* the right one back: opens */
    assert_int_equal(tms_log_open(logdir, NULL, &log, &rep), TMS_OK);
    assert_int_equal(tms_log_last_seq(log), B + 10);
    tms_log_close(log);
    free(b);
    free(forged);
    free(orig);
    tu_rmtree(dir);
    free(dir);
}

/* The path of the last segment of the log in logdir. */
static void last_segment(const char *logdir, char *out, size_t n)
{
    DIR *d = opendir(logdir);
    struct dirent *e;
    char best[256] = "";
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmslog") && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    closedir(d);
    assert_true(best[0]);
    snprintf(out, n, "%s/%s", logdir, best);
}

/* tms_log_end, by headers (and the last frame's body), ends where an open
 * ends the log: with and without a base, over several segments, with
 * nothing after the base, after a final frame cut short, before a segment
 * whose header was never written; before a final frame whose body does not
 * check; a damaged segment header is refused. */
static void test_end_is_where_an_open_ends_the_log(void **state)
{
    (void)state;
    static const uint64_t counts[] = {0, 1, 40};
    char why[300], logdir[4200], seg[4500];
    uint64_t end = 0;
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        char *dir = tu_mkdtemp();
        based_log(dir, logdir, sizeof logdir, counts[c], 256);   /* 256-byte segments: several */
        assert_int_equal(tms_log_end(logdir, &end, why, sizeof why), TMS_OK);
        assert_int_equal(end, B + counts[c]);
        tu_rmtree(dir);
        free(dir);
    }
    char *dir = tu_mkdtemp();   /* no base: from 1 */
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    assert_int_equal(tms_log_end(logdir, &end, why, sizeof why), TMS_E_IO);   /* no log at all */
    tms_log *log = NULL;
    assert_int_equal(tms_log_open(logdir, NULL, &log, NULL), TMS_OK);
    for (uint64_t s = 1, got; s <= 25; s++) {
        char p[32];
        payload(s, p);
        assert_int_equal(tms_log_append(log, p, strlen(p), &got), TMS_OK);
    }
    assert_int_equal(tms_log_sync(log), TMS_OK);
    tms_log_close(log);
    assert_int_equal(tms_log_end(logdir, &end, why, sizeof why), TMS_OK);
    assert_int_equal(end, 25);
    last_segment(logdir, seg, sizeof seg);
    size_t len = 0;
    uint8_t *d = tu_read_file(seg, &len);
    assert_non_null(d);
    size_t used = len;
    while (used > 0 && d[used - 1] == 0)   /* the frames end where the writer's zeros begin */
        used--;
    assert_int_equal(tu_write_file(seg, d, used - 3), 0);   /* the last frame torn */
    assert_int_equal(tms_log_end(logdir, &end, why, sizeof why), TMS_OK);
    assert_int_equal(end, 24);
    tms_log_options ro = {.readonly = 1};
    assert_int_equal(tms_log_open(logdir, &ro, &log, NULL), TMS_OK);   /* an open says the same */
    assert_int_equal(tms_log_last_seq(log), 24);
    tms_log_close(log);
    /* the last frame's body zeros (not at a sector's edge: an open calls it damage, not a tear): the end is
       before it, for no proof may take it */
    uint8_t *z = calloc(1, len);
    assert_non_null(z);
    memcpy(z, d, used);
    size_t payload_len = strlen("record 25");
    memset(z + used - payload_len, 0, payload_len);
    assert_int_equal(tu_write_file(seg, z, len), 0);
    assert_int_equal(tms_log_end(logdir, &end, why, sizeof why), TMS_OK);
    assert_int_equal(end, 24);
    assert_int_equal(tms_log_open(logdir, &ro, &log, NULL), TMS_E_CORRUPT);
    free(z);
    /* a next segment created, its header never written (a crash as the writer rolled): the log ends before it */
    char next[4600];
    snprintf(next, sizeof next, "%s/%020llu.tmslog", logdir, 26ull);
    for (size_t zeros = 0; zeros <= 16; zeros += 16) {
        uint8_t blank[16] = {0};
        assert_int_equal(tu_write_file(next, blank, zeros), 0);
        assert_int_equal(tu_write_file(seg, d, used), 0);
        assert_int_equal(tms_log_end(logdir, &end, why, sizeof why), TMS_OK);
        assert_int_equal(end, 25);
        assert_int_equal(tms_log_open(logdir, &ro, &log, NULL), TMS_OK);
        assert_int_equal(tms_log_last_seq(log), 25);
        tms_log_close(log);
    }
    unlink(next);
    d[3] ^= 0x20;   /* the segment's header */
    assert_int_equal(tu_write_file(seg, d, used), 0);
    assert_int_equal(tms_log_end(logdir, &end, why, sizeof why), TMS_E_CORRUPT);
    assert_non_null(strstr(why, "not a segment"));
    free(d);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_starts_the_log_after_it),
        cmocka_unit_test(test_base_is_given_to_an_empty_log_only),
        cmocka_unit_test(test_base_damaged_missing_or_contradicted_is_corrupt),
        cmocka_unit_test(test_end_is_where_an_open_ends_the_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
