/* snapshot_parts.h -- a snapshot file's parts table (storage-private;
 * snapshots.h, "Version 5"): where each part of the payload is, its hash
 * and masks, so that a reader can check the file's state digest from the
 * table alone and read only the parts it needs, each checked against its
 * hash (tms_snapshot_read_file_parts).
 *
 * The table, all integers little-endian:
 *   le64 global_len | global_hash[32] | le64 tenants |
 *   per tenant, in the payload's order: u8 id length (1..TMS_ID_MAX) | id |
 *     le64 part length | hash[32] | le64 perms used | le64 features used
 * and after it, the file's last 8 bytes: le32 table length | le32 CRC32C
 * of the table. The parts' offsets are not stored: they follow from the
 * lengths (the count of tenants, in its shortest msgpack form, lies between
 * the part before the tenants and the first tenant's), so a table cannot
 * place a part elsewhere than its lengths say. */
#ifndef TMS_SNAPSHOT_PARTS_H
#define TMS_SNAPSHOT_PARTS_H

#include <stddef.h>
#include <stdint.h>
#include "snapshot.h"

#define TMS__PARTS_FOOTER 8

/* ix's table (ix hashed: tms_snapshot_index_hash) followed by its footer,
 * malloc'd into *out, *len bytes. TMS_OK, TMS_E_NOMEM. */
tms_err tms__parts_table_encode(const tms_snapshot_index *ix, uint8_t **out, size_t *len);

/* The table t[0..tlen) (its footer already checked) of a payload of plen
 * bytes into *ix: every length within the payload, ids 1..TMS_ID_MAX bytes
 * with no NUL and in byte order, each once, nothing after the last entry.
 * TMS_OK, TMS_E_CORRUPT (why), TMS_E_NOMEM; *ix empty on failure. */
tms_err tms__parts_table_decode(const uint8_t *t, size_t tlen, uint64_t plen, tms_snapshot_index *ix,
                                const char **why);

/* 1 when a and b say the same parts (offsets, lengths, ids, masks, hashes), else 0. */
int tms__parts_same(const tms_snapshot_index *a, const tms_snapshot_index *b);

#endif
