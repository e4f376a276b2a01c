/* tool_witness.c -- tms-audit witness (SPEC section 11): a transparency-log
 * witness after C2SP tlog-witness. It cosigns (C2SP tlog-cosignature/v1) a
 * log's checkpoint only when the log's key signed it and it extends the last
 * checkpoint this witness cosigned for that origin, so a log rewritten after
 * any witness saw it cannot gather that witness's cosignature again.
 *
 *   tms-audit witness --key FILE --log-key VKEY --state FILE CHECKPOINT [--proof FILE]
 *       one checkpoint, from a file: prints it cosigned (exit 0) or says why not (exit 1)
 *   tms-audit witness --listen HOST:PORT --key FILE --log-key VKEY [--log-key VKEY]... --state FILE
 *       serves POST /add-checkpoint (tool_witness_serve.c)
 *
 * Both go through check() below: the log's signature, then, under an
 * exclusive flock of STATE.lock, the decision against what STATE holds for
 * the origin, the cosignature, and STATE rewritten (temp file, fsync,
 * rename, fsync of the directory) before anyone sees the cosignature. The
 * check and the update are one critical section: two requests racing could
 * otherwise roll the recorded size back (the race tlog-witness describes).
 *
 * STATE: one line per origin, "ORIGIN SIZE BASE64(root)\n" (an origin is a
 * key name: no space in it). A missing file is an empty one: the first
 * checkpoint of an origin is trusted on first use. */
#include "proof.h"
#include "tool_common.h"
#include "tool_trust.h"
#include "tool_witness.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define STATE_MAX (4u << 20)   /* a state file of ~10,000 origins: more is damage */
#define WHY_MAX 400

/* One request and what was decided. */
typedef struct wcheck {
    const char *note;            /* the checkpoint note, len bytes */
    size_t len;
    int offline;                 /* the CHECKPOINT form: old is whatever STATE holds */
    uint64_t old;                /* HTTP: the client's old size */
    int have_proof;              /* offline: --proof given (HTTP: always, maybe empty) */
    uint64_t proof_from, proof_to;
    const tms_tlog_hash *proof;
    size_t nproof;
    tms_note n;                  /* the opened note and its checkpoint */
    tms_checkpoint cp;
    uint64_t latest;             /* 409: the size last cosigned for the origin */
    char line[TMS_NOTE_SIG_TEXT_MAX];   /* 200: the cosignature line */
    char why[WHY_MAX];
} wcheck;

/* What STATE holds: the whole text, and the origin's line in it. */
typedef struct wstate {
    char *text;
    size_t len;
    const char *at;              /* the origin's line (NULL: none) */
    size_t at_len;               /* ... with its newline */
    uint64_t size;
    tms_tlog_hash root;
} wstate;

static int say(wcheck *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(wcheck *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return status;
}

/* ---- the state file ----------------------------------------------------------------- */

/* Lock STATE.lock (created if absent): its descriptor, or -1 with errno. Closing it unlocks. */
static int state_lock(const char *state)
{
    char path[4200];
    if ((size_t)snprintf(path, sizeof path, "%s.lock", state) >= sizeof path)
        return errno = ENAMETOOLONG, -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return errno = e, -1;
        }
    }
    return fd;
}

/* Parse one line "ORIGIN SIZE BASE64\n" (len with the newline): 0, or -1 when malformed. */
static int parse_line(const char *p, size_t len, const char **origin, size_t *olen, uint64_t *size,
                      tms_tlog_hash root)
{
    const char *sp1 = memchr(p, ' ', len), *end = p + len - 1;
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1)
        return -1;
    uint64_t v = 0;
    for (const char *q = sp1 + 1; q < sp2; q++) {
        if (*q < '0' || *q > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    if (tms_b64_decode(sp2 + 1, (size_t)(end - sp2 - 1), root, TMS_TLOG_HASH) != 0)
        return -1;
    *origin = p;
    *olen = (size_t)(sp1 - p);
    *size = v;
    return 0;
}

/* Read STATE (none: empty) and find origin's line. 0, or -1 with why (unreadable, damaged). */
static int state_read(const char *path, const char *origin, wstate *s, char *why, size_t whylen)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "rb");
    if (!f && errno != ENOENT)
        return snprintf(why, whylen, "--state %s: %s", path, strerror(errno)), -1;
    s->text = malloc(STATE_MAX + 1);
    if (!s->text) {
        if (f)
            fclose(f);
        return snprintf(why, whylen, "out of memory"), -1;
    }
    s->len = f ? fread(s->text, 1, STATE_MAX + 1, f) : 0;
    int bad = f && (ferror(f) || s->len > STATE_MAX);
    if (f)
        fclose(f);
    if (bad || (s->len && s->text[s->len - 1] != '\n'))
        return snprintf(why, whylen, "--state %s: unreadable, too large, or cut short", path), -1;
    size_t lineno = 0;
    for (const char *p = s->text, *end = s->text + s->len; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *o;
        size_t olen, len = (size_t)(nl + 1 - p);
        uint64_t size;
        tms_tlog_hash root;
        if (parse_line(p, len, &o, &olen, &size, root))
            return snprintf(why, whylen, "--state %s: line %zu is not \"ORIGIN SIZE BASE64(root)\"", path,
                            lineno + 1), -1;
        if (olen == strlen(origin) && !memcmp(o, origin, olen)) {
            s->at = p;
            s->at_len = len;
            s->size = size;
            memcpy(s->root, root, TMS_TLOG_HASH);
        }
        p = nl + 1;
    }
    return 0;
}

/* STATE with cp's line in place of the origin's old one (or added), durably: write STATE.tmp, fsync, rename,
 * fsync the directory. Under the lock, so STATE.tmp is ours. 0, or -1 with why. */
static int state_write(const char *path, const wstate *s, const tms_checkpoint *cp, char *why, size_t whylen)
{
    char tmp[4200], b64[sodium_base64_ENCODED_LEN(TMS_TLOG_HASH, sodium_base64_VARIANT_ORIGINAL)];
    char line[TMS_NOTE_NAME_MAX + 80];
    size_t before = s->at ? (size_t)(s->at - s->text) : s->len, after = s->at ? before + s->at_len : s->len;
    tms_b64_encode(cp->root, TMS_TLOG_HASH, b64);
    int n = snprintf(line, sizeof line, "%s %" PRIu64 " %s\n", cp->origin, cp->size, b64);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return snprintf(why, whylen, "--state %s: path too long", path), -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 || tool_write_all(fd, s->text, before) || tool_write_all(fd, s->text + after, s->len - after) ||
                     tool_write_all(fd, line, (size_t)n) || fsync(fd) != 0
                 ? -1 : 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = -1, e = errno;
    if (!rc && (rename(tmp, path) != 0 || tool_sync_dir_of(path) != 0))
        rc = -1, e = errno;
    if (rc) {
        unlink(tmp);
        snprintf(why, whylen, "--state %s: cannot record the checkpoint: %s", path, strerror(e));
    }
    return rc;
}

/* ---- the decision --------------------------------------------------------------------- */

/* The note well-formed (400), of an origin whose key this witness trusts (404), signed by such a key (403). */
static int open_note(const tool_witness *w, wcheck *c)
{
    tms_note_verifier keys[WITNESS_MAX_LOGS];
    size_t nkeys = 0;
    char why[300];
    if (tms_note_open(c->note, c->len, NULL, 0, &c->n, why, sizeof why) != TMS_OK)
        return say(c, 400, "%s", why);
    if (tms_checkpoint_parse(c->n.text, c->n.text_len, &c->cp, why, sizeof why) != TMS_OK)
        return say(c, 400, "not a checkpoint: %s", why);
    for (size_t i = 0; i < w->nlogs; i++)
        if (!strcmp(w->logs[i].name, c->cp.origin))
            keys[nkeys++] = w->logs[i];
    if (!nkeys)
        return say(c, 404, "unknown origin %s: no --log-key of that name", c->cp.origin);
    if (tms_note_open(c->note, c->len, keys, nkeys, &c->n, why, sizeof why) != TMS_OK)
        return say(c, 403, "%s", why);   /* a signature by a trusted key that fails: the whole note is refused */
    for (size_t i = 0; i < nkeys; i++)
        if (tms_note_verified_by(&c->n, &keys[i]))
            return 200;
    return say(c, 403, "no signature by a trusted key of %s", c->cp.origin);
}

/* The checks that need no state: an HTTP old size above the checkpoint's (400), a proof with an old size of 0
 * (400), an offline proof to another size (422). */
static int precheck(wcheck *c)
{
    if (!c->offline && c->old > c->cp.size)
        return say(c, 400, "old size %" PRIu64 " is above the checkpoint's size %" PRIu64, c->old, c->cp.size);
    if (!c->offline && c->old == 0 && c->nproof)
        return say(c, 400, "a consistency proof from old size 0: the proof must be empty");
    if (c->offline && c->have_proof && c->proof_to != c->cp.size)
        return say(c, 422, "the proof is to size %" PRIu64 ", the checkpoint's size is %" PRIu64, c->proof_to,
                   c->cp.size);
    return 200;
}

/* Against what the state holds for the origin (s->at NULL: nothing yet). */
static int decide(wcheck *c, const wstate *s)
{
    uint64_t stored = s->at ? s->size : 0, size = c->cp.size;
    const char *origin = c->cp.origin;
    c->latest = stored;
    if (c->offline) {
        c->old = stored;
        if (!s->at)
            c->nproof = 0;   /* trusted on first use: nothing to be consistent with */
        else if (c->have_proof && c->proof_from != stored)
            return say(c, 409, "the proof is from size %" PRIu64 ", but this witness last cosigned size %" PRIu64
                       " for %s", c->proof_from, stored, origin);
        if (stored > size)
            return say(c, 409, "size %" PRIu64 " is smaller than size %" PRIu64 ", which this witness cosigned for "
                       "%s: a log never shrinks", size, stored, origin);
    }
    if (c->old != stored)
        return say(c, 409, "old size %" PRIu64 ", but this witness last cosigned size %" PRIu64 " for %s", c->old,
                   stored, origin);
    if (c->old == size) {
        if (s->at && sodium_memcmp(s->root, c->cp.root, TMS_TLOG_HASH) != 0)
            return say(c, 409, "size %" PRIu64 " with another root than the one this witness cosigned for %s: "
                       "the log was rewritten", size, origin);
        return 200;
    }
    if (c->old == 0)
        return 200;   /* trusted on first use */
    if (tms_tlog_check_consistency(c->old, size, s->root, c->cp.root, c->proof, c->nproof))
        return 200;
    if (c->offline && !c->have_proof)
        return say(c, 422, "size %" PRIu64 " extends size %" PRIu64 " (cosigned for %s) only with a consistency proof: "
                   "give --proof (tms-audit prove --from %" PRIu64 " --to %" PRIu64 ")", size, c->old, origin, c->old,
                   size);
    return say(c, 422, "the consistency proof from size %" PRIu64 " to %" PRIu64 " fails for %s", c->old, size, origin);
}

/* open, check, and under the lock decide, cosign and record: 200 with c->line, else the status and c->why
 * (500: the state could not be read or written). */
static int check(const tool_witness *w, wcheck *c)
{
    wstate s = {0};
    int status = open_note(w, c);
    if (status == 200)
        status = precheck(c);
    if (status != 200)
        return status;
    int lock = state_lock(w->state);
    if (lock < 0)
        return say(c, 500, "--state %s: cannot lock %s.lock: %s", w->state, w->state, strerror(errno));
    if (state_read(w->state, c->cp.origin, &s, c->why, sizeof c->why))
        status = 500;
    else if ((status = decide(c, &s)) == 200 &&
             tms_note_sign_line(&w->key, c->n.text, c->n.text_len, (uint64_t)time(NULL), c->line) != TMS_OK)
        status = say(c, 500, "cannot cosign the checkpoint");
    if (status == 200 && state_write(w->state, &s, &c->cp, c->why, sizeof c->why))
        status = 500;   /* not recorded: not answered either */
    close(lock);
    free(s.text);
    if (status != 200)
        c->line[0] = '\0';
    return status;
}

int tool_witness_add(const tool_witness *w, const char *note, size_t len, uint64_t old, const tms_tlog_hash *proof,
                     size_t nproof, char line[TMS_NOTE_SIG_TEXT_MAX], uint64_t *latest, char *why, size_t whylen)
{
    wcheck *c = calloc(1, sizeof *c);   /* a tms_note is some 20 KiB */
    if (!c) {
        snprintf(why, whylen, "out of memory");
        return 500;
    }
    c->note = note;
    c->len = len;
    c->old = c->proof_from = old;
    c->have_proof = 1;
    c->proof = proof;
    c->nproof = nproof;
    int status = check(w, c);
    memcpy(line, c->line, sizeof c->line);
    *latest = c->latest;
    snprintf(why, whylen, "%s", c->why);
    free(c);
    return status;
}

/* ---- tms-audit witness ------------------------------------------------------------------ */

static const char usage_witness[] =
    "usage: tms-audit witness --key FILE --log-key VKEY --state FILE CHECKPOINT [--proof FILE]\n"
    "       tms-audit witness --listen HOST:PORT --key FILE --log-key VKEY [--log-key VKEY]... --state FILE\n"
    "\n"
    "A transparency-log witness (C2SP tlog-witness): cosigns a log's checkpoint\n"
    "(a C2SP tlog-cosignature/v1 line, time = now) only when the log's key signed\n"
    "it and it extends the last checkpoint this witness cosigned for its origin.\n"
    "The first checkpoint of an origin is trusted on first use; a later one needs\n"
    "a consistency proof from the last cosigned size (tms-audit prove --from A\n"
    "--to B). A smaller size, the same size with another root, or a proof that\n"
    "fails or is missing: refused, nothing signed, nothing recorded.\n"
    "\n"
    "  --key FILE        the witness's private key (tms-audit keygen --witness)\n"
    "  --log-key VKEY    a log's verifier key (the key, or a file holding it),\n"
    "                    repeatable: one per log this witness serves\n"
    "  --state FILE      \"ORIGIN SIZE BASE64(root)\" per origin: what was last\n"
    "                    cosigned (FILE.lock is its lock)\n"
    "  --proof FILE      {\"from\":A,\"to\":B,\"proof\":[...]}, as tms-audit prove\n"
    "                    prints it: A the last cosigned size, B CHECKPOINT's\n"
    "  --listen ADDR     serve POST /add-checkpoint on HOST:PORT (HTTP/1.1, C2SP\n"
    "                    tlog-witness) until SIGTERM or SIGINT\n"
    "\n"
    "Prints CHECKPOINT with the cosignature added (a cosignature this key made\n"
    "before is replaced).\n"
    "Exit status: 0 cosigned, 1 refused (a line on stderr says why), 2 usage or\n"
    "I/O error.\n";

/* Every --log-key value (tool_parse keeps only the last): 0, or TOOL_ERROR after a message. */
static int load_log_keys(int argc, char **argv, tool_witness *w)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--"); i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--log-key") && i + 1 < argc)
            v = argv[++i];
        else if (!strncmp(argv[i], "--log-key=", 10))
            v = argv[i] + 10;
        if (!v)
            continue;
        if (w->nlogs == WITNESS_MAX_LOGS)
            return tool_fail("witness: at most %d --log-key", WITNESS_MAX_LOGS);
        if (tool_load_vkey("--log-key", v, &w->logs[w->nlogs]))
            return TOOL_ERROR;
        if (w->logs[w->nlogs].type != TMS_KEY_ED25519)
            return tool_fail("witness: --log-key %s: not a log's key (type 0x01)", v);
        w->nlogs++;
    }
    return 0;
}

/* The CHECKPOINT note and, with --proof, its consistency proof, into c (buffers malloc'd into *note, *proof).
 * 0, TOOL_NEGATIVE (the proof does not parse), TOOL_ERROR. */
static int load_request(const char *cpfile, const char *prooffile, wcheck *c, char **note, tms_tlog_hash **proof)
{
    char *text = NULL, why[300];
    size_t len, n;
    if (tool_read_small("CHECKPOINT", cpfile, TMS_NOTE_MAX_BYTES, note, &c->len))
        return TOOL_ERROR;
    c->note = *note;
    c->offline = 1;
    if (!prooffile)
        return 0;
    if (!(*proof = malloc(TMS_TLOG_MAX_PROOF * sizeof **proof)))
        return tool_fail("out of memory");
    if (tool_read_small("--proof", prooffile, 1u << 20, &text, &len))
        return TOOL_ERROR;
    tms_err err = tms_proof_consistency_parse(text, len, &c->proof_from, &c->proof_to, *proof, &n, why, sizeof why);
    free(text);
    if (err) {
        tool_warn("witness: --proof %s: %s", prooffile, why);
        return TOOL_NEGATIVE;
    }
    c->have_proof = 1;
    c->proof = (const tms_tlog_hash *)*proof;
    c->nproof = n;
    return 0;
}

/* The note's text, its signatures but this witness's earlier ones, and the new cosignature. */
static int print_cosigned(const tool_witness *w, const wcheck *c)
{
    int bad = fwrite(c->n.text, 1, c->n.text_len, stdout) != c->n.text_len || fputc('\n', stdout) == EOF;
    for (size_t i = 0; i < c->n.nsigs && !bad; i++) {
        const tms_note_sig *g = &c->n.sigs[i];
        if (g->id == w->key.v.id && !strcmp(g->name, w->key.v.name))
            continue;
        bad = fwrite(g->line, 1, g->line_len, stdout) != g->line_len;
    }
    if (bad || fputs(c->line, stdout) == EOF)
        return tool_fail("cannot write the output");
    return tool_finish_stdout();
}

static int witness_once(const tool_witness *w, const char *cpfile, const char *prooffile)
{
    char *note = NULL;
    tms_tlog_hash *proof = NULL;
    wcheck *c = calloc(1, sizeof *c);
    int rc = c ? load_request(cpfile, prooffile, c, &note, &proof) : tool_fail("out of memory");
    if (!rc) {
        int status = check(w, c);
        if (status == 200)
            rc = print_cosigned(w, c);
        else if (status == 500)
            rc = tool_fail("witness: %s", c->why);
        else {
            tool_warn("witness: %s: %s; nothing cosigned", cpfile, c->why);
            rc = TOOL_NEGATIVE;
        }
    }
    free(c);
    free(note);
    free(proof);
    return rc;
}

int tool_witness_main(int argc, char **argv)
{
    const char *key = NULL, *logkey = NULL, *state = NULL, *proof = NULL, *listen = NULL, *pos[1];
    int npos;
    tool_witness *w;
    const tool_opt opts[] = {{"key", 1, &key, NULL},     {"log-key", 1, &logkey, NULL}, {"state", 1, &state, NULL},
                             {"proof", 1, &proof, NULL}, {"listen", 1, &listen, NULL},  {NULL, 0, NULL, NULL}};
    int rc = tool_parse(argc, argv, opts, pos, 1, &npos);
    if (rc == 1)
        return fputs(usage_witness, stdout) < 0 ? TOOL_ERROR : TOOL_OK;
    if (rc)
        return rc;
    if (!key || !logkey || !state || (listen ? npos != 0 || proof : npos != 1))
        return tool_fail("witness: --key FILE --log-key VKEY --state FILE and either CHECKPOINT [--proof FILE] or "
                         "--listen HOST:PORT (try --help)");
    if (!(w = calloc(1, sizeof *w)))
        return tool_fail("out of memory");
    w->state = state;
    if (!(rc = tool_load_signer("--key", key, &w->key)) && w->key.v.type != TMS_KEY_COSIGNATURE_V1)
        rc = tool_fail("witness: --key %s: not a witness's key (make one with tms-audit keygen --witness)", key);
    if (!rc)
        rc = load_log_keys(argc, argv, w);
    if (!rc)
        rc = listen ? tool_witness_serve(w, listen) : witness_once(w, pos[0], proof);
    tms_note_signer_wipe(&w->key);
    free(w);
    return rc;
}
