/* check.c -- asking tmsd's HTTP API from C with libcurl, as a PBX module or
 * a call-control service would: one keep-alive connection reused for every
 * question, a 1 s timeout, and fail closed (anything but a 200 "allow" is a
 * deny).
 *
 *   usage: tms-http-check URL TENANT KIND ID NAME [NAME...]
 *   e.g.   tms-http-check http://127.0.0.1:8080 acme extension 1001 calls.international
 *
 * Prints "allow" or "deny" per NAME; exit 0 when every answer was a 200
 * (allow or deny), 1 when one failed (printed as deny, with the reason on
 * stderr), 2 on bad usage. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

typedef struct answer {
    char text[16];
    size_t len;
} answer;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    answer *a = arg;
    size_t add = size * n, room = sizeof a->text - 1 - a->len;
    memcpy(a->text + a->len, p, add < room ? add : room);   /* "allow"/"deny": longer is neither */
    a->len += add < room ? add : room;
    a->text[a->len] = '\0';
    return add;
}

/* 1 allow, 0 deny, -1 no answer (a deny too: fail closed). */
static int ask(CURL *curl, const char *base, const char *tenant, const char *kind, const char *id, const char *name)
{
    char url[1024];
    answer a = {"", 0};
    long status = 0;
    char *t = curl_easy_escape(curl, tenant, 0), *i = curl_easy_escape(curl, id, 0), *n = curl_easy_escape(curl, name, 0);
    int len = t && i && n ? snprintf(url, sizeof url, "%s/v1/check?tenant=%s&kind=%s&id=%s&name=%s&format=text", base,
                                     t, kind, i, n)
                          : -1;
    curl_free(t);
    curl_free(i);
    curl_free(n);
    if (len < 0 || (size_t)len >= sizeof url)
        return fprintf(stderr, "tms-http-check: the URL is too long\n"), -1;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200)
        return fprintf(stderr, "tms-http-check: %s: %s (HTTP %ld)\n", name, curl_easy_strerror(rc), status), -1;
    return strcmp(a.text, "allow") == 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: tms-http-check URL TENANT KIND ID NAME [NAME...]\n");
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return 1;
    CURL *curl = curl_easy_init();
    int failed = !curl;
    if (curl) {
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        for (int k = 5; k < argc; k++) {
            int allow = ask(curl, argv[1], argv[2], argv[3], argv[4], argv[k]);
            failed |= allow < 0;
            puts(allow > 0 ? "allow" : "deny");
        }
        curl_easy_cleanup(curl);
    }
    curl_global_cleanup();
    return failed || fflush(stdout) ? 1 : 0;
}
