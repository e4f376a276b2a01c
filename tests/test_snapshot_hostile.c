/* test_snapshot_hostile.c -- the snapshot decode (snapshot.h) on hostile
 * input: every cut, every flipped bit, random splices of real snapshots,
 * and hand-written streams (JSON turned into the msgpack sequence) breaking
 * one rule each. A decode either refuses with TMS_E_CORRUPT or gives a
 * state that re-encodes to exactly its input; the decode two takers share
 * says the same as the whole one.
 *
 * TMS_SNAPSHOT_SEEDS=DIR writes the hand-written ones that decode into DIR
 * (seeds for tests/fuzz/fuzz_snapshot.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "testsnap.h"
#include "testutil.h"

/* st encodes to exactly buf[0..len). */
static void encodes_to(const tms_state *st, const void *buf, size_t len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ts_encode(st, &sb);
    assert_int_equal(sb.size, len);
    assert_memory_equal(sb.data, buf, len);
    msgpack_sbuffer_destroy(&sb);
}

/* Decode: refused with TMS_E_CORRUPT and a reason, or accepted and
 * re-encoding to exactly the input; the decode shared by two takers, in
 * each pattern, refusing and accepting the same. 1 when accepted. */
static int decode_strictly(const void *buf, size_t len)
{
    tms_state *st = (tms_state *)1, *split;
    char why[256] = "unchanged", swhy[256];
    tms_err err = tms_state_snapshot_decode(buf, len, &st, why, sizeof why);
    for (int pattern = 0; pattern < 4; pattern++) {
        strcpy(swhy, "unchanged");
        tms_err serr = ts_split_decode(buf, len, pattern, &split, swhy, sizeof swhy);
        if (serr != err)
            fail_msg("%zu bytes: the whole decode says %s (%s), shared (%d) %s (%s)", len, tms_strerror(err), why,
                     pattern, tms_strerror(serr), swhy);
        if (serr == TMS_E_CORRUPT)
            assert_true(swhy[0] && strcmp(swhy, "unchanged"));
        if (serr == TMS_OK)
            encodes_to(split, buf, len);
        tms_state_free(split);
    }
    if (err == TMS_E_CORRUPT) {
        assert_null(st);
        assert_true(why[0] && strcmp(why, "unchanged"));
        return 0;
    }
    assert_int_equal(err, TMS_OK);
    encodes_to(st, buf, len);
    tms_state_free(st);
    return 1;
}

static void test_every_cut_and_every_flipped_bit(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    size_t accepted = 0;
    msgpack_sbuffer_init(&sb);
    ts_small_snapshot(&sb, "--tenants 2 --extensions 30 --seed 8", 140);
    uint8_t *buf = malloc(sb.size);
    for (size_t cut = 0; cut < sb.size; cut++) {
        memcpy(buf, sb.data, cut);
        assert_int_equal(decode_strictly(buf, cut), 0);
    }
    for (size_t bit = 0; bit < 8 * sb.size; bit++) {
        memcpy(buf, sb.data, sb.size);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        accepted += (size_t)decode_strictly(buf, sb.size);
    }
    print_message("%zu-byte snapshot: every cut refused; %zu of %zu flipped bits decode (to what they say)\n",
                  sb.size, accepted, 8 * sb.size);
    free(buf);
    msgpack_sbuffer_destroy(&sb);
}

/* Random splices: bytes replaced, inserted, removed, copied from elsewhere. */
static void test_random_splices(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    uint64_t seed = 17;
    size_t accepted = 0, rounds = 20000;
    msgpack_sbuffer_init(&sb);
    ts_small_snapshot(&sb, "--tenants 3 --extensions 60 --seed 2", 400);
    uint8_t *buf = malloc(sb.size + 64);
    for (size_t r = 0; r < rounds; r++) {
        size_t len = sb.size, at = ts_rng(&seed) % len, k = 1 + ts_rng(&seed) % 8;
        memcpy(buf, sb.data, len);
        switch (ts_rng(&seed) % 4) {
        case 0:
            for (size_t i = 0; i < k && at + i < len; i++)
                buf[at + i] = (uint8_t)ts_rng(&seed);
            break;
        case 1:
            memmove(buf + at + k, buf + at, len - at);
            for (size_t i = 0; i < k; i++)
                buf[at + i] = (uint8_t)ts_rng(&seed);
            len += k;
            break;
        case 2:
            k = k < len - at ? k : len - at;
            memmove(buf + at, buf + at + k, len - at - k);
            len -= k;
            break;
        default: {
            size_t from = ts_rng(&seed) % len;
            for (size_t i = 0; i < k && at + i < len && from + i < len; i++)
                buf[at + i] = (uint8_t)sb.data[from + i];
        }
        }
        accepted += (size_t)decode_strictly(buf, len);
    }
    print_message("%zu random splices of a %zu-byte snapshot: %zu decode (to what they say)\n", rounds, sb.size,
                  accepted);
    free(buf);
    msgpack_sbuffer_destroy(&sb);
}

/* JSON to the msgpack sequence: the top array's items are the stream's
 * objects; a string "bin:HEX" is bin, other strings str, integers uint. */
static void pack_json(msgpack_packer *pk, const json_t *j)
{
    const char *key;
    const json_t *v;
    size_t i;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        msgpack_pack_map(pk, json_object_size(j));
        json_object_foreach((json_t *)j, key, v) {
            msgpack_pack_str(pk, strlen(key));
            msgpack_pack_str_body(pk, key, strlen(key));
            pack_json(pk, v);
        }
        break;
    case JSON_ARRAY:
        msgpack_pack_array(pk, json_array_size(j));
        json_array_foreach(j, i, v)
            pack_json(pk, v);
        break;
    case JSON_STRING:
        if (!strncmp(json_string_value(j), "bin:", 4)) {
            uint8_t b[64];
            size_t n;
            assert_int_equal(sodium_hex2bin(b, sizeof b, json_string_value(j) + 4, json_string_length(j) - 4, NULL,
                                            &n, NULL), 0);
            msgpack_pack_bin(pk, n);
            msgpack_pack_bin_body(pk, b, n);
        } else {
            msgpack_pack_str(pk, json_string_length(j));
            msgpack_pack_str_body(pk, json_string_value(j), json_string_length(j));
        }
        break;
    case JSON_INTEGER:
        if (json_integer_value(j) < 0)
            msgpack_pack_int64(pk, json_integer_value(j));
        else
            msgpack_pack_uint64(pk, (uint64_t)json_integer_value(j));
        break;
    case JSON_TRUE: msgpack_pack_true(pk); break;
    case JSON_FALSE: msgpack_pack_false(pk); break;
    default: msgpack_pack_nil(pk); break;
    }
}

static void stream_of(msgpack_sbuffer *sb, const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    msgpack_packer pk;
    size_t i;
    json_t *v;
    if (!j)
        fail_msg("bad test JSON: %s: %s", jerr.text, text);
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    json_array_foreach(j, i, v)
        pack_json(&pk, v);
    json_decref(j);
}

#define HEAD "{\"tmsperm-state\":1}, "
#define DIG "\"bin:00112233445566778899aabbccddeeff\""
/* One tenant t (admin "admin") with the given counts and parts. */
#define T(def, r, l, a, k, d, q) "[\"t\",\"admin\"," def "," #r "," #l "," #a "," #k "," #d "," #q "]"
#define TRAILER(p, f) ", [" p "," f "]"
#define P3 "[\"tms_users.managers\",\"tms_users.permissions\"]"

static const struct hostile {
    const char *json, *why;   /* why: a part of the expected reason; NULL: a valid stream */
} hostile[] = {
    {"[" HEAD "0, 0" TRAILER("[]", "[]") "]", NULL},
    {"[" HEAD "0, 1, " T("null", 0, 0, 2, 1, 0, 0) ", [\"m\",\"a\",0,0,0,null,null], [\"m\",\"b\",0,0,0,null,null],"
     "[\"m\",\"a\",\"b\"]" TRAILER("[]", "[]") "]", NULL},
    {"[" HEAD "0, 1, " T("\"r\"", 1, 1, 3, 1, 1, 1) ", [\"r\",\"e\",1024,\"admin\"], [\"l\",\"L\",\"l@x\"],"
     "[\"e\",\"1\",1024,3,2,\"r\",\"l\"], [\"m\",\"a\",3,0,1,null,\"l\"], [\"q\",\"q\",0,0,0,null,null],"
     "[\"e\",\"1\",\"a\"], [\"e\",\"1\",[\"a\"]], [\"x\",5,\"accepted\"," DIG "]"
     TRAILER("[\"tms_users.managers\",\"tms_users.permissions\",\"tms_users.roles\",\"tms_users.distribution\","
             "\"queues.manage\",\"campaigns.manage\",\"billing.view\",\"billing.manage\",\"reports.view\","
             "\"reports.export\",\"wallboard.view\"]", "[\"call_recording\",\"voicemail_to_email\"]") "]", NULL},
    {"[{\"tmsperm-state\":2}, 0, 0" TRAILER("[]", "[]") "]", "another format"},
    {"[{\"tmsperm\":1}, 0, 0" TRAILER("[]", "[]") "]", "not a tmsperm state snapshot"},
    {"[[1], 0, 0" TRAILER("[]", "[]") "]", "not a tmsperm state snapshot"},
    {"[" HEAD "0, 0" TRAILER("[]", "[]") ", null]", "after the end"},
    {"[" HEAD "0, 0]", "cut short"},
    {"[" HEAD "0, 4294967296" TRAILER("[]", "[]") "]", "not an array of 9"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 2, 2, 0, 0) ", [\"m\",\"a\",0,0,0,null,null], [\"m\",\"b\",0,0,0,null,null],"
     "[\"m\",\"a\",\"b\"], [\"m\",\"b\",\"a\"]" TRAILER("[]", "[]") "]", "above itself"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 3, 3, 0, 0) ", [\"m\",\"a\",0,0,0,null,null], [\"m\",\"b\",0,0,0,null,null],"
     "[\"m\",\"c\",0,0,0,null,null], [\"m\",\"a\",\"b\"], [\"m\",\"b\",\"c\"], [\"m\",\"c\",\"a\"]" TRAILER("[]", "[]") "]",
     "above itself"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 1, 0, 0) ", [\"m\",\"a\",0,0,0,null,null], [\"m\",\"a\",\"a\"]"
     TRAILER("[]", "[]") "]", "cannot be under"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 1, 0, 0) ", [\"e\",\"1\",0,0,0,null,null], [\"e\",\"1\",\"m\"]"
     TRAILER("[]", "[]") "]", "cannot be under"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"x\",\"1\",0,0,0,null,null]" TRAILER("[]", "[]") "]",
     "not a kind"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 2, 0, 0, 0) ", [\"e\",\"1\",0,0,0,null,null], [\"e\",\"1\",0,0,0,null,null]"
     TRAILER("[]", "[]") "]", "strict byte order"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 2, 0, 0, 0) ", [\"e\",\"2\",0,0,0,null,null], [\"e\",\"1\",0,0,0,null,null]"
     TRAILER("[]", "[]") "]", "strict byte order"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 2, 0, 0, 0) ", [\"m\",\"1\",0,0,0,null,null], [\"e\",\"1\",0,0,0,null,null]"
     TRAILER("[]", "[]") "]", "strict byte order"},
    {"[" HEAD "0, 2, " T("null", 0, 0, 0, 0, 0, 0) ", " T("null", 0, 0, 0, 0, 0, 0) TRAILER("[]", "[]") "]",
     "strict byte order"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"e\",\"1\",0,0,2,\"nope\",null]" TRAILER("[]", "[]") "]",
     "no extension role"},
    {"[" HEAD "0, 1, " T("null", 1, 0, 1, 0, 0, 0) ", [\"r\",\"m\",0,\"admin\"], [\"e\",\"1\",0,0,2,\"r\",null]"
     TRAILER("[]", "[]") "]", "no extension role"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"e\",\"1\",0,0,3,null,null]" TRAILER("[]", "[]") "]",
     "role tag"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"e\",\"1\",0,0,0,\"r\",null]" TRAILER("[]", "[]") "]",
     "role tag"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"q\",\"1\",0,0,1,null,null]" TRAILER("[]", "[]") "]",
     "role tag"},
    {"[" HEAD "0, 1, " T("null", 0, 1, 2, 0, 0, 0) ", [\"l\",\"\",\"\"], [\"m\",\"a\",0,0,0,null,\"l\"],"
     "[\"m\",\"b\",0,0,0,null,\"l\"]" TRAILER("[]", "[]") "]", "backs two"},
    {"[" HEAD "0, 1, " T("null", 0, 1, 1, 0, 0, 0) ", [\"l\",\"\",\"\"], [\"q\",\"a\",0,0,0,null,\"l\"]"
     TRAILER("[]", "[]") "]", "cannot be"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"e\",\"1\",0,0,0,null,\"l\"]" TRAILER("[]", "[]") "]",
     "cannot be"},
    {"[" HEAD "0, 1, " T("null", 0, 1, 0, 0, 0, 0) ", [\"l\",\"a\\u0001b\",\"\"]" TRAILER("[]", "[]") "]",
     "control characters"},
    {"[" HEAD "0, 1, " T("null", 0, 1, 0, 0, 0, 0) ", [\"l\",\"a\\u0000b\",\"\"]" TRAILER("[]", "[]") "]",
     "control characters"},
    {"[" HEAD "0, 1, [\"t t\",\"admin\",null,0,0,0,0,0,0]" TRAILER("[]", "[]") "]", "not an id"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 2, 0, 1, 0) ", [\"e\",\"1\",0,0,0,null,null], [\"m\",\"a\",0,0,0,null,null],"
     "[\"e\",\"1\",[]]" TRAILER("[]", "[]") "]", "non-empty"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 2, 0, 1, 0) ", [\"e\",\"1\",0,0,0,null,null], [\"e\",\"2\",0,0,0,null,null],"
     "[\"e\",\"1\",[\"2\"]]" TRAILER("[]", "[]") "]", "no manager"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 3, 0, 1, 0) ", [\"e\",\"1\",0,0,0,null,null], [\"m\",\"a\",0,0,0,null,null],"
     "[\"m\",\"b\",0,0,0,null,null], [\"e\",\"1\",[\"b\",\"a\"]]" TRAILER("[]", "[]") "]", "strict byte order"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 2, 0, 1, 0) ", [\"m\",\"a\",0,0,0,null,null], [\"m\",\"b\",0,0,0,null,null],"
     "[\"m\",\"a\",[\"b\"]]" TRAILER("[]", "[]") "]", "not a kind of object"},
    {"[" HEAD "0, 1, " T("\"r\"", 0, 0, 0, 0, 0, 0) TRAILER("[]", "[]") "]", "default role"},
    {"[" HEAD "0, 1, " T("\"r\"", 1, 0, 0, 0, 0, 0) ", [\"r\",\"m\",0,\"admin\"]" TRAILER("[]", "[]") "]",
     "default role"},
    {"[" HEAD "0, 1, " T("null", 1, 0, 0, 0, 0, 0) ", [\"r\",\"q\",0,\"admin\"]" TRAILER("[]", "[]") "]",
     "not a kind of account"},
    {"[" HEAD "0, 1, " T("null", 1, 0, 0, 0, 0, 0) ", [\"r\",\"e\",3,\"admin\"]"
     TRAILER("[\"tms_users.managers\",\"tms_users.roles\"]", "[]") "]", "another catalogue"},
    {"[" HEAD "0, 1, " T("null", 1, 0, 0, 0, 0, 0) ", [\"r\",\"e\",1,\"admin\"]" TRAILER(P3, "[]") "]",
     "those used"},
    {"[" HEAD "0, 1, " T("null", 1, 0, 0, 0, 0, 0) ", [\"r\",\"e\",3,\"admin\"]" TRAILER("[]", "[]") "]",
     "those used"},
    {"[" HEAD "0, 1, " T("null", 1, 0, 0, 0, 0, 0) ", [\"r\",\"e\",1048576,\"admin\"]" TRAILER("[]", "[]") "]",
     "no name"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"e\",\"1\",0,256,0,null,null]" TRAILER("[]", "[]") "]",
     "no name"},
    {"[" HEAD "1, [\"t\",\"r\",1,\"MAYBE\"," DIG "], 0" TRAILER("[]", "[]") "]", "verdict"},
    {"[" HEAD "1, [\"t\",\"r\",1,\"OK\"," DIG "], 0" TRAILER("[]", "[]") "]", "verdict"},
    {"[" HEAD "1, [\"t\",\"r\",1,\"accepted\",\"bin:0011\"], 0" TRAILER("[]", "[]") "]", "digest"},
    {"[" HEAD "1, [\"t\",\"\",1,\"accepted\"," DIG "], 0" TRAILER("[]", "[]") "]", "control characters"},
    {"[" HEAD "2, [\"t\",\"r\",1,\"accepted\"," DIG "], [\"t\",\"r\",2,\"accepted\"," DIG "], 0"
     TRAILER("[]", "[]") "]", "strict byte order"},
    {"[" HEAD "2, [\"tt\",\"a\",1,\"accepted\"," DIG "], [\"t\",\"z\",2,\"accepted\"," DIG "], 0"
     TRAILER("[]", "[]") "]", "strict byte order"},
    {"[" HEAD "1, [\"t\",\"r\",1,\"accepted\"," DIG "], 1, " T("null", 0, 0, 0, 0, 0, 1) ", [\"r\",2,\"accepted\"," DIG "]"
     TRAILER("[]", "[]") "]", "there twice"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 0, 0, 0, 1) ", [\"r\",-2,\"accepted\"," DIG "]" TRAILER("[]", "[]") "]",
     "shortest form"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 0, 0, 0, 1) ", [\"r\",\"2\",\"accepted\"," DIG "]" TRAILER("[]", "[]") "]",
     "seq"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"e\",\"1\",0,true,0,null,null]" TRAILER("[]", "[]") "]",
     "shortest form"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"e\",[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],0,0,0,null,null]"
     TRAILER("[]", "[]") "]", "too deep"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"e\",[[1]],0,0,0,null,null]" TRAILER("[]", "[]") "]",
     "too deep"},
    {"[" HEAD "0, 1, " T("null", 0, 0, 1, 0, 0, 0) ", [\"e\",[1],0,0,0,null,null]" TRAILER("[]", "[]") "]",
     "not a string"},
    /* counts that lie: the decoder sizes its indexes from them, never beyond what the bytes left could hold */
    {"[" HEAD "0, 1, " T("null", 4294967295, 4294967295, 4294967295, 0, 0, 4294967295) TRAILER("[]", "[]") "]",
     "not an array of 4"},
    {"[" HEAD "4294967295, 0" TRAILER("[]", "[]") "]", "not an array of 5"},
};

static void test_hand_written_streams(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        tms_state *st = NULL;
        char why[256];
        stream_of(&sb, hostile[i].json);
        tms_err err = tms_state_snapshot_decode(sb.data, sb.size, &st, why, sizeof why);
        if (!hostile[i].why) {
            if (err != TMS_OK)
                fail_msg("case %zu should decode: %s", i, why);
            assert_int_equal(decode_strictly(sb.data, sb.size), 1);
            ts_write_seed("hand", sb.data, sb.size);
            tms_state_free(st);
            continue;
        }
        if (err != TMS_E_CORRUPT || !strstr(why, hostile[i].why))
            fail_msg("case %zu: %s (%s), expected TMS_E_CORRUPT with \"%s\"", i, tms_err_name(err), why,
                     hostile[i].why);
        assert_null(st);
        assert_int_equal(decode_strictly(sb.data, sb.size), 0);   /* and refused shared by two takers */
    }
    msgpack_sbuffer_destroy(&sb);
}

/* Numbers, strings and containers in other than their shortest form are
 * refused: the bytes would not be the state's digest. */
static void test_not_shortest_form(void **state)
{
    (void)state;
    static const uint8_t minimal[] = {0x81, 0xad, 't', 'm', 's', 'p', 'e', 'r', 'm', '-', 's', 't', 'a', 't', 'e', 0x01,
                                      0x00, 0x00, 0x92, 0x90, 0x90};
    static const uint8_t longer_count[] = {0x81, 0xad, 't', 'm', 's', 'p', 'e', 'r', 'm', '-', 's', 't', 'a', 't', 'e',
                                           0x01, 0xcc, 0x00, 0x00, 0x92, 0x90, 0x90};
    static const uint8_t longer_array[] = {0x81, 0xad, 't', 'm', 's', 'p', 'e', 'r', 'm', '-', 's', 't', 'a', 't', 'e',
                                           0x01, 0x00, 0x00, 0xdc, 0x00, 0x02, 0x90, 0x90};
    static const uint8_t str8_key[] = {0x81, 0xd9, 0x0d, 't', 'm', 's', 'p', 'e', 'r', 'm', '-', 's', 't', 'a', 't',
                                       'e', 0x01, 0x00, 0x00, 0x92, 0x90, 0x90};
    char why[256];
    tms_state *st;
    assert_int_equal(decode_strictly(minimal, sizeof minimal), 1);
    assert_int_equal(tms_state_snapshot_decode(longer_count, sizeof longer_count, &st, why, sizeof why), TMS_E_CORRUPT);
    assert_non_null(strstr(why, "canonical"));
    assert_int_equal(tms_state_snapshot_decode(longer_array, sizeof longer_array, &st, why, sizeof why), TMS_E_CORRUPT);
    assert_int_equal(tms_state_snapshot_decode(str8_key, sizeof str8_key, &st, why, sizeof why), TMS_E_CORRUPT);
    assert_int_equal(tms_state_snapshot_decode(minimal, 0, &st, why, sizeof why), TMS_E_CORRUPT);
    /* a container announcing more than the bytes left never reaches msgpack-c */
    static const uint8_t huge[] = {0x81, 0xad, 't', 'm', 's', 'p', 'e', 'r', 'm', '-', 's', 't', 'a', 't', 'e', 0x01,
                                   0x00, 0x01, 0xdd, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(tms_state_snapshot_decode(huge, sizeof huge, &st, why, sizeof why), TMS_E_CORRUPT);
    assert_non_null(strstr(why, "within the bytes left"));
    ts_write_seed("minimal", minimal, sizeof minimal);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_cut_and_every_flipped_bit),
        cmocka_unit_test(test_random_splices),
        cmocka_unit_test(test_hand_written_streams),
        cmocka_unit_test(test_not_shortest_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
