/* testutil.h -- helpers shared by the cmocka tests: scratch directories,
 * file surgery for fault injection. */
#ifndef TMS_TESTUTIL_H
#define TMS_TESTUTIL_H
#include <stddef.h>
#include <stdint.h>

/* Make a fresh empty directory under $TMPDIR (or /tmp); returns a malloc'd
 * path the caller frees after tu_rmtree. Aborts the test run on failure. */
char *tu_mkdtemp(void);
/* Remove a directory tree (like rm -rf). */
void tu_rmtree(const char *path);
/* Read a whole file into a malloc'd buffer; *len gets its size. NULL if absent. */
uint8_t *tu_read_file(const char *path, size_t *len);
/* Replace a file's contents (creates it). Returns 0 on success. */
int tu_write_file(const char *path, const void *data, size_t len);
/* Size of a file, or -1. */
long long tu_file_size(const char *path);
#endif
