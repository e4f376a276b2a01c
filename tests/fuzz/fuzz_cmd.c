/* fuzz_cmd.c -- libFuzzer target: any bytes as a JSON Lines command. The
 * parser must answer OK or INVALID_COMMAND, never crash or leak, and a
 * command it accepts must survive a canonical encode/decode round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tms_record a = {0}, b = {0};
    char why[320];
    msgpack_sbuffer sb;
    tms_cmd_init(&a.cmd);
    tms_cmd_init(&b.cmd);
    tms_err err = tms_cmd_from_json(&a.cmd, (const char *)data, size, why, sizeof why);
    if (err != TMS_OK && err != TMS_INVALID_COMMAND)
        abort();
    if (err == TMS_OK) {
        msgpack_sbuffer_init(&sb);
        a.time = 1;
        a.verdict = TMS_OK;
        if (tms_record_encode(&a, &sb) != TMS_OK || tms_record_decode(&b, sb.data, sb.size, why, sizeof why) != TMS_OK)
            abort();
        if (b.cmd.type != a.cmd.type)
            abort();
        msgpack_sbuffer_destroy(&sb);
    }
    tms_cmd_free(&a.cmd);
    tms_cmd_free(&b.cmd);
    return 0;
}
