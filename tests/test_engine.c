/* test_engine.c -- the engine around the rules: crash between the log
 * append and the projection commit, projections rebuilt when missing, ahead
 * or diverged, replay determinism, idempotency, the writer lock, group
 * commit, a full disk and a failed fsync, and a map that must grow; the
 * storage calls readers, tmsd and backups stand on (kept read
 * transactions, copies, walks). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "replay.h"
#include "testutil.h"

#define T "'tenant':'acme'"

/* ---- fault injection through the log's I/O hooks (test-only globals) ---- */
static int fail_write_errno, fail_fsync_errno, fsync_calls;

static ssize_t hook_write(int fd, const void *buf, size_t len)
{
    if (fail_write_errno) {
        errno = fail_write_errno;
        return -1;
    }
    return write(fd, buf, len);
}

static ssize_t hook_pwrite(int fd, const void *buf, size_t len, off_t off)   /* the log's frames */
{
    if (fail_write_errno) {
        errno = fail_write_errno;
        return -1;
    }
    return pwrite(fd, buf, len, off);
}

static int hook_fdatasync(int fd)
{
    fsync_calls++;
    if (fail_fsync_errno) {
        errno = fail_fsync_errno;
        return -1;
    }
    return fdatasync(fd);
}

static const tms_log_io hooks = {.write = hook_write, .fdatasync = hook_fdatasync, .pwrite = hook_pwrite};

static tu_env *env_with(const tms_engine_options *opt)
{
    tu_env *env = calloc(1, sizeof *env);
    char why[512];
    env->dir = tu_mkdtemp();
    if (tms_engine_open(env->dir, opt, &env->eng, why, sizeof why))
        fail_msg("open: %s", why);
    fail_write_errno = fail_fsync_errno = fsync_calls = 0;
    return env;
}

static void scratch_replay_digest(const char *dir, uint8_t out[32])
{
    char *scratch = tu_mkdtemp(), logdir[4200], why[256];
    tms_store *st;
    tms_replay_result res;
    tms_txn *tx;
    assert_int_equal(tms_store_open(scratch, TMS_STORE_SCRATCH, &st, why, sizeof why), TMS_OK);
    assert_int_equal(tms_replay(st, tms_data_path(logdir, sizeof logdir, dir, "log"), NULL, &res), TMS_OK);
    assert_int_equal(tms_txn_begin(st, 0, &tx), TMS_OK);
    assert_int_equal(tms_store_digest(tx, out), TMS_OK);
    tms_txn_abort(tx);
    tms_store_close(st);
    tu_rmtree(scratch);
    free(scratch);
}

static void test_log_crash_between_append_and_projection_commit_is_caught_up(void **state)
{
    (void)state;
    tms_engine_options opt = {0};
    opt.crash_after_log_sync = 1;
    tu_env *env = env_with(&opt);
    tms_cmd cmd;
    char why[512];
    tms_cmd_init(&cmd);
    const char *json = "{\"cmd\":\"CreateTenant\",\"tenant\":\"acme\",\"actor\":\"system\",\"admin\":\"admin\"}";
    assert_int_equal(tms_cmd_from_json(&cmd, json, strlen(json), why, sizeof why), TMS_OK);
    tms_submission s = {.cmd = &cmd};
    assert_int_not_equal(tms_engine_submit(env->eng, &s, 1, why, sizeof why), TMS_OK);
    tms_cmd_free(&cmd);
    /* the projection did not see it... */
    tms_txn *tx;
    uint64_t seq;
    uint8_t head[32];
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    assert_int_equal(tms_meta_get(tx, &seq, head), TMS_OK);
    tms_txn_abort(tx);
    assert_int_equal(seq, 0);
    /* ...but the log did, durably: reopening replays it */
    tu_env_reopen(env);
    assert_int_equal(tms_engine_last_seq(env->eng), 1);
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'1001'}");
    assert_int_equal(env->last_seq, 2);
    assert_true(tu_exists(env, 'e', "1001"));
    tu_env_free(env);
}

/* A missing projection is only a cache: rebuilt. One ahead of the log is
 * evidence that acknowledged records are gone (issue 8, item 1): the open is
 * refused naming the seqs, the evidence stays as it was, and only an
 * explicit acknowledgement, itself recorded in the log, opens it again. */
static void test_projection_missing_is_rebuilt_but_one_ahead_of_the_log_refuses_the_open(void **state)
{
    tu_env *env = *state, *other = tu_env_new();
    uint8_t before[32], after[32], fresh[32];
    char cmdline[9000], why[1024], proj[4200];
    tu_digest(env, before);
    /* missing: remove the projection, reopen, same digest */
    tms_engine_close(env->eng);
    env->eng = NULL;
    snprintf(cmdline, sizeof cmdline, "rm -rf '%s/proj'", env->dir);
    assert_int_equal(system(cmdline), 0);
    tu_env_reopen(env);
    tu_digest(env, after);
    assert_memory_equal(before, after, 32);
    /* ahead: other's log holds 2 records, give it env's projection (seq 12) */
    tu_submit(other, "{'cmd':'CreateTenant','tenant':'acme','actor':'system','admin':'admin'}");
    tu_submit(other, "{'cmd':'CreateExtension','tenant':'acme','actor':'admin','id':'1001'}");
    tms_engine_close(other->eng);
    other->eng = NULL;
    snprintf(cmdline, sizeof cmdline, "rm -rf '%s/proj' && cp -r '%s/proj' '%s/proj'", other->dir, env->dir, other->dir);
    assert_int_equal(system(cmdline), 0);
    snprintf(proj, sizeof proj, "%s/proj/data.mdb", other->dir);
    size_t n0, n1;
    uint8_t *p0 = tu_read_file(proj, &n0);
    assert_int_equal(tms_engine_open(other->dir, NULL, &other->eng, why, sizeof why), TMS_E_CORRUPT);
    assert_null(other->eng);
    assert_non_null(strstr(why, "records 3..12 are missing"));
    uint8_t *p1 = tu_read_file(proj, &n1);   /* the evidence is kept as it was */
    assert_int_equal(n0, n1);
    assert_memory_equal(p0, p1, n0);
    free(p0);
    free(p1);
    tms_engine_options opt = {0};
    opt.accept_loss = "restored from nothing: test";
    assert_int_equal(tms_engine_open(other->dir, &opt, &other->eng, why, sizeof why), TMS_OK);
    assert_int_equal(tms_engine_last_seq(other->eng), 3);   /* the acknowledgement is record 3 */
    assert_non_null(strstr(tms_engine_open_report(other->eng), "projection rebuilt from the log"));
    assert_true(tu_exists(other, 'e', "1001"));
    assert_false(tu_exists(other, 'm', "top"));
    tu_digest(other, after);
    scratch_replay_digest(other->dir, fresh);
    assert_memory_equal(after, fresh, 32);
    tu_env_reopen(other);   /* and it opens normally from now on */
    assert_int_equal(tu_submit(other, "{'cmd':'CreateExtension','tenant':'acme','actor':'admin','id':'1002'}"), TMS_OK);
    tu_env_free(other);
}

static void test_replaying_the_same_log_twice_gives_the_same_digest(void **state)
{
    tu_env *env = *state;
    uint8_t live[32], a[32], b[32];
    ACC("{'cmd':'CreateRole'," T ",'actor':'admin','role':'r','account_type':'extension','permissions':['reports.view']}");
    ACC("{'cmd':'AssignRole'," T ",'actor':'admin','role':'r','ids':['1001','1002']}");
    REJ(TMS_NOT_FOUND, "{'cmd':'AssignRole'," T ",'actor':'admin','role':'r','ids':['1009']}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'1001','enable':['calls.barge'],'disable':[]}");
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001','request_id':'idem-1'}");
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001','request_id':'idem-2'}");
    tu_digest(env, live);
    scratch_replay_digest(env->dir, a);
    scratch_replay_digest(env->dir, b);
    assert_memory_equal(a, b, 32);
    assert_memory_equal(a, live, 32);
}

static void test_request_id_repeat_returns_the_first_verdict_and_appends_nothing(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001','request_id':'r-1'}");
    uint64_t first = env->last_seq, last = tms_engine_last_seq(env->eng);
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001','request_id':'r-1'}");
    assert_int_equal(env->last_seq, first);
    assert_int_equal(tms_engine_last_seq(env->eng), last);
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001','request_id':'r-2'}");
    uint64_t rejected = env->last_seq;
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001','request_id':'r-2'}");
    assert_int_equal(env->last_seq, rejected);
    /* request ids are per tenant */
    ACC("{'cmd':'CreateTenant','tenant':'globex','actor':'system','admin':'boss','request_id':'r-1'}");
    assert_int_equal(env->last_seq, rejected + 1);
    /* and survive a restart */
    tu_env_reopen(env);
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001','request_id':'r-1'}");
    assert_int_equal(env->last_seq, first);
    /* issue 8, item 9: the same request id with another command, or another
     * actor, is refused (nothing appended, nothing changed); another origin
     * is still a retry */
    uint8_t before[32], after[32];
    tu_state_digest(env, before);
    last = tms_engine_last_seq(env->eng);
    REJ(TMS_REQUEST_ID_REUSED, "{'cmd':'DeleteExtension'," T ",'actor':'admin','id':'2001','request_id':'r-1'}");
    assert_non_null(strstr(env->last.message, "used by seq"));
    assert_int_equal(env->last_seq, first);
    REJ(TMS_REQUEST_ID_REUSED, "{'cmd':'CreateExtension'," T ",'actor':'top','id':'2001','request_id':'r-1'}");
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001','request_id':'r-1','origin':'10.0.0.9'}");
    assert_int_equal(env->last_seq, first);
    assert_int_equal(tms_engine_last_seq(env->eng), last);
    tu_state_digest(env, after);
    assert_memory_equal(before, after, 32);
    assert_true(tu_exists(env, 'e', "2001"));
}

static void test_a_second_writer_is_refused_naming_the_holder(void **state)
{
    tu_env *env = *state;
    tms_engine *second = NULL;
    char why[512], pid[32];
    assert_int_equal(tms_engine_open(env->dir, NULL, &second, why, sizeof why), TMS_E_LOCKED);
    assert_null(second);
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    assert_non_null(strstr(why, pid));
}

static tms_err submit_batch(tu_env *env, const char **jsons, size_t n, tms_submission *subs)
{
    tms_cmd cmds[16];
    char why[512];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        tms_cmd_init(&cmds[i]);
        assert_int_equal(tms_cmd_from_json(&cmds[i], jsons[i], strlen(jsons[i]), why, sizeof why), TMS_OK);
        subs[i] = (tms_submission){.cmd = &cmds[i]};
    }
    tms_err err = tms_engine_submit(env->eng, subs, n, why, sizeof why);
    for (size_t i = 0; i < n; i++)
        tms_cmd_free(&cmds[i]);
    return err;
}

static void test_group_commit_one_fsync_per_batch_and_rules_see_earlier_commands(void **state)
{
    (void)state;
    tms_engine_options opt = {0};
    opt.io = &hooks;
    tu_env *env = env_with(&opt);
    const char *batch[] = {
        "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1001\"}",
        "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1001\"}",
        "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1002\",\"request_id\":\"x\"}",
        "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1002\",\"request_id\":\"x\"}",
        ("{\"cmd\":\"SetPermissions\",\"tenant\":\"acme\",\"actor\":\"admin\",\"kind\":\"extension\",\"id\":\"1002\","
         "\"enable\":[\"reports.view\"],\"disable\":[]}"),
    };
    tms_submission subs[5];
    /* the first record creates the first segment (its own fsyncs); then one batch */
    ACC("{'cmd':'CreateTenant','tenant':'acme','actor':'system','admin':'admin'}");
    fsync_calls = 0;
    assert_int_equal(submit_batch(env, batch, 5, subs), TMS_OK);
    assert_int_equal(fsync_calls, 1);
    assert_int_equal(subs[0].verdict.code, TMS_OK);
    assert_int_equal(subs[1].verdict.code, TMS_ALREADY_EXISTS);   /* sees the command before it */
    assert_int_equal(subs[2].verdict.code, TMS_OK);
    assert_int_equal(subs[3].seq, subs[2].seq);   /* repeated inside the same batch */
    assert_true(subs[3].repeat);
    assert_int_equal(subs[4].verdict.code, TMS_OK);
    assert_int_equal(subs[0].seq, 2);
    assert_int_equal(subs[1].seq, 3);
    assert_int_equal(subs[2].seq, 4);
    assert_int_equal(subs[4].seq, 5);
    assert_int_equal(tms_engine_last_seq(env->eng), 5);
    assert_int_equal(tu_check(env, "acme", "extension", "1002", "reports.view"), 1);
    tu_env_free(env);
}

static void test_a_full_disk_refuses_the_batch_and_changes_nothing(void **state)
{
    (void)state;
    tms_engine_options opt = {0};
    opt.io = &hooks;
    tu_env *env = env_with(&opt);
    uint8_t before[32], after[32];
    tu_standard_tenant(env);
    tu_digest(env, before);
    uint64_t last = tms_engine_last_seq(env->eng);
    const char *one[] = {"{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"2001\"}"};
    tms_submission subs[1];
    fail_write_errno = ENOSPC;
    assert_int_equal(submit_batch(env, one, 1, subs), TMS_E_NOSPACE);
    fail_write_errno = 0;
    assert_int_equal(tms_engine_last_seq(env->eng), last);
    tu_digest(env, after);
    assert_memory_equal(before, after, 32);
    assert_false(tu_exists(env, 'e', "2001"));
    /* space is back: the same command goes through with the next seq */
    assert_int_equal(submit_batch(env, one, 1, subs), TMS_OK);
    assert_int_equal(subs[0].seq, last + 1);
    tu_env_free(env);
}

static void test_a_failed_fsync_stops_writes_until_restart(void **state)
{
    (void)state;
    tms_engine_options opt = {0};
    opt.io = &hooks;
    tu_env *env = env_with(&opt);
    tu_standard_tenant(env);
    const char *one[] = {"{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"2001\"}"};
    const char *two[] = {"{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"2002\"}"};
    tms_submission subs[1];
    fail_fsync_errno = EIO;
    assert_int_equal(submit_batch(env, one, 1, subs), TMS_E_FAILED);
    fail_fsync_errno = 0;
    assert_int_equal(submit_batch(env, two, 1, subs), TMS_E_FAILED);   /* no retry after fsync failure */
    assert_false(tu_exists(env, 'e', "2002"));
    tms_engine_close(env->eng);
    env->eng = NULL;
    tu_env_reopen(env);   /* a restart re-reads what the log really holds */
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2002'}");
    tu_env_free(env);
}

static void test_a_full_map_grows_instead_of_failing(void **state)
{
    (void)state;
    tms_engine_options opt = {0};
    opt.map_bytes = 64 * 1024;
    tu_env *env = env_with(&opt);
    tu_standard_tenant(env);
    for (int i = 0; i < 3000; i++)
        ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'x%05d'}", i);
    assert_true(tu_exists(env, 'e', "x02999"));
    tu_env_reopen(env);
    assert_true(tu_exists(env, 'e', "x02999"));
    tu_env_free(env);
}

/* A reader keeps its snapshot between checks only while nothing was
 * committed: every check sees every commit made before it. */
static void test_a_long_lived_reader_sees_every_commit(void **state)
{
    tu_env *env = *state;
    tms_reader *r;
    assert_int_equal(tms_reader_open(env->dir, &r), TMS_OK);
    assert_int_equal(tms_reader_check(r, "acme", "extension", "1001", "calls.barge"), 0);
    assert_int_equal(tms_reader_check(r, "acme", "extension", "1001", "calls.barge"), 0);
    for (int i = 0; i < 20; i++) {
        ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'1001','enable':['%s'],'disable':['%s']}",
            i % 2 ? "reports.view" : "calls.barge", i % 2 ? "calls.barge" : "reports.view");
        assert_int_equal(tms_reader_check(r, "acme", "extension", "1001", "calls.barge"), i % 2 == 0);
        assert_int_equal(tms_reader_check(r, "acme", "extension", "1001", "reports.view"), i % 2 == 1);
    }
    tms_reader_release(r);
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001'}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'2001','enable':['calls.barge'],'disable':[]}");
    assert_int_equal(tms_reader_check(r, "acme", "extension", "2001", "calls.barge"), 1);
    tms_reader_close(r);
}

/* What the embedded reader and tmsd build on (store.h): a read transaction
 * is the latest until a writer commits; reset and renew bring the same
 * handle to the new snapshot; renew refuses a transaction not reset; a
 * double reset and an abort of NULL do nothing. */
static void test_a_kept_read_transaction_is_latest_until_a_commit(void **state)
{
    tu_env *env = *state;
    tms_txn *tx;
    uint64_t seq, later;
    uint8_t head[32];
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    assert_true(tms_txn_is_latest(tx));
    assert_int_equal(tms_meta_get(tx, &seq, head), TMS_OK);
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001'}");
    assert_false(tms_txn_is_latest(tx));
    assert_int_equal(tms_meta_get(tx, &later, head), TMS_OK);
    assert_int_equal(later, seq);   /* still the old snapshot */
    assert_int_equal(tms_txn_renew(tx), TMS_E_STORE);
    tms_txn_reset(tx);
    tms_txn_reset(tx);
    assert_int_equal(tms_txn_renew(tx), TMS_OK);
    assert_true(tms_txn_is_latest(tx));
    assert_int_equal(tms_meta_get(tx, &later, head), TMS_OK);
    assert_int_equal(later, seq + 1);
    tms_txn_abort(tx);
    tms_txn_abort(NULL);
    tms_txn_reset(NULL);
}

static int note_tenant(void *ctx, const char *tenant, const tms_tenant_rec *rec)
{
    char *seen = ctx;
    size_t used = strlen(seen);
    snprintf(seen + used, 256 - used, "%s:%s ", tenant, rec->admin);
    return 0;
}

/* tms_store_copy (tms-restore backup): a compacted copy of a projection in
 * use opens as any projection and holds the same digest; tms_tenant_foreach
 * walks its tenants in key order. */
static void test_a_projection_copy_holds_the_same_digest(void **state)
{
    tu_env *env = *state;
    char *dst = tu_mkdtemp(), why[256], seen[256] = "";
    uint8_t want[32], got[32];
    tms_store *copy;
    tms_txn *tx;
    ACC("{'cmd':'CreateTenant','tenant':'beta','actor':'system','admin':'boss'}");
    tu_digest(env, want);
    assert_int_equal(tms_store_copy(tms_engine_store(env->eng), dst, why, sizeof why), TMS_OK);
    assert_int_equal(tms_store_open(dst, TMS_STORE_READONLY, &copy, why, sizeof why), TMS_OK);
    assert_int_equal(tms_txn_begin(copy, 0, &tx), TMS_OK);
    assert_int_equal(tms_store_digest(tx, got), TMS_OK);
    assert_int_equal(tms_tenant_foreach(tx, note_tenant, seen), TMS_OK);
    tms_txn_abort(tx);
    tms_store_close(copy);
    assert_memory_equal(got, want, 32);
    assert_string_equal(seen, "acme:admin beta:boss ");
    tu_rmtree(dst);
    free(dst);
}

/* The writer of the next test, in a child process (no cmocka there): open
 * dir with the default map and add n extensions, 50 per group. Exits 0
 * when every one was accepted. */
static void add_extensions_and_exit(const char *dir, int n)
{
    tms_engine *e;
    char why[512], json[50][160];
    tms_cmd cmds[50];
    tms_submission subs[50];
    if (tms_engine_open(dir, NULL, &e, why, sizeof why))
        _exit(1);
    for (int i = 0; i < n; i += 50) {
        for (int k = 0; k < 50; k++) {
            snprintf(json[k], sizeof json[k], "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\","
                     "\"id\":\"x%05d\"}", i + k);
            tms_cmd_init(&cmds[k]);
            if (tms_cmd_from_json(&cmds[k], json[k], strlen(json[k]), why, sizeof why))
                _exit(2);
            subs[k] = (tms_submission){.cmd = &cmds[k]};
        }
        if (tms_engine_submit(e, subs, 50, why, sizeof why))
            _exit(3);
        for (int k = 0; k < 50; k++) {
            if (subs[k].verdict.code)
                _exit(4);
            tms_cmd_free(&cmds[k]);
        }
    }
    tms_engine_close(e);
    _exit(0);
}

/* tms-restore backup while tmsd writes: the writer grows the map past what
 * the backup's read-only environment has mapped, and the copy adopts the
 * new size, starts again, and holds the writer's projection. */
static void test_a_projection_copy_adopts_a_map_grown_by_another_process(void **state)
{
    (void)state;
    tms_engine_options opt = {0};
    opt.map_bytes = 64 * 1024;
    tu_env *env = env_with(&opt);
    char *dst = tu_mkdtemp(), proj[4200], why[256];
    uint8_t want[32], got[32];
    tms_store *st, *copy;
    tms_txn *tx;
    int status;
    tu_standard_tenant(env);
    tms_engine_close(env->eng);
    env->eng = NULL;
    tms_data_path(proj, sizeof proj, env->dir, "proj");
    assert_int_equal(tms_store_open(proj, TMS_STORE_READONLY, &st, why, sizeof why), TMS_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        add_extensions_and_exit(env->dir, 2000);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(tms_store_copy(st, dst, why, sizeof why), TMS_OK);
    tms_store_close(st);
    tu_env_reopen(env);
    tu_digest(env, want);
    assert_int_equal(tms_store_open(dst, TMS_STORE_READONLY, &copy, why, sizeof why), TMS_OK);
    assert_int_equal(tms_txn_begin(copy, 0, &tx), TMS_OK);
    assert_int_equal(tms_store_digest(tx, got), TMS_OK);
    tms_txn_abort(tx);
    tms_store_close(copy);
    assert_memory_equal(got, want, 32);
    assert_true(tu_exists(env, 'e', "x01999"));
    tu_rmtree(dst);
    free(dst);
    tu_env_free(env);
}

/* The contract tmsd relies on: with defer_growth a full map is reported,
 * nothing is logged (not durable), and after tms_engine_grow the same batch
 * goes through with real seqs. */
static void test_deferred_growth_reports_map_full_and_logs_nothing(void **state)
{
    (void)state;
    tms_engine_options opt = {0};
    opt.defer_growth = 1;
    opt.map_bytes = 128 * 1024;
    tu_env *env = env_with(&opt);
    char why[512];
    int grown = 0;
    tu_standard_tenant(env);
    for (int i = 0; i < 120; i++) {
        char json[16][160];
        const char *batch[16];
        tms_submission subs[16];
        for (int k = 0; k < 16; k++) {
            snprintf(json[k], sizeof json[k], "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\","
                     "\"id\":\"g%03d-%02d\"}", i, k);
            batch[k] = json[k];
        }
        uint64_t before = tms_engine_last_seq(env->eng);
        tms_err err = submit_batch(env, batch, 16, subs);
        if (err == TMS_E_MAPFULL && !tms_engine_durable(env->eng)) {   /* full while staging */
            assert_int_equal(tms_engine_last_seq(env->eng), before);   /* nothing logged */
            assert_int_equal(tms_engine_grow(env->eng, why, sizeof why), TMS_OK);
            grown++;
            err = submit_batch(env, batch, 16, subs);
        } else if (err == TMS_E_MAPFULL) {   /* full at the commit: logged, verdicts stand */
            assert_int_equal(tms_engine_last_seq(env->eng), before + 16);
            assert_true(tms_engine_behind(env->eng));
            assert_int_equal(tms_engine_grow(env->eng, why, sizeof why), TMS_OK);   /* applies them */
            assert_false(tms_engine_behind(env->eng));
            char last[16];
            snprintf(last, sizeof last, "g%03d-15", i);
            assert_true(tu_exists(env, 'e', last));
            grown++;
            err = TMS_OK;
        }
        assert_int_equal(err, TMS_OK);
        assert_true(tms_engine_durable(env->eng));
        for (int k = 0; k < 16; k++) {
            assert_int_equal(subs[k].verdict.code, TMS_OK);
            assert_int_equal(subs[k].seq, before + 1 + (uint64_t)k);
        }
    }
    assert_true(grown > 0);
    tu_env_free(env);
}

typedef struct reader_thread {
    const char *dir;
    int *stop;   /* read and set with __atomic: volatile is no synchronisation (ThreadSanitizer says so) */
    long checks, errors;
} reader_thread;

static void *reader_loop(void *arg)
{
    reader_thread *t = arg;
    while (!__atomic_load_n(t->stop, __ATOMIC_ACQUIRE)) {
        tms_reader *r;   /* opened and closed over and over: the shared environment must survive */
        if (tms_reader_open(t->dir, &r) != TMS_OK) {
            t->errors++;
            continue;
        }
        for (int i = 0; i < 200; i++) {
            if (tms_reader_check(r, "acme", "extension", "1001", "calls.barge") < 0)
                t->errors++;
            __atomic_add_fetch(&t->checks, 1, __ATOMIC_RELAXED);   /* the test waits for every thread's first */
        }
        tms_reader_close(r);
    }
    return NULL;
}

/* Readers on several threads of one process, opening and closing while the
 * engine commits: no errors, and every one sees the final state. */
static void test_readers_on_many_threads_share_one_environment(void **state)
{
    tu_env *env = *state;
    int stop = 0;
    reader_thread t[4];
    pthread_t th[4];
    tms_reader *keep;
    assert_int_equal(tms_reader_open(env->dir, &keep), TMS_OK);   /* holds the environment open */
    for (int i = 0; i < 4; i++) {
        t[i] = (reader_thread){env->dir, &stop, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, reader_loop, &t[i]), 0);
    }
    /* every reader at work before the commits start (a loaded machine may not have run one yet: then the
     * commits could all pass before it opened anything, and it would have checked nothing) */
    for (int i = 0, waited = 0; i < 4; waited++) {
        assert_true(waited < 10000);   /* 10 s */
        if (__atomic_load_n(&t[i].checks, __ATOMIC_RELAXED) > 0)
            i++;
        else
            usleep(1000);
    }
    for (int i = 0; i < 200; i++)
        ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'1001','enable':['%s'],'disable':['%s']}",
            i % 2 ? "reports.view" : "calls.barge", i % 2 ? "calls.barge" : "reports.view");
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].errors, 0);
        assert_true(t[i].checks > 0);
    }
    assert_int_equal(tms_reader_check(keep, "acme", "extension", "1001", "calls.barge"), 0);
    assert_int_equal(tms_reader_check(keep, "acme", "extension", "1001", "reports.view"), 1);
    tms_reader_close(keep);
}

typedef struct counts {
    uint64_t records, events, last;
    int out_of_order;
} counts;

static void count_record(void *ctx, const tms_record *rec, const tms_verdict *v)
{
    counts *c = ctx;
    (void)v;
    c->out_of_order |= rec->seq != c->last + 1;
    c->last = rec->seq;
    c->records++;
}

static void count_event(void *ctx, const tms_record *rec, const tms_custom_event *ev)
{
    (void)rec;
    (void)ev;
    ((counts *)ctx)->events++;
}

/* A replay whose map fills re-runs a batch: observers still hear of each
 * record and each event exactly once. */
static void test_replay_observers_hear_each_record_once_when_the_map_grows(void **state)
{
    tu_env *env = *state;
    char *scratch = tu_mkdtemp(), logdir[4200], why[256];
    tms_store *st;
    tms_replay_result res;
    counts c = {0};
    tms_rules_sink sink = {count_event, &c};
    tms_replay_opts o = {0};
    ACC("{'cmd':'CreateRole'," T ",'actor':'admin','role':'r','account_type':'extension','permissions':['reports.view']}");
    for (int i = 0; i < 1500; i++)
        ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'e%04d'}", i);
    ACC("{'cmd':'SetDefaultRole'," T ",'actor':'admin','role':'r'}");
    for (int i = 0; i < 300; i++)
        ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'d%04d'}", i);
    ACC("{'cmd':'DeleteRole'," T ",'actor':'admin','role':'r'}");   /* 300 events in one record */
    uint64_t last = tms_engine_last_seq(env->eng);
    o.sink = &sink;
    o.on_record = count_record;
    o.ctx = &c;
    assert_int_equal(tms_store_open_sized(scratch, TMS_STORE_SCRATCH, 32 * 1024, &st, why, sizeof why), TMS_OK);
    assert_int_equal(tms_replay(st, tms_data_path(logdir, sizeof logdir, env->dir, "log"), &o, &res), TMS_OK);
    tms_store_close(st);
    tu_rmtree(scratch);
    free(scratch);
    assert_int_equal(c.records, last);
    assert_int_equal(res.applied, last);
    assert_int_equal(c.events, 300);
    assert_false(c.out_of_order);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_crash_between_append_and_projection_commit_is_caught_up),
        cmocka_unit_test_setup_teardown(test_projection_missing_is_rebuilt_but_one_ahead_of_the_log_refuses_the_open, tu_setup_standard, tu_teardown),
        cmocka_unit_test_setup_teardown(test_replaying_the_same_log_twice_gives_the_same_digest, tu_setup_standard, tu_teardown),
        cmocka_unit_test_setup_teardown(test_request_id_repeat_returns_the_first_verdict_and_appends_nothing, tu_setup_standard, tu_teardown),
        cmocka_unit_test_setup_teardown(test_a_second_writer_is_refused_naming_the_holder, tu_setup_standard, tu_teardown),
        cmocka_unit_test(test_group_commit_one_fsync_per_batch_and_rules_see_earlier_commands),
        cmocka_unit_test(test_a_full_disk_refuses_the_batch_and_changes_nothing),
        cmocka_unit_test(test_a_failed_fsync_stops_writes_until_restart),
        cmocka_unit_test(test_a_full_map_grows_instead_of_failing),
        cmocka_unit_test(test_deferred_growth_reports_map_full_and_logs_nothing),
        cmocka_unit_test_setup_teardown(test_a_long_lived_reader_sees_every_commit, tu_setup_standard, tu_teardown),
        cmocka_unit_test_setup_teardown(test_readers_on_many_threads_share_one_environment, tu_setup_standard, tu_teardown),
        cmocka_unit_test_setup_teardown(test_a_kept_read_transaction_is_latest_until_a_commit, tu_setup_standard, tu_teardown),
        cmocka_unit_test_setup_teardown(test_a_projection_copy_holds_the_same_digest, tu_setup_standard, tu_teardown),
        cmocka_unit_test(test_a_projection_copy_adopts_a_map_grown_by_another_process),
        cmocka_unit_test_setup_teardown(test_replay_observers_hear_each_record_once_when_the_map_grows, tu_setup_standard, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
