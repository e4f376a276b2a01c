/* daemon_job.c -- a submit as tmsd holds it, whatever brought it (the
 * socket or HTTP): its commands parsed (JSON text or msgpack), each
 * checked against the principal's rights and tenants before the log,
 * queued for the next group commit (daemon_group.c), answered by its
 * transport's job.done. And who may submit now at all (a replica, a
 * cluster node that does not lead). */
#include "daemon_internal.h"
#include "mpsafe.h"
#include "lookup.h"
#include "query.h"
#include "checkq.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tms__job_free(job *j)
{
    for (size_t i = 0; i < j->n; i++)
        tms_cmd_free(&j->cmds[i]);
    free(j->cmds);
    free(j->subs);
    free(j->why);
    free(j);
}

/* May this principal submit cmd? Its tenant must be one of its tenants, and
 * a command by actor system (CreateTenant) needs the admin right. */
static int may_submit(const principal *who, const tms_cmd *cmd, char *why, size_t whylen)
{
    const char *tenant = TMS_CMD_STR(cmd, TMS_F_TENANT), *actor = TMS_CMD_STR(cmd, TMS_F_ACTOR);
    if (!strcmp(actor, "system") && !(who->rights & (1 << TMS_RIGHT_ADMIN))) {
        snprintf(why, whylen, "principal %s lacks the admin right, needed for commands by actor system", who->name);
        return 0;
    }
    if (!tms__auth_principal_tenant_ok(who, tenant)) {
        snprintf(why, whylen, "principal %s may not submit for tenant %.64s", who->name, tenant);
        return 0;
    }
    return 1;
}

job *tms__job_new(const principal *who, const char *peer, size_t n)
{
    job *j = calloc(1, sizeof *j);
    if (!j || !(j->cmds = calloc(n ? n : 1, sizeof *j->cmds)) || !(j->subs = calloc(n ? n : 1, sizeof *j->subs)) ||
        !(j->why = calloc(n ? n : 1, sizeof *j->why))) {
        if (j)
            tms__job_free(j);
        return NULL;
    }
    j->who = who;
    snprintf(j->peer, sizeof j->peer, "%s", peer);
    j->n = n;
    return j;
}

tms_err tms__job_parse(job *j, size_t i, const char *text, size_t len, const msgpack_object *o)
{
    tms_err err = text ? tms_cmd_from_json(&j->cmds[i], text, len, j->why[i], TMS_MESSAGE_MAX)
                       : tms_cmd_from_msgpack(&j->cmds[i], o, j->why[i], TMS_MESSAGE_MAX);
    if (err == TMS_OK && !tms_cmd_is_input(&j->cmds[i], j->why[i], TMS_MESSAGE_MAX))
        err = TMS_INVALID_COMMAND;   /* the engine's own records are not input */
    if (err == TMS_OK && !may_submit(j->who, &j->cmds[i], j->why[i], TMS_MESSAGE_MAX)) {
        j->subs[i].verdict.code = TMS_E_DENIED;   /* refused before the log: not a record */
        return TMS_OK;
    }
    if (err == TMS_OK) {
        j->subs[i].cmd = &j->cmds[i];
        j->subs[i].principal = j->who->name;   /* the record's "by" */
        j->subs[i].peer = j->peer;
    }
    return err == TMS_INVALID_COMMAND ? TMS_OK : err;   /* else a server fault, not a malformed command */
}

const char *tms__job_refusal(const job *j, size_t i, const char **message)
{
    const tms_submission *s = &j->subs[i];
    if (s->cmd && s->verdict.code == TMS_OK)
        return NULL;
    *message = s->cmd ? s->verdict.message : j->why[i];
    return s->cmd || s->verdict.code ? tms_err_name(s->verdict.code) : "INVALID_COMMAND";
}

void tms__job_queue(server *d, job *j)
{
    *d->pending_tail = j;
    d->pending_tail = &j->next;
    d->ctr.submits += j->n;
    tms__group_maybe_start(d);
}

tms_err tms__replica_refuses(server *d, char *why, size_t whylen)
{
    if (tms__cluster_refuses(d, why, whylen))
        return TMS_E_NOT_LEADER;
    if (!d->opt.replica_of)
        return TMS_OK;
    snprintf(why, whylen, "this tmsd is a replica (of the stream at %.500s): submit to the leader", d->opt.replica_of);
    return TMS_E_REPLICA;
}
