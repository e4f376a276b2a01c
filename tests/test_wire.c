/* test_wire.c -- tmsd framing: frames split at every byte boundary come out
 * whole and in order; an announced length over the limit is refused before
 * any payload is buffered; memory stays bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "mpsafe.h"
#include "record.h"
#include "wire.h"

static size_t make_stream(uint8_t *buf, size_t cap)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t n = 0;
    msgpack_sbuffer_init(&sb);
    for (int i = 0; i < 3; i++) {
        tms_frame_begin(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        tms_pack_kv_str(&pk, "op", "check");
        tms_pack_str(&pk, "req");
        msgpack_pack_uint64(&pk, (uint64_t)i + 7);
        assert_int_equal(tms_frame_seal(&sb, 0), TMS_OK);
        assert_true(n + sb.size <= cap);
        memcpy(buf + n, sb.data, sb.size);
        n += sb.size;
    }
    msgpack_sbuffer_destroy(&sb);
    return n;
}

static void expect_frames(tms_frame_reader *r, int *seen)
{
    const uint8_t *p;
    size_t len;
    int rc;
    while ((rc = tms_frame_reader_next(r, &p, &len)) == 1) {
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        assert_int_equal(msgpack_unpack_next(&up, (const char *)p, len, NULL), MSGPACK_UNPACK_SUCCESS);
        const msgpack_object *req = tms_map_get(&up.data, "req");
        assert_non_null(req);
        assert_int_equal(req->via.u64, (uint64_t)*seen + 7);
        (*seen)++;
        msgpack_unpacked_destroy(&up);
    }
    assert_int_equal(rc, 0);
}

static void test_wire_frames_split_at_every_byte_come_out_whole(void **state)
{
    (void)state;
    uint8_t stream[512];
    size_t n = make_stream(stream, sizeof stream);
    for (size_t cut = 0; cut <= n; cut++) {
        tms_frame_reader r;
        int seen = 0;
        tms_frame_reader_init(&r, 0);
        assert_int_equal(tms_frame_reader_feed(&r, stream, cut), TMS_OK);
        expect_frames(&r, &seen);
        assert_int_equal(tms_frame_reader_feed(&r, stream + cut, n - cut), TMS_OK);
        expect_frames(&r, &seen);
        assert_int_equal(seen, 3);
        tms_frame_reader_free(&r);
    }
    /* and one byte at a time */
    tms_frame_reader r;
    int seen = 0;
    tms_frame_reader_init(&r, 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tms_frame_reader_feed(&r, stream + i, 1), TMS_OK);
        expect_frames(&r, &seen);
    }
    assert_int_equal(seen, 3);
    tms_frame_reader_free(&r);
}

static void test_wire_oversize_frame_is_refused_from_its_header(void **state)
{
    (void)state;
    tms_frame_reader r;
    const uint8_t *p;
    size_t len;
    uint8_t hdr[4] = {0x00, 0x10, 0x00, 0x01};   /* 1 MiB + 1 */
    tms_frame_reader_init(&r, 1u << 20);
    assert_int_equal(tms_frame_reader_feed(&r, hdr, 4), TMS_OK);
    assert_int_equal(tms_frame_reader_next(&r, &p, &len), -1);
    assert_true(r.cap < 64 * 1024);   /* nothing was allocated for the announced payload */
    tms_frame_reader_free(&r);
    /* exactly at the limit is fine */
    uint8_t ok[4] = {0x00, 0x00, 0x00, 0x02};
    tms_frame_reader_init(&r, 2);
    assert_int_equal(tms_frame_reader_feed(&r, ok, 4), TMS_OK);
    assert_int_equal(tms_frame_reader_feed(&r, "\x80\x80", 2), TMS_OK);
    assert_int_equal(tms_frame_reader_next(&r, &p, &len), 1);
    assert_int_equal(len, 2);
    tms_frame_reader_free(&r);
}

static void test_wire_reply_over_the_limit_is_not_sealed(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tms_frame_begin(&sb);
    char big[100] = {0};
    msgpack_sbuffer_write(&sb, big, sizeof big);
    assert_int_equal(tms_frame_seal(&sb, 50), TMS_E_TOOBIG);
    assert_int_equal(tms_frame_seal(&sb, 100), TMS_OK);
    msgpack_sbuffer_destroy(&sb);
}

/* Found by fuzz_record: an array announcing 3.7 billion elements in 8 bytes
 * made msgpack-c ask for 128 GiB before reading them. */
static void test_wire_lying_container_sizes_are_refused_before_unpacking(void **state)
{
    (void)state;
    const uint8_t liar[] = {0xdd, 0xdd, 0xdd, 0x0a, 0x9d, 0x9d, 0x9d, 0x9d};
    const uint8_t map_liar[] = {0xdf, 0x00, 0x10, 0x00, 0x00, 0xc0, 0xc0};
    const uint8_t str_liar[] = {0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
    const uint8_t ok[] = {0x82, 0xa2, 'o', 'p', 0xa5, 'c', 'h', 'e', 'c', 'k', 0xa3, 'r', 'e', 'q', 0x07};
    const uint8_t nested[] = {0x91, 0x91, 0x91, 0xc0};
    assert_false(tms_msgpack_sane(liar, sizeof liar));
    assert_false(tms_msgpack_sane(map_liar, sizeof map_liar));
    assert_false(tms_msgpack_sane(str_liar, sizeof str_liar));
    assert_false(tms_msgpack_sane((const uint8_t *)"\xc1", 1));   /* the never-used type byte */
    assert_true(tms_msgpack_sane(ok, sizeof ok));
    assert_true(tms_msgpack_sane(nested, sizeof nested));
    for (size_t cut = 0; cut < sizeof ok; cut++)
        assert_false(tms_msgpack_sane(ok, cut));
    tms_record r;
    char why[256];
    tms_cmd_init(&r.cmd);
    assert_int_equal(tms_record_decode(&r, liar, sizeof liar, why, sizeof why), TMS_E_CORRUPT);
    tms_cmd_free(&r.cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_frames_split_at_every_byte_come_out_whole),
        cmocka_unit_test(test_wire_oversize_frame_is_refused_from_its_header),
        cmocka_unit_test(test_wire_reply_over_the_limit_is_not_sealed),
        cmocka_unit_test(test_wire_lying_container_sizes_are_refused_before_unpacking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
