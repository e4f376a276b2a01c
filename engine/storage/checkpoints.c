/* checkpoints.c -- DIR/checkpoints, every signed checkpoint kept for good
 * (checkpoints.h). Entries are framed with a length and a CRC32C before the
 * note and the length again after it, so a torn append is told from damage
 * and the latest entry is read from the end of the file, not by a walk of
 * every entry (a year of 10-second checkpoints is ~3 million). Every system
 * call goes through storage's I/O table (io.h; the default one: NULL). */
#include "checkpoints.h"
#include "io.h"
#include "log.h"
#include "log_internal.h"
#include "note.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENTRY_HEAD 8      /* le32 len, le32 crc */
#define ENTRY_TAIL 4      /* le32 len */
#define ENTRY_OVERHEAD (ENTRY_HEAD + ENTRY_TAIL)

static void path_of(const char *datadir, char *out, size_t len) { snprintf(out, len, "%s/checkpoints", datadir); }

/* The tree size a note names (0 when it is not a checkpoint). */
static uint64_t note_size(const char *note, size_t len)
{
    tms_checkpoint cp;
    return tms_checkpoint_open(note, len, NULL, &cp, NULL, 0) == TMS_OK ? cp.size : 0;
}

/* The entry at off (total: the file's size) into buf: its note length, 0 when there is no whole entry there
 * (a torn append), -1 on a read error. */
static long entry_at(int fd, uint64_t off, uint64_t total, char *buf)
{
    uint8_t head[ENTRY_HEAD], tail[ENTRY_TAIL];
    if (off + ENTRY_OVERHEAD > total)
        return 0;
    if (tms_io_pread(NULL, fd, head, ENTRY_HEAD, (off_t)off) != ENTRY_HEAD)
        return -1;
    uint32_t len = tms_get_le32(head);
    if (len == 0 || len > TMS_CHECKPOINT_MAX_NOTE || off + ENTRY_OVERHEAD + len > total)
        return 0;
    if (tms_io_pread(NULL, fd, buf, len, (off_t)(off + ENTRY_HEAD)) != (ssize_t)len ||
        tms_io_pread(NULL, fd, tail, ENTRY_TAIL, (off_t)(off + ENTRY_HEAD + len)) != ENTRY_TAIL)
        return -1;
    return tms_crc32c(0, buf, len) == tms_get_le32(head + 4) && tms_get_le32(tail) == len ? (long)len : 0;
}

/* Are the bytes of fd from off to total all zero (what a crash can leave after an extended file)? */
static int zeros_from(int fd, uint64_t off, uint64_t total)
{
    uint8_t b[4096];
    while (off < total) {
        size_t n = total - off < sizeof b ? (size_t)(total - off) : sizeof b;
        if (tms_io_pread(NULL, fd, b, n, (off_t)off) != (ssize_t)n)
            return 0;
        for (size_t i = 0; i < n; i++)
            if (b[i])
                return 0;
        off += n;
    }
    return 1;
}

/* Walk the entries of fd (fn may be NULL); *end gets where the intact entries end. A torn final entry (short,
 * or failing its checks with nothing but zeros or its own bytes after it) ends the walk quietly. */
static tms_err walk(int fd, const char *path, tms_checkpoint_fn fn, void *ctx, uint64_t *end, char *why,
                    size_t whylen)
{
    struct stat st;
    char *buf = NULL;
    tms_err err = TMS_OK;
    uint64_t off = 0;
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return TMS_E_IO;
    }
    uint64_t total = (uint64_t)st.st_size;
    if (!(buf = malloc(TMS_CHECKPOINT_MAX_NOTE)))
        return TMS_E_NOMEM;
    while (off < total) {
        long len = entry_at(fd, off, total, buf);
        if (len < 0) {
            err = TMS_E_IO;
            snprintf(why, whylen, "%s: %s", path, strerror(errno));
            break;
        }
        if (len == 0) {   /* torn (the last append, cut or zero-filled) or damaged (entries after it) */
            uint8_t head[4];
            uint32_t claim = tms_io_pread(NULL, fd, head, 4, (off_t)off) == 4 ? tms_get_le32(head) : 0;
            int torn = zeros_from(fd, off, total) ||
                       (claim && claim <= TMS_CHECKPOINT_MAX_NOTE && off + ENTRY_OVERHEAD + claim >= total);
            if (!torn) {
                err = TMS_E_CORRUPT;
                snprintf(why, whylen, "%s: damaged entry at byte %llu", path, (unsigned long long)off);
            }
            break;
        }
        if (fn && fn(ctx, buf, (size_t)len, note_size(buf, (size_t)len), off))
            break;
        off += ENTRY_OVERHEAD + (uint64_t)len;
    }
    *end = off;
    free(buf);
    return err;
}

/* The last entry, read from the end: its offset and length into *off / *len (note in buf); 0 when the file
 * does not end with a whole entry (a torn tail or an empty file: walk it). */
static int last_entry(int fd, uint64_t total, char *buf, uint64_t *off, long *len)
{
    uint8_t tail[ENTRY_TAIL];
    if (total < ENTRY_OVERHEAD || tms_io_pread(NULL, fd, tail, ENTRY_TAIL, (off_t)(total - ENTRY_TAIL)) != ENTRY_TAIL)
        return 0;
    uint32_t n = tms_get_le32(tail);
    if (n == 0 || n > TMS_CHECKPOINT_MAX_NOTE || (uint64_t)n + ENTRY_OVERHEAD > total)
        return 0;
    *off = total - ENTRY_OVERHEAD - n;
    *len = entry_at(fd, *off, total, buf);
    return *len > 0;
}

tms_err tms_checkpoints_read(const char *datadir, tms_checkpoint_fn fn, void *ctx, char *why, size_t whylen)
{
    char path[4200];
    uint64_t end;
    path_of(datadir, path, sizeof path);
    int fd = tms_io_openat(NULL, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return TMS_OK;
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return TMS_E_IO;
    }
    tms_err err = walk(fd, path, fn, ctx, &end, why, whylen);
    tms_io_close(NULL, fd);
    return err;
}

typedef struct finder {
    uint64_t want, best;
    char *note;
    size_t len;
    int nomem;
} finder;

static int find_one(void *ctx, const char *note, size_t len, uint64_t size, uint64_t offset)
{
    finder *f = ctx;
    (void)offset;
    if (size == 0 || (f->want ? size != f->want : size < f->best))
        return 0;
    char *copy = malloc(len + 1);
    if (!copy) {
        f->nomem = 1;
        return 1;
    }
    memcpy(copy, note, len);
    copy[len] = '\0';
    free(f->note);
    f->note = copy;
    f->len = len;
    f->best = size;
    return 0;
}

/* The latest entry from the file's end, when it is a whole checkpoint: 1 with f filled. */
static int find_latest_fast(const char *path, finder *f)
{
    struct stat st;
    uint64_t off;
    long len;
    int found = 0, fd = tms_io_openat(NULL, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    char *buf = fd >= 0 ? malloc(TMS_CHECKPOINT_MAX_NOTE) : NULL;
    if (buf && fstat(fd, &st) == 0 && last_entry(fd, (uint64_t)st.st_size, buf, &off, &len) &&
        note_size(buf, (size_t)len) && (f->note = malloc((size_t)len + 1))) {
        memcpy(f->note, buf, (size_t)len);
        f->note[len] = '\0';
        f->len = (size_t)len;
        found = 1;
    }
    free(buf);
    if (fd >= 0)
        tms_io_close(NULL, fd);
    return found;
}

tms_err tms_checkpoints_find(const char *datadir, uint64_t size, char **note, size_t *len, char *why, size_t whylen)
{
    char path[4200];
    finder f = {.want = size};
    tms_err err = TMS_OK;
    path_of(datadir, path, sizeof path);
    /* the latest is the last entry (sizes only grow: a cosigned copy of a size comes after it); when the file
       does not end in a whole checkpoint, the walk says why */
    if (size || !find_latest_fast(path, &f))
        err = tms_checkpoints_read(datadir, find_one, &f, why, whylen);
    if (!err && f.nomem)
        err = TMS_E_NOMEM;
    if (!err && !f.note) {
        snprintf(why, whylen, size ? "no checkpoint of size %llu" : "no checkpoint yet", (unsigned long long)size);
        err = TMS_NOT_FOUND;
    }
    if (err) {
        free(f.note);
        f.note = NULL;
    }
    *note = f.note;
    *len = f.len;
    return err;
}

/* Where a new entry goes: after the last whole entry (read from the end), else after the walk (a torn tail is
 * cut). TMS_E_CORRUPT when the file is damaged before its end. */
static tms_err append_offset(int fd, const char *path, uint64_t *end, char *why, size_t whylen)
{
    struct stat st;
    uint64_t off;
    long len;
    char *buf = malloc(TMS_CHECKPOINT_MAX_NOTE);
    if (!buf)
        return TMS_E_NOMEM;
    tms_err err = TMS_OK;
    if (fstat(fd, &st) != 0)
        err = TMS_E_IO;
    else if (st.st_size == 0)
        *end = 0;
    else if (last_entry(fd, (uint64_t)st.st_size, buf, &off, &len))
        *end = (uint64_t)st.st_size;
    else
        err = walk(fd, path, NULL, NULL, end, why, whylen);
    free(buf);
    return err;
}

tms_err tms_checkpoints_append(const char *datadir, const char *note, size_t len, char *why, size_t whylen)
{
    char path[4200];
    uint8_t *entry = NULL;
    uint64_t end = 0;
    struct stat st;
    tms_err err = TMS_E_IO;
    if (len == 0 || len > TMS_CHECKPOINT_MAX_NOTE) {
        snprintf(why, whylen, "a checkpoint note of %zu bytes", len);
        return TMS_E_INVAL;
    }
    path_of(datadir, path, sizeof path);
    int created = stat(path, &st) != 0;
    int fd = tms_io_openat(NULL, AT_FDCWD, path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return TMS_E_IO;
    }
    if ((err = append_offset(fd, path, &end, why, whylen)))
        goto out;
    created |= end == 0;   /* created by an append a crash stopped before it synced the directory */
    err = TMS_E_NOMEM;
    if (!(entry = malloc(len + ENTRY_OVERHEAD)))
        goto out;
    tms_put_le32(entry, (uint32_t)len);
    tms_put_le32(entry + 4, tms_crc32c(0, note, len));
    memcpy(entry + ENTRY_HEAD, note, len);
    tms_put_le32(entry + ENTRY_HEAD + len, (uint32_t)len);
    err = TMS_E_IO;
    if (tms_io_ftruncate(NULL, fd, (off_t)end) != 0 ||
        tms_io_pwrite(NULL, fd, entry, len + ENTRY_OVERHEAD, (off_t)end) != (ssize_t)(len + ENTRY_OVERHEAD) ||
        tms_io_fdatasync(NULL, fd) != 0) {
        err = errno == ENOSPC ? TMS_E_NOSPACE : TMS_E_IO;
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        if (tms_io_ftruncate(NULL, fd, (off_t)end) != 0) {
            /* a partial entry stays; it is torn (the last one) and the next append cuts it */
        }
        goto out;
    }
    err = TMS_OK;
    if (created) {   /* a new file: its directory entry must survive a crash too */
        if (tms_io_fsync_dir(NULL, AT_FDCWD, datadir) != 0) {
            snprintf(why, whylen, "%s: cannot sync the directory: %s", datadir, strerror(errno));
            err = TMS_E_IO;
        }
    }
out:
    free(entry);
    tms_io_close(NULL, fd);
    return err;
}
