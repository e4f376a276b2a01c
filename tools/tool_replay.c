/* tool_replay.c -- folds and replays with a progress line, for the tools
 * (see tool_replay.h). */
#include "tool_replay.h"
#include "engine.h"
#include "tree.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int tool_log_dir(const char *datadir, char *buf, size_t len)
{
    struct stat st;
    if (stat(datadir, &st) != 0 || !S_ISDIR(st.st_mode))
        return tool_fail("no data directory %s", datadir);
    tms_data_path(buf, len, datadir, "log");
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return tool_fail("no log in %s (expected %s)", datadir, buf);
    return 0;
}

/* The caller's on_record, wrapped to drive the progress line. */
typedef struct progress_ctx {
    const tms_replay_opts *inner;
    tool_progress prog;
    uint64_t n;
} progress_ctx;

static void progress_record(void *ctx, const tms_record *rec, const tms_verdict *v)
{
    progress_ctx *p = ctx;
    tool_progress_tick(&p->prog, ++p->n);
    if (p->inner->on_record)
        p->inner->on_record(p->inner->ctx, rec, v);
}

static tms_err progress_effects(void *ctx, const tms_fold_event *ev)
{
    progress_ctx *p = ctx;
    return p->inner->on_effects(p->inner->ctx, ev);
}

static tms_err progress_frame(void *ctx, const tms_log_record *frame)
{
    progress_ctx *p = ctx;
    return p->inner->on_frame(p->inner->ctx, frame);
}

static tms_err progress_before(void *ctx, const tms_state *st, const tms_record *rec)
{
    progress_ctx *p = ctx;
    return p->inner->before_apply(p->inner->ctx, st, rec);
}

/* The total of a progress line when the caller knows none: the records
 * whose hashes the Merkle tree beside the log (DIR/tree for DIR/log) holds,
 * the size of a file; 0 when there is none. (Not the projection's seq: the
 * projection may be damaged, and LMDB reads a damaged file at the price of
 * a SIGBUS; store_guard.c guards only its checks.) */
static uint64_t estimate_total(const char *logdir)
{
    char dir[4200], why[256];
    const char *slash = strrchr(logdir, '/');
    tms_tree *t = NULL;
    uint64_t n = 0;
    if (!slash || strcmp(slash, "/log") || (size_t)(slash - logdir) + 1 > sizeof dir)
        return 0;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - logdir), logdir);
    if (tms_tree_open_reader(dir, &t, why, sizeof why) == TMS_OK)
        n = tms_tree_size(t);
    tms_tree_close(t);
    return n;
}

/* Fold (state) or replay (store, through a fold), with the progress line. */
static tms_err run(tms_state *state, tms_store *st, const char *logdir, const tms_replay_opts *opts,
                   tms_replay_result *res, const char *what, uint64_t total)
{
    static const tms_replay_opts none;
    progress_ctx p = {opts ? opts : &none, {0}, 0};
    tms_replay_opts o = *p.inner;
    o.on_record = progress_record;
    o.on_effects = p.inner->on_effects ? progress_effects : NULL;
    o.on_frame = p.inner->on_frame ? progress_frame : NULL;
    o.before_apply = p.inner->before_apply ? progress_before : NULL;
    o.ctx = &p;
    if (!o.chain)
        o.chain = TMS_LOG_ITER_CHAIN_ON_THREAD;   /* the chain on the second core */
    tool_progress_start(&p.prog, what, total ? total : estimate_total(logdir));
    tms_err err = state ? tms_fold(state, logdir, &o, res) : tms_replay(st, logdir, &o, res);
    tool_progress_end(&p.prog);
    return err;
}

tms_err tool_fold(tms_state *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res,
                  const char *what, uint64_t total)
{
    return run(st, NULL, logdir, opts, res, what, total);
}

tms_err tool_replay(tms_store *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res,
                    const char *what, uint64_t total)
{
    return run(NULL, st, logdir, opts, res, what, total);
}
