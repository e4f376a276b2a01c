/* sock_run.c -- one measurement: nconn threads, each with its own blocking
 * connection (tmsclient.h, hiredis, libpq or libcurl), connect first, start together
 * on a barrier, then do a fixed number of rounds (one call, one check_batch
 * frame, one submit frame, one Redis pipeline, or one PostgreSQL commit
 * each), timing every round. */
#include "bench_socket.h"
#include "tmsclient.h"
#include "tmsperm_schema.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES 320

typedef struct worker {
    sb_run *r;
    int idx;
    pthread_barrier_t *bar;
    uint64_t *lat;               /* ns per round */
    size_t nlat;
    uint64_t ops, allows, errors, t_end;
    const char *(*q)[4];         /* tmsd check frame */
    uint8_t *allow;
    char *text;                  /* tmsd submit frame: batch lines */
    const char **lines;
    size_t *lens;
    tms_client_result *res;
    char why[256];
} worker;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

redisContext *sb_redis_connect(const char *addr, char *why, size_t whylen)
{
    redisContext *rc;
    if (strchr(addr, '/')) {
        rc = redisConnectUnix(addr);
    } else {
        char host[256];
        const char *colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof host) {
            snprintf(why, whylen, "bad Redis address %s", addr);
            return NULL;
        }
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        rc = redisConnect(host, atoi(colon + 1));
    }
    if (!rc || rc->err) {
        snprintf(why, whylen, "cannot connect to Redis at %s: %s", addr, rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return NULL;
    }
    return rc;
}

static int tmsd_check_round(tms_client *tc, worker *w, const sb_item *it, int n)
{
    const sb_dataset *ds = w->r->ds;
    if (n == 1) {
        int a = tms_client_check(tc, SB_TENANT, "extension", ds->ids[it->ext], ds->perm_names[it->perm]);
        if (a < 0)
            snprintf(w->why, sizeof w->why, "tmsd check: %s", tms_err_name((tms_err)-a));
        w->allows += a > 0;
        return a < 0 ? -1 : 0;
    }
    for (int k = 0; k < n; k++) {
        w->q[k][0] = SB_TENANT;
        w->q[k][1] = "extension";
        w->q[k][2] = ds->ids[it[k].ext];
        w->q[k][3] = ds->perm_names[it[k].perm];
    }
    tms_err err = tms_client_check_batch(tc, (const char *const(*)[4])w->q, (size_t)n, w->allow);
    if (err) {
        snprintf(w->why, sizeof w->why, "tmsd check_batch: %s", tms_err_name(err));
        return -1;
    }
    for (int k = 0; k < n; k++)
        w->allows += w->allow[k];
    return 0;
}

/* One submit frame of n toggles; "allows" counts accepted commands. */
static int tmsd_submit_round(tms_client *tc, worker *w, const sb_item *it, int n)
{
    for (int k = 0; k < n; k++) {
        char *line = w->text + (size_t)k * LINE_MAX_BYTES;
        int len = sb_format_toggle(w->r->ds, &it[k], line, LINE_MAX_BYTES);
        w->lines[k] = line;
        w->lens[k] = len < 0 ? 0 : (size_t)len;
    }
    tms_err err = tms_client_submit_json(tc, w->lines, w->lens, (size_t)n, w->res);
    if (err) {
        snprintf(w->why, sizeof w->why, "tmsd submit: %s %.200s", tms_err_name(err), w->res[0].message);
        return -1;
    }
    for (int k = 0; k < n; k++) {
        if (w->res[k].verdict == TMS_OK)
            w->allows++;
        else if (!w->errors++)
            snprintf(w->why, sizeof w->why, "tmsd verdict %s: %.200s", tms_err_name(w->res[k].verdict),
                     w->res[k].message);
    }
    return 0;
}

/* Checks: SISMEMBER, 1 counts as allow. Submits: SADD/SREM, 1 = changed. */
static int redis_round(redisContext *rc, worker *w, const sb_item *it, int n)
{
    const sb_dataset *ds = w->r->ds;
    for (int k = 0; k < n; k++) {
        const char *verb = w->r->op == SB_CHECK ? "SISMEMBER" : it[k].enable ? "SADD" : "SREM";
        const char *argv[3] = {verb, ds->keys[it[k].ext], ds->perm_names[it[k].perm]};
        if (n == 1) {   /* the plain blocking call a client would use */
            redisReply *rep = redisCommandArgv(rc, 3, argv, NULL);
            if (!rep) {
                snprintf(w->why, sizeof w->why, "redis: %s", rc->errstr);
                return -1;
            }
            w->allows += rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
            freeReplyObject(rep);
            return 0;
        }
        redisAppendCommandArgv(rc, 3, argv, NULL);
    }
    for (int k = 0; k < n; k++) {
        redisReply *rep = NULL;
        if (redisGetReply(rc, (void **)&rep) != REDIS_OK) {
            snprintf(w->why, sizeof w->why, "redis: %s", rc->errstr);
            return -1;
        }
        w->allows += rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
        freeReplyObject(rep);
    }
    return 0;
}

/* The connection of one worker, whichever system it talks to. */
typedef struct conns {
    tms_client *tc;
    redisContext *rc;
    struct pg_conn *pg;
    struct http_conn *hc;
} conns;

static int one_round(worker *w, const conns *c, const sb_item *it)
{
    sb_run *r = w->r;
    switch (r->sys) {
    case SB_REDIS:
        return redis_round(c->rc, w, it, r->batch);
    case SB_PG:   /* submits only: sb_durable_main never plans PostgreSQL checks */
#ifdef SB_HAVE_PG
        return sb_pg_round(c->pg, r->ds, it, r->batch, &w->allows, w->why, sizeof w->why);
#else
        snprintf(w->why, sizeof w->why, "built without libpq");
        return -1;
#endif
    case SB_HTTP:   /* checks only: sb_http_main plans nothing else */
#ifdef SB_HAVE_CURL
        return sb_http_check_round(c->hc, r->ds, it, r->batch, &w->allows, w->why, sizeof w->why);
#else
        snprintf(w->why, sizeof w->why, "built without libcurl");
        return -1;
#endif
    case SB_TMSD:
        break;
    }
    return r->op == SB_CHECK ? tmsd_check_round(c->tc, w, it, r->batch) : tmsd_submit_round(c->tc, w, it, r->batch);
}

static void rounds(worker *w, const conns *c)
{
    sb_run *r = w->r;
    const sb_item *items = r->items[w->idx];
    for (size_t k = 0; k < w->nlat; k++) {
        const sb_item *it = items + k * (size_t)r->batch;
        uint64_t t0 = now_ns();
        int rv = one_round(w, c, it);
        w->lat[k] = now_ns() - t0;
        if (rv < 0) {
            w->errors++;
            w->nlat = k;
            return;
        }
        w->ops += (uint64_t)r->batch;
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    conns c = {0};
    if (w->r->sys == SB_TMSD)
        tms_client_connect(w->r->addr, NULL, &c.tc, w->why, sizeof w->why);
    else if (w->r->sys == SB_REDIS)
        c.rc = sb_redis_connect(w->r->addr, w->why, sizeof w->why);
#ifdef SB_HAVE_CURL
    else if (w->r->sys == SB_HTTP)
        c.hc = sb_http_connect(w->r->addr, w->why, sizeof w->why);
#endif
#ifdef SB_HAVE_PG
    else
        c.pg = sb_pg_connect(w->r->addr, 1, w->why, sizeof w->why);
#endif
    pthread_barrier_wait(w->bar);
    if (c.tc || c.rc || c.pg || c.hc)
        rounds(w, &c);
    else {
        w->errors++;
        w->nlat = 0;
    }
    w->t_end = now_ns();
    tms_client_close(c.tc);
    redisFree(c.rc);
#ifdef SB_HAVE_PG
    sb_pg_close(c.pg);
#endif
#ifdef SB_HAVE_CURL
    sb_http_close(c.hc);
#endif
    return NULL;
}

static int worker_init(worker *w, sb_run *r, int idx, pthread_barrier_t *bar)
{
    size_t b = (size_t)r->batch;
    memset(w, 0, sizeof *w);
    w->r = r;
    w->idx = idx;
    w->bar = bar;
    w->nlat = r->per_conn / b;
    w->lat = calloc(w->nlat ? w->nlat : 1, sizeof *w->lat);
    w->q = calloc(b, sizeof *w->q);
    w->allow = calloc(b, 1);
    w->text = calloc(b, LINE_MAX_BYTES);
    w->lines = calloc(b, sizeof *w->lines);
    w->lens = calloc(b, sizeof *w->lens);
    w->res = calloc(b, sizeof *w->res);
    return w->lat && w->q && w->allow && w->text && w->lines && w->lens && w->res ? 0 : -1;
}

static void worker_free(worker *w)
{
    free(w->lat);
    free(w->q);
    free(w->allow);
    free(w->text);
    free(w->lines);
    free(w->lens);
    free(w->res);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Totals, first error, and p50/p99 over every round of every worker. */
static int summarise(sb_run *r, worker *ws, uint64_t t0)
{
    size_t total = 0, at = 0;
    uint64_t t_end = t0;
    for (int i = 0; i < r->nconn; i++) {
        total += ws[i].nlat;
        r->ops += ws[i].ops;
        r->allows += ws[i].allows;
        r->errors += ws[i].errors;
        t_end = ws[i].t_end > t_end ? ws[i].t_end : t_end;
        if (!r->why[0] && ws[i].why[0])
            snprintf(r->why, sizeof r->why, "%s", ws[i].why);
    }
    r->secs = (double)(t_end - t0) / 1e9;
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    if (!all)
        return -1;
    for (int i = 0; i < r->nconn; i++) {
        memcpy(all + at, ws[i].lat, ws[i].nlat * sizeof *all);
        at += ws[i].nlat;
    }
    qsort(all, total, sizeof *all, cmp_u64);
    r->p50_us = total ? (double)all[(total - 1) / 2] / 1e3 : 0;
    r->p99_us = total ? (double)all[(total - 1) * 99 / 100] / 1e3 : 0;
    free(all);
    return 0;
}

/* Run r; 0 when it ran (r->errors says whether every round succeeded). */
int sb_run_exec(sb_run *r)
{
    worker *ws = calloc((size_t)r->nconn, sizeof *ws);
    pthread_t *th = calloc((size_t)r->nconn, sizeof *th);
    pthread_barrier_t bar;
    int ok = ws && th;
    for (int i = 0; ok && i < r->nconn; i++)
        ok = worker_init(&ws[i], r, i, &bar) == 0;
    if (!ok || pthread_barrier_init(&bar, NULL, (unsigned)r->nconn + 1) != 0) {
        for (int i = 0; ws && i < r->nconn; i++)
            worker_free(&ws[i]);
        free(ws);
        free(th);
        snprintf(r->why, sizeof r->why, "out of memory");
        return -1;
    }
    for (int i = 0; i < r->nconn; i++)
        if (pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "bench_socket: cannot start thread %d of %d\n", i, r->nconn);
            exit(2);   /* the barrier cannot be released any more */
        }
    pthread_barrier_wait(&bar);
    uint64_t t0 = now_ns();
    for (int i = 0; i < r->nconn; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    int rc = summarise(r, ws, t0);
    for (int i = 0; i < r->nconn; i++)
        worker_free(&ws[i]);
    free(ws);
    free(th);
    return rc;
}
