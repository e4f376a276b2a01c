/* tool_replay.h -- how the tools read the log: a fold into an in-memory
 * state (no scratch projection, no temp directory), or a replay that writes
 * a projection (tms-restore), with a progress line on a terminal. The tools
 * never read the live projection to answer a question: they replay the log
 * (SPEC section 1). */
#ifndef TMS_TOOL_REPLAY_H
#define TMS_TOOL_REPLAY_H

#include "replay.h"
#include "store.h"
#include "tool_common.h"

/* DIR/log of a data directory, after checking that it exists: 0, or
 * TOOL_ERROR after a message. */
int tool_log_dir(const char *datadir, char *buf, size_t len);

/* Fold the log in logdir into the empty in-memory state st (opts may be
 * NULL), with a progress line named `what` on a terminal; total is the
 * expected record count or 0. Returns tms_fold's result. */
tms_err tool_fold(tms_state *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res,
                  const char *what, uint64_t total);

/* Replay the log in logdir into st (opts may be NULL), with a progress line
 * named `what` on a terminal; total is the expected record count or 0.
 * Returns tms_replay's result; res->msg says what went wrong. */
tms_err tool_replay(tms_store *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res,
                    const char *what, uint64_t total);

#endif
