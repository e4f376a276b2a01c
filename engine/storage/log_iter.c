/* log_iter.c -- tms_log_iter (log.h): the checking reader of log_recover.c
 * handed out record by record, with the hash chain checked in line, on a
 * second thread, shared, or (recovery has just done it) not at all. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sodium.h>
#include "log_reader.h"

/* ---- tms_log_iter ----
 * With TMS_LOG_ITER_CHAIN_ON_THREAD the iterator reads frames with their
 * CRCs checked (seq continuity too) and a second reader on its own thread
 * checks everything, the hash chain included, over the same files: each
 * frame stores its hash, so the chain is checked frame by frame against the
 * stored hash of the one before. A frame is handed out only once the
 * checker has verified it; frames the checker never saw (appended after it
 * ended) are hashed here. With TMS_LOG_ITER_CHAIN_SHARED both threads
 * hash: the checker every odd frame, and the even frames go by blocks of
 * SHARE_BLOCK to whichever side reaches the block first (the checker only
 * when it is a whole block ahead of the iterator), so the thread with less
 * else to do takes more. With TMS_LOG_ITER_CHAIN_CHECKED the chain is not
 * recomputed at all: the caller has just verified it (recovery, under the
 * writer's lock). */

#define SHARE_BLOCK 256          /* frames per block of TMS_LOG_ITER_CHAIN_SHARED's even frames */
#define SHARE_LEAD 8             /* blocks the checker must be ahead of the iterator to take one */
#define SHARE_RING 64            /* blocks the checker may take ahead of the iterator, at most */
enum { SIDE_ITER = 0, SIDE_CHECKER = 1 };

/* One side of the share: the iterator (it->r) or the checker (it->cr). */
typedef struct share_side {
    struct tms_log_iter *it;
    int who;                     /* SIDE_* */
    uint64_t block;              /* the block of the last answer, + 1 (0: none yet) */
    int mine;                    /* that block's even frames are this side's */
} share_side;

struct tms_log_iter {
    rd r;
    int dirfd;
    uint64_t from;
    tms_log_locator at;         /* where to start reading (offset 0: the segment's start) */
    tms_err sticky;             /* a corruption or I/O error is final */
    tms_log_report rep;
    int flags;
    /* the checker (TMS_LOG_ITER_CHAIN_ON_THREAD) */
    int has_thread;
    pthread_t thread;
    rd cr;
    tms_log_report crep;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t verified;   /* every frame up to this seq is verified */
    _Atomic int waiting, stop;
    int cdone;                   /* under mu: 1 ended, 2 found damage (crep) */
    _Atomic int ended;           /* cdone set: nothing more to wait for (read without mu) */
    _Atomic uint64_t checker_blocks;   /* blocks of even frames the checker took (tms__log_iter_checker_blocks) */
    /* TMS_LOG_ITER_CHAIN_SHARED: who hashes a block's even frames. claim[b % SHARE_RING] holds
       (b + 1) << 1 | SIDE_CHECKER or SIDE_ITER once a side took block b; the iterator publishes the
       block it is in (after taking it) as iter_block. Each side keeps its last answer. */
    _Atomic uint64_t claim[SHARE_RING];
    _Atomic uint64_t iter_block;
    share_side side_iter, side_checker;
};

#define CHECK_PUBLISH 64         /* frames between two publications of the checker's progress */
#define SPIN_WAIT 4096           /* polls of the checker's progress before a frame's wait sleeps */

static void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

static void check_publish(tms_log_iter *it, uint64_t seq, int done)
{
    atomic_store(&it->verified, seq);
    if (!done && !atomic_load(&it->waiting))
        return;
    pthread_mutex_lock(&it->mu);
    if (done) {
        it->cdone = done;
        atomic_store(&it->ended, 1);
    }
    pthread_cond_broadcast(&it->cv);
    pthread_mutex_unlock(&it->mu);
}

static void *checker(void *arg)
{
    tms_log_iter *it = arg;
    uint64_t n = 0;
    for (;;) {
        int st = tms__rd_next(&it->cr);
        if (st == RD_FRAME && !atomic_load(&it->stop)) {
            if (++n % CHECK_PUBLISH == 0 || atomic_load(&it->waiting))
                check_publish(it, it->cr.expect - 1, 0);
            continue;
        }
        check_publish(it, it->cr.expect - 1, st == RD_ERR ? 2 : 1);
        return NULL;
    }
}

/* Which side hashes block b's even frames: the first to take it. The
 * checker takes only blocks the iterator has not reached (it is ahead),
 * and not so far ahead that b's slot is still another block's the
 * iterator may ask about. Returns the owner (SIDE_*). */
static int share_owner(tms_log_iter *it, int who, uint64_t b)
{
    _Atomic uint64_t *slot = &it->claim[b % SHARE_RING];
    uint64_t want = (b + 1) << 1 | (uint64_t)who;
    uint64_t v = atomic_load(slot);
    for (;;) {
        uint64_t vb = v >> 1;   /* the slot's block + 1 */
        if (vb == b + 1)
            return (int)(v & 1);
        if (vb > b + 1)          /* a later block's: the iterator passed b, so it took b */
            return SIDE_ITER;
        if (who == SIDE_CHECKER) {
            uint64_t ib = atomic_load(&it->iter_block);
            if (b < ib + SHARE_LEAD || b >= ib + SHARE_RING - 1)
                return SIDE_ITER;   /* not well ahead (it takes b on arrival), or too far ahead */
        }
        if (atomic_compare_exchange_strong(slot, &v, want)) {
            if (who == SIDE_CHECKER)
                atomic_fetch_add(&it->checker_blocks, 1);
            return who;
        }
    }
}

/* rd's hash_pick: 1 when this side recomputes frame seq's chain. */
static int share_pick(void *ctx, uint64_t seq)
{
    share_side *sd = ctx;
    if (seq % 2)
        return sd->who == SIDE_CHECKER;
    uint64_t b = seq / SHARE_BLOCK;
    if (sd->block != b + 1) {
        sd->mine = share_owner(sd->it, sd->who, b) == sd->who;
        sd->block = b + 1;
        if (sd->who == SIDE_ITER)
            atomic_store(&sd->it->iter_block, b);
    }
    return sd->mine;
}

static tms_err start_checker(tms_log_iter *it)
{
    tms_err e = tms__rd_init(&it->cr, it->dirfd, it->from, 1, &it->crep);
    if (e != TMS_OK)
        return e;
    it->cr.skim_below = it->from;
    it->cr.hint_seg = it->at.seg_first;
    it->cr.hint_off = it->at.offset;
    if (it->flags & TMS_LOG_ITER_CHAIN_SHARED) {   /* odd frames there, even ones by blocks */
        it->side_iter = (share_side){it, SIDE_ITER, 0, 0};
        it->side_checker = (share_side){it, SIDE_CHECKER, 0, 0};
        it->r.hash_pick = it->cr.hash_pick = share_pick;
        it->r.hash_ctx = &it->side_iter;
        it->cr.hash_ctx = &it->side_checker;
        atomic_store(&it->iter_block, it->from / SHARE_BLOCK);   /* where it starts: no block before is the checker's */
    } else {
        it->r.hash_from = UINT64_MAX;   /* the iterator itself checks CRCs only */
    }
    if (pthread_mutex_init(&it->mu, NULL) || pthread_cond_init(&it->cv, NULL))
        return TMS_E_NOMEM;
    if (pthread_create(&it->thread, NULL, checker, it)) {
        pthread_cond_destroy(&it->cv);
        pthread_mutex_destroy(&it->mu);
        return TMS_E_NOMEM;
    }
    it->has_thread = 1;
    return TMS_OK;
}

tms_err tms_log_iter_open(const char *dir, uint64_t from_seq, tms_log_iter **out,
                          tms_log_report *rep)
{
    return tms_log_iter_open_flags(dir, from_seq, 0, out, rep);
}

tms_err tms_log_iter_open_flags(const char *dir, uint64_t from_seq, int flags, tms_log_iter **out,
                                tms_log_report *rep)
{
    return tms_log_iter_open_at(dir, from_seq, flags, NULL, out, rep);
}

tms_err tms_log_iter_open_at(const char *dir, uint64_t from_seq, int flags, const tms_log_locator *at,
                             tms_log_iter **out, tms_log_report *rep)
{
    tms_log_report scratch;
    tms_log_iter *it = NULL;
    tms_err e;
    if (!rep)
        rep = &scratch;
    memset(rep, 0, sizeof *rep);
    if (!dir || !out)
        return TMS_E_INVAL;
    *out = NULL;
    it = calloc(1, sizeof *it);
    if (!it)
        return TMS_E_NOMEM;
    it->r.fd = -1;
    it->cr.fd = -1;
    it->flags = flags;
    it->from = from_seq ? from_seq : 1;
    it->dirfd = tms_io_openat(NULL, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (it->dirfd < 0) {
        snprintf(rep->msg, sizeof rep->msg, "cannot open log directory %s: %s", dir, strerror(errno));
        e = TMS_E_IO;
        goto fail;
    }
    e = tms__rd_init(&it->r, it->dirfd, it->from, 1, &it->rep);
    it->r.skim_below = it->from;   /* the frames it passes over: rd_skim */
    if (at) {   /* a hint: rd_hint */
        it->at = *at;
        it->r.hint_seg = at->seg_first;
        it->r.hint_off = at->offset;
    }
    if (e == TMS_OK && it->from <= it->r.base) {   /* never skipped to base + 1 silently */
        snprintf(it->rep.msg, sizeof it->rep.msg, "seq %llu is not in this log: it starts after seq %llu (a data "
                 "directory seeded from a snapshot of that seq)", (unsigned long long)it->from,
                 (unsigned long long)it->r.base);
        e = TMS_NOT_FOUND;
    }
    if (e == TMS_OK && (flags & TMS_LOG_ITER_CHAIN_CHECKED))
        it->r.hash_from = UINT64_MAX;
    else if (e == TMS_OK && (flags & (TMS_LOG_ITER_CHAIN_ON_THREAD | TMS_LOG_ITER_CHAIN_SHARED)))
        e = start_checker(it);
    if (e != TMS_OK) {
        *rep = it->rep.msg[0] ? it->rep : it->crep;
        goto fail;
    }
    *out = it;
    return TMS_OK;
fail:
    tms_log_iter_close(it);
    return e;
}

/* The frame f of record seq verified, the chain included, before it is
 * handed out; prev is the stored hash of the frame before it. */
static tms_err await_check(tms_log_iter *it, uint64_t seq, const uint8_t *prev, const uint8_t *f, uint32_t len)
{
    tms_frame_info fi;
    if (it->r.hash_pick && share_pick(&it->side_iter, seq))
        return TMS_OK;   /* shared: this thread's reader hashed this frame itself */
    for (int spin = 0; spin < SPIN_WAIT && seq > atomic_load(&it->verified) && !atomic_load(&it->ended); spin++)
        spin_pause();   /* the checker is usually a few frames away: sleeping costs more */
    if (seq > atomic_load(&it->verified)) {
        pthread_mutex_lock(&it->mu);
        atomic_store(&it->waiting, 1);
        while (seq > atomic_load(&it->verified) && !it->cdone)
            pthread_cond_wait(&it->cv, &it->mu);
        atomic_store(&it->waiting, 0);
        pthread_mutex_unlock(&it->mu);
    }
    if (seq <= atomic_load(&it->verified))
        return TMS_OK;
    if (it->cdone == 2) {   /* the checker found damage at this very frame */
        it->rep = it->crep;
        return it->cr.err;
    }
    tms_frame_fault fault = tms__frame_check(f, TMS_LOG_FRAME_HEADER + (size_t)len, seq, prev, &fi);
    if (fault == TMS_FRAME_OK)   /* appended after the checker ended: checked (hashed) here */
        return TMS_OK;
    it->r.expect = seq;
    it->r.off = it->r.frame_off;
    tms__rd_fault(&it->r, fault, &fi);
    return it->r.err;
}

static void iter_note_tear(tms_log_iter *it)
{
    tms_log_report *rep = &it->rep;
    rep->torn = 1;
    rep->torn_bytes = it->r.torn_bytes;
    rep->torn_offset = it->r.torn_off;
    snprintf(rep->torn_segment, sizeof rep->torn_segment, "%s", it->r.name);
    snprintf(rep->msg, sizeof rep->msg,
             "partial final record at segment %s offset %" PRIu64 " seq %" PRIu64 " (%" PRIu64
             " bytes): %s", it->r.name, it->r.torn_off, it->r.expect, it->r.torn_bytes,
             it->r.torn_what);
}

tms_err tms_log_iter_next(tms_log_iter *it, tms_log_record *rec, int *has)
{
    if (!it || !rec || !has)
        return TMS_E_INVAL;
    *has = 0;
    if (it->sticky != TMS_OK)
        return it->sticky;
    for (;;) {
        uint8_t prev[TMS_LOG_HASH_LEN];
        memcpy(prev, it->r.prev, sizeof prev);
        int st = tms__rd_next(&it->r);
        if (st == RD_END)
            return TMS_OK;
        if (st == RD_TORN) {
            iter_note_tear(it);
            return TMS_OK;
        }
        if (st == RD_ERR)
            return it->sticky = it->r.err;
        const uint8_t *f = it->r.frame;
        uint64_t seq = it->r.frame_seq;
        if (seq < it->from)
            continue;
        if (it->has_thread) {
            tms_err e = await_check(it, seq, prev, f, it->r.frame_len);
            if (e != TMS_OK)
                return it->sticky = e;
        }
        if (it->rep.torn)
            memset(&it->rep, 0, sizeof it->rep);
        rec->seq = seq;
        rec->hash = f + TMS_FR_HASH;
        rec->payload = f + TMS_FR_PAYLOAD;
        rec->len = it->r.frame_len;
        rec->segment = it->r.name;
        rec->offset = it->r.frame_off;
        *has = 1;
        return TMS_OK;
    }
}

uint64_t tms__log_iter_checked(const tms_log_iter *it)
{
    return it && it->has_thread ? atomic_load(&it->verified) : 0;
}

uint64_t tms__log_iter_checker_blocks(const tms_log_iter *it)
{
    return it ? atomic_load(&it->checker_blocks) : 0;
}

const tms_log_report *tms_log_iter_report(const tms_log_iter *it)
{
    return it ? &it->rep : NULL;
}

void tms_log_iter_close(tms_log_iter *it)
{
    if (!it)
        return;
    if (it->has_thread) {
        atomic_store(&it->stop, 1);
        pthread_join(it->thread, NULL);
        pthread_cond_destroy(&it->cv);
        pthread_mutex_destroy(&it->mu);
    }
    tms__rd_free(&it->cr);
    tms__rd_free(&it->r);
    if (it->dirfd >= 0)
        tms_io_close(NULL, it->dirfd);
    free(it);
}
