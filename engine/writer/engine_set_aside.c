/* engine_set_aside.c -- a deposed leader's records that the stream never
 * stored (SPEC section 12; issue 20, item 3), set aside with their evidence.
 *
 * tmsd in a cluster acknowledges a command only once the stream stored its
 * record (--ack-after stream), so records of its log that the stream does
 * not hold were never acknowledged: a leader that lost its lease with some
 * of them written locally. Before it can follow the stream they must leave
 * its log, and nothing may be lost silently. tmsd asks for it
 * (tms_engine_set_aside_request: DIR/set-aside/request, "keep SEQ" and why)
 * and restarts; the next writer's open carries it out first, under the
 * writer's lock, in an order a crash at any step repeats safely:
 *   1. the records after keep are copied, as the log holds them, into
 *      DIR/set-aside/FIRST-LAST/records.jsonl (one line per record: seq,
 *      chain hash, the whole frame in base64) with evidence.json (why, the
 *      chain heads, when), fsynced, and the directory renamed into place;
 *   2. DIR/witness says keep (the loss check must not call them lost);
 *   3. the projection is set aside (proj/data.mdb.set-aside: it applied
 *      them) and rebuilt by the open;
 *   4. snapshots after keep are set aside (NAME.bad); the log is cut after
 *      keep (the segment holding keep + 1 truncated at that frame, later
 *      segments removed, the directory fsynced);
 *   5. the request is removed.
 * Refused (the request stays, the open fails naming it): a record after
 * keep covered by a checkpoint signed with the log's key (DIR/checkpoints):
 * the key vouched for it, so setting it aside would fork the log; an
 * operator decides. The Merkle tree is cut to the log by the open. */
#include "engine_internal.h"
#include "checkpoints.h"
#include "note.h"
#include "snapshots.h"
#include "datadir.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ASIDE "set-aside"

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = fd >= 0 ? fsync(fd) : -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* DIR/LEAF replaced durably (datadir.h: through the I/O table). */
static tms_err put_file(const char *dir, const char *leaf, const char *text, size_t len, char *why, size_t whylen)
{
    int e = tms_replace_file(dir, leaf, text, len);
    if (e)
        snprintf(why, whylen, "cannot write %s/%s: %s", dir, leaf, strerror(e));
    return !e ? TMS_OK : e == ENOSPC ? TMS_E_NOSPACE : TMS_E_IO;
}

tms_err tms_engine_set_aside_request(const char *dir, uint64_t keep, const char *reason, char *why, size_t whylen)
{
    char d[4200], text[1200];
    tms_data_path(d, sizeof d, dir, ASIDE);
    if (mkdir(d, 0750) != 0 && errno != EEXIST) {
        snprintf(why, whylen, "cannot create %s: %s", d, strerror(errno));
        return TMS_E_IO;
    }
    char line[1001];
    snprintf(line, sizeof line, "%s", reason);
    for (char *p = line; *p; p++)   /* why is one line */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    int n = snprintf(text, sizeof text, "keep %" PRIu64 "\nwhy %s\n", keep, line);
    return put_file(d, "request", text, (size_t)n, why, whylen);
}

/* DIR/set-aside/request: 1 with keep and why, 0 when there is none, -1 unreadable (why). */
static int read_request(const char *dir, uint64_t *keep, char *reason, size_t rlen, char *why, size_t whylen)
{
    char path[4300], buf[1300];
    snprintf(path, sizeof path, "%s/" ASIDE "/request", dir);
    FILE *f = fopen(path, "r");
    if (!f && errno == ENOENT)
        return 0;
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    char *nl = strchr(buf, '\n'), *end = NULL;
    errno = 0;
    unsigned long long k = strncmp(buf, "keep ", 5) ? 0 : strtoull(buf + 5, &end, 10);
    if (!f || !nl || !end || end != nl || errno || strncmp(nl + 1, "why ", 4)) {
        snprintf(why, whylen, "%s: not a set-aside request (keep SEQ, why TEXT)", path);
        return -1;
    }
    *keep = k;
    snprintf(reason, rlen, "%.*s", (int)strcspn(nl + 5, "\n"), nl + 5);
    return 1;
}

/* The records after keep: read for step 1 (and where the first one is). */
typedef struct tail {
    char *lines;                /* records.jsonl */
    size_t len, cap;
    uint64_t first, last;       /* seqs; last 0: none */
    char segment[256];          /* the segment of the first, and its offset */
    uint64_t offset;
    uint8_t head_keep[TMS_HASH_LEN], head_last[TMS_HASH_LEN];
} tail;

static int tail_add(tail *t, const tms_log_record *r)
{
    uint8_t hdr[TMS_LOG_FRAME_HEADER];
    size_t flen = sizeof hdr + r->len, b64 = sodium_base64_encoded_len(flen, sodium_base64_VARIANT_ORIGINAL);
    size_t need = t->len + b64 + 2 * TMS_HASH_LEN + 64;
    if (need > t->cap) {
        size_t cap = need * 2;
        char *p = realloc(t->lines, cap);
        if (!p)
            return -1;
        t->lines = p;
        t->cap = cap;
    }
    uint8_t *frame = malloc(flen);
    if (!frame)
        return -1;
    tms_log_frame_header(r, hdr);
    memcpy(frame, hdr, sizeof hdr);
    memcpy(frame + sizeof hdr, r->payload, r->len);
    char hex[2 * TMS_HASH_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, r->hash, TMS_HASH_LEN);
    t->len += (size_t)snprintf(t->lines + t->len, t->cap - t->len, "{\"seq\":%" PRIu64 ",\"hash\":\"%s\",\"frame\":\"",
                               r->seq, hex);
    sodium_bin2base64(t->lines + t->len, t->cap - t->len, frame, flen, sodium_base64_VARIANT_ORIGINAL);
    t->len += strlen(t->lines + t->len);
    t->len += (size_t)snprintf(t->lines + t->len, t->cap - t->len, "\"}\n");
    free(frame);
    if (!t->last) {
        snprintf(t->segment, sizeof t->segment, "%s", r->segment);
        t->offset = r->offset;
        t->first = r->seq;
    }
    t->last = r->seq;
    memcpy(t->head_last, r->hash, TMS_HASH_LEN);
    return 0;
}

/* Read the log from keep on: the head at keep, then every record after it. */
static tms_err read_tail(const char *logdir, uint64_t keep, tail *t, char *why, size_t whylen)
{
    tms_log_iter *it = NULL;
    tms_log_record r;
    int has = 1;
    uint64_t base = 0;   /* a seeded log: nothing at or before its base; its head stands for the frame at keep */
    tms_err err = tms_log_base(logdir, &base, t->head_keep, why, whylen);
    if (!err && keep < base) {
        snprintf(why, whylen, "set-aside: keep seq %" PRIu64 " is before the log's base (%" PRIu64 ")", keep, base);
        return TMS_E_INVAL;
    }
    if (!err)
        err = tms_log_iter_open(logdir, keep > base ? keep : base + 1, &it, NULL);
    while (!err && (err = tms_log_iter_next(it, &r, &has)) == TMS_OK && has) {
        if (r.seq == keep)
            memcpy(t->head_keep, r.hash, TMS_HASH_LEN);
        else if (r.seq > keep && tail_add(t, &r))
            err = TMS_E_NOMEM;
    }
    if (err)
        snprintf(why, whylen, "set-aside: reading the log after seq %" PRIu64 ": %s", keep,
                 it && tms_log_iter_report(it)->msg[0] ? tms_log_iter_report(it)->msg : tms_strerror(err));
    tms_log_iter_close(it);
    return err;
}

/* Step 1: DIR/set-aside/FIRST-LAST/{records.jsonl,evidence.json}, unless a
 * crash after its rename left it there already. */
static tms_err keep_evidence(const char *dir, uint64_t keep, const char *reason, const tail *t, char *why,
                             size_t whylen)
{
    char final[4300], tmp[4310], path[4400], ev[2000], hk[2 * TMS_HASH_LEN + 1], hl[2 * TMS_HASH_LEN + 1];
    struct stat sb;
    snprintf(final, sizeof final, "%s/" ASIDE "/%" PRIu64 "-%" PRIu64, dir, t->first, t->last);
    if (stat(final, &sb) == 0)
        return TMS_OK;
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST) {
        snprintf(why, whylen, "cannot create %s: %s", tmp, strerror(errno));
        return TMS_E_IO;
    }
    sodium_bin2hex(hk, sizeof hk, t->head_keep, TMS_HASH_LEN);
    sodium_bin2hex(hl, sizeof hl, t->head_last, TMS_HASH_LEN);
    json_t *o = json_pack("{s:s,s:I,s:s,s:I,s:I,s:s,s:I,s:s}", "what", "records this node's log held that the stream "
                          "never stored (never acknowledged): set aside", "keep", (json_int_t)keep, "head_at_keep", hk,
                          "first", (json_int_t)t->first, "last", (json_int_t)t->last, "head_at_last", hl,
                          "set_aside_at", (json_int_t)time(NULL), "why", reason);
    char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    int n = text ? snprintf(ev, sizeof ev, "%s\n", text) : -1;
    free(text);
    tms_err err = n < 0 || (size_t)n >= sizeof ev ? TMS_E_NOMEM : TMS_OK;
    if (!err)   /* each fsynced into tmp, then tmp renamed into place and that fsynced */
        err = put_file(tmp, "evidence.json", ev, (size_t)n, why, whylen);
    if (!err)
        err = put_file(tmp, "records.jsonl", t->lines, t->len, why, whylen);
    snprintf(path, sizeof path, "%s/" ASIDE, dir);
    if (!err && (rename(tmp, final) != 0 || fsync_path(path) != 0)) {
        snprintf(why, whylen, "cannot put %s in place: %s", final, strerror(errno));
        err = TMS_E_IO;
    }
    return err;
}

/* Step 4: the log ends at keep. Segment names are their first seq (log.h). */
static tms_err cut_log(const char *logdir, const tail *t, char *why, size_t whylen)
{
    char path[4600];
    uint64_t seg_first = strtoull(t->segment, NULL, 10);
    DIR *dh = opendir(logdir);
    struct dirent *de;
    tms_err err = dh ? TMS_OK : TMS_E_IO;
    while (dh && (de = readdir(dh))) {   /* every later segment goes */
        size_t n = strlen(de->d_name);
        if (n < 8 || strcmp(de->d_name + n - 7, ".tmslog") || strtoull(de->d_name, NULL, 10) <= seg_first)
            continue;
        snprintf(path, sizeof path, "%s/%s", logdir, de->d_name);
        if (unlink(path) != 0 && errno != ENOENT)
            err = TMS_E_IO;
    }
    if (dh)
        closedir(dh);
    snprintf(path, sizeof path, "%s/%s", logdir, t->segment);
    int whole = t->offset <= TMS_LOG_SEGMENT_HEADER && seg_first > 1;   /* the segment holds nothing kept */
    if (!err && (whole ? unlink(path) != 0 : truncate(path, (off_t)t->offset) != 0 || fsync_path(path) != 0))
        err = TMS_E_IO;
    if (!err && fsync_path(logdir) != 0)
        err = TMS_E_IO;
    if (err)
        snprintf(why, whylen, "set-aside: cannot cut the log after seq %" PRIu64 " (%s): %s", t->first - 1, path,
                 strerror(errno));
    return err;
}

/* Snapshots after keep hold the state with the records set aside: set aside too (NAME.bad). */
static tms_err snapshots_after(const char *dir, uint64_t keep, char *why, size_t whylen)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    tms_err err = tms_snapshot_list(dir, &seqs, &n);
    for (size_t i = 0; !err && i < n; i++)
        if (seqs[i] > keep)
            err = tms_snapshot_set_aside(dir, seqs[i]);
    free(seqs);
    if (err)
        snprintf(why, whylen, "set-aside: cannot set aside the snapshots after seq %" PRIu64 ": %s", keep,
                 tms_strerror(err));
    return err;
}

/* A checkpoint signed with the log's key that covers a record after keep
 * refuses the set-aside: 1 (why says), else 0. */
static int signed_after(const char *dir, uint64_t keep, char *why, size_t whylen)
{
    char *note = NULL, what[300];
    size_t len = 0;
    tms_checkpoint cp;
    int covered = tms_checkpoints_find(dir, 0, &note, &len, what, sizeof what) == TMS_OK &&
                  tms_checkpoint_open(note, len, NULL, &cp, what, sizeof what) == TMS_OK && cp.size > keep;
    free(note);
    if (covered)
        snprintf(why, whylen, "set-aside of the records after seq %" PRIu64 " refused: a checkpoint signed with the "
                 "log's key covers them up to seq %" PRIu64 " (setting them aside would fork the log it vouched for). "
                 "Nothing was changed; an operator decides (remove %s/" ASIDE "/request to keep them)",
                 keep, cp.size, dir);
    return covered;
}

tms_err tms__engine_set_aside(tms_engine *e, char *why, size_t whylen)
{
    char reason[1100], logdir[4200], proj[4200], path[4300];
    uint64_t keep = 0;
    tail t;
    memset(&t, 0, sizeof t);
    int rc = read_request(e->dir, &keep, reason, sizeof reason, why, whylen);
    if (rc <= 0)
        return rc ? TMS_E_CORRUPT : TMS_OK;
    tms_data_path(logdir, sizeof logdir, e->dir, "log");
    tms_err err = read_tail(logdir, keep, &t, why, whylen);
    if (!err && t.last && signed_after(e->dir, keep, why, whylen))
        err = TMS_E_CORRUPT;
    if (!err && t.last)
        err = keep_evidence(e->dir, keep, reason, &t, why, whylen);
    if (!err && t.last && (err = tms__witness_write(e->dir, keep, t.head_keep)))
        snprintf(why, whylen, "set-aside: cannot write %s/witness: %s", e->dir, strerror(errno));
    if (!err && t.last)
        err = tms_store_set_aside(tms_data_path(proj, sizeof proj, e->dir, "proj"), ASIDE, why, whylen);
    if (!err && t.last)
        err = snapshots_after(e->dir, keep, why, whylen);
    if (!err && t.last)
        err = cut_log(logdir, &t, why, whylen);
    snprintf(path, sizeof path, "%s/" ASIDE "/request", e->dir);
    if (!err && unlink(path) != 0) {
        snprintf(why, whylen, "set-aside: cannot remove %s: %s", path, strerror(errno));
        err = TMS_E_IO;
    }
    if (!err && t.last) {
        size_t n = strlen(e->report);
        snprintf(e->report + n, sizeof e->report - n, "%sset aside records %" PRIu64 " to %" PRIu64 " that the stream "
                 "never stored (%s/" ASIDE "/%" PRIu64 "-%" PRIu64 "): %s", n ? "; " : "", t.first, t.last, e->dir,
                 t.first, t.last, reason);
        e->set_aside = t.last - t.first + 1;
    }
    free(t.lines);
    return err;
}

uint64_t tms_engine_set_aside_count(const tms_engine *e)
{
    return e->set_aside;
}
