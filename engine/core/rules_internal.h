/* rules_internal.h -- what the rules files share: the evaluation context and
 * small helpers for authority, scope and permission sets. Private to the
 * rules. The rules speak the domain (state.h), never a table or a key. */
#ifndef TMS_RULES_INTERNAL_H
#define TMS_RULES_INTERNAL_H

#include "rules.h"

typedef struct rctx {
    tms_state *st;
    const tms_record *rec;
    const tms_cmd *c;
    const char *t;                  /* tenant id */
    const char *actor;
    int is_admin;                   /* actor is the tenant's PBX Admin */
    tms_tenant *tenant;
    tms_account *me;                /* the acting manager (unless is_admin) */
    tms_verdict *v;
} rctx;

#define F(x, fid) ((x)->c->f[fid].str)

/* Set the verdict and return code (a domain code). */
tms_err tms__deny(rctx *x, tms_err code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* 1 if the actor holds permission p (the PBX Admin holds all). */
int tms__holds(const rctx *x, int p);
/* R21: FORBIDDEN unless the actor may use this command's menu. */
tms_err tms__check_menu(rctx *x);
/* FORBIDDEN unless the actor is the PBX Admin or strictly above manager m. */
tms_err tms__check_manages(rctx *x, const tms_account *m, const char *what);
/* The account of kind and id; deny NOT_FOUND naming it when absent. */
tms_err tms__need_account(rctx *x, char kind, const char *id, tms_account **out);
/* Names of a name_list field as a mask; UNKNOWN_PERMISSION / UNKNOWN_FEATURE. */
tms_err tms__names_mask(rctx *x, int fid, int features, uint64_t *mask);
/* R12: WRONG_ACCOUNT_TYPE when mask holds permissions invalid for kind. */
tms_err tms__check_account_type(rctx *x, char kind, uint64_t mask);
/* R10: PERMISSION_CEILING when `enabling` holds bits the actor lacks. */
tms_err tms__check_ceiling(rctx *x, uint64_t enabling);

/* Command handlers, one per schema command. */
tms_err tms__cmd_create_login(rctx *x);
tms_err tms__cmd_create_extension(rctx *x);
tms_err tms__cmd_delete_extension(rctx *x);
tms_err tms__cmd_link_login(rctx *x);
tms_err tms__cmd_create_group(rctx *x);    /* CreateQueue, CreateCampaign */
tms_err tms__cmd_delete_group(rctx *x);    /* DeleteQueue, DeleteCampaign */
tms_err tms__cmd_add_manager(rctx *x);
tms_err tms__cmd_remove_manager(rctx *x);
tms_err tms__cmd_distribute(rctx *x);
tms_err tms__cmd_undistribute(rctx *x);
tms_err tms__cmd_take_ownership(rctx *x);
tms_err tms__cmd_release_ownership(rctx *x);
tms_err tms__cmd_set_permissions(rctx *x);
tms_err tms__cmd_set_features(rctx *x);
tms_err tms__cmd_create_role(rctx *x);
tms_err tms__cmd_update_role(rctx *x);
tms_err tms__cmd_delete_role(rctx *x);
tms_err tms__cmd_assign_role(rctx *x);
tms_err tms__cmd_set_default_role(rctx *x);

#endif
