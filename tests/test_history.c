/* test_history.c -- the as-of index (history.h) and lookups at a point
 * (SPEC section 7), differentially.
 *
 * A gen_log stream goes through an engine in groups of random sizes. Then
 * one fold of its log, from scratch, stops at sampled seqs; at each, for
 * every account and object that exists then or at the end: show and every
 * check at that seq (from the index) equal the folded state's; visible of
 * every manager equals the folded distribution; explain's "changed" equals
 * the last flip a fold with provenance saw. The index written group by
 * group equals one rebuilt from the log, before and after a reopen. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <search.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "history.h"
#include "lookup.h"
#include "query.h"
#include "replay.h"
#include "teststream.h"

/* ---- provenance: per account and bit, the seq of its last flip ------------------ */

typedef struct prov {
    char key[3 * 72];                     /* tenant \x01 kind \x01 id */
    uint64_t perms, features;
    uint64_t flip_perm[64], flip_feat[64];
} prov;

static int prov_cmp(const void *a, const void *b)
{
    return strcmp(((const prov *)a)->key, ((const prov *)b)->key);
}

typedef struct walk {
    tms_store *live;
    const char *logdir;
    const uint64_t *samples;
    size_t nsamples, next;
    void *provs;                          /* tsearch tree of prov */
    uint64_t seed;
    size_t compared, explained;
    const tms_state *final;
} walk;

static prov *prov_get(walk *w, const char *tenant, char kind, const char *id)
{
    prov probe, **found;
    snprintf(probe.key, sizeof probe.key, "%s\x01%c\x01%s", tenant, kind, id);
    if (!(found = tfind(&probe, &w->provs, prov_cmp))) {
        prov *p = calloc(1, sizeof *p);
        assert_non_null(p);
        memcpy(p->key, probe.key, sizeof p->key);
        found = tsearch(p, &w->provs, prov_cmp);
        assert_non_null(found);
    }
    return *found;
}

/* After record seq: the bits of every account it touched, against what
 * the provenance holds (a deleted account starts afresh). */
static void track(walk *w, const tms_fold_event *ev)
{
    for (size_t i = 0; i < ev->neffects; i++) {
        const tms_effect *e = &ev->effects[i];
        if (!e->tenant || (e->kind != TMS_KIND_MANAGER && e->kind != TMS_KIND_EXTENSION) || !e->id ||
            e->type == TMS_EFFECT_DISTRIBUTED || e->type == TMS_EFFECT_UNDISTRIBUTED ||
            e->type == TMS_EFFECT_ROLE_CREATED || e->type == TMS_EFFECT_ROLE_UPDATED ||
            e->type == TMS_EFFECT_ROLE_DELETED || e->type == TMS_EFFECT_LOGIN_CREATED || e->type == TMS_EFFECT_REQUEST)
            continue;
        prov *p = prov_get(w, e->tenant, e->kind, e->id);
        const tms_tenant *t = tms_state_tenant(ev->state, e->tenant);
        const tms_account *a = t ? tms_tenant_account(t, e->kind, e->id) : NULL;
        uint64_t perms = a ? tms_account_permissions(a) : 0, feats = a ? tms_account_features(a) : 0;
        if (e->type == TMS_EFFECT_ACCOUNT_CREATED || !a)
            memset(p->flip_perm, 0, sizeof p->flip_perm), memset(p->flip_feat, 0, sizeof p->flip_feat);
        if (e->type == TMS_EFFECT_ACCOUNT_CREATED)
            p->perms = p->features = 0;
        for (int b = 0; b < 64; b++) {
            if (((perms ^ p->perms) >> b) & 1)
                p->flip_perm[b] = ev->rec->seq;
            if (((feats ^ p->features) >> b) & 1)
                p->flip_feat[b] = ev->rec->seq;
        }
        p->perms = perms;
        p->features = feats;
    }
}

/* ---- comparing one account at a sample -------------------------------------------- */

typedef struct at_sample {
    walk *w;
    tms_txn *tx;
    uint64_t seq;
    const tms_state *st;                  /* the fold at seq */
    const char *tenant;
} at_sample;

static void compare_show(at_sample *s, char kind, const char *id)
{
    json_t *want = NULL, *got = NULL;
    const char *kn = tms_kind_name(kind);
    int rw = tms_query_show_state(s->st, s->tenant, kn, id, &want);
    int rg = tms_query_show(s->tx, s->seq, s->tenant, kn, id, &got);
    if (rw != rg || (rw == 0 && !json_equal(want, got))) {
        char *a = want ? json_dumps(want, JSON_SORT_KEYS) : NULL, *b = got ? json_dumps(got, JSON_SORT_KEYS) : NULL;
        fail_msg("seq %llu show %s %s %s: fold %s, index %s", (unsigned long long)s->seq, s->tenant, kn, id,
                 a ? a : "absent", b ? b : "absent");
    }
    json_decref(want);
    json_decref(got);
}

static void compare_checks(at_sample *s, char kind, const char *id)
{
    const tms_tenant *t = tms_state_tenant(s->st, s->tenant);
    const tms_account *a = t ? tms_tenant_account(t, kind, id) : NULL;
    uint64_t perms = a ? tms_account_permissions(a) : 0, feats = a && kind == TMS_KIND_EXTENSION ? tms_account_features(a) : 0;
    const char *kn = tms_kind_name(kind);
    for (int i = 0; i < TMS_PERM_COUNT; i++)
        if (tms_lookup_check_at(s->tx, s->seq, s->tenant, kn, id, tms_permissions[i].name) != (int)((perms >> i) & 1))
            fail_msg("seq %llu check %s %s %s %s", (unsigned long long)s->seq, s->tenant, kn, id, tms_permissions[i].name);
    for (int i = 0; i < TMS_FEATURE_COUNT; i++)
        if (tms_lookup_check_at(s->tx, s->seq, s->tenant, kn, id, tms_features[i].name) != (int)((feats >> i) & 1))
            fail_msg("seq %llu check %s %s %s %s", (unsigned long long)s->seq, s->tenant, kn, id, tms_features[i].name);
}

/* explain of one random name: decision as the fold's, changed as the provenance's. */
static void compare_explain(at_sample *s, char kind, const char *id)
{
    prov probe, **p;
    json_t *out = NULL;
    int feature = kind == TMS_KIND_EXTENSION && ts_rng(&s->w->seed) % 3 == 0;
    int bit = (int)(ts_rng(&s->w->seed) % (feature ? TMS_FEATURE_COUNT : TMS_PERM_COUNT));
    const char *name = feature ? tms_features[bit].name : tms_permissions[bit].name;
    int allow = tms_query_explain(s->tx, s->seq, s->w->logdir, s->tenant, tms_kind_name(kind), id, name, &out);
    assert_true(allow >= 0);
    snprintf(probe.key, sizeof probe.key, "%s\x01%c\x01%s", s->tenant, kind, id);
    p = tfind(&probe, &s->w->provs, prov_cmp);
    uint64_t want = p ? (feature ? (*p)->flip_feat[bit] : (*p)->flip_perm[bit]) : 0;
    json_t *ch = json_object_get(out, "changed");
    uint64_t got = json_is_object(ch) ? (uint64_t)json_integer_value(json_object_get(ch, "seq")) : 0;
    if (got != want) {
        char *text = json_dumps(out, 0);
        fail_msg("seq %llu explain %s %c %s %s: changed %llu, the fold says %llu (%s)", (unsigned long long)s->seq,
                 s->tenant, kind, id, name, (unsigned long long)got, (unsigned long long)want, text);
    }
    if (json_is_object(ch))   /* the record it names is that seq's, with its actor */
        assert_non_null(json_object_get(json_object_get(ch, "cmd"), "actor"));
    json_decref(out);
    s->w->explained++;
}

static int visible_member(void *ctx, tms_account *manager, tms_account *obj)
{
    void **pair = ctx;
    if (strcmp(tms_account_id(manager), pair[0]))
        return 0;
    json_array_append_new(pair[1], json_pack("{s:s,s:s}", "kind", tms_kind_name(tms_account_kind(obj)), "id",
                                             tms_account_id(obj)));
    return 0;
}

static int by_kind_id(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(json_string_value(json_object_get(x, "kind")), json_string_value(json_object_get(y, "kind")));
    return c ? c : strcmp(json_string_value(json_object_get(x, "id")), json_string_value(json_object_get(y, "id")));
}

static void compare_visible(at_sample *s, const char *manager)
{
    json_t *want = json_array(), *got = NULL, *sorted = json_array();
    const tms_tenant *t = tms_state_tenant(s->st, s->tenant);
    void *pair[2] = {(void *)manager, want};
    if (t)
        tms_tenant_foreach_visible(t, visible_member, pair);
    size_t n = json_array_size(want);
    json_t **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(want, i);
    qsort(v, n, sizeof *v, by_kind_id);
    for (size_t i = 0; i < n; i++)
        json_array_append(sorted, v[i]);
    free(v);
    assert_int_equal(tms_query_visible(s->tx, s->seq, s->tenant, manager, &got), 0);
    if (!json_equal(sorted, got))
        fail_msg("seq %llu visible %s %s differs", (unsigned long long)s->seq, s->tenant, manager);
    json_decref(want);
    json_decref(sorted);
    json_decref(got);
}

static void compare_one(at_sample *s, const tms_account *a)
{
    char kind = tms_account_kind(a);
    const char *id = tms_account_id(a);
    compare_show(s, kind, id);
    if (kind == TMS_KIND_MANAGER || kind == TMS_KIND_EXTENSION) {
        compare_checks(s, kind, id);
        if (ts_rng(&s->w->seed) % 4 == 0)
            compare_explain(s, kind, id);
    }
    if (kind == TMS_KIND_MANAGER)
        compare_visible(s, id);
    s->w->compared++;
}

static int each_account(void *ctx, tms_account *a)
{
    compare_one(ctx, a);
    return 0;
}

static int each_tenant(void *ctx, tms_tenant *t)
{
    at_sample *s = ctx;
    s->tenant = tms_tenant_id(t);
    return tms_tenant_foreach_account(t, each_account, s);
}

static tms_err at_record(void *ctx, const tms_fold_event *ev)
{
    walk *w = ctx;
    track(w, ev);
    if (w->next >= w->nsamples || ev->rec->seq != w->samples[w->next])
        return TMS_OK;
    w->next++;
    at_sample s = {w, NULL, ev->rec->seq, ev->state, NULL};
    assert_int_equal(tms_txn_begin(w->live, 0, &s.tx), TMS_OK);
    tms_state_foreach_tenant(ev->state, each_tenant, &s);   /* what exists at seq */
    tms_state_foreach_tenant(w->final, each_tenant, &s);    /* what exists later: absent at seq, or as at seq */
    tms_txn_abort(s.tx);
    return TMS_OK;
}

static void history_digest(tms_store *st, uint8_t out[32], uint64_t *complete)
{
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(st, 0, &tx), TMS_OK);
    assert_int_equal(tms_history_digest(tx, out), TMS_OK);
    assert_int_equal(tms_history_complete(tx, complete), TMS_OK);
    tms_txn_abort(tx);
}

static void rebuilt_history_equals(tu_env *env, const char *logdir)
{
    char *scratch = tu_mkdtemp(), why[256];
    tms_store *st;
    tms_replay_result res;
    uint8_t live[32], rebuilt[32];
    uint64_t lc, rc;
    assert_int_equal(tms_store_open(scratch, TMS_STORE_SCRATCH, &st, why, sizeof why), TMS_OK);
    assert_int_equal(tms_replay(st, logdir, NULL, &res), TMS_OK);
    history_digest(st, rebuilt, &rc);
    history_digest(tms_engine_store(env->eng), live, &lc);
    assert_int_equal(lc, tms_engine_last_seq(env->eng));
    assert_int_equal(rc, lc);
    if (memcmp(live, rebuilt, 32))
        fail_msg("the as-of index written group by group differs from one rebuilt from the log");
    tms_store_close(st);
    tu_rmtree(scratch);
    free(scratch);
}

static void differential(const char *gen_args, uint64_t seed, size_t nsamples)
{
    ts_lines l = ts_generate(gen_args);
    tu_env *env = tu_env_new();
    char logdir[4200];
    size_t at = 0;
    while (at < l.n) {
        size_t n = 1 + ts_rng(&seed) % (ts_rng(&seed) % 4 ? 40 : 300);
        n = n > l.n - at ? l.n - at : n;
        ts_submit_group(env, l.v + at, n);
        at += n;
    }
    tms_data_path(logdir, sizeof logdir, env->dir, "log");
    rebuilt_history_equals(env, logdir);
    uint64_t last = tms_engine_last_seq(env->eng), *samples = calloc(nsamples, sizeof *samples);
    for (size_t i = 0; i < nsamples; i++)   /* spread over the log, the first and the last record included */
        samples[i] = i == 0 ? 1 : i == nsamples - 1 ? last : 1 + (last - 1) * i / (nsamples - 1) + ts_rng(&seed) % 7;
    walk w = {tms_engine_store(env->eng), logdir, samples, nsamples, 0, NULL, seed, 0, 0, tms_engine_state(env->eng)};
    tms_state *st = tms_state_new();
    tms_replay_result res;
    tms_replay_opts o = {0};
    o.on_effects = at_record;
    o.ctx = &w;
    assert_int_equal(tms_fold(st, logdir, &o, &res), TMS_OK);
    assert_int_equal(w.next, nsamples);
    assert_true(w.compared > 100 && w.explained > 20);
    tms_state_free(st);
    tdestroy(w.provs, free);
    free(samples);
    tu_env_reopen(env);   /* a clean reopen keeps the index; it still equals a rebuilt one */
    rebuilt_history_equals(env, logdir);
    char proj[4200], why[512];   /* an open without a projection rebuilds it, index and mark included */
    tms_engine_close(env->eng);
    tu_rmtree(tms_data_path(proj, sizeof proj, env->dir, "proj"));
    if (tms_engine_open(env->dir, NULL, &env->eng, why, sizeof why))
        fail_msg("reopen: %s", why);
    rebuilt_history_equals(env, logdir);
    tu_env_free(env);
    ts_lines_free(&l);
}

static void test_lookups_at_sampled_seqs_equal_a_fold_to_there(void **state)
{
    (void)state;
    differential("--tenants 4 --extensions 300 --seed 5", 13, 12);
}

static void test_one_tenant_with_role_churn(void **state)
{
    (void)state;
    differential("--tenants 1 --extensions 800 --seed 41", 2, 8);
}

/* A point: a seq beyond the log is refused naming the last seq; a time
 * before the first record is the empty state; a time after the last is the latest. */
static void test_points_resolve_against_the_snapshot(void **state)
{
    tu_env *env = *state;
    tms_txn *tx;
    char why[200];
    uint64_t at, seq;
    tms_point p = {TMS_POINT_SEQ, tms_engine_last_seq(env->eng) + 1, 0};
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
    assert_int_equal(tms_query_point(tx, &p, 0, &at, &seq, why, sizeof why), TMS_E_INVAL);
    assert_non_null(strstr(why, "the last seq is"));
    p = (tms_point){TMS_POINT_TIME, 0, 1};
    assert_int_equal(tms_query_point(tx, &p, 0, &at, &seq, why, sizeof why), TMS_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(tms_lookup_check_at(tx, at, "acme", "admin", "admin", "reports.view"), 0);
    p = (tms_point){TMS_POINT_TIME, 0, INT64_MAX};
    assert_int_equal(tms_query_point(tx, &p, 0, &at, &seq, why, sizeof why), TMS_OK);
    assert_int_equal(seq, tms_engine_last_seq(env->eng));
    assert_true(at == TMS_AT_LATEST);
    assert_int_equal(tms_lookup_check_at(tx, at, "acme", "admin", "admin", "reports.view"), 1);
    tms_txn_abort(tx);
}

/* explain names a record read through the frame locator; a locator that
 * points at no frame (damaged) falls back to reading the segment. */
static void test_explain_reads_its_record_through_a_locator_or_without(void **state)
{
    tu_env *env = *state;
    char logdir[4200];
    tms_txn *tx;
    json_t *out = NULL;
    assert_int_equal(tu_submit(env, "{'cmd':'SetPermissions','tenant':'acme','actor':'admin','kind':'extension','id':'1001','enable':['calls.barge'],'disable':[]}"), TMS_OK);
    uint64_t flipped = env->last_seq;
    for (int i = 0; i < 5; i++)
        assert_int_equal(tu_submit(env, "{'cmd':'CreateExtension','tenant':'acme','actor':'admin','id':'x%d'}", i), TMS_OK);
    tms_data_path(logdir, sizeof logdir, env->dir, "log");
    for (int round = 0; round < 2; round++) {
        assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 0, &tx), TMS_OK);
        uint64_t seg, off;   /* each group left a locator of its first record */
        assert_int_equal(tms_history_locator(tx, flipped, &seg, &off), TMS_OK);
        assert_true(seg == 1 && (round ? off == 16 + 7 : off > 16));
        assert_int_equal(tms_query_explain(tx, tms_engine_last_seq(env->eng), logdir, "acme", "extension", "1001",
                                           "calls.barge", &out), 1);
        json_t *ch = json_object_get(out, "changed");
        assert_int_equal(json_integer_value(json_object_get(ch, "seq")), flipped);
        assert_string_equal(json_string_value(json_object_get(json_object_get(ch, "cmd"), "cmd")), "SetPermissions");
        json_decref(out);
        tms_txn_abort(tx);
        /* round 2: the locator of that record points into the middle of a frame */
        assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 1, &tx), TMS_OK);
        assert_int_equal(tms_history_locate(tx, flipped, 1, 16 + 7), TMS_OK);
        assert_int_equal(tms_txn_commit(tx), TMS_OK);
    }
}

static tms_err writer_add(void *ctx, const tms_fold_event *ev)
{
    return tms_history_writer_add(ctx, ev);
}

/* The as-of index written during a fold into a scratch store of a 64 KiB map: by tms_history_rebuild (in line,
 * 20 000 records a transaction), or by a writer on its own thread in chunks of 97 records (each written while
 * the fold fills the next: verify's, an open's). Either way a full map grows at a chunk's boundary and the
 * chunk is written again (issue 22: it used to fold the log again from record 1, once per doubling), and the
 * index equals the one the engine wrote record by record. */
static void rebuild_whatever_the_map(int on_thread)
{
    ts_lines l = ts_generate("--tenants 3 --extensions 600 --seed 21");
    tu_env *env = tu_env_new();
    char *scratch = tu_mkdtemp(), logdir[4200], proj[4200], why[512];
    uint8_t want[32], got[32], head[32];
    uint64_t seq, seq2;
    for (size_t i = 0; i < l.n; i += 50)
        ts_submit_group(env, l.v + i, l.n - i < 50 ? l.n - i : 50);
    tms_engine_close(env->eng);
    env->eng = NULL;
    tms_store_check_history h = {0}, h2 = {0};
    assert_int_equal(tms_store_check(tms_data_path(proj, sizeof proj, env->dir, "proj"), 0, want, &seq, head, &h, why,
                                     sizeof why), TMS_OK);
    tms_store *st;
    tms_replay_result res;
    assert_int_equal(tms_store_open_sized(scratch, TMS_STORE_SCRATCH, 64 << 10, &st, why, sizeof why), TMS_OK);
    tms_data_path(logdir, sizeof logdir, env->dir, "log");
    if (on_thread) {
        tms_history_writer w = {.st = st, .on_thread = 1, .chunk = 97};
        tms_replay_opts o = {.on_effects = writer_add, .ctx = &w};
        tms_state *folded = tms_state_new();
        assert_non_null(folded);
        assert_int_equal(tms_fold(folded, logdir, &o, &res), TMS_OK);
        assert_int_equal(tms_history_writer_end(&w, res.last_seq), TMS_OK);
        assert_true(w.grown > 0);   /* the worker grew the map: the test tests something */
        tms_history_writer_discard(&w);
        tms_state_free(folded);
    } else {
        assert_int_equal(tms_history_rebuild(st, logdir, &res), TMS_OK);
        assert_int_equal(res.passes, 1);
    }
    assert_int_equal(res.last_seq, seq);
    uint64_t map_bytes = 0, used = 0;
    tms_store_usage(st, &map_bytes, &used);
    assert_true(map_bytes > (64 << 10));   /* it did grow: the test tests something */
    /* the frame locators (not in the index's digest): one every TMS_LOCATE_EVERY records, at its own seq */
    tms_txn *tx;
    assert_int_equal(tms_txn_begin(st, 0, &tx), TMS_OK);
    for (uint64_t at = 1; at <= seq; at += TMS_LOCATE_EVERY) {
        uint64_t seg = 0, off = 0, below = 0, boff = 0;
        assert_int_equal(tms_history_locator(tx, at, &seg, &off), TMS_OK);
        if (at > 1)
            assert_int_equal(tms_history_locator(tx, at - 1, &below, &boff), TMS_OK);
        assert_true(at == 1 || seg != below || off != boff);   /* a locator of its own, not the one before */
    }
    tms_txn_abort(tx);
    tms_store_close(st);
    tms_err e = tms_store_check(scratch, 0, got, &seq2, head, &h2, why, sizeof why);   /* no meta: the index only */
    assert_true(e == TMS_OK || e == TMS_NOT_FOUND);
    assert_int_equal(h2.seq, h.seq);
    assert_memory_equal(h2.digest, h.digest, 32);
    tu_rmtree(scratch);
    free(scratch);
    tu_env_free(env);
    ts_lines_free(&l);
}

static void test_index_rebuild_is_one_pass_whatever_the_map(void **state)
{
    (void)state;
    rebuild_whatever_the_map(0);
}

static void test_index_written_on_a_worker_equals_the_engines(void **state)
{
    (void)state;
    rebuild_whatever_the_map(1);
}

/* An index that starts at seq B (a seeded directory's, or one seeded again
 * from a later snapshot): a watch line of a record at or before B is refused
 * (3), never made up from an index that does not know what it changed; the
 * record after B gets its line. The base is set in a transaction that is
 * aborted: the directory is left as it was. */
static void test_watch_lines_before_the_index_start_are_refused(void **state)
{
    tu_env *env = *state;
    tms_txn *tx;
    char logdir[4200], why[200];
    tms_log_iter *it;
    tms_log_record lr;
    tms_record rec[2];
    int has = 0;
    uint64_t last = tms_engine_last_seq(env->eng);
    assert_true(last >= 2);
    tms_data_path(logdir, sizeof logdir, env->dir, "log");
    assert_int_equal(tms_log_iter_open(logdir, last - 1, &it, NULL), TMS_OK);
    for (int i = 0; i < 2; i++) {
        tms_cmd_init(&rec[i].cmd);
        assert_int_equal(tms_log_iter_next(it, &lr, &has), TMS_OK);
        assert_true(has);
        assert_int_equal(tms_record_decode(&rec[i], lr.payload, lr.len, why, sizeof why), TMS_OK);
        rec[i].seq = lr.seq;
    }
    tms_log_iter_close(it);
    assert_int_equal(tms_txn_begin(tms_engine_store(env->eng), 1, &tx), TMS_OK);
    assert_int_equal(tms_history_set_base(tx, last - 1), TMS_OK);
    json_t *line = NULL;
    assert_int_equal(tms_query_watch_line(tx, &rec[0], &line), 3);
    assert_null(line);
    assert_int_equal(tms_query_watch_line(tx, &rec[1], &line), 0);
    assert_non_null(line);
    json_decref(line);
    tms_txn_abort(tx);
    for (int i = 0; i < 2; i++)
        tms_cmd_free(&rec[i].cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups_at_sampled_seqs_equal_a_fold_to_there),
        cmocka_unit_test(test_one_tenant_with_role_churn),
        cmocka_unit_test(test_index_rebuild_is_one_pass_whatever_the_map),
        cmocka_unit_test(test_index_written_on_a_worker_equals_the_engines),
        cmocka_unit_test_setup_teardown(test_points_resolve_against_the_snapshot, tu_setup_standard, tu_teardown),
        cmocka_unit_test_setup_teardown(test_explain_reads_its_record_through_a_locator_or_without, tu_setup_standard,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_watch_lines_before_the_index_start_are_refused, tu_setup_standard,
                                        tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
