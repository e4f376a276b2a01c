/* bench_core.c -- measures the core engine against its own limits, in one run
 * on one machine: durable submit vs a raw append+fdatasync loop with the same
 * batch sizes; embedded check vs a bare mdb_get loop on the same keys; replay
 * vs a raw read+decode of the same log. Prints a Markdown table.
 *
 * usage: bench_core [EXTENSIONS (default 100000)] [CHECKS (default 2000000)] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <lmdb.h>   /* the limit: bare LMDB on the projection, no tmsperm code in the loop */
#include "engine.h"
#include "replay.h"
#include "tmsperm.h"
#include "tmsperm_schema.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_core: %s: %s\n", what, why);
    exit(2);
}

/* Submit n JSON commands built by fmt(i) in batches of `batch`. */
typedef void (*gen_fn)(char *buf, size_t len, long i);

static double submit_all(tms_engine *eng, gen_fn gen, long n, int batch)
{
    static tms_cmd cmds[4096];
    static tms_submission subs[4096];
    char json[1024], why[512];
    double t0 = now();
    for (long i = 0; i < n; i += batch) {
        int m = (int)((n - i) < batch ? (n - i) : batch);
        for (int k = 0; k < m; k++) {
            gen(json, sizeof json, i + k);
            tms_cmd_init(&cmds[k]);
            if (tms_cmd_from_json(&cmds[k], json, strlen(json), why, sizeof why))
                die("bad generated command", why);
            subs[k] = (tms_submission){.cmd = &cmds[k]};
        }
        if (tms_engine_submit(eng, subs, (size_t)m, why, sizeof why))
            die("submit", why);
        for (int k = 0; k < m; k++) {
            if (subs[k].verdict.code)
                die("rejected", subs[k].verdict.message);
            tms_cmd_free(&cmds[k]);
        }
    }
    return now() - t0;
}

static long g_ext;
static void gen_ext(char *b, size_t l, long i)
{
    snprintf(b, l, "{\"cmd\":\"CreateExtension\",\"tenant\":\"acme\",\"actor\":\"admin\",\"id\":\"%ld\"}", 100000 + i);
}
static void gen_perm(char *b, size_t l, long i)
{
    snprintf(b, l, "{\"cmd\":\"SetPermissions\",\"tenant\":\"acme\",\"actor\":\"admin\",\"kind\":\"extension\","
             "\"id\":\"%ld\",\"enable\":[\"reports.view\",\"%s\"],\"disable\":[]}", 100000 + i % g_ext,
             i % 2 ? "recordings.listen" : "calls.international");
}

/* The limit for durable appends: same record sizes, same batch, write+fdatasync. */
static double raw_append(const char *path, long n, int batch, size_t reclen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0640);
    char *buf = calloc((size_t)batch, reclen);
    if (fd < 0 || !buf)
        die("raw append", path);
    double t0 = now();
    for (long i = 0; i < n; i += batch) {
        long m = (n - i) < batch ? (n - i) : batch;
        if (write(fd, buf, (size_t)m * reclen) != (ssize_t)((size_t)m * reclen) || fdatasync(fd))
            die("raw append", "write/fdatasync");
    }
    double t = now() - t0;
    close(fd);
    free(buf);
    return t;
}

/* The limit for lookups: one read txn, mdb_get on the same keys, bitset test. */
static double bare_mdb_get(const char *projdir, char (*keys)[80], size_t *klen, long checks, long *allowed)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k, v;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    if (mdb_env_open(env, projdir, MDB_RDONLY, 0640))
        die("mdb_env_open", projdir);
    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    mdb_dbi_open(txn, "accounts", 0, &dbi);
    *allowed = 0;
    double t0 = now();
    for (long i = 0; i < checks; i++) {
        k.mv_data = keys[i & 65535];
        k.mv_size = klen[i & 65535];
        if (mdb_get(txn, dbi, &k, &v) == 0) {
            uint64_t perms;
            memcpy(&perms, v.mv_data, 8);
            *allowed += (perms >> TMS_P_RECORDINGS_LISTEN) & 1;
        }
    }
    double t = now() - t0;
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return t;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    long next = argc > 1 ? atol(argv[1]) : 100000, checks = argc > 2 ? atol(argv[2]) : 2000000;
    char dir[] = "/tmp/tmsperm-bench-XXXXXX", path[4200], why[512];
    tms_engine *eng;
    g_ext = next;
    if (!mkdtemp(dir))
        die("mkdtemp", dir);
    if (tms_engine_open(dir, NULL, &eng, why, sizeof why))
        die("open", why);
    static tms_cmd c0;
    tms_submission s0 = {.cmd = &c0};
    const char *t = "{\"cmd\":\"CreateTenant\",\"tenant\":\"acme\",\"actor\":\"system\",\"admin\":\"admin\"}";
    tms_cmd_from_json(&c0, t, strlen(t), why, sizeof why);
    tms_engine_submit(eng, &s0, 1, why, sizeof why);
    tms_cmd_free(&c0);

    printf("| measure | tmsperm | peer (limit) | ratio |\n|---|---|---|---|\n");
    double te = submit_all(eng, gen_ext, next, 1000);
    long nperm = next;
    double tp = submit_all(eng, gen_perm, nperm, 1000);
    long records = 1 + next + nperm;
    tms_data_path(path, sizeof path, dir, "raw.log");
    double tr = raw_append(path, nperm, 1000, 190);
    printf("| durable submit, batch 1000 (SetPermissions) | %.0f cmd/s | %.0f rec/s raw append+fdatasync | %.2f |\n",
           nperm / tp, nperm / tr, (nperm / tp) / (nperm / tr));
    printf("| durable submit, batch 1000 (CreateExtension) | %.0f cmd/s | | |\n", next / te);
    long small = 300;
    double t1 = submit_all(eng, gen_perm, small, 1);
    double r1 = raw_append(path, small, 1, 190);
    printf("| durable submit, batch 1 | %.0f cmd/s | %.0f rec/s raw append+fdatasync | %.2f |\n",
           small / t1, small / r1, (small / t1) / (small / r1));
    tms_engine_close(eng);

    /* lookups: the same 65536 random keys for both */
    static char keys[65536][80];
    static size_t klen[65536];
    static char ids[65536][16];
    srand(42);
    for (int i = 0; i < 65536; i++) {
        snprintf(ids[i], sizeof ids[i], "%ld", 100000 + (long)rand() % next);
        klen[i] = (size_t)snprintf(keys[i], sizeof keys[i], "acme%ce%c%s", 0, 0, ids[i]);
    }
    tms_reader *r;
    if (tms_reader_open(dir, &r))
        die("reader", dir);
    long allow = 0, allow2;
    double t0 = now();
    for (long i = 0; i < checks; i++)
        allow += tms_reader_check(r, "acme", "extension", ids[i & 65535], "recordings.listen");
    double tc = now() - t0;
    tms_reader_close(r);
    double tb = bare_mdb_get(tms_data_path(path, sizeof path, dir, "proj"), keys, klen, checks, &allow2);
    if (allow != allow2)
        die("check", "tmsperm and bare mdb_get disagree");
    printf("| embedded check (tms_reader_check), %ld extensions | %.0f checks/s (%.0f ns) | %.0f gets/s bare mdb_get | %.2f |\n",
           next, checks / tc, tc / checks * 1e9, checks / tb, (checks / tc) / (checks / tb));

    /* replay: full rebuild into a scratch store vs raw iterate+decode */
    char scratch[4200];
    tms_store *st;
    tms_replay_result res;
    snprintf(scratch, sizeof scratch, "%s/scratch", dir);
    if (tms_store_open(scratch, TMS_STORE_SCRATCH, &st, why, sizeof why))
        die("scratch", why);
    t0 = now();
    if (tms_replay(st, tms_data_path(path, sizeof path, dir, "log"), NULL, &res))
        die("replay", res.msg);
    double trp = now() - t0;
    tms_store_close(st);
    tms_log_iter *it;
    tms_log_record lr;
    tms_record rec;
    int has = 1;
    long n = 0;
    tms_cmd_init(&rec.cmd);
    t0 = now();
    tms_log_iter_open(path, 1, &it, NULL);
    while (tms_log_iter_next(it, &lr, &has) == TMS_OK && has) {
        if (tms_record_decode(&rec, lr.payload, lr.len, why, sizeof why))
            die("decode", why);
        n++;
    }
    double tdec = now() - t0;
    tms_log_iter_close(it);
    tms_cmd_free(&rec.cmd);
    printf("| replay (rebuild projection), %ld records | %.0f rec/s | %.0f rec/s read+verify+decode | %.2f |\n",
           (long)res.applied, res.applied / trp, n / tdec, (res.applied / trp) / (n / tdec));
    printf("\nrecords in log: %ld; peak RSS %ld KiB; data dir %s\n", records + small, peak_rss_kib(), dir);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    return system(path) == 0 ? 0 : 2;
}
