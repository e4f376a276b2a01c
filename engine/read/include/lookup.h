/* lookup.h -- the read room's check inside a caller's read transaction
 * (tmsd renews one transaction per lookup frame and answers many checks from
 * it). The embedded API for PBX nodes is include/tmsperm.h. */
#ifndef TMS_LOOKUP_H
#define TMS_LOOKUP_H

#include "store.h"

/* The permission check of tmsperm.h inside an open read transaction:
 * 1 allow, 0 deny (fails closed), negative tms_err on a store failure. */
int tms_lookup_check(tms_txn *tx, const char *tenant, const char *kind, const char *id, const char *name);

/* The same at seq `at` of the log, from the as-of index (history.h); at =
 * UINT64_MAX is tms_lookup_check. The caller has checked that the index
 * reaches at (tms_query_point). */
int tms_lookup_check_at(tms_txn *tx, uint64_t at, const char *tenant, const char *kind, const char *id,
                        const char *name);

#endif
