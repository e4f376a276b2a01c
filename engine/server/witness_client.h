/* witness_client.h -- tmsd --witness: collecting cosignatures through the C2SP
 * tlog-witness protocol (POST /add-checkpoint). Private to the server room. */
#ifndef TMS_WITNESS_CLIENT_H
#define TMS_WITNESS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "tree.h"

typedef struct tms__witnesses tms__witnesses;

/* The witnesses at urls[i] with verifier keys vkeys[i] (a vkey or a file
 * holding one), i < n. NULL with why on a bad key or no memory. */
tms__witnesses *tms__witnesses_new(const char *const *urls, const char *const *vkeys, size_t n, char *why,
                                   size_t whylen);
/* Blocking (libcurl, timeouts of a few seconds; call it on a worker thread):
 * ask each witness to cosign note[0..len) (a signed checkpoint of tree size
 * `size` of tree t), with a consistency proof from the size it last cosigned
 * (learned from a 409 when unknown). Returns the cosignature lines that
 * verify with their witness's key, concatenated, malloc'd ("" when none);
 * NULL only on no memory. Failures are logged, never fatal. */
char *tms__witnesses_cosign(tms__witnesses *w, tms_tree *t, const char *note, size_t len, uint64_t size);
void tms__witnesses_free(tms__witnesses *w);

#endif
