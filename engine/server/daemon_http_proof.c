/* daemon_http_proof.c -- GET /v1/checkpoint, /v1/proof/inclusion and
 * /v1/proof/consistency (SPEC section 11): the latest signed checkpoint as
 * stored (text/plain), and proofs as tms-audit prove prints them, read from
 * the Merkle tree file on the loop thread (a few dozen preads of hashes the
 * page cache holds; the record's frame through the as-of index's locator). */
#include "daemon_http.h"
#include "checkpoints.h"
#include "note.h"
#include "proof.h"
#include "tree.h"
#include <stdlib.h>
#include <string.h>

/* The latest checkpoint: the signer's copy, else what DIR/checkpoints holds
 * (a replica keeps its leader's). *size its tree size. NULL when none. */
static char *latest_note(server *d, uint64_t *size)
{
    char why[300], *note = tms__checkpoint_latest(d);
    size_t len = 0;
    tms_checkpoint cp;
    *size = 0;
    if (!note && tms_checkpoints_find(d->opt.data_dir, 0, &note, &len, why, sizeof why) != TMS_OK)
        return NULL;
    if (tms_checkpoint_open(note, strlen(note), NULL, &cp, NULL, 0) == TMS_OK)
        *size = cp.size;
    return note;
}

int tms__http_get_checkpoint(http_call *k)
{
    uint64_t size;
    char *note = latest_note(k->d, &size);
    if (!note)
        return tms__http_fail(k->req, 404, TMS_NOT_FOUND, "no signed checkpoint yet");
    tms__http_send_text(k->req, 200, "text/plain; charset=utf-8", note, strlen(note));
    free(note);
    return 0;
}

static tms_tree *tree_of(http_call *k)
{
    char why[300];
    if (!k->d->proof_tree && tms_tree_open_reader(k->d->opt.data_dir, &k->d->proof_tree, why, sizeof why))
        tms__http_fail(k->req, 503, TMS_E_IO, why);
    return k->d->proof_tree;
}

static void send_proof(http_call *k, tms_err err, json_t *out, const char *why)
{
    if (err)
        tms__http_fail(k->req, err == TMS_E_INVAL ? 400 : 500, err, why);
    else
        tms__http_send_json(k->req, 200, out);
}

int tms__http_get_inclusion(http_call *k)
{
    char why[300];
    uint64_t seq, size = 0;
    json_t *out = NULL;
    tms_tree *t;
    if (!k->p.seq)
        return tms__http_fail(k->req, 400, TMS_E_INVAL, "inclusion needs seq (and size, by default the latest checkpoint's)");
    if (tms__http_seq(k->req, k->p.seq, "seq", &seq) || (k->p.size && tms__http_seq(k->req, k->p.size, "size", &size)))
        return 0;
    if (!k->p.size) {
        free(latest_note(k->d, &size));
        if (!size)
            return tms__http_fail(k->req, 404, TMS_NOT_FOUND, "no signed checkpoint yet: give size");
    }
    if (!(t = tree_of(k)))
        return 0;
    if (tms__snapshot_begin(k->d) != TMS_OK)
        return tms__http_fail(k->req, 500, TMS_E_STORE, "cannot read the projection");
    char logdir[4200];
    tms_err err = tms_proof_inclusion(t, k->d->rtx, tms_data_path(logdir, sizeof logdir, k->d->opt.data_dir, "log"),
                                      k->d->tree_records, seq, size, &out, why, sizeof why);
    tms__snapshot_end(k->d);
    send_proof(k, err, out, why);
    return 0;
}

int tms__http_get_consistency(http_call *k)
{
    char why[300];
    uint64_t from, to;
    json_t *out = NULL;
    tms_tree *t;
    if (!k->p.from || !k->p.to)
        return tms__http_fail(k->req, 400, TMS_E_INVAL, "consistency needs from and to");
    if (tms__http_seq(k->req, k->p.from, "from", &from) || tms__http_seq(k->req, k->p.to, "to", &to) || !(t = tree_of(k)))
        return 0;
    tms_err err = tms_proof_consistency(t, k->d->tree_records, from, to, &out, why, sizeof why);
    send_proof(k, err, out, why);
    return 0;
}

void tms__http_proof_free(server *d)
{
    tms_tree_close(d->proof_tree);
    d->proof_tree = NULL;
}
