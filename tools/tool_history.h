/* tool_history.h -- the account timeline of tms-history ("tms-history
 * account"): every accepted record that changed one account, with before
 * and after of the fields that changed. Kept apart from tms-history.c, which
 * holds the option parsing and the Custom-role history. */
#ifndef TMS_TOOL_HISTORY_H
#define TMS_TOOL_HISTORY_H

#include <jansson.h>
#include "cmd.h"
#include "state.h"
#include "tool_common.h"

typedef struct tool_timeline {
    /* what to follow (set by the caller) */
    const char *tenant;
    char kind;                          /* m e q c */
    const char *id;
    tool_point since, until;
    /* state of the run (zeroed by the caller) */
    json_t *prev;                       /* show state after the last change; NULL = absent */
    int read_failed, out_failed;
} tool_timeline;

/* Replay DIR's log and print the timeline as JSON Lines. Returns an exit code. */
int tool_timeline_run(tool_timeline *tl, const char *datadir);

#endif
