/* daemon_auth.c -- who is asking (issue 8, item 10). A principal is a name,
 * its rights (lookup, submit, admin: actor system, such as CreateTenant)
 * and the tenants it may touch. A connection is a principal by its
 * credentials: the peer uid of a Unix-socket client (SO_PEERCRED) or a token
 * presented in hello. They come from --principals FILE:
 *
 *   {"principals": [
 *     {"name": "frontend", "uid": 1000, "rights": ["lookup", "submit"], "tenants": ["*"]},
 *     {"name": "pbx-acme", "token_file": "/etc/tms/pbx-acme.token", "rights": ["lookup"],
 *      "tenants": ["acme"]}]}
 *
 * Without it (the defaults of earlier versions): a Unix-socket client is
 * "local" with every right; a TCP client that presents --token-file's token
 * is "token" with every right; any other TCP client is "anonymous" with
 * lookups (none with --tcp-lookups-need-token). Every tenant, for all three.
 *
 * A session keeps the credential it presented (credential: the hash of a
 * token that resolved, or its Unix uid), and a reload (SIGHUP) re-resolves
 * every session by it, never by the principal's name: a token rotated out
 * of a token_file names nobody any more even though its principal remains.
 * Failed hellos and refusals are logged with the peer (PCI DSS 10.2.1.4),
 * never the token. */
#include "daemon_internal.h"
#include <arpa/inet.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ALL_RIGHTS ((1 << TMS_RIGHT_LOOKUP) | (1 << TMS_RIGHT_SUBMIT) | (1 << TMS_RIGHT_ADMIN))
static const principal builtin_local = {.name = "local", .rights = ALL_RIGHTS, .all_tenants = 1, .uid = -1};
static const principal builtin_anonymous = {.name = "anonymous", .rights = 1 << TMS_RIGHT_LOOKUP, .all_tenants = 1,
                                            .uid = -1};
static const principal builtin_none = {.name = "anonymous", .rights = 0, .all_tenants = 1, .uid = -1};
static const principal builtin_token = {.name = "token", .rights = ALL_RIGHTS, .all_tenants = 1, .uid = -1};

static int load_rights(const json_t *a, int *rights)
{
    size_t i;
    json_t *v;
    *rights = 0;
    if (!json_is_array(a))
        return -1;
    json_array_foreach(a, i, v) {
        const char *s = json_string_value(v);
        int r = !s ? -1 : !strcmp(s, "lookup") ? TMS_RIGHT_LOOKUP : !strcmp(s, "submit") ? TMS_RIGHT_SUBMIT
              : !strcmp(s, "admin") ? TMS_RIGHT_ADMIN : -1;
        if (r < 0)
            return -1;
        *rights |= 1 << r;
    }
    return 0;
}

static int load_tenants(const json_t *a, principal *p)
{
    size_t i, n = json_array_size(a);
    json_t *v;
    if (!json_is_array(a) || !n || !(p->tenants = calloc(n, sizeof *p->tenants)))
        return -1;
    json_array_foreach(a, i, v) {
        const char *s = json_string_value(v);
        if (s && !strcmp(s, "*"))
            p->all_tenants = 1;
        else if (!s || !tms_is_id(s, strlen(s)))
            return -1;
        else
            snprintf(p->tenants[p->ntenants++], sizeof p->tenants[0], "%s", s);
    }
    return 0;
}

/* One entry of the file into p: 0, or -1 after a message in why. */
static int load_one(const json_t *o, principal *p, char *why, size_t whylen)
{
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *tf = json_string_value(json_object_get(o, "token_file"));
    const json_t *uid = json_object_get(o, "uid");
    p->uid = -1;
    if (!name || !tms_is_id(name, strlen(name)))
        return snprintf(why, whylen, "a principal needs a name (an id)"), -1;
    snprintf(p->name, sizeof p->name, "%s", name);
    if (load_rights(json_object_get(o, "rights"), &p->rights) || load_tenants(json_object_get(o, "tenants"), p))
        return snprintf(why, whylen, "principal %s: rights must be [lookup|submit|admin], tenants [ids or \"*\"]",
                        name), -1;
    if (uid && (!json_is_integer(uid) || json_integer_value(uid) < 0))
        return snprintf(why, whylen, "principal %s: uid must be a number", name), -1;
    if (uid)
        p->uid = (long)json_integer_value(uid);
    if (tf && tms_token_read(tf, p->token, sizeof p->token, &p->token_len, why, whylen))
        return -1;
    if (tf)
        crypto_generichash(p->token_hash, sizeof p->token_hash, (const unsigned char *)p->token, p->token_len, NULL, 0);
    if (!tf && !uid)
        return snprintf(why, whylen, "principal %s: give it a uid or a token_file", name), -1;
    return 0;
}

static void free_list(principal *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i].tenants);
    free(list);
}

/* Read a principals file into a new list: 0, or -1 with why (nothing allocated). */
static int load_file(const char *path, principal **out, size_t *nout, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr), *list = json_object_get(root, "principals"), *o;
    size_t i, n = json_array_size(list);
    principal *p = NULL;
    int rc = -1;
    if (!root || !json_is_array(list) || !n) {
        snprintf(why, whylen, "%s: %s", path, root ? "expected {\"principals\": [...]}" : jerr.text);
        goto done;
    }
    if (!(p = calloc(n, sizeof *p))) {
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    json_array_foreach(list, i, o)
        if (load_one(o, &p[i], why, whylen))
            goto done;
    *out = p;
    *nout = n;
    p = NULL;
    rc = 0;
done:
    free_list(p, n);
    json_decref(root);
    return rc;
}

int tms__auth_load(server *d, const char *path, char *why, size_t whylen)
{
    return load_file(path, &d->principals, &d->nprincipals, why, whylen);
}

/* The principal whose token has this hash (constant-time compares), NULL when none. */
static const principal *by_token_hash(const server *d, const uint8_t hash[32])
{
    const principal *who = NULL;
    if (!d->nprincipals && d->token_len) {
        uint8_t h[32];
        crypto_generichash(h, sizeof h, (const unsigned char *)d->token, d->token_len, NULL, 0);
        if (sodium_memcmp(h, hash, sizeof h) == 0)
            who = &builtin_token;
    }
    for (size_t i = 0; i < d->nprincipals; i++)
        if (d->principals[i].token_len && sodium_memcmp(d->principals[i].token_hash, hash, 32) == 0)
            who = &d->principals[i];
    return who;
}

const principal *tms__auth_resolve(const server *d, const credential *cr, int *resolved)
{
    const principal *who = NULL;
    *resolved = 1;
    if (cr->has_token) {   /* what it showed decides, never the name it had */
        if ((who = by_token_hash(d, cr->token_hash)))
            return who;
        *resolved = 0;
        return &builtin_none;
    }
    if (!cr->is_unix)
        return tms__auth_tcp_default(d);
    if (!d->nprincipals)
        return &builtin_local;
    for (size_t i = 0; cr->uid >= 0 && i < d->nprincipals; i++)
        if (d->principals[i].uid == cr->uid)
            who = &d->principals[i];
    if (!who)
        *resolved = 0;
    return who ? who : &builtin_none;
}

void tms__auth_credential_token(credential *cr, const char *tok, size_t len)
{
    cr->has_token = 1;
    crypto_generichash(cr->token_hash, sizeof cr->token_hash, (const unsigned char *)tok, len, NULL, 0);
}

/* After a reload: c becomes what its credential names now (a principal
 * stripped of a right loses it at once). One whose credential names nobody
 * any more (a token rotated out or removed, a uid no longer listed) is
 * revoked: no rights, no more reading, closed once what it has in flight is
 * answered. 1 when it was revoked now. */
static int reresolve(conn *c)
{
    int resolved;
    const principal *was = c->who, *who = tms__auth_resolve(c->d, &c->cred, &resolved);
    if (c->revoked || c->closing)
        return 0;
    c->who = who;
    c->rights = who->rights;
    if (resolved || was == &builtin_none)
        return 0;   /* still someone, or never was anyone: nothing to revoke */
    char q[2 * TMS_ID_MAX + 2], qp[2 * sizeof c->peer + 2];
    tms__daemon_log("warn", "msg=\"credentials revoked: connection closed\" principal=\"%s\" peer=\"%s\" credential=%s "
               "over=socket", tms__log_quote(q, sizeof q, was->name), tms__log_quote(qp, sizeof qp, c->peer),
               c->cred.has_token ? "token" : "uid");
    c->revoked = 1;
    c->eof = 1;   /* closed once its replies are flushed and its jobs answered */
    if (!c->reading_paused) {
        c->reading_paused = 1;
        uv_read_stop(&c->h.stream);
    }
    return 1;
}

/* Revocation reaches every open session: connections are re-resolved by
 * their credentials, then every watch (socket and HTTP) is checked against
 * its session's principal, min_seq waits of revoked connections are
 * answered, and revoked connections with nothing in flight close now. */
static void revoke_sessions(server *d)
{
    int any = 0;
    for (conn *c = d->conns; c; c = c->next)
        any |= reresolve(c);
    tms__watch_recheck(d);
    if (!any)
        return;
    tms__fresh_wake(d);
    for (conn *c = d->conns, *next; c; c = next) {
        next = c->next;
        if (c->revoked && !c->jobs && !c->queued_bytes)
            tms__conn_close(c);
    }
}

/* Swap the principals list for list (the old one retired: queued records
 * and sessions may point into it). 0, or -1 when out of memory. */
static int swap_principals(server *d, principal *list, size_t n)
{
    retired *r = realloc(d->retired, (d->nretired + 1) * sizeof *r);
    if (!r)
        return -1;
    d->retired = r;
    d->retired[d->nretired++] = (retired){d->principals, d->nprincipals};
    d->principals = list;
    d->nprincipals = n;
    return 0;
}

/* SIGHUP: the token file and the principals file again. Both are read
 * before anything changes: on any error tmsd keeps what it had. Open
 * sessions are re-resolved by the credential they presented
 * (revoke_sessions). The old list stays allocated (retired) until tmsd
 * stops: queued submits carry its names as their records' "by". */
int tms__auth_reload(server *d, char *why, size_t whylen)
{
    char tok[sizeof d->token];
    size_t toklen = 0, n = 0;
    principal *list = NULL;
    if (d->opt.token_file && tms_token_read(d->opt.token_file, tok, sizeof tok, &toklen, why, whylen))
        return -1;
    if (d->opt.principals && load_file(d->opt.principals, &list, &n, why, whylen))
        return -1;
    if (list && swap_principals(d, list, n)) {
        free_list(list, n);
        sodium_memzero(tok, sizeof tok);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (d->opt.token_file) {
        memcpy(d->token, tok, toklen);
        d->token_len = toklen;
    }
    sodium_memzero(tok, sizeof tok);
    revoke_sessions(d);
    return 0;
}

void tms__auth_free(server *d)
{
    free_list(d->principals, d->nprincipals);
    for (size_t i = 0; i < d->nretired; i++)
        free_list(d->retired[i].list, d->retired[i].n);
    free(d->retired);
    d->principals = NULL;
    d->nprincipals = 0;
    d->retired = NULL;
    d->nretired = 0;
}

/* The peer, for the record: "uid:N" (Unix) or "HOST:PORT" (TCP); and the
 * principal a new connection starts as. */
void tms__auth_connection(conn *c)
{
    server *d = c->d;
    uv_os_fd_t fd;
    int resolved;
    snprintf(c->peer, sizeof c->peer, "?");
    c->who = &builtin_none;
    c->cred = (credential){!c->is_tcp, -1, 0, {0}};
    if (uv_fileno(&c->h.handle, &fd) != 0)
        return;
    if (!c->is_tcp) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
            snprintf(c->peer, sizeof c->peer, "uid:%lu", (unsigned long)cred.uid);
            c->cred.uid = (long)cred.uid;
        }
        c->who = tms__auth_resolve(d, &c->cred, &resolved);
    } else {
        struct sockaddr_storage sa;
        int n = sizeof sa;
        char host[64] = "?";
        if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&sa, &n) == 0) {
            if (sa.ss_family == AF_INET)
                uv_ip4_name((struct sockaddr_in *)&sa, host, sizeof host);
            else
                uv_ip6_name((struct sockaddr_in6 *)&sa, host, sizeof host);
            snprintf(c->peer, sizeof c->peer, sa.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
                     ntohs(((struct sockaddr_in *)&sa)->sin_port));
        }
        c->who = tms__auth_tcp_default(d);
    }
    c->rights = c->who->rights;
}

/* The principal a token names (constant-time compare), NULL when none. */
const principal *tms__auth_by_token(const server *d, const char *tok, size_t len)
{
    const principal *who = NULL;
    if (!d->nprincipals && d->token_len && len == d->token_len && sodium_memcmp(tok, d->token, len) == 0)
        who = &builtin_token;
    for (size_t i = 0; i < d->nprincipals; i++) {
        const principal *p = &d->principals[i];
        if (p->token_len && len == p->token_len && sodium_memcmp(tok, p->token, len) == 0)
            who = p;
    }
    return who;
}

const principal *tms__auth_tcp_default(const server *d)
{
    return !d->nprincipals && !d->opt.tcp_lookups_need_token ? &builtin_anonymous : &builtin_none;
}

/* hello with a token: the principal it names, kept as the session's
 * credential (its hash); else the connection stays who it was and the
 * failure is logged with the peer, never the token. */
void tms__auth_token(conn *c, const char *tok, size_t len)
{
    const principal *who = c->revoked ? NULL : tms__auth_by_token(c->d, tok, len);
    if (who) {
        c->who = who;
        tms__auth_credential_token(&c->cred, tok, len);
    } else {
        char q[2 * TMS_ID_MAX + 2], qp[2 * sizeof c->peer + 2];
        tms__daemon_log("warn", "msg=\"authentication failed\" reason=\"%s\" principal=\"%s\" peer=\"%s\" "
                   "over=socket op=hello",
                   c->revoked ? "credentials revoked" : "unknown token", tms__log_quote(q, sizeof q, c->who->name),
                   tms__log_quote(qp, sizeof qp, c->peer));
    }
    c->rights = c->who->rights;
}

static const char *right_name(int right)
{
    return right == TMS_RIGHT_SUBMIT ? "submit" : right == TMS_RIGHT_ADMIN ? "admin" : "lookup";
}

void tms__auth_log_refused(const char *over, const char *what, int right, const principal *who, const char *peer)
{
    char q[2 * TMS_ID_MAX + 2], qp[200], qw[200];
    tms__daemon_log("info", "msg=\"%s refused\" code=E_DENIED principal=\"%s\" peer=\"%s\" over=%s %s=\"%s\"",
               right_name(right), tms__log_quote(q, sizeof q, who->name), tms__log_quote(qp, sizeof qp, peer), over,
               strcmp(over, "http") ? "op" : "route", tms__log_quote(qw, sizeof qw, what));
}

void tms__auth_refused(const conn *c, const char *op, int right)
{
    tms__auth_log_refused("socket", op, right, c->who, c->peer);
}

int tms__auth_principal_tenant_ok(const principal *p, const char *tenant)
{
    if (p->all_tenants)
        return 1;
    for (size_t i = 0; i < p->ntenants; i++)
        if (!strcmp(p->tenants[i], tenant))
            return 1;
    return 0;
}

int tms__auth_tenant_ok(const conn *c, const char *tenant)
{
    return tms__auth_principal_tenant_ok(c->who, tenant);
}
