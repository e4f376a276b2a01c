/* test_rules_accounts.c -- R19-R23: adding and removing managers, menu
 * permissions for every command of the schema, creation and deletion of
 * extensions, queues and campaigns, and tenant isolation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "testutil.h"

#define T "'tenant':'acme'"

static void test_r19_a_manager_with_dependents_cannot_be_removed(void **state)
{
    tu_env *env = *state;
    REJ(TMS_HAS_DEPENDENTS, "{'cmd':'RemoveManager'," T ",'actor':'admin','id':'mid'}");   /* low reports to it */
    assert_non_null(strstr(env->last.message, "1 reporting managers"));
    ACC("{'cmd':'Distribute'," T ",'actor':'admin','kind':'extension','id':'1001','manager':'low'}");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'low','id':'1001'}");
    ACC("{'cmd':'CreateQueue'," T ",'actor':'admin','id':'q1'}");
    ACC("{'cmd':'Distribute'," T ",'actor':'admin','kind':'queue','id':'q1','manager':'low'}");
    REJ(TMS_HAS_DEPENDENTS, "{'cmd':'RemoveManager'," T ",'actor':'admin','id':'low'}");
    assert_non_null(strstr(env->last.message, "2 distributed objects, 1 owned extensions, 0 reporting"));
    ACC("{'cmd':'ReleaseOwnership'," T ",'actor':'low','id':'1001'}");
    ACC("{'cmd':'Undistribute'," T ",'actor':'admin','kind':'extension','id':'1001','manager':'low'}");
    REJ(TMS_HAS_DEPENDENTS, "{'cmd':'RemoveManager'," T ",'actor':'admin','id':'low'}");
    ACC("{'cmd':'DeleteQueue'," T ",'actor':'admin','id':'q1'}");
    ACC("{'cmd':'RemoveManager'," T ",'actor':'admin','id':'low'}");
    assert_false(tu_exists(env, 'm', "low"));
    ACC("{'cmd':'RemoveManager'," T ",'actor':'admin','id':'mid'}");
}

static void test_r20_managers_are_added_by_the_admin_or_into_the_adders_subtree(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'AddManager'," T ",'actor':'mid','id':'m2','new_login':{'id':'l-m2','name':'Ann','email':'ann@acme.example'}}");
    assert_string_equal(tu_account(env, 'm', "m2").link, "mid");
    ACC("{'cmd':'AddManager'," T ",'actor':'mid','id':'m3','new_login':{'id':'l-m3'},'parent':'low'}");
    assert_string_equal(tu_account(env, 'm', "m3").link, "low");
    REJ(TMS_FORBIDDEN, "{'cmd':'AddManager'," T ",'actor':'mid','id':'m4','new_login':{'id':'l-m4'},'parent':'top'}");
    REJ(TMS_FORBIDDEN, "{'cmd':'AddManager'," T ",'actor':'mid','id':'m4','new_login':{'id':'l-m4'},'parent':null}");
    REJ(TMS_FORBIDDEN, "{'cmd':'AddManager'," T ",'actor':'low','id':'m4','new_login':{'id':'l-m4'}}");   /* R21 */
    ACC("{'cmd':'AddManager'," T ",'actor':'admin','id':'m4','new_login':{'id':'l-m4'},'parent':'low'}");
    assert_string_equal(tu_account(env, 'm', "m4").login, "l-m4");
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'AddManager'," T ",'actor':'admin','id':'m4','new_login':{'id':'l-m5'}}");
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'AddManager'," T ",'actor':'admin','id':'admin','new_login':{'id':'l-m5'}}");
    REJ(TMS_NOT_FOUND, "{'cmd':'AddManager'," T ",'actor':'admin','id':'m5','new_login':{'id':'l-m5'},'parent':'ghost'}");
}

static void test_r20_a_login_backs_at_most_one_manager(void **state)
{
    tu_env *env = *state;
    REJ(TMS_LOGIN_IN_USE, "{'cmd':'AddManager'," T ",'actor':'admin','id':'m2','login':'l-mid'}");
    REJ(TMS_NOT_FOUND, "{'cmd':'AddManager'," T ",'actor':'admin','id':'m2','login':'l-none'}");
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'AddManager'," T ",'actor':'admin','id':'m2','new_login':{'id':'l-mid'}}");
    ACC("{'cmd':'CreateLogin'," T ",'actor':'top','id':'l-free','name':'Free'}");
    ACC("{'cmd':'AddManager'," T ",'actor':'admin','id':'m2','login':'l-free'}");
    /* the same login may also back one extension */
    ACC("{'cmd':'LinkLogin'," T ",'actor':'admin','extension':'1001','login':'l-free'}");
    REJ(TMS_LOGIN_IN_USE, "{'cmd':'LinkLogin'," T ",'actor':'admin','extension':'1002','login':'l-free'}");
    REJ(TMS_LOGIN_IN_USE, "{'cmd':'CreateExtension'," T ",'actor':'admin','id':'1004','login':'l-free'}");
    /* removing the manager frees the login for another manager */
    ACC("{'cmd':'RemoveManager'," T ",'actor':'admin','id':'m2'}");
    ACC("{'cmd':'AddManager'," T ",'actor':'admin','id':'m3','login':'l-free'}");
}

/* R21: for every command of the schema with a menu permission (or reserved to
 * the Admin), a manager without it is refused FORBIDDEN, and nothing changes. */
static void test_r21_every_menu_command_needs_its_permission(void **state)
{
    tu_env *env = *state;
    static const struct { const char *cmd, *body; } samples[] = {
        {"CreateLogin", "'id':'l-x'"},
        {"CreateExtension", "'id':'1009'"},
        {"DeleteExtension", "'id':'1001'"},
        {"LinkLogin", "'extension':'1001','login':'l-x0'"},
        {"CreateQueue", "'id':'q9'"},
        {"DeleteQueue", "'id':'q0'"},
        {"CreateCampaign", "'id':'c9'"},
        {"DeleteCampaign", "'id':'c0'"},
        {"AddManager", "'id':'m9','new_login':{'id':'l-m9'}"},
        {"RemoveManager", "'id':'below'"},
        {"Distribute", "'kind':'extension','id':'1001','manager':'bare'"},
        {"Undistribute", "'kind':'extension','id':'1001','manager':'bare'"},
        {"TakeOwnership", "'id':'1001'"},
        {"ReleaseOwnership", "'id':'1001'"},
        {"SetPermissions", "'kind':'manager','id':'below','enable':[],'disable':[]"},
        {"SetFeatures", "'id':'1001','enable':[],'disable':[]"},
        {"CreateRole", "'role':'r9','account_type':'extension','permissions':[]"},
        {"UpdateRole", "'role':'r0','permissions':[]"},
        {"DeleteRole", "'role':'r0'"},
        {"AssignRole", "'role':'r0','ids':[]"},
        {"SetDefaultRole", "'role':'r0'"},
    };
    ACC("{'cmd':'AddManager'," T ",'actor':'admin','id':'bare','new_login':{'id':'l-bare'}}");
    ACC("{'cmd':'AddManager'," T ",'actor':'admin','id':'below','new_login':{'id':'l-below'},'parent':'bare'}");
    ACC("{'cmd':'CreateLogin'," T ",'actor':'admin','id':'l-x0'}");
    ACC("{'cmd':'CreateQueue'," T ",'actor':'admin','id':'q0'}");
    ACC("{'cmd':'CreateCampaign'," T ",'actor':'admin','id':'c0'}");
    ACC("{'cmd':'CreateRole'," T ",'actor':'admin','role':'r0','account_type':'extension','permissions':[]}");
    ACC("{'cmd':'Distribute'," T ",'actor':'admin','kind':'extension','id':'1001','manager':'bare'}");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'admin','id':'1001','manager':'bare'}");
    int covered = 0;
    for (int c = 0; c < TMS_CMD_COUNT; c++) {
        const tms_cmd_def *def = &tms_cmd_defs[c];
        if (def->menu_perm < 0 && !def->admin_only)
            continue;
        size_t i = 0;
        while (i < sizeof samples / sizeof samples[0] && strcmp(samples[i].cmd, def->name))
            i++;
        if (i == sizeof samples / sizeof samples[0])
            fail_msg("R21: no sample for %s: add one", def->name);
        uint64_t before = tms_engine_last_seq(env->eng);
        uint8_t d0[32], d1[32];
        tu_state_digest(env, d0);
        tms_err e = tu_submit(env, "{'cmd':'%s'," T ",'actor':'bare',%s}", def->name, samples[i].body);
        if (e != TMS_FORBIDDEN)
            fail_msg("R21: %s by a manager without %s gave %s: %s", def->name,
                     def->menu_perm >= 0 ? tms_permissions[def->menu_perm].name : "admin rights",
                     tms_err_name(e), env->last.message);
        assert_int_equal(tms_engine_last_seq(env->eng), before + 1);   /* the refusal is logged */
        tu_state_digest(env, d1);
        assert_memory_equal(d0, d1, 32);   /* a refusal changes no state */
        covered++;
    }
    assert_int_equal(tu_account(env, 'm', "below").perms, 0);
    assert_true(tu_exists(env, 'q', "q0"));
    assert_true(covered >= 20);
}

static void test_r22_extensions_are_created_and_deleted_by_the_admin(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'CreateLogin'," T ",'actor':'admin','id':'l-ext'}");
    REJ(TMS_FORBIDDEN, "{'cmd':'CreateExtension'," T ",'actor':'top','id':'2001'}");
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001','login':'l-ext'}");
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001'}");
    ACC("{'cmd':'Distribute'," T ",'actor':'admin','kind':'extension','id':'2001','manager':'mid'}");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'mid','id':'2001'}");
    REJ(TMS_FORBIDDEN, "{'cmd':'DeleteExtension'," T ",'actor':'top','id':'2001'}");
    ACC("{'cmd':'DeleteExtension'," T ",'actor':'admin','id':'2001'}");
    assert_false(tu_exists(env, 'e', "2001"));
    assert_false(tu_distributed(env, 'e', "2001", "mid"));
    /* ownership and distribution went with it: mid has only low as dependent */
    REJ(TMS_HAS_DEPENDENTS, "{'cmd':'RemoveManager'," T ",'actor':'admin','id':'mid'}");
    assert_non_null(strstr(env->last.message, "0 distributed objects, 0 owned extensions, 1 reporting"));
    /* and the login is free again */
    ACC("{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2002','login':'l-ext'}");
    assert_string_equal(tu_account(env, 'e', "2002").login, "l-ext");
    REJ(TMS_NOT_FOUND, "{'cmd':'DeleteExtension'," T ",'actor':'admin','id':'2001'}");
}

static void test_r22_queues_and_campaigns_are_deleted_by_a_manager_who_sees_them(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'CreateQueue'," T ",'actor':'admin','id':'q1'}");
    REJ(TMS_NOT_VISIBLE, "{'cmd':'DeleteQueue'," T ",'actor':'top','id':'q1'}");
    ACC("{'cmd':'Distribute'," T ",'actor':'admin','kind':'queue','id':'q1','manager':'top'}");
    REJ(TMS_FORBIDDEN, "{'cmd':'DeleteQueue'," T ",'actor':'mid','id':'q1'}");
    ACC("{'cmd':'DeleteQueue'," T ",'actor':'top','id':'q1'}");
    assert_false(tu_exists(env, 'q', "q1"));
    assert_false(tu_distributed(env, 'q', "q1", "top"));
    ACC("{'cmd':'CreateCampaign'," T ",'actor':'top','id':'c1'}");
    ACC("{'cmd':'DeleteCampaign'," T ",'actor':'admin','id':'c1'}");
    REJ(TMS_NOT_FOUND, "{'cmd':'DeleteCampaign'," T ",'actor':'admin','id':'c1'}");
}

static void test_r23_managers_are_removed_by_the_admin_or_from_above(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'AddManager'," T ",'actor':'admin','id':'leaf','new_login':{'id':'l-leaf'},'parent':'low'}");
    REJ(TMS_FORBIDDEN, "{'cmd':'RemoveManager'," T ",'actor':'other','id':'leaf'}");
    REJ(TMS_FORBIDDEN, "{'cmd':'RemoveManager'," T ",'actor':'leaf','id':'leaf'}");
    REJ(TMS_FORBIDDEN, "{'cmd':'RemoveManager'," T ",'actor':'low','id':'leaf'}");   /* no tms_users.managers */
    ACC("{'cmd':'RemoveManager'," T ",'actor':'top','id':'leaf'}");   /* two levels above */
    REJ(TMS_NOT_FOUND, "{'cmd':'RemoveManager'," T ",'actor':'top','id':'leaf'}");
}

static void test_tenants_are_isolated(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'CreateTenant','tenant':'globex','actor':'system','admin':'boss'}");
    REJ(TMS_TENANT_EXISTS, "{'cmd':'CreateTenant','tenant':'globex','actor':'system','admin':'boss'}");
    REJ(TMS_FORBIDDEN, "{'cmd':'CreateTenant','tenant':'initech','actor':'admin','admin':'boss'}");
    /* acme's admin and managers are unknown in globex */
    REJ(TMS_UNKNOWN_ACTOR, "{'cmd':'CreateExtension','tenant':'globex','actor':'admin','id':'1001'}");
    REJ(TMS_UNKNOWN_ACTOR, "{'cmd':'TakeOwnership','tenant':'globex','actor':'mid','id':'1001'}");
    ACC("{'cmd':'CreateExtension','tenant':'globex','actor':'boss','id':'1001'}");
    /* a globex command cannot reach acme's 1001 or managers */
    REJ(TMS_NOT_FOUND, "{'cmd':'Distribute','tenant':'globex','actor':'boss','kind':'extension','id':'1001','manager':'mid'}");
    ACC("{'cmd':'SetPermissions','tenant':'globex','actor':'boss','kind':'extension','id':'1001','enable':['reports.view'],'disable':[]}");
    assert_int_equal(tu_check(env, "globex", "extension", "1001", "reports.view"), 1);
    assert_int_equal(tu_check(env, "acme", "extension", "1001", "reports.view"), 0);
    assert_int_equal(tu_check(env, "globex", "admin", "boss", "billing.manage"), 1);
    assert_int_equal(tu_check(env, "acme", "admin", "boss", "billing.manage"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define X(t) cmocka_unit_test_setup_teardown(t, tu_setup_standard, tu_teardown)
        X(test_r19_a_manager_with_dependents_cannot_be_removed),
        X(test_r20_managers_are_added_by_the_admin_or_into_the_adders_subtree),
        X(test_r20_a_login_backs_at_most_one_manager),
        X(test_r21_every_menu_command_needs_its_permission),
        X(test_r22_extensions_are_created_and_deleted_by_the_admin),
        X(test_r22_queues_and_campaigns_are_deleted_by_a_manager_who_sees_them),
        X(test_r23_managers_are_removed_by_the_admin_or_from_above),
        X(test_tenants_are_isolated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
