/* daemon_metrics.c -- what GET /metrics says (Prometheus text exposition
 * 0.0.4: each family's HELP and TYPE once, then its samples): tmsd's
 * counters and histograms, the gauges of the status object, the HTTP
 * requests by route and status (daemon_http_meta.c), and the process_*
 * metrics of Prometheus's standard process collector, read from /proc/self. */
#include "daemon_internal.h"
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void tms__metrics_line(msgpack_sbuffer *sb, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        msgpack_sbuffer_write(sb, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* A log2 histogram of n buckets as Prometheus cumulative buckets; bucket i
 * holds values below 2^(i+shift) (the last one: everything else), each
 * bound times scale; sum is already in the unit the bounds are. */
static void histogram_n(msgpack_sbuffer *sb, const char *name, const char *help, const uint64_t *h, int n,
                        double sum, int shift, double scale)
{
    uint64_t cum = 0;
    tms__metrics_line(sb, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < n; i++) {
        cum += h[i];
        if (i == n - 1)
            tms__metrics_line(sb, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        else
            tms__metrics_line(sb, "%s_bucket{le=\"%g\"} %llu\n", name, (double)(UINT64_C(1) << (i + shift)) * scale,
                         (unsigned long long)cum);
    }
    tms__metrics_line(sb, "%s_sum %.9g\n%s_count %llu\n", name, sum, name, (unsigned long long)cum);
}

/* The counters' histograms (HIST_BUCKETS of them, their sum in the values' unit). */
static void histogram(msgpack_sbuffer *sb, const char *name, const char *help, const uint64_t *h, uint64_t sum,
                      int shift, double scale)
{
    histogram_n(sb, name, help, h, HIST_BUCKETS, (double)sum * scale, shift, scale);
}

/* A lag histogram (lag.h), in seconds. */
static void lag_histogram(msgpack_sbuffer *sb, const char *name, const char *help, const tms_lag *l)
{
    histogram_n(sb, name, help, l->bucket, TMS_LAG_BUCKETS, l->sum_s, TMS_LAG_SHIFT, 1e-9);
}

/* What an SRE graphs beside the counters, read from the status object
 * (daemon_status.c: one place computes them): version, role, how far the
 * projection is, the log's and the map's size. */
static void render_state_metrics(server *d, msgpack_sbuffer *sb)
{
    static const struct { const char *key, *name, *help; } gauges[] = {
        {"last_seq", "tmsd_last_seq", "the last seq the projection has applied"},
        {"log_bytes", "tmsd_log_bytes", "bytes of the log's segment files"},
        {"map_bytes", "tmsd_map_bytes", "the LMDB map size of the projection"},
        {"map_used_bytes", "tmsd_map_used_bytes", "bytes of the map in use"},
        {"free_bytes", "tmsd_disk_free_bytes", "bytes free for tmsd on the data directory's file system"},
        {"http_connections", "tmsd_http_connections", "open HTTP connections (both listeners)"},
    };
    json_t *st = tms__status_json(d), *disk = json_object_get(st, "disk");
    if (!st)
        return;
    tms__metrics_line(sb, "# HELP tmsd_build_info the running tmsd\n# TYPE tmsd_build_info gauge\n"
                     "tmsd_build_info{version=\"%s\",role=\"%s\"} 1\n",
                 json_string_value(json_object_get(st, "version")), json_string_value(json_object_get(st, "role")));
    for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++) {
        json_t *v = json_object_get(st, gauges[i].key) ? json_object_get(st, gauges[i].key)
                                                       : json_object_get(disk, gauges[i].key);
        tms__metrics_line(sb, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", gauges[i].name, gauges[i].help, gauges[i].name,
                     gauges[i].name, (long long)json_integer_value(v));
    }
    json_t *vs = json_object_get(st, "verified_seq");
    if (vs)   /* --leader-key: how far the leader's signed checkpoints cover this replica */
        tms__metrics_line(sb, "# HELP tmsd_replica_verified_seq the seq up to which a checkpoint signed by the leader's "
                         "key covers this replica\n# TYPE tmsd_replica_verified_seq gauge\n"
                         "tmsd_replica_verified_seq %lld\n",
                     (long long)json_integer_value(vs));
    json_t *cp = json_object_get(st, "checkpoint");
    if (cp)   /* --signing-key: an SRE alerts when this stops following tmsd_last_seq */
        tms__metrics_line(sb, "# HELP tmsd_checkpoint_size the tree size of the latest signed checkpoint\n"
                         "# TYPE tmsd_checkpoint_size gauge\ntmsd_checkpoint_size %lld\n",
                     (long long)json_integer_value(json_object_get(cp, "size")));
    json_t *sn = json_object_get(st, "snapshots");
    if (sn)   /* how far back a restart's fold starts: alert when it stops following tmsd_last_seq */
        tms__metrics_line(sb, "# HELP tmsd_snapshot_seq the seq of the newest snapshot tmsd wrote\n"
                         "# TYPE tmsd_snapshot_seq gauge\ntmsd_snapshot_seq %lld\n",
                     (long long)json_integer_value(json_object_get(sn, "seq")));
    json_decref(st);
}

/* The boot time (/proc/stat btime, seconds since the epoch), 0 if unknown. */
static unsigned long long boot_time(void)
{
    char line[256];
    unsigned long long btime = 0;
    FILE *f = fopen("/proc/stat", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    if (f)
        fclose(f);
    return btime;
}

/* Open file descriptors: the entries of /proc/self/fd, less the one reading it. */
static long open_fds(void)
{
    long n = 0;
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    if (!dir)
        return -1;
    while ((e = readdir(dir)))
        n += e->d_name[0] != '.' && atoi(e->d_name) != dirfd(dir);
    closedir(dir);
    return n;
}

/* process_*: what Prometheus's process collector gives every program (same names, same units). */
static void render_process_metrics(msgpack_sbuffer *sb)
{
    char buf[1024];
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0;
    double tck = (double)sysconf(_SC_CLK_TCK);
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    struct rlimit rl;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');   /* the command name may hold spaces and parentheses */
    /* after the name: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
       cutime cstime priority nice num_threads itrealvalue starttime vsize rss (proc(5)) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
    "%llu %llu %lld", &utime, &stime, &start, &vsize, &rss) != 5)
        return;   /* no /proc: no process_* metrics */
    tms__metrics_line(sb, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                     "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n",
                 (double)(utime + stime) / tck);
    tms__metrics_line(sb, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                     "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %lld\n",
                 rss * (long long)sysconf(_SC_PAGESIZE));
    tms__metrics_line(sb, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                     "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %llu\n", vsize);
    tms__metrics_line(sb, "# HELP process_open_fds Number of open file descriptors.\n"
                     "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n", open_fds());
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        char max[32] = "+Inf";
        if (rl.rlim_cur != RLIM_INFINITY)
            snprintf(max, sizeof max, "%llu", (unsigned long long)rl.rlim_cur);
        tms__metrics_line(sb, "# HELP process_max_fds Maximum number of open file descriptors.\n"
                         "# TYPE process_max_fds gauge\nprocess_max_fds %s\n", max);
    }
    tms__metrics_line(sb, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                     "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.2f\n",
                 (double)boot_time() + (double)start / tck);
}

void tms__render_metrics(server *d, msgpack_sbuffer *sb)
{
    const struct { const char *name, *help; uint64_t v; } cs[] = {
        {"tmsd_connections_total", "connections accepted", d->ctr.connections_total},
        {"tmsd_requests_total", "request frames received", d->ctr.requests},
        {"tmsd_bad_frames_total", "malformed or oversize frames", d->ctr.frames_bad},
        {"tmsd_checks_total", "permission checks answered", d->ctr.checks},
        {"tmsd_commands_submitted_total", "commands received in submits", d->ctr.submits},
        {"tmsd_groups_total", "group commits", d->ctr.groups},
        {"tmsd_group_commands_total", "commands in group commits", d->ctr.group_cmds},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        tms__metrics_line(sb, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", cs[i].name, cs[i].help, cs[i].name, cs[i].name,
                     (unsigned long long)cs[i].v);
    /* not "tmsd_connections": the family of tmsd_connections_total has that name (OpenMetrics, the parsers) */
    tms__metrics_line(sb, "# HELP tmsd_socket_connections open socket connections (Unix and TCP)\n"
                     "# TYPE tmsd_socket_connections gauge\ntmsd_socket_connections %u\n", d->nconns);
    tms__metrics_line(sb, "# HELP tmsd_read_only 1 while writes are refused (the projection cannot be written)\n"
                     "# TYPE tmsd_read_only gauge\ntmsd_read_only %d\n", d->read_only[0] != 0);
    if (d->publisher) {
        tms_publish_status ps;
        tms_publisher_status(d->publisher, &ps);
        tms__metrics_line(sb, "# HELP tmsd_published_seq the stream holds the log up to this seq\n"
                         "# TYPE tmsd_published_seq gauge\ntmsd_published_seq %llu\n",
                     (unsigned long long)ps.published);
        tms__metrics_line(sb, "# HELP tmsd_publish_behind durable records not yet in the stream\n"
                         "# TYPE tmsd_publish_behind gauge\ntmsd_publish_behind %llu\n",
                     (unsigned long long)(ps.durable - ps.published));
        tms__metrics_line(sb, "# HELP tmsd_publish_stopped 1 when the stream disagrees with the log (publishing stopped)\n"
                         "# TYPE tmsd_publish_stopped gauge\ntmsd_publish_stopped %d\n", ps.stopped);
        lag_histogram(sb, "tmsd_publish_sent_lag_seconds", "per message published: its record's stamp to its "
                      "batch handed to the NATS client", &ps.sent_lag);
        lag_histogram(sb, "tmsd_publish_acked_lag_seconds", "per record the stream acknowledged (first time): its "
                      "stamp to the acknowledgement", &ps.acked_lag);
    }
    if (d->replica) {
        tms_follow_status fs;
        tms__replica_follow_status(d, &fs);
        tms__metrics_line(sb, "# HELP tmsd_replica_stopped 1 when replication stopped (a record did not check or chain)\n"
                         "# TYPE tmsd_replica_stopped gauge\ntmsd_replica_stopped %d\n", tms__replica_stopped(d));
        tms__metrics_line(sb, "# HELP tmsd_replica_behind records the stream holds that this replica has not applied\n"
                         "# TYPE tmsd_replica_behind gauge\ntmsd_replica_behind %llu\n",
                     (unsigned long long)tms__replica_behind(d));
        lag_histogram(sb, "tmsd_replica_received_lag_seconds", "per record received from the stream (before any "
                      "check): its stamp (the leader's clock) to its arrival here", &fs.received_lag);
        lag_histogram(sb, "tmsd_replica_lag_seconds", "per applied record: its stamp (the leader's clock) to its group "
                      "applied and durable here", &d->ctr.replica_lag);
        histogram(sb, "tmsd_replica_group_seconds", "worker time of a replicated group (the records' checks, log "
                  "fdatasync, apply, LMDB commit; with --leader-key the checkpoints' checks)",
                  d->ctr.replica_group_ns_hist, d->ctr.replica_group_ns_sum, 10, 1e-9);
        histogram(sb, "tmsd_replica_group_size", "records per replicated group", d->ctr.replica_group_size_hist,
                  d->ctr.replica_group_size_sum, 0, 1);
    }
    histogram(sb, "tmsd_lookup_seconds", "time to answer a lookup (a socket frame; an HTTP check, show or visible)",
              d->ctr.lookup_ns_hist, d->ctr.lookup_ns_sum, 10, 1e-9);
    histogram(sb, "tmsd_group_commit_seconds", "time of a group commit (log fdatasync + LMDB commit)",
              d->ctr.commit_ns_hist, d->ctr.commit_ns_sum, 10, 1e-9);
    histogram(sb, "tmsd_group_size", "commands per group commit", d->ctr.group_size_hist, d->ctr.group_size_sum, 0, 1);
    render_state_metrics(d, sb);
    tms__http_render_metrics(d, sb);
    render_process_metrics(sb);
}
