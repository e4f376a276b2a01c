/* cmd.c -- parse, validate and canonically encode commands.
 * JSON from the command line is converted to msgpack and then goes through
 * the same schema-driven validator as records replayed from the log, so the
 * two can never disagree about what a well-formed command is. */
#include "cmd_internal.h"
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tms_arena_block {
    tms_arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

void tms_cmd_init(tms_cmd *cmd)
{
    memset(cmd, 0, sizeof *cmd);
}

void tms_cmd_free(tms_cmd *cmd)
{
    tms_arena_block *b = cmd->arena;
    while (b) {
        tms_arena_block *next = b->next;
        free(b);
        b = next;
    }
    tms_cmd_init(cmd);
}

/* Forget the command's contents but keep one arena block for the next parse
 * (replay decodes millions of commands into the same tms_cmd). */
static void cmd_reset(tms_cmd *cmd)
{
    tms_arena_block *keep = cmd->arena;
    if (keep) {
        tms_arena_block *b = keep->next;
        while (b) {
            tms_arena_block *next = b->next;
            free(b);
            b = next;
        }
        keep->next = NULL;
        keep->used = 0;
    }
    memset(cmd, 0, sizeof *cmd);
    cmd->arena = keep;
}

static void *arena_alloc(tms_cmd *cmd, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    tms_arena_block *b = cmd->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = cmd->arena;
        cmd->arena = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void tms__say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && whylen)
        vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

int tms_is_id(const char *s, size_t len)
{
    if (len < 1 || len > TMS_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '-'))
            return 0;
    }
    return 1;
}

static int is_text(const char *s, size_t len, size_t min, size_t max)
{
    if (len < min || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

static int lookup(const char *name, const tms_catalogue_entry *tab, const uint8_t *order, int n)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(name, tab[order[mid]].name);
        if (c == 0)
            return order[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

int tms_permission_index(const char *name)
{
    return lookup(name, tms_permissions, tms_permissions_by_name, TMS_PERM_COUNT);
}

int tms_feature_index(const char *name)
{
    return lookup(name, tms_features, tms_features_by_name, TMS_FEATURE_COUNT);
}

int tms_cmd_is_input(const tms_cmd *cmd, char *why, size_t whylen)
{
    if (!tms_cmd_defs[cmd->type].engine_only)
        return 1;
    tms__say(why, whylen, "%s is written by the engine only (tmsctl accept-loss), never submitted", tms_cmd_name(cmd));
    return 0;
}

const char *tms_cmd_name(const tms_cmd *cmd)
{
    return tms_cmd_defs[cmd->type].name;
}

/* ---- msgpack validation ------------------------------------------------ */

static int str_eq(const msgpack_object_str *s, const char *lit)
{
    size_t n = strlen(lit);
    return s->size == n && memcmp(s->ptr, lit, n) == 0;
}

static const char *copy_str(tms_cmd *cmd, const msgpack_object_str *s)
{
    char *p = arena_alloc(cmd, s->size + 1);
    if (p) {
        memcpy(p, s->ptr, s->size);
        p[s->size] = '\0';
    }
    return p;
}

/* Check one string against a scalar type; fills out. 0 ok, -1 invalid, -2 nomem. */
static int load_scalar(tms_cmd *cmd, tms_field_type t, const msgpack_object *o, tms_field *out,
                       const char *name, char *why, size_t whylen)
{
    if (t == TMS_T_NULLABLE_ID && o->type == MSGPACK_OBJECT_NIL) {
        out->present = out->is_null = 1;
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_STR) {
        tms__say(why, whylen, "field '%s' must be a string", name);
        return -1;
    }
    const msgpack_object_str *s = &o->via.str;
    int ok;
    switch (t) {
    case TMS_T_ID: case TMS_T_NULLABLE_ID: ok = tms_is_id(s->ptr, s->size); break;
    case TMS_T_TEXT: ok = is_text(s->ptr, s->size, 0, TMS_TEXT_MAX); break;
    case TMS_T_TOKEN: ok = is_text(s->ptr, s->size, 1, TMS_TOKEN_MAX); break;
    case TMS_T_OBJECT_KIND:
        ok = str_eq(s, "extension") || str_eq(s, "queue") || str_eq(s, "campaign"); break;
    case TMS_T_ACCOUNT_KIND: ok = str_eq(s, "extension") || str_eq(s, "manager"); break;
    default: ok = is_text(s->ptr, s->size, 1, TMS_NAME_MAX); break; /* list items of name_list */
    }
    if (!ok) {
        if (t == TMS_T_ID || t == TMS_T_NULLABLE_ID)
            tms__say(why, whylen, "field '%s' must be an id: 1-64 bytes of [A-Za-z0-9._@-]", name);
        else if (t == TMS_T_OBJECT_KIND)
            tms__say(why, whylen, "field '%s' must be extension, queue or campaign", name);
        else if (t == TMS_T_ACCOUNT_KIND)
            tms__say(why, whylen, "field '%s' must be manager or extension", name);
        else
            tms__say(why, whylen, "field '%s' has a bad length or a control character", name);
        return -1;
    }
    out->present = 1;
    out->len = s->size;
    out->str = copy_str(cmd, s);
    return out->str ? 0 : -2;
}

static int load_list(tms_cmd *cmd, tms_field_type t, const msgpack_object *o, tms_field *out,
                     const char *name, char *why, size_t whylen)
{
    size_t max = t == TMS_T_ID_LIST ? TMS_ID_LIST_MAX : TMS_NAME_LIST_MAX;
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        tms__say(why, whylen, "field '%s' must be an array", name);
        return -1;
    }
    if (o->via.array.size > max) {
        tms__say(why, whylen, "field '%s' has more than %zu items", name, max);
        return -1;
    }
    out->present = 1;
    out->n = (uint16_t)o->via.array.size;
    out->items = arena_alloc(cmd, sizeof(tms_field) * (out->n ? out->n : 1));
    if (!out->items)
        return -2;
    memset(out->items, 0, sizeof(tms_field) * out->n);
    tms_field_type item = t == TMS_T_ID_LIST ? TMS_T_ID : TMS_T_NAME_LIST;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        int rc = load_scalar(cmd, item, &o->via.array.ptr[i], &out->items[i], name, why, whylen);
        if (rc)
            return rc;
    }
    return 0;
}

static const char *const login_spec_keys[3] = {"id", "name", "email"};

static int load_login_spec(tms_cmd *cmd, const msgpack_object *o, tms_field *out,
                           const char *name, char *why, size_t whylen)
{
    if (o->type != MSGPACK_OBJECT_MAP) {
        tms__say(why, whylen, "field '%s' must be an object {id, name?, email?}", name);
        return -1;
    }
    out->present = 1;
    out->n = 3;
    out->items = arena_alloc(cmd, sizeof(tms_field) * 3);
    if (!out->items)
        return -2;
    memset(out->items, 0, sizeof(tms_field) * 3);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        int k = -1;
        for (int j = 0; j < 3 && kv->key.type == MSGPACK_OBJECT_STR; j++)
            if (str_eq(&kv->key.via.str, login_spec_keys[j]))
                k = j;
        if (k < 0) {
            tms__say(why, whylen, "field '%s' has an unknown key", name);
            return -1;
        }
        if (out->items[k].present) {
            tms__say(why, whylen, "field '%s' repeats key '%s'", name, login_spec_keys[k]);
            return -1;
        }
        int rc = load_scalar(cmd, k == 0 ? TMS_T_ID : TMS_T_TEXT, &kv->val, &out->items[k],
                             login_spec_keys[k], why, whylen);
        if (rc)
            return rc;
    }
    if (!out->items[0].present) {
        tms__say(why, whylen, "field '%s' needs an 'id'", name);
        return -1;
    }
    return 0;
}

static int load_field(tms_cmd *cmd, const tms_field_def *fd, const msgpack_object *val,
                      char *why, size_t whylen)
{
    tms_field *out = &cmd->f[fd->field];
    if (out->present) {
        tms__say(why, whylen, "duplicate key '%s'", fd->name);
        return -1;
    }
    switch (fd->type) {
    case TMS_T_ID_LIST: case TMS_T_NAME_LIST:
        return load_list(cmd, fd->type, val, out, fd->name, why, whylen);
    case TMS_T_LOGIN_SPEC:
        return load_login_spec(cmd, val, out, fd->name, why, whylen);
    default:
        return load_scalar(cmd, fd->type, val, out, fd->name, why, whylen);
    }
}

static int def_eq(const msgpack_object_str *key, const char *name, unsigned len)
{
    return key->size == len && memcmp(key->ptr, name, len) == 0;
}

static const tms_field_def *find_def(const tms_cmd_def *def, const msgpack_object_str *key)
{
    for (int i = 0; i < tms_common_field_count; i++)
        if (def_eq(key, tms_common_fields[i].name, tms_common_fields[i].name_len))
            return &tms_common_fields[i];
    for (int i = 0; i < def->nfields; i++)
        if (def_eq(key, def->fields[i].name, def->fields[i].name_len))
            return &def->fields[i];
    return NULL;
}

static int find_cmd_type(const msgpack_object *map, char *why, size_t whylen)
{
    const msgpack_object *name = NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && str_eq(&kv->key.via.str, "cmd"))
            name = &kv->val;
    }
    if (!name) {
        tms__say(why, whylen, "missing field 'cmd'");
        return -1;
    }
    for (int t = 0; name->type == MSGPACK_OBJECT_STR && t < TMS_CMD_COUNT; t++)
        if (def_eq(&name->via.str, tms_cmd_defs[t].name, tms_cmd_defs[t].name_len))
            return t;
    tms__say(why, whylen, "unknown cmd");
    return -1;
}

/* Whole-command constraints from the schema: required, exactly_one_of, disjoint. */
static int check_constraints(const tms_cmd *cmd, const tms_cmd_def *def, char *why, size_t whylen)
{
    for (int i = 0; i < tms_common_field_count; i++)
        if (tms_common_fields[i].required && !cmd->f[tms_common_fields[i].field].present) {
            tms__say(why, whylen, "missing field '%s'", tms_common_fields[i].name);
            return -1;
        }
    for (int i = 0; i < def->nfields; i++)
        if (def->fields[i].required && !cmd->f[def->fields[i].field].present) {
            tms__say(why, whylen, "missing field '%s' for %s", def->fields[i].name, def->name);
            return -1;
        }
    if (def->one_of[0] >= 0 && cmd->f[def->one_of[0]].present == cmd->f[def->one_of[1]].present) {
        tms__say(why, whylen, "%s needs exactly one of '%s' and '%s'", def->name,
            tms_field_names[def->one_of[0]], tms_field_names[def->one_of[1]]);
        return -1;
    }
    if (def->disjoint[0] >= 0) {
        const tms_field *a = &cmd->f[def->disjoint[0]], *b = &cmd->f[def->disjoint[1]];
        for (int i = 0; i < a->n; i++)
            for (int j = 0; j < b->n; j++)
                if (strcmp(a->items[i].str, b->items[j].str) == 0) {
                    tms__say(why, whylen, "'%s' is both in '%s' and '%s'", a->items[i].str,
                        tms_field_names[def->disjoint[0]], tms_field_names[def->disjoint[1]]);
                    return -1;
                }
    }
    return 0;
}

tms_err tms_cmd_from_msgpack(tms_cmd *cmd, const msgpack_object *obj, char *why, size_t whylen)
{
    int rc = -1;
    cmd_reset(cmd);
    if (obj->type != MSGPACK_OBJECT_MAP) {
        tms__say(why, whylen, "a command must be an object");
        goto fail;
    }
    int t = find_cmd_type(obj, why, whylen);
    if (t < 0)
        goto fail;
    cmd->type = (tms_cmd_type)t;
    const tms_cmd_def *def = &tms_cmd_defs[t];
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object_kv *kv = &obj->via.map.ptr[i];
        const tms_field_def *fd = kv->key.type == MSGPACK_OBJECT_STR ? find_def(def, &kv->key.via.str) : NULL;
        if (!fd) {
            if (kv->key.type == MSGPACK_OBJECT_STR)
                tms__say(why, whylen, "unknown field '%.*s' for %s", (int)(kv->key.via.str.size > 64 ? 64 : kv->key.via.str.size),
                    kv->key.via.str.ptr, def->name);
            else
                tms__say(why, whylen, "a field name must be a string");
            goto fail;
        }
        if ((rc = load_field(cmd, fd, &kv->val, why, whylen)) != 0)
            goto fail;
        rc = -1;
    }
    if (check_constraints(cmd, def, why, whylen))
        goto fail;
    return TMS_OK;
fail:
    tms_cmd_free(cmd);
    return rc == -2 ? TMS_E_NOMEM : TMS_INVALID_COMMAND;
}

/* ---- canonical encoding -------------------------------------------------- */

static void pack_cstr(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_field(msgpack_packer *pk, const tms_field_def *fd, const tms_field *v)
{
    pack_cstr(pk, fd->name, strlen(fd->name));
    if (fd->type == TMS_T_ID_LIST || fd->type == TMS_T_NAME_LIST) {
        msgpack_pack_array(pk, v->n);
        for (int i = 0; i < v->n; i++)
            pack_cstr(pk, v->items[i].str, v->items[i].len);
    } else if (fd->type == TMS_T_LOGIN_SPEC) {
        int n = 0;
        for (int i = 0; i < 3; i++)
            n += v->items[i].present;
        msgpack_pack_map(pk, n);
        for (int i = 0; i < 3; i++)
            if (v->items[i].present) {
                pack_cstr(pk, login_spec_keys[i], strlen(login_spec_keys[i]));
                pack_cstr(pk, v->items[i].str, v->items[i].len);
            }
    } else if (v->is_null) {
        msgpack_pack_nil(pk);
    } else {
        pack_cstr(pk, v->str, v->len);
    }
}

/* BLAKE2b of what a packer writes, as it writes it: pieces gathered in buf
 * (a packer hands over a few bytes at a time) and hashed a buffer at a time;
 * a piece bigger than buf is hashed as it is, after what buf holds.
 * digest_write returns 0, as msgpack-c's writers do when the bytes are
 * taken (libsodium's update cannot fail). */
typedef struct digest_sink {
    crypto_generichash_state h;
    size_t n;
    unsigned char buf[512];
} digest_sink;

static int digest_write(void *data, const char *p, size_t len)
{
    digest_sink *d = data;
    if (d->n + len > sizeof d->buf) {
        crypto_generichash_update(&d->h, d->buf, d->n);
        d->n = 0;
    }
    if (len > sizeof d->buf)
        return crypto_generichash_update(&d->h, (const unsigned char *)p, len);
    memcpy(d->buf + d->n, p, len);
    d->n += len;
    return 0;
}

tms_err tms_cmd_digest(const tms_cmd *cmd, uint8_t out[TMS_CMD_DIGEST_LEN])
{
    tms_cmd bare = *cmd;   /* shallow: the strings stay the command's */
    digest_sink d;
    msgpack_packer pk;
    bare.f[TMS_F_REQUEST_ID].present = 0;
    bare.f[TMS_F_ORIGIN].present = 0;
    d.n = 0;
    crypto_generichash_init(&d.h, NULL, 0, TMS_CMD_DIGEST_LEN);
    msgpack_packer_init(&pk, &d, digest_write);
    tms_err err = tms_cmd_pack(&bare, &pk);   /* the bytes hashed are the packing's, whole: as one hash of them */
    if (!err) {
        crypto_generichash_update(&d.h, d.buf, d.n);
        crypto_generichash_final(&d.h, out, TMS_CMD_DIGEST_LEN);
    }
    return err;
}

tms_err tms_cmd_pack(const tms_cmd *cmd, msgpack_packer *pk)
{
    const tms_cmd_def *def = &tms_cmd_defs[cmd->type];
    int n = 0;
    for (int i = 0; i < tms_common_field_count; i++)
        n += cmd->f[tms_common_fields[i].field].present;
    for (int i = 0; i < def->nfields; i++)
        n += cmd->f[def->fields[i].field].present;
    msgpack_pack_map(pk, n);
    for (int i = 0; i < tms_common_field_count; i++)
        if (cmd->f[tms_common_fields[i].field].present)
            pack_field(pk, &tms_common_fields[i], &cmd->f[tms_common_fields[i].field]);
    for (int i = 0; i < def->nfields; i++)
        if (cmd->f[def->fields[i].field].present)
            pack_field(pk, &def->fields[i], &cmd->f[def->fields[i].field]);
    return TMS_OK;
}
