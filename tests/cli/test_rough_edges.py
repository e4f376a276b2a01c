#!/usr/bin/env python3
"""test_rough_edges.py -- what a new user hit (issue 12, item 4), embedded
and through tmsd:

- a typo in a check (a name or a kind the schema does not know, a tenant or
  an account the state does not hold) is still deny (exit 1) but says why on
  stderr; a plain deny says nothing;
- `tmsctl names` lists every permission and feature of schemas/tmsperm.json
  with the account types that may hold it, without --data or --connect;
- `tmsctl submit --fail-on-reject` exits 1 when a command was rejected (all
  verdicts printed all the same), 0 otherwise; without it, 0;
- a malformed line's INVALID_COMMAND message names its line number (blank
  lines counted);
- `tmsctl status` through tmsd and embedded agree on the last seq and head.

usage: test_rough_edges.py BIN_DIR SCHEMA_JSON"""
import json, os, shutil, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish, free_port, run_cases, wait_tcp  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
SCHEMA = sys.argv[2] if len(sys.argv) > 2 else "schemas/tmsperm.json"
TMSD, TMSCTL = os.path.join(BIN, "tmsd"), os.path.join(BIN, "tmsctl")



def ctl(*args, stdin=None):
    r = subprocess.run([TMSCTL] + list(args), input=stdin, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


SETUP = [{"cmd": "CreateTenant", "tenant": "acme", "actor": "system", "admin": "admin"},
         {"cmd": "CreateExtension", "tenant": "acme", "actor": "admin", "id": "1001"}]


def lookups(where, label):
    rc, out, err = ctl(*where, "check", "acme", "extension", "1001", "recordings.lisen")
    check(label + ": a misspelt name: deny, exit 1, the reason on stderr", rc == 1 and out == "deny\n" and
          "recordings.lisen is neither a permission nor a feature" in err, (rc, out, err))
    rc, out, err = ctl(*where, "check", "acme", "extensoin", "1001", "recordings.listen")
    check(label + ": a misspelt kind: deny with the reason", rc == 1 and "unknown kind extensoin" in err, (rc, err))
    rc, out, err = ctl(*where, "check", "acmee", "extension", "1001", "recordings.listen")
    check(label + ": a misspelt tenant: deny with the reason", rc == 1 and out == "deny\n" and
          "there is no tenant acmee" in err, (rc, out, err))
    rc, out, err = ctl(*where, "check", "acme", "extension", "1009", "recordings.listen")
    check(label + ": an unknown account: deny with the reason", rc == 1 and "has no extension 1009" in err, (rc, err))
    rc, out, err = ctl(*where, "check", "acme", "extension", "1001", "recordings.listen")
    check(label + ": a plain deny says nothing on stderr", rc == 1 and out == "deny\n" and err == "", (rc, out, err))


def main():
    d = tempfile.mkdtemp(prefix="tms-rough-")
    data = os.path.join(d, "data")
    p = None
    try:
        schema = json.load(open(SCHEMA))
        rc, out, err = ctl("names")
        rows = [l.split() for l in out.splitlines()]
        want = [["permission", x["name"]] for x in schema["permissions"]] + [["feature", x["name"]] for x in schema["features"]]
        check("names: every permission and feature, in schema order, no --data needed", rc == 0 and
              [r[:2] for r in rows] == want, (rc, err, rows[:3]))
        types = {r[1]: set(r[2].split(",")) if len(r) > 2 else set() for r in rows}
        # features have no flags in the schema: they are extensions' (gen.py)
        check("names: the account types of each", all(
            types[x["name"]] == {t for t in ("extension", "manager") if x.get(t)} for x in schema["permissions"]) and
              all(types[x["name"]] == {"extension"} for x in schema["features"]), list(types.items())[:3])

        lines = "".join(json.dumps(c) + "\n" for c in SETUP)
        rc, out, err = ctl("--data", data, "submit", "--fail-on-reject", stdin=lines)
        check("--fail-on-reject, all accepted: exit 0", rc == 0 and out.count("accepted") == 2, (rc, out, err))
        bad = json.dumps(SETUP[1]) + "\n\n{oops\n"
        rc, out, err = ctl("--data", data, "submit", stdin=bad)
        check("without --fail-on-reject a rejection is exit 0", rc == 0 and out.count("rejected") == 2, (rc, out))
        v = [json.loads(l) for l in out.splitlines()]
        check("a malformed line's message names its line (blank lines counted)",
              v[1]["error"] == "INVALID_COMMAND" and v[1]["message"].startswith("line 3: "), v)
        rc, out, err = ctl("--data", data, "submit", "--fail-on-reject", stdin=bad)
        check("--fail-on-reject with rejections: exit 1, every verdict printed, a count on stderr",
              rc == 1 and len(out.splitlines()) == 2 and "2 commands rejected" in err, (rc, out, err))
        lookups(["--data", data], "embedded")
        # progress on a terminal: total, percent and ETA (tms-history knew no total before)
        big = os.path.join(d, "big")
        many = json.dumps(SETUP[0]) + "\n" + "".join(json.dumps(dict(SETUP[1], id="p%05d" % i)) + "\n"
                                                      for i in range(9000))
        rc, out, err = ctl("--data", big, "submit", stdin=many)
        hist = os.path.join(os.path.dirname(TMSCTL), "tms-history")
        r = subprocess.run(["script", "-qec", "%s custom --data %s --format json > /dev/null" % (hist, big), "/dev/null"],
                           capture_output=True, text=True, timeout=120, env=dict(os.environ, TMS_PROGRESS_AFTER_MS="0"))
        shown = [x for x in r.stdout.replace("\r", "\n").splitlines() if "records" in x]
        check("progress on a terminal: done / total records, percent, ETA", r.returncode == 0 and shown and
              "/ 9001 records (" in shown[-1] and "%" in shown[-1] and "ETA" in shown[-1], (r.returncode, shown[-2:]))
        rc, out, err = ctl("--data", os.path.join(d, "nowhere"), "status")
        check("status of a directory that does not exist: exit 2", rc == 2 and "no data directory" in err, (rc, out, err))
        rc, out, err = ctl("--data", data, "submit", "--he")
        check("an abbreviated option is refused (getopt_long would take --he for --help)",
              rc == 2 and "unknown option --he" in err, (rc, out, err))
        # RFC 3339 through libc's calendar (strptime, timegm): the edges still hold
        for t, ok in (("2026- 1-01", False), ("2026-01- 1", False), ("2026-02-29", False), ("2024-02-29T23:59:60.5+01:00", True), ("26-1-1", False),
                      ("2026-10-01t08:00:00z", True), ("2026-10-01T08:00:00", False), ("1969-12-31", False),
                      ("2026-10-01T08:00:00.1234567890Z", False)):
            rc, out, err = ctl("--data", data, "check", "--at", t, "acme", "extension", "1001", "recordings.listen")
            check("--at %s %s" % (t, "is read" if ok else "is refused (exit 2)"), (rc in (0, 1)) if ok else
                  (rc == 2 and "RFC 3339" in err), (rc, err))

        p = subprocess.Popen([TMSD, "--data", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sock = os.path.join(data, "tmsd.sock")
        for _ in range(300):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        lookups(["--connect", sock], "through tmsd")
        rc, out, err = ctl("--connect", sock, "status")
        remote = json.loads(out) if rc == 0 else {}
        rc2, out2, err2 = ctl("--data", data, "status")
        local = json.loads(out2) if rc2 == 0 else {}
        ver = subprocess.run([TMSCTL, "--version"], capture_output=True, text=True).stdout.split()[-1]
        check("status through tmsd: version, role, last seq, head, disk, counters",
              remote.get("version") == ver and remote.get("role") == "leader" and remote.get("last_seq", 0) >= 2 and
              len(remote.get("head", "")) == 64 and remote["disk"]["log_bytes"] > 0 and
              remote["disk"]["map_used_bytes"] > 0 and "checks" in remote["counters"], (rc, out, err))
        check("status embedded (while tmsd runs): the same last seq and head",
              local.get("role") == "embedded" and local.get("last_seq") == remote.get("last_seq") and
              local.get("head") == remote.get("head") and local["disk"]["log_bytes"] > 0, (rc2, out2, err2))
        rc, out, err = ctl("--connect", sock, "submit", "--fail-on-reject", stdin=bad)
        check("through tmsd: --fail-on-reject and the line number", rc == 1 and
              json.loads(out.splitlines()[1])["message"].startswith("line 3: "), (rc, out, err))
    finally:
        if p:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
