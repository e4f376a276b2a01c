/* lease.h -- the leader lease of a cluster (SPEC section 12): one key,
 * "leader", in a JetStream key-value bucket NAME_lease (NAME the log's
 * stream), whose entries live ttl. No election of our own: JetStream's
 * compare-and-set on the key is the only arbiter.
 *
 *   take     kvStore_Create: succeeds only when the key is absent, i.e. the
 *            last holder's entry aged out (the bucket's max age = ttl) or
 *            was deleted by a holder that resigned;
 *   renew    kvStore_Update with the revision of our last write: fails once
 *            anybody else wrote the key (or it aged out): the lease is lost;
 *   resign   kvStore_Update at our revision with a value naming no node
 *            (compare-and-set: never a successor's key), only while our
 *            clock says it is still ours; the next taker updates that
 *            revision (kvStore_Update) instead of creating the key.
 *
 * The term is the revision at which the holder took the lease: it only
 * grows (the bucket is a stream). A holder's value says who it is:
 *   {"node":"n1","addr":"10.0.0.1:7070","http":"10.0.0.1:8080","term":17}
 * (term 0 in the first write: the revision is not known before it).
 *
 * Time. The server ages an entry out ttl after it stored it; the holder
 * counts from the moment it SENT the write (earlier), on CLOCK_BOOTTIME
 * (which goes on while the machine or the process is suspended: a frozen
 * holder that thaws sees the time that passed), and trusts the lease only
 * until sent + ttl - margin (margin = ttl / 4). So the holder stops before
 * the server can give the key to anybody else, as long as the clocks'
 * rates differ by less than margin / ttl (25%) and the NATS servers' wall
 * clocks by less than margin (a clustered bucket ages entries by their
 * timestamps). docs/failover.md says why these numbers.
 *
 * One thread per lease: renews every ttl / 4 while held, looks every
 * ttl / 12 (at least 50 ms) while not. */
#ifndef TMS_LEASE_H
#define TMS_LEASE_H

#include <stddef.h>
#include <stdint.h>
#include "nats_options.h"
#include "tmsperm.h"
#include "tmsperm_schema.h"

#define TMS_LEASE_TTL_DEFAULT_MS 2500u   /* docs/failover.md: why 2.5 s */
#define TMS_LEASE_NAME_MAX 64       /* a node's name: letters, digits, '.', '_', '-' */
#define TMS_LEASE_ADDR_MAX 256

typedef struct tms_lease tms_lease;

typedef struct tms_lease_options {
    const char *url;            /* NATS: nats://HOST:PORT[,nats://HOST:PORT...] */
    const char *stream;         /* the log's stream (NULL = "tms"); the bucket is NAME_lease */
    const char *node;           /* this node's name (required) */
    const char *addr;           /* where clients reach this node's socket protocol ("" or NULL: nowhere) */
    const char *http;           /* ... its HTTP API ("" or NULL: none) */
    unsigned ttl_ms;            /* the lease's time to live; 0 = TMS_LEASE_TTL_DEFAULT_MS; at least 300 */
    int replicas;               /* the bucket's replicas when this node creates it (0 = 1) */
    tms_nats_options nats;      /* credentials and TLS */
    /* Called on the lease's thread whenever what tms_lease_status says
     * changed in a way the owner acts on (taken, lost, another holder);
     * must be thread-safe and quick (tmsd: uv_async_send). NULL = none. */
    void (*on_change)(void *ctx);
    void *ctx;
} tms_lease_options;

typedef struct tms_lease_status {
    int connected;              /* NATS answers */
    int held;                   /* this node holds the lease (its thread's view; tms_lease_valid for acting) */
    uint64_t term;              /* the holder's term (0: unknown, or none) */
    uint64_t valid_until;       /* held: CLOCK_BOOTTIME ns until which this node may act as leader */
    uint64_t stream_last;       /* held: the stream's last seq read right after the lease was taken */
    int stream_known;           /* ... 1 once it was read */
    char holder[TMS_LEASE_NAME_MAX + 1];   /* the holder's node name, "" none known */
    char holder_addr[TMS_LEASE_ADDR_MAX], holder_http[TMS_LEASE_ADDR_MAX];
    int64_t holder_expires_ms;  /* not held: ms until the holder's entry ages out as the bucket dates it (-1 unknown) */
    uint64_t taken, lost;       /* times this node took and lost the lease since start */
    char error[300];            /* the last error, "" if none */
} tms_lease_status;

/* CLOCK_BOOTTIME in ns: the clock every validity here is measured on. */
uint64_t tms_lease_now(void);

/* Start contending for the lease (connecting happens on the thread).
 * TMS_OK, TMS_E_NOMEM, or TMS_E_INVAL (why says): a bad node name, stream
 * name, address, or NATS secret file. */
tms_err tms_lease_start(const tms_lease_options *o, tms_lease **out, char *why, size_t whylen);

/* A copy of what the thread knows. */
void tms_lease_status_get(tms_lease *l, tms_lease_status *out);

/* 1 when this node holds the lease and, by CLOCK_BOOTTIME now, may still
 * act on it (now < valid_until); 0 otherwise. Read the clock here, not on
 * the thread: a process that was frozen sees the time that passed. */
int tms_lease_valid(tms_lease *l);

/* Give the lease up: a held lease is overwritten as resigned (only while
 * still valid by our clock, and only at our revision); for_good: nothing is taken any more
 * (a stop), else this node contends again (a deposed leader, following).
 * Returns at once; the thread does it. */
void tms_lease_resign(tms_lease *l, int for_good);

/* Stop the thread and close its connection; l stays allocated (nats.c may
 * still deliver a callback for it until the library closes). Idempotent. */
void tms_lease_halt(tms_lease *l);

/* Halt, then free. The NATS library must be closed by then when other
 * callbacks for the lease's connection could still come (tmsd stops its
 * publisher or follower after halting the lease: they close the library).
 * NULL is a no-op. */
void tms_lease_free(tms_lease *l);

#endif
