/* history_fold.c -- the as-of index written while a fold goes on
 * (replay.h: tms_history_writer), in chunks of HISTORY_CHUNK records, in
 * line or, with on_thread, on a thread of its own while the fold goes on;
 * and tms_history_rebuild, a fold that writes it. */
#include "replay.h"
#include "history.h"
#include "relay.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the as-of index, from the log ------------------------------------------ */

tms_err tms_history_locate_frame(tms_txn *tx, const tms_fold_event *ev)
{
    const tms_log_record *lr = ev->frame;
    if (!lr || (lr->seq % TMS_LOCATE_EVERY != 1 && lr->offset != TMS_LOG_SEGMENT_HEADER))
        return TMS_OK;
    return tms_history_locate(tx, lr->seq, strtoull(lr->segment, NULL, 10), lr->offset);
}

#define HISTORY_CHUNK 20000   /* records per write transaction: bounds LMDB's dirty pages */

/* Begin the chunk's transaction; the first chunk also empties the index (unless w->keep). */
static tms_err chunk_begin(tms_history_writer *w)
{
    tms_err err = tms_txn_begin(w->st, 1, &w->tx);
    if (!err && !w->started && !w->keep && (err = tms_history_clear(w->tx))) {
        tms_txn_abort(w->tx);
        w->tx = NULL;
    }
    return err;
}

/* The map filled: the chunk aborted, the map grown, the chunk written again
 * from its kept operations and locators. At a chunk boundary: no other
 * transaction of the store is open (the fold's caller holds none). */
static tms_err chunk_regrow(tms_history_writer *w)
{
    tms_err err;
    tms_txn_abort(w->tx);
    w->tx = NULL;
    w->applied = 0;
    if ((err = tms_store_grow(w->st)) || (err = chunk_begin(w)))
        return err;
    w->grown++;
    if ((err = tms_history_apply_from(w->tx, &w->batch, 0)))
        return err;
    w->applied = tms_history_batch_size(&w->batch);
    for (size_t i = 0; !err && i < w->nlocs; i++)
        err = tms_history_locate(w->tx, w->locs[i].seq, w->locs[i].seg, w->locs[i].off);
    if (!err && w->marked)   /* the last chunk: its mark too (the commit itself may find the map full) */
        err = tms_history_mark(w->tx, w->mark_seq);
    return err;
}

/* The record's frame locator, when one is due, kept in w->locs (*kept = 1). */
static tms_err keep_locator(tms_history_writer *w, const tms_log_record *lr, int *kept)
{
    *kept = 0;
    if (!lr || (lr->seq % TMS_LOCATE_EVERY != 1 && lr->offset != TMS_LOG_SEGMENT_HEADER))
        return TMS_OK;
    if (w->nlocs == w->caplocs) {
        size_t cap = w->caplocs ? 2 * w->caplocs : 64;
        tms_history_frame_at *p = realloc(w->locs, cap * sizeof *p);
        if (!p)
            return TMS_E_NOMEM;
        w->locs = p;
        w->caplocs = cap;
    }
    w->locs[w->nlocs++] = (tms_history_frame_at){lr->seq, strtoull(lr->segment, NULL, 10), lr->offset};
    *kept = 1;
    return TMS_OK;
}

/* The record's operations (already in the batch) and its locator, when due, into the chunk. */
static tms_err chunk_write(tms_history_writer *w, const tms_fold_event *ev)
{
    const tms_log_record *lr = ev->frame;
    tms_err err = tms_history_apply_from(w->tx, &w->batch, w->applied);
    if (err)
        return err;
    w->applied = tms_history_batch_size(&w->batch);
    int kept = 0;
    if ((err = keep_locator(w, lr, &kept)) || !kept)
        return err;
    return tms_history_locate(w->tx, lr->seq, w->locs[w->nlocs - 1].seg, lr->offset);
}

/* Commit the chunk (growing the map when the commit itself finds it full). */
static tms_err chunk_commit(tms_history_writer *w)
{
    tms_err err;
    while ((err = tms_txn_commit(w->tx)) == TMS_E_MAPFULL) {
        w->tx = NULL;
        if ((err = chunk_regrow(w)))
            break;
    }
    w->tx = NULL;
    if (!err) {
        w->started = 1;
        w->in_tx = 0;
        w->applied = 0;
        w->nlocs = 0;
        w->marked = 0;
        tms_history_batch_clear(&w->batch);
    }
    return err;
}

/* ---- on a thread of its own (on_thread) ----
 * The fold's thread records each record's operations and locator (values
 * taken from the state as it is then) into w's batch; every HISTORY_CHUNK
 * records the batch is handed to the worker, which writes it as one
 * transaction (map growth as in line) while the fold fills the next. One
 * chunk in flight: a fold faster than LMDB waits at the hand-over. */
struct tms__history_worker {
    tms__relay relay;         /* its work: write_chunk of job */
    tms_history_writer job;   /* the chunk handed over (batch, locators) and the worker's transaction */
    uint64_t mark;            /* a final chunk: the index is complete up to this seq */
};

/* One chunk as one transaction: its operations, its locators, with final the mark; map growth as in line. */
static tms_err write_chunk(tms_history_writer *j, int final, uint64_t mark)
{
    tms_err err = chunk_begin(j);
    if (!err && !(err = tms_history_apply_from(j->tx, &j->batch, 0)))
        for (size_t i = 0; !err && i < j->nlocs; i++)
            err = tms_history_locate(j->tx, j->locs[i].seq, j->locs[i].seg, j->locs[i].off);
    while (err == TMS_E_MAPFULL)
        err = chunk_regrow(j);   /* rewrites the whole chunk */
    if (!err && final) {
        j->marked = 1;
        j->mark_seq = mark;
        while ((err = tms_history_mark(j->tx, mark)) == TMS_E_MAPFULL && !(err = chunk_regrow(j)))
            ;   /* regrow wrote the mark too */
    }
    if (!err)
        err = chunk_commit(j);
    if (err) {
        tms_txn_abort(j->tx);
        j->tx = NULL;
    }
    return err;
}

static tms_err relay_work(void *ctx, int final)
{
    struct tms__history_worker *k = ctx;
    return write_chunk(&k->job, final, k->mark);
}

static tms_err worker_start(tms_history_writer *w)
{
    struct tms__history_worker *k = calloc(1, sizeof *k);
    if (!k)
        return TMS_E_NOMEM;
    k->job.st = w->st;
    if (tms__relay_init(&k->relay, relay_work, k)) {
        free(k);
        return TMS_E_NOMEM;
    }
    w->worker = k;
    return TMS_OK;
}

/* Wait for the chunk in flight; then hand w's batch and locators over (final: with the mark at seq) and take
 * the worker's emptied ones back. The worker's failure, or TMS_OK. */
static tms_err hand_over(tms_history_writer *w, int final, uint64_t seq)
{
    struct tms__history_worker *k = w->worker;
    tms_err err = tms__relay_wait(&k->relay);
    if (err)
        return err;
    tms_history_batch t = k->job.batch;
    tms_history_frame_at *locs = k->job.locs;
    size_t caplocs = k->job.caplocs;
    k->job.batch = w->batch;
    k->job.locs = w->locs;
    k->job.nlocs = w->nlocs;
    k->job.caplocs = w->caplocs;
    w->batch = t;
    w->locs = locs;
    w->caplocs = caplocs;
    w->nlocs = 0;
    tms_history_batch_clear(&w->batch);
    w->in_tx = 0;
    k->mark = seq;
    return tms__relay_post(&k->relay, final);
}

/* Wait for the chunk in flight, stop the worker and free it: its failure, or TMS_OK. */
static tms_err worker_stop(tms_history_writer *w)
{
    struct tms__history_worker *k = w->worker;
    tms_err err = tms__relay_stop(&k->relay);
    w->grown += k->job.grown;
    tms_txn_abort(k->job.tx);
    tms_history_batch_free(&k->job.batch);
    free(k->job.locs);
    tms__relay_destroy(&k->relay);
    free(k);
    w->worker = NULL;
    return err;
}

static tms_err add_on_thread(tms_history_writer *w, const tms_fold_event *ev)
{
    int kept;
    if (!w->worker && (w->err = worker_start(w)))
        return w->err;
    if ((w->err = tms_history_record(&w->batch, ev->state, ev->rec->seq, ev->rec->time, ev->effects,
                                     ev->neffects)) ||
        (w->err = keep_locator(w, ev->frame, &kept)))
        return w->err;
    if (++w->in_tx >= (w->chunk ? w->chunk : HISTORY_CHUNK))
        w->err = hand_over(w, 0, 0);
    return w->err;
}

tms_err tms_history_writer_add(tms_history_writer *w, const tms_fold_event *ev)
{
    if (w->err)
        return w->err;
    if (w->on_thread)
        return add_on_thread(w, ev);
    if (!w->tx && (w->err = chunk_begin(w)))
        return w->err;
    if (!(w->err = tms_history_record(&w->batch, ev->state, ev->rec->seq, ev->rec->time, ev->effects, ev->neffects)))
        while ((w->err = chunk_write(w, ev)) == TMS_E_MAPFULL && (w->err = chunk_regrow(w)) == TMS_OK)
            ;   /* regrow rewrote the chunk, this record's operations and locator too */
    if (!w->err && ++w->in_tx >= (w->chunk ? w->chunk : HISTORY_CHUNK))
        w->err = chunk_commit(w);
    if (w->err) {
        tms_txn_abort(w->tx);
        w->tx = NULL;
    }
    return w->err;
}

tms_err tms_history_writer_end(tms_history_writer *w, uint64_t seq)
{
    if (w->on_thread && !w->err && (w->worker || !(w->err = worker_start(w)))) {
        w->err = hand_over(w, 1, seq);
        tms_err err = worker_stop(w);
        w->err = w->err ? w->err : err;
        tms_history_writer_discard(w);
        return w->err;
    }
    if (!w->err && !w->tx)
        w->err = chunk_begin(w);   /* an empty log: an empty index */
    w->marked = 1;
    w->mark_seq = seq;
    while (!w->err && (w->err = tms_history_mark(w->tx, seq)) == TMS_E_MAPFULL && !(w->err = chunk_regrow(w)))
        ;   /* regrow wrote the mark too */
    if (!w->err)
        w->err = chunk_commit(w);
    tms_history_writer_discard(w);
    return w->err;
}

void tms_history_writer_discard(tms_history_writer *w)
{
    if (w->worker)
        worker_stop(w);   /* its chunk in flight finishes, uncommitted ones are dropped */
    tms_txn_abort(w->tx);
    w->tx = NULL;
    tms_history_batch_free(&w->batch);
    free(w->locs);
    w->locs = NULL;
    w->nlocs = w->caplocs = 0;
}

static tms_err history_add(void *ctx, const tms_fold_event *ev)
{
    return tms_history_writer_add(ctx, ev);
}

tms_err tms_history_rebuild(tms_store *st, const char *logdir, tms_replay_result *res)
{
    tms_state *state = tms_state_new();
    tms_history_writer w = {.st = st};
    tms_replay_opts o = {0};
    tms_err err = TMS_E_NOMEM;
    o.on_effects = history_add;
    o.ctx = &w;
    o.chain = TMS_LOG_ITER_CHAIN_ON_THREAD;
    if (state && (err = tms_fold(state, logdir, &o, res)) == TMS_OK)
        err = tms_history_writer_end(&w, res->last_seq);   /* one pass: a full map grows at a chunk's boundary */
    tms_history_writer_discard(&w);
    tms_state_free(state);
    res->passes = 1;
    if (err && !res->msg[0])
        snprintf(res->msg, sizeof res->msg, "as-of index: %s", tms_strerror(err));
    return err;
}
