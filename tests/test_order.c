/* test_order.c -- the checking order of SPEC section 3: a command with
 * several faults gets the code of the earliest check, so verdicts are
 * predictable. Each test pairs two faults and expects the earlier one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"

#define T "'tenant':'acme'"

static void test_order_malformed_before_unknown_tenant(void **state)
{
    tu_env *env = *state;
    REJ(TMS_INVALID_COMMAND, "{'cmd':'CreateExtension','tenant':'nope','actor':'admin','id':'bad id'}");
    REJ(TMS_INVALID_COMMAND, "{'cmd':'CreateExtension','tenant':'nope','actor':'admin','id':'1','extra':1}");
}

static void test_order_unknown_tenant_before_unknown_actor(void **state)
{
    tu_env *env = *state;
    REJ(TMS_UNKNOWN_TENANT, "{'cmd':'CreateExtension','tenant':'nope','actor':'ghost','id':'1001'}");
}

static void test_order_unknown_actor_before_not_found(void **state)
{
    tu_env *env = *state;
    REJ(TMS_UNKNOWN_ACTOR, "{'cmd':'DeleteExtension'," T ",'actor':'ghost','id':'9999'}");
}

static void test_order_not_found_and_exists_before_forbidden(void **state)
{
    tu_env *env = *state;
    /* 'other' lacks tms_users.permissions, and 9999 does not exist */
    REJ(TMS_NOT_FOUND, "{'cmd':'SetPermissions'," T ",'actor':'other','kind':'extension','id':'9999','enable':[],'disable':[]}");
    REJ(TMS_ALREADY_EXISTS, "{'cmd':'CreateExtension'," T ",'actor':'top','id':'1001'}");
}

static void test_order_forbidden_before_unknown_permission(void **state)
{
    tu_env *env = *state;
    REJ(TMS_FORBIDDEN, "{'cmd':'SetPermissions'," T ",'actor':'mid','kind':'manager','id':'top','enable':['no.such'],'disable':[]}");
}

static void test_order_unknown_permission_before_wrong_account_type(void **state)
{
    tu_env *env = *state;
    REJ(TMS_UNKNOWN_PERMISSION, "{'cmd':'SetPermissions'," T ",'actor':'admin','kind':'extension','id':'1001','enable':['billing.view','no.such'],'disable':[]}");
}

static void test_order_wrong_account_type_before_not_owner_and_ceiling(void **state)
{
    tu_env *env = *state;
    REJ(TMS_WRONG_ACCOUNT_TYPE, "{'cmd':'SetPermissions'," T ",'actor':'low','kind':'extension','id':'1001','enable':['billing.view'],'disable':[]}");
}

static void test_order_not_owner_before_ceiling(void **state)
{
    tu_env *env = *state;
    REJ(TMS_NOT_OWNER, "{'cmd':'SetPermissions'," T ",'actor':'low','kind':'extension','id':'1001','enable':['calls.barge'],'disable':[]}");
}

static void test_order_not_visible_before_not_distributed(void **state)
{
    tu_env *env = *state;
    REJ(TMS_NOT_VISIBLE, "{'cmd':'Undistribute'," T ",'actor':'top','kind':'extension','id':'1001','manager':'mid'}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define X(t) cmocka_unit_test_setup_teardown(t, tu_setup_standard, tu_teardown)
        X(test_order_malformed_before_unknown_tenant),
        X(test_order_unknown_tenant_before_unknown_actor),
        X(test_order_unknown_actor_before_not_found),
        X(test_order_not_found_and_exists_before_forbidden),
        X(test_order_forbidden_before_unknown_permission),
        X(test_order_unknown_permission_before_wrong_account_type),
        X(test_order_wrong_account_type_before_not_owner_and_ceiling),
        X(test_order_not_owner_before_ceiling),
        X(test_order_not_visible_before_not_distributed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
