/* tool_trust.c -- tms-audit keygen and checkpoint, and the key and file
 * loaders the trust commands share (SPEC section 11). */
#include "checkpoints.h"
#include "engine.h"
#include "tree.h"
#include "tool_common.h"
#include "tool_trust.h"
#include "snapshots.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tool_read_small(const char *opt, const char *path, size_t max, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *buf = NULL;
    if (!f)
        return tool_fail("%s %s: %s", opt, path, strerror(errno));
    char *b = malloc(max + 2);
    size_t n = b ? fread(b, 1, max + 1, f) : 0;
    int bad = !b || ferror(f);
    fclose(f);
    if (bad || n > max) {
        free(b);
        return bad ? tool_fail("%s %s: cannot read it", opt, path)
                   : tool_fail("%s %s: larger than %zu bytes", opt, path, max);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

/* The key in arg (a vkey, or a file holding one): 0 or TOOL_ERROR after a message. */
static int load_any_vkey(const char *opt, const char *arg, tms_note_verifier *out)
{
    char why[200], *buf = NULL;
    size_t len;
    if (strchr(arg, '+') && tms_note_verifier_parse(arg, strlen(arg), out, why, sizeof why) == TMS_OK)
        return 0;
    if (access(arg, F_OK) != 0)   /* not a file: say what is wrong with it as a key */
        return tms_note_verifier_parse(arg, strlen(arg), out, why, sizeof why) == TMS_OK
                   ? 0 : tool_fail("%s %s: not a verifier key (%s) nor a file", opt, arg, why);
    if (tool_read_small(opt, arg, 4096, &buf, &len))
        return TOOL_ERROR;
    len = strcspn(buf, "\n");
    int rc = tms_note_verifier_parse(buf, len, out, why, sizeof why) == TMS_OK
                 ? 0 : tool_fail("%s %s: not a verifier key: %s", opt, arg, why);
    free(buf);
    return rc;
}

int tool_load_vkey(const char *opt, const char *arg, tms_note_verifier *out)
{
    if (load_any_vkey(opt, arg, out))
        return TOOL_ERROR;
    if (out->type != TMS_KEY_ED25519)   /* a witness's key cannot stand for the log's signature */
        return tool_fail("%s %s: a witness's key (type 0x04), not a log's", opt, out->name);
    return 0;
}

int tool_load_signer(const char *opt, const char *path, tms_note_signer *out)
{
    char why[200], *buf = NULL;
    size_t len;
    if (tool_read_small(opt, path, 4096, &buf, &len))
        return TOOL_ERROR;
    int rc = tms_note_signer_parse(buf, strcspn(buf, "\n"), out, why, sizeof why) == TMS_OK
                 ? 0 : tool_fail("%s %s: not a private key: %s", opt, path, why);
    sodium_memzero(buf, len);
    free(buf);
    return rc;
}

int tool_open_checkpoint(const char *opt, const char *path, const tms_note_verifier *key, char **buf,
                         tms_checkpoint *cp)
{
    char why[300];
    size_t len;
    if (tool_read_small(opt, path, TMS_NOTE_MAX_BYTES, buf, &len))
        return TOOL_ERROR;
    if (tms_checkpoint_open(*buf, len, key, cp, why, sizeof why) != TMS_OK) {
        tool_warn("%s %s: %s", opt, path, why);
        return TOOL_NEGATIVE;
    }
    return 0;
}

static const char usage_keygen[] =
    "usage: tms-audit keygen --name NAME --out FILE [--witness]\n"
    "\n"
    "Writes a new Ed25519 private key to FILE (mode 0600; refused if FILE exists),\n"
    "one line PRIVATE+KEY+NAME+KEYID+BASE64(type || seed) as Go's sumdb/note\n"
    "writes it, and prints its verifier key (a C2SP vkey, NAME+KEYID+BASE64) on\n"
    "stdout. NAME is a schema-less URL such as pbx.example.com/tms: a log's key\n"
    "name is its checkpoints' origin.\n"
    "\n"
    "  --witness   a witness's key (tlog-cosignature/v1, type 0x04) instead of\n"
    "              a log's (type 0x01)\n";

int tool_keygen_main(int argc, char **argv)
{
    const char *name = NULL, *out = NULL, *pos[1];
    int npos, witness = 0;
    char *skey = NULL, *vkey = NULL;
    const tool_opt opts[] = {{"name", 1, &name, NULL}, {"out", 1, &out, NULL}, {"witness", 0, NULL, &witness},
                             {NULL, 0, NULL, NULL}};
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage_keygen, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!name || !out)
        return tool_fail("keygen: --name NAME and --out FILE are required (try --help)");
    tms_err err = tms_note_keygen(name, witness ? TMS_KEY_COSIGNATURE_V1 : TMS_KEY_ED25519, &skey, &vkey);
    if (err == TMS_E_INVAL)
        return tool_fail("keygen: --name %s: a key name is non-empty, at most 255 bytes, with no space or '+'",
                         name);
    if (err)
        return tool_fail("keygen: out of memory");
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t n = strlen(skey);
    skey[n] = '\n';   /* the line, written whole */
    if (fd < 0 || write(fd, skey, n + 1) != (ssize_t)(n + 1) || fsync(fd) != 0)
        rc = tool_fail("keygen: --out %s: %s", out, fd < 0 && errno == EEXIST ? "exists (never overwritten)"
                                                                               : strerror(errno));
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = tool_fail("keygen: --out %s: %s", out, strerror(errno));
    if (rc && fd >= 0)
        unlink(out);
    if (!rc && printf("%s\n", vkey) < 0)
        rc = TOOL_ERROR;
    sodium_memzero(skey, n + 1);
    free(skey);
    free(vkey);
    return rc ? rc : tool_finish_stdout();
}

static const char usage_checkpoint[] =
    "usage: tms-audit checkpoint --data DIR [--size N]\n"
    "\n"
    "Prints the latest signed checkpoint kept in DIR (or the one of tree size N)\n"
    "exactly as signed, with the cosignatures witnesses added (C2SP signed note).\n"
    "Exit status: 0 printed, 1 there is none, 2 usage or I/O error.\n";

int tool_checkpoint_main(int argc, char **argv)
{
    const char *data = NULL, *size = NULL, *pos[1];
    int npos;
    uint64_t want = 0;
    char why[300], *note = NULL;
    size_t len;
    const tool_opt opts[] = {{"data", 1, &data, NULL}, {"size", 1, &size, NULL}, {NULL, 0, NULL, NULL}};
    int rc = tool_parse(argc, argv, opts, pos, 0, &npos);
    if (rc == 1)
        return fputs(usage_checkpoint, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!data)
        return tool_fail("checkpoint: --data DIR is required (try --help)");
    if (size && (tool_seq_parse(size, &want) || want == 0))
        return tool_fail("checkpoint: --size %s: expected a tree size above 0", size);
    tms_err err = tms_checkpoints_find(data, want, &note, &len, why, sizeof why);
    if (err == TMS_NOT_FOUND) {
        tool_warn("%s", why);
        return TOOL_NEGATIVE;
    }
    if (err)
        return tool_fail("%s", why);
    rc = fwrite(note, 1, len, stdout) == len ? tool_finish_stdout() : TOOL_ERROR;
    free(note);
    return rc;
}

/* tmsctl --data DIR checkpoint --signing-key FILE: sign the tree of every
 * durable record now (the writer's lock held), keep it, print it. When the
 * latest kept checkpoint already has that size, it is printed instead (a
 * log signs one checkpoint per size). */
int tool_checkpoint_embedded(const char *data, const char *keyfile)
{
    char why[600], text[512], line[TMS_NOTE_SIG_TEXT_MAX], *latest = NULL;
    size_t len;
    uint64_t size;
    tms_tlog_hash root;
    tms_note_signer s;
    tms_engine *eng = NULL;
    tms_checkpoint cp;
    int rc = TOOL_ERROR;
    if (tool_load_signer("--signing-key", keyfile, &s))
        return TOOL_ERROR;
    if (s.v.type != TMS_KEY_ED25519) {
        tms_note_signer_wipe(&s);
        return tool_fail("checkpoint: --signing-key %s is a witness key, not a log key", keyfile);
    }
    if (tms_engine_open(data, NULL, &eng, why, sizeof why)) {
        tms_note_signer_wipe(&s);
        return tool_fail("%s", why);
    }
    tms_tree_head(tms_engine_tree(eng), &size, root);
    if (!(tms_checkpoints_find(data, 0, &latest, &len, why, sizeof why) == TMS_OK &&
          tms_checkpoint_open(latest, len, &s.v, &cp, why, sizeof why) == TMS_OK))
        memset(&cp, 0, sizeof cp);   /* this key signed nothing here yet (or another key signed the latest) */
    if (size == 0) {
        rc = tool_fail("checkpoint: no records yet: nothing to sign");
    } else if (cp.size == size && !memcmp(cp.root, root, TMS_TLOG_HASH)) {   /* one checkpoint per size */
        rc = fwrite(latest, 1, len, stdout) == len ? tool_finish_stdout() : TOOL_ERROR;
    } else if (tms_tree_extends(tms_engine_tree(eng), cp.size, cp.root, size, root, why, sizeof why)) {
        rc = tool_fail("checkpoint: refused: %s", why);   /* never two inconsistent checkpoints */
    } else {
        size_t tl = tms_checkpoint_format(s.v.name, size, root, text, sizeof text);
        char note[sizeof text + sizeof line + 2];
        if (!tl || tms_note_sign_line(&s, text, tl, 0, line) || tms_tree_sync(tms_engine_tree(eng)))
            rc = tool_fail("checkpoint: cannot sign the tree of size %llu", (unsigned long long)size);
        else if (snprintf(note, sizeof note, "%s\n%s", text, line),
                 tms_checkpoints_append(data, note, strlen(note), why, sizeof why))
            rc = tool_fail("checkpoint: %s", why);
        else
            rc = fputs(note, stdout) < 0 ? TOOL_ERROR : tool_finish_stdout();
    }
    int made;   /* the snapshots' notes too (snapshots.h): what tms-restore seed takes a snapshot on */
    if (rc == TOOL_OK && tms_snapshot_notes_sign(data, tms_engine_tree(eng), &s, &made, why, sizeof why) != TMS_OK)
        rc = tool_fail("checkpoint: signing the snapshots' notes: %s", why);
    free(latest);
    tms_engine_close(eng);
    tms_note_signer_wipe(&s);
    return rc;
}
