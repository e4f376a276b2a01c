/* test_open_snapshot.c -- an open from a snapshot equals a fold of the
 * whole log (issue 18): gen_log streams submitted in random groups, the
 * writer's snapshots forked at random seqs (tms_engine_snapshot_fork), the
 * directory reopened from the newest kept one with the records after it
 * folded, and its state, projection and as-of index compared with a replay
 * of the log into a scratch projection and with a full fold. Snapshots that
 * must not be used (truncated, beyond the log, another log's) are set
 * aside; a crash's leftover temporary file is harmless. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <msgpack.h>
#include "log.h"
#include "replay.h"
#include "snapshot.h"
#include "snapshots.h"
#include "tree.h"
#include "teststream.h"

typedef struct digests {
    uint8_t state[32];   /* the state's snapshot encoding */
    uint8_t proj[32];    /* the projection (tms_store_check) */
    uint8_t hist[32];    /* its as-of index */
    uint64_t seq;
} digests;

static void snap_path(const char *dir, uint64_t seq, const char *suffix, char *out, size_t len)
{
    snprintf(out, len, "%s/snapshots/%020llu.snap%s", dir, (unsigned long long)seq, suffix);
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void state_digest(const tms_state *st, uint8_t out[32])
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(tms_state_snapshot_encode(st, &sb), TMS_OK);
    assert_int_equal(tms_state_snapshot_digest(sb.data, sb.size, out), TMS_OK);
    msgpack_sbuffer_destroy(&sb);
}

/* The projection of DIR/proj (closed): its digest, seq and as-of index digest. */
static void proj_digests(const char *projdir, digests *d)
{
    char why[512];
    uint8_t head[32];
    tms_store_check_history h = {0};
    if (tms_store_check(projdir, 0, d->proj, &d->seq, head, &h, why, sizeof why) != TMS_OK)
        fail_msg("store check %s: %s", projdir, why);
    assert_int_equal(h.seq, d->seq);
    memcpy(d->hist, h.digest, 32);
}

/* What a replay of env's log into a scratch projection gives. */
static void replayed(tu_env *env, digests *d)
{
    char *scratch = tu_mkdtemp(), logdir[4200], why[512];
    tms_store *st;
    tms_replay_result res;
    tms_state *s = tms_state_new();
    tms_replay_opts o = {0};
    assert_int_equal(tms_store_open(scratch, TMS_STORE_SCRATCH, &st, why, sizeof why), TMS_OK);
    assert_int_equal(tms_replay(st, tms_data_path(logdir, sizeof logdir, env->dir, "log"), NULL, &res), TMS_OK);
    tms_store_close(st);
    proj_digests(scratch, d);
    assert_int_equal(tms_fold(s, logdir, &o, &res), TMS_OK);
    state_digest(s, d->state);
    tms_state_free(s);
    tu_rmtree(scratch);
    free(scratch);
}

/* Close env's engine and measure what it left (its state's digest first). */
static void closed(tu_env *env, digests *d)
{
    char proj[4200];
    state_digest(tms_engine_state(env->eng), d->state);
    tms_engine_close(env->eng);
    env->eng = NULL;
    proj_digests(tms_data_path(proj, sizeof proj, env->dir, "proj"), d);
}

static void open_env(tu_env *env, const tms_engine_options *opt)
{
    char why[512];
    if (tms_engine_open(env->dir, opt, &env->eng, why, sizeof why) != TMS_OK)
        fail_msg("open: %s", why);
}

static void assert_same(const digests *a, const digests *b, const char *what)
{
    if (a->seq != b->seq || memcmp(a->state, b->state, 32) || memcmp(a->proj, b->proj, 32) ||
        memcmp(a->hist, b->hist, 32))
        fail_msg("%s: seq %llu/%llu state %d projection %d as-of index %d", what, (unsigned long long)a->seq,
                 (unsigned long long)b->seq, !memcmp(a->state, b->state, 32), !memcmp(a->proj, b->proj, 32),
                 !memcmp(a->hist, b->hist, 32));
}


/* Submit lines [from, to) in random groups of 1..32. */
static void submit_range(tu_env *env, ts_lines *l, size_t from, size_t to, uint64_t *rng)
{
    for (size_t i = from; i < to;) {
        size_t g = 1 + ts_rng(rng) % 32;
        if (g > to - i)
            g = to - i;
        ts_submit_group(env, l->v + i, g);
        i += g;
    }
}

/* One stream, cut at a random line: a snapshot there, the rest submitted,
 * then the snapshot of the end removed (as if the writer had crashed before
 * writing it); behind = 1 also leaves the last group in the log only (the
 * projection behind: the open catches it up from the fold after the
 * snapshot). The reopen starts from the cut's snapshot and equals a replay
 * and a full fold. */
static void one_cut(const char *args, uint64_t seed, int behind)
{
    ts_lines l = ts_generate(args);
    uint64_t rng = seed;
    tu_env *env = tu_env_new();
    char path[4300];
    digests snap, full, ref;
    size_t cut = l.n / 4 + ts_rng(&rng) % (l.n / 2), tail_from = behind ? l.n - 1 - ts_rng(&rng) % 8 : l.n;
    submit_range(env, &l, 0, cut, &rng);
    uint64_t at = tu_fork_snapshot(env);
    submit_range(env, &l, cut, tail_from, &rng);
    if (behind) {   /* the last group: logged, and the process "dies" before the projection commit */
        tms_engine_options crash = {.crash_after_log_sync = 1};
        char why[512];
        tms_cmd cmds[8];
        tms_submission subs[8];
        size_t n = l.n - tail_from;
        uint64_t now = tms_engine_last_seq(env->eng);
        tms_engine_close(env->eng);   /* its snapshot removed: the cut's stays the newest */
        snap_path(env->dir, now, "", path, sizeof path);
        assert_int_equal(unlink(path), 0);
        open_env(env, &crash);
        if (exists(path))
            assert_int_equal(unlink(path), 0);   /* the open's own snapshot (it folded the tail): the cut's stays
                                                    the newest again */
        for (size_t k = 0; k < n; k++) {
            tms_cmd_init(&cmds[k]);
            assert_int_equal(tms_cmd_from_json(&cmds[k], l.v[tail_from + k], strlen(l.v[tail_from + k]), why,
                                               sizeof why), TMS_OK);
            subs[k] = (tms_submission){.cmd = &cmds[k]};
        }
        assert_int_not_equal(tms_engine_submit(env->eng, subs, n, why, sizeof why), TMS_OK);
        for (size_t k = 0; k < n; k++)
            tms_cmd_free(&cmds[k]);
    }
    uint64_t last = tms_engine_last_seq(env->eng);
    tms_engine_close(env->eng);   /* a clean close writes the snapshot of the end (not after a "crash") */
    env->eng = NULL;
    snap_path(env->dir, last, "", path, sizeof path);
    assert_true(exists(path) == !behind);
    unlink(path);
    open_env(env, NULL);
    if (tms_engine_snapshot_seq(env->eng) != at)
        fail_msg("%s cut %zu: the open started from %llu, not the snapshot of %llu (%s)", args, cut,
                 (unsigned long long)tms_engine_snapshot_seq(env->eng), (unsigned long long)at,
                 tms_engine_open_report(env->eng));
    assert_int_equal(tms_engine_last_seq(env->eng), last);
    assert_string_equal(tms_engine_open_report(env->eng), "");
    closed(env, &snap);
    replayed(env, &ref);
    assert_same(&snap, &ref, "an open from a snapshot against a replay");
    snprintf(path, sizeof path, "rm -rf '%s/snapshots'", env->dir);
    assert_int_equal(system(path), 0);
    open_env(env, NULL);   /* the whole log folded: it checks the projection against the log at its seq */
    assert_int_equal(tms_engine_snapshot_seq(env->eng), 0);
    assert_string_equal(tms_engine_open_report(env->eng), "");
    closed(env, &full);
    assert_same(&snap, &full, "an open from a snapshot against a full fold");
    tu_env_free(env);
    ts_lines_free(&l);
}

static void test_cuts_level_projection(void **state)
{
    (void)state;
    one_cut("--tenants 6 --extensions 400 --seed 11", 7, 0);
    one_cut("--tenants 1 --extensions 900 --seed 29", 3, 0);
    one_cut("--tenants 12 --extensions 300 --seed 77", 1, 0);
}

static void test_cuts_projection_behind(void **state)
{
    (void)state;
    one_cut("--tenants 3 --extensions 400 --seed 5", 99, 1);
    one_cut("--tenants 2 --extensions 300 --seed 4242", 12345, 1);
}

/* Two snapshots kept; the newer one made unusable in some way: set aside
 * (.bad), and the open starts from the older, with the same result. */
static void unusable_newest(void (*spoil)(tu_env *, uint64_t), const char *report_has)
{
    ts_lines l = ts_generate("--tenants 4 --extensions 300 --seed 3");
    uint64_t rng = 17;
    tu_env *env = tu_env_new();
    char path[4300];
    digests got, ref;
    submit_range(env, &l, 0, l.n / 3, &rng);
    uint64_t older = tu_fork_snapshot(env);
    size_t len;
    snap_path(env->dir, older, "", path, sizeof path);
    uint8_t *kept = tu_read_file(path, &len);   /* the close's snapshot prunes it: put back below */
    submit_range(env, &l, l.n / 3, 2 * l.n / 3, &rng);
    uint64_t newer = tu_fork_snapshot(env);
    submit_range(env, &l, 2 * l.n / 3, l.n, &rng);
    uint64_t last = tms_engine_last_seq(env->eng);
    tms_engine_close(env->eng);
    env->eng = NULL;
    assert_int_equal(tu_write_file(path, kept, len), 0);
    free(kept);
    snap_path(env->dir, last, "", path, sizeof path);
    unlink(path);   /* the end's, as after a crash: the two forked ones are left */
    spoil(env, newer);
    open_env(env, NULL);
    if (tms_engine_snapshot_seq(env->eng) != older || !strstr(tms_engine_open_report(env->eng), report_has))
        fail_msg("started from %llu (older %llu), said: %s", (unsigned long long)tms_engine_snapshot_seq(env->eng),
                 (unsigned long long)older, tms_engine_open_report(env->eng));
    snap_path(env->dir, newer, ".bad", path, sizeof path);
    assert_true(exists(path));
    closed(env, &got);
    replayed(env, &ref);
    assert_same(&got, &ref, "an open from the older snapshot against a replay");
    tu_env_free(env);
    ts_lines_free(&l);
}

static void truncate_it(tu_env *env, uint64_t seq)
{
    char path[4300];
    snap_path(env->dir, seq, "", path, sizeof path);
    assert_int_equal(truncate(path, tu_file_size(path) - 1000), 0);
}

static void flip_payload(tu_env *env, uint64_t seq)
{
    char path[4300];
    size_t len;
    snap_path(env->dir, seq, "", path, sizeof path);
    uint8_t *b = tu_read_file(path, &len);
    b[len / 2] ^= 0x40;
    assert_int_equal(tu_write_file(path, b, len), 0);
    free(b);
}

/* A snapshot named beyond the log's end (the newest of all: tried first, set aside without being read), and
 * the newer one damaged too, so that the open goes on to the older. */
static void rename_beyond(tu_env *env, uint64_t seq)
{
    char from[4300], to[4300];
    snap_path(env->dir, seq, "", from, sizeof from);
    snap_path(env->dir, seq + 1000000, "", to, sizeof to);   /* a seq beyond the log's end */
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(link(to, from), 0);   /* ... and the real one spoiled the other way */
    flip_payload(env, seq);
}

static void test_truncated_snapshot_is_set_aside(void **state)
{
    (void)state;
    unusable_newest(truncate_it, "set aside");
}

static void test_damaged_snapshot_is_set_aside(void **state)
{
    (void)state;
    unusable_newest(flip_payload, "its checksum fails");
}

static void test_snapshot_beyond_the_log_is_set_aside(void **state)
{
    (void)state;
    unusable_newest(rename_beyond, "beyond the log's end");
}

/* A power loss between the write and the rename leaves DIR/snapshots/.snapshot.tmp (any length): never read,
 * and replaced by the next snapshot written. */
static void test_leftover_temporary_file(void **state)
{
    (void)state;
    ts_lines l = ts_generate("--tenants 2 --extensions 200 --seed 8");
    uint64_t rng = 5;
    tu_env *env = tu_env_new();
    char path[4300];
    submit_range(env, &l, 0, l.n / 2, &rng);
    uint64_t at = tu_fork_snapshot(env);
    submit_range(env, &l, l.n / 2, l.n, &rng);
    uint64_t last = tms_engine_last_seq(env->eng);
    tms_engine_close(env->eng);
    env->eng = NULL;
    snap_path(env->dir, last, "", path, sizeof path);
    unlink(path);
    snprintf(path, sizeof path, "%s/snapshots/.snapshot.tmp", env->dir);
    assert_int_equal(tu_write_file(path, "TMSSNAP1 half a snapshot", 24), 0);
    open_env(env, NULL);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), at);
    assert_string_equal(tms_engine_open_report(env->eng), "");
    tms_engine_close(env->eng);   /* writes the end's: through the same temporary name */
    env->eng = NULL;
    assert_false(exists(path));
    snap_path(env->dir, last, "", path, sizeof path);
    assert_true(exists(path));
    tu_env_free(env);
    ts_lines_free(&l);
}

/* ---- the open's own snapshot ------------------------------------------------------------------------------- */

/* The snapshot of seq in env's directory is of its engine's state as it is, before any write: its decoded state,
 * its projection digest, its Merkle root and the time of record seq (time). */
static void snapshot_is_the_state(tu_env *env, uint64_t seq, int64_t time)
{
    tms_snapshot_meta m;
    uint8_t *payload, got[32], want[32], proj[32];
    size_t len;
    uint64_t size;
    tms_tlog_hash root;
    char why[512];
    tms_state *st;
    const tms_state *now = tms_engine_state(env->eng);
    assert_int_equal(tms_snapshot_read(env->dir, seq, &m, &payload, &len, why, sizeof why), TMS_OK);
    assert_int_equal(m.seq, seq);
    assert_int_equal(m.time, time);
    assert_int_equal(tms_state_snapshot_decode(payload, len, &st, why, sizeof why), TMS_OK);
    state_digest(st, got);
    state_digest(now, want);
    assert_memory_equal(got, want, 32);
    assert_int_equal(tms_state_projection_digest(now, 0, NULL, proj), TMS_OK);
    assert_memory_equal(m.proj_digest, proj, 32);
    tms_tree_head(tms_engine_tree(env->eng), &size, root);
    assert_int_equal(size, seq);
    assert_memory_equal(m.root, root, 32);
    tms_state_free(st);
    free(payload);
}

static size_t snapshots_kept(const char *dir)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    assert_int_equal(tms_snapshot_list(dir, &seqs, &n), TMS_OK);
    free(seqs);
    return n;
}

/* An open that folds the whole log (no snapshot; with the projection kept, or rebuilt beside the encoding) takes
 * the snapshot of its seq before it returns; the close after no write adds none; the next open starts there and
 * equals a replay. */
static void open_snapshots(int without_projection)
{
    ts_lines l = ts_generate("--tenants 5 --extensions 300 --seed 21");
    uint64_t rng = 9;
    tu_env *env = tu_env_new();
    char cmd[4400], path[4300];
    digests got, ref;
    submit_range(env, &l, 0, l.n, &rng);
    uint64_t last = tms_engine_last_seq(env->eng);
    tms_snapshot_meta closed_m;
    tms_engine_close(env->eng);
    env->eng = NULL;
    assert_int_equal(tms_snapshot_meta_read(env->dir, last, &closed_m), TMS_OK);   /* the close's: its time */
    snprintf(cmd, sizeof cmd, "rm -rf '%s/snapshots'%s%s%s", env->dir, without_projection ? " '" : "",
             without_projection ? env->dir : "", without_projection ? "/proj'" : "");
    assert_int_equal(system(cmd), 0);
    open_env(env, NULL);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), 0);   /* a fold of the whole log */
    snap_path(env->dir, last, "", path, sizeof path);
    assert_true(exists(path));   /* before any write or close */
    snapshot_is_the_state(env, last, closed_m.time);
    tms_engine_close(env->eng);
    env->eng = NULL;
    assert_int_equal(snapshots_kept(env->dir), 1);
    open_env(env, NULL);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), last);
    assert_string_equal(tms_engine_open_report(env->eng), "");
    closed(env, &got);
    replayed(env, &ref);
    assert_same(&got, &ref, "an open from the open's own snapshot against a replay");
    tu_env_free(env);
    ts_lines_free(&l);
}

static void test_an_open_that_folds_the_log_takes_a_snapshot(void **state)
{
    (void)state;
    open_snapshots(0);
    open_snapshots(1);
}

/* A tail shorter than the close's rule (TMS_SNAPSHOT_TAIL) after the snapshot the open starts from: no
 * snapshot at the open. */
static void test_a_short_tail_takes_no_snapshot(void **state)
{
    (void)state;
    ts_lines l = ts_generate("--tenants 1 --extensions 400 --seed 6");   /* the tail decodes every tenant */
    uint64_t rng = 4;
    tu_env *env = tu_env_new();
    char path[4300];
    size_t tail = 3;
    submit_range(env, &l, 0, l.n - tail, &rng);
    uint64_t at = tu_fork_snapshot(env);
    submit_range(env, &l, l.n - tail, l.n, &rng);
    uint64_t last = tms_engine_last_seq(env->eng);
    assert_true(last - at < TMS_SNAPSHOT_TAIL(last));
    tms_engine_close(env->eng);   /* it writes none either: the same rule */
    env->eng = NULL;
    snap_path(env->dir, last, "", path, sizeof path);
    assert_false(exists(path));
    open_env(env, NULL);
    assert_int_equal(tms_engine_snapshot_seq(env->eng), at);
    assert_int_equal(tms_engine_tenants_pending(env->eng), 0);   /* so only the rule said no */
    assert_false(exists(path));
    assert_int_equal(snapshots_kept(env->dir), 1);
    tu_env_free(env);
    ts_lines_free(&l);
}

/* ---- an open without a snapshot: the recovery reads the last segment, the fold the rest ---------------------- */

/* Frame i (from 0) of the segment file at path, its bytes in *buf (owned
 * by the caller): its offset, or 0 when the segment has fewer frames. */
static size_t frame_at(const char *path, size_t i, uint8_t **buf, size_t *len)
{
    *buf = tu_read_file(path, len);
    assert_non_null(*buf);
    size_t off = TMS_LOG_SEGMENT_HEADER;
    for (size_t k = 0; off + TMS_LOG_FRAME_HEADER <= *len; k++) {
        uint32_t plen;
        memcpy(&plen, *buf + off, 4);
        if (k == i)
            return plen ? off : 0;
        off += TMS_LOG_FRAME_HEADER + plen;
    }
    return 0;
}

/* A frame's CRCs sealed again over what it now holds (a forger's edit). */
static void reseal(uint8_t *f)
{
    uint8_t ls[12];
    uint32_t plen, hc, bc;
    memcpy(&plen, f, 4);
    memcpy(ls, f, 4);
    memcpy(ls + 4, f + 8, 8);
    hc = tms_crc32c(0, ls, 12);
    bc = tms_crc32c(0, f + 24, 32 + plen);
    memcpy(f + 4, &hc, 4);   /* little-endian host */
    memcpy(f + 16, &bc, 4);
}

/* With neither a snapshot nor a projection, the log's recovery reads only
 * the last segment (tms_log_options.check_last_only) and the fold from
 * record 1 checks the others (frames, CRCs, the chain on a second core).
 * Damage in the first segment is still refused: a flipped payload byte
 * (its CRC), and the same with the CRCs sealed again (only the chain can
 * tell); the intact directory opens to the same state. */
static void test_an_open_without_snapshot_still_checks_every_segment(void **state)
{
    (void)state;
    ts_lines l = ts_generate("--tenants 2 --extensions 300 --seed 7");
    tu_env *env = tu_env_new();
    tms_engine_options opt = {.segment_bytes = 32 << 10};
    char why[512], path[4300], *copy = tu_mkdtemp();
    uint8_t want[32], got[32];
    tms_engine_close(env->eng);
    assert_int_equal(tms_engine_open(env->dir, &opt, &env->eng, why, sizeof why), TMS_OK);
    for (size_t i = 0; i < l.n; i += 50)
        ts_submit_group(env, l.v + i, l.n - i < 50 ? l.n - i : 50);
    tu_state_digest(env, want);
    tms_engine_close(env->eng);
    env->eng = NULL;
    tu_rmtree(tms_data_path(path, sizeof path, env->dir, "snapshots"));
    tu_rmtree(tms_data_path(path, sizeof path, env->dir, "proj"));
    size_t nsegs = 0;   /* segments before the last, which the recovery no longer reads: the test tests that */
    DIR *ld = opendir(tms_data_path(path, sizeof path, env->dir, "log"));
    assert_non_null(ld);
    for (struct dirent *de; (de = readdir(ld));)
        nsegs += strstr(de->d_name, ".tmslog") != NULL;
    closedir(ld);
    assert_true(nsegs >= 3);
    for (unsigned long long first = 2; first <= 4; first++) {   /* segment 1 holds record 4, damaged below */
        snprintf(path, sizeof path, "%s/log/%020llu.tmslog", env->dir, first);
        assert_false(exists(path));
    }
    for (int forged = 0; forged < 2; forged++) {
        char cmd[9000];
        uint8_t *buf;
        size_t len, off;
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", copy, env->dir, copy);
        assert_int_equal(system(cmd), 0);
        snprintf(path, sizeof path, "%s/log/%020llu.tmslog", copy, 1ULL);
        assert_true((off = frame_at(path, 3, &buf, &len)) > 0);
        buf[off + TMS_LOG_FRAME_HEADER] ^= 0x01;   /* record 4's first payload byte */
        if (forged)
            reseal(buf + off);
        assert_int_equal(tu_write_file(path, buf, len), 0);
        free(buf);
        tms_engine *eng = NULL;
        tms_err err = tms_engine_open(copy, NULL, &eng, why, sizeof why);
        if (err != TMS_E_CORRUPT)
            fail_msg("damage in the first segment (%s): open gave %d (%s)", forged ? "CRCs resealed" : "a byte",
                     err, why);
        if (!strstr(why, "seq 4") || !strstr(why, forged ? "hash chain" : "checksum"))
            fail_msg("damage at record 4 said otherwise: %s", why);
        assert_null(eng);
    }
    tms_err err = tms_engine_open(env->dir, NULL, &env->eng, why, sizeof why);
    if (err)
        fail_msg("the intact directory: %s", why);
    tu_state_digest(env, got);
    assert_memory_equal(got, want, 32);
    assert_true(tms_engine_last_seq(env->eng) > 1000);
    tu_env_free(env);
    tu_rmtree(copy);
    free(copy);
    ts_lines_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuts_level_projection),
        cmocka_unit_test(test_cuts_projection_behind),
        cmocka_unit_test(test_truncated_snapshot_is_set_aside),
        cmocka_unit_test(test_damaged_snapshot_is_set_aside),
        cmocka_unit_test(test_snapshot_beyond_the_log_is_set_aside),
        cmocka_unit_test(test_leftover_temporary_file),
        cmocka_unit_test(test_an_open_that_folds_the_log_takes_a_snapshot),
        cmocka_unit_test(test_a_short_tail_takes_no_snapshot),
        cmocka_unit_test(test_an_open_without_snapshot_still_checks_every_segment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
