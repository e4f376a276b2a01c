/* witness_client.c -- tmsd --witness URL --witness-key VKEY: cosignatures of
 * each signed checkpoint collected through the C2SP tlog-witness protocol.
 *
 * For each witness: POST URL/add-checkpoint with "old M\n", the consistency
 * proof from M to the checkpoint's size (one base64 hash a line), "\n" and
 * the signed note, M being the size this witness last cosigned for us. M is
 * not known at start (0: no proof); a 409 answers with the witness's size
 * (text/x.tlog.size), and the request is made once more from it. A 200's
 * signature lines count only when they verify with the witness's key over
 * the note's text (tms_note_open of note + answer, as tlog-witness advises).
 *
 * A witness that is down, slow (timeouts of a few seconds) or refuses is
 * logged (level=warn) and skipped: the log goes on without its cosignature.
 * A 409 with a size above ours or a 422 means the witness saw another log
 * than the one we are proving: logged, loudly, for an operator to look at.
 *
 * libcurl's easy API, one handle per witness (kept for keep-alive). The set
 * is used by one thread at a time (the checkpointer's worker, under its
 * lock); tms__witnesses_new and _free run where no other thread uses libcurl
 * (curl_global_init is not thread-safe everywhere). */
#include "witness_client.h"
#include "daemon_internal.h"
#include "note.h"
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WITNESS_ANSWER_MAX (64u << 10)   /* an answer longer than this is not a witness's */
#define WITNESS_CONNECT_MS 3000L
#define WITNESS_TIMEOUT_MS 5000L
#define WITNESS_MAX_PROOF_LINES 63       /* tlog-witness: a client sends at most 63 */

typedef struct peer {
    char *url;                   /* the submission prefix + "/add-checkpoint" */
    tms_note_verifier key;       /* its cosigner key (type 0x04) */
    uint64_t last;               /* the size it last cosigned for us, as far as we know (0: unknown) */
    CURL *curl;
} peer;

struct tms__witnesses {
    size_t n;
    peer *p;
};

/* A growing buffer: an answer, a request body, the collected lines. */
typedef struct buf {
    char *s;
    size_t len, cap;
    int nomem;
} buf;

static int buf_add(buf *b, const void *data, size_t n)
{
    if (b->nomem)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s)
            return b->nomem = 1, -1;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static void warn(const peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const peer *p, const char *fmt, ...)
{
    char msg[600], q[900], u[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tms__log_quote(u, sizeof u, p->url);
    tms__daemon_log("warn", "msg=\"witness %s: %s\"", u, tms__log_quote(q, sizeof q, msg));
}

/* ---- set-up -------------------------------------------------------------------------- */

/* vkey: the key itself, or a file whose first line is one. */
static int load_key(const char *vkey, tms_note_verifier *out, char *why, size_t whylen)
{
    char w[200], line[4097];
    if (tms_note_verifier_parse(vkey, strlen(vkey), out, w, sizeof w) != TMS_OK) {
        FILE *f = fopen(vkey, "r");
        if (!f)
            return snprintf(why, whylen, "--witness-key %s: not a verifier key (%s) nor a file", vkey, w), -1;
        int got = fgets(line, sizeof line, f) != NULL;
        fclose(f);
        if (!got || tms_note_verifier_parse(line, strcspn(line, "\n"), out, w, sizeof w) != TMS_OK)
            return snprintf(why, whylen, "--witness-key %s: not a verifier key: %s", vkey, got ? w : "empty"), -1;
    }
    if (out->type != TMS_KEY_COSIGNATURE_V1)
        return snprintf(why, whylen, "--witness-key %s: not a witness's key (type 0x04, tms-audit keygen --witness)",
                        out->name), -1;
    return 0;
}

/* url + "/add-checkpoint" (url is the witness's submission prefix; the whole endpoint is taken as it is). */
static char *endpoint(const char *url)
{
    static const char path[] = "/add-checkpoint";
    size_t n = strlen(url), pl = sizeof path - 1;
    if (n >= pl && !strcmp(url + n - pl, path))
        return strdup(url);
    while (n && url[n - 1] == '/')
        n--;
    char *s = malloc(n + pl + 1);
    if (s) {
        memcpy(s, url, n);
        memcpy(s + n, path, pl + 1);
    }
    return s;
}

tms__witnesses *tms__witnesses_new(const char *const *urls, const char *const *vkeys, size_t n, char *why,
                                   size_t whylen)
{
    tms__witnesses *w = calloc(1, sizeof *w);
    if (!w || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(w);
        snprintf(why, whylen, "cannot start libcurl (out of memory)");
        return NULL;
    }
    if (!(w->p = calloc(n ? n : 1, sizeof *w->p)))
        goto nomem;
    for (w->n = 0; w->n < n; w->n++) {
        peer *p = &w->p[w->n];
        if (!urls[w->n] || !vkeys[w->n]) {
            snprintf(why, whylen, "--witness URL goes with --witness-key VKEY");
            goto fail;
        }
        if (load_key(vkeys[w->n], &p->key, why, whylen))
            goto fail;
        if (!(p->url = endpoint(urls[w->n])) || !(p->curl = curl_easy_init())) {
            w->n++;   /* freed with the rest */
            goto nomem;
        }
    }
    return w;
nomem:
    snprintf(why, whylen, "out of memory");
fail:
    tms__witnesses_free(w);
    return NULL;
}

void tms__witnesses_free(tms__witnesses *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->p[i].url);
        if (w->p[i].curl)
            curl_easy_cleanup(w->p[i].curl);
    }
    free(w->p);
    free(w);
    curl_global_cleanup();
}

/* ---- one request ------------------------------------------------------------------------ */

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
    buf *b = ctx;
    size_t n = size * nmemb;
    if (b->len + n > WITNESS_ANSWER_MAX || buf_add(b, data, n))
        return 0;   /* libcurl: a write error ends the transfer */
    return n;
}

/* "old OLD\n", the proof from old to size (none from 0), "\n", the note: 0, or -1 (warned). */
static int make_body(peer *p, tms_tree *t, uint64_t old, const char *note, size_t len, uint64_t size, buf *body)
{
    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF];
    char line[64], b64[64];
    size_t n = 0;
    tms_err err;
    if (old && (err = tms_tree_prove_consistency(t, old, size, proof, &n)) != TMS_OK) {
        warn(p, "cannot prove size %" PRIu64 " consistent with size %" PRIu64 ": %s", size, old, tms_strerror(err));
        return -1;
    }
    if (n > WITNESS_MAX_PROOF_LINES) {
        warn(p, "a consistency proof of %zu hashes: more than tlog-witness allows", n);
        return -1;
    }
    snprintf(line, sizeof line, "old %" PRIu64 "\n", old);
    buf_add(body, line, strlen(line));
    for (size_t i = 0; i < n; i++) {
        tms_b64_encode(proof[i], TMS_TLOG_HASH, b64);
        buf_add(body, b64, strlen(b64));
        buf_add(body, "\n", 1);
    }
    buf_add(body, "\n", 1);
    buf_add(body, note, len);
    return body->nomem ? (warn(p, "out of memory"), -1) : 0;
}

/* POST body to the witness: its HTTP status (answer in *ans), or -1 (warned). */
static long post(peer *p, const buf *body, buf *ans)
{
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
    struct curl_slist *h2 = hdr ? curl_slist_append(hdr, "Expect:") : NULL;   /* no 100-continue round trip */
    CURL *c = p->curl;
    long status = -1;
    if (!h2) {
        curl_slist_free_all(hdr);
        warn(p, "out of memory");
        return -1;
    }
    curl_easy_reset(c);   /* keeps the connection cache: keep-alive */
    curl_easy_setopt(c, CURLOPT_URL, p->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   /* a worker thread: no SIGALRM for the resolver */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, WITNESS_CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, WITNESS_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h2);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->s);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, ans);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tmsd");
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        warn(p, "%s", ans->nomem ? "out of memory" : rc == CURLE_WRITE_ERROR ? "an answer too long"
                                                                              : curl_easy_strerror(rc));
    else
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    return status;
}

/* A 409's body: the witness's latest cosigned size, "N\n". 0, or -1. */
static int parse_size(const buf *ans, uint64_t *size)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < ans->len && ans->s[i] >= '0' && ans->s[i] <= '9' && i < 20; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(ans->s[i] - '0');
    }
    if (i == 0 || i + 1 != ans->len || ans->s[i] != '\n')
        return -1;
    *size = v;
    return 0;
}

/* A 200's lines that verify with p's key over the note: appended to out. 0, or -1 (warned). */
static int collect(peer *p, const char *note, size_t len, const buf *ans, buf *out)
{
    buf both = {0};
    tms_note *n = malloc(sizeof *n);   /* some 20 KiB: not on a worker's stack */
    char why[300];
    size_t got = 0;
    int rc = -1;
    if (!n || buf_add(&both, note, len) || buf_add(&both, ans->s ? ans->s : "", ans->len))
        warn(p, "out of memory");
    else if (tms_note_open(both.s, both.len, &p->key, 1, n, why, sizeof why) != TMS_OK)
        warn(p, "its answer is not signature lines that verify: %s", why);
    else {
        for (size_t i = 0; i < n->nsigs; i++)
            if (n->sigs[i].verified && n->sigs[i].line >= both.s + len && !buf_add(out, n->sigs[i].line,
                                                                                     n->sigs[i].line_len))
                got++;
        if (!got)
            warn(p, "its answer holds no cosignature by %s+%08" PRIx32, p->key.name, p->key.id);
        rc = got ? 0 : -1;
    }
    free(both.s);
    free(n);
    return rc;
}

/* What a 409 says: 1 when asking again from the witness's size may help (p->last set to it), else 0 (warned). */
static int conflict(peer *p, const buf *ans, uint64_t size, int attempt)
{
    uint64_t theirs;
    if (parse_size(ans, &theirs))
        warn(p, "409 without a size (text/x.tlog.size)");
    else if (theirs > size)
        warn(p, "it cosigned size %" PRIu64 " of this log, above this checkpoint's %" PRIu64 ": it saw a longer log",
             theirs, size);
    else if (theirs == p->last)
        warn(p, "409 at size %" PRIu64 ": %s", theirs,
             theirs == size ? "it cosigned this size with another root: it saw another log"
                            : "it holds the size we sent, yet refuses it");
    else if (attempt > 0)
        warn(p, "409 again, now at size %" PRIu64, theirs);
    else
        return p->last = theirs, 1;
    return 0;
}

/* Ask p; once more after a 409 that says which size it holds. Cosignatures appended to out. */
static void ask(peer *p, tms_tree *t, const char *note, size_t len, uint64_t size, buf *out)
{
    int again = 1;
    for (int attempt = 0; again && attempt < 2; attempt++) {
        buf body = {0}, ans = {0};
        long status = -1;
        again = 0;
        if (p->last > size)
            warn(p, "it cosigned size %" PRIu64 " before, above this checkpoint's %" PRIu64 ": not asked", p->last,
                 size);
        else if (!make_body(p, t, p->last, note, len, size, &body))
            status = post(p, &body, &ans);
        if (status == 200 && !collect(p, note, len, &ans, out))
            p->last = size;
        else if (status == 409)
            again = conflict(p, &ans, size, attempt);
        else if (status != 200 && status != -1)
            warn(p, "HTTP %ld: %.200s", status, ans.s ? ans.s : "");
        free(body.s);
        free(ans.s);
    }
}

char *tms__witnesses_cosign(tms__witnesses *w, tms_tree *t, const char *note, size_t len, uint64_t size)
{
    buf out = {0};
    if (buf_add(&out, "", 0))
        return NULL;
    for (size_t i = 0; w && i < w->n; i++)
        ask(&w->p[i], t, note, len, size, &out);
    if (out.nomem) {
        free(out.s);
        return NULL;
    }
    return out.s;
}
