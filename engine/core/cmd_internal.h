/* cmd_internal.h -- what cmd.c and cmd_json.c share. Private to core. */
#ifndef TMS_CMD_INTERNAL_H
#define TMS_CMD_INTERNAL_H

#include "cmd.h"

/* A reason for a refused command into why (NULL or 0 length: nothing). */
void tms__say(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
