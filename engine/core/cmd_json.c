/* cmd_json.c -- the JSON edge of commands: a JSON text is converted to the
 * msgpack map the one validator (cmd.c) checks, so JSON input and replayed
 * records go through the same checks. Kept apart from cmd.c so that what
 * links the core without reading JSON (the embedded read path) needs no
 * JSON library. */
#include "cmd_internal.h"
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- JSON -> msgpack ----------------------------------------------------- */

static int json_to_msgpack(json_t *j, msgpack_packer *pk, int depth)
{
    if (depth > TMS_JSON_DEPTH_MAX)
        return -1;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        msgpack_pack_map(pk, json_object_size(j));
        json_object_foreach(j, key, val) {
            size_t n = strlen(key);
            msgpack_pack_str(pk, n);
            msgpack_pack_str_body(pk, key, n);
            if (json_to_msgpack(val, pk, depth + 1))
                return -1;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        msgpack_pack_array(pk, json_array_size(j));
        json_array_foreach(j, i, val)
            if (json_to_msgpack(val, pk, depth + 1))
                return -1;
        return 0;
    }
    case JSON_STRING:
        msgpack_pack_str(pk, json_string_length(j));
        return msgpack_pack_str_body(pk, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return msgpack_pack_int64(pk, json_integer_value(j));
    case JSON_REAL: return msgpack_pack_double(pk, json_real_value(j));
    case JSON_TRUE: return msgpack_pack_true(pk);
    case JSON_FALSE: return msgpack_pack_false(pk);
    default: return msgpack_pack_nil(pk);
    }
}

tms_err tms_cmd_from_json(tms_cmd *cmd, const char *text, size_t len, char *why, size_t whylen)
{
    tms_err err = TMS_INVALID_COMMAND;
    json_error_t jerr;
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    tms_cmd_free(cmd);
    json_t *j = NULL;
    if (len > TMS_LINE_MAX) {
        tms__say(why, whylen, "command exceeds %u bytes", TMS_LINE_MAX);
        goto done;
    }
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j) {
        tms__say(why, whylen, "malformed JSON at column %d: %s", jerr.column, jerr.text);
        goto done;
    }
    if (!json_is_object(j)) {
        tms__say(why, whylen, "a command must be a JSON object");
        goto done;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (json_to_msgpack(j, &pk, 0)) {
        tms__say(why, whylen, "JSON nested deeper than %d levels", TMS_JSON_DEPTH_MAX);
        goto done;
    }
    if (msgpack_unpack_next(&up, sb.data, sb.size, NULL) != MSGPACK_UNPACK_SUCCESS) {
        err = TMS_E_NOMEM;
        goto done;
    }
    err = tms_cmd_from_msgpack(cmd, &up.data, why, whylen);
done:
    json_decref(j);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return err;
}

