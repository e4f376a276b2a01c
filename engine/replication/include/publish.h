/* publish.h -- the leader's side of replication (SPEC section 8): every
 * record, once durable in the local log, is published to a NATS JetStream
 * stream exactly as it is framed in the log (header and payload), the seq
 * as Nats-Msg-Id and seq - 1 as the expected last sequence, so the stream
 * holds the log: in order, no gap, no duplicate, stream sequence = seq.
 *
 * The log stays the source of truth. Publishing runs on a thread of its
 * own and reads the log files; it never delays an acknowledgement. When
 * NATS is down it retries, and when NATS is back it catches the stream up
 * from the log, from the stream's last sequence + 1. A stream that holds a
 * record the log does not (longer, or another chain at the same seq) stops
 * publishing, loudly: two leaders, or a log restored from an older backup.
 *
 * The stream (created when absent): subjects NAME.log, file storage, limits
 * retention, no limits on count or age (the stream is the replicas' log;
 * a backup is how an older start is served), a 2-minute duplicate window,
 * one replica unless told (--stream-replicas 3 in a NATS cluster of three).
 * An existing stream is used as it is; its configuration is logged.
 *
 * With a signing key (SPEC section 11, "Replicas"), the last message of
 * every batch carries a header Tms-Checkpoint: base64 (RFC 4648, padded) of
 * a checkpoint of the log up to that message's seq (C2SP tlog-checkpoint,
 * origin = the key's name, the root from the data directory's Merkle tree),
 * signed by the key as a C2SP signed note. A batch ends where the tree is
 * written (the engine writes it right after the log's sync). Ed25519 is
 * deterministic: a batch published again carries the same header. */
#ifndef TMS_PUBLISH_H
#define TMS_PUBLISH_H

#include "lag.h"
#include <stdint.h>
#include "nats_options.h"
#include "tmsperm.h"
#include "tmsperm_schema.h"

typedef struct tms_publisher tms_publisher;

/* What a publisher is doing (read with tms_publisher_status). */
typedef struct tms_publish_status {
    uint64_t published;         /* the stream holds the log up to this seq */
    uint64_t durable;           /* the last seq the engine said is durable */
    int connected;              /* 1 while NATS answers */
    int stopped;                /* 1 after a refusal (the stream disagrees with the log): for good */
    char error[300];            /* the last error, "" if none */
    tms_lag sent_lag;           /* each record published: its stamp to its batch written to NATS (lag.h) */
    tms_lag acked_lag;          /* each record the stream acknowledged: its stamp to the acknowledgement (lag.h) */
} tms_publish_status;

typedef struct tms_publish_options {
    const char *url;            /* nats://HOST:PORT (tls://HOST:PORT: TLS) */
    const char *stream;         /* NULL = "tms" */
    int replicas;               /* the stream's replicas when it is created (0 = 1; 3 in a NATS cluster of three) */
    const char *datadir;        /* the data directory: its log (DIR/log) and Merkle tree (DIR/tree) */
    const char *signing_key;    /* the log's private key file (note.h): a checkpoint with every batch; NULL = none */
    tms_nats_options nats;      /* credentials and TLS */
    /* Called on a nats.c thread each time the stream acknowledges a record
     * (`published` moved on) or refuses one; must be thread-safe and quick
     * (tmsd: uv_async_send). NULL = none. */
    void (*on_published)(void *ctx);
    void *ctx;
} tms_publish_options;

/* Start publishing the log of o->datadir to the stream, from what the
 * stream holds up to durable_seq. Returns at once (TMS_OK): connecting
 * happens on the thread. TMS_E_NOMEM, or TMS_E_INVAL (why says) for a bad
 * stream name, a signing key or a NATS secret file that cannot be read or
 * is not one. */
tms_err tms_publisher_start(const tms_publish_options *o, uint64_t durable_seq, tms_publisher **out, char *why,
                            size_t whylen);

/* Records up to seq are durable: publish them. Never blocks. */
void tms_publisher_durable(tms_publisher *p, uint64_t seq);

void tms_publisher_status(tms_publisher *p, tms_publish_status *out);

/* Hand nothing more to the stream (a deposed leader), at once, without
 * waiting for the thread (messages already handed over may still be
 * stored: the stream's fences decide). Any thread; tms_publisher_resume
 * lifts it. NULL is a no-op. */
void tms_publisher_pause(tms_publisher *p);

/* Stop the thread and close its connection, p kept (its status readable):
 * a cluster's leader deposed, following again. Idempotent. The owner's
 * thread only (tmsd's loop), as resume and stop (unlike pause): two threads
 * halting at once would both join the publisher's thread. */
void tms_publisher_halt(tms_publisher *p);

/* Publish again after tms_publisher_halt, as tms_publisher_start would from
 * durable_seq (the stream's last message checked against the log first).
 * TMS_OK, TMS_E_INVAL when not halted, TMS_E_NOMEM. */
tms_err tms_publisher_resume(tms_publisher *p, uint64_t durable_seq);

/* Stop the thread (what is durable and not yet published stays for the
 * next start: the stream is caught up from the log) and free p. NULL is a no-op. */
void tms_publisher_stop(tms_publisher *p);

#endif
