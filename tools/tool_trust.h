/* tool_trust.h -- the tools' side of SPEC section 11: keys, checkpoints,
 * proofs, witnesses (tool_trust.c, tool_proof.c, tool_witness.c). */
#ifndef TMS_TOOL_TRUST_H
#define TMS_TOOL_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include "note.h"

/* tms-audit keygen / checkpoint / prove / verify-proof / witness ARGS...: exit codes. */
int tool_keygen_main(int argc, char **argv);
int tool_checkpoint_main(int argc, char **argv);
int tool_prove_main(int argc, char **argv);
int tool_verify_proof_main(int argc, char **argv);
int tool_witness_main(int argc, char **argv);
/* tms-audit set-aside: what a deposed cluster leader set aside (tool_set_aside.c). */
int tool_set_aside_main(int argc, char **argv);
/* tmsctl --data DIR checkpoint --signing-key FILE: the exit code. */
int tool_checkpoint_embedded(const char *data, const char *keyfile);

/* A log's verifier key (type 0x01) given as a vkey string, or as the path of
 * a file holding one (the first line). 0, or TOOL_ERROR after a one-line
 * message naming opt (a witness's key is refused). */
int tool_load_vkey(const char *opt, const char *arg, tms_note_verifier *out);
/* A private key file (tms-audit keygen's): 0, or TOOL_ERROR after a message. */
int tool_load_signer(const char *opt, const char *path, tms_note_signer *out);
/* A whole small file (at most max bytes) into *buf (malloc'd, NUL-terminated): 0, or TOOL_ERROR after a
 * message naming opt. */
int tool_read_small(const char *opt, const char *path, size_t max, char **buf, size_t *len);
/* A checkpoint note verified by key: the note and its parsed body. 0, 1 (TOOL_NEGATIVE: does not verify; a
 * message says why), TOOL_ERROR (unreadable). */
int tool_open_checkpoint(const char *opt, const char *path, const tms_note_verifier *key, char **buf,
                         tms_checkpoint *cp);

#endif
