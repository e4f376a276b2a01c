/* test_history_tally.c -- the tally of the as-of index (history.h,
 * history_tally.c), which tms-audit verify compares with a projection's
 * index instead of writing a scratch one.
 *
 * What a fold tallies equals the tally of the index tms_history_record +
 * tms_history_apply write from the same records, and of the index the
 * engine wrote group by group; with record times that go back and repeat
 * too. An index with one entry of any of its databases changed, added or
 * removed tallies otherwise. An interval opened twice (what no rule makes)
 * is a failure the tally keeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../engine/storage/store_internal.h"
#include "history.h"
#include "replay.h"
#include "teststream.h"
#include "testdamage.h"

static const uint8_t tally_key[TMS_HISTORY_TALLY_KEY] = "0123456789abcde";
/* A reserve the worker cannot make (test_a_reserved_table_tallies_as_one_that_grew) asks for 2^63 bytes: under
 * AddressSanitizer or ThreadSanitizer that is a report unless an allocation may fail, as it does without them.
 * (Options given in ASAN_OPTIONS / TSAN_OPTIONS still win.) */
const char *__asan_default_options(void);
const char *__tsan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
const char *__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static uint64_t reserve;        /* compare_env's tally reserved for this many records first (0: not) */
static size_t last_capacity;    /* compare_env's tally's table, at its end */

typedef struct fold_ctx {
    tms_history_tally *tally;
    tms_txn *tx;                 /* the scratch index, written as the engine writes it */
    tms_history_batch batch;
    int perturb;                 /* record times replaced by ones that go back and repeat */
    uint64_t back, same;         /* how often they did */
    uint64_t last_time;
} fold_ctx;

static tms_err both(void *ctx, const tms_fold_event *ev)
{
    fold_ctx *f = ctx;
    uint64_t seq = ev->rec->seq;
    int64_t time = f->perturb ? 1000 + (int64_t)(seq / 2 * 7919 % 613) : ev->rec->time;   /* 613 times, pairs */
    f->back += seq > 1 && (uint64_t)time < f->last_time;
    f->same += seq > 1 && (uint64_t)time == f->last_time;
    f->last_time = (uint64_t)time;
    tms_history_batch_clear(&f->batch);
    assert_int_equal(tms_history_tally_add(f->tally, ev->state, seq, time, ev->effects, ev->neffects), TMS_OK);
    assert_int_equal(tms_history_record(&f->batch, ev->state, seq, time, ev->effects, ev->neffects), TMS_OK);
    assert_int_equal(tms_history_apply(f->tx, &f->batch), TMS_OK);
    return TMS_OK;
}

static void index_tally(tms_store *st, uint8_t out[TMS_HASH_LEN])
{
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(st, 0, &tx), TMS_OK);
    assert_int_equal(tms_history_tally_index(tx, tally_key, out), TMS_OK);
    tms_txn_abort(tx);
}

/* env's log folded: the fold's tally, the scratch index's (written record
 * by record in one transaction), and (unperturbed) the engine's. The
 * scratch store stays in *scratch_st (its directory in *scratch_dir) for
 * the damage cases. */
static uint64_t compare_env(tu_env *env, int perturb, tms_store **scratch_st, char **scratch_dir,
                            uint8_t want[TMS_HASH_LEN])
{
    char logdir[4200], why[256];
    uint8_t got[TMS_HASH_LEN];
    *scratch_dir = tu_mkdtemp();
    assert_int_equal(tms_store_open_sized(*scratch_dir, TMS_STORE_SCRATCH, 256 << 20, scratch_st, why, sizeof why),
                     TMS_OK);
    fold_ctx f = {.perturb = perturb};
    tms_history_batch_init(&f.batch);
    assert_int_equal(tms_history_tally_new(tally_key, &f.tally), TMS_OK);
    if (reserve)
        assert_int_equal(tms_history_tally_reserve(f.tally, reserve), TMS_OK);
    assert_int_equal(tms_txn_begin(*scratch_st, 1, &f.tx), TMS_OK);
    tms_state *st = tms_state_new();
    tms_replay_result res;
    tms_replay_opts o = {.on_effects = both, .ctx = &f};
    assert_int_equal(tms_fold(st, tms_data_path(logdir, sizeof logdir, env->dir, "log"), &o, &res), TMS_OK);
    assert_int_equal(tms_txn_commit(f.tx), TMS_OK);
    assert_int_equal(tms_history_tally_end(f.tally, want), TMS_OK);
    last_capacity = tms__history_tally_capacity(f.tally);
    index_tally(*scratch_st, got);
    assert_memory_equal(got, want, TMS_HASH_LEN);
    if (perturb) {
        assert_true(f.back > 10 && f.same > 10 && res.last_seq > 2 * 613);   /* back, again, and later again */
    } else {
        index_tally(tms_engine_store(env->eng), got);
        assert_memory_equal(got, want, TMS_HASH_LEN);
    }
    tms_history_tally_free(f.tally);
    tms_history_batch_free(&f.batch);
    tms_state_free(st);
    return res.last_seq;
}

/* gen_log ARGS through an engine in groups of 40, then compare_env: the records folded. */
static uint64_t fold_and_compare(const char *args, int perturb, tms_store **scratch_st, char **scratch_dir,
                                 uint8_t want[TMS_HASH_LEN])
{
    ts_lines l = ts_generate(args);
    tu_env *env = tu_env_new();
    for (size_t i = 0; i < l.n; i += 40)
        ts_submit_group(env, l.v + i, l.n - i < 40 ? l.n - i : 40);
    uint64_t n = compare_env(env, perturb, scratch_st, scratch_dir, want);
    tu_env_free(env);
    ts_lines_free(&l);
    return n;
}

static uint64_t fold_only(const char *args, int perturb)
{
    tms_store *st;
    char *dir;
    uint8_t want[TMS_HASH_LEN];
    uint64_t n = fold_and_compare(args, perturb, &st, &dir, want);
    tms_store_close(st);
    tu_rmtree(dir);
    free(dir);
    return n;
}

static void test_a_folds_tally_equals_the_written_indexes(void **state)
{
    (void)state;
    fold_only("--tenants 4 --extensions 300 --seed 5", 0);
    fold_only("--tenants 1 --extensions 800 --seed 41", 0);   /* role churn */
    assert_true(fold_only("--tenants 2 --extensions 2600 --seed 3", 0) > 8192);   /* a chunk handed over mid-fold */
}

/* A table made big enough before the fold (tms-audit verify sizes it by the
 * records it will fold) tallies as one that grew, and is as big as asked
 * (the worker made it); one made smaller grows from there; one no memory
 * holds is refused at once, or (a size the bound lets by) refused by the
 * worker, which then grows the table as it fills. */
static void test_a_reserved_table_tallies_as_one_that_grew(void **state)
{
    (void)state;
    ts_lines l = ts_generate("--tenants 2 --extensions 2600 --seed 3");
    tu_env *env = tu_env_new();
    tms_history_tally *t;
    uint8_t grown[TMS_HASH_LEN], want[TMS_HASH_LEN];
    const uint64_t asks[4] = {0, 3 * l.n, 3000, SIZE_MAX / 128};   /* none, more, less, what no memory gives */
    size_t grown_cap = 0;
    for (size_t i = 0; i < l.n; i += 40)
        ts_submit_group(env, l.v + i, l.n - i < 40 ? l.n - i : 40);
    for (int i = 0; i < 4; i++) {
        tms_store *st;
        char *dir;
        reserve = asks[i];
        assert_true(compare_env(env, 0, &st, &dir, i ? want : grown) > 8192);
        if (i)
            assert_memory_equal(want, grown, TMS_HASH_LEN);
        if (i == 0)
            grown_cap = last_capacity;
        if (i == 1)   /* the reserve was made: a power of two of at least twice the records asked for */
            assert_true(last_capacity >= 6 * l.n && last_capacity > grown_cap &&
                        !(last_capacity & (last_capacity - 1)));
        if (i == 2 || i == 3)
            assert_int_equal(last_capacity, grown_cap);   /* grew from 8192; the worker's refusal changed nothing */
        tms_store_close(st);
        tu_rmtree(dir);
        free(dir);
    }
    reserve = 0;
    tu_env_free(env);
    ts_lines_free(&l);
    assert_int_equal(tms_history_tally_new(tally_key, &t), TMS_OK);
    assert_int_equal(tms_history_tally_reserve(t, SIZE_MAX / 128 + 1), TMS_E_NOMEM);
    assert_int_equal(tms_history_tally_end(t, want), TMS_OK);
    tms_history_tally_free(t);
}

/* A pair distributed, withdrawn and distributed again in one group: the
 * second withdrawal closes its interval in the transaction that wrote the
 * first. The index writer used to look the interval up through the
 * caller's key, which LMDB then pointed into the page its delete changed,
 * and wrote the closed interval under those bytes (a key of garbage): the
 * engine's index, and one written in one transaction, must tally as the log
 * says. */
static void test_a_pair_distributed_again_in_one_group(void **state)
{
    tu_env *env = *state;
    char *lines[40];
    size_t n = 0;
    static const char *ext[] = {"1001", "1002", "1003"};
    for (int round = 0; round < 4; round++)
        for (int undo = 0; undo < 2; undo++)
            for (size_t i = 0; i < 3; i++) {
                char line[300];
                snprintf(line, sizeof line, "{\"cmd\":\"%s\",\"tenant\":\"acme\",\"actor\":\"admin\","
                         "\"kind\":\"extension\",\"id\":\"%s\",\"manager\":\"%s\"}",
                         undo ? "Undistribute" : "Distribute", ext[i], i == 2 ? "other" : "mid");
                lines[n++] = strdup(line);
            }
    assert_int_equal(ts_submit_group(env, lines, n), n);   /* every one accepted: the test tests something */
    tms_store *st;
    char *dir;
    uint8_t want[TMS_HASH_LEN];
    compare_env(env, 0, &st, &dir, want);
    tms_store_close(st);
    tu_rmtree(dir);
    free(dir);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
}

static void test_record_times_that_go_back_and_repeat(void **state)
{
    (void)state;
    fold_only("--tenants 3 --extensions 300 --seed 9", 1);
}

/* ---- damage: one entry of one database ----------------------------------------------- */

static void test_any_entry_changed_added_or_removed_tallies_otherwise(void **state)
{
    (void)state;
    tms_store *st;
    char *dir;
    uint8_t want[TMS_HASH_LEN], got[TMS_HASH_LEN];
    fold_and_compare("--tenants 2 --extensions 200 --seed 17", 0, &st, &dir, want);
    const int dbs[] = {TMS_DB_VERSIONS, TMS_DB_DIST_AT, TMS_DB_VISIBLE_AT, TMS_DB_CHANGES, TMS_DB_TIMES};
    for (size_t d = 0; d < sizeof dbs / sizeof dbs[0]; d++)
        for (int how = CHANGE; how <= REMOVE; how++)
            for (size_t nth = 0; nth < 300; nth += 97) {
                tms_txn *tx;
                assert_int_equal(tms_txn_begin(st, 1, &tx), TMS_OK);
                damage_one(tx, dbs[d], nth, (damage)how, NULL, NULL);
                assert_int_equal(tms_history_tally_index(tx, tally_key, got), TMS_OK);
                if (!memcmp(got, want, TMS_HASH_LEN))
                    fail_msg("database %d, entry %zu, damage %d: the same tally", dbs[d], nth, how);
                tms_txn_abort(tx);
            }
    index_tally(st, got);   /* every damage was aborted */
    assert_memory_equal(got, want, TMS_HASH_LEN);
    tms_store_close(st);
    tu_rmtree(dir);
    free(dir);
}

/* Records whose effects leave an account as it was: the index writes no
 * version for them (put_version), and the tally counts none; nor for the
 * deletion of what never existed, nor twice for an account an effect of the
 * same record names again after another. */
static void test_versions_that_change_nothing_are_not_counted(void **state)
{
    tu_env *env = *state;
    const tms_state *st = tms_engine_state(env->eng);
    char *dir = tu_mkdtemp(), why[256];
    tms_store *scratch;
    tms_txn *tx;
    tms_history_tally *t;
    tms_history_batch b;
    uint8_t want[TMS_HASH_LEN], got[TMS_HASH_LEN];
    const tms_effect perms = {.type = TMS_EFFECT_PERMISSIONS, .kind = 'e', .tenant = "acme", .id = "1001"},
                     top = {.type = TMS_EFFECT_PERMISSIONS, .kind = 'm', .tenant = "acme", .id = "top"},
                     gone = {.type = TMS_EFFECT_ACCOUNT_DELETED, .kind = 'e', .tenant = "acme", .id = "9999"};
    const tms_effect records[][3] = {{perms, top, perms}, {perms, top, gone}, {gone, gone, perms}};
    assert_int_equal(tms_store_open(dir, TMS_STORE_SCRATCH, &scratch, why, sizeof why), TMS_OK);
    assert_int_equal(tms_txn_begin(scratch, 1, &tx), TMS_OK);
    assert_int_equal(tms_history_tally_new(tally_key, &t), TMS_OK);
    tms_history_batch_init(&b);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        tms_history_batch_clear(&b);
        assert_int_equal(tms_history_record(&b, st, seq, (int64_t)seq, records[seq - 1], 3), TMS_OK);
        assert_int_equal(tms_history_apply(tx, &b), TMS_OK);
        assert_int_equal(tms_history_tally_add(t, st, seq, (int64_t)seq, records[seq - 1], 3), TMS_OK);
    }
    assert_int_equal(tms_history_tally_end(t, want), TMS_OK);
    assert_int_equal(tms_history_tally_index(tx, tally_key, got), TMS_OK);
    assert_memory_equal(got, want, TMS_HASH_LEN);
    MDB_stat ms;   /* two versions, record 1's; the test tests something */
    assert_int_equal(mdb_stat(tx->txn, tx->st->dbi[TMS_DB_VERSIONS], &ms), 0);
    assert_int_equal(ms.ms_entries, 2);
    tms_txn_abort(tx);
    tms_history_batch_free(&b);
    tms_history_tally_free(t);
    tms_store_close(scratch);
    tu_rmtree(dir);
    free(dir);
}

/* The same distribution opened twice: no rule makes it (a manager has an
 * object once), and the index would hold two open intervals; the tally
 * says so instead of guessing, at its end at the latest. */
static void test_an_interval_opened_twice_is_a_kept_failure(void **state)
{
    (void)state;
    tms_history_tally *t;
    uint8_t out[TMS_HASH_LEN];
    tms_state *st = tms_state_new();
    tms_effect e = {.type = TMS_EFFECT_DISTRIBUTED, .kind = 'q', .tenant = "acme", .id = "sales", .after = "m1"};
    assert_int_equal(tms_history_tally_new(tally_key, &t), TMS_OK);
    assert_int_equal(tms_history_tally_add(t, st, 1, 10, &e, 1), TMS_OK);
    tms_err second = tms_history_tally_add(t, st, 2, 11, &e, 1);   /* summed on the worker: said now or later */
    assert_true(second == TMS_OK || second == TMS_E_CORRUPT);
    assert_int_equal(tms_history_tally_end(t, out), TMS_E_CORRUPT);
    tms_history_tally_free(t);
    tms_history_tally_free(NULL);
    tms_state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_folds_tally_equals_the_written_indexes),
        cmocka_unit_test(test_a_reserved_table_tallies_as_one_that_grew),
        cmocka_unit_test(test_record_times_that_go_back_and_repeat),
        cmocka_unit_test(test_any_entry_changed_added_or_removed_tallies_otherwise),
        cmocka_unit_test(test_an_interval_opened_twice_is_a_kept_failure),
        cmocka_unit_test_setup_teardown(test_versions_that_change_nothing_are_not_counted, tu_setup_standard,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_a_pair_distributed_again_in_one_group, tu_setup_standard, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
