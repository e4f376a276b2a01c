/* snapshot_notes.c -- a log key's word for a snapshot (snapshots.h, "Signed
 * notes"; issue 18, item 5): DIR/snapshots/<seq>.snap.note, a C2SP signed
 * note whose text names the snapshot's seq, Merkle root, chain head and
 * digests, signed with the log's key by the writer that holds it. A
 * checkpoint binds the log's root at seq; this binds the state there, so
 * a directory seeded from a snapshot (tms-restore seed) need not trust
 * whoever handed it the file. The text cannot be taken for a checkpoint:
 * its first line is not an origin and its second not a size. */
#include "snapshots.h"
#include "io.h"
#include "note.h"
#include "log.h"
#include "snapshot.h"
#include "state.h"
#include "store.h"
#include "tree.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEXT_HEAD "tmsperm snapshot v2\n"   /* v1: a state digest of the encoding in one hash */

static void sweep_orphans(const char *datadir);

static void note_path(const char *datadir, uint64_t seq, char *out, size_t len)
{
    snprintf(out, len, "%s/snapshots/%020llu.snap.note", datadir, (unsigned long long)seq);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, b, n);
}

size_t tms_snapshot_note_text(const char *origin, const tms_snapshot_meta *m, char *out, size_t cap)
{
    char root[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)], head[65], digest[65], proj[65];
    sodium_bin2base64(root, sizeof root, m->root, 32, sodium_base64_VARIANT_ORIGINAL);
    hex(m->head, 32, head);
    hex(m->digest, 32, digest);
    hex(m->proj_digest, 32, proj);
    int n = snprintf(out, cap, TEXT_HEAD "origin %s\nseq %llu\nroot %s\nhead %s\nstate %s\nprojection %s\n"
                     "schema %u\ntime %lld\n", origin, (unsigned long long)m->seq, root, head, digest, proj, m->schema,
                     (long long)m->time);
    return n > 0 && (size_t)n < cap && tms_note_name_ok(origin, strlen(origin)) ? (size_t)n : 0;
}

tms_err tms_snapshot_note_read(const char *datadir, uint64_t seq, char **note, size_t *len)
{
    char path[4300];
    struct stat st;
    *note = NULL;
    *len = 0;
    note_path(datadir, seq, path, sizeof path);
    int fd = tms_io_openat(NULL, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return errno == ENOENT ? TMS_NOT_FOUND : TMS_E_IO;
    tms_err err = TMS_E_CORRUPT;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size <= TMS_NOTE_MAX_BYTES) {
        err = TMS_E_NOMEM;
        if ((*note = malloc((size_t)st.st_size + 1))) {
            err = tms_io_pread(NULL, fd, *note, (size_t)st.st_size, 0) == st.st_size ? TMS_OK : TMS_E_IO;
            (*note)[st.st_size] = '\0';
            *len = (size_t)st.st_size;
        }
    }
    tms_io_close(NULL, fd);
    if (err) {
        free(*note);
        *note = NULL;
        *len = 0;
    }
    return err;
}

tms_err tms_snapshot_note_check(const char *note, size_t len, const struct tms_note_verifier *key,
                                const tms_snapshot_meta *m, char *why, size_t whylen)
{
    char text[1024];
    tms_note n;
    size_t tl = tms_snapshot_note_text(key->name, m, text, sizeof text);
    tms_err err = tms_note_open(note, len, key, 1, &n, why, whylen);
    if (err)
        return err;
    if (!tms_note_verified_by(&n, key)) {
        snprintf(why, whylen, "the snapshot's note is not signed by %s", key->name);
        return TMS_E_INVAL;
    }
    if (!tl || n.text_len != tl || memcmp(n.text, text, tl)) {
        snprintf(why, whylen, "the signed note does not describe this snapshot (seq, root, head or digests differ)");
        return TMS_E_INVAL;
    }
    return TMS_OK;
}

tms_err tms_snapshot_note_write(const char *datadir, uint64_t seq, const char *note, size_t len, char *why, size_t whylen)
{
    char path[4300], tmp[4400], dir[4200];
    note_path(datadir, seq, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(dir, sizeof dir, "%s/snapshots", datadir);
    int fd = tms_io_openat(NULL, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640), e = 0;
    if (fd < 0 || tms_io_write_all(NULL, fd, note, len) != 0 || tms_io_fsync(NULL, fd) != 0)
        e = errno ? errno : EIO;
    if (fd >= 0 && tms_io_close(NULL, fd) != 0 && !e)
        e = errno;
    if (!e && (tms_io_renameat(NULL, AT_FDCWD, tmp, AT_FDCWD, path) != 0 || tms_io_fsync_dir(NULL, AT_FDCWD, dir) != 0))
        e = errno;
    if (e) {
        tms_io_unlinkat(NULL, AT_FDCWD, tmp, 0);
        snprintf(why, whylen, "%s: %s", path, strerror(e));
        return e == ENOSPC || e == EDQUOT ? TMS_E_NOSPACE : TMS_E_IO;
    }
    return TMS_OK;
}

/* Before a note vouches for the header: the log's chain head at its seq is the header's (the base's, for a
 * seeded log's base), and the file's payload gives the header's state and projection digests (read, its
 * checksum and BLAKE2b checked, decoded: once per snapshot, on the signer's worker). 1 when all hold. */
static int of_this_log(const char *datadir, const tms_snapshot_meta *m)
{
    char logdir[4200], why[300];
    uint8_t head[TMS_LOG_HASH_LEN], *payload = NULL, pd[TMS_HASH_LEN];
    uint64_t base = 0;
    size_t len = 0;
    tms_snapshot_meta full;
    tms_state *st = NULL;
    tms_log_iter *it = NULL;
    tms_log_record r;
    int has = 0, ok = 0;
    snprintf(logdir, sizeof logdir, "%s/log", datadir);
    if (tms_log_base(logdir, &base, head, why, sizeof why) != TMS_OK || m->seq < base)
        return 0;
    if (m->seq > base && (tms_log_iter_open(logdir, m->seq, &it, NULL) != TMS_OK ||
                          tms_log_iter_next(it, &r, &has) != TMS_OK || !has || r.seq != m->seq))
        goto out;
    if (m->seq > base)
        memcpy(head, r.hash, TMS_LOG_HASH_LEN);
    if (sodium_memcmp(head, m->head, TMS_LOG_HASH_LEN) != 0 ||
        tms_snapshot_read(datadir, m->seq, &full, &payload, &len, why, sizeof why) != TMS_OK ||
        memcmp(full.digest, m->digest, sizeof full.digest) != 0 ||
        memcmp(full.proj_digest, m->proj_digest, sizeof full.proj_digest) != 0 ||
        tms_state_snapshot_decode(payload, len, &st, why, sizeof why) != TMS_OK ||
        tms_state_projection_digest(st, 0, NULL, pd) != TMS_OK)
        goto out;
    ok = sodium_memcmp(pd, m->proj_digest, TMS_HASH_LEN) == 0;
out:
    tms_log_iter_close(it);
    tms_state_free(st);
    free(payload);
    return ok;
}

tms_err tms_snapshot_notes_sign(const char *datadir, struct tms_tree *tree, const struct tms_note_signer *s,
                                int *made, char *why, size_t whylen)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    *made = 0;
    tms_err err = tms_snapshot_list(datadir, &seqs, &n);
    for (size_t i = 0; !err && i < n; i++) {
        char text[1024], line[TMS_NOTE_SIG_TEXT_MAX], *old = NULL, note[1024 + TMS_NOTE_SIG_TEXT_MAX + 2];
        size_t olen, tl;
        tms_snapshot_meta m;
        tms_tlog_hash root;
        if (tms_snapshot_note_read(datadir, seqs[i], &old, &olen) == TMS_OK) {
            free(old);
            continue;   /* signed already: a note is never rewritten */
        }
        if (tms_snapshot_meta_read(datadir, seqs[i], &m) != TMS_OK || seqs[i] > tms_tree_size(tree) ||
            tms_tree_root(tree, seqs[i], root) != TMS_OK || sodium_memcmp(root, m.root, 32) != 0 ||
            !of_this_log(datadir, &m))
            continue;   /* not of this log (yet), or its content does not check: never vouched for */
        if (!(tl = tms_snapshot_note_text(s->v.name, &m, text, sizeof text)) ||
            tms_note_sign_line(s, text, tl, 0, line) != TMS_OK) {
            snprintf(why, whylen, "cannot sign the note of the snapshot of seq %llu", (unsigned long long)seqs[i]);
            err = TMS_E_INVAL;
            break;
        }
        int len = snprintf(note, sizeof note, "%s\n%s", text, line);
        if (!(err = tms_snapshot_note_write(datadir, seqs[i], note, (size_t)len, why, whylen)))
            (*made)++;
    }
    free(seqs);
    if (!err)
        sweep_orphans(datadir);
    return err;
}

/* Notes whose snapshot is gone (a prune that ran while a note was written) and temporary files a crash left:
 * removed (best effort). */
static void sweep_orphans(const char *datadir)
{
    char dir[4200], path[4200 + 258], snap[4200 + 258];
    struct dirent *de;
    snprintf(dir, sizeof dir, "%s/snapshots", datadir);
    DIR *d = opendir(dir);
    if (!d)
        return;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        int tmp = n > 9 && !strcmp(de->d_name + n - 9, ".note.tmp");
        int note = n > 10 && !strcmp(de->d_name + n - 10, ".snap.note");
        if (!tmp && !note)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(snap, sizeof snap, "%s/%.*s", dir, (int)(n - 5), de->d_name);   /* NAME.snap of NAME.snap.note */
        if (tmp || access(snap, F_OK) != 0)
            tms_io_unlinkat(NULL, AT_FDCWD, path, 0);
    }
    closedir(d);
}

void tms_snapshot_note_remove(const char *datadir, uint64_t seq)
{
    char path[4300];
    note_path(datadir, seq, path, sizeof path);
    tms_io_unlinkat(NULL, AT_FDCWD, path, 0);
}
