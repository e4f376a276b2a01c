/* test_digest.c -- the projection's digest stream (store_internal.h,
 * tms__digest): gathered in a buffer and handed to BLAKE2b a buffer at a
 * time, it must hash exactly the bytes of the stream -- each database's
 * header, then each entry's two lengths, key and value -- whatever the
 * entries' sizes and wherever the buffer's boundaries fall. The oracle
 * hashes the same stream with one BLAKE2b update per piece. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "../engine/storage/store_internal.h"

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* n entries of sizes up to max (some beyond the buffer), in dbs databases. */
static void agree(size_t n, size_t max, int dbs, uint64_t seed)
{
    tms__digest *d = malloc(sizeof *d);
    crypto_generichash_state oracle;
    uint8_t *bytes = malloc(2 * max + 2), got[TMS_HASH_LEN], want[TMS_HASH_LEN];
    assert_non_null(d);
    assert_non_null(bytes);
    for (size_t i = 0; i < 2 * max + 2; i++)
        bytes[i] = (uint8_t)rng(&seed);
    tms__digest_init(d);
    crypto_generichash_init(&oracle, NULL, 0, TMS_HASH_LEN);
    for (int db = 0; db < dbs; db++) {
        uint64_t hdr[2] = {(uint64_t)db, 0};
        tms__digest_db(d, db);
        crypto_generichash_update(&oracle, (const uint8_t *)hdr, sizeof hdr);
        for (size_t i = 0; i < n; i++) {
            size_t klen = rng(&seed) % (max + 1), vlen = rng(&seed) % (max + 1);
            const uint8_t *k = bytes + rng(&seed) % (max + 1), *v = bytes + rng(&seed) % (max + 1);
            uint64_t lens[2] = {klen, vlen};
            tms__digest_entry(d, k, klen, v, vlen);
            crypto_generichash_update(&oracle, (const uint8_t *)lens, sizeof lens);
            crypto_generichash_update(&oracle, k, klen);
            crypto_generichash_update(&oracle, v, vlen);
        }
    }
    tms__digest_final(d, got);
    crypto_generichash_final(&oracle, want, TMS_HASH_LEN);
    assert_memory_equal(got, want, TMS_HASH_LEN);
    free(bytes);
    free(d);
}

static void test_buffered_stream_is_the_stream(void **state)
{
    (void)state;
    agree(0, 0, 0, 1);                                 /* nothing: BLAKE2b of no bytes */
    agree(0, 0, 7, 2);                                 /* headers only */
    agree(5000, 40, 7, 3);                             /* projection-like entries, many buffers */
    agree(300, sizeof ((tms__digest *)0)->buf, 2, 4);  /* up to a whole buffer */
    agree(50, 3 * sizeof ((tms__digest *)0)->buf, 3, 5);   /* beyond it: hashed directly, in order */
}

/* A projection digest of an empty state is the digest of the tenant
 * groups' marker alone (store.h, "Digests"), as the oracle hashes it. */
static void test_empty_state_digest(void **state)
{
    (void)state;
    tms_state *st = tms_state_new();
    crypto_generichash_state oracle;
    uint8_t got[TMS_HASH_LEN], want[TMS_HASH_LEN];
    assert_non_null(st);
    assert_int_equal(tms_state_projection_digest(st, 0, NULL, got), TMS_OK);
    crypto_generichash_init(&oracle, NULL, 0, TMS_HASH_LEN);
    uint64_t hdr[2] = {TMS__DIGEST_BY_TENANT, 0};
    crypto_generichash_update(&oracle, (const uint8_t *)hdr, sizeof hdr);
    crypto_generichash_final(&oracle, want, TMS_HASH_LEN);
    assert_memory_equal(got, want, TMS_HASH_LEN);
    tms_state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffered_stream_is_the_stream),
        cmocka_unit_test(test_empty_state_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
