/* test_open_own_snapshot.c -- the snapshot an open takes of its own state
 * when it folded a snapshot's worth of records (engine_snapshot.c,
 * tms__snapshot_open_start; docs/design.md "When", (3)), at its edges: not
 * while the projection's screen is put off (the close writes it once the
 * screen held), nothing from an open that was stopped, and another
 * version's snapshot of the same seq replaced, never set aside as damaged.
 * (Its content against the state: test_open_snapshot.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "testutil.h"
#include "snapshots.h"

#define TENANTS 6

static void create_tenant(tu_env *env, int t)
{
    ACC("{'cmd':'CreateTenant','tenant':'t%d','actor':'system','admin':'admin'}", t);
    for (int x = 0; x < 5; x++)
        ACC("{'cmd':'CreateExtension','tenant':'t%d','actor':'admin','id':'%d'}", t, 1000 + x);
}

static int snap_exists(tu_env *env, uint64_t seq, const char *suffix)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/snapshots/%020llu.snap%s", env->dir, (unsigned long long)seq, suffix);
    return access(path, F_OK) == 0;
}

/* TENANTS tenants, a snapshot, then a record in every tenant (the open decodes them all); closed, and the close's
 * snapshot of the end removed (as if it had not been written): the projection level, its writer's evidence
 * trusting it. *last: the log's last seq. */
static tu_env *every_tenant_after_a_snapshot(uint64_t *last)
{
    tu_env *env = tu_env_new();
    char path[4300];
    for (int t = 0; t < TENANTS; t++)
        create_tenant(env, t);
    tu_fork_snapshot(env);
    for (int t = 0; t < TENANTS; t++)
        ACC("{'cmd':'SetPermissions','tenant':'t%d','actor':'admin','kind':'extension','id':'1000','enable':"
            "['calls.international'],'disable':[]}", t);
    *last = tms_engine_last_seq(env->eng);
    tms_engine_close(env->eng);
    env->eng = NULL;
    snprintf(path, sizeof path, "%s/snapshots/%020llu.snap", env->dir, (unsigned long long)*last);
    assert_int_equal(unlink(path), 0);
    return env;
}

/* The screen put off (tmsd's open): no snapshot of the open's own while the projection is not judged, as the
 * close's and the running one's; damage found by the judgement: still none. Held: the close writes it. */
static void test_not_while_the_screen_is_put_off(void **state)
{
    (void)state;
    char why[700];
    tms_engine_options o = {.defer_screen = 1};
    for (int damaged = 0; damaged < 2; damaged++) {
        uint64_t last;
        tu_env *env = every_tenant_after_a_snapshot(&last);
        if (damaged)
            tu_damage_1001(env, "t4", "t4", 1);
        if (tms_engine_open(env->dir, &o, &env->eng, why, sizeof why) != TMS_OK)
            fail_msg("open: %s", why);
        assert_true(tms_engine_screen_pending(env->eng));
        assert_false(snap_exists(env, last, ""));
        assert_int_equal(tms_engine_screen_finish(env->eng, why, sizeof why), damaged ? TMS_E_CORRUPT : TMS_OK);
        assert_false(snap_exists(env, last, ""));
        tms_engine_close(env->eng);
        env->eng = NULL;
        assert_true(snap_exists(env, last, "") == !damaged);
        assert_false(snap_exists(env, last, ".bad"));
        tu_env_free(env);
    }
}

/* tmsd's open (no_open_snapshot) takes none, even after a whole fold: a running snapshot or its clean stop
 * does, off the open's path (a whole fold at 5M reached "started" 2.6 s later with it); the close writes it. */
static void test_not_when_the_writer_says_so(void **state)
{
    (void)state;
    char why[700], path[4300];
    uint64_t last;
    tu_env *env = every_tenant_after_a_snapshot(&last);
    snprintf(path, sizeof path, "%s/snapshots", env->dir);
    tu_rmtree(path);   /* the whole log folded */
    tms_engine_options o = {.no_open_snapshot = 1};
    if (tms_engine_open(env->dir, &o, &env->eng, why, sizeof why) != TMS_OK)
        fail_msg("open: %s", why);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), 0);
    assert_false(snap_exists(env, last, ""));
    tms_engine_close(env->eng);
    env->eng = NULL;
    assert_true(snap_exists(env, last, ""));
    tu_env_free(env);
}

typedef struct stopper {
    const char *phase;
    int seen;
} stopper;

static int stop_at(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    stopper *s = ctx;
    (void)done;
    (void)total;
    s->seen |= !strcmp(phase, s->phase);
    return !strcmp(phase, s->phase);
}

/* An open stopped after its snapshot's thread started (at the projection's rebuild, or at the tree): joined,
 * nothing written; the next open takes it. */
static void test_a_stopped_open_writes_none(void **state)
{
    (void)state;
    static const char *phases[] = {"rebuild", "tree"};
    for (int k = 0; k < 2; k++) {
        char why[700], path[4300];
        uint64_t last;
        tu_env *env = every_tenant_after_a_snapshot(&last);
        snprintf(path, sizeof path, "%s/snapshots", env->dir);
        tu_rmtree(path);   /* the whole log folded */
        if (k == 0) {
            snprintf(path, sizeof path, "%s/proj", env->dir);
            tu_rmtree(path);   /* and the projection rebuilt */
        }
        stopper s = {phases[k], 0};
        tms_engine_options o = {.progress = stop_at, .progress_ctx = &s};
        tms_engine *eng = NULL;
        assert_int_not_equal(tms_engine_open(env->dir, &o, &eng, why, sizeof why), TMS_OK);
        assert_true(s.seen);
        assert_false(snap_exists(env, last, ""));
        tu_env_reopen(env);
        assert_true(snap_exists(env, last, ""));
        tu_env_free(env);
    }
}

/* Another build's snapshot of the log's last seq (an upgrade, the log ending at it): not used; the open folds from
 * an older one of this build and its own snapshot replaces the other build's, which is not set aside (.bad:
 * damage), at the open or at the close. */
static void test_another_versions_snapshot_is_replaced(void **state)
{
    (void)state;
    char why[512], path[4300];
    tms_snapshot_meta m;
    uint8_t *payload;
    size_t len;
    uint64_t last;
    tu_env *env = every_tenant_after_a_snapshot(&last);
    tu_env_reopen(env);   /* its own snapshot of last (it folded the tail) */
    tms_engine_close(env->eng);
    env->eng = NULL;
    assert_int_equal(tms_snapshot_read(env->dir, last, &m, &payload, &len, why, sizeof why), TMS_OK);
    snprintf(m.build, sizeof m.build, "0.0.0-older");
    snprintf(path, sizeof path, "%s/snapshots/%020llu.snap", env->dir, (unsigned long long)last);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(tms_snapshot_write_paced(env->dir, &m, payload, len, 0, why, sizeof why), TMS_OK);
    free(payload);
    tu_env_reopen(env);
    assert_true(tms_engine_snapshot_seq(env->eng) < last);   /* not used: the older one of this build was */
    assert_int_equal(tms_snapshot_meta_read(env->dir, last, &m), TMS_OK);
    assert_string_not_equal(m.build, "0.0.0-older");   /* replaced by the open's own */
    tms_engine_close(env->eng);
    env->eng = NULL;
    assert_false(snap_exists(env, last, ".bad"));
    tu_env_reopen(env);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), last);
    tu_env_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_while_the_screen_is_put_off),
        cmocka_unit_test(test_not_when_the_writer_says_so),
        cmocka_unit_test(test_a_stopped_open_writes_none),
        cmocka_unit_test(test_another_versions_snapshot_is_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
