/* query.h -- read-side answers rendered as JSON (SPEC section 6): show an
 * account or object, list what a manager sees. Shared by tmsctl and the
 * daemon so both print exactly the same thing. */
#ifndef TMS_QUERY_H
#define TMS_QUERY_H

#include <jansson.h>
#include "store.h"

/* show TENANT KIND ID, read in the caller's transaction tx (the answer is
 * that snapshot's): 0 with *out set (caller decrefs), 1 when absent, 2 on a
 * store error. KIND: manager, extension, queue, campaign. */
int tms_query_show(tms_txn *tx, const char *tenant, const char *kind, const char *id, json_t **out);

/* The same from an in-memory state (the tools' folds). */
int tms_query_show_state(const tms_state *st, const char *tenant, const char *kind, const char *id, json_t **out);

/* visible TENANT MANAGER: 0 with a JSON array of {kind, id} sorted by kind
 * then id (empty for an unknown tenant or manager); 2 on a store error. */
int tms_query_visible(tms_txn *tx, const char *tenant, const char *manager, json_t **out);

/* A sorted JSON array of the names in a permission (or feature) mask. */
json_t *tms_mask_json(uint64_t mask, int features);

#endif
