/* engine_loss.c -- evidence of lost acknowledged records (issue 8, item 1).
 *
 * The log is the truth, so nothing but the log can say a record existed.
 * Two durable witnesses can say the log once went further than it does now:
 *   - the projection, when it can be believed (store.h, "Evidence"): its
 *     meta holds the seq and chain head it applied;
 *   - DIR/witness, written (fsync, rename, fsync of the directory) when the
 *     engine opens and when it closes:
 *         tmsperm-witness 1
 *         seq <last seq>
 *         head <chain head, hex>
 * A witness ahead of the log, or whose chain head differs from the log's at
 * its seq, means acknowledged records are gone (deleted segments, a cut
 * tail, a log replaced). The engine then refuses to open, names the seqs,
 * and touches nothing, until an operator restores the log (from a backup or
 * a replica) or acknowledges the loss: tmsctl accept-loss, which appends an
 * AcknowledgeLoss record carrying the evidence to the log itself. */
#include "engine_internal.h"
#include "datadir.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

/* The n bytes written as 2n lowercase hex digits, then the end of the line. */
static int unhex(const char *s, uint8_t *out, size_t n)
{
    size_t got = 0;
    const char *end = NULL;
    if (sodium_hex2bin(out, n, s, 2 * n, NULL, &got, &end) != 0 || got != n)
        return -1;
    return *end == '\0' || *end == '\n' ? 0 : -1;
}

/* "seq N\n" with N decimal digits only (sscanf would take a sign or blanks). */
static int read_seq(const char *line, uint64_t *seq)
{
    uint64_t v = 0;
    const char *p = line + 4;
    if (strncmp(line, "seq ", 4) || !isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p != '\n' && *p != '\0')
        return -1;
    *seq = v;
    return 0;
}

tms_err tms__witness_read(const char *dir, tms__witness *w, char *why, size_t whylen)
{
    char path[4200], line[160];
    int fields = 0;
    memset(w, 0, sizeof *w);
    snprintf(path, sizeof path, "%s/witness", dir);
    FILE *f = fopen(path, "r");
    if (!f && errno != ENOENT)
        snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
    if (!f)
        return errno == ENOENT ? TMS_OK : TMS_E_IO;
    while (fgets(line, sizeof line, f)) {
        if (!strcmp(line, "tmsperm-witness 1\n"))
            fields |= 1;
        else if (read_seq(line, &w->seq) == 0)
            fields |= 2;
        else if (!strncmp(line, "head ", 5) && unhex(line + 5, w->head, TMS_HASH_LEN) == 0)
            fields |= 4;
    }
    fclose(f);
    if (fields != 7) {   /* damaged: say so rather than guess (a lost witness is not a lost log) */
        snprintf(why, whylen, "%s is damaged: restore it, or remove it to open without it", path);
        return TMS_E_CORRUPT;
    }
    w->present = 1;
    return TMS_OK;
}

tms_err tms__witness_write(const char *dir, uint64_t seq, const uint8_t head[TMS_HASH_LEN])
{
    char text[160], h[2 * TMS_HASH_LEN + 1];
    sodium_bin2hex(h, sizeof h, head, TMS_HASH_LEN);
    int n = snprintf(text, sizeof text, "tmsperm-witness 1\nseq %" PRIu64 "\nhead %s\n", seq, h);
    int err = tms_replace_file(dir, "witness", text, (size_t)n);
    errno = err;   /* for the caller's message */
    return err ? TMS_E_IO : TMS_OK;
}

/* One witness against the log: appends what it proves to out (evidence). */
static void judge(const char *what, uint64_t seq, const uint8_t *head, int matched, uint64_t last,
                  char *out, size_t len)
{
    char h[2 * TMS_HASH_LEN + 1];
    size_t used = strlen(out);
    if (!seq || (seq <= last && matched))
        return;
    sodium_bin2hex(h, sizeof h, head, TMS_HASH_LEN);
    if (seq > last)
        snprintf(out + used, len - used, "%s%s had seq %" PRIu64 " (chain head %.16s...) but the log ends at seq %"
                 PRIu64 ": records %" PRIu64 "..%" PRIu64 " are missing", used ? "; " : "", what, seq, h, last,
                 last + 1, seq);
    else
        snprintf(out + used, len - used, "%s%s had seq %" PRIu64 " with chain head %.16s... but the log's differs "
                 "there: the log was rewritten at or before seq %" PRIu64, used ? "; " : "", what, seq, h, seq);
}

void tms__loss_summary(const tms__loss_check *c, uint64_t last, char *out, size_t len)
{
    char ph[17] = "-", wh[17] = "-";
    if (c->proj_trusted)
        sodium_bin2hex(ph, sizeof ph, c->proj_head, 8);
    if (c->witness.present)
        sodium_bin2hex(wh, sizeof wh, c->witness.head, 8);
    snprintf(out, len, "log ends at seq %" PRIu64 "; projection at seq %" PRIu64 " head %s; witness at seq %" PRIu64
             " head %s", last, c->proj_trusted ? c->proj_seq : 0, ph, c->witness.present ? c->witness.seq : 0, wh);
}

void tms__loss_evidence(const tms__loss_check *c, uint64_t last, char *out, size_t len)
{
    out[0] = '\0';
    if (c->proj_trusted)
        judge("the projection", c->proj_seq, c->proj_head, c->proj_matched, last, out, len);
    if (c->witness.present)
        judge("DIR/witness", c->witness.seq, c->witness.head, c->witness_matched, last, out, len);
}

/* Append the AcknowledgeLoss record: actor and tenant system, the reason
 * given, the evidence found. Its verdict must be accepted. */
tms_err tms__acknowledge_loss(tms_engine *e, const char *reason, const char *evidence, char *why, size_t whylen)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    tms_cmd cmd;
    tms_err err = TMS_E_NOMEM;
    const char *kv[][2] = {{"cmd", "AcknowledgeLoss"}, {"tenant", "system"}, {"actor", "system"},
                           {"reason", reason}, {"evidence", evidence}};
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_unpacked_init(&up);
    tms_cmd_init(&cmd);
    msgpack_pack_map(&pk, 5);
    for (size_t i = 0; i < 5; i++)
        for (size_t k = 0; k < 2; k++) {
            size_t n = strnlen(kv[i][k], TMS_TEXT_MAX);
            msgpack_pack_str(&pk, n);
            msgpack_pack_str_body(&pk, kv[i][k], n);
        }
    if (sb.data && msgpack_unpack_next(&up, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS &&
        (err = tms_cmd_from_msgpack(&cmd, &up.data, why, whylen)) == TMS_OK) {
        char peer[32];
        snprintf(peer, sizeof peer, "uid:%lu", (unsigned long)getuid());
        tms_submission s = {.cmd = &cmd, .principal = "accept-loss", .peer = peer};   /* the operator at the console */
        err = tms_engine_submit(e, &s, 1, why, whylen);
        if (!err && s.verdict.code != TMS_OK) {
            snprintf(why, whylen, "AcknowledgeLoss was refused: %s", s.verdict.message);
            err = TMS_E_INVAL;
        }
    }
    tms_cmd_free(&cmd);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return err;
}
