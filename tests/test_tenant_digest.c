/* test_tenant_digest.c -- a projection's digest by tenant (store.h,
 * "Digests"): read from LMDB (store_digest.c) and rendered from a state
 * (projection.c), the two give the same digest and the same tenant
 * digests on gen_log streams; damage to any entry of any state database
 * changes the whole digest and the digest of the damaged key's tenant
 * only; keys whose tenant part is no id are kept, in order, never found. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include "../engine/storage/store_internal.h"
#include "replay.h"
#include "teststream.h"
#include "testdamage.h"

/* gen_log ARGS through an engine in groups of 40. */
static tu_env *stream_env(const char *args)
{
    ts_lines l = ts_generate(args);
    tu_env *env = tu_env_new();
    for (size_t i = 0; i < l.n; i += 40)
        ts_submit_group(env, l.v + i, l.n - i < 40 ? l.n - i : 40);
    ts_lines_free(&l);
    return env;
}

static void store_digests(tms_txn *tx, int state_only, uint8_t out[TMS_HASH_LEN], tms_tenant_digests *list)
{
    memset(list, 0, sizeof *list);
    assert_int_equal(tms__store_tenant_digests(tx, state_only, 1, 0, out, list), TMS_OK);   /* (runs: split_min) */
}

/* The engine's projection and the state folded from its log agree: whole, with meta, tenant by tenant. */
static void agree(const char *args, size_t tenants)
{
    tu_env *env = stream_env(args);
    char logdir[4200];
    tms_replay_result res;
    tms_replay_opts o = {0};
    tms_state *st = tms_state_new();
    assert_int_equal(tms_fold(st, tms_data_path(logdir, sizeof logdir, env->dir, "log"), &o, &res), TMS_OK);
    tms_txn *tx;
    tms_tenant_digests list;
    uint8_t got[TMS_HASH_LEN], want[TMS_HASH_LEN], meta[TMS_HASH_LEN], one[TMS_HASH_LEN];
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    store_digests(tx, 1, got, &list);
    assert_int_equal(tms_state_projection_digests(st, res.last_seq, res.head, meta, want), TMS_OK);
    assert_memory_equal(got, want, TMS_HASH_LEN);
    /* the state's digests with the tenants shared by two threads (split_min 0) or not: the same */
    uint8_t two_meta[TMS_HASH_LEN], two[TMS_HASH_LEN];
    assert_int_equal(tms_state_projection_digests_on2(st, res.last_seq, res.head, two_meta, two), TMS_OK);
    assert_memory_equal(two_meta, meta, TMS_HASH_LEN);
    assert_memory_equal(two, want, TMS_HASH_LEN);
    memset(two_meta, 0, sizeof two_meta);
    assert_int_equal(tms_state_projection_digests_on2(st, res.last_seq, res.head, two_meta, NULL), TMS_OK);
    assert_memory_equal(two_meta, meta, TMS_HASH_LEN);
    assert_int_equal(tms_store_digest(tx, got), TMS_OK);
    assert_memory_equal(got, meta, TMS_HASH_LEN);
    assert_int_equal(list.n, tenants);
    for (size_t i = 0; i < list.n; i++) {
        assert_false(list.v[i].bad);
        assert_true(i == 0 || strcmp(list.v[i - 1].id, list.v[i].id) < 0);
        assert_ptr_equal(tms_tenant_digests_find(&list, list.v[i].id), &list.v[i]);
        assert_int_equal(tms_state_tenant_digest(st, list.v[i].id, one), TMS_OK);
        assert_memory_equal(one, list.v[i].digest, TMS_HASH_LEN);
    }
    assert_int_equal(tms_state_tenant_digest(st, "no-such-tenant", one), TMS_NOT_FOUND);
    assert_null(tms_tenant_digests_find(&list, "no-such-tenant"));
    tms_tenant_digests_free(&list);
    tms_txn_abort(tx);
    tms_state_free(st);
    tu_env_free(env);
}

static void test_lmdb_and_state_give_the_same_digests(void **state)
{
    (void)state;
    for (int split = 0; split < 2; split++) {   /* the walks whole, and in runs (or tenants) on two threads */
        tms__digest_split_min = split ? 0 : SIZE_MAX;
        agree("--tenants 4 --extensions 300 --seed 5", 4);
        agree("--tenants 1 --extensions 800 --seed 41", 1);   /* role churn */
        agree("--tenants 9 --extensions 900 --seed 3", 9);
        agree("--tenants 2 --extensions 200 --seed 8", 2);
    }
    tms__digest_split_min = 0;
}

/* The tenant a damaged key belongs to: the whole key in tenants, up to its first NUL elsewhere. */
static void tenant_of(int db, const uint8_t *k, size_t klen, char *out)
{
    const uint8_t *nul = db == TMS_DB_TENANTS ? NULL : memchr(k, '\0', klen);
    size_t n = nul ? (size_t)(nul - k) : klen;
    assert_true(n <= TMS_ID_MAX);
    memcpy(out, k, n);
    out[n] = '\0';
}

static void test_damage_changes_its_tenants_digest_only(void **state)
{
    (void)state;
    tu_env *env = stream_env("--tenants 5 --extensions 400 --seed 17");
    tms_store *s = tms_engine_store(env->eng);
    tms_tenant_digests before, after;
    uint8_t whole[TMS_HASH_LEN], got[TMS_HASH_LEN], key[600];
    size_t klen;
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(s, 0, &tx), TMS_OK);
    store_digests(tx, 1, whole, &before);
    tms_txn_abort(tx);
    assert_int_equal(before.n, 5);
    int cases = 0;
    for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END; db++)
        for (int how = CHANGE; how <= REMOVE; how++)
            for (size_t nth = 0; nth < 200; nth += 67) {
                char t[TMS_ID_MAX + 1];
                assert_int_equal(tms_txn_begin(s, 1, &tx), TMS_OK);
                damage_one(tx, db, nth, (damage)how, key, &klen);
                store_digests(tx, 1, got, &after);
                tms_txn_abort(tx);
                if (!memcmp(got, whole, TMS_HASH_LEN))
                    fail_msg("database %d, entry %zu, damage %d: the same digest", db, nth, how);
                if (db == TMS_DB_TENANTS && how != CHANGE) {   /* a tenant's own entry added or removed */
                    assert_int_equal(after.n, how == ADD ? before.n + 1 : before.n);
                    tms_tenant_digests_free(&after);
                    cases++;
                    continue;
                }
                tenant_of(db, key, klen, t);
                assert_int_equal(after.n, before.n);
                for (size_t i = 0; i < before.n; i++) {
                    int same = !memcmp(before.v[i].digest, after.v[i].digest, TMS_HASH_LEN);
                    assert_string_equal(before.v[i].id, after.v[i].id);
                    if (same != !!strcmp(before.v[i].id, t))
                        fail_msg("database %d, entry %zu, damage %d: tenant %s's digest %s", db, nth, how,
                                 before.v[i].id, same ? "unchanged" : "changed");
                }
                tms_tenant_digests_free(&after);
                cases++;
            }
    assert_int_equal(cases, (TMS_DB_STATE_END - TMS_DB_TENANTS) * 3 * 3);
    assert_int_equal(tms_txn_begin(s, 0, &tx), TMS_OK);   /* every damage was aborted */
    store_digests(tx, 1, got, &after);
    tms_txn_abort(tx);
    assert_memory_equal(got, whole, TMS_HASH_LEN);
    tms_tenant_digests_free(&after);
    tms_tenant_digests_free(&before);
    tu_env_free(env);
}

/* Keys whose tenant part is no id: empty, longer than an id, or (in
 * tenants) holding a NUL. Each makes a group of its own, in order, marked
 * bad and never found; the good tenants are still found. */
static void test_keys_that_name_no_tenant(void **state)
{
    (void)state;
    tu_env *env = stream_env("--tenants 3 --extensions 100 --seed 9");
    tms_store *s = tms_engine_store(env->eng);
    tms_tenant_digests before, after;
    uint8_t whole[TMS_HASH_LEN], got[TMS_HASH_LEN];
    char longer[TMS_ID_MAX + 20];
    tms_txn *tx;
    memset(longer, 'z', sizeof longer);
    assert_int_equal(tms_txn_begin(s, 1, &tx), TMS_OK);
    store_digests(tx, 1, whole, &before);
    assert_int_equal(tms__raw_put(tx, TMS_DB_ACCOUNTS, "\0e\0x", 4, "v", 1), TMS_OK);
    assert_int_equal(tms__raw_put(tx, TMS_DB_ROLES, longer, sizeof longer, "v", 1), TMS_OK);
    assert_int_equal(tms__raw_put(tx, TMS_DB_TENANTS, "a\0b", 3, "v", 1), TMS_OK);
    store_digests(tx, 1, got, &after);
    tms_txn_abort(tx);
    assert_memory_not_equal(got, whole, TMS_HASH_LEN);
    assert_int_equal(after.n, before.n + 3);
    size_t bad = 0;
    for (size_t i = 0; i < after.n; i++) {
        bad += after.v[i].bad;
        assert_true(i == 0 || strcmp(after.v[i - 1].id, after.v[i].id) <= 0);
    }
    assert_int_equal(bad, 3);
    for (size_t i = 0; i < before.n; i++)
        assert_non_null(tms_tenant_digests_find(&after, before.v[i].id));
    assert_null(tms_tenant_digests_find(&after, ""));
    assert_null(tms_tenant_digests_find(&after, "a"));
    tms_tenant_digests_free(&after);
    tms_tenant_digests_free(&before);
    tu_env_free(env);
}

/* Threads of this process (/proc/self/task). */
static int threads(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The projection file (data.mdb) of a stream's engine, read whole (*len bytes; the caller frees it). */
static uint8_t *projection_file(const char *args, size_t *len)
{
    tu_env *env = stream_env(args);
    char from[4300];
    snprintf(from, sizeof from, "%s/proj/data.mdb", env->dir);
    uint8_t *f = tu_read_file(from, len);
    assert_non_null(f);
    tu_env_free(env);
    return f;
}

/* f[0..len) as the projection SCRATCH/proj, freed; its directory into dir. */
static void projection_copy(const char *scratch, uint8_t *f, size_t len, char *dir, size_t dirlen)
{
    char to[4400];
    snprintf(dir, dirlen, "%s/proj", scratch);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(to, sizeof to, "%s/data.mdb", dir);
    assert_int_equal(tu_write_file(to, f, len), 0);
    free(f);
}

/* A projection whose leaf nodes claim values of 4 GiB (a damaged page): the guarded walk faults
 * (store_guard.c) and says the projection is damaged; the walk's hashing worker is stopped and freed, not
 * left waiting (each such walk left a thread and its chunks behind), and its chunks stay small whatever a
 * node claims. */
static void test_a_walk_that_faults_leaves_no_worker(void **state)
{
    (void)state;
    char dir[4300], why[600];
    size_t len = 0, damaged = 0;
    uint8_t out[TMS_HASH_LEN], head[TMS_HASH_LEN];
    uint64_t seq;
    char *scratch = tu_mkdtemp();
    uint8_t *f = projection_file("--tenants 3 --extensions 3000 --seed 5", &len);
    size_t leaves = 0, seen = 0;
    for (int pass = 0; pass < 2; pass++)   /* the later half of the leaf pages (the file's tail is unused) */
    for (size_t pg = 2; pg < len / 4096; pg++) {   /* LMDB's pages: flags at 10, lower at 12 */
        uint8_t *p = f + pg * 4096;
        uint16_t flags = (uint16_t)(p[10] | p[11] << 8), lower = (uint16_t)(p[12] | p[13] << 8);
        if ((flags & 0x02) == 0 || (flags & 0x24) != 0 || lower <= 16)   /* a plain leaf page with a node */
            continue;
        if (pass == 0 || seen++ < leaves / 2) {
            leaves += pass == 0;
            continue;
        }
        uint16_t at = (uint16_t)(p[16] | p[17] << 8);   /* its first node: size lo, hi (16 bits each) */
        if (at + 4 > 4096)
            continue;
        p[at] = 0xf0, p[at + 1] = 0xff, p[at + 2] = 0xff, p[at + 3] = 0xff;
        damaged++;
    }
    assert_true(damaged > 0);
    projection_copy(scratch, f, len, dir, sizeof dir);
    int before = threads();
    for (int i = 0; i < 3; i++) {
        tms_store_check_history h = {.two_cores = 1, .skip_index = 1};   /* the walk in runs, a helper thread */
        tms_err err = tms_store_check(dir, 1, out, &seq, head, &h, why, sizeof why);
        assert_int_equal(err, TMS_E_CORRUPT);
        assert_int_equal(threads(), before);
    }
    tu_rmtree(scratch);
    free(scratch);
}

/* The entries of the as-of index's databases (every duplicate counted). */
static uint64_t index_entries(tms_store *st)
{
    tms_txn *tx;
    uint64_t n = 0;
    MDB_stat ms;
    assert_int_equal(tms_txn_begin(st, 0, &tx), TMS_OK);
    for (int db = TMS_DB_STATE_END; db < TMS_DB_COUNT; db++) {
        assert_int_equal(mdb_stat(tx->txn, st->dbi[db], &ms), 0);
        n += ms.ms_entries;
    }
    tms_txn_abort(tx);
    return n;
}

/* A writer's open screens its projection on two threads (not put off): the as-of index is read through, every
 * entry of it, by the state walk's threads once their runs are done (alone, or with a helper: split_min). */
static void test_an_open_reads_the_whole_index_beside_the_state(void **state)
{
    (void)state;
    tu_env *env = stream_env("--tenants 6 --extensions 600 --seed 13");
    for (int split = 0; split < 2; split++) {
        tms__digest_split_min = split ? 0 : SIZE_MAX;
        tms_engine_close(env->eng);
        env->eng = NULL;
        uint64_t before = atomic_load(&tms__index_entries_walked);
        tu_env_reopen(env);
        uint64_t walked = atomic_load(&tms__index_entries_walked) - before, want = index_entries(
                                                                                   tms_engine_store(env->eng));
        assert_true(want > 1000);
        if (walked != want)
            fail_msg("split %d: %llu of the index's %llu entries read", split, (unsigned long long)walked,
                     (unsigned long long)want);
    }
    tms__digest_split_min = 0;
    tu_env_free(env);
}

/* The index's versions database pointing at a root page beyond the file (each "versions" record of the main
 * database patched: LMDB says MDB_PAGE_NOTFOUND when it is followed): a writer's screen (walk_only, two_cores)
 * says the projection is damaged, whichever thread takes that database, and leaves no thread; the state's walk
 * alone finds nothing (the damage is the index's only). */
static void test_an_index_that_does_not_read_fails_the_screen(void **state)
{
    (void)state;
    char dir[4300], why[600];
    size_t len = 0, patched = 0;
    uint8_t out[TMS_HASH_LEN], head[TMS_HASH_LEN];
    uint64_t seq;
    char *scratch = tu_mkdtemp();
    uint8_t *f = projection_file("--tenants 3 --extensions 3000 --seed 5", &len);
    /* a node: lo, hi (its data size, 48: an MDB_db), flags (F_SUBDATA 2), ksize 8, "versions", then MDB_db with
     * md_root at 40 */
    static const uint8_t node[] = {48, 0, 0, 0, 2, 0, 8, 0, 'v', 'e', 'r', 's', 'i', 'o', 'n', 's'};
    for (size_t i = 0; i + sizeof node + 48 <= len; i++)
        if (!memcmp(f + i, node, sizeof node)) {
            memset(f + i + sizeof node + 40, 0x7f, 8);   /* md_root: far beyond any page the file holds */
            patched++;
        }
    assert_true(patched > 0);
    projection_copy(scratch, f, len, dir, sizeof dir);
    int before = threads();
    for (int split = 0; split < 2; split++) {
        tms__digest_split_min = split ? 0 : SIZE_MAX;
        tms_store_check_history screen = {.walk_only = 1, .two_cores = 1}, state_only = screen;
        state_only.skip_index = 1;
        assert_int_equal(tms_store_check(dir, 1, out, &seq, head, &state_only, why, sizeof why), TMS_OK);
        for (int i = 0; i < 4; i++) {   /* (which thread takes it varies: here mostly the caller, whose runs end
                                           first; the helper's failure is kept and said the same way) */
            tms_err err = tms_store_check(dir, 1, out, &seq, head, &screen, why, sizeof why);
            if (err != TMS_E_CORRUPT)
                fail_msg("split %d: %s (%s)", split, tms_err_name(err), why);
            assert_int_equal(threads(), before);
        }
    }
    tms__digest_split_min = 0;
    tu_rmtree(scratch);
    free(scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lmdb_and_state_give_the_same_digests),
        cmocka_unit_test(test_damage_changes_its_tenants_digest_only),
        cmocka_unit_test(test_keys_that_name_no_tenant),
        cmocka_unit_test(test_a_walk_that_faults_leaves_no_worker),
        cmocka_unit_test(test_an_open_reads_the_whole_index_beside_the_state),
        cmocka_unit_test(test_an_index_that_does_not_read_fails_the_screen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
