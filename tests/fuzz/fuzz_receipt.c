/* fuzz_receipt.c -- libFuzzer target: the receipt of a verify as
 * `tms-audit verify --since FILE` reads it from a file anyone may have
 * written (tools/tool_receipt.h: tool_receipt_parse).
 *
 * Input: the file's bytes. A refusal gives a reason. An accepted receipt is
 * in range (since <= size; a checkpoint of size 1..size with at most 64
 * proof hashes, its note of its stated length), and what `--receipt` would
 * write for it (tool_receipt_json, dumped) parses back to exactly the same
 * receipt. Any violation aborts; ASan/UBSan catch the rest. */
#define FUZZ_NAME "fuzz_receipt.c"
#include "fuzz_trust.h"
#include "tool_receipt.h"

/* Every field --since uses, compared. */
static int same(const tool_receipt *a, const tool_receipt *b)
{
    return a->size == b->size && a->time == b->time && !memcmp(a->head, b->head, 32) &&
           !memcmp(a->root, b->root, TMS_TLOG_HASH) && !memcmp(a->state, b->state, 32) &&
           !strcmp(a->version, b->version) && a->verified_at == b->verified_at && a->has_since == b->has_since &&
           a->since == b->since && !strcmp(a->key, b->key) && a->cp_size == b->cp_size && a->cp_len == b->cp_len &&
           (!a->cp_note) == (!b->cp_note) && (!a->cp_note || !memcmp(a->cp_note, b->cp_note, a->cp_len)) &&
           a->has_proof == b->has_proof && a->nproof == b->nproof &&
           !memcmp(a->proof, b->proof, a->nproof * TMS_TLOG_HASH);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[400] = "", *text;
    tool_receipt r, again;
    if (tool_receipt_parse((const char *)data, size, &r, why, sizeof why) != 0) {
        CHECK(why[0] != '\0');
        return 0;
    }
    CHECK(!r.has_since || r.since <= r.size);
    CHECK(!r.cp_note || (r.cp_size >= 1 && r.cp_size <= r.size && strlen(r.cp_note) == r.cp_len));
    CHECK(r.nproof <= TMS_TLOG_MAX_PROOF && (r.has_proof || r.nproof == 0));
    json_t *o = tool_receipt_json(&r, "/fuzz/data");
    CHECK(o && (text = json_dumps(o, JSON_PRESERVE_ORDER)) != NULL);
    CHECK(tool_receipt_parse(text, strlen(text), &again, why, sizeof why) == 0);
    CHECK(same(&r, &again));
    free(text);
    json_decref(o);
    tool_receipt_free(&again);
    tool_receipt_free(&r);
    return 0;
}
