/* test_open_compare.c -- after a crash that left the projection ahead of
 * the newest snapshot, the open compares it with the log's state tenant by
 * tenant (projection_compare.c): only the tenants the records after the
 * snapshot touched are rendered; every other one must be, digest for
 * digest, the snapshot's. Damage to an untouched tenant, to a touched one,
 * or an entry of a tenant that does not exist is found (the projection is
 * rebuilt, the snapshot set aside as the whole-state compare does); an
 * undamaged projection is kept; too many tenants touched, and the whole
 * state is compared instead. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "testutil.h"

#define TENANTS 6

static void create_tenant(tu_env *env, int t)
{
    ACC("{'cmd':'CreateTenant','tenant':'t%d','actor':'system','admin':'admin'}", t);
    for (int x = 0; x < 5; x++)
        ACC("{'cmd':'CreateExtension','tenant':'t%d','actor':'admin','id':'%d'}", t, 1000 + x);
}


/* `tenants` tenants, a snapshot S, then records for tenants t1..t`touched` (t0 untouched always); closed, the
 * snapshot of the end removed (as if the writer had died before writing it): the projection is ahead of S. */
static tu_env *ahead_of_snapshot(int tenants, int touched, uint64_t *s)
{
    tu_env *env = tu_env_new();
    char path[4300];
    for (int t = 0; t < tenants; t++)
        create_tenant(env, t);
    *s = tu_fork_snapshot(env);
    for (int t = 1; t <= touched; t++) {
        ACC("{'cmd':'CreateExtension','tenant':'t%d','actor':'admin','id':'2000'}", t);
        ACC("{'cmd':'SetPermissions','tenant':'t%d','actor':'admin','kind':'extension','id':'1000','enable':"
           "['calls.international'],'disable':[]}", t);
    }
    uint64_t last = tms_engine_last_seq(env->eng);
    tms_engine_close(env->eng);
    env->eng = NULL;
    snprintf(path, sizeof path, "%s/snapshots/%020llu.snap", env->dir, (unsigned long long)last);
    unlink(path);   /* a clean close wrote it; absent, the newest is S */
    return env;
}

/* The projection written behind the engine's back: extension 1001 of tenant t changed (or, put, created in a
 * tenant the state does not have). */
static void damage(tu_env *env, const char *tenant, int create)
{
    tu_damage_1001(env, "t0", tenant, !create);
}

static void reopen(tu_env *env)
{
    char why[512];
    if (tms_engine_open(env->dir, NULL, &env->eng, why, sizeof why) != TMS_OK)
        fail_msg("open: %s", why);
}

static void test_an_undamaged_projection_is_kept_comparing_the_touched_tenants_only(void **state)
{
    (void)state;
    uint64_t s;
    tu_env *env = ahead_of_snapshot(TENANTS, 2, &s);
    reopen(env);
    assert_string_equal(tms_engine_open_report(env->eng), "");
    assert_int_equal(tms_engine_snapshot_seq(env->eng), s);
    assert_int_equal(tms_engine_tenants_compared(env->eng), 2);
    tu_env_free(env);
}

/* Damage in tenant `where`: found, reported, the projection rebuilt from the log. */
static void found(int tenants, int touched, const char *where, int create)
{
    uint64_t s;
    tu_env *env = ahead_of_snapshot(tenants, touched, &s);
    damage(env, where, create);
    reopen(env);
    const char *report = tms_engine_open_report(env->eng);
    if (!strstr(report, "does not give the projection's digest") || !strstr(report, "differs from the log's"))
        fail_msg("damage in %s (%d touched) not found: \"%s\"", where, touched, report);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), 0);   /* the whole log folded */
    tms_store *st = tms_engine_store(env->eng);
    tms_txn *tx;
    tms_account_rec a, b;
    assert_int_equal(tms_txn_begin(st, 0, &tx), TMS_OK);
    assert_int_equal(tms_account_get(tx, "t0", 'e', "1001", &a), TMS_OK);
    assert_int_equal(tms_account_get(tx, "t3", 'e', "1001", &b), TMS_OK);
    assert_int_equal(a.perms, b.perms);   /* the flip undone: every tenant's 1001 was made alike */
    assert_int_equal(tms_account_get(tx, "zz", 'e', "1001", &a), TMS_NOT_FOUND);
    tms_txn_abort(tx);
    tu_env_free(env);
}

static void test_damage_in_an_untouched_tenant_is_found(void **state)
{
    (void)state;
    found(TENANTS, 2, "t0", 0);
    found(TENANTS, 2, "t5", 0);
}

static void test_damage_in_a_touched_tenant_is_found(void **state)
{
    (void)state;
    found(TENANTS, 2, "t1", 0);
    found(TENANTS, 2, "t2", 0);
}

static void test_an_entry_of_no_tenant_is_found(void **state)
{
    (void)state;
    found(TENANTS, 2, "zz", 1);
    found(TENANTS, 2, "a", 1);   /* before every tenant */
}

/* More tenants touched than eight or half the snapshot's, whichever is more: the whole state is compared (as
 * costly as rendering the touched twice), known from the tail's frames before any tenant is digested at the
 * snapshot's seq; and damage is still found. */
static void test_many_tenants_touched_compare_the_whole_state(void **state)
{
    (void)state;
    uint64_t s;
    tu_env *env = ahead_of_snapshot(20, 11, &s);   /* 11 > 20 / 2 */
    reopen(env);
    assert_string_equal(tms_engine_open_report(env->eng), "");
    assert_int_equal(tms_engine_snapshot_seq(env->eng), s);
    assert_int_equal(tms_engine_tenants_compared(env->eng), 0);
    assert_int_equal(tms_engine_tenants_digested(env->eng), 0);   /* not 10 digested for nothing */
    tu_env_free(env);
    env = ahead_of_snapshot(20, 10, &s);   /* 10: within */
    reopen(env);
    assert_int_equal(tms_engine_tenants_compared(env->eng), 10);
    assert_int_equal(tms_engine_tenants_digested(env->eng), 10);
    tu_env_free(env);
    found(20, 11, "t15", 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_undamaged_projection_is_kept_comparing_the_touched_tenants_only),
        cmocka_unit_test(test_damage_in_an_untouched_tenant_is_found),
        cmocka_unit_test(test_damage_in_a_touched_tenant_is_found),
        cmocka_unit_test(test_an_entry_of_no_tenant_is_found),
        cmocka_unit_test(test_many_tenants_touched_compare_the_whole_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
