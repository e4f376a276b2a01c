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
    file[8] = 2;   /* version 2 (the projection digest of before it went by tenant), resealed: another schema's */
    tms_put_le32(file + flen - plen - 4, tms_crc32c(tms_crc32c(0, file, flen - plen - 4),
                                                             payload, plen));
    assert_int_equal(tu_write_file(path, file, flen), 0);
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_OK);
    assert_int_equal(r.schema, 0);
    free(got);
    file[8] = 3;   /* version 3 (the state digest of before it went by tenant): the same */
    tms_put_le32(file + flen - plen - 4, tms_crc32c(tms_crc32c(0, file, flen - plen - 4), payload, plen));
    assert_int_equal(tu_write_file(path, file, flen), 0);
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_OK);
    assert_int_equal(r.schema, 0);
    free(got);
    file[8] = 1;   /* version 1: not read */
    tms_put_le32(file + flen - plen - 4, tms_crc32c(tms_crc32c(0, file, flen - plen - 4),
                                                             payload, plen));
    assert_int_equal(tu_write_file(path, file, flen), 0);
    assert_int_equal(tms_snapshot_read(dir, 42, &r, &got, &len, why, sizeof why), TMS_E_CORRUPT);
    file[8] = 4;
    tms_put_le32(file + flen - plen - 4, tms_crc32c(tms_crc32c(0, file, flen - plen - 4),
                                                             payload, plen));
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

static void newest_kept(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), why[300], path[4300];
    uint8_t payload[10] = {1, 2, 3};
    uint64_t *seqs;
    size_t n;
    for (uint64_t seq = 10; seq <= 50; seq += 10) {
        tms_snapshot_meta m = meta_of(seq, payload, sizeof payload);
        assert_int_equal(tms_snapshot_write(dir, &m, payload, sizeof payload, why, sizeof why), TMS_OK);
    }
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
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(round_trip_and_refusals), cmocka_unit_test(newest_kept)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
