/* bench_snapshot.c -- a whole state's snapshot (snapshot.h, issue 18): its
 * size, and how long encoding and decoding it take, per million accounts.
 * The state is the fold of a gen_log data directory's log; the fold is
 * timed once too, as what an open without a snapshot does.
 *
 *   encode   tms_state_snapshot_encode into a buffer of the right size
 *   digest   tms_state_snapshot_digest of the encoding (by tenant: its index walked, each part hashed)
 *   decode   tms_state_snapshot_decode: a new state, every check, and the
 *            re-encoding it is compared with (freeing the state not timed)
 *
 * Rounds alternate the three (forwards, then backwards); min / median / max.
 * Resident memory (VmRSS growth) of the decoded state against the folded
 * one's (the state's big blocks are mapped apart from malloc's heap).
 *
 * usage: bench_snapshot --data DIR [--rounds N]   (a data directory from gen_log) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"
#include "replay.h"
#include "snapshot.h"

#define MEASURES 3
static const char *const names[MEASURES] = {"encode", "digest", "decode"};

static tms_state *folded;

static double rss_mib(void)
{
    return (double)bench_rss_kib() / 1024;
}
static msgpack_sbuffer enc;

static double run(int m)
{
    double t0 = bench_now(), secs;
    uint8_t d[TMS_SNAPSHOT_DIGEST_LEN];
    tms_state *back;
    char why[256];
    switch (m) {
    case 0:
        if (tms_state_snapshot_encode(folded, &enc))
            bench_die("encode failed");
        return bench_now() - t0;
    case 1:
        if (tms_state_snapshot_digest(enc.data, enc.size, d))
            bench_die("digest failed");
        return bench_now() - t0;
    default:
        if (tms_state_snapshot_decode(enc.data, enc.size, &back, why, sizeof why))
            bench_die("decode failed: %s", why);
        secs = bench_now() - t0;
        tms_state_free(back);
        return secs;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Fold the log (timed), encode once, and the decoded state's memory. */
static void setup(const char *data, tms_state_stats *s)
{
    char logdir[4200], why[256];
    tms_replay_opts o = {0};
    tms_replay_result res;
    tms_state *back;
    snprintf(logdir, sizeof logdir, "%s/log", data);
    o.chain = TMS_LOG_ITER_CHAIN_ON_THREAD;
    double m0 = rss_mib();
    double t0 = bench_now();
    if (!(folded = tms_state_new()) || tms_fold(folded, logdir, &o, &res))
        bench_die("fold failed: %s", res.msg);
    double fold = bench_now() - t0;
    double m1 = rss_mib();
    tms_state_stats_get(folded, s);
    msgpack_sbuffer_init(&enc);
    if (tms_state_snapshot_encode(folded, &enc))
        bench_die("encode failed");
    double m2 = rss_mib();
    if (tms_state_snapshot_decode(enc.data, enc.size, &back, why, sizeof why))
        bench_die("decode failed: %s", why);
    double m3 = rss_mib();
    double a = (double)s->accounts;
    printf("state after %llu records: %zu tenants, %zu accounts and objects, %zu roles, %zu logins, "
           "%zu request ids, %zu distributions\n",
           (unsigned long long)res.last_seq, s->tenants, s->accounts, s->roles, s->logins, s->requests,
           s->distributions);
    printf("fold of the log (2 cores, once): %.2f s = %.2f s per million accounts\n", fold, fold / a * 1e6);
    printf("snapshot: %zu bytes = %.1f MiB per million accounts (%.1f bytes per account)\n", enc.size,
           (double)enc.size / a * 1e6 / 1048576, (double)enc.size / a);
    printf("resident memory growth: folded state %.1f MiB, decoded state %.1f MiB\n\n", m1 - m0, m3 - m2);
    tms_state_free(back);
}

int main(int argc, char **argv)
{
    const char *data = NULL;
    int rounds = 5;
    tms_state_stats s;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data"))
            data = argv[i + 1];
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
    }
    if (!data || rounds < 1 || rounds > 100) {
        fprintf(stderr, "usage: bench_snapshot --data DIR [--rounds N]\n");
        return 2;
    }
    setup(data, &s);
    double *t[MEASURES];
    for (int m = 0; m < MEASURES; m++)
        if (!(t[m] = calloc((size_t)rounds, sizeof(double))))
            bench_die("out of memory");
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < MEASURES; k++)
            t[r % 2 ? MEASURES - 1 - k : k][r] = run(r % 2 ? MEASURES - 1 - k : k);
        fprintf(stderr, "round %d/%d done\n", r + 1, rounds);
    }
    double per = 1e6 / (double)s.accounts;
    printf("| measure | s min | median | max | s per million accounts (median) | MB/s (median) |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int m = 0; m < MEASURES; m++) {
        qsort(t[m], (size_t)rounds, sizeof(double), cmp_double);
        double med = t[m][rounds / 2];
        printf("| %s | %.3f | %.3f | %.3f | %.3f | %.0f |\n", names[m], t[m][0], med, t[m][rounds - 1], med * per,
               (double)enc.size / med / 1e6);
        free(t[m]);
    }
    msgpack_sbuffer_destroy(&enc);
    tms_state_free(folded);
    return 0;
}
