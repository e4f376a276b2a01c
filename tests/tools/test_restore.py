#!/usr/bin/env python3
"""test_restore -- tms-restore to a seq, a time and the end gives the same
show/check/visible, chain head and digest as the live directory had then;
the result verifies and takes new commands; the source is never modified;
bad targets, bad points and a corrupt source are refused, leaving nothing.
usage: python3 test_restore.py BIN_DIR     (last line: 'N passed, N failed')"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tooltest as tt  # noqa: E402

R = tt.Run()
DATA = R.path("data")
SNAPS = [R.path("snap%d" % i) for i in range(len(tt.SCENARIO))]
MARKS = tt.build_scenario(R, DATA, SNAPS)
ACCOUNTS = [("acme", "extension", "2001"), ("acme", "extension", "2002"), ("acme", "extension", "2003"),
            ("acme", "manager", "lead"), ("acme", "manager", "sub"), ("beta", "extension", "9001"),
            ("beta", "manager", "nobody")]
CHECKS = [("acme", "extension", "2001", "recordings.listen"), ("acme", "manager", "lead", "recordings.listen"),
          ("acme", "admin", "admin", "billing.manage"), ("beta", "extension", "9001", "calls.international")]


def tree_digest(d):
    h = hashlib.sha256()
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(p.encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def restore(*args):
    rc, out, err = R.run("tms-restore", "--data", DATA, *args)
    try:
        doc = json.loads(out) if out.strip() else None
    except ValueError:
        doc = None
    return rc, doc, err


def answers(d):
    """What tmsctl says about the accounts, checks and visibility of d."""
    got = []
    for a in ACCOUNTS:
        got.append(R.run("tmsctl", "--data", d, "show", *a)[:2])
    for c in CHECKS:
        got.append(R.run("tmsctl", "--data", d, "check", *c)[:2])
    got.append(R.run("tmsctl", "--data", d, "visible", "acme", "lead")[:2])
    return got


def verified(d):
    rc, out, err = R.run("tms-audit", "verify", "--data", d)
    return rc, (json.loads(out) if rc == 0 else None), err


def same_as_snapshot(name, target, snap, last_seq):
    before = tree_digest(DATA)
    rc, doc, err = restore("--to", target, *name[1])
    R.check("%s: the source is not modified" % name[0], tree_digest(DATA) == before)
    if not R.check("%s: exit 0" % name[0], rc == 0 and doc, (rc, err)):
        return
    R.check("%s: keys" % name[0], list(doc) == ["records", "last_seq", "time", "head", "digest"], doc)
    R.check("%s: records and last seq" % name[0], doc["records"] == last_seq and doc["last_seq"] == last_seq, doc)
    R.check("%s: time format" % name[0], bool(tt.TIME_RE.match(doc["time"] or "")), doc)
    src = verified(snap)[1] or {}
    R.check("%s: digest equals the live projection's at that point" % name[0],
            doc["digest"] == src.get("digest") and src.get("projection") == "match", (doc, src))
    R.check("%s: head equals the source chain's at that seq" % name[0], doc["head"] == src.get("head"), (doc, src))
    rc, mine, err = verified(target)
    R.check("%s: the restored directory verifies" % name[0], rc == 0 and mine and mine["digest"] == doc["digest"]
            and mine["projection"] == "match", (rc, mine, err))
    R.check("%s: same show/check/visible answers" % name[0], answers(target) == answers(snap))


def test_points():
    same_as_snapshot(("restore --seq 16", ["--seq", "16"]), R.path("r16"), SNAPS[0], 16)
    same_as_snapshot(("restore --time mark 2", ["--time", MARKS[1]]), R.path("rt2"), SNAPS[1], 23)
    same_as_snapshot(("restore --seq 27", ["--seq", "27"]), R.path("r27"), SNAPS[2], 27)
    same_as_snapshot(("restore to the end", []), R.path("rend"), DATA, 30)
    os.mkdir(R.path("empty"))
    same_as_snapshot(("restore into an existing empty dir", ["--seq", "23"]), R.path("empty"), SNAPS[1], 23)


def test_usable():
    target = R.path("r16")
    if not os.path.isdir(target):
        R.check("usable: needs the --seq 16 restore", False)
        return
    v = R.submit(target, [tt._c("AssignRole", "acme", "lead", role="agent", ids=["2002"])])
    R.check("restored dir accepts a submit at seq 17", v == [{"seq": 17, "verdict": "accepted"}], v)
    rc, out, _ = R.run("tmsctl", "--data", target, "show", "acme", "extension", "2002")
    R.check("restored dir shows the new state", rc == 0 and json.loads(out)["role"] == "agent", out)
    rc, doc, err = verified(target)
    R.check("restored dir verifies after a submit", rc == 0 and doc["last_seq"] == 17, (rc, doc, err))


def test_refusals():
    full = R.path("full")
    os.mkdir(full)
    with open(os.path.join(full, "keep"), "w") as f:
        f.write("x")
    rc, doc, err = restore("--to", full)
    R.check("non-empty target: exit 2, one stderr line", rc == 2 and doc is None and
            len(err.strip().splitlines()) == 1, (rc, err))
    R.check("non-empty target: untouched", os.listdir(full) == ["keep"], os.listdir(full))
    rc, doc, err = restore("--to", os.path.join(DATA, "inside"))
    R.check("target inside the source: exit 2", rc == 2, (rc, err))
    R.check("target inside the source: nothing created", not os.path.exists(os.path.join(DATA, "inside")))
    for name, args in [("--seq past the end", ["--seq", "31"]), ("--seq 0", ["--seq", "0"]),
                       ("--seq and --time", ["--seq", "3", "--time", MARKS[0]]),
                       ("bad --time", ["--time", "noon"]),
                       ("--time before the first record", ["--time", "2020-01-01T00:00:00Z"])]:
        t = R.path("refused")
        rc, doc, err = restore("--to", t, *args)
        R.check("%s: exit 2" % name, rc == 2 and doc is None and len(err.strip().splitlines()) == 1, (rc, err))
        R.check("%s: nothing left behind" % name, not os.path.exists(t) or os.listdir(t) == [],
                os.listdir(t) if os.path.exists(t) else None)
    rc, _, err = R.run("tms-restore", "--data", DATA)
    R.check("no --to: exit 2", rc == 2, err)
    rc, out, _ = R.run("tms-restore", "--help")
    R.check("--help: exit 0", rc == 0 and out.startswith("usage"))
    rc, _, err = R.run("tms-restore", "--data", R.path("nothing"), "--to", R.path("x"))
    R.check("missing source: exit 2", rc == 2 and not os.path.exists(R.path("x")), err)


def test_corrupt_source():
    src = tt.copy_data(DATA, R.path("corrupt"))
    seg = tt.segments(src)[0]
    _, frames = tt.read_frames(seg)
    with open(seg, "r+b") as fh:
        fh.seek(frames[9].offset + tt.FRAME_HEADER + 3)      # seq 10
        b = fh.read(1)
        fh.seek(frames[9].offset + tt.FRAME_HEADER + 3)
        fh.write(bytes([b[0] ^ 1]))
    t = R.path("from-corrupt")
    rc, out, err = R.run("tms-restore", "--data", src, "--to", t, "--seq", "20")
    R.check("corrupt source: exit 1 naming seq 10", rc == 1 and "seq 10" in err and out == "", (rc, out, err))
    R.check("corrupt source: nothing left behind", not os.path.exists(t), os.path.exists(t))
    rc, out, err = R.run("tms-restore", "--data", src, "--to", t, "--seq", "9")
    R.check("corrupt source: a restore before the damage works", rc == 0 and json.loads(out)["last_seq"] == 9,
            (rc, out, err))


for fn in (test_points, test_usable, test_refusals, test_corrupt_source):
    try:
        fn()
    except Exception as e:
        R.check("%s raised %s: %s" % (fn.__name__, type(e).__name__, e), False)
R.finish()
