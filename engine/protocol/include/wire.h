/* wire.h -- tmsd's wire protocol: length-prefixed msgpack frames. A frame is
 * a 4-byte big-endian payload length followed by one msgpack map. The
 * requests and replies are described in schemas/wire.json and docs/protocol.md.
 * This module only frames: it cuts a byte stream into whole payloads (however
 * the bytes were split) and refuses a frame over the size limit. */
#ifndef TMS_WIRE_H
#define TMS_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>
#include "tmsperm.h"
#include "tmsperm_schema.h"

#define TMS_WIRE_VERSION TMS_WIRE_PROTOCOL_VERSION
#define TMS_WIRE_HEADER 4

typedef struct tms_frame_reader {
    uint8_t *buf;
    size_t start, end, cap;   /* unread bytes are buf[start, end) */
    size_t max;               /* largest accepted payload */
} tms_frame_reader;

void tms_frame_reader_init(tms_frame_reader *r, size_t max);
void tms_frame_reader_free(tms_frame_reader *r);

/* Room to read at least `want` bytes into (growing the buffer as needed, up
 * to one maximal frame plus `want`): returns the pointer, *avail its size, or
 * NULL on allocation failure. Follow with tms_frame_reader_commit. */
uint8_t *tms_frame_reader_reserve(tms_frame_reader *r, size_t want, size_t *avail);
void tms_frame_reader_commit(tms_frame_reader *r, size_t n);
/* Copying convenience: reserve + memcpy + commit. */
tms_err tms_frame_reader_feed(tms_frame_reader *r, const void *data, size_t n);

/* The next whole frame: 1 with *payload and *len (valid until the next call on r),
 * 0 when more bytes are needed, -1 when the announced length exceeds max
 * (the stream cannot be trusted any further: close it). */
int tms_frame_reader_next(tms_frame_reader *r, const uint8_t **payload, size_t *len);

/* Start a frame in sb: clears it and reserves the length word. Pack the map
 * with a packer on sb, then seal it. */
void tms_frame_begin(msgpack_sbuffer *sb);
/* Write the length word. TMS_E_TOOBIG if the payload exceeds max. */
tms_err tms_frame_seal(msgpack_sbuffer *sb, size_t max);

/* Small helpers for reading request maps. */
const msgpack_object *tms_map_get(const msgpack_object *map, const char *key);
/* The string value of key as a NUL-terminated copy in buf; NULL if absent,
 * not a string, or longer than len-1. */
const char *tms_map_str(const msgpack_object *map, const char *key, char *buf, size_t len);
void tms_pack_str(msgpack_packer *pk, const char *s);
void tms_pack_kv_str(msgpack_packer *pk, const char *k, const char *v);

/* A credential: the first line of the file at path (the end of line is not
 * part of it), into out (cap bytes, NUL-terminated), its length in *len.
 * 0, or -1 with why saying what is wrong: unreadable, longer than cap - 2,
 * or shorter than TMS_TOKEN_MIN (a guessable token is no credential). The
 * same rules for tmsd (--token-file, principals) and its clients. */
#define TMS_TOKEN_MIN 16
int tms_token_read(const char *path, char *out, size_t cap, size_t *len, char *why, size_t whylen);

#endif
