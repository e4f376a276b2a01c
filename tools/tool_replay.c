/* tool_replay.c -- scratch projections and progress-reporting replay for the
 * tools (see tool_replay.h). One scratch directory per process at a time;
 * a signal handler removes it with async-signal-safe calls only. */
#include "tool_replay.h"
#include "engine.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The map doubles on MDB_MAP_FULL; start the scratch one at 4 GiB of
 * address space (the file only grows with the data) so that a large replay
 * rarely has to roll a batch back and grow. Tests set TMS_SCRATCH_MAP_BYTES
 * to a tiny size to exercise that path (the answer never depends on it). */
#define SCRATCH_MAP (4ull << 30)

/* What the signal handler removes: the store's two files, then the directory. */
static char sig_dir[PATH_MAX], sig_data[PATH_MAX + 16], sig_lock[PATH_MAX + 16];
static volatile sig_atomic_t sig_armed;

static void on_signal(int sig)
{
    if (sig_armed) {
        unlink(sig_data);
        unlink(sig_lock);
        rmdir(sig_dir);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void arm_cleanup(const char *dir)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    snprintf(sig_dir, sizeof sig_dir, "%s", dir);
    snprintf(sig_data, sizeof sig_data, "%s/data.mdb", dir);
    snprintf(sig_lock, sizeof sig_lock, "%s/lock.mdb", dir);
    sig_armed = 1;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

int tool_scratch_open(tool_scratch *s)
{
    const char *tmp = getenv("TMPDIR");
    char why[512];
    const char *map_env = getenv("TMS_SCRATCH_MAP_BYTES");
    uint64_t map = SCRATCH_MAP;
    memset(s, 0, sizeof *s);
    if (map_env && (tool_seq_parse(map_env, &map) || map < 65536))
        return tool_fail("TMS_SCRATCH_MAP_BYTES=%s: expected a byte count of at least 65536", map_env);
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if ((size_t)snprintf(s->dir, sizeof s->dir, "%s/tms-scratch-XXXXXX", tmp) >= sizeof s->dir) {
        s->dir[0] = '\0';
        return tool_fail("TMPDIR is too long");
    }
    if (!mkdtemp(s->dir)) {
        int e = errno;
        s->dir[0] = '\0';
        return tool_fail("cannot create a scratch directory under %s: %s", tmp, strerror(e));
    }
    arm_cleanup(s->dir);
    tms_err err = tms_store_open_sized(s->dir, TMS_STORE_SCRATCH, (size_t)map, &s->st, why, sizeof why);
    if (err) {
        tool_scratch_close(s);
        return tool_fail("scratch projection: %s", why);
    }
    return 0;
}

void tool_scratch_close(tool_scratch *s)
{
    tms_store_close(s->st);
    s->st = NULL;
    if (s->dir[0])
        tool_remove_flat_dir(s->dir);
    s->dir[0] = '\0';
    sig_armed = 0;
}

int tool_log_dir(const char *datadir, char *buf, size_t len)
{
    struct stat st;
    if (stat(datadir, &st) != 0 || !S_ISDIR(st.st_mode))
        return tool_fail("no data directory %s", datadir);
    tms_data_path(buf, len, datadir, "log");
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return tool_fail("no log in %s (expected %s)", datadir, buf);
    return 0;
}

/* The caller's on_record, wrapped to drive the progress line. */
typedef struct progress_ctx {
    const tms_replay_opts *inner;
    tool_progress prog;
    uint64_t n;
} progress_ctx;

static void progress_record(void *ctx, const tms_record *rec, const tms_verdict *v)
{
    progress_ctx *p = ctx;
    tool_progress_tick(&p->prog, ++p->n);
    if (p->inner->on_record)
        p->inner->on_record(p->inner->ctx, rec, v);
}

tms_err tool_replay(tms_store *st, const char *logdir, const tms_replay_opts *opts, tms_replay_result *res,
                    const char *what, uint64_t total)
{
    static const tms_replay_opts none;
    progress_ctx p = {opts ? opts : &none, {0}, 0};
    tms_replay_opts o = *p.inner;
    o.on_record = progress_record;
    o.ctx = &p;
    tool_progress_start(&p.prog, what, total);
    tms_err err = tms_replay(st, logdir, &o, res);
    tool_progress_end(&p.prog);
    return err;
}
