/* follow.h -- a replica's side of replication (SPEC section 8): read the
 * leader's stream (publish.h) from the replica's own last seq + 1 with an
 * ordered consumer (nats.c recreates it after a gap or a reconnect, from
 * the last message it delivered), and hand the frames, in order, to the
 * owner, which checks and applies them (tms_engine_replicate). This side
 * checks nothing: the engine checks everything.
 *
 * Why an ordered consumer, not a durable one: the replica's own log says
 * where it is (its last seq), so no state needs to live in NATS; an ordered
 * consumer is ephemeral, flow-controlled and restarts by itself.
 *
 * At most TMS_FOLLOW_QUEUE frames wait for the owner (the thread waits for
 * room: memory stays bounded). A stream that no longer holds the next seq
 * (its first seq is later: limits or a purge) stops following, saying that
 * the replica must start from a backup of the leader (tms-restore backup).
 *
 * A message's Tms-Checkpoint header (publish.h: a leader with a signing key
 * puts one on the last message of each batch) is handed over with its
 * frame, as it came: checking it is the owner's (daemon_replica.c). */
#ifndef TMS_FOLLOW_H
#define TMS_FOLLOW_H

#include "lag.h"
#include <stddef.h>
#include <stdint.h>
#include "nats_options.h"
#include "tmsperm.h"
#include "tmsperm_schema.h"

#define TMS_FOLLOW_QUEUE 8192
#define TMS_FOLLOW_QUEUE_BYTES (64u << 20)   /* and at most this many bytes of frames and headers */
#define TMS_FOLLOW_MAX_HEADER 90000          /* the base64 of the largest note (64 KiB) fits */

typedef struct tms_follower tms_follower;

typedef struct tms_follow_status {
    uint64_t received;          /* the last seq handed over or queued */
    uint64_t stream_seq;        /* the last seq the stream was known to hold (its info at subscribing,
                                   then each message's seq + the messages pending after it); 0 unknown */
    int connected;
    int stopped;                /* for good: tms_follower_fail, the stream lost our start, or diverged */
    int diverged;               /* the local log holds records the stream does not (a deposed leader's,
                                   never stored by the stream): they are those after seq keep */
    uint64_t keep;
    char error[300];            /* the last error, "" if none */
    tms_lag received_lag;       /* each record queued: its stamp to its arrival here (lag.h) */
} tms_follow_status;

/* Follow stream (NULL = "tms") at url from seq next, with nats's
 * credentials and TLS (NULL: none). notify(arg) is called from the
 * follower's thread whenever frames were queued or the status changed for
 * good (it must only wake the owner, e.g. uv_async_send). TMS_E_INVAL (why
 * says) for a bad stream name or a NATS secret file that cannot be read.
 *
 * logdir (NULL: not looked at) is the local log whose last seq is next - 1.
 * Then, before the first subscription, its record at next - 1 is compared
 * with the stream's: when the stream ends before it or holds another
 * record there, the follower finds the last seq both hold alike (a binary
 * search: the chain makes "alike at seq" true up to a point, false after)
 * and stops with diverged = 1 and keep = that seq. Nothing is queued. */
tms_err tms_follower_start(const char *url, const char *stream, const tms_nats_options *nats, uint64_t next,
                           const char *logdir, void (*notify)(void *), void *arg, tms_follower **out, char *why,
                           size_t whylen);

/* Move up to max queued frames (header + payload, in seq order) into
 * frames/lens, and each one's Tms-Checkpoint header value into notes (a
 * string, NULL when it had none); the caller owns and frees each frame and
 * note. Returns how many. Never blocks. */
size_t tms_follower_take(tms_follower *f, uint8_t **frames, size_t *lens, char **notes, size_t max);

/* The owner refused a frame: stop following for good, why as the error. */
void tms_follower_fail(tms_follower *f, const char *why);

void tms_follower_status(tms_follower *f, tms_follow_status *out);

/* Stop the thread and close its connection; f stays allocated, its
 * status readable (nats.c may still deliver a callback for the connection
 * until the library closes: tms_follower_stop then). Idempotent. The
 * owner's thread only (tmsd's loop), as resume and stop: two threads
 * halting at once would both join the follower's thread. */
void tms_follower_halt(tms_follower *f);

/* Follow again, from seq next, after tms_follower_halt (the local log's
 * last record is compared with the stream's again, as at start). TMS_OK,
 * TMS_E_INVAL when not halted, TMS_E_NOMEM. */
tms_err tms_follower_resume(tms_follower *f, uint64_t next);

/* Halt, close the NATS library (waiting for its callbacks), drop what is
 * queued, free f. NULL is a no-op. */
void tms_follower_stop(tms_follower *f);

#endif
