/* sock_data.c -- the data set of bench_socket: generate the JSON Lines that
 * tmsd is fed (CreateTenant, CreateExtension x N, SetPermissions x N with 1-4
 * extension permissions of the catalogue), parse that same file back, load it
 * into Redis (one SET per extension), and compare every (extension,
 * permission) pair between tmsd, Redis and the file. */
#include "bench_socket.h"
#include "tmsclient.h"
#include "tmsperm_schema.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_EXTS 100          /* extensions per verification frame */

int sb_parse_counts(const char *s, int *out)
{
    int n = 0;
    for (char *end; *s && n < MAX_CONNS; s = *end ? end + 1 : end) {
        long v = strtol(s, &end, 10);
        if (v < 1 || v > 1000 || (*end && *end != ','))
            return -1;
        out[n++] = (int)v;
    }
    return n;
}

uint64_t sb_rand(uint64_t *state)   /* splitmix64 */
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* The permissions an extension may hold, in catalogue order. */
static int ext_perms(const char **names)
{
    int n = 0;
    for (int p = 0; p < TMS_PERM_COUNT && n < SB_MAX_PERMS; p++)
        if (tms_permissions[p].extension)
            names[n++] = tms_permissions[p].name;
    return n;
}

int sb_gen(FILE *out, long n, uint64_t seed)
{
    const char *names[SB_MAX_PERMS];
    int np = ext_perms(names);
    uint64_t st = seed;
    fprintf(out, "{\"cmd\":\"CreateTenant\",\"tenant\":\"%s\",\"actor\":\"system\",\"admin\":\"admin\"}\n", SB_TENANT);
    for (long i = 0; i < n; i++)
        fprintf(out, "{\"cmd\":\"CreateExtension\",\"tenant\":\"%s\",\"actor\":\"admin\",\"id\":\"%ld\"}\n", SB_TENANT,
                SB_ID_BASE + i);
    for (long i = 0; i < n; i++) {
        unsigned set = 0;
        int k = 1 + (int)(sb_rand(&st) % 4);
        while (__builtin_popcount(set) < k)
            set |= 1u << (sb_rand(&st) % (uint64_t)np);
        fprintf(out, "{\"cmd\":\"SetPermissions\",\"tenant\":\"%s\",\"actor\":\"admin\",\"kind\":\"extension\","
                "\"id\":\"%ld\",\"enable\":[", SB_TENANT, SB_ID_BASE + i);
        for (int p = 0, first = 1; p < np; p++)
            if (set & (1u << p)) {
                fprintf(out, "%s\"%s\"", first ? "" : ",", names[p]);
                first = 0;
            }
        fputs("],\"disable\":[]}\n", out);
    }
    return ferror(out) ? -1 : 0;
}

static int perm_index(const sb_dataset *ds, const char *name)
{
    for (int p = 0; p < ds->nperms; p++)
        if (!strcmp(ds->perm_names[p], name))
            return p;
    return -1;
}

/* Apply one parsed line to the mask; -1 for a line this benchmark cannot read. */
static int apply_line(sb_dataset *ds, uint8_t *exists, json_t *j)
{
    const char *cmd = json_string_value(json_object_get(j, "cmd"));
    const char *id = json_string_value(json_object_get(j, "id"));
    if (cmd && !strcmp(cmd, "CreateTenant"))
        return 0;
    long i = id ? strtol(id, NULL, 10) - SB_ID_BASE : -1;
    if (!cmd || i < 0 || i >= SB_MAX_EXT)
        return -1;
    if (!strcmp(cmd, "CreateExtension")) {
        exists[i] = 1;
        ds->n = i + 1 > ds->n ? i + 1 : ds->n;
        return 0;
    }
    if (strcmp(cmd, "SetPermissions") || !exists[i])
        return -1;
    const char *lists[2] = {"enable", "disable"};
    for (int l = 0; l < 2; l++) {
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(j, lists[l]), k, v) {
            int p = perm_index(ds, json_string_value(v) ? json_string_value(v) : "");
            if (p < 0)
                return -1;
            ds->mask[i] = l == 0 ? (uint16_t)(ds->mask[i] | (1u << p)) : (uint16_t)(ds->mask[i] & ~(1u << p));
        }
    }
    return 0;
}

static int parse_file(sb_dataset *ds, FILE *f, uint8_t *exists, char *why, size_t whylen)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *j = json_loadb(line, (size_t)len, 0, &jerr);
        lineno++;
        if (!j || apply_line(ds, exists, j) < 0) {
            snprintf(why, whylen, "line %ld: not a command this benchmark generates", lineno);
            rc = -1;
        }
        json_decref(j);
    }
    free(line);
    for (long i = 0; rc == 0 && i < ds->n; i++)
        if (!exists[i]) {
            snprintf(why, whylen, "extension %ld is never created", SB_ID_BASE + i);
            rc = -1;
        }
    return rc;
}

int sb_dataset_load(sb_dataset *ds, const char *path, char *why, size_t whylen)
{
    memset(ds, 0, sizeof *ds);
    ds->nperms = ext_perms(ds->perm_names);
    FILE *f = fopen(path, "r");
    uint8_t *exists = calloc(SB_MAX_EXT, 1);
    ds->mask = calloc(SB_MAX_EXT, sizeof *ds->mask);
    int rc = -1;
    if (!f)
        snprintf(why, whylen, "cannot open %s", path);
    else if (!exists || !ds->mask)
        snprintf(why, whylen, "out of memory");
    else
        rc = parse_file(ds, f, exists, why, whylen);
    if (f)
        fclose(f);
    free(exists);
    if (rc == 0 && ds->n == 0) {
        snprintf(why, whylen, "%s holds no extension", path);
        rc = -1;
    }
    if (rc == 0 && (!(ds->ids = calloc((size_t)ds->n, sizeof *ds->ids)) ||
                    !(ds->keys = calloc((size_t)ds->n, sizeof *ds->keys)))) {
        snprintf(why, whylen, "out of memory");
        rc = -1;
    }
    for (long i = 0; rc == 0 && i < ds->n; i++) {
        snprintf(ds->ids[i], sizeof ds->ids[i], "%d", (int)(SB_ID_BASE + i));
        snprintf(ds->keys[i], sizeof ds->keys[i], "%s:e:%s", SB_TENANT, ds->ids[i]);
    }
    if (rc)
        sb_dataset_free(ds);
    return rc;
}

void sb_dataset_free(sb_dataset *ds)
{
    free(ds->ids);
    free(ds->keys);
    free(ds->mask);
    memset(ds, 0, sizeof *ds);
}

/* Read n pipelined replies; -1 (and why) on the first error reply. */
static int drain(redisContext *rc, long n, char *why, size_t whylen)
{
    int bad = 0;
    for (long i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(rc, (void **)&rep) != REDIS_OK) {
            snprintf(why, whylen, "redis: %s", rc->errstr);
            return -1;
        }
        if (rep->type == REDIS_REPLY_ERROR && !bad++)
            snprintf(why, whylen, "redis: %s", rep->str);
        freeReplyObject(rep);
    }
    return bad ? -1 : 0;
}

/* FLUSHALL, then one SADD per extension holding anything, 1000 per pipeline. */
int sb_redis_load(const sb_dataset *ds, const char *addr, char *why, size_t whylen)
{
    redisContext *rc = sb_redis_connect(addr, why, whylen);
    if (!rc)
        return -1;
    redisAppendCommand(rc, "FLUSHALL");
    long queued = 1;
    int err = 0;
    for (long i = 0; !err && i < ds->n; i++) {
        const char *argv[2 + SB_MAX_PERMS];
        int argc = 2;
        argv[0] = "SADD";
        argv[1] = ds->keys[i];
        for (int p = 0; p < ds->nperms; p++)
            if (ds->mask[i] & (1u << p))
                argv[argc++] = ds->perm_names[p];
        if (argc > 2) {
            redisAppendCommandArgv(rc, argc, argv, NULL);
            queued++;
        }
        if (queued == 1000 || i == ds->n - 1) {
            err = drain(rc, queued, why, whylen);
            queued = 0;
        }
    }
    redisFree(rc);
    return err;
}

/* Compare one frame of VERIFY_EXTS extensions x every permission. */
static long verify_chunk(const sb_dataset *ds, long first, tms_client *tc, redisContext *rc, char *why, size_t whylen)
{
    const char *q[VERIFY_EXTS * SB_MAX_PERMS][4];
    uint8_t allow[VERIFY_EXTS * SB_MAX_PERMS];
    size_t n = 0;
    for (long i = first; i < ds->n && i < first + VERIFY_EXTS; i++)
        for (int p = 0; p < ds->nperms; p++, n++) {
            const char *e[4] = {SB_TENANT, "extension", ds->ids[i], ds->perm_names[p]};
            memcpy(q[n], e, sizeof e);
            const char *argv[3] = {"SISMEMBER", ds->keys[i], ds->perm_names[p]};
            if (rc)
                redisAppendCommandArgv(rc, 3, argv, NULL);
        }
    tms_err err = tms_client_check_batch(tc, (const char *const(*)[4])q, n, allow);
    if (err) {
        snprintf(why, whylen, "tmsd check: %s %s", tms_err_name(err), tms_client_message(tc));
        return -1;
    }
    long bad = 0;
    for (size_t k = 0; k < n; k++) {
        long i = first + (long)(k / (size_t)ds->nperms);
        int want = (ds->mask[i] >> (k % (size_t)ds->nperms)) & 1;
        bad += allow[k] != want;
        redisReply *rep = NULL;
        if (!rc)
            continue;   /* tmsd alone */
        if (redisGetReply(rc, (void **)&rep) != REDIS_OK) {
            snprintf(why, whylen, "redis: %s", rc->errstr);
            return -1;
        }
        bad += (rep->type == REDIS_REPLY_INTEGER && rep->integer == 1) != want;
        freeReplyObject(rep);
    }
    return bad;
}

/* Every (extension, permission) through tmsd and Redis against the file:
 * the number of wrong answers (0 = all three agree), or -1 on an error.
 * With redis NULL only tmsd is asked. */
long sb_verify_all(const sb_dataset *ds, const char *tmsd, const char *redis, char *why, size_t whylen)
{
    tms_client *tc = NULL;
    redisContext *rc = redis ? sb_redis_connect(redis, why, whylen) : NULL;
    if (redis && !rc)
        return -1;
    if (tms_client_connect(tmsd, NULL, &tc, why, whylen) != TMS_OK) {
        redisFree(rc);
        return -1;
    }
    long bad = 0;
    for (long first = 0; bad >= 0 && first < ds->n; first += VERIFY_EXTS) {
        long b = verify_chunk(ds, first, tc, rc, why, whylen);
        bad = b < 0 ? -1 : bad + b;
    }
    tms_client_close(tc);
    redisFree(rc);
    return bad;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void sb_spread(const double *v, int n, double out[3])
{
    double s[SB_MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    out[0] = n ? s[0] : 0;
    out[1] = n ? (s[(n - 1) / 2] + s[n / 2]) / 2 : 0;
    out[2] = n ? s[n - 1] : 0;
}
