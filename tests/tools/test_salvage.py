#!/usr/bin/env python3
"""test_salvage -- tms-restore --salvage on logs damaged in the middle: a
changed byte, a removed record, a damaged frame length, a truncated middle
segment, damage at the last record, garbage to the end (how much was lost
cannot be told), damage at the first record (nothing to salvage), and an
intact log. Each time: exactly which seqs were salvaged and lost, the
result verifies and equals a restore to the same seq, the source is never
modified, and a failure leaves nothing behind.
usage: python3 test_salvage.py BIN_DIR     (last line: 'N passed, N failed')"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tooltest as tt  # noqa: E402

R = tt.Run()
DATA = R.path("data")
tt.build_scenario(R, DATA)
KEYS = ["records", "last_seq", "time", "head", "digest", "salvaged_to_seq", "lost_from_seq", "lost_through_seq",
        "reason"]


def tree_digest(d):
    h = hashlib.sha256()
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for f in sorted(files):
            with open(os.path.join(root, f), "rb") as fh:
                h.update(f.encode() + fh.read())
    return h.hexdigest()


def digest_at(seq):
    """The digest of a plain restore of the intact log to seq."""
    t = R.path("ref%d" % seq)
    if not os.path.exists(t):
        rc, out, err = R.run("tms-restore", "--data", DATA, "--to", t, "--seq", seq)
        if rc != 0:
            raise RuntimeError(err)
    rc, out, _ = R.run("tms-audit", "verify", "--data", t)
    return json.loads(out)["digest"]


def flip(data, seq, where):
    """Flip one bit of the frame of seq: 'body' (its payload) or 'len' (its length field)."""
    for seg in tt.segments(data):
        for fr in tt.read_frames(seg)[1]:
            if fr.seq == seq:
                off = fr.offset + (tt.FRAME_HEADER + 3 if where == "body" else 1)
                with open(seg, "r+b") as fh:
                    fh.seek(off)
                    b = fh.read(1)
                    fh.seek(off)
                    fh.write(bytes([b[0] ^ 0x10]))
                return
    raise RuntimeError("no seq %d" % seq)


def remove_record(data, seq):
    seg = tt.segments(data)[0]
    header, frames = tt.read_frames(seg)
    tt.write_segment(seg, header, [f for f in frames if f.seq != seq])


def truncate_middle(data):
    """Three segments (1-9, 10-19, 20-30); the middle one cut inside seq 15."""
    tt.split_segment(data, 10)
    tt.split_segment(data, 20)
    mid = tt.segments(data)[1]
    fr = next(f for f in tt.read_frames(mid)[1] if f.seq == 15)
    with open(mid, "r+b") as fh:
        fh.truncate(fr.offset + 30)


def garbage_from(data, seq):
    seg = tt.segments(data)[0]
    fr = next(f for f in tt.read_frames(seg)[1] if f.seq == seq)
    size = os.path.getsize(seg)
    with open(seg, "r+b") as fh:
        fh.seek(fr.offset)
        fh.write(bytes((i * 37 + 11) % 251 + 1 for i in range(size - fr.offset)))


def salvage(name, damage, saved, lost_from, lost_through):
    src = tt.copy_data(DATA, R.path("src-" + name))
    damage(src)
    before = tree_digest(src)
    target = R.path("out-" + name)
    rc, out, err = R.run("tms-restore", "--salvage", "--data", src, "--to", target)
    R.check("%s: the source is not modified" % name, tree_digest(src) == before)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    if not R.check("%s: exit 0 and one JSON line" % name, rc == 0 and doc and list(doc) == KEYS, (rc, out, err)):
        return
    R.check("%s: salvaged 1-%d, lost %d-%s" % (name, saved, lost_from, lost_through),
            (doc["records"], doc["last_seq"], doc["salvaged_to_seq"], doc["lost_from_seq"],
             doc["lost_through_seq"]) == (saved, saved, saved, lost_from, lost_through), doc)
    R.check("%s: the reason names seq %d" % (name, lost_from), "seq %d" % lost_from in (doc["reason"] or ""), doc)
    want = "lost seqs %d-%d" % (lost_from, lost_through) if lost_through else \
        "lost seqs from %d on (how many cannot be told)" % lost_from
    R.check("%s: the loss on stderr, one line" % name, len(err.strip().splitlines()) == 1 and
            ("salvaged seqs 1-%d; %s" % (saved, want)) in err, err)
    rc, vout, verr = R.run("tms-audit", "verify", "--data", target)
    v = json.loads(vout) if rc == 0 else {}
    R.check("%s: the result verifies at seq %d" % (name, saved), v.get("last_seq") == saved and
            v.get("projection") == "match" and v.get("digest") == doc["digest"], (rc, vout, verr))
    R.check("%s: same digest as a restore to seq %d" % (name, saved), doc["digest"] == digest_at(saved))


def test_cases():
    salvage("changed byte", lambda d: flip(d, 15, "body"), 14, 15, 30)
    salvage("removed record", lambda d: remove_record(d, 12), 11, 12, 30)
    salvage("damaged length", lambda d: flip(d, 15, "len"), 14, 15, 30)
    salvage("truncated middle segment", truncate_middle, 14, 15, 30)
    salvage("last record", lambda d: flip(d, 30, "body"), 29, 30, 30)
    salvage("garbage to the end", lambda d: garbage_from(d, 20), 19, 20, None)


def test_usable():
    t = R.path("out-changed byte")
    if not os.path.isdir(t):
        R.check("usable: needs the changed-byte salvage", False)
        return
    v = R.submit(t, [tt._c("CreateExtension", "acme", "admin", id="3001")])
    R.check("a salvaged directory takes new records from seq 15", v == [{"seq": 15, "verdict": "accepted"}], v)


def test_nothing_and_intact():
    src = tt.copy_data(DATA, R.path("src-first"))
    flip(src, 1, "body")
    t = R.path("out-first")
    rc, out, err = R.run("tms-restore", "--salvage", "--data", src, "--to", t)
    doc = json.loads(out) if out.strip() else {}
    R.check("damage at seq 1: exit 1, nothing salvaged, lost 1-30", rc == 1 and doc.get("salvaged_to_seq") == 0 and
            doc.get("lost_from_seq") == 1 and doc.get("lost_through_seq") == 30 and
            "salvaged nothing" in err, (rc, out, err))
    R.check("damage at seq 1: nothing left behind", not os.path.exists(t))
    t = R.path("out-intact")
    rc, out, err = R.run("tms-restore", "--salvage", "--data", DATA, "--to", t)
    doc = json.loads(out) if rc == 0 else {}
    R.check("intact log: restored whole, no loss", rc == 0 and doc["last_seq"] == 30 and
            doc["salvaged_to_seq"] == 30 and doc["lost_from_seq"] is None and doc["lost_through_seq"] is None
            and doc["reason"] is None and err == "", (rc, out, err))
    rc, out, err = R.run("tms-restore", "--salvage", "--data", DATA, "--to", R.path("x"), "--seq", "5")
    R.check("--salvage with --seq: exit 2", rc == 2 and not os.path.exists(R.path("x")), (rc, err))
    rc, out, err = R.run("tms-restore", "--help")
    R.check("--help mentions --salvage and backup", rc == 0 and "--salvage" in out and "backup" in out)


for fn in (test_cases, test_usable, test_nothing_and_intact):
    try:
        fn()
    except Exception as e:
        R.check("%s raised %s: %s" % (fn.__name__, type(e).__name__, e), False)
R.finish()
