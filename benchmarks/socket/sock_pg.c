/* sock_pg.c -- PostgreSQL as bench_socket's durable-submit peer (issue 7).
 * The equivalent of one SetPermissions toggle is one UPDATE of one row of
 * ext(tenant, id, perms): perms holds the extension's permission bits in the
 * order of sb_dataset.perm_names. Enable and disable are two prepared
 * statements whose WHERE also requires the bit to change, so "1 row" means
 * the same as tmsd's "accepted" and Redis's "changed".
 *
 * One command per commit is one PQexecPrepared in autocommit; B commands per
 * commit are BEGIN, B UPDATEs and COMMIT sent in one libpq pipeline (one
 * round trip, one transaction): what a competent libpq user would write. */
#include "bench_socket.h"
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COPY_CHUNK 65536

static const char sql_enable[] =
    "UPDATE ext SET perms = perms | $3 WHERE tenant = $1 AND id = $2 AND perms & $3 = 0";
static const char sql_disable[] =
    "UPDATE ext SET perms = perms & ~$3 WHERE tenant = $1 AND id = $2 AND perms & $3 <> 0";

/* A fillfactor below 100 leaves room on each page for the new row version,
 * so an UPDATE of perms stays on its page (HOT) and skips the index: the
 * usual choice for a table that is updated in place. */
static const char sql_schema[] =
    "SET client_min_messages = warning;"
    "DROP TABLE IF EXISTS ext;"
    "CREATE TABLE ext (tenant text NOT NULL, id text NOT NULL, perms integer NOT NULL,"
    " PRIMARY KEY (tenant, id)) WITH (fillfactor = 80)";

static void pg_why(char *why, size_t whylen, const char *what, const PGconn *pc, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pc);
    snprintf(why, whylen, "postgres %s: %.*s", what, (int)strcspn(msg, "\n"), msg);
}

/* Run one statement that returns no rows; -1 (and why) unless it succeeded. */
static int exec_ok(PGconn *pc, const char *sql, char *why, size_t whylen)
{
    PGresult *res = PQexec(pc, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        pg_why(why, whylen, sql, pc, res);
    PQclear(res);
    return ok ? 0 : -1;
}

/* Run each prepared toggle once on an extension that does not exist: the
 * backend loads its catalogue caches and plans before the clock starts, as
 * in a pooled connection, and nothing is written (no row, no WAL). */
static int warm_up(PGconn *pc, char *why, size_t whylen)
{
    const char *vals[3] = {SB_TENANT, "none", "1"};
    const char *names[2] = {"en", "dis"};
    for (int i = 0; i < 2; i++) {
        PGresult *res = PQexecPrepared(pc, names[i], 3, vals, NULL, NULL, 0);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(res), "0") == 0;
        if (!ok)
            pg_why(why, whylen, "warm-up", pc, res);
        PQclear(res);
        if (!ok)
            return -1;
    }
    return 0;
}

/* Connect; with prepare, also prepare "en" and "dis" (the two toggles) and
 * run each once without effect (warm_up). */
PGconn *sb_pg_connect(const char *conninfo, int prepare, char *why, size_t whylen)
{
    PGconn *pc = PQconnectdb(conninfo);
    if (!pc || PQstatus(pc) != CONNECTION_OK) {
        pg_why(why, whylen, "connect", pc, NULL);
        PQfinish(pc);
        return NULL;
    }
    const Oid types[3] = {25, 25, 23};   /* text, text, int4 */
    const char *names[2] = {"en", "dis"}, *sql[2] = {sql_enable, sql_disable};
    for (int i = 0; prepare && i < 2; i++) {
        PGresult *res = PQprepare(pc, names[i], sql[i], 3, types);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            pg_why(why, whylen, "prepare", pc, res);
        PQclear(res);
        if (!ok) {
            PQfinish(pc);
            return NULL;
        }
    }
    if (prepare && warm_up(pc, why, whylen) != 0) {
        PQfinish(pc);
        return NULL;
    }
    return pc;
}

void sb_pg_close(PGconn *pc)
{
    PQfinish(pc);   /* NULL is a no-op */
}

/* The three text parameters of a toggle; bit must hold 12 bytes. */
static void toggle_params(const sb_dataset *ds, const sb_item *it, char *bit, const char *vals[3])
{
    snprintf(bit, 12, "%u", 1u << it->perm);
    vals[0] = SB_TENANT;
    vals[1] = ds->ids[it->ext];
    vals[2] = bit;
}

/* One result of a toggle: 1 if it changed one row, 0 if none, -1 on error. */
static int toggle_result(PGconn *pc, PGresult *res, char *why, size_t whylen)
{
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_why(why, whylen, "update", pc, res);
        return -1;
    }
    return strcmp(PQcmdTuples(res), "1") == 0;
}

/* Read the results of a pipeline of nq queries and its sync point. The
 * first query is BEGIN and the last COMMIT when nq > 1; the others are
 * toggles, whose changed rows are added to *changed. After an error the
 * rest of the pipeline is read (aborted) up to the sync, so the connection
 * stays usable; returns -1 then. */
static int drain_pipeline(PGconn *pc, int nq, uint64_t *changed, char *why, size_t whylen)
{
    int rc = 0;
    for (int q = 0; q < nq; q++) {
        PGresult *res = PQgetResult(pc);
        if (!res) {
            pg_why(why, whylen, "pipeline", pc, NULL);
            return -1;
        }
        ExecStatusType st = PQresultStatus(res);
        if (q == 0 || q == nq - 1) {
            if (st != PGRES_COMMAND_OK && rc == 0) {
                pg_why(why, whylen, q ? "COMMIT" : "BEGIN", pc, res);
                rc = -1;
            }
        } else if (rc == 0) {
            int t = toggle_result(pc, res, why, whylen);
            rc = t < 0 ? -1 : 0;
            *changed += t > 0 ? 1u : 0u;
        }
        PQclear(res);
        res = PQgetResult(pc);   /* NULL ends each query's results */
        PQclear(res);
    }
    PGresult *sync = PQgetResult(pc);
    if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC && rc == 0) {
        pg_why(why, whylen, "pipeline sync", pc, sync);
        rc = -1;
    }
    PQclear(sync);
    return rc;
}

/* n toggles in one transaction: BEGIN, n UPDATEs, COMMIT in one pipeline. */
static int pipelined_round(PGconn *pc, const sb_dataset *ds, const sb_item *it, int n, uint64_t *changed,
                           char *why, size_t whylen)
{
    if (!PQenterPipelineMode(pc)) {
        pg_why(why, whylen, "pipeline mode", pc, NULL);
        return -1;
    }
    int sent = PQsendQueryParams(pc, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    for (int k = 0; sent && k < n; k++) {
        char bit[12];
        const char *vals[3];
        toggle_params(ds, &it[k], bit, vals);
        sent = PQsendQueryPrepared(pc, it[k].enable ? "en" : "dis", 3, vals, NULL, NULL, 0);
    }
    sent = sent && PQsendQueryParams(pc, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(pc);
    if (!sent) {
        pg_why(why, whylen, "send", pc, NULL);
        return -1;   /* the connection state is unknown: the caller drops it */
    }
    int rc = drain_pipeline(pc, n + 2, changed, why, whylen);
    if (!PQexitPipelineMode(pc) && rc == 0) {
        pg_why(why, whylen, "exit pipeline mode", pc, NULL);
        rc = -1;
    }
    return rc;
}

/* One round of n toggles: n == 1 is one autocommitted UPDATE (one commit),
 * else one transaction of n. *changed counts rows that changed. */
int sb_pg_round(PGconn *pc, const sb_dataset *ds, const sb_item *it, int n, uint64_t *changed, char *why,
                size_t whylen)
{
    if (n > 1)
        return pipelined_round(pc, ds, it, n, changed, why, whylen);
    char bit[12];
    const char *vals[3];
    toggle_params(ds, it, bit, vals);
    PGresult *res = PQexecPrepared(pc, it->enable ? "en" : "dis", 3, vals, NULL, NULL, 0);
    int t = toggle_result(pc, res, why, whylen);
    PQclear(res);
    *changed += t > 0 ? 1u : 0u;
    return t < 0 ? -1 : 0;
}

/* COPY every extension's bits into ext, chunk by chunk. */
static int copy_rows(PGconn *pc, const sb_dataset *ds, char *why, size_t whylen)
{
    PGresult *res = PQexec(pc, "COPY ext (tenant, id, perms) FROM STDIN");
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok)
        pg_why(why, whylen, "COPY", pc, res);
    PQclear(res);
    char *buf = ok ? malloc(COPY_CHUNK) : NULL;
    size_t used = 0;
    for (long i = 0; ok && buf && i < ds->n; i++) {
        used += (size_t)snprintf(buf + used, COPY_CHUNK - used, "%s\t%s\t%u\n", SB_TENANT, ds->ids[i],
                                 (unsigned)ds->mask[i]);
        if (i == ds->n - 1 || COPY_CHUNK - used < 64) {
            ok = PQputCopyData(pc, buf, (int)used) == 1;
            if (!ok)
                pg_why(why, whylen, "COPY data", pc, NULL);
            used = 0;
        }
    }
    if (ok && !buf)
        snprintf(why, whylen, "out of memory");
    free(buf);
    if (PQputCopyEnd(pc, ok && buf ? NULL : "bench_socket gave up") != 1 && ok && buf)
        pg_why(why, whylen, "COPY end", pc, NULL);
    res = PQgetResult(pc);
    int done = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!done && ok && buf)
        pg_why(why, whylen, "COPY", pc, res);
    for (; res; res = PQgetResult(pc))
        PQclear(res);
    return ok && buf && done ? 0 : -1;
}

/* Create ext, load the data set, VACUUM ANALYZE, CHECKPOINT: every
 * measurement starts from a table with statistics and nothing to flush. */
int sb_pg_load(const sb_dataset *ds, const char *conninfo, char *why, size_t whylen)
{
    PGconn *pc = sb_pg_connect(conninfo, 0, why, whylen);
    if (!pc)
        return -1;
    int rc = exec_ok(pc, sql_schema, why, whylen);
    if (rc == 0)
        rc = copy_rows(pc, ds, why, whylen);
    if (rc == 0)
        rc = exec_ok(pc, "VACUUM (ANALYZE) ext", why, whylen);
    if (rc == 0)
        rc = exec_ok(pc, "CHECKPOINT", why, whylen);
    PQfinish(pc);
    return rc;
}

/* Every row of ext against the data set: the number of extensions whose bits
 * differ or whose row is missing or extra (0 = equal), or -1 on an error. */
long sb_pg_verify(const sb_dataset *ds, const char *conninfo, char *why, size_t whylen)
{
    PGconn *pc = sb_pg_connect(conninfo, 0, why, whylen);
    if (!pc)
        return -1;
    PGresult *res = PQexec(pc, "SELECT id, perms FROM ext WHERE tenant = '" SB_TENANT "'");
    long bad = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_why(why, whylen, "SELECT", pc, res);
    } else {
        int rows = PQntuples(res);
        bad = labs(ds->n - rows);
        for (int r = 0; r < rows; r++) {
            long i = strtol(PQgetvalue(res, r, 0), NULL, 10) - SB_ID_BASE;
            long bits = strtol(PQgetvalue(res, r, 1), NULL, 10);
            bad += i < 0 || i >= ds->n || bits != (long)ds->mask[i];
        }
    }
    PQclear(res);
    PQfinish(pc);
    return bad;
}

/* One value from a one-row query into buf ("?" on an error). */
static void query_value(PGconn *pc, const char *sql, char *buf, size_t len)
{
    PGresult *res = PQexec(pc, sql);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    snprintf(buf, len, "%s", ok ? PQgetvalue(res, 0, 0) : "?");
    PQclear(res);
}

/* The server version and the settings that decide what a commit costs. */
void sb_pg_describe(PGconn *pc, char *buf, size_t len)
{
    char ver[64];
    char set[512];
    query_value(pc, "SHOW server_version", ver, sizeof ver);
    query_value(pc,
                "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings"
                " WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes',"
                " 'commit_delay', 'shared_buffers', 'wal_level', 'max_wal_size', 'checkpoint_timeout')",
                set, sizeof set);
    snprintf(buf, len, "PostgreSQL %s (%s)", ver, set);
}

static long long wal_syncs(PGconn *pc)
{
    char v[32];
    query_value(pc, "SELECT wal_sync FROM pg_stat_wal", v, sizeof v);
    return v[0] == '?' ? -1 : atoll(v);
}

/* WAL syncs so far (pg_stat_wal.wal_sync), read after the measurement's
 * backends have exited (they flush their statistics on exit) and once the
 * counter stops moving; -1 if that does not happen within ~3 s. This
 * control connection itself writes no WAL. */
long long sb_pg_wal_syncs(PGconn *pc)
{
    const struct timespec tick = {0, 20 * 1000 * 1000};
    char others[32] = "?";
    for (int i = 0; i < 100; i++) {
        query_value(pc,
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                    " AND pid <> pg_backend_pid()",
                    others, sizeof others);
        if (!strcmp(others, "0"))
            break;
        nanosleep(&tick, NULL);
    }
    long long prev = -1;
    for (int i = 0; strcmp(others, "0") == 0 && i < 50; i++) {
        long long now = wal_syncs(pc);
        if (now >= 0 && now == prev)
            return now;
        prev = now;
        nanosleep(&tick, NULL);
    }
    return -1;
}
