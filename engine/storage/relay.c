/* relay.c -- one worker thread, one job in flight (relay.h). */
#include "relay.h"

static void *relay_main(void *arg)
{
    tms__relay *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->busy && !r->stop)
            pthread_cond_wait(&r->cv, &r->mu);
        if (!r->busy)
            break;
        int final = r->final;
        tms_err kept = r->err;
        pthread_mutex_unlock(&r->mu);
        tms_err err = kept ? kept : r->work(r->ctx, final);   /* after a failure, no more work */
        pthread_mutex_lock(&r->mu);
        r->err = err;
        r->busy = 0;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

tms_err tms__relay_init(tms__relay *r, tms__relay_work work, void *ctx)
{
    *r = (tms__relay){.work = work, .ctx = ctx};
    if (pthread_mutex_init(&r->mu, NULL))
        return TMS_E_NOMEM;
    if (pthread_cond_init(&r->cv, NULL)) {
        pthread_mutex_destroy(&r->mu);
        return TMS_E_NOMEM;
    }
    return TMS_OK;
}

tms_err tms__relay_wait(tms__relay *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->busy)
        pthread_cond_wait(&r->cv, &r->mu);
    tms_err err = r->err;
    pthread_mutex_unlock(&r->mu);
    return err;
}

tms_err tms__relay_post(tms__relay *r, int final)
{
    if (!r->started) {   /* only the owner's thread reads or writes started */
        r->stop = 0;
        if (pthread_create(&r->thread, NULL, relay_main, r))
            return TMS_E_NOMEM;
        r->started = 1;
    }
    pthread_mutex_lock(&r->mu);
    r->final = final;
    r->busy = 1;
    tms_err err = r->err;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return err;
}

tms_err tms__relay_stop(tms__relay *r)
{
    tms_err err = tms__relay_wait(r);
    if (!r->started)
        return err;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->started = 0;
    return err;
}

void tms__relay_destroy(tms__relay *r)
{
    tms__relay_stop(r);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}
