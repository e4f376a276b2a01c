/* snapshot.h -- a whole in-memory state (state.h) as bytes and back: the
 * encoding of the writer's snapshots (issue 18), so an open folds only the
 * log's tail.
 *
 * Canonical. Equal states encode to equal bytes: everything in byte order
 * of ids, every number, string and container in msgpack's shortest form
 * (what msgpack-c packs), nothing the state does not determine. A decode
 * succeeds only on bytes that re-encode to themselves (every object and
 * item is checked to be what the encoder would write), so the BLAKE2b-256
 * of an encoding is the digest of the state it holds
 * (tms_state_snapshot_digest), and two states are equal when their
 * encodings are.
 *
 * Format 1 is a sequence of msgpack objects, not one: the decoder unpacks
 * one small object at a time whatever the state's size (msgpack-c would
 * otherwise build the whole tree, ~300 bytes per account, before the state).
 *
 *   {"tmsperm-state": 1}                               header: the format
 *   N                                                  request ids of records naming no tenant that
 *   [tenant, request_id, seq, verdict, digest] x N     existed then (state.h keeps them apart), by
 *                                                      (tenant, request id)
 *   T                                                  tenants, by id; each is
 *   [id, admin, default_role|nil, R, L, A, K, D, Q]    then:
 *     [id, account_kind, perms, creator] x R           roles, by id
 *     [id, name, email] x L                            logins, by id (name, email "" when none)
 *     [kind, id, perms, features, role_tag, role|nil, login|nil] x A
 *                                                      accounts and objects, by (kind, id)
 *     [kind, id, manager] x K                          the extensions' owners and the managers'
 *                                                      parents, by (kind, id), only those that have one
 *     [kind, id, [manager, ...]] x D                   distributions: objects distributed to at least
 *                                                      one manager, by (kind, id); managers by id
 *     [request_id, seq, verdict, digest] x Q           its request ids, by request id
 *   [[permission names], [feature names]]              trailer: the catalogue (below)
 *
 * Kinds and account kinds are the schema's letters as one-byte strings
 * ("m", "e", "q", "c"); role_tag is TMS_ROLE_NONE 0, TMS_ROLE_CUSTOM 1 or
 * TMS_ROLE_SET 2 (then role names the role, else it is nil); a verdict is
 * "accepted" or the code's name, as the log writes it; digest is the 16
 * bytes (bin) of tms_cmd_digest; seq, counts and masks are unsigned integers.
 * "Byte order" compares bytes, a shorter string first when one is a prefix of
 * the other; (kind, id) compares the kind letter first.
 *
 * Permissions and features are bit masks. What the bits mean is the trailer:
 * the catalogue's names (tms_permissions[i].name, tms_features[i].name) of
 * bits 0 .. k-1, k being one more than the highest bit set in the snapshot
 * (0: no bit). A decoder refuses a trailer that is not a prefix of its own
 * catalogue, and a bit it has no name for. The catalogue is append-only
 * (schemas/tmsperm.json), so an appended name changes neither how an old
 * snapshot reads nor the encoding (and digest) of a state that does not use
 * it; a rename or reorder, which the schema forbids, refuses the snapshot
 * (the open then folds the whole log) instead of misreading it. Names beside
 * every account instead would cost ~100 bytes per account.
 *
 * Not stored, because the state derives them: a role's holders, the
 * counters of R19 (what is distributed to a manager, what it owns, who
 * reports to it), a login's side of its bindings, the maps' layouts. */
#ifndef TMS_SNAPSHOT_H
#define TMS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>
#include "state.h"

#define TMS_SNAPSHOT_FORMAT 1
#define TMS_SNAPSHOT_DIGEST_LEN 32

/* The encoding of st into out (cleared first). st is not changed; its
 * uncommitted changes, if any, are encoded as they stand. TMS_OK,
 * TMS_E_NOMEM, or TMS_E_CORRUPT for a state the rules cannot make (a mask
 * bit beyond the catalogue, a request's verdict that is no domain code);
 * out is empty on failure. */
tms_err tms_state_snapshot_encode(const tms_state *st, msgpack_sbuffer *out);

/* A new state from an encoding: *out, committed (no effects, nothing to
 * roll back), that tms_state_snapshot_encode turns into exactly
 * buf[0..len). The bytes are untrusted: anything else -- another format, a
 * cut, unknown kinds, names or verdicts, an id that is not an id, a
 * duplicate, a reference to what does not exist, a parent cycle, a login
 * bound twice, bytes out of order or not in their shortest form, trailing
 * bytes -- is TMS_E_CORRUPT with a one-line reason in why (always
 * NUL-terminated when whylen > 0). TMS_E_NOMEM when out of memory. On
 * failure *out is NULL. */
tms_err tms_state_snapshot_decode(const void *buf, size_t len, tms_state **out, char *why, size_t whylen);

/* BLAKE2b-256 of an encoding: the digest of the state it holds. */
void tms_state_snapshot_digest(const void *enc, size_t len, uint8_t out[TMS_SNAPSHOT_DIGEST_LEN]);

#endif
