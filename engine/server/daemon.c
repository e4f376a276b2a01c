/* daemon.c -- tmsd's lifecycle, read top-down: tms_daemon_run opens the
 * engine, starts every part (replication, cluster, checkpoints, HTTP,
 * snapshots, stream acknowledgements), opens the listeners (connections
 * are daemon_conn.c's), runs the loop, and stops in order: signals, an
 * orderly shutdown that finishes the group in flight, the last
 * checkpoint, the threads, the engine. Logging and the clock are
 * daemon_log.c's. */
#include "daemon_internal.h"
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <systemd/sd-daemon.h>


/* ---- listeners, signals, shutdown ---- */

/* SIGTERM or SIGINT before the loop's handlers exist: a stop asked for.
 * During the open, the open ends at its next progress call, nothing written
 * after it; tmsd exits 0, as after any asked-for stop. Between the open and
 * the loop's handlers (the parts starting, the listeners), start_listeners
 * begins the shutdown once its handlers are in place: a stop is never lost. */
static volatile sig_atomic_t stop_during_open;

static void on_stop_during_open(int sig)
{
    stop_during_open = sig;
}

static void catch_stop_during_open(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_during_open;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigset_t stops;   /* a restarted tmsd (TMS_DAEMON_RESTART) comes with them blocked: one sent meanwhile lands now */
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_UNBLOCK, &stops, NULL);
}


static int parse_hostport(const char *s, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
        return -1;
    int port = atoi(colon + 1);
    if (port <= 0 || port > 65535)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        host[strlen(host) - 1] = '\0';
        return uv_ip6_addr(host + 1, port, (struct sockaddr_in6 *)ss);
    }
    return uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
}

int tms__daemon_listen_tcp(server *d, uv_tcp_t *srv, const char *addr, uv_connection_cb cb)
{
    struct sockaddr_storage ss;
    int rc;
    memset(&ss, 0, sizeof ss);
    if (parse_hostport(addr, &ss) != 0) {
        fprintf(stderr, "tmsd: bad address %s (want HOST:PORT)\n", addr);
        return -1;
    }
    uv_tcp_init(d->loop, srv);
    srv->data = d;
    if ((rc = uv_tcp_bind(srv, (const struct sockaddr *)&ss, 0)) || (rc = uv_listen((uv_stream_t *)srv, 1024, cb))) {
        fprintf(stderr, "tmsd: cannot listen on %s: %s\n", addr, uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* The socket appears at its path only once it accepts: bound under a
 * temporary name beside it, listening, chmod'ed, then renamed into place, so
 * a client (or a script waiting for the file) never meets a socket that
 * refuses. A path too long for the temporary name is bound directly. */
static int listen_unix(server *d, const char *path)
{
    int rc;
    struct stat st;
    char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int n = snprintf(tmp, sizeof tmp, "%s.%ld~", path, (long)getpid());
    const char *at = n > 0 && (size_t)n < sizeof tmp ? tmp : path;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);   /* we hold the data directory's lock: a socket left here is stale */
    if (at != path)
        unlink(at);
    uv_pipe_init(d->loop, &d->unix_srv, 0);
    d->unix_srv.data = d;
    if ((rc = uv_pipe_bind(&d->unix_srv, at)) || (rc = uv_listen((uv_stream_t *)&d->unix_srv, 1024, tms__on_connection))) {
        fprintf(stderr, "tmsd: cannot listen on %s: %s\n", path, uv_strerror(rc));
        goto fail;
    }
    chmod(at, 0660);
    if (at != path && rename(at, path) != 0) {
        fprintf(stderr, "tmsd: cannot listen on %s: %s\n", path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    if (at != path)
        unlink(at);
    return -1;
}

static void close_if_open(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_deadline(uv_timer_t *t)
{
    server *d = t->data;
    tms__daemon_log("warn", "msg=\"shutdown deadline: closing connections with unsent replies\"");
    while (d->conns)
        tms__conn_close(d->conns);   /* the last one closes this timer */
}

void tms__daemon_shutdown_check(server *d)
{
    if (!d->stopping || d->group_busy || tms__replica_busy(d) || d->pending || tms__stream_ack_busy(d) ||
        tms__cluster_halting(d) || d->shutdown_done)
        return;   /* groups held for the stream are answered first (stored, or E_NOT_STORED at their timeout); a
                     replication thread halting on a worker is waited for (tms__replica_close would join it too) */
    d->shutdown_done = 1;
    for (conn *c = d->conns, *next; c; c = next) {
        next = c->next;
        tms__conn_maybe_finish(c);   /* the rest close when their replies are flushed */
    }
    if (d->conns) {
        uv_timer_init(d->loop, &d->deadline);
        d->deadline.data = d;
        uv_timer_start(&d->deadline, on_deadline, 10000, 0);
    }
    close_if_open((uv_handle_t *)&d->sigterm);
    close_if_open((uv_handle_t *)&d->sigint);
    close_if_open((uv_handle_t *)&d->sighup);
    close_if_open((uv_handle_t *)&d->idle_exit);
    close_if_open((uv_handle_t *)&d->reaper);
    tms__fresh_close(d);
    tms__watch_close(d);
    tms__replica_close(d);
    tms__cluster_close(d);
    tms__http_close(d);
    tms__checkpoint_close(d);
    tms__snapshots_close(d);
    tms__stream_ack_close(d);
}

void tms__daemon_begin_shutdown(server *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    sd_notify(0, "STOPPING=1");
    tms__daemon_log("info", "msg=\"shutting down\" why=%s in_flight=%d", why, d->group_busy);
    if (d->have_unix)
        close_if_open((uv_handle_t *)&d->unix_srv);
    if (d->have_tcp)
        close_if_open((uv_handle_t *)&d->tcp_srv);
    for (conn *c = d->conns; c; c = c->next)
        if (!c->reading_paused) {
            c->reading_paused = 1;
            uv_read_stop(&c->h.stream);
        }
    tms__daemon_shutdown_check(d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    server *d = s->data;
    d->restart = 0;   /* a stop asked for during a cluster node's restart is a stop (a set-aside waits for the next open) */
    tms__daemon_begin_shutdown(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* SIGHUP (systemctl reload): the credentials files again; never a stop.
 * New connections, hellos and HTTP requests get the new ones, and an open
 * connection becomes the principal of the same name in the new list (or
 * loses its rights): a revocation takes effect at once. */
static void on_hup(uv_signal_t *s, int signum)
{
    server *d = s->data;
    char why[512];
    (void)signum;
    sd_notify(0, "RELOADING=1");
    char q1[1100], q2[1100];
    if (tms__auth_reload(d, why, sizeof why))
        tms__daemon_log("error", "msg=\"SIGHUP: credentials not reloaded, the old ones stay\" why=\"%s\"",
                   tms__log_quote(q1, sizeof q1, why));
    else
        tms__daemon_log("info", "msg=\"SIGHUP: credentials reloaded\" token_file=\"%s\" principals_file=\"%s\" principals=%zu",
                   tms__log_quote(q1, sizeof q1, d->opt.token_file), tms__log_quote(q2, sizeof q2, d->opt.principals),
                   d->nprincipals);
    sd_notify(0, "READY=1");
}

static void on_idle_exit(uv_timer_t *t)
{
    server *d = t->data;
    if (d->nconns == 0)
        tms__daemon_begin_shutdown(d, "idle");
}

/* PBX nodes read the projection directly; one killed mid-read keeps its
 * LMDB reader slot (and old pages) until someone calls mdb_reader_check. */
static void on_reap(uv_timer_t *t)
{
    server *d = t->data;
    int dead = tms_store_reader_check(d->store);
    if (dead > 0)
        tms__daemon_log("warn", "msg=\"freed reader slots of dead processes\" count=%d", dead);
}

static int start_listeners(server *d, const char *sock)
{
    if (sock[0] && listen_unix(d, sock) != 0)
        return -1;
    d->have_unix = sock[0] != '\0';
    if (d->opt.listen && tms__daemon_listen_tcp(d, &d->tcp_srv, d->opt.listen, tms__on_connection) != 0)
        return -1;
    d->have_tcp = d->opt.listen != NULL;
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_init(d->loop, &d->sighup);
    d->sighup.data = d;
    uv_signal_start(&d->sighup, on_hup, SIGHUP);
    tms__fresh_init(d);
    tms__watch_init(d);
    uv_timer_init(d->loop, &d->reaper);
    d->reaper.data = d;
    uv_timer_start(&d->reaper, on_reap, 30000, 30000);
    uv_timer_init(d->loop, &d->idle_exit);
    d->idle_exit.data = d;
    if (d->opt.idle_exit_ms) {
        uv_timer_start(&d->idle_exit, on_idle_exit, d->opt.idle_exit_ms, d->opt.idle_exit_ms);
    }
    if (stop_during_open)   /* asked for before the handlers above existed */
        tms__daemon_begin_shutdown(d, stop_during_open == SIGINT ? "SIGINT" : "SIGTERM");
    return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* What a long open is doing (tms_engine_progress_fn): at each phase's start
 * and every 5 s within one, systemd (Type=notify) is asked for 60 s more of
 * its start timeout (EXTEND_TIMEOUT_USEC) and told the phase (STATUS); once
 * the open has taken 2 s the log says it too. */
typedef struct opening {
    uint64_t start_ns, last_ns;
    char phase[16];
} opening;


static int open_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    opening *o = ctx;
    uint64_t now = tms__now_ns();
    if (stop_during_open)
        return 1;
    if (!o->start_ns)
        o->start_ns = now;
    if (!strcmp(o->phase, phase) && now - o->last_ns < 5000000000u)
        return 0;
    snprintf(o->phase, sizeof o->phase, "%s", phase);
    o->last_ns = now;
    sd_notifyf(0, "EXTEND_TIMEOUT_USEC=60000000\nSTATUS=opening: %s %llu of %llu", phase, (unsigned long long)done,
               (unsigned long long)total);
    if (now - o->start_ns >= 2000000000u)   /* a quick open (or one refused at once) says nothing */
        tms__daemon_log("info", "msg=opening phase=%s done=%llu total=%llu", phase, (unsigned long long)done,
                   (unsigned long long)total);
    return 0;
}


int tms_daemon_run(const tms_daemon_options *opt)
{
    static server d;   /* one daemon per process: signals are process-wide */
    char why[600], sock[4200];
    uv_loop_t loop;
    int rc = 2;
    /* libcrypto (the tree's SHA-256, nats.c's TLS) is not cleaned up at exit: OpenSSL 3.0's atexit cleanup
       crashed tmsd after its "stopped" line (a SIGSEGV in OPENSSL_sk_pop_free under OPENSSL_cleanup, a core's
       backtrace) once the loop thread had hashed, in the NATS tests with authentication and TLS. Everything of
       ours is closed and synced before; the process's exit frees the rest. Asked before any other OpenSSL use. */
    if (!OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL)) {
        fprintf(stderr, "tmsd: libcrypto cannot be initialised\n");
        return 2;
    }
    memset(&d, 0, sizeof d);
    pthread_mutex_init(&d.acks_lock, NULL);   /* the publisher's thread wakes the loop through it */
    d.opt = *opt;
    d.opt.max_connections = opt->max_connections ? opt->max_connections : 1024;
    d.opt.max_tcp_connections = opt->max_tcp_connections ? opt->max_tcp_connections : 256;
    d.opt.hello_timeout_ms = opt->hello_timeout_ms ? opt->hello_timeout_ms : 5000;
    d.opt.max_buffered = opt->max_buffered ? opt->max_buffered : ((size_t)1 << 30);
    d.opt.idle_timeout_ms = opt->idle_timeout_ms ? opt->idle_timeout_ms : 300000;
    d.opt.max_frame = opt->max_frame ? opt->max_frame : TMS_WIRE_MAX_FRAME;
    d.opt.ack_after_stream |= opt->cluster != NULL;   /* a cluster's leader acknowledges what the stream stored */
    d.pending_tail = &d.pending;
    msgpack_sbuffer_init(&d.out);
    snprintf(sock, sizeof sock, "%s", opt->socket_path ? opt->socket_path : "");
    if (!opt->socket_path)
        tms_data_path(sock, sizeof sock, opt->data_dir, "tmsd.sock");
    tms_engine_options eo = {0};
    opening op = {0};
    eo.defer_growth = 1;
    eo.defer_screen = 1;   /* lookups answer while the projection is read; writes wait (docs/trust.md) */
    eo.defer_fold = 1;     /* ... and while the log's tail is folded, when the projection is level with it */
    eo.no_open_snapshot = 1;   /* "started" first; a running snapshot (or the clean stop) takes it */
    eo.map_bytes = opt->map_bytes;
    eo.progress = open_progress;   /* a long fold or rebuild is not killed by the unit's start timeout */
    eo.progress_ctx = &op;
    if (opt->token_file && tms_token_read(opt->token_file, d.token, sizeof d.token, &d.token_len, why, sizeof why)) {
        fprintf(stderr, "tmsd: %s\n", why);
        goto done;
    }
    if (opt->principals && tms__auth_load(&d, opt->principals, why, sizeof why) != 0) {
        fprintf(stderr, "tmsd: --principals %s\n", why);
        goto done;
    }
    catch_stop_during_open();   /* the loop's own handlers replace it once it runs */
    if (tms_engine_open(opt->data_dir, &eo, &d.eng, why, sizeof why) != TMS_OK || stop_during_open) {
        if (stop_during_open) {   /* asked for: not a failure */
            tms__daemon_log("info", "msg=\"stopped during the open\" phase=%s", op.phase[0] ? op.phase : "-");
            rc = 0;
        } else {
            fprintf(stderr, "tmsd: %s\n", why);
        }
        goto done;
    }
    if (tms_engine_open_report(d.eng)[0])
        tms__daemon_log("warn", "msg=\"%s\"", tms__log_quote(why, sizeof why, tms_engine_open_report(d.eng)));
    d.report_said = strlen(tms_engine_open_report(d.eng));   /* a tail folded after "started" may add to it */
    d.store = tms_engine_store(d.eng);
    tms__tree_records_note(&d);
    if (opt->publish) {
        tms_publish_options po = {opt->publish, opt->stream, opt->stream_replicas, opt->data_dir, opt->signing_key,
                                  tms__daemon_nats_options(opt), opt->ack_after_stream ? tms__stream_ack_wake : NULL, &d};
        if (tms_publisher_start(&po, tms_engine_last_seq(d.eng), &d.publisher, why, sizeof why) != TMS_OK) {
            fprintf(stderr, "tmsd: --publish: %s\n", why);
            goto done;
        }
    }
    uv_loop_init(&loop);
    d.loop = &loop;
    const char *what = NULL;
    if ((opt->signing_key && tms__checkpoint_start(&d, why, sizeof why) && (what = "--signing-key")) ||
        (opt->replica_of && tms__replica_start(&d, why, sizeof why) && (what = "--replica-of")) ||
        (opt->cluster && tms__cluster_start(&d, why, sizeof why) && (what = "--cluster")) ||
        ((opt->http || opt->metrics) && tms__http_start(&d, why, sizeof why) && (what = "--http/--metrics")) ||
        (tms__snapshots_start(&d, why, sizeof why) && (what = "snapshots")) ||
        (tms__stream_ack_start(&d, why, sizeof why) && (what = "--ack-after"))) {
        fprintf(stderr, "tmsd: %s: %s\n", what, why);
        tms__http_abandon(&d);
        tms__stream_ack_close(&d);   /* its wake handle closed under its lock: the publisher still runs */
        uv_walk(&loop, close_any, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        goto done;
    }
    if (start_listeners(&d, sock) == 0) {
        char qdata[2 * 4096 + 2], qsock[2 * sizeof sock + 2];
        tms__daemon_log("info", "msg=started version=%s data=\"%s\" socket=\"%s\" listen=%s http=%s metrics=%s last_seq=%llu "
                   "from_snapshot=%llu screen=%s fold=%s pid=%ld", tms_version(), tms__log_quote(qdata, sizeof qdata, opt->data_dir),
                   tms__log_quote(qsock, sizeof qsock, sock), opt->listen ? opt->listen : "-", opt->http ? opt->http : "-",
                   opt->metrics ? opt->metrics : "-", (unsigned long long)tms_engine_last_seq(d.eng),
                   (unsigned long long)tms_engine_snapshot_seq(d.eng),
                   tms_engine_screen_pending(d.eng) ? "after" : "done", tms_engine_fold_pending(d.eng) ? "after" : "done",
                   (long)getpid());
        /* systemd (Type=notify): ready once every listener is open; a no-op without NOTIFY_SOCKET */
        sd_notifyf(0, "READY=1\nSTATUS=serving %s, last seq %llu\nMAINPID=%lu", opt->data_dir,
                   (unsigned long long)tms_engine_last_seq(d.eng), (unsigned long)getpid());
        tms__group_screen(&d);
        uv_run(&loop, UV_RUN_DEFAULT);
        rc = d.failed_exit ? 1 : d.restart ? TMS_DAEMON_RESTART : 0;   /* a failure is never a success */
    } else {
        tms__http_abandon(&d);
        tms__stream_ack_close(&d);   /* its wake handle closed under its lock: the publisher still runs */
        uv_walk(&loop, close_any, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop);
    if (rc == 0 || d.failed_exit || d.restart)
        tms__daemon_log(rc == 1 ? "error" : "info", "msg=%s last_seq=%llu status=%d", d.restart ? "restarting" : "stopped",
                   (unsigned long long)tms_engine_last_seq(d.eng), rc);
    if (d.have_unix)
        unlink(sock);
done:
    tms__checkpoint_free(&d);   /* the last checkpoint: after the last group, before the engine closes */
    tms__cluster_halt(&d);      /* resigned first; its thread and connection gone before the library closes */
    tms__replica_halt(&d);
    tms_publisher_stop(d.publisher);   /* what it did not publish, the next start catches up from the log */
    tms__replica_free(&d);
    tms__cluster_free(&d);
    tms__http_free(&d);
    tms__auth_free(&d);
    tms__snapshot_free(&d);
    tms__snapshots_free(&d);
    tms__stream_ack_free(&d);
    tms_engine_close(d.eng);
    msgpack_sbuffer_destroy(&d.out);
    return rc;
}
