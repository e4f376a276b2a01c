/* tool_report_text.c -- "tms-audit report --format text": the report model
 * (tool_report.h) as readable sections with aligned columns, one block per
 * tenant. Everything printed comes from the model, so text, JSON and HTML
 * always say the same thing. */
#include "tool_report.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- shared with the HTML rendering ------------------------------------------- */

void tool_report_target(const json_t *target, char *buf, size_t len)
{
    const char *kind = json_string_value(json_object_get(target, "kind"));
    const char *id = json_string_value(json_object_get(target, "id"));
    const json_t *ids = json_object_get(target, "ids"), *v;
    size_t i, used;
    int w = snprintf(buf, len, "%s %s", kind ? kind : "?", id ? id : "(none)");
    used = w < 0 ? 0 : (size_t)w < len ? (size_t)w : len - 1;
    json_array_foreach(ids, i, v) {
        w = snprintf(buf + used, len - used, "%s%s", i ? " " : ": ", json_string_value(v));
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}

/* ---- tables ---------------------------------------------------------------------- */

/* Append a row of n strings (NULL prints as "-") to rows. */
static void row(json_t *rows, int n, ...)
{
    va_list ap;
    json_t *r = json_array();
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);
        json_array_append_new(r, json_string(s && *s ? s : "-"));
    }
    va_end(ap);
    json_array_append_new(rows, r);
}

/* Print rows (the first is the header) with aligned columns; "  none" when
 * there is no row below the header. Consumes rows. */
static int table(json_t *rows)
{
    size_t width[16] = {0}, i, j;
    json_t *r, *c;
    int rc = 0;
    if (json_array_size(rows) < 2) {
        json_decref(rows);
        return puts("  none") < 0 ? -1 : 0;
    }
    json_array_foreach(rows, i, r)
        json_array_foreach(r, j, c)
            if (j < 16 && strlen(json_string_value(c)) > width[j])
                width[j] = strlen(json_string_value(c));
    json_array_foreach(rows, i, r) {
        size_t n = json_array_size(r);
        json_array_foreach(r, j, c)
            if (printf("  %-*s", j + 1 < n && j < 16 ? (int)width[j] : 0, json_string_value(c)) < 0)
                rc = -1;
        if (putchar('\n') == EOF)
            rc = -1;
    }
    json_decref(rows);
    return rc;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char *num(const json_t *o, const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "%lld", (long long)json_integer_value(json_object_get(o, key)));
    return buf;
}

/* "A B C" of a JSON array of strings, or of an object's "CODE n" pairs. */
static const char *joined(const json_t *v, char *buf, size_t len)
{
    size_t used = 0, i;
    const char *k;
    json_t *x;
    buf[0] = '\0';
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            int w = snprintf(buf + used, len - used, "%s%s", used ? " " : "", json_string_value(x));
            if (w < 0 || (size_t)w >= len - used)
                break;
            used += (size_t)w;
        }
    } else {
        json_object_foreach((json_t *)v, k, x) {
            int w = snprintf(buf + used, len - used, "%s%s %lld", used ? ", " : "", k, (long long)json_integer_value(x));
            if (w < 0 || (size_t)w >= len - used)
                break;
            used += (size_t)w;
        }
    }
    return buf;
}

/* ---- sections ------------------------------------------------------------------- */

static int activity(const json_t *t)
{
    json_t *rows = json_array(), *a;
    char n1[24], n2[24], codes[2048];
    size_t i;
    row(rows, 4, "actor", "accepted", "rejected", "rejected by code");
    json_array_foreach(json_object_get(t, "activity"), i, a)
        row(rows, 4, str(a, "actor"), num(a, "accepted", n1, sizeof n1), num(a, "rejected", n2, sizeof n2),
            joined(json_object_get(a, "rejected_by_code"), codes, sizeof codes));
    return puts("\nActivity per actor") < 0 ? -1 : table(rows);
}

static int rejected(const json_t *t)
{
    json_t *rows = json_array(), *a;
    char seq[24];
    static char target[1 << 20];   /* an AssignRole of 4096 ids of 64 bytes fits whole */
    size_t i;
    /* actor: who the command says it is; principal and peer: who tmsd authenticated, and from where */
    row(rows, 10, "seq", "time", "actor", "principal", "peer", "command", "target", "error", "origin", "message");
    json_array_foreach(json_object_get(t, "rejected_attempts"), i, a) {
        tool_report_target(json_object_get(a, "target"), target, sizeof target);
        row(rows, 10, num(a, "seq", seq, sizeof seq), str(a, "time"), str(a, "actor"), str(a, "principal"),
            str(a, "peer"), str(a, "cmd"), target, str(a, "error"), str(a, "origin"), str(a, "message"));
    }
    return puts("\nRejected attempts (PCI DSS 10.2/10.3)") < 0 ? -1 : table(rows);
}

static int ceiling(const json_t *t)
{
    json_t *rows = json_array(), *a;
    char above[128], perms[2048];
    size_t i;
    row(rows, 4, "kind", "id", "above it", "holds, and the manager above lacks");
    json_array_foreach(json_object_get(t, "ceiling_exceptions"), i, a) {
        snprintf(above, sizeof above, "%s %s", str(a, "relation"), str(a, "manager"));
        row(rows, 4, str(a, "kind"), str(a, "id"), above, joined(json_object_get(a, "permissions"), perms, sizeof perms));
    }
    return puts("\nCeiling exceptions (R11)") < 0 ? -1 : table(rows);
}

static int privileged(const json_t *t)
{
    json_t *rows = json_array(), *a;
    char seq[24];
    size_t i;
    row(rows, 9, "seq", "time", "actor", "principal", "command", "account", "changed", "before", "after");
    json_array_foreach(json_object_get(t, "privileged_changes"), i, a)
        row(rows, 9, num(a, "seq", seq, sizeof seq), str(a, "time"), str(a, "actor"), str(a, "by"), str(a, "command"),
            str(a, "subject"), str(a, "change"), str(a, "before"), str(a, "after"));
    return puts("\nPrivileged changes (PCI DSS 10.2)") < 0 ? -1 : table(rows);
}

static int access_review(const json_t *t)
{
    json_t *rows = json_array(), *a;
    static char perms[1 << 14], feats[1 << 14];
    size_t i;
    row(rows, 5, "kind", "id", "role", "permissions", "features");
    json_array_foreach(json_object_get(t, "access_review"), i, a)
        row(rows, 5, str(a, "kind"), str(a, "id"), str(a, "role"), joined(json_object_get(a, "permissions"), perms, sizeof perms),
            json_object_get(a, "features") ? joined(json_object_get(a, "features"), feats, sizeof feats) : "-");
    return puts("\nAccess review (PCI DSS 7.2.4)") < 0 ? -1 : table(rows);
}

static int roles(const json_t *t)
{
    json_t *rows = json_array(), *a;
    char n1[24], n2[24];
    size_t i;
    row(rows, 4, "role", "account type", "holders", "went Custom in the range");
    json_array_foreach(json_object_get(t, "roles"), i, a)
        row(rows, 4, str(a, "role"), json_is_true(json_object_get(a, "exists")) ? str(a, "account_type") : "(deleted)",
            num(a, "holders", n1, sizeof n1), num(a, "went_custom", n2, sizeof n2));
    return puts("\nRoles") < 0 ? -1 : table(rows);
}

static int id_list(const char *title, const json_t *arr)
{
    static char buf[1 << 16];
    return printf("\n%s (%zu): %s\n", title, json_array_size(arr),
                  json_array_size(arr) ? joined(arr, buf, sizeof buf) : "none") < 0 ? -1 : 0;
}

static int tenant(const json_t *t)
{
    char n1[24], n2[24];
    const char *admin = str(t, "admin");
    int rc = printf("\n== tenant %s (%s%s) ==\n%s accepted, %s rejected in the range\n", str(t, "tenant"),
                    admin ? "PBX Admin: " : "", admin ? admin : "no such tenant at the end of the range", num(t, "accepted", n1, sizeof n1),
                    num(t, "rejected", n2, sizeof n2)) < 0;
    rc |= activity(t) | rejected(t) | privileged(t) | ceiling(t);
    rc |= id_list("Extensions without a login (red icon)", json_object_get(t, "extensions_without_login"));
    rc |= id_list("Extensions without an owner", json_object_get(t, "extensions_without_owner"));
    rc |= roles(t) | access_review(t);
    return rc ? -1 : 0;
}

int tool_report_text(const json_t *model)
{
    const json_t *r = json_object_get(model, "range"), *t;
    char n[5][24];
    size_t i;
    int rc = 0;
    if (json_integer_value(json_object_get(r, "records")))
        rc |= printf("tms-audit report: seqs %s-%s (%s records: %s accepted, %s rejected), %s to %s\n",
                     num(r, "first_seq", n[0], 24), num(r, "last_seq", n[1], 24), num(r, "records", n[2], 24),
                     num(r, "accepted", n[3], 24), num(r, "rejected", n[4], 24), str(r, "first_time"),
                     str(r, "last_time")) < 0;
    else
        rc |= puts("tms-audit report: no record in the range") < 0;
    rc |= printf("state at the end of the range: after seq %s%s%s\n", num(r, "state_seq", n[0], 24),
                 str(r, "state_time") ? " " : "", str(r, "state_time") ? str(r, "state_time") : "") < 0;
    const json_t *v = json_object_get(model, "verification");
    if (v)
        rc |= printf("log verified while replaying (checksums and hash chain): %s records, head %s; generated %s by %s\n",
                     num(v, "records", n[0], 24), str(v, "head"), str(v, "generated_at"), str(v, "tool")) < 0;
    json_array_foreach(json_object_get(model, "tenants"), i, t)
        rc |= tenant(t);
    return rc ? -1 : 0;
}
