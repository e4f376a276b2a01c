/* state_snapshot_decode.c -- a state from its canonical encoding
 * (snapshot.h), for untrusted bytes.
 *
 * The stream is read one msgpack object at a time, each first through
 * tms_msgpack_sane (no container may announce more than the bytes left) and
 * a walk that wants every item in the shortest form msgpack-c packs it in,
 * of the types the format uses; then msgpack-c unpacks it. The state is built
 * with the public mutators of state.h in the order the format gives: a
 * tenant, its roles (then its default role), logins, accounts and objects,
 * then the links between them that may point forward (owners, parents,
 * distributions), then its request ids. Every reference is looked up, every
 * id and text checked as the command validator checks them, every list
 * checked for strict byte order (so no duplicates), the manager tree for a
 * cycle. The mutators' undo entries and effects are committed object by
 * object: a failure frees the whole state, nothing is rolled back.
 *
 * Canonical by construction: each object is what the encoder writes for
 * the state built from it (the same fields in the same order, counts that
 * are the state's, nil exactly where the state has nothing, the lists in the
 * order the walks give, the catalogue trailer of the bits used), and every
 * item is in its shortest form, so the state re-encodes to the very bytes
 * read. tests/test_snapshot.c and tests/fuzz/fuzz_snapshot.c check that
 * every accepted input does; re-encoding here would cost a third of a
 * decode. */
#include "snapshot.h"
#include "cmd.h"
#include "mpsafe.h"
#include "snapshot_dec.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The previous key of a list, to check strict byte order. */
#define KEY_MAX (1 + TMS_ID_MAX + 1 + TMS_TOKEN_MAX)
typedef struct order {
    char key[KEY_MAX];
    size_t n;
    int any;
} order;

typedef struct dec {
    const uint8_t *buf;
    size_t len, off, at;                /* next object's offset; the current one's */
    msgpack_zone zone;                  /* the current object's memory: cleared, not freed, for the next */
    msgpack_object obj;                 /* the current object */
    tms_state *st;
    tms_err err;
    char *why;
    size_t whylen;
    uint64_t perms_used, features_used; /* every mask read, OR-ed: checked against the trailer */
    uint64_t orphans;                   /* request ids of no tenant: a tenant's may repeat one */
    tms_account **mgr;                  /* the current tenant's managers (the cycle check) */
    size_t nmgr, capmgr;
} dec;

/* ---- failures ------------------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) static int bad(dec *d, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!d->err && d->why && d->whylen)
        snprintf(d->why, d->whylen, "snapshot byte %zu: %s", d->at, msg);
    if (!d->err)
        d->err = TMS_E_CORRUPT;
    return -1;
}

static int failed(dec *d, tms_err err)
{
    if (err == TMS_E_NOMEM) {
        if (!d->err && d->why && d->whylen)
            snprintf(d->why, d->whylen, "out of memory");
        if (!d->err)
            d->err = TMS_E_NOMEM;
        return -1;
    }
    return err ? bad(d, "the state refused it: %s", tms_strerror(err)) : 0;
}

/* ---- reading objects ------------------------------------------------------------- */

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Containers in containers: a distribution's managers, the trailer's lists. */
#define NESTING_MAX 2

/* 1 when the object at p (len bytes left) is in the shortest form msgpack-c
 * packs (a value or length in the narrowest header that holds it), of the
 * types the format uses (nil, unsigned integers, str, bin, array, map) and
 * nested no deeper than it (msgpack-c would fail deep nesting as if out of
 * memory). */
static int shortest_form(const uint8_t *p, size_t len)
{
    uint64_t owed[NESTING_MAX + 1] = {1};   /* items still to come at each level */
    int top = 0;
    size_t off = 0;
    for (;;) {
        int w = 0;            /* bytes of the value or length after the type byte */
        int what = 0;         /* 0 a scalar, 1 a body of n bytes, 2 n items, 3 n pairs */
        uint64_t n = 0, least = 0;   /* least: below it, a narrower header holds the value */
        while (top > 0 && !owed[top])
            top--;
        if (!owed[top])
            return 1;
        owed[top]--;
        if (off >= len)
            return 0;
        uint8_t t = p[off];
        if (t <= 0x7f || t == 0xc0)
            ;
        else if (t <= 0x8f)
            n = t & 15u, what = 3;
        else if (t <= 0x9f)
            n = t & 15u, what = 2;
        else if (t <= 0xbf)
            n = t & 31u, what = 1;
        else
            switch (t) {
            case 0xcc: w = 1, least = 0x80; break;
            case 0xcd: w = 2, least = 0x100; break;
            case 0xce: w = 4, least = 0x10000; break;
            case 0xcf: w = 8, least = UINT64_C(0x100000000); break;
            case 0xc4: w = 1, what = 1; break;
            case 0xd9: w = 1, least = 32, what = 1; break;
            case 0xc5: case 0xda: w = 2, least = 0x100, what = 1; break;
            case 0xc6: case 0xdb: w = 4, least = 0x10000, what = 1; break;
            case 0xdc: w = 2, least = 16, what = 2; break;
            case 0xdd: w = 4, least = 0x10000, what = 2; break;
            case 0xde: w = 2, least = 16, what = 3; break;
            case 0xdf: w = 4, least = 0x10000, what = 3; break;
            default: return 0;   /* bool, float, ext, signed integers: never written */
            }
        if (len - off - 1 < (size_t)w)
            return 0;
        if (w && (n = be(p + off + 1, w)) < least)
            return 0;
        off += 1 + (size_t)w;
        if (what == 1 && n > len - off)
            return 0;
        off += what == 1 ? (size_t)n : 0;
        if (what >= 2 && n) {
            if (top == NESTING_MAX)
                return 0;
            owed[++top] = what == 2 ? n : 2 * n;
        }
    }
}

/* The next object of the stream into d->obj (what an earlier one pointed to
 * is gone: its zone is cleared, keeping its first chunk, so that a decode
 * does not allocate and free a zone per object). The changes made for the earlier one are committed first. */
static int next(dec *d, const msgpack_object **o)
{
    size_t off = d->off;
    tms_state_commit(d->st);
    d->at = off;
    if (off >= d->len)
        return bad(d, "cut short");
    if (!tms_msgpack_sane(d->buf + off, d->len - off))
        return bad(d, "not a msgpack object within the bytes left");
    if (!shortest_form(d->buf + off, d->len - off))
        return bad(d, "not in msgpack's shortest form, of a type never written or nested too deep (not canonical)");
    msgpack_zone_clear(&d->zone);
    msgpack_unpack_return rc = msgpack_unpack((const char *)d->buf, d->len, &off, &d->zone, &d->obj);
    if (rc == MSGPACK_UNPACK_NOMEM_ERROR)
        return failed(d, TMS_E_NOMEM);
    if (rc != MSGPACK_UNPACK_SUCCESS && rc != MSGPACK_UNPACK_EXTRA_BYTES)
        return bad(d, "msgpack does not unpack");
    d->off = off;
    *o = &d->obj;
    return 0;
}

static int as_array(dec *d, const msgpack_object *o, uint32_t n, const msgpack_object **items, const char *what)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n)
        return bad(d, "%s is not an array of %u", what, n);
    *items = o->via.array.ptr;
    return 0;
}

/* The next object, an array of n items. */
static int next_array(dec *d, uint32_t n, const msgpack_object **items, const char *what)
{
    const msgpack_object *o = NULL;
    return next(d, &o) || as_array(d, o, n, items, what);
}

static int as_u64(dec *d, const msgpack_object *o, uint64_t *v, const char *what)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return bad(d, "%s is not an unsigned integer", what);
    *v = o->via.u64;
    return 0;
}

static int next_count(dec *d, uint64_t *n, const char *what)
{
    const msgpack_object *o = NULL;
    return next(d, &o) || as_u64(d, o, n, what);
}

/* Strings as the command validator takes them: ids, texts (0-256 bytes)
 * and tokens (request ids, 1-128 bytes) without control characters. */
enum { S_ID, S_TEXT, S_TOKEN };

static int is_text(const char *s, size_t n, size_t min)
{
    if (n < min)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* A string of that type into out (room for its maximum and the NUL). */
static int as_s(dec *d, const msgpack_object *o, int type, char *out, const char *what)
{
    size_t max = type == S_ID ? TMS_ID_MAX : type == S_TEXT ? TMS_TEXT_MAX : TMS_TOKEN_MAX;
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max)
        return bad(d, "%s is not a string of at most %zu bytes", what, max);
    const char *s = o->via.str.ptr;
    size_t n = o->via.str.size;
    if (type == S_ID ? !tms_is_id(s, n) : !is_text(s, n, type == S_TOKEN))
        return bad(d, "%s is not %s", what, type == S_ID ? "an id" : "a text without control characters");
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* An id, or nil: out = "" then. */
static int as_id_or_nil(dec *d, const msgpack_object *o, char *out, const char *what)
{
    out[0] = '\0';
    return o->type == MSGPACK_OBJECT_NIL ? 0 : as_s(d, o, S_ID, out, what);
}

/* A kind letter; `need`: 'a' an account kind, 'o' an object kind, 0 any. */
static int as_kind(dec *d, const msgpack_object *o, int need, char *kind)
{
    if (o->type == MSGPACK_OBJECT_STR && o->via.str.size == 1)
        for (int i = 0; i < TMS_KIND_COUNT; i++)
            if (tms_kinds[i].letter == o->via.str.ptr[0] &&
                (!need || (need == 'a' ? tms_kinds[i].account : tms_kinds[i].object))) {
                *kind = tms_kinds[i].letter;
                return 0;
            }
    return bad(d, "not a kind of %s", need == 'a' ? "account" : need == 'o' ? "object" : "account or object");
}

/* A permission (features 0) or feature mask: every bit has a name here. */
static int as_mask(dec *d, const msgpack_object *o, int features, uint64_t *mask)
{
    int count = features ? TMS_FEATURE_COUNT : TMS_PERM_COUNT;
    if (as_u64(d, o, mask, features ? "features" : "permissions"))
        return -1;
    if (*mask >> count)
        return bad(d, "%s bit %d has no name in this catalogue", features ? "feature" : "permission",
                   63 - __builtin_clzll(*mask));
    *(features ? &d->features_used : &d->perms_used) |= *mask;
    return 0;
}

/* seq, verdict, digest: what the first record with a request id was. */
static int as_first(dec *d, const msgpack_object *f, tms_request_seen *first)
{
    const msgpack_object *v = &f[1];
    memset(first, 0, sizeof *first);
    if (as_u64(d, &f[0], &first->seq, "a request's seq"))
        return -1;
    if (f[2].type != MSGPACK_OBJECT_BIN || f[2].via.bin.size != sizeof first->digest)
        return bad(d, "a request's digest is not %zu bytes", sizeof first->digest);
    memcpy(first->digest, f[2].via.bin.ptr, sizeof first->digest);
    if (v->type == MSGPACK_OBJECT_STR && v->via.str.size == 8 && !memcmp(v->via.str.ptr, "accepted", 8))
        return 0;
    for (int e = 1; v->type == MSGPACK_OBJECT_STR && e < TMS_ERR_COUNT; e++)
        if (tms_err_is_domain[e] && strlen(tms_err_codes[e]) == v->via.str.size &&
            !memcmp(tms_err_codes[e], v->via.str.ptr, v->via.str.size)) {
            first->verdict = (tms_err)e;
            return 0;
        }
    return bad(d, "a request's verdict is not one");
}

/* Key a..b (b may be NULL) must follow the list's previous key in byte
 * order (a shorter key first when one is a prefix of the other). */
static int ordered(dec *d, order *ord, const char *a, const char *b, const char *what)
{
    char key[KEY_MAX];
    size_t na = strlen(a), nb = b ? strlen(b) + 1 : 0, n = na + nb;
    memcpy(key, a, na);
    if (b) {
        key[na] = '\0';   /* tenant NUL request id: the state's own key order */
        memcpy(key + na + 1, b, nb - 1);
    }
    if (ord->any) {
        size_t m = n < ord->n ? n : ord->n;
        int c = memcmp(ord->key, key, m);
        if (c > 0 || (c == 0 && ord->n >= n))
            return bad(d, "%s are not in strict byte order of ids (%s%s%s)", what, a, b ? " " : "", b ? b : "");
    }
    memcpy(ord->key, key, n);
    ord->n = n;
    ord->any = 1;
    return 0;
}

/* (kind, id) as one key: the kind's letter, then the id. */
static const char *kind_key(char *buf, char kind, const char *id)
{
    buf[0] = kind;
    strcpy(buf + 1, id);
    return buf;
}


/* ---- a tenant's parts ------------------------------------------------------------ */

static int read_role(dec *d, tms_tenant *t, order *ord)
{
    const msgpack_object *f = NULL;
    char id[TMS_ID_MAX + 1], creator[TMS_ID_MAX + 1], kind = 0;
    uint64_t perms = 0;
    tms_role *r;
    if (next_array(d, 4, &f, "a role") || as_s(d, &f[0], S_ID, id, "a role's id") ||
        ordered(d, ord, id, NULL, "roles") || as_kind(d, &f[1], 'a', &kind) || as_mask(d, &f[2], 0, &perms) ||
        as_s(d, &f[3], S_ID, creator, "a role's creator"))
        return -1;
    return failed(d, tms_tenant_create_role(d->st, t, id, kind, perms, creator, &r));
}

static int read_login(dec *d, tms_tenant *t, order *ord)
{
    const msgpack_object *f = NULL;
    char id[TMS_ID_MAX + 1], name[TMS_TEXT_MAX + 1], email[TMS_TEXT_MAX + 1];
    tms_login *l;
    if (next_array(d, 3, &f, "a login") || as_s(d, &f[0], S_ID, id, "a login's id") ||
        ordered(d, ord, id, NULL, "logins") || as_s(d, &f[1], S_TEXT, name, "a login's name") ||
        as_s(d, &f[2], S_TEXT, email, "a login's email"))
        return -1;
    return failed(d, tms_tenant_create_login(d->st, t, id, name, email, &l));
}

/* An account's role (tag, role id) and login, checked against the tenant. */
static int account_ties(dec *d, tms_tenant *t, const msgpack_object *f, char kind, const char *id, tms_role **role,
                        tms_login **login, uint64_t *tag)
{
    char rid[TMS_ID_MAX + 1], lid[TMS_ID_MAX + 1];
    int account = kind == TMS_KIND_MANAGER || kind == TMS_KIND_EXTENSION;
    *role = NULL;
    *login = NULL;
    if (as_u64(d, &f[0], tag, "a role tag") || as_id_or_nil(d, &f[1], rid, "a role") ||
        as_id_or_nil(d, &f[2], lid, "a login"))
        return -1;
    if (*tag > TMS_ROLE_SET || (*tag == TMS_ROLE_SET) != (rid[0] != '\0') || (*tag && !account))
        return bad(d, "%s %s: role tag %llu with role \"%s\"", tms_kind_name(kind), id, (unsigned long long)*tag, rid);
    if (rid[0] && (!(*role = tms_tenant_role(t, rid)) || tms_role_account_kind(*role) != kind))
        return bad(d, "%s %s holds role %s, which is no %s role here", tms_kind_name(kind), id, rid, tms_kind_name(kind));
    if (lid[0] && (!account || !(*login = tms_tenant_login(t, lid))))
        return bad(d, "%s %s is bound to login %s, which it cannot be", tms_kind_name(kind), id, lid);
    if (*login && (kind == TMS_KIND_MANAGER ? tms_login_manager(*login) : tms_login_extension(*login)))
        return bad(d, "login %s backs two %ss", lid, tms_kind_name(kind));
    return 0;
}

static int remember_manager(dec *d, tms_account *m)
{
    if (d->nmgr == d->capmgr) {
        size_t cap = d->capmgr ? 2 * d->capmgr : 64;
        tms_account **v = realloc(d->mgr, cap * sizeof *v);
        if (!v)
            return failed(d, TMS_E_NOMEM);
        d->mgr = v;
        d->capmgr = cap;
    }
    d->mgr[d->nmgr++] = m;
    return 0;
}

static int read_account(dec *d, tms_tenant *t, order *ord)
{
    const msgpack_object *f = NULL;
    char id[TMS_ID_MAX + 1], key[TMS_ID_MAX + 2], kind = 0;
    uint64_t perms = 0, features = 0, tag = 0;
    tms_role *role;
    tms_login *login;
    tms_account *a;
    tms_err err;
    if (next_array(d, 7, &f, "an account") || as_kind(d, &f[0], 0, &kind) ||
        as_s(d, &f[1], S_ID, id, "an account's id") || ordered(d, ord, kind_key(key, kind, id), NULL, "accounts") ||
        as_mask(d, &f[2], 0, &perms) || as_mask(d, &f[3], 1, &features) ||
        account_ties(d, t, &f[4], kind, id, &role, &login, &tag))
        return -1;
    if ((err = tms_tenant_create_account(d->st, t, kind, id, &a)) || (err = tms_account_set_permissions(d->st, a, perms)) ||
        (err = tms_account_set_features(d->st, a, features)) ||
        (tag == TMS_ROLE_CUSTOM && (err = tms_account_become_custom(d->st, a, perms, "snapshot"))) ||
        (role && (err = tms_account_set_role(d->st, a, role))) || (err = tms_account_bind_login(d->st, a, login)))
        return failed(d, err);
    return kind == TMS_KIND_MANAGER ? remember_manager(d, a) : 0;
}

/* An extension's owner or a manager's parent: [kind, id, manager]. */
static int read_link(dec *d, tms_tenant *t, order *ord)
{
    const msgpack_object *f = NULL;
    char id[TMS_ID_MAX + 1], up[TMS_ID_MAX + 1], key[TMS_ID_MAX + 2], kind = 0;
    tms_account *a, *m;
    if (next_array(d, 3, &f, "a link") || as_kind(d, &f[0], 'a', &kind) || as_s(d, &f[1], S_ID, id, "a linked id") ||
        ordered(d, ord, kind_key(key, kind, id), NULL, "links") || as_s(d, &f[2], S_ID, up, "a manager"))
        return -1;
    if (!(a = tms_tenant_account(t, kind, id)) || !(m = tms_tenant_account(t, TMS_KIND_MANAGER, up)) || a == m)
        return bad(d, "%s %s cannot be under manager %s", tms_kind_name(kind), id, up);
    return failed(d, kind == TMS_KIND_EXTENSION ? tms_account_set_owner(d->st, a, m) : tms_account_set_parent(d->st, a, m));
}

/* An object's distribution: [kind, id, [manager, ...]], managers by id, at least one. */
static int read_distribution(dec *d, tms_tenant *t, order *ord)
{
    const msgpack_object *f = NULL;
    char id[TMS_ID_MAX + 1], mid[TMS_ID_MAX + 1], key[TMS_ID_MAX + 2], kind = 0;
    order mord = {{0}, 0, 0};
    tms_account *obj, *m;
    if (next_array(d, 3, &f, "a distribution") || as_kind(d, &f[0], 'o', &kind) ||
        as_s(d, &f[1], S_ID, id, "a distributed id") || ordered(d, ord, kind_key(key, kind, id), NULL, "distributions"))
        return -1;
    if (!(obj = tms_tenant_account(t, kind, id)))
        return bad(d, "%s %s is distributed but does not exist", tms_kind_name(kind), id);
    if (f[2].type != MSGPACK_OBJECT_ARRAY || !f[2].via.array.size)
        return bad(d, "%s %s: its managers are not a non-empty array", tms_kind_name(kind), id);
    for (uint32_t i = 0; i < f[2].via.array.size; i++) {
        if (as_s(d, &f[2].via.array.ptr[i], S_ID, mid, "a manager") ||
            ordered(d, &mord, mid, NULL, "an object's managers"))
            return -1;
        if (!(m = tms_tenant_account(t, TMS_KIND_MANAGER, mid)))
            return bad(d, "%s %s is distributed to %s, no manager", tms_kind_name(kind), id, mid);
        if (failed(d, tms_object_distribute(d->st, obj, m)))
            return -1;
    }
    return 0;
}

/* A request id of tenant t (t != NULL: [rid, seq, verdict, digest]) or of
 * no tenant that existed then ([tenant, rid, seq, verdict, digest]). */
static int read_request(dec *d, tms_tenant *t, order *ord)
{
    const msgpack_object *f = NULL;
    char tid[TMS_ID_MAX + 1], rid[TMS_TOKEN_MAX + 1];
    tms_request_seen first, seen;
    const char *tenant = t ? tms_tenant_id(t) : NULL;
    int own = t != NULL;
    if (next_array(d, own ? 4 : 5, &f, "a request id") ||
        (!own && as_s(d, &f[0], S_ID, tid, "a request's tenant")) ||
        as_s(d, &f[own ? 0 : 1], S_TOKEN, rid, "a request id") ||
        ordered(d, ord, own ? tenant : tid, rid, "request ids") || as_first(d, &f[own ? 1 : 2], &first))
        return -1;
    /* a list in strict order repeats nothing; a tenant's may repeat one kept apart */
    if (own && d->orphans && tms_state_request(d->st, tenant, rid, &seen))
        return bad(d, "request id %s of %s is there twice", rid, tenant);
    return failed(d, tms_state_load_request(d->st, t, own ? tenant : tid, rid, &first));
}

/* ---- a tenant ---------------------------------------------------------------------- */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static size_t manager_slot(const dec *d, const tms_account *m)
{
    tms_account **p = bsearch(&m, d->mgr, d->nmgr, sizeof *d->mgr, cmp_ptr);
    return (size_t)(p - d->mgr);   /* every parent is one of the tenant's managers */
}

/* No manager is its own ancestor. Each manager is walked up once: marked 1
 * while on the current walk, 2 once known to lead to the top. */
static int no_parent_cycle(dec *d, const char *tenant)
{
    uint8_t *mark = calloc(d->nmgr ? d->nmgr : 1, 1);
    int rc = 0;
    if (!mark)
        return failed(d, TMS_E_NOMEM);
    if (d->nmgr > 1)
        qsort(d->mgr, d->nmgr, sizeof *d->mgr, cmp_ptr);
    for (size_t i = 0; i < d->nmgr && !rc; i++) {
        for (tms_account *m = d->mgr[i]; m; m = tms_account_parent(m)) {
            size_t j = manager_slot(d, m);
            if (mark[j] == 2)
                break;
            if (mark[j] == 1) {
                rc = bad(d, "tenant %s: manager %s is above itself", tenant, tms_account_id(m));
                break;
            }
            mark[j] = 1;
        }
        for (tms_account *m = d->mgr[i]; m && !rc && mark[manager_slot(d, m)] != 2; m = tms_account_parent(m))
            mark[manager_slot(d, m)] = 2;
    }
    free(mark);
    return rc;
}

typedef int (*part_fn)(dec *d, tms_tenant *t, order *ord);

/* n parts of one kind, each in order after the last. */
static int read_parts(dec *d, tms_tenant *t, uint64_t n, part_fn fn)
{
    order ord = {{0}, 0, 0};
    for (uint64_t i = 0; i < n; i++)
        if (fn(d, t, &ord))
            return -1;
    return 0;
}

static int read_tenant_request(dec *d, tms_tenant *t, order *ord)
{
    return read_request(d, t, ord);
}

/* [id, admin, default_role|nil, roles, logins, accounts, links, distributions, requests], then those. */
/* A count as a capacity hint: no more items than the bytes left could hold
 * (each object is at least 4 bytes), so a count that lies costs no more
 * memory than the snapshot's size allows before the lie is found. */
static size_t room(const dec *d, uint64_t n)
{
    size_t most = (d->len - d->off) / 4;
    return n < most ? (size_t)n : most;
}

static int read_tenant(dec *d, order *ord)
{
    const msgpack_object *f = NULL;
    char id[TMS_ID_MAX + 1], admin[TMS_ID_MAX + 1], def[TMS_ID_MAX + 1];
    uint64_t n[6] = {0};
    tms_tenant *t;
    tms_role *r = NULL;
    if (next_array(d, 9, &f, "a tenant") || as_s(d, &f[0], S_ID, id, "a tenant's id") ||
        ordered(d, ord, id, NULL, "tenants") || as_s(d, &f[1], S_ID, admin, "a tenant's admin") ||
        as_id_or_nil(d, &f[2], def, "a default role"))
        return -1;
    for (int k = 0; k < 6; k++)
        if (as_u64(d, &f[3 + k], &n[k], "a count"))
            return -1;
    if (failed(d, tms_state_create_tenant(d->st, id, admin, &t)) ||
        failed(d, tms_tenant_reserve(d->st, t, room(d, n[0]), room(d, n[1]), room(d, n[2]), room(d, n[5]))) ||
        read_parts(d, t, n[0], read_role))
        return -1;
    if (def[0] && (!(r = tms_tenant_role(t, def)) || tms_role_account_kind(r) != TMS_KIND_EXTENSION))
        return bad(d, "tenant %s: default role %s is no extension role here", id, def);
    d->nmgr = 0;
    if (failed(d, tms_tenant_set_default_role(d->st, t, r)) || read_parts(d, t, n[1], read_login) ||
        read_parts(d, t, n[2], read_account) || read_parts(d, t, n[3], read_link) || no_parent_cycle(d, id) ||
        read_parts(d, t, n[4], read_distribution) || read_parts(d, t, n[5], read_tenant_request))
        return -1;
    return 0;
}

/* ---- the whole ---------------------------------------------------------------------- */

static int read_header(dec *d)
{
    const msgpack_object *o = NULL;
    const char *k = "tmsperm-state";
    if (next(d, &o))
        return -1;
    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size != 1 || o->via.map.ptr[0].key.type != MSGPACK_OBJECT_STR ||
        o->via.map.ptr[0].key.via.str.size != strlen(k) || memcmp(o->via.map.ptr[0].key.via.str.ptr, k, strlen(k)))
        return bad(d, "not a tmsperm state snapshot");
    const msgpack_object *v = &o->via.map.ptr[0].val;
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 != TMS_SNAPSHOT_FORMAT)
        return bad(d, "a snapshot of another format than %d", TMS_SNAPSHOT_FORMAT);
    return 0;
}

/* One catalogue of the trailer: this build's names of bits 0 .. k-1, k the
 * highest bit used + 1. */
static int read_catalogue(dec *d, const msgpack_object *o, uint64_t used, const tms_catalogue_entry *tab, int count,
                          const char *what)
{
    uint32_t k = used ? 64 - (uint32_t)__builtin_clzll(used) : 0;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != k)
        return bad(d, "the %s catalogue does not name bits 0..%u, those used", what, k);
    for (uint32_t i = 0; i < k; i++) {
        const msgpack_object *s = &o->via.array.ptr[i];
        if (i >= (uint32_t)count || s->type != MSGPACK_OBJECT_STR || s->via.str.size != strlen(tab[i].name) ||
            memcmp(s->via.str.ptr, tab[i].name, s->via.str.size))
            return bad(d, "%s bit %u is not %s here: another catalogue", what, i, i < (uint32_t)count ? tab[i].name : "named");
    }
    return 0;
}

/* The part before the tenants: the header, and the request ids of no tenant (before any tenant: their map is
 * the state's own). 0 or -1. */
static int read_global(dec *d)
{
    order ord = {{0}, 0, 0};
    if (read_header(d) || next_count(d, &d->orphans, "the count of request ids") ||
        failed(d, tms_state_reserve(d->st, 0, room(d, d->orphans))))
        return -1;
    for (uint64_t i = 0; i < d->orphans; i++)
        if (read_request(d, NULL, &ord))
            return -1;
    return 0;
}

/* The trailer (the catalogue of exactly the masks used), then the end of the encoding. 0 or -1. */
static int read_trailer(dec *d, uint64_t perms_used, uint64_t features_used)
{
    const msgpack_object *f = NULL;
    if (next_array(d, 2, &f, "the trailer") ||
        read_catalogue(d, &f[0], perms_used, tms_permissions, TMS_PERM_COUNT, "permission") ||
        read_catalogue(d, &f[1], features_used, tms_features, TMS_FEATURE_COUNT, "feature"))
        return -1;
    tms_state_commit(d->st);
    d->at = d->off;
    return d->off == d->len ? 0 : bad(d, "%zu bytes after the end", d->len - d->off);
}

/* The part before the tenants, ending where the index says it does. 0 or -1. */
static int read_global_of(dec *d, const tms_snapshot_index *ix)
{
    if (read_global(d))
        return -1;
    return d->off == ix->global_len ? 0 : bad(d, "the part before the tenants is not the index's");
}

static int read_body(dec *d)
{
    order ord = {{0}, 0, 0};
    uint64_t n = 0;
    if (read_global(d) || next_count(d, &n, "the count of tenants") ||
        failed(d, tms_state_reserve(d->st, room(d, n), 0)))
        return -1;
    for (uint64_t i = 0; i < n; i++)
        if (read_tenant(d, &ord))
            return -1;
    return read_trailer(d, d->perms_used, d->features_used);
}

/* Tenant t's part, within its own bytes (all of them): 0 or -1. */
static int read_section(dec *d, const tms_snapshot_section *t)
{
    size_t len = d->len;
    order ord;
    if (t->off > len || t->len > len - t->off)
        return bad(d, "a tenant's part is beyond the encoding");
    memset(&ord, 0, sizeof ord);
    d->off = t->off;
    d->len = t->off + t->len;   /* its own bytes only */
    if (read_tenant(d, &ord))
        return -1;
    if (d->off != d->len || !tms_state_tenant(d->st, t->tenant))   /* (its bytes name another tenant) */
        return bad(d, "tenant %s's part is not the index's", t->tenant);
    d->len = len;
    return 0;
}

/* The part before the tenants, then each wanted tenant's part found in ix (each read within its own bytes,
 * all of them). */
static int read_parts_of(dec *d, const tms_snapshot_index *ix, const char *const *tenants, size_t n)
{
    if (read_global_of(d, ix))
        return -1;
    for (size_t k = 0; k < n; k++) {
        const tms_snapshot_section *t = tms_snapshot_index_find(ix, tenants[k]);
        if (t && read_section(d, t))
            return -1;   /* (none: not a tenant of this state) */
    }
    tms_state_commit(d->st);
    return 0;
}

/* What the two decodes share: a new state, read by read (all, or the parts), the state or the failure. */
typedef struct what_to_read {
    const tms_snapshot_index *ix;   /* NULL: the whole encoding */
    const char *const *tenants;
    size_t n;
} what_to_read;

static tms_err decode(const void *buf, size_t len, const what_to_read *w, tms_state **out, char *why, size_t whylen)
{
    dec *d = tms__dec_new(buf, len, why, whylen);
    *out = NULL;
    if (!d) {
        if (why && whylen)
            snprintf(why, whylen, "out of memory");
        return TMS_E_NOMEM;
    }
    if (w->ix)
        read_parts_of(d, w->ix, w->tenants, w->n);
    else
        read_body(d);
    tms_err err = d->err;
    if (!err)
        *out = tms__dec_take(d);
    tms__dec_free(d);
    return err;
}

tms_err tms_state_snapshot_decode_parts(const void *buf, size_t len, const tms_snapshot_index *ix,
                                        const char *const *tenants, size_t n, tms_state **out, char *why,
                                        size_t whylen)
{
    what_to_read w = {ix, tenants, n};
    return decode(buf, len, &w, out, why, whylen);
}

tms_err tms_state_snapshot_decode(const void *buf, size_t len, tms_state **out, char *why, size_t whylen)
{
    what_to_read w = {NULL, NULL, 0};
    return decode(buf, len, &w, out, why, whylen);
}

/* ---- for a decode shared by threads (snapshot_dec.h, state_snapshot_split.c) ---------------------------- */

tms__dec *tms__dec_new(const void *buf, size_t len, char *why, size_t whylen)
{
    dec *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->buf = buf;
    d->len = len;
    d->why = why;
    d->whylen = whylen;
    if (why && whylen)
        why[0] = '\0';
    if (!msgpack_zone_init(&d->zone, MSGPACK_ZONE_CHUNK_SIZE)) {
        free(d);
        return NULL;
    }
    if (!(d->st = tms_state_new())) {
        msgpack_zone_destroy(&d->zone);
        free(d);
        return NULL;
    }
    return d;
}

tms_err tms__dec_global(tms__dec *d, const tms_snapshot_index *ix)
{
    if (!read_global_of(d, ix))
        failed(d, tms_state_reserve(d->st, ix->ntenants, 0));
    tms_state_commit(d->st);
    return d->err;
}

tms_err tms__dec_part(tms__dec *d, const tms_snapshot_section *t)
{
    if (!d->err && !read_section(d, t))
        tms_state_commit(d->st);
    return d->err;
}

tms_err tms__dec_trailer(tms__dec *d, const tms_snapshot_index *ix, uint64_t perms_used, uint64_t features_used)
{
    if (!d->err) {
        d->off = d->at = ix->trailer_off;
        read_trailer(d, perms_used, features_used);
    }
    return d->err;
}

void tms__dec_masks(const tms__dec *d, uint64_t *perms_used, uint64_t *features_used)
{
    *perms_used = d->perms_used;
    *features_used = d->features_used;
}

tms_err tms__dec_err(const tms__dec *d)
{
    return d->err;
}

tms_state *tms__dec_take(tms__dec *d)
{
    tms_state *st = d->st;
    d->st = NULL;
    return st;
}

void tms__dec_free(tms__dec *d)
{
    if (!d)
        return;
    msgpack_zone_destroy(&d->zone);
    free(d->mgr);
    tms_state_free(d->st);
    free(d);
}
