/* tool_verify_parts.c -- "tms-audit verify --since" over the tenants the
 * records after the receipt name (issue 18's target: a --since after 1%
 * more records in 5% of a full verify; docs/trust.md).
 *
 * Tenants are isolated by the rules: a record changes its own tenant's
 * part of the state and the request ids of no tenant, nothing else. So when
 * the state at N comes from FILE.state (its state digest the receipt's),
 * only the part before the tenants and the parts of the tenants records
 * N+1..M name are decoded (tms_state_snapshot_decode_parts), the records
 * replayed on them, and at M:
 *   - the state digest is composed from FILE.state's parts for the tenants
 *     no record named (their hashes and masks) and the named ones encoded
 *     again (snapshot.h: the digest goes by tenant);
 *   - the projection, at M, is compared by tenant
 *     (tms_projection_compare, store.h): the named tenants' projection
 *     digests at N noted before the first record that names each applies,
 *     FILE.state's recorded projection digest, the projection's tenant
 *     digests;
 *   - a kept snapshot at M is compared with the composed digest, its
 *     recorded projection digest with the projection's (the one that held);
 *   - with --receipt, R2.state is FILE.state's bytes with the named
 *     tenants' parts replaced.
 * Anything else -- an empty tail, a record whose tenant cannot be peeked, a
 * kept snapshot between N and M, the projection elsewhere than at M, more
 * tenants named than half of them (or 8) -- and --since decodes the whole
 * state as before. */
#include "tool_verify.h"
#include "tool_common.h"
#include "snapshot.h"
#include "record.h"
#include "log.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tool_parts {
    uint8_t *payload;                /* FILE.state's encoding (owned): whole, or (partial) the parts read */
    size_t len;
    int partial;                     /* only the named tenants' parts were read (tms_snapshot_read_file_parts) */
    tms_snapshot_index ix;           /* its parts, each hashed */
    char **named;                    /* the tenants records N+1..M name: sorted, each once */
    size_t nnamed;
    uint64_t last;                   /* M */
    uint8_t proj_at_n[TMS_HASH_LEN]; /* FILE.state's recorded projection digest (state only) */
    uint64_t unnamed;                /* a record whose decoded tenant the peek did not name (0: none) */
    tms_projection_compare *cmp;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void parts_free(struct tool_parts *p)
{
    if (!p)
        return;
    free(p->payload);
    tms_snapshot_index_free(&p->ix);
    for (size_t i = 0; i < p->nnamed; i++)
        free(p->named[i]);
    free(p->named);
    tms_projection_compare_free(p->cmp);
    free(p);
}

void tool_verify_parts_free(vstate *s)
{
    parts_free(s->parts);
    s->parts = NULL;
}

/* p->named sorted, each once: how many. */
static size_t sort_unique(struct tool_parts *p)
{
    size_t k = 0;
    if (p->nnamed)
        qsort(p->named, p->nnamed, sizeof *p->named, by_name);
    for (size_t i = 0; i < p->nnamed; i++)
        if (k && !strcmp(p->named[k - 1], p->named[i]))
            free(p->named[i]);
        else
            p->named[k++] = p->named[i];
    return p->nnamed = k;
}

#define NAMED_MAX 4096   /* tenants named by the tail: more, and the whole state is cheaper */

/* The tenants records from+1.. name, and the last seq, into p: 1, 0 when one cannot be peeked or there is
 * none, -1 out of memory. (The fold reads these frames again and checks them.) */
static int names_after(const char *logdir, uint64_t from, const tms_log_locator *at, struct tool_parts *p)
{
    tms_log_iter *it = NULL;
    tms_log_record lr;
    int has = 0, rc = 1;
    size_t cap = 0, resort = NAMED_MAX;
    if (tms_log_iter_open_at(logdir, from + 1, 0, at, &it, NULL) != TMS_OK)
        return 0;
    while (rc > 0 && tms_log_iter_next(it, &lr, &has) == TMS_OK && has) {
        const char *t;
        size_t tl;
        int64_t time;
        if (lr.seq <= from)
            continue;
        if (!tms_record_peek(lr.payload, lr.len, &t, &tl, &time) || tl == 0 || tl > TMS_ID_MAX) {
            rc = 0;
            break;
        }
        p->last = lr.seq;
        if (p->nnamed == cap) {
            char **v = realloc(p->named, (cap = cap ? 2 * cap : 64) * sizeof *v);
            if (!v) {
                rc = -1;
                break;
            }
            p->named = v;
        }
        if (!(p->named[p->nnamed] = strndup(t, tl)))
            rc = -1;
        else
            p->nnamed++;
        if (p->nnamed >= resort) {   /* the list kept short, sorted again when it doubled (not at every record) */
            if (sort_unique(p) >= NAMED_MAX)
                rc = 0;   /* thousands of tenants: the whole state is cheaper */
            resort = 2 * p->nnamed > NAMED_MAX ? 2 * p->nnamed : NAMED_MAX;
        }
    }
    tms_log_iter_close(it);
    sort_unique(p);
    return rc > 0 ? p->last > from : rc;   /* (an empty tail: nothing to spare) */
}

/* Before FILE.state is read: the tenants the tail names, into p. 1 when the path by tenant may go on, 0 when
 * not, -1 after a message (out of memory). */
static int plan(vstate *s, struct tool_parts *p)
{
    if (!s->since.has_proj)   /* (a /1 receipt is refused before this) */
        return 0;
    int rc = names_after(s->logdir, s->since.size, s->has_since_at ? &s->since_at : NULL, p);
    for (size_t i = 0; rc > 0 && i < s->nsnaps; i++)
        if (s->snaps[i] > s->since.size && s->snaps[i] < p->last)
            rc = 0;   /* a kept snapshot inside the tail: its projection digest wants the whole state there */
    return rc < 0 ? (tool_fail("out of memory"), -1) : rc;
}

/* FILE.state (m, payload[0..len), p->ix its parts, hashed, its digest m's) as the start: 1 taken (payload with
 * it), 0 not, -1 after a message. */
static int install(vstate *s, struct tool_parts *p, const tms_snapshot_meta *m, uint8_t *payload, size_t len)
{
    char why[300];
    tms_state *st = NULL;
    /* FILE.state's recorded projection digest stands for the tenants no record names: only when the receipt says
     * it too (its CRC binds it to nothing) */
    if (memcmp(s->since.proj, m->proj_digest, TMS_HASH_LEN) || m->seq != s->since.size)
        return 0;
    if (p->nnamed > (p->ix.ntenants / 2 > 8 ? p->ix.ntenants / 2 : 8))
        return 0;
    if (tms_projection_compare_new(p->ix.ntenants, &p->cmp) != TMS_OK)
        return tool_fail("out of memory"), -1;
    tms_err err = tms_state_snapshot_decode_parts(payload, len, &p->ix, (const char *const *)p->named, p->nnamed, &st,
                                                  why, sizeof why);
    if (err == TMS_E_NOMEM)
        return tool_fail("out of memory"), -1;
    if (err)
        return 0;   /* the whole decode says why */
    p->payload = payload;
    p->len = len;
    memcpy(p->proj_at_n, m->proj_digest, TMS_HASH_LEN);
    s->parts = p;
    s->start = st;
    return 1;
}

int tool_verify_parts_take(vstate *s, const tms_snapshot_meta *m, uint8_t *payload, size_t len,
                           tms_snapshot_index *ix)
{
    struct tool_parts *p = calloc(1, sizeof *p);
    if (!p)
        return tool_fail("out of memory"), -1;
    p->ix = *ix;   /* p's from here */
    memset(ix, 0, sizeof *ix);
    int rc = plan(s, p);
    if (rc > 0)
        rc = install(s, p, m, payload, len);
    if (rc <= 0)
        parts_free(p);
    return rc;
}

int tool_verify_parts_read(vstate *s, const char *path)
{
    char why[600], bad[700];
    uint8_t *payload = NULL;
    size_t len = 0;
    tms_snapshot_meta m;
    struct tool_parts *p = calloc(1, sizeof *p);
    if (!p)
        return tool_fail("out of memory"), -1;
    int rc = plan(s, p);
    tms_err err = rc > 0 ? tms_snapshot_read_file_parts(path, (const char *const *)p->named, p->nnamed, &m, &payload,
                                                         &len, &p->ix, why, sizeof why) : TMS_OK;
    if (err == TMS_E_NOMEM)
        rc = (tool_fail("out of memory"), -1);
    else if (err || (rc > 0 && tool_verify_state_disagrees(s, &m, bad, sizeof bad)))
        rc = 0;   /* read whole, it says why (or is taken: an earlier version's file, without a table) */
    if (rc > 0 && (rc = install(s, p, &m, payload, len)) > 0)
        p->partial = 1;
    if (rc <= 0) {
        free(payload);
        parts_free(p);
    }
    return rc;
}

int tool_verify_parts_fits(vstate *s, tms_state **st)
{
    char why[400];
    struct tool_parts *p = s->parts;
    if (!p)
        return 0;
    tool_verify_proj_settle(s);
    if (s->proj && s->pseq == p->last && !s->damaged[0])
        return 0;
    /* the projection elsewhere (behind, at N, ahead, absent or damaged): the whole state, as before (read whole
     * first when only parts were: its digest checked against the receipt's again) */
    tms_state *whole = NULL;
    tms_err err = TMS_OK;
    if (p->partial) {
        tms_snapshot_meta m;
        free(p->payload);
        p->payload = NULL;
        err = tms_snapshot_read_file(s->from, &m, &p->payload, &p->len, why, sizeof why);
        if (!err && memcmp(m.digest, s->since.state, TMS_HASH_LEN)) {
            snprintf(why, sizeof why, "%.200s changed meanwhile: its state digest is no longer the receipt's", s->from);
            err = TMS_E_CORRUPT;
        }
    }
    if (!err)
        err = tms_state_snapshot_decode(p->payload, p->len, &whole, why, sizeof why);
    tool_verify_parts_free(s);
    if (err)
        return tool_fail("verify --since: the receipt's state does not read or decode: %s", why);
    tms_state_free(*st);
    *st = whole;
    return 0;
}

tms_err tool_verify_parts_before(void *ctx, const tms_state *st, const tms_record *rec)
{
    vstate *s = ctx;
    struct tool_parts *p = s->parts;
    const char *t = TMS_CMD_STR(&rec->cmd, TMS_F_TENANT);
    if (!t || !bsearch(&t, p->named, p->nnamed, sizeof *p->named, by_name)) {
        p->unnamed = rec->seq;   /* decoded otherwise than peeked (a key given twice...): no verdict here */
        tool_warn("verify --since: record %" PRIu64 " decodes to a tenant its layout does not show (a key given "
                  "twice?): run a full verify", rec->seq);
        return TMS_E_INVAL;
    }
    return tms_projection_compare_note(p->cmp, st, t);
}

uint64_t tool_verify_parts_last(const vstate *s)
{
    return s->parts ? s->parts->last : 0;
}

void tool_verify_parts_record(vstate *s, const tms_fold_event *ev)
{
    tms_projection_compare_covers(s->parts->cmp, ev->effects, ev->neffects);
}

/* The state at M's digest into digest, composed from FILE.state's parts for the tenants no record named and
 * the named ones as st holds them; with out, the encoding too (FILE.state's bytes, the named parts
 * replaced). TMS_OK or an encoder's error. */
static tms_err compose(const struct tool_parts *p, const tms_state *st, uint8_t digest[TMS_HASH_LEN],
                       msgpack_sbuffer *out)
{
    if (out && p->partial)
        return TMS_E_INVAL;   /* the untouched parts were not read (only --receipt asks for them: never partial) */
    return tms_state_snapshot_compose(p->payload, &p->ix, st, (const char *const *)p->named, p->nnamed, digest, out);
}

/* The kept snapshot at M against the composed state: its chain head, time, state digest, and its recorded
 * projection digest against the projection's (which the by-tenant compare found to be the state's). */
static void snapshot_at_end(vstate *s, const uint8_t digest[TMS_HASH_LEN], const uint8_t sproj[TMS_HASH_LEN])
{
    char why[400];
    uint8_t *payload = NULL;
    size_t len;
    tms_snapshot_meta m;
    tms_err err = tms_snapshot_read(s->datadir, s->last_seq, &m, &payload, &len, why, sizeof why);
    free(payload);
    if (err && err != TMS_NOT_FOUND)
        tool_verify_failure(s, "snapshot", s->last_seq, NULL, 0, why);
    if (err || m.schema != TMS_SCHEMA_VERSION || strcmp(m.build, tms_version()))
        return;   /* pruned meanwhile, or another version's: not compared (as a full verify) */
    if (memcmp(m.head, s->head, TMS_HASH_LEN) || m.time != s->last_time)
        tool_verify_failure(s, "snapshot", m.seq, NULL, 0, "a snapshot's chain head or time is not the log's at its seq");
    else if (memcmp(m.digest, digest, TMS_HASH_LEN))
        tool_verify_failure(s, "snapshot", m.seq, NULL, 0, "a snapshot's state differs from a replay of the log to its seq");
    else if (memcmp(m.proj_digest, sproj, TMS_HASH_LEN))
        tool_verify_failure(s, "snapshot", m.seq, NULL, 0, "a snapshot's projection digest is not that of its state (the "
                            "replay's at its seq): the snapshot was altered");
    else
        s->snaps_checked++;
}

int tool_verify_parts_end(vstate *s, const tms_state *st)
{
    struct tool_parts *p = s->parts;
    uint8_t digest[TMS_HASH_LEN], sproj[TMS_HASH_LEN];
    msgpack_sbuffer out;
    int differs = 1;
    if (s->last_seq != p->last)
        return tool_fail("verify --since: the log ends at seq %" PRIu64 ", not %" PRIu64 " as read before the fold: "
                         "a writer appended meanwhile; run it again", s->last_seq, p->last);
    if (tms_projection_compare_whole(p->cmp))
        return tool_fail("verify --since: a record changed a tenant it does not name (no rule does): run a full "
                         "verify");
    tms_err err = tms_projection_compare_at(p->cmp, st, &s->ptenants, p->proj_at_n, &differs);
    if (!err)
        err = tms_tenant_digests_combine(&s->ptenants, sproj);
    if (err)
        return tool_fail("verify --since: %s", tms_strerror(err));
    s->proj_compared = 1;
    if (differs) {
        tool_verify_failure(s, "digest", s->pseq, NULL, 0, "the projection's digest differs from a fresh replay of the log");
        return 0;
    }
    uint8_t with_meta[TMS_HASH_LEN];
    if ((err = tms_tenant_digests_combine_meta(&s->ptenants, s->pseq, s->phead, with_meta)))
        return tool_fail("verify --since: %s", tms_strerror(err));
    if (memcmp(with_meta, s->pdigest, TMS_HASH_LEN)) {   /* its tenants held; its meta does not */
        tool_verify_failure(s, "digest", s->pseq, NULL, 0, "the projection's digest differs from a fresh replay of the log");
        return 0;
    }
    memcpy(s->digest, s->pdigest, TMS_HASH_LEN);   /* the replayed state's, with meta: the projection's, found equal */
    s->digest_done = 1;
    msgpack_sbuffer_init(&out);
    if ((err = compose(p, st, digest, s->want_state ? &out : NULL))) {
        msgpack_sbuffer_destroy(&out);
        return tool_fail("verify --since: cannot encode the state: %s", tms_strerror(err));
    }
    if (s->nsnaps && s->snaps[s->nsnaps - 1] == s->last_seq)
        snapshot_at_end(s, digest, sproj);
    if (s->want_state) {
        memcpy(s->state_digest, digest, TMS_HASH_LEN);
        memcpy(s->end_sproj, sproj, TMS_HASH_LEN);
        s->end_len = out.size;
        s->end_enc = msgpack_sbuffer_release(&out);
        s->end_done = 1;
    }
    msgpack_sbuffer_destroy(&out);
    s->tenants_replayed = p->nnamed;
    return 0;
}
