/* lease.c -- the leader lease (lease.h): one thread, one connection, the
 * bucket NAME_lease found or created, then take / renew / look in turn. */
#include "lease.h"
#include "nats_link.h"
#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY "leader"
#define RETRY_MS 300
#define VALUE_MAX (2 * TMS_LEASE_ADDR_MAX + TMS_LEASE_NAME_MAX + 96)

struct tms_lease {
    char url[1024], bucket[TMS__STREAM_MAX + 8], stream[TMS__STREAM_MAX + 1];
    char node[TMS_LEASE_NAME_MAX + 1], addr[TMS_LEASE_ADDR_MAX], http[TMS_LEASE_ADDR_MAX];
    uint64_t ttl_ns, margin_ns;
    int replicas;
    natsOptions *opts;
    tms_repl_log_fn log;
    void (*on_change)(void *ctx);
    void *ctx;
    pthread_t thread;
    int thread_up;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop, resign, retired;   /* resign: give the lease up once; retired: and never take it again */
    tms_lease_status st;        /* under lock */
    /* the thread's own */
    natsConnection *nc;
    tms__nats_link link;             /* what hears nc's disconnections (nats.c keeps a pointer to it) */
    jsCtx *js;
    kvStore *kv;
    uint64_t rev;               /* held: the revision of our last write */
    uint64_t next_renew;        /* held: when to renew (CLOCK_BOOTTIME ns) */
};

uint64_t tms_lease_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void say(tms_lease *l, const char *level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(tms_lease *l, const char *level, const char *fmt, ...)
{
    char text[300], msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "lease: %s", text);
    const char *const kv[] = {"node", l->node, NULL};
    tms__repl_log(l->log, level, msg, kv);
}

/* Record an error (said once while it repeats). */
static void set_error(tms_lease *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(tms_lease *l, const char *fmt, ...)
{
    char text[sizeof l->st.error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&l->lock);
    int news = strcmp(text, l->st.error) != 0;
    memcpy(l->st.error, text, sizeof text);
    pthread_mutex_unlock(&l->lock);
    if (news)
        say(l, "warn", "%s", text);
}

static void changed(tms_lease *l)
{
    if (l->on_change)
        l->on_change(l->ctx);
}

static void disconnect(tms_lease *l)
{
    kvStore_Destroy(l->kv);
    jsCtx_Destroy(l->js);
    natsConnection_Destroy(l->nc);
    l->kv = NULL;
    l->js = NULL;
    l->nc = NULL;
    pthread_mutex_lock(&l->lock);
    l->st.connected = 0;
    pthread_mutex_unlock(&l->lock);
}

static void on_link(void *closure, int up)
{
    tms_lease *l = closure;
    pthread_mutex_lock(&l->lock);
    l->st.connected = up;
    pthread_mutex_unlock(&l->lock);
}

/* Connect, and find or create the bucket: 0, or -1 (retry later). */
static int connect_up(tms_lease *l)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = (int64_t)(l->ttl_ns / 4 / 1000000);   /* a request unanswered that long is retried: not 5 s */
    l->link = (tms__nats_link){on_link, l};
    natsStatus s = tms__nats_connect(l->opts, &jo, &l->link, &l->nc, &l->js);
    if (s == NATS_OK && (s = js_KeyValue(&l->kv, l->js, l->bucket)) == NATS_NOT_FOUND) {
        kvConfig c;
        kvConfig_Init(&c);
        c.Bucket = l->bucket;
        c.History = 1;
        c.TTL = (int64_t)l->ttl_ns;   /* nats.c 3.4 passes it on as the stream's max age, in ns */
        c.StorageType = js_FileStorage;
        c.Replicas = l->replicas > 0 ? l->replicas : 1;
        s = js_CreateKeyValue(&l->kv, l->js, &c);
    }
    if (s != NATS_OK) {
        set_error(l, "cannot reach the bucket %s at %s: %s (%s)", l->bucket, l->url, natsStatus_GetText(s),
                  nats_GetLastError(NULL));
        disconnect(l);
        return -1;
    }
    pthread_mutex_lock(&l->lock);
    l->st.connected = 1;
    l->st.error[0] = '\0';
    pthread_mutex_unlock(&l->lock);
    return 0;
}

/* Our value, with the term when known. */
static int value(const tms_lease *l, uint64_t term, char out[VALUE_MAX])
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "node", l->node, "addr", l->addr, "http", l->http, "term",
                          (json_int_t)term);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    int n = text ? snprintf(out, VALUE_MAX, "%s", text) : -1;
    free(text);
    json_decref(o);
    return n > 0 && n < VALUE_MAX ? n : -1;
}

/* Read who holds the lease (not us): holder, addresses, term, its expiry. */
static void read_holder(tms_lease *l, kvEntry *e)
{
    const void *v = kvEntry_Value(e);
    json_t *o = v ? json_loadb((const char *)v, (size_t)kvEntry_ValueLen(e), 0, NULL) : NULL;
    const char *node = NULL, *addr = "", *http = "";
    json_int_t term = 0;
    if (!o || json_unpack(o, "{s:s,s?s,s?s,s?I}", "node", &node, "addr", &addr, "http", &http, "term", &term))
        node = "?";
    int64_t age_ms = ((int64_t)time(NULL) * 1000000000 - kvEntry_Created(e)) / 1000000;
    pthread_mutex_lock(&l->lock);
    int news = strcmp(l->st.holder, node) != 0;
    snprintf(l->st.holder, sizeof l->st.holder, "%s", node);
    snprintf(l->st.holder_addr, sizeof l->st.holder_addr, "%s", addr);
    snprintf(l->st.holder_http, sizeof l->st.holder_http, "%s", http);
    l->st.term = term > 0 ? (uint64_t)term : kvEntry_Revision(e);
    l->st.holder_expires_ms = (int64_t)(l->ttl_ns / 1000000) - age_ms;
    pthread_mutex_unlock(&l->lock);
    json_decref(o);
    if (news)
        changed(l);
}

/* The stream's last seq, right after taking the lease: where the new leader catches up to. */
static void read_stream_end(tms_lease *l)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, l->js, l->stream, NULL, &jerr);
    if (s != NATS_OK && s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
        set_error(l, "took the lease, cannot read the stream %s: %s", l->stream, natsStatus_GetText(s));
        return;
    }
    pthread_mutex_lock(&l->lock);
    l->st.stream_last = si ? si->State.LastSeq : 0;   /* no stream yet: nothing to catch up with */
    l->st.stream_known = 1;
    pthread_mutex_unlock(&l->lock);
    jsStreamInfo_Destroy(si);
    changed(l);
}

static void lost(tms_lease *l, const char *why)
{
    pthread_mutex_lock(&l->lock);
    int was = l->st.held;
    l->st.held = 0;
    l->st.valid_until = 0;
    l->st.stream_known = 0;
    l->st.lost += was;
    pthread_mutex_unlock(&l->lock);
    if (was) {
        say(l, "warn", "lost the leader lease: %s", why);
        changed(l);
    }
}

/* A holder that resigned left this value: the key at its revision, no node. */
#define RESIGNED "{\"node\":\"\",\"addr\":\"\",\"http\":\"\",\"term\":0}"

/* The lease is ours from revision rev, written at `sent` (CLOCK_BOOTTIME). */
static void took(tms_lease *l, uint64_t sent, uint64_t rev)
{
    l->rev = rev;
    l->next_renew = sent + l->ttl_ns / 4;
    pthread_mutex_lock(&l->lock);
    l->st.held = 1;
    l->st.term = rev;
    l->st.valid_until = sent + l->ttl_ns - l->margin_ns;
    l->st.stream_known = 0;
    l->st.taken++;
    snprintf(l->st.holder, sizeof l->st.holder, "%s", l->node);
    snprintf(l->st.holder_addr, sizeof l->st.holder_addr, "%s", l->addr);
    snprintf(l->st.holder_http, sizeof l->st.holder_http, "%s", l->http);
    l->st.holder_expires_ms = -1;
    pthread_mutex_unlock(&l->lock);
    say(l, "info", "took the leader lease (term %llu)", (unsigned long long)rev);
    changed(l);
    read_stream_end(l);
}

/* Not holding: look; take it when nobody holds it: the key absent (aged
 * out: kvStore_Create) or left by a holder that resigned (kvStore_Update
 * at that revision). Both are compare-and-set: one node wins. */
static void contend(tms_lease *l)
{
    kvEntry *e = NULL;
    char v[VALUE_MAX];
    uint64_t rev = 0, was = 0;
    natsStatus s = kvStore_Get(&e, l->kv, KEY);
    if (s == NATS_OK) {
        read_holder(l, e);
        int resigned = (size_t)kvEntry_ValueLen(e) == strlen(RESIGNED) &&
                       !memcmp(kvEntry_Value(e), RESIGNED, strlen(RESIGNED));
        was = kvEntry_Revision(e);
        kvEntry_Destroy(e);
        if (!resigned)
            return;
    } else if (s != NATS_NOT_FOUND) {
        set_error(l, "reading the lease: %s", natsStatus_GetText(s));
        return;
    }
    uint64_t sent = tms_lease_now();
    if (value(l, 0, v) < 0)
        return;
    s = was ? kvStore_Update(&rev, l->kv, KEY, v, (int)strlen(v), was) : kvStore_Create(&rev, l->kv, KEY, v, (int)strlen(v));
    if (s == NATS_OK)   /* else another node took it first (or NATS failed): look again */
        took(l, sent, rev);
}

/* Holding: renew when due. A refusal (anybody else wrote the key, or it
 * aged out) loses it at once; other failures lose it once our clock says
 * it may have passed. */
static void renew(tms_lease *l)
{
    char v[VALUE_MAX];
    uint64_t now = tms_lease_now(), rev = 0, term;
    pthread_mutex_lock(&l->lock);
    uint64_t until = l->st.valid_until;
    int known = l->st.stream_known;
    term = l->st.term;
    pthread_mutex_unlock(&l->lock);
    if (now >= until) {
        lost(l, "not renewed in time (NATS did not answer)");
        return;
    }
    if (!known)
        read_stream_end(l);
    if (now < l->next_renew)
        return;
    natsStatus s = value(l, term, v) < 0 ? NATS_ERR : kvStore_Update(&rev, l->kv, KEY, v, (int)strlen(v), l->rev);
    if (s == NATS_OK) {
        l->rev = rev;
        l->next_renew = now + l->ttl_ns / 4;
        pthread_mutex_lock(&l->lock);
        if (l->st.held)
            l->st.valid_until = now + l->ttl_ns - l->margin_ns;
        pthread_mutex_unlock(&l->lock);
    } else if (s == NATS_ERR) {   /* the server refused: the key is not at our revision any more */
        lost(l, nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "the renewal was refused");
    } else {
        set_error(l, "renewing the lease: %s", natsStatus_GetText(s));
    }
}

/* Hand the lease on at once: our revision overwritten by RESIGNED, a
 * compare-and-set (never a successor's key, even if this process froze
 * between the check and the write); else it ages out. */
static void give_up(tms_lease *l)
{
    uint64_t rev = 0;
    if (tms_lease_valid(l) &&
        kvStore_Update(&rev, l->kv, KEY, RESIGNED, (int)strlen(RESIGNED), l->rev) == NATS_OK)
        say(l, "info", "resigned the leader lease");
    lost(l, "resigned");
}

static void nap(tms_lease *l, uint64_t ns)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);   /* the condition waits on it: a wall-clock step never stalls */
    until.tv_nsec += (long)(ns % 1000000000u);
    until.tv_sec += (time_t)(ns / 1000000000u) + until.tv_nsec / 1000000000;
    until.tv_nsec %= 1000000000;
    pthread_mutex_lock(&l->lock);
    if (!l->stop && !l->resign)
        pthread_cond_timedwait(&l->wake, &l->lock, &until);
    pthread_mutex_unlock(&l->lock);
}

static void *run(void *arg)
{
    tms_lease *l = arg;
    uint64_t look = l->ttl_ns / 12 > 50000000u ? l->ttl_ns / 12 : 50000000u;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        int stop = l->stop, resign = l->resign, retired = l->retired, held = l->st.held;
        l->resign = 0;
        pthread_mutex_unlock(&l->lock);
        if (stop) {
            if (resign && l->kv)   /* asked just before the stop: hand the lease on now */
                give_up(l);
            break;
        }
        if (held && !tms_lease_valid(l))
            lost(l, "not renewed in time");
        if (!l->kv && connect_up(l)) {
            nap(l, RETRY_MS * 1000000ull);
            continue;
        }
        if (resign)
            give_up(l);
        else if (held)
            renew(l);
        else if (!retired)
            contend(l);
        nap(l, retired ? 1000000000u : held ? look / 2 : look);
    }
    disconnect(l);
    return NULL;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > TMS_LEASE_NAME_MAX)
        return 0;
    return s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] == '\0';
}

static tms_err lease_init(tms_lease *l, const tms_lease_options *o, char *why, size_t whylen)
{
    char subject[TMS__STREAM_MAX + 8];
    unsigned ttl = o->ttl_ms ? o->ttl_ms : TMS_LEASE_TTL_DEFAULT_MS;
    if (!o->node || !name_ok(o->node))
        return snprintf(why, whylen, "--node: 1 to %d letters, digits, '.', '_' or '-'", TMS_LEASE_NAME_MAX),
               TMS_E_INVAL;
    if (ttl < 300)
        return snprintf(why, whylen, "the lease's time to live is at least 300 ms"), TMS_E_INVAL;
    if (tms__stream_names(o->stream, l->stream, subject, why, whylen))
        return TMS_E_INVAL;
    if (strlen(o->url) >= sizeof l->url || (o->addr && strlen(o->addr) >= sizeof l->addr) ||
        (o->http && strlen(o->http) >= sizeof l->http))
        return snprintf(why, whylen, "NATS URL or advertised address too long"), TMS_E_INVAL;
    snprintf(l->bucket, sizeof l->bucket, "%s_lease", l->stream);
    snprintf(l->url, sizeof l->url, "%s", o->url);
    snprintf(l->node, sizeof l->node, "%s", o->node);
    snprintf(l->addr, sizeof l->addr, "%s", o->addr ? o->addr : "");
    snprintf(l->http, sizeof l->http, "%s", o->http ? o->http : "");
    l->ttl_ns = (uint64_t)ttl * 1000000u;
    l->margin_ns = l->ttl_ns / 4;
    l->replicas = o->replicas;
    l->on_change = o->on_change;
    l->ctx = o->ctx;
    l->log = o->nats.log;
    l->st.holder_expires_ms = -1;
    if (tms__nats_options(o->url, &o->nats, &l->opts, why, whylen))
        return TMS_E_INVAL;
    return TMS_OK;
}

tms_err tms_lease_start(const tms_lease_options *o, tms_lease **out, char *why, size_t whylen)
{
    tms_lease *l = calloc(1, sizeof *l);
    *out = NULL;
    if (!l)
        return TMS_E_NOMEM;
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    tms_err err = lease_init(l, o, why, whylen);
    if (!err && pthread_create(&l->thread, NULL, run, l)) {
        snprintf(why, whylen, "cannot start the lease's thread");
        err = TMS_E_NOMEM;
    }
    if (err) {
        tms_lease_free(l);
        return err;
    }
    l->thread_up = 1;
    *out = l;
    return TMS_OK;
}

void tms_lease_status_get(tms_lease *l, tms_lease_status *out)
{
    pthread_mutex_lock(&l->lock);
    *out = l->st;
    pthread_mutex_unlock(&l->lock);
}

int tms_lease_valid(tms_lease *l)
{
    pthread_mutex_lock(&l->lock);
    int ok = l->st.held && tms_lease_now() < l->st.valid_until;
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void tms_lease_resign(tms_lease *l, int for_good)
{
    pthread_mutex_lock(&l->lock);
    l->resign = 1;
    l->retired |= for_good;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
}

void tms_lease_halt(tms_lease *l)
{
    if (!l || !l->thread_up)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    l->thread_up = 0;
    natsOptions_Destroy(l->opts);   /* before the NATS library closes */
    l->opts = NULL;
}

void tms_lease_free(tms_lease *l)
{
    if (!l)
        return;
    tms_lease_halt(l);
    natsOptions_Destroy(l->opts);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake);
    free(l);
}
