/* tool_receipt.c -- the receipt of a verify: parsed from hostile bytes,
 * written as JSON, read from and written to a file atomically (see
 * tool_receipt.h). */
#include "tool_receipt.h"
#include "tool_common.h"
#include "tool_trust.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define B64_HASH sodium_base64_ENCODED_LEN(TMS_TLOG_HASH, sodium_base64_VARIANT_ORIGINAL)

static int bad(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && whylen)
        vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- parsing ------------------------------------------------------------------------------ */

/* o[key]: a string of 64 lowercase hex digits, into out[32]. 0 or -1. */
static int get_hex(json_t *o, const char *key, uint8_t out[32], char *why, size_t whylen)
{
    json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) != 64)
        return bad(why, whylen, "\"%s\": expected 64 hex digits", key);
    for (size_t i = 0; i < 32; i++) {
        int hi = s[2 * i], lo = s[2 * i + 1];
        int h = hi >= '0' && hi <= '9' ? hi - '0' : hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 : -1;
        int l = lo >= '0' && lo <= '9' ? lo - '0' : lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 : -1;
        if (h < 0 || l < 0)
            return bad(why, whylen, "\"%s\": expected 64 lowercase hex digits", key);
        out[i] = (uint8_t)(h << 4 | l);
    }
    return 0;
}

/* v: the base64 of one hash (canonical, padded), into out. 0 or -1. */
static int get_b64(json_t *v, const char *what, tms_tlog_hash out, char *why, size_t whylen)
{
    const char *s = json_string_value(v);
    if (!s || tms_b64_decode(s, json_string_length(v), out, TMS_TLOG_HASH) != 0)
        return bad(why, whylen, "%s: expected the base64 of a 32-byte hash", what);
    return 0;
}

/* o[key]: a non-negative integer (or null when nullable: *has = 0). 0 or -1. */
static int get_uint(json_t *o, const char *key, int nullable, int *has, uint64_t *out, char *why, size_t whylen)
{
    json_t *v = json_object_get(o, key);
    if (nullable && json_is_null(v)) {
        *has = 0;
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return bad(why, whylen, "\"%s\": expected a non-negative integer%s", key, nullable ? " or null" : "");
    if (has)
        *has = 1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* o[key]: an RFC 3339 time (or null when nullable: 0). 0 or -1. */
static int get_time(json_t *o, const char *key, int nullable, int64_t *out, char *why, size_t whylen)
{
    json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    *out = 0;
    if (nullable && json_is_null(v))
        return 0;
    if (!s || strlen(s) != json_string_length(v) || tool_time_parse(s, out) != 0)
        return bad(why, whylen, "\"%s\": expected an RFC 3339 time%s", key, nullable ? " or null" : "");
    return 0;
}

/* "tmsperm": a version, printable ASCII without spaces. */
static int get_version(json_t *o, char out[32], char *why, size_t whylen)
{
    json_t *v = json_object_get(o, "tmsperm");
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!s || n == 0 || n >= 32)
        return bad(why, whylen, "\"tmsperm\": expected a version");
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return bad(why, whylen, "\"tmsperm\": expected a version");
    memcpy(out, s, n + 1);
    return 0;
}

/* "key" (null or a log's vkey) and "signatures" ("unchecked" or the key's name). */
static int get_key(json_t *o, tool_receipt *r, tms_note_verifier *key, int *have_key, char *why, size_t whylen)
{
    char kwhy[200];
    json_t *k = json_object_get(o, "key");
    const char *sig = json_string_value(json_object_get(o, "signatures"));
    *have_key = 0;
    if (!json_is_null(k)) {
        const char *s = json_string_value(k);
        size_t n = s ? json_string_length(k) : 0;
        if (!s || n >= sizeof r->key || tms_note_verifier_parse(s, n, key, kwhy, sizeof kwhy) != TMS_OK ||
            key->type != TMS_KEY_ED25519)
            return bad(why, whylen, "\"key\": expected null or a log's verifier key");
        memcpy(r->key, s, n + 1);
        *have_key = 1;
    }
    if (!sig || strcmp(sig, *have_key ? key->name : "unchecked"))
        return bad(why, whylen, "\"signatures\": expected %s", *have_key ? "the key's name" : "\"unchecked\"");
    return 0;
}

/* "checkpoint": null, or {"size", "note", "consistency"} consistent with the receipt. */
static int get_checkpoint(json_t *o, tool_receipt *r, const tms_note_verifier *key, char *why, size_t whylen)
{
    char cwhy[300];
    tms_checkpoint cp;
    int has = 0;
    json_t *c = json_object_get(o, "checkpoint");
    if (json_is_null(c))
        return 0;
    json_t *note = json_object_get(c, "note"), *proof = json_object_get(c, "consistency");
    const char *s = json_string_value(note);
    size_t n = s ? json_string_length(note) : 0;
    if (!json_is_object(c))
        return bad(why, whylen, "\"checkpoint\": expected null or an object");
    if (get_uint(c, "size", 0, &has, &r->cp_size, why, whylen))
        return -1;
    if (!s || n > TMS_NOTE_MAX_BYTES || tms_checkpoint_open(s, n, key, &cp, cwhy, sizeof cwhy) != TMS_OK)
        return bad(why, whylen, "\"checkpoint\": its note is not a checkpoint%s: %s", key ? " signed by the key" : "",
                   s ? cwhy : "not a string");
    if (cp.size != r->cp_size || cp.size == 0 || cp.size > r->size)
        return bad(why, whylen, "\"checkpoint\": its size must be its note's, from 1 to \"size\"");
    if (!json_is_null(proof)) {
        if (!json_is_array(proof) || json_array_size(proof) > TMS_TLOG_MAX_PROOF)
            return bad(why, whylen, "\"consistency\": expected null or an array of at most %d hashes",
                       TMS_TLOG_MAX_PROOF);
        r->has_proof = 1;
        r->nproof = json_array_size(proof);
        for (size_t i = 0; i < r->nproof; i++)
            if (get_b64(json_array_get(proof, i), "\"consistency\"", r->proof[i], why, whylen))
                return -1;
        if (!tms_tlog_check_consistency(cp.size, r->size, cp.root, r->root, (const tms_tlog_hash *)r->proof,
                                        r->nproof))
            return bad(why, whylen, "\"consistency\": the proof does not show that \"root\" extends the checkpoint");
    }
    if (!(r->cp_note = malloc(n + 1)))
        return bad(why, whylen, "out of memory");
    memcpy(r->cp_note, s, n + 1);
    r->cp_len = n;
    return 0;
}

/* The members of the object o, checked one by one, then against each other. */
static int parse_object(json_t *o, tool_receipt *r, char *why, size_t whylen)
{
    static const uint8_t zero[32];
    const char *fmt = json_string_value(json_object_get(o, "format"));
    tms_note_verifier key;
    tms_tlog_hash empty;
    int have_key = 0;
    if (!json_is_object(o))
        return bad(why, whylen, "not a JSON object");
    if (fmt && !strcmp(fmt, "tmsperm-verify-receipt/1"))
        return bad(why, whylen, "a receipt of format /1, whose state digest is of another kind (one hash of the "
                   "encoding, not by tenant): run a full verify");
    if (!fmt || strcmp(fmt, TOOL_RECEIPT_FORMAT))
        return bad(why, whylen, "\"format\": expected \"%s\"", TOOL_RECEIPT_FORMAT);
    if (!json_is_string(json_object_get(o, "proves")) ||
        (json_object_get(o, "data") && !json_is_string(json_object_get(o, "data"))))
        return bad(why, whylen, "\"proves\" and \"data\": expected strings");
    if (get_version(o, r->version, why, whylen) || get_time(o, "verified_at", 0, &r->verified_at, why, whylen) ||
        get_uint(o, "size", 0, NULL, &r->size, why, whylen) ||
        get_uint(o, "since", 1, &r->has_since, &r->since, why, whylen) ||
        get_time(o, "time", r->size == 0, &r->time, why, whylen) || get_hex(o, "head", r->head, why, whylen) ||
        get_b64(json_object_get(o, "root"), "\"root\"", r->root, why, whylen) ||
        get_hex(o, "state_digest", r->state, why, whylen) || get_key(o, r, &key, &have_key, why, whylen))
        return -1;
    if ((r->has_proj = !json_is_null(json_object_get(o, "projection_digest")) &&
                       json_object_get(o, "projection_digest") != NULL) &&
        get_hex(o, "projection_digest", r->proj, why, whylen))
        return -1;
    if (r->size > INT64_MAX || (r->has_since && r->since > r->size))
        return bad(why, whylen, "\"since\": expected null or at most \"size\"");
    tms_tlog_empty_root(empty);
    if (r->size == 0 && (r->time || memcmp(r->head, zero, 32) || memcmp(r->root, empty, TMS_TLOG_HASH)))
        return bad(why, whylen, "\"size\" 0: expected no time, a zero head and the empty tree's root");
    return get_checkpoint(o, r, have_key ? &key : NULL, why, whylen);
}

int tool_receipt_parse(const char *buf, size_t len, tool_receipt *out, char *why, size_t whylen)
{
    json_error_t jerr;
    memset(out, 0, sizeof *out);
    if (len > TOOL_RECEIPT_MAX_BYTES)
        return bad(why, whylen, "larger than %u bytes", TOOL_RECEIPT_MAX_BYTES);
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return bad(why, whylen, "not JSON: %s (line %d)", jerr.text, jerr.line);
    int rc = parse_object(o, out, why, whylen);
    json_decref(o);
    if (rc)
        tool_receipt_free(out);
    return rc;
}

void tool_receipt_free(tool_receipt *r)
{
    free(r->cp_note);
    memset(r, 0, sizeof *r);
}

/* ---- writing ------------------------------------------------------------------------------ */

static json_t *hex_of(const uint8_t b[32])
{
    char hex[65];
    return json_string(tool_hex(b, 32, hex));
}

static json_t *b64_of(const tms_tlog_hash h)
{
    char b64[B64_HASH];
    tms_b64_encode(h, TMS_TLOG_HASH, b64);
    return json_string(b64);
}

/* "proves": what the checks behind the receipt were, in words. The caller frees it. */
static char *proves_text(const tool_receipt *r, const char *keyname, const char *datadir)
{
    char head[65], root[B64_HASH], state[65], since[400] = "", sigs[TMS_NOTE_NAME_MAX + 40], *out = NULL;
    tool_hex(r->head, 32, head);
    tool_hex(r->state, 32, state);
    tms_b64_encode(r->root, TMS_TLOG_HASH, root);
    if (r->has_since)
        snprintf(since, sizeof since, " Records 1..%" PRIu64 " were not read again: they are those of the receipt "
                 "of size %" PRIu64 " (its tree root and chain head are the log's there, its state the one "
                 "its state file or a kept snapshot holds with its digest, or one replayed to it).", r->since,
                 r->since);
    snprintf(sigs, sizeof sigs, keyname ? "and signed by %s" : "(their signatures not checked)", keyname);
    if (asprintf(&out, "tms-audit verify (tmsperm %s) found records 1..%" PRIu64 " of the log of %s intact: every "
                 "frame's checksums, the hash chain up to head %s, a replay in memory recomputing every verdict, "
                 "whose state at %" PRIu64 " has the digest %s (BLAKE2b-256 of its snapshot encoding), the "
                 "Merkle tree of the records (RFC 9162) with root %s, the tree file against it, and every kept "
                 "checkpoint's root against it %s; the kept snapshots and the projection against the replay.%s "
                 "\"checkpoint\" is the latest kept checkpoint it checked, exactly as kept; \"consistency\" proves "
                 "that root %s extends it. This receipt is tms-audit's word, not a signature: keep it with the "
                 "checkpoint, whose signature anyone can check with the log's key.",
                 r->version, r->size, datadir, head, r->size, state, root, sigs, since, root) < 0)
        return NULL;
    return out;
}

static json_t *checkpoint_json(const tool_receipt *r)
{
    json_t *c = json_object(), *p = r->has_proof ? json_array() : json_null();
    json_object_set_new(c, "size", json_integer((json_int_t)r->cp_size));
    json_object_set_new(c, "note", json_stringn(r->cp_note, r->cp_len));
    for (size_t i = 0; r->has_proof && i < r->nproof; i++)
        json_array_append_new(p, b64_of(r->proof[i]));
    json_object_set_new(c, "consistency", p);
    return c;
}

json_t *tool_receipt_json(const tool_receipt *r, const char *datadir)
{
    char when[TOOL_TIME_MAX], at[TOOL_TIME_MAX], why[200];
    tms_note_verifier key;
    int have_key = r->key[0] && tms_note_verifier_parse(r->key, strlen(r->key), &key, why, sizeof why) == TMS_OK;
    char *proves = proves_text(r, have_key ? key.name : NULL, datadir);
    json_t *o = json_object();
    if (!proves || !o) {
        free(proves);
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "format", json_string(TOOL_RECEIPT_FORMAT));
    json_object_set_new(o, "proves", json_string(proves));
    json_object_set_new(o, "tmsperm", json_string(r->version));
    json_object_set_new(o, "data", json_string(datadir));
    json_object_set_new(o, "verified_at", json_string(tool_time_format(r->verified_at, at)));
    json_object_set_new(o, "since", r->has_since ? json_integer((json_int_t)r->since) : json_null());
    json_object_set_new(o, "size", json_integer((json_int_t)r->size));
    json_object_set_new(o, "time", r->size ? json_string(tool_time_format(r->time, when)) : json_null());
    json_object_set_new(o, "head", hex_of(r->head));
    json_object_set_new(o, "root", b64_of(r->root));
    json_object_set_new(o, "state_digest", hex_of(r->state));
    json_object_set_new(o, "projection_digest", r->has_proj ? hex_of(r->proj) : json_null());
    json_object_set_new(o, "signatures", json_string(have_key ? key.name : "unchecked"));
    json_object_set_new(o, "key", have_key ? json_string(r->key) : json_null());
    json_object_set_new(o, "checkpoint", r->cp_note ? checkpoint_json(r) : json_null());
    free(proves);
    return o;
}

/* ---- files -------------------------------------------------------------------------------- */

int tool_receipt_read(const char *opt, const char *path, tool_receipt *out)
{
    char why[400], *buf = NULL;
    size_t len;
    memset(out, 0, sizeof *out);
    if (tool_read_small(opt, path, TOOL_RECEIPT_MAX_BYTES, &buf, &len))
        return TOOL_ERROR;
    int rc = tool_receipt_parse(buf, len, out, why, sizeof why);
    free(buf);
    return rc ? tool_fail("%s %s: not a receipt of tms-audit verify: %s", opt, path, why) : 0;
}

int tool_receipt_write(const char *opt, const char *path, const tool_receipt *r, const char *datadir)
{
    char tmp[4200];
    json_t *o = tool_receipt_json(r, datadir);
    char *text = o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(1)) : NULL;
    int fd = -1, rc = -1, e = ENOMEM;
    json_decref(o);
    if (text && (size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) < sizeof tmp && (fd = mkstemp(tmp)) >= 0) {
        rc = fchmod(fd, 0644) || tool_write_all(fd, text, strlen(text)) || tool_write_all(fd, "\n", 1) || fsync(fd) ? -1 : 0;
        e = errno;
        if (close(fd) != 0 && !rc)
            rc = -1, e = errno;
        if (!rc && (rename(tmp, path) != 0 || tool_sync_dir_of(path) != 0))
            rc = -1, e = errno;
        if (rc)
            unlink(tmp);
    } else if (text) {
        e = errno ? errno : ENAMETOOLONG;
    }
    free(text);
    return rc ? tool_fail("%s %s: cannot write the receipt: %s", opt, path, strerror(e)) : 0;
}
