/* bench_history.c -- a check at a random point of the log (the as-of index,
 * SPEC section 7) against a current check, embedded, in one run on one
 * projection: the same accounts and names, rounds alternating the two sides;
 * min/median/max of the ratio. Also show at a point against show now.
 *
 * With --connect SOCKET the same through tmsd (one check per round trip, the
 * point set with tms_client_set_point). Also: explain at a random seq
 * (it reads the record it names from the log), mean time per call.
 *
 * usage: bench_history DIR [CHECKS per round (default 200000)] [ROUNDS (default 5)] [--connect SOCKET]
 * DIR: a data directory (benchmarks/gen_log --data DIR builds one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"
#include "engine.h"
#include "history.h"
#include "lookup.h"
#include "query.h"
#include "tmsclient.h"
#include "tmsperm_schema.h"

#define MAX_ACCOUNTS 200000

typedef struct account {
    char tenant[72], id[72];
    char kind;
} account;

static account *accounts;
static size_t naccounts;

static int collect(void *ctx, char kind, const char *id, const tms_account_rec *rec)
{
    (void)rec;
    const char *tenant = ctx;
    if (naccounts < MAX_ACCOUNTS && (kind == TMS_KIND_EXTENSION || kind == TMS_KIND_MANAGER)) {
        account *a = &accounts[naccounts++];
        snprintf(a->tenant, sizeof a->tenant, "%s", tenant);
        snprintf(a->id, sizeof a->id, "%s", id);
        a->kind = kind;
    }
    return 0;
}

static tms_txn *walk_tx;

static int each_tenant(void *ctx, const char *tenant, const tms_tenant_rec *rec)
{
    (void)ctx;
    (void)rec;
    tms_account_foreach(walk_tx, tenant, collect, (void *)tenant);
    return naccounts >= MAX_ACCOUNTS;
}

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n checks at `at` (UINT64_MAX: now, else a random seq per check when
 * random_at); returns seconds; *allowed counts allows (so nothing is optimised away). */
static double run(tms_txn *tx, long n, uint64_t last, int historical, int show, long *allowed)
{
    uint64_t s = 42;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        const account *a = &accounts[rng(&s) % naccounts];
        const char *name = tms_permissions[rng(&s) % TMS_PERM_COUNT].name;
        uint64_t at = historical ? 1 + rng(&s) % last : UINT64_MAX;
        if (show) {
            json_t *out = NULL;
            *allowed += tms_query_show(tx, at, a->tenant, tms_kind_name(a->kind), a->id, &out) == 0;
            json_decref(out);
        } else {
            *allowed += tms_lookup_check_at(tx, at, a->tenant, tms_kind_name(a->kind), a->id, name) == 1;
        }
    }
    return bench_now() - t0;
}

/* The same n checks through tmsd. */
static double run_socket(tms_client *cli, long n, uint64_t last, int historical, long *allowed)
{
    uint64_t s = 42;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        const account *a = &accounts[rng(&s) % naccounts];
        const char *name = tms_permissions[rng(&s) % TMS_PERM_COUNT].name;
        uint64_t at = historical ? 1 + rng(&s) % last : UINT64_MAX;
        tms_client_set_point(cli, historical ? TMS_CLIENT_SEQ : TMS_CLIENT_LATEST, at, 0);
        int r = tms_client_check(cli, a->tenant, tms_kind_name(a->kind), a->id, name);
        if (r < 0)
            bench_die("check through tmsd: %s", tms_strerror((tms_err)-r));
        *allowed += r;
    }
    return bench_now() - t0;
}

/* n explains at random seqs: seconds. */
static double run_explain(tms_txn *tx, const char *dir, long n, uint64_t last, long *named)
{
    char logdir[4200];
    uint64_t s = 7;
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        const account *a = &accounts[rng(&s) % naccounts];
        json_t *out = NULL;
        if (tms_query_explain(tx, 1 + rng(&s) % last, logdir, a->tenant, tms_kind_name(a->kind), a->id,
                              tms_permissions[rng(&s) % TMS_PERM_COUNT].name, &out) < 0)
            bench_die("explain failed");
        *named += json_is_object(json_object_get(out, "changed"));
        json_decref(out);
    }
    return bench_now() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *now_s, double *hist_s, int rounds, long n)
{
    double ratio[64];
    for (int r = 0; r < rounds; r++)
        ratio[r] = hist_s[r] / now_s[r];
    qsort(ratio, (size_t)rounds, sizeof *ratio, cmp_double);
    qsort(now_s, (size_t)rounds, sizeof *now_s, cmp_double);
    qsort(hist_s, (size_t)rounds, sizeof *hist_s, cmp_double);
    printf("| %s | %.0f ns | %.0f ns | %.2fx / %.2fx / %.2fx |\n", what, now_s[rounds / 2] / n * 1e9,
           hist_s[rounds / 2] / n * 1e9, ratio[0], ratio[rounds / 2], ratio[rounds - 1]);
}

int main(int argc, char **argv)
{
    char path[4200], why[256];
    tms_store *st;
    tms_txn *tx;
    uint8_t head[32];
    uint64_t last = 0, complete = 0;
    long n = argc > 2 ? atol(argv[2]) : 200000, allowed = 0;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    const char *sock = argc > 5 && !strcmp(argv[4], "--connect") ? argv[5] : NULL;
    tms_client *cli = NULL;
    if (argc < 2 || n <= 0 || rounds <= 0 || rounds > 64)
        bench_die("usage: bench_history DIR [CHECKS] [ROUNDS] [--connect SOCKET]");
    if (sock && tms_client_connect(sock, NULL, &cli, why, sizeof why))
        bench_die("cannot connect to %s: %s", sock, why);
    snprintf(path, sizeof path, "%s/proj", argv[1]);
    if (tms_store_open(path, TMS_STORE_READONLY, &st, why, sizeof why) || tms_txn_begin(st, 0, &tx))
        bench_die("cannot open %s: %s", path, why);
    if (tms_meta_get(tx, &last, head) || tms_history_complete(tx, &complete) || complete != last || !last)
        bench_die("the as-of index of %s is not complete (%llu of %llu)", path, (unsigned long long)complete,
                  (unsigned long long)last);
    accounts = calloc(MAX_ACCOUNTS, sizeof *accounts);
    walk_tx = tx;
    tms_tenant_foreach(tx, each_tenant, NULL);
    if (!naccounts)
        bench_die("no accounts in %s", path);
    double now_s[64], hist_s[64], snow[64], shist[64];
    if (cli) {
        for (int r = 0; r < rounds; r++) {
            int hist_first = r % 2;
            double a = run_socket(cli, n, last, hist_first, &allowed), b = run_socket(cli, n, last, !hist_first, &allowed);
            now_s[r] = hist_first ? b : a;
            hist_s[r] = hist_first ? a : b;
        }
        printf("through tmsd (%s): %llu records, %ld checks per side per round, %d rounds\n\n", sock,
               (unsigned long long)last, n, rounds);
        printf("| lookup | now (median) | at a random seq (median) | ratio min / median / max |\n|---|---|---|---|\n");
        report("check over the socket", now_s, hist_s, rounds, n);
        tms_client_close(cli);
        tms_txn_abort(tx);
        tms_store_close(st);
        free(accounts);
        return 0;
    }
    for (int r = 0; r < rounds; r++) {   /* alternate the sides, the order flipping each round */
        if (r % 2) {
            hist_s[r] = run(tx, n, last, 1, 0, &allowed);
            now_s[r] = run(tx, n, last, 0, 0, &allowed);
        } else {
            now_s[r] = run(tx, n, last, 0, 0, &allowed);
            hist_s[r] = run(tx, n, last, 1, 0, &allowed);
        }
        snow[r] = run(tx, n / 10, last, 0, 1, &allowed);
        shist[r] = run(tx, n / 10, last, 1, 1, &allowed);
    }
    printf("log: %llu records, %zu accounts sampled, %ld lookups per side per round, %d rounds (%ld answers)\n\n",
           (unsigned long long)last, naccounts, n, rounds, allowed);
    printf("| lookup | now (median) | at a random seq (median) | ratio min / median / max |\n|---|---|---|---|\n");
    report("check", now_s, hist_s, rounds, n);
    report("show", snow, shist, rounds, n / 10);
    long named = 0, ne = n / 100 > 0 ? n / 100 : 1;
    double ex = run_explain(tx, argv[1], ne, last, &named);
    printf("\nexplain at a random seq: %.1f us per call (%ld calls, %ld named a record read from the log)\n",
           ex / ne * 1e6, ne, named);
    tms_txn_abort(tx);
    tms_store_close(st);
    free(accounts);
    return 0;
}
