/* fuzz_base.c -- libFuzzer target: any bytes as the log directory of a
 * data directory seeded from a snapshot (log.h, "base"): the first 52 bytes
 * (or fewer) are DIR/base, the rest the first segment file, named after the
 * seq the base says (+1; 1 when it says nothing readable). Read by the
 * checking iterator from the log's first seq, inline and with the chain on a
 * second thread, and by read-only recovery. Every outcome is records then
 * a clean end, a torn tail, or an error (E_CORRUPT for a damaged base);
 * never a crash, an over-read, a hang or a leak; the first record handed out
 * is the one after the base, never an earlier one; both iterators agree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log.h"

#define BASE_BYTES 52

static char dir[64];

static uint64_t iterate(uint64_t from, int flags, tms_err *out)
{
    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has = 1;
    uint64_t n = 0;
    tms_err err = tms_log_iter_open_flags(dir, from, flags, &it, NULL);
    while (!err && (err = tms_log_iter_next(it, &rec, &has)) == TMS_OK && has) {
        if (rec.seq != from + n || rec.len == 0 || rec.len > TMS_LOG_MAX_PAYLOAD)
            abort();   /* a record before the base, or a gap */
        n++;
    }
    tms_log_iter_close(it);
    *out = err;
    return n;
}

static void put(const char *name, const uint8_t *data, size_t size)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char seg[64], why[300];
    uint8_t head[TMS_LOG_HASH_LEN];
    uint64_t base = 0;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz-base-%ld", (long)getpid());
        if (mkdir(dir, 0700) != 0 && access(dir, F_OK) != 0)
            abort();
    }
    size_t nb = size < BASE_BYTES ? size : BASE_BYTES;
    put("base", data, nb);
    tms_err be = tms_log_base(dir, &base, head, why, sizeof why);
    if (be != TMS_OK && be != TMS_E_CORRUPT)
        abort();
    if (be == TMS_OK && base == 0)
        abort();   /* a base file that is there says a seq, or is damaged */
    uint64_t first = be == TMS_OK && base < UINT64_MAX - 1 ? base + 1 : 1;
    snprintf(seg, sizeof seg, "%020llu.tmslog", (unsigned long long)first);
    put(seg, data + nb, size - nb);
    tms_err a, b;
    uint64_t na = iterate(first, 0, &a), nb2 = iterate(first, TMS_LOG_ITER_CHAIN_ON_THREAD, &b);
    if (na != nb2 || a != b)
        abort();   /* the threaded check must find exactly what the inline one finds */
    if (be == TMS_E_CORRUPT && (a != TMS_E_CORRUPT || na))
        abort();   /* a damaged base: nothing is read */
    if (be == TMS_OK && first > 1 && iterate(first - 1, 0, &a) != 0)
        abort();   /* at or before the base: refused, never skipped */
    tms_log *log = NULL;
    tms_log_options ro = {0, 1, NULL};
    tms_log_report rep;
    tms_err e = tms_log_open(dir, &ro, &log, &rep);
    if (e != TMS_OK && e != TMS_E_CORRUPT && e != TMS_E_IO && e != TMS_E_NOMEM)
        abort();
    if (e == TMS_OK && tms_log_last_seq(log) < first - 1)
        abort();   /* the log's end is never before its base */
    tms_log_close(log);
    char path[160];   /* the next input names its own segment */
    snprintf(path, sizeof path, "%s/%s", dir, seg);
    unlink(path);
    return 0;
}
