/* fuzz_submit.c -- libFuzzer target: any bytes as one tmsd submit frame's
 * payload, taken the way the daemon takes it: the msgpack bounds check,
 * unpack, op and cmds found in the map, each command a msgpack map (or a
 * JSON text) validated against the schema, engine-only commands refused as
 * input. Every command comes out valid or INVALID_COMMAND, never a crash, an
 * over-read or a leak (issue 8, item 8). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "mpsafe.h"
#include "wire.h"

static void one(const msgpack_object *o)
{
    tms_cmd cmd;
    char why[256];
    tms_cmd_init(&cmd);
    tms_err err = o->type == MSGPACK_OBJECT_STR ? tms_cmd_from_json(&cmd, o->via.str.ptr, o->via.str.size, why, sizeof why)
                                                : tms_cmd_from_msgpack(&cmd, o, why, sizeof why);
    if (err == TMS_OK) {
        uint8_t digest[TMS_CMD_DIGEST_LEN];
        tms_cmd_is_input(&cmd, why, sizeof why);
        if (tms_cmd_digest(&cmd, digest) != TMS_OK)
            abort();
    } else if (err != TMS_INVALID_COMMAND && err != TMS_E_NOMEM) {
        abort();
    }
    tms_cmd_free(&cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msgpack_unpacked up;
    if (!tms_msgpack_sane(data, size))
        return 0;
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, (const char *)data, size, NULL) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *cmds = tms_map_get(&up.data, "cmds");
        for (uint32_t i = 0; cmds && cmds->type == MSGPACK_OBJECT_ARRAY && i < cmds->via.array.size; i++)
            one(&cmds->via.array.ptr[i]);
    }
    msgpack_unpacked_destroy(&up);
    return 0;
}
