/* checkq.h -- what a lookup asks, as it arrives from outside: one entry of
 * the socket's `check` op (`[tenant, kind, id, name]`, four msgpack
 * strings), one entry of HTTP's POST /v1/check (a JSON object of exactly the
 * strings tenant, kind, id and name), and HTTP query strings.
 *
 * A malformed entry, or a control character (U+0000-U+001F, U+007F) in a
 * field or anywhere in a query string, is refused, never answered as a deny:
 * a deny says "this account may not", which is not what was asked, and a NUL
 * would cut a C string and ask about another account (`id=1001%00junk`
 * answered for 1001: issue 19, item 6). The caller refuses the whole
 * request (docs/protocol.md). Untrusted input: tests/fuzz/fuzz_checkq.c
 * covers every function here. */
#ifndef TMS_CHECKQ_H
#define TMS_CHECKQ_H

#include <stddef.h>
#include <jansson.h>
#include <msgpack.h>
#include "tmsperm.h"
#include "tmsperm_schema.h"

/* One check's fields, NUL-terminated. A string too long for its field is
 * "" (no tenant, kind, account or name is that long: the check is a deny). */
typedef struct tms_checkq {
    char tenant[TMS_ID_MAX + 1], kind[16], id[TMS_ID_MAX + 1], name[TMS_NAME_MAX + 1];
} tms_checkq;

/* An entry of the socket's check: TMS_OK with q filled, or TMS_E_PROTOCOL
 * with why saying what is wrong (not an array of 4 strings; a control
 * character in a field). */
tms_err tms_checkq_msgpack(const msgpack_object *e, tms_checkq *q, char *why, size_t whylen);

/* An entry of an HTTP batch: TMS_OK with q filled, or TMS_E_INVAL with why
 * (not an object; a field missing, not a string, or unknown; a control
 * character in a field). */
tms_err tms_checkq_json(const json_t *e, tms_checkq *q, char *why, size_t whylen);

/* The offset in s[0..n) (an HTTP query string, before percent-decoding) of
 * the first control character, raw or percent-encoded (%00-%1F, %7F, either
 * case); -1 when there is none. */
long tms_query_control(const char *s, size_t n);

#endif
