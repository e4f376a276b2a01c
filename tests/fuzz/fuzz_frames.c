/* fuzz_frames.c -- libFuzzer target: any byte stream into tmsd's frame
 * reader, fed in pieces whose sizes come from the input itself. Frames come
 * out whole or the stream is refused; memory stays bounded. */
#include <stdint.h>
#include <stdlib.h>
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tms_frame_reader r;
    const uint8_t *p;
    size_t len, off = 0;
    tms_frame_reader_init(&r, 4096);
    while (off < size) {
        size_t piece = 1 + data[off] % 64;
        if (piece > size - off)
            piece = size - off;
        if (tms_frame_reader_feed(&r, data + off, piece) != TMS_OK)
            abort();
        off += piece;
        int rc;
        while ((rc = tms_frame_reader_next(&r, &p, &len)) == 1)
            if (len > 4096)
                abort();
        if (rc < 0)
            break;
        if (r.cap > 4096 + 4 + 64 + 4096)
            abort();
    }
    tms_frame_reader_free(&r);
    return 0;
}
