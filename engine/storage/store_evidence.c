/* store_evidence.c -- whether a projection written without fsync can be
 * believed after a stop (store.h, "Evidence"). The file DIR/writer holds
 *
 *     tmsperm-projection-writer 1
 *     boot <the kernel's boot id when it was opened for writing>
 *     state open|clean
 *
 * and is replaced atomically (write, fsync, rename, fsync the directory)
 * before the first unsynced commit, and after the sync at a clean close. */
#include "store_internal.h"
#include "io.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/* The current boot id, or "" when the kernel does not say (then every
 * unclean stop counts as a reboot: the safe side). */
void tms__boot_id(char *out, size_t len)
{
    FILE *f = fopen(BOOT_ID_PATH, "r");
    out[0] = '\0';
    if (!f)
        return;
    if (!fgets(out, (int)len, f))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

/* Parse DIR/writer: 1 with boot and clean filled, 0 when absent or not
 * evidence, -1 (errno set) when it exists but cannot be read. */
static int read_evidence(const char *dir, char *boot, size_t bootlen, int *clean)
{
    char path[4200], line[160], state[16] = "";
    int version = 0;
    snprintf(path, sizeof path, "%s/writer", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    boot[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, "tmsperm-projection-writer ", 26))
            version = atoi(line + 26);
        else if (!strncmp(line, "boot ", 5) && strlen(line + 5) < bootlen)
            memcpy(boot, line + 5, strlen(line + 5) + 1);
        else if (!strncmp(line, "state ", 6) && strlen(line + 6) < sizeof state)
            memcpy(state, line + 6, strlen(line + 6) + 1);
    }
    fclose(f);
    *clean = !strcmp(state, "clean");
    return version == 1 && (*clean || !strcmp(state, "open"));
}

int tms_replace_file(const char *dir, const char *leaf, const char *text, size_t n)
{
    char path[4200], tmp[4300];
    int err = 0, fd;
    snprintf(path, sizeof path, "%s/%s", dir, leaf);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, leaf);
    /* through the I/O table (io.h): the witness and the writer evidence are crash points too */
    if ((fd = tms_io_openat(NULL, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
        return errno;
    errno = 0;
    if (fchmod(fd, 0640) != 0 || tms_io_write_all(NULL, fd, text, n) != 0)   /* 0640 whatever the umask */
        err = errno ? errno : EIO;   /* a short write: the disk is full */
    else if (tms_io_fsync(NULL, fd) != 0)
        err = errno;
    if (tms_io_close(NULL, fd) != 0 && !err)
        err = errno;
    if (!err && tms_io_renameat(NULL, AT_FDCWD, tmp, AT_FDCWD, path) != 0)
        err = errno;
    if (err) {
        tms_io_unlinkat(NULL, AT_FDCWD, tmp, 0);
        return err;
    }
    return tms_io_fsync_dir(NULL, AT_FDCWD, dir) != 0 ? errno : 0;
}

/* 0, or -1 with errno set. */
static int write_evidence(const char *dir, const char *boot, const char *state)
{
    char text[256];
    int n = snprintf(text, sizeof text, "tmsperm-projection-writer 1\nboot %s\nstate %s\n", boot, state);
    int err = tms_replace_file(dir, "writer", text, (size_t)n);
    errno = err;
    return err ? -1 : 0;
}

static int exists(const char *dir, const char *leaf)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, leaf);
    return access(path, F_OK) == 0;
}

/* Set the LMDB files aside: after a system crash they may hold torn pages
 * that LMDB would follow, so they are never opened again; but they are
 * evidence of how far the projection went, so data.mdb is kept as
 * data.mdb.unclean (replacing an older one) for an operator to look at. No
 * process of an earlier boot can hold them. */
tms_err tms_store_set_aside(const char *dir, const char *suffix, char *why, size_t whylen)
{
    char data[4200], aside[4300], lock[4200];
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    snprintf(aside, sizeof aside, "%s/data.mdb.%s", dir, suffix);
    snprintf(lock, sizeof lock, "%s/lock.mdb", dir);
    if (rename(data, aside) != 0 && errno != ENOENT) {
        snprintf(why, whylen, "cannot set %s aside: %s", data, strerror(errno));
        return TMS_E_IO;
    }
    if (unlink(lock) != 0 && errno != ENOENT) {
        snprintf(why, whylen, "cannot remove %s: %s", lock, strerror(errno));
        return TMS_E_IO;
    }
    return TMS_OK;
}

int tms_store_believable_why(const char *dir, char *why, size_t whylen)
{
    char now[64], was[64];
    int clean = 0, rc;
    tms__boot_id(now, sizeof now);
    why[0] = '\0';
    if ((rc = read_evidence(dir, was, sizeof was, &clean)) < 0) {
        snprintf(why, whylen, "cannot read %s/writer: %s", dir, strerror(errno));
        return -1;
    }
    if (rc == 0)
        return 1;   /* none: a writer of an earlier version, or none yet */
    if (clean || (now[0] && !strcmp(now, was)))
        return 1;
    snprintf(why, whylen, "the projection in %s was left by an unclean stop before a reboot: not read until its "
             "writer has rebuilt it", dir);
    return 0;
}

int tms_store_evidence_trusts(const char *dir)
{
    char now[64], was[64];
    int clean = 0;
    tms__boot_id(now, sizeof now);
    return read_evidence(dir, was, sizeof was, &clean) == 1 && (clean || (now[0] && !strcmp(now, was)));
}

tms_err tms_store_evidence_forget(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/writer", dir);
    if (unlink(path) != 0 && errno != ENOENT)
        return TMS_E_IO;
    return tms_io_fsync_dir(NULL, AT_FDCWD, dir) == 0 ? TMS_OK : TMS_E_IO;   /* the clean one must not come back */
}

int tms_store_believable(const char *dir)
{
    char why[300];
    return tms_store_believable_why(dir, why, sizeof why) != 0;
}

tms_err tms__evidence_open(tms_store *st, char *why, size_t whylen)
{
    char now[64], was[64];
    int clean = 0;
    tms__boot_id(now, sizeof now);
    st->trusted = 1;
    st->distrust[0] = '\0';
    if (read_evidence(st->dir, was, sizeof was, &clean) <= 0) {   /* unreadable: replaced below, or refused */
        if (exists(st->dir, "data.mdb")) {   /* written by a version that kept no evidence */
            st->trusted = 0;
            snprintf(st->distrust, sizeof st->distrust, "no writer evidence beside the projection");
        }
    } else if (!clean && (!now[0] || strcmp(now, was))) {
        tms_err err = tms_store_set_aside(st->dir, "unclean", why, whylen);
        if (err)
            return err;
        st->trusted = 0;
        snprintf(st->distrust, sizeof st->distrust,
                 "the last writer stopped uncleanly before a reboot (unsynced commits may be torn)");
    }
    if (write_evidence(st->dir, now, "open") != 0) {
        snprintf(why, whylen, "cannot write %s/writer: %s", st->dir, strerror(errno));
        return TMS_E_IO;
    }
    return TMS_OK;
}

tms_err tms_store_adopt_copy(const char *dir, char *why, size_t whylen)
{
    char now[64];
    tms__boot_id(now, sizeof now);
    if (write_evidence(dir, now, "clean") != 0) {
        snprintf(why, whylen, "cannot write %s/writer: %s", dir, strerror(errno));
        return TMS_E_IO;
    }
    return TMS_OK;
}

void tms__evidence_clean(tms_store *st)
{
    char now[64];
    tms__boot_id(now, sizeof now);
    write_evidence(st->dir, now, "clean");   /* if this fails, the next open merely distrusts */
}

tms_err tms_store_mark_unscreened(const char *dir, int on)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/unscreened", dir);
    if (!on)
        return unlink(path) == 0 || errno == ENOENT ? TMS_OK : TMS_E_IO;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return TMS_E_IO;
    close(fd);
    return TMS_OK;
}

int tms_store_unscreened(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/unscreened", dir);
    return access(path, F_OK) == 0;
}
