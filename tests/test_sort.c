/* test_sort.c -- the order every walk of the state gives (state_map.c,
 * tms__sort_named: a radix sort of (kind, first seven id bytes) keys, then
 * runs of equal keys by the whole id) against the plain comparison sort by
 * (kind, id bytes, shorter first), on ids made to share long prefixes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../engine/core/state_internal.h"

static int by_kind_and_id(const void *a, const void *b)
{
    const tms__named *x = *(tms__named *const *)a, *y = *(tms__named *const *)b;
    if (x->kind != y->kind)
        return (uint8_t)x->kind < (uint8_t)y->kind ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->id, y->id, n);
    return c ? c : x->len < y->len ? -1 : x->len > y->len;
}

/* n entities with ids of 1..max_len bytes over alphabet, kinds from kinds; sorted both ways, compared. */
static void check(size_t n, const char *alphabet, size_t max_len, const char *kinds, unsigned seed)
{
    tms__named *e = calloc(n ? n : 1, sizeof *e);
    tms__named **got = calloc(n ? n : 1, sizeof *got), **want = calloc(n ? n : 1, sizeof *want);
    char *ids = calloc(n ? n : 1, 32);
    assert_non_null(e);
    assert_non_null(got);
    assert_non_null(want);
    assert_non_null(ids);
    srand(seed);
    size_t na = strlen(alphabet), nk = strlen(kinds);
    for (size_t i = 0; i < n; i++) {
        size_t len = 1 + (size_t)rand() % max_len;
        for (size_t j = 0; j < len; j++)
            ids[32 * i + j] = alphabet[(size_t)rand() % na];
        e[i].id = ids + 32 * i;
        e[i].len = (uint8_t)len;
        e[i].kind = kinds[(size_t)rand() % nk];
        got[i] = want[i] = &e[i];
    }
    if (n > 1)
        qsort(want, n, sizeof *want, by_kind_and_id);
    tms__sort_named(got, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(by_kind_and_id(&got[i], &want[i]), 0);
    free(ids);
    free(want);
    free(got);
    free(e);
}

static void test_sort_agrees_with_the_comparison_sort(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 3, 63, 64, 65, 1000, 20000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        check(sizes[i], "0123456789", 8, "ceqm", 1 + (unsigned)i);     /* extension-like ids */
        check(sizes[i], "01", 20, "c", 100 + (unsigned)i);             /* long shared prefixes: equal keys */
        check(sizes[i], "ab~\x7f\x80\xff", 12, "\x01" "e", 200 + (unsigned)i);   /* high bytes sort unsigned */
    }
}

static void test_sort_one_kind_one_prefix(void **state)
{
    (void)state;
    check(5000, "7", 24, "q", 7);   /* every key equal after the first bytes: all by cmp */
    check(5000, "9", 3, "m", 8);                   /* duplicates of few ids */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_agrees_with_the_comparison_sort),
        cmocka_unit_test(test_sort_one_kind_one_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
