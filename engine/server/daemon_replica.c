/* daemon_replica.c -- tmsd --replica-of (SPEC section 8): the follower's
 * thread queues the leader's frames (follow.h) and wakes the loop; the
 * loop hands them, up to REPLICA_BATCH at a time, to the worker, which
 * checks and applies them as one group (tms_engine_replicate); after each,
 * the lookups waiting for a seq and the watchers are served as after a
 * submit's group. A frame that does not check or chain stops replication
 * for good, loudly (stderr, status, metric), naming the seq; lookups go on
 * from the last good state. Submits are refused (E_REPLICA).
 *
 * --leader-key (SPEC section 11, "Replicas"): the chain proves nothing
 * against whoever may publish to the stream with a copy of the log. So no
 * frame is applied before a checkpoint signed by the leader's key covers
 * it: frames wait here (at most PENDING_MAX, PENDING_BYTES) until one
 * carries a Tms-Checkpoint header (publish.h); then the worker checks every
 * checkpoint among them (signature by the key, origin = the key's name,
 * size = the seq of the frame that carries it, root = this replica's tree
 * with the waiting records pushed onto it) and only then applies them, in
 * groups as above. A checkpoint that does not verify, or frames that wait
 * beyond the bounds, stop replication as a bad record does, and nothing
 * that waited is applied. The last verified checkpoint whose records are
 * all applied is kept in DIR/checkpoints (at most one per STORE_EVERY_NS,
 * and the last at a stop): the replica's own log is what it covers. */
#include "daemon_internal.h"
#include "checkpoints.h"
#include "follow.h"
#include "log.h"
#include "note.h"
#include "tree.h"
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define REPLICA_BATCH 2048
#define REPLICA_RETRIES 8
#define PENDING_MAX 65536                       /* frames waiting for a checkpoint (--leader-key) */
#define PENDING_BYTES ((size_t)64 << 20)        /* ... and their bytes */
#define STORE_EVERY_NS (10ull * 1000000000ull)  /* a verified checkpoint kept in DIR/checkpoints at most this often */

/* A verified checkpoint: the whole signed note as the leader signed it. */
typedef struct held_cp {
    char *note;
    size_t len;
    uint64_t size;
} held_cp;

struct replica {
    tms_follower *f;
    uv_async_t wake;
    uv_work_t work;
    int busy, retries;
    /* frames taken from the follower, in seq order: [0, n). The first
       `ready` may be applied (covered by a verified checkpoint; all of them
       without --leader-key); the first `check` wait for the worker to check
       the checkpoints among them (the last of them carries one); the first
       `group` are the group on the worker. */
    uint8_t **frames;
    size_t *lens;
    char **notes;                /* each frame's Tms-Checkpoint header, NULL if none */
    size_t n, cap, bytes, ready, check, group;
    tms_err err;
    char why[512];
    uint64_t applied_groups;
    uint64_t group_ns;           /* the worker's time for the group just applied (checkpoints' checks too) */
    tms_lag group_lag;           /* its records' lags at its end (the worker's; merged on the loop) */
    /* --leader-key */
    int keyed;
    tms_note_verifier key;
    held_cp verified;            /* checked, its records not all applied yet (the worker's) */
    held_cp applied;             /* checked and its records applied: what DIR/checkpoints gets (the worker's) */
    int applied_stored;          /* ... it is there */
    uint64_t stored_ns;          /* when one was last put there */
    uint64_t verified_seq;       /* the loop's copy of applied.size: what status says */
    uint64_t adopt_until;        /* --cluster, catching up: frames up to this seq may be applied uncovered */
};

static void on_notify(void *arg)   /* the follower's thread */
{
    uv_async_send(arg);
}

static void held_free(held_cp *h)
{
    free(h->note);
    *h = (held_cp){NULL, 0, 0};
}

/* Put the applied checkpoint into DIR/checkpoints (the worker, or the end). */
static void store_applied(server *d, replica *r)
{
    char why[300], q[2 * sizeof why + 2];
    if (!r->applied.note || r->applied_stored)
        return;
    tms_err err = tms_checkpoints_append(d->opt.data_dir, r->applied.note, r->applied.len, why, sizeof why);
    if (err)
        tms__daemon_log("warn", "msg=\"a verified checkpoint of the leader could not be kept\" size=%llu err=%s why=\"%s\"",
                   (unsigned long long)r->applied.size, tms_err_name(err), tms__log_quote(q, sizeof q, why));
    r->applied_stored = 1;   /* a failure is said once: the next checkpoint tries again */
    r->stored_ns = tms__now_ns();
}

/* Why the note (len bytes) is not the leader's checkpoint of the tree g
 * for the frame of seq `seq`, into what; NULL when it is. */
static const char *note_fault(const replica *r, const char *note, size_t len, uint64_t seq, const tms_tlog_range *g,
                              char *what, size_t wlen)
{
    tms_checkpoint cp;
    tms_tlog_hash root;
    tms_tlog_range_root(g, root);
    char inner[200];
    if (tms_checkpoint_open(note, len, &r->key, &cp, inner, sizeof inner) != TMS_OK) {   /* signed by the leader? */
        snprintf(what, wlen, "its checkpoint does not verify with the leader key: %s", inner);
        return what;
    }
    if (cp.size != seq || cp.size != g->size)
        snprintf(what, wlen, "its checkpoint is of size %llu", (unsigned long long)cp.size);
    else if (sodium_memcmp(root, cp.root, sizeof root))
        snprintf(what, wlen, "its checkpoint's root is not this replica's tree's with the records up to it (another "
                 "log)");
    else
        return NULL;
    return what;
}

/* One checkpoint header, on the frame of seq `seq`, against g (this
 * replica's tree with every waiting record up to that frame pushed onto
 * it; first: the first waiting seq). TMS_OK (it becomes r->verified), else
 * TMS_E_CORRUPT with r->why naming the seq. */
static tms_err check_note(replica *r, const char *b64, uint64_t seq, const tms_tlog_range *g, uint64_t first)
{
    char what[300];
    const char *end = NULL, *bad = NULL;
    size_t len = 0, b64len = strlen(b64);
    char *buf = malloc(TMS_NOTE_MAX_BYTES);
    if (!buf)
        return TMS_E_NOMEM;
    if (!tms_b64_chars_ok(b64, b64len) ||
        sodium_base642bin((unsigned char *)buf, TMS_NOTE_MAX_BYTES, b64, b64len, NULL, &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) || end != b64 + b64len)
        bad = "its Tms-Checkpoint header is not base64 (or longer than a note may be)";
    else
        bad = note_fault(r, buf, len, seq, g, what, sizeof what);
    if (bad) {
        snprintf(r->why, sizeof r->why, "seq %llu: %s; the records from seq %llu waiting for a checkpoint are not "
                 "applied", (unsigned long long)seq, bad, (unsigned long long)first);
        free(buf);
        return TMS_E_CORRUPT;
    }
    held_free(&r->verified);
    r->verified = (held_cp){buf, len, seq};
    return TMS_OK;
}

/* The worker: the checkpoints among the first r->check frames, each against
 * this replica's tree with the frames before it pushed onto it. */
static tms_err check_checkpoints(server *d, replica *r)
{
    tms_tlog_range g;
    tms_tlog_hash leaf, added[65];
    size_t nadded;
    uint64_t last = tms_engine_last_seq(d->eng);
    tms_tree_edge(tms_engine_tree(d->eng), &g);
    if (g.size != last) {
        snprintf(r->why, sizeof r->why, "the Merkle tree lags the log (%s): the leader's checkpoints cannot be "
                 "checked", tms_engine_tree_error(d->eng));
        return TMS_E_IO;
    }
    for (size_t i = 0; i < r->check; i++) {
        uint64_t seq = tms_log_frame_seq(r->frames[i], r->lens[i]);
        size_t plen = 0;
        const uint8_t *payload = tms_log_frame_payload(r->frames[i], r->lens[i], &plen);
        if (!payload || !plen) {
            snprintf(r->why, sizeof r->why, "the record for seq %llu is not a record (%zu bytes)",
                     (unsigned long long)(last + 1 + i), r->lens[i]);
            return TMS_E_CORRUPT;
        }
        tms_tlog_leaf_hash(payload, plen, leaf);
        tms_tlog_range_push(&g, leaf, added, &nadded);
        tms_err err = r->notes[i] ? check_note(r, r->notes[i], seq, &g, last + 1) : TMS_OK;
        if (err)
            return err;
    }
    return TMS_OK;
}

static void work_cb(uv_work_t *w)
{
    replica *r = w->data;
    server *d = r->wake.data;
    uint64_t t0 = tms__now_ns();
    memset(&r->group_lag, 0, sizeof r->group_lag);
    if (r->check) {   /* first the checkpoints: nothing is applied unless they verify */
        if ((r->err = check_checkpoints(d, r)))
            return;
        r->ready = r->check;
        r->check = 0;
    }
    r->group = r->ready < REPLICA_BATCH ? r->ready : REPLICA_BATCH;
    r->err = tms_engine_replicate(d->eng, (const uint8_t *const *)r->frames, r->lens, r->group, r->why,
                                  sizeof r->why);
    r->group_ns = tms__now_ns() - t0;
    int64_t now = tms_lag_now();   /* applied and durable (counted by after_cb only when so) */
    for (size_t i = 0; i < r->group; i++)
        tms_lag_add_frame(&r->group_lag, r->frames[i], r->lens[i], now);
    if (r->err || !r->keyed || r->group < r->ready || !r->verified.note)
        return;
    held_free(&r->applied);   /* the verified checkpoint's records are all applied: it is this log's */
    r->applied = r->verified;
    r->verified = (held_cp){NULL, 0, 0};
    r->applied_stored = 0;
    if (tms__now_ns() - r->stored_ns >= STORE_EVERY_NS)
        store_applied(d, r);
}

/* The group just applied, into the metrics: its time and size, and its
 * records' lags (lag.h), taken by the worker as it ended. */
static void observe_group(server *d, const replica *r)
{
    tms__hist_add(d->ctr.replica_group_ns_hist, &d->ctr.replica_group_ns_sum, r->group_ns, 10);
    tms__hist_add(d->ctr.replica_group_size_hist, &d->ctr.replica_group_size_sum, r->group, 0);
    tms_lag_merge(&d->ctr.replica_lag, &r->group_lag);
}

/* Free the first k frames taken (all: k = r->n) and move the rest up. */
static void drop_front(replica *r, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        r->bytes -= r->lens[i];
        free(r->frames[i]);
        free(r->notes[i]);
    }
    memmove(r->frames, r->frames + k, (r->n - k) * sizeof *r->frames);
    memmove(r->lens, r->lens + k, (r->n - k) * sizeof *r->lens);
    memmove(r->notes, r->notes + k, (r->n - k) * sizeof *r->notes);
    r->n -= k;
}

/* Replication stops for good, saying why (r->why) everywhere; nothing taken is applied. */
static void stop_loudly(server *d, replica *r, tms_err err)
{
    char q[2 * sizeof r->why + 2];
    tms__daemon_log("error", "msg=\"replication stopped\" err=%s why=\"%s\" applied=%llu", tms_err_name(err),
               tms__log_quote(q, sizeof q, r->why), (unsigned long long)tms_engine_last_seq(d->eng));
    tms_follower_fail(r->f, r->why);
    drop_front(r, r->n);
    r->ready = r->check = r->group = 0;
}

static void after_cb(uv_work_t *w, int status)
{
    replica *r = w->data;
    server *d = r->wake.data;
    (void)status;
    r->busy = 0;
    if (r->err == TMS_E_MAPFULL || r->err == TMS_E_BEHIND) {   /* the map grows; a batch not yet durable runs again */
        int durable = tms_engine_durable(d->eng);
        tms_err g = tms_engine_grow(d->eng, r->why, sizeof r->why);
        tms__daemon_log("info", "msg=\"projection map grown\" result=%s durable=%d", tms_err_name(g), durable);
        if (g == TMS_OK && !durable && ++r->retries <= REPLICA_RETRIES) {
            r->busy = 1;
            uv_queue_work(d->loop, &r->work, work_cb, after_cb);
            return;
        }
        r->err = g == TMS_OK && durable ? TMS_OK : g != TMS_OK ? g : TMS_E_MAPFULL;
    }
    r->retries = 0;
    if (r->err) {
        stop_loudly(d, r, r->err);
    } else {
        observe_group(d, r);
        drop_front(r, r->group);
        r->ready -= r->group;
        r->group = 0;
        if (r->applied.size > r->verified_seq)
            r->verified_seq = r->applied.size;
        r->applied_groups++;
    }
    tms__seq_advanced(d);   /* between two applied batches: the state is the log's */
    tms__replica_maybe_start(d);
    tms__daemon_shutdown_check(d);
}

/* Take what the follower queued, within the bounds; without --leader-key
 * the headers are not looked at, and every frame is ready. */
static void take(replica *r)
{
    while (r->n < r->cap && (!r->keyed || r->bytes < PENDING_BYTES)) {
        size_t want = r->cap - r->n < 1024 ? r->cap - r->n : 1024;
        size_t got = tms_follower_take(r->f, r->frames + r->n, r->lens + r->n, r->notes + r->n, want);
        for (size_t i = r->n; i < r->n + got; i++) {
            r->bytes += r->lens[i];
            if (!r->keyed) {
                free(r->notes[i]);
                r->notes[i] = NULL;
            }
        }
        r->n += got;
        if (got < want)
            break;
    }
    if (!r->keyed)
        r->ready = r->n;
}

/* --leader-key, nothing ready: check up to the last frame that carries a
 * checkpoint. 1 when there is one; 0 when the frames wait (stopping
 * replication, loudly, once they fill the bounds). */
static int plan_check(server *d, replica *r)
{
    size_t k = r->n;
    while (k && !r->notes[k - 1])
        k--;
    if (k) {
        r->check = k;
        return 1;
    }
    size_t upto = 0;   /* the leading frames up to the stream's end as the lease was taken */
    while (r->adopt_until && upto < r->n && tms_log_frame_seq(r->frames[upto], r->lens[upto]) - 1 < r->adopt_until)
        upto++;
    if (upto) {
        uint64_t first = tms_log_frame_seq(r->frames[0], r->lens[0]),
                 last = tms_log_frame_seq(r->frames[upto - 1], r->lens[upto - 1]);
        tms__daemon_log("warn", "msg=\"cluster: applying records at the stream's end that no checkpoint covers (the last "
                   "leader's batch cut short); this node's first checkpoint covers them\" first=%llu last=%llu",
                   (unsigned long long)first, (unsigned long long)last);
        r->ready = upto;   /* chain, checksums and replay are still checked by the engine */
        return 1;
    }
    if (r->n && (r->n >= PENDING_MAX || r->bytes >= PENDING_BYTES)) {   /* the seqs they would have */
        uint64_t first = tms_engine_last_seq(d->eng) + 1;
        snprintf(r->why, sizeof r->why, "no checkpoint signed by the leader key %s covers seqs %llu to %llu (%zu "
                 "records, %zu bytes waiting: the most a replica holds unchecked)", r->key.name,
                 (unsigned long long)first, (unsigned long long)(first + r->n - 1), r->n, r->bytes);
        stop_loudly(d, r, TMS_E_CORRUPT);
    }
    return 0;
}

void tms__replica_maybe_start(server *d)
{
    replica *r = d->replica;
    tms_follow_status st;
    if (!r || r->busy || d->stopping)
        return;
    tms_follower_status(r->f, &st);
    if (st.stopped)
        return;
    take(r);
    if (!r->ready && (!r->keyed || !plan_check(d, r)))
        return;
    r->busy = 1;
    uv_queue_work(d->loop, &r->work, work_cb, after_cb);
}

static void on_wake(uv_async_t *a)
{
    tms__replica_maybe_start(a->data);
}

/* --leader-key VKEY: a vkey, or a file holding one (its first line). */
static int load_key(const char *arg, tms_note_verifier *out, char *why, size_t whylen)
{
    char line[1024], what[200];
    if (strchr(arg, '+') && tms_note_verifier_parse(arg, strlen(arg), out, what, sizeof what) == TMS_OK)
        return 0;
    FILE *f = fopen(arg, "r");
    int ok = f && fgets(line, sizeof line, f) != NULL, e = errno;
    if (f)
        fclose(f);
    if (!f && !strchr(arg, '+'))
        snprintf(why, whylen, "--leader-key %s: not a verifier key nor a file (%s)", arg, strerror(e));
    else if (!f)
        snprintf(why, whylen, "--leader-key %.200s: not a verifier key: %s", arg, what);
    else if (!ok || tms_note_verifier_parse(line, strcspn(line, "\r\n"), out, what, sizeof what) != TMS_OK)
        snprintf(why, whylen, "--leader-key %s: not a verifier key: %s", arg, ok ? what : "empty");
    else if (out->type != TMS_KEY_ED25519)
        snprintf(why, whylen, "--leader-key %s: a witness's key (cosignature/v1), not a log's", arg);
    else
        return 0;
    return -1;
}

/* At start: the newest checkpoint DIR/checkpoints holds, when the leader
 * key signed it and this log has its root, is what status says is verified. */
static void verified_at_start(server *d, replica *r)
{
    char *note = NULL, why[300];
    size_t len = 0;
    tms_checkpoint cp;
    tms_tlog_hash root;
    if (tms_checkpoints_find(d->opt.data_dir, 0, &note, &len, why, sizeof why) == TMS_OK &&
        tms_checkpoint_open(note, len, &r->key, &cp, why, sizeof why) == TMS_OK && cp.size <= tms_engine_last_seq(d->eng) &&
        tms_tree_root(tms_engine_tree(d->eng), cp.size, root) == TMS_OK && !sodium_memcmp(root, cp.root, sizeof root))
        r->verified_seq = cp.size;
    free(note);
}

/* The buffers and the key: 0, or -1 with why. */
static int replica_init(server *d, replica *r, char *why, size_t whylen)
{
    r->keyed = d->opt.leader_key != NULL || d->opt.cluster != NULL;
    r->cap = r->keyed ? PENDING_MAX : REPLICA_BATCH;
    r->frames = calloc(r->cap, sizeof *r->frames);
    r->lens = calloc(r->cap, sizeof *r->lens);
    r->notes = calloc(r->cap, sizeof *r->notes);
    if (!r->frames || !r->lens || !r->notes) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (d->opt.cluster && tms__checkpoint_verifier(d, &r->key)) {   /* a cluster's nodes share the log's key */
        snprintf(why, whylen, "--cluster needs --signing-key (the log's key: followers check its checkpoints)");
        return -1;
    }
    if (d->opt.leader_key && load_key(d->opt.leader_key, &r->key, why, whylen))
        return -1;
    if (r->keyed)
        verified_at_start(d, r);
    return 0;
}

int tms__replica_start(server *d, char *why, size_t whylen)
{
    replica *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    uv_async_init(d->loop, &r->wake, on_wake);
    r->wake.data = d;
    r->work.data = r;
    tms_nats_options no = tms__daemon_nats_options(&d->opt);
    char logdir[4200];
    tms_data_path(logdir, sizeof logdir, d->opt.data_dir, "log");
    if (replica_init(d, r, why, whylen) ||
        tms_follower_start(d->opt.cluster ? d->opt.cluster : d->opt.replica_of, d->opt.stream, &no,
                           tms_engine_last_seq(d->eng) + 1, d->opt.cluster ? logdir : NULL, on_notify, &r->wake,
                           &r->f, why, whylen) != TMS_OK) {
        uv_close((uv_handle_t *)&r->wake, NULL);
        d->replica_closing = r;
        return -1;
    }
    d->replica = r;
    return 0;
}

/* The replication threads' log lines (nats_options.h), through tmsd's logger:
 * the message and every value quoted, a value that needs no quotes left bare. */
static void replication_log(const char *level, const char *msg, const char *const *kv)
{
    char line[1400], q[700];
    size_t o = (size_t)snprintf(line, sizeof line, "msg=\"%s\"", tms__log_quote(q, sizeof q, msg));
    for (size_t i = 0; kv && kv[i] && kv[i + 1] && o < sizeof line; i += 2) {
        const char *v = kv[i + 1];
        int bare = *v && !v[strcspn(v, " \"\\=")];
        for (const unsigned char *p = (const unsigned char *)v; bare && *p; p++)
            bare = *p > 0x20 && *p != 0x7f;
        o += (size_t)snprintf(line + o, sizeof line - o, bare ? " %s=%s" : " %s=\"%s\"", kv[i],
                              bare ? v : tms__log_quote(q, sizeof q, v));
    }
    tms__daemon_log(level, "%s", line);
}

tms_nats_options tms__daemon_nats_options(const tms_daemon_options *o)
{
    return (tms_nats_options){o->nats_creds, o->nats_nkey_seed, o->nats_user, o->nats_password_file,
                              o->nats_token_file, o->nats_ca, o->nats_cert, o->nats_key, replication_log};
}

void tms__replica_adopt_tail(server *d, uint64_t until)
{
    if (d->replica)
        d->replica->adopt_until = until;
    tms__replica_maybe_start(d);
}

int tms__replica_resume(server *d, char *why, size_t whylen)
{
    replica *r = d->replica;
    tms_err err = r ? tms_follower_resume(r->f, tms_engine_last_seq(d->eng) + 1) : TMS_E_INVAL;
    if (err)
        snprintf(why, whylen, "cannot follow the stream again: %s", tms_strerror(err));
    if (r)
        r->adopt_until = 0;
    return err ? -1 : 0;
}

void tms__replica_halt(server *d)
{
    if (d->replica)
        tms_follower_halt(d->replica->f);
}

int tms__replica_idle(server *d)
{
    replica *r = d->replica;
    tms_follow_status st;
    if (!r)
        return 1;
    tms_follower_status(r->f, &st);
    return !r->busy && !r->n && st.received <= tms_engine_last_seq(d->eng);
}

int tms__replica_diverged(server *d, uint64_t *keep)
{
    tms_follow_status st;
    if (!d->replica || !d->replica->f)
        return 0;
    tms_follower_status(d->replica->f, &st);
    *keep = st.keep;
    return st.diverged;
}

int tms__replica_busy(const server *d)
{
    return d->replica && d->replica->busy;
}

void tms__replica_close(server *d)
{
    replica *r = d->replica;
    if (!r || uv_is_closing((uv_handle_t *)&r->wake))
        return;
    tms_follower_halt(r->f);   /* before the handle it wakes goes (the NATS library closes at the end) */
    uv_close((uv_handle_t *)&r->wake, NULL);
}

void tms__replica_free(server *d)
{
    replica *r = d->replica ? d->replica : d->replica_closing;
    if (!r)
        return;
    tms_follower_stop(r->f);
    if (r->n)
        drop_front(r, r->n);
    store_applied(d, r);   /* the last verified checkpoint, at a stop */
    held_free(&r->verified);
    held_free(&r->applied);
    free(r->frames);
    free(r->lens);
    free(r->notes);
    free(r);
    d->replica = d->replica_closing = NULL;
}

json_t *tms__replica_status(server *d)
{
    tms_follow_status st;
    memset(&st, 0, sizeof st);
    if (d->replica->f)
        tms_follower_status(d->replica->f, &st);
    /* applied: what readers see (the worker may be appending); behind: what the stream holds beyond it */
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:b,s:b,s:s}", "of", d->opt.cluster ? d->opt.cluster : d->opt.replica_of,
                     "applied",
                     (json_int_t)tms__projection_seq(d), "received", (json_int_t)st.received, "stream_seq",
                     (json_int_t)(st.stream_seq > st.received ? st.stream_seq : st.received), "behind",
                     (json_int_t)tms__replica_behind(d), "connected", st.connected, "stopped", st.stopped, "error", st.error);
}

void tms__replica_follow_status(server *d, tms_follow_status *out)
{
    memset(out, 0, sizeof *out);
    if (d->replica && d->replica->f)
        tms_follower_status(d->replica->f, out);
}

uint64_t tms__replica_behind(server *d)
{
    tms_follow_status st;
    if (!d->replica || !d->replica->f)
        return 0;
    tms_follower_status(d->replica->f, &st);
    uint64_t reach = st.stream_seq > st.received ? st.stream_seq : st.received, applied = tms__projection_seq(d);
    return reach > applied ? reach - applied : 0;
}

int tms__replica_verified(server *d, uint64_t *seq, const char **key)
{
    if (!d->replica || !d->replica->keyed)
        return 0;
    *seq = d->replica->verified_seq;
    *key = d->replica->key.name;
    return 1;
}

int tms__replica_stopped(server *d)
{
    tms_follow_status st;
    if (!d->replica || !d->replica->f)
        return 0;
    tms_follower_status(d->replica->f, &st);
    return st.stopped;
}
