/* rules_internal.h -- what the rules files share: the evaluation context and
 * small helpers for authority, scope and permission sets. Private to engine/. */
#ifndef TMS_RULES_INTERNAL_H
#define TMS_RULES_INTERNAL_H

#include "rules.h"

typedef struct rctx {
    tms_txn *tx;
    const tms_record *rec;
    const tms_cmd *c;
    const char *t;                  /* tenant */
    const char *actor;
    int is_admin;                   /* actor is the tenant's PBX Admin */
    tms_tenant_rec tenant;
    tms_account_rec me;             /* the acting manager (unless is_admin) */
    tms_verdict *v;
    const tms_rules_sink *sink;
} rctx;

#define F(x, fid) ((x)->c->f[fid].str)

/* Set the verdict and return code (a domain code). */
tms_err deny(rctx *x, tms_err code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* 1 if the actor holds permission p (the PBX Admin holds all). */
int holds(const rctx *x, int p);
/* R21: FORBIDDEN unless the actor may use this command's menu. */
tms_err check_menu(rctx *x);
/* Scope: *above = 1 if manager `upper` is strictly above manager `lower`. */
tms_err is_above(rctx *x, const char *upper, const char *lower, int *above);
/* FORBIDDEN unless the actor is the PBX Admin or strictly above manager id. */
tms_err check_manages(rctx *x, const char *id, const char *what);
/* Fetch an account; deny NOT_FOUND naming it when absent. */
tms_err need_account(rctx *x, char kind, const char *id, tms_account_rec *out);
/* Names of a name_list field as a mask; UNKNOWN_PERMISSION / UNKNOWN_FEATURE. */
tms_err names_mask(rctx *x, int fid, int features, uint64_t *mask);
/* R12: WRONG_ACCOUNT_TYPE when mask holds permissions invalid for kind. */
tms_err check_account_type(rctx *x, char kind, uint64_t mask);
/* R10: PERMISSION_CEILING when `enabling` holds bits the actor lacks. */
tms_err check_ceiling(rctx *x, uint64_t enabling);
/* Role bookkeeping: move acct (kind, id) from its current role to tag/role,
 * maintaining the holders set. Does not write the account itself. */
tms_err set_role(rctx *x, char kind, const char *id, tms_account_rec *acct, int tag, const char *role);
/* R15/R17: acct leaves its role for Custom; reports the event. */
tms_err go_custom(rctx *x, char kind, const char *id, tms_account_rec *acct, uint64_t role_perms,
                  const char *cause);
/* "e1001": kind letter + id, the member form of visible/holders sets. */
void member_of(char *buf, char kind, const char *id);
const char *kind_name(char kind);
char kind_of(const char *name);   /* "extension" -> 'e' ... */

/* Command handlers, one per schema command. */
tms_err cmd_create_login(rctx *x);
tms_err cmd_create_extension(rctx *x);
tms_err cmd_delete_extension(rctx *x);
tms_err cmd_link_login(rctx *x);
tms_err cmd_create_group(rctx *x);    /* CreateQueue, CreateCampaign */
tms_err cmd_delete_group(rctx *x);    /* DeleteQueue, DeleteCampaign */
tms_err cmd_add_manager(rctx *x);
tms_err cmd_remove_manager(rctx *x);
tms_err cmd_distribute(rctx *x);
tms_err cmd_undistribute(rctx *x);
tms_err cmd_take_ownership(rctx *x);
tms_err cmd_release_ownership(rctx *x);
tms_err cmd_set_permissions(rctx *x);
tms_err cmd_set_features(rctx *x);
tms_err cmd_create_role(rctx *x);
tms_err cmd_update_role(rctx *x);
tms_err cmd_delete_role(rctx *x);
tms_err cmd_assign_role(rctx *x);
tms_err cmd_set_default_role(rctx *x);

/* Remove an object from every manager it is distributed to (both directions). */
tms_err undistribute_all(rctx *x, char kind, const char *id);

#endif
