/* fuzz_proof_json.c -- libFuzzer target: the proofs' JSON read back
 * (engine/protocol/proof.h: tms_proof_inclusion_parse and
 * tms_proof_consistency_parse), what tms-audit verify-proof reads from its
 * --inclusion / --consistency files: untrusted.
 *
 * Input: the JSON text, given to both parsers (in a block of exactly its
 * length: ASan sees any over-read; the hashes into a block of exactly
 * TMS_TLOG_MAX_PROOF).
 *
 * A reference reads the same text apart (jansson for the grammar, with
 * duplicate keys refused; the rest here: exactly the keys, integers >= 1,
 * 1 <= seq <= size (1 <= from <= to), "leaf" the one padded RFC 4648
 * encoding of at least one byte, at most TMS_TLOG_MAX_PROOF strings that are
 * each the encoding of 32 bytes) and the parsers must agree with it, both
 * ways. On TMS_OK: 1 <= seq <= size, n <= TMS_TLOG_MAX_PROOF, leaflen > 0,
 * the leaf exactly what base64-decoding "leaf" gives and the hashes what
 * decoding each string gives; the values written again as the canonical
 * {"seq":..,"size":..,"leaf":..,"proof":[..]} (or {"from":..,"to":..,
 * "proof":[..]}) parse again to the same values. On an error: TMS_E_INVAL
 * and no leaf (*leaf NULL; LeakSanitizer sees a leaf not freed on either
 * path). Any violation aborts. */
#define FUZZ_NAME "fuzz_proof_json.c"
#include <jansson.h>
#include "fuzz_trust.h"
#include "proof.h"

#define MAX_LEAF_B64 ((4u << 20) / 3 * 4 + 4)   /* proof.h: a leaf of at most 4 MiB */

typedef struct ref_proof {
    uint64_t a, b;   /* seq, size (from, to) */
    uint8_t *leaf;
    size_t leaflen;
    tms_tlog_hash proof[TMS_TLOG_MAX_PROOF];
    size_t n;
} ref_proof;

/* A JSON integer >= 1. */
static int ref_positive(json_t *v, uint64_t *out)
{
    if (!v || !json_is_integer(v) || json_integer_value(v) < 1)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int ref_hashes(json_t *a, ref_proof *r)
{
    if (!a || !json_is_array(a) || json_array_size(a) > TMS_TLOG_MAX_PROOF)
        return 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *h = json_array_get(a, i);
        if (!json_is_string(h) || ref_b64_decode(json_string_value(h), json_string_length(h), r->proof[i], 32) != 32)
            return 0;
    }
    r->n = json_array_size(a);
    return 1;
}

/* 1 when text is a proof of the kind whose keys are k1, k2 (and "leaf" when incl), "proof"; r its values. */
static int ref_parse(const char *text, size_t len, int incl, ref_proof *r)
{
    json_error_t jerr;
    int ok = 0;
    memset(r, 0, sizeof *r);
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return 0;
    const char *k1 = incl ? "seq" : "from", *k2 = incl ? "size" : "to";
    if (json_is_object(o) && json_object_size(o) == (incl ? 4u : 3u) && ref_positive(json_object_get(o, k1), &r->a) &&
        ref_positive(json_object_get(o, k2), &r->b) && r->a <= r->b && ref_hashes(json_object_get(o, "proof"), r)) {
        ok = 1;
        if (incl) {
            json_t *l = json_object_get(o, "leaf");
            ok = 0;
            if (l && json_is_string(l) && json_string_length(l) <= MAX_LEAF_B64) {
                size_t sl = json_string_length(l);
                r->leaf = malloc(sl ? sl : 1);
                CHECK(r->leaf);
                long got = ref_b64_decode(json_string_value(l), sl, r->leaf, sl);
                if (got > 0) {
                    r->leaflen = (size_t)got;
                    ok = 1;
                } else {
                    free(r->leaf);
                    r->leaf = NULL;
                }
            }
        }
    }
    json_decref(o);
    return ok;
}

/* The canonical text of the values, malloc'd. */
static char *canonical(int incl, uint64_t a, uint64_t b, const uint8_t *leaf, size_t leaflen,
                       const tms_tlog_hash *proof, size_t n)
{
    char *l = incl ? ref_b64_encode(leaf, leaflen) : NULL;
    size_t cap = 100 + (l ? strlen(l) : 0) + n * 48, at = 0;
    char *out = malloc(cap);
    CHECK(out);
    if (incl)
        at += (size_t)snprintf(out, cap, "{\"seq\":%" PRIu64 ",\"size\":%" PRIu64 ",\"leaf\":\"%s\",\"proof\":[", a,
                               b, l);
    else
        at += (size_t)snprintf(out, cap, "{\"from\":%" PRIu64 ",\"to\":%" PRIu64 ",\"proof\":[", a, b);
    for (size_t i = 0; i < n; i++) {
        char *h = ref_b64_encode(proof[i], 32);
        at += (size_t)snprintf(out + at, cap - at, "%s\"%s\"", i ? "," : "", h);
        free(h);
    }
    at += (size_t)snprintf(out + at, cap - at, "]}");
    CHECK(at < cap);
    free(l);
    return out;
}

/* Both parsers' outputs, in blocks of their exact sizes. */
typedef struct got_proof {
    uint64_t a, b;
    uint8_t *leaf;
    size_t leaflen, n;
    tms_tlog_hash *proof;
} got_proof;

static tms_err parse(int incl, const char *text, size_t len, got_proof *g)
{
    char why[300];
    char *copy = malloc(len ? len : 1);
    CHECK(copy);
    memcpy(copy, text, len);
    memset(g, 0, sizeof *g);
    g->proof = malloc(TMS_TLOG_MAX_PROOF * sizeof *g->proof);
    CHECK(g->proof);
    why[0] = '\0';
    g->leaf = (uint8_t *)why;   /* not NULL: the parser must say */
    tms_err err = incl ? tms_proof_inclusion_parse(copy, len, &g->a, &g->b, &g->leaf, &g->leaflen, g->proof, &g->n,
                                                   why, sizeof why)
                       : tms_proof_consistency_parse(copy, len, &g->a, &g->b, g->proof, &g->n, why, sizeof why);
    if (!incl)
        g->leaf = NULL;
    free(copy);
    if (err) {
        CHECK(err == TMS_E_INVAL);
        CHECK(g->leaf == NULL);
        CHECK(memchr(why, '\0', sizeof why) && why[0]);   /* a reason, NUL-terminated */
    }
    return err;
}

static void got_free(got_proof *g)
{
    free(g->leaf);
    free(g->proof);
}

static void check_kind(int incl, const char *text, size_t len)
{
    ref_proof *r = malloc(sizeof *r);
    got_proof g, g2;
    CHECK(r);
    int ok = ref_parse(text, len, incl, r);
    tms_err err = parse(incl, text, len, &g);
    CHECK((err == TMS_OK) == ok);   /* the reference and the parser agree, both ways */
    if (err == TMS_OK) {
        CHECK(g.a >= 1 && g.a <= g.b && g.n <= TMS_TLOG_MAX_PROOF);
        CHECK(g.a == r->a && g.b == r->b && g.n == r->n && !memcmp(g.proof, r->proof, g.n * sizeof *g.proof));
        if (incl)
            CHECK(g.leaf && g.leaflen > 0 && g.leaflen == r->leaflen && !memcmp(g.leaf, r->leaf, g.leaflen));
        char *again = canonical(incl, g.a, g.b, g.leaf, g.leaflen, (const tms_tlog_hash *)g.proof, g.n);
        CHECK(parse(incl, again, strlen(again), &g2) == TMS_OK);
        CHECK(g2.a == g.a && g2.b == g.b && g2.n == g.n && !memcmp(g2.proof, g.proof, g.n * sizeof *g.proof));
        CHECK(g2.leaflen == g.leaflen && (!incl || !memcmp(g2.leaf, g.leaf, g.leaflen)));
        got_free(&g2);
        CHECK(parse(!incl, again, strlen(again), &g2) == TMS_E_INVAL);   /* not the other kind */
        got_free(&g2);
        free(again);
    }
    got_free(&g);
    free(r->leaf);
    free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        CHECK(sodium_init() >= 0);
        ready = 1;
    }
    check_kind(1, (const char *)data, size);
    check_kind(0, (const char *)data, size);
    return 0;
}
