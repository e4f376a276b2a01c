/* bench_socket -- tmsd's socket path against Redis, same data, same questions,
 * one run (issue 3, item 9). `gen` writes the JSON Lines data set; `run`
 * loads that file into Redis, checks tmsd and Redis agree on every answer,
 * measures checks (1 per call, 100 per frame) and durable submits at several
 * connection counts, and prints a Markdown table. `durable` (sock_durable.c,
 * built with libpq) measures durable submits against PostgreSQL (issue 7).
 * Progress goes to stderr. */
#include "bench_socket.h"
#include "tmsclient.h"
#include "tmsperm_schema.h"
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 64

typedef struct opts {
    const char *data, *tmsd_unix, *redis_unix, *tmsd_tcp, *redis_tcp, *only;
    long checks, batched_checks, submits1, submits_batched;
    int batch, conns[MAX_CONNS], nconns, submit_conns[MAX_CONNS], nsubmit_conns;
    uint64_t seed;
} opts;

typedef struct row {
    char measure[96], sock[8], target[8], answers[128];
    int nconn;
    sb_run tms, red;
} row;

typedef struct ctx {
    opts o;
    sb_dataset ds;
    row rows[MAX_ROWS];
    int nrows, disagree;
    long cursor;                 /* next extension a submit toggles */
} ctx;

static const char usage[] =
    "usage: bench_socket gen --extensions N [--seed S]          JSON Lines data set on stdout\n"
    "       bench_socket run --data FILE --tmsd SOCK --redis SOCK [--tmsd-tcp H:P --redis-tcp H:P]\n"
    "                        [--checks N] [--batched-checks N] [--submits N] [--batched-submits N]\n"
    "                        [--batch B] [--conns 1,8,64] [--submit-conns 1,8] [--seed S] [--only LIST]\n"
    "  --checks            checks per measurement at 1 per call, split over the connections (200000)\n"
    "  --batched-checks    checks per measurement at B per frame (2000000)\n"
    "  --submits           durable submits at 1 per frame (2000); --batched-submits at B per frame (20000)\n"
    "  --only LIST         any of check1,checkB,submit,verify (default all; verify = compare every\n"
    "                      answer again after the submits; the comparison after loading always runs)\n"
    "       bench_socket durable --help                         durable submits against PostgreSQL\n"
    "       bench_socket http --help                            HTTP checks against the socket protocol's\n"
    "Exit status: 0 when every answer agreed, 1 when tmsd and Redis disagreed or a run failed, 2 on errors.\n";

static int parse_opts(opts *o, int argc, char **argv)
{
    *o = (opts){.checks = 200000, .batched_checks = 2000000, .submits1 = 2000, .submits_batched = 20000,
                .batch = 100, .conns = {1, 8, 64}, .nconns = 3, .submit_conns = {1, 8}, .nsubmit_conns = 2,
                .seed = 1, .only = "check1,checkB,submit,verify"};
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--tmsd")) o->tmsd_unix = v;
        else if (!strcmp(a, "--redis")) o->redis_unix = v;
        else if (!strcmp(a, "--tmsd-tcp")) o->tmsd_tcp = v;
        else if (!strcmp(a, "--redis-tcp")) o->redis_tcp = v;
        else if (!strcmp(a, "--only")) o->only = v;
        else if (!strcmp(a, "--checks")) o->checks = atol(v);
        else if (!strcmp(a, "--batched-checks")) o->batched_checks = atol(v);
        else if (!strcmp(a, "--submits")) o->submits1 = atol(v);
        else if (!strcmp(a, "--batched-submits")) o->submits_batched = atol(v);
        else if (!strcmp(a, "--batch")) o->batch = atoi(v);
        else if (!strcmp(a, "--seed")) o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--conns")) o->nconns = sb_parse_counts(v, o->conns);
        else if (!strcmp(a, "--submit-conns")) o->nsubmit_conns = sb_parse_counts(v, o->submit_conns);
        else return -1;
    }
    if (argc % 2 || !o->data || !o->tmsd_unix || !o->redis_unix || !o->tmsd_tcp != !o->redis_tcp)
        return -1;
    return o->nconns > 0 && o->nsubmit_conns > 0 && o->batch >= 1 && o->batch <= 10000 && o->checks > 0 &&
                   o->batched_checks > 0 && o->submits1 > 0 && o->submits_batched > 0
               ? 0
               : -1;
}

static void fmt_rate(char *buf, size_t len, double v)
{
    if (v >= 1e6)
        snprintf(buf, len, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, len, "%.0fk", v / 1e3);
    else
        snprintf(buf, len, "%.0f", v);
}

static double rate(const sb_run *r)
{
    return r->secs > 0 ? (double)r->ops / r->secs : 0;
}

/* Run one side of a pair and say how it went on stderr. */
static void run_one(sb_run *r, const char *what, const char *sock)
{
    char v[32];
    if (sb_run_exec(r) != 0 && !r->why[0])
        snprintf(r->why, sizeof r->why, "did not run");
    fmt_rate(v, sizeof v, rate(r));
    fprintf(stderr, "  %-5s %-4s %-26s conns %2d: %8s ops/s  p50 %7.1f us  p99 %7.1f us  (%lu ops, %.2f s)%s%s\n",
            r->sys == SB_TMSD ? "tmsd" : "redis", sock, what, r->nconn, v, r->p50_us, r->p99_us,
            (unsigned long)r->ops, r->secs, r->why[0] ? "  ERROR: " : "", r->why);
}

static row *new_row(ctx *x, const char *measure, const char *sock, int nconn, const char *target)
{
    if (x->nrows == MAX_ROWS) {
        fprintf(stderr, "bench_socket: too many rows\n");
        exit(2);
    }
    row *w = &x->rows[x->nrows++];
    memset(w, 0, sizeof *w);
    snprintf(w->measure, sizeof w->measure, "%s", measure);
    snprintf(w->sock, sizeof w->sock, "%s", sock);
    snprintf(w->target, sizeof w->target, "%s", target);
    w->nconn = nconn;
    return w;
}

static size_t per_conn(long total, int nconn, int batch)
{
    size_t per = (size_t)(total / nconn) / (size_t)batch * (size_t)batch;
    return per ? per : (size_t)batch;
}

/* tmsd and Redis answer the same planned checks; both must match the file. */
static void check_pair(ctx *x, row *w, const char *tms, const char *red, int batch, long total, uint64_t seed)
{
    size_t per = per_conn(total, w->nconn, batch);
    sb_item **items = sb_items_new(w->nconn, per);
    if (!items) {
        fprintf(stderr, "bench_socket: out of memory\n");
        exit(2);
    }
    sb_plan_checks(&x->ds, items, w->nconn, per, seed);
    uint64_t want = sb_expected_allows(&x->ds, items, w->nconn, per);
    sb_run base = {.op = SB_CHECK, .nconn = w->nconn, .batch = batch, .per_conn = per, .ds = &x->ds, .items = items};
    char what[64];
    snprintf(what, sizeof what, batch == 1 ? "check, 1 per call" : "check, %d per frame/pipeline", batch);
    w->tms = base;
    w->tms.sys = SB_TMSD;
    w->tms.addr = tms;
    run_one(&w->tms, what, w->sock);
    w->red = base;
    w->red.sys = SB_REDIS;
    w->red.addr = red;
    run_one(&w->red, what, w->sock);
    int ok = !w->tms.errors && !w->red.errors && w->tms.allows == want && w->red.allows == want;
    snprintf(w->answers, sizeof w->answers, ok ? "%lu allows, agree" : "DISAGREE: tmsd %lu, Redis %lu, file %lu",
             (unsigned long)w->tms.allows, (unsigned long)w->red.allows, (unsigned long)want);
    x->disagree |= !ok;
    sb_items_free(items, w->nconn);
}

static int wanted(const ctx *x, const char *phase)
{
    const char *s = strstr(x->o.only, phase);
    size_t n = strlen(phase);
    return s && (s == x->o.only || s[-1] == ',') && (s[n] == '\0' || s[n] == ',');
}

static void check_rows(ctx *x, const char *sock, const char *tms, const char *red)
{
    char m[96];
    for (int i = 0; i < x->o.nconns; i++) {
        int n = x->o.conns[i];
        row *unb = NULL;
        if (wanted(x, "check1")) {
            unb = new_row(x, "check, 1 per call", sock, n, ">= 1");
            check_pair(x, unb, tms, red, 1, x->o.checks, x->o.seed + (uint64_t)n);
        }
        if (!wanted(x, "checkB"))
            continue;
        snprintf(m, sizeof m, "check, %d per frame (Redis: pipeline of %d)", x->o.batch, x->o.batch);
        row *b = new_row(x, m, sock, n, "");
        check_pair(x, b, tms, red, x->o.batch, x->o.batched_checks, x->o.seed + (uint64_t)n);
        if (unb) {   /* the target: batched tmsd against Redis 1 per call */
            snprintf(m, sizeof m, "check, %d per frame vs Redis 1 per call", x->o.batch);
            row *v = new_row(x, m, sock, n, ">= 5");
            v->tms = b->tms;
            v->red = unb->red;
            snprintf(v->answers, sizeof v->answers, "(rows above)");
        }
    }
}

/* The same toggles through tmsd (durable) and Redis (appendfsync always). */
static void submit_pair(ctx *x, row *w, int batch, long total)
{
    size_t per = per_conn(total, w->nconn, batch);
    sb_item **items = sb_items_new(w->nconn, per);
    if (!items) {
        fprintf(stderr, "bench_socket: out of memory\n");
        exit(2);
    }
    sb_plan_toggles(&x->ds, items, w->nconn, per, &x->cursor);
    sb_run base = {.op = SB_SUBMIT, .nconn = w->nconn, .batch = batch, .per_conn = per, .ds = &x->ds, .items = items};
    char what[64];
    snprintf(what, sizeof what, "submit, %d per frame", batch);
    w->tms = base;
    w->tms.sys = SB_TMSD;
    w->tms.addr = x->o.tmsd_unix;
    run_one(&w->tms, what, w->sock);
    w->red = base;
    w->red.sys = SB_REDIS;
    w->red.addr = x->o.redis_unix;
    run_one(&w->red, what, w->sock);
    uint64_t n = (uint64_t)w->nconn * per;
    int ok = !w->tms.errors && !w->red.errors && w->tms.allows == n && w->red.allows == n;
    snprintf(w->answers, sizeof w->answers, "%s%lu/%lu accepted, Redis %lu/%lu changed", ok ? "" : "FAILED: ",
             (unsigned long)w->tms.allows, (unsigned long)n, (unsigned long)w->red.allows, (unsigned long)n);
    x->disagree |= !ok;
    sb_items_free(items, w->nconn);
}

static void submit_rows(ctx *x)
{
    char m[96];
    for (int b = 0; b < 2; b++) {
        int batch = b ? x->o.batch : 1;
        for (int i = 0; i < x->o.nsubmit_conns; i++) {
            if (b)
                snprintf(m, sizeof m, "durable submit, %d per frame (Redis: pipeline of %d SADD/SREM)", batch, batch);
            else
                snprintf(m, sizeof m, "durable submit, 1 per frame (Redis: SADD/SREM)");
            row *w = new_row(x, m, "unix", x->o.submit_conns[i], "");
            submit_pair(x, w, batch, b ? x->o.submits_batched : x->o.submits1);
        }
    }
}

static void print_row(const row *w)
{
    char a[32], b[32];
    fmt_rate(a, sizeof a, rate(&w->tms));
    fmt_rate(b, sizeof b, rate(&w->red));
    double ratio = rate(&w->red) > 0 ? rate(&w->tms) / rate(&w->red) : 0;
    printf("| %s | %s | %d | %s | %.0f / %.0f | %s | %.0f / %.0f | %.2f | %s | %s |\n", w->measure, w->sock, w->nconn,
           a, w->tms.p50_us, w->tms.p99_us, b, w->red.p50_us, w->red.p99_us, ratio, w->target[0] ? w->target : "",
           w->answers);
}

static void print_table(const ctx *x)
{
    printf("| measure | socket | conns | tmsperm ops/s | p50 / p99 us | Redis ops/s | p50 / p99 us | ratio | target | answers |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < x->nrows; i++)
        print_row(&x->rows[i]);
    printf("\nLatency is per round trip: one call, or one frame / pipeline of %d for the batched rows. "
           "ops/s counts checks or commands, not frames. Ratio = tmsperm / Redis.\n", x->o.batch);
}

/* Every (extension, permission) pair through both servers against the file;
 * -1 unless all three agree (then no measurement would be comparable). */
static int verify(ctx *x, const char *when)
{
    char why[256] = "";
    long bad = sb_verify_all(&x->ds, x->o.tmsd_unix, x->o.redis_unix, why, sizeof why);
    fprintf(stderr, "verify %s: %ld pairs, %ld wrong answers%s%s\n", when, x->ds.n * (long)x->ds.nperms, bad,
            why[0] ? ": " : "", why);
    if (bad == 0)
        printf("All %ld (extension, permission) pairs %s: tmsd = Redis = the data file.\n",
               x->ds.n * (long)x->ds.nperms, when);
    else
        printf("**%s: %ld wrong answers from tmsd or Redis%s%s**\n", when, bad, why[0] ? ": " : "", why);
    x->disagree |= bad != 0;
    return bad != 0 ? -1 : 0;
}

static int cmd_run(ctx *x)
{
    char why[256];
    if (sb_dataset_load(&x->ds, x->o.data, why, sizeof why) || sb_redis_load(&x->ds, x->o.redis_unix, why, sizeof why)) {
        fprintf(stderr, "bench_socket: %s\n", why);
        sb_dataset_free(&x->ds);
        return 2;
    }
    fprintf(stderr, "data: %ld extensions, %d extension permissions; Redis loaded\n", x->ds.n, x->ds.nperms);
    if (verify(x, "after loading") == 0) {
        check_rows(x, "unix", x->o.tmsd_unix, x->o.redis_unix);
        if (x->o.tmsd_tcp)
            check_rows(x, "tcp", x->o.tmsd_tcp, x->o.redis_tcp);
        if (wanted(x, "submit"))
            submit_rows(x);
        if (wanted(x, "verify"))
            verify(x, "after the submits");
        printf("\n");
        print_table(x);
    }
    sb_dataset_free(&x->ds);
    return x->disagree ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "gen")) {
        long n = argc >= 4 && !strcmp(argv[2], "--extensions") ? atol(argv[3]) : 0;
        uint64_t seed = argc >= 6 && !strcmp(argv[4], "--seed") ? strtoull(argv[5], NULL, 10) : 1;
        if (n < 1 || n > SB_MAX_EXT || (argc != 4 && argc != 6)) {
            fputs(usage, stderr);
            return 2;
        }
        return sb_gen(stdout, n, seed) == 0 && fflush(stdout) == 0 ? 0 : 2;
    }
#ifdef SB_HAVE_PG
    if (argc >= 2 && !strcmp(argv[1], "durable"))
        return sb_durable_main(argc - 2, argv + 2);
#endif
#ifdef SB_HAVE_CURL
    if (argc >= 2 && !strcmp(argv[1], "http"))
        return sb_http_main(argc - 2, argv + 2);
#endif
    static ctx x;
    if (argc < 2 || strcmp(argv[1], "run") || parse_opts(&x.o, argc - 2, argv + 2)) {
        fputs(usage, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    return cmd_run(&x);
}
