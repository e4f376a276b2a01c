/* bench_fold.c -- how fast the log folds into the in-memory state, against
 * the limit measured in the same run: a loop that only checks every frame
 * (CRC32C, seq, BLAKE2b chain) and msgpack-unpacks every payload, on one
 * core. Rounds alternate the measures; min/median/max per measure.
 *
 *   limit        iterate (chain in line) + msgpack_unpack_next, one core
 *   fold-1core   tms_fold, chain in line (one core)
 *   fold-2cores  tms_fold, chain checked on a second thread
 *   rebuild      fold-2cores + bulk load of a scratch LMDB (what tms-restore and
 *                a projection rebuild do)
 *   one-tenant   fold-2cores with a tenant filter: the largest tenant's records
 *                decoded and applied, every frame checked (tms-audit who-can)
 *
 * Then memory: resident growth (VmRSS) per account of the folded state.
 *
 * usage: bench_fold --data DIR [--rounds N] [--only MEASURE-INDEX]   (a data directory from gen_log) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_util.h"
#include "replay.h"

#define MEASURES 5
static const char *const names[MEASURES] = {"limit", "fold-1core", "fold-2cores", "rebuild", "one-tenant"};

static char logdir[4200], scratch[4200], biggest[TMS_ID_MAX + 1];
static uint64_t records;

static double run_limit(void)
{
    tms_log_iter *it;
    tms_log_record lr;
    msgpack_unpacked up;
    int has;
    uint64_t n = 0;
    double t0 = bench_now();
    msgpack_unpacked_init(&up);
    if (tms_log_iter_open(logdir, 1, &it, NULL))
        bench_die("cannot open the log");
    while (tms_log_iter_next(it, &lr, &has) == TMS_OK && has) {
        if (msgpack_unpack_next(&up, (const char *)lr.payload, lr.len, NULL) != MSGPACK_UNPACK_SUCCESS)
            bench_die("unpack failed at seq %llu", (unsigned long long)lr.seq);
        n++;
    }
    tms_log_iter_close(it);
    msgpack_unpacked_destroy(&up);
    if (n != records)
        bench_die("limit read %llu records, expected %llu", (unsigned long long)n, (unsigned long long)records);
    return bench_now() - t0;
}

static double run_fold(int chain, const char *tenant, int load)
{
    tms_replay_opts o = {0};
    tms_replay_result res;
    tms_state *st = tms_state_new();
    double t0 = bench_now();
    o.chain = chain;
    o.tenant = tenant;
    if (!st || tms_fold(st, logdir, &o, &res))
        bench_die("fold failed: %s", res.msg);
    if (res.last_seq != records)
        bench_die("fold stopped at %llu", (unsigned long long)res.last_seq);
    if (load) {
        char why[256];
        tms_store *store;
        if (tms_store_open(scratch, TMS_STORE_SCRATCH, &store, why, sizeof why) ||
            tms_projection_rebuild(store, st, res.last_seq, res.head))
            bench_die("rebuild failed: %s", why);
        tms_store_close(store);
    }
    double secs = bench_now() - t0;
    tms_state_free(st);   /* not timed: a tool that answers exits */
    if (load)
        bench_rmtree(scratch);
    return secs;
}

static double run(int m)
{
    switch (m) {
    case 0: return run_limit();
    case 1: return run_fold(0, NULL, 0);
    case 2: return run_fold(TMS_LOG_ITER_CHAIN_ON_THREAD, NULL, 0);
    case 3: return run_fold(TMS_LOG_ITER_CHAIN_ON_THREAD, NULL, 1);
    default: return run_fold(TMS_LOG_ITER_CHAIN_ON_THREAD, biggest, 0);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int count_account(void *ctx, tms_account *a)
{
    (void)a;
    ++*(size_t *)ctx;
    return 0;
}

typedef struct best {
    size_t n;
    char id[TMS_ID_MAX + 1];
} best;

static int pick_biggest(void *ctx, tms_tenant *t)
{
    best *b = ctx;
    size_t n = 0;
    tms_tenant_foreach_account(t, count_account, &n);
    if (n > b->n) {
        b->n = n;
        snprintf(b->id, sizeof b->id, "%s", tms_tenant_id(t));
    }
    return 0;
}

/* A first fold: the record count, the biggest tenant, and memory. */
static void survey(void)
{
    tms_replay_opts o = {0};
    tms_replay_result res;
    long rss0 = bench_rss_kib();
    tms_state *st = tms_state_new();
    best b = {0, ""};
    if (!st || tms_fold(st, logdir, &o, &res))
        bench_die("fold failed: %s", res.msg);
    records = res.last_seq;
    long rss1 = bench_rss_kib();
    tms_state_stats s;
    tms_state_stats_get(st, &s);
    tms_state_foreach_tenant(st, pick_biggest, &b);
    snprintf(biggest, sizeof biggest, "%s", b.id);
    printf("state after %llu records: %zu tenants, %zu accounts and objects, %zu roles, %zu logins, "
           "%zu request ids, %zu distributions\n",
           (unsigned long long)records, s.tenants, s.accounts, s.roles, s.logins, s.requests, s.distributions);
    printf("memory: resident growth %.1f MiB = %.0f bytes per account (everything included: logins, roles, "
           "request ids, distributions; VmRSS: the state's big blocks are mapped apart from malloc's heap)\n",
           (rss1 - rss0) / 1024.0, (rss1 - rss0) * 1024.0 / (double)s.accounts);
    printf("largest tenant: %s, %zu accounts and objects\n\n", biggest, b.n);
    tms_state_free(st);
}

int main(int argc, char **argv)
{
    const char *data = NULL;
    int rounds = 5, only = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data"))
            data = argv[i + 1];
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--only"))   /* profiling: run one measure once */
            only = atoi(argv[i + 1]);
    }
    if (!data || rounds < 1 || rounds > 100) {
        fprintf(stderr, "usage: bench_fold --data DIR [--rounds N]\n");
        return 2;
    }
    snprintf(logdir, sizeof logdir, "%s/log", data);
    snprintf(scratch, sizeof scratch, "%s.bench-fold-scratch", data);
    survey();
    if (only >= 0 && only < MEASURES) {
        printf("%s: %.0f records/s\n", names[only], (double)records / run(only));
        return 0;
    }
    double *t[MEASURES];
    for (int m = 0; m < MEASURES; m++)
        if (!(t[m] = calloc((size_t)rounds, sizeof(double))))
            bench_die("out of memory");
    double *ratio[MEASURES];
    for (int m = 0; m < MEASURES; m++)
        if (!(ratio[m] = calloc((size_t)rounds, sizeof(double))))
            bench_die("out of memory");
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < MEASURES; k++) {   /* alternate the order: forwards, then backwards */
            int m = r % 2 ? MEASURES - 1 - k : k;
            t[m][r] = run(m);
        }
        for (int m = 0; m < MEASURES; m++)
            ratio[m][r] = t[0][r] / t[m][r];   /* speed relative to the limit of the same round */
        fprintf(stderr, "round %d/%d done\n", r + 1, rounds);
    }
    printf("| measure | records/s min | median | max | vs limit (same round) min / median / max |\n");
    printf("|---|---|---|---|---|\n");
    for (int m = 0; m < MEASURES; m++) {
        qsort(t[m], (size_t)rounds, sizeof(double), cmp_double);
        qsort(ratio[m], (size_t)rounds, sizeof(double), cmp_double);
        double n = (double)records;
        printf("| %s | %.0f | %.0f | %.0f | %.2f / %.2f / %.2f |\n", names[m], n / t[m][rounds - 1],
               n / t[m][rounds / 2], n / t[m][0], ratio[m][0], ratio[m][rounds / 2], ratio[m][rounds - 1]);
    }
    for (int m = 0; m < MEASURES; m++) {
        free(t[m]);
        free(ratio[m]);
    }
    return 0;
}
