/* tool_set_aside.c -- "tms-audit set-aside": what a deposed cluster leader
 * set aside (engine_set_aside.c, docs/failover.md): records its log held
 * that the stream never stored, never acknowledged. One JSON line per
 * set-aside: its directory, the evidence, and every record decoded, each
 * checked against the chain (from the head at the cut, as evidence.json
 * says it) and against the hash its frame carries. */
#include "cmd.h"
#include "log.h"
#include "query.h"
#include "record.h"
#include "tool_common.h"
#include "tool_trust.h"
#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: tms-audit set-aside --data DIR\n"
    "\n"
    "The records a deposed cluster leader set aside (DIR/set-aside): one JSON line per\n"
    "set-aside, {\"set_aside\": \"FIRST-LAST\", \"evidence\": {...}, \"records\": [...]},\n"
    "each record as watch prints it (seq, time, tenant, actor, verdict, cmd, ...), checked\n"
    "against the chain from the head at the cut. Exit 0, 1 when a record does not check,\n"
    "2 on an I/O error.\n";

/* One line of records.jsonl into a decoded record, chained on prev. 0, or -1 with why. */
static int one_record(const char *line, uint8_t prev[TMS_LOG_HASH_LEN], json_t *out, char *why, size_t whylen)
{
    json_t *o = json_loads(line, 0, NULL);
    json_int_t seq = 0;
    const char *hash = NULL, *b64 = NULL;
    uint8_t *frame = NULL, stored[TMS_LOG_HASH_LEN], mine[TMS_LOG_HASH_LEN];
    const uint8_t *payload = NULL;
    size_t flen = 0, plen = 0;
    int rc = -1;
    tms_record rec;
    memset(&rec, 0, sizeof rec);
    if (!o || json_unpack(o, "{s:I,s:s,s:s}", "seq", &seq, "hash", &hash, "frame", &b64) || seq <= 0)
        snprintf(why, whylen, "not a set-aside record line");
    else if (!(frame = malloc(strlen(b64))) ||
             sodium_base642bin(frame, strlen(b64), b64, strlen(b64), NULL, &flen, NULL, sodium_base64_VARIANT_ORIGINAL) ||
             !(payload = tms_log_frame_payload(frame, flen, &plen)) ||
             sodium_hex2bin(stored, sizeof stored, hash, strlen(hash), NULL, NULL, NULL))
        snprintf(why, whylen, "seq %lld: its frame or hash does not decode", (long long)seq);
    else if (tms_log_chain_hash(prev, (uint64_t)seq, payload, plen, mine),
             memcmp(mine, stored, sizeof mine) || memcmp(tms_log_frame_hash(frame, flen), stored, sizeof stored))
        snprintf(why, whylen, "seq %lld does not chain on the records before it", (long long)seq);
    else if (tms_cmd_init(&rec.cmd), tms_record_decode(&rec, payload, plen, why, whylen) == TMS_OK) {
        rec.seq = (uint64_t)seq;
        json_t *r = tms_record_json(&rec, NULL);
        rc = r && !json_array_append_new(out, r) ? 0 : -1;
        memcpy(prev, mine, TMS_LOG_HASH_LEN);
    }
    tms_cmd_free(&rec.cmd);
    free(frame);
    json_decref(o);
    return rc;
}

/* DIR/set-aside/NAME: its evidence and records, printed. 0, 1 (a record does not check), 2. */
static int one_dir(const char *base, const char *name)
{
    char path[4600], why[300], *line = NULL;
    size_t cap = 0;
    uint8_t prev[TMS_LOG_HASH_LEN];
    const char *head = NULL;
    snprintf(path, sizeof path, "%s/%s/evidence.json", base, name);
    json_t *ev = json_load_file(path, 0, NULL), *records = json_array();
    if (!ev || json_unpack(ev, "{s:s}", "head_at_keep", &head) ||
        sodium_hex2bin(prev, sizeof prev, head, strlen(head), NULL, NULL, NULL)) {
        json_decref(ev);
        json_decref(records);
        return tool_fail("%s: not a set-aside's evidence", path);
    }
    snprintf(path, sizeof path, "%s/%s/records.jsonl", base, name);
    FILE *f = fopen(path, "r");
    int rc = f ? 0 : tool_fail("%s: %s", path, strerror(errno));
    while (!rc && getline(&line, &cap, f) > 0)
        if (one_record(line, prev, records, why, sizeof why))
            rc = TOOL_NEGATIVE, tool_warn("%s: %s", path, why);
    if (f)
        fclose(f);
    free(line);
    if (rc != TOOL_ERROR && tool_print_json(json_pack("{s:s,s:o,s:o,s:s}", "set_aside", name, "evidence", ev,
                                                      "records", records, "chain", rc ? "broken" : "ok")))
        return tool_fail("cannot write the output");
    if (rc == TOOL_ERROR) {
        json_decref(ev);
        json_decref(records);
    }
    return rc;
}

int tool_set_aside_main(int argc, char **argv)
{
    const char *data = NULL;
    const tool_opt opts[] = {{"data", 1, &data, NULL}, {NULL, 0, NULL, NULL}};
    char base[4200];
    const char *pos[1];
    int npos = 0, worst = 0;
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(help, stdout) == EOF ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data)
        return tool_fail("set-aside: --data DIR is required");
    snprintf(base, sizeof base, "%s/set-aside", data);
    struct dirent **names = NULL;
    int n = scandir(base, &names, NULL, alphasort);
    if (n < 0 && errno != ENOENT)
        return tool_fail("%s: %s", base, strerror(errno));
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        if (nm[0] >= '0' && nm[0] <= '9' && !strstr(nm, ".tmp")) {
            int r = one_dir(base, nm);
            worst = r == TOOL_ERROR || worst == TOOL_ERROR ? TOOL_ERROR : r ? r : worst;
        }
        free(names[i]);
    }
    free(names);
    return worst ? worst : tool_finish_stdout();
}
