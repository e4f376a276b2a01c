/* bench_proof -- SPEC section 11's proofs on a real data directory: an
 * inclusion proof (the tree's hashes, the record's frame through its
 * locator, the JSON tms-audit prove and GET /v1/proof/inclusion send) and a
 * consistency proof at random points, against an embedded check (the PBX
 * node's hot path) in the same run, rounds alternating; and the
 * verification of a proof (RFC 9162 2.1.3.2). min / median / max over the
 * rounds of each round's median, microseconds.
 *
 * usage: bench_proof DIR [N=20000] [ROUNDS=5]   (DIR: a gen_log directory opened once by a writer) */
#include "bench_util.h"
#include "engine.h"
#include "proof.h"
#include "tmsperm.h"
#include "tree.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp);
    return v[n / 2];
}

static void summary(const char *what, double *rounds, int n)
{
    qsort(rounds, (size_t)n, sizeof *rounds, cmp);
    printf("| %s | %.2f | %.2f | %.2f |\n", what, rounds[0] * 1e6, rounds[n / 2] * 1e6, rounds[n - 1] * 1e6);
}

int main(int argc, char **argv)
{
    char why[300], path[4200], logdir[4200];
    tms_tree *t;
    tms_store *st;
    tms_reader *rd;
    if (argc < 2)
        bench_die("usage: bench_proof DIR [N] [ROUNDS]");
    long n = argc > 2 ? atol(argv[2]) : 20000;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (sodium_init() < 0 || n < 1 || rounds < 1 || rounds > 64)
        bench_die("bad arguments");
    if (tms_tree_open_reader(argv[1], &t, why, sizeof why) ||
        tms_store_open(tms_data_path(path, sizeof path, argv[1], "proj"), TMS_STORE_READONLY, &st, why, sizeof why) ||
        tms_reader_open(argv[1], &rd))
        bench_die("%s: %s", argv[1], why);
    tms_data_path(logdir, sizeof logdir, argv[1], "log");
    uint64_t size = tms_tree_size(t);
    double *lat = malloc((size_t)n * sizeof *lat), r_incl[64], r_cons[64], r_check[64], r_verify[64];
    tms_tlog_hash root, proof[TMS_TLOG_MAX_PROOF], leaf;
    size_t plen;
    if (!lat || tms_tree_root(t, size, root))
        bench_die("cannot read the tree");
    srand(7);
    for (int r = 0; r < rounds; r++) {
        tms_txn *tx;
        for (long i = 0; i < n; i++) {   /* inclusion, as tms-audit prove and HTTP make it */
            uint64_t seq = 1 + (uint64_t)rand() % size;
            json_t *out;
            double t0 = bench_now();
            if (tms_txn_begin(st, 0, &tx) || tms_proof_inclusion(t, tx, logdir, size, seq, size, &out, why, sizeof why))
                bench_die("prove %llu: %s", (unsigned long long)seq, why);
            tms_txn_abort(tx);
            char *s = json_dumps(out, JSON_COMPACT);
            lat[i] = bench_now() - t0;
            free(s);
            json_decref(out);
        }
        r_incl[r] = median(lat, (size_t)n);
        for (long i = 0; i < n; i++) {   /* an embedded check of the same run: the hot path, for scale */
            char ext[16];
            snprintf(ext, sizeof ext, "%d", 1000 + rand() % 1000);
            double t0 = bench_now();
            tms_reader_check(rd, "t1", "extension", ext, "calls.international");
            lat[i] = bench_now() - t0;
        }
        r_check[r] = median(lat, (size_t)n);
        for (long i = 0; i < n; i++) {   /* consistency from a random size */
            uint64_t from = 1 + (uint64_t)rand() % size;
            double t0 = bench_now();
            if (tms_tree_prove_consistency(t, from, size, proof, &plen))
                bench_die("consistency");
            lat[i] = bench_now() - t0;
        }
        r_cons[r] = median(lat, (size_t)n);
        for (long i = 0; i < n; i++) {   /* verification of an inclusion proof */
            uint64_t idx = (uint64_t)rand() % size;
            if (tms_tree_prove_inclusion(t, size, idx, proof, &plen) || tms_tree_read_hash(t, tms_tlog_stored_index(0, idx), leaf))
                bench_die("prove");
            double t0 = bench_now();
            int ok = tms_tlog_check_inclusion(idx, size, leaf, (const tms_tlog_hash *)proof, plen, root);
            lat[i] = bench_now() - t0;
            if (!ok)
                bench_die("a proof of %llu does not verify", (unsigned long long)idx);
        }
        r_verify[r] = median(lat, (size_t)n);
    }
    printf("tree of %llu records, %ld operations per round, %d rounds; microseconds (median of each round: min / "
           "median / max over rounds)\n\n| operation | min | median | max |\n|---|---|---|---|\n",
           (unsigned long long)size, n, rounds);
    summary("inclusion proof (tree + record + JSON)", r_incl, rounds);
    summary("consistency proof (tree)", r_cons, rounds);
    summary("verify an inclusion proof", r_verify, rounds);
    summary("embedded check (tms_reader_check), for scale", r_check, rounds);
    free(lat);
    tms_reader_close(rd);
    tms_store_close(st);
    tms_tree_close(t);
    return 0;
}
