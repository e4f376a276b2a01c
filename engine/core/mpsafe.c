/* mpsafe.c -- the pre-unpack bounds check of mpsafe.h. It counts objects
 * still owed instead of recursing: every object takes at least one byte, so
 * owing more objects than bytes remain is proof of a lie. */
#include "mpsafe.h"

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Header size, payload bytes and child objects of the object at p. 0 on a
 * reserved type byte. */
static int describe(const uint8_t *p, size_t left, size_t *head, uint64_t *body, uint64_t *kids)
{
    uint8_t t = p[0];
    static const uint8_t fixed[] = {[0xca] = 4, [0xcb] = 8, [0xcc] = 1, [0xcd] = 2, [0xce] = 4, [0xcf] = 8,
                                    [0xd0] = 1, [0xd1] = 2, [0xd2] = 4, [0xd3] = 8};
    *head = 1, *body = 0, *kids = 0;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
        return 1;
    if (t >= 0x80 && t <= 0x8f) { *kids = 2u * (t & 15u); return 1; }
    if (t >= 0x90 && t <= 0x9f) { *kids = t & 15u; return 1; }
    if (t >= 0xa0 && t <= 0xbf) { *body = t & 31u; return 1; }
    if (t >= 0xca && t <= 0xd3) { *body = fixed[t]; return 1; }
    if (t >= 0xd4 && t <= 0xd8) { *body = 1u + (1u << (t - 0xd4)); return 1; }
    int w;   /* width of the length field */
    switch (t) {
    case 0xc4: case 0xc7: case 0xd9: w = 1; break;
    case 0xc5: case 0xc8: case 0xda: case 0xdc: case 0xde: w = 2; break;
    case 0xc6: case 0xc9: case 0xdb: case 0xdd: case 0xdf: w = 4; break;
    default: return 0;   /* 0xc1: never used */
    }
    if (left < (size_t)1 + (size_t)w)
        return 0;
    uint64_t n = be(p + 1, w);
    *head = 1 + (size_t)w + (t >= 0xc7 && t <= 0xc9);   /* ext carries a type byte */
    if (t == 0xdc || t == 0xdd)
        *kids = n;
    else if (t == 0xde || t == 0xdf)
        *kids = 2 * n;
    else
        *body = n;
    return 1;
}

int tms_msgpack_sane(const uint8_t *buf, size_t len)
{
    return tms_msgpack_len(buf, len) != 0;
}

size_t tms_msgpack_len(const uint8_t *buf, size_t len)
{
    uint64_t owed = 1;
    size_t off = 0;
    while (owed > 0) {
        size_t head;
        uint64_t body, kids;
        if (off >= len || !describe(buf + off, len - off, &head, &body, &kids))
            return 0;
        if (head > len - off || body > len - off - head)
            return 0;
        off += head + (size_t)body;
        owed = owed - 1 + kids;
        if (owed > len - off)
            return 0;   /* more objects announced than bytes left */
    }
    return off;
}
