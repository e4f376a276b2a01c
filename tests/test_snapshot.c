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
 * Hostile input: every cut, every flipped bit, random splices of real
 * snapshots, and hand-written streams (JSON turned into the msgpack
 * sequence) breaking one rule each. A decode either refuses with
 * TMS_E_CORRUPT or gives a state that re-encodes to exactly its input.
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
#include "replay.h"
#include "snapshot.h"
#include "testutil.h"
#include "teststream.h"

static const char *seed_dir;   /* TMS_SNAPSHOT_SEEDS */
static int seeds_written;

static void write_seed(const char *name, const void *buf, size_t len)
{
    char path[4200];
    if (!seed_dir || len > 65536)   /* scripts/fuzz runs with -max_len=65536 */
        return;
    snprintf(path, sizeof path, "%s/%s-%d", seed_dir, name, seeds_written++);
    assert_int_equal(tu_write_file(path, buf, len), 0);
}

/* ---- helpers ------------------------------------------------------------------ */

/* tms_state_snapshot_encode_to's writer: the pieces appended to sb, and a failure once more than fail_after
 * bytes came (SIZE_MAX: never). */
typedef struct pieces {
    msgpack_sbuffer sb;
    size_t fail_after, calls;
} pieces;

static int take_piece(void *data, const char *buf, size_t len)
{
    pieces *p = data;
    p->calls++;
    if (p->sb.size + len > p->fail_after)
        return -1;
    return msgpack_sbuffer_write(&p->sb, buf, len);
}

/* Every encoding here is also made piece by piece (tms_state_snapshot_encode_to, what tms-audit verify compares
 * with a kept snapshot as it comes): the same bytes; and a writer that fails half way makes it TMS_E_NOMEM. */
static void encode(const tms_state *st, msgpack_sbuffer *sb)
{
    pieces p = {.fail_after = SIZE_MAX};
    assert_int_equal(tms_state_snapshot_encode(st, sb), TMS_OK);
    assert_true(sb->size > 0);
    msgpack_sbuffer_init(&p.sb);
    assert_int_equal(tms_state_snapshot_encode_to(st, take_piece, &p), TMS_OK);
    assert_true(p.sb.size == sb->size && !memcmp(p.sb.data, sb->data, sb->size));
    assert_true(p.calls > 1);
    msgpack_sbuffer_clear(&p.sb);
    p.fail_after = sb->size / 2;
    assert_int_equal(tms_state_snapshot_encode_to(st, take_piece, &p), TMS_E_NOMEM);
    msgpack_sbuffer_destroy(&p.sb);
}

static void assert_same_encoding(const tms_state *a, const tms_state *b, const char *where)
{
    msgpack_sbuffer x, y;
    msgpack_sbuffer_init(&x);
    msgpack_sbuffer_init(&y);
    encode(a, &x);
    encode(b, &y);
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

/* The decode shared by two takers (snapshot.h), interleaved on this thread
 * by pattern: 0 the first takes every tenant, 1 the second does (the first
 * only the part before the tenants), 2 they alternate a tenant at a time,
 * the second first, 3 each takes one and stops (the end takes the rest).
 * TMS_E_CORRUPT also when the index refuses the bytes. */
static tms_err split_decode(const void *buf, size_t len, int pattern, tms_state **out, char *why, size_t whylen)
{
    tms_snapshot_index ix;
    tms_snapshot_decoding *dg;
    *out = NULL;
    tms_err err = tms_state_snapshot_index(buf, len, &ix, why, whylen);
    if (err)
        return err;
    if ((err = tms_snapshot_decoding_new(buf, len, &ix, &dg))) {
        tms_snapshot_index_free(&ix);
        return err;
    }
    if (pattern == 0) {
        tms_snapshot_decoding_run(dg, 0);
        tms_snapshot_decoding_run(dg, 1);
    } else if (pattern == 1) {
        tms_snapshot_decoding_run(dg, 1);
        tms_snapshot_decoding_run(dg, 0);
    } else if (pattern == 2) {
        for (size_t i = 0; i <= ix.ntenants; i++) {
            tms__snapshot_decoding_run_some(dg, 1, 1);
            tms__snapshot_decoding_run_some(dg, 0, 1);
        }
    } else {
        tms__snapshot_decoding_run_some(dg, 0, 1);
        tms__snapshot_decoding_run_some(dg, 1, 1);
    }
    err = tms_snapshot_decoding_end(dg, out, why, whylen);
    tms_snapshot_index_free(&ix);
    return err;
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
    encode(st, &a);
    if (tms_state_snapshot_decode(a.data, a.size, &back, why, sizeof why) != TMS_OK)
        fail_msg("a snapshot of %zu bytes does not decode: %s", a.size, why);
    encode(back, &b);
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.data, b.data, a.size);
    for (int pattern = 0; pattern < 4; pattern++) {   /* shared by two takers: the same state */
        tms_state *split;
        if (split_decode(a.data, a.size, pattern, &split, why, sizeof why) != TMS_OK)
            fail_msg("a snapshot of %zu bytes does not decode shared (%d): %s", a.size, pattern, why);
        encode(split, &b);
        assert_int_equal(a.size, b.size);
        assert_memory_equal(a.data, b.data, a.size);
        tms_state_stats_get(split, &s2);
        tms_state_stats_get(st, &s1);
        assert_memory_equal(&s1, &s2, sizeof s1);
        tms_state_free(split);
        encode(back, &b);
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
        write_seed(seed_name, a.data, a.size);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
    return back;
}

/* One JSON command applied as replay applies it (seq given); the verdict. */
static tms_err apply_json(tms_state *st, const char *json, uint64_t seq, tms_verdict *v)
{
    tms_record rec;
    char why[512];
    memset(&rec, 0, sizeof rec);
    tms_cmd_init(&rec.cmd);
    if (tms_cmd_from_json(&rec.cmd, json, strlen(json), why, sizeof why) != TMS_OK)
        return TMS_INVALID_COMMAND;   /* refused at the edge: never a record */
    rec.seq = seq;
    assert_int_equal(tms_apply_record(st, &rec, v), TMS_OK);
    tms_state_commit(st);
    tms_cmd_free(&rec.cmd);
    return v->code;
}

/* Apply the same record to the state and its decoded twin: same verdict. */
static void apply_both(tms_state *st, tms_state *twin, const char *json, uint64_t seq)
{
    tms_verdict v1, v2;
    tms_err e1 = apply_json(st, json, seq, &v1);
    if (!twin || e1 == TMS_INVALID_COMMAND)
        return;
    apply_json(twin, json, seq, &v2);
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

static void small_snapshot(msgpack_sbuffer *sb, const char *args, size_t records);

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
    small_snapshot(&a, "--tenants 12 --extensions 1200 --seed 21", 100000);
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
        encode(st, &b);
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
        apply_json(st, cmds[i], i + 1, &v);
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
    apply_json(a, "{\"cmd\":\"CreateTenant\",\"tenant\":\"t\",\"actor\":\"system\",\"admin\":\"admin\"}", seq++, &v);
    apply_json(b, "{\"cmd\":\"CreateTenant\",\"tenant\":\"t\",\"actor\":\"system\",\"admin\":\"admin\"}", seq++, &v);
    for (int i = 0; i < 300; i++) {
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"CreateExtension\",\"tenant\":\"t\",\"actor\":\"admin\",\"id\":\"x%d\"}", i);
        assert_int_equal(apply_json(a, cmd, seq++, &v), TMS_OK);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"DeleteExtension\",\"tenant\":\"t\",\"actor\":\"admin\",\"id\":\"x%d\"}", i);
        if (i % 50)
            assert_int_equal(apply_json(a, cmd, seq++, &v), TMS_OK);
    }
    for (int i = 250; i >= 0; i -= 50) {
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"CreateExtension\",\"tenant\":\"t\",\"actor\":\"admin\",\"id\":\"x%d\"}", i);
        assert_int_equal(apply_json(b, cmd, seq++, &v), TMS_OK);
    }
    assert_same_encoding(a, b, "grown and shrunk against built directly");
    msgpack_sbuffer sb;
    uint8_t d[32], want[32];
    msgpack_sbuffer_init(&sb);
    encode(a, &sb);
    assert_int_equal(tms_state_snapshot_digest(sb.data, sb.size, d), TMS_OK);
    encode(b, &sb);
    assert_int_equal(tms_state_snapshot_digest(sb.data, sb.size, want), TMS_OK);
    assert_memory_equal(d, want, 32);
    apply_json(b, "{\"cmd\":\"CreateQueue\",\"tenant\":\"t\",\"actor\":\"admin\",\"id\":\"q\"}", seq++, &v);
    encode(b, &sb);
    assert_int_equal(tms_state_snapshot_digest(sb.data, sb.size, want), TMS_OK);
    assert_memory_not_equal(d, want, 32);
    msgpack_sbuffer_destroy(&sb);
    tms_state_free(a);
    tms_state_free(b);
}

/* ---- hostile input ------------------------------------------------------------------ */

/* st encodes to exactly buf[0..len). */
static void encodes_to(const tms_state *st, const void *buf, size_t len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    encode(st, &sb);
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
        tms_err serr = split_decode(buf, len, pattern, &split, swhy, sizeof swhy);
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

/* A small real state's snapshot. */
static void small_snapshot(msgpack_sbuffer *sb, const char *args, size_t records)
{
    ts_lines l = ts_generate(args);
    tms_state *st = tms_state_new();
    tms_verdict v;
    for (size_t i = 0; i < l.n && i < records; i++)
        apply_json(st, l.v[i], i + 1, &v);
    encode(st, sb);
    tms_state_free(st);
    ts_lines_free(&l);
}

static void test_every_cut_and_every_flipped_bit(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    size_t accepted = 0;
    msgpack_sbuffer_init(&sb);
    small_snapshot(&sb, "--tenants 2 --extensions 30 --seed 8", 140);
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
    small_snapshot(&sb, "--tenants 3 --extensions 60 --seed 2", 400);
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
            write_seed("hand", sb.data, sb.size);
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
    write_seed("minimal", minimal, sizeof minimal);
}

int main(void)
{
    seed_dir = getenv("TMS_SNAPSHOT_SEEDS");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_log_small_tenants),
        cmocka_unit_test(test_decode_shared_by_two_threads),
        cmocka_unit_test(test_gen_log_one_big_tenant),
        cmocka_unit_test(test_gen_log_more_seeds),
        cmocka_unit_test(test_gen_log_cut_often),
        cmocka_unit_test(test_conformance_scenarios),
        cmocka_unit_test(test_request_ids_of_no_tenant),
        cmocka_unit_test(test_equal_states_equal_bytes),
        cmocka_unit_test(test_every_cut_and_every_flipped_bit),
        cmocka_unit_test(test_random_splices),
        cmocka_unit_test(test_hand_written_streams),
        cmocka_unit_test(test_not_shortest_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
