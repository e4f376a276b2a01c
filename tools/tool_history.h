/* tool_history.h -- the account timeline of tms-history ("tms-history
 * account"): every accepted record that changed one account, with before
 * and after of the fields that changed. Kept apart from tms-history.c, which
 * holds the option parsing and the Custom-role history. */
#ifndef TMS_TOOL_HISTORY_H
#define TMS_TOOL_HISTORY_H

#include <jansson.h>
#include "cmd.h"
#include "store.h"
#include "tool_common.h"

typedef struct tool_timeline {
    /* what to follow (set by the caller) */
    const char *tenant;
    char kind;                          /* m e q c */
    const char *id;
    tool_point since, until;
    /* state of the run (zeroed by the caller) */
    tms_store *st;
    json_t *prev;                       /* show state at the last look; NULL = absent */
    int pending;                        /* the last record applied may have changed it */
    uint64_t p_seq;
    int64_t p_time;
    char p_actor[TMS_ID_MAX + 1];
    char p_cmd[32];
    char p_origin[TMS_TEXT_MAX + 1];
    int p_has_origin;
    uint64_t last_seen;                 /* highest seq handed to on_record */
    int read_failed, out_failed;
} tool_timeline;

/* Replay DIR's log and print the timeline as JSON Lines. Returns an exit code. */
int tool_timeline_run(tool_timeline *tl, const char *datadir);

#endif
