/* tms-audit -- the compliance auditor's tool (SPEC section 6; issue 4):
 * "verify" checks a data directory end to end, or what came after the
 * receipt of an earlier verify (tool_verify.c, tool_verify_since.c), "report"
 * sums up a range of the log per tenant (tool_report*.c), "who-can" lists
 * the accounts that held a permission after records 1..N or at a time, from
 * a fold of the log in memory; "export" prints the
 * log as JSON Lines for jq and other outside tools (tool_export.c). */
#include "cmd.h"
#include "tool_audit.h"
#include "tool_common.h"
#include "tool_replay.h"
#include "tool_report.h"
#include "tool_trust.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tms-audit export ARGS... (tool_export.c): returns the exit code. */
int tool_export_main(int argc, char **argv);

static const char usage_whocan[] =
    "usage: tms-audit who-can --data DIR --tenant T --permission P\n"
    "                         [--seq N | --at TIME] [--explain]\n"
    "\n"
    "Replays the log of DIR and prints, as one JSON array sorted by kind then id,\n"
    "the accounts {\"kind\",\"id\"} of tenant T that held permission P: after\n"
    "records 1..N (--seq N), after every record stamped at or before TIME (--at,\n"
    "RFC 3339, e.g. 2026-10-01T00:00:00Z), or now (default). The tenant's PBX Admin\n"
    "holds every permission and comes first as {\"kind\":\"admin\",\"id\":...}.\n"
    "P may also be a feature name (extensions only; the PBX Admin has none).\n"
    "\n"
    "  --explain   add to each entry how it got P: \"via\" (\"role R\", \"direct\" or\n"
    "              \"pbx_admin\") and the \"seq\", \"time\" and \"actor\" of the record that\n"
    "              granted it (the start of its current, unbroken holding of P)\n"
    "\n"
    "Exit status: 0 with the list; 1 when the tenant did not exist at that point\n"
    "(prints []); 2 on an unknown permission, a seq past the end of the log, or\n"
    "another usage or I/O error.\n";

typedef struct whocan {
    const char *tenant;
    int perm, feat;                  /* bit index of P; the other is -1 */
    int explain;
    tool_point at;                   /* --seq or --at; unset = latest */
    json_t *out;                     /* the answer */
    tool_explain *ex;
} whocan;

static json_t *entry(const whocan *w, char kind, const char *id)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(kind == 'a' ? "admin" : tms_kind_name(kind)));
    json_object_set_new(o, "id", json_string(id));
    if (w->ex)
        tool_explain_annotate(w->ex, kind, id, o);
    return o;
}

/* Accounts in (kind, id) order: extensions before managers, as their kind names sort. */
static int holder(void *ctx, tms_account *a)
{
    whocan *w = ctx;
    char kind = tms_account_kind(a);
    int has = w->perm >= 0 ? (int)((tms_account_permissions(a) >> w->perm) & 1)
                           : kind == TMS_KIND_EXTENSION && ((tms_account_features(a) >> w->feat) & 1);
    if (has && (kind == TMS_KIND_MANAGER || kind == TMS_KIND_EXTENSION))
        json_array_append_new(w->out, entry(w, kind, tms_account_id(a)));
    return 0;
}

/* Read the answer from the folded state: 0, 1 (no such tenant) or 2. */
static int list_holders(whocan *w, const tms_state *st)
{
    const tms_tenant *t = tms_state_tenant(st, w->tenant);
    w->out = json_array();
    if (!t)
        return TOOL_NEGATIVE;
    if (w->perm >= 0)
        json_array_append_new(w->out, entry(w, 'a', tms_tenant_admin(t)));
    if (tms_tenant_foreach_account(t, holder, w) < 0)
        return tool_fail("out of memory");
    return TOOL_OK;
}

/* Fold the log to the point asked for, then list. Returns an exit code. */
static int run_whocan(whocan *w, const char *datadir)
{
    char logdir[4200];
    tms_replay_result res;
    tms_replay_opts o = {0};
    tms_state *st;
    if (tool_log_dir(datadir, logdir, sizeof logdir))
        return TOOL_ERROR;
    if (w->at.set && (w->at.is_seq ? w->at.seq == 0 : w->at.time <= 0)) {
        w->out = json_array();   /* before the first record: nothing exists */
        return TOOL_NEGATIVE;
    }
    o.to_seq = w->at.set && w->at.is_seq ? w->at.seq : 0;
    o.to_time = w->at.set && !w->at.is_seq ? w->at.time : 0;
    o.tenant = w->tenant;   /* every frame is checked; only its records are applied */
    if (!(st = tms_state_new()) || (w->explain && !(w->ex = tool_explain_new(w->tenant, w->perm, w->feat)))) {
        tms_state_free(st);
        return tool_fail("out of memory");
    }
    if (w->ex) {
        o.on_effects = tool_explain_effects;
        o.ctx = w->ex;
    }
    int rc = TOOL_OK;
    tms_err err = tool_fold(st, logdir, &o, &res, "tms-audit: replaying", w->at.is_seq ? w->at.seq : 0);
    if (err) {
        tool_warn("replay stopped: %s", res.msg);
        rc = err == TMS_E_CORRUPT ? TOOL_NEGATIVE : TOOL_ERROR;
    } else if (w->at.set && w->at.is_seq && res.last_seq < w->at.seq) {
        rc = tool_fail("--seq %llu: the log ends at seq %llu", (unsigned long long)w->at.seq,
                       (unsigned long long)res.last_seq);
    } else {
        rc = list_holders(w, st);
    }
    tool_explain_free(w->ex);
    w->ex = NULL;
    tms_state_free(st);
    return rc;
}

static int cmd_whocan(int argc, char **argv)
{
    const char *data = NULL, *tenant = NULL, *perm = NULL, *at = NULL, *seq = NULL, *pos[1];
    int npos, explain = 0;
    const tool_opt opts[] = {{"data", 1, &data, NULL}, {"tenant", 1, &tenant, NULL},
                             {"permission", 1, &perm, NULL}, {"at", 1, &at, NULL},
                             {"seq", 1, &seq, NULL}, {"explain", 0, NULL, &explain},
                             {NULL, 0, NULL, NULL}};
    whocan w;
    memset(&w, 0, sizeof w);
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage_whocan, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data || !tenant || !perm)
        return tool_fail("who-can: --data DIR, --tenant T and --permission P are required (try --help)");
    if (at && seq)
        return tool_fail("who-can: give --at or --seq, not both");
    if (!tms_is_id(tenant, strlen(tenant)))
        return tool_fail("who-can: %s is not a valid tenant id", tenant);
    w.tenant = tenant;
    w.explain = explain;
    w.perm = tms_permission_index(perm);
    w.feat = w.perm < 0 ? tms_feature_index(perm) : -1;
    if (w.perm < 0 && w.feat < 0)
        return tool_fail("who-can: unknown permission %s", perm);
    if (seq) {
        w.at.set = w.at.is_seq = 1;
        if (tool_seq_parse(seq, &w.at.seq))
            return tool_fail("--seq %s: expected a record number", seq);
    } else if (at && tool_point_parse("--at", at, &w.at)) {
        return TOOL_ERROR;
    }
    rc = run_whocan(&w, data);
    if (rc == TOOL_NEGATIVE && w.out && !json_array_size(w.out))
        tool_warn("tenant %s does not exist at that point", tenant);
    if (w.out && tool_print_json(w.out) != 0)
        return tool_fail("cannot write the output");
    return rc ? rc : tool_finish_stdout();
}

/* The commands, in the order of the usage. */
static const tool_cmd commands[] = {
    {"verify", tool_verify_main, NULL,
     "integrity of the log (frames, checksums, seq continuity, hash chain),\n"
     "replay determinism, and the projection's digest against a fresh replay;\n"
     "--receipt FILE keeps what it proved, --since FILE checks what came after"},
    {"who-can", cmd_whocan, NULL, "the accounts holding a permission, now or at a point in the past"},
    {"report", tool_report_main, NULL,
     "per tenant: activity, rejected attempts, ceiling exceptions, extensions\n"
     "without a login or an owner, roles (text, JSON, or one HTML page)"},
    {"export", tool_export_main, NULL, "every record of the log as one JSON line (seq, time, verdict, command)"},
    {"keygen", tool_keygen_main, NULL, "a new Ed25519 key for a log (or a witness): private key file, vkey printed"},
    {"checkpoint", tool_checkpoint_main, NULL, "the latest signed checkpoint kept in DIR (or the one of a size)"},
    {"prove", tool_prove_main, NULL, "an inclusion or consistency proof (RFC 9162) from DIR's Merkle tree"},
    {"verify-proof", tool_verify_proof_main, NULL,
     "check a proof against signed checkpoints with nothing but the log's key"},
    {"witness", tool_witness_main, NULL,
     "cosign a checkpoint consistent with what this witness cosigned before\n"
     "(C2SP tlog-cosignature/v1; --listen serves the tlog-witness protocol)"},
    {"set-aside", tool_set_aside_main, NULL,
     "the records a deposed cluster leader set aside (never stored by the stream),\n"
     "decoded and checked against the chain"},
    {NULL, NULL, NULL, NULL},
};

static const tool_usage usage_main = {
    "usage: tms-audit COMMAND --data DIR [OPTIONS]\n"
    "\n",
    14,
    "\n"
    "Run 'tms-audit COMMAND --help' for the options of each command.\n"
    "Exit status: 0 success, 1 negative answer or verification failed,\n"
    "2 usage or I/O error.\n"};

int main(int argc, char **argv)
{
    tool_prog = "tms-audit";
    if (sodium_init() < 0) {   /* keys, signatures, and verify's random tally key */
        fprintf(stderr, "tms-audit: libsodium cannot start\n");
        return 2;
    }
    return tool_dispatch(commands, argc, argv, &usage_main);
}
