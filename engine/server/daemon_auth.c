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
 * lookups (none with --tcp-lookups-need-token). Every tenant, for all three. */
#include "daemon_internal.h"
#include <arpa/inet.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const principal builtin_local = {"local", (1 << TMS_RIGHT_LOOKUP) | (1 << TMS_RIGHT_SUBMIT) |
                                                     (1 << TMS_RIGHT_ADMIN), 1, NULL, 0, "", 0, -1};
static const principal builtin_anonymous = {"anonymous", 1 << TMS_RIGHT_LOOKUP, 1, NULL, 0, "", 0, -1};
static const principal builtin_none = {"anonymous", 0, 1, NULL, 0, "", 0, -1};
static const principal builtin_token = {"token", (1 << TMS_RIGHT_LOOKUP) | (1 << TMS_RIGHT_SUBMIT) |
                                                     (1 << TMS_RIGHT_ADMIN), 1, NULL, 0, "", 0, -1};

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

int auth_load(server *d, const char *path, char *why, size_t whylen)
{
    return load_file(path, &d->principals, &d->nprincipals, why, whylen);
}

/* After a reload: a connection that authenticated as a principal of the
 * replaced list becomes the principal of that name in the new one, or loses
 * its rights when there is none; one that showed the --token-file token loses
 * them when the token changed. A revocation reaches open connections. */
static void reresolve(server *d, conn *c, int token_changed)
{
    const principal *who = c->who;
    if (who == &builtin_token) {
        if (token_changed)
            who = c->is_tcp ? auth_tcp_default(d) : &builtin_local;
    } else if (who != &builtin_local && who != &builtin_anonymous && who != &builtin_none) {
        const principal *found = NULL;
        for (size_t i = 0; i < d->nprincipals; i++)
            if (!strcmp(d->principals[i].name, who->name))
                found = &d->principals[i];
        who = found ? found : &builtin_none;
    }
    c->who = who;
    c->rights = who->rights;
}

/* SIGHUP: the token file and the principals file again. Both are read
 * before anything changes: on any error tmsd keeps what it had. Open
 * connections are re-resolved by principal name (reresolve). The old list
 * stays allocated (retired) until tmsd stops: queued submits carry its
 * names as their records' "by". */
int auth_reload(server *d, char *why, size_t whylen)
{
    char tok[sizeof d->token];
    size_t toklen = 0, n = 0;
    principal *list = NULL;
    if (d->opt.token_file && tms_token_read(d->opt.token_file, tok, sizeof tok, &toklen, why, whylen))
        return -1;
    if (d->opt.principals && load_file(d->opt.principals, &list, &n, why, whylen))
        return -1;
    if (list) {
        retired *r = realloc(d->retired, (d->nretired + 1) * sizeof *r);
        if (!r) {
            free_list(list, n);
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        d->retired = r;
        d->retired[d->nretired++] = (retired){d->principals, d->nprincipals};
        d->principals = list;
        d->nprincipals = n;
    }
    int token_changed = d->opt.token_file && (toklen != d->token_len || sodium_memcmp(tok, d->token, toklen) != 0);
    if (d->opt.token_file) {
        memcpy(d->token, tok, toklen);
        d->token_len = toklen;
    }
    sodium_memzero(tok, sizeof tok);
    for (conn *c = d->conns; c; c = c->next)   /* open connections follow the new credentials too */
        reresolve(d, c, token_changed);
    return 0;
}

void auth_free(server *d)
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
void auth_connection(conn *c)
{
    server *d = c->d;
    uv_os_fd_t fd;
    snprintf(c->peer, sizeof c->peer, "?");
    c->who = &builtin_none;
    if (uv_fileno(&c->h.handle, &fd) != 0)
        return;
    if (!c->is_tcp) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        int known = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
        if (known)
            snprintf(c->peer, sizeof c->peer, "uid:%lu", (unsigned long)cred.uid);
        for (size_t i = 0; known && i < d->nprincipals; i++)
            if (d->principals[i].uid == (long)cred.uid)
                c->who = &d->principals[i];
        if (!d->nprincipals)
            c->who = &builtin_local;
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
        c->who = auth_tcp_default(d);
    }
    c->rights = c->who->rights;
}

/* The principal a token names (constant-time compare), NULL when none. */
const principal *auth_by_token(const server *d, const char *tok, size_t len)
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

const principal *auth_tcp_default(const server *d)
{
    return !d->nprincipals && !d->opt.tcp_lookups_need_token ? &builtin_anonymous : &builtin_none;
}

/* hello with a token: the principal it names (else the connection stays who it was). */
void auth_token(conn *c, const char *tok, size_t len)
{
    const principal *who = auth_by_token(c->d, tok, len);
    if (who)
        c->who = who;
    c->rights = c->who->rights;
}

int auth_principal_tenant_ok(const principal *p, const char *tenant)
{
    if (p->all_tenants)
        return 1;
    for (size_t i = 0; i < p->ntenants; i++)
        if (!strcmp(p->tenants[i], tenant))
            return 1;
    return 0;
}

int auth_tenant_ok(const conn *c, const char *tenant)
{
    return auth_principal_tenant_ok(c->who, tenant);
}
