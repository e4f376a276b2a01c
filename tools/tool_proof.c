/* tool_proof.c -- tms-audit prove and verify-proof (SPEC section 11): make
 * proofs from a data directory's tree, and check them with nothing but the
 * log's verifier key and the files. */
#include "checkpoints.h"
#include "engine.h"
#include "proof.h"
#include "record.h"
#include "tool_common.h"
#include "tool_replay.h"
#include "tool_trust.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *tms_record_json(const tms_record *rec, json_t *changed);

static const char usage_prove[] =
    "usage: tms-audit prove --data DIR --seq N [--size M]\n"
    "       tms-audit prove --data DIR --from A --to B\n"
    "\n"
    "An inclusion proof that record N is in the tree of size M (default: the\n"
    "latest checkpoint's size; N <= M <= the last seq):\n"
    "  {\"seq\":N,\"size\":M,\"leaf\":\"BASE64(payload)\",\"proof\":[\"BASE64(hash)\",...]}\n"
    "or a consistency proof that the tree of size B extends the tree of size A\n"
    "(1 <= A <= B): {\"from\":A,\"to\":B,\"proof\":[...]}. RFC 9162 section 2.1; leaf\n"
    "N - 1 of the tree is the record of seq N, as framed in the log.\n";

/* The size of the latest stored checkpoint: 0, or TOOL_ERROR / TOOL_NEGATIVE after a message. */
static int latest_size(const char *data, uint64_t *size)
{
    char why[300], *note;
    size_t len;
    tms_checkpoint cp;
    tms_err err = tms_checkpoints_find(data, 0, &note, &len, why, sizeof why);
    if (err)
        return err == TMS_NOT_FOUND ? tool_fail("prove: %s in %s: give --size", why, data) : tool_fail("%s", why);
    if (tms_checkpoint_open(note, len, NULL, &cp, why, sizeof why) == TMS_OK)
        *size = cp.size;
    free(note);
    return *size ? 0 : tool_fail("prove: the latest checkpoint cannot be read: %s", why);
}

/* Where the log ends (tms_log_end): what a proof may cover at most (proof.h). 0 or TOOL_ERROR. */
static int log_records(const char *logdir, uint64_t *last)
{
    char why[300];
    if (tms_log_end(logdir, last, why, sizeof why) != TMS_OK)
        return tool_fail("prove: the log cannot be read: %s", why);
    return 0;
}

static int prove(const char *data, const char *seq_s, const char *size_s, const char *from_s, const char *to_s)
{
    char why[300], logdir[4200], projdir[4200];
    uint64_t seq = 0, size = 0, from = 0, to = 0, records = 0;
    tms_tree *t = NULL;
    tms_store *st = NULL;
    tms_txn *tx = NULL;
    json_t *out = NULL;
    if ((seq_s && (tool_seq_parse(seq_s, &seq) || !seq)) || (size_s && (tool_seq_parse(size_s, &size) || !size)) ||
        (from_s && (tool_seq_parse(from_s, &from) || !from)) || (to_s && (tool_seq_parse(to_s, &to) || !to)))
        return tool_fail("prove: seqs and sizes are integers from 1");
    if (tool_log_dir(data, logdir, sizeof logdir) || log_records(logdir, &records))
        return TOOL_ERROR;
    if (seq_s && !size_s && latest_size(data, &size))
        return TOOL_ERROR;
    tms_err err = tms_tree_open_reader(data, &t, why, sizeof why);
    if (err)
        return tool_fail("prove: %s", why);
    if (seq_s) {   /* the projection's frame locators make the leaf one read; without them the log is scanned */
        if (tms_store_open(tms_data_path(projdir, sizeof projdir, data, "proj"), TMS_STORE_READONLY, &st, why,
                           sizeof why) == TMS_OK)
            tms_txn_begin(st, 0, &tx);
        err = tms_proof_inclusion(t, tx, logdir, records, seq, size, &out, why, sizeof why);
    } else {
        err = tms_proof_consistency(t, records, from, to, &out, why, sizeof why);
    }
    tms_txn_abort(tx);
    tms_store_close(st);
    tms_tree_close(t);
    if (err)
        return tool_fail("prove: %s", why);
    return tool_print_json(out) ? TOOL_ERROR : tool_finish_stdout();   /* it takes out */
}

int tool_prove_main(int argc, char **argv)
{
    const char *data = NULL, *seq = NULL, *size = NULL, *from = NULL, *to = NULL, *pos[1];
    int npos;
    const tool_opt opts[] = {{"data", 1, &data, NULL}, {"seq", 1, &seq, NULL}, {"size", 1, &size, NULL},
                             {"from", 1, &from, NULL}, {"to", 1, &to, NULL},   {NULL, 0, NULL, NULL}};
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage_prove, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data || (!seq == !from) || (!from != !to) || (seq && to) || (size && !seq))
        return tool_fail("prove: --data DIR and either --seq N [--size M] or --from A --to B (try --help)");
    return prove(data, seq, size, from, to);
}

static const char usage_verify_proof[] =
    "usage: tms-audit verify-proof --key VKEY --checkpoint FILE --inclusion FILE\n"
    "       tms-audit verify-proof --key VKEY --old-checkpoint FILE --checkpoint FILE --consistency FILE\n"
    "\n"
    "Checks a proof (tms-audit prove, or HTTP /v1/proof/...) against signed\n"
    "checkpoints (tms-audit checkpoint, or HTTP /v1/checkpoint) with nothing but\n"
    "the log's verifier key (VKEY: the key itself or a file holding it). An\n"
    "inclusion proof that holds prints the proven record as one JSON line (the\n"
    "fields watch prints, but \"changed\", which needs the state); a consistency\n"
    "proof that holds prints {\"ok\":true,\"from\":A,\"to\":B}.\n"
    "Exit status: 0 it holds, 1 it does not (a line on stderr says why), 2 usage\n"
    "or I/O error.\n";

static int check_inclusion(const tms_checkpoint *cp, const char *file)
{
    char *text = NULL, why[300];
    size_t len, n, leaflen;
    uint64_t seq, size;
    uint8_t *leaf = NULL;
    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], lh;
    tms_record rec;
    int rc = tool_read_small("--inclusion", file, 8u << 20, &text, &len);
    if (rc)
        return rc;
    if (tms_proof_inclusion_parse(text, len, &seq, &size, &leaf, &leaflen, proof, &n, why, sizeof why)) {
        tool_warn("--inclusion %s: %s", file, why);
        rc = TOOL_NEGATIVE;
    } else if (size != cp->size) {
        tool_warn("the proof is for a tree of size %llu, the checkpoint's is %llu", (unsigned long long)size,
                  (unsigned long long)cp->size);
        rc = TOOL_NEGATIVE;
    } else if (tms_tlog_leaf_hash(leaf, leaflen, lh),
               !tms_tlog_check_inclusion(seq - 1, size, lh, (const tms_tlog_hash *)proof, n, cp->root)) {
        tool_warn("the inclusion proof of seq %llu does not lead to the checkpoint's root", (unsigned long long)seq);
        rc = TOOL_NEGATIVE;
    } else {
        tms_cmd_init(&rec.cmd);
        if (tms_record_decode(&rec, leaf, leaflen, why, sizeof why)) {   /* proven, yet not a record of ours */
            tool_warn("seq %llu is in the log but does not decode as a record: %s", (unsigned long long)seq, why);
            rc = TOOL_NEGATIVE;
        } else {
            rec.seq = seq;
            json_t *o = tms_record_json(&rec, NULL);
            rc = !o || tool_print_json(o) ? TOOL_ERROR : tool_finish_stdout();   /* it takes o */
        }
        tms_cmd_free(&rec.cmd);
    }
    free(leaf);
    free(text);
    return rc;
}

static int check_consistency(const tms_checkpoint *old, const tms_checkpoint *cp, const char *file)
{
    char *text = NULL, why[300];
    size_t len, n;
    uint64_t from, to;
    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF];
    int rc = tool_read_small("--consistency", file, 1u << 20, &text, &len);
    if (rc)
        return rc;
    if (tms_proof_consistency_parse(text, len, &from, &to, proof, &n, why, sizeof why)) {
        tool_warn("--consistency %s: %s", file, why);
        rc = TOOL_NEGATIVE;
    } else if (from != old->size || to != cp->size) {
        tool_warn("the proof is from %llu to %llu, the checkpoints are of sizes %llu and %llu",
                  (unsigned long long)from, (unsigned long long)to, (unsigned long long)old->size,
                  (unsigned long long)cp->size);
        rc = TOOL_NEGATIVE;
    } else if (!tms_tlog_check_consistency(from, to, old->root, cp->root, (const tms_tlog_hash *)proof, n)) {
        tool_warn("the tree of size %llu does not extend the tree of size %llu by this proof",
                  (unsigned long long)to, (unsigned long long)from);
        rc = TOOL_NEGATIVE;
    } else {
        json_t *o = json_pack("{s:b,s:I,s:I}", "ok", 1, "from", (json_int_t)from, "to", (json_int_t)to);
        rc = !o || tool_print_json(o) ? TOOL_ERROR : tool_finish_stdout();   /* it takes o */
    }
    free(text);
    return rc;
}

int tool_verify_proof_main(int argc, char **argv)
{
    const char *key = NULL, *cpf = NULL, *oldf = NULL, *incl = NULL, *cons = NULL, *pos[1];
    int npos;
    char *a = NULL, *b = NULL;
    tms_note_verifier v;
    tms_checkpoint cp, old;
    const tool_opt opts[] = {{"key", 1, &key, NULL},         {"checkpoint", 1, &cpf, NULL},
                             {"old-checkpoint", 1, &oldf, NULL}, {"inclusion", 1, &incl, NULL},
                             {"consistency", 1, &cons, NULL}, {NULL, 0, NULL, NULL}};
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage_verify_proof, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!key || !cpf || (!incl == !cons) || (incl && oldf) || (cons && !oldf))
        return tool_fail("verify-proof: --key, --checkpoint and either --inclusion FILE or --old-checkpoint FILE "
                         "--consistency FILE (try --help)");
    if (tool_load_vkey("--key", key, &v))
        return TOOL_ERROR;
    if (!(rc = tool_open_checkpoint("--checkpoint", cpf, &v, &a, &cp)))
        rc = incl ? check_inclusion(&cp, incl)
                  : (rc = tool_open_checkpoint("--old-checkpoint", oldf, &v, &b, &old)) ? rc
                                                                                     : check_consistency(&old, &cp, cons);
    free(a);
    free(b);
    return rc;
}
