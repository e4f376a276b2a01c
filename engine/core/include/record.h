/* record.h -- the payload of one log record: schema version, engine time,
 * the command and its verdict, as a msgpack map. Sequence number, checksum
 * and chain hash belong to the frame around it (log.h).
 *
 *   {"v": 1, "time": <int ns since the epoch, UTC>, "verdict": "accepted" | "<CODE>",
 *    "cmd": {<canonical command map, cmd.h>},
 *    "by": {"principal": "<who tmsd authenticated>", "peer": "<uid:N or HOST:PORT>"}}
 *
 * "by" (issue 8, item 10) is the real identity beside the claimed actor (PCI
 * DSS 10.2); it is optional (records written before it, and by programs that
 * know no principal, have none) and ignored by the rules.
 *
 * Every version ever written stays decodable: a reader dispatches on "v". */
#ifndef TMS_RECORD_H
#define TMS_RECORD_H

#include <stdint.h>
#include <msgpack.h>
#include "cmd.h"

#define TMS_PEER_MAX 96   /* "uid:4294967295", "[v6 address]:port" */

typedef struct tms_record {
    uint64_t seq;        /* from the frame */
    int64_t time;        /* ns since the epoch, assigned by the engine on append */
    int version;         /* schema version the record was written with */
    tms_err verdict;     /* TMS_OK = accepted, else a domain error code */
    tms_cmd cmd;
    char principal[TMS_ID_MAX + 1];   /* "by": who submitted it ("" when unknown) */
    char peer[TMS_PEER_MAX + 1];      /* ... and from where ("" when unknown) */
} tms_record;

/* Encode rec (time, verdict, cmd; seq is not part of the payload) into sb,
 * which the caller initialised; it is cleared first. */
tms_err tms_record_encode(const tms_record *rec, msgpack_sbuffer *sb);

/* Decode a payload into rec (rec->cmd must be initialised; it is replaced).
 * TMS_E_CORRUPT with a reason in why when the payload is not a record of a
 * known version. rec->seq is left untouched. */
tms_err tms_record_decode(tms_record *rec, const void *payload, size_t len,
                          char *why, size_t whylen);
/* The same, unpacking into zone (initialised by the caller, cleared here
 * first; NULL: a zone of its own, as tms_record_decode): a fold decoding
 * record after record keeps one zone instead of allocating and freeing one
 * per record. Nothing in rec points into the zone afterwards. */
tms_err tms_record_decode_in(tms_record *rec, const void *payload, size_t len, msgpack_zone *zone,
                             char *why, size_t whylen);

/* The tenant and time of a payload in the layout tms_record_encode writes,
 * without unpacking it: 1 with *tenant (*tlen bytes, not NUL-terminated,
 * pointing into payload) and *time; 0 when the payload is not laid out so
 * (decode it then: the peek never guesses). For folds that apply one
 * tenant's records only. */
int tms_record_peek(const void *payload, size_t len, const char **tenant, size_t *tlen, int64_t *time);

#endif
