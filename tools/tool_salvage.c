/* tool_salvage.c -- how far a damaged log went, for "tms-restore --salvage":
 * every segment file is mapped read-only and walked frame by frame (layout
 * in log.h); where a frame header does not check out, the walk slides one
 * byte at a time until one does. The highest seq of a whole frame with an
 * intact header checksum is the last record the log held. Best effort. */
#include "tool_restore.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG_SUFFIX ".tmslog"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* A plausible frame at p: sane length, a seq this segment can hold, and the
 * header checksum (over len and seq) intact. */
static int frame_at(const uint8_t *p, uint64_t first, uint64_t max_seq)
{
    uint32_t len = le32(p);
    uint64_t seq = le64(p + 8);
    if (len == 0 || len > TMS_LOG_MAX_PAYLOAD || seq < first || seq > max_seq)
        return 0;
    return tms_crc32c(tms_crc32c(0, p, 4), p + 8, 8) == le32(p + 4);
}

/* The highest seq of a whole frame in one segment (0 if none). */
static uint64_t scan_map(const uint8_t *m, size_t size, uint64_t first)
{
    uint64_t best = 0, max_seq = first + size / TMS_LOG_FRAME_HEADER;
    size_t off = TMS_LOG_SEGMENT_HEADER;
    while (off + TMS_LOG_FRAME_HEADER <= size) {
        if (!frame_at(m + off, first, max_seq)) {
            off++;
            continue;
        }
        size_t end = off + TMS_LOG_FRAME_HEADER + le32(m + off);
        if (end > size) {   /* a frame cut short: never a whole record; look inside it */
            off++;
            continue;
        }
        uint64_t seq = le64(m + off + 8);
        if (seq > best)
            best = seq;
        off = end;
    }
    return best;
}

static uint64_t scan_segment(const char *path, uint64_t first)
{
    struct stat st;
    uint64_t best = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && st.st_size > TMS_LOG_SEGMENT_HEADER) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            best = scan_map(m, (size_t)st.st_size, first);
            munmap(m, (size_t)st.st_size);
        }
    }
    close(fd);
    return best;
}

uint64_t tool_salvage_last_seq(const char *logdir, uint64_t from)
{
    DIR *d = opendir(logdir);
    struct dirent *e;
    uint64_t best = 0;
    char path[4400];
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name), sl = strlen(SEG_SUFFIX);
        char digits[32];
        uint64_t first;
        if (n <= sl || n - sl >= sizeof digits || strcmp(e->d_name + n - sl, SEG_SUFFIX))
            continue;
        memcpy(digits, e->d_name, n - sl);
        digits[n - sl] = '\0';
        if (tool_seq_parse(digits, &first))
            continue;   /* the name gives the first seq even when the header is damaged */
        snprintf(path, sizeof path, "%s/%s", logdir, e->d_name);
        uint64_t s = scan_segment(path, first);
        if (s > best)
            best = s;
    }
    closedir(d);
    return best >= from ? best : 0;
}
