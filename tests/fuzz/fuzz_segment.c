/* fuzz_segment.c -- libFuzzer target: any bytes as a whole log segment file
 * (DIR/00000000000000000001.tmslog), read by the checking iterator with the
 * chain in line and on a second thread, and by read-only recovery. Every
 * outcome is records then a clean end, a torn tail, or E_CORRUPT naming a
 * seq; never a crash, an over-read, a hang or a leak; both iterators agree
 * (issue 8, item 8). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log.h"

static char dir[64];

static uint64_t iterate(int flags, tms_err *out)
{
    tms_log_iter *it = NULL;
    tms_log_record rec;
    int has = 1;
    uint64_t n = 0;
    tms_err err = tms_log_iter_open_flags(dir, 1, flags, &it, NULL);
    while (!err && (err = tms_log_iter_next(it, &rec, &has)) == TMS_OK && has) {
        if (rec.seq != n + 1 || rec.len == 0 || rec.len > TMS_LOG_MAX_PAYLOAD)
            abort();
        n++;
    }
    tms_log_iter_close(it);
    *out = err;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz-segment-%ld", (long)getpid());
        if (mkdir(dir, 0700) != 0 && access(dir, F_OK) != 0)
            abort();
    }
    snprintf(path, sizeof path, "%s/00000000000000000001.tmslog", dir);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    tms_err a, b;
    uint64_t na = iterate(0, &a), nb = iterate(TMS_LOG_ITER_CHAIN_ON_THREAD, &b);
    if (na != nb || a != b)
        abort();   /* the threaded check must find exactly what the inline one finds */
    tms_log *log = NULL;
    tms_log_options ro = {0, 1, NULL};
    tms_log_report rep;
    tms_err e = tms_log_open(dir, &ro, &log, &rep);
    if (e != TMS_OK && e != TMS_E_CORRUPT && e != TMS_E_IO && e != TMS_E_NOMEM)
        abort();
    tms_log_close(log);
    return 0;
}
