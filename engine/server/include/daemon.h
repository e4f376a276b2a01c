/* daemon.h -- tmsd, the engine as a server: a libuv loop that answers
 * lookups from LMDB on the loop thread (readers never wait for writes) and
 * group-commits submits on a worker thread: whatever arrived while the
 * previous group was being made durable forms the next group. */
#ifndef TMS_DAEMON_H
#define TMS_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#define TMS_SNAPSHOTS_OFF 0xffffffffu   /* snapshot_interval_ms: only at a clean stop */

typedef struct tms_daemon_options {
    const char *data_dir;          /* required */
    const char *socket_path;       /* Unix socket; NULL = DIR/tmsd.sock; "" = none */
    const char *listen;            /* TCP HOST:PORT; NULL = none */
    const char *metrics;           /* Prometheus text over HTTP on HOST:PORT; NULL = none */
    const char *http;              /* the HTTP/JSON API on HOST:PORT (SPEC section 9); NULL = none */
    const char *token_file;        /* TCP clients present this token in hello to get rights */
    const char *principals;        /* JSON file of principals (daemon_auth.c); NULL = the defaults */
    int tcp_lookups_need_token;    /* 0: TCP lookups are open; 1: they need the token too */
    unsigned max_connections;      /* Unix socket connections; 0 = 1024 */
    unsigned max_tcp_connections;  /* TCP connections, counted apart (issue 8, item 4); 0 = 256 */
    unsigned max_http_per_peer;    /* --http connections from one peer (an IPv4 address, an IPv6 /64);
                                      0 = a quarter of max_tcp_connections (issue 19, item 5) */
    unsigned hello_timeout_ms;     /* a TCP client must say hello within this; 0 = 5000 */
    size_t max_buffered;           /* input buffered for every connection together; 0 = 1 GiB */
    unsigned idle_timeout_ms;      /* close a silent connection after this; 0 = 300000 */
    unsigned idle_exit_ms;         /* exit when no client has been connected this long; 0 = never */
    size_t max_frame;              /* 0 = TMS_WIRE_MAX_FRAME */
    size_t map_bytes;              /* initial LMDB map size; 0 = default */
    const char *publish;           /* nats://HOST:PORT: publish every durable record (publish.h); NULL = no */
    const char *stream;            /* the JetStream stream; NULL = "tms" */
    int stream_replicas;           /* replicas of a stream --publish creates; 0 = 1 */
    const char *replica_of;        /* nats://HOST:PORT: a replica of the leader publishing there (follow.h) */
    int ack_after_stream;          /* --ack-after stream (with --publish): answer a submit only once the stream
                                      has stored its records (SPEC section 12) */
    unsigned stream_ack_timeout_ms;   /* ... else E_NOT_STORED after this; 0 = 10000 */
    uint64_t ready_max_lag;        /* GET /readyz: a replica further behind its stream is not ready; 0 = 1000 */
    /* issue 18: snapshots of the state while running (docs/design.md, "Snapshots") */
    unsigned snapshot_interval_ms; /* look this often; 0 = 60000; TMS_SNAPSHOTS_OFF = only at a clean stop */
    uint64_t snapshot_records;     /* ... and write one when this many records were added; 0 = 100000 */
    /* SPEC section 11: signed checkpoints, witnesses, signed replication */
    const char *signing_key;       /* the log's private key file (note.h); NULL = no checkpoints */
    unsigned checkpoint_interval_ms; /* sign when records were added since the last; 0 = 10000 */
    const char *witnesses[8];      /* --witness URL (C2SP tlog-witness), repeated; NULL-terminated */
    const char *witness_keys[8];   /* --witness-key VKEY: the cosigners whose cosignatures are kept */
    const char *leader_key;        /* a replica's leader's vkey (or a file holding it): apply only what a
                                      checkpoint signed by it covers; NULL = the chain only */
    /* SPEC section 12: failover (docs/failover.md) */
    const char *cluster;           /* nats://HOST:PORT[,...]: follow the stream, lead while holding the lease; NULL = no */
    const char *node;              /* this node's name in the cluster (required with cluster) */
    const char *advertise;         /* the address clients are sent to (socket protocol); NULL = listen */
    unsigned lease_ttl_ms;         /* the lease's time to live; 0 = 2500 */
    /* NATS credentials and TLS for --publish / --replica-of / --cluster */
    const char *nats_creds;        /* a .creds file (JWT + NKey seed) */
    const char *nats_nkey_seed;    /* a file holding an NKey seed (user NKey authentication) */
    const char *nats_user;         /* user name; the password is read from nats_password_file */
    const char *nats_password_file;
    const char *nats_token_file;   /* a file holding the server's token */
    const char *nats_ca;           /* TLS: the CA certificates that sign the server's certificate */
    const char *nats_cert, *nats_key; /* TLS: a client certificate and its key (mutual TLS) */
} tms_daemon_options;

/* A TCP client that has not presented the token may send frames of at most
 * this many bytes (lookups fit; a client cannot make tmsd buffer 16 MiB
 * before it has shown who it is). */
#define TMS_DAEMON_PREAUTH_FRAME (64u * 1024u)

/* tms_daemon_run: a cluster node was deposed and must start again as a
 * follower (tmsd execs itself with the same arguments). */
#define TMS_DAEMON_RESTART 75

/* Run until SIGTERM/SIGINT (or idle_exit_ms). Returns the process exit
 * status: 0 after a clean shutdown, 1 after a shutdown forced by a failure,
 * 2 when it could not start (a one-line reason on stderr), or
 * TMS_DAEMON_RESTART. Log lines (key=value) go to stderr. */
int tms_daemon_run(const tms_daemon_options *opt);

#endif
