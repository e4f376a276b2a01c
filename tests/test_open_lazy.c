/* test_open_lazy.c -- an open from a snapshot decodes a tenant when it is
 * first used (engine_lazy.c): the rules see every tenant that exists, a
 * snapshot written meanwhile is the whole state's byte for byte, and a
 * tenant's part that does not decode is never copied on or trusted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <msgpack.h>
#include "cmd.h"
#include "replay.h"
#include "snapshot.h"
#include "snapshots.h"
#include "store.h"
#include "testutil.h"

static void reopen(tu_env *env)
{
    char why[512];
    tms_engine_close(env->eng);
    env->eng = NULL;
    if (tms_engine_open(env->dir, NULL, &env->eng, why, sizeof why) != TMS_OK)
        fail_msg("open: %s", why);
}

static void populate(tu_env *env, const char *t, int n)
{
    ACC("{'cmd':'CreateTenant','tenant':'%s','actor':'system','admin':'admin'}", t);
    for (int i = 0; i < n; i++)
        ACC("{'cmd':'CreateExtension','tenant':'%s','actor':'admin','id':'%d','request_id':'r%s%d'}", t, 1000 + i, t,
            i);
}

/* The snapshot file of seq is what a fold of the log to seq encodes, byte for byte, with that state's
 * projection digest. */
static void check_snapshot(tu_env *env, uint64_t seq)
{
    char why[512], logdir[4200];
    tms_snapshot_meta m;
    uint8_t *payload = NULL, pd[32];
    size_t len;
    msgpack_sbuffer sb;
    tms_replay_opts o = {0};
    tms_replay_result res;
    if (tms_snapshot_read(env->dir, seq, &m, &payload, &len, why, sizeof why) != TMS_OK)
        fail_msg("read %llu: %s", (unsigned long long)seq, why);
    tms_state *s = tms_state_new();
    o.to_seq = seq;
    assert_int_equal(tms_fold(s, tms_data_path(logdir, sizeof logdir, env->dir, "log"), &o, &res), TMS_OK);
    msgpack_sbuffer_init(&sb);
    assert_int_equal(tms_state_snapshot_encode(s, &sb), TMS_OK);
    assert_int_equal(sb.size, len);
    assert_memory_equal(sb.data, payload, len);
    assert_int_equal(tms_state_projection_digest(s, 0, NULL, pd), TMS_OK);
    assert_memory_equal(pd, m.proj_digest, 32);
    msgpack_sbuffer_destroy(&sb);
    tms_state_free(s);
    free(payload);
}

static int snapshot_is(tu_env *env, uint64_t seq, const char *suffix)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/snapshots/%020llu.snap%s", env->dir, (unsigned long long)seq, suffix);
    return access(path, F_OK) == 0;
}

static void test_tenants_decoded_on_first_use(void **state)
{
    (void)state;
    tu_env *env = tu_env_new();
    populate(env, "aaa", 30);
    populate(env, "bbb", 30);
    populate(env, "ccc", 30);
    reopen(env);   /* the close wrote the snapshot the open starts from */
    assert_int_equal(tms_engine_tenants_pending(env->eng), 3);
    assert_string_equal(tms_engine_open_report(env->eng), "");
    /* the rules see a tenant not decoded yet: it exists, and its request ids are known */
    REJ(TMS_TENANT_EXISTS, "{'cmd':'CreateTenant','tenant':'bbb','actor':'system','admin':'x'}");
    uint64_t before = tms_engine_last_seq(env->eng);
    ACC("{'cmd':'CreateExtension','tenant':'ccc','actor':'admin','id':'1000','request_id':'rccc0'}");
    assert_int_equal(tms_engine_last_seq(env->eng), before);   /* a repeat: nothing appended */
    assert_int_equal(tms_engine_tenants_pending(env->eng), 1);
    populate(env, "ddd", 3);   /* a tenant the snapshot does not have */
    assert_int_equal(tms_engine_tenants_pending(env->eng), 1);   /* aaa */
    uint64_t last = tms_engine_last_seq(env->eng);
    reopen(env);   /* composed: aaa's part copied */
    check_snapshot(env, last);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), last);
    assert_string_equal(tms_engine_open_report(env->eng), "");
    assert_int_equal(tms_engine_tenants_pending(env->eng), 4);
    ACC("{'cmd':'CreateExtension','tenant':'aaa','actor':'admin','id':'5001'}");
    check_snapshot(env, tu_fork_snapshot(env));   /* the running snapshot's child composes too */
    assert_non_null(tms_engine_state(env->eng));
    assert_int_equal(tms_engine_tenants_pending(env->eng), 0);
    tu_env_free(env);
}

/* A crash after the snapshot: the projection ahead of it, compared by tenant; the snapshot written next is
 * composed with the untouched tenants' projection digests from that compare. */
static void test_composed_after_a_crash(void **state)
{
    (void)state;
    char path[4300];
    tu_env *env = tu_env_new();
    for (int k = 0; k < 20; k++) {
        char t[8];
        snprintf(t, sizeof t, "t%02d", k);
        populate(env, t, 10);
    }
    reopen(env);
    uint64_t s0 = tms_engine_snapshot_seq(env->eng);
    for (int i = 0; i < 5; i++)
        ACC("{'cmd':'CreateExtension','tenant':'t03','actor':'admin','id':'%d'}", 7000 + i);
    uint64_t last = tms_engine_last_seq(env->eng);
    reopen(env);
    snprintf(path, sizeof path, "%s/snapshots/%020llu.snap", env->dir, (unsigned long long)last);
    tms_engine_close(env->eng);
    env->eng = NULL;
    assert_int_equal(unlink(path), 0);   /* as if it had crashed before the close's snapshot */
    reopen(env);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), s0);
    assert_int_equal(tms_engine_tenants_compared(env->eng), 1);
    assert_int_equal(tms_engine_tenants_pending(env->eng), 19);
    ACC("{'cmd':'CreateExtension','tenant':'t07','actor':'admin','id':'7100'}");
    last = tms_engine_last_seq(env->eng);
    reopen(env);
    check_snapshot(env, last);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), last);
    assert_string_equal(tms_engine_open_report(env->eng), "");
    tu_env_free(env);
}

/* Tenant's part of the snapshot of seq made one that does not decode (a reference to an extension that is
 * not there), the file's hashes, digest and CRC recomputed: as a writer's bug would write it. */
static void spoil_part(tu_env *env, uint64_t seq, const char *tenant)
{
    char why[512], path[4300];
    tms_snapshot_meta m;
    uint8_t *payload = NULL;
    size_t len;
    tms_snapshot_index ix;
    tms_state *s = NULL;
    if (tms_snapshot_read_index(env->dir, seq, &m, &payload, &len, &ix, why, sizeof why) != TMS_OK)
        fail_msg("read: %s", why);
    const tms_snapshot_section *t = tms_snapshot_index_find(&ix, tenant);
    assert_non_null(t);
    uint8_t *p = payload + t->off, *at = memmem(p, t->len, "1001", 4);
    assert_non_null(at);
    memcpy(at, "1000", 4);
    assert_int_equal(tms_state_snapshot_decode(payload, len, &s, why, sizeof why), TMS_E_CORRUPT);
    snprintf(path, sizeof path, "%s/snapshots/%020llu.snap", env->dir, (unsigned long long)seq);
    assert_int_equal(unlink(path), 0);
    if (tms_snapshot_write_paced(env->dir, &m, payload, len, 0, why, sizeof why) != TMS_OK)
        fail_msg("write: %s", why);
    tms_snapshot_index_free(&ix);
    free(payload);
}

static tms_err submit_raw(tu_env *env, const char *json, char *why, size_t whylen)
{
    tms_cmd cmd;
    tms_cmd_init(&cmd);
    assert_int_equal(tms_cmd_from_json(&cmd, json, strlen(json), why, whylen), TMS_OK);
    tms_submission sub = {.cmd = &cmd};
    tms_err err = tms_engine_submit(env->eng, &sub, 1, why, whylen);
    tms_cmd_free(&cmd);
    return err;
}

static void test_a_part_that_does_not_decode_is_never_copied_on(void **state)
{
    (void)state;
    char why[600];
    tu_env *env = tu_env_new();
    populate(env, "aaa", 5);
    populate(env, "bbb", 5);
    populate(env, "ccc", 5);
    uint64_t s1 = tms_engine_last_seq(env->eng);
    tms_engine_close(env->eng);
    env->eng = NULL;
    spoil_part(env, s1, "bbb");
    reopen(env);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), s1);
    assert_int_equal(tms_engine_tenants_pending(env->eng), 3);
    ACC("{'cmd':'CreateExtension','tenant':'aaa','actor':'admin','id':'5000'}");
    uint64_t s2 = tu_fork_snapshot(env);   /* it copies bbb's part as it is */
    assert_true(snapshot_is(env, s2, ""));
    const char *bbb = "{\"cmd\":\"CreateExtension\",\"tenant\":\"bbb\",\"actor\":\"admin\",\"id\":\"6000\"}";
    assert_int_equal(submit_raw(env, bbb, why, sizeof why), TMS_E_CORRUPT);
    assert_non_null(strstr(why, "set aside"));
    assert_true(snapshot_is(env, s1, ".bad"));   /* the one it started from, and the one that copied the part */
    assert_true(snapshot_is(env, s2, ".bad"));
    assert_false(snapshot_is(env, s2, ""));
    const char *aaa = "{\"cmd\":\"CreateExtension\",\"tenant\":\"aaa\",\"actor\":\"admin\",\"id\":\"6001\"}";
    assert_int_equal(submit_raw(env, aaa, why, sizeof why), TMS_E_FAILED);   /* no more writes */
    assert_non_null(strstr(why, "restart"));
    reopen(env);   /* the whole log folded */
    assert_int_equal(tms_engine_snapshot_seq(env->eng), 0);
    assert_int_equal(submit_raw(env, bbb, why, sizeof why), TMS_OK);
    tu_env_free(env);
}

/* The tail after the snapshot names the tenant whose part does not decode: decoded ahead of the fold, it
 * refuses the snapshot, which is set aside, and the whole log is folded. The same when the fold is put off
 * until after the open (tmsd's defer_screen and defer_fold: the projection is level with the log): the open
 * says the snapshot it will start from; the first finish finds it refused, sets it aside, folds the whole
 * log, and says so in the open's report; the projection is judged against that fold, and writes go on. */
static void test_a_part_that_does_not_decode_in_the_tail_is_set_aside(void **state)
{
    (void)state;
    for (int after = 0; after < 2; after++) {
        char path[4300], why[700];
        tu_env *env = tu_env_new();
        populate(env, "aaa", 5);
        populate(env, "bbb", 5);
        uint64_t s1 = tms_engine_last_seq(env->eng);
        reopen(env);
        ACC("{'cmd':'CreateExtension','tenant':'bbb','actor':'admin','id':'7000'}");
        uint64_t last = tms_engine_last_seq(env->eng);
        tms_engine_close(env->eng);
        env->eng = NULL;
        snprintf(path, sizeof path, "%s/snapshots/%020llu.snap", env->dir, (unsigned long long)last);
        assert_int_equal(unlink(path), 0);   /* s1 the newest, a tail naming bbb after it */
        spoil_part(env, s1, "bbb");
        tms_engine_options o = {.defer_screen = 1, .defer_fold = 1};
        if (tms_engine_open(env->dir, after ? &o : NULL, &env->eng, why, sizeof why) != TMS_OK)
            fail_msg("open: %s", why);
        if (after) {
            assert_int_equal(tms_engine_fold_pending(env->eng), 1);
            assert_int_equal(tms_engine_snapshot_seq(env->eng), s1);   /* the one it will start from */
            assert_string_equal(tms_engine_open_report(env->eng), "");
            assert_int_equal(tms_engine_screen_finish(env->eng, why, sizeof why), TMS_OK);
        }
        assert_int_equal(tms_engine_snapshot_seq(env->eng), 0);
        assert_non_null(strstr(tms_engine_open_report(env->eng), "set aside"));
        assert_true(snapshot_is(env, s1, ".bad"));
        tu_assert_state_is_the_logs(env);
        ACC("{'cmd':'CreateExtension','tenant':'bbb','actor':'admin','id':'7001'}");
        tu_env_free(env);
    }
}

/* The same decoded by the fold itself: the projection is behind the newest snapshot (restored from a copy),
 * so the open starts from the older one without the second thread's decode ahead; the fold's first record
 * of the tenant finds its part bad (level_before), and the open sets the snapshot aside and folds the whole
 * log. */
static void test_a_part_that_does_not_decode_in_the_fold_is_set_aside(void **state)
{
    (void)state;
    char cmd[9000];
    tu_env *env = tu_env_new();
    populate(env, "aaa", 5);
    populate(env, "bbb", 5);
    uint64_t s1 = tms_engine_last_seq(env->eng);
    tms_engine_close(env->eng);
    env->eng = NULL;
    snprintf(cmd, sizeof cmd, "cp -a '%s/proj' '%s/proj.s1'", env->dir, env->dir);
    assert_int_equal(system(cmd), 0);   /* the projection at s1, clean */
    reopen(env);
    ACC("{'cmd':'CreateExtension','tenant':'bbb','actor':'admin','id':'7000'}");
    uint64_t s2 = tms_engine_last_seq(env->eng);
    tms_engine_close(env->eng);   /* the snapshot of s2 */
    env->eng = NULL;
    assert_true(snapshot_is(env, s2, ""));
    snprintf(cmd, sizeof cmd, "rm -rf '%s/proj' && mv '%s/proj.s1' '%s/proj'", env->dir, env->dir, env->dir);
    assert_int_equal(system(cmd), 0);
    spoil_part(env, s1, "bbb");
    reopen(env);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), 0);
    const char *report = tms_engine_open_report(env->eng);
    assert_non_null(strstr(report, "that the open started from"));   /* the fold's load said why (level_before) */
    assert_non_null(strstr(report, "does not replay"));
    assert_true(snapshot_is(env, s1, ".bad"));
    tu_assert_state_is_the_logs(env);
    ACC("{'cmd':'CreateExtension','tenant':'bbb','actor':'admin','id':'7001'}");
    tu_env_free(env);
}

/* A projection to rebuild: the snapshot's thread, planning and decoding the tail's tenants, is stopped and
 * its work dropped; the whole log is folded. */
static void test_a_preload_not_taken_is_stopped(void **state)
{
    (void)state;
    char path[4300];
    tu_env *env = tu_env_new();
    for (int k = 0; k < 8; k++) {
        char t[8];
        snprintf(t, sizeof t, "t%02d", k);
        populate(env, t, 20);
    }
    reopen(env);
    for (int k = 0; k < 8; k++)
        ACC("{'cmd':'CreateExtension','tenant':'t%02d','actor':'admin','id':'9000'}", k);
    uint64_t last = tms_engine_last_seq(env->eng);
    tms_engine_close(env->eng);
    env->eng = NULL;
    snprintf(path, sizeof path, "%s/snapshots/%020llu.snap", env->dir, (unsigned long long)last);
    assert_int_equal(unlink(path), 0);   /* the tail over every tenant after the newest snapshot */
    snprintf(path, sizeof path, "%s/proj", env->dir);
    tu_rmtree(path);
    reopen(env);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), 0);
    assert_int_equal(tms_engine_tenants_pending(env->eng), 0);
    tu_assert_state_is_the_logs(env);
    ACC("{'cmd':'CreateExtension','tenant':'t05','actor':'admin','id':'9001'}");
    tu_env_free(env);
}

static void test_load_tenant_refuses_a_tenant_there(void **state)
{
    (void)state;
    char why[300];
    msgpack_sbuffer sb;
    tms_snapshot_index ix;
    tms_state *st = NULL;
    tu_env *env = tu_env_new();
    populate(env, "aaa", 3);
    msgpack_sbuffer_init(&sb);
    assert_int_equal(tms_state_snapshot_encode(tms_engine_state(env->eng), &sb), TMS_OK);
    assert_int_equal(tms_state_snapshot_index(sb.data, sb.size, &ix, why, sizeof why), TMS_OK);
    tms_snapshot_index_hash(sb.data, &ix);
    assert_int_equal(tms_state_snapshot_decode_parts(sb.data, sb.size, &ix, NULL, 0, &st, why, sizeof why), TMS_OK);
    assert_null(tms_state_tenant(st, "aaa"));
    assert_int_equal(tms_state_snapshot_load_tenant(st, sb.data, sb.size, &ix.tenants[0], why, sizeof why), TMS_OK);
    assert_non_null(tms_state_tenant(st, "aaa"));
    assert_int_equal(tms_state_snapshot_load_tenant(st, sb.data, sb.size, &ix.tenants[0], why, sizeof why),
                     TMS_E_INVAL);
    msgpack_sbuffer enc;
    msgpack_sbuffer_init(&enc);
    assert_int_equal(tms_state_snapshot_encode(st, &enc), TMS_OK);   /* the same state as the whole decode's */
    assert_int_equal(enc.size, sb.size);
    assert_memory_equal(enc.data, sb.data, sb.size);
    msgpack_sbuffer_destroy(&enc);
    tms_state_free(st);
    tms_snapshot_index_free(&ix);
    msgpack_sbuffer_destroy(&sb);
    tu_env_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenants_decoded_on_first_use),
        cmocka_unit_test(test_composed_after_a_crash),
        cmocka_unit_test(test_a_part_that_does_not_decode_is_never_copied_on),
        cmocka_unit_test(test_a_part_that_does_not_decode_in_the_tail_is_set_aside),
        cmocka_unit_test(test_a_part_that_does_not_decode_in_the_fold_is_set_aside),
        cmocka_unit_test(test_a_preload_not_taken_is_stopped),
        cmocka_unit_test(test_load_tenant_refuses_a_tenant_there),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
