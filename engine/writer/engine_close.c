/* engine_close.c -- a writer closed (a clean close's snapshot and witness
 * first), and what it says of itself (engine.h). */
#include "engine_internal.h"
#include "tree.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void tms_engine_close(tms_engine *e)
{
    char why[700];
    if (!e)
        return;
    if (e->opened)
        tms_engine_screen_finish(e, why, sizeof why);   /* the snapshot below needs it held (engine_screen.c) */
    tms__screen_free(e);
    tms__snapshot_open_end(e, 0);   /* an open that failed after it was started */
    if (e->opened && !e->failed && !e->behind && !tms_tree_behind(e->tree)) {   /* the next open starts here */
        uint64_t size, last = tms_log_last_seq(e->log);
        tms_tlog_hash root;
        tms_snapshot_meta m;
        tms_tree_head(e->tree, &size, root);
        if (size == last && last - tms__snapshot_newest(e->dir, &m) >= TMS_SNAPSHOT_TAIL(last) &&
            tms__snapshot_save(e->dir, e->state, &e->lazy, size, e->head, root, e->last_time, 0, why, sizeof why) != TMS_OK)
            fprintf(stderr, "tmsperm: %s (the next open folds the log)\n", why);
    }
    if (e->opened && !e->failed)   /* how far the log went, for the next open to check */
        tms__witness_write(e->dir, tms_log_last_seq(e->log), e->head);
    tms__snapshot_preload_end(e);   /* an open that failed before it was taken */
    tms_tree_close(e->tree);
    tms_store_close(e->store);
    tms__lazy_free(&e->lazy);
    tms_state_free(e->state);
    tms_log_close(e->log);
    if (e->lock_fd >= 0)
        close(e->lock_fd);   /* releases the flock */
    msgpack_sbuffer_destroy(&e->buf);
    tms_history_batch_free(&e->history);
    tms_tenant_digests_free(&e->screen_tenants);   /* an open that failed before its fold */
    free(e);
}

tms_store *tms_engine_store(tms_engine *e) { return e->store; }
tms_tree *tms_engine_tree(tms_engine *e) { return e->tree; }
const char *tms_engine_tree_error(const tms_engine *e) { return e->tree_error; }
const tms_state *tms_engine_state(tms_engine *e)
{
    char why[700];
    if (tms_engine_fold_pending(e))
        tms_engine_screen_finish(e, why, sizeof why);   /* the tail's fold put off: run now */
    if (e->scr.unfolded)
        return NULL;   /* ... and it failed, or never ran (the read failed first): not the log's state */
    return tms__lazy_need_all(e, why, sizeof why) ? NULL : e->state;
}
uint64_t tms_engine_tenants_pending(const tms_engine *e) { return e->lazy.unloaded; }
uint64_t tms_engine_last_seq(const tms_engine *e) { return tms_log_last_seq(e->log); }
const char *tms_engine_open_report(const tms_engine *e) { return e->report; }
uint64_t tms_engine_snapshot_seq(const tms_engine *e) { return e->snapshot_seq; }
uint64_t tms_engine_tenants_compared(const tms_engine *e) { return e->snapshot_seq ? e->tenants_compared : 0; }
uint64_t tms_engine_tenants_digested(const tms_engine *e) { return e->snapshot_seq ? e->tenants_digested : 0; }
