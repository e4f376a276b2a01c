/* test_rules_distribution.c -- R1-R7: distribution is visibility, who may
 * distribute, automatic distribution, one owner, Put Under Management, the
 * Admin's override, release. Each test fails when its rule is broken. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "query.h"
#include "testutil.h"

#define T "'tenant':'acme'"

static void distribute(tu_env *env, const char *actor, const char *kind, const char *id, const char *mgr)
{
    ACC("{'cmd':'Distribute'," T ",'actor':'%s','kind':'%s','id':'%s','manager':'%s'}", actor, kind, id, mgr);
}

static char *visible_json(tu_env *env, const char *mgr)
{
    json_t *out;
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    assert_int_equal(tms_query_visible(tx, TMS_AT_LATEST, "acme", mgr, &out), 0);
    tms_txn_abort(tx);
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return s;
}

static void test_r1_distribution_makes_visible_to_that_manager_only(void **state)
{
    tu_env *env = *state;
    distribute(env, "admin", "extension", "1001", "mid");
    assert_true(tu_distributed(env, 'e', "1001", "mid"));
    assert_false(tu_distributed(env, 'e', "1001", "top"));   /* not even to the manager above */
    char *v = visible_json(env, "mid");
    assert_string_equal(v, "[{\"kind\":\"extension\",\"id\":\"1001\"}]");
    free(v);
    v = visible_json(env, "low");
    assert_string_equal(v, "[]");
    free(v);
}

static void test_r1_many_managers_see_one_object(void **state)
{
    tu_env *env = *state;
    distribute(env, "admin", "extension", "1001", "mid");
    distribute(env, "admin", "extension", "1001", "other");
    ACC("{'cmd':'CreateQueue'," T ",'actor':'admin','id':'q1'}");
    distribute(env, "admin", "queue", "q1", "other");
    assert_true(tu_distributed(env, 'e', "1001", "mid"));
    assert_true(tu_distributed(env, 'e', "1001", "other"));
    char *v = visible_json(env, "other");
    assert_string_equal(v, "[{\"kind\":\"extension\",\"id\":\"1001\"},{\"kind\":\"queue\",\"id\":\"q1\"}]");
    free(v);
}

static void test_r2_manager_distributes_to_itself_or_its_subtree(void **state)
{
    tu_env *env = *state;
    distribute(env, "admin", "extension", "1001", "top");
    distribute(env, "top", "extension", "1001", "mid");
    distribute(env, "top", "extension", "1001", "low");
    assert_true(tu_distributed(env, 'e', "1001", "low"));
    REJ(TMS_FORBIDDEN, "{'cmd':'Distribute'," T ",'actor':'top','kind':'extension','id':'1001','manager':'other'}");
    assert_false(tu_distributed(env, 'e', "1001", "other"));
    /* low sees 1001 and may distribute it to itself (a no-op) but not upwards */
    distribute(env, "low", "extension", "1001", "low");
    REJ(TMS_FORBIDDEN, "{'cmd':'Distribute'," T ",'actor':'low','kind':'extension','id':'1001','manager':'mid'}");
}

static void test_r2_manager_cannot_distribute_what_it_does_not_see(void **state)
{
    tu_env *env = *state;
    REJ(TMS_NOT_VISIBLE, "{'cmd':'Distribute'," T ",'actor':'top','kind':'extension','id':'1002','manager':'mid'}");
    assert_false(tu_distributed(env, 'e', "1002", "mid"));
}

static void test_r2_admin_distributes_any_object_to_any_manager(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'CreateCampaign'," T ",'actor':'admin','id':'c1'}");
    distribute(env, "admin", "campaign", "c1", "low");
    distribute(env, "admin", "extension", "1003", "other");
    assert_true(tu_distributed(env, 'c', "c1", "low"));
    assert_true(tu_distributed(env, 'e', "1003", "other"));
    REJ(TMS_NOT_FOUND, "{'cmd':'Distribute'," T ",'actor':'admin','kind':'queue','id':'nope','manager':'low'}");
    REJ(TMS_NOT_FOUND, "{'cmd':'Distribute'," T ",'actor':'admin','kind':'extension','id':'1001','manager':'nobody'}");
}

static void test_r2_undistribute_same_authority_and_owned_by_target(void **state)
{
    tu_env *env = *state;
    distribute(env, "admin", "extension", "1001", "mid");
    distribute(env, "admin", "extension", "1001", "other");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'mid','id':'1001'}");
    REJ(TMS_OWNED_BY_TARGET, "{'cmd':'Undistribute'," T ",'actor':'admin','kind':'extension','id':'1001','manager':'mid'}");
    assert_true(tu_distributed(env, 'e', "1001", "mid"));
    /* other sees 1001 but mid is not in its subtree */
    REJ(TMS_FORBIDDEN, "{'cmd':'Undistribute'," T ",'actor':'other','kind':'extension','id':'1001','manager':'mid'}");
    REJ(TMS_NOT_DISTRIBUTED, "{'cmd':'Undistribute'," T ",'actor':'admin','kind':'extension','id':'1001','manager':'low'}");
    ACC("{'cmd':'ReleaseOwnership'," T ",'actor':'mid','id':'1001'}");
    ACC("{'cmd':'Undistribute'," T ",'actor':'admin','kind':'extension','id':'1001','manager':'mid'}");
    assert_false(tu_distributed(env, 'e', "1001", "mid"));
    ACC("{'cmd':'Undistribute'," T ",'actor':'other','kind':'extension','id':'1001','manager':'other'}");
    assert_false(tu_distributed(env, 'e', "1001", "other"));
}

static void test_r2_distribution_needs_the_menu_permission(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'AddManager'," T ",'actor':'admin','id':'bare','new_login':{'id':'l-bare'}}");
    distribute(env, "admin", "extension", "1001", "bare");
    REJ(TMS_FORBIDDEN, "{'cmd':'Distribute'," T ",'actor':'bare','kind':'extension','id':'1001','manager':'bare'}");
    REJ(TMS_FORBIDDEN, "{'cmd':'TakeOwnership'," T ",'actor':'bare','id':'1001'}");
}

static void test_r3_queue_or_campaign_created_by_a_manager_is_distributed_to_it(void **state)
{
    tu_env *env = *state;
    ACC("{'cmd':'CreateQueue'," T ",'actor':'top','id':'q1'}");
    ACC("{'cmd':'CreateCampaign'," T ",'actor':'top','id':'c1'}");
    ACC("{'cmd':'CreateQueue'," T ",'actor':'admin','id':'q2'}");
    assert_true(tu_distributed(env, 'q', "q1", "top"));
    assert_true(tu_distributed(env, 'c', "c1", "top"));
    char *v = visible_json(env, "top");
    assert_string_equal(v, "[{\"kind\":\"campaign\",\"id\":\"c1\"},{\"kind\":\"queue\",\"id\":\"q1\"}]");
    free(v);
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'CreateQueue'," T ",'actor':'top','id':'q1'}");
}

static void test_r5_take_ownership_requires_distribution(void **state)
{
    tu_env *env = *state;
    REJ(TMS_NOT_DISTRIBUTED, "{'cmd':'TakeOwnership'," T ",'actor':'mid','id':'1001'}");
    assert_string_equal(tu_account(env, 'e', "1001").link, "");
    distribute(env, "admin", "extension", "1001", "mid");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'mid','id':'1001'}");
    assert_string_equal(tu_account(env, 'e', "1001").link, "mid");
}

static void test_r4_r5_one_owner_already_owned_names_the_owner(void **state)
{
    tu_env *env = *state;
    distribute(env, "admin", "extension", "1001", "mid");
    distribute(env, "admin", "extension", "1001", "other");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'mid','id':'1001'}");
    REJ(TMS_ALREADY_OWNED, "{'cmd':'TakeOwnership'," T ",'actor':'other','id':'1001'}");
    assert_non_null(strstr(env->last.message, "mid"));
    assert_string_equal(tu_account(env, 'e', "1001").link, "mid");
    /* taking what you already own is accepted and changes nothing */
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'mid','id':'1001'}");
    assert_string_equal(tu_account(env, 'e', "1001").link, "mid");
}

static void test_r5_a_manager_cannot_take_for_another(void **state)
{
    tu_env *env = *state;
    distribute(env, "admin", "extension", "1001", "low");
    REJ(TMS_FORBIDDEN, "{'cmd':'TakeOwnership'," T ",'actor':'mid','id':'1001','manager':'low'}");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'low','id':'1001','manager':'low'}");
}

static void test_r6_admin_overrides_ownership_within_distribution(void **state)
{
    tu_env *env = *state;
    distribute(env, "admin", "extension", "1001", "mid");
    distribute(env, "admin", "extension", "1001", "other");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'mid','id':'1001'}");
    REJ(TMS_NOT_DISTRIBUTED, "{'cmd':'TakeOwnership'," T ",'actor':'admin','id':'1001','manager':'low'}");
    REJ(TMS_FORBIDDEN, "{'cmd':'TakeOwnership'," T ",'actor':'admin','id':'1001'}");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'admin','id':'1001','manager':'other'}");
    assert_string_equal(tu_account(env, 'e', "1001").link, "other");
    /* R4: mid no longer owns it, so only the distribution keeps mid from removal */
    ACC("{'cmd':'Undistribute'," T ",'actor':'admin','kind':'extension','id':'1001','manager':'mid'}");
    ACC("{'cmd':'RemoveManager'," T ",'actor':'admin','id':'low'}");
    ACC("{'cmd':'RemoveManager'," T ",'actor':'admin','id':'mid'}");
}

static void test_r7_owner_or_above_or_admin_releases_permissions_stay(void **state)
{
    tu_env *env = *state;
    distribute(env, "admin", "extension", "1001", "low");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'low','id':'1001'}");
    ACC("{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'1001','enable':['reports.view'],'disable':[]}");
    REJ(TMS_NOT_OWNER, "{'cmd':'ReleaseOwnership'," T ",'actor':'other','id':'1001'}");
    ACC("{'cmd':'ReleaseOwnership'," T ",'actor':'mid','id':'1001'}");   /* mid is above low */
    tms_account_rec a = tu_account(env, 'e', "1001");
    assert_string_equal(a.link, "");
    assert_int_equal(a.perms, tu_perms("reports.view"));
    REJ(TMS_NOT_OWNER, "{'cmd':'ReleaseOwnership'," T ",'actor':'admin','id':'1001'}");   /* nobody owns it */
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'low','id':'1001'}");
    ACC("{'cmd':'ReleaseOwnership'," T ",'actor':'low','id':'1001'}");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'low','id':'1001'}");
    ACC("{'cmd':'ReleaseOwnership'," T ",'actor':'admin','id':'1001'}");
    assert_string_equal(tu_account(env, 'e', "1001").link, "");
}

static void test_r7_a_manager_below_the_owner_cannot_release(void **state)
{
    tu_env *env = *state;
    distribute(env, "admin", "extension", "1001", "top");
    ACC("{'cmd':'TakeOwnership'," T ",'actor':'top','id':'1001'}");
    REJ(TMS_NOT_OWNER, "{'cmd':'ReleaseOwnership'," T ",'actor':'low','id':'1001'}");
    assert_string_equal(tu_account(env, 'e', "1001").link, "top");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define X(t) cmocka_unit_test_setup_teardown(t, tu_setup_standard, tu_teardown)
        X(test_r1_distribution_makes_visible_to_that_manager_only),
        X(test_r1_many_managers_see_one_object),
        X(test_r2_manager_distributes_to_itself_or_its_subtree),
        X(test_r2_manager_cannot_distribute_what_it_does_not_see),
        X(test_r2_admin_distributes_any_object_to_any_manager),
        X(test_r2_undistribute_same_authority_and_owned_by_target),
        X(test_r2_distribution_needs_the_menu_permission),
        X(test_r3_queue_or_campaign_created_by_a_manager_is_distributed_to_it),
        X(test_r5_take_ownership_requires_distribution),
        X(test_r4_r5_one_owner_already_owned_names_the_owner),
        X(test_r5_a_manager_cannot_take_for_another),
        X(test_r6_admin_overrides_ownership_within_distribution),
        X(test_r7_owner_or_above_or_admin_releases_permissions_stay),
        X(test_r7_a_manager_below_the_owner_cannot_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
