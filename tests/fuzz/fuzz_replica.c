/* fuzz_replica.c -- libFuzzer target: what a replica receives from the
 * stream (issue 10) is untrusted. Any bytes, split into up to 8 frames at
 * points the input chooses, go to tms_engine_replicate on an engine that
 * holds a tenant (a few records). Every outcome is TMS_OK only for frames
 * that chain to the log (the fuzzer cannot forge BLAKE2b: in practice a
 * refusal), else a refusal that leaves the log where it was; never a crash,
 * an over-read or a leak. The engine is opened once and reused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine.h"

static tms_engine *eng;

static void open_once(void)
{
    char dir[64], why[512];
    tms_cmd cmd;
    const char *tenant = "{\"cmd\":\"CreateTenant\",\"tenant\":\"acme\",\"actor\":\"system\",\"admin\":\"admin\"}";
    snprintf(dir, sizeof dir, "/tmp/fuzz-replica-%ld", (long)getpid());
    if (tms_engine_open(dir, NULL, &eng, why, sizeof why))
        abort();
    tms_cmd_init(&cmd);
    if (tms_cmd_from_json(&cmd, tenant, strlen(tenant), why, sizeof why))
        abort();
    tms_submission s = {.cmd = &cmd};
    if (tms_engine_last_seq(eng) == 0 && tms_engine_submit(eng, &s, 1, why, sizeof why))
        abort();
    tms_cmd_free(&cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *frames[8];
    size_t lens[8], n = 0;
    char why[512];
    if (!eng)
        open_once();
    /* the first byte says how many frames; each frame's length is two bytes, then its bytes */
    size_t want = size ? (data[0] % 8) + 1 : 0, at = 1;
    while (n < want && at + 2 <= size) {
        size_t len = (size_t)data[at] | (size_t)data[at + 1] << 8;
        at += 2;
        if (len > size - at)
            len = size - at;
        frames[n] = data + at;
        lens[n++] = len;
        at += len;
    }
    uint64_t before = tms_engine_last_seq(eng);
    tms_err err = tms_engine_replicate(eng, frames, lens, n, why, sizeof why);
    if (err != TMS_OK && tms_engine_last_seq(eng) != before)
        abort();   /* a refused group left something behind */
    if (err == TMS_OK && n && tms_engine_last_seq(eng) != before + n)
        abort();
    return 0;
}
