/* tool_report.h -- "tms-audit report": per tenant, what happened in a range
 * of the log and what the state was at its end. One JSON model (shape in
 * docs/tools.md), three renderings: tool_report.c collects,
 * tool_report_state.c reads the end state, tool_report_text.c and
 * tool_report_html.c render. */
#ifndef TMS_TOOL_REPORT_H
#define TMS_TOOL_REPORT_H

#include <jansson.h>
#include <stdint.h>
#include "state.h"
#include "tool_common.h"

/* tms-audit report ARGS...: returns the exit code. */
int tool_report_main(int argc, char **argv);

/* The end-of-range sections of one tenant, from the folded state:
 * "exists", "admin", "ceiling_exceptions", "extensions_without_login",
 * "extensions_without_owner", "roles" are set on t. went_custom maps a role
 * to how many holders left it in the range (roles missing from the state are
 * listed as no longer existing). 0, or -1 when out of memory. */
int tool_report_state(const tms_state *st, const char *tenant, const json_t *went_custom, json_t *t);

/* Every tenant id in the state, sorted, appended to arr. 0 or -1. */
int tool_report_tenants(const tms_state *st, json_t *arr);

/* Renderings of the model (see docs/tools.md for its shape). 0, or -1 when
 * stdout failed. */
int tool_report_text(const json_t *model);
int tool_report_html(const json_t *model);

/* Shared by the renderers: the target of a rejected attempt as one line
 * ("extension 2002", "role agent: 2001 2002"). */
void tool_report_target(const json_t *target, char *buf, size_t len);

#endif
