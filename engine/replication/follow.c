/* follow.c -- reading the leader's stream (follow.h): one thread, an
 * ordered push consumer from the next seq, a bounded queue of frames. */
#include "follow.h"
#include "log.h"
#include "nats_link.h"
#include <nats/nats.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_MS 300
#define NEXT_MSG_MS 50      /* a stop (a cluster node taking the lead halts its follower) waits this long at most */

struct tms_follower {
    char url[512], stream[64], subject[80], logdir[4200];
    natsOptions *opts;               /* every connection's: URL, credentials, TLS */
    tms_repl_log_fn log;             /* the owner's logger (NULL: stderr) */
    void (*notify)(void *);
    void *arg;
    pthread_t thread;
    int thread_up;
    pthread_mutex_t lock;
    pthread_cond_t room;             /* the owner took frames, or stop */
    int stop;
    int compared;                    /* logdir's last record was compared with the stream's */
    uint8_t *q[TMS_FOLLOW_QUEUE];
    char *qnote[TMS_FOLLOW_QUEUE];   /* its Tms-Checkpoint header, NULL if none */
    size_t qlen[TMS_FOLLOW_QUEUE], head, count;
    size_t qbytes;                   /* frames and headers waiting, together (bounded by TMS_FOLLOW_QUEUE_BYTES) */
    uint64_t next;                   /* the seq the stream should give next */
    tms_follow_status st;
    natsConnection *nc;              /* the thread's own */
    tms__nats_link link;             /* what hears nc's disconnections (nats.c keeps a pointer to it) */
    jsCtx *js;
    natsSubscription *sub;
};

static void set_error(tms_follower *f, int stopped, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_error(tms_follower *f, int stopped, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char text[sizeof f->st.error];
    vsnprintf(text, sizeof text, fmt, ap);
    pthread_mutex_lock(&f->lock);
    if (strcmp(text, f->st.error) || stopped) {   /* a retry that fails the same way is said once */
        char msg[sizeof text + 16];
        snprintf(msg, sizeof msg, "replica: %s", text);
        tms__repl_log(f->log, stopped ? "error" : "warn", msg, NULL);
    }
    memcpy(f->st.error, text, sizeof text);
    f->st.stopped |= stopped;
    pthread_mutex_unlock(&f->lock);
    va_end(ap);
}

static void disconnect(tms_follower *f)
{
    natsSubscription_Destroy(f->sub);
    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    f->sub = NULL;
    f->js = NULL;
    f->nc = NULL;
    pthread_mutex_lock(&f->lock);
    f->st.connected = 0;
    pthread_mutex_unlock(&f->lock);
}

/* nats.c's thread: the connection went down, or came back. */
static void on_link(void *closure, int up)
{
    tms_follower *f = closure;
    pthread_mutex_lock(&f->lock);
    f->st.connected = up;
    pthread_mutex_unlock(&f->lock);
}

/* A log seeded from a snapshot of seq base (log.h, "base") holds no frame
 * there, only the chain head: 1 when the stream's message at base carries
 * that head (the seed was of this stream's history), 0 when not, -1 when it
 * could not be told. */
static int alike_base(tms_follower *f, uint64_t base, const uint8_t head[TMS_LOG_HASH_LEN])
{
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    int same = -1;
    if (js_GetMsg(&m, f->js, f->stream, base, NULL, &jerr) == NATS_OK) {
        const uint8_t *h = tms_log_frame_hash((const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
        same = h && tms_log_frame_seq((const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)) == base &&
               !memcmp(h, head, TMS_LOG_HASH_LEN);
    }
    natsMsg_Destroy(m);
    return same;
}

/* 1 when the stream's message at seq is the local log's frame at seq
 * (header and payload), 0 when not (or the log ends before), -1 when it
 * could not be told, -2 when seq is before the log's base (not here). */
static int alike(tms_follower *f, uint64_t seq)
{
    tms_log_iter *it = NULL;
    tms_log_record r;
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    uint8_t head[TMS_LOG_FRAME_HEADER], bhead[TMS_LOG_HASH_LEN];
    int has = 0, same = -1;
    uint64_t base = 0;
    char why[300];
    if (tms_log_base(f->logdir, &base, bhead, why, sizeof why) != TMS_OK)
        return -1;
    if (base && seq <= base)
        return seq == base ? alike_base(f, base, bhead) : -2;
    if (tms_log_iter_open(f->logdir, seq, &it, NULL) == TMS_OK && tms_log_iter_next(it, &r, &has) == TMS_OK) {
        natsStatus s = has && r.seq == seq ? js_GetMsg(&m, f->js, f->stream, seq, NULL, &jerr) : NATS_OK;
        if (!has || r.seq != seq) {
            same = 0;
        } else if (s == NATS_OK) {
            tms_log_frame_header(&r, head);
            size_t len = (size_t)natsMsg_GetDataLength(m);
            const uint8_t *d = (const uint8_t *)natsMsg_GetData(m);
            same = len == sizeof head + r.len && !memcmp(d, head, sizeof head) &&
                   !memcmp(d + sizeof head, r.payload, r.len);
        }   /* the stream lacks the message (a limit, a purge, JetStream's own loss): cannot tell, never
               "different": a set-aside decided on it could cut records the stream once stored */
    }
    natsMsg_Destroy(m);
    tms_log_iter_close(it);
    return same;
}

/* Does the local log (last seq f->next - 1) agree with the stream, which
 * ends at last? 0 yes; 1 no (stopped, diverged, keep set); -1 not told. */
static int compare_log(tms_follower *f, uint64_t last)
{
    uint64_t mine = f->next - 1, lo = 0, hi, base = 0;
    uint8_t bhead[TMS_LOG_HASH_LEN];
    char why[300];
    int r = last >= mine ? alike(f, mine) : 0;
    if (r > 0)
        return 0;
    if (tms_log_base(f->logdir, &base, bhead, why, sizeof why) != TMS_OK)
        return -1;
    if (r == -1 && base && mine == base && last >= base) {
        /* the stream no longer holds the seed's seq (its limits): the first record received must chain from the
           base's head (tms_log_append_frame), which is the check */
        set_error(f, 0, "stream %s does not hold seq %llu (this node's seed) to compare: following from %llu, the "
                  "first record checked against the seed's chain head", f->stream, (unsigned long long)base,
                  (unsigned long long)base + 1);
        return 0;
    }
    if (r == -1)
        return -1;
    if (base && (last < base || (r = alike(f, base)) == 0)) {   /* the seed itself is not of this history */
        set_error(f, 1, "this node was seeded from a snapshot of seq %llu that stream %s does not hold (it holds %llu "
                  "records%s): seed it again from this stream's leader", (unsigned long long)base, f->stream,
                  (unsigned long long)last, last < base ? "" : ", another chain head there");
        return 1;
    }
    if (r < 0)
        return -1;
    lo = base;   /* alike(lo) holds (0: nothing; a base: its head), the answer is in [lo, hi] */
    hi = (last < mine ? last : mine - 1);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if ((r = alike(f, mid)) < 0)
            return -1;
        if (r)
            lo = mid;
        else
            hi = mid - 1;
    }
    pthread_mutex_lock(&f->lock);
    f->st.diverged = 1;
    f->st.keep = lo;
    pthread_mutex_unlock(&f->lock);
    set_error(f, 1, "this node's log holds records %llu to %llu that stream %s does not hold (it holds %llu "
              "records, alike up to seq %llu)", (unsigned long long)lo + 1, (unsigned long long)mine, f->stream,
              (unsigned long long)last, (unsigned long long)lo);
    return 1;
}

/* Connect, look at the stream, subscribe from f->next: 0, or -1 (retry later). */
static int subscribe(tms_follower *f)
{
    jsStreamInfo *si = NULL;
    jsSubOptions so;
    jsErrCode jerr = 0;
    f->link = (tms__nats_link){on_link, f};
    natsStatus s = tms__nats_connect(f->opts, NULL, &f->link, &f->nc, &f->js);
    if (s == NATS_OK)
        s = js_GetStreamInfo(&si, f->js, f->stream, NULL, &jerr);
    if (s != NATS_OK) {
        set_error(f, 0, "%s %s: %s", jerr == JSStreamNotFoundErr ? "no stream" : "cannot read stream", f->stream,
                  natsStatus_GetText(s));
        disconnect(f);
        return -1;
    }
    uint64_t first = si->State.FirstSeq, msgs = si->State.Msgs, last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    pthread_mutex_lock(&f->lock);
    if (last > f->st.stream_seq)   /* how far the stream reaches: a replica's lag (readiness) */
        f->st.stream_seq = last;
    pthread_mutex_unlock(&f->lock);
    int check = f->logdir[0] && !f->compared && f->next > 1;
    if (check && !msgs) {   /* nothing to compare with: never "diverged" from an empty stream */
        set_error(f, 0, "stream %s is empty and this node's log holds %llu records: waiting (they are published "
                  "if this node leads)", f->stream, (unsigned long long)f->next - 1);
        disconnect(f);
        return -1;
    }
    int cmp = check ? compare_log(f, last) : 0;
    if (cmp) {   /* diverged (stopped), or it could not be told: try again */
        if (cmp > 0)
            f->notify(f->arg);
        disconnect(f);
        return -1;
    }
    f->compared = 1;
    if (msgs && first > f->next) {
        set_error(f, 1, "stream %s starts at seq %llu but this replica needs seq %llu: start it from a backup of the "
                  "leader (tms-restore backup), then follow", f->stream, (unsigned long long)first,
                  (unsigned long long)f->next);
        disconnect(f);
        return -1;
    }
    jsSubOptions_Init(&so);
    so.Stream = f->stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = f->next;
    if ((s = js_SubscribeSync(&f->sub, f->js, f->subject, NULL, &so, &jerr)) != NATS_OK) {
        set_error(f, 0, "cannot subscribe to %s: %s", f->subject, natsStatus_GetText(s));
        disconnect(f);
        return -1;
    }
    pthread_mutex_lock(&f->lock);
    f->st.connected = 1;
    f->st.error[0] = '\0';
    pthread_mutex_unlock(&f->lock);
    return 0;
}

/* Queue one frame and its checkpoint header (NULL: none), waiting for room (by count and by bytes: a publisher
 * with stolen rights can send 1 MiB messages): 0, or -1 when stopping. A header longer than any note's base64
 * is kept as a marker that fails to decode, so the owner stops replication naming the seq. */
static int enqueue(tms_follower *f, const uint8_t *d, int len, const char *note)
{
    uint8_t *copy = malloc(len > 0 ? (size_t)len : 1);
    char *ncopy = !note ? NULL : strlen(note) > TMS_FOLLOW_MAX_HEADER ? strdup("oversized!") : strdup(note);
    size_t size = (size_t)(len > 0 ? len : 0) + (ncopy ? strlen(ncopy) : 0);
    if (!copy || (note && !ncopy)) {
        free(copy);
        free(ncopy);
        return -1;
    }
    memcpy(copy, d, (size_t)len);
    pthread_mutex_lock(&f->lock);
    while (!f->stop && !f->st.stopped &&
           (f->count == TMS_FOLLOW_QUEUE || (f->count && f->qbytes + size > TMS_FOLLOW_QUEUE_BYTES)))
        pthread_cond_wait(&f->room, &f->lock);
    if (f->stop || f->st.stopped) {
        pthread_mutex_unlock(&f->lock);
        free(copy);
        free(ncopy);
        return -1;
    }
    size_t at = (f->head + f->count++) % TMS_FOLLOW_QUEUE;
    f->q[at] = copy;
    f->qnote[at] = ncopy;
    f->qlen[at] = (size_t)len;
    f->qbytes += size;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int stopping(tms_follower *f)
{
    pthread_mutex_lock(&f->lock);
    int stop = f->stop || f->st.stopped;
    pthread_mutex_unlock(&f->lock);
    return stop;
}

static void nap(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000}, NULL);
}

static void *run(void *arg)
{
    tms_follower *f = arg;
    while (!stopping(f)) {
        if (!f->sub && subscribe(f)) {
            nap(RETRY_MS);
            continue;
        }
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, f->sub, NEXT_MSG_MS);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK) {   /* the subscription is gone (NATS restarted, ...): subscribe again from next */
            set_error(f, 0, "stream %s: %s; subscribing again from seq %llu", f->stream, natsStatus_GetText(s),
                      (unsigned long long)f->next);
            disconnect(f);
            nap(RETRY_MS);
            continue;
        }
        int64_t now = tms_lag_now();   /* its arrival: before the queue's wait for room (enqueue) */
        const uint8_t *d = (const uint8_t *)natsMsg_GetData(m);
        int len = natsMsg_GetDataLength(m);
        uint64_t seq = len > 0 ? tms_log_frame_seq(d, (size_t)len) : 0;
        const char *note = NULL;
        if (natsMsgHeader_Get(m, TMS__CHECKPOINT_HEADER, &note) != NATS_OK)
            note = NULL;
        if (seq >= f->next || !seq) {   /* an earlier seq is a redelivery: skip it (the engine checks the rest) */
            jsMsgMetaData *meta = NULL;
            uint64_t reach = natsMsg_GetMetaData(&meta, m) == NATS_OK ? meta->Sequence.Stream + meta->NumPending : 0;
            if (meta)
                jsMsgMetaData_Destroy(meta);
            int64_t stamp;
            int stamped = len > 0 && tms_lag_stamp(d, (size_t)len, &stamp);   /* (read before any check) */
            if (enqueue(f, d, len, note) == 0) {
                f->next = seq ? seq + 1 : f->next + 1;
                pthread_mutex_lock(&f->lock);
                f->st.received = f->next - 1;
                if (stamped)
                    tms_lag_add(&f->st.received_lag, stamp, now);
                if (reach > f->st.stream_seq)
                    f->st.stream_seq = reach;
                pthread_mutex_unlock(&f->lock);
                f->notify(f->arg);
            }
        }
        natsMsg_Destroy(m);
    }
    disconnect(f);
    return NULL;
}

static void follower_free(tms_follower *f)
{
    for (; f->count; f->count--, f->head = (f->head + 1) % TMS_FOLLOW_QUEUE) {
        free(f->q[f->head]);
        free(f->qnote[f->head]);
    }
    natsOptions_Destroy(f->opts);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->room);
    free(f);
}

tms_err tms_follower_start(const char *url, const char *stream, const tms_nats_options *nats, uint64_t next,
                           const char *logdir, void (*notify)(void *), void *arg, tms_follower **out, char *why,
                           size_t whylen)
{
    tms_follower *f;
    char name[TMS__STREAM_MAX + 1], subject[TMS__STREAM_MAX + 8];
    *out = NULL;
    if (tms__stream_names(stream, name, subject, why, whylen))
        return TMS_E_INVAL;
    if (strlen(url) >= sizeof f->url || (logdir && strlen(logdir) >= sizeof f->logdir)) {
        snprintf(why, whylen, "NATS URL or log directory too long");
        return TMS_E_INVAL;
    }
    if (!(f = calloc(1, sizeof *f)))
        return TMS_E_NOMEM;
    snprintf(f->url, sizeof f->url, "%s", url);
    snprintf(f->stream, sizeof f->stream, "%s", name);
    snprintf(f->subject, sizeof f->subject, "%s", subject);
    snprintf(f->logdir, sizeof f->logdir, "%s", logdir ? logdir : "");
    f->next = next;
    f->st.received = next - 1;
    f->notify = notify;
    f->arg = arg;
    f->log = nats ? nats->log : NULL;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->room, NULL);
    tms_err err = tms__nats_options(url, nats, &f->opts, why, whylen) ? TMS_E_INVAL : TMS_OK;
    if (!err && pthread_create(&f->thread, NULL, run, f)) {
        snprintf(why, whylen, "cannot start the replica's thread");
        err = TMS_E_NOMEM;
    }
    if (err) {
        follower_free(f);
        return err;
    }
    f->thread_up = 1;
    *out = f;
    return TMS_OK;
}

size_t tms_follower_take(tms_follower *f, uint8_t **frames, size_t *lens, char **notes, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&f->lock);
    while (n < max && f->count) {
        frames[n] = f->q[f->head];
        notes[n] = f->qnote[f->head];
        f->qbytes -= f->qlen[f->head] + (notes[n] ? strlen(notes[n]) : 0);
        lens[n++] = f->qlen[f->head];
        f->head = (f->head + 1) % TMS_FOLLOW_QUEUE;
        f->count--;
    }
    if (n)
        pthread_cond_signal(&f->room);
    pthread_mutex_unlock(&f->lock);
    return n;
}

void tms_follower_fail(tms_follower *f, const char *why)
{
    set_error(f, 1, "%s; replication stopped (this replica keeps answering from its last good state)", why);
    pthread_mutex_lock(&f->lock);
    pthread_cond_signal(&f->room);
    pthread_mutex_unlock(&f->lock);
}

void tms_follower_status(tms_follower *f, tms_follow_status *out)
{
    pthread_mutex_lock(&f->lock);
    *out = f->st;
    pthread_mutex_unlock(&f->lock);
}

void tms_follower_halt(tms_follower *f)
{
    if (!f || !f->thread_up)
        return;
    pthread_mutex_lock(&f->lock);
    f->stop = 1;
    pthread_cond_signal(&f->room);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    f->thread_up = 0;
}

tms_err tms_follower_resume(tms_follower *f, uint64_t next)
{
    if (f->thread_up)
        return TMS_E_INVAL;
    for (; f->count; f->count--, f->head = (f->head + 1) % TMS_FOLLOW_QUEUE) {
        free(f->q[f->head]);
        free(f->qnote[f->head]);
    }
    pthread_mutex_lock(&f->lock);   /* a late nats.c callback of the old connection may read or write st */
    f->qbytes = 0;
    f->stop = f->compared = 0;
    f->next = next;
    tms_lag received_lag = f->st.received_lag;   /* counters: they go on across a resume */
    memset(&f->st, 0, sizeof f->st);
    f->st.received_lag = received_lag;
    f->st.received = next - 1;
    pthread_mutex_unlock(&f->lock);
    if (pthread_create(&f->thread, NULL, run, f))
        return TMS_E_NOMEM;
    f->thread_up = 1;
    return TMS_OK;
}

void tms_follower_stop(tms_follower *f)
{
    if (!f)
        return;
    tms_follower_halt(f);
    /* nats.c may still deliver a callback (on_link) for the connection the
       thread closed: the library is shut down, waiting for that, before f goes */
    natsOptions_Destroy(f->opts);
    f->opts = NULL;
    nats_CloseAndWait(5000);
    follower_free(f);
}
