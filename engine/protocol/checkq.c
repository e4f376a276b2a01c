/* checkq.c -- the checks a lookup asks, validated as they arrive (see
 * checkq.h): the socket's [tenant, kind, id, name] entries, HTTP's
 * {"tenant","kind","id","name"} objects, and control characters in query
 * strings. */
#include "checkq.h"
#include <stdio.h>
#include <string.h>

static const char *const fields[4] = {"tenant", "kind", "id", "name"};

static int is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* The first control character of s[0..n), or -1. */
static long control_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_control((unsigned char)s[i]))
            return (long)i;
    return -1;
}

static char *slot(tms_checkq *q, int i)
{
    return i == 0 ? q->tenant : i == 1 ? q->kind : i == 2 ? q->id : q->name;
}

static size_t slot_size(int i)
{
    return i == 0 ? sizeof ((tms_checkq *)0)->tenant : i == 1 ? sizeof ((tms_checkq *)0)->kind
         : i == 2 ? sizeof ((tms_checkq *)0)->id : sizeof ((tms_checkq *)0)->name;
}

/* Field i of q from s[0..n): 0, or -1 with why (a control character). */
static int put(tms_checkq *q, int i, const char *s, size_t n, char *why, size_t whylen)
{
    long at = control_at(s, n);
    char *out = slot(q, i);
    if (at >= 0) {
        snprintf(why, whylen, "%s: a control character (U+%04X) is not allowed", fields[i], (unsigned char)s[at]);
        return -1;
    }
    if (n >= slot_size(i))
        n = 0;   /* longer than any: "" is a deny */
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

tms_err tms_checkq_msgpack(const msgpack_object *e, tms_checkq *q, char *why, size_t whylen)
{
    if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 4) {
        if (e->type == MSGPACK_OBJECT_ARRAY)
            snprintf(why, whylen, "expected [tenant, kind, id, name] (4 strings), not %u elements",
                     (unsigned)e->via.array.size);
        else
            snprintf(why, whylen, "expected [tenant, kind, id, name] (4 strings)");
        return TMS_E_PROTOCOL;
    }
    for (int i = 0; i < 4; i++) {
        const msgpack_object *f = &e->via.array.ptr[i];
        if (f->type != MSGPACK_OBJECT_STR) {
            snprintf(why, whylen, "%s: expected a string", fields[i]);
            return TMS_E_PROTOCOL;
        }
        if (put(q, i, f->via.str.ptr, f->via.str.size, why, whylen))
            return TMS_E_PROTOCOL;
    }
    return TMS_OK;
}

tms_err tms_checkq_json(const json_t *e, tms_checkq *q, char *why, size_t whylen)
{
    const char *k;
    json_t *v;
    int seen = 0;
    if (!json_is_object(e)) {
        snprintf(why, whylen, "expected an object {\"tenant\",\"kind\",\"id\",\"name\"} of strings");
        return TMS_E_INVAL;
    }
    json_object_foreach((json_t *)e, k, v) {
        int i = 0;
        while (i < 4 && strcmp(k, fields[i]))
            i++;
        if (i == 4) {
            snprintf(why, whylen, "unknown field \"%.40s\" (a check has tenant, kind, id and name)", k);
            return TMS_E_INVAL;
        }
        if (!json_is_string(v)) {
            snprintf(why, whylen, "%s: expected a string", fields[i]);
            return TMS_E_INVAL;
        }
        if (put(q, i, json_string_value(v), json_string_length(v), why, whylen))
            return TMS_E_INVAL;
        seen |= 1 << i;
    }
    for (int i = 0; i < 4; i++)
        if (!(seen & (1 << i))) {
            snprintf(why, whylen, "%s is missing", fields[i]);
            return TMS_E_INVAL;
        }
    return TMS_OK;
}

static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

long tms_query_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (is_control((unsigned char)s[i]))
            return (long)i;
        if (s[i] == '%' && i + 2 < n) {   /* as tmsd decodes: '%' and two hex digits */
            int h = hex(s[i + 1]), l = hex(s[i + 2]);
            if (h >= 0 && l >= 0 && is_control((unsigned char)(h << 4 | l)))
                return (long)i;
        }
    }
    return -1;
}
