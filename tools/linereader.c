/* linereader.c -- bounded JSON Lines reader (see linereader.h).
 * Memory is at most max + 64 KiB whatever the input: an over-long line is
 * consumed chunk by chunk up to its newline and reported, never stored. */
#include "linereader.h"
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

void tms_linereader_init(tms_linereader *lr, int fd, size_t max)
{
    memset(lr, 0, sizeof *lr);
    lr->fd = fd;
    lr->max = max;
}

void tms_linereader_free(tms_linereader *lr)
{
    free(lr->buf);
    lr->buf = NULL;
}

/* Read more bytes; 1 got some, 0 eof, -1 error. */
static int fill(tms_linereader *lr)
{
    if (lr->start > 0) {
        memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
        lr->end -= lr->start;
        lr->start = 0;
    }
    if (lr->cap - lr->end < CHUNK) {
        size_t cap = lr->cap ? lr->cap * 2 : CHUNK * 2;
        if (cap > lr->max + 2 * CHUNK)
            cap = lr->max + 2 * CHUNK;
        char *nb = cap > lr->cap ? realloc(lr->buf, cap) : lr->buf;
        if (!nb)
            return -1;
        lr->buf = nb;
        lr->cap = cap;
    }
    for (;;) {
        ssize_t n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        lr->end += (size_t)n;
        return n > 0;
    }
}

int tms_linereader_next(tms_linereader *lr, const char **line, size_t *len, int *too_long)
{
    *too_long = 0;
    for (;;) {
        char *nl = lr->end > lr->start ? memchr(lr->buf + lr->start, '\n', lr->end - lr->start) : NULL;
        size_t have = nl ? (size_t)(nl - (lr->buf + lr->start)) : lr->end - lr->start;
        if (nl || (lr->eof && (have > 0 || lr->skipping))) {
            *line = lr->buf + lr->start;
            *len = have;
            lr->start += have + (nl ? 1 : 0);
            if (lr->skipping || have > lr->max) {
                lr->skipping = 0;
                *too_long = 1;
            }
            if (*len && (*line)[*len - 1] == '\r')
                (*len)--;
            return 1;
        }
        if (lr->eof)
            return 0;
        if (have > lr->max) {   /* drop the body of an over-long line, remember it */
            lr->skipping = 1;
            lr->start = lr->end;
        }
        int got = fill(lr);
        if (got < 0)
            return -1;
        if (got == 0)
            lr->eof = 1;
    }
}

int tms_linereader_ready(tms_linereader *lr)
{
    if (lr->eof || (lr->end > lr->start && memchr(lr->buf + lr->start, '\n', lr->end - lr->start)))
        return 1;
    struct pollfd p = {lr->fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}
