/* test_rules_permissions.c -- R8-R18: who sets permissions, the ceiling, no
 * cascade, account types, roles as templates, Custom with its recorded
 * event, propagation, deletion, the default role. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "replay.h"
#include "testutil.h"

#define T "'tenant':'acme'"

/* mid owns 1001 and 1002 */
static void own(tu_env *env, const char *mgr, const char *ext)
{
    ACC("{'cmd':'Distribute'," T ",'actor':'admin','kind':'extension','id':'%s','manager':'%s'}", ext, mgr);
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'%s','id':'%s'}", mgr, ext);
}

/* ---- Custom events, observed by replaying the log with a sink ---- */
typedef struct captured {
    int n;
    char line[8][300];
} captured;

static void on_custom(void *ctx, const tms_record *rec, const tms_custom_event *ev)
{
    captured *c = ctx;
    char en[200], dis[200];
    if (c->n < 8)
        snprintf(c->line[c->n++], sizeof c->line[0], "seq=%llu %c:%s role=%s actor=%s cause=%s +[%s] -[%s]",
                 (unsigned long long)rec->seq, ev->kind, ev->id, ev->role, ev->actor, ev->cause,
                 tms_mask_names(ev->enabled, 0, en, sizeof en), tms_mask_names(ev->disabled, 0, dis, sizeof dis));
}

static void replay_events(tu_env *env, captured *c)
{
    char *scratch = tu_mkdtemp(), logdir[4200], why[256];
    tms_store *st;
    tms_replay_result res;
    tms_rules_sink sink = {on_custom, c};
    tms_replay_opts o = {0};
    o.sink = &sink;
    memset(c, 0, sizeof *c);
    assert_int_equal(tms_store_open(scratch, TMS_STORE_SCRATCH, &st, why, sizeof why), TMS_OK);
    assert_int_equal(tms_replay(st, tms_data_path(logdir, sizeof logdir, env->dir, "log"), &o, &res), TMS_OK);
    tms_store_close(st);
    tu_rmtree(scratch);
    free(scratch);
}

static void test_r8_only_the_owner_sets_an_extensions_permissions(void **state)
{
    tu_env *env = *state;
    own(env, "mid", "1001");
    ACC("{'cmd':'Distribute'," T ",'actor':'admin','kind':'extension','id':'1001','manager':'low'}");
    REJ(TMS_NOT_OWNER, "{'cmd':'SetPermissions'," T ",'actor':'low','kind':'extension','id':'1001','enable':[],'disable':[]}");
    REJ(TMS_NOT_OWNER, "{'cmd':'SetPermissions'," T ",'actor':'top','kind':'extension','id':'1001','enable':['reports.view'],'disable':[]}");
    REJ(TMS_NOT_OWNER, "{'cmd':'SetPermissions'," T ",'actor':'low','kind':'extension','id':'1002','enable':[],'disable':[]}");
    assert_int_equal(tu_account(env, 'e', "1001").perms, 0);
    ACC("{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'extension','id':'1001','enable':['reports.view'],'disable':[]}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'1001','enable':['calls.barge'],'disable':[]}");
    assert_int_equal(tu_account(env, 'e', "1001").perms, tu_perms("reports.view,calls.barge"));
}

static void test_r8_features_and_roles_are_the_owners_too(void **state)
{
    tu_env *env = *state;
    own(env, "mid", "1001");
    ACC("{'cmd':'CreateRole'," T ",'actor':'admin','role':'agent','account_type':'extension','permissions':['reports.view']}");
    REJ(TMS_NOT_OWNER, "{'cmd':'SetFeatures'," T ",'actor':'top','id':'1001','enable':['softphone'],'disable':[]}");
    REJ(TMS_NOT_OWNER, "{'cmd':'AssignRole'," T ",'actor':'top','role':'agent','ids':['1001']}");
    ACC("{'cmd':'SetFeatures'," T ",'actor':'mid','id':'1001','enable':['softphone'],'disable':[]}");
    ACC("{'cmd':'AssignRole'," T ",'actor':'mid','role':'agent','ids':['1001']}");
    assert_int_equal(tu_check(env, "acme", "extension", "1001", "softphone"), 1);
    assert_string_equal(tu_account(env, 'e', "1001").role, "agent");
}

static void test_r9_managers_permissions_are_set_from_above(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'SetPermissions'," T ",'actor':'top','kind':'manager','id':'low','enable':['reports.view'],'disable':[]}");
    REJ(TMS_FORBIDDEN, "{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'manager','id':'top','enable':[],'disable':['reports.view']}");
    REJ(TMS_FORBIDDEN, "{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'manager','id':'mid','enable':[],'disable':['reports.view']}");
    REJ(TMS_FORBIDDEN, "{'cmd':'SetPermissions'," T ",'actor':'other','kind':'manager','id':'low','enable':[],'disable':['reports.view']}");
    assert_int_equal(tu_account(env, 'm', "low").perms, tu_perms("tms_users.distribution,tms_users.permissions,reports.view"));
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'manager','id':'top','enable':[],'disable':['billing.view']}");
    assert_int_equal(tu_check(env, "acme", "manager", "top", "billing.view"), 0);
}

static void test_r10_an_actor_enables_only_what_it_holds(void **state)
{
    tu_env *env = *state;
    own(env, "mid", "1001");
    REJ(TMS_PERMISSION_CEILING, "{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'extension','id':'1001','enable':['recordings.listen','calls.international'],'disable':[]}");
    assert_non_null(strstr(env->last.message, "calls.international"));
    assert_null(strstr(env->last.message, "recordings.listen"));
    assert_int_equal(tu_account(env, 'e', "1001").perms, 0);
    REJ(TMS_PERMISSION_CEILING, "{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'manager','id':'low','enable':['billing.view'],'disable':[]}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'top','kind':'manager','id':'low','enable':['billing.view'],'disable':[]}");
}

static void test_r10_disabling_is_always_allowed_and_keeping_is_not_enabling(void **state)
{
    tu_env *env = *state;
    own(env, "mid", "1001");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'1001','enable':['calls.international','calls.barge'],'disable':[]}");
    /* mid holds neither, yet may keep one and disable the other */
    ACC("{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'extension','id':'1001','enable':['calls.international','reports.view'],'disable':['calls.barge']}");
    assert_int_equal(tu_account(env, 'e', "1001").perms, tu_perms("calls.international,reports.view"));
}

static void test_r10_features_are_exempt_from_the_ceiling(void **state)
{
    tu_env *env = *state;
    own(env, "low", "1001");
    ACC("{'cmd':'SetFeatures'," T ",'actor':'low','id':'1001','enable':['call_recording','hide_caller_id'],'disable':[]}");
    assert_int_equal(tu_check(env, "acme", "extension", "1001", "hide_caller_id"), 1);
    REJ(TMS_UNKNOWN_FEATURE, "{'cmd':'SetFeatures'," T ",'actor':'low','id':'1001','enable':['teleport'],'disable':[]}");
}

static void test_r11_losing_a_permission_does_not_cascade(void **state)
{
    tu_env *env = *state;
    own(env, "mid", "1001");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'extension','id':'1001','enable':['recordings.listen'],'disable':[]}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'manager','id':'low','enable':['recordings.listen'],'disable':[]}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'manager','id':'mid','enable':[],'disable':['recordings.listen']}");
    assert_int_equal(tu_check(env, "acme", "extension", "1001", "recordings.listen"), 1);
    assert_int_equal(tu_check(env, "acme", "manager", "low", "recordings.listen"), 1);
    assert_int_equal(tu_check(env, "acme", "manager", "mid", "recordings.listen"), 0);
}

static void test_r12_permissions_and_roles_must_fit_the_account_type(void **state)
{
    tu_env *env = *state;
    own(env, "top", "1001");
    REJ(TMS_WRONG_ACCOUNT_TYPE, "{'cmd':'SetPermissions'," T ",'actor':'top','kind':'extension','id':'1001','enable':['billing.view'],'disable':[]}");
    REJ(TMS_WRONG_ACCOUNT_TYPE, "{'cmd':'CreateRole'," T ",'actor':'top','role':'bad','account_type':'extension','permissions':['tms_users.roles']}");
    ACC("{'cmd':'CreateRole'," T ",'actor':'top','role':'boss','account_type':'manager','permissions':['billing.view']}");
    REJ(TMS_WRONG_ACCOUNT_TYPE, "{'cmd':'AssignRole'," T ",'actor':'top','role':'boss','ids':['1001']}");
    REJ(TMS_WRONG_ACCOUNT_TYPE, "{'cmd':'SetDefaultRole'," T ",'actor':'admin','role':'boss'}");
    REJ(TMS_UNKNOWN_PERMISSION, "{'cmd':'SetPermissions'," T ",'actor':'top','kind':'extension','id':'1001','enable':['calls.teleport'],'disable':[]}");
    assert_int_equal(tu_account(env, 'e', "1001").perms, 0);
}

static void test_r13_role_creation_follows_the_ceiling(void **state)
{
    tu_env *env = *state;
    REJ(TMS_PERMISSION_CEILING, "{'cmd':'CreateRole'," T ",'actor':'mid','role':'r','account_type':'extension','permissions':['calls.international']}");
    ACC("{'cmd':'CreateRole'," T ",'actor':'mid','role':'r','account_type':'extension','permissions':['recordings.listen']}");
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'CreateRole'," T ",'actor':'top','role':'r','account_type':'extension','permissions':[]}");
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'CreateRole'," T ",'actor':'top','role':'Custom','account_type':'extension','permissions':[]}");
}

static void test_r13_creator_above_or_admin_update_and_delete_roles(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'CreateRole'," T ",'actor':'mid','role':'r','account_type':'extension','permissions':['reports.view']}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'manager','id':'other','enable':['tms_users.roles','reports.view'],'disable':[]}");
    REJ(TMS_FORBIDDEN, "{'cmd':'UpdateRole'," T ",'actor':'other','role':'r','permissions':[]}");
    REJ(TMS_FORBIDDEN, "{'cmd':'DeleteRole'," T ",'actor':'other','role':'r'}");
    ACC("{'cmd':'UpdateRole'," T ",'actor':'mid','role':'r','permissions':['recordings.listen']}");
    ACC("{'cmd':'UpdateRole'," T ",'actor':'top','role':'r','permissions':['calls.international']}");
    ACC("{'cmd':'UpdateRole'," T ",'actor':'admin','role':'r','permissions':['reports.view']}");
    REJ(TMS_NOT_FOUND, "{'cmd':'UpdateRole'," T ",'actor':'admin','role':'nope','permissions':[]}");
    ACC("{'cmd':'DeleteRole'," T ",'actor':'top','role':'r'}");
    REJ(TMS_NOT_FOUND, "{'cmd':'DeleteRole'," T ",'actor':'admin','role':'r'}");
}

static void test_r13_role_update_ceiling_applies_only_to_added_permissions(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'CreateRole'," T ",'actor':'top','role':'r','account_type':'extension','permissions':['calls.barge']}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'manager','id':'top','enable':[],'disable':['calls.barge','calls.whisper']}");
    ACC("{'cmd':'UpdateRole'," T ",'actor':'top','role':'r','permissions':['calls.barge','reports.view']}");
    REJ(TMS_PERMISSION_CEILING, "{'cmd':'UpdateRole'," T ",'actor':'top','role':'r','permissions':['calls.barge','calls.whisper']}");
}

static void test_r14_applying_a_role_sets_exactly_its_set(void **state)
{
    tu_env *env = *state;
    own(env, "mid", "1001");
    own(env, "mid", "1002");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'extension','id':'1001','enable':['recordings.listen'],'disable':[]}");
    ACC("{'cmd':'CreateRole'," T ",'actor':'mid','role':'agent','account_type':'extension','permissions':['reports.view']}");
    ACC("{'cmd':'AssignRole'," T ",'actor':'mid','role':'agent','ids':['1001','1002']}");
    for (int i = 0; i < 2; i++) {
        tms_account_rec a = tu_account(env, 'e', i ? "1002" : "1001");
        assert_int_equal(a.perms, tu_perms("reports.view"));
        assert_int_equal(a.role_tag, TMS_ROLE_SET);
        assert_string_equal(a.role, "agent");
    }
}

static void test_r14_a_role_command_is_all_or_nothing(void **state)
{
    tu_env *env = *state;
    own(env, "mid", "1001");
    ACC("{'cmd':'CreateRole'," T ",'actor':'mid','role':'agent','account_type':'extension','permissions':['reports.view']}");
    REJ(TMS_NOT_OWNER, "{'cmd':'AssignRole'," T ",'actor':'mid','role':'agent','ids':['1001','1003']}");
    assert_int_equal(tu_account(env, 'e', "1001").role_tag, TMS_ROLE_NONE);
    assert_int_equal(tu_account(env, 'e', "1001").perms, 0);
    REJ(TMS_NOT_FOUND, "{'cmd':'AssignRole'," T ",'actor':'mid','role':'agent','ids':['1001','9999']}");
    REJ(TMS_WRONG_ACCOUNT_TYPE, "{'cmd':'AssignRole'," T ",'actor':'mid','role':'agent','ids':['1001','low']}");
    assert_int_equal(tu_account(env, 'e', "1001").role_tag, TMS_ROLE_NONE);
}

static void test_r14_authority_and_ceiling_per_account(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'CreateRole'," T ",'actor':'admin','role':'lead','account_type':'manager','permissions':['reports.view','billing.view']}");
    REJ(TMS_FORBIDDEN, "{'cmd':'AssignRole'," T ",'actor':'mid','role':'lead','ids':['top']}");
    /* mid lacks billing.view and low does not have it: ceiling */
    REJ(TMS_PERMISSION_CEILING, "{'cmd':'AssignRole'," T ",'actor':'mid','role':'lead','ids':['low']}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'top','kind':'manager','id':'low','enable':['billing.view'],'disable':[]}");
    ACC("{'cmd':'AssignRole'," T ",'actor':'mid','role':'lead','ids':['low']}");   /* already held: not enabling */
    assert_int_equal(tu_account(env, 'm', "low").perms, tu_perms("reports.view,billing.view"));
}

static void test_r15_a_direct_change_makes_the_role_custom_and_is_recorded(void **state)
{
    tu_env *env = *state;
    captured c;
    own(env, "mid", "1001");
    ACC("{'cmd':'CreateRole'," T ",'actor':'mid','role':'agent','account_type':'extension','permissions':['reports.view']}");
    ACC("{'cmd':'AssignRole'," T ",'actor':'mid','role':'agent','ids':['1001']}");
    /* a change that keeps the role's set keeps the role */
    ACC("{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'extension','id':'1001','enable':['reports.view'],'disable':[]}");
    assert_int_equal(tu_account(env, 'e', "1001").role_tag, TMS_ROLE_SET);
    ACC("{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'extension','id':'1001','enable':['recordings.listen'],'disable':['reports.view']}");
    uint64_t seq = env->last_seq;
    assert_int_equal(tu_account(env, 'e', "1001").role_tag, TMS_ROLE_CUSTOM);
    replay_events(env, &c);
    assert_int_equal(c.n, 1);
    char want[300];
    snprintf(want, sizeof want, "seq=%llu e:1001 role=agent actor=mid cause=set_permissions +[recordings.listen] -[reports.view]",
             (unsigned long long)seq);
    assert_string_equal(c.line[0], want);
    /* Custom stays Custom, and no new event */
    ACC("{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'extension','id':'1001','enable':['reports.view'],'disable':['recordings.listen']}");
    assert_int_equal(tu_account(env, 'e', "1001").role_tag, TMS_ROLE_CUSTOM);
    replay_events(env, &c);
    assert_int_equal(c.n, 1);
}

static void test_r16_role_updates_propagate_to_holders_not_to_custom(void **state)
{
    tu_env *env = *state;
    own(env, "mid", "1001");
    own(env, "mid", "1002");
    ACC("{'cmd':'CreateRole'," T ",'actor':'mid','role':'agent','account_type':'extension','permissions':['reports.view']}");
    ACC("{'cmd':'AssignRole'," T ",'actor':'mid','role':'agent','ids':['1001','1002']}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'extension','id':'1002','enable':['recordings.listen'],'disable':[]}");
    ACC("{'cmd':'UpdateRole'," T ",'actor':'mid','role':'agent','permissions':['recordings.listen']}");
    tms_account_rec a = tu_account(env, 'e', "1001"), b = tu_account(env, 'e', "1002");
    assert_int_equal(a.perms, tu_perms("recordings.listen"));
    assert_string_equal(a.role, "agent");
    assert_int_equal(b.perms, tu_perms("recordings.listen,reports.view"));
    assert_int_equal(b.role_tag, TMS_ROLE_CUSTOM);
}

static void test_r17_deleting_a_role_leaves_permissions_and_records_custom(void **state)
{
    tu_env *env = *state;
    captured c;
    own(env, "mid", "1001");
    ACC("{'cmd':'CreateRole'," T ",'actor':'mid','role':'agent','account_type':'extension','permissions':['reports.view']}");
    ACC("{'cmd':'AssignRole'," T ",'actor':'mid','role':'agent','ids':['1001']}");
    ACC("{'cmd':'DeleteRole'," T ",'actor':'mid','role':'agent'}");
    tms_account_rec a = tu_account(env, 'e', "1001");
    assert_int_equal(a.perms, tu_perms("reports.view"));
    assert_int_equal(a.role_tag, TMS_ROLE_CUSTOM);
    replay_events(env, &c);
    assert_int_equal(c.n, 1);
    assert_non_null(strstr(c.line[0], "e:1001 role=agent actor=mid cause=role_deleted +[] -[]"));
    /* a new role of the same name starts with no holders */
    ACC("{'cmd':'CreateRole'," T ",'actor':'mid','role':'agent','account_type':'extension','permissions':[]}");
    ACC("{'cmd':'UpdateRole'," T ",'actor':'mid','role':'agent','permissions':['recordings.listen']}");
    assert_int_equal(tu_account(env, 'e', "1001").perms, tu_perms("reports.view"));
}

static void test_r18_new_extensions_start_with_the_default_role(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'CreateRole'," T ",'actor':'admin','role':'basic','account_type':'extension','permissions':['voicemail.access']}");
    REJ(TMS_FORBIDDEN, "{'cmd':'SetDefaultRole'," T ",'actor':'top','role':'basic'}");
    ACC("{'cmd':'SetDefaultRole'," T ",'actor':'admin','role':'basic'}");
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001'}");
    tms_account_rec a = tu_account(env, 'e', "2001");
    assert_string_equal(a.role, "basic");
    assert_int_equal(a.perms, tu_perms("voicemail.access"));
    /* holders of the default role follow its updates (R16) */
    ACC("{'cmd':'UpdateRole'," T ",'actor':'admin','role':'basic','permissions':['reports.view']}");
    assert_int_equal(tu_account(env, 'e', "2001").perms, tu_perms("reports.view"));
    ACC("{'cmd':'SetDefaultRole'," T ",'actor':'admin','role':null}");
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2002'}");
    assert_int_equal(tu_account(env, 'e', "2002").role_tag, TMS_ROLE_NONE);
    ACC("{'cmd':'SetDefaultRole'," T ",'actor':'admin','role':'basic'}");
    ACC("{'cmd':'DeleteRole'," T ",'actor':'admin','role':'basic'}");
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2003'}");
    assert_int_equal(tu_account(env, 'e', "2003").role_tag, TMS_ROLE_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define X(t) cmocka_unit_test_setup_teardown(t, tu_setup_standard, tu_teardown)
        X(test_r8_only_the_owner_sets_an_extensions_permissions),
        X(test_r8_features_and_roles_are_the_owners_too),
        X(test_r9_managers_permissions_are_set_from_above),
        X(test_r10_an_actor_enables_only_what_it_holds),
        X(test_r10_disabling_is_always_allowed_and_keeping_is_not_enabling),
        X(test_r10_features_are_exempt_from_the_ceiling),
        X(test_r11_losing_a_permission_does_not_cascade),
        X(test_r12_permissions_and_roles_must_fit_the_account_type),
        X(test_r13_role_creation_follows_the_ceiling),
        X(test_r13_creator_above_or_admin_update_and_delete_roles),
        X(test_r13_role_update_ceiling_applies_only_to_added_permissions),
        X(test_r14_applying_a_role_sets_exactly_its_set),
        X(test_r14_a_role_command_is_all_or_nothing),
        X(test_r14_authority_and_ceiling_per_account),
        X(test_r15_a_direct_change_makes_the_role_custom_and_is_recorded),
        X(test_r16_role_updates_propagate_to_holders_not_to_custom),
        X(test_r17_deleting_a_role_leaves_permissions_and_records_custom),
        X(test_r18_new_extensions_start_with_the_default_role),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
