/* state.c -- the in-memory domain state (state.h): entities, mutators that
 * record undo entries and effects, rollback and commit.
 *
 * Every mutator first reserves room for its undo entries and effects (the
 * only allocations that could fail half way), then changes the state, so a
 * mutator either happens whole, undo and effects included, or not at all. */
#include "state_internal.h"
#include <stdlib.h>
#include <string.h>

/* ---- entities ------------------------------------------------------------ */

/* Copy s after the id of entity e, at offset *at; returns the copy. */
static const char *tail_copy(void *e, size_t *at, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *dst = (char *)e + *at;
    memcpy(dst, s ? s : "", n);
    dst[n] = '\0';
    *at += n + 1;
    return dst;
}

static void free_account(tms_state *st, tms_account *a)
{
    tms__array_free(st, a->dist, a->capdist);
    tms__entity_free(st, a);
}

static void free_role(tms_state *st, tms_role *r)
{
    tms__array_free(st, r->holders, r->capholders);
    tms__entity_free(st, r);
}

/* Every entity fits a slab class, whatever the schema's limits say: the
 * state's end drops the slab whole (free_tenant), which frees nothing that
 * came from malloc. An entity is its struct, its id and its strings. */
#define TMS__FITS_SLAB(bytes) (((bytes) + TMS__SLAB_QUANTUM - 1) / TMS__SLAB_QUANTUM < TMS__SLAB_CLASSES)
_Static_assert(TMS__FITS_SLAB(sizeof(tms_tenant) + 2 * (TMS_ID_MAX + 1)), "a tenant outgrows the slab");
_Static_assert(TMS__FITS_SLAB(sizeof(tms_account) + TMS_ID_MAX + 1), "an account outgrows the slab");
_Static_assert(TMS__FITS_SLAB(sizeof(tms_role) + 2 * (TMS_ID_MAX + 1)), "a role outgrows the slab");
_Static_assert(TMS__FITS_SLAB(sizeof(tms_login) + TMS_ID_MAX + 1 + 2 * (TMS_TEXT_MAX + 1)),
               "a login outgrows the slab");

/* A tenant and what it holds. Its entities go back to the slab one by one
 * only when `one_by_one` (a rollback); the state's end drops the slab whole. */
static void free_tenant(tms_state *st, tms_tenant *t, int one_by_one)
{
    for (uint32_t i = 0; one_by_one && i < t->accounts.cap; i++)
        if (tms__map_at(&t->accounts, i))
            free_account(st, (tms_account *)tms__map_at(&t->accounts, i));
    for (uint32_t i = 0; !one_by_one && i < t->accounts.cap; i++) {
        tms_account *a = (tms_account *)tms__map_at(&t->accounts, i);
        if (a && a->capdist * sizeof(void *) >= TMS__SLAB_CLASSES * TMS__SLAB_QUANTUM)
            tms__array_free(st, a->dist, a->capdist);   /* from malloc */
    }
    for (uint32_t i = 0; i < t->roles.cap; i++)
        if (tms__map_at(&t->roles, i))
            free_role(st, (tms_role *)tms__map_at(&t->roles, i));
    for (uint32_t i = 0; one_by_one && i < t->logins.cap; i++)
        tms__entity_free(st, tms__map_at(&t->logins, i));
    for (uint32_t i = 0; one_by_one && i < t->requests.cap; i++)
        tms__entity_free(st, tms__map_at(&t->requests, i));
    tms__map_free(&t->accounts);
    tms__map_free(&t->roles);
    tms__map_free(&t->logins);
    tms__map_free(&t->requests);
    if (one_by_one)
        tms__entity_free(st, t);
}

static void free_dead(tms_state *st, tms__named *e)
{
    if (e->kind)
        free_account(st, (tms_account *)e);
    else
        free_role(st, (tms_role *)e);   /* the graveyard holds accounts and roles only */
}

tms_state *tms_state_new(void)
{
    return calloc(1, sizeof(tms_state));
}

void tms_state_free(tms_state *st)
{
    if (!st)
        return;
    tms_state_commit(st);   /* frees the graveyard */
    for (uint32_t i = 0; i < st->tenants.cap; i++)
        if (tms__map_at(&st->tenants, i))
            free_tenant(st, (tms_tenant *)tms__map_at(&st->tenants, i), 0);
    tms__slab_destroy(&st->slab);   /* every entity at once */
    for (size_t i = 0; i < st->nabsorbed; i++)
        tms__slab_destroy(&st->absorbed[i]);
    free(st->absorbed);
    tms__map_free(&st->tenants);
    tms__map_free(&st->requests);
    free(st->undo);
    free(st->effects);
    free(st->graveyard);
    free(st);
}

/* ---- undo and effects ------------------------------------------------------ */

static int grow_array(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* Room for nu undo entries, ne effects and ng graveyard entries. */
static tms_err reserve(tms_state *st, size_t nu, size_t ne, size_t ng)
{
    if (grow_array((void **)&st->undo, &st->capundo, st->nundo + nu, sizeof *st->undo) ||
        grow_array((void **)&st->effects, &st->capeffects, st->neffects + ne, sizeof *st->effects) ||
        grow_array((void **)&st->graveyard, &st->capgrave, st->ngrave + ng, sizeof *st->graveyard)) {
        return TMS_E_NOMEM;
    }
    return TMS_OK;
}

static void undo_push(tms_state *st, int op, void *subject, void *old, uint64_t mask, int tag)
{
    tms__undo *u = &st->undo[st->nundo++];
    u->op = op;
    u->subject = subject;
    u->old = old;
    u->mask = mask;
    u->tag = tag;
}

static tms_effect *effect_push(tms_state *st, tms_effect_type type, const tms_tenant *t, const tms__named *subject)
{
    tms_effect *e = &st->effects[st->neffects++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->tenant = t ? t->h.id : NULL;
    e->id = subject ? subject->id : NULL;
    e->kind = subject ? subject->kind : 0;
    return e;
}

static const char *id_of(const void *entity)
{
    return entity ? ((const tms__named *)entity)->id : NULL;
}

tms_state_mark tms_state_mark_get(const tms_state *st)
{
    tms_state_mark m = {st->nundo, st->neffects};
    return m;
}

const tms_effect *tms_state_effects(const tms_state *st, size_t *n)
{
    *n = st->neffects;
    return st->effects;
}

void tms_state_commit(tms_state *st)
{
    for (size_t i = 0; i < st->ngrave; i++)
        free_dead(st, st->graveyard[i]);
    st->ngrave = 0;
    st->nundo = 0;
    st->neffects = 0;
}

/* ---- the raw changes, shared by mutators and undo ---------------------------- */

/* Room made by the caller (raw_role). */
static void holders_add(tms_role *r, tms_account *a)
{
    a->holder_slot = r->nholders;
    r->holders[r->nholders++] = a;
}

static void holders_del(tms_role *r, tms_account *a)
{
    uint32_t i = a->holder_slot;
    tms_account *last = r->holders[--r->nholders];
    r->holders[i] = last;
    last->holder_slot = i;
}

/* Fails only when adding to a full holders array (checked before any change). */
static tms_err raw_role(tms_state *st, tms_account *a, int tag, tms_role *role)
{
    if (tag == TMS_ROLE_SET && role != a->role &&
        tms__array_grow(st, (void **)&role->holders, &role->capholders, role->nholders + 1))
        return TMS_E_NOMEM;
    if (a->role_tag == TMS_ROLE_SET)
        holders_del(a->role, a);
    a->role_tag = (uint8_t)tag;
    a->role = tag == TMS_ROLE_SET ? role : NULL;
    if (tag == TMS_ROLE_SET)
        holders_add(role, a);
    return TMS_OK;
}

static void raw_owner(tms_account *ext, tms_account *owner)
{
    if (ext->link)
        ext->link->nowned--;
    ext->link = owner;
    if (owner)
        owner->nowned++;
}

static void raw_parent(tms_account *m, tms_account *parent)
{
    if (m->link)
        m->link->nchildren--;
    m->link = parent;
    if (parent)
        parent->nchildren++;
}

static void raw_login(tms_account *a, tms_login *l)
{
    int manager = a->h.kind == TMS_KIND_MANAGER;
    if (a->login)
        *(manager ? &a->login->manager : &a->login->extension) = NULL;
    a->login = l;
    if (l)
        *(manager ? &l->manager : &l->extension) = a;
}

static tms_err dist_room(tms_state *st, tms_account *obj)
{
    return tms__array_grow(st, (void **)&obj->dist, &obj->capdist, obj->ndist + 1);
}

static void raw_dist_add(tms_state *st, tms_account *obj, tms_account *m)
{
    obj->dist[obj->ndist++] = m;   /* room made by dist_room (or left by a removal) */
    m->nvisible++;
    st->ndist++;
}

static void raw_dist_del(tms_state *st, tms_account *obj, tms_account *m)
{
    for (uint32_t i = 0; i < obj->ndist; i++)
        if (obj->dist[i] == m) {
            obj->dist[i] = obj->dist[--obj->ndist];
            m->nvisible--;
            st->ndist--;
            return;
        }
}

/* Undo of a deletion: the entity is the graveyard's last (undo runs in reverse). */
static void revive(tms_state *st, tms__map *map, tms__named *e)
{
    st->ngrave--;
    e->dead = 0;
    tms__map_put(map, e);   /* cannot fail: the map never shrank since the removal */
}

static void undo_one(tms_state *st, const tms__undo *u)
{
    tms_account *a = u->subject;
    tms_role *r = u->subject;
    switch (u->op) {
    case U_TENANT_CREATED:
        tms__map_del(&st->tenants, u->subject);
        free_tenant(st, u->subject, 1);
        break;
    case U_DEFAULT_ROLE: ((tms_tenant *)u->subject)->default_role = u->old; break;
    case U_ACCOUNT_CREATED:
        tms__map_del(&a->tenant->accounts, &a->h);
        st->naccounts--;
        free_account(st, a);
        break;
    case U_ACCOUNT_DELETED:
        revive(st, &a->tenant->accounts, &a->h);
        st->naccounts++;
        break;
    case U_PERMS: a->perms = u->mask; break;
    case U_FEATURES: a->features = u->mask; break;
    case U_ROLE_OF: raw_role(st, a, u->tag, u->old); break;   /* back to a role it left: room kept */
    case U_OWNER: raw_owner(a, u->old); break;
    case U_PARENT: raw_parent(a, u->old); break;
    case U_LOGIN_OF: raw_login(a, u->old); break;
    case U_DIST_ADD: raw_dist_del(st, a, u->old); break;
    case U_DIST_DEL: raw_dist_add(st, a, u->old); break;
    case U_LOGIN_CREATED:
        tms__map_del(&((tms_tenant *)u->old)->logins, u->subject);
        st->nlogins--;
        tms__entity_free(st, u->subject);
        break;
    case U_ROLE_CREATED:
        tms__map_del(&((tms_tenant *)u->old)->roles, &r->h);
        st->nroles--;
        free_role(st, r);
        break;
    case U_ROLE_PERMS: r->perms = u->mask; break;
    case U_ROLE_DELETED:
        revive(st, &((tms_tenant *)u->old)->roles, &r->h);
        st->nroles++;
        break;
    case U_REQUEST:
        tms__map_del(u->old, u->subject);
        tms__entity_free(st, u->subject);
        break;
    }
}

void tms_state_rollback(tms_state *st, tms_state_mark m)
{
    while (st->nundo > m.undo)
        undo_one(st, &st->undo[--st->nundo]);
    if (st->neffects > m.effects)
        st->neffects = m.effects;
}

/* ---- tenants ----------------------------------------------------------------- */

tms_tenant *tms_state_tenant(const tms_state *st, const char *id)
{
    size_t n = strlen(id);
    return (tms_tenant *)tms__map_get(&st->tenants, 0, id, n, tms__hash(0, id, n));
}

tms_err tms_state_create_tenant(tms_state *st, const char *id, const char *admin, tms_tenant **out)
{
    size_t at = sizeof(tms_tenant) + strlen(id) + 1;
    tms_tenant *t;
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    if (!(t = tms__entity_new(st, sizeof *t, 0, id, strlen(id), strlen(admin) + 1)) ||
        tms__map_put(&st->tenants, &t->h)) {
        tms__entity_free(st, t);
        return TMS_E_NOMEM;
    }
    t->admin = tail_copy(t, &at, admin);
    undo_push(st, U_TENANT_CREATED, t, NULL, 0, 0);
    effect_push(st, TMS_EFFECT_TENANT_CREATED, t, NULL)->after = t->admin;
    *out = t;
    return TMS_OK;
}

const char *tms_tenant_id(const tms_tenant *t) { return t->h.id; }
const char *tms_tenant_admin(const tms_tenant *t) { return t->admin; }
tms_role *tms_tenant_default_role(const tms_tenant *t) { return t->default_role; }

tms_err tms_tenant_set_default_role(tms_state *st, tms_tenant *t, tms_role *role)
{
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    undo_push(st, U_DEFAULT_ROLE, t, t->default_role, 0, 0);
    tms_effect *e = effect_push(st, TMS_EFFECT_DEFAULT_ROLE, t, NULL);
    e->before = id_of(t->default_role);
    e->after = id_of(role);
    t->default_role = role;
    return TMS_OK;
}

/* ---- accounts ------------------------------------------------------------------- */

tms_account *tms_tenant_account(const tms_tenant *t, char kind, const char *id)
{
    size_t n = strlen(id);
    return (tms_account *)tms__map_get(&t->accounts, kind, id, n, tms__hash(kind, id, n));
}

tms_err tms_tenant_create_account(tms_state *st, tms_tenant *t, char kind, const char *id, tms_account **out)
{
    tms_account *a;
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    if (!(a = tms__entity_new(st, sizeof *a, kind, id, strlen(id), 0)) || tms__map_put(&t->accounts, &a->h)) {
        tms__entity_free(st, a);
        return TMS_E_NOMEM;
    }
    a->tenant = t;
    st->naccounts++;
    undo_push(st, U_ACCOUNT_CREATED, a, NULL, 0, 0);
    effect_push(st, TMS_EFFECT_ACCOUNT_CREATED, t, &a->h);
    *out = a;
    return TMS_OK;
}

tms_err tms_tenant_delete_account(tms_state *st, tms_tenant *t, tms_account *a)
{
    tms_err err = TMS_OK;
    if (a->nvisible || a->nowned || a->nchildren)
        return TMS_E_INVAL;   /* R19 is the rules' to check: this is a caller's bug */
    while (!err && a->ndist)
        err = tms_object_undistribute(st, a, a->dist[a->ndist - 1]);
    if (!err && a->h.kind == TMS_KIND_EXTENSION && a->link)
        err = tms_account_set_owner(st, a, NULL);
    if (!err && a->h.kind == TMS_KIND_MANAGER && a->link)
        err = tms_account_set_parent(st, a, NULL);
    if (!err && a->role_tag != TMS_ROLE_NONE)
        err = tms_account_set_role(st, a, NULL);
    if (!err && a->login)
        err = tms_account_bind_login(st, a, NULL);
    if (err || (err = reserve(st, 1, 1, 1)))
        return err;
    tms__map_del(&t->accounts, &a->h);
    a->h.dead = 1;
    st->graveyard[st->ngrave++] = &a->h;
    st->naccounts--;
    undo_push(st, U_ACCOUNT_DELETED, a, NULL, 0, 0);
    effect_push(st, TMS_EFFECT_ACCOUNT_DELETED, t, &a->h);
    return TMS_OK;
}

char tms_account_kind(const tms_account *a) { return a->h.kind; }
const char *tms_account_id(const tms_account *a) { return a->h.id; }
uint64_t tms_account_permissions(const tms_account *a) { return a->perms; }
uint64_t tms_account_features(const tms_account *a) { return a->features; }
tms_login *tms_account_login(const tms_account *a) { return a->login; }

tms_role *tms_account_role(const tms_account *a, int *tag)
{
    *tag = a->role_tag;
    return a->role;
}

tms_account *tms_account_owner(const tms_account *a)
{
    return a->h.kind == TMS_KIND_EXTENSION ? a->link : NULL;
}

tms_account *tms_account_parent(const tms_account *a)
{
    return a->h.kind == TMS_KIND_MANAGER ? a->link : NULL;
}

static tms_err set_mask(tms_state *st, tms_account *a, int features, uint64_t mask)
{
    uint64_t *field = features ? &a->features : &a->perms;
    if (*field == mask)
        return TMS_OK;
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    undo_push(st, features ? U_FEATURES : U_PERMS, a, NULL, *field, 0);
    tms_effect *e = effect_push(st, features ? TMS_EFFECT_FEATURES : TMS_EFFECT_PERMISSIONS, a->tenant, &a->h);
    e->mask_before = *field;
    e->mask_after = mask;
    *field = mask;
    return TMS_OK;
}

tms_err tms_account_set_permissions(tms_state *st, tms_account *a, uint64_t perms)
{
    return set_mask(st, a, 0, perms);
}

tms_err tms_account_set_features(tms_state *st, tms_account *a, uint64_t features)
{
    return set_mask(st, a, 1, features);
}

static tms_err set_role_tag(tms_state *st, tms_account *a, int tag, tms_role *role)
{
    if (a->role_tag == tag && a->role == role)
        return TMS_OK;
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    tms_role *old = a->role;
    int oldtag = a->role_tag;
    if (raw_role(st, a, tag, role)) {
        return TMS_E_NOMEM;
    }
    undo_push(st, U_ROLE_OF, a, old, 0, oldtag);
    tms_effect *e = effect_push(st, TMS_EFFECT_ROLE_OF, a->tenant, &a->h);
    e->tag_before = (uint8_t)oldtag;
    e->tag_after = (uint8_t)tag;
    e->before = id_of(old);
    e->after = id_of(role);
    return TMS_OK;
}

tms_err tms_account_set_role(tms_state *st, tms_account *a, tms_role *role)
{
    return set_role_tag(st, a, role ? TMS_ROLE_SET : TMS_ROLE_NONE, role);
}

tms_err tms_account_become_custom(tms_state *st, tms_account *a, uint64_t role_perms, const char *cause)
{
    const char *left = id_of(a->role);
    tms_err err = reserve(st, 1, 2, 0);
    if (err || (err = set_role_tag(st, a, TMS_ROLE_CUSTOM, NULL)))
        return err;
    tms_effect *e = effect_push(st, TMS_EFFECT_BECAME_CUSTOM, a->tenant, &a->h);
    e->before = left;
    e->cause = cause;
    e->enabled = a->perms & ~role_perms;
    e->disabled = role_perms & ~a->perms;
    return TMS_OK;
}

tms_err tms_account_bind_login(tms_state *st, tms_account *a, tms_login *login)
{
    if (a->login == login)
        return TMS_OK;
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    undo_push(st, U_LOGIN_OF, a, a->login, 0, 0);
    tms_effect *e = effect_push(st, TMS_EFFECT_LOGIN_OF, a->tenant, &a->h);
    e->before = id_of(a->login);
    e->after = id_of(login);
    raw_login(a, login);
    return TMS_OK;
}

static tms_err set_link(tms_state *st, tms_account *a, tms_account *to, int parent)
{
    if (a->link == to)
        return TMS_OK;
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    undo_push(st, parent ? U_PARENT : U_OWNER, a, a->link, 0, 0);
    tms_effect *e = effect_push(st, parent ? TMS_EFFECT_PARENT : TMS_EFFECT_OWNER, a->tenant, &a->h);
    e->before = id_of(a->link);
    e->after = id_of(to);
    (parent ? raw_parent : raw_owner)(a, to);
    return TMS_OK;
}

tms_err tms_account_set_owner(tms_state *st, tms_account *ext, tms_account *manager)
{
    return set_link(st, ext, manager, 0);
}

tms_err tms_account_set_parent(tms_state *st, tms_account *m, tms_account *parent)
{
    return set_link(st, m, parent, 1);
}

#define MAX_DEPTH 100000   /* parents are set once, at creation: no cycles; bound the walk anyway */

int tms_manager_is_above(const tms_account *upper, const tms_account *lower)
{
    const tms_account *m = lower->link;
    for (int depth = 0; m && depth < MAX_DEPTH; depth++, m = m->link)
        if (m == upper)
            return 1;
    return 0;
}

void tms_manager_dependents(const tms_account *m, size_t *distributed, size_t *owned, size_t *reporting)
{
    *distributed = m->nvisible;
    *owned = m->nowned;
    *reporting = m->nchildren;
}

/* ---- distribution ----------------------------------------------------------------- */

int tms_object_is_distributed_to(const tms_account *obj, const tms_account *manager)
{
    for (uint32_t i = 0; i < obj->ndist; i++)
        if (obj->dist[i] == manager)
            return 1;
    return 0;
}

tms_err tms_object_distribute(tms_state *st, tms_account *obj, tms_account *manager)
{
    if (tms_object_is_distributed_to(obj, manager))
        return TMS_OK;
    if (reserve(st, 1, 1, 0) || dist_room(st, obj)) {
        return TMS_E_NOMEM;
    }
    raw_dist_add(st, obj, manager);
    undo_push(st, U_DIST_ADD, obj, manager, 0, 0);
    effect_push(st, TMS_EFFECT_DISTRIBUTED, obj->tenant, &obj->h)->after = manager->h.id;
    return TMS_OK;
}

tms_err tms_object_undistribute(tms_state *st, tms_account *obj, tms_account *manager)
{
    if (!tms_object_is_distributed_to(obj, manager))
        return TMS_OK;
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    raw_dist_del(st, obj, manager);
    undo_push(st, U_DIST_DEL, obj, manager, 0, 0);
    effect_push(st, TMS_EFFECT_UNDISTRIBUTED, obj->tenant, &obj->h)->before = manager->h.id;
    return TMS_OK;
}

/* ---- roles ---------------------------------------------------------------------------- */

tms_role *tms_tenant_role(const tms_tenant *t, const char *id)
{
    size_t n = strlen(id);
    return (tms_role *)tms__map_get(&t->roles, 0, id, n, tms__hash(0, id, n));
}

tms_err tms_tenant_create_role(tms_state *st, tms_tenant *t, const char *id, char account_kind, uint64_t perms,
                               const char *creator, tms_role **out)
{
    size_t at = sizeof(tms_role) + strlen(id) + 1;
    tms_role *r;
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    if (!(r = tms__entity_new(st, sizeof *r, 0, id, strlen(id), strlen(creator) + 1)) ||
        tms__map_put(&t->roles, &r->h)) {
        tms__entity_free(st, r);
        return TMS_E_NOMEM;
    }
    r->creator = tail_copy(r, &at, creator);
    r->tenant = t;
    r->account_kind = account_kind;
    r->perms = perms;
    st->nroles++;
    undo_push(st, U_ROLE_CREATED, r, t, 0, 0);
    tms_effect *e = effect_push(st, TMS_EFFECT_ROLE_CREATED, t, &r->h);
    e->kind = account_kind;
    e->mask_after = perms;
    *out = r;
    return TMS_OK;
}

tms_err tms_tenant_delete_role(tms_state *st, tms_tenant *t, tms_role *r)
{
    if (r->nholders || t->default_role == r)
        return TMS_E_INVAL;   /* the rules turn holders Custom and clear the default first */
    if (reserve(st, 1, 1, 1))
        return TMS_E_NOMEM;
    tms__map_del(&t->roles, &r->h);
    r->h.dead = 1;
    st->graveyard[st->ngrave++] = &r->h;
    st->nroles--;
    undo_push(st, U_ROLE_DELETED, r, t, 0, 0);
    tms_effect *e = effect_push(st, TMS_EFFECT_ROLE_DELETED, t, &r->h);
    e->kind = r->account_kind;
    e->mask_before = r->perms;
    return TMS_OK;
}

const char *tms_role_id(const tms_role *r) { return r->h.id; }
char tms_role_account_kind(const tms_role *r) { return r->account_kind; }
uint64_t tms_role_permissions(const tms_role *r) { return r->perms; }
const char *tms_role_creator(const tms_role *r) { return r->creator; }

tms_err tms_role_set_permissions(tms_state *st, tms_role *r, uint64_t perms)
{
    if (r->perms == perms)
        return TMS_OK;
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    undo_push(st, U_ROLE_PERMS, r, NULL, r->perms, 0);
    tms_effect *e = effect_push(st, TMS_EFFECT_ROLE_UPDATED, r->tenant, &r->h);
    e->kind = r->account_kind;
    e->mask_before = r->perms;
    e->mask_after = perms;
    r->perms = perms;
    return TMS_OK;
}

/* ---- logins -------------------------------------------------------------------------------- */

tms_login *tms_tenant_login(const tms_tenant *t, const char *id)
{
    size_t n = strlen(id);
    return (tms_login *)tms__map_get(&t->logins, 0, id, n, tms__hash(0, id, n));
}

tms_err tms_tenant_create_login(tms_state *st, tms_tenant *t, const char *id, const char *name, const char *email,
                                tms_login **out)
{
    size_t at = sizeof(tms_login) + strlen(id) + 1;
    size_t extra = (name ? strlen(name) : 0) + (email ? strlen(email) : 0) + 2;
    tms_login *l;
    if (reserve(st, 1, 1, 0))
        return TMS_E_NOMEM;
    if (!(l = tms__entity_new(st, sizeof *l, 0, id, strlen(id), extra)) || tms__map_put(&t->logins, &l->h)) {
        tms__entity_free(st, l);
        return TMS_E_NOMEM;
    }
    l->name = tail_copy(l, &at, name);
    l->email = tail_copy(l, &at, email);
    st->nlogins++;
    undo_push(st, U_LOGIN_CREATED, l, t, 0, 0);
    effect_push(st, TMS_EFFECT_LOGIN_CREATED, t, &l->h);
    *out = l;
    return TMS_OK;
}

const char *tms_login_id(const tms_login *l) { return l->h.id; }
const char *tms_login_name(const tms_login *l) { return l->name; }
const char *tms_login_email(const tms_login *l) { return l->email; }
tms_account *tms_login_manager(const tms_login *l) { return l->manager; }
tms_account *tms_login_extension(const tms_login *l) { return l->extension; }

/* ---- request ids ------------------------------------------------------------------------------ */

/* The key of a request: tenant NUL request id. */
static size_t request_key(char *buf, const char *tenant, const char *rid)
{
    size_t tl = strlen(tenant), rl = strlen(rid);
    memcpy(buf, tenant, tl);
    buf[tl] = '\0';
    memcpy(buf + tl + 1, rid, rl);
    return tl + 1 + rl;
}

#define REQUEST_KEY_MAX 255
_Static_assert(TMS__FITS_SLAB(sizeof(tms__request) + REQUEST_KEY_MAX + 1), "a request id outgrows the slab");

/* The request with this key (hash h) in t's map, else among those of no tenant. */
static tms__request *find_request(const tms_state *st, const tms_tenant *t, const char *key, size_t n, uint32_t h)
{
    tms__request *r = t ? (tms__request *)tms__map_get(&t->requests, 0, key, n, h) : NULL;
    if (!r && st->requests.n)   /* seen before its tenant existed */
        r = (tms__request *)tms__map_get(&st->requests, 0, key, n, h);
    return r;
}

int tms_state_request(const tms_state *st, const char *tenant, const char *rid, tms_request_seen *out)
{
    char key[2 * REQUEST_KEY_MAX];
    if (strlen(tenant) + strlen(rid) + 1 > REQUEST_KEY_MAX)
        return 0;
    size_t n = request_key(key, tenant, rid);
    tms__request *r = find_request(st, tms_state_tenant(st, tenant), key, n, tms__hash(0, key, n));
    if (!r)
        return 0;
    *out = r->first;
    return 1;
}

/* A new request (its key of n bytes absent from map) into map, seen first as *first: TMS_OK, TMS_E_NOMEM. */
static tms_err put_request(tms_state *st, tms__map *map, const char *key, size_t n, const tms_request_seen *first,
                           tms__request **out)
{
    tms__request *r = tms__entity_new(st, sizeof *r, 0, key, n, 0);
    if (!r || tms__map_put(map, &r->h)) {
        tms__entity_free(st, r);
        return TMS_E_NOMEM;
    }
    r->first = *first;
    *out = r;
    return TMS_OK;
}

tms_err tms_state_record_request(tms_state *st, const char *tenant, const char *rid, const tms_request_seen *first)
{
    char key[2 * REQUEST_KEY_MAX];
    tms__request *r;
    if (strlen(tenant) + strlen(rid) + 1 > REQUEST_KEY_MAX)
        return TMS_E_INVAL;   /* ids are at most 64 bytes, request ids 128: never */
    tms_tenant *t = tms_state_tenant(st, tenant);
    tms__map *map = t ? &t->requests : &st->requests;
    size_t n = request_key(key, tenant, rid);
    if (find_request(st, t, key, n, tms__hash(0, key, n)))
        return TMS_OK;   /* the first verdict stands */
    if (reserve(st, 1, 1, 0) || put_request(st, map, key, n, first, &r))
        return TMS_E_NOMEM;
    undo_push(st, U_REQUEST, r, map, 0, 0);
    tms_effect *e = effect_push(st, TMS_EFFECT_REQUEST, NULL, NULL);
    e->tenant = r->h.id;                 /* the key starts with the tenant, NUL-terminated */
    e->id = r->h.id + strlen(r->h.id) + 1;
    return TMS_OK;
}

tms_err tms_state_load_request(tms_state *st, tms_tenant *t, const char *tenant, const char *rid,
                               const tms_request_seen *first)
{
    char key[2 * REQUEST_KEY_MAX];
    tms__request *r;
    if (strlen(tenant) + strlen(rid) + 1 > REQUEST_KEY_MAX)
        return TMS_E_INVAL;
    size_t n = request_key(key, tenant, rid);
    return put_request(st, t ? &t->requests : &st->requests, key, n, first, &r);
}

void tms_state_stats_get(const tms_state *st, tms_state_stats *out)
{
    out->tenants = st->tenants.n;
    out->accounts = st->naccounts;
    out->roles = st->nroles;
    out->logins = st->nlogins;
    out->requests = st->requests.n;
    for (uint32_t i = 0; i < st->tenants.cap; i++)
        if (tms__map_at(&st->tenants, i))
            out->requests += ((const tms_tenant *)tms__map_at(&st->tenants, i))->requests.n;
    out->distributions = st->ndist;
}
