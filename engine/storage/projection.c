/* projection.c -- the LMDB projection of an in-memory state (store.h):
 * written from effects, one write transaction per group, or rendered whole
 * in key order for a bulk load (MDB_APPEND) and for the digest that
 * compares the two. The only place that maps the domain (state.h) onto the
 * key layout (store_internal.h). */
#include "store_internal.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- values of state entities -------------------------------------------- */

size_t tms__account_value(uint8_t *buf, const tms_account *a)
{
    int tag;
    tms_role *role = tms_account_role(a, &tag);
    tms_login *login = tms_account_login(a);
    tms_account *link = tms_account_kind(a) == TMS_KIND_EXTENSION ? tms_account_owner(a) : tms_account_parent(a);
    return tms__enc_account(buf, tms_account_permissions(a), tms_account_features(a), tag,
                            role ? tms_role_id(role) : NULL, login ? tms_login_id(login) : NULL,
                            link ? tms_account_id(link) : NULL);
}

size_t tms__tenant_value(uint8_t *buf, const tms_tenant *t)
{
    tms_role *def = tms_tenant_default_role(t);
    return tms__enc_tenant(buf, tms_tenant_admin(t), def ? tms_role_id(def) : NULL);
}

size_t tms__role_value(uint8_t *buf, const tms_role *r)
{
    return tms__enc_role(buf, tms_role_account_kind(r), tms_role_permissions(r), tms_role_creator(r));
}

static size_t login_value(uint8_t *buf, const tms_login *l)
{
    tms_account *m = tms_login_manager(l), *e = tms_login_extension(l);
    return tms__enc_login(buf, m ? tms_account_id(m) : NULL, e ? tms_account_id(e) : NULL, tms_login_name(l),
                          tms_login_email(l));
}

/* ---- effects ------------------------------------------------------------------ */

static tms_err write_account(tms_txn *tx, const tms_tenant *t, const char *tid, char kind, const char *id)
{
    char key[TMS__KEY_MAX], k[2] = {kind, 0};
    uint8_t val[TMS__VALUE_MAX];
    size_t klen = tms__make_key(key, tid, k, id);
    const tms_account *a = t ? tms_tenant_account(t, kind, id) : NULL;
    if (!a)
        return tms__raw_del(tx, TMS_DB_ACCOUNTS, key, klen);
    return tms__raw_put(tx, TMS_DB_ACCOUNTS, key, klen, val, tms__account_value(val, a));
}

static tms_err write_login(tms_txn *tx, const tms_tenant *t, const char *tid, const char *id)
{
    char key[TMS__KEY_MAX];
    uint8_t val[TMS__VALUE_MAX];
    const tms_login *l;
    if (!id || !t || !(l = tms_tenant_login(t, id)))
        return TMS_OK;   /* logins are never deleted */
    return tms__raw_put(tx, TMS_DB_LOGINS, key, tms__make_key(key, tid, id, NULL), val, login_value(val, l));
}

static tms_err write_role(tms_txn *tx, const tms_tenant *t, const char *tid, const char *id)
{
    char key[TMS__KEY_MAX];
    uint8_t val[TMS__VALUE_MAX];
    size_t klen = tms__make_key(key, tid, id, NULL);
    const tms_role *r = t ? tms_tenant_role(t, id) : NULL;
    if (!r)
        return tms__raw_del(tx, TMS_DB_ROLES, key, klen);
    return tms__raw_put(tx, TMS_DB_ROLES, key, klen, val, tms__role_value(val, r));
}

static tms_err write_tenant(tms_txn *tx, const tms_tenant *t, const char *tid)
{
    uint8_t val[TMS__VALUE_MAX];
    if (!t)
        return tms__raw_del(tx, TMS_DB_TENANTS, tid, strlen(tid));
    return tms__raw_put(tx, TMS_DB_TENANTS, tid, strlen(tid), val, tms__tenant_value(val, t));
}

/* Distribution both ways: object -> managers (show), manager -> objects (visible). */
static tms_err write_distribution(tms_txn *tx, const tms_effect *e, int add)
{
    char k[2] = {e->kind, 0}, member[TMS_ID_MAX + 2];
    const char *manager = add ? e->after : e->before;
    member[0] = e->kind;
    memcpy(member + 1, e->id, strlen(e->id) + 1);
    tms_err err = (add ? tms__set_add : tms__set_del)(tx, TMS_DB_DIST, e->tenant, k, e->id, manager);
    return err ? err : (add ? tms__set_add : tms__set_del)(tx, TMS_DB_VISIBLE, e->tenant, manager, NULL, member);
}

int tms__writes_account(int type)
{
    switch (type) {
    case TMS_EFFECT_LOGIN_OF:   /* the logins, then the account */
    case TMS_EFFECT_ACCOUNT_CREATED:
    case TMS_EFFECT_ACCOUNT_DELETED:
    case TMS_EFFECT_PERMISSIONS:
    case TMS_EFFECT_FEATURES:
    case TMS_EFFECT_ROLE_OF:
    case TMS_EFFECT_BECAME_CUSTOM:
    case TMS_EFFECT_OWNER:
    case TMS_EFFECT_PARENT:
        return 1;
    default:
        return 0;
    }
}

static tms_err apply_one(tms_txn *tx, const tms_state *st, const tms_effect *e)
{
    const tms_tenant *t = e->tenant ? tms_state_tenant(st, e->tenant) : NULL;
    tms_err err;
    switch (e->type) {
    case TMS_EFFECT_TENANT_CREATED:
    case TMS_EFFECT_DEFAULT_ROLE:
        return write_tenant(tx, t, e->tenant);
    case TMS_EFFECT_LOGIN_OF:
        if ((err = write_login(tx, t, e->tenant, e->before)) || (err = write_login(tx, t, e->tenant, e->after)))
            return err;
        return write_account(tx, t, e->tenant, e->kind, e->id);
    case TMS_EFFECT_ACCOUNT_CREATED:
    case TMS_EFFECT_ACCOUNT_DELETED:
    case TMS_EFFECT_PERMISSIONS:
    case TMS_EFFECT_FEATURES:
    case TMS_EFFECT_ROLE_OF:
    case TMS_EFFECT_BECAME_CUSTOM:
    case TMS_EFFECT_OWNER:
    case TMS_EFFECT_PARENT:
        return write_account(tx, t, e->tenant, e->kind, e->id);
    case TMS_EFFECT_DISTRIBUTED:
    case TMS_EFFECT_UNDISTRIBUTED:
        return write_distribution(tx, e, e->type == TMS_EFFECT_DISTRIBUTED);
    case TMS_EFFECT_LOGIN_CREATED:
        return write_login(tx, t, e->tenant, e->id);
    case TMS_EFFECT_ROLE_CREATED:
    case TMS_EFFECT_ROLE_UPDATED:
    case TMS_EFFECT_ROLE_DELETED:
        return write_role(tx, t, e->tenant, e->id);
    case TMS_EFFECT_REQUEST:
        return TMS_OK;   /* idempotency lives in memory, rebuilt from the log */
    }
    return TMS_E_INVAL;
}

/* 1 when e rewrites the account that prev rewrote (a record's effects name
 * it one after another: created, permissions, role, login). */
int tms__same_account(const tms_effect *prev, const tms_effect *e)
{
    return prev && prev->kind == e->kind && prev->tenant && e->tenant && !strcmp(prev->id, e->id) &&
           !strcmp(prev->tenant, e->tenant);
}

/* Every write puts what the state holds after the whole group, so an
 * account rewritten by the effect just before is not written again. */
tms_err tms_store_apply_effects(tms_txn *tx, const tms_state *st, const tms_effect *effs, size_t n)
{
    tms_err err = TMS_OK;
    const tms_effect *prev = NULL;   /* the last effect that wrote an account */
    for (size_t i = 0; i < n && !err; i++) {
        const tms_effect *e = &effs[i];
        int account = e->type != TMS_EFFECT_LOGIN_OF && tms__writes_account(e->type);
        if (account && tms__same_account(prev, e))
            continue;
        err = apply_one(tx, st, e);
        if (tms__writes_account(e->type))
            prev = e;
    }
    return err;
}

/* ---- the whole state, in key order ---------------------------------------------- */

typedef struct render {
    int db;
    const tms_tenant *t;
    tms_txn *tx;
    /* where entries go: an LMDB cursor (bulk load) or a tenant's digest */
    MDB_cursor *cur;
    tms__digest *h;
    tms__digest *outer[2];   /* a digest: each tenant's group goes into these (outer[1] may be NULL) */
    tms_err err;
} render;

static int emit(render *r, const char *k, size_t klen, const void *v, size_t vlen)
{
    if (r->h) {
        tms__digest_entry(r->h, k, klen, v, vlen);
        return 0;
    }
    MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
    int rc = mdb_cursor_put(r->cur, &key, &val, tms__db_dupsort[r->db] ? MDB_APPENDDUP : MDB_APPEND);
    r->err = tms__store_err(rc);
    return r->err != TMS_OK;
}

static int emit_account(void *ctx, tms_account *a)
{
    render *r = ctx;
    char key[TMS__KEY_MAX], k[2] = {tms_account_kind(a), 0};
    uint8_t val[TMS__VALUE_MAX];
    size_t klen = tms__make_key(key, tms_tenant_id(r->t), k, tms_account_id(a));
    if (r->db == TMS_DB_ACCOUNTS)
        return emit(r, key, klen, val, tms__account_value(val, a));
    tms_account *small[16], **managers = small;
    size_t n = tms_object_distribution(a, small, 16);
    if (n > 16) {
        if (!(managers = malloc(n * sizeof *managers))) {
            r->err = TMS_E_NOMEM;
            return 1;
        }
        tms_object_distribution(a, managers, n);
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *m = tms_account_id(managers[i]);
        rc = emit(r, key, klen, m, strlen(m));
    }
    if (managers != small)
        free(managers);
    return rc;
}

static int emit_visible(void *ctx, tms_account *manager, tms_account *obj)
{
    render *r = ctx;
    char key[TMS__KEY_MAX], member[TMS_ID_MAX + 2];
    size_t klen = tms__make_key(key, tms_tenant_id(r->t), tms_account_id(manager), NULL);
    size_t idlen = strlen(tms_account_id(obj));
    member[0] = tms_account_kind(obj);
    memcpy(member + 1, tms_account_id(obj), idlen);
    return emit(r, key, klen, member, idlen + 1);
}

static int emit_role(void *ctx, tms_role *role)
{
    render *r = ctx;
    char key[TMS__KEY_MAX];
    uint8_t val[TMS__VALUE_MAX];
    size_t klen = tms__make_key(key, tms_tenant_id(r->t), tms_role_id(role), NULL);
    return emit(r, key, klen, val, tms__role_value(val, role));
}

static int emit_login(void *ctx, tms_login *l)
{
    render *r = ctx;
    char key[TMS__KEY_MAX];
    uint8_t val[TMS__VALUE_MAX];
    size_t klen = tms__make_key(key, tms_tenant_id(r->t), tms_login_id(l), NULL);
    return emit(r, key, klen, val, login_value(val, l));
}

static int emit_tenant(void *ctx, tms_tenant *t)
{
    render *r = ctx;
    uint8_t val[TMS__VALUE_MAX];
    int rc;
    r->t = t;
    switch (r->db) {
    case TMS_DB_TENANTS:
        return emit(r, tms_tenant_id(t), strlen(tms_tenant_id(t)), val, tms__tenant_value(val, t));
    case TMS_DB_ACCOUNTS:
    case TMS_DB_DIST: rc = tms_tenant_foreach_account(t, emit_account, r); break;
    case TMS_DB_VISIBLE: rc = tms_tenant_foreach_visible(t, emit_visible, r); break;
    case TMS_DB_ROLES: rc = tms_tenant_foreach_role(t, emit_role, r); break;
    case TMS_DB_LOGINS: rc = tms_tenant_foreach_login(t, emit_login, r); break;
    default: rc = 0;
    }
    if (rc < 0 && !r->err)
        r->err = TMS_E_NOMEM;
    return rc;
}

/* Every domain database (not meta) of st, in order, into r's cursor. */
static tms_err render_all(const tms_state *st, render *r)
{
    for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END && !r->err; db++) {
        r->db = db;
        if (r->cur) {
            mdb_cursor_close(r->cur);
            r->cur = NULL;
        }
        int rc = mdb_cursor_open(r->tx->txn, r->tx->st->dbi[db], &r->cur);
        if (rc)
            return tms__store_err(rc);
        if (tms_state_foreach_tenant(st, emit_tenant, r) < 0 && !r->err)
            r->err = TMS_E_NOMEM;
    }
    if (r->cur)
        mdb_cursor_close(r->cur);
    return r->err;
}

/* ---- digests (store.h, "Digests") ------------------------------------------------- */

/* Tenant t's digest into out: its part of every state database, in order. */
static tms_err tenant_digest(render *r, const tms_tenant *t, uint8_t out[TMS_HASH_LEN])
{
    tms__digest_init(r->h);
    for (int db = TMS_DB_TENANTS; db < TMS_DB_STATE_END && !r->err; db++) {
        r->db = db;
        tms__digest_db(r->h, db);
        if (emit_tenant(r, (tms_tenant *)t) && !r->err)   /* (emit_tenant only reads it) */
            r->err = TMS_E_NOMEM;
    }
    if (!r->err)
        tms__digest_final(r->h, out);
    return r->err;
}

tms_err tms_store_load(tms_txn *tx, const tms_state *st)
{
    render r;
    memset(&r, 0, sizeof r);
    r.tx = tx;
    return render_all(st, &r);
}


tms_err tms_state_tenant_digest(const tms_state *st, const char *id, uint8_t out[TMS_HASH_LEN])
{
    const tms_tenant *t = tms_state_tenant(st, id);
    if (!t)
        return TMS_NOT_FOUND;
    render r;
    memset(&r, 0, sizeof r);
    if (!(r.h = malloc(sizeof *r.h)))
        return TMS_E_NOMEM;
    tms_err err = tenant_digest(&r, t, out);
    free(r.h);
    return err;
}

/* The tenants of a state, digested by whoever takes the next one (digest_all). */
typedef struct split {
    const tms_tenant **t;
    size_t n;
    uint8_t (*pd)[TMS_HASH_LEN];   /* t[i]'s digest */
    atomic_size_t next;            /* the next tenant to take (n or more: none left) */
    tms_err err[2];                /* the caller's, the helper's */
} split;

static int list_tenant(void *ctx, tms_tenant *t)
{
    split *s = ctx;
    s->t[s->n++] = t;
    return 0;
}

/* Take tenants until none is left or one fails (then none is taken any more). */
static void take_tenants(split *s, int who)
{
    render r;
    memset(&r, 0, sizeof r);
    if (!(r.h = malloc(sizeof *r.h))) {
        s->err[who] = TMS_E_NOMEM;
        atomic_store(&s->next, s->n);
        return;
    }
    for (size_t i; (i = atomic_fetch_add(&s->next, 1)) < s->n;)
        if (tenant_digest(&r, s->t[i], s->pd[i])) {
            s->err[who] = r.err;
            atomic_store(&s->next, s->n);
            break;
        }
    free(r.h);
}

static void *helper_main(void *arg)
{
    take_tenants(arg, 1);
    return NULL;
}

/* Every tenant's group into r->outer (after what they already hold): the tenants' digests made by the caller
 * and, when two_cores and there is enough to share (two tenants, tms__digest_split_min accounts, as the
 * projection's walk), a helper thread in turn (emit_tenant only reads the state: two threads may walk it at
 * once), then grouped in the tenants' order. */
static tms_err digest_all(const tms_state *st, render *r, int two_cores)
{
    tms_state_stats stats;
    split s;
    pthread_t th;
    memset(&s, 0, sizeof s);
    tms_state_stats_get(st, &stats);
    s.t = malloc((stats.tenants ? stats.tenants : 1) * sizeof *s.t);
    s.pd = malloc((stats.tenants ? stats.tenants : 1) * sizeof *s.pd);
    if (!s.t || !s.pd) {
        r->err = TMS_E_NOMEM;
        goto out;
    }
    if (tms_state_foreach_tenant(st, list_tenant, &s)) {   /* in order; only the walk's own list can fail */
        r->err = TMS_E_NOMEM;
        goto out;
    }
    atomic_init(&s.next, 0);
    int threaded = two_cores && s.n > 1 && stats.accounts >= tms__digest_split_min &&
                   pthread_create(&th, NULL, helper_main, &s) == 0;
    take_tenants(&s, 0);
    if (threaded)
        pthread_join(th, NULL);
    if ((r->err = s.err[0] ? s.err[0] : s.err[1]))
        goto out;
    for (int k = 0; k < 2; k++)
        if (r->outer[k]) {
            tms__digest_db(r->outer[k], TMS__DIGEST_BY_TENANT);
            for (size_t i = 0; i < s.n; i++) {
                const char *id = tms_tenant_id(s.t[i]);
                tms__tenant_group(r->outer[k], NULL, id, strlen(id), s.pd[i]);   /* no list: nothing to fail */
            }
        }
out:
    free(s.t);
    free(s.pd);
    return r->err;
}

/* The digests of st: with meta at (seq, head) into with_meta when head,
 * without into without (either may be NULL); the tenants on two threads
 * when two_cores (digest_all). */
static tms_err state_digests(const tms_state *st, uint64_t seq, const uint8_t *head, uint8_t *with_meta,
                             uint8_t *without, int two_cores)
{
    render r;
    memset(&r, 0, sizeof r);
    tms__digest *d = malloc(2 * sizeof *d);
    if (!d)
        return TMS_E_NOMEM;
    if (with_meta) {
        r.outer[0] = &d[0];
        tms__digest_init(r.outer[0]);
        tms__digest_meta(r.outer[0], seq, head);
    }
    if (without) {
        r.outer[1] = &d[1];
        tms__digest_init(r.outer[1]);
    }
    tms_err err = digest_all(st, &r, two_cores);
    if (!err && with_meta)
        tms__digest_final(r.outer[0], with_meta);
    if (!err && without)
        tms__digest_final(r.outer[1], without);
    free(d);
    return err;
}

tms_err tms_state_projection_digest(const tms_state *st, uint64_t seq, const uint8_t *head, uint8_t out[TMS_HASH_LEN])
{
    return head ? state_digests(st, seq, head, out, NULL, 0) : state_digests(st, 0, NULL, NULL, out, 0);
}

tms_err tms_state_projection_digests(const tms_state *st, uint64_t seq, const uint8_t *head,
                                     uint8_t with_meta[TMS_HASH_LEN], uint8_t without[TMS_HASH_LEN])
{
    return state_digests(st, seq, head, with_meta, without, 0);
}

tms_err tms_state_projection_digests_on2(const tms_state *st, uint64_t seq, const uint8_t *head,
                                         uint8_t *with_meta, uint8_t *without)
{
    return state_digests(st, seq, head, with_meta, without, 1);
}
