/* daemon_http_seed.c -- what a new replica is seeded from, over HTTP (issue
 * 18, item 5; docs/replication.md, "A new replica from a snapshot"):
 *   GET /v1/seed                   the newest snapshot that has its signed note:
 *                                  JSON {"seq","bytes","note","checkpoint"} (the
 *                                  signed checkpoint of its size, or null)
 *   GET /v1/seed/snapshot?seq=S    that snapshot file (application/octet-stream)
 *   GET /v1/seed/tree              the Merkle tree's stored hashes (DIR/tree/hashes)
 * tms-restore seed --from http://HOST:PORT fetches them and checks them
 * exactly as it checks a directory: nothing served here is trusted by the
 * client but what the log's key signed. A snapshot is the whole state of
 * every tenant: these routes need the admin right over every tenant. Files
 * are sent by h2o as they are on disk (h2o_file_send: read in pieces, never
 * held whole in memory); a snapshot is never rewritten, the tree is append
 * only (what is sent is a prefix of it). */
#include "daemon_http.h"
#include "checkpoints.h"
#include "snapshots.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The whole state: the admin right (the route's) over every tenant. 0, or -1 answered. */
static int whole_state_allowed(http_call *k)
{
    if (k->who->all_tenants)
        return 0;
    tms__http_fail(k->req, 403, TMS_E_DENIED, "a seed is every tenant's state: it needs a principal of every tenant");
    return -1;
}

/* The newest snapshot with a signed note: 1 with its seq, note and checkpoint of its size (malloc'd; NULL: none). */
static int newest_seedable(server *d, uint64_t *seq, char **note, size_t *nlen, char **cp, size_t *cplen)
{
    char why[300];
    uint64_t *seqs = NULL;
    size_t n = 0;
    int found = 0;
    *cp = NULL;
    if (tms_snapshot_list(d->opt.data_dir, &seqs, &n) != TMS_OK)
        return 0;
    for (size_t i = 0; i < n && !found; i++)
        if (tms_snapshot_note_read(d->opt.data_dir, seqs[i], note, nlen) == TMS_OK) {
            *seq = seqs[i];
            found = 1;
            if (tms_checkpoints_find(d->opt.data_dir, seqs[i], cp, cplen, why, sizeof why) != TMS_OK)
                *cp = NULL;
        }
    free(seqs);
    return found;
}

int tms__http_get_seed(http_call *k)
{
    char path[4300], *note = NULL, *cp = NULL;
    size_t nlen = 0, cplen = 0;
    uint64_t seq = 0;
    struct stat st;
    if (whole_state_allowed(k))
        return 0;
    if (!newest_seedable(k->d, &seq, &note, &nlen, &cp, &cplen))
        return tms__http_fail(k->req, 404, TMS_NOT_FOUND, "no snapshot with a signed note yet (a leader with "
                              "--signing-key signs them at its checkpoint ticks)");
    snprintf(path, sizeof path, "%s/snapshots/%020" PRIu64 ".snap", k->d->opt.data_dir, seq);
    json_t *o = json_pack("{s:I,s:I,s:s%,s:o}", "seq", (json_int_t)seq, "bytes",
                          (json_int_t)(stat(path, &st) == 0 ? st.st_size : 0), "note", note, nlen, "checkpoint",
                          cp ? json_stringn(cp, cplen) : json_null());
    free(note);
    free(cp);
    tms__http_send_json(k->req, 200, o);
    return 0;
}

static int send_file(http_call *k, const char *path)
{
    static const char octets[] = "application/octet-stream";
    if (h2o_file_send(k->req, 200, "OK", path, h2o_iovec_init(octets, sizeof octets - 1), 0) != 0)
        return tms__http_fail(k->req, 404, TMS_NOT_FOUND, "the file is gone (a newer snapshot pruned it): ask "
                              "GET /v1/seed again");
    return 0;
}

int tms__http_get_seed_snapshot(http_call *k)
{
    char path[4300], *note = NULL;
    size_t nlen;
    uint64_t seq;
    if (whole_state_allowed(k))
        return 0;
    if (!k->p.seq)
        return tms__http_fail(k->req, 400, TMS_E_INVAL, "seq is required (GET /v1/seed says which)");
    if (tms__http_seq(k->req, k->p.seq, "seq", &seq))
        return 0;
    if (tms_snapshot_note_read(k->d->opt.data_dir, seq, &note, &nlen) != TMS_OK)
        return tms__http_fail(k->req, 404, TMS_NOT_FOUND, "no signed snapshot of that seq");
    free(note);
    snprintf(path, sizeof path, "%s/snapshots/%020" PRIu64 ".snap", k->d->opt.data_dir, seq);
    return send_file(k, path);
}

int tms__http_get_seed_tree(http_call *k)
{
    char path[4300];
    if (whole_state_allowed(k))
        return 0;
    snprintf(path, sizeof path, "%s/tree/hashes", k->d->opt.data_dir);
    return send_file(k, path);
}
