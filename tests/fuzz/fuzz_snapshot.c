/* fuzz_snapshot.c -- libFuzzer target: any bytes as a state snapshot
 * (snapshot.h), what a damaged or forged snapshot file would hold. The
 * decode answers TMS_OK or TMS_E_CORRUPT (TMS_E_NOMEM allowed), never
 * crashes, over-reads or leaks; and a decode that succeeds gives a state
 * that re-encodes to exactly the input (a snapshot's bytes are its state's
 * digest). The walk that finds an encoding's parts for the state digest
 * (tms_state_snapshot_index) reads the same bytes: it answers TMS_OK or
 * TMS_E_CORRUPT (or NOMEM), its parts within the input and laid end to end,
 * and it accepts every input the decoder accepts; the parts decoded alone
 * (tms_state_snapshot_decode_parts, every tenant) answer as the decode does;
 * the decode shared by two takers (tms_snapshot_decoding, interleaved here
 * one tenant at a time, by a pattern from the input's length) accepts and
 * refuses exactly what the whole decode does, and the same state; the
 * tenants decoded on their own onto the part before them (a writer's open:
 * tms_snapshot_taker, two takers interleaved, joined) likewise, and the
 * state they make, composed with none or all of its tenants from the input
 * (tms_state_snapshot_compose), is the input byte for byte. Seeds:
 * TMS_SNAPSHOT_SEEDS=DIR tests/test_snapshot and test_snapshot_hostile write them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "snapshot.h"

/* The tenants of data (ix its walk, hashed) taken by two takers onto the part before them: the state, or
 * NULL (*err) when a part is refused. */
static tms_state *taken(const uint8_t *data, size_t size, const tms_snapshot_index *ix, tms_err *err)
{
    char why[256];
    tms_state *st = NULL, *part[2] = {NULL, NULL};
    tms_snapshot_taker *k[2] = {tms_snapshot_taker_new(data, size), tms_snapshot_taker_new(data, size)};
    *err = k[0] && k[1] ? tms_state_snapshot_decode_parts(data, size, ix, NULL, 0, &st, why, sizeof why)
                        : TMS_E_NOMEM;
    for (size_t i = 0; !*err && i < ix->ntenants; i++)
        *err = tms_snapshot_taker_part(k[(size >> (i & 7)) & 1], &ix->tenants[i], why, sizeof why);
    for (int who = 0; who < 2; who++) {
        tms_snapshot_taker *t = k[who];
        tms_err e = t ? tms_snapshot_taker_end(t, &part[who], why, sizeof why) : TMS_E_NOMEM;   /* (t freed) */
        if (!*err && !(*err = e) && (*err = tms_state_join_tenants(st, part[who], why, sizeof why)) == TMS_OK)
            part[who] = NULL;
        tms_state_free(part[who]);
    }
    if (*err) {
        tms_state_free(st);
        st = NULL;
    }
    return st;
}

/* st composed from data with none and with all of its tenants named is data: 0, else abort. */
static int composed_is_input(const uint8_t *data, size_t size, const tms_snapshot_index *ix, const tms_state *st)
{
    const char **names = malloc((ix->ntenants + 1) * sizeof *names);
    uint8_t d[TMS_SNAPSHOT_DIGEST_LEN], want[TMS_SNAPSHOT_DIGEST_LEN];
    if (!names || tms_state_snapshot_digest(data, size, want) != TMS_OK)
        abort();
    for (size_t i = 0; i < ix->ntenants; i++)
        names[i] = ix->tenants[i].tenant;
    for (size_t n = 0; n <= ix->ntenants; n += ix->ntenants ? ix->ntenants : 1) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        if (tms_state_snapshot_compose(data, ix, st, names, n, d, &sb) != TMS_OK || sb.size != size ||
            memcmp(sb.data, data, size) || memcmp(d, want, sizeof d))
            abort();
        msgpack_sbuffer_destroy(&sb);
    }
    free(names);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tms_state *st, *shared = NULL;
    char why[256];
    tms_snapshot_index ix;
    tms_snapshot_decoding *dg;
    tms_err serr = TMS_E_CORRUPT;   /* the shared decode's answer: CORRUPT when the walk refuses */
    tms_err lerr = TMS_E_CORRUPT;   /* the tenants taken on their own: likewise */
    tms_state *lazy = NULL;
    tms_err ierr = tms_state_snapshot_index(data, size, &ix, why, sizeof why);
    if (ierr != TMS_OK && ierr != TMS_E_CORRUPT && ierr != TMS_E_NOMEM)
        abort();
    if (ierr == TMS_OK) {
        size_t at = ix.ntenants ? ix.tenants[0].off : ix.trailer_off;
        if (ix.global_len > at || at > size || ix.trailer_off > size)
            abort();
        for (size_t i = 0; i < ix.ntenants; i++, at += ix.tenants[i - 1].len)
            if (ix.tenants[i].off != at || ix.tenants[i].len > size - at)
                abort();
        if (at != ix.trailer_off)
            abort();
        /* the parts decoded alone: every tenant (and the part before): OK, CORRUPT or NOMEM, never more */
        const char **names = malloc((ix.ntenants + 1) * sizeof *names);
        tms_state *part = NULL;
        for (size_t i = 0; names && i < ix.ntenants; i++)
            names[i] = ix.tenants[i].tenant;
        tms_err perr = names ? tms_state_snapshot_decode_parts(data, size, &ix, names, ix.ntenants, &part, why,
                                                               sizeof why) : TMS_E_NOMEM;
        if ((perr != TMS_OK && perr != TMS_E_CORRUPT && perr != TMS_E_NOMEM) || (perr != TMS_OK && part))
            abort();
        tms_state_free(part);
        free(names);
        if ((serr = tms_snapshot_decoding_new(data, size, &ix, &dg)) == TMS_OK) {
            for (size_t i = 0; i <= ix.ntenants; i++) {
                tms__snapshot_decoding_run_some(dg, (int)((size + i) & 1), 1);
                tms__snapshot_decoding_run_some(dg, (int)((size + i + 1) & 1), size & 2 ? 1 : SIZE_MAX);
            }
            serr = tms_snapshot_decoding_end(dg, &shared, why, sizeof why);
        }
        tms_snapshot_index_hash(data, &ix);
        if ((lazy = taken(data, size, &ix, &lerr)))
            composed_is_input(data, size, &ix, lazy);
        tms_snapshot_index_free(&ix);
    }
    tms_err err = tms_state_snapshot_decode(data, size, &st, why, sizeof why);
    if (err == TMS_OK && ierr == TMS_E_CORRUPT)
        abort();   /* the walk refuses what the decoder takes */
    if (err != TMS_E_NOMEM && serr != TMS_E_NOMEM && (err == TMS_OK) != (serr == TMS_OK))
        abort();   /* the shared decode and the whole one disagree */
    if (err != TMS_E_NOMEM && lerr != TMS_E_NOMEM && (err == TMS_OK) != (lerr == TMS_OK))
        abort();   /* the tenants taken on their own and the whole decode disagree */
    if (lazy) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        if (tms_state_snapshot_encode(lazy, &sb) != TMS_OK || sb.size != size || memcmp(sb.data, data, size))
            abort();   /* their state is not the input's */
        msgpack_sbuffer_destroy(&sb);
        tms_state_free(lazy);
    }
    if (serr == TMS_OK) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        if (tms_state_snapshot_encode(shared, &sb) != TMS_OK || sb.size != size || memcmp(sb.data, data, size))
            abort();   /* the shared decode's state is not the input's */
        msgpack_sbuffer_destroy(&sb);
        tms_state_free(shared);
    }
    if (err != TMS_OK) {
        if ((err != TMS_E_CORRUPT && err != TMS_E_NOMEM) || st || !why[0])
            abort();
        return 0;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (tms_state_snapshot_encode(st, &sb) != TMS_OK || sb.size != size || memcmp(sb.data, data, size))
        abort();   /* invariant failed: a decoded snapshot re-encodes to itself */
    msgpack_sbuffer_destroy(&sb);
    tms_state_free(st);
    return 0;
}
