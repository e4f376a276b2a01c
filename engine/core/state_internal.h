/* state_internal.h -- the layout of the in-memory state (state.h): entities,
 * the open-addressing hash map that indexes them, the undo log. Private to
 * the state's own files (state.c, state_map.c, state_walk.c). */
#ifndef TMS_STATE_INTERNAL_H
#define TMS_STATE_INTERNAL_H

#include "state.h"

/* Every named entity begins with this: the map indexes entities by
 * (kind, id bytes). id points into the entity's own allocation. */
typedef struct tms__named {
    const char *id;
    uint32_t hash;
    uint8_t len;
    char kind;                   /* accounts: m e q c; 0 otherwise */
    uint8_t dead;                /* deleted, awaiting commit (or a rollback that revives it) */
    uint8_t cls;                 /* its slab class (0: from malloc) */
} tms__named;

/* The slab (state_alloc.c): 16-byte classes below TMS__SLAB_CLASSES * 16 bytes. */
#define TMS__SLAB_QUANTUM 16u
#define TMS__SLAB_CLASSES 64u
typedef struct tms__slab {
    void *free[TMS__SLAB_CLASSES];
    char *cur, *end;
    char **chunks;
    size_t nchunks, capchunks;
} tms__slab;

/* A transparent huge page. tms__huge_alloc: zeroed memory of bytes, mapped
 * on its own, aligned to TMS__HUGE and advised to use huge pages (one fault
 * per 2 MiB instead of per 4 KiB); NULL when out of memory. For blocks of
 * TMS__HUGE bytes or more: smaller ones waste the rest of the page.
 * tms__huge_free: give it back, with the size it was asked for. */
#define TMS__HUGE (2u * 1024u * 1024u)
void *tms__huge_alloc(size_t bytes);
void tms__huge_free(void *p, size_t bytes);

/* Zeroed memory of at least size bytes; NULL when out of memory. */
void *tms__slab_alloc(tms__slab *s, size_t size);
/* Give back what tms__slab_alloc(size) returned (the same size). */
void tms__slab_free(tms__slab *s, void *p, size_t size);
void tms__slab_destroy(tms__slab *s);

/* Open addressing, linear probing, backward-shift deletion; cap is a power
 * of two, at most half full (a miss, as common as a hit here: every create
 * checks absence, most request ids are new, stays short). A slot holds the
 * key's hash beside the borrowed entity pointer, in one 16-byte cell: a
 * probe that does not match costs one memory access and never touches the
 * entity. */
typedef struct tms__slot {
    uint32_t hash;
    tms__named *e;               /* NULL: empty */
} tms__slot;

typedef struct tms__map {
    tms__slot *slots;
    uint32_t cap, n;
} tms__map;

/* The entity in slot i (i < cap), or NULL: for walks over every entity. */
static inline tms__named *tms__map_at(const tms__map *m, uint32_t i)
{
    return m->slots[i].e;
}

uint32_t tms__hash(char kind, const char *key, size_t len);
/* The entity with this key, or NULL. */
tms__named *tms__map_get(const tms__map *m, char kind, const char *key, size_t len, uint32_t hash);
/* Insert e (its key absent). TMS_OK or TMS_E_NOMEM. */
tms_err tms__map_put(tms__map *m, tms__named *e);
/* Room for n more members without a rehash: a hint (a bulk load that
 * knows its counts). TMS_OK, or TMS_E_NOMEM (the map unchanged). */
tms_err tms__map_reserve(tms__map *m, uint32_t n);
/* Remove e (present). */
void tms__map_del(tms__map *m, tms__named *e);
void tms__map_free(tms__map *m);
/* The entities, in any order, into a malloc'd array (caller frees); NULL
 * with *n = 0 for an empty map, NULL with *n != 0 when out of memory. */
tms__named **tms__map_list(const tms__map *m, size_t *n);
/* Sort entities by (kind, id bytes). */
void tms__sort_named(tms__named **v, size_t n);

struct tms_login {
    tms__named h;
    tms_account *manager, *extension;
    const char *name, *email;
};

struct tms_role {
    tms__named h;
    char account_kind;
    uint64_t perms;
    const char *creator;
    tms_account **holders;       /* unordered; each holder knows its slot */
    uint32_t nholders, capholders;
    tms_tenant *tenant;
};

struct tms_account {
    tms__named h;
    uint64_t perms, features;
    tms_account *link;           /* extension: owner; manager: parent */
    tms_login *login;
    tms_role *role;              /* when role_tag == TMS_ROLE_SET */
    uint8_t role_tag;
    uint32_t holder_slot;        /* index in role->holders */
    tms_account **dist;          /* objects: the managers it is distributed to (unordered) */
    uint32_t ndist, capdist;
    uint32_t nvisible, nowned, nchildren;   /* managers: what depends on them (R19) */
    tms_tenant *tenant;
};

struct tms_tenant {
    tms__named h;
    const char *admin;
    tms_role *default_role;
    tms__map accounts, roles, logins;
    tms__map requests;           /* its request ids (a small, warm map beside its accounts) */
};

typedef struct tms__request {
    tms__named h;                /* key: tenant NUL request id */
    tms_request_seen first;
} tms__request;

/* Undo entries: what a mutator changed, to put back. */
enum {
    U_TENANT_CREATED, U_DEFAULT_ROLE, U_ACCOUNT_CREATED, U_ACCOUNT_DELETED, U_PERMS, U_FEATURES, U_ROLE_OF,
    U_OWNER, U_PARENT, U_LOGIN_OF, U_DIST_ADD, U_DIST_DEL, U_LOGIN_CREATED, U_ROLE_CREATED, U_ROLE_PERMS,
    U_ROLE_DELETED, U_REQUEST
};

typedef struct tms__undo {
    int op;
    void *subject;               /* the entity changed */
    void *old;                   /* an old pointer value (role, owner, login, manager, parent) */
    uint64_t mask;               /* an old mask */
    int tag;                     /* an old role tag */
} tms__undo;

struct tms_state {
    tms__slab slab;
    tms__map tenants;
    tms__map requests;           /* request ids of records naming no tenant that existed then */
    tms__undo *undo;
    size_t nundo, capundo;
    tms_effect *effects;
    size_t neffects, capeffects;
    tms__named **graveyard;      /* deleted since the last commit: freed by commit */
    size_t ngrave, capgrave;
    size_t naccounts, nroles, nlogins, ndist;
    tms__slab *absorbed;         /* the slabs of states absorbed (tms_state_absorb), freed with this one */
    size_t nabsorbed;
};

/* Allocate an entity of size bytes with room for its id (and extra bytes
 * after it), zeroed, its header filled; NULL when out of memory. */
void *tms__entity_new(tms_state *st, size_t size, char kind, const char *id, size_t idlen, size_t extra);
void tms__entity_free(tms_state *st, void *e);
/* Grow a pointer array (distributions, holders) to hold need entries. */
tms_err tms__array_grow(tms_state *st, void **arr, uint32_t *cap, uint32_t need);
void tms__array_free(tms_state *st, void *arr, uint32_t cap);
/* 1 when a request id st keeps apart (of no tenant) is also held by its tenant in `tenants` (st itself:
 * tms_state_request_twice; a tenant's part decoded on its own before it joins st: snapshot.h). */
int tms__state_request_twice_in(const tms_state *st, const tms_state *tenants);

#endif
