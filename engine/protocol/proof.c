/* proof.c -- inclusion and consistency proofs as SPEC section 11's JSON
 * (proof.h): made from the tree and the log, parsed strictly. */
#include "proof.h"
#include "history.h"
#include "log.h"
#include "note.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEAF TMS_LOG_MAX_PAYLOAD

tms_err tms_query_payload(tms_txn *tx, const char *logdir, uint64_t seq, uint8_t **payload, size_t *len)
{
    uint64_t seg, off;
    tms_log_iter *it;
    tms_log_record lr;
    int has = 0;
    *payload = NULL;
    if (tx && tms_history_locator(tx, seq, &seg, &off) == TMS_OK &&
        tms_log_read_frame(logdir, seg, off, seq, payload, len) == TMS_OK)
        return TMS_OK;
    tms_err err = tms_log_iter_open(logdir, seq, &it, NULL);   /* no locator, or a wrong one: from the start */
    if (err)
        return err;
    while (!(err = tms_log_iter_next(it, &lr, &has)) && has && lr.seq < seq)
        ;
    if (!err && (!has || lr.seq != seq))
        err = TMS_NOT_FOUND;
    if (!err && !(*payload = malloc(lr.len)))
        err = TMS_E_NOMEM;
    if (!err) {
        memcpy(*payload, lr.payload, lr.len);
        *len = lr.len;
    }
    tms_log_iter_close(it);
    return err;
}

static json_t *b64_json(const uint8_t *bytes, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    if (!s)
        return NULL;
    tms_b64_encode(bytes, n, s);
    json_t *j = json_stringn(s, cap - 1);
    free(s);
    return j;
}

static json_t *hashes_json(const tms_tlog_hash *proof, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, b64_json(proof[i], TMS_TLOG_HASH))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* What a proof may cover: the records both the tree and the log hold. */
static uint64_t provable(tms_tree *t, uint64_t records)
{
    uint64_t have = tms_tree_size(t);
    return have < records ? have : records;
}

tms_err tms_proof_inclusion(tms_tree *t, tms_txn *tx, const char *logdir, uint64_t records, uint64_t seq,
                            uint64_t size, json_t **out, char *why, size_t whylen)
{
    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF];
    size_t n, len;
    uint8_t *payload = NULL;
    uint64_t have = provable(t, records);
    *out = NULL;
    if (seq < 1 || seq > size || size > have) {
        snprintf(why, whylen, "need 1 <= seq (%llu) <= size (%llu) <= %llu (the records the tree and the log hold)",
                 (unsigned long long)seq, (unsigned long long)size, (unsigned long long)have);
        return TMS_E_INVAL;
    }
    tms_err err = tms_tree_prove_inclusion(t, size, seq - 1, proof, &n);
    if (!err)
        err = tms_query_payload(tx, logdir, seq, &payload, &len);
    uint64_t base = 0;
    uint8_t head[TMS_LOG_HASH_LEN];
    if (err == TMS_NOT_FOUND && tms_log_base(logdir, &base, head, why, whylen) == TMS_OK && seq <= base) {
        snprintf(why, whylen, "cannot prove seq %llu: its record is not in this data directory, seeded from a "
                 "snapshot of seq %llu (ask a node that holds the whole log)", (unsigned long long)seq,
                 (unsigned long long)base);
        return err;
    }
    if (err) {
        snprintf(why, whylen, "cannot prove seq %llu: %s", (unsigned long long)seq, tms_strerror(err));
        return err;
    }
    *out = json_pack("{s:I,s:I,s:o,s:o}", "seq", (json_int_t)seq, "size", (json_int_t)size, "leaf",
                     b64_json(payload, len), "proof", hashes_json(proof, n));
    free(payload);
    return *out ? TMS_OK : TMS_E_NOMEM;
}

tms_err tms_proof_consistency(tms_tree *t, uint64_t records, uint64_t from, uint64_t to, json_t **out, char *why,
                              size_t whylen)
{
    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF];
    size_t n;
    uint64_t have = provable(t, records);
    *out = NULL;
    if (from < 1 || from > to || to > have) {
        snprintf(why, whylen, "need 1 <= from (%llu) <= to (%llu) <= %llu (the records the tree and the log hold)",
                 (unsigned long long)from, (unsigned long long)to, (unsigned long long)have);
        return TMS_E_INVAL;
    }
    tms_err err = tms_tree_prove_consistency(t, from, to, proof, &n);
    if (err) {
        snprintf(why, whylen, "cannot prove %llu..%llu: %s", (unsigned long long)from, (unsigned long long)to,
                 tms_strerror(err));
        return err;
    }
    *out = json_pack("{s:I,s:I,s:o}", "from", (json_int_t)from, "to", (json_int_t)to, "proof", hashes_json(proof, n));
    return *out ? TMS_OK : TMS_E_NOMEM;
}

/* ---- parsing --------------------------------------------------------------------------- */

static tms_err bad(char *why, size_t whylen, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
    return TMS_E_INVAL;
}

/* A JSON integer >= 1 (exactly: no float, no sign). */
static int positive(json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static tms_err parse_hashes(json_t *a, tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *n, char *why, size_t whylen)
{
    if (!json_is_array(a) || json_array_size(a) > TMS_TLOG_MAX_PROOF)
        return bad(why, whylen, "\"proof\" is not an array of at most 64 hashes");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *h = json_array_get(a, i);
        if (!json_is_string(h) || tms_b64_decode(json_string_value(h), json_string_length(h), proof[i], 32) != 0)
            return bad(why, whylen, "a proof hash is not base64 of 32 bytes");
    }
    *n = json_array_size(a);
    return TMS_OK;
}

/* The JSON object in text with exactly `keys` (n of them). */
static json_t *load_object(const char *text, size_t len, const char *const *keys, size_t n, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o || !json_is_object(o) || json_object_size(o) != n) {
        snprintf(why, whylen, "not a proof: %s", o ? "expected exactly the keys of a proof" : jerr.text);
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(o, keys[i])) {
            snprintf(why, whylen, "not a proof: no \"%s\"", keys[i]);
            json_decref(o);
            return NULL;
        }
    return o;
}

tms_err tms_proof_inclusion_parse(const char *text, size_t len, uint64_t *seq, uint64_t *size, uint8_t **leaf,
                                  size_t *leaflen, tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *n, char *why,
                                  size_t whylen)
{
    static const char *const keys[] = {"seq", "size", "leaf", "proof"};
    size_t got = 0;
    const char *end = NULL;
    tms_err err = TMS_E_INVAL;
    json_t *o = load_object(text, len, keys, 4, why, whylen);
    *leaf = NULL;
    if (!o)
        return TMS_E_INVAL;
    json_t *l = json_object_get(o, "leaf");
    if (positive(json_object_get(o, "seq"), seq) || positive(json_object_get(o, "size"), size) || *seq > *size)
        err = bad(why, whylen, "\"seq\" and \"size\" must be integers with 1 <= seq <= size");
    else if (!json_is_string(l) || json_string_length(l) == 0 || json_string_length(l) > MAX_LEAF / 3 * 4 + 4 ||
             json_string_length(l) % 4 || !tms_b64_chars_ok(json_string_value(l), json_string_length(l)))
        err = bad(why, whylen, "\"leaf\" is not base64 of a record");
    else if (!(*leaf = malloc(json_string_length(l))))
        err = TMS_E_NOMEM;
    else if (sodium_base642bin(*leaf, json_string_length(l), json_string_value(l), json_string_length(l), NULL, &got,
                               &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
             end != json_string_value(l) + json_string_length(l) || got == 0)
        err = bad(why, whylen, "\"leaf\" is not base64 of a record");
    else
        err = parse_hashes(json_object_get(o, "proof"), proof, n, why, whylen);
    *leaflen = got;
    if (err) {
        free(*leaf);
        *leaf = NULL;
    }
    json_decref(o);
    return err;
}

tms_err tms_proof_consistency_parse(const char *text, size_t len, uint64_t *from, uint64_t *to,
                                    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF], size_t *n, char *why, size_t whylen)
{
    static const char *const keys[] = {"from", "to", "proof"};
    tms_err err;
    json_t *o = load_object(text, len, keys, 3, why, whylen);
    if (!o)
        return TMS_E_INVAL;
    if (positive(json_object_get(o, "from"), from) || positive(json_object_get(o, "to"), to) || *from > *to)
        err = bad(why, whylen, "\"from\" and \"to\" must be integers with 1 <= from <= to");
    else
        err = parse_hashes(json_object_get(o, "proof"), proof, n, why, whylen);
    json_decref(o);
    return err;
}
