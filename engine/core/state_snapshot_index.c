/* state_snapshot_index.c -- where an encoding's parts are (snapshot.h,
 * tms_snapshot_index), and the state digest, which goes by tenant.
 *
 * The digest of a state is not the hash of its encoding's bytes in one
 * stream but of its parts: the part before the tenants (the header and the
 * request ids of no tenant), then each tenant's part with its id and the
 * masks it uses, so that whoever holds a digest's parts can compute the
 * digest of a state that differs in a few tenants by hashing those alone
 * (tms-audit verify --since, after the records that touched them). The
 * encoding is a function of its parts: the count of tenants is theirs, the
 * catalogue trailer is the masks' (the index checks its bytes are exactly
 * that), so two encodings with one digest are one encoding.
 *
 * The index is found by walking the encoding, never by unpacking it: each
 * object's length (tms_msgpack_len), the tenant's counts, and the masks of
 * its roles and accounts read in place. Only the layout is checked here;
 * the decoder checks the rest (ids, order, references). */
#include "snapshot.h"
#include "mpsafe.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fewest bytes a tenant's part takes: [id, admin, nil, six counts] with one-byte ids. */
#define TENANT_MIN 12

typedef struct scan {
    const uint8_t *p;
    size_t len, off;
} scan;

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Skip one object: 0, or -1 when there is none within the bytes left. */
static int skip(scan *s)
{
    size_t n = tms_msgpack_len(s->p + s->off, s->len - s->off);
    if (!n)
        return -1;
    s->off += n;
    return 0;
}

/* An unsigned integer (any width msgpack-c packs one in) into *v. */
static int uint_at(scan *s, uint64_t *v)
{
    static const int width[] = {1, 2, 4, 8};
    if (s->off >= s->len)
        return -1;
    uint8_t t = s->p[s->off];
    if (t <= 0x7f) {
        *v = t;
        s->off++;
        return 0;
    }
    if (t < 0xcc || t > 0xcf || s->len - s->off < 1 + (size_t)width[t - 0xcc])
        return -1;
    *v = be(s->p + s->off + 1, width[t - 0xcc]);
    s->off += 1 + (size_t)width[t - 0xcc];
    return 0;
}

/* An array's header: its count into *n. */
static int array_at(scan *s, uint64_t *n)
{
    if (s->off >= s->len)
        return -1;
    uint8_t t = s->p[s->off];
    int w = t == 0xdc ? 2 : t == 0xdd ? 4 : 0;
    if ((t & 0xf0) != 0x90 && !w)
        return -1;
    if (s->len - s->off < 1 + (size_t)w)
        return -1;
    *n = w ? be(s->p + s->off + 1, w) : t & 15u;
    s->off += 1 + (size_t)w;
    return 0;
}

/* A string of at most max bytes into out (NUL-terminated). */
static int str_at(scan *s, char *out, size_t max)
{
    if (s->off >= s->len)
        return -1;
    uint8_t t = s->p[s->off];
    int w = t == 0xd9 ? 1 : t == 0xda ? 2 : t == 0xdb ? 4 : 0;
    if ((t & 0xe0) != 0xa0 && !w)
        return -1;
    if (s->len - s->off < 1 + (size_t)w)
        return -1;
    uint64_t n = w ? be(s->p + s->off + 1, w) : t & 31u;
    s->off += 1 + (size_t)w;
    if (n > max || n > s->len - s->off)
        return -1;
    memcpy(out, s->p + s->off, n);
    out[n] = '\0';
    s->off += n;
    return 0;
}

/* An array of `want` items opening an object, whose item `at` (and at + 1 when two) is a mask OR-ed into
 * masks[0] (and masks[1]); the rest skipped. */
static int masks_in(scan *s, uint64_t want, int at, int two, uint64_t masks[2])
{
    uint64_t n, m;
    if (array_at(s, &n) || n != want)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        if ((int)i == at || (two && (int)i == at + 1)) {
            if (uint_at(s, &m))
                return -1;
            masks[(int)i - at] |= m;
        } else if (skip(s)) {
            return -1;
        }
    }
    return 0;
}

/* One tenant's part: [id, admin, default_role, R, L, A, K, D, Q] and its R roles, L logins, A accounts, K
 * links, D distributions and Q request ids. */
static int tenant_at(scan *s, tms_snapshot_section *t)
{
    uint64_t n, count[6], masks[2] = {0, 0};
    t->off = s->off;
    if (array_at(s, &n) || n != 9 || str_at(s, t->tenant, TMS_ID_MAX) || skip(s) || skip(s))
        return -1;
    for (int k = 0; k < 6; k++)
        if (uint_at(s, &count[k]) || count[k] > s->len - s->off)
            return -1;
    for (uint64_t i = 0; i < count[0]; i++)   /* [id, account_kind, perms, creator] */
        if (masks_in(s, 4, 2, 0, masks))
            return -1;
    for (uint64_t i = 0; i < count[1]; i++)
        if (skip(s))
            return -1;
    for (uint64_t i = 0; i < count[2]; i++)   /* [kind, id, perms, features, tag, role, login] */
        if (masks_in(s, 7, 2, 1, masks))
            return -1;
    for (int k = 3; k < 6; k++)
        for (uint64_t i = 0; i < count[k]; i++)
            if (skip(s))
                return -1;
    t->len = s->off - t->off;
    t->perms_used = masks[0];
    t->features_used = masks[1];
    return 0;
}

static int fail(char *why, size_t whylen, const char *msg, size_t at)
{
    if (why && whylen)
        snprintf(why, whylen, "snapshot byte %zu: %s", at, msg);
    return -1;
}

/* The parts into ix; the trailer checked against the masks. */
static int index_of(scan *s, tms_snapshot_index *ix, char *why, size_t whylen)
{
    uint64_t n, perms = 0, features = 0;
    msgpack_sbuffer trailer;
    if (skip(s) || uint_at(s, &n) || n > s->len - s->off)
        return fail(why, whylen, "no header and count of request ids", s->off);
    for (uint64_t i = 0; i < n; i++)
        if (skip(s))
            return fail(why, whylen, "a request id of no tenant is not an object", s->off);
    ix->global_len = s->off;
    if (uint_at(s, &n) || n > s->len - s->off)
        return fail(why, whylen, "no count of tenants", s->off);
    /* its bytes are not hashed (the digest says the count): only its shortest form is an encoding's */
    if (s->off - ix->global_len != tms_snapshot_count_len(n))
        return fail(why, whylen, "the count of tenants is not in its shortest form", ix->global_len);
    if (n > (s->len - s->off) / TENANT_MIN)   /* (before an allocation the count sizes) */
        return fail(why, whylen, "more tenants counted than the bytes left hold", s->off);
    if (!(ix->tenants = calloc(n ? n : 1, sizeof *ix->tenants)))
        return -2;
    for (; ix->ntenants < n; ix->ntenants++) {
        tms_snapshot_section *t = &ix->tenants[ix->ntenants];
        if (tenant_at(s, t))
            return fail(why, whylen, "a tenant's part is not laid out as the format says", s->off);
        if (ix->ntenants && strcmp(ix->tenants[ix->ntenants - 1].tenant, t->tenant) >= 0)
            return fail(why, whylen, "the tenants are not in byte order of ids, each once", t->off);
        perms |= t->perms_used;
        features |= t->features_used;
    }
    ix->trailer_off = s->off;
    msgpack_sbuffer_init(&trailer);
    tms_err err = tms__snapshot_trailer(perms, features, &trailer);
    int same = !err && trailer.size == s->len - s->off && !memcmp(trailer.data, s->p + s->off, trailer.size);
    msgpack_sbuffer_destroy(&trailer);
    if (err)
        return err == TMS_E_NOMEM ? -2 : fail(why, whylen, "a mask uses a bit no catalogue names", s->off);
    return same ? 0 : fail(why, whylen, "the trailer is not the catalogue of the bits used, or bytes follow it", s->off);
}

tms_err tms_state_snapshot_index(const void *enc, size_t len, tms_snapshot_index *ix, char *why, size_t whylen)
{
    scan s = {enc, len, 0};
    memset(ix, 0, sizeof *ix);
    if (why && whylen)
        why[0] = '\0';
    int rc = index_of(&s, ix, why, whylen);
    if (rc) {
        tms_snapshot_index_free(ix);
        return rc == -2 ? TMS_E_NOMEM : TMS_E_CORRUPT;
    }
    return TMS_OK;
}

size_t tms_snapshot_count_len(uint64_t n)
{
    return n <= 0x7f ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : n <= 0xffffffffu ? 5 : 9;
}

const tms_snapshot_section *tms_snapshot_index_find(const tms_snapshot_index *ix, const char *tenant)
{
    for (size_t lo = 0, hi = ix->ntenants; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->tenants[mid].tenant, tenant);
        if (!c)
            return &ix->tenants[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void tms_snapshot_index_free(tms_snapshot_index *ix)
{
    free(ix->tenants);
    memset(ix, 0, sizeof *ix);
}

/* ---- the digest ---------------------------------------------------------------- */

#define DIGEST_TAG "tmsperm-state-digest/2"

static void put_le64(crypto_generichash_state *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    crypto_generichash_update(h, b, 8);
}

void tms_state_digest_begin(tms_state_digester *d, const uint8_t global[TMS_SNAPSHOT_DIGEST_LEN], uint64_t tenants)
{
    crypto_generichash_init(&d->h, NULL, 0, TMS_SNAPSHOT_DIGEST_LEN);
    crypto_generichash_update(&d->h, (const uint8_t *)DIGEST_TAG, sizeof DIGEST_TAG - 1);
    crypto_generichash_update(&d->h, global, TMS_SNAPSHOT_DIGEST_LEN);
    put_le64(&d->h, tenants);
}

void tms_state_digest_tenant(tms_state_digester *d, const char *id, const uint8_t part[TMS_SNAPSHOT_DIGEST_LEN],
                             uint64_t perms_used, uint64_t features_used)
{
    put_le64(&d->h, strlen(id));
    crypto_generichash_update(&d->h, (const uint8_t *)id, strlen(id));
    crypto_generichash_update(&d->h, part, TMS_SNAPSHOT_DIGEST_LEN);
    put_le64(&d->h, perms_used);
    put_le64(&d->h, features_used);
}

void tms_state_digest_end(tms_state_digester *d, uint8_t out[TMS_SNAPSHOT_DIGEST_LEN])
{
    crypto_generichash_final(&d->h, out, TMS_SNAPSHOT_DIGEST_LEN);
}

void tms_snapshot_part_hash(const void *bytes, size_t len, uint8_t out[TMS_SNAPSHOT_DIGEST_LEN])
{
    crypto_generichash(out, TMS_SNAPSHOT_DIGEST_LEN, bytes, len, NULL, 0);
}

void tms_snapshot_index_hash(const void *enc, tms_snapshot_index *ix)
{
    const uint8_t *p = enc;
    tms_snapshot_part_hash(p, ix->global_len, ix->global_hash);
    for (size_t i = 0; i < ix->ntenants; i++)
        tms_snapshot_part_hash(p + ix->tenants[i].off, ix->tenants[i].len, ix->tenants[i].hash);
}

void tms_snapshot_index_digest(const tms_snapshot_index *ix, uint8_t out[TMS_SNAPSHOT_DIGEST_LEN])
{
    tms_state_digester d;
    tms_state_digest_begin(&d, ix->global_hash, ix->ntenants);
    for (size_t i = 0; i < ix->ntenants; i++) {
        const tms_snapshot_section *t = &ix->tenants[i];
        tms_state_digest_tenant(&d, t->tenant, t->hash, t->perms_used, t->features_used);
    }
    tms_state_digest_end(&d, out);
}

tms_err tms_state_snapshot_digest(const void *enc, size_t len, uint8_t out[TMS_SNAPSHOT_DIGEST_LEN])
{
    tms_snapshot_index ix;
    tms_err err = tms_state_snapshot_index(enc, len, &ix, NULL, 0);
    if (err)
        return err;
    tms_snapshot_index_hash(enc, &ix);
    tms_snapshot_index_digest(&ix, out);
    tms_snapshot_index_free(&ix);
    return TMS_OK;
}
