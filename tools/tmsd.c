/* tmsd -- the tmsperm engine daemon (SPEC section 6): holds a data
 * directory's writer lock, serves lookups and group-committed submits over a
 * Unix socket (default DIR/tmsd.sock) and optionally TCP. See engine/daemon.h. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <sys/un.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon.h"
#include "tmsperm.h"
#include "tmsperm_schema.h"

static const char usage[] =
    "usage: tmsd --data DIR [--socket PATH] [--listen HOST:PORT] [--http HOST:PORT] [--metrics HOST:PORT]\n"
    "            [--token-file FILE] [--principals FILE] [--tcp-lookups-need-token] [--max-connections N]\n"
    "            [--max-tcp-connections N] [--max-http-per-peer N] [--hello-timeout SECONDS]\n"
    "            [--max-buffered-bytes N] [--max-frame-bytes N] [--publish URL | --replica-of URL]\n"
    "            [--stream NAME] [--ready-max-lag N]\n"
    "            [--snapshot-interval S] [--snapshot-records N] [--ack-after local|stream [--stream-timeout S]]\n"
    "            [--idle-timeout SECONDS] [--idle-exit SECONDS]\n"
    "            [--signing-key FILE [--checkpoint-interval S] [--witness URL --witness-key VKEY]...]\n"
    "            [--leader-key VKEY] [--nats-creds FILE | --nats-nkey FILE | --nats-user NAME\n"
    "            --nats-password-file FILE | --nats-token-file FILE] [--nats-ca FILE]\n"
    "            [--nats-cert FILE --nats-key FILE]\n"
    "            [--cluster URL[,URL...] --node NAME [--advertise HOST:PORT] [--lease-ttl S]]\n"
    "\n"
    "  --data DIR              data directory (log, projections); created if absent\n"
    "  --socket PATH           Unix socket (default DIR/tmsd.sock, mode 0660); '' for none\n"
    "  --listen HOST:PORT      also listen on TCP (lookups open; submit needs the token)\n"
    "  --metrics HOST:PORT     Prometheus text metrics over HTTP (GET /metrics), and the probes\n"
    "                          GET /healthz and GET /readyz; no credentials\n"
    "  --http HOST:PORT        the HTTP/JSON API (/v1/check, /v1/show, /v1/visible, /v1/submit,\n"
    "                          /v1/status, /v1/watch, /metrics, ...; GET /v1/openapi.yaml describes\n"
    "                          every route); credentials as TCP's (Authorization: Bearer TOKEN); not\n"
    "                          loopback: needs credentials. /healthz, /readyz need none\n"
    "  --token-file FILE       the token TCP clients present in hello (16+ characters)\n"
    "  --principals FILE       who may do what: {\"principals\": [{\"name\", \"uid\" | \"token_file\",\n"
    "                          \"rights\": [lookup, submit, admin], \"tenants\": [ids or \"*\"]}]}\n"
    "                          (without it: Unix clients may do everything, TCP needs the token)\n"
    "  --tcp-lookups-need-token  lookups over TCP need the token too\n"
    "  --max-connections N     Unix socket connections (default 1024)\n"
    "  --max-tcp-connections N TCP connections, counted apart (default 256)\n"
    "  --max-http-per-peer N   --http connections from one peer (IPv4 address, IPv6 /64; default a\n"
    "                          quarter of --max-tcp-connections); raise it behind a reverse proxy\n"
    "  --hello-timeout SECONDS a TCP client must say hello within this (default 5); until\n"
    "                          it presents the token its frames are limited to 64 KiB\n"
    "  --max-buffered-bytes N  input buffered for all connections together (default 1 GiB)\n"
    "  --max-frame-bytes N     the largest request or reply frame (default and most 16 MiB); a reply\n"
    "                          over it is answered E_TOOBIG\n"
    "  --idle-timeout SECONDS  close silent connections (default 300)\n"
    "  --idle-exit SECONDS     exit when no client has been connected for this long (tests)\n"
    "  --map-bytes N           initial LMDB map size (default 256 MiB; it grows as needed)\n"
    "  --snapshot-interval S   look this often (default 60) whether a snapshot of the state is due;\n"
    "                          0: only at a clean stop. A restart folds only the records after the\n"
    "                          newest snapshot (written by a child process: submits never wait)\n"
    "  --snapshot-records N    ... due when N records were added since the newest (default 100000)\n"
    "  --publish URL           publish every durable record to NATS JetStream (nats://HOST:PORT);\n"
    "                          the log stays the truth: NATS down never stops tmsd, it catches up\n"
    "  --replica-of URL        be a replica of the leader publishing to NATS JetStream there: follow\n"
    "                          its stream from this log's last seq + 1, check and apply every record;\n"
    "                          lookups are served, submits refused (E_REPLICA)\n"
    "  --ready-max-lag N       (replica) GET /readyz answers 503 while the stream holds more than N\n"
    "                          records this replica has not applied (default 1000)\n"
    "  --stream NAME           the JetStream stream (default tms; subject NAME.log)\n"
    "  --ack-after stream      (with --publish) answer a submit only once its records are durable here\n"
    "                          and stored by the stream; otherwise E_NOT_STORED (default: local)\n"
    "  --stream-timeout S      ... after S seconds without the stream storing them (default 10)\n"
    "  --signing-key FILE      the log's private key (tms-audit keygen): sign a checkpoint (C2SP\n"
    "                          tlog-checkpoint) whenever records were added, kept in DIR/checkpoints;\n"
    "                          with --publish, one with every published batch\n"
    "  --checkpoint-interval S seconds between checkpoints (default 10); one more at a clean stop\n"
    "  --witness URL           ask the C2SP tlog-witness at URL to cosign each checkpoint (repeatable)\n"
    "  --witness-key VKEY      the witness's verifier key (one per --witness, in the same order)\n"
    "  --leader-key VKEY       (replica) apply and serve no record before a checkpoint signed by this\n"
    "                          key covers it; a checkpoint that does not verify stops replication\n"
    "  --nats-creds FILE       NATS: a .creds file (JWT and NKey seed)\n"
    "  --nats-nkey FILE        NATS: a file holding a user NKey seed\n"
    "  --nats-user NAME        NATS: user name, with --nats-password-file FILE\n"
    "  --nats-token-file FILE  NATS: a file holding the server's token\n"
    "  --nats-ca FILE          NATS over TLS: the CA certificates to trust\n"
    "  --nats-cert FILE        NATS over TLS: a client certificate, with --nats-key FILE\n"
    "  --stream-replicas N     replicas of the stream (and of the lease's bucket) when this node creates\n"
    "                          it (default 1; 3 in a NATS cluster of three)\n"
    "  --cluster URL[,URL...]  failover through NATS JetStream (docs/failover.md): follow the stream,\n"
    "                          lead while holding the lease (a key in bucket NAME_lease); needs --node,\n"
    "                          --signing-key (the same log key on every node); acknowledges after\n"
    "                          the stream stores a record; a follower refuses submits (E_NOT_LEADER,\n"
    "                          naming the leader); a deposed leader restarts itself as a follower and\n"
    "                          sets aside records the stream never stored (DIR/set-aside)\n"
    "  --node NAME             this node's name in the cluster\n"
    "  --advertise HOST:PORT   the address clients are sent to for this node (default --listen's)\n"
    "  --lease-ttl S           the lease's time to live (default 2.5; renewed every quarter of it,\n"
    "                          trusted for three quarters of it after each renewal)\n"
    "\n"
    "SIGTERM or SIGINT: stop accepting, finish the group in flight, sync, exit 0.\n"
    "Exit status: 0 after a clean shutdown, 1 after a failure, 2 on usage or start-up errors.\n";

static int bad(const char *what)
{
    fprintf(stderr, "tmsd: %s (try --help)\n", what);
    return 2;
}

/* A whole number in [min, max], nothing else (no sign, no suffix): 0, or -1. */
static int number(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!s[0] || s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno || *end || *out < min || *out > max ? -1 : 0;
}

/* Seconds as a decimal in (0, 1e6]: milliseconds, or -1. */
static long long seconds_ms(const char *s)
{
    char *end;
    if (!s[0] || ((s[0] < '0' || s[0] > '9') && s[0] != '.'))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    return errno || *end || !(v > 0) || v > 1e6 ? -1 : (long long)(v * 1000);
}

/* 1 when HOST:PORT names this machine only. */
static int loopback(const char *hostport)
{
    return !strncmp(hostport, "127.", 4) || !strncmp(hostport, "[::1]:", 6);   /* --listen takes numeric addresses */
}

static int bad_value(const char *opt, const char *v, const char *want)
{
    fprintf(stderr, "tmsd: %s %s: expected %s (try --help)\n", opt, v, want);
    return 2;
}

/* The options of SPEC section 11 and NATS credentials: -1 when a is none of them, 0 when taken, else the exit
 * status of a bad value. */
static int trust_option(tms_daemon_options *o, const char *a, const char *v, size_t *nwit, size_t *nwkey)
{
    static const struct { const char *name; size_t off; } files[] = {
        {"--signing-key", offsetof(tms_daemon_options, signing_key)},
        {"--leader-key", offsetof(tms_daemon_options, leader_key)},
        {"--nats-creds", offsetof(tms_daemon_options, nats_creds)},
        {"--nats-nkey", offsetof(tms_daemon_options, nats_nkey_seed)},
        {"--nats-user", offsetof(tms_daemon_options, nats_user)},
        {"--nats-password-file", offsetof(tms_daemon_options, nats_password_file)},
        {"--nats-token-file", offsetof(tms_daemon_options, nats_token_file)},
        {"--nats-ca", offsetof(tms_daemon_options, nats_ca)},
        {"--nats-cert", offsetof(tms_daemon_options, nats_cert)},
        {"--nats-key", offsetof(tms_daemon_options, nats_key)}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (!strcmp(a, files[i].name)) {
            *(const char **)((char *)o + files[i].off) = v;
            return 0;
        }
    if (!strcmp(a, "--checkpoint-interval")) {
        long long ms = seconds_ms(v);
        if (ms <= 0 || ms > 86400000)
            return bad_value(a, v, "a number of seconds above 0, at most a day");
        o->checkpoint_interval_ms = (unsigned)ms;
        return 0;
    }
    if (!strcmp(a, "--witness")) {
        if ((strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) || *nwit == 7)
            return bad_value(a, v, "an http:// or https:// URL (at most 7 witnesses)");
        o->witnesses[(*nwit)++] = v;
        return 0;
    }
    if (!strcmp(a, "--witness-key")) {
        if (*nwkey == 7)
            return bad_value(a, v, "at most 7 witness keys");
        o->witness_keys[(*nwkey)++] = v;
        return 0;
    }
    return -1;
}

/* --cluster, --node, --advertise, --lease-ttl: 0, 1 (an error said), -1 not one of them. */
static int cluster_option(tms_daemon_options *o, const char *a, const char *v)
{
    if (!strcmp(a, "--cluster")) {
        if (strncmp(v, "nats://", 7) || !v[7])
            return bad_value(a, v, "nats://HOST:PORT[,nats://HOST:PORT...]");
        o->cluster = v;
    } else if (!strcmp(a, "--node")) {
        if (!*v || strlen(v) > 64 || v[strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")])
            return bad_value(a, v, "a name of 1 to 64 letters, digits, '.', '_' or '-'");
        o->node = v;
    } else if (!strcmp(a, "--advertise")) {
        if (!*v || strlen(v) >= 256 || strchr(v, ','))
            return bad_value(a, v, "HOST:PORT (or a socket path) clients are sent to");
        o->advertise = v;
    } else if (!strcmp(a, "--lease-ttl")) {
        long long ms = seconds_ms(v);
        if (ms < 300 || ms > 600000)
            return bad_value(a, v, "a number of seconds from 0.3 to 600");
        o->lease_ttl_ms = (unsigned)ms;
    } else {
        return -1;
    }
    return 0;
}

/* --cluster's company: 0, or 2 after saying what is wrong. */
static int check_cluster(tms_daemon_options *o)
{
    if (!o->cluster)
        return o->node || o->advertise || o->lease_ttl_ms ? bad("--node, --advertise and --lease-ttl go with --cluster")
                                                         : 0;
    if (o->publish || o->replica_of || o->leader_key)
        return bad("--cluster replaces --publish, --replica-of and --leader-key (each node is both, in turn)");
    if (!o->node || !o->signing_key)
        return bad("--cluster needs --node NAME and --signing-key FILE (the log's key, the same on every node)");
    o->ack_after_stream = 1;   /* a leader acknowledges only what the stream stored: failover loses nothing */
    return 0;
}

int main(int argc, char **argv)
{
    tms_daemon_options o;
    unsigned long long n;
    memset(&o, 0, sizeof o);
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
        {"tcp-lookups-need-token", no_argument, NULL, 'T'}, {"data", required_argument, NULL, 0},
        {"socket", required_argument, NULL, 0}, {"listen", required_argument, NULL, 0},
        {"metrics", required_argument, NULL, 0}, {"http", required_argument, NULL, 0},
        {"token-file", required_argument, NULL, 0}, {"principals", required_argument, NULL, 0},
        {"publish", required_argument, NULL, 0}, {"replica-of", required_argument, NULL, 0},
        {"stream", required_argument, NULL, 0}, {"stream-replicas", required_argument, NULL, 0},
        {"max-connections", required_argument, NULL, 0}, {"max-tcp-connections", required_argument, NULL, 0},
        {"max-http-per-peer", required_argument, NULL, 0},
        {"max-frame-bytes", required_argument, NULL, 0}, {"max-buffered-bytes", required_argument, NULL, 0},
        {"idle-timeout", required_argument, NULL, 0}, {"idle-exit", required_argument, NULL, 0},
        {"hello-timeout", required_argument, NULL, 0}, {"map-bytes", required_argument, NULL, 0},
        {"signing-key", required_argument, NULL, 0}, {"checkpoint-interval", required_argument, NULL, 0},
        {"witness", required_argument, NULL, 0}, {"witness-key", required_argument, NULL, 0},
        {"leader-key", required_argument, NULL, 0}, {"snapshot-interval", required_argument, NULL, 0},
        {"snapshot-records", required_argument, NULL, 0}, {"ack-after", required_argument, NULL, 0},
        {"stream-timeout", required_argument, NULL, 0}, {"ready-max-lag", required_argument, NULL, 0},
        {"nats-creds", required_argument, NULL, 0}, {"nats-nkey", required_argument, NULL, 0},
        {"nats-user", required_argument, NULL, 0}, {"nats-password-file", required_argument, NULL, 0},
        {"nats-token-file", required_argument, NULL, 0}, {"nats-ca", required_argument, NULL, 0},
        {"nats-cert", required_argument, NULL, 0}, {"nats-key", required_argument, NULL, 0},
        {"cluster", required_argument, NULL, 0}, {"node", required_argument, NULL, 0},
        {"advertise", required_argument, NULL, 0}, {"lease-ttl", required_argument, NULL, 0},
        {NULL, 0, NULL, 0}};
    size_t nwit = 0, nwkey = 0;
    int rc;
    int c, idx;
    char name[64];
    opterr = 0;   /* our messages: one line, naming the option */
    while ((c = getopt_long(argc, argv, ":h", lo, &idx)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (c == 'V') {
            printf("tmsd (tmsperm) %s\n", tms_version());
            return fflush(stdout) ? 2 : 0;
        }
        if (c == 'T') {
            o.tcp_lookups_need_token = 1;
            continue;
        }
        if (c == ':')
            return bad("option needs a value");
        if (c != 0)
            return bad("unknown option");
        snprintf(name, sizeof name, "--%s", lo[idx].name);   /* the checks below speak of "--name" */
        const char *a = name, *v = optarg;
        if (!strcmp(a, "--data")) o.data_dir = v;
        else if (!strcmp(a, "--socket")) o.socket_path = v;
        else if (!strcmp(a, "--listen")) o.listen = v;
        else if (!strcmp(a, "--metrics")) o.metrics = v;
        else if (!strcmp(a, "--http")) o.http = v;
        else if (!strcmp(a, "--token-file")) o.token_file = v;
        else if (!strcmp(a, "--principals")) o.principals = v;
        else if (!strcmp(a, "--publish")) {
            if (strncmp(v, "nats://", 7) || !v[7])
                return bad_value(a, v, "nats://HOST:PORT");
            o.publish = v;
        } else if (!strcmp(a, "--replica-of")) {
            if (strncmp(v, "nats://", 7) || !v[7])
                return bad_value(a, v, "nats://HOST:PORT");
            o.replica_of = v;
        } else if (!strcmp(a, "--stream")) o.stream = v;
        else if (!strcmp(a, "--stream-replicas")) {
            if (number(v, 1, 5, &n))
                return bad_value(a, v, "a number of stream replicas from 1 to 5");
            o.stream_replicas = (int)n;
        }
        else if (!strcmp(a, "--max-connections")) {
            if (number(v, 1, 1000000, &n))
                return bad_value(a, v, "a number of connections from 1 to 1000000");
            o.max_connections = (unsigned)n;
        } else if (!strcmp(a, "--max-tcp-connections")) {
            if (number(v, 1, 1000000, &n))
                return bad_value(a, v, "a number of connections from 1 to 1000000");
            o.max_tcp_connections = (unsigned)n;
        } else if (!strcmp(a, "--max-http-per-peer")) {
            if (number(v, 1, 1000000, &n))
                return bad_value(a, v, "a number of connections from 1 to 1000000");
            o.max_http_per_peer = (unsigned)n;
        } else if (!strcmp(a, "--max-frame-bytes")) {
            if (number(v, 65536, TMS_WIRE_MAX_FRAME, &n))
                return bad_value(a, v, "a byte count from 65536 to 16777216");
            o.max_frame = (size_t)n;
        } else if (!strcmp(a, "--max-buffered-bytes")) {
            if (number(v, 1u << 20, 1ull << 40, &n))
                return bad_value(a, v, "a byte count from 1 MiB to 1 TiB");
            o.max_buffered = (size_t)n;
        } else if (!strcmp(a, "--idle-timeout") || !strcmp(a, "--idle-exit") || !strcmp(a, "--hello-timeout")) {
            long long ms = seconds_ms(v);
            if (ms <= 0)
                return bad_value(a, v, "a number of seconds above 0");
            *(!strcmp(a, "--idle-timeout") ? &o.idle_timeout_ms
              : !strcmp(a, "--idle-exit") ? &o.idle_exit_ms : &o.hello_timeout_ms) = (unsigned)ms;
        } else if ((rc = cluster_option(&o, a, v)) >= 0) {
            if (rc)
                return rc;
        } else if ((rc = trust_option(&o, a, v, &nwit, &nwkey)) >= 0) {
            if (rc)
                return rc;
        } else if (!strcmp(a, "--snapshot-interval")) {
            long long ms = strcmp(v, "0") ? seconds_ms(v) : 0;
            if (ms < 0 || ms > 86400000)
                return bad_value(a, v, "a number of seconds, at most a day (0: only at a clean stop)");
            o.snapshot_interval_ms = ms ? (unsigned)ms : TMS_SNAPSHOTS_OFF;
        } else if (!strcmp(a, "--ack-after")) {
            if (strcmp(v, "local") && strcmp(v, "stream"))
                return bad_value(a, v, "local (the log's fdatasync) or stream (and stored by the stream)");
            o.ack_after_stream = !strcmp(v, "stream");
        } else if (!strcmp(a, "--stream-timeout")) {
            long long ms = seconds_ms(v);
            if (ms <= 0 || ms > 3600000)
                return bad_value(a, v, "a number of seconds above 0, at most an hour");
            o.stream_ack_timeout_ms = (unsigned)ms;
        } else if (!strcmp(a, "--snapshot-records")) {
            if (number(v, 1, 1ull << 40, &n))
                return bad_value(a, v, "a number of records from 1");
            o.snapshot_records = n;
        } else if (!strcmp(a, "--ready-max-lag")) {
            if (number(v, 1, 1ull << 40, &n))
                return bad_value(a, v, "a number of records from 1");
            o.ready_max_lag = n;
        } else if (!strcmp(a, "--map-bytes")) {
            if (number(v, 65536, 1ull << 40, &n))
                return bad_value(a, v, "a byte count from 65536 to 1 TiB");
            o.map_bytes = (size_t)n;
        }
    }
    if (optind < argc)
        return bad("unexpected argument");
    if (!o.data_dir)
        return bad("--data DIR is required");
    if (o.http && !loopback(o.http) && !o.token_file && !o.principals)
        return bad_value("--http", o.http, "a loopback address, or credentials (--token-file or --principals)");
    if (o.stream && !o.publish && !o.replica_of && !o.cluster)
        return bad("--stream goes with --publish, --replica-of or --cluster");
    if (o.stream_replicas && !o.publish && !o.cluster)
        return bad("--stream-replicas goes with --publish or --cluster");
    if ((rc = check_cluster(&o)))
        return rc;
    if (o.publish && o.replica_of)
        return bad("--publish and --replica-of: a tmsd is a leader or a replica");
    if (o.ack_after_stream && !o.publish && !o.cluster)
        return bad("--ack-after stream goes with --publish (a --cluster node always acknowledges after the stream)");
    if (o.stream_ack_timeout_ms && !o.ack_after_stream)
        return bad("--stream-timeout goes with --ack-after stream");
    if (o.checkpoint_interval_ms && !o.signing_key)
        return bad("--checkpoint-interval goes with --signing-key");
    if ((nwit || nwkey) && (!o.signing_key || nwit != nwkey))
        return bad("--witness URL goes with --witness-key VKEY (one each) and --signing-key");
    if (o.leader_key && !o.replica_of)
        return bad("--leader-key goes with --replica-of");
    if (o.ready_max_lag && !o.replica_of)
        return bad("--ready-max-lag goes with --replica-of");
    if (o.signing_key && o.replica_of)
        return bad("--signing-key and --replica-of: a replica keeps its leader's checkpoints, it signs none");
    if ((o.nats_creds || o.nats_nkey_seed || o.nats_user || o.nats_password_file || o.nats_token_file || o.nats_ca ||
         o.nats_cert || o.nats_key) && !o.publish && !o.replica_of && !o.cluster)
        return bad("the --nats-* options go with --publish, --replica-of or --cluster");
    if (!o.nats_user != !o.nats_password_file)
        return bad("--nats-user and --nats-password-file go together");
    if (!o.nats_cert != !o.nats_key)
        return bad("--nats-cert and --nats-key go together");
    if (o.listen && !loopback(o.listen) && !o.token_file && !o.principals)
        return bad_value("--listen", o.listen, "a loopback address, or credentials (--token-file or --principals)"
                         " for one that other machines reach");
    if (o.socket_path && strlen(o.socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return bad_value("--socket", o.socket_path, "a path shorter than 108 bytes (the kernel's limit)");
    if (!o.socket_path && strlen(o.data_dir) + sizeof "/tmsd.sock" > sizeof(((struct sockaddr_un *)0)->sun_path))
        return bad_value("--data", o.data_dir, "a path short enough for DIR/tmsd.sock (108 bytes), or --socket PATH");
    signal(SIGPIPE, SIG_IGN);   /* a client that vanishes mid-reply is an EPIPE, not our death */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);   /* no brk give-back and take-again around every frame */
    if ((rc = tms_daemon_run(&o)) == TMS_DAEMON_RESTART) {   /* a deposed cluster node: a follower anew */
        sigset_t stops;   /* a stop asked for during the exec is kept for the new image (it unblocks them) */
        sigemptyset(&stops);
        sigaddset(&stops, SIGTERM);
        sigaddset(&stops, SIGINT);
        sigprocmask(SIG_BLOCK, &stops, NULL);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "tmsd: cannot restart itself (/proc/self/exe): %s\n", strerror(errno));
        return 1;
    }
    return rc;
}
