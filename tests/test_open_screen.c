/* test_open_screen.c -- the projection's screen put off until after the
 * open (engine_screen.c; docs/trust.md). An open that writes nothing into
 * the projection (believed, level with the log, a snapshot to start from)
 * reads it on a thread after the open; every write waits for that read and
 * for the compare the open would have made. Held: the writer goes on, the
 * mark removed. Damaged (a fault, content not the log's, by any of the
 * open's three compares): the writer fails, the projection or the snapshot
 * is set aside, and the next open screens first and rebuilds. A writer that
 * died before its screen ended leaves the mark: the next open screens
 * first. An open that must write (the projection behind the log, no
 * snapshot) screens first, as before.
 *
 * Every test runs twice: the second time the open puts the tail's fold off
 * too (defer_fold, as tmsd does): it is folded in the first finish, after
 * the read, and the same holds. Below those, what only the fold put off
 * has: lookups before it, a loss it finds, a refusal it leaves to the open. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "testutil.h"
#include "store.h"
#include "log.h"

#define TENANTS 6

static int fold_after;   /* this run's opens put the tail's fold off too (defer_fold) */

static void create_tenant(tu_env *env, int t)
{
    ACC("{'cmd':'CreateTenant','tenant':'t%d','actor':'system','admin':'admin'}", t);
    for (int x = 0; x < 5; x++)
        ACC("{'cmd':'CreateExtension','tenant':'t%d','actor':'admin','id':'%d'}", t, 1000 + x);
}

/* `tenants` tenants, a snapshot S, then records for t1..t`touched`; closed (the projection level with the
 * log). keep_end: the close's snapshot of the last seq kept (the open compares the snapshot's recorded
 * digest), else removed (the projection is ahead of S: compared by tenant, or whole when many are touched). */
static tu_env *level_directory(int tenants, int touched, int keep_end)
{
    tu_env *env = tu_env_new();
    char path[4300];
    for (int t = 0; t < tenants; t++)
        create_tenant(env, t);
    tu_fork_snapshot(env);
    for (int t = 1; t <= touched; t++)
        ACC("{'cmd':'SetPermissions','tenant':'t%d','actor':'admin','kind':'extension','id':'1000','enable':"
            "['calls.international'],'disable':[]}", t);
    uint64_t last = tms_engine_last_seq(env->eng);
    tms_engine_close(env->eng);
    env->eng = NULL;
    snprintf(path, sizeof path, "%s/snapshots/%020llu.snap", env->dir, (unsigned long long)last);
    if (!keep_end)
        unlink(path);
    return env;
}

static int marked(tu_env *env)
{
    char proj[4300];
    snprintf(proj, sizeof proj, "%s/proj", env->dir);
    return tms_store_unscreened(proj);
}

/* A hook that holds the screen's thread until the test lets it go. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open;
} gate;

static void wait_gate(void *ctx)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->lock);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void open_gate(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void open_deferring(tu_env *env, gate *g)
{
    char why[512];
    tms_engine_options o = {.defer_screen = 1, .defer_fold = fold_after};
    if (g) {
        o.screen_hook = wait_gate;
        o.screen_hook_ctx = g;
    }
    if (tms_engine_open(env->dir, &o, &env->eng, why, sizeof why) != TMS_OK)
        fail_msg("open: %s", why);
}

/* 1 when extension id of tenant t0 is in the projection. */
static int t0_has(tu_env *env, const char *id)
{
    tms_txn *tx;
    tms_account_rec a;
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    tms_err err = tms_account_get(tx, "t0", 'e', id, &a);
    tms_txn_abort(tx);
    return err == TMS_OK;
}

/* How many snapshots of env's directory are set aside (.bad). */
static int count_bad(tu_env *env)
{
    char path[4300];
    int n = 0;
    for (uint64_t seq = 1; seq <= 200; seq++) {
        snprintf(path, sizeof path, "%s/snapshots/%020llu.snap.bad", env->dir, (unsigned long long)seq);
        n += access(path, F_OK) == 0;
    }
    return n;
}

static tms_err submit_one(tu_env *env, const char *tenant, const char *id, char *why, size_t whylen)
{
    char json[300];
    tms_cmd cmd;
    snprintf(json, sizeof json, "{\"cmd\":\"CreateExtension\",\"tenant\":\"%s\",\"actor\":\"admin\",\"id\":\"%s\"}",
             tenant, id);
    tms_cmd_init(&cmd);
    assert_int_equal(tms_cmd_from_json(&cmd, json, strlen(json), why, whylen), TMS_OK);
    tms_submission s = {.cmd = &cmd};
    tms_err err = tms_engine_submit(env->eng, &s, 1, why, whylen);
    tms_cmd_free(&cmd);
    return err;
}

/* Every tenant's 1001 alike again (the damage undone by a rebuild) and the projection the log's. */
static void assert_rebuilt(tu_env *env, int tenants)
{
    tms_txn *tx;
    tms_account_rec a, b;
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    assert_int_equal(tms_account_get(tx, "t0", 'e', "1001", &a), TMS_OK);
    for (int t = 1; t < tenants; t++) {
        char id[16];
        snprintf(id, sizeof id, "t%d", t);
        assert_int_equal(tms_account_get(tx, id, 'e', "1001", &b), TMS_OK);
        assert_int_equal(a.perms, b.perms);
    }
    tms_txn_abort(tx);
}

/* Held, for each of the open's three compares: the writer waits for the read at its first write, goes on,
 * the mark removed; the snapshot's digest, by tenant, and the whole state. */
static void test_a_level_projection_is_screened_after_the_open(void **state)
{
    (void)state;
    static const int shape[3][3] = {{TENANTS, 2, 1}, {TENANTS, 2, 0}, {20, 11, 0}};
    for (int k = 0; k < 3; k++) {
        char why[700];
        tu_env *env = level_directory(shape[k][0], shape[k][1], shape[k][2]);
        uint64_t last = 0;
        gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        open_deferring(env, &g);
        last = tms_engine_last_seq(env->eng);
        assert_string_equal(tms_engine_open_report(env->eng), "");
        assert_true(tms_engine_snapshot_seq(env->eng) > 0);
        assert_int_equal(tms_engine_screen_pending(env->eng), 1);   /* held at the gate: not read yet */
        assert_int_equal(tms_engine_fold_pending(env->eng), fold_after);
        assert_true(marked(env));
        open_gate(&g);
        if (submit_one(env, "t0", "7000", why, sizeof why) != TMS_OK)
            fail_msg("shape %d: submit after the screen: %s", k, why);
        assert_int_equal(tms_engine_screen_pending(env->eng), 0);
        assert_int_equal(tms_engine_fold_pending(env->eng), 0);
        tu_assert_state_is_the_logs(env);
        assert_int_equal(tms_engine_screen_finish(env->eng, why, sizeof why), TMS_OK);
        assert_false(marked(env));
        assert_int_equal(tms_engine_last_seq(env->eng), last + 1);
        tu_env_reopen(env);   /* screened first (no mark, no option): nothing to rebuild */
        assert_string_equal(tms_engine_open_report(env->eng), "");
        assert_true(t0_has(env, "7000"));
        tu_env_free(env);
    }
}

/* Damage the open did not see (it read nothing) is found by the screen after it, by each compare: the
 * first write is refused, saying why; the snapshot is set aside; the next open screens first, folds the log
 * and rebuilds. Without the judgement after the read, the write would be accepted on a damaged projection. */
static void test_damage_found_after_the_open_stops_the_writer(void **state)
{
    (void)state;
    static const int shape[3][3] = {{TENANTS, 2, 1}, {TENANTS, 2, 0}, {20, 11, 0}};
    static const char *where[3] = {"t0", "t5", "t15"};
    for (int k = 0; k < 3; k++) {
        char why[700], bad[4400];
        tu_env *env = level_directory(shape[k][0], shape[k][1], shape[k][2]);
        tu_damage_1001(env, where[k], where[k], 1);
        open_deferring(env, NULL);
        uint64_t snap = tms_engine_snapshot_seq(env->eng), last = tms_engine_last_seq(env->eng);
        assert_string_equal(tms_engine_open_report(env->eng), "");   /* nothing read at the open */
        assert_int_equal(submit_one(env, "t0", "7000", why, sizeof why), TMS_E_FAILED);
        if (!strstr(why, "is not the log's state at seq"))
            fail_msg("shape %d: %s", k, why);
        assert_int_equal(tms_engine_screen_finish(env->eng, why, sizeof why), TMS_E_CORRUPT);
        assert_string_equal(tms_engine_screen_status(env->eng), "failed");
        assert_int_equal(tms_engine_last_seq(env->eng), last);   /* nothing written */
        snprintf(bad, sizeof bad, "%s/snapshots/%020llu.snap.bad", env->dir, (unsigned long long)snap);
        assert_int_not_equal(access(bad, F_OK), 0);   /* nothing set aside: the next open judges again */
        assert_true(marked(env));
        tms_engine_close(env->eng);
        env->eng = NULL;
        assert_int_equal(count_bad(env), 0);   /* no snapshot written by that close either */
        open_deferring(env, NULL);   /* the mark: screened first */
        assert_int_equal(tms_engine_screen_pending(env->eng), 0);
        assert_false(marked(env));
        if (!strstr(tms_engine_open_report(env->eng), "differs from the log's"))
            fail_msg("shape %d: not rebuilt: %s", k, tms_engine_open_report(env->eng));
        assert_int_equal(access(bad, F_OK), 0);   /* the one the open started from, as an open always did */
        assert_int_equal(count_bad(env), 1);
        assert_rebuilt(env, shape[k][0]);
        assert_int_equal(submit_one(env, "t0", "7000", why, sizeof why), TMS_OK);
        tu_env_free(env);
    }
}

/* A fault in the projection's pages (cut off its file behind the writer's back, after the open and before
 * the read): caught on the screen's thread, never a crash; the projection set aside as damaged, the writer
 * stopped; the next open rebuilds it. */
static void test_a_fault_found_after_the_open_sets_the_projection_aside(void **state)
{
    (void)state;
    char why[700], data[4300], damaged[4400];
    tu_env *env = level_directory(TENANTS, 2, 1);
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    open_deferring(env, &g);
    snprintf(data, sizeof data, "%s/proj/data.mdb", env->dir);
    assert_int_equal(truncate(data, 2 * 4096), 0);   /* the meta pages only: every other page a SIGBUS */
    open_gate(&g);
    assert_int_equal(tms_engine_screen_finish(env->eng, why, sizeof why), TMS_E_CORRUPT);
    if (!strstr(why, "faulted") || !strstr(why, "restart"))
        fail_msg("%s", why);
    assert_int_equal(submit_one(env, "t0", "7000", why, sizeof why), TMS_E_FAILED);
    tms_engine_close(env->eng);
    env->eng = NULL;
    open_deferring(env, NULL);
    assert_int_equal(tms_engine_screen_pending(env->eng), 0);
    snprintf(damaged, sizeof damaged, "%s.damaged", data);
    if (access(damaged, F_OK) != 0 || !strstr(tms_engine_open_report(env->eng), "damaged"))
        fail_msg("not set aside: %s", tms_engine_open_report(env->eng));
    assert_rebuilt(env, TENANTS);
    assert_int_equal(submit_one(env, "t0", "7000", why, sizeof why), TMS_OK);
    tu_env_free(env);
}

/* A writer that died before its screen ended (killed, or by a fault the screen would have caught) leaves the
 * mark: the next open does not put the screen off again, so a damaged projection cannot crash writer after
 * writer. */
static void test_a_writer_that_died_before_its_screen_screens_first(void **state)
{
    (void)state;
    tu_env *env = level_directory(TENANTS, 2, 1);
    pid_t pid = fork();
    if (pid == 0) {
        gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};   /* never opened */
        char why[512];
        tms_engine *eng;
        tms_engine_options o = {.defer_screen = 1, .defer_fold = fold_after, .screen_hook = wait_gate,
                                .screen_hook_ctx = &g};
        if (tms_engine_open(env->dir, &o, &eng, why, sizeof why) == TMS_OK && tms_engine_screen_pending(eng))
            raise(SIGKILL);   /* died, its threads with it (an _exit would be a thread leak to TSan) */
        _exit(1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_true(marked(env));
    open_deferring(env, NULL);
    assert_int_equal(tms_engine_screen_pending(env->eng), 0);   /* screened during the open */
    assert_false(marked(env));
    tu_env_free(env);
}

/* An open that writes into the projection screens it first, as before: the projection behind the log (a
 * crash between the log's sync and the projection's commit), or no snapshot to start from. */
static void test_an_open_that_writes_screens_first(void **state)
{
    (void)state;
    char why[512];
    tu_env *env = level_directory(TENANTS, 2, 1);
    tms_engine_options o = {.crash_after_log_sync = 1};
    assert_int_equal(tms_engine_open(env->dir, &o, &env->eng, why, sizeof why), TMS_OK);
    assert_int_not_equal(submit_one(env, "t0", "7000", why, sizeof why), TMS_OK);   /* in the log, not in LMDB */
    tms_engine_close(env->eng);
    env->eng = NULL;
    open_deferring(env, NULL);
    assert_int_equal(tms_engine_screen_pending(env->eng), 0);
    assert_true(t0_has(env, "7000"));
    tu_env_free(env);
    env = tu_env_new();   /* no snapshot */
    create_tenant(env, 0);
    tms_engine_close(env->eng);
    env->eng = NULL;
    char snaps[4300];
    snprintf(snaps, sizeof snaps, "%s/snapshots", env->dir);
    tu_rmtree(snaps);
    open_deferring(env, NULL);
    assert_int_equal(tms_engine_screen_pending(env->eng), 0);
    tu_env_free(env);
}

/* A close before any write judges the screen first: held, its snapshot of the end is composed from the
 * tenants the open never decoded with the digests the screen read (and the next open, screening first,
 * starts from it and finds nothing to rebuild); damaged, it writes no snapshot and leaves the mark. */
static void test_a_close_before_any_write_judges_the_screen(void **state)
{
    (void)state;
    for (int damaged = 0; damaged < 2; damaged++) {
        char path[4400];
        tu_env *env = level_directory(TENANTS, 2, 0);   /* the tail after S: the close writes the end's */
        if (damaged)
            tu_damage_1001(env, "t4", "t4", 1);
        open_deferring(env, NULL);
        uint64_t last = tms_engine_last_seq(env->eng);
        assert_int_equal(tms_engine_screen_pending(env->eng), 1);
        tms_engine_close(env->eng);
        env->eng = NULL;
        snprintf(path, sizeof path, "%s/snapshots/%020llu.snap", env->dir, (unsigned long long)last);
        assert_int_equal(access(path, F_OK) == 0, !damaged);
        assert_int_equal(marked(env), damaged);
        tu_env_reopen(env);
        assert_int_equal(tms_engine_snapshot_seq(env->eng) == last, !damaged);
        if (damaged && !strstr(tms_engine_open_report(env->eng), "differs from the log's"))
            fail_msg("not rebuilt: %s", tms_engine_open_report(env->eng));
        if (!damaged)
            assert_string_equal(tms_engine_open_report(env->eng), "");
        assert_rebuilt(env, TENANTS);
        tu_env_free(env);
    }
}

/* A projection its writer's evidence does not vouch for (none beside it: a writer of an earlier version)
 * is rebuilt by the open, so the open screens it first (else it would be written before it is read; were
 * the evidence check missed, the open would be made again, screening first: the test below). */
static void test_a_projection_the_open_rebuilds_is_screened_first(void **state)
{
    (void)state;
    char path[4400];
    tu_env *env = level_directory(TENANTS, 2, 1);
    snprintf(path, sizeof path, "%s/proj/writer", env->dir);
    assert_int_equal(unlink(path), 0);
    open_deferring(env, NULL);
    assert_int_equal(tms_engine_screen_pending(env->eng), 0);
    if (!strstr(tms_engine_open_report(env->eng), "no writer evidence"))
        fail_msg("not rebuilt: %s", tms_engine_open_report(env->eng));
    assert_false(marked(env));
    assert_rebuilt(env, TENANTS);
    tu_env_free(env);
}

/* Should an open that put its screen off find it would write before the read (forced here: nothing the
 * deferral lets through does), it stops and is made again, screening first, with its lock held throughout;
 * and a projection the first try distrusted (no writer evidence) is still distrusted by the second (whose
 * close marked it clean): rebuilt, not believed. */
static void test_an_open_that_would_write_first_is_made_again_screening_first(void **state)
{
    (void)state;
    char why[512], path[4400];
    for (int evidence = 1; evidence >= 0; evidence--) {
        tu_env *env = level_directory(TENANTS, 2, 1);
        if (!evidence) {
            snprintf(path, sizeof path, "%s/proj/writer", env->dir);
            assert_int_equal(unlink(path), 0);
        }
        tms_engine_options o = {.defer_screen = 1, .defer_fold = fold_after, .screen_test_again = 1};
        if (tms_engine_open(env->dir, &o, &env->eng, why, sizeof why) != TMS_OK)
            fail_msg("open: %s", why);
        if (fold_after && evidence) {   /* found by the fold after the open: too late to open again */
            assert_int_equal(tms_engine_fold_pending(env->eng), 1);
            assert_int_equal(tms_engine_screen_finish(env->eng, why, sizeof why), TMS_E_BUSY);
            if (!strstr(why, "folding the log's tail after the open") || !strstr(why, "would write"))
                fail_msg("%s", why);
            assert_null(tms_engine_state(env->eng));   /* not the log's state */
            assert_int_equal(submit_one(env, "t0", "7000", why, sizeof why), TMS_E_FAILED);
            assert_true(marked(env));
            tu_env_reopen(env);   /* the mark: screened and folded first */
        }
        assert_int_equal(tms_engine_screen_pending(env->eng), 0);   /* the second try screened first */
        assert_false(marked(env));
        const char *report = tms_engine_open_report(env->eng);
        if (evidence ? report[0] != '\0' : !strstr(report, "no writer evidence"))
            fail_msg("evidence %d: %s", evidence, report);
        assert_rebuilt(env, TENANTS);
        assert_int_equal(submit_one(env, "t0", "7000", why, sizeof why), TMS_OK);
        tu_env_free(env);
    }
}

/* The fold put off: before it, lookups answer from the projection (the tail's records in it) and the
 * state is not the log's yet; the first call that needs the state folds the tail, after the read, and it is
 * a whole fold's. Without defer_fold (the first run) the open folded it. */
static void test_lookups_answer_before_the_tail_is_folded(void **state)
{
    (void)state;
    char why[700];
    tu_env *env = level_directory(20, 11, 0);   /* a tail over 11 of 20 tenants */
    open_deferring(env, NULL);
    assert_int_equal(tms_engine_fold_pending(env->eng), fold_after);
    tms_txn *tx;
    tms_account_rec a;
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    assert_int_equal(tms_account_get(tx, "t11", 'e', "1000", &a), TMS_OK);   /* the tail's last record */
    tms_txn_abort(tx);
    assert_true(a.perms & tu_perms("calls.international"));
    tu_assert_state_is_the_logs(env);   /* (tms_engine_state folds it first) */
    assert_int_equal(tms_engine_fold_pending(env->eng), 0);
    assert_int_equal(tms_engine_screen_finish(env->eng, why, sizeof why), TMS_OK);
    assert_string_equal(tms_engine_screen_status(env->eng), "held");
    assert_int_equal(submit_one(env, "t3", "7000", why, sizeof why), TMS_OK);
    tu_env_free(env);
}

/* The last seq of env's log (its engine closed). */
static uint64_t log_end(tu_env *env)
{
    char logdir[4300], why[300];
    uint64_t seq = 0;
    snprintf(logdir, sizeof logdir, "%s/log", env->dir);
    if (tms_log_end(logdir, &seq, why, sizeof why) != TMS_OK)
        fail_msg("log end: %s", why);
    return seq;
}

/* DIR/witness (how far a writer once saw the log go): seq, and the log's chain head there or another. */
static void write_witness(tu_env *env, uint64_t seq, int right_head)
{
    char path[4300], text[200], hex[65];
    uint8_t head[32];
    memset(head, 0x5a, sizeof head);
    if (right_head) {
        tms_log_iter *it = NULL;
        tms_log_report rep;
        tms_log_record lr;
        int has = 0;
        snprintf(path, sizeof path, "%s/log", env->dir);
        assert_int_equal(tms_log_iter_open(path, seq, &it, &rep), TMS_OK);
        assert_int_equal(tms_log_iter_next(it, &lr, &has), TMS_OK);
        assert_true(has && lr.seq == seq);
        memcpy(head, lr.hash, sizeof head);
        tms_log_iter_close(it);
    }
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", head[i]);
    int n = snprintf(text, sizeof text, "tmsperm-witness 1\nseq %llu\nhead %s\n", (unsigned long long)seq, hex);
    snprintf(path, sizeof path, "%s/witness", env->dir);
    assert_int_equal(tu_write_file(path, text, (size_t)n), 0);
}

/* A witness the log contradicts (past the log; at its last seq or behind it with a chain head the log does
 * not have there: a log cut or rewritten) is refused by the open itself, before any lookup, fold put off or
 * not: were the fold put off regardless, tmsd would answer lookups from a rewritten log's projection and
 * stop only at its first write. The log's own head behind it: no loss, the open goes on. */
static void test_a_loss_is_refused_by_the_open(void **state)
{
    (void)state;
    char why[700];
    tms_engine_options o = {.defer_screen = 1, .defer_fold = fold_after};
    static const int cases[3][2] = {{3, 0}, {0, 0}, {-2, 0}};   /* seq from the last, right head */
    for (int k = 0; k < 3; k++) {
        tu_env *env = level_directory(TENANTS, 2, 0);
        uint64_t last = log_end(env);
        write_witness(env, last + (uint64_t)(int64_t)cases[k][0], cases[k][1]);
        assert_int_equal(tms_engine_open(env->dir, &o, &env->eng, why, sizeof why), TMS_E_CORRUPT);
        if (!strstr(why, "missing from the log"))
            fail_msg("witness at last%+d: %s", cases[k][0], why);
        assert_null(env->eng);
        write_witness(env, last - 2, 1);   /* the log's own head there */
        assert_int_equal(tms_engine_open(env->dir, &o, &env->eng, why, sizeof why), TMS_OK);
        assert_int_equal(submit_one(env, "t0", "7000", why, sizeof why), TMS_OK);
        tu_env_free(env);
    }
}

static int fold_too(void **state)
{
    (void)state;
    fold_after = 1;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_level_projection_is_screened_after_the_open),
        cmocka_unit_test(test_damage_found_after_the_open_stops_the_writer),
        cmocka_unit_test(test_a_fault_found_after_the_open_sets_the_projection_aside),
        cmocka_unit_test(test_a_writer_that_died_before_its_screen_screens_first),
        cmocka_unit_test(test_an_open_that_writes_screens_first),
        cmocka_unit_test(test_a_close_before_any_write_judges_the_screen),
        cmocka_unit_test(test_a_projection_the_open_rebuilds_is_screened_first),
        cmocka_unit_test(test_an_open_that_would_write_first_is_made_again_screening_first),
        cmocka_unit_test(test_lookups_answer_before_the_tail_is_folded),
        cmocka_unit_test(test_a_loss_is_refused_by_the_open),
    };
    int failed = cmocka_run_group_tests_name("the screen put off", tests, NULL, NULL);
    return failed + cmocka_run_group_tests_name("the screen and the tail's fold put off", tests, fold_too, NULL);
}
