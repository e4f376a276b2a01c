/* history_tally.c -- the as-of index (history.h) a log makes, tallied as a
 * fold goes on instead of written, and the same tally of an index in a
 * projection. tms-audit verify compares the two; it used to write a scratch
 * index from the log and digest it (a third of its time).
 *
 * tms_history_digest hashes the index entry by entry in key order; a fold
 * meets the entries in seq order, so only a written index can give it. The
 * tally is a digest of the index as a set of entries, in no order: per
 * database (versions, dist_at, visible_at, changes, times) the number of
 * entries and their sum mod 2^128 of
 *
 *     F(entry) = SipHash-2-4-128 under the key of
 *                ('E' || db || le64(key length) || key || value)
 *
 * (a value over INLINE_MAX bytes goes in as its BLAKE2b-256, its length
 * said in a flag byte), the tally being the BLAKE2b-256 of the five (count,
 * sum) pairs. This is the MSet-Add-Hash of Clarke et al. ("Incremental
 * multiset hash functions", 2003): with a key nobody who wrote the index
 * knows (the comparer draws one at random after the index was written, and
 * shows it to no one: tms-audit verify draws one per run), two different
 * sets of entries tally equal with probability ~2^-128; without the key, no
 * one can aim at that. A sum also lets the fold change its mind as the
 * index does: an interval opened is added as (member, from, until now),
 * and when it closes that entry is taken out again and (member, from,
 * until) put in. A cryptographic hash per entry, or sorting the fold's
 * entries into key order, cost more than the scratch index this replaces.
 *
 * The fold's side keeps a table of 32-byte slots, ~2 per entity ever
 * written (its keyed 128-bit identity, and its last value's, for
 * put_version's "unchanged" test) and per (object, manager) pair ever
 * distributed (its identity, and the seq its open interval began at): ~50
 * MB for a million of them. Per distinct record time, 16 bytes (the times
 * index keeps a time's last seq; times can go back). The changes of a
 * record are summed as they come, each once. */
#include "history.h"
#include "history_batch.h"
#include "relay.h"
#include "store_internal.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define UNTIL_NOW UINT64_MAX
#define NONE_OPEN UINT64_MAX
#define NDBS (TMS_DB_TIMES - TMS_DB_VERSIONS + 1)   /* versions, dist_at, visible_at, changes, times */
#define INLINE_MAX 1024   /* a value up to this goes into F as it is (the index's are < 900 bytes) */
#define CHUNK 8192        /* records the fold hands the worker at a time */

typedef struct sum {
    uint64_t count, lo, hi;   /* entries; their F's sum mod 2^128 */
} sum;

/* An entity (its last value's keyed hash) or a (key, member) pair (the seq
 * its open interval began at, NONE_OPEN) under its keyed identity; an
 * identity of zeros is an empty slot. */
typedef struct slot {
    uint64_t id[2];
    uint64_t pay[2];
} slot;

typedef struct time_seq {
    uint64_t time, seq;
} time_seq;

struct tms_history_tally {
    uint8_t key[TMS_HISTORY_TALLY_KEY];   /* SipHash's, for F, identities and values */
    sum sums[NDBS];
    slot *slots;
    size_t cap, n;
    size_t want_cap;        /* tms_history_tally_reserve's, for the worker to make (0: none) */
    time_seq *times;
    size_t ntimes, captimes;
    int unsorted;           /* a record time earlier than the one before */
    struct member {          /* the change set of the record being added (in its batch) */
        const char *p;
        size_t n;
    } *members;
    size_t nmembers, capmembers;
    tms_err err;            /* the fold's side: the first failure, its own or the worker's; kept */
    /* The fold's thread records each record's operations (tms_history_record,
     * from the state as it is then) into filling; every CHUNK records the
     * batch goes to the worker, which sums it (all above but err) while the
     * fold fills the other. */
    tms_history_batch filling, chunk;
    uint64_t in_filling;
    tms__relay relay;   /* its work: tally_chunk of chunk */
};

/* ---- F, and the sums ------------------------------------------------------------ */

/* F of (db, key k[0..klen) + k2[0..k2len), value) into out[2]. */
static void entry_f(const uint8_t *key, int db, const void *k, size_t klen, const void *k2, size_t k2len,
                    const void *v, size_t vlen, uint64_t out[2])
{
    uint8_t buf[3 + 8 + 2 * TMS__KEY_MAX + 2 * TMS_ID_MAX + INLINE_MAX];
    uint64_t kl = klen + k2len;
    size_t n = 0;
    if (kl > 2 * TMS__KEY_MAX + 2 * TMS_ID_MAX) {   /* a key no index has: F of its hash, flagged */
        crypto_generichash_state h;
        crypto_generichash_init(&h, NULL, 0, TMS_HASH_LEN);
        crypto_generichash_update(&h, k, klen);
        crypto_generichash_update(&h, k2, k2len);
        crypto_generichash_final(&h, buf + 11, TMS_HASH_LEN);
        k = buf + 11;
        klen = TMS_HASH_LEN;
        k2len = 0;
    }
    buf[n++] = 'E';
    buf[n++] = (uint8_t)db;
    buf[n++] = (uint8_t)(kl > 2 * TMS__KEY_MAX + 2 * TMS_ID_MAX) | (uint8_t)(vlen > INLINE_MAX) << 1;
    memcpy(buf + n, &kl, 8);
    n += 8;
    memmove(buf + n, k, klen);
    n += klen;
    memcpy(buf + n, k2, k2len);
    n += k2len;
    if (vlen > INLINE_MAX) {
        crypto_generichash(buf + n, TMS_HASH_LEN, v, vlen, NULL, 0);
        n += TMS_HASH_LEN;
    } else {
        memcpy(buf + n, v, vlen);
        n += vlen;
    }
    crypto_shorthash_siphashx24((uint8_t *)out, buf, n, key);
}

static void sum_add(sum *s, const uint64_t f[2])
{
    s->lo += f[0];
    s->hi += f[1] + (s->lo < f[0]);
    s->count++;
}

static void sum_sub(sum *s, const uint64_t f[2])
{
    uint64_t lo = s->lo;
    s->lo -= f[0];
    s->hi -= f[1] + (lo < f[0]);
    s->count--;
}

static sum *sum_of(tms_history_tally *t, int db)
{
    return &t->sums[db - TMS_DB_VERSIONS];
}

static void tally_of(const sum sums[NDBS], uint8_t out[TMS_HASH_LEN])
{
    crypto_generichash(out, TMS_HASH_LEN, (const uint8_t *)sums, NDBS * sizeof *sums, NULL, 0);
}

/* ---- the table of entities and pairs ---------------------------------------------- */

/* The table rehashed into cap slots (a power of two above twice its
 * members): 0, or -1 out of memory (the table unchanged). */
static int resize(tms_history_tally *t, size_t cap)
{
    slot *slots = tms__big_alloc(cap * sizeof *slots);   /* probed at random: huge pages spare the TLB */
    if (!slots)
        return -1;
    memset(slots, 0, cap * sizeof *slots);
    for (size_t i = 0; i < t->cap; i++) {
        if (!(t->slots[i].id[0] | t->slots[i].id[1]))
            continue;
        size_t j = t->slots[i].id[0] & (cap - 1);
        while (slots[j].id[0] | slots[j].id[1])
            j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

static int grow(tms_history_tally *t)
{
    return resize(t, t->cap ? 2 * t->cap : 4096);
}

/* The slot of (db, a, b): the one holding its identity, or (make) the empty
 * one where it goes, *found saying which; NULL when out of memory. */
static slot *find(tms_history_tally *t, int db, const char *a, size_t alen, const char *b, size_t blen,
                  int make, int *found)
{
    uint8_t kb[2 + TMS__KEY_MAX + 1 + TMS_ID_MAX + 2];
    uint64_t id[2];
    kb[0] = 'I';
    kb[1] = (uint8_t)db;
    memcpy(kb + 2, a, alen);
    kb[2 + alen] = '\0';
    memcpy(kb + 3 + alen, b, blen);
    crypto_shorthash_siphashx24((uint8_t *)id, kb, 3 + alen + blen, t->key);
    if (make && 2 * (t->n + 1) > t->cap && grow(t))
        return NULL;
    *found = 0;
    if (!t->cap)
        return NULL;
    size_t i = id[0] & (t->cap - 1);
    for (; t->slots[i].id[0] | t->slots[i].id[1]; i = (i + 1) & (t->cap - 1))
        if (t->slots[i].id[0] == id[0] && t->slots[i].id[1] == id[1]) {
            *found = 1;
            return &t->slots[i];
        }
    if (!make)
        return NULL;
    t->slots[i].id[0] = id[0];
    t->slots[i].id[1] = id[1];
    t->n++;
    return &t->slots[i];
}

/* ---- one record's operations, as tms_history_apply would write them -------------- */

static tms_err member_add(tms_history_tally *t, const char *m, size_t mlen)
{
    if (t->nmembers == t->capmembers) {
        size_t cap = t->capmembers ? 2 * t->capmembers : 16;
        struct member *ms = realloc(t->members, cap * sizeof *ms);
        if (!ms)
            return TMS_E_NOMEM;
        t->members = ms;
        t->capmembers = cap;
    }
    t->members[t->nmembers++] = (struct member){m, mlen};
    return TMS_OK;
}

/* put_version: a version unless it equals the entity's last one (or
 * deletes what never was), then its change noted. */
static tms_err version(tms_history_tally *t, uint64_t seq, const char *key, size_t klen, const char *v,
                       size_t vlen, const char *m, size_t mlen)
{
    uint64_t last[2], f[2];
    uint8_t suffix[TMS__SEQ_SUFFIX];
    int found;
    if (klen > TMS__KEY_MAX)
        return TMS_E_INVAL;
    slot *e = find(t, TMS_DB_VERSIONS, key, klen, "", 0, vlen > 0, &found);
    if (!e && vlen)
        return TMS_E_NOMEM;
    if (!e)
        return TMS_OK;   /* the deletion of what never was */
    crypto_shorthash_siphashx24((uint8_t *)last, (const uint8_t *)v, vlen, t->key);
    if (found && e->pay[0] == last[0] && e->pay[1] == last[1])
        return TMS_OK;   /* unchanged */
    e->pay[0] = last[0];
    e->pay[1] = last[1];
    suffix[0] = '\0';
    tms__put_be64(suffix + 1, seq);
    entry_f(t->key, TMS_DB_VERSIONS, key, klen, suffix, sizeof suffix, v, vlen, f);
    sum_add(sum_of(t, TMS_DB_VERSIONS), f);
    return mlen ? member_add(t, m, mlen) : TMS_OK;
}

/* F of an interval's entry: (key, member '\0' be64(from) be64(until)). */
static void interval_f(tms_history_tally *t, int db, const char *key, size_t klen, const char *m, size_t mlen,
                       uint64_t from, uint64_t until, uint64_t f[2])
{
    uint8_t v[TMS_ID_MAX + 2 + 16];
    memcpy(v, m, mlen);
    v[mlen] = '\0';
    tms__put_be64(v + mlen + 1, from);
    tms__put_be64(v + mlen + 9, until);
    entry_f(t->key, db, key, klen, "", 0, v, mlen + 17, f);
}

/* interval: one opened (until now), or the open one closed (dropped when
 * the same record opened it). A second open of a pair still open is what
 * no rule makes. */
static tms_err interval(tms_history_tally *t, int db, int open, uint64_t seq, const char *key, size_t klen,
                        const char *m, size_t mlen)
{
    uint64_t f[2];
    int found;
    if (mlen > TMS_ID_MAX + 1 || klen > TMS__KEY_MAX || (db != TMS_DB_DIST_AT && db != TMS_DB_VISIBLE_AT))
        return TMS_E_INVAL;
    slot *p = find(t, db, key, klen, m, mlen, open, &found);
    if (open) {
        if (!p)
            return TMS_E_NOMEM;
        if (found && p->pay[0] != NONE_OPEN)
            return TMS_E_CORRUPT;
        p->pay[0] = seq;
        interval_f(t, db, key, klen, m, mlen, seq, UNTIL_NOW, f);
        sum_add(sum_of(t, db), f);
        return TMS_OK;
    }
    if (!p || p->pay[0] == NONE_OPEN)
        return TMS_OK;   /* nothing open: nothing to close */
    interval_f(t, db, key, klen, m, mlen, p->pay[0], UNTIL_NOW, f);
    sum_sub(sum_of(t, db), f);
    if (p->pay[0] != seq) {
        interval_f(t, db, key, klen, m, mlen, p->pay[0], seq, f);
        sum_add(sum_of(t, db), f);
    }
    p->pay[0] = NONE_OPEN;
    return TMS_OK;
}

static tms_err time_add(tms_history_tally *t, uint64_t time, uint64_t seq)
{
    if (t->ntimes && t->times[t->ntimes - 1].time == time) {
        t->times[t->ntimes - 1].seq = seq;
        return TMS_OK;
    }
    if (t->ntimes == t->captimes) {
        size_t cap = t->captimes ? 2 * t->captimes : 4096;
        time_seq *ts = realloc(t->times, cap * sizeof *ts);
        if (!ts)
            return TMS_E_NOMEM;
        t->times = ts;
        t->captimes = cap;
    }
    if (t->ntimes && time < t->times[t->ntimes - 1].time)
        t->unsorted = 1;
    t->times[t->ntimes++] = (time_seq){time, seq};
    return TMS_OK;
}

static tms_err tally_one(tms_history_tally *t, const tms__batch_op *o)
{
    switch (o->op) {
    case 'T':
        return time_add(t, o->time, o->seq);
    case 'V':
        return version(t, o->seq, o->key, o->klen, o->val, o->vlen, o->member, o->mlen);
    case 'I':
        return interval(t, o->db, o->open, o->seq, o->key, o->klen, o->member, o->mlen);
    default:
        return member_add(t, o->member, o->mlen);
    }
}

static int cmp_member(const void *x, const void *y)
{
    const struct member *a = x, *b = y;
    int c = memcmp(a->p, b->p, a->n < b->n ? a->n : b->n);
    return c ? c : (a->n > b->n) - (a->n < b->n);
}

/* The record's change set into the changes' sum, each member once (the
 * database keeps a record's members as a set; a role's update can change
 * thousands). */
static void changes_flush(tms_history_tally *t, uint64_t seq)
{
    uint8_t k[8];
    uint64_t f[2];
    tms__put_be64(k, seq);
    if (t->nmembers > 1)
        qsort(t->members, t->nmembers, sizeof *t->members, cmp_member);
    for (size_t i = 0; i < t->nmembers; i++) {
        if (i && !cmp_member(&t->members[i - 1], &t->members[i]))
            continue;
        entry_f(t->key, TMS_DB_CHANGES, k, sizeof k, "", 0, t->members[i].p, t->members[i].n, f);
        sum_add(sum_of(t, TMS_DB_CHANGES), f);
    }
    t->nmembers = 0;
}

/* The worker's work: a chunk of records' operations, each record opened by
 * its 'T' (time, seq). */
static tms_err tally_chunk(tms_history_tally *t, const tms_history_batch *b)
{
    tms__batch_reader r = {b->buf, b->buf + b->len};
    tms__batch_op o;
    uint64_t seq = 0;
    tms_err err = TMS_OK;
    t->nmembers = 0;
    while (!err && r.p < r.end) {
        if (tms__batch_next(&r, &o))
            return TMS_E_CORRUPT;
        if (o.op == 'T' && seq)   /* a record begins: the one before is whole */
            changes_flush(t, seq);
        seq = o.seq;
        err = tally_one(t, &o);
    }
    if (!err && seq)
        changes_flush(t, seq);
    return err;
}

static tms_err relay_work(void *ctx, int final)
{
    tms_history_tally *t = ctx;
    (void)final;
    if (t->want_cap > t->cap)   /* the reserve, made here: its pages zeroed off the fold's thread */
        (void)resize(t, t->want_cap);   /* refused: the table grows as it fills */
    t->want_cap = 0;
    return tally_chunk(t, &t->chunk);
}

/* filling to the worker, once it is done with the chunk before; the
 * worker's failure so far, or TMS_OK. */
static tms_err hand_over(tms_history_tally *t)
{
    tms_err err = tms__relay_wait(&t->relay);
    if (!err) {
        tms_history_batch b = t->chunk;
        t->chunk = t->filling;
        t->filling = b;
        err = tms__relay_post(&t->relay, 0);
    }
    tms_history_batch_clear(&t->filling);
    t->in_filling = 0;
    return err;
}

/* The last chunk handed over, the worker stopped: its failure, or TMS_OK. */
static tms_err finish(tms_history_tally *t)
{
    tms_err err = t->in_filling && !t->err ? hand_over(t) : TMS_OK;   /* after a failure the batch may be cut */
    tms_err werr = tms__relay_stop(&t->relay);
    return err ? err : werr;
}

tms_err tms_history_tally_new(const uint8_t key[TMS_HISTORY_TALLY_KEY], tms_history_tally **out)
{
    tms_history_tally *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return TMS_E_NOMEM;
    if (tms__relay_init(&t->relay, relay_work, t)) {
        free(t);
        return TMS_E_NOMEM;
    }
    memcpy(t->key, key, sizeof t->key);
    tms_history_batch_init(&t->filling);
    tms_history_batch_init(&t->chunk);
    *out = t;
    return TMS_OK;
}

tms_err tms_history_tally_reserve(tms_history_tally *t, uint64_t records)
{
    if (records > (uint64_t)SIZE_MAX / (4 * sizeof(slot)))   /* cap below 4 * records slots: no overflow */
        return TMS_E_NOMEM;
    if (tms__relay_wait(&t->relay))   /* the table is the worker's: once it is idle, read here */
        return TMS_OK;                /* (a kept failure: every add returns it, nothing to make room for) */
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < 2 * records)
        cap *= 2;
    t->want_cap = cap > t->cap ? cap : 0;   /* made by the worker, before its next chunk */
    return TMS_OK;
}

size_t tms__history_tally_capacity(const tms_history_tally *t)
{
    return t->cap;
}

tms_err tms_history_tally_add(tms_history_tally *t, const tms_state *st, uint64_t seq, int64_t time,
                              const tms_effect *effs, size_t n)
{
    if (t->err)
        return t->err;
    if ((t->err = tms_history_record(&t->filling, st, seq, time, effs, n)))
        return t->err;
    if (++t->in_filling >= CHUNK)
        t->err = hand_over(t);
    return t->err;
}

static int cmp_time(const void *x, const void *y)
{
    const time_seq *a = x, *b = y;
    return a->time != b->time ? (a->time > b->time) - (a->time < b->time) : (a->seq > b->seq) - (a->seq < b->seq);
}

tms_err tms_history_tally_end(tms_history_tally *t, uint8_t out[TMS_HASH_LEN])
{
    tms_err err = finish(t);
    if (!t->err)
        t->err = err;
    if (t->err)
        return t->err;
    if (t->unsorted)
        qsort(t->times, t->ntimes, sizeof *t->times, cmp_time);
    for (size_t i = 0; i < t->ntimes; i++) {
        uint8_t k[8];
        uint64_t f[2];
        if (i + 1 < t->ntimes && t->times[i + 1].time == t->times[i].time)
            continue;   /* the last seq stamped at a time is the one kept */
        tms__put_be64(k, t->times[i].time);
        entry_f(t->key, TMS_DB_TIMES, k, sizeof k, "", 0, &t->times[i].seq, 8, f);
        sum_add(sum_of(t, TMS_DB_TIMES), f);
    }
    t->ntimes = 0;
    tally_of(t->sums, out);
    return TMS_OK;
}

void tms_history_tally_free(tms_history_tally *t)
{
    if (!t)
        return;
    t->in_filling = 0;   /* a tally not ended: what the fold filled is not summed */
    tms__relay_destroy(&t->relay);
    free(t->slots);
    free(t->times);
    free(t->members);
    tms_history_batch_free(&t->filling);
    tms_history_batch_free(&t->chunk);
    free(t);
}

/* ---- the same tally of an index in LMDB ------------------------------------------ */

tms_err tms_history_tally_index(tms_txn *tx, const uint8_t key[TMS_HISTORY_TALLY_KEY], uint8_t out[TMS_HASH_LEN])
{
    sum sums[NDBS];
    memset(sums, 0, sizeof sums);
    for (int db = TMS_DB_VERSIONS; db <= TMS_DB_TIMES; db++) {
        MDB_cursor *cur;
        MDB_val k, v;
        uint64_t f[2];
        int rc = mdb_cursor_open(tx->txn, tx->st->dbi[db], &cur);
        if (rc)
            return tms__store_err(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            entry_f(key, db, k.mv_data, k.mv_size, "", 0, v.mv_data, v.mv_size, f);
            sum_add(&sums[db - TMS_DB_VERSIONS], f);
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND)
            return tms__store_err(rc);
    }
    tally_of(sums, out);
    return TMS_OK;
}
