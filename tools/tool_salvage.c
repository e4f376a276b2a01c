/* tool_salvage.c -- how far a damaged log went, for "tms-restore --salvage":
 * every segment file is mapped read-only and walked frame by frame (the
 * header check is the log's own: tms_log_frame_head_ok); where a frame header does not check out, the walk slides one
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

/* A plausible frame at p (avail bytes): its header checksum (log.h) intact,
 * a sane length, a seq this segment can hold; its length and seq out. */
static int frame_at(const uint8_t *p, size_t avail, uint64_t first, uint64_t max_seq, uint32_t *len, uint64_t *seq)
{
    return tms_log_frame_head_ok(p, avail, len, seq) && *len && *len <= TMS_LOG_MAX_PAYLOAD && *seq >= first &&
           *seq <= max_seq;
}

/* The highest seq of a whole frame in one segment (0 if none). */
static uint64_t scan_map(const uint8_t *m, size_t size, uint64_t first)
{
    uint64_t best = 0, max_seq = first + size / TMS_LOG_FRAME_HEADER;
    size_t off = TMS_LOG_SEGMENT_HEADER;
    uint32_t len;
    uint64_t seq;
    while (off + TMS_LOG_FRAME_HEADER <= size) {
        if (!frame_at(m + off, size - off, first, max_seq, &len, &seq)) {
            off++;
            continue;
        }
        size_t end = off + TMS_LOG_FRAME_HEADER + len;
        if (end > size) {   /* a frame cut short: never a whole record; look inside it */
            off++;
            continue;
        }
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
