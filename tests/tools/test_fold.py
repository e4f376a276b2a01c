#!/usr/bin/env python3
"""test_fold -- the tools fold the log in memory: on a few thousand records
with role churn (R15-R17) every event comes out once, the answers are the
same on every run, and tms-restore's projection (written by a bulk load)
verifies with the digest of tms-audit verify's in-memory fold.
usage: python3 test_fold.py BIN_DIR     (last line: 'N passed, N failed')"""
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tooltest as tt  # noqa: E402

R = tt.Run()
DATA = R.path("data")
PERMS = ["reports.view", "reports.export", "wallboard.view", "recordings.listen", "calls.international"]


def commands(n, seed=7):
    rnd = random.Random(seed)
    c, out = tt._c, []
    for t in ("acme", "beta"):
        out += [c("CreateTenant", t, "system", admin="admin"),
                c("AddManager", t, "admin", id="boss", new_login={"id": "lb"}),
                tt._perms(t, "admin", "manager", "boss", PERMS + ["tms_users.permissions", "tms_users.roles",
                                                                  "tms_users.distribution"]),
                c("CreateRole", t, "boss", role="agent", account_type="extension", permissions=PERMS[:2])]
        for e in range(150):
            out += [c("CreateExtension", t, "admin", id=str(1000 + e)),
                    c("Distribute", t, "admin", kind="extension", id=str(1000 + e), manager="boss"),
                    c("TakeOwnership", t, "boss", id=str(1000 + e))]
    for i in range(n):
        t, e, r = rnd.choice(("acme", "beta")), str(1000 + rnd.randrange(150)), rnd.random()
        if r < 0.45:
            out.append(tt._perms(t, "boss", "extension", e, [rnd.choice(PERMS)]))
        elif r < 0.9:
            out.append(c("AssignRole", t, "boss", role="agent", ids=[e, str(1000 + rnd.randrange(150))]))
        elif r < 0.95:
            out.append(c("DeleteRole", t, "boss", role="agent"))
            out.append(c("CreateRole", t, "boss", role="agent", account_type="extension",
                         permissions=rnd.sample(PERMS, 2)))
        else:
            out.append(c("UpdateRole", t, "boss", role="agent", permissions=rnd.sample(PERMS, 3)))
    return out


def run(*args):
    p = subprocess.run([R.prog(args[0])] + list(args[1:]), capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


R.submit(DATA, commands(4000))
QUERIES = [
    ("custom history", ["tms-history", "custom", "--data", DATA]),
    ("custom history, csv, one tenant", ["tms-history", "custom", "--data", DATA, "--tenant", "beta", "--format", "csv"]),
    ("account timeline", ["tms-history", "account", "--data", DATA, "acme", "extension", "1007"]),
    ("who-can --explain", ["tms-audit", "who-can", "--data", DATA, "--tenant", "acme", "--permission",
                           "recordings.listen", "--explain"]),
    ("who-can --seq", ["tms-audit", "who-can", "--data", DATA, "--tenant", "beta", "--permission",
                       "reports.view", "--seq", "3000"]),
    ("verify", ["tms-audit", "verify", "--data", DATA]),
]
for name, q in QUERIES:
    first, again = run(*q), run(*q)
    R.check("%s: exit 0" % name, first[0] == 0 and again[0] == 0, (first[0], first[2][-300:]))
    R.check("%s: some output" % name, len(first[1]) > 2, first[1][:200])
    R.check("%s: the same output twice" % name, first[1] == again[1])
evs = R.json_lines(run("tms-history", "custom", "--data", DATA)[1])
keys = [(e["seq"], e["kind"], e["id"]) for e in evs]
R.check("custom history: every event once", len(keys) == len(set(keys)) and len(keys) > 100, len(keys))
R.check("custom history: both causes", {e["cause"] for e in evs} == {"set_permissions", "role_deleted"})
RESTORED = R.path("restored")
rc, out, err = run("tms-restore", "--data", DATA, "--to", RESTORED)
ver = R.json_lines(run("tms-audit", "verify", "--data", DATA)[1])
R.check("a restore's bulk-loaded projection has the digest of the in-memory fold",
        rc == 0 and ver and json.loads(out)["digest"] == ver[0]["digest"], (rc, out, err, ver))
R.finish()
