/* bench_submit.c -- durable submits for bench_sqlite: tms_engine_submit at
 * batch sizes 1, 10, 100, 1000 against SQLite (WAL, synchronous=FULL, the
 * command row INSERTed and the account UPDATEd; one transaction per command,
 * and one per batch) and a raw append+fdatasync loop with the same batch
 * sizes and record size. Every contender parses the same JSON commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_sqlite.h"

#define NBATCH 4
static const int batches[NBATCH] = {1, 10, 100, 1000};
static const int share[NBATCH] = {100, 20, 5, 1};   /* n = submits / share */

typedef struct run_stats {
    long n, rejected;
    double secs;
    lat_stats lat;        /* per batch (per command at batch 1) */
} run_stats;

/* SetPermissions by the extension's owner flipping reports.view (which every
 * manager holds: always accepted, always a change). Flips *has. */
static void next_json(const bench *b, const target *g, int *has, char *buf, size_t len)
{
    snprintf(buf, len,
             "{\"cmd\":\"SetPermissions\",\"tenant\":\"%s\",\"actor\":\"%s\",\"origin\":\"tms-web 10.0.0.7\","
             "\"kind\":\"extension\",\"id\":\"%s\",\"enable\":[%s],\"disable\":[%s]}",
             b->tenants[g->k->tenant], g->actor, g->k->id, *has ? "" : "\"reports.view\"", *has ? "\"reports.view\"" : "");
    *has = !*has;
}

static void parse(tms_cmd *c, const char *json)
{
    char why[256];
    tms_cmd_init(c);
    if (tms_cmd_from_json(c, json, strlen(json), why, sizeof why))
        bench_die("bad command %s: %s", json, why);
}

static double *lat_alloc(long n, int batch)
{
    double *lat = malloc(sizeof *lat * (size_t)(n / batch + 1));
    if (!lat)
        bench_die("out of memory");
    return lat;
}

static run_stats engine_run(bench *b, tms_engine *eng, long n, int batch, long *cursor)
{
    static tms_cmd cmds[1000];
    static tms_submission subs[1000];
    char json[512], why[512];
    run_stats r = {n, 0, 0, {0, 0}};
    double *lat = lat_alloc(n, batch);
    long nb = 0;
    double t0 = bench_now();
    for (long i = 0; i < n; i += batch) {
        int m = (int)((n - i) < batch ? (n - i) : batch);
        double b0 = bench_now();
        for (int k = 0; k < m; k++) {
            target *g = &b->targets[(*cursor)++ % b->ntargets];
            next_json(b, g, &g->has, json, sizeof json);
            parse(&cmds[k], json);
            memset(&subs[k], 0, sizeof subs[k]);
            subs[k].cmd = &cmds[k];
        }
        if (tms_engine_submit(eng, subs, (size_t)m, why, sizeof why))
            bench_die("submit: %s", why);
        lat[nb++] = bench_now() - b0;
        for (int k = 0; k < m; k++) {
            r.rejected += subs[k].verdict.code != TMS_OK;
            tms_cmd_free(&cmds[k]);
        }
    }
    r.secs = bench_now() - t0;
    r.lat = bench_percentiles(lat, (size_t)nb);
    free(lat);
    return r;
}

/* What a SQL implementation would do per command: parse, INSERT the command
 * row, UPDATE the account (no rule checks: that favours SQLite). */
static void sqlite_one(bench *b, sqlite3_stmt *ins, sqlite3_stmt *upd, const target *g, int *has)
{
    char json[512];
    struct timespec ts;
    tms_cmd c;
    int enable = !*has;
    next_json(b, g, has, json, sizeof json);
    parse(&c, json);
    clock_gettime(CLOCK_REALTIME, &ts);
    sqlite3_bind_int64(ins, 1, (sqlite3_int64)ts.tv_sec * 1000000000 + ts.tv_nsec);
    sqlite3_bind_text(ins, 2, b->tenants[g->k->tenant], -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, g->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(upd, 1, enable ? (sqlite3_int64)1 << TMS_P_REPORTS_VIEW : 0);
    sqlite3_bind_int64(upd, 2, enable ? 0 : (sqlite3_int64)1 << TMS_P_REPORTS_VIEW);
    sqlite3_bind_text(upd, 3, b->tenants[g->k->tenant], -1, SQLITE_STATIC);
    sqlite3_bind_text(upd, 4, g->k->id, -1, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE || sqlite3_step(upd) != SQLITE_DONE || sqlite3_changes(b->db) != 1)
        bench_die("sqlite submit: %s", sqlite3_errmsg(b->db));
    sqlite3_reset(ins);
    sqlite3_reset(upd);
    tms_cmd_free(&c);
}

static run_stats sqlite_run(bench *b, long n, int batch, long *cursor, int *has)
{
    sqlite3_stmt *ins = sql_prepare(b->db, "INSERT INTO commands(time, tenant, actor, verdict, cmd) "
                                           "VALUES(?1, ?2, ?3, 'accepted', ?4)");
    sqlite3_stmt *upd = sql_prepare(b->db, "UPDATE accounts SET perms = (perms | ?1) & ~?2 "
                                           "WHERE tenant = ?3 AND kind = 'e' AND id = ?4");
    run_stats r = {n, 0, 0, {0, 0}};
    double *lat = lat_alloc(n, batch);
    long nb = 0;
    double t0 = bench_now();
    for (long i = 0; i < n; i += batch) {
        long m = (n - i) < batch ? (n - i) : batch;
        double b0 = bench_now();
        sql_exec(b->db, "BEGIN IMMEDIATE");
        for (long k = 0; k < m; k++, (*cursor)++)
            sqlite_one(b, ins, upd, &b->targets[*cursor % b->ntargets], &has[*cursor % b->ntargets]);
        sql_exec(b->db, "COMMIT");
        lat[nb++] = bench_now() - b0;
    }
    r.secs = bench_now() - t0;
    r.lat = bench_percentiles(lat, (size_t)nb);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    free(lat);
    return r;
}

static run_stats raw_run(const bench *b, long n, int batch, size_t reclen)
{
    char path[4200];
    run_stats r = {n, 0, 0, {0, 0}};
    double *lat = lat_alloc(n, batch);
    snprintf(path, sizeof path, "%s/raw.log", b->work);
    r.secs = bench_raw_append(path, n, batch, reclen, lat);
    r.lat = bench_percentiles(lat, (size_t)((n + batch - 1) / batch));
    free(lat);
    return r;
}

static double rate(const run_stats *r) { return r->n / r->secs; }

static void print_tables(const run_stats *tms, const run_stats *sql, const run_stats *raw, size_t reclen, double t_open,
                         uint64_t records)
{
    char v[64];
    double base = rate(&sql[0]);
    for (int i = 0; i < NBATCH; i++) {
        double x = rate(&tms[i]) / base;
        if (x >= 20)
            snprintf(v, sizeof v, "met");
        else
            snprintf(v, sizeof v, "missed: %.2fx of the target", x / 20);
        printf("| durable submit, batch %d (%ld cmds) | %.0f cmd/s, p50 %.2f ms, p99 %.2f ms | SQLite 1 txn/cmd: %.0f cmd/s, "
               "p50 %.2f ms, p99 %.2f ms | %.1fx | >= 20x: %s |\n", batches[i], tms[i].n, rate(&tms[i]),
               tms[i].lat.p50 * 1e3, tms[i].lat.p99 * 1e3, base, sql[0].lat.p50 * 1e3, sql[0].lat.p99 * 1e3, x, v);
    }
    printf("| engine open: verify the %llu-record log, level the projection | %.2f s | | | |\n",
           (unsigned long long)records, t_open);
    printf("\nDurable submit in detail (latency per batch; %zu-byte records for the raw loop, the mean frame the "
           "engine wrote):\n\n| batch | tmsperm cmd/s | p50 / p99 ms | SQLite, 1 txn per batch: cmd/s | p50 / p99 ms "
           "| raw append+fdatasync rec/s | p50 / p99 ms | tmsperm / SQLite same batch | tmsperm / raw |\n"
           "|---|---|---|---|---|---|---|---|---|\n", reclen);
    for (int i = 0; i < NBATCH; i++)
        printf("| %d | %.0f | %.2f / %.2f | %.0f | %.2f / %.2f | %.0f | %.2f / %.2f | %.2f | %.2f |\n", batches[i],
               rate(&tms[i]), tms[i].lat.p50 * 1e3, tms[i].lat.p99 * 1e3, rate(&sql[i]), sql[i].lat.p50 * 1e3,
               sql[i].lat.p99 * 1e3, rate(&raw[i]), raw[i].lat.p50 * 1e3, raw[i].lat.p99 * 1e3,
               rate(&tms[i]) / rate(&sql[i]), rate(&tms[i]) / rate(&raw[i]));
}

void bench_submit(bench *b)
{
    run_stats tms[NBATCH], sql[NBATCH], raw[NBATCH];
    char why[512];
    tms_engine *eng;
    long cursor = 0, sql_cursor = 0;
    int *has = malloc(sizeof *has * (size_t)b->ntargets);
    if (!has)
        bench_die("out of memory");
    for (long i = 0; i < b->ntargets; i++)
        has[i] = b->targets[i].has;
    double t0 = bench_now();
    if (tms_engine_open(b->data, NULL, &eng, why, sizeof why))
        bench_die("engine open: %s", why);
    double t_open = bench_now() - t0;
    uint64_t records = tms_engine_last_seq(eng);
    size_t reclen = 0;
    for (int i = 0; i < NBATCH; i++) {   /* the three contenders back to back at each batch size */
        long n = b->submits / share[i];
        uint64_t bytes0 = bench_log_bytes(b->data);
        tms[i] = engine_run(b, eng, n, batches[i], &cursor);
        if (tms[i].rejected)
            bench_die("%ld submits rejected at batch %d: the data set is not what gen_log writes", tms[i].rejected,
                      batches[i]);
        reclen = (size_t)((bench_log_bytes(b->data) - bytes0) / (uint64_t)n);
        sql[i] = sqlite_run(b, n, batches[i], &sql_cursor, has);
        raw[i] = raw_run(b, n, batches[i], reclen);
    }
    tms_engine_close(eng);
    print_tables(tms, sql, raw, reclen, t_open, records);
    fflush(stdout);
    free(has);
}
