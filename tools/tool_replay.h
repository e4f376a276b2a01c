/* tool_replay.h -- a throw-away projection for the tools: a private scratch
 * directory (mkdtemp under $TMPDIR or /tmp) holding an LMDB store that a
 * replay of the log fills, removed afterwards even when the tool is killed
 * by SIGINT, SIGTERM, SIGHUP or SIGPIPE. The tools never read the live
 * projection to answer a question: they replay the log (SPEC section 1). */
#ifndef TMS_TOOL_REPLAY_H
#define TMS_TOOL_REPLAY_H

#include <limits.h>
#include "replay.h"
#include "store.h"
#include "tool_common.h"

typedef struct tool_scratch {
    char dir[PATH_MAX];
    tms_store *st;
} tool_scratch;

/* Create the scratch directory and open an empty store in it. 0 on
 * success, else TOOL_ERROR after a message. */
int tool_scratch_open(tool_scratch *s);
/* Close the store and remove the directory. Safe on a zeroed struct. */
void tool_scratch_close(tool_scratch *s);

/* DIR/log of a data directory, after checking that it exists: 0, or
 * TOOL_ERROR after a message. */
int tool_log_dir(const char *datadir, char *buf, size_t len);

/* Replay the log in logdir into st (opts may be NULL), with a progress line
 * named `what` on a terminal; total is the expected record count or 0.
 * Returns tms_replay's result; res->msg says what went wrong. */
tms_err tool_replay(tms_store *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res,
                    const char *what, uint64_t total);

#endif
