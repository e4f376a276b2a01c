#!/usr/bin/env python3
"""test_backup -- tms-restore backup: of a quiet directory (same digest and
answers as the source); of a live one, several times while tmsd takes a
stream of submits from a separate process (each backup verifies, answers
tmsctl show, and restores); the final backup after tmsd stops equals the
source; a source without a projection; a damaged source and bad targets
are refused, leaving nothing behind.
usage: python3 test_backup.py BIN_DIR     (last line: 'N passed, N failed')"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tooltest as tt  # noqa: E402

R = tt.Run()
DATA = R.path("data")
tt.build_scenario(R, DATA)
KEYS = ["records", "last_seq", "time", "head", "projection_seq", "digest", "snapshot_seq"]


def backup(src, dst):
    rc, out, err = R.run("tms-restore", "backup", "--data", src, "--to", dst)
    try:
        return rc, json.loads(out) if out.strip() else None, err
    except ValueError:
        return rc, None, err


def verify(d):
    rc, out, err = R.run("tms-audit", "verify", "--data", d)
    return rc, (json.loads(out) if out.strip() else {}), err


def test_quiet():
    b = R.path("b-quiet")
    rc, doc, err = backup(DATA, b)
    if not R.check("quiet: exit 0, keys", rc == 0 and doc and list(doc) == KEYS, (rc, doc, err)):
        return
    _, src, _ = verify(DATA)
    R.check("quiet: every record, projection snapshot at the end", doc["records"] == 30 and doc["last_seq"] == 30
            and doc["projection_seq"] == 30, doc)
    rc, mine, err = verify(b)
    R.check("quiet: the backup verifies, same head and digest as the source", rc == 0 and
            mine["projection"] == "match" and mine["digest"] == src["digest"] == doc["digest"] and
            mine["head"] == src["head"] == doc["head"], (mine, src))
    for acct in [("acme", "extension", "2001"), ("acme", "manager", "sub"), ("beta", "extension", "9001")]:
        R.check("quiet: show %s %s %s answers the same" % acct,
                R.run("tmsctl", "--data", b, "show", *acct)[:2] == R.run("tmsctl", "--data", DATA, "show", *acct)[:2])
    t = R.path("r-from-backup")
    rc, out, err = R.run("tms-restore", "--data", b, "--to", t, "--seq", "23")
    R.check("quiet: tms-restore takes the backup as --data", rc == 0 and json.loads(out)["last_seq"] == 23, err)
    rc, out, err = R.run("tms-restore", "--data", b, "--to", R.path("r-all"))
    R.check("quiet: a full restore of the backup has the source's digest", rc == 0 and
            json.loads(out)["digest"] == src["digest"], err)


def test_no_projection():
    src = tt.copy_data(DATA, R.path("noproj"))
    shutil.rmtree(os.path.join(src, "proj"))
    rc, doc, err = backup(src, R.path("b-noproj"))
    _, ref, _ = verify(DATA)
    R.check("no projection: backed up, projection_seq null, rebuilt", rc == 0 and doc["projection_seq"] is None and
            doc["last_seq"] == 30 and doc["digest"] == ref["digest"], (rc, doc, err))
    R.check("no projection: the source still has none", not os.path.exists(os.path.join(src, "proj")))


def test_refusals():
    full = R.path("full")
    os.mkdir(full)
    open(os.path.join(full, "keep"), "w").close()
    rc, doc, err = backup(DATA, full)
    R.check("non-empty target: exit 2, untouched", rc == 2 and os.listdir(full) == ["keep"] and
            len(err.strip().splitlines()) == 1, (rc, err))
    rc, doc, err = backup(DATA, os.path.join(DATA, "bk"))
    R.check("target inside the source: exit 2, nothing created", rc == 2 and
            not os.path.exists(os.path.join(DATA, "bk")), (rc, err))
    rc, out, err = R.run("tms-restore", "backup", "--data", DATA)
    R.check("no --to: exit 2", rc == 2, err)
    rc, out, err = R.run("tms-restore", "backup", "--help")
    R.check("backup --help: exit 0", rc == 0 and out.startswith("usage: tms-restore backup"), out)
    bad = tt.copy_data(DATA, R.path("bad"))
    seg = tt.segments(bad)[0]
    fr = tt.read_frames(seg)[1][6]
    with open(seg, "r+b") as fh:
        fh.seek(fr.offset + tt.FRAME_HEADER + 1)
        b = fh.read(1)
        fh.seek(fr.offset + tt.FRAME_HEADER + 1)
        fh.write(bytes([b[0] ^ 4]))
    t = R.path("b-bad")
    rc, doc, err = backup(bad, t)
    R.check("damaged source: exit 1 naming seq 7, nothing left", rc == 1 and "seq 7" in err and
            not os.path.exists(t), (rc, err))


# ---- live: tmsd writing, a separate process submitting ------------------------------------

LOADER = r"""
import os, subprocess, sys, time
ctl, sock, stop = sys.argv[1:4]
i = 0
while not os.path.exists(stop):
    lines = "".join('{"cmd":"CreateExtension","tenant":"live","actor":"admin","id":"x%d"}\n' % (i + k)
                    for k in range(5))
    subprocess.run([ctl, "--connect", sock, "submit"], input=lines.encode(), stdout=subprocess.DEVNULL, timeout=60)
    i += 5
"""


def up(sock):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.close()
        return True
    except OSError:
        return False


def start_tmsd(data):
    log = open(R.path("tmsd.log"), "ab")
    p = subprocess.Popen([R.prog("tmsd"), "--data", data], stdout=log, stderr=log)
    sock = os.path.join(data, "tmsd.sock")
    for _ in range(500):
        if up(sock):
            return p, sock
        if p.poll() is not None:
            break
        time.sleep(0.02)
    p.kill()
    raise RuntimeError("tmsd did not come up")


def check_live_backup(i, b, previous):
    rc, doc, err = backup(LIVE, b)
    if not R.check("live %d: exit 0" % i, rc == 0 and doc, (rc, err)):
        return previous
    rc, v, verr = verify(b)
    R.check("live %d: verify passes (projection level with the log)" % i, rc == 0 and v["ok"] and
            v["projection"] == "match" and v["last_seq"] == doc["last_seq"] and v["digest"] == doc["digest"],
            (rc, v, verr))
    R.check("live %d: snapshot at or behind the log copy" % i,
            doc["projection_seq"] is not None and doc["projection_seq"] <= doc["last_seq"], doc)
    rc, out, err = R.run("tmsctl", "--data", b, "show", "live", "extension", "x0")
    R.check("live %d: tmsctl --data BACKUP show answers" % i, rc == 0 and json.loads(out)["id"] == "x0", (rc, err))
    R.check("live %d: later backups hold more" % i, doc["last_seq"] >= previous, (doc["last_seq"], previous))
    return doc["last_seq"]


def test_live():
    global LIVE
    LIVE = R.path("live")
    tmsd, sock = start_tmsd(LIVE)
    stop = R.path("stop-loader")
    loader = None
    try:
        subprocess.run([R.prog("tmsctl"), "--connect", sock, "submit"], input=json.dumps(
            {"cmd": "CreateTenant", "tenant": "live", "actor": "system", "admin": "admin"}) + "\n",
            text=True, capture_output=True, timeout=60)
        loader = subprocess.Popen([sys.executable, "-c", LOADER, R.prog("tmsctl"), sock, stop])
        time.sleep(0.5)
        last = 0
        for i in range(5):
            last = check_live_backup(i, R.path("b-live%d" % i), last)
            time.sleep(0.2)
        R.check("live: the loader kept writing during the backups", last > 20, last)
        R.check("live: the loader is still running", loader.poll() is None)
    finally:
        open(stop, "w").close()
        if loader:
            loader.wait(timeout=60)
        tmsd.send_signal(signal.SIGTERM)
        tmsd.wait(timeout=30)
    rc, doc, err = backup(LIVE, R.path("b-final"))
    _, src, _ = verify(LIVE)
    R.check("live: after tmsd stops, a backup equals the source", rc == 0 and doc["last_seq"] == src["last_seq"] and
            doc["digest"] == src["digest"] and doc["projection_seq"] == src["last_seq"], (doc, src))


def test_snapshot_copied():
    """The source's newest state snapshot goes with the backup, and the backup's open starts from it (a tail
    after it folded): snapshot_seq says so. Without the copy the open folds the whole log (snapshot_seq null)."""
    src = tt.copy_data(DATA, R.path("snapsrc"))
    snaps = sorted(f for f in os.listdir(os.path.join(src, "snapshots")) if f.endswith(".snap"))
    R.check("snapshot: the source has a snapshot of its last seq", snaps[-1] == "%020d.snap" % 30, snaps)
    more = "".join(json.dumps({"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "77%02d" % i}) + "\n"
                   for i in range(3))
    path = os.path.join(src, "snapshots", snaps[-1])
    keep = open(path, "rb").read()
    R.run("tmsctl", "--data", src, "submit", stdin=more)
    for f in os.listdir(os.path.join(src, "snapshots")):
        os.unlink(os.path.join(src, "snapshots", f))
    open(path, "wb").write(keep)   # the snapshot of 30 only: a tail of 3 after it (the source's projection at 33)
    rc, doc, err = backup(src, R.path("b-snap"))
    _, ref, _ = verify(src)
    R.check("snapshot: the backup's open started from the copied snapshot", rc == 0 and doc["snapshot_seq"] == 30 and
            doc["last_seq"] == 33 and doc["digest"] == ref["digest"], (rc, doc, err))
    rc, mine, err = verify(R.path("b-snap"))
    R.check("snapshot: the backup verifies, the copied snapshot included", rc == 0 and mine.get("snapshots", 0) >= 1,
            (mine, err))
    os.unlink(path)
    rc, doc, err = backup(src, R.path("b-nosnap"))
    R.check("snapshot: none in the source: snapshot_seq null, same digest", rc == 0 and doc["snapshot_seq"] is None and
            doc["digest"] == ref["digest"], (rc, doc, err))


for fn in (test_quiet, test_no_projection, test_refusals, test_live, test_snapshot_copied):
    try:
        fn()
    except Exception as e:
        R.check("%s raised %s: %s" % (fn.__name__, type(e).__name__, e), False)
R.finish()
