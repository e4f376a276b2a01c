#!/usr/bin/env python3
"""test_whocan -- tms-audit who-can over the fixed scenario of tooltest.py:
holders after several seqs and at the batch-mark times, the latest state,
--explain (role, direct, default role, role update, PBX Admin), features,
and the exit codes (unknown tenant 1; unknown permission, seq past the end 2).
usage: python3 test_whocan.py BIN_DIR     (last line: 'N passed, N failed')"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tooltest as tt  # noqa: E402

R = tt.Run()
DATA = R.path("data")
MARKS = tt.build_scenario(R, DATA)

ADMIN = {"kind": "admin", "id": "admin"}


def ext(i):
    return {"kind": "extension", "id": i}


def mgr(i):
    return {"kind": "manager", "id": i}


def whocan(perm, *args, tenant="acme", data=DATA):
    rc, out, err = R.run("tms-audit", "who-can", "--data", data, "--tenant", tenant, "--permission", perm, *args)
    try:
        got = json.loads(out) if out.strip() else None
    except ValueError:
        got = "unparsable: %r" % out
    return rc, got, err


def expect(name, perm, args, want, tenant="acme", rc_want=0):
    rc, got, err = whocan(perm, *args, tenant=tenant)
    R.check("%s: exit %d" % (name, rc_want), rc == rc_want, "rc %d %s" % (rc, err))
    R.check("%s: %s" % (name, want), got == want, "got %s" % json.dumps(got))


# recordings.listen in acme, after each interesting seq
LISTEN = {
    3: [ADMIN],
    4: [ADMIN, mgr("lead")],
    16: [ADMIN, mgr("lead")],
    18: [ADMIN, ext("2003"), mgr("lead")],
    19: [ADMIN, ext("2001"), ext("2003"), mgr("lead")],
    24: [ADMIN, ext("2001"), mgr("lead")],
    27: [ADMIN, ext("2001"), mgr("lead"), mgr("sub")],
    23: [ADMIN, ext("2001"), ext("2003"), mgr("lead")],
    29: [ADMIN, ext("2001"), mgr("sub")],
    30: [ADMIN, ext("2001"), mgr("sub")],
}


def test_seqs():
    for seq, want in sorted(LISTEN.items()):
        expect("--seq %d" % seq, "recordings.listen", ["--seq", str(seq)], want)
    expect("latest", "recordings.listen", [], LISTEN[30])
    expect("--seq 1 (tenant just created)", "recordings.listen", ["--seq", "1"], [ADMIN])
    expect("--seq 1, beta not created yet", "recordings.listen", ["--seq", "1"], [], tenant="beta", rc_want=1)
    expect("--seq 0", "recordings.listen", ["--seq", "0"], [], rc_want=1)
    rc, got, err = whocan("recordings.listen", "--seq", "31")
    R.check("--seq past the end: exit 2 naming the end", rc == 2 and "30" in err and got is None, (rc, got, err))


def test_times():
    ends = tt.BATCH_END
    for i, mark in enumerate(MARKS):
        want = LISTEN.get(ends[i])
        expect("--at mark after seq %d" % ends[i], "recordings.listen", ["--at", mark], want)
    expect("--at before everything", "recordings.listen", ["--at", "2020-01-01T00:00:00Z"], [], rc_want=1)
    expect("--at far ahead", "recordings.listen", ["--at", "2200-01-01T00:00:00Z"], LISTEN[30])


def test_other_permissions():
    expect("reports.view latest", "reports.view", [],
           [ADMIN, ext("2001"), ext("2002"), mgr("lead")])
    expect("calls.international in beta", "calls.international", [],
           [{"kind": "admin", "id": "root"}, ext("9001")], tenant="beta")
    expect("a manager-only permission", "tms_users.roles", [], [ADMIN, mgr("lead")])
    expect("a feature: nobody has it", "softphone", [], [])
    expect("unknown tenant", "reports.view", [], [], tenant="nobody", rc_want=1)


def test_explain():
    rc, got, err = whocan("recordings.listen", "--explain")
    R.check("explain: exit 0", rc == 0, err)
    got = got or []
    for g in got:
        R.check("explain: time format", bool(tt.TIME_RE.match(g.pop("time", ""))), g)
    R.check("explain recordings.listen", got == [
        {"kind": "admin", "id": "admin", "via": "pbx_admin", "seq": 1, "actor": "system"},
        {"kind": "extension", "id": "2001", "via": "direct", "seq": 19, "actor": "lead"},
        {"kind": "manager", "id": "sub", "via": "direct", "seq": 27, "actor": "admin"}], json.dumps(got))
    rc, got, _ = whocan("reports.view", "--explain")
    brief = [(g["id"], g["via"], g["seq"], g["actor"]) for g in got or []]
    R.check("explain reports.view", brief == [("admin", "pbx_admin", 1, "system"), ("2001", "role agent", 17, "lead"),
                                              ("2002", "role agent", 17, "lead"), ("lead", "direct", 4, "admin")], brief)
    rc, got, _ = whocan("recordings.listen", "--explain", "--seq", "18")
    brief = [(g["id"], g["via"], g["seq"]) for g in got or []]
    R.check("explain --seq 18", brief == [("admin", "pbx_admin", 1), ("2003", "role supervisor", 18),
                                          ("lead", "direct", 4)], brief)
    rc, got, _ = whocan("recordings.listen", "--explain", "--at", MARKS[2])
    R.check("explain --at: same holders as without", [{"kind": g["kind"], "id": g["id"]} for g in got or []] ==
            LISTEN[27], got)


def test_explain_roles():
    """Default role (R18) and role update (R16) as the granting records."""
    d = tt.copy_data(DATA, R.path("roles"))
    c = tt._c
    R.submit(d, [c("CreateRole", "beta", "root", role="basic", account_type="extension",
                   permissions=["reports.view"]),                                         # 31
                 c("SetDefaultRole", "beta", "root", role="basic"),                       # 32
                 c("CreateExtension", "beta", "root", id="9002"),                         # 33
                 c("UpdateRole", "beta", "root", role="basic",
                   permissions=["reports.view", "wallboard.view"])])                      # 34
    rc, got, err = whocan("reports.view", "--explain", tenant="beta", data=d)
    brief = [(g["id"], g["via"], g["seq"]) for g in got or []]
    R.check("explain: default role", brief == [("root", "pbx_admin", 2), ("9002", "role basic", 33)], (brief, err))
    rc, got, err = whocan("wallboard.view", "--explain", tenant="beta", data=d)
    brief = [(g["id"], g["via"], g["seq"]) for g in got or []]
    R.check("explain: role update", brief == [("root", "pbx_admin", 2), ("9002", "role basic", 34)], (brief, err))


def test_usage():
    rc, out, _ = R.run("tms-audit", "who-can", "--help")
    R.check("who-can --help", rc == 0 and out.startswith("usage"))
    for name, args in [("unknown permission", ["--permission", "telepathy"]),
                       ("--at and --seq", ["--permission", "reports.view", "--seq", "3", "--at", MARKS[0]]),
                       ("bad --seq", ["--permission", "reports.view", "--seq", "-3"]),
                       ("bad --at", ["--permission", "reports.view", "--at", "last tuesday"]),
                       ("no --permission", [])]:
        rc, out, err = R.run("tms-audit", "who-can", "--data", DATA, "--tenant", "acme", *args)
        R.check("who-can %s: exit 2, one stderr line" % name,
                rc == 2 and out == "" and len(err.strip().splitlines()) == 1, (rc, out, err))
    rc, out, err = R.run("tms-audit", "who-can", "--data", DATA, "--tenant", "bad tenant!", "--permission", "reports.view")
    R.check("who-can invalid tenant id: exit 2", rc == 2, (rc, err))


for t in (test_seqs, test_times, test_other_permissions, test_explain, test_explain_roles, test_usage):
    try:
        t()
    except Exception as e:
        R.check("%s raised %s: %s" % (t.__name__, type(e).__name__, e), False)
R.finish()
