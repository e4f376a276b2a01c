/* test_lag.c -- records' lags on their way to a replica (lag.h): the
 * stamp read from a frame, the log2 buckets at their edges, any two stamps
 * (a hostile stream's included) without overflow, and merging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "lag.h"
#include "log.h"
#include "record.h"

static uint64_t total(const tms_lag *h)
{
    uint64_t n = 0;
    for (int b = 0; b < TMS_LAG_BUCKETS; b++)
        n += h->bucket[b];
    return n;
}

/* Each bucket i holds lags below 2^(i + TMS_LAG_SHIFT) ns and at or above the one before's bound. */
static void buckets_at_their_edges(void **state)
{
    (void)state;
    for (int b = 0; b < TMS_LAG_BUCKETS - 1; b++) {
        tms_lag h;
        int64_t bound = INT64_C(1) << (b + TMS_LAG_SHIFT);
        memset(&h, 0, sizeof h);
        tms_lag_add(&h, 0, bound - 1);
        assert_int_equal(h.bucket[b], 1);
        tms_lag_add(&h, 0, bound);
        assert_int_equal(h.bucket[b + 1], 1);
        assert_int_equal(total(&h), 2);
    }
}

/* A stamp ahead of the clock counts 0; the farthest stamps either way
 * neither overflow (UBSan checks) nor leave the histogram. */
static void any_two_stamps(void **state)
{
    (void)state;
    tms_lag h;
    memset(&h, 0, sizeof h);
    tms_lag_add(&h, 1000, 10);   /* ahead: 0 */
    assert_int_equal(h.bucket[0], 1);
    tms_lag_add(&h, INT64_MIN, INT64_MAX);   /* the largest lag there is */
    tms_lag_add(&h, INT64_MIN, 0);
    tms_lag_add(&h, INT64_MAX, INT64_MIN);   /* ahead by everything: 0 */
    assert_int_equal(h.bucket[TMS_LAG_BUCKETS - 1], 2);
    assert_int_equal(h.bucket[0], 2);
    assert_true(h.sum_s > 1.8e10 && h.sum_s < 2.8e10);   /* 2^64 - 1 ns + 2^63 ns, in seconds: no wrap */
    tms_lag m;
    memset(&m, 0, sizeof m);
    tms_lag_merge(&m, &h);
    tms_lag_merge(&m, &h);
    assert_int_equal(total(&m), 2 * total(&h));
    assert_true(m.sum_s == 2 * h.sum_s);
}

/* The stamp of a frame's record, as tms_record_encode wrote it; a payload
 * of another layout, or none: 0; a frame cut anywhere: 0 or the stamp
 * (whole before the command), nothing read past len (ASan checks). */
static void the_stamp_of_a_frame(void **state)
{
    (void)state;
    const char *json = "{\"cmd\":\"CreateTenant\",\"tenant\":\"acme\",\"actor\":\"system\",\"admin\":\"admin\"}";
    char why[256];
    tms_record rec = {0};
    msgpack_sbuffer sb;
    int64_t stamp;
    tms_cmd_init(&rec.cmd);
    assert_int_equal(tms_cmd_from_json(&rec.cmd, json, strlen(json), why, sizeof why), TMS_OK);
    rec.seq = 7;
    rec.time = INT64_C(1764979200123456789);
    msgpack_sbuffer_init(&sb);
    assert_int_equal(tms_record_encode(&rec, &sb), TMS_OK);
    size_t len = TMS_LOG_FRAME_HEADER + sb.size;
    uint8_t *frame = calloc(1, len);
    memcpy(frame + TMS_LOG_FRAME_HEADER, sb.data, sb.size);
    assert_int_equal(tms_lag_stamp(frame, len, &stamp), 1);
    assert_true(stamp == rec.time);
    tms_lag h;
    memset(&h, 0, sizeof h);
    assert_int_equal(tms_lag_add_frame(&h, frame, len, rec.time + 5000), 1);
    assert_int_equal(h.bucket[0], 1);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, frame, cut);
        int got = tms_lag_stamp(copy, cut, &stamp);   /* the stamp is whole before the command: it may be read */
        assert_true(cut <= TMS_LOG_FRAME_HEADER ? !got : !got || stamp == rec.time);
        free(copy);
    }
    frame[TMS_LOG_FRAME_HEADER] = 0x80;   /* an empty map, not a map of 4 or 5: another layout */
    assert_int_equal(tms_lag_add_frame(&h, frame, len, 0), 0);
    assert_int_equal(total(&h), 1);
    free(frame);
    msgpack_sbuffer_destroy(&sb);
    tms_cmd_free(&rec.cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buckets_at_their_edges),
        cmocka_unit_test(any_two_stamps),
        cmocka_unit_test(the_stamp_of_a_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
