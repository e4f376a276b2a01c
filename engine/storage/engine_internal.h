/* engine_internal.h -- what engine.c and engine_loss.c share: the witnesses
 * of how far the log once went (engine_loss.c). Private to storage. */
#ifndef TMS_ENGINE_INTERNAL_H
#define TMS_ENGINE_INTERNAL_H

#include "engine.h"

typedef struct tms__witness {
    int present;
    uint64_t seq;
    uint8_t head[TMS_HASH_LEN];
} tms__witness;

/* What the witnesses said, and whether the log agreed at their seqs. */
typedef struct tms__loss_check {
    int proj_trusted;               /* the projection can be believed (store evidence, format) */
    uint64_t proj_seq;
    uint8_t proj_head[TMS_HASH_LEN];
    int proj_matched;               /* the log's chain head at proj_seq equals proj_head */
    tms__witness witness;
    int witness_matched;            /* the same for DIR/witness */
} tms__loss_check;

/* DIR/witness: TMS_OK with w->present 0 when there is none; TMS_E_CORRUPT
 * (why says so) when it is damaged; TMS_E_IO. */
tms_err tms__witness_read(const char *dir, tms__witness *w, char *why, size_t whylen);
/* Replace DIR/witness durably (write, fsync, rename, fsync DIR). */
tms_err tms__witness_write(const char *dir, uint64_t seq, const uint8_t head[TMS_HASH_LEN]);
/* What the witnesses prove against a log ending at `last`: "" when nothing
 * is missing or rewritten, else one line naming the seqs. */
void tms__loss_evidence(const tms__loss_check *c, uint64_t last, char *out, size_t len);
/* The same, short enough for a record's text field (the AcknowledgeLoss
 * record's evidence): the seqs and the first bytes of the heads. */
void tms__loss_summary(const tms__loss_check *c, uint64_t last, char *out, size_t len);
/* Append an AcknowledgeLoss record to an open engine. */
tms_err tms__acknowledge_loss(tms_engine *e, const char *reason, const char *evidence, char *why, size_t whylen);

/* engine_snapshot.c: the state saved as the snapshot of seq (head, root,
 * time of record seq), unless the newest snapshot is of seq already; and
 * the state of the snapshot of exactly seq when it checks and its head is
 * head (*st new, *time record seq's): TMS_NOT_FOUND when there is none; one
 * that does not agree is set aside and said (said) as TMS_E_CORRUPT. */
tms_err tms__snapshot_save(const char *dir, const tms_state *st, uint64_t seq, const uint8_t head[TMS_HASH_LEN],
                           const uint8_t root[TMS_HASH_LEN], int64_t time, char *why, size_t whylen);
tms_err tms__snapshot_load(const char *dir, uint64_t seq, const uint8_t head[TMS_HASH_LEN], tms_state **st,
                           int64_t *time, char *said, size_t saidlen);

#endif
