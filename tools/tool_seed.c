/* tool_seed.c -- "tms-restore seed": a new data directory (a replica's)
 * from a leader's snapshot instead of its whole log (SPEC section 11,
 * "Snapshots"; issue 18, item 5). Nothing from the source is trusted but
 * what its log's key signed: the snapshot used is one whose signed note
 * (snapshots.h) names its seq S, Merkle root, chain head and digests, whose
 * checkpoint of size S (when the source has one) is the key's with the same
 * root, and whose state decodes to those digests; the
 * tree's hashes of records 1..S are computed here from the source's leaf
 * hashes and must give the signed root. The new directory's log starts
 * after S (log.h, "base"); its projection is written from the state, and
 * its as-of index starts at S (lookups at a point of history refused
 * there). It is then opened as the engine would, and can follow the
 * leader's stream from S + 1 (tmsd --replica-of). */
#include "engine.h"
#include "checkpoints.h"
#include "io.h"
#include "history.h"
#include "note.h"
#include "snapshot.h"
#include "snapshots.h"
#include "state.h"
#include "tool_replay.h"
#include "tool_restore.h"
#include "tool_seed.h"
#include "tool_trust.h"
#include "tree.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

static const char usage_seed[] =
    "usage: tms-restore seed --from DIR|http://HOST:PORT [--token-file FILE] --key VKEY --to NEWDIR\n"
    "\n"
    "Makes NEWDIR (absent or empty) a data directory that starts from a leader's\n"
    "snapshot instead of its whole log: a new replica's, which then follows the\n"
    "leader's stream from the snapshot's seq on (tmsd --replica-of ... --data NEWDIR).\n"
    "DIR is the leader's data directory, or a copy of its snapshots/, tree/ and\n"
    "checkpoints (its log is not read); DIR is never modified. Or the leader's tmsd\n"
    "--http address: GET /v1/seed, /v1/seed/snapshot and /v1/seed/tree (a principal\n"
    "with the admin right over every tenant: --token-file holds its bearer token).\n"
    "What is fetched is checked exactly as a directory is. VKEY is the leader's\n"
    "verifier key (or a file holding it): the newest snapshot of seq S with a note\n"
    "signed by VKEY naming its Merkle root, chain head and digests (the leader\n"
    "signs one for each snapshot at its next checkpoint tick), a checkpoint of size\n"
    "S (if DIR has one) signed by VKEY with the same root, and a state that gives\n"
    "those digests, is the one used; the tree of records 1..S is computed from\n"
    "DIR's leaf hashes and must give that signed root.\n"
    "NEWDIR holds no record before S + 1: it answers checks and proofs of the\n"
    "current state, and refuses lookups at a point of history, explanations, and\n"
    "tms-audit verify before S + 1 (ask a node that holds the whole log).\n"
    "Prints one JSON line:\n"
    "  {\"seeded_from\":S,\"head\":\"hex\",\"root\":\"base64\",\"digest\":\"hex\",\"checkpoint\":\"...\"|null}\n"
    "digest is NEWDIR's projection digest (equal to the leader's at S).\n"
    "\n"
    "Exit status: 0 seeded; 1 no snapshot of DIR is vouched for by VKEY (or the\n"
    "tree's leaves do not give the signed root); 2 usage or I/O error. On failure\n"
    "nothing is left in NEWDIR.\n";

#define SEED_RUN 4096   /* stored hashes per read of the source's tree */

typedef struct seed {
    tool_restore r;
    const tms_note_verifier *key;
    tms_snapshot_meta m;
    uint8_t *payload;
    size_t len;
    char *note;                 /* the signed checkpoint of size m.seq (NULL: the source has none) */
    size_t note_len;
    char *snote;                /* the snapshot's signed note (kept in NEWDIR too) */
    size_t snote_len;
    tms_state *state;
    tms_tree *src_tree;
    tms_tlog_hash run[SEED_RUN];   /* the source tree's stored hashes run_first.. (run_got of them) */
    uint64_t run_first;
    size_t run_got;
} seed;

/* The snapshot of seq, if the key vouches for it (its signed note names its
 * seq, root, chain head and digests; a checkpoint of its size, when the
 * source has one, must be the key's with the same root): 1 with s->m,
 * payload, notes and state; 0 (why says why not) when it does not. */
static int vouched(seed *s, uint64_t seq, char *why, size_t whylen)
{
    tms_checkpoint cp;
    uint8_t pd[TMS_HASH_LEN];
    if (tms_snapshot_read(s->r.src, seq, &s->m, &s->payload, &s->len, why, whylen) != TMS_OK)
        return 0;
    tms_err err = tms_snapshot_note_read(s->r.src, seq, &s->snote, &s->snote_len);
    if (err == TMS_NOT_FOUND)
        snprintf(why, whylen, "it has no signed note (the leader signs one at its next checkpoint tick)");
    else if (err)
        snprintf(why, whylen, "its signed note cannot be read: %s", tms_strerror(err));
    else
        err = tms_snapshot_note_check(s->snote, s->snote_len, s->key, &s->m, why, whylen);
    if (err)
        return 0;
    if (tms_checkpoints_find(s->r.src, seq, &s->note, &s->note_len, why, whylen) == TMS_OK) {
        if (tms_checkpoint_open(s->note, s->note_len, s->key, &cp, why, whylen) != TMS_OK)
            return 0;   /* why: not the key's */
        if (cp.size != seq || sodium_memcmp(cp.root, s->m.root, TMS_TLOG_HASH) != 0) {
            snprintf(why, whylen, "the signed checkpoint of its size has another root");
            return 0;
        }
    }
    if (tms_state_snapshot_decode(s->payload, s->len, &s->state, why, whylen) != TMS_OK)
        return 0;
    if (tms_state_projection_digest(s->state, 0, NULL, pd) != TMS_OK ||
        sodium_memcmp(pd, s->m.proj_digest, TMS_HASH_LEN) != 0) {
        snprintf(why, whylen, "its state does not give the projection digest it carries");
        return 0;
    }
    return 1;
}

static void unvouch(seed *s)
{
    free(s->payload);
    free(s->note);
    free(s->snote);
    s->snote = NULL;
    tms_state_free(s->state);
    s->payload = NULL;
    s->note = NULL;
    s->state = NULL;
}

/* Step 1: the newest snapshot the key vouches for. 0, or an exit code. */
static int choose(seed *s)
{
    char why[512] = "";
    uint64_t *seqs = NULL;
    size_t n = 0;
    int found = 0;
    if (tms_snapshot_list(s->r.src, &seqs, &n) != TMS_OK)
        return tool_fail("cannot list %s/snapshots", s->r.src);
    for (size_t i = 0; i < n && !found; i++) {
        found = vouched(s, seqs[i], why, sizeof why);
        if (!found) {
            tool_warn("the snapshot of seq %" PRIu64 " is not used: %s", seqs[i], why);
            unvouch(s);
        }
    }
    free(seqs);
    if (!found) {
        tool_warn("no snapshot of %s is vouched for by the key (%zu found)", s->r.src, n);
        return TOOL_NEGATIVE;
    }
    return 0;
}

/* The source's leaf hash of record i + 1 (tms_tree_seed's feed, i ascending): read with the stored hashes
 * around it, RUN at a time (one pread per leaf was a third of a seed's time at 1M records). */
static tms_err source_leaf(void *ctx, uint64_t i, tms_tlog_hash out)
{
    seed *s = ctx;
    uint64_t idx = tms_tlog_stored_index(0, i);
    if (idx < s->run_first || idx >= s->run_first + s->run_got) {
        s->run_first = idx;
        tms_err err = tms_tree_read_run(s->src_tree, idx, SEED_RUN, s->run, &s->run_got);
        if (err || s->run_got == 0)
            return err ? err : TMS_E_CORRUPT;
    }
    memcpy(out, s->run[idx - s->run_first], TMS_TLOG_HASH);
    return TMS_OK;
}

/* Steps 2-4: the tree, the log's base, the snapshot and its checkpoint. 0 or an exit code. */
static int lay_down(seed *s)
{
    char why[512];
    tms_err err = tms_tree_open_reader(s->r.src, &s->src_tree, why, sizeof why);
    if (err)
        return tool_fail("cannot read %s/tree: %s", s->r.src, why);
    if (tms_tree_size(s->src_tree) < s->m.seq)
        return tool_fail("%s/tree holds %" PRIu64 " records' hashes, fewer than the snapshot's %" PRIu64, s->r.src,
                         tms_tree_size(s->src_tree), s->m.seq);
    err = tms_tree_seed(s->r.dst, source_leaf, s, s->m.seq, s->m.root, why, sizeof why);
    if (err == TMS_E_CORRUPT) {
        tool_warn("%s: the source's leaves are not the signed log's", why);
        return TOOL_NEGATIVE;
    }
    if (err || (err = tms_log_create_based(s->r.dstlog, s->m.seq, s->m.head, why, sizeof why)) ||
        (err = tms_snapshot_write(s->r.dst, &s->m, s->payload, s->len, why, sizeof why)) ||
        (err = tms_snapshot_note_write(s->r.dst, s->m.seq, s->snote, s->snote_len, why, sizeof why)) ||
        (s->note && (err = tms_checkpoints_append(s->r.dst, s->note, s->note_len, why, sizeof why))))
        return tool_fail("seeding %s: %s", s->r.dst, why);
    return 0;
}

/* Step 5: the projection from the state, its as-of index starting at the seed. 0 or an exit code. */
static int project(seed *s)
{
    char why[512];
    tms_store *st = NULL;
    tms_txn *tx = NULL;
    tms_err err = tms_store_open(s->r.dstproj, TMS_STORE_WRITE, &st, why, sizeof why);
    if (err)
        return tool_fail("cannot create %s: %s", s->r.dstproj, why);
    err = tms_projection_rebuild(st, s->state, s->m.seq, s->m.head);
    while (!err && !(err = tms_txn_begin(st, 1, &tx))) {   /* the as-of index: the state at the seed's seq */
        if ((err = tms_history_seed(tx, s->state, s->m.seq, s->m.time)) == TMS_OK) {
            err = tms_txn_commit(tx);
            break;
        }
        tms_txn_abort(tx);
        if (err == TMS_E_MAPFULL)
            err = tms_store_grow(st);
    }
    tms_store_close(st);
    return err ? tool_fail("writing %s: %s", s->r.dstproj, tms_strerror(err)) : 0;
}

/* Step 6: opened as the writer does; its projection must be level at the seed. */
static int open_check(seed *s, uint8_t digest[TMS_HASH_LEN])
{
    char why[512];
    tms_engine *e = NULL;
    tms_txn *tx;
    uint64_t seq = 0;
    uint8_t head[TMS_HASH_LEN];
    tms_err err = tms_engine_open(s->r.dst, NULL, &e, why, sizeof why);
    if (err)
        return tool_fail("the seeded directory does not open: %s", why);
    if ((err = tms_txn_begin(tms_engine_store(e), 0, &tx)) == TMS_OK) {
        if ((err = tms_meta_get(tx, &seq, head)) == TMS_OK)
            err = tms_store_digest(tx, digest);
        tms_txn_abort(tx);
    }
    int from_snapshot = tms_engine_snapshot_seq(e) == s->m.seq;
    tms_engine_close(e);
    if (err)
        return tool_fail("reading the seeded projection: %s", tms_strerror(err));
    if (seq != s->m.seq || memcmp(head, s->m.head, TMS_HASH_LEN) || !from_snapshot)
        return tool_fail("the seeded directory opened at seq %" PRIu64 " (from its snapshot: %s), not %" PRIu64, seq,
                         from_snapshot ? "yes" : "no", s->m.seq);
    return 0;
}

static int print_seed(const seed *s, const uint8_t digest[TMS_HASH_LEN])
{
    char hex[2 * TMS_HASH_LEN + 1], b64[sodium_base64_ENCODED_LEN(TMS_TLOG_HASH, sodium_base64_VARIANT_ORIGINAL)];
    json_t *o = json_object();
    sodium_bin2base64(b64, sizeof b64, s->m.root, TMS_TLOG_HASH, sodium_base64_VARIANT_ORIGINAL);
    json_object_set_new(o, "seeded_from", json_integer((json_int_t)s->m.seq));
    json_object_set_new(o, "head", json_string(tool_hex(s->m.head, TMS_HASH_LEN, hex)));
    json_object_set_new(o, "root", json_string(b64));
    json_object_set_new(o, "digest", json_string(tool_hex(digest, TMS_HASH_LEN, hex)));
    json_object_set_new(o, "checkpoint", s->note ? json_stringn(s->note, s->note_len) : json_null());
    if (tool_print_json(o) != 0)
        return tool_fail("cannot write the output");
    return tool_finish_stdout();
}

/* NEWDIR/.seeding, while a seed lays NEWDIR down: a directory a killed seed left half-built is refused by the
 * engine's open (engine.c) and cleared by the next seed (interrupted_before). The seed holds an exclusive flock
 * on it from before it writes anything until it is done: a second seed into the same NEWDIR is refused (it took
 * the first one's files for a killed seed's, removed them and seeded again, both writing). The lock goes with
 * the process: a killed seed's mark is then free. */
static int seeding_fd = -1;

/* The mark at p opened and locked into *fd (0), or why not (TOOL_ERROR, *fd -1): held by another seed, or
 * replaced while it was being locked. */
static int lock_mark(const char *p, const char *to, int *fd)
{
    struct stat a, b;
    char pid[32] = "";
    *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (*fd < 0)
        return tool_fail("seed: cannot open %s: %s", p, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t n = pread(*fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(*fd);
        *fd = -1;
        return tool_fail("seed: %s is being seeded by another tms-restore seed (pid %s): nothing done", to,
                         pid[0] ? pid : "?");
    }
    if (fstat(*fd, &a) != 0 || stat(p, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        close(*fd);   /* removed or replaced between the open and the lock: another seed is at work */
        *fd = -1;
        return tool_fail("seed: %s is being seeded by another tms-restore seed: nothing done", to);
    }
    return 0;
}

/* 0 or TOOL_ERROR. */
static int mark_seeding(const char *to)
{
    char p[4300], pid[32];
    int e = 0, n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    snprintf(p, sizeof p, "%s/%s", to, TMS_SEEDING_MARK);
    if (seeding_fd < 0 && lock_mark(p, to, &seeding_fd))
        return TOOL_ERROR;
    if (ftruncate(seeding_fd, 0) != 0 || pwrite(seeding_fd, pid, (size_t)n, 0) != n || fsync(seeding_fd) != 0)
        e = errno;
    if (!e && tms_io_fsync_dir(NULL, AT_FDCWD, to) != 0)
        e = errno;
    return e ? tool_fail("seed: cannot write %s: %s", p, strerror(e)) : 0;
}

/* The mark removed (the lock still held until the seed ends: done_seeding). */
static int unmark_seeding(const char *to)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", to, TMS_SEEDING_MARK);
    if (unlink(p) != 0 || tms_io_fsync_dir(NULL, AT_FDCWD, to) != 0)
        return tool_fail("seed: cannot remove %s: %s", p, strerror(errno));
    return 0;
}

static void done_seeding(void)
{
    if (seeding_fd >= 0)
        close(seeding_fd);
    seeding_fd = -1;
}

/* NEWDIR holds what a seed that was killed left (its mark, not locked): removed, so that this seed starts
 * clean; the mark is locked first and stays locked (this seed's own from then on). 0 or TOOL_ERROR (another
 * seed holds it: nothing touched). */
static int interrupted_before(const char *to)
{
    char p[4300];
    tool_restore r;
    snprintf(p, sizeof p, "%s/%s", to, TMS_SEEDING_MARK);
    if (access(p, F_OK) != 0)
        return 0;
    if (lock_mark(p, to, &seeding_fd))
        return TOOL_ERROR;
    memset(&r, 0, sizeof r);
    r.dst = to;
    tms_data_path(r.dstlog, sizeof r.dstlog, to, "log");
    tms_data_path(r.dstproj, sizeof r.dstproj, to, "proj");
    tool_restore_undo(&r);   /* what a seed writes (created_dst 0: NEWDIR itself stays); the mark too */
    tool_warn("seed: %s held a seed that was interrupted: removed, seeding again", to);
    if (access(p, F_OK) == 0 && unlink(p) != 0)
        return tool_fail("seed: cannot remove %s: %s", p, strerror(errno));
    done_seeding();   /* that mark's inode is gone: mark_seeding locks a new one */
    return 0;
}

/* A scratch directory for what is fetched over HTTP: its path in out. 0 or TOOL_ERROR. */
static int scratch(char *out, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, n, "%s/tms-seed-fetch-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    return mkdtemp(out) ? 0 : tool_fail("seed: cannot make a scratch directory %s: %s", out, strerror(errno));
}

static void scratch_remove(const char *dir)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/snapshots", dir);
    tool_remove_flat_dir(p);
    snprintf(p, sizeof p, "%s/tree", dir);
    tool_remove_flat_dir(p);
    snprintf(p, sizeof p, "%s/checkpoints", dir);
    unlink(p);
    rmdir(dir);
}

int tool_seed_main(int argc, char **argv)
{
    const char *from = NULL, *to = NULL, *keyarg = NULL, *token = NULL, *pos[1];
    const tool_opt opts[] = {{"from", 1, &from, NULL}, {"to", 1, &to, NULL}, {"key", 1, &keyarg, NULL},
                             {"token-file", 1, &token, NULL}, {NULL, 0, NULL, NULL}};
    static char fetched[4200];
    static seed s;
    static tms_note_verifier key;
    uint8_t digest[TMS_HASH_LEN];
    int npos;
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage_seed, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!from || !to || !keyarg)
        return tool_fail("seed: --from DIR, --key VKEY and --to NEWDIR are required (try --help)");
    if (tool_load_vkey("--key", keyarg, &key))
        return TOOL_ERROR;
    memset(&s, 0, sizeof s);
    s.key = &key;
    s.r.src = from;
    s.r.dst = to;
    int http = !strncmp(from, "http://", 7) || !strncmp(from, "https://", 8);
    if (token && !http)
        return tool_fail("seed: --token-file goes with --from http://HOST:PORT");
    if (interrupted_before(to) || tool_restore_target(&s.r) || mark_seeding(to)) {
        done_seeding();
        return TOOL_ERROR;
    }
    if (http && (scratch(fetched, sizeof fetched) || (s.r.src = fetched, tool_seed_fetch(from, token, fetched)))) {
        if (fetched[0])
            scratch_remove(fetched);
        tool_restore_undo(&s.r);
        done_seeding();
        return TOOL_ERROR;
    }
    rc = choose(&s);
    if (!rc)
        rc = lay_down(&s);
    if (!rc)
        rc = project(&s);
    if (!rc && unmark_seeding(to))
        rc = TOOL_ERROR;
    if (!rc)
        rc = open_check(&s, digest);
    tms_tree_close(s.src_tree);
    if (http)
        scratch_remove(fetched);
    if (!rc)
        rc = print_seed(&s, digest);
    else
        tool_restore_undo(&s.r);
    done_seeding();
    unvouch(&s);
    return rc;
}
