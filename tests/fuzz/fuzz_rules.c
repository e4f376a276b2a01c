/* fuzz_rules.c -- libFuzzer target: the rules and the undo log. The input is
 * JSON Lines of commands (the seed corpus: the conformance scenarios); every
 * valid one is applied to an in-memory state as a record. After each, the
 * state is rolled back to before it and applied again: the projection
 * digest must equal the first application's (a rejected command must leave
 * the digest as it was). Never a crash, an over-read or a leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "replay.h"

static void digest(const tms_state *st, uint8_t out[32])
{
    if (tms_state_projection_digest(st, 0, NULL, out) != TMS_OK)
        abort();
}

static void apply_twice(tms_state *st, tms_record *rec)
{
    uint8_t before[32], first[32], back[32], again[32];
    tms_verdict v1, v2;
    digest(st, before);
    tms_state_mark m = tms_state_mark_get(st);
    if (tms_apply_record(st, rec, &v1) != TMS_OK)
        abort();
    digest(st, first);
    if (v1.code != TMS_OK && memcmp(before, first, 32))
        abort();   /* a rejection changed the state */
    tms_state_rollback(st, m);
    digest(st, back);
    if (memcmp(before, back, 32))
        abort();   /* the undo log did not restore it */
    if (tms_apply_record(st, rec, &v2) != TMS_OK || v1.code != v2.code)
        abort();
    digest(st, again);
    if (memcmp(first, again, 32))
        abort();
    tms_state_commit(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tms_state *st = tms_state_new();
    const char *p = (const char *)data, *end = p + size;
    char why[256];
    uint64_t seq = 0;
    if (!st)
        return 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        tms_record rec = {0};
        tms_cmd_init(&rec.cmd);
        if (tms_cmd_from_json(&rec.cmd, p, len, why, sizeof why) == TMS_OK) {
            rec.seq = ++seq;
            apply_twice(st, &rec);
        }
        tms_cmd_free(&rec.cmd);
        p += len + (nl != NULL);
    }
    tms_state_free(st);
    return 0;
}
