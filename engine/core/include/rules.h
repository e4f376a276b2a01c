/* rules.h -- the domain rules R1-R23 as one deterministic function over
 * (state, record): it asks the in-memory state (state.h) in domain terms,
 * decides the verdict, and on acceptance changes the state, which records
 * the effects as data. No clock, no environment, no randomness, no I/O:
 * time and actor come from the record, so replaying a log always gives the
 * same verdicts and the same effects. */
#ifndef TMS_RULES_H
#define TMS_RULES_H

#include "record.h"
#include "state.h"

#define TMS_MESSAGE_MAX 320

typedef struct tms_verdict {
    tms_err code;                     /* TMS_OK = accepted, else a domain code */
    char message[TMS_MESSAGE_MAX];    /* why, for a rejection; "" when accepted */
} tms_verdict;

/* R15/R17: an account's role became Custom (a TMS_EFFECT_BECAME_CUSTOM
 * effect with the record's tenant and actor, as the tools print it). */
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

/* Evaluate rec->cmd against st. Fills v with the verdict. An accepted
 * command changes st (its effects are appended to tms_state_effects); a
 * rejected one leaves st exactly as it was. Returns TMS_OK whatever the
 * verdict, or TMS_E_NOMEM / TMS_E_CORRUPT (an impossible state), after which
 * st is as it was before the call too. */
tms_err tms_rules_apply(tms_state *st, const tms_record *rec, tms_verdict *v);

/* Apply one record to st (apply.c): the rules (verdict, effects), then the
 * bookkeeping that is not a rule but belongs to the state (its request_id,
 * for idempotency). The only way a record becomes state, live or replayed,
 * so both give the same state. On an engine error st is as it was. */
tms_err tms_apply_record(tms_state *st, const tms_record *rec, tms_verdict *v);

/* Call sink->custom for every BECAME_CUSTOM effect of effs (the effects of
 * record rec). */
void tms_rules_report_custom(const tms_rules_sink *sink, const tms_record *rec, const tms_effect *effs, size_t n);

/* Write the names of the permissions (or features) in mask, sorted and
 * comma-separated, into buf. Returns buf. */
char *tms_mask_names(uint64_t mask, int features, char *buf, size_t len);

#endif
