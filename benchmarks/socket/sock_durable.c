/* sock_durable.c -- `bench_socket durable`: durable submit through tmsd
 * against PostgreSQL (issue 7). Loads the data file into PostgreSQL, checks
 * that tmsd, PostgreSQL and the file agree on every extension, then for each
 * (commands per commit, clients) runs R rounds, each round the same planned
 * toggles through both systems, and prints per configuration the
 * min/median/max throughput of both and of their ratio per round. The
 * order within a round alternates (tmsd first in even rounds, PostgreSQL
 * first in odd ones), so neither side always inherits the other's pending
 * write-back. One unreported warm-up round comes first (page cache, WAL
 * and log files). tmsd: B commands per submit frame; PostgreSQL: B UPDATEs per
 * transaction (sock_pg.c). Syncs are counted on both sides: tmsd's group
 * commits (one log fdatasync each) from its metrics, PostgreSQL's WAL syncs
 * from pg_stat_wal. Progress goes to stderr, Markdown to stdout. */
#include "bench_socket.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_CELLS (2 * MAX_CONNS)

typedef struct dopts {
    const char *data, *tmsd, *pg, *metrics;
    long submits1, submits_batched;
    int batch, rounds, conns[MAX_CONNS], nconns;
} dopts;

/* One configuration over its rounds. Sync counts are -1 when unknown. */
typedef struct cell {
    int batch, nconn;
    size_t per_conn;
    double tms[SB_MAX_ROUNDS], pg[SB_MAX_ROUNDS], ratio[SB_MAX_ROUNDS];
    double tms_p50[SB_MAX_ROUNDS], tms_p99[SB_MAX_ROUNDS], pg_p50[SB_MAX_ROUNDS], pg_p99[SB_MAX_ROUNDS];
    int done;                    /* rounds completed */
    uint64_t cmds, tms_ok, pg_ok;
    long long tms_syncs, pg_syncs;
    char why[256];
} cell;

typedef struct dctx {
    dopts o;
    sb_dataset ds;
    cell cells[MAX_CELLS];
    int ncells, failed;
    long cursor;                 /* next extension a toggle touches */
    struct pg_conn *ctl;         /* control connection: settings and pg_stat_wal */
} dctx;

static const char usage[] =
    "usage: bench_socket durable --data FILE --tmsd SOCK --pg CONNINFO [--tmsd-metrics HOST:PORT]\n"
    "                            [--submits N] [--batched-submits N] [--batch B] [--conns 1,8,64] [--rounds R]\n"
    "  --data             the JSON Lines file tmsd was fed (bench_socket gen); loaded into PostgreSQL here\n"
    "  --pg               libpq connection string, e.g. \"host=/tmp/pgdir dbname=postgres user=postgres\"\n"
    "  --tmsd-metrics     tmsd's --metrics address: group commits (log fdatasyncs) are counted from it\n"
    "  --submits          commands per measurement at 1 per commit, split over the clients (12000)\n"
    "  --batched-submits  commands per measurement at B per commit (60000); --batch B (100)\n"
    "  --rounds           rounds per configuration, each tmsd and PostgreSQL on the same toggles (7)\n"
    "Exit status: 0 when every command was accepted and every answer agreed, 1 otherwise, 2 on errors.\n";

static int parse_dopts(dopts *o, int argc, char **argv)
{
    *o = (dopts){.submits1 = 12000, .submits_batched = 60000, .batch = 100, .rounds = 7, .conns = {1, 8, 64},
                 .nconns = 3};
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--tmsd")) o->tmsd = v;
        else if (!strcmp(a, "--pg")) o->pg = v;
        else if (!strcmp(a, "--tmsd-metrics")) o->metrics = v;
        else if (!strcmp(a, "--submits")) o->submits1 = atol(v);
        else if (!strcmp(a, "--batched-submits")) o->submits_batched = atol(v);
        else if (!strcmp(a, "--batch")) o->batch = atoi(v);
        else if (!strcmp(a, "--rounds")) o->rounds = atoi(v);
        else if (!strcmp(a, "--conns")) o->nconns = sb_parse_counts(v, o->conns);
        else return -1;
    }
    return argc % 2 == 0 && o->data && o->tmsd && o->pg && o->nconns > 0 && o->batch >= 2 && o->batch <= 10000 &&
                   o->rounds >= 1 && o->rounds <= SB_MAX_ROUNDS && o->submits1 > 0 && o->submits_batched > 0
               ? 0
               : -1;
}

/* Read an HTTP/1.0 answer from fd into buf (NUL-terminated); -1 on error. */
static int read_all(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0)
            return -1;   /* includes the receive timeout */
        got += (size_t)n;
        if (n == 0 || got == cap - 1)
            break;
    }
    buf[got] = '\0';
    return 0;
}

/* tmsd's group commits so far (tmsd_groups_total from its metrics over
 * HTTP), or -1 when there is no metrics address or it did not answer
 * within 5 s. Each group commit is one fdatasync of the log. */
static long long tmsd_groups(const char *hostport)
{
    const char *colon = hostport ? strrchr(hostport, ':') : NULL;
    char host[64];
    if (!colon || (size_t)(colon - hostport) >= sizeof host)
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    struct timeval tv = {5, 0};
    static char buf[1 << 16];
    int fd = inet_pton(AF_INET, host, &sa.sin_addr) == 1 ? socket(AF_INET, SOCK_STREAM, 0) : -1;
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    int ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
             setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0 &&
             connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
             write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) && read_all(fd, buf, sizeof buf) == 0;
    if (fd >= 0)
        close(fd);
    const char *at = ok ? strstr(buf, "\ntmsd_groups_total ") : NULL;
    return at ? atoll(at + strlen("\ntmsd_groups_total ")) : -1;
}


static double rate(const sb_run *r)
{
    return r->secs > 0 ? (double)r->ops / r->secs : 0;
}

/* Add after - before to *acc, which becomes -1 once any count is unknown. */
static void add_delta(long long *acc, long long before, long long after)
{
    *acc = *acc < 0 || before < 0 || after < before ? -1 : *acc + (after - before);
}

/* One side of a round: run it, count its syncs, say how it went. */
static int run_side(dctx *x, sb_run *r, long long *syncs)
{
    long long before = r->sys == SB_TMSD ? tmsd_groups(x->o.metrics) : sb_pg_wal_syncs(x->ctl);
    int rc = sb_run_exec(r);
    long long after = r->sys == SB_TMSD ? tmsd_groups(x->o.metrics) : sb_pg_wal_syncs(x->ctl);
    add_delta(syncs, before, after);
    uint64_t want = (uint64_t)r->nconn * r->per_conn;
    if (rc == 0 && !r->errors && r->allows != want && !r->why[0])
        snprintf(r->why, sizeof r->why, "%lu of %lu commands changed something", (unsigned long)r->allows,
                 (unsigned long)want);
    fprintf(stderr, "  %-4s %3d per commit, %2d clients: %8.0f cmd/s  p50 %8.1f us  p99 %8.1f us  syncs %lld%s%s\n",
            r->sys == SB_TMSD ? "tmsd" : "pg", r->batch, r->nconn, rate(r), r->p50_us, r->p99_us,
            after >= 0 && before >= 0 ? after - before : -1, r->why[0] ? "  ERROR: " : "", r->why);
    return rc == 0 && !r->errors && r->allows == want ? 0 : -1;
}

/* One round of a cell: plan the toggles, then tmsd and PostgreSQL (which
 * goes first alternates with c->done). */
static int run_round(dctx *x, cell *c)
{
    sb_item **items = sb_items_new(c->nconn, c->per_conn);
    if (!items) {
        snprintf(c->why, sizeof c->why, "out of memory");
        return -1;
    }
    sb_plan_toggles(&x->ds, items, c->nconn, c->per_conn, &x->cursor);
    sb_run base = {.op = SB_SUBMIT, .nconn = c->nconn, .batch = c->batch, .per_conn = c->per_conn,
                   .ds = &x->ds, .items = items};
    sb_run t = base, p = base;
    t.sys = SB_TMSD;
    t.addr = x->o.tmsd;
    p.sys = SB_PG;
    p.addr = x->o.pg;
    int pg_first = c->done % 2;
    int rc = pg_first ? run_side(x, &p, &c->pg_syncs) : run_side(x, &t, &c->tms_syncs);
    if (rc == 0)
        rc = pg_first ? run_side(x, &t, &c->tms_syncs) : run_side(x, &p, &c->pg_syncs);
    sb_items_free(items, c->nconn);
    c->cmds += (uint64_t)c->nconn * c->per_conn;
    c->tms_ok += t.allows;
    c->pg_ok += p.allows;
    if (rc != 0) {
        snprintf(c->why, sizeof c->why, "%s", t.why[0] ? t.why : p.why[0] ? p.why : "a run failed");
        return -1;
    }
    int k = c->done++;
    c->tms[k] = rate(&t);
    c->pg[k] = rate(&p);
    c->ratio[k] = c->pg[k] > 0 ? c->tms[k] / c->pg[k] : 0;
    c->tms_p50[k] = t.p50_us;
    c->tms_p99[k] = t.p99_us;
    c->pg_p50[k] = p.p50_us;
    c->pg_p99[k] = p.p99_us;
    return 0;
}

/* Size a cell: total commands split over its clients, whole commits each;
 * -1 (and why) when one round would touch an extension twice. */
static int size_cell(const dctx *x, cell *c, int batch, int nconn)
{
    long total = batch > 1 ? x->o.submits_batched : x->o.submits1;
    size_t per = (size_t)(total / nconn) / (size_t)batch * (size_t)batch;
    c->batch = batch;
    c->nconn = nconn;
    c->per_conn = per ? per : (size_t)batch;
    if ((long)c->per_conn * nconn <= x->ds.n)
        return 0;
    snprintf(c->why, sizeof c->why, "%zu toggles per round exceed the %ld extensions", c->per_conn * (size_t)nconn,
             x->ds.n);
    return -1;
}

/* The warm-up round (batched, the second client count), then every
 * configuration, R rounds each; stops at the first failure (the data set
 * no longer says what the servers hold after a partial round). */
static void run_cells(dctx *x)
{
    static cell warm;
    fprintf(stderr, "warm-up, not reported:\n");
    if (size_cell(x, &warm, x->o.batch, x->o.conns[x->o.nconns > 1]) != 0 || run_round(x, &warm) != 0) {
        fprintf(stderr, "bench_socket: warm-up failed: %s\n", warm.why);
        x->failed = 1;
    }
    for (int b = 0; b < 2 && !x->failed; b++)
        for (int i = 0; i < x->o.nconns && !x->failed; i++) {
            cell *c = &x->cells[x->ncells++];
            if (size_cell(x, c, b ? x->o.batch : 1, x->o.conns[i]) != 0) {
                x->failed = 1;
                break;
            }
            fprintf(stderr, "%d per commit, %d clients, %zu commands per client per round:\n", c->batch, c->nconn,
                    c->per_conn);
            for (int r = 0; r < x->o.rounds && !x->failed; r++)
                x->failed = run_round(x, c) != 0;
        }
}

/* "a / b / c" with the given number of decimals. */
static void fmt3(char *buf, size_t len, const double v[3], int decimals)
{
    snprintf(buf, len, "%.*f / %.*f / %.*f", decimals, v[0], decimals, v[1], decimals, v[2]);
}

/* Commands per sync: 1 when every commit syncs alone, B at B per commit,
 * more when commits of several clients share a sync. */
static void fmt_per_sync(char *buf, size_t len, long long syncs, uint64_t cmds)
{
    double v = syncs > 0 ? (double)cmds / (double)syncs : 0;
    if (syncs <= 0 || !cmds)
        snprintf(buf, len, "?");
    else
        snprintf(buf, len, v < 10 ? "%.1f" : "%.0f", v);
}

static void print_cell(const cell *c)
{
    double t[3], p[3], r[3], tl[2], pl[2], tmp[3];
    char ts[64], ps[64], rs[64], sy[2][16];
    sb_spread(c->tms, c->done, t);
    sb_spread(c->pg, c->done, p);
    sb_spread(c->ratio, c->done, r);
    sb_spread(c->tms_p50, c->done, tmp);
    tl[0] = tmp[1];
    sb_spread(c->tms_p99, c->done, tmp);
    tl[1] = tmp[1];
    sb_spread(c->pg_p50, c->done, tmp);
    pl[0] = tmp[1];
    sb_spread(c->pg_p99, c->done, tmp);
    pl[1] = tmp[1];
    fmt3(ts, sizeof ts, t, 0);
    fmt3(ps, sizeof ps, p, 0);
    fmt3(rs, sizeof rs, r, 2);
    fmt_per_sync(sy[0], sizeof sy[0], c->tms_syncs, c->cmds);
    fmt_per_sync(sy[1], sizeof sy[1], c->pg_syncs, c->cmds);
    printf("| %d | %d | %zu | %d | %s | %s | **%s** | %s | %.2f / %.2f | %.2f / %.2f | %s / %s | %lu/%lu accepted, "
           "PG %lu/%lu changed%s%s |\n",
           c->batch, c->nconn, c->per_conn, c->done, ts, ps, rs, r[1] >= 2 ? "met" : "missed", tl[0] / 1e3,
           tl[1] / 1e3, pl[0] / 1e3, pl[1] / 1e3, sy[0], sy[1], (unsigned long)c->tms_ok, (unsigned long)c->cmds,
           (unsigned long)c->pg_ok, (unsigned long)c->cmds, c->why[0] ? "; FAILED: " : "", c->why);
}

static void print_table(const dctx *x)
{
    printf("| commands per commit | clients | commands per client per round | rounds | tmsd cmd/s min / median / max"
           " | PostgreSQL cmd/s min / median / max | ratio tmsd/PG per round min / median / max | >= 2x (median)"
           " | tmsd p50 / p99 ms | PG p50 / p99 ms | commands per sync tmsd / PG | answers |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < x->ncells; i++)
        print_cell(&x->cells[i]);
    printf("\nOne commit: tmsd one submit frame of B commands (1 or %d); PostgreSQL one transaction of B UPDATEs"
           " (B = 1: autocommit). Each round runs the same toggles through both, tmsd first in rounds 1, 3, 5...,"
           " PostgreSQL first in rounds 2, 4...; the ratio is taken per round."
           " Latency per commit, median over the rounds of each round's p50 and p99."
           " Syncs: tmsd group commits (one log fdatasync each, tmsd_groups_total), PostgreSQL pg_stat_wal.wal_sync,"
           " over all rounds; more commands per sync than per commit means commits of several clients shared"
           " a sync (group commit).\n",
           x->o.batch);
}

/* Every extension through tmsd and PostgreSQL against the data set. */
static int verify(dctx *x, const char *when)
{
    char why[256] = "";
    long bad_t = sb_verify_all(&x->ds, x->o.tmsd, NULL, why, sizeof why);
    long bad_p = bad_t < 0 ? -1 : sb_pg_verify(&x->ds, x->o.pg, why, sizeof why);
    fprintf(stderr, "verify %s: tmsd %ld wrong answers, PostgreSQL %ld wrong rows%s%s\n", when, bad_t, bad_p,
            why[0] ? ": " : "", why);
    if (bad_t == 0 && bad_p == 0)
        printf("All %ld extensions x %d permissions %s: tmsd = PostgreSQL = the data file.\n\n", x->ds.n,
               x->ds.nperms, when);
    else
        printf("**%s: tmsd %ld wrong answers, PostgreSQL %ld wrong rows%s%s**\n\n", when, bad_t, bad_p,
               why[0] ? ": " : "", why);
    return bad_t == 0 && bad_p == 0 ? 0 : -1;
}

static int durable_run(dctx *x)
{
    char why[256] = "", desc[768];
    if (sb_dataset_load(&x->ds, x->o.data, why, sizeof why) || sb_pg_load(&x->ds, x->o.pg, why, sizeof why) ||
        !(x->ctl = sb_pg_connect(x->o.pg, 0, why, sizeof why))) {
        fprintf(stderr, "bench_socket: %s\n", why);
        return 2;
    }
    sb_pg_describe(x->ctl, desc, sizeof desc);
    fprintf(stderr, "data: %ld extensions loaded into PostgreSQL; %s\n", x->ds.n, desc);
    printf("%s.\n\n", desc);
    if (verify(x, "after loading") != 0)
        return 1;
    run_cells(x);
    int bad = verify(x, "after the submits") != 0;
    print_table(x);
    return x->failed || bad ? 1 : 0;
}

int sb_durable_main(int argc, char **argv)
{
    static dctx x;
    if (parse_dopts(&x.o, argc, argv)) {
        fputs(usage, stderr);
        return 2;
    }
    int rc = durable_run(&x);
    sb_pg_close(x.ctl);
    sb_dataset_free(&x.ds);
    return rc;
}
