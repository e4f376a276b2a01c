/* snapshot_dec.h -- the snapshot decoder (state_snapshot_decode.c) in
 * pieces, for a decode that threads share (state_snapshot_split.c). Private
 * to core.
 *
 * A tms__dec reads one encoding into a state of its own, with every check of
 * tms_state_snapshot_decode; its pieces are the part before the tenants, a
 * tenant's part (within its own bytes, all of them) and the trailer. The
 * layout between them (the count of tenants, the parts' order, each tenant
 * once) is the index's to have checked (tms_state_snapshot_index). A dec is
 * used by one thread at a time; the encoding is only read. */
#ifndef TMS_SNAPSHOT_DEC_H
#define TMS_SNAPSHOT_DEC_H

#include "snapshot.h"

typedef struct dec tms__dec;

/* A decoder of buf[0..len) into a new empty state; failures described in
 * why (whylen bytes; may be NULL). NULL when out of memory. */
tms__dec *tms__dec_new(const void *buf, size_t len, char *why, size_t whylen);
/* The part before the tenants (its request ids kept apart; the tenants of
 * ix made room for). TMS_OK, or the dec's error (it stays). */
tms_err tms__dec_global(tms__dec *d, const tms_snapshot_index *ix);
/* Tenant t's part. TMS_OK, or the dec's error (it stays; nothing more is read). */
tms_err tms__dec_part(tms__dec *d, const tms_snapshot_section *t);
/* The trailer at ix's trailer_off: the catalogue of exactly the masks used
 * (every dec's, OR-ed), then the end of the encoding. */
tms_err tms__dec_trailer(tms__dec *d, const tms_snapshot_index *ix, uint64_t perms_used, uint64_t features_used);
/* The masks the pieces read so far used, OR-ed. */
void tms__dec_masks(const tms__dec *d, uint64_t *perms_used, uint64_t *features_used);
tms_err tms__dec_err(const tms__dec *d);
/* Its state, to the caller (the dec keeps none). */
tms_state *tms__dec_take(tms__dec *d);
/* Free d and its state, unless taken (NULL: nothing). */
void tms__dec_free(tms__dec *d);

#endif
