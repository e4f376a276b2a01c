/* checkpoints.c -- DIR/checkpoints, every signed checkpoint kept for good
 * (checkpoints.h). Entries are framed with a length and a CRC32C so a torn
 * append is told from damage; a note's tree size is read from its text. */
#include "checkpoints.h"
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

#define ENTRY_HEAD 8

static void path_of(const char *datadir, char *out, size_t len) { snprintf(out, len, "%s/checkpoints", datadir); }

/* The tree size a note names (0 when it is not a checkpoint). */
static uint64_t note_size(const char *note, size_t len)
{
    tms_checkpoint cp;
    return tms_checkpoint_open(note, len, NULL, &cp, NULL, 0) == TMS_OK ? cp.size : 0;
}

/* Walk the entries of fd; *end gets where the intact entries end. A torn final entry stops the walk quietly. */
static tms_err walk(int fd, const char *path, tms_checkpoint_fn fn, void *ctx, uint64_t *end, char *why,
                    size_t whylen)
{
    struct stat st;
    uint8_t head[ENTRY_HEAD];
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
    while (off + ENTRY_HEAD <= total) {
        if (pread(fd, head, ENTRY_HEAD, (off_t)off) != ENTRY_HEAD) {
            err = TMS_E_IO;
            break;
        }
        uint32_t len = tms_get_le32(head), crc = tms_get_le32(head + 4);
        int fits = len > 0 && len <= TMS_CHECKPOINT_MAX_NOTE && off + ENTRY_HEAD + len <= total;
        if (!fits || pread(fd, buf, len, (off_t)(off + ENTRY_HEAD)) != (ssize_t)len ||
            tms_crc32c(0, buf, len) != crc) {
            if (!fits && (len == 0 || len > TMS_CHECKPOINT_MAX_NOTE || off + ENTRY_HEAD + len < total))
                err = TMS_E_CORRUPT;           /* a length no append writes, with bytes after it */
            else if (fits && off + ENTRY_HEAD + len < total)
                err = TMS_E_CORRUPT;           /* a bad checksum with entries after it */
            break;                             /* else a torn final entry */
        }
        if (fn && fn(ctx, buf, len, note_size(buf, len), off))
            break;
        off += ENTRY_HEAD + len;
    }
    if (err == TMS_E_CORRUPT)
        snprintf(why, whylen, "%s: damaged entry at byte %llu", path, (unsigned long long)off);
    else if (err)
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
    *end = off;
    free(buf);
    return err;
}

tms_err tms_checkpoints_read(const char *datadir, tms_checkpoint_fn fn, void *ctx, char *why, size_t whylen)
{
    char path[4200];
    uint64_t end;
    path_of(datadir, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return TMS_OK;
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return TMS_E_IO;
    }
    tms_err err = walk(fd, path, fn, ctx, &end, why, whylen);
    close(fd);
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

tms_err tms_checkpoints_find(const char *datadir, uint64_t size, char **note, size_t *len, char *why, size_t whylen)
{
    finder f = {.want = size};
    tms_err err = tms_checkpoints_read(datadir, find_one, &f, why, whylen);
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

tms_err tms_checkpoints_append(const char *datadir, const char *note, size_t len, char *why, size_t whylen)
{
    char path[4200];
    uint8_t head[ENTRY_HEAD];
    uint64_t end = 0;
    struct stat st;
    tms_err err = TMS_E_IO;
    if (len == 0 || len > TMS_CHECKPOINT_MAX_NOTE) {
        snprintf(why, whylen, "a checkpoint note of %zu bytes", len);
        return TMS_E_INVAL;
    }
    path_of(datadir, path, sizeof path);
    int created = stat(path, &st) != 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return TMS_E_IO;
    }
    if ((err = walk(fd, path, NULL, NULL, &end, why, whylen)))
        goto out;
    tms_put_le32(head, (uint32_t)len);
    tms_put_le32(head + 4, tms_crc32c(0, note, len));
    err = TMS_E_IO;
    if (ftruncate(fd, (off_t)end) != 0 || pwrite(fd, head, ENTRY_HEAD, (off_t)end) != ENTRY_HEAD ||
        pwrite(fd, note, len, (off_t)(end + ENTRY_HEAD)) != (ssize_t)len || fdatasync(fd) != 0) {
        err = errno == ENOSPC ? TMS_E_NOSPACE : TMS_E_IO;
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        if (ftruncate(fd, (off_t)end) != 0) {
            /* a partial entry stays; it is torn (the last one) and the next append cuts it */
        }
        goto out;
    }
    err = TMS_OK;
    if (created) {   /* a new file: its directory entry must survive a crash too */
        int dfd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0) {
            snprintf(why, whylen, "%s: cannot sync the directory: %s", datadir, strerror(errno));
            err = TMS_E_IO;
        }
        if (dfd >= 0)
            close(dfd);
    }
out:
    close(fd);
    return err;
}
