#!/usr/bin/env python3
"""gen.py -- generate C tables from schemas/tmsperm.json.

usage: gen.py SCHEMA.json OUT_DIR
Writes OUT_DIR/tmsperm_schema.h and OUT_DIR/tmsperm_schema.c. The schema is the
single source of truth for the vocabulary; nothing in C restates it by hand.
"""
import json, os, re, sys

def cname(s):
    return re.sub(r'[^A-Za-z0-9]', '_', re.sub(r'(?<=[a-z])(?=[A-Z])', '_', s)).upper()

def cstr(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'

def main():
    schema_path, out = sys.argv[1], sys.argv[2]
    with open(schema_path) as f:
        s = json.load(f)
    perms, feats, cmds, errs = s["permissions"], s["features"], s["commands"], s["errors"]
    if len(perms) > 64 or len(feats) > 64:
        sys.exit("gen.py: the projections store catalogues as 64-bit sets; split before exceeding 64")
    types = list(s["field_types"].keys())
    pidx = {p["name"]: i for i, p in enumerate(perms)}
    fields = []
    for fd in s["common_fields"] + [fd for c in cmds for fd in c["fields"]]:
        if fd["name"] not in fields:
            fields.append(fd["name"])
    h, c = [], []
    h.append("/* tmsperm_schema.h -- GENERATED from schemas/tmsperm.json by schemas/gen.py.")
    h.append(" * Do not edit: change the schema. Enums, names and catalogues of tmsperm. */")
    h.append("#ifndef TMSPERM_SCHEMA_H\n#define TMSPERM_SCHEMA_H\n#include <stdint.h>\n")
    h.append("#define TMS_SCHEMA_VERSION %d\n" % s["schema_version"])
    h.append("/* Limits (schemas/tmsperm.json \"limits\"). */")
    for k, v in s["limits"].items():
        if k != "comment":
            h.append("#define TMS_%s %d" % (cname(k), v))
    h.append("")
    h.append("/* Kinds of accounts and objects, by the letter the projection keys use. */")
    for k in s["kinds"]:
        h.append("#define TMS_KIND_%s '%s'" % (cname(k["name"]), k["letter"]))
    h.append("#define TMS_KIND_COUNT %d" % len(s["kinds"]))
    h.append("typedef struct tms_kind_def { const char *name; char letter; int account, object; } tms_kind_def;")
    h.append("extern const tms_kind_def tms_kinds[TMS_KIND_COUNT];")
    h.append("/* \"extension\" -> 'e'; 0 for an unknown name (NULL too). */")
    h.append("char tms_kind_of(const char *name);")
    h.append("/* 'e' -> \"extension\"; \"?\" for an unknown letter. */")
    h.append("const char *tms_kind_name(char letter);\n")
    h.append('#include "tmsperm_errors.h"\n')
    # The error codes: the only part of the vocabulary the public headers
    # (tmsperm.h, tmsclient.h) need; installed with them.
    e_h = ["/* tmsperm_errors.h -- GENERATED from schemas/tmsperm.json by schemas/gen.py.",
           " * Do not edit: change the schema. The error codes of tmsperm (public API). */",
           "#ifndef TMSPERM_ERRORS_H\n#define TMSPERM_ERRORS_H\n",
           "/* Every error code; values are stable (schema order, append-only). */",
           "typedef enum tms_err {\n    TMS_OK = 0,"]
    for i, e in enumerate(errs):
        e_h.append("    TMS_%s = %d," % (e["code"], i + 1))
    e_h.append("} tms_err;\n#define TMS_ERR_COUNT %d\n\n#endif" % (len(errs) + 1))
    h.append("typedef enum tms_cmd_type {")
    for i, cm in enumerate(cmds):
        h.append("    TMS_CMD_%s = %d," % (cname(cm["name"]), i))
    h.append("} tms_cmd_type;\n#define TMS_CMD_COUNT %d\n" % len(cmds))
    h.append("typedef enum tms_field_id {")
    for i, fn in enumerate(fields):
        h.append("    TMS_F_%s = %d," % (cname(fn), i))
    h.append("} tms_field_id;\n#define TMS_FIELD_COUNT %d\n" % len(fields))
    h.append("typedef enum tms_field_type {")
    for i, t in enumerate(types):
        h.append("    TMS_T_%s = %d," % (cname(t), i))
    h.append("} tms_field_type;\n")
    h.append("/* Permission bit positions (catalogue order). */")
    for i, p in enumerate(perms):
        h.append("#define TMS_P_%s %d" % (cname(p["name"]), i))
    h.append("#define TMS_PERM_COUNT %d" % len(perms))
    for i, ft in enumerate(feats):
        h.append("#define TMS_FEAT_%s %d" % (cname(ft["name"]), i))
    h.append("#define TMS_FEATURE_COUNT %d\n" % len(feats))
    mmask = sum(1 << i for i, p in enumerate(perms) if p["manager"])
    emask = sum(1 << i for i, p in enumerate(perms) if p["extension"])
    h.append("#define TMS_PERMS_MANAGER_MASK UINT64_C(0x%016x)" % mmask)
    h.append("#define TMS_PERMS_EXTENSION_MASK UINT64_C(0x%016x)\n" % emask)
    h.append("""typedef struct tms_field_def {
    const char *name;     /* JSON / msgpack key */
    unsigned name_len;
    tms_field_id field;   /* slot in tms_cmd.f[] */
    tms_field_type type;
    int required;
} tms_field_def;

typedef struct tms_cmd_def {
    const char *name;             /* "AddManager" */
    unsigned name_len;
    int menu_perm;                /* R21: permission a manager needs, -1 if none */
    int admin_only;               /* only the PBX Admin may issue it */
    int engine_only;              /* written by the engine itself, never accepted as input */
    int nfields;
    const tms_field_def *fields;  /* command-specific fields */
    int one_of[2];                /* exactly one of these two fields, or -1 -1 */
    int disjoint[2];              /* two name lists that may not share a name, or -1 -1 */
} tms_cmd_def;

typedef struct tms_catalogue_entry {
    const char *name;
    int manager, extension;       /* account types that may hold it */
} tms_catalogue_entry;

extern const tms_cmd_def tms_cmd_defs[TMS_CMD_COUNT];
extern const tms_field_def tms_common_fields[];
extern const int tms_common_field_count;
extern const char *const tms_field_names[TMS_FIELD_COUNT];
extern const tms_catalogue_entry tms_permissions[TMS_PERM_COUNT];
extern const tms_catalogue_entry tms_features[TMS_FEATURE_COUNT];
extern const uint8_t tms_permissions_by_name[TMS_PERM_COUNT];  /* indices sorted by name */
extern const uint8_t tms_features_by_name[TMS_FEATURE_COUNT];
extern const char *const tms_err_codes[TMS_ERR_COUNT];   /* "NOT_OWNER"; [0] = "OK" */
extern const char *const tms_err_texts[TMS_ERR_COUNT];
extern const int tms_err_is_domain[TMS_ERR_COUNT];       /* a verdict code, not an engine fault */
""")
    wire = s["wire"]
    h.append("/* tmsd protocol (schemas/tmsperm.json \"wire\") */")
    h.append("#define TMS_WIRE_PROTOCOL_VERSION %d" % wire["version"])
    h.append("#define TMS_WIRE_MAX_FRAME %du   /* default payload limit */" % wire["max_frame_bytes"])
    h.append("typedef enum tms_wire_op {")
    for i, o in enumerate(wire["ops"]):
        h.append("    TMS_OP_%s = %d," % (cname(o["op"]), i))
    h.append("} tms_wire_op;\n#define TMS_OP_COUNT %d" % len(wire["ops"]))
    h.append("typedef struct tms_wire_op_def { const char *name; int right; } tms_wire_op_def;")
    h.append("enum { TMS_RIGHT_NONE = 0, TMS_RIGHT_LOOKUP = 1, TMS_RIGHT_SUBMIT = 2, TMS_RIGHT_ADMIN = 3 };")
    h.append("extern const tms_wire_op_def tms_wire_ops[TMS_OP_COUNT];\n")
    h.append("#endif")
    c.append("/* tmsperm_schema.c -- GENERATED from schemas/tmsperm.json by schemas/gen.py. */")
    c.append('#include "tmsperm_schema.h"')
    c.append('#include <string.h>\n')
    c.append("const tms_kind_def tms_kinds[TMS_KIND_COUNT] = {" + ", ".join(
        "{%s, '%s', %d, %d}" % (cstr(k["name"]), k["letter"], int(k["account"]), int(k["object"])) for k in s["kinds"]) + "};\n")
    c.append("""char tms_kind_of(const char *name)
{
    for (int i = 0; name && i < TMS_KIND_COUNT; i++)
        if (!strcmp(name, tms_kinds[i].name))
            return tms_kinds[i].letter;
    return 0;
}

const char *tms_kind_name(char letter)
{
    for (int i = 0; i < TMS_KIND_COUNT; i++)
        if (tms_kinds[i].letter == letter)
            return tms_kinds[i].name;
    return "?";
}
""")
    def fdefs(name, lst):
        c.append("static const tms_field_def %s[] = {" % name if not name.startswith("tms_common") else
                 "const tms_field_def %s[] = {" % name)
        for fd in lst:
            c.append("    {%s, %d, TMS_F_%s, TMS_T_%s, %d}," % (cstr(fd["name"]), len(fd["name"]), cname(fd["name"]),
                                                        cname(fd["type"]), 1 if fd["required"] else 0))
        c.append("    {0, 0, 0, 0, 0}\n};")
    fdefs("tms_common_fields", s["common_fields"])
    c.append("const int tms_common_field_count = %d;\n" % len(s["common_fields"]))
    for cm in cmds:
        fdefs("fields_%s" % cname(cm["name"]).lower(), cm["fields"])
    c.append("\nconst tms_cmd_def tms_cmd_defs[TMS_CMD_COUNT] = {")
    for cm in cmds:
        menu = cm["menu"]
        if menu is not None and menu not in pidx:
            sys.exit("gen.py: %s names unknown menu permission %s" % (cm["name"], menu))
        pair = lambda key: ", ".join("TMS_F_" + cname(x) for x in cm[key]) if cm.get(key) else "-1, -1"
        c.append("    {%s, %d, %d, %d, %d, %d, fields_%s, {%s}, {%s}}," % (cstr(cm["name"]), len(cm["name"]), pidx[menu] if menu else -1,
                 1 if cm["admin_only"] else 0, 1 if cm.get("engine_only") else 0, len(cm["fields"]), cname(cm["name"]).lower(),
                 pair("exactly_one_of"), pair("disjoint")))
    c.append("};\n")
    c.append("const char *const tms_field_names[TMS_FIELD_COUNT] = {" + ", ".join(cstr(f) for f in fields) + "};\n")
    c.append("const tms_catalogue_entry tms_permissions[TMS_PERM_COUNT] = {")
    for p in perms:
        c.append("    {%s, %d, %d}," % (cstr(p["name"]), int(p["manager"]), int(p["extension"])))
    c.append("};\nconst tms_catalogue_entry tms_features[TMS_FEATURE_COUNT] = {")
    for ft in feats:
        c.append("    {%s, 0, 1}," % cstr(ft["name"]))
    c.append("};\n")
    for tab, lst in (("tms_permissions_by_name", perms), ("tms_features_by_name", feats)):
        order = sorted(range(len(lst)), key=lambda i: lst[i]["name"].encode())
        c.append("const uint8_t %s[] = {%s};" % (tab, ", ".join(map(str, order))))
    c.append("const char *const tms_err_codes[TMS_ERR_COUNT] = {\"OK\", " + ", ".join(cstr(e["code"]) for e in errs) + "};")
    c.append("const char *const tms_err_texts[TMS_ERR_COUNT] = {\"success\",\n    " +
             ",\n    ".join(cstr(e["text"]) for e in errs) + "};")
    c.append("const int tms_err_is_domain[TMS_ERR_COUNT] = {0, " + ", ".join("1" if e["domain"] else "0" for e in errs) + "};")
    rights = {"none": "TMS_RIGHT_NONE", "lookup": "TMS_RIGHT_LOOKUP", "submit": "TMS_RIGHT_SUBMIT", "admin": "TMS_RIGHT_ADMIN"}
    c.append("const tms_wire_op_def tms_wire_ops[TMS_OP_COUNT] = {" +
             ", ".join("{%s, %s}" % (cstr(o["op"]), rights[o["right"]]) for o in s["wire"]["ops"]) + "};")
    os.makedirs(out, exist_ok=True)
    for name, lines in (("tmsperm_schema.h", h), ("tmsperm_schema.c", c), ("tmsperm_errors.h", e_h)):
        tmp = os.path.join(out, name + ".tmp")
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, os.path.join(out, name))

if __name__ == "__main__":
    main()
