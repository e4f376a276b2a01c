/* test_relay.c -- the storage room's relay (engine/storage/relay.h): one
 * worker, one job in flight; the first failure is kept and no work runs
 * after it; a stopped relay starts again at the next post. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "../engine/storage/relay.h"

typedef struct job {
    int value;        /* the owner writes it between wait and post */
    int sum, calls;   /* the worker's */
    int finals;
    int fail_at;      /* the call that fails (0: none) */
} job;

static tms_err work(void *ctx, int final)
{
    job *j = ctx;
    j->calls++;
    j->sum += j->value;
    j->finals += final;
    return j->calls == j->fail_at ? TMS_E_CORRUPT : TMS_OK;
}

static void test_every_job_is_done_once_in_order(void **state)
{
    (void)state;
    job j = {0};
    tms__relay r;
    assert_int_equal(tms__relay_init(&r, work, &j), TMS_OK);
    assert_int_equal(tms__relay_wait(&r), TMS_OK);   /* nothing posted: at once */
    for (int i = 1; i <= 1000; i++) {
        assert_int_equal(tms__relay_wait(&r), TMS_OK);
        j.value = i;
        assert_int_equal(tms__relay_post(&r, i == 1000), TMS_OK);
    }
    assert_int_equal(tms__relay_stop(&r), TMS_OK);
    assert_int_equal(j.calls, 1000);
    assert_int_equal(j.sum, 1000 * 1001 / 2);
    assert_int_equal(j.finals, 1);
    tms__relay_destroy(&r);
}

static void test_the_first_failure_is_kept_and_stops_the_work(void **state)
{
    (void)state;
    job j = {.fail_at = 3};
    tms__relay r;
    assert_int_equal(tms__relay_init(&r, work, &j), TMS_OK);
    tms_err seen = TMS_OK;
    for (int i = 1; i <= 10; i++) {
        tms_err err = tms__relay_wait(&r);
        if (err) {
            seen = err;
            break;
        }
        j.value = i;
        assert_int_equal(tms__relay_post(&r, 0), TMS_OK);
    }
    assert_int_equal(seen, TMS_E_CORRUPT);   /* the wait after the third job says so */
    assert_int_equal(tms__relay_post(&r, 1), TMS_E_CORRUPT);   /* a post after it: no work */
    assert_int_equal(tms__relay_stop(&r), TMS_E_CORRUPT);
    assert_int_equal(j.calls, 3);
    assert_int_equal(j.finals, 0);
    tms__relay_destroy(&r);
}

static void test_a_stopped_relay_starts_again(void **state)
{
    (void)state;
    job j = {0};
    tms__relay r;
    assert_int_equal(tms__relay_init(&r, work, &j), TMS_OK);
    assert_int_equal(tms__relay_stop(&r), TMS_OK);   /* never started: nothing to join */
    j.value = 5;
    assert_int_equal(tms__relay_post(&r, 0), TMS_OK);
    assert_int_equal(tms__relay_stop(&r), TMS_OK);
    j.value = 7;
    assert_int_equal(tms__relay_post(&r, 1), TMS_OK);
    tms__relay_destroy(&r);   /* waits for the job in flight */
    assert_int_equal(j.calls, 2);
    assert_int_equal(j.sum, 12);
    assert_int_equal(j.finals, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_job_is_done_once_in_order),
        cmocka_unit_test(test_the_first_failure_is_kept_and_stops_the_work),
        cmocka_unit_test(test_a_stopped_relay_starts_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
