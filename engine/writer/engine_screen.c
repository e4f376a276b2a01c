/* engine_screen.c -- the projection's screen put off until after the open
 * (engine.h, defer_screen; docs/trust.md, "The projection's screen after
 * the open").
 *
 * A writer's open reads the whole projection for faults before it opens it
 * for writing, and compares its digest with the log's state
 * (screen_projection below; issue 8). At 5M records that read is most of an open
 * from a snapshot. When the open would write nothing into the projection
 * (it is believed, level with the log, its as-of index level, and the open
 * starts from a snapshot), it may instead be opened for writing at once and
 * read on a thread of its own after the open, by the writer's own LMDB
 * environment (one environment per file and process), with the same faults
 * caught (tms_store_screen). What the open would have compared at the
 * projection's seq is kept (the snapshot's recorded digest, the by-tenant
 * compare, or the whole state) and judged here once the read is done. No
 * write enters the projection before that: every write calls
 * tms_engine_screen_finish first, which waits for the read. Until the
 * judgement the state is the log's at the open's last seq, which is the
 * projection's: so the compare made now is the one the open would have made.
 *
 * DIR/proj/unscreened marks the wait: made before the projection is
 * opened, removed when the judgement holds. An open that finds it (the last
 * writer died before its screen ended, maybe of a fault in the damaged
 * projection) screens first, as every open did before.
 *
 * Judged damaged (a fault, or content not the log's state), the writer
 * fails, and nothing is set aside: the mark stays, and the next open (tmsd
 * exits 1, and its unit restarts it) screens first and does what an open
 * always did (the projection set aside as damaged, or the snapshot it
 * started from set aside and the whole log folded, and the projection
 * rebuilt). An open that finds it would write before the read after all (a
 * catch-up, a rebuild: engine.c, screen_put_off_writes) is made again,
 * screening first. */
#include "engine_internal.h"
#include "datadir.h"
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int tms__screen_deferrable(tms_engine *e)
{
    char proj[4200], what[600];
    uint8_t head[TMS_HASH_LEN];
    uint64_t seq = 0;
    tms_store_check_history hist = {.meta_only = 1};
    if (!e->opt.defer_screen || !e->log_trusted || e->opt.accept_loss || e->log_base)
        return 0;   /* no snapshot to start from, an acknowledged loss, a seeded log: the open writes */
    tms_data_path(proj, sizeof proj, e->dir, "proj");
    if ((!tms_store_evidence_trusts(proj) && !e->opt.screen_test_again) || tms_store_unscreened(proj))
        return 0;   /* (no evidence, or an unclean stop before a reboot: the open rebuilds) */
    /* a look at its meta (with faults caught): this format, level with the log, its index too: nothing to
       write (else the open would write before the read: load_state tries again, screening first) */
    if (tms_store_check(proj, 1, NULL, &seq, head, &hist, what, sizeof what) != TMS_OK ||
        hist.format != TMS_STORE_FORMAT || seq != tms_log_last_seq(e->log) || hist.seq != seq ||
        seq < e->log_trusted)
        return 0;
    memcpy(e->scr.proj_head, head, TMS_HASH_LEN);
    if (tms_store_mark_unscreened(proj, 1) != TMS_OK)
        return 0;
    if (pthread_mutex_init(&e->scr.lock, NULL) != 0) {
        tms_store_mark_unscreened(proj, 0);
        return 0;
    }
    e->scr.deferred = 1;
    return 1;
}

/* Whether the open may put the tail's fold off too (engine.h, defer_fold): its screen put off, the
 * projection trusted, and nothing the fold could find that an open refuses before it returns. The
 * projection's chain head is the log's at the same (last) seq, so the fold will match it there; and the
 * witness, if any, is readable and the log has its chain head at its seq (one frame read when it is behind
 * the log): so judge_loss, which the fold makes, has nothing to refuse after "started". */
int tms__fold_deferrable(tms_engine *e)
{
    tms__witness w;
    char why[300];
    uint8_t head[TMS_HASH_LEN];
    uint64_t last = tms_log_last_seq(e->log);
    if (!e->opt.defer_fold || !e->scr.deferred || !tms_store_trusted(e->store) ||
        memcmp(e->scr.proj_head, tms_log_head(e->log), TMS_HASH_LEN) != 0)
        return 0;
    if (tms__witness_read(e->dir, &w, why, sizeof why) != TMS_OK)
        return 0;
    if (w.present && (w.seq > last || (w.seq == last ? memcmp(w.head, tms_log_head(e->log), TMS_HASH_LEN) != 0
                                                     : tms__log_head_at(e, w.seq, head) != TMS_OK ||
                                                           memcmp(w.head, head, TMS_HASH_LEN) != 0)))
        return 0;
    e->snapshot_seq = e->log_trusted;   /* the one the fold will start from (it says, once run) */
    e->scr.unfolded = 1;
    atomic_store(&e->scr.fold_after, 1);
    return 1;
}

/* A damaged projection is never opened for writing: LMDB keeps no
 * checksums and would follow its bad pages (issue 8, item 5). It is read
 * whole first, with faults caught; damaged, it is set aside
 * (data.mdb.damaged) and rebuilt; readable, its digest is kept to be
 * compared with the log's state once folded. The walk goes on two cores:
 * the snapshot's second thread only reads and checks the file and decodes
 * the tail's tenants (engine_lazy.c), so a core is mostly idle meanwhile (at
 * 5M records with a 1% tail in one tenant: 1.84 -> 1.59 s to "started";
 * with it over every tenant, as fast as before). */
static tms_err screen_projection(tms_engine *e, char *why, size_t whylen)
{
    char proj[4200], what[600];
    uint8_t head[TMS_HASH_LEN];
    uint64_t seq;
    tms_data_path(proj, sizeof proj, e->dir, "proj");
    if (!tms_store_believable(proj))
        return TMS_OK;   /* never read: opening for writing sets it aside (store.h, "Evidence") */
    tms_store_check_history hist = {.walk_only = 1,   /* read for faults: the writer will write into its pages */
                                    .tenants = &e->screen_tenants,
                                    .two_cores = 1};
    tms_err err = tms_store_check(proj, 1, e->screen_digest, &seq, head, &hist, what, sizeof what);
    if (err == TMS_NOT_FOUND)
        return TMS_OK;
    if (err == TMS_E_CORRUPT) {
        size_t used = strlen(e->report);
        snprintf(e->report + used, sizeof e->report - used, "%s%s; set aside as proj/data.mdb.damaged, rebuilt",
                 used ? "; " : "", what);
        return tms_store_set_aside(proj, "damaged", why, whylen);
    }
    if (err) {
        snprintf(why, whylen, "projection: %s", what[0] ? what : tms_strerror(err));
        return err;
    }
    e->screened = 1;
    return TMS_OK;
}

/* The projection screened now, or (engine_screen.c) after the open. (A screen done now removes the mark of
 * one put off once the open has acted on it: tms_engine_open.) */
tms_err tms__screen_or_defer(tms_engine *e, char *why, size_t whylen)
{
    if (tms__screen_deferrable(e)) {
        e->screened = 1;   /* for the open's decisions: what it would compare is judged after the read */
        return TMS_OK;
    }
    return screen_projection(e, why, whylen);
}

static void *screen_main(void *arg)
{
    tms_engine *e = arg;
    if (e->opt.screen_hook)
        e->opt.screen_hook(e->opt.screen_hook_ctx);
    e->scr.err = tms_store_screen(e->store, e->screen_digest, &e->screen_tenants, e->scr.err_why,
                                  sizeof e->scr.err_why);
    e->scr.ns = now_ns() - e->scr.started_ns;
    return NULL;
}

tms_err tms__screen_start(tms_engine *e, char *why, size_t whylen)
{
    e->scr.at_seq = tms_log_last_seq(e->log);
    e->scr.started_ns = now_ns();
    atomic_store(&e->scr.pending, 1);
    if (pthread_create(&e->scr.thread, NULL, screen_main, e) != 0) {
        atomic_store(&e->scr.pending, 0);
        snprintf(why, whylen, "cannot start the projection's screen: out of threads");
        return TMS_E_NOMEM;
    }
    e->scr.started = 1;
    return TMS_OK;
}

/* The projection as read against the state: *differs. */
static tms_err compare(tms_engine *e, int *differs, char *why, size_t whylen)
{
    uint8_t mine[TMS_HASH_LEN];
    tms_err err;
    switch (e->scr.compare) {
    case TMS__SCREEN_SNAPSHOT:
        *differs = sodium_memcmp(e->scr.snap_pd, e->screen_digest, TMS_HASH_LEN) != 0;
        return TMS_OK;
    case TMS__SCREEN_BY_TENANT:
        return tms_projection_compare_at(e->scr.cmp, e->state, &e->screen_tenants, e->scr.snap_pd, differs);
    case TMS__SCREEN_WHOLE:
    default:
        if ((err = tms__lazy_need_all(e, why, whylen)) ||
            (err = tms_state_projection_digest(e->state, 0, NULL, mine)))
            return err;
        *differs = sodium_memcmp(mine, e->screen_digest, TMS_HASH_LEN) != 0;
        return TMS_OK;
    }
}

/* The writer stopped: no write from now on, each refused with why (and the same said to finish's callers). */
static tms_err fail(tms_engine *e, tms_err err, const char *what)
{
    e->failed = 1;
    snprintf(e->failed_why, sizeof e->failed_why, "%.390s", what);
    snprintf(e->scr.result_why, sizeof e->scr.result_why, "%s", what);
    return e->scr.result = err;
}

/* The read is done (the thread joined): held, or the writer failed. Nothing is set aside here: the mark
 * stays, and the next open screens first and makes the same compare, setting aside what it would have (the
 * projection, or the snapshot it started from: only one, as ever). */
static tms_err judge(tms_engine *e)
{
    char proj[4200], what[700], why[400] = "";
    int differs = 0;
    tms_data_path(proj, sizeof proj, e->dir, "proj");
    if (e->scr.fold_err) {   /* the tail folded after the open (defer_fold): what the open would have refused */
        snprintf(what, sizeof what, "folding the log's tail after the open: %.300s: writes refused, restart: the "
                 "open folds first", e->scr.fold_why[0] ? e->scr.fold_why : tms_strerror(e->scr.fold_err));
        return fail(e, e->scr.fold_err, what);
    }
    tms_err err = e->scr.err ? e->scr.err : compare(e, &differs, why, sizeof why);
    if (err == TMS_E_CORRUPT && e->scr.err) {
        snprintf(what, sizeof what, "%.300s: writes refused, restart: the open screens it first, sets it aside "
                 "and rebuilds it", e->scr.err_why);
        return fail(e, err, what);
    }
    if (err) {   /* not judged (out of memory, LMDB, a part that does not decode) */
        snprintf(what, sizeof what, "the projection's screen after the open failed: %.300s: writes refused, "
                 "restart: the open screens it first", e->scr.err ? e->scr.err_why : why[0] ? why : tms_strerror(err));
        return fail(e, err, what);
    }
    if (differs) {
        snprintf(what, sizeof what, "the projection's content is not the log's state at seq %llu (%s): writes "
                 "refused, restart: the open screens it first, compares again and rebuilds what differs",
                 (unsigned long long)e->scr.at_seq, e->snapshot_seq ? "carried from the snapshot it started from"
                                                                   : "folded whole");
        return fail(e, TMS_E_CORRUPT, what);
    }
    if ((err = tms__lazy_settle(e, why, sizeof why))) {
        snprintf(what, sizeof what, "after the projection's screen: %.300s", why[0] ? why : tms_strerror(err));
        return fail(e, err, what);
    }
    tms_store_mark_unscreened(proj, 0);   /* (left behind: the next open screens first, nothing worse) */
    return e->scr.result = TMS_OK;
}

tms_err tms_engine_screen_finish(tms_engine *e, char *why, size_t whylen)
{
    if (!e->scr.deferred)
        return TMS_OK;
    if (!atomic_load(&e->scr.pending))   /* judged already (every write after asks): no lock */
        goto judged;
    pthread_mutex_lock(&e->scr.lock);
    if (atomic_load(&e->scr.pending)) {
        if (e->scr.started)
            pthread_join(e->scr.thread, NULL);
        e->scr.started = 0;
        if (atomic_load(&e->scr.fold_after)) {   /* the tail, once the read is done (it caught any fault) */
            if (!e->scr.err)
                e->scr.fold_err = tms__engine_fold_after(e, e->scr.fold_why, sizeof e->scr.fold_why);
            e->scr.unfolded = e->scr.err || e->scr.fold_err;
            e->scr.ns = now_ns() - e->scr.started_ns;
            atomic_store(&e->scr.fold_after, 0);
        }
        judge(e);
        tms_projection_compare_free(e->scr.cmp);
        e->scr.cmp = NULL;
        tms_tenant_digests_free(&e->screen_tenants);
        atomic_store(&e->scr.pending, 0);
    }
    pthread_mutex_unlock(&e->scr.lock);
judged:
    if (e->scr.result)
        snprintf(why, whylen, "%s", e->scr.result_why);
    return e->scr.result;
}

int tms_engine_screen_pending(const tms_engine *e)
{
    return e->scr.deferred && atomic_load(&((tms_engine *)e)->scr.pending);
}

int tms_engine_fold_pending(const tms_engine *e)
{
    return e->scr.deferred && atomic_load(&((tms_engine *)e)->scr.fold_after);
}

const char *tms_engine_screen_status(const tms_engine *e)
{
    return tms_engine_screen_pending(e) ? "pending" : e->scr.deferred && e->scr.result ? "failed" : "held";
}

uint64_t tms_engine_screen_ns(const tms_engine *e)
{
    return tms_engine_screen_pending(e) ? 0 : e->scr.ns;
}

void tms__screen_free(tms_engine *e)
{
    if (!e->scr.deferred)
        return;
    if (e->scr.started)
        pthread_join(e->scr.thread, NULL);
    e->scr.started = 0;
    tms_projection_compare_free(e->scr.cmp);
    e->scr.cmp = NULL;
    pthread_mutex_destroy(&e->scr.lock);
    e->scr.deferred = 0;
}
