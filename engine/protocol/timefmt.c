/* timefmt.c -- RFC 3339 times, as every tool and tmsd print and read them
 * (query.h): UTC with nanoseconds out; in, RFC 3339 with a fraction of 1-9
 * digits and "Z" or an offset, or a bare date (midnight UTC). */
#include "query.h"
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>


#define NS_PER_S INT64_C(1000000000)

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

char *tms_time_format(int64_t ns, char buf[TMS_TIME_MAX])
{
    int64_t secs = ns / NS_PER_S, frac = ns % NS_PER_S;
    if (frac < 0) {
        frac += NS_PER_S;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, TMS_TIME_MAX, "%04lld-%02u-%02uT%02d:%02d:%02d.%09lldZ", (long long)y, m, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (long long)frac);
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
    const char *p = s;
    int y, m, d;
    int64_t sec = 0, frac = 0;
    if (digits(&p, 4, &y) || expect_char(&p, "-") || digits(&p, 2, &m) || expect_char(&p, "-") ||
        digits(&p, 2, &d) || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    if (*p) {
        if (expect_char(&p, "Tt ") || parse_clock(p, &sec, &frac))
            return -1;
    }
    if (y < 1970 || y > 2261)
        return -1;
    int64_t total = days_from_civil(y, (unsigned)m, (unsigned)d) * 86400 + sec;
    if (total < 0)
        return -1;
    *ns = total * NS_PER_S + frac;
    return 0;
}

