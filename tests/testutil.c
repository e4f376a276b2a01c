/* testutil.c -- scratch directories and file surgery for the tests.
 * Kept tiny on purpose: the tests, not the helpers, hold the assertions. */
#include "testutil.h"
#include <ftw.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/tmsperm-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        abort();
    }
    return strdup(buf);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        *len = (size_t)n;
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int rc = fwrite(data, 1, len, f) == len ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

long long tu_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* ---- engine fixtures ------------------------------------------------------ */
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include "cmd.h"
#include "tmsperm.h"
#include "tmsperm_schema.h"
#include "replay.h"
#include "store.h"

tu_env *tu_env_new(void)
{
    tu_env *env = calloc(1, sizeof *env);
    char why[512];
    assert_non_null(env);
    env->dir = tu_mkdtemp();
    tms_err err = tms_engine_open(env->dir, NULL, &env->eng, why, sizeof why);
    if (err)
        fail_msg("engine open: %s", why);
    return env;
}

void tu_env_reopen(tu_env *env)
{
    char why[512];
    tms_engine_close(env->eng);
    env->eng = NULL;
    tms_err err = tms_engine_open(env->dir, NULL, &env->eng, why, sizeof why);
    if (err)
        fail_msg("engine reopen: %s", why);
}

void tu_env_free(tu_env *env)
{
    if (!env)
        return;
    tms_engine_close(env->eng);
    tu_rmtree(env->dir);
    free(env->dir);
    free(env);
}

tms_err tu_submit(tu_env *env, const char *fmt, ...)
{
    char json[8192], why[TMS_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    for (char *p = json; *p; p++)
        if (*p == '\'')
            *p = '"';
    tms_cmd cmd;
    tms_cmd_init(&cmd);
    memset(&env->last, 0, sizeof env->last);
    tms_err err = tms_cmd_from_json(&cmd, json, strlen(json), why, sizeof why);
    if (err) {
        env->last.code = err;
        snprintf(env->last.message, sizeof env->last.message, "%s", why);
        return err;
    }
    tms_submission s = {.cmd = &cmd};
    err = tms_engine_submit(env->eng, &s, 1, why, sizeof why);
    tms_cmd_free(&cmd);
    if (err)
        fail_msg("engine submit failed: %s", why);
    env->last = s.verdict;
    env->last_seq = s.seq;
    return s.verdict.code;
}

static tms_err tu_get(tu_env *env, char kind, const char *id, tms_account_rec *out)
{
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    tms_err err = tms_account_get(tx, "acme", kind, id, out);
    tms_txn_abort(tx);
    return err;
}

tms_account_rec tu_account(tu_env *env, char kind, const char *id)
{
    tms_account_rec a;
    memset(&a, 0, sizeof a);
    if (tu_get(env, kind, id, &a) != TMS_OK)
        fail_msg("no account %c %s", kind, id);
    return a;
}

int tu_exists(tu_env *env, char kind, const char *id)
{
    tms_account_rec a;
    return tu_get(env, kind, id, &a) == TMS_OK;
}

uint64_t tu_perms(const char *names)
{
    uint64_t m = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", names);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int i = tms_permission_index(tok);
        if (i < 0)
            fail_msg("tu_perms: unknown permission %s", tok);
        m |= UINT64_C(1) << i;
    }
    return m;
}

int tu_check(tu_env *env, const char *tenant, const char *kind, const char *id, const char *name)
{
    tms_reader *r;
    assert_int_equal(tms_reader_open(env->dir, &r), TMS_OK);
    int allow = tms_reader_check(r, tenant, kind, id, name);
    tms_reader_close(r);
    assert_true(allow >= 0);
    return allow;
}

/* One manager of a distribution: is it the one looked for (ctx)? */
static int is_manager(void *ctx, char kind, const char *id)
{
    const char **manager = ctx;
    (void)kind;
    if (strcmp(id, *manager))
        return 0;
    *manager = NULL;   /* found */
    return 1;
}

int tu_distributed(tu_env *env, char kind, const char *id, const char *manager)
{
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    assert_int_equal(tms_store_distribution(tx, "acme", kind, id, TMS_AT_LATEST, is_manager, &manager), TMS_OK);
    tms_txn_abort(tx);
    return manager == NULL;
}

void tu_digest(tu_env *env, uint8_t out[32])
{
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    assert_int_equal(tms_store_digest(tx, out), TMS_OK);
    tms_txn_abort(tx);
}

void tu_state_digest(tu_env *env, uint8_t out[32])
{
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    assert_int_equal(tms_store_state_digest(tx, out), TMS_OK);
    tms_txn_abort(tx);
}

void tu_damage_1001(tu_env *env, const char *from, const char *to, int flip)
{
    char proj[4300], why[256];
    tms_store *st;
    tms_txn *tx;
    tms_account_rec a;
    snprintf(proj, sizeof proj, "%s/proj", env->dir);
    assert_int_equal(tms_store_open(proj, TMS_STORE_WRITE, &st, why, sizeof why), TMS_OK);
    assert_int_equal(tms_txn_begin(st, 1, &tx), TMS_OK);
    assert_int_equal(tms_account_get(tx, from, 'e', "1001", &a), TMS_OK);
    if (flip)
        a.perms ^= 1;
    assert_int_equal(tms_account_put(tx, to, 'e', "1001", &a), TMS_OK);
    assert_int_equal(tms_txn_commit(tx), TMS_OK);
    tms_store_close(st);
}

#define OK(...) assert_int_equal(tu_submit(env, __VA_ARGS__), TMS_OK)

void tu_standard_tenant(tu_env *env)
{
    OK("{'cmd':'CreateTenant','tenant':'acme','actor':'system','admin':'admin'}");
    OK("{'cmd':'AddManager','tenant':'acme','actor':'admin','id':'top','new_login':{'id':'l-top'}}");
    OK("{'cmd':'SetPermissions','tenant':'acme','actor':'admin','kind':'manager','id':'top','enable':["
       "'tms_users.managers','tms_users.permissions','tms_users.roles','tms_users.distribution',"
       "'queues.manage','campaigns.manage','billing.view','reports.view','reports.export','wallboard.view',"
       "'recordings.listen','recordings.download','recordings.delete','calls.listen_live','calls.whisper',"
       "'calls.barge','calls.international','contacts.edit','voicemail.access'],'disable':[]}");
    OK("{'cmd':'AddManager','tenant':'acme','actor':'admin','id':'mid','new_login':{'id':'l-mid'},'parent':'top'}");
    OK("{'cmd':'SetPermissions','tenant':'acme','actor':'admin','kind':'manager','id':'mid','enable':["
       "'tms_users.managers','tms_users.permissions','tms_users.roles','tms_users.distribution',"
       "'recordings.listen','reports.view'],'disable':[]}");
    OK("{'cmd':'AddManager','tenant':'acme','actor':'admin','id':'low','new_login':{'id':'l-low'},'parent':'mid'}");
    OK("{'cmd':'SetPermissions','tenant':'acme','actor':'admin','kind':'manager','id':'low','enable':["
       "'tms_users.distribution','tms_users.permissions'],'disable':[]}");
    OK("{'cmd':'AddManager','tenant':'acme','actor':'admin','id':'other','new_login':{'id':'l-other'}}");
    OK("{'cmd':'SetPermissions','tenant':'acme','actor':'admin','kind':'manager','id':'other','enable':["
       "'tms_users.distribution'],'disable':[]}");
    OK("{'cmd':'CreateExtension','tenant':'acme','actor':'admin','id':'1001'}");
    OK("{'cmd':'CreateExtension','tenant':'acme','actor':'admin','id':'1002'}");
    OK("{'cmd':'CreateExtension','tenant':'acme','actor':'admin','id':'1003'}");
}

int tu_setup_standard(void **state)
{
    tu_env *env = tu_env_new();
    tu_standard_tenant(env);
    *state = env;
    return 0;
}

int tu_setup_empty(void **state)
{
    *state = tu_env_new();
    return 0;
}

int tu_teardown(void **state)
{
    tu_env_free(*state);
    return 0;
}

uint64_t tu_fork_snapshot(tu_env *env)
{
    pid_t pid;
    uint64_t seq;
    int st = -1;
    char why[300];
    assert_int_equal(tms_engine_snapshot_fork(env->eng, &pid, &seq, why, sizeof why), TMS_OK);
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return seq;
}

void tu_assert_state_is_the_logs(tu_env *env)
{
    char logdir[4200];
    uint8_t got[32], whole[32];
    tms_replay_opts o = {0};
    tms_replay_result res;
    const tms_state *st = tms_engine_state(env->eng);
    tms_state *folded = tms_state_new();
    assert_non_null(st);
    assert_int_equal(tms_fold(folded, tms_data_path(logdir, sizeof logdir, env->dir, "log"), &o, &res), TMS_OK);
    assert_int_equal(tms_state_projection_digest(folded, 0, NULL, whole), TMS_OK);
    assert_int_equal(tms_state_projection_digest(st, 0, NULL, got), TMS_OK);
    assert_memory_equal(got, whole, 32);
    tms_state_free(folded);
}
