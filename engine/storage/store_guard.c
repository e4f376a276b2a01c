/* store_guard.c -- reading a projection that may be damaged (issue 8,
 * item 5). LMDB keeps no checksums: a flipped page number or value size
 * sends it outside its file, and the process dies of SIGBUS (inside the map,
 * past the end of the file) or SIGSEGV (past the map). A projection is a
 * cache, so damage must come back as an error -- reported, and the
 * projection rebuilt -- never as a crash. The walk that checks a whole
 * projection (open, meta, digest) runs with those two signals caught; a
 * fault ends it with TMS_E_CORRUPT, and the environment it faulted in is
 * abandoned (a small leak; closing it could fault again). One guarded walk
 * at a time per process; its helper threads' faults are caught too
 * (tms__guarded: the digest walk's helper), other threads' are not
 * (they re-raise). */
#include "store_internal.h"
#include "history.h"
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof((tms_store_check_history *)0)->key == TMS_HISTORY_TALLY_KEY, "store.h: the tally's key");

static sigjmp_buf guard_jmp;
/* Environments abandoned after a fault: kept, not closed (closing could
 * fault again) and not lost either. A process meets few damaged projections. */
#define ABANDONED_MAX 16
static tms_store *abandoned[ABANDONED_MAX];
static int nabandoned;
/* ... and what a walk of an owner's store (tms_store_screen) had in flight: the store is its owner's to
 * close, its faulted transaction and walk kept here. */
static void *abandoned_walks[2 * ABANDONED_MAX];
static int nabandoned_walks;
static volatile sig_atomic_t guard_armed;
static pthread_t guard_thread;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;

static _Thread_local sigjmp_buf *helper_jmp;   /* a helper thread's of the guarded walk (tms__guarded) */

static void on_fault(int sig)
{
    if (guard_armed && pthread_equal(pthread_self(), guard_thread))
        siglongjmp(guard_jmp, sig);
    if (guard_armed && helper_jmp)
        siglongjmp(*helper_jmp, sig);
    signal(sig, SIG_DFL);   /* not ours: die as we would have */
    raise(sig);
}

tms_err tms__guarded(tms_err (*fn)(void *), void *ctx)
{
    sigjmp_buf jb;
    volatile tms_err err = TMS_E_CORRUPT;
    if (sigsetjmp(jb, 1) == 0) {
        helper_jmp = &jb;
        err = fn(ctx);
    }
    helper_jmp = NULL;
    return err;
}

/* The unguarded work: open (unless given: the caller's own, open), meta, digest, close. */
static tms_err check(const char *dir, tms_store *given, int state_only, uint8_t out[TMS_HASH_LEN], uint64_t *seq,
                     uint8_t head[TMS_HASH_LEN], tms_store_check_history *hist, tms_store **st, char *why,
                     size_t whylen)
{
    tms_txn *tx = NULL;
    tms_err err = given ? TMS_OK : tms_store_open(dir, TMS_STORE_READONLY, st, why, whylen);
    if (err)
        return err;
    if (given)
        *st = given;
    if (!(err = tms_txn_begin(*st, 0, &tx)))
        (*st)->guarded = tx;   /* reachable should the walk fault */
    if (!err && !(err = tms_meta_get(tx, seq, head)) && hist && !(err = tms_history_complete(tx, &hist->seq)) &&
        hist->on_meta)
        hist->on_meta(hist->ctx);
    if (!err && hist && hist->meta_only)
        err = tms_store_format(tx, &hist->format);
    /* the index walked too (its pages may be bad): beside the state's walk on its two threads when it is only read */
    int beside = hist && hist->walk_only && hist->two_cores && !hist->skip_index;
    if (!err && !(hist && hist->meta_only))
        err = tms__store_tenant_digests(tx, state_only, hist && hist->two_cores, beside, out,
                                        hist ? hist->tenants : NULL);
    if (!err && hist && !hist->skip_index && !hist->meta_only && !beside)
        err = hist->walk_only ? tms_history_walk(tx) : tms_history_tally_index(tx, hist->key, hist->digest);
    (*st)->guarded = NULL;
    tms_txn_abort(tx);
    if (!given)
        tms_store_close(*st);
    *st = NULL;
    return err;
}

/* check() with SIGBUS and SIGSEGV caught: a fault abandons the environment it faulted in (given's is marked
 * never to be synced or marked clean again: its owner closes it). */
static tms_err guarded_check(const char *dir, tms_store *given, int state_only, uint8_t out[TMS_HASH_LEN],
                             uint64_t *seq, uint8_t head[TMS_HASH_LEN], tms_store_check_history *hist, char *why,
                             size_t whylen)
{
    struct sigaction sa, old_bus, old_segv;
    tms_store *volatile st = NULL;
    volatile tms_err err;
    why[0] = '\0';
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sigemptyset(&sa.sa_mask);
    pthread_mutex_lock(&guard_lock);
    guard_thread = pthread_self();
    sigaction(SIGBUS, &sa, &old_bus);
    sigaction(SIGSEGV, &sa, &old_segv);
    int sig = sigsetjmp(guard_jmp, 1);
    if (sig == 0) {
        guard_armed = 1;
        err = check(dir, given, state_only, out, seq, head, hist, (tms_store **)&st, why, whylen);
        guard_armed = 0;
    } else {
        if (st)   /* a digest walk's helper: waited for, its own faults still caught meanwhile */
            tms__digest_walk_abandon(st->walking);
        guard_armed = 0;   /* the environment is abandoned, not closed: closing it could fault again */
        if (st && st == given) {
            st->trusted = -1;   /* its owner's: never synced or marked clean (store.c, tms_store_close) */
            if (nabandoned_walks + 2 <= 2 * ABANDONED_MAX) {
                abandoned_walks[nabandoned_walks++] = st->guarded;
                abandoned_walks[nabandoned_walks++] = st->walking;
            }
            st->guarded = NULL;
            st->walking = NULL;
        } else if (st && nabandoned < ABANDONED_MAX) {
            abandoned[nabandoned++] = st;
        }
        err = TMS_E_CORRUPT;
        snprintf(why, whylen, "the projection in %s is damaged: reading it faulted (%s)", dir,
                 sig == SIGBUS ? "SIGBUS: a page outside its file" : "SIGSEGV: a page outside the map");
    }
    sigaction(SIGBUS, &old_bus, NULL);
    sigaction(SIGSEGV, &old_segv, NULL);
    pthread_mutex_unlock(&guard_lock);
    if (err == TMS_E_STORE || err == TMS_E_NOMEM || (err == TMS_E_CORRUPT && !why[0])) {
        snprintf(why + strlen(why), whylen - strlen(why), "%sthe projection in %s is damaged (LMDB: %s)",
                 why[0] ? "; " : "", dir, tms_strerror(err));
        err = TMS_E_CORRUPT;
    }
    return err;
}

tms_err tms_store_check(const char *dir, int state_only, uint8_t out[TMS_HASH_LEN], uint64_t *seq,
                        uint8_t head[TMS_HASH_LEN], tms_store_check_history *hist, char *why, size_t whylen)
{
    return guarded_check(dir, NULL, state_only, out, seq, head, hist, why, whylen);
}

tms_err tms_store_screen(tms_store *st, uint8_t out[TMS_HASH_LEN], tms_tenant_digests *tenants, char *why,
                         size_t whylen)
{
    uint64_t seq;
    uint8_t head[TMS_HASH_LEN];
    tms_store_check_history hist = {.walk_only = 1, .tenants = tenants};   /* one core: the other answers */
    return guarded_check(st->dir, st, 1, out, &seq, head, &hist, why, whylen);
}
