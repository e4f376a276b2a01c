/* state.h -- the domain state in memory: tenants, accounts (managers,
 * extensions), objects (queues, campaigns), roles, logins and request ids,
 * asked and changed in domain terms. What the rules run on, live (tmsd,
 * embedded submits) and in replay (tools, rebuilds). It knows nothing of
 * LMDB, of the log or of I/O.
 *
 * Every change is made through a mutator below. A mutator
 *   - records how to undo it (tms_state_rollback), and
 *   - appends effects (tms_effect): what changed, before and after, as data.
 * Effects and undo entries accumulate until tms_state_commit, which forgets
 * them and frees what was deleted. Until then every pointer an effect or a
 * getter returned stays valid, deleted entities included.
 *
 * Ownership: the state owns every entity and string; callers hold borrowed
 * pointers, valid until the entity is deleted and the deletion committed (or
 * its creation rolled back). Not thread-safe: one thread at a time. */
#ifndef TMS_STATE_H
#define TMS_STATE_H

#include <stddef.h>
#include <stdint.h>
#include "tmsperm.h"
#include "tmsperm_schema.h"

/* Account and object kinds are letters (TMS_KIND_MANAGER 'm' ...), from the
 * schema ("kinds", generated into tmsperm_schema.h). */

/* An account's role: none, Custom, or a role. */
enum { TMS_ROLE_NONE = 0, TMS_ROLE_CUSTOM = 1, TMS_ROLE_SET = 2 };

typedef struct tms_state tms_state;
typedef struct tms_tenant tms_tenant;
typedef struct tms_account tms_account;   /* manager, extension, queue or campaign */
typedef struct tms_role tms_role;
typedef struct tms_login tms_login;

/* ---- effects ------------------------------------------------------------ */

typedef enum tms_effect_type {
    TMS_EFFECT_TENANT_CREATED,    /* after = its PBX Admin */
    TMS_EFFECT_DEFAULT_ROLE,      /* before/after: role ids (NULL = none) */
    TMS_EFFECT_ACCOUNT_CREATED,   /* kind id */
    TMS_EFFECT_ACCOUNT_DELETED,   /* kind id */
    TMS_EFFECT_PERMISSIONS,       /* kind id; mask_before -> mask_after */
    TMS_EFFECT_FEATURES,          /* id; mask_before -> mask_after */
    TMS_EFFECT_ROLE_OF,           /* kind id; tag_before/before -> tag_after/after (role ids) */
    TMS_EFFECT_BECAME_CUSTOM,     /* kind id; before: the role left; cause; enabled/disabled vs its set */
    TMS_EFFECT_OWNER,             /* extension id; before -> after (manager ids, NULL = none) */
    TMS_EFFECT_PARENT,            /* manager id; before -> after (manager ids, NULL = the PBX Admin) */
    TMS_EFFECT_LOGIN_OF,          /* kind id; before -> after (login ids, NULL = none) */
    TMS_EFFECT_DISTRIBUTED,       /* kind id; after = the manager */
    TMS_EFFECT_UNDISTRIBUTED,     /* kind id; before = the manager */
    TMS_EFFECT_LOGIN_CREATED,     /* id = login */
    TMS_EFFECT_ROLE_CREATED,      /* id = role; kind = its account type; mask_after = its set */
    TMS_EFFECT_ROLE_UPDATED,      /* id = role; mask_before -> mask_after */
    TMS_EFFECT_ROLE_DELETED,      /* id = role; mask_before = its set */
    TMS_EFFECT_REQUEST            /* id = request id (idempotency bookkeeping) */
} tms_effect_type;

/* One change. Strings point into the state: valid until tms_state_commit
 * or tms_state_rollback. */
typedef struct tms_effect {
    tms_effect_type type;
    char kind;                    /* the subject's kind (accounts, objects; a role's account type) */
    uint8_t tag_before, tag_after;/* ROLE_OF: TMS_ROLE_* */
    const char *tenant;
    const char *id;               /* the subject */
    const char *before, *after;   /* see the types above; NULL = none */
    uint64_t mask_before, mask_after;
    uint64_t enabled, disabled;   /* BECAME_CUSTOM: permissions relative to the role's set */
    const char *cause;            /* BECAME_CUSTOM: "set_permissions" or "role_deleted" */
} tms_effect;

/* A position in the state's change history (undo entries and effects). */
typedef struct tms_state_mark {
    size_t undo, effects;
} tms_state_mark;

/* ---- the state ---------------------------------------------------------- */

/* A new empty state; NULL when out of memory. */
tms_state *tms_state_new(void);
/* Free the state and everything in it. NULL is a no-op. */
void tms_state_free(tms_state *st);

/* The current position, to roll back to. */
tms_state_mark tms_state_mark_get(const tms_state *st);
/* Undo every change made since m (in reverse order) and drop its effects. */
void tms_state_rollback(tms_state *st, tms_state_mark m);
/* Make every change final: forget undo entries and effects, free what was deleted. */
void tms_state_commit(tms_state *st);
/* The effects since the last commit, in order; *n gets their count. */
const tms_effect *tms_state_effects(const tms_state *st, size_t *n);

/* Counts, for memory measurements and tests. */
typedef struct tms_state_stats {
    size_t tenants, accounts, roles, logins, requests, distributions;
} tms_state_stats;
void tms_state_stats_get(const tms_state *st, tms_state_stats *out);

/* ---- tenants ------------------------------------------------------------ */

/* Capacity hints for a bulk load that knows its counts (a snapshot's
 * decode): room for that many more tenants and request ids of no tenant
 * (tms_state_reserve), or roles, logins, accounts and objects, and request
 * ids of t (tms_tenant_reserve), without growing the indexes one doubling at
 * a time. Nothing observable changes; no undo entry. TMS_OK or TMS_E_NOMEM
 * (the state as it was). */
tms_err tms_state_reserve(tms_state *st, size_t tenants, size_t requests);
tms_err tms_tenant_reserve(tms_state *st, tms_tenant *t, size_t roles, size_t logins, size_t accounts,
                           size_t requests);

/* The tenant with this id, or NULL. */
tms_tenant *tms_state_tenant(const tms_state *st, const char *id);
/* Create a tenant with its PBX Admin. TMS_OK or TMS_E_NOMEM. */
tms_err tms_state_create_tenant(tms_state *st, const char *id, const char *admin, tms_tenant **out);
const char *tms_tenant_id(const tms_tenant *t);
const char *tms_tenant_admin(const tms_tenant *t);
/* R18: the role new extensions start with, or NULL. */
tms_role *tms_tenant_default_role(const tms_tenant *t);
tms_err tms_tenant_set_default_role(tms_state *st, tms_tenant *t, tms_role *role);

/* Visit tenants sorted by id; fn returning non-zero stops (and is returned). */
int tms_state_foreach_tenant(const tms_state *st, int (*fn)(void *ctx, tms_tenant *t), void *ctx);

/* ---- accounts and objects ---------------------------------------------- */

/* The account (or object) of this kind and id, or NULL. */
tms_account *tms_tenant_account(const tms_tenant *t, char kind, const char *id);
/* Create an empty one (no permissions, no role, no login, no owner/parent). */
tms_err tms_tenant_create_account(tms_state *st, tms_tenant *t, char kind, const char *id, tms_account **out);
/* Delete one, and everything that goes with it (R22): its distributions,
 * its owner, its role membership, its login binding. A manager must have no
 * dependents (tms_manager_dependents) and is taken out of its parent. */
tms_err tms_tenant_delete_account(tms_state *st, tms_tenant *t, tms_account *a);

char tms_account_kind(const tms_account *a);
const char *tms_account_id(const tms_account *a);
uint64_t tms_account_permissions(const tms_account *a);
uint64_t tms_account_features(const tms_account *a);
/* The role: *tag gets TMS_ROLE_*; returns the role when TMS_ROLE_SET, else NULL. */
tms_role *tms_account_role(const tms_account *a, int *tag);
tms_login *tms_account_login(const tms_account *a);
/* An extension's owner (a manager), or NULL. */
tms_account *tms_account_owner(const tms_account *a);
/* A manager's parent, or NULL (reports to the PBX Admin). */
tms_account *tms_account_parent(const tms_account *a);

tms_err tms_account_set_permissions(tms_state *st, tms_account *a, uint64_t perms);
tms_err tms_account_set_features(tms_state *st, tms_account *a, uint64_t features);
/* Give the account a role (role != NULL) or none (NULL); does not touch
 * its permissions. */
tms_err tms_account_set_role(tms_state *st, tms_account *a, tms_role *role);
/* R15/R17: the account leaves its role for Custom; the effect records the
 * role left, the cause, and the permissions enabled / disabled relative to
 * role_perms. */
tms_err tms_account_become_custom(tms_state *st, tms_account *a, uint64_t role_perms, const char *cause);
/* Bind a login (or none) to the account; the login's side follows. */
tms_err tms_account_bind_login(tms_state *st, tms_account *a, tms_login *login);
/* R4: the extension's one owner (a manager), or NULL to release. */
tms_err tms_account_set_owner(tms_state *st, tms_account *ext, tms_account *manager);
/* A new manager's place: its parent (NULL = reports to the PBX Admin). */
tms_err tms_account_set_parent(tms_state *st, tms_account *m, tms_account *parent);

/* 1 if manager `upper` is strictly above manager `lower`. */
int tms_manager_is_above(const tms_account *upper, const tms_account *lower);
/* R19: what keeps a manager from being removed. */
void tms_manager_dependents(const tms_account *m, size_t *distributed, size_t *owned, size_t *reporting);

/* ---- distribution (R1) -------------------------------------------------- */

int tms_object_is_distributed_to(const tms_account *obj, const tms_account *manager);
tms_err tms_object_distribute(tms_state *st, tms_account *obj, tms_account *manager);
tms_err tms_object_undistribute(tms_state *st, tms_account *obj, tms_account *manager);
/* The managers an object is distributed to, sorted by id, into a
 * caller-provided array of capacity cap; returns the count (may exceed cap). */
size_t tms_object_distribution(const tms_account *obj, tms_account **out, size_t cap);

/* ---- roles (R13-R18) ---------------------------------------------------- */

tms_role *tms_tenant_role(const tms_tenant *t, const char *id);
tms_err tms_tenant_create_role(tms_state *st, tms_tenant *t, const char *id, char account_kind, uint64_t perms,
                               const char *creator, tms_role **out);
/* Delete a role nobody holds (the rules turn holders Custom first). */
tms_err tms_tenant_delete_role(tms_state *st, tms_tenant *t, tms_role *r);
const char *tms_role_id(const tms_role *r);
char tms_role_account_kind(const tms_role *r);
uint64_t tms_role_permissions(const tms_role *r);
const char *tms_role_creator(const tms_role *r);
/* Change the role's set only (R16 propagation is the rules' job). */
tms_err tms_role_set_permissions(tms_state *st, tms_role *r, uint64_t perms);
/* The accounts holding the role, sorted by id: a snapshot the caller frees
 * with free(); *n gets the count. NULL with *n = 0 when none; NULL with
 * *n != 0 when out of memory. */
tms_account **tms_role_holders(const tms_role *r, size_t *n);

/* ---- logins ------------------------------------------------------------- */

tms_login *tms_tenant_login(const tms_tenant *t, const char *id);
tms_err tms_tenant_create_login(tms_state *st, tms_tenant *t, const char *id, const char *name, const char *email,
                                tms_login **out);
const char *tms_login_id(const tms_login *l);
const char *tms_login_name(const tms_login *l);    /* "" when none */
const char *tms_login_email(const tms_login *l);   /* "" when none */
/* The manager / extension the login backs, or NULL. */
tms_account *tms_login_manager(const tms_login *l);
tms_account *tms_login_extension(const tms_login *l);

/* ---- request ids (idempotency) ----------------------------------------- */

/* What the first record with a request id was. */
typedef struct tms_request_seen {
    uint64_t seq;
    tms_err verdict;
    uint8_t digest[16];               /* tms_cmd_digest of its command */
} tms_request_seen;

/* 1 and the first record's seq, verdict and command digest when (tenant,
 * request_id) was seen; 0 when not. The tenant need not exist. */
int tms_state_request(const tms_state *st, const char *tenant, const char *rid, tms_request_seen *out);
tms_err tms_state_record_request(tms_state *st, const char *tenant, const char *rid, const tms_request_seen *first);
/* 1 when a request id kept apart (of a tenant that did not exist then) is
 * also among its tenant's own: never in a state the rules made (a decode's
 * check). */
int tms_state_request_twice(const tms_state *st);
/* Move every tenant of src into dst, src's memory with them, and free src
 * (src committed; no tenant in both; src without request ids kept apart:
 * else TMS_E_INVAL, nothing moved). dst's uncommitted changes, if any, stay
 * as they are: a rollback of them leaves what was moved (a tenant decoded
 * from a snapshot while a record applies: engine_lazy.c). TMS_OK,
 * TMS_E_NOMEM (nothing moved, src stays the caller's). A decode shared by
 * threads joins its states so. */
tms_err tms_state_absorb(tms_state *dst, tms_state *src);
/* A bulk load's (the snapshot decode's) tms_state_record_request: rid of
 * tenant t (NULL: kept apart, naming tenant), which the caller knows is in
 * neither map (it reads a list in strict order, and a tenant's against
 * those kept apart). No lookup, no effect, no undo entry: a rollback keeps
 * it, so only for a state that is freed should the load fail. TMS_OK,
 * TMS_E_INVAL (a key longer than any id and request id), TMS_E_NOMEM. */
tms_err tms_state_load_request(tms_state *st, tms_tenant *t, const char *tenant, const char *rid,
                               const tms_request_seen *first);
/* Visit the request ids of tenant t (t == NULL: those of records naming no
 * tenant that existed then, kept apart) sorted by (tenant, request id) bytes;
 * fn returning non-zero stops (and is returned); -1 when out of memory. The
 * strings and *first point into the state (valid as long as it is). */
int tms_state_foreach_request(const tms_state *st, const tms_tenant *t,
                              int (*fn)(void *ctx, const char *tenant, const char *rid, const tms_request_seen *first),
                              void *ctx);

/* ---- ordered walks (projection load, digests, tools) ---------------------
 * Each visits in byte order of ids and stops when fn returns non-zero
 * (returned); -1 when out of memory. */
int tms_tenant_foreach_account(const tms_tenant *t, int (*fn)(void *ctx, tms_account *a), void *ctx);
int tms_tenant_foreach_role(const tms_tenant *t, int (*fn)(void *ctx, tms_role *r), void *ctx);
int tms_tenant_foreach_login(const tms_tenant *t, int (*fn)(void *ctx, tms_login *l), void *ctx);
/* Every (manager, object) distribution of a tenant, sorted by manager id,
 * then object kind, then object id. */
int tms_tenant_foreach_visible(const tms_tenant *t, int (*fn)(void *ctx, tms_account *manager, tms_account *obj),
                               void *ctx);

#endif
