/* tool_seed.h -- "tms-restore seed" (tool_seed.c) and what it fetches over
 * HTTP (tool_seed_fetch.c). */
#ifndef TMS_TOOL_SEED_H
#define TMS_TOOL_SEED_H

/* Fetch what the tmsd at url (http://HOST:PORT) serves for a seed (GET
 * /v1/seed, /v1/seed/snapshot, /v1/seed/tree; a bearer token read from
 * token_file when not NULL) into dir, an existing empty directory, laid out
 * as a data directory's snapshots/, checkpoints and tree/hashes. Nothing is
 * checked here but sizes: tool_seed.c checks the rest. 0, or TOOL_ERROR
 * after a message. */
int tool_seed_fetch(const char *url, const char *token_file, const char *dir);

#endif
