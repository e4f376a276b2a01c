/* fuzz_snapshot_file.c -- libFuzzer target: any bytes as a snapshot file
 * (snapshots.h, version 5: header, payload, parts table), what a damaged or
 * forged FILE.state of a receipt would hold. Read by its parts
 * (tms_snapshot_read_file_parts, for a few tenants) and whole
 * (tms_snapshot_read_file): each answers TMS_OK or TMS_E_CORRUPT (NOMEM
 * allowed), never crashes, over-reads or leaks; read by parts, the table's
 * parts lie end to end within the payload and give the header's digest, and
 * every part read is what the whole file holds there when it also reads
 * whole. Seeds: any snapshot files (DIR/snapshots/N.snap, a receipt's
 * FILE.state). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "snapshots.h"

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[] = {"a", "acme", "b", "beta"};
    char why[600];
    uint8_t *parts = NULL, *whole = NULL;
    size_t plen = 0, wlen = 0;
    tms_snapshot_meta m, wm;
    tms_snapshot_index ix;
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/fuzz-snapshot-file.%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f))
        abort();
    tms_err perr = tms_snapshot_read_file_parts(path, names, 4, &m, &parts, &plen, &ix, why, sizeof why);
    if (perr != TMS_OK && perr != TMS_E_CORRUPT && perr != TMS_E_NOMEM)
        abort();
    if (perr != TMS_OK && (parts || ix.tenants))
        abort();
    tms_err werr = tms_snapshot_read_file(path, &wm, &whole, &wlen, why, sizeof why);
    if (werr != TMS_OK && werr != TMS_E_CORRUPT && werr != TMS_E_NOMEM)
        abort();
    if (perr == TMS_OK) {
        uint8_t digest[TMS_SNAPSHOT_DIGEST_LEN];
        size_t at = ix.ntenants ? ix.tenants[0].off : ix.trailer_off;
        if (ix.global_len == 0 || ix.global_len > at || at > plen || ix.trailer_off > plen)
            abort();
        for (size_t i = 0; i < ix.ntenants; i++, at += ix.tenants[i - 1].len)
            if (ix.tenants[i].off != at || ix.tenants[i].len > plen - at)
                abort();
        tms_snapshot_index_digest(&ix, digest);
        if (at != ix.trailer_off || memcmp(digest, m.digest, sizeof digest))
            abort();
        if (werr == TMS_OK) {   /* what was read by parts is the whole file's there */
            if (wlen != plen || memcmp(parts, whole, ix.global_len))
                abort();
            for (size_t i = 0; i < ix.ntenants; i++)
                for (size_t k = 0; k < 4; k++)
                    if (!strcmp(ix.tenants[i].tenant, names[k]) &&
                        memcmp(parts + ix.tenants[i].off, whole + ix.tenants[i].off, ix.tenants[i].len))
                        abort();
        }
        tms_snapshot_index_free(&ix);
    }
    free(parts);
    free(whole);
    return 0;
}
