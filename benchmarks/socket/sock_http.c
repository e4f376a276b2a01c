/* sock_http.c -- `bench_socket http`: permission checks through tmsd's HTTP
 * API (libcurl, one keep-alive connection per client thread) against the
 * same checks through its msgpack socket protocol over TCP (tmsclient.h),
 * issue 11, item 4. For each (checks per request, clients) it runs R rounds;
 * each round plans one set of random checks and asks both sides, the order
 * alternating (socket first in even rounds, HTTP first in odd ones), and the
 * ratio HTTP / socket is taken per round. 1 per request is GET /v1/check
 * with format=text against tms_client_check; B per request is POST /v1/check
 * against one check frame of B. Both sides must count the allows the data
 * file predicts. Progress goes to stderr, Markdown to stdout.
 *
 * Also the HTTP side of sock_run.c's rounds (sb_http_*). */
#include "bench_socket.h"
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CELLS (2 * MAX_CONNS)

/* ---- one client's HTTP connection ------------------------------------------------------ */

struct http_conn {
    CURL *curl;
    char base[128];              /* http://HOST:PORT */
    char url[512];
    char *body;                  /* the answer */
    size_t len, cap;
    char *post;                  /* a batch's request body */
    size_t post_cap;
    struct curl_slist *hdrs;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct http_conn *hc = arg;
    size_t add = size * n;
    if (hc->len + add + 1 > hc->cap) {
        size_t cap = (hc->len + add + 1) * 2;
        char *b = realloc(hc->body, cap);
        if (!b)
            return 0;   /* curl fails the transfer */
        hc->body = b;
        hc->cap = cap;
    }
    memcpy(hc->body + hc->len, p, add);
    hc->len += add;
    hc->body[hc->len] = '\0';
    return add;
}

struct http_conn *sb_http_connect(const char *hostport, char *why, size_t whylen)
{
    struct http_conn *hc = calloc(1, sizeof *hc);
    if (!hc || !(hc->curl = curl_easy_init())) {
        snprintf(why, whylen, "out of memory");
        free(hc);
        return NULL;
    }
    snprintf(hc->base, sizeof hc->base, "http://%s", hostport);
    curl_easy_setopt(hc->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(hc->curl, CURLOPT_WRITEDATA, hc);
    curl_easy_setopt(hc->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(hc->curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(hc->curl, CURLOPT_NOSIGNAL, 1L);
    hc->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    return hc;
}

void sb_http_close(struct http_conn *hc)
{
    if (!hc)
        return;
    curl_easy_cleanup(hc->curl);
    curl_slist_free_all(hc->hdrs);
    free(hc->body);
    free(hc->post);
    free(hc);
}

/* One request; 0 with the answer in hc->body when it was a 200. */
static int perform(struct http_conn *hc, int post, char *why, size_t whylen)
{
    long status = 0;
    hc->len = 0;
    curl_easy_setopt(hc->curl, CURLOPT_URL, hc->url);
    if (post) {
        curl_easy_setopt(hc->curl, CURLOPT_POSTFIELDS, hc->post);
        curl_easy_setopt(hc->curl, CURLOPT_HTTPHEADER, hc->hdrs);
    } else {
        curl_easy_setopt(hc->curl, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(hc->curl);
    curl_easy_getinfo(hc->curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
        snprintf(why, whylen, "HTTP %s: %s (status %ld) %.100s", hc->url, curl_easy_strerror(rc), status,
                 hc->body && hc->len ? hc->body : "");
        return -1;
    }
    return 0;
}

static int ensure_post(struct http_conn *hc, size_t need)
{
    if (need <= hc->post_cap)
        return 0;
    char *p = realloc(hc->post, need);
    if (!p)
        return -1;
    hc->post = p;
    hc->post_cap = need;
    return 0;
}

int sb_http_check_round(struct http_conn *hc, const sb_dataset *ds, const sb_item *it, int n, uint64_t *allows,
                        char *why, size_t whylen)
{
    if (n == 1) {   /* what a dialplan does: GET, format=text */
        snprintf(hc->url, sizeof hc->url, "%s/v1/check?tenant=%s&kind=extension&id=%s&name=%s&format=text", hc->base,
                 SB_TENANT, ds->ids[it->ext], ds->perm_names[it->perm]);
        if (perform(hc, 0, why, whylen))
            return -1;
        *allows += hc->len == 5 && !memcmp(hc->body, "allow", 5);
        return 0;
    }
    snprintf(hc->url, sizeof hc->url, "%s/v1/check", hc->base);
    if (ensure_post(hc, (size_t)n * 128 + 32)) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    size_t at = (size_t)snprintf(hc->post, hc->post_cap, "{\"checks\":[");
    for (int k = 0; k < n; k++)
        at += (size_t)snprintf(hc->post + at, hc->post_cap - at,
                               "%s{\"tenant\":\"%s\",\"kind\":\"extension\",\"id\":\"%s\",\"name\":\"%s\"}",
                               k ? "," : "", SB_TENANT, ds->ids[it[k].ext], ds->perm_names[it[k].perm]);
    snprintf(hc->post + at, hc->post_cap - at, "]}");
    if (perform(hc, 1, why, whylen))
        return -1;
    json_error_t jerr;
    json_t *o = json_loads(hc->body, 0, &jerr), *a = json_object_get(o, "allow");
    if (!json_is_array(a) || json_array_size(a) != (size_t)n) {
        snprintf(why, whylen, "POST /v1/check: not {\"allow\": [%d booleans]}", n);
        json_decref(o);
        return -1;
    }
    for (int k = 0; k < n; k++)
        *allows += json_is_true(json_array_get(a, (size_t)k));
    json_decref(o);
    return 0;
}

/* ---- bench_socket http ------------------------------------------------------------------- */

typedef struct hopts {
    const char *data, *tcp, *http;
    long checks, batched_checks;
    int batch, rounds, conns[MAX_CONNS], nconns;
} hopts;

typedef struct cell {
    int batch, nconn, done;
    double sock[SB_MAX_ROUNDS], http[SB_MAX_ROUNDS], ratio[SB_MAX_ROUNDS], sock_p50[SB_MAX_ROUNDS], http_p50[SB_MAX_ROUNDS];
    char why[256];
} cell;

static const char usage[] =
    "usage: bench_socket http --data FILE --tmsd-tcp HOST:PORT --http HOST:PORT [--checks N]\n"
    "                         [--batched-checks N] [--batch B] [--conns 1,8] [--rounds R]\n"
    "  --data            the JSON Lines file tmsd was fed (bench_socket gen)\n"
    "  --tmsd-tcp        tmsd --listen; --http: tmsd --http (the same tmsd)\n"
    "  --checks          checks per measurement at 1 per request, split over the clients (40000)\n"
    "  --batched-checks  checks per measurement at B per request (400000); --batch B (100)\n"
    "  --rounds          rounds per configuration, both sides on the same checks (5)\n"
    "Exit status: 0 when every answer matched the data file, 1 otherwise, 2 on errors.\n";

static int parse_hopts(hopts *o, int argc, char **argv)
{
    *o = (hopts){.checks = 40000, .batched_checks = 400000, .batch = 100, .rounds = 5, .conns = {1, 8}, .nconns = 2};
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--tmsd-tcp")) o->tcp = v;
        else if (!strcmp(a, "--http")) o->http = v;
        else if (!strcmp(a, "--checks")) o->checks = atol(v);
        else if (!strcmp(a, "--batched-checks")) o->batched_checks = atol(v);
        else if (!strcmp(a, "--batch")) o->batch = atoi(v);
        else if (!strcmp(a, "--rounds")) o->rounds = atoi(v);
        else if (!strcmp(a, "--conns")) o->nconns = sb_parse_counts(v, o->conns);
        else return -1;
    }
    return argc % 2 == 0 && o->data && o->tcp && o->http && o->nconns > 0 && o->batch >= 2 && o->batch <= 10000 &&
                   o->rounds >= 1 && o->rounds <= SB_MAX_ROUNDS && o->checks > 0 && o->batched_checks > 0
               ? 0
               : -1;
}

static double rate(const sb_run *r)
{
    return r->secs > 0 ? (double)r->ops / r->secs : 0;
}


static int run_side(sb_run *r, uint64_t want)
{
    int rc = sb_run_exec(r);
    if (rc == 0 && !r->errors && r->allows != want && !r->why[0])
        snprintf(r->why, sizeof r->why, "%lu allows, the data file says %lu", (unsigned long)r->allows,
                 (unsigned long)want);
    fprintf(stderr, "  %-6s %3d per request, %2d clients: %9.0f checks/s  p50 %7.1f us  p99 %7.1f us%s%s\n",
            r->sys == SB_HTTP ? "http" : "socket", r->batch, r->nconn, rate(r), r->p50_us, r->p99_us,
            r->why[0] ? "  ERROR: " : "", r->why);
    return rc == 0 && !r->errors && r->allows == want ? 0 : -1;
}

static int run_round(const hopts *o, const sb_dataset *ds, cell *c)
{
    long total = c->batch == 1 ? o->checks : o->batched_checks;
    size_t per = (size_t)(total / c->nconn) / (size_t)c->batch * (size_t)c->batch;
    per = per ? per : (size_t)c->batch;
    sb_item **items = sb_items_new(c->nconn, per);
    if (!items)
        return snprintf(c->why, sizeof c->why, "out of memory"), -1;
    sb_plan_checks(ds, items, c->nconn, per, (uint64_t)(1000 * c->nconn + 10 * c->batch + c->done));
    uint64_t want = sb_expected_allows(ds, items, c->nconn, per);
    sb_run base = {.op = SB_CHECK, .nconn = c->nconn, .batch = c->batch, .per_conn = per, .ds = ds, .items = items};
    sb_run s = base, h = base;
    s.sys = SB_TMSD;
    s.addr = o->tcp;
    h.sys = SB_HTTP;
    h.addr = o->http;
    int http_first = c->done % 2;
    int rc = run_side(http_first ? &h : &s, want);
    if (rc == 0)
        rc = run_side(http_first ? &s : &h, want);
    sb_items_free(items, c->nconn);
    if (rc)
        return snprintf(c->why, sizeof c->why, "%s", s.why[0] ? s.why : h.why[0] ? h.why : "a run failed"), -1;
    c->sock[c->done] = rate(&s);
    c->http[c->done] = rate(&h);
    c->ratio[c->done] = rate(&s) > 0 ? rate(&h) / rate(&s) : 0;
    c->sock_p50[c->done] = s.p50_us;
    c->http_p50[c->done] = h.p50_us;
    c->done++;
    return 0;
}

static void print_cells(const hopts *o, const cell *cells, int n)
{
    printf("| checks per request | clients | socket checks/s min / median / max | HTTP checks/s min / median / max "
           "| ratio HTTP/socket per round min / median / max | median p50 us socket / HTTP |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const cell *c = &cells[i];
        double s[3], h[3], r[3], sp[3], hp[3];
        sb_spread(c->sock, c->done, s);
        sb_spread(c->http, c->done, h);
        sb_spread(c->ratio, c->done, r);
        sb_spread(c->sock_p50, c->done, sp);
        sb_spread(c->http_p50, c->done, hp);
        printf("| %d | %d | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | **%.2f / %.2f / %.2f** | %.1f / %.1f |%s%s\n",
               c->batch, c->nconn, s[0], s[1], s[2], h[0], h[1], h[2], r[0], r[1], r[2], sp[1], hp[1],
               c->why[0] ? " FAILED: " : "", c->why);
    }
    printf("\n%d rounds per row, each both sides on the same random checks (order alternating); 1 per request: "
           "GET /v1/check?...&format=text vs one check frame; %d per request: POST /v1/check vs one check frame of %d. "
           "One blocking connection per client thread (libcurl keep-alive; tmsclient over TCP).\n",
           o->rounds, o->batch, o->batch);
}

int sb_http_main(int argc, char **argv)
{
    hopts o;
    static sb_dataset ds;
    static cell cells[MAX_CELLS];
    char why[256];
    int ncells = 0, failed = 0;
    if (parse_hopts(&o, argc, argv)) {
        fputs(usage, stderr);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) || sb_dataset_load(&ds, o.data, why, sizeof why)) {
        fprintf(stderr, "bench_socket http: %s\n", "cannot start (libcurl, or the data file)");
        return 2;
    }
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < o.nconns; i++) {
            cell *c = &cells[ncells++];
            c->batch = b ? o.batch : 1;
            c->nconn = o.conns[i];
            for (int r = 0; r < o.rounds && !failed; r++)
                failed |= run_round(&o, &ds, c) != 0;
        }
    print_cells(&o, cells, ncells);
    sb_dataset_free(&ds);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
