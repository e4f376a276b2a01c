/* datadir.c -- who may reach a data directory's files (docs/design.md,
 * "Who may read a data directory"). The writer's user owns everything; its
 * group reads the projection (the embedded readers of PBX processes in that
 * group: group tmsperm for the packages); nobody else reaches anything:
 *
 *   DIR                at most 0750, tightened by every writer's open (never
 *                      widened: an operator's 0700 stays 0700; setgid kept)
 *   DIR/proj           0750 (setgid kept)
 *   DIR/proj/data.mdb  0640
 *   DIR/proj/lock.mdb  0660: an LMDB reader takes its reader slot by writing
 *                      the lock file, so a reader that may not write it
 *                      cannot read at all
 *
 * The projection's modes are set exactly whatever the umask (LMDB creates
 * both files with one mode, less the umask); DIR only loses bits. When
 * something cannot be opened, the reason names the file, its mode and
 * owner, and the system's reason. */
#include "store_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MODE 0750
#define DATA_MODE 0640
#define LOCK_MODE 0660

static size_t append(char *buf, size_t len, const char *sep)
{
    size_t n = strlen(buf);
    if (n && n + strlen(sep) < len)
        memcpy(buf + n, sep, strlen(sep) + 1);
    return strlen(buf);
}

tms_err tms_datadir_private(const char *dir, char *report, size_t replen, char *why, size_t whylen)
{
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        snprintf(why, whylen, "cannot reach the data directory %s: %s", dir, strerror(errno));
        return TMS_E_IO;
    }
    mode_t was = sb.st_mode & 07777, want = was & (S_ISGID | DIR_MODE);
    if (was == want)
        return TMS_OK;
    if (chmod(dir, want) != 0) {
        int e = errno;
        if (was & 022) {   /* others could replace its files (the log, the projection): refused */
            snprintf(why, whylen,
                     "the data directory %s is %04o (writable by %s) and cannot be tightened to %04o: %s; "
                     "chmod %o it, or chown it to this user",
                     dir, (unsigned)was, (was & 002) ? "anyone" : "its group", (unsigned)want, strerror(e),
                     (unsigned)want);
            return TMS_E_IO;
        }
        size_t n = append(report, replen, "; ");   /* readable only: its files are private all the same */
        snprintf(report + n, replen - n, "the data directory %s is %04o and cannot be tightened to %04o: %s",
                 dir, (unsigned)was, (unsigned)want, strerror(e));
        return TMS_OK;
    }
    size_t n = append(report, replen, "; ");
    snprintf(report + n, replen - n, "the data directory %s was %04o: tightened to %04o", dir, (unsigned)was,
             (unsigned)want);
    return TMS_OK;
}

/* path (or fd, when >= 0) to mode exactly, S_ISGID kept: 0, or -1 with why. */
static int set_mode(const char *path, int fd, mode_t mode, char *why, size_t whylen)
{
    struct stat sb;
    if ((fd >= 0 ? fstat(fd, &sb) : stat(path, &sb)) != 0) {
        snprintf(why, whylen, "cannot read the mode of %s: %s", path, strerror(errno));
        return -1;
    }
    mode |= sb.st_mode & S_ISGID;
    if ((sb.st_mode & 07777) == mode || (fd >= 0 ? fchmod(fd, mode) : chmod(path, mode)) == 0)
        return 0;
    snprintf(why, whylen, "cannot make %s %04o (it is %04o, owner uid %u gid %u; this process is uid %u): %s", path,
             (unsigned)mode, (unsigned)(sb.st_mode & 07777), (unsigned)sb.st_uid, (unsigned)sb.st_gid,
             (unsigned)geteuid(), strerror(errno));
    return -1;
}

tms_err tms__store_modes(tms_store *st, char *why, size_t whylen)
{
    char path[4200];
    int fd;
    if (set_mode(st->dir, -1, DIR_MODE, why, whylen))
        return TMS_E_IO;
    snprintf(path, sizeof path, "%s/data.mdb", st->dir);
    if (mdb_env_get_fd(st->env, &fd) != 0 || set_mode(path, fd, DATA_MODE, why, whylen))
        return TMS_E_IO;
    snprintf(path, sizeof path, "%s/lock.mdb", st->dir);
    return set_mode(path, -1, LOCK_MODE, why, whylen) ? TMS_E_IO : TMS_OK;
}

/* What this process may not do to path (read, write, search), as "read and write", or "" when nothing. */
static const char *denied(const char *path, int how)
{
    int r = (how & R_OK) && faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) != 0;
    int w = (how & W_OK) && faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) != 0;
    int x = (how & X_OK) && faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) != 0;
    return x ? "search" : r && w ? "read and write" : r ? "read" : w ? "write" : "";
}

void tms__open_denied(const char *dir, int readonly, int rc, char *why, size_t whylen)
{
    static const char *const leaf[3] = {"", "data.mdb", "lock.mdb"};
    const int how[3] = {X_OK | W_OK * !readonly, R_OK | W_OK * !readonly, R_OK | W_OK};
    char path[4200];
    struct stat sb;
    int n = snprintf(why, whylen, "cannot open the projection in %s: %s", dir, strerror(rc));
    for (int i = 0; i < 3 && n > 0 && (size_t)n < whylen; i++) {
        snprintf(path, sizeof path, "%s%s%s", dir, i ? "/" : "", leaf[i]);
        const char *no = denied(path, how[i]);
        if (!no[0] || stat(path, &sb) != 0)
            continue;
        snprintf(why + n, whylen - (size_t)n,
                 " (%s is %04o, uid %u gid %u: this process, uid %u gid %u, may not %s it%s)", path,
                 (unsigned)(sb.st_mode & 07777), (unsigned)sb.st_uid, (unsigned)sb.st_gid, (unsigned)geteuid(),
                 (unsigned)getegid(), no,
                 readonly ? "; an embedded reader needs to read data.mdb and to read and write lock.mdb: run it "
                            "in the writer's group (tmsperm for the packages), whose writer keeps lock.mdb 0660"
                          : "");
        return;
    }
}
