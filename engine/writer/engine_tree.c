/* engine_tree.c -- the writer's Merkle tree (tree.h): opened level with the
 * recovered log and checked against the latest kept checkpoint, then fed
 * each group's leaves once the log has synced them. */
#include "engine_internal.h"
#include "tree.h"
#include <stdio.h>
#include <string.h>

/* The Merkle tree, level with the recovered log (rebuilt from it where it cannot be believed). */
tms_err tms__engine_open_tree(tms_engine *e, char *why, size_t whylen)
{
    char logdir[4200];
    uint64_t rebuilt = 0, last = tms_log_last_seq(e->log);
    tms_err err = tms_tree_open_writer(e->dir, tms_data_path(logdir, sizeof logdir, e->dir, "log"), last, &e->tree,
                                       &rebuilt, why, whylen);
    if (err == TMS_OK && rebuilt && rebuilt < last) {   /* a whole rebuild of a new tree is not news */
        size_t n = strlen(e->report);
        snprintf(e->report + n, sizeof e->report - n, "%sMerkle tree: %llu records' hashes recomputed from the log",
                 n ? "; " : "", (unsigned long long)rebuilt);
    }
    char said[300] = "";
    if (!err && (err = tms_tree_check_signed(e->tree, e->dir, logdir, last, said, sizeof said)) == TMS_OK && said[0]) {
        size_t n = strlen(e->report);
        snprintf(e->report + n, sizeof e->report - n, "%s%s", n ? "; " : "", said);
    } else if (err && said[0]) {
        snprintf(why, whylen, "%s", said);
    }
    return err;
}

/* The log synced the group: its leaves go into the tree. A tree that cannot
 * be written lags the log (derived data: the group stands) and catches up
 * at the next group or open; tms_engine_tree_error says why meanwhile. */
void tms__engine_tree_durable(tms_engine *e)
{
    char logdir[4200];
    tms_err err = TMS_OK;
    if (!tms_tree_behind(e->tree) && (err = tms_tree_commit(e->tree)) == TMS_OK) {
        e->tree_error[0] = '\0';
        return;
    }
    if (!err) {
        tms_tree_discard(e->tree);
        err = tms_tree_catch_up(e->tree, tms_data_path(logdir, sizeof logdir, e->dir, "log"),
                                tms_log_last_seq(e->log), e->tree_error, sizeof e->tree_error);
    }
    if (err && !e->tree_error[0])
        snprintf(e->tree_error, sizeof e->tree_error, "the Merkle tree cannot be written: %s", tms_strerror(err));
    else if (!err)
        e->tree_error[0] = '\0';
}

