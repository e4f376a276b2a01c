/* teststream.c -- command streams from gen_log for the differential tests
 * (test_state, test_history); see teststream.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "teststream.h"

#ifndef GEN_LOG_PATH
#error "GEN_LOG_PATH must name the gen_log program"
#endif


/* The JSON Lines of `gen_log ARGS`. */
ts_lines ts_generate(const char *args)
{
    char cmd[512], buf[4096];
    ts_lines l = {0};
    snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", GEN_LOG_PATH, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(buf, sizeof buf, p)) {
        if (l.n == l.cap) {
            l.cap = l.cap ? 2 * l.cap : 1024;
            l.v = realloc(l.v, l.cap * sizeof *l.v);
            assert_non_null(l.v);
        }
        buf[strcspn(buf, "\n")] = '\0';
        l.v[l.n++] = strdup(buf);
    }
    assert_int_equal(pclose(p), 0);
    assert_true(l.n > 100);
    return l;
}

void ts_lines_free(ts_lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

uint64_t ts_rng(uint64_t *s)   /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Submit lines[from, from+n) as one group; returns how many were accepted. */
size_t ts_submit_group(tu_env *env, char **v, size_t n)
{
    tms_cmd *cmds = calloc(n, sizeof *cmds);
    tms_submission *subs = calloc(n, sizeof *subs);
    char why[512];
    size_t accepted = 0;
    for (size_t k = 0; k < n; k++) {
        tms_cmd_init(&cmds[k]);
        assert_int_equal(tms_cmd_from_json(&cmds[k], v[k], strlen(v[k]), why, sizeof why), TMS_OK);
        subs[k] = (tms_submission){.cmd = &cmds[k]};
    }
    if (tms_engine_submit(env->eng, subs, n, why, sizeof why) != TMS_OK)
        fail_msg("submit: %s", why);
    for (size_t k = 0; k < n; k++) {
        accepted += subs[k].verdict.code == TMS_OK;
        tms_cmd_free(&cmds[k]);
    }
    free(cmds);
    free(subs);
    return accepted;
}

