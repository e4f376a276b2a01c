#!/usr/bin/env python3
"""test_report -- tms-audit report: golden JSON on the fixed scenario of
tooltest.py, ranges (seqs, times), --tenant, the text form, origin and
hostile strings, rejected attempts on an unknown tenant, the timeline per
hour and per day (records re-timed onto chosen days), refusals; and the
HTML page: self-contained and escaped (checked in Python), then rendered in
headless Chromium (Debian's chromium), whose DOM must hold the section
headings, a rejected attempt row and the SVG chart. Without chromium the
browser checks are skipped (and not counted).
usage: python3 test_report.py BIN_DIR     (last line: 'N passed, N failed')"""
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tooltest as tt  # noqa: E402

R = tt.Run()
DATA = R.path("data")
MARKS = tt.build_scenario(R, DATA)
TIME_KEYS = ("first_time", "last_time", "state_time", "time", "start", "generated_at")
HEADINGS = ["Timeline", "Activity per actor", "Rejected attempts (PCI DSS 10.2/10.3)", "Privileged changes (PCI DSS 10.2)",
            "Ceiling exceptions (R11)", "Extensions without a login (red icon)", "Extensions without an owner", "Roles",
            "Access review (PCI DSS 7.2.4)"]


def report(data, *args):
    rc, out, err = R.run("tms-audit", "report", "--data", data, *args)
    try:
        doc = json.loads(out) if out.strip() and "text" not in args and "html" not in args else None
    except ValueError:
        doc = None
    return rc, doc, out, err


def untimed(v, bad):
    """v with every time replaced by "T"; badly formatted times go to bad."""
    if isinstance(v, list):
        return [untimed(x, bad) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k in TIME_KEYS and x is not None:
                if not tt.TIME_RE.match(str(x)):
                    bad.append((k, x))
                out[k] = "T"
            else:
                out[k] = untimed(x, bad)
        return out
    return v


def act(actor, acc, rej=0, codes=None):
    return {"actor": actor, "accepted": acc, "rejected": rej, "rejected_by_code": codes or {}}


def role(name, typ, holders, custom):
    return {"role": name, "account_type": typ, "exists": typ is not None, "holders": holders, "went_custom": custom}


GOLDEN = {
    "range": {"since": None, "until": None, "first_seq": 1, "first_time": "T", "last_seq": 30, "last_time": "T",
              "records": 30, "accepted": 29, "rejected": 1, "state_seq": 30, "state_time": "T",
              "timeline_unit": "hour"},
    "tenants": [
        {"tenant": "acme", "exists": True, "admin": "admin", "accepted": 24, "rejected": 1,
         "activity": [act("admin", 11), act("lead", 12), act("sub", 0, 1, {"FORBIDDEN": 1}), act("system", 1)],
         "rejected_attempts": [
             {"seq": 20, "time": "T", "actor": "sub", "cmd": "SetPermissions",
              "target": {"kind": "extension", "id": "2002"}, "error": "FORBIDDEN",
              "message": "manager sub lacks tms_users.permissions, needed for SetPermissions", "origin": None,
              "principal": "local", "peer": "uid:%d" % os.getuid()}],
         "ceiling_exceptions": [{"kind": "manager", "id": "sub", "relation": "parent", "manager": "lead",
                                 "permissions": ["recordings.listen"]}],
         "extensions_without_login": ["2001", "2002"],
         "extensions_without_owner": ["2001"],
         "roles": [role("agent", None, 0, 2), role("supervisor", "extension", 0, 1)],
         "timeline": "BUCKETS"},
        {"tenant": "beta", "exists": True, "admin": "root", "accepted": 5, "rejected": 0,
         "activity": [act("root", 4), act("system", 1)],
         "rejected_attempts": [], "ceiling_exceptions": [],
         "extensions_without_login": ["9001"], "extensions_without_owner": ["9001"],
         "roles": [role("ops", "extension", 0, 1)],
         "timeline": "BUCKETS"},
    ],
}


def bucket_sums(t):
    return (sum(b["accepted"] for b in t["timeline"]), sum(b["rejected"] for b in t["timeline"]))


def test_golden():
    rc, doc, out, err = report(DATA)
    if not R.check("json: exit 0, nothing on stderr, one line", rc == 0 and doc and err == "" and
                   out.count("\n") == 1, (rc, err)):
        return
    bad = []
    got = untimed(doc, bad)
    R.check("json: times are RFC 3339 UTC with nanoseconds", not bad, bad)
    for t in doc["tenants"]:
        R.check("json %s: timeline sums to its counts" % t["tenant"],
                bucket_sums(t) == (t["accepted"], t["rejected"]), t["timeline"])
        R.check("json %s: timeline buckets start on the hour" % t["tenant"],
                all(b["start"][13:] == ":00:00.000000000Z" for b in t["timeline"]), t["timeline"])
    new = {}
    for t in got["tenants"]:
        t["timeline"] = "BUCKETS"
        new[t["tenant"]] = (t.pop("access_review"), t.pop("privileged_changes"))
    stamp = got.pop("verification")
    R.check("json: golden", got == GOLDEN, json.dumps(got))
    R.check("json: keys in order", list(doc) == ["range", "tenants", "verification"] and
            [k for k in doc["tenants"][0] if k not in ("access_review", "privileged_changes")] ==
            list(GOLDEN["tenants"][0]), list(doc["tenants"][0]))
    new_sections(doc, stamp, new)
    rc2, doc2, _, _ = report(DATA, "--format", "json")
    R.check("--format json is the default", rc2 == 0 and untimed(doc2, []) == untimed(doc, []), rc2)
    rc3, doc3, _, err3 = report(DATA)
    for d in (doc3, doc):
        if d:
            d["verification"].pop("generated_at", None)
    R.check("the same report twice (a fold is deterministic)", rc3 == 0 and doc3 == doc, err3)


def new_sections(doc, stamp, new):
    """The verification stamp, the access review (7.2.4) and the privileged
    changes (10.2), checked against tms-audit verify and tmsctl show."""
    rc, out, err = R.run("tms-audit", "verify", "--data", DATA)
    v = json.loads(out) if rc == 0 else {}
    ver = R.run("tms-audit", "--version")[1].split()[-1]
    R.check("verification stamp: records, head, tool version",
            stamp["records"] == 30 and stamp["head"] == v.get("head") and stamp["tool"].endswith(ver) and
            stamp["generated_at"] == "T" and "hash chain" in stamp["log"], (stamp, v))
    access, changes = new["acme"]
    R.check("access review: every extension and manager once", len(access) >= 3 and
            len({(a["kind"], a["id"]) for a in access}) == len(access), access)
    for a in access:
        rc, out, err = R.run("tmsctl", "--data", DATA, "show", "acme", a["kind"], a["id"])
        shown = json.loads(out) if rc == 0 else {}
        R.check("access review %s %s: its permissions are tmsctl show's" % (a["kind"], a["id"]),
                sorted(a["permissions"]) == sorted(shown.get("permissions") or []), (a, shown))
    R.check("privileged changes: each with seq, actor, command, subject, before and after",
            changes and all(set(c) >= {"seq", "time", "actor", "by", "command", "change", "subject", "before", "after"}
                            for c in changes), changes[:2])
    last = {}
    for c in changes:
        if c["change"] == "permissions":
            last[c["subject"]] = c["after"]
    for subject, after in last.items():
        kind, ident = subject.split(" ", 1)
        rc, out, err = R.run("tmsctl", "--data", DATA, "show", "acme", kind, ident)
        if rc == 1:
            continue   # deleted since
        perms = json.loads(out).get("permissions") or [] if rc == 0 else None
        R.check("privileged changes: the last permissions change of %s is its state" % subject,
                perms is not None and sorted(after.split(", ")) == sorted(perms or ["(none)"]), (after, perms))
    R.check("privileged changes: in seq order", [c["seq"] for c in changes] == sorted(c["seq"] for c in changes))


def tenant(doc, name):
    return next((t for t in (doc or {}).get("tenants", []) if t["tenant"] == name), None)


def test_ranges():
    rc, doc, _, err = report(DATA, "--since", "17", "--until", "23")
    acme = tenant(doc, "acme") or {}
    R.check("seqs 17-23: exit 0", rc == 0 and doc, err)
    R.check("seqs 17-23: range", doc and doc["range"]["first_seq"] == 17 and doc["range"]["last_seq"] == 23 and
            doc["range"]["records"] == 7 and doc["range"]["state_seq"] == 23, doc and doc["range"])
    R.check("seqs 17-23: acme activity", acme.get("activity") == [act("lead", 3), act("sub", 0, 1, {"FORBIDDEN": 1})],
            acme.get("activity"))
    R.check("seqs 17-23: state at 23 (no ceiling exception yet, every acme extension owned)",
            acme.get("ceiling_exceptions") == [] and acme.get("extensions_without_owner") == [], acme)
    R.check("seqs 17-23: went Custom counted in the range only",
            acme.get("roles") == [role("agent", "extension", 1, 1), role("supervisor", "extension", 1, 0)],
            acme.get("roles"))
    rc, doc2, _, err = report(DATA, "--since", "17", "--until", MARKS[1])
    if doc2:
        doc2["range"]["until"] = doc["range"]["until"]
        doc2["verification"]["generated_at"] = doc["verification"]["generated_at"]
    R.check("--until a time = --until its last seq", rc == 0 and doc2 == doc, err)
    rc, doc, _, err = report(DATA, "--since", MARKS[2])
    R.check("--since a time: records 28-30", rc == 0 and doc["range"]["first_seq"] == 28 and
            doc["range"]["records"] == 3 and tenant(doc, "beta")["activity"] == [], (rc, err))
    rc, doc, _, err = report(DATA, "--tenant", "beta", "--until", "2")
    R.check("--tenant beta --until 2", rc == 0 and [t["tenant"] for t in doc["tenants"]] == ["beta"] and
            doc["range"]["records"] == 1 and doc["tenants"][0]["activity"] == [act("system", 1)], (rc, err))
    rc, doc, _, err = report(DATA, "--tenant", "ghost")
    R.check("--tenant unknown: exit 1, exists false, a note on stderr", rc == 1 and doc and
            doc["tenants"][0]["exists"] is False and len(err.strip().splitlines()) == 1, (rc, doc, err))
    rc, doc, _, err = report(DATA, "--since", "31")
    R.check("--since past the end: empty range, state at the end", rc == 0 and doc["range"]["records"] == 0 and
            doc["range"]["first_seq"] is None and doc["range"]["state_seq"] == 30 and
            tenant(doc, "acme")["ceiling_exceptions"], (rc, err))


def test_refusals():
    for name, args in [("--until past the end", ["--until", "31"]), ("--until 0", ["--until", "0"]),
                       ("--since after --until", ["--since", "9", "--until", "3"]),
                       ("bad --format", ["--format", "pdf"]), ("bad --since", ["--since", "yesterday"]),
                       ("bad --tenant", ["--tenant", "a b"]), ("unknown option", ["--explain"])]:
        rc, _, out, err = report(DATA, *args)
        R.check("%s: exit 2, one stderr line, no output" % name, rc == 2 and out == "" and
                len(err.strip().splitlines()) == 1, (rc, out, err))
    rc, out, err = R.run("tms-audit", "report")
    R.check("no --data: exit 2", rc == 2, err)
    rc, out, err = R.run("tms-audit", "report", "--help")
    R.check("--help: exit 0, usage", rc == 0 and out.startswith("usage: tms-audit report"), out)
    rc, out, err = R.run("tms-audit", "--help")
    R.check("tms-audit --help lists report", rc == 0 and "report" in out, out)
    bad = tt.copy_data(DATA, R.path("corrupt"))
    seg = tt.segments(bad)[0]
    _, frames = tt.read_frames(seg)
    with open(seg, "r+b") as fh:
        fh.seek(frames[11].offset + tt.FRAME_HEADER + 2)
        b = fh.read(1)
        fh.seek(frames[11].offset + tt.FRAME_HEADER + 2)
        fh.write(bytes([b[0] ^ 0x20]))
    rc, _, out, err = report(bad)
    R.check("corrupt log: exit 1 naming seq 12, no report", rc == 1 and out == "" and "seq 12" in err, (rc, err))


def model_keys(v, path=""):
    """Every key of the report's JSON model, by where it is ("tenants[].rejected_attempts[].peer")."""
    out = set()
    if isinstance(v, dict):
        for k, x in v.items():
            out.add((path, k))
            if k not in ("rejected_by_code",):   # its keys are error codes, not fields
                out |= model_keys(x, path + "." + k if path else k)
    elif isinstance(v, list):
        for x in v:
            out |= model_keys(x, path + "[]")
    return out


def test_documented():
    """docs/tools.md documents every field of the report (issue 19, item 12)."""
    rc, doc, _, err = report(DATA)
    text = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "tools.md")).read()
    section = text[text.index("## tms-audit report"):text.index("## tms-audit who-can")]
    keys = model_keys(doc)
    R.check("documented: the model has the fields looked for", rc == 0 and ("tenants[].rejected_attempts[]", "peer")
            in keys and ("verification", "generated_at") in keys, sorted(keys)[:20])
    missing = sorted("%s.%s" % k for k in keys if "`%s`" % k[1] not in section and "`%s[]`" % k[1] not in section)
    R.check("documented: every field of the report is in docs/tools.md's table", not missing, missing)


def test_text():
    rc, out, err = R.run("tms-audit", "report", "--data", DATA, "--format", "text")
    if not R.check("text: exit 0", rc == 0, err):
        return
    lines = out.splitlines()
    R.check("text: header", lines[0].startswith("tms-audit report: seqs 1-30 (30 records: 29 accepted, 1 rejected)"),
            lines[0])
    for s in ["== tenant acme (PBX Admin: admin) ==", "== tenant beta (PBX Admin: root) ==", "Activity per actor",
              "Rejected attempts (PCI DSS 10.2/10.3)", "Ceiling exceptions (R11)",
              "Extensions without a login (red icon) (2): 2001 2002", "Extensions without an owner (1): 2001", "Roles",
              "Privileged changes (PCI DSS 10.2)", "Access review (PCI DSS 7.2.4)"]:
        R.check("text: has %r" % s, s in lines, out)
    row = next((l for l in lines if l.strip().startswith("20 ")), "")
    R.check("text: the rejected attempt row, with the principal and peer tmsd authenticated (as JSON)",
            row.split()[2:9] == ["sub", "local", "uid:%d" % os.getuid(), "SetPermissions", "extension", "2002",
                                 "FORBIDDEN"], row)
    head = next((l for l in lines if l.split()[:3] == ["seq", "time", "actor"] and "target" in l), "")
    R.check("text: the rejected attempts' columns", head.split() == ["seq", "time", "actor", "principal", "peer",
                                                                     "command", "target", "error", "origin", "message"],
            head)
    changes = [l for l in lines if l.split()[:4] == ["seq", "time", "actor", "principal"] and "changed" in l]
    R.check("text: privileged changes name the principal", len(changes) == 2, changes)
    R.check("text: the ceiling exception row", any(l.split() == ["manager", "sub", "parent", "lead",
                                                                  "recordings.listen"] for l in lines), out)
    R.check("text: a deleted role", any(l.split() == ["agent", "(deleted)", "0", "2"] for l in lines), out)
    R.check("text: the verification stamp", lines[2].startswith("log verified while replaying") and "30 records" in lines[2],
            lines[:3])


# ---- a second directory: origin, hostile strings, an unknown tenant, a linked login ----

HOSTILE = "<script>alert(1)</script>"
ORIGIN = "<b>web</b> & 'ui' \"10.0.0.7\""


def extra_dir():
    d = R.path("extra")
    tt.build_scenario(R, d)
    R.submit(d, [
        tt._c("CreateLogin", "acme", "admin", id="desk"),                                            # 31
        tt._c("CreateExtension", "acme", "admin", id="2004", login="desk"),                          # 32
        dict(tt._perms("acme", "lead", "extension", "2002", [HOSTILE]), origin=ORIGIN),              # 33 rejected
        dict(tt._c("CreateExtension", "ghost", "admin", id="1"), origin="10.1.2.3"),                 # 34 rejected
    ])
    return d


def test_extra(d):
    rc, doc, _, err = report(d)
    if not R.check("extra: exit 0", rc == 0 and doc, err):
        return
    acme, ghost = tenant(doc, "acme"), tenant(doc, "ghost")
    att = acme["rejected_attempts"][-1]
    R.check("extra: the hostile attempt, origin kept", att["seq"] == 33 and att["origin"] == ORIGIN and
            att["error"] == "UNKNOWN_PERMISSION" and HOSTILE in att["message"], att)
    R.check("extra: an extension with a login is not red", "2004" not in acme["extensions_without_login"] and
            "2004" in acme["extensions_without_owner"], acme["extensions_without_login"])
    R.check("extra: the unknown tenant is reported", ghost and ghost["exists"] is False and ghost["admin"] is None
            and ghost["rejected"] == 1 and ghost["rejected_attempts"][0]["error"] == "UNKNOWN_TENANT" and
            ghost["rejected_attempts"][0]["origin"] == "10.1.2.3", ghost)
    rc, out, err = R.run("tms-audit", "report", "--data", d, "--format", "text")
    R.check("extra: text shows the origin", rc == 0 and ORIGIN in out and "== tenant ghost (no such tenant" in out,
            err)


class Page(html.parser.HTMLParser):
    """What a page holds, as parsed by Python: tags, headings, texts, refs."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.heads, self.texts, self.refs, self.cur = [], [], [], [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href", "xlink:href") and v and not v.startswith("#")]
        self.cur = tag

    def handle_data(self, data):
        self.texts.append(data)
        if self.cur in ("h1", "h2", "h3"):
            self.heads.append(data.strip())


def test_html_static(d):
    rc, out, err = R.run("tms-audit", "report", "--data", d, "--format", "html")
    if not R.check("html: exit 0", rc == 0 and out.startswith("<!DOCTYPE html>"), err):
        return None
    p = Page(out)
    R.check("html: no script, no external reference", "script" not in p.tags and "link" not in p.tags and
            not p.refs and "http:" not in out.replace('xmlns="http://www.w3.org/2000/svg"', ""), p.refs)
    R.check("html: hostile strings escaped", HOSTILE not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
            and "&lt;b&gt;web&lt;/b&gt; &amp; &#39;ui&#39; &quot;10.0.0.7&quot;" in out, "")
    R.check("html: hostile strings read back as text", any(HOSTILE in t for t in p.texts) and
            any(ORIGIN in t for t in p.texts), "")
    rows = re.findall(r'<tr class="rejected">.*?</tr>', out)
    cells = '<td class="c">%s</td><td class="c">local</td><td class="c">uid:%d</td>'
    R.check("html: a rejected attempt shows the principal and peer tmsd authenticated (as JSON)",
            len(rows) == 3 and all(cells % (a, os.getuid()) in r for a, r in zip(("sub", "lead", "admin"), rows)),
            rows[:3])
    for h in HEADINGS:
        R.check("html: heading %r per tenant" % h, sum(x.startswith(h) for x in p.heads) == 3, p.heads)
    R.check("html: one svg per tenant", p.tags.count("svg") == 3, p.tags.count("svg"))
    path = R.path("report.html")
    with open(path, "w") as f:
        f.write(out)
    return path


# ---- Chromium ------------------------------------------------------------------------

def chromium():
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def browse(exe, url, *what):
    profile = tempfile.mkdtemp(dir=R.tmp)
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
           "--window-size=1100,1600"] + list(what) + [url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_chromium(path):
    exe = chromium()
    if not exe:
        print("SKIP chromium checks: no chromium on PATH (apt-get install chromium to run them)")
        return
    rc, dom, err = browse(exe, "file://" + path, "--dump-dom")
    if not R.check("chromium: renders the page", rc == 0 and "<body" in dom, (rc, err[-400:])):
        return
    p = Page(dom)
    for h in HEADINGS:
        R.check("chromium DOM: heading %r in each tenant" % h, sum(x.startswith(h) for x in p.heads) == 3, p.heads)
    R.check("chromium DOM: tenant sections", {"Tenant acme", "Tenant beta", "Tenant ghost"} <= set(p.heads), p.heads)
    rows = [l for l in dom.split("<tr") if 'class="rejected"' in l]
    R.check("chromium DOM: the rejected attempt row (seq 20, sub, FORBIDDEN)",
            any(">20<" in r and ">sub<" in r and ">FORBIDDEN<" in r and "extension 2002" in r for r in rows), rows[:2])
    R.check("chromium DOM: an svg chart with bars", "<svg" in dom and dom.count("<rect") >= 6 and
            "records per hour" in dom, dom.count("<rect"))
    R.check("chromium DOM: no script element was created", "<script" not in dom, "")
    shot = R.path("report.png")
    rc, _, err = browse(exe, "file://" + path, "--screenshot=" + shot)
    ok = rc == 0 and os.path.exists(shot)
    head = b""
    if ok:
        with open(shot, "rb") as f:
            head = f.read(8)
    R.check("chromium: a screenshot is taken", ok and head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(shot) > 20000,
            (rc, err[-300:]))
    keep = os.environ.get("TMS_REPORT_SCREENSHOT")
    if ok and keep:
        shutil.copy(shot, keep)


# ---- the timeline on chosen days -------------------------------------------------------

DAY = 86400 * 10**9
BASE = 1790000000 * 10**9 - (1790000000 * 10**9) % DAY      # a midnight UTC in 2026


def test_timeline_days():
    d = tt.copy_data(DATA, R.path("days"))
    # seqs 1-16 on day 0, 17-23 on day 2 (the rejected one: 20), 24-30 on day 4, at 10:00 + seq seconds
    tt.retime(d, {s: BASE + (0 if s <= 16 else 2 if s <= 23 else 4) * DAY + 36000 * 10**9 + s * 10**9
                  for s in range(1, 31)})
    rc, doc, _, err = report(d)
    if not R.check("days: exit 0", rc == 0 and doc, err):
        return
    R.check("days: unit is day", doc["range"]["timeline_unit"] == "day", doc["range"])
    acme = tenant(doc, "acme")
    got = [(b["accepted"], b["rejected"]) for b in acme["timeline"]]
    R.check("days: acme per day (empty days left out)", got == [(15, 0), (3, 1), (6, 0)], acme["timeline"])
    R.check("days: buckets start at midnight", all(b["start"].endswith("T00:00:00.000000000Z")
                                                    for b in acme["timeline"]), acme["timeline"])
    rc, out, err = R.run("tms-audit", "report", "--data", d, "--format", "html", "--tenant", "acme")
    R.check("days: html bars for 3 of 5 days, labelled per day", rc == 0 and out.count("<g><title>") == 3 and
            "records per day" in out and ": 3 accepted, 1 rejected</title>" in out, err)
    rc, doc, _, err = report(d, "--since", _iso(BASE + DAY)[:10], "--until", _iso(BASE + 2 * DAY + 86399 * 10**9))
    R.check("days: a range of dates (day 1 to the end of day 2): seqs 17-23", rc == 0 and
            doc["range"]["first_seq"] == 17 and doc["range"]["last_seq"] == 23, (rc, err))
    h = tt.copy_data(DATA, R.path("hours"))
    tt.retime(h, {s: BASE + s * 3600 * 10**9 for s in range(1, 31)})          # one record per hour
    rc, doc, _, err = report(h, "--tenant", "beta")
    R.check("hours: a 29-hour range is drawn per hour", rc == 0 and doc["range"]["timeline_unit"] == "hour" and
            [b["start"][11:13] for b in doc["tenants"][0]["timeline"]] == ["02", "21", "22", "23", "02"], (rc, doc))


def _iso(ns):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + "Z"


def test_long_target():
    """A rejected AssignRole of 400 ids: its cell shows the start and says how
    long the whole is (the whole in the title); no table is widened by it."""
    d = R.path("long")
    cmds = [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"},
            {"cmd": "AssignRole", "tenant": "acme", "actor": "admin", "role": "nope",
             "ids": ["extension-with-a-long-id-%03d" % i for i in range(400)]}]
    rc, out, err = R.run("tmsctl", "--data", d, "submit", stdin="".join(json.dumps(c) + "\n" for c in cmds))
    rc, out, err = R.run("tms-audit", "report", "--data", d, "--format", "html")
    row = next((l for l in out.split("<tr") if 'class="rejected"' in l), "")
    cell = row[row.find('<td class="c" title='):] if '<td class="c" title=' in row else ""
    shown = cell[cell.find('">') + 2:cell.find("</td>")] if cell else ""
    title = cell[len('<td class="c" title="'):cell.find('">')]
    said = shown[shown.rfind("(") + 1:].split()[0] if "(" in shown else ""
    R.check("a 400-id target (11 KB): the start shown, its whole length said, the whole in the title",
            rc == 0 and title.endswith("extension-with-a-long-id-399") and "extension-with-a-long-id-399" not in shown
            and said == str(len(title)) and len(shown) < 260, (rc, said, len(title), shown[:300]))


def main():
    for fn in (test_golden, test_ranges, test_refusals, test_text, test_documented, test_timeline_days, test_long_target):
        try:
            fn()
        except Exception as e:
            R.check("%s raised %s: %s" % (fn.__name__, type(e).__name__, e), False)
    try:
        d = extra_dir()
        test_extra(d)
        path = test_html_static(d)
        if path:
            test_chromium(path)
    except Exception as e:
        R.check("html tests raised %s: %s" % (type(e).__name__, e), False)
    R.finish()


main()
