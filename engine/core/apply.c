/* apply.c -- the domain step: one record becomes state. The only way a
 * record does, whether a writer applies it live, a replica applies it from
 * the stream, or a tool folds the log: so all of them give the same state.
 * Pure: no clock, no I/O. */
#include "rules.h"
#include "cmd.h"
#include "state.h"

tms_err tms_apply_record(tms_state *st, const tms_record *rec, tms_verdict *v)
{
    const char *rid = rec->cmd.f[TMS_F_REQUEST_ID].str;
    tms_state_mark mark = tms_state_mark_get(st);
    tms_err err = tms_rules_apply(st, rec, v);
    if (err || !rid)
        return err;
    tms_request_seen first = {rec->seq, v->code, {0}};
    if ((err = tms_cmd_digest(&rec->cmd, first.digest)) ||
        (err = tms_state_record_request(st, rec->cmd.f[TMS_F_TENANT].str, rid, &first)))
        tms_state_rollback(st, mark);
    return err;
}
