/* bench_util.c -- the helpers of bench_util.h: clock, errors, percentiles,
 * memory, the raw append+fdatasync limit, removing scratch directories. */
#include "bench_util.h"
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "bench_sqlite: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(2);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

lat_stats bench_percentiles(double *v, size_t n)
{
    lat_stats s = {0, 0};
    if (!n)
        return s;
    qsort(v, n, sizeof *v, cmp_double);
    s.p50 = v[(n - 1) / 2];
    s.p99 = v[(size_t)((double)(n - 1) * 0.99)];
    return s;
}

long bench_peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

long bench_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

double bench_raw_append(const char *path, long n, int batch, size_t reclen, double *lat)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    char *buf = malloc((size_t)batch * reclen);
    if (fd < 0 || !buf)
        bench_die("raw append: cannot open %s", path);
    memset(buf, 'x', (size_t)batch * reclen);
    double t0 = bench_now();
    for (long i = 0, k = 0; i < n; i += batch, k++) {
        size_t len = (size_t)((n - i) < batch ? (n - i) : batch) * reclen;
        double b0 = bench_now();
        if (write(fd, buf, len) != (ssize_t)len || fdatasync(fd))
            bench_die("raw append: write/fdatasync on %s failed", path);
        lat[k] = bench_now() - b0;
    }
    double t = bench_now() - t0;
    close(fd);
    free(buf);
    unlink(path);
    return t;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void bench_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
