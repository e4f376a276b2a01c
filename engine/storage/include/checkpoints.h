/* checkpoints.h -- every signed checkpoint of a data directory, kept for
 * good (SPEC section 11): DIR/checkpoints, append only, never rewritten.
 *
 * On disk: entries of  le32 len | le32 CRC32C(note) | note[len] | le32 len
 * where note is a whole C2SP signed note (a checkpoint with its signature
 * lines); the trailing length lets the latest entry be read from the end.
 * A checkpoint that gains cosignatures is appended again, whole, with them:
 * the later entry of a size supersedes the earlier for printing, and both
 * stay. A torn final entry (a crash during an append: short, zero-filled,
 * or failing its checks with nothing after it) is ignored by readers and
 * cut by the next append; damage anywhere else is TMS_E_CORRUPT naming the
 * offset. The latest entry and an append cost O(1) reads; a lookup of an
 * older size walks the file.
 *
 * Every system call goes through storage's I/O table (io.h), so
 * tests/test_crash_points.c stops at each.
 *
 * One writer per directory (the holder of DIR/lock: tmsd, or an embedded
 * tmsctl), any number of readers. */
#ifndef TMS_CHECKPOINTS_H
#define TMS_CHECKPOINTS_H

#include <stddef.h>
#include <stdint.h>
#include "tmsperm.h"

#define TMS_CHECKPOINT_MAX_NOTE 65536

/* Called for each entry, in order: note[0..len) (not NUL-terminated), its
 * tree size (from the note's text; 0 when the text is not a checkpoint) and
 * byte offset. Return non-zero to stop (tms_checkpoints_read returns TMS_OK). */
typedef int (*tms_checkpoint_fn)(void *ctx, const char *note, size_t len, uint64_t size, uint64_t offset);

/* Read DIR/checkpoints (none: TMS_OK, no call). TMS_E_CORRUPT / TMS_E_IO with why. */
tms_err tms_checkpoints_read(const char *datadir, tms_checkpoint_fn fn, void *ctx, char *why, size_t whylen);

/* The last entry of tree size `size` (0: the entry with the largest size, the
 * last of them), malloc'd into *note (NUL-terminated) with *len. TMS_NOT_FOUND
 * when there is none. */
tms_err tms_checkpoints_find(const char *datadir, uint64_t size, char **note, size_t *len, char *why, size_t whylen);

/* Append one entry durably (write, fdatasync; the file and DIR fsynced when
 * new, or empty: a crash may have stopped the append that created it). A
 * torn final entry left by a crash is cut first. TMS_E_INVAL for an
 * empty or oversized note; TMS_E_IO / TMS_E_NOSPACE; TMS_E_CORRUPT when the
 * file is damaged before its end (nothing is appended to a damaged file). */
tms_err tms_checkpoints_append(const char *datadir, const char *note, size_t len, char *why, size_t whylen);

#endif
