/* bench_sqlite.c -- tmsperm against SQLite on the same data, in one run:
 * embedded check (tms_reader_check vs a prepared SELECT on an indexed table
 * vs a bare mdb_get loop), replay (full rebuild vs raw read+decode of the
 * same log) and durable submit (bench_submit.c). The data directory comes
 * from gen_log --data; SQLite is loaded from its projection. Prints Markdown.
 *
 * usage: bench_sqlite --data DIR [--work DIR] [--checks N] [--submits N] [--rounds N]
 *                     [--only check|replay|submit] */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lmdb.h>   /* the limit: bare LMDB on the projection, no tmsperm code in the loop */
#include "bench_sqlite.h"
#include "replay.h"

#define NPROBES 65536   /* distinct questions, asked round-robin */

static uint64_t rng_state = 42;
static uint64_t rnd(void)   /* splitmix64: the same keys on every run */
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void sql_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        bench_die("sqlite: %s: %s", sql, err ? err : "?");
}

sqlite3_stmt *sql_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        bench_die("sqlite: %s: %s", sql, sqlite3_errmsg(db));
    return st;
}

static void *grow(void *p, long *cap, size_t size)
{
    *cap = *cap ? *cap * 2 : 1024;
    p = realloc(p, (size_t)*cap * size);
    if (!p)
        bench_die("out of memory");
    return p;
}

/* ---- the data set: the projection's accounts, into SQLite and into keys --- */

static void open_sqlite(bench *b)
{
    char path[4200];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/sqlite.db%s", b->work, suffix[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/sqlite.db", b->work);
    if (sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL))
        bench_die("sqlite: cannot open %s", path);
    sql_exec(b->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-262144;"
                    "PRAGMA mmap_size=1073741824;"
                    "CREATE TABLE accounts(tenant TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,"
                    " perms INTEGER NOT NULL, features INTEGER NOT NULL, PRIMARY KEY(tenant, kind, id)) WITHOUT ROWID;"
                    "CREATE TABLE commands(seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, tenant TEXT NOT NULL,"
                    " actor TEXT NOT NULL, verdict TEXT NOT NULL, cmd TEXT NOT NULL);");
}

/* Walking the projection: every tenant, every account of it, in key order
 * (the accounts database's order: the same extensions, hence the same
 * probes and targets, on every run). */
typedef struct loader {
    bench *b;
    sqlite3_stmt *ins;
    tms_txn *tx;
    const char *tenant;
    tms_err err;
} loader;

/* One account: a SQLite row, and a key to ask about when an extension. */
static int add_account(void *ctx, char kind, const char *id, const tms_account_rec *a)
{
    static long ext_cap, ten_cap;
    loader *l = ctx;
    bench *b = l->b;
    char k[2] = {kind, 0};
    sqlite3_bind_text(l->ins, 1, l->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(l->ins, 2, k, 1, SQLITE_STATIC);
    sqlite3_bind_text(l->ins, 3, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(l->ins, 4, (sqlite3_int64)a->perms);
    sqlite3_bind_int64(l->ins, 5, (sqlite3_int64)a->features);
    if (sqlite3_step(l->ins) != SQLITE_DONE)
        bench_die("sqlite insert: %s", sqlite3_errmsg(b->db));
    sqlite3_reset(l->ins);
    b->accounts++;
    if (kind != TMS_KIND_EXTENSION)
        return 0;
    if (!b->ntenants || strcmp(b->tenants[b->ntenants - 1], l->tenant)) {
        if (b->ntenants == ten_cap)
            b->tenants = grow(b->tenants, &ten_cap, sizeof *b->tenants);
        snprintf(b->tenants[b->ntenants++], sizeof *b->tenants, "%s", l->tenant);
    }
    if (b->next == ext_cap)
        b->ext = grow(b->ext, &ext_cap, sizeof *b->ext);
    b->ext[b->next].tenant = b->ntenants - 1;
    snprintf(b->ext[b->next++].id, sizeof b->ext->id, "%s", id);
    return 0;
}

static int add_tenant(void *ctx, const char *tenant, const tms_tenant_rec *rec)
{
    loader *l = ctx;
    (void)rec;
    l->tenant = tenant;
    l->err = tms_account_foreach(l->tx, tenant, add_account, l);
    return l->err != TMS_OK;
}

/* Distinct extensions for the submits, with their owner (or the Admin). */
static void pick_targets(bench *b, tms_txn *tx)
{
    long n = b->next < 100000 ? b->next : 100000;
    long *idx = malloc(sizeof *idx * (size_t)(b->next ? b->next : 1));
    b->targets = calloc((size_t)(n ? n : 1), sizeof *b->targets);
    if (!idx || !b->targets)
        bench_die("out of memory");
    for (long i = 0; i < b->next; i++)
        idx[i] = i;
    for (long i = 0; i < n; i++) {
        long j = i + (long)(rnd() % (uint64_t)(b->next - i)), t = idx[i];
        tms_account_rec a;
        tms_tenant_rec tr;
        idx[i] = idx[j];
        idx[j] = t;
        target *g = &b->targets[i];
        g->k = &b->ext[idx[i]];
        tms_err err = tms_account_get(tx, b->tenants[g->k->tenant], TMS_KIND_EXTENSION, g->k->id, &a);
        if (err || (err = tms_tenant_get(tx, b->tenants[g->k->tenant], &tr)))
            bench_die("projection read of %s/%s failed: %s", b->tenants[g->k->tenant], g->k->id, tms_err_name(err));
        snprintf(g->actor, sizeof g->actor, "%s", a.link[0] ? a.link : tr.admin);
        g->has = (int)((a.perms >> TMS_P_REPORTS_VIEW) & 1);
    }
    b->ntargets = n;
    free(idx);
}

static void load(bench *b)
{
    char path[4200], why[256];
    tms_store *st;
    loader l = {b, NULL, NULL, NULL, TMS_OK};
    double t0 = bench_now();
    if (tms_store_open(tms_data_path(path, sizeof path, b->data, "proj"), TMS_STORE_READONLY, &st, why, sizeof why) ||
        tms_txn_begin(st, 0, &l.tx))
        bench_die("cannot read the projection of %s: %s", b->data, why);
    open_sqlite(b);
    l.ins = sql_prepare(b->db, "INSERT INTO accounts VALUES(?1, ?2, ?3, ?4, ?5)");
    sql_exec(b->db, "BEGIN");
    tms_err err = tms_tenant_foreach(l.tx, add_tenant, &l);
    if (err || l.err)
        bench_die("cannot read the projection of %s: %s", b->data, tms_err_name(err ? err : l.err));
    sql_exec(b->db, "COMMIT");
    sqlite3_finalize(l.ins);
    if (!b->next)
        bench_die("no extension in %s", b->data);
    pick_targets(b, l.tx);
    tms_txn_abort(l.tx);
    tms_store_close(st);
    fprintf(stderr, "bench_sqlite: loaded %ld accounts (%ld extensions, %d tenants) into SQLite in %.1f s\n",
            b->accounts, b->next, b->ntenants, bench_now() - t0);
}

/* ---- embedded check ------------------------------------------------------ */

/* One question, self-contained: every contender reads it from this array in
 * order, so none pays a cache miss the others do not. */
typedef struct probe {
    char tenant[TMS_ID_MAX + 1], id[TMS_ID_MAX + 1];
    const char *name;
    int bit, feature;
    char key[2 * TMS_ID_MAX + 4];
    size_t klen;
} probe;

static probe *make_probes(const bench *b)
{
    static const char *const names[] = {"recordings.listen", "calls.international", "reports.view", "voicemail.access",
                                        "calls.listen_live", "contacts.edit", "softphone", "call_recording"};
    probe *p = calloc(NPROBES, sizeof *p);
    if (!p)
        bench_die("out of memory");
    for (int i = 0; i < NPROBES; i++) {
        const ekey *k = &b->ext[rnd() % (uint64_t)b->next];
        snprintf(p[i].tenant, sizeof p[i].tenant, "%s", b->tenants[k->tenant]);
        snprintf(p[i].id, sizeof p[i].id, "%s", k->id);
        p[i].name = names[rnd() % (sizeof names / sizeof *names)];
        p[i].bit = tms_permission_index(p[i].name);
        p[i].feature = p[i].bit < 0;
        if (p[i].feature)
            p[i].bit = tms_feature_index(p[i].name);
        p[i].klen = (size_t)snprintf(p[i].key, sizeof p[i].key, "%s%c%c%c%s", p[i].tenant, 0, TMS_KIND_EXTENSION, 0,
                                     p[i].id);
    }
    return p;
}

static int allowed(const probe *q, uint64_t perms, uint64_t features)
{
    return (int)(((q->feature ? features : perms) >> q->bit) & 1);
}

static double check_reader(const bench *b, const probe *p, long n, long *allow)
{
    tms_reader *r;
    if (tms_reader_open(b->data, &r))
        bench_die("tms_reader_open %s failed", b->data);
    for (int i = 0; i < NPROBES; i++)   /* warm up */
        tms_reader_check(r, p[i].tenant, "extension", p[i].id, p[i].name);
    *allow = 0;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        const probe *q = &p[i & (NPROBES - 1)];
        int a = tms_reader_check(r, q->tenant, "extension", q->id, q->name);
        if (a < 0)
            bench_die("tms_reader_check: %s", tms_strerror((tms_err)-a));
        *allow += a;
    }
    double t = bench_now() - t0;
    tms_reader_close(r);
    return t;
}

/* The same question in SQL: resolve the name like the reader does, one
 * prepared SELECT on the primary key, test the bit. */
static long sqlite_checks(sqlite3 *db, sqlite3_stmt *q, const probe *p, long n)
{
    long allow = 0;
    for (long i = 0; i < n; i++) {
        const probe *x = &p[i & (NPROBES - 1)];
        int perm = tms_permission_index(x->name), feat = perm < 0 ? tms_feature_index(x->name) : -1;
        sqlite3_bind_text(q, 1, x->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, "e", 1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, x->id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            uint64_t bits = (uint64_t)sqlite3_column_int64(q, perm >= 0 ? 0 : 1);
            allow += (long)((bits >> (perm >= 0 ? perm : feat)) & 1);
        } else if (rc != SQLITE_DONE) {
            bench_die("sqlite select: %s", sqlite3_errmsg(db));
        }
        sqlite3_reset(q);
    }
    return allow;
}

/* hold: one read transaction around all the SELECTs (a snapshot that never
 * sees new writes: the analogue of the held mdb_get loop, for the why). */
static double check_sqlite(const bench *b, const probe *p, long n, int hold, long *allow)
{
    sqlite3_stmt *q = sql_prepare(b->db, "SELECT perms, features FROM accounts WHERE tenant = ?1 AND kind = ?2 AND id = ?3");
    sqlite_checks(b->db, q, p, NPROBES);   /* warm up */
    double t0 = bench_now();
    if (hold)
        sql_exec(b->db, "BEGIN");
    *allow = sqlite_checks(b->db, q, p, n);
    if (hold)
        sql_exec(b->db, "COMMIT");
    double t = bench_now() - t0;
    sqlite3_finalize(q);
    return t;
}

enum { HOLD, RENEW_EACH, RENEW_ON_CHANGE };

/* Before a get: a fresh snapshot per get (RENEW_EACH, what tms_reader_check
 * does), or only when a writer has committed since (RENEW_ON_CHANGE). */
static void snapshot(MDB_env *env, MDB_txn *txn, int mode)
{
    MDB_envinfo info;
    if (mode == RENEW_ON_CHANGE && (mdb_env_info(env, &info) || info.me_last_txnid == mdb_txn_id(txn)))
        return;
    mdb_txn_reset(txn);
    if (mdb_txn_renew(txn))
        bench_die("mdb_txn_renew failed");
}

/* The limit: mdb_get on prepared keys in one read transaction held for the
 * whole loop (HOLD); the other modes show what a fresh snapshot costs. */
static double check_bare(const bench *b, const probe *p, long n, int mode, long *allow)
{
    char path[4200];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k, v;
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
        mdb_env_open(env, tms_data_path(path, sizeof path, b->data, "proj"), MDB_RDONLY, 0640) ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) || mdb_dbi_open(txn, "accounts", 0, &dbi) ||
        mdb_txn_commit(txn) || mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))   /* commit: keep the handle */
        bench_die("cannot open %s with LMDB", path);
    *allow = 0;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        const probe *q = &p[i & (NPROBES - 1)];
        uint64_t bits[2];
        k.mv_size = q->klen;
        k.mv_data = (void *)q->key;
        if (mode != HOLD)
            snapshot(env, txn, mode);
        if (mdb_get(txn, dbi, &k, &v) == 0) {
            memcpy(bits, v.mv_data, 16);
            *allow += allowed(q, bits[0], bits[1]);
        }
    }
    double t = bench_now() - t0;
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return t;
}

static const char *verdict(double ratio, double goal, char *buf, size_t len)
{
    if (ratio >= goal)
        snprintf(buf, len, "met");
    else
        snprintf(buf, len, "missed: %.2fx of the target", ratio / goal);
    return buf;
}

static double best(double a, double b) { return b < a ? b : a; }

static void bench_check(const bench *b)
{
    long n = b->checks, a[6] = {0};
    double t[6] = {1e30, 1e30, 1e30, 1e30, 1e30, 1e30};
    char v1[64], v2[64];
    probe *p = make_probes(b);
    for (int r = 0; r < b->rounds; r++) {   /* interleaved rounds, best of each: the machine is shared */
        t[0] = best(t[0], check_reader(b, p, n, &a[0]));
        t[1] = best(t[1], check_sqlite(b, p, n, 0, &a[1]));
        t[5] = best(t[5], check_sqlite(b, p, n, 1, &a[5]));
        t[2] = best(t[2], check_bare(b, p, n, HOLD, &a[2]));
        t[3] = best(t[3], check_bare(b, p, n, RENEW_EACH, &a[3]));
        t[4] = best(t[4], check_bare(b, p, n, RENEW_ON_CHANGE, &a[4]));
    }
    for (int i = 1; i < 6; i++)
        if (a[i] != a[0])
            bench_die("the answers differ: tmsperm %ld, SQLite %ld/%ld, mdb_get %ld/%ld/%ld allows", a[0], a[1], a[5],
                      a[2], a[3], a[4]);
    printf("| embedded check, %ld checks (%ld allowed), best of %d | %.0f /s (%.0f ns) | SQLite prepared SELECT: %.0f /s "
           "(%.0f ns) | %.2fx | >= 10x: %s |\n", n, a[0], b->rounds, n / t[0], t[0] / n * 1e9, n / t[1],
           t[1] / n * 1e9, t[1] / t[0], verdict(t[1] / t[0], 10, v1, sizeof v1));
    printf("| (for the why) SQLite, one read transaction held around all SELECTs | | %.0f /s (%.0f ns) | %.2fx | |\n",
           n / t[5], t[5] / n * 1e9, t[5] / t[0]);
    printf("| embedded check vs the limit | %.0f /s | bare mdb_get, one txn held: %.0f /s (%.0f ns) | %.2f | >= 0.67: %s |\n",
           n / t[0], n / t[2], t[2] / n * 1e9, t[2] / t[0], verdict(t[2] / t[0], 1 / 1.5, v2, sizeof v2));
    printf("| (for the why) bare mdb_get, txn reset+renew before each get | | %.0f /s (%.0f ns) | %.2f | |\n", n / t[3],
           t[3] / n * 1e9, t[3] / t[0]);
    printf("| (for the why) bare mdb_get, renew only when me_last_txnid moved (the reader's way) | | %.0f /s (%.0f ns) | %.2f | |\n", n / t[4],
           t[4] / n * 1e9, t[4] / t[0]);
    fflush(stdout);
    free(p);
}

/* ---- replay ---------------------------------------------------------------- */

static double raw_read(const char *logdir, int decode, uint64_t *n)
{
    tms_log_iter *it;
    tms_log_record lr;
    tms_record rec;
    char why[256];
    int has = 1;
    *n = 0;
    tms_cmd_init(&rec.cmd);
    double t0 = bench_now();
    if (tms_log_iter_open(logdir, 1, &it, NULL))
        bench_die("cannot read the log in %s", logdir);
    while (tms_log_iter_next(it, &lr, &has) == TMS_OK && has) {
        if (decode && tms_record_decode(&rec, lr.payload, lr.len, why, sizeof why))
            bench_die("decode seq %llu: %s", (unsigned long long)lr.seq, why);
        (*n)++;
    }
    double t = bench_now() - t0;
    tms_log_iter_close(it);
    tms_cmd_free(&rec.cmd);
    return t;
}

static void bench_replay(const bench *b)
{
    char logdir[4200], scratch[4200], why[256], v[64];
    tms_store *st;
    tms_replay_result res;
    uint64_t n_dec, n_read;
    tms_data_path(logdir, sizeof logdir, b->data, "log");
    snprintf(scratch, sizeof scratch, "%s/replay-proj", b->work);
    bench_rmtree(scratch);
    if (tms_store_open(scratch, TMS_STORE_SCRATCH, &st, why, sizeof why))
        bench_die("scratch store: %s", why);
    double t0 = bench_now();
    if (tms_replay(st, logdir, NULL, &res))
        bench_die("replay: %s", res.msg);
    double t_rep = bench_now() - t0;
    tms_store_close(st);
    bench_rmtree(scratch);
    double t_dec = raw_read(logdir, 1, &n_dec), t_read = raw_read(logdir, 0, &n_read);
    double r = res.applied / t_rep;
    printf("| replay: full rebuild, %llu records | %.0f rec/s | raw read+verify+decode: %.0f rec/s | %.2f | >= 1M rec/s: %s |\n",
           (unsigned long long)res.applied, r, n_dec / t_dec, r / (n_dec / t_dec), verdict(r, 1e6, v, sizeof v));
    printf("| (for the why) raw read+verify (CRC32C, BLAKE2b chain), no decode | | %.0f rec/s | %.2f | |\n",
           n_read / t_read, r / (n_read / t_read));
    fflush(stdout);
}

/* ---- main ------------------------------------------------------------------ */

uint64_t bench_log_bytes(const char *data)
{
    char path[4200];
    struct dirent *d;
    struct stat st;
    uint64_t bytes = 0;
    DIR *dir = opendir(tms_data_path(path, sizeof path, data, "log"));
    if (!dir)
        bench_die("no log in %s", data);
    while ((d = readdir(dir))) {
        char f[4600];
        snprintf(f, sizeof f, "%s/%s", path, d->d_name);
        if (strstr(d->d_name, ".tmslog") && stat(f, &st) == 0)
            bytes += (uint64_t)st.st_size - TMS_LOG_SEGMENT_HEADER;
    }
    closedir(dir);
    return bytes;
}

static void usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: bench_sqlite --data DIR [--work DIR] [--checks N] [--submits N] [--rounds N]\n"
            "                    [--only check|replay|submit]\n"
            "  DIR is a data directory written by gen_log --data (the submit phase appends to it).\n"
            "  --work: scratch directory (default DIR.work); --checks: lookups per contender\n"
            "  per round (default 2000000); --rounds: check rounds, best kept (default 3);\n"
            "  --submits: commands at batch 1000 (default 100000; batch 100\n"
            "  runs a fifth, batch 10 a twentieth, batch 1 a hundredth). Markdown on stdout.\n");
    exit(code);
}

static void options(bench *b, int argc, char **argv)
{
    static char work[4096];
    b->checks = 2000000;
    b->submits = 100000;
    b->rounds = 3;
    for (int i = 1; i < argc; i += 2) {   /* --option VALUE pairs */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            usage(0);
        if (!v)
            usage(2);
        if (!strcmp(a, "--data")) b->data = v;
        else if (!strcmp(a, "--work")) snprintf(b->work, sizeof b->work, "%s", v);
        else if (!strcmp(a, "--checks")) b->checks = atol(v);
        else if (!strcmp(a, "--submits")) b->submits = atol(v);
        else if (!strcmp(a, "--only")) b->only = v;
        else if (!strcmp(a, "--rounds")) b->rounds = atoi(v);
        else usage(2);
    }
    if (!b->data || b->checks < 1 || b->submits < 100 || b->rounds < 1)
        usage(2);
    if (!b->work[0]) {
        snprintf(work, sizeof work, "%s.work", b->data);
        snprintf(b->work, sizeof b->work, "%s", work);
    }
}

int main(int argc, char **argv)
{
    static bench b;
    options(&b, argc, argv);
    b.log_bytes = bench_log_bytes(b.data);
    if (mkdir(b.work, 0750) && access(b.work, W_OK))
        bench_die("cannot create %s", b.work);
    load(&b);
    printf("| measure | tmsperm | peer | tmsperm / peer | target |\n|---|---|---|---|---|\n");
    if (!b.only || !strcmp(b.only, "check"))
        bench_check(&b);
    if (!b.only || !strcmp(b.only, "replay"))
        bench_replay(&b);
    if (!b.only || !strcmp(b.only, "submit"))
        bench_submit(&b);
    printf("\ndata: %ld accounts, %ld extensions, %d tenants; log %.1f MiB before the submits; peak RSS %ld KiB\n",
           b.accounts, b.next, b.ntenants, b.log_bytes / 1048576.0, bench_peak_rss_kib());
    sqlite3_close(b.db);
    free(b.targets);
    free(b.ext);
    free(b.tenants);
    return 0;
}
