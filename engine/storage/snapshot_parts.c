/* snapshot_parts.c -- a snapshot file's parts table (snapshot_parts.h). */
#include "snapshot_parts.h"
#include "log.h"
#include "log_format.h"
#include <stdlib.h>
#include <string.h>

_Static_assert(TMS_ID_MAX >= 1 && TMS_ID_MAX <= 255, "an id's length is one byte in the table");

#define ENTRY_FIXED (1 + 8 + TMS_SNAPSHOT_DIGEST_LEN + 8 + 8)   /* a tenant's entry, without its id */
#define TABLE_HEAD (8 + TMS_SNAPSHOT_DIGEST_LEN + 8)

tms_err tms__parts_table_encode(const tms_snapshot_index *ix, uint8_t **out, size_t *len)
{
    size_t n = TABLE_HEAD + TMS__PARTS_FOOTER;
    for (size_t i = 0; i < ix->ntenants; i++)
        n += ENTRY_FIXED + strlen(ix->tenants[i].tenant);
    uint8_t *t = malloc(n), *p = t;
    if (!t)
        return TMS_E_NOMEM;
    tms_put_le64(p, ix->global_len);
    memcpy(p + 8, ix->global_hash, TMS_SNAPSHOT_DIGEST_LEN);
    tms_put_le64(p + 8 + TMS_SNAPSHOT_DIGEST_LEN, ix->ntenants);
    p += TABLE_HEAD;
    for (size_t i = 0; i < ix->ntenants; i++) {
        const tms_snapshot_section *s = &ix->tenants[i];
        size_t idl = strlen(s->tenant);
        *p++ = (uint8_t)idl;
        memcpy(p, s->tenant, idl);
        p += idl;
        tms_put_le64(p, s->len);
        memcpy(p + 8, s->hash, TMS_SNAPSHOT_DIGEST_LEN);
        tms_put_le64(p + 8 + TMS_SNAPSHOT_DIGEST_LEN, s->perms_used);
        tms_put_le64(p + 16 + TMS_SNAPSHOT_DIGEST_LEN, s->features_used);
        p += ENTRY_FIXED - 1;
    }
    size_t tl = (size_t)(p - t);
    tms_put_le32(p, (uint32_t)tl);
    tms_put_le32(p + 4, tms_crc32c(0, t, tl));
    *out = t;
    *len = n;
    return TMS_OK;
}

/* One tenant's entry at t[*at..tlen) into s, its part placed at *off: 0, or why not. */
static const char *entry(const uint8_t *t, size_t tlen, size_t *at, uint64_t plen, uint64_t *off,
                         tms_snapshot_section *s)
{
    size_t idl = *at < tlen ? t[*at] : 0;
    if (*at >= tlen || idl == 0 || idl > TMS_ID_MAX || tlen - *at - 1 < idl + ENTRY_FIXED - 1)
        return "a tenant's entry is cut or its id's length is not an id's";
    memcpy(s->tenant, t + *at + 1, idl);
    s->tenant[idl] = '\0';
    if (memchr(s->tenant, '\0', idl))
        return "a tenant's id holds a NUL";
    const uint8_t *p = t + *at + 1 + idl;
    uint64_t len = tms_get_le64(p);
    if (len == 0 || len > plen - *off)
        return "a tenant's part lies beyond the payload";
    s->off = (size_t)*off;
    s->len = (size_t)len;
    memcpy(s->hash, p + 8, TMS_SNAPSHOT_DIGEST_LEN);
    s->perms_used = tms_get_le64(p + 8 + TMS_SNAPSHOT_DIGEST_LEN);
    s->features_used = tms_get_le64(p + 16 + TMS_SNAPSHOT_DIGEST_LEN);
    *off += len;
    *at += idl + ENTRY_FIXED;
    return NULL;
}

tms_err tms__parts_table_decode(const uint8_t *t, size_t tlen, uint64_t plen, tms_snapshot_index *ix,
                                const char **why)
{
    memset(ix, 0, sizeof *ix);
    *why = NULL;
    if (tlen < TABLE_HEAD)
        return *why = "its parts table is shorter than its head", TMS_E_CORRUPT;
    uint64_t glen = tms_get_le64(t), n = tms_get_le64(t + 8 + TMS_SNAPSHOT_DIGEST_LEN);
    if (n > (tlen - TABLE_HEAD) / (ENTRY_FIXED + 1))   /* before the allocation n sizes */
        return *why = "its parts table counts more tenants than it holds", TMS_E_CORRUPT;
    if (glen == 0 || glen > plen || tms_snapshot_count_len(n) > plen - glen)
        return *why = "its parts table places the part before the tenants beyond the payload", TMS_E_CORRUPT;
    if (!(ix->tenants = calloc(n ? n : 1, sizeof *ix->tenants)))
        return TMS_E_NOMEM;
    ix->global_len = (size_t)glen;
    memcpy(ix->global_hash, t + 8, TMS_SNAPSHOT_DIGEST_LEN);
    uint64_t off = glen + tms_snapshot_count_len(n);
    size_t at = TABLE_HEAD;
    for (; ix->ntenants < n; ix->ntenants++) {
        tms_snapshot_section *s = &ix->tenants[ix->ntenants];
        if ((*why = entry(t, tlen, &at, plen, &off, s)))
            break;
        if (ix->ntenants && strcmp(ix->tenants[ix->ntenants - 1].tenant, s->tenant) >= 0) {
            *why = "its parts table's tenants are not in byte order of ids, each once";
            break;
        }
    }
    if (!*why && at != tlen)
        *why = "bytes follow its parts table's last entry";
    if (!*why && off >= plen)
        *why = "its parts table leaves no room for the trailer";
    if (*why) {
        tms_snapshot_index_free(ix);
        return TMS_E_CORRUPT;
    }
    ix->trailer_off = (size_t)off;
    return TMS_OK;
}

int tms__parts_same(const tms_snapshot_index *a, const tms_snapshot_index *b)
{
    if (a->global_len != b->global_len || a->trailer_off != b->trailer_off || a->ntenants != b->ntenants ||
        memcmp(a->global_hash, b->global_hash, TMS_SNAPSHOT_DIGEST_LEN))
        return 0;
    for (size_t i = 0; i < a->ntenants; i++) {
        const tms_snapshot_section *x = &a->tenants[i], *y = &b->tenants[i];
        if (x->off != y->off || x->len != y->len || x->perms_used != y->perms_used ||
            x->features_used != y->features_used || strcmp(x->tenant, y->tenant) ||
            memcmp(x->hash, y->hash, TMS_SNAPSHOT_DIGEST_LEN))
            return 0;
    }
    return 1;
}
