/* tool_witness.h -- what tool_witness.c (the decision, the state file, the
 * CHECKPOINT form) and tool_witness_serve.c (the C2SP tlog-witness server)
 * share. */
#ifndef TMS_TOOL_WITNESS_H
#define TMS_TOOL_WITNESS_H

#include <stddef.h>
#include <stdint.h>
#include "note.h"
#include "tlog.h"

#define WITNESS_MAX_LOGS 16

/* The witness: its key, the logs' keys it trusts, where its state is. */
typedef struct tool_witness {
    tms_note_signer key;
    tms_note_verifier logs[WITNESS_MAX_LOGS];
    size_t nlogs;
    const char *state;
} tool_witness;

/* The decision, cosignature and record of one request (old: the client's old size; proof: a consistency
 * proof from it): an HTTP status: 200 with line (the cosignature), 409 with *latest (what the witness
 * cosigned last), else why. */
int tool_witness_add(const tool_witness *w, const char *note, size_t len, uint64_t old, const tms_tlog_hash *proof,
                     size_t nproof, char line[TMS_NOTE_SIG_TEXT_MAX], uint64_t *latest, char *why, size_t whylen);
/* An add-checkpoint request body: "old N\n", at most WITNESS_MAX_PROOF base64 proof lines, "\n", the note
 * (*note points into b, *notelen bytes). 0, or -1 with why (a 400). Untrusted input: fuzzed (fuzz_witness). */
#define WITNESS_MAX_PROOF 63        /* tlog-witness: a client sends at most 63 proof lines */
int tool_witness_parse_body(const char *b, size_t len, uint64_t *old, tms_tlog_hash *proof, size_t *n,
                            const char **note, size_t *notelen, char *why, size_t whylen);

/* Serve the tlog-witness protocol on addr until SIGTERM/SIGINT: an exit code. */
int tool_witness_serve(const tool_witness *w, const char *addr);

#endif
