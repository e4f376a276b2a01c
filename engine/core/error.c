/* error.c -- names and descriptions of tms_err values, and the version.
 * The tables themselves are generated from schemas/tmsperm.json; this file
 * only guards the lookups against values outside the enum. */
#include "tmsperm.h"
#include "tmsperm_schema.h"

const char *tms_err_name(tms_err err)
{
    if ((int)err < 0 || (int)err >= TMS_ERR_COUNT)
        return "UNKNOWN";
    return tms_err_codes[err];
}

const char *tms_strerror(tms_err err)
{
    if ((int)err < 0 || (int)err >= TMS_ERR_COUNT)
        return "unknown error";
    return tms_err_texts[err];
}

const char *tms_version(void)
{
    return TMS_VERSION;
}
