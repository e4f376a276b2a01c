"""test_snapshots -- snapshots of the writer's state (issue 18, first step):
written at a clean close, used by the next open only when they agree with
the log, set aside when they do not, checked by tms-audit verify. The
answers of a directory opened from snapshots equal those of one folded from
the log. Usage: test_snapshots.py BIN_DIR"""
import json
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tooltest import Run, crc32c  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "..", "examples", "demo.jsonl")
r = Run()


def snaps(d):
    p = os.path.join(d, "snapshots")
    return sorted(os.listdir(p)) if os.path.isdir(p) else []


def verify(d):
    rc, out, err = r.run("tms-audit", "verify", "--data", d)
    return rc, (json.loads(out) if out.strip() else {}), err


def more(tenant, n):
    cmds = [{"cmd": "CreateTenant", "tenant": tenant, "actor": "system", "admin": "admin"}]
    cmds += [{"cmd": "CreateExtension", "tenant": tenant, "actor": "admin", "id": str(100 + i)} for i in range(n)]
    cmds += [{"cmd": "CreateExtension", "tenant": tenant, "actor": "admin", "id": "100", "request_id": "r1"}]
    return cmds


d = r.path("d")
rc, _, err = r.run("tmsctl", "--data", d, "submit", DEMO)
last = verify(d)[1].get("last_seq")
r.check("a clean close writes the snapshot of the last seq", snaps(d) == ["%020d.snap" % last], snaps(d))
# the same history twice: one directory opened from its snapshots, one folded from the log each time
e = r.path("e")
shutil.copytree(d, e)
shutil.rmtree(os.path.join(e, "snapshots"))
for i in range(3):
    for x in (d, e):
        r.submit(x, more("t%d" % i, 5))
        if x == e:
            shutil.rmtree(os.path.join(e, "snapshots"), ignore_errors=True)
rc, vd, err = verify(d)
rc2, ve, err2 = verify(e)
r.check("verify holds on the directory opened from snapshots, and checks its kept snapshots",
        rc == 0 and vd.get("snapshots") == 2, (vd, err))
same = rc2 == 0
for t, ids in (("acme", ["1001", "1002", "1003", "2001"]), ("t0", ["100", "104"]), ("t2", ["101", "105"])):
    for i in ids:
        same &= r.run("tmsctl", "--data", d, "show", t, "extension", i)[1] == r.run("tmsctl", "--data", e, "show", t,
                                                                                  "extension", i)[1]
for t, p_ in (("acme", "recordings.listen"), ("acme", "calls.international"), ("t1", "reports.view")):
    same &= r.run("tms-audit", "who-can", "--data", d, "--tenant", t, "--permission", p_)[1] == \
        r.run("tms-audit", "who-can", "--data", e, "--tenant", t, "--permission", p_)[1]
r.check("... and answers as the directory folded from the log each time", same, err2)
# a repeated request id is still known after an open from a snapshot (idempotency survives)
out = r.submit(d, [{"cmd": "CreateExtension", "tenant": "t2", "actor": "admin", "id": "100", "request_id": "r1"}])
out2 = r.submit(e, [{"cmd": "CreateExtension", "tenant": "t2", "actor": "admin", "id": "100", "request_id": "r1"}])
r.check("a request id from before the snapshot answers the first seq", out == out2 and out[0]["seq"] is not None,
        (out, out2))

# a damaged snapshot: set aside, the log folded, the answers right
newest = os.path.join(d, "snapshots", snaps(d)[-1])
raw = bytearray(open(newest, "rb").read())
raw[200] ^= 1
open(newest, "wb").write(raw)
rc, out, err = r.run("tmsctl", "--data", d, "submit", stdin=json.dumps(more("t9", 1)[0]) + "\n")
r.check("a damaged snapshot is set aside and said", rc == 0 and "set aside" in err and
        os.path.exists(newest + ".bad"), err)
rc, v, err = verify(d)
r.check("... and the directory verifies", rc == 0, err)

# another log's snapshot of the same seq: its chain head is not this log's
f = r.path("f")
r.submit(f, more("other", 3))
lastf = verify(f)[1]["last_seq"]
g = r.path("g")
r.submit(g, more("gother", 3))   # a log of the same length, other records
gsnap = os.path.join(g, "snapshots", "%020d.snap" % lastf)
fsnap = os.path.join(f, "snapshots", "%020d.snap" % lastf)
r.check("two logs of the same length", os.path.exists(gsnap) and os.path.exists(fsnap))
shutil.copy(gsnap, fsnap)
rc, out, err = r.run("tmsctl", "--data", f, "check", "other", "extension", "100", "reports.view")
rc, out, err = r.run("tmsctl", "--data", f, "submit", stdin=json.dumps(more("other2", 1)[0]) + "\n")
r.check("another log's snapshot is set aside (its chain head)", "chain head" in err and
        os.path.exists(fsnap + ".bad"), err)
rc, v, err = verify(f)
r.check("... the directory verifies", rc == 0, err)

# another state's snapshot, of the same seq, with its own consistent header (CRC, digest, projection digest) but
# this log's chain head: the open compares the projection digest its writer recorded with the projection's;
# verify compares its state with the replay
h = r.path("h")
r.submit(h, more("hh", 3))
lasth = verify(h)[1]["last_seq"]
hsnap = os.path.join(h, "snapshots", "%020d.snap" % lasth)
real = open(hsnap, "rb").read()
other = open(gsnap, "rb").read()   # gother's state, of the same length of log
HEADER = 188   # snapshots.h: ... head[32] at 24, root[32] at 56, time at 88, length at 144, proj_digest[32] at 152, CRC32C at 184
hdr = bytearray(other[:HEADER])
hdr[24:96] = real[24:96]   # this log's chain head, Merkle root and time: only the state is another's
hdr[184:188] = struct.pack("<I", crc32c(other[HEADER:], crc32c(bytes(hdr[:184]))))
open(hsnap, "wb").write(bytes(hdr) + other[HEADER:])
rc, v, err = verify(h)
r.check("verify: a snapshot whose state is not the log's (check snapshot, its seq, the state said)", rc == 1 and
        v.get("check") == "snapshot" and v.get("seq") == lasth and "state differs" in v.get("error", ""), (v, err))
rc, out, err = r.run("tmsctl", "--data", h, "submit", stdin=json.dumps(more("hh2", 1)[0]) + "\n")
r.check("the open does not take it (not the projection's digest): set aside, the log is folded", rc == 0 and
        "projection's digest" in err and os.path.exists(hsnap + ".bad"), err)
rc, out, err = r.run("tmsctl", "--data", h, "show", "gother", "extension", "100")
r.check("... nothing of the forged state is served", rc == 1 and out == "", out)
# a snapshot whose recorded projection digest alone is wrong (its state, chain head and digest the log's; the CRC
# recomputed): verify compares it with the projection digest of the replayed state at its seq
p = r.path("p")
r.submit(p, more("pp", 3))
lastp = verify(p)[1]["last_seq"]
psnap = os.path.join(p, "snapshots", "%020d.snap" % lastp)
raw = bytearray(open(psnap, "rb").read())
raw[152 + 7] ^= 1
raw[184:188] = struct.pack("<I", crc32c(bytes(raw[HEADER:]), crc32c(bytes(raw[:184]))))
open(psnap, "wb").write(bytes(raw))
rc, v, err = verify(p)
r.check("verify: a snapshot whose projection digest only is wrong (check snapshot, its seq)", rc == 1 and
        v.get("check") == "snapshot" and v.get("seq") == lastp and "projection digest" in v.get("error", ""), (v, err))
# a snapshot written by another version is not used (another version's rules may make another state), nor
# called bad; the close replaces it
k = r.path("k")
r.submit(k, more("kk", 2))
lastk = verify(k)[1]["last_seq"]
ksnap = os.path.join(k, "snapshots", "%020d.snap" % lastk)
raw = bytearray(open(ksnap, "rb").read())
raw[128:144] = b"0.0.1".ljust(16, b"\0")
raw[184:188] = struct.pack("<I", crc32c(bytes(raw[HEADER:]), crc32c(bytes(raw[:184]))))
open(ksnap, "wb").write(bytes(raw))
rc, out, err = r.run("tmsctl", "--data", k, "check", "kk", "extension", "100", "reports.view")
rc, out, err = r.run("tmsctl", "--data", k, "submit", stdin=json.dumps(more("kk2", 1)[0]) + "\n")
r.check("another version's snapshot: the log folded, said, not set aside", rc == 0 and "written by tmsperm 0.0.1" in err
        and not os.path.exists(ksnap + ".bad"), err)

# after a loss accepted below a snapshot's seq, the snapshots beyond the log are set aside at the next close,
# and the new ones are kept (they were pruned in favour of the old, higher seqs once)
c = r.path("c")
r.submit(c, more("cc", 20))
seg = os.path.join(c, "log", sorted(os.listdir(os.path.join(c, "log")))[-1])
os.truncate(seg, os.path.getsize(seg) - 400)
rc, _, err = r.run("tmsctl", "--data", c, "accept-loss", "--reason", "test: cut below a snapshot")
r.submit(c, more("cc2", 1))
r.submit(c, more("cc3", 1))
rc, v, err = verify(c)
lastc = v.get("last_seq")
r.check("after an accepted loss: verify holds, the newest snapshot is of the log's last seq",
        rc == 0 and snaps(c)[-1] == "%020d.snap" % lastc, (v, err, snaps(c)))

# a retry of a request id alone at the end of a session: the snapshot's time is still the last record's
rr = r.path("rr")
r.submit(rr, more("rr", 2))
retry = json.dumps(more("rr", 2)[-1]) + "\n"
r.run("tmsctl", "--data", rr, "submit", stdin=retry)
rc, v, err = verify(rr)
r.check("a session of repeated request ids only: the snapshot still verifies (its time is the record's)", rc == 0,
        (v, err))

# a snapshot whose recorded Merkle root alone is wrong (its CRC recomputed): verify says so (check snapshot)
mr = r.path("mr")
r.submit(mr, more("mr", 3))
lastm = verify(mr)[1]["last_seq"]
msnap = os.path.join(mr, "snapshots", "%020d.snap" % lastm)
raw = bytearray(open(msnap, "rb").read())
raw[56] ^= 1   # root[32] at 56
raw[184:188] = struct.pack("<I", crc32c(bytes(raw[HEADER:]), crc32c(bytes(raw[:184]))))
open(msnap, "wb").write(bytes(raw))
rc, v, err = verify(mr)
r.check("verify: a snapshot's Merkle root that is not the tree's at its seq (check snapshot)",
        rc == 1 and v.get("check") == "snapshot" and "Merkle root" in v.get("error", ""), (v, err))
r.finish()
