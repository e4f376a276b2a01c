/* fuzz_record.c -- libFuzzer target: any bytes as a log record payload.
 * Decoding must answer OK or E_CORRUPT, never crash, over-read or leak
 * (a checksum-valid but hostile record is what a forger would write). The
 * peek (tms_record_peek: a replica reads a frame's stamp with it before
 * anything checked the frame, lag.h) must stay within the bytes, and when
 * both it and the decode read a record, they read the same tenant and time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tms_record r;
    char why[256];
    const char *tenant;
    size_t tlen;
    int64_t time;
    tms_cmd_init(&r.cmd);
    tms_err err = tms_record_decode(&r, data, size, why, sizeof why);
    if (err != TMS_OK && err != TMS_E_CORRUPT && err != TMS_E_NOMEM)
        abort();
    int peeked = tms_record_peek(data, size, &tenant, &tlen, &time);
    if (peeked && (tenant < (const char *)data || tenant + tlen > (const char *)data + size))
        abort();
    if (peeked && err == TMS_OK) {
        const char *t = TMS_CMD_STR(&r.cmd, TMS_F_TENANT);
        if (time != r.time || !t || strlen(t) != tlen || memcmp(t, tenant, tlen))
            abort();
    }
    tms_cmd_free(&r.cmd);
    return 0;
}
