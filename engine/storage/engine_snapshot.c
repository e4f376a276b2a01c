/* engine_snapshot.c -- the writer's snapshots (issue 18; snapshots.h): the
 * state saved at a clean close, and loaded at the next open instead of a
 * fold of the whole log when everything agrees on where the log ended.
 *
 * When (docs/design.md, "Snapshots"): at a clean close (tmsd's stop, an
 * embedded tmsctl's exit), never while commands are acknowledged: encoding
 * the state takes the writer's thread (measured in benchmarks/RESULTS.md),
 * and no acknowledgement may wait for it. A crash leaves the last clean
 * close's snapshot, older than the log: that open folds the whole log, as
 * before. */
#include "engine_internal.h"
#include "snapshot.h"
#include "snapshots.h"
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before a new snapshot: set aside those no longer of this log (beyond its end: it was cut; or at seq with another
 * chain head). 1 when the newest left is of seq with head (nothing to write). */
static int forget_others(const char *dir, uint64_t seq, const uint8_t head[TMS_HASH_LEN])
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    int have = 0;
    tms_snapshot_meta m;
    if (tms_snapshot_list(dir, &seqs, &n) != TMS_OK)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (seqs[i] < seq)
            break;
        if (seqs[i] == seq && tms_snapshot_meta_read(dir, seq, &m) == TMS_OK && !memcmp(m.head, head, TMS_HASH_LEN) &&
            m.schema == TMS_SCHEMA_VERSION && !strcmp(m.build, tms_version()))
            have = 1;
        else
            tms_snapshot_set_aside(dir, seqs[i]);
    }
    free(seqs);
    return have;
}

tms_err tms__snapshot_save(const char *dir, const tms_state *st, uint64_t seq, const uint8_t head[TMS_HASH_LEN],
                           const uint8_t root[TMS_HASH_LEN], int64_t time, char *why, size_t whylen)
{
    msgpack_sbuffer enc;
    tms_snapshot_meta m;
    if (seq == 0 || forget_others(dir, seq, head))
        return TMS_OK;   /* the newest is of this seq and this log already (a snapshot is never rewritten) */
    msgpack_sbuffer_init(&enc);
    tms_err err = tms_state_snapshot_encode(st, &enc);
    if (err) {
        snprintf(why, whylen, "snapshot: cannot encode the state: %s", tms_strerror(err));
    } else {
        memset(&m, 0, sizeof m);
        m.schema = TMS_SCHEMA_VERSION;
        snprintf(m.build, sizeof m.build, "%s", tms_version());
        m.seq = seq;
        memcpy(m.head, head, TMS_HASH_LEN);
        memcpy(m.root, root, TMS_HASH_LEN);
        m.time = time;
        tms_state_snapshot_digest(enc.data, enc.size, m.digest);
        err = tms_snapshot_write(dir, &m, enc.data, enc.size, why, whylen);
    }
    msgpack_sbuffer_destroy(&enc);
    return err;
}

tms_err tms__snapshot_load(const char *dir, uint64_t seq, const uint8_t head[TMS_HASH_LEN],
                           const uint8_t proj_digest[TMS_HASH_LEN], tms_state **st, int64_t *time, char *said,
                           size_t saidlen)
{
    uint8_t digest[TMS_HASH_LEN];
    char why[300];
    uint8_t *payload = NULL;
    size_t len = 0;
    tms_snapshot_meta m;
    *st = NULL;
    said[0] = '\0';
    tms_err err = tms_snapshot_read(dir, seq, &m, &payload, &len, why, sizeof why);
    if (err == TMS_OK && (m.schema != TMS_SCHEMA_VERSION || strcmp(m.build, tms_version()))) {
        free(payload);   /* not bad: another version's rules may have made another state; folded, and replaced */
        snprintf(said, saidlen, "the snapshot of seq %llu was written by tmsperm %s: the log folded instead",
                 (unsigned long long)seq, m.build);
        return TMS_NOT_FOUND;
    }
    if (err == TMS_OK && sodium_memcmp(m.head, head, TMS_HASH_LEN)) {
        snprintf(why, sizeof why, "snapshot of seq %llu: its chain head is not the log's there (another log)",
                 (unsigned long long)seq);
        err = TMS_E_CORRUPT;
    }
    if (err == TMS_OK && (err = tms_state_snapshot_decode(payload, len, st, why, sizeof why)) != TMS_OK)
        err = err == TMS_E_NOMEM ? err : TMS_E_CORRUPT;
    free(payload);
    if (err == TMS_E_CORRUPT) {   /* never trusted again: kept as evidence, said in the open's report */
        tms_snapshot_set_aside(dir, seq);
        snprintf(said, saidlen, "%s; set aside (.bad), the log folded instead", why);
    } else if (err == TMS_OK && (tms_state_projection_digest(*st, 0, NULL, digest) != TMS_OK ||
                                 memcmp(digest, proj_digest, TMS_HASH_LEN))) {
        snprintf(said, saidlen, "the snapshot of seq %llu does not give the projection's digest: the log folded "
                 "instead", (unsigned long long)seq);   /* which of the two is wrong, the fold will say */
        err = TMS_E_CORRUPT;
    }
    if (err == TMS_OK)
        *time = m.time;
    else {
        tms_state_free(*st);
        *st = NULL;
    }
    return err;
}
