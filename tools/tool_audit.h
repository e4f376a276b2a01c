/* tool_audit.h -- the subcommands of tms-audit that live outside
 * tms-audit.c (which holds main and who-can): verify, the integrity check
 * of a data directory (tool_verify.c), and the grant tracking behind
 * "who-can --explain" (tool_explain.c). */
#ifndef TMS_TOOL_AUDIT_H
#define TMS_TOOL_AUDIT_H

#include <jansson.h>
#include "replay.h"
#include "store.h"

/* tms-audit verify ARGS...: returns the exit code. */
int tool_verify_main(int argc, char **argv);

/* Grant tracking for one tenant and one permission (or feature) during a
 * fold, from the effects: who got it, by which record, and how. */
typedef struct tool_explain tool_explain;

/* perm or feat is the bit index (the other is -1). NULL when out of memory. */
tool_explain *tool_explain_new(const char *tenant, int perm, int feat);
void tool_explain_free(tool_explain *x);
/* The on_effects callback to pass to the fold, with x as its ctx. */
tms_err tool_explain_effects(void *ctx, const tms_fold_event *ev);
/* Add "via", "seq", "time", "actor" to entry o for account (kind letter,
 * id), or for the PBX Admin when kind is 'a'. */
void tool_explain_annotate(const tool_explain *x, char kind, const char *id, json_t *o);

#endif
