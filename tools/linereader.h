/* linereader.h -- JSON Lines input for the tools: lines of bounded length
 * read with read(2), so an over-long line is skipped (and reported) without
 * ever being held whole, and so the caller can tell whether more input is
 * ready now (group commit batches what has arrived, then answers). */
#ifndef TMS_LINEREADER_H
#define TMS_LINEREADER_H
#include <stddef.h>

typedef struct tms_linereader {
    int fd;
    size_t max;          /* longest accepted line, without its newline */
    char *buf;
    size_t cap, start, end;
    int eof, skipping;
} tms_linereader;

void tms_linereader_init(tms_linereader *lr, int fd, size_t max);
void tms_linereader_free(tms_linereader *lr);
/* Next line: returns 1 with *line and *len (no newline; valid until the next
 * call) or *too_long = 1 for a line over max (its text is not returned);
 * 0 at end of input; -1 on a read error (errno). */
int tms_linereader_next(tms_linereader *lr, const char **line, size_t *len, int *too_long);
/* 1 if a whole line is buffered or the fd has data right now. */
int tms_linereader_ready(tms_linereader *lr);
#endif
