/* state_snapshot.c -- the canonical encoding of a whole state (snapshot.h):
 * the encoder, and the digest. The decoder is state_snapshot_decode.c.
 *
 * Only the public walks of state.h are used: they visit in byte order of
 * ids, which is the order the format wants. One tenant at a time, its
 * entities are gathered into arrays first (the tenant's object announces
 * how many of each follow), then written. */
#include "snapshot.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* One tenant's entities, in walk order; requests as (rid, first) pairs. */
typedef struct vec {
    void **v;
    size_t n, cap;
} vec;

typedef struct enc {
    const tms_state *st;
    msgpack_packer pk;
    int bad;                            /* a write or an allocation failed */
    int impossible;                     /* the state holds what no snapshot can say */
    uint64_t perms_used, features_used; /* every mask written, OR-ed: the trailer */
    vec roles, logins, accounts, requests;
    tms_account **managers;             /* one object's distribution */
    size_t capmanagers;
} enc;

static int push(vec *x, void *p)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 256;
        void **v = realloc(x->v, cap * sizeof *v);
        if (!v)
            return -1;
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = p;
    return 0;
}

/* ---- msgpack, each failure remembered in e->bad --------------------------- */

static void put_str(enc *e, const char *s, size_t n)
{
    e->bad |= msgpack_pack_str(&e->pk, n) | msgpack_pack_str_body(&e->pk, s, n);
}

static void put_cstr(enc *e, const char *s)
{
    put_str(e, s, strlen(s));
}

static void put_id_or_nil(enc *e, const char *s)
{
    if (s)
        put_cstr(e, s);
    else
        e->bad |= msgpack_pack_nil(&e->pk);
}

static void put_u64(enc *e, uint64_t v)
{
    e->bad |= msgpack_pack_uint64(&e->pk, v);
}

static void put_array(enc *e, size_t n)
{
    e->bad |= msgpack_pack_array(&e->pk, n);
}

static void put_kind(enc *e, char kind)
{
    put_str(e, &kind, 1);
}

static void put_perms(enc *e, uint64_t mask)
{
    e->perms_used |= mask;
    put_u64(e, mask);
}

/* A request id's first record: seq, verdict (as the log names it), digest. */
static void put_first(enc *e, const tms_request_seen *first)
{
    if (first->verdict != TMS_OK && ((unsigned)first->verdict >= TMS_ERR_COUNT || !tms_err_is_domain[first->verdict]))
        e->impossible = 1;   /* a verdict is a domain code: the rules give no other */
    put_u64(e, first->seq);
    put_cstr(e, first->verdict == TMS_OK ? "accepted" : tms_err_name(first->verdict));
    e->bad |= msgpack_pack_bin(&e->pk, sizeof first->digest) |
              msgpack_pack_bin_body(&e->pk, first->digest, sizeof first->digest);
}

/* ---- gathering ---------------------------------------------------------------- */

static int gather_role(void *ctx, tms_role *r) { return push(&((enc *)ctx)->roles, r); }
static int gather_login(void *ctx, tms_login *l) { return push(&((enc *)ctx)->logins, l); }
static int gather_account(void *ctx, tms_account *a) { return push(&((enc *)ctx)->accounts, a); }

static int gather_request(void *ctx, const char *tenant, const char *rid, const tms_request_seen *first)
{
    enc *e = ctx;
    (void)tenant;
    return push(&e->requests, (void *)rid) || push(&e->requests, (void *)first) ? -1 : 0;
}

/* An extension's owner or a manager's parent, or NULL. */
static tms_account *link_of(const tms_account *a)
{
    return tms_account_kind(a) == TMS_KIND_EXTENSION ? tms_account_owner(a) : tms_account_parent(a);
}

/* The object's managers, sorted by id, into e->managers; their count. */
static size_t managers_of(enc *e, const tms_account *obj)
{
    size_t n = tms_object_distribution(obj, e->managers, e->capmanagers);
    if (n > e->capmanagers) {
        free(e->managers);
        e->capmanagers = n;
        if (!(e->managers = malloc(n * sizeof *e->managers))) {
            e->capmanagers = 0;
            e->bad = 1;
            return 0;
        }
        tms_object_distribution(obj, e->managers, e->capmanagers);
    }
    return n;
}

/* ---- one tenant ------------------------------------------------------------- */

static void put_account(enc *e, const tms_account *a)
{
    int tag;
    tms_role *role = tms_account_role(a, &tag);
    tms_login *login = tms_account_login(a);
    put_array(e, 7);
    put_kind(e, tms_account_kind(a));
    put_cstr(e, tms_account_id(a));
    put_perms(e, tms_account_permissions(a));
    e->features_used |= tms_account_features(a);
    put_u64(e, tms_account_features(a));
    put_u64(e, (uint64_t)tag);
    put_id_or_nil(e, tag == TMS_ROLE_SET ? tms_role_id(role) : NULL);
    put_id_or_nil(e, login ? tms_login_id(login) : NULL);
}

/* The links, then the distributions, of the tenant's accounts (gathered). */
static void put_links_and_distributions(enc *e)
{
    for (size_t i = 0; i < e->accounts.n; i++) {
        const tms_account *a = e->accounts.v[i], *up = link_of(a);
        if (!up)
            continue;
        put_array(e, 3);
        put_kind(e, tms_account_kind(a));
        put_cstr(e, tms_account_id(a));
        put_cstr(e, tms_account_id(up));
    }
    for (size_t i = 0; i < e->accounts.n && !e->bad; i++) {
        const tms_account *obj = e->accounts.v[i];
        size_t n = managers_of(e, obj);
        if (!n)
            continue;
        put_array(e, 3);
        put_kind(e, tms_account_kind(obj));
        put_cstr(e, tms_account_id(obj));
        put_array(e, n);
        for (size_t k = 0; k < n && !e->bad; k++)
            put_cstr(e, tms_account_id(e->managers[k]));
    }
}

/* The tenant's object: what it is, and how many of each part follow. */
static void put_tenant_head(enc *e, const tms_tenant *t)
{
    size_t links = 0, dists = 0;
    tms_role *def = tms_tenant_default_role(t);
    for (size_t i = 0; i < e->accounts.n; i++) {
        links += link_of(e->accounts.v[i]) != NULL;
        dists += tms_object_distribution(e->accounts.v[i], NULL, 0) != 0;
    }
    put_array(e, 9);
    put_cstr(e, tms_tenant_id(t));
    put_cstr(e, tms_tenant_admin(t));
    put_id_or_nil(e, def ? tms_role_id(def) : NULL);
    put_u64(e, e->roles.n);
    put_u64(e, e->logins.n);
    put_u64(e, e->accounts.n);
    put_u64(e, links);
    put_u64(e, dists);
    put_u64(e, e->requests.n / 2);
}

static int put_tenant(void *ctx, tms_tenant *t)
{
    enc *e = ctx;
    e->roles.n = e->logins.n = e->accounts.n = e->requests.n = 0;
    if (tms_tenant_foreach_role(t, gather_role, e) || tms_tenant_foreach_login(t, gather_login, e) ||
        tms_tenant_foreach_account(t, gather_account, e) || tms_state_foreach_request(e->st, t, gather_request, e))
        return e->bad = 1;
    put_tenant_head(e, t);
    for (size_t i = 0; i < e->roles.n; i++) {
        const tms_role *r = e->roles.v[i];
        put_array(e, 4);
        put_cstr(e, tms_role_id(r));
        put_kind(e, tms_role_account_kind(r));
        put_perms(e, tms_role_permissions(r));
        put_cstr(e, tms_role_creator(r));
    }
    for (size_t i = 0; i < e->logins.n; i++) {
        const tms_login *l = e->logins.v[i];
        put_array(e, 3);
        put_cstr(e, tms_login_id(l));
        put_cstr(e, tms_login_name(l));
        put_cstr(e, tms_login_email(l));
    }
    for (size_t i = 0; i < e->accounts.n; i++)
        put_account(e, e->accounts.v[i]);
    put_links_and_distributions(e);
    for (size_t i = 0; i + 1 < e->requests.n; i += 2) {
        put_array(e, 4);
        put_cstr(e, e->requests.v[i]);
        put_first(e, e->requests.v[i + 1]);
    }
    return e->bad;
}

/* ---- the whole state ------------------------------------------------------------- */

static int put_orphan(void *ctx, const char *tenant, const char *rid, const tms_request_seen *first)
{
    enc *e = ctx;
    put_array(e, 5);
    put_cstr(e, tenant);
    put_cstr(e, rid);
    put_first(e, first);
    return e->bad;
}

static int count_request(void *ctx, const char *tenant, const char *rid, const tms_request_seen *first)
{
    (void)tenant, (void)rid, (void)first;
    ++*(size_t *)ctx;
    return 0;
}

/* The names of bits 0 .. k-1 of a catalogue, k = 1 + the highest bit used. */
static void put_catalogue(enc *e, uint64_t used, const tms_catalogue_entry *tab);

tms_err tms__snapshot_trailer(uint64_t perms_used, uint64_t features_used, msgpack_sbuffer *out)
{
    enc e;
    memset(&e, 0, sizeof e);
    if ((perms_used >> TMS_PERM_COUNT) || (features_used >> TMS_FEATURE_COUNT))
        return TMS_E_CORRUPT;
    msgpack_packer_init(&e.pk, out, msgpack_sbuffer_write);
    put_array(&e, 2);
    put_catalogue(&e, perms_used, tms_permissions);
    put_catalogue(&e, features_used, tms_features);
    return e.bad ? TMS_E_NOMEM : TMS_OK;
}

static void put_catalogue(enc *e, uint64_t used, const tms_catalogue_entry *tab)
{
    size_t k = used ? 64 - (size_t)__builtin_clzll(used) : 0;
    put_array(e, k);
    for (size_t i = 0; i < k; i++)
        put_cstr(e, tab[i].name);
}

static void enc_free(enc *e)
{
    free(e->roles.v);
    free(e->logins.v);
    free(e->accounts.v);
    free(e->requests.v);
    free(e->managers);
}

/* The part before the tenants: the header, the request ids of no tenant. */
static void put_global(enc *e)
{
    size_t orphans = 0;
    e->bad |= msgpack_pack_map(&e->pk, 1);
    put_cstr(e, "tmsperm-state");
    put_u64(e, TMS_SNAPSHOT_FORMAT);
    if (tms_state_foreach_request(e->st, NULL, count_request, &orphans))
        e->bad = 1;
    put_u64(e, orphans);
    if (!e->bad && tms_state_foreach_request(e->st, NULL, put_orphan, e))
        e->bad = 1;
}

tms_err tms_state_snapshot_encode_global(const tms_state *st, msgpack_sbuffer *out)
{
    enc e;
    memset(&e, 0, sizeof e);
    e.st = st;
    msgpack_packer_init(&e.pk, out, msgpack_sbuffer_write);
    put_global(&e);
    enc_free(&e);
    return e.bad || e.impossible ? (e.bad ? TMS_E_NOMEM : TMS_E_CORRUPT) : TMS_OK;
}

tms_err tms_state_snapshot_encode_tenant(const tms_state *st, const char *tenant, msgpack_sbuffer *out,
                                         uint64_t *perms_used, uint64_t *features_used)
{
    enc e;
    tms_tenant *t = tms_state_tenant(st, tenant);
    if (!t)
        return TMS_NOT_FOUND;
    memset(&e, 0, sizeof e);
    e.st = st;
    msgpack_packer_init(&e.pk, out, msgpack_sbuffer_write);
    put_tenant(&e, t);
    enc_free(&e);
    *perms_used = e.perms_used;
    *features_used = e.features_used;
    if ((e.perms_used >> TMS_PERM_COUNT) || (e.features_used >> TMS_FEATURE_COUNT))
        e.impossible = 1;
    return e.bad || e.impossible ? (e.bad ? TMS_E_NOMEM : TMS_E_CORRUPT) : TMS_OK;
}

tms_err tms_state_snapshot_encode_to(const tms_state *st, msgpack_packer_write write, void *data)
{
    enc e;
    tms_state_stats s;
    memset(&e, 0, sizeof e);
    e.st = st;
    msgpack_packer_init(&e.pk, data, write);
    put_global(&e);
    tms_state_stats_get(st, &s);
    put_u64(&e, s.tenants);
    if (!e.bad && tms_state_foreach_tenant(st, put_tenant, &e))
        e.bad = 1;
    /* bits beyond a catalogue cannot be named: the rules never set them */
    if ((e.perms_used >> TMS_PERM_COUNT) || (e.features_used >> TMS_FEATURE_COUNT))
        e.impossible = 1;
    put_array(&e, 2);
    put_catalogue(&e, e.perms_used, tms_permissions);
    put_catalogue(&e, e.features_used, tms_features);
    enc_free(&e);
    return e.bad || e.impossible ? (e.bad ? TMS_E_NOMEM : TMS_E_CORRUPT) : TMS_OK;
}

tms_err tms_state_snapshot_encode(const tms_state *st, msgpack_sbuffer *out)
{
    msgpack_sbuffer_clear(out);
    tms_err err = tms_state_snapshot_encode_to(st, msgpack_sbuffer_write, out);
    if (err)
        msgpack_sbuffer_clear(out);
    return err;
}

tms_err tms_state_snapshot_compose(const void *base, const tms_snapshot_index *ix, const tms_state *st,
                                   const char *const *named, size_t n, uint8_t digest[TMS_SNAPSHOT_DIGEST_LEN],
                                   msgpack_sbuffer *out)
{
    msgpack_sbuffer part;
    msgpack_packer pk;
    tms_state_digester d;
    uint8_t h[TMS_SNAPSHOT_DIGEST_LEN];
    uint64_t perms = 0, features = 0, count = 0, pm, fm;
    size_t i = 0, j = 0, nt = ix->ntenants;
    int wbad = 0;   /* an append to out failed (out of memory) */
    if (out && !base)
        return TMS_E_INVAL;
    msgpack_sbuffer_init(&part);
    tms_err err = tms_state_snapshot_encode_global(st, &part);
    for (size_t k = 0, m = 0; k < nt; k++) {   /* the tenants: base's not named, and the named that st has */
        while (m < n && strcmp(named[m], ix->tenants[k].tenant) < 0)
            m++;
        count += m == n || strcmp(named[m], ix->tenants[k].tenant) != 0;
    }
    for (size_t m = 0; m < n; m++)
        count += tms_state_tenant(st, named[m]) != NULL;
    if (!err) {
        tms_snapshot_part_hash(part.data, part.size, h);
        tms_state_digest_begin(&d, h, count);
    }
    if (!err && out) {
        wbad |= msgpack_sbuffer_write(out, part.data, part.size) != 0;
        msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
        wbad |= msgpack_pack_uint64(&pk, count) != 0;
    }
    while (!err && (i < nt || j < n)) {
        int c = i == nt ? 1 : j == n ? -1 : strcmp(ix->tenants[i].tenant, named[j]);
        if (c < 0) {   /* not named: base's part */
            const tms_snapshot_section *t = &ix->tenants[i];
            tms_state_digest_tenant(&d, t->tenant, t->hash, t->perms_used, t->features_used);
            perms |= t->perms_used;
            features |= t->features_used;
            if (out)
                wbad |= msgpack_sbuffer_write(out, (const char *)base + t->off, t->len) != 0;
            i++;
            continue;
        }
        i += c == 0;   /* named: base's part (if any) is replaced by st's */
        msgpack_sbuffer_clear(&part);
        err = tms_state_snapshot_encode_tenant(st, named[j], &part, &pm, &fm);
        if (err == TMS_NOT_FOUND) {   /* not in st: absent */
            err = TMS_OK;
            j++;
            continue;
        }
        if (err)
            break;
        tms_snapshot_part_hash(part.data, part.size, h);
        tms_state_digest_tenant(&d, named[j], h, pm, fm);
        perms |= pm;
        features |= fm;
        if (out)
            wbad |= msgpack_sbuffer_write(out, part.data, part.size) != 0;
        j++;
    }
    if (!err) {
        tms_state_digest_end(&d, digest);
        if (out)
            err = tms__snapshot_trailer(perms, features, out);
    }
    msgpack_sbuffer_destroy(&part);
    return !err && wbad ? TMS_E_NOMEM : err;
}
