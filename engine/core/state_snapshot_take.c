/* state_snapshot_take.c -- tenants of an encoding decoded on their own
 * (snapshot.h, "tenants decoded on their own"): a writer's open decodes a
 * tenant when it is first used (engine_lazy.c), the tail's tenants ahead on
 * two threads, each taker into a state of its own, joined to the state of
 * the part before the tenants. */
#include "snapshot.h"
#include "snapshot_dec.h"
#include "state_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tms_snapshot_taker {
    tms__dec *d;
    uint64_t perms_used, features_used;   /* the parts' masks as their sections say, OR-ed */
    char why[300];
};

tms_snapshot_taker *tms_snapshot_taker_new(const void *enc, size_t len)
{
    tms_snapshot_taker *k = calloc(1, sizeof *k);
    if (k && !(k->d = tms__dec_new(enc, len, k->why, sizeof k->why))) {
        free(k);
        k = NULL;
    }
    return k;
}

tms_err tms_snapshot_taker_part(tms_snapshot_taker *k, const tms_snapshot_section *t, char *why, size_t whylen)
{
    tms_err err = tms__dec_part(k->d, t);
    if (err)
        snprintf(why, whylen, "%s", k->why);
    k->perms_used |= t->perms_used;
    k->features_used |= t->features_used;
    return err;
}

tms_err tms_snapshot_taker_end(tms_snapshot_taker *k, tms_state **out, char *why, size_t whylen)
{
    uint64_t pm, fm;
    tms_err err = tms__dec_err(k->d);
    *out = NULL;
    tms__dec_masks(k->d, &pm, &fm);
    if (err)
        snprintf(why, whylen, "%s", k->why);
    else if (pm != k->perms_used || fm != k->features_used) {
        snprintf(why, whylen, "snapshot: its tenants' parts use other masks than its parts table says");
        err = TMS_E_CORRUPT;
    } else {
        *out = tms__dec_take(k->d);
    }
    tms_snapshot_taker_free(k);
    return err;
}

void tms_snapshot_taker_free(tms_snapshot_taker *k)
{
    if (!k)
        return;
    tms__dec_free(k->d);
    free(k);
}

tms_err tms_state_join_tenants(tms_state *st, tms_state *tenants, char *why, size_t whylen)
{
    tms_err err = TMS_OK;
    if (tms__state_request_twice_in(st, tenants)) {
        snprintf(why, whylen, "snapshot: a request id of one of its tenants is also kept apart");
        err = TMS_E_CORRUPT;
    } else if ((err = tms_state_absorb(st, tenants)) == TMS_E_INVAL) {
        snprintf(why, whylen, "snapshot: a tenant's part is there twice");
        err = TMS_E_CORRUPT;
    } else if (err) {
        snprintf(why, whylen, "out of memory");
    }
    return err;
}

tms_err tms_state_snapshot_load_tenant(tms_state *st, const void *enc, size_t len, const tms_snapshot_section *t,
                                       char *why, size_t whylen)
{
    tms_state *part = NULL;
    if (tms_state_tenant(st, t->tenant))
        return TMS_E_INVAL;
    tms_snapshot_taker *k = tms_snapshot_taker_new(enc, len);
    if (!k) {
        snprintf(why, whylen, "out of memory");
        return TMS_E_NOMEM;
    }
    tms_err err = tms_snapshot_taker_part(k, t, why, whylen);
    tms_err end = tms_snapshot_taker_end(k, &part, why, whylen);   /* (k freed) */
    if (!err && !(err = end) && (err = tms_state_join_tenants(st, part, why, whylen)) == TMS_OK)
        part = NULL;   /* joined: freed */
    tms_state_free(part);
    return err;
}
