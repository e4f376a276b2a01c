/* wire.c -- framing for tmsd's protocol (see wire.h). The reader keeps at
 * most one maximal frame plus one read's worth of bytes: a client cannot grow
 * the daemon's memory by announcing or sending more. */
#include "wire.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tms_frame_reader_init(tms_frame_reader *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->max = max ? max : TMS_WIRE_MAX_FRAME;
}

void tms_frame_reader_free(tms_frame_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

uint8_t *tms_frame_reader_reserve(tms_frame_reader *r, size_t want, size_t *avail)
{
    if (r->start > 0 && (r->start == r->end || r->cap - r->end < want)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->cap - r->end < want) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap - r->end < want)
            cap *= 2;
        if (cap > r->max + TMS_WIRE_HEADER + want)
            cap = r->max + TMS_WIRE_HEADER + want;
        uint8_t *nb = realloc(r->buf, cap);
        if (!nb)
            return NULL;
        r->buf = nb;
        r->cap = cap;
    }
    *avail = r->cap - r->end;
    return r->buf + r->end;
}

void tms_frame_reader_commit(tms_frame_reader *r, size_t n)
{
    r->end += n;
}

tms_err tms_frame_reader_feed(tms_frame_reader *r, const void *data, size_t n)
{
    size_t avail;
    if (n == 0)
        return TMS_OK;
    uint8_t *p = tms_frame_reader_reserve(r, n, &avail);
    if (!p)
        return TMS_E_NOMEM;
    memcpy(p, data, n);
    tms_frame_reader_commit(r, n);
    return TMS_OK;
}

int tms_frame_reader_next(tms_frame_reader *r, const uint8_t **payload, size_t *len)
{
    size_t have = r->end - r->start;
    if (have < TMS_WIRE_HEADER)
        return 0;
    const uint8_t *p = r->buf + r->start;
    size_t n = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
    if (n > r->max)
        return -1;
    if (have - TMS_WIRE_HEADER < n)
        return 0;
    *payload = p + TMS_WIRE_HEADER;
    *len = n;
    r->start += TMS_WIRE_HEADER + n;
    return 1;
}

void tms_frame_begin(msgpack_sbuffer *sb)
{
    static const char zero[TMS_WIRE_HEADER];
    msgpack_sbuffer_clear(sb);
    msgpack_sbuffer_write(sb, zero, TMS_WIRE_HEADER);
}

tms_err tms_frame_seal(msgpack_sbuffer *sb, size_t max)
{
    if (!sb->data || sb->size < TMS_WIRE_HEADER)
        return TMS_E_NOMEM;
    size_t n = sb->size - TMS_WIRE_HEADER;
    if (n > (max ? max : TMS_WIRE_MAX_FRAME))
        return TMS_E_TOOBIG;
    uint8_t *p = (uint8_t *)sb->data;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    return TMS_OK;
}

const msgpack_object *tms_map_get(const msgpack_object *map, const char *key)
{
    size_t kl = strlen(key);
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl && memcmp(k->via.str.ptr, key, kl) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

const char *tms_map_str(const msgpack_object *map, const char *key, char *buf, size_t len)
{
    const msgpack_object *v = tms_map_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size >= len || memchr(v->via.str.ptr, 0, v->via.str.size))
        return NULL;
    memcpy(buf, v->via.str.ptr, v->via.str.size);
    buf[v->via.str.size] = '\0';
    return buf;
}

void tms_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void tms_pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    tms_pack_str(pk, k);
    tms_pack_str(pk, v);
}

int tms_token_read(const char *path, char *out, size_t cap, size_t *len, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)cap, f)) {
        snprintf(why, whylen, "cannot read token file %s", path);
        if (f)
            fclose(f);
        return -1;
    }
    int c = fgetc(f);
    fclose(f);
    size_t n = strcspn(out, "\r\n");
    if (!out[n] && c != EOF && c != '\n' && c != '\r') {   /* no end of line within the buffer */
        snprintf(why, whylen, "the token in %s is longer than %zu characters", path, cap - 2);
        return -1;
    }
    out[n] = '\0';
    *len = n;
    if (n < TMS_TOKEN_MIN) {
        snprintf(why, whylen, "the token in %s is shorter than %d characters", path, TMS_TOKEN_MIN);
        return -1;
    }
    return 0;
}
