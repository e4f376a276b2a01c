/* daemon_log.c -- the ground floor every part of tmsd stands on: its
 * clock and its log lines (logfmt on stderr, one line per call, values
 * quoted by log_quote), and the log2 histograms the metrics keep. */
#include "daemon_internal.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t tms__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tms__hist_add(uint64_t *hist, uint64_t *sum, uint64_t value, int shift)
{
    int b = 0;
    *sum += value;
    while (b < HIST_BUCKETS - 1 && value >= (UINT64_C(1) << (b + shift)))
        b++;
    hist[b]++;
}

const char *tms__log_quote(char *buf, size_t len, const char *v)
{
    size_t o = 0;
    for (const char *p = v ? v : ""; *p && o + 5 < len; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f) {   /* no control character reaches a terminal reading the log */
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", ch);
            continue;
        }
        if (ch == '"' || ch == '\\')
            buf[o++] = '\\';
        buf[o++] = (char)ch;
    }
    buf[o] = '\0';
    return buf;
}

void tms__daemon_log(const char *level, const char *fmt, ...)
{
    char msg[1024], ts[40];
    struct timespec now;
    struct tm tm;
    va_list ap;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ts=%s.%03ldZ level=%s %s\n", ts, now.tv_nsec / 1000000, level, msg);
}
