#!/usr/bin/env python3
"""test_verify_since_parts.py -- tms-audit verify --since over the tenants the
records after the receipt name (tools/tool_verify_parts.c): only those are
decoded from FILE.state and replayed ("tenants_replayed"); the verify says
what a full one says (head, digest); --receipt writes the writer's snapshot
of the end byte for byte; the projection is compared by tenant, so damage
in a tenant no record named, in one they named, and entries of a tenant
that does not exist are all found; a tail that names most tenants, or a
kept snapshot inside the tail, decodes the whole state as before.

usage: test_verify_since_parts.py BIN_DIR   (lmdb-utils' mdb_dump/mdb_load for the damage cases)"""
import json
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tooltest as tt  # noqa: E402
from crc32c import crc32c  # noqa: E402

R = tt.Run()
TENANTS = ["acme", "beta", "b", "ce", "delta", "echo"]   # "b" a prefix of "beta"


def verify(data, *args):
    rc, out, err = R.run("tms-audit", "verify", "--data", data, *args)
    try:
        doc = json.loads(out) if out.count("\n") == 1 else {}
    except ValueError:
        doc = {}
    return rc, doc, err


def tenant_cmds(t, n, base=1000):
    cmds = [{"cmd": "CreateTenant", "tenant": t, "actor": "system", "admin": "admin"}]
    return cmds + [{"cmd": "CreateExtension", "tenant": t, "actor": "admin", "id": str(base + i)} for i in range(n)]


def tail_cmds(names, base):
    cmds = []
    for t in names:
        cmds += [{"cmd": "CreateExtension", "tenant": t, "actor": "admin", "id": str(base + i)} for i in range(3)]
        cmds.append({"cmd": "SetPermissions", "tenant": t, "actor": "admin", "kind": "extension", "id": str(base),
                     "enable": ["calls.international"], "disable": []})
    return cmds


def setup(name, tail, extra=(), tenants=TENANTS):
    """A directory of `tenants`, its receipt, then a tail of records naming `tail` (and `extra` commands)."""
    d, r = R.path(name), R.path(name + ".json")
    cmds = []
    for t in tenants:
        cmds += tenant_cmds(t, 6)
    R.submit(d, cmds)
    rc, _, err = verify(d, "--receipt", r)
    assert rc == 0, err
    R.submit(d, tail_cmds(tail, 5000) + list(extra))
    return d, r


def damage(d, tenant, kind_id):
    """An account entry added under tenant's prefix in the projection (mdb_load): the projection no longer
    holds the log's state there."""
    proj = os.path.join(d, "proj")
    # hex, not -p: mdb_dump's printable form does not always read back (a chain head's bytes broke it)
    dump = subprocess.run(["mdb_dump", "-s", "accounts", proj], capture_output=True, text=True).stdout
    lines = dump.split("\n")
    body = lines.index("HEADER=END") + 1
    key = " " + (tenant + "\0e\0" + kind_id).encode().hex()
    value = lines[body + 1]   # any account's value: a well-formed one
    lines[body:body] = [key, value]
    return subprocess.run(["mdb_load", "-s", "accounts", proj], input="\n".join(lines), capture_output=True,
                          text=True).returncode == 0


# ---- one tenant named: only it replayed; the same answers as a full verify ----
d, r = setup("one", ["beta"], [{"cmd": "CreateExtension", "tenant": "nosuch", "actor": "admin", "id": "1",
                                "request_id": "orphan-1"}])   # a record of no tenant: the part before the tenants
rc, full, err = verify(d)
R.check("a full verify after the tail holds", rc == 0 and full.get("ok") is True, (rc, err))
rc, v, err = verify(d, "--since", r, "--receipt", R.path("one2.json"))
R.check("--since holds, decoding and replaying only the tenants the records name (beta, and nosuch: none)",
        rc == 0 and v.get("tenants_replayed") == 2 and v.get("from", "").endswith("one.json.state"), (rc, v, err))
R.check("... with the head, digest and tree root of a full verify",
        all(v.get(k) == full.get(k) for k in ("head", "digest", "tree_root", "last_seq")), (v, full))
last = full.get("last_seq", 0)
snap = os.path.join(d, "snapshots", "%020d.snap" % last)
R.check("... and R2.state is the writer's snapshot of the end, byte for byte (FILE.state's other parts kept)",
        os.path.exists(snap) and open(R.path("one2.json.state"), "rb").read() == open(snap, "rb").read())
r2 = json.load(open(R.path("one2.json"))) if os.path.exists(R.path("one2.json")) else {}
R.check("... its receipt's state digest the snapshot's", r2.get("state_digest") ==
        (open(snap, "rb").read()[96:128].hex() if os.path.exists(snap) else None), r2)
rc, v2, err = verify(d, "--since", R.path("one2.json"))
R.check("a --since from the rolled receipt holds (nothing after it)", rc == 0 and v2.get("records") == 0, (rc, v2, err))

# ---- FILE.state changed in a tenant no record names, its CRC resealed: its digest (from its parts) is not the
# receipt's, so it is not started from (the kept snapshot of N is) ----
d, r = setup("tampered", ["beta"])
st_path = r + ".state"
raw = bytearray(open(st_path, "rb").read())
at = raw.find(b"1003", 188)   # the first tenant in byte order is acme: its extension 1003
raw[at:at + 4] = b"1009"
struct.pack_into("<I", raw, 184, crc32c(bytes(raw[:184]) + bytes(raw[188:])))
open(st_path, "wb").write(bytes(raw))
rc, v, err = verify(d, "--since", r)
R.check("FILE.state changed in an untouched tenant (CRC resealed): that part is not read (only beta's are, each "
        "against its parts table's hash, the table against the receipt's digest), and it holds",
        rc == 0 and v.get("from") == st_path and v.get("tenants_replayed") == 1, (rc, v, err))
rc, v, err = verify(d, "--since", r, "--receipt", r + ".2")
R.check("... with --receipt (R2.state is written from every part): read whole, not used, the kept snapshot of N "
        "is, and it holds", rc == 0 and v.get("from", "").endswith(".snap") and
        "its state digest is not its content's" in err, (rc, v, err))
d, r = setup("tampered-named", ["beta"])
raw = bytearray(open(r + ".state", "rb").read())
at = raw.find(b"beta", 188)   # beta's part (its id opens it)
raw[at + 10] ^= 0x01
struct.pack_into("<I", raw, 184, crc32c(bytes(raw[:184]) + bytes(raw[188:])))
open(r + ".state", "wb").write(bytes(raw))
rc, v, err = verify(d, "--since", r)
R.check("FILE.state changed in the named tenant's part (CRC resealed): its hash fails; read whole, not used, the "
        "kept snapshot of N is, and it holds", rc == 0 and v.get("from", "").endswith(".snap"), (rc, v, err))

# ---- FILE.state's recorded projection digest changed, CRC resealed: the receipt's says otherwise, so the by-tenant
# path (which trusts it for the tenants no record names) is not taken; the whole state is, and it holds ----
d, r = setup("pdforged", ["beta"])
rec = json.load(open(r))
R.check("the receipt records the state's projection digest, as FILE.state does",
        rec.get("projection_digest") == open(r + ".state", "rb").read()[152:184].hex(), rec)
raw = bytearray(open(r + ".state", "rb").read())
raw[152] ^= 0x01
struct.pack_into("<I", raw, 184, crc32c(bytes(raw[:184]) + bytes(raw[188:])))
open(r + ".state", "wb").write(bytes(raw))
rc, v, err = verify(d, "--since", r)
R.check("FILE.state's projection digest not the receipt's: the whole state (tenants_replayed null), and it holds",
        rc == 0 and "tenants_replayed" in v and v["tenants_replayed"] is None, (rc, v, err))

# ---- damage in the projection: named tenant, untouched tenant, prefix tenant, no tenant ----
if not shutil.which("mdb_dump"):
    R.check("mdb_dump (lmdb-utils) is installed (scripts/bootstrap installs it)", False)
else:
    for name, where in (("untouched", "acme"), ("named", "beta"), ("prefix", "b"), ("none", "zzz"),
                        ("first", "a")):
        d, r = setup("dmg-" + name, ["beta"])
        R.check("damage %s: written" % name, damage(d, where, "9999"))
        rc, v, err = verify(d, "--since", r)
        R.check("--since finds an account added to the projection under %s (%s)" % (where, name),
                rc == 1 and "digest" in (v.get("check") or err + json.dumps(v)), (rc, v, err))
    d, r = setup("dmg-meta", ["beta"])   # the tenants all hold; an entry added to the projection's meta
    proj = os.path.join(d, "proj")
    dump = subprocess.run(["mdb_dump", "-s", "meta", proj], capture_output=True, text=True).stdout.split("\n")
    at = dump.index("HEADER=END") + 1
    dump[at:at] = [" " + b"zzz".hex(), " " + b"1".hex()]
    R.check("damage meta: written", subprocess.run(["mdb_load", "-s", "meta", proj], input="\n".join(dump),
                                                   capture_output=True, text=True).returncode == 0)
    rc, v, err = verify(d, "--since", r)
    R.check("--since finds an entry added to the projection's meta", rc == 1 and v.get("check") == "digest",
            (rc, v, err))

# ---- where the tail's readings start: found by reading the segment from its start, never taken from the
# receipt (a "locator" member, as a build of this session wrote, is ignored: it could point at copies of the
# log's frames inside a payload, read instead of the frames themselves) ----
d, r = setup("loc", ["beta"])
rec = json.load(open(r))
R.check("the receipt names no place in the log", "locator" not in rec, rec)
rc, v0, err = verify(d, "--since", r)
R.check("... and --since holds", rc == 0 and v0.get("tenants_replayed") == 1, (rc, v0, err))
for off in (0, 9, 1 << 40):
    rec2 = dict(rec, locator={"seq": rec["size"] - 2, "segment": 1, "offset": off})
    r2 = R.path("loc-%d.json" % off)
    json.dump(rec2, open(r2, "w"))
    shutil.copy(r + ".state", r2 + ".state")
    rc, v, err = verify(d, "--since", r2)
    R.check("a receipt with a locator member (offset %d): ignored, the same answers" % off,
            rc == 0 and v.get("head") == v0.get("head") and v.get("digest") == v0.get("digest"), (rc, v, err))

# ---- a review's attack on a locator taken from the receipt (45084b2): record M+1 whose payload holds byte-for-
# byte copies of frames N-2..M, record N+1 itself damaged, the receipt's locator pointing at the copies. A
# reader sent there follows the copies (they check and chain as the frames do) and never sees the damage nor
# record M+1. The locator is no longer read: --since fails where a full verify does ----
import hashlib  # noqa: E402
d, r = setup("copies", ["beta"])
rec = json.load(open(r))
N = rec["size"]
seg = tt.segments(d)[-1]
raw = bytearray(open(seg, "rb").read())
_, frames = tt.read_frames(seg)
by = {f.seq: f for f in frames}
M = frames[-1].seq
end = by[M].offset + 56 + by[M].len
blob = bytes(raw[by[N - 2].offset:end])
h = hashlib.blake2b(by[M].hash + struct.pack("<Q", M + 1) + blob, digest_size=32).digest()
host = tt.Frame(seg, end, struct.pack("<IIQII", len(blob), 0, M + 1, 0, 0) + h + blob).encode()
raw[end:end + len(host)] = host
raw[by[N + 1].offset + 56 + 3] ^= 0x01   # record N+1's body
open(seg, "wb").write(bytes(raw))
rc, v, err = verify(d)
R.check("copies: a full verify fails at record N+1", rc == 1 and v.get("seq") == N + 1, (rc, v, err))
rec2 = dict(rec, locator={"seq": N - 2, "segment": int(os.path.basename(seg)[:20]), "offset": end + 56})
r2 = R.path("copies2.json")
json.dump(rec2, open(r2, "w"))
shutil.copy(r + ".state", r2 + ".state")
rc, v, err = verify(d, "--since", r2)
R.check("copies: --since with a locator at the copies fails at record N+1 too (the locator is not read)",
        rc == 1 and v.get("seq") == N + 1, (rc, v, err))

# ---- most tenants named, or a kept snapshot inside the tail: the whole state, as before ----
many = TENANTS + ["t%02d" % i for i in range(14)]
d, r = setup("most", many[:11], tenants=many)
rc, v, err = verify(d, "--since", r)
R.check("a tail naming 11 of 20 tenants (more than half, and than 8): the whole state decoded "
        "(tenants_replayed null), and it holds",
        rc == 0 and "tenants_replayed" in v and v["tenants_replayed"] is None, (rc, v, err))
d, r = setup("half", many[:10], tenants=many)
rc, v, err = verify(d, "--since", r)
R.check("... naming 10 of 20: those only", rc == 0 and v.get("tenants_replayed") == 10, (rc, v, err))
d, r = setup("inside", ["beta"])
R.submit(d, tail_cmds(["echo"], 7000))   # another close: a second kept snapshot, the first inside the tail
rc, v, err = verify(d, "--since", r)
snaps = sorted(os.listdir(os.path.join(d, "snapshots")))
R.check("a kept snapshot inside the tail: the whole state decoded, and it holds",
        rc == 0 and v.get("tenants_replayed") is None and len(snaps) == 2, (rc, v, err, snaps))
R.finish()
