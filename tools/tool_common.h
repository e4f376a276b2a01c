/* tool_common.h -- what tms-history, tms-audit and tms-restore share at the
 * command-line edge (tmsctl and tmsd too): option parsing, command
 * dispatch, RFC 3339 <-> nanoseconds, "a seq or a
 * time" arguments, hex, one-line JSON output, exit codes (SPEC section 6),
 * and a progress line on stderr for long replays on a terminal. */
#ifndef TMS_TOOL_COMMON_H
#define TMS_TOOL_COMMON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes, SPEC section 6. */
enum { TOOL_OK = 0, TOOL_NEGATIVE = 1, TOOL_ERROR = 2 };

/* The program name used in messages ("tms-audit"); set once in main. */
extern const char *tool_prog;

/* Print "PROG: message" on stderr (one line) and return TOOL_ERROR. */
int tool_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "PROG: message" on stderr without choosing an exit code. */
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- options --------------------------------------------------------------- */

/* One recognised option: "--name VALUE" / "--name=VALUE" when takes_value,
 * else a flag. At most one of value / flag is used; with neither, the
 * parser's take (tool_parser) gets it each time it is given. */
typedef struct tool_opt {
    const char *name;              /* without the leading dashes */
    int takes_value;
    const char **value;            /* set to the argument (the last one given wins) */
    int *flag;                     /* set to 1 */
} tool_opt;

/* How every program reads its options (tool_parse_args): whole names only
 * (no abbreviation: "--dat" is not --data), "--name VALUE" or
 * "--name=VALUE" (a value may be empty, and may begin with '-'), options
 * and arguments in any order, "--" ends the options, "-" is an argument. */
typedef struct tool_parser {
    const tool_opt *opts;          /* ends with a NULL name; NULL: none */
    /* The options with neither value nor flag, in the order given (repeated
     * options too): opt is "--name", value NULL for a flag. 0, or an exit
     * status after a one-line message. */
    int (*take)(void *ctx, const char *opt, const char *value);
    void *ctx;
    /* tmsctl's global options: the first argument (the command) ends the
     * options; *npos is then its index in argv (argc when there is none) and
     * pos is not used. */
    int until_argument;
    /* Said after "unknown option X: " when no option's name is close to X. */
    const char *unknown_hint;
} tool_parser;

/* Parse argv[0..argc) as p says; the arguments go to pos (at most maxpos).
 * Returns 0, 1 when --help or -h was given (the caller prints its help and
 * exits 0), or TOOL_ERROR (or what take returned) after a one-line message:
 * "unknown option X" (with "did you mean --NAME?" when a name is one or two
 * edits away or begins with X, else p's hint), "option --NAME needs a
 * value", "option --NAME takes no value", "unexpected argument X"; each but
 * take's ends "(try --help)". The first problem from the left is told. */
int tool_parse_args(const tool_parser *p, int argc, char **argv, const char **pos, int maxpos, int *npos);

/* tool_parse_args over the options opts (no take, no hint). */
int tool_parse(int argc, char **argv, const tool_opt *opts, const char **pos, int maxpos, int *npos);

/* 1 when arg asks for the usage: "--help" or "-h". */
int tool_is_help(const char *arg);
/* "PROG (tmsperm) VERSION" on stdout (--version): TOOL_OK, or TOOL_ERROR when it cannot be written. */
int tool_version(void);

/* ---- commands -------------------------------------------------------------- */

/* One command of a program with commands (tmsctl, tms-audit, tms-history,
 * tms-restore), after git's cmd_struct: argv[1] names it; fn runs it with
 * the arguments after the name and returns the exit code; when the entry
 * shows args, a --help or -h among them prints the program's usage on
 * stdout instead (TOOL_OK), else fn answers its own --help. A table ends
 * with an entry whose name is NULL. When that entry has an fn, it is the
 * program's default command (tms-restore): it gets every argument
 * (argc - 1, argv + 1) whenever argv[1] names no command of the table, and
 * answers --help, no argument and anything else itself. */
typedef struct tool_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *args;              /* shown after the name in the usage; NULL: none */
    const char *help;              /* its description in the usage, lines split by \n; NULL: not listed */
} tool_cmd;

/* A program's usage around the list of its commands: head; then each
 * listed command as "  NAME ARGS" padded to width columns and its help
 * (further lines of the help indented to the same column); then tail. */
typedef struct tool_usage {
    const char *head;
    int width;
    const char *tail;
} tool_usage;

/* Run the command argv[1] names, and answer what is not one, the same way
 * for every program: no argument: the usage on stderr, TOOL_ERROR; --help
 * or -h: the usage on stdout, TOOL_OK (TOOL_ERROR when it cannot be
 * written); any other word: "PROG: unknown command WORD (try --help)",
 * TOOL_ERROR. A default command (above) gets all of these instead, and
 * usage may then be NULL. argv[0] is not looked at: the program name, or
 * whatever came before the command (tmsctl's global options). */
int tool_dispatch(const tool_cmd *table, int argc, char **argv, const tool_usage *usage);

/* ---- time ------------------------------------------------------------------ */

#define TOOL_TIME_MAX 64

/* ns since the epoch -> "2026-11-22T23:52:30.123456789Z" (always 9 digits). */
char *tool_time_format(int64_t ns, char buf[TOOL_TIME_MAX]);

/* RFC 3339 ("2026-11-22T23:52:30Z", fraction of 1-9 digits, "Z" or
 * "+hh:mm"/"-hh:mm"; 't', 'z' or a space accepted as RFC 3339 allows) or a
 * bare date "2026-10-01" (midnight UTC) -> ns. 0 on success, -1 if malformed
 * or outside 1970..2262. */
int tool_time_parse(const char *s, int64_t *ns);

/* ---- points in the log ----------------------------------------------------- */

/* A position given as a seq (all digits) or as a time. */
typedef struct tool_point {
    int set;                       /* given at all */
    int is_seq;
    uint64_t seq;
    int64_t time;
} tool_point;

/* Parse a seq or a time into *p. 0 on success, else TOOL_ERROR after a
 * message naming the option. */
int tool_point_parse(const char *opt, const char *s, tool_point *p);

/* Parse a decimal seq (digits only, no sign). 0 on success, -1 if not. */
int tool_seq_parse(const char *s, uint64_t *seq);

/* ---- output ---------------------------------------------------------------- */

/* Lowercase hex of n bytes into out (2n + 1 bytes). Returns out. */
char *tool_hex(const uint8_t *bytes, size_t n, char *out);

/* Print v as one compact JSON line (keys in insertion order) and decref it.
 * Returns 0, or -1 when stdout failed. */
int tool_print_json(json_t *v);

/* Flush stdout; on a write error print a message and return TOOL_ERROR. */
int tool_finish_stdout(void);

/* ---- progress -------------------------------------------------------------- */

/* A progress line on stderr, shown only when stderr is a terminal and the
 * run has lasted more than a second. total may be 0 (unknown). */
typedef struct tool_progress {
    int tty;
    int shown;
    uint64_t t0_ms, phase_ms, last_ms;
    uint64_t total;
    const char *what;
} tool_progress;

void tool_progress_start(tool_progress *p, const char *what, uint64_t total);
/* Cheap: looks at the clock once every 4096 calls. */
void tool_progress_tick(tool_progress *p, uint64_t done);
/* Erase the line if one was shown. */
void tool_progress_end(tool_progress *p);

/* Remove a directory that holds only files (a scratch projection, a log
 * copy): best effort, errors ignored. */
void tool_remove_flat_dir(const char *dir);

/* Write all of text[0..n) to fd (EINTR retried): 0, or -1 with errno. */
int tool_write_all(int fd, const char *text, size_t n);
/* fsync the directory holding path, so a rename in it lasts ("." for a bare name, "/" for "/name"): 0, or -1
 * with errno. */
int tool_sync_dir_of(const char *path);

/* The calling thread behind the others of its process: TOOL_BACKGROUND_NICE
 * more nice than it has (at most 19; Linux's nice is a thread's, and
 * threads it starts inherit it). For a helper whose answer is waited for
 * only at the end (tms-audit verify's projection walks, a snapshot read
 * ahead): on two cores it ran level with the fold, which waits for no one
 * else, and took a core from it when the fold needed both. Weight 110
 * against 1024: it still runs on a busy machine (SCHED_IDLE measured about
 * the same, and could wait there forever); when the fold does wait for it
 * (its seq reached first), the fold's core is free for it, but other
 * processes' threads come first. Returns nothing: a refusal (a seccomp
 * filter without setpriority, a limit) leaves the thread as it was. */
#define TOOL_BACKGROUND_NICE 10
void tool_thread_in_background(void);

#endif
