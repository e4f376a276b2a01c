#!/usr/bin/env python3
"""test_verify -- tms-audit verify on an intact directory and after each
tampering of issue 4: changed byte, removed record, payload with recomputed
CRCs, swapped records, truncated middle segment, forged append, last record
removed, consistently rewritten log; a projection behind and a torn tail pass.
usage: python3 test_verify.py BIN_DIR     (last line: 'N passed, N failed')"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tooltest as tt  # noqa: E402

R = tt.Run()
BASE = R.path("base")
SNAPS = [R.path("snap%d" % i) for i in range(len(tt.SCENARIO))]
tt.build_scenario(R, BASE, SNAPS)
LAST = tt.BATCH_END[-1]


def verify(data):
    rc, out, err = R.run("tms-audit", "verify", "--data", data)
    lines = out.splitlines()
    try:
        doc = json.loads(lines[0]) if len(lines) == 1 else None
    except ValueError:
        doc = None
    return rc, doc, err


def fresh(name):
    return tt.copy_data(BASE, R.path(name))


def frames_of(data):
    seg = tt.segments(data)[0]
    header, frames = tt.read_frames(seg)
    return seg, header, frames


def expect_failure(name, data, seq, check=None, offset=None):
    rc, doc, err = verify(data)
    ok = R.check("%s: exit 1" % name, rc == 1, "rc %d out %r err %r" % (rc, doc, err))
    if not ok or doc is None:
        R.check("%s: one JSON line" % name, doc is not None)
        return
    R.check("%s: ok false" % name, doc.get("ok") is False, doc)
    R.check("%s: names seq %d" % (name, seq), doc.get("seq") == seq, doc)
    if check:
        R.check("%s: check %s" % (name, check), doc.get("check") == check, doc)
    if offset is not None:
        R.check("%s: offset %d" % (name, offset), doc.get("offset") == offset, doc)
    R.check("%s: segment named" % name, isinstance(doc.get("segment"), str) and doc["segment"].endswith(".tmslog"), doc)
    R.check("%s: one stderr line naming the seq" % name,
            len(err.strip().splitlines()) == 1 and ("seq %d" % seq) in err, err)


def test_intact():
    rc, doc, err = verify(BASE)
    R.check("intact: exit 0", rc == 0, "rc %d %r %r" % (rc, doc, err))
    if not doc:
        return
    R.check("intact: ok", doc.get("ok") is True, doc)
    R.check("intact: records", doc.get("records") == LAST and doc.get("last_seq") == LAST, doc)
    R.check("intact: head and digest are hex", all(len(doc.get(k, "")) == 64 and
                                                   all(c in "0123456789abcdef" for c in doc[k])
                                                   for k in ("head", "digest")), doc)
    R.check("intact: projection matches", doc.get("projection") == "match", doc)
    R.check("intact: summary keys first", list(doc)[:5] == ["ok", "records", "last_seq", "head", "digest"], doc)
    rc2, doc2, _ = verify(BASE)
    R.check("intact: deterministic", doc2 == doc, (doc, doc2))
    _, _, frames = frames_of(BASE)
    head = b"\0" * 32
    for f in frames:
        head = tt.chain_hash(head, f.seq, f.payload)
    R.check("intact: head is the chain head", doc.get("head") == head.hex(), (doc.get("head"), head.hex()))


def test_changed_byte():
    d = fresh("byte")
    seg, _, frames = frames_of(d)
    f = frames[9]                                  # seq 10
    with open(seg, "r+b") as fh:
        fh.seek(f.offset + tt.FRAME_HEADER + 5)
        b = fh.read(1)
        fh.seek(f.offset + tt.FRAME_HEADER + 5)
        fh.write(bytes([b[0] ^ 0x20]))
    expect_failure("changed payload byte", d, 10, "frame", f.offset)


def test_removed_record():
    d = fresh("removed")
    seg, header, frames = frames_of(d)
    off = frames[9].offset
    tt.write_segment(seg, header, frames[:9] + frames[10:])
    expect_failure("removed record", d, 10, "frame", off)


def test_rehashed_payload():
    d = fresh("recrc")
    seg, header, frames = frames_of(d)
    f = frames[11]                                 # seq 12: TakeOwnership by lead
    f.payload = f.payload.replace(b"lead", b"leaf")
    tt.write_segment(seg, header, frames)          # both CRCs recomputed, hash left
    expect_failure("payload changed, CRCs recomputed", d, 12, "frame", f.offset)


def test_swapped():
    d = fresh("swapped")
    seg, header, frames = frames_of(d)
    off = frames[9].offset
    frames[9], frames[10] = frames[10], frames[9]
    tt.write_segment(seg, header, frames)
    expect_failure("two swapped records", d, 10, "frame", off)
    d = fresh("swapped-renumbered")
    seg, header, frames = frames_of(d)
    frames[9], frames[10] = frames[10], frames[9]
    frames[9].seq, frames[10].seq = 10, 11         # seqs and CRCs made to fit: the chain does not
    tt.write_segment(seg, header, frames)
    expect_failure("two swapped records, renumbered", d, 10, "frame", off)


def test_truncated_middle_segment():
    d = fresh("split")
    first, second = tt.split_segment(d, 16)
    rc, doc, err = verify(d)
    R.check("two segments: still intact", rc == 0 and doc and doc.get("records") == LAST, (rc, doc, err))
    _, frames = tt.read_frames(first)
    last = frames[-1]                              # seq 15, the end of the middle segment
    with open(first, "r+b") as fh:
        fh.truncate(last.offset + tt.FRAME_HEADER + 3)
    expect_failure("truncated middle segment", d, 15, "frame", last.offset)
    R.check("truncated middle segment: names the first segment",
            verify(d)[1].get("segment") == os.path.basename(first))


def test_forged_append():
    d = fresh("forged")
    seg, header, frames = frames_of(d)
    extra = tt.Frame(seg, 0, frames[-1].encode())
    extra.seq = LAST + 1                           # CRCs recomputed, hash copied: forged
    end = os.path.getsize(seg)
    with open(seg, "ab") as fh:
        fh.write(extra.encode())
    expect_failure("re-appended record with a forged hash", d, LAST + 1, "frame", end)


def test_last_removed():
    d = fresh("lastgone")
    seg, header, frames = frames_of(d)
    tt.write_segment(seg, header, frames[:-1])
    expect_failure("last record removed", d, LAST, "projection")


def rechain(frames, start, mutate):
    """Change frame `start` with mutate(payload) and recompute the chain from there."""
    prev = frames[start - 1].hash if start else b"\0" * 32
    for i in range(start, len(frames)):
        if i == start:
            frames[i].payload = mutate(frames[i].payload)
        frames[i].hash = tt.chain_hash(prev, frames[i].seq, frames[i].payload)
        prev = frames[i].hash


def test_rewritten_log():
    d = fresh("rewritten")
    seg, header, frames = frames_of(d)
    rechain(frames, 19, lambda p: p.replace(b"sub", b"sux"))   # seq 20, rejected FORBIDDEN
    tt.write_segment(seg, header, frames)
    expect_failure("rewritten log, consistent chain", d, LAST, "projection")
    shutil.rmtree(os.path.join(d, "proj"))
    rc, doc, err = verify(d)
    R.check("rewritten log, no projection: replay catches the verdict", rc == 1 and doc and
            doc.get("check") == "replay" and doc.get("seq") == 20 and doc.get("offset") == frames[19].offset,
            (rc, doc, err))
    # verify reads the log once, replaying as it reads; a replay that stops (seq 20) is the one case where the
    # rest of the log is read again (frames and records, no replay), so that a damaged frame further on is
    # the failure named: the log's own fault before what it makes the replay find
    with open(seg, "r+b") as fh:
        fh.seek(frames[24].offset + tt.FRAME_HEADER + 5)
        b = fh.read(1)
        fh.seek(frames[24].offset + tt.FRAME_HEADER + 5)
        fh.write(bytes([b[0] ^ 0x20]))
    expect_failure("a verdict rewritten at seq 20 and a byte changed at seq 25", d, 25, "frame", frames[24].offset)


def set_projection_meta(d, key, raw):
    """The projection's meta entry key set to raw bytes, with LMDB's own mdb_dump/mdb_load (lmdb-utils)."""
    proj = os.path.join(d, "proj")
    # hex, not -p: mdb_dump's printable form does not always read back (a chain head's bytes broke it)
    dump = subprocess.run(["mdb_dump", "-s", "meta", proj], capture_output=True, text=True).stdout.split("\n")
    k = dump.index(" " + key.encode().hex())
    dump[k + 1] = " " + raw.hex()
    return subprocess.run(["mdb_load", "-s", "meta", proj], input="\n".join(dump), capture_output=True,
                          text=True).returncode == 0


def test_replay_stops_at_the_last_record():
    """A recomputed verdict that differs at the log's last record, the projection level with the log's
    (rewritten) head there: a replay failure, not "records are missing from the log" (the one read of the log
    ends at the record the replay stopped at; the log does not)."""
    if not shutil.which("mdb_dump"):
        R.check("mdb_dump (lmdb-utils) is installed (scripts/bootstrap installs it)", False)
        return
    d = fresh("lastreplay")
    seg, header, frames = frames_of(d)
    rechain(frames, LAST - 1, lambda p: p.replace(b"2003", b"2009"))   # the last record names another account
    tt.write_segment(seg, header, frames)
    R.check("the projection's head set to the rewritten log's", set_projection_meta(d, "head", frames[LAST - 1].hash))
    expect_failure("a verdict that differs at the last record", d, LAST, "replay")


def test_replay_failure_then_a_chain_break_at_a_segment_start():
    """After a replay failure the rest of the log is read for a fault of its own: a frame whose chain hash is
    wrong at the first frame of the next segment is one (its link to the frame before is checked across the
    segment boundary)."""
    d = fresh("replaychain")
    seg, header, frames = frames_of(d)
    rechain(frames, 19, lambda p: p.replace(b"sub", b"sux"))   # seq 20: the replay stops there
    p21 = frames[20].payload
    frames[20].payload = p21[:-1] + bytes([p21[-1] ^ 1])   # seq 21: a byte changed, CRCs recomputed, hash left
    tt.write_segment(seg, header, frames)
    tt.split_segment(d, 21)
    shutil.rmtree(os.path.join(d, "proj"))
    rc, doc, err = verify(d)
    R.check("a replay failure at 20, a chain break at 21 (a segment's first frame): check frame at seq 21",
            rc == 1 and doc and doc.get("check") == "frame" and doc.get("seq") == 21, (rc, doc, err))


def test_projection_behind():
    d = fresh("behind")
    shutil.rmtree(os.path.join(d, "proj"))
    shutil.copytree(os.path.join(SNAPS[1], "proj"), os.path.join(d, "proj"))
    rc, doc, err = verify(d)
    R.check("projection behind: exit 0", rc == 0, (rc, doc, err))
    R.check("projection behind: said so", doc and doc.get("projection") == "behind" and
            doc.get("projection_seq") == tt.BATCH_END[1], doc)
    R.check("projection behind: a note on stderr", "behind" in err, err)
    rc, doc2, _ = verify(BASE)
    R.check("projection behind: same digest as intact", doc and doc2 and doc["digest"] == doc2["digest"], (doc, doc2))


def test_torn_tail():
    d = fresh("torn")
    seg = tt.segments(d)[0]
    with open(seg, "ab") as fh:
        fh.write(b"\x40\x00\x00\x00\x01\x02")
    rc, doc, err = verify(d)
    R.check("torn tail: not a failure", rc == 0 and doc and doc.get("records") == LAST, (rc, doc, err))
    R.check("torn tail: reported", doc and doc.get("torn_tail"), doc)


def test_damaged_projection_never_crashes():
    """Issue 8, item 5: LMDB keeps no checksums; a flipped byte or a cut file
    may send it outside its file. verify reports (exit 1) or finds nothing
    wrong (exit 0: a byte no page uses), never dies of a signal."""
    import random
    rnd = random.Random(8)
    src = fresh("damage-src")
    proj = os.path.join(src, "proj", "data.mdb")
    with open(proj, "rb") as fh:
        orig = fh.read()
    # the writer's data.mdb is allocated up to its map's end (MDB_WRITEMAP): the
    # pages in use end where the zeros to the end of the file begin
    orig = orig[:(len(orig.rstrip(b"\0")) + 4095) // 4096 * 4096]
    seen = {0: 0, 1: 0}
    trials = [("cut", n * 4096) for n in (2, 3, 4)] + [("flip", rnd.randrange(len(orig))) for _ in range(120)]
    for kind, at in trials:
        b = bytearray(orig[:at]) if kind == "cut" else bytearray(orig)
        if kind == "flip":
            b[at] ^= 1 << rnd.randrange(8)
        with open(proj, "wb") as fh:
            fh.write(bytes(b))
        rc, doc, err = verify(src)
        if not R.check("damaged projection (%s at %d): exit 0 or 1, no signal" % (kind, at), rc in (0, 1), (rc, err)):
            break
        seen[rc] += 1
        if kind == "cut":
            R.check("cut projection at %d: reported as damaged" % at,
                    rc == 1 and doc and doc.get("check") == "projection" and "damaged" in doc.get("error", ""), doc)
    R.check("some flips were found (%s)" % seen, seen[1] > 3)


def test_sparse_tree_sizes_nothing():
    """The Merkle tree's file claims a size by its length alone: a sparse
    GiB after the real hashes (~16M records' worth) must not size verify's
    memory (its as-of index tally is reserved from the smaller of the tree's
    and the projection's counts, at most an eighth of memory). The tree past
    the log's end is not the log's (a writer's open cuts it off): verify
    checks the part that covers the log, and answers as for the intact one.
    (The reservation's other cap, an eighth of memory, is 1 GiB or more only
    on a host of 8 GiB or more: on a smaller one this test cannot tell the
    tree's count from that cap.)"""
    d = fresh("sparse-tree")
    with open(os.path.join(d, "tree", "hashes"), "r+b") as fh:
        fh.truncate(1 << 30)   # (a terabyte's table would be refused, and grown as it fills)
    outp, errp = R.path("sparse.out"), R.path("sparse.err")
    with open(outp, "w") as o, open(errp, "w") as e:   # wait4: this child's own peak memory
        pid = os.posix_spawn(R.prog("tms-audit"), ["tms-audit", "verify", "--data", d], os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, o.fileno(), 1), (os.POSIX_SPAWN_DUP2, e.fileno(), 2)])
    _, status, usage = os.wait4(pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    with open(outp) as fh:
        out = fh.read()
    with open(errp) as fh:
        err = fh.read()
    doc = json.loads(out.splitlines()[0]) if out.strip() else None
    _, intact, _ = verify(BASE)
    R.check("sparse tree: exit 0, tree match", rc == 0 and doc and doc.get("tree") == "match", (rc, out, err))
    R.check("sparse tree: the intact answer", doc and intact and doc["digest"] == intact["digest"] and
            doc["records"] == LAST, (doc, intact))
    R.check("sparse tree: peak memory under 512 MiB (%d KiB)" % usage.ru_maxrss, usage.ru_maxrss < 512 * 1024)


def test_usage():
    rc, out, _ = R.run("tms-audit", "verify", "--help")
    R.check("verify --help", rc == 0 and "usage" in out)
    rc, out, _ = R.run("tms-audit", "--help")
    R.check("tms-audit --help", rc == 0 and "verify" in out and "who-can" in out)
    rc, _, err = R.run("tms-audit", "verify", "--data", R.path("nothing-here"))
    R.check("verify: missing directory exits 2", rc == 2 and len(err.strip().splitlines()) == 1, err)
    rc, _, err = R.run("tms-audit", "verify")
    R.check("verify: no --data exits 2", rc == 2, err)
    rc, _, err = R.run("tms-audit", "verify", "--data", BASE, "--bogus")
    R.check("verify: unknown option exits 2", rc == 2, err)
    rc, _, err = R.run("tms-audit", "frobnicate")
    R.check("unknown command exits 2", rc == 2, err)


for t in (test_intact, test_changed_byte, test_removed_record, test_rehashed_payload, test_swapped,
          test_truncated_middle_segment, test_forged_append, test_last_removed, test_rewritten_log,
          test_replay_stops_at_the_last_record, test_replay_failure_then_a_chain_break_at_a_segment_start,
          test_projection_behind, test_torn_tail, test_damaged_projection_never_crashes, test_sparse_tree_sizes_nothing,
          test_usage):
    try:
        t()
    except Exception as e:  # a crash of the test itself counts as a failure
        R.check("%s raised %s: %s" % (t.__name__, type(e).__name__, e), False)
R.finish()
