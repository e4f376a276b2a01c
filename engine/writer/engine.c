/* engine.c -- the writer's side of a data directory, opening and closing
 * it: lock, recover the log (from the newest snapshot's segment on when one
 * agrees), fold the log (or the records after that snapshot) into the
 * in-memory state, bring the projection level, open the tree; and at a
 * clean close, a snapshot. Submits and replicated records are
 * engine_write.c's (see engine.h). */
#include "engine_internal.h"
#include "replay.h"
#include "history.h"
#include "record.h"
#include "datadir.h"
#include "tree.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


char *tms_data_path(char *buf, size_t len, const char *dir, const char *leaf)
{
    snprintf(buf, len, "%s/%s", dir, leaf);
    return buf;
}

static tms_err take_lock(tms_engine *e, char *why, size_t whylen)
{
    char path[4200], pid[32] = "";
    e->lock_fd = open(tms_data_path(path, sizeof path, e->dir, "lock"), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (e->lock_fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return TMS_E_IO;
    }
    if (flock(e->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t n = pread(e->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(why, whylen, "data directory %s is held by pid %s (tmsd or another writer); use --connect",
                 e->dir, pid[0] ? pid : "?");
        return TMS_E_LOCKED;
    }
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(e->lock_fd, 0) != 0 || pwrite(e->lock_fd, pid, (size_t)n, 0) != n) {
        snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
        return TMS_E_IO;
    }
    return TMS_OK;
}

/* TMS_OK, or TMS_E_BUSY when the caller asks the open to stop. */
static tms_err progress(const tms_engine *e, const char *phase, uint64_t done, uint64_t total)
{
    return e->opt.progress && e->opt.progress(e->opt.progress_ctx, phase, done, total) ? TMS_E_BUSY : TMS_OK;
}


/* Bringing the projection level with the log while the log is folded:
 * records after the projection's seq are written from their effects, when
 * the projection can be believed and its head is the log's at its seq. */
typedef struct level {
    tms_engine *e;
    uint64_t proj_seq;
    uint8_t proj_head[TMS_HASH_LEN];
    int usable;                     /* the projection may be caught up (else: rebuild) */
    int matched;                    /* its head was found at its seq */
    tms_txn *tx;                    /* the catch-up transaction, once needed */
    tms_history_writer hw;          /* the as-of index, written during the fold when the projection is not
                                       usable from the start (its tx and the catch-up one never coexist) */
    int hist_in_fold;               /* ... that is being done */
    int differs;                    /* the state's projection digest is not the projection's at its seq */
    char why[300];                  /* why a rebuild, when one is needed */
    char load_why[400];             /* why a tenant of the snapshot did not decode (engine_lazy.c) */
    tms__loss_check lc;             /* witnesses of how far the log once went */
    int64_t start_time;             /* the time of the snapshot the fold started from (0: none) */
    tms_projection_compare *cmp;              /* the projection after a crash compared by tenant (NULL: whole) */
    uint8_t snap_pd[TMS_HASH_LEN];  /* ... with the snapshot's recorded projection digest */
    uint64_t snap_below;            /* a seeded log's restart: only a snapshot older than this (0: any) */
} level;

/* what appended to the open's report, after "; " when it holds something already. */
static void report_add(tms_engine *e, const char *what)
{
    size_t n = strlen(e->report);
    snprintf(e->report + n, sizeof e->report - n, "%s%s", n ? "; " : "", what);
}

/* Before a record applies: its tenant decoded from the snapshot, if not yet (engine_lazy.c); and up to the
 * projection's seq, the tenant as it is before the record (tms_projection_compare). */
static tms_err level_before(void *ctx, const tms_state *st, const tms_record *rec)
{
    level *l = ctx;
    char why[400];
    const char *tenant = TMS_CMD_STR(&rec->cmd, TMS_F_TENANT);
    tms_err err = tms__lazy_need(l->e, tenant, why, sizeof why);
    if (err) {
        report_add(l->e, why);
        return err;   /* TMS_E_CORRUPT: the open sets the snapshot aside and folds the log (refold) */
    }
    if (!l->cmp || rec->seq > l->proj_seq)
        return TMS_OK;
    return tms_projection_compare_note(l->cmp, st, tenant);
}

/* Whether the projection at its seq holds ev's state: *differs. By tenant when the fold began at a snapshot
 * before it (tms_projection_compare), else the whole state rendered. */
static tms_err level_compare(level *l, const tms_fold_event *ev, int *differs)
{
    uint8_t mine[TMS_HASH_LEN];
    tms__screen *scr = &l->e->scr;
    if (l->cmp)
        l->e->tenants_digested = tms_projection_compare_count(l->cmp);
    if (l->cmp && !tms_projection_compare_whole(l->cmp)) {
        l->e->tenants_compared = tms_projection_compare_count(l->cmp);
        if (scr->deferred) {   /* judged once the projection is read (engine_screen.c): taken from the fold */
            scr->compare = TMS__SCREEN_BY_TENANT;
            scr->cmp = l->cmp;
            l->cmp = NULL;
            memcpy(scr->snap_pd, l->snap_pd, TMS_HASH_LEN);
            *differs = 0;
            return TMS_OK;
        }
        return tms_projection_compare_at(l->cmp, ev->state, &l->e->screen_tenants, l->snap_pd, differs);
    }
    if (scr->deferred) {   /* the whole state, likewise */
        scr->compare = TMS__SCREEN_WHOLE;
        *differs = 0;
        return TMS_OK;
    }
    char why[400];
    tms_err err = tms__lazy_need_all(l->e, why, sizeof why);   /* the whole state: every tenant */
    if (err)
        report_add(l->e, why);
    else
        err = tms_state_projection_digest(ev->state, 0, NULL, mine);
    *differs = !err && memcmp(mine, l->e->screen_digest, TMS_HASH_LEN) != 0;
    return err;
}

static tms_err level_record(void *ctx, const tms_fold_event *ev)
{
    level *l = ctx;
    tms_err err;
    if ((ev->rec->seq & 0xffff) == 0 && (err = progress(l->e, "fold", ev->rec->seq, tms_log_last_seq(l->e->log))))
        return err;   /* stopped: the fold ends here, the catch-up is aborted */
    if (l->lc.witness.present && ev->rec->seq == l->lc.witness.seq)
        l->lc.witness_matched = !memcmp(ev->hash, l->lc.witness.head, TMS_HASH_LEN);
    if (l->hist_in_fold)
        tms_history_writer_add(&l->hw, ev);   /* a failure is kept in hw.err: rebuilt after the fold */
    if (l->cmp && ev->rec->seq <= l->proj_seq)
        tms_projection_compare_covers(l->cmp, ev->effects, ev->neffects);
    if (!l->usable || ev->rec->seq < l->proj_seq)
        return TMS_OK;
    if (ev->rec->seq == l->proj_seq) {
        l->matched = l->lc.proj_matched = !memcmp(ev->hash, l->proj_head, TMS_HASH_LEN);
        if (!l->matched) {
            l->usable = 0;
            snprintf(l->why, sizeof l->why, "projection at seq %llu does not match the log (different chain head)",
                     (unsigned long long)l->proj_seq);
        } else if (l->e->screened) {   /* the same seq: does it hold the log's state there? */
            int differs;
            if ((err = level_compare(l, ev, &differs)))
                return err;
            if (differs) {
                l->usable = 0;
                l->differs = 1;
                snprintf(l->why, sizeof l->why, "its content differs from the log's at seq %llu (damaged)",
                         (unsigned long long)l->proj_seq);
            }
        }
        return TMS_OK;
    }
    if (l->hist_in_fold)
        return TMS_OK;   /* no catch-up: a rebuild (and the writer's transaction is the open one) */
    if (!l->tx && (err = tms_txn_begin(l->e->store, 1, &l->tx)))
        return err;
    tms_history_batch_clear(&l->e->history);
    if ((err = tms_store_apply_effects(l->tx, ev->state, ev->effects, ev->neffects)) ||
        (err = tms_history_record(&l->e->history, ev->state, ev->rec->seq, ev->rec->time, ev->effects,
                                  ev->neffects)) ||
        (err = tms_history_apply(l->tx, &l->e->history)) || (err = tms_history_locate_frame(l->tx, ev))) {
        tms_txn_abort(l->tx);   /* map full, or worse: rebuild instead */
        l->tx = NULL;
        l->usable = 0;
        snprintf(l->why, sizeof l->why, "catching up failed (%s)", tms_strerror(err));
    }
    return TMS_OK;
}

/* What the projection holds, and whether it may be caught up. */
static tms_err level_begin(tms_engine *e, level *l)
{
    tms_txn *tx;
    uint32_t format = 0;
    uint64_t hist = 0;
    memset(l, 0, sizeof *l);
    l->e = e;
    tms_err err = tms_txn_begin(e->store, 0, &tx);
    if (err)
        return err;
    if (!(err = tms_meta_get(tx, &l->proj_seq, l->proj_head)) && !(err = tms_store_format(tx, &format)) &&
        format == TMS_STORE_FORMAT)
        err = tms_history_complete(tx, &hist);
    tms_txn_abort(tx);
    if (err)
        return err;
    l->usable = tms_store_trusted(e->store) && format == TMS_STORE_FORMAT && l->proj_seq > 0;
    l->lc.proj_trusted = l->usable;   /* a witness of how far the log went */
    l->lc.proj_seq = l->proj_seq;
    memcpy(l->lc.proj_head, l->proj_head, TMS_HASH_LEN);
    if (!tms_store_trusted(e->store))
        snprintf(l->why, sizeof l->why, "%s", tms_store_distrust(e->store));
    else if (l->proj_seq && format != TMS_STORE_FORMAT)
        snprintf(l->why, sizeof l->why, "projection format %u, this version writes %u", format, TMS_STORE_FORMAT);
    else if (l->usable && hist != l->proj_seq)
        snprintf(l->why, sizeof l->why, "its as-of index is complete to seq %llu, not %llu",
                 (unsigned long long)hist, (unsigned long long)l->proj_seq);
    /* rebuilding (or the index is not level): the index too, record by record as the fold goes; the
       projection still witnesses how far the log went (usable), but is rebuilt whole at the end */
    if (e->log_base && hist != l->proj_seq)
        l->usable = 0;   /* a seeded log: projection and index written again from the state (level_history) */
    l->hist_in_fold = (!l->usable || hist != l->proj_seq) && !e->log_base;   /* a seeded log: level_history */
    l->hw.st = e->store;
    l->hw.on_thread = 1;   /* its LMDB writes beside the fold (history_fold.c): no other transaction during it */
    return TMS_OK;
}

/* A seeded log's as-of index, from e->state as the state after record seq (history_seed.c), in a
 * transaction of its own, the map grown as needed. */
static tms_err seed_history(tms_engine *e, uint64_t seq, int64_t time)
{
    tms_txn *tx;
    for (;;) {
        tms_err err = tms_txn_begin(e->store, 1, &tx);
        if (err)
            return err;
        if ((err = tms_history_seed(tx, e->state, seq, time)) == TMS_OK)
            return tms_txn_commit(tx);
        tms_txn_abort(tx);
        if (err != TMS_E_MAPFULL || (err = tms_store_grow(e->store)))
            return err;
    }
}

/* After a rebuild: the as-of index written during the fold is complete, or
 * (it failed, or the projection turned out unusable only during the fold)
 * it is rebuilt by a fold of its own. */
static tms_err level_history(tms_engine *e, int written, uint64_t last, int64_t time)
{
    char logdir[4200];
    tms_replay_result hres;
    if (written)
        return TMS_OK;
    if (!e->log_base)
        return tms_history_rebuild(e->store, tms_data_path(logdir, sizeof logdir, e->dir, "log"), &hres);
    /* a seeded log whose fold did not start at its base: its index starts again from the state at its end
       (lookups before it, explanations and watch lines are refused: query_at.c) */
    return seed_history(e, last, time);
}

/* After the fold: commit the catch-up, or rebuild from the state. */
static tms_err level_end(tms_engine *e, level *l, const tms_replay_result *res)
{
    tms_err err = TMS_OK;
    if (l->usable && l->proj_seq > res->last_seq) {
        l->usable = 0;
        snprintf(l->why, sizeof l->why, "projection at seq %llu is ahead of the log (last seq %llu)",
                 (unsigned long long)l->proj_seq, (unsigned long long)res->last_seq);
    }
    if (l->usable && l->matched && l->tx && !l->hist_in_fold) {
        tms_txn *tx = l->tx;   /* committed or aborted here, either way freed */
        l->tx = NULL;
        if ((err = tms_meta_put(tx, res->last_seq, res->head)) != TMS_OK ||
            (err = tms_history_mark(tx, res->last_seq)) != TMS_OK)
            tms_txn_abort(tx);
        else if ((err = tms_txn_commit(tx)) == TMS_OK)
            return TMS_OK;
        snprintf(l->why, sizeof l->why, "catching up failed (%s)", tms_strerror(err));
    } else if (l->usable && l->matched && !l->hist_in_fold) {
        return TMS_OK;   /* level already, and its content checked at its seq (level_record) */
    }
    tms_txn_abort(l->tx);
    l->tx = NULL;
    if (l->why[0]) {   /* say so: a projection that was thrown away is news */
        size_t used = strlen(e->report);
        snprintf(e->report + used, sizeof e->report - used, "%sprojection rebuilt from the log: %s",
                 used ? "; " : "", l->why);
    }
    /* the index written during the fold first: one write transaction at a time */
    int written = l->hist_in_fold && tms_history_writer_end(&l->hw, res->last_seq) == TMS_OK;
    if ((err = progress(e, "rebuild", 0, res->last_seq)) ||
        (err = tms__lazy_need_all(e, l->load_why, sizeof l->load_why)) ||
        (err = tms_projection_rebuild(e->store, e->state, res->last_seq, res->head)))
        return err;
    return level_history(e, written, res->last_seq, res->applied ? res->last_time : l->start_time);
}

/* After the fold, before anything is written: a witness that went further
 * than the log refuses the open (the projection and the witness stay as
 * they are: they are the evidence), unless the operator acknowledges it. */
static tms_err judge_loss(tms_engine *e, level *l, const tms_replay_result *res, char *why, size_t whylen)
{
    tms__loss_evidence(&l->lc, res->last_seq, e->loss, sizeof e->loss);
    tms__loss_summary(&l->lc, res->last_seq, e->loss_record, sizeof e->loss_record);
    if (e->loss[0] && e->opt.accept_loss) {
        l->usable = 0;   /* the projection followed the lost records: rebuild it from the log */
        snprintf(l->why, sizeof l->why, "loss acknowledged");
        return TMS_OK;
    }
    if (!e->loss[0] && !e->opt.accept_loss)
        return TMS_OK;
    tms_txn_abort(l->tx);
    l->tx = NULL;
    if (!e->loss[0]) {
        snprintf(why, whylen, "accept-loss: nothing is missing from the log (seq %llu): nothing to acknowledge",
                 (unsigned long long)res->last_seq);
        return TMS_E_INVAL;
    }
    snprintf(why, whylen, "acknowledged records are missing from the log: %s. Nothing was changed: restore the log "
             "from a backup or a replica, or acknowledge the loss with tmsctl --data DIR accept-loss --reason TEXT",
             e->loss);
    return TMS_E_CORRUPT;
}

/* The state from the newest snapshot that agrees with the log, when the
 * projection can follow from it (believed, its as-of index level, read
 * whole without a fault, at or after the snapshot's seq): only the records
 * after it are folded, and level_record catches the projection up. What
 * level_record checks at the projection's and the witness's seqs is checked
 * here for those at or before the snapshot's (the fold never sees them).
 * 1 with e->state from it and *m its header. */
static int from_snapshot(tms_engine *e, level *l, tms_snapshot_meta *m)
{
    char logdir[4200];
    tms_state *st = NULL;
    uint8_t h[TMS_HASH_LEN];
    int follows = l->usable && !l->hist_in_fold && e->screened;   /* the projection can be caught up from it */
    /* a seeded log whose projection is rebuilt: from the base's snapshot, its as-of index written as the fold
       goes (seeded_index) -- the same index as before; else the newest */
    uint64_t max = follows ? l->proj_seq : e->log_base && !l->snap_below ? e->log_base : tms_log_last_seq(e->log);
    if (l->snap_below && max >= l->snap_below)
        max = l->snap_below - 1;
    /* a seeded log starts from a snapshot whatever the projection (or an acknowledged loss): it has no other start */
    if ((!follows && !e->log_base) || (e->opt.accept_loss && !e->log_base) || tms_log_last_seq(e->log) == 0) {
        tms__snapshot_preload_end(e);   /* not taken: stopped, its memory freed */
        return 0;
    }
    if (!tms__snapshot_start(e, max, &st, m) &&
        (follows || max == tms_log_last_seq(e->log) || !tms__snapshot_start(e, tms_log_last_seq(e->log), &st, m)))
        return 0;   /* (a seeded log without its base's snapshot: the newest, its index seeded at the end) */
    l->start_time = m->time;
    if (!follows && l->usable) {   /* a seeded log: the projection is rebuilt from the state (level_end) */
        l->usable = 0;
        snprintf(l->why, sizeof l->why, "%s", e->screened ? "its as-of index is not level" : "it was not screened");
    }
    tms_state_free(e->state);
    e->state = st;
    char why[400];
    if (!follows && tms__lazy_need_all(e, why, sizeof why)) {   /* (only a seeded log gets here) its whole state */
        report_add(e, why);
        tms__lazy_free(&e->lazy);
        tms_state_free(e->state);
        e->state = tms_state_new();   /* (NULL: the fold that follows fails, out of memory) */
        return 0;   /* a seeded log has no other start: its open refuses, nothing set aside (engine_lazy.c) */
    }
    if (!follows && e->log_base && m->seq == e->log_base && seed_history(e, m->seq, m->time) == TMS_OK) {
        l->hist_in_fold = 1;   /* the index from the base's state, then every record after it: as it was */
        l->hw.keep = 1;
    }
    tms_state_stats stats;
    tms_state_stats_get(st, &stats);
    uint64_t tenants = stats.tenants + e->lazy.unloaded;
    if (follows && l->proj_seq > m->seq &&
        tms_projection_compare_gives_up(tms_data_path(logdir, sizeof logdir, e->dir, "log"), m->seq, l->proj_seq,
                                        tenants) != 1 &&
        tms_projection_compare_new(tenants, &l->cmp) == TMS_OK)   /* (else the whole state compared) */
        memcpy(l->snap_pd, m->proj_digest, TMS_HASH_LEN);
    if (l->proj_seq == m->seq) {
        l->matched = l->lc.proj_matched = !memcmp(l->proj_head, m->head, TMS_HASH_LEN);
        if (e->scr.deferred) {   /* judged once the projection is read (engine_screen.c) */
            e->scr.compare = TMS__SCREEN_SNAPSHOT;
            memcpy(e->scr.snap_pd, m->proj_digest, TMS_HASH_LEN);
        } else {
            l->differs = sodium_memcmp(m->proj_digest, e->screen_digest, TMS_HASH_LEN) != 0;
        }
        if (!l->matched) {
            l->usable = 0;
            snprintf(l->why, sizeof l->why, "projection at seq %llu does not match the log (different chain head)",
                     (unsigned long long)l->proj_seq);
        }
    }
    if (l->lc.witness.present && l->lc.witness.seq <= m->seq)
        l->lc.witness_matched = l->lc.witness.seq == m->seq
                                    ? !memcmp(m->head, l->lc.witness.head, TMS_HASH_LEN)
                                    : tms__log_head_at(e, l->lc.witness.seq, h) == TMS_OK &&
                                          !memcmp(h, l->lc.witness.head, TMS_HASH_LEN);
    return 1;
}

/* Fold the log into e->state: the records after snapshot m (NULL: all of
 * them, e->state empty). The chain is recomputed where the open's recovery
 * did not check it (before the trusted snapshot's segment, or before the
 * last segment when there was no snapshot to trust). */
static tms_err fold_log(tms_engine *e, level *l, const tms_snapshot_meta *m, tms_replay_result *res)
{
    char logdir[4200];
    tms_replay_opts o = {0};
    o.on_effects = level_record;
    o.before_apply = l->cmp || e->lazy.unloaded ? level_before : NULL;
    o.ctx = l;
    o.chain = TMS_LOG_ITER_CHAIN_CHECKED;   /* tms_log_open has just checked every frame and the chain, under our lock */
    if (m) {
        o.from_seq = m->seq;
        o.from_head = m->head;
        if (e->log_trusted && m->seq < e->log_trusted)
            o.chain = 0;
    } else if (e->log_trusted || e->log_last_only) {
        o.chain = TMS_LOG_ITER_CHAIN_ON_THREAD;
    }
    return tms_fold(e->state, tms_data_path(logdir, sizeof logdir, e->dir, "log"), &o, res);
}

/* The snapshot of seq set aside (0: none); the fold's state, transaction and index writer dropped, the
 * projection looked at again: ready for another start. */
static tms_err start_over(tms_engine *e, level *l, uint64_t seq, tms_replay_result *res)
{
    if (seq)
        tms_snapshot_set_aside(e->dir, seq);
    tms_txn_abort(l->tx);
    l->tx = NULL;
    tms_history_writer_discard(&l->hw);
    tms_projection_compare_free(l->cmp);
    l->cmp = NULL;
    e->tenants_compared = e->tenants_digested = 0;   /* the next start's, if any */
    tms__lazy_free(&e->lazy);
    tms_state_free(e->state);
    if (!(e->state = tms_state_new()))
        return TMS_E_NOMEM;
    tms_err err = level_begin(e, l);
    return err ? err : tms__witness_read(e->dir, &l->lc.witness, res->msg, sizeof res->msg);
}

/* A snapshot whose file checked but whose state the log or the projection
 * contradicts (the records after it do not replay on it; its state is not
 * the projection's, and which of the two is wrong only the log can say):
 * set aside, and the whole log folded, which judges the projection. */
static tms_err refold(tms_engine *e, level *l, const tms_snapshot_meta *m, tms_replay_result *res)
{
    size_t n = strlen(e->report);
    snprintf(e->report + n, sizeof e->report - n, "%sthe snapshot of seq %llu %s%s%s; set aside (.bad), the log "
             "folded instead", n ? "; " : "", (unsigned long long)m->seq,
             l->differs ? "does not give the projection's digest" : "does not replay the records after it (",
             l->differs ? "" : res->msg, l->differs ? "" : ")");
    tms_err err = start_over(e, l, m->seq, res);
    return err ? err : fold_log(e, l, NULL, res);
}

/* A seeded log (no fold from record 1 to fall back on): the records after
 * snapshot m do not replay on it. The next older snapshot is tried (the
 * base's, at worst); none is set aside (whether the snapshot, the log or
 * this version's rules are at fault cannot be told here, and the base's is
 * the directory's only start). TMS_E_CORRUPT with res->msg (fault OTHER:
 * the caller's loop ends) when none is left. */
static tms_err restart_based(tms_engine *e, level *l, tms_snapshot_meta *m, tms_replay_result *res)
{
    char failed[300];
    uint64_t below = m->seq;
    snprintf(failed, sizeof failed, "%.290s", res->msg);
    size_t n = strlen(e->report);
    snprintf(e->report + n, sizeof e->report - n, "%sthe records after the snapshot of seq %llu do not replay on it "
             "(%s): an older one tried", n ? "; " : "", (unsigned long long)below, failed);
    tms_err err = start_over(e, l, 0, res);
    l->snap_below = below;
    if (!err && (below <= e->log_base || !from_snapshot(e, l, m))) {
        snprintf(res->msg, sizeof res->msg, "the records after the snapshot of seq %llu do not replay on it (%.200s), "
                 "nor on an older one down to the base (seq %llu); nothing was set aside: seed the directory again",
                 (unsigned long long)below, failed, (unsigned long long)e->log_base);
        res->fault = TMS_FOLD_OTHER;
        return TMS_E_CORRUPT;
    }
    return err ? err : fold_log(e, l, m, res);
}

/* An open that put its screen off must write nothing into the projection before it is read (engine_screen.c):
 * one that finds it would (a catch-up, a rebuild, the as-of index during the fold: what tms__screen_deferrable
 * did not foresee) stops, and tms_engine_open opens again, screening first. TMS_E_BUSY then. */
static tms_err screen_put_off_writes(tms_engine *e, const level *l, int folded, char *why, size_t whylen)
{
    if (!e->scr.deferred ||
        (!e->opt.screen_test_again && l->usable && !l->hist_in_fold && (!folded || (l->matched && !l->tx))))
        return TMS_OK;
    if (atomic_load(&e->scr.fold_after)) {   /* after the open (defer_fold): too late to open again; the mark
                                               makes the next open screen and fold first */
        snprintf(why, whylen, "it would write into the projection (%s)", l->why[0] ? l->why : "not level");
        return TMS_E_BUSY;
    }
    e->scr.again = 1;
    snprintf(why, whylen, "the open would write into a projection not read yet: opened again, screening first");
    return TMS_E_BUSY;
}

/* Fold the log (from a snapshot when one agrees) into the state and bring
 * the projection level. One exit: the catch-up transaction, if still open,
 * is aborted there. */
static tms_err load_state(tms_engine *e, char *why, size_t whylen)
{
    level l;
    tms_replay_result res;
    tms_snapshot_meta m;
    tms_err err = level_begin(e, &l);
    if (err) {
        snprintf(why, whylen, "projection: %s", tms_strerror(err));
        return err;
    }
    if ((err = tms__witness_read(e->dir, &l.lc.witness, why, whylen)))
        goto out;
    if ((err = screen_put_off_writes(e, &l, 0, why, whylen)))   /* the index to be written during the fold */
        goto out;
    int snap = from_snapshot(e, &l, &m);
    if (!snap && e->log_base) {   /* never a fold from record 1: the log does not hold it */
        snprintf(why, whylen, "this data directory was seeded from a snapshot of seq %llu and no snapshot at or "
                 "after it agrees with its log: seed it again (tms-restore seed)", (unsigned long long)e->log_base);
        err = TMS_E_CORRUPT;
        goto out;
    }
    if ((err = progress(e, "fold", snap ? m.seq : 0, tms_log_last_seq(e->log)))) {
        snprintf(why, whylen, "the open was stopped");
        goto out;
    }
    err = fold_log(e, &l, snap ? &m : NULL, &res);
    while (e->log_base && err == TMS_E_CORRUPT && res.fault == TMS_FOLD_REPLAY)
        err = restart_based(e, &l, &m, &res);
    if (e->log_base && !err && l.differs) {   /* the snapshot agrees with the log: the projection is rebuilt */
        l.usable = 0;
        snprintf(l.why, sizeof l.why, "its content differs from the snapshot's state at seq %llu (damaged)",
                 (unsigned long long)m.seq);
    }
    if (!e->log_base && snap && (err == TMS_E_CORRUPT || (!err && l.differs)))
        err = refold(e, &l, &m, &res);
    else if (snap)
        e->snapshot_seq = m.seq;
    if (err) {
        if (err == TMS_E_BUSY)
            snprintf(why, whylen, "the open was stopped");
        else
            snprintf(why, whylen, "replay failed: %s", res.msg);
        goto out;
    }
    if (res.last_seq != tms_log_last_seq(e->log)) {
        snprintf(why, whylen, "replay stopped at seq %llu, log ends at %llu", (unsigned long long)res.last_seq,
                 (unsigned long long)tms_log_last_seq(e->log));
        err = TMS_E_CORRUPT;
        goto out;
    }
    if ((err = judge_loss(e, &l, &res, why, whylen)))
        goto out;   /* refused: the torn tail, if any, is still there too */
    if ((err = screen_put_off_writes(e, &l, 1, why, whylen)))   /* a catch-up or a rebuild to come */
        goto out;
    if ((err = tms_log_cut_torn(e->log))) {
        snprintf(why, whylen, "cannot cut the torn tail of the log: %s", tms_strerror(err));
        goto out;
    }
    tms__snapshot_open_start(e, res.last_seq);   /* encoded beside the rebuild, written once the tree is open */
    if ((err = level_end(e, &l, &res))) {
        snprintf(why, whylen, "projection rebuild failed: %s", l.load_why[0] ? l.load_why : tms_strerror(err));
        goto out;
    }
    e->last_time = res.applied || !e->snapshot_seq ? res.last_time : m.time;
    memcpy(e->head, res.head, TMS_HASH_LEN);
    if (!e->scr.deferred && (err = tms__lazy_settle(e, why, whylen)))   /* the projection's digests of the tenants
                                                                         not decoded (else once screened) */
        goto out;
out:
    tms_txn_abort(l.tx);   /* NULL once level_end or judge_loss took it */
    tms_history_writer_discard(&l.hw);   /* nothing left unless the open failed during the fold */
    tms_projection_compare_free(l.cmp);
    if (!atomic_load(&e->scr.fold_after))   /* (after the read, they are the judge's) */
        tms_tenant_digests_free(&e->screen_tenants);
    return err;
}

/* The log recovered (from the newest snapshot's segment on when one agrees), a torn tail said (unless
 * again: the first try said it) but not cut yet. */
static tms_err open_log(tms_engine *e, int again, char *why, size_t whylen)
{
    char path[4200];
    tms_log_report rep;
    tms_snapshot_meta m;
    uint8_t base_head[TMS_HASH_LEN];
    tms_log_options lo = {.segment_bytes = e->opt.segment_bytes, .io = e->opt.io,
                          .defer_cut = 1};   /* cut a torn tail only once the open holds */
    if (!e->opt.accept_loss && (lo.trust_seq = tms__snapshot_newest(e->dir, &m)))
        lo.trust_head = m.head;   /* its records' state is in it: the log is checked from its segment on */
    lo.check_last_only = !e->opt.accept_loss;   /* no snapshot: the fold from record 1 checks the rest */
    tms_err err = tms_log_open(tms_data_path(path, sizeof path, e->dir, "log"), &lo, &e->log, &rep);
    if (err) {
        snprintf(why, whylen, "log: %s", rep.msg[0] ? rep.msg : tms_strerror(err));
        return err;
    }
    if (rep.torn && !again)
        report_add(e, rep.msg);   /* after the data directory's (datadir.c) */
    e->log_trusted = rep.trusted ? lo.trust_seq : 0;
    e->log_last_only = rep.trusted && !lo.trust_seq;
    return tms_log_base(path, &e->log_base, base_head, why, whylen);
}

/* After the fold: the mark of a screen put off removed (a screen made now was acted on), the tree, an
 * acknowledged loss's record, the witness; last, the screen put off, started. With the fold put off too
 * (defer_fold), only what needs no state: the tree and the screen's start (the fold writes the witness, and
 * reports no progress: it runs on the finisher's thread). */
static tms_err open_rest(tms_engine *e, char *why, size_t whylen)
{
    char path[4200];
    tms_err err;
    int fold_after = atomic_load(&e->scr.fold_after);
    if (!e->scr.deferred && tms_store_mark_unscreened(tms_data_path(path, sizeof path, e->dir, "proj"), 0)) {
        snprintf(why, whylen, "cannot remove %s/unscreened: %s", path, strerror(errno));
        return TMS_E_IO;
    }
    if ((err = progress(e, "tree", 0, tms_log_last_seq(e->log)))) {
        snprintf(why, whylen, "the open was stopped");
        return err;
    }
    if ((err = tms__engine_open_tree(e, why, whylen)))
        return err;
    tms__snapshot_open_end(e, 1);   /* the state may change from here on (a loss acknowledged) */
    if ((e->loss[0] && (err = tms__acknowledge_loss(e, e->opt.accept_loss, e->loss_record, why, whylen))))
        return err;
    if (!fold_after && (err = tms__witness_write(e->dir, tms_log_last_seq(e->log), e->head))) {
        snprintf(why, whylen, "cannot write %s/witness: %s", e->dir, strerror(errno));
        return err;
    }
    if (fold_after)
        e->opt.progress = NULL;
    /* the last step: nothing after it fails (the close would judge it) */
    return e->scr.deferred ? tms__screen_start(e, why, whylen) : TMS_OK;
}

tms_err tms__engine_fold_after(tms_engine *e, char *why, size_t whylen)
{
    e->snapshot_seq = 0;   /* the one it starts from, if any (load_state) */
    tms_err err = load_state(e, why, whylen);   /* (fold_after still 1: it writes nothing into the projection) */
    if (!err && (err = tms__witness_write(e->dir, tms_log_last_seq(e->log), e->head)))
        snprintf(why, whylen, "cannot write %s/witness: %s", e->dir, strerror(errno));
    return err;
}

/* A first try that must be made again (e->scr.again): its report into carried (1200 bytes), its lock kept in
 * *lock_fd, e closed, and the projection's writer evidence forgotten when it distrusted the projection (its
 * close marked it clean). err, or TMS_E_IO (*again 0, the lock let go) when the evidence stays. */
static tms_err keep_for_again(tms_engine *e, tms_err err, char *carried, int *again, int *lock_fd, char *why,
                              size_t whylen)
{
    char path[4200];
    int distrusted = e->store && !tms_store_trusted(e->store);
    *again = 1;
    snprintf(carried, 1200, "%s", e->report);
    *lock_fd = e->lock_fd;   /* kept for the next try */
    e->lock_fd = -1;
    tms_data_path(path, sizeof path, e->dir, "proj");
    tms_engine_close(e);   /* (marks the projection clean: nothing was written) */
    if (distrusted && tms_store_evidence_forget(path) != TMS_OK) {
        snprintf(why, whylen, "cannot remove %s/writer: %s", path, strerror(errno));
        *again = 0;   /* the next try would believe what this one did not */
        close(*lock_fd);
        *lock_fd = -1;
        return TMS_E_IO;
    }
    return err;
}

/* The open, once. An open that put its screen off and found it would write before the read (load_state)
 * ends with *again set, its report in carried (1200 bytes) and its lock's descriptor in *lock_fd, still
 * held, to be tried again screening first (*again set on the way in: it does, with that lock). */
static tms_err open_once(const char *dir, const tms_engine_options *opt, char *carried, int *again, int *lock_fd,
                         tms_engine **out, char *why, size_t whylen)
{
    char path[4200];
    tms_err err = TMS_E_NOMEM;
    tms_engine *e = calloc(1, sizeof *e);
    *out = NULL;
    if (!e)
        goto fail;
    e->lock_fd = -1;
    msgpack_sbuffer_init(&e->buf);
    if (opt)
        e->opt = *opt;
    e->opt.defer_screen &= !*again;
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
        err = TMS_E_IO;
        goto fail;
    }
    if ((err = tms_datadir_private(dir, e->report, sizeof e->report, why, whylen))) goto fail;   /* 0750 at most */
    if (*again) {   /* the first try's, never let go: no other writer came in between */
        e->lock_fd = *lock_fd;
        *lock_fd = -1;
    } else if ((err = take_lock(e, why, whylen))) {
        goto fail;
    }
    if (access(tms_data_path(path, sizeof path, dir, TMS_SEEDING_MARK), F_OK) == 0) {
        snprintf(why, whylen, "%s is being seeded, or its seed was interrupted: run tms-restore seed again", dir);
        err = TMS_E_INVAL;
        goto fail;
    }
    if ((err = tms__engine_set_aside(e, why, whylen)) || (err = open_log(e, *again, why, whylen)))
        goto fail;
    if (e->log_trusted)   /* decoded on a second core while the projection is screened */
        tms__snapshot_preload(e, e->log_trusted);
    if (!(e->state = tms_state_new())) {
        err = TMS_E_NOMEM;
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    if ((err = progress(e, "screen", 0, 0))) {
        snprintf(why, whylen, "the open was stopped");
        goto fail;
    }
    if ((err = tms__screen_or_defer(e, why, whylen)) ||
        (err = tms_store_open_sized(tms_data_path(path, sizeof path, dir, "proj"), TMS_STORE_WRITE,
                                     e->opt.map_bytes, &e->store, why, whylen)) ||
        (!tms__fold_deferrable(e) && (err = load_state(e, why, whylen))) || (err = open_rest(e, why, whylen)))
        goto fail;
    e->opened = 1;
    *out = e;
    return TMS_OK;
fail:
    if (e && e->scr.again)
        return keep_for_again(e, err, carried, again, lock_fd, why, whylen);
    tms_engine_close(e);
    return err;
}

tms_err tms_engine_open(const char *dir, const tms_engine_options *opt, tms_engine **out, char *why, size_t whylen)
{
    char carried[1200] = "", spare[1200];
    int again = 0, lock_fd = -1;
    tms_err err = open_once(dir, opt, carried, &again, &lock_fd, out, why, whylen);
    if (!again)
        return err;
    err = open_once(dir, opt, spare, &again, &lock_fd, out, why, whylen);
    if (lock_fd >= 0)
        close(lock_fd);   /* (the second try failed before it took it) */
    if (err == TMS_OK && carried[0]) {
        char *r = (*out)->report;   /* what the first try said (a set-aside request carried out ...) first */
        snprintf(spare, sizeof spare, "%s", r);
        snprintf(r, sizeof (*out)->report, "%.590s%s%.590s", carried, spare[0] ? "; " : "", spare);
    }
    return err;
}
