/* test_schema.c -- the vocabulary, iterated from the schema: every command
 * of schemas/tmsperm.json is accepted at least once, every domain error code
 * is produced at least once, and every catalogue entry can be granted and
 * checked. A command or code added to the schema without a sample fails here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "cmd.h"
#include "testutil.h"

#define T "'tenant':'acme'"

/* Run in order on the standard tenant; each line is (expected code, command). */
static const struct { tms_err code; const char *json; } script[] = {
    {TMS_OK, "{'cmd':'CreateTenant','tenant':'globex','actor':'system','admin':'boss'}"},
    {TMS_TENANT_EXISTS, "{'cmd':'CreateTenant','tenant':'globex','actor':'system','admin':'boss'}"},
    {TMS_UNKNOWN_TENANT, "{'cmd':'CreateQueue','tenant':'initech','actor':'admin','id':'q'}"},
    {TMS_UNKNOWN_ACTOR, "{'cmd':'CreateQueue'," T ",'actor':'ghost','id':'q'}"},
    {TMS_OK, "{'cmd':'CreateLogin'," T ",'actor':'admin','id':'l-1','name':'One','email':'one@acme.example'}"},
    {TMS_OK, "{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001'}"},
    {TMS_ALREADY_EXISTS, "{'cmd':'CreateExtension'," T ",'actor':'admin','id':'2001'}"},
    {TMS_OK, "{'cmd':'LinkLogin'," T ",'actor':'admin','extension':'2001','login':'l-1'}"},
    {TMS_LOGIN_IN_USE, "{'cmd':'LinkLogin'," T ",'actor':'admin','extension':'1001','login':'l-1'}"},
    {TMS_OK, "{'cmd':'CreateQueue'," T ",'actor':'top','id':'q1'}"},
    {TMS_OK, "{'cmd':'CreateCampaign'," T ",'actor':'top','id':'c1'}"},
    {TMS_NOT_FOUND, "{'cmd':'DeleteQueue'," T ",'actor':'top','id':'q404'}"},
    {TMS_FORBIDDEN, "{'cmd':'DeleteQueue'," T ",'actor':'mid','id':'q1'}"},
    {TMS_OK, "{'cmd':'AddManager'," T ",'actor':'top','id':'m1','new_login':{'id':'l-m1'}}"},
    {TMS_OK, "{'cmd':'Distribute'," T ",'actor':'admin','kind':'extension','id':'2001','manager':'m1'}"},
    {TMS_NOT_VISIBLE, "{'cmd':'Distribute'," T ",'actor':'top','kind':'extension','id':'2001','manager':'top'}"},
    {TMS_NOT_DISTRIBUTED, "{'cmd':'TakeOwnership'," T ",'actor':'top','id':'2001'}"},
    {TMS_OK, "{'cmd':'TakeOwnership'," T ",'actor':'admin','id':'2001','manager':'m1'}"},
    {TMS_OK, "{'cmd':'Distribute'," T ",'actor':'admin','kind':'extension','id':'2001','manager':'top'}"},
    {TMS_ALREADY_OWNED, "{'cmd':'TakeOwnership'," T ",'actor':'top','id':'2001'}"},
    {TMS_OWNED_BY_TARGET, "{'cmd':'Undistribute'," T ",'actor':'admin','kind':'extension','id':'2001','manager':'m1'}"},
    {TMS_HAS_DEPENDENTS, "{'cmd':'RemoveManager'," T ",'actor':'admin','id':'m1'}"},
    {TMS_OK, "{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'2001','enable':['reports.view'],'disable':[]}"},
    {TMS_NOT_OWNER, "{'cmd':'SetPermissions'," T ",'actor':'top','kind':'extension','id':'2001','enable':[],'disable':['reports.view']}"},
    {TMS_OK, "{'cmd':'SetFeatures'," T ",'actor':'admin','id':'2001','enable':['softphone'],'disable':[]}"},
    {TMS_UNKNOWN_FEATURE, "{'cmd':'SetFeatures'," T ",'actor':'admin','id':'2001','enable':['jetpack'],'disable':[]}"},
    {TMS_UNKNOWN_PERMISSION, "{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'2001','enable':['jetpack'],'disable':[]}"},
    {TMS_WRONG_ACCOUNT_TYPE, "{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'2001','enable':['billing.view'],'disable':[]}"},
    {TMS_PERMISSION_CEILING, "{'cmd':'CreateRole'," T ",'actor':'mid','role':'r1','account_type':'extension','permissions':['calls.barge']}"},
    {TMS_OK, "{'cmd':'CreateRole'," T ",'actor':'admin','role':'r1','account_type':'extension','permissions':['calls.barge']}"},
    {TMS_OK, "{'cmd':'UpdateRole'," T ",'actor':'admin','role':'r1','permissions':['reports.view']}"},
    {TMS_OK, "{'cmd':'AssignRole'," T ",'actor':'admin','role':'r1','ids':['2001']}"},
    {TMS_OK, "{'cmd':'SetDefaultRole'," T ",'actor':'admin','role':'r1'}"},
    {TMS_OK, "{'cmd':'DeleteRole'," T ",'actor':'admin','role':'r1'}"},
    {TMS_OK, "{'cmd':'ReleaseOwnership'," T ",'actor':'admin','id':'2001'}"},
    {TMS_OK, "{'cmd':'Undistribute'," T ",'actor':'admin','kind':'extension','id':'2001','manager':'m1'}"},
    {TMS_OK, "{'cmd':'DeleteExtension'," T ",'actor':'admin','id':'2001'}"},
    {TMS_OK, "{'cmd':'DeleteQueue'," T ",'actor':'top','id':'q1'}"},
    {TMS_OK, "{'cmd':'DeleteCampaign'," T ",'actor':'top','id':'c1'}"},
    {TMS_OK, "{'cmd':'RemoveManager'," T ",'actor':'top','id':'m1'}"},
    {TMS_INVALID_COMMAND, "{'cmd':'Teleport'," T ",'actor':'admin'}"},
    {TMS_OK, "{'cmd':'CreateQueue'," T ",'actor':'admin','id':'q9','request_id':'rq-9','origin':'a'}"},
    {TMS_OK, "{'cmd':'CreateQueue'," T ",'actor':'admin','id':'q9','request_id':'rq-9','origin':'b'}"},   /* a retry */
    {TMS_REQUEST_ID_REUSED, "{'cmd':'DeleteQueue'," T ",'actor':'admin','id':'q9','request_id':'rq-9'}"},
};

static void test_schema_every_command_accepted_and_every_error_produced(void **state)
{
    tu_env *env = *state;
    int accepted[TMS_CMD_COUNT] = {0}, produced[TMS_ERR_COUNT] = {0};
    for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
        tms_err got = tu_submit(env, "%s", script[i].json);
        if (got != script[i].code)
            fail_msg("script line %zu: expected %s, got %s: %s", i, tms_err_name(script[i].code),
                     tms_err_name(got), env->last.message);
        produced[got] = 1;
        if (got == TMS_OK) {
            char name[64] = "";
            sscanf(script[i].json, "{'cmd':'%63[A-Za-z]'", name);
            for (int c = 0; c < TMS_CMD_COUNT; c++)
                if (!strcmp(tms_cmd_defs[c].name, name))
                    accepted[c] = 1;
        }
    }
    for (int c = 0; c < TMS_CMD_COUNT; c++) {
        if (tms_cmd_defs[c].engine_only) {   /* never input: refused at every edge (test_durability writes it) */
            char json[160], why[200];
            tms_cmd cmd;
            tms_cmd_init(&cmd);
            snprintf(json, sizeof json, "{\"cmd\":\"%s\",\"tenant\":\"system\",\"actor\":\"system\","
                     "\"reason\":\"r\",\"evidence\":\"e\"}", tms_cmd_defs[c].name);
            assert_int_equal(tms_cmd_from_json(&cmd, json, strlen(json), why, sizeof why), TMS_OK);
            assert_false(tms_cmd_is_input(&cmd, why, sizeof why));
            assert_non_null(strstr(why, "engine only"));
            tms_cmd_free(&cmd);
            continue;
        }
        if (!accepted[c])
            fail_msg("command %s of the schema is never accepted by this test", tms_cmd_defs[c].name);
    }
    for (int e = 1; e < TMS_ERR_COUNT; e++)
        if (tms_err_is_domain[e] && !produced[e])
            fail_msg("error code %s of the schema is never produced by this test", tms_err_codes[e]);
}

/* Every permission: extension-type ones are granted and checked on an
 * extension; manager-only ones are refused there and granted to a manager. */
static void test_schema_every_catalogue_entry_grants_and_checks(void **state)
{
    tu_env *env = *state;
    for (int p = 0; p < TMS_PERM_COUNT; p++) {
        const char *name = tms_permissions[p].name;
        assert_int_equal(tu_check(env, "acme", "manager", "other", name), p == TMS_P_TMS_USERS_DISTRIBUTION);
        if (tms_permissions[p].extension) {
            ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'1001','enable':['%s'],'disable':[]}", name);
            assert_int_equal(tu_check(env, "acme", "extension", "1001", name), 1);
        } else {
            REJ(TMS_WRONG_ACCOUNT_TYPE, "{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'1001','enable':['%s'],'disable':[]}", name);
            assert_int_equal(tu_check(env, "acme", "extension", "1001", name), 0);
        }
        ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'manager','id':'other','enable':['%s'],'disable':[]}", name);
        assert_int_equal(tu_check(env, "acme", "manager", "other", name), 1);
        ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'manager','id':'other','enable':[],'disable':['%s']}", name);
        if (p != TMS_P_TMS_USERS_DISTRIBUTION)
            assert_int_equal(tu_check(env, "acme", "manager", "other", name), 0);
        else
            ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'manager','id':'other','enable':['%s'],'disable':[]}", name);
        assert_int_equal(tu_check(env, "acme", "admin", "admin", name), 1);
    }
    for (int f = 0; f < TMS_FEATURE_COUNT; f++) {
        const char *name = tms_features[f].name;
        assert_int_equal(tu_check(env, "acme", "extension", "1002", name), 0);
        ACC("{'cmd':'SetFeatures'," T ",'actor':'admin','id':'1002','enable':['%s'],'disable':[]}", name);
        assert_int_equal(tu_check(env, "acme", "extension", "1002", name), 1);
        assert_int_equal(tu_check(env, "acme", "manager", "top", name), 0);   /* features are for extensions */
    }
    /* fail closed */
    assert_int_equal(tu_check(env, "acme", "extension", "1001", "no.such"), 0);
    assert_int_equal(tu_check(env, "acme", "extension", "9999", "reports.view"), 0);
    assert_int_equal(tu_check(env, "nope", "extension", "1001", "reports.view"), 0);
    assert_int_equal(tu_check(env, "acme", "queue", "1001", "reports.view"), 0);
    assert_int_equal(tu_check(env, "acme", "admin", "top", "reports.view"), 0);
}

static void test_schema_catalogue_lookup_is_exact(void **state)
{
    (void)state;
    for (int p = 0; p < TMS_PERM_COUNT; p++)
        assert_int_equal(tms_permission_index(tms_permissions[p].name), p);
    for (int f = 0; f < TMS_FEATURE_COUNT; f++)
        assert_int_equal(tms_feature_index(tms_features[f].name), f);
    assert_int_equal(tms_permission_index("reports.vie"), -1);
    assert_int_equal(tms_permission_index("reports.view "), -1);
    assert_int_equal(tms_permission_index(""), -1);
    assert_int_equal(tms_feature_index("reports.view"), -1);
    for (int e = 0; e < TMS_ERR_COUNT; e++)
        assert_string_equal(tms_err_name((tms_err)e), tms_err_codes[e]);
    assert_string_equal(tms_err_name((tms_err)999), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_every_command_accepted_and_every_error_produced,
                                        tu_setup_standard, tu_teardown),
        cmocka_unit_test_setup_teardown(test_schema_every_catalogue_entry_grants_and_checks,
                                        tu_setup_standard, tu_teardown),
        cmocka_unit_test(test_schema_catalogue_lookup_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
