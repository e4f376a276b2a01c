/* tool_target.h -- where tmsctl works: its global options (--data DIR,
 * --connect ADDR, --token-file F, before the command), then the environment
 * (TMS_CONNECT, TMS_TOKEN_FILE), then the packaged socket. Flags win over
 * the environment, the environment over the packaged socket:
 *
 *   --data or --connect given      that (TMS_CONNECT is not looked at)
 *   else TMS_CONNECT set           tmsd at that address
 *   else the packaged socket       TMS_PACKAGED_SOCKET, when it exists (a socket)
 *   else                           an error saying all of this
 *
 * The token file is --token-file, else TMS_TOKEN_FILE when tmsctl goes
 * through tmsd (never read for --data). */
#ifndef TMS_TOOL_TARGET_H
#define TMS_TOOL_TARGET_H

/* The packaged tmsd's socket (packaging/tmsd.service.in), set by CMake. */
#ifndef TMS_PACKAGED_SOCKET
#define TMS_PACKAGED_SOCKET "/run/tmsperm/tmsd.sock"
#endif

typedef struct tool_target {
    const char *data;              /* --data */
    const char *connect;           /* --connect, TMS_CONNECT or the packaged socket */
    const char *token_file;        /* --token-file or TMS_TOKEN_FILE */
    const char *connect_from;      /* where connect came from: "--connect", "TMS_CONNECT", "the packaged default" */
} tool_target;

/* Fill what the options left (the table above); socket is the packaged
 * socket looked for. 0, or -1 (no target at all) after a message saying
 * what may be given. */
int tool_target_resolve(tool_target *t, const char *socket);

#endif
