/* daemon_internal.h -- what daemon.c (loop, sockets, shutdown) and
 * daemon_ops.c (requests, group commit) share. Private to engine/. */
#ifndef TMS_DAEMON_INTERNAL_H
#define TMS_DAEMON_INTERNAL_H

#include <jansson.h>
#include <uv.h>
#include <pthread.h>
#include "daemon.h"
#include "engine.h"
#include "follow.h"
#include "publish.h"
#include "wire.h"

#define HIST_BUCKETS 16

typedef struct server server;
typedef struct waiter waiter;
typedef struct watcher watcher;
typedef struct replica replica;
typedef struct http http;
typedef struct checkpointer checkpointer;
typedef struct snapshotter snapshotter;
typedef struct stream_acks stream_acks;
typedef struct cluster cluster;
struct tms_note_verifier;

typedef struct principal principal;
/* A principals list a reload replaced: kept, connections may point into it. */
typedef struct retired {
    principal *list;
    size_t n;
} retired;

/* Who a connection is (daemon_auth.c): a name, rights (1 << TMS_RIGHT_*)
 * and the tenants it may touch. */
struct principal {
    char name[TMS_ID_MAX + 1];
    int rights;
    int all_tenants;
    char (*tenants)[TMS_ID_MAX + 1];
    size_t ntenants;
    char token[256];            /* its credential: a token presented in hello ("" none) */
    size_t token_len;
    uint8_t token_hash[32];     /* BLAKE2b-256 of token: what sessions are re-resolved by */
    long uid;                   /* ... or the uid of a Unix-socket peer (-1 none) */
};

/* The credential a session presented (issue 19, item 3), kept so that a
 * reload re-resolves it by what it showed, never by principal name: the
 * BLAKE2b-256 of the token it presented and that resolved (never the token),
 * else the Unix peer's uid, else nothing (TCP, HTTP without a token). */
typedef struct credential {
    int is_unix;                /* a Unix-socket peer: uid says who (-1 unknown) */
    long uid;
    int has_token;              /* a token that named a principal was shown */
    uint8_t token_hash[32];
} credential;

typedef struct conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t idle;
    server *d;
    tms_frame_reader rd;
    int rights;                 /* bit set of 1 << TMS_RIGHT_*: who->rights */
    const principal *who;       /* never NULL once accepted */
    credential cred;            /* what it presented: a reload re-resolves it by this */
    int revoked;                /* a reload found its credential gone: no rights, closing */
    char peer[96];              /* "uid:N" or "HOST:PORT", for the records */
    int is_tcp, closing, reading_paused;
    int helloed;                /* TCP: said hello (else closed at the hello deadline) */
    size_t accounted;           /* bytes of its frame reader counted in server.buffered */
    int eof;                    /* the client half-closed; close when answered */
    uint8_t peer_key[8];        /* TCP: its peer (tms__daemon_peer_key), for the per-peer share */
    size_t peer_key_len;
    int refs;                   /* handle + timer + writes and jobs in flight; freed at 0 */
    int jobs;                   /* submits queued or in flight */
    size_t queued_bytes;        /* replies written but not yet flushed */
    struct conn *prev, *next;
} conn;

/* One submit request: its commands and their verdicts. It came from a
 * socket connection (c, req) or an HTTP request (http). */
typedef struct job {
    /* Answer the job and free it (its transport's: the socket's or HTTP's).
     * err TMS_OK: the verdicts in subs are final; else why says what failed. */
    void (*done)(server *d, struct job *j, tms_err err, const char *why);
    conn *c;
    uint64_t req;
    void *http;                 /* daemon_http_write.c's request, or NULL */
    const principal *who;       /* lives as long as tmsd */
    char peer[96];
    size_t n;
    tms_cmd *cmds;
    tms_submission *subs;       /* n entries; cmd NULL when invalid */
    char (*why)[TMS_MESSAGE_MAX];   /* reason for INVALID_COMMAND entries */
    struct job *next;
} job;

typedef struct counters {
    uint64_t connections_total, requests, frames_bad, checks, submits, groups, group_cmds;
    uint64_t lookup_ns_hist[HIST_BUCKETS];   /* lookup frame latency, bucket i < 2^(i+10) ns */
    uint64_t commit_ns_hist[HIST_BUCKETS];   /* group commit latency */
    uint64_t group_size_hist[HIST_BUCKETS];  /* commands per group, bucket i < 2^i */
    uint64_t lookup_ns_sum, commit_ns_sum, group_size_sum;   /* the histograms' _sum */
    /* --replica-of (daemon_replica.c): per applied record, its stamp (the leader's wall clock) to its group
       applied and durable here (lag.h); per group, the worker's time (checks, append, fdatasync, apply, commit),
       bucket i < 2^(i+10) ns, and its records, bucket i < 2^i */
    tms_lag replica_lag;
    uint64_t replica_group_ns_hist[HIST_BUCKETS], replica_group_size_hist[HIST_BUCKETS];
    uint64_t replica_group_ns_sum, replica_group_size_sum;
} counters;

struct server {
    uv_loop_t *loop;
    tms_daemon_options opt;
    tms_engine *eng;
    size_t report_said;             /* how much of the engine's open report was logged */
    tms_store *store;           /* the engine's environment: read transactions on the loop thread */
    tms_txn *rtx;               /* reused read transaction, reset between frames; NULL until the first */
    uv_pipe_t unix_srv;
    uv_tcp_t tcp_srv;
    int have_unix, have_tcp;
    uv_signal_t sigterm, sigint;
    uv_timer_t idle_exit;
    uv_timer_t reaper;          /* frees reader slots of dead embedded readers */
    uv_timer_t deadline;        /* shutdown: unsent replies get this long */
    int shutdown_done;
    char token[256];
    size_t token_len;
    principal *principals;      /* --principals FILE; none: the built-in defaults (daemon_auth.c) */
    size_t nprincipals;
    retired *retired;           /* lists replaced by SIGHUP reloads, freed at the end */
    size_t nretired;
    uv_signal_t sighup;
    char read_only[300];        /* why writes are refused (the engine's read-only reason), "" if not */
    int failed_exit;            /* shutting down because of a failure: the exit status is not 0 */
    conn *conns;
    unsigned nconns, ntcp;      /* all, and those over TCP (limited apart) */
    uint64_t peer_log_ns;       /* when a TCP peer over its share was last logged */
    size_t buffered;            /* frame reader bytes of every connection */
    job *pending, **pending_tail;   /* waiting for the next group */
    job *group;                 /* in flight on the worker */
    size_t group_n;
    tms_submission *group_subs;
    tms_err group_err;
    int group_durable;          /* the group's records reached the log (verdicts final) */
    int group_retries;          /* map growths for the group in flight */
    uint64_t group_ns;          /* its commit time, measured on the worker */
    char group_why[512];
    uint64_t group_start_ns;
    uv_work_t work;
    int group_busy, stopping;
    uint64_t tree_records;      /* the records the writer's Merkle tree holds (its own right edge, not the file's
                                   length), taken on the loop thread when no group or batch runs: after the open
                                   and at every tms__seq_advanced. What tmsd signs and proves stops there. */
    counters ctr;
    msgpack_sbuffer out;        /* reply scratch */
    waiter *waiters;            /* lookups waiting for a min_seq (daemon_fresh.c) */
    uv_timer_t fresh_timer;
    watcher *watchers;          /* watch requests being served (daemon_watch.c) */
    tms_publisher *publisher;   /* --publish: the log to NATS JetStream; NULL = none */
    replica *replica;           /* --replica-of: following a leader's stream (daemon_replica.c); NULL = none */
    replica *replica_closing;   /* ... one whose start failed, freed at the end */
    http *http;                 /* --http, --metrics: h2o on this loop (daemon_http.c); NULL = none */
    checkpointer *ckpt;         /* --signing-key: signed checkpoints (daemon_checkpoint.c); NULL = none */
    snapshotter *snaps;         /* running snapshots (daemon_snapshots.c); NULL = off */
    stream_acks *acks;          /* --ack-after stream: groups waiting for the stream (daemon_stream_ack.c) */
    pthread_mutex_t acks_lock;  /* ... guards acks against the publisher's thread waking it (tms__stream_ack_wake) */
    struct tms_tree *proof_tree; /* DIR/tree read for HTTP proofs (daemon_http_proof.c); NULL until the first */
    cluster *cluster;           /* --cluster: the lease and the role (daemon_cluster.c); NULL = none */
    int restart;                /* deposed: tms_daemon_run returns TMS_DAEMON_RESTART */
    uv_timer_t watch_timer;
};

/* daemon_conn.c: connections */
/* A listener's new connection (the Unix socket's, --listen's). */
void tms__on_connection(uv_stream_t *srv, int status);
/* Stopping: close c once its replies are flushed and its jobs done. */
void tms__conn_maybe_finish(conn *c);
void tms__conn_send(conn *c, msgpack_sbuffer *sb);
void tms__conn_close(conn *c);
void tms__conn_release(conn *c);
/* A job of c finished: resume reading if it was paused for pipelining. */
void tms__conn_job_done(conn *c);
/* daemon_auth.c */
int tms__auth_load(server *d, const char *path, char *why, size_t whylen);
/* SIGHUP: read --token-file and --principals again; 0, or -1 (why) keeping the old ones. */
int tms__auth_reload(server *d, char *why, size_t whylen);
void tms__auth_free(server *d);
void tms__auth_connection(conn *c);
void tms__auth_token(conn *c, const char *tok, size_t len);
int tms__auth_tenant_ok(const conn *c, const char *tenant);
/* The principal a token names, NULL when none (HTTP's bearer tokens). */
const principal *tms__auth_by_token(const server *d, const char *tok, size_t len);
/* Who a TCP client is before it shows a token (also HTTP without one). */
const principal *tms__auth_tcp_default(const server *d);
int tms__auth_principal_tenant_ok(const principal *p, const char *tenant);
/* What a session that presented cr is now: the principal a new session with
 * the same credential would be. *resolved is 0 when a credential it showed
 * (a token, or a uid --principals lists) names nobody any more (the session
 * is then the principal without rights). */
const principal *tms__auth_resolve(const server *d, const credential *cr, int *resolved);
/* The credential of a bearer token that resolved (HTTP): has_token set, its hash. */
void tms__auth_credential_token(credential *cr, const char *tok, size_t len);
/* Log a request refused for lack of a right (PCI DSS 10.2.1.4): principal,
 * peer, where (over: "socket" or "http") and what (op or route). */
void tms__auth_log_refused(const char *over, const char *what, int right, const principal *who, const char *peer);
/* daemon_ops.c's hook: c asked for op, which needs right, and lacks it. */
void tms__auth_refused(const conn *c, const char *op, int right);

/* A whole frame was handled: restart the idle timer (not before hello on TCP). */
void tms__conn_active(conn *c);
/* Everything queued is done while stopping: close what is left. */
void tms__daemon_shutdown_check(server *d);
void tms__daemon_begin_shutdown(server *d, const char *why);
/* daemon_group.c: the projection's screen the open put off, waited for on a worker as a group is. */
void tms__group_screen(server *d);
void tms__daemon_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* v for a quoted logfmt value ("..." around it in the format): quotes and
 * backslashes escaped, control characters as \xNN, cut to fit buf. Returns buf. */
const char *tms__log_quote(char *buf, size_t len, const char *v);
uint64_t tms__now_ns(void);
/* Count value in a log2 histogram (bucket i < 2^(i+shift)) and add it to *sum. */
void tms__hist_add(uint64_t *hist, uint64_t *sum, uint64_t value, int shift);

/* daemon_ops.c (the socket protocol's ops) and daemon_job.c (submits, whatever transport) */
/* Handle one frame from c. Returns 0, or -1 when the connection must close. */
int tms__handle_frame(conn *c, const uint8_t *payload, size_t len);
void tms__reply_error(conn *c, const msgpack_object *req, tms_err err, const char *message);
void tms__job_free(job *j);
/* A job of n commands submitted by who from peer (its c or http set by the
 * caller); NULL when out of memory. */
job *tms__job_new(const principal *who, const char *peer, size_t n);
/* Parse command i from a JSON text (text, len) or a msgpack map (o, when text
 * is NULL); a malformed or refused one gets its verdict here. TMS_OK, or a
 * server fault (TMS_E_NOMEM). */
tms_err tms__job_parse(job *j, size_t i, const char *text, size_t len, const msgpack_object *o);
/* Verdict i of j as clients and the log see it: NULL when accepted; else its
 * code (INVALID_COMMAND when it never parsed, E_DENIED when refused before the
 * log) with *message. */
const char *tms__job_refusal(const job *j, size_t i, const char **message);
/* Queue j for the next group commit; answered by finish_group. */
void tms__job_queue(server *d, job *j);
/* Why this tmsd refuses submits now, into why: TMS_E_REPLICA (--replica-of),
 * TMS_E_NOT_LEADER (--cluster, not leading), or 0 when it accepts them. */
tms_err tms__replica_refuses(server *d, char *why, size_t whylen);
/* daemon_checkpoint.c: the verifier of the --signing-key loaded at start (0), -1 without one. */
int tms__checkpoint_verifier(server *d, struct tms_note_verifier *out);
/* daemon_cluster.c (--cluster; each is a no-op or "yes" without it) */
int tms__cluster_start(server *d, char *why, size_t whylen);
/* 1 when submits are accepted now: no cluster, or leading with a valid lease. */
int tms__cluster_accepting(server *d);
/* 1 when an answer held for the stream may say `accepted` now (the lease read on the clock now). */
int tms__cluster_may_ack(server *d);
/* The lease holder as last seen: 1 with its node, addr, http (never NULL; "" unknown), 0 when none is known. */
int tms__cluster_leader(server *d, const char **node, const char **addr, const char **http);
/* 1 (why: names the leader when known) when the cluster refuses submits now. */
int tms__cluster_refuses(server *d, char *why, size_t whylen);
/* Checkpoints may be signed up to this size: what the stream stored while leading, 0 otherwise, no limit
 * without a cluster. Any thread. */
uint64_t tms__cluster_sign_limit(server *d);
const char *tms__cluster_role(server *d);   /* NULL without a cluster */
json_t *tms__cluster_status(server *d);
/* 1 while a replication thread's stop runs on a worker (the follower's before leading, the publisher's before
 * following again): a stop waits for it, as for a group in flight, before it halts the follower itself. */
int tms__cluster_halting(const server *d);
void tms__cluster_close(server *d);   /* stopping: resign, close the handles */
void tms__cluster_halt(server *d);    /* the end: the lease's thread stops (after resigning) */
void tms__cluster_free(server *d);
/* daemon_group.c */
void tms__group_maybe_start(server *d);
/* The log and the projection reached a new seq (a group, a replica's batch): tell every subscriber. */
void tms__seq_advanced(server *d);
/* d->tree_records from the engine's tree (loop thread, no group or batch running). */
void tms__tree_records_note(server *d);
/* daemon_metrics.c: the Prometheus text of GET /metrics; tms__metrics_line appends one formatted piece
 * (at most 255 bytes) of it. */
void tms__render_metrics(server *d, msgpack_sbuffer *sb);
void tms__metrics_line(msgpack_sbuffer *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tms__snapshot_free(server *d);
/* The seq the projection readers see has applied (meta), 0 if unreadable. */
uint64_t tms__projection_seq(server *d);
/* The loop thread's read transaction: a fresh snapshot in d->rtx until tms__snapshot_end. */
tms_err tms__snapshot_begin(server *d);
void tms__snapshot_end(server *d);
/* daemon_fresh.c */
void tms__fresh_init(server *d);
int tms__fresh_gate(conn *c, const msgpack_object *m, const msgpack_object *req, const uint8_t *payload, size_t len);
/* Answer the waiters whose seq was reached or whose wait is over (all when stopping). */
void tms__fresh_wake(server *d);
void tms__fresh_close(server *d);
/* daemon_watch.c */
void tms__watch_init(server *d);
int tms__op_watch(conn *c, const msgpack_object *m, const msgpack_object *req);
/* Where a watcher's lines go: a socket connection's frames, or an HTTP stream. */
typedef struct watch_sink {
    int (*room)(void *sink);   /* 1 while it takes more (its unsent bytes under a bound) */
    int (*gone)(void *sink);   /* 1 once its client is gone: the watch ends quietly */
    void (*line)(server *d, void *sink, const char *text);
    /* the end: err TMS_OK (until reached), or why it stopped (message names the seq to resume from) */
    void (*end)(server *d, void *sink, tms_err err, const char *message);
    void (*release)(void *sink);   /* the watcher is gone: last call */
    /* the session's principal now (after a reload), NULL when its credential no longer resolves */
    const principal *(*who)(server *d, void *sink);
} watch_sink;
/* Watch from seq next (to until, 0: forever; tenant "" = every tenant) into
 * sink. 0, or -1 when out of memory (nothing was called). */
int tms__watch_start(server *d, uint64_t next, uint64_t until, const char *tenant, const watch_sink *ops, void *sink);
/* Send every watcher what the projection has applied (after a group, on a tick); when stopping, end them. */
void tms__watch_pump(server *d);
/* After a reload: end (E_DENIED) every watch whose session's principal may no longer watch what it watches. */
void tms__watch_recheck(server *d);
void tms__watch_close(server *d);
/* daemon_http.c */
int tms__http_start(server *d, char *why, size_t whylen);
/* Answer the HTTP lookups waiting for a seq this group reached (or whose wait is over). */
void tms__http_wake(server *d);
void tms__http_close(server *d);
/* An HTTP submit's group is done (err: the group failed, why says how):
 * answer it and free j. */
void tms__http_submitted(server *d, job *j, tms_err err, const char *why);
void tms__http_free(server *d);
/* Open HTTP connections of both listeners (0 without --http/--metrics). */
unsigned tms__http_connections(const server *d);
/* tmsd could not start: dispose h2o before the loop's handles are all closed. */
void tms__http_abandon(server *d);
/* daemon_http_meta.c: tmsd_http_requests_total{route,code} (nothing without --http/--metrics). */
void tms__http_render_metrics(server *d, msgpack_sbuffer *sb);
/* daemon.c: listen on HOST:PORT with cb (0, or -1 after a message on stderr). */
int tms__daemon_listen_tcp(server *d, uv_tcp_t *srv, const char *addr, uv_connection_cb cb);
/* daemon_replica.c */
int tms__replica_start(server *d, char *why, size_t whylen);
/* Hand queued frames to the worker when it is free. */
void tms__replica_maybe_start(server *d);
int tms__replica_busy(const server *d);
int tms__replica_stopped(server *d);
/* The follower's status (all zero without --replica-of, or once it is gone). */
void tms__replica_follow_status(server *d, tms_follow_status *out);
/* Records the stream is known to hold that the projection has not applied (0 without --replica-of): the
 * lag GET /readyz compares with --ready-max-lag. */
uint64_t tms__replica_behind(server *d);
/* --cluster, catching up with the lease: records up to until that no checkpoint covers (a leader that
 * died mid-batch) may be applied (chain, checksums, replay still checked), said in the log. */
void tms__replica_adopt_tail(server *d, uint64_t until);
/* --cluster: stop following (the thread and its connection; the status stays readable). */
void tms__replica_halt(server *d);
/* --cluster: follow again from the log's last seq + 1 (after leading): 0, or -1 (why). */
int tms__replica_resume(server *d, char *why, size_t whylen);
/* Nothing taken from the follower waits to be applied, nothing queued (the follower's received = applied). */
int tms__replica_idle(server *d);
/* 1 with keep when the follower found this log holding records the stream does not (follow.h). */
int tms__replica_diverged(server *d, uint64_t *keep);
/* status: the "replica" object */
json_t *tms__replica_status(server *d);
/* --leader-key: 1 with the seq up to which the replica holds a verified checkpoint and the key's name; 0 without. */
int tms__replica_verified(server *d, uint64_t *seq, const char **key);
/* The --nats-* options, for the publisher and the follower. */
tms_nats_options tms__daemon_nats_options(const tms_daemon_options *o);
/* daemon_status.c: what tmsd says about itself (status op, GET /v1/status); NULL when out of memory. */
json_t *tms__status_json(server *d);
/* Stopping: the follower stops, its wake-up handle closes. */
void tms__replica_close(server *d);
void tms__replica_free(server *d);

/* daemon_http_limits.c: a TCP peer as a key for per-peer shares: an IPv4 address (IPv4-mapped too) in 4
 * bytes, or an IPv6 /64 in 8; 0 when it cannot be told. */
size_t tms__daemon_peer_key(const uv_tcp_t *t, uint8_t key[8]);

/* daemon_group.c: answer every job of a list (their verdicts filled in), or each with err; frees them. */
void tms__group_answer(server *d, job *jobs, tms_err err, const char *why);
/* daemon_stream_ack.c: --ack-after stream. start: 0 or -1 (why). hold: a durable group's jobs, answered once
 * the stream has stored the log up to seq, or with E_NOT_STORED when it refuses or does not within the
 * timeout. busy: groups are held (a shutdown waits for them). close: at shutdown, once none is held. status:
 * {held, timeout_ms}. */
int tms__stream_ack_start(server *d, char *why, size_t whylen);
void tms__stream_hold(server *d, job *jobs, uint64_t seq);
/* The publisher's acknowledgement callback (any thread): wakes the loop to answer held groups. */
void tms__stream_ack_wake(void *ctx);
/* Answer what can be answered now (--cluster: a deposed leader's held answers, E_NOT_LEADER). */
void tms__settle_stream_acks(server *d);
int tms__stream_ack_busy(const server *d);
void tms__stream_ack_close(server *d);
void tms__stream_ack_free(server *d);
json_t *tms__stream_ack_status(server *d);

/* daemon_snapshots.c: running snapshots. start (after the engine, on the loop): 0, or -1 with why; close stops
 * the timer (shutdown); free after the loop. between_groups: called whenever no group is in flight; forks
 * the snapshot's writer when one is due. status: {seq, written, failed, running, fork_us_max, error}, NULL
 * when off. */
int tms__snapshots_start(server *d, char *why, size_t whylen);
/* The snapshot the open started from, once the tail's fold put off after "started" ran (it may have set the
 * one it meant to start from aside). */
void tms__snapshots_started_from(server *d);
void tms__snapshots_between_groups(server *d);
/* How many snapshots this tmsd's children wrote (the checkpointer signs their notes). */
uint64_t tms__snapshots_written(server *d);
void tms__snapshots_close(server *d);
void tms__snapshots_free(server *d);
json_t *tms__snapshots_status(server *d);

/* daemon_checkpoint.c: --signing-key. Start (after the engine, on the loop): -1 with why. close stops the
 * timer (shutdown); free signs the last checkpoint (when records were added) and frees. now signs one at
 * once (op checkpoint; on the loop thread: it waits for the disk) and gives the latest (*note malloc'd);
 * latest is a copy of the latest stored note (NULL when none or no key); last_size its size and count the
 * checkpoints signed since start. */
int tms__checkpoint_start(server *d, char *why, size_t whylen);
void tms__checkpoint_close(server *d);
void tms__checkpoint_free(server *d);
int tms__checkpoint_now(server *d, char **note, char *why, size_t whylen);
char *tms__checkpoint_latest(server *d);
uint64_t tms__checkpoint_last_size(server *d, uint64_t *count);
/* {"size","signed","key","error"} for status (error: why signing is refused, else null); NULL without a key. */
json_t *tms__checkpoint_status(server *d);

#endif
