/* bench_sqlite.h -- what the parts of bench_sqlite share: the data set read
 * from a data directory's projection (every account, loaded into SQLite too;
 * the extensions as keys to ask about), options, and the result rows. */
#ifndef TMS_BENCH_SQLITE_H
#define TMS_BENCH_SQLITE_H

#include <sqlite3.h>
#include "bench_util.h"
#include "engine.h"

typedef struct ekey {
    int tenant;                      /* index into bench.tenants */
    char id[TMS_ID_MAX + 1];
} ekey;

/* An extension a submit changes: who may (its owner, else the Admin), and
 * whether it holds reports.view now (each submit flips it). */
typedef struct target {
    const ekey *k;
    char actor[TMS_ID_MAX + 1];
    int has;
} target;

typedef struct bench {
    const char *data;                /* the data directory (gen_log --data) */
    char work[4096];                 /* scratch: SQLite file, raw log, replay projection */
    const char *only;                /* "check", "submit", "replay" or NULL for all */
    long checks, submits;
    int rounds;                      /* check rounds: the best of each contender is kept */
    sqlite3 *db;                     /* accounts(tenant, kind, id, perms, features) */
    char (*tenants)[TMS_ID_MAX + 1];
    int ntenants;
    ekey *ext;
    long next, accounts;
    target *targets;
    long ntargets;
    uint64_t log_bytes;
} bench;

/* bench_submit.c: durable submits, tmsperm vs SQLite vs raw append. */
void bench_submit(bench *b);

/* Bytes of frames in DIR/log (segment headers excluded). */
uint64_t bench_log_bytes(const char *data);
/* SQLite helpers (bench_sqlite.c). */
void sql_exec(sqlite3 *db, const char *sql);
sqlite3_stmt *sql_prepare(sqlite3 *db, const char *sql);

#endif
