/* daemon_checkpoint.c -- tmsd --signing-key (SPEC section 11): a signed
 * checkpoint of the Merkle tree whenever records were added since the last
 * one (every --checkpoint-interval), one asked for (op checkpoint, tmsctl
 * checkpoint), and one at a clean stop; each kept in DIR/checkpoints, then
 * sent to the witnesses (--witness) and kept again with their cosignatures.
 *
 * Never in an acknowledgement's way: the periodic one is made on a libuv
 * worker (root from the tree file, Ed25519, the append and its fdatasync,
 * the witnesses' round trips), reading only what the tree file holds;
 * submits go on meanwhile. The tree file is not synced per checkpoint: it
 * is derived from the log, which is synced before any acknowledgement, so
 * after a power loss the next open recomputes exactly the same hashes past
 * the tree's synced size. The worker syncs it every TREE_SYNC_MS, which
 * bounds that recomputation, at the cost of one fdatasync a minute. */
#include "daemon_internal.h"
#include "checkpoints.h"
#include "snapshots.h"
#include "note.h"
#include "tree.h"
#include "witness_client.h"
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TREE_SYNC_MS 60000

struct checkpointer {
    server *d;
    tms_note_signer signer;
    tms_tree *tree;               /* a reader of DIR/tree: the sizes the writer has committed */
    tms__witnesses *witnesses;    /* --witness; NULL = none */
    uv_timer_t timer;
    uv_work_t work;
    int busy, timer_open;
    pthread_mutex_t lock;         /* the fields below; and one make_checkpoint at a time */
    uint64_t last_size;           /* of the last checkpoint this key signed and kept */
    tms_tlog_hash last_root;      /* ... its root: every next one must extend it */
    int started, failed;          /* tms__checkpoint_start succeeded; signing refused (why in job_why) */
    char *latest;                 /* it, as stored last (cosignatures included), NUL-terminated */
    uint64_t signed_count;
    int notes_due;                /* snapshots to sign (at start: the clean stop's, written after the last tick;
                                     a note the last job could not write) */
    int job_notes_failed;         /* the worker's: a note could not be written */
    uint64_t notes_seen;          /* tms__snapshots_written when the last tick looked */
    uint64_t written;             /* d->tree_records when the job was queued: what is signed never goes past it
                                     (the file can: a crash leaves hashes past the log's end until the next
                                     open cuts them, or a forger) */
    uint64_t job_size;            /* the worker's result */
    uint64_t tree_synced_ms;      /* when the worker last synced the tree file (CLOCK_MONOTONIC) */
    char job_why[300];
    char error[300];              /* why signing is refused, "" when it is not (status) */
};

/* Sign the tree at its current size and keep it. Under c->lock. 0 with
 * *size (0: nothing new) and, when wanted, *note (a malloc'd copy, for the
 * witnesses), or -1 with why: the tree does not extend the last checkpoint
 * this key signed (tms_tree_extends: a damaged tree, or a log cut or
 * rewritten below a signed size). A log never signs two inconsistent
 * checkpoints (C2SP tlog-checkpoint); it stops signing instead, loudly. */
/* The size to sign: what the tree file holds, never past what the writer's tree holds (c->written). */
static uint64_t signable(checkpointer *c)
{
    uint64_t n = tms_tree_size(c->tree);
    return n < c->written ? n : c->written;
}

static int make_checkpoint(checkpointer *c, uint64_t *size, char **copy, char *why, size_t whylen)
{
    char text[512], line[TMS_NOTE_SIG_TEXT_MAX], *note = NULL;
    tms_tlog_hash root;
    uint64_t n = signable(c), limit = tms__cluster_sign_limit(c->d);
    tms_err err;
    *size = 0;
    if (copy)
        *copy = NULL;
    if (n > limit)   /* --cluster: only what the stream stored, and only while leading */
        n = limit;
    if (n == 0 || n == c->last_size || (limit != UINT64_MAX && n < c->last_size))
        return 0;
    size_t tl = 0;
    if ((err = tms_tree_root(c->tree, n, root)) ||
        (err = tms_tree_extends(c->tree, c->last_size, c->last_root, n, root, why, whylen))) {
        if (err != TMS_E_CORRUPT)
            snprintf(why, whylen, "cannot read the tree of size %llu: %s", (unsigned long long)n, tms_strerror(err));
        return -1;
    }
    if (!(tl = tms_checkpoint_format(c->signer.v.name, n, root, text, sizeof text)) ||
        tms_note_sign_line(&c->signer, text, tl, 0, line) != TMS_OK)
        return snprintf(why, whylen, "cannot sign the tree of size %llu", (unsigned long long)n), -1;
    size_t len = tl + 1 + strlen(line);
    if (!(note = malloc(len + 1)) || (copy && !(*copy = malloc(len + 1)))) {
        free(note);
        return snprintf(why, whylen, "out of memory"), -1;
    }
    snprintf(note, len + 1, "%s\n%s", text, line);
    if ((err = tms_checkpoints_append(c->d->opt.data_dir, note, len, why, whylen))) {
        free(note);
        if (copy) {
            free(*copy);
            *copy = NULL;
        }
        return -1;
    }
    if (copy)
        memcpy(*copy, note, len + 1);
    free(c->latest);
    c->latest = note;
    c->last_size = n;
    memcpy(c->last_root, root, sizeof root);
    c->signed_count++;
    *size = n;
    return 0;
}

/* The witnesses' cosignatures on note (of tree size `size`), with no lock
 * held (they take seconds when a witness is slow): kept again, whole, and
 * the latest when nothing newer was signed meanwhile. */
static void witness(checkpointer *c, const char *note, uint64_t size, char *why, size_t whylen)
{
    char *cos = tms__witnesses_cosign(c->witnesses, c->tree, note, strlen(note), size), *both = NULL;
    if (cos && cos[0] && (both = malloc(strlen(note) + strlen(cos) + 1))) {
        strcpy(both, note);
        strcat(both, cos);
        pthread_mutex_lock(&c->lock);
        if (tms_checkpoints_append(c->d->opt.data_dir, both, strlen(both), why, whylen) == TMS_OK &&
            c->last_size == size) {
            free(c->latest);
            c->latest = both;
            both = NULL;
        }
        pthread_mutex_unlock(&c->lock);
    }
    free(both);
    free(cos);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The notes of the snapshots not signed yet (snapshots.h, "Signed notes").
 * Under c->lock. A failure is said in why and retried at the next tick. */
static void sign_snapshots(checkpointer *c, char *why, size_t whylen)
{
    int made = 0;
    char w[256];
    c->job_notes_failed = tms_snapshot_notes_sign(c->d->opt.data_dir, c->tree, &c->signer, &made, w, sizeof w) != TMS_OK;
    if (c->job_notes_failed && !why[0])
        snprintf(why, whylen, "snapshot note: %.*s", (int)(whylen > 20 ? whylen - 20 : 0), w);
}

static void sign_work(uv_work_t *w)
{
    checkpointer *c = w->data;
    char *note = NULL;
    uint64_t size = tms_tree_size(c->tree);
    if (now_ms() - c->tree_synced_ms >= TREE_SYNC_MS && tms_tree_flush(c->tree, size) == TMS_OK)
        c->tree_synced_ms = now_ms();   /* a failure is retried next time; the log holds what it derives from */
    pthread_mutex_lock(&c->lock);
    c->job_why[0] = '\0';
    if (make_checkpoint(c, &c->job_size, c->witnesses ? &note : NULL, c->job_why, sizeof c->job_why) != 0)
        c->job_size = 0;
    sign_snapshots(c, c->job_why, sizeof c->job_why);
    pthread_mutex_unlock(&c->lock);
    if (note)
        witness(c, note, c->job_size, c->job_why, sizeof c->job_why);
    free(note);
}

static void sign_done(uv_work_t *w, int status)
{
    checkpointer *c = w->data;
    char q[700];
    c->busy = 0;
    if (status)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->job_notes_failed)
        c->notes_due = 1;   /* tried again at the next tick, idle or not */
    int failed = c->job_why[0] && !c->job_size;
    if (c->job_why[0] && !c->failed)   /* said once; status goes on saying it */
        tms__daemon_log("error", "msg=\"checkpoint: %s\"", tms__log_quote(q, sizeof q, c->job_why));
    else if (c->job_size)
        tms__daemon_log("debug", "msg=checkpoint size=%llu", (unsigned long long)c->job_size);
    c->failed = failed;
    if (failed)
        snprintf(c->error, sizeof c->error, "%s", c->job_why);
    else if (c->job_size)
        c->error[0] = '\0';
    pthread_mutex_unlock(&c->lock);
}

static void on_tick(uv_timer_t *t)
{
    checkpointer *c = t->data;
    uint64_t count;
    if (c->busy || c->d->stopping)
        return;
    pthread_mutex_lock(&c->lock);   /* (no worker runs: not busy) */
    c->written = c->d->tree_records;
    pthread_mutex_unlock(&c->lock);
    if (signable(c) == tms__checkpoint_last_size(c->d, &count) && !c->notes_due &&
        tms__snapshots_written(c->d) == c->notes_seen)
        return;
    c->notes_due = 0;
    c->notes_seen = tms__snapshots_written(c->d);
    c->busy = 1;
    c->work.data = c;
    if (uv_queue_work(c->d->loop, &c->work, sign_work, sign_done) != 0)
        c->busy = 0;
}

/* The latest stored checkpoint, at start: its size, so nothing is signed twice. */
static int load_latest(checkpointer *c, char *why, size_t whylen)
{
    size_t len;
    tms_checkpoint cp;
    tms_err err = tms_checkpoints_find(c->d->opt.data_dir, 0, &c->latest, &len, why, whylen);
    if (err == TMS_NOT_FOUND)
        return 0;
    if (err)
        return -1;
    if (tms_checkpoint_open(c->latest, len, &c->signer.v, &cp, why, whylen) == TMS_OK) {
        c->last_size = cp.size;   /* another key's (a key changed): signed anew from the next record on */
        memcpy(c->last_root, cp.root, sizeof cp.root);
    }
    return 0;
}

/* The signer from --signing-key: a private key of type 0x01. */
static int load_signer(checkpointer *c, const char *path, char *why, size_t whylen)
{
    char buf[4097];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    if (!f || n == 0) {
        snprintf(why, whylen, "--signing-key %s: cannot read it", path);
        return -1;
    }
    buf[n] = '\0';
    char w[200];
    tms_err err = tms_note_signer_parse(buf, strcspn(buf, "\n"), &c->signer, w, sizeof w);
    sodium_memzero(buf, sizeof buf);
    if (err || c->signer.v.type != TMS_KEY_ED25519) {
        snprintf(why, whylen, "--signing-key %s: %s", path, err ? w : "a witness key, not a log key");
        return -1;
    }
    return 0;
}

int tms__checkpoint_start(server *d, char *why, size_t whylen)
{
    checkpointer *c = calloc(1, sizeof *c);
    if (!c)
        return snprintf(why, whylen, "out of memory"), -1;
    d->ckpt = c;
    c->d = d;
    pthread_mutex_init(&c->lock, NULL);
    if (load_signer(c, d->opt.signing_key, why, whylen) ||
        tms_tree_open_reader(d->opt.data_dir, &c->tree, why, whylen) != TMS_OK || load_latest(c, why, whylen))
        return -1;
    if (d->opt.witnesses[0]) {
        size_t n = 0;
        while (n < 8 && d->opt.witnesses[n])
            n++;
        if (!(c->witnesses = tms__witnesses_new(d->opt.witnesses, d->opt.witness_keys, n, why, whylen)))
            return -1;
    }
    uv_timer_init(d->loop, &c->timer);
    c->timer.data = c;
    c->timer_open = 1;
    uint64_t ms = d->opt.checkpoint_interval_ms ? d->opt.checkpoint_interval_ms : 10000;
    uv_timer_start(&c->timer, on_tick, ms, ms);
    c->tree_synced_ms = now_ms();   /* the engine's open synced it */
    c->notes_due = 1;
    c->started = 1;
    return 0;
}

int tms__checkpoint_verifier(server *d, struct tms_note_verifier *out)
{
    if (!d->ckpt || !d->ckpt->started)
        return -1;
    *out = d->ckpt->signer.v;
    return 0;
}

void tms__checkpoint_close(server *d)
{
    checkpointer *c = d->ckpt;
    if (c && c->timer_open) {
        uv_timer_stop(&c->timer);
        uv_close((uv_handle_t *)&c->timer, NULL);
        c->timer_open = 0;
    }
}

int tms__checkpoint_now(server *d, char **note, char *why, size_t whylen)
{
    checkpointer *c = d->ckpt;
    uint64_t size;
    *note = NULL;
    if (!c)
        return snprintf(why, whylen, "tmsd signs no checkpoints (no --signing-key)"), -1;
    pthread_mutex_lock(&c->lock);
    c->written = d->tree_records;
    int rc = make_checkpoint(c, &size, NULL, why, whylen);
    if (rc == 0 && !c->latest) {
        snprintf(why, whylen, "no records yet: nothing to sign");
        rc = -1;
    }
    if (rc == 0 && !(*note = strdup(c->latest)))
        rc = -1;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

char *tms__checkpoint_latest(server *d)
{
    checkpointer *c = d->ckpt;
    char *out = NULL;
    if (!c)
        return NULL;
    pthread_mutex_lock(&c->lock);
    if (c->latest)
        out = strdup(c->latest);
    pthread_mutex_unlock(&c->lock);
    return out;
}

json_t *tms__checkpoint_status(server *d)
{
    checkpointer *c = d->ckpt;
    json_t *o;
    if (!c)
        return NULL;
    pthread_mutex_lock(&c->lock);
    o = json_pack("{s:I,s:I,s:s,s:o}", "size", (json_int_t)c->last_size, "signed", (json_int_t)c->signed_count, "key",
                  c->signer.v.name, "error", c->error[0] ? json_string(c->error) : json_null());
    pthread_mutex_unlock(&c->lock);
    return o;
}

uint64_t tms__checkpoint_last_size(server *d, uint64_t *count)
{
    checkpointer *c = d->ckpt;
    uint64_t n = 0;
    *count = 0;
    if (c) {
        pthread_mutex_lock(&c->lock);
        n = c->last_size;
        *count = c->signed_count;
        pthread_mutex_unlock(&c->lock);
    }
    return n;
}

void tms__checkpoint_free(server *d)
{
    checkpointer *c = d->ckpt;
    char why[300], q[700];
    uint64_t size;
    if (!c)
        return;
    if (c->started && d->eng) {   /* the last, at a stop: no group runs now */
        tms__tree_records_note(d);
        c->written = d->tree_records;
        if (make_checkpoint(c, &size, NULL, why, sizeof why) != 0)
            tms__daemon_log("error", "msg=\"checkpoint at stop: %s\"", tms__log_quote(q, sizeof q, why));
    }
    tms__witnesses_free(c->witnesses);
    tms_tree_close(c->tree);
    tms_note_signer_wipe(&c->signer);
    free(c->latest);
    pthread_mutex_destroy(&c->lock);
    free(c);
    d->ckpt = NULL;
}
