/* gen_log.h -- what the two halves of gen_log share: the generator's model
 * of a tenant (managers, extensions, roles), its random source, and emit(),
 * which writes one command with the verdict the model predicts for it. */
#ifndef TMS_GEN_LOG_H
#define TMS_GEN_LOG_H

#include "engine.h"

#define BIT(p) (UINT64_C(1) << (p))
#define MGMT_ALL (BIT(TMS_P_TMS_USERS_MANAGERS) | BIT(TMS_P_TMS_USERS_PERMISSIONS) | BIT(TMS_P_TMS_USERS_ROLES) | \
                  BIT(TMS_P_TMS_USERS_DISTRIBUTION) | BIT(TMS_P_QUEUES_MANAGE) | BIT(TMS_P_CAMPAIGNS_MANAGE))
#define LEAF_MGMT (BIT(TMS_P_TMS_USERS_PERMISSIONS) | BIT(TMS_P_TMS_USERS_ROLES) | BIT(TMS_P_TMS_USERS_DISTRIBUTION))
#define AGENT (BIT(TMS_P_REPORTS_VIEW) | BIT(TMS_P_WALLBOARD_VIEW) | BIT(TMS_P_VOICEMAIL_ACCESS))
#define SUPER (AGENT | BIT(TMS_P_RECORDINGS_LISTEN) | BIT(TMS_P_CALLS_LISTEN_LIVE) | BIT(TMS_P_CALLS_WHISPER) | \
               BIT(TMS_P_REPORTS_EXPORT))
#define INTL (AGENT | BIT(TMS_P_CALLS_INTERNATIONAL))
#define DESK (AGENT | BIT(TMS_P_CONTACTS_EDIT) | BIT(TMS_P_REPORTS_EXPORT))
#define NEVER (BIT(TMS_P_RECORDINGS_DELETE) | BIT(TMS_P_CALLS_BARGE))   /* held by the Admin only */
#define EXT_ALL TMS_PERMS_EXTENSION_MASK
#define BATCH 1000
#define LINE_MAX_LEN 2048
#define MISTAKE_RATE 0.053   /* mistakes per accepted command: ~5% of all records */

enum { ROLE_NONE = -1, ROLE_CUSTOM = -2, ROLE_AGENT = 0, ROLE_SUPER = 1, ROLE_INTL = 2, ROLE_FIXED = 3 };

typedef struct mgr {
    char id[40];
    int parent, top, level;
    uint64_t perms;
} mgr;

typedef struct ext {
    uint32_t perms;        /* extension permissions fit in the low 20 bits */
    int32_t owner;         /* manager index, -1 = none */
    int16_t role;          /* role index, ROLE_NONE or ROLE_CUSTOM */
    uint8_t via_top;       /* distributed to the owner's top manager too */
    uint8_t gone;          /* deleted, or moved/released in the churn phase */
    uint8_t login;         /* a login is linked */
} ext;

typedef struct tenant {
    char id[16];
    int n_ext, next_ext, started;
    int nm, nleaves, ntops;
    mgr *m;
    int *leaves;
    ext *e;
    int nroles;
    uint64_t *role_perms;  /* ROLE_FIXED roles, then one "<top>-desk" per top manager */
} tenant;

typedef struct gen {
    uint64_t rng;
    long n_cmds, n_rejected, n_custom, by_code[TMS_ERR_COUNT];
    long rid;
    double debt;           /* mistakes owed to keep the rejection rate */
    tenant *t;
    int nt;
    /* output: stdout, or a batch for the engine */
    tms_engine *eng;
    char (*lines)[LINE_MAX_LEN];
    tms_err *expect;
    int nbatch;
    long got[TMS_ERR_COUNT], mismatches;
} gen;

uint64_t rnd(gen *g);
int pick(gen *g, int n);
int chance(gen *g, double p);
uint64_t subset(gen *g, uint64_t mask, double p);
uint64_t one_of(gen *g, uint64_t mask);
const char *names(uint64_t mask, int features, char *buf, size_t len);
void die(const char *what, const char *why);
/* Write one command (common fields, maybe a request_id or origin, then the
 * printf-formatted fields) and count the verdict it is expected to get. */
void emit(gen *g, const tenant *t, tms_err expect, const char *cmd, const char *actor, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* How many mistakes to make after `accepted` accepted commands. */
int mistakes_due(gen *g, int accepted);

/* gen_log_tenant.c: one tenant's life in blocks. */
void tenant_setup(gen *g, tenant *t);
void extension_block(gen *g, tenant *t);
void tenant_churn(gen *g, tenant *t);
void tenant_free(tenant *t);

#endif
