/* test_replica.c -- tms_engine_replicate (SPEC section 8): a replica fed
 * the leader's frames in groups of random sizes ends with the same log (the
 * same chain head at the same seq), the same projection digest and the same
 * as-of index; a frame that does not check, is not the next seq, or does not
 * chain (a forged record with valid checksums) is refused naming the seq,
 * and nothing of its group stays. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "history.h"
#include "log.h"
#include "../engine/storage/store_internal.h"
#include "teststream.h"
#include "testdamage.h"

#define FRAME_HASH 24   /* where the hash lies in a frame header (log.h) */

typedef struct frames {
    uint8_t **v;
    size_t *len, n;
} frames;

/* Every frame of dir's log, header and payload, as the leader publishes them. */
static frames read_log(const char *dir)
{
    char logdir[4200];
    tms_log_iter *it;
    tms_log_record r;
    int has;
    frames f = {0};
    assert_int_equal(tms_log_iter_open(tms_data_path(logdir, sizeof logdir, dir, "log"), 1, &it, NULL), TMS_OK);
    while (tms_log_iter_next(it, &r, &has) == TMS_OK && has) {
        f.v = realloc(f.v, (f.n + 1) * sizeof *f.v);
        f.len = realloc(f.len, (f.n + 1) * sizeof *f.len);
        f.v[f.n] = malloc(TMS_LOG_FRAME_HEADER + r.len);
        tms_log_frame_header(&r, f.v[f.n]);
        memcpy(f.v[f.n] + TMS_LOG_FRAME_HEADER, r.payload, r.len);
        f.len[f.n++] = TMS_LOG_FRAME_HEADER + r.len;
    }
    tms_log_iter_close(it);
    return f;
}

static void frames_free(frames *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i]);
    free(f->v);
    free(f->len);
}

static void digests(tu_env *env, uint8_t state[32], uint8_t hist[32])
{
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    assert_int_equal(tms_store_digest(tx, state), TMS_OK);   /* meta included: the same seq and chain head */
    assert_int_equal(tms_history_digest(tx, hist), TMS_OK);
    tms_txn_abort(tx);
}

static tms_err replicate(tu_env *env, frames *f, size_t from, size_t n, char *why)
{
    return tms_engine_replicate(env->eng, (const uint8_t *const *)f->v + from, f->len + from, n, why, 512);
}

static void test_a_replica_equals_its_leader(void **state)
{
    (void)state;
    uint64_t seed = 17;
    char why[512];
    ts_lines l = ts_generate("--tenants 3 --extensions 300 --seed 8");
    tu_env *leader = tu_env_new(), *replica = tu_env_new();
    for (size_t at = 0; at < l.n;) {
        size_t n = 1 + ts_rng(&seed) % 60;
        n = n > l.n - at ? l.n - at : n;
        ts_submit_group(leader, l.v + at, n);
        at += n;
    }
    frames f = read_log(leader->dir);
    assert_int_equal(f.n, tms_engine_last_seq(leader->eng));
    for (size_t at = 0; at < f.n;) {   /* other group boundaries than the leader's */
        size_t n = 1 + ts_rng(&seed) % 200;
        n = n > f.n - at ? f.n - at : n;
        if (replicate(replica, &f, at, n, why))
            fail_msg("replicate at %zu: %s", at, why);
        at += n;
    }
    uint8_t ls[32], lh[32], rs[32], rh[32];
    digests(leader, ls, lh);
    digests(replica, rs, rh);
    assert_memory_equal(ls, rs, 32);
    assert_memory_equal(lh, rh, 32);
    /* and after a reopen of the replica (its log alone rebuilds the same) */
    tu_env_reopen(replica);
    digests(replica, rs, rh);
    assert_memory_equal(ls, rs, 32);
    frames_free(&f);
    tu_env_free(leader);
    tu_env_free(replica);
    ts_lines_free(&l);
}

/* What a replica refuses: nothing of the group stays, the seq is named. */
static void test_a_replica_refuses_what_does_not_check_or_chain(void **state)
{
    tu_env *leader = *state, *replica = tu_env_new();
    char why[512];
    for (int i = 0; i < 6; i++)
        assert_int_equal(tu_submit(leader, "{'cmd':'CreateExtension','tenant':'acme','actor':'admin','id':'r%d'}", i), TMS_OK);
    frames f = read_log(leader->dir);
    assert_int_equal(replicate(replica, &f, 0, 3, why), TMS_OK);
    uint64_t last = tms_engine_last_seq(replica->eng);
    /* a gap: seq 5 after 3 */
    assert_int_equal(replicate(replica, &f, 4, 1, why), TMS_E_CORRUPT);
    assert_non_null(strstr(why, "expected seq 4"));
    /* a flipped payload byte: the body checksum */
    uint8_t *bad = malloc(f.len[3]);
    memcpy(bad, f.v[3], f.len[3]);
    bad[f.len[3] - 1] ^= 1;
    uint8_t *save = f.v[3];
    f.v[3] = bad;
    assert_int_equal(replicate(replica, &f, 3, 2, why), TMS_E_CORRUPT);
    assert_non_null(strstr(why, "seq 4"));
    /* forged: the right seq, valid checksums, another payload: it does not chain */
    tms_log_record r = {4, save + FRAME_HASH, bad + TMS_LOG_FRAME_HEADER, f.len[3] - TMS_LOG_FRAME_HEADER, "", 0};
    tms_log_frame_header(&r, bad);
    assert_int_equal(replicate(replica, &f, 3, 2, why), TMS_E_CORRUPT);
    assert_non_null(strstr(why, "does not chain"));
    assert_int_equal(tms_engine_last_seq(replica->eng), last);   /* nothing of those groups stayed */
    f.v[3] = save;
    free(bad);
    assert_int_equal(replicate(replica, &f, 3, f.n - 3, why), TMS_OK);
    assert_int_equal(tms_engine_last_seq(replica->eng), tms_engine_last_seq(leader->eng));
    frames_free(&f);
    tu_env_free(replica);
}

/* A replica whose open put its projection's screen off (tmsd's, docs/trust.md) applies nothing before the
 * screen is judged: held, the leader's frames apply; damaged (an account's value changed behind its back,
 * which the open did not read), the batch is refused and nothing of it is written. */
static void test_a_replica_applies_nothing_before_its_screen_is_judged(void **state)
{
    (void)state;
    char why[512], proj[4300];
    ts_lines l = ts_generate("--tenants 3 --extensions 300 --seed 9");
    tu_env *leader = tu_env_new();
    ts_submit_group(leader, l.v, l.n);
    frames f = read_log(leader->dir);
    size_t half = f.n / 2;
    for (int damaged = 0; damaged < 2; damaged++) {
        tu_env *replica = tu_env_new();
        assert_int_equal(replicate(replica, &f, 0, half, why), TMS_OK);
        tms_engine_close(replica->eng);   /* a clean stop: the snapshot of its end */
        replica->eng = NULL;
        if (damaged) {
            tms_store *st;
            tms_txn *tx;
            snprintf(proj, sizeof proj, "%s/proj", replica->dir);
            assert_int_equal(tms_store_open(proj, TMS_STORE_WRITE, &st, why, sizeof why), TMS_OK);
            assert_int_equal(tms_txn_begin(st, 1, &tx), TMS_OK);
            damage_one(tx, TMS_DB_ACCOUNTS, 7, CHANGE, NULL, NULL);
            assert_int_equal(tms_txn_commit(tx), TMS_OK);
            tms_store_close(st);
        }
        tms_engine_options o = {.defer_screen = 1};
        assert_int_equal(tms_engine_open(replica->dir, &o, &replica->eng, why, sizeof why), TMS_OK);
        assert_int_equal(tms_engine_screen_pending(replica->eng), 1);
        tms_err err = replicate(replica, &f, half, f.n - half, why);
        assert_int_equal(tms_engine_screen_pending(replica->eng), 0);
        if (damaged) {
            if (err != TMS_E_FAILED || !strstr(why, "is not the log's state"))
                fail_msg("a damaged replica applied: %s %s", tms_err_name(err), why);
            assert_int_equal(tms_engine_last_seq(replica->eng), half);
        } else {
            if (err)
                fail_msg("replicate: %s", why);
            assert_int_equal(tms_engine_last_seq(replica->eng), f.n);
        }
        tu_env_free(replica);
    }
    frames_free(&f);
    tu_env_free(leader);
    ts_lines_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_replica_equals_its_leader),
        cmocka_unit_test(test_a_replica_applies_nothing_before_its_screen_is_judged),
        cmocka_unit_test_setup_teardown(test_a_replica_refuses_what_does_not_check_or_chain, tu_setup_standard,
                                        tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
