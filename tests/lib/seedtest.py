"""seedtest.py -- what the seeded-directory tests share (tests/tools/
test_seed_open.py, test_seed_recover.py): the tools of BIN_DIR (argv[1]),
a tally of checks, and a leader with a signed checkpoint to seed from.

A script does `from seedtest import *`, runs its cases, then
`sys.exit(report())`."""
import json, os, subprocess, sys

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
CTL, AUDIT, RESTORE = (os.path.join(BIN, n) for n in ("tmsctl", "tms-audit", "tms-restore"))
_tally = {"passed": 0, "failed": 0}


def check(what, ok, detail=""):
    _tally["passed" if ok else "failed"] += 1
    print("ok  " if ok else "FAIL", what, "" if ok else str(detail)[:600])


def report():
    """Prints the tally; the exit status: 0 when nothing failed."""
    print("%d passed, %d failed" % (_tally["passed"], _tally["failed"]))
    return 0 if _tally["failed"] == 0 else 1


def run(*args, inp=None, timeout=120):
    return subprocess.run(list(args), input=inp, capture_output=True, text=True, timeout=timeout)


def submit(data, *cmds, timeout=120):
    return run(CTL, "--data", data, "submit", inp="".join(json.dumps(c) + "\n" for c in cmds), timeout=timeout)


def ext(i, tenant="acme"):
    return {"cmd": "CreateExtension", "tenant": tenant, "actor": "admin", "id": i if isinstance(i, str) else "x%d" % i}


def tenant(t):
    return {"cmd": "CreateTenant", "tenant": t, "actor": "system", "admin": "admin"}


def leader(d, *cmds):
    """D/L with cmds submitted and a checkpoint signed by D/L.key (its snapshot's note too): (data, vkey)."""
    data, key = os.path.join(d, "L"), os.path.join(d, "L.key")
    vkey = run(AUDIT, "keygen", "--name", "pbx.example.com/tms", "--out", key).stdout.strip()
    submit(data, *cmds)
    r = run(CTL, "--data", data, "checkpoint", "--signing-key", key)
    assert r.returncode == 0, r.stderr
    return data, vkey


def seeded(d, src, vkey, name):
    """D/NAME seeded from src: (its path, the seq it was seeded from)."""
    to = os.path.join(d, name)
    r = run(RESTORE, "seed", "--from", src, "--key", vkey, "--to", to)
    assert r.returncode == 0, r.stderr
    return to, json.loads(r.stdout)["seeded_from"]
