/* tool_verify_snap.c -- kept snapshots read ahead of verify's fold
 * (tool_verify.h). Each kept snapshot is compared with the replayed state
 * when the fold reaches its seq, and the fold waits for that comparison.
 * Reading and checking the file (its CRC, digest and parts: a pass over
 * ~130 MB at 5M records) is work the state does not need, so a thread of
 * its own does it while the fold is still on its way there. One snapshot is
 * read ahead at a time; the next is started once the fold is done with this
 * one (its payload freed): at its seq, memory holds its payload and the
 * state's encoding compared with it, never a third copy.
 *
 * A read cannot be cancelled: a snapshot the fold never reaches (beyond the
 * log's end, or after a fold that stopped early) is still read whole, and
 * the end waits for it. */
#include "tool_common.h"
#include "tool_verify.h"
#include "snapshot.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct tool_snap_ahead {
    pthread_t th;
    const char *datadir;
    uint64_t seq;
    int behind;   /* read behind the fold's helpers (tool_verify_waited_at_end) */
    /* out, read by the fold's thread after the join */
    tms_snapshot_meta m;
    uint8_t *payload;
    size_t len;
    tms_err err;
    char why[400];
};

static void *read_ahead(void *arg)
{
    struct tool_snap_ahead *a = arg;
    if (a->behind)
        tool_thread_in_background();   /* waited for at its seq, near the end; till then the fold comes first */
    a->err = tms_snapshot_read(a->datadir, a->seq, &a->m, &a->payload, &a->len, a->why, sizeof a->why);
    return NULL;
}

void tool_verify_snap_ahead(vstate *s, uint64_t after)
{
    size_t i = 0;
    struct tool_snap_ahead *a;
    if (s->snap_ahead)
        return;   /* one at a time (the one read is taken first) */
    while (i < s->nsnaps && s->snaps[i] <= after)
        i++;
    if (i == s->nsnaps || s->parts || !(a = calloc(1, sizeof *a)))
        return;   /* none due (--since by parts compares only the end); out of memory: read when due */
    a->datadir = s->datadir;
    a->seq = s->snaps[i];
    a->behind = tool_verify_waited_at_end(s, a->seq);
    if (pthread_create(&a->th, NULL, read_ahead, a) != 0) {
        free(a);
        return;
    }
    s->snap_ahead = a;
}

/* The read ahead, waited for; NULL when none was running. */
static struct tool_snap_ahead *take(vstate *s)
{
    struct tool_snap_ahead *a = s->snap_ahead;
    if (a)
        pthread_join(a->th, NULL);
    s->snap_ahead = NULL;
    return a;
}

int tool_verify_snap_due(vstate *s, uint64_t seq, tms_snapshot_meta *m, uint8_t **payload, size_t *len)
{
    struct tool_snap_ahead now = {.datadir = s->datadir, .seq = seq}, *a = take(s);
    if (a && a->seq != seq) {   /* cannot happen (the fold meets every seq after its start, and the read ahead is
                                   the first kept one after the start or after the one before): a defence */
        free(a->payload);
        free(a);
        a = NULL;
    }
    if (a && a->err == TMS_E_NOMEM) {   /* memory was short beside the fold: tried again now, the last use freed */
        free(a);
        a = NULL;
    }
    if (!a) {
        a = &now;
        read_ahead(a);   /* (no thread could be started, or none was) */
    }
    if (a->err == TMS_E_NOMEM) {   /* no verdict: the snapshot is not to be called damaged */
        if (a != &now)
            free(a);
        return -1;
    }
    *m = a->m;
    *payload = a->payload;
    *len = a->len;
    if (a->err && a->err != TMS_NOT_FOUND)
        tool_verify_failure(s, "snapshot", seq, NULL, 0, a->why);
    tms_err err = a->err;
    if (a != &now)
        free(a);
    /* another version's encoding is not compared (the writer does not use it either) */
    if (!err && m->schema == TMS_SCHEMA_VERSION && !strcmp(m->build, tms_version()))
        return 1;
    free(*payload);
    *payload = NULL;
    return 0;
}

void tool_verify_snap_end(vstate *s)
{
    struct tool_snap_ahead *a = take(s);
    if (a)
        free(a->payload);
    free(a);
}

/* The encoding's bytes as they come against a kept payload: off bytes of it
 * matched so far; same 0 from the first that differs (or runs past it).
 * compare_write returns 0 (the encoder goes on to the end either way: a
 * write it is refused counts as out of memory). */
typedef struct comparer {
    const uint8_t *kept;
    size_t len, off;
    int same;
} comparer;

static int compare_write(void *data, const char *buf, size_t len)
{
    comparer *c = data;
    if (c->same && (len > c->len - c->off || memcmp(c->kept + c->off, buf, len)))
        c->same = 0;
    if (c->same)
        c->off += len;
    return 0;
}

tms_err tool_verify_snap_same(const tms_state *st, const uint8_t *kept, size_t len, int *same)
{
    comparer c = {kept, len, 0, 1};
    tms_err err = tms_state_snapshot_encode_to(st, compare_write, &c);
    *same = !err && c.same && c.off == c.len;
    return err;
}

int tool_verify_waited_at_end(const vstate *s, uint64_t seq)
{
    uint64_t n = s->tc.tree_size;
    return n && seq >= n - n / 16;
}
