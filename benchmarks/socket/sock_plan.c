/* sock_plan.c -- the work of one measurement, planned before the clock
 * starts and shared by the tmsd and the Redis run of a pair: random
 * (extension, permission) checks from a seed, and permission toggles on
 * distinct extensions whose outcome is applied to the expected data set. */
#include "bench_socket.h"
#include <stdlib.h>

sb_item **sb_items_new(int nconn, size_t per_conn)
{
    sb_item **items = calloc((size_t)nconn, sizeof *items);
    for (int c = 0; items && c < nconn; c++)
        if (!(items[c] = calloc(per_conn ? per_conn : 1, sizeof **items))) {
            sb_items_free(items, c);
            return NULL;
        }
    return items;
}

void sb_items_free(sb_item **items, int nconn)
{
    for (int c = 0; items && c < nconn; c++)
        free(items[c]);
    free(items);
}

/* Uniform random extension and permission; connection c draws from its own
 * stream, so the same seed gives every system the same questions. */
void sb_plan_checks(const sb_dataset *ds, sb_item **items, int nconn, size_t per_conn, uint64_t seed)
{
    for (int c = 0; c < nconn; c++) {
        uint64_t st = seed * 1000003u + (uint64_t)c;
        for (size_t i = 0; i < per_conn; i++) {
            uint64_t r = sb_rand(&st);
            items[c][i].ext = (uint32_t)((r >> 16) % (uint64_t)ds->n);
            items[c][i].perm = (uint8_t)((r & 0xffff) % (uint64_t)ds->nperms);
            items[c][i].enable = 0;
        }
    }
}

uint64_t sb_expected_allows(const sb_dataset *ds, sb_item *const *items, int nconn, size_t per_conn)
{
    uint64_t n = 0;
    for (int c = 0; c < nconn; c++)
        for (size_t i = 0; i < per_conn; i++)
            n += (ds->mask[items[c][i].ext] >> items[c][i].perm) & 1u;
    return n;
}

/* Toggle one permission on each of nconn * per_conn consecutive extensions
 * (from *cursor, wrapping): enable it if the extension lacks it, else
 * disable it. No two items of one measurement touch the same extension
 * while nconn * per_conn <= n, so the order between connections does not
 * matter. ds->mask becomes the state after the measurement. */
void sb_plan_toggles(sb_dataset *ds, sb_item **items, int nconn, size_t per_conn, long *cursor)
{
    for (int c = 0; c < nconn; c++)
        for (size_t i = 0; i < per_conn; i++) {
            long e = *cursor;
            *cursor = (*cursor + 1) % ds->n;
            sb_item *it = &items[c][i];
            it->ext = (uint32_t)e;
            it->perm = (uint8_t)((unsigned long)e * 7u % (unsigned)ds->nperms);
            it->enable = !((ds->mask[e] >> it->perm) & 1u);
            ds->mask[e] = (uint16_t)(ds->mask[e] ^ (1u << it->perm));
        }
}

/* The SetPermissions JSON text of a toggle; its length, or -1 if too long. */
int sb_format_toggle(const sb_dataset *ds, const sb_item *it, char *buf, size_t len)
{
    const char *name = ds->perm_names[it->perm];
    int n = snprintf(buf, len,
                     "{\"cmd\":\"SetPermissions\",\"tenant\":\"%s\",\"actor\":\"admin\",\"kind\":\"extension\","
                     "\"id\":\"%s\",\"enable\":[%s%s%s],\"disable\":[%s%s%s]}",
                     SB_TENANT, ds->ids[it->ext], it->enable ? "\"" : "", it->enable ? name : "",
                     it->enable ? "\"" : "", it->enable ? "" : "\"", it->enable ? "" : name, it->enable ? "" : "\"");
    return n > 0 && (size_t)n < len ? n : -1;
}
