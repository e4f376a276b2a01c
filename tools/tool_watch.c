/* tool_watch.c -- tmsctl watch (SPEC section 7): one JSON line per record
 * as it becomes durable, from --from SEQ (default: the next to come), of
 * --tenant T or all, until --until SEQ or SIGINT/SIGTERM (exit 0).
 *
 * Embedded, the log is followed with the checking iterator and a line is
 * printed once the projection has applied its record (its changed set is
 * read there): old and live records come the same way, so there is no gap
 * and no duplicate. Through tmsd, the server does the same (daemon_watch.c);
 * when it stops or cuts the watch, the message names the seq to resume
 * from and tmsctl exits 2. */
#include "tool_lookup.h"
#include "engine.h"
#include "log.h"
#include "query.h"
#include "record.h"
#include "tool_common.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* SIGINT and SIGTERM end the watch (exit 0); not restarted, so a blocking
 * read returns. */
static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void nap(void)
{
    nanosleep(&(struct timespec){0, 2000000}, NULL);
}

static int put_line(const char *text)
{
    if (fputs(text, stdout) < 0 || fputc('\n', stdout) < 0 || fflush(stdout) != 0)
        return tool_fail("cannot write the output");
    return 0;
}

typedef struct watch {
    const char *dir, *tenant;
    uint64_t from, until;
    tms_store *st;
    tms_txn *tx;
    uint64_t snap_seq;   /* what tx's snapshot has applied: renewed only for a later record */
} watch;

/* A snapshot of the projection that has applied seq: 0, 1 when it has not
 * yet, -1 on failure (reported). */
static int applied(watch *w, uint64_t seq)
{
    uint8_t head[TMS_HASH_LEN];
    tms_err err;
    if (w->snap_seq >= seq)
        return 0;   /* a record's changes never change: the snapshot held serves old records */
    tms_txn_reset(w->tx);
    if ((err = tms_txn_renew(w->tx)) || (err = tms_meta_get(w->tx, &w->snap_seq, head))) {
        tool_fail("cannot read the projection: %s", tms_strerror(err));
        return -1;
    }
    return w->snap_seq >= seq ? 0 : 1;
}

/* Print rec once the projection has it. 0, or an exit status. */
static int emit(watch *w, const tms_record *rec)
{
    int r;
    while ((r = applied(w, rec->seq)) == 1 && !interrupted)
        nap();
    if (r < 0)
        return TOOL_ERROR;
    if (interrupted)
        return 0;
    json_t *line = NULL;
    if ((r = tms_query_watch_line(w->tx, rec, &line)) == 3)
        return tool_fail("seq %llu: " TMS_QUERY_WATCH_BEFORE_INDEX, (unsigned long long)rec->seq);
    if (r)
        return tool_fail("cannot read the changes of seq %llu from the projection", (unsigned long long)rec->seq);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    r = text ? put_line(text) : tool_fail("out of memory");
    free(text);
    return r;
}

/* Follow the log from w->from. */
static int follow(watch *w)
{
    char logdir[4200], why[300];
    tms_log_iter *it = NULL;
    tms_log_record lr;
    tms_record rec;
    int has, rc = 0;
    tms_log_report rep;
    tms_err err = tms_log_iter_open(tms_data_path(logdir, sizeof logdir, w->dir, "log"), w->from, &it, &rep);
    if (err)   /* the report says why (a seeded directory: its log starts after its base) */
        return tool_fail("cannot read the log of %s: %s", w->dir, rep.msg[0] ? rep.msg : tms_strerror(err));
    tms_cmd_init(&rec.cmd);
    while (!rc && !interrupted) {
        if ((err = tms_log_iter_next(it, &lr, &has))) {
            rc = tool_fail("the log is damaged: %s (the watch stopped before seq %llu)", tms_log_iter_report(it)->msg,
                           (unsigned long long)w->from);
            break;
        }
        if (!has) {
            nap();   /* the next record is not written yet */
            continue;
        }
        if (lr.seq < w->from)
            continue;
        if ((err = tms_record_decode(&rec, lr.payload, lr.len, why, sizeof why))) {
            rc = tool_fail("seq %llu does not decode: %s", (unsigned long long)lr.seq, why);
            break;
        }
        rec.seq = lr.seq;
        w->from = lr.seq + 1;
        if (!w->tenant || !strcmp(TMS_CMD_STR(&rec.cmd, TMS_F_TENANT), w->tenant))
            rc = emit(w, &rec);
        if (w->until && lr.seq >= w->until)
            break;
    }
    tms_cmd_free(&rec.cmd);
    tms_log_iter_close(it);
    return rc;
}

static int embedded(watch *w)
{
    char path[4200], why[256];
    struct stat sb;
    uint8_t head[TMS_HASH_LEN];
    uint64_t at = 0;
    if (stat(w->dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return tool_fail("no data directory %s", w->dir);
    tms_err err = tms_store_open(tms_data_path(path, sizeof path, w->dir, "proj"), TMS_STORE_READONLY, &w->st, why,
                                 sizeof why);
    if (err)
        return tool_fail("cannot read the projection: %s", err == TMS_NOT_FOUND ? "there is none yet" : why);
    if (!(err = tms_txn_begin(w->st, 0, &w->tx)) && !(err = tms_meta_get(w->tx, &at, head)) && !w->from)
        w->from = at + 1;
    w->snap_seq = at;
    int rc = err ? tool_fail("cannot read the projection: %s", tms_strerror(err)) : follow(w);
    tms_txn_abort(w->tx);
    tms_store_close(w->st);
    return rc;
}

static int remote(tms_client *cli, watch *w)
{
    char *line = NULL;
    tms_err err = tms_client_watch(cli, w->from, w->tenant, w->until);
    while (!err && !interrupted) {
        if ((err = tms_client_watch_next(cli, &line)) == TMS_OK) {
            int rc = put_line(line);
            free(line);
            if (rc)
                return rc;
        }
    }
    if (interrupted || err == TMS_NOT_FOUND)   /* SIGINT, or --until passed */
        return 0;
    if (tms_client_message(cli)[0]) {
        tool_warn("%s", tms_client_message(cli));
        return TOOL_ERROR;
    }
    return tool_fail("watch through tmsd failed: %s", tms_strerror(err));
}

int tool_watch(const char *dir, tms_client *cli, int argc, char **argv)
{
    const char *from = NULL, *until = NULL, *pos[1];
    watch w;
    int npos;
    const tool_opt opts[] = {{"from", 1, &from, NULL}, {"until", 1, &until, NULL}, {"tenant", 1, &w.tenant, NULL},
                             {NULL, 0, NULL, NULL}};
    memset(&w, 0, sizeof w);
    w.dir = dir;
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc)
        return rc == 1 ? TOOL_OK : rc;
    if (from && (tool_seq_parse(from, &w.from) || w.from == 0))
        return tool_fail("--from %s: expected a seq (a positive integer)", from);
    if (until && (tool_seq_parse(until, &w.until) || w.until == 0))
        return tool_fail("--until %s: expected a seq (a positive integer)", until);
    if (w.tenant && !tms_is_id(w.tenant, strlen(w.tenant)))
        return tool_fail("--tenant %s: not an id", w.tenant);
    if (w.from && w.until && w.until < w.from)
        return tool_fail("%s", "--until is before --from");
    catch_signals();
    rc = cli ? remote(cli, &w) : embedded(&w);
    int out = tool_finish_stdout();
    return out ? out : rc;
}
