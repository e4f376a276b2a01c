/* bench_socket.h -- what the parts of bench_socket share: the data set (one
 * tenant, N extensions and their permission sets, parsed from the JSON Lines
 * file tmsd was fed), one measurement (a system, an operation, a batch size,
 * a number of connections, fixed work per connection) and its results.
 * PostgreSQL (SB_PG, sock_pg.c, sock_durable.c) is built in only when libpq
 * is found (SB_HAVE_PG), tmsd's HTTP API (SB_HTTP, sock_http.c) only when
 * libcurl is (SB_HAVE_CURL). */
#ifndef TMS_BENCH_SOCKET_H
#define TMS_BENCH_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <hiredis/hiredis.h>

#define SB_TENANT "acme"
#define SB_ID_BASE 100000L       /* extension i has id SB_ID_BASE + i */
#define SB_MAX_EXT 800000L       /* ids stay 6 digits */
#define SB_MAX_PERMS 16

/* The data set: what every extension holds, as bits over perm_names. */
typedef struct sb_dataset {
    long n;                      /* extensions */
    int nperms;                  /* extension permissions of the catalogue */
    const char *perm_names[SB_MAX_PERMS];
    char (*ids)[16];             /* "100123" */
    char (*keys)[32];            /* Redis key "acme:e:100123" */
    uint16_t *mask;              /* bit p: holds perm_names[p] */
} sb_dataset;

/* One check or submit: extension, permission index, enable (submit only). */
typedef struct sb_item {
    uint32_t ext;
    uint8_t perm, enable;
} sb_item;

typedef enum sb_sys { SB_TMSD, SB_REDIS, SB_PG, SB_HTTP } sb_sys;
typedef enum sb_op { SB_CHECK, SB_SUBMIT } sb_op;

/* One measurement: nconn connections, each doing per_conn items in rounds of
 * batch (one frame / one pipeline per round), all started together. */
typedef struct sb_run {
    sb_sys sys;
    sb_op op;
    const char *addr;            /* socket path (contains '/') or HOST:PORT; libpq conninfo for SB_PG */
    int nconn, batch;
    size_t per_conn;             /* a multiple of batch */
    const sb_dataset *ds;
    sb_item *const *items;       /* items[conn][per_conn] */
    /* results */
    double secs;                 /* first start to last finish */
    uint64_t ops, allows, errors;
    double p50_us, p99_us;       /* per round trip (one call, frame or pipeline) */
    char why[256];               /* first error, "" if none */
} sb_run;

#define MAX_CONNS 8              /* client counts one --conns list may name */
#define SB_MAX_ROUNDS 32         /* rounds of one configuration (durable, http) */

/* sock_data.c */
/* "1,8,64" into out (at most MAX_CONNS, each 1..1000): the count, or -1. */
int sb_parse_counts(const char *s, int *out);
/* Min, median (the mean of the middle two for an even count), max of v[n], n <= SB_MAX_ROUNDS. */
void sb_spread(const double *v, int n, double out[3]);
uint64_t sb_rand(uint64_t *state);
int sb_gen(FILE *out, long n, uint64_t seed);
int sb_dataset_load(sb_dataset *ds, const char *path, char *why, size_t whylen);
void sb_dataset_free(sb_dataset *ds);
int sb_redis_load(const sb_dataset *ds, const char *addr, char *why, size_t whylen);
long sb_verify_all(const sb_dataset *ds, const char *tmsd, const char *redis, char *why, size_t whylen); /* redis may be NULL */

/* sock_run.c */
int sb_run_exec(sb_run *r);
redisContext *sb_redis_connect(const char *addr, char *why, size_t whylen);

/* sock_plan.c */
sb_item **sb_items_new(int nconn, size_t per_conn);
void sb_items_free(sb_item **items, int nconn);
void sb_plan_checks(const sb_dataset *ds, sb_item **items, int nconn, size_t per_conn, uint64_t seed);
uint64_t sb_expected_allows(const sb_dataset *ds, sb_item *const *items, int nconn, size_t per_conn);
void sb_plan_toggles(sb_dataset *ds, sb_item **items, int nconn, size_t per_conn, long *cursor);
int sb_format_toggle(const sb_dataset *ds, const sb_item *it, char *buf, size_t len);

/* sock_pg.c (libpq's PGconn is struct pg_conn) */
struct pg_conn;
struct pg_conn *sb_pg_connect(const char *conninfo, int prepare, char *why, size_t whylen);
void sb_pg_close(struct pg_conn *pc);
int sb_pg_round(struct pg_conn *pc, const sb_dataset *ds, const sb_item *it, int n, uint64_t *changed, char *why,
                size_t whylen);
int sb_pg_load(const sb_dataset *ds, const char *conninfo, char *why, size_t whylen);
long sb_pg_verify(const sb_dataset *ds, const char *conninfo, char *why, size_t whylen);
void sb_pg_describe(struct pg_conn *pc, char *buf, size_t len);
long long sb_pg_wal_syncs(struct pg_conn *pc);

/* sock_durable.c: `bench_socket durable ...` (tmsd against PostgreSQL) */
int sb_durable_main(int argc, char **argv);

/* sock_http.c: one client's HTTP keep-alive connection to tmsd --http, and
 * `bench_socket http ...` (HTTP checks against the socket protocol's) */
struct http_conn;
struct http_conn *sb_http_connect(const char *hostport, char *why, size_t whylen);
void sb_http_close(struct http_conn *hc);
int sb_http_check_round(struct http_conn *hc, const sb_dataset *ds, const sb_item *it, int n, uint64_t *allows,
                        char *why, size_t whylen);
int sb_http_main(int argc, char **argv);

#endif
