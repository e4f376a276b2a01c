/* tool_common.c -- shared command-line helpers of the tools (see
 * tool_common.h): messages, option parsing (every program's), command dispatch,
 * times (the protocol room's RFC 3339, always UTC), points, progress. */
#include "tool_common.h"
#include "query.h"
#include <sodium.h>
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

const char *tool_prog = "tms-tool";

static void vmsg(const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    for (char *p = line; *p; p++)   /* one line, whatever the message holds */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "%s: %s\n", tool_prog, line);
}

int tool_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    return TOOL_ERROR;
}

void tool_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
}

/* ---- options --------------------------------------------------------------- */

int tool_is_help(const char *arg)
{
    return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

int tool_version(void)
{
    printf("%s (tmsperm) %s\n", tool_prog, tms_version());
    return fflush(stdout) ? TOOL_ERROR : TOOL_OK;
}

/* Edit distance (insertions, deletions, substitutions, adjacent swaps) of
 * a[0..la) and b, both shorter than 64 bytes; 64 for longer ones. */
static size_t distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b), d[64][64];
    if (la >= 64 || lb >= 64)
        return 64;
    for (size_t i = 0; i <= la; i++)
        for (size_t j = 0; j <= lb; j++) {
            if (!i || !j) {
                d[i][j] = i + j;
                continue;
            }
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* Whether cand is the closest yet to name[0..len): fewer edits than *best
 * (at most two), or the first name it begins (3+ characters). */
static void consider(const char *name, size_t len, const char *cand, size_t *best, const char **meant)
{
    size_t dist = distance(name, len, cand);
    if (dist < *best || (len >= 3 && !strncmp(name, cand, len) && !*meant)) {
        *best = dist < *best ? dist : *best;
        *meant = cand;
    }
}

/* "unknown option ARG" (up to its '='): with the option it most likely
 * meant, else p's hint. */
static int unknown_option(const tool_parser *p, const char *arg)
{
    const char *name = arg + strspn(arg, "-"), *meant = NULL;
    size_t len = strcspn(name, "="), best = 3;
    int shown = (int)((size_t)(name - arg) + len);
    for (const tool_opt *o = p->opts; o && o->name; o++)
        consider(name, len, o->name, &best, &meant);
    consider(name, len, "help", &best, &meant);
    if (meant)
        return tool_fail("unknown option %.*s: did you mean --%s? (try --help)", shown, arg, meant);
    if (p->unknown_hint)
        return tool_fail("unknown option %.*s: %s (try --help)", shown, arg, p->unknown_hint);
    return tool_fail("unknown option %.*s (try --help)", shown, arg);
}

/* The option argv[*i] names, whole ("--name" or "--name=..."): taken, with
 * its value (after '=', else the next argument, *i moved past it). 0, or an
 * exit status after a message. */
static int take_option(const tool_parser *p, const tool_opt *o, int argc, char **argv, int *i)
{
    const char *eq = strchr(argv[*i], '='), *value = NULL;
    char opt[80];
    snprintf(opt, sizeof opt, "--%s", o->name);
    if (o->takes_value && eq)
        value = eq + 1;
    else if (o->takes_value && *i + 1 < argc)
        value = argv[++*i];
    else if (o->takes_value)
        return tool_fail("option %s needs a value (try --help)", opt);
    else if (eq)
        return tool_fail("option %s takes no value (try --help)", opt);
    if (o->value)
        *o->value = value;
    else if (o->flag)
        *o->flag = 1;
    else if (p->take)
        return p->take(p->ctx, opt, value);
    return 0;
}

static const tool_opt *find_option(const tool_opt *opts, const char *arg)
{
    size_t len = strcspn(arg, "=");
    if (arg[0] != '-' || arg[1] != '-')
        return NULL;
    for (const tool_opt *o = opts; o && o->name; o++)
        if (len - 2 == strlen(o->name) && !strncmp(arg + 2, o->name, len - 2))
            return o;
    return NULL;
}

int tool_parse_args(const tool_parser *p, int argc, char **argv, const char **pos, int maxpos, int *npos)
{
    int options = 1, rc = 0;
    *npos = 0;
    for (int i = 0; i < argc && !rc; i++) {
        const char *arg = argv[i];
        const tool_opt *o;
        if (options && !strcmp(arg, "--"))
            options = 0;
        else if (!options || arg[0] != '-' || !arg[1]) {   /* an argument */
            if (p->until_argument)
                return *npos = i, 0;
            if (*npos >= maxpos)
                return tool_fail("unexpected argument %s (try --help)", arg);
            pos[(*npos)++] = arg;
        } else if (tool_is_help(arg))
            return 1;
        else if ((o = find_option(p->opts, arg)) != NULL)
            rc = take_option(p, o, argc, argv, &i);
        else
            rc = unknown_option(p, arg);
    }
    if (p->until_argument && !rc)
        *npos = argc;
    return rc;
}

int tool_parse(int argc, char **argv, const tool_opt *opts, const char **pos, int maxpos, int *npos)
{
    const tool_parser p = {opts, NULL, NULL, 0, NULL};
    return tool_parse_args(&p, argc, argv, pos, maxpos, npos);
}

/* ---- commands -------------------------------------------------------------- */

/* The usage of a program with commands (tool_usage). 0, or -1 when f failed. */
static int print_usage(FILE *f, const tool_cmd *table, const tool_usage *u)
{
    int bad = fputs(u->head, f) < 0;
    for (const tool_cmd *c = table; c->name; c++) {
        char left[256];
        if (!c->help)
            continue;
        snprintf(left, sizeof left, "%s%s%s", c->name, c->args ? " " : "", c->args ? c->args : "");
        bad |= fprintf(f, "  %-*s", u->width, left) < 0;
        if ((int)strlen(left) >= u->width)   /* too long for its column: the help starts on the next line */
            bad |= fprintf(f, "\n%*s", u->width + 2, "") < 0;
        for (const char *p = c->help;; p++) {   /* line by line, the later ones indented */
            size_t n = strcspn(p, "\n");
            bad |= fprintf(f, "%.*s\n", (int)n, p) < 0;
            if (!p[n])
                break;
            p += n;
            bad |= fprintf(f, "%*s", u->width + 2, "") < 0;
        }
    }
    bad |= fputs(u->tail, f) < 0;
    return bad ? -1 : 0;
}

int tool_dispatch(const tool_cmd *table, int argc, char **argv, const tool_usage *usage)
{
    const char *word = argc > 1 ? argv[1] : NULL;
    const tool_cmd *c = table;
    while (c->name && (!word || strcmp(c->name, word)))
        c++;
    if (c->name && c->args)   /* a command listed with its arguments: its --help is the usage */
        for (int i = 2; i < argc; i++)
            if (tool_is_help(argv[i]))
                return print_usage(stdout, table, usage) < 0 ? TOOL_ERROR : TOOL_OK;
    if (c->name)
        return c->fn(argc - 2, argv + 2);
    if (word && !strcmp(word, "--version"))
        return tool_version();
    if (c->fn)   /* the default command answers everything else */
        return c->fn(argc - 1, argv + 1);
    if (!word) {
        print_usage(stderr, table, usage);
        return TOOL_ERROR;
    }
    if (tool_is_help(word))
        return print_usage(stdout, table, usage) < 0 ? TOOL_ERROR : TOOL_OK;
    return tool_fail("unknown command %s (try --help)", word);
}

/* ---- time ------------------------------------------------------------------ */

char *tool_time_format(int64_t ns, char buf[TOOL_TIME_MAX])
{
    return tms_time_format(ns, buf);
}

int tool_time_parse(const char *s, int64_t *ns)
{
    return tms_time_parse(s, ns);
}

/* ---- points ---------------------------------------------------------------- */

int tool_seq_parse(const char *s, uint64_t *seq)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p) || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *seq = v;
    return 0;
}

int tool_point_parse(const char *opt, const char *s, tool_point *p)
{
    memset(p, 0, sizeof *p);
    p->set = 1;
    if (tool_seq_parse(s, &p->seq) == 0) {
        p->is_seq = 1;
        return 0;
    }
    if (tool_time_parse(s, &p->time) == 0)
        return 0;
    return tool_fail("%s %s: expected a seq (digits) or an RFC 3339 time such as 2026-10-01T00:00:00Z", opt, s);
}

/* ---- output ---------------------------------------------------------------- */

char *tool_hex(const uint8_t *bytes, size_t n, char *out)
{
    return sodium_bin2hex(out, 2 * n + 1, bytes, n);   /* out holds 2n + 1 bytes (tool_common.h) */
}

int tool_print_json(json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = text && puts(text) >= 0 ? 0 : -1;
    free(text);
    json_decref(v);
    return rc;
}

int tool_finish_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return tool_fail("cannot write the output: %s", strerror(errno));
    return 0;
}

/* ---- progress -------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tool_progress_start(tool_progress *p, const char *what, uint64_t total)
{
    static uint64_t run_start_ms;   /* the second of grace counts from the first phase */
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    p->last_ms = p->phase_ms = now_ms();
    if (!run_start_ms)
        run_start_ms = p->last_ms;
    p->t0_ms = run_start_ms;
    p->total = total;
    p->what = what;
}

/* How long a run goes before it shows progress, and then how often (ms):
 * 1000 and 200; TMS_PROGRESS_AFTER_MS sets the first (and caps the second)
 * so tests see the line on a short replay. */
static uint64_t progress_after_ms(uint64_t *every)
{
    const char *e = getenv("TMS_PROGRESS_AFTER_MS");
    char *end;
    unsigned long long v = e && *e ? strtoull(e, &end, 10) : 1000;
    if (!e || !*e || *end)
        v = 1000;
    *every = v < 200 ? v : 200;
    return v;
}

void tool_progress_tick(tool_progress *p, uint64_t done)
{
    uint64_t every, after;
    if (!p->tty || (done & 4095) != 0)
        return;
    uint64_t t = now_ms();
    after = progress_after_ms(&every);
    if (t - p->t0_ms < after || t - p->last_ms < every)
        return;
    p->last_ms = t;
    p->shown = 1;
    double rate = (double)done * 1000.0 / (double)(t - p->phase_ms + 1);
    if (p->total) {   /* total may be an estimate (the projection's seq): never past 100%, ETA from the rate */
        uint64_t total = done > p->total ? done : p->total;
        double eta = rate > 0 ? (double)(total - done) / rate : 0;
        fprintf(stderr, "\r%s: %llu / %llu records (%3.0f%%, %.0f/s, ETA %.0f s)\033[K", p->what,
                (unsigned long long)done, (unsigned long long)total, 100.0 * (double)done / (double)total, rate, eta);
    }
    else
        fprintf(stderr, "\r%s: %llu records (%.0f/s)\033[K", p->what, (unsigned long long)done, rate);
}

void tool_progress_end(tool_progress *p)
{
    if (p->shown)
        fputs("\r\033[K", stderr);
    p->shown = 0;
}

void tool_remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX + 260];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}


int tool_write_all(int fd, const char *text, size_t n)
{
    while (n) {
        ssize_t w = write(fd, text, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w == 0 ? (errno = EIO, -1) : -1;
        text += w;
        n -= (size_t)w;
    }
    return 0;
}

int tool_sync_dir_of(const char *path)
{
    char dir[4200];
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir)
        return errno = ENAMETOOLONG, -1;
    if (n)
        memcpy(dir, path, n);
    else
        dir[n++] = '.';
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

void tool_thread_in_background(void)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    errno = 0;
    int now = getpriority(PRIO_PROCESS, (id_t)tid);
    if (now == -1 && errno)
        return;
    int behind = now + TOOL_BACKGROUND_NICE > 19 ? 19 : now + TOOL_BACKGROUND_NICE;
    if (behind > now)   /* refused (a filter, a limit): it stays level, as before */
        (void)setpriority(PRIO_PROCESS, (id_t)tid, behind);
}
