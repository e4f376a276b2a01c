/* test_sort.c -- the order every walk of the state gives (state_map.c,
 * tms__sort_named: a radix sort of (kind, first seven id bytes) keys, then
 * runs of equal keys by the whole id) against the plain comparison sort by
 * (kind, id bytes, shorter first), on ids made to share long prefixes; and
 * the walk of a tenant's distributions (tms_tenant_foreach_visible, which
 * counts pairs out into buckets) against a comparison sort of the pairs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
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

typedef struct pair {
    tms_account *m, *o;
} pair;

static int by_manager_then_object(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    tms__named *p[2] = {(tms__named *)x->m, (tms__named *)y->m}, *q[2] = {(tms__named *)x->o, (tms__named *)y->o};
    int c = by_kind_and_id(&p[0], &p[1]);
    return c ? c : by_kind_and_id(&q[0], &q[1]);
}

typedef struct walked {
    pair *v;
    size_t n, cap;
} walked;

static int collect(void *ctx, tms_account *m, tms_account *o)
{
    walked *w = ctx;
    assert_true(w->n < w->cap);
    w->v[w->n++] = (pair){m, o};
    return 0;
}

static int stop_at_ten(void *ctx, tms_account *m, tms_account *o)
{
    (void)m, (void)o;
    return ++*(size_t *)ctx == 10 ? 7 : 0;
}

static void test_visible_walk_agrees_with_the_comparison_sort(void **state)
{
    (void)state;
    static const char kinds[] = {TMS_KIND_EXTENSION, TMS_KIND_QUEUE, TMS_KIND_CAMPAIGN};
    tms_state *st = tms_state_new();
    tms_tenant *t;
    tms_account *mgr[300], *obj[3000];
    char id[32];
    unsigned seed = 11;
    assert_non_null(st);
    assert_int_equal(tms_state_create_tenant(st, "t", "admin", &t), TMS_OK);
    for (int i = 0; i < 300; i++) {   /* ids sharing long prefixes, lengths apart */
        snprintf(id, sizeof id, "%s%d", i % 3 ? "manager-of-the-east-" : "m", i * 7919 % 1000);
        assert_int_equal(tms_tenant_create_account(st, t, TMS_KIND_MANAGER, id, &mgr[i]), TMS_OK);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "%d", i * 104729 % 100000);
        assert_int_equal(tms_tenant_create_account(st, t, kinds[i % 3], id, &obj[i]), TMS_OK);
    }
    walked want = {calloc(30000, sizeof(pair)), 0, 30000}, got = {calloc(30000, sizeof(pair)), 0, 30000};
    assert_non_null(want.v);
    assert_non_null(got.v);
    for (int i = 0; i < 3000; i++)
        for (int k = (int)(rand_r(&seed) % 9); k > 0; k--) {
            tms_account *m = mgr[rand_r(&seed) % 300];
            if (!tms_object_is_distributed_to(obj[i], m)) {
                assert_int_equal(tms_object_distribute(st, obj[i], m), TMS_OK);
                want.v[want.n++] = (pair){m, obj[i]};
            }
        }
    tms_state_commit(st);
    qsort(want.v, want.n, sizeof *want.v, by_manager_then_object);
    assert_int_equal(tms_tenant_foreach_visible(t, collect, &got), 0);
    assert_int_equal(got.n, want.n);
    for (size_t i = 0; i < want.n; i++)
        if (got.v[i].m != want.v[i].m || got.v[i].o != want.v[i].o)
            fail_msg("pair %zu of %zu out of order", i, want.n);
    size_t calls = 0;   /* a callback's non-zero stops the walk and is returned */
    assert_int_equal(tms_tenant_foreach_visible(t, stop_at_ten, &calls), 7);
    assert_int_equal(calls, 10);
    free(want.v);
    free(got.v);
    tms_state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_agrees_with_the_comparison_sort),
        cmocka_unit_test(test_sort_one_kind_one_prefix),
        cmocka_unit_test(test_visible_walk_agrees_with_the_comparison_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
