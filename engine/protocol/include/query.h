/* query.h -- read-side answers rendered as JSON (SPEC section 6): show an
 * account or object, list what a manager sees. Shared by tmsctl and the
 * daemon so both print exactly the same thing. */
#ifndef TMS_QUERY_H
#define TMS_QUERY_H

#include <jansson.h>
#include "record.h"
#include "store.h"

/* ---- points (SPEC section 7) ---------------------------------------------------- */

/* Where a lookup answers: the latest state, after record seq, or after
 * every record stamped at or before time (ns). */
enum { TMS_POINT_LATEST = 0, TMS_POINT_SEQ = 1, TMS_POINT_TIME = 2 };
typedef struct tms_point {
    int kind;
    uint64_t seq;
    int64_t time;
} tms_point;

/* Resolve p in tx's snapshot: *seq the seq it names, *at what the queries
 * below take (TMS_AT_LATEST, store.h, for the snapshot's own seq unless
 * index, when the answer needs the as-of index anyway: explain). TMS_E_INVAL
 * when the point is beyond the log, TMS_E_STORE when the as-of index does
 * not reach it; why says so (naming the last seq). */
tms_err tms_query_point(tms_txn *tx, const tms_point *p, int index, uint64_t *at, uint64_t *seq, char *why,
                        size_t whylen);

#define TMS_TIME_MAX 64
/* RFC 3339 UTC with nanoseconds ("2026-10-01T08:00:00.000000000Z") into buf; returns buf. */
char *tms_time_format(int64_t ns, char buf[TMS_TIME_MAX]);
/* RFC 3339 ("2026-11-22T23:52:30Z", a fraction of 1-9 digits, "Z" or
 * "+hh:mm"/"-hh:mm"; 't', 'z' or a space as RFC 3339 allows) or a bare date
 * "2026-10-01" (midnight UTC) -> ns. 0, or -1 if malformed or outside 1970..2262. */
int tms_time_parse(const char *s, int64_t *ns);

/* show TENANT KIND ID at `at` (a seq from tms_query_point, or
 * TMS_AT_LATEST), read in the caller's transaction tx (the answer is
 * that snapshot's): 0 with *out set (caller decrefs), 1 when absent, 2 on a
 * store error. KIND: manager, extension, queue, campaign. */
int tms_query_show(tms_txn *tx, uint64_t at, const char *tenant, const char *kind, const char *id, json_t **out);

/* The same from an in-memory state (the tools' folds). */
int tms_query_show_state(const tms_state *st, const char *tenant, const char *kind, const char *id, json_t **out);

/* visible TENANT MANAGER: 0 with a JSON array of {kind, id} sorted by kind
 * then id (empty for an unknown tenant or manager); 2 on a store error. */
int tms_query_visible(tms_txn *tx, uint64_t at, const char *tenant, const char *manager, json_t **out);

/* A sorted JSON array of the names in a permission (or feature) mask. */
json_t *tms_mask_json(uint64_t mask, int features);

/* check --explain at seq (tms_query_point with index): *out the object of
 * SPEC section 7 (caller decrefs); the record it names as "changed" is read
 * from the log in logdir. 1 allow, 0 deny, negative tms_err on failure
 * (-TMS_E_STORE on a directory seeded from a snapshot: its as-of index
 * holds no reasons, and none is made up). */
int tms_query_explain(tms_txn *tx, uint64_t seq, const char *logdir, const char *tenant, const char *kind,
                      const char *id, const char *name, json_t **out);

/* A command as JSON, its fields in schema order (as submitted, canonical). */
json_t *tms_cmd_json(const tms_cmd *cmd);

/* A record as watch prints it: seq time tenant actor verdict error cmd
 * changed by, "changed" only when given (it needs the as-of index; the
 * caller keeps its reference). NULL on no memory. */
json_t *tms_record_json(const tms_record *rec, json_t *changed);

/* One line of watch for record rec (its seq in rec->seq), the changed set
 * read in tx (which must hold rec): 0 with *out, 2 on a store error, 3 when
 * rec is at or before where this directory's as-of index starts (a seeded
 * directory, or one whose projection was rebuilt from a snapshot): what it
 * changed is not known here (TMS_QUERY_WATCH_BEFORE_INDEX says why, for
 * the daemon's and the tool's refusal alike). */
int tms_query_watch_line(tms_txn *tx, const tms_record *rec, json_t **out);
#define TMS_QUERY_WATCH_BEFORE_INDEX                                                                        \
    "what this record changed is not known here: this directory's history starts after it (seeded from a " \
    "snapshot); watch from a later seq"

#endif
