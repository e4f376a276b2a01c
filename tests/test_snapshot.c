/* test_snapshot.c -- the canonical encoding of a whole state (snapshot.h).
 *
 * Streams from gen_log (several seeds and shapes) and the conformance
 * scenarios are folded into a state through the rules (tms_apply_record, as
 * replay does). At random points the state is encoded, decoded, encoded
 * again: the bytes must be identical, the decoded state's projection digest
 * the original's, and its derived parts (role holders, the R19 counters,
 * the logins' sides) the same. Then the SAME following records are applied
 * to both states: every verdict, message included, must agree, and the
 * encodings at the next point too -- what a decoded snapshot lost (a
 * request id, a holder, an owner, a parent) would show there.
 *
 * Hostile input: test_snapshot_hostile.c.
 *
 * TMS_SNAPSHOT_SEEDS=DIR writes small valid snapshots into DIR (seeds for
 * tests/fuzz/fuzz_snapshot.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include "testsnap.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------ */

static void assert_same_encoding(const tms_state *a, const tms_state *b, const char *where)
{
    msgpack_sbuffer x, y;
    msgpack_sbuffer_init(&x);
    msgpack_sbuffer_init(&y);
    ts_encode(a, &x);
    ts_encode(b, &y);
    if (x.size != y.size || memcmp(x.data, y.data, x.size))
        fail_msg("%s: the encodings differ (%zu and %zu bytes)", where, x.size, y.size);
    msgpack_sbuffer_destroy(&x);
    msgpack_sbuffer_destroy(&y);
}

/* The derived parts of b equal a's: R19 counters, logins' sides, holders. */
typedef struct pair {
    const tms_state *other;
    const tms_tenant *ot;
} pair;

static int same_account(void *ctx, tms_account *a)
{
    pair *p = ctx;
    tms_account *b = tms_tenant_account(p->ot, tms_account_kind(a), tms_account_id(a));
    size_t da[3], db[3];
    assert_non_null(b);
    tms_manager_dependents(a, &da[0], &da[1], &da[2]);
    tms_manager_dependents(b, &db[0], &db[1], &db[2]);
    assert_memory_equal(da, db, sizeof da);
    return 0;
}

static int same_login(void *ctx, tms_login *l)
{
    pair *p = ctx;
    tms_login *m = tms_tenant_login(p->ot, tms_login_id(l));
    assert_non_null(m);
    tms_account *x[2] = {tms_login_manager(l), tms_login_extension(l)}, *y[2] = {tms_login_manager(m), tms_login_extension(m)};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(x[i] == NULL, y[i] == NULL);
        if (x[i])
            assert_string_equal(tms_account_id(x[i]), tms_account_id(y[i]));
    }
    return 0;
}

static int same_role(void *ctx, tms_role *r)
{
    pair *p = ctx;
    tms_role *q = tms_tenant_role(p->ot, tms_role_id(r));
    size_t n, m;
    assert_non_null(q);
    tms_account **h = tms_role_holders(r, &n), **k = tms_role_holders(q, &m);
    assert_int_equal(n, m);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(tms_account_id(h[i]), tms_account_id(k[i]));
    free(h);
    free(k);
    return 0;
}

static int same_tenant(void *ctx, tms_tenant *t)
{
    pair p = {((pair *)ctx)->other, tms_state_tenant(((pair *)ctx)->other, tms_tenant_id(t))};
    assert_non_null(p.ot);
    assert_int_equal(tms_tenant_foreach_account(t, same_account, &p), 0);
    assert_int_equal(tms_tenant_foreach_login(t, same_login, &p), 0);
    assert_int_equal(tms_tenant_foreach_role(t, same_role, &p), 0);
    return 0;
}

/* Encode, decode, encode: the same bytes, the same projection, the same
 * derived parts. Returns the decoded state. */
static tms_state *round_trip(const tms_state *st, const char *seed_name)
{
    msgpack_sbuffer a, b;
    tms_state *back;
    char why[256];
    uint8_t d1[32], d2[32];
    tms_state_stats s1, s2;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    ts_encode(st, &a);
    if (tms_state_snapshot_decode(a.data, a.size, &back, why, sizeof why) != TMS_OK)
        fail_msg("a snapshot of %zu bytes does not decode: %s", a.size, why);
    ts_encode(back, &b);
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.data, b.data, a.size);
    for (int pattern = 0; pattern < 4; pattern++) {   /* shared by two takers: the same state */
        tms_state *split;
        if (ts_split_decode(a.data, a.size, pattern, &split, why, sizeof why) != TMS_OK)
            fail_msg("a snapshot of %zu bytes does not decode shared (%d): %s", a.size, pattern, why);
        ts_encode(split, &b);
        assert_int_equal(a.size, b.size);
        assert_memory_equal(a.data, b.data, a.size);
        tms_state_stats_get(split, &s2);
        tms_state_stats_get(st, &s1);
        assert_memory_equal(&s1, &s2, sizeof s1);
        tms_state_free(split);
        ts_encode(back, &b);
    }
    assert_int_equal(tms_state_projection_digest(st, 0, NULL, d1), TMS_OK);
    assert_int_equal(tms_state_projection_digest(back, 0, NULL, d2), TMS_OK);
    assert_memory_equal(d1, d2, 32);
    tms_state_stats_get(st, &s1);
    tms_state_stats_get(back, &s2);
    assert_memory_equal(&s1, &s2, sizeof s1);
    pair p = {back, NULL};
    assert_int_equal(tms_state_foreach_tenant(st, same_tenant, &p), 0);
    if (seed_name)
        ts_write_seed(seed_name, a.data, a.size);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
    return back;
}

/* Apply the same record to the state and its decoded twin: same verdict. */
static void apply_both(tms_state *st, tms_state *twin, const char *json, uint64_t seq)
{
    tms_verdict v1, v2;
    tms_err e1 = ts_apply_json(st, json, seq, &v1);
    if (!twin || e1 == TMS_INVALID_COMMAND)
        return;
    ts_apply_json(twin, json, seq, &v2);
    if (v1.code != v2.code || strcmp(v1.message, v2.message))
        fail_msg("seq %llu: %s (%s) on the state, %s (%s) on its decoded snapshot: %s", (unsigned long long)seq,
                 tms_err_name(v1.code), v1.message, tms_err_name(v2.code), v2.message, json);
}

/* ---- streams ---------------------------------------------------------------------- */

/* Fold a stream; at random points swap in a new decoded twin, which
 * follows the same records from there. */
static void stream(char **v, size_t n, uint64_t seed, size_t every, const char *seed_name)
{
    tms_state *st = tms_state_new(), *twin = NULL;
    size_t cut = ts_rng(&seed) % every, cuts = 0;
    assert_non_null(st);
    for (size_t i = 0; i <= n; i++) {
        if (i == cut || i == n) {
            char where[64];
            snprintf(where, sizeof where, "after %zu records", i);
            if (twin)
                assert_same_encoding(st, twin, where);
            tms_state_free(twin);
            twin = round_trip(st, seed_name && cuts < 3 ? seed_name : NULL);
            cut = i + 1 + ts_rng(&seed) % every;
            cuts++;
        }
        if (i < n)
            apply_both(st, twin, v[i], i + 1);
    }
    assert_true(cuts >= 2);
    tms_state_free(twin);
    tms_state_free(st);
}

static void gen_stream(const char *args, uint64_t seed)
{
    ts_lines l = ts_generate(args);
    stream(l.v, l.n, seed, l.n / 8 + 1, NULL);
    ts_lines_free(&l);
}

static void *second_taker(void *dg)
{
    tms_snapshot_decoding_run(dg, 1);
    return NULL;
}

/* The two takers on two threads at once (TSan watches them in CI), many
 * times: the state is the whole decode's, byte for byte, however the
 * tenants fell. */
static void test_decode_shared_by_two_threads(void **state)
{
    (void)state;
    msgpack_sbuffer a, b;
    tms_snapshot_index ix;
    char why[256];
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    ts_small_snapshot(&a, "--tenants 12 --extensions 1200 --seed 21", 100000);
    assert_int_equal(tms_state_snapshot_index(a.data, a.size, &ix, why, sizeof why), TMS_OK);
    assert_true(ix.ntenants >= 12);
    for (int round = 0; round < 20; round++) {
        tms_snapshot_decoding *dg;
        tms_state *st;
        pthread_t th;
        assert_int_equal(tms_snapshot_decoding_new(a.data, a.size, &ix, &dg), TMS_OK);
        assert_int_equal(pthread_create(&th, NULL, second_taker, dg), 0);
        tms_snapshot_decoding_run(dg, 0);
        pthread_join(th, NULL);
        if (tms_snapshot_decoding_end(dg, &st, why, sizeof why) != TMS_OK)
            fail_msg("round %d: %s", round, why);
        ts_encode(st, &b);
        assert_int_equal(b.size, a.size);
        assert_memory_equal(b.data, a.data, a.size);
        tms_state_free(st);
    }
    tms_snapshot_index_free(&ix);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
}

static void test_gen_log_small_tenants(void **state)
{
    (void)state;
    gen_stream("--tenants 6 --extensions 500 --seed 11", 7);
}

static void test_gen_log_one_big_tenant(void **state)
{
    (void)state;
    gen_stream("--tenants 1 --extensions 1500 --seed 29", 3);
}

static void test_gen_log_more_seeds(void **state)
{
    (void)state;
    gen_stream("--tenants 3 --extensions 400 --seed 5", 99);
    gen_stream("--tenants 12 --extensions 300 --seed 77", 1);
    gen_stream("--tenants 2 --extensions 200 --seed 4242", 12345);
}

/* The small stream scripts/fuzz seeds with, cut often: fuzz seeds too. */
static void test_gen_log_cut_often(void **state)
{
    (void)state;
    ts_lines l = ts_generate("--tenants 3 --extensions 60 --seed 2");
    stream(l.v, l.n, 5, 20, "gen");
    ts_lines_free(&l);
}

/* The "submit" commands of one conformance scenario file. */
static ts_lines scenario_commands(const char *path)
{
    ts_lines l = {0};
    char buf[1 << 16];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(buf, sizeof buf, f)) {
        json_t *line = json_loads(buf, 0, NULL), *cmd = line ? json_object_get(line, "submit") : NULL;
        if (cmd) {
            if (l.n == l.cap) {
                l.cap = l.cap ? 2 * l.cap : 64;
                l.v = realloc(l.v, l.cap * sizeof *l.v);
                assert_non_null(l.v);
            }
            l.v[l.n++] = json_dumps(cmd, JSON_COMPACT);
        }
        json_decref(line);
    }
    fclose(f);
    return l;
}

/* Every scenario of tests/conformance and ../shared/conformance/scenarios,
 * a twin decoded after every record. */
static void test_conformance_scenarios(void **state)
{
    (void)state;
    char dir[4200], path[8400];
    const char *here = __FILE__;   /* an absolute path under CMake */
    size_t files = 0;
    for (int k = 0; k < 2; k++) {
        snprintf(dir, sizeof dir, "%.*s/%s", (int)(strrchr(here, '/') - here), here,
                 k ? "../../shared/conformance/scenarios" : "conformance");
        DIR *dp = opendir(dir);
        for (struct dirent *de; dp && (de = readdir(dp));) {
            if (!strstr(de->d_name, ".jsonl"))
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            ts_lines l = scenario_commands(path);
            if (l.n)
                stream(l.v, l.n, files + 1, 1, files < 2 ? "scenario" : NULL);
            files++;
            for (size_t i = 0; i < l.n; i++)
                free(l.v[i]);
            free(l.v);
        }
        if (dp)
            closedir(dp);
    }
    assert_true(files >= 2);
}

/* Request ids of records naming a tenant that did not exist then are kept
 * apart, also once the tenant exists; their order puts "a" before "ab". */
static void test_request_ids_of_no_tenant(void **state)
{
    (void)state;
    static const char *const cmds[] = {
        "{\"cmd\":\"CreateExtension\",\"tenant\":\"ab\",\"actor\":\"admin\",\"id\":\"1\",\"request_id\":\"a\"}",
        "{\"cmd\":\"CreateExtension\",\"tenant\":\"a\",\"actor\":\"admin\",\"id\":\"1\",\"request_id\":\"z\"}",
        "{\"cmd\":\"CreateTenant\",\"tenant\":\"ab\",\"actor\":\"system\",\"admin\":\"admin\",\"request_id\":\"t\"}",
        "{\"cmd\":\"CreateExtension\",\"tenant\":\"ab\",\"actor\":\"admin\",\"id\":\"1\",\"request_id\":\"b\"}",
        "{\"cmd\":\"CreateExtension\",\"tenant\":\"ab\",\"actor\":\"admin\",\"id\":\"2\",\"request_id\":\"a\"}",
    };
    tms_state *st = tms_state_new();
    tms_verdict v;
    tms_request_seen seen;
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        ts_apply_json(st, cmds[i], i + 1, &v);
    tms_state *back = round_trip(st, "orphans");
    assert_int_equal(tms_state_request(back, "ab", "a", &seen), 1);
    assert_int_equal(seen.seq, 1);
    assert_int_equal(seen.verdict, TMS_UNKNOWN_TENANT);
    assert_int_equal(tms_state_request(back, "a", "z", &seen), 1);
    assert_int_equal(tms_state_request(back, "ab", "b", &seen), 1);
    assert_int_equal(seen.verdict, TMS_OK);
    assert_int_equal(tms_state_request(back, "ab", "t", &seen), 1);
    assert_int_equal(tms_state_request(back, "ab", "zz", &seen), 0);
    tms_state_free(back);
    tms_state_free(st);
}

/* Equal states, reached differently (a map that grew and shrank, another
 * creation order), encode to equal bytes and equal digests (test_state_digest checks what the digest is). */
static void test_equal_states_equal_bytes(void **state)
{
    (void)state;
    tms_state *a = tms_state_new(), *b = tms_state_new();
    tms_verdict v;
    char cmd[256];
    uint64_t seq = 1;
    ts_apply_json(a, "{\"cmd\":\"CreateTenant\",\"tenant\":\"t\",\"actor\":\"system\",\"admin\":\"admin\"}", seq++, &v);
    ts_apply_json(b, "{\"cmd\":\"CreateTenant\",\"tenant\":\"t\",\"actor\":\"system\",\"admin\":\"admin\"}", seq++, &v);
    for (int i = 0; i < 300; i++) {
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"CreateExtension\",\"tenant\":\"t\",\"actor\":\"admin\",\"id\":\"x%d\"}", i);
        assert_int_equal(ts_apply_json(a, cmd, seq++, &v), TMS_OK);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"DeleteExtension\",\"tenant\":\"t\",\"actor\":\"admin\",\"id\":\"x%d\"}", i);
        if (i % 50)
            assert_int_equal(ts_apply_json(a, cmd, seq++, &v), TMS_OK);
    }
    for (int i = 250; i >= 0; i -= 50) {
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"CreateExtension\",\"tenant\":\"t\",\"actor\":\"admin\",\"id\":\"x%d\"}", i);
        assert_int_equal(ts_apply_json(b, cmd, seq++, &v), TMS_OK);
    }
    assert_same_encoding(a, b, "grown and shrunk against built directly");
    msgpack_sbuffer sb;
    uint8_t d[32], want[32];
    msgpack_sbuffer_init(&sb);
    ts_encode(a, &sb);
    assert_int_equal(tms_state_snapshot_digest(sb.data, sb.size, d), TMS_OK);
    ts_encode(b, &sb);
    assert_int_equal(tms_state_snapshot_digest(sb.data, sb.size, want), TMS_OK);
    assert_memory_equal(d, want, 32);
    ts_apply_json(b, "{\"cmd\":\"CreateQueue\",\"tenant\":\"t\",\"actor\":\"admin\",\"id\":\"q\"}", seq++, &v);
    ts_encode(b, &sb);
    assert_int_equal(tms_state_snapshot_digest(sb.data, sb.size, want), TMS_OK);
    assert_memory_not_equal(d, want, 32);
    msgpack_sbuffer_destroy(&sb);
    tms_state_free(a);
    tms_state_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_log_small_tenants),
        cmocka_unit_test(test_decode_shared_by_two_threads),
        cmocka_unit_test(test_gen_log_one_big_tenant),
        cmocka_unit_test(test_gen_log_more_seeds),
        cmocka_unit_test(test_gen_log_cut_often),
        cmocka_unit_test(test_conformance_scenarios),
        cmocka_unit_test(test_request_ids_of_no_tenant),
        cmocka_unit_test(test_equal_states_equal_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
