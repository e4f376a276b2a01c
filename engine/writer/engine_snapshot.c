/* engine_snapshot.c -- the writer's snapshots (issue 18; snapshots.h): the
 * state saved at a clean close and by a child process while the writer
 * runs (tms_engine_snapshot_fork), and loaded by the next open instead of a
 * fold of the whole log: the newest snapshot that agrees with the log, with
 * the records after it folded onto it.
 *
 * Never in an acknowledgement's way: a running writer's snapshot is encoded
 * and written by a forked child from its copy-on-write image of the state
 * (the writer only pays for the fork). A crash leaves the last snapshot,
 * older than the log: that open folds the records after it. */
#include "engine_internal.h"
#include "replay.h"
#include "snapshot.h"
#include "snapshots.h"
#include "tree.h"
#include <errno.h>
#include <msgpack.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A snapshot this version starts from: of this build (another's rules may make another state from the same
 * log: it is replaced at the next close). A seeded directory has no fold of its whole log to fall back on:
 * there, one of the same schema is taken from any build (the open's report says so). */
static int this_version(const tms_snapshot_meta *m, int based)
{
    return m->schema == TMS_SCHEMA_VERSION && (based || !strcmp(m->build, tms_version()));
}

static int based(const char *dir)
{
    char logdir[4200], why[300];
    uint64_t base = 0;
    uint8_t head[TMS_HASH_LEN];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    return tms_log_base(logdir, &base, head, why, sizeof why) == TMS_OK && base;
}

/* Before a new snapshot: set aside those no longer of this log (beyond its end: it was cut; or at seq with another
 * chain head); another version's of seq is left for the write to replace. 1 when the newest left is of seq with
 * head and of this version (nothing to write). */
static int forget_others(const char *dir, uint64_t seq, const uint8_t head[TMS_HASH_LEN])
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    int have = 0;
    tms_snapshot_meta m;
    if (tms_snapshot_list(dir, &seqs, &n) != TMS_OK)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (seqs[i] < seq)
            break;
        int readable = seqs[i] == seq && tms_snapshot_meta_read(dir, seq, &m) == TMS_OK;
        if (readable && !memcmp(m.head, head, TMS_HASH_LEN) && this_version(&m, 0))
            have = 1;
        else if (!readable || this_version(&m, 0))
            tms_snapshot_set_aside(dir, seqs[i]);
        /* else another version's of this seq: not damaged, replaced by the write (its rename) */
    }
    free(seqs);
    return have;
}

/* The projection digest a snapshot records, made on a second thread while the state is encoded (both only
 * read it). */
typedef struct proj_job {
    const tms_state *st;
    uint8_t digest[TMS_HASH_LEN];
    tms_err err;
} proj_job;

static void *proj_digest(void *arg)
{
    proj_job *j = arg;
    j->err = tms_state_projection_digest(j->st, 0, NULL, j->digest);
    return NULL;
}

/* The encoding of st into enc and its projection digest into proj: composed with lz's tenants not loaded
 * (engine_lazy.c), or the whole state's, the digest made on a second thread while the state is encoded. */
static tms_err encode_state(const tms_state *st, const tms__lazy *lz, msgpack_sbuffer *enc,
                            uint8_t proj[TMS_HASH_LEN])
{
    pthread_t t;
    proj_job j = {.st = st};
    if (lz && lz->unloaded)
        return tms__lazy_compose(lz, st, enc, proj);
    int threaded = pthread_create(&t, NULL, proj_digest, &j) == 0;   /* (none: in line, after) */
    tms_err err = tms_state_snapshot_encode(st, enc);
    if (threaded)
        pthread_join(t, NULL);
    else
        proj_digest(&j);
    memcpy(proj, j.digest, TMS_HASH_LEN);
    return err ? err : j.err;
}

/* The snapshot of seq written from its encoding and projection digest. */
static tms_err write_encoded(const char *dir, uint64_t seq, const uint8_t head[TMS_HASH_LEN],
                             const uint8_t root[TMS_HASH_LEN], int64_t time, uint64_t rate, const msgpack_sbuffer *enc,
                             const uint8_t proj[TMS_HASH_LEN], char *why, size_t whylen)
{
    tms_snapshot_meta m;
    memset(&m, 0, sizeof m);
    memcpy(m.proj_digest, proj, TMS_HASH_LEN);
    m.schema = TMS_SCHEMA_VERSION;
    snprintf(m.build, sizeof m.build, "%s", tms_version());
    m.seq = seq;
    memcpy(m.head, head, TMS_HASH_LEN);
    memcpy(m.root, root, TMS_HASH_LEN);
    m.time = time;
    return tms_snapshot_write_paced(dir, &m, enc->data, enc->size, rate, why, whylen);   /* (its digest set there) */
}

tms_err tms__snapshot_save(const char *dir, const tms_state *st, const tms__lazy *lz, uint64_t seq,
                           const uint8_t head[TMS_HASH_LEN], const uint8_t root[TMS_HASH_LEN], int64_t time,
                           uint64_t rate, char *why, size_t whylen)
{
    msgpack_sbuffer enc;
    uint8_t proj[TMS_HASH_LEN];
    if (seq == 0 || forget_others(dir, seq, head))
        return TMS_OK;   /* the newest is of this seq and this log already (a snapshot is never rewritten) */
    msgpack_sbuffer_init(&enc);
    tms_err err = encode_state(st, lz, &enc, proj);
    if (err)
        snprintf(why, whylen, "snapshot: cannot encode the state or its projection digest: %s", tms_strerror(err));
    else
        err = write_encoded(dir, seq, head, root, time, rate, &enc, proj, why, whylen);
    msgpack_sbuffer_destroy(&enc);
    return err;
}

/* ---- the open's own snapshot ---- */

static void *open_snapshot_main(void *arg)
{
    tms__open_snapshot *o = arg;
    o->err = encode_state(o->st, NULL, &o->enc, o->proj);
    return NULL;
}

void tms__snapshot_open_start(tms_engine *e, uint64_t seq)
{
    tms__open_snapshot *o = &e->open_snap;
    tms_snapshot_meta m;
    if (o->started || !seq || e->loss[0] || e->lazy.unloaded || e->scr.deferred || e->opt.no_open_snapshot ||
        seq - tms__snapshot_newest(e->dir, &m) < TMS_SNAPSHOT_TAIL(seq))
        return;   /* the close's rule: a snapshot's worth of records folded since the newest; never of a state
                     whose projection is still to be judged (the close writes it once the screen held); not when
                     the caller says so (tmsd: a running snapshot or its clean stop takes it, off its open) */
    o->st = e->state;
    o->seq = seq;
    o->err = TMS_OK;
    msgpack_sbuffer_init(&o->enc);
    if (!(o->started = pthread_create(&o->thread, NULL, open_snapshot_main, o) == 0))
        msgpack_sbuffer_destroy(&o->enc);   /* no thread: the close takes it, as before */
}

void tms__snapshot_open_end(tms_engine *e, int write)
{
    tms__open_snapshot *o = &e->open_snap;
    char why[700];
    uint64_t size = 0;
    tms_tlog_hash root;
    if (!o->started)
        return;
    pthread_join(o->thread, NULL);
    o->started = 0;
    if (write && !o->err && e->tree)
        tms_tree_head(e->tree, &size, root);
    if (write && o->err)
        fprintf(stderr, "tmsperm: snapshot: cannot encode the state or its projection digest: %s (the next open "
                "folds the log)\n", tms_strerror(o->err));
    else if (write && size == o->seq && !e->failed && !e->behind && !tms_tree_behind(e->tree) &&
             tms_log_last_seq(e->log) == o->seq && !forget_others(e->dir, o->seq, e->head) &&
             write_encoded(e->dir, o->seq, e->head, root, e->last_time, 0, &o->enc, o->proj, why, sizeof why))
        fprintf(stderr, "tmsperm: %s (the next open folds the log)\n", why);
    msgpack_sbuffer_destroy(&o->enc);
}

uint64_t tms__snapshot_newest(const char *dir, tms_snapshot_meta *m)
{
    uint64_t *seqs = NULL, seq = 0;
    size_t n = 0;
    int b = based(dir);
    if (tms_snapshot_list(dir, &seqs, &n) == TMS_OK)
        for (size_t i = 0; i < n && !seq; i++)
            if (tms_snapshot_meta_read(dir, seqs[i], m) == TMS_OK && this_version(m, b))
                seq = seqs[i];
    free(seqs);
    return seq;
}

tms_err tms__log_head_at(const tms_engine *e, uint64_t seq, uint8_t head[TMS_HASH_LEN])
{
    char logdir[4200];
    tms_log_report rep;
    tms_log_iter *it = NULL;
    tms_log_record lr;
    int has = 0;
    uint64_t base;
    tms_err err = tms_log_base(tms_data_path(logdir, sizeof logdir, e->dir, "log"), &base, head, rep.msg,
                               sizeof rep.msg);
    if (err || (base && seq == base))
        return err;   /* the base's head: a seeded directory holds no frame there */
    err = tms_log_iter_open(logdir, seq, &it, &rep);
    if (!err && !(err = tms_log_iter_next(it, &lr, &has)) && (!has || lr.seq != seq))
        err = TMS_NOT_FOUND;
    if (!err)
        memcpy(head, lr.hash, TMS_HASH_LEN);
    tms_log_iter_close(it);
    return err;
}

static void say(tms_engine *e, const char *fmt, uint64_t seq, const char *what)
{
    size_t n = strlen(e->report);
    snprintf(e->report + n, sizeof e->report - n, "%s", n ? "; " : "");
    n = strlen(e->report);
    snprintf(e->report + n, sizeof e->report - n, fmt, (unsigned long long)seq, what);
}

/* The snapshot of seq read and checked whole, the part before its tenants decoded (*st new), its payload and
 * parts into e->lazy (its tenants are decoded as they are used: engine_lazy.c): TMS_OK, TMS_E_CORRUPT (why),
 * TMS_E_IO, TMS_NOT_FOUND. */
static tms_err read_decode(tms_engine *e, uint64_t seq, tms_snapshot_meta *m, tms_state **st, char *why,
                           size_t whylen)
{
    uint8_t *payload = NULL;
    size_t len = 0;
    tms_snapshot_index ix;
    tms_err err = tms_snapshot_read_index(e->dir, seq, m, &payload, &len, &ix, why, whylen);
    if (err)
        return err;
    if (!(err = tms_state_snapshot_decode_parts(payload, len, &ix, NULL, 0, st, why, whylen)) &&
        (err = tms__lazy_begin(e, seq, payload, len, &ix)) == TMS_OK)
        payload = NULL;   /* e->lazy's */
    if (err && *st) {
        tms_state_free(*st);
        *st = NULL;
    }
    free(payload);
    tms_snapshot_index_free(&ix);
    return err == TMS_E_NOMEM ? TMS_E_IO : err;   /* not the snapshot's fault: not set aside */
}

/* The preload's thread: the snapshot read (checked and indexed by one walk), the part before its tenants
 * decoded, the tenants the records after it name planned and published for the open's thread, then taken
 * here (who 0). A failure before the plan is p->err. */
static void *preload_main(void *arg)
{
    tms_engine *e = arg;
    tms__preload *p = &e->preload;
    char logdir[4200];
    tms_err err = tms_snapshot_read_index(e->dir, p->seq, &p->m, &p->payload, &p->len, &p->ix, p->why,
                                          sizeof p->why);   /* (its checks walked the payload: the index) */
    if (!err)
        err = tms_state_snapshot_decode_parts(p->payload, p->len, &p->ix, NULL, 0, &p->st, p->why, sizeof p->why);
    if (!err && tms__ahead_plan(&p->ahead, tms_data_path(logdir, sizeof logdir, e->dir, "log"), p->seq, p->payload,
                                p->len, &p->ix) != TMS_OK)
        tms__ahead_free(&p->ahead);   /* not the snapshot's fault: its tenants are decoded as they are used */
    pthread_mutex_lock(&p->lock);
    p->err = err;
    p->ready = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (!err)
        tms__ahead_run(&p->ahead, 0);
    return NULL;
}

void tms__snapshot_preload(tms_engine *e, uint64_t seq)
{
    tms__preload *p = &e->preload;
    p->seq = seq;
    p->ready = 0;
    atomic_init(&p->ahead.stop, 0);
    if (pthread_mutex_init(&p->lock, NULL))
        return;
    if (pthread_cond_init(&p->cond, NULL)) {
        pthread_mutex_destroy(&p->lock);
        return;
    }
    if (!(p->started = pthread_create(&p->thread, NULL, preload_main, e) == 0)) {
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
    }
}

/* Join the thread; what it left is the caller's. */
static void preload_join(tms__preload *p)
{
    pthread_join(p->thread, NULL);
    p->started = 0;
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
}

static void preload_drop(tms__preload *p)
{
    tms__ahead_free(&p->ahead);
    tms_state_free(p->st);
    p->st = NULL;
    tms_snapshot_index_free(&p->ix);
    free(p->payload);
    p->payload = NULL;
}

/* The preloaded snapshot of seq, once: this thread takes the tail's tenants beside the preload's thread (it
 * waits for them anyway), then 1 with *m, *st (the part before the tenants and the tail's; the payload and
 * parts into e->lazy), or *err and why; 0 when it was not preloaded. */
static int preload_take(tms_engine *e, uint64_t seq, tms_snapshot_meta *m, tms_state **st, tms_err *err, char *why,
                        size_t whylen)
{
    tms__preload *p = &e->preload;
    if (!p->started || p->seq != seq)
        return 0;
    pthread_mutex_lock(&p->lock);
    while (!p->ready)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    if (!p->err)
        tms__ahead_run(&p->ahead, 1);
    preload_join(p);
    *m = p->m;
    *err = p->err;
    snprintf(why, whylen, "%s", p->why);
    if (!*err && (*err = tms__lazy_begin(e, seq, p->payload, p->len, &p->ix)) == TMS_OK) {
        p->payload = NULL;   /* e->lazy took the payload and the parts */
        if ((*err = tms__ahead_join(e, &p->ahead, p->st, why, whylen)) == TMS_OK) {
            *st = p->st;
            p->st = NULL;
        } else {
            tms__lazy_free(&e->lazy);
        }
    }
    if (*err == TMS_E_NOMEM)
        *err = TMS_E_IO;   /* as read_decode: not the snapshot's fault, not set aside */
    preload_drop(p);
    return 1;
}

void tms__snapshot_preload_end(tms_engine *e)
{
    atomic_store(&e->preload.ahead.stop, 1);   /* not taken: its decode is of no use */
    if (e->preload.started)
        preload_join(&e->preload);
    preload_drop(&e->preload);
}

/* One snapshot against the log: 1 when it agrees (its head is the log's at its seq; its file checks and decodes:
 * *st), 0 when it cannot start this open but is not wrong (another version, beyond max_seq), -1 when it
 * contradicts the log or does not check (set aside). */
static int try_one(tms_engine *e, uint64_t seq, uint64_t max_seq, tms_state **st, tms_snapshot_meta *m)
{
    char why[300] = "its header is not one of this format (truncated, or another version's)";
    uint8_t head[TMS_HASH_LEN];
    uint64_t last = tms_log_last_seq(e->log);
    if (seq > last)
        return say(e, "snapshot of seq %llu: %s; set aside (.bad)", seq, "beyond the log's end"), -1;
    tms_err err = tms_snapshot_meta_read(e->dir, seq, m);
    if (err == TMS_OK && !this_version(m, e->log_base != 0))   /* another version's: replaced at close */
        return say(e, m->schema ? "the snapshot of seq %llu was written by tmsperm %s: not used"
                                : "the snapshot of seq %llu is of an earlier file format%s: not used", seq,
                   m->schema ? m->build : " (its digests of another kind)"), 0;
    if (err == TMS_OK && e->log_base && strcmp(m->build, tms_version()))
        say(e, "the snapshot of seq %llu was written by tmsperm %s: used (a seeded directory has no other start)",
            seq, m->build);
    if (err == TMS_OK && seq > max_seq)
        return 0;   /* the projection is older: it needs the records before it */
    if (err == TMS_OK && seq != e->log_trusted && tms__log_head_at(e, seq, head) != TMS_OK)
        return 0;   /* the log checked whole at open says where it is damaged; not the snapshot's fault */
    if (err == TMS_OK && seq != e->log_trusted && sodium_memcmp(head, m->head, TMS_HASH_LEN))
        return say(e, "snapshot of seq %llu: %s; set aside (.bad)", seq, "its chain head is not the log's (another "
                   "log)"), -1;
    if (err == TMS_OK && !preload_take(e, seq, m, st, &err, why, sizeof why))
        err = read_decode(e, seq, m, st, why, sizeof why);
    if (err == TMS_OK)
        return 1;
    if (err == TMS_E_IO || err == TMS_E_NOMEM || err == TMS_NOT_FOUND)
        return 0;
    say(e, "snapshot of seq %llu: %s; set aside (.bad)", seq, why);
    return -1;
}

int tms__snapshot_start(tms_engine *e, uint64_t max_seq, tms_state **st, tms_snapshot_meta *m)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    int got = 0;
    *st = NULL;
    if (tms_snapshot_list(e->dir, &seqs, &n) != TMS_OK)
        return 0;
    for (size_t i = 0; i < n && !got; i++) {
        int r = try_one(e, seqs[i], max_seq, st, m);
        if (r < 0)   /* never trusted again: kept as evidence, said in the open's report */
            tms_snapshot_set_aside(e->dir, seqs[i]);
        got = r > 0;
    }
    free(seqs);
    tms__snapshot_preload_end(e);   /* one not taken (the projection older than it, ...) is freed */
    return got;
}

/* In the snapshot's child, first: it dies with the writer (a child left running, and under SCHED_IDLE it may
 * wait long for a CPU, would write beside the next writer), and it keeps none of the writer's descriptors:
 * the data directory's lock (a restart after kill -9 was refused, "held by pid N", until the child ended),
 * the listening sockets (clients connected to a dead tmsd and hung), the connections (a client the writer
 * closed saw no end). It opens what it writes by name. */
static void child_holds_nothing(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(1);   /* the writer is gone already */
    if (close_range(3, ~0u, 0) != 0)
        for (long fd = 3, max = sysconf(_SC_OPEN_MAX); fd < (max > 0 ? max : 1024); fd++)
            close((int)fd);
}

tms_err tms_engine_snapshot_fork(tms_engine *e, pid_t *pid, uint64_t *seq, char *why, size_t whylen)
{
    tms_snapshot_meta m;
    uint64_t size;
    tms_tlog_hash root;
    *pid = 0;
    *seq = tms_log_last_seq(e->log);
    if (!e->opened || e->failed || e->behind || tms_tree_behind(e->tree) || *seq == 0 ||
        tms_engine_screen_pending(e))
        return TMS_OK;   /* the projection or tree lags, or is not judged yet: the next one */
    tms_tree_head(e->tree, &size, root);
    if (size != *seq || (tms__snapshot_newest(e->dir, &m) == *seq && !memcmp(m.head, e->head, TMS_HASH_LEN)))
        return TMS_OK;
    fflush(NULL);   /* nothing buffered is written twice */
    pid_t parent = getpid();
    pid_t p = fork();
    if (p < 0) {
        snprintf(why, whylen, "snapshot: cannot fork: %s", strerror(errno));
        return TMS_E_IO;
    }
    if (p == 0) {   /* the child: its own image of the state; never returns; runs only when a CPU is idle */
        char cwhy[300];
        child_holds_nothing(parent);
        struct sched_param sp = {0};
        if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0 && nice(19) == -1) {
            /* as urgent as the writer, then: still correct */
        }
        syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, 3 << 13 /* IOPRIO_CLASS_IDLE */);
        tms_err err = tms__snapshot_save(e->dir, e->state, &e->lazy, size, e->head, root, e->last_time, TMS_SNAPSHOT_PACE,
                                         cwhy, sizeof cwhy);
        if (err)
            dprintf(2, "tmsperm: %s\n", cwhy);
        _exit(err ? 1 : 0);
    }
    *pid = p;
    return TMS_OK;
}
