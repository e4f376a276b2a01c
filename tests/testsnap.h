/* testsnap.h -- helpers of the snapshot encoding's tests (testsnap.c). */
#ifndef TESTSNAP_H
#define TESTSNAP_H

#include <msgpack.h>
#include "replay.h"
#include "snapshot.h"
#include "teststream.h"

/* buf[0..len) written as DIR/name-N when TMS_SNAPSHOT_SEEDS=DIR is set and
 * len is at most 64 KiB (seeds for tests/fuzz/fuzz_snapshot.c). */
void ts_write_seed(const char *name, const void *buf, size_t len);
/* st encoded into sb, checked against the encoding made piece by piece
 * (tms_state_snapshot_encode_to) and against a writer that fails half way
 * (TMS_E_NOMEM). Fails the test otherwise. */
void ts_encode(const tms_state *st, msgpack_sbuffer *sb);
/* The decode shared by two takers, interleaved on this thread by pattern
 * (0-3, testsnap.c): as tms_state_snapshot_decode. */
tms_err ts_split_decode(const void *buf, size_t len, int pattern, tms_state **out, char *why, size_t whylen);
/* One JSON command applied as replay applies it (record seq): its verdict's
 * code, TMS_INVALID_COMMAND when the JSON is refused at the edge. */
tms_err ts_apply_json(tms_state *st, const char *json, uint64_t seq, tms_verdict *v);
/* The snapshot of the state the first `records` commands of gen_log ARGS make. */
void ts_small_snapshot(msgpack_sbuffer *sb, const char *args, size_t records);

#endif
