/* tmsctl -- the command-line edge of tmsperm: submit JSON Lines commands,
 * and answer check / show / visible from a data directory (SPEC section 6).
 * Embedded: it takes the data directory's writer lock for submit and reads
 * the LMDB projection directly for the queries. */
#include "engine.h"
#include "log.h"
#include "store.h"
#include "linereader.h"
#include "query.h"
#include "tmsclient.h"
#include "tmsperm.h"
#include "tmsperm_schema.h"
#include "tool_common.h"
#include "tool_trust.h"
#include "tool_lookup.h"
#include "tool_target.h"
#include "wire.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#define BATCH_MAX 1024

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "tmsctl: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 2;
}

/* ---- submit ---------------------------------------------------------------- */

typedef struct entry {
    tms_cmd cmd;
    int invalid;                    /* INVALID_COMMAND: answered with seq null, not logged */
    int too_long;                   /* refused by the line reader: never sent anywhere */
    char why[TMS_MESSAGE_MAX];
    char *text;                     /* the line (remote mode only), malloc'd */
    size_t len;
    size_t line;                    /* its line number in the input (1-based, blank lines counted) */
} entry;

static size_t rejected;             /* verdicts "rejected" printed by this run (--fail-on-reject) */

static void print_verdict(const entry *en, const tms_submission *s)
{
    json_t *o = json_object();
    rejected += en->invalid ? 1 : s->verdict.code != TMS_OK;
    if (en->invalid) {
        char msg[TMS_MESSAGE_MAX + 32];
        snprintf(msg, sizeof msg, "line %zu: %s", en->line, en->why);   /* which line of the input */
        json_object_set_new(o, "seq", json_null());
        json_object_set_new(o, "verdict", json_string("rejected"));
        json_object_set_new(o, "error", json_string("INVALID_COMMAND"));
        json_object_set_new(o, "message", json_string(msg));
    } else {
        json_object_set_new(o, "seq", json_integer((json_int_t)s->seq));
        json_object_set_new(o, "verdict", json_string(s->verdict.code ? "rejected" : "accepted"));
        if (s->verdict.code) {
            json_object_set_new(o, "error", json_string(tms_err_name(s->verdict.code)));
            json_object_set_new(o, "message", json_string(s->verdict.message));
        }
    }
    char *line = json_dumps(o, JSON_COMPACT);
    if (line)
        puts(line);
    free(line);
    json_decref(o);
}

/* Where submits go: the engine on DIR, or tmsd. */
typedef struct backend {
    tms_engine *eng;
    tms_client *cli;
} backend;

/* Through tmsd: the server parses the JSON texts itself (same parser, same
 * messages); lines the reader already refused stay local. */
static int remote_batch(tms_client *cli, entry *ents, tms_submission *subs, size_t n)
{
    static const char *lines[BATCH_MAX];
    static size_t lens[BATCH_MAX], idx[BATCH_MAX];
    static tms_client_result res[BATCH_MAX];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!ents[i].too_long) {
            lines[m] = ents[i].text;
            lens[m] = ents[i].len;
            idx[m++] = i;
        }
    if (!m)
        return 0;
    char was[300];
    snprintf(was, sizeof was, "%s", tms_client_address(cli));
    tms_err err = tms_client_submit_json(cli, lines, lens, m, res);
    if (err)
        return fail("submit through tmsd failed: %s", res[0].message[0] ? res[0].message : tms_strerror(err));
    if (strcmp(was, tms_client_address(cli)))   /* it followed the leader, or failed over: stderr only */
        fprintf(stderr, "tmsctl: redirected to the leader at %s\n", tms_client_address(cli));
    for (size_t k = 0; k < m; k++) {
        entry *en = &ents[idx[k]];
        en->invalid = !res[k].has_seq;
        snprintf(en->why, sizeof en->why, "%s", res[k].message);
        subs[idx[k]].seq = res[k].seq;
        subs[idx[k]].verdict.code = res[k].verdict;
        snprintf(subs[idx[k]].verdict.message, sizeof subs[idx[k]].verdict.message, "%s", res[k].message);
    }
    return 0;
}

static int local_batch(tms_engine *eng, entry *ents, tms_submission *subs, size_t n)
{
    static tms_submission *todo[BATCH_MAX];
    static tms_submission batch[BATCH_MAX];
    static char peer[32];
    size_t m = 0;
    char why[512];
    snprintf(peer, sizeof peer, "uid:%lu", (unsigned long)getuid());   /* who ran it: the record's "by" */
    for (size_t i = 0; i < n; i++)
        if (!ents[i].invalid) {
            batch[m] = (tms_submission){.cmd = &ents[i].cmd, .principal = "local", .peer = peer};
            todo[m++] = &subs[i];
        }
    if (m) {
        tms_err err = tms_engine_submit(eng, batch, m, why, sizeof why);
        if (err)
            return fail("%s", why);
        for (size_t i = 0; i < m; i++)
            *todo[i] = batch[i];
    }
    return 0;
}

/* Group-commit what has been collected, print its verdicts in input order. */
static int flush_batch(backend *be, entry *ents, tms_submission *subs, size_t n)
{
    int rc = be->cli ? remote_batch(be->cli, ents, subs, n) : local_batch(be->eng, ents, subs, n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        print_verdict(&ents[i], &subs[i]);
        tms_cmd_free(&ents[i].cmd);
        free(ents[i].text);
        ents[i].text = NULL;
    }
    return tool_finish_stdout();   /* verdicts that cannot be shown stop the run: exit 2 */
}

static void parse_line(entry *en, const char *line, size_t len, int too_long, int remote)
{
    tms_cmd_init(&en->cmd);
    en->invalid = 1;
    en->too_long = too_long;
    en->text = NULL;
    if (too_long) {
        snprintf(en->why, sizeof en->why, "line exceeds %u bytes", TMS_LINE_MAX);
        return;
    }
    if (remote) {   /* tmsd parses it */
        en->text = malloc(len ? len : 1);
        if (en->text)
            memcpy(en->text, line, len);
        en->len = len;
        en->invalid = 0;
        return;
    }
    tms_err err = tms_cmd_from_json(&en->cmd, line, len, en->why, sizeof en->why);
    if (err == TMS_OK && !tms_cmd_is_input(&en->cmd, en->why, sizeof en->why))
        tms_cmd_free(&en->cmd);   /* the engine's own records are not input: invalid */
    else if (err == TMS_OK)
        en->invalid = 0;
    else if (err != TMS_INVALID_COMMAND)
        snprintf(en->why, sizeof en->why, "%s", tms_strerror(err));
}

static int do_submit(const char *dir, tms_client *cli, int argc, char **argv)
{
    static entry ents[BATCH_MAX];
    static tms_submission subs[BATCH_MAX];
    int fd = 0, rc = 0, fail_on_reject = 0, npos;
    char why[512];
    const char *pos[1] = {NULL};
    backend be = {NULL, cli};
    tms_linereader lr;
    size_t lineno = 0;
    const tool_opt opts[] = {{"fail-on-reject", 0, NULL, &fail_on_reject}, {NULL, 0, NULL, NULL}};
    if ((rc = tool_parse(argc, argv, opts, pos, 1, &npos)) != 0)
        return rc;
    if (pos[0] && strcmp(pos[0], "-") && (fd = open(pos[0], O_RDONLY | O_CLOEXEC)) < 0)
        return fail("cannot open %s", pos[0]);
    if (!cli && tms_engine_open(dir, NULL, &be.eng, why, sizeof why)) {
        if (fd > 0)
            close(fd);
        return fail("%s", why);
    }
    if (be.eng && tms_engine_open_report(be.eng)[0])
        fprintf(stderr, "tmsctl: %s\n", tms_engine_open_report(be.eng));
    tms_linereader_init(&lr, fd, TMS_LINE_MAX);
    size_t n = 0;
    for (;;) {
        const char *line;
        size_t len;
        int too_long;
        int got = tms_linereader_next(&lr, &line, &len, &too_long);
        if (got < 0) {
            rc = fail("read error: %s", strerror(errno));
            break;
        }
        lineno += got > 0;
        if (got > 0 && (len > 0 || too_long)) {
            ents[n].line = lineno;
            parse_line(&ents[n++], line, len, too_long, cli != NULL);
        }
        if (n && (got == 0 || n == BATCH_MAX || !tms_linereader_ready(&lr))) {
            if ((rc = flush_batch(&be, ents, subs, n)) != 0)
                break;
            n = 0;
        }
        if (got == 0)
            break;
    }
    for (size_t i = 0; i < n; i++) {
        tms_cmd_free(&ents[i].cmd);
        free(ents[i].text);
    }
    tms_linereader_free(&lr);
    tms_engine_close(be.eng);
    if (fd > 0)
        close(fd);
    if (rc == 0 && fail_on_reject && rejected) {
        fprintf(stderr, "tmsctl: %zu command%s rejected (--fail-on-reject)\n", rejected, rejected == 1 ? "" : "s");
        return 1;
    }
    return rc;
}

/* ---- the commands --------------------------------------------------------------- */

/* Where the commands work, set by main before tool_dispatch runs one: the
 * data directory (embedded), or tmsd when client is set. */
static const char *data_dir;
static tms_client *client;

static int cmd_submit(int argc, char **argv)
{
    return do_submit(data_dir, client, argc, argv);
}

static int cmd_check(int argc, char **argv)
{
    return tool_lookup(data_dir, client, TOOL_LOOKUP_CHECK, argc, argv);
}

static int cmd_show(int argc, char **argv)
{
    return tool_lookup(data_dir, client, TOOL_LOOKUP_SHOW, argc, argv);
}

static int cmd_visible(int argc, char **argv)
{
    return tool_lookup(data_dir, client, TOOL_LOOKUP_VISIBLE, argc, argv);
}

static int cmd_watch(int argc, char **argv)
{
    return tool_watch(data_dir, client, argc, argv);
}

/* accept-loss --reason TEXT: the operator's acknowledgement that records are
 * missing from the log (the engine refused to open, naming them). Embedded
 * only: tmsd does not start on such a directory. */
static int cmd_accept_loss(int argc, char **argv)
{
    const char *reason = NULL, *pos[1];
    int npos;
    const tool_opt opts[] = {{"reason", 1, &reason, NULL}, {NULL, 0, NULL, NULL}};
    char why[1024];
    tms_engine *eng = NULL;
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc)
        return rc;
    if (client)
        return fail("%s", "accept-loss works on a data directory (--data), never through tmsd");
    if (!reason || !reason[0])
        return fail("%s", "accept-loss: --reason TEXT is required (it is written into the log)");
    if (strlen(reason) > TMS_TEXT_MAX) {
        snprintf(why, sizeof why, "accept-loss: --reason is longer than %d bytes", TMS_TEXT_MAX);
        return fail("%s", why);
    }
    tms_engine_options opt = {0};
    opt.accept_loss = reason;
    if (tms_engine_open(data_dir, &opt, &eng, why, sizeof why))
        return fail("%s", why);
    fprintf(stderr, "tmsctl: %s\n", tms_engine_open_report(eng));
    printf("{\"acknowledged\":true,\"seq\":%llu}\n", (unsigned long long)tms_engine_last_seq(eng));
    tms_engine_close(eng);
    return tool_finish_stdout();
}

/* status: through tmsd, what it says about itself; embedded, what the data
 * directory shows (the projection's last seq and head, the disk). */
static int cmd_status(int argc, char **argv)
{
    int npos, rc = tool_parse(argc, argv, NULL, NULL, 0, &npos);
    char *text = NULL, path[4200], why[512], hex[2 * TMS_HASH_LEN + 1];
    if (rc)
        return rc;
    if (client) {
        tms_err err = tms_client_status(client, &text);
        if (err)
            return fail("status: %s", tms_client_message(client)[0] ? tms_client_message(client) : tms_strerror(err));
        rc = puts(text) < 0;
        free(text);
        return rc ? TOOL_ERROR : tool_finish_stdout();
    }
    tms_store *st = NULL;
    tms_txn *tx = NULL;
    uint64_t seq = 0, map = 0, used = 0, free_bytes = 0;
    uint8_t head[TMS_HASH_LEN] = {0};
    struct statvfs sv;
    struct stat sb;
    if (stat(data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fail("no data directory %s", data_dir);
    tms_err err = tms_store_open(tms_data_path(path, sizeof path, data_dir, "proj"), TMS_STORE_READONLY, &st, why,
                                 sizeof why);
    if (err && err != TMS_NOT_FOUND)
        return fail("status: %s", why);
    if (st && (tms_txn_begin(st, 0, &tx) || tms_meta_get(tx, &seq, head))) {
        tms_txn_abort(tx);
        tms_store_close(st);
        return fail("%s", "status: cannot read the projection");
    }
    tms_txn_abort(tx);
    if (st)
        tms_store_usage(st, &map, &used);
    if (statvfs(data_dir, &sv) != 0) {
        tms_store_close(st);
        return tool_fail("status: cannot read the file system of %s: %s", data_dir, strerror(errno));
    }
    free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s,s:{s:I,s:I,s:I,s:I}}", "version", tms_version(), "role", "embedded",
                          "last_seq", (json_int_t)seq, "head", seq ? tool_hex(head, TMS_HASH_LEN, hex) : "",
                          "projection", st ? "present" : "absent",
                          "disk", "log_bytes",
                          (json_int_t)tms_log_dir_bytes(tms_data_path(path, sizeof path, data_dir, "log")), "map_bytes",
                          (json_int_t)map, "map_used_bytes", (json_int_t)used, "free_bytes", (json_int_t)free_bytes);
    tms_store_close(st);
    rc = tool_print_json(o);   /* it takes o */
    return rc ? TOOL_ERROR : tool_finish_stdout();
}

/* checkpoint: through tmsd, signed with its --signing-key; embedded, with the key given. */
static int cmd_checkpoint(int argc, char **argv)
{
    const char *key = NULL;
    int npos;
    char *note = NULL;
    const tool_opt opts[] = {{"signing-key", 1, &key, NULL}, {NULL, 0, NULL, NULL}};
    int rc = tool_parse(argc, argv, opts, NULL, 0, &npos);
    if (rc)
        return rc;
    if (!client) {
        if (!key)
            return fail("%s", "checkpoint: embedded (--data), --signing-key FILE is required");
        return tool_checkpoint_embedded(data_dir, key);
    }
    if (key)
        return fail("%s", "checkpoint: through tmsd, tmsd signs with its own --signing-key");
    tms_err err = tms_client_checkpoint(client, &note);
    if (err)
        return fail("checkpoint: %s", tms_client_message(client)[0] ? tms_client_message(client) : tms_strerror(err));
    rc = fputs(note, stdout) < 0;
    free(note);
    return rc ? TOOL_ERROR : tool_finish_stdout();
}

/* names: the catalogue from the schema, and who may hold each name. */
static int cmd_names(int argc, char **argv)
{
    int npos, rc = tool_parse(argc, argv, NULL, NULL, 0, &npos);
    if (rc)
        return rc;
    for (int k = 0; k < 2; k++) {
        const tms_catalogue_entry *tab = k ? tms_features : tms_permissions;
        int n = k ? TMS_FEATURE_COUNT : TMS_PERM_COUNT;
        for (int i = 0; i < n; i++)
            printf("%-10s %-28s %s%s%s\n", k ? "feature" : "permission", tab[i].name,
                   tab[i].extension ? "extension" : "", tab[i].extension && tab[i].manager ? "," : "",
                   tab[i].manager ? "manager" : "");
    }
    return tool_finish_stdout();
}

static const tool_cmd commands[] = {
    {"submit", cmd_submit, "[--fail-on-reject] [FILE]",
     "JSON Lines commands from FILE or stdin; one verdict line each:\n"
     "{\"seq\":N,\"verdict\":\"accepted\"} or\n"
     "{\"seq\":N,\"verdict\":\"rejected\",\"error\":\"CODE\",\"message\":\"...\"}\n"
     "(a malformed line's message begins \"line N: \"); --fail-on-reject: exit 1\n"
     "when any command was rejected (every verdict is printed all the same)"},
    {"status", cmd_status, "",
     "one JSON object: through tmsd, what it says about itself (version, role,\n"
     "last_seq, head, read_only, connections, disk, counters, publish/replica);\n"
     "embedded, the projection's last_seq and head, and the disk"},
    {"checkpoint", cmd_checkpoint, "[--signing-key FILE]",
     "sign a checkpoint of the log's Merkle tree now and print it (a C2SP signed\n"
     "note); embedded with the key given, through tmsd with tmsd's --signing-key"},
    {"names", cmd_names, "",
     "the permissions and features of the catalogue, and the account types\n"
     "(extension, manager) that may hold each; needs neither --data nor --connect"},
    {"check", cmd_check, "[POINT] [--explain] [FRESH] TENANT KIND ID NAME",
     "allow (exit 0) or deny (exit 1); KIND is extension, manager or admin.\n"
     "--explain: one JSON object instead, {decision, reason, via, role, changed}"},
    {"show", cmd_show, "[POINT] [FRESH] TENANT KIND ID", "the account or object as one JSON object (exit 1 if absent)"},
    {"visible", cmd_visible, "[POINT] [FRESH] TENANT MANAGER", "JSON array of {kind, id} distributed to MANAGER"},
    {"watch", cmd_watch, "[--from SEQ] [--tenant T] [--until SEQ]",
     "one JSON line per record as it becomes durable, from SEQ (default: the next\n"
     "to come) until --until or SIGINT (exit 0): {seq, time, tenant, actor, verdict,\n"
     "error, cmd, changed, by}; through tmsd, a stop or cut names the seq to resume from (exit 2)"},
    {"accept-loss", cmd_accept_loss, "--reason TEXT",
     "after an open refused because acknowledged records are missing from the log\n"
     "(and no backup or replica holds them): record the loss, with the evidence,\n"
     "as an AcknowledgeLoss record, and open the directory again"},
    {NULL, NULL, NULL, NULL},
};

static const tool_usage usage = {
    "usage: tmsctl --data DIR COMMAND ...                  (embedded: works on DIR directly)\n"
    "       tmsctl --connect ADDR[,ADDR...] [--token-file F] COMMAND ...\n"
    "                               (through tmsd: ADDR a socket path or HOST:PORT; a list, the nodes\n"
    "                               of a cluster: tried in turn, a submit follows the leader they name)\n"
    "       tmsctl COMMAND ...      (through tmsd at $TMS_CONNECT, else at " TMS_PACKAGED_SOCKET " when it exists)\n"
    "\n"
    "The options before COMMAND are --data, --connect and --token-file (--name VALUE or --name=VALUE);\n"
    "a flag wins over the environment: TMS_CONNECT=ADDR[,ADDR...] stands for --connect ADDR[,ADDR...] when\n"
    "neither --data nor --connect is given, TMS_TOKEN_FILE=F for --token-file F when going through tmsd.\n"
    "\n",
    30,
    "\n"
    "POINT: --seq N (the state after records 1..N) or --at TIME (after every record\n"
    "stamped at or before an RFC 3339 TIME); default the latest. A point beyond the\n"
    "log is exit 2 naming the last seq.\n"
    "FRESH: --min-seq N [--wait MS]: answer once the projection has applied record N\n"
    "(a submit's seq), waiting at most MS (default 1000); else exit 2 naming its seq.\n"
    "\n"
    "Exit status: 0 success, 1 negative answer, 2 usage or I/O error.\n"};

/* --data, --connect, --token-file: a value that is not empty. */
static int global_option(void *ctx, const char *opt, const char *value)
{
    tool_target *t = ctx;
    if (!*value)
        return tool_fail("option %s needs a value (try --help)", opt);
    if (!strcmp(opt, "--connect")) {
        t->connect = value;
        t->connect_from = "--connect";
    } else
        *(!strcmp(opt, "--data") ? &t->data : &t->token_file) = value;
    return 0;
}

/* The global options, up to the command (tool_target.h): the command's
 * index in argv, argc when there is none, or -1 after a message (or after
 * the usage or the version, *rc then the exit status). */
static int global_options(int argc, char **argv, tool_target *t, int *rc)
{
    int version = 0, i;
    static char *help[] = {"tmsctl", "--help"};
    const tool_opt opts[] = {{"data", 1, NULL, NULL}, {"connect", 1, NULL, NULL}, {"token-file", 1, NULL, NULL},
                             {"version", 0, NULL, &version}, {NULL, 0, NULL, NULL}};
    const tool_parser p = {opts, global_option, t, 1,
                           "before the command only --data, --connect and --token-file; a command's options go "
                           "after it"};
    *rc = tool_parse_args(&p, argc - 1, argv + 1, NULL, 0, &i);
    if (*rc == 1)   /* --help or -h before the command: the usage on stdout */
        *rc = tool_dispatch(commands, 2, help, &usage);
    else if (!*rc && version)
        *rc = tool_version();
    else if (!*rc)
        return i + 1;
    return -1;
}

int main(int argc, char **argv)
{
    tool_target t = {0};
    char token[256] = "", why[1024];
    int rc;
    tool_prog = "tmsctl";
    /* the global options, up to the command, which tool_dispatch then reads */
    int i = global_options(argc, argv, &t, &rc);
    if (i < 0)
        return rc;
    data_dir = t.data;
    /* tool_dispatch sees argv[i] as the command. No command, or --help: the
     * usage, before the target is looked for (also COMMAND --help); an
     * unknown command is told only once it was (and tmsd was reached). */
    int help = i >= argc || !strcmp(argv[i], "names");
    for (int k = i; k < argc; k++)
        help |= tool_is_help(argv[k]);
    if (help)
        return tool_dispatch(commands, argc - i + 1, argv + i - 1, &usage);
    if (tool_target_resolve(&t, TMS_PACKAGED_SOCKET))
        return TOOL_ERROR;
    size_t token_len;
    if (t.token_file && tms_token_read(t.token_file, token, sizeof token, &token_len, why, sizeof why))
        return fail("%s", why);
    if (t.connect && tms_client_connect(t.connect, token[0] ? token : NULL, &client, why, sizeof why)) {
        if (strcmp(t.connect_from, "--connect"))   /* an address the command line did not give: say whence */
            fprintf(stderr, "tmsctl: %s (the address of %s)\n", why, t.connect_from);
        else
            fprintf(stderr, "tmsctl: %s\n", why);
        return TOOL_ERROR;
    }
    rc = tool_dispatch(commands, argc - i + 1, argv + i - 1, &usage);
    tms_client_close(client);
    return rc;
}
