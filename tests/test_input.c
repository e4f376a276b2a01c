/* test_input.c -- bad input gets INVALID_COMMAND with a reason and changes
 * nothing: malformed JSON, non-objects, unknown or duplicate keys, wrong
 * types, bad ids, oversize input, deep nesting, binary garbage; and random
 * bytes never crash the parser. Also the msgpack side: a canonical encoding
 * decodes back to the same command. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "cmd.h"
#include "record.h"
#include "testutil.h"

static tms_err parse(const char *text, size_t len, char *why, size_t whylen)
{
    tms_cmd c;
    tms_cmd_init(&c);
    tms_err err = tms_cmd_from_json(&c, text, len, why, whylen);
    tms_cmd_free(&c);
    return err;
}

static void expect_invalid(const char *json, const char *reason_part)
{
    char why[320] = "";
    tms_err err = parse(json, strlen(json), why, sizeof why);
    if (err != TMS_INVALID_COMMAND)
        fail_msg("accepted as well-formed: %s", json);
    if (reason_part && !strstr(why, reason_part))
        fail_msg("reason for %s is '%s', expected to mention '%s'", json, why, reason_part);
}

static void test_input_malformed_and_non_object_json(void **state)
{
    (void)state;
    expect_invalid("{not json", "malformed JSON");
    expect_invalid("", "malformed JSON");
    expect_invalid("[1,2]", "object");
    expect_invalid("\"CreateTenant\"", "object");
    expect_invalid("null", "object");
    expect_invalid("42", "object");
    expect_invalid("{\"cmd\":\"CreateTenant\"} trailing", "malformed JSON");
    expect_invalid("{\"cmd\":\"CreateTenant\",\"tenant\":\"a\\u0000b\",\"actor\":\"system\",\"admin\":\"x\"}", NULL);
}

static void test_input_unknown_missing_duplicate_fields(void **state)
{
    (void)state;
    expect_invalid("{\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1\"}", "missing field 'cmd'");
    expect_invalid("{\"cmd\":\"Frobnicate\",\"tenant\":\"acme\",\"actor\":\"admin\"}", "unknown cmd");
    expect_invalid("{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1\",\"x\":1}",
                   "unknown field 'x'");
    expect_invalid("{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\"}", "missing field 'id'");
    expect_invalid("{\"cmd\":\"CreateExtension\",\"actor\":\"admin\",\"id\":\"1\"}", "missing field 'tenant'");
    expect_invalid("{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1\",\"id\":\"2\"}", NULL);
    expect_invalid("{\"cmd\":\"AddManager\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"m\"}", "exactly one");
    expect_invalid("{\"cmd\":\"AddManager\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"m\",\"login\":\"l\","
                   "\"new_login\":{\"id\":\"l2\"}}", "exactly one");
    expect_invalid("{\"cmd\":\"AddManager\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"m\","
                   "\"new_login\":{\"name\":\"no id\"}}", "needs an 'id'");
    expect_invalid("{\"cmd\":\"AddManager\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"m\","
                   "\"new_login\":{\"id\":\"l\",\"phone\":\"1\"}}", "unknown key");
    /* the extra field in the wrong command */
    expect_invalid("{\"cmd\":\"CreateQueue\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"q\",\"login\":\"l\"}",
                   "unknown field 'login'");
}

static void test_input_wrong_types_and_values(void **state)
{
    (void)state;
    expect_invalid("{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":1001}", "string");
    expect_invalid("{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":null}", "string");
    expect_invalid("{\"cmd\":\"CreateExtension\",\"tenant\":[\"acme\"],\"actor\":\"admin\",\"id\":\"1\"}", "string");
    expect_invalid("{\"cmd\":\"SetFeatures\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1\",\"enable\":\"softphone\","
                   "\"disable\":[]}", "array");
    expect_invalid("{\"cmd\":\"SetFeatures\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1\",\"enable\":[1],"
                   "\"disable\":[]}", "string");
    expect_invalid("{\"cmd\":\"SetFeatures\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1\",\"enable\":[\"a\"],"
                   "\"disable\":[\"a\"]}", "both");
    expect_invalid("{\"cmd\":\"Distribute\",\"tenant\":\"acme\",\"actor\":\"admin\",\"kind\":\"manager\",\"id\":\"1\","
                   "\"manager\":\"m\"}", "extension, queue or campaign");
    expect_invalid("{\"cmd\":\"CreateRole\",\"tenant\":\"acme\",\"actor\":\"admin\",\"role\":\"r\",\"account_type\":\"queue\","
                   "\"permissions\":[]}", "manager or extension");
    expect_invalid("{\"cmd\":\"CreateLogin\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"l\",\"name\":\"tab\\there\"}",
                   "control character");
    expect_invalid("{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"1\",\"request_id\":\"\"}",
                   NULL);
}

static void test_input_ids_are_1_to_64_safe_bytes(void **state)
{
    (void)state;
    char json[512], id[80];
    const char *bad[] = {"", "a b", "a/b", "a\\\"b", "\xc3\xa9t\xc3\xa9", "a:b", "a*b", "a\\u0001b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(json, sizeof json, "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"%s\"}", bad[i]);
        expect_invalid(json, "must be an id");
    }
    memset(id, 'x', 65);
    id[65] = '\0';
    snprintf(json, sizeof json, "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"%s\"}", id);
    expect_invalid(json, "must be an id");
    id[64] = '\0';
    snprintf(json, sizeof json, "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"%s\"}", id);
    char why[320];
    assert_int_equal(parse(json, strlen(json), why, sizeof why), TMS_OK);
    assert_true(tms_is_id("A-z.0_9@x", 9));
}

static void test_input_oversize_and_deep_nesting(void **state)
{
    (void)state;
    size_t n = TMS_LINE_MAX + 10;
    char *big = malloc(n + 1), why[320];
    memset(big, ' ', n);
    memcpy(big, "{\"cmd\":\"CreateTenant\"}", 22);
    big[n] = '\0';
    assert_int_equal(parse(big, n, why, sizeof why), TMS_INVALID_COMMAND);
    assert_non_null(strstr(why, "exceeds"));
    /* nesting: 100 000 brackets are refused, not recursed into */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 64);
    size_t k = (size_t)sprintf(deep, "{\"cmd\":\"CreateTenant\",\"x\":");
    for (size_t i = 0; i < depth; i++)
        deep[k++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    assert_int_equal(parse(deep, k, why, sizeof why), TMS_INVALID_COMMAND);
    /* moderately deep but within the JSON parser: refused by our depth limit or as unknown field */
    k = (size_t)sprintf(deep, "{\"cmd\":\"CreateTenant\",\"tenant\":\"t\",\"actor\":\"system\",\"admin\":\"a\",\"x\":");
    for (size_t i = 0; i < 100; i++)
        deep[k++] = '[';
    for (size_t i = 0; i < 100; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    assert_int_equal(parse(deep, k, why, sizeof why), TMS_INVALID_COMMAND);
    free(big);
    free(deep);
}

static void test_input_binary_garbage_never_crashes(void **state)
{
    (void)state;
    char buf[512], why[320];
    uint32_t seed = 12345;
    const char *base = "{\"cmd\":\"SetPermissions\",\"tenant\":\"acme\",\"actor\":\"admin\",\"kind\":\"extension\","
                       "\"id\":\"1001\",\"enable\":[\"reports.view\"],\"disable\":[]}";
    size_t blen = strlen(base);
    for (int round = 0; round < 20000; round++) {
        size_t len;
        seed = seed * 1103515245u + 12345u;
        if (round % 2) {   /* pure noise */
            len = (seed >> 8) % sizeof buf;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                buf[i] = (char)(seed >> 16);
            }
        } else {   /* a valid command with a few bytes flipped */
            memcpy(buf, base, blen);
            len = blen;
            for (int f = 0; f < 3; f++) {
                seed = seed * 1103515245u + 12345u;
                buf[(seed >> 8) % len] = (char)(seed >> 20);
            }
        }
        tms_err err = parse(buf, len, why, sizeof why);
        assert_true(err == TMS_OK || err == TMS_INVALID_COMMAND);
    }
}

static void test_input_canonical_msgpack_round_trip(void **state)
{
    (void)state;
    const char *json = "{\"origin\":\"10.0.0.1\",\"cmd\":\"AddManager\",\"tenant\":\"acme\",\"actor\":\"admin\","
                       "\"id\":\"m\",\"new_login\":{\"email\":\"m@acme.example\",\"id\":\"l\"},\"parent\":null,"
                       "\"request_id\":\"r 1\"}";
    tms_record a = {0}, b = {0};
    char why[320];
    msgpack_sbuffer sb, sb2;
    tms_cmd_init(&a.cmd);
    tms_cmd_init(&b.cmd);
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&sb2);
    assert_int_equal(tms_cmd_from_json(&a.cmd, json, strlen(json), why, sizeof why), TMS_OK);
    a.time = 1234567890123456789;
    a.verdict = TMS_FORBIDDEN;
    snprintf(a.principal, sizeof a.principal, "frontend");   /* issue 8, item 10: who, beside the actor */
    snprintf(a.peer, sizeof a.peer, "uid:1000");
    assert_int_equal(tms_record_encode(&a, &sb), TMS_OK);
    assert_int_equal(tms_record_decode(&b, sb.data, sb.size, why, sizeof why), TMS_OK);
    assert_int_equal(b.time, a.time);
    assert_int_equal(b.verdict, TMS_FORBIDDEN);
    assert_int_equal(b.version, TMS_SCHEMA_VERSION);
    assert_int_equal(b.cmd.type, TMS_CMD_ADD_MANAGER);
    assert_true(b.cmd.f[TMS_F_PARENT].present && b.cmd.f[TMS_F_PARENT].is_null);
    assert_string_equal(b.cmd.f[TMS_F_NEW_LOGIN].items[2].str, "m@acme.example");
    assert_string_equal(b.cmd.f[TMS_F_REQUEST_ID].str, "r 1");
    assert_string_equal(b.cmd.f[TMS_F_ORIGIN].str, "10.0.0.1");
    assert_string_equal(b.principal, "frontend");
    assert_string_equal(b.peer, "uid:1000");
    /* canonical: encoding the decoded record gives the same bytes */
    assert_int_equal(tms_record_encode(&b, &sb2), TMS_OK);
    assert_int_equal(sb.size, sb2.size);
    assert_memory_equal(sb.data, sb2.data, sb.size);
    /* a truncated or garbled payload is refused, never half-read */
    for (size_t cut = 0; cut < sb.size; cut++)
        assert_int_equal(tms_record_decode(&b, sb.data, cut, why, sizeof why), TMS_E_CORRUPT);
    /* bytes after the record's map are left, as every version has (frames in logs decode as they did) */
    msgpack_sbuffer_write(&sb, "\xc0", 1);
    assert_int_equal(tms_record_decode(&b, sb.data, sb.size, why, sizeof why), TMS_OK);
    /* nesting deeper than msgpack-c's stack: corrupt, never "out of memory" (which msgpack-c calls it) */
    uint8_t deep[64];
    size_t n = 0;
    deep[n++] = 0x81;   /* {"x": [[[ ... 40 deep ]]]} */
    deep[n++] = 0xa1;
    deep[n++] = 'x';
    while (n < 43)
        deep[n++] = 0x91;
    deep[n++] = 0xc0;
    assert_int_equal(tms_record_decode(&b, deep, n, why, sizeof why), TMS_E_CORRUPT);
    msgpack_zone *z = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
    assert_non_null(z);
    assert_int_equal(tms_record_decode_in(&b, deep, n, z, why, sizeof why), TMS_E_CORRUPT);
    assert_int_equal(tms_record_decode_in(&b, sb.data, sb.size, z, why, sizeof why), TMS_OK);   /* the zone again */
    assert_string_equal(b.cmd.f[TMS_F_REQUEST_ID].str, "r 1");
    msgpack_zone_free(z);
    tms_cmd_free(&a.cmd);
    tms_cmd_free(&b.cmd);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&sb2);
}

/* tms_cmd_digest is BLAKE2b-128 of the command's packing without request_id
 * and origin, whatever the packing's length: those below, at and across the
 * 512 bytes it hashes at a time (AssignRole with 1-40 ids of 6-45 bytes),
 * against the packing made whole and hashed at once (what it was before it
 * hashed as it packed: snapshots keep these digests). */
static void test_input_command_digest_is_of_the_packing(void **state)
{
    (void)state;
    char json[4096], ids[3000], why[320];
    uint8_t got[TMS_CMD_DIGEST_LEN], again[TMS_CMD_DIGEST_LEN], want[TMS_CMD_DIGEST_LEN];
    int across = 0;
    for (int k = 1; k <= 40; k++) {
        size_t used = 0;
        for (int i = 0; i < k; i++)   /* ids of 5 + k bytes: "i0007xxx..." */
            used += (size_t)snprintf(ids + used, sizeof ids - used, "%s\"i%04d%.*s\"", i ? "," : "", i, k,
                                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        const char *fmt = "{\"cmd\":\"AssignRole\",\"tenant\":\"acme\",\"actor\":\"admin\",\"role\":\"r\","
                          "\"ids\":[%s]%s}";
        tms_cmd with, bare;
        msgpack_sbuffer sb;
        msgpack_packer pk;
        tms_cmd_init(&with);
        tms_cmd_init(&bare);
        snprintf(json, sizeof json, fmt, ids, ",\"request_id\":\"r-1\",\"origin\":\"10.0.0.1\"");
        assert_int_equal(tms_cmd_from_json(&with, json, strlen(json), why, sizeof why), TMS_OK);
        snprintf(json, sizeof json, fmt, ids, "");
        assert_int_equal(tms_cmd_from_json(&bare, json, strlen(json), why, sizeof why), TMS_OK);
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        assert_int_equal(tms_cmd_pack(&bare, &pk), TMS_OK);
        across += sb.size > 512;
        crypto_generichash(want, sizeof want, (const unsigned char *)sb.data, sb.size, NULL, 0);
        assert_int_equal(tms_cmd_digest(&with, got), TMS_OK);
        assert_int_equal(tms_cmd_digest(&bare, again), TMS_OK);
        assert_memory_equal(got, want, sizeof want);
        assert_memory_equal(again, want, sizeof want);
        msgpack_sbuffer_destroy(&sb);
        tms_cmd_free(&with);
        tms_cmd_free(&bare);
    }
    assert_true(across > 20);   /* packings beyond the hashing's buffer were among them, some twice over */
}

static void test_input_rejected_input_changes_nothing(void **state)
{
    tu_env *env = *state;
    uint8_t before[32], after[32];
    tu_digest(env, before);
    uint64_t last = tms_engine_last_seq(env->eng);
    assert_int_equal(tu_submit(env, "{'cmd':'CreateExtension','tenant':'acme','actor':'admin','id':'bad id'}"), TMS_INVALID_COMMAND);
    assert_int_equal(tu_submit(env, "{'cmd':'CreateExtension','tenant':'acme','actor':'admin','id':'1','zz':0}"), TMS_INVALID_COMMAND);
    assert_int_equal(tms_engine_last_seq(env->eng), last);
    tu_digest(env, after);
    assert_memory_equal(before, after, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_malformed_and_non_object_json),
        cmocka_unit_test(test_input_unknown_missing_duplicate_fields),
        cmocka_unit_test(test_input_wrong_types_and_values),
        cmocka_unit_test(test_input_ids_are_1_to_64_safe_bytes),
        cmocka_unit_test(test_input_oversize_and_deep_nesting),
        cmocka_unit_test(test_input_binary_garbage_never_crashes),
        cmocka_unit_test(test_input_canonical_msgpack_round_trip),
        cmocka_unit_test(test_input_command_digest_is_of_the_packing),
        cmocka_unit_test_setup_teardown(test_input_rejected_input_changes_nothing, tu_setup_standard, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
