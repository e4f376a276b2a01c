/* timefmt.c -- RFC 3339 times, as every tool and tmsd print and read them
 * (query.h): UTC with nanoseconds out; in, RFC 3339 with a fraction of 1-9
 * digits and "Z" or an offset, or a bare date (midnight UTC). The calendar is
 * libc's (gmtime_r, strptime, timegm); only what they lack (fractions of a
 * second, "Z", the strict widths) is read here. */
#include "query.h"
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


#define NS_PER_S INT64_C(1000000000)

char *tms_time_format(int64_t ns, char buf[TMS_TIME_MAX])
{
    int64_t secs = ns / NS_PER_S, frac = ns % NS_PER_S;
    struct tm tm;
    if (frac < 0) {
        frac += NS_PER_S;
        secs--;
    }
    time_t t = (time_t)secs;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof tm);
    snprintf(buf, TMS_TIME_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
    return buf;
}

/* n decimal digits at *p into *out; advances *p. -1 if not all digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect_char(const char **p, const char *set)
{
    if (!**p || !strchr(set, **p))
        return -1;
    (*p)++;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* "hh:mm:ss[.frac]" then "Z" or an offset: seconds of the day in *sec (offset
 * applied: may leave the day), fraction in *frac. */
static int parse_clock(const char *p, int64_t *sec, int64_t *frac)
{
    int hh, mm, ss, oh = 0, om = 0, sign = 0;
    if (digits(&p, 2, &hh) || expect_char(&p, ":") || digits(&p, 2, &mm) || expect_char(&p, ":") ||
        digits(&p, 2, &ss) || hh > 23 || mm > 59 || ss > 60)
        return -1;
    *frac = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; isdigit((unsigned char)*p); p++, n++)
            if (n < 9)
                *frac = *frac * 10 + (*p - '0');
        if (n == 0 || n > 9)
            return -1;
        for (; n < 9; n++)
            *frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh) || expect_char(&p, ":") || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *sec = (int64_t)hh * 3600 + mm * 60 + ss - sign * ((int64_t)oh * 3600 + om * 60);
    return 0;
}

int tms_time_parse(const char *s, int64_t *ns)
{
    struct tm tm;
    int64_t sec = 0, frac = 0;
    memset(&tm, 0, sizeof tm);
    /* the date: strptime, held to RFC 3339's fixed widths (it would take "26-1-1") */
    int fixed = strlen(s) >= 10 && s[4] == '-' && s[7] == '-';
    for (int i = 0; fixed && i < 10; i++)   /* digits where RFC 3339 has them: strptime would skip spaces */
        fixed = i == 4 || i == 7 || isdigit((unsigned char)s[i]);
    const char *p = fixed ? strptime(s, "%Y-%m-%d", &tm) : NULL;
    if (!p || p != s + 10 || tm.tm_mday > days_in_month(tm.tm_year + 1900, tm.tm_mon + 1))
        return -1;
    if (*p && (expect_char(&p, "Tt ") || parse_clock(p, &sec, &frac)))   /* strptime has no fractions or "Z" */
        return -1;
    if (tm.tm_year + 1900 < 1970 || tm.tm_year + 1900 > 2261)
        return -1;
    int64_t total = (int64_t)timegm(&tm) + sec;
    if (total < 0)
        return -1;
    *ns = total * NS_PER_S + frac;
    return 0;
}
