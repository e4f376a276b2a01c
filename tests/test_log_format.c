/* test_log_format.c -- unit tests of the log's format written once
 * (engine/storage/log_format.c): the one frame encoder against the bytes
 * log.h's readers expect, every fault of the one frame check in its order,
 * the segment header, the frame field reads other rooms use, and
 * tms_log_append_frame (a replica staging a leader's frames byte for byte). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "log.h"
#include "../engine/storage/log_format.h"
#include "testutil.h"

#define HDR TMS_LOG_FRAME_HEADER

static const uint8_t zero[TMS_LOG_HASH_LEN];

/* The frame of payload p as record seq after prev, built by hand from the
 * layout (malloc'd, HDR + len bytes). */
static uint8_t *hand_frame(uint64_t seq, const uint8_t *prev, const char *p)
{
    size_t len = strlen(p);
    uint8_t *f = calloc(1, HDR + len), m[TMS_LOG_HASH_LEN + 8 + 64];
    assert_non_null(f);
    assert_true(len <= 64);
    for (int i = 0; i < 4; i++)
        f[i] = (uint8_t)(len >> (8 * i));
    for (int i = 0; i < 8; i++)
        f[8 + i] = m[TMS_LOG_HASH_LEN + i] = (uint8_t)(seq >> (8 * i));
    uint32_t hc = tms_crc32c(tms_crc32c(0, f, 4), f + 8, 8);
    for (int i = 0; i < 4; i++)
        f[4 + i] = (uint8_t)(hc >> (8 * i));
    memcpy(m, prev, TMS_LOG_HASH_LEN);
    memcpy(m + TMS_LOG_HASH_LEN + 8, p, len);
    crypto_generichash(f + 24, TMS_LOG_HASH_LEN, m, TMS_LOG_HASH_LEN + 8 + len, NULL, 0);
    memcpy(f + HDR, p, len);
    uint32_t bc = tms_crc32c(0, f + 24, TMS_LOG_HASH_LEN + len);
    for (int i = 0; i < 4; i++)
        f[16 + i] = (uint8_t)(bc >> (8 * i));
    return f;
}

static void test_the_encoder_writes_the_layout(void **state)
{
    (void)state;
    uint8_t out[HDR + 5], hdr[HDR];
    uint8_t *want = hand_frame(7, zero, "hello");
    tms__frame_encode(out, 7, zero, (const uint8_t *)"hello", 5);
    assert_memory_equal(out, want, sizeof out);
    /* the header alone, as replication sends it, is the same bytes */
    tms_log_record r = {7, want + TMS_FR_HASH, want + HDR, 5, "", 0};
    tms_log_frame_header(&r, hdr);
    assert_memory_equal(hdr, want, HDR);
    /* chained: the next frame's hash covers the one before */
    uint8_t *next = hand_frame(8, want + TMS_FR_HASH, "x");
    uint8_t out2[HDR + 1];
    tms__frame_encode(out2, 8, out + TMS_FR_HASH, (const uint8_t *)"x", 1);
    assert_memory_equal(out2, next, sizeof out2);
    free(next);
    free(want);
}

/* The fault and its words for f as record expect after prev. */
static tms_frame_fault check(const uint8_t *f, size_t avail, uint64_t expect, const uint8_t *prev, const char *words)
{
    tms_frame_info fi;
    char buf[64];
    tms_frame_fault fault = tms__frame_check(f, avail, expect, prev, &fi);
    assert_string_equal(tms__frame_fault_text(fault, &fi, buf, sizeof buf), words);
    return fault;
}

/* Another length field, with its header checksum right. */
static void set_len(uint8_t *f, uint32_t len)
{
    tms_put_le32(f + TMS_FR_LEN, len);
    tms_put_le32(f + TMS_FR_HEAD_CRC, tms_crc32c(tms_crc32c(0, f, 4), f + 8, 8));
}

static void test_the_check_names_each_fault_in_order(void **state)
{
    (void)state;
    uint8_t *f = hand_frame(3, zero, "payload"), *g = malloc(HDR + 7);
    size_t size = HDR + 7;
    tms_frame_info fi;
    assert_non_null(g);
    assert_int_equal(tms__frame_check(f, size, 3, zero, &fi), TMS_FRAME_OK);
    assert_int_equal(fi.seq, 3);
    assert_int_equal(fi.len, 7);
    assert_int_equal(fi.size, size);
    assert_int_equal(tms__frame_check(f, size + 100, 0, NULL, &fi), TMS_FRAME_OK);   /* any seq, no chain */
    assert_int_equal(check(f, HDR - 1, 3, NULL, "incomplete frame header"), TMS_FRAME_SHORT_HEAD);
    memcpy(g, f, size);
    g[0] ^= 1;
    assert_int_equal(check(g, size, 3, NULL, "header checksum mismatch"), TMS_FRAME_HEAD_CRC);
    assert_int_equal(check(f, size, 4, NULL, "frame carries seq 3"), TMS_FRAME_SEQ);
    memcpy(g, f, size);
    set_len(g, 0);   /* header checksum right */
    assert_int_equal(check(g, size, 3, NULL, "bad payload length 0"), TMS_FRAME_LENGTH);
    set_len(g, TMS_LOG_MAX_PAYLOAD + 1);
    assert_int_equal(check(g, size, 3, NULL, "bad payload length 4194305"), TMS_FRAME_LENGTH);
    memcpy(g, f, size);
    g[TMS_FR_RESERVED] = 1;
    assert_int_equal(check(g, size, 3, NULL, "reserved field is not zero"), TMS_FRAME_RESERVED);
    assert_int_equal(check(f, HDR, 3, NULL, "frame runs past the end of the segment"), TMS_FRAME_PARTIAL);
    assert_int_equal(tms__frame_check(f, size - 1, 3, NULL, &fi), TMS_FRAME_PARTIAL);
    assert_int_equal(fi.size, size);   /* how much to read before checking again */
    memcpy(g, f, size);
    g[size - 1] ^= 1;
    assert_int_equal(check(g, size, 3, NULL, "body checksum mismatch"), TMS_FRAME_BODY_CRC);
    uint8_t other[TMS_LOG_HASH_LEN] = {1};
    assert_int_equal(check(f, size, 3, other, "hash chain mismatch"), TMS_FRAME_CHAIN);
    /* a header bad in two ways reports the first (the seq before the body) */
    memcpy(g, f, size);
    g[size - 1] ^= 1;
    assert_int_equal(tms__frame_check(g, size, 9, NULL, &fi), TMS_FRAME_SEQ);
    free(g);
    free(f);
}

static void test_segment_names_and_headers(void **state)
{
    (void)state;
    char name[TMS_SEG_NAME_MAX];
    uint8_t h[TMS_LOG_SEGMENT_HEADER];
    uint64_t got;
    tms__seg_name(name, 42);
    assert_string_equal(name, "00000000000000000042.tmslog");
    tms__seg_header(h, 42);
    assert_memory_equal(h, "TMSLOG1\n*\0\0\0\0\0\0\0", sizeof h);
    assert_int_equal(tms__seg_check(h, sizeof h, 42, &got), TMS_SEG_OK);
    assert_int_equal(got, 42);
    assert_int_equal(tms__seg_check(h, sizeof h - 1, 42, &got), TMS_SEG_SHORT);
    assert_int_equal(tms__seg_check(h, sizeof h, 41, &got), TMS_SEG_BAD_FIRST);
    assert_int_equal(got, 42);
    h[0] = 'X';
    assert_int_equal(tms__seg_check(h, sizeof h, 42, &got), TMS_SEG_BAD_MAGIC);
}

static void test_field_reads_for_other_rooms(void **state)
{
    (void)state;
    uint8_t *f = hand_frame(0x0102030405060708ull, zero, "abc");
    size_t plen = 99;
    assert_int_equal(tms_log_frame_seq(f, HDR + 3), 0x0102030405060708ull);
    assert_ptr_equal(tms_log_frame_hash(f, HDR + 3), f + 24);
    assert_ptr_equal(tms_log_frame_payload(f, HDR + 3, &plen), f + HDR);
    assert_int_equal(plen, 3);
    /* shorter than a header: nothing */
    assert_int_equal(tms_log_frame_seq(f, HDR - 1), 0);
    assert_null(tms_log_frame_hash(f, HDR - 1));
    assert_null(tms_log_frame_payload(f, HDR, &plen));
    assert_int_equal(plen, 0);
    assert_int_equal(tms_log_frame_seq(NULL, 0), 0);
    free(f);
}

/* The frames of the log in dir, as replication sends them. */
static size_t frames_of(const char *dir, uint8_t *v[], size_t len[], size_t max)
{
    tms_log_iter *it = NULL;
    tms_log_record r;
    size_t n = 0;
    int has = 0;
    assert_int_equal(tms_log_iter_open(dir, 1, &it, NULL), TMS_OK);
    while (n < max && tms_log_iter_next(it, &r, &has) == TMS_OK && has) {
        v[n] = malloc(HDR + r.len);
        assert_non_null(v[n]);
        tms_log_frame_header(&r, v[n]);
        memcpy(v[n] + HDR, r.payload, r.len);
        len[n++] = HDR + r.len;
    }
    tms_log_iter_close(it);
    return n;
}

static void test_append_frame_stages_the_leaders_frames_byte_for_byte(void **state)
{
    (void)state;
    char *a = tu_mkdtemp(), *b = tu_mkdtemp(), pa[4200], pb[4200], why[256];
    tms_log *la = NULL, *lb = NULL;
    uint8_t *v[4], bad[HDR + 16];
    size_t len[4], na, nb;
    assert_int_equal(tms_log_open(a, NULL, &la, NULL), TMS_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tms_log_append(la, "record-payload", 10 + (size_t)i, NULL), TMS_OK);
    assert_int_equal(tms_log_sync(la), TMS_OK);
    tms_log_close(la);
    assert_int_equal(frames_of(a, v, len, 4), 4);
    assert_int_equal(tms_log_open(b, NULL, &lb, NULL), TMS_OK);
    assert_int_equal(tms_log_append_frame(lb, v[0], len[0], why, sizeof why), TMS_OK);
    /* a gap, a flipped byte, a frame cut short or too long, a forged hash: refused, nothing staged */
    assert_int_equal(tms_log_append_frame(lb, v[2], len[2], why, sizeof why), TMS_E_CORRUPT);
    assert_string_equal(why, "expected seq 2, the stream gave seq 3");
    memcpy(bad, v[1], len[1]);
    bad[len[1] - 1] ^= 1;
    assert_int_equal(tms_log_append_frame(lb, bad, len[1], why, sizeof why), TMS_E_CORRUPT);
    assert_string_equal(why, "the record for seq 2 does not check (length or checksum)");
    assert_int_equal(tms_log_append_frame(lb, v[1], len[1] - 1, why, sizeof why), TMS_E_CORRUPT);
    assert_int_equal(tms_log_append_frame(lb, v[1], HDR - 1, why, sizeof why), TMS_E_CORRUPT);
    memcpy(bad, v[1], len[1]);
    bad[len[1]] = 0;
    assert_int_equal(tms_log_append_frame(lb, bad, len[1] + 1, why, sizeof why), TMS_E_CORRUPT);
    memcpy(bad, v[1], len[1]);
    bad[TMS_FR_HASH] ^= 1;
    tms_log_record r = {2, bad + TMS_FR_HASH, bad + HDR, len[1] - HDR, "", 0};
    tms_log_frame_header(&r, bad);   /* checksums right: it checks, it does not chain */
    assert_int_equal(tms_log_append_frame(lb, bad, len[1], why, sizeof why), TMS_E_CORRUPT);
    assert_string_equal(why, "seq 2 does not chain to this log's seq 1 (its hash differs)");
    assert_int_equal(tms_log_last_seq(lb), 1);
    assert_int_equal(tms_log_staged(lb), 1);
    assert_memory_equal(tms_log_head(lb), v[0] + TMS_FR_HASH, TMS_LOG_HASH_LEN);
    for (int i = 1; i < 4; i++)
        assert_int_equal(tms_log_append_frame(lb, v[i], len[i], why, sizeof why), TMS_OK);
    assert_int_equal(tms_log_sync(lb), TMS_OK);
    tms_log_close(lb);
    snprintf(pa, sizeof pa, "%s/00000000000000000001.tmslog", a);
    snprintf(pb, sizeof pb, "%s/00000000000000000001.tmslog", b);
    uint8_t *da = tu_read_file(pa, &na), *db = tu_read_file(pb, &nb);
    assert_non_null(da);
    assert_non_null(db);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);   /* the replica's log is the leader's, byte for byte */
    free(da);
    free(db);
    for (int i = 0; i < 4; i++)
        free(v[i]);
    tu_rmtree(a);
    tu_rmtree(b);
    free(a);
    free(b);
}

/* The random read (explain, proofs) walks from a group's locator with the same check. */
static void test_read_frame_walks_from_a_locator(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    tms_log *log = NULL;
    tms_log_options o = {.segment_bytes = 300};
    uint8_t pl[60], *got = NULL;
    size_t len = 0;
    uint64_t first, seg, off;
    assert_int_equal(tms_log_open(dir, &o, &log, NULL), TMS_OK);
    for (int i = 1; i <= 4; i++) {
        memset(pl, 'a' + i, sizeof pl);
        assert_int_equal(tms_log_append(log, pl, sizeof pl, NULL), TMS_OK);
    }
    assert_int_equal(tms_log_sync(log), TMS_OK);   /* 2 frames a segment: 1-2, then 3-4 */
    assert_int_equal(tms_log_synced_at(log, &first, &seg, &off), 1);
    assert_int_equal(first, 1);
    assert_int_equal(off, TMS_LOG_SEGMENT_HEADER);
    tms_log_close(log);
    for (uint64_t s = 1; s <= 3; s++) {   /* 3: the group went on in the next segment */
        assert_int_equal(tms_log_read_frame(dir, seg, off, s, &got, &len), TMS_OK);
        assert_int_equal(len, sizeof pl);
        assert_int_equal(got[0], 'a' + s);
        free(got);
    }
    assert_int_equal(tms_log_read_frame(dir, 3, TMS_LOG_SEGMENT_HEADER, 4, &got, &len), TMS_OK);
    free(got);
    assert_int_equal(tms_log_read_frame(dir, 3, TMS_LOG_SEGMENT_HEADER, 9, &got, &len), TMS_NOT_FOUND);
    assert_int_equal(tms_log_read_frame(dir, 7, TMS_LOG_SEGMENT_HEADER, 7, &got, &len), TMS_NOT_FOUND);
    /* a locator between frames, or past its record: not a frame where it says */
    assert_int_equal(tms_log_read_frame(dir, seg, off + 1, 2, &got, &len), TMS_E_CORRUPT);
    assert_int_equal(tms_log_read_frame(dir, seg, off + HDR + sizeof pl, 1, &got, &len), TMS_E_CORRUPT);
    /* a flipped payload byte of record 2: it no longer reads; record 1 still does */
    snprintf(p, sizeof p, "%s/00000000000000000001.tmslog", dir);
    size_t n = 0;
    uint8_t *d = tu_read_file(p, &n);
    assert_non_null(d);
    d[n - 1] ^= 1;
    assert_int_equal(tu_write_file(p, d, n), 0);
    free(d);
    assert_int_equal(tms_log_read_frame(dir, seg, off, 2, &got, &len), TMS_E_CORRUPT);
    assert_null(got);
    assert_int_equal(tms_log_read_frame(dir, seg, off, 1, &got, &len), TMS_OK);
    free(got);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_encoder_writes_the_layout),
        cmocka_unit_test(test_the_check_names_each_fault_in_order),
        cmocka_unit_test(test_segment_names_and_headers),
        cmocka_unit_test(test_field_reads_for_other_rooms),
        cmocka_unit_test(test_append_frame_stages_the_leaders_frames_byte_for_byte),
        cmocka_unit_test(test_read_frame_walks_from_a_locator),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
