/* snapshot.h -- a whole in-memory state (state.h) as bytes and back: the
 * encoding of the writer's snapshots (issue 18), so an open folds only the
 * log's tail.
 *
 * Canonical. Equal states encode to equal bytes: everything in byte order
 * of ids, every number, string and container in msgpack's shortest form
 * (what msgpack-c packs), nothing the state does not determine. A decode
 * succeeds only on bytes that re-encode to themselves (every object and
 * item is checked to be what the encoder would write), so two states are
 * equal when their encodings are, and a digest of the encoding is one of
 * the state (tms_state_snapshot_digest, below: by tenant).
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
#include <sodium.h>
#include "state.h"

#define TMS_SNAPSHOT_FORMAT 1
#define TMS_SNAPSHOT_DIGEST_LEN 32

/* The encoding of st into out (cleared first). st is not changed; its
 * uncommitted changes, if any, are encoded as they stand. TMS_OK,
 * TMS_E_NOMEM, or TMS_E_CORRUPT for a state the rules cannot make (a mask
 * bit beyond the catalogue, a request's verdict that is no domain code);
 * out is empty on failure. */
tms_err tms_state_snapshot_encode(const tms_state *st, msgpack_sbuffer *out);
/* The same bytes, in order, to write(data, bytes, len) as msgpack-c's
 * packer hands them over (many small pieces), kept nowhere: for a reader
 * that compares or hashes them as they come (tms-audit verify compares the
 * replayed state with a kept snapshot so, without the state's encoding in
 * memory). A write that returns non-zero makes it TMS_E_NOMEM. After a
 * failure what was written is not an encoding. TMS_OK, TMS_E_NOMEM,
 * TMS_E_CORRUPT (as tms_state_snapshot_encode). */
tms_err tms_state_snapshot_encode_to(const tms_state *st, msgpack_packer_write write, void *data);

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

/* ---- where an encoding's parts are, and the digest (state_snapshot_index.c) ----
 * An encoding is: the part before the tenants (its header and the request
 * ids of no tenant: bytes [0, global_len)), the count of tenants, each
 * tenant's part (its object and everything after it up to the next
 * tenant's), the catalogue trailer [trailer_off, len). */
typedef struct tms_snapshot_section {
    char tenant[TMS_ID_MAX + 1];
    size_t off, len;                     /* its part: bytes [off, off + len) of the encoding */
    uint64_t perms_used, features_used;  /* the masks of its roles and accounts, OR-ed */
    uint8_t hash[TMS_SNAPSHOT_DIGEST_LEN]; /* H(its part), once tms_snapshot_index_hash has run */
} tms_snapshot_section;
typedef struct tms_snapshot_index {
    size_t global_len;
    size_t trailer_off;
    tms_snapshot_section *tenants;       /* in the encoding's order (malloc'd) */
    size_t ntenants;
    uint8_t global_hash[TMS_SNAPSHOT_DIGEST_LEN]; /* H(bytes [0, global_len)), likewise */
} tms_snapshot_index;

/* The parts of enc[0..len) into *ix, found by walking it: its layout
 * checked, its tenants' ids in byte order, each once, and its trailer
 * exactly the catalogue of the masks its parts use (not the ids' form, nor
 * references: the decoder checks those). TMS_OK,
 * TMS_E_CORRUPT (why, when given), TMS_E_NOMEM; *ix empty on failure. */
tms_err tms_state_snapshot_index(const void *enc, size_t len, tms_snapshot_index *ix, char *why, size_t whylen);
void tms_snapshot_index_free(tms_snapshot_index *ix);
/* The section of tenant in ix (its tenants are in byte order of ids), or NULL. */
const tms_snapshot_section *tms_snapshot_index_find(const tms_snapshot_index *ix, const char *tenant);
/* The bytes the count of tenants n takes in an encoding (msgpack's shortest form): between the part before
 * the tenants and the first tenant's. */
size_t tms_snapshot_count_len(uint64_t n);

/* The digest of the state an encoding holds, by its parts: the BLAKE2b-256 of
 *     "tmsperm-state-digest/2" | H(bytes before the tenants) | le64(tenants)
 *     then per tenant, in order: le64(id length) id H(its part)
 *     le64(perms used) le64(features used)
 * H being BLAKE2b-256 (tms_snapshot_part_hash). The count of tenants and
 * the trailer are functions of the parts, so this digests the encoding
 * whole; and a state that differs from one whose parts are known in a few
 * tenants has its digest from those alone. TMS_OK, TMS_E_CORRUPT (enc is
 * not laid out as an encoding), TMS_E_NOMEM. */
tms_err tms_state_snapshot_digest(const void *enc, size_t len, uint8_t out[TMS_SNAPSHOT_DIGEST_LEN]);
void tms_snapshot_part_hash(const void *bytes, size_t len, uint8_t out[TMS_SNAPSHOT_DIGEST_LEN]);
/* The same digest from parts already hashed: begin, each tenant in order, end. */
typedef struct tms_state_digester {
    crypto_generichash_state h;   /* private */
} tms_state_digester;
void tms_state_digest_begin(tms_state_digester *d, const uint8_t global[TMS_SNAPSHOT_DIGEST_LEN], uint64_t tenants);
void tms_state_digest_tenant(tms_state_digester *d, const char *id, const uint8_t part[TMS_SNAPSHOT_DIGEST_LEN],
                             uint64_t perms_used, uint64_t features_used);
void tms_state_digest_end(tms_state_digester *d, uint8_t out[TMS_SNAPSHOT_DIGEST_LEN]);
/* Each part of enc (of which ix is the index) hashed into ix: global_hash
 * and every tenant's hash. */
void tms_snapshot_index_hash(const void *enc, tms_snapshot_index *ix);
/* The digest from ix's hashes (tms_snapshot_index_hash, or a snapshot
 * file's parts table: snapshots.h) into out. */
void tms_snapshot_index_digest(const tms_snapshot_index *ix, uint8_t out[TMS_SNAPSHOT_DIGEST_LEN]);

/* ---- a decode shared by two threads ----
 * tms_state_snapshot_decode's state and checks, the tenants' parts taken in
 * turn by two threads from ix, which must be tms_state_snapshot_index of the
 * same bytes (the layout between the parts is its walk's to have checked:
 * parts end to end, the count, the ids in order and each once):
 *   new    enc, len and ix must stay as they are until end;
 *   run    who 0 reads the part before the tenants, then takes tenants;
 *          who 1 takes tenants (into a state of its own). Each at most
 *          once, on any thread, at once or not; either may never run;
 *   end    after every run returned: what is left taken here, then the
 *          state (*out) or the first failure (why), as
 *          tms_state_snapshot_decode's; dg is freed.
 * free: a decoding abandoned (after every run returned). new: TMS_OK, TMS_E_NOMEM. */
typedef struct tms_snapshot_decoding tms_snapshot_decoding;
tms_err tms_snapshot_decoding_new(const void *enc, size_t len, const tms_snapshot_index *ix,
                                  tms_snapshot_decoding **out);
void tms_snapshot_decoding_run(tms_snapshot_decoding *dg, int who);
tms_err tms_snapshot_decoding_end(tms_snapshot_decoding *dg, tms_state **out, char *why, size_t whylen);
void tms_snapshot_decoding_free(tms_snapshot_decoding *dg);
/* Internal (tests, fuzz_snapshot: the takers interleaved on one thread): run, taking at most `most` tenants;
 * may be called again for the same taker (who 0 reads the part before the tenants the first time only). */
void tms__snapshot_decoding_run_some(tms_snapshot_decoding *dg, int who, size_t most);

/* ---- parts of a state (for verify --since: the tenants some records touched) ----
 * A state of the part before the tenants and the parts of the tenants named
 * (those ix has; the others are not in this state) of enc[0..len), ix being
 * tms_state_snapshot_index of the same bytes: each part decoded with every
 * check of tms_state_snapshot_decode, within its own bytes, all of them (the
 * trailer is the index's to check). What the others' parts would add is not
 * there: a state for the rules of those tenants (tenants are isolated by
 * the rules), never one to encode whole. Errors as tms_state_snapshot_decode. */
tms_err tms_state_snapshot_decode_parts(const void *enc, size_t len, const tms_snapshot_index *ix,
                                        const char *const *tenants, size_t n, tms_state **out, char *why,
                                        size_t whylen);
/* The part before the tenants of st, and tenant's part (its masks into *perms_used, *features_used),
 * appended to out: the bytes tms_state_snapshot_encode writes for them. TMS_OK, TMS_NOT_FOUND (no such
 * tenant), TMS_E_NOMEM, TMS_E_CORRUPT (as tms_state_snapshot_encode); on a failure out may hold some of
 * them (the caller drops it). */
tms_err tms_state_snapshot_encode_global(const tms_state *st, msgpack_sbuffer *out);
tms_err tms_state_snapshot_encode_tenant(const tms_state *st, const char *tenant, msgpack_sbuffer *out,
                                         uint64_t *perms_used, uint64_t *features_used);

/* A state made of a base encoding's parts with some tenants' replaced: the
 * part before the tenants and the parts of named[0..n) (sorted, each once)
 * from st (a named tenant st lacks is absent), every other tenant's part
 * from base (enc's bytes, ix its index with hashes: tms_snapshot_index_hash
 * or a snapshot file's table). Its digest into digest; with out, its
 * encoding too, appended (what tms_state_snapshot_encode gives for the
 * state those parts make). st's tenants not named are not read. base may be
 * NULL when out is (only ix's hashes are read). TMS_OK, TMS_E_NOMEM,
 * TMS_E_CORRUPT (as tms_state_snapshot_encode), TMS_E_INVAL (out without
 * base). What verify --since composes at its end, and what a writer that
 * decoded only the tenants it used writes as its snapshot (engine_lazy.c). */
tms_err tms_state_snapshot_compose(const void *base, const tms_snapshot_index *ix, const tms_state *st,
                                   const char *const *named, size_t n, uint8_t digest[TMS_SNAPSHOT_DIGEST_LEN],
                                   msgpack_sbuffer *out);
/* ---- tenants decoded on their own (a writer's open: engine_lazy.c) ----
 * The parts of some tenants of enc[0..len), each with every check of
 * tms_state_snapshot_decode within its own bytes, into a state of their
 * own, then joined to a state that holds the part before the tenants. The
 * layout between parts, and each part against its hash, are the caller's
 * to have checked (tms_state_snapshot_index of the same bytes, and
 * tms_snapshot_index_hash: a snapshot file's whole read does both). enc
 * stays as it is until the taker ends.
 *   taker_new   NULL when out of memory;
 *   taker_part  section t into the taker's state: TMS_OK, or the taker's
 *               error (TMS_E_CORRUPT, TMS_E_NOMEM, with why), which stays;
 *   taker_end   *out the state of the parts taken (their masks checked
 *               against their sections'), or the taker's error; k freed;
 *   join        tenants' into st (and tenants freed): TMS_OK; TMS_E_CORRUPT
 *               with why (a tenant st has; a request id st keeps apart
 *               that the tenant holds too); TMS_E_NOMEM; on a failure
 *               both stay as they were, tenants the caller's. st's
 *               uncommitted changes stay (tms_state_absorb). */
typedef struct tms_snapshot_taker tms_snapshot_taker;
tms_snapshot_taker *tms_snapshot_taker_new(const void *enc, size_t len);
tms_err tms_snapshot_taker_part(tms_snapshot_taker *k, const tms_snapshot_section *t, char *why, size_t whylen);
tms_err tms_snapshot_taker_end(tms_snapshot_taker *k, tms_state **out, char *why, size_t whylen);
void tms_snapshot_taker_free(tms_snapshot_taker *k);
tms_err tms_state_join_tenants(tms_state *st, tms_state *tenants, char *why, size_t whylen);
/* One tenant so, into st (which must not hold it: TMS_E_INVAL): TMS_OK,
 * TMS_E_CORRUPT (why), TMS_E_NOMEM; on a failure st is as it was. */
tms_err tms_state_snapshot_load_tenant(tms_state *st, const void *enc, size_t len, const tms_snapshot_section *t,
                                       char *why, size_t whylen);

/* The catalogue trailer of those masks into out (appended): TMS_OK, TMS_E_CORRUPT (a bit no catalogue
 * names), TMS_E_NOMEM. Internal (the index checks a trailer with it). */
tms_err tms__snapshot_trailer(uint64_t perms_used, uint64_t features_used, msgpack_sbuffer *out);

#endif
