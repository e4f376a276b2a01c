/* gen_log.c -- a deterministic generator of realistic tmsperm command streams:
 * many tenants of skewed sizes, manager trees 3-4 deep, extensions created,
 * distributed, put under management, given roles, permissions (within the
 * ceiling) and features, Custom transitions, role updates and deletions, and
 * ~5% realistic mistakes. The generator keeps a model of the state so that it
 * predicts every verdict; with --data DIR it submits through the engine in
 * batches of 1000 and checks each verdict against its prediction.
 *
 * usage: gen_log [--tenants N] [--extensions N] [--seed S] [--data DIR] */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gen_log.h"

void die(const char *what, const char *why)
{
    fprintf(stderr, "gen_log: %s: %s\n", what, why);
    exit(2);
}

uint64_t rnd(gen *g)   /* splitmix64 */
{
    uint64_t z = (g->rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
int pick(gen *g, int n) { return (int)(rnd(g) % (uint64_t)n); }
int chance(gen *g, double p) { return (double)(rnd(g) >> 11) / 9007199254740992.0 < p; }

/* A random subset of mask: each bit kept with probability p. */
uint64_t subset(gen *g, uint64_t mask, double p)
{
    uint64_t out = 0;
    for (int i = 0; i < 64; i++)
        if ((mask & BIT(i)) && chance(g, p))
            out |= BIT(i);
    return out;
}

/* A random bit of mask (0 if empty). */
uint64_t one_of(gen *g, uint64_t mask)
{
    int n = __builtin_popcountll(mask);
    if (!n)
        return 0;
    int k = pick(g, n);
    for (int i = 0; i < 64; i++)
        if ((mask & BIT(i)) && k-- == 0)
            return BIT(i);
    return 0;
}

/* ["a","b"] of the names in mask. */
const char *names(uint64_t mask, int features, char *buf, size_t len)
{
    const tms_catalogue_entry *tab = features ? tms_features : tms_permissions;
    int n = features ? TMS_FEATURE_COUNT : TMS_PERM_COUNT;
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n; i++)
        if (mask & BIT(i))
            used += (size_t)snprintf(buf + used, len - used, "%s\"%s\"", used > 1 ? "," : "", tab[i].name);
    snprintf(buf + used, len - used, "]");
    return buf;
}

static void flush(gen *g);

/* One command: common fields, an optional request_id/origin, then fields. */
void emit(gen *g, const tenant *t, tms_err expect, const char *cmd, const char *actor, const char *fmt, ...)
{
    char line[LINE_MAX_LEN], extra[96] = "";
    va_list ap;
    if (chance(g, 0.25))
        snprintf(extra, sizeof extra, ",\"request_id\":\"req-%ld\"", ++g->rid);
    else if (strcmp(actor, "admin") && strcmp(actor, "system") && chance(g, 0.5))
        snprintf(extra, sizeof extra, ",\"origin\":\"tms-web 10.%d.%d.%d\"", pick(g, 256), pick(g, 256), pick(g, 256));
    int n = snprintf(line, sizeof line, "{\"cmd\":\"%s\",\"tenant\":\"%s\",\"actor\":\"%s\"%s,", cmd, t->id, actor, extra);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n + 2 >= (int)sizeof line)
        die("generated line too long", cmd);
    memcpy(line + n, "}", 2);
    g->n_cmds++;
    g->by_code[expect]++;
    g->n_rejected += expect != TMS_OK;
    if (!g->eng) {
        puts(line);
        return;
    }
    memcpy(g->lines[g->nbatch], line, (size_t)n + 2);
    g->expect[g->nbatch++] = expect;
    if (g->nbatch == BATCH)
        flush(g);
}

/* Submit the pending batch through the engine; compare every verdict. */
static void flush(gen *g)
{
    static tms_cmd cmds[BATCH];
    static tms_submission subs[BATCH];
    char why[512];
    for (int k = 0; k < g->nbatch; k++) {
        tms_cmd_init(&cmds[k]);
        if (tms_cmd_from_json(&cmds[k], g->lines[k], strlen(g->lines[k]), why, sizeof why))
            die("generated an invalid command", why);
        memset(&subs[k], 0, sizeof subs[k]);
        subs[k].cmd = &cmds[k];
    }
    if (tms_engine_submit(g->eng, subs, (size_t)g->nbatch, why, sizeof why))
        die("submit", why);
    for (int k = 0; k < g->nbatch; k++) {
        tms_err got = subs[k].verdict.code;
        g->got[got < TMS_ERR_COUNT ? got : 0]++;
        if (got != g->expect[k] && g->mismatches++ < 10)
            fprintf(stderr, "gen_log: predicted %s, engine says %s (%s): %s\n", tms_err_name(g->expect[k]),
                    tms_err_name(got), subs[k].verdict.message, g->lines[k]);
        tms_cmd_free(&cmds[k]);
    }
    g->nbatch = 0;
}

/* Mistakes are owed in proportion to accepted commands; pay what is due. */
int mistakes_due(gen *g, int accepted)
{
    g->debt += MISTAKE_RATE * accepted;
    int n = (int)g->debt;
    if (chance(g, g->debt - n))
        n++;
    g->debt -= n;
    return n;
}

static void tenant_sizes(gen *g, long total)
{
    double w = 0;
    long given = 0;
    for (int i = 0; i < g->nt; i++)
        w += 1.0 / pow(i + 1, 0.7);
    for (int i = 0; i < g->nt; i++) {
        tenant *t = &g->t[i];
        t->n_ext = (int)(total / pow(i + 1, 0.7) / w);
        if (t->n_ext < 1)
            t->n_ext = 1;
        given += t->n_ext;
        snprintf(t->id, sizeof t->id, "tn%05d", i + 1);
    }
    for (int i = 0; given < total; i = (i + 1) % g->nt, given++)
        g->t[i].n_ext++;
}

static void run(gen *g)
{
    int *active = malloc(sizeof *active * (size_t)g->nt), nact = g->nt;
    if (!active)
        die("out of memory", "tenants");
    for (int i = 0; i < g->nt; i++)
        active[i] = i;
    while (nact) {   /* tenants interleaved, each working in bursts of 1-32 extensions */
        int k = pick(g, nact), burst = 1 + pick(g, 32);
        tenant *t = &g->t[active[k]];
        if (!t->started)
            tenant_setup(g, t);
        while (burst-- > 0 && t->next_ext < t->n_ext)
            extension_block(g, t);
        if (t->next_ext == t->n_ext) {
            tenant_churn(g, t);
            tenant_free(t);
            active[k] = active[--nact];
        }
    }
    free(active);
    if (g->eng && g->nbatch)
        flush(g);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(const gen *g, long total_ext, double secs)
{
    fprintf(stderr, "gen_log: %ld commands for %d tenants, %ld extensions: predicted %ld accepted, %ld rejected "
            "(%.2f%%), %ld Custom transitions; rejections:", g->n_cmds, g->nt, total_ext, g->n_cmds - g->n_rejected,
            g->n_rejected, 100.0 * g->n_rejected / (double)g->n_cmds, g->n_custom);
    for (int c = 1; c < TMS_ERR_COUNT; c++)
        if (g->by_code[c])
            fprintf(stderr, " %s=%ld", tms_err_name(c), g->by_code[c]);
    fprintf(stderr, "\n");
    if (!g->eng)
        return;
    fprintf(stderr, "gen_log: engine: %ld accepted, %ld rejected (%.2f%%); %ld verdicts differ from the "
            "prediction; %.1f s, %.0f commands/s\n", g->got[0], g->n_cmds - g->got[0],
            100.0 * (double)(g->n_cmds - g->got[0]) / (double)g->n_cmds, g->mismatches, secs, g->n_cmds / secs);
}

static void usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: gen_log [--tenants N] [--extensions N] [--seed S] [--data DIR]\n"
            "  Writes a realistic tmsperm command stream (JSON Lines) on stdout, or submits it\n"
            "  to the data directory DIR through the engine (batches of %d) and checks every\n"
            "  verdict against the generator's prediction. Defaults: 100 tenants, 100000\n"
            "  extensions, seed 1. Summary on stderr. Exit 1 if a verdict differs.\n", BATCH);
    exit(code);
}

int main(int argc, char **argv)
{
    gen g;
    long total = 100000;
    const char *data = NULL;
    char why[512];
    memset(&g, 0, sizeof g);
    g.nt = 100;
    g.rng = 1;
    for (int i = 1; i < argc; i += 2) {   /* options come in pairs: --name value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            usage(0);
        if (!v)
            usage(2);
        if (!strcmp(a, "--tenants")) g.nt = atoi(v);
        else if (!strcmp(a, "--extensions")) total = atol(v);
        else if (!strcmp(a, "--seed")) g.rng = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--data")) data = v;
        else usage(2);
    }
    if (g.nt < 1 || total < g.nt || total > 50000000L)
        die("bad sizes", "need 1 <= tenants <= extensions <= 50000000");
    g.t = calloc((size_t)g.nt, sizeof *g.t);
    if (!g.t)
        die("out of memory", "tenants");
    tenant_sizes(&g, total);
    if (data) {
        g.lines = malloc(sizeof *g.lines * BATCH);
        g.expect = malloc(sizeof *g.expect * BATCH);
        if (!g.lines || !g.expect)
            die("out of memory", "batch");
        if (tms_engine_open(data, NULL, &g.eng, why, sizeof why))
            die("open", why);
    } else {
        static char obuf[1 << 20];
        setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    }
    double t0 = now();
    run(&g);
    if (fflush(stdout))
        die("stdout", "write failed");
    report(&g, total, now() - t0);
    tms_engine_close(g.eng);
    free(g.lines);
    free(g.expect);
    free(g.t);
    return g.mismatches ? 1 : 0;
}
