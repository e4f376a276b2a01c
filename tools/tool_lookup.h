/* tool_lookup.h -- tmsctl's lookups (check, show, visible; SPEC sections 6
 * and 7), embedded on a data directory or through tmsd: one parser, one
 * output, the same exit codes either way. */
#ifndef TOOL_LOOKUP_H
#define TOOL_LOOKUP_H

#include "tmsclient.h"

enum { TOOL_LOOKUP_CHECK, TOOL_LOOKUP_SHOW, TOOL_LOOKUP_VISIBLE };

/* Run lookup `what` with its arguments (after the command name) on dir
 * (embedded) or through cli when not NULL. Returns the exit status. */
int tool_lookup(const char *dir, tms_client *cli, int what, int argc, char **argv);

/* tmsctl watch [--from SEQ] [--tenant T] [--until SEQ] (tool_watch.c). */
int tool_watch(const char *dir, tms_client *cli, int argc, char **argv);

#endif
