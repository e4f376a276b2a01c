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
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return s[2 * n] == '\0' || s[2 * n] == '\n' ? 0 : -1;
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
        else if (sscanf(line, "seq %" SCNu64, &w->seq) == 1)
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
    char path[4200], tmp[4200], text[160], h[2 * TMS_HASH_LEN + 1];
    hex(head, TMS_HASH_LEN, h);
    int n = snprintf(text, sizeof text, "tmsperm-witness 1\nseq %" PRIu64 "\nhead %s\n", seq, h);
    snprintf(path, sizeof path, "%s/witness", dir);
    snprintf(tmp, sizeof tmp, "%s/witness.tmp", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return TMS_E_IO;
    int ok = write(fd, text, (size_t)n) == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        return TMS_E_IO;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return TMS_E_IO;
    ok = fsync(dfd) == 0;
    close(dfd);
    return ok ? TMS_OK : TMS_E_IO;
}

/* One witness against the log: appends what it proves to out (evidence). */
static void judge(const char *what, uint64_t seq, const uint8_t *head, int matched, uint64_t last,
                  char *out, size_t len)
{
    char h[2 * TMS_HASH_LEN + 1];
    size_t used = strlen(out);
    if (!seq || (seq <= last && matched))
        return;
    hex(head, TMS_HASH_LEN, h);
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
        hex(c->proj_head, 8, ph);
    if (c->witness.present)
        hex(c->witness.head, 8, wh);
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
