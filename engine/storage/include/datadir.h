/* datadir.h -- a data directory's files as persistence sees them, for the
 * writer room (engine/writer): the directory's mode, a small file replaced
 * durably, a projection's LMDB files set aside. Storage only: no domain. */
#ifndef TMS_DATADIR_H
#define TMS_DATADIR_H

#include <stddef.h>
#include "tmsperm.h"
#include "tmsperm_schema.h"

/* Modes (datadir.c; docs/design.md, "Who may read a data directory"). The
 * data directory dir at most 0750 (setgid kept): TMS_OK, what was done or
 * could not be said in report (appended, "; " between); TMS_E_IO (why) when
 * it is writable by others and cannot be tightened. */
tms_err tms_datadir_private(const char *dir, char *report, size_t replen, char *why, size_t whylen);

/* Replace DIR/LEAF with text, durably: written to LEAF.tmp, synced, renamed,
 * the directory synced. 0, or the errno of the step that failed (the
 * temporary file is removed; the old DIR/LEAF stays as it was). */
int tms_replace_file(const char *dir, const char *leaf, const char *text, size_t n);

/* Set DIR/data.mdb aside as DIR/data.mdb.SUFFIX (replacing an older one)
 * and remove DIR/lock.mdb: files never to be opened again, kept as evidence. */
tms_err tms_store_set_aside(const char *dir, const char *suffix, char *why, size_t whylen);

#endif
