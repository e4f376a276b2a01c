/* test_durability.c -- one fdatasync per group (issue 7, item 5): the LMDB
 * projection is committed without fsync and its writer leaves evidence
 * (proj/writer: boot id, clean close). What a stop can leave behind, and
 * that no answer is ever served from it wrongly:
 *   - a power loss (an unclean stop before a reboot): the projection may have
 *     lost unsynced commits or hold torn pages; it is never read, but rebuilt;
 *   - a process crash (same boot): what the kernel had is kept; a projection
 *     behind the log is caught up from the effects of the records it missed;
 *   - no evidence at all: rebuilt.
 * Every case ends with the projection's digest equal to a from-scratch
 * rebuild of the same log, and the latest commands visible. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "testutil.h"
#include "tmsperm.h"
#include "tmsperm_schema.h"

#define T "'tenant':'acme'"

static char *path_in(const tu_env *env, const char *leaf)
{
    char *p = malloc(4200);
    assert_non_null(p);
    snprintf(p, 4200, "%s/%s", env->dir, leaf);
    return p;
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    uint8_t *d = tu_read_file(from, &len);
    assert_non_null(d);
    assert_int_equal(tu_write_file(to, d, len), 0);
    free(d);
}

static void write_evidence(const tu_env *env, const char *boot, const char *state)
{
    char text[256], *p = path_in(env, "proj/writer");
    int n = snprintf(text, sizeof text, "tmsperm-projection-writer 1\nboot %s\nstate %s\n", boot, state);
    assert_int_equal(tu_write_file(p, text, (size_t)n), 0);
    free(p);
}

static void this_boot(char *out, size_t len)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");   /* /proc files have no size: read lines */
    assert_non_null(f);
    assert_non_null(fgets(out, (int)len, f));
    out[strcspn(out, "\n")] = '\0';
    assert_true(strlen(out) > 0);
    fclose(f);
}

/* The digest a from-scratch rebuild of env's log gives: a new data
 * directory holding a copy of the log, opened by an engine. */
static void rebuilt_digest(tu_env *env, uint8_t out[32])
{
    tu_env *fresh = tu_env_new();
    char cmd[9000];
    tms_engine_close(fresh->eng);
    fresh->eng = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf '%s/log' '%s/proj' && cp -r '%s/log' '%s/log'", fresh->dir, fresh->dir,
             env->dir, fresh->dir);
    assert_int_equal(system(cmd), 0);
    tu_env_reopen(fresh);
    tu_digest(fresh, out);
    tu_env_free(fresh);
}

/* The standard tenant, a saved copy of the projection at that point, then
 * more groups; closed (cleanly: the copy is what an earlier moment left). */
static tu_env *older_projection_saved(void)
{
    tu_env *env = tu_env_new();
    char *data = path_in(env, "proj/data.mdb"), *saved = path_in(env, "saved.mdb");
    tu_standard_tenant(env);
    tms_engine_close(env->eng);
    env->eng = NULL;
    copy_file(data, saved);
    tu_env_reopen(env);
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'7001'}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'1001','enable':['calls.barge'],'disable':[]}");
    ACC("{'cmd':'Distribute'," T ",'actor':'admin','kind':'extension','id':'7001','manager':'mid'}");
    tms_engine_close(env->eng);
    env->eng = NULL;
    free(data);
    free(saved);
    return env;
}

/* The projection files go back to the saved copy: unsynced commits lost. */
static void lose_unsynced_commits(tu_env *env)
{
    char *data = path_in(env, "proj/data.mdb"), *saved = path_in(env, "saved.mdb");
    copy_file(saved, data);
    free(data);
    free(saved);
}

static void assert_latest_and_rebuilt(tu_env *env)
{
    uint8_t live[32], fresh[32];
    assert_true(tu_exists(env, 'e', "7001"));
    assert_true(tu_distributed(env, 'e', "7001", "mid"));
    assert_int_equal(tu_check(env, "acme", "extension", "1001", "calls.barge"), 1);
    tu_digest(env, live);
    rebuilt_digest(env, fresh);
    assert_memory_equal(live, fresh, 32);
}

static void test_power_loss_lost_commits_are_rebuilt_from_the_log(void **state)
{
    (void)state;
    tu_env *env = older_projection_saved();
    lose_unsynced_commits(env);
    write_evidence(env, "00000000-0000-0000-0000-000000000000", "open");   /* another boot, unclean */
    tu_env_reopen(env);
    assert_non_null(strstr(tms_engine_open_report(env->eng), "before a reboot"));
    char *aside = path_in(env, "proj/data.mdb.unclean");   /* never read, but kept as evidence */
    assert_true(tu_file_size(aside) > 0);
    free(aside);
    assert_latest_and_rebuilt(env);
    tu_env_free(env);
}

static void test_power_loss_torn_pages_are_never_read(void **state)
{
    (void)state;
    tu_env *env = older_projection_saved();
    char *data = path_in(env, "proj/data.mdb");
    size_t len;
    uint8_t *d = tu_read_file(data, &len);
    assert_non_null(d);
    for (size_t i = 0; i < len; i++)   /* every page torn: LMDB would follow garbage */
        d[i] = (uint8_t)(i * 2654435761u >> 13);
    assert_int_equal(tu_write_file(data, d, len), 0);
    write_evidence(env, "another-boot", "open");
    tu_env_reopen(env);
    assert_latest_and_rebuilt(env);
    free(d);
    free(data);
    tu_env_free(env);
}

static void test_a_crash_under_the_same_boot_is_caught_up_not_rebuilt(void **state)
{
    (void)state;
    char boot[64];
    tu_env *env = older_projection_saved();
    this_boot(boot, sizeof boot);
    lose_unsynced_commits(env);   /* behind the log, as after a crash between log sync and LMDB commit */
    write_evidence(env, boot, "open");
    tu_env_reopen(env);
    if (strstr(tms_engine_open_report(env->eng), "rebuilt"))
        fail_msg("rebuilt: %s", tms_engine_open_report(env->eng));
    assert_latest_and_rebuilt(env);
    tu_env_free(env);
}

static void test_a_projection_without_evidence_is_rebuilt(void **state)
{
    (void)state;
    tu_env *env = older_projection_saved();
    char *writer = path_in(env, "proj/writer");
    lose_unsynced_commits(env);
    assert_int_equal(remove(writer), 0);
    tu_env_reopen(env);
    assert_non_null(strstr(tms_engine_open_report(env->eng), "no writer evidence"));
    assert_latest_and_rebuilt(env);
    free(writer);
    tu_env_free(env);
}

static void test_a_clean_close_is_believed_and_marked(void **state)
{
    (void)state;
    tu_env *env = older_projection_saved();   /* closed cleanly after the last group */
    char *writer = path_in(env, "proj/writer");
    size_t len;
    char *text = (char *)tu_read_file(writer, &len);
    assert_non_null(text);
    assert_non_null(memmem(text, len, "state clean", 11));
    free(text);
    tu_env_reopen(env);
    assert_string_equal(tms_engine_open_report(env->eng), "");   /* nothing to catch up, nothing rebuilt */
    text = (char *)tu_read_file(writer, &len);   /* open again: unsynced commits may follow */
    assert_non_null(memmem(text, len, "state open", 10));
    free(text);
    assert_latest_and_rebuilt(env);
    free(writer);
    tu_env_free(env);
}

/* Change a permission bit of extension 1001 in the projection directly,
 * behind the engine's back (LMDB keeps no checksums: still readable). */
static void flip_a_permission_of_1001(tu_env *env)
{
    char *proj = path_in(env, "proj"), why[256];
    tms_store *st;
    tms_txn *tx;
    tms_account_rec a;
    assert_int_equal(tms_store_open(proj, TMS_STORE_WRITE, &st, why, sizeof why), TMS_OK);
    assert_int_equal(tms_txn_begin(st, 1, &tx), TMS_OK);
    assert_int_equal(tms_account_get(tx, "acme", 'e', "1001", &a), TMS_OK);
    a.perms ^= 1;
    assert_int_equal(tms_account_put(tx, "acme", 'e', "1001", &a), TMS_OK);
    assert_int_equal(tms_txn_commit(tx), TMS_OK);
    tms_store_close(st);
    free(proj);
}

/* Issue 8, item 5: a damaged projection (LMDB keeps no checksums) never
 * crashes the writer: pages cut off its file, or content that differs from
 * the log's state at the same seq, are found before it is opened for
 * writing; it is set aside and rebuilt. */
static void test_a_damaged_projection_is_set_aside_and_rebuilt_not_followed(void **state)
{
    (void)state;
    for (int how = 0; how < 2; how++) {
        tu_env *env = older_projection_saved();   /* closed cleanly, level with the log */
        char *data = path_in(env, "proj/data.mdb");
        size_t len;
        uint8_t *d = tu_read_file(data, &len);
        assert_non_null(d);
        if (how == 0) {
            assert_int_equal(tu_write_file(data, d, 3 * 4096), 0);   /* its pages cut off: SIGBUS if followed */
        } else {   /* a permission bit of 1001 changed behind the engine's back: readable, not the log's state */
            flip_a_permission_of_1001(env);
        }
        tu_env_reopen(env);
        const char *report = tms_engine_open_report(env->eng);
        if (!strstr(report, how == 0 ? "set aside as proj/data.mdb.damaged" : "differs from the log's"))
            fail_msg("damage %d not reported: %s", how, report);
        assert_latest_and_rebuilt(env);
        free(d);
        free(data);
        tu_env_free(env);
    }
}

/* The commonest crash (kill -9 between the log sync and the projection
 * commit) leaves the projection one group behind; damage in it must not be
 * caught up and kept: its content at its own seq is checked first. */
static void test_a_damaged_projection_behind_the_log_is_rebuilt_not_caught_up(void **state)
{
    (void)state;
    tu_env *env = older_projection_saved();
    tms_engine_options opt = {0};
    tms_engine *eng;
    tms_cmd cmd;
    char why[512];
    const char *json = "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"7002\"}";
    opt.crash_after_log_sync = 1;
    assert_int_equal(tms_engine_open(env->dir, &opt, &eng, why, sizeof why), TMS_OK);
    tms_cmd_init(&cmd);
    assert_int_equal(tms_cmd_from_json(&cmd, json, strlen(json), why, sizeof why), TMS_OK);
    tms_submission s = {.cmd = &cmd};
    assert_int_not_equal(tms_engine_submit(eng, &s, 1, why, sizeof why), TMS_OK);   /* in the log, not in LMDB */
    tms_cmd_free(&cmd);
    tms_engine_close(eng);
    flip_a_permission_of_1001(env);   /* damage at the projection's own seq */
    tu_env_reopen(env);
    if (!strstr(tms_engine_open_report(env->eng), "differs from the log's"))
        fail_msg("damage behind the log not found: %s", tms_engine_open_report(env->eng));
    assert_true(tu_exists(env, 'e', "7002"));
    assert_latest_and_rebuilt(env);
    tu_env_free(env);
}

/* A PBX node's embedded reader must never answer from a projection that
 * cannot be believed: it refuses to open one left by an unclean stop before
 * a reboot, and one already open follows the writer when it sets the
 * projection aside and builds a new one (within 100 ms). */
static void test_embedded_readers_never_answer_from_a_set_aside_projection(void **state)
{
    (void)state;
    tu_env *env = older_projection_saved();
    tms_reader *r = NULL, *r2 = NULL;
    assert_int_equal(tms_reader_open(env->dir, &r), TMS_OK);   /* clean: believed */
    assert_int_equal(tms_reader_check(r, "acme", "manager", "mid", "recordings.listen"), 1);
    write_evidence(env, "another-boot", "open");              /* as after a power loss */
    assert_int_equal(tms_reader_open(env->dir, &r2), TMS_E_STORE);
    char why[512];                                            /* and says why (issue 19, item 1) */
    assert_int_equal(tms_reader_open_why(env->dir, &r2, why, sizeof why), TMS_E_STORE);
    assert_non_null(strstr(why, "unclean stop before a reboot"));
    tu_env_reopen(env);                                       /* the writer sets it aside, rebuilds */
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'manager','id':'mid','enable':[],"
        "'disable':['recordings.listen']}");
    usleep(150 * 1000);
    assert_int_equal(tms_reader_check(r, "acme", "manager", "mid", "recordings.listen"), 0);
    assert_int_equal(tms_reader_open(env->dir, &r2), TMS_OK);
    assert_int_equal(tms_reader_check(r2, "acme", "manager", "mid", "recordings.listen"), 0);
    tms_reader_close(r);
    tms_reader_close(r2);
    tu_env_free(env);
}

/* Issue 8, item 6: everything in a data directory is private (0750 for
 * directories, 0640 for files) whatever the umask and the parent's mode,
 * and a log left readable by an earlier version is made private. */
static void test_the_data_directory_is_private_whatever_the_umask(void **state)
{
    (void)state;
    static const char *const dirs[] = {"", "log", "proj"};
    static const char *const files[] = {"lock", "witness", "proj/data.mdb", "proj/writer"};
    mode_t old = umask(0);
    char *parent = tu_mkdtemp(), path[4200], seg[4300], why[512];
    tms_engine *eng;
    snprintf(path, sizeof path, "%s/data", parent);
    chmod(parent, 0755);
    assert_int_equal(tms_engine_open(path, NULL, &eng, why, sizeof why), TMS_OK);
    tms_cmd cmd;
    tms_cmd_init(&cmd);
    const char *json = "{\"cmd\":\"CreateTenant\",\"tenant\":\"acme\",\"actor\":\"system\",\"admin\":\"admin\"}";
    assert_int_equal(tms_cmd_from_json(&cmd, json, strlen(json), why, sizeof why), TMS_OK);
    tms_submission s = {.cmd = &cmd};
    assert_int_equal(tms_engine_submit(eng, &s, 1, why, sizeof why), TMS_OK);
    tms_cmd_free(&cmd);
    tms_engine_close(eng);
    snprintf(seg, sizeof seg, "%s/log/00000000000000000001.tmslog", path);
    struct stat sb;
    for (size_t i = 0; i < 3; i++) {
        char p[4300];
        snprintf(p, sizeof p, "%s/%s", path, dirs[i]);
        assert_int_equal(stat(p, &sb), 0);
        if ((sb.st_mode & 0777) != 0750)
            fail_msg("%s has mode %o", p, (unsigned)(sb.st_mode & 0777));
    }
    for (size_t i = 0; i < 4; i++) {
        char p[4300];
        snprintf(p, sizeof p, "%s/%s", path, files[i]);
        assert_int_equal(stat(p, &sb), 0);
        if ((sb.st_mode & 0777) != 0640)
            fail_msg("%s has mode %o", p, (unsigned)(sb.st_mode & 0777));
    }
    assert_int_equal(stat(seg, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    /* an earlier version's world-readable log is made private by the next writer */
    char logdir[4300];
    snprintf(logdir, sizeof logdir, "%s/log", path);
    assert_int_equal(chmod(logdir, 0777), 0);
    assert_int_equal(chmod(seg, 0644), 0);
    assert_int_equal(tms_engine_open(path, NULL, &eng, why, sizeof why), TMS_OK);
    tms_engine_close(eng);
    assert_int_equal(stat(logdir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0750);
    assert_int_equal(stat(seg, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    umask(old);
    tu_rmtree(parent);
    free(parent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_loss_lost_commits_are_rebuilt_from_the_log),
        cmocka_unit_test(test_power_loss_torn_pages_are_never_read),
        cmocka_unit_test(test_a_crash_under_the_same_boot_is_caught_up_not_rebuilt),
        cmocka_unit_test(test_a_projection_without_evidence_is_rebuilt),
        cmocka_unit_test(test_a_clean_close_is_believed_and_marked),
        cmocka_unit_test(test_the_data_directory_is_private_whatever_the_umask),
        cmocka_unit_test(test_a_damaged_projection_is_set_aside_and_rebuilt_not_followed),
        cmocka_unit_test(test_a_damaged_projection_behind_the_log_is_rebuilt_not_caught_up),
        cmocka_unit_test(test_embedded_readers_never_answer_from_a_set_aside_projection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
