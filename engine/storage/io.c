/* io.c -- storage's system calls through one table (io.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io.h"

static _Atomic(const tms_io *) default_io;

const tms_io *tms_io_set_default(const tms_io *io)
{
    return atomic_exchange(&default_io, io);
}

/* The member m of io, else of the default table, else NULL (libc). */
#define PICK(io, m)                                                                                                \
    ((io) && (io)->m ? (io)->m : (dflt = atomic_load_explicit(&default_io, memory_order_relaxed)) && dflt->m ? dflt->m \
                                                                                                          : NULL)

ssize_t tms_io_write(const tms_io *io, int fd, const void *buf, size_t len)
{
    const tms_io *dflt;
    ssize_t (*f)(int, const void *, size_t) = PICK(io, write);
    return f ? f(fd, buf, len) : write(fd, buf, len);
}

ssize_t tms_io_pwrite(const tms_io *io, int fd, const void *buf, size_t len, off_t off)
{
    const tms_io *dflt;
    ssize_t (*f)(int, const void *, size_t, off_t) = PICK(io, pwrite);
    return f ? f(fd, buf, len, off) : pwrite(fd, buf, len, off);
}

int tms_io_fdatasync(const tms_io *io, int fd)
{
    const tms_io *dflt;
    int (*f)(int) = PICK(io, fdatasync);
    return f ? f(fd) : fdatasync(fd);
}

int tms_io_fsync(const tms_io *io, int fd)
{
    const tms_io *dflt = atomic_load_explicit(&default_io, memory_order_relaxed);
    int (*f)(int) = io && io->fsync       ? io->fsync
                    : io && io->fdatasync ? io->fdatasync   /* the log's hooks always took both */
                    : dflt && dflt->fsync ? dflt->fsync
                    : dflt                ? dflt->fdatasync
                                          : NULL;
    return f ? f(fd) : fsync(fd);
}

int tms_io_openat(const tms_io *io, int dirfd, const char *path, int flags, mode_t mode)
{
    const tms_io *dflt;
    int (*f)(int, const char *, int, mode_t) = PICK(io, openat);
    return f ? f(dirfd, path, flags, mode) : openat(dirfd, path, flags, mode);
}

ssize_t tms_io_pread(const tms_io *io, int fd, void *buf, size_t len, off_t off)
{
    const tms_io *dflt;
    ssize_t (*f)(int, void *, size_t, off_t) = PICK(io, pread);
    return f ? f(fd, buf, len, off) : pread(fd, buf, len, off);
}

ssize_t tms_io_read(const tms_io *io, int fd, void *buf, size_t len)
{
    const tms_io *dflt;
    ssize_t (*f)(int, void *, size_t) = PICK(io, read);
    return f ? f(fd, buf, len) : read(fd, buf, len);
}

int tms_io_ftruncate(const tms_io *io, int fd, off_t len)
{
    const tms_io *dflt;
    int (*f)(int, off_t) = PICK(io, ftruncate);
    return f ? f(fd, len) : ftruncate(fd, len);
}

int tms_io_unlinkat(const tms_io *io, int dirfd, const char *path, int flags)
{
    const tms_io *dflt;
    int (*f)(int, const char *, int) = PICK(io, unlinkat);
    return f ? f(dirfd, path, flags) : unlinkat(dirfd, path, flags);
}

int tms_io_renameat(const tms_io *io, int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    const tms_io *dflt;
    int (*f)(int, const char *, int, const char *) = PICK(io, renameat);
    return f ? f(olddirfd, oldpath, newdirfd, newpath) : renameat(olddirfd, oldpath, newdirfd, newpath);
}

int tms_io_mkdirat(const tms_io *io, int dirfd, const char *path, mode_t mode)
{
    const tms_io *dflt;
    int (*f)(int, const char *, mode_t) = PICK(io, mkdirat);
    return f ? f(dirfd, path, mode) : mkdirat(dirfd, path, mode);
}

int tms_io_close(const tms_io *io, int fd)
{
    const tms_io *dflt;
    int (*f)(int) = PICK(io, close);
    return f ? f(fd) : close(fd);
}

int tms_io_write_all(const tms_io *io, int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = tms_io_write(io, fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int tms_io_fsync_dir(const tms_io *io, int dirfd, const char *path)
{
    int fd = tms_io_openat(io, dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = tms_io_fsync(io, fd);
    int err = errno;
    tms_io_close(io, fd);
    errno = err;
    return rc;
}
