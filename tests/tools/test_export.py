#!/usr/bin/env python3
"""test_export -- tms-audit export over the fixed scenario of tooltest.py:
one JSON line per record (seq, time, verdict, cmd) with golden lines, the
commands re-submitted into a fresh directory give the same verdicts and the
same 'tmsctl show' answers, --since/--until by seq and by time, a damaged
log (exit 1 naming seq, segment and offset) and the usage errors.
usage: python3 test_export.py BIN_DIR     (last line: 'N passed, N failed')"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tooltest as tt  # noqa: E402

R = tt.Run()
DATA = R.path("data")
MARKS = tt.build_scenario(R, DATA)
LAST = tt.BATCH_END[-1]

# account or object -> tmsctl show arguments, for every one the scenario names
SHOWN = [("acme", "manager", "lead"), ("acme", "manager", "sub"), ("acme", "extension", "2001"),
         ("acme", "extension", "2002"), ("acme", "extension", "2003"), ("beta", "extension", "9001"),
         ("acme", "manager", "admin"), ("beta", "manager", "nobody")]

# exact lines, "time" left out (it is the clock of the run), "by" as BY
BY = '"by":{"principal":"local","peer":"uid:%d"}' % os.getuid()
GOLDEN = {
    1: '{"seq":1,"time":T,"verdict":"accepted","cmd":{"cmd":"CreateTenant","tenant":"acme","actor":"system",'
       '"admin":"admin"},' + BY + '}',
    3: '{"seq":3,"time":T,"verdict":"accepted","cmd":{"cmd":"AddManager","tenant":"acme","actor":"admin",'
       '"id":"lead","new_login":{"id":"login-lead"}},' + BY + '}',
    17: '{"seq":17,"time":T,"verdict":"accepted","cmd":{"cmd":"AssignRole","tenant":"acme","actor":"lead",'
        '"role":"agent","ids":["2001","2002"]},' + BY + '}',
    20: '{"seq":20,"time":T,"verdict":"FORBIDDEN","cmd":{"cmd":"SetPermissions","tenant":"acme","actor":"sub",'
        '"kind":"extension","id":"2002","enable":["recordings.listen"],"disable":[]},' + BY + '}',
}

TIME_FIELD = re.compile(r'"time":"([^"]*)"')


def export(*args, data=DATA):
    rc, out, err = R.run("tms-audit", "export", "--data", data, *args)
    try:
        lines = [json.loads(l) for l in out.splitlines()]
    except ValueError:
        lines = None
    return rc, out, lines, err


def test_whole():
    rc, out, lines, err = export()
    R.check("export: exit 0, quiet", rc == 0 and err == "", (rc, err))
    if not R.check("export: one JSON line per record", lines is not None and len(lines) == LAST, out[:300]):
        return
    R.check("export: seqs 1..N in order", [l["seq"] for l in lines] == list(range(1, LAST + 1)))
    R.check("export: keys seq time verdict cmd by", all(list(l) == ["seq", "time", "verdict", "cmd", "by"] for l in lines))
    R.check("export: by names the principal and the peer (tmsctl embedded: local, uid:N)",
            all(l["by"] == {"principal": "local", "peer": "uid:%d" % os.getuid()} for l in lines), lines[0].get("by"))
    R.check("export: RFC 3339 times with ns", all(tt.TIME_RE.match(l["time"]) for l in lines))
    R.check("export: times never go back", all(a["time"] <= b["time"] for a, b in zip(lines, lines[1:])))
    R.check("export: one rejected record", [l["seq"] for l in lines if l["verdict"] != "accepted"] == [20])
    flat = [c for b in tt.SCENARIO for c in b]
    R.check("export: cmd is the command submitted", [l["cmd"] for l in lines] == flat,
            [(l["cmd"], c) for l, c in zip(lines, flat) if l["cmd"] != c][:2])
    raw = out.splitlines()
    for seq, want in sorted(GOLDEN.items()):
        got = TIME_FIELD.sub('"time":T', raw[seq - 1], count=1)
        R.check("export: golden line %d" % seq, got == want, "got  %s\nwant %s" % (got, want))


def test_resubmit():
    """The exported commands, submitted into a fresh directory, replay the same history."""
    _, _, lines, _ = export()
    if not lines:
        R.check("resubmit: export readable", False)
        return
    fresh = R.path("resubmitted")
    verdicts = R.submit(fresh, [l["cmd"] for l in lines])
    got = [(v.get("seq"), v.get("error") if v.get("verdict") == "rejected" else v.get("verdict")) for v in verdicts]
    R.check("resubmit: same verdicts", got == [(l["seq"], l["verdict"]) for l in lines],
            [(g, (l["seq"], l["verdict"])) for g, l in zip(got, lines) if g != (l["seq"], l["verdict"])][:3])
    for t, kind, i in SHOWN:
        a = R.run("tmsctl", "--data", DATA, "show", t, kind, i)
        b = R.run("tmsctl", "--data", fresh, "show", t, kind, i)
        R.check("resubmit: same 'show %s %s %s'" % (t, kind, i), a[:2] == b[:2], (a, b))
    rc, out2, lines2, _ = export(data=fresh)
    R.check("resubmit: its export has the same commands and verdicts",
            rc == 0 and lines2 and [(l["verdict"], l["cmd"]) for l in lines2] ==
            [(l["verdict"], l["cmd"]) for l in lines])


def seqs_of(*args):
    rc, _, lines, err = export(*args)
    return rc, [l["seq"] for l in lines] if lines is not None else None, err


def test_window():
    cases = [(("--since", "17", "--until", "23"), list(range(17, 24))),
             (("--since", "29"), [29, 30]),
             (("--until", "3"), [1, 2, 3]),
             (("--since", "31"), []),
             (("--until=1",), [1]),
             (("--since", MARKS[0]), list(range(17, LAST + 1))),
             (("--until", MARKS[1]), list(range(1, 24))),
             (("--since", MARKS[1], "--until", MARKS[2]), list(range(24, 28))),
             (("--since", "2000-01-01", "--until", "24"), list(range(1, 25)))]
    for args, want in cases:
        rc, got, err = seqs_of(*args)
        R.check("window %s: exit 0" % " ".join(args), rc == 0, (rc, err))
        R.check("window %s: seqs %s" % (" ".join(args), want[:3]), got == want, got)


def test_damaged():
    d = tt.copy_data(DATA, R.path("damaged"))
    seg = tt.segments(d)[0]
    _, frames = tt.read_frames(seg)
    f = frames[9]                                   # seq 10
    with open(seg, "r+b") as fh:
        fh.seek(f.offset + tt.FRAME_HEADER + 5)
        b = fh.read(1)
        fh.seek(f.offset + tt.FRAME_HEADER + 5)
        fh.write(bytes([b[0] ^ 0x20]))
    rc, out, lines, err = export(data=d)
    R.check("damaged: exit 1", rc == 1, (rc, err))
    R.check("damaged: the records before the damage", lines is not None and [l["seq"] for l in lines] ==
            list(range(1, 10)), out[-200:])
    R.check("damaged: one stderr line naming seq, segment and offset",
            len(err.strip().splitlines()) == 1 and "seq 10" in err and os.path.basename(seg) in err and
            ("offset %d" % f.offset) in err, err)


def test_usage():
    rc, out, _ = R.run("tms-audit", "export", "--help")
    R.check("export --help", rc == 0 and "usage: tms-audit export" in out, out)
    rc, out, _ = R.run("tms-audit", "--help")
    R.check("tms-audit --help lists export", rc == 0 and "export" in out)
    for args, what in [((), "no --data"), (("--data", R.path("nothing-here")), "missing directory"),
                       (("--data", DATA, "--since", "nonsense"), "bad --since"),
                       (("--data", DATA, "--since", "20", "--until", "10"), "--since after --until"),
                       (("--data", DATA, "--bogus"), "unknown option")]:
        rc, out, err = R.run("tms-audit", "export", *args)
        R.check("export, %s: exit 2, one line" % what, rc == 2 and out == "" and
                len(err.strip().splitlines()) == 1, (rc, out, err))


for t in (test_whole, test_resubmit, test_window, test_damaged, test_usage):
    try:
        t()
    except Exception as e:  # a crash of the test itself counts as a failure
        R.check("%s raised %s: %s" % (t.__name__, type(e).__name__, e), False)
R.finish()
