/* io.h -- the one table every system call of storage's files goes through
 * (the log's writer and its recovery, snapshots, checkpoints), so a test
 * can fail any one of them, or stop "the process" at any one of them, and
 * check what a reopen finds (tests/test_crash_points.c). In the spirit of
 * SQLite's aSyscall[] (os_unix.c).
 *
 * Two places hold a table: a log's own (tms_log_options.io, per log), and
 * the process's default (tms_io_set_default: what snapshots, checkpoints,
 * and the log's readers that have no options use, and what a log's NULL
 * members fall back to). A NULL member, in both, means the libc call. The
 * first two members are the log's historical hooks (tms_log_io is this
 * table), so positional initialisers { my_write, my_fdatasync } keep working;
 * new members go at the end.
 *
 * fsync: a full fsync (a new file's metadata, a directory) uses fsync when
 * set, else fdatasync when set (as the log's two hooks always did), else
 * libc fsync(). Paths are relative to dirfd (AT_FDCWD for an absolute or
 * cwd-relative path), as the *at calls take them.
 *
 * Directory listing (opendir/readdir) and fstat are not in the table: they
 * change nothing on disk and a failed one is reported like a failed read. */
#ifndef TMS_IO_H
#define TMS_IO_H

#include <stddef.h>
#include <sys/types.h>

typedef struct tms_io {
    ssize_t (*write)(int fd, const void *buf, size_t len);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
    ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
    ssize_t (*read)(int fd, void *buf, size_t len);
    int (*ftruncate)(int fd, off_t len);
    int (*unlinkat)(int dirfd, const char *path, int flags);
    int (*renameat)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
    int (*mkdirat)(int dirfd, const char *path, mode_t mode);
    int (*close)(int fd);
    ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
} tms_io;

/* Set the process's default table (NULL: libc again); returns the previous
 * one. For tests: set it before storage is used and while no other thread
 * is in storage; the table must outlive its use. */
const tms_io *tms_io_set_default(const tms_io *io);

/* The calls, through io's member, else the default table's, else libc's
 * (io may be NULL). Same results and errno as libc. */
ssize_t tms_io_write(const tms_io *io, int fd, const void *buf, size_t len);
int tms_io_fdatasync(const tms_io *io, int fd);
int tms_io_fsync(const tms_io *io, int fd);
int tms_io_openat(const tms_io *io, int dirfd, const char *path, int flags, mode_t mode);
ssize_t tms_io_pread(const tms_io *io, int fd, void *buf, size_t len, off_t off);
ssize_t tms_io_read(const tms_io *io, int fd, void *buf, size_t len);
int tms_io_ftruncate(const tms_io *io, int fd, off_t len);
int tms_io_unlinkat(const tms_io *io, int dirfd, const char *path, int flags);
int tms_io_renameat(const tms_io *io, int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
int tms_io_mkdirat(const tms_io *io, int dirfd, const char *path, mode_t mode);
int tms_io_close(const tms_io *io, int fd);
ssize_t tms_io_pwrite(const tms_io *io, int fd, const void *buf, size_t len, off_t off);

/* Write all len bytes (retrying EINTR and short writes): 0, or -1 with errno
 * (EIO for a write that returned 0). */
int tms_io_write_all(const tms_io *io, int fd, const void *buf, size_t len);

/* Fsync the directory dirfd's path names (dirfd may be AT_FDCWD, path "." for dirfd itself): 0 or -1. */
int tms_io_fsync_dir(const tms_io *io, int dirfd, const char *path);

#endif
