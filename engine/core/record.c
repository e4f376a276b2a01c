/* record.c -- encode and decode log record payloads (see record.h).
 * The verdict is stored by its stable code name, never by enum value, so a
 * record stays readable whatever the enum becomes. */
#include "record.h"
#include "mpsafe.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static void pack_key(msgpack_packer *pk, const char *k)
{
    size_t n = strlen(k);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, k, n);
}

tms_err tms_record_encode(const tms_record *rec, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int by = rec->principal[0] || rec->peer[0];
    msgpack_pack_map(&pk, by ? 5 : 4);
    pack_key(&pk, "v");
    msgpack_pack_int(&pk, TMS_SCHEMA_VERSION);
    pack_key(&pk, "time");
    msgpack_pack_int64(&pk, rec->time);
    pack_key(&pk, "verdict");
    pack_key(&pk, rec->verdict == TMS_OK ? "accepted" : tms_err_name(rec->verdict));
    pack_key(&pk, "cmd");
    tms_cmd_pack(&rec->cmd, &pk);
    if (by) {   /* after cmd: readers that peek the tenant stop before it */
        pack_key(&pk, "by");
        msgpack_pack_map(&pk, 2);
        pack_key(&pk, "principal");
        pack_key(&pk, rec->principal);
        pack_key(&pk, "peer");
        pack_key(&pk, rec->peer);
    }
    return sb->data ? TMS_OK : TMS_E_NOMEM;
}

static int key_is(const msgpack_object *k, const char *lit)
{
    size_t n = strlen(lit);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, lit, n) == 0;
}

static int parse_verdict(const msgpack_object *o, tms_err *out)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return -1;
    if (key_is(o, "accepted")) {
        *out = TMS_OK;
        return 0;
    }
    for (int e = 1; e < TMS_ERR_COUNT; e++)
        if (tms_err_is_domain[e] && key_is(o, tms_err_codes[e])) {
            *out = (tms_err)e;
            return 0;
        }
    return -1;
}

/* Copy a short string value into out (cap bytes with the NUL). */
static int copy_value(const msgpack_object *o, char *out, size_t cap)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap || memchr(o->via.str.ptr, 0, o->via.str.size))
        return -1;
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return 0;
}

/* "by": {"principal": str, "peer": str}, both optional. */
static int parse_by(const msgpack_object *o, tms_record *rec)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return -1;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (key_is(&kv->key, "principal") ? copy_value(&kv->val, rec->principal, sizeof rec->principal)
            : key_is(&kv->key, "peer")    ? copy_value(&kv->val, rec->peer, sizeof rec->peer)
                                          : -1)
            return -1;
    }
    return 0;
}

tms_err tms_record_decode(tms_record *rec, const void *payload, size_t len, char *why, size_t whylen)
{
    return tms_record_decode_in(rec, payload, len, NULL, why, whylen);
}

tms_err tms_record_decode_in(tms_record *rec, const void *payload, size_t len, msgpack_zone *zone, char *why,
                             size_t whylen)
{
    tms_err err = TMS_E_CORRUPT;
    msgpack_zone own;
    msgpack_object top;
    size_t off = 0;
    const msgpack_object *cmd = NULL;
    int have = 0;
    rec->principal[0] = rec->peer[0] = '\0';
    if (!zone && !msgpack_zone_init(&own, MSGPACK_ZONE_CHUNK_SIZE))
        return TMS_E_NOMEM;
    msgpack_zone *z = zone ? zone : &own;
    msgpack_zone_clear(z);
    /* as msgpack_unpack_next did: bytes after the map are left (a record's frame is its CRC's and the chain's,
       and every version ever written decodes); any failure to unpack, nesting past msgpack's stack too (which
       it calls out of memory), is a corrupt payload */
    msgpack_unpack_return rc = tms_msgpack_sane(payload, len) ? msgpack_unpack(payload, len, &off, z, &top)
                                                              : MSGPACK_UNPACK_PARSE_ERROR;
    if ((rc != MSGPACK_UNPACK_SUCCESS && rc != MSGPACK_UNPACK_EXTRA_BYTES) || top.type != MSGPACK_OBJECT_MAP) {
        snprintf(why, whylen, "payload is not a msgpack map");
        goto done;
    }
    for (uint32_t i = 0; i < top.via.map.size; i++) {
        const msgpack_object_kv *kv = &top.via.map.ptr[i];
        if (key_is(&kv->key, "v") && kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            kv->val.via.u64 >= 1 && kv->val.via.u64 <= TMS_SCHEMA_VERSION) {
            rec->version = (int)kv->val.via.u64;
            have |= 1;
        } else if (key_is(&kv->key, "time") && (kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                                                kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER)) {
            rec->time = kv->val.via.i64;
            have |= 2;
        } else if (key_is(&kv->key, "verdict") && parse_verdict(&kv->val, &rec->verdict) == 0) {
            have |= 4;
        } else if (key_is(&kv->key, "cmd")) {
            cmd = &kv->val;
            have |= 8;
        } else if (key_is(&kv->key, "by") && parse_by(&kv->val, rec) != 0) {
            snprintf(why, whylen, "record's \"by\" is not {principal, peer} strings");
            goto done;
        }
    }
    if (have != 15 || rec->version < 1 || rec->version > TMS_SCHEMA_VERSION) {
        snprintf(why, whylen, "record lacks v/time/verdict/cmd or has unknown version");
        goto done;
    }
    char cwhy[200];
    err = tms_cmd_from_msgpack(&rec->cmd, cmd, cwhy, sizeof cwhy);
    if (err == TMS_INVALID_COMMAND) {
        snprintf(why, whylen, "logged command does not validate: %s", cwhy);
        err = TMS_E_CORRUPT;
    }
done:
    if (!zone)
        msgpack_zone_destroy(&own);
    return err;
}

/* ---- peeking ------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p, *end;
} cursor;

static int lit(cursor *c, const char *s)   /* a fixstr key equal to s */
{
    size_t n = strlen(s);
    if (c->end - c->p < (ptrdiff_t)(n + 1) || c->p[0] != (0xa0 | n) || memcmp(c->p + 1, s, n))
        return 0;
    c->p += n + 1;
    return 1;
}

static int str(cursor *c, const char **s, size_t *n)   /* fixstr or str8 */
{
    if (c->p >= c->end)
        return 0;
    size_t hdr = 1;
    if ((c->p[0] & 0xe0) == 0xa0) {
        *n = c->p[0] & 0x1f;
    } else if (c->p[0] == 0xd9 && c->end - c->p >= 2) {
        *n = c->p[1];
        hdr = 2;
    } else {
        return 0;
    }
    if ((size_t)(c->end - c->p) < hdr + *n)
        return 0;
    *s = (const char *)c->p + hdr;
    c->p += hdr + *n;
    return 1;
}

static int integer(cursor *c, int64_t *v)   /* any msgpack integer that fits an int64 */
{
    static const uint8_t widths[] = {1, 2, 4, 8};
    uint8_t b;
    if (c->p >= c->end)
        return 0;
    b = *c->p++;
    if (b <= 0x7f || b >= 0xe0) {
        *v = (int8_t)b;
        return 1;
    }
    if (b < 0xcc || b > 0xd3)
        return 0;
    int sgn = b >= 0xd0;
    size_t w = widths[(b - 0xcc) & 3];
    if ((size_t)(c->end - c->p) < w)
        return 0;
    uint64_t u = 0;
    for (size_t i = 0; i < w; i++)
        u = (u << 8) | c->p[i];
    c->p += w;
    if (sgn && w < 8 && (u >> (8 * w - 1)))
        u |= ~UINT64_C(0) << (8 * w);   /* sign-extend */
    if (!sgn && (u >> 63))
        return 0;
    *v = (int64_t)u;
    return 1;
}

int tms_record_peek(const void *payload, size_t len, const char **tenant, size_t *tlen, int64_t *time)
{
    cursor c = {payload, (const uint8_t *)payload + len};
    const char *s;
    size_t n;
    int64_t v;
    if (len < 1 || (*c.p != 0x84 && *c.p != 0x85) || (c.p++, !lit(&c, "v")) || !integer(&c, &v) || !lit(&c, "time") ||
        !integer(&c, time) || !lit(&c, "verdict") || !str(&c, &s, &n) || !lit(&c, "cmd") || c.p >= c.end)
        return 0;
    if ((*c.p & 0xf0) == 0x80)
        c.p++;
    else if (*c.p == 0xde && c.end - c.p >= 3)
        c.p += 3;
    else
        return 0;
    return lit(&c, "cmd") && str(&c, &s, &n) && lit(&c, "tenant") && str(&c, tenant, tlen);
}
