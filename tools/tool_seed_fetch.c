/* tool_seed_fetch.c -- "tms-restore seed --from http://HOST:PORT": what a
 * leader's tmsd serves for a seed (GET /v1/seed, /v1/seed/snapshot,
 * /v1/seed/tree; engine/server/daemon_http_seed.c), fetched with libcurl
 * into a scratch directory laid out as a data directory's (snapshots/,
 * checkpoints, tree/hashes), which tool_seed.c then checks exactly as it
 * checks a leader's directory: nothing fetched is trusted but what the
 * log's key signed. Every answer is bounded: the JSON to 1 MiB, the
 * snapshot to the size the JSON gave, the tree to the hashes of the
 * snapshot's seq. */
#include "tool_seed.h"
#include "checkpoints.h"
#include "io.h"
#include "snapshots.h"
#include "tlog.h"
#include "tool_common.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEED_JSON_MAX (1u << 20)
#define SEED_TIMEOUT_S 3600L           /* a whole transfer; a stalled one is cut by the low-speed limit */

typedef struct sink {
    int fd;                            /* -1: into buf */
    char *buf;
    size_t len;
    uint64_t max;                      /* bytes accepted; more fails the transfer (or ends it: stop_at_max) */
    int stop_at_max, over, werr;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    sink *s = ctx;
    size_t got = size * n, take = got;
    if (s->len + got > s->max) {
        take = (size_t)(s->max - s->len);
        s->over = !s->stop_at_max;
    }
    if (s->fd >= 0 && take && tms_io_write_all(NULL, s->fd, p, take) != 0)
        return s->werr = errno, 0;
    if (s->fd < 0 && take) {
        char *b = realloc(s->buf, s->len + take + 1);
        if (!b)
            return 0;
        memcpy(b + s->len, p, take);
        s->buf = b;
        b[s->len + take] = '\0';
    }
    s->len += take;
    return take == got ? got : 0;   /* short: curl ends the transfer */
}

/* GET base + path into s. 0, or TOOL_ERROR after a message. */
static int get(const char *base, const char *path, const char *token, sink *s, uint64_t range_end)
{
    char url[2048], auth[600], range[64];
    struct curl_slist *h = NULL;
    long code = 0;
    CURL *c = curl_easy_init();
    if (!c)
        return tool_fail("seed: cannot start libcurl");
    snprintf(url, sizeof url, "%s%s", base, path);
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, SEED_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);   /* below 1 KiB/s for 60 s: cut */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tms-restore");
    if (range_end) {   /* only the prefix wanted (a server that ignores it is cut there) */
        snprintf(range, sizeof range, "0-%" PRIu64, range_end - 1);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    int cut = rc == CURLE_WRITE_ERROR && s->stop_at_max && s->len == s->max && !s->werr;
    if (s->over)
        return tool_fail("seed: %s: the answer is larger than expected (%" PRIu64 " bytes at most)", url, s->max);
    if (s->werr)
        return tool_fail("seed: writing what %s sent: %s", url, strerror(s->werr));
    if (rc != CURLE_OK && !cut)
        return tool_fail("seed: %s: %s", url, curl_easy_strerror(rc));
    if (code != 200 && code != 206)
        return tool_fail("seed: %s: HTTP %ld%s%.300s", url, code, s->fd < 0 && s->buf ? ": " : "",
                         s->fd < 0 && s->buf ? s->buf : "");
    return 0;
}

/* GET path into the file dir/name (created, fsynced). 0 or TOOL_ERROR. */
static int get_file(const char *base, const char *path, const char *token, const char *file, uint64_t max,
                    int stop_at_max)
{
    sink s = {-1, NULL, 0, max, stop_at_max, 0, 0};
    if ((s.fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
        return tool_fail("seed: cannot create %s: %s", file, strerror(errno));
    int rc = get(base, path, token, &s, stop_at_max ? max : 0);
    if (!rc && s.len != max && stop_at_max)
        rc = tool_fail("seed: %s%s: %zu bytes, %" PRIu64 " expected", base, path, s.len, max);
    if (!rc && fsync(s.fd) != 0)
        rc = tool_fail("seed: %s: %s", file, strerror(errno));
    close(s.fd);
    return rc;
}

static int read_token(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tool_fail("seed: --token-file %s: %s", path, strerror(errno));
    int ok = fgets(out, (int)n, f) != NULL;
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return ok && out[0] ? 0 : tool_fail("seed: --token-file %s is empty", path);
}

int tool_seed_fetch(const char *url, const char *token_file, const char *dir)
{
    char token[512], path[4300], why[300], base[1024];
    sink js = {-1, NULL, 0, SEED_JSON_MAX, 0, 0, 0};
    json_t *o = NULL;
    json_int_t seq = 0, bytes = 0;
    const char *note = NULL, *cp = NULL;
    json_t *cpj = NULL;
    size_t nlen = 0, cplen = 0;
    snprintf(base, sizeof base, "%s", url);
    for (size_t n = strlen(base); n && base[n - 1] == '/'; n--)
        base[n - 1] = '\0';
    if (token_file && read_token(token_file, token, sizeof token))
        return TOOL_ERROR;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return tool_fail("seed: cannot start libcurl");
    int rc = get(base, "/v1/seed", token_file ? token : NULL, &js, 0);
    if (!rc && (!(o = json_loadb(js.buf ? js.buf : "", js.len, 0, NULL)) ||
                json_unpack(o, "{s:I,s:I,s:s%,s:o}", "seq", &seq, "bytes", &bytes, "note", &note, &nlen, "checkpoint",
                            &cpj) || (!json_is_null(cpj) && json_unpack(cpj, "s%", &cp, &cplen)) || seq < 1 ||
                bytes < 1 || (uint64_t)bytes > ((uint64_t)1 << 40)))
        rc = tool_fail("seed: %s/v1/seed: not the answer expected: %.200s", base, js.buf ? js.buf : "");
    if (!rc && (snprintf(path, sizeof path, "%s/snapshots", dir) < 0 || mkdir(path, 0700) ||
                snprintf(path, sizeof path, "%s/tree", dir) < 0 || mkdir(path, 0700)))
        rc = tool_fail("seed: cannot create %s: %s", dir, strerror(errno));
    if (!rc && ((cp && tms_checkpoints_append(dir, cp, cplen, why, sizeof why)) ||
                tms_snapshot_note_write(dir, (uint64_t)seq, note, nlen, why, sizeof why)))
        rc = tool_fail("seed: %s", why);
    char rel[64];
    snprintf(rel, sizeof rel, "/v1/seed/snapshot?seq=%" PRIu64, (uint64_t)seq);
    snprintf(path, sizeof path, "%s/snapshots/%020" PRIu64 ".snap", dir, (uint64_t)seq);
    if (!rc)
        rc = get_file(base, rel, token_file ? token : NULL, path, (uint64_t)bytes, 1);
    snprintf(path, sizeof path, "%s/tree/hashes", dir);
    if (!rc)   /* the 16-byte header and the stored hashes of the snapshot's size */
        rc = get_file(base, "/v1/seed/tree", token_file ? token : NULL, path,
                      16 + (uint64_t)TMS_TLOG_HASH * tms_tlog_stored_count((uint64_t)seq), 1);
    json_decref(o);
    free(js.buf);
    curl_global_cleanup();
    return rc;
}
