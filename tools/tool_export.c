/* tool_export.c -- "tms-audit export": every record of the log as one JSON
 * line {"seq","time","verdict","cmd"} for outside programs (jq, a SIEM). Read
 * through the engine's checking iterator, decoded by tms_record_decode, "cmd"
 * printed from the decoded command in schema order (it re-submits as the same
 * command). Streaming: memory holds one record; a damaged log is exit 1. */
#include "cmd.h"
#include "log.h"
#include "record.h"
#include "tool_common.h"
#include "tool_replay.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tool_export_main(int argc, char **argv);

static const char usage_export[] =
    "usage: tms-audit export --data DIR [--since X] [--until X]\n"
    "\n"
    "Prints every record of the log of DIR as one JSON line, in log order:\n"
    "  {\"seq\":N,\"time\":\"RFC 3339 UTC, ns\",\"verdict\":\"accepted\"|\"CODE\",\"cmd\":{...},\n"
    "   \"by\":{\"principal\":\"...\",\"peer\":\"uid:N|HOST:PORT\"}|null}\n"
    "\"cmd\" is the command exactly as logged (the fields of 'tmsctl submit', in\n"
    "schema order); \"verdict\" the verdict logged with it. Every frame is checked\n"
    "(checksums, seq continuity, hash chain) and every payload decoded as\n"
    "'tms-audit verify' does; nothing is replayed.\n"
    "\n"
    "  --since X   only records at or after X (a seq, or an RFC 3339 time)\n"
    "  --until X   only records at or before X (the export stops there)\n"
    "\n"
    "Exit status: 0 exported; 1 the log is damaged (the records before the damage\n"
    "have been printed; one line on stderr names the seq, segment and byte offset);\n"
    "2 usage or I/O error.\n";

/* One output line, reused for every record. */
typedef struct obuf {
    char *p;
    size_t n, cap;
    int nomem;
} obuf;

static void put(obuf *b, const char *s, size_t len)
{
    if (b->nomem)
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->nomem = 1;
            return;
        }
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

static void puts_lit(obuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
    unsigned lo = 0x80, hi = 0xbf;
    if (s[0] < 0xc2 || s[0] > 0xf4 || n < len)
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0;
    else if (s[0] == 0xed)
        hi = 0x9f;
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* A JSON string: quotes, backslashes and control characters escaped; a byte
 * that is not valid UTF-8 (possible only from a forged msgpack) becomes U+FFFD. */
static void put_str(obuf *b, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;
    char esc[8];
    put(b, "\"", 1);
    while (i < len) {
        size_t ulen = u[i] < 0x80 ? 1 : utf8_len(u + i, len - i);
        if (u[i] >= 0x20 && u[i] != '"' && u[i] != '\\' && ulen) {
            i += ulen;
            continue;
        }
        put(b, s + run, i - run);
        if (!ulen) {
            puts_lit(b, "\\ufffd");
        } else if (u[i] == '"' || u[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)u[i];
            put(b, esc, 2);
        } else {
            snprintf(esc, sizeof esc, "\\u%04x", u[i]);
            put(b, esc, 6);
        }
        run = ++i;
    }
    put(b, s + run, i - run);
    put(b, "\"", 1);
}

static const char *const login_keys[3] = {"id", "name", "email"};

static void put_field(obuf *b, const tms_field_def *fd, const tms_field *v, int first)
{
    puts_lit(b, first ? "" : ",");
    put_str(b, fd->name, strlen(fd->name));
    put(b, ":", 1);
    if (fd->type == TMS_T_ID_LIST || fd->type == TMS_T_NAME_LIST) {
        put(b, "[", 1);
        for (int i = 0; i < v->n; i++) {
            puts_lit(b, i ? "," : "");
            put_str(b, v->items[i].str, v->items[i].len);
        }
        put(b, "]", 1);
    } else if (fd->type == TMS_T_LOGIN_SPEC) {
        int n = 0;
        put(b, "{", 1);
        for (int i = 0; i < 3; i++)
            if (v->items[i].present) {
                puts_lit(b, n++ ? "," : "");
                put_str(b, login_keys[i], strlen(login_keys[i]));
                put(b, ":", 1);
                put_str(b, v->items[i].str, v->items[i].len);
            }
        put(b, "}", 1);
    } else if (v->is_null) {
        puts_lit(b, "null");
    } else {
        put_str(b, v->str, v->len);
    }
}

/* The command as a JSON object, fields in schema order (tms_cmd_pack's). */
static void put_cmd(obuf *b, const tms_cmd *c)
{
    const tms_cmd_def *def = &tms_cmd_defs[c->type];
    int first = 1;
    put(b, "{", 1);
    for (int i = 0; i < tms_common_field_count; i++)
        if (c->f[tms_common_fields[i].field].present) {
            put_field(b, &tms_common_fields[i], &c->f[tms_common_fields[i].field], first);
            first = 0;
        }
    for (int i = 0; i < def->nfields; i++)
        if (c->f[def->fields[i].field].present) {
            put_field(b, &def->fields[i], &c->f[def->fields[i].field], first);
            first = 0;
        }
    put(b, "}", 1);
}

static void put_record(obuf *b, const tms_record *rec)
{
    char num[32], when[TOOL_TIME_MAX];
    const char *verdict = rec->verdict == TMS_OK ? "accepted" : tms_err_name(rec->verdict);
    b->n = 0;
    snprintf(num, sizeof num, "%" PRIu64, rec->seq);
    puts_lit(b, "{\"seq\":");
    puts_lit(b, num);
    puts_lit(b, ",\"time\":");
    tool_time_format(rec->time, when);
    put_str(b, when, strlen(when));
    puts_lit(b, ",\"verdict\":");
    put_str(b, verdict, strlen(verdict));
    puts_lit(b, ",\"cmd\":");
    put_cmd(b, &rec->cmd);
    puts_lit(b, ",\"by\":");   /* who tmsd authenticated, from where (issue 8, item 10); null before that */
    if (rec->principal[0] || rec->peer[0]) {
        puts_lit(b, "{\"principal\":");
        put_str(b, rec->principal, strlen(rec->principal));
        puts_lit(b, ",\"peer\":");
        put_str(b, rec->peer, strlen(rec->peer));
        puts_lit(b, "}");
    } else {
        puts_lit(b, "null");
    }
    puts_lit(b, "}\n");
}

typedef struct export_run {
    tool_point since, until;
    uint64_t printed;
} export_run;

static int before_since(const export_run *x, const tms_record *rec)
{
    return x->since.set && (x->since.is_seq ? rec->seq < x->since.seq : rec->time < x->since.time);
}

static int after_until(const export_run *x, const tms_record *rec)
{
    return x->until.set && (x->until.is_seq ? rec->seq > x->until.seq : rec->time > x->until.time);
}

/* A damaged log: one stderr line naming seq, segment and offset; exit 1. */
static int damaged(uint64_t seq, const char *segment, uint64_t offset, const char *what)
{
    const char *p = strstr(what, ": ");
    if (!strncmp(what, "segment ", 8) && p)
        what = p + 2;   /* the location is given below */
    tool_warn("export stopped at seq %" PRIu64 " (segment %s, offset %" PRIu64 "): %s", seq,
              segment && segment[0] ? segment : "-", offset, what);
    return TOOL_NEGATIVE;
}

/* Stream the records of the log in logdir to stdout. Returns an exit code. */
static int export_log(export_run *x, const char *logdir)
{
    tms_log_iter *it = NULL;
    tms_log_report rep;
    tms_log_record lr;
    tms_record rec;
    tool_progress prog;
    obuf b = {NULL, 0, 0, 0};
    int has = 0, rc = TOOL_OK;
    char why[256];
    tms_err err = tms_log_iter_open(logdir, 1, &it, &rep);
    if (err)
        return tool_fail("cannot read the log: %s", rep.msg[0] ? rep.msg : tms_strerror(err));
    tms_cmd_init(&rec.cmd);
    tool_progress_start(&prog, "tms-audit: exporting", 0);
    while ((err = tms_log_iter_next(it, &lr, &has)) == TMS_OK && has) {
        if (tms_record_decode(&rec, lr.payload, lr.len, why, sizeof why) != TMS_OK) {
            rc = damaged(lr.seq, lr.segment, lr.offset, why);
            break;
        }
        rec.seq = lr.seq;
        if (after_until(x, &rec))
            break;
        if (!before_since(x, &rec)) {
            put_record(&b, &rec);
            if (b.nomem || fwrite(b.p, 1, b.n, stdout) != b.n) {
                rc = tool_fail(b.nomem ? "out of memory" : "cannot write the output");
                break;
            }
            x->printed++;
        }
        tool_progress_tick(&prog, lr.seq);
    }
    tool_progress_end(&prog);
    const tms_log_report *r = tms_log_iter_report(it);
    if (rc == TOOL_OK && err == TMS_E_CORRUPT)
        rc = damaged(r->bad_seq, r->bad_segment, r->bad_offset, r->msg);
    else if (rc == TOOL_OK && err)
        rc = tool_fail("cannot read the log: %s", r->msg[0] ? r->msg : tms_strerror(err));
    free(b.p);
    tms_cmd_free(&rec.cmd);
    tms_log_iter_close(it);
    return rc;
}

int tool_export_main(int argc, char **argv)
{
    const char *data = NULL, *since = NULL, *until = NULL, *pos[1];
    const tool_opt opts[] = {{"data", 1, &data, NULL}, {"since", 1, &since, NULL},
                             {"until", 1, &until, NULL}, {NULL, 0, NULL, NULL}};
    char logdir[4200];
    static char outbuf[1 << 20];
    export_run x;
    int npos;
    memset(&x, 0, sizeof x);
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage_export, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data)
        return tool_fail("export: --data DIR is required (try --help)");
    if ((since && tool_point_parse("--since", since, &x.since)) ||
        (until && tool_point_parse("--until", until, &x.until)))
        return TOOL_ERROR;
    if (x.since.set && x.until.set && x.since.is_seq == x.until.is_seq &&
        (x.since.is_seq ? x.since.seq > x.until.seq : x.since.time > x.until.time))
        return tool_fail("export: --since %s is after --until %s", since, until);
    if (tool_log_dir(data, logdir, sizeof logdir))
        return TOOL_ERROR;
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    rc = export_log(&x, logdir);
    int out = tool_finish_stdout();
    return rc ? rc : out;
}
