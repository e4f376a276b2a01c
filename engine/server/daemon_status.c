/* daemon_status.c -- what tmsd says about itself (the status op, GET
 * /v1/status, tmsctl status): built once as JSON, sent as JSON over HTTP and
 * as a msgpack map (plus its JSON text) over the socket. */
#include "daemon_internal.h"
#include "log.h"
#include <dirent.h>
#include <sodium.h>
#include <string.h>
#include <sys/statvfs.h>

static json_t *publish_json(server *d)
{
    tms_publish_status ps;
    tms_publisher_status(d->publisher, &ps);
    return json_pack("{s:I,s:I,s:b,s:b,s:s}", "published", (json_int_t)ps.published, "durable",
                     (json_int_t)ps.durable, "connected", ps.connected, "stopped", ps.stopped, "error", ps.error);
}

/* DIR/set-aside/FIRST-LAST: the records a deposed leader set aside (engine_set_aside.c), as "FIRST-LAST". */
static json_t *set_aside_json(server *d)
{
    char path[4200];
    json_t *a = json_array();
    DIR *dh = opendir(tms_data_path(path, sizeof path, d->opt.data_dir, "set-aside"));
    struct dirent *de;
    while (a && dh && (de = readdir(dh)))
        if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && !strstr(de->d_name, ".tmp"))
            json_array_append_new(a, json_string(de->d_name));
    if (dh)
        closedir(dh);
    return a;
}

json_t *tms__status_json(server *d)
{
    uint64_t seq = 0, map = 0, used = 0, free_bytes = 0;
    uint8_t head[TMS_HASH_LEN];
    char hex[2 * TMS_HASH_LEN + 1], logdir[4200];
    struct statvfs sv;
    memset(head, 0, sizeof head);
    if (tms__snapshot_begin(d) == TMS_OK) {   /* meta, not the log: the worker owns the log */
        tms_meta_get(d->rtx, &seq, head);
        tms__snapshot_end(d);
    }
    sodium_bin2hex(hex, sizeof hex, head, TMS_HASH_LEN);
    tms_store_usage(d->store, &map, &used);
    if (statvfs(d->opt.data_dir, &sv) == 0)
        free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
    json_t *o = json_pack(
        "{s:s,s:s,s:I,s:s,s:o,s:I,s:I,s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I}}", "version", tms_version(),
        "role", tms__cluster_role(d) ? tms__cluster_role(d) : d->opt.replica_of ? "replica" : "leader", "last_seq", (json_int_t)seq, "head", seq ? hex : "",
        "read_only", d->read_only[0] ? json_string(d->read_only) : json_false(), "connections", (json_int_t)d->nconns,
        "http_connections", (json_int_t)tms__http_connections(d), "disk", "log_bytes",
        (json_int_t)tms_log_dir_bytes(tms_data_path(logdir, sizeof logdir, d->opt.data_dir, "log")), "map_bytes",
        (json_int_t)map, "map_used_bytes", (json_int_t)used, "free_bytes", (json_int_t)free_bytes, "counters",
        "connections_total", (json_int_t)d->ctr.connections_total, "requests", (json_int_t)d->ctr.requests,
        "frames_bad", (json_int_t)d->ctr.frames_bad, "checks", (json_int_t)d->ctr.checks, "submits",
        (json_int_t)d->ctr.submits, "groups", (json_int_t)d->ctr.groups);
    if (o && d->publisher)   /* --publish: how far the stream holds the log */
        json_object_set_new(o, "publish", publish_json(d));
    if (o && d->replica)   /* --replica-of: how far it follows */
        json_object_set_new(o, "replica", tms__replica_status(d));
    uint64_t verified = 0;
    const char *key = NULL;
    if (o && tms__replica_verified(d, &verified, &key)) {   /* --leader-key: how far its leader's signature covers it */
        json_object_set_new(o, "verified_seq", json_integer((json_int_t)verified));
        json_object_set_new(o, "leader_key", json_string(key));
    }
    if (o && d->ckpt)   /* --signing-key: the latest checkpoint signed (its size), how many since start, why not */
        json_object_set_new(o, "checkpoint", tms__checkpoint_status(d));
    if (o && d->snaps)   /* running snapshots: the newest written, and why the last one failed */
        json_object_set_new(o, "snapshots", tms__snapshots_status(d));
    if (o)   /* the open's screen of the projection: "pending" until judged (writes wait), then "held" or "failed" */
        json_object_set_new(o, "projection_screen", json_string(tms_engine_screen_status(d->eng)));
    if (o && d->acks)   /* --ack-after stream: groups waiting for the stream to store them */
        json_object_set_new(o, "ack", tms__stream_ack_status(d));
    if (o && d->cluster) {   /* --cluster: role, leader, term, lease; what a deposed leader set aside */
        json_object_set_new(o, "cluster", tms__cluster_status(d));
        json_object_set_new(o, "set_aside", set_aside_json(d));
    }
    return o;
}
