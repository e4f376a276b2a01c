/* mpsafe.h -- a bounds check to run on untrusted msgpack before msgpack-c
 * unpacks it. msgpack-c allocates what an array or map header announces
 * before it knows the bytes exist, so 8 hostile bytes can ask for 128 GiB.
 * This walk rejects any container announcing more elements than bytes left. */
#ifndef TMS_MPSAFE_H
#define TMS_MPSAFE_H

#include <stddef.h>
#include <stdint.h>

/* 1 if buf[0..len) starts with one msgpack object whose every container
 * announces no more elements than there are bytes left, 0 otherwise
 * (truncated, reserved type byte, or an impossible count). */
int tms_msgpack_sane(const uint8_t *buf, size_t len);
/* The same walk: the length of that first object, 0 when it is not one so. */
size_t tms_msgpack_len(const uint8_t *buf, size_t len);

#endif
