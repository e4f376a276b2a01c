/* proof.h -- SPEC section 11's proofs as JSON, made from a data directory
 * and read back (tms-audit prove / verify-proof, HTTP /v1/proof/...):
 *   inclusion    {"seq":N,"size":M,"leaf":"BASE64(payload)","proof":["BASE64(hash)",...]}
 *   consistency  {"from":A,"to":B,"proof":[...]}
 * seq N is leaf N - 1 of the tree of size M (tlog.h); hashes leaf side first. */
#ifndef TMS_PROOF_H
#define TMS_PROOF_H

#include <jansson.h>
#include "store.h"
#include "tlog.h"
#include "tree.h"

/* The inclusion proof of record seq in the tree of size, from tree t and
 * the log in logdir (the record's frame found through tx's locators when tx
 * is given and has one, else by reading the log), whose last seq is
 * `records`. *out (caller decrefs). TMS_E_INVAL (why) unless 1 <= seq <=
 * size <= both what t holds and records: a tree file can hold more than its
 * log (a writer's open cuts it back; until then, or when forged, the hashes
 * past the log's end are no record's); TMS_E_IO / TMS_E_CORRUPT reading. */
tms_err tms_proof_inclusion(tms_tree *t, tms_txn *tx, const char *logdir, uint64_t records, uint64_t seq,
                            uint64_t size, json_t **out, char *why, size_t whylen);
/* The consistency proof from size `from` to size `to` (1 <= from <= to <= what t holds and records, as above). */
tms_err tms_proof_consistency(tms_tree *t, uint64_t records, uint64_t from, uint64_t to, json_t **out, char *why,
                              size_t whylen);

/* Parse an inclusion proof (exactly the keys above; at most TMS_TLOG_MAX_PROOF hashes of 32 bytes; a leaf of
 * at most 4 MiB): *leaf malloc'd. TMS_E_INVAL with why. */
tms_err tms_proof_inclusion_parse(const char *text, size_t len, uint64_t *seq, uint64_t *size, uint8_t **leaf,
                                  size_t *leaflen, tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *n, char *why,
                                  size_t whylen);
tms_err tms_proof_consistency_parse(const char *text, size_t len, uint64_t *from, uint64_t *to,
                                    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *n, char *why, size_t whylen);

/* Record seq's payload as framed (malloc'd): through tx's locator when there is one, else read from the log. */
tms_err tms_query_payload(tms_txn *tx, const char *logdir, uint64_t seq, uint8_t **payload, size_t *len);

#endif
