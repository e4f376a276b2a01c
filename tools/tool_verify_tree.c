/* tool_verify_tree.c -- the tree and checkpoint checks of tms-audit verify
 * (tool_verify_tree.h). */
#include "tool_verify_tree.h"
#include "checkpoints.h"
#include "tool_common.h"
#include "tool_trust.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(tool_treecheck *tc, const char *check, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(tool_treecheck *tc, const char *check, uint64_t seq, const char *fmt, ...)
{
    va_list ap;
    if (tc->failed)
        return;
    tc->failed = 1;
    tc->check = check;
    tc->seq = seq;
    va_start(ap, fmt);
    vsnprintf(tc->what, sizeof tc->what, fmt, ap);
    va_end(ap);
}

typedef struct loader {
    tool_treecheck *tc;
    int nomem;
} loader;

static int load_one(void *ctx, const char *note, size_t len, uint64_t size, uint64_t offset)
{
    loader *l = ctx;
    tool_treecheck *tc = l->tc;
    char why[300] = "a checkpoint of size 0";
    tms_checkpoint cp;
    if (tms_checkpoint_open(note, len, NULL, &cp, why, sizeof why) != TMS_OK || size == 0) {
        fail(tc, "checkpoint", size, "the checkpoint at byte %llu of DIR/checkpoints: %s", (unsigned long long)offset,
             why);
        return 0;
    }
    if (tc->have_key && tms_checkpoint_open(note, len, &tc->key, &cp, why, sizeof why) != TMS_OK) {
        fail(tc, "checkpoint", size, "the checkpoint of size %llu is not %s's: %s", (unsigned long long)size,
             tc->key.name, why);
        return 0;
    }
    tool_cp *p = realloc(tc->cps, (tc->ncps + 1) * sizeof *p);
    if (!p) {
        l->nomem = 1;
        return 1;
    }
    tc->cps = p;
    if (tc->keep_latest && cp.size >= tc->latest_size) {   /* entries of a size: the later supersedes */
        char *copy = malloc(len + 1);
        if (!copy) {
            l->nomem = 1;
            return 1;
        }
        memcpy(copy, note, len);
        copy[len] = '\0';
        free(tc->latest_note);
        tc->latest_note = copy;
        tc->latest_len = len;
        tc->latest_size = cp.size;
        memcpy(tc->latest_root, cp.root, TMS_TLOG_HASH);
    }
    p[tc->ncps].size = cp.size;
    p[tc->ncps].offset = offset;
    memcpy(p[tc->ncps].root, cp.root, TMS_TLOG_HASH);
    tc->ncps++;
    return 0;
}

static int by_size(const void *a, const void *b)
{
    const tool_cp *x = a, *y = b;
    return x->size < y->size ? -1 : x->size > y->size;
}

int tool_treecheck_begin(tool_treecheck *tc, const char *datadir, const char *key_arg, int keep_latest)
{
    char why[400];
    loader l = {tc, 0};
    memset(tc, 0, sizeof *tc);
    tc->keep_latest = keep_latest;
    if (key_arg) {
        if (tool_load_vkey("--key", key_arg, &tc->key))
            return TOOL_ERROR;
        tc->have_key = 1;
    }
    tms_err err = tms_tree_open_reader(datadir, &tc->tree, why, sizeof why);
    if (err && err != TMS_NOT_FOUND)
        return tool_fail("verify: %s", why);
    tc->tree_size = tc->tree ? tms_tree_size(tc->tree) : 0;
    if ((err = tms_checkpoints_read(datadir, load_one, &l, why, sizeof why)) == TMS_E_CORRUPT)
        fail(tc, "checkpoint", 0, "%s", why);
    else if (err)
        return tool_fail("verify: %s", why);
    if (l.nomem)
        return tool_fail("verify: out of memory");
    if (tc->ncps)
        qsort(tc->cps, tc->ncps, sizeof *tc->cps, by_size);
    return 0;
}

/* Stored hashes are read ahead this many at a time: verify walks the file
 * in order, a record's stored hashes right after the previous record's. */
#define TOOL_TREE_WINDOW 4096

/* The stored hash at index i, through the read-ahead window. TMS_OK,
 * TMS_NOT_FOUND (the file ends before i), TMS_E_IO, TMS_E_NOMEM. */
static tms_err stored_hash(tool_treecheck *tc, uint64_t i, tms_tlog_hash out)
{
    if (i < tc->win_first || i - tc->win_first >= tc->win_n) {
        if (!tc->win && !(tc->win = malloc(TOOL_TREE_WINDOW * sizeof *tc->win)))
            return TMS_E_NOMEM;
        tc->win_first = i;
        tc->win_n = 0;
        tms_err err = tms_tree_read_run(tc->tree, i, TOOL_TREE_WINDOW, tc->win, &tc->win_n);
        if (err)
            return err;
        if (!tc->win_n)
            return TMS_NOT_FOUND;
    }
    memcpy(out, tc->win[i - tc->win_first], TMS_TLOG_HASH);
    return TMS_OK;
}

static void check_record(tool_treecheck *tc, uint64_t seq, const uint8_t *payload, size_t len)
{
    tms_tlog_hash leaf, out[65], stored, root;
    size_t k;
    if (tc->range.size + 1 != seq)
        return;   /* verify stops at the first bad record: nothing after it is fed */
    tms_tlog_leaf_hash(payload, len, leaf);
    tms_tlog_range_push(&tc->range, leaf, out, &k);
    if (tc->tree && seq <= tc->tree_size)
        for (size_t j = 0; j < k; j++)
            if (stored_hash(tc, tms_tlog_stored_index(0, seq - 1) + j, stored) != TMS_OK ||
                memcmp(stored, out[j], TMS_TLOG_HASH)) {
                fail(tc, "tree", seq, "the Merkle tree file differs from the log's tree at seq %llu (damaged: "
                     "remove DIR/tree and the next writer rebuilds it from the log)", (unsigned long long)seq);
                break;
            }
    for (; tc->next < tc->ncps && tc->cps[tc->next].size == seq; tc->next++) {
        tms_tlog_range_root(&tc->range, root);
        if (memcmp(root, tc->cps[tc->next].root, TMS_TLOG_HASH))
            fail(tc, "checkpoint", seq, "the checkpoint of size %llu does not match the log: its root is not the "
                 "tree of records 1..%llu (the log was rewritten, or the checkpoint forged)",
                 (unsigned long long)seq, (unsigned long long)seq);
    }
    for (; tc->next_root < tc->nroots && tc->roots[tc->next_root].size <= seq; tc->next_root++) {
        tms_tlog_range_root(&tc->range, root);
        if (tc->roots[tc->next_root].size == seq && memcmp(root, tc->roots[tc->next_root].root, TMS_TLOG_HASH) &&
            !tc->root_bad)
            tc->root_bad = seq;
    }
}

int tool_treecheck_expect_root(tool_treecheck *tc, uint64_t seq, const tms_tlog_hash root)
{
    tool_cp *p = realloc(tc->roots, (tc->nroots + 1) * sizeof *p);
    if (!p)
        return tool_fail("out of memory");
    tc->roots = p;
    p[tc->nroots].size = seq;
    p[tc->nroots].offset = 0;
    memcpy(p[tc->nroots].root, root, TMS_TLOG_HASH);
    tc->nroots++;
    return 0;
}

/* ---- the checking thread ----------------------------------------------------------------
 * Records are copied into a batch (le32 length, payload, one after another);
 * a full batch is handed over when the thread has finished the one before
 * (two batches: the caller fills one while the thread checks the other). */

#define FEED_BYTES (1u << 20)   /* a batch is handed over past this many bytes */

typedef struct feed_batch {
    uint8_t *buf;
    size_t len, cap;
    uint64_t first;             /* the seq of its first record */
    size_t n;
} feed_batch;

struct tool_tree_feed {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    feed_batch fill, work;      /* the caller's; the thread's (under mu: has_work) */
    int has_work, stop;
    int nomem;                  /* a batch could not grow: checked in line from then on */
};

static void check_batch(tool_treecheck *tc, const feed_batch *b)
{
    size_t off = 0;
    for (size_t i = 0; i < b->n; i++) {
        uint32_t len;
        memcpy(&len, b->buf + off, sizeof len);
        check_record(tc, b->first + i, b->buf + off + sizeof len, len);
        off += sizeof len + len;
    }
}

static void *feed_thread(void *arg)
{
    tool_treecheck *tc = arg;
    struct tool_tree_feed *f = tc->feed;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->has_work && !f->stop)
            pthread_cond_wait(&f->cv, &f->mu);
        if (!f->has_work)
            break;
        pthread_mutex_unlock(&f->mu);
        check_batch(tc, &f->work);
        pthread_mutex_lock(&f->mu);
        f->has_work = 0;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

void tool_treecheck_start(tool_treecheck *tc)
{
    struct tool_tree_feed *f = calloc(1, sizeof *f);
    if (!f)
        return;
    if (pthread_mutex_init(&f->mu, NULL)) {
        free(f);
        return;
    }
    if (pthread_cond_init(&f->cv, NULL)) {
        pthread_mutex_destroy(&f->mu);
        free(f);
        return;
    }
    tc->feed = f;
    if (pthread_create(&f->thread, NULL, feed_thread, tc)) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        free(f);
        tc->feed = NULL;
    }
}

/* Hand the caller's batch to the thread once it is done with the one before (and take that one back, empty). */
static void hand_over(struct tool_tree_feed *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->has_work)
        pthread_cond_wait(&f->cv, &f->mu);
    feed_batch t = f->work;
    f->work = f->fill;
    f->fill = t;
    f->fill.len = f->fill.n = 0;
    f->has_work = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Wait until the thread has checked everything handed over. */
static void drain(struct tool_tree_feed *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->has_work)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

void tool_treecheck_record(tool_treecheck *tc, uint64_t seq, const uint8_t *payload, size_t len)
{
    struct tool_tree_feed *f = tc->feed;
    if (!f || f->nomem) {
        check_record(tc, seq, payload, len);
        return;
    }
    feed_batch *b = &f->fill;
    size_t need = b->len + sizeof(uint32_t) + len;
    if (b->n && seq != b->first + b->n)
        return;   /* not the next record: check_record would drop it too */
    if (need > b->cap) {
        size_t cap = need > 2 * FEED_BYTES ? need : 2 * FEED_BYTES;
        uint8_t *p = realloc(b->buf, cap);
        if (!p) {   /* checked here from now on, in order: what was fed first */
            hand_over(f);
            drain(f);
            f->nomem = 1;
            check_record(tc, seq, payload, len);
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
    if (!b->n)
        b->first = seq;
    uint32_t l32 = (uint32_t)len;
    memcpy(b->buf + b->len, &l32, sizeof l32);
    memcpy(b->buf + b->len + sizeof l32, payload, len);
    b->len = need;
    b->n++;
    if (b->len >= FEED_BYTES)
        hand_over(f);
}

void tool_treecheck_finish(tool_treecheck *tc)
{
    struct tool_tree_feed *f = tc->feed;
    if (!f)
        return;
    if (f->fill.n)
        hand_over(f);
    pthread_mutex_lock(&f->mu);
    while (f->has_work)
        pthread_cond_wait(&f->cv, &f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f->fill.buf);
    free(f->work.buf);
    free(f);
    tc->feed = NULL;
}

void tool_treecheck_end(tool_treecheck *tc, uint64_t last_seq)
{
    if (tc->next < tc->ncps && !tc->failed && tc->range.size == last_seq)
        fail(tc, "checkpoint", tc->cps[tc->next].size, "a checkpoint of size %llu, beyond the log's last seq %llu: "
             "signed records are missing from the log", (unsigned long long)tc->cps[tc->next].size,
             (unsigned long long)last_seq);
}

/* Stored hashes through tms_tree_read_hash (a tms_tlog_reader over the tree file). */
static tms_err read_stored(void *ctx, const uint64_t *idx, size_t n, tms_tlog_hash *out)
{
    for (size_t i = 0; i < n; i++) {
        tms_err err = tms_tree_read_hash(ctx, idx[i], out[i]);
        if (err)
            return err;
    }
    return TMS_OK;
}

/* The checkpoints of size <= n against the tree of n records with root `root`. */
static void check_below(tool_treecheck *tc, uint64_t n, const tms_tlog_hash root)
{
    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF];
    size_t len = 0;
    for (tc->next = 0; tc->next < tc->ncps && tc->cps[tc->next].size <= n; tc->next++) {
        const tool_cp *cp = &tc->cps[tc->next];
        tms_err err = cp->size == n ? TMS_OK : tms_tree_prove_consistency(tc->tree, cp->size, n, proof, &len);
        if (err || !tms_tlog_check_consistency(cp->size, n, cp->root, root, (const tms_tlog_hash *)proof,
                                               cp->size == n ? 0 : len))
            fail(tc, "checkpoint", cp->size, "the checkpoint of size %llu is not consistent with the receipt's tree "
                 "of %llu records (the log was rewritten below it, or the checkpoint forged, or the tree file "
                 "damaged: a full verify tells which)", (unsigned long long)cp->size, (unsigned long long)n);
    }
}

int tool_treecheck_from(tool_treecheck *tc, uint64_t n, const tms_tlog_hash root, char *why, size_t whylen)
{
    tms_tlog_reader r = {read_stored, tc->tree};
    tms_tlog_hash got;
    if (n == 0)
        return 0;
    if (!tc->tree || tms_tree_size(tc->tree) < n)
        return tool_fail("verify --since: %s: a --since verify computes the tree at the receipt's size %llu from "
                         "it (a writer opening DIR rebuilds it); run a full verify",
                         tc->tree ? "the Merkle tree file holds fewer records" : "no Merkle tree file (DIR/tree)",
                         (unsigned long long)n);
    tms_err err = tms_tlog_range_load(&tc->range, n, &r);
    if (err)
        return tool_fail("verify --since: the Merkle tree file: %s", tms_strerror(err));
    tms_tlog_range_root(&tc->range, got);
    if (memcmp(got, root, TMS_TLOG_HASH)) {
        snprintf(why, whylen, "the Merkle root at seq %llu is not the receipt's", (unsigned long long)n);
        return TOOL_NEGATIVE;
    }
    check_below(tc, n, root);
    return 0;
}

int tool_treecheck_prove_latest(tool_treecheck *tc, uint64_t n, tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *len)
{
    tms_tlog_hash root;
    *len = 0;
    if (!tc->latest_note || !tc->tree || tc->latest_size > n ||
        (tc->latest_size < n && tms_tree_prove_consistency(tc->tree, tc->latest_size, n, proof, len) != TMS_OK))
        return 0;
    tms_tlog_range_root(&tc->range, root);
    if (tc->range.size == n &&
        tms_tlog_check_consistency(tc->latest_size, n, tc->latest_root, root, (const tms_tlog_hash *)proof, *len))
        return 1;
    fail(tc, "tree", n, "the Merkle tree file cannot prove the checkpoint of size %llu consistent with the tree of "
         "records 1..%llu (damaged: remove DIR/tree and the next writer rebuilds it from the log)",
         (unsigned long long)tc->latest_size, (unsigned long long)n);
    return -1;
}

void tool_treecheck_free(tool_treecheck *tc)
{
    tool_treecheck_finish(tc);
    tms_tree_close(tc->tree);
    free(tc->roots);
    tc->roots = NULL;
    free(tc->win);
    free(tc->cps);
    free(tc->latest_note);
    tc->tree = NULL;
    tc->win = NULL;
    tc->cps = NULL;
    tc->latest_note = NULL;
}
