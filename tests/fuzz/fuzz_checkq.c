/* fuzz_checkq.c -- libFuzzer target: the checks a lookup asks, as tmsd
 * receives them (engine/protocol/checkq.c). The same bytes go
 *   - to tms_query_control as an HTTP query string, compared with a
 *     reference: decode the string as tmsd does ('%' and two hex digits,
 *     '+' a space) and look for a byte below 0x20 or 0x7f;
 *   - to tms_checkq_msgpack, each element of a msgpack array (after
 *     tms_msgpack_sane, as tmsd's frames);
 *   - to tms_checkq_json, each element of a JSON array.
 * An accepted entry must have four fields without a control character, each
 * the source string when it fits and "" when it does not; a refused one a
 * reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "checkq.h"
#include "mpsafe.h"

static int has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 1;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The reference: does tmsd's decoding of s[0..n) hold a control character? */
static int decoded_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (unsigned char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return 1;
    }
    return 0;
}

/* q against the source strings (NULL: not known here, only the rules). */
static void check_fields(const tms_checkq *q, const char *const src[4], const size_t len[4])
{
    const char *f[4] = {q->tenant, q->kind, q->id, q->name};
    const size_t cap[4] = {sizeof q->tenant, sizeof q->kind, sizeof q->id, sizeof q->name};
    for (int i = 0; i < 4; i++) {
        size_t n = strnlen(f[i], cap[i]);
        if (n == cap[i] || has_control(f[i], n))
            abort();
        if (src && (len[i] < cap[i] ? n != len[i] || memcmp(f[i], src[i], n) : n != 0))
            abort();
    }
}

static void fuzz_msgpack(const uint8_t *data, size_t size)
{
    msgpack_zone zone;
    msgpack_object o;
    size_t off = 0;
    char why[200];
    tms_checkq q;
    if (!tms_msgpack_sane(data, size))
        return;
    msgpack_zone_init(&zone, 2048);
    if (msgpack_unpack((const char *)data, size, &off, &zone, &o) == MSGPACK_UNPACK_SUCCESS &&
        o.type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o.via.array.size; i++) {
            const msgpack_object *e = &o.via.array.ptr[i];
            why[0] = '\0';
            if (tms_checkq_msgpack(e, &q, why, sizeof why) != TMS_OK) {
                if (!why[0])
                    abort();
                continue;
            }
            const char *src[4];
            size_t len[4];
            if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 4)
                abort();
            for (int j = 0; j < 4; j++) {
                if (e->via.array.ptr[j].type != MSGPACK_OBJECT_STR)
                    abort();
                src[j] = e->via.array.ptr[j].via.str.ptr;
                len[j] = e->via.array.ptr[j].via.str.size;
            }
            check_fields(&q, src, len);
        }
    }
    msgpack_zone_destroy(&zone);
}

static void fuzz_json(const uint8_t *data, size_t size)
{
    static const char *const keys[4] = {"tenant", "kind", "id", "name"};
    json_error_t jerr;
    json_t *a = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr), *e;
    size_t i;
    char why[200];
    tms_checkq q;
    json_array_foreach(a, i, e) {
        why[0] = '\0';
        if (tms_checkq_json(e, &q, why, sizeof why) != TMS_OK) {
            if (!why[0])
                abort();
            continue;
        }
        const char *src[4];
        size_t len[4];
        if (json_object_size(e) != 4)
            abort();
        for (int j = 0; j < 4; j++) {
            const json_t *v = json_object_get(e, keys[j]);
            if (!json_is_string(v))
                abort();
            src[j] = json_string_value(v);
            len[j] = json_string_length(v);
        }
        check_fields(&q, src, len);
    }
    json_decref(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long at = tms_query_control((const char *)data, size);
    if ((at >= 0) != decoded_control((const char *)data, size) || at >= (long)size)
        abort();
    if (at >= 0 && !has_control((const char *)data + at, 1) && data[at] != '%')
        abort();
    fuzz_msgpack(data, size);
    fuzz_json(data, size);
    return 0;
}
