/* tmsd -- the tmsperm engine daemon (SPEC section 6): holds a data
 * directory's writer lock, serves lookups and group-committed submits over a
 * Unix socket (default DIR/tmsd.sock) and optionally TCP. See engine/daemon.h. */
#include <errno.h>
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
#include "tool_common.h"

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

/* What the options fill: the daemon's options, and the witnesses and their keys counted. */
typedef struct parsed {
    tms_daemon_options o;
    size_t nwit, nwkey;
} parsed;

/* --checkpoint-interval, --witness URL and --witness-key VKEY (repeated, in
 * the same order): 0 when taken, -1 when a is none of them, else the exit
 * status of a bad value. The key files are plain values (parse_options). */
static int trust_option(parsed *p, const char *a, const char *v)
{
    if (!strcmp(a, "--checkpoint-interval")) {
        long long ms = seconds_ms(v);
        if (ms <= 0 || ms > 86400000)
            return bad_value(a, v, "a number of seconds above 0, at most a day");
        p->o.checkpoint_interval_ms = (unsigned)ms;
        return 0;
    }
    if (!strcmp(a, "--witness")) {
        if ((strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) || p->nwit == 7)
            return bad_value(a, v, "an http:// or https:// URL (at most 7 witnesses)");
        p->o.witnesses[p->nwit++] = v;
        return 0;
    }
    if (!strcmp(a, "--witness-key")) {
        if (p->nwkey == 7)
            return bad_value(a, v, "at most 7 witness keys");
        p->o.witness_keys[p->nwkey++] = v;
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

/* The connection limits and timeouts, and --map-bytes: 0 when taken, -1 when a is none of them, else the exit
 * status of a bad value. */
static int limit_option(tms_daemon_options *o, const char *a, const char *v)
{
    unsigned long long n;
    if (!strcmp(a, "--max-connections") || !strcmp(a, "--max-tcp-connections") || !strcmp(a, "--max-http-per-peer")) {
        if (number(v, 1, 1000000, &n))
            return bad_value(a, v, "a number of connections from 1 to 1000000");
        *(!strcmp(a, "--max-connections") ? &o->max_connections
          : !strcmp(a, "--max-tcp-connections") ? &o->max_tcp_connections : &o->max_http_per_peer) = (unsigned)n;
    } else if (!strcmp(a, "--max-frame-bytes")) {
        if (number(v, 65536, TMS_WIRE_MAX_FRAME, &n))
            return bad_value(a, v, "a byte count from 65536 to 16777216");
        o->max_frame = (size_t)n;
    } else if (!strcmp(a, "--max-buffered-bytes")) {
        if (number(v, 1u << 20, 1ull << 40, &n))
            return bad_value(a, v, "a byte count from 1 MiB to 1 TiB");
        o->max_buffered = (size_t)n;
    } else if (!strcmp(a, "--idle-timeout") || !strcmp(a, "--idle-exit") || !strcmp(a, "--hello-timeout")) {
        long long ms = seconds_ms(v);
        if (ms <= 0)
            return bad_value(a, v, "a number of seconds above 0");
        *(!strcmp(a, "--idle-timeout") ? &o->idle_timeout_ms
          : !strcmp(a, "--idle-exit") ? &o->idle_exit_ms : &o->hello_timeout_ms) = (unsigned)ms;
    } else if (!strcmp(a, "--map-bytes")) {
        if (number(v, 65536, 1ull << 40, &n))
            return bad_value(a, v, "a byte count from 65536 to 1 TiB");
        o->map_bytes = (size_t)n;
    } else {
        return -1;
    }
    return 0;
}

/* Publishing, following, acknowledging and snapshots: 0 when taken, -1 when a is none of them, else the exit
 * status of a bad value. */
static int stream_option(tms_daemon_options *o, const char *a, const char *v)
{
    unsigned long long n;
    long long ms;
    if (!strcmp(a, "--publish") || !strcmp(a, "--replica-of")) {
        if (strncmp(v, "nats://", 7) || !v[7])
            return bad_value(a, v, "nats://HOST:PORT");
        *(!strcmp(a, "--publish") ? &o->publish : &o->replica_of) = v;
    } else if (!strcmp(a, "--stream-replicas")) {
        if (number(v, 1, 5, &n))
            return bad_value(a, v, "a number of stream replicas from 1 to 5");
        o->stream_replicas = (int)n;
    } else if (!strcmp(a, "--snapshot-interval")) {
        ms = strcmp(v, "0") ? seconds_ms(v) : 0;
        if (ms < 0 || ms > 86400000)
            return bad_value(a, v, "a number of seconds, at most a day (0: only at a clean stop)");
        o->snapshot_interval_ms = ms ? (unsigned)ms : TMS_SNAPSHOTS_OFF;
    } else if (!strcmp(a, "--ack-after")) {
        if (strcmp(v, "local") && strcmp(v, "stream"))
            return bad_value(a, v, "local (the log's fdatasync) or stream (and stored by the stream)");
        o->ack_after_stream = !strcmp(v, "stream");
    } else if (!strcmp(a, "--stream-timeout")) {
        if ((ms = seconds_ms(v)) <= 0 || ms > 3600000)
            return bad_value(a, v, "a number of seconds above 0, at most an hour");
        o->stream_ack_timeout_ms = (unsigned)ms;
    } else if (!strcmp(a, "--snapshot-records") || !strcmp(a, "--ready-max-lag")) {
        if (number(v, 1, 1ull << 40, &n))
            return bad_value(a, v, "a number of records from 1");
        *(!strcmp(a, "--snapshot-records") ? &o->snapshot_records : &o->ready_max_lag) = n;
    } else {
        return -1;
    }
    return 0;
}

/* The parser's take: an option checked as it comes (tool_parser). */
static int take_option(void *ctx, const char *a, const char *v)
{
    parsed *p = ctx;
    int rc;
    if ((rc = limit_option(&p->o, a, v)) >= 0 || (rc = stream_option(&p->o, a, v)) >= 0 ||
        (rc = cluster_option(&p->o, a, v)) >= 0 || (rc = trust_option(p, a, v)) >= 0)
        return rc;
    return bad_value(a, v, "an option the table names but none takes");   /* never: each is taken above */
}

/* Read the command line into p: 0, 1 after --help or --version (printed), else the exit status of a usage
 * error (said). Every option is named whole, once in the usage above. */
static int parse_options(int argc, char **argv, parsed *p)
{
    tms_daemon_options *o = &p->o;
    int version = 0, npos;
    const tool_opt opts[] = {
        {"version", 0, NULL, &version}, {"tcp-lookups-need-token", 0, NULL, &o->tcp_lookups_need_token},
        {"data", 1, &o->data_dir}, {"socket", 1, &o->socket_path}, {"listen", 1, &o->listen},
        {"metrics", 1, &o->metrics}, {"http", 1, &o->http}, {"token-file", 1, &o->token_file},
        {"principals", 1, &o->principals}, {"stream", 1, &o->stream}, {"signing-key", 1, &o->signing_key},
        {"leader-key", 1, &o->leader_key}, {"nats-creds", 1, &o->nats_creds}, {"nats-nkey", 1, &o->nats_nkey_seed},
        {"nats-user", 1, &o->nats_user}, {"nats-password-file", 1, &o->nats_password_file},
        {"nats-token-file", 1, &o->nats_token_file}, {"nats-ca", 1, &o->nats_ca}, {"nats-cert", 1, &o->nats_cert},
        {"nats-key", 1, &o->nats_key},
        /* checked as they come (take_option) */
        {"publish", 1}, {"replica-of", 1}, {"stream-replicas", 1}, {"max-connections", 1},
        {"max-tcp-connections", 1}, {"max-http-per-peer", 1}, {"max-frame-bytes", 1}, {"max-buffered-bytes", 1},
        {"idle-timeout", 1}, {"idle-exit", 1}, {"hello-timeout", 1}, {"map-bytes", 1}, {"checkpoint-interval", 1},
        {"witness", 1}, {"witness-key", 1}, {"snapshot-interval", 1}, {"snapshot-records", 1}, {"ack-after", 1},
        {"stream-timeout", 1}, {"ready-max-lag", 1}, {"cluster", 1}, {"node", 1}, {"advertise", 1},
        {"lease-ttl", 1}, {NULL, 0, NULL, NULL}};
    const tool_parser parser = {opts, take_option, p, 0, NULL};
    int rc = tool_parse_args(&parser, argc - 1, argv + 1, NULL, 0, &npos);
    if (rc == 1)
        return fputs(usage, stdout) < 0 || fflush(stdout) ? 2 : 1;
    if (!rc && version)
        return tool_version() ? 2 : 1;
    return rc;
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

/* Replication, checkpoints and NATS: which options go together. 0, or 2 after saying what is wrong. */
static int check_streams(parsed *p)
{
    tms_daemon_options *o = &p->o;
    int rc;
    if (o->stream && !o->publish && !o->replica_of && !o->cluster)
        return bad("--stream goes with --publish, --replica-of or --cluster");
    if (o->stream_replicas && !o->publish && !o->cluster)
        return bad("--stream-replicas goes with --publish or --cluster");
    if ((rc = check_cluster(o)))
        return rc;
    if (o->publish && o->replica_of)
        return bad("--publish and --replica-of: a tmsd is a leader or a replica");
    if (o->ack_after_stream && !o->publish && !o->cluster)
        return bad("--ack-after stream goes with --publish (a --cluster node always acknowledges after the stream)");
    if (o->stream_ack_timeout_ms && !o->ack_after_stream)
        return bad("--stream-timeout goes with --ack-after stream");
    if (o->checkpoint_interval_ms && !o->signing_key)
        return bad("--checkpoint-interval goes with --signing-key");
    if ((p->nwit || p->nwkey) && (!o->signing_key || p->nwit != p->nwkey))
        return bad("--witness URL goes with --witness-key VKEY (one each) and --signing-key");
    if (o->leader_key && !o->replica_of)
        return bad("--leader-key goes with --replica-of");
    if (o->ready_max_lag && !o->replica_of)
        return bad("--ready-max-lag goes with --replica-of");
    if (o->signing_key && o->replica_of)
        return bad("--signing-key and --replica-of: a replica keeps its leader's checkpoints, it signs none");
    if ((o->nats_creds || o->nats_nkey_seed || o->nats_user || o->nats_password_file || o->nats_token_file ||
         o->nats_ca || o->nats_cert || o->nats_key) && !o->publish && !o->replica_of && !o->cluster)
        return bad("the --nats-* options go with --publish, --replica-of or --cluster");
    if (!o->nats_user != !o->nats_password_file)
        return bad("--nats-user and --nats-password-file go together");
    if (!o->nats_cert != !o->nats_key)
        return bad("--nats-cert and --nats-key go together");
    return 0;
}

/* Where clients reach it (--http is checked first, in main): 0, or 2 after saying what is wrong. */
static int check_listeners(const tms_daemon_options *o)
{
    size_t sun_path = sizeof(((struct sockaddr_un *)0)->sun_path);
    if (o->listen && !loopback(o->listen) && !o->token_file && !o->principals)
        return bad_value("--listen", o->listen, "a loopback address, or credentials (--token-file or --principals)"
                         " for one that other machines reach");
    if (o->socket_path && strlen(o->socket_path) >= sun_path)
        return bad_value("--socket", o->socket_path, "a path shorter than 108 bytes (the kernel's limit)");
    if (!o->socket_path && strlen(o->data_dir) + sizeof "/tmsd.sock" > sun_path)
        return bad_value("--data", o->data_dir, "a path short enough for DIR/tmsd.sock (108 bytes), or --socket PATH");
    return 0;
}

int main(int argc, char **argv)
{
    parsed p;
    int rc;
    memset(&p, 0, sizeof p);
    tool_prog = "tmsd";
    if ((rc = parse_options(argc, argv, &p)))
        return rc == 1 ? 0 : rc;
    if (!p.o.data_dir)
        return bad("--data DIR is required");
    if (p.o.http && !loopback(p.o.http) && !p.o.token_file && !p.o.principals)
        return bad_value("--http", p.o.http, "a loopback address, or credentials (--token-file or --principals)");
    if ((rc = check_streams(&p)) || (rc = check_listeners(&p.o)))
        return rc;
    signal(SIGPIPE, SIG_IGN);   /* a client that vanishes mid-reply is an EPIPE, not our death */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);   /* no brk give-back and take-again around every frame */
    if ((rc = tms_daemon_run(&p.o)) == TMS_DAEMON_RESTART) {   /* a deposed cluster node: a follower anew */
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
