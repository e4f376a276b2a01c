/* state_snapshot_split.c -- tms_state_snapshot_decode shared by two
 * threads (snapshot.h, "A decode shared by two threads").
 *
 * The first taker reads the part before the tenants; then each taker takes
 * the next tenant's part of the index, until none is left, into a state of
 * its own. The end moves the second state's tenants into the first
 * (tms_state_absorb), checks the trailer against the masks both read, and
 * that no request id is both kept apart and its tenant's (a whole decode
 * checks that as it reads a tenant; the second taker cannot, not having the
 * ones kept apart). What a whole decode accepts, this accepts, and the same
 * state: tests/test_snapshot.c and fuzz_snapshot compare the two. */
#include "snapshot.h"
#include "snapshot_dec.h"
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tms_snapshot_decoding {
    const tms_snapshot_index *ix;
    atomic_size_t next;                /* the next tenant to take (ntenants or more: none left) */
    tms__dec *d[2];                    /* the first taker's (who 0), the second's */
    int global_read;                   /* the first taker has read (or failed) the part before the tenants */
    char why[2][300];
};

tms_err tms_snapshot_decoding_new(const void *enc, size_t len, const tms_snapshot_index *ix,
                                  tms_snapshot_decoding **out)
{
    tms_snapshot_decoding *dg = calloc(1, sizeof *dg);
    *out = NULL;
    if (!dg)
        return TMS_E_NOMEM;
    dg->ix = ix;
    atomic_init(&dg->next, 0);
    for (int who = 0; who < 2; who++)
        if (!(dg->d[who] = tms__dec_new(enc, len, dg->why[who], sizeof dg->why[who]))) {
            tms_snapshot_decoding_free(dg);
            return TMS_E_NOMEM;
        }
    *out = dg;
    return TMS_OK;
}

void tms__snapshot_decoding_run_some(tms_snapshot_decoding *dg, int who, size_t most)
{
    who = who ? 1 : 0;
    tms__dec *d = dg->d[who];
    size_t n = dg->ix->ntenants;
    if (!who && !dg->global_read) {
        dg->global_read = 1;
        if (tms__dec_global(d, dg->ix)) {
            atomic_store(&dg->next, n);   /* failed: nobody takes another */
            return;
        }
    }
    for (size_t i, k = 0; k < most && (i = atomic_fetch_add(&dg->next, 1)) < n; k++)
        if (tms__dec_part(d, &dg->ix->tenants[i])) {
            atomic_store(&dg->next, n);
            return;
        }
}

void tms_snapshot_decoding_run(tms_snapshot_decoding *dg, int who)
{
    tms__snapshot_decoding_run_some(dg, who, SIZE_MAX);
}

tms_err tms_snapshot_decoding_end(tms_snapshot_decoding *dg, tms_state **out, char *why, size_t whylen)
{
    uint64_t p[2], f[2];
    tms_state *st = NULL, *other = NULL;
    tms_err err = TMS_OK;
    *out = NULL;
    /* the part before the tenants, unless read, and any tenant left (a taker may have stopped early: run_some) */
    tms__snapshot_decoding_run_some(dg, 0, SIZE_MAX);
    for (int who = 0; who < 2 && !err; who++)
        if ((err = tms__dec_err(dg->d[who])))
            snprintf(why, whylen, "%s", dg->why[who]);
    if (!err) {
        tms__dec_masks(dg->d[0], &p[0], &f[0]);
        tms__dec_masks(dg->d[1], &p[1], &f[1]);
        if ((err = tms__dec_trailer(dg->d[0], dg->ix, p[0] | p[1], f[0] | f[1])))
            snprintf(why, whylen, "%s", dg->why[0]);
    }
    if (!err) {
        st = tms__dec_take(dg->d[0]);
        other = tms__dec_take(dg->d[1]);
        err = tms_state_absorb(st, other);
        if (err == TMS_OK)
            other = NULL;   /* absorbed: freed */
        else if (err == TMS_E_NOMEM)
            snprintf(why, whylen, "out of memory");
        else {   /* the index's tenants are each once: not so */
            err = TMS_E_CORRUPT;
            snprintf(why, whylen, "snapshot: a tenant's part is there twice");
        }
    }
    if (!err && tms_state_request_twice(st)) {
        snprintf(why, whylen, "snapshot: a request id is both kept apart and its tenant's");
        err = TMS_E_CORRUPT;
    }
    tms_state_free(other);
    if (err)
        tms_state_free(st);
    else
        *out = st;
    tms_snapshot_decoding_free(dg);
    return err;
}

void tms_snapshot_decoding_free(tms_snapshot_decoding *dg)
{
    if (!dg)
        return;
    tms__dec_free(dg->d[0]);
    tms__dec_free(dg->d[1]);
    free(dg);
}
