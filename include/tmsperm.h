/* tmsperm.h -- the public API of tmsperm: error codes and the embedded,
 * read-only permission lookup a PBX node links against.
 *
 * Every function returns a tms_err (TMS_OK == 0) unless it says otherwise.
 * Error codes are generated from schemas/tmsperm.json; their names are stable API. */
#ifndef TMSPERM_H
#define TMSPERM_H

#include <stddef.h>
#include <stdint.h>
#include "tmsperm_errors.h"
#include "tmsperm_version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The stable code of an error ("NOT_OWNER", "E_IO"); "OK" for TMS_OK and
 * "UNKNOWN" for a value outside the enum. Static storage: never free it. */
const char *tms_err_name(tms_err err);

/* A one-line English description of an error. Static storage. */
const char *tms_strerror(tms_err err);

/* The version of the library loaded ("0.12.0"): TMS_VERSION of the build it
 * came from. Static storage. */
const char *tms_version(void);

/* ---- Embedded lookups ---------------------------------------------------
 * A PBX node answers "may extension 1001 of tenant acme do
 * calls.international?" by reading the LMDB projection of a data directory
 * directly, without a server. Safe while a writer (tmsd, tmsctl) updates it:
 * LMDB readers never block and see a consistent snapshot. A reader handle is
 * for one thread at a time; open one per thread: the handles of one process
 * share one LMDB environment per data directory (LMDB requires that), each
 * with its own read transaction. */

typedef struct tms_reader tms_reader;

/* Open the projection of the data directory dir read-only. On success *out
 * is a handle the caller closes with tms_reader_close. TMS_NOT_FOUND when dir
 * holds no projection yet; TMS_E_STORE / TMS_E_IO otherwise.
 *
 * The process needs to search dir and dir/proj, to read proj/data.mdb and
 * proj/writer, and to read and WRITE proj/lock.mdb (LMDB readers register in
 * the lock file): a process in the writer's group (group tmsperm for the
 * packaged tmsd), whose writer keeps lock.mdb 0660. */
tms_err tms_reader_open(const char *dir, tms_reader **out);

/* tms_reader_open, and on failure a one-line reason in why (whylen bytes,
 * always terminated): what could not be opened and the system's reason,
 * e.g. "cannot open the projection in /var/lib/tmsperm/proj: Permission
 * denied (/var/lib/tmsperm/proj/lock.mdb is 0640, ...)". why may be NULL. */
tms_err tms_reader_open_why(const char *dir, tms_reader **out, char *why, size_t whylen);

/* Close a reader. NULL is a no-op. */
void tms_reader_close(tms_reader *r);

/* May the account (kind "extension" or "manager", or "admin" for the
 * tenant's PBX Admin) use permission or feature `name`? Returns 1 (allow) or
 * 0 (deny). Fails closed: an unknown tenant, kind, account or name is 0.
 * Returns a negative tms_err (-TMS_E_STORE ...) when the store cannot be
 * read. No allocation; one or two LMDB reads. The answer reflects every
 * commit made before the call (read-your-writes for acknowledged submits). */
int tms_reader_check(tms_reader *r, const char *tenant, const char *kind, const char *id, const char *name);

/* Why the last failed tms_reader_check or tms_reader_seq of r failed, as
 * tms_reader_open_why says it (the writer replaced the projection and it
 * could not be opened again, ...); "" before any failure. Valid until the
 * next call on r. */
const char *tms_reader_message(const tms_reader *r);

/* The seq of the last record applied to the projection the next check
 * reads (0 when none), from a fresh snapshot like tms_reader_check: a check
 * made after this call reflects at least that seq. TMS_OK, or the store's
 * error (then *seq is untouched). For freshness: wait until it reaches the
 * seq a submit returned ("--min-seq"). */
tms_err tms_reader_seq(tms_reader *r, uint64_t *seq);

/* Between checks a reader keeps its LMDB snapshot while nothing changes (that
 * is what makes a check cheap). A snapshot held across many writes keeps old
 * pages from reuse, so call this when the reader goes idle for long; the next
 * check takes a fresh one. NULL is a no-op. */
void tms_reader_release(tms_reader *r);

#ifdef __cplusplus
}
#endif
#endif
