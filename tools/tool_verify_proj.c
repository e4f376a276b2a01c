/* tool_verify_proj.c -- step 1 of tms-audit verify: the live projection's
 * meta (seq, chain head, the as-of index's mark) and digests (its state's;
 * its index's tally), in one LMDB read snapshot taken before the log is read,
 * so that a live writer can only be ahead in the log.
 *
 * A full verify needs only the meta before its fold starts: the walks (0.4
 * s of a 2.8 s verify at a million records) go on beside the fold, on a
 * thread of their own, and tool_verify_proj_settle waits for them where
 * their answers are first needed (the projection's seq, or the fold's end).
 * Until then s->proj says the projection is there and its meta was read;
 * settled, it also says the walks held (a damaged projection is then
 * noted in s->damaged and no longer counted, as a read before the fold
 * would have said). */
#include "engine.h"
#include "tool_common.h"
#include "tool_verify.h"
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tool_proj_reader {
    vstate *s;
    const char *datadir;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int meta, done;   /* under mu: the meta is read; the read is over */
    int proj, rc;     /* the read's answers, taken after the join */
};

/* The projection of datadir read with faults caught (a damaged LMDB file
 * must not crash the auditor: issue 8, item 5): 0 with *proj 1 when it was
 * read whole (0: absent, or damaged: then s->damaged says why), or
 * TOOL_ERROR. on_meta(ctx), when given, hears when the meta is read. With
 * --since the as-of index is neither walked nor tallied: only a full verify
 * compares it (0.1 s of a 0.6 s --since at a million records). */
static int read_projection(vstate *s, const char *datadir, int *proj, void (*on_meta)(void *), void *ctx)
{
    char path[4200], why[512];
    randombytes_buf(s->phist.key, sizeof s->phist.key);   /* the as-of index's tally: step 4 uses it too */
    s->phist.on_meta = on_meta;
    s->phist.ctx = ctx;
    s->phist.skip_index = s->has_since;   /* --since: the tenant digests only (tool_verify_parts.c) */
    s->phist.tenants = s->has_since ? &s->ptenants : NULL;
    s->phist.two_cores = s->has_since;   /* a full verify's fold keeps both cores busy; --since's tail does not */
    tms_err err = tms_store_check(tms_data_path(path, sizeof path, datadir, "proj"), 0, s->pdigest, &s->pseq,
                                  s->phead, &s->phist, why, sizeof why);
    *proj = 0;
    if (err == TMS_NOT_FOUND)
        return 0;
    if (err == TMS_E_CORRUPT) {
        snprintf(s->damaged, sizeof s->damaged, "%s", why);
        return 0;
    }
    if (err)
        return tool_fail("cannot read the projection: %s", why[0] ? why : tms_strerror(err));
    *proj = 1;
    return 0;
}

int tool_verify_proj_read(vstate *s, const char *datadir)
{
    return read_projection(s, datadir, &s->proj, NULL, NULL);
}

static void heard_meta(void *ctx)
{
    struct tool_proj_reader *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->meta = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (tool_verify_waited_at_end(r->s, r->s->pseq))   /* the walks: waited for at the fold's end, the fold is not */
        tool_thread_in_background();
}

static void *reader_main(void *arg)
{
    struct tool_proj_reader *r = arg;
    int rc = read_projection(r->s, r->datadir, &r->proj, heard_meta, r);
    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->done = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int tool_verify_proj_begin(vstate *s, const char *datadir)
{
    struct tool_proj_reader *r = calloc(1, sizeof *r);
    if (!r || pthread_mutex_init(&r->mu, NULL)) {
        free(r);
        return tool_verify_proj_read(s, datadir);
    }
    if (pthread_cond_init(&r->cv, NULL)) {
        pthread_mutex_destroy(&r->mu);
        free(r);
        return tool_verify_proj_read(s, datadir);
    }
    r->s = s;
    r->datadir = datadir;
    if (pthread_create(&r->thread, NULL, reader_main, r)) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return tool_verify_proj_read(s, datadir);
    }
    s->preader = r;
    pthread_mutex_lock(&r->mu);
    while (!r->meta && !r->done)
        pthread_cond_wait(&r->cv, &r->mu);
    int meta = r->meta;
    pthread_mutex_unlock(&r->mu);
    if (!meta)   /* absent, or not read at all: nothing goes on beside the fold */
        return tool_verify_proj_settle(s);
    s->proj = 1;   /* there, its meta read: the walks go on */
    return 0;
}

int tool_verify_proj_settle(vstate *s)
{
    struct tool_proj_reader *r = s->preader;
    if (!r)
        return s->proj_rc;
    pthread_join(r->thread, NULL);
    s->proj = r->proj;
    s->proj_rc = r->rc;
    s->preader = NULL;
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return s->proj_rc;
}
