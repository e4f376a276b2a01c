/* log_format.c -- the command log's format (log_format.h describes it):
 * segment names and headers, the one frame encoder, the words for what the
 * one frame check (inline, in log_format.h) finds, the hash chain, and the
 * frame field reads other rooms make (log.h). No
 * I/O but listing a directory's segments; nothing here calls log.c or
 * log_recover.c, which both call this. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "log_format.h"

/* ---- segments ---- */

void tms__seg_name(char out[TMS_SEG_NAME_MAX], uint64_t first)
{
    snprintf(out, TMS_SEG_NAME_MAX, "%020" PRIu64 TMS_SEG_SUFFIX, first);
}

/* "<20 digits>.tmslog" -> first seq; 0 if the name is not a segment's. */
static int seg_parse(const char *name, uint64_t *first)
{
    uint64_t v = 0;
    if (strlen(name) != 20 + strlen(TMS_SEG_SUFFIX) || strcmp(name + 20, TMS_SEG_SUFFIX) != 0)
        return 0;
    for (int i = 0; i < 20; i++) {
        unsigned d = (unsigned)(name[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *first = v;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

tms_err tms__seg_list(int dirfd, uint64_t **segs, size_t *n)
{
    uint64_t *v = NULL, first;
    size_t cnt = 0, cap = 0;
    tms_err e = TMS_E_IO;
    DIR *d = NULL;
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !(d = fdopendir(fd)))
        goto fail;
    for (struct dirent *de; (errno = 0, de = readdir(d)) != NULL;) {
        if (!seg_parse(de->d_name, &first))
            continue;
        if (cnt == cap) {
            uint64_t *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof *v);
            if (!nv) {
                e = TMS_E_NOMEM;
                goto fail;
            }
            v = nv;
            cap = cap ? cap * 2 : 16;
        }
        v[cnt++] = first;
    }
    if (errno != 0)
        goto fail;
    closedir(d);
    if (cnt > 1)
        qsort(v, cnt, sizeof *v, cmp_u64);
    *segs = v;
    *n = cnt;
    return TMS_OK;
fail:
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    free(v);
    *segs = NULL;
    *n = 0;
    return e;
}

void tms__seg_header(uint8_t out[TMS_LOG_SEGMENT_HEADER], uint64_t first)
{
    memcpy(out, TMS_SEG_MAGIC, TMS_SEG_MAGIC_LEN);
    tms_put_le64(out + TMS_SEG_FIRST, first);
}

tms_seg_fault tms__seg_check(const uint8_t *h, size_t avail, uint64_t first, uint64_t *got)
{
    *got = 0;
    if (avail < TMS_LOG_SEGMENT_HEADER)
        return TMS_SEG_SHORT;
    if (memcmp(h, TMS_SEG_MAGIC, TMS_SEG_MAGIC_LEN) != 0)
        return TMS_SEG_BAD_MAGIC;
    *got = tms_get_le64(h + TMS_SEG_FIRST);
    return *got == first ? TMS_SEG_OK : TMS_SEG_BAD_FIRST;
}

/* ---- frames ---- */

void tms_log_chain_hash(const uint8_t prev[TMS_LOG_HASH_LEN], uint64_t seq, const uint8_t *payload, size_t len,
                        uint8_t out[TMS_LOG_HASH_LEN])
{
    crypto_generichash_state st;
    uint8_t s[8];
    tms_put_le64(s, seq);
    crypto_generichash_init(&st, NULL, 0, TMS_LOG_HASH_LEN);
    crypto_generichash_update(&st, prev, TMS_LOG_HASH_LEN);
    crypto_generichash_update(&st, s, sizeof s);
    crypto_generichash_update(&st, payload, len);
    crypto_generichash_final(&st, out, TMS_LOG_HASH_LEN);
}

void tms__frame_header(uint8_t out[TMS_LOG_FRAME_HEADER], uint64_t seq, const uint8_t hash[TMS_LOG_HASH_LEN],
                       const uint8_t *payload, size_t len)
{
    tms_put_le32(out + TMS_FR_LEN, (uint32_t)len);
    tms_put_le64(out + TMS_FR_SEQ, seq);
    tms_put_le32(out + TMS_FR_HEAD_CRC, tms__frame_head_crc(out));
    tms_put_le32(out + TMS_FR_RESERVED, 0);
    if (hash != out + TMS_FR_HASH)
        memcpy(out + TMS_FR_HASH, hash, TMS_LOG_HASH_LEN);
    tms_put_le32(out + TMS_FR_BODY_CRC, tms_crc32c(tms_crc32c(0, out + TMS_FR_HASH, TMS_LOG_HASH_LEN), payload, len));
}

void tms__frame_encode(uint8_t *out, uint64_t seq, const uint8_t prev[TMS_LOG_HASH_LEN], const uint8_t *payload,
                       size_t len)
{
    memcpy(out + TMS_FR_PAYLOAD, payload, len);
    tms_log_chain_hash(prev, seq, out + TMS_FR_PAYLOAD, len, out + TMS_FR_HASH);
    tms__frame_header(out, seq, out + TMS_FR_HASH, out + TMS_FR_PAYLOAD, len);
}

const char *tms__frame_fault_text(tms_frame_fault fault, const tms_frame_info *fi, char *buf, size_t n)
{
    switch (fault) {
    case TMS_FRAME_OK:
        return "the frame checks";
    case TMS_FRAME_SHORT_HEAD:
        return "incomplete frame header";
    case TMS_FRAME_HEAD_CRC:
        return "header checksum mismatch";
    case TMS_FRAME_SEQ:
        snprintf(buf, n, "frame carries seq %" PRIu64, fi->seq);
        return buf;
    case TMS_FRAME_LENGTH:
        snprintf(buf, n, "bad payload length %" PRIu32, fi->len);
        return buf;
    case TMS_FRAME_RESERVED:
        return "reserved field is not zero";
    case TMS_FRAME_PARTIAL:
        return "frame runs past the end of the segment";
    case TMS_FRAME_BODY_CRC:
        return "body checksum mismatch";
    case TMS_FRAME_CHAIN:
        return "hash chain mismatch";
    }
    return "unknown frame fault";
}

/* ---- what other rooms read of a frame (log.h) ---- */

void tms_log_frame_header(const tms_log_record *r, uint8_t out[TMS_LOG_FRAME_HEADER])
{
    tms__frame_header(out, r->seq, r->hash, r->payload, r->len);
}

int tms_log_frame_head_ok(const uint8_t *frame, size_t len, uint32_t *plen, uint64_t *seq)
{
    if (!frame || len < TMS_LOG_FRAME_HEADER || tms__frame_head_crc(frame) != tms_get_le32(frame + TMS_FR_HEAD_CRC))
        return 0;
    *plen = tms_get_le32(frame + TMS_FR_LEN);
    *seq = tms_get_le64(frame + TMS_FR_SEQ);
    return 1;
}

uint64_t tms_log_frame_seq(const uint8_t *frame, size_t len)
{
    return frame && len >= TMS_LOG_FRAME_HEADER ? tms_get_le64(frame + TMS_FR_SEQ) : 0;
}

const uint8_t *tms_log_frame_hash(const uint8_t *frame, size_t len)
{
    return frame && len >= TMS_LOG_FRAME_HEADER ? frame + TMS_FR_HASH : NULL;
}

const uint8_t *tms_log_frame_payload(const uint8_t *frame, size_t len, size_t *plen)
{
    *plen = frame && len > TMS_LOG_FRAME_HEADER ? len - TMS_LOG_FRAME_HEADER : 0;
    return *plen ? frame + TMS_FR_PAYLOAD : NULL;
}
