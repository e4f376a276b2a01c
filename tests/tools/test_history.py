#!/usr/bin/env python3
"""test_history -- tms-history custom (R15/R17) in every format against golden
outputs, every filter (tenant, since/until as seqs and times, account, role),
and tms-history account timelines, over the fixed scenario of tooltest.py.
Times vary per run: checked by format and against the batch marks.
usage: python3 test_history.py BIN_DIR     (last line: 'N passed, N failed')"""
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tooltest as tt  # noqa: E402

R = tt.Run()
DATA = R.path("data")
MARKS = tt.build_scenario(R, DATA)

KEYS = ["seq", "time", "tenant", "kind", "id", "role", "actor", "cause", "enabled", "disabled"]
GOLDEN = {
    19: {"seq": 19, "tenant": "acme", "kind": "extension", "id": "2001", "role": "agent", "actor": "lead",
         "cause": "set_permissions", "enabled": ["recordings.listen"], "disabled": []},
    24: {"seq": 24, "tenant": "acme", "kind": "extension", "id": "2003", "role": "supervisor", "actor": "lead",
         "cause": "set_permissions", "enabled": [], "disabled": ["recordings.listen"]},
    25: {"seq": 25, "tenant": "acme", "kind": "extension", "id": "2002", "role": "agent", "actor": "lead",
         "cause": "role_deleted", "enabled": [], "disabled": []},
    26: {"seq": 26, "tenant": "beta", "kind": "extension", "id": "9001", "role": "ops", "actor": "root",
         "cause": "set_permissions", "enabled": ["calls.international"], "disabled": []},
}
GOLDEN_CSV = [
    "19,T,acme,extension,2001,agent,lead,set_permissions,recordings.listen,",
    "24,T,acme,extension,2003,supervisor,lead,set_permissions,,recordings.listen",
    "25,T,acme,extension,2002,agent,lead,role_deleted,,",
    "26,T,beta,extension,9001,ops,root,set_permissions,calls.international,",
]
GOLDEN_TEXT = [
    "T seq 19 acme extension 2001: role agent -> Custom by lead (set_permissions); "
    "enabled: recordings.listen; disabled: -",
    "T seq 24 acme extension 2003: role supervisor -> Custom by lead (set_permissions); "
    "enabled: -; disabled: recordings.listen",
    "T seq 25 acme extension 2002: role agent -> Custom by lead (role_deleted); enabled: -; disabled: -",
    "T seq 26 beta extension 9001: role ops -> Custom by root (set_permissions); "
    "enabled: calls.international; disabled: -",
]


def with_offset(mark, hours, minutes):
    """The same instant as mark (...Z) written with a +hh:mm / -hh:mm offset."""
    base = datetime.datetime.strptime(mark[:19], "%Y-%m-%dT%H:%M:%S")
    sign = 1 if hours >= 0 else -1
    local = base + sign * datetime.timedelta(hours=abs(hours), minutes=minutes)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + mark[19:-1] + "%s%02d:%02d" % ("+" if sign > 0 else "-", abs(hours), minutes)


def custom(*args):
    rc, out, err = R.run("tms-history", "custom", "--data", DATA, *args)
    return rc, out, err


def custom_seqs(name, args, want):
    rc, out, err = custom(*args)
    if not R.check("%s: exit 0" % name, rc == 0, err):
        return
    got = [e["seq"] for e in R.json_lines(out)]
    R.check("%s: seqs %s" % (name, want), got == want, "got %s" % got)


def test_json():
    rc, out, err = custom()
    R.check("json: exit 0, nothing on stderr", rc == 0 and err == "", err)
    evs = R.json_lines(out)
    R.check("json: four events", len(evs) == 4, out)
    for e in evs:
        R.check("json seq %s: keys in order" % e.get("seq"), list(e) == KEYS, list(e))
        R.check("json seq %s: time format" % e.get("seq"), bool(tt.TIME_RE.match(e.get("time", ""))), e.get("time"))
        g = dict(e)
        g.pop("time", None)
        R.check("json seq %s: golden" % e.get("seq"), g == GOLDEN.get(e.get("seq")), json.dumps(g))
    times = {e["seq"]: e["time"] for e in evs}
    if len(times) == 4:
        R.check("json: times follow the batches", times[19] <= MARKS[1] < times[24] == times[25] == times[26]
                <= MARKS[2], (times, MARKS))
    rc2, out2, _ = custom("--format", "json")
    R.check("json: --format json is the default", rc2 == 0 and out2 == out)


def test_csv():
    rc, out, err = custom("--format", "csv")
    lines = out.splitlines()
    R.check("csv: exit 0", rc == 0, err)
    R.check("csv: header", lines[:1] == [",".join(KEYS)], lines[:1])
    rows = []
    for l in lines[1:]:
        f = l.split(",")
        R.check("csv: time format in %s" % l, len(f) == 10 and bool(tt.TIME_RE.match(f[1])), l)
        rows.append(",".join(f[:1] + ["T"] + f[2:]))
    R.check("csv: golden rows", rows == GOLDEN_CSV, "\n".join(rows))
    rc, out, _ = custom("--format", "csv", "--tenant", "nobody")
    R.check("csv: header even when empty", rc == 0 and out.splitlines() == [",".join(KEYS)], out)


def test_text():
    rc, out, err = custom("--format", "text")
    R.check("text: exit 0", rc == 0, err)
    rows = []
    for l in out.splitlines():
        t, _, rest = l.partition(" ")
        R.check("text: time format", bool(tt.TIME_RE.match(t)), l)
        rows.append("T " + rest)
    R.check("text: golden lines", rows == GOLDEN_TEXT, "\n".join(rows))


def test_filters():
    custom_seqs("--tenant acme", ["--tenant", "acme"], [19, 24, 25])
    custom_seqs("--tenant beta", ["--tenant", "beta"], [26])
    custom_seqs("--tenant nobody", ["--tenant", "nobody"], [])
    custom_seqs("--since 20", ["--since", "20"], [24, 25, 26])
    custom_seqs("--since 19", ["--since", "19"], [19, 24, 25, 26])
    custom_seqs("--until 24", ["--until", "24"], [19, 24])
    custom_seqs("--until 0", ["--until", "0"], [])
    custom_seqs("--since 24 --until 25", ["--since", "24", "--until", "25"], [24, 25])
    custom_seqs("--since batch-2 mark", ["--since", MARKS[1]], [24, 25, 26])
    custom_seqs("--until batch-2 mark", ["--until", MARKS[1]], [19])
    custom_seqs("--until batch-1 mark", ["--until", MARKS[0]], [])
    custom_seqs("--since 2020-01-01 (a date)", ["--since", "2020-01-01"], [19, 24, 25, 26])
    custom_seqs("--until 2020-01-01 (a date)", ["--until", "2020-01-01"], [])
    custom_seqs("--until far ahead", ["--until", "2200-01-01T00:00:00+02:00"], [19, 24, 25, 26])
    custom_seqs("--until batch-2 mark as +05:30", ["--until", with_offset(MARKS[1], 5, 30)], [19])
    custom_seqs("--since batch-2 mark as -03:00", ["--since", with_offset(MARKS[1], -3, 0)], [24, 25, 26])
    custom_seqs("--account extension:2002", ["--account", "extension:2002"], [25])
    custom_seqs("--account manager:lead", ["--account", "manager:lead"], [])
    custom_seqs("--role agent", ["--role", "agent"], [19, 25])
    custom_seqs("--role supervisor", ["--role", "supervisor"], [24])
    custom_seqs("--tenant acme --role agent --since 20", ["--tenant", "acme", "--role", "agent", "--since", "20"], [25])
    custom_seqs("--tenant=beta (= form)", ["--tenant=beta"], [26])
    rc, out, _ = custom("--format", "csv", "--role", "agent", "--tenant", "acme")
    R.check("csv with filters", rc == 0 and [l.split(",")[0] for l in out.splitlines()[1:]] == ["19", "25"], out)


TIMELINE_2003 = [
    {"seq": 8, "actor": "admin", "cmd": "CreateExtension", "origin": None, "before": None,
     "after": {"login": None, "owner": None, "distributed_to": [], "role": None, "permissions": [],
               "features": [], "parent": None}},
    {"seq": 11, "actor": "admin", "cmd": "Distribute", "origin": None,
     "before": {"distributed_to": []}, "after": {"distributed_to": ["lead"]}},
    {"seq": 14, "actor": "lead", "cmd": "TakeOwnership", "origin": None,
     "before": {"owner": None}, "after": {"owner": "lead"}},
    {"seq": 18, "actor": "lead", "cmd": "AssignRole", "origin": None,
     "before": {"role": None, "permissions": []},
     "after": {"role": "supervisor", "permissions": ["recordings.listen", "reports.view"]}},
    {"seq": 24, "actor": "lead", "cmd": "SetPermissions", "origin": None,
     "before": {"role": "supervisor", "permissions": ["recordings.listen", "reports.view"]},
     "after": {"role": "Custom", "permissions": ["reports.view"]}},
    {"seq": 30, "actor": "admin", "cmd": "DeleteExtension", "origin": None,
     "before": {"login": None, "owner": "lead", "distributed_to": ["lead"], "role": "Custom",
                "permissions": ["reports.view"], "features": [], "parent": None}, "after": None},
]


def timeline(*args):
    rc, out, err = R.run("tms-history", "account", "--data", DATA, *args)
    R.check("account %s: exit 0" % " ".join(args), rc == 0, err)
    evs = R.json_lines(out)
    for e in evs:
        R.check("account: time format", bool(tt.TIME_RE.match(e.pop("time", ""))), e)
    return evs


def test_account():
    got = timeline("acme", "extension", "2003")
    R.check("account 2003: golden timeline", got == TIMELINE_2003, json.dumps(got))
    got = timeline("acme", "manager", "sub")
    R.check("account sub: created, then granted", [e["seq"] for e in got] == [5, 27] and
            got[1]["before"] == {"permissions": []} and got[1]["after"] == {"permissions": ["recordings.listen"]}, got)
    got = timeline("acme", "extension", "2001")
    R.check("account 2001: release recorded", got and got[-1]["seq"] == 28 and
            got[-1]["after"] == {"owner": None}, got)
    R.check("account 2002: rejected seq 20 absent", 20 not in [e["seq"] for e in timeline("acme", "extension", "2002")])
    got = timeline("--since", "12", "--until", "24", "acme", "extension", "2003")
    R.check("account --since/--until seqs", [e["seq"] for e in got] == [14, 18, 24], got)
    got = timeline("--since", MARKS[1], "acme", "extension", "2003")
    R.check("account --since a time", [e["seq"] for e in got] == [24, 30], got)
    R.check("account: unknown account prints nothing", timeline("acme", "extension", "4242") == [])
    R.check("account: other tenant prints nothing", timeline("beta", "extension", "2003") == [])
    got = timeline("beta", "extension", "9001")
    R.check("account beta 9001", [e["seq"] for e in got] == [21, 23, 26], got)


def test_account_indirect():
    """R16: a role update shows in a holder's timeline under the UpdateRole."""
    d = tt.copy_data(DATA, R.path("indirect"))
    R.submit(d, [tt._c("AssignRole", "acme", "admin", role="supervisor", ids=["2002"]),                # 31
                 tt._c("UpdateRole", "acme", "lead", role="supervisor", permissions=["reports.view"])])  # 32
    rc, out, err = R.run("tms-history", "account", "--data", d, "--since", "31", "acme", "extension", "2002")
    got = R.json_lines(out)
    for e in got:
        e.pop("time", None)
    R.check("account: R16 update under the UpdateRole", rc == 0 and got == [
        {"seq": 31, "actor": "admin", "cmd": "AssignRole", "origin": None,
         "before": {"role": "Custom", "permissions": ["reports.view"]},
         "after": {"role": "supervisor", "permissions": ["recordings.listen", "reports.view"]}},
        {"seq": 32, "actor": "lead", "cmd": "UpdateRole", "origin": None,
         "before": {"permissions": ["recordings.listen", "reports.view"]},
         "after": {"permissions": ["reports.view"]}}], (rc, json.dumps(got), err))


def test_usage():
    for args in (["--help"], ["custom", "--help"], ["account", "--help"]):
        rc, out, _ = R.run("tms-history", *args)
        R.check("tms-history %s exits 0 with usage" % " ".join(args), rc == 0 and out.startswith("usage"), out)
    bad = [["custom"], ["custom", "--data", DATA, "--format", "xml"], ["custom", "--data", DATA, "--since", "yesterday"],
           ["custom", "--data", DATA, "--until", "2026-13-01T00:00:00Z"], ["custom", "--data", DATA, "--account", "2001"],
           ["custom", "--data", DATA, "--account", "queue:q1"], ["custom", "--data", DATA, "--tenant"],
           ["custom", "--data", DATA, "extra"], ["custom", "--data", R.path("none")],
           ["account", "--data", DATA, "acme", "extension"], ["account", "--data", DATA, "acme", "robot", "x"],
           ["frobnicate"], []]
    for args in bad:
        rc, out, err = R.run("tms-history", *args)
        R.check("tms-history %s exits 2 with one stderr line" % " ".join(args),
                rc == 2 and out == "" and len(err.strip().splitlines()) >= 1, (rc, out, err))


def test_damaged_projection():
    """The folds read the log, not the projection: a projection cut short (LMDB would fault reading it, SIGBUS)
    changes nothing. (The progress line's estimate read the projection's seq, unguarded: a Bus error.)"""
    import shutil
    data = R.path("cutproj")
    shutil.copytree(DATA, data)
    with open(os.path.join(data, "proj", "data.mdb"), "r+b") as f:
        f.truncate(8192)
    for args in (["custom"], ["account", "acme", "extension", "2001"]):
        rc, out, err = R.run("tms-history", args[0], "--data", data, *args[1:])
        rc0, out0, _ = R.run("tms-history", args[0], "--data", DATA, *args[1:])
        R.check("tms-history %s with the projection cut short: exit 0 (no signal), the intact directory's answer"
                % args[0], rc == 0 and rc0 == 0 and out == out0, (rc, err))


for t in (test_json, test_csv, test_text, test_filters, test_account, test_account_indirect, test_usage,
          test_damaged_projection):
    try:
        t()
    except Exception as e:
        R.check("%s raised %s: %s" % (t.__name__, type(e).__name__, e), False)
R.finish()
