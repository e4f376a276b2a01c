/* teststream.h -- realistic command streams for differential tests: the
 * JSON Lines of benchmarks/gen_log, submitted through an engine in groups. */
#ifndef TMS_TESTSTREAM_H
#define TMS_TESTSTREAM_H

#include <stdint.h>
#include "testutil.h"

typedef struct ts_lines {
    char **v;
    size_t n, cap;
} ts_lines;

/* The JSON Lines of `gen_log ARGS` (asserts it ran and gave > 100 lines). */
ts_lines ts_generate(const char *args);
void ts_lines_free(ts_lines *l);
/* splitmix64 */
uint64_t ts_rng(uint64_t *s);
/* Submit v[0..n) as one group through env's engine; returns how many were accepted. */
size_t ts_submit_group(tu_env *env, char **v, size_t n);

#endif
