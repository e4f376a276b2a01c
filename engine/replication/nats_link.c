/* nats_link.c -- see nats_link.h. */
#include "nats_link.h"
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int tms__stream_names(const char *name, char stream[TMS__STREAM_MAX + 1], char subject[TMS__STREAM_MAX + 8],
                      char *why, size_t whylen)
{
    name = name ? name : TMS__STREAM_DEFAULT;
    size_t n = strlen(name);
    if (!n || n > TMS__STREAM_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n) {
        snprintf(why, whylen, "stream name %.60s: 1 to %d letters, digits, '_' or '-'", name, TMS__STREAM_MAX);
        return -1;
    }
    memcpy(stream, name, n + 1);
    snprintf(subject, TMS__STREAM_MAX + 8, "%s.log", name);
    return 0;
}

/* A value for the stderr line: quoted, '"' and '\\' escaped, control characters as \xNN. */
static void put_quoted(FILE *f, const char *v)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void tms__repl_log(tms_repl_log_fn fn, const char *level, const char *msg, const char *const *kv)
{
    if (fn) {
        fn(level, msg, kv);
        return;
    }
    flockfile(stderr);   /* one line, whatever other threads print */
    fprintf(stderr, "level=%s msg=", level);
    put_quoted(stderr, msg);
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
        fprintf(stderr, " %s=", kv[i]);
        put_quoted(stderr, kv[i + 1]);
    }
    fputc('\n', stderr);
    funlockfile(stderr);
}

/* The connection's own tms__nats_link (one per connection: a cluster node
 * holds three, the lease's, the follower's and the publisher's; a single one
 * for the process told each of them of the last one's connection, and was
 * rewritten while nats.c threads read it). */
static void on_disconnected(natsConnection *nc, void *closure)
{
    tms__nats_link *l = closure;
    (void)nc;
    l->fn(l->closure, 0);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    tms__nats_link *l = closure;
    (void)nc;
    l->fn(l->closure, 1);
}

natsStatus tms__nats_connect(natsOptions *o, jsOptions *jo, tms__nats_link *link, natsConnection **nc, jsCtx **js)
{
    natsStatus s = NATS_OK;
    *nc = NULL;
    *js = NULL;
    if (link) {   /* set on o each time: nats.c copies o into the connection */
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, link);
        if (s == NATS_OK)
            s = natsOptions_SetReconnectedCB(o, on_reconnected, link);
    }
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, o);
    if (s == NATS_OK)
        s = natsConnection_JetStream(js, *nc, jo);
    if (s != NATS_OK) {
        natsConnection_Destroy(*nc);
        *nc = NULL;
        *js = NULL;
    }
    return s;
}

/* ---- credentials and TLS ------------------------------------------------------------------ */

#define SECRET_MAX 4096

/* The first line of the file at path (no line end) into buf: 0, or -1 with
 * why when it cannot be read, is empty or longer than the buffer. */
static int read_secret(const char *opt, const char *path, char buf[SECRET_MAX], char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    int ok = f && fgets(buf, SECRET_MAX, f) != NULL;
    int e = errno;
    if (f)
        fclose(f);
    size_t n = ok ? strcspn(buf, "\r\n") : 0;
    if (!ok || !n || (!buf[n] && n == SECRET_MAX - 1)) {
        snprintf(why, whylen, "%s %s: %s", opt, path,
                 !f ? strerror(e) : !ok || !n ? "empty (the secret goes on its first line)" : "its first line is too long");
        sodium_memzero(buf, SECRET_MAX);
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

static int readable(const char *opt, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "%s %s: %s", opt, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* NKeys (github.com/nats-io/nkeys): base32 (RFC 4648, no padding) of a
 * prefix, the key and a CRC-16/XMODEM of both, little-endian. A user seed is
 * two prefix bytes (seed 18 << 3, user 20 << 3, packed) and the Ed25519 seed. */
#define NKEY_SEED_PREFIX (18 << 3)
#define NKEY_USER_PREFIX (20 << 3)
static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static unsigned crc16(const uint8_t *d, size_t n)
{
    unsigned crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned)d[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000 ? crc << 1 ^ 0x1021 : crc << 1) & 0xffff;
    }
    return crc;
}

/* Decode text[0..len) into out (exactly n bytes): 0, or -1. */
static int b32_decode(const char *text, size_t len, uint8_t *out, size_t n)
{
    uint32_t acc = 0;
    size_t bits = 0, k = 0;
    for (size_t i = 0; i < len; i++) {
        const char *c = text[i] ? strchr(b32, text[i]) : NULL;
        if (!c)
            return -1;
        acc = acc << 5 | (uint32_t)(c - b32);
        if ((bits += 5) >= 8) {
            if (k == n)
                return -1;
            out[k++] = (uint8_t)(acc >> (bits -= 8));
        }
    }
    return k == n ? 0 : -1;
}

static void b32_encode(const uint8_t *d, size_t n, char *out)
{
    uint32_t acc = 0;
    size_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | d[i];
        for (bits += 8; bits >= 5; bits -= 5)
            *out++ = b32[acc >> (bits - 5) & 31];
    }
    if (bits)
        *out++ = b32[acc << (5 - bits) & 31];
    *out = '\0';
}

/* The user's public NKey (U..., 56 characters) of the seed in the file at path. */
static int nkey_public(const char *path, char pub[64], char *why, size_t whylen)
{
    char line[SECRET_MAX];
    uint8_t raw[36], pk[32], sk[64], enc[35];
    int rc = -1;
    if (read_secret("--nats-nkey", path, line, why, whylen))
        return -1;
    if (b32_decode(line, strlen(line), raw, sizeof raw) || crc16(raw, 34) != (raw[34] | (unsigned)raw[35] << 8) ||
        (raw[0] & 0xf8) != NKEY_SEED_PREFIX || ((raw[0] & 7) << 5 | (raw[1] & 0xf8) >> 3) != NKEY_USER_PREFIX) {
        snprintf(why, whylen, "--nats-nkey %s: not a user NKey seed (SU...)", path);
        goto out;
    }
    crypto_sign_seed_keypair(pk, sk, raw + 2);
    enc[0] = NKEY_USER_PREFIX;
    memcpy(enc + 1, pk, 32);
    unsigned crc = crc16(enc, 33);
    enc[33] = (uint8_t)crc;
    enc[34] = (uint8_t)(crc >> 8);
    b32_encode(enc, sizeof enc, pub);
    rc = 0;
out:
    sodium_memzero(line, sizeof line);
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

/* Who we are: at most one of a .creds file, an NKey seed, a user and password, a token. */
static int set_auth(natsOptions *o, const tms_nats_options *no, char *why, size_t whylen)
{
    char secret[SECRET_MAX], pub[64];
    natsStatus s = NATS_OK;
    if (!!no->creds + !!no->nkey_seed + !!(no->user || no->password_file) + !!no->token_file > 1) {
        snprintf(why, whylen, "NATS: one of --nats-creds, --nats-nkey, --nats-user, --nats-token-file");
        return -1;
    }
    if (no->creds) {
        if (readable("--nats-creds", no->creds, why, whylen))
            return -1;
        s = natsOptions_SetUserCredentialsFromFiles(o, no->creds, NULL);
    } else if (no->nkey_seed) {
        if (nkey_public(no->nkey_seed, pub, why, whylen))
            return -1;
        s = natsOptions_SetNKeyFromSeed(o, pub, no->nkey_seed);
    } else if (no->user || no->password_file) {
        if (!no->user || !no->password_file) {
            snprintf(why, whylen, "NATS: --nats-user and --nats-password-file go together");
            return -1;
        }
        if (read_secret("--nats-password-file", no->password_file, secret, why, whylen))
            return -1;
        s = natsOptions_SetUserInfo(o, no->user, secret);   /* nats.c keeps a copy */
        sodium_memzero(secret, sizeof secret);
    } else if (no->token_file) {
        if (read_secret("--nats-token-file", no->token_file, secret, why, whylen))
            return -1;
        s = natsOptions_SetToken(o, secret);
        sodium_memzero(secret, sizeof secret);
    }
    if (s != NATS_OK) {
        snprintf(why, whylen, "NATS credentials: %s", nats_GetLastError(NULL));
        return -1;
    }
    return 0;
}

/* TLS when asked for: the server's certificate checked against ca (else the
 * system's CAs), and a client certificate for mutual TLS. nats.c loads the
 * files now, so a bad one is a start error. */
static int set_tls(natsOptions *o, const char *url, const tms_nats_options *no, char *why, size_t whylen)
{
    if (!no->ca && !no->cert && !no->key && strncmp(url, "tls://", 6))
        return 0;
    if (!no->cert != !no->key) {
        snprintf(why, whylen, "NATS: --nats-cert and --nats-key go together");
        return -1;
    }
    if ((no->ca && readable("--nats-ca", no->ca, why, whylen)) ||
        (no->cert && (readable("--nats-cert", no->cert, why, whylen) || readable("--nats-key", no->key, why, whylen))))
        return -1;
    const char *what = "NATS TLS";
    natsStatus s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && no->ca && (s = natsOptions_LoadCATrustedCertificates(o, no->ca)) != NATS_OK)
        what = "--nats-ca";
    if (s == NATS_OK && no->cert && (s = natsOptions_LoadCertificatesChain(o, no->cert, no->key)) != NATS_OK)
        what = "--nats-cert/--nats-key";
    if (s != NATS_OK) {
        snprintf(why, whylen, "%s: %s", what, nats_GetLastError(NULL));
        return -1;
    }
    return 0;
}

/* url, or URL,URL,... (--cluster: a NATS cluster's servers): nats.c's
 * SetURL takes one server only, SetServers a list. */
static natsStatus set_servers(natsOptions *o, const char *url)
{
    char copy[1024], *save = NULL;
    const char *list[16];
    int n = 0;
    if (!strchr(url, ','))
        return natsOptions_SetURL(o, url);
    if (strlen(url) >= sizeof copy)
        return NATS_INVALID_ARG;
    snprintf(copy, sizeof copy, "%s", url);
    for (char *t = strtok_r(copy, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save))
        list[n++] = t;
    return n ? natsOptions_SetServers(o, list, n) : NATS_INVALID_ARG;
}

int tms__nats_options(const char *url, const tms_nats_options *no, natsOptions **out, char *why, size_t whylen)
{
    static const tms_nats_options none;
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    no = no ? no : &none;
    *out = NULL;
    if (s == NATS_OK)
        s = set_servers(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);   /* forever: the log keeps what NATS misses */
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, 2000);
    if (s != NATS_OK) {
        snprintf(why, whylen, "NATS %s: %s", url, nats_GetLastError(NULL));
        natsOptions_Destroy(o);
        return -1;
    }
    if (set_auth(o, no, why, whylen) || set_tls(o, url, no, why, whylen)) {
        natsOptions_Destroy(o);
        return -1;
    }
    *out = o;
    return 0;
}
