/* gen_log_tenant.c -- one tenant's life for gen_log: setup (tenant, roles,
 * a manager tree with permissions set by each parent within its ceiling,
 * queues, campaigns), one block per extension (create, distribute, take
 * ownership, role, features, Custom transitions, mistakes), and a closing
 * churn (role update and deletion, ownership moves, releases, deletions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gen_log.h"

#define ALL_FEATURES ((UINT64_C(1) << TMS_FEATURE_COUNT) - 1)

static const char *const fixed_roles[ROLE_FIXED] = {"agent", "supervisor", "intl-agent"};

static const char *role_name(const tenant *t, int r, char *buf, size_t len)
{
    if (r < ROLE_FIXED)
        return fixed_roles[r];
    snprintf(buf, len, "%s-desk", t->m[r - ROLE_FIXED].id);
    return buf;
}

static const char *ext_id(int j, char *buf, size_t len)
{
    snprintf(buf, len, "%d", 1000 + j);
    return buf;
}

static void *need(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        die("out of memory", "tenant model");
    return p;
}

/* Managers in breadth-first order (parents before children): depth 3 or 4,
 * about one manager per 25 extensions. */
static void build_tree(tenant *t)
{
    int want = t->n_ext / 25 < 3 ? 3 : t->n_ext / 25, depth = t->n_ext >= 2000 ? 4 : 3;
    int f = (int)lround(pow(want, 1.0 / depth)), total = 0, lvl = 1;
    if (f < 1)
        f = 1;
    for (int d = 0; d < depth; d++)
        total += (lvl *= f);
    t->m = need((size_t)total, sizeof *t->m);
    t->leaves = need((size_t)total, sizeof *t->leaves);
    for (int i = 0; i < f; i++) {
        mgr *m = &t->m[t->nm++];
        snprintf(m->id, sizeof m->id, "m%d", i + 1);
        m->parent = -1;
        m->top = i;
        m->level = 1;
    }
    t->ntops = f;
    for (int j = 0; j < t->nm; j++) {
        if (t->m[j].level == depth) {
            t->leaves[t->nleaves++] = j;
            continue;
        }
        char up[sizeof t->m->id];
        memcpy(up, t->m[j].id, sizeof up);
        for (int i = 0; i < f; i++) {
            mgr *m = &t->m[t->nm++];
            snprintf(m->id, sizeof m->id, "%.24s.%d", up, i + 1);
            m->parent = j;
            m->top = t->m[j].top;
            m->level = t->m[j].level + 1;
        }
    }
}

/* What each manager is given: tops by the Admin, the others by their parent,
 * always within the parent's own set (R10). */
static uint64_t manager_perms(gen *g, const tenant *t, const mgr *m, int leaf)
{
    if (m->parent < 0) {
        uint64_t p = MGMT_ALL | (EXT_ALL & ~NEVER);
        if (chance(g, 0.3))
            p &= ~BIT(TMS_P_CALLS_INTERNATIONAL);
        if (chance(g, 0.3))
            p |= BIT(TMS_P_BILLING_VIEW);
        return p;
    }
    uint64_t up = t->m[m->parent].perms, below = up & EXT_ALL & ~AGENT;
    uint64_t p = leaf ? LEAF_MGMT | AGENT | subset(g, below, 0.75)
                      : (MGMT_ALL & ~BIT(TMS_P_CAMPAIGNS_MANAGE)) | AGENT | subset(g, below, 0.8);
    return p & up;
}

static void add_managers(gen *g, tenant *t)
{
    char list[1024];
    int depth = t->m[t->nm - 1].level;
    for (int j = 0; j < t->nm; j++) {
        mgr *m = &t->m[j];
        const char *actor = m->parent < 0 ? "admin" : t->m[m->parent].id;
        char parent[64] = "";
        if (m->parent >= 0)
            snprintf(parent, sizeof parent, ",\"parent\":\"%s\"", actor);
        emit(g, t, TMS_OK, "AddManager", actor,
             "\"id\":\"%s\",\"new_login\":{\"id\":\"l.%s\",\"name\":\"Manager %s\",\"email\":\"%s@%s.example\"}%s",
             m->id, m->id, m->id, m->id, t->id, parent);
        m->perms = manager_perms(g, t, m, m->level == depth);
        emit(g, t, TMS_OK, "SetPermissions", actor, "\"kind\":\"manager\",\"id\":\"%s\",\"enable\":%s,\"disable\":[]",
             m->id, names(m->perms, 0, list, sizeof list));
    }
    g->debt += MISTAKE_RATE * 2 * t->nm;
}

/* Each top manager: its own extension role, a queue it hands to its direct
 * reports, and a campaign the Admin distributes to it. */
static void top_objects(gen *g, tenant *t)
{
    char list[512], role[64];
    for (int i = 0; i < t->ntops; i++) {
        const char *top = t->m[i].id;
        t->role_perms[ROLE_FIXED + i] = DESK;
        emit(g, t, TMS_OK, "CreateRole", top, "\"role\":\"%s\",\"account_type\":\"extension\",\"permissions\":%s",
             role_name(t, ROLE_FIXED + i, role, sizeof role), names(DESK, 0, list, sizeof list));
        emit(g, t, TMS_OK, "CreateQueue", top, "\"id\":\"q-%s\"", top);
        for (int j = 0; j < t->nm; j++)
            if (t->m[j].parent == i)
                emit(g, t, TMS_OK, "Distribute", top, "\"kind\":\"queue\",\"id\":\"q-%s\",\"manager\":\"%s\"", top,
                     t->m[j].id);
        emit(g, t, TMS_OK, "CreateCampaign", "admin", "\"id\":\"c-%s\"", top);
        emit(g, t, TMS_OK, "Distribute", "admin", "\"kind\":\"campaign\",\"id\":\"c-%s\",\"manager\":\"%s\"", top, top);
    }
}

void tenant_setup(gen *g, tenant *t)
{
    static const uint64_t perms[ROLE_FIXED] = {AGENT, SUPER, INTL};
    char list[512];
    t->started = 1;
    build_tree(t);
    t->e = need((size_t)t->n_ext, sizeof *t->e);
    t->nroles = ROLE_FIXED + t->ntops;
    t->role_perms = need((size_t)t->nroles, sizeof *t->role_perms);
    emit(g, t, TMS_OK, "CreateTenant", "system", "\"admin\":\"admin\"");
    for (int r = 0; r < ROLE_FIXED; r++) {
        t->role_perms[r] = perms[r];
        emit(g, t, TMS_OK, "CreateRole", "admin", "\"role\":\"%s\",\"account_type\":\"extension\",\"permissions\":%s",
             fixed_roles[r], names(perms[r], 0, list, sizeof list));
    }
    emit(g, t, TMS_OK, "SetDefaultRole", "admin", "\"role\":\"agent\"");
    add_managers(g, t);
    top_objects(g, t);
}

/* R14: assign a role the owner may give (its ceiling covers what is new). */
static int assign_role(gen *g, tenant *t, ext *e, const char *id)
{
    const mgr *L = &t->m[e->owner];
    int cand[3] = {ROLE_SUPER, ROLE_INTL, ROLE_FIXED + L->top}, r = cand[pick(g, 3)];
    char role[64];
    if (t->role_perms[r] & ~(uint64_t)e->perms & ~L->perms)
        return 0;
    emit(g, t, TMS_OK, "AssignRole", L->id, "\"role\":\"%s\",\"ids\":[\"%s\"]", role_name(t, r, role, sizeof role), id);
    e->perms = (uint32_t)t->role_perms[r];
    e->role = (int16_t)r;
    return 1;
}

/* A direct change by actor: enable one permission it holds, or disable one. */
static int change_perms(gen *g, tenant *t, ext *e, const char *id, const mgr *actor)
{
    char list[128];
    uint64_t en = chance(g, 0.5) ? one_of(g, actor->perms & EXT_ALL & ~(uint64_t)e->perms) : 0;
    uint64_t dis = en ? 0 : one_of(g, e->perms);
    if (!en && !dis)
        return 0;
    char dl[128];
    emit(g, t, TMS_OK, "SetPermissions", actor->id, "\"kind\":\"extension\",\"id\":\"%s\",\"enable\":%s,\"disable\":%s",
         id, names(en, 0, list, sizeof list), names(dis, 0, dl, sizeof dl));
    e->perms = (uint32_t)((e->perms | en) & ~dis);
    if (e->role >= 0 && t->role_perms[e->role] != e->perms) {
        e->role = ROLE_CUSTOM;   /* R15 */
        g->n_custom++;
    }
    return 1;
}

static int set_features(gen *g, tenant *t, const ext *e, const char *id)
{
    char en[256], dis[128];
    uint64_t on = subset(g, ALL_FEATURES, 0.25) | one_of(g, ALL_FEATURES);
    uint64_t off = chance(g, 0.3) ? one_of(g, ALL_FEATURES & ~on) : 0;
    emit(g, t, TMS_OK, "SetFeatures", t->m[e->owner].id, "\"id\":\"%s\",\"enable\":%s,\"disable\":%s", id,
         names(on, 1, en, sizeof en), names(off, 1, dis, sizeof dis));
    return 1;
}

/* Distribute (through the top manager or directly), take ownership, then
 * the owner's role, features and direct permission changes. */
static int manage(gen *g, tenant *t, ext *e, const char *id)
{
    int L = t->leaves[pick(g, t->nleaves)], T = t->m[L].top, n = 3;
    if (chance(g, 0.5)) {
        emit(g, t, TMS_OK, "Distribute", "admin", "\"kind\":\"extension\",\"id\":\"%s\",\"manager\":\"%s\"", id,
             t->m[T].id);
        emit(g, t, TMS_OK, "Distribute", t->m[T].id, "\"kind\":\"extension\",\"id\":\"%s\",\"manager\":\"%s\"", id,
             t->m[L].id);
        e->via_top = 1;
    } else {
        emit(g, t, TMS_OK, "Distribute", "admin", "\"kind\":\"extension\",\"id\":\"%s\",\"manager\":\"%s\"", id,
             t->m[L].id);
        n--;
    }
    emit(g, t, TMS_OK, "TakeOwnership", t->m[L].id, "\"id\":\"%s\"", id);
    e->owner = L;
    if (chance(g, 0.5))
        n += assign_role(g, t, e, id);
    if (chance(g, 0.35))
        n += set_features(g, t, e, id);
    if (chance(g, 0.25))
        n += change_perms(g, t, e, id, &t->m[L]);
    return n;
}

/* A leaf other than `not` (-1 if the tenant has only one). */
static int other_leaf(gen *g, const tenant *t, int not)
{
    if (t->nleaves < 2)
        return -1;
    int k = t->leaves[pick(g, t->nleaves)];
    return k != not ? k : t->leaves[(k == t->leaves[0]) ? 1 : 0];
}

enum { M_NOT_OWNER_P, M_NOT_OWNER_F, M_CEILING_SET, M_CEILING_ROLE, M_ALREADY_OWNED, M_NOT_DISTRIBUTED, M_FORBIDDEN };

/* Which mistake: weighted, then moved to the ceiling when it cannot happen here. */
static int mistake_kind(gen *g, const ext *e, const mgr *L, int X)
{
    int r = pick(g, 100);
    int k = r < 35 ? M_NOT_OWNER_P : r < 45 ? M_NOT_OWNER_F : r < 65 ? M_CEILING_SET : r < 75 ? M_CEILING_ROLE
          : r < 88 ? M_ALREADY_OWNED : r < 97 ? M_NOT_DISTRIBUTED : M_FORBIDDEN;
    if (X < 0 && (k == M_NOT_OWNER_P || k == M_NOT_OWNER_F || k == M_NOT_DISTRIBUTED))
        k = M_CEILING_SET;
    if (k == M_CEILING_ROLE && !(SUPER & ~(uint64_t)e->perms & ~L->perms))
        k = M_CEILING_SET;
    if (k == M_ALREADY_OWNED && !e->via_top)
        k = M_CEILING_SET;
    return k;
}

/* A realistic mistake about extension j, with the code the rules give it. */
static void mistake(gen *g, tenant *t, int j)
{
    ext *e = &t->e[j];
    char id[16], list[128];
    int X = other_leaf(g, t, e->owner);
    const mgr *L = e->owner >= 0 ? &t->m[e->owner] : NULL, *who = &t->m[X >= 0 ? X : t->leaves[0]];
    ext_id(j, id, sizeof id);
    if (!L) {   /* nobody's yet: a leaf manager tries to edit or take it */
        if (chance(g, 0.5))
            emit(g, t, TMS_NOT_OWNER, "SetPermissions", who->id,
                 "\"kind\":\"extension\",\"id\":\"%s\",\"enable\":[\"recordings.listen\"],\"disable\":[]", id);
        else
            emit(g, t, TMS_NOT_DISTRIBUTED, "TakeOwnership", who->id, "\"id\":\"%s\"", id);
        return;
    }
    switch (mistake_kind(g, e, L, X)) {
    case M_NOT_OWNER_P:   /* a colleague edits someone else's extension */
        emit(g, t, TMS_NOT_OWNER, "SetPermissions", who->id,
             "\"kind\":\"extension\",\"id\":\"%s\",\"enable\":[\"recordings.listen\"],\"disable\":[]", id);
        break;
    case M_NOT_OWNER_F:
        emit(g, t, TMS_NOT_OWNER, "SetFeatures", who->id, "\"id\":\"%s\",\"enable\":[\"softphone\"],\"disable\":[]", id);
        break;
    case M_CEILING_SET:   /* the owner enables what it does not hold itself */
        emit(g, t, TMS_PERMISSION_CEILING, "SetPermissions", L->id,
             "\"kind\":\"extension\",\"id\":\"%s\",\"enable\":%s,\"disable\":[]", id,
             names(one_of(g, NEVER), 0, list, sizeof list));
        break;
    case M_CEILING_ROLE:
        emit(g, t, TMS_PERMISSION_CEILING, "AssignRole", L->id, "\"role\":\"supervisor\",\"ids\":[\"%s\"]", id);
        break;
    case M_ALREADY_OWNED:   /* the top manager tries to take one its report owns */
        emit(g, t, TMS_ALREADY_OWNED, "TakeOwnership", t->m[L->top].id, "\"id\":\"%s\"", id);
        break;
    case M_NOT_DISTRIBUTED:
        emit(g, t, TMS_NOT_DISTRIBUTED, "TakeOwnership", who->id, "\"id\":\"%s\"", id);
        break;
    default:   /* a leaf manager without queues.manage */
        emit(g, t, TMS_FORBIDDEN, "CreateQueue", L->id, "\"id\":\"q-%s-%s\"", L->id, id);
    }
}

void extension_block(gen *g, tenant *t)
{
    int j = t->next_ext++, n = 1;
    ext *e = &t->e[j];
    char id[16];
    ext_id(j, id, sizeof id);
    if (chance(g, 0.3)) {
        emit(g, t, TMS_OK, "CreateLogin", "admin", "\"id\":\"u%s\",\"name\":\"User %s\",\"email\":\"%s@%s.example\"", id,
             id, id, t->id);
        emit(g, t, TMS_OK, "CreateExtension", "admin", "\"id\":\"%s\",\"login\":\"u%s\"", id, id);
        e->login = 1;
        n++;
    } else {
        emit(g, t, TMS_OK, "CreateExtension", "admin", "\"id\":\"%s\"", id);
    }
    e->perms = AGENT;   /* R18: the default role */
    e->role = ROLE_AGENT;
    e->owner = -1;
    if (chance(g, 0.9))
        n += manage(g, t, e, id);
    for (int m = mistakes_due(g, n); m > 0; m--)
        mistake(g, t, j);
}

/* A random extension still in place with an owner (or any, if !owned); -1 if none found. */
static int some_ext(gen *g, const tenant *t, int owned)
{
    for (int tries = 0; tries < 32; tries++) {
        int j = pick(g, t->n_ext);
        if (!t->e[j].gone && (!owned || t->e[j].owner >= 0))
            return j;
    }
    return -1;
}

/* R16 and R17: the Admin widens "agent"; some top managers drop their role. */
static int churn_roles(gen *g, tenant *t)
{
    char list[512], role[64];
    uint64_t agent = AGENT | BIT(TMS_P_CONTACTS_EDIT);
    int n = 1;
    emit(g, t, TMS_OK, "UpdateRole", "admin", "\"role\":\"agent\",\"permissions\":%s", names(agent, 0, list, sizeof list));
    t->role_perms[ROLE_AGENT] = agent;
    for (int j = 0; j < t->n_ext; j++)
        if (t->e[j].role == ROLE_AGENT)
            t->e[j].perms = (uint32_t)agent;
    for (int i = 0; i < t->ntops; i++) {
        if (!chance(g, 0.5))
            continue;
        emit(g, t, TMS_OK, "DeleteRole", t->m[i].id, "\"role\":\"%s\"", role_name(t, ROLE_FIXED + i, role, sizeof role));
        n++;
        for (int j = 0; j < t->n_ext; j++)
            if (t->e[j].role == ROLE_FIXED + i) {
                t->e[j].role = ROLE_CUSTOM;
                g->n_custom++;
            }
    }
    return n;
}

/* The Admin moves an extension to another leaf manager (R6), who edits it. */
static int churn_move(gen *g, tenant *t)
{
    int j = some_ext(g, t, 1), X = j < 0 ? -1 : other_leaf(g, t, t->e[j].owner);
    char id[16];
    if (X < 0)
        return 0;
    ext_id(j, id, sizeof id);
    emit(g, t, TMS_OK, "Distribute", "admin", "\"kind\":\"extension\",\"id\":\"%s\",\"manager\":\"%s\"", id, t->m[X].id);
    emit(g, t, TMS_OK, "TakeOwnership", "admin", "\"id\":\"%s\",\"manager\":\"%s\"", id, t->m[X].id);
    t->e[j].owner = X;
    int n = 2 + change_perms(g, t, &t->e[j], id, &t->m[X]);
    t->e[j].gone = 1;
    return n;
}

void tenant_churn(gen *g, tenant *t)
{
    char id[16];
    int n = 0, j;
    for (int m = mistakes_due(g, 0); m > 0 && (j = some_ext(g, t, 0)) >= 0; m--)
        mistake(g, t, j);
    for (int i = t->ntops; i < t->nm; i++)
        if (t->m[i].level == 2) {   /* R19: it still has reports */
            emit(g, t, TMS_HAS_DEPENDENTS, "RemoveManager", t->m[t->m[i].parent].id, "\"id\":\"%s\"", t->m[i].id);
            break;
        }
    n += churn_roles(g, t);
    for (int k = 0; k < 1 + t->n_ext / 200; k++)
        n += churn_move(g, t);
    for (int k = 0; k < 1 + t->n_ext / 500 && (j = some_ext(g, t, 1)) >= 0; k++, n++) {
        emit(g, t, TMS_OK, "ReleaseOwnership", t->m[t->m[t->e[j].owner].top].id, "\"id\":\"%s\"",
             ext_id(j, id, sizeof id));
        t->e[j].gone = 1;
    }
    for (int k = 0; k < 1 + t->n_ext / 500 && (j = some_ext(g, t, 0)) >= 0; k++) {
        if (t->e[j].login)
            continue;
        ext_id(j, id, sizeof id);
        emit(g, t, TMS_OK, "CreateLogin", "admin", "\"id\":\"u%s\",\"name\":\"User %s\"", id, id);
        emit(g, t, TMS_OK, "LinkLogin", "admin", "\"extension\":\"%s\",\"login\":\"u%s\"", id, id);
        t->e[j].login = 1;
        n += 2;
    }
    for (int k = 0; k < 1 + t->n_ext / 1000 && (j = some_ext(g, t, 0)) >= 0; k++, n++) {
        emit(g, t, TMS_OK, "DeleteExtension", "admin", "\"id\":\"%s\"", ext_id(j, id, sizeof id));
        t->e[j].gone = 1;
    }
    g->debt += MISTAKE_RATE * n;
}

void tenant_free(tenant *t)
{
    free(t->m);
    free(t->leaves);
    free(t->e);
    free(t->role_perms);
    t->m = NULL;
    t->leaves = NULL;
    t->e = NULL;
    t->role_perms = NULL;
}
