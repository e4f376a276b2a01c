#!/usr/bin/env python3
"""test_seed.py -- a new replica from a leader's snapshot plus the stream,
instead of a whole backup (SPEC section 11, "Snapshots"; issue 18, item 5),
with a real nats-server (-js) started and stopped here on loopback:

- tms-restore seed --from LEADER_DIR|http://LEADER --key VKEY --to NEWDIR: the newest
  snapshot vouched for by the key (a checkpoint of its size signed by it,
  the same root, the leader's signed note naming its digests); NEWDIR's
  log holds no record (only its base), its tree the signed root;
- tmsd --replica-of ... --leader-key on NEWDIR follows the stream from the
  snapshot's seq on: verified_seq = the leader's last seq, the chain head
  the leader's, what was created before and after the seed is there; it
  survives kill -9 and a restart;
- lookups at the base and after (check, show --seq) answer what the
  leader's whole index answers (the seeded as-of index); what a seeded
  directory cannot answer is refused, never answered wrong: a lookup
  before its base, an explanation (no reason made up), a proof of a record
  before its base; proofs after the base are the
  leader's; tms-audit verify --key starts from the base (its checkpoint and
  signed note checked with the key) and checks every record after it;
- hostile: a snapshot of another history's state made to fit (the
  leader's head and root, digests and CRC recomputed), a snapshot without
  its note, another key, a leaf hash of the source's tree altered, the
  source's checkpoint file gone: exit 1, nothing left in NEWDIR; the base
  file of a seeded directory altered or removed: tmsd refuses to start.

usage: test_seed.py BIN_DIR"""
import json, os, shutil, struct, subprocess, sys, tempfile, time, traceback
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from crc32c import crc32c  # noqa: E402
import test_publish as tp
from test_publish import check, wait_for, ext, BIN, TMSD
from test_replica import tp_ctl
from test_signed import keygen, node, fill, verified, GRANT, NAME

RESTORE, AUDIT = os.path.join(BIN, "tms-restore"), os.path.join(BIN, "tms-audit")


def seed(src, vkey, to, *extra):
    r = subprocess.run([RESTORE, "seed", "--from", src, "--key", vkey, "--to", to] + list(extra), capture_output=True,
                       text=True, timeout=120)
    return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else None), r.stderr


def empty_or_absent(path):
    return not os.path.exists(path) or os.listdir(path) == []




def snap_path(data, seq):
    return os.path.join(data, "snapshots", "%020d.snap" % seq)


def forged_state_source(d, leader_data, seq):
    """An attacker's source: the leader's directory with the snapshot of seq replaced by another history's state
    at seq (a fork with a grant at its last record), its header given the leader's chain head and Merkle root and
    its CRC recomputed: every digest of the file holds, the signed checkpoint's root matches; only the leader's
    signed note (which names the leader's state digest) does not."""
    fork = os.path.join(d, "fork")
    r = subprocess.run([RESTORE, "--data", leader_data, "--to", fork, "--seq", str(seq - 1)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([os.path.join(BIN, "tmsctl"), "--data", fork, "submit"], input=GRANT + "\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "accepted" in r.stdout, (r.stdout, r.stderr)
    forged = bytearray(open(snap_path(fork, seq), "rb").read())
    real = open(snap_path(leader_data, seq), "rb").read()
    assert forged[96:128] != real[96:128], "the fork's state is the leader's"
    forged[24:88] = real[24:88]   # head and root: the leader's
    struct.pack_into("<I", forged, 184, crc32c(bytes(forged[:184]) + bytes(forged[188:])))   # all after the header
    src = os.path.join(d, "src-forged")
    shutil.copytree(leader_data, src, ignore=shutil.ignore_patterns("*.sock", "lock"))
    for n in os.listdir(os.path.join(src, "snapshots")):   # the forged one is the only candidate
        if not n.startswith("%020d." % seq):
            os.unlink(os.path.join(src, "snapshots", n))
    open(snap_path(src, seq), "wb").write(forged)
    return src


def hostile_seeds(d, leader_data, vkey, ovkey, seq):
    src = forged_state_source(d, leader_data, seq)
    rc, out, err = seed(src, vkey, os.path.join(d, "h0"))
    check("a snapshot whose state is not the one the leader signed (digests and root made to fit): exit 1, "
          "nothing left", rc == 1 and empty_or_absent(os.path.join(d, "h0")) and "note does not describe" in err,
          (rc, err))
    os.unlink(snap_path(src, seq) + ".note")
    rc, out, err = seed(src, vkey, os.path.join(d, "h0b"))
    check("a snapshot without the leader's signed note: exit 1", rc == 1 and "no signed note" in err, (rc, err))


def hostile_files(d, leader_data, vkey, ovkey):
    rc, out, err = seed(leader_data, ovkey, os.path.join(d, "h1"))
    check("another key vouches for no snapshot: exit 1, nothing left", rc == 1 and empty_or_absent(
        os.path.join(d, "h1")) and "vouched" in err, (rc, err))
    # a copy of the source with one leaf hash of its tree altered (the leaf of record 3: stored hash index 3)
    src = os.path.join(d, "src-tree")
    shutil.copytree(leader_data, src, ignore=shutil.ignore_patterns("*.sock", "lock"))
    with open(os.path.join(src, "tree", "hashes"), "r+b") as f:
        f.seek(16 + 32 * 3)
        b = bytearray(f.read(32))
        b[0] ^= 1
        f.seek(16 + 32 * 3)
        f.write(b)
    rc, out, err = seed(src, vkey, os.path.join(d, "h2"))
    check("a source tree whose leaves do not give the signed root: exit 1, nothing left",
          rc == 1 and empty_or_absent(os.path.join(d, "h2")) and "root" in err, (rc, err))
    src = os.path.join(d, "src-othercp")   # the checkpoint of the snapshot's size signed by another key
    shutil.copytree(leader_data, src, ignore=shutil.ignore_patterns("*.sock", "lock", "checkpoints"))
    r = subprocess.run([os.path.join(BIN, "tmsctl"), "--data", src, "checkpoint", "--signing-key",
                        os.path.join(d, "other.key")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rc, out, err = seed(src, vkey, os.path.join(d, "h3"))
    check("a checkpoint of the snapshot's size not signed by the key: exit 1, nothing left",
          rc == 1 and empty_or_absent(os.path.join(d, "h3")), (rc, err))
    os.unlink(os.path.join(src, "checkpoints"))
    rc, out, err = seed(src, vkey, os.path.join(d, "h4"))
    check("no checkpoint of that size at all: the signed note vouches alone, seeded",
          rc == 0 and out["checkpoint"] is None, (rc, err))


def refusals(rep, seeded, last, vkey, ovkey, leader):
    rc, out, err = tp_ctl("--connect", rep.sock, "check", "--seq", str(seeded - 1), "acme", "extension", "x1",
                          "reports.view")
    check("a lookup at a point of history before the base is refused on a seeded replica",
          rc == 2 and "history starts at seq %d" % seeded in err, (rc, out, err))
    rc, out, err = tp_ctl("--data", rep.data, "check", "--seq", str(seeded - 5), "acme", "extension", "x1",
                          "reports.view")
    check("... embedded too", rc == 2 and "history starts at seq %d" % seeded in err, (rc, out, err))
    # at the base and after: what the leader's whole index answers (its as-of index seeded from the state)
    asked = same = 0
    for seq in (seeded, seeded + 1, seeded + 7, last):
        for x in ("x1", "x5", "x205", "x230", "nope"):
            for how in (["check", "--seq", str(seq), "acme", "extension", x, "reports.view"],
                        ["show", "--seq", str(seq), "acme", "extension", x]):
                a = tp_ctl("--connect", rep.sock, *how)
                b = tp_ctl("--connect", leader.sock, *how)
                asked += 1
                same += a[0] == b[0] and a[1] == b[1]
    check("lookups at the base and after answer what the leader's whole index answers (%d of %d)" % (same, asked),
          same == asked and asked > 0, (same, asked))
    rc, out, err = tp_ctl("--data", rep.data, "check", "acme", "extension", "x1", "calls.international")
    check("a deny on a seeded directory gives no reason made up from its empty as-of index",
          rc == 1 and out.strip() == "deny" and "no tenant" not in err, (rc, out, err))
    rc, out, err = tp_ctl("--data", rep.data, "watch", "--from", "1", "--until", "2")
    check("watch from before the base: refused, naming the base", rc == 2 and
          "starts after seq %d" % seeded in err, (rc, out, err))
    rc, out, err = tp_ctl("--connect", rep.sock, "watch", "--from", "1", "--until", "2")
    check("... through tmsd too", rc != 0 and "starts after seq %d" % seeded in err, (rc, out, err))
    rc, out, err = tp_ctl("--connect", rep.sock, "check", "--explain", "acme", "extension", "x1", "reports.view")
    check("check --explain is refused on a seeded replica", rc == 2 and "history starts at" in err, (rc, out, err))
    r = subprocess.run([AUDIT, "prove", "--data", rep.data, "--seq", "2"], capture_output=True, text=True, timeout=60)
    check("a proof of a record before the base: refused, naming the base", r.returncode != 0 and
          "seeded from a snapshot of seq %d" % seeded in r.stderr, (r.returncode, r.stderr))
    r = subprocess.run([AUDIT, "verify", "--data", rep.data, "--key", vkey], capture_output=True, text=True,
                       timeout=60)
    out = json.loads(r.stdout) if r.stdout.strip() else {}
    check("tms-audit verify --key of a seeded replica: from its base, every record after it, signatures checked",
          r.returncode == 0 and out.get("base") == seeded and out.get("last_seq") == last and
          out.get("records") == last - seeded and out.get("signatures") == NAME, (r.returncode, r.stdout, r.stderr))
    r = subprocess.run([AUDIT, "verify", "--data", rep.data, "--key", ovkey], capture_output=True, text=True,
                       timeout=60)
    check("... with another key: refused (the base is not vouched for by it)", r.returncode != 0 and
          "--key" in r.stderr, (r.returncode, r.stderr[-300:]))


def test_seeded_replica(d):
    nats = tp.Nats(d)
    nats.start()
    skey, vkey = keygen(d, "leader.key")
    _, ovkey = keygen(d, "other.key")
    port = tp.free_port()
    tok = os.path.join(d, "admin.token")
    with open(tok, "w") as f:
        f.write("seed-admin-token-0123456789abcdef\n")
    lopts = ("--publish", "--stream", "s1", "--signing-key", skey, "--checkpoint-interval", "1",
             "--http", "127.0.0.1:%d" % port, "--token-file", tok)
    leader = node(d, "leader", nats, *lopts).start()
    rep = None
    try:
        last = fill(leader, 120)
        check("leader stops (its last checkpoint and snapshot)", leader.stop() == 0)
        leader.start()
        check("the restarted leader signs the note of the snapshot its stop wrote",
              wait_for(lambda: os.path.exists(snap_path(leader.data, last) + ".note"), 30),
              os.listdir(os.path.join(leader.data, "snapshots")))
        rc, out, err = seed(leader.data, vkey, os.path.join(d, "r"))
        check("seed from the leader's directory", rc == 0 and out["seeded_from"] == last, (rc, out, err))
        if rc != 0:
            return
        segs = [n for n in os.listdir(os.path.join(d, "r", "log")) if n.endswith(".tmslog")]
        check("the seeded log holds no record, only its base", segs == [] and
              os.path.exists(os.path.join(d, "r", "log", "base")), os.listdir(os.path.join(d, "r", "log")))
        r = subprocess.run([AUDIT, "checkpoint", "--data", os.path.join(d, "r")], capture_output=True, text=True)
        check("the seeded directory keeps the leader's signed checkpoint of its base",
              r.returncode == 0 and r.stdout.split("\n")[1] == str(last), r.stdout)
        url = "http://127.0.0.1:%d" % port
        rc, hout, err = seed(url, vkey, os.path.join(d, "r-http"), "--token-file", tok)
        check("seed over HTTP (GET /v1/seed, /v1/seed/snapshot, /v1/seed/tree): the same seed as from the directory",
              rc == 0 and hout["seeded_from"] == last and hout["digest"] == out["digest"] and
              hout["head"] == out["head"], (rc, hout, err))
        rc, hout, err = seed(url, vkey, os.path.join(d, "r-http2"))
        check("... without the token: HTTP 401, exit 2, nothing left", rc == 2 and "401" in err and
              empty_or_absent(os.path.join(d, "r-http2")) and not [n for n in os.listdir(tempfile.gettempdir())
                                                                   if n.startswith("tms-seed-fetch-")], (rc, err))
        hostile_seeds(d, leader.data, vkey, ovkey, last)
        hostile_files(d, leader.data, vkey, ovkey)
        rep = node(d, "r", nats, "--replica-of", "--stream", "s1", "--leader-key", vkey).start()
        c = leader.conn()
        for b in range(200, 240, 10):
            c.call("submit", cmds=[ext(i) for i in range(b, b + 10)])
        c.close()
        last2 = leader.status()["last_seq"]
        check("the seeded replica follows from its base: verified_seq = the leader's last", verified(rep, last2),
              rep.status())
        check("... with the leader's chain head", rep.status()["head"] == leader.status()["head"],
              (rep.status()["head"], leader.status()["head"]))
        for x, what in (("x5", "before the seed"), ("x205", "after it")):
            rc, out, err = tp_ctl("--connect", rep.sock, "show", "acme", "extension", x)
            check("an extension created %s is on the replica" % what, rc == 0 and '"%s"' % x in out, (rc, out, err))
        r = subprocess.run([AUDIT, "prove", "--data", rep.data, "--seq", str(last + 1), "--size", str(last2)],
                           capture_output=True, text=True, timeout=60)
        lr = subprocess.run([AUDIT, "prove", "--data", leader.data, "--seq", str(last + 1), "--size", str(last2)],
                            capture_output=True, text=True, timeout=60)
        check("a proof after the base is the leader's, byte for byte", r.returncode == 0 and r.stdout == lr.stdout,
              (r.stderr, lr.stderr))
        refusals(rep, last, last2, vkey, ovkey, leader)
        rep.kill()
        rep.start()
        c = leader.conn()   # a checkpoint a kill -9 cut off (applied, not yet stored) comes with the next batch
        c.call("submit", cmds=[ext(i) for i in range(300, 310)])
        c.close()
        last3 = leader.status()["last_seq"]
        check("after kill -9 it starts again and follows: verified_seq = the leader's last", verified(rep, last3),
              rep.status())
        check("replica stops", rep.stop() == 0)
        base = os.path.join(d, "r", "log", "base")
        good = open(base, "rb").read()
        for bad, what in ((good[:20] + bytes([good[20] ^ 1]) + good[21:], "altered"), (None, "removed")):
            if bad is None:
                os.unlink(base)
            else:
                open(base, "wb").write(bad)
            p = subprocess.run([TMSD, "--data", rep.data, "--socket", os.path.join(d, "x.sock")],
                               capture_output=True, text=True, timeout=60)
            check("a seeded directory whose base is %s: tmsd refuses to start" % what,
                  p.returncode != 0 and ("base" in p.stderr or "missing" in p.stderr), (p.returncode, p.stderr[-300:]))
        open(base, "wb").write(good)
    finally:
        if rep:
            rep.kill()
        leader.kill()
        nats.kill()


def main():
    if not shutil.which("nats-server"):
        print("FAIL nats-server is not installed (scripts/bootstrap installs it)")
        sys.exit(1)
    d = tempfile.mkdtemp(prefix="tms-seed-")
    try:
        test_seeded_replica(d)
    except Exception as e:
        check("test_seeded_replica", False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=-3)))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (tp.passed, tp.failed))
    sys.exit(0 if tp.failed == 0 and tp.passed > 0 else 1)


if __name__ == "__main__":
    main()
