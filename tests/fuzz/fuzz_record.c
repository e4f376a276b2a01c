/* fuzz_record.c -- libFuzzer target: any bytes as a log record payload.
 * Decoding must answer OK or E_CORRUPT, never crash, over-read or leak
 * (a checksum-valid but hostile record is what a forger would write). */
#include <stdint.h>
#include <stdlib.h>
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tms_record r;
    char why[256];
    tms_cmd_init(&r.cmd);
    tms_err err = tms_record_decode(&r, data, size, why, sizeof why);
    if (err != TMS_OK && err != TMS_E_CORRUPT && err != TMS_E_NOMEM)
        abort();
    tms_cmd_free(&r.cmd);
    return 0;
}
