"""test_verify_index -- tms-audit verify compares the projection's as-of
index with the index the log makes, tallied during its replay (issue 22: one
fold, no separate rebuild, no scratch index): a value altered or an entry
added in place in any of the index's databases (with LMDB's own
mdb_dump/mdb_load, lmdb-utils) fails check "history" naming the seq; an
intact one holds; nothing is written under TMPDIR.
usage: test_verify_index.py BIN_DIR"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tooltest import Run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "..", "examples", "demo.jsonl")
r = Run()


def verify(d):
    rc, out, err = r.run("tms-audit", "verify", "--data", d)
    return rc, (json.loads(out) if out.strip() else {}), err


# verify used to write a scratch index under $TMPDIR: a directory of this test's own shows it writes nothing
TMP = os.path.abspath(r.path("tmp"))
os.makedirs(TMP, exist_ok=True)
os.environ["TMPDIR"] = TMP

d = r.path("d")
r.run("tmsctl", "--data", d, "submit", DEMO)
rc, v, err = verify(d)
r.check("an intact directory verifies, its projection and index level", rc == 0 and v.get("projection") == "match",
        (v, err))
last = v.get("last_seq")
os.environ["TMPDIR"] = os.path.join(TMP, "absent")   # no scratch directory: a TMPDIR that is not there is no matter
rc, v2, err = verify(d)
r.check("verify needs no scratch directory (TMPDIR names none)", rc == 0 and v2.get("projection") == "match",
        (rc, v2, err))
os.environ["TMPDIR"] = TMP
if not shutil.which("mdb_dump"):
    r.check("mdb_dump (lmdb-utils) is installed (scripts/bootstrap installs it)", False)
else:
    dump = subprocess.run(["mdb_dump", "-s", "versions", os.path.join(d, "proj")], capture_output=True, text=True)
    lines = dump.stdout.split("\n")
    i = lines.index("HEADER=END")
    v0 = lines[i + 2]   # the first value of the versions index
    lines[i + 2] = v0[:-1] + ("0" if v0[-1] != "0" else "1")
    load = subprocess.run(["mdb_load", "-s", "versions", os.path.join(d, "proj")], input="\n".join(lines),
                          capture_output=True, text=True)
    r.check("an index value altered in place (mdb_load)", load.returncode == 0, load.stderr)
    rc, v, err = verify(d)
    r.check("verify: check history fails naming the projection's seq", rc == 1 and v.get("check") == "history" and
            v.get("seq") == last and last and "as-of index" in v.get("error", ""), (v, err))


def alter_first_version(d):
    dump = subprocess.run(["mdb_dump", "-s", "versions", os.path.join(d, "proj")], capture_output=True, text=True)
    lines = dump.stdout.split("\n")
    i = lines.index("HEADER=END")
    v0 = lines[i + 2]
    lines[i + 2] = v0[:-1] + ("0" if v0[-1] != "0" else "1")
    return subprocess.run(["mdb_load", "-s", "versions", os.path.join(d, "proj")], input="\n".join(lines),
                          capture_output=True, text=True).returncode == 0


# A projection behind the log (a writer stopped between its log and its projection): its index is complete to
# the projection's seq, and is compared there (the fold writes the scratch index up to that seq).
behind, ahead = r.path("behind"), r.path("ahead")
r.run("tmsctl", "--data", ahead, "submit", DEMO)
shutil.copytree(ahead, behind)
with open(r.path("more.jsonl"), "w") as f:   # one more record (a rejected one lengthens the log as well)
    f.write(open(DEMO).read().splitlines()[0] + "\n")
r.run("tmsctl", "--data", ahead, "submit", r.path("more.jsonl"))
shutil.rmtree(os.path.join(behind, "log"))
shutil.copytree(os.path.join(ahead, "log"), os.path.join(behind, "log"))
rc, vb, err = verify(behind)
r.check("a projection behind the log verifies (projection behind)",
        rc == 0 and vb.get("projection") == "behind" and vb.get("last_seq", 0) > vb.get("projection_seq", 0), (vb, err))
if shutil.which("mdb_dump") and rc == 0:
    r.check("its index value altered in place", alter_first_version(behind))
    rc, vb2, err = verify(behind)
    r.check("verify: check history fails at the projection's seq, behind the log", rc == 1 and
            vb2.get("check") == "history" and vb2.get("seq") == vb.get("projection_seq"), (vb2, err))


def alter_first(d, db):
    """The first entry of database db of d's index with its value's last hex digit changed, loaded back: a
    plain database's value is replaced, a database of duplicates gets one more."""
    dump = subprocess.run(["mdb_dump", "-s", db, os.path.join(d, "proj")], capture_output=True, text=True)
    lines = dump.stdout.split("\n")
    i = lines.index("HEADER=END")
    if not lines[i + 1].startswith(" "):
        return False   # an empty database
    v0 = lines[i + 2]
    lines[i + 2] = v0[:-1] + ("0" if v0[-1] != "0" else "1")
    return subprocess.run(["mdb_load", "-s", db, os.path.join(d, "proj")], input="\n".join(lines),
                          capture_output=True, text=True).returncode == 0


# Every database of the index is compared: an entry changed or added in any one of them is found.
if shutil.which("mdb_dump"):
    for db in ("versions", "dist_at", "visible_at", "changes", "times"):
        x = r.path("x-" + db)
        shutil.copytree(ahead, x)
        r.check("%s: its first entry altered in place" % db, alter_first(x, db))
        rc, vx, err = verify(x)
        r.check("%s altered: verify fails check history" % db, rc == 1 and vx.get("check") == "history", (vx, err))
        shutil.rmtree(x)
r.check("verify writes nothing under TMPDIR", os.listdir(TMP) == [], os.listdir(TMP))
r.finish()
