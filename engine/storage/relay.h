/* relay.h -- one worker thread, one job in flight (storage room, private).
 *
 * A producer fills a job while the worker does the one before: the as-of
 * index's writer (history_fold.c) and its tally (history_tally.c) hand a
 * fold's chunk of records to a second core this way. The relay knows no
 * job: the owner keeps two (the one it fills, the one the worker holds) and
 * swaps them between tms__relay_wait and tms__relay_post.
 *
 * Who may touch what: after tms__relay_wait returns, and until the next
 * tms__relay_post, the worker is idle and the owner may read and write
 * everything the work callback uses; after tms__relay_post, only the
 * worker does, until the next wait. The mutex orders the two sides' writes.
 *
 * Failures: the first failure of the work callback is kept; later posts run
 * no work, and every wait and stop returns that failure. */
#ifndef TMS_STORAGE_RELAY_H
#define TMS_STORAGE_RELAY_H

#include "tmsperm.h"
#include <pthread.h>

/* The worker's work on the job the owner posted (final as posted): TMS_OK or its failure. */
typedef tms_err (*tms__relay_work)(void *ctx, int final);

typedef struct tms__relay {
    /* private */
    tms__relay_work work;
    void *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, busy, stop, final;   /* under mu */
    tms_err err;                      /* the first failure; under mu */
} tms__relay;

/* Set r up to call work(ctx, final) on its thread, which starts at the first
 * post. TMS_OK, or TMS_E_NOMEM (nothing to destroy). */
tms_err tms__relay_init(tms__relay *r, tms__relay_work work, void *ctx);

/* Wait until the worker has done the job posted last (at once when none):
 * its first failure, or TMS_OK. */
tms_err tms__relay_wait(tms__relay *r);

/* Give the worker the job (after a wait): final is passed to work. Starts
 * the thread the first time. TMS_E_NOMEM when it cannot start (the job is
 * not done); else the first failure so far, or TMS_OK. */
tms_err tms__relay_post(tms__relay *r, int final);

/* Wait for the job in flight, stop the thread and join it: the first
 * failure, or TMS_OK. r may be posted to again (a new thread starts). */
tms_err tms__relay_stop(tms__relay *r);

/* Stop (as above) and release r's mutex and condition. */
void tms__relay_destroy(tms__relay *r);

#endif
