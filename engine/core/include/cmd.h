/* cmd.h -- a command as the engine sees it: parsed, validated against the
 * schema (schemas/tmsperm.json via the generated tables), and encoded back to
 * canonical msgpack for the log. One validator serves JSON input and replayed
 * msgpack alike: JSON is converted to msgpack first. */
#ifndef TMS_CMD_H
#define TMS_CMD_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>
#include "tmsperm.h"
#include "tmsperm_schema.h"

/* Limits (TMS_ID_MAX, TMS_TEXT_MAX, TMS_LINE_MAX ...) come from the schema
 * ("limits"), generated into tmsperm_schema.h. */

/* One field's value. Strings are NUL-terminated copies owned by the command. */
typedef struct tms_field {
    const char *str;          /* NULL when absent or null */
    uint32_t len;
    uint8_t present;          /* the key was given */
    uint8_t is_null;          /* given as null (nullable_id) */
    uint16_t n;               /* number of items (lists; 3 for a login_spec) */
    struct tms_field *items;  /* list items; login_spec: [0] id, [1] name, [2] email */
} tms_field;

typedef struct tms_arena_block tms_arena_block;

typedef struct tms_cmd {
    tms_cmd_type type;
    tms_field f[TMS_FIELD_COUNT];
    tms_arena_block *arena;   /* memory behind every string and list */
} tms_cmd;

/* Initialise an empty command (no allocation). */
void tms_cmd_init(tms_cmd *cmd);
/* Release what the command owns; it may be reused after tms_cmd_init. */
void tms_cmd_free(tms_cmd *cmd);

/* Parse one JSON text. On TMS_INVALID_COMMAND a one-line reason is written to
 * why (always NUL-terminated). TMS_E_NOMEM on allocation failure. The command
 * must be initialised; on failure it holds nothing (freed). */
tms_err tms_cmd_from_json(tms_cmd *cmd, const char *text, size_t len,
                          char *why, size_t whylen);

/* Validate and load a msgpack map (from the log, or converted JSON). Same
 * contract as tms_cmd_from_json. */
tms_err tms_cmd_from_msgpack(tms_cmd *cmd, const msgpack_object *obj,
                             char *why, size_t whylen);

/* Append the canonical msgpack map of cmd (common fields, then the command's
 * fields in schema order; absent fields omitted) to pk. */
tms_err tms_cmd_pack(const tms_cmd *cmd, msgpack_packer *pk);

/* 1 when cmd may come from outside (tmsctl, tmsd): every command but the
 * engine's own records (AcknowledgeLoss). Input edges refuse the others as
 * INVALID_COMMAND with a reason in why. */
int tms_cmd_is_input(const tms_cmd *cmd, char *why, size_t whylen);

#define TMS_CMD_DIGEST_LEN 16
/* What makes a retry a retry: BLAKE2b-128 of the canonical command without
 * its request_id and origin (a retry may come from another address). */
tms_err tms_cmd_digest(const tms_cmd *cmd, uint8_t out[TMS_CMD_DIGEST_LEN]);

/* The command's name ("AddManager"). */
const char *tms_cmd_name(const tms_cmd *cmd);

/* Shorthands for the common fields. */
#define TMS_CMD_STR(c, fid) ((c)->f[fid].str)

/* 1 when s is a valid id: 1-64 bytes of [A-Za-z0-9._@-]. */
int tms_is_id(const char *s, size_t len);

/* Catalogue lookups: index of a permission / feature name, or -1. */
int tms_permission_index(const char *name);
int tms_feature_index(const char *name);

#endif
