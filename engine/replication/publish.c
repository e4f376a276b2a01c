/* publish.c -- publishing the log to NATS JetStream (publish.h). One thread:
 * connect (nats.c reconnects by itself), find or create the stream, check
 * that its last message is the log's record at that seq, then publish the
 * log from there on as records become durable. Synchronous publishes, one
 * acknowledgement each: the stream's order is the log's. */
#include "publish.h"
#include "checkpoints.h"
#include "log.h"
#include "nats_link.h"
#include "note.h"
#include "tree.h"
#include <nats/nats.h>
#include <pthread.h>
#include <sodium.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_MS 500
#define TREE_WAIT_MS 5              /* the tree is written right after the log's sync: a moment */
#define TREE_WAITS_SAID 200         /* ... after this many waits in a row, say so */
/* base64 of a whole checkpoint note: text (origin, size, root) and one signature line */
#define NOTE_MAX (TMS_NOTE_NAME_MAX + 96 + TMS_NOTE_SIG_TEXT_MAX)
#define HEADER_MAX (NOTE_MAX / 3 * 4 + 8)

#define MSG_ID_MAX (21 + 32 + 1)     /* "SEQ." and 16 bytes of the chain hash in hex */

#define PUBLISH_BATCH 8192            /* records published before waiting for every acknowledgement */

struct tms_publisher {
    char url[512], stream[64], subject[80], datadir[4200], logdir[4300];
    int replicas;                    /* of a stream it creates */
    natsOptions *opts;               /* every connection's: URL, credentials, TLS */
    tms_repl_log_fn log;             /* the owner's logger (NULL: stderr) */
    int signing;                     /* 1: a signed checkpoint with every batch */
    tms_note_signer signer;
    pthread_t thread;
    int thread_up;
    _Atomic int paused;              /* tms_publisher_pause: nothing more is handed to nats.c */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    void (*on_published)(void *ctx);   /* tms_publish_options */
    void *on_published_ctx;
    tms_publish_status st;           /* under lock */
    /* the thread's own */
    natsConnection *nc;
    tms__nats_link link;             /* what hears nc's disconnections (nats.c keeps a pointer to it) */
    jsCtx *js;
    tms_log_iter *it;
    uint64_t it_next;                /* the seq it will give next */
    int ack_failed;                  /* an asynchronous publish was refused (under lock; set on nats.c's thread) */
    uint64_t sent;                   /* handed to nats.c up to this seq (the thread's) */
    char sent_id[MSG_ID_MAX];        /* ... the message id of that seq, "" right after connect_up */
    tms_tree *tree;                  /* the data directory's Merkle tree, read (the thread's; opened there) */
    unsigned tree_waits;             /* batches waited for the tree, in a row */
    int64_t stamps[PUBLISH_BATCH];   /* the batch's records' stamps (send_batch; run bounds a batch so) */
};

#define PUBLISH_WINDOW 1024           /* asynchronous publishes in flight */
#define FLUSH_WAIT_MS 20              /* a batch's flush: how long its PONG is waited for */

static void set_error(tms_publisher *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(tms_publisher *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char text[sizeof p->st.error];
    vsnprintf(text, sizeof text, fmt, ap);
    pthread_mutex_lock(&p->lock);
    if (strcmp(text, p->st.error)) {   /* a retry that fails the same way is said once */
        char msg[sizeof text + 16];
        snprintf(msg, sizeof msg, "publish: %s", text);
        tms__repl_log(p->log, "warn", msg, NULL);
    }
    memcpy(p->st.error, text, sizeof text);
    pthread_mutex_unlock(&p->lock);
    va_end(ap);
}

static void disconnect(tms_publisher *p)
{
    jsCtx_Destroy(p->js);
    natsConnection_Destroy(p->nc);
    p->js = NULL;
    p->nc = NULL;
    pthread_mutex_lock(&p->lock);
    p->st.connected = 0;
    pthread_mutex_unlock(&p->lock);
}

/* The log's frame at seq (header + payload, malloc'd) through the thread's iterator. */
static tms_err frame_at(tms_publisher *p, uint64_t seq, uint8_t **buf, size_t *len)
{
    tms_log_record r;
    int has = 0;
    tms_err err = TMS_OK;
    if (p->it && p->it_next != seq) {
        tms_log_iter_close(p->it);
        p->it = NULL;
    }
    if (!p->it && (err = tms_log_iter_open(p->logdir, seq, &p->it, NULL)))
        return err;
    p->it_next = seq;
    do {
        if ((err = tms_log_iter_next(p->it, &r, &has)))
            return err;
    } while (has && r.seq < seq);
    if (!has || r.seq != seq)
        return TMS_NOT_FOUND;
    p->it_next = seq + 1;
    if (!(*buf = malloc(TMS_LOG_FRAME_HEADER + r.len)))
        return TMS_E_NOMEM;
    tms_log_frame_header(&r, *buf);
    memcpy(*buf + TMS_LOG_FRAME_HEADER, r.payload, r.len);
    *len = TMS_LOG_FRAME_HEADER + r.len;
    return TMS_OK;
}

static void log_config(tms_publisher *p, const jsStreamInfo *si, const char *how)
{
    const jsStreamConfig *c = si->Config;
    char msg[64], replicas[24], max_msgs[24], max_age[24], dups[24], msgs[24], last[24];
    snprintf(msg, sizeof msg, "publish: stream %s", how);
    snprintf(replicas, sizeof replicas, "%lld", (long long)c->Replicas);
    snprintf(max_msgs, sizeof max_msgs, "%lld", (long long)c->MaxMsgs);
    snprintf(max_age, sizeof max_age, "%lld", (long long)c->MaxAge);
    snprintf(dups, sizeof dups, "%lld", (long long)c->Duplicates);
    snprintf(msgs, sizeof msgs, "%llu", (unsigned long long)si->State.Msgs);
    snprintf(last, sizeof last, "%llu", (unsigned long long)si->State.LastSeq);
    const char *const kv[] = {"stream", p->stream, "subjects", c->SubjectsLen > 0 ? c->Subjects[0] : "-",
                              "storage", c->Storage == js_FileStorage ? "file" : "memory", "replicas", replicas,
                              "max_msgs", max_msgs, "max_age_ns", max_age, "duplicates_ns", dups, "messages", msgs,
                              "last_seq", last, NULL};
    tms__repl_log(p->log, "info", msg, kv);
}

/* The stream, created when absent: its last sequence in *last. */
static int ensure_stream(tms_publisher *p, uint64_t *last)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, p->js, p->stream, NULL, &jerr);
    const char *how = "found";
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        jsStreamConfig cfg;
        const char *subjects[1] = {p->subject};
        jsStreamConfig_Init(&cfg);
        cfg.Name = p->stream;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Retention = js_LimitsPolicy;
        cfg.Duplicates = (int64_t)120 * 1000000000;
        cfg.Replicas = p->replicas > 0 ? p->replicas : 1;
        s = js_AddStream(&si, p->js, &cfg, NULL, &jerr);
        how = "created";
    }
    if (s != NATS_OK) {
        set_error(p, "stream %s: %s%s", p->stream, natsStatus_GetText(s), jerr ? " (JetStream error)" : "");
        return -1;
    }
    log_config(p, si, how);
    *last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return 0;
}

/* The stream's message at seq is the log's frame at seq: 1, 0 when not
 * (the stream is on another chain), -1 when it could not be told. */
static int same_record(tms_publisher *p, uint64_t seq)
{
    natsMsg *m = NULL;
    uint8_t *frame = NULL;
    size_t len = 0;
    jsErrCode jerr = 0;
    int same = -1;
    if (frame_at(p, seq, &frame, &len) == TMS_NOT_FOUND)
        same = 0;   /* the stream holds a seq the log does not */
    else if (frame && js_GetMsg(&m, p->js, p->stream, seq, NULL, &jerr) == NATS_OK)
        same = (size_t)natsMsg_GetDataLength(m) == len && !memcmp(natsMsg_GetData(m), frame, len);
    natsMsg_Destroy(m);
    free(frame);
    return same;
}

/* nats.c's thread, for every asynchronous publish: an acknowledgement
 * moves `published` on; a refusal (not the next sequence, a timeout) makes
 * the thread look at the stream again. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    tms_publisher *p = closure;
    (void)js;
    if (pae || !pa) {
        set_error(p, "a publish was refused: %s (JetStream error %d)",
                  pae && pae->ErrText ? pae->ErrText : pae ? natsStatus_GetText(pae->Err) : "no acknowledgement",
                  pae ? (int)pae->ErrCode : 0);
        pthread_mutex_lock(&p->lock);
        p->ack_failed = 1;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
    } else {
        const uint8_t *frame = (const uint8_t *)natsMsg_GetData(msg);
        int len = natsMsg_GetDataLength(msg);
        int64_t now = tms_lag_now();
        int64_t stamp;
        int stamped = frame && len > 0 && tms_lag_stamp(frame, (size_t)len, &stamp);
        pthread_mutex_lock(&p->lock);
        if (!p->ack_failed && pa->Sequence > p->st.published) {   /* (a duplicate's or a late one's: not again) */
            p->st.published = pa->Sequence;
            if (stamped)
                tms_lag_add(&p->st.acked_lag, stamp, now);
        }
        pthread_mutex_unlock(&p->lock);
    }
    if (p->on_published)   /* --ack-after stream: answers wait for this */
        p->on_published(p->on_published_ctx);
    natsMsg_Destroy(msg);
}

/* nats.c's thread: the connection went down, or came back. */
static void on_link(void *closure, int up)
{
    tms_publisher *p = closure;
    pthread_mutex_lock(&p->lock);
    p->st.connected = up;
    pthread_mutex_unlock(&p->lock);
}

/* Connect and find where the stream is: 0, or -1 (retry later). */
static int connect_up(tms_publisher *p)
{
    uint64_t last = 0;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = PUBLISH_WINDOW;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = p;
    p->link = (tms__nats_link){on_link, p};
    natsStatus s = tms__nats_connect(p->opts, &jo, &p->link, &p->nc, &p->js);
    if (s != NATS_OK) {
        set_error(p, "cannot reach %s: %s", p->url, natsStatus_GetText(s));
        disconnect(p);
        return -1;
    }
    if (ensure_stream(p, &last)) {
        disconnect(p);
        return -1;
    }
    int same = last ? same_record(p, last) : 1;
    if (same <= 0) {
        if (same == 0) {
            pthread_mutex_lock(&p->lock);
            p->st.stopped = 1;
            pthread_mutex_unlock(&p->lock);
            set_error(p, "stream %s holds a record at seq %llu that is not the log's (another leader, or a log "
                      "restored from an older backup): publishing stopped", p->stream, (unsigned long long)last);
        }
        disconnect(p);
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    p->st.connected = 1;
    p->st.published = last;
    p->ack_failed = 0;
    p->st.error[0] = '\0';
    pthread_mutex_unlock(&p->lock);
    p->sent = last;
    p->sent_id[0] = '\0';   /* the stream's last message was compared with the log's: fenced by seq */
    return 0;
}

/* The message id of the frame at seq into id: "SEQ.HASH", HASH the first
 * 16 bytes of its chain hash in hex. JetStream looks a message id up in its
 * duplicate window BEFORE it checks the expected last sequence, and answers
 * a duplicate with the first message's sequence: with the seq alone as the
 * id, another leader's record at the same seq (a failover) would be
 * "stored" without being stored. The chain hash covers the seq, the payload
 * and every record before it, so an equal id is an equal record. */
static void msg_id(uint64_t seq, const uint8_t *frame, size_t len, char id[MSG_ID_MAX])
{
    int n = snprintf(id, MSG_ID_MAX, "%llu.", (unsigned long long)seq);
    sodium_bin2hex(id + n, (size_t)(MSG_ID_MAX - n), tms_log_frame_hash(frame, len), 16);
}

/* Hand the frame of seq to nats.c as its message (its id into id): the
 * last of the batch [.., last] carries the checkpoint header hdr ("":
 * none). NATS_OK, or why not. */
static natsStatus publish_one(tms_publisher *p, uint64_t seq, uint64_t last, const char *hdr, const uint8_t *frame,
                              size_t len, char id[MSG_ID_MAX])
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    msg_id(seq, frame, len, id);
    po.MsgId = id;
    po.ExpectLastSeq = seq - 1;   /* 0 means "not set" to nats.c: the first record says it in a header */
    /* and the previous message must be the one this publisher sent: with
       publishes pipelined, a fence by seq alone lets another leader's late
       record take seq - 1 and this one's seq + 1 land on top of it (a mixed
       chain); by id, every later message of ours is refused too. The first
       message after connect_up is fenced by seq: connect_up compared the
       stream's last message with the log's byte for byte. */
    if (p->sent_id[0] && p->sent == seq - 1)
        po.ExpectLastMsgId = p->sent_id;
    po.MaxWait = 5000;            /* no acknowledgement by then: a refusal (on_ack), and the stream is read again */
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, p->subject, NULL, (const char *)frame, (int)len);
    if (s == NATS_OK && seq == 1)   /* the subject is the stream's only one: its last seq is the stream's */
        s = natsMsgHeader_Set(m, "Nats-Expected-Last-Subject-Sequence", "0");
    if (s == NATS_OK && seq == last && hdr[0])
        s = natsMsgHeader_Set(m, TMS__CHECKPOINT_HEADER, hdr);
    if (s == NATS_OK)
        s = js_PublishMsgAsync(p->js, &m, &po);   /* nats.c owns m now (m is NULL) */
    natsMsg_Destroy(m);
    return s;
}

/* Hand [next, last] to nats.c, pipelined (at most PUBLISH_WINDOW waiting
 * for their acknowledgement: js_PublishMsgAsync waits beyond that). Each
 * message carries its seq as the message id and seq - 1 as the expected
 * last sequence, so JetStream refuses anything out of order; the last one
 * carries the batch's checkpoint header hdr ("": none). Every message
 * handed over is counted in sent_lag, however the batch ends. 0, or -1
 * (reconnect and look at the stream again). */
static int send_batch(tms_publisher *p, uint64_t next, uint64_t last, const char *hdr)
{
    char id[MSG_ID_MAX];
    uint8_t *frame = NULL;
    size_t len, nstamps = 0;
    uint64_t seq;
    int rc = 0;
    tms_lag sent;
    for (seq = next; seq <= last && !atomic_load(&p->paused); seq++) {   /* deposed: not one more message */
        tms_err err = frame_at(p, seq, &frame, &len);
        if (err) {
            set_error(p, "cannot read the log at seq %llu: %s", (unsigned long long)seq, tms_strerror(err));
            rc = -1;
            break;
        }
        natsStatus s = publish_one(p, seq, last, hdr, frame, len, id);
        if (s == NATS_OK && tms_lag_stamp(frame, len, &p->stamps[nstamps]))
            nstamps++;
        free(frame);
        if (s != NATS_OK) {
            set_error(p, "publishing seq %llu: %s", (unsigned long long)seq, natsStatus_GetText(s));
            rc = -1;
            break;
        }
        p->sent = seq;
        memcpy(p->sent_id, id, sizeof id);
    }
    int64_t now = tms_lag_now();   /* handed to the NATS client: written by the flush below (or its flusher) */
    /* nats.c's flusher waits 1 ms "to accumulate more" before it writes what
     * was published (conn.c, _flusher): every batch reached the stream a
     * millisecond late. The batch is written now (a PING the server answers
     * after the messages; its PONG is not needed, so a short wait), which
     * keeps the messages of one batch in one write (issue 22, item 5). Not
     * answered in time: the messages are written all the same;
     * acknowledgements tell. */
    if (!rc && seq > last)
        (void)natsConnection_FlushTimeout(p->nc, FLUSH_WAIT_MS);
    memset(&sent, 0, sizeof sent);
    for (size_t i = 0; i < nstamps; i++)
        tms_lag_add(&sent, p->stamps[i], now);
    pthread_mutex_lock(&p->lock);
    tms_lag_merge(&p->st.sent_lag, &sent);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static void nap_ms(tms_publisher *p, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);   /* the condition waits on it: a wall-clock step never stalls */
    until.tv_nsec += (long)ms * 1000000;
    until.tv_sec += until.tv_nsec / 1000000000;
    until.tv_nsec %= 1000000000;
    pthread_mutex_lock(&p->lock);
    if (!p->stop)
        pthread_cond_timedwait(&p->wake, &p->lock, &until);
    pthread_mutex_unlock(&p->lock);
}

/* Acknowledgements still due are waited for a little, then dropped: what
 * the stream holds is read again on the next connection. */
static void resync(tms_publisher *p)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 2000;
    if (p->js)
        js_PublishAsyncComplete(p->js, &po);
    disconnect(p);
    nap_ms(p, RETRY_MS / 5);
}

/* Is the tree of `size` records with `root` consistent with the latest
 * checkpoint this key signed and kept in the data directory (either extends
 * the other)? A log never signs two inconsistent checkpoints (C2SP
 * tlog-checkpoint; daemon_checkpoint.c checks the same before its own). */
static int consistent_with_kept(tms_publisher *p, uint64_t size, const tms_tlog_hash root, char *why, size_t whylen)
{
    char *note = NULL;
    size_t len;
    tms_checkpoint cp;
    int ok = 1;
    if (tms_checkpoints_find(p->datadir, 0, &note, &len, why, whylen) == TMS_OK &&
        tms_checkpoint_open(note, len, &p->signer.v, &cp, why, whylen) == TMS_OK)
        ok = (size >= cp.size ? tms_tree_extends(p->tree, cp.size, cp.root, size, root, why, whylen)
                              : tms_tree_extends(p->tree, size, root, cp.size, cp.root, why, whylen)) == TMS_OK;
    free(note);
    return ok;
}

/* The header value of the signed checkpoint of the tree of `size` records
 * into hdr: the note (checkpoint text, a blank line, the signature line),
 * base64. 0, or -1 when the tree cannot give its root or is not consistent
 * with the checkpoints this key signed (signing stops, said in status). */
static int checkpoint_header(tms_publisher *p, uint64_t size, char hdr[HEADER_MAX])
{
    tms_tlog_hash root;
    char note[NOTE_MAX], line[TMS_NOTE_SIG_TEXT_MAX], why[300];
    tms_err err = tms_tree_root(p->tree, size, root);
    if (!err && !consistent_with_kept(p, size, root, why, sizeof why)) {
        set_error(p, "not signing the batch ending at seq %llu: %s", (unsigned long long)size, why);
        return -1;
    }
    size_t n = err ? 0 : tms_checkpoint_format(p->signer.v.name, size, root, note, sizeof note - 1);
    if (!n || (err = tms_note_sign_line(&p->signer, note, n, 0, line)) || n + 1 + strlen(line) >= sizeof note) {
        set_error(p, "cannot sign the checkpoint of size %llu: %s", (unsigned long long)size,
                  err ? tms_strerror(err) : "the checkpoint does not fit");
        return -1;
    }
    note[n] = '\n';
    memcpy(note + n + 1, line, strlen(line) + 1);
    sodium_bin2base64(hdr, HEADER_MAX, (const unsigned char *)note, strlen(note), sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

/* With a signing key: end the batch [next, *last] where the Merkle tree is
 * written (the engine appends it right after the log's sync, so it may be a
 * moment behind a durable record) and sign its checkpoint into hdr. 0, or
 * -1 when the tree does not hold next yet (wait a moment, try again). */
static int sign_batch(tms_publisher *p, uint64_t next, uint64_t *last, char hdr[HEADER_MAX])
{
    char why[300];
    if (!p->tree && tms_tree_open_reader(p->datadir, &p->tree, why, sizeof why) != TMS_OK) {
        set_error(p, "cannot open the Merkle tree to sign checkpoints: %s", why);
        return -1;
    }
    uint64_t held = tms_tree_size(p->tree);
    if (held < next) {
        if (++p->tree_waits == TREE_WAITS_SAID)
            set_error(p, "the Merkle tree holds %llu records, the log %llu: waiting for it to sign a checkpoint",
                      (unsigned long long)held, (unsigned long long)*last);
        return -1;
    }
    p->tree_waits = 0;
    if (*last > held)
        *last = held;
    return checkpoint_header(p, *last, hdr);
}

static void *run(void *arg)
{
    tms_publisher *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->stop && p->js && !p->ack_failed && (p->sent >= p->st.durable || atomic_load(&p->paused)))
            pthread_cond_wait(&p->wake, &p->lock);
        int stop = p->stop || p->st.stopped, failed = p->ack_failed;
        uint64_t durable = p->st.durable;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        if (!p->js) {
            if (connect_up(p))
                nap_ms(p, RETRY_MS);
            continue;
        }
        uint64_t next = p->sent + 1, last = durable - p->sent > PUBLISH_BATCH ? p->sent + PUBLISH_BATCH : durable;
        char hdr[HEADER_MAX] = "";
        if (!failed && p->signing && sign_batch(p, next, &last, hdr)) {
            nap_ms(p, TREE_WAIT_MS);
            continue;
        }
        if (failed || send_batch(p, next, last, hdr))
            resync(p);
    }
    tms_log_iter_close(p->it);
    tms_tree_close(p->tree);
    p->it = NULL;
    p->tree = NULL;
    disconnect(p);
    return NULL;
}

/* The log's private key from the file at path (its first line). */
static int load_signer(const char *path, tms_note_signer *out, char *why, size_t whylen)
{
    char line[1024], what[200];
    FILE *f = fopen(path, "r");
    int ok = f && fgets(line, sizeof line, f) != NULL;
    int e = errno;
    if (f)
        fclose(f);
    tms_err err = ok ? tms_note_signer_parse(line, strcspn(line, "\r\n"), out, what, sizeof what) : TMS_E_INVAL;
    sodium_memzero(line, sizeof line);
    if (!ok || err || out->v.type != TMS_KEY_ED25519) {
        snprintf(why, whylen, "--signing-key %s: %s", path, !f ? strerror(e) : !ok ? "empty" : err ? what
                 : "a witness's key (cosignature/v1), not a log's (tms-audit keygen without --witness)");
        tms_note_signer_wipe(out);
        return -1;
    }
    return 0;
}

/* What the thread needs, from o: names, paths, the key, NATS's options. */
static tms_err publisher_init(tms_publisher *p, const tms_publish_options *o, char *why, size_t whylen)
{
    char name[TMS__STREAM_MAX + 1], subject[TMS__STREAM_MAX + 8];
    if (tms__stream_names(o->stream, name, subject, why, whylen))
        return TMS_E_INVAL;
    if (strlen(o->url) >= sizeof p->url || strlen(o->datadir) >= sizeof p->datadir) {
        snprintf(why, whylen, "NATS URL or data directory too long");
        return TMS_E_INVAL;
    }
    snprintf(p->url, sizeof p->url, "%s", o->url);
    snprintf(p->stream, sizeof p->stream, "%s", name);
    snprintf(p->subject, sizeof p->subject, "%s", subject);
    snprintf(p->datadir, sizeof p->datadir, "%s", o->datadir);
    snprintf(p->logdir, sizeof p->logdir, "%s/log", o->datadir);
    p->replicas = o->replicas;
    p->on_published = o->on_published;
    p->on_published_ctx = o->ctx;
    if (o->signing_key && load_signer(o->signing_key, &p->signer, why, whylen))
        return TMS_E_INVAL;
    p->signing = o->signing_key != NULL;
    p->log = o->nats.log;
    if (tms__nats_options(o->url, &o->nats, &p->opts, why, whylen))
        return TMS_E_INVAL;
    return TMS_OK;
}

static void publisher_free(tms_publisher *p)
{
    tms_note_signer_wipe(&p->signer);
    natsOptions_Destroy(p->opts);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p);
}

tms_err tms_publisher_start(const tms_publish_options *o, uint64_t durable_seq, tms_publisher **out, char *why,
                            size_t whylen)
{
    tms_publisher *p;
    *out = NULL;
    if (!(p = calloc(1, sizeof *p)))
        return TMS_E_NOMEM;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &ca);
    pthread_condattr_destroy(&ca);
    p->st.durable = durable_seq;
    tms_err err = publisher_init(p, o, why, whylen);
    if (!err && pthread_create(&p->thread, NULL, run, p)) {
        snprintf(why, whylen, "cannot start the publishing thread");
        err = TMS_E_NOMEM;
    }
    if (err) {
        publisher_free(p);
        return err;
    }
    p->thread_up = 1;
    *out = p;
    return TMS_OK;
}

void tms_publisher_pause(tms_publisher *p)
{
    if (p)
        atomic_store(&p->paused, 1);
}

void tms_publisher_halt(tms_publisher *p)
{
    if (!p || !p->thread_up)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    p->thread_up = 0;
}

tms_err tms_publisher_resume(tms_publisher *p, uint64_t durable_seq)
{
    if (p->thread_up)
        return TMS_E_INVAL;
    pthread_mutex_lock(&p->lock);
    p->stop = 0;
    atomic_store(&p->paused, 0);
    p->ack_failed = 0;
    tms_lag sent_lag = p->st.sent_lag, acked_lag = p->st.acked_lag;   /* counters: they go on across a resume */
    memset(&p->st, 0, sizeof p->st);
    p->st.sent_lag = sent_lag;
    p->st.acked_lag = acked_lag;
    p->st.durable = durable_seq;
    pthread_mutex_unlock(&p->lock);
    p->sent = 0;
    p->tree_waits = 0;
    if (pthread_create(&p->thread, NULL, run, p))
        return TMS_E_NOMEM;
    p->thread_up = 1;
    return TMS_OK;
}

void tms_publisher_durable(tms_publisher *p, uint64_t seq)
{
    pthread_mutex_lock(&p->lock);
    if (seq > p->st.durable) {
        p->st.durable = seq;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
}

void tms_publisher_status(tms_publisher *p, tms_publish_status *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->st;
    pthread_mutex_unlock(&p->lock);
}

void tms_publisher_stop(tms_publisher *p)
{
    if (!p)
        return;
    tms_publisher_halt(p);
    /* nats.c may still deliver a callback (on_link, on_ack) for the connection
       the thread closed: the library is shut down, waiting for that, before p
       goes (one publisher per process) */
    natsOptions_Destroy(p->opts);
    p->opts = NULL;
    nats_CloseAndWait(5000);
    publisher_free(p);
}
