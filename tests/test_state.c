/* test_state.c -- the in-memory state and its LMDB projection, differentially.
 *
 * Command streams come from gen_log (gen/gen_log.c: realistic tenants,
 * ~5% mistakes, role churn), submitted through an engine in groups of random
 * sizes. After every group: the LMDB projection's digest equals the digest
 * of the in-memory state rendered as a projection; every few groups, and at
 * the end, a from-scratch rebuild (fold + bulk load) has that digest too.
 * Then the undo log: a group applied to the state and rolled back leaves the
 * state's digest as it was, whatever the commands did. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "replay.h"
#include "testutil.h"
#include "teststream.h"

static void lmdb_state_digest(tms_store *st, uint8_t out[32])
{
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(st, 0, &tx), TMS_OK);
    assert_int_equal(tms_store_state_digest(tx, out), TMS_OK);
    tms_txn_abort(tx);
}

/* A from-scratch rebuild of dir's log: fold, bulk load, digest. */
static void rebuild_digest(const char *dir, uint8_t out[32])
{
    char *scratch = tu_mkdtemp(), logdir[4200], why[256];
    tms_store *st;
    tms_replay_result res;
    assert_int_equal(tms_store_open(scratch, TMS_STORE_SCRATCH, &st, why, sizeof why), TMS_OK);
    assert_int_equal(tms_replay(st, tms_data_path(logdir, sizeof logdir, dir, "log"), NULL, &res), TMS_OK);
    lmdb_state_digest(st, out);
    tms_store_close(st);
    tu_rmtree(scratch);
    free(scratch);
}

static void differential(const char *gen_args, uint64_t seed)
{
    ts_lines l = ts_generate(gen_args);
    tu_env *env = tu_env_new();
    uint8_t lmdb[32], mem[32], rebuilt[32];
    size_t at = 0, groups = 0, accepted = 0;
    while (at < l.n) {
        size_t n = 1 + ts_rng(&seed) % (ts_rng(&seed) % 4 ? 40 : 400);
        if (n > l.n - at)
            n = l.n - at;
        accepted += ts_submit_group(env, l.v + at, n);
        at += n;
        groups++;
        lmdb_state_digest(tms_engine_store(env->eng), lmdb);
        assert_int_equal(tms_state_projection_digest(tms_engine_state(env->eng), 0, NULL, mem), TMS_OK);
        if (memcmp(lmdb, mem, 32))
            fail_msg("group %zu (records up to %zu): the LMDB projection differs from the in-memory state", groups, at);
        if (groups % 16 == 0 || at == l.n) {
            rebuild_digest(env->dir, rebuilt);
            if (memcmp(rebuilt, mem, 32))
                fail_msg("group %zu: a from-scratch rebuild differs from the live state", groups);
        }
    }
    assert_true(accepted > l.n / 2);   /* a stream that mostly does something */
    assert_true(groups > 10);
    /* and a reopen (catch-up or rebuild, as the evidence says) ends in the same place */
    tu_env_reopen(env);
    lmdb_state_digest(tms_engine_store(env->eng), lmdb);
    assert_memory_equal(lmdb, mem, 32);
    tu_env_free(env);
    ts_lines_free(&l);
}

static void test_projection_equals_state_after_every_group_small_tenants(void **state)
{
    (void)state;
    differential("--tenants 6 --extensions 500 --seed 11", 7);
}

static void test_projection_equals_state_after_every_group_one_big_tenant(void **state)
{
    (void)state;
    differential("--tenants 1 --extensions 1500 --seed 29", 3);
}

/* The undo log: fold a prefix, then apply a random slice of the stream to
 * the state (accepted or not) and roll it back: the digest is unchanged;
 * applying the same slice again gives the same digest as the first time. */
static void test_rollback_restores_the_state_exactly(void **state)
{
    (void)state;
    ts_lines l = ts_generate("--tenants 3 --extensions 400 --seed 5");
    tms_state *st = tms_state_new();
    uint64_t seed = 99;
    char why[512];
    assert_non_null(st);
    size_t at = 0;
    while (at < l.n) {
        size_t n = 1 + ts_rng(&seed) % 60;
        if (n > l.n - at)
            n = l.n - at;
        uint8_t before[32], after[32], again[32];
        tms_state_stats counts_before, counts_back;
        assert_int_equal(tms_state_projection_digest(st, 0, NULL, before), TMS_OK);
        tms_state_stats_get(st, &counts_before);
        for (int pass = 0; pass < 2; pass++) {
            tms_state_mark m = tms_state_mark_get(st);
            for (size_t k = 0; k < n; k++) {
                tms_record rec = {0};
                tms_verdict v;
                tms_cmd_init(&rec.cmd);
                assert_int_equal(tms_cmd_from_json(&rec.cmd, l.v[at + k], strlen(l.v[at + k]), why, sizeof why), TMS_OK);
                rec.seq = at + k + 1;
                assert_int_equal(tms_apply_record(st, &rec, &v), TMS_OK);
                tms_cmd_free(&rec.cmd);
            }
            assert_int_equal(tms_state_projection_digest(st, 0, NULL, pass ? again : after), TMS_OK);
            if (pass == 0) {
                tms_state_rollback(st, m);
                uint8_t back[32];
                assert_int_equal(tms_state_projection_digest(st, 0, NULL, back), TMS_OK);
                if (memcmp(back, before, 32))
                    fail_msg("records %zu..%zu: the rollback did not restore the state", at + 1, at + n);
                tms_state_stats_get(st, &counts_back);   /* request ids and counters too */
                assert_memory_equal(&counts_back, &counts_before, sizeof counts_back);
            }
        }
        assert_memory_equal(after, again, 32);
        tms_state_commit(st);
        at += n;
    }
    tms_state_stats s;
    tms_state_stats_get(st, &s);
    assert_true(s.accounts > 100);
    tms_state_free(st);
    ts_lines_free(&l);
}

/* The tenant peek of tenant-filtered folds agrees with a full decode on
 * every record, and never reads past a cut payload. */
static void test_record_peek_agrees_with_decode(void **state)
{
    (void)state;
    ts_lines l = ts_generate("--tenants 4 --extensions 300 --seed 3");
    msgpack_sbuffer sb;
    char why[512];
    msgpack_sbuffer_init(&sb);
    for (size_t i = 0; i < l.n; i++) {
        tms_record rec = {0}, back = {0};
        const char *t;
        size_t tlen;
        int64_t time;
        tms_cmd_init(&rec.cmd);
        tms_cmd_init(&back.cmd);
        assert_int_equal(tms_cmd_from_json(&rec.cmd, l.v[i], strlen(l.v[i]), why, sizeof why), TMS_OK);
        rec.time = (int64_t)(i * 7919) - 5000;   /* negative, small and large times */
        if (i % 3 == 0)
            rec.time = INT64_C(1700000000000000000) + (int64_t)i;
        rec.verdict = i % 5 ? TMS_OK : TMS_PERMISSION_CEILING;
        assert_int_equal(tms_record_encode(&rec, &sb), TMS_OK);
        assert_int_equal(tms_record_peek(sb.data, sb.size, &t, &tlen, &time), 1);
        assert_int_equal(tms_record_decode(&back, sb.data, sb.size, why, sizeof why), TMS_OK);
        assert_int_equal(time, back.time);
        assert_int_equal(tlen, strlen(TMS_CMD_STR(&back.cmd, TMS_F_TENANT)));
        assert_memory_equal(t, TMS_CMD_STR(&back.cmd, TMS_F_TENANT), tlen);
        for (size_t cut = 0; i < 50 && cut < sb.size; cut++) {   /* every prefix: never past the end */
            char *copy = malloc(cut ? cut : 1);
            memcpy(copy, sb.data, cut);
            int got = tms_record_peek(copy, cut, &t, &tlen, &time);
            if (got)
                assert_true(t >= copy && t + tlen <= copy + cut);
            free(copy);
        }
        tms_cmd_free(&rec.cmd);
        tms_cmd_free(&back.cmd);
    }
    msgpack_sbuffer_destroy(&sb);
    ts_lines_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_projection_equals_state_after_every_group_small_tenants),
        cmocka_unit_test(test_projection_equals_state_after_every_group_one_big_tenant),
        cmocka_unit_test(test_rollback_restores_the_state_exactly),
        cmocka_unit_test(test_record_peek_agrees_with_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
