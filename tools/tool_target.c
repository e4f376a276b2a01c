/* tool_target.c -- where tmsctl works when its global options (read by
 * tmsctl.c with the tools' parser) do not say: the environment, the packaged
 * socket (tool_target.h). */
#include "tool_target.h"
#include "tool_common.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
