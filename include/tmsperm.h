/* tmsperm.h -- the public API of tmsperm: error codes and the embedded,
 * read-only permission lookup a PBX node links against.
 *
 * Every function returns a tms_err (TMS_OK == 0) unless it says otherwise.
 * Error codes are generated from schemas/tmsperm.json; their names are stable API. */
#ifndef TMSPERM_H
#define TMSPERM_H

#include <stddef.h>
#include <stdint.h>
#include "tmsperm_schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The stable code of an error ("NOT_OWNER", "E_IO"); "OK" for TMS_OK and
 * "UNKNOWN" for a value outside the enum. Static storage: never free it. */
const char *tms_err_name(tms_err err);

/* A one-line English description of an error. Static storage. */
const char *tms_strerror(tms_err err);

#ifdef __cplusplus
}
#endif
#endif
