/* test_snapshots.c -- snapshot files (engine/storage/include/snapshots.h):
 * written whole or not at all, read back only when every check holds, a
 * damaged, truncated, grown or misnamed one refused, the newest kept. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "snapshots.h"
#include "snapshot.h"
#include "log.h"
#include "../engine/storage/log_format.h"
#include "testutil.h"

static tms_snapshot_meta meta_of(uint64_t seq, const uint8_t *payload, size_t len)
{
    tms_snapshot_meta m;
    memset(&m, 0, sizeof m);
    m.seq = seq;
    memset(m.head, 0x11, 32);
    memset(m.root, 0x22, 32);
    m.time = 1234567890123;
    if (tms_state_snapshot_digest(payload, len, m.digest))
        memset(m.digest, 0, 32);   /* not an encoding: read back, it is refused */
    return m;
}

/* A snapshot file's CRC32C (at 184: over the 184 bytes before it and all after the 188-byte header) recomputed
 * for its first n bytes. */
static void reseal(uint8_t *file, size_t n)
{
    tms_put_le32(file + 184, tms_crc32c(tms_crc32c(0, file, 184), file + 188, n - 188));
}

static void snap_path(char *out, size_t n, const char *dir, uint64_t seq, const char *suffix)
{
    snprintf(out, n, "%s/snapshots/%020llu.snap%s", dir, (unsigned long long)seq, suffix);
}

static void round_trip_and_refusals(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), why[300], path[4300];
    uint8_t *got;
    size_t len;
    tms_snapshot_meta m, r;
    msgpack_sbuffer sb;   /* a state's encoding: the payload (its digest is checked at read) */
    tu_env *env = tu_env_new();
    tu_standard_tenant(env);
    msgpack_sbuffer_init(&sb);
    assert_int_equal(tms_state_snapshot_encode(tms_engine_state(env->eng), &sb), TMS_OK);
    tu_env_free(env);
    const uint8_t *payload = (const uint8_t *)sb.data;
    size_t plen = sb.size;
    m = meta_of(42, payload, plen);
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_NOT_FOUND);
    assert_int_equal(tms_snapshot_write(dir, &m, payload, plen, why, sizeof why), TMS_OK);
    memset(&r, 0, sizeof r);   /* (its padding: compared whole below) */
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_OK);
    assert_int_equal(len, plen);
    assert_memory_equal(got, payload, len);
    assert_memory_equal(&r, &m, sizeof m);
    free(got);
    snap_path(path, sizeof path, dir, 42, "");
    size_t flen;
    uint8_t *file = tu_read_file(path, &flen);
    for (size_t at = 0; at < flen; at += 37) {   /* any byte changed: refused */
        file[at] ^= 0x40;
        assert_int_equal(tu_write_file(path, file, flen), 0);
        assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_E_CORRUPT);
        assert_null(got);
        file[at] ^= 0x40;
    }
    size_t bare = 188 + plen;   /* versions 2-4: no parts table after the payload */
    file[8] = 2;   /* version 2 (the projection digest of before it went by tenant), resealed: another schema's */
    reseal(file, bare);
    assert_int_equal(tu_write_file(path, file, bare), 0);
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_OK);
    assert_int_equal(r.schema, 0);
    free(got);
    file[8] = 3;   /* version 3 (the state digest of before it went by tenant): the same */
    reseal(file, bare);
    assert_int_equal(tu_write_file(path, file, bare), 0);
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_OK);
    assert_int_equal(r.schema, 0);
    free(got);
    file[8] = 4;   /* version 4 (no parts table): read whole, as this version's */
    reseal(file, bare);
    assert_int_equal(tu_write_file(path, file, bare), 0);
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_OK);
    assert_int_equal(r.schema, m.schema);
    assert_memory_equal(got, payload, plen);
    free(got);
    file[8] = 1;   /* version 1: not read */
    reseal(file, bare);
    assert_int_equal(tu_write_file(path, file, bare), 0);
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_E_CORRUPT);
    file[8] = 5;
    reseal(file, flen);
    assert_int_equal(tu_write_file(path, file, flen - 1), 0);   /* truncated */
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_E_CORRUPT);
    assert_int_equal(tu_write_file(path, file, 20), 0);         /* a stub of a header */
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_E_CORRUPT);
    assert_int_equal(tu_write_file(path, file, flen), 0);
    snap_path(path, sizeof path, dir, 43, "");                  /* the right bytes under another seq's name */
    assert_int_equal(tu_write_file(path, file, flen), 0);
    assert_int_equal(tms_snapshot_read(dir, 43, &r, &got, &len, why, sizeof why), TMS_E_CORRUPT);
    assert_int_equal(tms_snapshot_set_aside(dir, 43), TMS_OK);
    snap_path(path, sizeof path, dir, 43, ".bad");
    assert_int_equal(access(path, F_OK), 0);
    free(file);
    tu_rmtree(dir);
    free(dir);
    msgpack_sbuffer_destroy(&sb);
}

/* An encoding of a state of three tenants (acme, and "b" and "beta": one id a prefix of another) into sb. */
static void three_tenants(msgpack_sbuffer *sb)
{
    tu_env *env = tu_env_new();
    tu_standard_tenant(env);
    assert_int_equal(tu_submit(env, "{\"cmd\":\"CreateTenant\",\"tenant\":\"b\",\"actor\":\"system\","
                                    "\"admin\":\"admin\"}"), TMS_OK);
    assert_int_equal(tu_submit(env, "{\"cmd\":\"CreateTenant\",\"tenant\":\"beta\",\"actor\":\"system\","
                                    "\"admin\":\"admin\"}"), TMS_OK);
    assert_int_equal(tu_submit(env, "{\"cmd\":\"CreateExtension\",\"tenant\":\"beta\",\"actor\":\"admin\","
                                    "\"id\":\"1001\"}"), TMS_OK);
    msgpack_sbuffer_init(sb);
    assert_int_equal(tms_state_snapshot_encode(tms_engine_state(env->eng), sb), TMS_OK);
    tu_env_free(env);
}

static void newest_kept(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), why[300], path[4300];
    uint8_t junk[10] = {1, 2, 3};
    uint64_t *seqs;
    size_t n;
    msgpack_sbuffer sb;
    three_tenants(&sb);
    for (uint64_t seq = 10; seq <= 50; seq += 10) {
        tms_snapshot_meta m = meta_of(seq, (const uint8_t *)sb.data, sb.size);
        assert_int_equal(tms_snapshot_write(dir, &m, sb.data, sb.size, why, sizeof why), TMS_OK);
    }
    tms_snapshot_meta m = meta_of(60, junk, sizeof junk);   /* not an encoding: nothing written */
    assert_int_equal(tms_snapshot_write(dir, &m, junk, sizeof junk, why, sizeof why), TMS_E_INVAL);
    m = meta_of(60, (const uint8_t *)sb.data, sb.size);
    m.digest[0] ^= 1;   /* a digest that is not the payload's: nothing written */
    assert_int_equal(tms_snapshot_write(dir, &m, sb.data, sb.size, why, sizeof why), TMS_E_INVAL);
    tms_snapshot_meta want = meta_of(5, (const uint8_t *)sb.data, sb.size), got = want;
    memset(got.digest, 0, sizeof got.digest);   /* the paced writer (the engine's) sets the digest, from the payload */
    assert_int_equal(tms_snapshot_write_paced(dir, &got, sb.data, sb.size, 0, why, sizeof why), TMS_OK);
    assert_memory_equal(got.digest, want.digest, sizeof want.digest);
    snprintf(path, sizeof path, "%s/snapshots/notes.txt", dir);   /* not a snapshot's name: never listed */
    assert_int_equal(tu_write_file(path, "x", 1), 0);
    assert_int_equal(tms_snapshot_list(dir, &seqs, &n), TMS_OK);
    assert_int_equal(n, TMS_SNAPSHOT_KEEP);
    assert_int_equal(seqs[0], 50);
    assert_int_equal(seqs[1], 40);
    free(seqs);
    snprintf(path, sizeof path, "%s/snapshots/.snapshot.tmp", dir);
    assert_int_not_equal(access(path, F_OK), 0);   /* no temporary left behind */
    tu_rmtree(dir);
    free(dir);
    msgpack_sbuffer_destroy(&sb);
}

/* tms_snapshot_read_file_parts of path for tenant t: its error (the parts read checked against enc when TMS_OK). */
static tms_err parts_of(const char *path, const char *t, const msgpack_sbuffer *enc)
{
    char why[600];
    const char *names[1] = {t};
    uint8_t *got = NULL;
    size_t len = 0;
    tms_snapshot_meta m;
    tms_snapshot_index ix;
    tms_err err = tms_snapshot_read_file_parts(path, names, 1, &m, &got, &len, &ix, why, sizeof why);
    if (err) {
        assert_null(got);
        assert_true(why[0] != '\0');
        return err;
    }
    assert_int_equal(len, enc->size);
    assert_memory_equal(got, enc->data, ix.global_len);
    size_t read = 0;
    for (size_t i = 0; i < ix.ntenants; i++) {
        const tms_snapshot_section *s = &ix.tenants[i];
        uint8_t zero[64] = {0};
        if (!strcmp(s->tenant, t))   /* its part read, the others not */
            assert_memory_equal(got + s->off, enc->data + s->off, s->len), read++;
        else
            assert_memory_equal(got + s->off, zero, s->len < sizeof zero ? s->len : sizeof zero);
    }
    assert_int_equal(read, 1);
    uint8_t digest[32];
    tms_snapshot_index_digest(&ix, digest);
    assert_memory_equal(digest, m.digest, 32);
    free(got);
    tms_snapshot_index_free(&ix);
    return TMS_OK;
}

/* Version 5: read by its parts table, each part read checked against it; the table against the digest; a whole
 * read checks the table against the content. */
static void read_by_parts(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), why[300], path[4300];
    uint8_t *got;
    size_t len, flen;
    tms_snapshot_meta r;
    tms_snapshot_index ix;
    msgpack_sbuffer sb;
    three_tenants(&sb);
    tms_snapshot_meta m = meta_of(7, (const uint8_t *)sb.data, sb.size);
    snprintf(path, sizeof path, "%s/seven.state", dir);
    assert_int_equal(tms_snapshot_write_file(path, &m, sb.data, sb.size, why, sizeof why), TMS_OK);
    assert_int_equal(parts_of(path, "beta", &sb), TMS_OK);
    assert_int_equal(parts_of(path, "b", &sb), TMS_OK);
    assert_int_equal(tms_state_snapshot_index(sb.data, sb.size, &ix, NULL, 0), TMS_OK);
    uint8_t *file = tu_read_file(path, &flen);
    size_t tab = 188 + sb.size, named = 188 + ix.tenants[1].off, other = 188 + ix.tenants[0].off;
    assert_string_equal(ix.tenants[1].tenant, "b");
    /* every byte of the table, its footer, the part before the tenants and the named part: refused */
    size_t at[] = {tab, tab + 8, tab + 40, tab + 48, flen - 8, flen - 4, flen - 1, 188, named, named + 3};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        file[at[i]] ^= 0x20;
        assert_int_equal(tu_write_file(path, file, flen), 0);
        assert_int_equal(parts_of(path, "b", &sb), TMS_E_CORRUPT);
        file[at[i]] ^= 0x20;
    }
    /* a part not named is not read: damage there is found by a whole read only */
    file[other + 2] ^= 0x20;
    reseal(file, flen);
    assert_int_equal(tu_write_file(path, file, flen), 0);
    assert_int_equal(parts_of(path, "b", &sb), TMS_OK);
    assert_int_equal(tms_snapshot_read_file(path, &r, &got, &len, why, sizeof why), TMS_E_CORRUPT);
    file[other + 2] ^= 0x20;
    /* a table whose hash of a part is another (its CRCs resealed): its digest is not the header's */
    size_t first_hash = tab + 8 + 32 + 8 + 1 + strlen(ix.tenants[0].tenant) + 8;   /* the first tenant's hash */
    file[first_hash] ^= 1;
    tms_put_le32(file + flen - 4, tms_crc32c(0, file + tab, flen - 8 - tab));
    reseal(file, flen);
    assert_int_equal(tu_write_file(path, file, flen), 0);
    assert_int_equal(parts_of(path, "b", &sb), TMS_E_CORRUPT);
    assert_int_equal(tms_snapshot_read_file(path, &r, &got, &len, why, sizeof why), TMS_E_CORRUPT);
    assert_non_null(strstr(why, "parts table is not its content's"));
    file[first_hash] ^= 1;
    /* version 4 (no table): not by parts; whole, yes */
    file[8] = 4;
    reseal(file, tab);
    assert_int_equal(tu_write_file(path, file, tab), 0);
    assert_int_equal(parts_of(path, "b", &sb), TMS_E_CORRUPT);
    assert_int_equal(tms_snapshot_read_file(path, &r, &got, &len, why, sizeof why), TMS_OK);
    free(got);
    assert_int_equal(parts_of("/nonexistent/x.state", "b", &sb), TMS_NOT_FOUND);
    free(file);
    tms_snapshot_index_free(&ix);
    tu_rmtree(dir);
    free(dir);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(round_trip_and_refusals), cmocka_unit_test(newest_kept),
                                       cmocka_unit_test(read_by_parts)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
