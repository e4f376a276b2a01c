#!/usr/bin/env python3
"""test_verify_since -- tms-audit verify --receipt FILE and --since FILE
(issue 18, item 4; docs/trust.md, "Incremental verification"): a receipt
written by a verify that held (never by one that failed), what it says
(checked against the log, the snapshot and, for its checkpoint and
consistency proof, the outside verifier of tests/trust), a --since verify
that reads only the records after it and still finds a record changed after
the receipt and a log rewritten before it, the receipt's state file
(FILE.state: started from without any kept snapshot; one damaged, of another
seq, of another log or forged for another state is not), a receipt whose
state no kept snapshot holds, the starting snapshot's projection digest,
and hostile receipt files (exit 2, nothing written).
usage: python3 test_verify_since.py BIN_DIR     (last line: 'N passed, N failed')"""
import base64
import hashlib
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "trust"))
import tooltest as tt  # noqa: E402
import outside_verifier as ov  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

DEMO = os.path.join(HERE, "..", "..", "examples", "demo.jsonl")
R = tt.Run()
SNAP_HEADER = 188   # engine/storage/include/snapshots.h: seq at 16, head 24, root 56, time 88, digest 96,
#                     build 128, length 144, proj_digest 152, CRC32C 184 (over the header before it, then the payload)


def verify(data, *args):
    rc, out, err = R.run("tms-audit", "verify", "--data", data, *args)
    lines = out.splitlines()
    try:
        doc = json.loads(lines[0]) if len(lines) == 1 else {}
    except ValueError:
        doc = {}
    return rc, doc, err


def more(tenant, n):
    """A batch of 2 + n records; its last is rejected (an id that exists, a new request id)."""
    cmds = [{"cmd": "CreateTenant", "tenant": tenant, "actor": "system", "admin": "admin"}]
    cmds += [{"cmd": "CreateExtension", "tenant": tenant, "actor": "admin", "id": str(100 + i)} for i in range(n)]
    cmds += [{"cmd": "CreateExtension", "tenant": tenant, "actor": "admin", "id": "100", "request_id": "r1"}]
    return cmds


def load(path):
    with open(path) as f:
        return json.load(f)


def write(path, obj):
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def snap_file(d, seq):
    return os.path.join(d, "snapshots", "%020d.snap" % seq)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def reseal(raw, digest=False):
    """A snapshot file's bytes with its CRC (and with digest, its state digest) recomputed: a consistent forgery."""
    raw = bytearray(raw)
    if digest:
        raw[96:128] = tt.state_digest(bytes(raw[SNAP_HEADER:]))
    raw[184:188] = struct.pack("<I", tt.crc32c(bytes(raw[SNAP_HEADER:]), tt.crc32c(bytes(raw[:184]))))
    return bytes(raw)


def snaps(d):
    p = os.path.join(d, "snapshots")
    return sorted(int(f.split(".")[0]) for f in os.listdir(p) if f.endswith(".snap")) if os.path.isdir(p) else []


def all_frames(d):
    out = []
    for seg in tt.segments(d):
        header, frames = tt.read_frames(seg)
        out.append((seg, header, frames))
    return out


def rewrite_from(d, seq, old, new, rechain):
    """Replace old by new in the payload of record seq; CRCs recomputed; with rechain the chain from it on too."""
    prev = None
    for seg, header, frames in all_frames(d):
        for f in frames:
            if f.seq == seq:
                assert old in f.payload, (seq, old, f.payload)
                f.payload = f.payload.replace(old, new)
                if rechain:
                    f.hash = tt.chain_hash(prev, f.seq, f.payload)
            elif f.seq > seq and rechain:
                f.hash = tt.chain_hash(prev, f.seq, f.payload)
            prev = f.hash
        tt.write_segment(seg, header, frames)


def stored_index(level, n):
    """golang.org/x/mod/sumdb/tlog StoredHashIndex (the layout of DIR/tree/hashes)."""
    for _ in range(level):
        n = 2 * n + 1
    i = 0
    while n > 0:
        i += n
        n >>= 1
    return i + level


# ---- a directory, a receipt, more records, --since -------------------------------------------
D = R.path("d")
rc, _, err = R.run("tmsctl", "--data", D, "submit", DEMO)
rc, full, err = verify(D)
N = full.get("last_seq", 0)
RC1 = R.path("r1.json")
rc, v, err = verify(D, "--receipt", RC1)
R.check("a full verify with --receipt holds and prints what it printed without", rc == 0 and v == full, (rc, v, err))
R.check("... and writes the receipt (no temporary left beside it)", os.path.exists(RC1) and
        not [f for f in os.listdir(R.tmp) if ".tmp." in f], os.listdir(R.tmp))
r1 = load(RC1) if os.path.exists(RC1) else {}
snap_digest = open(os.path.join(D, "snapshots", "%020d.snap" % N), "rb").read()[96:128].hex() if N else ""
R.check("the receipt: format, size, head, root, time as verify found them",
        r1.get("format") == "tmsperm-verify-receipt/2" and r1.get("size") == N and r1.get("head") == full["head"]
        and r1.get("root") == full["tree_root"] and r1.get("time") == full["last_time"] and r1.get("since") is None,
        r1)
R.check("the receipt's state digest is the writer's snapshot's of that seq (the state's encoding)",
        r1.get("state_digest") == snap_digest, (r1.get("state_digest"), snap_digest))
R.check("the receipt says what it proves, the version, no key, no checkpoint",
        "records 1..%d" % N in r1.get("proves", "") and r1.get("tmsperm") == R.run("tms-audit", "--version")[1].split()[-1]
        and r1.get("signatures") == "unchecked" and r1.get("key") is None and r1.get("checkpoint") is None, r1)
R.check("the receipt names the data directory (absolute)", r1.get("data") == os.path.realpath(D), r1.get("data"))
st1 = read(RC1 + ".state") if os.path.exists(RC1 + ".state") else b""
R.check("--receipt also writes FILE.state: a snapshot file of the state at N (seq, head, digest the receipt's)",
        st1[:8] == b"TMSSNAP1" and struct.unpack_from("<Q", st1, 16)[0] == N and st1[24:56].hex() == r1.get("head")
        and st1[96:128].hex() == r1.get("state_digest") and
        tt.state_digest(st1[SNAP_HEADER:]).hex() == r1.get("state_digest"), st1[:SNAP_HEADER])
R.check("... byte for byte the writer's snapshot of that seq (same format, root, time, projection digest)",
        st1 == read(snap_file(D, N)))

R.submit(D, more("t1", 5))
rc, full2, err = verify(D)
rc, v, err = verify(D, "--since", RC1)
R.check("--since after more records holds, says since and counts the records after it",
        rc == 0 and v.get("ok") is True and v.get("since") == N and v.get("records") == full2["last_seq"] - N and
        v.get("last_seq") == full2["last_seq"], (rc, v, err))
R.check("... the same head, digest and tree root as a full verify", all(v.get(k) == full2[k] for k in
                                                                       ("head", "digest", "tree_root", "last_time")),
        (v, full2))
R.check("... started from the receipt's state file; the snapshot after N checked; the as-of index is not",
        v.get("from") == RC1 + ".state" and v.get("from_seq") == N and v.get("snapshots") == 1 and
        v.get("history") == "unchecked" and v.get("projection") == "match" and err == "", (v, err))
RC2 = R.path("r2.json")
rc, v, err = verify(D, "--since", RC1, "--receipt", RC2)
r2 = load(RC2) if rc == 0 else {}
R.check("--since --receipt writes the receipt of the new end, naming the one it started from",
        rc == 0 and r2.get("since") == N and r2.get("size") == full2["last_seq"] and r2.get("head") == full2["head"]
        and r2.get("root") == full2["tree_root"], (rc, r2, err))
st2 = read(RC2 + ".state") if os.path.exists(RC2 + ".state") else b""
R.check("... and its state file, of the new end (the writer's snapshot there, byte for byte)",
        st2 == read(snap_file(D, full2["last_seq"])) and st2[96:128].hex() == r2.get("state_digest"))
rc, v, err = verify(D, "--since", RC2)
R.check("--since with nothing after the receipt holds (0 records)", rc == 0 and v.get("records") == 0 and
        v.get("since") == full2["last_seq"], (rc, v, err))
rc, v, err = verify(D, "--since", RC2, "--receipt", RC2)
R.check("--since FILE --receipt FILE rolls the receipt forward in place", rc == 0 and load(RC2).get("since") ==
        full2["last_seq"], (rc, err))
R.check("... its state file too (no temporary left)", read(RC2 + ".state") == st2 and
        not [f for f in os.listdir(R.tmp) if ".tmp." in f], os.listdir(R.tmp))


# ---- what --since finds -----------------------------------------------------------------------
def fresh(name):
    return tt.copy_data(D, R.path(name))


def expect(name, d, receipt, check, seq, words=None):
    rc, v, err = verify(d, "--since", receipt)
    ok = rc == 1 and v.get("ok") is False and v.get("check") == check and v.get("seq") == seq and \
        v.get("since") == load(receipt)["size"] and len(err.strip().splitlines()) == 1
    if words:
        ok = ok and words in v.get("error", "")
    R.check("%s: exit 1, check %s, seq %d" % (name, check, seq), ok, (rc, v, err))


last = full2["last_seq"]
# a record after N changed, its CRCs fixed, its chain hash left: the chain names it
x = fresh("after-chain")
rewrite_from(x, N + 3, b"\xa3101", b"\xa3191", rechain=False)
expect("a record after the receipt changed (CRCs fixed)", x, RC1, "frame", N + 3)
# the same, the chain recomputed from it on: the replay names it (it is the rejected duplicate; 199 is new)
x = fresh("after-replay")
rewrite_from(x, last, b"\xa3100", b"\xa3199", rechain=True)
shutil.rmtree(os.path.join(x, "proj"))           # (else the projection's chain head at its seq names it first)
expect("a record after the receipt changed, the chain recomputed", x, RC1, "replay", last)
# a record before N changed, the chain recomputed on (a consistent rewrite), the tree rebuilt by a writer
x = fresh("before")
tt.retime(x, {5: 1700000000 * 10**9})            # record 5's time: chain and CRCs recomputed, proj removed
shutil.rmtree(os.path.join(x, "tree"))            # what a rewriter does: every file that remembers the old log
os.unlink(os.path.join(x, "witness"))
shutil.rmtree(os.path.join(x, "snapshots"))
R.submit(x, more("t2", 1))                        # a writer: rebuilds the tree and the projection
rc, v, err = verify(x)
R.check("a log rewritten before the receipt (consistently) passes a full verify", rc == 0, (rc, v, err))
expect("... but not --since: the chain head at the receipt's seq", x, RC1, "receipt", N, "chain head")
# another log of the same length
y = R.path("other")
ocmds = [json.loads(line) for line in open(DEMO) if line.strip()]
for c in ocmds:
    if c.get("tenant") == "acme":
        c["tenant"] = "acmf"
R.submit(y, ocmds)
R.check("another log of the same length", verify(y)[1].get("last_seq") == N)
expect("another log of the receipt's length", y, RC1, "receipt", N, "chain head")
# the tree file's hash of the receipt's subtree damaged: the root at N is not the receipt's
x = fresh("tree")
lvl = N.bit_length() - 1
with open(os.path.join(x, "tree", "hashes"), "r+b") as f:
    f.seek(16 + 32 * stored_index(lvl, 0) + 7)
    b = f.read(1)
    f.seek(16 + 32 * stored_index(lvl, 0) + 7)
    f.write(bytes([b[0] ^ 1]))
expect("the tree file's root at the receipt's seq damaged", x, RC1, "tree", N, "Merkle root")
# segments that begin right after the receipt's record, or at it: the chain is still checked across
for at in (N + 1, N):
    x = fresh("split%d" % at)
    tt.split_segment(x, at)
    rc, v, err = verify(x, "--since", RC1)
    R.check("a segment beginning at seq %d: --since holds" % at, rc == 0 and v.get("records") == last - N, (rc, v, err))
    rewrite_from(x, N + 1, b"\xa5admin", b"\xa5admim", rechain=False)
    expect("... and finds record %d changed (CRCs fixed) at the segment's edge" % (N + 1), x, RC1, "frame", N + 1)
# the log cut below the receipt
x = fresh("cut")
seg, header, frames = all_frames(x)[0]
tt.write_segment(seg, header, [f for f in frames if f.seq < N])
rc, v, err = verify(x, "--since", RC1)
R.check("a log cut below the receipt: exit 1, check receipt", rc == 1 and v.get("check") == "receipt", (rc, v, err))
# no tree file: --since cannot tie the log to the receipt without reading it: exit 2
x = fresh("notree")
shutil.rmtree(os.path.join(x, "tree"))
rc, v, err = verify(x, "--since", RC1)
R.check("no tree file: exit 2, a full verify suggested", rc == 2 and "full verify" in err and v == {}, (rc, err))

# ---- the state at N ---------------------------------------------------------------------------
forged = dict(r1)
forged["state_digest"] = ("0" if r1["state_digest"][0] != "0" else "1") + r1["state_digest"][1:]
RCF = write(R.path("forged.json"), forged)
expect("a receipt whose state digest no snapshot has", D, RCF, "receipt", N, "snapshot")
x = fresh("nosnap")
shutil.rmtree(os.path.join(x, "snapshots"))
RCN = write(R.path("nostate.json"), json.dumps(r1))   # the receipt without its state file
rc, v, err = verify(x, "--since", RCN)
R.check("no state file and no kept snapshot at or before the receipt: exit 2, a full verify suggested",
        rc == 2 and "nostate.json.state is absent" in err and "no kept snapshot" in err and "full verify" in err and
        v == {}, (rc, err))
# from an older snapshot, replayed to N: S < N kept, the snapshot of N gone
f = R.path("older")
R.submit(f, more("a", 3))
S = verify(f)[1]["last_seq"]
R.submit(f, more("b", 3))
RCO = R.path("older.json")
rc, v, err = verify(f, "--receipt", RCO)
NO = v.get("last_seq")
os.unlink(os.path.join(f, "snapshots", "%020d.snap" % NO))
os.unlink(RCO + ".state")                         # the auditor's copy of the state at NO gone too
R.submit(f, more("c", 3))
R.check("older: snapshots of S and of the new end only", snaps(f) == [S, verify(f)[1]["last_seq"]], snaps(f))
rc, v, err = verify(f, "--since", RCO)
R.check("--since from an older kept snapshot replayed to the receipt's seq holds", rc == 0 and v.get("since") == NO
        and v.get("from") == snap_file(f, S) and v.get("from_seq") == S, (rc, v, err))
ro = load(RCO)
ro["state_digest"] = ("0" if ro["state_digest"][0] != "0" else "1") + ro["state_digest"][1:]
expect("... and a forged state digest is found at the receipt's seq", f, write(R.path("older-forged.json"), ro),
       "receipt", NO, "replayed")

# ---- the receipt's state file (FILE.state) ----------------------------------------------------
x = fresh("nosnaps")
shutil.rmtree(os.path.join(x, "snapshots"))       # the operator's snapshots all gone (pruned, removed)
rc, v, err = verify(x, "--since", RC1)
R.check("--since with no kept snapshot at all starts from FILE.state and holds",
        rc == 0 and v.get("from") == RC1 + ".state" and v.get("from_seq") == N and v.get("records") == last - N and
        all(v.get(k) == full2[k] for k in ("head", "digest", "tree_root")), (rc, v, err))
R.check("... FILE.state read, not changed", read(RC1 + ".state") == st1)


def state_case(name, raw, reason):
    """A copy of receipt r1 whose FILE.state holds raw: not started from (reason on stderr), --since falls back
    to D's kept snapshot of N; with no kept snapshot (x) exit 2 naming the reason."""
    p = write(R.path("case-%s.json" % name.replace(" ", "-")), json.dumps(r1))
    with open(p + ".state", "wb") as fh:
        fh.write(raw)
    rc, v, err = verify(D, "--since", p)
    R.check("FILE.state %s: not used (%s), --since falls back to the kept snapshot of N and holds" % (name, reason),
            rc == 0 and v.get("from") == snap_file(D, N) and v.get("from_seq") == N and
            os.path.basename(p) + ".state not used" in err and reason in err, (rc, v, err))
    rc, v, err = verify(x, "--since", p)
    R.check("... and with no kept snapshot: exit 2, the reason and a full verify said",
            rc == 2 and v == {} and reason in err and "full verify" in err, (rc, err))


bad = bytearray(st1)
bad[SNAP_HEADER + 5] ^= 1
state_case("damaged", bytes(bad), "its checksum fails")
state_case("truncated", st1[:-1], "its length is not the file's")
state_case("of another seq", st2, "it is the state at seq %d" % full2["last_seq"])   # RC2's: a later roll-forward
RY = R.path("other.json")
rc, _, err = verify(y, "--receipt", RY)           # another log of the same length: its state at N
sty = read(RY + ".state") if rc == 0 else b""
R.check("another directory's state file of the same seq", rc == 0 and struct.unpack_from("<Q", sty, 16)[0] == N, err)
state_case("of another log", sty, "chain head, time or tree root is not the receipt's")
# another state in a file that says everything of the receipt but its state: seq, head, time, root the receipt's,
# the other log's state as payload, the digest and CRC recomputed: the receipt's state digest decides
forged_state = reseal(st1[:SNAP_HEADER] + sty[SNAP_HEADER:], digest=True)
R.check("a forged state file: another state, its own digest and CRC right",
        forged_state[96:128] != st1[96:128] and forged_state[16:96] == st1[16:96])
state_case("forged for another state", forged_state, "its state digest is not the receipt's")
ver = bytearray(st1)
ver[128:144] = b"0.0.1".ljust(16, b"\0")
state_case("of another version", reseal(ver), "written by tmsperm 0.0.1")
# a --since --receipt roll forward replaces both files; the new state file then serves alone
x2 = fresh("roll")
R.submit(x2, more("t5", 2))
RR = write(R.path("roll.json"), json.dumps(r1))
shutil.copy(RC1 + ".state", RR + ".state")
rc, v, err = verify(x2, "--since", RR, "--receipt", RR)
rr = load(RR)
rr_state = read(RR + ".state")
R.check("a roll forward (--since R --receipt R) from R.state replaces R and R.state",
        rc == 0 and v.get("from") == RR + ".state" and rr.get("since") == N and rr.get("size") == v.get("last_seq") and
        struct.unpack_from("<Q", rr_state, 16)[0] == rr.get("size") and rr_state[96:128].hex() == rr["state_digest"],
        (rc, v, err, rr))
shutil.rmtree(os.path.join(x2, "snapshots"))
rc, v, err = verify(x2, "--since", RR)
R.check("... and the next --since starts from the new R.state (no kept snapshot)", rc == 0 and v.get("records") == 0
        and v.get("from") == RR + ".state" and v.get("from_seq") == rr.get("size"), (rc, v, err))

# ---- the kept snapshots' projection digests (snapshot format 2) ---------------------------------
x = fresh("start-proj")
sp = bytearray(read(snap_file(x, N)))
sp[160] ^= 1                                      # its proj_digest (152..184) only; the CRC recomputed
with open(snap_file(x, N), "wb") as fh:
    fh.write(reseal(sp))
expect("the kept snapshot of N started from, its projection digest not its state's", x, RCN, "snapshot", N,
       "projection digest")
rc, v, err = verify(x, "--since", RC1)
R.check("... not read when FILE.state is started from (only the snapshots after N are)", rc == 0 and
        v.get("from") == RC1 + ".state", (rc, v, err))
x = fresh("end-proj")
sp = bytearray(read(snap_file(x, last)))
sp[160] ^= 1
with open(snap_file(x, last), "wb") as fh:
    fh.write(reseal(sp))
expect("a kept snapshot after N, its projection digest not its state's", x, RC1, "snapshot", last,
       "projection digest")

# ---- the projection ---------------------------------------------------------------------------
x = fresh("proj-behind")
p0 = R.path("proj-at-n")
shutil.copytree(os.path.join(D, "proj"), p0)   # D's projection is at the end; make one before N
z = R.path("z")
R.submit(z, [json.loads(line) for line in open(DEMO) if line.strip()][:10])
shutil.rmtree(os.path.join(x, "proj"))
shutil.copytree(os.path.join(z, "proj"), os.path.join(x, "proj"))   # another log's, at seq 10 < N: not compared
rc, v, err = verify(x, "--since", RC1)
R.check("a projection before the receipt: not compared, said", rc == 0 and v.get("projection") == "behind" and
        "not compared" in err, (rc, v, err))
x = fresh("proj-ahead")
rc, _, _ = R.run("tmsctl", "--data", x, "submit", stdin=json.dumps(more("t9", 1)[0]) + "\n")
seg, header, frames = all_frames(x)[-1]
tt.write_segment(seg, header, frames[:-1])       # the log loses its last record; the projection has it
rc, v, err = verify(x, "--since", RC2)           # (the writer kept the snapshots of RC2's seq and of the end)
R.check("a projection ahead of the log: exit 1, check projection", rc == 1 and v.get("check") == "projection",
        (rc, v, err))

# ---- checkpoints and a key ---------------------------------------------------------------------
K = R.path("log.key")
rc, vkey, _ = R.run("tms-audit", "keygen", "--name", "pbx.example.com/tms", "--out", K)
vkey = vkey.strip()
c = R.path("cp")
R.submit(c, more("k1", 4))
R.run("tmsctl", "--data", c, "checkpoint", "--signing-key", K)
R.submit(c, more("k2", 4))
RCK = R.path("k.json")
rc, v, err = verify(c, "--key", vkey, "--receipt", RCK)
rk = load(RCK) if rc == 0 else {}
cp = rk.get("checkpoint") or {}
R.check("with --key: the receipt names the key and the latest checkpoint, below its size",
        rc == 0 and rk.get("key") == vkey and rk.get("signatures") == "pbx.example.com/tms" and
        0 < cp.get("size", 0) < rk.get("size", 0) and cp.get("note") == R.run("tms-audit", "checkpoint", "--data", c)[1],
        (rc, rk, err))
try:
    _, cp_size, cp_root = ov.verify_checkpoint(cp["note"].encode(), ov.parse_vkey(vkey))
    holds = ov.verify_consistency(cp_size, rk["size"], cp_root, base64.b64decode(rk["root"]),
                                  [base64.b64decode(h) for h in cp["consistency"]])
except (ov.VerifyError, KeyError, TypeError) as e:
    holds = e
R.check("outside verifier: the checkpoint is signed by the key, and the proof shows the receipt's root extends it",
        holds is True, holds)
R.run("tmsctl", "--data", c, "checkpoint", "--signing-key", K)   # a checkpoint at the receipt's size
R.submit(c, more("k3", 4))
R.run("tmsctl", "--data", c, "checkpoint", "--signing-key", K)   # and one after
rc, v, err = verify(c, "--key", vkey, "--since", RCK)
R.check("--since --key checks the checkpoints up to the receipt and after", rc == 0 and v.get("checkpoints") == 3 and
        v.get("signatures") == "pbx.example.com/tms", (rc, v, err))
rc, v, err = verify(c, "--since", RCK)
R.check("--since without --key: signatures unchecked", rc == 0 and v.get("signatures") == "unchecked", (rc, v, err))
# a checkpoint kept before N that the receipt's tree does not extend (a forged one, signed by the key)
x = tt.copy_data(c, R.path("cp-forged"))
oroot = base64.b64encode(hashlib.sha256(b"forged").digest()).decode()
text = "pbx.example.com/tms\n%d\n%s\n" % (cp["size"] - 1, oroot)
key_, seed = ov.parse_private_key(open(K).read().strip())   # signed here with the key's own seed
sig = Ed25519PrivateKey.from_private_bytes(seed).sign(text.encode())
kid = key_.kid
line = "\u2014 pbx.example.com/tms %s\n" % base64.b64encode(struct.pack(">I", kid) + sig).decode()
forged_note = (text + "\n" + line).encode()
with open(os.path.join(x, "checkpoints"), "ab") as fh:
    fh.write(struct.pack("<II", len(forged_note), tt.crc32c(forged_note)) + forged_note +
             struct.pack("<I", len(forged_note)))
rc, v, err = verify(x, "--key", vkey, "--since", RCK)
R.check("--since: a checkpoint below the receipt's size that its tree does not extend (check checkpoint)",
        rc == 1 and v.get("check") == "checkpoint" and v.get("seq") == cp["size"] - 1, (rc, v, err))

# ---- --receipt is never written by a verify that failed -----------------------------------------
x = fresh("bad")
seg, header, frames = all_frames(x)[0]
with open(seg, "r+b") as fh:
    fh.seek(frames[4].offset + tt.FRAME_HEADER + 3)
    b = fh.read(1)
    fh.seek(frames[4].offset + tt.FRAME_HEADER + 3)
    fh.write(bytes([b[0] ^ 0x20]))
out = R.path("never.json")
rc, v, err = verify(x, "--receipt", out)
R.check("a verify that fails writes no receipt (nor its state file)", rc == 1 and not os.path.exists(out) and
        not os.path.exists(out + ".state"), (rc, err))
write(out, "old\n")
rc, v, err = verify(x, "--receipt", out)
R.check("... and leaves one already there as it was", rc == 1 and open(out).read() == "old\n", (rc, err))
rc, v, err = verify(fresh("bad2"), "--since", RCF, "--receipt", out)
R.check("a --since verify that fails writes none either", rc == 1 and open(out).read() == "old\n", (rc, err))

# ---- hostile receipts: exit 2, nothing written ---------------------------------------------------
def mutated(**kw):
    o = dict(r1)
    for k, val in kw.items():
        if val is KeyError:
            o.pop(k, None)
        else:
            o[k] = val
    return json.dumps(o)


def with_dup():
    t = json.dumps(r1)
    return t[:-1] + ', "size": %d}' % (r1["size"] - 1)


bad_cases = [
    ("not JSON", "{\"format\": "),
    ("an array", "[]"),
    ("empty", ""),
    ("another format", mutated(format="tmsperm-verify-receipt/3")),
    ("format /1 (its state digest of another kind)", mutated(format="tmsperm-verify-receipt/1")),
    ("no size", mutated(size=KeyError)),
    ("size a string", mutated(size=str(N))),
    ("size negative", mutated(size=-1)),
    ("size fractional", mutated(size=1.5)),
    ("size beyond 2^63", mutated(size=2**64)),
    ("head short", mutated(head=r1["head"][:-1])),
    ("head upper case", mutated(head=r1["head"].upper())),
    ("head not hex", mutated(head="g" * 64)),
    ("root not base64", mutated(root="!" + r1["root"][1:])),
    ("root of 31 bytes", mutated(root=base64.b64encode(b"\0" * 31).decode())),
    ("state digest missing", mutated(state_digest=KeyError)),
    ("time not a time", mutated(time="yesterday")),
    ("since beyond size", mutated(since=N + 1)),
    ("since a string", mutated(since="1")),
    ("key not a key", mutated(key="pbx.example.com/tms+00000000+AAAA", signatures="pbx.example.com/tms")),
    ("signatures not the key's", mutated(signatures="someone")),
    ("checkpoint not an object", mutated(checkpoint=[1])),
    ("checkpoint note not a checkpoint", mutated(checkpoint={"size": 1, "note": "hello\n", "consistency": None})),
    ("checkpoint beyond size", mutated(checkpoint=dict(cp, size=cp.get("size", 0)), size=1)),
    ("a version with a space", mutated(tmsperm="0 1")),
    ("proves not a string", mutated(proves=1)),
    ("a duplicate member", with_dup()),
    ("a NUL in a string", mutated(head="\u0000" * 64)),
    ("deeply nested", "[" * 100000 + "]" * 100000),
    ("larger than 256 KiB", mutated(proves="x" * (300 * 1024))),
]
for name, text in bad_cases:
    p = write(R.path("bad-receipt.json"), text)
    if os.path.exists(out):
        os.unlink(out)
    rc, o, err = R.run("tms-audit", "verify", "--data", D, "--since", p, "--receipt", out)
    R.check("hostile receipt (%s): exit 2, one line naming --since, nothing written" % name,
            rc == 2 and o == "" and err.count("\n") == 1 and "--since" in err and not os.path.exists(out), (rc, err))
rk2 = load(RCK)
rk2["checkpoint"] = dict(rk2["checkpoint"], consistency=rk2["checkpoint"]["consistency"][:-1])
rc, o, err = R.run("tms-audit", "verify", "--data", c, "--since", write(R.path("short-proof.json"), json.dumps(rk2)))
R.check("hostile receipt (a consistency proof one hash short): exit 2", rc == 2 and "consistency" in err, err)
other = dict(r1, tmsperm="0.0.1")
rc, o, err = R.run("tms-audit", "verify", "--data", D, "--since", write(R.path("v.json"), json.dumps(other)))
R.check("a receipt of another tmsperm version: exit 2, a full verify suggested", rc == 2 and "0.0.1" in err and
        "full verify" in err, err)
rc, o, err = R.run("tms-audit", "verify", "--data", D, "--since", R.path("missing.json"))
R.check("a missing receipt file: exit 2", rc == 2 and "missing.json" in err, err)
rc, o, err = R.run("tms-audit", "verify", "--data", D, "--receipt", R.path("no-such-dir", "r.json"))
R.check("a receipt that cannot be written: exit 2 (after the verdict)", rc == 2 and "cannot write" in err, err)
os.makedirs(R.path("sdir.json.state"))            # FILE.state cannot be renamed into place: FILE is not written
rc, o, err = R.run("tms-audit", "verify", "--data", D, "--receipt", R.path("sdir.json"))
R.check("a state file that cannot be written: exit 2, no receipt written (the state file comes first)",
        rc == 2 and "cannot write the state" in err and not os.path.exists(R.path("sdir.json")) and
        not [f for f in os.listdir(R.tmp) if ".tmp." in f], (rc, err))
rc, o, err = R.run("tms-audit", "verify", "--help")
R.check("verify --help documents --since and --receipt", rc == 0 and "--since FILE" in o and "--receipt FILE" in o, o)
R.finish()
