/* tool_target.c -- tmsctl's global options, environment and packaged
 * socket (tool_target.h). */
#include "tool_target.h"
#include "tool_common.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The global options taking a value, then the other words that may come before a command. */
static const char *const globals[] = {"data", "connect", "token-file", "help", "version"};
#define NGLOBALS 3
#define NWORDS (sizeof globals / sizeof globals[0])

/* Edit distance (insertions, deletions, substitutions, adjacent swaps) of
 * a and b, both shorter than 64 bytes; a larger value for longer ones. */
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

/* "unknown option ARG": with the option it most likely meant, if any. */
static void unknown(const char *arg)
{
    const char *name = arg + strspn(arg, "-");
    size_t len = strcspn(name, "="), best = 3;
    const char *meant = NULL;
    for (size_t k = 0; k < NWORDS; k++) {
        size_t dist = distance(name, len, globals[k]);
        if (dist < best || (len >= 3 && !strncmp(name, globals[k], len) && !meant)) {
            best = dist < best ? dist : best;
            meant = globals[k];
        }
    }
    if (meant)
        tool_fail("unknown option %.*s: did you mean --%s? (try --help)", (int)(name - arg + len), arg, meant);
    else
        tool_fail("unknown option %.*s: before the command only --data, --connect and --token-file; a command's "
                     "options go after it (try --help)",
                     (int)(name - arg + len), arg);
}

int tool_target_options(int argc, char **argv, tool_target *t)
{
    int i = 1;
    while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--version") && !tool_is_help(argv[i])) {
        const char *arg = argv[i], *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg), k = 0;
        while (k < NGLOBALS && !(arg[1] == '-' && len - 2 == strlen(globals[k]) && !strncmp(arg + 2, globals[k], len - 2)))
            k++;
        if (k == NGLOBALS) {
            unknown(arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!value || !*value) {
            tool_fail("option --%s needs a value (try --help)", globals[k]);
            return -1;
        }
        const char **slot[] = {&t->data, &t->connect, &t->token_file};
        *slot[k] = value;
        if (k == 1)
            t->connect_from = "--connect";
        i++;
    }
    return i;
}

int tool_target_resolve(tool_target *t, const char *socket)
{
    const char *env = getenv("TMS_CONNECT");
    struct stat st;
    if (!t->data && !t->connect && env && *env) {
        t->connect = env;
        t->connect_from = "TMS_CONNECT";
    }
    if (!t->data && !t->connect && stat(socket, &st) == 0 && S_ISSOCK(st.st_mode)) {
        t->connect = socket;
        t->connect_from = "the packaged default";
    }
    env = getenv("TMS_TOKEN_FILE");
    if (t->connect && !t->token_file && env && *env)
        t->token_file = env;
    if (t->data || t->connect)
        return 0;
    tool_fail("--data DIR or --connect ADDR is required (or TMS_CONNECT=ADDR in the environment; there is no "
              "tmsd socket at %s, the packaged default)",
              socket);
    return -1;
}
