/* rules.h -- the domain rules R1-R23 as one deterministic function over
 * (state, record): it reads the projection state in a transaction, decides
 * the verdict, and on acceptance writes the effects into the same
 * transaction. No clock, no environment, no randomness: time and actor come
 * from the record, so replaying a log always gives the same verdicts. */
#ifndef TMS_RULES_H
#define TMS_RULES_H

#include "record.h"
#include "store.h"

#define TMS_MESSAGE_MAX 320

typedef struct tms_verdict {
    tms_err code;                     /* TMS_OK = accepted, else a domain code */
    char message[TMS_MESSAGE_MAX];    /* why, for a rejection; "" when accepted */
} tms_verdict;

/* R15/R17: an account's role became Custom. */
typedef struct tms_custom_event {
    const char *tenant;
    char kind;                        /* TMS_KIND_MANAGER or TMS_KIND_EXTENSION */
    const char *id;
    const char *role;                 /* the role it held until now */
    const char *actor;
    const char *cause;                /* "set_permissions" or "role_deleted" */
    uint64_t enabled, disabled;       /* permissions relative to the role's set */
} tms_custom_event;

/* Observers of effects (tools). Any member may be NULL. The pointers in an
 * event are valid only during the call. */
typedef struct tms_rules_sink {
    void (*custom)(void *ctx, const tms_record *rec, const tms_custom_event *ev);
    void *ctx;
} tms_rules_sink;

/* Evaluate rec->cmd against tx. Fills v with the verdict. Accepted commands
 * have their effects written to tx; rejected ones write nothing. Returns
 * TMS_OK whatever the verdict, or an engine error (store failure, map full)
 * after which the transaction must be aborted. sink may be NULL. */
tms_err tms_rules_apply(tms_txn *tx, const tms_record *rec, const tms_rules_sink *sink, tms_verdict *v);

/* Write the names of the permissions (or features) in mask, sorted and
 * comma-separated, into buf. Returns buf. */
char *tms_mask_names(uint64_t mask, int features, char *buf, size_t len);

#endif
