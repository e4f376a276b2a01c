/* tool_report_html.c -- "tms-audit report --format html": the report model
 * as ONE self-contained page: inline CSS, no script, no external asset (a
 * Content-Security-Policy of default-src 'none' says so to the browser),
 * the sections as tables and, per tenant, a timeline of accepted and
 * rejected records drawn as inline SVG. Every string is HTML-escaped. */
#include "tool_report.h"
#include <stdio.h>
#include <string.h>

#define HOUR_NS INT64_C(3600000000000)
#define TARGET_SHOWN 160   /* characters of a rejected attempt's target shown in its cell */

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "margin:0;color:#1d2733;background:#f3f5f8}"
    "header{background:#1d3557;color:#fff;padding:16px 32px}header h1{margin:0 0 4px;font-size:22px}"
    "header p{margin:2px 0;color:#d7e1ee}main{padding:4px 32px 32px;max-width:1280px}"
    "nav{margin:14px 0}nav a{margin-right:14px;color:#1d3557}"
    "section.tenant{background:#fff;border:1px solid #d5dce5;border-radius:6px;padding:6px 22px 18px;margin:18px 0}"
    "h2{font-size:19px;margin:12px 0 2px}h3{font-size:15px;margin:18px 0 4px;color:#1d3557}"
    "p.sum{margin:0 0 8px;color:#4a5664}"
    "table{border-collapse:collapse;min-width:50%;max-width:100%;font-size:13px}"
    "th,td{border-bottom:1px solid #e4e9ef;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}"
    "th{background:#eef2f7;font-weight:600;white-space:nowrap}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td.t,td.c{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}"
    "td{max-width:36em}section.tenant{overflow-x:auto}"
    ".stamp{background:#e8f3ec;border:1px solid #b9dcc5;border-radius:6px;padding:8px 14px;margin:14px 0;"
    "overflow-wrap:anywhere}.stamp b{color:#1f7a3a}"
    ".err{color:#b32424;font-weight:600}td.err{white-space:nowrap}.none{color:#6b7785;font-style:italic;margin:2px 0}"
    ".ok{color:#1f7a3a}.ids{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}"
    "svg{display:block;max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#4a5664}";

/* ---- escaping -------------------------------------------------------------------- */

static void esc(const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", stdout); break;
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        case '\'': fputs("&#39;", stdout); break;
        default: putchar(*s); break;
        }
    }
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static long long num(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* <td class="cls">escaped s</td> ("-" when NULL). A time (class t) may
 * break after its date: narrow pages keep their tables. */
static void td(const char *cls, const char *s)
{
    const char *t = cls && !strcmp(cls, "t") && s ? strchr(s, 'T') : NULL;
    printf("<td%s%s%s>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    if (t) {
        char date[64];
        snprintf(date, sizeof date, "%.*s", (int)(t - s), s);
        esc(date);
        fputs("<wbr>", stdout);
        esc(t);
    } else {
        esc(s ? s : "-");
    }
    fputs("</td>", stdout);
}

static void td_num(long long v)
{
    printf("<td class=\"n\">%lld</td>", v);
}

/* A table's head; align holds one letter per column, 'n' for numbers. */
static void thead(const char *const *cols, const char *align)
{
    fputs("<table><thead><tr>", stdout);
    for (size_t i = 0; align[i]; i++) {
        fputs(align[i] == 'n' ? "<th class=\"n\">" : "<th>", stdout);
        esc(cols[i]);
        fputs("</th>", stdout);
    }
    fputs("</tr></thead><tbody>\n", stdout);
}

static int none(const json_t *arr, const char *what)
{
    if (json_array_size(arr))
        return 0;
    printf("<p class=\"none\">%s</p>\n", what);
    return 1;
}

/* ---- the timeline chart ------------------------------------------------------------ */

enum { W = 760, H = 210, ML = 52, MR = 14, MT = 26, MB = 34 };

typedef struct chart {
    int64_t first, unit;            /* first bucket's start and bucket length, ns */
    long long n, ymax;              /* buckets; top of the y axis */
    int day;
} chart;

static void bucket_label(const chart *c, int64_t start, char *buf, size_t len)
{
    char t[TOOL_TIME_MAX];
    tool_time_format(start, t);
    snprintf(buf, len, "%.*s%s%.*s", 10, t, c->day ? "" : " ", c->day ? 0 : 5, t + 11);
}

/* The top of the y axis: 2, 4, 6, 8 or 10 times a power of ten, so that its
 * half (the middle grid line) is a whole number. */
static long long nice_max(long long v)
{
    for (long long m = 1;; m *= 10)
        for (long long k = 2; k <= 10; k += 2)
            if (v <= k * m)
                return k * m;
}

static void axes(const chart *c, const char *unit)
{
    char lab[48];
    for (int i = 0; i <= 2; i++) {
        double y = MT + (H - MT - MB) * (1.0 - i / 2.0);
        printf("<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#dde3ea\"/>"
               "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%lld</text>\n",
               ML, y, W - MR, y, ML - 6, y + 4, c->ymax * i / 2);
    }
    printf("<text x=\"%d\" y=\"14\">records per %s (UTC)</text>\n", ML, unit);
    printf("<rect x=\"%d\" y=\"5\" width=\"10\" height=\"10\" fill=\"#3b7dd8\"/><text x=\"%d\" y=\"14\">accepted</text>"
           "<rect x=\"%d\" y=\"5\" width=\"10\" height=\"10\" fill=\"#d64545\"/><text x=\"%d\" y=\"14\">rejected</text>\n",
           W - 170, W - 156, W - 86, W - 72);
    /* every bucket labelled when they are few (<= 6); else the first, the middle and the last */
    long long marks[6] = {0, (c->n - 1) / 2, c->n - 1};
    int nm = c->n <= 6 ? (int)c->n : 3;
    for (int i = 0; c->n <= 6 && i < nm; i++)
        marks[i] = i;
    for (int i = 0; i < nm; i++) {
        double x = ML + (W - ML - MR) * (marks[i] + 0.5) / (double)c->n;
        const char *anchor = c->n <= 6 ? "middle" : i == 0 ? "start" : i == 2 ? "end" : "middle";
        bucket_label(c, c->first + marks[i] * c->unit, lab, sizeof lab);
        printf("<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>\n", x, H - MB + 16, anchor, lab);
    }
}

static void bar(const chart *c, const json_t *b)
{
    int64_t start;
    char lab[48];
    if (tool_time_parse(str(b, "start"), &start))
        return;
    long long i = (start - c->first) / c->unit, acc = num(b, "accepted"), rej = num(b, "rejected");
    double slot = (W - ML - MR) / (double)c->n, w = slot * 0.8 > 40 ? 40 : slot * 0.8;
    double x = ML + slot * i + (slot - w) / 2, ph = H - MT - MB;
    double ha = ph * (double)acc / (double)c->ymax, hr = ph * (double)rej / (double)c->ymax;
    if (w < 0.5)
        w = 0.5;
    bucket_label(c, start, lab, sizeof lab);
    printf("<g><title>%s: %lld accepted, %lld rejected</title>", lab, acc, rej);
    printf("<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#3b7dd8\"/>", x, H - MB - ha, w, ha);
    if (rej)
        printf("<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#d64545\"/>", x, H - MB - ha - hr, w,
               hr);
    fputs("</g>\n", stdout);
}

static void timeline(const json_t *range, const json_t *t)
{
    const json_t *buckets = json_object_get(t, "timeline"), *b;
    chart c = {0, HOUR_NS, 0, 1, !strcmp(str(range, "timeline_unit"), "day")};
    int64_t last;
    size_t i;
    printf("<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
           "height=\"%d\" role=\"img\" aria-label=\"accepted and rejected records per %s\">\n",
           W, H, W, H, c.day ? "day" : "hour");
    if (!json_array_size(buckets) || tool_time_parse(str(range, "first_time"), &c.first) ||
        tool_time_parse(str(range, "last_time"), &last)) {
        printf("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no records in the range</text></svg>\n", W / 2, H / 2);
        return;
    }
    c.unit = c.day ? 24 * HOUR_NS : HOUR_NS;
    c.first -= c.first % c.unit;
    c.n = (last - last % c.unit - c.first) / c.unit + 1;
    json_array_foreach(buckets, i, b)
        if (num(b, "accepted") + num(b, "rejected") > c.ymax)
            c.ymax = num(b, "accepted") + num(b, "rejected");
    c.ymax = nice_max(c.ymax);
    axes(&c, c.day ? "day" : "hour");
    json_array_foreach(buckets, i, b)
        bar(&c, b);
    printf("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#8795a6\"/></svg>\n", ML, H - MB, W - MR, H - MB);
}

/* ---- sections ------------------------------------------------------------------- */

static void activity(const json_t *t)
{
    static const char *const cols[] = {"actor", "accepted", "rejected", "rejected by code"};
    const json_t *a, *v;
    const char *code;
    size_t i;
    puts("<h3>Activity per actor</h3>");
    if (none(json_object_get(t, "activity"), "no record in the range"))
        return;
    thead(cols, "lnnl");
    json_array_foreach(json_object_get(t, "activity"), i, a) {
        fputs("<tr>", stdout);
        td("c", str(a, "actor"));
        td_num(num(a, "accepted"));
        td_num(num(a, "rejected"));
        fputs("<td>", stdout);
        json_object_foreach(json_object_get(a, "rejected_by_code"), code, v) {
            fputs("<span class=\"err\">", stdout);
            esc(code);
            printf("</span> %lld ", (long long)json_integer_value(v));
        }
        fputs("</td></tr>\n", stdout);
    }
    puts("</tbody></table>");
}

static void rejected(const json_t *t)
{
    static const char *const cols[] = {"seq", "time (UTC)", "actor", "principal", "peer", "command", "target",
                                       "error", "message", "origin"};
    const json_t *a;
    char seq[24];
    static char target[1 << 20];   /* an AssignRole of 4096 ids of 64 bytes fits whole */
    size_t i;
    puts("<h3>Rejected attempts (PCI DSS 10.2/10.3)</h3>");
    if (none(json_object_get(t, "rejected_attempts"), "no rejected attempt in the range"))
        return;
    thead(cols, "nlllllllll");
    json_array_foreach(json_object_get(t, "rejected_attempts"), i, a) {
        snprintf(seq, sizeof seq, "%lld", num(a, "seq"));
        tool_report_target(json_object_get(a, "target"), target, sizeof target);
        fputs("<tr class=\"rejected\">", stdout);
        td("n", seq);
        td("t", str(a, "time"));
        td("c", str(a, "actor"));       /* who the command says it is ... */
        td("c", str(a, "principal"));   /* ... who tmsd authenticated, and from where ("-": not recorded) */
        td("c", str(a, "peer"));
        td(NULL, str(a, "cmd"));
        if (strlen(target) > TARGET_SHOWN) {   /* an AssignRole of thousands of ids: the start, and the whole in a title */
            fputs("<td class=\"c\" title=\"", stdout);
            esc(target);
            fputs("\">", stdout);
            size_t whole = strlen(target);
            target[TARGET_SHOWN] = '\0';   /* ids are ASCII: no character is cut */
            esc(target);
            printf("&hellip; (%zu characters)</td>", whole);
        } else {
            td("c", target);
        }
        td("err", str(a, "error"));
        td(NULL, str(a, "message"));
        td(NULL, str(a, "origin"));
        fputs("</tr>\n", stdout);
    }
    puts("</tbody></table>");
}

static void ceiling(const json_t *t)
{
    static const char *const cols[] = {"account", "above it", "holds, and the manager above lacks"};
    const json_t *a, *p;
    char acc[160], above[160];
    size_t i, j;
    puts("<h3>Ceiling exceptions (R11)</h3>");
    if (none(json_object_get(t, "ceiling_exceptions"), "none: every account holds only what the manager above holds"))
        return;
    thead(cols, "lll");
    json_array_foreach(json_object_get(t, "ceiling_exceptions"), i, a) {
        snprintf(acc, sizeof acc, "%s %s", str(a, "kind"), str(a, "id"));
        snprintf(above, sizeof above, "%s %s", str(a, "relation"), str(a, "manager"));
        fputs("<tr>", stdout);
        td("c", acc);
        td("c", above);
        fputs("<td class=\"ids\">", stdout);
        json_array_foreach(json_object_get(a, "permissions"), j, p) {
            esc(json_string_value(p));
            fputs(" ", stdout);
        }
        fputs("</td></tr>\n", stdout);
    }
    puts("</tbody></table>");
}

static void id_list(const char *title, const json_t *arr, const char *empty)
{
    const json_t *v;
    size_t i;
    printf("<h3>%s (%zu)</h3>\n", title, json_array_size(arr));
    if (none(arr, empty))
        return;
    fputs("<p class=\"ids\">", stdout);
    json_array_foreach(arr, i, v) {
        esc(json_string_value(v));
        fputs(" ", stdout);
    }
    puts("</p>");
}

static void roles(const json_t *t)
{
    static const char *const cols[] = {"role", "account type", "holders", "went Custom in the range"};
    const json_t *a;
    size_t i;
    puts("<h3>Roles</h3>");
    if (none(json_object_get(t, "roles"), "no role"))
        return;
    thead(cols, "llnn");
    json_array_foreach(json_object_get(t, "roles"), i, a) {
        int exists = json_is_true(json_object_get(a, "exists"));
        fputs("<tr>", stdout);
        td("c", str(a, "role"));
        td(exists ? NULL : "none", exists ? str(a, "account_type") : "deleted");
        td_num(num(a, "holders"));
        td_num(num(a, "went_custom"));
        fputs("</tr>\n", stdout);
    }
    puts("</tbody></table>");
}

/* Accepted changes of rights, with before and after (PCI DSS 10.2). */
static void privileged(const json_t *t)
{
    static const char *const cols[] = {"seq", "time (UTC)", "actor (by)", "command", "account", "changed", "before",
                                       "after"};
    const json_t *a;
    char seq[24];
    size_t i;
    puts("<h3>Privileged changes (PCI DSS 10.2)</h3>");
    if (none(json_object_get(t, "privileged_changes"), "no change of permissions, roles, ownership or distribution "
                                                       "in the range"))
        return;
    thead(cols, "nlllllll");
    json_array_foreach(json_object_get(t, "privileged_changes"), i, a) {
        snprintf(seq, sizeof seq, "%lld", num(a, "seq"));
        fputs("<tr class=\"change\">", stdout);
        td("n", seq);
        td("t", str(a, "time"));
        fputs("<td class=\"c\">", stdout);   /* the actor it claims, and the principal tmsd authenticated */
        esc(str(a, "actor"));
        fputs("<br><span class=\"none\">by ", stdout);
        esc(str(a, "by"));
        fputs("</span></td>", stdout);
        td(NULL, str(a, "command"));
        td("c", str(a, "subject"));
        td(NULL, str(a, "change"));
        td("ids", str(a, "before"));
        td("ids", str(a, "after"));
        fputs("</tr>\n", stdout);
    }
    puts("</tbody></table>");
}

static void names_cell(const json_t *arr)
{
    const json_t *p;
    size_t j;
    fputs("<td class=\"ids\">", stdout);
    json_array_foreach(arr, j, p) {
        esc(json_string_value(p));
        fputs(" ", stdout);
    }
    fputs("</td>", stdout);
}

/* Every account and what it holds at the end of the range (PCI DSS 7.2.4). */
static void access_review(const json_t *t)
{
    static const char *const cols[] = {"account", "role", "permissions", "features"};
    const json_t *a;
    char acc[160];
    size_t i;
    puts("<h3>Access review (PCI DSS 7.2.4)</h3>");
    if (none(json_object_get(t, "access_review"), "no extension or manager"))
        return;
    thead(cols, "llll");
    json_array_foreach(json_object_get(t, "access_review"), i, a) {
        snprintf(acc, sizeof acc, "%s %s", str(a, "kind"), str(a, "id"));
        fputs("<tr class=\"access\">", stdout);
        td("c", acc);
        td("c", str(a, "role"));
        names_cell(json_object_get(a, "permissions"));
        if (json_object_get(a, "features"))
            names_cell(json_object_get(a, "features"));
        else
            td("none", "-");
        fputs("</tr>\n", stdout);
    }
    puts("</tbody></table>");
}

static void tenant(const json_t *range, const json_t *t)
{
    fputs("<section class=\"tenant\" id=\"tenant-", stdout);
    esc(str(t, "tenant"));
    fputs("\"><h2>Tenant ", stdout);
    esc(str(t, "tenant"));
    fputs("</h2><p class=\"sum\">", stdout);
    if (str(t, "admin")) {
        fputs("PBX Admin <b>", stdout);
        esc(str(t, "admin"));
        fputs("</b> &middot; ", stdout);
    } else {
        fputs("<span class=\"err\">no such tenant at the end of the range</span> &middot; ", stdout);
    }
    printf("<span class=\"ok\">%lld accepted</span> &middot; <span%s>%lld rejected</span> in the "
           "range</p>\n<h3>Timeline</h3>\n", num(t, "accepted"), num(t, "rejected") ? " class=\"err\"" : "",
           num(t, "rejected"));
    timeline(range, t);
    activity(t);
    rejected(t);
    privileged(t);
    ceiling(t);
    id_list("Extensions without a login (red icon)", json_object_get(t, "extensions_without_login"), "none");
    id_list("Extensions without an owner", json_object_get(t, "extensions_without_owner"), "none");
    roles(t);
    access_review(t);
    puts("</section>");
}

/* What the report stands on (verification stamp). */
static void stamp(const json_t *v)
{
    if (!v)
        return;
    fputs("<p class=\"stamp\"><b>Log verified</b> while replaying: ", stdout);
    printf("%lld records, every frame's checksums and the hash chain checked; chain head <span class=\"ids\">",
           num(v, "records"));
    esc(str(v, "head"));
    fputs("</span>. Generated at ", stdout);
    esc(str(v, "generated_at"));
    fputs(" by ", stdout);
    esc(str(v, "tool"));
    puts(".</p>");
}

static void head(const json_t *range, const json_t *tenants)
{
    const json_t *t;
    size_t i;
    printf("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<title>tmsperm audit report</title>\n<style>%s</style></head><body>\n"
           "<header><h1>tmsperm audit report</h1>\n", css);
    if (num(range, "records")) {
        printf("<p>Records %lld to %lld (%lld: %lld accepted, %lld rejected), from ", num(range, "first_seq"),
               num(range, "last_seq"), num(range, "records"), num(range, "accepted"), num(range, "rejected"));
        esc(str(range, "first_time"));
        fputs(" to ", stdout);
        esc(str(range, "last_time"));
        puts("</p>");
    } else {
        puts("<p>No record in the range.</p>");
    }
    printf("<p>State sections describe the state after record %lld", num(range, "state_seq"));
    if (str(range, "state_time")) {
        fputs(" (", stdout);
        esc(str(range, "state_time"));
        fputs(")", stdout);
    }
    puts(".</p></header><main><nav>");
    json_array_foreach(tenants, i, t) {
        fputs("<a href=\"#tenant-", stdout);
        esc(str(t, "tenant"));
        fputs("\">", stdout);
        esc(str(t, "tenant"));
        fputs("</a>", stdout);
    }
    puts("</nav>");
}

int tool_report_html(const json_t *model)
{
    const json_t *range = json_object_get(model, "range"), *tenants = json_object_get(model, "tenants"), *t;
    size_t i;
    head(range, tenants);
    stamp(json_object_get(model, "verification"));
    json_array_foreach(tenants, i, t)
        tenant(range, t);
    if (!json_array_size(tenants))
        puts("<p class=\"none\">No tenant.</p>");
    puts("</main></body></html>");
    return ferror(stdout) ? -1 : 0;
}
