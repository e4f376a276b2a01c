/* tms-restore -- rebuild a data directory from a log, to its end or to a
 * point in time, or up to the last good record of a damaged log
 * (--salvage); and "tms-restore backup", an online copy of a live data
 * directory (SPEC section 6; issue 4). The work is in tool_restore.c,
 * tool_salvage.c and tool_backup.c. DIR is only ever read. */
#include "tool_common.h"
#include "tool_restore.h"
#include <inttypes.h>
#include <stdio.h>

static const char usage[] =
    "usage: tms-restore --data DIR --to NEWDIR [--seq N | --time T]\n"
    "       tms-restore --salvage --data DIR --to NEWDIR\n"
    "       tms-restore backup --data DIR --to BACKUPDIR     (see backup --help)\n"
    "       tms-restore seed ...     (a new replica from a leader's snapshot: see seed --help)\n"
    "\n"
    "Copies the log records of DIR up to seq N (inclusive), or up to the last\n"
    "record stamped at or before T (RFC 3339, e.g. 2026-10-01T12:00:00Z), or all\n"
    "of them, into NEWDIR/log; rebuilds NEWDIR/proj by replaying them; checks that\n"
    "the copy's chain head equals the source's at that seq. DIR is never modified.\n"
    "NEWDIR must be absent or empty. The result is a data directory for tmsctl and\n"
    "tmsd. Prints one JSON line:\n"
    "  {\"records\":N,\"last_seq\":N,\"time\":\"...\",\"head\":\"hex\",\"digest\":\"hex\"}\n"
    "\n"
    "  --salvage   DIR's log is damaged in the middle: copy every record before the\n"
    "              damage, rebuild, and report what was lost, adding to the line\n"
    "              \"salvaged_to_seq\":N,\"lost_from_seq\":N+1,\"lost_through_seq\":M|null,\n"
    "              \"reason\":\"...\" (M: the last seq still found in the damaged log;\n"
    "              null when it cannot be told); the loss is also told on stderr.\n"
    "              An intact log is restored whole, with null loss fields.\n"
    "\n"
    "Exit status: 0 restored (with --salvage: something was salvaged); 1 the\n"
    "source log failed verification (corrupt); 2 usage or I/O error (NEWDIR not\n"
    "empty, a seq past the end of the log ...). On failure nothing is left in NEWDIR.\n";

static int print_result(const tool_restore *r, const uint8_t *digest)
{
    char hex[2 * TMS_HASH_LEN + 1], when[TOOL_TIME_MAX];
    json_t *o = json_object();
    json_object_set_new(o, "records", json_integer((json_int_t)r->records));
    json_object_set_new(o, "last_seq", json_integer((json_int_t)r->last_seq));
    json_object_set_new(o, "time", r->records ? json_string(tool_time_format(r->last_time, when)) : json_null());
    json_object_set_new(o, "head", r->records ? json_string(tool_hex(r->src_head, TMS_LOG_HASH_LEN, hex)) : json_null());
    json_object_set_new(o, "digest", digest ? json_string(tool_hex(digest, TMS_HASH_LEN, hex)) : json_null());
    if (r->salvage) {
        uint64_t through = r->lost_from ? tool_salvage_last_seq(r->srclog, r->lost_from) : 0;
        json_object_set_new(o, "salvaged_to_seq", json_integer((json_int_t)r->last_seq));
        json_object_set_new(o, "lost_from_seq", r->lost_from ? json_integer((json_int_t)r->lost_from) : json_null());
        json_object_set_new(o, "lost_through_seq", through ? json_integer((json_int_t)through) : json_null());
        json_object_set_new(o, "reason", r->lost_from ? json_string(r->lost_reason) : json_null());
        if (r->lost_from) {
            char saved[64], lost[96];
            if (r->last_seq)
                snprintf(saved, sizeof saved, "salvaged seqs 1-%" PRIu64, r->last_seq);
            else
                snprintf(saved, sizeof saved, "salvaged nothing");
            if (through)
                snprintf(lost, sizeof lost, "lost seqs %" PRIu64 "-%" PRIu64, r->lost_from, through);
            else
                snprintf(lost, sizeof lost, "lost seqs from %" PRIu64 " on (how many cannot be told)", r->lost_from);
            tool_warn("%s; %s: %s", saved, lost, r->lost_reason);
        }
    }
    if (tool_print_json(o) != 0)
        return tool_fail("cannot write the output");
    return tool_finish_stdout();
}

static int run(tool_restore *r)
{
    uint8_t digest[TMS_HASH_LEN];
    if (tool_restore_prepare(r))
        return TOOL_ERROR;
    int rc = tool_restore_copy_log(r);
    if (rc == TOOL_OK && r->records == 0 && r->lost_from) {
        tool_restore_undo(r);   /* salvaging, and the damage is at the first record */
        return print_result(r, NULL) == TOOL_OK ? TOOL_NEGATIVE : TOOL_ERROR;
    }
    if (rc == TOOL_OK && r->records == 0)
        rc = tool_fail("nothing to restore: no record %s", r->to.set ? "at or before that point" : "in the log");
    else if (rc == TOOL_OK && r->to.set && r->to.is_seq && r->last_seq < r->to.seq)
        rc = tool_fail("--seq %" PRIu64 ": the log ends at seq %" PRIu64, r->to.seq, r->last_seq);
    if (rc == TOOL_OK)
        rc = tool_restore_rebuild(r, digest);
    if (rc != TOOL_OK) {
        tool_restore_undo(r);
        return rc;
    }
    return print_result(r, digest);
}

/* tms-restore [--salvage] --data DIR --to NEWDIR ...: the default command,
 * given every argument. */
static int cmd_restore(int argc, char **argv)
{
    const char *data = NULL, *to = NULL, *seq = NULL, *time = NULL, *pos[1];
    int npos, salvage = 0;
    const tool_opt opts[] = {{"data", 1, &data, NULL}, {"to", 1, &to, NULL}, {"seq", 1, &seq, NULL},
                             {"time", 1, &time, NULL}, {"salvage", 0, NULL, &salvage}, {NULL, 0, NULL, NULL}};
    static tool_restore r;
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data || !to)
        return tool_fail("--data DIR and --to NEWDIR are required (try --help)");
    if (seq && time)
        return tool_fail("give --seq or --time, not both");
    if (salvage && (seq || time))
        return tool_fail("--salvage copies up to the damage: it takes no --seq or --time");
    r.src = data;
    r.dst = to;
    r.salvage = salvage;
    if (seq) {
        r.to.set = r.to.is_seq = 1;
        if (tool_seq_parse(seq, &r.to.seq) || r.to.seq == 0)
            return tool_fail("--seq %s: expected a record number of at least 1", seq);
    } else if (time && tool_time_parse(time, &r.to.time) == 0) {
        r.to.set = 1;
    } else if (time) {
        return tool_fail("--time %s: expected an RFC 3339 time such as 2026-10-01T12:00:00Z", time);
    }
    return run(&r);
}

/* "backup" and "seed" are the named commands; anything else is a restore (its usage
 * names backup). */
static const tool_cmd commands[] = {
    {"backup", tool_backup_main, NULL, NULL},
    {"seed", tool_seed_main, NULL, NULL},
    {NULL, cmd_restore, NULL, NULL},
};

int main(int argc, char **argv)
{
    tool_prog = "tms-restore";
    return tool_dispatch(commands, argc, argv, NULL);
}
