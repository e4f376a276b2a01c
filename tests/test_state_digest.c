/* test_state_digest.c -- the state digest by tenant (snapshot.h,
 * tms_state_snapshot_digest) and the index of an encoding's parts it is
 * computed from (tms_state_snapshot_index).
 *
 * The oracle does not walk the encoding: each tenant's part is taken from
 * the encoding of a state folded from that tenant's records alone (tenants
 * are isolated by the rules: tms_replay_opts.tenant), which is the fixed
 * header, no request ids of no tenant, one tenant, that part, and the
 * catalogue of the masks the tenant uses (read from the state's walks). The
 * digest is then composed as snapshot.h says and compared. Every byte of an
 * encoding changed, and every cut, either leaves no digest or another. The
 * parts alone (tms_state_snapshot_encode_global / _tenant, _decode_parts)
 * are the whole encoding's bytes, and a state of some tenants' parts
 * encodes to exactly those. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "replay.h"
#include "snapshot.h"
#include "teststream.h"

static void encode(const tms_state *st, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    assert_int_equal(tms_state_snapshot_encode(st, sb), TMS_OK);
}

static int or_role(void *ctx, tms_role *r)
{
    ((uint64_t *)ctx)[0] |= tms_role_permissions(r);
    return 0;
}

static int or_account(void *ctx, tms_account *a)
{
    ((uint64_t *)ctx)[0] |= tms_account_permissions(a);
    ((uint64_t *)ctx)[1] |= tms_account_features(a);
    return 0;
}

static int count_request(void *ctx, const char *tenant, const char *rid, const tms_request_seen *first)
{
    (void)tenant, (void)rid, (void)first;
    ++*(size_t *)ctx;
    return 0;
}

typedef struct oracle {
    const char *logdir;
    crypto_generichash_state h;
    size_t tenants;
} oracle;

static void le64(crypto_generichash_state *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    crypto_generichash_update(h, b, 8);
}

/* Tenant t of the whole state: its part from a fold of its records alone, into the oracle's digest. */
static int one_tenant(void *ctx, tms_tenant *t)
{
    oracle *o = ctx;
    const char *id = tms_tenant_id(t);
    tms_state *alone = tms_state_new();
    tms_replay_result res;
    tms_replay_opts opts = {.tenant = id};
    msgpack_sbuffer sb, trailer;
    uint64_t masks[2] = {0, 0};
    uint8_t part[32];
    size_t orphans = 0;
    assert_int_equal(tms_fold(alone, o->logdir, &opts, &res), TMS_OK);
    assert_int_equal(tms_state_foreach_request(alone, NULL, count_request, &orphans), 0);
    assert_int_equal(orphans, 0);   /* (the streams here make none) */
    const tms_tenant *mine = tms_state_tenant(alone, id);
    assert_non_null(mine);
    tms_tenant_foreach_role(mine, or_role, masks);
    tms_tenant_foreach_account(mine, or_account, masks);
    encode(alone, &sb);
    msgpack_sbuffer_init(&trailer);
    assert_int_equal(tms__snapshot_trailer(masks[0], masks[1], &trailer), TMS_OK);
    /* {"tmsperm-state": 1} (16 bytes), 0 request ids of no tenant, 1 tenant: the part follows, the trailer ends it */
    assert_true(sb.size > 18 + trailer.size);
    assert_memory_equal(sb.data + sb.size - trailer.size, trailer.data, trailer.size);
    crypto_generichash(part, 32, (const uint8_t *)sb.data + 18, sb.size - 18 - trailer.size, NULL, 0);
    le64(&o->h, strlen(id));
    crypto_generichash_update(&o->h, (const uint8_t *)id, strlen(id));
    crypto_generichash_update(&o->h, part, 32);
    le64(&o->h, masks[0]);
    le64(&o->h, masks[1]);
    o->tenants++;
    msgpack_sbuffer_destroy(&trailer);
    msgpack_sbuffer_destroy(&sb);
    tms_state_free(alone);
    return 0;
}

/* gen_log ARGS through an engine, the whole log folded: its digest against the oracle's; the index's parts
 * laid end to end. */
static void against_the_oracle(const char *args)
{
    ts_lines l = ts_generate(args);
    tu_env *env = tu_env_new();
    char logdir[4200];
    for (size_t i = 0; i < l.n; i += 40)
        ts_submit_group(env, l.v + i, l.n - i < 40 ? l.n - i : 40);
    tms_data_path(logdir, sizeof logdir, env->dir, "log");
    const tms_state *st = tms_engine_state(env->eng);
    msgpack_sbuffer sb;
    uint8_t got[32], want[32], global[32];
    tms_state_stats stats;
    encode(st, &sb);
    assert_int_equal(tms_state_snapshot_digest(sb.data, sb.size, got), TMS_OK);
    oracle o = {.logdir = logdir};
    tms_state_stats_get(st, &stats);
    crypto_generichash_init(&o.h, NULL, 0, 32);
    crypto_generichash_update(&o.h, (const uint8_t *)"tmsperm-state-digest/2", 22);
    crypto_generichash(global, 32, (const uint8_t *)sb.data, 17, NULL, 0);   /* the header, 0 request ids */
    crypto_generichash_update(&o.h, global, 32);
    le64(&o.h, stats.tenants);
    tms_state_foreach_tenant(st, one_tenant, &o);
    crypto_generichash_final(&o.h, want, 32);
    assert_int_equal(o.tenants, stats.tenants);
    assert_memory_equal(got, want, 32);

    tms_snapshot_index ix;
    assert_int_equal(tms_state_snapshot_index(sb.data, sb.size, &ix, NULL, 0), TMS_OK);
    assert_int_equal(ix.global_len, 17);
    assert_int_equal(ix.ntenants, stats.tenants);
    size_t at = ix.tenants[0].off;
    assert_true(at > ix.global_len && at <= ix.global_len + 9);   /* the count of tenants between */
    for (size_t i = 0; i < ix.ntenants; i++) {
        assert_int_equal(ix.tenants[i].off, at);
        assert_non_null(tms_state_tenant(st, ix.tenants[i].tenant));
        at += ix.tenants[i].len;
    }
    assert_int_equal(ix.trailer_off, at);
    tms_snapshot_index_free(&ix);
    msgpack_sbuffer_destroy(&sb);
    tu_env_free(env);
    ts_lines_free(&l);
}

static void test_the_digest_is_its_parts(void **state)
{
    (void)state;
    against_the_oracle("--tenants 4 --extensions 300 --seed 5");
    against_the_oracle("--tenants 1 --extensions 500 --seed 41");
    against_the_oracle("--tenants 7 --extensions 400 --seed 3");
}

/* Every byte changed (two ways) and every cut of a small state's encoding: no digest, or another. */
static void test_every_change_and_cut_gives_another_or_none(void **state)
{
    (void)state;
    ts_lines l = ts_generate("--tenants 3 --extensions 40 --seed 9");
    tu_env *env = tu_env_new();
    for (size_t i = 0; i < l.n; i += 40)
        ts_submit_group(env, l.v + i, l.n - i < 40 ? l.n - i : 40);
    msgpack_sbuffer sb;
    uint8_t want[32], got[32];
    encode(tms_engine_state(env->eng), &sb);
    assert_int_equal(tms_state_snapshot_digest(sb.data, sb.size, want), TMS_OK);
    uint8_t *b = (uint8_t *)sb.data;
    size_t same = 0, none = 0;
    for (size_t i = 0; i < sb.size; i++)
        for (int k = 0; k < 2; k++) {
            uint8_t was = b[i];
            b[i] = k ? (uint8_t)(was + 1) : (uint8_t)(was ^ 0x80);
            tms_err err = tms_state_snapshot_digest(b, sb.size, got);
            same += !err && !memcmp(got, want, 32);
            none += err != TMS_OK;
            b[i] = was;
        }
    assert_int_equal(same, 0);
    assert_true(none > 0);   /* (some changes break the layout: no digest) */
    for (size_t n = 0; n < sb.size; n++)
        if (tms_state_snapshot_digest(b, n, got) == TMS_OK && !memcmp(got, want, 32))
            fail_msg("cut at %zu: the same digest", n);
    /* the count of tenants (3) written wider: its bytes are not hashed, so the walk must refuse it */
    tms_snapshot_index ix;
    assert_int_equal(tms_state_snapshot_index(sb.data, sb.size, &ix, NULL, 0), TMS_OK);
    size_t g = ix.global_len;
    assert_int_equal(b[g], 3);
    tms_snapshot_index_free(&ix);
    uint8_t *wide = malloc(sb.size + 1);
    assert_non_null(wide);
    memcpy(wide, b, g);
    wide[g] = 0xcc;
    memcpy(wide + g + 1, b + g, sb.size - g);
    assert_int_equal(tms_state_snapshot_digest(wide, sb.size + 1, got), TMS_E_CORRUPT);
    free(wide);
    msgpack_sbuffer_destroy(&sb);
    tu_env_free(env);
    ts_lines_free(&l);
}

/* The parts of a state: each tenant's part and the part before the tenants encoded alone are the whole
 * encoding's bytes; a state decoded from some tenants' parts encodes to those parts (and the part before,
 * and the trailer of their masks); a tenant the index does not have is skipped; an index of other bytes is
 * refused. */
static void parts_of(const char *args, uint64_t pick)
{
    ts_lines l = ts_generate(args);
    tu_env *env = tu_env_new();
    for (size_t i = 0; i < l.n; i += 40)
        ts_submit_group(env, l.v + i, l.n - i < 40 ? l.n - i : 40);
    const tms_state *st = tms_engine_state(env->eng);
    msgpack_sbuffer whole, one, want, got;
    tms_snapshot_index ix;
    encode(st, &whole);
    assert_int_equal(tms_state_snapshot_index(whole.data, whole.size, &ix, NULL, 0), TMS_OK);
    msgpack_sbuffer_init(&one);
    assert_int_equal(tms_state_snapshot_encode_global(st, &one), TMS_OK);
    assert_int_equal(one.size, ix.global_len);
    assert_memory_equal(one.data, whole.data, one.size);
    const char *names[64];
    size_t n = 0;
    uint64_t perms = 0, features = 0;
    msgpack_sbuffer_init(&want);
    msgpack_sbuffer_write(&want, whole.data, ix.global_len);
    for (size_t i = 0; i < ix.ntenants; i++) {
        uint64_t p = 0, f = 0;
        msgpack_sbuffer_clear(&one);
        assert_int_equal(tms_state_snapshot_encode_tenant(st, ix.tenants[i].tenant, &one, &p, &f), TMS_OK);
        assert_int_equal(one.size, ix.tenants[i].len);
        assert_memory_equal(one.data, whole.data + ix.tenants[i].off, one.size);
        assert_true(p == ix.tenants[i].perms_used && f == ix.tenants[i].features_used);
        if (pick >> (i % 64) & 1 && n < 63) {
            names[n++] = ix.tenants[i].tenant;
            perms |= p;
            features |= f;
        }
    }
    names[n++] = "not-a-tenant-here";
    msgpack_packer pk;
    msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
    msgpack_pack_uint64(&pk, n - 1);
    for (size_t k = 0; k + 1 < n; k++)
        for (size_t i = 0; i < ix.ntenants; i++)
            if (!strcmp(ix.tenants[i].tenant, names[k]))
                msgpack_sbuffer_write(&want, whole.data + ix.tenants[i].off, ix.tenants[i].len);
    assert_int_equal(tms__snapshot_trailer(perms, features, &want), TMS_OK);
    tms_state *part;
    char why[300];
    assert_int_equal(tms_state_snapshot_decode_parts(whole.data, whole.size, &ix, names, n, &part, why, sizeof why),
                     TMS_OK);
    encode(part, &got);
    assert_int_equal(got.size, want.size);
    assert_memory_equal(got.data, want.data, got.size);
    tms_state_free(part);
    if (ix.ntenants > 1) {   /* the bytes of the first two parts swapped: out of order, refused by the walk */
        msgpack_sbuffer sw;
        tms_snapshot_index bad;
        const tms_snapshot_section *a = &ix.tenants[0], *b2 = &ix.tenants[1];
        msgpack_sbuffer_init(&sw);
        msgpack_sbuffer_write(&sw, whole.data, a->off);
        msgpack_sbuffer_write(&sw, whole.data + b2->off, b2->len);
        msgpack_sbuffer_write(&sw, whole.data + a->off, a->len);
        msgpack_sbuffer_write(&sw, whole.data + b2->off + b2->len, whole.size - b2->off - b2->len);
        assert_int_equal(sw.size, whole.size);
        assert_int_equal(tms_state_snapshot_index(sw.data, sw.size, &bad, why, sizeof why), TMS_E_CORRUPT);
        assert_non_null(strstr(why, "byte order"));
        msgpack_sbuffer_destroy(&sw);
    }
    if (ix.ntenants > 1) {   /* an index whose parts are swapped: each part names another tenant */
        tms_snapshot_section t = ix.tenants[0];
        ix.tenants[0].off = ix.tenants[1].off, ix.tenants[0].len = ix.tenants[1].len;
        ix.tenants[1].off = t.off, ix.tenants[1].len = t.len;
        const char *first[1] = {ix.tenants[0].tenant};
        assert_int_equal(tms_state_snapshot_decode_parts(whole.data, whole.size, &ix, first, 1, &part, why,
                                                         sizeof why), TMS_E_CORRUPT);
        assert_null(part);
    }
    tms_snapshot_index_free(&ix);
    msgpack_sbuffer_destroy(&whole);
    msgpack_sbuffer_destroy(&one);
    msgpack_sbuffer_destroy(&want);
    msgpack_sbuffer_destroy(&got);
    tu_env_free(env);
    ts_lines_free(&l);
}

static void test_a_states_parts(void **state)
{
    (void)state;
    parts_of("--tenants 6 --extensions 300 --seed 5", 0x15);   /* tenants 0, 2, 4 */
    parts_of("--tenants 3 --extensions 200 --seed 8", 0x2);
    parts_of("--tenants 4 --extensions 200 --seed 13", 0);      /* none: the part before the tenants alone */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_digest_is_its_parts),
        cmocka_unit_test(test_every_change_and_cut_gives_another_or_none),
        cmocka_unit_test(test_a_states_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
