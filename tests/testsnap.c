/* testsnap.c -- what test_snapshot.c and test_snapshot_hostile.c share
 * (testsnap.h): encoding a state both ways, the decode two takers share,
 * one JSON command applied as replay applies it, fuzz seeds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "testsnap.h"
#include "testutil.h"

static int seeds_written;

void ts_write_seed(const char *name, const void *buf, size_t len)
{
    char path[4200];
    const char *seed_dir = getenv("TMS_SNAPSHOT_SEEDS");
    if (!seed_dir || len > 65536)   /* scripts/fuzz runs with -max_len=65536 */
        return;
    snprintf(path, sizeof path, "%s/%s-%d", seed_dir, name, seeds_written++);
    assert_int_equal(tu_write_file(path, buf, len), 0);
}

/* tms_state_snapshot_encode_to's writer: the pieces appended to sb, and a failure once more than fail_after
 * bytes came (SIZE_MAX: never). */
typedef struct pieces {
    msgpack_sbuffer sb;
    size_t fail_after, calls;
} pieces;

static int take_piece(void *data, const char *buf, size_t len)
{
    pieces *p = data;
    p->calls++;
    if (p->sb.size + len > p->fail_after)
        return -1;
    return msgpack_sbuffer_write(&p->sb, buf, len);
}

/* Every encoding here is also made piece by piece (tms_state_snapshot_encode_to, what tms-audit verify compares
 * with a kept snapshot as it comes): the same bytes; and a writer that fails half way makes it TMS_E_NOMEM. */
void ts_encode(const tms_state *st, msgpack_sbuffer *sb)
{
    pieces p = {.fail_after = SIZE_MAX};
    assert_int_equal(tms_state_snapshot_encode(st, sb), TMS_OK);
    assert_true(sb->size > 0);
    msgpack_sbuffer_init(&p.sb);
    assert_int_equal(tms_state_snapshot_encode_to(st, take_piece, &p), TMS_OK);
    assert_true(p.sb.size == sb->size && !memcmp(p.sb.data, sb->data, sb->size));
    assert_true(p.calls > 1);
    msgpack_sbuffer_clear(&p.sb);
    p.fail_after = sb->size / 2;
    assert_int_equal(tms_state_snapshot_encode_to(st, take_piece, &p), TMS_E_NOMEM);
    msgpack_sbuffer_destroy(&p.sb);
}

/* The decode shared by two takers (snapshot.h), interleaved on this thread
 * by pattern: 0 the first takes every tenant, 1 the second does (the first
 * only the part before the tenants), 2 they alternate a tenant at a time,
 * the second first, 3 each takes one and stops (the end takes the rest).
 * TMS_E_CORRUPT also when the index refuses the bytes. */
tms_err ts_split_decode(const void *buf, size_t len, int pattern, tms_state **out, char *why, size_t whylen)
{
    tms_snapshot_index ix;
    tms_snapshot_decoding *dg;
    *out = NULL;
    tms_err err = tms_state_snapshot_index(buf, len, &ix, why, whylen);
    if (err)
        return err;
    if ((err = tms_snapshot_decoding_new(buf, len, &ix, &dg))) {
        tms_snapshot_index_free(&ix);
        return err;
    }
    if (pattern == 0) {
        tms_snapshot_decoding_run(dg, 0);
        tms_snapshot_decoding_run(dg, 1);
    } else if (pattern == 1) {
        tms_snapshot_decoding_run(dg, 1);
        tms_snapshot_decoding_run(dg, 0);
    } else if (pattern == 2) {
        for (size_t i = 0; i <= ix.ntenants; i++) {
            tms__snapshot_decoding_run_some(dg, 1, 1);
            tms__snapshot_decoding_run_some(dg, 0, 1);
        }
    } else {
        tms__snapshot_decoding_run_some(dg, 0, 1);
        tms__snapshot_decoding_run_some(dg, 1, 1);
    }
    err = tms_snapshot_decoding_end(dg, out, why, whylen);
    tms_snapshot_index_free(&ix);
    return err;
}

/* One JSON command applied as replay applies it (seq given); the verdict. */
tms_err ts_apply_json(tms_state *st, const char *json, uint64_t seq, tms_verdict *v)
{
    tms_record rec;
    char why[512];
    memset(&rec, 0, sizeof rec);
    tms_cmd_init(&rec.cmd);
    if (tms_cmd_from_json(&rec.cmd, json, strlen(json), why, sizeof why) != TMS_OK)
        return TMS_INVALID_COMMAND;   /* refused at the edge: never a record */
    rec.seq = seq;
    assert_int_equal(tms_apply_record(st, &rec, v), TMS_OK);
    tms_state_commit(st);
    tms_cmd_free(&rec.cmd);
    return v->code;
}

/* A small real state's snapshot. */
void ts_small_snapshot(msgpack_sbuffer *sb, const char *args, size_t records)
{
    ts_lines l = ts_generate(args);
    tms_state *st = tms_state_new();
    tms_verdict v;
    for (size_t i = 0; i < l.n && i < records; i++)
        ts_apply_json(st, l.v[i], i + 1, &v);
    ts_encode(st, sb);
    tms_state_free(st);
    ts_lines_free(&l);
}
